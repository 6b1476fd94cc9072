/* admin.c — the admin HTTP endpoint on the proxy's loop. See admin.h.
 *
 * A connection lives through three states: READ (the request head, parsed
 * by llhttp through mitm/http/http1.h, at most ADMIN_MAX_HEAD bytes), WRITE (one
 * response, built whole in memory: none is large) and LINGER (our side
 * shut, unread request bytes drained until the peer closes, so that
 * closing does not reset a response the client has not read yet). One
 * timer bounds each connection's whole life. */
#include "proxy/admin.h"
#include "proxy/admin_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "ca/ca.h"
#include "mitm/http/http1.h"
#include "base/addr.h"
#include "proxy/conn.h"
#include "proxy/core/gen.h"
#include "base/metrics.h"
#include "base/net.h"

#define ADMIN_MAX_HEAD 8192u
#define ADMIN_MAX_CONNS 32u
#define ADMIN_TIMEOUT_MS 10000u
#define ADMIN_LINGER_MS 1000u

enum admin_state { AS_READ = 0, AS_WRITE, AS_LINGER };

struct admin_conn {
    struct admin *a;
    struct admin_conn *next, *prev;
    int fd;
    enum admin_state state;
    struct buf in;
    struct http1 h;
    char *out;                  /* the whole response */
    size_t out_len, out_off;
    struct timer timer;
};

struct admin {
    struct proxy *px;
    int lfd;
    char listen[300];
    time_t started;
    struct admin_conn *conns;
    unsigned nconns;
};

/* ---- connections ------------------------------------------------------- */

static void admin_conn_free(struct admin_conn *c)
{
    struct admin *a = c->a;
    struct loop *loop = a->px->loop;

    loop_timer_del(loop, &c->timer);
    loop_del(loop, c->fd);
    close(c->fd);
    c->fd = -1;
    buf_free(&c->in);
    free(c->out);
    c->out = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nconns--;
    free(c);
}

static void admin_on_timer(struct loop *loop, struct timer *t)
{
    (void)loop;
    admin_conn_free(t->arg);
}

static const char *admin_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

/* Writes what is left of the response; once all is out, shuts our side and
 * lingers. Returns -1 when c was freed. */
static int admin_flush(struct admin_conn *c)
{
    struct loop *loop = c->a->px->loop;

    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN)
            return 0;
        admin_conn_free(c);
        return -1;
    }
    shutdown(c->fd, SHUT_WR);
    c->state = AS_LINGER;
    loop_mod(loop, c->fd, LOOP_RD);
    loop_timer_set(loop, &c->timer, ADMIN_LINGER_MS);
    return 0;
}

/* Queues a response and starts writing it. body (borrowed) may be NULL. */
static int admin_respond(struct admin_conn *c, int status, const char *ctype,
                         const char *extra, const char *body, size_t body_len, int head_only)
{
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                     "Connection: close\r\n%s\r\n",
                     status, admin_reason(status), ctype, body_len, extra ? extra : "");
    size_t blen = body && !head_only ? body_len : 0;
    char *out;

    if (n < 0 || (size_t)n >= sizeof(head) || !(out = malloc((size_t)n + blen + 1))) {
        admin_conn_free(c);
        return -1;
    }
    memcpy(out, head, (size_t)n);
    if (blen)
        memcpy(out + n, body, blen);
    free(c->out);
    c->out = out;
    c->out_len = (size_t)n + blen;
    c->out_off = 0;
    c->state = AS_WRITE;
    loop_mod(c->a->px->loop, c->fd, LOOP_WR);
    return admin_flush(c);
}

static int admin_text(struct admin_conn *c, int status, const char *text, int head_only)
{
    return admin_respond(c, status, "text/plain; charset=utf-8",
                         status == 405 ? "Allow: GET, HEAD\r\n" : NULL, text, strlen(text),
                         head_only);
}

struct ca *admin_ca(const struct proxy *px)
{
    return px->gen ? px->gen->ca : NULL;
}

unsigned admin_count(const struct proxy *px, int kind)
{
    unsigned n = 0;
    size_t i;

    /* every worker's counts, written by its own thread */
    for (i = 0; i < (px->npeers ? px->npeers : 1); i++) {
        const struct proxy *p = px->npeers ? px->peers[i] : px;

        n += __atomic_load_n(kind == CONN_TUNNEL ? &p->n_tunnel :
                             kind == CONN_MITM ? &p->n_mitm : &p->nconns, __ATOMIC_RELAXED);
    }
    return n;
}

