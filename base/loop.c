/* loop.c — epoll event loop with a generation-tagged fd table, a binary
 * min-heap of timers and a deferred-work list. */
#include "base/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

struct fd_slot {
    loop_io_fn fn;
    void *arg;
    uint32_t mask;
    uint32_t gen;
    int used;
};

struct loop {
    int epfd;
    int stop;
    uint64_t now;
    struct fd_slot *fds;
    size_t nfds;
    struct timer **heap;
    size_t nheap, capheap;
    struct loop_task *defer;         /* last queued first */
    struct loop_task *yield, *yrun;  /* for the next round; running now */
    void (*before_wait)(void *arg);
    void *before_arg;
};

static uint64_t clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct loop *loop_new(void)
{
    struct loop *loop = calloc(1, sizeof(*loop));

    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd == -1) {
        free(loop);
        return NULL;
    }
    loop->now = clock_ms();
    return loop;
}

void loop_free(struct loop *loop)
{
    if (!loop)
        return;
    close(loop->epfd);
    free(loop->fds);
    free(loop->heap);
    free(loop);
}

uint64_t loop_now(const struct loop *loop) { return loop->now; }
void loop_stop(struct loop *loop) { loop->stop = 1; }

void loop_set_before_wait(struct loop *loop, void (*fn)(void *arg), void *arg)
{
    loop->before_wait = fn;
    loop->before_arg = arg;
}

static int fd_table_grow(struct loop *loop, int fd)
{
    size_t n = loop->nfds ? loop->nfds : 64;
    struct fd_slot *v;

    if ((size_t)fd < loop->nfds)
        return 0;
    while (n <= (size_t)fd)
        n *= 2;
    v = realloc(loop->fds, n * sizeof(*v));
    if (!v)
        return -ENOMEM;
    memset(v + loop->nfds, 0, (n - loop->nfds) * sizeof(*v));
    loop->fds = v;
    loop->nfds = n;
    return 0;
}

static int loop_ctl(struct loop *loop, int op, int fd, uint32_t mask)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = mask;
    ev.data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)loop->fds[fd].gen << 32);
    return epoll_ctl(loop->epfd, op, fd, &ev) == -1 ? -errno : 0;
}

int loop_add(struct loop *loop, int fd, uint32_t mask, loop_io_fn fn, void *arg)
{
    struct fd_slot *s;
    int rc;

    if (fd < 0)
        return -EBADF;
    rc = fd_table_grow(loop, fd);
    if (rc)
        return rc;
    s = &loop->fds[fd];
    s->gen++;
    s->fn = fn;
    s->arg = arg;
    s->mask = mask;
    s->used = 1;
    rc = loop_ctl(loop, EPOLL_CTL_ADD, fd, mask);
    if (rc)
        s->used = 0;
    return rc;
}

int loop_mod(struct loop *loop, int fd, uint32_t mask)
{
    struct fd_slot *s;
    int rc;

    if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].used)
        return -EBADF;
    s = &loop->fds[fd];
    if (s->mask == mask)
        return 0;
    rc = loop_ctl(loop, EPOLL_CTL_MOD, fd, mask);
    if (rc == 0)
        s->mask = mask;
    return rc;
}

int loop_rebind(struct loop *loop, int fd, uint32_t mask, loop_io_fn fn, void *arg,
                int drop_fetched)
{
    struct fd_slot *s;
    int rc;

    if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].used)
        return -EBADF;
    s = &loop->fds[fd];
    s->fn = fn;
    s->arg = arg;
    if (!drop_fetched)
        return loop_mod(loop, fd, mask);
    s->gen++; /* fetched events carry the old generation */
    rc = loop_ctl(loop, EPOLL_CTL_MOD, fd, mask);
    if (rc == 0)
        s->mask = mask;
    return rc;
}

void loop_del(struct loop *loop, int fd)
{
    struct fd_slot *s;

    if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].used)
        return;
    s = &loop->fds[fd];
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    s->used = 0;
    s->gen++;
    s->fn = NULL;
    s->arg = NULL;
}

/* ---- timers: binary min-heap on when ---- */

static void heap_swap(struct loop *loop, size_t a, size_t b)
{
    struct timer *t = loop->heap[a];

    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->idx = (long)a;
    loop->heap[b]->idx = (long)b;
}

static void heap_up(struct loop *loop, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;

        if (loop->heap[p]->when <= loop->heap[i]->when)
            break;
        heap_swap(loop, p, i);
        i = p;
    }
}

