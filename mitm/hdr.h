/* hdr.h — rewriting message heads on their way through: hop-by-hop fields
 * removed (RFC 9110 7.6.1), request line in origin-form, Host kept. */
#ifndef HUBGATE_HDR_H
#define HUBGATE_HDR_H

#include <stddef.h>

#include "mitm/http1.h"
#include "proxy/buf.h"

/* Returns 1 when header i of h is connection-specific: Connection,
 * Proxy-Connection, Keep-Alive, TE, Upgrade, Proxy-Authorization,
 * Proxy-Authenticate, or a field named by a Connection option.
 * Transfer-Encoding is kept: bodies pass with their framing unchanged. */
int hdr_is_hop(const struct http1 *h, const char *base, unsigned i);

/* Appends "METHOD target HTTP/1.1", every end-to-end header of h, and
 * "Host: host" when host is not NULL (replacing the client's), to out.
 * Returns 0 or -ENOSPC. */
int hdr_write_request(struct buf *out, const struct http1 *h, const char *base,
                      const char *target, size_t target_len, const char *host);

/* Appends the response status line and end-to-end headers, then
 * "Connection: close" when close is set. Returns 0 or -ENOSPC. */
int hdr_write_response(struct buf *out, const struct http1 *h, const char *base,
                       int close);

/* Copies the value of header name (first occurrence) into out as a
 * NUL-terminated string. Returns its length, or -1 when absent or longer
 * than outlen - 1. */
int hdr_get(const struct http1 *h, const char *base, const char *name,
            char *out, size_t outlen);

#endif
