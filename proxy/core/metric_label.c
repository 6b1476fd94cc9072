/* metric_label.c — bounded label values. See metric_label.h. */
#include "proxy/core/metric_label.h"

#include <stdio.h>
#include <string.h>

#include "base/metrics.h"
#include "base/uri.h"
#include "proxy/core/registry.h"

static const char *list_match(const struct str_list *l, const char *host, size_t n)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (uri_host_eq(host, n, l->v[i]))
            return l->v[i];
    return NULL;
}

const char *metric_label_host(const struct config *cfg, const char *host)
{
    const char *name;
    size_t n;

    if (!host)
        return "other";
    n = strlen(host);
    name = list_match(&cfg->intercept_hosts, host, n);
    if (!name)
        name = list_match(&cfg->relay_hosts, host, n);
    return name ? name : "other";
}

const char *metric_label_registry(const struct config *cfg, const char *host)
{
    const char *h = metric_label_host(cfg, host);
    const struct registry *reg = registry_of_host(h);

    return reg ? reg->name : h;
}

const char *metric_label_request(char *out, size_t outlen, const struct config *cfg,
                                 const char *host, const char *link, int status)
{
    char code[8] = "other";

    /* 0: no answer yet (the client went first). llhttp lets any three
     * digits through, and an origin the client picked (plain forwarding)
     * must not mint 900 codes either. */
    if (status == 0 || (status >= 100 && status <= 599))
        snprintf(code, sizeof(code), "%d", status);
    return metrics_label(out, outlen, "registry", metric_label_registry(cfg, host), "host",
                         metric_label_host(cfg, host), "link", link, "code", code, METRICS_END);
}
