/* metrics.h — counters, gauges and histograms kept by the proxy, rendered in the
 * Prometheus text format by the admin endpoint.
 *
 * A series is a metric name plus a label string already in Prometheus
 * form without braces (e.g. `host="auth.docker.io",link="direct",code="200"`,
 * built with metrics_label()). Labels must come from a bounded set (names
 * from the configuration, link names, status codes): a series, once made,
 * lives as long as its table, so a label a client chooses would grow the
 * table without bound.
 *
 * Each event loop owns a table and is the only thread that updates it;
 * the scraper renders the sum of all tables (metrics_render()) from
 * another thread while they are updated. Adding to a counter that exists
 * takes no lock. The ring of recent requests (struct metrics_recent) is
 * separate: one for the whole process, locked. */
#ifndef HUBGATE_METRICS_H
#define HUBGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct metrics;

struct metrics *metrics_new(void);

/* Frees m and its series; no other thread may still use it. NULL is a
 * no-op. */
void metrics_free(struct metrics *m);

/* Adds v to counter name{labels} (created at 0 on first use). labels may
 * be "" for none. Only m's owner thread may call it. m NULL: no-op. */
void metrics_add(struct metrics *m, const char *name, const char *labels, double v);

/* Sets gauge name{labels} to v, stamped with the time of the call: when
 * several tables hold the same gauge, the render shows the value set
 * last. Only m's owner thread may call it. m NULL: no-op. */
void metrics_set(struct metrics *m, const char *name, const char *labels, double v);

/* Adds observation v to histogram name{labels} (a name the known table
 * gives bucket bounds for; any other name is ignored): its cumulative
 * NAME_bucket{labels,le="B"} counters, NAME_sum and NAME_count; labels
 * must not hold le. Only m's owner thread may call it. m NULL: no-op. */
void metrics_observe(struct metrics *m, const char *name, const char *labels, double v);

/* The sum of counter name{labels} over the n tables t[] (NULL entries
 * skipped): what a scrape would show. Any thread. */
double metrics_sum(struct metrics *const *t, size_t n, const char *name, const char *labels);

/* Number of series m holds (for tests; an estimate while m's owner may add
 * one). */
size_t metrics_nseries(const struct metrics *m);

/* Builds a label string into out: pairs of key, value (values escaped per
 * the text format: backslash, double quote, newline), terminated by
 * METRICS_END (a typed NULL: a bare NULL through "..." is undefined
 * behaviour where NULL is a plain 0, and cppcheck flags it). A pair that
 * does not fit is dropped whole. Example:
 * metrics_label(out, sizeof(out), "host", h, "code", "200", METRICS_END).
 * Returns out. */
#define METRICS_END ((const char *)0)
const char *metrics_label(char *out, size_t outlen, ...);

/* Appends the exposition of the n tables t[] (NULL entries skipped),
 * merged: counters summed, of each gauge the value set last. HELP and TYPE
 * lines come for every known metric name, then every series, sorted: the
 * same state renders the same bytes. Safe from any thread while the
 * tables' owners update them. *out is NULL (start empty) or a heap string
 * of *outlen bytes; on return *out is NUL-terminated, *outlen its length,
 * and the caller frees it (also after -1). Returns 0 or -1 (out of
 * memory). */
int metrics_render(struct metrics *const *t, size_t n, char **out, size_t *outlen);

/* ---- recent requests, for the status page ------------------------------ */

struct metrics_recent;

struct metrics_recent *metrics_recent_new(void);
void metrics_recent_free(struct metrics_recent *r);

/* Remembers one finished request (a ring of the last 50): time, client,
 * method, host, path, status, bytes, link. Any thread. r NULL: no-op. */
void metrics_recent_add(struct metrics_recent *r, const char *line);

/* Calls fn for each remembered line, oldest first. Any thread. */
void metrics_recent_each(struct metrics_recent *r, void (*fn)(void *arg, const char *line),
                         void *arg);

#endif
