/* access.h — the access log line and counters of a finished request or
 * tunnel: one format, one place, for exchanges (mitm/) and tunnels
 * (proxy/). Nothing secret is passed in: paths come without their query. */
#ifndef HUBGATE_ACCESS_H
#define HUBGATE_ACCESS_H

#include <stdint.h>

struct proxy;
struct gen;

struct access {
    const char *peer;        /* "1.2.3.4:5678" */
    const char *method;      /* "GET", "CONNECT", "-" */
    const char *host;
    const char *path;        /* without query string; ":443" for a tunnel */
    const char *link;        /* link name */
    int status;
    uint64_t bytes_out;      /* to the client */
    uint64_t bytes_in;       /* from the client */
    uint64_t ms;             /* duration */
    const char *digest;      /* "sha256:<hex>" of a blob, or NULL */
    int verified;            /* the blob's digest was checked and matched */
    const char *cache;       /* hit, miss, fill, join, bypass; NULL: not cacheable */
    unsigned segments;       /* segments of a segmented blob fetch, else 0 */
};

/* Writes the line (text or JSON per [log] format), counts the request in
 * the metrics and remembers it for the status page. */
void access_log(struct proxy *px, const struct gen *gen, const struct access *a);

#endif
