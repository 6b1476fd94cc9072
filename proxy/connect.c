/* connect.c — CONNECT: parse the authority, decide, connect, answer. */
#include "proxy/connect.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "mitm/mitm.h"
#include "proxy/core/policy.h"
#include "base/uri.h"
#include "base/addr.h"
#include "base/log.h"
#include "proxy/tunnel.h"
#include "proxy/up/upstream.h"

static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";

int connect_established(struct conn *c, struct buf *out)
{
    /* A fresh socket takes these few bytes at once; only if it does not
     * do they wait in a buffer, so idle tunnels hold none. */
    ssize_t n = send(c->cl.fd, established, sizeof(established) - 1,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    size_t left;

    if (n < 0)
        n = 0;
    left = sizeof(established) - 1 - (size_t)n;
    if (!left)
        return 0;
    if (!out || buf_append(out, established + n, left) != 0)
        return -1;
    return (int)left;
}

static void connect_open(struct conn *c);

static void connect_on_ready(void *arg, int fd, SSL *ssl, const struct up_error *err)
{
    struct conn *c = arg;
    char msg[400], why[240];

    c->pending = NULL;
    if (fd < 0) {
        int status = up_error_http_status(err->kind);
        const struct links *pass = &c->gen->pass_links;
        const struct link *l = pass->v[c->link];

        up_error_str(err, why, sizeof(why));
        /* The next link of [passthrough] via, in order, as intercepted
         * requests fail over; a refused destination stays refused. */
        if (status != 403 && (size_t)c->link + 1 < pass->n) {
            log_warn("client %s: CONNECT %s:%u failed on %s (%s); failing over to %s", c->peer,
                     c->host, c->port, l->name, why, pass->v[c->link + 1]->name);
            c->link++;
            connect_open(c);
            return;
        }
        if (l->kind == LINK_DIRECT || status == 403)
            snprintf(msg, sizeof(msg), "hubgate: %s %s:%u: %s",
                     status == 403 ? "refused" : "cannot reach", c->host, c->port, why);
        else
            snprintf(msg, sizeof(msg), "hubgate: cannot reach %s:%u via %s: %s", c->host,
                     c->port, l->name, why);
        c->status = status;
        conn_error(c, c->status, status == 403 ? "DENIED" : "UNAVAILABLE", msg);
        conn_update(c);
        return;
    }
    conn_attach_upstream(c, fd, ssl, 0);
    if (c->flags & CONN_F_CLOSING)
        return;
    /* The 200 goes first in the client-bound stream, before any byte the
     * origin sends; what the socket did not take waits in uin. */
    if (connect_established(c, &c->uin) < 0) {
        conn_close(c);
        return;
    }
    c->bytes_out = 0;
    conn_set_mode(c, CONN_TUNNEL);
    /* A tunnel parses nothing: its HTTP state goes, so that thousands of
     * idle tunnels stay small. */
    free(c->req);
    c->req = c->resp = NULL;
    c->status = 200;
    tunnel_pump(c);
    if (!(c->flags & CONN_F_CLOSING))
        conn_update(c);
}

void connect_start(struct conn *c, const char *authority, size_t n)
{
    char target[300], host[256];
    const char *canon;
    uint16_t port = 0;

    if (n >= sizeof(target)) {
        conn_error(c, 400, "BAD_REQUEST", "hubgate: CONNECT target too long");
        return;
    }
    memcpy(target, authority, n);
    target[n] = '\0';
    if (addr_parse_hostport(target, host, sizeof(host), &port) != 0 ||
        !uri_host_ok(host, strlen(host))) {
        conn_error(c, 400, "BAD_REQUEST",
                   "hubgate: CONNECT needs host:port (example: registry-1.docker.io:443)");
        return;
    }
    /* An intercepted host goes on under its configured spelling, so that
     * "REGISTRY-1.docker.io." mints, and is checked as, the same leaf. */
    canon = policy_intercept(&c->gen->cfg, host, port);
    snprintf(c->host, sizeof(c->host), "%s", canon ? canon : host);
    c->port = port;
    snprintf(c->log_path, sizeof(c->log_path), ":%u", (unsigned)port);
    if (canon) {
        mitm_start(c);
        return;
    }
    if (!policy_port_ok(&c->gen->cfg, port)) {
        conn_error(c, 403, "DENIED", "hubgate: CONNECT to this port is not allowed "
                                     "([proxy] connect_ports)");
        return;
    }
    c->link = 0;
    connect_open(c);
}

/* Opens the tunnel's upstream through pass link c->link. */
static void connect_open(struct conn *c)
{
    c->pending = upstream_open(c->px, c->gen, c->gen->pass_links.v[c->link], c->host, c->port, 0,
                               UP_F_CHECK_DEST | (c->peer_loopback ? UP_F_CLIENT_LOCAL : 0u),
                               connect_on_ready, c);
    if (!c->pending) {
        conn_error(c, 503, "UNAVAILABLE", "hubgate: out of memory");
        conn_update(c);
    }
}
