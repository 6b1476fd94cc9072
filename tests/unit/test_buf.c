/* test_buf.c — base/buf: lazy allocation, bounded appends, consumption,
 * compaction (data moved to the front, contents kept), release. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "base/buf.h"

static void test_init_allocates_nothing(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 64);
    assert_null(b.area);
    assert_int_equal(b.size, 64);
    assert_int_equal(b.len, 0);
    assert_true(buf_empty(&b));
    assert_int_equal(buf_room(&b), 64);   /* what a first reserve will give */
    buf_release(&b);                      /* no area: nothing happens */
    assert_null(b.area);
    buf_free(&b);
    assert_null(b.area);
}

static void test_reserve_then_read_in_place(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 16);
    assert_int_equal(buf_reserve(&b), 0);
    assert_non_null(b.area);
    assert_int_equal(buf_room(&b), 16);
    memcpy(buf_tail(&b), "abcdef", 6);    /* as read(2) would */
    buf_commit(&b, 6);
    assert_int_equal(b.len, 6);
    assert_int_equal(buf_room(&b), 10);
    assert_memory_equal(buf_data(&b), "abcdef", 6);
    buf_free(&b);
}

static void test_append_bounded(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "12345678", 8), 0);   /* exactly full */
    assert_int_equal(buf_room(&b), 0);
    assert_int_equal(buf_append(&b, "9", 1), -ENOSPC);
    assert_int_equal(b.len, 8);
    assert_memory_equal(buf_data(&b), "12345678", 8);
    assert_int_equal(buf_append(&b, "", 0), 0);
    buf_free(&b);

    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "123456789", 9), -ENOSPC);  /* never partly */
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_consume(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, "hello world", 11), 0);
    buf_consume(&b, 6);
    assert_int_equal(b.len, 5);
    assert_memory_equal(buf_data(&b), "world", 5);
    buf_consume(&b, 0);
    assert_int_equal(b.len, 5);
    /* Consuming everything (or more) resets to the front. */
    buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(buf_room(&b), 16);
    buf_free(&b);
}

static void test_append_compacts_when_needed(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, "0123456789abcdef", 16), 0);
    buf_consume(&b, 10);                  /* "abcdef" left, at offset 10 */
    assert_int_equal(buf_room(&b), 0);    /* tail room only */
    assert_int_equal(buf_append(&b, "ghijklmnop", 10), 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 16);
    assert_memory_equal(buf_data(&b), "abcdefghijklmnop", 16);
    assert_int_equal(buf_append(&b, "q", 1), -ENOSPC);
    assert_memory_equal(buf_data(&b), "abcdefghijklmnop", 16);
    buf_free(&b);
}

static void test_reserve_compacts_below_a_quarter(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 64);
    assert_int_equal(buf_append(&b, "x", 1), 0);
    memset(buf_tail(&b), 'y', 40);
    buf_commit(&b, 40);
    buf_consume(&b, 20);                  /* off 20, len 21, tail room 23 */
    assert_int_equal(buf_reserve(&b), 0);
    assert_int_equal(b.off, 20);          /* 23 >= 64/4: left where it is */
    memset(buf_tail(&b), 'z', 10);
    buf_commit(&b, 10);                   /* tail room 13 < 16 */
    assert_int_equal(buf_reserve(&b), 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 31);
    assert_int_equal(buf_room(&b), 33);
    assert_int_equal(buf_data(&b)[0], 'y');
    assert_int_equal(buf_data(&b)[20], 'y');
    assert_int_equal(buf_data(&b)[21], 'z');
    assert_int_equal(buf_data(&b)[30], 'z');
    buf_free(&b);
}

static void test_release_only_when_empty(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 32);
    assert_int_equal(buf_append(&b, "keep", 4), 0);
    buf_release(&b);
    assert_non_null(b.area);
    assert_memory_equal(buf_data(&b), "keep", 4);
    buf_consume(&b, 4);
    buf_release(&b);
    assert_null(b.area);
    assert_int_equal(b.size, 32);         /* ready to allocate again */
    assert_int_equal(buf_room(&b), 32);
    assert_int_equal(buf_append(&b, "again", 5), 0);
    assert_memory_equal(buf_data(&b), "again", 5);
    buf_free(&b);
    assert_null(b.area);
    assert_int_equal(b.len, 0);
}

/* A stream pushed through a small buffer in uneven pieces comes out whole
 * and in order. */
static void test_stream_through(void **state)
{
    char in[5000], out[5000];
    size_t put = 0, got = 0, round = 0;
    struct buf b;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(in); i++)
        in[i] = (char)(i * 7 + i / 13);
    buf_init(&b, 97);
    while (got < sizeof(in)) {
        size_t want = 1 + (round * 31) % 60, take = 1 + (round * 17) % 45;

        if (want > sizeof(in) - put)
            want = sizeof(in) - put;
        if (want && buf_append(&b, in + put, want) == 0)
            put += want;
        if (take > b.len)
            take = b.len;
        memcpy(out + got, buf_data(&b), take);
        buf_consume(&b, take);
        got += take;
        if (b.len == 0)
            buf_release(&b);
        assert_true(++round < 100000);
    }
    assert_memory_equal(in, out, sizeof(in));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_allocates_nothing),
        cmocka_unit_test(test_reserve_then_read_in_place),
        cmocka_unit_test(test_append_bounded),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_append_compacts_when_needed),
        cmocka_unit_test(test_reserve_compacts_below_a_quarter),
        cmocka_unit_test(test_release_only_when_empty),
        cmocka_unit_test(test_stream_through),
    };

    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
