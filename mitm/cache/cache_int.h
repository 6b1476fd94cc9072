/* cache_int.h — what the files of mitm/cache/ share; nobody else includes
 * it. */
#ifndef HUBGATE_CACHE_INT_H
#define HUBGATE_CACHE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "mitm/cache/cache.h"

#define CACHE_PATH_MAX 4096

/* A blob this process has open or is filling: eviction skips it. */
struct cache_use {
    struct cache_use *next;
    char hex[65];
    int refs;                       /* open handles */
    struct cache_fill *fill;        /* the fill in progress, or NULL */
};

struct cache {
    char *dir;
    uint64_t max_size;
    pthread_mutex_t mu;             /* threads; the flock is for processes */
    int lock_fd;                    /* DIR/hubgate/lock */
    json_t *state;                  /* DIR/hubgate/state.json as last read */
    dev_t state_dev;                /* which file that was, to notice another */
    ino_t state_ino;                /* process's rename */
    off_t state_size;
    struct timespec state_mtime, state_ctime;
    json_t *touched;                /* hex -> last use not yet written */
    time_t touched_at;              /* when touched was last written */
    uint64_t reserved;              /* bytes promised to fills in progress */
    int dirty;                      /* records changed under this lock */
    struct cache_use *uses;
    unsigned tmp_seq;               /* temporary names, with the pid */
    _Atomic int full;               /* ENOSPC seen: caching stopped (set by any
                                     * loop's fill) */
    json_t *pending;                /* hex -> tag to set once that manifest is
                                     * kept (cache_tag_later), under mu */
    _Atomic uint64_t evicted;       /* blobs evicted by this process */
    _Atomic uint64_t verified;      /* bytes whose digest this process checked */
    /* finisher.c: fills handed over to be finished off the event loop */
    pthread_mutex_t fin_mu;         /* guards the fin_ fields */
    pthread_cond_t fin_work;        /* a fill queued, or fin_stop */
    pthread_cond_t fin_idle;        /* the queue ran empty */
    struct cache_fill *fin_head, **fin_tail;
    int fin_busy;                   /* one being finished now */
    int fin_started, fin_stop;
    pthread_t fin_thread;
};

/* extents.c: byte ranges [start, end) written ahead of a fill's
 * contiguous prefix, sorted, disjoint and not touching. */
struct cache_extent {
    uint64_t start, end;
};

struct cache_extents {
    struct cache_extent *v;
    size_t n, cap;
};

/* Adds [start, end), merging it with the ranges it overlaps or touches.
 * 0 or -ENOMEM. */
int cache_extents_add(struct cache_extents *e, uint64_t start, uint64_t end);
/* Takes out every range that starts at or before the prefix end at (and
 * what they join up with) and returns the new prefix end: at, or the end
 * of the last range taken when it is further. */
uint64_t cache_extents_take(struct cache_extents *e, uint64_t at);
/* Frees the array; e is empty after. */
void cache_extents_free(struct cache_extents *e);

struct cache_fill {
    struct cache *c;
    char hex[65];
    char tmp[CACHE_PATH_MAX];
    char repo[512];                 /* fetched under it */
    int fd;
    _Atomic uint64_t size;          /* announced, or CACHE_SIZE_UNKNOWN until
                                     * cache_fill_set_size() */
    uint64_t reserve;               /* bytes counted in c->reserved */
    void *md;                       /* EVP_MD_CTX */
    _Atomic uint64_t written;       /* the contiguous prefix from 0, hashed */
    struct cache_extents ahead;     /* written beyond it (cache_fill_write_at),
                                     * not hashed yet; the writer's only */
    char *rbuf;                     /* reads them back for the hash, or NULL */
    _Atomic int state;              /* enum cache_blob_state */
    _Atomic int refs;               /* the writer and every reader */
    struct cache_fill *fin_next;    /* in c's finisher queue */
    char who[96];                   /* whose fill, for the finisher's log */
};

/* Paths under the cache: writes dir/rel, or dir/rel/hex when hex is not
 * NULL. */
int cache_path(const struct cache *c, char *out, size_t outlen, const char *rel, const char *hex);

/* Sets the tag cache_tag_later() kept for manifest hex, now kept; takes
 * the lock itself. */
void cache_tag_pending_apply(struct cache *c, const char *hex);

/* Takes the mutex and the flock, and re-reads the records when another
 * process replaced them. */
int cache_lock(struct cache *c);
/* Writes the records when dirty or c->dirty (set by the helpers below
 * that change them), or when uses waited too long; then lets go of both
 * locks. Returns the write's result. */
int cache_unlock(struct cache *c, int dirty);

json_t *cache_blobs(struct cache *c);       /* state.blobs, borrowed */
json_t *cache_obj(json_t *parent, const char *key); /* parent.key, made if missing */
uint64_t cache_bytes_locked(struct cache *c);
struct cache_use *cache_use_find(struct cache *c, const char *hex);

/* Records a verified blob file: size and ctime of path now. */
int cache_record_locked(struct cache *c, const char *hex, const char *path, int pinned);
/* Removes blob hex's file and record and the tags that name it. */
void cache_drop_locked(struct cache *c, const char *hex);
/* Evicts until need more bytes fit under max_size; -EFBIG if they cannot. */
int cache_evict_locked(struct cache *c, uint64_t need, uint64_t *freed);
/* Drops the tags of index.json whose manifest is no longer kept, or
 * whose image lacks a blob (after a grace time for the pull under way). */
int cache_tags_prune_locked(struct cache *c);
/* Unpins blobs that no tag's image needs; returns how many. */
int cache_tags_unpin_orphans_locked(struct cache *c);

/* image.c: 1 for the media types of manifests and image indexes. */
int cache_is_manifest(const char *media_type);
/* 1 when the image at manifest hex has every blob it needs kept. */
int cache_image_complete_locked(struct cache *c, const char *hex);
/* Unpins the pinned blobs that none of the n images at tag_hex needs. */
int cache_unpin_orphans_locked(struct cache *c, const char *const *tag_hex, size_t n);

/* 1 when s is 64 lower-case hex digits. */
int cache_hex_ok(const char *s);
/* SHA-256 of n bytes as 64 hex digits. */
int cache_sha256_hex(const void *p, size_t n, char out[65]);
/* Hashes the file at fd from offset 0: 0 when it matches hex, -EBADMSG when
 * not, -errno. */
int cache_hash_fd(int fd, const char *hex);
/* Writes root to path through path.tmp, fsync and rename. */
int cache_json_write(json_t *root, const char *path);

void cache_fill_unref(struct cache_fill *f);

/* finisher.c: sets up the queue (cache_open, before anything can fail),
 * and finishes what is queued, then stops the thread (cache_close). */
void cache_finisher_init(struct cache *c);
void cache_finisher_stop(struct cache *c);

#endif
