/* test_httpconn.c — CONNECT through an upstream HTTP proxy
 * (proxy/up/httpconn.c): the request we write and the answers we accept. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proxy/up/httpconn.h"

/* ---- request ----------------------------------------------------------- */

static void expect_request(const char *host, uint16_t port, const char *user,
                           const char *pass, const char *want)
{
    struct buf out;

    buf_init(&out, 4096);
    assert_int_equal(httpconn_request(&out, host, port, user, pass), 0);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(buf_data(&out), want, out.len);
    buf_free(&out);
}

static void expect_refused_request(const char *host, uint16_t port, const char *user,
                                   const char *pass)
{
    struct buf out;

    buf_init(&out, 4096);
    assert_int_equal(buf_append(&out, "x", 1), 0);
    assert_int_equal(httpconn_request(&out, host, port, user, pass), -1);
    assert_int_equal(out.len, 1);   /* nothing appended */
    buf_free(&out);
}

static void test_request_plain(void **state)
{
    (void)state;
    expect_request("registry-1.docker.io", 443, NULL, NULL,
                   "CONNECT registry-1.docker.io:443 HTTP/1.1\r\n"
                   "Host: registry-1.docker.io:443\r\n\r\n");
    expect_request("192.0.2.7", 8443, NULL, "ignored without a user",
                   "CONNECT 192.0.2.7:8443 HTTP/1.1\r\nHost: 192.0.2.7:8443\r\n\r\n");
}

static void test_request_ipv6(void **state)
{
    (void)state;
    expect_request("2001:db8::1", 443, NULL, NULL,
                   "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n");
}

static void test_request_basic_auth(void **state)
{
    (void)state;
    expect_request("auth.docker.io", 443, "alice", "s3cr3t",
                   "CONNECT auth.docker.io:443 HTTP/1.1\r\nHost: auth.docker.io:443\r\n"
                   "Proxy-Authorization: Basic YWxpY2U6czNjcjN0\r\n\r\n");
    /* RFC 7617's example; a space in the password. */
    expect_request("h", 1, "Aladdin", "open sesame",
                   "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n"
                   "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
    /* No password: "u:". */
    expect_request("h", 1, "u", NULL,
                   "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nProxy-Authorization: Basic dTo=\r\n\r\n");
}

static void test_request_long_credentials(void **state)
{
    char user[300], pass[300];

    (void)state;
    memset(user, 'u', 255);
    user[255] = '\0';
    memset(pass, 'p', 255);
    pass[255] = '\0';
    {
        struct buf out;

        buf_init(&out, 4096);
        assert_int_equal(httpconn_request(&out, "h", 1, user, pass), 0);
        assert_true(out.len > 680);
        buf_free(&out);
    }
    memset(pass, 'p', 299);
    pass[299] = '\0';
    expect_refused_request("h", 1, user, pass);
}

static void test_request_bad_input(void **state)
{
    (void)state;
    /* Header injection through the host. */
    expect_refused_request("evil.example\r\nX-Injected: 1", 443, NULL, NULL);
    expect_refused_request("a b", 443, NULL, NULL);
    expect_refused_request("", 443, NULL, NULL);
    expect_refused_request(NULL, 443, NULL, NULL);
    expect_refused_request("h", 0, NULL, NULL);
    expect_refused_request("[::1]", 443, NULL, NULL);
    /* Basic cannot carry a ':' in the user. */
    expect_refused_request("h", 1, "a:b", "c");
}

static void test_request_no_room(void **state)
{
    struct buf out;

    (void)state;
    buf_init(&out, 32);
    assert_int_equal(httpconn_request(&out, "registry-1.docker.io", 443, NULL, NULL), -1);
    assert_int_equal(out.len, 0);
    buf_free(&out);
}

/* ---- response ---------------------------------------------------------- */

/* Feeds text all at once to a fresh httpconn; returns the result, leaving
 * what was not consumed in *left (its length in *left_len). */
static int answer(const char *text, size_t len, struct httpconn *hc, const char **err,
                  char *left, size_t *left_len)
{
    struct buf in;
    int rc;

    buf_init(&in, 65536);
    httpconn_init(hc);
    assert_int_equal(buf_append(&in, text, len), 0);
    rc = httpconn_response(hc, &in, err);
    *left_len = in.len;
    if (in.len > 0)
        memcpy(left, buf_data(&in), in.len);
    buf_free(&in);
    return rc;
}

static void test_response_200_leftover(void **state)
{
    static const char text[] = "HTTP/1.1 200 Connection established\r\n"
                               "Proxy-Agent: test\r\n\r\n\x16\x03\x01";
    struct httpconn hc;
    char left[64];
    size_t n;
    const char *err = "x";

    (void)state;
    assert_int_equal(answer(text, sizeof(text) - 1, &hc, &err, left, &n), 1);
    assert_null(err);
    assert_int_equal(hc.status, 200);
    assert_int_equal(n, 3);
    assert_memory_equal(left, "\x16\x03\x01", 3);
}

static void test_response_http10_and_body_headers(void **state)
{
    /* A 2xx answer to CONNECT has no body, whatever it says. */
    static const char text[] = "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nTUNNEL";
    static const char chunked[] = "HTTP/1.1 204 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz";
    struct httpconn hc;
    char left[64];
    size_t n;
    const char *err;

    (void)state;
    assert_int_equal(answer(text, sizeof(text) - 1, &hc, &err, left, &n), 1);
    assert_int_equal(n, 6);
    assert_memory_equal(left, "TUNNEL", 6);
    assert_int_equal(answer(chunked, sizeof(chunked) - 1, &hc, &err, left, &n), 1);
    assert_int_equal(hc.status, 204);
    assert_int_equal(n, 2);
}

static void test_response_bytewise(void **state)
{
    static const char text[] = "HTTP/1.1 200 Connection established\r\n\r\nAB";
    struct httpconn hc;
    struct buf in;
    const char *err;
    size_t i, head = sizeof(text) - 3;

    (void)state;
    buf_init(&in, 256);
    httpconn_init(&hc);
    for (i = 0; i < head; i++) {
        assert_int_equal(buf_append(&in, text + i, 1), 0);
        assert_int_equal(httpconn_response(&hc, &in, &err), i + 1 == head ? 1 : 0);
    }
    assert_int_equal(in.len, 0);
    assert_int_equal(buf_append(&in, "AB", 2), 0);
    /* Once open, later calls say so and leave the tunnel's bytes. */
    assert_int_equal(httpconn_response(&hc, &in, &err), 1);
    assert_int_equal(in.len, 2);
    buf_free(&in);
}

static void test_response_refusals(void **state)
{
    static const struct {
        int status;
        const char *want;
    } cases[] = {
        {407, "HTTP proxy: 407 proxy authentication required"},
        {403, "HTTP proxy: refused (403)"},
        {400, "HTTP proxy: refused (400 bad request)"},
        {405, "HTTP proxy: refused (405): it does not allow CONNECT"},
        {502, "HTTP proxy: could not reach the target (502)"},
        {503, "HTTP proxy: refused (503 unavailable)"},
        {504, "HTTP proxy: timed out reaching the target (504)"},
        {301, "HTTP proxy: refused (3xx redirect)"},
        {418, "HTTP proxy: refused (4xx)"},
        {599, "HTTP proxy: failed (5xx)"},
        {100, "HTTP proxy: interim (1xx) answer to CONNECT"},
    };
    struct httpconn hc;
    char text[256], left[256];
    const char *err;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "HTTP/1.1 %d Whatever\r\nContent-Length: 3\r\n\r\nabc",
                 cases[i].status);
        assert_int_equal(answer(text, strlen(text), &hc, &err, left, &n), -1);
        assert_string_equal(err, cases[i].want);
        assert_int_equal(hc.status, cases[i].status);
    }
}

