/* metric_label.h — label values for metrics, drawn only from the
 * configuration, never from what a client sends.
 *
 * A metric series lives as long as the process (base/metrics.h), so a
 * label taken from a client's CONNECT or Host name would let a client add
 * series without bound, one per random name. Host labels are therefore
 * the configured names ([intercept] hosts, [relay] hosts) or "other". */
#ifndef HUBGATE_METRIC_LABEL_H
#define HUBGATE_METRIC_LABEL_H

#include <stddef.h>

#include "proxy/core/config.h"

/* Returns the configured name host matches (any case, a trailing dot
 * ignored), as the configuration spells it, or "other". The result lives
 * as long as cfg. host NULL: "other". */
const char *metric_label_host(const struct config *cfg, const char *host);

/* The registry a configured host belongs to: its name in the table of
 * registries known by name (registry.h; "docker.io" for auth.docker.io),
 * else the configured host itself (a registry of its own, listed in
 * [intercept] hosts), else "other". */
const char *metric_label_registry(const struct config *cfg, const char *host);

/* Builds the labels of hubgate_requests_total for one answered request
 * into out: registry (metric_label_registry()), host
 * (metric_label_host()), link (a link's name: from the configuration),
 * code (the status: 0 for none, 100..599, else "other").
 * Returns out. */
const char *metric_label_request(char *out, size_t outlen, const struct config *cfg,
                                 const char *host, const char *link, int status);

#endif
