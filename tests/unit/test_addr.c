/* test_addr.c — host:port parsing, CIDR parsing and matching, formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "base/addr.h"

static int hp(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    memset(host, 'X', hostlen);
    *port = 7;
    return addr_parse_hostport(s, host, hostlen, port);
}

static void test_hostport_ipv4(void **state)
{
    char host[64];
    uint16_t port;

    (void)state;
    assert_int_equal(hp("127.0.0.1:3128", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 3128);
}

static void test_hostport_name(void **state)
{
    char host[64];
    uint16_t port;

    (void)state;
    assert_int_equal(hp("registry-1.docker.io:443", host, sizeof(host), &port), 0);
    assert_string_equal(host, "registry-1.docker.io");
    assert_int_equal(port, 443);
}

static void test_hostport_ipv6_brackets(void **state)
{
    char host[64];
    uint16_t port;

    (void)state;
    assert_int_equal(hp("[::1]:3128", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 3128);
    assert_int_equal(hp("[2001:db8::ffff:192.0.2.1]:65535", host, sizeof(host), &port), 0);
    assert_string_equal(host, "2001:db8::ffff:192.0.2.1");
    assert_int_equal(port, 65535);
}

static void test_hostport_port_bounds(void **state)
{
    char host[64];
    uint16_t port;

    (void)state;
    assert_int_equal(hp("h:1", host, sizeof(host), &port), 0);
    assert_int_equal(port, 1);
    assert_int_equal(hp("h:65535", host, sizeof(host), &port), 0);
    assert_int_equal(port, 65535);
    assert_int_equal(hp("h:0", host, sizeof(host), &port), -1);
    assert_int_equal(hp("h:00000", host, sizeof(host), &port), -1);
    assert_int_equal(hp("h:65536", host, sizeof(host), &port), -1);
    assert_int_equal(hp("h:99999", host, sizeof(host), &port), -1);
    assert_int_equal(hp("h:4294967377", host, sizeof(host), &port), -1);
    assert_int_equal(hp("h:000080", host, sizeof(host), &port), -1);
}

static void test_hostport_port_not_digits(void **state)
{
    char host[64];
    uint16_t port;

    (void)state;
    assert_int_equal(hp("h:+80", host, sizeof(host), &port), -1);
    assert_int_equal(hp("h:-80", host, sizeof(host), &port), -1);
    assert_int_equal(hp("h: 80", host, sizeof(host), &port), -1);
    assert_int_equal(hp("h:80 ", host, sizeof(host), &port), -1);
    assert_int_equal(hp("h:80a", host, sizeof(host), &port), -1);
    assert_int_equal(hp("h:0x50", host, sizeof(host), &port), -1);
}

static void test_hostport_missing_port(void **state)
{
    char host[64];
    uint16_t port;

    (void)state;
    assert_int_equal(hp("127.0.0.1", host, sizeof(host), &port), -1);
    assert_int_equal(hp("127.0.0.1:", host, sizeof(host), &port), -1);
    assert_int_equal(hp("[::1]", host, sizeof(host), &port), -1);
    assert_int_equal(hp("[::1]:", host, sizeof(host), &port), -1);
    /* Output is only written on success. */
    assert_int_equal(port, 7);
    assert_int_equal(host[0], 'X');
}

static void test_hostport_bracket_without_close(void **state)
{
    char host[64];
    uint16_t port;

    (void)state;
    assert_int_equal(hp("[::1:3128", host, sizeof(host), &port), -1);
    assert_int_equal(hp("[::1]3128", host, sizeof(host), &port), -1);
    assert_int_equal(hp("[", host, sizeof(host), &port), -1);
}

static void test_hostport_empty_host(void **state)
{
    char host[64];
    uint16_t port;

    (void)state;
    assert_int_equal(hp(":3128", host, sizeof(host), &port), -1);
    assert_int_equal(hp("[]:3128", host, sizeof(host), &port), -1);
    assert_int_equal(hp("", host, sizeof(host), &port), -1);
}

static void test_hostport_ipv6_needs_brackets(void **state)
{
    char host[64];
    uint16_t port;

    (void)state;
    assert_int_equal(hp("::1:3128", host, sizeof(host), &port), -1);
    assert_int_equal(hp("[foo]:80", host, sizeof(host), &port), -1);
    assert_int_equal(hp("[1.2.3.4]:80", host, sizeof(host), &port), -1);
    assert_int_equal(hp("[::1]]:80", host, sizeof(host), &port), -1);
}

static void test_hostport_bad_host_bytes(void **state)
{
    char host[64];
    uint16_t port;

    (void)state;
    assert_int_equal(hp("a b:80", host, sizeof(host), &port), -1);
    assert_int_equal(hp("a\r\nb:80", host, sizeof(host), &port), -1);
    assert_int_equal(hp("a]:80", host, sizeof(host), &port), -1);
    assert_int_equal(hp("a\x7f:80", host, sizeof(host), &port), -1);
}

