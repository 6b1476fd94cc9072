/* test_digest.c — mitm/digest: which request paths name a blob digest, and
 * the streaming SHA-256 check against it (whole, split, one byte off). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "mitm/digest.h"

/* sha256("hello world\n") */
#define HELLO_HEX "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
#define HELLO "hello world\n"

static int from_path(const char *path, char hex[65])
{
    return digest_from_path(path, strlen(path), hex);
}

static void test_from_path(void **state)
{
    char hex[65];

    (void)state;
    memset(hex, 'x', sizeof(hex));
    assert_int_equal(from_path("/v2/library/nginx/blobs/sha256:" HELLO_HEX, hex), 1);
    assert_string_equal(hex, HELLO_HEX);
    /* a query string (a blob host's signed URL) is not part of it */
    assert_int_equal(from_path("/v2/x/blobs/sha256:" HELLO_HEX "?expires=1&sig=ab", hex), 1);
    assert_string_equal(hex, HELLO_HEX);
    /* not a blob path, or not a well-formed digest */
    assert_int_equal(from_path("/v2/x/manifests/sha256:" HELLO_HEX, hex), 0);
    assert_int_equal(from_path("/x/blobs/sha256:" HELLO_HEX, hex), 0);
    assert_int_equal(from_path("/v2/x/blobs/sha512:" HELLO_HEX, hex), 0);
    assert_int_equal(from_path("/v2/x/blobs/sha256:" HELLO_HEX "0", hex), 0);
    assert_int_equal(from_path("/v2/x/blobs/sha256:A948904F2F0F479B8F8197694B30184B0D2ED1C1"
                               "CD2A1EC0FB85D299A192A447", hex), 0);
    assert_int_equal(from_path("/v2/x/blobs/sha256:a948904f2f0f479b8f8197694b30184b0d2ed1c1"
                               "cd2a1ec0fb85d299a192a44g", hex), 0);
    assert_int_equal(from_path("/v2/blobs/sha256:", hex), 0);
    assert_int_equal(from_path("", hex), 0);
}

static int check(const char *hex, const char *body, size_t split)
{
    struct digest *d = digest_new(hex);
    size_t n = strlen(body);
    int ok;

    assert_non_null(d);
    if (split > n)
        split = n;
    digest_update(d, body, split);
    digest_update(d, body + split, n - split);
    ok = digest_matches(d);
    digest_free(d);
    return ok;
}

static void test_matches(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i <= strlen(HELLO); i++)
        assert_int_equal(check(HELLO_HEX, HELLO, i), 1);
    assert_int_equal(check(HELLO_HEX, "hello world!", 5), 0);
    assert_int_equal(check(HELLO_HEX, "hello world", 0), 0);   /* one byte short */
    assert_int_equal(check(HELLO_HEX, HELLO "x", 3), 0);       /* one byte more */
}

static void test_new_refuses_non_hex(void **state)
{
    (void)state;
    assert_null(digest_new("zz48904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"));
    assert_null(digest_new("A948904F2F0F479B8F8197694B30184B0D2ED1C1CD2A1EC0FB85D299A192A447"));
    digest_free(NULL); /* harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_path),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_new_refuses_non_hex),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
