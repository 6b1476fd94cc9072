/* test_cache_finisher.c — mitm/cache/finisher.c: a fill handed over with
 * cache_fill_finish_later() is finished on the cache's thread, so the
 * caller (an event loop) never waits, not even for the cache's lock; a
 * reader sees the blob COMPLETE only once it is renamed into
 * blobs/sha256; a fill that does not match its digest is logged with
 * whose it was and never served; cache_close() finishes what is queued. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <time.h>

#include "base/log.h"
#include "tests/unit/cache_test_util.h"

#define REPO "docker.io/library/t"

static void final_path(const char *dir, const char *hex, char *out, size_t n)
{
    snprintf(out, n, "%s/blobs/sha256/%s", dir, hex);
}

/* Polls b until it is no longer FILLING (at most 10 s); returns its state,
 * and in *renamed whether the final file existed when it changed. */
static enum cache_blob_state settle(struct cache_blob *b, const char *final, int *renamed)
{
    enum cache_blob_state st = CACHE_BLOB_FILLING;
    struct timespec ms = {0, 1000000};
    int i;

    *renamed = 0;
    for (i = 0; i < 10000; i++) {
        cache_blob_avail(b, &st);
        if (st != CACHE_BLOB_FILLING) {
            *renamed = access(final, F_OK) == 0;
            break;
        }
        nanosleep(&ms, NULL);
    }
    return st;
}

/* The cache's lock is held by someone else (another process's eviction,
 * say): handing the fill over still returns at once; the reader sees it
 * FILLING until the lock is let go, then COMPLETE, the file in place. */
static void test_handed_over_without_waiting(void **state)
{
    char dir[64], hex[65], final[256], lockp[256];
    static char data[1 << 20];
    enum cache_blob_state st;
    struct cache_fill *f;
    struct cache_blob *b;
    struct cache *c;
    int lk, renamed;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 31 + i / 509);
    ctu_tmpdir(dir);
    c = ctu_open(dir, 16 << 20);
    ctu_hex(data, sizeof(data), hex);
    final_path(dir, hex, final, sizeof(final));
    assert_int_equal(cache_fill_begin(c, hex, sizeof(data), REPO, &f), 0);
    assert_int_equal(cache_fill_write(f, data, sizeof(data)), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    /* another open file description: flock(2) makes it wait like another
     * process would */
    snprintf(lockp, sizeof(lockp), "%s/hubgate/lock", dir);
    lk = open(lockp, O_RDWR | O_CLOEXEC);
    assert_true(lk >= 0);
    assert_int_equal(flock(lk, LOCK_EX), 0);
    alarm(20);                      /* a finish on this thread would hang here */
    cache_fill_finish_later(f, "client 192.0.2.7:4242");
    alarm(0);
    cache_blob_avail(b, &st);
    assert_int_equal(st, CACHE_BLOB_FILLING);
    assert_int_not_equal(access(final, F_OK), 0);
    assert_int_equal(flock(lk, LOCK_UN), 0);
    close(lk);
    assert_int_equal(settle(b, final, &renamed), CACHE_BLOB_COMPLETE);
    assert_true(renamed);
    assert_int_equal(cache_blob_avail(b, &st), sizeof(data));
    cache_blob_close(b);
    cache_fill_finish_wait(c);
    /* kept: a new reader opens it complete */
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    cache_blob_avail(b, &st);
    assert_int_equal(st, CACHE_BLOB_COMPLETE);
    cache_blob_close(b);
    cache_close(c);
    ctu_rmdir(dir);
}

/* Bytes that do not match the digest: FAILED for the reader, nothing
 * renamed, and one log line naming the client and the blob. */
static void test_bad_digest_logged(void **state)
{
    char dir[64], hex[65], final[256], line[1024] = "", want[256];
    struct cache_fill *f;
    struct cache_blob *b;
    struct cache *c;
    int cap[2], renamed;
    ssize_t n;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    ctu_hex("the right bytes", 15, hex);
    final_path(dir, hex, final, sizeof(final));
    assert_int_equal(pipe2(cap, O_CLOEXEC), 0);
    log_set_fd(cap[1]);
    assert_int_equal(cache_fill_begin(c, hex, 15, REPO, &f), 0);
    assert_int_equal(cache_fill_write(f, "the wrong bytes", 15), 0);
    assert_int_equal(cache_blob_open(c, hex, &b), 0);
    cache_fill_finish_later(f, "client 192.0.2.9:1");
    assert_int_equal(settle(b, final, &renamed), CACHE_BLOB_FAILED);
    assert_false(renamed);
    cache_blob_close(b);
    cache_fill_finish_wait(c);
    log_set_fd(2);
    close(cap[1]);
    n = read(cap[0], line, sizeof(line) - 1);
    close(cap[0]);
    assert_true(n > 0);
    line[n] = '\0';
    snprintf(want, sizeof(want),
             "client 192.0.2.9:1: sha256:%s not kept in the cache: it does not match its digest",
             hex);
    assert_non_null(strstr(line, want));
    assert_int_equal(cache_blob_open(c, hex, &b), -ENOENT);
    cache_close(c);
    ctu_rmdir(dir);
}

/* Fills still queued when the cache closes are finished first: a new
 * cache on the same directory has them. */
static void test_close_finishes_queue(void **state)
{
    static const char *const bodies[] = {"first blob", "second blob", "third blob"};
    char dir[64], hex[3][65];
    enum cache_blob_state st;
    struct cache_fill *f;
    struct cache_blob *b;
    struct cache *c;
    size_t i, n;

    (void)state;
    ctu_tmpdir(dir);
    c = ctu_open(dir, 1 << 20);
    for (i = 0; i < 3; i++) {
        n = strlen(bodies[i]);
        ctu_hex(bodies[i], n, hex[i]);
        assert_int_equal(cache_fill_begin(c, hex[i], n, REPO, &f), 0);
        assert_int_equal(cache_fill_write(f, bodies[i], n), 0);
        cache_fill_finish_later(f, NULL);
    }
    cache_close(c);
    c = ctu_open(dir, 1 << 20);
    for (i = 0; i < 3; i++) {
        assert_int_equal(cache_blob_open(c, hex[i], &b), 0);
        assert_int_equal(cache_blob_avail(b, &st), strlen(bodies[i]));
        assert_int_equal(st, CACHE_BLOB_COMPLETE);
        cache_blob_close(b);
    }
    cache_close(c);
    ctu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handed_over_without_waiting),
        cmocka_unit_test(test_bad_digest_logged),
        cmocka_unit_test(test_close_finishes_queue),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
