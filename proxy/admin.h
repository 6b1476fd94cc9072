/* admin.h — the admin HTTP endpoint ([admin] listen, default
 * 127.0.0.1:3129), served on the proxy's own loop: non-blocking, one
 * request per connection (Connection: close), bounded head size, a
 * deadline per connection.
 *
 *   GET /          status page (self-contained HTML: version, uptime,
 *                  listen addresses, links and their state, recent pulls)
 *   GET /metrics   Prometheus text format 0.0.4 (metrics_render() of every
 *                  worker's table)
 *   GET /healthz   200 "ok" (503 "draining" once SIGTERM was seen)
 *   GET /ca.crt    the CA certificate, PEM
 * HEAD is answered like GET without a body; other methods get 405, other
 * paths 404. Peers outside [proxy] allow get 403. */
#ifndef HUBGATE_ADMIN_H
#define HUBGATE_ADMIN_H

#include <stddef.h>

#include "proxy/core/proxy.h"

struct admin;

/* Starts listening on listen ("host:port", "[v6]:port", numeric host) and
 * sets px->admin. An empty or NULL listen disables the endpoint: returns 0
 * and leaves px->admin NULL. Needs px->loop and px->cfg; px->ca, the
 * metric tables (px->metrics, or with px->npeers those of px->peers[]) and
 * px->recent may be NULL (the routes that need them answer 503 / render
 * an empty set). Returns 0, or -1 with a message in err. */
int admin_start(struct proxy *px, const char *listen, char *err, size_t errlen);

/* Closes the listener and every admin connection, frees px->admin and sets
 * it to NULL. Safe when not started. */
void admin_stop(struct proxy *px);

#endif
