/* seglanes.c — the links a segmented fetch spreads its connections over
 * ([upstream] segments_across_links): the request's own link first, then
 * the other links of via that are awake and can carry the host, each with
 * the transfer's final URL (after redirects) routed through it. A lane
 * whose connection cannot be opened, or whose answer is not the range
 * asked for, is left for the rest of the transfer; its segment goes back
 * in line for the others. */
#include "mitm/segfetch_int.h"

#include <limits.h>

#include "base/log.h"
#include "proxy/core/links.h"

int seglanes_init(struct segfetch *f)
{
    struct exchange *x = f->x;
    const struct gen *g = x->gen;
    uint64_t now = loop_now(x->px->loop);
    const char *why = NULL;
    uint32_t skip;
    size_t i;

    if (route_attempt(x, &f->lane[0].route, &why) != 0)
        return -1;
    f->lane[0].link = x->link;
    f->lane[0].direct = x->up.direct;
    f->nlanes = 1;
    if (!g->cfg.segments_across_links)
        return 0;
    /* links this request failed on, and those that cannot carry its host
     * (a relay of another registry would serve another image) */
    skip = x->tried | links_unable(&g->links, &g->cfg, x->host) | (1u << x->link);
    for (i = 0; i < g->links.n && f->nlanes < SEGF_MAX_LANES; i++) {
        struct seglane *l = &f->lane[f->nlanes];

        if (((skip >> i) & 1u) || !links_awake(&g->links, (int)i, now) ||
            route_on_link(x, (int)i, &l->route, &why) != 0)
            continue;
        l->link = (int)i;
        l->direct = !l->route.via || l->route.via->kind == LINK_DIRECT;
        f->nlanes++;
    }
    return 0;
}

unsigned seglane_pick(const struct segfetch *f, unsigned prefer)
{
    const struct links *links = &f->x->gen->links;
    uint64_t now = loop_now(f->x->px->loop);
    unsigned i, k, best = 0, best_n = UINT_MAX;

    for (i = 0; i < f->nlanes; i++) {
        unsigned n = i == 0 && f->probe ? 1u : 0u;

        /* another link that began to rest (a request failed on it) is
         * left alone until it wakes */
        if (f->lane[i].dead || (i && !links_awake(links, f->lane[i].link, now)))
            continue;
        for (k = 0; k < f->nconn; k++)
            n += f->conn[k].ticket && f->conn[k].lane == i;
        if (n < best_n || (n == best_n && i == prefer)) {
            best = i;
            best_n = n;
        }
    }
    return best;
}

void seglane_fail(struct segfetch *f, unsigned lane, const char *why, int rest)
{
    struct exchange *x = f->x;
    struct gen *g = x->gen;

    if (lane == 0 || lane >= f->nlanes || f->lane[lane].dead)
        return;
    f->lane[lane].dead = 1;
    if (rest)
        links_rest(&g->links, f->lane[lane].link, loop_now(x->px->loop), SEGF_LANE_REST_MS,
                   g->cfg.retry_after_cap_ms, why);
    log_warn("client %s: %s %s: a segment connection on %s failed (%s); this blob's "
             "segments go over the other links", x->cl.peer, x->host, x->log_path,
             seglane_name(f, lane), why);
}

const char *seglane_name(const struct segfetch *f, unsigned lane)
{
    return f->x->gen->links.v[f->lane[lane].link]->name;
}
