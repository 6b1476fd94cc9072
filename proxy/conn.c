/* conn.c — client connection lifecycle: accept, events, deadlines, errors
 * and the one destructor. */
#include "proxy/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include "base/addr.h"
#include "base/log.h"
#include "mitm/carry.h"
#include "mitm/exchange.h"
#include "mitm/http/hdr.h"
#include "proxy/core/access.h"
#include "proxy/core/policy.h"
#include "proxy/front.h"
#include "proxy/tunnel.h"
#include "proxy/up/upstream.h"

#define CONN_CIN_SIZE  (4u * 1024u)   /* grows for long heads (front.c) */

static void conn_on_client(struct loop *loop, int fd, void *arg, uint32_t events);
static void conn_on_timer(struct loop *loop, struct timer *t);

static void conn_on_yield(void *arg)
{
    struct conn *c = arg;

    if (!(c->flags & CONN_F_CLOSING))
        conn_run(c);
}

void conn_yield(struct conn *c)
{
    loop_yield(c->px->loop, &c->yield_task, conn_on_yield, c);
}


/* Best-effort answer on a socket we will not serve (no conn exists yet). */
static void refuse(int fd, const char *status_line)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     status_line);

    if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* nothing more to do: the client is gone or not reading */
    }
    close(fd);
}

/* Client connections open in all workers ([proxy] max_connections is for
 * the whole process). */
static unsigned conn_total(const struct proxy *px)
{
    unsigned n = 0;
    size_t i;

    if (!px->npeers)
        return px->nconns;
    for (i = 0; i < px->npeers; i++)
        n += __atomic_load_n(&px->peers[i]->nconns, __ATOMIC_RELAXED);
    return n;
}

void conn_accept(struct proxy *px, int fd, const struct sockaddr_storage *peer)
{
    const struct config *cfg = px->cfg;
    char who[64];
    struct conn *c;

    addr_format((const struct sockaddr *)peer, who, sizeof(who));
    if (!cidr_list_match(&cfg->allow, (const struct sockaddr *)peer)) {
        log_warn("client %s refused: not in [proxy] allow", who);
        refuse(fd, "403 Forbidden");
        return;
    }
    if (conn_total(px) >= cfg->max_connections) {
        log_warn("client %s refused: %u connections open ([proxy] max_connections)",
                 who, conn_total(px));
        refuse(fd, "503 Service Unavailable");
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        refuse(fd, "503 Service Unavailable");
        return;
    }
    c->px = px;
    c->gen = gen_ref(px->gen);
    c->id = ++px->next_id;
    memcpy(c->peer, who, sizeof(c->peer));
    c->peer_loopback = policy_is_loopback((const struct sockaddr *)peer);
    ep_init_raw(&c->cl, fd);
    timer_init(&c->timer, conn_on_timer, c);
    c->t_active = c->t_head = loop_now(px->loop);
    buf_init(&c->cin, CONN_CIN_SIZE);
    buf_init(&c->cout, cfg->max_header_bytes + 4096);
    c->req_method = -1;
    c->link = -1;
    c->req = calloc(1, sizeof(*c->req));
    if (!c->req) {
        gen_unref(c->gen);
        free(c);
        refuse(fd, "503 Service Unavailable");
        return;
    }
    http1_init(c->req, HTTP_REQUEST, cfg->max_header_bytes);
    if (loop_add(px->loop, fd, LOOP_RD, conn_on_client, c) != 0) {
        gen_unref(c->gen);
        free(c->req);
        free(c);
        refuse(fd, "503 Service Unavailable");
        return;
    }
    c->next = px->conns;
    if (px->conns)
        px->conns->prev = c;
    px->conns = c;
    __atomic_store_n(&px->nconns, px->nconns + 1, __ATOMIC_RELAXED);
    conn_update(c);
}

/* The owner thread writes these counts; the admin page, on another
 * worker's thread, reads them. */
