/* pool.c — idle upstream connection pool (a small list; pulls touch a
 * handful of origins, so a linear search is the right size). */
#include "proxy/up/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/core/policy.h"
#include "proxy/up/upstream.h"

struct pool_ent {
    struct pool *p;
    struct pool_ent *next, *prev;
    int link;
    char host[256];
    unsigned port;
    int tls, direct;
    struct ep ep;
    struct timer timer;
};

struct pool {
    struct loop *loop;
    struct pool_ent *head;
    unsigned n, max_idle, idle_ms;
};

struct pool *pool_new(struct loop *loop, unsigned max_idle, unsigned idle_ms)
{
    struct pool *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->loop = loop;
    p->max_idle = max_idle;
    p->idle_ms = idle_ms;
    return p;
}

unsigned pool_size(const struct pool *p)
{
    return p ? p->n : 0;
}

static void pool_unlink(struct pool_ent *e)
{
    struct pool *p = e->p;

    if (e->prev)
        e->prev->next = e->next;
    else
        p->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    p->n--;
    loop_timer_del(p->loop, &e->timer);
}

static void pool_drop(struct pool_ent *e)
{
    pool_unlink(e);
    ep_close(&e->ep, e->p->loop);
    free(e);
}

void pool_free(struct pool *p)
{
    struct pool_ent *e, *next;

    if (!p)
        return;
    for (e = p->head; e; e = next) {
        next = e->next;
        pool_drop(e);
    }
    free(p);
}

static void pool_on_io(struct loop *loop, int fd, void *arg, uint32_t events)
{
    (void)loop;
    (void)fd;
    (void)events;
    pool_drop(arg); /* an idle origin has nothing to say but goodbye */
}

static void pool_on_timer(struct loop *loop, struct timer *t)
{
    (void)loop;
    pool_drop(t->arg);
}

void pool_put(struct pool *p, const struct pool_key *k, struct ep *ep)
{
    struct pool_ent *e;

    if (ep->fd < 0)
        return;
    if (p->n >= p->max_idle && p->head) {
        struct pool_ent *old = p->head;

        while (old->next)
            old = old->next; /* the oldest sits at the tail */
        pool_drop(old);
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        ep_close(ep, p->loop);
        return;
    }
    e->p = p;
    e->link = k->link;
    snprintf(e->host, sizeof(e->host), "%s", k->host);
    e->port = k->port;
    e->tls = k->tls;
    e->direct = k->direct;
    e->ep = *ep;
    ep->fd = -1;
    ep->ssl = NULL;
    /* Still registered for the conn that used it. An event fetched for
     * that conn must not reach pool_on_io, which would take it for the
     * origin closing: drop_fetched. */
    if (loop_rebind(p->loop, e->ep.fd, LOOP_RD, pool_on_io, e, 1) != 0) {
        ep_close(&e->ep, p->loop);
        free(e);
        return;
    }
    timer_init(&e->timer, pool_on_timer, e);
    loop_timer_set(p->loop, &e->timer, p->idle_ms);
    e->next = p->head;
    if (p->head)
        p->head->prev = e;
    p->head = e;
    p->n++;
}

/* The destination check of upstream_open(), on a pooled connection. */
static int pool_dest_ok(const struct pool_ent *e, const struct config *cfg, unsigned up_flags)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    const char *why;

    if (!(up_flags & UP_F_CHECK_DEST) || !e->direct)
        return 1;
    if (getpeername(e->ep.fd, (struct sockaddr *)&sa, &len) == -1)
        return 0;
    return policy_dest_ok(cfg, (struct sockaddr *)&sa, (up_flags & UP_F_CLIENT_LOCAL) != 0, &why);
}

int pool_get(struct pool *p, const struct pool_key *k, const struct config *cfg,
             unsigned up_flags, struct ep *ep)
{
    struct pool_ent *e;

    for (e = p->head; e; e = e->next) {
        if (e->link != k->link || e->port != k->port || e->tls != k->tls ||
            e->direct != k->direct || strcmp(e->host, k->host) != 0 ||
            !pool_dest_ok(e, cfg, up_flags))
            continue;
        pool_unlink(e);
        *ep = e->ep;
        ep->flags = EP_F_WR_MAYBE;
        free(e);
        return 1;
    }
    return 0;
}
