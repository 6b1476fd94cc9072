/* access.c — the access log line and the per-request counters. */
#include "proxy/core/access.h"

#include <stdio.h>

#include "base/log.h"
#include "base/metrics.h"
#include "proxy/core/gen.h"
#include "proxy/core/proxy.h"

static void access_count(struct metrics *m, const struct access *a)
{
    char code[8], lb[512];

    snprintf(code, sizeof(code), "%d", a->status);
    metrics_add(m, "hubgate_requests_total",
                metrics_label(lb, sizeof(lb), "host", a->host, "link", a->link, "code", code,
                              METRICS_END), 1);
    metrics_add(m, "hubgate_bytes_total",
                metrics_label(lb, sizeof(lb), "direction", "in", "link", a->link, METRICS_END),
                (double)a->bytes_out);
    metrics_add(m, "hubgate_bytes_total",
                metrics_label(lb, sizeof(lb), "direction", "out", "link", a->link, METRICS_END),
                (double)a->bytes_in);
}

void access_log(struct proxy *px, const struct gen *gen, const struct access *a)
{
    const char *d = a->digest, *ok = a->verified ? "yes" : "no";
    char line[1024];

    /* verified: hubgate hashed the whole body and it matched (see
     * [intercept] verify_digest); the client checks it either way */
    if (gen->cfg.log_json)
        log_info("{\"event\":\"access\",\"client\":\"%s\",\"method\":\"%s\",\"host\":\"%s\","
                 "\"path\":\"%s\",\"status\":%d,\"bytes\":%llu,\"ms\":%llu,\"link\":\"%s\""
                 "%s%s%s%s%s}", a->peer, a->method, a->host, a->path, a->status,
                 (unsigned long long)a->bytes_out, (unsigned long long)a->ms, a->link,
                 d ? ",\"digest\":\"" : "", d ? d : "", d ? "\",\"verified\":\"" : "",
                 d ? ok : "", d ? "\"" : "");
    else
        log_info("access %s %s %s %s %d %lluB %llums link=%s%s%s%s%s", a->peer, a->method,
                 a->host, a->path, a->status, (unsigned long long)a->bytes_out,
                 (unsigned long long)a->ms, a->link, d ? " digest=" : "", d ? d : "",
                 d ? " verified=" : "", d ? ok : "");
    if (px->metrics) {
        access_count(px->metrics, a);
        snprintf(line, sizeof(line), "%s %s %s %d %lluB %s", a->method, a->host, a->path,
                 a->status, (unsigned long long)a->bytes_out, a->link);
        metrics_recent(px->metrics, line);
    }
}
