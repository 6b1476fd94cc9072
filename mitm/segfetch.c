/* segfetch.c — a segmented blob fetch (segfetch.h): the probe (the
 * exchange's own first connection), the client's body source (the
 * reassembly, or the cache fill's file in sink mode), the digest of the
 * blob as the client receives it, and the timer that puts back a stalled
 * segment. The segment connections themselves are in segconn.c. */
#include "mitm/segfetch_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/metrics.h"
#include "mitm/cache/cache.h"
#include "mitm/digest.h"
#include "mitm/http/hdr.h"
#include "mitm/xcache.h"

#define SEGF_BUDGET ((size_t)256 << 20) /* segment buffers of all transfers of a loop */
#define SEGF_TICK_MS 1000u
#define SEGF_WATCH_MS 500u                     /* the first connection alone */
#define SEGF_FAST_RATE ((uint64_t)64 << 20)    /* bytes/s: not a shaped flow */
#define SEGF_SINK_WAIT_MS 5u   /* sink: how often the client's end looks for the
                                * fill's verdict */

static size_t segf_ready(struct source *src, const char **p);
static int segf_switch(struct segfetch *f);
static void segf_consume(struct source *src, size_t n);

static const struct source_ops segf_ops = {
    .kind = "segments",
    .ready = segf_ready,
    .consume = segf_consume,
};

/* Body bytes the client may have: the contiguous prefix of the reassembly
 * (sink mode: of the fill's file); while the blob is verified, its last
 * byte waits until the digest matched (segfetch_pump; sink mode: the
 * fill's, held back by cachesrc), so a client never completes a corrupt
 * blob. */
static size_t segf_ready(struct source *src, const char **p)
{
    struct segfetch *f = (struct segfetch *)src;
    size_t n;
    uint64_t left;

    *p = NULL;
    if (f->x->state == XCH_FAILED)
        return 0;
    if (f->sink)        /* the fill's prefix; its last byte once verified */
        return source_ready(&f->disk.src, p);
    n = seg_peek(f->seg, p);
    left = seg_length(f->seg) - seg_position(f->seg);
    if (f->digest && !f->verified && n >= left)
        n = left ? (size_t)left - 1 : 0;
    return n;
}

static void segf_consume(struct source *src, size_t n)
{
    struct segfetch *f = (struct segfetch *)src;
    uint64_t pos = seg_position(f->seg);
    const char *p;

    if (f->sink) {
        source_consume(&f->disk.src, n);
        return;
    }
    /* bytes below hash_from were hashed and cached as the first connection
     * parsed them; the rest is hashed and cached in order as the client
     * takes it */
    if (n && pos + n > f->hash_from && seg_peek(f->seg, &p) >= n) {
        size_t skip = pos < f->hash_from ? (size_t)(f->hash_from - pos) : 0;

        if (f->digest && !f->verified)
            digest_update(f->digest, p + skip, n - skip);
        if (xcache_filling(f->x))
            xcache_body(f->x, p + skip, n - skip);
    }
    seg_consume(f->seg, n);
}

void segf_count_bytes(struct segfetch *f, unsigned lane, uint64_t n, int done)
{
    struct metrics *m = f->x->px->metrics;
    char lb[512];

    if (!m)
        return;
    metrics_label(lb, sizeof(lb), "link", seglane_name(f, lane), METRICS_END);
    if (n)
        metrics_add(m, "hubgate_segment_bytes_total", lb, (double)n);
    if (done)
        metrics_add(m, "hubgate_segments_total", lb, 1);
}

int segf_store(struct segfetch *f, uint32_t ticket, const char *p, size_t n)
{
    struct exchange *x = f->x;
    uint64_t off = seg_recv_at(f->seg, ticket);
    int rc;

    if (off == SEG_UNKNOWN || off + n <= f->hash_from)
        return 0;               /* a dead ticket (seg_recv() ignores it), or
                                 * bytes the fill had before the switch */
    if (off < f->hash_from) {
        p += f->hash_from - off;
        n -= (size_t)(f->hash_from - off);
        off = f->hash_from;
    }
    rc = xcache_body_at(x, f->base + off, p, n);
    if (rc == 0)
        return 0;
    /* the client read the file: no byte of this transfer is in memory */
    f->sh->nosink_until = loop_now(x->px->loop) + SEGF_NOSINK_MS;
    log_err("client %s: %s %s: cannot write segments into the cache (%s); resetting the "
            "client so it retries (segments on this worker go through memory for %u min)",
            x->cl.peer, x->host, x->log_path, strerror(-rc), SEGF_NOSINK_MS / 60000u);
    exchange_end_failed(x, XCH_FAIL_RESET);
    return -1;
}

