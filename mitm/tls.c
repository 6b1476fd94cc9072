/* tls.c — OpenSSL transport for struct ep, driven non-blocking.
 *
 * The handshake runs inside the first SSL_read/SSL_write (accept or connect
 * state is set by the caller). WANT_READ/WANT_WRITE become -EAGAIN with
 * the event the direction waits for recorded in rd_ev/wr_ev. */
#include "proxy/xprt.h"

#include <errno.h>
#include <sys/socket.h>

#include <openssl/err.h>

/* Maps an SSL error after a failed call to our vocabulary. */
static ssize_t tls_fail(struct ep *ep, int ret, uint32_t *ev)
{
    int e = SSL_get_error(ep->ssl, ret);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        *ev = EPOLLIN;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *ev = EPOLLOUT;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ep->err = errno ? errno : EPIPE;
        return errno ? -errno : 0;
    default: {
        unsigned long lib = ERR_peek_last_error();

        /* OpenSSL 3: a peer that closes without close_notify. */
        if (ERR_GET_REASON(lib) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            return 0;
        }
        ep->err = EPROTO;
        return -EPROTO;
    }
    }
}

static ssize_t tls_read(struct ep *ep, void *p, size_t n)
{
    size_t got = 0;
    int ret;

    ERR_clear_error();
    ret = SSL_read_ex(ep->ssl, p, n, &got);
    if (ret == 1) {
        ep->rd_ev = EPOLLIN;
        return (ssize_t)got;
    }
    return tls_fail(ep, ret, &ep->rd_ev);
}

static ssize_t tls_write(struct ep *ep, const void *p, size_t n)
{
    size_t put = 0;
    int ret;

    ERR_clear_error();
    ret = SSL_write_ex(ep->ssl, p, n, &put);
    if (ret == 1) {
        ep->wr_ev = EPOLLOUT;
        return (ssize_t)put;
    }
    ret = (int)tls_fail(ep, ret, &ep->wr_ev);
    return ret == 0 ? -EPIPE : ret;
}

static void tls_shutdown(struct ep *ep)
{
    ERR_clear_error();
    if (SSL_is_init_finished(ep->ssl))
        SSL_shutdown(ep->ssl); /* one close_notify, best effort */
    ERR_clear_error();
    shutdown(ep->fd, SHUT_WR);
}

const struct xprt_ops xprt_tls = {"tls", tls_read, tls_write, tls_shutdown};

void ep_init_tls(struct ep *ep, int fd, SSL *ssl)
{
    ep_init_raw(ep, fd);
    ep->ssl = ssl;
    ep->ops = &xprt_tls;
}
