/* test_flow_segments.c — a segmented blob fetch on the real event loop
 * (flow_test_util.h): the first connection goes alone for half a second,
 * then the rest comes as Range requests on more connections, out of order,
 * and the client gets one 200 with every byte in order, verified; an
 * origin that answers a range with 200 leaves the blob to the first
 * connection; with the blob cache on, the segmented blob fills it, its
 * segments written at their offsets as they arrive whatever the client's
 * pace (a cut segment fetched on from where it stopped; a wrong byte
 * keeps the fill out of the cache and the client short; a fill that
 * cannot be written resets the client, and the retry goes through
 * memory); a client's own Range is segmented too (its 206, in blob offsets); with
 * segments_across_links the segments go over the other link too, and
 * back to the request's own when it fails. Each segment and each blob
 * fetched whole counts in the throughput histogram. [upstream]
 * segments = 2, segment_min = segment_size = 1MiB, a 3 MiB blob. */
#include "flow_test_util.h"

#include <signal.h>
#include <sys/resource.h>

#include "mitm/segfetch_int.h"
#include "proxy/core/links.h"

#define MIB 1048576u
#define BLOB_LEN (3u * MIB)
#define FIRST 100000u           /* bytes the first connection sends at once */
/* where segments start: the client's position, one byte short of FIRST
 * (verify_digest = always holds back the last byte received) */
#define B (FIRST - 1)

static char *blob;
static char blob_hex[65];

static int setup(void **state)
{
    size_t i;

    blob = malloc(BLOB_LEN);
    assert_non_null(blob);
    for (i = 0; i < BLOB_LEN; i++)
        blob[i] = (char)(i * 13 + i / 4093);
    flow_sha256(blob, BLOB_LEN, blob_hex);
    flow_setup(state);
    gen_unref(W.px.gen);
    W.px.gen = flow_gen("[upstream]\nsegments = 2\nsegment_min = 1MiB\nsegment_size = 1MiB\n",
                        NULL);
    W.px.cfg = &W.px.gen->cfg;
    W.px.metrics = metrics_new();
    assert_non_null(W.px.metrics);
    return 0;
}

static int setup_cache(void **state)
{
    setup(state);
    flow_open_cache();
    return 0;
}

/* The same with segments_across_links = yes: the flow config's via is
 * "direct, socks5://127.0.0.1:9". */
static int setup_across(void **state)
{
    setup(state);
    gen_unref(W.px.gen);
    W.px.gen = flow_gen("[upstream]\nsegments = 2\nsegment_min = 1MiB\nsegment_size = 1MiB\n"
                        "segments_across_links = yes\n", NULL);
    W.px.cfg = &W.px.gen->cfg;
    return 0;
}

/* segments_across_links with segments = 3 and a relay of Docker Hub last in
 * via (direct, socks5://127.0.0.1:9, relay:https://hub.relay.test). */
static int setup_across_relay(void **state)
{
    setup(state);
    gen_unref(W.px.gen);
    W.px.gen = flow_gen("[upstream]\nsegments = 3\nsegment_min = 1MiB\nsegment_size = 1MiB\n"
                        "segments_across_links = yes\nvia = relay:https://hub.relay.test\n",
                        NULL);
    W.px.cfg = &W.px.gen->cfg;
    assert_int_equal(W.px.gen->links.n, 3);
    return 0;
}

static int teardown(void **state)
{
    free(blob);
    blob = NULL;
    return flow_teardown(state);
}

struct send_wait {
    struct flow_sink *s;
    int fd;
};

static int drain_until_writable(void *arg)
{
    struct send_wait *w = arg;

    flow_sink_step(w->s);
    return flow_writable(&w->fd);
}

/* Sends p[0..n) on the origin end fd, draining the client into s. */
static void send_draining(int fd, const char *p, size_t n, struct flow_sink *s)
{
    struct send_wait w = {s, fd};

    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

        if (k < 0) {
            assert_int_equal(errno, EAGAIN);
            assert_true(flow_run_until(drain_until_writable, &w));
            continue;
        }
        p += k;
        n -= (size_t)k;
    }
}

