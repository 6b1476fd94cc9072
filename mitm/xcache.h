/* xcache.h — an exchange and the blob cache (mitm/cache/cache.h): which
 * requests the cache may answer, who may have a hit, filling it from an
 * upstream body, joining a fill in progress, and serving offline. Internal
 * to mitm/; the exchange calls these hooks only when x->xc is set.
 *
 * The rule (README, Security): a hit goes only to a client upstream would
 * serve, for that repository. cache_authorize() says OK (the repository is
 * open to hubgate's own identity, or this client's token was accepted for
 * it, or the blob was imported), or asks for a check: then the request goes
 * upstream as a HEAD with the client's own Authorization, and the
 * registry's answer decides (2xx or a redirect: the hit; anything else: the
 * request goes upstream for real and the client gets upstream's answer).
 * A registry's 2xx or redirect to a client holding one of hubgate's own
 * tokens (one issued for a token request that carried no client
 * credentials) opens the repository for every client. */
#ifndef HUBGATE_XCACHE_H
#define HUBGATE_XCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"
#include "mitm/cachesrc.h"

struct exchange;

enum xcache_kind {
    XC_BLOB = 0,        /* /v2/<name>/blobs/sha256:<hex> */
    XC_MANIFEST,        /* /v2/<name>/manifests/sha256:<hex> */
    XC_TAG,             /* /v2/<name>/manifests/<tag> */
    XC_TOKEN,           /* the registry's token service, no client credentials */
    XC_PING,            /* GET /v2/: answered by hubgate itself when offline */
};

struct xcache {
    enum xcache_kind kind;
    char repo[512];               /* "docker.io/library/nginx" */
    char ref[700];                /* XC_TAG: "docker.io/library/nginx:latest" */
    char hex[65];                 /* the blob or manifest, once known */
    char *auth;                   /* the client's Authorization value, or NULL */
    size_t alen;
    const char *outcome;          /* hit, miss, fill, join, bypass */
    struct cache_fill *fill;      /* filling from the upstream body */
    char ctype[128];              /* XC_TAG: the manifest's media type */
    uint64_t size;                /* XC_TAG: the manifest's size */
    int serving;                  /* the body comes from src */
    int waiting;                  /* for a fill claimed by another request to
                                   * learn its size (no upstream meanwhile) */
    int waits;
    struct cachesrc src;
    struct timer wait;            /* a joined fill has nothing new yet */
    char *tok;                    /* XC_TOKEN: the token answer (small) */
    size_t toklen;
    int tok_on;
};

/* Classifies the request of x (target[0..tlen), origin-form) and sets
 * x->xc when the cache may have a say; nothing without a cache. */
void xcache_new(struct exchange *x, const char *target, size_t tlen);

/* Before the first attempt: serves a hit the client may have (1: done, no
 * upstream), or sets x->probe for a check. 0: go upstream. */
int xcache_start(struct exchange *x);

/* A final response head is in x->up (base: its bytes). Returns 1 when the
 * cache took over (a hit after a check, a joined fill, a re-sent request:
 * the head is not the client's), else 0 (a fill may have begun). */
int xcache_head(struct exchange *x, const char *base);

/* Body bytes from upstream for the client, decoded. */
void xcache_body(struct exchange *x, const char *p, size_t n);

/* Body bytes of a segmented fetch at blob offset off, into the fill
 * (cache_fill_write_at). 0; -EBADF when x is not filling; else the write
 * failed, the fill is dropped (readers fail) and -errno returned. */
int xcache_body_at(struct exchange *x, uint64_t off, const char *p, size_t n);

/* The upstream response is complete: finish the fill (digest check). */
void xcache_done(struct exchange *x);

/* Every link failed, the last as why says ("direct: answered 429"): serves
 * what may be served offline (open repositories, imported images, GET
 * /v2/), logging why. 1 when answered. */
int xcache_offline(struct exchange *x, const char *why);

/* Moves a response served from the cache on: its end, a failed fill
 * (reset), or a wait for a growing file. Returns 1 when state changed. */
int xcache_pump(struct exchange *x);

/* 1 when x's upstream body is filling the cache. A segmented fetch
 * (segfetch.c) writes to the fill itself: each segment at its offsets as
 * it arrives (xcache_body_at), the client reading the file; and ends it
 * with xcache_done(). */
int xcache_filling(const struct exchange *x);

/* Aborts a fill in progress, closes the file, frees x->xc. */
void xcache_free(struct exchange *x);

/* Fills xc's kind, repo ("regname/<name>"), hex or ref from an origin-form
 * target "/v2/<name>/blobs/sha256:<hex>" or "/v2/<name>/manifests/<ref>"
 * (a query is ignored). 0, or -1 for anything else. */
int xcache_parse(struct xcache *xc, const char *regname, const char *target, size_t tlen);

/* ---- xcache_serve.c ---- */

/* A Range header value as [*a, *b] within size bytes: 1 for one
 * satisfiable range ("bytes=a-b", "bytes=a-", "bytes=-n"), else 0 (serve
 * the whole). */
int xcache_range(const char *v, uint64_t size, uint64_t *a, uint64_t *b);

/* A manifest's media type from its n bytes of JSON: its top-level
 * mediaType, else an OCI index or manifest by their shape. */
void xcache_media_type(const char *buf, size_t n, char *out, size_t outlen);

/* Serves blob or manifest xc->hex from the cache (the client's Range
 * honoured), with ctype (NULL: what the file says). Returns 0, -ENOENT
 * when not cached, -ESTALE when damaged (dropped), -EAGAIN when it cannot
 * be joined (a fill of unknown size). */
int xcache_serve(struct exchange *x, const char *ctype);

/* A body source that never has bytes: for answers without a body, and
 * while a request waits (whatever the closed upstream parsed is nobody's). */
struct source *xcache_no_body(void);

/* Answers GET /v2/ as a registry would, for an offline pull. */
void xcache_serve_ping(struct exchange *x);

/* Records the token in an answer of the registry's token service to a
 * request without client credentials (JSON "token", "access_token"). */
void xcache_note_own_token(struct exchange *x);

#endif
