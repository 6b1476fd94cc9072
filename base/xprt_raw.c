/* xprt_raw.c — plain TCP transport, and the endpoint helpers shared by all
 * transports. */
#include "base/xprt.h"

#include "base/buf.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t raw_read(struct ep *ep, void *p, size_t n)
{
    ssize_t r = recv(ep->fd, p, n, 0);

    if (r >= 0)
        return r;
    ep->err = errno;
    return errno == EINTR ? -EAGAIN : -errno;
}

static ssize_t raw_write(struct ep *ep, const void *p, size_t n)
{
    ssize_t r = send(ep->fd, p, n, MSG_NOSIGNAL);

    if (r >= 0)
        return r;
    ep->err = errno;
    return errno == EINTR ? -EAGAIN : -errno;
}

static void raw_shutdown(struct ep *ep)
{
    shutdown(ep->fd, SHUT_WR);
}

static int raw_flush(struct ep *ep)
{
    (void)ep;
    return 0;
}

static size_t raw_pending(const struct ep *ep)
{
    (void)ep;
    return 0;
}

const struct xprt_ops xprt_raw = {"tcp", raw_read, raw_write, raw_shutdown, raw_flush,
                                  raw_pending};

int ep_flush(struct ep *ep)
{
    int rc;

    if (ep->fd < 0 || !ep->ops->pending(ep))
        return 0;
    rc = ep->ops->flush(ep);
    if (rc == -EAGAIN)
        ep->flags &= ~EP_F_WR_MAYBE;
    else if (rc < 0)
        ep->flags |= EP_F_ERROR;
    return rc;
}

void ep_init_raw(struct ep *ep, int fd)
{
    ep->fd = fd;
    ep->ssl = NULL;
    ep->ops = &xprt_raw;
    ep->flags = EP_F_WR_MAYBE; /* nothing to read until an event says so */
    ep->rd_ev = EPOLLIN;
    ep->wr_ev = EPOLLOUT;
    ep->err = 0;
}

ssize_t ep_read(struct ep *ep, void *p, size_t n)
{
    ssize_t r = ep->ops->read(ep, p, n);

    if (r == -EAGAIN)
        ep->flags &= ~EP_F_RD_MAYBE;
    else if (r == 0)
        ep->flags |= EP_F_RD_EOF;
    else if (r < 0)
        ep->flags |= EP_F_ERROR | EP_F_RD_EOF;
    return r;
}

ssize_t ep_write(struct ep *ep, const void *p, size_t n)
{
    ssize_t r = ep->ops->write(ep, p, n);

    if (r == -EAGAIN)
        ep->flags &= ~EP_F_WR_MAYBE;
    else if (r < 0)
        ep->flags |= EP_F_ERROR;
    return r;
}

int ep_write_buf(struct ep *ep, struct buf *b)
{
    int moved = 0;

    while (b->len && (ep->flags & EP_F_WR_MAYBE)) {
        ssize_t w = ep_write(ep, buf_data(b), b->len);

        if (w <= 0)
            break;
        buf_consume(b, (size_t)w);
        moved = 1;
    }
    return moved;
}

void ep_on_events(struct ep *ep, uint32_t events)
{
    /* Errors and hang-ups make both directions try, so they see them. */
    if (events & (EPOLLERR | EPOLLHUP))
        ep->flags |= EP_F_RD_MAYBE | EP_F_WR_MAYBE;
    if (events & ep->rd_ev)
        ep->flags |= EP_F_RD_MAYBE;
    if (events & ep->wr_ev)
        ep->flags |= EP_F_WR_MAYBE;
}

uint32_t ep_mask(const struct ep *ep, int want_rd, int want_wr)
{
    uint32_t m = 0;

    if (want_rd && !(ep->flags & (EP_F_RD_MAYBE | EP_F_RD_EOF)))
        m |= ep->rd_ev;
    if (want_wr && !(ep->flags & (EP_F_WR_MAYBE | EP_F_WR_SHUT)))
        m |= ep->wr_ev;
    return m;
}

void ep_shutdown(struct ep *ep)
{
    if (ep->fd < 0 || (ep->flags & EP_F_WR_SHUT))
        return;
    ep->flags |= EP_F_WR_SHUT;
    ep->ops->shutdown(ep);
}

void ep_close(struct ep *ep, struct loop *loop)
{
    if (ep->fd < 0)
        return;
    loop_del(loop, ep->fd);
    SSL_free(ep->ssl);
    ep->ssl = NULL;
    close(ep->fd);
    ep->fd = -1;
}
