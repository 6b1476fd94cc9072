/* cache.h — the blob cache on disk: an OCI image layout that every loop of
 * a process, and several processes, share.
 *
 *   DIR/oci-layout, DIR/index.json        what skopeo, oras and crane read
 *   DIR/blobs/sha256/<hex>                 complete, verified blobs only
 *   DIR/hubgate/state.json                 hubgate's records (below)
 *   DIR/hubgate/lock                       flock(2): one writer at a time
 *   DIR/hubgate/tmp/                       blobs being filled
 *
 * state.json keeps, per blob, its size and ctime when last verified (the
 * cheap damage check of every hit), its last use (LRU), whether it is
 * pinned (imported), and the repositories it was fetched under; the
 * repositories found open (readable with hubgate's own identity) with the
 * time of that check; and SHA-256(token)|repository pairs a client's token
 * was verified for, with an expiry. A token is never stored in clear.
 *
 * Every change happens under the process's mutex and the directory's flock:
 * the records are re-read when another process replaced them, changed, then
 * written to a temporary file, fsynced and renamed. Fill progress is read
 * with atomics, so the per-byte path takes no lock. Functions return 0 or
 * -errno unless said otherwise.
 *
 * How an exchange uses it, for GET /v2/<name>/blobs/sha256:<hex> (repo is
 * "REGISTRY/<name>", docker.io for Docker Hub):
 *   cache_authorize(): OK -> cache_blob_open() and serve a cachesrc
 *     (-ESTALE: cache_blob_verify() off the loop, then again; -ENOENT: a
 *     miss); CHECK_OPEN -> HEAD with hubgate's own identity, then
 *     cache_repo_open(); CHECK_TOKEN -> HEAD with the client's token, and
 *     on 200 cache_token_verified(); NO -> a miss.
 *   A blob being filled is authorized like a kept one (under the fill's
 *   repository), so a joining request follows the growing file through
 *   cache_blob_open() without a second fetch (single flight).
 *   A miss goes upstream. On its 200: cache_link_repo() when the blob is
 *   already kept (upstream just vouched for repo), else cache_fill_begin():
 *   0 -> cache_fill_write() as the body streams (a segmented fetch:
 *   cache_fill_write_at() as segments arrive), then finish or abort;
 *   -EEXIST -> another exchange fills it: follow it as above;
 *   -EFBIG/-ENOSPC -> stream, keep nothing.
 *   A manifest by tag: cache_tag_set() once its digest is known. */
#ifndef HUBGATE_CACHE_H
#define HUBGATE_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cache;
struct cache_fill;
struct cache_blob;

/* Opens the cache in dir, creating dir (and parents), the layout and the
 * records when missing; refuses a dir that is not an OCI layout or not
 * writable, with a message saying what to do in err. max_size: bytes of
 * blobs kept. */
int cache_open(struct cache **out, const char *dir, uint64_t max_size, char *err, size_t errlen);
/* Closes, first finishing the fills handed to cache_fill_finish_later();
 * handles and other fills must be gone. NULL is accepted. */
void cache_close(struct cache *c);
const char *cache_dir(const struct cache *c);

/* ---- fills: one blob arriving from upstream ------------------------------ */

#define CACHE_SIZE_UNKNOWN UINT64_MAX

/* Starts writing blob hex (64 lower-case hex digits) of size bytes (or
 * CACHE_SIZE_UNKNOWN), fetched under repo ("docker.io/library/nginx").
 * Space is made by evicting least recently used blobs first. Returns 0;
 * -EEXIST when the blob is cached or being filled (open it instead);
 * -EFBIG when size exceeds max_size (stream it, do not keep it); -ENOSPC
 * when caching stopped after a full disk; -errno otherwise. */
int cache_fill_begin(struct cache *c, const char *hex, uint64_t size, const char *repo,
                     struct cache_fill **out);
/* Appends n bytes, hashing them; readers may read them once it returns.
 * -EFBIG past the announced size or max_size, -ENOSPC on a full disk
 * (caching stops, said once in the log). After an error, abort. */
int cache_fill_write(struct cache_fill *f, const void *p, size_t n);
/* Writes n bytes at offset off of a fill of known size (a segmented
 * fetch writes each segment where it belongs, as it arrives). Readers
 * see, and cache_fill_written() counts, only the contiguous prefix from
 * byte 0; the SHA-256 runs over that prefix in order (bytes written ahead
 * of it are read back from the file once it reaches them). Bytes within
 * the prefix are not written again (a refetched segment may repeat them);
 * bytes ahead of it may be, with the same content. At the prefix's end it
 * is cache_fill_write(). -EINVAL when the size is not known, -EFBIG past
 * it, -ENOSPC on a full disk (said once), -ENOMEM. After an error,
 * abort. */
