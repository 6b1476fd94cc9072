/* test_http1_body.c — mitm/http1: bodies (Content-Length, chunked,
 * read until close), trailers, framing refused, the pause at the end of
 * a message, pipelining, CONNECT and keep-alive. Heads are in
 * test_http1.c; the stream, the guard-page arena and the recorder in
 * http1_test_util.h. */
#include "http1_test_util.h"

/* ---- framing refused ---------------------------------------------------- */

static void test_obs_fold_refused_400(void **state)
{
    (void)state;
    expect_error(HTTP_REQUEST, S("GET / HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n b\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("GET / HTTP/1.1\r\nX-Fold: a\r\n\tb\r\nHost: h\r\n\r\n"), 400);
    /* The folded line may even look like a header of its own. */
    expect_error(HTTP_REQUEST,
                 S("GET / HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n Content-Length: 5\r\n\r\nhello"),
                 400);
}

static void test_obs_fold_in_response_refused(void **state)
{
    struct rec *r = rec_new();

    (void)state;
    assert_int_equal(parse1(HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\n"
                                             "Content-Length: 0\r\n\r\n"), 0, 65536, 0, r),
                     H1_EV_ERROR);
    assert_non_null(r->err);
}

static void test_cl_and_te_refused(void **state)
{
    (void)state;
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                 "Content-Length: 5\r\n\r\n0\r\n\r\n"), 400);
    expect_error(HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 502);
}

static void test_duplicate_content_length_refused(void **state)
{
    (void)state;
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                                 "Content-Length: 6\r\n\r\nhello!"), 400);
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                                 "Content-Length: 5\r\n\r\nhello"), 400);
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n"
                                 "\r\nhello"), 400);
    expect_error(HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                  "Content-Length: 6\r\n\r\nhello!"), 502);
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello"),
                 400);
}

static void test_te_not_ending_chunked_refused(void **state)
{
    (void)state;
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
                                 "\r\nxxxx"), 400);
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\n"
                                 "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"), 400);
}

static void test_bad_chunk_size_refused(void **state)
{
    (void)state;
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                 "\r\nzz\r\nhello\r\n0\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                 "\r\n-5\r\nhello\r\n0\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                 "\r\n10000000000000000\r\n"), 400);
    /* chunk data longer than announced */
    expect_error(HTTP_REQUEST, S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                 "\r\n3\r\nhello\r\n0\r\n\r\n"), 400);
    expect_error(HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                  "\r\nq\r\n"), 502);
}

