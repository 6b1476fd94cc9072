/* policy.h — which CONNECT targets hubgate intercepts. */
#ifndef HUBGATE_POLICY_H
#define HUBGATE_POLICY_H

#include <stddef.h>

#include "proxy/core/config.h"

/* When host (any case, an optional trailing dot ignored) is in [intercept]
 * hosts and port is 443, returns that configured name (lower case, no
 * trailing dot: the one name leaves, SNI and Host are checked against);
 * hubgate terminates that TLS itself. Else NULL: the same name on another
 * port is tunnelled. */
const char *policy_intercept(const struct config *cfg, const char *host, unsigned port);

struct sockaddr;

/* Checks a destination the client chose (passthrough CONNECT, plain
 * forwarding going out directly) on its resolved address: refuses
 * hubgate's own listening socket, [proxy] deny_targets, and loopback
 * targets for clients that are not on loopback. Returns 1 when allowed,
 * else 0 with *why. */
int policy_dest_ok(const struct config *cfg, const struct sockaddr *sa, int client_loopback,
                   const char **why);

/* Returns 1 when sa is a loopback address (127/8, ::1, v4-mapped 127/8). */
int policy_is_loopback(const struct sockaddr *sa);

/* Returns 1 when port may be CONNECTed to ([proxy] connect_ports). */
int policy_port_ok(const struct config *cfg, unsigned port);

#endif
