/* metrics_recent.c — the ring of recent requests shown on the status
 * page. See metrics.h. */
#include "base/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define METRICS_RECENT 50u
#define METRICS_LINE 512u

/* One ring for the whole process, under a lock, rather than one per loop:
 * the page shows the last 50 requests of all loops in the order they
 * ended, which per-loop rings would have to merge by timestamp, and a
 * per-loop ring would still need a lock (a scraper cannot read a line
 * atomically while its owner writes it). The lock is held for one copy of
 * a line of at most METRICS_LINE bytes per finished request (not per read
 * or write), which is small next to the request's own work. */
struct metrics_recent {
    pthread_mutex_t lock;
    char line[METRICS_RECENT][METRICS_LINE];
    size_t next;                /* slot the next line goes to */
    size_t n;                   /* lines held, up to METRICS_RECENT */
};

struct metrics_recent *metrics_recent_new(void)
{
    struct metrics_recent *r = calloc(1, sizeof(*r));

    if (r && pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void metrics_recent_free(struct metrics_recent *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void metrics_recent_add(struct metrics_recent *r, const char *line)
{
    char *slot;
    size_t i;

    if (!r || !line)
        return;
    pthread_mutex_lock(&r->lock);
    slot = r->line[r->next];
    snprintf(slot, METRICS_LINE, "%s", line);
    /* One line each: a newline inside would split it on the page. */
    for (i = 0; slot[i]; i++)
        if (slot[i] == '\n' || slot[i] == '\r')
            slot[i] = ' ';
    r->next = (r->next + 1) % METRICS_RECENT;
    if (r->n < METRICS_RECENT)
        r->n++;
    pthread_mutex_unlock(&r->lock);
}

void metrics_recent_each(struct metrics_recent *r, void (*fn)(void *arg, const char *line),
                         void *arg)
{
    size_t i, start;

    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    start = (r->next + METRICS_RECENT - r->n) % METRICS_RECENT;
    for (i = 0; i < r->n; i++)
        fn(arg, r->line[(start + i) % METRICS_RECENT]);
    pthread_mutex_unlock(&r->lock);
}
