/* test_segments.c — mitm/segments: the probe and its verdicts, in-order
 * and out-of-order arrival, the window's back-pressure, a middle segment
 * failing and resuming, a stalled segment reassigned with its late bytes
 * ignored, the single-connection fallbacks (and the collapse onto the
 * first connection), the global budget shared by two
 * transfers, a seeded random run over ~64 MiB checked byte for byte, and
 * sink mode (bytes counted, not kept; the window from the received
 * point). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mitm/segments.h"

#define MIB ((uint64_t)1048576)

/* The byte at offset o of the test blob: no short period, so a byte put
 * at the wrong offset shows. */
static unsigned char pat(uint64_t o)
{
    uint64_t x = o * 0x9e3779b97f4a7c15ULL;

    return (unsigned char)((x >> 29) ^ (o >> 17));
}

/* Feeds len bytes of the pattern from off to ticket, in pieces of at most
 * step bytes; returns the last seg_recv() result. */
static int feed(struct seg *s, uint32_t ticket, uint64_t off, uint64_t len, size_t step)
{
    static unsigned char b[65536];
    int rc = SEG_R_MORE;

    while (len > 0) {
        size_t n = len < step ? (size_t)len : step, i;

        if (n > sizeof(b))
            n = sizeof(b);
        for (i = 0; i < n; i++)
            b[i] = pat(off + i);
        rc = seg_recv(s, ticket, b, n);
        assert_true(rc >= 0);
        off += n;
        len -= n;
    }
    return rc;
}

/* Consumes up to max bytes (all available when max is 0), checking each
 * against the pattern; returns how many. */
static uint64_t drain(struct seg *s, uint64_t max)
{
    uint64_t done = 0;

    for (;;) {
        const char *p;
        size_t n = seg_peek(s, &p), i;
        uint64_t pos = seg_position(s);

        if (n == 0)
            break;
        if (max != 0 && done + n > max)
            n = (size_t)(max - done);
        if (n == 0)
            break;
        for (i = 0; i < n; i++)
            if ((unsigned char)p[i] != pat(pos + i))
                fail_msg("byte %llu is %u, want %u", (unsigned long long)(pos + i),
                         (unsigned char)p[i], pat(pos + i));
        seg_consume(s, n);
        done += n;
    }
    return done;
}

static struct seg *mk(uint64_t length, size_t seg_size, unsigned conns, size_t window,
                      struct seg_budget *b)
{
    struct seg_params p = {.length = length, .min_len = 2 * MIB, .seg_size = seg_size,
                           .max_conns = conns, .window = window};
    struct seg *s = seg_new(&p, b);

    assert_non_null(s);
    return s;
}

/* Starts s: the probe [0, seg_size) answered 206 with total. */
static struct seg_task probe(struct seg *s, uint64_t total, int want_mode)
{
    struct seg_task t;

    assert_int_equal(seg_next(s, &t), 1);
    assert_int_equal(t.off, 0);
    assert_int_equal(seg_next(s, &(struct seg_task){0}), 0);   /* alone until proven */
    assert_int_equal(seg_prove(s, t.ticket, total, 1), want_mode);
    return t;
}

static void test_params(void **state)
{
    struct seg_params p = {.length = SEG_UNKNOWN, .min_len = MIB, .seg_size = MIB,
                           .max_conns = 0};

    (void)state;
    assert_null(seg_new(&p, NULL));
    p.max_conns = SEG_MAX_CONNS + 1;
    assert_null(seg_new(&p, NULL));
    p.max_conns = 4;
    p.seg_size = 0;
    assert_null(seg_new(&p, NULL));
    seg_free(NULL);
}

