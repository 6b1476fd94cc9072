/* front.c — the proxy front end of a client connection: requests read and
 * checked, then answered by an exchange, one at a time.
 *
 * Back-pressure: the client is read only while cin has room; request
 * bytes after a complete request wait unparsed until its exchange is
 * over. */
#include "proxy/front.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/uri.h"
#include "mitm/exchange.h"
#include "mitm/http/hdr.h"
#include "proxy/connect.h"
#include "proxy/core/auth.h"
#include "proxy/core/links.h"

/* Bytes at the front of a buffer that the parser checked as body. */
static size_t body_ready(const struct http1 *h)
{
    return (h->state == H1_BODY || h->state == H1_DONE) ? h->parsed : 0;
}

/* A lingering close: read and drop what the client still sends until it
 * closes or the linger time ends. */
static int linger_read(struct conn *c)
{
    char junk[16384];
    ssize_t r;
    int moved = 0;

    while ((c->cl.flags & EP_F_RD_MAYBE) && !(c->cl.flags & EP_F_RD_EOF)) {
        r = ep_read(&c->cl, junk, sizeof(junk));
        if (r <= 0)
            break;
        moved = 1;
    }
    if (c->cl.flags & (EP_F_RD_EOF | EP_F_ERROR))
        conn_close(c);
    return moved;
}

/* An answer that ends the connection is under way: nothing more is read. */
static int answering(const struct conn *c)
{
    return (c->flags & CONN_F_ANSWERED) ||
           (c->x && (c->x->flags & XCH_F_RESP_SENT) &&
            ((c->x->flags & XCH_F_CLOSE_AFTER) || (c->flags & CONN_F_CLOSE_AFTER)));
}

static int client_read(struct conn *c)
{
    int was_empty = c->cin.len == 0;
    ssize_t r;

    /* A head longer than the buffer gets room up to the limit, so that it
     * is either parsed or refused with 431, never left hanging. */
    if (c->req->state == H1_HEAD && buf_space(&c->cin) == 0 &&
        c->cin.size < c->req->max_head + 1024)
        buf_grow(&c->cin, c->req->max_head + 1024);
    if (!(c->cl.flags & EP_F_RD_MAYBE) || (c->cl.flags & EP_F_RD_EOF) || answering(c) ||
        buf_space(&c->cin) == 0 || buf_reserve(&c->cin) != 0 || buf_room(&c->cin) == 0)
        return 0;
    r = ep_read(&c->cl, buf_tail(&c->cin), buf_room(&c->cin));
    if (r <= 0)
        return 0;
    buf_commit(&c->cin, (size_t)r);
    c->flags |= CONN_F_TLS_OK;
    if (was_empty && c->req->state == H1_HEAD)
        c->t_head = loop_now(c->px->loop);
    return 1;
}

/* Resolves the origin of a request in plain proxy mode from its
 * absolute-form target. Returns 0, or answers 400 and returns -1. */
static int plain_target(struct conn *c, const char *url, size_t n, char *host, size_t hostlen,
                        unsigned *port, const char **target, size_t *tlen)
{
    struct uri u;

    if (uri_parse(url, n, &u) != 0 || !uri_host_ok(u.host, u.host_len) ||
        u.host_len >= hostlen || (u.path_len && u.path[0] != '/')) {
        conn_error(c, 400, "BAD_REQUEST",
                   "hubgate: this is a proxy: send CONNECT host:port or an absolute "
                   "http:// URL");
        return -1;
    }
    if (!http1_span_eq(u.scheme, u.scheme_len, "http")) {
        conn_error(c, 400, "BAD_REQUEST",
                   "hubgate: only http:// URLs are forwarded; use CONNECT for https");
        return -1;
    }
    memcpy(host, u.host, u.host_len);
    host[u.host_len] = '\0';
    *port = u.port ? u.port : 80;
    *target = u.path_len ? u.path : "/";
    *tlen = u.path_len ? u.path_len : 1;
    return 0;
}

/* Checks an intercepted request: origin-form, or absolute-form for the
 * CONNECT host; Host must name the CONNECT host (421 otherwise). */
