/* proxy.h — the one shared context, built in main() and passed down. */
#ifndef HUBGATE_PROXY_H
#define HUBGATE_PROXY_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "proxy/core/config.h"
#include "proxy/core/gen.h"
#include "base/loop.h"

struct ca;
struct dns;
struct conn;
struct carry;
struct pool;
struct metrics;
struct metrics_recent;
struct admin;
struct tls_sessions;
struct upstream_opener;
struct cache;
struct seg_shared;

struct proxy {
    struct loop *loop;
    struct gen *gen;            /* current configuration generation (one
                                 * reference; shared by all workers) */
    const struct config *cfg;   /* &gen->cfg: what new connections get */
    struct dns *dns;
    int lfd;                    /* listening socket, -1 once closed */
    struct timer accept_backoff;
    unsigned nconns;            /* client connections open */
    int draining;               /* SIGTERM seen: no new connections */
    uint64_t next_id;
    struct conn *conns;         /* all client connections (for draining) */
    struct pool *pool;
    int pipes[64][2];           /* idle pipes for splice(), reused by tunnels */
    int npipes;
    struct timer idle_timer;    /* armed when the last connection closes */          /* idle upstream connections */
    struct metrics *metrics;    /* this loop's own counters: only this loop
                                 * updates them, the admin endpoint sums every
                                 * peer's table when scraped (metrics.h) */
    struct metrics_recent *recent; /* recent requests, shared by all workers
                                    * (locked inside) */
    struct proxy **peers;       /* every worker's proxy, read-only */
    size_t npeers;
    unsigned n_tunnel, n_mitm;  /* connections by kind (read by the admin page) */
    struct admin *admin;
    struct seg_shared *segs;    /* what segmented fetches share (mitm/segfetch.c),
                                 * NULL until the first one */
    const struct upstream_opener *opener; /* NULL: the real one (tests play origins) */
    struct cache *cache;        /* the blob cache, shared by every worker (locked
                                 * inside), NULL without [cache] dir */
    struct carry *carries;      /* fills whose client left (mitm/carry.h) */
    unsigned ncarries;
};

#endif
