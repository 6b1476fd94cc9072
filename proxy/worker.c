/* worker.c — one event loop: start-up in order, commands from the main
 * thread (drain, take up a new generation), teardown in reverse. */
#include "proxy/worker.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca/ca.h"
#include "dns/dns.h"
#include "mitm/carry.h"
#include "mitm/segfetch.h"
#include "proxy/admin.h"
#include "proxy/conn.h"
#include "proxy/listener.h"
#include "base/log.h"
#include "base/metrics.h"
#include "proxy/up/pool.h"
#include "proxy/tunnel.h"
#include "proxy/up/upstream.h"

/* Idle upstream connections each loop keeps for reuse, and for how long.
 * Between two requests of a keep-alive client its upstream connection
 * waits here, so the pool must hold as many as a loop has busy clients:
 * with 64, 200 parallel clients on one loop made 3,452 evictions and 3,516
 * new upstream handshakes in 20,000 requests. */
#define POOL_MAX_IDLE 256u
#define POOL_IDLE_MS  30000u

/* Nobody connected for a while: pooled pipes and freed heap go back to
 * the system, so that memory after a burst returns near its start. */
static void on_idle(struct loop *loop, struct timer *t)
{
    struct proxy *px = t->arg;

    (void)loop;
    if (px->nconns)
        return;
    tunnel_trim(px);
    malloc_trim(0);
    /* what idle upstream connections hold goes back once they close */
    if (pool_size(px->pool))
        loop_timer_set(px->loop, t, CONN_IDLE_TRIM_MS);
}

static void on_drain_timeout(struct loop *loop, struct timer *t)
{
    struct worker *w = t->arg;

    log_warn("drain: %u connection(s) still open after [proxy] drain_timeout; stopping",
             w->px.nconns);
    loop_stop(loop);
}

/* Stop accepting, close idle connections, give the rest drain_timeout to
 * finish; the loop stops when the last one closes (conn.c). */
static void start_drain(struct worker *w)
{
    struct proxy *px = &w->px;
    struct conn *c, *next;

    if (px->draining)
        return;
    px->draining = 1;
    listener_stop(px);
    if (px->nconns)
        log_info("draining: %u connection(s) in flight, up to %ums", px->nconns,
                 px->cfg->drain_timeout_ms);
    for (c = px->conns; c; c = next) {
        next = c->next;
        if (conn_idle(c))
            conn_close(c);
        else
            c->flags |= CONN_F_CLOSE_AFTER;
    }
    if (px->nconns == 0) {
        loop_stop(px->loop);
        return;
    }
    loop_timer_set(px->loop, &w->drain_timer, px->cfg->drain_timeout_ms);
}

/* A new generation from the main thread (already built and checked, and
 * the same for every worker): new connections get it, live ones keep
 * theirs, and what this loop built from the old one is rebuilt. */
static void adopt_gen(struct worker *w)
{
    struct proxy *px = &w->px;
    struct gen *g = __atomic_exchange_n(&w->next_gen, NULL, __ATOMIC_ACQ_REL);

    if (!g)
        return;
    gen_unref(px->gen);
    px->gen = g;
    px->cfg = &g->cfg;
    /* pooled connections belong to the old links */
    pool_free(px->pool);
    px->pool = pool_new(px->loop, POOL_MAX_IDLE, POOL_IDLE_MS);
    metrics_set(px->metrics, "hubgate_ca_expiry_timestamp_seconds", "",
                (double)ca_not_after(g->ca));
}

static void on_command(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct worker *w = arg;
    char cmd[16];
    ssize_t n, i;

    (void)loop;
    (void)events;
    while ((n = read(fd, cmd, sizeof(cmd))) > 0) {
        for (i = 0; i < n; i++) {
            if (cmd[i] == 'T')
                start_drain(w);
            else if (cmd[i] == 'G')
                adopt_gen(w);
        }
    }
}

void worker_command(struct worker *w, char cmd)
{
    if (write(w->ctl[1], &cmd, 1) != 1)
        log_err("worker %d: cannot send command '%c'", w->index, cmd);
}

