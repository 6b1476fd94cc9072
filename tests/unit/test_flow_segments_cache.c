/* test_flow_segments_cache.c — a segmented blob fetch with the blob cache
 * on, on the real event loop (flow_segments_util.h): the segmented blob
 * fills the cache, its segments written at their offsets as they arrive
 * whatever the client's pace; the client may leave (the fill is carried
 * on); a cut segment is fetched on from where it stopped; a wrong byte
 * keeps the fill out of the cache and the client short; a fill that
 * cannot be written resets the client, and the retry goes through
 * memory. */
#include "flow_segments_util.h"

#include <signal.h>
#include <sys/resource.h>

/* The blob, now kept, is a hit for the same token: the whole of it, and
 * no upstream connection beyond the two of the fill. */
static void expect_hit(void)
{
    int cl = flow_client(1, "registry.test");
    struct flow_sink s;

    flow_sendf(cl, "GET /v2/lib/x/blobs/sha256:%s HTTP/1.1\r\nHost: registry.test\r\n"
               "Authorization: Bearer t0ken\r\n\r\n", blob_hex);
    sink_init(&s, cl);
    expect_whole(&s);
    assert_int_equal(W.nopens, 2);
    free(s.buf);
    close(cl);
}

/* With the blob cache on, a segmented blob fills it: kept whole and
 * verified, and the next request with the same token is a hit with no
 * upstream connection. */
static void test_segments_fill_the_cache(void **state)
{
    struct cache_blob *b;
    enum cache_blob_state st;

    (void)state;
    segmented_blob();
    assert_int_equal(W.nopens, 2);
    /* the fill is finished (fsync, rename) on the cache's own thread */
    cache_fill_finish_wait(W.px.cache);
    assert_int_equal(cache_blob_open(W.px.cache, blob_hex, &b), 0);
    assert_int_equal(cache_blob_avail(b, &st), BLOB_LEN);
    assert_int_equal(st, CACHE_BLOB_COMPLETE);
    cache_blob_close(b);
    expect_hit();
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
    expect_hit();
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_segments_fill_the_cache, setup_cache, teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_client_leaves, setup_cache, teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_ahead_of_client, setup_cache,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_segment_cut, setup_cache, teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_bad_byte, setup_cache, teardown),
        cmocka_unit_test_setup_teardown(test_segments_fill_write_fails, setup_cache_fsize,
                                        teardown_fsize),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
