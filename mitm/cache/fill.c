/* fill.c — a blob arriving: written to a temporary file and hashed as it
 * comes, readable while it grows, entered into blobs/sha256 only after its
 * SHA-256 matched (fsync, then rename). */
#include "mitm/cache/cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/log.h"

/* Bytes read back at a time to hash what was written ahead of the
 * prefix. */
#define CACHE_FILL_RBUF ((size_t)256 * 1024)

int cache_hex_ok(const char *s)
{
    size_t i;

    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[64] == '\0';
}

static void cache_hex(const unsigned char *md, char out[65])
{
    static const char x[] = "0123456789abcdef";
    int i;

    for (i = 0; i < 32; i++) {
        out[2 * i] = x[md[i] >> 4];
        out[2 * i + 1] = x[md[i] & 15];
    }
    out[64] = '\0';
}

int cache_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];

    if (EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL) != 1)
        return -EIO;
    cache_hex(md, out);
    return 0;
}

/* Finishes md and compares with hex. */
static int cache_md_matches(EVP_MD_CTX *md, const char *hex)
{
    unsigned char got[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char h[65];

    if (EVP_DigestFinal_ex(md, got, &len) != 1 || len != 32)
        return -EIO;
    cache_hex(got, h);
    return strcmp(h, hex) == 0 ? 0 : -EBADMSG;
}

int cache_hash_fd(int fd, const char *hex)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    off_t off = 0;
    ssize_t n;
    int rc = 0;

    if (!md || !buf || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        rc = -ENOMEM;
        goto out;
    }
    while ((n = pread(fd, buf, cap, off)) != 0) {
        if (n == -1) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
        off += n;
    }
    rc = cache_md_matches(md, hex);
out:
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

static void cache_fill_free(struct cache_fill *f)
{
    if (f->fd >= 0)
        close(f->fd);
    EVP_MD_CTX_free(f->md);
    cache_extents_free(&f->ahead);
    free(f->rbuf);
    free(f);
}

void cache_fill_unref(struct cache_fill *f)
{
    if (f && atomic_fetch_sub(&f->refs, 1) == 1)
        cache_fill_free(f);
}

int cache_fill_begin(struct cache *c, const char *hex, uint64_t size, const char *repo,
                     struct cache_fill **out)
{
    struct cache_fill *f = NULL;
    struct cache_use *u = NULL;
    int rc;

    *out = NULL;
    if (!cache_hex_ok(hex) || !repo)
        return -EINVAL;
    if (size != CACHE_SIZE_UNKNOWN && size > c->max_size)
        return -EFBIG;
    rc = cache_lock(c);
    if (rc != 0)
        return rc;
    if (atomic_load(&c->full)) {
        rc = -ENOSPC;
        goto out;
    }
    if (json_object_get(cache_blobs(c), hex) || ((u = cache_use_find(c, hex)) && u->fill)) {
        rc = -EEXIST;
        goto out;
    }
    f = calloc(1, sizeof(*f));
    if (!f || !(f->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1 ||
        (!u && !(u = calloc(1, sizeof(*u))))) {
        rc = -ENOMEM;
        goto out;
    }
    f->c = c;
    f->fd = -1;
    /* where it was fetched, recorded when it enters (cache_fill_finish) */
    snprintf(f->repo, sizeof(f->repo), "%s", repo);
    atomic_init(&f->size, size);
    f->reserve = size == CACHE_SIZE_UNKNOWN ? 0 : size;
    memcpy(f->hex, hex, 65);
    atomic_init(&f->refs, 1);
    atomic_init(&f->written, 0);
    atomic_init(&f->state, CACHE_BLOB_FILLING);
    rc = cache_evict_locked(c, f->reserve, NULL);
    if (rc == 0 && snprintf(f->tmp, sizeof(f->tmp), "%s/hubgate/tmp/%s.%ld.%u.part", c->dir,
                            hex, (long)getpid(), c->tmp_seq++) >= (int)sizeof(f->tmp))
        rc = -ENAMETOOLONG;
    if (rc == 0 && (f->fd = open(f->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) == -1)
        rc = -errno;
    if (rc != 0)
        goto out;
    if (!u->refs && !u->fill) {     /* a new use entry */
        memcpy(u->hex, hex, 65);
        u->next = c->uses;
        c->uses = u;
    }
    u->fill = f;
    c->reserved += f->reserve;
    *out = f;
    f = NULL;
    u = NULL;
out:
    if (u && !u->refs && !u->fill)
        free(u);
    if (f)
        cache_fill_free(f);
    cache_unlock(c, 0);
    return rc;
}

/* pwrite()s n bytes at off. -ENOSPC on a full disk (caching stops, said
 * once in the log), -errno otherwise. */
static int fill_pwrite(struct cache_fill *f, const char *q, size_t n, uint64_t off)
{
    ssize_t k;

    while (n > 0) {
        k = pwrite(f->fd, q, n, (off_t)off);
        if (k == -1 && errno == EINTR)
            continue;
        if (k == -1) {
            int e = errno;

            if (e == ENOSPC || e == EDQUOT) {
                /* the first loop to see it says so */
                if (atomic_exchange(&f->c->full, 1) == 0)
                    log_err("cache: %s is full (%s): caching stopped, pulls go on "
                            "uncached; free space or lower [cache] max_size, then "
                            "restart hubgate", f->c->dir, strerror(e));
                return -ENOSPC;
            }
            return -e;
        }
        q += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

/* Hashes the bytes [from, to) written earlier, reading them back from the
 * file (the page cache has them: they were written moments ago), and
 * moves the prefix on as it goes. */
static int fill_hash_back(struct cache_fill *f, uint64_t from, uint64_t to)
{
    size_t want;
    ssize_t k;

    if (from < to && !f->rbuf && !(f->rbuf = malloc(CACHE_FILL_RBUF)))
        return -ENOMEM;
    while (from < to) {
        want = to - from < CACHE_FILL_RBUF ? (size_t)(to - from) : CACHE_FILL_RBUF;
        k = pread(f->fd, f->rbuf, want, (off_t)from);
        if (k == -1 && errno == EINTR)
            continue;
        if (k <= 0)
            return k == 0 ? -EIO : -errno;
        EVP_DigestUpdate(f->md, f->rbuf, (size_t)k);
        from += (uint64_t)k;
        atomic_store(&f->written, from);
    }
    return 0;
}

/* Writes n bytes at the prefix's end w, hashing them, then takes in what
 * was written ahead and now joins the prefix. */
static int fill_extend(struct cache_fill *f, uint64_t w, const char *p, size_t n)
{
    int rc = fill_pwrite(f, p, n, w);

    if (rc != 0)
        return rc;
    EVP_DigestUpdate(f->md, p, n);
    w += n;
    atomic_store(&f->written, w);
    return f->ahead.n ? fill_hash_back(f, w, cache_extents_take(&f->ahead, w)) : 0;
}

int cache_fill_write(struct cache_fill *f, const void *p, size_t n)
{
    uint64_t w = atomic_load(&f->written);

    if (w + n > f->c->max_size || (f->size != CACHE_SIZE_UNKNOWN && w + n > f->size))
        return -EFBIG;
    return fill_extend(f, w, p, n);
}

int cache_fill_write_at(struct cache_fill *f, uint64_t off, const void *p, size_t n)
{
    uint64_t w = atomic_load(&f->written), size = atomic_load(&f->size);
    const char *q = p;
    int rc;

    if (size == CACHE_SIZE_UNKNOWN)
        return -EINVAL;
    if (off > size || n > size - off)
        return -EFBIG;
    if (off + n <= w)
        return 0;                   /* hashed already: never written twice */
    if (off < w) {
        q += w - off;
        n -= (size_t)(w - off);
        off = w;
    }
    if (off == w)
        return fill_extend(f, w, q, n);
    rc = fill_pwrite(f, q, n, off);
    return rc != 0 ? rc : cache_extents_add(&f->ahead, off, off + n);
}

int cache_fill_set_size(struct cache_fill *f, uint64_t size)
{
    struct cache *c = f->c;
    uint64_t was = atomic_load(&f->size);
    int rc;

    if (was != CACHE_SIZE_UNKNOWN)
        return was == size ? 0 : -EINVAL;
    if (size > c->max_size || atomic_load(&f->written) > size)
        return -EFBIG;
    rc = cache_lock(c);
    if (rc != 0)
        return rc;
    rc = cache_evict_locked(c, size, NULL);
    if (rc == 0) {
        f->reserve = size;
        c->reserved += size;
        atomic_store(&f->size, size);
    }
    cache_unlock(c, 0);
    return rc;
}

uint64_t cache_fill_written(const struct cache_fill *f)
{
    return atomic_load(&f->written);
}

/* Takes f out of the uses and the reservation; the caller holds the
 * mutex. */
static void cache_fill_detach_locked(struct cache_fill *f)
{
    struct cache *c = f->c;
    struct cache_use **pp, *u;

    c->reserved -= f->reserve;
    f->reserve = 0;
    for (pp = &c->uses; (u = *pp) != NULL; pp = &u->next) {
        if (u->fill != f)
            continue;
        u->fill = NULL;
        if (u->refs == 0) {
            *pp = u->next;
            free(u);
        }
        break;
    }
}

int cache_fill_finish(struct cache_fill *f)
{
    struct cache *c = f->c;
    uint64_t w = atomic_load(&f->written);
    char final[CACHE_PATH_MAX], hex[65];
    int rc = cache_md_matches(f->md, f->hex), lrc;

    /* a hole (cache_fill_write_at) leaves the prefix short of the size */
    if (rc == 0 && f->size != CACHE_SIZE_UNKNOWN && w != f->size)
        rc = -EBADMSG;
    if (rc == 0 && fsync(f->fd) == -1)
        rc = -errno;
    lrc = cache_lock(c);
    if (lrc != 0) {
        unlink(f->tmp);
        atomic_store(&f->state, CACHE_BLOB_FAILED);
        pthread_mutex_lock(&c->mu);
        cache_fill_detach_locked(f);
        pthread_mutex_unlock(&c->mu);
        cache_fill_unref(f);
        return lrc;
    }
    if (rc == 0 && f->size == CACHE_SIZE_UNKNOWN) {
        f->reserve = w;             /* now it has a size: make room */
        c->reserved += w;
        rc = cache_evict_locked(c, 0, NULL);
    }
    cache_path(c, final, sizeof(final), "blobs/sha256", f->hex);
    if (rc == 0 && rename(f->tmp, final) == -1)
        rc = -errno;
    if (rc == 0)
        rc = cache_record_locked(c, f->hex, final, 0);
    if (rc == 0 && f->repo[0]) {
        json_t *b = json_object_get(cache_blobs(c), f->hex);

        json_object_set_new(cache_obj(b, "repos"), f->repo, json_integer(time(NULL)));
    }
    if (rc != 0)
        unlink(f->tmp);
    cache_fill_detach_locked(f);
    cache_unlock(c, 1);
    atomic_fetch_add(&c->verified, w);
    atomic_store(&f->state, rc == 0 ? CACHE_BLOB_COMPLETE : CACHE_BLOB_FAILED);
    memcpy(hex, f->hex, sizeof(hex));
    cache_fill_unref(f);
    if (rc == 0)
        cache_tag_pending_apply(c, hex);    /* a tag learnt before its manifest */
    return rc;
}

void cache_fill_abort(struct cache_fill *f)
{
    struct cache *c;

    if (!f)
        return;
    c = f->c;
    unlink(f->tmp);
    atomic_store(&f->state, CACHE_BLOB_FAILED);
    pthread_mutex_lock(&c->mu);     /* in-process only: no records change */
    cache_fill_detach_locked(f);
    pthread_mutex_unlock(&c->mu);
    cache_fill_unref(f);
}
