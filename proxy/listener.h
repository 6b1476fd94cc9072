/* listener.h — the listening socket: accept, limits, EMFILE back-off. */
#ifndef HUBGATE_LISTENER_H
#define HUBGATE_LISTENER_H

#include "proxy/core/proxy.h"

/* Opens [proxy] listen (once, for all workers). Returns the socket, or
 * -1 with a message in err. */
int listener_open(const struct config *cfg, char *err, size_t errlen);

/* Starts accepting on lfd (owned by the caller). Returns 0, or -1 with a
 * message in err. */
int listener_start(struct proxy *px, int lfd, char *err, size_t errlen);

/* Stops accepting (draining); the socket stays open for its owner. */
void listener_stop(struct proxy *px);

#endif
