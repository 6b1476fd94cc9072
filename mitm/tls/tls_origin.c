/* tls_origin.c — TLS toward origins: the verifying client context and the
 * session cache that lets new connections resume. */
#include "mitm/tls/tls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TLS sessions toward origins, by server name, so that a new connection
 * resumes instead of paying a full handshake. One cache for all worker
 * loops: a session one loop obtained resumes the connections of the
 * others. Each entry carries the configuration generation it was verified
 * under (the worker's reload count), and a context only resumes its own
 * generation's sessions: after a reload, with perhaps another ca_file, the
 * first handshake to a host is verified again. */
#define TLS_SESSIONS 16

struct tls_sessions {
    pthread_mutex_t lock;
    char host[TLS_SESSIONS][256];
    unsigned seq[TLS_SESSIONS];
    SSL_SESSION *s[TLS_SESSIONS];
    unsigned next;
};

/* An SSL_CTX's app data: the shared cache (NULL: no resumption yet) and
 * the generation of the context. */
struct origin_share {
    struct tls_sessions *cache;
    unsigned seq;
};

struct tls_sessions *tls_sessions_new(void)
{
    struct tls_sessions *c = calloc(1, sizeof(*c));

    if (c && pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        c = NULL;
    }
    return c;
}

void tls_sessions_free(struct tls_sessions *c)
{
    unsigned i;

    if (!c)
        return;
    for (i = 0; i < TLS_SESSIONS; i++)
        SSL_SESSION_free(c->s[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void tls_origin_share(SSL_CTX *ctx, struct tls_sessions *cache, unsigned seq)
{
    struct origin_share *sh = SSL_CTX_get_app_data(ctx);

    if (sh) {
        sh->cache = cache;
        sh->seq = seq;
    }
}

static int origin_on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct origin_share *sh = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    struct tls_sessions *c = sh ? sh->cache : NULL;
    SSL_SESSION *copy, *old;
    unsigned i;

    if (!c || !host)
        return 0;
    /* A copy: sess stays the connection's own, and OpenSSL marks it not
     * resumable when that connection is freed without a close_notify (an
     * idle pooled connection we drop, one the origin cut), which made every
     * later connection a full handshake. */
    copy = SSL_SESSION_dup(sess);
    if (!copy)
        return 0;
    pthread_mutex_lock(&c->lock);
    for (i = 0; i < TLS_SESSIONS; i++)
        if (c->s[i] && strcmp(c->host[i], host) == 0)
            break;
    if (i == TLS_SESSIONS)
        i = c->next++ % TLS_SESSIONS;
    old = c->s[i];
    c->s[i] = copy;
    c->seq[i] = sh->seq;
    snprintf(c->host[i], sizeof(c->host[i]), "%s", host);
    pthread_mutex_unlock(&c->lock);
    SSL_SESSION_free(old);
    return 0; /* sess itself is not kept */
}

void tls_origin_resume(SSL *ssl, const char *host)
{
    struct origin_share *sh = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    struct tls_sessions *c = sh ? sh->cache : NULL;
    SSL_SESSION *s = NULL;
    unsigned i;

    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    for (i = 0; i < TLS_SESSIONS; i++)
        if (c->s[i] && strcmp(c->host[i], host) == 0) {
            /* a copy again: what happens to this connection's session
             * must not touch the cached one */
            if (c->seq[i] == sh->seq && SSL_SESSION_is_resumable(c->s[i]))
                s = SSL_SESSION_dup(c->s[i]);
            break;
        }
    pthread_mutex_unlock(&c->lock);
    if (s) {
        SSL_set_session(ssl, s);
        SSL_SESSION_free(s);
    }
}

void tls_origin_ctx_free(SSL_CTX *ctx)
{
    if (!ctx)
        return;
    free(SSL_CTX_get_app_data(ctx));
    SSL_CTX_free(ctx);
}

SSL_CTX *tls_origin_ctx(const char *ca_file, char *err, size_t errlen)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx) {
        snprintf(err, errlen, "cannot create the TLS client context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    tls_ctx_tune(ctx);
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        snprintf(err, errlen,
                 "[upstream] ca_file %s: cannot load CA certificates (install "
                 "ca-certificates, or point ca_file at a PEM bundle)", ca_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, origin_on_new_session);
    SSL_CTX_set_app_data(ctx, calloc(1, sizeof(struct origin_share)));
    return ctx;
}
