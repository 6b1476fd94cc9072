/* uri.h — splitting absolute URIs ("scheme://[user:pass@]host[:port][/path]")
 * into spans, for absolute-form request targets and link URLs. */
#ifndef HUBGATE_URI_H
#define HUBGATE_URI_H

#include <stddef.h>

struct uri {
    const char *scheme; size_t scheme_len;
    const char *user;   size_t user_len;    /* userinfo before ':' (may be 0) */
    const char *pass;   size_t pass_len;
    const char *host;   size_t host_len;    /* without brackets */
    unsigned port;                          /* 0 when absent */
    const char *path;   size_t path_len;    /* from the first '/' or '?', may be 0 */
};

/* Splits s[0..n). Returns 0, or -1 when it is not an absolute URI with a
 * host, or the port is not 1..65535. */
int uri_parse(const char *s, size_t n, struct uri *u);

/* Checks a host for use in a request line, a DNS query or a certificate:
 * 1..253 bytes of [A-Za-z0-9._-] or an IPv6 literal (no brackets).
 * Returns 1 when acceptable. */
int uri_host_ok(const char *host, size_t n);

/* Returns 1 when host[0..n) names the same host as want (any case,
 * trailing dot ignored). */
int uri_host_eq(const char *host, size_t n, const char *want);

#endif
