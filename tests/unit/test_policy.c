/* test_policy.c — mitm/policy: which CONNECT targets are intercepted (by
 * name, any case, trailing dot, port 443 only), host comparison of spans,
 * CONNECT ports and destination checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proxy/core/policy.h"
#include "base/uri.h"
#include "proxy/core/config.h"

static struct config cfg;
static char *page_map;
static size_t page_maplen;
static char *page_end;  /* first byte of a PROT_NONE page */

static int setup(void **state)
{
    static const char text[] =
        "[proxy]\n"
        "listen = 127.0.0.1:3128\n"
        "connect_ports = 443 8443\n"
        "[ca]\n"
        "dir = /nonexistent\n"
        "[intercept]\n"
        "hosts = Registry-1.Docker.IO auth.docker.io\n"
        "hosts = origin.test\n";
    char err[512];
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);

    (void)state;
    if (config_load_string(&cfg, "policy.ini", text, sizeof(text) - 1, err, sizeof(err)) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    page_maplen = 2 * pg;
    page_map = mmap(NULL, page_maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
    if (page_map == MAP_FAILED)
        return -1;
    page_end = page_map + pg;
    return mprotect(page_end, pg, PROT_NONE);
}

static int teardown(void **state)
{
    (void)state;
    config_free(&cfg);
    munmap(page_map, page_maplen);
    return 0;
}

/* s without a NUL, ending at the guard page. */
static const char *at_end(const char *s)
{
    size_t n = strlen(s);

    memcpy(page_end - n, s, n);
    return page_end - n;
}

static void test_intercept_names(void **state)
{
    (void)state;
    assert_true(policy_intercept(&cfg, "registry-1.docker.io", 443));
    assert_true(policy_intercept(&cfg, "auth.docker.io", 443));
    assert_true(policy_intercept(&cfg, "origin.test", 443));
}

static void test_intercept_any_case_and_trailing_dot(void **state)
{
    (void)state;
    assert_true(policy_intercept(&cfg, "REGISTRY-1.DOCKER.IO", 443));
    assert_true(policy_intercept(&cfg, "Origin.Test", 443));
    assert_true(policy_intercept(&cfg, "registry-1.docker.io.", 443));
    assert_true(policy_intercept(&cfg, "ORIGIN.TEST.", 443));
    assert_false(policy_intercept(&cfg, "origin.test..", 443));
    assert_false(policy_intercept(&cfg, ".origin.test", 443));
    /* the configured spelling comes back: leaves and SNI checks use it */
    assert_string_equal(policy_intercept(&cfg, "REGISTRY-1.DOCKER.IO.", 443),
                        "registry-1.docker.io");
}

static void test_intercept_port_443_only(void **state)
{
    static const unsigned ports[] = { 0, 1, 80, 442, 444, 8443, 4430, 65535, 443 + 65536 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
        if (policy_intercept(&cfg, "registry-1.docker.io", ports[i]))
            fail_msg("intercepted on port %u", ports[i]);
}

static void test_intercept_no_near_misses(void **state)
{
    static const char *const names[] = {
        "docker.io", "registry-1.docker.io.evil.example", "evil-registry-1.docker.io",
        "xregistry-1.docker.io", "registry-1.docker.i", "registry-1.docker.io\n",
        "registry-1.docker.io ", "registry-1,docker.io", "origin", "test", "", ".",
        "production.cloudflare.docker.com", /* not in this config */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (policy_intercept(&cfg, names[i], 443))
            fail_msg("intercepted \"%s\"", names[i]);
}

static void test_host_eq_spans(void **state)
{
    (void)state;
    /* Spans are not NUL-terminated: compared within their length only. */
    assert_true(uri_host_eq(at_end("origin.test"), 11, "origin.test"));
    assert_true(uri_host_eq(at_end("ORIGIN.test."), 12, "origin.test"));
    assert_true(uri_host_eq(at_end("origin.test:443"), 11, "origin.test"));
    assert_false(uri_host_eq(at_end("origin.test:443"), 15, "origin.test"));
    assert_false(uri_host_eq(at_end("origin.tes"), 10, "origin.test"));
    assert_false(uri_host_eq(at_end("origin.test.."), 13, "origin.test"));
    assert_false(uri_host_eq(at_end("."), 1, "origin.test"));
    assert_false(uri_host_eq(at_end(""), 0, "origin.test"));
    assert_false(uri_host_eq(at_end("other.test"), 10, "origin.test"));
    /* Only one trailing dot is dropped, and only from the span. */
    assert_true(uri_host_eq(at_end("a."), 2, "a"));
    assert_false(uri_host_eq(at_end("a"), 1, "a."));
}

static void test_connect_ports(void **state)
{
    struct config none;
    char err[512];
    static const char text[] = "[ca]\ndir = /nonexistent\n";

    (void)state;
    assert_true(policy_port_ok(&cfg, 443));
    assert_true(policy_port_ok(&cfg, 8443));
    assert_false(policy_port_ok(&cfg, 22));
    assert_false(policy_port_ok(&cfg, 80));
    /* An empty list allows any port. */
    assert_int_equal(config_load_string(&none, "none.ini", text, sizeof(text) - 1, err,
                                        sizeof(err)), 0);
    assert_true(policy_port_ok(&none, 22));
    assert_true(policy_port_ok(&none, 443));
    config_free(&none);
}

static void test_dest_checks(void **state)
{
    struct sockaddr_in sin;
    const char *why = NULL;

    (void)state;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    /* hubgate's own listener is a loop */
    sin.sin_port = htons(3128);
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    assert_false(policy_dest_ok(&cfg, (struct sockaddr *)&sin, 1, &why));
    assert_non_null(why);
    /* loopback: only for clients on loopback */
    sin.sin_port = htons(8080);
    assert_true(policy_dest_ok(&cfg, (struct sockaddr *)&sin, 1, &why));
    why = NULL;
    assert_false(policy_dest_ok(&cfg, (struct sockaddr *)&sin, 0, &why));
    assert_non_null(why);
    /* the default deny_targets: link-local */
    inet_pton(AF_INET, "169.254.169.254", &sin.sin_addr);
    sin.sin_port = htons(80);
    assert_false(policy_dest_ok(&cfg, (struct sockaddr *)&sin, 1, &why));
    /* anything else */
    inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
    sin.sin_port = htons(443);
    assert_true(policy_dest_ok(&cfg, (struct sockaddr *)&sin, 0, &why));
    /* 0.0.0.0 reaches this host */
    inet_pton(AF_INET, "0.0.0.0", &sin.sin_addr);
    assert_false(policy_dest_ok(&cfg, (struct sockaddr *)&sin, 1, &why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intercept_names),
        cmocka_unit_test(test_intercept_any_case_and_trailing_dot),
        cmocka_unit_test(test_intercept_port_443_only),
        cmocka_unit_test(test_intercept_no_near_misses),
        cmocka_unit_test(test_host_eq_spans),
        cmocka_unit_test(test_connect_ports),
        cmocka_unit_test(test_dest_checks),
    };

    return cmocka_run_group_tests_name("policy", tests, setup, teardown);
}