static void sink_init(struct flow_sink *s, int fd)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
}

/* The client end got one 200 with the whole blob. */
static void expect_whole(struct flow_sink *s)
{
    const char *e;
    size_t head;

    s->want = 0;
    while (!s->eof) {
        e = strstr(s->buf ? s->buf : "", "\r\n\r\n");
        if (e && s->len >= (size_t)(e + 4 - s->buf) + BLOB_LEN)
            break;
        s->want = s->len + 1;
        if (!flow_run_until(flow_sink_step, s))
            break;
    }
    e = strstr(s->buf, "\r\n\r\n");
    assert_non_null(e);
    head = (size_t)(e + 4 - s->buf);
    assert_true(strncmp(s->buf, "HTTP/1.1 200 ", 13) == 0);
    assert_int_equal(s->len - head, BLOB_LEN);
    assert_memory_equal(s->buf + head, blob, BLOB_LEN);
}

/* Observations of the throughput histogram for link and kind. */
static double rate_count(const char *link, const char *kind)
{
    char lb[256];

    metrics_label(lb, sizeof(lb), "link", link, "kind", kind, METRICS_END);
    return metrics_sum(&W.px.metrics, 1, "hubgate_upstream_throughput_bytes_per_second_count",
                       lb);
}

static void answer_206(int fd, size_t from, size_t to, struct flow_sink *s)
{
    char h[256];
    int n = snprintf(h, sizeof(h),
                     "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %zu-%zu/%u\r\n"
                     "Content-Length: %zu\r\n\r\n", from, to, BLOB_LEN, to - from + 1);

    send_draining(fd, h, (size_t)n, s);
    send_draining(fd, blob + from, to - from + 1, s);
}

/* Starts the blob: GET, the first connection's 200 head and FIRST bytes,
 * then waits for the second connection (after the half-second watch);
 * the first is upstream number i (0: the test's first). Returns its
 * request in req; *o0, *o1: the origin ends. */
static void start_nth(int i, int cl, struct flow_sink *s, int *o0, int *o1, char *req,
                      size_t reqlen)
{
    int two = i + 2;

    flow_sendf(cl, "GET /v2/lib/x/blobs/sha256:%s HTTP/1.1\r\nHost: registry.test\r\n"
               "Authorization: Bearer t0ken\r\n\r\n", blob_hex);
    *o0 = flow_origin(i);
    flow_origin_request_draining(*o0, s, req, reqlen);
    assert_null(strstr(req, "Range:"));
    flow_sendf(*o0, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\nAccept-Ranges: bytes\r\n\r\n",
               BLOB_LEN);
    send_draining(*o0, blob, FIRST, s);
    while (!flow_nopens_is(&two))
        assert_true(flow_run_until(flow_nopens_is, &two));
    *o1 = flow_origin(i + 1);
    flow_origin_request_draining(*o1, s, req, reqlen);
}

static void start(int cl, struct flow_sink *s, int *o0, int *o1, char *req, size_t reqlen)
{
    start_nth(0, cl, s, o0, o1, req, reqlen);
}

/* The first connection's 200, a segment before the first connection's
 * next byte, the last segment on the pooled second connection: the client
 * gets the whole blob in order. */
static void segmented_blob(void)
{
    int cl = flow_client(1, "registry.test"), o0, o1;
    struct flow_sink s;
    char req[4096], want[80];

    sink_init(&s, cl);
    start(cl, &s, &o0, &o1, req, sizeof(req));
    /* segments_across_links is off: the request's own link */
    assert_int_equal(W.opens[1].via, LINK_DIRECT);
    /* from the client's position: the second segment */
    snprintf(want, sizeof(want), "Range: bytes=%u-%u\r\n", B + MIB, B + 2 * MIB - 1);
    if (!strstr(req, want))
        fail_msg("want %s in: %s", want, req);
    /* it arrives before the first connection's next byte */
    answer_206(o1, B + MIB, B + 2 * MIB - 1, &s);
    send_draining(o0, blob + FIRST, MIB, &s);
    /* the last one, on the pooled second connection */
    flow_origin_request_draining(o1, &s, req, sizeof(req));
    snprintf(want, sizeof(want), "Range: bytes=%u-%u\r\n", B + 2 * MIB, BLOB_LEN - 1);
    assert_non_null(strstr(req, want));
    answer_206(o1, B + 2 * MIB, BLOB_LEN - 1, &s);
    expect_whole(&s);
    /* the first connection's segment and the two others */
    assert_true(rate_count("direct", "segment") == 3);
    assert_true(rate_count("direct", "blob") == 0);
    free(s.buf);
    close(cl);
}

