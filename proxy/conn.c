/* conn.c — client connection lifecycle: accept, events, deadlines, errors,
 * the access log and the one destructor. */
#include "proxy/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include "mitm/digest.h"
#include "mitm/exchange.h"
#include "mitm/mitm.h"
#include "mitm/tls/tls.h"
#include "proxy/core/metric_label.h"
#include "proxy/core/policy.h"
#include "base/addr.h"
#include "base/json.h"
#include "base/log.h"
#include "base/metrics.h"
#include "proxy/tunnel.h"
#include "proxy/up/upstream.h"

#define CONN_CIN_SIZE  (4u * 1024u)   /* grows for long heads (client_read) */
#define CONN_UIN_SIZE  (64u * 1024u)

static void conn_on_client(struct loop *loop, int fd, void *arg, uint32_t events);
static void conn_run(struct conn *c);
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
    ep_init_raw(&c->up, -1);
    c->sp_cu.fd[0] = c->sp_cu.fd[1] = c->sp_uc.fd[0] = c->sp_uc.fd[1] = -1;
    timer_init(&c->timer, conn_on_timer, c);
    c->t_active = c->t_head = loop_now(px->loop);
    buf_init(&c->cin, CONN_CIN_SIZE);
    buf_init(&c->uin, CONN_UIN_SIZE);
    buf_init(&c->cout, cfg->max_header_bytes + 4096);
    buf_init(&c->uout, cfg->max_header_bytes + 4096);
    buf_init(&c->tmpl, cfg->max_header_bytes + 4096);
    c->req_method = -1;
    c->link = c->up_link = -1;
    c->body_len = -1;
    c->req = calloc(2, sizeof(*c->req));
    if (!c->req) {
        free(c);
        refuse(fd, "503 Service Unavailable");
        return;
    }
    c->resp = c->req + 1;
    http1_init(c->req, HTTP_REQUEST, cfg->max_header_bytes);
    http1_init(c->resp, HTTP_RESPONSE, cfg->max_header_bytes);
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
    upstream_cancel(c->pending);
    c->pending = NULL;
    loop_timer_del(px->loop, &c->timer);
    tunnel_release_pipes(c);
    ep_close(&c->cl, px->loop);
    ep_close(&c->up, px->loop);
    buf_free(&c->cin);
    buf_free(&c->uin);
    buf_free(&c->cout);
    buf_free(&c->uout);
    buf_free(&c->tmpl);
    free(c->redir);
    digest_free(c->digest);
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
    if (c->up.fd >= 0)
        loop_del(c->px->loop, c->up.fd);
    loop_timer_del(c->px->loop, &c->timer);
    loop_defer(c->px->loop, &c->free_task, conn_free, c);
}

