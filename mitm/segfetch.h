/* segfetch.h — a segmented blob fetch: the body source of an exchange
 * whose blob comes over several upstream connections at once.
 *
 * The exchange's first attempt goes as usual. When its answer is a 200 for
 * a blob GET by digest of at least [upstream] segment_min bytes from an
 * origin that says it serves ranges (Accept-Ranges: bytes), and
 * [upstream] segments is above 1, segfetch_start() watches it; once the
 * first connection has shown itself slow (segf_switch()) it becomes the
 * probe, fetching the first segment from the client's position,
 * while more connections on the same link and route (the final URL of
 * followed redirects) fetch the next ones with Range requests, as the
 * scheduler (segments.h) hands them out. The client gets the 200 head as
 * the origin sent it and the body in order, through the source interface
 * (source.h), from one of two places:
 *   - Filling the cache (xcache_filling) with the whole blob: each
 *     segment's bytes are written into the fill's file at their blob
 *     offsets as they arrive (cache_fill_write_at) and the client's body
 *     is a cachesrc on that growing file, from its position on: it reads
 *     the contiguous prefix. The scheduler runs in sink mode: the window
 *     runs from that prefix's end, so the links set the pace, not the
 *     client; no segment byte is held in memory or counted in the loop's
 *     budget. The fill's SHA-256 is the digest check: the last byte
 *     reaches the client only once it matched (cachesrc holds it back); a
 *     fill that is not kept resets the client. A write into the fill that
 *     fails resets the client too (it retries), and the loop's transfers
 *     go through memory for SEGF_NOSINK_MS.
 *   - Otherwise the reassembly in memory (segments.h): at most a window
 *     of segments x segment_size past the client's position per blob and
 *     256 MiB per loop, so the client's pace sets the segments' pace; the
 *     digest is checked over the bytes in the order the client takes them.
 * A client's own Range answered 206 goes through memory: the transfer is
 * that range, its segments asked for in blob offsets, the client gets the
 * 206 head, and there is no digest to check. Internal to mitm/. */
#ifndef HUBGATE_SEGFETCH_H
#define HUBGATE_SEGFETCH_H

struct exchange;
struct segfetch;
struct seg_shared;

/* The response head of x's attempt is in x->up (base: its buffer) and was
 * checked by response.c (x->status, x->body_len, x->digest set). When the
 * blob qualifies, x->segf watches the first connection: the body goes as
 * usual, and if after half a second the connection is slow and much is
 * left, x->body becomes the segmented source from the client's position
 * on (the digest in progress moves into it). Returns 1 when watching, 0
 * when the response goes as usual. */
int segfetch_start(struct exchange *x, const char *base);

/* The body comes in segments now (not watching, not declined). Accepts
 * NULL. */
int segfetch_active(const struct segfetch *f);

/* Moves the probe's bytes into the reassembly (or the fill), the segment
 * connections' requests up and answers in, starts new segments, checks the
 * digest at the end (or hands the fill over to be checked) and ends x in
 * XCH_DONE once the client has every byte. Returns 1 when anything
 * moved. */
int segfetch_pump(struct segfetch *f);

/* The epoll interest of the segment connections; pending TLS output sent;
 * their events stopped (the client connection is closing). */
void segfetch_update(struct segfetch *f);
void segfetch_flush(struct segfetch *f);
void segfetch_stop(struct segfetch *f);

/* Segments fetched so far, for the access log's segments=N. */
unsigned segfetch_count(const struct segfetch *f);

/* Closes every connection and frees f; accepts NULL. */
void segfetch_free(struct segfetch *f);

/* What the transfers of one loop share (a cap on their buffers, origins
 * that mishandled ranges); owned by the loop's struct proxy, made on first
 * use. Accepts NULL. */
void segfetch_shared_free(struct seg_shared *sh);

#endif
