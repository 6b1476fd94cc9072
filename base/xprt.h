/* xprt.h — one end of a connection: a socket with an optional TLS layer
 * behind a small transport vtable, so that the pumps read and write the
 * same way for tunnels and intercepted sessions.
 *
 * Readiness is tracked per direction: EP_F_RD_MAYBE / EP_F_WR_MAYBE say an
 * attempt may make progress (set by events, cleared by EAGAIN); the epoll
 * mask asks only for what a blocked direction waits on. A TLS read may wait
 * for writability (renegotiation, handshake) and a write for readability:
 * rd_ev / wr_ev hold the event each direction waits for. */
#ifndef HUBGATE_XPRT_H
#define HUBGATE_XPRT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "base/loop.h"

struct ep;

struct xprt_ops {
    const char *name;
    /* > 0 bytes, 0 orderly EOF, -EAGAIN, or another -errno (-EPROTO for a
     * TLS failure). */
    ssize_t (*read)(struct ep *ep, void *p, size_t n);
    /* > 0 bytes, -EAGAIN, or -errno. */
    ssize_t (*write)(struct ep *ep, const void *p, size_t n);
    /* Half-close of the write side (close_notify for TLS). */
    void (*shutdown)(struct ep *ep);
    /* Sends what the transport buffered: 0 when nothing is left, -EAGAIN
     * when the socket is full (wait for wr_ev), or -errno. */
    int (*flush)(struct ep *ep);
    /* Bytes buffered by the transport and not yet sent. */
    size_t (*pending)(const struct ep *ep);
};

#define EP_F_RD_MAYBE  0x01u
#define EP_F_WR_MAYBE  0x02u
#define EP_F_RD_EOF    0x04u  /* peer finished sending */
#define EP_F_WR_SHUT   0x08u  /* we finished sending */
#define EP_F_ERROR     0x10u
#define EP_F_BIGBUF    0x20u  /* TLS: the gathering write buffer was grown */

struct ep {
    int fd;                 /* -1 when closed */
    SSL *ssl;               /* TLS endpoints only */
    const struct xprt_ops *ops;
    unsigned flags;
    uint32_t rd_ev, wr_ev;  /* event a blocked read/write waits for */
    int err;                /* last -errno, for messages */
};

extern const struct xprt_ops xprt_raw;

/* Wraps fd (already registered or not) as a plain endpoint. */
void ep_init_raw(struct ep *ep, int fd);

/* Read/write through the transport, keeping the readiness flags: -EAGAIN
 * clears the direction's MAYBE flag, a read of 0 sets EP_F_RD_EOF, any
 * other error sets EP_F_ERROR. */
ssize_t ep_read(struct ep *ep, void *p, size_t n);
ssize_t ep_write(struct ep *ep, const void *p, size_t n);

/* Writes what b holds to ep while it takes them, consuming it. Returns 1
 * when anything was written. */
struct buf;
int ep_write_buf(struct ep *ep, struct buf *b);

/* Sends buffered transport bytes (TLS records are gathered into large
 * writes); see xprt_ops.flush. */
int ep_flush(struct ep *ep);
static inline size_t ep_pending(const struct ep *ep) { return ep->ops->pending(ep); }

/* Marks readiness from an epoll event mask. */
void ep_on_events(struct ep *ep, uint32_t events);

/* The epoll mask for an endpoint that wants to read and/or write now. */
uint32_t ep_mask(const struct ep *ep, int want_rd, int want_wr);

/* Half-closes our sending side once. */
void ep_shutdown(struct ep *ep);

/* Unregisters from loop, frees the TLS state and closes fd. */
void ep_close(struct ep *ep, struct loop *loop);

static inline int ep_open(const struct ep *ep) { return ep->fd >= 0; }

#endif