void conn_reset(struct conn *c)
{
    struct linger lg = {1, 0};

    /* Nothing more reaches the client: not what waits in our buffers, not
     * what the TLS layer gathered. */
    buf_consume(&c->uin, c->uin.len);
    buf_consume(&c->cout, c->cout.len);
    if (c->cl.ssl)
        (void)BIO_reset(SSL_get_wbio(c->cl.ssl));
    if (c->cl.fd >= 0)
        setsockopt(c->cl.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    conn_log_exchange(c);
    conn_close(c);
}

static void conn_run(struct conn *c)
{
    if (c->mode == CONN_TUNNEL)
        tunnel_pump(c);
    else
        mitm_pump(c);
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

static void conn_on_upstream(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct conn *c = arg;

    (void)loop;
    (void)fd;
    ep_on_events(&c->up, events);
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
    if (c->req->state == H1_HEAD && !c->pending && c->resp->state == H1_HEAD) {
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
    if (c->mode != CONN_TUNNEL && !(c->flags & CONN_F_RESP_SENT) &&
        c->req->state != H1_HEAD) {
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
    int crd = 0, cwr = 0, urd = 0, uwr = 0;
    const char *what;
    uint64_t dl, now = loop_now(loop);

    if (c->flags & CONN_F_CLOSING)
        return;
    if (c->mode == CONN_TUNNEL)
        tunnel_interest(c, &crd, &cwr, &urd, &uwr);
    else
        mitm_interest(c, &crd, &cwr, &urd, &uwr);
    if (c->cl.fd >= 0)
        loop_mod(loop, c->cl.fd, ep_mask(&c->cl, crd, cwr));
    if (c->up.fd >= 0)
        loop_mod(loop, c->up.fd, ep_mask(&c->up, urd, uwr));
    dl = conn_deadline(c, &what);
    if (!timer_armed(&c->timer) || c->timer.when > dl)
        loop_timer_set(loop, &c->timer, dl > now ? dl - now : 0);
}

/* Registers a freshly connected upstream socket with the conn. */
void conn_attach_upstream(struct conn *c, int fd, SSL *ssl, int pooled)
{
    if (ssl)
        ep_init_tls(&c->up, fd, ssl);
    else
        ep_init_raw(&c->up, fd);
    /* A pooled socket keeps the pool's registration (read interest); an
     * event fetched for the pool is a readiness hint for the conn too. */
    if ((pooled ? loop_rebind(c->px->loop, fd, LOOP_RD, conn_on_upstream, c, 0)
                : loop_add(c->px->loop, fd, 0, conn_on_upstream, c)) != 0) {
        ep_close(&c->up, c->px->loop);
        conn_error(c, 502, "UNAVAILABLE", "hubgate: cannot watch the upstream socket");
    }
}

static const char *reason_of(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 407: return "Proxy Authentication Required";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return "Error";
    }
}

void conn_error(struct conn *c, int status, const char *code, const char *msg)
{
    conn_error_hdr(c, status, code, msg, NULL);
}

void conn_error_hdr(struct conn *c, int status, const char *code, const char *msg,
                    const char *hdr)
{
    char esc[512], body[700], head[400];
    int bn, hn;

    if (c->flags & CONN_F_RESP_SENT || c->mode == CONN_TUNNEL) {
        log_info("client %s: %s; closing", c->peer, msg);
        conn_close(c);
        return;
    }
    json_escape(esc, sizeof(esc), msg);
    bn = snprintf(body, sizeof(body),
                  "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\",\"detail\":null}]}\n",
                  code, esc);
    hn = snprintf(head, sizeof(head),
                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                  "Content-Length: %d\r\n%s%sConnection: close\r\n\r\n",
                  status, reason_of(status), bn, hdr ? hdr : "", hdr ? "\r\n" : "");
    buf_consume(&c->cout, c->cout.len);
    if (buf_append(&c->cout, head, (size_t)hn) || buf_append(&c->cout, body, (size_t)bn)) {
        conn_close(c);
        return;
    }
    c->status = status;
    c->bytes_out = 0;
    c->flags |= CONN_F_RESP_SENT | CONN_F_CLOSE_AFTER;
    mitm_abort_exchange(c);
    /* Called from callbacks too (a failed upstream): make sure a pump runs
     * to write the answer. */
    conn_yield(c);
    log_info("client %s: %d %s", c->peer, status, msg);
}

/* Counters of a finished exchange, in this loop's own table. host is
 * what the client asked for: the label is the configured name it matches,
 * or "other" (metric_label.h), so clients cannot add series. */
static void conn_count(struct conn *c, const char *host, const char *link)
{
    struct metrics *m = c->px->metrics;
    char lb[512];

    if (!m)
        return;
    metrics_add(m, "hubgate_requests_total",
                metric_label_request(lb, sizeof(lb), &c->gen->cfg, host, link, c->status), 1);
    metrics_add(m, "hubgate_bytes_total",
                metrics_label(lb, sizeof(lb), "direction", "in", "link", link, METRICS_END),
                (double)c->bytes_out);
    metrics_add(m, "hubgate_bytes_total",
                metrics_label(lb, sizeof(lb), "direction", "out", "link", link, METRICS_END),
                (double)c->bytes_in);
}

void conn_log_exchange(struct conn *c)
{
    static const char *const unknown = "-";
    const char *m, *host, *path, *link;
    char digest[80] = "", line[1024];
    unsigned long long ms;
    const char *d, *ok;

    if (c->flags & CONN_F_LOGGED)
        return;
    c->flags |= CONN_F_LOGGED;
    m = c->req_method >= 0 ? llhttp_method_name((llhttp_method_t)c->req_method) : unknown;
    host = c->host[0] ? c->host : unknown;
    path = c->log_path[0] ? c->log_path : unknown;
    link = exchange_link_name(c);
    ms = (unsigned long long)(loop_now(c->px->loop) - c->t_head);
    d = c->is_blob ? strstr(path, "/blobs/sha256:") : NULL;
    if (d)
        snprintf(digest, sizeof(digest), "%s", d + 7);
    /* verified: hubgate hashed the whole body and it matched (see
     * [intercept] verify_digest); the client checks it either way */
    ok = c->digest_ok ? "yes" : "no";
    {
        const struct log_field f[] = {
            LOG_STR("client", c->peer), LOG_STR("method", m), LOG_STR("host", host),
            LOG_STR("path", path), LOG_NUM("status", c->status),
            LOG_NUM("bytes", c->bytes_out), LOG_NUM("ms", ms), LOG_STR("link", link),
            LOG_STR("digest", digest), LOG_STR("verified", ok),
        };

        /* digest and verified (the last two) only for a blob */
        log_event(LOG_INFO, "access", f, sizeof(f) / sizeof(f[0]) - (d ? 0 : 2),
                  "access %s %s %s %s %d %lluB %llums link=%s%s%s%s%s", c->peer, m, host, path,
                  c->status, (unsigned long long)c->bytes_out, ms, link, d ? " digest=" : "",
                  digest, d ? " verified=" : "", d ? ok : "");
    }
    conn_count(c, host, link);
    if (c->px->recent) {
        snprintf(line, sizeof(line), "%s %s %s %d %lluB %s", m, host, path, c->status,
                 (unsigned long long)c->bytes_out, link);
        metrics_recent_add(c->px->recent, line);
    }
}
