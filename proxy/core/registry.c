/* registry.c — the table of registries known by name. Facts from their
 * challenges (WWW-Authenticate realms); blob and CDN hosts are not listed:
 * hubgate follows redirects itself, by status, wherever they point. */
#include "proxy/core/registry.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct registry registries[] = {
    {"docker.io", {"registry-1.docker.io", "auth.docker.io", NULL},
     "auth.docker.io", "/token", "https://index.docker.io/v1/"},
    {"ghcr.io", {"ghcr.io", NULL, NULL}, "ghcr.io", "/token", "ghcr.io"},
    {"quay.io", {"quay.io", NULL, NULL}, "quay.io", "/v2/auth", "quay.io"},
    {"registry.k8s.io", {"registry.k8s.io", NULL, NULL}, NULL, NULL, "registry.k8s.io"},
    {"gcr.io", {"gcr.io", NULL, NULL}, "gcr.io", "/v2/token", "gcr.io"},
    {"nvcr.io", {"nvcr.io", NULL, NULL}, "nvcr.io", "/proxy_auth", "nvcr.io"},
    {"mcr.microsoft.com", {"mcr.microsoft.com", NULL, NULL}, NULL, NULL, "mcr.microsoft.com"},
};

#define NREG (sizeof(registries) / sizeof(registries[0]))

const struct registry *registry_find(const char *name)
{
    size_t i;

    for (i = 0; i < NREG; i++)
        if (strcasecmp(registries[i].name, name) == 0)
            return &registries[i];
    return NULL;
}

const struct registry *registry_of_host(const char *host)
{
    size_t i, j;

    for (i = 0; i < NREG; i++)
        for (j = 0; j < REGISTRY_MAX_HOSTS && registries[i].hosts[j]; j++)
            if (strcasecmp(registries[i].hosts[j], host) == 0)
                return &registries[i];
    return NULL;
}

int registry_is_hub_host(const char *host)
{
    const struct registry *r = registry_of_host(host);

    return (r && strcmp(r->name, "docker.io") == 0) ||
           strcasecmp(host, "production.cloudflare.docker.com") == 0;
}

void registry_names(char *out, size_t outlen)
{
    size_t i, n = 0;

    out[0] = '\0';
    for (i = 0; i < NREG && n < outlen; i++) {
        int w = snprintf(out + n, outlen - n, "%s%s", i ? " " : "", registries[i].name);

        if (w < 0)
            break;
        n += (size_t)w;
    }
}