static void admin_update_gauges(struct proxy *px, struct metrics *m)
{
    unsigned tunnel = admin_count(px, CONN_TUNNEL), mitm = admin_count(px, CONN_MITM);

    metrics_set(m, "hubgate_connections", "kind=\"client\"", admin_count(px, CONN_HTTP));
    metrics_set(m, "hubgate_connections", "kind=\"tunnel\"", tunnel);
    metrics_set(m, "hubgate_connections", "kind=\"intercepted\"", mitm);
    if (admin_ca(px))
        metrics_set(m, "hubgate_ca_expiry_timestamp_seconds", "",
                    (double)ca_not_after(admin_ca(px)));
}

/* Every worker counts in its own table; a scrape sums them all, with a
 * table of this scrape's own on top for the gauges read now (connections,
 * CA expiry), whose stamps make them the latest. */
static int route_metrics(struct admin_conn *c, int head_only)
{
    struct proxy *px = c->a->px;
    size_t n = px->npeers ? px->npeers : 1, i;
    struct metrics **t = calloc(n + 1, sizeof(*t));
    struct metrics *now = metrics_new();
    char *out = NULL;
    size_t len = 0;
    int rc = -1;

    if (t && now) {
        for (i = 0; i < n; i++)
            t[i] = px->npeers ? px->peers[i]->metrics : px->metrics;
        t[n] = now;
        admin_update_gauges(px, now);
        rc = metrics_render(t, n + 1, &out, &len);
    }
    metrics_free(now);
    free(t);
    if (rc != 0) {
        free(out);
        return admin_text(c, 503, "out of memory\n", head_only);
    }
    rc = admin_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, out, len,
                       head_only);
    free(out);
    return rc;
}

static int route_page(struct admin_conn *c, int head_only)
{
    char *page;
    size_t len;
    int rc;

    if (admin_page(c->a->px, c->a->listen, c->a->started, &page, &len) != 0)
        return admin_text(c, 503, "out of memory\n", head_only);
    rc = admin_respond(c, 200, "text/html; charset=utf-8",
                       "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n",
                       page, len, head_only);
    free(page);
    return rc;
}

static int route_ca(struct admin_conn *c, int head_only)
{
    X509 *crt = admin_ca(c->a->px) ? ca_cert(admin_ca(c->a->px)) : NULL;
    BIO *bio;
    char *pem;
    long n;
    int rc;

    if (!crt)
        return admin_text(c, 503, "no CA loaded\n", head_only);
    bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_X509(bio, crt) != 1) {
        BIO_free(bio);
        return admin_text(c, 503, "cannot encode the CA certificate\n", head_only);
    }
    n = BIO_get_mem_data(bio, &pem);
    rc = admin_respond(c, 200, "application/x-pem-file",
                       "Content-Disposition: attachment; filename=\"hubgate-ca.crt\"\r\n", pem,
                       (size_t)n, head_only);
    BIO_free(bio);
    return rc;
}

static int admin_route(struct admin_conn *c)
{
    const char *base = buf_data(&c->in);
    const char *path = http1_str(base, c->h.url_off);
    size_t len = c->h.url_len;
    const char *q = memchr(path, '?', len);
    int method = http1_method(&c->h), head_only = method == HTTP_HEAD;

    if (q)
        len = (size_t)(q - path);
    if (method != HTTP_GET && method != HTTP_HEAD)
        return admin_text(c, 405, "only GET and HEAD\n", 0);
    if (len == 8 && memcmp(path, "/metrics", 8) == 0)
        return route_metrics(c, head_only);
    /* Draining (SIGTERM seen): tell load balancers to stop sending. */
    if (len == 8 && memcmp(path, "/healthz", 8) == 0)
        return c->a->px->draining ? admin_text(c, 503, "draining\n", head_only)
                                  : admin_text(c, 200, "ok\n", head_only);
    if (len == 7 && memcmp(path, "/ca.crt", 7) == 0)
        return route_ca(c, head_only);
    if (len == 1 && path[0] == '/')
        return route_page(c, head_only);
    return admin_text(c, 404, "not found\n", head_only);
}

