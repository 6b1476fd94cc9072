/* test_http1.c — mitm/http1: heads as offsets, whole and split across
 * feeds, limits on the head, head bytes refused. Bodies, trailers,
 * framing and keep-alive are in test_http1_body.c; the stream, the
 * guard-page arena and the recorder in http1_test_util.h. */
#include "http1_test_util.h"

/* ---- heads, whole and in pieces ----------------------------------------- */

static const char req_cl[] =
    "POST /v2/library/x/blobs/uploads/?digest=sha256%3Aab HTTP/1.1\r\n"
    "Host: registry-1.docker.io\r\n"
    "User-Agent: docker/24.0.7 go/go1.20.10\r\n"
    "X-Empty:\r\n"
    "X-Lead:    padded value\r\n"
    "Content-Length: 11\r\n"
    "accept: */*\r\n"
    "\r\n"
    "hello world";

static void test_request_whole_equals_pieces(void **state)
{
    struct rec *r;

    (void)state;
    r = parse_all_ways(HTTP_REQUEST, S(req_cl), 0, H1_EV_DONE);
    assert_int_equal(r->method, HTTP_POST);
    assert_string_equal(r->url, "/v2/library/x/blobs/uploads/?digest=sha256%3Aab");
    assert_int_equal(r->nhdrs, 6);
    assert_string_equal(r->hdrs,
                        "Host: registry-1.docker.io\n"
                        "User-Agent: docker/24.0.7 go/go1.20.10\n"
                        "X-Empty: \n"
                        "X-Lead: padded value\n"
                        "Content-Length: 11\n"
                        "accept: */*\n");
    assert_int_equal(r->head_len, sizeof(req_cl) - 1 - 11);
    assert_int_equal(r->raw_len, 11);
    assert_memory_equal(r->raw, "hello world", 11);
    assert_int_equal(r->body_len, 11);
    assert_int_equal(r->keep_alive, 1);
}

static const char resp_chunked[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\n"
    "Docker-Distribution-Api-Version: registry/2.0\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5\r\nhello\r\n"
    "1;name=value\r\n \r\n"
    "a\r\n0123456789\r\n"
    "0\r\n"
    "\r\n";

static void test_response_whole_equals_pieces(void **state)
{
    struct rec *r;
    const char *body = strstr(resp_chunked, "\r\n\r\n") + 4;

    (void)state;
    r = parse_all_ways(HTTP_RESPONSE, S(resp_chunked), 0, H1_EV_DONE);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->url, "OK");
    assert_int_equal(r->nhdrs, 3);
    assert_int_equal(r->head_len, (size_t)(body - resp_chunked));
    /* The framing passes as it came; on_body sees the decoded bytes. */
    assert_int_equal(r->raw_len, strlen(body));
    assert_memory_equal(r->raw, body, r->raw_len);
    assert_int_equal(r->body_len, 16);
    assert_memory_equal(r->body, "hello 0123456789", 16);
}

static void test_header_value_split_across_feeds(void **state)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: abcdefghij\r\n\r\n";
    const char *cut = strstr(in, "efgh");
    struct http1 h;
    struct stream s;
    struct rec *r = rec_new();

    (void)state;
    http1_init(&h, HTTP_REQUEST, 65536);
    stream_init(&s, S(in), 0);
    s.fed = (size_t)(cut - in);   /* ends inside the value */
    place(&s);
    assert_int_equal(http1_feed(&h, &s.b), H1_EV_NONE);
    s.fed = (size_t)(strstr(in, "hij") - in); /* and again */
    place(&s);
    assert_int_equal(http1_feed(&h, &s.b), H1_EV_NONE);
    s.fed = s.len;
    place(&s);
    assert_int_equal(http1_feed(&h, &s.b), H1_EV_HEAD);
    record_head(&h, buf_data(&s.b), r);
    assert_string_equal(r->hdrs, "Host: a\nX-Long: abcdefghij\n");
}

static void test_header_name_split_across_feeds(void **state)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Split-Name: v\r\n\r\n";
    struct http1 h;
    struct stream s;
    struct rec *r = rec_new();

    (void)state;
    http1_init(&h, HTTP_REQUEST, 65536);
    stream_init(&s, S(in), 0);
    s.fed = (size_t)(strstr(in, "Name") - in);
    place(&s);
    assert_int_equal(http1_feed(&h, &s.b), H1_EV_NONE);
    s.fed = s.len;
    place(&s);
    assert_int_equal(http1_feed(&h, &s.b), H1_EV_HEAD);
    record_head(&h, buf_data(&s.b), r);
    assert_string_equal(r->hdrs, "Host: a\nX-Split-Name: v\n");
    assert_int_equal(http1_find(&h, buf_data(&s.b), "x-split-name"), 1);
    assert_int_equal(http1_find(&h, buf_data(&s.b), "X-SPLIT-NAME"), 1);
    assert_int_equal(http1_find(&h, buf_data(&s.b), "x-split"), -1);
}

static void test_empty_header_values(void **state)
{
    static const char in[] =
        "GET / HTTP/1.1\r\nX-A:\r\nX-B: \r\nX-C:\t\r\nHost: h\r\nX-D:\r\n\r\n";
    struct rec *r;

    (void)state;
    r = parse_all_ways(HTTP_REQUEST, S(in), 0, H1_EV_DONE);
    assert_int_equal(r->nhdrs, 5);
    assert_string_equal(r->hdrs, "X-A: \nX-B: \nX-C: \nHost: h\nX-D: \n");
    assert_int_equal(r->raw_len, 0);
}

/* ---- limits ------------------------------------------------------------- */

