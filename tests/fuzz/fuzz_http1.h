/* fuzz_http1.h — drives mitm/http1 over fuzz input as the proxy does:
 * bytes arrive in pieces, a head is checked, handed to the caller (who
 * rewrites it with mitm/http/hdr.c), consumed, and the parser resumed; body
 * bytes the parser has checked are consumed as they come; a finished
 * keep-alive message is followed by the next one (pipelining).
 *
 * Before every feed the unconsumed bytes are copied into a fresh heap
 * block of exactly their size, so the data moves between calls (as when
 * a struct buf compacts: offsets must stay right) and a read past its
 * end is an ASan report. Included by fuzz_http1_request.c and
 * fuzz_http1_response.c only. */
#ifndef HUBGATE_FUZZ_HTTP1_H
#define HUBGATE_FUZZ_HTTP1_H

#include "tests/fuzz/fuzz_common.h"

#include "mitm/http/hdr.h"
#include "mitm/http/http1.h"
#include "base/buf.h"

#define FUZZ_MAX_MSGS 16

struct fuzz_feed {
    const char *in;
    size_t len;
    size_t pos;         /* bytes consumed (head and body) */
    size_t fed;         /* end of the bytes handed to the parser so far */
    size_t cuts[2];     /* feed up to these offsets first, in order */
    size_t ncuts, icut;
    size_t step;        /* then this many bytes a feed; 0: the rest at once */
    struct buf b;
    char *blk;
};

/* Called on each complete head, with base = its first byte. */
typedef void (*fuzz_head_fn)(void *arg, const struct http1 *h, const char *base);

/* Sets up the feeding of in[0..len): mode 0 all at once, 1 two pieces,
 * 2 three pieces, 3 seven bytes at a time; k1, k2 place the cuts. */
static inline void fuzz_feed_init(struct fuzz_feed *f, const char *in, size_t len,
                                  unsigned mode, unsigned k1, unsigned k2)
{
    memset(f, 0, sizeof(*f));
    f->in = in;
    f->len = len;
    if (mode >= 1) {
        f->cuts[0] = len * (k1 % 8) / 8;
        f->ncuts = 1;
    }
    if (mode == 2) {
        f->cuts[1] = f->cuts[0] + (len - f->cuts[0]) * (1 + k2 % 4) / 5;
        f->ncuts = 2;
    }
    if (mode == 3)
        f->step = 7;
}

static inline void fuzz_feed_place(struct fuzz_feed *f)
{
    size_t n = f->fed - f->pos;

    free(f->blk);
    f->blk = fuzz_dup(f->in + f->pos, n);
    f->b.area = f->blk;
    f->b.size = n;
    f->b.off = 0;
    f->b.len = n;
}

static inline void fuzz_feed_free(struct fuzz_feed *f)
{
    free(f->blk);
    f->blk = NULL;
}

/* What every head must satisfy, whatever the bytes: spans inside the head,
 * no line break or NUL inside a name, value or target, limits kept. */
static inline void fuzz_check_head(const struct http1 *h, const char *base, size_t avail)
{
    unsigned i;

    FUZZ_CHECK(h->head_len == h->parsed);
    FUZZ_CHECK(h->head_len <= avail);
    FUZZ_CHECK(h->head_len <= h->max_head);
    FUZZ_CHECK(h->nhdrs <= HTTP1_MAX_HDRS);
    FUZZ_CHECK((size_t)h->url_off + h->url_len <= h->head_len);
    FUZZ_CHECK(!memchr(base + h->url_off, '\r', h->url_len));
    FUZZ_CHECK(!memchr(base + h->url_off, '\n', h->url_len));
    /* RFC 9112 4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ).
     * llhttp 8.1 passes NUL and other controls in a reason, which
     * hdr_write_response() copies to the client, and HTAB and FF in a
     * request target (RFC 3986: none), which hdr_write_request() copies
     * to the origin. FUZZ_KNOWN=ctl_reason / ctl_target skip these checks
     * while those bugs are open. */
    if (!fuzz_known(h->p.type == HTTP_REQUEST ? "ctl_target" : "ctl_reason"))
        FUZZ_CHECK(!fuzz_has_ctls(base + h->url_off, h->url_len) &&
                   (h->p.type != HTTP_REQUEST || !memchr(base + h->url_off, '\t', h->url_len)));
    for (i = 0; i < h->nhdrs; i++) {
        const struct http1_hdr *hd = &h->hdrs[i];

        FUZZ_CHECK(hd->name_len > 0);
        FUZZ_CHECK((size_t)hd->name_off + hd->name_len <= h->head_len);
        FUZZ_CHECK((size_t)hd->value_off + hd->value_len <= h->head_len);
        FUZZ_CHECK(!fuzz_has_ctl(base + hd->name_off, hd->name_len));
        FUZZ_CHECK(!memchr(base + hd->name_off, ':', hd->name_len));
        /* RFC 9112 5.1: a field name is a token; llhttp 8.1 lets a SP
         * through inside one ("Foo Bar: x"), which must be refused like
         * a SP before the colon. FUZZ_KNOWN=sp_name skips this check, to
         * look for other bugs while that one is open. */
        if (!fuzz_known("sp_name"))
            FUZZ_CHECK(!memchr(base + hd->name_off, ' ', hd->name_len));
        FUZZ_CHECK(!fuzz_has_ctls(base + hd->value_off, hd->value_len));
    }
}

