/* strbuf.c — a growable string (see strbuf.h). */
#include "base/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and the NUL. Returns 0, or -1 (oom set). */
static int strbuf_room(struct strbuf *sb, size_t n)
{
    size_t cap;
    char *np;

    if (sb->oom)
        return -1;
    if (sb->cap - sb->len > n)
        return 0;
    cap = sb->cap ? sb->cap : 4096;
    while (cap - sb->len <= n)
        cap *= 2;
    np = realloc(sb->p, cap);
    if (!np) {
        sb->oom = 1;
        return -1;
    }
    sb->p = np;
    sb->cap = cap;
    return 0;
}

void strbuf_add(struct strbuf *sb, const char *p, size_t n)
{
    if (strbuf_room(sb, n) != 0)
        return;
    memcpy(sb->p + sb->len, p, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

void strbuf_str(struct strbuf *sb, const char *s) { strbuf_add(sb, s, strlen(s)); }

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->oom = 1;
        return;
    }
    if (strbuf_room(sb, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}