static void test_in_order(void **state)
{
    struct seg *s = mk(SEG_UNKNOWN, MIB, 4, 0, NULL);
    struct seg_task t0 = probe(s, 10 * MIB + 5, SEG_M_MULTI), t[3];
    int i;

    (void)state;
    assert_int_equal(t0.len, MIB);
    assert_int_equal(seg_length(s), 10 * MIB + 5);
    for (i = 0; i < 3; i++) {
        assert_int_equal(seg_next(s, &t[i]), 1);
        assert_int_equal(t[i].off, (uint64_t)(i + 1) * MIB);
        assert_int_equal(t[i].len, MIB);
    }
    assert_int_equal(seg_active(s), 4);
    assert_int_equal(seg_next(s, &(struct seg_task){0}), 0);  /* four connections busy */
    assert_int_equal(feed(s, t0.ticket, 0, MIB, 1000), SEG_R_DONE);
    assert_int_equal(drain(s, 0), MIB);
    for (i = 0; i < 3; i++) {
        assert_int_equal(feed(s, t[i].ticket, t[i].off, MIB, 4096), SEG_R_DONE);
        assert_int_equal(drain(s, 0), MIB);
    }
    /* The rest, one connection reused after another. */
    while (!seg_finished(s)) {
        struct seg_task u;

        assert_int_equal(seg_next(s, &u), 1);
        feed(s, u.ticket, u.off, u.len, 65536);
        drain(s, 0);
    }
    assert_int_equal(seg_position(s), 10 * MIB + 5);
    assert_int_equal(seg_stats(s)->done, 11);
    assert_int_equal(seg_memory(s), 0);
    assert_int_equal(seg_next(s, &(struct seg_task){0}), 0);
    seg_free(s);
}

static void test_out_of_order(void **state)
{
    struct seg *s = mk(SEG_UNKNOWN, MIB, 4, 0, NULL);
    struct seg_task t0 = probe(s, 4 * MIB, SEG_M_MULTI), t1, t2, t3;

    (void)state;
    assert_int_equal(seg_next(s, &t1), 1);
    assert_int_equal(seg_next(s, &t2), 1);
    assert_int_equal(seg_next(s, &t3), 1);
    /* The last segment, then the third, arrive first: nothing for the client. */
    assert_int_equal(feed(s, t3.ticket, t3.off, MIB, 7777), SEG_R_DONE);
    assert_int_equal(feed(s, t2.ticket, t2.off, MIB, 7777), SEG_R_DONE);
    assert_int_equal(seg_available(s), 0);
    assert_int_equal(drain(s, 0), 0);
    /* Half the first: half a MiB for the client. */
    assert_int_equal(feed(s, t0.ticket, 0, MIB / 2, 1000), SEG_R_MORE);
    assert_int_equal(seg_available(s), MIB / 2);
    assert_int_equal(drain(s, 0), MIB / 2);
    assert_int_equal(feed(s, t0.ticket, MIB / 2, MIB / 2, 1000), SEG_R_DONE);
    assert_int_equal(seg_available(s), MIB / 2);
    /* The second closes the gap: everything is contiguous. */
    assert_int_equal(feed(s, t1.ticket, t1.off, MIB, 100000), SEG_R_DONE);
    assert_int_equal(seg_available(s), 3 * MIB + MIB / 2);
    assert_int_equal(drain(s, 0), 3 * MIB + MIB / 2);
    assert_true(seg_finished(s));
    assert_int_equal(seg_memory(s), 0);
    seg_free(s);
}

/* An origin that ignored a range while no segment but the first had a
 * byte: the first connection takes the whole rest, the others die. */
