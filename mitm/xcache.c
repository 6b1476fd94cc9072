/* xcache.c — the exchange's cache hooks: classify the request, decide who
 * may have a hit, fill from an upstream body, join a fill in progress. */
#include "mitm/xcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/metrics.h"
#include "mitm/cache/cache.h"
#include "mitm/exchange.h"
#include "mitm/http/hdr.h"
#include "proxy/core/registry.h"
#include "proxy/core/links.h"

/* A repository found open is re-checked (with hubgate's own identity, as
 * a client holding one of its tokens pulls) after this long. */
#define XC_OPEN_TTL   3600
/* How long a client's token, accepted upstream for a repository, is
 * trusted without asking again (registry tokens live about that long). */
#define XC_TOKEN_TRUST 300
/* How often a request joined to a fill looks at the growing file (or at
 * a claimed fill, for its size), and how many times at most for a size. */
#define XC_WAIT_MS    5
#define XC_WAIT_MAX   6000

static void xc_count(struct exchange *x, const char *name, double v)
{
    if (x->px->metrics && v > 0)
        metrics_add(x->px->metrics, name, "", v);
}

static int hex64(const char *p, size_t n)
{
    size_t i;

    if (n != 64)
        return 0;
    for (i = 0; i < 64; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

static int tag_ok(const char *p, size_t n)
{
    size_t i;

    if (n == 0 || n > 128)
        return 0;
    for (i = 0; i < n; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
              (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '.' || p[i] == '-'))
            return 0;
    return 1;
}

/* The token service's path, asked without client credentials. */
static int is_own_token_request(const struct exchange *x, const struct registry *reg,
                                const char *t, size_t n)
{
    size_t plen;

    if (!reg || !reg->realm_host || strcmp(x->host, reg->realm_host) != 0)
        return 0;
    plen = strlen(reg->realm_path);
    return n >= plen && memcmp(t, reg->realm_path, plen) == 0 &&
           (n == plen || t[plen] == '?' || t[plen] == '/') &&
           http1_find(x->cl.req, buf_data(&x->tmpl), "authorization") < 0;
}

int xcache_parse(struct xcache *xc, const char *regname, const char *t, size_t n)
{
    const char *q = memchr(t, '?', n), *name, *kind, *ref;
    size_t nlen, rlen;

    if (q)
        n = (size_t)(q - t);
    if (n < 5 || memcmp(t, "/v2/", 4) != 0)
        return -1;
    name = t + 4;
    if ((kind = memmem(name, n - 4, "/blobs/", 7)) != NULL) {
        ref = kind + 7;
        xc->kind = XC_BLOB;
    } else if ((kind = memmem(name, n - 4, "/manifests/", 11)) != NULL) {
        ref = kind + 11;
        xc->kind = XC_MANIFEST;
    } else {
        return -1;
    }
    nlen = (size_t)(kind - name);
    rlen = (size_t)(t + n - ref);
    if (nlen == 0 || nlen > 300)
        return -1;
    snprintf(xc->repo, sizeof(xc->repo), "%s/%.*s", regname, (int)nlen, name);
    if (rlen == 71 && memcmp(ref, "sha256:", 7) == 0 && hex64(ref + 7, 64)) {
        memcpy(xc->hex, ref + 7, 64);
        xc->hex[64] = '\0';
        return 0;
    }
    if (xc->kind != XC_MANIFEST || !tag_ok(ref, rlen))
        return -1;
    xc->kind = XC_TAG;
    snprintf(xc->ref, sizeof(xc->ref), "%s:%.*s", xc->repo, (int)rlen, ref);
    return 0;
}

static void on_wait(struct loop *loop, struct timer *t)
{
    struct exchange *x = t->arg;

    (void)loop;
    x->cl.run(x->cl.arg);
}

void xcache_new(struct exchange *x, const char *target, size_t tlen)
{
    const struct registry *reg = registry_of_host(x->host);
    struct xcache *xc;
    const char *base = buf_data(&x->tmpl);
    char tmp[8192];
    int n;

    if (!x->px->cache || !x->cl.intercepted || x->state == XCH_FAILED ||
        (x->method != HTTP_GET && x->method != HTTP_HEAD))
        return;
    xc = calloc(1, sizeof(*xc));
    if (!xc)
        return;
    timer_init(&xc->wait, on_wait, x);
    if (is_own_token_request(x, reg, target, tlen)) {
        xc->kind = XC_TOKEN;
    } else if ((tlen == 4 || tlen == 3) && memcmp(target, "/v2/", tlen) == 0) {
        xc->kind = XC_PING;
    } else if (xcache_parse(xc, reg ? reg->name : x->host, target, tlen) != 0) {
        free(xc);
        return;
    }
    n = hdr_get(x->cl.req, base, "authorization", tmp, sizeof(tmp));
    if (n > 0 && (xc->auth = malloc((size_t)n)) != NULL) {
        memcpy(xc->auth, tmp, (size_t)n);
        xc->alen = (size_t)n;
    }
    xc->outcome = xc->kind == XC_TOKEN || xc->kind == XC_PING ? NULL : "miss";
    x->xc = xc;
}

/* Upstream served repo to this client: trust its token for a while, and
 * open the repository when the token is hubgate's own (or there is none). */
static void xc_vouched(struct exchange *x)
{
    struct xcache *xc = x->xc;
    struct cache *c = x->px->cache;
    time_t now = time(NULL);

    if (xc->auth)
        cache_token_verified(c, xc->auth, xc->alen, xc->repo, now + XC_TOKEN_TRUST);
    if (!xc->auth || cache_token_is_own(c, xc->auth, xc->alen, now))
        cache_repo_open(c, xc->repo, 1, now);
    if (xc->hex[0])
        cache_link_repo(c, xc->hex, xc->repo);
}

/* Upstream refused R to this client: when the client holds one of
 * hubgate's own tokens, R is no longer open (an account taken out of the
 * configuration, a repository made private), online or offline. Without a
 * token a 401 only asks for one: it closes nothing. */
static void xc_refused(struct exchange *x, int status)
{
    struct xcache *xc = x->xc;
    struct cache *c = x->px->cache;
    time_t now = time(NULL);

    if ((status == 401 || status == 403) && xc->auth &&
        cache_token_is_own(c, xc->auth, xc->alen, now))
        cache_repo_open(c, xc->repo, 0, now);
}

/* Serves xc->hex now; a damaged file is dropped and becomes a miss. */
static int xc_hit(struct exchange *x, const char *ctype)
{
    int rc = xcache_serve(x, ctype);

    if (rc == -ESTALE)
        log_warn("client %s: cached sha256:%s is damaged (size or ctime changed); dropped, "
                 "fetching it again", x->cl.peer, x->xc->hex);
    return rc;
}

/* Serves the blob now, or waits for the fill another request claimed
 * (its size not known yet). 0 when either; else not cached (a miss). */
static int xc_hit_or_wait(struct exchange *x)
{
    struct xcache *xc = x->xc;
    int rc = xc_hit(x, NULL);

    if (rc != -EAGAIN)
        return rc;
    upsrc_close(&x->up);
    x->body = xcache_no_body();
    xc->waiting = 1;
    xc->waits = 0;
    x->state = XCH_SENDING;
    loop_timer_set(x->px->loop, &xc->wait, XC_WAIT_MS);
    return 0;
}

/* Every link that could carry x rests, having failed moments ago (a
 * connect timeout, a certificate that is not the registry's): what may be
 * answered offline is answered now, not after one more failure, which
 * for a black-holed address is a whole connect_timeout per request. 1
 * when answered. */
static int xc_resting_offline(struct exchange *x)
{
    const struct links *l = &x->gen->links;
    uint32_t unable = links_unable(l, &x->gen->cfg, x->host);
    uint64_t now = loop_now(x->px->loop);
    char st[160], why[256] = "";
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (unable & (1u << i))
            continue;
        links_state(l, (int)i, now, st, sizeof(st));
        if (strncmp(st, "resting", 7) != 0)
            return 0;
        if (!why[0])
            snprintf(why, sizeof(why), "%s: %s", l->v[i]->name, st);
    }
    return why[0] && xcache_offline(x, why);
}

int xcache_start(struct exchange *x)
{
    struct xcache *xc = x->xc;
    enum cache_authz a;

    if (!xc || xc->kind == XC_TOKEN)
        return 0;
    if (xc->kind == XC_PING)
        return xc_resting_offline(x);
    if (xc->kind == XC_TAG) {
        /* always revalidated: a HEAD costs no pull on Docker Hub */
        if (x->method == HTTP_GET)
            x->probe = 1;
        else
            xc->outcome = "bypass";
        return xc_resting_offline(x);
    }
    a = cache_authorize(x->px->cache, xc->hex, xc->repo, xc->auth, xc->alen, time(NULL),
                        XC_OPEN_TTL);
    if (a == CACHE_AUTHZ_OK && xc_hit_or_wait(x) == 0)
        return 1;
    if (a == CACHE_AUTHZ_CHECK_OPEN || a == CACHE_AUTHZ_CHECK_TOKEN)
        x->probe = 1;
    if (x->method != HTTP_GET)
        xc->outcome = "bypass";
    return xc_resting_offline(x);
}

/* The check said no (or the entry went): the real request goes upstream,
 * so the client gets exactly upstream's answer. */
static int xc_resend(struct exchange *x)
{
    x->probe = 0;
    upsrc_close(&x->up);
    free(x->redir);
    x->redir = NULL;
    x->hops = 0;
    exchange_send(x);
    return 1;
}

static int retryable(int s)
{
    return s == 429 || s == 502 || s == 503 || s == 504;
}

/* Offline after status from the last link, saying so. */
static int xc_offline_after(struct exchange *x, int status)
{
    char why[160];

    snprintf(why, sizeof(why), "%s: answered %d", exchange_link_name(x), status);
    return xcache_offline(x, why);
}

/* A final answer no other link will replace: offline, if it may be. */
static int xc_last_resort(struct exchange *x, int status)
{
    if (!retryable(status) ||
        links_pick(&x->gen->links, loop_now(x->px->loop), x->tried | (1u << x->link)) >= 0)
        return 0;
    /* served: the answer closed the upstream; else the head goes on as is */
    return xc_offline_after(x, status);
}

/* A check (HEAD) answered 429 or 5xx: the next link asks again (response.c
 * fails over); after the last, offline if it may be, else the real request
 * goes up so the client gets upstream's own answer with its body, never
 * the head of a HEAD. */
static int xc_probe_refused(struct exchange *x, int status)
{
    if (links_pick(&x->gen->links, loop_now(x->px->loop), x->tried | (1u << x->link)) >= 0)
        return 0;
    return xc_offline_after(x, status) ? 1 : xc_resend(x);
}

/* The manifest a tag names, from a 200 head: its digest, media type and
 * size. 0, or -1 when the head names no sha256 digest. */
static int tag_target(struct exchange *x, const char *base)
{
    struct xcache *xc = x->xc;
    const struct http1 *r = &x->up.resp;
    char d[128], len[32];

    if (hdr_get(r, base, "docker-content-digest", d, sizeof(d)) != 71 ||
        memcmp(d, "sha256:", 7) != 0 || !hex64(d + 7, 64))
        return -1;
    memcpy(xc->hex, d + 7, 65);
    if (hdr_get(r, base, "content-type", xc->ctype, sizeof(xc->ctype)) < 0)
        xc->ctype[0] = '\0';
    xc->size = hdr_get(r, base, "content-length", len, sizeof(len)) > 0
                   ? strtoull(len, NULL, 10) : 0;
    return 0;
}

/* A tag upstream just named a manifest: remember it (for offline pulls
 * and the layout) once that manifest is kept, which may be later (a HEAD
 * by tag comes before the GET by digest that fetches it). */
static void tag_remember(struct exchange *x)
{
    struct xcache *xc = x->xc;

    cache_tag_later(x->px->cache, xc->ref, xc->hex,
                    xc->ctype[0] ? xc->ctype : "application/vnd.oci.image.manifest.v1+json",
                    xc->size);
}

static int tag_head(struct exchange *x, const char *base, int status)
{
    struct xcache *xc = x->xc;
    const struct http1 *r = &x->up.resp;

    if (x->method == HTTP_HEAD) {
        /* a client's own HEAD passes; what it says is worth keeping */
        if (status == 200 && tag_target(x, base) == 0) {
            xc_vouched(x);
            tag_remember(x);
        }
        return retryable(status) ? xc_last_resort(x, status) : 0;
    }
    if (!x->probe) {
        if (!x->redir && status >= 200 && status < 400 && status != 304)
            xc_vouched(x);
        /* a registry that redirects manifests (registry.k8s.io) answered
         * the check with its redirect: the final answer names the digest */
        if (status == 200 && !xc->hex[0])
            tag_target(x, base);
        if (status == 200 && xc->hex[0]) {
            if (hdr_get(r, base, "content-type", xc->ctype, sizeof(xc->ctype)) < 0)
                xc->ctype[0] = '\0';
            xc->size = (r->p.flags & F_CONTENT_LENGTH) ? r->p.content_length : 0;
            if (cache_fill_begin(x->px->cache, xc->hex, (r->p.flags & F_CONTENT_LENGTH)
                                 ? r->p.content_length : CACHE_SIZE_UNKNOWN,
                                 xc->repo, &xc->fill) == 0)
                xc->outcome = "fill";
        }
        return retryable(status) ? xc_last_resort(x, status) : 0;
    }
    if (status != 200) {
        if (retryable(status))
            return xc_probe_refused(x, status);
        xc_refused(x, status);
        return xc_resend(x);
    }
    if (tag_target(x, base) != 0)
        return xc_resend(x);
    xc_vouched(x);
    if (xc_hit(x, xc->ctype[0] ? xc->ctype : NULL) != 0)
        return xc_resend(x);
    tag_remember(x);
    return 1;
}

int xcache_head(struct exchange *x, const char *base)
{
    struct xcache *xc = x->xc;
    const struct http1 *r = &x->up.resp;
    int status = http1_status(r), ok = (status >= 200 && status < 300) ||
                                       (status >= 300 && status < 400 && status != 304);
    int rc;

    if (x->state == XCH_RESUMING || status < 200)
        return 0;
    if (xc->kind == XC_TOKEN) {
        xc->tok_on = status == 200 && x->method == HTTP_GET;
        return 0;
    }
    if (xc->kind == XC_PING)
        return xc_last_resort(x, status);
    if (xc->kind == XC_TAG)
        return tag_head(x, base, status);
    if (x->probe) {
        if (retryable(status))
            return xc_probe_refused(x, status);
        if (!ok || x->redir) {
            xc_refused(x, status);
            return xc_resend(x);
        }
        xc_vouched(x);
        return xc_hit_or_wait(x) == 0 ? 1 : xc_resend(x);
    }
    if (x->method != HTTP_GET || http1_find(x->cl.req, buf_data(&x->tmpl), "range") >= 0)
        return retryable(status) ? xc_last_resort(x, status) : 0;
    /* The registry itself said yes (before any redirect): a blob that is
     * kept or being filled needs no fetch; else this request claims the
     * fill now, so that others asking meanwhile wait for it instead of
     * fetching too (single flight from the first answer on). */
    if (ok && !x->redir && !xc->fill) {
        xc_vouched(x);
        if (xc_hit_or_wait(x) == 0)
            return 1;
        rc = cache_fill_begin(x->px->cache, xc->hex, status == 200 &&
                              (r->p.flags & F_CONTENT_LENGTH) ? r->p.content_length
                                                              : CACHE_SIZE_UNKNOWN,
                              xc->repo, &xc->fill);
        if (rc == 0)
            xc->outcome = "fill";
        else if (rc == -EEXIST && xc_hit_or_wait(x) == 0)
            return 1;       /* raced with another request: follow its fill */
    }
    if (xc->fill && status == 200 && (r->p.flags & F_CONTENT_LENGTH) &&
        cache_fill_set_size(xc->fill, r->p.content_length) != 0) {
        cache_fill_abort(xc->fill);     /* too large to keep: stream it */
        xc->fill = NULL;
        xc->outcome = "miss";
    }
    if (xc->fill && !ok) {
        /* the blob host refused: nobody gets this fill */
        cache_fill_abort(xc->fill);
        xc->fill = NULL;
        xc->outcome = "miss";
    }
    return retryable(status) ? xc_last_resort(x, status) : 0;
}

void xcache_body(struct exchange *x, const char *p, size_t n)
{
    struct xcache *xc = x->xc;
    int rc;

    if (xc->kind == XC_TOKEN) {
        char *t;

        if (!xc->tok_on || xc->toklen + n > 64 * 1024)
            return;
        t = realloc(xc->tok, xc->toklen + n + 1);
        if (!t)
            return;
        memcpy(t + xc->toklen, p, n);
        xc->tok = t;
        xc->toklen += n;
        xc->tok[xc->toklen] = '\0';
        return;
    }
    xc_count(x, "hubgate_cache_fetched_bytes_total", (double)n);
    if (!xc->fill)
        return;
    rc = cache_fill_write(xc->fill, p, n);
    if (rc != 0) {
        /* ENOSPC: the store said it once; the pull goes on uncached */
        cache_fill_abort(xc->fill);
        xc->fill = NULL;
        xc->outcome = "miss";
    }
}

int xcache_body_at(struct exchange *x, uint64_t off, const char *p, size_t n)
{
    struct xcache *xc = x->xc;
    int rc;

    if (!xc || !xc->fill)
        return -EBADF;
    xc_count(x, "hubgate_cache_fetched_bytes_total", (double)n);
    rc = cache_fill_write_at(xc->fill, off, p, n);
    if (rc != 0) {
        cache_fill_abort(xc->fill);
        xc->fill = NULL;
        xc->outcome = "miss";
    }
    return rc;
}

void xcache_done(struct exchange *x)
{
    struct xcache *xc = x->xc;
    char who[96];

    if (xc->kind == XC_TOKEN) {
        if (xc->tok_on && xc->tok)
            xcache_note_own_token(x);
        return;
    }
    if (!xc->fill)
        return;
    /* the tag is set once the manifest is kept, if it is */
    if (xc->kind == XC_TAG)
        tag_remember(x);
    /* fsync and rename off the loop; whoever joined sees the blob
     * complete after the rename */
    snprintf(who, sizeof(who), "client %s", x->cl.peer);
    cache_fill_finish_later(xc->fill, who);
    xc->fill = NULL;
}

int xcache_offline(struct exchange *x, const char *why)
{
    struct xcache *xc = x->xc;
    enum cache_authz a;

    if (!xc || xc->kind == XC_TOKEN || x->state == XCH_FAILED ||
        (x->flags & XCH_F_RESP_SENT))
        return 0;
    if (xc->kind == XC_PING) {
        log_warn("client %s: %s failed on every link (last: %s); answering /v2/ from the "
                 "cache", x->cl.peer, x->host, why);
        xcache_serve_ping(x);
        return 1;
    }
    if (xc->kind == XC_TAG) {
        if (cache_tag_get(x->px->cache, xc->ref, xc->hex) != 0)
            return 0;
    }
    /* offline: only what is open to everyone, or imported */
    a = cache_authorize(x->px->cache, xc->hex, xc->repo, NULL, 0, time(NULL), XC_OPEN_TTL);
    if (a != CACHE_AUTHZ_OK && a != CACHE_AUTHZ_CHECK_OPEN)
        return 0;
    if (xc_hit(x, NULL) != 0)
        return 0;
    if (xc->kind == XC_TAG)
        log_warn("client %s: %s failed on every link (last: %s); serving %s from the cache "
                 "as sha256:%s (the tag may be stale)", x->cl.peer, x->host, why, xc->ref,
                 xc->hex);
    else
        log_warn("client %s: %s failed on every link (last: %s); serving sha256:%s of %s "
                 "from the cache", x->cl.peer, x->host, why, xc->hex, xc->repo);
    return 1;
}

/* Waiting for a claimed fill to learn its size: serve it then, or go
 * upstream when the claim failed or takes too long. */
static int xc_wait_step(struct exchange *x)
{
    struct xcache *xc = x->xc;
    int rc;

    if (timer_armed(&xc->wait))
        return 0;
    rc = xc_hit(x, NULL);
    if (rc == 0) {
        xc->waiting = 0;
        return 1;
    }
    if (rc == -EAGAIN && ++xc->waits < XC_WAIT_MAX) {
        loop_timer_set(x->px->loop, &xc->wait, XC_WAIT_MS);
        return 0;
    }
    xc->waiting = 0;
    x->body = &x->up.src;
    exchange_send(x);
    return 1;
}

int xcache_pump(struct exchange *x)
{
    struct xcache *xc = x->xc;
    const char *p;

    if (xc->waiting)
        return xc_wait_step(x);
    if (!xc->serving || x->state != XCH_BODY)
        return 0;
    switch (cachesrc_state(&xc->src)) {
    case CACHESRC_DONE:
        /* the last byte went out only once the fill's digest matched */
        x->digest_ok = x->status == 200;
        x->state = XCH_DONE;
        return 1;
    case CACHESRC_FAILED:
        log_warn("client %s: sha256:%s could not be read from the cache (a failed fill or a "
                 "damaged file); resetting the client so it retries", x->cl.peer, xc->hex);
        if (!strcmp(xc->outcome, "hit"))
            cache_blob_remove(x->px->cache, xc->hex);
        exchange_end_failed(x, XCH_FAIL_RESET);
        return 1;
    default:
        if (source_ready(&xc->src.src, &p) == 0 && !timer_armed(&xc->wait))
            loop_timer_set(x->px->loop, &xc->wait, XC_WAIT_MS);
        return 0;
    }
}

void xcache_free(struct exchange *x)
{
    struct xcache *xc = x->xc;

    if (!xc)
        return;
    loop_timer_del(x->px->loop, &xc->wait);
    if (xc->outcome && x->status) {
        int hit = !strcmp(xc->outcome, "hit"), join = !strcmp(xc->outcome, "join");

        xc_count(x, hit || join ? "hubgate_cache_hits_total" : "hubgate_cache_misses_total", 1);
        xc_count(x, "hubgate_cache_coalesced_total", join);
        if (xc->serving)
            xc_count(x, "hubgate_cache_served_bytes_total", (double)x->bytes_out);
    }
    /* A fill still running here ends: its client left and the fill was
     * not carried on (carry.h: at most CARRY_MAX per loop, or the fetch had
     * not begun), or the worker stops. Requests that joined it see it fail
     * and are reset (dockerd retries; the first retry claims a new fill). */
    cache_fill_abort(xc->fill);
    if (xc->serving)
        cachesrc_free(&xc->src);
    free(xc->auth);
    free(xc->tok);
    free(xc);
    x->xc = NULL;
}

int xcache_filling(const struct exchange *x)
{
    return x->xc && x->xc->fill;
}
