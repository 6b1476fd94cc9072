/* test_loop.c — base/loop: timers in deadline order, re-arm and delete
 * (also from callbacks), deferred work after the round's events, stale
 * events dropped by generation, handing an fd to a new owner, yields to the
 * next round, registration errors.
 *
 * Nothing here is timed as pass/fail beyond "it happened at all"; an
 * alarm() turns a hang into a failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/loop.h"

#define MAXLOG 512

struct trace {
    struct loop *loop;
    char ev[MAXLOG];        /* one letter per callback, in order */
    size_t n;
    uint64_t when[MAXLOG];  /* loop_now() at each */
    int stop_after;         /* stop the loop after this many entries */
};

static struct trace tr;

static void note(char c)
{
    assert_true(tr.n + 1 < MAXLOG);
    tr.when[tr.n] = loop_now(tr.loop);
    tr.ev[tr.n++] = c;
    tr.ev[tr.n] = '\0';
    if (tr.stop_after && (int)tr.n >= tr.stop_after)
        loop_stop(tr.loop);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_loop: the loop hung\n";

    if (write(2, msg, sizeof(msg) - 1) < 0) {
        /* exiting anyway */
    }
    _exit(1);
}

static int setup(void **state)
{
    (void)state;
    memset(&tr, 0, sizeof(tr));
    tr.loop = loop_new();
    if (!tr.loop)
        return -1;
    signal(SIGALRM, on_alarm);
    alarm(20);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    alarm(0);
    loop_run_deferred(tr.loop);
    loop_free(tr.loop);
    tr.loop = NULL;
    return 0;
}

/* ---- timers ------------------------------------------------------------- */

static void on_timer_letter(struct loop *loop, struct timer *t)
{
    (void)loop;
    note(*(const char *)t->arg);
}

static void on_timer_stop(struct loop *loop, struct timer *t)
{
    (void)t;
    note('!');
    loop_stop(loop);
}

static void test_timers_fire_in_deadline_order(void **state)
{
    struct timer a, b, c, d, stop;
    uint64_t t0 = loop_now(tr.loop);

    (void)state;
    timer_init(&a, on_timer_letter, "a");
    timer_init(&b, on_timer_letter, "b");
    timer_init(&c, on_timer_letter, "c");
    timer_init(&d, on_timer_letter, "d");
    timer_init(&stop, on_timer_stop, NULL);
    loop_timer_set(tr.loop, &c, 30);
    loop_timer_set(tr.loop, &a, 0);
    loop_timer_set(tr.loop, &d, 45);
    loop_timer_set(tr.loop, &b, 15);
    loop_timer_set(tr.loop, &stop, 60);
    assert_true(timer_armed(&a) && timer_armed(&d));
    assert_int_equal(loop_run(tr.loop), 0);
    assert_string_equal(tr.ev, "abcd!");
    /* none early */
    assert_true(tr.when[1] >= t0 + 15);
    assert_true(tr.when[2] >= t0 + 30);
    assert_true(tr.when[3] >= t0 + 45);
    assert_false(timer_armed(&a) || timer_armed(&b) || timer_armed(&stop));
}

static void test_rearm_and_delete(void **state)
{
    struct timer a, b, c, stop;

    (void)state;
    timer_init(&a, on_timer_letter, "a");
    timer_init(&b, on_timer_letter, "b");
    timer_init(&c, on_timer_letter, "c");
    timer_init(&stop, on_timer_stop, NULL);
    loop_timer_set(tr.loop, &a, 5);
    loop_timer_set(tr.loop, &b, 10);
    loop_timer_set(tr.loop, &c, 15);
    loop_timer_set(tr.loop, &stop, 40);
    loop_timer_set(tr.loop, &a, 25);      /* re-armed later: once, after c */
    loop_timer_del(tr.loop, &b);          /* never fires */
    assert_false(timer_armed(&b));
    loop_timer_del(tr.loop, &b);          /* twice is harmless */
    loop_timer_set(tr.loop, &c, 20);      /* re-armed to a nearby time */
    assert_int_equal(loop_run(tr.loop), 0);
    assert_string_equal(tr.ev, "ca!");
}