static void test_hostport_host_length(void **state)
{
    char host[4];
    uint16_t port;

    (void)state;
    assert_int_equal(hp("abc:1", host, sizeof(host), &port), 0);
    assert_string_equal(host, "abc");
    assert_int_equal(hp("abcd:1", host, sizeof(host), &port), -1);
    assert_int_equal(hp("[::1]:1", host, sizeof(host), &port), 0);
    assert_int_equal(hp("[::12]:1", host, sizeof(host), &port), -1);
    assert_int_equal(addr_parse_hostport("a:1", host, 0, &port), -1);
    assert_int_equal(addr_parse_hostport(NULL, host, sizeof(host), &port), -1);
}

static void test_cidr_parse_ipv4(void **state)
{
    static const uint8_t want[4] = {10, 0, 0, 0};
    struct cidr c;

    (void)state;
    assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_memory_equal(c.addr, want, 4);
}

static void test_cidr_parse_clears_host_bits(void **state)
{
    static const uint8_t want4[4] = {192, 168, 8, 0};
    static const uint8_t want6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x80};
    struct cidr c;

    (void)state;
    assert_int_equal(cidr_parse("192.168.15.77/21", &c), 0);
    assert_memory_equal(c.addr, want4, 4);
    assert_int_equal(cidr_parse("2001:db8:8fff::1/33", &c), 0);
    assert_int_equal(c.family, AF_INET6);
    assert_memory_equal(c.addr, want6, 16);
    assert_int_equal(cidr_parse("255.255.255.255/0", &c), 0);
    assert_int_equal(c.prefix, 0);
    assert_int_equal(c.addr[0], 0);
}

static void test_cidr_parse_ipv6_and_bare(void **state)
{
    struct cidr c;
    uint8_t want[16] = {0};

    (void)state;
    want[15] = 1;
    assert_int_equal(cidr_parse("::1/128", &c), 0);
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.prefix, 128);
    assert_memory_equal(c.addr, want, 16);
    assert_int_equal(cidr_parse("::1", &c), 0);
    assert_int_equal(c.prefix, 128);
    assert_int_equal(cidr_parse("192.0.2.7", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 32);
}

static void test_cidr_parse_bad(void **state)
{
    static const char *const bad[] = {
        "", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/+8",
        "10.0.0.0/8/8", "10.0.0.0/0008", "10.0.0.0/ 8", "10.0.0/8", "10/8", "foo",
        "10.0.0.0 /8", "1.2.3.4.5", "::1::2/64", "0x0a000000/8",
        "1111:2222:3333:4444:5555:6666:7777:8888:9999/64",
    };
    struct cidr c;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c.prefix = 99;
        if (cidr_parse(bad[i], &c) != -1)
            fail_msg("cidr_parse accepted \"%s\"", bad[i]);
        assert_int_equal(c.prefix, 99);
    }
    assert_int_equal(cidr_parse(NULL, &c), -1);
}

static struct sockaddr_in sin4(const char *ip)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(40000);
    assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    return sa;
}

static struct sockaddr_in6 sin6(const char *ip)
{
    struct sockaddr_in6 sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(40000);
    assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
    return sa;
}

/* A list from a space-separated string; the caller frees it. */
static struct cidr_list list_of(const char *nets)
{
    struct cidr_list l = {NULL, 0};
    char buf[256], *save = NULL, *tok;
    struct cidr c;

    snprintf(buf, sizeof(buf), "%s", nets);
    for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        assert_int_equal(cidr_parse(tok, &c), 0);
        assert_int_equal(cidr_list_add(&l, &c), 0);
    }
    return l;
}

static int match4(const struct cidr_list *l, const char *ip)
{
    struct sockaddr_in sa = sin4(ip);

    return cidr_list_match(l, (const struct sockaddr *)&sa);
}

static int match6(const struct cidr_list *l, const char *ip)
{
    struct sockaddr_in6 sa = sin6(ip);

    return cidr_list_match(l, (const struct sockaddr *)&sa);
}

static void test_match_ipv4(void **state)
{
    struct cidr_list l = list_of("127.0.0.0/8 192.168.8.0/21");

    (void)state;
    assert_int_equal(l.n, 2);
    assert_int_equal(match4(&l, "127.0.0.1"), 1);
    assert_int_equal(match4(&l, "127.255.255.255"), 1);
    assert_int_equal(match4(&l, "192.168.15.255"), 1);
    assert_int_equal(match4(&l, "192.168.16.0"), 0);
    assert_int_equal(match4(&l, "192.168.7.255"), 0);
    assert_int_equal(match4(&l, "128.0.0.1"), 0);
    assert_int_equal(match6(&l, "::1"), 0);
    cidr_list_free(&l);
    assert_null(l.v);
    assert_int_equal(l.n, 0);
}

static void test_match_ipv6(void **state)
{
    struct cidr_list l = list_of("::1/128 2001:db8::/127");

    (void)state;
    assert_int_equal(match6(&l, "::1"), 1);
    assert_int_equal(match6(&l, "::2"), 0);
    assert_int_equal(match6(&l, "2001:db8::1"), 1);
    assert_int_equal(match6(&l, "2001:db8::2"), 0);
    assert_int_equal(match4(&l, "127.0.0.1"), 0);
    cidr_list_free(&l);
}