static void heap_down(struct loop *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < loop->nheap && loop->heap[l]->when < loop->heap[m]->when)
            m = l;
        if (r < loop->nheap && loop->heap[r]->when < loop->heap[m]->when)
            m = r;
        if (m == i)
            break;
        heap_swap(loop, i, m);
        i = m;
    }
}

void loop_timer_del(struct loop *loop, struct timer *t)
{
    size_t i;

    /* A zeroed, never-armed timer (idx 0) must not remove someone else's. */
    if (t->idx < 0 || (size_t)t->idx >= loop->nheap || loop->heap[t->idx] != t)
        return;
    i = (size_t)t->idx;
    loop->nheap--;
    if (i != loop->nheap) {
        loop->heap[i] = loop->heap[loop->nheap];
        loop->heap[i]->idx = (long)i;
        heap_down(loop, i);
        heap_up(loop, i);
    }
    t->idx = -1;
}

void loop_timer_set(struct loop *loop, struct timer *t, uint64_t ms)
{
    loop_timer_del(loop, t);
    if (loop->nheap == loop->capheap) {
        size_t n = loop->capheap ? loop->capheap * 2 : 64;
        struct timer **v = realloc(loop->heap, n * sizeof(*v));

        if (!v)
            abort(); /* a timer that silently never fires would hang a client */
        loop->heap = v;
        loop->capheap = n;
    }
    t->when = loop->now + ms;
    t->idx = (long)loop->nheap;
    loop->heap[loop->nheap++] = t;
    heap_up(loop, (size_t)t->idx);
}

static void run_timers(struct loop *loop)
{
    while (loop->nheap && loop->heap[0]->when <= loop->now) {
        struct timer *t = loop->heap[0];

        loop_timer_del(loop, t);
        t->fn(loop, t);
    }
}

static int next_timeout(const struct loop *loop)
{
    uint64_t d;

    if (loop->defer || loop->yield)
        return 0;
    if (!loop->nheap)
        return 1000;
    if (loop->heap[0]->when <= loop->now)
        return 0;
    d = loop->heap[0]->when - loop->now;
    return d > 1000 ? 1000 : (int)d;
}

/* ---- deferred work ---- */

/* Queues are stacks (the order within a round does not matter) with
 * back-pointers, so that a task leaves any of them in O(1). */
static void task_push(struct loop_task **head, struct loop_task *t, void (*fn)(void *arg),
                      void *arg)
{
    if (t->pprev)
        return;
    t->fn = fn;
    t->arg = arg;
    t->next = *head;
    if (t->next)
        t->next->pprev = &t->next;
    *head = t;
    t->pprev = head;
}

void loop_task_cancel(struct loop_task *t)
{
    if (!t->pprev)
        return;
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    t->next = NULL;
    t->pprev = NULL;
}

/* Runs the tasks of *head until it stays empty; each is unlinked before
 * its call, which may free it or queue more. */
static void task_run(struct loop_task **head)
{
    while (*head) {
        struct loop_task *t = *head;

        loop_task_cancel(t);
        t->fn(t->arg);
    }
}

void loop_defer(struct loop *loop, struct loop_task *t, void (*fn)(void *arg), void *arg)
{
    task_push(&loop->defer, t, fn, arg);
}

void loop_run_deferred(struct loop *loop) { task_run(&loop->defer); }

void loop_yield(struct loop *loop, struct loop_task *t, void (*fn)(void *arg), void *arg)
{
    task_push(&loop->yield, t, fn, arg);
}

/* Runs the yields queued before this round; new ones wait for the next. */
static void run_yields(struct loop *loop)
{
    loop->yrun = loop->yield;
    loop->yield = NULL;
    if (loop->yrun)
        loop->yrun->pprev = &loop->yrun;
    task_run(&loop->yrun);
}

int loop_run(struct loop *loop)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];

    while (!loop->stop) {
        int n, i;

        if (loop->before_wait)
            loop->before_wait(loop->before_arg);
        n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, next_timeout(loop));
        if (n == -1 && errno != EINTR)
            return -errno;
        loop->now = clock_ms();
        for (i = 0; i < n; i++) {
            int fd = (int)(uint32_t)evs[i].data.u64;
            uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
            struct fd_slot *s = &loop->fds[fd];

            if (!s->used || s->gen != gen)
                continue; /* removed earlier in this round */
            s->fn(loop, fd, s->arg, evs[i].events);
        }
        run_yields(loop);
        loop_run_deferred(loop);
        run_timers(loop);
        loop_run_deferred(loop);
    }
    loop->stop = 0; /* a later loop_run() runs again */
    return 0;
}
