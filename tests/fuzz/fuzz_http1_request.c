/* fuzz_http1_request.c — client bytes through mitm/http1 (HTTP_REQUEST)
 * and every complete head through mitm/http/hdr.c's hdr_write_request(), as
 * the proxy forwards it.
 *
 * First byte (options):
 *   bits 0-1  feeding: all at once, 2 pieces, 3 pieces, 7 bytes a feed
 *   bits 2-4  where the first cut falls (len * k / 8)
 *   bits 5-6  where the second cut falls
 *   bit  7    max_header_bytes 1KiB (else 64KiB, the default)
 * Bits 2-4 also pick hdr_write_request()'s flags: HDR_REQ_FOLLOW,
 * HDR_REQ_NO_RANGE, and extra lines (Range, Authorization) as a resumed
 * or credentialed attempt adds.
 * The rest is the client's byte stream.
 *
 * Invariants beyond "no crash": heads hold their spans (fuzz_http1.h);
 * the head we write parses back as one head with the same method, target
 * and framing (no smuggling through our rewrite), holds no hop-by-hop
 * field (Proxy-Authorization never reaches an origin) and one Host. */
#include "tests/fuzz/fuzz_http1.h"

#include <errno.h>

#include "base/uri.h"

struct req_ctx {
    unsigned opt;
    size_t max_head;
};

static void check_written(const struct http1 *h, const char *out, size_t n,
                          const char *target, size_t tlen, const char *host, int framing)
{
    struct http1 h2;
    struct fuzz_framing a = fuzz_framing_of(h), b;
    char *blk = fuzz_reparse(&h2, HTTP_REQUEST, 0, out, n);
    unsigned i, hosts = 0;

    FUZZ_CHECK(http1_method(&h2) == http1_method(h));
    FUZZ_CHECK(h2.url_len == tlen && memcmp(blk + h2.url_off, target, tlen) == 0);
    b = fuzz_framing_of(&h2);
    if (framing && (a.flags != b.flags || a.content_length != b.content_length)) {
        fprintf(stderr, "framing changed: flags %#x -> %#x, length %llu -> %llu\n", a.flags,
                b.flags, (unsigned long long)a.content_length,
                (unsigned long long)b.content_length);
        FUZZ_CHECK(a.flags == b.flags && a.content_length == b.content_length);
    }
    fuzz_check_no_hop(&h2, blk);
    for (i = 0; i < h2.nhdrs; i++)
        if (http1_span_eq(blk + h2.hdrs[i].name_off, h2.hdrs[i].name_len, "host")) {
            hosts++;
            FUZZ_CHECK(http1_span_eq(blk + h2.hdrs[i].value_off, h2.hdrs[i].value_len, host));
        }
    FUZZ_CHECK(hosts == 1);
    free(blk);
}

static void on_head(void *arg, const struct http1 *h, const char *base)
{
    struct req_ctx *x = arg;
    const char *url = base + h->url_off, *target = url;
    size_t tlen = h->url_len;
    char host[256] = "registry-1.docker.io";
    struct buf out;
    unsigned flags = 0;
    const char *extra = NULL;
    int rc;
    char tmp[128];

    (void)http1_keep_alive(h);
    (void)hdr_get(h, base, "host", tmp, sizeof(tmp));
    (void)hdr_get(h, base, "authorization", tmp, 8);
    for (unsigned i = 0; i < h->nhdrs; i++)
        (void)hdr_is_hop(h, base, i);
    if (http1_method(h) == HTTP_CONNECT)
        return;     /* answered, never forwarded */
    if (tlen && url[0] != '/' && !(tlen == 1 && url[0] == '*')) {
        /* absolute-form, as plain proxy mode takes it (proxy forward) */
        struct uri u;

        if (uri_parse(url, tlen, &u) != 0 || !uri_host_ok(u.host, u.host_len) ||
            u.host_len >= sizeof(host) || (u.path_len && u.path[0] != '/'))
            return; /* answered 400 */
        FUZZ_CHECK(u.host >= url && u.host + u.host_len <= url + tlen);
        memcpy(host, u.host, u.host_len);
        host[u.host_len] = '\0';
        target = u.path_len ? u.path : "/";
        tlen = u.path_len ? u.path_len : 1;
    }
    /* llhttp 8.1 takes a request line without a version ("GET /v2/")
     * as HTTP/0.9 and lets header fields follow; forwarding it as
     * HTTP/1.1 makes a request the client never sent ("PRI *" becomes
     * an HTTP/2 preface look-alike). It must be refused (400).
     * FUZZ_KNOWN=http09 skips this while that is open. */
    if (!fuzz_known("http09"))
        FUZZ_CHECK(h->p.http_major == 1);
    else if (h->p.http_major != 1)
        return;
    if (x->opt & 0x04)
        flags |= HDR_REQ_FOLLOW;
    if (x->opt & 0x08)
        flags |= HDR_REQ_NO_RANGE;
    if (x->opt & 0x10)
        extra = "Range: bytes=100-\r\nAuthorization: Basic dTp0\r\n";
    buf_init(&out, x->max_head + 4096);   /* as conn.c sizes uout */
    rc = hdr_write_request(&out, h, base, target, tlen, host, flags, extra);
    FUZZ_CHECK(rc == 0 || rc == -ENOSPC);
    FUZZ_CHECK(out.len <= out.size);
    /* FOLLOW keeps only Accept, Range, User-Agent, so framing goes: a
     * followed redirect is a GET without a body */
    if (rc == 0)
        check_written(h, buf_data(&out), out.len, target, tlen, host,
                      !(flags & HDR_REQ_FOLLOW));
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct req_ctx x;
    struct fuzz_feed f;
    struct http1 *h;
    unsigned opt;

    if (size < 1)
        return 0;
    opt = data[0];
    x.opt = opt;
    x.max_head = (opt & 0x80) ? 1024 : 65536;
    h = malloc(sizeof(*h));
    FUZZ_CHECK(h != NULL);
    http1_init(h, HTTP_REQUEST, x.max_head);
    fuzz_feed_init(&f, (const char *)data + 1, size - 1, opt & 3, (opt >> 2) & 7,
                   (opt >> 5) & 3);
    (void)fuzz_http1_run(h, &f, on_head, &x);
    free(h);
    return 0;
}
