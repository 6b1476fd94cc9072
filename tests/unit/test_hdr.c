/* test_hdr.c — mitm/hdr: hop-by-hop removal (fixed names and Connection
 * options), request and response serialisation, Host replacement, lookup.
 *
 * Heads are parsed by mitm/http1 from the end of a page that a PROT_NONE
 * page follows, so neither the parser nor hdr.c may read past them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mitm/http/hdr.h"
#include "mitm/http/http1.h"

#define ARENA_SIZE (64u * 1024u)

#include "arena.h"

/* Parses the head text (exactly one head, nothing after it) placed at
 * the end of the arena. Returns the base its offsets refer to. */
static const char *parse_head(struct http1 *h, llhttp_type_t type, const char *text)
{
    size_t n = strlen(text);
    struct buf b;

    assert_true(n <= ARENA_SIZE);
    b.area = arena_end - n;
    b.size = b.len = n;
    b.off = 0;
    memcpy(b.area, text, n);
    http1_init(h, type, ARENA_SIZE);
    if (http1_feed(h, &b) != H1_EV_HEAD)
        fail_msg("not a head: %s (%s)", text, h->err ? h->err : "incomplete");
    assert_int_equal(h->head_len, n);
    return buf_data(&b);
}

/* The serialised request as a NUL-terminated string (static storage). */
static const char *write_req_x(const char *text, const char *target, const char *host,
                               unsigned flags, const char *extra)
{
    static char out[8192];
    struct http1 h;
    const char *base = parse_head(&h, HTTP_REQUEST, text);
    struct buf b;

    buf_init(&b, 4096);
    assert_int_equal(hdr_write_request(&b, &h, base, target, strlen(target), host, flags, extra),
                     0);
    assert_true(b.len < sizeof(out));
    memcpy(out, buf_data(&b), b.len);
    out[b.len] = '\0';
    buf_free(&b);
    return out;
}

static const char *write_req(const char *text, const char *target, const char *host)
{
    return write_req_x(text, target, host, 0, NULL);
}

static const char *write_resp_rw(const char *text, unsigned close, hdr_rewrite_fn rw, void *arg)
{
    static char out[8192];
    struct http1 h;
    const char *base = parse_head(&h, HTTP_RESPONSE, text);
    struct buf b;

    buf_init(&b, 4096);
    assert_int_equal(hdr_write_response(&b, &h, base, close, rw, arg), 0);
    assert_true(b.len < sizeof(out));
    memcpy(out, buf_data(&b), b.len);
    out[b.len] = '\0';
    buf_free(&b);
    return out;
}

static const char *write_resp(const char *text, unsigned close)
{
    return write_resp_rw(text, close, NULL, NULL);
}

/* hdr_is_hop() for the header named name in the head text. */
static int is_hop(const char *text, const char *name)
{
    struct http1 h;
    const char *base = parse_head(&h, HTTP_REQUEST, text);
    int i = http1_find(&h, base, name);

    if (i < 0)
        fail_msg("no %s in %s", name, text);
    return hdr_is_hop(&h, base, (unsigned)i);
}

/* ---- hop-by-hop fields -------------------------------------------------- */

static void test_fixed_hop_names_removed(void **state)
{
    (void)state;
    assert_string_equal(
        write_req("GET /v2/ HTTP/1.1\r\n"
                  "Host: registry-1.docker.io\r\n"
                  "connection: keep-alive\r\n"
                  "Proxy-Connection: Keep-Alive\r\n"
                  "KEEP-ALIVE: timeout=5\r\n"
                  "TE: trailers\r\n"
                  "Upgrade: h2c\r\n"
                  "Proxy-Authorization: Basic dTpw\r\n"
                  "Proxy-Authenticate: Basic\r\n"
                  "Authorization: Bearer tok\r\n"
                  "User-Agent: docker/24\r\n"
                  "\r\n",
                  "/v2/", "registry-1.docker.io"),
        "GET /v2/ HTTP/1.1\r\n"
        "Host: registry-1.docker.io\r\n"
        "Authorization: Bearer tok\r\n"
        "User-Agent: docker/24\r\n"
        "\r\n");
}