static void test_collapse(void **state)
{
    struct seg_budget b = {.cap = 64 * MIB};
    struct seg *s = mk(6 * MIB, MIB, 4, 0, &b);
    struct seg_task t0 = probe(s, 6 * MIB, SEG_M_MULTI), t1, t2, t3;
    uint64_t got = MIB / 2;

    (void)state;
    assert_int_equal(seg_next(s, &t1), 1);
    assert_int_equal(seg_next(s, &t2), 1);
    assert_int_equal(seg_next(s, &t3), 1);
    assert_int_equal(feed(s, t0.ticket, 0, got, 4096), SEG_R_MORE);
    assert_int_equal(seg_collapse(s, t1.ticket), -EINVAL);    /* not the front piece */
    assert_int_equal(seg_collapse(s, t0.ticket), 0);
    assert_int_equal(seg_mode(s), SEG_M_SINGLE);
    assert_int_equal(seg_active(s), 1);
    assert_int_equal(seg_recv(s, t2.ticket, "x", 1), SEG_R_STALE);
    assert_int_equal(seg_next(s, &(struct seg_task){0}), 0);   /* one connection */
    while (got < 6 * MIB) {
        uint64_t room = seg_room(s, t0.ticket);

        assert_true(room > 0);
        if (room > MIB)
            room = MIB;
        feed(s, t0.ticket, got, room, 65536);
        got += room;
        drain(s, 0);
    }
    assert_true(seg_finished(s));
    assert_int_equal(seg_memory(s), 0);
    seg_free(s);
    assert_int_equal(b.used, 0);

    /* Another segment already holds a byte: nothing changes. */
    s = mk(6 * MIB, MIB, 4, 0, NULL);
    t0 = probe(s, 6 * MIB, SEG_M_MULTI);
    assert_int_equal(seg_next(s, &t1), 1);
    assert_int_equal(feed(s, t1.ticket, t1.off, 1, 1), SEG_R_MORE);
    assert_int_equal(seg_collapse(s, t0.ticket), -EBUSY);
    assert_int_equal(seg_mode(s), SEG_M_MULTI);
    assert_int_equal(seg_active(s), 2);
    seg_free(s);
}

static void test_window_backpressure(void **state)
{
    struct seg *s = mk(SEG_UNKNOWN, MIB, 4, 2 * MIB, NULL);
    struct seg_task t0 = probe(s, 8 * MIB, SEG_M_MULTI), t1, t2;

    (void)state;
    assert_int_equal(seg_next(s, &t1), 1);
    /* Two segments ahead of the client fill the window: no third although
     * two connections are free. */
    assert_int_equal(seg_next(s, &t2), 0);
    feed(s, t0.ticket, 0, MIB, 65536);
    feed(s, t1.ticket, MIB, MIB, 65536);
    assert_int_equal(seg_next(s, &t2), 0);
    assert_true(seg_memory(s) <= 2 * MIB + 2 * SEG_CHUNK);
    /* The client takes half a segment: still no room for a whole one. */
    assert_int_equal(drain(s, MIB / 2), MIB / 2);
    assert_int_equal(seg_next(s, &t2), 0);
    assert_int_equal(drain(s, MIB / 2), MIB / 2);
    assert_int_equal(seg_next(s, &t2), 1);
    assert_int_equal(t2.off, 2 * MIB);
    /* A connection must not be read past the window either. */
    assert_int_equal(seg_room(s, t2.ticket), MIB);
    seg_free(s);
}

static void test_fail_middle_resumes(void **state)
{
    struct seg *s = mk(SEG_UNKNOWN, MIB, 3, 0, NULL);
    struct seg_task t0 = probe(s, 3 * MIB, SEG_M_MULTI), t1, t2, r;

    (void)state;
    assert_int_equal(seg_next(s, &t1), 1);
    assert_int_equal(seg_next(s, &t2), 1);
    feed(s, t0.ticket, 0, MIB, 65536);
    feed(s, t2.ticket, 2 * MIB, MIB, 65536);
    assert_int_equal(feed(s, t1.ticket, MIB, 300001, 4096), SEG_R_MORE);
    assert_int_equal(seg_fail(s, t1.ticket), 0);
    assert_int_equal(seg_fail(s, t1.ticket), SEG_R_STALE);
    assert_int_equal(seg_stats(s)->requeued, 1);
    /* The rest of the middle segment, from its last byte, comes first. */
    assert_int_equal(seg_next(s, &r), 1);
    assert_int_not_equal(r.ticket, t1.ticket);
    assert_int_equal(r.off, MIB + 300001);
    assert_int_equal(r.len, MIB - 300001);
    assert_int_equal(seg_available(s), MIB + 300001);
    assert_int_equal(feed(s, r.ticket, r.off, r.len, 9999), SEG_R_DONE);
    assert_int_equal(drain(s, 0), 3 * MIB);
    assert_true(seg_finished(s));
    seg_free(s);
}

