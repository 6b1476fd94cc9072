/* up_error.h — why an upstream attempt failed, as a kind and static words.
 *
 * The kind alone decides what the client is answered (403 for a refused
 * destination, 502 otherwise) and the metric reason; the words are for
 * people (logs, the JSON error body) and may be reworded freely. */
#ifndef HUBGATE_UP_ERROR_H
#define HUBGATE_UP_ERROR_H

#include <stddef.h>

enum up_err {
    UP_ERR_NONE = 0,
    UP_ERR_DNS,         /* the name did not resolve (or the lookup timed out) */
    UP_ERR_CONNECT,     /* no TCP connection to any address */
    UP_ERR_TIMEOUT,     /* connect, proxy or TLS handshake took too long */
    UP_ERR_PROXY,       /* the SOCKS5 or HTTP proxy refused or broke the handshake */
    UP_ERR_TLS,         /* TLS handshake or certificate verification failed */
    UP_ERR_POLICY,      /* the destination is refused ([proxy] deny_targets, loops...) */
    UP_ERR_NOMEM,       /* out of memory */
    UP_ERR_ROUTE,       /* no usable route: no [relay] entry, a redirect to a bad URL */
    UP_ERR_STATUS,      /* the origin answered 429, 502, 503 or 504 */
    UP_ERR_CLOSED,      /* the origin closed the connection before answering */
};

struct up_error {
    enum up_err kind;
    const char *what;   /* static prefix ("TLS: certificate verify failed: "), or "" */
    const char *detail; /* static detail */
    int status;         /* UP_ERR_STATUS: the status the origin answered */
};

/* Writes the words of e ("connect: Connection refused", "answered 429")
 * into out (NUL-terminated, cut to outlen) and returns out. */
const char *up_error_str(const struct up_error *e, char *out, size_t outlen);

/* The status a client is answered for a failure of this kind. */
int up_error_http_status(enum up_err kind);

/* The "reason" label of hubgate_upstream_failures_total. */
const char *up_error_reason(enum up_err kind);

#endif