static void test_connection_options_removed(void **state)
{
    static const char req[] =
        "GET / HTTP/1.1\r\n"
        "Host: h\r\n"
        "X-Foo: 1\r\n"
        "Connection: keep-alive, X-Foo ,\tx-BAR,,  \r\n"
        "X-Bar: 2\r\n"
        "X-Foo-Bar: 3\r\n"
        "X-Fo: 4\r\n"
        "Foo: 5\r\n"
        "x-foo: 6\r\n"
        "\r\n";

    (void)state;
    assert_true(is_hop(req, "x-foo"));
    assert_true(is_hop(req, "X-BAR"));
    assert_false(is_hop(req, "X-Foo-Bar"));
    assert_false(is_hop(req, "X-Fo"));
    assert_false(is_hop(req, "Foo"));
    assert_false(is_hop(req, "Host"));
    assert_string_equal(write_req(req, "/", "h"),
                        "GET / HTTP/1.1\r\n"
                        "Host: h\r\n"
                        "X-Foo-Bar: 3\r\n"
                        "X-Fo: 4\r\n"
                        "Foo: 5\r\n"
                        "\r\n");
}

static void test_several_connection_fields(void **state)
{
    static const char req[] =
        "GET / HTTP/1.1\r\n"
        "Connection: x-a\r\n"
        "Host: h\r\n"
        "X-A: 1\r\n"
        "X-B: 2\r\n"
        "X-C: 3\r\n"
        "CONNECTION: X-B\r\n"
        "\r\n";

    (void)state;
    assert_string_equal(write_req(req, "/", "h"),
                        "GET / HTTP/1.1\r\nHost: h\r\nX-C: 3\r\n\r\n");
}

static void test_connection_odd_values(void **state)
{
    (void)state;
    /* Naming itself, empty lists, a token with spaces inside: nothing
     * crashes, and the list is split only at commas. */
    assert_string_equal(write_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: connection, "
                                  "Connection\r\nX-A: 1\r\n\r\n", "/", "h"),
                        "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n");
    assert_string_equal(write_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: ,,,\r\n"
                                  "X-A: 1\r\n\r\n", "/", "h"),
                        "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n");
    assert_string_equal(write_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: x a\r\n"
                                  "X: 1\r\nA: 2\r\n\r\n", "/", "h"),
                        "GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\nA: 2\r\n\r\n");
    assert_string_equal(write_req("GET / HTTP/1.1\r\nHost: h\r\nConnection:\r\n"
                                  "X: 1\r\n\r\n", "/", "h"),
                        "GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n");
}

