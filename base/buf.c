/* buf.c — bounded linear byte buffer. */
#include "base/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int buf_reserve(struct buf *b)
{
    if (!b->area) {
        b->area = malloc(b->size);
        if (!b->area)
            return -ENOMEM;
        b->off = b->len = 0;
        return 0;
    }
    if (b->off && b->size - b->off - b->len < b->size / 4) {
        memmove(b->area, b->area + b->off, b->len);
        b->off = 0;
    }
    return 0;
}

int buf_grow(struct buf *b, size_t size)
{
    char *a;

    if (size <= b->size)
        return 0;
    if (!b->area) {
        b->size = size;
        return 0;
    }
    a = realloc(b->area, size);
    if (!a)
        return -ENOMEM;
    b->area = a;
    b->size = size;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->off = b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b);

    if (rc)
        return rc;
    if (buf_room(b) < n && b->off) {
        memmove(b->area, b->area + b->off, b->len);
        b->off = 0;
    }
    if (buf_room(b) < n)
        return -ENOSPC;
    memcpy(buf_tail(b), p, n);
    b->len += n;
    return 0;
}

void buf_release(struct buf *b)
{
    if (b->len == 0)
        buf_free(b);
}

void buf_free(struct buf *b)
{
    free(b->area);
    b->area = NULL;
    b->off = b->len = 0;
}
