/* test_cache_src.c — mitm/cachesrc: a cached blob served through the
 * source interface in bounded chunks; a growing blob read as it is
 * filled, its last byte held back until the digest matched; a Range; a
 * failed fill ends the source short. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "mitm/cachesrc.h"
#include "tests/unit/cache_test_util.h"

#define REPO "docker.io/library/t"

/* Drains what s has ready now into out (at *got); returns bytes taken. */
static size_t drain(struct cachesrc *s, char *out, size_t *got)
{
    const char *p;
    size_t n, total = 0;

    while ((n = source_ready(&s->src, &p)) > 0) {
        assert_true(n <= CACHESRC_CHUNK);
        memcpy(out + *got, p, n);
        *got += n;
        total += n;
        /* take it in two bites, as a short client write would */
        source_consume(&s->src, n / 2);
        n = source_ready(&s->src, &p);
        source_consume(&s->src, n);
    }
    return total;
}

static void test_complete_blob_in_chunks(void **state)
{
    size_t len = 3 * CACHESRC_CHUNK + 123, got = 0, i;
    char dir[64], hex[65], *data = malloc(len), *out = malloc(len);
    struct cache_blob *b;
    struct cachesrc s;
    struct cache *c;

    (void)state;
    for (i = 0; i < len; i++)
        data[i] = (char)(i * 7 + i / 251);
    ctu_tmpdir(dir);
    c = ctu_open(dir, 16 << 20);
    assert_int_equal(ctu_put(c, data, len, REPO, hex), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    assert_int_equal(cachesrc_init(&s, b, 0, CACHE_SIZE_UNKNOWN), 0);
    assert_string_equal(s.src.ops->kind, "cache");
    assert_int_equal(drain(&s, out, &got), len);
    assert_memory_equal(out, data, len);
    assert_int_equal(cachesrc_state(&s), CACHESRC_DONE);
    cachesrc_free(&s);
    /* a Range: bytes 100..CHUNK+99 */
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    assert_int_equal(cachesrc_init(&s, b, 100, 100 + CACHESRC_CHUNK), 0);
    got = 0;
    assert_int_equal(drain(&s, out, &got), CACHESRC_CHUNK);
    assert_memory_equal(out, data + 100, CACHESRC_CHUNK);
    assert_int_equal(cachesrc_state(&s), CACHESRC_DONE);
    cachesrc_free(&s);
    cache_close(c);
    ctu_rmdir(dir);
    free(data);
    free(out);
}

static void test_growing_blob_holds_back(void **state)
{
    const char *body = "abcdefghijklmnopqrstuvwxyz";
    char dir[64], hex[65], out[64];
    struct cache_fill *f;
    struct cache_blob *b;
    struct cachesrc s;
    struct cache *c;
    size_t got = 0;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    ctu_hex(body, 26, hex);
    assert_int_equal(cache_fill_begin(c, hex, 26, REPO, &f), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    assert_int_equal(cachesrc_init(&s, b, 0, CACHE_SIZE_UNKNOWN), 0);
    assert_int_equal(drain(&s, out, &got), 0);
    assert_int_equal(cachesrc_state(&s), CACHESRC_MORE);
    assert_int_equal(cache_fill_write(f, body, 10), 0);
    assert_int_equal(drain(&s, out, &got), 10);
    assert_int_equal(cache_fill_write(f, body + 10, 16), 0);
    /* all written, not yet verified: the last byte waits */
    assert_int_equal(drain(&s, out, &got), 15);
    assert_int_equal(got, 25);
    assert_int_equal(cachesrc_state(&s), CACHESRC_MORE);
    assert_int_equal(cache_fill_finish(f), 0);
    assert_int_equal(drain(&s, out, &got), 1);
    assert_memory_equal(out, body, 26);
    assert_int_equal(cachesrc_state(&s), CACHESRC_DONE);
    cachesrc_free(&s);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_failed_fill_ends_short(void **state)
{
    char dir[64], hex[65], out[64];
    struct cache_fill *f;
    struct cache_blob *b;
    struct cachesrc s;
    struct cache *c;
    size_t got = 0;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    ctu_hex("the right bytes", 15, hex);
    /* size unknown: the last byte of what is there is held back */
    assert_int_equal(cache_fill_begin(c, hex, CACHE_SIZE_UNKNOWN, REPO, &f), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    assert_int_equal(cachesrc_init(&s, b, 0, CACHE_SIZE_UNKNOWN), 0);
    assert_int_equal(cache_fill_write(f, "the wrong bytes", 15), 0);
    assert_int_equal(drain(&s, out, &got), 14);
    assert_int_equal(cache_fill_finish(f), -EBADMSG);
    assert_int_equal(drain(&s, out, &got), 0);
    assert_int_equal(cachesrc_state(&s), CACHESRC_FAILED);
    cachesrc_free(&s);
    cache_close(c);
    ctu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_blob_in_chunks),
        cmocka_unit_test(test_growing_blob_holds_back),
        cmocka_unit_test(test_failed_fill_ends_short),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
