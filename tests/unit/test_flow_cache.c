/* test_flow_cache.c — the exchange with the blob cache on the real event
 * loop (flow_test_util.h): a hit needs no upstream; concurrent requests
 * share one fetch (a second request with the same token waits for the
 * claimed fill, one with another token asks the registry with a HEAD, then
 * joins); the private-image rule (another repository's path, a token the
 * registry refuses: upstream's own answer, never the bytes); links that
 * rest after a failure are not tried again for what the cache answers
 * offline. */
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

/* Fetches the blob under lib/x for token t0ken (registry 307, blob host
 * 200): it fills the cache. */
static void fill_once(void)
{
    int cl = flow_client(1, "registry.test"), o;
    char req[4096];

    get_blob(cl, "lib/x", "t0ken");
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://blobs.test/d\r\n"
               "Content-Length: 0\r\n\r\n");
    o = flow_origin(1);
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BLOB_LEN);
    flow_send(o, blob, BLOB_LEN);
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
