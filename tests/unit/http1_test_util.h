/* http1_test_util.h — helpers shared by test_http1.c and
 * test_http1_body.c: a message stream fed to mitm/http1 through the
 * guard-page arena (arena.h), whole or in steps, recorded as it comes.
 * Test-only; static inline so a file may leave some unused. Include once
 * per test file; use arena_up/arena_down as the group setup and teardown
 * and free_all as each test's teardown.
 *
 * Every input is copied to the end of a page that a PROT_NONE page
 * follows, so a read past the data crashes (picohttpparser's habit). A
 * feed in steps copies the unconsumed bytes there again before each call,
 * so the data also moves between calls, as it does when a struct buf
 * compacts: offsets must stay right. */
#ifndef HUBGATE_HTTP1_TEST_UTIL_H
#define HUBGATE_HTTP1_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mitm/http/http1.h"

/* ---- guarded arena ------------------------------------------------------ */

#define ARENA_SIZE (512u * 1024u)

#include "arena.h"

/* ---- a message stream fed to the parser --------------------------------- */

struct rec {
    int method, status;
    char url[2048];
    char hdrs[65536];   /* "name: value\n" per header, in order */
    size_t hdrs_len;
    unsigned nhdrs;
    size_t head_len;
    char raw[65536];    /* body bytes as framed on the wire */
    size_t raw_len;
    char body[65536];   /* body bytes as on_body passed them */
    size_t body_len;
    int keep_alive;
    int err_status;
    const char *err;
};

struct stream {
    const char *in;
    size_t len;
    size_t pos;   /* bytes the caller consumed */
    size_t fed;   /* end of the bytes given to the parser */
    size_t step;  /* bytes added per feed; 0: all at once */
    const size_t *cuts; /* or: feed up to each of these offsets in turn */
    size_t ncuts, icut;
    struct buf b;
};

/* Test allocations, freed by the teardown even when an assertion fails
 * half-way (cmocka leaves the test with a longjmp). */
static void *allocs[64] __attribute__((unused));
static size_t nallocs __attribute__((unused));

static inline void *talloc(size_t n)
{
    void *p = calloc(1, n);

    assert_non_null(p);
    assert_true(nallocs < sizeof(allocs) / sizeof(allocs[0]));
    allocs[nallocs++] = p;
    return p;
}

static inline int free_all(void **state)
{
    (void)state;
    while (nallocs)
        free(allocs[--nallocs]);
    return 0;
}

static inline struct rec *rec_new(void)
{
    return talloc(sizeof(struct rec));
}

static inline void stream_init(struct stream *s, const char *in, size_t len, size_t step)
{
    memset(s, 0, sizeof(*s));
    s->in = in;
    s->len = len;
    s->step = step;
}

/* The unconsumed bytes, ending at the guard page. */
static inline void place(struct stream *s)
{
    size_t n = s->fed - s->pos;
    char *a = arena_end - n;

    assert_true(n <= ARENA_SIZE);
    memcpy(a, s->in + s->pos, n);
    s->b.area = a;
    s->b.size = n;
    s->b.off = 0;
    s->b.len = n;
}

static inline void on_body_rec(void *arg, const char *p, size_t n)
{
    struct rec *r = arg;

    assert_true(r->body_len + n <= sizeof(r->body));
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
}

static inline void record_head(const struct http1 *h, const char *base, struct rec *r)
{
    unsigned i;

    r->method = http1_method(h);
    r->status = http1_status(h);
    assert_true(h->url_len < sizeof(r->url));
    memcpy(r->url, base + h->url_off, h->url_len);
    r->url[h->url_len] = '\0';
    r->nhdrs = h->nhdrs;
    r->hdrs_len = 0;
    for (i = 0; i < h->nhdrs; i++) {
        const struct http1_hdr *hd = &h->hdrs[i];
        int n = snprintf(r->hdrs + r->hdrs_len, sizeof(r->hdrs) - r->hdrs_len, "%.*s: %.*s\n",
                         (int)hd->name_len, base + hd->name_off,
                         (int)hd->value_len, base + hd->value_off);

        assert_true(n > 0 && (size_t)n < sizeof(r->hdrs) - r->hdrs_len);
        r->hdrs_len += (size_t)n;
    }
    r->head_len = h->head_len;
}

/* Runs one message through h, as a proxy would: on a head, records it,
 * consumes it and resumes; body bytes the parser checked are consumed as
 * they come. With eof set, calls http1_finish() once the input is used
 * up. Returns H1_EV_DONE, H1_EV_ERROR, or H1_EV_NONE when the input ran
 * out first. */