static void test_stall_ignores_late_bytes(void **state)
{
    struct seg *s = mk(SEG_UNKNOWN, MIB, 2, 0, NULL);
    struct seg_task t0 = probe(s, 2 * MIB, SEG_M_MULTI), t1, r;
    unsigned char junk[5000];

    (void)state;
    memset(junk, 0xee, sizeof(junk));
    assert_int_equal(seg_next(s, &t1), 1);
    feed(s, t1.ticket, MIB, 12345, 4096);
    assert_int_equal(seg_stall(s, t1.ticket), 0);
    assert_int_equal(seg_stats(s)->stalls, 1);
    assert_int_equal(seg_room(s, t1.ticket), 0);
    assert_int_equal(seg_next(s, &r), 1);
    assert_int_equal(r.off, MIB + 12345);
    /* The stalled connection wakes up: its bytes (wrong ones here) are
     * ignored and counted. */
    assert_int_equal(seg_recv(s, t1.ticket, junk, sizeof(junk)), SEG_R_STALE);
    assert_int_equal(seg_stats(s)->stale_bytes, sizeof(junk));
    feed(s, r.ticket, r.off, r.len, 65536);
    assert_int_equal(seg_recv(s, t1.ticket, junk, sizeof(junk)), SEG_R_STALE);
    feed(s, t0.ticket, 0, MIB, 65536);
    assert_int_equal(drain(s, 0), 2 * MIB);
    assert_true(seg_finished(s));
    seg_free(s);
}

static void test_overrun_refused(void **state)
{
    struct seg *s = mk(SEG_UNKNOWN, MIB, 2, 0, NULL);
    struct seg_task t0 = probe(s, 2 * MIB, SEG_M_MULTI);
    static char big[MIB + 1];

    (void)state;
    assert_int_equal(seg_recv(s, t0.ticket, big, sizeof(big)), -EMSGSIZE);
    assert_int_equal(seg_available(s), 0);
    seg_free(s);
}

static void test_single_on_200(void **state)
{
    struct seg *s = mk(SEG_UNKNOWN, MIB, 4, 2 * MIB, NULL);
    struct seg_task t;

    (void)state;
    assert_int_equal(seg_next(s, &t), 1);
    /* The origin ignored the Range: the whole blob on this one connection. */
    assert_int_equal(seg_prove(s, t.ticket, 9 * MIB, 0), SEG_M_SINGLE);
    assert_int_equal(seg_next(s, &(struct seg_task){0}), 0);
    /* Its reading is held to the window. */
    assert_int_equal(seg_room(s, t.ticket), 2 * MIB);
    feed(s, t.ticket, 0, 2 * MIB, 65536);
    assert_int_equal(seg_room(s, t.ticket), 0);
    assert_true(seg_reserved(s) <= 2 * MIB);
    drain(s, MIB);
    assert_int_equal(seg_room(s, t.ticket), MIB);
    feed(s, t.ticket, 2 * MIB, MIB, 65536);
    while (!seg_finished(s)) {
        uint64_t room = seg_room(s, t.ticket);

        if (room > 0)
            feed(s, t.ticket, seg_position(s) + seg_available(s), room, 65536);
        drain(s, 0);
    }
    assert_int_equal(seg_stats(s)->tasks, 1);
    assert_int_equal(seg_stats(s)->done, 1);
    seg_free(s);
}