/* One more failed or stalled segment (off: where it starts in the
 * transfer; logged as a blob offset): past a bound the origin or the link
 * is not fit for this transfer, and the client is cut (it asks again). */
void segf_failed(struct segfetch *f, unsigned lane, const char *what, uint64_t off,
                 const char *why)
{
    struct exchange *x = f->x;

    f->fails++;
    log_warn("client %s: %s %s: segment at byte %llu %s on %s (%s); fetching it again",
             x->cl.peer, x->host, x->log_path, (unsigned long long)(f->base + off), what,
             seglane_name(f, lane), why);
    if (f->fails > SEGF_MAX_FAILS + seg_stats(f->seg)->done && x->state != XCH_FAILED) {
        log_warn("client %s: %s %s: %u segments failed; cutting the transfer", x->cl.peer,
                 x->host, x->log_path, f->fails);
        exchange_end_failed(x, XCH_FAIL_CUT);
    }
}

/* An origin that answered a range wrongly: remembered by the loop, so that
 * the client's next try of any blob there goes over one connection. */
void segf_no_ranges(struct segfetch *f, int status)
{
    struct seg_shared *sh = f->sh;
    struct exchange *x = f->x;
    unsigned i;
    int whole;

    snprintf(sh->norange[sh->next_norange], sizeof(sh->norange[0]), "%s", f->host);
    sh->next_norange = (sh->next_norange + 1) % SEGF_NORANGE;
    /* Usually no other segment has a byte yet: the first connection, whose
     * answer is the whole blob, then carries the rest of it. */
    whole = f->probe && seg_collapse(f->seg, f->probe) == 0;
    if (whole)
        for (i = 0; i < f->nconn; i++)
            segconn_drop(&f->conn[i]);
    else
        seg_single(f->seg);
    log_warn("client %s: %s %s: %s answered a Range request with %d, not the 206 asked for; "
             "its blobs go over one connection from now on%s", x->cl.peer, x->host,
             x->log_path, f->host, status, whole ? ", this one on the first" : "");
}

static int no_ranges_known(const struct seg_shared *sh, const char *host)
{
    unsigned i;

    for (i = 0; sh && i < SEGF_NORANGE; i++)
        if (strcmp(sh->norange[i], host) == 0)
            return 1;
    return 0;
}

static void probe_close(struct segfetch *f)
{
    f->probe = 0;
    upsrc_close(&f->x->up);
}

/* The first connection's body, up to the end of the first segment, goes
 * into the reassembly (sink mode: into the fill, where the bytes it parsed
 * before the switch already are); then the connection is closed (the rest
 * of its 200 is fetched by segments). */
static int probe_pump(struct segfetch *f)
{
    struct upsrc *u = &f->x->up;
    uint64_t room, now = loop_now(f->x->px->loop);
    const char *p;
    size_t n, avail;
    int rc;

    if (!f->probe)
        return 0;
    n = avail = source_ready(&u->src, &p);
    room = seg_room(f->seg, f->probe);
    if (room <= n)
        f->probe_progress = now;    /* waiting for the client, not the origin */
    if (n > room)
        n = (size_t)room;
    if (n) {
        if (f->sink && segf_store(f, f->probe, p, n) != 0)
            return 1;
        rc = seg_recv(f->seg, f->probe, p, n);
        if (rc < 0) {
            exchange_end_failed(f->x, XCH_FAIL_CUT);
            return 1;
        }
        source_consume(&u->src, n);
        f->probe_progress = now;
        f->probe_bytes += n;
        segf_count_bytes(f, 0, n, rc == SEG_R_DONE);
        if (rc == SEG_R_DONE)
            exchange_count_rate(f->x, seglane_name(f, 0), "segment", f->probe_bytes,
                                f->x->t_sent);
        if (rc != SEG_R_MORE)
            probe_close(f);
        return 1;
    }
    if (!avail && (upsrc_ended(u) || u->resp.state == H1_DONE || u->resp.state == H1_ERROR)) {
        uint32_t t = f->probe;

        u->eof_seen = 1;
        probe_close(f);
        seg_fail(f->seg, t);
        segf_failed(f, 0, "was cut", 0, "the first connection closed");
        return 1;
    }
    return 0;
}

