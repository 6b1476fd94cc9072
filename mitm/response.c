/* response.c — what an answer head means for the exchange: pass it on
 * (rewritten for relays), fail over on 429/5xx, follow a blob redirect
 * ourselves, or accept the 206 that resumes a cut body. */
#include "mitm/exchange.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mitm/digest.h"
#include "mitm/http/hdr.h"
#include "mitm/route.h"
#include "mitm/xcache.h"
#include "mitm/segfetch.h"
#include "proxy/core/links.h"
#include "base/uri.h"
#include "base/log.h"
#include "base/metrics.h"

#define MAX_REDIRECTS 5

int parse_content_range(const char *v, int64_t *a, int64_t *b, int64_t *n)
{
    long long x, y, z = -1;
    char star;

    if (sscanf(v, "bytes %lld-%lld/%lld", &x, &y, &z) == 3 ||
        sscanf(v, "bytes %lld-%lld/%c", &x, &y, &star) == 3) {
        if (x < 0 || y < x)
            return -1;
        *a = x;
        *b = y;
        *n = z;
        return 0;
    }
    return -1;
}

/* Seconds of a Retry-After given as a number; 0 when absent or a date. */
static uint64_t retry_after_ms(const struct exchange *x, const char *base)
{
    char v[32];
    char *end;
    unsigned long s;

    if (hdr_get(&x->up.resp, base, "retry-after", v, sizeof(v)) < 0)
        return 0;
    s = strtoul(v, &end, 10);
    if (end == v || *end)
        return 0;
    return (uint64_t)s * 1000u;
}

static int is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Starts following the Location of a blob redirect. Returns 0, or -1
 * after answering 502. */
static int follow(struct exchange *x, const char *base)
{
    char loc[4096], url[4352];
    int n = hdr_get(&x->up.resp, base, "location", loc, sizeof(loc));

    if (n <= 0) {
        exchange_fail(x, 502, "UNAVAILABLE", "hubgate: redirect without a usable Location");
        return -1;
    }
    if (loc[0] == '/' && loc[1] != '/')  /* relative: on the host that answered */
        snprintf(url, sizeof(url), "https://%s:%u%s", x->up.host, x->up.port, loc);
    else
        snprintf(url, sizeof(url), "%s", loc);
    if (++x->hops > MAX_REDIRECTS || (x->redir && strcmp(x->redir, url) == 0)) {
        exchange_fail(x, 502, "UNAVAILABLE", "hubgate: redirect loop or more than 5 redirects");
        return -1;
    }
    free(x->redir);
    x->redir = strdup(url);
    if (!x->redir) {
        exchange_fail(x, 503, "UNAVAILABLE", "hubgate: out of memory");
        return -1;
    }
    x->state = XCH_FOLLOWING;
    return 0;
}

/* The head of the 206 that continues a cut body: checked, not forwarded. */
static int resume_head(struct exchange *x, const char *base)
{
    const struct http1 *resp = &x->up.resp;
    char cr[128];
    int64_t a, b, n, want = x->range_base + (int64_t)x->body_rx;

    if (http1_status(resp) != 206 || (resp->p.flags & F_CHUNKED) ||
        hdr_get(resp, base, "content-range", cr, sizeof(cr)) < 0 ||
        parse_content_range(cr, &a, &b, &n) != 0 || a != want) {
        log_warn("client %s: %s %s: resume got status %d, not the expected 206 from byte %" PRId64
                 "; cutting the transfer", x->cl.peer, x->host, x->log_path,
                 http1_status(resp), want);
        exchange_end_failed(x, XCH_FAIL_CUT);
        return -1;
    }
    log_info("client %s: %s %s resumed at byte %" PRId64 " on %s", x->cl.peer, x->host,
             x->log_path, a, exchange_link_name(x));
    x->state = XCH_BODY;
    return 0;
}

