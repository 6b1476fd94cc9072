/* flow_test_util.h — a whole worker on the real event loop, for tests that
 * drive the connection, exchange and tunnel state machines: the client is
 * the test's end of a socketpair given to conn_accept(), and every
 * upstream connection hubgate opens is a socketpair whose other end the
 * test plays as the origin (px.opener replaces upstream_open()). Nothing
 * touches the network. Test-only; static functions, one includer. */
#ifndef HUBGATE_FLOW_TEST_UTIL_H
#define HUBGATE_FLOW_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/log.h"
#include "ca/ca.h"
#include "base/metrics.h"
#include "mitm/cache/cache.h"
#include "mitm/carry.h"
#include "mitm/segfetch.h"
#include "proxy/conn.h"
#include "proxy/core/config.h"
#include "proxy/core/gen.h"
#include "proxy/core/link.h"
#include "proxy/up/pool.h"
#include "proxy/up/upstream.h"

#define FLOW_MAX_OPENS 8
#define FLOW_WAIT_MS   3000u

/* One upstream connection hubgate asked for. */
struct upstream {
    struct loop_task task;
    upstream_cb cb;
    void *arg;
    int fd;             /* hubgate's end, until delivered */
    int fail;           /* deliver a connect failure instead */
};

struct flow_open {
    char host[256];
    unsigned port;
    int tls;
    enum link_kind via;
    unsigned flags;     /* UP_F_* the destination is checked with */
    int origin;         /* the test's end, -1 when it failed */
};

static struct flow {
    struct proxy px;
    char dir[64];
    struct flow_open opens[FLOW_MAX_OPENS];
    int nopens;
    unsigned fail_mask;     /* bit i: the i-th open fails to connect */
    struct timer tick;
    int (*cond)(void *arg);
    void *cond_arg;
    uint64_t deadline;
} W;

static void flow_deliver(void *arg)
{
    struct upstream *u = arg;
    struct up_error e = {UP_ERR_CONNECT, "connect: ", "Connection refused", 0};

    if (u->fail)
        u->cb(u->arg, -1, NULL, &e);
    else
        u->cb(u->arg, u->fd, NULL, NULL);
    free(u);
}

static struct upstream *flow_open_fn(struct proxy *px, struct gen *gen, const struct link *via,
                                     const char *host, unsigned port, int tls, unsigned flags,
                                     upstream_cb cb, void *arg)
{
    struct upstream *u = calloc(1, sizeof(*u));
    struct flow_open *o;
    int sv[2];

    (void)gen;
    assert_non_null(u);
    assert_true(W.nopens < FLOW_MAX_OPENS);
    o = &W.opens[W.nopens];
    snprintf(o->host, sizeof(o->host), "%s", host);
    o->port = port;
    o->tls = tls;
    o->flags = flags;
    o->via = via ? via->kind : LINK_DIRECT;
    o->origin = -1;
    u->cb = cb;
    u->arg = arg;
    u->fd = -1;
    u->fail = (W.fail_mask >> W.nopens) & 1u;
    if (!u->fail) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
                         0);
        u->fd = sv[0];
        o->origin = sv[1];
    }
    W.nopens++;
    /* never from inside the call, as upstream_open() promises */
    loop_defer(px->loop, &u->task, flow_deliver, u);
    return u;
}

static void flow_cancel_fn(struct upstream *u)
{
    loop_task_cancel(&u->task);
    if (u->fd >= 0)
        close(u->fd);
    free(u);
}

static const struct upstream_opener flow_opener = {flow_open_fn, flow_cancel_fn};

static void flow_on_tick(struct loop *loop, struct timer *t)
{
    if (W.cond(W.cond_arg) || loop_now(loop) >= W.deadline)
        loop_stop(loop);
    else
        loop_timer_set(loop, t, 1);
}

/* Runs the loop until cond(arg) holds (checked every millisecond) or
 * FLOW_WAIT_MS passed; returns cond(arg). */
static int flow_run_until(int (*cond)(void *arg), void *arg)
{
    if (cond(arg))
        return 1;
    W.cond = cond;
    W.cond_arg = arg;
    W.deadline = loop_now(W.px.loop) + FLOW_WAIT_MS;
    loop_timer_set(W.px.loop, &W.tick, 1);
    loop_run(W.px.loop);
    loop_timer_del(W.px.loop, &W.tick);
    return cond(arg);
}

static int flow_readable(void *arg)
{
    struct pollfd p = {*(int *)arg, POLLIN, 0};

    return poll(&p, 1, 0) == 1;
}

