/* exchange.h — one HTTP exchange: request head, attempts, response head
 * (internal to mitm/). */
#ifndef HUBGATE_EXCHANGE_H
#define HUBGATE_EXCHANGE_H

#include <stdint.h>

#include "proxy/conn.h"
#include "proxy/up/up_error.h"

/* A request head is complete in c->cin: keep it in c->tmpl, pick the
 * first awake link, and send the first attempt. CONNECT in plain mode
 * hands over to connect_start(). Returns 0, or -1 after answering an
 * error. */
int exchange_request_head(struct conn *c);

/* Builds the head of the current attempt (link c->link, c->redir,
 * c->resuming) into c->uout and takes a pooled connection or opens one.
 * Returns 0, or -1 when it answered an error or failed over. */
int exchange_send(struct conn *c);

/* The current attempt failed with e: rest its link (rest_ms, or the
 * default) and send the request on the next one, or answer (403 for a
 * refused destination, else 502) naming the last error when none is left
 * or the request can no longer be replayed. */
void exchange_failover(struct conn *c, const struct up_error *e, uint64_t rest_ms);

/* Counts an upstream failure (metrics) by its kind. */
void exchange_count_failure(struct conn *c, enum up_err kind);

/* A response head is complete in c->uin: act on it (see response.c) and
 * consume it. Returns 0, or -1 when it answered an error, failed over or
 * closed. */
int exchange_response_head(struct conn *c);

/* Returns c->up to the pool when reusable, else closes it. */
void exchange_release_upstream(struct conn *c, int reusable);

/* http1 body hook of responses: counts and hashes what the client gets. */
void exchange_on_body(void *arg, const char *p, size_t n);

/* The name of the link serving the exchange, for logs. */
const char *exchange_link_name(const struct conn *c);

#endif
