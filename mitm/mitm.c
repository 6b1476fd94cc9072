/* mitm.c — the exchange pump: reads, parses and writes both directions of
 * a client connection in HTTP mode (plain proxy requests) or MITM mode
 * (TLS from our leaf toward the client, TLS toward the origin).
 *
 * Back-pressure: a side is read only while its buffer has room, and a
 * buffer drains only as fast as the other side takes it; request bytes
 * after a complete request wait unparsed until the exchange is over. */
#include "mitm/mitm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ca/ca.h"
#include "mitm/digest.h"
#include "mitm/exchange.h"
#include "mitm/tls/tls.h"
#include "proxy/connect.h"
#include "base/log.h"
#include "base/metrics.h"
#include "proxy/up/upstream.h"


void mitm_start(struct conn *c)
{
    /* The CA is shared by every loop: only the call that minted counts it
     * (comparing ca_minted() before and after would race with the others). */
    int minted = 0;
    SSL_CTX *ctx = ca_leaf_ctx(c->gen->ca, c->host, time(NULL), &minted);
    SSL *ssl;

    if (c->px->metrics && minted)
        metrics_add(c->px->metrics, "hubgate_leaf_certs_minted_total", "", 1);
    if (!ctx) {
        conn_error(c, 502, "UNAVAILABLE", "hubgate: cannot mint a certificate for this host");
        return;
    }
    /* Our reference to ctx ends here; the SSL holds its own (ca.h). */
    ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    if (!ssl) {
        conn_error(c, 502, "UNAVAILABLE", "hubgate: out of memory for TLS");
        return;
    }
    if (c->cin.len) {
        SSL_free(ssl);
        conn_error(c, 400, "BAD_REQUEST",
                   "hubgate: data sent after CONNECT before the 200 answer");
        return;
    }
    /* TLS starts right after: the 200 cannot wait in a buffer. */
    if (connect_established(c, NULL) != 0) {
        SSL_free(ssl);
        conn_close(c);
        return;
    }
    if (tls_set_fd(ssl, c->cl.fd) != 0) {
        SSL_free(ssl);
        conn_close(c);
        return;
    }
    SSL_set_app_data(ssl, c->host);  /* for the SNI check */
    SSL_set_accept_state(ssl);
    ep_init_tls(&c->cl, c->cl.fd, ssl);
    conn_set_mode(c, CONN_MITM);
    c->flags &= ~CONN_F_TLS_OK;
    c->t_head = c->t_active = loop_now(c->px->loop);
    http1_init(c->req, HTTP_REQUEST, c->gen->cfg.max_header_bytes);
    c->req_method = -1;
    c->log_path[0] = '\0';
}

/* Bytes at the front of a buffer that the parser checked as body. */
static size_t body_ready(const struct http1 *h)
{
    return (h->state == H1_BODY || h->state == H1_DONE) ? h->parsed : 0;
}

/* Response body bytes the client may have now: while a blob is being
 * verified its last byte waits until the digest matched, so a client
 * never completes a corrupt blob. */
static size_t resp_ready(const struct conn *c)
{
    size_t n = c->dechunk ? c->dec_len : body_ready(c->resp);

    /* Until response_done() has checked the digest, the last body byte
     * and any framing after it wait. */
    if (c->digest && !c->resuming && n > c->body_safe)
        n = c->body_safe;
    return n;
}

