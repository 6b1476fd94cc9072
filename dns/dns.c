/* dns.c — c-ares channel driven from our epoll loop.
 *
 * c-ares tells us which sockets to watch through its socket-state callback;
 * we register them in the loop and call ares_process_fd() on events. One
 * timer, re-armed from ares_timeout() before every wait, drives retries. */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct dns {
    struct loop *loop;
    ares_channel ch;
    struct timer timer;
    unsigned queries;       /* lookups c-ares still works on */
};

struct dns_req {
    struct dns *dns;
    dns_cb cb;          /* NULL once cancelled */
    void *arg;
    unsigned port;
    struct dns_result res;
    enum dns_status st;
    struct loop_task deliver;
};

static void dns_io(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct dns *dns = arg;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

    (void)loop;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        rfd = fd;
    if (events & (EPOLLOUT | EPOLLERR))
        wfd = fd;
    ares_process_fd(dns->ch, rfd, wfd);
}

static void dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns *dns = data;
    uint32_t mask = (readable ? LOOP_RD : 0u) | (writable ? LOOP_WR : 0u);

    if (!readable && !writable) {
        loop_del(dns->loop, fd);
        return;
    }
    if (loop_mod(dns->loop, fd, mask) != 0 &&
        loop_add(dns->loop, fd, mask, dns_io, dns) != 0)
        log_err("dns: cannot watch resolver socket %d", fd);
}

