/* deliver.c — an exchange's pump: the upstream source moves, responses end
 * (digest, redirects hubgate follows, cut blobs resumed), and what the
 * client may have goes out: heads first, then body bytes from the source,
 * whichever it is. */
#include "mitm/exchange.h"

#include <stdlib.h>

#include "base/log.h"
#include "base/metrics.h"
#include "mitm/digest.h"
#include "mitm/xcache.h"
#include "mitm/segfetch.h"
#include "proxy/core/links.h"

#define PROGRESS_MIN_BYTES (100ull * 1024 * 1024)
#define PROGRESS_EVERY_MS  10000u

/* Every 10 s of a transfer over 100 MB: where it stands. */
static void log_progress(struct exchange *x)
{
    uint64_t now = loop_now(x->px->loop), dt;

    if (x->body_len < (int64_t)PROGRESS_MIN_BYTES)
        return;
    if (!x->t_progress) {
        x->t_progress = x->t_start;
        x->progress_bytes = 0;
    }
    dt = now - x->t_progress;
    if (dt < PROGRESS_EVERY_MS)
        return;
    log_info("progress %s %s %s %llu/%lld bytes (%.0f%%) %.1f MB/s link=%s", x->cl.peer,
             x->host, x->log_path, (unsigned long long)x->bytes_out, (long long)x->body_len,
             100.0 * (double)x->bytes_out / (double)x->body_len,
             (double)(x->bytes_out - x->progress_bytes) / 1e3 / (double)dt,
             exchange_link_name(x));
    x->t_progress = now;
    x->progress_bytes = x->bytes_out;
}

void exchange_count_rate(struct exchange *x, const char *link, const char *kind,
                         uint64_t bytes, uint64_t t0)
{
    uint64_t ms = loop_now(x->px->loop) - t0;
    char lb[512];

    if (!x->px->metrics || !bytes)
        return;
    metrics_label(lb, sizeof(lb), "link", link, "kind", kind, METRICS_END);
    metrics_observe(x->px->metrics, "hubgate_upstream_throughput_bytes_per_second", lb,
                    (double)bytes * 1000.0 / (double)(ms ? ms : 1));
}

void exchange_response_done(struct exchange *x)
{
    struct upsrc *u = &x->up;

    if (segfetch_active(x->segf))
        return;     /* the first segment's connection: segfetch.c ends it */
    if (u->interim) {
        /* the 1xx is over: the final answer follows on the same parser */
        u->interim = 0;
        http1_next(&u->resp);
        u->resp.skip_body = x->method == HTTP_HEAD;
        return;
    }
    if (x->state == XCH_FOLLOWING) {
        buf_consume(&u->uin, u->resp.parsed);
        u->resp.parsed = 0;
        upsrc_release(u, 1);
        exchange_send(x);
        return;
    }
    if (x->xc)
        xcache_done(x);
    if (x->digest) {
        int ok = digest_matches(x->digest);

        digest_free(x->digest);
        x->digest = NULL;
        x->digest_ok = ok;
        if (!ok) {
            log_err("client %s: %s %s: body does not match its digest; resetting the client "
                    "so it retries", x->cl.peer, x->host, x->log_path);
            exchange_end_failed(x, XCH_FAIL_RESET);
            return;
        }
    }
    /* a resumed body came over several connections: no one rate */
    if (x->is_blob && x->method == HTTP_GET && (x->status == 200 || x->status == 206) &&
        !x->resume_tries)
        exchange_count_rate(x, exchange_link_name(x), "blob", x->body_rx, x->t_sent);
    x->state = XCH_DONE;
}

