/* cache_test_util.h — a throwaway cache directory and blobs to put in it,
 * for the tests of mitm/cache. */
#ifndef HUBGATE_CACHE_TEST_UTIL_H
#define HUBGATE_CACHE_TEST_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "mitm/cache/cache.h"

static inline int ctu_rm1(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

/* A new empty directory under /tmp; path has room for 64 bytes. */
static inline void ctu_tmpdir(char path[64])
{
    snprintf(path, 64, "/tmp/hubgate-cache-XXXXXX");
    assert_non_null(mkdtemp(path));
}

static inline void ctu_rmdir(const char *path)
{
    nftw(path, ctu_rm1, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void ctu_hex(const void *p, size_t n, char hex[65])
{
    static const char x[] = "0123456789abcdef";
    unsigned char md[32];
    int i;

    EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL);
    for (i = 0; i < 32; i++) {
        hex[2 * i] = x[md[i] >> 4];
        hex[2 * i + 1] = x[md[i] & 15];
    }
    hex[64] = '\0';
}

static inline struct cache *ctu_open(const char *dir, uint64_t max)
{
    struct cache *c = NULL;
    char err[512];

    if (cache_open(&c, dir, max, err, sizeof(err)) != 0)
        fail_msg("cache_open: %s", err);
    return c;
}

/* Puts n bytes at p into c as a blob fetched under repo; hex gets its
 * digest. Returns what cache_fill_begin or finish returned. */
static inline int ctu_put(struct cache *c, const void *p, size_t n, const char *repo, char hex[65])
{
    struct cache_fill *f;
    int rc;

    ctu_hex(p, n, hex);
    rc = cache_fill_begin(c, hex, n, repo, &f);
    if (rc != 0)
        return rc;
    rc = cache_fill_write(f, p, n);
    if (rc != 0) {
        cache_fill_abort(f);
        return rc;
    }
    return cache_fill_finish(f);
}

/* The whole file at path, NUL-terminated, or NULL. */
static inline char *ctu_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

#endif
