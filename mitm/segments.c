/* segments.c — the segment scheduler and reassembly (segments.h).
 *
 * A transfer is a list of pieces in offset order that tile
 * [position, next_off): each piece is one segment, fetched by at most one
 * task at a time, its bytes [off, got) received. A piece leaves the list
 * when the client has consumed it; a new one is cut at next_off. */
#include "mitm/segments.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct seg_piece {
    uint64_t off, end;              /* end SEG_UNKNOWN: to the end, not known yet */
    uint64_t got;                   /* bytes [off, got) received */
    uint32_t ticket;                /* the task fetching it; 0: none */
    char **chunk;                   /* chunk[i] holds off + i * SEG_CHUNK on */
    size_t nchunk;                  /* entries of chunk (NULL once consumed) */
};

struct seg {
    struct seg_params p;
    struct seg_budget *budget;
    enum seg_mode mode;
    int no_ranges;                  /* seg_single(): ask the probe without Range */
    uint64_t length, next_off, pos;
    uint32_t last_ticket;
    unsigned active;
    struct seg_piece *piece;
    size_t npiece, cap;
    size_t charged;                 /* what this transfer counts in budget->used */
    size_t mem;
    struct seg_stats st;
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Bytes of g still owed to the client within the window: what g reserves. */
static uint64_t piece_span(const struct seg *s, const struct seg_piece *g)
{
    uint64_t from;
    uint64_t to;

    if (s->p.sink)
        return 0;                   /* the caller stores the bytes */
    from = g->off > s->pos ? g->off : s->pos;
    to = min_u64(g->end, s->pos + s->p.window);

    return to > from ? to - from : 0;
}

/* Brings the budget in line with what the pieces reserve now. */
static void recharge(struct seg *s)
{
    size_t r = seg_reserved(s);

    if (s->budget != NULL)
        s->budget->used = s->budget->used - s->charged + r;
    s->charged = r;
}

static void piece_release(struct seg *s, struct seg_piece *g)
{
    size_t i;

    for (i = 0; i < g->nchunk; i++) {
        if (g->chunk[i] != NULL) {
            free(g->chunk[i]);
            g->chunk[i] = NULL;
            s->mem -= SEG_CHUNK;
        }
    }
    free(g->chunk);
    g->chunk = NULL;
    g->nchunk = 0;
}

static struct seg_piece *find(const struct seg *s, uint32_t ticket)
{
    size_t i;

    if (ticket == 0)
        return NULL;
    for (i = 0; i < s->npiece; i++)
        if (s->piece[i].ticket == ticket)
            return &s->piece[i];
    return NULL;
}

struct seg *seg_new(const struct seg_params *p, struct seg_budget *budget)
{
    struct seg *s;

    if (p->seg_size == 0 || p->max_conns == 0 || p->max_conns > SEG_MAX_CONNS)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->p = *p;
    if (s->p.window == 0)
        s->p.window = p->seg_size * p->max_conns;
    if (s->p.window < p->seg_size)
        s->p.window = p->seg_size;
    s->budget = budget;
    s->length = p->length;
    return s;
}

void seg_free(struct seg *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->npiece; i++)
        piece_release(s, &s->piece[i]);
    free(s->piece);
    s->piece = NULL;
    s->npiece = 0;
    if (s->budget != NULL)
        s->budget->used -= s->charged;
    free(s);
}

static int assign(struct seg *s, struct seg_piece *g, struct seg_task *t)
{
    if (++s->last_ticket == 0)
        s->last_ticket = 1;         /* 0 means none */
    g->ticket = s->last_ticket;
    s->active++;
    s->st.tasks++;
    t->ticket = g->ticket;
    t->off = g->got;
    t->len = g->end == SEG_UNKNOWN ? SEG_UNKNOWN : g->end - g->got;
    return 1;
}

/* Appends a piece [off, end); NULL when out of memory. */
static struct seg_piece *cut(struct seg *s, uint64_t off, uint64_t end)
{
    struct seg_piece *g;

    if (s->npiece == s->cap) {
        size_t cap = s->cap != 0 ? s->cap * 2 : 4;
        struct seg_piece *v = realloc(s->piece, cap * sizeof(*v));

        if (v == NULL)
            return NULL;
        s->piece = v;
        s->cap = cap;
    }
    g = &s->piece[s->npiece++];
    memset(g, 0, sizeof(*g));
    g->off = g->got = off;
    g->end = end;
    s->next_off = end;
    return g;
}

static int next_probe(struct seg *s, struct seg_task *t)
{
    struct seg_piece *g;
    uint64_t end;

    if (s->npiece != 0) {
        g = &s->piece[0];
        /* The probe failed before its answer: ask again. */
        return g->ticket == 0 && g->got < g->end ? assign(s, g, t) : 0;
    }
    end = SEG_UNKNOWN;
    if (s->p.max_conns > 1 && !s->no_ranges)
        end = min_u64(s->p.seg_size, s->length);
    else if (s->length != SEG_UNKNOWN)
        end = s->length;
    if (end == 0)
        return 0;
    g = cut(s, 0, end);
    if (g == NULL)
        return 0;
    assign(s, g, t);
    recharge(s);
    return 1;
}

