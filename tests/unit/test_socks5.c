/* test_socks5.c — the SOCKS5 client codec (proxy/up/socks5.c): greetings,
 * username/password, CONNECT, replies of every address type, every REP
 * code, and input that arrives one byte at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "proxy/up/socks5.h"

struct fx {
    struct socks5 s;
    struct buf in, out;
};

static int fx_setup(void **state)
{
    static struct fx fx;

    memset(&fx, 0, sizeof(fx));
    buf_init(&fx.in, 1024);
    buf_init(&fx.out, 1024);
    *state = &fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    buf_free(&fx->in);
    buf_free(&fx->out);
    return 0;
}

static void put(struct buf *b, const void *p, size_t n)
{
    assert_int_equal(buf_append(b, p, n), 0);
}

/* Checks that out holds exactly want, then empties it. */
static void expect_out(struct fx *fx, const void *want, size_t n)
{
    assert_int_equal(fx->out.len, n);
    assert_memory_equal(buf_data(&fx->out), want, n);
    buf_consume(&fx->out, fx->out.len);
}

/* Feeds p[0..n) all at once; returns socks5_input()'s result. */
static int feed(struct fx *fx, const void *p, size_t n, const char **err)
{
    put(&fx->in, p, n);
    return socks5_input(&fx->s, &fx->in, &fx->out, err);
}

/* Feeds p[0..n) one byte at a time: every call but the last must ask for
 * more. Returns the last call's result. */
static int feed_bytes(struct fx *fx, const void *p, size_t n, const char **err)
{
    const uint8_t *b = p;
    size_t i;
    int rc = 0;

    for (i = 0; i < n; i++) {
        rc = feed(fx, b + i, 1, err);
        if (i + 1 < n)
            assert_int_equal(rc, 0);
    }
    return rc;
}

