/* blob.c — reading cached blobs: pinned handles, complete or growing; the
 * cheap damage check (size and ctime as recorded when verified) and the
 * re-hash when it fails. */
#include "mitm/cache/cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cache_blob {
    struct cache *c;
    char hex[65];
    int fd;
    uint64_t size;
    struct cache_fill *fill;        /* a reference while it grows */
};

struct cache_use *cache_use_find(struct cache *c, const char *hex)
{
    struct cache_use *u;

    for (u = c->uses; u; u = u->next)
        if (strcmp(u->hex, hex) == 0)
            return u;
    return NULL;
}

int cache_record_locked(struct cache *c, const char *hex, const char *path, int pinned)
{
    json_t *b, *old;
    struct stat st;

    if (stat(path, &st) == -1)
        return -errno;
    old = json_object_get(cache_blobs(c), hex);
    b = json_pack("{s:I,s:I,s:I,s:I,s:b}", "size", (json_int_t)st.st_size, "ctime",
                  (json_int_t)st.st_ctim.tv_sec, "ctime_ns", (json_int_t)st.st_ctim.tv_nsec,
                  "used", (json_int_t)time(NULL), "pinned", pinned);
    if (!b)
        return -ENOMEM;
    if (old) {                      /* a re-verify keeps what is known */
        json_object_set(b, "repos", cache_obj(old, "repos"));
        json_object_set(b, "pinned", json_object_get(old, "pinned"));
        if (pinned)
            json_object_set_new(b, "pinned", json_true());
    }
    json_object_set_new(cache_blobs(c), hex, b);
    c->dirty = 1;
    return 0;
}

void cache_drop_locked(struct cache *c, const char *hex)
{
    char p[CACHE_PATH_MAX];

    if (cache_path(c, p, sizeof(p), "blobs/sha256", hex) == 0)
        unlink(p);
    json_object_del(cache_blobs(c), hex);
    json_object_del(c->touched, hex);
    c->dirty = 1;
    cache_tags_prune_locked(c);
}

/* 1 when the file still looks as it did when verified. */
static int cache_looks_intact(json_t *b, const struct stat *st)
{
    return json_integer_value(json_object_get(b, "size")) == (json_int_t)st->st_size &&
           json_integer_value(json_object_get(b, "ctime")) == (json_int_t)st->st_ctim.tv_sec &&
           json_integer_value(json_object_get(b, "ctime_ns")) == (json_int_t)st->st_ctim.tv_nsec;
}

int cache_blob_open(struct cache *c, const char *hex, struct cache_blob **out)
{
    struct cache_blob *b = NULL;
    struct cache_use *u;
    char p[CACHE_PATH_MAX];
    struct stat st;
    json_t *rec;
    int rc;

    *out = NULL;
    if (!cache_hex_ok(hex))
        return -EINVAL;
    rc = cache_lock(c);
    if (rc != 0)
        return rc;
    u = cache_use_find(c, hex);
    rec = json_object_get(cache_blobs(c), hex);
    if ((b = calloc(1, sizeof(*b))) != NULL)
        b->fd = -1;
    if (!b || (!u && !(u = calloc(1, sizeof(*u))))) {
        rc = -ENOMEM;
        goto fail;
    }
    b->c = c;
    memcpy(b->hex, hex, 65);
    if (u->fill) {                  /* growing: the temporary file */
        b->fd = open(u->fill->tmp, O_RDONLY | O_CLOEXEC);
        b->size = u->fill->size;
        b->fill = u->fill;
        atomic_fetch_add(&b->fill->refs, 1);
    } else if (rec) {
        cache_path(c, p, sizeof(p), "blobs/sha256", hex);
        b->fd = open(p, O_RDONLY | O_CLOEXEC);
    } else {
        rc = -ENOENT;
        goto fail;
    }
    if (b->fd == -1) {
        rc = -errno;
        if (rc == -ENOENT && !b->fill) /* gone behind our back: forget it */
            cache_drop_locked(c, hex);
        goto fail;
    }
    if (!b->fill) {
        if (fstat(b->fd, &st) == -1 || !cache_looks_intact(rec, &st)) {
            rc = -ESTALE;
            goto fail;
        }
        b->size = (uint64_t)st.st_size;
        json_object_set_new(c->touched, hex, json_integer(time(NULL)));
    }
    if (!u->refs && !u->fill) {
        memcpy(u->hex, hex, 65);
        u->next = c->uses;
        c->uses = u;
    }
    u->refs++;
    cache_unlock(c, 0);
    *out = b;
    return 0;
fail:
    if (u && !u->refs && !u->fill)
        free(u);
    if (b) {
        if (b->fd >= 0)
            close(b->fd);
        cache_fill_unref(b->fill);
        free(b);
    }
    cache_unlock(c, rc == -ENOENT);
    return rc;
}