static void test_single_small_blob(void **state)
{
    struct seg *s = mk(SEG_UNKNOWN, MIB, 4, 0, NULL);
    struct seg_task t0 = probe(s, MIB + MIB / 2 + 7, SEG_M_SINGLE), u;

    (void)state;
    /* Ranges work but the blob is under min_len: one range after another
     * on one connection. */
    assert_int_equal(seg_next(s, &u), 0);
    feed(s, t0.ticket, 0, MIB, 65536);
    assert_int_equal(seg_next(s, &u), 1);
    assert_int_equal(u.off, MIB);
    assert_int_equal(u.len, MIB / 2 + 7);
    assert_int_equal(seg_next(s, &(struct seg_task){0}), 0);
    feed(s, u.ticket, u.off, u.len, 65536);
    assert_int_equal(seg_next(s, &u), 0);
    assert_int_equal(drain(s, 0), MIB + MIB / 2 + 7);
    assert_true(seg_finished(s));
    seg_free(s);

    /* An empty blob, answered 200: done at once. */
    s = mk(SEG_UNKNOWN, MIB, 4, 0, NULL);
    assert_int_equal(seg_next(s, &t0), 1);
    assert_int_equal(seg_prove(s, t0.ticket, 0, 0), SEG_M_SINGLE);
    assert_int_equal(seg_active(s), 0);
    assert_true(seg_finished(s));
    assert_int_equal(seg_next(s, &u), 0);
    assert_int_equal(seg_recv(s, t0.ticket, "", 0), SEG_R_STALE);
    seg_free(s);

    /* Smaller than one segment: the probe's 206 is the whole blob. */
    s = mk(SEG_UNKNOWN, MIB, 4, 0, NULL);
    t0 = probe(s, 1000, SEG_M_SINGLE);
    assert_int_equal(seg_room(s, t0.ticket), 1000);
    assert_int_equal(feed(s, t0.ticket, 0, 1000, 300), SEG_R_DONE);
    assert_int_equal(drain(s, 0), 1000);
    assert_true(seg_finished(s));
    seg_free(s);
}

static void test_bad_answers(void **state)
{
    struct seg *s = mk(SEG_UNKNOWN, MIB, 4, 0, NULL);
    struct seg_task t, u;

    (void)state;
    assert_int_equal(seg_next(s, &t), 1);
    assert_int_equal(seg_prove(s, t.ticket + 1, 8 * MIB, 1), -EINVAL);
    /* Part of the probe came, then the connection broke; the retry got a
     * 200, which would start at byte 0 again. */
    feed(s, t.ticket, 0, 1000, 1000);
    assert_int_equal(seg_fail(s, t.ticket), 0);
    assert_int_equal(seg_next(s, &u), 1);
    assert_int_equal(u.off, 1000);
    assert_int_equal(seg_prove(s, u.ticket, 8 * MIB, 0), -EPROTO);
    /* Then the caller gives up on ranges: the probe again, without Range. */
    assert_int_equal(seg_fail(s, u.ticket), 0);
    seg_single(s);
    assert_int_equal(seg_next(s, &u), 1);
    assert_int_equal(u.off, 1000);
    seg_free(s);

    /* seg_single() before anything arrived: a plain GET. */
    s = mk(SEG_UNKNOWN, MIB, 4, 0, NULL);
    assert_int_equal(seg_next(s, &t), 1);
    assert_int_equal(seg_fail(s, t.ticket), 0);
    seg_single(s);
    assert_int_equal(seg_next(s, &t), 1);
    assert_int_equal(t.off, 0);
    assert_int_equal(t.len, SEG_UNKNOWN);
    assert_int_equal(seg_prove(s, t.ticket, 5 * MIB, 1), -EPROTO);   /* 206 to no Range */
    assert_int_equal(seg_prove(s, t.ticket, 5 * MIB, 0), SEG_M_SINGLE);
    seg_free(s);

    /* A length known beforehand that the origin contradicts. */
    s = mk(6 * MIB, MIB, 4, 0, NULL);
    assert_int_equal(seg_next(s, &t), 1);
    assert_int_equal(seg_prove(s, t.ticket, 7 * MIB, 1), -EPROTO);
    seg_free(s);

    /* One connection configured: the probe is the plain GET. */
    s = mk(SEG_UNKNOWN, MIB, 1, 0, NULL);
    assert_int_equal(seg_next(s, &t), 1);
    assert_int_equal(t.len, SEG_UNKNOWN);
    assert_int_equal(seg_prove(s, t.ticket, 64 * MIB, 0), SEG_M_SINGLE);
    seg_free(s);
}

