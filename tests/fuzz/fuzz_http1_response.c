/* fuzz_http1_response.c — origin bytes through mitm/http1 (HTTP_RESPONSE)
 * and every complete head through mitm/http/hdr.c's hdr_write_response(), as
 * the proxy passes it to the client.
 *
 * First byte (options):
 *   bits 0-1  feeding: all at once, 2 pieces, 3 pieces, 7 bytes a feed
 *   bits 2-4  where the first cut falls (len * k / 8)
 *   bit  5    where the second cut falls
 *   bit  6    skip_body (the answer to a HEAD request)
 *   bit  7    max_header_bytes 1KiB (else 64KiB, the default)
 * Bits 2-3 also pick hdr_write_response()'s close flag and a rewrite
 * callback (Location and WWW-Authenticate replaced, as relay answers
 * are mapped back). The rest is the origin's byte stream.
 *
 * Invariants beyond "no crash": heads hold their spans (fuzz_http1.h);
 * the head we write parses back as one head with the same status and,
 * unless it answers HEAD or has no body, the same framing; it carries no
 * hop-by-hop field but our own "Connection: close". */
#include "tests/fuzz/fuzz_http1.h"

#include <errno.h>

struct resp_ctx {
    unsigned opt;
    size_t max_head;
    int skip_body;
};

static int rewrite(void *arg, const char *name, size_t name_len, const char *value,
                   size_t value_len, char *out, size_t outlen)
{
    static const char loc[] = "https://production.cloudflare.docker.com/registry-v2/x";
    size_t n;

    (void)arg;
    if (http1_span_eq(name, name_len, "location")) {
        if (sizeof(loc) > outlen)
            return -1;
        memcpy(out, loc, sizeof(loc) - 1);
        return (int)(sizeof(loc) - 1);
    }
    if (http1_span_eq(name, name_len, "www-authenticate")) {
        /* the value echoed with a prefix, cut to what fits */
        n = value_len + 7 < outlen ? value_len : (outlen > 8 ? outlen - 8 : 0);
        memcpy(out, "Bearer ", 7);
        memcpy(out + 7, value, n);
        return (int)(n + 7);
    }
    return -1;
}

static void on_head(void *arg, const struct http1 *h, const char *base)
{
    struct resp_ctx *x = arg;
    struct buf out;
    struct http1 h2;
    int close = (x->opt >> 2) & 1, rc;
    unsigned i;
    char *blk;
    char tmp[128];

    (void)hdr_get(h, base, "content-range", tmp, sizeof(tmp));
    (void)hdr_get(h, base, "retry-after", tmp, sizeof(tmp));
    (void)http1_keep_alive(h);
    FUZZ_CHECK(http1_status(h) >= 0 && http1_status(h) <= 999);
    buf_init(&out, x->max_head + 4096);     /* as conn.c sizes cout */
    rc = hdr_write_response(&out, h, base, close, (x->opt & 8) ? rewrite : NULL, NULL);
    FUZZ_CHECK(rc == 0 || rc == -ENOSPC);
    FUZZ_CHECK(out.len <= out.size);
    if (rc != 0) {
        buf_free(&out);
        return;
    }
    blk = fuzz_reparse(&h2, HTTP_RESPONSE, x->skip_body, buf_data(&out), out.len);
    FUZZ_CHECK(http1_status(&h2) == http1_status(h));
    if (!x->skip_body && !(h->p.flags & F_SKIPBODY)) {
        struct fuzz_framing a = fuzz_framing_of(h), b = fuzz_framing_of(&h2);

        if (a.flags != b.flags || a.content_length != b.content_length) {
            fprintf(stderr, "framing changed: flags %#x -> %#x, length %llu -> %llu\n",
                    a.flags, b.flags, (unsigned long long)a.content_length,
                    (unsigned long long)b.content_length);
            FUZZ_CHECK(a.flags == b.flags && a.content_length == b.content_length);
        }
        /* a read-until-close body must be announced as such */
        if (llhttp_message_needs_eof(&h->p) && close)
            FUZZ_CHECK(llhttp_message_needs_eof(&h2.p));
    }
    for (i = 0; i < h2.nhdrs; i++) {
        const char *n = blk + h2.hdrs[i].name_off;

        if (http1_span_eq(n, h2.hdrs[i].name_len, "connection")) {
            /* only ours, and only when asked for, once, last */
            FUZZ_CHECK(close && i == h2.nhdrs - 1);
            FUZZ_CHECK(http1_span_eq(blk + h2.hdrs[i].value_off, h2.hdrs[i].value_len,
                                     "close"));
            h2.nhdrs--;
        }
    }
    fuzz_check_no_hop(&h2, blk);
    free(blk);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct resp_ctx x;
    struct fuzz_feed f;
    struct http1 *h;
    unsigned opt;

    if (size < 1)
        return 0;
    opt = data[0];
    x.opt = opt;
    x.max_head = (opt & 0x80) ? 1024 : 65536;
    x.skip_body = (opt >> 6) & 1;
    h = malloc(sizeof(*h));
    FUZZ_CHECK(h != NULL);
    http1_init(h, HTTP_RESPONSE, x.max_head);
    h->skip_body = x.skip_body;
    fuzz_feed_init(&f, (const char *)data + 1, size - 1, opt & 3, (opt >> 2) & 7,
                   (opt >> 5) & 1);
    (void)fuzz_http1_run(h, &f, on_head, &x);
    free(h);
    return 0;
}
