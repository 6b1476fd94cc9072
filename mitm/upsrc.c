/* upsrc.c — the upstream source: the connection of an attempt, the request
 * bytes going up, the response bytes coming in and their parsing.
 *
 * Back-pressure: the origin is read only while uin has room, and uin
 * drains only as fast as the client takes its body bytes. */
#include "mitm/upsrc.h"

#include <stdio.h>
#include <string.h>

#include "mitm/exchange.h"
#include "mitm/tls/tls.h"
#include "proxy/core/link.h"
#include "proxy/up/pool.h"
#include "proxy/up/upstream.h"

#define UPSRC_UIN_SIZE (64u * 1024u)

static size_t upsrc_ready(struct source *src, const char **p);
static void upsrc_consume(struct source *src, size_t n);

static const struct source_ops upsrc_ops = {
    .kind = "upstream",
    .ready = upsrc_ready,
    .consume = upsrc_consume,
};

/* Bytes at the front of uin that the parser checked as body. */
static size_t body_parsed(const struct upsrc *s)
{
    return (s->resp.state == H1_BODY || s->resp.state == H1_DONE) ? s->resp.parsed : 0;
}

static void upsrc_on_body(void *arg, const char *p, size_t n)
{
    struct upsrc *s = arg;
    struct exchange *x = s->x;

    if (x->state == XCH_FOLLOWING)
        return;
    if (s->dechunk && n) {
        /* Decoded bytes gather at uin's front, over framing already
         * parsed: the data never lies before dec_len, so this moves it
         * back, never over bytes still to be sent. */
        char *front = buf_data(&s->uin);

        memmove(front + s->dec_len, p, n);
        p = front + s->dec_len;
        s->dec_len += n;
    }
    exchange_on_body(x, p, n);
    if (x->digest && n)
        s->body_safe = (size_t)(p + n - 1 - buf_data(&s->uin));
}

void upsrc_init(struct upsrc *s, struct exchange *x)
{
    memset(s, 0, sizeof(*s));
    s->src.ops = &upsrc_ops;
    s->x = x;
    ep_init_raw(&s->up, -1);
    buf_init(&s->uin, UPSRC_UIN_SIZE);
    buf_init(&s->uout, x->gen->cfg.max_header_bytes + 4096);
    s->link = -1;
}

/* Body bytes the client may have now: while a blob is being verified its
 * last byte waits until the digest matched, so a client never completes a
 * corrupt blob. */
static size_t upsrc_ready(struct source *src, const char **p)
{
    struct upsrc *s = (struct upsrc *)src;
    size_t n;

    if (s->interim || s->x->state == XCH_FOLLOWING)
        return 0;
    n = s->dechunk ? s->dec_len : body_parsed(s);
    if (s->x->digest && s->x->state != XCH_RESUMING && n > s->body_safe)
        n = s->body_safe;
    *p = buf_data(&s->uin);
    return n;
}

static void upsrc_consume(struct source *src, size_t n)
{
    struct upsrc *s = (struct upsrc *)src;

    buf_consume(&s->uin, n);
    http1_consumed(&s->resp, n);
    if (s->dechunk)
        s->dec_len -= n;
    s->body_safe = s->body_safe > n ? s->body_safe - n : 0;
}

static void upsrc_on_io(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct upsrc *s = arg;

    (void)loop;
    (void)fd;
    ep_on_events(&s->up, events);
    s->x->cl.run(s->x->cl.arg);
}

/* Takes a connected socket (and its TLS state) into s->up and registers it
 * (pooled: already registered, taken over from the pool). */
static int upsrc_attach(struct upsrc *s, int fd, SSL *ssl, int pooled)
{
    struct loop *loop = s->x->px->loop;

    if (ssl)
        ep_init_tls(&s->up, fd, ssl);
    else
        ep_init_raw(&s->up, fd);
    /* A pooled socket keeps the pool's registration (read interest); an
     * event fetched for the pool is a readiness hint for us too. */
    if ((pooled ? loop_rebind(loop, fd, LOOP_RD, upsrc_on_io, s, 0)
                : loop_add(loop, fd, 0, upsrc_on_io, s)) != 0) {
        ep_close(&s->up, loop);
        exchange_fail(s->x, 502, "UNAVAILABLE", "hubgate: cannot watch the upstream socket");
        return -1;
    }
    return 0;
}

static void upsrc_on_ready(void *arg, int fd, SSL *ssl, const struct up_error *err)
{
    struct upsrc *s = arg;
    struct exchange *x = s->x;

    s->pending = NULL;
    if (fd < 0)
        exchange_failover(x, err, 0);
    else
        upsrc_attach(s, fd, ssl, 0);
    x->cl.run(x->cl.arg);
}

int upsrc_begin(struct upsrc *s, const struct link *via)
{
    struct exchange *x = s->x;

    s->uout_sent = 0;
    s->interim = s->dechunk = 0;
    s->dec_len = s->body_safe = 0;
    s->eof_seen = 0;
    http1_init(&s->resp, HTTP_RESPONSE, x->gen->cfg.max_header_bytes);
    s->resp.skip_body = x->method == HTTP_HEAD || x->probe;
    s->resp.on_body = upsrc_on_body;
    s->resp.body_arg = s;
    /* An attempt reads only its own answer: whatever an earlier upstream
     * sent is nobody's. */
    buf_consume(&s->uin, s->uin.len);
    s->reused = pool_get(x->px->pool,
                         &(struct pool_key){s->link, s->host, s->port, s->tls, s->direct},
                         &x->gen->cfg, s->up_flags, &s->up);
    if (s->reused) {
        upsrc_attach(s, s->up.fd, s->up.ssl, 1); /* a failure answers 502 itself */
        return 0;
    }
    s->pending = upstream_open(x->px, x->gen, via, s->host, s->port, s->tls, s->up_flags,
                               upsrc_on_ready, s);
    return s->pending ? 0 : -1;
}