static void test_garbage_refused_at_once(void **state)
{
    static const char tls_hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    struct rec *r = rec_new();

    (void)state;
    /* A TLS ClientHello sent to the proxy port: refused on its first bytes,
     * not after waiting for more. */
    assert_int_equal(parse1(HTTP_REQUEST, S(tls_hello), 0, 65536, 0, r), H1_EV_ERROR);
    assert_int_equal(r->err_status, 400);
    expect_error(HTTP_REQUEST, S("GET / HTTP/1.1\r\nHo\x01st: h\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("GET / HTTP/1.1\r\nHost: h\x00x\r\n\r\n"), 400);
    expect_error(HTTP_REQUEST, S("GET / HTTP/9.9\r\nHost: h\r\n\r\n"), 400);
}

/* ---- bodies ------------------------------------------------------------- */

static const char req_chunked_trailers[] =
    "PUT /v2/x/blobs/uploads/1 HTTP/1.1\r\n"
    "Host: h\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Trailer: X-Checksum\r\n"
    "\r\n"
    "5\r\nhello\r\n"
    "6;ext=\"q\"\r\n world\r\n"
    "0\r\n"
    "X-Checksum: abc\r\n"
    "X-Other: 1\r\n"
    "\r\n"
    "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";

static void test_chunked_with_trailers(void **state)
{
    const char *body = strstr(req_chunked_trailers, "\r\n\r\n") + 4;
    const char *next = strstr(req_chunked_trailers, "GET /next");
    size_t step;

    (void)state;
    for (step = 0; step <= 9; step++) {
        struct http1 h;
        struct stream s;
        struct rec *r = rec_new(), *r2 = rec_new();

        http1_init(&h, HTTP_REQUEST, 65536);
        stream_init(&s, S(req_chunked_trailers), step);
        if (drive(&h, &s, r, 0) != H1_EV_DONE)
            fail_msg("step %zu: %d %s at %zu", step, r->err_status, r->err ? r->err : "-", s.fed);
        assert_string_equal(r->url, "/v2/x/blobs/uploads/1");
        assert_int_equal(r->head_len, (size_t)(body - req_chunked_trailers));
        /* Exactly the framed body, trailers included, and not a byte of
         * the next request. */
        assert_int_equal(r->raw_len, (size_t)(next - body));
        assert_memory_equal(r->raw, body, r->raw_len);
        assert_int_equal(s.pos, (size_t)(next - req_chunked_trailers));
        assert_int_equal(r->body_len, 11);
        assert_memory_equal(r->body, "hello world", 11);
        http1_next(&h);
        assert_int_equal(drive(&h, &s, r2, 0), H1_EV_DONE);
        assert_string_equal(r2->url, "/next");
        assert_int_equal(s.pos, s.len);
    }
}

/* The head's header limit is about the head: trailers come after it was
 * consumed, and a head with HTTP1_MAX_HDRS fields may still carry them. */
static void test_trailers_not_counted_with_head_fields(void **state)
{
    size_t len, cap;
    char *head = many_headers(HTTP1_MAX_HDRS - 1, &len), *in;
    static const char te[] = "Transfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n";
    struct rec *r = rec_new();

    (void)state;
    cap = len + sizeof(te);
    in = talloc(cap);
    memcpy(in, head, len - 2);  /* without the blank line */
    memcpy(in + len - 2, te, sizeof(te));
    if (parse1(HTTP_REQUEST, in, strlen(in), 0, 65536, 0, r) != H1_EV_DONE)
        fail_msg("refused: %d %s", r->err_status, r->err ? r->err : "-");
    assert_int_equal(r->nhdrs, HTTP1_MAX_HDRS);
}

/* Trailer fields arrive after the caller consumed the head and usually
 * the body bytes before them (http1.h: body bytes are consumed as they are
 * checked). A trailer value that starts in one read and ends in the next
 * must not be looked up at offsets from before that consumption: here the
 * stale offset lands in the pipelined request and finds its CR, a false
 * "obsolete line folding"; when nothing follows it lands past the data
 * (an over-read; with a heap buffer, memchr() over 4 GiB). */
static void test_trailer_split_across_feeds(void **state)
{
    static const char req[] =
        "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\nX-Trailer: ab"
        "c\r\n\r\n"
        "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    static const char resp[] =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\nX-Trailer: ab"
        "c\r\n\r\n"
        "HTTP/1.1 204 No Content\r\n\r\n";
    const char *const ins[] = { req, resp };
    const llhttp_type_t types[] = { HTTP_REQUEST, HTTP_RESPONSE };
    size_t i;

    (void)state;
    for (i = 0; i < 2; i++) {
        const char *in = ins[i];
        size_t cuts[2];
        struct http1 h;
        struct stream s;
        struct rec *r = rec_new();

        cuts[0] = (size_t)(strstr(in, "\r\n\r\n") - in) + 4;  /* the head */
        cuts[1] = (size_t)(strstr(in, "abc") - in) + 2;       /* inside the value */
        http1_init(&h, types[i], 65536);
        stream_init(&s, in, strlen(in), 0);
        s.cuts = cuts;
        s.ncuts = 2;
        if (drive(&h, &s, r, 0) != H1_EV_DONE)
            fail_msg("%s refused: %d %s", i ? "response" : "request", r->err_status,
                     r->err ? r->err : "-");
        assert_int_equal(r->raw_len, strlen("0\r\nX-Trailer: abc\r\n\r\n"));
    }
}

/* Trailer fields pass on verbatim with the body, so they must be held to
 * the head's rules whatever the reads cut: no obs-fold (llhttp hands a
 * folded value over as two spans, "a" and " b", with the CR LF between
 * them in neither), no whitespace before the colon. */
static void test_trailer_fields_checked_like_head(void **state)
{
    static const char *const reqs[] = {
        "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\nX-T: a\r\n b\r\n\r\n",
        "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\nX-T : a\r\n\r\n",
    };
    static const char *const resps[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n\tb\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T\t: a\r\n\r\n",
    };
    size_t step, i;

    (void)state;
    for (i = 0; i < 2; i++) {
        for (step = 0; step <= 4; step++) {
            struct rec *r = rec_new(), *q = rec_new();

            if (parse1(HTTP_REQUEST, reqs[i], strlen(reqs[i]), step, 65536, 0, r) != H1_EV_ERROR)
                fail_msg("request, step %zu: accepted: %s", step, reqs[i]);
            if (parse1(HTTP_RESPONSE, resps[i], strlen(resps[i]), step, 65536, 0, q) !=
                H1_EV_ERROR)
                fail_msg("response, step %zu: accepted: %s", step, resps[i]);
        }
    }
}

static void test_cl_body_in_pieces(void **state)
{
    static const char in[] = "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 26\r\n\r\n"
                             "abcdefghijklmnopqrstuvwxyz";
    struct rec *r;

    (void)state;
    r = parse_all_ways(HTTP_REQUEST, S(in), 0, H1_EV_DONE);
    assert_int_equal(r->raw_len, 26);
    assert_int_equal(r->body_len, 26);
    assert_memory_equal(r->body, "abcdefghijklmnopqrstuvwxyz", 26);
}

static void test_head_response_skip_body(void **state)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n"
                             "Docker-Content-Digest: sha256:00\r\n\r\n"
                             "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno";
    size_t step;

    (void)state;
    for (step = 0; step <= 5; step++) {
        struct http1 h;
        struct stream s;
        struct rec *r = rec_new(), *r2 = rec_new();

        http1_init(&h, HTTP_RESPONSE, 65536);
        h.skip_body = 1;
        stream_init(&s, S(in), step);
        assert_int_equal(drive(&h, &s, r, 0), H1_EV_DONE);
        assert_int_equal(r->status, 200);
        assert_int_equal(r->raw_len, 0);
        assert_int_equal(r->body_len, 0);
        assert_int_equal(s.pos, (size_t)(strstr(in, "HTTP/1.1 404") - in));
        assert_int_equal(r->keep_alive, 1);
        http1_next(&h);
        assert_int_equal(h.skip_body, 0);
        assert_int_equal(drive(&h, &s, r2, 0), H1_EV_DONE);
        assert_int_equal(r2->status, 404);
        assert_int_equal(r2->raw_len, 2);
    }
}

static void test_1xx_then_final(void **state)
{
    static const char in[] = "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
                             "HTTP/1.1 201 Created\r\nLocation: /v2/x\r\nContent-Length: 2\r\n\r\n"
                             "ok";
    size_t step;

    (void)state;
    for (step = 0; step <= 4; step++) {
        struct http1 h;
        struct stream s;
        struct rec *a = rec_new(), *b = rec_new(), *c = rec_new();

        http1_init(&h, HTTP_RESPONSE, 65536);
        stream_init(&s, S(in), step);
        assert_int_equal(drive(&h, &s, a, 0), H1_EV_DONE);
        assert_int_equal(a->status, 100);
        assert_int_equal(a->raw_len, 0);
        assert_int_equal(s.pos, strlen("HTTP/1.1 100 Continue\r\n\r\n"));
        http1_next(&h);
        assert_int_equal(drive(&h, &s, b, 0), H1_EV_DONE);
        assert_int_equal(b->status, 103);
        assert_string_equal(b->hdrs, "Link: </a>; rel=preload\n");
        assert_int_equal(b->raw_len, 0);
        http1_next(&h);
        assert_int_equal(drive(&h, &s, c, 0), H1_EV_DONE);
        assert_int_equal(c->status, 201);
        assert_int_equal(c->raw_len, 2);
        assert_int_equal(s.pos, s.len);
    }
}

/* 204 and 304 end at their head; nothing after it is their body, even when
 * a 304 carries the Content-Length of the representation (RFC 9110 8.6
 * allows it), so the next response on the connection stays intact. */
static void no_body_then_next(const char *first, int status)
{
    static const char next[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext";
    size_t flen = strlen(first), len = flen + sizeof(next) - 1, step;
    char *in = talloc(len + 1);

    memcpy(in, first, flen);
    memcpy(in + flen, next, sizeof(next));
    for (step = 0; step <= 3; step++) {
        struct http1 h;
        struct stream s;
        struct rec *a = rec_new(), *b = rec_new();

        http1_init(&h, HTTP_RESPONSE, 65536);
        stream_init(&s, in, len, step);
        if (drive(&h, &s, a, 0) != H1_EV_DONE)
            fail_msg("%d response (step %zu) did not end at its head: %s", status, step, first);
        assert_int_equal(a->status, status);
        assert_int_equal(a->raw_len, 0);
        assert_int_equal(s.pos, flen);
        assert_int_equal(a->keep_alive, 1);
        http1_next(&h);
        assert_int_equal(drive(&h, &s, b, 0), H1_EV_DONE);
        assert_int_equal(b->status, 200);
        assert_memory_equal(b->raw, "next", 4);
    }
}

static void test_204_304_no_body(void **state)
{
    (void)state;
    no_body_then_next("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", 204);
    no_body_then_next("HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\n\r\n", 304);
    no_body_then_next("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 204);
}

static void test_304_with_content_length_has_no_body(void **state)
{
    (void)state;
    no_body_then_next("HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nContent-Length: 12\r\n\r\n",
                      304);
}

static void test_read_until_close_completes_on_finish(void **state)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                             "all of this is body\r\n\r\nHTTP/1.1 200 OK\r\n";
    static const char in10[] = "HTTP/1.0 200 OK\r\n\r\nold style";
    const char *body = strstr(in, "\r\n\r\n") + 4;
    struct rec *r;

    (void)state;
    /* Without EOF it never ends. */
    r = rec_new();
    assert_int_equal(parse1(HTTP_RESPONSE, S(in), 0, 65536, 0, r), H1_EV_NONE);
    r = parse_all_ways(HTTP_RESPONSE, S(in), 1, H1_EV_DONE);
    assert_int_equal(r->raw_len, strlen(body));
    assert_memory_equal(r->raw, body, r->raw_len);
    assert_int_equal(r->body_len, strlen(body));
    assert_int_equal(r->keep_alive, 0);
    r = parse_all_ways(HTTP_RESPONSE, S(in10), 1, H1_EV_DONE);
    assert_int_equal(r->raw_len, 9);
}

static void test_cut_body_is_an_error_on_finish(void **state)
{
    (void)state;
    /* Content-Length, part of the body */
    expect_error(HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), 502);
    /* Content-Length, none of the body */
    expect_error(HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), 502);
    /* chunked, inside a chunk and between chunks */
    expect_error(HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "5\r\nhel"), 502);
    expect_error(HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "5\r\nhello\r\n"), 502);
    /* before the last-chunk's final CRLF */
    expect_error(HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "0\r\n"), 502);
    /* a cut head */
    {
        struct rec *r = rec_new();

        assert_int_equal(parse1(HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nContent-Le"), 0, 65536, 1,
                                r), H1_EV_ERROR);
    }
}

