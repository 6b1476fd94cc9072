/* loop.h — the event loop: epoll, an fd table, a timer heap and deferred
 * work run after each round of events.
 *
 * Every registration carries a generation number, so an event that was
 * already fetched for an fd that has since been removed (and perhaps
 * reused by accept) is dropped instead of reaching the wrong owner. */
#ifndef HUBGATE_LOOP_H
#define HUBGATE_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;

#define LOOP_RD EPOLLIN
#define LOOP_WR EPOLLOUT

/* events: EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP as epoll reported them. */
typedef void (*loop_io_fn)(struct loop *loop, int fd, void *arg, uint32_t events);

struct timer;
typedef void (*loop_timer_fn)(struct loop *loop, struct timer *t);

/* A timer is embedded in its owner; idx is its heap slot, or -1 when it is
 * not armed. */
struct timer {
    uint64_t when;          /* loop_now() milliseconds */
    long idx;
    loop_timer_fn fn;
    void *arg;
};

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* Registers fd (level-triggered) with mask LOOP_RD|LOOP_WR (may be 0).
 * Returns 0 or -errno. */
int loop_add(struct loop *loop, int fd, uint32_t mask, loop_io_fn fn, void *arg);
/* Changes the mask; a no-op when unchanged. Returns 0 or -errno. */
int loop_mod(struct loop *loop, int fd, uint32_t mask);
/* Gives a registered fd (one socket changing hands: an upstream connection
 * into or out of the pool) another owner and mask, without unregistering
 * it. drop_fetched: events already fetched for the old owner are dropped,
 * at the cost of one epoll_ctl; otherwise they reach the new owner, and
 * there is no system call unless the mask changes. Returns 0, -EBADF when
 * fd is not registered, or -errno. */
int loop_rebind(struct loop *loop, int fd, uint32_t mask, loop_io_fn fn, void *arg,
                int drop_fetched);
/* Unregisters fd; events already fetched for it are dropped. Does not
 * close it. */
void loop_del(struct loop *loop, int fd);

static inline void timer_init(struct timer *t, loop_timer_fn fn, void *arg)
{
    t->when = 0;
    t->idx = -1;
    t->fn = fn;
    t->arg = arg;
}
/* Arms (or re-arms) t to fire ms milliseconds from now. */
void loop_timer_set(struct loop *loop, struct timer *t, uint64_t ms);
/* Disarms t; safe when not armed. */
void loop_timer_del(struct loop *loop, struct timer *t);
static inline int timer_armed(const struct timer *t) { return t->idx >= 0; }

/* A queued call (deferred or yielded), kept in the object it is about (a
 * connection, a DNS request), so that queueing it needs no memory and
 * cannot fail. Zero-initialised means not queued. */
struct loop_task {
    struct loop_task *next, **pprev; /* pprev: NULL when not queued */
    void (*fn)(void *arg);
    void *arg;
};

/* Runs fn(arg) after the current round of events (used for frees that
 * must not happen under a caller's feet). t must stay valid until then;
 * a task already queued is left as it is. */
void loop_defer(struct loop *loop, struct loop_task *t, void (*fn)(void *arg), void *arg);

/* Runs the deferred work now (teardown outside the loop). */
void loop_run_deferred(struct loop *loop);

/* Runs fn(arg) once in the next round, after its events: for work that
 * stopped to let other connections have their turn. A task already queued
 * is left as it is. */
void loop_yield(struct loop *loop, struct loop_task *t, void (*fn)(void *arg), void *arg);

/* Takes t off its queue, if it is on one (its owner is going away). */
void loop_task_cancel(struct loop_task *t);

static inline int loop_task_queued(const struct loop_task *t) { return t->pprev != NULL; }

/* Monotonic milliseconds, refreshed once per round. */
uint64_t loop_now(const struct loop *loop);

/* Runs until loop_stop() (then it may be run again). Returns 0, or -errno
 * when epoll failed. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

/* Called at the start of every round, before epoll_wait. */
void loop_set_before_wait(struct loop *loop, void (*fn)(void *arg), void *arg);

#endif
