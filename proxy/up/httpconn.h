/* httpconn.h — CONNECT through an upstream HTTP proxy: the request we send
 * and the check of its answer, over struct buf, no I/O. The answer is
 * parsed with llhttp (mitm/http/http1.h), never by hand. */
#ifndef HUBGATE_HTTPCONN_H
#define HUBGATE_HTTPCONN_H

#include <stdint.h>

#include "mitm/http/http1.h"
#include "base/buf.h"

struct httpconn {
    struct http1 h;
    int status;             /* the proxy's status code once known */
};

/* Appends "CONNECT host:port HTTP/1.1", Host, and Proxy-Authorization:
 * Basic when user is not NULL, to out. IPv6 hosts are bracketed.
 * Returns 0 or -1 (no room or bad input). */
int httpconn_request(struct buf *out, const char *host, uint16_t port,
                     const char *user, const char *pass);

void httpconn_init(struct httpconn *hc);

/* Consumes the proxy's answer head from in (bytes after the head stay).
 * Returns 1 when it answered 2xx (tunnel open), 0 when more bytes are
 * needed, -1 otherwise with *err a static description ("HTTP proxy: 407
 * proxy authentication required", "HTTP proxy: refused (403)", "HTTP
 * proxy: malformed answer"). */
int httpconn_response(struct httpconn *hc, struct buf *in, const char **err);

#endif
