/* test_strbuf.c — base/strbuf: appends, formatted appends past the
 * first allocation, the NUL always there, and appending to a string the
 * caller already had (as metrics_render does). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

static void test_grows(void **state)
{
    struct strbuf sb = {NULL, 0, 0, 0};
    char want[20001];
    size_t i;

    (void)state;
    strbuf_str(&sb, "a");
    assert_string_equal(sb.p, "a");
    /* past the first 4096 bytes, in pieces of every kind */
    for (i = 1; i < 10000; i++)
        strbuf_add(&sb, i % 2 ? "b" : "c", 1);
    strbuf_printf(&sb, "%s-%d", "x", 42);
    assert_int_equal(sb.len, 10000 + 4);
    assert_int_equal(strlen(sb.p), sb.len);
    assert_string_equal(sb.p + 9998, "cbx-42");
    assert_int_equal(sb.oom, 0);
    /* one formatted piece larger than all the room left */
    memset(want, 'z', 20000);
    want[20000] = '\0';
    strbuf_printf(&sb, "%s", want);
    assert_int_equal(sb.len, 30004);
    assert_string_equal(sb.p + 10004, want);
    free(sb.p);
}

static void test_appends_to_existing(void **state)
{
    char *p = strdup("head\n");
    struct strbuf sb = {p, 5, 5, 0};

    (void)state;
    strbuf_printf(&sb, "%u tail", 7u);
    assert_string_equal(sb.p, "head\n7 tail");
    free(sb.p);
}

static void test_oom_is_sticky(void **state)
{
    struct strbuf sb = {NULL, 0, 0, 1};

    (void)state;
    strbuf_str(&sb, "ignored");
    strbuf_printf(&sb, "%d", 1);
    assert_null(sb.p);
    assert_int_equal(sb.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows),
        cmocka_unit_test(test_appends_to_existing),
        cmocka_unit_test(test_oom_is_sticky),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