void exchange_upstream_gone(struct exchange *x)
{
    struct upsrc *u = &x->up;
    struct http1 *resp = &u->resp;

    /* Only a read-until-close body may end at EOF; a cut Content-Length
     * body is kept in H1_BODY, so that it can be resumed below. */
    if (resp->state != H1_DONE && resp->state != H1_ERROR &&
        (resp->state != H1_BODY || llhttp_message_needs_eof(&resp->p)) &&
        http1_finish(resp) == H1_EV_DONE) {
        exchange_response_done(x);
        return; /* a read-until-close body ended: normal */
    }
    if (resp->state == H1_DONE)
        return;
    ep_close(&u->up, x->px->loop);
    /* A pooled connection the origin closed just as we reused it: the
     * request never reached it, so send it again once on a fresh one. */
    if (u->reused && !(x->flags & (XCH_F_BODY_SENT | XCH_F_RETRIED)) &&
        resp->state == H1_HEAD && resp->parsed == 0) {
        x->flags |= XCH_F_RETRIED;
        log_debug("client %s: pooled upstream closed; retrying", x->cl.peer);
        exchange_send(x);
        return;
    }
    /* A blob cut in the middle: ask for the rest (Range) once the bytes we
     * have reached the client, and keep the client's stream going. */
    if ((x->flags & XCH_F_RESP_SENT) && resp->state == H1_BODY && x->is_blob &&
        x->method == HTTP_GET && x->body_len > 0 && x->state == XCH_BODY &&
        x->body_rx < (uint64_t)x->body_len && x->resume_tries < (int)x->gen->links.n + 1) {
        x->resume_tries++;
        x->state = XCH_RESUMING;
        log_warn("client %s: %s %s cut at byte %llu of %lld on %s; resuming", x->cl.peer,
                 x->host, x->log_path, (unsigned long long)x->body_rx,
                 (long long)x->body_len, exchange_link_name(x));
        return;
    }
    if (x->flags & XCH_F_RESP_SENT) {
        log_warn("client %s: %s %s: origin closed in the middle of the body; cutting the client",
                 x->cl.peer, x->host, x->log_path);
        exchange_end_failed(x, XCH_FAIL_CUT);
        return;
    }
    exchange_failover(x, &(struct up_error){UP_ERR_CLOSED, "",
                                            "the origin closed the connection before answering", 0}, 0);
}

/* A resume waits until the client has every byte received so far, then
 * asks for the rest. A failure to connect moves it to the next link. */
static int resume_step(struct exchange *x)
{
    const struct upsrc *u = &x->up;

    if (x->state != XCH_RESUMING || u->pending || ep_open(&u->up) || u->uin.len ||
        x->cl.cout->len)
        return 0;
    exchange_send(x);
    return 1;
}

static int client_write(struct exchange *x)
{
    struct ep *cl = x->cl.cl;
    int moved = ep_write_buf(cl, x->cl.cout);
    const char *p;
    size_t n;

    if (x->cl.cout->len || x->state == XCH_FAILED)
        return moved;
    while ((n = source_ready(x->body, &p)) > 0 && (cl->flags & EP_F_WR_MAYBE)) {
        ssize_t w = ep_write(cl, p, n);

        if (w <= 0)
            break;
        source_consume(x->body, (size_t)w);
        x->bytes_out += (uint64_t)w;
        moved = 1;
    }
    if (moved)
        log_progress(x);
    return moved;
}

/* A carried exchange (carry.h) has no client: heads and body bytes meant
 * for it are dropped as they become ready (the cache fill took the body
 * as it arrived). */
static int client_gone(struct exchange *x)
{
    const char *p;
    size_t n;
    int moved = 0;

    buf_consume(x->cl.cout, x->cl.cout->len);
    if (x->state == XCH_FAILED)
        return 0;
    while ((n = source_ready(x->body, &p)) > 0) {
        source_consume(x->body, n);
        moved = 1;
    }
    return moved;
}

int exchange_pump(struct exchange *x)
{
    int moved = 0;

    if (x->state != XCH_FAILED) {
        moved |= upsrc_pump(&x->up);
        if (x->segf && x->state == XCH_BODY)
            moved |= segfetch_pump(x->segf);
        /* after a reset or a cut, not one more byte goes out */
        if (x->state == XCH_FAILED && x->fail != XCH_FAIL_ANSWERED)
            return moved;
        moved |= resume_step(x);
    }
    moved |= (x->flags & XCH_F_CARRIED) ? client_gone(x) : client_write(x);
    if (x->xc && x->state != XCH_FAILED)
        moved |= xcache_pump(x);
    if (x->state != XCH_FAILED && !segfetch_active(x->segf) && upsrc_ended(&x->up)) {
        x->up.eof_seen = 1;
        exchange_upstream_gone(x);
        moved = 1;
    }
    return moved;
}

int exchange_over(const struct exchange *x)
{
    if (x->cl.cout->len)
        return 0;
    if (x->state == XCH_FAILED)
        return 1;
    return x->state == XCH_DONE && (x->body != &x->up.src || upsrc_drained(&x->up));
}

int exchange_wants_client_write(const struct exchange *x)
{
    const char *p;

    return x->cl.cout->len > 0 ||
           (x->state != XCH_FAILED && source_ready(x->body, &p) > 0);
}

void exchange_flush(struct exchange *x)
{
    if (ep_open(&x->up.up) && !x->up.pending)
        ep_flush(&x->up.up);
    if (x->segf)
        segfetch_flush(x->segf);
}

void exchange_update(struct exchange *x)
{
    upsrc_update(&x->up);
    if (x->segf)
        segfetch_update(x->segf);
}
