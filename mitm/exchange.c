/* exchange.c — a request, from its head to the attempt that answers it.
 *
 * The client's head is kept in x->tmpl for the whole exchange, so that the
 * request can be sent again: on the next link when one fails (connect,
 * handshake, TLS, or a 429/5xx answer to GET/HEAD), to a redirect target
 * hubgate follows itself, or with Range to resume a cut body. Each attempt
 * builds its head into the upstream source's uout from x->tmpl and its
 * route (mitm/route.h). */
#include "mitm/exchange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/uri.h"
#include "mitm/digest.h"
#include "mitm/http/hdr.h"
#include "mitm/route.h"
#include "mitm/xcache.h"
#include "mitm/segfetch.h"
#include "proxy/core/access.h"
#include "proxy/core/links.h"
#include "proxy/core/registry.h"
#include "proxy/up/upstream.h"

#define LINK_REST_MS 10000u

/* Copies target up to its query string into the log field, with
 * non-printable bytes replaced, so nothing secret or hostile reaches the
 * log. */
static void set_log_path(struct exchange *x, const char *t, size_t n)
{
    size_t i, o = 0;

    for (i = 0; i < n && t[i] != '?' && o + 1 < sizeof(x->log_path); i++)
        x->log_path[o++] = (t[i] > 0x20 && t[i] < 0x7f) ? t[i] : '_';
    x->log_path[o] = '\0';
}

const char *exchange_link_name(const struct exchange *x)
{
    if (x->link >= 0)
        return x->gen->links.v[x->link]->name;
    return x->gen->pass_links.v[0]->name;
}

/* hubgate's own account for this request: only a token request to the
 * registry's own token service ([upstream] credentials, hub_credentials),
 * only when the client sent no credentials of its own. */
static const char *own_auth(const struct exchange *x, const char *base)
{
    const struct registry *reg = registry_of_host(x->host);
    const char *path = base + x->tmpl_url_off;
    size_t plen;

    if (!reg || !reg->realm_host || x->redir || strcmp(x->host, reg->realm_host) != 0)
        return NULL;
    plen = strlen(reg->realm_path);
    if (x->tmpl_url_len < plen || memcmp(path, reg->realm_path, plen) != 0 ||
        (x->tmpl_url_len > plen && path[plen] != '?' && path[plen] != '/'))
        return NULL;
    if (http1_find(x->cl.req, base, "authorization") >= 0)
        return NULL;
    return gen_registry_auth(x->gen, reg->name);
}

/* The extra header lines of this attempt: Range for a resume, hubgate's
 * own credentials for a token request that carries none. */
static void attempt_extra(const struct exchange *x, const char *base, char *out, size_t outlen)
{
    const char *auth = own_auth(x, base);
    int n = 0;

    out[0] = '\0';
    if (x->state == XCH_RESUMING)
        n = snprintf(out, outlen, "Range: bytes=%llu-\r\n",
                     (unsigned long long)((uint64_t)x->range_base + x->body_rx));
    if (auth && n >= 0 && (size_t)n < outlen)
        snprintf(out + n, outlen - (size_t)n, "Authorization: Basic %s\r\n", auth);
}

int exchange_write_head(struct exchange *x, const struct route *r, struct buf *out,
                        unsigned flags, const char *extra)
{
    /* Leaving the registry's host, the request goes bare: a presigned
     * storage URL refuses an Authorization it did not sign. */
    if (x->redir && !uri_host_eq(r->host, strlen(r->host), x->host))
        flags |= HDR_REQ_FOLLOW;
    buf_consume(out, out->len);
    return hdr_write_request(out, x->cl.req, buf_data(&x->tmpl), r->path, r->path_len,
                             r->hosthdr, flags, extra);
}

void exchange_send(struct exchange *x)
{
    struct upsrc *s = &x->up;
    struct route r;
    const char *why = NULL, *base = buf_data(&x->tmpl);
    char extra[600];

    if (route_attempt(x, &r, &why) != 0) {
        exchange_failover(x, &(struct up_error){UP_ERR_ROUTE, "", why, 0}, 0);
        return;
    }
    attempt_extra(x, base, extra, sizeof(extra));
    if (exchange_write_head(x, &r, &s->uout,
                            (x->state == XCH_RESUMING ? HDR_REQ_NO_RANGE : 0u) |
                                (x->probe ? HDR_REQ_HEAD : 0u),
                            extra) != 0) {
        exchange_fail(x, 431, "BAD_REQUEST", "hubgate: request head too large");
        return;
    }
    snprintf(s->host, sizeof(s->host), "%s", r.host);
    s->port = r.port;
    s->tls = r.tls;
    s->link = x->link;
    s->direct = !r.via || r.via->kind == LINK_DIRECT;
    /* A destination the client named is checked as for a CONNECT; one a
     * remote party named (a redirect from a registry or a stranger's relay)
     * is never loopback, whoever the client; a configured host is trusted. */
    if (!x->cl.intercepted)
        s->up_flags = UP_F_CHECK_DEST | (x->cl.peer_loopback ? UP_F_CLIENT_LOCAL : 0u);
    else
        s->up_flags = x->redir ? UP_F_CHECK_DEST : 0u;
    if (x->state != XCH_RESUMING)
        x->state = XCH_SENDING;
    x->t_sent = loop_now(x->px->loop);
    if (upsrc_begin(s, r.via) != 0)
        exchange_fail(x, 503, "UNAVAILABLE", "hubgate: out of memory");
}

