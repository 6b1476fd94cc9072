/* store.c — the cache directory: the layout, the records in
 * hubgate/state.json and the locks around every change of them. */
#include "mitm/cache/cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define CACHE_LAYOUT "{\"imageLayoutVersion\":\"1.0.0\"}"
/* Uses are written with the next change, or after this many seconds. */
#define CACHE_TOUCH_FLUSH 60

int cache_path(const struct cache *c, char *out, size_t outlen, const char *rel, const char *hex)
{
    int n = hex ? snprintf(out, outlen, "%s/%s/%s", c->dir, rel, hex)
                : snprintf(out, outlen, "%s/%s", c->dir, rel);

    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* mkdir -p: every missing parent too. */
static int cache_mkdirs(const char *dir)
{
    char p[CACHE_PATH_MAX];
    size_t i, n = strlen(dir);

    if (n == 0 || n >= sizeof(p))
        return -ENAMETOOLONG;
    memcpy(p, dir, n + 1);
    for (i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        p[i] = '\0';
        if (mkdir(p, 0755) == -1 && errno != EEXIST)
            return -errno;
        p[i] = i < n ? '/' : '\0';
    }
    return 0;
}

int cache_json_write(json_t *root, const char *path)
{
    char tmp[CACHE_PATH_MAX];
    int fd, rc = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1)
        return -errno;
    if (json_dumpfd(root, fd, JSON_COMPACT | JSON_SORT_KEYS) != 0)
        rc = errno ? -errno : -EIO;
    else if (fsync(fd) == -1)
        rc = -errno;
    if (close(fd) == -1 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) == -1)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* Which state.json was read last. The inode alone is not enough: a freed
 * one is soon reused for another process's next file. */
static void cache_seen_file(struct cache *c, const struct stat *st)
{
    c->state_dev = st->st_dev;
    c->state_ino = st->st_ino;
    c->state_size = st->st_size;
    c->state_mtime = st->st_mtim;
    c->state_ctime = st->st_ctim;
}

static int cache_same_file(const struct cache *c, const struct stat *st)
{
    return st->st_dev == c->state_dev && st->st_ino == c->state_ino &&
           st->st_size == c->state_size && st->st_mtim.tv_sec == c->state_mtime.tv_sec &&
           st->st_mtim.tv_nsec == c->state_mtime.tv_nsec &&
           st->st_ctim.tv_sec == c->state_ctime.tv_sec &&
           st->st_ctim.tv_nsec == c->state_ctime.tv_nsec;
}

/* Reads state.json when it is not the file read last (another process
 * renamed a new one in). A missing file is empty records. */
static int cache_state_load(struct cache *c)
{
    char path[CACHE_PATH_MAX];
    struct stat st;
    json_error_t jerr;
    json_t *s;

    if (cache_path(c, path, sizeof(path), "hubgate/state.json", NULL) != 0)
        return -ENAMETOOLONG;
    if (stat(path, &st) == -1) {
        if (errno != ENOENT)
            return -errno;
        s = json_object();
        memset(&st, 0, sizeof(st));
    } else if (c->state && cache_same_file(c, &st)) {
        return 0;
    } else {
        s = json_load_file(path, 0, &jerr);
        if (!s || !json_is_object(s)) {
            log_err("cache: %s is damaged (%s): remove it; the cache starts empty of "
                    "records and `hubgate cache gc` tidies the rest", path, jerr.text);
            json_decref(s);
            return -EINVAL;
        }
    }
    if (!s)
        return -ENOMEM;
    json_decref(c->state);
    c->state = s;
    cache_seen_file(c, &st);
    return 0;
}

static int cache_state_save(struct cache *c)
{
    char path[CACHE_PATH_MAX];
    struct stat st;
    int rc;

    if (cache_path(c, path, sizeof(path), "hubgate/state.json", NULL) != 0)
        return -ENAMETOOLONG;
    json_object_set_new(c->state, "version", json_integer(1));
    rc = cache_json_write(c->state, path);
    if (rc == 0 && stat(path, &st) == 0)
        cache_seen_file(c, &st);
    return rc;
}

int cache_lock(struct cache *c)
{
    int rc;

    pthread_mutex_lock(&c->mu);
    while (flock(c->lock_fd, LOCK_EX) == -1) {
        if (errno != EINTR) {
            rc = -errno;
            pthread_mutex_unlock(&c->mu);
            return rc;
        }
    }
    rc = cache_state_load(c);
    if (rc != 0) {
        flock(c->lock_fd, LOCK_UN);
        pthread_mutex_unlock(&c->mu);
    }
    return rc;
}

