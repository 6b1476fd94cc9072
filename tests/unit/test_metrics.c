/* test_metrics.c — label escaping, counters, gauges, stable and well-formed
 * rendering, per-loop tables summed at scrape (also while their owner
 * updates them), host labels bounded to configured names, the ring of
 * recent requests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"
#include "proxy/core/config.h"
#include "proxy/core/metric_label.h"

/* The exposition of n tables. */
static char *render_n(struct metrics *const *t, size_t n)
{
    char *out = NULL;
    size_t len = 0;

    assert_int_equal(metrics_render(t, n, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static char *render(struct metrics *m)
{
    return render_n(&m, 1);
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
    "hubgate_upstream_throughput_bytes_per_second histogram",
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

/* 1 when sample name belongs to typed: the same, or a histogram's
 * _bucket, _sum or _count. */
static int of_family(const char *name, const char *typed)
{
    size_t n = strlen(typed);

    return strcmp(name, typed) == 0 ||
           (strncmp(name, typed, n) == 0 &&
            (strcmp(name + n, "_bucket") == 0 || strcmp(name + n, "_sum") == 0 ||
             strcmp(name + n, "_count") == 0));
}

/* Every line is "# HELP name text", "# TYPE name counter|gauge|histogram",
 * or "name[{labels}] value"; each sample's name had its TYPE line before
 * it. */
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
            assert_true(strcmp(rest, "counter") == 0 || strcmp(rest, "gauge") == 0 ||
                        strcmp(rest, "histogram") == 0);
            assert_true(ntyped < 64);
            snprintf(typed[ntyped++], sizeof(typed[0]), "%s", name);
        } else {
            char *end;

            assert_int_equal(sscanf(line, "%95[a-zA-Z0-9_:]", name), 1);
            for (i = 0; i < ntyped; i++)
                found |= of_family(name, typed[i]);
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

/* A throughput histogram: cumulative buckets in the order of their bounds
 * (not as text), every bucket from the first observation, _sum and
 * _count, all under one TYPE line; tables summed; other names ignored. */
static void test_histogram(void **state)
{
    static const char *const H = "hubgate_upstream_throughput_bytes_per_second";
    struct metrics *t[2] = {metrics_new(), metrics_new()};
    char l[128], want[256], *out;
    const char *p;

    (void)state;
    metrics_label(l, sizeof(l), "link", "socks5://h:1", "kind", "segment", METRICS_END);
    metrics_observe(t[0], H, l, 100000);        /* 97.7 KiB/s: le 262144 and up */
    metrics_observe(t[1], H, l, 3000000);       /* le 4194304 and up */
    metrics_observe(t[1], H, l, 1e9);           /* +Inf only */
    metrics_observe(t[0], "hubgate_requests_total", l, 1);
    out = render_n(t, 2);
    check_parsable(out);
    snprintf(want, sizeof(want),
             "# TYPE %s histogram\n"
             "%s_bucket{link=\"socks5://h:1\",kind=\"segment\",le=\"65536\"} 0\n"
             "%s_bucket{link=\"socks5://h:1\",kind=\"segment\",le=\"262144\"} 1\n",
             H, H, H);
    p = strstr(out, want);
    if (!p)
        fail_msg("want %s in:\n%s", want, out);
    snprintf(want, sizeof(want),
             "%s_bucket{link=\"socks5://h:1\",kind=\"segment\",le=\"1048576\"} 1\n"
             "%s_bucket{link=\"socks5://h:1\",kind=\"segment\",le=\"4194304\"} 2\n", H, H);
    assert_non_null(strstr(p, want));
    snprintf(want, sizeof(want),
             "%s_bucket{link=\"socks5://h:1\",kind=\"segment\",le=\"268435456\"} 2\n"
             "%s_bucket{link=\"socks5://h:1\",kind=\"segment\",le=\"+Inf\"} 3\n"
             "%s_sum{link=\"socks5://h:1\",kind=\"segment\"} 1003100000\n"
             "%s_count{link=\"socks5://h:1\",kind=\"segment\"} 3\n", H, H, H, H);
    assert_non_null(strstr(p, want));
    /* no generic HELP for the parts, no requests_total sample */
    assert_null(strstr(out, "_bucket hubgate metric."));
    assert_null(strstr(out, "\nhubgate_requests_total{"));
    free(out);
    metrics_free(t[0]);
    metrics_free(t[1]);
}

static void test_render_appends(void **state)
{
    struct metrics *m = metrics_new();
    char *out = strdup("prefix\n");
    size_t len = strlen(out);

    (void)state;
    assert_int_equal(metrics_render(&m, 1, &out, &len), 0);
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
    struct metrics_recent *m = metrics_recent_new();
    struct collect c;
    char line[64];
    int i;

    (void)state;
    memset(&c, 0, sizeof(c));
    metrics_recent_each(m, collect_fn, &c);
    assert_int_equal(c.n, 0);
    for (i = 0; i < 3; i++) {
        snprintf(line, sizeof(line), "req %d", i);
        metrics_recent_add(m, line);
    }
    metrics_recent_each(m, collect_fn, &c);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.lines[0], "req 0");
    assert_string_equal(c.lines[2], "req 2");
    for (i = 3; i < 123; i++) {
        snprintf(line, sizeof(line), "req %d%s", i, i == 122 ? "\nx" : "");
        metrics_recent_add(m, line);
    }
    memset(&c, 0, sizeof(c));
    metrics_recent_each(m, collect_fn, &c);
    assert_int_equal(c.n, 50);
    assert_string_equal(c.lines[0], "req 73");
    assert_string_equal(c.lines[48], "req 121");
    assert_string_equal(c.lines[49], "req 122 x");  /* newline flattened */
    metrics_recent_free(m);
}

static void test_null_safe(void **state)
{
    struct metrics *none[2] = {NULL, NULL};
    char *out;

    (void)state;
    metrics_add(NULL, "hubgate_requests_total", "", 1);
    metrics_set(NULL, "hubgate_connections", "", 1);
    metrics_recent_add(NULL, "x");
    metrics_recent_each(NULL, collect_fn, NULL);
    metrics_free(NULL);
    metrics_recent_free(NULL);
    assert_int_equal(metrics_nseries(NULL), 0);
    /* no table at all still renders every HELP/TYPE */
    out = render_n(none, 2);
    check_parsable(out);
    free(out);
}

/* ---- per-loop tables, summed at scrape --------------------------------- */

static void test_tables_summed(void **state)
{
    struct metrics *a = metrics_new(), *b = metrics_new();
    struct metrics *ab[2] = {a, b}, *ba[2] = {b, a};
    const char *ok = "host=\"auth.docker.io\",link=\"direct\",code=\"200\"";
    char *out, *rev;

    (void)state;
    metrics_add(a, "hubgate_requests_total", ok, 3);
    metrics_add(b, "hubgate_requests_total", ok, 4);
    metrics_add(b, "hubgate_requests_total", "host=\"other\",link=\"direct\",code=\"404\"", 1);
    metrics_add(a, "hubgate_leaf_certs_minted_total", "", 2);
    metrics_add(b, "hubgate_zz_extra_total", "", 5);
    /* a gauge set in both: the later set wins, whichever table holds it */
    metrics_set(a, "hubgate_dockerhub_ratelimit_remaining", "", 90);
    metrics_set(b, "hubgate_dockerhub_ratelimit_remaining", "", 80);
    out = render_n(ab, 2);
    check_parsable(out);
    assert_non_null(strstr(out, "\nhubgate_requests_total{host=\"auth.docker.io\",link=\"direct\","
                                "code=\"200\"} 7\n"));
    assert_non_null(strstr(out, "\nhubgate_requests_total{host=\"other\",link=\"direct\","
                                "code=\"404\"} 1\n"));
    assert_non_null(strstr(out, "\nhubgate_leaf_certs_minted_total 2\n"));
    assert_non_null(strstr(out, "# TYPE hubgate_zz_extra_total counter\nhubgate_zz_extra_total 5\n"));
    assert_non_null(strstr(out, "\nhubgate_dockerhub_ratelimit_remaining 80\n"));
    /* each series once: the sum, not one line per table */
    assert_null(strstr(strstr(out, "code=\"200\"} 7\n") + 1, "code=\"200\"}"));
    /* the order of the tables does not change a byte */
    rev = render_n(ba, 2);
    assert_string_equal(out, rev);
    free(out);
    free(rev);
    metrics_set(a, "hubgate_dockerhub_ratelimit_remaining", "", 70);
    out = render_n(ab, 2);
    assert_non_null(strstr(out, "\nhubgate_dockerhub_ratelimit_remaining 70\n"));
    assert_null(strstr(out, "remaining 80"));
    free(out);
    assert_int_equal(metrics_nseries(a), 3);
    assert_int_equal(metrics_nseries(b), 4);
    metrics_free(a);
    metrics_free(b);
}

#define OWNER_ROUNDS 20000

struct owner {
    struct metrics *m;
};

/* A loop's thread: new series and increments on its own table. */
static void *owner_main(void *arg)
{
    struct owner *o = arg;
    char l[64];
    int i;

    for (i = 0; i < OWNER_ROUNDS; i++) {
        snprintf(l, sizeof(l), "code=\"%d\"", 200 + i % 50);
        metrics_add(o->m, "hubgate_requests_total", l, 1);
        metrics_add(o->m, "hubgate_bytes_total", "direction=\"in\"", 10);
        if (i % 1000 == 0)
            metrics_set(o->m, "hubgate_dockerhub_ratelimit_remaining", "", i);
    }
    return NULL;
}

/* Scrapes while two owners update their tables (under the sanitizers a
 * torn series or a use of a half-linked one would show), then checks the
 * totals once they are done. */
static void test_scrape_while_owners_update(void **state)
{
    struct owner o[2] = {{metrics_new()}, {metrics_new()}};
    struct metrics *t[2] = {o[0].m, o[1].m};
    pthread_t tid[2];
    char *out;
    int i;

    (void)state;
    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&tid[i], NULL, owner_main, &o[i]), 0);
    for (i = 0; i < 50; i++) {
        out = render_n(t, 2);
        check_parsable(out);
        free(out);
    }
    for (i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);
    out = render_n(t, 2);
    check_parsable(out);
    assert_non_null(strstr(out, "\nhubgate_bytes_total{direction=\"in\"} 400000\n"));
    assert_non_null(strstr(out, "\nhubgate_requests_total{code=\"249\"} 800\n"));
    assert_non_null(strstr(out, "\nhubgate_dockerhub_ratelimit_remaining 19000\n"));
    free(out);
    metrics_free(o[0].m);
    metrics_free(o[1].m);
}

/* ---- host labels: configured names or "other" -------------------------- */

static const char label_ini[] =
    "[intercept]\nhosts = registry-1.docker.io auth.docker.io\n"
    "[upstream]\nvia = relay, direct\n"
    "[relay]\nmirror.internal.test = https://relay.example.com\n";

static void load_labels_cfg(struct config *cfg)
{
    char err[512];

    if (config_load_string(cfg, "t.ini", label_ini, strlen(label_ini), err, sizeof(err)) != 0)
        fail_msg("config: %s", err);
}

static void test_host_label_configured_or_other(void **state)
{
    struct config cfg;
    char l[256];

    (void)state;
    load_labels_cfg(&cfg);
    assert_string_equal(metric_label_host(&cfg, "registry-1.docker.io"), "registry-1.docker.io");
    /* any case and a trailing dot name the same host: the configured
     * spelling is the label */
    assert_string_equal(metric_label_host(&cfg, "AUTH.Docker.IO."), "auth.docker.io");
    assert_string_equal(metric_label_host(&cfg, "mirror.internal.test"), "mirror.internal.test");
    assert_string_equal(metric_label_host(&cfg, "example.com"), "other");
    assert_string_equal(metric_label_host(&cfg, "registry-1.docker.io.evil.test"), "other");
    assert_string_equal(metric_label_host(&cfg, "127.0.0.1"), "other");
    assert_string_equal(metric_label_host(&cfg, ""), "other");
    assert_string_equal(metric_label_host(&cfg, NULL), "other");
    assert_string_equal(metric_label_request(l, sizeof(l), &cfg, "auth.docker.io", "direct", 200),
                        "registry=\"docker.io\",host=\"auth.docker.io\",link=\"direct\","
                        "code=\"200\"");
    assert_string_equal(metric_label_request(l, sizeof(l), &cfg, "x\"y", "direct", 0),
                        "registry=\"other\",host=\"other\",link=\"direct\",code=\"0\"");
    assert_string_equal(metric_label_request(l, sizeof(l), &cfg, "a.test", "direct", 999),
                        "registry=\"other\",host=\"other\",link=\"direct\",code=\"other\"");
    /* a host of its own (a private registry in hosts) is its own registry */
    assert_string_equal(metric_label_registry(&cfg, "mirror.internal.test"),
                        "mirror.internal.test");
    assert_string_equal(metric_label_registry(&cfg, "registry-1.docker.io"), "docker.io");
    config_free(&cfg);
}

/* Regression (hubgate_requests_total was labelled with the CONNECT/Host
 * name the client sent, so every new name made a series that was never
 * freed): 1,000 random names, through the labels conn_count() builds and
 * metrics_add(), leave the table at the same number of series. */
static void test_random_hosts_add_no_series(void **state)
{
    struct metrics *m = metrics_new();
    struct config cfg;
    char l[256], host[64];
    size_t before;
    int i;

    (void)state;
    load_labels_cfg(&cfg);
    srand(12345);
    metrics_add(m, "hubgate_requests_total",
                metric_label_request(l, sizeof(l), &cfg, "registry-1.docker.io", "direct", 200), 1);
    metrics_add(m, "hubgate_requests_total",
                metric_label_request(l, sizeof(l), &cfg, "seed.example", "direct", 200), 1);
    before = metrics_nseries(m);
    assert_int_equal(before, 2);
    for (i = 0; i < 1000; i++) {
        snprintf(host, sizeof(host), "%08x%08x.random.test", (unsigned)rand(), (unsigned)i);
        metrics_add(m, "hubgate_requests_total",
                    metric_label_request(l, sizeof(l), &cfg, host, "direct", 200 + i % 300), 1);
    }
    /* codes 200..499 add one series each, hosts none */
    assert_int_equal(metrics_nseries(m), before + 299);
    for (i = 0; i < 1000; i++) {
        snprintf(host, sizeof(host), "%08x%08x.random.test", (unsigned)rand(), (unsigned)i);
        metrics_add(m, "hubgate_requests_total",
                    metric_label_request(l, sizeof(l), &cfg, host, "direct", 200), 1);
    }
    assert_int_equal(metrics_nseries(m), before + 299);
    config_free(&cfg);
    metrics_free(m);
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
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_render_appends),
        cmocka_unit_test(test_recent_ring_keeps_last_50),
        cmocka_unit_test(test_null_safe),
        cmocka_unit_test(test_tables_summed),
        cmocka_unit_test(test_scrape_while_owners_update),
        cmocka_unit_test(test_host_label_configured_or_other),
        cmocka_unit_test(test_random_hosts_add_no_series),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