/* The request head, then request body bytes as the client's parser passes
 * them. */
static int upsrc_write(struct upsrc *s)
{
    struct exchange *x = s->x;
    struct buf *cin = x->cl.cin;
    int moved = 0;
    size_t n;

    if (!ep_open(&s->up) || s->pending)
        return 0;
    while (s->uout_sent < s->uout.len && (s->up.flags & EP_F_WR_MAYBE)) {
        ssize_t w = ep_write(&s->up, buf_data(&s->uout) + s->uout_sent,
                             s->uout.len - s->uout_sent);

        if (w <= 0)
            return moved;
        s->uout_sent += (size_t)w;
        moved = 1;
    }
    if (s->uout_sent < s->uout.len)
        return moved;
    while ((n = (x->cl.req->state == H1_BODY || x->cl.req->state == H1_DONE)
                    ? x->cl.req->parsed : 0) > 0 && (s->up.flags & EP_F_WR_MAYBE)) {
        ssize_t w = ep_write(&s->up, buf_data(cin), n);

        if (w <= 0)
            break;
        buf_consume(cin, (size_t)w);
        http1_consumed(x->cl.req, (size_t)w);
        x->bytes_in += (uint64_t)w;
        x->flags |= XCH_F_BODY_SENT;
        moved = 1;
    }
    return moved;
}

static int upsrc_read(struct upsrc *s)
{
    ssize_t r;

    if (!ep_open(&s->up) || s->pending || !(s->up.flags & EP_F_RD_MAYBE) ||
        (s->up.flags & EP_F_RD_EOF) || buf_space(&s->uin) == 0 ||
        buf_reserve(&s->uin) != 0 || buf_room(&s->uin) == 0)
        return 0;
    r = ep_read(&s->up, buf_tail(&s->uin), buf_room(&s->uin));
    if (r <= 0)
        return 0;
    buf_commit(&s->uin, (size_t)r);
    return 1;
}

static int upsrc_parse(struct upsrc *s)
{
    struct exchange *x = s->x;
    char msg[200];

    if (s->pending || !ep_open(&s->up) || s->resp.state == H1_DONE)
        return 0;
    switch (http1_feed(&s->resp, &s->uin)) {
    case H1_EV_HEAD:
        exchange_response_head(x);
        return 1;
    case H1_EV_DONE:
        exchange_response_done(x);
        return 1;
    case H1_EV_ERROR:
        snprintf(msg, sizeof(msg), "hubgate: bad response from %s: %s", x->host,
                 s->resp.err ? s->resp.err : "malformed");
        exchange_fail(x, 502, "UNAVAILABLE", msg);
        return 1;
    default:
        return 0;
    }
}

/* Body bytes nobody gets: those of a redirect hubgate follows, and chunk
 * framing once the data before it went out. */
static int upsrc_drop(struct upsrc *s)
{
    size_t n = body_parsed(s);

    if (!n || !(s->x->state == XCH_FOLLOWING || (s->dechunk && !s->dec_len)))
        return 0;
    buf_consume(&s->uin, n);
    http1_consumed(&s->resp, n);
    return 1;
}

int upsrc_pump(struct upsrc *s)
{
    int moved = upsrc_write(s);

    moved |= upsrc_read(s);
    moved |= upsrc_parse(s);
    if (s->x->state != XCH_FAILED)
        moved |= upsrc_drop(s);
    return moved;
}

int upsrc_ended(const struct upsrc *s)
{
    return ep_open(&s->up) && !s->pending && !s->eof_seen &&
           (s->up.flags & (EP_F_RD_EOF | EP_F_ERROR));
}

int upsrc_drained(const struct upsrc *s)
{
    return s->resp.state == H1_DONE && s->resp.parsed == 0;
}

void upsrc_release(struct upsrc *s, int reusable)
{
    struct loop *loop = s->x->px->loop;

    upstream_cancel(s->x->px, s->pending);
    s->pending = NULL;
    /* Bytes after a complete response belong to no request: an origin that
     * sends them (after a HEAD, 204 or 304 answer, say) must not answer the
     * client's next request, which may be for another host. */
    reusable = reusable && !s->uin.len && s->resp.state == H1_DONE;
    buf_consume(&s->uin, s->uin.len);
    if (!ep_open(&s->up))
        return;
    if (reusable && !(s->up.flags & (EP_F_RD_EOF | EP_F_ERROR)) && http1_keep_alive(&s->resp))
        pool_put(s->x->px->pool,
                 &(struct pool_key){s->link, s->host, s->port, s->tls, s->direct}, &s->up);
    else
        ep_close(&s->up, loop);
}

void upsrc_close(struct upsrc *s)
{
    upstream_cancel(s->x->px, s->pending);
    s->pending = NULL;
    ep_close(&s->up, s->x->px->loop);
    buf_consume(&s->uin, s->uin.len);
}

void upsrc_update(struct upsrc *s)
{
    struct exchange *x = s->x;
    const struct http1 *req = x->cl.req;
    int rd, wr;

    if (!ep_open(&s->up) || s->pending)
        return;
    rd = buf_space(&s->uin) > 0 && !(s->up.flags & EP_F_RD_EOF);
    wr = s->uout_sent < s->uout.len ||
         ((req->state == H1_BODY || req->state == H1_DONE) && req->parsed > 0) ||
         ep_pending(&s->up);
    loop_mod(x->px->loop, s->up.fd, ep_mask(&s->up, rd, wr));
}

void upsrc_free(struct upsrc *s)
{
    upsrc_close(s);
    buf_free(&s->uin);
    buf_free(&s->uout);
}
