/* mitm.h — the HTTP exchange pipeline of a client connection: requests
 * read from the client (plain, or TLS terminated with our leaf), sent on
 * to the origin, responses streamed back. Used for intercepted CONNECTs
 * and for plain absolute-form HTTP. */
#ifndef HUBGATE_MITM_H
#define HUBGATE_MITM_H

#include <openssl/ssl.h>

#include "proxy/conn.h"

/* After "CONNECT host:443" to an intercepted host: answers 200 and starts
 * TLS toward the client with the leaf for c->host. */
void mitm_start(struct conn *c);

/* Moves what can move now in either direction. */
void mitm_pump(struct conn *c);

/* What each endpoint waits for. */
void mitm_interest(const struct conn *c, int *crd, int *cwr, int *urd, int *uwr);

/* Drops the exchange in progress (upstream and response state) after an
 * error answer was queued in c->cout. */
void mitm_abort_exchange(struct conn *c);

#endif
