/* metrics.h — counters and gauges kept by the proxy, rendered in the
 * Prometheus text format by the admin endpoint.
 *
 * A series is a metric name plus a label string already in Prometheus
 * form without braces (e.g. `host="auth.docker.io",link="direct",code="200"`,
 * built with metrics_label()). Updates are cheap (a small hash table); the
 * proxy calls them on its own loop, never from another thread. */
#ifndef HUBGATE_METRICS_H
#define HUBGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Adds v to counter name{labels} (created at 0 on first use). labels may
 * be "" for none. */
void metrics_add(struct metrics *m, const char *name, const char *labels, double v);

/* Sets gauge name{labels} to v. */
void metrics_set(struct metrics *m, const char *name, const char *labels, double v);

/* Builds a label string into out: pairs of key, value (values escaped per
 * the text format: backslash, double quote, newline), terminated by
 * METRICS_END (a typed NULL: a bare NULL through "..." is undefined
 * behaviour where NULL is a plain 0, and cppcheck flags it). A pair that
 * does not fit is dropped whole. Example:
 * metrics_label(out, sizeof(out), "host", h, "code", "200", METRICS_END).
 * Returns out. */
#define METRICS_END ((const char *)0)
const char *metrics_label(char *out, size_t outlen, ...);

/* Appends the whole exposition (HELP and TYPE lines for every known metric
 * name, then every series, sorted: the same state renders the same bytes)
 * to *out, growing it as needed: *out is NULL (start empty) or a heap
 * string of *outlen bytes; on return *out is NUL-terminated, *outlen its
 * length, and the caller frees it (also after -1). Returns 0 or -1 (out of
 * memory). */
int metrics_render(const struct metrics *m, char **out, size_t *outlen);

/* Remembers one finished request for the status page (a ring of the last
 * 50): time, client, method, host, path, status, bytes, link. */
void metrics_recent(struct metrics *m, const char *line);

/* Calls fn for each remembered line, oldest first. */
void metrics_recent_each(const struct metrics *m, void (*fn)(void *arg, const char *line),
                         void *arg);

#endif
