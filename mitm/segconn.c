/* segconn.c — one connection of a segmented fetch: taken from the pool or
 * opened on a lane of the transfer (seglanes.c: the request's link, or
 * another with segments_across_links) toward the final URL,
 * it sends "Range: bytes=a-b" for its segment, checks that the answer is
 * the 206 for exactly those bytes, and passes the body into the
 * reassembly (or, filling the cache, into the fill at its offsets) no
 * faster than the window lets it (segments.h). A failure or
 * a stall puts the rest of its segment back for another connection. */
#include "mitm/segfetch_int.h"

#include <inttypes.h>
#include <stdio.h>

#include "base/log.h"
#include "mitm/http/hdr.h"
#include "mitm/tls/tls.h"
#include "proxy/up/pool.h"
#include "proxy/up/upstream.h"

#define SEGC_UIN_SIZE (64u * 1024u)

static struct pool_key segconn_key(const struct segconn *c)
{
    const struct seglane *l = &c->f->lane[c->lane];

    return (struct pool_key){l->link, l->route.host, l->route.port, l->route.tls, l->direct};
}

void segconn_init(struct segconn *c, struct segfetch *f)
{
    c->f = f;
    ep_init_raw(&c->up, -1);
    buf_init(&c->uin, SEGC_UIN_SIZE);
    buf_init(&c->uout, f->x->gen->cfg.max_header_bytes + 4096);
}

static void segconn_close(struct segconn *c)
{
    struct proxy *px = c->f->x->px;

    upstream_cancel(px, c->pending);
    c->pending = NULL;
    ep_close(&c->up, px->loop);
    buf_consume(&c->uin, c->uin.len);
    buf_consume(&c->uout, c->uout.len);
}

/* The segment failed: the rest goes back in line, the connection closes. */
static void segconn_fail(struct segconn *c, const char *why)
{
    uint32_t t = c->ticket;

    segconn_close(c);
    c->ticket = 0;
    if (t && seg_fail(c->f->seg, t) == 0)
        segf_failed(c->f, c->lane, "failed", c->off, why);
}

static void segconn_on_io(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct segconn *c = arg;
    struct exchange *x = c->f->x;

    (void)loop;
    (void)fd;
    ep_on_events(&c->up, events);
    x->cl.run(x->cl.arg);
}

static void segconn_on_ready(void *arg, int fd, SSL *ssl, const struct up_error *err)
{
    struct segconn *c = arg;
    struct exchange *x = c->f->x;
    char why[240];

    c->pending = NULL;
    if (fd < 0) {
        up_error_str(err, why, sizeof(why));
        /* the link's fault, not the destination's or ours: it rests */
        seglane_fail(c->f, c->lane, why,
                     err->kind != UP_ERR_POLICY && err->kind != UP_ERR_ROUTE &&
                         err->kind != UP_ERR_NOMEM);
        segconn_fail(c, why);
    } else {
        if (ssl)
            ep_init_tls(&c->up, fd, ssl);
        else
            ep_init_raw(&c->up, fd);
        if (loop_add(x->px->loop, fd, 0, segconn_on_io, c) != 0)
            segconn_fail(c, "cannot watch the socket");
    }
    x->cl.run(x->cl.arg);
}

void segconn_start(struct segconn *c, const struct seg_task *t)
{
    struct segfetch *f = c->f;
    struct exchange *x = f->x;
    const struct seglane *l;
    struct pool_key k;
    char extra[80];

    c->lane = seglane_pick(f, c->lane);
    l = &f->lane[c->lane];
    k = segconn_key(c);
    c->ticket = t->ticket;
    c->off = t->off;
    c->len = t->len;
    c->body = 0;
    c->t_progress = c->t_start = loop_now(x->px->loop);
    http1_init(&c->resp, HTTP_RESPONSE, x->gen->cfg.max_header_bytes);
    buf_consume(&c->uin, c->uin.len);
    snprintf(extra, sizeof(extra), "Range: bytes=%" PRIu64 "-%" PRIu64 "\r\n",
             f->base + t->off, f->base + t->off + t->len - 1);
    if (t->len == SEG_UNKNOWN || t->len == 0 ||
        exchange_write_head(x, &l->route, &c->uout, HDR_REQ_NO_RANGE, extra) != 0) {
        segconn_fail(c, "cannot build the request");
        return;
    }
    if (pool_get(x->px->pool, &k, &x->gen->cfg, f->up_flags, &c->up)) {
        /* as upsrc takes a pooled connection: fresh readiness flags, the
         * pool's registration kept */
        if (c->up.ssl)
            ep_init_tls(&c->up, c->up.fd, c->up.ssl);
        else
            ep_init_raw(&c->up, c->up.fd);
        if (loop_rebind(x->px->loop, c->up.fd, LOOP_RD, segconn_on_io, c, 0) != 0)
            segconn_fail(c, "cannot watch the socket");
        return;
    }
    c->pending = upstream_open(x->px, x->gen, l->route.via, l->route.host, l->route.port,
                               l->route.tls, f->up_flags, segconn_on_ready, c);
    if (!c->pending)
        segconn_fail(c, "out of memory");
}