int exchange_response_head(struct exchange *x)
{
    struct upsrc *u = &x->up;
    struct http1 *resp = &u->resp;
    const char *base = buf_data(&u->uin);
    int status = http1_status(resp), m = x->method;
    const struct config *cfg = &x->gen->cfg;
    unsigned flags = 0;
    char cr[128];

    if (x->xc && status >= 200 && xcache_head(x, base))
        return -1;
    if (cfg->follow_redirects && x->follows && is_redirect(status)) {
        if (follow(x, base))
            return -1;
        goto consumed;
    }
    if (x->state == XCH_RESUMING) {
        if (resume_head(x, base))
            return -1;
        goto consumed;
    }
    if (status == 101) {
        exchange_fail(x, 502, "UNAVAILABLE", "hubgate: origin switched protocols; not supported");
        return -1;
    }
    if (status >= 100 && status < 200) {
        /* Interim (100 Continue): pass it on, then wait for the final one;
         * an HTTP/1.0 client knows no 1xx (RFC 9110 15.2): it only waits. */
        u->interim = 1;
        if (x->http10)
            goto consumed;
        if (hdr_write_response(x->cl.cout, resp, base, 0, NULL, NULL) != 0) {
            exchange_fail(x, 502, "UNAVAILABLE", "hubgate: response head too large");
            return -1;
        }
        goto consumed;
    }
    if ((status == 429 || status == 502 || status == 503 || status == 504) &&
        (m == HTTP_GET || m == HTTP_HEAD) && x->cl.intercepted &&
        !(x->flags & XCH_F_RESP_SENT) &&
        links_pick(&x->gen->links, loop_now(x->px->loop), x->tried | (1u << x->link)) >= 0) {
        exchange_failover(x, &(struct up_error){UP_ERR_STATUS, "", "", status},
                          retry_after_ms(x, base));
        return -1;
    }
    x->status = status;
    if (x->px->metrics && hdr_get(resp, base, "ratelimit-remaining", cr, sizeof(cr)) > 0)
        metrics_set(x->px->metrics, "hubgate_dockerhub_ratelimit_remaining", "",
                    strtod(cr, NULL));
    x->body_len = (resp->p.flags & F_CONTENT_LENGTH) && !(resp->p.flags & F_CHUNKED) &&
                  !resp->skip_body ? (int64_t)resp->p.content_length : -1;
    if (x->digest) {
        int64_t a, b, n;
        int whole = status == 200 ||
                    (status == 206 && hdr_get(resp, base, "content-range", cr, sizeof(cr)) >= 0 &&
                     parse_content_range(cr, &a, &b, &n) == 0 && a == 0 && b + 1 == n);

        if (!whole) {
            digest_free(x->digest);
            x->digest = NULL;
        }
    }
    if (status == 206 && hdr_get(resp, base, "content-range", cr, sizeof(cr)) >= 0) {
        int64_t a, b, n;

        if (parse_content_range(cr, &a, &b, &n) == 0)
            x->range_base = a;
    }
    /* HTTP/1.0 has no chunked coding (RFC 9112 6.1): such a client gets the
     * body de-chunked, ended by closing the connection. */
    if (x->http10 && (resp->p.flags & F_CHUNKED)) {
        flags |= HDR_RESP_DECHUNK;
        u->dechunk = 1;
        x->flags |= XCH_F_CLOSE_AFTER;
    }
    if (llhttp_message_needs_eof(&resp->p) || x->px->draining)
        x->flags |= XCH_F_CLOSE_AFTER;
    if (x->flags & XCH_F_CLOSE_AFTER)
        flags |= HDR_RESP_CLOSE;
    segfetch_start(x, base);    /* a large blob: its body may come in segments */
    if (hdr_write_response(x->cl.cout, resp, base, flags, route_rewrite, x) != 0) {
        exchange_fail(x, 502, "UNAVAILABLE", "hubgate: response head too large");
        return -1;
    }
    x->flags |= XCH_F_RESP_SENT;
    x->state = XCH_BODY;
    /* An origin that answers before reading the whole request gets no
     * reuse. */
    if (u->uout_sent < u->uout.len)
        x->flags |= XCH_F_CLOSE_AFTER;
consumed:
    if (status >= 200)
        buf_consume(&u->uout, u->uout.len), u->uout_sent = 0;
    buf_consume(&u->uin, resp->head_len);
    http1_resume(resp);
    return 0;
}
