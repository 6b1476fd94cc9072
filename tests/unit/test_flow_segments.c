/* test_flow_segments.c — a segmented blob fetch on the real event loop
 * (flow_segments_util.h): the first connection goes alone for half a
 * second, then the rest comes as Range requests on more connections, out
 * of order, and the client gets one 200 with every byte in order,
 * verified; an origin that answers a range with 200 leaves the blob to the
 * first connection; a client's own Range is segmented too (its 206, in
 * blob offsets); with segments_across_links the segments go over the other
 * link too, and back to the request's own when it fails. Each segment and
 * each blob fetched whole counts in the throughput histogram. With the
 * blob cache on: test_flow_segments_cache.c. */
#include "flow_segments_util.h"

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