static void test_transfer_encoding_kept(void **state)
{
    (void)state;
    assert_false(is_hop("PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                        "Connection: keep-alive\r\n\r\n", "transfer-encoding"));
    assert_string_equal(write_req("PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                  "TE: trailers\r\nConnection: TE\r\n\r\n", "/u", "h"),
                        "PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_string_equal(write_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                   "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n", 0),
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}

/* An HTTP/1.0 client gets a chunked body de-chunked and a close (#15.3):
 * its head must not say chunked. */
static void test_dechunked_response_drops_transfer_encoding(void **state)
{
    (void)state;
    assert_string_equal(write_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                   "X-A: 1\r\n\r\n", HDR_RESP_DECHUNK | HDR_RESP_CLOSE),
                        "HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: close\r\n\r\n");
}

/* Bodies pass with their framing unchanged (hdr.h), so the field that
 * frames them must go with them even when a Connection option names it.
 * Otherwise the origin reads "POST ... Content-Length: 5 ... hello" without
 * its Content-Length: no body, and "hello" as the start of the next request
 * (request smuggling past hubgate's own parser). */
static void test_connection_cannot_strip_framing(void **state)
{
    static const char cl[] = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                             "Connection: Content-Length\r\n\r\n";
    static const char te[] = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                             "Connection: keep-alive, transfer-encoding\r\n\r\n";

    (void)state;
    assert_false(is_hop(cl, "content-length"));
    assert_false(is_hop(te, "transfer-encoding"));
    assert_string_equal(write_req(cl, "/x", "h"),
                        "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
    assert_string_equal(write_req(te, "/x", "h"),
                        "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
}

static void test_framing_kept_in_responses(void **state)
{
    (void)state;
    assert_string_equal(write_resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                   "Connection: content-length\r\n\r\n", 0),
                        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
}

/* ---- request line and Host ---------------------------------------------- */

static void test_host_replaced_when_given(void **state)
{
    (void)state;
    assert_string_equal(write_req("GET http://origin.test:8080/a?b HTTP/1.1\r\n"
                                  "User-Agent: curl\r\n"
                                  "HOST: wrong.example\r\n"
                                  "Accept: */*\r\n"
                                  "host: also-wrong\r\n"
                                  "Proxy-Connection: Keep-Alive\r\n"
                                  "\r\n",
                                  "/a?b", "origin.test:8080"),
                        "GET /a?b HTTP/1.1\r\n"
                        "Host: origin.test:8080\r\n"
                        "User-Agent: curl\r\n"
                        "Accept: */*\r\n"
                        "\r\n");
}

/* The Host sent is always the caller's: the client's is never passed on,
 * whatever its case, position or number. */
static void test_host_always_from_caller(void **state)
{
    (void)state;
    assert_string_equal(write_req("HEAD /v2/x/manifests/latest HTTP/1.0\r\n"
                                  "Accept: a\r\nHost: registry-1.docker.io\r\n\r\n",
                                  "/v2/x/manifests/latest", "registry-1.docker.io"),
                        "HEAD /v2/x/manifests/latest HTTP/1.1\r\n"
                        "Host: registry-1.docker.io\r\nAccept: a\r\n\r\n");
    /* A request with no Host gets one. */
    assert_string_equal(write_req("GET http://h/ HTTP/1.0\r\n\r\n", "/", "h"),
                        "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_string_equal(write_req("GET / HTTP/1.1\r\nhOsT: evil\r\nHost: evil2\r\n\r\n", "/",
                                  "[2001:db8::1]:8080"),
                        "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n");
}

/* Following a redirect (to another host, the blob CDN) sends only what
 * the new request needs: no credentials, no cookies, no body headers. */
static void test_follow_keeps_only_safe_fields(void **state)
{
    static const char req[] =
        "GET /v2/library/x/blobs/sha256:ab HTTP/1.1\r\n"
        "Host: registry-1.docker.io\r\n"
        "User-Agent: docker/24\r\n"
        "Authorization: Bearer secret-token\r\n"
        "Cookie: s=1\r\n"
        "Accept: */*\r\n"
        "Range: bytes=0-\r\n"
        "X-Custom: 1\r\n"
        "Connection: Range\r\n"
        "\r\n";

    (void)state;
    assert_string_equal(write_req_x(req, "/blob?sig=1", "production.cloudflare.docker.com",
                                    HDR_REQ_FOLLOW, NULL),
                        "GET /blob?sig=1 HTTP/1.1\r\n"
                        "Host: production.cloudflare.docker.com\r\n"
                        "User-Agent: docker/24\r\n"
                        "Accept: */*\r\n"
                        "\r\n");
}

static void test_no_range_and_extra(void **state)
{
    static const char req[] =
        "GET /v2/x/blobs/sha256:ab HTTP/1.1\r\n"
        "Host: h\r\nrange: bytes=0-99\r\nAccept: */*\r\n\r\n";

    (void)state;
    assert_string_equal(write_req_x(req, "/v2/x/blobs/sha256:ab", "h", HDR_REQ_NO_RANGE,
                                    "Range: bytes=4096-\r\nX-Extra: 1\r\n"),
                        "GET /v2/x/blobs/sha256:ab HTTP/1.1\r\n"
                        "Host: h\r\nAccept: */*\r\n"
                        "Range: bytes=4096-\r\nX-Extra: 1\r\n\r\n");
    assert_string_equal(write_req_x(req, "/", "h", HDR_REQ_FOLLOW | HDR_REQ_NO_RANGE, NULL),
                        "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
    assert_string_equal(write_req_x(req, "/", "h", 0, ""),
                        "GET / HTTP/1.1\r\nHost: h\r\nrange: bytes=0-99\r\n"
                        "Accept: */*\r\n\r\n");
}

static void test_methods_and_targets(void **state)
{
    (void)state;
    assert_string_equal(write_req("DELETE /v2/x/manifests/sha256:00 HTTP/1.1\r\nHost: h\r\n\r\n",
                                  "/v2/x/manifests/sha256:00", "h"),
                        "DELETE /v2/x/manifests/sha256:00 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_string_equal(write_req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "*", "h"),
                        "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_string_equal(write_req("PATCH /u HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n", "/u", "h"),
                        "PATCH /u HTTP/1.1\r\nHost: h\r\nX-Empty: \r\n\r\n");
}

/* What hdr writes parses again to the same end-to-end fields. */
static void test_request_round_trip(void **state)
{
    static const char req[] =
        "PUT /v2/x/blobs/uploads/u?digest=sha256:ab HTTP/1.1\r\n"
        "Host: registry-1.docker.io\r\n"
        "Connection: X-Hop\r\n"
        "X-Hop: gone\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Length: 1048576\r\n"
        "Authorization: Bearer a.b.c\r\n"
        "\r\n";
    char again[8192];
    struct http1 h;
    const char *base;
    unsigned i;

    (void)state;
    snprintf(again, sizeof(again), "%s",
             write_req(req, "/v2/x/blobs/uploads/u?digest=sha256:ab", "registry-1.docker.io"));
    base = parse_head(&h, HTTP_REQUEST, again);
    assert_int_equal(http1_method(&h), HTTP_PUT);
    assert_int_equal(h.nhdrs, 4);
    for (i = 0; i < h.nhdrs; i++)
        assert_false(hdr_is_hop(&h, base, i));
    assert_int_equal(http1_find(&h, base, "x-hop"), -1);
    assert_int_equal(http1_find(&h, base, "connection"), -1);
    assert_true(http1_find(&h, base, "content-length") >= 0);
}

/* ---- responses ---------------------------------------------------------- */

static void test_write_response(void **state)
{
    static const char resp[] =
        "HTTP/1.1 404 Not Found\r\n"
        "Content-Type: application/json\r\n"
        "Connection: keep-alive, X-Srv\r\n"
        "X-Srv: a\r\n"
        "Keep-Alive: timeout=5\r\n"
        "Content-Length: 2\r\n"
        "\r\n";

    (void)state;
    assert_string_equal(write_resp(resp, 0),
                        "HTTP/1.1 404 Not Found\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: 2\r\n"
                        "\r\n");
    assert_string_equal(write_resp(resp, 1),
                        "HTTP/1.1 404 Not Found\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: 2\r\n"
                        "Connection: close\r\n"
                        "\r\n");
    /* The origin's own "close" is not repeated twice. */
    assert_string_equal(write_resp("HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n", 1),
                        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
}

static void test_response_reason_kept(void **state)
{
    (void)state;
    assert_string_equal(write_resp("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0),
                        "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n");
    assert_string_equal(write_resp("HTTP/1.1 307 Temporary Redirect\r\nLocation: "
                                   "https://production.cloudflare.docker.com/x\r\n\r\n", 0),
                        "HTTP/1.1 307 Temporary Redirect\r\nLocation: "
                        "https://production.cloudflare.docker.com/x\r\n\r\n");
    assert_string_equal(write_resp("HTTP/1.1 100 Continue\r\n\r\n", 0),
                        "HTTP/1.1 100 Continue\r\n\r\n");
}

/* A rewrite sees every end-to-end field (never a hop-by-hop one) and may
 * replace its value; -1 keeps it. */
static int rw_location(void *arg, const char *name, size_t name_len, const char *value,
                       size_t value_len, char *out, size_t outlen)
{
    int *calls = arg;

    (void)value;
    (*calls)++;
    assert_false(http1_span_eq(name, name_len, "connection"));
    assert_false(http1_span_eq(name, name_len, "x-hop"));
    if (!http1_span_eq(name, name_len, "location"))
        return -1;
    assert_true(value_len > 0);
    return snprintf(out, outlen, "/v2/mapped");
}

static void test_response_rewrite(void **state)
{
    int calls = 0;

    (void)state;
    assert_string_equal(write_resp_rw("HTTP/1.1 307 Temporary Redirect\r\n"
                                      "Location: https://relay.example/v2/x\r\n"
                                      "Connection: X-Hop\r\nX-Hop: 1\r\n"
                                      "Content-Length: 0\r\n\r\n",
                                      0, rw_location, &calls),
                        "HTTP/1.1 307 Temporary Redirect\r\n"
                        "Location: /v2/mapped\r\n"
                        "Content-Length: 0\r\n\r\n");
    assert_int_equal(calls, 2);
}

/* ---- limits and lookup -------------------------------------------------- */

static void test_no_space(void **state)
{
    static const char req[] = "GET /some/long/path HTTP/1.1\r\nHost: h\r\nX-Long: "
                              "0123456789012345678901234567890123456789\r\n\r\n";
    struct http1 h;
    const char *base = parse_head(&h, HTTP_REQUEST, req);
    struct buf b;
    size_t cap;

    (void)state;
    /* Every capacity short of the full head fails with -ENOSPC. */
    for (cap = 1; cap < sizeof(req) - 1; cap += 7) {
        buf_init(&b, cap);
        assert_int_equal(hdr_write_request(&b, &h, base, "/some/long/path", 15, "h", 0, NULL),
                         -ENOSPC);
        assert_true(b.len <= cap);
        buf_free(&b);
    }
    buf_init(&b, sizeof(req) - 1);
    assert_int_equal(hdr_write_request(&b, &h, base, "/some/long/path", 15, "h", 0, NULL), 0);
    assert_int_equal(b.len, sizeof(req) - 1);
    assert_memory_equal(buf_data(&b), req, b.len);
    buf_free(&b);

    base = parse_head(&h, HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    buf_init(&b, 20);
    assert_int_equal(hdr_write_response(&b, &h, base, 1, NULL, NULL), -ENOSPC);
    buf_free(&b);
}

static void test_hdr_get(void **state)
{
    struct http1 h;
    const char *base = parse_head(&h, HTTP_REQUEST,
                                  "GET / HTTP/1.1\r\nhost: First.Example:443\r\n"
                                  "Host: second\r\nX-Empty:\r\nX-Ten: 0123456789\r\n\r\n");
    char out[32];

    (void)state;
    assert_int_equal(hdr_get(&h, base, "HOST", out, sizeof(out)), 17);
    assert_string_equal(out, "First.Example:443");
    assert_int_equal(hdr_get(&h, base, "x-empty", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(hdr_get(&h, base, "x-ten", out, 11), 10);
    assert_string_equal(out, "0123456789");
    assert_int_equal(hdr_get(&h, base, "x-ten", out, 10), -1);  /* no room for NUL */
    assert_int_equal(hdr_get(&h, base, "x-missing", out, sizeof(out)), -1);
    assert_int_equal(hdr_get(&h, base, "x-te", out, sizeof(out)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_hop_names_removed),
        cmocka_unit_test(test_connection_options_removed),
        cmocka_unit_test(test_several_connection_fields),
        cmocka_unit_test(test_connection_odd_values),
        cmocka_unit_test(test_transfer_encoding_kept),
        cmocka_unit_test(test_dechunked_response_drops_transfer_encoding),
        cmocka_unit_test(test_connection_cannot_strip_framing),
        cmocka_unit_test(test_framing_kept_in_responses),
        cmocka_unit_test(test_host_replaced_when_given),
        cmocka_unit_test(test_host_always_from_caller),
        cmocka_unit_test(test_follow_keeps_only_safe_fields),
        cmocka_unit_test(test_no_range_and_extra),
        cmocka_unit_test(test_methods_and_targets),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_write_response),
        cmocka_unit_test(test_response_reason_kept),
        cmocka_unit_test(test_response_rewrite),
        cmocka_unit_test(test_no_space),
        cmocka_unit_test(test_hdr_get),
    };

    return cmocka_run_group_tests_name("hdr", tests, arena_up, arena_down);
}