/* The client's body: a 206 head then want bytes equal to p. */
static void expect_range(struct flow_sink *s, const char *p, size_t want)
{
    size_t head;

    s->want = 0;
    while (!s->eof && (!flow_head_len(s->buf) || s->len < flow_head_len(s->buf) + want)) {
        s->want = s->len + 1;
        if (!flow_run_until(flow_sink_step, s))
            break;
    }
    head = flow_head_len(s->buf);
    assert_true(head > 0);
    if (strncmp(s->buf, "HTTP/1.1 206 ", 13) != 0)
        fail_msg("want a 206, got: %.200s", s->buf);
    assert_non_null(strstr(s->buf, "Content-Range: bytes "));
    assert_int_equal(s->len - head, want);
    assert_memory_equal(s->buf + head, p, want);
}

/* A client's own Range, answered 206 by the origin: after the watch the
 * rest of the range comes in segments asked for in blob offsets, and the
 * client gets the origin's 206 head and the range's bytes in order (no
 * digest check: not the whole blob). */
static void test_client_range(void **state)
{
    const size_t r0 = 300000, r1 = BLOB_LEN - 1001, at = r0 + FIRST;
    int cl = flow_client(1, "registry.test"), o0, o1, two = 2;
    struct flow_sink s;
    char req[4096], want[80];

    (void)state;
    sink_init(&s, cl);
    flow_sendf(cl, "GET /v2/lib/x/blobs/sha256:%s HTTP/1.1\r\nHost: registry.test\r\n"
               "Range: bytes=%zu-%zu\r\n\r\n", blob_hex, r0, r1);
    o0 = flow_origin(0);
    flow_origin_request_draining(o0, &s, req, sizeof(req));
    snprintf(want, sizeof(want), "Range: bytes=%zu-%zu\r\n", r0, r1);
    assert_non_null(strstr(req, want));
    /* as nginx answers a range: no Accept-Ranges in a 206 */
    flow_sendf(o0, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %zu-%zu/%u\r\n"
               "Content-Length: %zu\r\n\r\n", r0, r1, BLOB_LEN, r1 - r0 + 1);
    send_draining(o0, blob + r0, FIRST, &s);
    while (!flow_nopens_is(&two))
        assert_true(flow_run_until(flow_nopens_is, &two));
    o1 = flow_origin(1);
    flow_origin_request_draining(o1, &s, req, sizeof(req));
    /* the client had all FIRST bytes (no digest holds one back): the second
     * segment starts a segment past them, in blob offsets */
    snprintf(want, sizeof(want), "Range: bytes=%zu-%zu\r\n", at + MIB, at + 2 * MIB - 1);
    if (!strstr(req, want))
        fail_msg("want %s in: %s", want, req);
    answer_206(o1, at + MIB, at + 2 * MIB - 1, &s);
    send_draining(o0, blob + at, MIB, &s);
    flow_origin_request_draining(o1, &s, req, sizeof(req));
    snprintf(want, sizeof(want), "Range: bytes=%zu-%zu\r\n", at + 2 * MIB, r1);
    if (!strstr(req, want))
        fail_msg("want %s in: %s", want, req);
    answer_206(o1, at + 2 * MIB, r1, &s);
    expect_range(&s, blob + r0, r1 - r0 + 1);
    assert_int_equal(W.nopens, 2);
    free(s.buf);
    close(cl);
}

