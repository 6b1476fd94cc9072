/* xcache_serve.c — answers from the cache: the head of a hit (Range
 * honoured), its body through a cachesrc, GET /v2/ offline, and the tokens
 * hubgate's own identity holds. */
#include "mitm/xcache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/log.h"
#include "mitm/cache/cache.h"
#include "mitm/digest.h"
#include "mitm/exchange.h"
#include "mitm/http/hdr.h"

/* The body of an answer that has none (HEAD, GET /v2/). */
static size_t empty_ready(struct source *s, const char **p)
{
    (void)s;
    *p = NULL;
    return 0;
}

static void empty_consume(struct source *s, size_t n)
{
    (void)s;
    (void)n;
}

static const struct source_ops empty_ops = {"none", empty_ready, empty_consume};
static struct source empty_src = {&empty_ops};

struct source *xcache_no_body(void)
{
    return &empty_src;
}

void xcache_media_type(const char *buf, size_t n, char *out, size_t outlen)
{
    json_t *root = json_loadb(buf, n, 0, NULL);
    const char *mt = json_string_value(json_object_get(root, "mediaType"));

    /* the top-level mediaType (docker's always, OCI's usually); else the
     * shape: an index lists manifests */
    if (mt && strlen(mt) < outlen && strchr(mt, '/') && !strpbrk(mt, "\r\n"))
        snprintf(out, outlen, "%s", mt);
    else if (json_is_array(json_object_get(root, "manifests")))
        snprintf(out, outlen, "application/vnd.oci.image.index.v1+json");
    else
        snprintf(out, outlen, "application/vnd.oci.image.manifest.v1+json");
    json_decref(root);
}

/* The media type of a cached manifest, from its file (manifests are small;
 * a larger one is judged by its first 64 KiB, which then fail to parse). */
static void sniff_media_type(int fd, uint64_t size, char *out, size_t outlen)
{
    size_t want = size < 65536 ? (size_t)size : 65536;
    char *buf = malloc(want + 1);
    ssize_t n = buf ? pread(fd, buf, want, 0) : -1;

    xcache_media_type(buf ? buf : "", n > 0 ? (size_t)n : 0, out, outlen);
    free(buf);
}

int xcache_range(const char *v, uint64_t size, uint64_t *a, uint64_t *b)
{
    char *end;
    unsigned long long s, e;

    if (strncmp(v, "bytes=", 6) != 0 || strchr(v, ',') || size == 0)
        return 0;
    if (v[6] == '-') {              /* the last n bytes */
        e = strtoull(v + 7, &end, 10);
        if (end == v + 7 || *end || e == 0)
            return 0;
        *a = e >= size ? 0 : size - e;
        *b = size - 1;
        return 1;
    }
    s = strtoull(v + 6, &end, 10);
    if (end == v + 6 || *end != '-' || s >= size)
        return 0;
    end++;
    e = *end ? strtoull(end, &end, 10) : size - 1;
    if (*end || e < s)
        return 0;
    *a = s;
    *b = e < size ? e : size - 1;
    return 1;
}

/* The client's Range, if any, within size. */
static int client_range(const struct exchange *x, uint64_t size, uint64_t *a, uint64_t *b)
{
    char v[128];

    return hdr_get(x->cl.req, buf_data(&x->tmpl), "range", v, sizeof(v)) >= 0 &&
           xcache_range(v, size, a, b);
}

