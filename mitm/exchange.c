/* exchange.c — a request, from its head to the attempt that answers it.
 *
 * The client's head is kept in c->tmpl for the whole exchange, so that the
 * request can be sent again: on the next link when one fails (connect,
 * handshake, TLS, or a 429/5xx answer to GET/HEAD), to a redirect target
 * hubgate follows itself, or with Range to resume a cut body. Each attempt
 * builds its head into c->uout from c->tmpl and its route (mitm/route.h). */
#include "mitm/exchange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mitm/digest.h"
#include "mitm/http/hdr.h"
#include "mitm/mitm.h"
#include "proxy/core/policy.h"
#include "mitm/route.h"
#include "base/uri.h"
#include "proxy/core/auth.h"
#include "proxy/connect.h"
#include "base/log.h"
#include "base/metrics.h"
#include "proxy/up/pool.h"
#include "proxy/up/upstream.h"

#define LINK_REST_MS 10000u

/* Copies target up to its query string into the log field, with
 * non-printable bytes replaced, so nothing secret or hostile reaches the
 * log. */
static void set_log_path(struct conn *c, const char *t, size_t n)
{
    size_t i, o = 0;

    for (i = 0; i < n && t[i] != '?' && o + 1 < sizeof(c->log_path); i++)
        c->log_path[o++] = (t[i] > 0x20 && t[i] < 0x7f) ? t[i] : '_';
    c->log_path[o] = '\0';
}

const char *exchange_link_name(const struct conn *c)
{
    if (c->mode == CONN_MITM && c->link >= 0)
        return c->gen->links.v[c->link]->name;
    if (c->mode == CONN_TUNNEL && c->link >= 0)
        return c->gen->pass_links.v[c->link]->name;
    return c->gen->pass_links.v[0]->name;
}

static void on_upstream_ready(void *arg, int fd, SSL *ssl, const struct up_error *err)
{
    struct conn *c = arg;

    c->pending = NULL;
    if (fd < 0) {
        exchange_failover(c, err, 0);
        conn_update(c);
        return;
    }
    conn_attach_upstream(c, fd, ssl, 0);
    if (c->flags & CONN_F_CLOSING)
        return;
    mitm_pump(c);
    if (!(c->flags & CONN_F_CLOSING))
        conn_update(c);
}

/* The extra header lines of this attempt: Range for a resume, Docker Hub
 * credentials for a token request that carries none. */
static void attempt_extra(const struct conn *c, const char *base, char *out, size_t outlen)
{
    int n = 0;

    out[0] = '\0';
    if (c->resuming)
        n = snprintf(out, outlen, "Range: bytes=%llu-\r\n",
                     (unsigned long long)((uint64_t)c->range_base + c->body_rx));
    if (c->gen->hub_auth[0] && !c->redir && strcmp(c->host, "auth.docker.io") == 0 &&
        http1_find(c->req, base, "authorization") < 0 && n >= 0 && (size_t)n < outlen)
        snprintf(out + n, outlen - (size_t)n, "Authorization: Basic %s\r\n", c->gen->hub_auth);
}

int exchange_send(struct conn *c)
{
    struct route r;
    const char *why = NULL, *base = buf_data(&c->tmpl);
    char extra[600];
    unsigned flags = 0;

    if (route_attempt(c, &r, &why) != 0) {
        exchange_failover(c, &(struct up_error){UP_ERR_ROUTE, "", why, 0}, 0);
        return -1;
    }
    if (c->redir)
        flags |= HDR_REQ_FOLLOW;
    if (c->resuming)
        flags |= HDR_REQ_NO_RANGE;
    attempt_extra(c, base, extra, sizeof(extra));
    buf_consume(&c->uout, c->uout.len);
    c->uout_sent = 0;
    if (hdr_write_request(&c->uout, c->req, base, r.path, r.path_len, r.hosthdr, flags,
                          extra) != 0) {
        conn_error(c, 431, "BAD_REQUEST", "hubgate: request head too large");
        return -1;
    }
    snprintf(c->up_host, sizeof(c->up_host), "%s", r.host);
    c->up_port = r.port;
    c->up_tls = r.tls;
    c->up_link = c->mode == CONN_MITM ? c->link : -1;
    c->up_direct = !r.via || r.via->kind == LINK_DIRECT;
    c->up_flags = c->mode == CONN_HTTP ? UP_F_CHECK_DEST |
                  (c->peer_loopback ? UP_F_CLIENT_LOCAL : 0u) : 0u;
    http1_init(c->resp, HTTP_RESPONSE, c->gen->cfg.max_header_bytes);
    c->resp->skip_body = c->req_method == HTTP_HEAD;
    c->resp->on_body = exchange_on_body;
    c->body_safe = 0;
    c->dechunk = 0;
    c->dec_len = 0;
    c->resp->body_arg = c;
    c->flags &= ~CONN_F_UP_REUSED;
    /* An attempt reads only its own answer: whatever an earlier upstream
     * sent is nobody's. */
    buf_consume(&c->uin, c->uin.len);
    if (pool_get(c->px->pool, &(struct pool_key){c->up_link, r.host, r.port, r.tls,
                                                 c->up_direct},
                 &c->gen->cfg, c->up_flags, &c->up)) {
        c->flags |= CONN_F_UP_REUSED;
        conn_attach_upstream(c, c->up.fd, c->up.ssl, 1);
        return 0;
    }
    c->pending = upstream_open(c->px, c->gen, r.via, r.host, r.port, r.tls, c->up_flags,
                               on_upstream_ready, c);
    if (!c->pending) {
        conn_error(c, 503, "UNAVAILABLE", "hubgate: out of memory");
        return -1;
    }
    return 0;
}

