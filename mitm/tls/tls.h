/* tls.h — the OpenSSL side of hubgate: the TLS transport for struct ep
 * (base/xprt.h), the settings of our server contexts (leaves from ca/),
 * and the verifying client context toward origins with its session cache.
 * Depends on base/ only. */
#ifndef HUBGATE_TLS_H
#define HUBGATE_TLS_H

#include <openssl/ssl.h>

#include "base/xprt.h"

extern const struct xprt_ops xprt_tls;

/* Wraps fd and ssl (ownership of both passes to ep). */
void ep_init_tls(struct ep *ep, int fd, SSL *ssl);

/* Attaches fd to ssl with reads straight from the socket and writes
 * gathered in a buffer (flushed by ep_flush). Returns 0 or -1. */
int tls_set_fd(SSL *ssl, int fd);

/* Settings every TLS context of ours shares (read-ahead, buffer modes). */
void tls_ctx_tune(SSL_CTX *ctx);

/* ca_ctx_setup_fn for the CA's server contexts: the SNI must name the
 * host the SSL's app data holds (the CONNECT host), ALPN offers only
 * http/1.1. */
void tls_server_setup(SSL_CTX *ctx, void *arg);

/* The client context toward origins: TLS 1.2+, chain verified against
 * the PEM bundle ca_file. NULL with a message in err. */
SSL_CTX *tls_origin_ctx(const char *ca_file, char *err, size_t errlen);

/* Frees a context from tls_origin_ctx(). */
void tls_origin_ctx_free(SSL_CTX *ctx);

/* The TLS session cache toward origins (by server name), one for all
 * worker loops, thread-safe. */
struct tls_sessions;
struct tls_sessions *tls_sessions_new(void);
void tls_sessions_free(struct tls_sessions *c);

/* Lets ctx store sessions in cache and resume from it, for configuration
 * generation seq: only sessions stored under the same seq are resumed. */
void tls_origin_share(SSL_CTX *ctx, struct tls_sessions *cache, unsigned seq);

/* Offers the cached session for host, if any, on a new client SSL. */
void tls_origin_resume(SSL *ssl, const char *host);

#endif