/* Segments with [upstream] segments_across_links = yes, the first
 * connection on direct: the next segment goes over the other link
 * (socks5), toward the same origin, and is counted under that link. */
static void test_across_links(void **state)
{
    int cl = flow_client(1, "registry.test"), o0, o1;
    struct flow_sink s;
    char req[4096], want[80];

    (void)state;
    sink_init(&s, cl);
    start(cl, &s, &o0, &o1, req, sizeof(req));
    assert_int_equal(W.opens[0].via, LINK_DIRECT);
    assert_int_equal(W.opens[1].via, LINK_SOCKS5);
    assert_string_equal(W.opens[1].host, "registry.test");
    assert_int_equal(W.opens[1].port, 443);
    snprintf(want, sizeof(want), "Range: bytes=%u-%u\r\n", B + MIB, B + 2 * MIB - 1);
    assert_non_null(strstr(req, want));
    assert_non_null(strstr(req, "Host: registry.test\r\n"));
    answer_206(o1, B + MIB, B + 2 * MIB - 1, &s);
    send_draining(o0, blob + FIRST, MIB, &s);
    flow_origin_request_draining(o1, &s, req, sizeof(req));
    answer_206(o1, B + 2 * MIB, BLOB_LEN - 1, &s);
    expect_whole(&s);
    assert_true(metrics_sum(&W.px.metrics, 1, "hubgate_segments_total",
                            "link=\"socks5://127.0.0.1:9\"") == 2);
    assert_true(metrics_sum(&W.px.metrics, 1, "hubgate_segments_total",
                            "link=\"direct\"") == 1);
    assert_true(rate_count("socks5://127.0.0.1:9", "segment") == 2);
    free(s.buf);
    close(cl);
}

/* The other link cannot connect: it rests, and the segment is fetched
 * again on the request's own link; the client gets the whole blob. */
static void test_across_links_failover(void **state)
{
    int cl = flow_client(1, "registry.test"), o0, o2, two = 2;
    struct flow_sink s;
    char req[4096], want[80];

    (void)state;
    W.fail_mask = 1u << 1;
    sink_init(&s, cl);
    flow_sendf(cl, "GET /v2/lib/x/blobs/sha256:%s HTTP/1.1\r\nHost: registry.test\r\n\r\n",
               blob_hex);
    o0 = flow_origin(0);
    flow_origin_request_draining(o0, &s, req, sizeof(req));
    flow_sendf(o0, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\nAccept-Ranges: bytes\r\n\r\n",
               BLOB_LEN);
    send_draining(o0, blob, FIRST, &s);
    while (!flow_nopens_is(&two))
        assert_true(flow_run_until(flow_nopens_is, &two));
    assert_int_equal(W.opens[1].via, LINK_SOCKS5);
    o2 = flow_origin(2);
    assert_int_equal(W.opens[2].via, LINK_DIRECT);
    assert_false(links_awake(&W.px.gen->links, 1, loop_now(W.px.loop)));
    flow_origin_request_draining(o2, &s, req, sizeof(req));
    snprintf(want, sizeof(want), "Range: bytes=%u-%u\r\n", B + MIB, B + 2 * MIB - 1);
    assert_non_null(strstr(req, want));
    answer_206(o2, B + MIB, B + 2 * MIB - 1, &s);
    send_draining(o0, blob + FIRST, MIB, &s);
    flow_origin_request_draining(o2, &s, req, sizeof(req));
    answer_206(o2, B + 2 * MIB, BLOB_LEN - 1, &s);
    expect_whole(&s);
    assert_int_equal(W.nopens, 3);
    free(s.buf);
    close(cl);
}

/* The first connection's 200 (FIRST bytes of it), then the segment
 * connections opened after the watch: until n upstreams were opened. */