int cache_fill_write_at(struct cache_fill *f, uint64_t off, const void *p, size_t n);
/* Announces the size of a fill begun with CACHE_SIZE_UNKNOWN (a fill
 * claimed before the body's length was known: at a registry's redirect),
 * making room for it. 0; -EFBIG past max_size (abort it); -EINVAL when
 * another size was announced. */
int cache_fill_set_size(struct cache_fill *f, uint64_t size);
/* Bytes written so far from byte 0 without a hole (readers see the same
 * through cache_blob_avail). */
uint64_t cache_fill_written(const struct cache_fill *f);
/* Checks the SHA-256 and the size, fsyncs, renames into blobs/sha256 and
 * records the blob; frees f. -EBADMSG when the digest does not match or
 * the prefix is short of the size (a hole left by cache_fill_write_at):
 * the bytes are dropped and never served. Readers learn the outcome. */
int cache_fill_finish(struct cache_fill *f);
/* As cache_fill_finish(), on the cache's own thread (one per cache,
 * started at the first call), so that an event loop never waits for the
 * disk: an fsync of a large blob takes hundreds of milliseconds. f is
 * handed over at once. Readers see the blob COMPLETE only after its
 * rename, as with cache_fill_finish(); a fill that is not kept is logged,
 * prefixed with who ("client 127.0.0.1:4242"; may be NULL). If the thread
 * cannot start, finishes here. */
void cache_fill_finish_later(struct cache_fill *f, const char *who);
/* Waits until every fill handed to cache_fill_finish_later() has been
 * finished (for tests; cache_close() finishes them too). */
void cache_fill_finish_wait(struct cache *c);
/* Drops what was written and frees f; readers see a failure. NULL is
 * accepted. */
void cache_fill_abort(struct cache_fill *f);

/* ---- reading ----------------------------------------------------------------- */

enum cache_blob_state { CACHE_BLOB_FILLING = 0, CACHE_BLOB_COMPLETE, CACHE_BLOB_FAILED };

/* Opens blob hex for reading and pins it (never evicted while open): a
 * complete blob, or one being filled by this process (read it as it
 * grows). Returns 0; -ENOENT when not cached; -ESTALE when the file's size
 * or ctime differ from the record (damage: run cache_blob_verify() before
 * serving it, off the event loop). Marks the blob used. */
int cache_blob_open(struct cache *c, const char *hex, struct cache_blob **out);
/* The blob's file, for pread() or mmap(); stays valid until close. */
int cache_blob_fd(const struct cache_blob *b);
/* Bytes that may be read now, and the state: COMPLETE only after the
 * digest matched; until then the last bytes may still be wrong, so a
 * reader holds some back (as the digest check does). */
uint64_t cache_blob_avail(const struct cache_blob *b, enum cache_blob_state *state);
/* The blob's full size, or CACHE_SIZE_UNKNOWN while a fill of unknown
 * size runs. */
uint64_t cache_blob_size(const struct cache_blob *b);
/* Unpins and frees; NULL is accepted. */
void cache_blob_close(struct cache_blob *b);

/* Re-hashes blob hex. 0 and a fresh size+ctime record when it matches;
 * -EBADMSG when not (the file, its record and its tags are removed);
 * -ENOENT when not cached. Blocking: for the CLI or a worker thread. */
int cache_blob_verify(struct cache *c, const char *hex);
/* Removes blob hex (file, record, tags naming it), pinned or not. */
int cache_blob_remove(struct cache *c, const char *hex);
/* Marks blob hex pinned (1: never evicted) or not. */
int cache_blob_pin(struct cache *c, const char *hex, int pinned);

/* Evicts least recently used, unpinned, unused blobs until the bytes kept
 * are within max_size, drops tags whose manifest is gone, and removes
 * temporary files older than an hour. *freed: bytes removed (may be NULL). */
int cache_gc(struct cache *c, uint64_t *freed);

/* ---- listing ------------------------------------------------------------- */

struct cache_blob_info {
    const char *hex;
    uint64_t size;
    time_t used;                    /* last use */
    int pinned;
    size_t repos;                   /* repositories it was fetched under */
};

struct cache_tag_info {
    const char *ref;                /* docker.io/library/nginx:latest */
    const char *hex;                /* its manifest */
    const char *media_type;
    uint64_t size;
};

/* Calls cb for every blob / tag, under the lock (cb must not call back in).
 * Returns the number visited or -errno. */
