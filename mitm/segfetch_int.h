/* segfetch_int.h — internals shared by segfetch.c (the transfer) and
 * segconn.c (one segment connection). */
#ifndef HUBGATE_SEGFETCH_INT_H
#define HUBGATE_SEGFETCH_INT_H

#include <stdint.h>

#include "base/buf.h"
#include "base/loop.h"
#include "base/xprt.h"
#include "mitm/cachesrc.h"
#include "mitm/exchange.h"
#include "mitm/http/http1.h"
#include "mitm/route.h"
#include "mitm/segfetch.h"
#include "mitm/segments.h"
#include "mitm/source.h"

#define SEGF_STALL_MS 5000u    /* a wanted segment with no byte for this long */
#define SEGF_MAX_FAILS 8u      /* failures beyond the segments done: cut */
#define SEGF_NORANGE 16        /* origins remembered for mishandling ranges */
#define SEGF_MAX_LANES SEG_MAX_CONNS /* links one transfer spreads over */
#define SEGF_LANE_REST_MS 10000u /* a link that failed a segment connection rests */
#define SEGF_NOSINK_MS 600000u  /* no segments into the cache after a failed write */

struct seg_shared {
    struct seg_budget budget;
    uint64_t nosink_until;        /* loop time: after a write into the cache
                                   * failed, segments go through memory */
    char norange[SEGF_NORANGE][256];
    unsigned next_norange;
};

struct upstream;

/* A link the segment connections of a transfer may use, with the
 * transfer's final URL routed through it. Lane 0 is the request's own. */
struct seglane {
    int link;                     /* index in gen->links */
    struct route route;
    int direct;                   /* no SOCKS5/HTTP proxy in between */
    int dead;                     /* failed this transfer: not used again */
};

/* One connection fetching one segment at a time. */
struct segconn {
    struct segfetch *f;
    uint32_t ticket;              /* the task; 0: idle */
    unsigned lane;                /* the link of the task (f->lane) */
    uint64_t off, len;            /* its bytes, from the scheduler */
    uint64_t t_progress;          /* loop time of the last byte or wait for the client */
    uint64_t t_start;             /* loop time the task's request was started */
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
    uint64_t total;               /* the whole blob's length (a 206's /n) */
    uint64_t hash_from;           /* transfer offset where hashing and the cache
                                   * fill go on as the client consumes */
    uint32_t probe;               /* the first connection's ticket; 0 once done */
    uint64_t probe_progress;
    uint64_t probe_bytes;         /* body bytes the first connection brought */
    struct digest *digest;        /* the blob as the client takes it, or NULL */
    int sink;                     /* segments go into the cache fill at their
                                   * offsets; the client reads the file */
    struct cachesrc disk;         /* sink: the client's body, the fill's file */
    int verified;
    unsigned fails;
    char host[256];               /* where the first attempt went */
    unsigned up_flags;            /* UP_F_* of the attempt, for every lane */
    unsigned nlanes;
    struct seglane lane[SEGF_MAX_LANES];
    struct timer tick;
    unsigned nconn;
    struct segconn conn[SEG_MAX_CONNS];
};

/* segfetch.c */
/* Counts n segment bytes received (and a segment done) on lane's link. */
void segf_count_bytes(struct segfetch *f, unsigned lane, uint64_t n, int done);
/* A segment starting at transfer offset off failed or stalled on lane
 * (what, why: for the log line); past SEGF_MAX_FAILS more than segments
 * done, x is cut. */
void segf_failed(struct segfetch *f, unsigned lane, const char *what, uint64_t off,
                 const char *why);
/* Sink mode: writes the n bytes ticket passes to seg_recv() next at their
 * blob offsets into the cache fill (nothing for a dead ticket). 0; -1
 * when the write failed: the client is reset (it retries, and this
 * loop's segments go through memory for a while). */
int segf_store(struct segfetch *f, uint32_t ticket, const char *p, size_t n);
/* The origin answered a Range with status (200, or a 206 of other bytes):
 * remembered for the loop; the rest of the blob goes to the first
 * connection when it can (seg_collapse), else one connection at a time. */
void segf_no_ranges(struct segfetch *f, int status);

/* seglanes.c */
/* Lane 0: the route of x's current attempt on its link; with [upstream]
 * segments_across_links, one more lane for each other link of via that is
 * awake, was not tried by this request and can carry x->host. Returns 0,
 * or -1 when even lane 0 has no route. */
int seglanes_init(struct segfetch *f);
/* The lane for the next segment: of the lanes neither dead nor resting
 * (lane 0 is never left), the one with the fewest tasks out (the first
 * connection counts on lane 0); on a tie prefer (the lane a slot used
 * last: its connection may be pooled), else the first. */
unsigned seglane_pick(const struct segfetch *f, unsigned prefer);
/* Lane (not 0) failed a segment connection (why: for the log): no more
 * segments on it for this transfer; with rest, its link rests as after a
 * failed attempt. */
void seglane_fail(struct segfetch *f, unsigned lane, const char *why, int rest);
/* The name of lane's link, for logs and metrics. */
const char *seglane_name(const struct segfetch *f, unsigned lane);

/* segconn.c */
/* An idle connection slot of f (no memory until it is used). */
void segconn_init(struct segconn *c, struct segfetch *f);
/* Sends t's Range request on a pooled or new connection. */
void segconn_start(struct segconn *c, const struct seg_task *t);
/* Request up, answer in, body into the reassembly (sink mode: into the
 * fill, segf_store). Returns 1 when
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
