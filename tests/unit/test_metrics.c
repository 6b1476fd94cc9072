/* test_metrics.c — label escaping, counters, gauges, stable and well-formed
 * rendering, the ring of recent requests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"

static char *render(const struct metrics *m)
{
    char *out = NULL;
    size_t len = 0;

    assert_int_equal(metrics_render(m, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_label_escaping(void **state)
{
    char l[256];

    (void)state;
    assert_string_equal(metrics_label(l, sizeof(l), "host", "auth.docker.io", "code", "200",
                                      METRICS_END),
                        "host=\"auth.docker.io\",code=\"200\"");
    assert_string_equal(metrics_label(l, sizeof(l), "link", "a\"b\\c\nd", METRICS_END),
                        "link=\"a\\\"b\\\\c\\nd\"");
    assert_string_equal(metrics_label(l, sizeof(l), METRICS_END), "");
    assert_string_equal(metrics_label(l, sizeof(l), "k", "", METRICS_END), "k=\"\"");
}

static void test_label_truncation_drops_pairs(void **state)
{
    char l[24];

    (void)state;
    /* The second pair does not fit: dropped whole, never cut mid-value. */
    assert_string_equal(metrics_label(l, sizeof(l), "a", "12345", "b", "1234567890",
                                      METRICS_END),
                        "a=\"12345\"");
    assert_string_equal(metrics_label(l, 5, "host", "x", METRICS_END), "");
    assert_string_equal(metrics_label(l, sizeof(l), "a", "\"\"\"\"\"\"\"\"\"\"\"\"",
                                      METRICS_END), "");
}

static void test_counter_adds(void **state)
{
    struct metrics *m = metrics_new();
    char l[128], *out;

    (void)state;
    assert_non_null(m);
    metrics_label(l, sizeof(l), "host", "registry-1.docker.io", "link", "direct", "code", "200",
                  METRICS_END);
    metrics_add(m, "hubgate_requests_total", l, 1);
    metrics_add(m, "hubgate_requests_total", l, 2);
    metrics_add(m, "hubgate_bytes_total", "direction=\"in\",link=\"direct\"", 1048576);
    metrics_add(m, "hubgate_bytes_total", "direction=\"in\",link=\"direct\"", 0.5);
    out = render(m);
    assert_non_null(strstr(out, "\nhubgate_requests_total{host=\"registry-1.docker.io\","
                                "link=\"direct\",code=\"200\"} 3\n"));
    assert_non_null(strstr(out, "\nhubgate_bytes_total{direction=\"in\",link=\"direct\"} "
                                "1048576.5\n"));
    free(out);
    metrics_free(m);
}

static void test_gauge_sets(void **state)
{
    struct metrics *m = metrics_new();
    char *out;

    (void)state;
    metrics_set(m, "hubgate_connections", "kind=\"client\"", 5);
    metrics_set(m, "hubgate_connections", "kind=\"client\"", 7);
    metrics_set(m, "hubgate_dockerhub_ratelimit_remaining", "", 99);
    metrics_set(m, "hubgate_ca_expiry_timestamp_seconds", "", 1893456000);
    out = render(m);
    assert_non_null(strstr(out, "\nhubgate_connections{kind=\"client\"} 7\n"));
    assert_null(strstr(out, "} 5\n"));
    assert_non_null(strstr(out, "\nhubgate_dockerhub_ratelimit_remaining 99\n"));
    assert_non_null(strstr(out, "\nhubgate_ca_expiry_timestamp_seconds 1893456000\n"));
    free(out);
    metrics_free(m);
}

static const char *const known[] = {
    "hubgate_requests_total counter", "hubgate_bytes_total counter",
    "hubgate_upstream_failures_total counter", "hubgate_failovers_total counter",
    "hubgate_connections gauge", "hubgate_leaf_certs_minted_total counter",
    "hubgate_tls_handshake_failures_total counter",
    "hubgate_dockerhub_ratelimit_remaining gauge",
    "hubgate_ca_expiry_timestamp_seconds gauge",
};

static void test_help_type_before_samples(void **state)
{
    struct metrics *m = metrics_new();
    char *out, want[160];
    size_t i;

    (void)state;
    out = render(m);
    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        char name[80];

        sscanf(known[i], "%79s", name);
        snprintf(want, sizeof(want), "# TYPE %s\n", known[i]);
        assert_non_null(strstr(out, want));
        snprintf(want, sizeof(want), "# HELP %s ", name);
        assert_non_null(strstr(out, want));
    }
    /* A label-less counter starts at 0; an unknown gauge has no sample. */
    assert_non_null(strstr(out, "\nhubgate_leaf_certs_minted_total 0\n"));
    assert_null(strstr(out, "\nhubgate_dockerhub_ratelimit_remaining "));
    free(out);
    metrics_free(m);
}

/* Every line is "# HELP name text", "# TYPE name counter|gauge", or
 * "name[{labels}] value"; each sample's name had its TYPE line before it. */
