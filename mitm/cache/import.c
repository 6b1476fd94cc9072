/* import.c — taking an OCI layout made elsewhere (skopeo copy ...
 * oci:LAYOUT:REF) into the cache: every blob an image needs is copied
 * through a fill, so its digest is checked like a download's, then pinned;
 * each ref.name becomes a tag. */
#include "mitm/cache/cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CACHE_REF_NAME "org.opencontainers.image.ref.name"
#define CACHE_COPY_CHUNK (1 << 20)

struct cache_import {
    struct cache *c;
    const char *layout;
    const char *repo;
    void (*note)(void *arg, int ok, const char *msg);
    void *arg;
    int fails;
    char (*got)[65];                /* the blobs of the image being imported */
    size_t ngot, capgot;
};

/* Remembers hex for the pins at the end: an image only partly copied pins
 * nothing, and its blobs age out. */
static int cache_import_got(struct cache_import *im, const char *hex)
{
    char (*v)[65];

    if (im->ngot == im->capgot) {
        v = realloc(im->got, (im->capgot ? im->capgot * 2 : 16) * sizeof(*v));
        if (!v)
            return -ENOMEM;
        im->got = v;
        im->capgot = im->capgot ? im->capgot * 2 : 16;
    }
    memcpy(im->got[im->ngot++], hex, 65);
    return 0;
}

