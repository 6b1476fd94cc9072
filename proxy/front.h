/* front.h — the client side of a connection in HTTP or MITM mode: reading
 * and checking requests (CONNECT, absolute-form http://, or origin-form in
 * an intercepted session), handing each to an exchange
 * (mitm/exchange.h), and what follows its end: the next request, or a
 * close that lets the client read our answer first. */
#ifndef HUBGATE_FRONT_H
#define HUBGATE_FRONT_H

#include "proxy/conn.h"

/* Moves what can move now in either direction. */
void front_pump(struct conn *c);

/* What the client endpoint waits for. */
void front_interest(const struct conn *c, int *crd, int *cwr);

#endif
