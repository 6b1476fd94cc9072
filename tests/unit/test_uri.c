/* test_uri.c — base/uri: absolute URIs split into spans (schemes, userinfo,
 * IPv6 brackets, ports), and the host check.
 *
 * Every input is copied, without a NUL, to the end of a page that a
 * PROT_NONE page follows: uri_parse() gets a length, and a read past it
 * crashes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/uri.h"

#define ARENA_SIZE (16u * 1024u)

#include "arena.h"

/* n bytes of s, ending at the guard page. */
static const char *at_end_n(const char *s, size_t n)
{
    assert_true(n <= ARENA_SIZE);
    memcpy(arena_end - n, s, n);
    return arena_end - n;
}

static const char *at_end(const char *s)
{
    return at_end_n(s, strlen(s));
}

static int parse(const char *s, struct uri *u)
{
    return uri_parse(at_end(s), strlen(s), u);
}

static void assert_span(const char *p, size_t n, const char *want)
{
    if (want == NULL) {
        assert_int_equal(n, 0);
        return;
    }
    if (n != strlen(want) || (n && memcmp(p, want, n) != 0))
        fail_msg("span \"%.*s\" != \"%s\"", (int)n, p ? p : "", want);
}

/* Parses s, which must be accepted, and checks every part (NULL: empty). */
static void check(const char *s, const char *scheme, const char *user, const char *pass,
                  const char *host, unsigned port, const char *path)
{
    struct uri u;

    if (parse(s, &u) != 0)
        fail_msg("refused: %s", s);
    assert_span(u.scheme, u.scheme_len, scheme);
    assert_span(u.user, u.user_len, user);
    assert_span(u.pass, u.pass_len, pass);
    assert_span(u.host, u.host_len, host);
    assert_int_equal(u.port, port);
    assert_span(u.path, u.path_len, path);
}

static void refused(const char *s)
{
    struct uri u;

    if (parse(s, &u) != -1)
        fail_msg("accepted: %s", s);
}

static void test_http_plain(void **state)
{
    (void)state;
    check("http://origin.test/v2/", "http", NULL, NULL, "origin.test", 0, "/v2/");
    check("http://origin.test", "http", NULL, NULL, "origin.test", 0, NULL);
    check("http://origin.test:8080/a?b=c#d", "http", NULL, NULL, "origin.test", 8080,
          "/a?b=c#d");
    check("http://h?q=1", "http", NULL, NULL, "h", 0, "?q=1");
    check("http://h#frag", "http", NULL, NULL, "h", 0, "#frag");
    check("HTTP://H.Example:1/", "HTTP", NULL, NULL, "H.Example", 1, "/");
    check("http://192.0.2.1:65535/x", "http", NULL, NULL, "192.0.2.1", 65535, "/x");
}

static void test_https_and_socks5_with_userinfo(void **state)
{
    (void)state;
    check("https://user:pa%3Ass@relay.example:8443/prefix/", "https", "user", "pa%3Ass",
          "relay.example", 8443, "/prefix/");
    check("socks5://u:p@127.0.0.1:1080", "socks5", "u", "p", "127.0.0.1", 1080, NULL);
    check("socks5h://alice@proxy.example:1080", "socks5h", "alice", NULL, "proxy.example",
          1080, NULL);
    /* an empty password, an empty user */
    check("http://u:@h:3128", "http", "u", NULL, "h", 3128, NULL);
    check("http://:p@h:3128", "http", NULL, "p", "h", 3128, NULL);
    /* userinfo ends at the last '@' of the authority ... */
    check("http://u:p@ss@h:1/", "http", "u", "p@ss", "h", 1, "/");
    /* ... and a '@' in the path is not userinfo */
    check("http://h/a@b:c", "http", NULL, NULL, "h", 0, "/a@b:c");
    check("http://h?x=a@b", "http", NULL, NULL, "h", 0, "?x=a@b");
}

static void test_ipv6_brackets(void **state)
{
    (void)state;
    check("http://[::1]/", "http", NULL, NULL, "::1", 0, "/");
    check("http://[::1]:8080", "http", NULL, NULL, "::1", 8080, NULL);
    check("https://u:p@[2001:db8::ffff:192.0.2.1]:443/v2/", "https", "u", "p",
          "2001:db8::ffff:192.0.2.1", 443, "/v2/");
    check("socks5://[fe80::1]:1080", "socks5", NULL, NULL, "fe80::1", 1080, NULL);
    refused("http://[::1");        /* no closing bracket */
    refused("http://[::1]x/");     /* junk after it */
    refused("http://[::1]:/");     /* empty port */
    refused("http://[]:80/");      /* empty host */
    refused("http://[::1/]:80");   /* the bracket is past the authority */
}