static void start_until_opens(int cl, struct flow_sink *s, int n)
{
    char req[4096];
    int o0;

    flow_sendf(cl, "GET /v2/lib/x/blobs/sha256:%s HTTP/1.1\r\nHost: registry.test\r\n\r\n",
               blob_hex);
    o0 = flow_origin(0);
    flow_origin_request_draining(o0, s, req, sizeof(req));
    flow_sendf(o0, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\nAccept-Ranges: bytes\r\n\r\n",
               BLOB_LEN);
    send_draining(o0, blob, FIRST, s);
    while (!flow_nopens_is(&n))
        assert_true(flow_run_until(flow_nopens_is, &n));
}

/* The relay cannot carry registry.test (it relays Docker Hub only): no
 * segment goes there; the two segment connections go to socks5 and, on
 * a tie, the request's own link. */
static void test_across_links_not_the_relay(void **state)
{
    int cl = flow_client(1, "registry.test");
    struct flow_sink s;

    (void)state;
    sink_init(&s, cl);
    start_until_opens(cl, &s, 3);
    assert_int_equal(W.opens[0].via, LINK_DIRECT);
    assert_int_equal(W.opens[1].via, LINK_SOCKS5);
    assert_int_equal(W.opens[2].via, LINK_DIRECT);
    assert_string_equal(W.opens[1].host, "registry.test");
    assert_string_equal(W.opens[2].host, "registry.test");
    free(s.buf);
    close(cl);
}

/* A resting link gets no segment: with socks5 resting, both segment
 * connections stay on direct. */
static void test_across_links_not_resting(void **state)
{
    int cl = flow_client(1, "registry.test");
    struct flow_sink s;

    (void)state;
    links_rest(&W.px.gen->links, 1, loop_now(W.px.loop), 60000, 0, "test");
    sink_init(&s, cl);
    start_until_opens(cl, &s, 3);
    assert_int_equal(W.opens[1].via, LINK_DIRECT);
    assert_int_equal(W.opens[2].via, LINK_DIRECT);
    free(s.buf);
    close(cl);
}

/* A blob that comes whole within the first half second: not segmented,
 * one observation of kind blob. */
static void test_fast_blob_rate(void **state)
{
    int cl = flow_client(1, "registry.test"), o0;
    struct flow_sink s;
    char req[4096];

    (void)state;
    sink_init(&s, cl);
    flow_sendf(cl, "GET /v2/lib/x/blobs/sha256:%s HTTP/1.1\r\nHost: registry.test\r\n\r\n",
               blob_hex);
    o0 = flow_origin(0);
    flow_origin_request_draining(o0, &s, req, sizeof(req));
    flow_sendf(o0, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\nAccept-Ranges: bytes\r\n\r\n",
               BLOB_LEN);
    send_draining(o0, blob, BLOB_LEN, &s);
    expect_whole(&s);
    assert_int_equal(W.nopens, 1);
    assert_true(rate_count("direct", "blob") == 1);
    assert_true(rate_count("direct", "segment") == 0);
    assert_true(metrics_sum(&W.px.metrics, 1,
                            "hubgate_upstream_throughput_bytes_per_second_sum",
                            "link=\"direct\",kind=\"blob\"") > 0);
    free(s.buf);
    close(cl);
}

static void test_segments_out_of_order(void **state)
{
    (void)state;
    segmented_blob();
}

/* With the blob cache on, a segmented blob fills it (in order, as the
 * client takes the bytes): kept whole and verified, and the next request
 * with the same token is a hit with no upstream connection. */
static void test_segments_fill_the_cache(void **state)
{
    struct cache_blob *b;
    enum cache_blob_state st;
    struct flow_sink s;
    int cl;

    (void)state;
    segmented_blob();
    assert_int_equal(W.nopens, 2);
    /* the fill is finished (fsync, rename) on the cache's own thread */
    cache_fill_finish_wait(W.px.cache);
    assert_int_equal(cache_blob_open(W.px.cache, blob_hex, &b), 0);
    assert_int_equal(cache_blob_avail(b, &st), BLOB_LEN);
    assert_int_equal(st, CACHE_BLOB_COMPLETE);
    cache_blob_close(b);
    cl = flow_client(1, "registry.test");
    flow_sendf(cl, "GET /v2/lib/x/blobs/sha256:%s HTTP/1.1\r\nHost: registry.test\r\n"
               "Authorization: Bearer t0ken\r\n\r\n", blob_hex);
    sink_init(&s, cl);
    expect_whole(&s);
    assert_int_equal(W.nopens, 2);
    free(s.buf);
    close(cl);
}

