/* test_flow_cache.c — the exchange with the blob cache on the real event
 * loop (flow_test_util.h): a hit needs no upstream; concurrent requests
 * share one fetch (a second request with the same token waits for the
 * claimed fill, one with another token asks the registry with a HEAD, then
 * joins); the private-image rule (another repository's path, a token the
 * registry refuses: upstream's own answer, never the bytes); links that
 * rest after a failure are not tried again for what the cache answers
 * offline; a fill whose client leaves goes on for the cache (carry.h). */
#include "flow_test_util.h"


#define BLOB_LEN 300000u

static char *blob;
static char blob_hex[65];

static int setup_cache(void **state)
{
    size_t i;

    blob = malloc(BLOB_LEN);
    assert_non_null(blob);
    for (i = 0; i < BLOB_LEN; i++)
        blob[i] = (char)(i * 13 + i / 253);
    flow_sha256(blob, BLOB_LEN, blob_hex);
    flow_setup(state);
    flow_open_cache();
    return 0;
}

static int teardown_cache(void **state)
{
    free(blob);
    blob = NULL;
    return flow_teardown(state);
}

static void get_blob(int cl, const char *repo, const char *token)
{
    flow_sendf(cl, "GET /v2/%s/blobs/sha256:%s HTTP/1.1\r\nHost: registry.test\r\n"
               "Authorization: Bearer %s\r\n\r\n", repo, blob_hex, token);
}

/* The client end cl gets the whole blob with a 200. */
static void expect_blob(int cl)
{
    struct flow_sink s;
    size_t head;

    flow_sink_answer(&s, cl, BLOB_LEN);
    head = flow_head_len(s.buf);
    if (!head || s.len - head != BLOB_LEN) {
        size_t have = s.len;

        free(s.buf);
        fail_msg("client got %zu bytes, not one whole blob answer", have);
    }
    assert_true(strncmp(s.buf, "HTTP/1.1 200 ", 13) == 0);
    assert_memory_equal(s.buf + head, blob, BLOB_LEN);
    free(s.buf);
}

/* The client end cl gets status (and not the blob's bytes). */
static void expect_status(int cl, const char *status)
{
    struct flow_sink s;

    flow_sink_answer(&s, cl, 5);
    assert_non_null(s.buf);
    assert_true(strncmp(s.buf, status, strlen(status)) == 0);
    assert_null(memmem(s.buf, s.len, blob, 64));
    free(s.buf);
}

static int nopens_is(int n)
{
    return flow_run_until(flow_nopens_is, &n);
}

/* Client a asks for the blob under lib/x (registry 307, blob host: the
 * head and the first piece of the body sent); returns the blob host's end. */
static int fill_started(int a, size_t first)
{
    int o, blobs;
    char req[4096];

    get_blob(a, "lib/x", "t0ken");
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://blobs.test/d\r\n"
               "Content-Length: 0\r\n\r\n");
    blobs = flow_origin(1);
    flow_origin_request(blobs, req, sizeof(req));
    flow_sendf(blobs, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BLOB_LEN);
    flow_send(blobs, blob, first);
    return blobs;
}

/* Fetches the blob under lib/x for token t0ken (registry 307, blob host
 * 200): it fills the cache. */
static void fill_once(void)
{
    int cl = flow_client(1, "registry.test");

    fill_started(cl, BLOB_LEN);
    expect_blob(cl);
    close(cl);
}

/* Once kept, the same token gets the blob with no upstream connection. */
static void test_hit_without_upstream(void **state)
{
    int cl;

    (void)state;
    fill_once();
    assert_int_equal(W.nopens, 2);
    cl = flow_client(1, "registry.test");
    get_blob(cl, "lib/x", "t0ken");
    expect_blob(cl);
    assert_int_equal(W.nopens, 2);
    close(cl);
}

/* Three clients, one fetch: A claims the fill at the registry's redirect;
 * B (same token) waits for it with no upstream at all; C (another token)
 * asks the registry with a HEAD (on A's registry connection, pooled after
 * the redirect), then joins. The blob host serves once. */
static void test_single_flight(void **state)
{
    int a = flow_client(1, "registry.test"), b, c, o, blobs;
    char req[4096];

    (void)state;
    get_blob(a, "lib/x", "t0ken");
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://blobs.test/d\r\n"
               "Content-Length: 0\r\n\r\n");
    blobs = flow_origin(1);
    flow_origin_request(blobs, req, sizeof(req));
    b = flow_client(1, "registry.test");
    get_blob(b, "lib/x", "t0ken");
    c = flow_client(1, "registry.test");
    get_blob(c, "lib/x", "an0ther");
    flow_origin_request(o, req, sizeof(req));
    assert_true(strncmp(req, "HEAD /v2/lib/x/blobs/sha256:", 28) == 0);
    assert_non_null(strstr(req, "Authorization: Bearer an0ther\r\n"));
    flow_sendf(o, "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://blobs.test/d\r\n"
               "Content-Length: 0\r\n\r\n");
    /* the blob arrives once, in two pieces */
    flow_sendf(blobs, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BLOB_LEN);
    flow_send(blobs, blob, BLOB_LEN / 2);
    flow_send(blobs, blob + BLOB_LEN / 2, BLOB_LEN - BLOB_LEN / 2);
    expect_blob(a);
    expect_blob(b);
    expect_blob(c);
    assert_false(nopens_is(3));
    assert_int_equal(W.nopens, 2);
    close(a);
    close(b);
    close(c);
}