static int flow_nopens_is(void *arg)
{
    return W.nopens >= *(int *)arg;
}

static __attribute__((unused)) int flow_no_conns(void *arg)
{
    (void)arg;
    return W.px.nconns == 0;
}

/* Waits until the i-th upstream was opened and its first bytes arrived. */
static int flow_origin(int i)
{
    int want = i + 1;

    assert_true(flow_run_until(flow_nopens_is, &want));
    assert_true(W.opens[i].origin >= 0);
    assert_true(flow_run_until(flow_readable, &W.opens[i].origin));
    return W.opens[i].origin;
}

/* Reads what fd has now, after running the loop until it has something;
 * NUL-terminates. Returns the count (0: EOF or nothing). */
static __attribute__((unused)) size_t flow_read(int fd, char *out, size_t outlen)
{
    ssize_t n;

    flow_run_until(flow_readable, &fd);
    n = recv(fd, out, outlen - 1, 0);
    if (n < 0)
        n = 0;
    out[n] = '\0';
    return (size_t)n;
}

struct flow_sink {
    int fd;
    char *buf;
    size_t len, cap, want;   /* want: stop at this many bytes (0: at EOF) */
    int eof, err;
};

static int flow_sink_step(void *arg)
{
    struct flow_sink *s = arg;

    for (;;) {
        ssize_t n;

        if (s->len + 65536 > s->cap) {
            s->cap = (s->len + 65536) * 2;
            s->buf = realloc(s->buf, s->cap);
            assert_non_null(s->buf);
        }
        n = recv(s->fd, s->buf + s->len, s->cap - s->len - 1, 0);
        if (n > 0) {
            s->len += (size_t)n;
            s->buf[s->len] = '\0';
            continue;
        }
        if (n == 0)
            s->eof = 1;
        else if (errno != EAGAIN)
            s->err = errno, s->eof = 1;
        break;
    }
    return s->eof || (s->want && s->len >= s->want);
}

/* Reads fd until want bytes (0: until EOF or an error). */
static __attribute__((unused)) void flow_sink(struct flow_sink *s, int fd, size_t want)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
    s->want = want;
    flow_run_until(flow_sink_step, s);
}

struct flow_wait_fd {
    struct flow_sink *s;        /* drained while waiting, or NULL */
    int fd;
};

static int flow_drain_until_readable(void *arg)
{
    struct flow_wait_fd *w = arg;

    if (w->s)
        flow_sink_step(w->s);
    return flow_readable(&w->fd);
}

/* Reads one request head from origin end fd into out (NUL-terminated),
 * draining the client into s meanwhile (NULL: nothing to drain). */
static __attribute__((unused)) void flow_origin_request_draining(int fd, struct flow_sink *s,
                                                                 char *out, size_t outlen)
{
    struct flow_wait_fd w = {s, fd};
    size_t n = 0;

    for (;;) {
        ssize_t r;

        assert_true(flow_run_until(flow_drain_until_readable, &w));
        r = recv(fd, out + n, outlen - 1 - n, 0);
        assert_true(r > 0);
        n += (size_t)r;
        out[n] = '\0';
        if (strstr(out, "\r\n\r\n"))
            return;
    }
}

static __attribute__((unused)) void flow_origin_request(int fd, char *out, size_t outlen)
{
    flow_origin_request_draining(fd, NULL, out, outlen);
}

static __attribute__((unused)) size_t flow_head_len(const char *p)
{
    const char *e = p ? strstr(p, "\r\n\r\n") : NULL;

    return e ? (size_t)(e + 4 - p) : 0;
}

/* Reads one answer with a body of body bytes from cl (or until EOF) into
 * s; the caller frees s->buf. */
static __attribute__((unused)) void flow_sink_answer(struct flow_sink *s, int cl, size_t body)
{
    flow_sink(s, cl, 1);
    while (!s->eof && (!flow_head_len(s->buf) || s->len < flow_head_len(s->buf) + body)) {
        s->want = s->len + 1;
        if (!flow_run_until(flow_sink_step, s))
            break;
    }
}

static int flow_writable(void *arg)
{
    struct pollfd p = {*(int *)arg, POLLOUT, 0};

    return poll(&p, 1, 0) == 1;
}

/* Sends all of p[0..n) on the non-blocking fd, running the loop while the
 * other side drains it. */
static void flow_send(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

        if (w < 0) {
            assert_int_equal(errno, EAGAIN);
            assert_true(flow_run_until(flow_writable, &fd));
            continue;
        }
        c += w;
        n -= (size_t)w;
    }
}

