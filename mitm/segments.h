/* segments.h — the scheduler and reassembly of a segmented blob fetch:
 * one large blob fetched as several Range requests in parallel over
 * separate upstream connections, handed to the client in order.
 *
 * Pure bookkeeping, no I/O: the caller (the exchange) opens connections,
 * sends the requests this module describes (struct seg_task), passes the
 * response bytes in with seg_recv() and moves the contiguous prefix to the
 * client with seg_peek()/seg_consume(). Offsets are relative to the start
 * of the transfer: 0 is the first byte the client is owed (the caller adds
 * the start of a client's own Range when it builds a request).
 *
 * Life of a transfer:
 *   1. seg_new(); seg_next() hands out one task, the probe: bytes
 *      [0, segment_size) as a Range request (or, with max_conns 1, the
 *      whole blob without a Range).
 *   2. When its response head arrives, seg_prove() says what it showed: a
 *      206 for the range asked, with the total length, turns on parallel
 *      segments when the blob is at least min_len; a 200 (the origin
 *      ignored the Range) leaves the whole blob on that one connection.
 *   3. From then on seg_next() hands out segments in order to free
 *      connections while the window ahead of the client and the loop's
 *      budget allow: back-pressure is seg_next() returning 0.
 *   4. seg_fail() (connection lost) and seg_stall() (no progress) put the
 *      rest of a segment back, from its last byte received, first in line;
 *      bytes still arriving for the old task are ignored (SEG_R_STALE).
 *
 * Memory: a segment's bytes live in SEG_CHUNK pieces allocated as they
 * arrive and freed once the client has consumed them; nothing is buffered
 * beyond `window` bytes past the client's position. Digest checks belong
 * on what seg_peek() yields, the blob in the order the client gets it.
 *
 * Sink mode (seg_params.sink): the caller puts each byte where it belongs
 * itself (the blob cache's file, at seg_recv_at()) before it calls
 * seg_recv(), which then copies nothing and only counts. The position is
 * the contiguous received point, which moves on by itself as bytes
 * arrive: the window is measured from there, not from a client's pace;
 * seg_peek() yields nothing, seg_consume() is not used, nothing is
 * reserved from the budget (seg_reserved() is 0) and seg_finished() says
 * every byte was received. */
#ifndef HUBGATE_SEGMENTS_H
#define HUBGATE_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

#define SEG_UNKNOWN UINT64_MAX      /* a length not known yet */
#define SEG_CHUNK ((size_t)256 * 1024)
#define SEG_MAX_CONNS 16u

/* What all transfers of one event loop may reserve together: the global cap
 * on segment buffers. Owned by the loop, zero-initialised then cap set;
 * used must be back at 0 once every transfer is freed. Not shared across
 * threads. */
struct seg_budget {
    size_t cap;                     /* bytes */
    size_t used;                    /* bytes reserved by live transfers */
};

struct seg_params {
    uint64_t length;                /* bytes owed to the client, or SEG_UNKNOWN
                                     * until seg_prove() */
    uint64_t min_len;               /* [upstream] segment_min */
    size_t seg_size;                /* [upstream] segment_size, > 0 */
    unsigned max_conns;             /* [upstream] segments, 1..SEG_MAX_CONNS */
    size_t window;                  /* bytes ahead of the client buffered at
                                     * most; raised to seg_size; 0: the
                                     * default max_conns * seg_size */
    int sink;                       /* the caller stores the bytes itself
                                     * (seg_recv_at): see "Sink mode" above */
};

/* One request to make: bytes [off, off + len) of the transfer, as
 * "Range: bytes=off-(off+len-1)"; len SEG_UNKNOWN means from off to the
 * end, and with off 0 that is a plain GET without Range. */
struct seg_task {
    uint32_t ticket;                /* names this task in later calls; never 0 */
    uint64_t off;
    uint64_t len;
};

enum seg_mode {
    SEG_M_PROBE = 0,                /* one connection; waiting for seg_prove() */
    SEG_M_MULTI,                    /* ranges honoured, blob large: parallel */
    SEG_M_SINGLE                    /* one connection at a time from now on */
};

/* seg_recv() results; errors are negative errnos. */
enum seg_recv_result {
    SEG_R_MORE = 0,                 /* taken; the task wants more bytes */
    SEG_R_DONE,                     /* taken; the task is complete, its
                                     * connection is free for seg_next() */
    SEG_R_STALE                     /* ignored: the task was failed or
                                     * reassigned (drop that connection) */
};

struct seg_stats {
    unsigned tasks;                 /* requests handed out */
    unsigned done;                  /* tasks completed: segments=N */
    unsigned requeued;              /* seg_fail() on a live task */
    unsigned stalls;                /* seg_stall() on a live task */
    uint64_t stale_bytes;           /* bytes ignored for dead tickets */
};

