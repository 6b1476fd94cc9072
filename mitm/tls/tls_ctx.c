/* tls_ctx.c — client-facing TLS policy: the SNI must name the CONNECT host,
 * and only http/1.1 is offered through ALPN. */
#include "mitm/tls/tls.h"

#include <string.h>

#include "base/uri.h"

/* The expected host travels as the SSL's app data (a NUL-terminated name
 * owned by the connection). A ClientHello naming another host is refused
 * with an alert rather than served a certificate that does not match. */
static int server_sni_cb(SSL *ssl, int *al, void *arg)
{
    const char *want = SSL_get_app_data(ssl);
    const char *sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

    (void)arg;
    if (!sn)
        return SSL_TLSEXT_ERR_OK;
    if (!want || !uri_host_eq(sn, strlen(sn), want)) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

static int server_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                        const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel = NULL;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no h2: the client falls back or fails clearly */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

void tls_ctx_tune(SSL_CTX *ctx)
{
    /* Read whole socket buffers at once instead of a record header and then
     * its body: half the read() calls on a bulk transfer. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
}

void tls_server_setup(SSL_CTX *ctx, void *arg)
{
    (void)arg;
    tls_ctx_tune(ctx);
    SSL_CTX_set_tlsext_servername_callback(ctx, server_sni_cb);
    SSL_CTX_set_alpn_select_cb(ctx, server_alpn_cb, NULL);
}
