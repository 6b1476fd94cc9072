/* hdr.h — rewriting message heads on their way through: hop-by-hop fields
 * removed (RFC 9110 7.6.1), request line in origin-form, Host kept. */
#ifndef HUBGATE_HDR_H
#define HUBGATE_HDR_H

#include <stddef.h>

#include "mitm/http/http1.h"
#include "base/buf.h"

/* Returns 1 when header i of h is connection-specific: Connection,
 * Proxy-Connection, Keep-Alive, TE, Upgrade, Proxy-Authorization,
 * Proxy-Authenticate, or a field named by a Connection option.
 * Transfer-Encoding is kept: bodies pass with their framing unchanged. */
int hdr_is_hop(const struct http1 *h, const char *base, unsigned i);

#define HDR_REQ_FOLLOW   0x1u  /* a redirect we follow: only Accept, Range, User-Agent */
#define HDR_REQ_NO_RANGE 0x2u  /* the attempt sends its own Range */
#define HDR_REQ_HEAD     0x4u  /* sent as HEAD, whatever the client's method */

/* Appends "METHOD target HTTP/1.1", "Host: host", the end-to-end headers
 * of h (the client's Host and those flags exclude left out), then extra
 * (complete "Name: value\r\n" lines, may be NULL), to out. Returns 0 or
 * -ENOSPC. */
int hdr_write_request(struct buf *out, const struct http1 *h, const char *base,
                      const char *target, size_t target_len, const char *host,
                      unsigned flags, const char *extra);

/* Rewrites a header value on its way to the client: writes the new value
 * to out and returns its length, or returns -1 to keep it. */
typedef int (*hdr_rewrite_fn)(void *arg, const char *name, size_t name_len,
                              const char *value, size_t value_len, char *out, size_t outlen);

#define HDR_RESP_CLOSE   0x1u  /* add "Connection: close" */
#define HDR_RESP_DECHUNK 0x2u  /* the body goes out de-chunked: no Transfer-Encoding */

/* Appends the response status line and end-to-end headers (through rw
 * when not NULL), then "Connection: close" with HDR_RESP_CLOSE. Returns 0
 * or -ENOSPC. */
int hdr_write_response(struct buf *out, const struct http1 *h, const char *base,
                       unsigned flags, hdr_rewrite_fn rw, void *rw_arg);

/* Copies the value of header name (first occurrence) into out as a
 * NUL-terminated string. Returns its length, or -1 when absent or longer
 * than outlen - 1. */
int hdr_get(const struct http1 *h, const char *base, const char *name,
            char *out, size_t outlen);

/* Replaces out's content with a complete Docker-style error answer:
 * status line, Content-Type: application/json, Content-Length, hdr (one
 * "Name: value" line without CRLF, or NULL), Connection: close, and the
 * body {"errors":[{"code":code,"message":msg,"detail":null}]} with msg
 * JSON-escaped. Returns 0 or -ENOSPC. */
int hdr_write_error(struct buf *out, int status, const char *code, const char *msg,
                    const char *hdr);

#endif