void exchange_count_failure(struct conn *c, enum up_err kind)
{
    struct metrics *m = c->px->metrics;
    char lb[512];

    if (!m)
        return;
    metrics_add(m, "hubgate_upstream_failures_total",
                metrics_label(lb, sizeof(lb), "link", exchange_link_name(c), "reason",
                              up_error_reason(kind), METRICS_END),
                1);
    if (kind == UP_ERR_TLS)
        metrics_add(m, "hubgate_tls_handshake_failures_total", "side=\"upstream\"", 1);
}

void exchange_failover(struct conn *c, const struct up_error *e, uint64_t rest_ms)
{
    struct proxy *px = c->px;
    uint64_t now = loop_now(px->loop);
    char msg[400], why[240];
    int next;

    ep_close(&c->up, px->loop);
    /* what the failed attempt sent (a 429 head, its body) is nobody's */
    buf_consume(&c->uin, c->uin.len);
    exchange_count_failure(c, e->kind);
    up_error_str(e, why, sizeof(why));
    if (up_error_http_status(e->kind) == 403) {
        snprintf(msg, sizeof(msg), "hubgate: refused %s: %s", c->host, why);
        conn_error(c, 403, "DENIED", msg);
        return;
    }
    if (c->mode != CONN_MITM ||
        ((c->flags & (CONN_F_BODY_SENT | CONN_F_RESP_SENT)) && !c->resuming)) {
        snprintf(msg, sizeof(msg), "hubgate: cannot reach %s: %s", c->host, why);
        conn_error(c, 502, "UNAVAILABLE", msg);
        return;
    }
    links_rest(&c->gen->links, c->link, now, rest_ms ? rest_ms : LINK_REST_MS,
               c->gen->cfg.retry_after_cap_ms, why);
    c->tried |= 1u << c->link;
    next = links_pick(&c->gen->links, now, c->tried);
    if (next < 0) {
        snprintf(msg, sizeof(msg), "hubgate: cannot reach %s on any link; last: %s: %s",
                 c->host, c->gen->links.v[c->link]->name, why);
        conn_error(c, 502, "UNAVAILABLE", msg);
        return;
    }
    log_warn("client %s: %s %s failed on %s (%s); failing over to %s", c->peer, c->host,
             c->log_path, c->gen->links.v[c->link]->name, why, c->gen->links.v[next]->name);
    if (px->metrics) {
        char lb[512];

        metrics_add(px->metrics, "hubgate_failovers_total",
                    metrics_label(lb, sizeof(lb), "from", c->gen->links.v[c->link]->name, "to",
                                  c->gen->links.v[next]->name, METRICS_END), 1);
    }
    c->link = next;
    free(c->redir);
    c->redir = NULL;
    c->hops = 0;
    exchange_send(c);
}

/* Resolves the origin of a request in plain proxy mode from its
 * absolute-form target: c->host/c->port and the origin-form target.
 * Returns 0, or answers 400 and returns -1. */
