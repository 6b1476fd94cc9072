/* pool.h — idle upstream connections kept for reuse, keyed by link, host,
 * port and TLS, shared by all client connections of a loop. A pooled
 * connection that becomes readable (the origin closed it or spoke out of
 * turn) or stays idle too long is closed. */
#ifndef HUBGATE_POOL_H
#define HUBGATE_POOL_H

#include "proxy/core/proxy.h"
#include "base/xprt.h"

struct pool;

struct pool *pool_new(struct loop *loop, unsigned max_idle, unsigned idle_ms);
void pool_free(struct pool *p);

/* Idle connections in the pool. */
unsigned pool_size(const struct pool *p);

/* Where a pooled connection leads. */
struct pool_key {
    int link;            /* the link's index in its generation; -1 plain HTTP */
    const char *host;
    unsigned port;
    int tls;
    int direct;          /* connected to the destination itself, no proxy between */
};

/* Moves ep (connected, idle, registered with the loop) into the pool; on
 * return ep->fd is -1. Closes it instead when the pool is full. */
void pool_put(struct pool *p, const struct pool_key *k, struct ep *ep);

/* Takes a matching idle connection into ep. Its fd stays registered with
 * the loop, for the pool's callback: the caller takes it over with
 * loop_rebind() before the loop runs again. A destination the client
 * chose (up_flags has UP_F_CHECK_DEST) is checked again on the pooled
 * connection's address with policy_dest_ok() under cfg, as a new
 * connection would be: whoever opened it may have been allowed where this
 * client is not (loopback), or cfg may deny it since. Returns 1 when
 * found, 0 when not. */
int pool_get(struct pool *p, const struct pool_key *k, const struct config *cfg,
             unsigned up_flags, struct ep *ep);

#endif
