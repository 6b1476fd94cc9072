/* registry.h — the registries hubgate knows by name ([intercept]
 * registries): which hosts each needs intercepted, where its token service
 * lives, and the key its credentials have in a docker config.json. One
 * table (registry.c), so that adding a registry is one row. */
#ifndef HUBGATE_REGISTRY_H
#define HUBGATE_REGISTRY_H

#include <stddef.h>

#define REGISTRY_MAX_HOSTS 3

struct registry {
    const char *name;                       /* as in image references: "ghcr.io" */
    const char *hosts[REGISTRY_MAX_HOSTS];  /* intercepted: the registry and its token
                                             * realm (blob hosts hubgate reaches itself
                                             * by following redirects) */
    const char *realm_host;                 /* the token service's host, NULL: no tokens */
    const char *realm_path;                 /* its path: "/token" */
    const char *auth_key;                   /* config.json "auths" key */
};

/* The registry called name (any case), or NULL. */
const struct registry *registry_find(const char *name);

/* The registry whose hosts include host (any case), or NULL. */
const struct registry *registry_of_host(const char *host);

/* 1 when host is one of Docker Hub's: its registry, its token service or
 * its blob CDN (production.cloudflare.docker.com), any case. A relay given
 * as relay:https://HOST relays Docker Hub and these hosts only. */
int registry_is_hub_host(const char *host);

/* Writes the known names, space-separated, into out (for messages). */
void registry_names(char *out, size_t outlen);

#endif
