/* admin_int.h — internals of the admin endpoint shared by admin.c (the
 * HTTP server) and admin_page.c (the status page). */
#ifndef HUBGATE_ADMIN_INT_H
#define HUBGATE_ADMIN_INT_H

#include <stddef.h>
#include <time.h>

#include "proxy/core/proxy.h"

#include "proxy/version.h"

/* Connections open in all workers: CONN_TUNNEL, CONN_MITM, or CONN_HTTP
 * for all client connections. */
unsigned admin_count(const struct proxy *px, int kind);

/* The CA of the current configuration generation, or NULL. */
struct ca *admin_ca(const struct proxy *px);

/* Renders the status page of px (listen: the admin address shown;
 * started: when the endpoint started) into a new heap string *out of
 * *outlen bytes, which the caller frees. Returns 0 or -1 (out of memory;
 * *out is then NULL). */
int admin_page(struct proxy *px, const char *listen, time_t started, char **out,
               size_t *outlen);

#endif