/* The 206 for blob bytes [from, to] on origin end fd, the client not
 * read meanwhile. */
static void answer_206_quiet(int fd, size_t from, size_t to)
{
    flow_sendf(fd, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %zu-%zu/%u\r\n"
               "Content-Length: %zu\r\n\r\n", from, to, BLOB_LEN, to - from + 1);
    flow_send(fd, blob + from, to - from + 1);
}

/* The blob is kept: verified and renamed. */
static int blob_complete(void *arg)
{
    enum cache_blob_state st = CACHE_BLOB_FILLING;
    struct cache_blob *b;

    (void)arg;
    if (cache_blob_open(W.px.cache, blob_hex, &b) != 0)
        return 0;
    cache_blob_avail(b, &st);
    cache_blob_close(b);
    return st == CACHE_BLOB_COMPLETE;
}

/* With the cache on, segments go into the fill's file at their offsets
 * as they arrive, not at the client's pace: after its first bytes the
 * client reads nothing while the origins send every segment (the second
 * before the first), no segment byte counts against the loop's memory
 * budget, and the blob is verified and kept before the client read on;
 * then the client reads the whole blob, from the file. (Were the
 * segments held for the client, the window would never let the last
 * one be asked for.) */
static void test_segments_fill_ahead_of_client(void **state)
{
    int cl = flow_client(1, "registry.test"), o0, o1;
    struct cache_blob *b;
    enum cache_blob_state st;
    struct flow_sink s;
    char req[4096], want[80];
    size_t had;

    (void)state;
    sink_init(&s, cl);
    start(cl, &s, &o0, &o1, req, sizeof(req));
    had = s.len;
    assert_true(had <= flow_head_len(s.buf) + FIRST);
    snprintf(want, sizeof(want), "Range: bytes=%u-%u\r\n", B + MIB, B + 2 * MIB - 1);
    if (!strstr(req, want))
        fail_msg("want %s in: %s", want, req);
    answer_206_quiet(o1, B + MIB, B + 2 * MIB - 1);
    assert_int_equal(W.px.segs->budget.used, 0);
    /* the rest of the first connection's segment */
    flow_send(o0, blob + FIRST, B + MIB - FIRST);
    flow_origin_request(o1, req, sizeof(req));
    snprintf(want, sizeof(want), "Range: bytes=%u-%u\r\n", B + 2 * MIB, BLOB_LEN - 1);
    if (!strstr(req, want))
        fail_msg("want %s in: %s", want, req);
    answer_206_quiet(o1, B + 2 * MIB, BLOB_LEN - 1);
    assert_int_equal(W.px.segs->budget.used, 0);
    assert_true(flow_run_until(blob_complete, NULL));
    cache_fill_finish_wait(W.px.cache);
    assert_int_equal(cache_blob_open(W.px.cache, blob_hex, &b), 0);
    assert_int_equal(cache_blob_avail(b, &st), BLOB_LEN);
    assert_int_equal(st, CACHE_BLOB_COMPLETE);
    cache_blob_close(b);
    assert_int_equal(s.len, had);
    expect_whole(&s);
    assert_int_equal(W.nopens, 2);
    free(s.buf);
    close(cl);
}

static int no_carries(void *arg)
{
    (void)arg;
    return W.px.ncarries == 0;
}

/* With the cache on, the client leaves while the segments are out: the
 * fill is carried on (carry.h), the segments still land at their offsets,
 * and the blob is kept; the next request is a hit with no upstream. */