int cache_each_blob(struct cache *c, void (*cb)(const struct cache_blob_info *, void *), void *arg);
int cache_each_tag(struct cache *c, void (*cb)(const struct cache_tag_info *, void *), void *arg);
/* Bytes of blobs kept, and the limit. */
uint64_t cache_bytes(struct cache *c);
uint64_t cache_max_size(const struct cache *c);

struct cache_stats {
    uint64_t evicted;               /* blobs evicted by this process */
    uint64_t verified;              /* bytes this process hashed against their digest */
    int full;                       /* caching stopped after a full disk */
};
/* This process's counters, read without the lock. */
void cache_stats(struct cache *c, struct cache_stats *st);

/* ---- tags (index.json) ------------------------------------------------------ */

/* Points ref ("REGISTRY/REPOSITORY:TAG") at manifest hex (media_type, size
 * bytes), replacing an older entry for ref and keeping other processes'
 * tags. */
int cache_tag_set(struct cache *c, const char *ref, const char *hex, const char *media_type,
                  uint64_t size);
/* As cache_tag_set() once manifest hex is kept: a tag is often learnt (a
 * HEAD by tag) before its manifest is fetched (a GET by digest). Kept in
 * this process's memory, one tag per manifest, the latest; set when a fill
 * of hex finishes, or at once when hex is already kept. */
int cache_tag_later(struct cache *c, const char *ref, const char *hex, const char *media_type,
                    uint64_t size);
/* Copies ref's manifest digest into hex; -ENOENT when unknown. */
int cache_tag_get(struct cache *c, const char *ref, char hex[65]);
/* Removes ref's tag; blobs pinned for it that no other tag's image needs
 * are unpinned (they age out). */
int cache_tag_remove(struct cache *c, const char *ref);

/* ---- import ------------------------------------------------------------------ */

/* Writes ref in docker's full form, REGISTRY/REPOSITORY:TAG: "nginx" is
 * "docker.io/library/nginx:latest". -EINVAL for a digest reference. */
int cache_ref_normalize(const char *in, char *out, size_t outlen);
/* Imports the OCI layout at dir layout: for each index.json entry with a
 * ref.name, the manifest and every blob it needs (copied through a fill,
 * so digests are checked; child manifests of an index the layout lacks are
 * skipped), pinned and linked to the repository, then the tag. note (may
 * be NULL) gets one line per image or failure. Returns the images
 * imported, or -EIO when something failed, -EINVAL when layout is no
 * layout. */
int cache_import(struct cache *c, const char *layout,
                 void (*note)(void *arg, int ok, const char *msg), void *arg);

/* ---- who may have a hit ------------------------------------------------------ */

enum cache_authz {
    CACHE_AUTHZ_OK = 0,             /* serve the hit */
    CACHE_AUTHZ_NO,                 /* never fetched under this repository, or no
                                     * token for a closed one: a miss */
    CACHE_AUTHZ_CHECK_OPEN,         /* open once, but checked too long ago:
                                     * re-check with hubgate's own identity */
    CACHE_AUTHZ_CHECK_TOKEN,        /* ask upstream (HEAD) with the client's
                                     * token, then cache_token_verified() */
};

/* May a client presenting token (tlen bytes, NULL for none) for repo have
 * blob hex at now? Pinned (imported) blobs: always. Otherwise the blob must
 * have been fetched under repo (a blob this process is filling: under the
 * fill's repo), and repo be open (checked within open_ttl seconds) or the
 * token verified for repo and not expired. */
enum cache_authz cache_authorize(struct cache *c, const char *hex, const char *repo,
                                 const void *token, size_t tlen, time_t now, time_t open_ttl);
/* Records that blob hex was (also) served upstream under repo. */
int cache_link_repo(struct cache *c, const char *hex, const char *repo);
/* repo is readable with hubgate's own identity (open=1) as checked at
 * now, or no longer (open=0). */
int cache_repo_open(struct cache *c, const char *repo, int open, time_t now);
/* Upstream accepted token for repo; trust that until until. Only the
 * token's SHA-256 is kept. */
int cache_token_verified(struct cache *c, const void *token, size_t tlen, const char *repo,
                         time_t until);
/* Tokens hubgate's own identity holds: issued for a token request that
 * carried no client credentials (anonymous, or hubgate's own). A
 * repository upstream serves with one of them is open. Kept as SHA-256
 * only, until until. */
int cache_token_own(struct cache *c, const void *token, size_t tlen, time_t until);
/* 1 when token was recorded by cache_token_own() and has not expired. */
int cache_token_is_own(struct cache *c, const void *token, size_t tlen, time_t now);

#endif