/* The last byte of a verified blob goes to the client only once the whole
 * blob matched its digest. */
static void verify_last(struct segfetch *f)
{
    struct exchange *x = f->x;
    const char *p;

    if (!f->digest || f->verified || seg_length(f->seg) - seg_position(f->seg) != 1 ||
        seg_peek(f->seg, &p) < 1)
        return;
    digest_update(f->digest, p, 1);
    if (!digest_matches(f->digest)) {
        log_err("client %s: %s %s: body does not match its digest; resetting the client so "
                "it retries", x->cl.peer, x->host, x->log_path);
        exchange_end_failed(x, XCH_FAIL_RESET);
        return;
    }
    f->verified = 1;
    x->digest_ok = 1;
}

/* One round over the probe and the connections; new segments for idle
 * ones. Returns 1 when anything moved. */
static int pump_round(struct segfetch *f)
{
    struct seg_task t;
    unsigned i;
    int more = probe_pump(f);

    for (i = 0; i < f->nconn; i++) {
        if (f->x->state != XCH_BODY)
            return 1;
        more |= segconn_pump(&f->conn[i]);
    }
    for (i = 0; i < f->nconn; i++) {
        if (f->x->state != XCH_BODY)
            return 1;
        if (!f->conn[i].ticket && seg_next(f->seg, &t)) {
            segconn_start(&f->conn[i], &t);
            more = 1;
        }
    }
    return more;
}

/* Sink mode: once every segment is in the file, the fill is handed over
 * to be verified and kept; the transfer is done when the client has read
 * the file to its end, the last byte only after the digest matched
 * (cachesrc holds it back); a fill that failed resets the client. While
 * the client waits for that outcome, the timer looks again soon. Returns
 * 1 when the state changed. */
static int sink_end(struct segfetch *f)
{
    struct exchange *x = f->x;
    const char *p;

    if (seg_finished(f->seg) && xcache_filling(x))
        xcache_done(x);         /* digest, fsync and rename off the loop */
    switch (cachesrc_state(&f->disk)) {
    case CACHESRC_DONE:
        loop_timer_del(x->px->loop, &f->tick);
        x->digest_ok = 1;
        x->state = XCH_DONE;
        return 1;
    case CACHESRC_FAILED:
        log_err("client %s: %s %s: the blob its segments wrote into the cache was not kept "
                "(the cache's line on it says why) or could not be read back; resetting the "
                "client so it retries", x->cl.peer, x->host, x->log_path);
        exchange_end_failed(x, XCH_FAIL_RESET);
        return 1;
    default:
        if (seg_finished(f->seg) && source_ready(&f->disk.src, &p) == 0)
            loop_timer_set(x->px->loop, &f->tick, SEGF_SINK_WAIT_MS);
        return 0;
    }
}

int segfetch_pump(struct segfetch *f)
{
    struct exchange *x = f->x;
    int moved = 0;

    if (!f->seg)
        return segf_switch(f);
    while (x->state == XCH_BODY && pump_round(f))
        moved = 1;
    if (x->state != XCH_BODY)
        return moved;
    if (f->sink)
        return sink_end(f) | moved;
    verify_last(f);
    if (seg_finished(f->seg)) {
        loop_timer_del(x->px->loop, &f->tick);
        if (x->xc)
            xcache_done(x);     /* the fill has every byte: its digest, rename */
        x->state = XCH_DONE;
        moved = 1;
    }
    return moved;
}

/* Every second: a segment (or the probe) with nothing new for
 * SEGF_STALL_MS while it was wanted is put back and fetched again on a
 * new connection. */