static inline enum http1_ev drive(struct http1 *h, struct stream *s, struct rec *r, int eof)
{
    h->on_body = on_body_rec;
    h->body_arg = r;
    if (s->fed < s->pos)
        s->fed = s->pos;
    for (;;) {
        enum http1_ev ev;

        place(s);
        ev = http1_feed(h, &s->b);
        if (ev == H1_EV_HEAD) {
            assert_int_equal(h->parsed, h->head_len);
            record_head(h, buf_data(&s->b), r);
            s->pos += h->head_len;
            http1_resume(h);
            continue;
        }
        if (ev == H1_EV_ERROR) {
            r->err_status = h->status;
            r->err = h->err;
            return ev;
        }
        if ((h->state == H1_BODY || h->state == H1_DONE) && h->parsed) {
            size_t n = h->parsed;

            assert_true(n <= s->fed - s->pos);
            assert_true(r->raw_len + n <= sizeof(r->raw));
            memcpy(r->raw + r->raw_len, s->in + s->pos, n);
            r->raw_len += n;
            s->pos += n;
            http1_consumed(h, n);
        }
        if (ev == H1_EV_DONE) {
            r->keep_alive = http1_keep_alive(h);
            return ev;
        }
        if (s->fed == s->len) {
            if (!eof)
                return H1_EV_NONE;
            ev = http1_finish(h);
            if (ev == H1_EV_ERROR) {
                r->err_status = h->status;
                r->err = h->err;
            }
            return ev;
        }
        if (s->icut < s->ncuts)
            s->fed = s->cuts[s->icut++];
        else
            s->fed = s->step && s->len - s->fed > s->step ? s->fed + s->step : s->len;
    }
}

/* One message of type from in, fed step bytes at a time. */
static inline enum http1_ev parse1(llhttp_type_t type, const char *in, size_t len, size_t step,
                                   size_t max_head, int eof, struct rec *r)
{
    struct http1 h;
    struct stream s;

    http1_init(&h, type, max_head);
    stream_init(&s, in, len, step);
    return drive(&h, &s, r, eof);
}

static inline void assert_rec_equal(const struct rec *a, const struct rec *b)
{
    assert_int_equal(a->method, b->method);
    assert_int_equal(a->status, b->status);
    assert_string_equal(a->url, b->url);
    assert_int_equal(a->nhdrs, b->nhdrs);
    assert_int_equal(a->hdrs_len, b->hdrs_len);
    assert_memory_equal(a->hdrs, b->hdrs, a->hdrs_len);
    assert_int_equal(a->head_len, b->head_len);
    assert_int_equal(a->raw_len, b->raw_len);
    assert_memory_equal(a->raw, b->raw, a->raw_len);
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
    assert_int_equal(a->keep_alive, b->keep_alive);
}

/* Parses in whole and in steps of 1, 2, 3, 7 and 64 bytes; all must agree
 * and end with want. Returns the whole-feed record. */
static inline struct rec *parse_all_ways(llhttp_type_t type, const char *in, size_t len,
                                         int eof, enum http1_ev want)
{
    static const size_t steps[] = { 1, 2, 3, 7, 64 };
    struct rec *whole = rec_new();
    size_t i;

    assert_int_equal(parse1(type, in, len, 0, 65536, eof, whole), want);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct rec *r = rec_new();

        if (parse1(type, in, len, steps[i], 65536, eof, r) != want)
            fail_msg("step %zu: not the event of a whole feed", steps[i]);
        assert_rec_equal(whole, r);
    }
    return whole;
}

#define S(lit) lit, sizeof(lit) - 1

/* ---- shared inputs and checks ------------------------------------------- */

/* A request with n header fields (Host first). */
static inline char *many_headers(unsigned n, size_t *len)
{
    size_t cap = 64 + (size_t)n * 32, o;
    char *p = talloc(cap);
    unsigned i;

    o = (size_t)snprintf(p, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (i = 1; i < n; i++)
        o += (size_t)snprintf(p + o, cap - o, "X-H%u: v%u\r\n", i, i);
    o += (size_t)snprintf(p + o, cap - o, "\r\n");
    *len = o;
    return p;
}

static inline void expect_error(llhttp_type_t type, const char *in, size_t len, int status)
{
    size_t step;

    for (step = 0; step <= 2; step++) {
        struct rec *r = rec_new();

        if (parse1(type, in, len, step, 65536, 1, r) != H1_EV_ERROR)
            fail_msg("step %zu: accepted: %s", step, in);
        if (r->err_status != status)
            fail_msg("step %zu: status %d, want %d (%s): %s", step, r->err_status, status,
                     r->err ? r->err : "-", in);
        assert_non_null(r->err);
    }
}

#endif
