/* exchange.h — one HTTP request and its response, from the request head
 * to the last response byte the client took.
 *
 * The client connection (proxy/conn.c) owns the exchange and lends it what
 * the exchange needs of the client side (struct xclient): the endpoint,
 * the request parser and bytes (for an upload), and the buffer its heads
 * go out through. The exchange owns everything toward the origin: the
 * request template kept for every attempt (failover to the next link,
 * redirects hubgate follows, Range to resume a cut blob), the digest check,
 * the fields of the access log line, and the source its response body
 * comes from (source.h; an upstream connection, upsrc.h).
 *
 * It never closes the client itself: a failure ends it in XCH_FAILED with
 * x->fail saying what the client connection must do (close after the
 * error answer queued in cout, cut at once, or reset). */
#ifndef HUBGATE_EXCHANGE_H
#define HUBGATE_EXCHANGE_H

#include <stdint.h>

#include "base/buf.h"
#include "base/xprt.h"
#include "mitm/http/http1.h"
#include "mitm/upsrc.h"
#include "proxy/core/proxy.h"
#include "proxy/up/up_error.h"

struct digest;
struct xcache;
struct route;
struct segfetch;

enum xch_state {
    XCH_SENDING = 0,   /* an attempt opens its upstream or sends the request */
    XCH_HEAD,          /* the request went out: waiting for the response head */
    XCH_BODY,          /* the response streams to the client */
    XCH_FOLLOWING,     /* a redirect hubgate follows: its body is drained */
    XCH_RESUMING,      /* a blob was cut: the rest is asked for once the client has
                        * every byte received so far */
    XCH_DONE,          /* the response is complete in the source */
    XCH_FAILED,        /* ended without a whole response: see fail */
};

enum xch_fail {
    XCH_FAIL_ANSWERED = 0, /* an error answer is queued in cout: close after it */
    XCH_FAIL_CUT,          /* part of the response went out: close the client now */
    XCH_FAIL_RESET,        /* the body failed its digest: reset the client */
};

#define XCH_F_RESP_SENT   0x01u  /* response bytes reached cout */
#define XCH_F_BODY_SENT   0x02u  /* request body bytes went upstream */
#define XCH_F_RETRIED     0x04u  /* resent once after a pooled connection closed */
#define XCH_F_CLOSE_AFTER 0x08u  /* the client connection closes after this response */
#define XCH_F_LOGGED      0x10u
#define XCH_F_CARRIED     0x20u  /* the client left; the fill goes on (carry.h):
                                  * what the client would get is dropped */

/* What an exchange borrows from its client connection, for its lifetime. */
struct xclient {
    struct ep *cl;
    struct buf *cin;          /* request body bytes, after the head */
    struct buf *cout;         /* response heads and error answers */
    struct http1 *req;        /* the request parser (body_ready for uploads) */
    const char *peer;         /* "1.2.3.4:5678" for logs */
    int peer_loopback;
    int intercepted;          /* TLS terminated here; else plain HTTP */
    /* Called when something changed outside a pump (an upstream became
     * ready or failed): run the connection's pump now. */
    void (*run)(void *arg);
    void *arg;
};

struct exchange {
    struct proxy *px;
    struct gen *gen;              /* borrowed from the client connection */
    struct xclient cl;
    enum xch_state state;
    enum xch_fail fail;
    unsigned flags;               /* XCH_F_* */
    int method;                   /* llhttp method of the request */
    int http10;                   /* the client spoke HTTP/1.0: no chunks, no 1xx */

    char host[256];               /* the origin the client asked for */
    unsigned port;

    /* the request, kept for every attempt: the client's head bytes and
     * its origin-form target inside them */
    struct buf tmpl;
    uint32_t tmpl_url_off, tmpl_url_len;
    int link;                     /* link of the current attempt, -1 plain HTTP */
    uint32_t tried;               /* links this request already used */
    char *redir;                  /* URL of a followed redirect, NULL otherwise */
    int hops;                     /* redirects followed */
    int resume_tries;
    int is_blob;                  /* GET/HEAD of /v2/<name>/blobs/<digest> */
    int follows;                  /* a blob or manifest: hubgate follows its redirects */

    int64_t body_len;             /* Content-Length of the forwarded response, -1 none */
    uint64_t body_rx;             /* body bytes received for the client so far */
    int64_t range_base;           /* first byte of the forwarded 206, else 0 */
    struct digest *digest;        /* blob body hash in progress, or NULL */
    int digest_ok;                /* the whole body matched its digest */