/* Reads and parses until a head is complete. Returns -1 when c was freed. */
static int admin_read(struct admin_conn *c)
{
    for (;;) {
        enum http1_ev ev;
        ssize_t n;

        if (buf_reserve(&c->in) != 0) {
            admin_conn_free(c);
            return -1;
        }
        if (buf_room(&c->in) == 0)
            return admin_text(c, 431, "request head too large\n", 0);
        n = read(c->fd, buf_tail(&c->in), buf_room(&c->in));
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            admin_conn_free(c);
            return -1;
        }
        buf_commit(&c->in, (size_t)n);
        ev = http1_feed(&c->h, &c->in);
        if (ev == H1_EV_HEAD)
            return admin_route(c);
        if (ev == H1_EV_ERROR)
            return admin_text(c, c->h.status == 431 ? 431 : 400,
                              c->h.status == 431 ? "request head too large\n"
                                                 : "malformed request\n", 0);
    }
}

/* Drains what the peer still sends after our response; closes at EOF. */
static void admin_linger(struct admin_conn *c)
{
    char sink[4096];

    for (;;) {
        ssize_t n = read(c->fd, sink, sizeof(sink));

        if (n > 0)
            continue;
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN)
            return;
        admin_conn_free(c);
        return;
    }
}

static void admin_on_io(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct admin_conn *c = arg;

    (void)loop;
    (void)fd;
    (void)events;
    switch (c->state) {
    case AS_READ: admin_read(c); break;
    case AS_WRITE: admin_flush(c); break;
    case AS_LINGER: admin_linger(c); break;
    }
}

static void admin_on_accept(struct loop *loop, int lfd, void *arg, uint32_t events)
{
    struct admin *a = arg;
    int i;

    (void)events;
    for (i = 0; i < 16; i++) {
        struct sockaddr_storage peer;
        socklen_t plen;
        struct admin_conn *c;
        int fd = net_accept(lfd, &peer, &plen);

        if (fd < 0)
            return;
        if (a->nconns >= ADMIN_MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
            close(fd);
            continue;
        }
        c->a = a;
        c->fd = fd;
        buf_init(&c->in, ADMIN_MAX_HEAD);
        http1_init(&c->h, HTTP_REQUEST, ADMIN_MAX_HEAD);
        timer_init(&c->timer, admin_on_timer, c);
        if (loop_add(loop, fd, LOOP_RD, admin_on_io, c) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
        a->nconns++;
        loop_timer_set(loop, &c->timer, ADMIN_TIMEOUT_MS);
        /* The admin endpoint serves the same clients as the proxy. */
        if (a->px->cfg && !cidr_list_match(&a->px->cfg->allow, (struct sockaddr *)&peer))
            admin_text(c, 403, "forbidden\n", 0);
    }
}

int admin_start(struct proxy *px, const char *listen, char *err, size_t errlen)
{
    char host[256];
    uint16_t port;
    struct admin *a;
    int fd;

    px->admin = NULL;
    if (!listen || listen[0] == '\0')
        return 0;
    if (addr_parse_hostport(listen, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "[admin] listen: \"%s\" is not host:port "
                 "(examples: 127.0.0.1:3129, [::1]:3129; empty disables)", listen);
        return -1;
    }
    fd = net_listen(host, port, 0);
    if (fd < 0) {
        snprintf(err, errlen, "[admin] listen: cannot listen on %s: %s%s", listen,
                 strerror(-fd), fd == -EINVAL ? " (the host must be an IP address)" : "");
        return -1;
    }
    a = calloc(1, sizeof(*a));
    if (!a || loop_add(px->loop, fd, LOOP_RD, admin_on_accept, a) != 0) {
        snprintf(err, errlen, "[admin] listen: cannot watch %s: out of memory", listen);
        free(a);
        close(fd);
        return -1;
    }
    a->px = px;
    a->lfd = fd;
    a->started = time(NULL);
    snprintf(a->listen, sizeof(a->listen), "%s", listen);
    px->admin = a;
    return 0;
}

void admin_stop(struct proxy *px)
{
    struct admin *a = px->admin;
    struct admin_conn *c, *next;

    if (!a)
        return;
    for (c = a->conns; c; c = next) {
        next = c->next;
        admin_conn_free(c);
    }
    loop_del(px->loop, a->lfd);
    close(a->lfd);
    free(a);
    px->admin = NULL;
}