static void check_parsable(const char *out)
{
    char typed[64][96];
    size_t ntyped = 0;
    const char *p = out;

    assert_true(strlen(out) > 0 && out[strlen(out) - 1] == '\n');
    while (*p) {
        const char *nl = strchr(p, '\n');
        char line[1024], name[96], rest[900];
        size_t i, n;
        int found = 0;

        assert_non_null(nl);
        n = (size_t)(nl - p);
        assert_true(n > 0 && n < sizeof(line));
        memcpy(line, p, n);
        line[n] = '\0';
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%95s %899[^\n]", name, rest), 2);
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%95s %899s", name, rest), 2);
            assert_true(strcmp(rest, "counter") == 0 || strcmp(rest, "gauge") == 0);
            assert_true(ntyped < 64);
            snprintf(typed[ntyped++], sizeof(typed[0]), "%s", name);
        } else {
            char *end;

            assert_int_equal(sscanf(line, "%95[a-zA-Z0-9_:]", name), 1);
            for (i = 0; i < ntyped; i++)
                found |= strcmp(typed[i], name) == 0;
            assert_true(found);
            end = strrchr(line, ' ');
            assert_non_null(end);
            (void)strtod(end + 1, &end);
            assert_int_equal(*end, '\0');
        }
        p = nl + 1;
    }
}

static void test_render_stable_and_parsable(void **state)
{
    struct metrics *a = metrics_new(), *b = metrics_new();
    char l[128], *ra, *rb, *ra2;
    int i;

    (void)state;
    /* The same series inserted in opposite orders render identically. */
    for (i = 0; i < 40; i++) {
        char code[8];

        snprintf(code, sizeof(code), "%d", 200 + i);
        metrics_label(l, sizeof(l), "host", "auth.docker.io", "link", "direct", "code", code,
                      METRICS_END);
        metrics_add(a, "hubgate_requests_total", l, i);
    }
    for (i = 39; i >= 0; i--) {
        char code[8];

        snprintf(code, sizeof(code), "%d", 200 + i);
        metrics_label(l, sizeof(l), "host", "auth.docker.io", "link", "direct", "code", code,
                      METRICS_END);
        metrics_add(b, "hubgate_requests_total", l, i);
    }
    metrics_add(a, "hubgate_failovers_total", "from=\"direct\",to=\"socks5://h:1\"", 1);
    metrics_add(b, "hubgate_failovers_total", "from=\"direct\",to=\"socks5://h:1\"", 1);
    metrics_add(a, "hubgate_zz_extra_total", "", 2);
    metrics_add(b, "hubgate_zz_extra_total", "", 2);
    metrics_label(l, sizeof(l), "link", "we\"ird\\", "reason", "a\nb", METRICS_END);
    metrics_add(a, "hubgate_upstream_failures_total", l, 1);
    metrics_add(b, "hubgate_upstream_failures_total", l, 1);
    ra = render(a);
    rb = render(b);
    ra2 = render(a);
    assert_string_equal(ra, rb);
    assert_string_equal(ra, ra2);
    check_parsable(ra);
    /* An unknown name still gets HELP and TYPE. */
    assert_non_null(strstr(ra, "# TYPE hubgate_zz_extra_total counter\nhubgate_zz_extra_total 2\n"));
    free(ra);
    free(rb);
    free(ra2);
    metrics_free(a);
    metrics_free(b);
}

static void test_render_appends(void **state)
{
    struct metrics *m = metrics_new();
    char *out = strdup("prefix\n");
    size_t len = strlen(out);

    (void)state;
    assert_int_equal(metrics_render(m, &out, &len), 0);
    assert_int_equal(strncmp(out, "prefix\n# HELP ", 14), 0);
    assert_int_equal(strlen(out), len);
    free(out);
    metrics_free(m);
}

struct collect {
    char lines[64][64];
    size_t n;
};

static void collect_fn(void *arg, const char *line)
{
    struct collect *c = arg;

    assert_true(c->n < 64);
    snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%s", line);
}

static void test_recent_ring_keeps_last_50(void **state)
{
    struct metrics *m = metrics_new();
    struct collect c;
    char line[64];
    int i;

    (void)state;
    memset(&c, 0, sizeof(c));
    metrics_recent_each(m, collect_fn, &c);
    assert_int_equal(c.n, 0);
    for (i = 0; i < 3; i++) {
        snprintf(line, sizeof(line), "req %d", i);
        metrics_recent(m, line);
    }
    metrics_recent_each(m, collect_fn, &c);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.lines[0], "req 0");
    assert_string_equal(c.lines[2], "req 2");
    for (i = 3; i < 123; i++) {
        snprintf(line, sizeof(line), "req %d%s", i, i == 122 ? "\nx" : "");
        metrics_recent(m, line);
    }
    memset(&c, 0, sizeof(c));
    metrics_recent_each(m, collect_fn, &c);
    assert_int_equal(c.n, 50);
    assert_string_equal(c.lines[0], "req 73");
    assert_string_equal(c.lines[48], "req 121");
    assert_string_equal(c.lines[49], "req 122 x");  /* newline flattened */
    metrics_free(m);
}

static void test_null_safe(void **state)
{
    (void)state;
    metrics_add(NULL, "hubgate_requests_total", "", 1);
    metrics_set(NULL, "hubgate_connections", "", 1);
    metrics_recent(NULL, "x");
    metrics_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_label_truncation_drops_pairs),
        cmocka_unit_test(test_counter_adds),
        cmocka_unit_test(test_gauge_sets),
        cmocka_unit_test(test_help_type_before_samples),
        cmocka_unit_test(test_render_stable_and_parsable),
        cmocka_unit_test(test_render_appends),
        cmocka_unit_test(test_recent_ring_keeps_last_50),
        cmocka_unit_test(test_null_safe),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
