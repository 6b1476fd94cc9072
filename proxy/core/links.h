/* links.h — the configured upstream links at run time: parsed entries of
 * [upstream] via in order, each with its health (resting until a time
 * after a failure), and the choice of which one a request tries. */
#ifndef HUBGATE_LINKS_H
#define HUBGATE_LINKS_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/core/config.h"
#include "proxy/core/link.h"

#define LINKS_MAX 32

/* Link health shared by every worker (and kept across reloads): a link
 * that failed rests for all of them. Keyed by link name. */
struct links_health;

struct links_health *links_health_new(void);
void links_health_free(struct links_health *h);

struct links {
    size_t n;
    struct link *v[LINKS_MAX];
    struct links_health *health;      /* not owned; NULL: local only */
    uint64_t rest_until[LINKS_MAX];   /* local health when health is NULL */
    char why[LINKS_MAX][96];
};

/* Parses every entry of vias. Returns 0, or -1 with a message in err. */
int links_init(struct links *l, const struct str_list *vias, int allow_relay,
               char *err, size_t errlen);
void links_free(struct links *l);

/* 1 when a relay (a link whose TLS ends at a third party) is among them. */
int links_have_relay(const struct links *l);

/* The links that cannot carry a request for the intercepted host, as a
 * bitmask like links_pick's tried: a relay:https://HOST link relays Docker
 * Hub only (registry_is_hub_host), a relay map only the hosts of [relay].
 * Sending another registry's request there would fetch Docker Hub's image
 * of the same name, and hand it that registry's credentials. */
uint32_t links_unable(const struct links *l, const struct config *cfg, const char *host);

/* Refuses a configuration where some intercepted host has no link in via
 * that can carry it (links_unable). Returns 0, or -1 with a message that
 * names the host and the fix in err. */
int links_check_hosts(const struct links *l, const struct config *cfg, char *err,
                      size_t errlen);

/* The first awake link; if all rest, the one that wakes first. tried is a
 * bitmask of links this request already used; returns -1 when all were
 * tried. */
int links_pick(const struct links *l, uint64_t now, uint32_t tried);

/* 1 when link i is not resting at now (a link that failed and whose rest
 * is not over), else 0; 0 for an index out of range. */
int links_awake(const struct links *l, int i, uint64_t now);

/* A link failed: it rests for ms (capped by cap_ms). */
void links_rest(struct links *l, int i, uint64_t now, uint64_t ms, uint64_t cap_ms,
                const char *why);

/* "ok", or "resting: WHY" for the status page, into out. */
const char *links_state(const struct links *l, int i, uint64_t now, char *out, size_t outlen);

#endif
