/* test_cache_store.c — mitm/cache: a blob enters only after its digest
 * matched (temporary file, fsync, rename); eviction order, pins and the
 * max_size bound; the damage check; the OCI layout and its tags across a
 * reopen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <jansson.h>

#include "tests/unit/cache_test_util.h"

#define REPO "docker.io/library/nginx"

/* Number of entries in dir, dot files aside. */
static int count_files(const char *dir)
{
    struct dirent *e;
    DIR *d = opendir(dir);
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_fill_verify_rename(void **state)
{
    char dir[64], hex[65], p[256], tmp[256], *got;
    struct cache_blob *b;
    enum cache_blob_state st;
    struct cache *c;
    size_t n;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(ctu_put(c, "layer one", 9, REPO, hex), 0);
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, hex);
    got = ctu_slurp(p, &n);
    assert_non_null(got);
    assert_int_equal(n, 9);
    assert_memory_equal(got, "layer one", 9);
    free(got);
    snprintf(tmp, sizeof(tmp), "%s/hubgate/tmp", dir);
    assert_int_equal(count_files(tmp), 0);   /* renamed, nothing left */
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    assert_int_equal(cache_blob_avail(b, &st), 9);
    assert_int_equal(st, CACHE_BLOB_COMPLETE);
    assert_int_equal(cache_blob_size(b), 9);
    cache_blob_close(b);
    /* a second fill of the same blob is refused: open it instead */
    assert_int_equal(ctu_put(c, "layer one", 9, REPO, hex), -EEXIST);
    assert_int_equal(cache_bytes(c), 9);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_bad_digest_never_enters(void **state)
{
    char dir[64], hex[65], p[256], tmp[256];
    struct cache_fill *f;
    struct cache_blob *b;
    struct cache *c;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    ctu_hex("the real bytes", 14, hex);
    assert_int_equal(cache_fill_begin(c, hex, 14, REPO, &f), 0);
    assert_int_equal(cache_fill_write(f, "the fake bytes", 14), 0);
    assert_int_equal(cache_fill_finish(f), -EBADMSG);
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, hex);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(tmp, sizeof(tmp), "%s/hubgate/tmp", dir);
    assert_int_equal(count_files(tmp), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), -ENOENT);
    /* short: the right prefix is not the blob */
    assert_int_equal(cache_fill_begin(c, hex, 14, REPO, &f), 0);
    assert_int_equal(cache_fill_write(f, "the real", 8), 0);
    assert_int_equal(cache_fill_finish(f), -EBADMSG);
    /* longer than announced */
    assert_int_equal(cache_fill_begin(c, hex, 14, REPO, &f), 0);
    assert_int_equal(cache_fill_write(f, "the real bytes!", 15), -EFBIG);
    cache_fill_abort(f);
    assert_int_equal(count_files(tmp), 0);
    assert_int_equal(cache_bytes(c), 0);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_eviction_lru_and_pins(void **state)
{
    char dir[64], a[65], b2[65], c3[65], d4[65], data[4][100];
    struct cache_blob *open_b;
    struct cache *c;
    int i;

    (void)state;
    ctu_tmpdir(dir);
    for (i = 0; i < 4; i++)
        memset(data[i], 'a' + i, 100);
    c = ctu_open(dir, 300);
    assert_int_equal(ctu_put(c, data[0], 100, REPO, a), 0);
    assert_int_equal(ctu_put(c, data[1], 100, REPO, b2), 0);
    assert_int_equal(ctu_put(c, data[2], 100, REPO, c3), 0);
    /* a: pinned (imported); b: open by a reader; c: the oldest left */
    assert_int_equal(cache_blob_pin(c, a, 1), 0);
    assert_int_equal(cache_blob_open(c, b2, &open_b), 0);
    assert_int_equal(ctu_put(c, data[3], 100, REPO, d4), 0);
    assert_int_equal(cache_blob_open(c, c3, &(struct cache_blob *){NULL}), -ENOENT);
    assert_true(cache_bytes(c) <= 300);
    /* everything left is pinned or in use: no room, nothing removed */
    assert_int_equal(cache_blob_pin(c, d4, 1), 0);
    memset(data[2], 'z', 100);
    assert_int_equal(ctu_put(c, data[2], 100, REPO, c3), -EFBIG);
    cache_blob_close(open_b);
    /* b is free now: it goes for a newcomer */
    assert_int_equal(ctu_put(c, data[2], 100, REPO, c3), 0);
    assert_int_equal(cache_blob_open(c, b2, &open_b), -ENOENT);
    assert_int_equal(cache_bytes(c), 300);
    cache_close(c);
    /* the evictions were written down, not only done */
    c = ctu_open(dir, 300);
    assert_int_equal(cache_bytes(c), 300);
    assert_int_equal(cache_blob_open(c, b2, &open_b), -ENOENT);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_lru_order(void **state)
{
    char dir[64], h[3][65], d[65], data[4][10];
    struct cache_blob *b;
    struct cache *c;
    int i;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 30);
    for (i = 0; i < 4; i++)
        memset(data[i], '0' + i, 10);
    for (i = 0; i < 3; i++)
        assert_int_equal(ctu_put(c, data[i], 10, REPO, h[i]), 0);
    sleep(1);                       /* uses are kept in seconds */
    for (i = 0; i < 2; i++) {       /* 0 and 1 are used again; 2 is not */
        assert_int_equal(cache_blob_open(c, h[i], &b), 0);
        cache_blob_close(b);
    }
    assert_int_equal(ctu_put(c, data[3], 10, REPO, d), 0);
    assert_int_equal(cache_blob_open(c, h[2], &b), -ENOENT);
    for (i = 0; i < 2; i++) {
        assert_int_equal(cache_blob_open(c, h[i], &b), 0);
        cache_blob_close(b);
    }
    assert_int_equal(cache_bytes(c), 30);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_too_big_is_not_kept(void **state)
{
    char dir[64], hex[65], big[200];
    struct cache_fill *f;
    struct cache *c;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 100);
    memset(big, 'x', sizeof(big));
    /* announced too big: the caller streams it and keeps nothing */
    assert_int_equal(ctu_put(c, big, sizeof(big), REPO, hex), -EFBIG);
    /* size unknown: found out while writing */
    assert_int_equal(cache_fill_begin(c, hex, CACHE_SIZE_UNKNOWN, REPO, &f), 0);
    assert_int_equal(cache_fill_write(f, big, 100), 0);
    assert_int_equal(cache_fill_write(f, big, 100), -EFBIG);
    cache_fill_abort(f);
    assert_int_equal(cache_bytes(c), 0);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_damage_detected(void **state)
{
    char dir[64], hex[65], p[256];
    struct cache_blob *b;
    struct cache *c;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(ctu_put(c, "0123456789", 10, REPO, hex), 0);
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, hex);
    /* a touch that changes nothing still changes ctime: re-hash, passes */
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), -ESTALE);
    assert_int_equal(cache_blob_verify(c, hex), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    cache_blob_close(b);
    /* truncated: needs verify, the verify fails, the entry is gone */
    assert_int_equal(truncate(p, 5), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), -ESTALE);
    assert_int_equal(cache_blob_verify(c, hex), -EBADMSG);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(cache_blob_open(c, hex, &b), -ENOENT);
    assert_int_equal(cache_bytes(c), 0);
    /* and it can be fetched again */
    assert_int_equal(ctu_put(c, "0123456789", 10, REPO, hex), 0);
    /* removed behind our back: a miss, and the record goes */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), -ENOENT);
    assert_int_equal(cache_bytes(c), 0);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_layout_and_tags_survive_reopen(void **state)
{
    char dir[64], hex[65], other[65], p[256], got[65];
    json_t *idx, *m, *layout;
    struct cache *c;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    assert_int_equal(ctu_put(c, "{\"manifest\":1}", 14, REPO, hex), 0);
    assert_int_equal(cache_tag_set(c, REPO ":latest", hex,
                                   "application/vnd.oci.image.manifest.v1+json", 14), 0);
    /* a tag must name a manifest kept here */
    ctu_hex("nope", 4, other);
    assert_int_equal(cache_tag_set(c, REPO ":old", other, "x", 4), -ENOENT);
    cache_close(c);

    c = ctu_open(dir, 1 << 20);
    assert_int_equal(cache_tag_get(c, REPO ":latest", got), 0);
    assert_string_equal(got, hex);
    assert_int_equal(cache_tag_get(c, REPO ":other", got), -ENOENT);
    snprintf(p, sizeof(p), "%s/oci-layout", dir);
    layout = json_load_file(p, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(layout, "imageLayoutVersion")),
                        "1.0.0");
    json_decref(layout);
    snprintf(p, sizeof(p), "%s/index.json", dir);
    idx = json_load_file(p, 0, NULL);
    assert_non_null(idx);
    assert_int_equal(json_integer_value(json_object_get(idx, "schemaVersion")), 2);
    assert_int_equal(json_array_size(json_object_get(idx, "manifests")), 1);
    m = json_array_get(json_object_get(idx, "manifests"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "mediaType")),
                        "application/vnd.oci.image.manifest.v1+json");
    assert_string_equal(json_string_value(json_object_get(m, "digest")) + 7, hex);
    assert_int_equal(json_integer_value(json_object_get(m, "size")), 14);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "annotations"),
                                                          "org.opencontainers.image.ref.name")),
                        REPO ":latest");
    json_decref(idx);
    /* the manifest goes: so does its tag */
    assert_int_equal(cache_blob_remove(c, hex), 0);
    assert_int_equal(cache_tag_get(c, REPO ":latest", got), -ENOENT);
    idx = json_load_file(p, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(idx, "manifests")), 0);
    json_decref(idx);
    cache_close(c);
    ctu_rmdir(dir);
}

