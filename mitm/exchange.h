/* exchange.h — request and response heads of one HTTP exchange (internal
 * to mitm/). */
#ifndef HUBGATE_EXCHANGE_H
#define HUBGATE_EXCHANGE_H

#include "proxy/conn.h"

/* A request head is complete in c->cin: decide the origin, queue the
 * rewritten head in c->uout, consume it from c->cin, and reuse or open
 * the upstream. CONNECT in plain mode hands over to connect_start().
 * Returns 0, or -1 after answering an error. */
int exchange_request_head(struct conn *c);

/* A response head is complete in c->uin: queue it rewritten in c->cout
 * and consume it. Returns 0, or -1 after answering an error. */
int exchange_response_head(struct conn *c);

/* Opens a fresh upstream for the queued request (tls or not). Returns 0,
 * or -1 after answering an error. */
int exchange_connect(struct conn *c, int tls);

#endif
