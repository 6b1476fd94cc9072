/* splicelab.c — a one-connection-at-a-time TCP relay with the knobs of a
 * passthrough tunnel, to measure what each costs (bench/README.md, "The
 * passthrough tunnel against socat"). Not part of hubgate.
 *
 *   splicelab LISTEN_IP:PORT TARGET_IP:PORT [options]
 *     --copy N       read/write through an N-byte buffer instead of splice
 *     --pipe N       pipe size (F_SETPIPE_SZ; default 262144, hubgate's)
 *     --max N        bytes asked of one splice(2) into the pipe (default:
 *                    the pipe size, as hubgate does)
 *     --et           edge-triggered, both fds registered once for in and
 *                    out; default: level-triggered with the interest
 *                    switched as a pipe fills and empties, as
 *                    tunnel_interest() does
 *     --lowat N      SO_RCVLOWAT on the upstream socket (the download side)
 *     --more         SPLICE_F_MORE on the splice to the destination
 *
 * Prints per connection: bytes each way, epoll_wait and epoll_ctl calls,
 * splice/read/write calls, and how many of those moved nothing (EAGAIN). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct opt {
    size_t copy, pipe, max, lowat;
    int et, more;
};

struct dir {
    int src, dst, pfd[2];
    size_t inpipe, off, len;
    char *buf;
    int eof, shut;
    unsigned long long bytes;
};

static unsigned long n_wait, n_ctl, n_io, n_again;
static const char *label;

static void addr(const char *s, struct sockaddr_in *a)
{
    char h[64];
    const char *c = strrchr(s, ':');

    if (c == NULL || (size_t)(c - s) >= sizeof(h)) {
        fprintf(stderr, "bad address %s\n", s);
        exit(2);
    }
    memcpy(h, s, (size_t)(c - s));
    h[c - s] = '\0';
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)atoi(c + 1));
    if (inet_pton(AF_INET, h, &a->sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", s);
        exit(2);
    }
}

/* One step of a direction; returns 1 when bytes moved. */
static int step(struct dir *d, const struct opt *o)
{
    int moved = 0;
    ssize_t n;

    if (o->copy) {
        if (d->len == 0 && !d->eof) {
            n_io++;
            n = read(d->src, d->buf, o->copy);
            if (n > 0) {
                d->off = 0;
                d->len = (size_t)n;
                moved = 1;
            } else if (n == 0 || errno != EAGAIN) {
                d->eof = 1;
            } else {
                n_again++;
            }
        }
        if (d->len) {
            n_io++;
            n = write(d->dst, d->buf + d->off, d->len);
            if (n > 0) {
                d->off += (size_t)n;
                d->len -= (size_t)n;
                d->bytes += (unsigned long long)n;
                moved = 1;
            } else {
                n_again++;
            }
        }
        return moved;
    }
    if (d->inpipe == 0 && !d->eof) {
        n_io++;
        n = splice(d->src, NULL, d->pfd[1], NULL, o->max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            d->inpipe = (size_t)n;
            moved = 1;
        } else if (n == 0 || errno != EAGAIN) {
            d->eof = 1;
        } else {
            n_again++;
        }
    }
    if (d->inpipe) {
        n_io++;
        n = splice(d->pfd[0], NULL, d->dst, NULL, d->inpipe,
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (o->more ? SPLICE_F_MORE : 0));
        if (n > 0) {
            d->inpipe -= (size_t)n;
            d->bytes += (unsigned long long)n;
            moved = 1;
        } else {
            n_again++;
        }
    }
    return moved;
}

static int pending(const struct dir *d)
{
    return d->inpipe != 0 || d->len != 0;
}

static void ctl(int ep, int op, int fd, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.fd = fd};

    n_ctl++;
    if (epoll_ctl(ep, op, fd, &e) == -1) {
        perror("epoll_ctl");
        exit(1);
    }
}

