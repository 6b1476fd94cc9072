/* test_cache_fill_at.c — mitm/cache: positional writes into a fill
 * (cache_fill_write_at), as a segmented fetch makes them. Readers see the
 * contiguous prefix only; the digest runs over the prefix in order, bytes
 * written ahead read back from the file; bytes written twice (a refetched
 * segment) change nothing; a fill with a hole or a wrong byte is never
 * kept; appending and writing at the prefix's end are the same. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "tests/unit/cache_test_util.h"

#define REPO "docker.io/library/t"
/* larger than the fill's read-back buffer (256 KiB), so that taking in a
 * run written ahead reads it back in several pieces */
#define LEN ((size_t)900 * 1024 + 17)
#define SEGS 5

static char dir[64];
static struct cache *C;
static char *data;
static char hex[65];

static int setup(void **state)
{
    size_t i;

    (void)state;
    ctu_tmpdir(dir);
    C = ctu_open(dir, 16u << 20);
    data = malloc(LEN);
    assert_non_null(data);
    for (i = 0; i < LEN; i++)
        data[i] = (char)(i * 7 + i / 1021);
    ctu_hex(data, LEN, hex);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cache_close(C);
    ctu_rmdir(dir);
    free(data);
    return 0;
}

/* Segment i of SEGS: [*a, *b). */
static void seg(int i, size_t *a, size_t *b)
{
    size_t n = LEN / SEGS;

    *a = (size_t)i * n;
    *b = i == SEGS - 1 ? LEN : *a + n;
}

static void write_seg(struct cache_fill *f, int i)
{
    size_t a, b;

    seg(i, &a, &b);
    assert_int_equal(cache_fill_write_at(f, a, data + a, b - a), 0);
}

/* The blob is kept, with exactly data in it. */
static void expect_kept(void)
{
    struct cache_blob *b;
    enum cache_blob_state st;
    char p[256], *got;
    size_t n;

    assert_int_equal(cache_blob_open(C, hex, &b), 0);
    assert_int_equal(cache_blob_avail(b, &st), LEN);
    assert_int_equal(st, CACHE_BLOB_COMPLETE);
    cache_blob_close(b);
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, hex);
    got = ctu_slurp(p, &n);
    assert_non_null(got);
    assert_int_equal(n, LEN);
    assert_memory_equal(got, data, LEN);
    free(got);
}

/* Segments written last to first but one: a reader of the growing blob
 * sees nothing until byte 0 arrives, then everything; the digest
 * matches. */
static void test_out_of_order(void **state)
{
    struct cache_fill *f;
    struct cache_blob *b;
    enum cache_blob_state st;
    size_t a, e;

    (void)state;
    assert_int_equal(cache_fill_begin(C, hex, LEN, REPO, &f), 0);
    assert_int_equal(cache_blob_open(C, hex, &b), 0);
    write_seg(f, 4);
    write_seg(f, 2);
    write_seg(f, 3);
    assert_int_equal(cache_fill_written(f), 0);
    assert_int_equal(cache_blob_avail(b, &st), 0);
    assert_int_equal(st, CACHE_BLOB_FILLING);
    write_seg(f, 0);
    seg(0, &a, &e);
    assert_int_equal(cache_blob_avail(b, &st), e);  /* 1 is missing */
    write_seg(f, 1);
    assert_int_equal(cache_fill_written(f), LEN);
    assert_int_equal(cache_blob_avail(b, &st), LEN);
    assert_int_equal(st, CACHE_BLOB_FILLING);      /* until finished */
    assert_int_equal(cache_fill_finish(f), 0);
    assert_int_equal(cache_blob_avail(b, &st), LEN);
    assert_int_equal(st, CACHE_BLOB_COMPLETE);
    cache_blob_close(b);
    expect_kept();
}

/* Overlapping and repeated writes, ahead of the prefix and inside it (a
 * segment fetched again after a stall), leave the blob as it is. */
static void test_overlaps_and_duplicates(void **state)
{
    struct cache_fill *f;

    (void)state;
    assert_int_equal(cache_fill_begin(C, hex, LEN, REPO, &f), 0);
    assert_int_equal(cache_fill_write_at(f, 1000, data + 1000, 3000), 0);
    assert_int_equal(cache_fill_write_at(f, 2000, data + 2000, 5000), 0);   /* overlaps */
    assert_int_equal(cache_fill_write_at(f, 1000, data + 1000, 3000), 0);   /* again */
    assert_int_equal(cache_fill_write_at(f, 9000, data + 9000, 1000), 0);   /* apart */
    assert_int_equal(cache_fill_write_at(f, 8000, data + 8000, 1000), 0);   /* touches it */
    assert_int_equal(cache_fill_written(f), 0);
    assert_int_equal(cache_fill_write_at(f, 0, data, 1500), 0);
    assert_int_equal(cache_fill_written(f), 7000);
    /* inside the prefix, and across its end */
    assert_int_equal(cache_fill_write_at(f, 0, data, 7000), 0);
    assert_int_equal(cache_fill_write_at(f, 6000, data + 6000, 2000), 0);
    assert_int_equal(cache_fill_written(f), 10000);
    assert_int_equal(cache_fill_write_at(f, 10000, data + 10000, LEN - 10000), 0);
    assert_int_equal(cache_fill_written(f), LEN);
    assert_int_equal(cache_fill_finish(f), 0);
    expect_kept();
}

