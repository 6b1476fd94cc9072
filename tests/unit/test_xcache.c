/* test_xcache.c — the exchange's cache hooks where they are pure: which
 * targets the cache may answer (and under which repository), the Range a
 * hit honours, the media type of a cached manifest; and hubgate's own
 * tokens in the store (how a repository becomes open). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "mitm/xcache.h"
#include "tests/unit/cache_test_util.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int parse(struct xcache *xc, const char *t)
{
    memset(xc, 0, sizeof(*xc));
    return xcache_parse(xc, "docker.io", t, strlen(t));
}

static void test_parse_targets(void **state)
{
    struct xcache xc;

    (void)state;
    assert_int_equal(parse(&xc, "/v2/library/nginx/blobs/sha256:" HEX), 0);
    assert_int_equal(xc.kind, XC_BLOB);
    assert_string_equal(xc.repo, "docker.io/library/nginx");
    assert_string_equal(xc.hex, HEX);
    /* a name with several parts; a query is not part of the digest */
    assert_int_equal(parse(&xc, "/v2/a/b/c/manifests/sha256:" HEX "?ns=x"), 0);
    assert_int_equal(xc.kind, XC_MANIFEST);
    assert_string_equal(xc.repo, "docker.io/a/b/c");
    assert_int_equal(parse(&xc, "/v2/library/nginx/manifests/1.25-alpine"), 0);
    assert_int_equal(xc.kind, XC_TAG);
    assert_string_equal(xc.ref, "docker.io/library/nginx:1.25-alpine");
    assert_string_equal(xc.hex, "");
}

static void test_parse_refuses(void **state)
{
    struct xcache xc;

    (void)state;
    /* not content-addressed, or not a digest we can check */
    assert_int_equal(parse(&xc, "/v2/library/nginx/blobs/uploads/"), -1);
    assert_int_equal(parse(&xc, "/v2/library/nginx/blobs/sha512:" HEX), -1);
    assert_int_equal(parse(&xc, "/v2/library/nginx/blobs/sha256:" HEX "0"), -1);
    assert_int_equal(parse(&xc, "/v2/library/nginx/blobs/sha256:0123456789ABCDEF0123456789abcdef"
                                "0123456789abcdef0123456789abcdef"), -1);
    /* a blob by tag, a tag with a path or a bad character, no name */
    assert_int_equal(parse(&xc, "/v2/library/nginx/blobs/latest"), -1);
    assert_int_equal(parse(&xc, "/v2/library/nginx/manifests/a/b"), -1);
    assert_int_equal(parse(&xc, "/v2/library/nginx/manifests/a:b"), -1);
    assert_int_equal(parse(&xc, "/v2//blobs/sha256:" HEX), -1);
    assert_int_equal(parse(&xc, "/v2/_catalog"), -1);
    assert_int_equal(parse(&xc, "/v1/library/nginx/blobs/sha256:" HEX), -1);
}

static void test_range(void **state)
{
    uint64_t a = 0, b = 0;

    (void)state;
    assert_int_equal(xcache_range("bytes=0-99", 1000, &a, &b), 1);
    assert_true(a == 0 && b == 99);
    assert_int_equal(xcache_range("bytes=500-", 1000, &a, &b), 1);
    assert_true(a == 500 && b == 999);
    assert_int_equal(xcache_range("bytes=900-5000", 1000, &a, &b), 1);
    assert_true(a == 900 && b == 999);
    assert_int_equal(xcache_range("bytes=-10", 1000, &a, &b), 1);
    assert_true(a == 990 && b == 999);
    assert_int_equal(xcache_range("bytes=-5000", 1000, &a, &b), 1);
    assert_true(a == 0 && b == 999);
    /* unsatisfiable, several ranges, nonsense: the whole blob */
    assert_int_equal(xcache_range("bytes=1000-", 1000, &a, &b), 0);
    assert_int_equal(xcache_range("bytes=0-1,5-6", 1000, &a, &b), 0);
    assert_int_equal(xcache_range("bytes=9-3", 1000, &a, &b), 0);
    assert_int_equal(xcache_range("bytes=-", 1000, &a, &b), 0);
    assert_int_equal(xcache_range("bytes=x-", 1000, &a, &b), 0);
    assert_int_equal(xcache_range("items=0-1", 1000, &a, &b), 0);
    assert_int_equal(xcache_range("bytes=0-1", 0, &a, &b), 0);
}

static void mtype(const char *json, char *out, size_t outlen)
{
    xcache_media_type(json, strlen(json), out, outlen);
}