static void test_match_v4_mapped_client(void **state)
{
    struct cidr_list l = list_of("127.0.0.0/8");

    (void)state;
    assert_int_equal(match6(&l, "::ffff:127.0.0.1"), 1);
    assert_int_equal(match6(&l, "::ffff:10.0.0.1"), 0);
    /* Not mapped: the same last 32 bits mean nothing. */
    assert_int_equal(match6(&l, "::127.0.0.1"), 0);
    assert_int_equal(match6(&l, "64:ff9b::127.0.0.1"), 0);
    cidr_list_free(&l);
}

static void test_match_v4_client_v6_mapped_network(void **state)
{
    struct cidr_list l = list_of("::ffff:10.0.0.0/104");

    (void)state;
    assert_int_equal(match4(&l, "10.1.2.3"), 1);
    assert_int_equal(match4(&l, "11.1.2.3"), 0);
    assert_int_equal(match6(&l, "::ffff:10.9.9.9"), 1);
    cidr_list_free(&l);
}

static void test_match_prefix_zero(void **state)
{
    struct cidr_list l4 = list_of("0.0.0.0/0"), l6 = list_of("::/0");

    (void)state;
    assert_int_equal(match4(&l4, "203.0.113.9"), 1);
    assert_int_equal(match4(&l4, "0.0.0.0"), 1);
    assert_int_equal(match6(&l4, "::ffff:203.0.113.9"), 1);
    assert_int_equal(match6(&l4, "2001:db8::1"), 0);
    assert_int_equal(match6(&l6, "2001:db8::1"), 1);
    assert_int_equal(match6(&l6, "::"), 1);
    cidr_list_free(&l4);
    cidr_list_free(&l6);
}

static void test_match_none(void **state)
{
    struct cidr_list empty = {NULL, 0}, l = list_of("10.0.0.0/8");
    struct sockaddr sa;

    (void)state;
    assert_int_equal(match4(&empty, "10.0.0.1"), 0);
    assert_int_equal(cidr_list_match(NULL, NULL), 0);
    assert_int_equal(cidr_list_match(&l, NULL), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    assert_int_equal(cidr_list_match(&l, &sa), 0);
    cidr_list_free(&l);
    cidr_list_free(NULL);
}

static void test_format(void **state)
{
    struct sockaddr_in a4 = sin4("192.0.2.1");
    struct sockaddr_in6 a6 = sin6("2001:db8::1"), m6 = sin6("::ffff:192.0.2.1");
    struct sockaddr other;
    char out[64];

    (void)state;
    addr_format((const struct sockaddr *)&a4, out, sizeof(out));
    assert_string_equal(out, "192.0.2.1:40000");
    addr_format((const struct sockaddr *)&a6, out, sizeof(out));
    assert_string_equal(out, "[2001:db8::1]:40000");
    addr_format((const struct sockaddr *)&m6, out, sizeof(out));
    assert_string_equal(out, "[::ffff:192.0.2.1]:40000");
    memset(&other, 0, sizeof(other));
    other.sa_family = AF_UNIX;
    addr_format(&other, out, sizeof(out));
    assert_string_equal(out, "?");
    addr_format(NULL, out, sizeof(out));
    assert_string_equal(out, "?");
}

static void test_format_truncates(void **state)
{
    struct sockaddr_in a4 = sin4("192.0.2.1");
    char out[8];

    (void)state;
    memset(out, 'X', sizeof(out));
    addr_format((const struct sockaddr *)&a4, out, sizeof(out));
    assert_string_equal(out, "192.0.2");
    out[0] = 'X';
    addr_format((const struct sockaddr *)&a4, out, 0);
    assert_int_equal(out[0], 'X');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostport_ipv4),
        cmocka_unit_test(test_hostport_name),
        cmocka_unit_test(test_hostport_ipv6_brackets),
        cmocka_unit_test(test_hostport_port_bounds),
        cmocka_unit_test(test_hostport_port_not_digits),
        cmocka_unit_test(test_hostport_missing_port),
        cmocka_unit_test(test_hostport_bracket_without_close),
        cmocka_unit_test(test_hostport_empty_host),
        cmocka_unit_test(test_hostport_ipv6_needs_brackets),
        cmocka_unit_test(test_hostport_bad_host_bytes),
        cmocka_unit_test(test_hostport_host_length),
        cmocka_unit_test(test_cidr_parse_ipv4),
        cmocka_unit_test(test_cidr_parse_clears_host_bits),
        cmocka_unit_test(test_cidr_parse_ipv6_and_bare),
        cmocka_unit_test(test_cidr_parse_bad),
        cmocka_unit_test(test_match_ipv4),
        cmocka_unit_test(test_match_ipv6),
        cmocka_unit_test(test_match_v4_mapped_client),
        cmocka_unit_test(test_match_v4_client_v6_mapped_network),
        cmocka_unit_test(test_match_prefix_zero),
        cmocka_unit_test(test_match_none),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_truncates),
    };

    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