/* Runs the whole input through h; on_head sees each head. Returns the
 * number of complete messages. */
static inline int fuzz_http1_run(struct http1 *h, struct fuzz_feed *f, fuzz_head_fn on_head,
                                 void *arg)
{
    int msgs = 0, skip_body = h->skip_body;

    for (;;) {
        enum http1_ev ev;

        fuzz_feed_place(f);
        ev = http1_feed(h, &f->b);
        if (ev == H1_EV_HEAD) {
            fuzz_check_head(h, buf_data(&f->b), f->fed - f->pos);
            on_head(arg, h, buf_data(&f->b));
            f->pos += h->head_len;
            http1_resume(h);
            continue;
        }
        if (ev == H1_EV_ERROR) {
            FUZZ_CHECK(h->state == H1_ERROR);
            FUZZ_CHECK(h->status == 400 || h->status == 431 || h->status == 502);
            FUZZ_CHECK(h->err != NULL);
            /* an error is final */
            FUZZ_CHECK(http1_feed(h, &f->b) == H1_EV_ERROR);
            break;
        }
        if ((h->state == H1_BODY || h->state == H1_DONE) && h->parsed) {
            size_t n = h->parsed;

            FUZZ_CHECK(n <= f->fed - f->pos);
            f->pos += n;
            http1_consumed(h, n);
        }
        if (ev == H1_EV_DONE) {
            FUZZ_CHECK(h->state == H1_DONE);
            msgs++;
            /* after CONNECT or an upgrade, the bytes belong to a tunnel */
            if (h->p.upgrade || !http1_keep_alive(h) || msgs == FUZZ_MAX_MSGS)
                break;
            http1_next(h);
            h->skip_body = skip_body;   /* as mitm.c sets it for each answer */
            continue;
        }
        FUZZ_CHECK(h->state == H1_HEAD || h->state == H1_BODY);
        if (f->fed == f->len) {
            if (h->state == H1_BODY || f->fed > f->pos) {
                ev = http1_finish(h);
                FUZZ_CHECK(ev == H1_EV_DONE || ev == H1_EV_ERROR);
                if (ev == H1_EV_DONE)
                    msgs++;
                else
                    FUZZ_CHECK(h->err != NULL && h->status != 0);
            }
            break;
        }
        {
            size_t next = f->len;

            while (f->icut < f->ncuts) {
                size_t c = f->cuts[f->icut++];

                if (c > f->fed) {
                    next = c;
                    break;
                }
            }
            if (next == f->len && f->step && f->len - f->fed > f->step)
                next = f->fed + f->step;
            f->fed = next;
        }
    }
    fuzz_feed_free(f);
    return msgs;
}

/* The framing llhttp derived from a head, compared between the head we
 * parsed and the head we wrote: they must agree, or the next hop would
 * see a different message boundary than we did (request smuggling). */
struct fuzz_framing {
    unsigned flags;
    uint64_t content_length;
};

static inline struct fuzz_framing fuzz_framing_of(const struct http1 *h)
{
    struct fuzz_framing fr;

    fr.flags = h->p.flags & (F_CHUNKED | F_CONTENT_LENGTH | F_TRANSFER_ENCODING);
    fr.content_length = (h->p.flags & F_CONTENT_LENGTH) ? h->p.content_length : 0;
    return fr;
}

/* Parses a head we wrote (out[0..n), which must be exactly one head) with
 * a fresh parser of type; fills *h2 and returns its base. The caller frees
 * the returned block. */
static inline char *fuzz_reparse(struct http1 *h2, llhttp_type_t type, int skip_body,
                                 const char *out, size_t n)
{
    struct buf b;
    char *blk = fuzz_dup(out, n);
    enum http1_ev ev;

    http1_init(h2, type, (size_t)1 << 21);
    h2->skip_body = skip_body;
    b.area = blk;
    b.size = b.len = n;
    b.off = 0;
    ev = http1_feed(h2, &b);
    if (ev != H1_EV_HEAD) {
        fprintf(stderr, "head we wrote does not parse back (%s): %.*s\n",
                h2->err ? h2->err : "incomplete", (int)(n > 2000 ? 2000 : n), out);
        FUZZ_CHECK(ev == H1_EV_HEAD);
    }
    FUZZ_CHECK(h2->head_len == n);
    fuzz_check_head(h2, blk, n);
    return blk;
}

/* No connection-specific field may leave hubgate. */
static inline void fuzz_check_no_hop(const struct http1 *h2, const char *base)
{
    static const char *const hop[] = {"connection", "proxy-connection", "keep-alive", "te",
                                      "upgrade", "proxy-authorization",
                                      "proxy-authenticate"};
    unsigned i, k;

    for (i = 0; i < h2->nhdrs; i++)
        for (k = 0; k < sizeof(hop) / sizeof(hop[0]); k++)
            FUZZ_CHECK(!http1_span_eq(base + h2->hdrs[i].name_off, h2->hdrs[i].name_len,
                                      hop[k]));
}

#endif
