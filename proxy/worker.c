/* worker.c — one event loop: start-up in order, commands from the main
 * thread (drain, reload), teardown in reverse. */
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
#include "mitm/tls/tls.h"
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
        if (c->mode != CONN_TUNNEL && c->req->state == H1_HEAD && !c->cin.len &&
            !c->pending && !c->uout.len && !c->cout.len)
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

/* A new generation for new connections; live ones keep theirs. A bad
 * config is refused and the running one kept. Only worker 0 speaks: the
 * others read the same file and would say the same. */
/* Joins a new generation to what all workers share: link health and the
 * upstream TLS sessions (of this generation: see upstream.c). */
static void gen_share(struct proxy *px, struct gen *g)
{
    g->links.health = px->health;
    tls_origin_share(g->up_ctx, px->sessions, px->reloads);
}

static void reload(struct worker *w)
{
    struct proxy *px = &w->px;
    int quiet = w->index != 0;
    struct config cfg;
    struct gen *g;
    char err[512];

    /* Counted whatever comes of it: every worker reloads, so the counts
     * agree, and a worker left on the old configuration keeps the old
     * generation's number. */
    px->reloads++;
    if (!quiet)
        log_info("SIGHUP: reloading %s", px->config_path);
    if (config_load(&cfg, px->config_path, err, sizeof(err)) != 0) {
        if (!quiet)
            log_err("reload refused, keeping the running configuration: %s", err);
        return;
    }
    if (!quiet && (strcmp(cfg.listen_host, px->cfg->listen_host) != 0 ||
                   cfg.listen_port != px->cfg->listen_port))
        log_warn("reload: [proxy] listen changed; it takes effect after a restart "
                 "(still listening on %s:%u)", px->cfg->listen_host,
                 (unsigned)px->cfg->listen_port);
    g = gen_new(&cfg, err, sizeof(err));
    if (!g) {
        if (!quiet)
            log_err("reload refused, keeping the running configuration: %s", err);
        return;
    }
    gen_share(px, g);
    gen_unref(px->gen);
    px->gen = g;
    px->cfg = &g->cfg;
    /* one format for the whole stream, so worker 0 (which speaks for all
     * of them) switches it */
    if (!quiet)
        log_set_json(g->cfg.log_json);
    /* pooled connections belong to the old links */
    pool_free(px->pool);
    px->pool = pool_new(px->loop, POOL_MAX_IDLE, POOL_IDLE_MS);
    metrics_set(px->metrics, "hubgate_ca_expiry_timestamp_seconds", "",
                (double)ca_not_after(g->ca));
    if (!quiet)
        log_info("reloaded: new connections use the new configuration");
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
            else if (cmd[i] == 'H')
                reload(w);
        }
    }
}

void worker_command(struct worker *w, char cmd)
{
    if (write(w->ctl[1], &cmd, 1) != 1)
        log_err("worker %d: cannot send command '%c'", w->index, cmd);
}

/* Builds the worker's proxy; 0 or -1 (logged). */
static int worker_start(struct worker *w)
{
    struct proxy *px = &w->px;
    struct config cfg;
    char err[512];

    px->lfd = -1;
    px->config_path = w->config_path;
    /* px->metrics was set by main() before any worker started: the admin
     * endpoint, on worker 0, reads every peer's from the start */
    px->recent = w->recent;
    px->health = w->health;
    px->sessions = w->sessions;
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
    if (config_load(&cfg, w->config_path, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return -1;
    }
    px->gen = gen_new(&cfg, err, sizeof(err));
    if (!px->gen) {
        log_err("%s", err);
        return -1;
    }
    px->cfg = &px->gen->cfg;
    gen_share(px, px->gen);
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

    if (!px->loop)
        return;
    while (px->conns) {
        conn_close(px->conns);
        loop_run_deferred(px->loop);
    }
    admin_stop(px);
    listener_stop(px);
    loop_timer_del(px->loop, &w->drain_timer);
    loop_timer_del(px->loop, &px->idle_timer);
    loop_del(px->loop, w->ctl[0]);
    pool_free(px->pool);
    tunnel_trim(px);
    dns_free(px->dns);
    gen_unref(px->gen);
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
