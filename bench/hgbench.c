/* hgbench.c — the benchmark's own client and sink (bench/run.sh builds it
 * at run time into its temp dir; not part of hubgate).
 *
 *   hgbench lat  OPTS   one keep-alive connection, -n GETs one after the
 *                       other; prints per-request latency percentiles
 *   hgbench par  OPTS   -c threads, each one connection and -n GETs, started
 *                       together; prints requests/s and latency percentiles
 *   hgbench idle OPTS   -c connections opened one by one (CONNECT, and with
 *                       --tls a handshake and one GET), then held open until
 *                       SIGTERM or --hold seconds pass
 *   hgbench sink --listen IP:PORT [--hold S]   accepts and holds connections,
 *                       discarding what they send
 *
 * OPTS: --connect IP:PORT   where the TCP connection goes (the proxy, or the
 *                           origin itself)
 *       --proxy             send "CONNECT host:port" first
 *       --host NAME --port N  the origin's name (SNI, certificate check,
 *                           Host header, CONNECT authority) and port
 *       --cafile FILE       trust anchors for the origin or the proxy's leaf
 *       --path P  -n N  -c C  --tls / --no-tls  --hold S  --max-time S
 *       --raw FILE          write every latency (microseconds), one a line
 * Output is one line of key=value pairs; the exit status is 0 only when
 * every request got a complete 200 answer. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct opts {
    const char *connect, *host, *cafile, *path, *raw, *listen;
    int port, n, c, tls, proxy;
    double hold, max_time;
};

struct client {
    int fd;
    SSL *ssl;
    char buf[65536];
    size_t len;
};

struct worker {
    pthread_t th;
    const struct opts *o;
    SSL_CTX *ctx;
    double *lat;  /* o->n latencies, microseconds */
    int done, err;
};

static pthread_barrier_t start_barrier;
static double deadline;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
    char ip[64];
    const char *colon = strrchr(s, ':');

    if (!colon || (size_t)(colon - s) >= sizeof(ip))
        return -1;
    memcpy(ip, s, colon - s);
    ip[colon - s] = 0;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)atoi(colon + 1));
    return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

static int io_wait(struct client *cl, short ev)
{
    struct pollfd p = {.fd = cl->fd, .events = ev};
    int ms = (int)((deadline - now()) * 1000);

    if (ms <= 0)
        return -1;
    return poll(&p, 1, ms) == 1 ? 0 : -1;
}

/* Raw or TLS read into cl->buf after len; returns bytes, 0 on EOF, -1. */
static int cl_read(struct client *cl)
{
    size_t room = sizeof(cl->buf) - cl->len;

    for (;;) {
        if (cl->ssl) {
            int r = SSL_read(cl->ssl, cl->buf + cl->len, (int)room);

            if (r > 0)
                return r;
            int e = SSL_get_error(cl->ssl, r);

            if (e == SSL_ERROR_WANT_READ && io_wait(cl, POLLIN) == 0)
                continue;
            if (e == SSL_ERROR_WANT_WRITE && io_wait(cl, POLLOUT) == 0)
                continue;
            return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
        }
        ssize_t r = read(cl->fd, cl->buf + cl->len, room);

        if (r >= 0)
            return (int)r;
        if (errno == EAGAIN && io_wait(cl, POLLIN) == 0)
            continue;
        if (errno != EINTR)
            return -1;
    }
}

static int cl_write(struct client *cl, const char *p, size_t n)
{
    while (n) {
        if (cl->ssl) {
            int r = SSL_write(cl->ssl, p, (int)n);

            if (r > 0) {
                p += r;
                n -= r;
                continue;
            }
            int e = SSL_get_error(cl->ssl, r);

            if (e == SSL_ERROR_WANT_READ && io_wait(cl, POLLIN) == 0)
                continue;
            if (e == SSL_ERROR_WANT_WRITE && io_wait(cl, POLLOUT) == 0)
                continue;
            return -1;
        }
        ssize_t r = write(cl->fd, p, n);

        if (r > 0) {
            p += r;
            n -= r;
        } else if (r == -1 && errno == EAGAIN) {
            if (io_wait(cl, POLLOUT))
                return -1;
        } else if (!(r == -1 && errno == EINTR)) {
            return -1;
        }
    }
    return 0;
}

/* Reads one response head (and, when body, the Content-Length body that
 * follows). Returns the status, or -1. Bytes past the head are kept. */