static void segf_tick(struct loop *loop, struct timer *tm)
{
    struct segfetch *f = tm->arg;
    struct exchange *x = f->x;
    uint64_t now = loop_now(loop);
    unsigned i;

    if (x->state != XCH_BODY)
        return;
    if (!f->seg) {
        x->cl.run(x->cl.arg);   /* the watch is over: switch or not */
        return;
    }
    if (f->probe && now - f->probe_progress > SEGF_STALL_MS) {
        uint32_t t = f->probe;

        probe_close(f);
        seg_stall(f->seg, t);
        segf_failed(f, 0, "stalled", 0, "the first connection");
    }
    for (i = 0; i < f->nconn && x->state == XCH_BODY; i++)
        segconn_check_stall(&f->conn[i], now);
    loop_timer_set(loop, &f->tick, SEGF_TICK_MS);
    x->cl.run(x->cl.arg);
}

/* The blob's whole length when its answer can go in segments: a 200 to a
 * request without Range (its Content-Length), or the 206 of one range a
 * client asked for (Content-Range "bytes a-b/n" with n known, a where
 * response.c put x->range_base, b-a+1 bytes of body); -1 otherwise. */
static int64_t blob_total(const struct exchange *x, const char *base)
{
    int asked = http1_find(x->cl.req, buf_data(&x->tmpl), "range") >= 0;
    int64_t a, b, n;
    char cr[128];

    if (x->status == 200 && !asked)
        return x->body_len;
    if (x->status != 206 || !asked ||
        hdr_get(&x->up.resp, base, "content-range", cr, sizeof(cr)) < 0 ||
        parse_content_range(cr, &a, &b, &n) != 0 || n < 0 || a != x->range_base ||
        b - a + 1 != x->body_len)
        return -1;
    return n;
}

int segfetch_start(struct exchange *x, const char *base)
{
    const struct config *cfg = &x->gen->cfg;
    struct seg_shared *sh = x->px->segs;
    struct segfetch *f;
    int64_t total = blob_total(x, base);
    char v[32];
    unsigned i;

    if (x->segf || cfg->segments < 2 || !x->is_blob || x->method != HTTP_GET ||
        !x->cl.intercepted || total < 0 || x->up.dechunk || x->body_len < 0 ||
        (uint64_t)x->body_len < cfg->segment_min || no_ranges_known(sh, x->up.host))
        return 0;
    /* a 200 must say the origin serves ranges; a 206 shows it (nginx's
     * carries no Accept-Ranges) */
    if (x->status == 200 && (hdr_get(&x->up.resp, base, "accept-ranges", v, sizeof(v)) <= 0 ||
                             strcasecmp(v, "bytes") != 0))
        return 0;
    if (!sh) {
        sh = x->px->segs = calloc(1, sizeof(*sh));
        if (!sh)
            return 0;
        sh->budget.cap = SEGF_BUDGET;
    }
    f = calloc(1, sizeof(*f));
    if (!f)
        return 0;
    f->src.ops = &segf_ops;
    f->x = x;
    if (seglanes_init(f) != 0) {
        free(f);
        return 0;
    }
    f->sh = sh;
    f->t_head = loop_now(x->px->loop);
    f->total = (uint64_t)total;
    snprintf(f->host, sizeof(f->host), "%s", x->up.host);
    f->up_flags = x->up.up_flags;
    f->nconn = cfg->segments;
    for (i = 0; i < f->nconn; i++)
        segconn_init(&f->conn[i], f);
    timer_init(&f->tick, segf_tick, f);
    loop_timer_set(x->px->loop, &f->tick, SEGF_WATCH_MS);
    x->segf = f;
    return 1;
}

/* Whether the segments go into the cache fill at their offsets (sink
 * mode): x fills the cache with the whole blob (a 200, not a client's own
 * Range), and no write into the cache failed on this loop lately. Then
 * the client's body becomes the fill's growing file from its position
 * on, opened here. Returns 1 for sink mode. */
static int sink_open(struct segfetch *f, uint64_t now)
{
    struct exchange *x = f->x;
    struct cache_blob *b;

    if (!xcache_filling(x) || x->status != 200 || now < f->sh->nosink_until ||
        cache_blob_open(x->px->cache, x->xc->hex, &b) != 0)
        return 0;
    return cachesrc_init(&f->disk, b, x->bytes_out, CACHE_SIZE_UNKNOWN) == 0;
}

/* After SEGF_WATCH_MS of the first connection alone: a blob still far from
 * done on a slow connection (a link shaped per flow) goes on in segments
 * from the client's position; a fast one stays as it is, since buffering
 * segments ahead of the client would only cost. Returns 1 on a switch. */
