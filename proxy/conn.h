/* conn.h — one client connection, from accept to close.
 *
 * A connection starts by reading proxy requests (CONNECT or absolute-form
 * HTTP; front.c). A CONNECT turns it into a tunnel (tunnel.h: bytes copied
 * both ways) or, for an intercepted host, into an intercepted session: TLS
 * from our CA toward the client (connect.c) and requests read in origin
 * form. Each request, plain or intercepted, is answered by an exchange
 * (mitm/exchange.h), which the connection owns while it runs.
 *
 * Ownership: the conn owns the client endpoint and its buffers, the
 * request parser, its timer, and the exchange, tunnel or CONNECT attempt
 * it has; conn_close() releases all of it, after the current event, in one
 * place. */
#ifndef HUBGATE_CONN_H
#define HUBGATE_CONN_H

#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "base/xprt.h"
#include "mitm/http/http1.h"
#include "proxy/core/proxy.h"

struct exchange;
struct tunnel;
struct upstream;

enum conn_mode {
    CONN_HTTP = 0,      /* reading proxy requests, forwarding plain HTTP */
    CONN_TUNNEL,        /* copying bytes both ways */
    CONN_MITM,          /* client TLS terminated here, HTTP to a fixed origin */
};

#define CONN_F_CLOSING     0x01u  /* conn_close() called; freed after the event */
#define CONN_F_CLOSE_AFTER 0x02u  /* close the client once the answer is flushed */
#define CONN_F_ANSWERED    0x04u  /* an answer of our own (an error) is queued in cout */
#define CONN_F_LOGGED      0x08u  /* that answer's access line was written */
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

    struct ep cl;                /* the client */
    struct timer timer;
    struct loop_task free_task;  /* conn_close() queues conn_free() with it */
    struct loop_task yield_task; /* a pump queued for the next round (conn_yield) */
    uint64_t t_active, t_head;   /* loop_now() ms: last progress, start of head/request */

    struct buf cin;              /* from the client */
    struct buf cout;             /* heads and errors for the client */
    struct http1 *req;           /* request parser; freed once a tunnel */

    char host[256];              /* CONNECT target (the intercepted host in MITM) */
    unsigned port;
    int link;                    /* [passthrough] via link of the CONNECT attempt */
    struct upstream *connecting; /* CONNECT attempt in progress */
    struct exchange *x;          /* the request being answered, NULL between requests */
    struct tunnel *tun;          /* CONN_TUNNEL: the tunnel */

    /* the access line of an answer of our own (no exchange) */
    int req_method;              /* -1 none */
    int status;
    char log_path[200];
};

/* Takes a freshly accepted, non-blocking socket. On failure closes fd. */
void conn_accept(struct proxy *px, int fd, const struct sockaddr_storage *peer);

/* Switches c to CONN_TUNNEL or CONN_MITM, keeping the per-kind counts
 * the admin page reads from other threads. */
void conn_set_mode(struct conn *c, enum conn_mode mode);

/* Marks c for release after the current event; idempotent. */
void conn_close(struct conn *c);

/* Runs c's pump now, then recomputes its interest and deadline. */
void conn_run(struct conn *c);

/* Recomputes epoll interest and the deadline after any state change. */
void conn_update(struct conn *c);

/* Answers with a short Docker-style JSON error and closes afterwards:
 * through the running exchange when there is one, else as c's own answer.
 * When response bytes already went out, closes instead. */
void conn_error(struct conn *c, int status, const char *code, const char *msg);

/* The same with one more header line ("Name: value", no CRLF) or NULL. */
void conn_error_hdr(struct conn *c, int status, const char *code, const char *msg,
                    const char *hdr);

/* Closes c with a TCP reset, so its client knows the transfer failed. */
void conn_reset(struct conn *c);

/* Writes the access line of c's own answer (an error, a tunnel). */
void conn_log(struct conn *c, const char *link, uint64_t bytes_out, uint64_t bytes_in);

/* The pump used its budget: run it again next round. */
void conn_yield(struct conn *c);

/* Between requests with nothing pending: a drain may close it now. */
int conn_idle(const struct conn *c);

/* Marks activity (resets idle/read deadlines). */
static inline void conn_touch(struct conn *c, uint64_t now) { c->t_active = now; }

#endif