static void test_segments_fill_client_leaves(void **state)
{
    int cl = flow_client(1, "registry.test"), o0, o1;
    struct flow_sink s;
    char req[4096];

    (void)state;
    sink_init(&s, cl);
    start(cl, &s, &o0, &o1, req, sizeof(req));
    answer_206_quiet(o1, B + MIB, B + 2 * MIB - 1);
    close(cl);
    free(s.buf);
    /* the client's connection sees it gone at its next write */
    flow_send(o0, blob + FIRST, B + MIB - FIRST);
    assert_true(flow_run_until(flow_no_conns, NULL));
    assert_int_equal(W.px.ncarries, 1);
    flow_origin_request(o1, req, sizeof(req));
    answer_206_quiet(o1, B + 2 * MIB, BLOB_LEN - 1);
    assert_true(flow_run_until(no_carries, NULL));
    assert_true(flow_run_until(blob_complete, NULL));
    cl = flow_client(1, "registry.test");
    flow_sendf(cl, "GET /v2/lib/x/blobs/sha256:%s HTTP/1.1\r\nHost: registry.test\r\n"
               "Authorization: Bearer t0ken\r\n\r\n", blob_hex);
    sink_init(&s, cl);
    expect_whole(&s);
    assert_int_equal(W.nopens, 2);
    free(s.buf);
    close(cl);
}

/* With the cache on, a segment connection cut in the middle: the rest of
 * its segment is fetched again on a new connection and written on at its
 * offsets, the first connection's segment arriving after both; the blob
 * is kept whole and the client gets it. */
static void test_segments_fill_segment_cut(void **state)
{
    const size_t half = 300000;
    int cl = flow_client(1, "registry.test"), o0, o1, o2, three = 3;
    struct flow_sink s;
    char req[4096], want[80], h[256];

    (void)state;
    sink_init(&s, cl);
    start(cl, &s, &o0, &o1, req, sizeof(req));
    snprintf(h, sizeof(h), "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %u-%u/%u\r\n"
             "Content-Length: %u\r\n\r\n", B + MIB, B + 2 * MIB - 1, BLOB_LEN, MIB);
    send_draining(o1, h, strlen(h), &s);
    send_draining(o1, blob + B + MIB, half, &s);
    close(o1);
    W.opens[1].origin = -1;
    while (!flow_nopens_is(&three))
        assert_true(flow_run_until(flow_nopens_is, &three));
    o2 = flow_origin(2);
    flow_origin_request_draining(o2, &s, req, sizeof(req));
    snprintf(want, sizeof(want), "Range: bytes=%zu-%u\r\n", B + MIB + half, B + 2 * MIB - 1);
    if (!strstr(req, want))
        fail_msg("want %s in: %s", want, req);
    answer_206(o2, B + MIB + half, B + 2 * MIB - 1, &s);
    send_draining(o0, blob + FIRST, B + MIB - FIRST, &s);
    flow_origin_request_draining(o2, &s, req, sizeof(req));
    answer_206(o2, B + 2 * MIB, BLOB_LEN - 1, &s);
    expect_whole(&s);
    cache_fill_finish_wait(W.px.cache);
    assert_true(blob_complete(NULL));
    free(s.buf);
    close(cl);
}

/* With the cache on, a segment with a wrong byte: the fill does not match
 * the digest and is not kept, and the client, short of the last byte, is
 * reset (dockerd retries). */
static void test_segments_fill_bad_byte(void **state)
{
    int cl = flow_client(1, "registry.test"), o0, o1;
    struct cache_blob *b;
    struct flow_sink s;
    char req[4096];

    (void)state;
    sink_init(&s, cl);
    start(cl, &s, &o0, &o1, req, sizeof(req));
    blob[B + MIB + 12345] ^= 1;
    answer_206(o1, B + MIB, B + 2 * MIB - 1, &s);
    blob[B + MIB + 12345] ^= 1;
    send_draining(o0, blob + FIRST, B + MIB - FIRST, &s);
    flow_origin_request_draining(o1, &s, req, sizeof(req));
    answer_206(o1, B + 2 * MIB, BLOB_LEN - 1, &s);
    s.want = 0;
    flow_run_until(flow_sink_step, &s);
    assert_true(s.eof);
    assert_true(flow_head_len(s.buf) > 0);
    assert_true(s.len - flow_head_len(s.buf) < BLOB_LEN);
    cache_fill_finish_wait(W.px.cache);
    assert_int_equal(cache_blob_open(W.px.cache, blob_hex, &b), -ENOENT);
    free(s.buf);
    close(cl);
}