static void count_failure(struct exchange *x, enum up_err kind)
{
    struct metrics *m = x->px->metrics;
    char lb[512];

    if (!m)
        return;
    metrics_add(m, "hubgate_upstream_failures_total",
                metrics_label(lb, sizeof(lb), "link", exchange_link_name(x), "reason",
                              up_error_reason(kind), METRICS_END),
                1);
    if (kind == UP_ERR_TLS)
        metrics_add(m, "hubgate_tls_handshake_failures_total", "side=\"upstream\"", 1);
}

void exchange_failover(struct exchange *x, const struct up_error *e, uint64_t rest_ms)
{
    struct gen *g = x->gen;
    uint64_t now = loop_now(x->px->loop);
    char msg[400], why[240];
    int next;

    /* what the failed attempt sent (a 429 head, its body) is nobody's */
    upsrc_close(&x->up);
    count_failure(x, e->kind);
    up_error_str(e, why, sizeof(why));
    if (up_error_http_status(e->kind) == 403 && x->redir) {
        /* the origin sent us there: its answer is what is bad */
        snprintf(msg, sizeof(msg), "hubgate: refused the redirect target %s: %s", x->up.host,
                 why);
        exchange_fail(x, 502, "UNAVAILABLE", msg);
        return;
    }
    if (up_error_http_status(e->kind) == 403) {
        snprintf(msg, sizeof(msg), "hubgate: refused %s: %s", x->host, why);
        exchange_fail(x, 403, "DENIED", msg);
        return;
    }
    if (!x->cl.intercepted ||
        ((x->flags & (XCH_F_BODY_SENT | XCH_F_RESP_SENT)) && x->state != XCH_RESUMING)) {
        snprintf(msg, sizeof(msg), "hubgate: cannot reach %s: %s", x->host, why);
        exchange_fail(x, 502, "UNAVAILABLE", msg);
        return;
    }
    links_rest(&g->links, x->link, now, rest_ms ? rest_ms : LINK_REST_MS,
               g->cfg.retry_after_cap_ms, why);
    x->tried |= 1u << x->link;
    next = links_pick(&g->links, now, x->tried);
    if (next < 0 && x->xc) {
        snprintf(msg, sizeof(msg), "%s: %s", g->links.v[x->link]->name, why);
        if (xcache_offline(x, msg))
            return;
    }
    if (next < 0) {
        snprintf(msg, sizeof(msg), "hubgate: cannot reach %s on any link; last: %s: %s",
                 x->host, g->links.v[x->link]->name, why);
        exchange_fail(x, 502, "UNAVAILABLE", msg);
        return;
    }
    log_warn("client %s: %s %s failed on %s (%s); failing over to %s", x->cl.peer, x->host,
             x->log_path, g->links.v[x->link]->name, why, g->links.v[next]->name);
    if (x->px->metrics) {
        char lb[512];

        metrics_add(x->px->metrics, "hubgate_failovers_total",
                    metrics_label(lb, sizeof(lb), "from", g->links.v[x->link]->name, "to",
                                  g->links.v[next]->name, METRICS_END), 1);
    }
    x->link = next;
    free(x->redir);
    x->redir = NULL;
    x->hops = 0;
    exchange_send(x);
}

void exchange_end_failed(struct exchange *x, enum xch_fail f)
{
    upsrc_close(&x->up);
    digest_free(x->digest);
    x->digest = NULL;
    x->state = XCH_FAILED;
    x->fail = f;
    x->flags |= XCH_F_CLOSE_AFTER;
}

void exchange_fail(struct exchange *x, int status, const char *code, const char *msg)
{
    if (x->state == XCH_FAILED)
        return;
    if (x->flags & XCH_F_RESP_SENT) {
        log_info("client %s: %s; closing", x->cl.peer, msg);
        exchange_end_failed(x, XCH_FAIL_CUT);
        return;
    }
    if (hdr_write_error(x->cl.cout, status, code, msg, NULL) != 0) {
        exchange_end_failed(x, XCH_FAIL_CUT);
        return;
    }
    x->status = status;
    x->bytes_out = 0;
    x->flags |= XCH_F_RESP_SENT;
    exchange_end_failed(x, XCH_FAIL_ANSWERED);
    log_info("client %s: %d %s", x->cl.peer, status, msg);
}

