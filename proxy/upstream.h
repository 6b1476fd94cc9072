/* upstream.h — opening a connection toward an origin: resolve, connect
 * (trying every address), and for TLS the verified handshake. Fully
 * asynchronous; the callback runs from the loop, never from inside
 * upstream_open(). */
#ifndef HUBGATE_UPSTREAM_H
#define HUBGATE_UPSTREAM_H

#include <openssl/ssl.h>

#include "proxy/proxy.h"

struct upstream;

/* On success fd >= 0 (not registered in the loop) and, for TLS, ssl with
 * the handshake done; ownership of both passes to the callee. On failure
 * fd is -1 and err says what failed ("DNS: no such host", "connect:
 * Connection refused", "TLS: certificate verify failed: ..."). */
typedef void (*upstream_cb)(void *arg, int fd, SSL *ssl, const char *err);

/* Starts connecting to host:port; tls != 0 adds a TLS handshake that
 * verifies the origin's chain against [upstream] ca_file and its name.
 * Returns a handle valid until the callback runs or upstream_cancel(), or
 * NULL when out of memory. */
struct upstream *upstream_open(struct proxy *px, const char *host, unsigned port,
                               int tls, upstream_cb cb, void *arg);

/* Stops an attempt; its callback will not run. */
void upstream_cancel(struct upstream *u);

/* Builds the client SSL_CTX used toward origins. NULL with err set. */
SSL_CTX *upstream_tls_ctx(const struct config *cfg, char *err, size_t errlen);

#endif