static void test_100_headers_accepted(void **state)
{
    size_t len;
    char *in = many_headers(HTTP1_MAX_HDRS, &len);
    struct rec *r;

    (void)state;
    r = parse_all_ways(HTTP_REQUEST, in, len, 0, H1_EV_DONE);
    assert_int_equal(r->nhdrs, 100);
    assert_non_null(strstr(r->hdrs, "X-H99: v99\n"));
}

static void test_101_headers_refused_431(void **state)
{
    size_t len, step;
    char *in = many_headers(HTTP1_MAX_HDRS + 1, &len);

    (void)state;
    for (step = 0; step <= 3; step++) {
        struct rec *r = rec_new();

        assert_int_equal(parse1(HTTP_REQUEST, in, len, step, 65536, 0, r), H1_EV_ERROR);
        assert_int_equal(r->err_status, 431);
        assert_int_equal(r->head_len, 0); /* no head event before the refusal */
    }
}

/* A request whose head is exactly n bytes long. */
static char *head_of(size_t n)
{
    static const char pre[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    char *p = talloc(n + 1);

    assert_true(n > sizeof(pre) + 4);
    memcpy(p, pre, sizeof(pre) - 1);
    memset(p + sizeof(pre) - 1, 'p', n - (sizeof(pre) - 1) - 4);
    memcpy(p + n - 4, "\r\n\r\n", 4);
    p[n] = '\0';
    return p;
}

static void test_head_at_max_head_accepted(void **state)
{
    char *in = head_of(1024);
    size_t step;

    (void)state;
    for (step = 0; step <= 7; step += 7) {
        struct rec *r = rec_new();

        assert_int_equal(parse1(HTTP_REQUEST, in, 1024, step, 1024, 0, r), H1_EV_DONE);
        assert_int_equal(r->head_len, 1024);
    }
}

static void test_head_over_max_head_refused_431(void **state)
{
    char *in = head_of(1025);
    size_t step;

    (void)state;
    for (step = 0; step <= 7; step += 7) {
        struct rec *r = rec_new();

        assert_int_equal(parse1(HTTP_REQUEST, in, 1025, step, 1024, 0, r), H1_EV_ERROR);
        assert_int_equal(r->err_status, 431);
    }
}

/* A head that never ends is refused as soon as it passes the limit, not
 * when it ends. */
static void test_endless_head_refused_at_limit(void **state)
{
    char *in = talloc(4096);
    struct http1 h;
    struct stream s;

    (void)state;
    memcpy(in, "GET /", 5);
    memset(in + 5, 'a', 4096 - 5);
    http1_init(&h, HTTP_REQUEST, 1024);
    stream_init(&s, in, 4096, 0);
    s.fed = 1024;
    place(&s);
    assert_int_equal(http1_feed(&h, &s.b), H1_EV_NONE);
    s.fed = 1025;
    place(&s);
    assert_int_equal(http1_feed(&h, &s.b), H1_EV_ERROR);
    assert_int_equal(h.status, 431);
    assert_int_equal(h.state, H1_ERROR);
    /* An error sticks. */
    s.fed = 4096;
    place(&s);
    assert_int_equal(http1_feed(&h, &s.b), H1_EV_ERROR);
}

/* ---- head bytes refused ------------------------------------------------- */

/* RFC 9112 5.1: whitespace between a field name and the colon: a server
 * MUST answer 400; a proxy must not pass it on (an origin that trims it
 * would see a second Host, or other header, hubgate never checked). */
static void test_space_before_colon_refused(void **state)
{
    (void)state;
    expect_error(HTTP_REQUEST, S("GET / HTTP/1.1\r\nHost: a\r\nHost : b\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("GET / HTTP/1.1\r\nHost: a\r\nX-Auth\t: b\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello"), 400);
}

/* Found by fuzzing (tests/fuzz/regress/http1_*): llhttp 8.1 passes these. */
static void test_head_bytes_llhttp_lets_through(void **state)
{
    (void)state;
    expect_error(HTTP_REQUEST, S("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("GET / HTTP/1.1\r\nFoo Bar: x\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 400);
    expect_error(HTTP_RESPONSE, S("HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n"), 502);
}

/* ---- http1_span_eq ------------------------------------------------------ */

static void test_span_eq(void **state)
{
    (void)state;
    assert_true(http1_span_eq("Content-Length", 14, "content-length"));
    assert_true(http1_span_eq("HOSTx", 4, "host"));
    assert_false(http1_span_eq("Host", 4, "hos"));
    assert_false(http1_span_eq("Hos", 3, "host"));
    assert_true(http1_span_eq("", 0, ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_request_whole_equals_pieces, free_all),
        cmocka_unit_test_teardown(test_response_whole_equals_pieces, free_all),
        cmocka_unit_test_teardown(test_header_value_split_across_feeds, free_all),
        cmocka_unit_test_teardown(test_header_name_split_across_feeds, free_all),
        cmocka_unit_test_teardown(test_empty_header_values, free_all),
        cmocka_unit_test_teardown(test_100_headers_accepted, free_all),
        cmocka_unit_test_teardown(test_101_headers_refused_431, free_all),
        cmocka_unit_test_teardown(test_head_at_max_head_accepted, free_all),
        cmocka_unit_test_teardown(test_head_over_max_head_refused_431, free_all),
        cmocka_unit_test_teardown(test_endless_head_refused_at_limit, free_all),
        cmocka_unit_test_teardown(test_space_before_colon_refused, free_all),
        cmocka_unit_test_teardown(test_head_bytes_llhttp_lets_through, free_all),
        cmocka_unit_test_teardown(test_span_eq, free_all),
    };

    return cmocka_run_group_tests_name("http1", tests, arena_up, arena_down);
}