static void cache_note(struct cache_import *im, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cache_note(struct cache_import *im, int ok, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    im->fails += !ok;
    if (im->note)
        im->note(im->arg, ok, msg);
}

int cache_ref_normalize(const char *in, char *out, size_t outlen)
{
    const char *slash = strchr(in, '/'), *last = strrchr(in, '/'), *at = strchr(in, '@');
    const char *colon = strrchr(last ? last : in, ':');
    int has_host = slash && (memchr(in, '.', (size_t)(slash - in)) ||
                             memchr(in, ':', (size_t)(slash - in)) ||
                             strncmp(in, "localhost/", 10) == 0);
    int n;

    if (!*in || at)
        return -EINVAL;             /* a digest reference names no tag */
    /* docker's rules: no registry is docker.io, a bare name is library/ */
    n = snprintf(out, outlen, "%s%s%s%s", has_host ? "" : "docker.io/",
                 !has_host && !slash ? "library/" : "", in, colon ? "" : ":latest");
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* Copies one blob (hex, size bytes) from the layout, or finds it already
 * here; links it to the repository either way. */
static int cache_import_blob(struct cache_import *im, const char *hex, uint64_t size)
{
    char src[CACHE_PATH_MAX];
    struct cache_fill *f;
    char *buf = NULL;
    ssize_t n;
    int fd = -1, rc;

    if (snprintf(src, sizeof(src), "%s/blobs/sha256/%s", im->layout, hex) >= (int)sizeof(src))
        return -ENAMETOOLONG;
    rc = cache_fill_begin(im->c, hex, size, im->repo, &f);
    if (rc == -EEXIST)
        goto link;
    if (rc != 0)
        return rc;
    fd = open(src, O_RDONLY | O_CLOEXEC);
    buf = malloc(CACHE_COPY_CHUNK);
    if (fd == -1 || !buf) {
        rc = fd == -1 ? -errno : -ENOMEM;
        cache_fill_abort(f);
        goto out;
    }
    while ((n = read(fd, buf, CACHE_COPY_CHUNK)) > 0 &&
           (rc = cache_fill_write(f, buf, (size_t)n)) == 0)
        ;
    if (n == -1)
        rc = -errno;
    if (rc != 0) {
        cache_fill_abort(f);
        goto out;
    }
    rc = cache_fill_finish(f);
    if (rc != 0)
        goto out;
link:
    rc = cache_link_repo(im->c, hex, im->repo);
    if (rc == 0)
        rc = cache_import_got(im, hex);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/* The blob a descriptor names, then, for a manifest or an index, what it
 * refers to. A child manifest of an index that the layout lacks is
 * another platform, not copied: skipped. */
static int cache_import_desc(struct cache_import *im, json_t *desc, int optional, int depth)
{
    const char *d = json_string_value(json_object_get(desc, "digest"));
    json_int_t size = json_integer_value(json_object_get(desc, "size"));
    char src[CACHE_PATH_MAX];
    json_t *m, *child;
    size_t i;
    int rc;

    if (!d || strncmp(d, "sha256:", 7) != 0 || !cache_hex_ok(d + 7) || size < 0 || depth > 4)
        return -EINVAL;
    snprintf(src, sizeof(src), "%s/blobs/sha256/%s", im->layout, d + 7);
    if (optional && access(src, F_OK) == -1)
        return 0;
    rc = cache_import_blob(im, d + 7, (uint64_t)size);
    if (rc != 0) {
        cache_note(im, 0, "%s: %s", d, rc == -EBADMSG ? "content does not match its digest"
                                       : strerror(-rc));
        return rc;
    }
    if (!cache_is_manifest(json_string_value(json_object_get(desc, "mediaType"))))
        return 0;                   /* a layer or a config: nothing below */
    m = json_load_file(src, 0, NULL);
    if (!m) {
        cache_note(im, 0, "%s: a manifest that is not JSON", d);
        return -EINVAL;
    }
    json_array_foreach(json_object_get(m, "manifests"), i, child)
        if (rc == 0)
            rc = cache_import_desc(im, child, 1, depth + 1);
    if (rc == 0 && json_is_object(json_object_get(m, "config")))
        rc = cache_import_desc(im, json_object_get(m, "config"), 0, depth + 1);
    json_array_foreach(json_object_get(m, "layers"), i, child)
        if (rc == 0)
            rc = cache_import_desc(im, child, 0, depth + 1);
    json_decref(m);
    return rc;
}

int cache_import(struct cache *c, const char *layout,
                 void (*note)(void *arg, int ok, const char *msg), void *arg)
{
    struct cache_import im = {c, layout, NULL, note, arg, 0, NULL, 0, 0};
    char p[CACHE_PATH_MAX], ref[512], repo[512];
    json_t *idx, *m;
    const char *name;
    size_t i;
    int rc, n = 0;

    snprintf(p, sizeof(p), "%s/index.json", layout);
    idx = json_load_file(p, 0, NULL);
    if (!idx || !json_is_array(json_object_get(idx, "manifests"))) {
        cache_note(&im, 0, "%s is not an OCI layout (no readable index.json): make one with "
                   "skopeo copy docker://IMAGE oci:%s:IMAGE", layout, layout);
        json_decref(idx);
        return -EINVAL;
    }
    json_array_foreach(json_object_get(idx, "manifests"), i, m) {
        name = json_string_value(json_object_get(json_object_get(m, "annotations"),
                                                 CACHE_REF_NAME));
        if (!name || cache_ref_normalize(name, ref, sizeof(ref)) != 0) {
            cache_note(&im, 0, "%s: manifest %zu has no usable %s: skipped", layout, i,
                       CACHE_REF_NAME);
            continue;
        }
        snprintf(repo, sizeof(repo), "%.*s", (int)(strrchr(ref, ':') - ref), ref);
        im.repo = repo;
        im.ngot = 0;
        rc = cache_import_desc(&im, m, 0, 0);
        if (rc == 0)
            rc = cache_tag_set(c, ref, json_string_value(json_object_get(m, "digest")) + 7,
                               json_string_value(json_object_get(m, "mediaType"))
                                   ? json_string_value(json_object_get(m, "mediaType"))
                                   : "application/vnd.oci.image.manifest.v1+json",
                               (uint64_t)json_integer_value(json_object_get(m, "size")));
        for (size_t k = 0; rc == 0 && k < im.ngot; k++)
            rc = cache_blob_pin(c, im.got[k], 1);
        if (rc == 0) {
            cache_note(&im, 1, "imported %s (pinned)", ref);
            n++;
        } else {
            cache_note(&im, 0, "%s not imported: %s", ref, strerror(-rc));
        }
    }
    json_decref(idx);
    free(im.got);
    return im.fails ? -EIO : n;
}
