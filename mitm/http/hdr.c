/* hdr.c — head rewriting and serialisation. */
#include "mitm/http/hdr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/json.h"

static const char *const hop_names[] = {
    "connection", "proxy-connection", "keep-alive", "te", "upgrade",
    "proxy-authorization", "proxy-authenticate",
};

/* Returns 1 when the comma-separated list v[0..n) holds token t[0..tn). */
static int list_has(const char *v, size_t n, const char *t, size_t tn)
{
    size_t i = 0;

    while (i < n) {
        size_t s, e;

        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        s = i;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tn && strncasecmp(v + s, t, tn) == 0)
            return 1;
    }
    return 0;
}

int hdr_is_hop(const struct http1 *h, const char *base, unsigned i)
{
    const struct http1_hdr *hd = &h->hdrs[i];
    const char *name = base + hd->name_off;
    unsigned k;

    for (k = 0; k < sizeof(hop_names) / sizeof(hop_names[0]); k++)
        if (http1_span_eq(name, hd->name_len, hop_names[k]))
            return 1;
    /* Framing passes with the body unchanged: a Connection option must not
     * strip it and leave the next hop guessing where the message ends. */
    if (http1_span_eq(name, hd->name_len, "content-length") ||
        http1_span_eq(name, hd->name_len, "transfer-encoding") ||
        http1_span_eq(name, hd->name_len, "host"))
        return 0;
    for (k = 0; k < h->nhdrs; k++) {
        const struct http1_hdr *c = &h->hdrs[k];

        if (http1_span_eq(base + c->name_off, c->name_len, "connection") &&
            list_has(base + c->value_off, c->value_len, name, hd->name_len))
            return 1;
    }
    return 0;
}

static int put(struct buf *out, const char *p, size_t n)
{
    return buf_append(out, p, n) ? -ENOSPC : 0;
}

static int follow_keeps(const char *name, size_t n)
{
    return http1_span_eq(name, n, "accept") || http1_span_eq(name, n, "range") ||
           http1_span_eq(name, n, "user-agent");
}

static int put_headers(struct buf *out, const struct http1 *h, const char *base,
                       unsigned flags, hdr_rewrite_fn rw, void *rw_arg)
{
    char nv[4096];
    unsigned i;

    for (i = 0; i < h->nhdrs; i++) {
        const struct http1_hdr *hd = &h->hdrs[i];
        const char *name = base + hd->name_off, *val = base + hd->value_off;
        size_t vlen = hd->value_len;

        if (hdr_is_hop(h, base, i))
            continue;
        if (h->p.type == HTTP_REQUEST) {
            if (http1_span_eq(name, hd->name_len, "host"))
                continue;
            if ((flags & HDR_REQ_FOLLOW) && !follow_keeps(name, hd->name_len))
                continue;
            if ((flags & HDR_REQ_NO_RANGE) && http1_span_eq(name, hd->name_len, "range"))
                continue;
        } else if ((flags & HDR_RESP_DECHUNK) &&
                   http1_span_eq(name, hd->name_len, "transfer-encoding")) {
            continue;
        }
        if (rw) {
            int n = rw(rw_arg, name, hd->name_len, val, vlen, nv, sizeof(nv));

            if (n >= 0) {
                val = nv;
                vlen = (size_t)n;
            }
        }
        if (put(out, name, hd->name_len) || put(out, ": ", 2) || put(out, val, vlen) ||
            put(out, "\r\n", 2))
            return -ENOSPC;
    }
    return 0;
}

int hdr_write_request(struct buf *out, const struct http1 *h, const char *base,
                      const char *target, size_t target_len, const char *host,
                      unsigned flags, const char *extra)
{
    const char *m = llhttp_method_name((llhttp_method_t)h->p.method);

    if (put(out, m, strlen(m)) || put(out, " ", 1) || put(out, target, target_len) ||
        put(out, " HTTP/1.1\r\nHost: ", 17) || put(out, host, strlen(host)) ||
        put(out, "\r\n", 2) || put_headers(out, h, base, flags, NULL, NULL))
        return -ENOSPC;
    if (extra && put(out, extra, strlen(extra)))
        return -ENOSPC;
    return put(out, "\r\n", 2);
}

int hdr_write_response(struct buf *out, const struct http1 *h, const char *base,
                       unsigned flags, hdr_rewrite_fn rw, void *rw_arg)
{
    char line[32];
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %03d ", http1_status(h));

    if (put(out, line, (size_t)n) || put(out, base + h->url_off, h->url_len) ||
        put(out, "\r\n", 2) || put_headers(out, h, base, flags, rw, rw_arg))
        return -ENOSPC;
    if ((flags & HDR_RESP_CLOSE) && put(out, "Connection: close\r\n", 19))
        return -ENOSPC;
    return put(out, "\r\n", 2);
}

int hdr_get(const struct http1 *h, const char *base, const char *name,
            char *out, size_t outlen)
{
    int i = http1_find(h, base, name);
    const struct http1_hdr *hd;

    if (i < 0)
        return -1;
    hd = &h->hdrs[i];
    if (hd->value_len >= outlen)
        return -1;
    memcpy(out, base + hd->value_off, hd->value_len);
    out[hd->value_len] = '\0';
    return (int)hd->value_len;
}

static const char *reason_of(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 407: return "Proxy Authentication Required";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return "Error";
    }
}

int hdr_write_error(struct buf *out, int status, const char *code, const char *msg,
                    const char *hdr)
{
    char esc[512], body[700], head[400];
    int bn, hn;

    json_escape(esc, sizeof(esc), msg);
    bn = snprintf(body, sizeof(body),
                  "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\",\"detail\":null}]}\n",
                  code, esc);
    hn = snprintf(head, sizeof(head),
                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                  "Content-Length: %d\r\n%s%sConnection: close\r\n\r\n",
                  status, reason_of(status), bn, hdr ? hdr : "", hdr ? "\r\n" : "");
    buf_consume(out, out->len);
    if (put(out, head, (size_t)hn) || put(out, body, (size_t)bn))
        return -ENOSPC;
    return 0;
}