static void test_complete_body_then_finish_is_done(void **state)
{
    struct http1 h;
    struct stream s;
    struct rec *r = rec_new();

    (void)state;
    http1_init(&h, HTTP_RESPONSE, 65536);
    stream_init(&s, S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), 0);
    assert_int_equal(drive(&h, &s, r, 0), H1_EV_DONE);
    assert_int_equal(http1_finish(&h), H1_EV_DONE);
}

/* ---- one message at a time ---------------------------------------------- */

static void test_pipelined_waits_for_next(void **state)
{
    static const char in[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                             "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
                             "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    size_t step;

    (void)state;
    for (step = 0; step <= 6; step++) {
        struct http1 h;
        struct stream s;
        struct rec *a = rec_new(), *b = rec_new(), *c = rec_new(), *none = rec_new();
        size_t end_a = (size_t)(strstr(in, "GET /b") - in);

        http1_init(&h, HTTP_REQUEST, 65536);
        stream_init(&s, S(in), step);
        assert_int_equal(drive(&h, &s, a, 0), H1_EV_DONE);
        assert_string_equal(a->url, "/a");
        assert_int_equal(s.pos, end_a);
        assert_memory_equal(a->body, "abc", 3);
        assert_int_equal(a->body_len, 3);
        /* Until http1_next() the rest is not looked at, however much
         * arrives. */
        assert_int_equal(drive(&h, &s, none, 0), H1_EV_NONE);
        assert_int_equal(s.pos, end_a);
        assert_int_equal(none->head_len, 0);
        assert_int_equal(h.parsed, 0);
        assert_int_equal(h.state, H1_DONE);
        http1_next(&h);
        assert_int_equal(drive(&h, &s, b, 0), H1_EV_DONE);
        assert_string_equal(b->url, "/b");
        assert_int_equal(b->raw_len, 0);
        assert_int_equal(b->keep_alive, 1);
        http1_next(&h);
        assert_int_equal(drive(&h, &s, c, 0), H1_EV_DONE);
        assert_string_equal(c->url, "/c");
        assert_int_equal(c->keep_alive, 0);
        assert_int_equal(s.pos, s.len);
    }
}

static void test_connect_leaves_tunnel_bytes(void **state)
{
    static const char in[] = "CONNECT registry-1.docker.io:443 HTTP/1.1\r\n"
                             "Host: registry-1.docker.io:443\r\n\r\n"
                             "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    size_t step;

    (void)state;
    for (step = 0; step <= 1; step++) {
        struct http1 h;
        struct stream s;
        struct rec *r = rec_new();
        enum http1_ev ev;

        http1_init(&h, HTTP_REQUEST, 65536);
        stream_init(&s, S(in), step);
        ev = drive(&h, &s, r, 0);
        assert_int_equal(r->method, HTTP_CONNECT);
        assert_string_equal(r->url, "registry-1.docker.io:443");
        /* Whatever the event, no tunnel byte was taken as body. */
        assert_true(ev == H1_EV_DONE || ev == H1_EV_NONE);
        assert_int_equal(r->raw_len, 0);
        assert_int_equal(r->body_len, 0);
        assert_int_equal(s.pos, strstr(in, "\x16") - in);
    }
}

static void test_keep_alive_rules(void **state)
{
    struct rec *r;

    (void)state;
    r = parse_all_ways(HTTP_REQUEST, S("GET / HTTP/1.0\r\nHost: h\r\n\r\n"), 0, H1_EV_DONE);
    assert_int_equal(r->keep_alive, 0);
    r = parse_all_ways(HTTP_REQUEST,
                       S("GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"), 0,
                       H1_EV_DONE);
    assert_int_equal(r->keep_alive, 1);
    r = parse_all_ways(HTTP_REQUEST, S("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n"),
                       0, H1_EV_DONE);
    assert_int_equal(r->keep_alive, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_obs_fold_refused_400, free_all),
        cmocka_unit_test_teardown(test_obs_fold_in_response_refused, free_all),
        cmocka_unit_test_teardown(test_cl_and_te_refused, free_all),
        cmocka_unit_test_teardown(test_duplicate_content_length_refused, free_all),
        cmocka_unit_test_teardown(test_te_not_ending_chunked_refused, free_all),
        cmocka_unit_test_teardown(test_bad_chunk_size_refused, free_all),
        cmocka_unit_test_teardown(test_garbage_refused_at_once, free_all),
        cmocka_unit_test_teardown(test_chunked_with_trailers, free_all),
        cmocka_unit_test_teardown(test_trailers_not_counted_with_head_fields, free_all),
        cmocka_unit_test_teardown(test_trailer_split_across_feeds, free_all),
        cmocka_unit_test_teardown(test_trailer_fields_checked_like_head, free_all),
        cmocka_unit_test_teardown(test_cl_body_in_pieces, free_all),
        cmocka_unit_test_teardown(test_head_response_skip_body, free_all),
        cmocka_unit_test_teardown(test_1xx_then_final, free_all),
        cmocka_unit_test_teardown(test_204_304_no_body, free_all),
        cmocka_unit_test_teardown(test_304_with_content_length_has_no_body, free_all),
        cmocka_unit_test_teardown(test_read_until_close_completes_on_finish, free_all),
        cmocka_unit_test_teardown(test_cut_body_is_an_error_on_finish, free_all),
        cmocka_unit_test_teardown(test_complete_body_then_finish_is_done, free_all),
        cmocka_unit_test_teardown(test_pipelined_waits_for_next, free_all),
        cmocka_unit_test_teardown(test_connect_leaves_tunnel_bytes, free_all),
        cmocka_unit_test_teardown(test_keep_alive_rules, free_all),
    };

    return cmocka_run_group_tests_name("http1_body", tests, arena_up, arena_down);
}