static struct rlimit fsize_was;

/* The cache on, and files of this process limited to 2 MiB (with
 * SIGXFSZ ignored, a write past it fails with EFBIG), so that a fill of
 * the 3 MiB blob cannot be written to its end, as on a full disk. */
static int setup_cache_fsize(void **state)
{
    struct rlimit r;

    setup_cache(state);
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &fsize_was), 0);
    r = fsize_was;
    r.rlim_cur = 2 * MIB;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &r), 0);
    return 0;
}

static int teardown_fsize(void **state)
{
    setrlimit(RLIMIT_FSIZE, &fsize_was);
    signal(SIGXFSZ, SIG_DFL);
    return teardown(state);
}

/* A segment that cannot be written into the fill: the client is reset
 * (dockerd retries); the retry's segments go through memory, its fill
 * (written in order) fails too and is dropped, and the client gets the
 * whole blob. */
static void test_segments_fill_write_fails(void **state)
{
    int cl = flow_client(1, "registry.test"), o0, o1;
    struct cache_blob *b;
    struct flow_sink s;
    char req[4096];

    (void)state;
    sink_init(&s, cl);
    start(cl, &s, &o0, &o1, req, sizeof(req));
    /* bytes past 2 MiB cannot be written: the client is cut short */
    answer_206_quiet(o1, B + MIB, B + 2 * MIB - 1);
    s.want = 0;
    flow_run_until(flow_sink_step, &s);
    assert_true(s.eof);
    assert_true(s.len < flow_head_len(s.buf) + BLOB_LEN);
    free(s.buf);
    close(cl);
    assert_int_equal(cache_blob_open(W.px.cache, blob_hex, &b), -ENOENT);
    /* the retry */
    cl = flow_client(1, "registry.test");
    sink_init(&s, cl);
    start_nth(2, cl, &s, &o0, &o1, req, sizeof(req));
    answer_206(o1, B + MIB, B + 2 * MIB - 1, &s);
    send_draining(o0, blob + FIRST, MIB, &s);
    flow_origin_request_draining(o1, &s, req, sizeof(req));
    answer_206(o1, B + 2 * MIB, BLOB_LEN - 1, &s);
    expect_whole(&s);
    assert_int_equal(W.nopens, 4);
    cache_fill_finish_wait(W.px.cache);
    assert_int_equal(cache_blob_open(W.px.cache, blob_hex, &b), -ENOENT);
    free(s.buf);
    close(cl);
}

/* The second connection's answer is the whole blob (Range ignored): the
 * first connection carries on with the rest, the client sees nothing. */
static void test_range_ignored(void **state)
{
    int cl = flow_client(1, "registry.test"), o0, o1;
    struct flow_sink s;
    char req[4096];

    (void)state;
    sink_init(&s, cl);
    start(cl, &s, &o0, &o1, req, sizeof(req));
    flow_sendf(o1, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BLOB_LEN);
    send_draining(o0, blob + FIRST, BLOB_LEN - FIRST, &s);
    expect_whole(&s);
    free(s.buf);
    close(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_segments_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_the_cache, setup_cache, teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_client_leaves, setup_cache, teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_ahead_of_client, setup_cache,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_segment_cut, setup_cache, teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_bad_byte, setup_cache, teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_write_fails, setup_cache_fsize,
                                        teardown_fsize),
        cmocka_unit_test_setup_teardown(test_fast_blob_rate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_across_links, setup_across, teardown),
        cmocka_unit_test_setup_teardown(test_across_links_failover, setup_across, teardown),
        cmocka_unit_test_setup_teardown(test_across_links_not_the_relay, setup_across_relay,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_across_links_not_resting, setup_across_relay,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
