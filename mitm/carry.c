/* carry.c — a blob fill whose client left, carried on to its end (carry.h). */
#include "mitm/carry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "mitm/exchange.h"
#include "mitm/cache/cache.h"
#include "mitm/xcache.h"

/* How often a carried exchange checks that bytes still arrive. */
#define CARRY_TICK_MS 1000u
/* Pumps of one run before the loop serves others (as a connection's). */
#define CARRY_BUDGET 64

struct carry {
    struct carry *next, *prev;    /* px->carries */
    struct proxy *px;
    struct exchange *x;           /* owned */
    struct gen *gen;              /* a reference, for x->gen */
    /* what x borrowed from its client connection, now its own */
    struct buf cin, cout;
    struct http1 req;
    char peer[64];
    struct timer tick;
    struct loop_task run_task, free_task;
    uint64_t seen;                /* progress when last looked at */
    uint64_t t_seen;              /* loop time progress last moved */
    int ending;                   /* its free is queued */
};

static void carry_free(struct carry *k)
{
    struct proxy *px = k->px;
    struct exchange *x = k->x;

    loop_timer_del(px->loop, &k->tick);
    loop_task_cancel(&k->run_task);
    loop_task_cancel(&k->free_task);
    if (k->prev)
        k->prev->next = k->next;
    else
        px->carries = k->next;
    if (k->next)
        k->next->prev = k->prev;
    px->ncarries--;
    /* a complete answer leaves its connection to the pool */
    exchange_free(x, x->state == XCH_DONE);
    buf_free(&k->cin);
    buf_free(&k->cout);
    gen_unref(k->gen);
    free(k);
}

static void free_cb(void *arg)
{
    carry_free(arg);
}

/* Body bytes that arrived, whichever way: on the first connection, or in
 * segments (which reach the fill in order). */
static uint64_t progress(const struct exchange *x)
{
    return x->body_rx + (x->xc && x->xc->fill ? cache_fill_written(x->xc->fill) : 0);
}

/* x is over: say how, and free it after the current event (an upstream
 * callback may still be on the stack). */
static void carry_end(struct carry *k)
{
    struct exchange *x = k->x;
    uint64_t ms = loop_now(k->px->loop) - x->t_start;

    if (k->ending)
        return;
    k->ending = 1;
    if (x->state == XCH_DONE)
        log_info("client %s had left: %s %s fetched for the cache anyway (%llu bytes, %llu ms)",
                 k->peer, x->host, x->log_path, (unsigned long long)x->body_rx,
                 (unsigned long long)ms);
    else
        log_warn("client %s had left: %s %s could not be fetched for the cache (%llu of %lld "
                 "bytes); the next request fetches it again", k->peer, x->host, x->log_path,
                 (unsigned long long)x->body_rx, (long long)x->body_len);
    loop_defer(k->px->loop, &k->free_task, free_cb, k);
}

static void carry_run(void *arg)
{
    struct carry *k = arg;
    struct exchange *x = k->x;
    int budget = CARRY_BUDGET;

    if (k->ending)
        return;
    while (exchange_pump(x)) {
        if (--budget == 0) {
            loop_yield(k->px->loop, &k->run_task, carry_run, k);
            break;
        }
    }
    exchange_flush(x);
    if (x->state == XCH_FAILED || exchange_over(x)) {
        carry_end(k);
        return;
    }
    exchange_update(x);
}

/* Gives up on a fetch that brought nothing for [upstream] read_timeout. */
static void on_tick(struct loop *loop, struct timer *t)
{
    struct carry *k = t->arg;
    struct exchange *x = k->x;
    uint64_t now = loop_now(loop), p = progress(x);

    if (p != k->seen) {
        k->seen = p;
        k->t_seen = now;
    } else if (now - k->t_seen >= k->gen->cfg.read_timeout_ms) {
        log_warn("client %s had left: %s %s: nothing arrived for %u ms; dropping its fill",
                 k->peer, x->host, x->log_path, k->gen->cfg.read_timeout_ms);
        exchange_end_failed(x, XCH_FAIL_CUT);
        carry_end(k);
        return;
    }
    loop_timer_set(loop, t, CARRY_TICK_MS);
}

int carry_take(struct exchange *x)
{
    struct proxy *px = x->px;
    struct carry *k;

    if (!xcache_filling(x) || x->state == XCH_FAILED || x->state == XCH_DONE ||
        px->ncarries >= CARRY_MAX || !(k = calloc(1, sizeof(*k))))
        return 0;
    /* the access line says what the client got before it left */
    exchange_log(x);
    k->px = px;
    k->x = x;
    k->gen = gen_ref(x->gen);
    buf_init(&k->cin, 1);
    buf_init(&k->cout, x->gen->cfg.max_header_bytes + 4096);
    /* the request's headers stay readable (Range, Authorization for the
     * next attempt); its body, if any, was sent or is no one's */
    k->req = *x->cl.req;
    k->req.state = H1_DONE;
    k->req.parsed = 0;
    snprintf(k->peer, sizeof(k->peer), "%s", x->cl.peer);
    x->cl = (struct xclient){NULL, &k->cin, &k->cout, &k->req, k->peer, x->cl.peer_loopback,
                             x->cl.intercepted, carry_run, k};
    x->flags |= XCH_F_CARRIED;
    timer_init(&k->tick, on_tick, k);
    k->seen = progress(x);
    k->t_seen = loop_now(px->loop);
    loop_timer_set(px->loop, &k->tick, CARRY_TICK_MS);
    k->next = px->carries;
    if (px->carries)
        px->carries->prev = k;
    px->carries = k;
    px->ncarries++;
    if (px->metrics)
        metrics_add(px->metrics, "hubgate_cache_fills_carried_total", "", 1);
    log_info("client %s left during %s %s (%llu of %lld bytes): fetching the rest for the cache",
             k->peer, x->host, x->log_path, (unsigned long long)x->body_rx,
             (long long)x->body_len);
    /* what waited for the client moves now: no event would say so */
    loop_defer(px->loop, &k->run_task, carry_run, k);
    return 1;
}

void carry_free_all(struct proxy *px)
{
    struct carry *k, *next;

    for (k = px->carries; k; k = next) {
        next = k->next;
        carry_free(k);
    }
}
