/* flow_segments_util.h — what the segmented-fetch flow tests share
 * (test_flow_segments.c, test_flow_segments_cache.c): [upstream]
 * segments = 2, segment_min = segment_size = 1MiB, a 3 MiB blob; the
 * set-up (with and without the blob cache), and the steps of a segmented
 * fetch on the real event loop (flow_test_util.h): the first connection's
 * 200, the switch to Range requests, answering them, draining the client. */
#ifndef HUBGATE_FLOW_SEGMENTS_UTIL_H
#define HUBGATE_FLOW_SEGMENTS_UTIL_H

#include "flow_test_util.h"

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

static __attribute__((unused)) int setup(void **state)
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

static __attribute__((unused)) int setup_cache(void **state)
{
    setup(state);
    flow_open_cache();
    return 0;
}

static __attribute__((unused)) int teardown(void **state)
{
    free(blob);
    blob = NULL;
    return flow_teardown(state);
}

struct send_wait {
    struct flow_sink *s;
    int fd;
};

static __attribute__((unused)) int drain_until_writable(void *arg)
{
    struct send_wait *w = arg;

    flow_sink_step(w->s);
    return flow_writable(&w->fd);
}

/* Sends p[0..n) on the origin end fd, draining the client into s. */
static __attribute__((unused)) void send_draining(int fd, const char *p, size_t n, struct flow_sink *s)
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

static __attribute__((unused)) void sink_init(struct flow_sink *s, int fd)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
}

/* The client end got one 200 with the whole blob. */
static __attribute__((unused)) void expect_whole(struct flow_sink *s)
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
static __attribute__((unused)) double rate_count(const char *link, const char *kind)
{
    char lb[256];

    metrics_label(lb, sizeof(lb), "link", link, "kind", kind, METRICS_END);
    return metrics_sum(&W.px.metrics, 1, "hubgate_upstream_throughput_bytes_per_second_count",
                       lb);
}

static __attribute__((unused)) void answer_206(int fd, size_t from, size_t to, struct flow_sink *s)
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
static __attribute__((unused)) void start_nth(int i, int cl, struct flow_sink *s, int *o0, int *o1, char *req,
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

static __attribute__((unused)) void start(int cl, struct flow_sink *s, int *o0, int *o1, char *req, size_t reqlen)
{
    start_nth(0, cl, s, o0, o1, req, reqlen);
}

/* The first connection's 200, a segment before the first connection's
 * next byte, the last segment on the pooled second connection: the client
 * gets the whole blob in order. */
static __attribute__((unused)) void segmented_blob(void)
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

#endif