/* The private-image rule: kept under lib/x for t0ken, the blob is not a
 * hit under another repository's path (the registry's 404 goes through)
 * nor for a token the registry refuses (its HEAD says 401; the real
 * request goes up and its 401 reaches the client). */
static void test_private_rule(void **state)
{
    int cl, o;
    char req[4096];

    (void)state;
    fill_once();
    /* the registry's connection went back to the pool */
    o = W.opens[0].origin;
    cl = flow_client(1, "registry.test");
    get_blob(cl, "lib/y", "t0ken");
    flow_origin_request(o, req, sizeof(req));
    assert_true(strncmp(req, "GET /v2/lib/y/blobs/", 20) == 0);
    flow_sendf(o, "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope\n");
    expect_status(cl, "HTTP/1.1 404 ");
    close(cl);

    cl = flow_client(1, "registry.test");
    get_blob(cl, "lib/x", "stolen");
    flow_origin_request(o, req, sizeof(req));
    assert_true(strncmp(req, "HEAD /v2/lib/x/blobs/", 21) == 0);
    flow_sendf(o, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\n");
    o = flow_origin(2);
    flow_origin_request(o, req, sizeof(req));
    assert_true(strncmp(req, "GET /v2/lib/x/blobs/", 20) == 0);
    flow_sendf(o, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\ndeny\n");
    expect_status(cl, "HTTP/1.1 401 ");
    close(cl);
    assert_true(flow_run_until(flow_no_conns, NULL));
}

/* A check (HEAD) that every link answers 429, for a repository that is not
 * open: not served offline; the real GET goes up and the client gets the
 * 429 with its body (never the head of the HEAD, whose body never comes). */
static void test_check_429_everywhere(void **state)
{
    int cl, o;
    char req[4096];
    struct flow_sink s;

    (void)state;
    fill_once();
    o = W.opens[0].origin;      /* pooled */
    cl = flow_client(1, "registry.test");
    get_blob(cl, "lib/x", "an0ther");
    flow_origin_request(o, req, sizeof(req));
    assert_true(strncmp(req, "HEAD ", 5) == 0);
    flow_sendf(o, "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\n");
    o = flow_origin(2);
    assert_int_equal(W.opens[2].via, LINK_SOCKS5);
    flow_origin_request(o, req, sizeof(req));
    assert_true(strncmp(req, "HEAD ", 5) == 0);
    flow_sendf(o, "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\n");
    o = flow_origin(3);
    flow_origin_request(o, req, sizeof(req));
    assert_true(strncmp(req, "GET /v2/lib/x/blobs/", 20) == 0);
    flow_sendf(o, "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nslow");
    flow_sink_answer(&s, cl, 4);
    assert_non_null(s.buf);
    assert_true(strncmp(s.buf, "HTTP/1.1 429 ", 13) == 0);
    assert_true(flow_head_len(s.buf) && strcmp(s.buf + flow_head_len(s.buf), "slow") == 0);
    free(s.buf);
    close(cl);
}

/* Both links failed a moment ago and rest: the next GET /v2/ is answered
 * from the cache at once, with no new attempt (against a black-holed
 * registry each attempt costs a whole connect timeout). */
static void test_resting_links_answer_at_once(void **state)
{
    struct flow_sink s;
    int cl, i;

    (void)state;
    W.fail_mask = 3u;           /* direct, then the SOCKS5 link: refused */
    for (i = 0; i < 2; i++) {
        cl = flow_client(1, "registry.test");
        flow_sendf(cl, "GET /v2/ HTTP/1.1\r\nHost: registry.test\r\n\r\n");
        flow_sink_answer(&s, cl, 2);
        assert_non_null(s.buf);
        assert_true(strncmp(s.buf, "HTTP/1.1 200 ", 13) == 0);
        free(s.buf);
        close(cl);
        assert_int_equal(W.nopens, 2);
    }
}

static int ncarries_is(void *arg)
{
    return W.px.ncarries == *(unsigned *)arg;
}

static int nconns_is(void *arg)
{
    return W.px.nconns == *(unsigned *)arg;
}

/* The blob is kept, complete. */
static void expect_kept(void)
{
    struct cache_blob *b;
    enum cache_blob_state st;

    cache_fill_finish_wait(W.px.cache);
    assert_int_equal(cache_blob_open(W.px.cache, blob_hex, &b), 0);
    assert_int_equal(cache_blob_avail(b, &st), BLOB_LEN);
    assert_int_equal(st, CACHE_BLOB_COMPLETE);
    cache_blob_close(b);
}

/* The client that started a fill leaves half-way: the fill goes on without
 * it (carried), so b, which joined it, gets the whole blob, and the blob
 * is kept; the blob host served it once. */
static void test_fill_outlives_its_client(void **state)
{
    int a = flow_client(1, "registry.test"), b, blobs;
    unsigned one = 1, none = 0;

    (void)state;
    blobs = fill_started(a, BLOB_LEN / 3);
    b = flow_client(1, "registry.test");
    get_blob(b, "lib/x", "t0ken");
    assert_true(flow_run_until(flow_readable, &b));     /* b follows the fill */
    close(a);
    /* a's connection sees it gone at its next write */
    flow_send(blobs, blob + BLOB_LEN / 3, 1000);
    assert_true(flow_run_until(nconns_is, &one));
    assert_int_equal(W.px.ncarries, 1);
    flow_send(blobs, blob + BLOB_LEN / 3 + 1000, BLOB_LEN - BLOB_LEN / 3 - 1000);
    expect_blob(b);
    assert_true(flow_run_until(ncarries_is, &none));
    expect_kept();
    assert_int_equal(W.nopens, 2);
    close(b);
}

/* Nobody joined: the fill still goes on to its end, and the next client
 * has a hit with no upstream. */
static void test_fill_alone_outlives_its_client(void **state)
{
    int a = flow_client(1, "registry.test"), blobs, cl;
    unsigned none = 0;

    (void)state;
    W.px.metrics = metrics_new();
    assert_non_null(W.px.metrics);
    blobs = fill_started(a, BLOB_LEN / 2);
    close(a);
    flow_send(blobs, blob + BLOB_LEN / 2, BLOB_LEN - BLOB_LEN / 2);
    assert_true(flow_run_until(ncarries_is, &none));
    assert_true(metrics_sum(&W.px.metrics, 1, "hubgate_cache_fills_carried_total", "") == 1.0);
    assert_int_equal(W.px.nconns, 0);
    expect_kept();
    cl = flow_client(1, "registry.test");
    get_blob(cl, "lib/x", "t0ken");
    expect_blob(cl);
    assert_int_equal(W.nopens, 2);
    close(cl);
}

/* A carried fill whose origin sends nothing more for [upstream] read_timeout
 * is dropped: nothing kept, nothing left behind. */
static void test_carried_fill_gives_up(void **state)
{
    int a = flow_client(1, "registry.test"), blobs;
    unsigned one = 1, none = 0;
    struct cache_blob *b;

    (void)state;
    blobs = fill_started(a, BLOB_LEN / 2);
    close(a);
    flow_send(blobs, blob + BLOB_LEN / 2, 1000);
    assert_true(flow_run_until(ncarries_is, &one));
    assert_true(flow_run_until(flow_no_conns, NULL));
    assert_true(flow_run_until(ncarries_is, &none));
    assert_int_equal(cache_blob_open(W.px.cache, blob_hex, &b), -ENOENT);
    close(blobs);
}

/* As setup_cache, with [upstream] read_timeout = 1s. */
static int setup_cache_short_timeout(void **state)
{
    setup_cache(state);
    gen_unref(W.px.gen);
    W.px.gen = flow_gen("[upstream]\nread_timeout = 1s\n", NULL);
    W.px.cfg = &W.px.gen->cfg;
    return 0;
}

int main(void)
{
    (void)flow_read;    /* a helper of the harness these tests do not need */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_without_upstream, setup_cache, teardown_cache),
        cmocka_unit_test_setup_teardown(test_single_flight, setup_cache, teardown_cache),
        cmocka_unit_test_setup_teardown(test_private_rule, setup_cache, teardown_cache),
        cmocka_unit_test_setup_teardown(test_check_429_everywhere, setup_cache, teardown_cache),
        cmocka_unit_test_setup_teardown(test_resting_links_answer_at_once, setup_cache,
                                        teardown_cache),
        cmocka_unit_test_setup_teardown(test_fill_outlives_its_client, setup_cache,
                                        teardown_cache),
        cmocka_unit_test_setup_teardown(test_fill_alone_outlives_its_client, setup_cache,
                                        teardown_cache),
        cmocka_unit_test_setup_teardown(test_carried_fill_gives_up, setup_cache_short_timeout,
                                        teardown_cache),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