static int mitm_target(struct conn *c, const char *base, const char *url, size_t n,
                       const char **target, size_t *tlen)
{
    char host[300];
    int hl;
    size_t cut;

    *target = url;
    *tlen = n;
    if (n && url[0] != '/' && !(n == 1 && url[0] == '*')) {
        struct uri u;

        if (uri_parse(url, n, &u) != 0 || !uri_host_eq(u.host, u.host_len, c->host)) {
            conn_error(c, 421, "MISDIRECTED", "hubgate: request names another host");
            return -1;
        }
        *target = u.path_len ? u.path : "/";
        *tlen = u.path_len ? u.path_len : 1;
    }
    hl = hdr_get(c->req, base, "host", host, sizeof(host));
    if (hl < 0) {
        conn_error(c, 400, "BAD_REQUEST", "hubgate: request without a Host header");
        return -1;
    }
    cut = (size_t)hl;
    if (cut > 4 && strcmp(host + cut - 4, ":443") == 0)
        cut -= 4;
    if (!uri_host_eq(host, cut, c->host)) {
        conn_error(c, 421, "MISDIRECTED", "hubgate: Host names another host than CONNECT");
        return -1;
    }
    return 0;
}

/* xclient.run: an upstream of the exchange became ready or failed. */
static void run_cb(void *arg)
{
    conn_run(arg);
}

/* A request head is complete in cin: a CONNECT goes to connect.c, anything
 * else to a new exchange. */
static void request_head(struct conn *c)
{
    const char *base = buf_data(&c->cin), *url = base + c->req->url_off, *target;
    size_t ulen = c->req->url_len, tlen;
    int method = http1_method(c->req);
    char host[256];
    unsigned port;
    struct xclient xc;

    c->req_method = method;
    c->status = 0;
    c->log_path[0] = '\0';
    c->flags &= ~CONN_F_LOGGED;
    c->t_head = loop_now(c->px->loop);
    if (c->mode == CONN_HTTP) {
        int i = http1_find(c->req, base, "proxy-authorization");
        const struct http1_hdr *h = i >= 0 ? &c->req->hdrs[i] : NULL;

        if (!auth_ok(&c->gen->cfg, h ? base + h->value_off : NULL, h ? h->value_len : 0)) {
            conn_error_hdr(c, 407, "DENIED", "hubgate: proxy authentication required",
                           "Proxy-Authenticate: Basic realm=\"hubgate\"");
            return;
        }
    }
    if (c->mode == CONN_HTTP && method == HTTP_CONNECT) {
        char auth[300];

        if (ulen >= sizeof(auth)) {
            conn_error(c, 400, "BAD_REQUEST", "hubgate: CONNECT target too long");
            return;
        }
        memcpy(auth, url, ulen);
        buf_consume(&c->cin, c->req->head_len);
        connect_start(c, auth, ulen);
        return;
    }
    if (method == HTTP_CONNECT) {
        conn_error(c, 400, "BAD_REQUEST", "hubgate: CONNECT inside a tunnel");
        return;
    }
    if (c->mode == CONN_HTTP) {
        if (plain_target(c, url, ulen, host, sizeof(host), &port, &target, &tlen))
            return;
    } else {
        if (mitm_target(c, base, url, ulen, &target, &tlen))
            return;
        snprintf(host, sizeof(host), "%s", c->host);
        port = c->port;
    }
    xc = (struct xclient){&c->cl, &c->cin, &c->cout, c->req, c->peer, c->peer_loopback,
                          c->mode == CONN_MITM, run_cb, c};
    c->x = exchange_new(c->px, c->gen, &xc, host, port, target, tlen);
    if (!c->x) {
        conn_error(c, 503, "UNAVAILABLE", "hubgate: out of memory");
        return;
    }
    buf_consume(&c->cin, c->req->head_len);
    http1_resume(c->req);
    exchange_start(c->x);
}