int cache_blob_fd(const struct cache_blob *b)
{
    return b->fd;
}

uint64_t cache_blob_size(const struct cache_blob *b)
{
    /* a fill may learn its size after the reader opened it */
    return b->fill ? atomic_load(&b->fill->size) : b->size;
}

uint64_t cache_blob_avail(const struct cache_blob *b, enum cache_blob_state *state)
{
    enum cache_blob_state s;

    if (!b->fill) {
        *state = CACHE_BLOB_COMPLETE;
        return b->size;
    }
    /* state before written: COMPLETE implies every byte is there */
    s = (enum cache_blob_state)atomic_load(&b->fill->state);
    *state = s;
    return atomic_load(&b->fill->written);
}

void cache_blob_close(struct cache_blob *b)
{
    struct cache_use **pp, *u;

    if (!b)
        return;
    pthread_mutex_lock(&b->c->mu);
    for (pp = &b->c->uses; (u = *pp) != NULL; pp = &u->next) {
        if (strcmp(u->hex, b->hex) != 0)
            continue;
        if (--u->refs == 0 && !u->fill) {
            *pp = u->next;
            free(u);
        }
        break;
    }
    pthread_mutex_unlock(&b->c->mu);
    cache_fill_unref(b->fill);
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}

int cache_blob_verify(struct cache *c, const char *hex)
{
    char p[CACHE_PATH_MAX];
    int fd, rc, lrc;

    if (!cache_hex_ok(hex))
        return -EINVAL;
    cache_path(c, p, sizeof(p), "blobs/sha256", hex);
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd == -1 && errno != ENOENT)
        return -errno;
    /* hashed without the lock: it may take seconds */
    rc = fd == -1 ? -EBADMSG : cache_hash_fd(fd, hex);
    if (fd >= 0)
        close(fd);
    lrc = cache_lock(c);
    if (lrc != 0)
        return lrc;
    if (!json_object_get(cache_blobs(c), hex))
        rc = -ENOENT;
    else if (rc == 0)
        rc = cache_record_locked(c, hex, p, 0);
    else if (rc == -EBADMSG)
        cache_drop_locked(c, hex);
    cache_unlock(c, rc != -ENOENT);
    return rc;
}

int cache_blob_remove(struct cache *c, const char *hex)
{
    int rc = cache_lock(c);

    if (rc != 0)
        return rc;
    rc = json_object_get(cache_blobs(c), hex) ? 0 : -ENOENT;
    if (rc == 0)
        cache_drop_locked(c, hex);
    cache_unlock(c, rc == 0);
    return rc;
}

int cache_blob_pin(struct cache *c, const char *hex, int pinned)
{
    json_t *b;
    int rc = cache_lock(c);

    if (rc != 0)
        return rc;
    b = json_object_get(cache_blobs(c), hex);
    if (b)
        json_object_set_new(b, "pinned", json_boolean(pinned));
    cache_unlock(c, b != NULL);
    return b ? 0 : -ENOENT;
}
