/* tunnel.c — bidirectional byte pump for passthrough tunnels.
 *
 * The download direction (origin to client, nearly all the bytes) is
 * copied through uin, 64 KiB at a time; the upload direction is spliced.
 * Spliced pages leave toward the client as the fragments they arrived in
 * (about 30 KiB an skb on loopback) while a copy fills whole pages, and
 * the client pays per skb more than the copy costs here: bench/README.md,
 * "The passthrough tunnel against socat". */
#include "proxy/tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/log.h"
#include "proxy/connect.h"
#include "proxy/core/links.h"

#define TUNNEL_PIPE_SIZE (256 * 1024)

/* Takes a pipe from the proxy's pool or makes one. Returns 0 or -1. */
static int spipe_get(struct proxy *px, struct spipe *sp)
{
    if (px->npipes) {
        px->npipes--;
        sp->fd[0] = px->pipes[px->npipes][0];
        sp->fd[1] = px->pipes[px->npipes][1];
        return 0;
    }
    if (pipe2(sp->fd, O_NONBLOCK | O_CLOEXEC) == -1)
        return -1;
    fcntl(sp->fd[0], F_SETPIPE_SZ, TUNNEL_PIPE_SIZE); /* best effort */
    return 0;
}

/* Returns an empty pipe to the pool; a pipe still holding bytes, or one
 * the pool has no room for, is closed. */
static void spipe_put(struct proxy *px, struct spipe *sp)
{
    if (sp->fd[0] < 0)
        return;
    if (sp->len == 0 && px->npipes < (int)(sizeof(px->pipes) / sizeof(px->pipes[0]))) {
        px->pipes[px->npipes][0] = sp->fd[0];
        px->pipes[px->npipes][1] = sp->fd[1];
        px->npipes++;
    } else {
        close(sp->fd[0]);
        close(sp->fd[1]);
    }
    sp->fd[0] = sp->fd[1] = -1;
    sp->len = 0;
}

void tunnel_trim(struct proxy *px)
{
    while (px->npipes > 0) {
        px->npipes--;
        close(px->pipes[px->npipes][0]);
        close(px->pipes[px->npipes][1]);
    }
}

static void tunnel_on_up(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct conn *c = arg;

    (void)loop;
    (void)fd;
    ep_on_events(&c->tun->up, events);
    conn_run(c);
}

void tunnel_start(struct conn *c, int fd)
{
    struct tunnel *t = calloc(1, sizeof(*t));

    if (!t || loop_add(c->px->loop, fd, 0, tunnel_on_up, c) != 0) {
        free(t);
        close(fd);
        conn_error(c, 502, "UNAVAILABLE", "hubgate: cannot watch the upstream socket");
        return;
    }
    ep_init_raw(&t->up, fd);
    t->sp_cu.fd[0] = t->sp_cu.fd[1] = -1;
    buf_init(&t->uin, 64u * 1024u);
    c->tun = t;
    /* The 200 goes first in the client-bound stream, before any byte the
     * origin sends; what the socket did not take waits in uin. */
    if (connect_established(c, &t->uin) < 0) {
        conn_close(c);
        return;
    }
    conn_set_mode(c, CONN_TUNNEL);
    /* A tunnel parses nothing: its HTTP state goes, so that thousands of
     * idle tunnels stay small. */
    free(c->req);
    c->req = NULL;
    c->status = 200;
    conn_run(c);
}

void tunnel_stop(struct tunnel *t, struct loop *loop)
{
    if (t->up.fd >= 0)
        loop_del(loop, t->up.fd);
}

void tunnel_free(struct tunnel *t, struct proxy *px)
{
    if (!t)
        return;
    spipe_put(px, &t->sp_cu);
    ep_close(&t->up, px->loop);
    buf_free(&t->uin);
    free(t);
}

/* Moves bytes src -> pipe -> dst with splice(2): they never enter user
 * space. Returns 1 when anything moved, 0 when nothing could, -1 when no
 * pipe could be had (the caller copies instead). */