static void flow_sendf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void flow_sendf(int fd, const char *fmt, ...)
{
    char b[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b, sizeof(b), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(b));
    flow_send(fd, b, (size_t)n);
}

/* A new client connection; returns the test's end. mitm: act as if
 * "CONNECT host:443" to an intercepted host had been answered (no TLS:
 * the state machines are the same). */
static int flow_client(int mitm, const char *host)
{
    struct sockaddr_in sin = {0};
    struct sockaddr_storage ss;
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(0x7f000001);
    sin.sin_port = htons(40000);
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, &sin, sizeof(sin));
    conn_accept(&W.px, sv[0], &ss);
    assert_non_null(W.px.conns);
    if (mitm) {
        struct conn *c = W.px.conns;

        conn_set_mode(c, CONN_MITM);
        snprintf(c->host, sizeof(c->host), "%s", host);
        c->port = 443;
    }
    return sv[1];
}

/* sha256 of p[0..n) as 64 hex digits. */
static void flow_sha256(const void *p, size_t n, char hex[65])
{
    unsigned char md[32];
    unsigned i, len = 0;

    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* A generation for the tests' config plus extra lines; prev: the running
 * one on a reload, else NULL. Origins are "verified" against hubgate's own
 * CA certificate: any PEM file does, the opener makes no TLS. */
static struct gen *flow_gen(const char *extra, const struct gen *prev)
{
    static char *const hosts[] = {"registry.test", "blobs.test"};
    char text[2048], err[512], dir[96];
    struct config cfg;
    struct gen *g;

    snprintf(dir, sizeof(dir), "%s/ca", W.dir);
    if (ca_create(dir, hosts, 2, 0, err, sizeof(err)) != 0)
        fail_msg("ca_create: %s", err);
    snprintf(text, sizeof(text),
             "[proxy]\nlisten = 127.0.0.1:1\n[ca]\ndir = %s\n"
             "[intercept]\nhosts = registry.test blobs.test\nverify_digest = always\n"
             "[upstream]\nvia = direct, socks5://127.0.0.1:9\n"
             "ca_file = %s/ca.crt\n[dns]\nservers =\n"
             "[admin]\nlisten =\n%s", dir, dir, extra);
    if (config_load_string(&cfg, "flow.ini", text, strlen(text), err, sizeof(err)) != 0)
        fail_msg("config: %s", err);
    g = gen_new(&cfg, prev, NULL, NULL, err, sizeof(err));
    if (!g)
        fail_msg("gen_new: %s", err);
    return g;
}

static int flow_setup(void **state)
{
    (void)state;
    memset(&W, 0, sizeof(W));
    snprintf(W.dir, sizeof(W.dir), "/tmp/hubgate-flow.XXXXXX");
    assert_non_null(mkdtemp(W.dir));
    log_set_level(LOG_ERR);
    W.px.loop = loop_new();
    assert_non_null(W.px.loop);
    W.px.lfd = -1;
    W.px.gen = flow_gen("", NULL);
    W.px.cfg = &W.px.gen->cfg;
    W.px.pool = pool_new(W.px.loop, 16, 30000);
    W.px.opener = &flow_opener;
    timer_init(&W.tick, flow_on_tick, NULL);
    return 0;
}

/* A blob cache of 64 MiB in the test's directory, for the proxy. */
static __attribute__((unused)) void flow_open_cache(void)
{
    char dir[128], err[256];

    snprintf(dir, sizeof(dir), "%s/cache", W.dir);
    if (cache_open(&W.px.cache, dir, 64u << 20, err, sizeof(err)) != 0)
        fail_msg("cache_open: %s", err);
}

static int flow_teardown(void **state)
{
    char cmd[128];
    int i;

    (void)state;
    while (W.px.conns) {
        conn_close(W.px.conns);
        loop_run_deferred(W.px.loop);
    }
    carry_free_all(&W.px);
    loop_run_deferred(W.px.loop);
    cache_close(W.px.cache);        /* after the connections: no fill left */
    W.px.cache = NULL;
    metrics_free(W.px.metrics);
    W.px.metrics = NULL;
    for (i = 0; i < W.nopens; i++)
        if (W.opens[i].origin >= 0)
            close(W.opens[i].origin);
    pool_free(W.px.pool);
    segfetch_shared_free(W.px.segs);
    gen_unref(W.px.gen);
    loop_free(W.px.loop);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", W.dir);
    if (system(cmd) != 0)
        fail_msg("cannot remove %s", W.dir);
    return 0;
}

#endif
