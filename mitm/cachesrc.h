/* cachesrc.h — a response body read from the blob cache (source.h): a
 * complete blob, or one still being filled by another exchange, read from
 * its file in large chunks into one bounded buffer. Internal to mitm/.
 *
 * While the blob grows, the last byte of it is held back until the fill's
 * digest matched, as the digest check holds back an upstream body's last
 * byte: a fill that fails leaves every reader short, and dockerd retries. */
#ifndef HUBGATE_CACHESRC_H
#define HUBGATE_CACHESRC_H

#include <stddef.h>
#include <stdint.h>

#include "mitm/cache/cache.h"
#include "mitm/source.h"

/* Bytes read from the file at a time, and so the memory of one source. */
#define CACHESRC_CHUNK (256 * 1024)

enum cachesrc_state {
    CACHESRC_MORE = 0,              /* ready() may give more (now or after the
                                     * fill writes more) */
    CACHESRC_DONE,                  /* the whole range went to the client */
    CACHESRC_FAILED,                /* the fill failed or the file could not be
                                     * read: end the response short (reset) */
};

struct cachesrc {
    struct source src;              /* first: a struct source * is this */
    struct cache_blob *blob;        /* owned */
    char *buf;                      /* CACHESRC_CHUNK bytes */
    size_t head, len;               /* unconsumed bytes at buf + head */
    uint64_t off;                   /* file offset of the next read */
    uint64_t end;                   /* one past the last byte to serve, or
                                     * CACHE_SIZE_UNKNOWN: to the blob's end */
    int err;                        /* -errno of a failed read, or -EIO */
};

/* Serves bytes [start, end) of blob (end CACHE_SIZE_UNKNOWN: to its end;
 * a Range request gives both). Takes over blob, also on failure. Returns 0
 * or -ENOMEM. */
int cachesrc_init(struct cachesrc *s, struct cache_blob *blob, uint64_t start, uint64_t end);

/* Whether more will come; when ready() gives 0 and this says MORE, the
 * blob is still filling: try again when the fill has written more. */
enum cachesrc_state cachesrc_state(struct cachesrc *s);

/* Closes the blob (unpinning it) and frees the buffer. */
void cachesrc_free(struct cachesrc *s);

#endif