/* A callback that deletes a timer due at the same moment stops it. */
static void on_timer_kill(struct loop *loop, struct timer *t)
{
    note('k');
    loop_timer_del(loop, t->arg);
}

static void test_delete_from_callback(void **state)
{
    struct timer k1, k2, stop;

    (void)state;
    /* Both due together; whichever runs first deletes the other. */
    timer_init(&k1, on_timer_kill, &k2);
    timer_init(&k2, on_timer_kill, &k1);
    timer_init(&stop, on_timer_stop, NULL);
    loop_timer_set(tr.loop, &k1, 5);
    loop_timer_set(tr.loop, &k2, 5);
    loop_timer_set(tr.loop, &stop, 30);
    assert_int_equal(loop_run(tr.loop), 0);
    assert_string_equal(tr.ev, "k!");
    assert_false(timer_armed(&k1) || timer_armed(&k2));
}

/* A periodic timer re-arming itself from its callback. */
static int periodic_left;

static void on_timer_periodic(struct loop *loop, struct timer *t)
{
    note('p');
    if (--periodic_left > 0)
        loop_timer_set(loop, t, 3);
    else
        loop_stop(loop);
}

static void test_rearm_from_callback(void **state)
{
    struct timer p;

    (void)state;
    periodic_left = 5;
    timer_init(&p, on_timer_periodic, NULL);
    loop_timer_set(tr.loop, &p, 1);
    assert_int_equal(loop_run(tr.loop), 0);
    assert_string_equal(tr.ev, "ppppp");
    assert_true(tr.when[4] >= tr.when[0] + 12);
    assert_false(timer_armed(&p));
}

/* Many timers, some deleted: the rest fire in deadline order, each no
 * earlier than due (the heap under churn). */
#define NT 300

struct ntimer {
    struct timer t;
    uint64_t due;
    int fired, deleted;
};

static struct ntimer nts[NT];
static uint64_t last_due;
static int nfired;

static void on_ntimer(struct loop *loop, struct timer *t)
{
    struct ntimer *n = t->arg;

    assert_false(n->deleted);
    assert_false(n->fired);
    assert_true(n->due >= last_due);
    assert_true(loop_now(loop) >= n->due);
    last_due = n->due;
    n->fired = 1;
    nfired++;
}

static void test_heap_under_churn(void **state)
{
    struct timer stop;
    unsigned seed = 12345;
    int i, want = 0;

    (void)state;
    last_due = 0;
    nfired = 0;
    for (i = 0; i < NT; i++) {
        uint64_t ms;

        seed = seed * 1103515245u + 12345u;
        ms = (seed >> 16) % 80;
        memset(&nts[i], 0, sizeof(nts[i]));
        timer_init(&nts[i].t, on_ntimer, &nts[i]);
        loop_timer_set(tr.loop, &nts[i].t, ms);
        nts[i].due = loop_now(tr.loop) + ms;
    }
    for (i = 0; i < NT; i++) {
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 3 == 0) {
            loop_timer_del(tr.loop, &nts[i].t);
            nts[i].deleted = 1;
        } else if ((seed >> 16) % 3 == 1) {
            uint64_t ms = (seed >> 20) % 80;    /* re-armed */

            loop_timer_set(tr.loop, &nts[i].t, ms);
            nts[i].due = loop_now(tr.loop) + ms;
        }
    }
    for (i = 0; i < NT; i++)
        want += !nts[i].deleted;
    timer_init(&stop, on_timer_stop, NULL);
    loop_timer_set(tr.loop, &stop, 120);
    assert_int_equal(loop_run(tr.loop), 0);
    assert_int_equal(nfired, want);
}

/* ---- fds, deferred work, generations ------------------------------------ */

static int pa[2], pb[2];
static struct loop_task tasks[4];

static void on_deferred(void *arg)
{
    (void)arg;
    note('D');
}

