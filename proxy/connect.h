/* connect.h — a client's CONNECT: intercept or tunnel. */
#ifndef HUBGATE_CONNECT_H
#define HUBGATE_CONNECT_H

#include <stddef.h>

#include "proxy/conn.h"

/* Handles "CONNECT authority": authority[0..n) is host:port. The request
 * head has been consumed; any bytes after it stay in c->cin. Answers 400
 * for a malformed target, then either starts the intercepted session
 * (TLS toward the client with our leaf) or connects and becomes a tunnel. */
void connect_start(struct conn *c, const char *authority, size_t n);

/* Sends "200 Connection established" on the client socket, which has
 * sent nothing yet. Returns how many bytes of it did not fit (normally
 * 0), written after the first n into out when out is not NULL; -1 when
 * they did not fit and out is NULL, or on an error. */
int connect_established(struct conn *c, struct buf *out);

#endif
