/* tls.c — OpenSSL transport for struct ep, driven non-blocking.
 *
 * The handshake runs inside the first SSL_read/SSL_write (accept or connect
 * state is set by the caller). WANT_READ/WANT_WRITE become -EAGAIN with
 * the event the direction waits for recorded in rd_ev/wr_ev. */
#include "mitm/tls/tls.h"

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

/* Records are gathered in a BIO_f_buffer of 4 KiB (its default) until a
 * large write shows a bulk transfer; then, once it is empty, it grows to
 * 64 KiB: one socket write per four 16 KiB records. Connections that only
 * carry tokens and manifests never hold the big buffer. */
#define TLS_BULK_WRITE (16u * 1024u)
#define TLS_BULK_BUF   (64 * 1024)

static void tls_grow_wbuf(struct ep *ep, size_t n)
{
    BIO *w = SSL_get_wbio(ep->ssl);

    /* BIO_set_write_buffer_size() drops what the buffer holds: it must be
     * empty (a response head usually waits there: send it first, once). */
    if (n < TLS_BULK_WRITE || (BIO_wpending(w) != 0 && (BIO_flush(w) != 1 || BIO_wpending(w) != 0)))
        return;
    if (BIO_set_write_buffer_size(w, TLS_BULK_BUF) == 1)
        ep->flags |= EP_F_BIGBUF;
}

static ssize_t tls_write(struct ep *ep, const void *p, size_t n)
{
    size_t put = 0;
    int ret;

    if (!(ep->flags & EP_F_BIGBUF))
        tls_grow_wbuf(ep, n);
    ERR_clear_error();
    ret = SSL_write_ex(ep->ssl, p, n, &put);
    if (ret == 1) {
        ep->wr_ev = EPOLLOUT;
        return (ssize_t)put;
    }
    ret = (int)tls_fail(ep, ret, &ep->wr_ev);
    return ret == 0 ? -EPIPE : ret;
}

static int tls_flush(struct ep *ep)
{
    BIO *w = SSL_get_wbio(ep->ssl);

    if (BIO_flush(w) == 1) {
        ep->wr_ev = EPOLLOUT;
        return 0;
    }
    if (BIO_should_retry(w)) {
        ep->wr_ev = EPOLLOUT;
        return -EAGAIN;
    }
    ep->err = errno ? errno : EPIPE;
    return -ep->err;
}

static size_t tls_pending(const struct ep *ep)
{
    return BIO_wpending(SSL_get_wbio(ep->ssl));
}

static void tls_shutdown(struct ep *ep)
{
    ERR_clear_error();
    if (SSL_is_init_finished(ep->ssl))
        SSL_shutdown(ep->ssl); /* one close_notify, best effort */
    ERR_clear_error();
    BIO_flush(SSL_get_wbio(ep->ssl));
    shutdown(ep->fd, SHUT_WR);
}

const struct xprt_ops xprt_tls = {"tls", tls_read, tls_write, tls_shutdown, tls_flush,
                                  tls_pending};

int tls_set_fd(SSL *ssl, int fd)
{
    BIO *r = BIO_new_socket(fd, BIO_NOCLOSE);
    BIO *s = BIO_new_socket(fd, BIO_NOCLOSE);
    BIO *b = BIO_new(BIO_f_buffer()); /* see tls_grow_wbuf() */

    if (!r || !s || !b) {
        BIO_free(r);
        BIO_free(s);
        BIO_free(b);
        return -1;
    }
    BIO_push(b, s);
    SSL_set_bio(ssl, r, b);
    return 0;
}

void ep_init_tls(struct ep *ep, int fd, SSL *ssl)
{
    ep_init_raw(ep, fd);
    ep->ssl = ssl;
    ep->ops = &xprt_tls;
}
