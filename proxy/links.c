/* links.c — upstream link list, health and choice. */
#include "proxy/links.h"

#include <stdio.h>
#include <string.h>

int links_init(struct links *l, const struct str_list *vias, int allow_relay,
               char *err, size_t errlen)
{
    size_t i;

    memset(l, 0, sizeof(*l));
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

int links_pick(const struct links *l, uint64_t now, uint32_t tried)
{
    int best = -1;
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (tried & (1u << i))
            continue;
        if (l->rest_until[i] <= now)
            return (int)i;
        if (best < 0 || l->rest_until[i] < l->rest_until[best])
            best = (int)i;
    }
    return best;
}

void links_rest(struct links *l, int i, uint64_t now, uint64_t ms, uint64_t cap_ms,
                const char *why)
{
    if (i < 0 || (size_t)i >= l->n)
        return;
    if (cap_ms && ms > cap_ms)
        ms = cap_ms;
    l->rest_until[i] = now + ms;
    snprintf(l->why[i], sizeof(l->why[i]), "%s", why);
}

const char *links_state(const struct links *l, int i, uint64_t now, char *out, size_t outlen)
{
    if (l->rest_until[i] > now)
        snprintf(out, outlen, "resting %llus: %s",
                 (unsigned long long)((l->rest_until[i] - now + 999) / 1000), l->why[i]);
    else
        snprintf(out, outlen, "ok");
    return out;
}