static void dns_on_timer(struct loop *loop, struct timer *t)
{
    struct dns *dns = t->arg;

    (void)loop;
    ares_process_fd(dns->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

/* Re-arms the timer from c-ares' next deadline; run before each wait. */
static void dns_before_wait(void *arg)
{
    struct dns *dns = arg;
    struct timeval max = {1, 0}, tv, *tvp;

    /* Nothing to time out: no work in every round of a busy loop. */
    if (!dns->queries) {
        loop_timer_del(dns->loop, &dns->timer);
        return;
    }
    tvp = ares_timeout(dns->ch, &max, &tv);
    loop_timer_set(dns->loop, &dns->timer,
                   (uint64_t)tvp->tv_sec * 1000u + (uint64_t)tvp->tv_usec / 1000u);
}

struct dns *dns_new(struct loop *loop, char *const *servers, size_t nservers,
                    char *err, size_t errlen)
{
    struct ares_options opts;
    struct dns *dns;
    int rc;

    /* ares_library_init() is the caller's, once per process: it is not
     * thread-safe and every worker has a channel. */
    dns = calloc(1, sizeof(*dns));
    if (!dns) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    dns->loop = loop;
    timer_init(&dns->timer, dns_on_timer, dns);
    memset(&opts, 0, sizeof(opts));
    opts.sock_state_cb = dns_sock_state;
    opts.sock_state_cb_data = dns;
    opts.timeout = 2000;
    opts.tries = 3;
    rc = ares_init_options(&dns->ch, &opts,
                           ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s (check /etc/resolv.conf)", ares_strerror(rc));
        free(dns);
        return NULL;
    }
    if (servers && nservers) {
        char csv[1024] = "";
        size_t i, used = 0;

        for (i = 0; i < nservers; i++) {
            int n = snprintf(csv + used, sizeof(csv) - used, "%s%s", i ? "," : "",
                             servers[i]);
            if (n < 0 || (size_t)n >= sizeof(csv) - used)
                break;
            used += (size_t)n;
        }
        rc = ares_set_servers_ports_csv(dns->ch, csv);
        if (rc != ARES_SUCCESS) {
            snprintf(err, errlen, "[dns] servers \"%s\": %s", csv, ares_strerror(rc));
            dns_free(dns);
            return NULL;
        }
    }
    loop_set_before_wait(loop, dns_before_wait, dns);
    return dns;
}

void dns_free(struct dns *dns)
{
    if (!dns)
        return;
    loop_timer_del(dns->loop, &dns->timer);
    ares_destroy(dns->ch); /* runs outstanding callbacks with ARES_EDESTRUCTION */
    free(dns);
}

const char *dns_strerror(enum dns_status st)
{
    switch (st) {
    case DNS_OK:         return "DNS: ok";
    case DNS_NO_HOST:    return "DNS: no such host";
    case DNS_TIMEOUT:    return "DNS: lookup timed out";
    case DNS_NO_ADDRESS: return "DNS: no usable address";
    case DNS_FAILED:     break;
    }
    return "DNS: lookup failed";
}

static void dns_deliver(void *arg)
{
    struct dns_req *req = arg;

    if (req->cb)
        req->cb(req->arg, req->st != DNS_OK ? NULL : &req->res, req->st);
    free(req);
}

static void dns_on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    struct dns_req *req = arg;
    struct ares_addrinfo_node *node;
    int pass;

    (void)timeouts;
    req->dns->queries--;
    if (status != ARES_SUCCESS || !ai) {
        req->st = status == ARES_ENOTFOUND ? DNS_NO_HOST
                : status == ARES_ETIMEOUT ? DNS_TIMEOUT : DNS_FAILED;
    } else {
        /* IPv4 first: the common case that works everywhere. */
        for (pass = 0; pass < 2; pass++) {
            for (node = ai->nodes; node; node = node->ai_next) {
                int fam = pass == 0 ? AF_INET : AF_INET6;

                if (node->ai_family != fam || req->res.n == DNS_MAX_ADDRS)
                    continue;
                memcpy(&req->res.addr[req->res.n], node->ai_addr, (size_t)node->ai_addrlen);
                req->res.len[req->res.n] = (socklen_t)node->ai_addrlen;
                if (fam == AF_INET)
                    ((struct sockaddr_in *)&req->res.addr[req->res.n])->sin_port =
                        htons((uint16_t)req->port);
                else
                    ((struct sockaddr_in6 *)&req->res.addr[req->res.n])->sin6_port =
                        htons((uint16_t)req->port);
                req->res.n++;
            }
        }
        if (!req->res.n)
            req->st = DNS_NO_ADDRESS;
    }
    if (ai)
        ares_freeaddrinfo(ai);
    if (status == ARES_EDESTRUCTION) {
        free(req);
        return;
    }
    /* Deliver from the loop, never from inside the caller's dns_resolve()
     * or ares_process_fd() stack. */
    loop_defer(req->dns->loop, &req->deliver, dns_deliver, req);
}

/* An IP literal needs no lookup (and must not wait on a resolver that is
 * slow or refuses): fills req's result. Returns 1 when host was one. */
static int dns_literal(struct dns_req *req, const char *host)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&req->res.addr[0];
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&req->res.addr[0];

    memset(&req->res.addr[0], 0, sizeof(req->res.addr[0]));
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)req->port);
        req->res.len[0] = sizeof(*sin);
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)req->port);
        req->res.len[0] = sizeof(*sin6);
    } else {
        return 0;
    }
    req->res.n = 1;
    return 1;
}

struct dns_req *dns_resolve(struct dns *dns, const char *host, unsigned port,
                            dns_cb cb, void *arg)
{
    struct ares_addrinfo_hints hints;
    struct dns_req *req = calloc(1, sizeof(*req));

    if (!req)
        return NULL;
    req->dns = dns;
    req->cb = cb;
    req->arg = arg;
    req->port = port;
    if (dns_literal(req, host)) {
        /* delivered from the loop, as a lookup would be */
        loop_defer(dns->loop, &req->deliver, dns_deliver, req);
        return req;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    dns->queries++; /* before: the callback may run inside the call */
    ares_getaddrinfo(dns->ch, host, NULL, &hints, dns_on_addrinfo, req);
    return req;
}

void dns_cancel(struct dns_req *req)
{
    /* The request is freed by whichever of c-ares or the deferred delivery
     * runs last; clearing cb makes both silent. */
    if (req)
        req->cb = NULL;
}