struct seg;

/* Accepts p (copied) and budget (may be NULL: no global cap; else it must
 * outlive the transfer). Returns a transfer in SEG_M_PROBE, or NULL when
 * out of memory or p is out of range. */
struct seg *seg_new(const struct seg_params *p, struct seg_budget *budget);

/* Releases every buffer and the budget's share; accepts NULL. */
void seg_free(struct seg *s);

/* Fills *t with the next request for a free connection and returns 1, or
 * returns 0 when there is none to make now: before seg_prove() while the
 * probe is out, every allowed connection busy, the window or the budget
 * full (call again after seg_consume()), or everything fetched. A segment
 * put back by seg_fail()/seg_stall() comes first, then new ones in order.
 * A transfer with nothing buffered always gets a task whatever the budget
 * says, so every transfer makes progress. */
int seg_next(struct seg *s, struct seg_task *t);

/* The probe's response head: total is the transfer's whole length (from
 * Content-Range for a 206, Content-Length for a 200); ranged is 1 when the
 * origin answered the range asked with a 206, 0 when it sent the whole
 * body with 200. Returns the mode now in force, or -EINVAL when ticket is
 * not the live probe, -EPROTO when the answer cannot be used (a 206 to a
 * request without Range, a 200 after part of the blob already arrived,
 * a total unlike a length given to seg_new()): the caller then fails the
 * probe and asks again with seg_single() in force. A total of 0 (an empty
 * blob) completes the probe's task there and then. */
int seg_prove(struct seg *s, uint32_t ticket, uint64_t total, int ranged);

/* The origin mishandled a range (answered 200 or another length): from now
 * on at most one task at a time; before seg_prove(), the probe is asked
 * again as a plain GET. Tasks in flight go on. */
void seg_single(struct seg *s);

/* The origin mishandled a range before any segment but the front one got a
 * byte: ticket, the live task of the front piece (the first connection,
 * whose answer is the whole blob), takes the rest of the transfer and every
 * other piece goes (their tickets die: SEG_R_STALE). Implies seg_single().
 * Returns 0, -EINVAL when ticket is not the front piece's live task, or
 * -EBUSY when another piece holds bytes (then nothing changed). */
int seg_collapse(struct seg *s, uint32_t ticket);

enum seg_mode seg_mode(const struct seg *s);

/* Bytes the connection of ticket may pass to seg_recv() now (its range,
 * capped by the window); 0 for a dead ticket. Read no more than this from
 * that connection: it is the back-pressure on a single stream. */
uint64_t seg_room(const struct seg *s, uint32_t ticket);

/* Accepts n bytes of ticket's response body (copied), which continue
 * where its earlier bytes ended. Returns an enum seg_recv_result, or
 * -EMSGSIZE when n passes seg_room(), -ENOMEM. */
int seg_recv(struct seg *s, uint32_t ticket, const void *data, size_t n);

/* Where ticket's next byte goes: the transfer offset that seg_recv()
 * would take it at, or SEG_UNKNOWN for a dead ticket. */
uint64_t seg_recv_at(const struct seg *s, uint32_t ticket);

/* The connection of ticket failed (reset, timeout, bad answer): the rest of
 * its segment goes back in line from the last byte received. Returns 0, or
 * SEG_R_STALE when ticket was already dead. */
int seg_fail(struct seg *s, uint32_t ticket);

/* The same for a connection that stalled (the caller may leave it open; its
 * late bytes are ignored); counted apart in the stats. */
int seg_stall(struct seg *s, uint32_t ticket);

/* Sets *p to the next bytes for the client and returns how many are
 * contiguous there (one chunk at most); 0 when the next byte has not
 * arrived. The bytes stay valid until seg_consume() or seg_free(). */
size_t seg_peek(const struct seg *s, const char **p);

/* The client took n bytes (n <= seg_available()); frees what they
 * emptied. */
void seg_consume(struct seg *s, size_t n);

/* Bytes ready for the client in a row from its position, across chunks. */
uint64_t seg_available(const struct seg *s);

/* Bytes the client has consumed (sink mode: received without a gap); the
 * transfer's length, or SEG_UNKNOWN. */
uint64_t seg_position(const struct seg *s);
uint64_t seg_length(const struct seg *s);

/* 1 once the client has consumed (sink mode: once the transfer has
 * received) every byte of a known length. */
int seg_finished(const struct seg *s);

/* Tasks out now; bytes of chunks allocated; what this transfer reserves of
 * the budget; counters for metrics and the access log. */
unsigned seg_active(const struct seg *s);
size_t seg_memory(const struct seg *s);
size_t seg_reserved(const struct seg *s);
const struct seg_stats *seg_stats(const struct seg *s);

#endif
