/* listener.c — the accept side of a worker. All workers share one
 * listening socket, bound once by the main thread (so a second hubgate on
 * the same address fails with "address in use" instead of silently taking
 * half the connections); each worker watches it with EPOLLEXCLUSIVE, so a
 * new connection wakes one of them. When descriptors run out
 * (EMFILE/ENFILE) a worker stops watching for a moment instead of spinning
 * on an accept that keeps failing. */
#include "proxy/listener.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxy/conn.h"
#include "base/log.h"
#include "base/net.h"

#define LISTENER_BACKOFF_MS 100u

static void listener_on_accept(struct loop *loop, int lfd, void *arg, uint32_t events);

static int listener_watch(struct proxy *px)
{
    return loop_add(px->loop, px->lfd, LOOP_RD | EPOLLEXCLUSIVE, listener_on_accept, px);
}

static void listener_on_backoff(struct loop *loop, struct timer *t)
{
    struct proxy *px = t->arg;

    (void)loop;
    if (px->lfd >= 0 && listener_watch(px) != 0)
        log_err("cannot watch the listening socket again");
}

static void listener_on_accept(struct loop *loop, int lfd, void *arg, uint32_t events)
{
    struct proxy *px = arg;
    int i;

    (void)events;
    for (i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t len;
        int fd = net_accept(lfd, &peer, &len);

        if (fd >= 0) {
            conn_accept(px, fd, &peer);
            continue;
        }
        if (fd == -EAGAIN || fd == -EINTR || fd == -ECONNABORTED)
            return;
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
            log_warn("accept: %s; pausing accepts for %ums (raise LimitNOFILE / ulimit -n)",
                     strerror(-fd), LISTENER_BACKOFF_MS);
            /* an EPOLLEXCLUSIVE watch cannot be modified, only removed */
            loop_del(loop, lfd);
            loop_timer_set(loop, &px->accept_backoff, LISTENER_BACKOFF_MS);
            return;
        }
        log_warn("accept: %s", strerror(-fd));
        return;
    }
}

int listener_open(const struct config *cfg, char *err, size_t errlen)
{
    int fd = net_listen(cfg->listen_host, cfg->listen_port, 0);

    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s:%u: %s%s", cfg->listen_host,
                 (unsigned)cfg->listen_port, strerror(-fd),
                 fd == -EADDRINUSE ? " (another hubgate or proxy is running there?)" : "");
    return fd;
}

int listener_start(struct proxy *px, int lfd, char *err, size_t errlen)
{
    timer_init(&px->accept_backoff, listener_on_backoff, px);
    px->lfd = lfd;
    if (listener_watch(px) != 0) {
        px->lfd = -1;
        snprintf(err, errlen, "cannot watch the listening socket");
        return -1;
    }
    return 0;
}

void listener_stop(struct proxy *px)
{
    loop_timer_del(px->loop, &px->accept_backoff);
    if (px->lfd < 0)
        return;
    loop_del(px->loop, px->lfd); /* the socket itself is the main thread's */
    px->lfd = -1;
}