static int tunnel_splice(struct proxy *px, struct ep *src, struct spipe *sp, struct ep *dst,
                         uint64_t *count)
{
    int moved = 0, pass;

    for (pass = 0; pass < 2; pass++) {
        if (sp->len && (dst->flags & EP_F_WR_MAYBE) && !(dst->flags & EP_F_ERROR)) {
            ssize_t n = splice(sp->fd[0], NULL, dst->fd, NULL, sp->len,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

            if (n > 0) {
                sp->len -= (size_t)n;
                *count += (uint64_t)n;
                moved = 1;
            } else if (n == -1 && errno == EAGAIN) {
                dst->flags &= ~EP_F_WR_MAYBE;
            } else {
                dst->flags |= EP_F_ERROR;
            }
        }
        if (pass || sp->len || !(src->flags & EP_F_RD_MAYBE) || (src->flags & EP_F_RD_EOF))
            break;
        if (sp->fd[0] < 0 && spipe_get(px, sp) != 0)
            return moved ? 1 : -1;
        {
            ssize_t n = splice(src->fd, NULL, sp->fd[1], NULL, TUNNEL_PIPE_SIZE,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

            if (n > 0) {
                sp->len = (size_t)n;
                moved = 1;
            } else if (n == 0) {
                src->flags |= EP_F_RD_EOF;
            } else if (errno == EAGAIN) {
                src->flags &= ~EP_F_RD_MAYBE;
            } else {
                src->flags |= EP_F_ERROR | EP_F_RD_EOF;
            }
        }
    }
    if (!sp->len && !(src->flags & EP_F_RD_MAYBE))
        spipe_put(px, sp); /* idle: the pipe goes back to the pool */
    return moved;
}

/* Writes what buf holds to dst; when it is empty, reads once from src and
 * writes that. Returns 1 when anything moved. Bytes that reached dst are
 * added to *count. The caller repeats within its budget. */
static int tunnel_move(struct ep *src, struct buf *b, struct ep *dst, uint64_t *count)
{
    int moved = 0, pass;

    for (pass = 0; pass < 2; pass++) {
        if (b->len && (dst->flags & EP_F_WR_MAYBE) && !(dst->flags & EP_F_ERROR)) {
            ssize_t w = ep_write(dst, buf_data(b), b->len);

            if (w > 0) {
                buf_consume(b, (size_t)w);
                *count += (uint64_t)w;
                moved = 1;
            }
        }
        if (pass || b->len || !(src->flags & EP_F_RD_MAYBE) || (src->flags & EP_F_RD_EOF) ||
            buf_reserve(b) != 0)
            break;
        {
            ssize_t r = ep_read(src, buf_tail(b), buf_room(b));

            if (r <= 0)
                break;
            buf_commit(b, (size_t)r);
            moved = 1;
        }
    }
    /* Idle tunnels hold no buffer memory; a flowing one keeps it. */
    if (!(src->flags & EP_F_RD_MAYBE) || (src->flags & EP_F_RD_EOF))
        buf_release(b);
    return moved;
}

/* One direction: buffered bytes first (the 200 answer, bytes sent right
 * after CONNECT), then splice. */
static int tunnel_step(struct conn *c, struct ep *src, struct buf *b, struct spipe *sp,
                       struct ep *dst, uint64_t *count)
{
    int rc;

    if (b->len)
        return tunnel_move(src, b, dst, count);
    rc = tunnel_splice(c->px, src, sp, dst, count);
    return rc >= 0 ? rc : tunnel_move(src, b, dst, count);
}

static void tunnel_end(struct conn *c)
{
    struct tunnel *t = c->tun;

    conn_log(c, c->gen->pass_links.v[c->link]->name, t->bytes_out, t->bytes_in);
    conn_close(c);
}

void tunnel_pump(struct conn *c)
{
    struct tunnel *t = c->tun;
    uint64_t now = loop_now(c->px->loop);
    int budget = CONN_PUMP_BUDGET;

    while (tunnel_step(c, &c->cl, &c->cin, &t->sp_cu, &t->up, &t->bytes_in) |
           tunnel_move(&t->up, &t->uin, &c->cl, &t->bytes_out)) {
        conn_touch(c, now);
        if (--budget == 0) {
            conn_yield(c);
            break;
        }
    }
    if ((c->cl.flags | t->up.flags) & EP_F_ERROR) {
        tunnel_end(c);
        return;
    }
    /* A side that finished sending is told to the other once flushed. */
    if ((c->cl.flags & EP_F_RD_EOF) && !c->cin.len && !t->sp_cu.len)
        ep_shutdown(&t->up);
    if ((t->up.flags & EP_F_RD_EOF) && !t->uin.len)
        ep_shutdown(&c->cl);
    if ((c->cl.flags & EP_F_WR_SHUT) && (t->up.flags & EP_F_WR_SHUT))
        tunnel_end(c);
}

void tunnel_interest(struct conn *c, int *crd, int *cwr)
{
    struct tunnel *t = c->tun;
    int urd = !t->uin.len && !(t->up.flags & EP_F_RD_EOF);
    int uwr = c->cin.len > 0 || t->sp_cu.len > 0;

    *crd = !c->cin.len && !t->sp_cu.len && !(c->cl.flags & EP_F_RD_EOF);
    *cwr = t->uin.len > 0;
    if (t->up.fd >= 0)
        loop_mod(c->px->loop, t->up.fd, ep_mask(&t->up, urd, uwr));
}