    /* for the access log */
    uint64_t t_start, t_progress, progress_bytes;
    uint64_t t_sent;              /* when the current attempt was sent */
    char log_path[200];
    int status;
    uint64_t bytes_in, bytes_out;

    struct upsrc up;              /* the upstream connection of the attempts */
    struct source *body;          /* where the client's body bytes come from */
    struct xcache *xc;            /* the cache's part (xcache.h), or NULL */
    int probe;                    /* the attempt asks with HEAD, for the cache */
    struct segfetch *segf;        /* a segmented blob fetch (segfetch.h), or NULL */
};

/* A request head is complete in cl->req / cl->cin, and the client
 * connection has checked it: origin host:port, origin-form target[0..tlen)
 * (inside the head). Takes a copy of the head and picks the first awake
 * link. Returns the exchange (check x->state for XCH_FAILED: an error
 * answer may already be queued), or NULL when out of memory. The caller
 * then consumes the head from cin and calls exchange_start(). */
struct exchange *exchange_new(struct proxy *px, struct gen *gen, const struct xclient *cl,
                              const char *host, unsigned port, const char *target,
                              size_t tlen);

/* Stops the upstream's events (the client connection is closing; memory
 * goes with exchange_free()). */
void exchange_stop(struct exchange *x);

/* Sends the first attempt. */
void exchange_start(struct exchange *x);

/* Releases the upstream (to the pool when reusable and the response ended
 * cleanly) and frees x. */
void exchange_free(struct exchange *x, int reusable);

/* Moves what can move now toward the origin and back to the client:
 * request body up, response in, heads and body out (cout first). Returns 1
 * when anything moved. */
int exchange_pump(struct exchange *x);

/* The whole response reached the client's endpoint (cout flushed too),
 * or the exchange failed. */
int exchange_over(const struct exchange *x);

/* Sends what the upstream's TLS layer gathered (once per pump). */
void exchange_flush(struct exchange *x);

/* What the exchange waits for on the client endpoint (write) and sets the
 * upstream's epoll interest. */
int exchange_wants_client_write(const struct exchange *x);
void exchange_update(struct exchange *x);

/* Queues an error answer for the client (Docker-style JSON, Connection:
 * close) and ends the exchange in XCH_FAILED; when response bytes already
 * went out, ends it with XCH_FAIL_CUT instead. */
void exchange_fail(struct exchange *x, int status, const char *code, const char *msg);

/* Writes the access log line of x once. */
void exchange_log(struct exchange *x);

/* The name of the link serving x, for logs. */
const char *exchange_link_name(const struct exchange *x);

/* ---- internal to mitm/ (the attempts, responses and the upstream) ---- */

/* Builds the head of the current attempt (x->link, x->redir, resuming)
 * and takes a pooled connection or opens one. */
void exchange_send(struct exchange *x);

/* Writes into out the head of a request on route r (the client's head as
 * kept, hop-by-hop fields out), with HDR_REQ_* flags and extra header
 * lines. Returns 0, or -1 when it does not fit. */
int exchange_write_head(struct exchange *x, const struct route *r, struct buf *out,
                        unsigned flags, const char *extra);

/* Parses a Content-Range value "bytes a-b/n" (n -1 for "*"). Returns 0 or
 * -1. */
int parse_content_range(const char *v, int64_t *a, int64_t *b, int64_t *n);

/* The current attempt failed with e: rest its link (rest_ms, or the
 * default) and send the request on the next one, or answer (403 for a
 * refused destination, else 502) naming the last error when none is left
 * or the request can no longer be replayed. */
void exchange_failover(struct exchange *x, const struct up_error *e, uint64_t rest_ms);

/* A response head is complete in the upstream source: act on it (see
 * response.c) and consume it. Returns 0, or -1 when it answered an error,
 * failed over or ended the exchange. */
int exchange_response_head(struct exchange *x);

/* The response is complete in the source: check the digest, or fetch the
 * target of a redirect hubgate follows. */
void exchange_response_done(struct exchange *x);

/* The origin closed or failed in the middle of the exchange. */
void exchange_upstream_gone(struct exchange *x);

/* Body bytes of the response as the parser passes them (decoded): counts
 * and hashes them. */
void exchange_on_body(struct exchange *x, const char *p, size_t n);

/* One upstream connection's body of bytes received since loop time t0
 * (its request), for the throughput histogram: link (a link name), kind
 * "segment" or "blob". No-op without metrics or bytes. */
void exchange_count_rate(struct exchange *x, const char *link, const char *kind,
                         uint64_t bytes, uint64_t t0);

/* Ends x with f (after a reset or a cut nothing more reaches the client). */
void exchange_end_failed(struct exchange *x, enum xch_fail f);

#endif