void worker_set_gen(struct worker *w, struct gen *g)
{
    /* The mailbox holds one generation: a newer one replaces one the
     * worker has not taken up yet, and one 'G' per hand-over suffices. */
    gen_unref(__atomic_exchange_n(&w->next_gen, gen_ref(g), __ATOMIC_ACQ_REL));
    worker_command(w, 'G');
}

void worker_clear_gen(struct worker *w)
{
    gen_unref(__atomic_exchange_n(&w->next_gen, NULL, __ATOMIC_ACQ_REL));
}

/* Builds the worker's proxy; 0 or -1 (logged). */
static int worker_start(struct worker *w)
{
    struct proxy *px = &w->px;
    char err[512];

    px->lfd = -1;
    /* the main thread's reference, ours now (worker_stop drops it) */
    px->gen = w->gen;
    w->gen = NULL;
    px->cfg = &px->gen->cfg;
    /* px->metrics was set by main() before any worker started: the admin
     * endpoint, on worker 0, reads every peer's from the start */
    px->recent = w->recent;
    px->peers = w->peers;
    px->npeers = w->npeers;
    timer_init(&px->accept_backoff, NULL, px);
    px->loop = loop_new();
    if (!px->loop) {
        log_err("cannot create an event loop: %s", strerror(errno));
        return -1;
    }
    timer_init(&w->drain_timer, on_drain_timeout, w);
    timer_init(&px->idle_timer, on_idle, px);
    px->pool = pool_new(px->loop, POOL_MAX_IDLE, POOL_IDLE_MS);
    if (!px->pool) {
        log_err("out of memory");
        return -1;
    }
    px->dns = dns_new(px->loop, px->cfg->dns_servers.v, px->cfg->dns_servers.n, err, sizeof(err));
    if (!px->dns) {
        log_err("%s", err);
        return -1;
    }
    if (loop_add(px->loop, w->ctl[0], LOOP_RD, on_command, w) != 0) {
        log_err("cannot watch the control pipe");
        return -1;
    }
    if (listener_start(px, w->lfd, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return -1;
    }
    if (w->index == 0 && px->cfg->admin_listen &&
        admin_start(px, px->cfg->admin_listen, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return -1;
    }
    metrics_set(px->metrics, "hubgate_ca_expiry_timestamp_seconds", "",
                (double)ca_not_after(px->gen->ca));
    return 0;
}

static void worker_stop(struct worker *w)
{
    struct proxy *px = &w->px;

    if (!px->loop) {
        gen_unref(px->gen);
        px->gen = NULL;
        return;
    }
    while (px->conns) {
        conn_close(px->conns);
        loop_run_deferred(px->loop);
    }
    carry_free_all(px);
    admin_stop(px);
    listener_stop(px);
    loop_timer_del(px->loop, &w->drain_timer);
    loop_timer_del(px->loop, &px->idle_timer);
    loop_del(px->loop, w->ctl[0]);
    pool_free(px->pool);
    segfetch_shared_free(px->segs);
    px->segs = NULL;
    tunnel_trim(px);
    dns_free(px->dns);
    gen_unref(px->gen);
    px->gen = NULL;
    loop_free(px->loop);
    px->loop = NULL;
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    char r = 'F';

    w->rc = 1;
    if (worker_start(w) == 0) {
        r = 'R';
        if (write(w->ready_fd, &r, 1) != 1)
            log_err("worker %d: cannot report readiness", w->index);
        w->rc = loop_run(w->px.loop) == 0 ? 0 : 1;
        if (w->rc)
            log_err("worker %d: event loop failed: %s", w->index, strerror(errno));
    } else if (write(w->ready_fd, &r, 1) != 1) {
        log_err("worker %d: cannot report its failure", w->index);
    }
    worker_stop(w);
    r = 'D';
    if (write(w->done_fd, &r, 1) != 1)
        log_err("worker %d: cannot report its end", w->index);
    return NULL;
}
