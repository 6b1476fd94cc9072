/* image.c — what a tagged image needs: its manifest (or image index), and
 * below it the config and layers. A tag stays in index.json only while
 * everything it needs is kept, so the layout stays valid for OCI tools;
 * pins of blobs no tag needs any more are let go. */
#include "mitm/cache/cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Deeper than an index of manifests is not an image. */
#define CACHE_IMAGE_DEPTH 3

int cache_is_manifest(const char *media_type)
{
    static const char *const types[] = {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    };
    size_t i;

    for (i = 0; media_type && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(media_type, types[i]) == 0)
            return 1;
    return 0;
}

/* "sha256:<hex>" of a descriptor, or NULL. */
static const char *cache_desc_hex(json_t *desc)
{
    const char *d = json_string_value(json_object_get(desc, "digest"));

    return d && strncmp(d, "sha256:", 7) == 0 && cache_hex_ok(d + 7) ? d + 7 : NULL;
}

static int cache_kept(struct cache *c, const char *hex)
{
    return json_object_get(cache_blobs(c), hex) != NULL;
}

/* Walks the image at manifest hex: mark (may be NULL) gets each blob it
 * needs that is kept. Returns 1 when complete: the manifest and its config
 * and layers are kept; for an index, at least one child manifest is kept
 * and every kept one is complete (other platforms need not be here). */
static int cache_image_walk(struct cache *c, const char *hex, json_t *mark, int depth)
{
    char p[CACHE_PATH_MAX];
    json_t *m, *d;
    const char *h;
    size_t i;
    int ok = 1, children = 0;

    if (!cache_kept(c, hex) || depth > CACHE_IMAGE_DEPTH)
        return 0;
    if (mark)
        json_object_set_new(mark, hex, json_true());
    cache_path(c, p, sizeof(p), "blobs/sha256", hex);
    m = json_load_file(p, 0, NULL);
    if (!json_is_object(m)) {
        json_decref(m);
        return 0;
    }
    json_array_foreach(json_object_get(m, "manifests"), i, d) {
        h = cache_desc_hex(d);
        if (!h || !cache_kept(c, h))
            continue;
        children++;
        ok &= cache_image_walk(c, h, mark, depth + 1);
    }
    if (json_is_array(json_object_get(m, "manifests")) && children == 0)
        ok = 0;
    d = json_object_get(m, "config");
    if (json_is_object(d) && json_object_get(m, "layers")) {
        h = cache_desc_hex(d);
        ok &= h && cache_kept(c, h);
        if (h && mark && cache_kept(c, h))
            json_object_set_new(mark, h, json_true());
    }
    json_array_foreach(json_object_get(m, "layers"), i, d) {
        h = cache_desc_hex(d);
        ok &= h && cache_kept(c, h);
        if (h && mark && cache_kept(c, h))
            json_object_set_new(mark, h, json_true());
    }
    json_decref(m);
    return ok;
}

int cache_image_complete_locked(struct cache *c, const char *hex)
{
    return cache_image_walk(c, hex, NULL, 0);
}

int cache_unpin_orphans_locked(struct cache *c, const char *const *tag_hex, size_t n)
{
    json_t *mark = json_object(), *b;
    const char *hex;
    size_t i;
    int unpinned = 0;

    if (!mark)
        return -ENOMEM;
    for (i = 0; i < n; i++)
        cache_image_walk(c, tag_hex[i], mark, 0);
    json_object_foreach(cache_blobs(c), hex, b) {
        if (json_is_true(json_object_get(b, "pinned")) && !json_object_get(mark, hex)) {
            json_object_set_new(b, "pinned", json_false());
            unpinned++;
        }
    }
    json_decref(mark);
    return unpinned;
}
