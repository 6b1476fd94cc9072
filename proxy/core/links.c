/* links.c — upstream link list, health and choice. */
#include "proxy/core/links.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/core/registry.h"

#define HEALTH_MAX 64

struct links_health {
    pthread_mutex_t lock;
    size_t n;
    char name[HEALTH_MAX][300];
    uint64_t rest_until[HEALTH_MAX];
    char why[HEALTH_MAX][96];
};

struct links_health *links_health_new(void)
{
    struct links_health *h = calloc(1, sizeof(*h));

    if (h && pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

void links_health_free(struct links_health *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* The slot of name, made when create is set and there is room; -1 else.
 * Called with the lock held. */
static int health_slot(struct links_health *h, const char *name, int create)
{
    size_t i;

    for (i = 0; i < h->n; i++)
        if (strcmp(h->name[i], name) == 0)
            return (int)i;
    if (!create || h->n == HEALTH_MAX)
        return -1;
    snprintf(h->name[h->n], sizeof(h->name[h->n]), "%s", name);
    return (int)h->n++;
}

/* rest_until of link i, from the shared table when there is one. */
static uint64_t rest_of(const struct links *l, size_t i, char *why, size_t whylen)
{
    uint64_t t;
    int k;

    if (!l->health) {
        if (why)
            snprintf(why, whylen, "%s", l->why[i]);
        return l->rest_until[i];
    }
    pthread_mutex_lock(&l->health->lock);
    k = health_slot(l->health, l->v[i]->name, 0);
    t = k >= 0 ? l->health->rest_until[k] : 0;
    if (why)
        snprintf(why, whylen, "%s", k >= 0 ? l->health->why[k] : "");
    pthread_mutex_unlock(&l->health->lock);
    return t;
}

int links_init(struct links *l, const struct str_list *vias, int allow_relay,
               char *err, size_t errlen)
{
    size_t i;

    memset(l, 0, sizeof(*l)); /* health is attached afterwards */
    if (vias->n > LINKS_MAX) {
        snprintf(err, errlen, "too many links in via (at most %d)", LINKS_MAX);
        return -1;
    }
    for (i = 0; i < vias->n; i++) {
        if (link_parse(vias->v[i], allow_relay, &l->v[i], err, errlen) != 0) {
            links_free(l);
            return -1;
        }
        l->n++;
    }
    if (l->n == 0 && link_parse("direct", 0, &l->v[l->n++], err, errlen) != 0) {
        l->n = 0;
        return -1;
    }
    return 0;
}

void links_free(struct links *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        link_free(l->v[i]);
    memset(l, 0, sizeof(*l));
}

int links_have_relay(const struct links *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (l->v[i]->kind == LINK_RELAY || l->v[i]->kind == LINK_RELAY_MAP)
            return 1;
    return 0;
}

static int relay_maps(const struct config *cfg, const char *host)
{
    size_t i;

    for (i = 0; i < cfg->relay_hosts.n; i++)
        if (strcasecmp(cfg->relay_hosts.v[i], host) == 0)
            return 1;
    return 0;
}

uint32_t links_unable(const struct links *l, const struct config *cfg, const char *host)
{
    uint32_t m = 0;
    size_t i;

    for (i = 0; i < l->n; i++)
        if ((l->v[i]->kind == LINK_RELAY && !registry_is_hub_host(host)) ||
            (l->v[i]->kind == LINK_RELAY_MAP && !relay_maps(cfg, host)))
            m |= 1u << i;
    return m;
}

int links_check_hosts(const struct links *l, const struct config *cfg, char *err,
                      size_t errlen)
{
    uint32_t all = l->n >= 32 ? 0xffffffffu : (1u << l->n) - 1;
    size_t i;

    if (l->n == 0)
        return 0;
    for (i = 0; i < cfg->intercept_hosts.n; i++) {
        const char *h = cfg->intercept_hosts.v[i];

        /* Docker Hub's blob CDN is reached by following redirects, which
         * relays map; a client does not ask for it itself */
        if (!registry_of_host(h) && registry_is_hub_host(h))
            continue;
        if ((links_unable(l, cfg, h) & all) != all)
            continue;
        snprintf(err, errlen,
                 "no link can carry %s: a relay:https://HOST link relays Docker "
                 "Hub only and a relay map only the hosts of [relay]; add \"%s = "
                 "https://YOUR-RELAY\" under [relay] with via = relay, or a socks5://, http:// "
                 "or direct link to via",
                 h, h);
        return -1;
    }
    return 0;
}

int links_pick(const struct links *l, uint64_t now, uint32_t tried)
{
    uint64_t best_t = 0;
    int best = -1;
    size_t i;

    for (i = 0; i < l->n; i++) {
        uint64_t t;

        if (tried & (1u << i))
            continue;
        t = rest_of(l, i, NULL, 0);
        if (t <= now)
            return (int)i;
        if (best < 0 || t < best_t) {
            best = (int)i;
            best_t = t;
        }
    }
    return best;
}

int links_awake(const struct links *l, int i, uint64_t now)
{
    return i >= 0 && (size_t)i < l->n && rest_of(l, (size_t)i, NULL, 0) <= now;
}

void links_rest(struct links *l, int i, uint64_t now, uint64_t ms, uint64_t cap_ms,
                const char *why)
{
    int k;

    if (i < 0 || (size_t)i >= l->n)
        return;
    if (cap_ms && ms > cap_ms)
        ms = cap_ms;
    /* With shared health, l belongs to a generation every loop reads at
     * once: only the locked table is written. */
    if (!l->health) {
        l->rest_until[i] = now + ms;
        snprintf(l->why[i], sizeof(l->why[i]), "%s", why);
        return;
    }
    pthread_mutex_lock(&l->health->lock);
    k = health_slot(l->health, l->v[i]->name, 1);
    if (k >= 0) {
        l->health->rest_until[k] = now + ms;
        snprintf(l->health->why[k], sizeof(l->health->why[k]), "%s", why);
    }
    pthread_mutex_unlock(&l->health->lock);
}

const char *links_state(const struct links *l, int i, uint64_t now, char *out, size_t outlen)
{
    char why[96];
    uint64_t t = rest_of(l, (size_t)i, why, sizeof(why));

    if (t > now)
        snprintf(out, outlen, "resting %llus: %s", (unsigned long long)((t - now + 999) / 1000),
                 why);
    else
        snprintf(out, outlen, "ok");
    return out;
}