static void on_deferred_chain(void *arg)
{
    (void)arg;
    note('C');
    loop_defer(tr.loop, &tasks[1], on_deferred, NULL);
}

/* Each readable pipe: drains it and defers work; the deferred work must
 * not run before the other pipe's callback in the same round. */
static void on_pipe(struct loop *loop, int fd, void *arg, uint32_t events)
{
    char buf[16];

    (void)arg;
    assert_true(events & LOOP_RD);
    if (read(fd, buf, sizeof(buf)) < 0)
        fail_msg("read: %s", strerror(errno));
    note('R');
    loop_del(loop, fd);
    loop_defer(loop, &tasks[fd == pa[0] ? 2 : 3], on_deferred, NULL);
}

static void on_timer_check_stop(struct loop *loop, struct timer *t)
{
    (void)t;
    loop_stop(loop);
}

static void test_deferred_runs_after_events(void **state)
{
    struct timer stop;

    (void)state;
    assert_int_equal(pipe2(pa, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(pipe2(pb, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(write(pa[1], "a", 1), 1);
    assert_int_equal(write(pb[1], "b", 1), 1);
    assert_int_equal(loop_add(tr.loop, pa[0], LOOP_RD, on_pipe, NULL), 0);
    assert_int_equal(loop_add(tr.loop, pb[0], LOOP_RD, on_pipe, NULL), 0);
    timer_init(&stop, on_timer_check_stop, NULL);
    loop_timer_set(tr.loop, &stop, 20);
    assert_int_equal(loop_run(tr.loop), 0);
    /* both events of the round first, then both deferred calls */
    assert_string_equal(tr.ev, "RRDD");
    close(pa[0]);
    close(pa[1]);
    close(pb[0]);
    close(pb[1]);
}

static void test_deferred_may_defer(void **state)
{
    (void)state;
    loop_defer(tr.loop, &tasks[0], on_deferred_chain, NULL);
    loop_run_deferred(tr.loop);
    assert_string_equal(tr.ev, "CD");
    loop_run_deferred(tr.loop);           /* nothing left */
    assert_string_equal(tr.ev, "CD");
}

/* The first callback of a round removes the other fd and registers a new
 * pipe under the same number: the event fetched for the old one must not
 * reach the new owner. */
static int other_fd[2];
static int reused;

static void on_new_owner(struct loop *loop, int fd, void *arg, uint32_t events)
{
    (void)loop;
    (void)fd;
    (void)arg;
    (void)events;
    note('N');
}

static void on_killer(struct loop *loop, int fd, void *arg, uint32_t events)
{
    int victim_fd = fd == pa[0] ? pb[0] : pa[0];
    int p[2];
    char c;

    (void)arg;
    (void)events;
    note('K');
    if (read(fd, &c, 1) < 0)
        fail_msg("read: %s", strerror(errno));
    loop_del(loop, fd);
    loop_del(loop, victim_fd);
    close(victim_fd);
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    if (p[0] != victim_fd) {
        /* Put the new read end on the old number. */
        assert_int_equal(dup3(p[0], victim_fd, O_CLOEXEC), victim_fd);
        close(p[0]);
        p[0] = victim_fd;
    }
    reused = p[0];
    other_fd[0] = p[0];
    other_fd[1] = p[1];
    /* Not readable: on_new_owner must not run at all. */
    assert_int_equal(loop_add(loop, p[0], LOOP_RD, on_new_owner, NULL), 0);
    if (fd == pa[0])
        pb[0] = -1;
    else
        pa[0] = -1;
}

static void test_stale_event_dropped(void **state)
{
    struct timer stop;
    int remaining;

    (void)state;
    assert_int_equal(pipe2(pa, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(pipe2(pb, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(write(pa[1], "a", 1), 1);
    assert_int_equal(write(pb[1], "b", 1), 1);
    assert_int_equal(loop_add(tr.loop, pa[0], LOOP_RD, on_killer, NULL), 0);
    assert_int_equal(loop_add(tr.loop, pb[0], LOOP_RD, on_killer, NULL), 0);
    timer_init(&stop, on_timer_check_stop, NULL);
    loop_timer_set(tr.loop, &stop, 30);
    assert_int_equal(loop_run(tr.loop), 0);
    assert_string_equal(tr.ev, "K");
    loop_del(tr.loop, reused);
    close(other_fd[0]);
    close(other_fd[1]);
    remaining = pa[0] >= 0 ? pa[0] : pb[0];
    close(remaining);
    close(pa[1]);
    close(pb[1]);
}

/* loop_rebind: the first of two readable pipes to run hands the other to
 * a new owner with no interest. An event already fetched for it reaches
 * the new owner (drop_fetched 0) or nobody (1). */
static int rb_drop;

static void on_new_owner2(struct loop *loop, int fd, void *arg, uint32_t events)
{
    char c;

    (void)loop;
    (void)arg;
    (void)events;
    note('O');
    if (read(fd, &c, 1) < 0)
        fail_msg("read: %s", strerror(errno));
}

static void on_handover(struct loop *loop, int fd, void *arg, uint32_t events)
{
    int other = fd == pa[0] ? pb[0] : pa[0];
    char c;

    (void)arg;
    (void)events;
    note('H');
    if (read(fd, &c, 1) < 0)
        fail_msg("read: %s", strerror(errno));
    loop_del(loop, fd);
    assert_int_equal(loop_rebind(loop, other, 0, on_new_owner2, NULL, rb_drop), 0);
}

static void rebind_case(int drop, const char *want)
{
    struct timer stop;

    rb_drop = drop;
    assert_int_equal(pipe2(pa, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(pipe2(pb, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(write(pa[1], "a", 1), 1);
    assert_int_equal(write(pb[1], "b", 1), 1);
    assert_int_equal(loop_add(tr.loop, pa[0], LOOP_RD, on_handover, NULL), 0);
    assert_int_equal(loop_add(tr.loop, pb[0], LOOP_RD, on_handover, NULL), 0);
    timer_init(&stop, on_timer_check_stop, NULL);
    loop_timer_set(tr.loop, &stop, 30);
    assert_int_equal(loop_run(tr.loop), 0);
    assert_string_equal(tr.ev, want);
    loop_del(tr.loop, pa[0]);
    loop_del(tr.loop, pb[0]);
    close(pa[0]);
    close(pa[1]);
    close(pb[0]);
    close(pb[1]);
}

static void test_rebind_keeps_fetched(void **state)
{
    (void)state;
    assert_int_equal(loop_rebind(tr.loop, 12345, 0, on_new_owner2, NULL, 0), -EBADF);
    assert_int_equal(loop_rebind(tr.loop, -1, 0, on_new_owner2, NULL, 1), -EBADF);
    rebind_case(0, "HO"); /* the fetched event reaches the new owner */
}

static void test_rebind_drops_fetched(void **state)
{
    (void)state;
    rebind_case(1, "H"); /* dropped; no interest, so nothing after */
}

static int writable_seen;

static void on_writable(struct loop *loop, int fd, void *arg, uint32_t events)
{
    (void)arg;
    if (events & LOOP_WR) {
        writable_seen++;
        note('W');
        assert_int_equal(loop_mod(loop, fd, 0), 0);   /* quiet from now on */
    }
}

static void test_mod_and_errors(void **state)
{
    struct timer stop;
    int p[2];

    (void)state;
    assert_int_equal(loop_add(tr.loop, -1, LOOP_RD, on_writable, NULL), -EBADF);
    assert_int_equal(loop_mod(tr.loop, 12345, LOOP_RD), -EBADF);
    assert_int_equal(loop_mod(tr.loop, -1, LOOP_RD), -EBADF);
    loop_del(tr.loop, 12345);             /* unknown: harmless */
    loop_del(tr.loop, -1);
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    /* registered with no interest, then asked for writability */
    assert_int_equal(loop_add(tr.loop, p[1], 0, on_writable, NULL), 0);
    assert_int_equal(loop_mod(tr.loop, p[1], 0), 0);        /* unchanged: no-op */
    assert_int_equal(loop_mod(tr.loop, p[1], LOOP_WR), 0);
    /* a closed fd cannot be added */
    assert_int_equal(loop_add(tr.loop, p[0], LOOP_RD, on_writable, NULL), 0);
    loop_del(tr.loop, p[0]);
    close(p[0]);
    assert_true(loop_add(tr.loop, p[0], LOOP_RD, on_writable, NULL) < 0);
    timer_init(&stop, on_timer_check_stop, NULL);
    loop_timer_set(tr.loop, &stop, 20);
    writable_seen = 0;
    assert_int_equal(loop_run(tr.loop), 0);
    assert_int_equal(writable_seen, 1);   /* then quiet */
    loop_del(tr.loop, p[1]);
    close(p[1]);
}

static void test_high_fd_grows_table(void **state)
{
    struct timer stop;
    int p[2];

    (void)state;
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(dup2(p[1], 900), 900);
    assert_int_equal(loop_add(tr.loop, 900, LOOP_WR, on_writable, NULL), 0);
    assert_int_equal(loop_add(tr.loop, p[1], 0, on_writable, NULL), 0);
    timer_init(&stop, on_timer_check_stop, NULL);
    loop_timer_set(tr.loop, &stop, 20);
    writable_seen = 0;
    assert_int_equal(loop_run(tr.loop), 0);
    assert_int_equal(writable_seen, 1);
    loop_del(tr.loop, 900);
    loop_del(tr.loop, p[1]);
    close(900);
    close(p[0]);
    close(p[1]);
}

static int before_calls;

static void before(void *arg)
{
    (void)arg;
    before_calls++;
}

/* Yields: a task queued runs once in the next round (queueing it again
 * before that changes nothing), one that re-queues itself runs again only
 * a round later, and a task cancelled while its round's list runs does not
 * run. Queues are stacks: ya, pushed last, runs before yb. */
static struct loop_task ya, yb;
static int ya_left;

static void before_bar(void *arg)
{
    (void)arg;
    note('|');
}

static void on_yb(void *arg)
{
    (void)arg;
    note('B');
}

static void on_ya(void *arg)
{
    (void)arg;
    note('A');
    loop_task_cancel(&yb); /* queued in this very round: must not run */
    assert_false(loop_task_queued(&yb));
    if (--ya_left == 0) {
        loop_stop(tr.loop);
        return;
    }
    loop_yield(tr.loop, &ya, on_ya, NULL);
    loop_yield(tr.loop, &ya, on_ya, NULL);
    assert_true(loop_task_queued(&ya));
}

static void test_yield_next_round(void **state)
{
    (void)state;
    ya_left = 3;
    loop_yield(tr.loop, &yb, on_yb, NULL);
    loop_yield(tr.loop, &ya, on_ya, NULL);
    loop_yield(tr.loop, &ya, on_ya, NULL);
    loop_set_before_wait(tr.loop, before_bar, NULL);
    assert_int_equal(loop_run(tr.loop), 0);
    assert_string_equal(tr.ev, "|A|A|A");
    assert_false(loop_task_queued(&ya));
    loop_task_cancel(&yb); /* not queued: harmless */
    loop_set_before_wait(tr.loop, NULL, NULL);
}

static void test_before_wait_each_round(void **state)
{
    struct timer p;

    (void)state;
    before_calls = 0;
    periodic_left = 3;
    loop_set_before_wait(tr.loop, before, NULL);
    timer_init(&p, on_timer_periodic, NULL);
    loop_timer_set(tr.loop, &p, 1);
    assert_int_equal(loop_run(tr.loop), 0);
    assert_true(before_calls >= 3);
    loop_set_before_wait(tr.loop, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timers_fire_in_deadline_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rearm_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rearm_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heap_under_churn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_runs_after_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_may_defer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_event_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mod_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebind_keeps_fetched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebind_drops_fetched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_high_fd_grows_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_before_wait_each_round, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yield_next_round, setup, teardown),
    };

    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
