/* proxy.h — the one shared context, built in main() and passed down. */
#ifndef HUBGATE_PROXY_H
#define HUBGATE_PROXY_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "proxy/config.h"
#include "proxy/links.h"
#include "proxy/loop.h"

struct ca;
struct dns;
struct conn;
struct pool;
struct metrics;
struct admin;

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
    struct links links;         /* [upstream] via, with health */
    struct links pass_links;    /* [passthrough] via */
    struct pool *pool;          /* idle upstream connections */
    struct metrics *metrics;
    struct admin *admin;
    char hub_auth[700];         /* base64 of [upstream] hub_credentials, "" when none */
};

#endif