int seg_next(struct seg *s, struct seg_task *t)
{
    unsigned allowed = s->mode == SEG_M_MULTI ? s->p.max_conns : 1;
    uint64_t len;
    size_t i;

    if (s->mode == SEG_M_PROBE)
        return next_probe(s, t);
    if (s->active >= allowed)
        return 0;
    /* The earliest unfinished piece first: the client waits on it. */
    for (i = 0; i < s->npiece; i++) {
        struct seg_piece *g = &s->piece[i];

        if (g->ticket == 0 && g->got < g->end)
            return assign(s, g, t);
    }
    if (s->next_off >= s->length)
        return 0;
    len = min_u64(s->p.seg_size, s->length - s->next_off);
    if (s->next_off + len - s->pos > s->p.window)
        return 0;                   /* back-pressure: the client is behind */
    if (s->budget != NULL && !s->p.sink && s->npiece != 0 &&
        s->budget->used + len > s->budget->cap)
        return 0;
    if (cut(s, s->next_off, s->next_off + len) == NULL)
        return 0;
    assign(s, &s->piece[s->npiece - 1], t);
    recharge(s);
    return 1;
}

int seg_prove(struct seg *s, uint32_t ticket, uint64_t total, int ranged)
{
    struct seg_piece *g = find(s, ticket);

    if (s->mode != SEG_M_PROBE || g == NULL || g != &s->piece[0])
        return -EINVAL;
    if (s->length != SEG_UNKNOWN && total != s->length)
        return -EPROTO;
    if (ranged) {
        if (g->end == SEG_UNKNOWN)
            return -EPROTO;         /* a 206 to a GET without Range */
        if (g->end > total)
            g->end = total;         /* the blob is smaller than a segment */
        s->mode = total >= s->p.min_len && s->p.max_conns > 1 && !s->no_ranges
                      ? SEG_M_MULTI : SEG_M_SINGLE;
    } else {
        if (g->got != 0)
            return -EPROTO;         /* a 200 starts at byte 0 again */
        g->end = total;
        s->mode = SEG_M_SINGLE;
    }
    s->length = total;
    s->next_off = g->end;
    if (g->got >= g->end) {
        g->ticket = 0;              /* an empty blob: nothing left to fetch */
        s->active--;
        s->st.done++;
    }
    recharge(s);
    return (int)s->mode;
}

void seg_single(struct seg *s)
{
    s->no_ranges = 1;
    if (s->mode == SEG_M_MULTI)
        s->mode = SEG_M_SINGLE;
    /* A probe put back is asked again whole, without Range. */
    if (s->mode == SEG_M_PROBE && s->npiece == 1 && s->piece[0].ticket == 0 &&
        s->piece[0].got == 0) {
        s->piece[0].end = s->length;
        s->next_off = s->length;
        recharge(s);
    }
}

int seg_collapse(struct seg *s, uint32_t ticket)
{
    size_t i;

    if (s->npiece == 0 || ticket == 0 || s->piece[0].ticket != ticket ||
        s->length == SEG_UNKNOWN)
        return -EINVAL;
    for (i = 1; i < s->npiece; i++)
        if (s->piece[i].got != s->piece[i].off)
            return -EBUSY;
    for (i = 1; i < s->npiece; i++) {
        if (s->piece[i].ticket != 0)
            s->active--;
        piece_release(s, &s->piece[i]);
    }
    s->npiece = 1;
    s->piece[0].end = s->length;
    s->next_off = s->length;
    seg_single(s);
    recharge(s);
    return 0;
}

enum seg_mode seg_mode(const struct seg *s)
{
    return s->mode;
}

uint64_t seg_room(const struct seg *s, uint32_t ticket)
{
    const struct seg_piece *g = find(s, ticket);
    uint64_t to;

    if (g == NULL)
        return 0;
    to = min_u64(g->end, s->pos + s->p.window);
    return to > g->got ? to - g->got : 0;
}

/* Stores n bytes at g->got, allocating chunks as they are first touched. */
static int store(struct seg *s, struct seg_piece *g, const char *d, size_t n)
{
    while (n > 0) {
        uint64_t rel = g->got - g->off;
        size_t i = (size_t)(rel / SEG_CHUNK), at = (size_t)(rel % SEG_CHUNK);
        size_t k = SEG_CHUNK - at < n ? SEG_CHUNK - at : n;

        if (i >= g->nchunk) {
            size_t m = i + 1 > g->nchunk * 2 ? i + 1 : g->nchunk * 2;
            char **v = realloc(g->chunk, m * sizeof(*v));

            if (v == NULL)
                return -ENOMEM;
            memset(v + g->nchunk, 0, (m - g->nchunk) * sizeof(*v));
            g->chunk = v;
            g->nchunk = m;
        }
        if (g->chunk[i] == NULL) {
            g->chunk[i] = malloc(SEG_CHUNK);
            if (g->chunk[i] == NULL)
                return -ENOMEM;
            s->mem += SEG_CHUNK;
        }
        memcpy(g->chunk[i] + at, d, k);
        g->got += k;
        d += k;
        n -= k;
    }
    return 0;
}