static void test_media_type(void **state)
{
    char mt[128];

    (void)state;
    mtype("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution."
          "manifest.v2+json\",\"config\":{\"mediaType\":\"x/y\"}}", mt, sizeof(mt));
    assert_string_equal(mt, "application/vnd.docker.distribution.manifest.v2+json");
    /* no top-level mediaType, a config's first: judged by shape */
    mtype("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image."
          "config.v1+json\"},\"layers\":[]}", mt, sizeof(mt));
    assert_string_equal(mt, "application/vnd.oci.image.manifest.v1+json");
    mtype("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:00\"}]}", mt, sizeof(mt));
    assert_string_equal(mt, "application/vnd.oci.image.index.v1+json");
    /* keys sorted (python's json.dumps(sort_keys=True)): the manifests'
     * own mediaType comes before the index's */
    mtype("{\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}],"
          "\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"schemaVersion\":2}",
          mt, sizeof(mt));
    assert_string_equal(mt, "application/vnd.oci.image.index.v1+json");
    mtype("{\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}],"
          "\"schemaVersion\":2}", mt, sizeof(mt));
    assert_string_equal(mt, "application/vnd.oci.image.index.v1+json");
    /* not JSON (cut short): a manifest, the common case */
    mtype("{\"schemaVer", mt, sizeof(mt));
    assert_string_equal(mt, "application/vnd.oci.image.manifest.v1+json");
    /* a header-breaking value is not echoed */
    mtype("{\"mediaType\":\"a/b\\r\\nX-Evil: 1\"}", mt, sizeof(mt));
    assert_string_equal(mt, "application/vnd.oci.image.manifest.v1+json");
}

/* hubgate's own tokens: recognised until they expire, only as issued,
 * and not confused with a client token verified for a repository. */
static void test_own_tokens(void **state)
{
    char dir[64];
    struct cache *c;
    time_t now = time(NULL);
    const char *own = "Bearer anon-token", *client = "Bearer client-token";

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(cache_token_is_own(c, own, strlen(own), now), 0);
    assert_int_equal(cache_token_own(c, own, strlen(own), now + 60), 0);
    assert_int_equal(cache_token_is_own(c, own, strlen(own), now), 1);
    assert_int_equal(cache_token_is_own(c, own, strlen(own), now + 61), 0);
    assert_int_equal(cache_token_is_own(c, own, strlen(own) - 1, now), 0);
    assert_int_equal(cache_token_is_own(c, NULL, 0, now), 0);
    assert_int_equal(cache_token_verified(c, client, strlen(client), "docker.io/a/b", now + 60), 0);
    assert_int_equal(cache_token_is_own(c, client, strlen(client), now), 0);
    /* kept across a reopen (another process sees it) */
    cache_close(c);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(cache_token_is_own(c, own, strlen(own), now), 1);
    cache_close(c);
    ctu_rmdir(dir);
}

/* A tag learnt (HEAD by tag) before its manifest is kept is set when the
 * manifest's fill finishes; a tag for a manifest already kept is set at
 * once; a fill that fails sets nothing. */
static void test_tag_later(void **state)
{
    static const char man[] = "{\"schemaVersion\":2,\"layers\":[]}";
    static const char other[] = "{\"schemaVersion\":2,\"layers\":[{}]}";
    const char *mt = "application/vnd.oci.image.manifest.v1+json";
    char dir[64], hex[65], got[65], hex2[65];
    struct cache_fill *f;
    struct cache *c;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    ctu_hex(man, sizeof(man) - 1, hex);
    assert_int_equal(cache_tag_later(c, "docker.io/a/b:1", hex, mt, sizeof(man) - 1), 0);
    assert_int_equal(cache_tag_get(c, "docker.io/a/b:1", got), -ENOENT);
    assert_int_equal(ctu_put(c, man, sizeof(man) - 1, "docker.io/a/b", hex), 0);
    assert_int_equal(cache_tag_get(c, "docker.io/a/b:1", got), 0);
    assert_string_equal(got, hex);
    /* kept already: at once */
    assert_int_equal(cache_tag_later(c, "docker.io/a/b:2", hex, mt, sizeof(man) - 1), 0);
    assert_int_equal(cache_tag_get(c, "docker.io/a/b:2", got), 0);
    /* a fill that fails its digest sets no tag */
    ctu_hex(other, sizeof(other) - 1, hex2);
    assert_int_equal(cache_tag_later(c, "docker.io/a/b:3", hex2, mt, sizeof(other) - 1), 0);
    assert_int_equal(cache_fill_begin(c, hex2, sizeof(man) - 1, "docker.io/a/b", &f), 0);
    assert_int_equal(cache_fill_write(f, man, sizeof(man) - 1), 0);
    assert_int_equal(cache_fill_finish(f), -EBADMSG);
    assert_int_equal(cache_tag_get(c, "docker.io/a/b:3", got), -ENOENT);
    cache_close(c);
    ctu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_targets),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_media_type),
        cmocka_unit_test(test_own_tokens),
        cmocka_unit_test(test_tag_later),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