static void relay(int c, int u, const struct opt *o)
{
    struct dir d[2] = {{.src = c, .dst = u}, {.src = u, .dst = c}};
    int ep = epoll_create1(0), i;
    uint32_t mask[2] = {0, 0}, want[2];
    struct epoll_event ev[4];

    n_wait = n_ctl = n_io = n_again = 0;
    for (i = 0; i < 2; i++) {
        if (o->copy) {
            d[i].buf = malloc(o->copy);
        } else if (pipe2(d[i].pfd, O_NONBLOCK) == -1 ||
                   fcntl(d[i].pfd[0], F_SETPIPE_SZ, (int)o->pipe) == -1) {
            perror("pipe");
            exit(1);
        }
    }
    if (o->et) {
        ctl(ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
        ctl(ep, EPOLL_CTL_ADD, u, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    } else {
        ctl(ep, EPOLL_CTL_ADD, c, 0);
        ctl(ep, EPOLL_CTL_ADD, u, 0);
    }
    for (;;) {
        while (step(&d[0], o) | step(&d[1], o))
            ;
        for (i = 0; i < 2; i++) {
            if (d[i].eof && !pending(&d[i]) && !d[i].shut) {
                shutdown(d[i].dst, SHUT_WR);
                d[i].shut = 1;
            }
        }
        if (d[0].shut && d[1].shut)
            break;
        if (!o->et) {
            /* Read a side only while its pipe is empty; write a side only
             * while the other direction's pipe holds bytes. */
            want[0] = (!pending(&d[0]) && !d[0].eof ? EPOLLIN : 0) | (pending(&d[1]) ? EPOLLOUT : 0);
            want[1] = (!pending(&d[1]) && !d[1].eof ? EPOLLIN : 0) | (pending(&d[0]) ? EPOLLOUT : 0);
            if (want[0] != mask[0])
                ctl(ep, EPOLL_CTL_MOD, c, mask[0] = want[0]);
            if (want[1] != mask[1])
                ctl(ep, EPOLL_CTL_MOD, u, mask[1] = want[1]);
        }
        n_wait++;
        if (epoll_wait(ep, ev, 4, 60000) <= 0)
            break;
    }
    printf("%s: client->up %llu up->client %llu bytes; epoll_wait %lu epoll_ctl %lu io %lu eagain %lu"
           " (%.1f KiB per io call)\n", label, d[0].bytes, d[1].bytes, n_wait, n_ctl, n_io, n_again,
           (double)(d[0].bytes + d[1].bytes) / 1024.0 / (double)(n_io ? n_io : 1));
    fflush(stdout);
    for (i = 0; i < 2; i++) {
        free(d[i].buf);
        if (!o->copy) {
            close(d[i].pfd[0]);
            close(d[i].pfd[1]);
        }
    }
    close(ep);
}

int main(int argc, char **argv)
{
    struct opt o = {.pipe = 262144};
    struct sockaddr_in la, ta;
    int l, i, one = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: splicelab LISTEN_IP:PORT TARGET_IP:PORT [options]\n");
        return 2;
    }
    label = argv[1];
    addr(argv[1], &la);
    addr(argv[2], &ta);
    for (i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--et"))
            o.et = 1;
        else if (!strcmp(argv[i], "--more"))
            o.more = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--copy"))
            o.copy = strtoul(argv[++i], NULL, 0);
        else if (i + 1 < argc && !strcmp(argv[i], "--pipe"))
            o.pipe = strtoul(argv[++i], NULL, 0);
        else if (i + 1 < argc && !strcmp(argv[i], "--max"))
            o.max = strtoul(argv[++i], NULL, 0);
        else if (i + 1 < argc && !strcmp(argv[i], "--lowat"))
            o.lowat = strtoul(argv[++i], NULL, 0);
        else {
            fprintf(stderr, "splicelab: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (o.max == 0)
        o.max = o.pipe;
    l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *)&la, sizeof(la)) == -1 || listen(l, 16) == -1) {
        perror("listen");
        return 1;
    }
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_NONBLOCK), u;

        if (c == -1)
            continue;
        u = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(u, (struct sockaddr *)&ta, sizeof(ta)) == -1) {
            perror("connect");
            close(c);
            close(u);
            continue;
        }
        fcntl(u, F_SETFL, O_NONBLOCK);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (o.lowat) {
            int v = (int)o.lowat;

            /* The download side only: on the client's, a ClientHello
             * below the mark never woke us. */
            setsockopt(u, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v));
        }
        relay(c, u, &o);
        close(c);
        close(u);
    }
}