/* Sink mode: the position follows the received bytes without a gap;
 * pieces received whole leave the list. */
static void sink_advance(struct seg *s)
{
    while (s->npiece > 0 && s->piece[0].off <= s->pos) {
        struct seg_piece *g = &s->piece[0];

        if (g->got > s->pos)
            s->pos = g->got;
        if (s->pos < g->end)
            break;
        piece_release(s, g);
        memmove(&s->piece[0], &s->piece[1], (s->npiece - 1) * sizeof(*g));
        s->npiece--;
    }
}

int seg_recv(struct seg *s, uint32_t ticket, const void *data, size_t n)
{
    struct seg_piece *g = find(s, ticket);
    int rc;

    if (g == NULL) {
        s->st.stale_bytes += n;
        return SEG_R_STALE;
    }
    if (n > seg_room(s, ticket))
        return -EMSGSIZE;
    if (s->p.sink) {
        g->got += n;
        rc = g->got < g->end ? SEG_R_MORE : SEG_R_DONE;
    } else {
        rc = store(s, g, data, n);
        if (rc != 0)
            return rc;
        rc = g->got < g->end ? SEG_R_MORE : SEG_R_DONE;
    }
    if (rc == SEG_R_DONE) {
        g->ticket = 0;
        s->active--;
        s->st.done++;
    }
    if (s->p.sink)
        sink_advance(s);
    return rc;
}

uint64_t seg_recv_at(const struct seg *s, uint32_t ticket)
{
    const struct seg_piece *g = find(s, ticket);

    return g != NULL ? g->got : SEG_UNKNOWN;
}

static int drop(struct seg *s, uint32_t ticket)
{
    struct seg_piece *g = find(s, ticket);

    if (g == NULL)
        return SEG_R_STALE;
    g->ticket = 0;
    s->active--;
    return 0;
}

int seg_fail(struct seg *s, uint32_t ticket)
{
    int rc = drop(s, ticket);

    if (rc == 0)
        s->st.requeued++;
    return rc;
}

int seg_stall(struct seg *s, uint32_t ticket)
{
    int rc = drop(s, ticket);

    if (rc == 0)
        s->st.stalls++;
    return rc;
}

size_t seg_peek(const struct seg *s, const char **p)
{
    const struct seg_piece *g;
    uint64_t rel;
    size_t at;

    *p = NULL;
    if (s->npiece == 0 || s->piece[0].got <= s->pos)
        return 0;
    g = &s->piece[0];
    rel = s->pos - g->off;
    at = (size_t)(rel % SEG_CHUNK);
    *p = g->chunk[rel / SEG_CHUNK] + at;
    return (size_t)min_u64(SEG_CHUNK - at, g->got - s->pos);
}

uint64_t seg_available(const struct seg *s)
{
    uint64_t pos = s->pos;
    size_t i;

    for (i = 0; i < s->npiece && s->piece[i].off <= pos; i++) {
        pos = s->piece[i].got;
        if (s->piece[i].got < s->piece[i].end)
            break;
    }
    return pos - s->pos;
}

/* Frees the chunks of the front piece below the client's position, and the
 * piece itself once it is all consumed. */
static void trim_front(struct seg *s)
{
    struct seg_piece *g = &s->piece[0];
    size_t i, below = (size_t)((s->pos - g->off) / SEG_CHUNK);

    for (i = 0; i < below && i < g->nchunk; i++) {
        if (g->chunk[i] != NULL) {
            free(g->chunk[i]);
            g->chunk[i] = NULL;
            s->mem -= SEG_CHUNK;
        }
    }
    if (s->pos < g->end)
        return;
    piece_release(s, g);
    memmove(&s->piece[0], &s->piece[1], (s->npiece - 1) * sizeof(*g));
    s->npiece--;
}

void seg_consume(struct seg *s, size_t n)
{
    while (n > 0 && s->npiece > 0) {
        struct seg_piece *g = &s->piece[0];
        uint64_t k = min_u64(n, g->got - s->pos);

        if (k == 0)
            break;                  /* more than seg_available(): a caller bug */
        s->pos += k;
        n -= (size_t)k;
        trim_front(s);
    }
    recharge(s);
}

uint64_t seg_position(const struct seg *s)
{
    return s->pos;
}

uint64_t seg_length(const struct seg *s)
{
    return s->length;
}

int seg_finished(const struct seg *s)
{
    return s->length != SEG_UNKNOWN && s->pos == s->length;
}

unsigned seg_active(const struct seg *s)
{
    return s->active;
}

size_t seg_memory(const struct seg *s)
{
    return s->mem;
}

size_t seg_reserved(const struct seg *s)
{
    uint64_t r = 0;
    size_t i;

    for (i = 0; i < s->npiece; i++)
        r += piece_span(s, &s->piece[i]);
    return (size_t)r;
}

const struct seg_stats *seg_stats(const struct seg *s)
{
    return &s->st;
}
