/* connect.c — CONNECT: parse the authority, decide, then either start
 * TLS toward the client with the leaf for an intercepted host, or connect
 * (failing over along [passthrough] via) and become a tunnel. */
#include "proxy/connect.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/addr.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/uri.h"
#include "ca/ca.h"
#include "mitm/tls/tls.h"
#include "proxy/core/links.h"
#include "proxy/core/policy.h"
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

/* After "CONNECT host:443" to an intercepted host: answers 200 and starts
 * TLS toward the client with the leaf for c->host. */
static void connect_intercept(struct conn *c)
{
    /* The CA is shared by every loop: only the call that minted counts it
     * (comparing ca_minted() before and after would race with the others). */
    int minted = 0;
    SSL_CTX *ctx = ca_leaf_ctx(c->gen->ca, c->host, time(NULL), &minted);
    SSL *ssl;

    if (c->px->metrics && minted)
        metrics_add(c->px->metrics, "hubgate_leaf_certs_minted_total", "", 1);
    if (!ctx) {
        conn_error(c, 502, "UNAVAILABLE", "hubgate: cannot mint a certificate for this host");
        return;
    }
    /* Our reference to ctx ends here; the SSL holds its own (ca.h). */
    ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    if (!ssl) {
        conn_error(c, 502, "UNAVAILABLE", "hubgate: out of memory for TLS");
        return;
    }
    if (c->cin.len) {
        SSL_free(ssl);
        conn_error(c, 400, "BAD_REQUEST",
                   "hubgate: data sent after CONNECT before the 200 answer");
        return;
    }
    /* TLS starts right after: the 200 cannot wait in a buffer. */
    if (connect_established(c, NULL) != 0) {
        SSL_free(ssl);
        conn_close(c);
        return;
    }
    if (tls_set_fd(ssl, c->cl.fd) != 0) {
        SSL_free(ssl);
        conn_close(c);
        return;
    }
    SSL_set_app_data(ssl, c->host);  /* for the SNI check */
    SSL_set_accept_state(ssl);
    ep_init_tls(&c->cl, c->cl.fd, ssl);
    conn_set_mode(c, CONN_MITM);
    c->flags &= ~CONN_F_TLS_OK;
    c->t_head = c->t_active = loop_now(c->px->loop);
    http1_init(c->req, HTTP_REQUEST, c->gen->cfg.max_header_bytes);
    c->req_method = -1;
    c->log_path[0] = '\0';
}

static void connect_on_ready(void *arg, int fd, SSL *ssl, const struct up_error *err)
{
    struct conn *c = arg;
    char msg[400], why[240];

    (void)ssl; /* tunnels are opened without TLS */
    c->connecting = NULL;
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
    tunnel_start(c, fd);
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
        connect_intercept(c);
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
    c->connecting = upstream_open(c->px, c->gen, c->gen->pass_links.v[c->link], c->host,
                                  c->port, 0,
                                  UP_F_CHECK_DEST | (c->peer_loopback ? UP_F_CLIENT_LOCAL : 0u),
                                  connect_on_ready, c);
    if (!c->connecting) {
        conn_error(c, 503, "UNAVAILABLE", "hubgate: out of memory");
        conn_update(c);
    }
}
