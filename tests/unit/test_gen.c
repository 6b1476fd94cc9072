/* test_gen.c — unit tests for proxy/core/gen.c: a generation built from a
 * config, joined to what all loops share; a reload numbered after the
 * running one that keeps an unchanged CA; a refused one that leaves the
 * running generation as it was; references taken and dropped from
 * several threads at once, and the last one dropped on another thread. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ca/ca.h"
#include "ca/ca_int.h"
#include "mitm/tls/tls.h"
#include "proxy/core/gen.h"

#include "tests/unit/ca_test_util.h"

/* A generation for CA directory name (made first, so that ca_file can be
 * its ca.crt), intercepting the first nhosts of HOSTS, with ca_file
 * overridden when not NULL. NULL with err when gen_new() refused. */
static struct gen *build(const char *name, size_t nhosts, const char *ca_file,
                         const struct gen *prev, struct links_health *health,
                         struct tls_sessions *sessions, char *err, size_t errlen)
{
    char dir[512], text[2048], crt[600];
    struct config cfg;
    size_t i;
    int n;

    tdir(dir, sizeof(dir), name);
    if (ca_create(dir, HOSTS, NHOSTS, 0, err, errlen) != 0)
        fail_msg("ca_create: %s", err);
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
    n = snprintf(text, sizeof(text),
                 "[proxy]\nlisten = 127.0.0.1:3128\n[ca]\ndir = %s\n[upstream]\nca_file = %s\n"
                 "[intercept]\nhosts =",
                 dir, ca_file ? ca_file : crt);
    for (i = 0; i < nhosts; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n, " %s", HOSTS[i]);
    snprintf(text + n, sizeof(text) - (size_t)n, "\n");
    if (config_load_string(&cfg, "t.ini", text, strlen(text), err, errlen) != 0)
        fail_msg("config: %s\n%s", err, text);
    return gen_new(&cfg, prev, health, sessions, err, errlen);
}

static void test_gen_reload(void **state)
{
    struct links_health *health = links_health_new();
    struct tls_sessions *sessions = tls_sessions_new();
    struct gen *g0, *g1, *g2;
    char err[512] = "";
    SSL_CTX *leaf;
    int made = 0;

    (void)state;
    assert_non_null(health);
    assert_non_null(sessions);
    g0 = build("gen", NHOSTS, NULL, NULL, health, sessions, err, sizeof(err));
    assert_non_null(g0);
    assert_int_equal(g0->refs, 1);
    assert_int_equal(g0->seq, 0);
    assert_ptr_equal(g0->links.health, health);
    assert_int_equal(g0->ca->refs, 1);
    leaf = ca_leaf_ctx(g0->ca, HOSTS[0], time(NULL), &made);
    assert_non_null(leaf);
    assert_int_equal(made, 1);
    SSL_CTX_free(leaf);

    /* the same CA again: kept, with its leaf */
    g1 = build("gen", NHOSTS, NULL, g0, health, sessions, err, sizeof(err));
    assert_non_null(g1);
    assert_int_equal(g1->seq, 1);
    assert_ptr_equal(g1->ca, g0->ca);
    assert_int_equal(g0->ca->refs, 2);
    assert_int_equal(ca_minted(g1->ca), 1);
    assert_ptr_not_equal(g1->up_ctx, g0->up_ctx);
    assert_ptr_equal(g1->links.health, health);
    /* the old generation goes (its last connection closed): the CA stays */
    gen_unref(g0);
    assert_int_equal(g1->ca->refs, 1);

    /* another intercept list: a CA of its own, numbered on */
    g2 = build("gen", 2, NULL, g1, health, sessions, err, sizeof(err));
    assert_non_null(g2);
    assert_int_equal(g2->seq, 2);
    assert_ptr_not_equal(g2->ca, g1->ca);
    assert_int_equal(ca_minted(g2->ca), 0);
    gen_unref(g1);
    gen_unref(g2);
    tls_sessions_free(sessions);
    links_health_free(health);
}

/* A reload that fails leaves the running generation as it was: no
 * reference taken on its CA, its number unchanged. */
static void test_gen_refused(void **state)
{
    struct gen *g0;
    char err[512] = "", dir[512];
    struct config cfg;
    char text[1024];

    (void)state;
    g0 = build("refused", NHOSTS, NULL, NULL, NULL, NULL, err, sizeof(err));
    assert_non_null(g0);
    assert_null(build("refused", NHOSTS, "/nonexistent/ca.pem", g0, NULL, NULL, err,
                      sizeof(err)));
    assert_non_null(strstr(err, "ca_file /nonexistent/ca.pem"));
    assert_int_equal(g0->ca->refs, 1);
    assert_int_equal(g0->refs, 1);
    assert_int_equal(g0->seq, 0);

    /* a host the CA does not permit: the CA itself is refused */
    tdir(dir, sizeof(dir), "refused");
    snprintf(text, sizeof(text),
             "[ca]\ndir = %s\n[upstream]\nca_file = %s/ca.crt\n[intercept]\nhosts = %s "
             "evil.example\n", dir, dir, HOSTS[0]);
    assert_int_equal(config_load_string(&cfg, "t.ini", text, strlen(text), err, sizeof(err)), 0);
    assert_null(gen_new(&cfg, g0, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "ca-new --force"));
    assert_int_equal(g0->ca->refs, 1);
    gen_unref(g0);
}

#define REF_ROUNDS 200000

struct holder {
    struct gen *g;
    pthread_barrier_t *go;
    int drop;           /* drop one reference of its own at the end */
};

static void *holder_run(void *arg)
{
    struct holder *h = arg;
    int i;

    pthread_barrier_wait(h->go);
    for (i = 0; i < REF_ROUNDS; i++)
        gen_unref(gen_ref(h->g));
    if (h->drop)
        gen_unref(h->g);
    return NULL;
}

/* Two threads pound the count: nothing is lost; then the main thread lets
 * go first and the last reference falls on a worker's thread (ASan would
 * see a leak or a double free). */
static void test_gen_refs_threads(void **state)
{
    struct holder h[2];
    pthread_t t[2];
    pthread_barrier_t go;
    char err[512] = "";
    struct gen *g;
    int i;

    (void)state;
    g = build("refs", NHOSTS, NULL, NULL, NULL, NULL, err, sizeof(err));
    assert_non_null(g);
    assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
    for (i = 0; i < 2; i++) {
        h[i].g = g;
        h[i].go = &go;
        h[i].drop = 0;
        assert_int_equal(pthread_create(&t[i], NULL, holder_run, &h[i]), 0);
    }
    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(g->refs, 1);

    for (i = 0; i < 2; i++) {
        h[i].g = gen_ref(g);
        h[i].drop = 1;
        assert_int_equal(pthread_create(&t[i], NULL, holder_run, &h[i]), 0);
    }
    gen_unref(g);
    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&go);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_reload),
        cmocka_unit_test(test_gen_refused),
        cmocka_unit_test(test_gen_refs_threads),
    };

    return cmocka_run_group_tests_name("gen", tests, troot_setup, troot_teardown);
}
