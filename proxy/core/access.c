/* access.c — the access log line and the per-request counters. */
#include "proxy/core/access.h"

#include <stdio.h>

#include "base/log.h"
#include "base/metrics.h"
#include "proxy/core/gen.h"
#include "proxy/core/metric_label.h"
#include "proxy/core/proxy.h"

/* Counters of a finished request, in this loop's own table. a->host is
 * what the client asked for: the label is the configured name it
 * matches, or "other" (metric_label.h), so clients cannot add series. */
static void access_count(struct metrics *m, const struct config *cfg, const struct access *a)
{
    char lb[512];

    metrics_add(m, "hubgate_requests_total",
                metric_label_request(lb, sizeof(lb), cfg, a->host, a->link, a->status), 1);
    metrics_add(m, "hubgate_bytes_total",
                metrics_label(lb, sizeof(lb), "direction", "in", "link", a->link, METRICS_END),
                (double)a->bytes_out);
    metrics_add(m, "hubgate_bytes_total",
                metrics_label(lb, sizeof(lb), "direction", "out", "link", a->link, METRICS_END),
                (double)a->bytes_in);
}

void access_log(struct proxy *px, const struct gen *gen, const struct access *a)
{
    const char *d = a->digest, *ok = a->verified ? "yes" : "no", *cr = a->cache;
    const char *reg = metric_label_registry(&gen->cfg, a->host);
    /* verified: hubgate hashed the whole body and it matched (see
     * [intercept] verify_digest); the client checks it either way */
    /* the 9 below, then cache, digest, verified and segments: a segmented
     * blob that fills the cache has all 13 */
    struct log_field f[13] = {
        LOG_STR("client", a->peer), LOG_STR("method", a->method), LOG_STR("host", a->host),
        LOG_STR("path", a->path), LOG_NUM("status", a->status), LOG_NUM("bytes", a->bytes_out),
        LOG_NUM("ms", a->ms), LOG_STR("link", a->link), LOG_STR("registry", reg),
    };
    size_t nf = 9;
    char line[1024], segs[32] = "";

    /* cache only for what the cache may serve; digest and verified only
     * for a blob; segments only for a segmented one */
    if (cr)
        f[nf++] = (struct log_field)LOG_STR("cache", cr);
    if (d) {
        f[nf++] = (struct log_field)LOG_STR("digest", d);
        f[nf++] = (struct log_field)LOG_STR("verified", ok);
        if (a->segments) {
            f[nf++] = (struct log_field)LOG_NUM("segments", a->segments);
            snprintf(segs, sizeof(segs), " segments=%u", a->segments);
        }
    }
    log_event(LOG_INFO, "access", f, nf,
              "access %s %s %s %s %d %lluB %llums link=%s registry=%s%s%s%s%s%s%s%s", a->peer,
              a->method, a->host, a->path, a->status, (unsigned long long)a->bytes_out,
              (unsigned long long)a->ms, a->link, reg, cr ? " cache=" : "", cr ? cr : "",
              d ? " digest=" : "", d ? d : "", d ? " verified=" : "", d ? ok : "", segs);
    if (px->metrics)
        access_count(px->metrics, &gen->cfg, a);
    if (px->recent) {
        snprintf(line, sizeof(line), "%s %s %s %d %lluB %s", a->method, a->host, a->path,
                 a->status, (unsigned long long)a->bytes_out, a->link);
        metrics_recent_add(px->recent, line);
    }
}
