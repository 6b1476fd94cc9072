/* finisher.c — fills finished off the event loop. Checking a fill's
 * digest is cheap, but its fsync is not: about 200 ms for 256 MiB on a
 * virtual disk (bench/README.md), the whole loop stalled meanwhile. So a
 * loop hands the fill to one thread per cache, which fsyncs, renames and
 * records it (cache_fill_finish) in the order the fills were handed over.
 * Nothing on the loop waits for the outcome: readers follow the fill's
 * atomic state, COMPLETE only after the rename; a tag learnt for the blob
 * waits in cache_tag_later() until the fill is kept; a failure is logged
 * here. */
#include "mitm/cache/cache_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

void cache_finisher_init(struct cache *c)
{
    pthread_mutex_init(&c->fin_mu, NULL);
    pthread_cond_init(&c->fin_work, NULL);
    pthread_cond_init(&c->fin_idle, NULL);
    c->fin_head = NULL;
    c->fin_tail = &c->fin_head;
}

/* Finishes f, saying so when it is not kept. */
static void fin_one(struct cache_fill *f)
{
    char who[sizeof(f->who)], hex[65];
    int rc;

    memcpy(who, f->who, sizeof(who));
    memcpy(hex, f->hex, sizeof(hex));
    rc = cache_fill_finish(f);      /* frees f */
    if (rc != 0)
        log_warn("%s: sha256:%s not kept in the cache: %s", who, hex,
                 rc == -EBADMSG ? "it does not match its digest" : strerror(-rc));
}

static void *fin_main(void *arg)
{
    struct cache *c = arg;
    struct cache_fill *f;

    pthread_mutex_lock(&c->fin_mu);
    for (;;) {
        while (!c->fin_head && !c->fin_stop)
            pthread_cond_wait(&c->fin_work, &c->fin_mu);
        f = c->fin_head;
        if (!f)
            break;                  /* stopping, and nothing left */
        c->fin_head = f->fin_next;
        if (!c->fin_head)
            c->fin_tail = &c->fin_head;
        c->fin_busy = 1;
        pthread_mutex_unlock(&c->fin_mu);
        fin_one(f);
        pthread_mutex_lock(&c->fin_mu);
        c->fin_busy = 0;
        if (!c->fin_head)
            pthread_cond_broadcast(&c->fin_idle);
    }
    pthread_mutex_unlock(&c->fin_mu);
    return NULL;
}

/* Starts the thread with every signal blocked: signals are the main
 * thread's. Called with fin_mu held. */
static int fin_start(struct cache *c)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&c->fin_thread, NULL, fin_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_warn("cache: cannot start the thread that finishes fills (%s); finishing them on "
                 "the event loop, which stalls it during each fsync", strerror(rc));
        return -rc;
    }
    c->fin_started = 1;
    return 0;
}

void cache_fill_finish_later(struct cache_fill *f, const char *who)
{
    struct cache *c = f->c;
    int queued = 0;

    snprintf(f->who, sizeof(f->who), "%s", who ? who : "cache");
    f->fin_next = NULL;
    pthread_mutex_lock(&c->fin_mu);
    /* a failed start is tried again at the next fill */
    if (!c->fin_stop && (c->fin_started || fin_start(c) == 0)) {
        *c->fin_tail = f;
        c->fin_tail = &f->fin_next;
        pthread_cond_signal(&c->fin_work);
        queued = 1;
    }
    pthread_mutex_unlock(&c->fin_mu);
    if (!queued)
        fin_one(f);
}

void cache_fill_finish_wait(struct cache *c)
{
    pthread_mutex_lock(&c->fin_mu);
    while (c->fin_head || c->fin_busy)
        pthread_cond_wait(&c->fin_idle, &c->fin_mu);
    pthread_mutex_unlock(&c->fin_mu);
}

void cache_finisher_stop(struct cache *c)
{
    int started;

    pthread_mutex_lock(&c->fin_mu);
    c->fin_stop = 1;
    started = c->fin_started;
    c->fin_started = 0;
    pthread_cond_signal(&c->fin_work);
    pthread_mutex_unlock(&c->fin_mu);
    if (started)
        pthread_join(c->fin_thread, NULL);  /* after it finished the queue */
    pthread_cond_destroy(&c->fin_work);
    pthread_cond_destroy(&c->fin_idle);
    pthread_mutex_destroy(&c->fin_mu);
}
