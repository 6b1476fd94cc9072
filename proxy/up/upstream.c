/* upstream.c — resolve, connect and (optionally) TLS toward an origin. */
#include "proxy/up/upstream.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "dns/dns.h"
#include "mitm/tls/tls.h"
#include "proxy/core/policy.h"
#include "proxy/up/httpconn.h"
#include "proxy/core/link.h"
#include "base/log.h"
#include "base/net.h"
#include "proxy/up/socks5.h"

#define UP_ATTEMPT_MIN_MS 1000u

struct upstream {
    struct proxy *px;
    struct gen *gen;          /* the caller's; outlives the attempt */
    const struct link *via;   /* SOCKS5 or HTTP proxy in between, or NULL */
    char host[256];
    unsigned port;
    int tls;
    unsigned flags;
    int handshaking;        /* talking to the proxy link */
    struct socks5 socks;
    struct httpconn hc;
    struct buf in, out;
    upstream_cb cb;
    void *arg;
    struct dns_req *dreq;
    struct dns_result res;
    size_t next;            /* next address to try */
    int fd;
    SSL *ssl;
    struct timer timer;
    uint64_t deadline;      /* loop_now() ms for the whole attempt */
};

static void up_release(struct upstream *u)
{
    dns_cancel(u->dreq);
    u->dreq = NULL;
    loop_timer_del(u->px->loop, &u->timer);
    if (u->fd >= 0) {
        loop_del(u->px->loop, u->fd);
        close(u->fd);
        u->fd = -1;
    }
    SSL_free(u->ssl);
    u->ssl = NULL;
    buf_free(&u->in);
    buf_free(&u->out);
    free(u);
}

/* Fails the attempt: kind, and the static words "what" then detail. */
static void up_fail(struct upstream *u, enum up_err kind, const char *what, const char *detail)
{
    upstream_cb cb = u->cb;
    void *arg = u->arg;
    struct up_error err = {kind, what, detail, 0};

    up_release(u);
    cb(arg, -1, NULL, &err);
}

static void up_done(struct upstream *u)
{
    upstream_cb cb = u->cb;
    void *arg = u->arg;
    int fd = u->fd;
    SSL *ssl = u->ssl;

    loop_del(u->px->loop, fd);
    u->fd = -1;
    u->ssl = NULL;
    up_release(u);
    cb(arg, fd, ssl, NULL);
}

static void up_try_next(struct upstream *u, const char *why);

static void up_tls_step(struct upstream *u)
{
    int ret, e;

    ERR_clear_error();
    ret = SSL_do_handshake(u->ssl);
    if (ret == 1) {
        up_done(u);
        return;
    }
    e = SSL_get_error(u->ssl, ret);
    if (e == SSL_ERROR_WANT_READ) {
        loop_mod(u->px->loop, u->fd, LOOP_RD);
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        loop_mod(u->px->loop, u->fd, LOOP_WR);
        return;
    }
    if (SSL_get_verify_result(u->ssl) != X509_V_OK) {
        up_fail(u, UP_ERR_TLS, "TLS: certificate verify failed: ",
                X509_verify_cert_error_string(SSL_get_verify_result(u->ssl)));
        return;
    }
    e = (int)ERR_peek_last_error();
    up_fail(u, UP_ERR_TLS, "TLS: handshake failed: ",
            e ? ERR_reason_error_string((unsigned long)e) : "connection closed");
}

static int up_tls_start(struct upstream *u)
{
    u->ssl = SSL_new(u->gen->up_ctx);
    if (!u->ssl || tls_set_fd(u->ssl, u->fd) != 0 ||
        SSL_set_tlsext_host_name(u->ssl, u->host) != 1)
        return -1;
    tls_origin_resume(u->ssl, u->host);
    /* The name check: a chain that verifies for another name must fail. */
    if (SSL_set1_host(u->ssl, u->host) != 1)
        return -1;
    SSL_set_connect_state(u->ssl);
    return 0;
}

/* The tunnel to host:port is open (directly or through the proxy link):
 * finish, or start TLS. */