static void count_kind(struct proxy *px, enum conn_mode mode, int delta)
{
    unsigned *n = mode == CONN_TUNNEL ? &px->n_tunnel : mode == CONN_MITM ? &px->n_mitm : NULL;

    if (n)
        __atomic_store_n(n, *n + (unsigned)delta, __ATOMIC_RELAXED);
}

void conn_set_mode(struct conn *c, enum conn_mode mode)
{
    count_kind(c->px, c->mode, -1);
    c->mode = mode;
    count_kind(c->px, mode, +1);
}

static void conn_free(void *arg)
{
    struct conn *c = arg;
    struct proxy *px = c->px;

    loop_task_cancel(&c->yield_task);
    upstream_cancel(c->px, c->connecting);
    c->connecting = NULL;
    loop_timer_del(px->loop, &c->timer);
    exchange_free(c->x, 0);
    c->x = NULL;
    tunnel_free(c->tun, px);
    c->tun = NULL;
    ep_close(&c->cl, px->loop);
    buf_free(&c->cin);
    buf_free(&c->cout);
    if (c->prev)
        c->prev->next = c->next;
    else
        px->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    count_kind(px, c->mode, -1);
    __atomic_store_n(&px->nconns, px->nconns - 1, __ATOMIC_RELAXED);
    gen_unref(c->gen);
    free(c->req);
    free(c);
    if (px->draining && px->nconns == 0)
        loop_stop(px->loop);
    else if (px->nconns == 0 && px->idle_timer.fn)
        loop_timer_set(px->loop, &px->idle_timer, CONN_IDLE_TRIM_MS);
}

void conn_close(struct conn *c)
{
    if (c->flags & CONN_F_CLOSING)
        return;
    c->flags |= CONN_F_CLOSING;
    /* Stop events at once; memory goes after the current event. */
    if (c->cl.fd >= 0)
        loop_del(c->px->loop, c->cl.fd);
    /* a fill whose client leaves goes on for the cache (mitm/carry.h) */
    if (c->x && carry_take(c->x))
        c->x = NULL;
    if (c->x)
        exchange_stop(c->x);
    if (c->tun)
        tunnel_stop(c->tun, c->px->loop);
    loop_timer_del(c->px->loop, &c->timer);
    loop_defer(c->px->loop, &c->free_task, conn_free, c);
}

