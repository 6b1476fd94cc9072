/* cachesrc.c — the cache source: pread() in CACHESRC_CHUNK pieces into one
 * buffer the client side writes from; a growing blob is read up to what
 * the fill has written, less the held-back last byte until the digest
 * matched. */
#include "mitm/cachesrc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Held back from a blob still being filled: its last byte, as the digest
 * check does for an upstream body. */
#define CACHESRC_HOLD 1

/* How far the file may be read now, and the blob's state. */
static uint64_t cachesrc_limit(struct cachesrc *s, enum cache_blob_state *st)
{
    uint64_t avail = cache_blob_avail(s->blob, st), size = cache_blob_size(s->blob), lim;

    if (*st == CACHE_BLOB_COMPLETE)
        lim = avail;
    else if (size != CACHE_SIZE_UNKNOWN)
        lim = avail < size ? avail : size - CACHESRC_HOLD;
    else
        lim = avail > CACHESRC_HOLD ? avail - CACHESRC_HOLD : 0;
    return s->end != CACHE_SIZE_UNKNOWN && s->end < lim ? s->end : lim;
}

static size_t cachesrc_ready(struct source *src, const char **p)
{
    struct cachesrc *s = (struct cachesrc *)src;
    enum cache_blob_state st;
    uint64_t lim;
    size_t want;
    ssize_t n;

    if (s->len == 0 && s->err == 0) {
        lim = cachesrc_limit(s, &st);
        if (st == CACHE_BLOB_FAILED)
            s->err = -EIO;
        if (s->err == 0 && lim > s->off) {
            want = lim - s->off < CACHESRC_CHUNK ? (size_t)(lim - s->off) : CACHESRC_CHUNK;
            do
                n = pread(cache_blob_fd(s->blob), s->buf, want, (off_t)s->off);
            while (n == -1 && errno == EINTR);
            if (n <= 0) {
                /* the file is shorter than recorded: damaged under us */
                s->err = n == 0 ? -EIO : -errno;
            } else {
                s->head = 0;
                s->len = (size_t)n;
                s->off += (uint64_t)n;
            }
        }
    }
    *p = s->buf + s->head;
    return s->len;
}

static void cachesrc_consume(struct source *src, size_t n)
{
    struct cachesrc *s = (struct cachesrc *)src;

    s->head += n;
    s->len -= n;
}

static const struct source_ops cachesrc_ops = {
    .kind = "cache",
    .ready = cachesrc_ready,
    .consume = cachesrc_consume,
};

int cachesrc_init(struct cachesrc *s, struct cache_blob *blob, uint64_t start, uint64_t end)
{
    memset(s, 0, sizeof(*s));
    s->src.ops = &cachesrc_ops;
    s->blob = blob;
    s->off = start;
    s->end = end;
    s->buf = malloc(CACHESRC_CHUNK);
    if (!s->buf) {
        cachesrc_free(s);
        return -ENOMEM;
    }
    return 0;
}

enum cachesrc_state cachesrc_state(struct cachesrc *s)
{
    enum cache_blob_state st;
    uint64_t avail, end = s->end;

    if (s->err)
        return CACHESRC_FAILED;
    if (s->len > 0)
        return CACHESRC_MORE;
    avail = cache_blob_avail(s->blob, &st);
    if (st == CACHE_BLOB_FAILED)
        return CACHESRC_FAILED;
    if (st != CACHE_BLOB_COMPLETE)
        return CACHESRC_MORE;
    /* complete: avail is the blob's size, also for a fill of unknown size */
    if (end == CACHE_SIZE_UNKNOWN || end > avail)
        end = avail;
    return s->off >= end ? CACHESRC_DONE : CACHESRC_MORE;
}

void cachesrc_free(struct cachesrc *s)
{
    cache_blob_close(s->blob);
    s->blob = NULL;
    free(s->buf);
    s->buf = NULL;
}
