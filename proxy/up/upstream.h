/* upstream.h — opening a connection toward an origin: resolve, connect
 * (trying every address), and for TLS the verified handshake. Fully
 * asynchronous; the callback runs from the loop, never from inside
 * upstream_open(). */
#ifndef HUBGATE_UPSTREAM_H
#define HUBGATE_UPSTREAM_H

#include <openssl/ssl.h>

#include "proxy/core/proxy.h"
#include "proxy/up/up_error.h"

struct upstream;

/* On success fd >= 0 (not registered in the loop) and, for TLS, ssl with
 * the handshake done, err NULL; ownership of both passes to the callee.
 * On failure fd is -1 and err says what failed (kind and words, valid
 * during the call). */
typedef void (*upstream_cb)(void *arg, int fd, SSL *ssl, const struct up_error *err);

struct link;

#define UP_F_CHECK_DEST    0x1u  /* the client chose it: apply policy_dest_ok() */
#define UP_F_CLIENT_LOCAL  0x2u  /* the client is on loopback */

/* Starts connecting to host:port, through via when it is a SOCKS5 or HTTP
 * proxy link (the host NAME is sent to the proxy; nothing about it is
 * resolved locally), else directly; tls != 0 adds a TLS handshake that
 * verifies the origin's chain against [upstream] ca_file and its name.
 * Returns a handle valid until the callback runs or upstream_cancel(), or
 * NULL when out of memory. flags: UP_F_*; a refused destination fails
 * with UP_ERR_POLICY. */
struct upstream *upstream_open(struct proxy *px, struct gen *gen, const struct link *via,
                               const char *host, unsigned port, int tls, unsigned flags,
                               upstream_cb cb, void *arg);

/* Stops an attempt of px (NULL: none); its callback will not run. */
void upstream_cancel(struct proxy *px, struct upstream *u);

/* Another way to open upstream connections, for tests that play the
 * origin over socketpairs: when px->opener is set, upstream_open() and
 * upstream_cancel() hand over to it, under the same contract. */
struct upstream_opener {
    struct upstream *(*open)(struct proxy *px, struct gen *gen, const struct link *via,
                             const char *host, unsigned port, int tls, unsigned flags,
                             upstream_cb cb, void *arg);
    void (*cancel)(struct upstream *u);
};

#endif
