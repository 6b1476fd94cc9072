/* test_cache_shared.c — mitm/cache shared: processes forked on one
 * directory put blobs and tags at the same time and none is lost; a reader
 * follows a blob while it is filled and learns how it ended. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/wait.h>

#include <jansson.h>

#include "tests/unit/cache_test_util.h"

#define PROCS 4
#define EACH 25

static void child(const char *dir, int k)
{
    struct cache *c = NULL;
    char err[256], data[64], ref[128], hex[65];
    int i, rc = 0;

    if (cache_open(&c, dir, 1 << 20, err, sizeof(err)) != 0)
        _exit(2);
    for (i = 0; i < EACH && rc == 0; i++) {
        snprintf(data, sizeof(data), "manifest %d of process %d", i, k);
        rc = ctu_put(c, data, strlen(data), "docker.io/library/t", hex);
        snprintf(ref, sizeof(ref), "docker.io/library/t:p%d-%d", k, i);
        if (rc == 0)
            rc = cache_tag_set(c, ref, hex, "application/vnd.oci.image.manifest.v1+json",
                               strlen(data));
    }
    if (rc != 0)
        fprintf(stderr, "process %d, step %d: %s\n", k, i, strerror(-rc));
    cache_close(c);
    _exit(rc == 0 ? 0 : 1);
}

static void count_blob(const struct cache_blob_info *bi, void *arg)
{
    (void)bi;
    (void)arg;
}

static void test_processes_lose_no_tags(void **state)
{
    char dir[64], ref[128], hex[65], p[256];
    struct cache *c;
    pid_t pid[PROCS];
    json_t *idx;
    int i, k, st;

    (void)state;
    ctu_tmpdir(dir);
    /* no layout yet: the processes race to make it, too */
    for (k = 0; k < PROCS; k++) {
        pid[k] = fork();
        assert_true(pid[k] >= 0);
        if (pid[k] == 0)
            child(dir, k);
    }
    for (k = 0; k < PROCS; k++) {
        assert_int_equal(waitpid(pid[k], &st, 0), pid[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    c = ctu_open(dir, 1 << 20);
    for (k = 0; k < PROCS; k++)
        for (i = 0; i < EACH; i++) {
            snprintf(ref, sizeof(ref), "docker.io/library/t:p%d-%d", k, i);
            assert_int_equal(cache_tag_get(c, ref, hex), 0);
        }
    snprintf(p, sizeof(p), "%s/index.json", dir);
    idx = json_load_file(p, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(idx, "manifests")), PROCS * EACH);
    json_decref(idx);
    assert_int_equal(cache_each_blob(c, count_blob, &i), PROCS * EACH);
    cache_close(c);
    ctu_rmdir(dir);
}

static void test_reader_follows_fill(void **state)
{
    char dir[64], hex[65], buf[32];
    const char *body = "0123456789abcdefghij";
    enum cache_blob_state st;
    struct cache_fill *f;
    struct cache_blob *b, *b2;
    struct cache *c;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    ctu_hex(body, 20, hex);
    assert_int_equal(cache_fill_begin(c, hex, 20, "docker.io/library/t", &f), 0);
    assert_int_equal(cache_fill_begin(c, hex, 20, "docker.io/library/t", &(struct cache_fill *){0}),
                     -EEXIST);
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    assert_int_equal(cache_blob_avail(b, &st), 0);
    assert_int_equal(st, CACHE_BLOB_FILLING);
    assert_int_equal(cache_blob_size(b), 20);
    assert_int_equal(cache_fill_write(f, body, 12), 0);
    assert_int_equal(cache_blob_avail(b, &st), 12);
    assert_int_equal(st, CACHE_BLOB_FILLING);
    assert_int_equal(pread(cache_blob_fd(b), buf, 12, 0), 12);
    assert_memory_equal(buf, body, 12);
    assert_int_equal(cache_fill_write(f, body + 12, 8), 0);
    assert_int_equal(cache_fill_finish(f), 0);
    assert_int_equal(cache_blob_avail(b, &st), 20);
    assert_int_equal(st, CACHE_BLOB_COMPLETE);
    assert_int_equal(pread(cache_blob_fd(b), buf, 20, 0), 20);
    assert_memory_equal(buf, body, 20);
    cache_blob_close(b);

    /* a fill that fails: the reader learns it */
    ctu_hex("other", 5, hex);
    assert_int_equal(cache_fill_begin(c, hex, 5, "docker.io/library/t", &f), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    assert_int_equal(cache_blob_open(c, hex, &b2), 0);
    assert_int_equal(cache_fill_write(f, "oth", 3), 0);
    cache_fill_abort(f);
    assert_int_equal(cache_blob_avail(b, &st), 3);
    assert_int_equal(st, CACHE_BLOB_FAILED);
    cache_blob_close(b);
    cache_blob_close(b2);
    assert_int_equal(cache_blob_open(c, hex, &b), -ENOENT);
    cache_close(c);
    ctu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_processes_lose_no_tags),
        cmocka_unit_test(test_reader_follows_fill),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