void conn_reset(struct conn *c)
{
    struct linger lg = {1, 0};

    /* Nothing more reaches the client: not what waits in our buffers, not
     * what the TLS layer gathered. */
    buf_consume(&c->cout, c->cout.len);
    if (c->cl.ssl)
        (void)BIO_reset(SSL_get_wbio(c->cl.ssl));
    if (c->cl.fd >= 0)
        setsockopt(c->cl.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    if (c->x)
        exchange_log(c->x);
    conn_close(c);
}

void conn_run(struct conn *c)
{
    if (c->flags & CONN_F_CLOSING)
        return;
    if (c->mode == CONN_TUNNEL)
        tunnel_pump(c);
    else
        front_pump(c);
    if (!(c->flags & CONN_F_CLOSING))
        conn_update(c);
}

static void conn_on_client(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct conn *c = arg;

    (void)loop;
    (void)fd;
    ep_on_events(&c->cl, events);
    conn_run(c);
}

/* Returns the loop_now() time at which c times out in its current state,
 * and the reason in *what. */
static uint64_t conn_deadline(const struct conn *c, const char **what)
{
    const struct config *cfg = &c->gen->cfg;

    if (c->flags & CONN_F_LINGER) {
        *what = "lingering close";
        return c->t_active + CONN_LINGER_MS;
    }
    if (c->mode == CONN_TUNNEL) {
        *what = "idle tunnel";
        return c->t_active + cfg->idle_timeout_ms;
    }
    if (c->cl.ssl && !(c->flags & CONN_F_TLS_OK)) {
        *what = "TLS handshake";
        return c->t_head + cfg->handshake_timeout_ms;
    }
    if (!c->x && !c->connecting && c->req->state == H1_HEAD) {
        if (c->cin.len) {
            *what = "request head";
            return c->t_head + cfg->header_timeout_ms;
        }
        *what = "idle keep-alive";
        return c->t_active + cfg->idle_timeout_ms;
    }
    *what = "upstream read";
    return c->t_active + cfg->read_timeout_ms;
}

static void conn_on_timer(struct loop *loop, struct timer *t)
{
    struct conn *c = t->arg;
    const char *what;
    uint64_t dl = conn_deadline(c, &what), now = loop_now(loop);

    if (now < dl) {
        loop_timer_set(loop, t, dl - now);
        return;
    }
    if (c->flags & CONN_F_LINGER) {
        conn_close(c);
        return;
    }
    log_info("client %s: %s timed out, closing", c->peer, what);
    if (c->mode != CONN_TUNNEL && (c->connecting || (c->x && !(c->x->flags & XCH_F_RESP_SENT)))) {
        conn_error(c, 504, "UNAVAILABLE", "hubgate: upstream timed out");
        /* a new deadline for writing the answer, not the expired one */
        conn_touch(c, now);
    } else {
        conn_close(c);
    }
    if (!(c->flags & CONN_F_CLOSING))
        conn_update(c);
}

void conn_update(struct conn *c)
{
    struct loop *loop = c->px->loop;
    int crd = 0, cwr = 0;
    const char *what;
    uint64_t dl, now = loop_now(loop);

    if (c->flags & CONN_F_CLOSING)
        return;
    if (c->mode == CONN_TUNNEL) {
        tunnel_interest(c, &crd, &cwr);
    } else {
        front_interest(c, &crd, &cwr);
        if (c->x)
            exchange_update(c->x);
    }
    if (c->cl.fd >= 0)
        loop_mod(loop, c->cl.fd, ep_mask(&c->cl, crd, cwr));
    dl = conn_deadline(c, &what);
    if (!timer_armed(&c->timer) || c->timer.when > dl)
        loop_timer_set(loop, &c->timer, dl > now ? dl - now : 0);
}

void conn_error(struct conn *c, int status, const char *code, const char *msg)
{
    conn_error_hdr(c, status, code, msg, NULL);
}

void conn_error_hdr(struct conn *c, int status, const char *code, const char *msg,
                    const char *hdr)
{
    if (c->mode == CONN_TUNNEL || (c->flags & CONN_F_ANSWERED)) {
        log_info("client %s: %s; closing", c->peer, msg);
        conn_close(c);
        return;
    }
    /* Called from callbacks too (a failed upstream): make sure a pump runs
     * to write the answer. */
    conn_yield(c);
    if (c->x) {
        exchange_fail(c->x, status, code, msg);
        return;
    }
    upstream_cancel(c->px, c->connecting);
    c->connecting = NULL;
    if (hdr_write_error(&c->cout, status, code, msg, hdr) != 0) {
        conn_close(c);
        return;
    }
    c->status = status;
    c->flags |= CONN_F_ANSWERED | CONN_F_CLOSE_AFTER;
    if (c->req->state != H1_DONE)
        c->req->state = H1_ERROR;
    log_info("client %s: %d %s", c->peer, status, msg);
}

void conn_log(struct conn *c, const char *link, uint64_t bytes_out, uint64_t bytes_in)
{
    struct access a = {
        .peer = c->peer,
        .method = c->req_method >= 0 ? llhttp_method_name((llhttp_method_t)c->req_method) : "-",
        .host = c->host[0] ? c->host : "-",
        .path = c->log_path[0] ? c->log_path : "-",
        .link = link,
        .status = c->status,
        .bytes_out = bytes_out,
        .bytes_in = bytes_in,
        .ms = loop_now(c->px->loop) - c->t_head,
    };

    if (c->flags & CONN_F_LOGGED)
        return;
    c->flags |= CONN_F_LOGGED;
    access_log(c->px, c->gen, &a);
}

int conn_idle(const struct conn *c)
{
    return c->mode != CONN_TUNNEL && !c->x && !c->connecting && c->req->state == H1_HEAD &&
           !c->cin.len && !c->cout.len;
}
