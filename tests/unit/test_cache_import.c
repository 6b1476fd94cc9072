/* test_cache_import.c — mitm/cache import: a hand-made OCI layout (index
 * -> image index -> manifest -> config and layer) is copied in, digests
 * checked, pinned, tagged under docker's full name; a damaged blob is
 * refused; references are normalised as docker does. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/stat.h>

#include "tests/unit/cache_test_util.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"

/* Writes n bytes into layout/blobs/sha256/<their digest>; hex gets it. */
static void put_blob(const char *layout, const char *p, size_t n, char hex[65])
{
    char path[256];
    FILE *f;

    ctu_hex(p, n, hex);
    snprintf(path, sizeof(path), "%s/blobs", layout);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/blobs/sha256", layout);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, hex);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void put_file(const char *layout, const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", layout, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A layout with one image, tagged ref, behind an image index that also
 * names an arm64 manifest the layout does not hold. manifest_hex gets the
 * index's digest, layer_hex the layer's. */
static void make_layout(const char *layout, const char *ref, const char *layer,
                        char index_hex[65], char layer_hex[65])
{
    char cfg_hex[65], man_hex[65], text[4096], man[2048], idx[2048];

    put_blob(layout, layer, strlen(layer), layer_hex);
    /* an image config has a "config" object of its own: not a descriptor */
    snprintf(text, sizeof(text), "{\"architecture\":\"amd64\",\"os\":\"linux\","
             "\"config\":{\"Env\":[\"A=1\"]},\"rootfs\":{\"type\":\"layers\","
             "\"diff_ids\":[\"sha256:%s\"]}}", layer_hex);
    put_blob(layout, text, strlen(text), cfg_hex);
    snprintf(man, sizeof(man), "{\"schemaVersion\":2,\"mediaType\":\"" MT_MANIFEST "\","
             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
             "\"digest\":\"sha256:%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
             "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\","
             "\"size\":%zu}]}", cfg_hex, strlen(text), layer_hex, strlen(layer));
    put_blob(layout, man, strlen(man), man_hex);
    snprintf(idx, sizeof(idx), "{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX "\","
             "\"manifests\":[{\"mediaType\":\"" MT_MANIFEST "\",\"digest\":\"sha256:%s\","
             "\"size\":%zu,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
             "{\"mediaType\":\"" MT_MANIFEST "\",\"digest\":\"sha256:%064d\",\"size\":10,"
             "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}",
             man_hex, strlen(man), 0);
    put_blob(layout, idx, strlen(idx), index_hex);
    put_file(layout, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
    snprintf(text, sizeof(text), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\""
             MT_INDEX "\",\"digest\":\"sha256:%s\",\"size\":%zu,\"annotations\":"
             "{\"org.opencontainers.image.ref.name\":\"%s\"}}]}", index_hex, strlen(idx), ref);
    put_file(layout, "index.json", text);
}

static void note(void *arg, int ok, const char *msg)
{
    (void)arg;
    print_message("%s %s\n", ok ? "OK  " : "FAIL", msg);
}

static void test_import_pins_and_tags(void **state)
{
    char dir[64], layout[64], idx_hex[65], layer_hex[65], got[65], b[16];
    struct cache_blob *blob;
    struct cache *c;

    (void)state;
    ctu_tmpdir(dir);
    ctu_tmpdir(layout);
    make_layout(layout, "nginx:1.0", "the layer's bytes", idx_hex, layer_hex);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(cache_import(c, layout, note, NULL), 1);
    assert_int_equal(cache_tag_get(c, "docker.io/library/nginx:1.0", got), 0);
    assert_string_equal(got, idx_hex);
    assert_int_equal(cache_blob_open(c, layer_hex, &blob), 0);
    assert_int_equal(pread(cache_blob_fd(blob), b, 16, 0), 16);
    assert_memory_equal(b, "the layer's byte", 16);
    cache_blob_close(blob);
    /* pinned: served to anyone, and a gc to zero keeps it */
    assert_int_equal(cache_authorize(c, layer_hex, "docker.io/someone/else", NULL, 0,
                                     time(NULL), 1), CACHE_AUTHZ_OK);
    cache_close(c);
    c = ctu_open(dir, 1);
    assert_int_equal(cache_gc(c, NULL), -EFBIG);   /* cannot get under 1 byte */
    assert_int_equal(cache_tag_get(c, "docker.io/library/nginx:1.0", got), 0);
    /* importing again changes nothing */
    cache_close(c);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(cache_import(c, layout, note, NULL), 1);
    cache_close(c);
    ctu_rmdir(dir);
    ctu_rmdir(layout);
}

static void test_import_refuses_damage(void **state)
{
    char dir[64], layout[64], idx_hex[65], layer_hex[65], got[65], p[256];
    struct cache_blob *blob;
    struct cache *c;
    FILE *f;

    (void)state;
    ctu_tmpdir(dir);
    ctu_tmpdir(layout);
    make_layout(layout, "quay.io/org/app:v2", "another layer", idx_hex, layer_hex);
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", layout, layer_hex);
    f = fopen(p, "w");
    fputs("another lAyer", f);
    fclose(f);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(cache_import(c, layout, note, NULL), -EIO);
    assert_int_equal(cache_blob_open(c, layer_hex, &blob), -ENOENT);
    assert_int_equal(cache_tag_get(c, "quay.io/org/app:v2", got), -ENOENT);
    /* what was copied before the failure is kept but not pinned: it ages
     * out, and only its own repository may have it */
    assert_int_equal(cache_blob_open(c, idx_hex, &blob), 0);
    cache_blob_close(blob);
    assert_int_equal(cache_authorize(c, idx_hex, "docker.io/someone/else", NULL, 0,
                                     time(NULL), 600), CACHE_AUTHZ_NO);
    /* not a layout at all */
    assert_int_equal(cache_import(c, "/nonexistent", note, NULL), -EINVAL);
    cache_close(c);
    ctu_rmdir(dir);
    ctu_rmdir(layout);
}

/* A damaged manifest goes (with its tag) on verify; gc then lets go of
 * the pins of the blobs no tag needs, and they can be evicted. */
static void test_gc_unpins_orphans(void **state)
{
    char dir[64], layout[64], idx_hex[65], layer_hex[65], p[256];
    struct cache_blob *blob;
    struct cache *c;
    uint64_t freed = 0;

    (void)state;
    ctu_tmpdir(dir);
    ctu_tmpdir(layout);
    make_layout(layout, "busybox", "busy layer", idx_hex, layer_hex);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(cache_import(c, layout, note, NULL), 1);
    cache_close(c);
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, idx_hex);
    assert_int_equal(truncate(p, 3), 0);
    c = ctu_open(dir, 1);
    assert_int_equal(cache_blob_verify(c, idx_hex), -EBADMSG);
    assert_int_equal(cache_gc(c, &freed), 0);
    assert_true(freed > 0);
    assert_int_equal(cache_bytes(c), 0);
    assert_int_equal(cache_blob_open(c, layer_hex, &blob), -ENOENT);
    cache_close(c);
    ctu_rmdir(dir);
    ctu_rmdir(layout);
}

/* rm of a tag unpins only what no other tag needs. */
static void test_rm_tag_unpins_unshared(void **state)
{
    char dir[64], l1[64], l2[64], idx_hex[65], layer_hex[65];
    struct cache *c;
    time_t now = time(NULL);

    (void)state;
    ctu_tmpdir(dir);
    ctu_tmpdir(l1);
    ctu_tmpdir(l2);
    make_layout(l1, "a:1", "shared layer", idx_hex, layer_hex);
    make_layout(l2, "b:1", "shared layer", idx_hex, layer_hex);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(cache_import(c, l1, note, NULL), 1);
    assert_int_equal(cache_import(c, l2, note, NULL), 1);
    assert_int_equal(cache_tag_remove(c, "docker.io/library/a:1"), 0);
    assert_int_equal(cache_authorize(c, layer_hex, "x/y", NULL, 0, now, 600), CACHE_AUTHZ_OK);
    assert_int_equal(cache_tag_remove(c, "docker.io/library/b:1"), 0);
    assert_int_equal(cache_authorize(c, layer_hex, "x/y", NULL, 0, now, 600), CACHE_AUTHZ_NO);
    assert_int_equal(cache_tag_remove(c, "docker.io/library/b:1"), -ENOENT);
    cache_close(c);
    ctu_rmdir(dir);
    ctu_rmdir(l1);
    ctu_rmdir(l2);
}

static void test_ref_normalize(void **state)
{
    static const char *const cases[][2] = {
        {"nginx", "docker.io/library/nginx:latest"},
        {"nginx:1.25", "docker.io/library/nginx:1.25"},
        {"user/app:v1", "docker.io/user/app:v1"},
        {"docker.io/library/nginx:latest", "docker.io/library/nginx:latest"},
        {"ghcr.io/o/r:t", "ghcr.io/o/r:t"},
        {"localhost:5000/x", "localhost:5000/x:latest"},
        {"localhost/x:1", "localhost/x:1"},
    };
    char out[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(cache_ref_normalize(cases[i][0], out, sizeof(out)), 0);
        assert_string_equal(out, cases[i][1]);
    }
    assert_int_equal(cache_ref_normalize("nginx@sha256:abc", out, sizeof(out)), -EINVAL);
    assert_int_equal(cache_ref_normalize("", out, sizeof(out)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_pins_and_tags),
        cmocka_unit_test(test_import_refuses_damage),
        cmocka_unit_test(test_gc_unpins_orphans),
        cmocka_unit_test(test_rm_tag_unpins_unshared),
        cmocka_unit_test(test_ref_normalize),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
