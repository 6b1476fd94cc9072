/* conn.h — one client connection, from accept to close.
 *
 * A connection starts by reading proxy requests (CONNECT or absolute-form
 * HTTP). A CONNECT turns it into a tunnel (bytes copied both ways) or, for
 * an intercepted host, into an intercepted session: TLS from our CA toward
 * the client and HTTP exchanges toward the origin (mitm/mitm.h). Plain HTTP
 * requests run through the same exchange pipeline without TLS.
 *
 * Ownership: the conn owns both endpoints, all buffers, the pending
 * upstream attempt and its timer; conn_close() releases all of it, after
 * the current event, in one place. */
#ifndef HUBGATE_CONN_H
#define HUBGATE_CONN_H

#include <stdint.h>
#include <sys/socket.h>

#include "mitm/http/http1.h"
#include "base/buf.h"
#include "proxy/core/proxy.h"
#include "base/xprt.h"

struct upstream;
struct digest;

/* A pipe that splice() moves a tunnel's bytes through, taken from the
 * proxy's pool while bytes flow and given back when the tunnel idles. */
struct spipe {
    int fd[2];          /* -1 when none */
    size_t len;         /* bytes in the pipe */
};

enum conn_mode {
    CONN_HTTP = 0,      /* reading proxy requests, forwarding plain HTTP */
    CONN_TUNNEL,        /* copying bytes both ways */
    CONN_MITM,          /* client TLS terminated here, HTTP to a fixed origin */
};

#define CONN_F_CLOSING     0x01u  /* conn_close() called; freed after the event */
#define CONN_F_CLOSE_AFTER 0x02u  /* close the client once the exchange is flushed */
#define CONN_F_UP_REUSED   0x04u  /* the upstream served an earlier exchange */
#define CONN_F_RESP_SENT   0x08u  /* response bytes of this exchange reached cout */
#define CONN_F_BODY_SENT   0x10u  /* request body bytes of this exchange went upstream */
#define CONN_F_RETRIED     0x20u  /* this exchange was already retried once */
#define CONN_F_LOGGED      0x40u
#define CONN_F_TLS_OK      0x80u  /* the client's first bytes arrived (handshake done) */
#define CONN_F_LINGER      0x200u /* answered and half-closed: reading the rest away */

/* How long a lingering close reads what the client still sends, so that
 * it sees our answer (400, 431) instead of a reset. */
#define CONN_LINGER_MS 2000u

/* A worker with no connection for this long gives back pooled pipes and
 * free heap. */
#define CONN_IDLE_TRIM_MS 5000u

/* Rounds of reading and writing one pump may do before letting other
 * connections have their turn (each moves at most one buffer). */
#define CONN_PUMP_BUDGET 32

struct conn {
    struct proxy *px;
    struct gen *gen;             /* configuration this connection started under */
    struct conn *next, *prev;    /* px->conns */
    uint64_t id;
    enum conn_mode mode;
    unsigned flags;
    char peer[64];               /* "1.2.3.4:5678" for logs */
    int peer_loopback;

    struct ep cl;                /* client */
    struct ep up;                /* upstream; fd -1 when none */
    struct upstream *pending;    /* upstream attempt in progress */

    struct timer timer;
    struct loop_task free_task;  /* conn_close() queues conn_free() with it */
    struct loop_task yield_task; /* a pump queued for the next round (conn_yield) */
    uint64_t t_active, t_head;   /* loop_now() ms: last progress, start of head/exchange */

    struct buf cin;              /* from client */
    struct buf uin;              /* from upstream */
    struct spipe sp_cu, sp_uc;   /* tunnel: client to upstream, upstream to client */
    struct buf cout;             /* heads and errors for the client */
    struct buf uout;             /* request head for upstream */
    size_t uout_sent;            /* bytes of uout already written */

    struct http1 *req, *resp;    /* one allocation; freed once a tunnel */
    int req_method;              /* method of the request being answered, -1 none */
    int client_http10;           /* the request is HTTP/1.0: no chunks, no 1xx */
    int dechunk;                 /* the body goes to the client without chunk framing */
    size_t dec_len;              /* de-chunked body bytes at uin's front (dechunk) */
    int resp_interim;            /* the response being parsed is a 1xx */

    char host[256];              /* CONNECT target, or this exchange's origin */
    unsigned port;
    char up_host[256];           /* what up is connected to */
    unsigned up_port;
    int up_tls;
    int up_direct;               /* up leads to up_host itself, no proxy between */
    unsigned up_flags;           /* UP_F_* of the destination check */

    /* the current request, kept for every attempt (failover, redirects,
     * resume): the client's head bytes, described by req's header offsets */
    struct buf tmpl;
    uint32_t tmpl_url_off, tmpl_url_len; /* origin-form target in tmpl */
    int link;                    /* link of the current attempt, -1 none */
    int up_link;                 /* link c->up belongs to */
    uint32_t tried;              /* links this request already used */
    char *redir;                 /* URL of a followed redirect, NULL otherwise */
    int hops;                    /* redirects followed for this request */
    int following;               /* draining a 3xx that we follow */
    int resuming;                /* this attempt asks for the rest of a body */
    int resume_tries;
    int is_blob;                 /* GET/HEAD of /v2/<name>/blobs/<digest> */
    int64_t body_len;            /* Content-Length of the forwarded response, -1 none */
    uint64_t body_rx;            /* body bytes received for the client so far */
    int64_t range_base;          /* first byte of the forwarded 206, else 0 */
    uint64_t t_progress;         /* last progress line of a large transfer */
    uint64_t progress_bytes;     /* bytes_out at that line */
    struct digest *digest;       /* blob body hash in progress, or NULL */
    int digest_ok;               /* the whole body matched its digest */
    size_t body_safe;            /* uin bytes before the last body byte seen:
                                  * all a client may have before the digest
                                  * is checked (chunk framing after it waits) */

    /* for the access log of the current exchange */
    char log_path[200];
    int status;
    uint64_t bytes_in, bytes_out;
};

/* Takes a freshly accepted, non-blocking socket. On failure closes fd. */
void conn_accept(struct proxy *px, int fd, const struct sockaddr_storage *peer);

/* Switches c to CONN_TUNNEL or CONN_MITM, keeping the per-kind counts
 * the admin page reads from other threads. */
void conn_set_mode(struct conn *c, enum conn_mode mode);

/* Marks c for release after the current event; idempotent. */
void conn_close(struct conn *c);

/* Recomputes epoll interest and the deadline after any state change. */
void conn_update(struct conn *c);

/* Takes a connected upstream socket (and its TLS state) into c->up and
 * registers it (pooled: already registered, taken over from the pool);
 * on failure answers 502. */
void conn_attach_upstream(struct conn *c, int fd, SSL *ssl, int pooled);

/* Answers with a short Docker-style JSON error and closes afterwards.
 * Only when nothing of a response has been sent; otherwise closes. */
void conn_error(struct conn *c, int status, const char *code, const char *msg);

/* The same with one more header line ("Name: value", no CRLF) or NULL. */
void conn_error_hdr(struct conn *c, int status, const char *code, const char *msg,
                    const char *hdr);

/* Closes c with a TCP reset, so its client knows the transfer failed. */
void conn_reset(struct conn *c);

/* Writes an access log line for the exchange that just ended. */
void conn_log_exchange(struct conn *c);

/* The pump used its budget: run it again next round. */
void conn_yield(struct conn *c);

/* Marks activity (resets idle/read deadlines). */
static inline void conn_touch(struct conn *c, uint64_t now) { c->t_active = now; }

#endif
