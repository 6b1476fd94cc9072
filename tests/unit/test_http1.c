/* test_http1.c — mitm/http1: heads as offsets, pauses at the end of the
 * head and of the message, framing errors and limits.
 *
 * Every input is copied to the end of a page that a PROT_NONE page
 * follows, so a read past the data crashes (picohttpparser's habit). A
 * feed in steps copies the unconsumed bytes there again before each call,
 * so the data also moves between calls, as it does when a struct buf
 * compacts: offsets must stay right. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mitm/http1.h"

/* ---- guarded arena ------------------------------------------------------ */

#define ARENA_SIZE (512u * 1024u)

#include "arena.h"

/* ---- a message stream fed to the parser --------------------------------- */

struct rec {
    int method, status;
    char url[2048];
    char hdrs[65536];   /* "name: value\n" per header, in order */
    size_t hdrs_len;
    unsigned nhdrs;
    size_t head_len;
    char raw[65536];    /* body bytes as framed on the wire */
    size_t raw_len;
    char body[65536];   /* body bytes as on_body passed them */
    size_t body_len;
    int keep_alive;
    int err_status;
    const char *err;
};

struct stream {
    const char *in;
    size_t len;
    size_t pos;   /* bytes the caller consumed */
    size_t fed;   /* end of the bytes given to the parser */
    size_t step;  /* bytes added per feed; 0: all at once */
    const size_t *cuts; /* or: feed up to each of these offsets in turn */
    size_t ncuts, icut;
    struct buf b;
};

/* Test allocations, freed by the teardown even when an assertion fails
 * half-way (cmocka leaves the test with a longjmp). */
static void *allocs[64];
static size_t nallocs;

static void *talloc(size_t n)
{
    void *p = calloc(1, n);

    assert_non_null(p);
    assert_true(nallocs < sizeof(allocs) / sizeof(allocs[0]));
    allocs[nallocs++] = p;
    return p;
}

static int free_all(void **state)
{
    (void)state;
    while (nallocs)
        free(allocs[--nallocs]);
    return 0;
}

static struct rec *rec_new(void)
{
    return talloc(sizeof(struct rec));
}

static void stream_init(struct stream *s, const char *in, size_t len, size_t step)
{
    memset(s, 0, sizeof(*s));
    s->in = in;
    s->len = len;
    s->step = step;
}

/* The unconsumed bytes, ending at the guard page. */
static void place(struct stream *s)
{
    size_t n = s->fed - s->pos;
    char *a = arena_end - n;

    assert_true(n <= ARENA_SIZE);
    memcpy(a, s->in + s->pos, n);
    s->b.area = a;
    s->b.size = n;
    s->b.off = 0;
    s->b.len = n;
}

static void on_body_rec(void *arg, const char *p, size_t n)
{
    struct rec *r = arg;

    assert_true(r->body_len + n <= sizeof(r->body));
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
}

static void record_head(const struct http1 *h, const char *base, struct rec *r)
{
    unsigned i;

    r->method = http1_method(h);
    r->status = http1_status(h);
    assert_true(h->url_len < sizeof(r->url));
    memcpy(r->url, base + h->url_off, h->url_len);
    r->url[h->url_len] = '\0';
    r->nhdrs = h->nhdrs;
    r->hdrs_len = 0;
    for (i = 0; i < h->nhdrs; i++) {
        const struct http1_hdr *hd = &h->hdrs[i];
        int n = snprintf(r->hdrs + r->hdrs_len, sizeof(r->hdrs) - r->hdrs_len, "%.*s: %.*s\n",
                         (int)hd->name_len, base + hd->name_off,
                         (int)hd->value_len, base + hd->value_off);

        assert_true(n > 0 && (size_t)n < sizeof(r->hdrs) - r->hdrs_len);
        r->hdrs_len += (size_t)n;
    }
    r->head_len = h->head_len;
}

/* Runs one message through h, as a proxy would: on a head, records it,
 * consumes it and resumes; body bytes the parser checked are consumed as
 * they come. With eof set, calls http1_finish() once the input is used
 * up. Returns H1_EV_DONE, H1_EV_ERROR, or H1_EV_NONE when the input ran
 * out first. */
