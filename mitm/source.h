/* source.h — where the body of an exchange's response comes from.
 *
 * The client side of an exchange (exchange.c) writes the response body
 * straight from a source's memory: ready() says how many bytes may go to
 * the client now and where they are, consume() takes back what the client
 * took. That is all it knows of a source, so an upstream connection
 * (upsrc.c) is one source and a cache file or several ranged fetches can
 * be others. A source applies its own hold-back: bytes a client must not
 * have yet (the last byte of a blob before its digest matched) are not
 * ready. */
#ifndef HUBGATE_SOURCE_H
#define HUBGATE_SOURCE_H

#include <stddef.h>

struct source;

struct source_ops {
    const char *kind;                                   /* "upstream", for logs */
    /* Body bytes the client may have now: a pointer to them in *p and
     * their count, 0 when none. */
    size_t (*ready)(struct source *s, const char **p);
    /* The client took the first n bytes of what ready() gave. */
    void (*consume)(struct source *s, size_t n);
};

struct source {
    const struct source_ops *ops;
};

static inline size_t source_ready(struct source *s, const char **p)
{
    return s->ops->ready(s, p);
}

static inline void source_consume(struct source *s, size_t n)
{
    s->ops->consume(s, n);
}

#endif
