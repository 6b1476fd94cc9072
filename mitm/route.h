/* route.h — the target of one attempt of a request on its link, and the
 * mapping of relay answers back to Docker Hub names (mitm internal). */
#ifndef HUBGATE_ROUTE_H
#define HUBGATE_ROUTE_H

#include <stddef.h>

#include "proxy/core/link.h"

struct exchange;

struct route {
    const struct link *via;   /* transport: SOCKS5/HTTP link, or direct */
    char host[256];           /* where TLS (or TCP) goes */
    unsigned port;
    int tls;
    char hosthdr[300];        /* Host header to send */
    const char *path;         /* request target to send */
    size_t path_len;
};

/* Fills r for the current attempt: link x->link (intercepted) or the
 * passthrough link (plain), following x->redir when set. Returns 0, or
 * -1 with *why. */
int route_attempt(struct exchange *x, struct route *r, const char **why);

/* The same route for an intercepted x (the same final URL when x->redir
 * is set) on link index link instead of x->link: through that link, or
 * through a relay link's transport to its relay or to the redirect
 * target. Returns 0, or -1 with *why. */
int route_on_link(struct exchange *x, int link, struct route *r, const char **why);

/* hdr_rewrite_fn (arg: the exchange): on relay links, a WWW-Authenticate realm
 * or a Location under the relay origin becomes the Docker Hub URL. */
int route_rewrite(void *arg, const char *name, size_t name_len, const char *value,
                  size_t value_len, char *out, size_t outlen);

#endif
