/* exchange.c — one HTTP exchange at a time: the request head decides where
 * it goes, the response head is rewritten, bodies pass as they are.
 *
 * Request: head parsed in c->cin, rewritten into c->uout (kept until the
 * response head arrives, so a request can be sent again on a fresh
 * connection), body bytes forwarded from c->cin as the parser checks them.
 * Response: head parsed in c->uin, rewritten into c->cout, body forwarded
 * from c->uin. */
#include "mitm/exchange.h"

#include <stdio.h>
#include <string.h>

#include "mitm/hdr.h"
#include "mitm/mitm.h"
#include "mitm/policy.h"
#include "mitm/uri.h"
#include "proxy/connect.h"
#include "proxy/log.h"
#include "proxy/upstream.h"

/* Copies target up to its query string into the log field, with
 * non-printable bytes replaced, so nothing secret or hostile reaches the
 * log. */
static void set_log_path(struct conn *c, const char *t, size_t n)
{
    size_t i, o = 0;

    for (i = 0; i < n && t[i] != '?' && o + 1 < sizeof(c->log_path); i++)
        c->log_path[o++] = (t[i] > 0x20 && t[i] < 0x7f) ? t[i] : '_';
    c->log_path[o] = '\0';
}

static void on_upstream_ready(void *arg, int fd, SSL *ssl, const char *err)
{
    struct conn *c = arg;
    char msg[400];

    c->pending = NULL;
    if (fd < 0) {
        snprintf(msg, sizeof(msg), "hubgate: cannot reach %s:%u: %s", c->host, c->port, err);
        conn_error(c, 502, "UNAVAILABLE", msg);
        conn_update(c);
        return;
    }
    http1_init(&c->resp, HTTP_RESPONSE, c->px->cfg->max_header_bytes);
    c->resp.skip_body = c->req_method == HTTP_HEAD;
    conn_attach_upstream(c, fd, ssl);
    if (c->flags & CONN_F_CLOSING)
        return;
    snprintf(c->up_host, sizeof(c->up_host), "%s", c->host);
    c->up_port = c->port;
    c->up_tls = ssl != NULL;
    mitm_pump(c);
    if (!(c->flags & CONN_F_CLOSING))
        conn_update(c);
}

/* Sends the queued request over a new connection to c->host:c->port. */
int exchange_connect(struct conn *c, int tls)
{
    ep_close(&c->up, c->px->loop);
    c->flags &= ~CONN_F_UP_REUSED;
    c->uout_sent = 0;
    c->pending = upstream_open(c->px, c->host, c->port, tls, on_upstream_ready, c);
    if (!c->pending) {
        conn_error(c, 503, "UNAVAILABLE", "hubgate: out of memory");
        return -1;
    }
    return 0;
}

/* Resolves the origin of a request in plain proxy mode from its
 * absolute-form target. Fills c->host/c->port, *target and the Host value
 * to send. Returns 0, or answers 400 and returns -1. */
static int plain_target(struct conn *c, const char *url, size_t n, const char **target,
                        size_t *tlen, char *hostval, size_t hostlen)
{
    struct uri u;

    if (uri_parse(url, n, &u) != 0 || !uri_host_ok(u.host, u.host_len) ||
        u.host_len >= sizeof(c->host)) {
        conn_error(c, 400, "BAD_REQUEST",
                   "hubgate: this is a proxy: send CONNECT host:port or an absolute "
                   "http:// URL");
        return -1;
    }
    if (!http1_span_eq(u.scheme, u.scheme_len, "http")) {
        conn_error(c, 400, "BAD_REQUEST",
                   "hubgate: only http:// URLs are forwarded; use CONNECT for https");
        return -1;
    }
    memcpy(c->host, u.host, u.host_len);
    c->host[u.host_len] = '\0';
    c->port = u.port ? u.port : 80;
    *target = u.path_len ? u.path : "/";
    *tlen = u.path_len ? u.path_len : 1;
    if (u.path_len && u.path[0] == '?') {
        /* "http://h?q" means "/?q"; keep it simple and refuse it */
        conn_error(c, 400, "BAD_REQUEST", "hubgate: request target needs a path");
        return -1;
    }
    if (memchr(c->host, ':', u.host_len))
        snprintf(hostval, hostlen, c->port == 80 ? "[%s]" : "[%s]:%u", c->host, c->port);
    else
        snprintf(hostval, hostlen, c->port == 80 ? "%s" : "%s:%u", c->host, c->port);
    return 0;
}

/* Checks an intercepted request: origin-form, or absolute-form for the
 * CONNECT host; Host must name the CONNECT host (421 otherwise). */
