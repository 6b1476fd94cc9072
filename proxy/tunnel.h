/* tunnel.h — the byte pump of a passthrough CONNECT: both directions
 * copied untouched, with bounded buffers, back-pressure and half-close.
 * The tunnel owns the upstream endpoint, the splice pipe of the upload
 * direction and the buffer of the download direction; the client
 * side is its connection's (c->cl, and c->cin for bytes the client sent
 * right after CONNECT). */
#ifndef HUBGATE_TUNNEL_H
#define HUBGATE_TUNNEL_H

#include <openssl/ssl.h>

#include "base/buf.h"
#include "base/xprt.h"
#include "proxy/conn.h"

/* A pipe that splice() moves a tunnel's bytes through, taken from the
 * proxy's pool while bytes flow and given back when the tunnel idles. */
struct spipe {
    int fd[2];          /* -1 when none */
    size_t len;         /* bytes in the pipe */
};

struct tunnel {
    struct ep up;                /* the destination (or proxy link) */
    struct buf uin;              /* toward the client: the 200 answer, then every
                                  * byte from upstream (copied, not spliced) */
    struct spipe sp_cu;          /* client to upstream */
    uint64_t bytes_in, bytes_out;
};

/* Turns c into a tunnel over the connected socket fd (not registered yet):
 * queues the CONNECT 200 first, registers fd, and starts pumping. On
 * failure closes fd and c. */
void tunnel_start(struct conn *c, int fd);

/* Moves what can move now; closes c when both sides are done or one
 * failed. */
void tunnel_pump(struct conn *c);

/* What the client endpoint waits for; sets the upstream's interest. */
void tunnel_interest(struct conn *c, int *crd, int *cwr);

/* Stops the upstream's events (the connection is closing). */
void tunnel_stop(struct tunnel *t, struct loop *loop);

/* Closes the upstream, gives the pipes back to px's pool, frees t. */
void tunnel_free(struct tunnel *t, struct proxy *px);

/* Closes the pooled pipes (the worker went idle). */
void tunnel_trim(struct proxy *px);

#endif
