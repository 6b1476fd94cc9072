/* httpconn.c — CONNECT through an upstream HTTP proxy: the request, and
 * the answer's head read with llhttp (mitm/http/http1.h). */
#include "proxy/up/httpconn.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/uri.h"

/* The answer to CONNECT is a head only; a proxy has no reason to send
 * more than a few hundred bytes. */
#define HTTPCONN_MAX_HEAD 16384
#define HTTPCONN_MAX_CRED 511       /* "user:pass" bytes */

/* Writes "Proxy-Authorization: Basic base64(user:pass)\r\n" to out
 * (outlen bytes). Returns the length, or -1 when it does not fit or the
 * user holds a ':' (RFC 7617 forbids it: the first ':' ends the user). */
static int httpconn_basic(char *out, size_t outlen, const char *user, const char *pass)
{
    unsigned char cred[HTTPCONN_MAX_CRED + 1];
    unsigned char b64[4 * ((HTTPCONN_MAX_CRED + 2) / 3) + 1];
    size_t ul = strlen(user), pl = pass != NULL ? strlen(pass) : 0;
    int n, rc = -1;

    if (strchr(user, ':') != NULL || ul + 1 + pl > HTTPCONN_MAX_CRED)
        return -1;
    memcpy(cred, user, ul);
    cred[ul] = ':';
    if (pl > 0)
        memcpy(cred + ul + 1, pass, pl);
    n = EVP_EncodeBlock(b64, cred, (int)(ul + 1 + pl));
    if (n > 0) {
        rc = snprintf(out, outlen, "Proxy-Authorization: Basic %s\r\n", (const char *)b64);
        if (rc < 0 || (size_t)rc >= outlen)
            rc = -1;
    }
    OPENSSL_cleanse(cred, sizeof(cred));
    OPENSSL_cleanse(b64, sizeof(b64));
    return rc;
}

/* Accepts a target host (a name, IPv4 or IPv6 literal without brackets),
 * a port (not 0) and optional credentials (pass NULL is empty). Appends
 * the whole CONNECT request to out, or nothing. Returns 0, or -1 (bad
 * input or no room). Takes no ownership. */
int httpconn_request(struct buf *out, const char *host, uint16_t port,
                     const char *user, const char *pass)
{
    char req[1536], auth[768] = "";
    const char *lb, *rb;
    int n, rc = -1;

    if (host == NULL || !uri_host_ok(host, strlen(host)) || port == 0)
        return -1;
    if (user != NULL && httpconn_basic(auth, sizeof(auth), user, pass) < 0)
        goto out;
    lb = strchr(host, ':') != NULL ? "[" : "";
    rb = lb[0] != '\0' ? "]" : "";
    n = snprintf(req, sizeof(req), "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n%s\r\n",
                 lb, host, rb, (unsigned)port, lb, host, rb, (unsigned)port, auth);
    if (n < 0 || (size_t)n >= sizeof(req))
        goto out;
    rc = buf_append(out, req, (size_t)n) == 0 ? 0 : -1;
out:
    OPENSSL_cleanse(auth, sizeof(auth));
    OPENSSL_cleanse(req, sizeof(req));
    return rc;
}

/* Accepts uninitialised hc; prepares it to read one answer head. */
void httpconn_init(struct httpconn *hc)
{
    http1_init(&hc->h, HTTP_RESPONSE, HTTPCONN_MAX_HEAD);
    /* The answer to CONNECT never has a body: after a 2xx head the bytes
     * are the tunnel's, whatever Content-Length says. */
    hc->h.skip_body = 1;
    hc->status = 0;
}

/* A static description of a refusal with this status. */
static const char *httpconn_refusal(int status)
{
    switch (status) {
    case 400: return "HTTP proxy: refused (400 bad request)";
    case 401: return "HTTP proxy: refused (401)";
    case 403: return "HTTP proxy: refused (403)";
    case 404: return "HTTP proxy: refused (404)";
    case 405: return "HTTP proxy: refused (405): it does not allow CONNECT";
    case 407: return "HTTP proxy: 407 proxy authentication required";
    case 429: return "HTTP proxy: refused (429 too many requests)";
    case 500: return "HTTP proxy: refused (500)";
    case 502: return "HTTP proxy: could not reach the target (502)";
    case 503: return "HTTP proxy: refused (503 unavailable)";
    case 504: return "HTTP proxy: timed out reaching the target (504)";
    default: break;
    }
    if (status < 200)
        return "HTTP proxy: interim (1xx) answer to CONNECT";
    if (status < 400)
        return "HTTP proxy: refused (3xx redirect)";
    if (status < 500)
        return "HTTP proxy: refused (4xx)";
    return "HTTP proxy: failed (5xx)";
}

/* Accepts hc and the bytes the proxy sent so far in in. Returns 1 when a
 * 2xx head arrived (consumed; later bytes stay in in), 0 when the head is
 * incomplete, -1 with a static *err when the proxy refused or the answer
 * is malformed. hc->status holds the status once known. */
int httpconn_response(struct httpconn *hc, struct buf *in, const char **err)
{
    enum http1_ev ev;

    *err = NULL;
    if (hc->status != 0)            /* answered before: same verdict */
        goto verdict;
    if (hc->h.state == H1_ERROR) {
        *err = "HTTP proxy: malformed answer";
        return -1;
    }
    ev = http1_feed(&hc->h, in);
    if (ev == H1_EV_NONE)
        return 0;
    if (ev != H1_EV_HEAD) {
        *err = hc->h.status == 431 ? "HTTP proxy: malformed answer (head too large)"
                                   : "HTTP proxy: malformed answer";
        return -1;
    }
    if (http1_status(&hc->h) < 100 || http1_status(&hc->h) > 599) {
        /* llhttp reads any number as a status; three digits it must be. */
        *err = "HTTP proxy: malformed answer";
        return -1;
    }
    hc->status = http1_status(&hc->h);
    if (hc->status >= 200 && hc->status <= 299)
        buf_consume(in, hc->h.head_len);
verdict:
    if (hc->status >= 200 && hc->status <= 299)
        return 1;
    *err = httpconn_refusal(hc->status);
    return -1;
}
