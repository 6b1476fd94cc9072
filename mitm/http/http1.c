/* http1.c — llhttp callbacks turned into a head of offsets and paused
 * body framing. See http1.h. */
#include "mitm/http/http1.h"

#include <string.h>
#include <strings.h>

static struct http1 *H(llhttp_t *p) { return p->data; }

static uint32_t off_of(const struct http1 *h, const char *at)
{
    return (uint32_t)(at - h->base);
}

static int on_message_begin(llhttp_t *p)
{
    struct http1 *h = H(p);

    h->nhdrs = 0;
    h->cur = 0;
    h->url_off = h->url_len = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct http1 *h = H(p);

    if (!h->url_len)
        h->url_off = off_of(h, at);
    h->url_len = off_of(h, at + n) - h->url_off;
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
    return on_url(p, at, n);
}

/* Returns 1 when a value piece at `at` continues the previous one across
 * a line break: obs-fold, which llhttp joins without the CR LF. */
static int is_fold(const struct http1 *h, const char *at)
{
    const char *q = at;

    while (q > h->feed && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    return (q > h->feed ? q[-1] : h->prev_byte) == '\n';
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct http1 *h = H(p);
    struct http1_hdr *hd;

    if (h->state != H1_HEAD) {
        /* a trailer field: checked, not kept */
        if (n)
            h->tf_last = at[n - 1];
        h->cur = 1;
        return 0;
    }
    if (h->cur != 1) {
        if (h->nhdrs == HTTP1_MAX_HDRS) {
            h->status = 431;
            h->err = "too many header fields";
            return -1;
        }
        hd = &h->hdrs[h->nhdrs];
        hd->name_off = off_of(h, at);
        hd->value_off = hd->value_len = 0;
        h->cur = 1;
    }
    hd = &h->hdrs[h->nhdrs];
    hd->name_len = off_of(h, at + n) - hd->name_off;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct http1 *h = H(p);
    struct http1_hdr *hd = &h->hdrs[h->nhdrs];

    /* llhttp 8.1 accepts obs-fold and hands the CR LF SP inside the
     * value; RFC 9112 lets a proxy refuse it, and we must, so that no two
     * parsers can disagree on where a header ends. */
    if (memchr(at, '\r', n) || memchr(at, '\n', n) ||
        (h->state != H1_HEAD && h->cur == 2 && is_fold(h, at))) {
        h->status = 400;
        h->err = "obsolete line folding in a header";
        return -1;
    }
    if (h->state != H1_HEAD) {
        h->cur = 2;
        return 0;
    }
    if (h->cur != 2) {
        hd->value_off = off_of(h, at);
        h->cur = 2;
    }
    hd->value_len = off_of(h, at + n) - hd->value_off;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http1 *h = H(p);
    const struct http1_hdr *hd = &h->hdrs[h->nhdrs];

    if (h->state != H1_HEAD) {
        if (h->tf_last == ' ' || h->tf_last == '\t') {
            h->status = 400;
            h->err = "whitespace between a header name and its colon";
            return -1;
        }
        return 0;
    }
    /* "Name :" — whitespace before the colon makes two parsers disagree
     * on the name (RFC 9112 5.1: reject). */
    if (hd->name_len == 0 || h->base[hd->name_off + hd->name_len] != ':' ||
        h->base[hd->name_off + hd->name_len - 1] == ' ' ||
        h->base[hd->name_off + hd->name_len - 1] == '\t') {
        h->status = 400;
        h->err = "whitespace between a header name and its colon";
        return -1;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http1 *h = H(p);

    if (h->state != H1_HEAD) {
        h->cur = 0;
        return 0;
    }
    {
        const struct http1_hdr *hd = &h->hdrs[h->nhdrs];

        /* the pieces of a folded value are contiguous in the buffer */
        if (memchr(h->base + hd->value_off, '\r', hd->value_len) ||
            memchr(h->base + hd->value_off, '\n', hd->value_len)) {
            h->status = 400;
            h->err = "obsolete line folding in a header";
            return -1;
        }
    }
    h->nhdrs++;
    h->cur = 0;
    return 0;
}

/* What llhttp 8.1 lets through in a head and we must not pass on: control
 * bytes in a request target (and HTAB, RFC 3986) or a reason phrase (HTAB
 * allowed, RFC 9112 4), blanks inside a field name, and anything but
 * HTTP/1.x (0.9 request lines, the HTTP/2 preface). Returns a description,
 * or NULL when the head is clean. */
static const char *head_problem(const struct http1 *h)
{
    const unsigned char *t = (const unsigned char *)h->base + h->url_off;
    unsigned i;
    uint32_t k;

    if (h->p.http_major != 1)
        return "not an HTTP/1.x message";
    for (k = 0; k < h->url_len; k++) {
        if (t[k] == 0x7f || (t[k] < 0x20 && !(h->p.type == HTTP_RESPONSE && t[k] == '\t')))
            return h->p.type == HTTP_REQUEST ? "control byte in the request target"
                                             : "control byte in the reason phrase";
    }
    for (i = 0; i < h->nhdrs; i++) {
        const char *n = h->base + h->hdrs[i].name_off;

        if (memchr(n, ' ', h->hdrs[i].name_len) || memchr(n, '\t', h->hdrs[i].name_len))
            return "blank inside a header name";
    }
    return NULL;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http1 *h = H(p);
    const char *bad = head_problem(h);

    if (bad) {
        h->status = p->type == HTTP_REQUEST ? 400 : 502;
        h->err = bad;
        return -1;
    }

    /* Let the parser pass the head's end, then stop so the caller can act
     * on the head before any body byte moves. */
    if (h->skip_body || (p->type == HTTP_RESPONSE &&
                         (p->status_code == 204 || p->status_code == 304 ||
                          p->status_code / 100 == 1)))
        p->flags |= F_SKIPBODY;
    h->head_paused = 1;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct http1 *h = H(p);

    if (h->on_body)
        h->on_body(h->body_arg, at, n);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

static const llhttp_settings_t http1_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http1_init(struct http1 *h, llhttp_type_t type, size_t max_head)
{
    memset(h, 0, sizeof(*h));
    llhttp_init(&h->p, type, &http1_settings);
    h->p.data = h;
    h->max_head = max_head;
}

static enum http1_ev http1_error(struct http1 *h, int status, const char *err)
{
    h->state = H1_ERROR;
    if (!h->status) {
        h->status = status;
        h->err = err;
    }
    return H1_EV_ERROR;
}

static enum http1_ev http1_feed_inner(struct http1 *h, struct buf *b);

enum http1_ev http1_feed(struct http1 *h, struct buf *b)
{
    enum http1_ev ev = http1_feed_inner(h, b);

    /* the byte before the next feed, which may start after the caller
     * consumed everything before it */
    if (h->parsed && b->area)
        h->prev_byte = buf_data(b)[h->parsed - 1];
    return ev;
}

static enum http1_ev http1_feed_inner(struct http1 *h, struct buf *b)
{
    llhttp_errno_t e;
    const char *pos;

    if (h->state == H1_DONE || h->state == H1_ERROR)
        return h->state == H1_ERROR ? H1_EV_ERROR : H1_EV_NONE;
    if (!b->area || (b->len == h->parsed && h->state == H1_HEAD))
        return H1_EV_NONE;
    h->base = buf_data(b);
    h->feed = h->base + h->parsed;
    e = llhttp_execute(&h->p, h->base + h->parsed, b->len - h->parsed);
    switch (e) {
    case HPE_OK:
        h->parsed = b->len;
        if (h->state == H1_HEAD && h->parsed > h->max_head)
            return http1_error(h, 431, "request or response head too large");
        return H1_EV_NONE;
    case HPE_PAUSED:
    case HPE_PAUSED_UPGRADE:
        pos = llhttp_get_error_pos(&h->p);
        h->parsed = (size_t)(pos - h->base);
        if (h->head_paused) {
            h->head_paused = 0;
            if (h->parsed > h->max_head)
                return http1_error(h, 431, "request or response head too large");
            h->head_len = h->parsed;
            h->state = H1_BODY;
            return H1_EV_HEAD;
        }
        h->state = H1_DONE;
        return H1_EV_DONE;
    default:
        return http1_error(h, h->p.type == HTTP_REQUEST ? 400 : 502,
                           llhttp_get_error_reason(&h->p));
    }
}

void http1_resume(struct http1 *h)
{
    h->parsed -= h->head_len;
    h->head_len = 0;
    llhttp_resume(&h->p);
}

enum http1_ev http1_finish(struct http1 *h)
{
    llhttp_errno_t e;

    if (h->state == H1_DONE)
        return H1_EV_DONE;
    if (h->state == H1_ERROR)
        return H1_EV_ERROR;
    e = llhttp_finish(&h->p);
    if ((e == HPE_OK || e == HPE_PAUSED) && h->state == H1_BODY &&
        !llhttp_message_needs_eof(&h->p)) {
        /* llhttp_finish() is OK in states where a message merely ended
         * early; only a read-until-close body may end at EOF. */
        return http1_error(h, 502, "connection closed before the message ended");
    }
    if (e == HPE_OK || e == HPE_PAUSED) {
        if (h->state == H1_HEAD)
            return http1_error(h, 400, "connection closed inside a head");
        h->state = H1_DONE;
        return H1_EV_DONE;
    }
    return http1_error(h, 502, "connection closed before the message ended");
}

void http1_next(struct http1 *h)
{
    h->state = H1_HEAD;
    h->skip_body = 0;
    h->nhdrs = 0;
    h->url_len = 0;
    llhttp_resume(&h->p);
}

int http1_span_eq(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && strncasecmp(p, s, n) == 0;
}

int http1_find(const struct http1 *h, const char *base, const char *name)
{
    unsigned i;

    for (i = 0; i < h->nhdrs; i++)
        if (http1_span_eq(base + h->hdrs[i].name_off, h->hdrs[i].name_len, name))
            return (int)i;
    return -1;
}

int http1_keep_alive(const struct http1 *h)
{
    return llhttp_should_keep_alive(&h->p);
}
