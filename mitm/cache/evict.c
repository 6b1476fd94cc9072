/* evict.c — keeping the bytes within max_size: least recently used first,
 * never a pinned (imported) blob nor one this process reads or fills. */
#include "mitm/cache/cache_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporary files older than this belong to a fill that died. */
#define CACHE_TMP_STALE 3600

uint64_t cache_bytes_locked(struct cache *c)
{
    const char *hex;
    uint64_t sum = 0;
    json_t *b;

    json_object_foreach(cache_blobs(c), hex, b)
        sum += (uint64_t)json_integer_value(json_object_get(b, "size"));
    return sum;
}

static time_t cache_used(struct cache *c, const char *hex, json_t *b)
{
    json_int_t t = json_integer_value(json_object_get(b, "used"));
    json_int_t p = json_integer_value(json_object_get(c->touched, hex));

    return (time_t)(p > t ? p : t);
}

int cache_evict_locked(struct cache *c, uint64_t need, uint64_t *freed)
{
    uint64_t kept = cache_bytes_locked(c) + c->reserved, gone = 0;
    const char *hex, *victim;
    time_t oldest = 0;
    json_t *b;

    for (;;) {
        if (kept + need <= c->max_size)
            break;
        victim = NULL;
        json_object_foreach(cache_blobs(c), hex, b) {
            struct cache_use *u;
            time_t t;

            if (json_is_true(json_object_get(b, "pinned")))
                continue;
            u = cache_use_find(c, hex);
            if (u && (u->refs > 0 || u->fill))
                continue;
            t = cache_used(c, hex, b);
            /* ties: the digest decides, so every process picks alike */
            if (!victim || t < oldest || (t == oldest && strcmp(hex, victim) < 0)) {
                victim = hex;
                oldest = t;
            }
        }
        if (!victim)
            break;
        b = json_object_get(cache_blobs(c), victim);
        kept -= (uint64_t)json_integer_value(json_object_get(b, "size"));
        gone += (uint64_t)json_integer_value(json_object_get(b, "size"));
        {
            char h[65];

            memcpy(h, victim, 65);  /* the key goes with the entry */
            cache_drop_locked(c, h);
            atomic_fetch_add(&c->evicted, 1);
        }
    }
    if (freed)
        *freed = gone;
    return kept + need <= c->max_size ? 0 : -EFBIG;
}

/* Removes temporary files left by fills that died (this or another
 * process); a live fill writes often, so its mtime is recent. */
static void cache_tmp_sweep(struct cache *c)
{
    char dir[CACHE_PATH_MAX], p[CACHE_PATH_MAX];
    struct dirent *e;
    struct stat st;
    DIR *d;

    if (cache_path(c, dir, sizeof(dir), "hubgate/tmp", NULL) != 0 || !(d = opendir(dir)))
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p))
            continue;
        if (stat(p, &st) == 0 && time(NULL) - st.st_mtime > CACHE_TMP_STALE)
            unlink(p);
    }
    closedir(d);
}

int cache_gc(struct cache *c, uint64_t *freed)
{
    int rc = cache_lock(c);

    if (rc != 0)
        return rc;
    /* pins whose image lost its tag (a damaged manifest) go first, so
     * their blobs can age out */
    cache_tags_prune_locked(c);
    cache_tags_unpin_orphans_locked(c);
    rc = cache_evict_locked(c, 0, freed);
    cache_tags_prune_locked(c);
    cache_tmp_sweep(c);
    cache_unlock(c, 1);
    return rc;
}

uint64_t cache_bytes(struct cache *c)
{
    uint64_t n = 0;

    if (cache_lock(c) == 0) {
        n = cache_bytes_locked(c);
        cache_unlock(c, 0);
    }
    return n;
}

int cache_each_blob(struct cache *c, void (*cb)(const struct cache_blob_info *, void *), void *arg)
{
    struct cache_blob_info bi;
    const char *hex;
    json_t *b;
    int n = 0, rc = cache_lock(c);

    if (rc != 0)
        return rc;
    json_object_foreach(cache_blobs(c), hex, b) {
        bi.hex = hex;
        bi.size = (uint64_t)json_integer_value(json_object_get(b, "size"));
        bi.used = cache_used(c, hex, b);
        bi.pinned = json_is_true(json_object_get(b, "pinned"));
        bi.repos = json_object_size(json_object_get(b, "repos"));
        cb(&bi, arg);
        n++;
    }
    cache_unlock(c, 0);
    return n;
}

void cache_stats(struct cache *c, struct cache_stats *st)
{
    st->evicted = atomic_load(&c->evicted);
    st->verified = atomic_load(&c->verified);
    st->full = atomic_load(&c->full);
}