static void test_multi_then_single(void **state)
{
    struct seg *s = mk(SEG_UNKNOWN, MIB, 4, 0, NULL);
    struct seg_task t0 = probe(s, 6 * MIB, SEG_M_MULTI), t1, t2;

    (void)state;
    assert_int_equal(seg_next(s, &t1), 1);
    /* A later range came back wrong: one connection from now on. */
    assert_int_equal(seg_fail(s, t1.ticket), 0);
    seg_single(s);
    assert_int_equal(seg_mode(s), SEG_M_SINGLE);
    assert_int_equal(seg_next(s, &t2), 0);         /* the probe is still out */
    feed(s, t0.ticket, 0, MIB, 65536);
    assert_int_equal(seg_next(s, &t2), 1);
    assert_int_equal(t2.off, MIB);
    seg_free(s);
}

static void test_global_budget(void **state)
{
    struct seg_budget b = {.cap = 3 * MIB};
    struct seg *a = mk(SEG_UNKNOWN, MIB, 4, 0, &b), *c = mk(SEG_UNKNOWN, MIB, 4, 0, &b);
    struct seg_task ta0 = probe(a, 8 * MIB, SEG_M_MULTI), ta1, ta2, tc0, tc1;

    (void)state;
    assert_int_equal(seg_next(a, &ta1), 1);
    assert_int_equal(seg_next(a, &ta2), 1);
    assert_int_equal(b.used, 3 * MIB);
    assert_int_equal(seg_next(a, &(struct seg_task){0}), 0);   /* the cap, not conns */
    /* The second transfer still gets its first segment: progress for all. */
    tc0 = probe(c, 8 * MIB, SEG_M_MULTI);
    assert_int_equal(b.used, 4 * MIB);
    assert_int_equal(seg_next(c, &tc1), 0);
    /* a's client drains its first segment: room for one more, taken by
     * whoever asks first. */
    feed(a, ta0.ticket, 0, MIB, 65536);
    assert_int_equal(drain(a, 0), MIB);
    assert_int_equal(b.used, 3 * MIB);
    assert_int_equal(seg_next(c, &tc1), 0);
    feed(c, tc0.ticket, 0, MIB, 65536);
    assert_int_equal(drain(c, MIB / 2), MIB / 2);
    assert_int_equal(b.used, 3 * MIB - MIB / 2);
    feed(a, ta1.ticket, MIB, MIB, 65536);
    assert_int_equal(drain(a, 0), MIB);
    assert_int_equal(seg_next(c, &tc1), 1);
    assert_int_equal(tc1.off, MIB);
    seg_free(a);
    assert_int_equal(b.used, seg_reserved(c));
    seg_free(c);
    assert_int_equal(b.used, 0);
}

/* ~64 MiB, odd segment size, 5 connections: bytes arrive in random pieces
 * on random tasks, some tasks fail or stall (their connection keeps
 * sending stale bytes a while), the client reads at random; every byte is
 * checked, memory stays within the window. */