/* Appending and writing at the prefix's end are one operation: a run
 * written ahead is taken in by an append that reaches it. */
static void test_append_meets_write_at(void **state)
{
    struct cache_fill *f;

    (void)state;
    assert_int_equal(cache_fill_begin(C, hex, LEN, REPO, &f), 0);
    assert_int_equal(cache_fill_write_at(f, 500000, data + 500000, LEN - 500000), 0);
    assert_int_equal(cache_fill_write(f, data, 300000), 0);
    assert_int_equal(cache_fill_written(f), 300000);
    assert_int_equal(cache_fill_write_at(f, 300000, data + 300000, 100000), 0);
    assert_int_equal(cache_fill_write(f, data + 400000, 100000), 0);
    assert_int_equal(cache_fill_written(f), LEN);
    assert_int_equal(cache_fill_write(f, data, 1), -EFBIG);  /* past the size */
    assert_int_equal(cache_fill_finish(f), 0);
    expect_kept();
}

/* A byte written ahead that is not the blob's: the digest, computed from
 * the file, does not match, and nothing is kept. */
static void test_bad_byte_ahead(void **state)
{
    struct cache_fill *f;
    struct cache_blob *b;
    char bad = (char)(data[LEN - 10] ^ 1);
    int i;

    (void)state;
    assert_int_equal(cache_fill_begin(C, hex, LEN, REPO, &f), 0);
    for (i = SEGS - 1; i >= 0; i--)
        write_seg(f, i);
    assert_int_equal(cache_fill_written(f), LEN);
    /* rewritten after the prefix passed it: refused, the file keeps the
     * bytes that were hashed */
    assert_int_equal(cache_fill_write_at(f, LEN - 10, &bad, 1), 0);
    assert_int_equal(cache_fill_finish(f), 0);
    expect_kept();
    assert_int_equal(cache_blob_remove(C, hex), 0);
    assert_int_equal(cache_fill_begin(C, hex, LEN, REPO, &f), 0);
    for (i = SEGS - 1; i >= 1; i--)
        write_seg(f, i);
    assert_int_equal(cache_fill_write_at(f, LEN - 10, &bad, 1), 0);   /* ahead: taken */
    write_seg(f, 0);
    assert_int_equal(cache_fill_written(f), LEN);
    assert_int_equal(cache_fill_finish(f), -EBADMSG);
    assert_int_equal(cache_blob_open(C, hex, &b), -ENOENT);
}

/* A fill with a hole is refused, also when its bytes would match; a
 * reader of it sees the prefix, then the failure. */
static void test_hole_refused(void **state)
{
    struct cache_fill *f;
    struct cache_blob *b;
    enum cache_blob_state st;
    size_t a, e;

    (void)state;
    assert_int_equal(cache_fill_begin(C, hex, LEN, REPO, &f), 0);
    assert_int_equal(cache_blob_open(C, hex, &b), 0);
    write_seg(f, 0);
    write_seg(f, 1);
    write_seg(f, 3);
    write_seg(f, 4);
    seg(1, &a, &e);
    assert_int_equal(cache_blob_avail(b, &st), e);
    assert_int_equal(cache_fill_finish(f), -EBADMSG);
    cache_blob_avail(b, &st);
    assert_int_equal(st, CACHE_BLOB_FAILED);
    cache_blob_close(b);
    assert_int_equal(cache_blob_open(C, hex, &b), -ENOENT);
    assert_int_equal(cache_bytes(C), 0);
}

/* Positions need a known size, and stay within it. */
static void test_needs_a_size(void **state)
{
    struct cache_fill *f;

    (void)state;
    assert_int_equal(cache_fill_begin(C, hex, CACHE_SIZE_UNKNOWN, REPO, &f), 0);
    assert_int_equal(cache_fill_write_at(f, 10, data, 10), -EINVAL);
    assert_int_equal(cache_fill_set_size(f, LEN), 0);
    assert_int_equal(cache_fill_write_at(f, LEN - 5, data, 10), -EFBIG);
    assert_int_equal(cache_fill_write_at(f, LEN + 5, data, 1), -EFBIG);
    assert_int_equal(cache_fill_write_at(f, LEN - 5, data + LEN - 5, 5), 0);
    cache_fill_abort(f);
    assert_int_equal(cache_bytes(C), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlaps_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_meets_write_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_byte_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hole_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_needs_a_size, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
