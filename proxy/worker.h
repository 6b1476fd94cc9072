/* worker.h — one event loop on its own thread, with everything it serves
 * from: listener (SO_REUSEPORT, so the kernel spreads connections over
 * the workers), resolver, connection pool, and a reference to the
 * configuration generation, which the main thread built and all workers
 * share read-only. The workers share nothing else mutable but link
 * health and origin TLS sessions (through the generation), the CA's leaf table (each locked inside),
 * the ring of recent requests (locked) and the read-only list of peers
 * whose metric tables and connection counts the admin endpoint sums. Each
 * worker's metric table is its own (px.metrics, set by main() before any
 * worker starts, freed after all have stopped: the admin endpoint may
 * read it until then).
 *
 * The main thread controls them through a pipe each: 'T' drains, 'G'
 * says a new generation waits in the worker's mailbox (worker_set_gen). */
#ifndef HUBGATE_WORKER_H
#define HUBGATE_WORKER_H

#include <pthread.h>

#include "proxy/core/proxy.h"

struct worker {
    struct proxy px;
    int index;
    struct gen *gen;            /* the generation to start with (a reference
                                 * the worker takes over) */
    struct gen *next_gen;       /* mailbox: a reference, swapped atomically */
    struct metrics_recent *recent; /* shared by all workers */
    struct proxy **peers;       /* every worker's proxy, for the admin page */
    size_t npeers;
    int lfd;                    /* the listening socket, shared, not owned */
    int ctl[2];                 /* commands from the main thread */
    int ready_fd;               /* written once: 'R' ready, 'F' failed */
    int done_fd;                /* written when the worker's loop ended */
    struct timer drain_timer;
    pthread_t tid;
    int rc;                     /* 0, or 1 when start-up or the loop failed */
};

/* Thread body: arg is a struct worker. */
void *worker_main(void *arg);

/* Sends a command ('T') to a running worker. */
void worker_command(struct worker *w, char cmd);

/* Main thread: hands g to a running worker, which serves new connections
 * from it once its loop reads the command. Takes a reference to g for the
 * worker; a generation handed earlier and not yet taken up is dropped. */
void worker_set_gen(struct worker *w, struct gen *g);

/* Main thread, after the worker's thread ended: drops a generation handed
 * but never taken up. */
void worker_clear_gen(struct worker *w);

#endif