int cache_unlock(struct cache *c, int dirty)
{
    const char *hex;
    json_t *t, *b;
    int rc = 0;

    if (json_object_size(c->touched) > 0 &&
        (dirty || time(NULL) - c->touched_at >= CACHE_TOUCH_FLUSH)) {
        /* applied to the records as read now, so another process's last
         * uses are kept too (the later one wins) */
        json_object_foreach(c->touched, hex, t) {
            b = json_object_get(cache_blobs(c), hex);
            if (b && json_integer_value(t) > json_integer_value(json_object_get(b, "used")))
                json_object_set(b, "used", t);
        }
        json_object_clear(c->touched);
        c->touched_at = time(NULL);
        dirty = 1;
    }
    if (dirty || c->dirty)
        rc = cache_state_save(c);
    c->dirty = 0;
    flock(c->lock_fd, LOCK_UN);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

json_t *cache_obj(json_t *parent, const char *key)
{
    json_t *o = json_object_get(parent, key);

    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(parent, key, o);
    }
    return o;
}

json_t *cache_blobs(struct cache *c)
{
    return cache_obj(c->state, "blobs");
}

/* An existing oci-layout file must be a layout's: refused before anything
 * is created in a directory that belongs to something else. */
static int cache_foreign(struct cache *c, char *err, size_t errlen)
{
    char p[CACHE_PATH_MAX];
    json_t *l;
    int ok;

    cache_path(c, p, sizeof(p), "oci-layout", NULL);
    if (access(p, F_OK) == -1)
        return 0;
    l = json_load_file(p, 0, NULL);
    ok = json_is_string(json_object_get(l, "imageLayoutVersion"));
    json_decref(l);
    if (ok)
        return 0;
    snprintf(err, errlen, "cache: %s is not an OCI layout file: point [cache] dir at an "
             "empty or hubgate-made directory", p);
    return -EINVAL;
}

/* A new dir becomes a layout: oci-layout and an empty index.json. */
static int cache_layout(struct cache *c, char *err, size_t errlen)
{
    static const char *const name[] = {"oci-layout", "index.json"};
    char p[CACHE_PATH_MAX];
    json_t *j;
    size_t i;
    int rc = 0;

    for (i = 0; i < 2 && rc == 0; i++) {
        cache_path(c, p, sizeof(p), name[i], NULL);
        if (access(p, F_OK) == 0)
            continue;
        j = i == 0 ? json_loads(CACHE_LAYOUT, 0, NULL)
                   : json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType",
                               "application/vnd.oci.image.index.v1+json", "manifests");
        rc = j ? cache_json_write(j, p) : -ENOMEM;
        json_decref(j);
    }
    if (rc != 0)
        snprintf(err, errlen, "cache: cannot write %s: %s: make [cache] dir writable by the "
                 "user hubgate runs as (or choose another)", p, strerror(-rc));
    return rc;
}

int cache_open(struct cache **out, const char *dir, uint64_t max_size, char *err, size_t errlen)
{
    static const char *const sub[] = {"blobs/sha256", "hubgate/tmp"};
    struct cache *c = calloc(1, sizeof(*c));
    char p[CACHE_PATH_MAX];
    size_t i;
    int rc = -ENOMEM;

    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "cache: out of memory");
        return -ENOMEM;
    }
    c->lock_fd = -1;
    c->max_size = max_size;
    pthread_mutex_init(&c->mu, NULL);
    cache_finisher_init(c);
    if (!(c->dir = strdup(dir)) || !(c->touched = json_object())) {
        snprintf(err, errlen, "cache: out of memory");
        goto fail;
    }
    rc = cache_foreign(c, err, errlen);
    if (rc != 0)
        goto fail;
    for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        cache_path(c, p, sizeof(p), sub[i], NULL);
        rc = cache_mkdirs(p);
        if (rc != 0) {
            snprintf(err, errlen, "cache: cannot create %s: %s: create it writable by the "
                     "user hubgate runs as, or change [cache] dir", p, strerror(-rc));
            goto fail;
        }
    }
    cache_path(c, p, sizeof(p), "hubgate/lock", NULL);
    c->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (c->lock_fd == -1) {
        rc = -errno;
        snprintf(err, errlen, "cache: cannot open %s: %s: make [cache] dir writable by the "
                 "user hubgate runs as", p, strerror(errno));
        goto fail;
    }
    rc = cache_lock(c);
    if (rc != 0) {
        snprintf(err, errlen, "cache: cannot read the records in %s/hubgate: %s", dir,
                 strerror(-rc));
        goto fail;
    }
    /* under the lock: a process starting next to a running one must not
     * write an empty index.json over its tags */
    rc = cache_layout(c, err, errlen);
    cache_unlock(c, 0);
    if (rc != 0)
        goto fail;
    c->touched_at = time(NULL);
    *out = c;
    return 0;
fail:
    cache_close(c);
    return rc;
}

void cache_close(struct cache *c)
{
    if (!c)
        return;
    cache_finisher_stop(c);
    if (c->lock_fd >= 0 && json_object_size(c->touched) > 0 && cache_lock(c) == 0)
        cache_unlock(c, 1);         /* the last uses */
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    pthread_mutex_destroy(&c->mu);
    json_decref(c->state);
    json_decref(c->touched);
    json_decref(c->pending);
    free(c->dir);
    free(c);
}

const char *cache_dir(const struct cache *c)
{
    return c->dir;
}

uint64_t cache_max_size(const struct cache *c)
{
    return c->max_size;
}