static void up_tunnel_open(struct upstream *u)
{
    u->handshaking = 0;
    if (!u->tls) {
        up_done(u);
        return;
    }
    if (up_tls_start(u)) {
        up_fail(u, UP_ERR_NOMEM, "TLS: ", "cannot set up the handshake (out of memory?)");
        return;
    }
    up_tls_step(u);
}

/* Talks to the SOCKS5 or HTTP proxy: flush what we owe, read its answer. */
static void up_proxy_step(struct upstream *u)
{
    const char *err = NULL;
    int rc;

    while (u->out.len) {
        ssize_t w = send(u->fd, buf_data(&u->out), u->out.len, MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EAGAIN) {
                loop_mod(u->px->loop, u->fd, LOOP_WR);
                return;
            }
            up_fail(u, UP_ERR_PROXY, u->via->kind == LINK_SOCKS5 ? "SOCKS5: " : "HTTP proxy: ",
                    strerror(errno));
            return;
        }
        buf_consume(&u->out, (size_t)w);
    }
    for (;;) {
        ssize_t r;

        if (buf_reserve(&u->in) != 0 || buf_room(&u->in) == 0) {
            up_fail(u, UP_ERR_PROXY, "proxy: ", "answer too long");
            return;
        }
        r = recv(u->fd, buf_tail(&u->in), buf_room(&u->in), 0);
        if (r < 0 && errno == EAGAIN) {
            loop_mod(u->px->loop, u->fd, LOOP_RD);
            return;
        }
        if (r <= 0) {
            up_fail(u, UP_ERR_PROXY, u->via->kind == LINK_SOCKS5 ? "SOCKS5: " : "HTTP proxy: ",
                    r == 0 ? "the proxy closed the connection" : strerror(errno));
            return;
        }
        buf_commit(&u->in, (size_t)r);
        if (u->via->kind == LINK_SOCKS5)
            rc = socks5_input(&u->socks, &u->in, &u->out, &err);
        else
            rc = httpconn_response(&u->hc, &u->in, &err);
        if (rc < 0) {
            up_fail(u, UP_ERR_PROXY, "", err ? err : "proxy handshake failed");
            return;
        }
        if (rc == 1) {
            if (u->in.len) {
                up_fail(u, UP_ERR_PROXY, "proxy: ", "sent data before the tunnel was used");
                return;
            }
            up_tunnel_open(u);
            return;
        }
        if (u->out.len) {
            up_proxy_step(u);
            return;
        }
    }
}

static void up_proxy_start(struct upstream *u)
{
    int rc;

    u->handshaking = 1;
    buf_init(&u->in, 16384);  /* a proxy's answer head may be long */
    buf_init(&u->out, 1024);
    if (u->via->kind == LINK_SOCKS5) {
        rc = socks5_init(&u->socks, u->host, (uint16_t)u->port, u->via->user, u->via->pass);
        if (rc == 0)
            rc = socks5_start(&u->socks, &u->out);
    } else {
        httpconn_init(&u->hc);
        rc = httpconn_request(&u->out, u->host, (uint16_t)u->port, u->via->user,
                              u->via->pass);
    }
    if (rc != 0) {
        up_fail(u, UP_ERR_PROXY, "proxy: ", "cannot build the handshake");
        return;
    }
    up_proxy_step(u);
}

static void up_io(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct upstream *u = arg;
    int rc;

    (void)loop;
    (void)events;
    if (u->ssl) {
        up_tls_step(u);
        return;
    }
    if (u->handshaking) {
        up_proxy_step(u);
        return;
    }
    rc = net_connect_result(fd);
    if (rc) {
        up_try_next(u, strerror(-rc));
        return;
    }
    loop_timer_set(u->px->loop, &u->timer, u->deadline - loop_now(u->px->loop));
    if (u->via) {
        up_proxy_start(u);
        return;
    }
    up_tunnel_open(u);
}

