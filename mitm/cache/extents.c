/* extents.c — the byte ranges a fill holds beyond its contiguous prefix
 * (cache_int.h): a sorted array of disjoint, non-touching [start, end)
 * ranges, neighbours merged as they are added. A segmented fetch writes
 * at most SEG_MAX_CONNS segments ahead at a time, so the array stays
 * small and a linear scan is enough. */
#include "mitm/cache/cache_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cache_extents_add(struct cache_extents *e, uint64_t start, uint64_t end)
{
    size_t i = 0, j;

    if (start >= end)
        return 0;
    /* the first range that ends at or after start may touch [start, end) */
    while (i < e->n && e->v[i].end < start)
        i++;
    if (i == e->n || e->v[i].start > end) {
        if (e->n == e->cap) {
            size_t cap = e->cap ? e->cap * 2 : 8;
            struct cache_extent *v = realloc(e->v, cap * sizeof(*v));

            if (!v)
                return -ENOMEM;
            e->v = v;
            e->cap = cap;
        }
        memmove(&e->v[i + 1], &e->v[i], (e->n - i) * sizeof(*e->v));
        e->v[i].start = start;
        e->v[i].end = end;
        e->n++;
        return 0;
    }
    /* merge every range from i on that touches the new one */
    if (start < e->v[i].start)
        e->v[i].start = start;
    for (j = i + 1; j < e->n && e->v[j].start <= end; j++)
        ;
    if (e->v[j - 1].end > end)
        end = e->v[j - 1].end;
    if (e->v[i].end < end)
        e->v[i].end = end;
    memmove(&e->v[i + 1], &e->v[j], (e->n - j) * sizeof(*e->v));
    e->n -= j - i - 1;
    return 0;
}

uint64_t cache_extents_take(struct cache_extents *e, uint64_t at)
{
    uint64_t end = at;
    size_t k = 0;

    while (k < e->n && e->v[k].start <= end) {
        if (e->v[k].end > end)
            end = e->v[k].end;
        k++;
    }
    memmove(&e->v[0], &e->v[k], (e->n - k) * sizeof(*e->v));
    e->n -= k;
    return end;
}

void cache_extents_free(struct cache_extents *e)
{
    free(e->v);
    memset(e, 0, sizeof(*e));
}
