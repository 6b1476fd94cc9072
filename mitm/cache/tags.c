/* tags.c — index.json: one manifest entry per cached tag, named by the
 * annotation org.opencontainers.image.ref.name = REGISTRY/REPOSITORY:TAG,
 * so OCI tools find the images. Read and rewritten whole under the lock,
 * so one process never drops another's tags. */
#include "mitm/cache/cache_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_REF_NAME "org.opencontainers.image.ref.name"
#define CACHE_INDEX_TYPE "application/vnd.oci.image.index.v1+json"
/* A tag whose image is not all here yet is kept this long (seconds): the
 * pull that made it is still fetching the layers. */
#define CACHE_TAG_GRACE 3600

/* index.json as it is now; a new, empty one when missing or damaged. */
static json_t *cache_index_read(struct cache *c)
{
    char p[CACHE_PATH_MAX];
    json_t *idx;

    cache_path(c, p, sizeof(p), "index.json", NULL);
    idx = json_load_file(p, 0, NULL);
    if (!json_is_object(idx) || !json_is_array(json_object_get(idx, "manifests"))) {
        json_decref(idx);
        idx = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", CACHE_INDEX_TYPE,
                        "manifests");
    }
    return idx;
}

static int cache_index_write(struct cache *c, json_t *idx)
{
    char p[CACHE_PATH_MAX];

    cache_path(c, p, sizeof(p), "index.json", NULL);
    return cache_json_write(idx, p);
}

static const char *cache_entry_ref(json_t *m)
{
    return json_string_value(json_object_get(json_object_get(m, "annotations"), CACHE_REF_NAME));
}

/* "sha256:<hex>" -> hex, or NULL. */
static const char *cache_entry_hex(json_t *m)
{
    const char *d = json_string_value(json_object_get(m, "digest"));

    return d && strncmp(d, "sha256:", 7) == 0 && cache_hex_ok(d + 7) ? d + 7 : NULL;
}

/* Whether the tag in index.json entry m stays: its manifest is kept and,
 * once the pull that made it had time to fetch them, everything its image
 * needs. */
static int cache_tag_keeps(struct cache *c, json_t *m, time_t now)
{
    const char *hex = cache_entry_hex(m), *ref = cache_entry_ref(m);
    json_t *at = ref ? json_object_get(json_object_get(c->state, "tagged"), ref) : NULL;

    if (!hex || !json_object_get(cache_blobs(c), hex))
        return 0;
    if (at && now - (time_t)json_integer_value(at) < CACHE_TAG_GRACE)
        return 1;
    return cache_image_complete_locked(c, hex);
}

int cache_tags_prune_locked(struct cache *c)
{
    json_t *idx = cache_index_read(c), *ms, *m;
    size_t i, dropped = 0;
    time_t now = time(NULL);
    int rc = 0;

    if (!idx)
        return -ENOMEM;
    ms = json_object_get(idx, "manifests");
    for (i = 0; i < json_array_size(ms);) {
        m = json_array_get(ms, i);
        if (!cache_tag_keeps(c, m, now)) {
            if (cache_entry_ref(m))
                json_object_del(cache_obj(c->state, "tagged"), cache_entry_ref(m));
            json_array_remove(ms, i);
            dropped++;
        } else {
            i++;
        }
    }
    if (dropped)
        rc = cache_index_write(c, idx);
    json_decref(idx);
    return rc;
}

int cache_tags_unpin_orphans_locked(struct cache *c)
{
    json_t *idx = cache_index_read(c), *m;
    const char **hex;
    size_t i, n = 0;
    int rc;

    if (!idx)
        return -ENOMEM;
    hex = calloc(json_array_size(json_object_get(idx, "manifests")) + 1, sizeof(*hex));
    if (!hex) {
        json_decref(idx);
        return -ENOMEM;
    }
    json_array_foreach(json_object_get(idx, "manifests"), i, m)
        if (cache_entry_hex(m))
            hex[n++] = cache_entry_hex(m);
    rc = cache_unpin_orphans_locked(c, hex, n);
    free(hex);
    json_decref(idx);
    return rc;
}

int cache_tag_set(struct cache *c, const char *ref, const char *hex, const char *media_type,
                  uint64_t size)
{
    json_t *idx, *ms, *m;
    char digest[72];
    const char *r;
    size_t i;
    int rc;

    if (!cache_hex_ok(hex) || !ref || !strchr(ref, ':') || !media_type)
        return -EINVAL;
    rc = cache_lock(c);
    if (rc != 0)
        return rc;
    if (!json_object_get(cache_blobs(c), hex)) {
        cache_unlock(c, 0);
        return -ENOENT;             /* a tag must name a manifest kept here */
    }
    idx = cache_index_read(c);
    ms = json_object_get(idx, "manifests");
    for (i = 0; i < json_array_size(ms);) {
        r = cache_entry_ref(json_array_get(ms, i));
        if (r && strcmp(r, ref) == 0)
            json_array_remove(ms, i);
        else
            i++;
    }
    snprintf(digest, sizeof(digest), "sha256:%s", hex);
    m = json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType", media_type, "digest", digest, "size",
                  (json_int_t)size, "annotations", CACHE_REF_NAME, ref);
    rc = m ? json_array_append_new(ms, m) : -1;
    rc = rc == 0 ? cache_index_write(c, idx) : -ENOMEM;
    json_decref(idx);
    if (rc == 0)
        json_object_set_new(cache_obj(c->state, "tagged"), ref, json_integer(time(NULL)));
    cache_unlock(c, rc == 0);
    return rc;
}