int xcache_serve(struct exchange *x, const char *ctype)
{
    struct xcache *xc = x->xc;
    struct cache *c = x->px->cache;
    struct cache_blob *b = NULL;
    enum cache_blob_state st;
    uint64_t size, a = 0, last;
    char head[1024], mt[128];
    int rc = cache_blob_open(c, xc->hex, &b), ranged, n;

    if (rc == -ESTALE) {
        cache_blob_remove(c, xc->hex);
        return rc;
    }
    if (rc != 0)
        return rc;
    size = cache_blob_size(b);
    cache_blob_avail(b, &st);
    if (size == CACHE_SIZE_UNKNOWN || st == CACHE_BLOB_FAILED) {
        cache_blob_close(b);
        return -EAGAIN;
    }
    if (!ctype && xc->kind == XC_BLOB)
        ctype = "application/octet-stream";
    if (!ctype) {
        sniff_media_type(cache_blob_fd(b), size, mt, sizeof(mt));
        ctype = mt;
    }
    last = size ? size - 1 : 0;
    ranged = x->method == HTTP_GET && client_range(x, size, &a, &last);
    if (x->px->draining)
        x->flags |= XCH_F_CLOSE_AFTER;
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %" PRIu64 "\r\n"
                 "Docker-Content-Digest: sha256:%s\r\nDocker-Distribution-API-Version: "
                 "registry/2.0\r\nAccept-Ranges: bytes\r\n",
                 ranged ? "206 Partial Content" : "200 OK", ctype,
                 size ? last - a + 1 : 0, xc->hex);
    if (ranged && n > 0 && (size_t)n < sizeof(head))
        n += snprintf(head + n, sizeof(head) - (size_t)n,
                      "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n", a, last,
                      size);
    if (n > 0 && (size_t)n < sizeof(head))
        n += snprintf(head + n, sizeof(head) - (size_t)n, "%s\r\n",
                      (x->flags & XCH_F_CLOSE_AFTER) ? "Connection: close\r\n" : "");
    if (n <= 0 || (size_t)n >= sizeof(head) || buf_append(x->cl.cout, head, (size_t)n) != 0) {
        cache_blob_close(b);
        return -ENOSPC;
    }
    upsrc_close(&x->up);
    digest_free(x->digest);
    x->digest = NULL;
    x->digest_ok = st == CACHE_BLOB_COMPLETE && !ranged;
    x->status = ranged ? 206 : 200;
    x->body_len = size ? (int64_t)(last - a + 1) : 0;
    x->range_base = (int64_t)a;
    x->flags |= XCH_F_RESP_SENT;
    xc->outcome = st == CACHE_BLOB_COMPLETE ? "hit" : "join";
    x->probe = 0;
    if (x->method != HTTP_GET || size == 0) {
        cache_blob_close(b);
        x->body = &empty_src;
        x->state = XCH_DONE;
        return 0;
    }
    if (cachesrc_init(&xc->src, b, a, last + 1) != 0) {
        exchange_end_failed(x, XCH_FAIL_CUT);
        return 0;
    }
    xc->serving = 1;
    x->body = &xc->src.src;
    x->state = XCH_BODY;
    return 0;
}

void xcache_serve_ping(struct exchange *x)
{
    static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Content-Length: 2\r\nDocker-Distribution-API-Version: "
                              "registry/2.0\r\n\r\n{}";

    upsrc_close(&x->up);
    if (buf_append(x->cl.cout, ans, x->method == HTTP_HEAD ? sizeof(ans) - 3 : sizeof(ans) - 1)
        != 0) {
        exchange_end_failed(x, XCH_FAIL_CUT);
        return;
    }
    x->status = 200;
    x->flags |= XCH_F_RESP_SENT;
    x->body = &empty_src;
    x->state = XCH_DONE;
}

static void own_token(struct cache *c, json_t *root, const char *key, time_t until)
{
    const char *t = json_string_value(json_object_get(root, key));
    size_t n = t ? strlen(t) : 0;
    char *v;

    if (!n || !(v = malloc(n + 8)))
        return;
    memcpy(v, "Bearer ", 7);
    memcpy(v + 7, t, n + 1);
    cache_token_own(c, v, n + 7, until);
    free(v);
}

void xcache_note_own_token(struct exchange *x)
{
    struct xcache *xc = x->xc;
    json_t *root = json_loadb(xc->tok, xc->toklen, 0, NULL);
    json_int_t exp;
    time_t now = time(NULL);

    if (!root)
        return;
    exp = json_integer_value(json_object_get(root, "expires_in"));
    if (exp <= 0 || exp > 86400)
        exp = 60;
    own_token(x->px->cache, root, "token", now + (time_t)exp);
    own_token(x->px->cache, root, "access_token", now + (time_t)exp);
    json_decref(root);
}
