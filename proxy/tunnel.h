/* tunnel.h — the byte pump of a passthrough CONNECT: both directions
 * copied untouched, with bounded buffers, back-pressure and half-close. */
#ifndef HUBGATE_TUNNEL_H
#define HUBGATE_TUNNEL_H

#include "proxy/conn.h"

/* Moves what can move now; closes c when both sides are done or one
 * failed. */
void tunnel_pump(struct conn *c);

/* Gives the tunnel's pipes back to the pool (or closes them). */
void tunnel_release_pipes(struct conn *c);

/* Closes the pooled pipes (the worker went idle). */
void tunnel_trim(struct proxy *px);

/* What each endpoint waits for. */
void tunnel_interest(const struct conn *c, int *crd, int *cwr, int *urd, int *uwr);

#endif