static enum http1_ev drive(struct http1 *h, struct stream *s, struct rec *r, int eof)
{
    h->on_body = on_body_rec;
    h->body_arg = r;
    if (s->fed < s->pos)
        s->fed = s->pos;
    for (;;) {
        enum http1_ev ev;

        place(s);
        ev = http1_feed(h, &s->b);
        if (ev == H1_EV_HEAD) {
            assert_int_equal(h->parsed, h->head_len);
            record_head(h, buf_data(&s->b), r);
            s->pos += h->head_len;
            http1_resume(h);
            continue;
        }
        if (ev == H1_EV_ERROR) {
            r->err_status = h->status;
            r->err = h->err;
            return ev;
        }
        if ((h->state == H1_BODY || h->state == H1_DONE) && h->parsed) {
            size_t n = h->parsed;

            assert_true(n <= s->fed - s->pos);
            assert_true(r->raw_len + n <= sizeof(r->raw));
            memcpy(r->raw + r->raw_len, s->in + s->pos, n);
            r->raw_len += n;
            s->pos += n;
            http1_consumed(h, n);
        }
        if (ev == H1_EV_DONE) {
            r->keep_alive = http1_keep_alive(h);
            return ev;
        }
        if (s->fed == s->len) {
            if (!eof)
                return H1_EV_NONE;
            ev = http1_finish(h);
            if (ev == H1_EV_ERROR) {
                r->err_status = h->status;
                r->err = h->err;
            }
            return ev;
        }
        if (s->icut < s->ncuts)
            s->fed = s->cuts[s->icut++];
        else
            s->fed = s->step && s->len - s->fed > s->step ? s->fed + s->step : s->len;
    }
}

/* One message of type from in, fed step bytes at a time. */
static enum http1_ev parse1(llhttp_type_t type, const char *in, size_t len, size_t step,
                            size_t max_head, int eof, struct rec *r)
{
    struct http1 h;
    struct stream s;

    http1_init(&h, type, max_head);
    stream_init(&s, in, len, step);
    return drive(&h, &s, r, eof);
}

static void assert_rec_equal(const struct rec *a, const struct rec *b)
{
    assert_int_equal(a->method, b->method);
    assert_int_equal(a->status, b->status);
    assert_string_equal(a->url, b->url);
    assert_int_equal(a->nhdrs, b->nhdrs);
    assert_int_equal(a->hdrs_len, b->hdrs_len);
    assert_memory_equal(a->hdrs, b->hdrs, a->hdrs_len);
    assert_int_equal(a->head_len, b->head_len);
    assert_int_equal(a->raw_len, b->raw_len);
    assert_memory_equal(a->raw, b->raw, a->raw_len);
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
    assert_int_equal(a->keep_alive, b->keep_alive);
}

/* Parses in whole and in steps of 1, 2, 3, 7 and 64 bytes; all must agree
 * and end with want. Returns the whole-feed record. */
static struct rec *parse_all_ways(llhttp_type_t type, const char *in, size_t len,
                                  int eof, enum http1_ev want)
{
    static const size_t steps[] = { 1, 2, 3, 7, 64 };
    struct rec *whole = rec_new();
    size_t i;

    assert_int_equal(parse1(type, in, len, 0, 65536, eof, whole), want);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct rec *r = rec_new();

        if (parse1(type, in, len, steps[i], 65536, eof, r) != want)
            fail_msg("step %zu: not the event of a whole feed", steps[i]);
        assert_rec_equal(whole, r);
    }
    return whole;
}

#define S(lit) lit, sizeof(lit) - 1

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

/* A request with n header fields (Host first). */
static char *many_headers(unsigned n, size_t *len)
{
    size_t cap = 64 + (size_t)n * 32, o;
    char *p = talloc(cap);
    unsigned i;

    o = (size_t)snprintf(p, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (i = 1; i < n; i++)
        o += (size_t)snprintf(p + o, cap - o, "X-H%u: v%u\r\n", i, i);
    o += (size_t)snprintf(p + o, cap - o, "\r\n");
    *len = o;
    return p;
}

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

/* ---- framing refused ---------------------------------------------------- */

static void expect_error(llhttp_type_t type, const char *in, size_t len, int status)
{
    size_t step;

    for (step = 0; step <= 2; step++) {
        struct rec *r = rec_new();

        if (parse1(type, in, len, step, 65536, 1, r) != H1_EV_ERROR)
            fail_msg("step %zu: accepted: %s", step, in);
        if (r->err_status != status)
            fail_msg("step %zu: status %d, want %d (%s): %s", step, r->err_status, status,
                     r->err ? r->err : "-", in);
        assert_non_null(r->err);
    }
}

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
        cmocka_unit_test_teardown(test_space_before_colon_refused, free_all),
        cmocka_unit_test_teardown(test_head_bytes_llhttp_lets_through, free_all),
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
        cmocka_unit_test_teardown(test_span_eq, free_all),
    };

    return cmocka_run_group_tests_name("http1", tests, arena_up, arena_down);
}