/* Makes the tag's record old, as if its pull ended long ago. */
static void age_tag(const char *dir, const char *ref)
{
    char p[256], tmp[300];
    json_t *st;

    snprintf(p, sizeof(p), "%s/hubgate/state.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.test", p);
    st = json_load_file(p, 0, NULL);
    assert_non_null(st);
    json_object_set_new(json_object_get(st, "tagged"), ref, json_integer(0));
    assert_int_equal(json_dump_file(st, tmp, 0), 0);
    assert_int_equal(rename(tmp, p), 0);
    json_decref(st);
}

/* A tag whose image lost a layer goes at the next eviction, once its pull
 * had time to end: the layout stays valid for OCI tools. */
static void test_tag_of_incomplete_image_goes(void **state)
{
    char dir[64], layer[65], cfg[65], man[65], got[65], text[1024], big[200];
    struct cache *c;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1000);
    assert_int_equal(ctu_put(c, "layer", 5, REPO, layer), 0);
    assert_int_equal(ctu_put(c, "{}", 2, REPO, cfg), 0);
    snprintf(text, sizeof(text), "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:%s\","
             "\"size\":2},\"layers\":[{\"digest\":\"sha256:%s\",\"size\":5}]}", cfg, layer);
    assert_int_equal(ctu_put(c, text, strlen(text), REPO, man), 0);
    assert_int_equal(cache_tag_set(c, REPO ":1", man,
                                   "application/vnd.oci.image.manifest.v1+json", strlen(text)), 0);
    assert_int_equal(cache_blob_remove(c, layer), 0);
    /* young: the pull may still be fetching it */
    assert_int_equal(cache_tag_get(c, REPO ":1", got), 0);
    cache_close(c);
    age_tag(dir, REPO ":1");
    c = ctu_open(dir, 1000);
    memset(big, 'b', sizeof(big));
    assert_int_equal(ctu_put(c, big, sizeof(big), REPO, got), 0);  /* any change prunes */
    assert_int_equal(cache_gc(c, NULL), 0);
    assert_int_equal(cache_tag_get(c, REPO ":1", got), -ENOENT);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_refuses_foreign_dir(void **state)
{
    char dir[64], p[256], err[512];
    struct cache *c = NULL;
    FILE *f;

    (void)state;
    ctu_tmpdir(dir);
    snprintf(p, sizeof(p), "%s/oci-layout", dir);
    f = fopen(p, "w");
    fputs("not json", f);
    fclose(f);
    assert_int_equal(cache_open(&c, dir, 100, err, sizeof(err)), -EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "not an OCI layout"));
    snprintf(p, sizeof(p), "%s/blobs", dir);
    assert_int_equal(access(p, F_OK), -1);  /* nothing made in a foreign dir */
    ctu_rmdir(dir);
    /* not writable: says so, and what to do */
    if (geteuid() != 0) {
        assert_int_not_equal(cache_open(&c, "/proc/hubgate-cache", 100, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "[cache] dir"));
    }
    assert_int_not_equal(cache_open(&c, "/proc/1/hubgate-cache", 100, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "[cache] dir"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_verify_rename),
        cmocka_unit_test(test_bad_digest_never_enters),
        cmocka_unit_test(test_eviction_lru_and_pins),
        cmocka_unit_test(test_lru_order),
        cmocka_unit_test(test_too_big_is_not_kept),
        cmocka_unit_test(test_damage_detected),
        cmocka_unit_test(test_layout_and_tags_survive_reopen),
        cmocka_unit_test(test_tag_of_incomplete_image_goes),
        cmocka_unit_test(test_refuses_foreign_dir),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
