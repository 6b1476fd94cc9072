/* upsrc.h — the upstream source of an exchange: one connection toward the
 * origin (or a relay) per attempt, taken from the pool or opened through
 * the attempt's link, that carries the request head and body up and
 * parses the response coming back. Its body bytes go to the client
 * straight from its input buffer (source.h). Internal to mitm/. */
#ifndef HUBGATE_UPSRC_H
#define HUBGATE_UPSRC_H

#include <stdint.h>

#include "base/buf.h"
#include "base/xprt.h"
#include "mitm/http/http1.h"
#include "mitm/source.h"

struct exchange;
struct upstream;
struct link;

struct upsrc {
    struct source src;            /* first: a struct source * is this */
    struct exchange *x;
    struct ep up;                 /* fd -1 when none */
    struct upstream *pending;     /* connection attempt in progress */
    struct buf uin;               /* from upstream */
    struct buf uout;              /* request head of the attempt */
    size_t uout_sent;
    struct http1 resp;
    int interim;                  /* the response being parsed is a 1xx */
    int dechunk;                  /* the client gets the body without chunk framing */
    size_t dec_len;               /* de-chunked body bytes at uin's front */
    size_t body_safe;             /* uin bytes before the last body byte seen: all a
                                   * client may have before the digest is checked */
    int reused;                   /* the connection served an earlier exchange */
    int eof_seen;                 /* the origin's end was acted on */
    /* what up is connected to */
    char host[256];
    unsigned port;
    int tls;
    int link;                     /* link index, -1 plain HTTP */
    int direct;                   /* no SOCKS5/HTTP proxy in between */
    unsigned up_flags;            /* UP_F_* destination check */
};

/* Ready for x: no connection yet. */
void upsrc_init(struct upsrc *s, struct exchange *x);

/* Starts an attempt: its head is in s->uout; host/port/tls/link/direct/
 * up_flags are set; via is the transport link (NULL: direct). Takes a
 * pooled connection or opens one (the exchange hears of a failure through
 * exchange_failover()). Returns 0, or -1 when out of memory. */
int upsrc_begin(struct upsrc *s, const struct link *via);

/* Moves request bytes up, response bytes in, and parses them (response
 * heads and ends go to the exchange). Returns 1 when anything moved. */
int upsrc_pump(struct upsrc *s);

/* The origin's end (EOF or error) was seen and not yet acted on. */
int upsrc_ended(const struct upsrc *s);

/* The response parser reached the end of a response. */
static inline int upsrc_complete(const struct upsrc *s) { return s->resp.state == H1_DONE; }

/* Everything of the response went to the client (no body byte waits). */
int upsrc_drained(const struct upsrc *s);

/* The connection goes back to the pool when reusable (and the response
 * ended cleanly with nothing after it), else it is closed. Bytes after a
 * complete response belong to no request and are dropped either way. */
void upsrc_release(struct upsrc *s, int reusable);

/* Cancels an attempt in progress and closes the connection; drops what
 * was received. */
void upsrc_close(struct upsrc *s);

/* Sets the epoll interest of the upstream socket. */
void upsrc_update(struct upsrc *s);

/* Frees the buffers (after upsrc_close or upsrc_release). */
void upsrc_free(struct upsrc *s);

#endif