static void test_response_malformed(void **state)
{
    static const char *const bad[] = {
        "SSH-2.0-OpenSSH_9.2\r\n",
        "\x05\x00",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
    };
    struct httpconn hc;
    char left[256];
    const char *err;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(answer(bad[i], strlen(bad[i]), &hc, &err, left, &n), -1);
        assert_string_equal(err, "HTTP proxy: malformed answer");
    }
}

static void test_response_failed_stays_failed(void **state)
{
    struct httpconn hc;
    struct buf in;
    const char *err;

    (void)state;
    buf_init(&in, 256);
    httpconn_init(&hc);
    assert_int_equal(buf_append(&in, "HTTP/1.1 407 No\r\n\r\n", 19), 0);
    assert_int_equal(httpconn_response(&hc, &in, &err), -1);
    assert_int_equal(httpconn_response(&hc, &in, &err), -1);
    assert_string_equal(err, "HTTP proxy: 407 proxy authentication required");
    httpconn_init(&hc);
    buf_consume(&in, in.len);
    assert_int_equal(buf_append(&in, "NOPE\r\n\r\n", 8), 0);
    assert_int_equal(httpconn_response(&hc, &in, &err), -1);
    assert_int_equal(buf_append(&in, "more", 4), 0);
    assert_int_equal(httpconn_response(&hc, &in, &err), -1);
    assert_string_equal(err, "HTTP proxy: malformed answer");
    buf_free(&in);
}

static void test_response_head_too_large(void **state)
{
    static char text[20000];
    struct httpconn hc;
    struct buf in;
    const char *err;
    size_t n;

    (void)state;
    n = (size_t)snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\nX: ");
    memset(text + n, 'a', sizeof(text) - n - 1);
    buf_init(&in, 65536);
    httpconn_init(&hc);
    assert_int_equal(buf_append(&in, text, sizeof(text) - 1), 0);
    assert_int_equal(httpconn_response(&hc, &in, &err), -1);
    assert_string_equal(err, "HTTP proxy: malformed answer (head too large)");
    buf_free(&in);
}

static void test_response_empty(void **state)
{
    struct httpconn hc;
    struct buf in;
    const char *err;

    (void)state;
    buf_init(&in, 64);
    httpconn_init(&hc);
    assert_int_equal(httpconn_response(&hc, &in, &err), 0);
    assert_int_equal(hc.status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_plain),
        cmocka_unit_test(test_request_ipv6),
        cmocka_unit_test(test_request_basic_auth),
        cmocka_unit_test(test_request_long_credentials),
        cmocka_unit_test(test_request_bad_input),
        cmocka_unit_test(test_request_no_room),
        cmocka_unit_test(test_response_200_leftover),
        cmocka_unit_test(test_response_http10_and_body_headers),
        cmocka_unit_test(test_response_bytewise),
        cmocka_unit_test(test_response_refusals),
        cmocka_unit_test(test_response_malformed),
        cmocka_unit_test(test_response_failed_stays_failed),
        cmocka_unit_test(test_response_head_too_large),
        cmocka_unit_test(test_response_empty),
    };

    return cmocka_run_group_tests_name("httpconn", tests, NULL, NULL);
}
