/* proxy.h — the one shared context, built in main() and passed down. */
#ifndef HUBGATE_PROXY_H
#define HUBGATE_PROXY_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "proxy/config.h"
#include "proxy/loop.h"

struct ca;
struct dns;
struct conn;

struct proxy {
    struct loop *loop;
    struct config *cfg;         /* read-only while running */
    struct ca *ca;
    struct dns *dns;
    SSL_CTX *up_ctx;            /* client context toward origins: verifies */
    int lfd;                    /* listening socket, -1 once closed */
    struct timer accept_backoff;
    unsigned nconns;            /* client connections open */
    int draining;               /* SIGTERM seen: no new connections */
    uint64_t next_id;
    struct conn *conns;         /* all client connections (for draining) */
};

#endif