/* Tags waiting for their manifest, at most (older ones are forgotten: a
 * pull that never fetched its manifest). */
#define CACHE_PENDING_MAX 256

int cache_tag_later(struct cache *c, const char *ref, const char *hex, const char *media_type,
                    uint64_t size)
{
    json_t *p;
    int rc = cache_tag_set(c, ref, hex, media_type, size);

    if (rc != -ENOENT)
        return rc;
    p = json_pack("{s:s,s:s,s:I}", "ref", ref, "mt", media_type, "size", (json_int_t)size);
    if (!p)
        return -ENOMEM;
    pthread_mutex_lock(&c->mu);
    if (!c->pending || json_object_size(c->pending) >= CACHE_PENDING_MAX) {
        json_decref(c->pending);
        c->pending = json_object();
    }
    rc = c->pending ? json_object_set_new(c->pending, hex, p) : (json_decref(p), -1);
    pthread_mutex_unlock(&c->mu);
    return rc == 0 ? 0 : -ENOMEM;
}

void cache_tag_pending_apply(struct cache *c, const char *hex)
{
    json_t *p;

    pthread_mutex_lock(&c->mu);
    p = c->pending ? json_object_get(c->pending, hex) : NULL;
    json_incref(p);
    if (p)
        json_object_del(c->pending, hex);
    pthread_mutex_unlock(&c->mu);
    if (!p)
        return;
    cache_tag_set(c, json_string_value(json_object_get(p, "ref")), hex,
                  json_string_value(json_object_get(p, "mt")),
                  (uint64_t)json_integer_value(json_object_get(p, "size")));
    json_decref(p);
}

int cache_tag_get(struct cache *c, const char *ref, char hex[65])
{
    json_t *idx, *ms, *m;
    const char *r, *h;
    size_t i;
    int rc = cache_lock(c);

    if (rc != 0)
        return rc;
    rc = -ENOENT;
    idx = cache_index_read(c);
    ms = json_object_get(idx, "manifests");
    json_array_foreach(ms, i, m) {
        r = cache_entry_ref(m);
        h = cache_entry_hex(m);
        if (r && h && strcmp(r, ref) == 0 && json_object_get(cache_blobs(c), h)) {
            memcpy(hex, h, 65);
            rc = 0;
        }
    }
    json_decref(idx);
    cache_unlock(c, 0);
    return rc;
}

int cache_tag_remove(struct cache *c, const char *ref)
{
    json_t *idx, *ms;
    const char *r;
    size_t i;
    int rc = cache_lock(c), found = 0;

    if (rc != 0)
        return rc;
    idx = cache_index_read(c);
    ms = json_object_get(idx, "manifests");
    for (i = 0; i < json_array_size(ms);) {
        r = cache_entry_ref(json_array_get(ms, i));
        if (r && strcmp(r, ref) == 0) {
            json_array_remove(ms, i);
            found = 1;
        } else {
            i++;
        }
    }
    rc = found ? cache_index_write(c, idx) : -ENOENT;
    json_decref(idx);
    if (rc == 0) {
        /* an imported image's blobs that no other tag needs age out now */
        json_object_del(cache_obj(c->state, "tagged"), ref);
        cache_tags_unpin_orphans_locked(c);
    }
    cache_unlock(c, rc == 0);
    return rc;
}

int cache_each_tag(struct cache *c, void (*cb)(const struct cache_tag_info *, void *), void *arg)
{
    struct cache_tag_info ti;
    json_t *idx, *m;
    size_t i;
    int n = 0, rc = cache_lock(c);

    if (rc != 0)
        return rc;
    idx = cache_index_read(c);
    json_array_foreach(json_object_get(idx, "manifests"), i, m) {
        ti.ref = cache_entry_ref(m);
        ti.hex = cache_entry_hex(m);
        ti.media_type = json_string_value(json_object_get(m, "mediaType"));
        ti.size = (uint64_t)json_integer_value(json_object_get(m, "size"));
        if (!ti.ref || !ti.hex)
            continue;
        cb(&ti, arg);
        n++;
    }
    json_decref(idx);
    cache_unlock(c, 0);
    return n;
}