static int read_response(struct client *cl, int body)
{
    char *end;
    int status;
    long long clen = -1, got;

    for (;;) {
        end = memmem(cl->buf, cl->len, "\r\n\r\n", 4);
        if (end)
            break;
        if (cl->len == sizeof(cl->buf))
            return -1;
        int r = cl_read(cl);

        if (r <= 0)
            return -1;
        cl->len += r;
    }
    size_t hlen = end + 4 - cl->buf;

    if (sscanf(cl->buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    for (char *p = cl->buf; p < end; p++) {
        if ((p == cl->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0)
            clen = atoll(p + 15);
    }
    memmove(cl->buf, cl->buf + hlen, cl->len - hlen);
    cl->len -= hlen;
    if (!body)
        return status;
    if (clen < 0)
        return -1;
    got = (long long)cl->len < clen ? (long long)cl->len : clen;
    memmove(cl->buf, cl->buf + got, cl->len - got);
    cl->len -= got;
    while (got < clen) {
        int r = cl_read(cl);

        if (r <= 0)
            return -1;
        long long take = r < clen - got ? r : clen - got;

        got += take;
        if (take < r) {
            memmove(cl->buf, cl->buf + take, r - take);
            cl->len = r - take;
        }
    }
    return status;
}

static void cl_close(struct client *cl)
{
    if (cl->ssl) {
        SSL_free(cl->ssl);
        cl->ssl = NULL;
    }
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
}

/* TCP connect, CONNECT when asked, TLS when asked. 0 or -1 (message on
 * stderr). */
static int cl_open(struct client *cl, const struct opts *o, SSL_CTX *ctx)
{
    struct sockaddr_in sa;
    int one = 1;
    char req[512];

    cl->len = 0;
    cl->ssl = NULL;
    if (parse_addr(o->connect, &sa))
        return fprintf(stderr, "hgbench: bad --connect %s\n", o->connect), -1;
    cl->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (cl->fd < 0)
        return perror("hgbench: socket"), -1;
    setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS)
        return perror("hgbench: connect"), -1;
    if (io_wait(cl, POLLOUT))
        return fprintf(stderr, "hgbench: connect timed out\n"), -1;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);

    getsockopt(cl->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr)
        return fprintf(stderr, "hgbench: connect: %s\n", strerror(soerr)), -1;
    if (o->proxy) {
        int n = snprintf(req, sizeof(req), "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                         o->host, o->port, o->host, o->port);

        if (cl_write(cl, req, n))
            return fprintf(stderr, "hgbench: CONNECT write failed\n"), -1;
        int st = read_response(cl, 0);

        if (st != 200)
            return fprintf(stderr, "hgbench: CONNECT answered %d\n", st), -1;
    }
    if (!o->tls)
        return 0;
    cl->ssl = SSL_new(ctx);
    SSL_set_fd(cl->ssl, cl->fd);
    SSL_set_tlsext_host_name(cl->ssl, o->host);
    SSL_set1_host(cl->ssl, o->host);
    for (;;) {
        int r = SSL_connect(cl->ssl);

        if (r == 1)
            break;
        int e = SSL_get_error(cl->ssl, r);

        if ((e == SSL_ERROR_WANT_READ && io_wait(cl, POLLIN) == 0) ||
            (e == SSL_ERROR_WANT_WRITE && io_wait(cl, POLLOUT) == 0))
            continue;
        fprintf(stderr, "hgbench: TLS handshake with %s failed: ", o->host);
        ERR_print_errors_fp(stderr);
        fputc('\n', stderr);
        return -1;
    }
    return 0;
}

static int get_once(struct client *cl, const struct opts *o)
{
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hgbench\r\nAccept: */*\r\n\r\n",
                     o->path, o->host);

    if (cl_write(cl, req, n))
        return -1;
    return read_response(cl, 1);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct client *cl = calloc(1, sizeof(*cl));
    int ok = cl && cl_open(cl, w->o, w->ctx) == 0;

    if (!ok)
        w->err = 1;
    pthread_barrier_wait(&start_barrier);
    for (int i = 0; ok && i < w->o->n; i++) {
        double t0 = now();
        int st = get_once(cl, w->o);

        if (st != 200) {
            fprintf(stderr, "hgbench: request %d answered %d\n", i, st);
            w->err = 1;
            break;
        }
        w->lat[w->done++] = (now() - t0) * 1e6;
    }
    if (cl)
        cl_close(cl);
    free(cl);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    size_t i = (size_t)(p / 100.0 * (n - 1) + 0.5);

    return n ? v[i < n ? i : n - 1] : 0;
}

static SSL_CTX *make_ctx(const struct opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx)
        return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (o->cafile && SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1) {
        fprintf(stderr, "hgbench: cannot load %s\n", o->cafile);
        SSL_CTX_free(ctx);
        return NULL;
    }
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    return ctx;
}

static int run_requests(const struct opts *o, int threads)
{
    SSL_CTX *ctx = o->tls ? make_ctx(o) : NULL;
    struct worker *w = calloc(threads, sizeof(*w));
    pthread_attr_t attr;
    size_t total = 0, k = 0;
    int err = 0;

    if ((o->tls && !ctx) || !w)
        return 2;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_barrier_init(&start_barrier, NULL, threads + 1);
    for (int i = 0; i < threads; i++) {
        w[i].o = o;
        w[i].ctx = ctx;
        w[i].lat = calloc(o->n, sizeof(double));
        if (!w[i].lat || pthread_create(&w[i].th, &attr, worker_main, &w[i]))
            return fprintf(stderr, "hgbench: cannot start thread %d\n", i), 2;
    }
    pthread_barrier_wait(&start_barrier);
    double t0 = now();

    for (int i = 0; i < threads; i++) {
        pthread_join(w[i].th, NULL);
        total += w[i].done;
        err |= w[i].err;
    }
    double wall = now() - t0;
    double *all = calloc(total ? total : 1, sizeof(double)), sum = 0;

    for (int i = 0; i < threads; i++)
        for (int j = 0; j < w[i].done; j++) {
            all[k++] = w[i].lat[j];
            sum += w[i].lat[j];
        }
    qsort(all, total, sizeof(double), cmp_double);
    if (o->raw) {
        FILE *f = fopen(o->raw, "w");

        for (size_t i = 0; f && i < total; i++)
            fprintf(f, "%.1f\n", all[i]);
        if (f)
            fclose(f);
    }
    printf("requests=%zu errors=%d wall_s=%.3f rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "max_us=%.1f mean_us=%.1f\n",
           total, err, wall, wall > 0 ? total / wall : 0, pct(all, total, 50),
           pct(all, total, 90), pct(all, total, 99), total ? all[total - 1] : 0,
           total ? sum / total : 0);
    return err || total != (size_t)threads * o->n;
}

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* Sleeps until hold seconds pass or SIGTERM/SIGINT arrives. */
static void wait_hold(double hold)
{
    double end = now() + hold;

    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    while (!stop_flag && now() < end)
        usleep(100 * 1000);
}

static int run_idle(const struct opts *o)
{
    SSL_CTX *ctx = o->tls ? make_ctx(o) : NULL;
    struct client *cl = calloc(o->c, sizeof(*cl));
    double t0 = now();
    int open = 0;

    if ((o->tls && !ctx) || !cl)
        return 2;
    for (; open < o->c; open++) {
        if (cl_open(&cl[open], o, ctx))
            break;
        if (o->tls && get_once(&cl[open], o) != 200) {
            fprintf(stderr, "hgbench: idle %d: request failed\n", open);
            cl_close(&cl[open]);
            break;
        }
        /* A TLS connection only needs its SSL and fd from here on. */
    }
    printf("ready=%d wanted=%d setup_s=%.3f\n", open, o->c, now() - t0);
    fflush(stdout);
    if (open == o->c)
        wait_hold(o->hold);
    for (int i = 0; i < open; i++)
        cl_close(&cl[i]);
    return open == o->c ? 0 : 1;
}

static int run_sink(const struct opts *o)
{
    struct sockaddr_in sa;
    int one = 1, ls, ep, held = 0;
    struct epoll_event ev, evs[256];
    char b[16384];
    double end = now() + o->hold;

    if (!o->listen || parse_addr(o->listen, &sa))
        return fprintf(stderr, "hgbench: sink needs --listen IP:PORT\n"), 2;
    ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 4096))
        return perror("hgbench: sink bind/listen"), 2;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.fd = ls;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    while (!stop_flag && now() < end) {
        int n = epoll_wait(ep, evs, 256, 1000);

        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;

            if (fd == ls) {
                int c;

                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    ev.events = EPOLLIN;
                    ev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                    held++;
                }
                continue;
            }
            ssize_t r = read(fd, b, sizeof(b));

            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                close(fd);
                held--;
            }
        }
    }
    (void)held;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {.path = "/", .port = 443, .n = 1, .c = 1, .tls = 1, .hold = 60,
                     .max_time = 120};

    if (argc < 2)
        goto usage;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--proxy")) {
            o.proxy = 1;
            continue;
        }
        if (!strcmp(a, "--tls") || !strcmp(a, "--no-tls")) {
            o.tls = a[2] == 't';
            continue;
        }
        if (!v)
            goto usage;
        i++;
        if (!strcmp(a, "--connect")) o.connect = v;
        else if (!strcmp(a, "--host")) o.host = v;
        else if (!strcmp(a, "--port")) o.port = atoi(v);
        else if (!strcmp(a, "--cafile")) o.cafile = v;
        else if (!strcmp(a, "--path")) o.path = v;
        else if (!strcmp(a, "--raw")) o.raw = v;
        else if (!strcmp(a, "--listen")) o.listen = v;
        else if (!strcmp(a, "-n")) o.n = atoi(v);
        else if (!strcmp(a, "-c")) o.c = atoi(v);
        else if (!strcmp(a, "--hold")) o.hold = atof(v);
        else if (!strcmp(a, "--max-time")) o.max_time = atof(v);
        else goto usage;
    }
    signal(SIGPIPE, SIG_IGN);
    deadline = now() + o.max_time;
    if (!strcmp(argv[1], "sink"))
        return run_sink(&o);
    if (!o.connect || !o.host || o.n < 1 || o.c < 1)
        goto usage;
    if (!strcmp(argv[1], "lat"))
        return run_requests(&o, 1);
    if (!strcmp(argv[1], "par"))
        return run_requests(&o, o.c);
    if (!strcmp(argv[1], "idle"))
        return run_idle(&o);
usage:
    fprintf(stderr, "usage: hgbench lat|par|idle --connect IP:PORT --host NAME [--proxy] "
                    "[--port N] [--cafile F] [--path P] [-n N] [-c C] [--tls|--no-tls] "
                    "[--hold S] [--max-time S] [--raw FILE]\n"
                    "       hgbench sink --listen IP:PORT [--hold S]\n");
    return 2;
}