static int segf_switch(struct segfetch *f)
{
    struct exchange *x = f->x;
    const struct config *cfg = &x->gen->cfg;
    uint64_t now = loop_now(x->px->loop), ms = now - f->t_head;
    uint64_t len = (uint64_t)x->body_len, rate;
    struct seg_task t;

    if (f->declined || ms < SEGF_WATCH_MS || x->state != XCH_BODY)
        return 0;
    rate = x->body_rx * 1000 / ms;  /* ms >= SEGF_WATCH_MS */
    f->declined = 1;
    /* a resumed body may have moved to another link: stay on it */
    if (rate >= SEGF_FAST_RATE || x->body_rx + cfg->segment_size > len ||
        x->bytes_out > x->body_rx || x->resume_tries)
        return 0;
    /* a client's own range starts at range_base in the blob */
    f->base = (uint64_t)x->range_base + x->bytes_out;
    f->sink = sink_open(f, now);
    f->seg = seg_new(&(struct seg_params){.length = len - x->bytes_out,
                                          .min_len = 0,
                                          .seg_size = cfg->segment_size,
                                          .max_conns = cfg->segments,
                                          .sink = f->sink},
                     &f->sh->budget);
    if (!f->seg || !seg_next(f->seg, &t) ||
        seg_prove(f->seg, t.ticket, len - x->bytes_out, 1) != SEG_M_MULTI) {
        seg_free(f->seg);
        f->seg = NULL;
        if (f->sink)
            cachesrc_free(&f->disk);
        f->sink = 0;
        return 0;
    }
    f->probe = t.ticket;
    f->probe_progress = now;
    f->probe_bytes = x->bytes_out;  /* the first connection's, before the switch */
    /* the first connection hashed and cached what it parsed; the rest is
     * hashed and cached as the client takes it (segf_consume), or, in
     * sink mode, cached as it arrives and hashed by the fill */
    f->digest = x->digest;
    x->digest = NULL;
    if (f->sink) {
        digest_free(f->digest);
        f->digest = NULL;
    }
    f->hash_from = x->body_rx - x->bytes_out;
    x->body = &f->src;
    loop_timer_set(x->px->loop, &f->tick, SEGF_TICK_MS);
    log_info("client %s: %s %s: %lld bytes from %s at %.1f MiB/s: on in segments of %zu, "
             "%u at a time, from byte %llu%s%s", x->cl.peer, x->host, x->log_path,
             (long long)x->body_len, f->host, (double)rate / 1048576.0, cfg->segment_size,
             cfg->segments, (unsigned long long)f->base,
             f->nlanes > 1 ? ", over several links" : "",
             f->sink ? ", written into the cache as they arrive" : "");
    return 1;
}

int segfetch_active(const struct segfetch *f)
{
    return f && f->seg;
}

void segfetch_update(struct segfetch *f)
{
    unsigned i;

    for (i = 0; i < f->nconn; i++)
        segconn_update(&f->conn[i]);
}

void segfetch_flush(struct segfetch *f)
{
    unsigned i;

    for (i = 0; i < f->nconn; i++)
        if (ep_open(&f->conn[i].up) && !f->conn[i].pending)
            ep_flush(&f->conn[i].up);
}

void segfetch_stop(struct segfetch *f)
{
    unsigned i;

    loop_timer_del(f->x->px->loop, &f->tick);
    for (i = 0; i < f->nconn; i++)
        if (ep_open(&f->conn[i].up) && !f->conn[i].pending)
            loop_del(f->x->px->loop, f->conn[i].up.fd);
}

unsigned segfetch_count(const struct segfetch *f)
{
    return f->seg ? seg_stats(f->seg)->done : 0;
}

void segfetch_free(struct segfetch *f)
{
    unsigned i;

    if (!f)
        return;
    loop_timer_del(f->x->px->loop, &f->tick);
    for (i = 0; i < f->nconn; i++)
        segconn_free(&f->conn[i]);
    seg_free(f->seg);
    digest_free(f->digest);
    if (f->sink)
        cachesrc_free(&f->disk);
    free(f);
}

void segfetch_shared_free(struct seg_shared *sh)
{
    free(sh);
}