static int plain_target(struct conn *c, const char *url, size_t n, const char **target,
                        size_t *tlen)
{
    struct uri u;

    if (uri_parse(url, n, &u) != 0 || !uri_host_ok(u.host, u.host_len) ||
        u.host_len >= sizeof(c->host) || (u.path_len && u.path[0] != '/')) {
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
    memcpy(c->host, u.host, u.host_len);
    c->host[u.host_len] = '\0';
    c->port = u.port ? u.port : 80;
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

/* Resets the per-request state before a new head is handled. */
static void exchange_reset(struct conn *c)
{
    c->status = 0;
    c->bytes_in = c->bytes_out = 0;
    c->flags &= ~(CONN_F_RESP_SENT | CONN_F_BODY_SENT | CONN_F_RETRIED | CONN_F_LOGGED);
    c->t_head = loop_now(c->px->loop);
    free(c->redir);
    c->redir = NULL;
    c->hops = c->following = c->resuming = c->is_blob = 0;
    c->tried = 0;
    c->body_len = -1;
    c->body_rx = 0;
    c->range_base = 0;
    c->t_progress = 0;
    digest_free(c->digest);
    c->digest = NULL;
    c->digest_ok = 0;
}

int exchange_request_head(struct conn *c)
{
    const char *base = buf_data(&c->cin), *url = base + c->req->url_off, *target;
    size_t ulen = c->req->url_len, tlen;
    int method = http1_method(c->req);
    char hex[65];

    c->req_method = method;
    exchange_reset(c);
    c->client_http10 = c->req->p.http_major == 1 && c->req->p.http_minor == 0;
    if (c->mode == CONN_HTTP) {
        int i = http1_find(c->req, base, "proxy-authorization");
        const struct http1_hdr *h = i >= 0 ? &c->req->hdrs[i] : NULL;

        if (!auth_ok(&c->gen->cfg, h ? base + h->value_off : NULL, h ? h->value_len : 0)) {
            c->status = 407;
            conn_error_hdr(c, 407, "DENIED", "hubgate: proxy authentication required",
                           "Proxy-Authenticate: Basic realm=\"hubgate\"");
            return -1;
        }
    }
    if (c->mode == CONN_HTTP && method == HTTP_CONNECT) {
        char auth[300];

        if (ulen >= sizeof(auth)) {
            conn_error(c, 400, "BAD_REQUEST", "hubgate: CONNECT target too long");
            return -1;
        }
        memcpy(auth, url, ulen);
        buf_consume(&c->cin, c->req->head_len);
        connect_start(c, auth, ulen);
        return 0;
    }
    if (method == HTTP_CONNECT) {
        conn_error(c, 400, "BAD_REQUEST", "hubgate: CONNECT inside a tunnel");
        return -1;
    }
    if (c->mode == CONN_HTTP ? plain_target(c, url, ulen, &target, &tlen)
                             : mitm_target(c, base, url, ulen, &target, &tlen))
        return -1;
    set_log_path(c, target, tlen);
    if (!http1_keep_alive(c->req))
        c->flags |= CONN_F_CLOSE_AFTER;
    /* Keep the head for every attempt of this request. */
    buf_consume(&c->tmpl, c->tmpl.len);
    if (buf_append(&c->tmpl, base, c->req->head_len) != 0) {
        conn_error(c, 431, "BAD_REQUEST", "hubgate: request head too large");
        return -1;
    }
    c->tmpl_url_off = (uint32_t)(target - base);
    c->tmpl_url_len = (uint32_t)tlen;
    c->is_blob = c->mode == CONN_MITM && (method == HTTP_GET || method == HTTP_HEAD) &&
                 memmem(target, tlen, "/blobs/", 7) != NULL;
    if (c->is_blob && method == HTTP_GET && c->gen->check_digests &&
        digest_from_path(target, tlen, hex))
        c->digest = digest_new(hex);
    buf_consume(&c->cin, c->req->head_len);
    http1_resume(c->req);
    c->link = c->mode == CONN_MITM ? links_pick(&c->gen->links, loop_now(c->px->loop), 0) : -1;
    return exchange_send(c);
}

/* The upstream connection of a finished exchange goes back to the pool
 * when it can carry another request. */
void exchange_release_upstream(struct conn *c, int reusable)
{
    /* Bytes after a complete response belong to no request: an origin that
     * sends them (after a HEAD, 204 or 304 answer, say) must not answer the
     * client's next request, which may be for another host. */
    reusable = reusable && !c->uin.len;
    buf_consume(&c->uin, c->uin.len);
    if (!ep_open(&c->up))
        return;
    if (reusable && !(c->up.flags & (EP_F_RD_EOF | EP_F_ERROR)) && http1_keep_alive(c->resp))
        pool_put(c->px->pool,
                 &(struct pool_key){c->up_link, c->up_host, c->up_port, c->up_tls, c->up_direct},
                 &c->up);
    else
        ep_close(&c->up, c->px->loop);
}

void exchange_on_body(void *arg, const char *p, size_t n)
{
    struct conn *c = arg;

    if (c->following)
        return;
    c->body_rx += n;
    if (c->dechunk && n) {
        /* Decoded bytes gather at uin's front, over framing already
         * parsed: the data never lies before dec_len, so this moves it
         * back, never over bytes still to be sent. */
        char *front = buf_data(&c->uin);

        memmove(front + c->dec_len, p, n);
        p = front + c->dec_len;
        c->dec_len += n;
    }
    if (c->digest) {
        digest_update(c->digest, p, n);
        if (n)
            c->body_safe = (size_t)(p + n - 1 - buf_data(&c->uin));
    }
}
