/* http1.h — HTTP/1.1 message heads and framing through llhttp.
 *
 * The parser reads a struct buf in place. A head is exposed as offsets into
 * the buffer's data (valid until the caller consumes the head bytes), so no
 * header is copied. Bodies are not copied either: once the head is consumed,
 * the first `parsed` bytes of the buffer are body bytes the parser has
 * checked, which the caller forwards as they are (chunked framing included)
 * and reports with http1_consumed(). The parser pauses at the end of the
 * head and at the end of the message, so bytes of a following message are
 * never taken for this one. */
#ifndef HUBGATE_HTTP1_H
#define HUBGATE_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "base/buf.h"

#define HTTP1_MAX_HDRS 100

struct http1_hdr {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
};

enum http1_state { H1_HEAD = 0, H1_BODY, H1_DONE, H1_ERROR };

enum http1_ev {
    H1_EV_NONE = 0,  /* needs more bytes */
    H1_EV_HEAD,      /* a head is complete: inspect, consume, http1_resume() */
    H1_EV_DONE,      /* the message is complete: parsed bytes end at its end */
    H1_EV_ERROR      /* malformed: status and err say why */
};

typedef void (*http1_body_fn)(void *arg, const char *p, size_t n);

struct http1 {
    llhttp_t p;
    enum http1_state state;
    size_t parsed;          /* bytes at the buffer's front the parser has seen */
    size_t head_len;        /* length of the head, once H1_EV_HEAD */
    size_t max_head;        /* limit on head bytes */
    int skip_body;          /* response to HEAD: no body whatever it says */
    int head_paused;        /* internal: paused at end of head */
    const char *base;       /* internal: buffer data start during a feed */
    uint32_t url_off, url_len;  /* request target, or a response's reason */
    unsigned nhdrs;
    int cur;                /* internal: header being parsed: 0 none, 1 field, 2 value */
    /* internal, for trailer fields (not kept, only checked): where this
     * feed starts, the last byte of the previous one, the last byte of
     * the field name so far */
    const char *feed;
    char prev_byte, tf_last;
    struct http1_hdr hdrs[HTTP1_MAX_HDRS];
    http1_body_fn on_body;  /* optional: decoded body bytes as they pass */
    void *body_arg;
    int status;             /* for errors: the status to answer (400, 431, 502) */
    const char *err;        /* for errors: a static description */
};

/* type: HTTP_REQUEST or HTTP_RESPONSE. */
void http1_init(struct http1 *h, llhttp_type_t type, size_t max_head);

/* Parses what b holds beyond h->parsed and reports the first event. */
enum http1_ev http1_feed(struct http1 *h, struct buf *b);

/* The peer closed: completes a read-until-close body. Returns H1_EV_DONE,
 * or H1_EV_ERROR when the message was cut short. */
enum http1_ev http1_finish(struct http1 *h);

/* After H1_EV_HEAD, once the caller consumed head_len bytes. */
void http1_resume(struct http1 *h);

/* The caller consumed n body bytes from the front of the buffer. */
static inline void http1_consumed(struct http1 *h, size_t n) { h->parsed -= n; }

/* After H1_EV_DONE, and all body bytes consumed: ready for the next message. */
void http1_next(struct http1 *h);

/* Head accessors; base is buf_data() of the buffer the head is in. */
static inline const char *http1_str(const char *base, uint32_t off) { return base + off; }
int http1_find(const struct http1 *h, const char *base, const char *name);
int http1_keep_alive(const struct http1 *h);
static inline int http1_method(const struct http1 *h) { return (int)h->p.method; }
static inline int http1_status(const struct http1 *h) { return (int)h->p.status_code; }

/* Case-insensitive compare of a span with a NUL-terminated string. */
int http1_span_eq(const char *p, size_t n, const char *s);

#endif