static void up_on_timer(struct loop *loop, struct timer *t)
{
    struct upstream *u = t->arg;

    if (!u->ssl && !u->handshaking && u->next < u->res.n && loop_now(loop) < u->deadline) {
        up_try_next(u, "connect timed out");
        return;
    }
    up_fail(u, u->dreq ? UP_ERR_DNS : UP_ERR_TIMEOUT,
            u->ssl ? "TLS handshake" : u->dreq ? "DNS lookup" :
               u->handshaking ? "proxy handshake" : "connect", " timed out");
}

/* Tries the next resolved address; why describes the previous failure. */
static void up_try_next(struct upstream *u, const char *why)
{
    struct loop *loop = u->px->loop;

    if (u->fd >= 0) {
        loop_del(loop, u->fd);
        close(u->fd);
        u->fd = -1;
    }
    while (u->next < u->res.n) {
        size_t i = u->next++;
        uint64_t now = loop_now(loop), left, slice;
        const char *refused;
        int fd;

        if ((u->flags & UP_F_CHECK_DEST) && !u->via &&
            !policy_dest_ok(&u->gen->cfg, (struct sockaddr *)&u->res.addr[i],
                            (u->flags & UP_F_CLIENT_LOCAL) != 0, &refused)) {
            up_fail(u, UP_ERR_POLICY, "", refused);
            return;
        }
        fd = net_connect((struct sockaddr *)&u->res.addr[i], u->res.len[i]);

        if (fd < 0) {
            why = strerror(-fd);
            continue;
        }
        if (loop_add(loop, fd, LOOP_WR, up_io, u) != 0) {
            close(fd);
            why = "cannot watch socket";
            continue;
        }
        u->fd = fd;
        /* Leave time for the remaining addresses: a black-holed first
         * address must not eat the whole connect timeout. */
        left = u->deadline > now ? u->deadline - now : 0;
        slice = left / (u->res.n - i);
        if (slice < UP_ATTEMPT_MIN_MS)
            slice = left < UP_ATTEMPT_MIN_MS ? left : UP_ATTEMPT_MIN_MS;
        loop_timer_set(loop, &u->timer, slice);
        return;
    }
    up_fail(u, UP_ERR_CONNECT, "connect: ", why ? why : "no address");
}

static void up_on_dns(void *arg, const struct dns_result *res, enum dns_status st)
{
    struct upstream *u = arg;

    u->dreq = NULL;
    if (!res) {
        up_fail(u, UP_ERR_DNS, "", dns_strerror(st));
        return;
    }
    u->res = *res;
    u->next = 0;
    up_try_next(u, NULL);
}

struct upstream *upstream_open(struct proxy *px, struct gen *gen, const struct link *via,
                               const char *host, unsigned port, int tls, unsigned flags,
                               upstream_cb cb, void *arg)
{
    struct upstream *u;

    if (px->opener)
        return px->opener->open(px, gen, via, host, port, tls, flags, cb, arg);
    u = calloc(1, sizeof(*u));

    if (!u)
        return NULL;
    u->px = px;
    u->gen = gen;
    u->via = via && (via->kind == LINK_SOCKS5 || via->kind == LINK_HTTP) ? via : NULL;
    snprintf(u->host, sizeof(u->host), "%s", host);
    u->port = port;
    u->tls = tls;
    u->flags = flags;
    u->cb = cb;
    u->arg = arg;
    u->fd = -1;
    timer_init(&u->timer, up_on_timer, u);
    u->deadline = loop_now(px->loop) + gen->cfg.connect_timeout_ms;
    loop_timer_set(px->loop, &u->timer, gen->cfg.connect_timeout_ms);
    /* Through a proxy link only the proxy's own name is resolved here:
     * the target name goes to the proxy as it is. */
    if (u->via)
        u->dreq = dns_resolve(px->dns, u->via->host, u->via->port, up_on_dns, u);
    else
        u->dreq = dns_resolve(px->dns, host, port, up_on_dns, u);
    if (!u->dreq) {
        loop_timer_del(px->loop, &u->timer);
        free(u);
        return NULL;
    }
    return u;
}

void upstream_cancel(struct proxy *px, struct upstream *u)
{
    if (u && px->opener)
        px->opener->cancel(u);
    else if (u)
        up_release(u);
}

