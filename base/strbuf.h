/* strbuf.h — a growable, NUL-terminated string for rendered pages (the
 * admin status page, /metrics). Out of memory is sticky: later appends do
 * nothing and oom stays set, so a renderer checks once at the end. */
#ifndef HUBGATE_STRBUF_H
#define HUBGATE_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *p;        /* NULL until the first append; the caller frees it */
    size_t len, cap;
    int oom;
};

void strbuf_add(struct strbuf *sb, const char *p, size_t n);
void strbuf_str(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
