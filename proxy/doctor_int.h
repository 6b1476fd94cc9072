/* doctor_int.h — internals of `hubgate doctor`, shared by doctor.c (the
 * checks and the output), doctor_env.c (dockerd's environment) and
 * doctor_net.c (blocking network helpers). The doctor is a command-line
 * tool: blocking sockets and OpenSSL with short timeouts are fine here and
 * nowhere else in hubgate.
 *
 * Every dn_* function that can fail returns 0 or -1 and then writes a
 * short reason to why (whylen bytes), for a "FAIL check: why" line. */
#ifndef HUBGATE_DOCTOR_INT_H
#define HUBGATE_DOCTOR_INT_H

#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "proxy/core/config.h"
#include "proxy/core/link.h"

#define DN_TIMEOUT_MS 5000

/* One run of the doctor. */
struct doc {
    const char *path;
    struct config cfg;
    int color, fails, systemd;
    X509 *ca;                   /* [ca] dir/ca.crt, NULL when unreadable */
    char ca_crt[4096];
    char host[256];             /* where to reach hubgate: wildcards -> loopback */
    int listening;
    int direct;                 /* [upstream] via has direct */
    char user[256], pass[256];  /* first [proxy] users entry, for CONNECT */
};

/* Print one check line: "OK   <check>", or "FAIL <check>: <why>" then
 * "     fix: <fix>" (and count the failure). fmt gives the check (and why). */
void doc_ok(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void doc_fail(struct doc *d, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* doctor_env.c: dockerd's environment has HTTPS_PROXY = hubgate and no
 * NO_PROXY entry covering an intercepted host. One line. */
void doctor_check_dockerd(struct doc *d);

/* One blocking connection, optionally with TLS on top. */
struct dnc {
    int fd;                 /* -1 when closed */
    SSL_CTX *ctx;
    SSL *ssl;
};

/* An HTTP answer as dn_http() read it. body holds up to bodymax bytes
 * (NUL-terminated); the rest is read and dropped. */
struct dn_resp {
    int status;
    char www_auth[512];     /* WWW-Authenticate, "" when absent */
    char *body;             /* caller's buffer */
    size_t body_len, body_max;
};

static inline void dnc_init(struct dnc *c)
{
    c->fd = -1;
    c->ctx = NULL;
    c->ssl = NULL;
}

/* Connects to one address with a timeout. */
int dn_tcp_addr(struct dnc *c, const struct sockaddr *sa, socklen_t salen, char *why,
                size_t whylen);

/* Resolves host (getaddrinfo) and connects to the first address that
 * answers. */
int dn_tcp(struct dnc *c, const char *host, unsigned port, char *why, size_t whylen);

/* Opens a byte stream to host:port through via (borrowed): NULL or direct
 * connects from here; socks5:// and http:// links connect to the proxy
 * and ask it for host:port (the name goes to the proxy, never resolved
 * here). Relay links are not a way to reach a host: refused. */
int dn_open(struct dnc *c, const struct link *via, const char *host, unsigned port,
            char *why, size_t whylen);

/* On c, already connected to an HTTP proxy: CONNECT host:port, with
 * Basic credentials when user is not NULL. */
int dn_http_connect(struct dnc *c, const char *host, unsigned port, const char *user,
                    const char *pass, char *why, size_t whylen);

/* TLS client handshake on c: SNI host, chain verified against cafile (a
 * PEM bundle) and the certificate's name against host. */
int dn_tls(struct dnc *c, const char *cafile, const char *host, char *why, size_t whylen);

/* Writes req (a whole request head, no body) on c and reads the answer
 * with llhttp (mitm/http/http1.h) until it ends; head != 0 for a HEAD request
 * (no body whatever the headers say). */
int dn_http(struct dnc *c, const char *req, int head, struct dn_resp *r, char *why,
            size_t whylen);

/* Closes c (TLS state included); safe on a closed one. */
void dn_close(struct dnc *c);

#endif
