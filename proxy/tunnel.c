/* tunnel.c — bidirectional byte pump for passthrough tunnels. */
#include "proxy/tunnel.h"

#include <errno.h>

#include "proxy/log.h"

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
    /* Idle tunnels hold no buffer memory. */
    buf_release(b);
    return moved;
}

void tunnel_pump(struct conn *c)
{
    uint64_t now = loop_now(c->px->loop);
    int budget = CONN_PUMP_BUDGET;

    while (tunnel_move(&c->cl, &c->cin, &c->up, &c->bytes_in) |
           tunnel_move(&c->up, &c->uin, &c->cl, &c->bytes_out)) {
        conn_touch(c, now);
        if (--budget == 0) {
            conn_yield(c);
            break;
        }
    }
    if ((c->cl.flags | c->up.flags) & EP_F_ERROR) {
        conn_log_exchange(c);
        conn_close(c);
        return;
    }
    /* A side that finished sending is told to the other once flushed. */
    if ((c->cl.flags & EP_F_RD_EOF) && !c->cin.len)
        ep_shutdown(&c->up);
    if ((c->up.flags & EP_F_RD_EOF) && !c->uin.len)
        ep_shutdown(&c->cl);
    if ((c->cl.flags & EP_F_WR_SHUT) && (c->up.flags & EP_F_WR_SHUT)) {
        conn_log_exchange(c);
        conn_close(c);
    }
}

void tunnel_interest(const struct conn *c, int *crd, int *cwr, int *urd, int *uwr)
{
    *crd = !c->cin.len && !(c->cl.flags & EP_F_RD_EOF);
    *urd = !c->uin.len && !(c->up.flags & EP_F_RD_EOF);
    *cwr = c->uin.len > 0;
    *uwr = c->cin.len > 0;
}
