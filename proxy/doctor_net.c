/* doctor_net.c — blocking TCP, tunnel, TLS and HTTP helpers for `hubgate
 * doctor`. See doctor_int.h. The SOCKS5 and CONNECT handshakes reuse the
 * proxy's codecs (socks5.h, httpconn.h) and answers are parsed by llhttp
 * through mitm/http/http1.h, exactly as the proxy does. */
#include "proxy/doctor_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mitm/http/http1.h"
#include "base/addr.h"
#include "base/buf.h"
#include "proxy/up/httpconn.h"
#include "proxy/up/socks5.h"

#define DN_MAX_HEAD 65536

void dn_close(struct dnc *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    SSL_CTX_free(c->ctx);
    c->ctx = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int dn_tcp_addr(struct dnc *c, const struct sockaddr *sa, socklen_t salen, char *why,
                size_t whylen)
{
    struct timeval tv = {DN_TIMEOUT_MS / 1000, (DN_TIMEOUT_MS % 1000) * 1000};
    struct pollfd pfd;
    char addr[80];
    int fd, err = 0;
    socklen_t elen = sizeof(err);

    addr_format(sa, addr, sizeof(addr));
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS) {
        err = errno;
    } else {
        int rc;

        pfd.fd = fd;
        pfd.events = POLLOUT;
        rc = poll(&pfd, 1, DN_TIMEOUT_MS);
        if (rc == 0)
            err = ETIMEDOUT;
        else if (rc == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
            err = errno;
    }
    if (err) {
        snprintf(why, whylen, "connect to %s: %s", addr, strerror(err));
        close(fd);
        return -1;
    }
    /* Blocking from here on, each read and write bounded. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    c->fd = fd;
    return 0;
}

int dn_tcp(struct dnc *c, const char *host, unsigned port, char *why, size_t whylen)
{
    struct addrinfo hints, *res = NULL, *ai;
    char svc[8];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(svc, sizeof(svc), "%u", port);
    rc = getaddrinfo(host, svc, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    rc = -1;
    for (ai = res; ai && rc != 0; ai = ai->ai_next)
        rc = dn_tcp_addr(c, ai->ai_addr, ai->ai_addrlen, why, whylen);
    freeaddrinfo(res);
    return rc;
}

/* Writes all n bytes (TLS when c has it). */
static int dn_write(struct dnc *c, const void *p, size_t n)
{
    const char *s = p;

    while (n > 0) {
        ssize_t w;

        if (c->ssl) {
            int r;

            ERR_clear_error();
            r = SSL_write(c->ssl, s, n > 65536 ? 65536 : (int)n);
            w = r > 0 ? r : -1;
        } else {
            w = send(c->fd, s, n, MSG_NOSIGNAL);
            if (w == -1 && errno == EINTR)
                continue;
        }
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads into b's tail. Returns bytes, 0 at EOF, -1 on error or timeout. */
static ssize_t dn_read(struct dnc *c, struct buf *b)
{
    if (buf_reserve(b) != 0 || buf_room(b) == 0)
        return -1;
    for (;;) {
        ssize_t n;

        if (c->ssl) {
            int r;

            ERR_clear_error();
            r = SSL_read(c->ssl, buf_tail(b), (int)buf_room(b));
            if (r > 0) {
                n = r;
            } else {
                int e = SSL_get_error(c->ssl, r);

                /* A peer closing without close_notify is an EOF too. */
                n = e == SSL_ERROR_ZERO_RETURN ||
                    (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) ==
                                               SSL_R_UNEXPECTED_EOF_WHILE_READING)
                        ? 0 : -1;
            }
        } else {
            n = recv(c->fd, buf_tail(b), buf_room(b), 0);
            if (n == -1 && errno == EINTR)
                continue;
        }
        if (n > 0)
            buf_commit(b, (size_t)n);
        return n;
    }
}

static int dn_socks5(struct dnc *c, const struct link *l, const char *host, unsigned port,
                     char *why, size_t whylen)
{
    struct socks5 s;
    struct buf in, out;
    const char *err = NULL;
    int rc = -1;

    buf_init(&in, 1024);
    buf_init(&out, 1024);
    if (socks5_init(&s, host, (uint16_t)port, l->user, l->pass) != 0 ||
        socks5_start(&s, &out) != 0) {
        snprintf(why, whylen, "SOCKS5: request too long");
        goto done;
    }
    for (;;) {
        ssize_t n;

        if (out.len) {
            if (dn_write(c, buf_data(&out), out.len) != 0) {
                snprintf(why, whylen, "SOCKS5: write to the proxy failed: %s",
                         strerror(errno));
                goto done;
            }
            buf_consume(&out, out.len);
        }
        if (rc == 1)
            break;
        n = dn_read(c, &in);
        if (n <= 0) {
            snprintf(why, whylen, "SOCKS5: the proxy %s", n == 0 ? "closed the connection"
                                                                  : "did not answer in time");
            rc = -1;
            goto done;
        }
        rc = socks5_input(&s, &in, &out, &err);
        if (rc < 0) {
            snprintf(why, whylen, "%s", err ? err : "SOCKS5: handshake failed");
            goto done;
        }
    }
    rc = 0;
done:
    OPENSSL_cleanse(&s, sizeof(s));
    buf_free(&in);
    buf_free(&out);
    return rc;
}

int dn_http_connect(struct dnc *c, const char *host, unsigned port, const char *user,
                    const char *pass, char *why, size_t whylen)
{
    struct httpconn hc;
    struct buf in, out;
    const char *err = NULL;
    int rc = -1;

    buf_init(&in, 16384);
    buf_init(&out, 2048);
    if (httpconn_request(&out, host, (uint16_t)port, user, pass) != 0) {
        snprintf(why, whylen, "CONNECT: cannot build the request");
        goto done;
    }
    if (dn_write(c, buf_data(&out), out.len) != 0) {
        snprintf(why, whylen, "CONNECT: write to the proxy failed: %s", strerror(errno));
        goto done;
    }
    httpconn_init(&hc);
    do {
        ssize_t n = dn_read(c, &in);

        if (n <= 0) {
            snprintf(why, whylen, "CONNECT %s:%u: the proxy %s", host, port,
                     n == 0 ? "closed the connection" : "did not answer in time");
            goto done;
        }
        rc = httpconn_response(&hc, &in, &err);
    } while (rc == 0);
    if (rc < 0)
        snprintf(why, whylen, "CONNECT %s:%u: %s", host, port, err ? err : "refused");
    else
        rc = 0;
done:
    buf_free(&in);
    buf_free(&out);
    return rc;
}

int dn_open(struct dnc *c, const struct link *via, const char *host, unsigned port,
            char *why, size_t whylen)
{
    int rc;

    if (!via || via->kind == LINK_DIRECT)
        return dn_tcp(c, host, port, why, whylen);
    if (via->kind != LINK_SOCKS5 && via->kind != LINK_HTTP) {
        snprintf(why, whylen, "a relay cannot carry a connection to %s", host);
        return -1;
    }
    if (dn_tcp(c, via->host, via->port, why, whylen) != 0)
        return -1;
    rc = via->kind == LINK_SOCKS5
             ? dn_socks5(c, via, host, port, why, whylen)
             : dn_http_connect(c, host, port, via->user, via->pass, why, whylen);
    if (rc != 0)
        dn_close(c);
    return rc;
}

int dn_tls(struct dnc *c, const char *cafile, const char *host, char *why, size_t whylen)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    long vr;

    ERR_clear_error();
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        goto ssl_fail;
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    if (SSL_CTX_load_verify_locations(c->ctx, cafile, NULL) != 1) {
        snprintf(why, whylen, "cannot read CA file %s", cafile);
        return -1;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
        SSL_set_tlsext_host_name(c->ssl, host) != 1 || SSL_set1_host(c->ssl, host) != 1 ||
        SSL_set_alpn_protos(c->ssl, alpn, sizeof(alpn) - 1) != 0)
        goto ssl_fail;
    if (SSL_connect(c->ssl) == 1)
        return 0;
    vr = SSL_get_verify_result(c->ssl);
    if (vr != X509_V_OK) {
        snprintf(why, whylen, "TLS with %s: certificate verify failed: %s (trusting %s)", host,
                 X509_verify_cert_error_string(vr), cafile);
        return -1;
    }
ssl_fail:
    {
        unsigned long e = ERR_peek_last_error();

        snprintf(why, whylen, "TLS with %s: %s", host,
                 e ? ERR_reason_error_string(e) : "handshake failed (connection closed or timed out)");
    }
    return -1;
}

static void dn_on_body(void *arg, const char *p, size_t n)
{
    struct dn_resp *r = arg;
    size_t room;

    if (!r->body || r->body_max == 0)
        return;
    room = r->body_max - 1 - r->body_len;
    if (n > room)
        n = room;
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
}

int dn_http(struct dnc *c, const char *req, int head, struct dn_resp *r, char *why,
            size_t whylen)
{
    struct http1 *h = calloc(1, sizeof(*h));
    struct buf in;
    int rc = -1;

    r->status = 0;
    r->www_auth[0] = '\0';
    r->body_len = 0;
    if (r->body && r->body_max)
        r->body[0] = '\0';
    buf_init(&in, DN_MAX_HEAD);
    if (!h) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (dn_write(c, req, strlen(req)) != 0) {
        snprintf(why, whylen, "sending the request failed");
        goto done;
    }
    http1_init(h, HTTP_RESPONSE, DN_MAX_HEAD);
    h->skip_body = head;
    h->on_body = dn_on_body;
    h->body_arg = r;
    for (;;) {
        enum http1_ev ev = http1_feed(h, &in);
        ssize_t n;

        if (ev == H1_EV_HEAD) {
            int i = http1_find(h, buf_data(&in), "WWW-Authenticate");

            r->status = http1_status(h);
            if (i >= 0)
                snprintf(r->www_auth, sizeof(r->www_auth), "%.*s",
                         (int)h->hdrs[i].value_len, buf_data(&in) + h->hdrs[i].value_off);
            buf_consume(&in, h->head_len);
            http1_resume(h);
            continue;
        }
        if (ev == H1_EV_ERROR) {
            snprintf(why, whylen, "malformed HTTP answer: %s", h->err ? h->err : "?");
            goto done;
        }
        /* Body bytes the parser has seen (and handed to dn_on_body). */
        if (h->state != H1_HEAD && h->parsed) {
            size_t k = h->parsed;

            buf_consume(&in, k);
            http1_consumed(h, k);
        }
        if (ev == H1_EV_DONE)
            break;
        n = dn_read(c, &in);
        if (n < 0) {
            snprintf(why, whylen, "%s", r->status ? "reading the body failed or timed out"
                                                  : "no answer in time");
            goto done;
        }
        if (n == 0) {
            if (h->state == H1_BODY && http1_finish(h) == H1_EV_DONE)
                break;
            snprintf(why, whylen, "the server closed the connection %s",
                     r->status ? "inside the body" : "without an answer");
            goto done;
        }
    }
    rc = 0;
done:
    buf_free(&in);
    free(h);
    return rc;
}