static int request_step(struct conn *c)
{
    switch (http1_feed(c->req, &c->cin)) {
    case H1_EV_HEAD:
        request_head(c);
        return 1;
    case H1_EV_DONE:
        return 1;
    case H1_EV_ERROR:
        if (c->req->state == H1_ERROR && !answering(c)) {
            char msg[200];

            snprintf(msg, sizeof(msg), "hubgate: bad request: %s", c->req->err);
            conn_error(c, c->req->status ? c->req->status : 400, "BAD_REQUEST", msg);
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

/* After a complete answer (an exchange's, or our own): log, then either
 * close or get ready for the next request. Returns 1 when state changed. */
static int request_finish(struct conn *c)
{
    struct exchange *x = c->x;

    if (x) {
        if (!exchange_over(x) || ep_flush(&c->cl) != 0)
            return 0; /* still flushing */
        exchange_log(x);
        if (x->flags & XCH_F_CLOSE_AFTER)
            c->flags |= CONN_F_CLOSE_AFTER;
    } else if (c->flags & CONN_F_ANSWERED) {
        if (c->cout.len || ep_flush(&c->cl) != 0)
            return 0;
        conn_log(c, c->gen->pass_links.v[0]->name, 0, 0);
    } else {
        return 0;
    }
    if (c->req->state != H1_DONE || body_ready(c->req))
        c->flags |= CONN_F_CLOSE_AFTER; /* answered before the request ended */
    exchange_free(x, !(c->flags & CONN_F_CLOSE_AFTER));
    c->x = NULL;
    if (c->flags & CONN_F_CLOSE_AFTER) {
        ep_shutdown(&c->cl);
        ep_flush(&c->cl);
        /* A client still sending would get a reset instead of our answer
         * if we closed now: read its bytes away for a moment first. */
        if (!(c->cl.flags & (EP_F_RD_EOF | EP_F_ERROR)) &&
            (c->req->state != H1_DONE || c->cin.len)) {
            c->flags |= CONN_F_LINGER;
            buf_consume(&c->cin, c->cin.len);
            conn_touch(c, loop_now(c->px->loop));
            return 0;
        }
        conn_close(c);
        return 1;
    }
    http1_next(c->req);
    c->req_method = -1;
    c->t_head = c->t_active = loop_now(c->px->loop);
    buf_release(&c->cin);
    buf_release(&c->cout);
    return 1;
}

/* The exchange failed in a way that ends the client connection now. */
static int exchange_ended_client(struct conn *c)
{
    if (!c->x || c->x->state != XCH_FAILED || c->x->fail == XCH_FAIL_ANSWERED)
        return 0;
    if (c->x->fail == XCH_FAIL_RESET) {
        conn_reset(c);
    } else {
        /* what the client was given goes out (the TLS layer gathers it),
         * then the cut shows it the transfer failed */
        ep_write_buf(&c->cl, &c->cout);
        ep_flush(&c->cl);
        exchange_log(c->x);
        conn_close(c);
    }
    return 1;
}

void front_pump(struct conn *c)
{
    uint64_t now = loop_now(c->px->loop);
    int progress, budget = CONN_PUMP_BUDGET;

    if (c->flags & CONN_F_LINGER) {
        while (linger_read(c) && !(c->flags & CONN_F_CLOSING))
            ;
        return;
    }
    do {
        if (--budget == 0) {
            conn_yield(c);
            break;
        }
        progress = client_read(c);
        /* Parse all the client sent before anything is written upstream,
         * so that a bad chunk already here stops the request first. */
        while (request_step(c)) {
            progress = 1;
            if (c->flags & CONN_F_CLOSING || c->mode == CONN_TUNNEL)
                return;
        }
        if (c->flags & CONN_F_CLOSING || c->mode == CONN_TUNNEL)
            return;
        if (c->x) {
            progress |= exchange_pump(c->x);
            /* a reset (bad digest) must not let one more byte out */
            if (exchange_ended_client(c))
                return;
        } else {
            progress |= ep_write_buf(&c->cl, &c->cout);
        }
        progress |= request_finish(c);
        if (c->flags & CONN_F_CLOSING)
            return;
        if (progress)
            conn_touch(c, now);
    } while (progress);
    /* What the TLS layers gathered goes out once per pump. */
    ep_flush(&c->cl);
    if (c->x)
        exchange_flush(c->x);

    if (c->cl.flags & EP_F_ERROR) {
        if (c->mode == CONN_MITM && !(c->flags & CONN_F_TLS_OK)) {
            log_info("client %s: TLS handshake for %s failed (does the client trust "
                     "hubgate's CA?)", c->peer, c->host);
            if (c->px->metrics)
                metrics_add(c->px->metrics, "hubgate_tls_handshake_failures_total",
                            "side=\"client\"", 1);
        }
        if (c->x)
            exchange_log(c->x);
        conn_close(c);
        return;
    }
    if (c->cl.flags & EP_F_RD_EOF) {
        /* A client that stops sending mid-request has given up; one that
         * closes between requests is done. One that half-closes after a
         * complete request, or before reading an error, still gets it. */
        if (c->req->state == H1_DONE || c->cout.len)
            c->flags |= CONN_F_CLOSE_AFTER;
        else
            conn_close(c);
    }
}

void front_interest(const struct conn *c, int *crd, int *cwr)
{
    if (c->flags & CONN_F_LINGER) {
        *crd = 1;
        *cwr = ep_pending(&c->cl) > 0;
        return;
    }
    *crd = buf_space(&c->cin) > 0 && !(c->cl.flags & EP_F_RD_EOF) && !answering(c);
    *cwr = c->cout.len > 0 || (c->x && exchange_wants_client_write(c->x)) ||
           ep_pending(&c->cl);
}