struct exchange *exchange_new(struct proxy *px, struct gen *gen, const struct xclient *cl,
                              const char *host, unsigned port, const char *target,
                              size_t tlen)
{
    const char *base = buf_data(cl->cin);
    struct exchange *x = calloc(1, sizeof(*x));
    char hex[65];

    if (!x)
        return NULL;
    x->px = px;
    x->gen = gen;
    x->cl = *cl;
    x->method = http1_method(cl->req);
    x->http10 = cl->req->p.http_major == 1 && cl->req->p.http_minor == 0;
    snprintf(x->host, sizeof(x->host), "%s", host);
    x->port = port;
    x->link = -1;
    x->body_len = -1;
    x->t_start = loop_now(px->loop);
    buf_init(&x->tmpl, gen->cfg.max_header_bytes + 4096);
    upsrc_init(&x->up, x);
    x->body = &x->up.src;
    set_log_path(x, target, tlen);
    if (!http1_keep_alive(cl->req))
        x->flags |= XCH_F_CLOSE_AFTER;
    /* Keep the head for every attempt of this request. */
    if (buf_append(&x->tmpl, base, cl->req->head_len) != 0) {
        exchange_fail(x, 431, "BAD_REQUEST", "hubgate: request head too large");
        return x;
    }
    x->tmpl_url_off = (uint32_t)(target - base);
    x->tmpl_url_len = (uint32_t)tlen;
    x->is_blob = cl->intercepted && (x->method == HTTP_GET || x->method == HTTP_HEAD) &&
                 memmem(target, tlen, "/blobs/", 7) != NULL;
    /* Registries redirect blobs to their storage, and some (registry.k8s.io)
     * manifests to another registry: by status, wherever they point. */
    x->follows = x->is_blob ||
                 (cl->intercepted && (x->method == HTTP_GET || x->method == HTTP_HEAD) &&
                  memmem(target, tlen, "/manifests/", 11) != NULL);
    if (x->is_blob && x->method == HTTP_GET && gen->check_digests &&
        digest_from_path(target, tlen, hex))
        x->digest = digest_new(hex);
    if (cl->intercepted) {
        /* links that cannot carry this host are never tried (nor rested) */
        x->tried = links_unable(&gen->links, &gen->cfg, x->host);
        x->link = links_pick(&gen->links, loop_now(px->loop), x->tried);
        if (x->link < 0) {
            char msg[400];

            snprintf(msg, sizeof(msg), "hubgate: no link in [upstream] via can carry %s "
                     "(a relay:https:// link relays Docker Hub only; add a [relay] entry for "
                     "it or a socks5/http/direct link)", x->host);
            x->link = 0;
            exchange_fail(x, 502, "UNAVAILABLE", msg);
        }
    }
    xcache_new(x, target, tlen);
    return x;
}

void exchange_stop(struct exchange *x)
{
    if (ep_open(&x->up.up))
        loop_del(x->px->loop, x->up.up.fd);
    if (x->segf)
        segfetch_stop(x->segf);
}

void exchange_start(struct exchange *x)
{
    if (x->state != XCH_FAILED && !xcache_start(x))
        exchange_send(x);
}

void exchange_free(struct exchange *x, int reusable)
{
    if (!x)
        return;
    xcache_free(x);
    segfetch_free(x->segf);
    x->segf = NULL;
    upsrc_release(&x->up, reusable);
    upsrc_free(&x->up);
    buf_free(&x->tmpl);
    free(x->redir);
    digest_free(x->digest);
    free(x);
}

void exchange_on_body(struct exchange *x, const char *p, size_t n)
{
    x->body_rx += n;
    if (x->digest)
        digest_update(x->digest, p, n);
    /* in segments, the fill takes the bytes in order from the reassembly */
    if (x->xc && !segfetch_active(x->segf))
        xcache_body(x, p, n);
}

void exchange_log(struct exchange *x)
{
    const char *d = x->is_blob ? strstr(x->log_path, "/blobs/sha256:") : NULL;
    struct access a = {
        .peer = x->cl.peer,
        .method = llhttp_method_name((llhttp_method_t)x->method),
        .host = x->host,
        .path = x->log_path[0] ? x->log_path : "-",
        .link = exchange_link_name(x),
        .status = x->status,
        .bytes_out = x->bytes_out,
        .bytes_in = x->bytes_in,
        .ms = loop_now(x->px->loop) - x->t_start,
        .digest = d ? d + 7 : NULL,
        .verified = x->digest_ok,
        .cache = x->xc ? x->xc->outcome : NULL,
        .segments = x->segf ? segfetch_count(x->segf) : 0,
    };

    if (x->flags & XCH_F_LOGGED)
        return;
    x->flags |= XCH_F_LOGGED;
    access_log(x->px, x->gen, &a);
}
