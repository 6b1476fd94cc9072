/* listener.h — the listening socket: accept, limits, EMFILE back-off. */
#ifndef HUBGATE_LISTENER_H
#define HUBGATE_LISTENER_H

#include "proxy/proxy.h"

/* Opens [proxy] listen and starts accepting. Returns 0, or -1 with a
 * message in err. */
int listener_start(struct proxy *px, int reuseport, char *err, size_t errlen);

/* Stops accepting and closes the socket (draining). */
void listener_stop(struct proxy *px);

#endif