static int mitm_target(struct conn *c, const char *base, const char *url, size_t n,
                       const char **target, size_t *tlen)
{
    char host[300];
    int hl;
    size_t cut;

    *target = url;
    *tlen = n;
    if (n && url[0] != '/' && !(n == 1 && url[0] == '*')) {
        struct uri u;

        if (uri_parse(url, n, &u) != 0 || !policy_host_eq(u.host, u.host_len, c->host)) {
            conn_error(c, 421, "MISDIRECTED", "hubgate: request names another host");
            return -1;
        }
        *target = u.path_len ? u.path : "/";
        *tlen = u.path_len ? u.path_len : 1;
    }
    hl = hdr_get(&c->req, base, "host", host, sizeof(host));
    if (hl < 0) {
        conn_error(c, 400, "BAD_REQUEST", "hubgate: request without a Host header");
        return -1;
    }
    cut = (size_t)hl;
    if (cut > 4 && strcmp(host + cut - 4, ":443") == 0)
        cut -= 4;
    if (!policy_host_eq(host, cut, c->host)) {
        conn_error(c, 421, "MISDIRECTED", "hubgate: Host names another host than CONNECT");
        return -1;
    }
    return 0;
}

int exchange_request_head(struct conn *c)
{
    const char *base = buf_data(&c->cin), *url = base + c->req.url_off, *target;
    size_t ulen = c->req.url_len, tlen;
    char hostval[300];
    const char *host_override = NULL;
    int method = http1_method(&c->req), tls, reuse;

    c->req_method = method;
    c->status = 0;
    c->bytes_in = c->bytes_out = 0;
    c->flags &= ~(CONN_F_RESP_SENT | CONN_F_BODY_SENT | CONN_F_RETRIED | CONN_F_LOGGED);
    c->t_head = loop_now(c->px->loop);

    if (c->mode == CONN_HTTP && method == HTTP_CONNECT) {
        char auth[300];

        if (ulen >= sizeof(auth)) {
            conn_error(c, 400, "BAD_REQUEST", "hubgate: CONNECT target too long");
            return -1;
        }
        memcpy(auth, url, ulen);
        buf_consume(&c->cin, c->req.head_len);
        connect_start(c, auth, ulen);
        return 0;
    }
    if (method == HTTP_CONNECT) {
        conn_error(c, 400, "BAD_REQUEST", "hubgate: CONNECT inside a tunnel");
        return -1;
    }
    if (c->mode == CONN_HTTP) {
        if (plain_target(c, url, ulen, &target, &tlen, hostval, sizeof(hostval)))
            return -1;
        host_override = hostval;
        tls = 0;
    } else {
        if (mitm_target(c, base, url, ulen, &target, &tlen))
            return -1;
        tls = 1;
    }
    set_log_path(c, target, tlen);
    if (!http1_keep_alive(&c->req))
        c->flags |= CONN_F_CLOSE_AFTER;
    buf_consume(&c->uout, c->uout.len);
    c->uout_sent = 0;
    if (hdr_write_request(&c->uout, &c->req, base, target, tlen, host_override) != 0) {
        conn_error(c, 431, "BAD_REQUEST", "hubgate: request head too large");
        return -1;
    }
    buf_consume(&c->cin, c->req.head_len);
    http1_resume(&c->req);

    reuse = ep_open(&c->up) && !(c->up.flags & (EP_F_RD_EOF | EP_F_ERROR)) &&
            c->up_tls == tls && c->up_port == c->port && strcmp(c->up_host, c->host) == 0;
    if (reuse) {
        c->flags |= CONN_F_UP_REUSED;
        http1_next(&c->resp);
        c->resp.skip_body = method == HTTP_HEAD;
        return 0;
    }
    return exchange_connect(c, tls);
}

int exchange_response_head(struct conn *c)
{
    const char *base = buf_data(&c->uin);
    int status = http1_status(&c->resp), close;

    if (status == 101) {
        conn_error(c, 502, "UNAVAILABLE", "hubgate: origin switched protocols; not supported");
        return -1;
    }
    if (status >= 100 && status < 200) {
        /* Interim (100 Continue): pass it on, then wait for the final one. */
        if (hdr_write_response(&c->cout, &c->resp, base, 0) != 0) {
            conn_error(c, 502, "UNAVAILABLE", "hubgate: response head too large");
            return -1;
        }
        c->resp_interim = 1;
    } else {
        c->status = status;
        if (llhttp_message_needs_eof(&c->resp.p) || c->px->draining)
            c->flags |= CONN_F_CLOSE_AFTER;
        close = (c->flags & CONN_F_CLOSE_AFTER) != 0;
        if (hdr_write_response(&c->cout, &c->resp, base, close) != 0) {
            conn_error(c, 502, "UNAVAILABLE", "hubgate: response head too large");
            return -1;
        }
        c->flags |= CONN_F_RESP_SENT;
        /* The request can no longer be replayed: drop its head. An origin
         * that answers before reading the whole head gets no reuse. */
        if (c->uout_sent < c->uout.len)
            c->flags |= CONN_F_CLOSE_AFTER;
        buf_consume(&c->uout, c->uout.len);
        c->uout_sent = 0;
    }
    buf_consume(&c->uin, c->resp.head_len);
    http1_resume(&c->resp);
    return 0;
}
