/* test_cache_authz.c — mitm/cache authorization records: a blob fetched
 * under one repository is never a hit for another; open repositories
 * expire; verified tokens expire and are kept only as SHA-256; imported
 * (pinned) blobs go to everyone. Records survive a reopen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>

#include "tests/unit/cache_test_util.h"

#define PRIV "docker.io/private/x"
#define OTHER "docker.io/someone/else"
#define TOKEN "eyJhbGciOiJSUzI1NiJ9.secret-token-of-alice"
#define TOKEN_B "eyJhbGciOiJSUzI1NiJ9.token-of-bob"

static void test_repo_bound(void **state)
{
    char dir[64], hex[65];
    struct cache *c;
    time_t now = time(NULL);

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(ctu_put(c, "private layer", 13, PRIV, hex), 0);
    /* not open, no token verified yet */
    assert_int_equal(cache_authorize(c, hex, PRIV, NULL, 0, now, 600), CACHE_AUTHZ_NO);
    assert_int_equal(cache_authorize(c, hex, PRIV, TOKEN, strlen(TOKEN), now, 600),
                     CACHE_AUTHZ_CHECK_TOKEN);
    assert_int_equal(cache_token_verified(c, TOKEN, strlen(TOKEN), PRIV, now + 300), 0);
    assert_int_equal(cache_authorize(c, hex, PRIV, TOKEN, strlen(TOKEN), now, 600),
                     CACHE_AUTHZ_OK);
    /* another token, no token, another repository (even with the token
     * that is good for PRIV, even if that repository is open) */
    assert_int_equal(cache_authorize(c, hex, PRIV, TOKEN_B, strlen(TOKEN_B), now, 600),
                     CACHE_AUTHZ_CHECK_TOKEN);
    assert_int_equal(cache_authorize(c, hex, PRIV, NULL, 0, now, 600), CACHE_AUTHZ_NO);
    assert_int_equal(cache_authorize(c, hex, PRIV, "", 0, now, 600), CACHE_AUTHZ_NO);
    assert_int_equal(cache_repo_open(c, OTHER, 1, now), 0);
    assert_int_equal(cache_authorize(c, hex, OTHER, TOKEN, strlen(TOKEN), now, 600),
                     CACHE_AUTHZ_NO);
    assert_int_equal(cache_authorize(c, hex, OTHER, NULL, 0, now, 600), CACHE_AUTHZ_NO);
    /* the token's verification expires */
    assert_int_equal(cache_authorize(c, hex, PRIV, TOKEN, strlen(TOKEN), now + 301, 600),
                     CACHE_AUTHZ_CHECK_TOKEN);
    /* once served upstream under OTHER too, OTHER (open) may have it */
    assert_int_equal(cache_link_repo(c, hex, OTHER), 0);
    assert_int_equal(cache_authorize(c, hex, OTHER, NULL, 0, now, 600), CACHE_AUTHZ_OK);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_open_expires(void **state)
{
    char dir[64], hex[65];
    struct cache *c;
    time_t now = time(NULL);

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(ctu_put(c, "public layer", 12, "docker.io/library/nginx", hex), 0);
    assert_int_equal(cache_repo_open(c, "docker.io/library/nginx", 1, now), 0);
    assert_int_equal(cache_authorize(c, hex, "docker.io/library/nginx", NULL, 0, now + 599, 600),
                     CACHE_AUTHZ_OK);
    /* too long ago: hubgate re-checks with its own identity first */
    assert_int_equal(cache_authorize(c, hex, "docker.io/library/nginx", NULL, 0, now + 600, 600),
                     CACHE_AUTHZ_CHECK_OPEN);
    assert_int_equal(cache_authorize(c, hex, "docker.io/library/nginx", TOKEN, strlen(TOKEN),
                                     now + 600, 600),
                     CACHE_AUTHZ_CHECK_OPEN);
    /* it turned private */
    assert_int_equal(cache_repo_open(c, "docker.io/library/nginx", 0, now + 600), 0);
    assert_int_equal(cache_authorize(c, hex, "docker.io/library/nginx", NULL, 0, now + 600, 600),
                     CACHE_AUTHZ_NO);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_records_persist_token_hashed(void **state)
{
    char dir[64], hex[65], p[256], *text;
    struct cache *c;
    time_t now = time(NULL);

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(ctu_put(c, "private layer", 13, PRIV, hex), 0);
    assert_int_equal(cache_token_verified(c, TOKEN, strlen(TOKEN), PRIV, now + 300), 0);
    assert_int_equal(cache_repo_open(c, "docker.io/library/alpine", 1, now), 0);
    cache_close(c);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(cache_authorize(c, hex, PRIV, TOKEN, strlen(TOKEN), now, 600),
                     CACHE_AUTHZ_OK);
    cache_close(c);
    /* no file in the directory holds the token in clear */
    snprintf(p, sizeof(p), "%s/hubgate/state.json", dir);
    text = ctu_slurp(p, NULL);
    assert_non_null(text);
    assert_null(strstr(text, "secret-token-of-alice"));
    assert_non_null(strstr(text, PRIV));
    free(text);
    snprintf(p, sizeof(p), "grep -rq secret-token-of-alice %s", dir);
    assert_int_not_equal(system(p), 0);
    ctu_rmdir(dir);
}

/* Joining a fill in progress follows the same rule: only under the
 * repository it is fetched for. */
static void test_filling_blob_bound_to_its_repo(void **state)
{
    char dir[64], hex[65];
    struct cache_fill *f;
    struct cache *c;
    time_t now = time(NULL);

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    ctu_hex("private, arriving", 17, hex);
    assert_int_equal(cache_fill_begin(c, hex, 17, PRIV, &f), 0);
    assert_int_equal(cache_repo_open(c, OTHER, 1, now), 0);
    assert_int_equal(cache_authorize(c, hex, OTHER, NULL, 0, now, 600), CACHE_AUTHZ_NO);
    assert_int_equal(cache_authorize(c, hex, PRIV, NULL, 0, now, 600), CACHE_AUTHZ_NO);
    assert_int_equal(cache_authorize(c, hex, PRIV, TOKEN, strlen(TOKEN), now, 600),
                     CACHE_AUTHZ_CHECK_TOKEN);
    assert_int_equal(cache_token_verified(c, TOKEN, strlen(TOKEN), PRIV, now + 60), 0);
    assert_int_equal(cache_authorize(c, hex, PRIV, TOKEN, strlen(TOKEN), now, 600),
                     CACHE_AUTHZ_OK);
    cache_fill_abort(f);
    assert_int_equal(cache_authorize(c, hex, PRIV, TOKEN, strlen(TOKEN), now, 600),
                     CACHE_AUTHZ_NO);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_pinned_served_to_all(void **state)
{
    char dir[64], hex[65];
    struct cache *c;
    time_t now = time(NULL);

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(ctu_put(c, "imported", 8, PRIV, hex), 0);
    assert_int_equal(cache_blob_pin(c, hex, 1), 0);
    assert_int_equal(cache_authorize(c, hex, OTHER, NULL, 0, now, 600), CACHE_AUTHZ_OK);
    /* unknown blob: a miss */
    ctu_hex("x", 1, hex);
    assert_int_equal(cache_authorize(c, hex, PRIV, NULL, 0, now, 600), CACHE_AUTHZ_NO);
    cache_close(c);
    ctu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repo_bound),
        cmocka_unit_test(test_open_expires),
        cmocka_unit_test(test_records_persist_token_hashed),
        cmocka_unit_test(test_filling_blob_bound_to_its_repo),
        cmocka_unit_test(test_pinned_served_to_all),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
