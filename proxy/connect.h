/* connect.h — a client's CONNECT: intercept or tunnel. */
#ifndef HUBGATE_CONNECT_H
#define HUBGATE_CONNECT_H

#include <stddef.h>

#include "proxy/conn.h"

/* Handles "CONNECT authority": authority[0..n) is host:port. The request
 * head has been consumed; any bytes after it stay in c->cin. Answers 400
 * for a malformed target, then either starts the intercepted session
 * (mitm_start) or connects and becomes a tunnel. */
void connect_start(struct conn *c, const char *authority, size_t n);

#endif