static int exchange_idle(const struct conn *c)
{
    return c->req->state == H1_HEAD && c->resp->state == H1_HEAD && !c->pending &&
           c->uout.len == 0;
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

static int client_read(struct conn *c)
{
    int was_empty = c->cin.len == 0;
    ssize_t r;

    /* A head longer than the buffer gets room up to the limit, so that it
     * is either parsed or refused with 431, never left hanging. */
    if (c->req->state == H1_HEAD && buf_space(&c->cin) == 0 &&
        c->cin.size < c->req->max_head + 1024)
        buf_grow(&c->cin, c->req->max_head + 1024);
    if (c->flags & CONN_F_LINGER)
        return linger_read(c);
    if (!(c->cl.flags & EP_F_RD_MAYBE) || (c->cl.flags & EP_F_RD_EOF) ||
        (c->flags & CONN_F_CLOSE_AFTER && c->flags & CONN_F_RESP_SENT) ||
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

static int request_step(struct conn *c)
{
    switch (http1_feed(c->req, &c->cin)) {
    case H1_EV_HEAD:
        exchange_request_head(c);
        return 1;
    case H1_EV_DONE:
        return 1;
    case H1_EV_ERROR:
        if (c->req->state == H1_ERROR && !(c->flags & CONN_F_RESP_SENT)) {
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

static int upstream_write(struct conn *c)
{
    int moved = 0;
    size_t n;

    if (!ep_open(&c->up) || c->pending)
        return 0;
    while (c->uout_sent < c->uout.len && (c->up.flags & EP_F_WR_MAYBE)) {
        ssize_t w = ep_write(&c->up, buf_data(&c->uout) + c->uout_sent,
                             c->uout.len - c->uout_sent);
        if (w <= 0)
            return moved;
        c->uout_sent += (size_t)w;
        moved = 1;
    }
    if (c->uout_sent < c->uout.len)
        return moved;
    while ((n = body_ready(c->req)) > 0 && (c->up.flags & EP_F_WR_MAYBE)) {
        ssize_t w = ep_write(&c->up, buf_data(&c->cin), n);

        if (w <= 0)
            break;
        buf_consume(&c->cin, (size_t)w);
        http1_consumed(c->req, (size_t)w);
        c->bytes_in += (uint64_t)w;
        c->flags |= CONN_F_BODY_SENT;
        moved = 1;
    }
    return moved;
}

static int upstream_read(struct conn *c)
{
    ssize_t r;

    if (!ep_open(&c->up) || c->pending || !(c->up.flags & EP_F_RD_MAYBE) ||
        (c->up.flags & EP_F_RD_EOF) || buf_space(&c->uin) == 0 ||
        buf_reserve(&c->uin) != 0 || buf_room(&c->uin) == 0)
        return 0;
    r = ep_read(&c->up, buf_tail(&c->uin), buf_room(&c->uin));
    if (r <= 0)
        return 0;
    buf_commit(&c->uin, (size_t)r);
    return 1;
}

/* A complete response body: check the blob digest, or, for a redirect we
 * follow, fetch its target. */
static void response_done(struct conn *c)
{
    if (c->following) {
        c->following = 0;
        buf_consume(&c->uin, c->resp->parsed);
        c->resp->parsed = 0;
        exchange_release_upstream(c, 1);
        exchange_send(c);
        return;
    }
    if (c->digest) {
        int ok = digest_matches(c->digest);

        digest_free(c->digest);
        c->digest = NULL;
        c->digest_ok = ok;
        if (!ok) {
            log_err("client %s: %s %s: body does not match its digest; resetting the client "
                    "so it retries", c->peer, c->host, c->log_path);
            conn_reset(c);
        }
    }
}

static int response_step(struct conn *c)
{
    char msg[200];

    if (c->pending || !ep_open(&c->up) || c->resp->state == H1_DONE)
        return 0;
    switch (http1_feed(c->resp, &c->uin)) {
    case H1_EV_HEAD:
        exchange_response_head(c);
        return 1;
    case H1_EV_DONE:
        response_done(c);
        return 1;
    case H1_EV_ERROR:
        snprintf(msg, sizeof(msg), "hubgate: bad response from %s: %s", c->host,
                 c->resp->err ? c->resp->err : "malformed");
        conn_error(c, 502, "UNAVAILABLE", msg);
        return 1;
    default:
        return 0;
    }
}

#define PROGRESS_MIN_BYTES (100ull * 1024 * 1024)
#define PROGRESS_EVERY_MS  10000u

/* Every 10 s of a transfer over 100 MB: where it stands. */
static void log_progress(struct conn *c)
{
    uint64_t now = loop_now(c->px->loop), dt;

    if (c->body_len < (int64_t)PROGRESS_MIN_BYTES)
        return;
    if (!c->t_progress) {
        c->t_progress = c->t_head;
        c->progress_bytes = 0;
    }
    dt = now - c->t_progress;
    if (dt < PROGRESS_EVERY_MS)
        return;
    log_info("progress %s %s %s %llu/%lld bytes (%.0f%%) %.1f MB/s link=%s", c->peer, c->host,
             c->log_path, (unsigned long long)c->bytes_out, (long long)c->body_len,
             100.0 * (double)c->bytes_out / (double)c->body_len,
             (double)(c->bytes_out - c->progress_bytes) / 1e3 / (double)dt,
             exchange_link_name(c));
    c->t_progress = now;
    c->progress_bytes = c->bytes_out;
}

static int client_write(struct conn *c)
{
    int moved = 0;
    size_t n;

    while (c->cout.len && (c->cl.flags & EP_F_WR_MAYBE)) {
        ssize_t w = ep_write(&c->cl, buf_data(&c->cout), c->cout.len);

        if (w <= 0)
            return moved;
        buf_consume(&c->cout, (size_t)w);
        moved = 1;
    }
    if (c->cout.len || c->resp_interim)
        return moved;
    if ((c->following || (c->dechunk && !c->dec_len)) && (n = body_ready(c->resp)) > 0) {
        /* the body of a redirect we follow is nobody's; nor is chunk
         * framing once the data before it went out */
        buf_consume(&c->uin, n);
        http1_consumed(c->resp, n);
        return 1;
    }
    while ((n = resp_ready(c)) > 0 && (c->cl.flags & EP_F_WR_MAYBE)) {
        ssize_t w = ep_write(&c->cl, buf_data(&c->uin), n);

        if (w <= 0)
            break;
        buf_consume(&c->uin, (size_t)w);
        http1_consumed(c->resp, (size_t)w);
        if (c->dechunk)
            c->dec_len -= (size_t)w;
        c->body_safe = c->body_safe > (size_t)w ? c->body_safe - (size_t)w : 0;
        c->bytes_out += (uint64_t)w;
        moved = 1;
    }
    if (moved)
        log_progress(c);
    return moved;
}

/* After a complete response: log, then either close or get ready for the
 * next request on both connections. Returns 1 when state changed. */
static int exchange_finish(struct conn *c)
{
    if (c->resp->state != H1_DONE)
        return 0;
    if (c->resp_interim) {
        c->resp_interim = 0;
        http1_next(c->resp);
        c->resp->skip_body = c->req_method == HTTP_HEAD;
        return 1;
    }
    if (c->cout.len || c->resp->parsed || ep_flush(&c->cl) != 0)
        return 0; /* still flushing */
    conn_log_exchange(c);
    if (c->req->state != H1_DONE || body_ready(c->req))
        c->flags |= CONN_F_CLOSE_AFTER; /* answered before the request ended */
    exchange_release_upstream(c, !(c->flags & CONN_F_CLOSE_AFTER));
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
    http1_next(c->resp);
    c->req_method = -1;
    c->resp_interim = 0;
    c->flags &= ~(CONN_F_RESP_SENT | CONN_F_BODY_SENT | CONN_F_RETRIED);
    c->t_head = c->t_active = loop_now(c->px->loop);
    buf_consume(&c->tmpl, c->tmpl.len);
    buf_release(&c->tmpl);
    buf_release(&c->cin);
    buf_release(&c->uin);
    buf_release(&c->cout);
    buf_release(&c->uout);
    return 1;
}

/* The origin closed or failed while an exchange was running. */
static void upstream_gone(struct conn *c)
{
    char msg[300];

    /* Only a read-until-close body may end at EOF; a cut Content-Length
     * body is kept in H1_BODY, so that it can be resumed below. */
    if (c->resp->state != H1_DONE && c->resp->state != H1_ERROR &&
        (c->resp->state != H1_BODY || llhttp_message_needs_eof(&c->resp->p)) &&
        http1_finish(c->resp) == H1_EV_DONE) {
        response_done(c);
        return; /* a read-until-close body ended: normal */
    }
    if (c->resp->state == H1_DONE)
        return;
    ep_close(&c->up, c->px->loop);
    /* A pooled connection the origin closed just as we reused it: the
     * request never reached it, so send it again once on a fresh one. */
    if ((c->flags & CONN_F_UP_REUSED) && !(c->flags & (CONN_F_BODY_SENT | CONN_F_RETRIED)) &&
        c->resp->state == H1_HEAD && c->resp->parsed == 0) {
        c->flags |= CONN_F_RETRIED;
        log_debug("client %s: pooled upstream closed; retrying", c->peer);
        exchange_send(c);
        return;
    }
    /* A blob cut in the middle: ask for the rest (Range) once the bytes we
     * have reached the client, and keep the client's stream going. */
    if ((c->flags & CONN_F_RESP_SENT) && c->resp->state == H1_BODY && c->is_blob &&
        c->req_method == HTTP_GET && c->body_len > 0 && !c->following &&
        c->body_rx < (uint64_t)c->body_len && c->resume_tries < (int)c->gen->links.n + 1) {
        c->resume_tries++;
        c->resuming = 1;
        log_warn("client %s: %s %s cut at byte %llu of %lld on %s; resuming", c->peer,
                 c->host, c->log_path, (unsigned long long)c->body_rx,
                 (long long)c->body_len, exchange_link_name(c));
        return;
    }
    if (c->flags & CONN_F_RESP_SENT) {
        log_warn("client %s: %s %s: origin closed in the middle of the body; cutting the client",
                 c->peer, c->host, c->log_path);
        conn_close(c);
        return;
    }
    snprintf(msg, sizeof(msg), "%s closed the connection before answering", c->host);
    exchange_failover(c, msg, 0);
}

/* A resume waits until the client has every byte received so far, then
 * asks for the rest. A failure to connect moves it to the next link. */
static int resume_step(struct conn *c)
{
    if (!c->resuming || c->pending || ep_open(&c->up) || c->uin.len || c->cout.len)
        return 0;
    exchange_send(c);
    return 1;
}

void mitm_pump(struct conn *c)
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
        progress |= upstream_write(c);
        progress |= upstream_read(c);
        progress |= response_step(c);
        if (c->flags & CONN_F_CLOSING)
            return; /* a reset (bad digest) must not let one more byte out */
        progress |= resume_step(c);
        progress |= client_write(c);
        progress |= exchange_finish(c);
        if (c->flags & CONN_F_CLOSING)
            return;
        if (progress)
            conn_touch(c, now);
    } while (progress);
    /* What the TLS layers gathered goes out once per pump. */
    ep_flush(&c->cl);
    ep_flush(&c->up);

    if (c->cl.flags & EP_F_ERROR) {
        if (c->mode == CONN_MITM && !(c->flags & CONN_F_TLS_OK)) {
            log_info("client %s: TLS handshake for %s failed (does the client trust "
                     "hubgate's CA?)", c->peer, c->host);
            if (c->px->metrics)
                metrics_add(c->px->metrics, "hubgate_tls_handshake_failures_total",
                            "side=\"client\"", 1);
        }
        if (c->req_method >= 0)
            conn_log_exchange(c);
        conn_close(c);
        return;
    }
    if (ep_open(&c->up) && !c->pending && (c->up.flags & (EP_F_RD_EOF | EP_F_ERROR))) {
        if (exchange_idle(c)) {
            ep_close(&c->up, c->px->loop);
        } else if (c->uout.len || c->resp->state != H1_HEAD) {
            upstream_gone(c);
            if (!(c->flags & CONN_F_CLOSING))
                mitm_pump(c);
            return;
        }
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

void mitm_interest(const struct conn *c, int *crd, int *cwr, int *urd, int *uwr)
{
    if (c->flags & CONN_F_LINGER) {
        *crd = 1;
        *cwr = ep_pending(&c->cl) > 0;
        *urd = *uwr = 0;
        return;
    }
    *crd = buf_space(&c->cin) > 0 && !(c->cl.flags & EP_F_RD_EOF) &&
           !((c->flags & CONN_F_CLOSE_AFTER) && (c->flags & CONN_F_RESP_SENT));
    *cwr = c->cout.len > 0 || (!c->resp_interim && resp_ready(c) > 0) || ep_pending(&c->cl);
    *urd = !c->pending && buf_space(&c->uin) > 0 && !(c->up.flags & EP_F_RD_EOF);
    *uwr = !c->pending && (c->uout_sent < c->uout.len || body_ready(c->req) > 0 ||
                           (ep_open(&c->up) && ep_pending(&c->up)));
}

void mitm_abort_exchange(struct conn *c)
{
    upstream_cancel(c->pending);
    c->pending = NULL;
    ep_close(&c->up, c->px->loop);
    buf_consume(&c->uin, c->uin.len);
    buf_consume(&c->uout, c->uout.len);
    c->uout_sent = 0;
    c->resp_interim = 0;
    c->following = c->resuming = 0;
    digest_free(c->digest);
    c->digest = NULL;
    c->resp->state = H1_DONE;
    c->resp->parsed = 0;
    if (c->req->state != H1_DONE)
        c->req->state = H1_ERROR;
}