/* The answer must be the 206 for exactly the bytes asked. */
static int segconn_head(struct segconn *c)
{
    struct segfetch *f = c->f;
    const struct http1 *r = &c->resp;
    const char *base = buf_data(&c->uin);
    int status = http1_status(r);
    int64_t a, b, n;
    char cr[128], why[64];

    if (status == 206 && !(r->p.flags & F_CHUNKED) && (r->p.flags & F_CONTENT_LENGTH) &&
        r->p.content_length == c->len &&
        hdr_get(r, base, "content-range", cr, sizeof(cr)) >= 0 &&
        parse_content_range(cr, &a, &b, &n) == 0 && (uint64_t)a == f->base + c->off &&
        (uint64_t)b == f->base + c->off + c->len - 1 &&
        (uint64_t)n == f->total)
        return 0;
    snprintf(why, sizeof(why), "answered %d", status);
    /* another link's origin (a relay) answering wrongly says nothing of
     * the request's own: only that lane is left */
    if (c->lane)
        seglane_fail(f, c->lane, why, 0);
    else if (status == 200 || status == 206)
        segf_no_ranges(f, status);
    segconn_fail(c, why);
    return -1;
}

/* Segment complete: the connection goes back to the pool when its answer
 * ended cleanly, and the slot takes the next segment. */
static void segconn_done(struct segconn *c)
{
    struct segfetch *f = c->f;
    struct pool_key k = segconn_key(c);

    c->ticket = 0;
    if (c->resp.state == H1_DONE && !c->uin.len && !c->uout.len &&
        !(c->up.flags & (EP_F_RD_EOF | EP_F_ERROR)) && http1_keep_alive(&c->resp))
        pool_put(f->x->px->pool, &k, &c->up);
    else
        segconn_close(c);
}

static int segconn_io(struct segconn *c)
{
    int moved = 0;
    ssize_t r;

    if (c->uout.len && (c->up.flags & EP_F_WR_MAYBE) && ep_write_buf(&c->up, &c->uout) > 0)
        moved = 1;
    if ((c->up.flags & EP_F_RD_MAYBE) && !(c->up.flags & EP_F_RD_EOF) &&
        buf_space(&c->uin) > 0 && buf_reserve(&c->uin) == 0 && buf_room(&c->uin) > 0) {
        r = ep_read(&c->up, buf_tail(&c->uin), buf_room(&c->uin));
        if (r > 0) {
            buf_commit(&c->uin, (size_t)r);
            moved = 1;
        }
    }
    return moved;
}

int segconn_pump(struct segconn *c)
{
    struct segfetch *f = c->f;
    enum http1_ev ev = H1_EV_NONE;
    uint64_t room;
    size_t n, avail;
    int moved, rc;

    if (!c->ticket || c->pending || !ep_open(&c->up))
        return 0;
    moved = segconn_io(c);
    if (!c->body) {
        ev = http1_feed(&c->resp, &c->uin);
        if (ev == H1_EV_HEAD) {
            if (segconn_head(c) != 0)
                return 1;
            buf_consume(&c->uin, c->resp.head_len);
            http1_resume(&c->resp);
            c->body = 1;
            moved = 1;
        }
    }
    if (c->body && c->resp.state == H1_BODY)
        ev = http1_feed(&c->resp, &c->uin);
    if (ev == H1_EV_ERROR) {
        segconn_fail(c, c->resp.err ? c->resp.err : "malformed answer");
        return 1;
    }
    n = avail = c->body && (c->resp.state == H1_BODY || c->resp.state == H1_DONE)
                    ? c->resp.parsed : 0;
    room = seg_room(f->seg, c->ticket);
    if (room <= n)
        c->t_progress = loop_now(f->x->px->loop); /* waiting for the client */
    if (n > room)
        n = (size_t)room;
    if (n) {
        if (f->sink && segf_store(f, c->ticket, buf_data(&c->uin), n) != 0)
            return 1;
        rc = seg_recv(f->seg, c->ticket, buf_data(&c->uin), n);
        if (rc < 0) {
            exchange_end_failed(f->x, XCH_FAIL_CUT);
            return 1;
        }
        buf_consume(&c->uin, n);
        http1_consumed(&c->resp, n);
        c->t_progress = loop_now(f->x->px->loop);
        segf_count_bytes(f, c->lane, n, rc == SEG_R_DONE);
        if (rc == SEG_R_DONE) {
            exchange_count_rate(f->x, seglane_name(f, c->lane), "segment", c->len, c->t_start);
            if (c->resp.state == H1_BODY)
                http1_feed(&c->resp, &c->uin);
            segconn_done(c);
        } else if (rc == SEG_R_STALE) {
            c->ticket = 0;
            segconn_close(c);
        }
        return 1;
    }
    if (!avail && (c->up.flags & (EP_F_RD_EOF | EP_F_ERROR))) {
        segconn_fail(c, "the connection closed in the middle");
        return 1;
    }
    return moved;
}

void segconn_drop(struct segconn *c)
{
    segconn_close(c);
    c->ticket = 0;
}

void segconn_check_stall(struct segconn *c, uint64_t now)
{
    uint32_t t = c->ticket;

    if (!t || now - c->t_progress <= SEGF_STALL_MS)
        return;
    segconn_close(c);
    c->ticket = 0;
    if (seg_stall(c->f->seg, t) == 0)
        segf_failed(c->f, c->lane, "stalled", c->off, "no byte for 5 s");
}

void segconn_update(struct segconn *c)
{
    int rd, wr;

    if (!ep_open(&c->up) || c->pending)
        return;
    rd = buf_space(&c->uin) > 0 && !(c->up.flags & EP_F_RD_EOF);
    wr = c->uout.len > 0 || ep_pending(&c->up);
    loop_mod(c->f->x->px->loop, c->up.fd, ep_mask(&c->up, rd, wr));
}

void segconn_free(struct segconn *c)
{
    segconn_close(c);
    buf_free(&c->uin);
    buf_free(&c->uout);
}
