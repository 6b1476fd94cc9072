/* listener.c — accept loop. When descriptors run out (EMFILE/ENFILE) it
 * stops watching the socket for a moment instead of spinning on an
 * accept that keeps failing. */
#include "proxy/listener.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/net.h"

#define LISTENER_BACKOFF_MS 100u


static void listener_on_backoff(struct loop *loop, struct timer *t)
{
    struct proxy *px = t->arg;

    if (px->lfd >= 0)
        loop_mod(loop, px->lfd, LOOP_RD);
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
            loop_mod(loop, lfd, 0);
            loop_timer_set(loop, &px->accept_backoff, LISTENER_BACKOFF_MS);
            return;
        }
        log_warn("accept: %s", strerror(-fd));
        return;
    }
}

int listener_start(struct proxy *px, int reuseport, char *err, size_t errlen)
{
    const struct config *cfg = px->cfg;
    int fd = net_listen(cfg->listen_host, cfg->listen_port, reuseport);

    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s%s", cfg->listen_host,
                 (unsigned)cfg->listen_port, strerror(-fd),
                 fd == -EADDRINUSE ? " (another hubgate or proxy is running there?)" : "");
        return -1;
    }
    timer_init(&px->accept_backoff, listener_on_backoff, px);
    if (loop_add(px->loop, fd, LOOP_RD, listener_on_accept, px) != 0) {
        close(fd);
        snprintf(err, errlen, "cannot watch the listening socket");
        return -1;
    }
    px->lfd = fd;
    return 0;
}

void listener_stop(struct proxy *px)
{
    loop_timer_del(px->loop, &px->accept_backoff);
    if (px->lfd < 0)
        return;
    loop_del(px->loop, px->lfd);
    close(px->lfd);
    px->lfd = -1;
}
