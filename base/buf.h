/* buf.h — a bounded, linear byte buffer.
 *
 * Data lives in area[off .. off+len); new bytes are appended at the tail.
 * Linear rather than a ring so that a parser (llhttp) always sees one
 * contiguous span. The area is allocated on first use and may be released
 * while empty, so idle connections hold no buffer memory. */
#ifndef HUBGATE_BUF_H
#define HUBGATE_BUF_H

#include <stddef.h>

struct buf {
    char *area;     /* NULL until first buf_reserve() */
    size_t size;    /* capacity once allocated */
    size_t off;     /* start of data */
    size_t len;     /* bytes of data */
};

/* Sets the capacity a later buf_reserve() allocates; no allocation yet. */
static inline void buf_init(struct buf *b, size_t size)
{
    b->area = NULL;
    b->size = size;
    b->off = b->len = 0;
}

static inline char *buf_data(const struct buf *b) { return b->area + b->off; }
static inline int buf_empty(const struct buf *b) { return b->len == 0; }

/* Bytes that can be appended at the tail without compaction. */
static inline size_t buf_room(const struct buf *b)
{
    return b->area ? b->size - b->off - b->len : b->size;
}

/* Bytes that can be appended once buf_reserve() has compacted. */
static inline size_t buf_space(const struct buf *b)
{
    return b->area ? b->size - b->len : b->size;
}

/* Allocates the area if needed and, when the tail room is below a quarter
 * of the capacity, moves the data to the front. Returns 0 or -ENOMEM. */
int buf_reserve(struct buf *b);

static inline char *buf_tail(const struct buf *b) { return b->area + b->off + b->len; }
static inline void buf_commit(struct buf *b, size_t n) { b->len += n; }

/* Raises the capacity to size (keeping the data). Returns 0 or -ENOMEM. */
int buf_grow(struct buf *b, size_t size);

/* Drops n bytes from the front. */
void buf_consume(struct buf *b, size_t n);

/* Appends n bytes, compacting first if needed. Returns 0, or -ENOSPC when
 * they do not fit, or -ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Frees the area when the buffer holds no data. */
void buf_release(struct buf *b);

/* Frees the area whatever it holds. */
void buf_free(struct buf *b);

#endif
