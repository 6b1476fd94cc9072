/* segfetch_int.h — internals shared by segfetch.c (the transfer) and
 * segconn.c (one segment connection). */
#ifndef HUBGATE_SEGFETCH_INT_H
#define HUBGATE_SEGFETCH_INT_H

#include <stdint.h>

#include "base/buf.h"
#include "base/loop.h"
#include "base/xprt.h"
#include "mitm/exchange.h"
#include "mitm/http/http1.h"
#include "mitm/route.h"
#include "mitm/segfetch.h"
#include "mitm/segments.h"
#include "mitm/source.h"

#define SEGF_STALL_MS 5000u    /* a wanted segment with no byte for this long */
#define SEGF_MAX_FAILS 8u      /* failures beyond the segments done: cut */
#define SEGF_NORANGE 16        /* origins remembered for mishandling ranges */

struct seg_shared {
    struct seg_budget budget;
    char norange[SEGF_NORANGE][256];
    unsigned next_norange;
};

struct upstream;

/* One connection fetching one segment at a time. */
struct segconn {
    struct segfetch *f;
    uint32_t ticket;              /* the task; 0: idle */
    uint64_t off, len;            /* its bytes, from the scheduler */
    uint64_t t_progress;          /* loop time of the last byte or wait for the client */
    struct ep up;                 /* fd -1 when none */
    struct upstream *pending;     /* connection attempt in progress */
    struct buf uin, uout;
    struct http1 resp;
    int body;                     /* the 206 head was accepted */
};

struct segfetch {
    struct source src;            /* first: a struct source * is this */
    struct exchange *x;
    struct seg *seg;              /* NULL while the first connection goes alone */
    struct seg_shared *sh;
    uint64_t t_head;              /* when the 200 head came */
    int declined;                 /* the watch is over (switched or not) */
    uint64_t base;                /* blob offset of the transfer's byte 0 */
    uint64_t hash_from;           /* transfer offset where hashing and the cache
                                   * fill go on as the client consumes */
    uint32_t probe;               /* the first connection's ticket; 0 once done */
    uint64_t probe_progress;
    struct digest *digest;        /* the blob as the client takes it, or NULL */
    int verified;
    unsigned fails;
    struct route route;           /* the final URL of the first attempt */
    char host[256];               /* where that attempt went */
    unsigned port;
    int tls, link, direct;
    unsigned up_flags;
    struct timer tick;
    unsigned nconn;
    struct segconn conn[SEG_MAX_CONNS];
};

/* segfetch.c */
/* Counts n segment bytes received (and a segment done) for x's link. */
void segf_count_bytes(struct segfetch *f, uint64_t n, int done);
/* A segment starting at transfer offset off failed or stalled (what, why:
 * for the log line); past SEGF_MAX_FAILS more than segments done, x is cut. */
void segf_failed(struct segfetch *f, const char *what, uint64_t off, const char *why);
/* The origin answered a Range with status (200, or a 206 of other bytes):
 * remembered for the loop; the rest of the blob goes to the first
 * connection when it can (seg_collapse), else one connection at a time. */
void segf_no_ranges(struct segfetch *f, int status);

/* segconn.c */
/* An idle connection slot of f (no memory until it is used). */
void segconn_init(struct segconn *c, struct segfetch *f);
/* Sends t's Range request on a pooled or new connection. */
void segconn_start(struct segconn *c, const struct seg_task *t);
/* Request up, answer in, body into the reassembly. Returns 1 when
 * anything moved. */
int segconn_pump(struct segconn *c);
/* Closes the connection of a task that died elsewhere (seg_collapse). */
void segconn_drop(struct segconn *c);
/* A task with no byte for SEGF_STALL_MS while wanted: put back (seg_stall)
 * and its connection closed. */
void segconn_check_stall(struct segconn *c, uint64_t now);
/* The epoll interest of the connection. */
void segconn_update(struct segconn *c);
/* Closes the connection and frees its buffers. */
void segconn_free(struct segconn *c);

#endif