/* No-auth handshake up to the CONNECT request to host:port. */
static void begin_noauth(struct fx *fx, const char *host, uint16_t port)
{
    static const uint8_t greet[] = {5, 1, 0}, choice[] = {5, 0};
    uint8_t req[300];
    size_t hl = strlen(host);
    const char *err;

    assert_int_equal(socks5_init(&fx->s, host, port, NULL, NULL), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    expect_out(fx, greet, sizeof(greet));
    assert_int_equal(feed(fx, choice, sizeof(choice), &err), 0);
    assert_int_equal(fx->s.state, SOCKS5_S_CONNECT);
    memcpy(req, "\x05\x01\x00\x03", 4);
    req[4] = (uint8_t)hl;
    memcpy(req + 5, host, hl);
    req[5 + hl] = (uint8_t)(port >> 8);
    req[6 + hl] = (uint8_t)port;
    expect_out(fx, req, 7 + hl);
    assert_int_equal(fx->in.len, 0);
}

static void test_greeting_noauth(void **state)
{
    struct fx *fx = *state;

    begin_noauth(fx, "registry-1.docker.io", 443);
}

static void test_reply_ipv4(void **state)
{
    static const uint8_t rep[] = {5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90};
    struct fx *fx = *state;
    const char *err = "x";

    begin_noauth(fx, "registry-1.docker.io", 443);
    assert_int_equal(feed(fx, rep, sizeof(rep), &err), 1);
    assert_null(err);
    assert_int_equal(fx->s.state, SOCKS5_S_DONE);
    assert_int_equal(fx->s.rep, 0);
    assert_int_equal(fx->in.len, 0);
    assert_int_equal(fx->out.len, 0);
}

static void test_reply_ipv6(void **state)
{
    static const uint8_t rep[] = {5, 0, 0, 4, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 1, 0, 80};
    struct fx *fx = *state;
    const char *err;

    begin_noauth(fx, "auth.docker.io", 443);
    assert_int_equal(feed(fx, rep, sizeof(rep), &err), 1);
    assert_int_equal(fx->in.len, 0);
}

static void test_reply_domain(void **state)
{
    uint8_t rep[4 + 1 + 255 + 2];
    struct fx *fx = *state;
    const char *err;

    /* A name of 255 bytes, the longest BND.ADDR there is. */
    memset(rep, 'a', sizeof(rep));
    memcpy(rep, "\x05\x00\x00\x03\xff", 5);
    rep[260] = 1;
    rep[261] = 0xbb;
    begin_noauth(fx, "auth.docker.io", 443);
    assert_int_equal(feed(fx, rep, sizeof(rep) - 1, &err), 0);
    assert_int_equal(fx->in.len, sizeof(rep) - 1);     /* nothing taken yet */
    assert_int_equal(feed(fx, rep + sizeof(rep) - 1, 1, &err), 1);
    assert_int_equal(fx->in.len, 0);
}

static void test_reply_domain_empty(void **state)
{
    static const uint8_t rep[] = {5, 0, 0, 3, 0, 0, 0};
    struct fx *fx = *state;
    const char *err;

    begin_noauth(fx, "auth.docker.io", 443);
    assert_int_equal(feed_bytes(fx, rep, sizeof(rep), &err), 1);
    assert_int_equal(fx->in.len, 0);
}

static void test_leftover_stays(void **state)
{
    static const uint8_t rep[] = {5, 0, 0, 1, 127, 0, 0, 1, 4, 0x38, 0x16, 0x03, 0x01};
    struct fx *fx = *state;
    const char *err;

    begin_noauth(fx, "registry-1.docker.io", 443);
    assert_int_equal(feed(fx, rep, sizeof(rep), &err), 1);
    assert_int_equal(fx->in.len, 3);
    assert_memory_equal(buf_data(&fx->in), "\x16\x03\x01", 3);
    /* Done is done: later calls take nothing and say so again. */
    assert_int_equal(socks5_input(&fx->s, &fx->in, &fx->out, &err), 1);
    assert_int_equal(fx->in.len, 3);
    assert_int_equal(fx->out.len, 0);
}

static void test_auth_success_bytewise(void **state)
{
    static const uint8_t greet[] = {5, 2, 0, 2};
    static const uint8_t auth[] = {1, 5, 'a', 'l', 'i', 'c', 'e', 3, 'p', ':', 'w'};
    static const uint8_t req[] = {5, 1, 0, 3, 4, 'h', 'u', 'b', 'x', 0x01, 0xbb};
    /* The server's whole answer in one go, plus two tunnel bytes. */
    static const uint8_t server[] = {5, 2, 1, 0, 5, 0, 0, 3, 3, 'a', 'b', 'c', 0, 80, 'H', 'T'};
    struct fx *fx = *state;
    const char *err;
    size_t i;
    int rc;

    assert_int_equal(socks5_init(&fx->s, "hubx", 443, "alice", "p:w"), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    expect_out(fx, greet, sizeof(greet));
    for (i = 0; i < sizeof(server); i++) {
        rc = feed(fx, server + i, 1, &err);
        if (i == 1) {               /* the method choice: our credentials go out */
            assert_int_equal(fx->s.state, SOCKS5_S_AUTH);
            expect_out(fx, auth, sizeof(auth));
        }
        if (i == 3) {               /* auth accepted: CONNECT goes out */
            assert_int_equal(fx->s.state, SOCKS5_S_CONNECT);
            expect_out(fx, req, sizeof(req));
        }
        assert_int_equal(rc, i >= 13 ? 1 : 0);
    }
    assert_int_equal(fx->in.len, 2);
    assert_memory_equal(buf_data(&fx->in), "HT", 2);
    assert_int_equal(fx->out.len, 0);
}

static void test_auth_server_picks_noauth(void **state)
{
    static const uint8_t choice[] = {5, 0};
    struct fx *fx = *state;
    const char *err;

    assert_int_equal(socks5_init(&fx->s, "h", 1, "u", NULL), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    buf_consume(&fx->out, fx->out.len);
    assert_int_equal(feed(fx, choice, 2, &err), 0);
    assert_int_equal(fx->s.state, SOCKS5_S_CONNECT);
    expect_out(fx, "\x05\x01\x00\x03\x01h\x00\x01", 8);
}

static void test_auth_empty_password(void **state)
{
    static const uint8_t choice[] = {5, 2};
    struct fx *fx = *state;
    const char *err;

    assert_int_equal(socks5_init(&fx->s, "h", 1, "u", ""), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    buf_consume(&fx->out, fx->out.len);
    assert_int_equal(feed(fx, choice, 2, &err), 0);
    expect_out(fx, "\x01\x01u\x00", 4);
}

static void test_auth_failure(void **state)
{
    static const uint8_t server[] = {5, 2, 1, 1};
    struct fx *fx = *state;
    const char *err;

    assert_int_equal(socks5_init(&fx->s, "h", 1, "u", "wrong"), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    assert_int_equal(feed_bytes(fx, server, sizeof(server), &err), -1);
    assert_string_equal(err, "SOCKS5: proxy refused our username or password");
    assert_int_equal(fx->s.state, SOCKS5_S_FAILED);
    /* Failed stays failed. */
    assert_int_equal(socks5_input(&fx->s, &fx->in, &fx->out, &err), -1);
    assert_non_null(err);
}

static void test_auth_bad_version(void **state)
{
    static const uint8_t server[] = {5, 2, 5};
    struct fx *fx = *state;
    const char *err;

    assert_int_equal(socks5_init(&fx->s, "h", 1, "u", "p"), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    assert_int_equal(feed(fx, server, sizeof(server), &err), -1);
    assert_string_equal(err, "SOCKS5: malformed answer to our username/password");
}

static void test_method_refused(void **state)
{
    static const uint8_t choice[] = {5, 0xff};
    struct fx *fx = *state;
    const char *err;

    assert_int_equal(socks5_init(&fx->s, "h", 1, NULL, NULL), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    assert_int_equal(feed(fx, choice, 2, &err), -1);
    assert_string_equal(err, "SOCKS5: proxy requires authentication");
    fx_teardown(state);
    fx_setup(state);
    fx = *state;
    assert_int_equal(socks5_init(&fx->s, "h", 1, "u", "p"), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    assert_int_equal(feed(fx, choice, 2, &err), -1);
    assert_string_equal(err, "SOCKS5: proxy refused our username/password method");
}

static void test_method_not_offered(void **state)
{
    static const uint8_t userpass[] = {5, 2}, gssapi[] = {5, 1};
    struct fx *fx = *state;
    const char *err;

    /* Username/password chosen although we offered no-auth only. */
    assert_int_equal(socks5_init(&fx->s, "h", 1, NULL, NULL), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    assert_int_equal(feed(fx, userpass, 2, &err), -1);
    assert_string_equal(err, "SOCKS5: proxy chose an authentication method we did not offer");
    buf_consume(&fx->in, fx->in.len);
    assert_int_equal(socks5_init(&fx->s, "h", 1, "u", "p"), 0);
    assert_int_equal(feed(fx, gssapi, 2, &err), -1);
    assert_string_equal(err, "SOCKS5: proxy chose an authentication method we did not offer");
}

static void test_wrong_version(void **state)
{
    struct fx *fx = *state;
    const char *err;

    assert_int_equal(socks5_init(&fx->s, "h", 1, NULL, NULL), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    /* An HTTP proxy answering: refused at the first byte. */
    assert_int_equal(feed(fx, "H", 1, &err), -1);
    assert_string_equal(err, "SOCKS5: not a SOCKS5 proxy (wrong version in its answer)");
    buf_consume(&fx->in, fx->in.len);
    assert_int_equal(socks5_init(&fx->s, "h", 1, NULL, NULL), 0);
    assert_int_equal(feed(fx, "\x04\x5a", 2, &err), -1);
    assert_string_equal(err, "SOCKS5: not a SOCKS5 proxy (wrong version in its answer)");
}

static void test_reply_wrong_version(void **state)
{
    struct fx *fx = *state;
    const char *err;

    begin_noauth(fx, "h", 1);
    assert_int_equal(feed(fx, "\x00", 1, &err), -1);
    assert_string_equal(err, "SOCKS5: malformed reply to CONNECT (wrong version)");
}

static void test_reply_unknown_atyp(void **state)
{
    static const uint8_t rep[] = {5, 0, 0, 2, 0, 0, 0, 0, 0, 0};
    struct fx *fx = *state;
    const char *err;

    begin_noauth(fx, "h", 1);
    assert_int_equal(feed_bytes(fx, rep, 4, &err), -1);
    assert_string_equal(err, "SOCKS5: malformed reply to CONNECT (unknown address type)");
}

static void test_rep_codes(void **state)
{
    static const char *const want[] = {
        NULL,
        "SOCKS5: general failure of the proxy",
        "SOCKS5: connection not allowed by the proxy's rules",
        "SOCKS5: network unreachable from the proxy",
        "SOCKS5: host unreachable from the proxy",
        "SOCKS5: connection refused by the proxy's target",
        "SOCKS5: TTL expired on the way to the target",
        "SOCKS5: proxy does not support CONNECT",
        "SOCKS5: proxy does not support host names as targets",
        "SOCKS5: proxy failed with an unknown code",
    };
    struct fx *fx = *state;
    uint8_t rep[10] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    const char *err;
    unsigned code;

    for (code = 1; code <= 9; code++) {
        fx_teardown(state);
        fx_setup(state);
        fx = *state;
        begin_noauth(fx, "registry-1.docker.io", 443);
        rep[1] = (uint8_t)(code == 9 ? 0x42 : code);
        /* Known from the second byte on: no need to wait for the rest. */
        assert_int_equal(feed_bytes(fx, rep, 2, &err), -1);
        assert_string_equal(err, want[code]);
        assert_int_equal(fx->s.rep, rep[1]);
        assert_int_equal(fx->s.state, SOCKS5_S_FAILED);
    }
}

static void test_init_limits(void **state)
{
    char big[300];
    struct socks5 s;

    (void)state;
    memset(big, 'a', sizeof(big));
    big[255] = '\0';
    assert_int_equal(socks5_init(&s, big, 443, big, big), 0);
    big[255] = 'a';
    big[256] = '\0';
    assert_int_equal(socks5_init(&s, big, 443, NULL, NULL), -1);
    assert_int_equal(socks5_init(&s, "h", 443, big, "p"), -1);
    assert_int_equal(socks5_init(&s, "h", 443, "u", big), -1);
    assert_int_equal(socks5_init(&s, "", 443, NULL, NULL), -1);
    assert_int_equal(socks5_init(&s, NULL, 443, NULL, NULL), -1);
    assert_int_equal(socks5_init(&s, "h", 0, NULL, NULL), -1);
}

static void test_longest_fields_on_the_wire(void **state)
{
    static const uint8_t choice[] = {5, 2, 1, 0};
    struct fx *fx = *state;
    char big[256];
    const char *err;

    memset(big, 'z', 255);
    big[255] = '\0';
    assert_int_equal(socks5_init(&fx->s, big, 65535, big, big), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    buf_consume(&fx->out, fx->out.len);
    assert_int_equal(feed(fx, choice, 2, &err), 0);
    assert_int_equal(fx->out.len, 3 + 255 + 255);
    buf_consume(&fx->out, fx->out.len);
    assert_int_equal(feed(fx, choice + 2, 2, &err), 0);
    assert_int_equal(fx->out.len, 7 + 255);
    assert_memory_equal(buf_data(&fx->out) + 5 + 255, "\xff\xff", 2);
}

static void test_no_room(void **state)
{
    struct fx *fx = *state;
    struct buf tiny;
    const char *err;

    (void)fx;
    buf_init(&tiny, 3);
    assert_int_equal(socks5_init(&fx->s, "h", 1, "u", "p"), 0);
    assert_int_equal(socks5_start(&fx->s, &tiny), -1);
    assert_int_equal(socks5_init(&fx->s, "h", 1, NULL, NULL), 0);
    assert_int_equal(socks5_start(&fx->s, &tiny), 0);
    /* The CONNECT request does not fit what is left. */
    put(&fx->in, "\x05\x00", 2);
    assert_int_equal(socks5_input(&fx->s, &fx->in, &tiny, &err), -1);
    assert_string_equal(err, "SOCKS5: no room for our request");
    buf_free(&tiny);
}

static void test_empty_input(void **state)
{
    struct fx *fx = *state;
    const char *err;

    assert_int_equal(socks5_init(&fx->s, "h", 1, NULL, NULL), 0);
    assert_int_equal(socks5_start(&fx->s, &fx->out), 0);
    /* in never allocated: nothing to read yet. */
    assert_int_equal(socks5_input(&fx->s, &fx->in, &fx->out, &err), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_greeting_noauth),
        T(test_reply_ipv4),
        T(test_reply_ipv6),
        T(test_reply_domain),
        T(test_reply_domain_empty),
        T(test_leftover_stays),
        T(test_auth_success_bytewise),
        T(test_auth_server_picks_noauth),
        T(test_auth_empty_password),
        T(test_auth_failure),
        T(test_auth_bad_version),
        T(test_method_refused),
        T(test_method_not_offered),
        T(test_wrong_version),
        T(test_reply_wrong_version),
        T(test_reply_unknown_atyp),
        T(test_rep_codes),
        T(test_init_limits),
        T(test_longest_fields_on_the_wire),
        T(test_no_room),
        T(test_empty_input),
    };

    return cmocka_run_group_tests_name("socks5", tests, NULL, NULL);
}