static void test_random_reassembly(void **state)
{
    const uint64_t total = 64 * MIB + 12345;
    struct seg_budget b = {.cap = 64 * MIB};
    struct seg *s = mk(SEG_UNKNOWN, MIB + 333, 5, 6 * MIB, &b);
    struct seg_task live[SEG_MAX_CONNS];
    uint32_t dead[8] = {0};
    unsigned nlive = 0, rounds = 0, i;
    unsigned seed = 20261202;
    static unsigned char junk[4096];

    (void)state;
    srand(seed);
    memset(junk, 0xa5, sizeof(junk));
    assert_int_equal(seg_next(s, &live[0]), 1);
    assert_int_equal(seg_prove(s, live[0].ticket, total, 1), SEG_M_MULTI);
    nlive = 1;
    while (!seg_finished(s)) {
        assert_true(++rounds < 2000000);
        while (nlive < SEG_MAX_CONNS && seg_next(s, &live[nlive]) == 1)
            nlive++;
        assert_true(seg_active(s) == nlive);
        assert_true(nlive <= 5);
        assert_true(seg_memory(s) <= seg_reserved(s) + 8 * SEG_CHUNK);
        assert_true(seg_reserved(s) <= 6 * MIB + MIB);
        if (nlive > 0) {
            unsigned k = (unsigned)rand() % nlive;
            struct seg_task *t = &live[k];
            uint64_t room = seg_room(s, t->ticket);
            size_t n = 1 + (size_t)rand() % 50000;
            int r = rand() % 1000;

            if (r < 3) {                        /* connection lost */
                assert_int_equal(seg_fail(s, t->ticket), 0);
                dead[rand() % 8] = t->ticket;
                live[k] = live[--nlive];
            } else if (r < 5) {                 /* stalled, reassigned */
                assert_int_equal(seg_stall(s, t->ticket), 0);
                dead[rand() % 8] = t->ticket;
                live[k] = live[--nlive];
            } else if (room > 0) {
                if (n > room)
                    n = (size_t)room;
                if (feed(s, t->ticket, t->off, n, n) == SEG_R_DONE)
                    live[k] = live[--nlive];
                else {
                    t->off += n;
                    t->len -= n;
                }
            }
        }
        /* A dead connection still sending. */
        i = (unsigned)rand() % 8;
        if (dead[i] != 0)
            assert_int_equal(seg_recv(s, dead[i], junk, 1 + (size_t)rand() % sizeof(junk)),
                             SEG_R_STALE);
        if (rand() % 3 == 0)
            drain(s, 1 + (uint64_t)(rand() % 400000));
    }
    assert_int_equal(seg_position(s), total);
    assert_int_equal(nlive, 0);
    assert_int_equal(seg_memory(s), 0);
    assert_true(seg_stats(s)->done >= 58);
    print_message("random: %u tasks, %u done, %u failed, %u stalled, %llu stale bytes\n",
                  seg_stats(s)->tasks, seg_stats(s)->done, seg_stats(s)->requeued,
                  seg_stats(s)->stalls, (unsigned long long)seg_stats(s)->stale_bytes);
    seg_free(s);
    assert_int_equal(b.used, 0);
}

/* A transfer in sink mode (the caller stores the bytes) over budget b. */
static struct seg *mk_sink(size_t seg_size, unsigned conns, size_t window, struct seg_budget *b)
{
    struct seg_params p = {.length = SEG_UNKNOWN, .min_len = 2 * MIB, .seg_size = seg_size,
                           .max_conns = conns, .window = window, .sink = 1};
    struct seg *s = seg_new(&p, b);

    assert_non_null(s);
    return s;
}

/* Sink mode: bytes are counted, not kept; the position is the received
 * point without a gap, so the window runs from there whatever a client
 * does; seg_recv_at() says where each ticket's next byte goes; nothing is
 * charged to the budget; finished once every byte arrived. */