static void test_port_bounds(void **state)
{
    (void)state;
    check("http://h:1", "http", NULL, NULL, "h", 1, NULL);
    check("http://h:65535", "http", NULL, NULL, "h", 65535, NULL);
    check("http://h:00080/", "http", NULL, NULL, "h", 80, "/");
    refused("http://h:0/");
    refused("http://h:00000/");
    refused("http://h:65536/");
    refused("http://h:99999");
    refused("http://h:123456/");
    refused("http://h:4294967377/");
    refused("http://h:-1/");
    refused("http://h:+80/");
    refused("http://h: 80/");
    refused("http://h:80 /");
    refused("http://h:8o/");
    refused("http://h:/");
    refused("http://h:80:81/");
    refused("http://[::1]:0");
    refused("http://[::1]:65536");
}

static void test_not_absolute(void **state)
{
    (void)state;
    refused("");
    refused("/v2/");
    refused("origin.test:443");
    refused("://h/");
    refused("http:");
    refused("http:/");
    refused("http:/h/");
    refused("http://");
    refused("http:///path");
    refused("http://u:p@/path");
    refused("http://:80/");
    refused("http://u@");
}

static void test_every_prefix_is_safe(void **state)
{
    static const char *const all[] = {
        "https://user:pass@[2001:db8::1]:65535/p?q#f",
        "socks5://u:p@127.0.0.1:1080",
        "http://h:80",
    };
    size_t i, n;

    (void)state;
    /* Each cut of a valid URI is parsed within its length: a read past it
     * hits the guard page. The result may be either. */
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        for (n = 0; n <= strlen(all[i]); n++) {
            struct uri u;
            char *p = arena_end - n;
            int rc;

            memcpy(p, all[i], n);
            rc = uri_parse(p, n, &u);
            assert_true(rc == 0 || rc == -1);
            if (rc == 0) {
                assert_true(u.host >= p && u.host + u.host_len <= p + n);
                assert_true(u.path_len == 0 || u.path + u.path_len == p + n);
            }
        }
    }
}

static void test_host_ok(void **state)
{
    char long_name[300];

    (void)state;
    assert_true(uri_host_ok(at_end("registry-1.docker.io"), 20));
    assert_true(uri_host_ok(at_end("origin.test."), 12));
    assert_true(uri_host_ok(at_end("a_b.example"), 11));
    assert_true(uri_host_ok(at_end("192.0.2.1"), 9));
    assert_true(uri_host_ok(at_end("::1"), 3));
    assert_true(uri_host_ok(at_end("2001:db8::ffff:192.0.2.1"), 24));
    assert_false(uri_host_ok(at_end(""), 0));
    assert_false(uri_host_ok(at_end("a b"), 3));
    assert_false(uri_host_ok(at_end("a/b"), 3));
    assert_false(uri_host_ok(at_end("a@b"), 3));
    assert_false(uri_host_ok(at_end("h:80"), 4));         /* a colon, not IPv6 */
    assert_false(uri_host_ok(at_end("[::1]"), 5));        /* brackets are not part of it */
    assert_false(uri_host_ok(at_end("fe80::1%eth0"), 12));
    assert_false(uri_host_ok(at_end("h\r\nX: 1"), 7));
    assert_false(uri_host_ok(at_end("DNS:a,DNS:b"), 11)); /* SAN injection */
    memset(long_name, 'a', sizeof(long_name));
    assert_true(uri_host_ok(at_end_n(long_name, 253), 253));
    assert_false(uri_host_ok(at_end_n(long_name, 254), 254));
    /* an IPv6-looking string too long for a literal */
    memset(long_name, ':', 100);
    assert_false(uri_host_ok(at_end_n(long_name, 100), 100));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_plain),
        cmocka_unit_test(test_https_and_socks5_with_userinfo),
        cmocka_unit_test(test_ipv6_brackets),
        cmocka_unit_test(test_port_bounds),
        cmocka_unit_test(test_not_absolute),
        cmocka_unit_test(test_every_prefix_is_safe),
        cmocka_unit_test(test_host_ok),
    };

    return cmocka_run_group_tests_name("uri", tests, arena_up, arena_down);
}