static void test_sink_window_from_received(void **state)
{
    struct seg_budget b = {.cap = MIB};
    struct seg *s = mk_sink(MIB, 4, 2 * MIB, &b);
    struct seg_task t0 = probe(s, 6 * MIB, SEG_M_MULTI), t1, t2, t3;
    const char *p;

    (void)state;
    assert_int_equal(b.used, 0);
    assert_int_equal(seg_next(s, &t1), 1);
    assert_int_equal(t1.off, MIB);
    /* the window (2 MiB), not the budget (1 MiB, full of nothing) */
    assert_int_equal(seg_next(s, &t2), 0);
    assert_int_equal(seg_recv_at(s, t1.ticket), MIB);
    assert_int_equal(feed(s, t1.ticket, MIB, MIB, 65536), SEG_R_DONE);
    assert_int_equal(seg_recv_at(s, t1.ticket), SEG_UNKNOWN);   /* done: dead */
    assert_int_equal(seg_position(s), 0);   /* the first segment is missing */
    assert_int_equal(seg_next(s, &t2), 0);
    assert_int_equal(feed(s, t0.ticket, 0, 300000, 65536), SEG_R_MORE);
    assert_int_equal(seg_recv_at(s, t0.ticket), 300000);
    assert_int_equal(seg_position(s), 300000);
    assert_int_equal(seg_next(s, &t2), 0);  /* 300000 + 2 MiB < 3 MiB */
    assert_int_equal(feed(s, t0.ticket, 300000, MIB - 300000, 65536), SEG_R_DONE);
    /* the first segment joins the second: the window moves past both,
     * though no client consumed a byte */
    assert_int_equal(seg_position(s), 2 * MIB);
    assert_int_equal(seg_next(s, &t2), 1);
    assert_int_equal(t2.off, 2 * MIB);
    assert_int_equal(seg_next(s, &t3), 1);
    assert_int_equal(t3.off, 3 * MIB);
    assert_int_equal(seg_next(s, &(struct seg_task){0}), 0);
    assert_int_equal(seg_peek(s, &p), 0);
    assert_int_equal(seg_available(s), 0);
    assert_int_equal(seg_memory(s), 0);
    assert_int_equal(seg_reserved(s), 0);
    assert_int_equal(b.used, 0);
    feed(s, t3.ticket, 3 * MIB, MIB, 65536);
    feed(s, t2.ticket, 2 * MIB, MIB, 65536);
    assert_int_equal(seg_position(s), 4 * MIB);
    assert_int_equal(seg_next(s, &t2), 1);
    assert_int_equal(seg_next(s, &t3), 1);
    feed(s, t3.ticket, t3.off, t3.len, 65536);
    assert_false(seg_finished(s));
    feed(s, t2.ticket, t2.off, t2.len, 65536);
    assert_true(seg_finished(s));
    assert_int_equal(seg_stats(s)->done, 6);
    seg_free(s);
    assert_int_equal(b.used, 0);
}

/* Sink mode: a segment that fails in the middle is fetched again from its
 * last byte received (the caller writes the same offsets on); a stalled
 * one's late bytes are refused before the caller stores them. */
static void test_sink_fail_and_stall(void **state)
{
    struct seg *s = mk_sink(MIB, 3, 0, NULL);
    struct seg_task t0 = probe(s, 3 * MIB, SEG_M_MULTI), t1, t2, r;
    unsigned char junk[100];

    (void)state;
    memset(junk, 0xee, sizeof(junk));
    assert_int_equal(seg_next(s, &t1), 1);
    assert_int_equal(seg_next(s, &t2), 1);
    feed(s, t1.ticket, MIB, 4000, 1000);
    assert_int_equal(seg_fail(s, t1.ticket), 0);
    assert_int_equal(seg_next(s, &r), 1);
    assert_int_equal(r.off, MIB + 4000);
    assert_int_equal(seg_recv_at(s, r.ticket), MIB + 4000);
    feed(s, t2.ticket, 2 * MIB, 10, 10);
    assert_int_equal(seg_stall(s, t2.ticket), 0);
    assert_int_equal(seg_recv_at(s, t2.ticket), SEG_UNKNOWN);
    assert_int_equal(seg_recv(s, t2.ticket, junk, sizeof(junk)), SEG_R_STALE);
    feed(s, r.ticket, r.off, r.len, 65536);
    feed(s, t0.ticket, 0, MIB, 65536);
    assert_int_equal(seg_position(s), 2 * MIB + 10);
    assert_int_equal(seg_next(s, &r), 1);
    assert_int_equal(r.off, 2 * MIB + 10);
    assert_int_equal(feed(s, r.ticket, r.off, r.len, 65536), SEG_R_DONE);
    assert_true(seg_finished(s));
    seg_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_collapse),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_window_backpressure),
        cmocka_unit_test(test_fail_middle_resumes),
        cmocka_unit_test(test_stall_ignores_late_bytes),
        cmocka_unit_test(test_overrun_refused),
        cmocka_unit_test(test_single_on_200),
        cmocka_unit_test(test_single_small_blob),
        cmocka_unit_test(test_bad_answers),
        cmocka_unit_test(test_multi_then_single),
        cmocka_unit_test(test_global_budget),
        cmocka_unit_test(test_random_reassembly),
        cmocka_unit_test(test_sink_window_from_received),
        cmocka_unit_test(test_sink_fail_and_stall),
    };

    return cmocka_run_group_tests_name("segments", tests, NULL, NULL);
}
