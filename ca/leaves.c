/* leaves.c — the per-host table of server SSL_CTXs. The host list is
 * fixed when the CA is opened, so the table is an array of that list (a
 * few entries, searched linearly) rather than a cache with eviction. A
 * leaf is minted on first use and again a day before it expires. All of it
 * lives in struct ca, which the loops of every thread share: ca->lock
 * guards the table, held across a mint too, so that two loops asking for
 * the same host at once get the same leaf (one mint per host per week;
 * the lock is taken once per intercepted connection, never per byte). */
#include "ca/ca_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

/* Accepts ca and hosts (copied, lower-cased). Returns 0, or -1 when out
 * of memory; ca_leaves_free() releases a partial table. */
int ca_leaves_init(struct ca *ca, char *const *hosts, size_t n)
{
    size_t i;
    char *p;

    ca->leaves = calloc(n > 0 ? n : 1, sizeof(*ca->leaves));
    if (ca->leaves == NULL)
        return -1;
    ca->nleaves = n;
    for (i = 0; i < n; i++) {
        ca->leaves[i].host = strdup(hosts[i]);
        if (ca->leaves[i].host == NULL)
            return -1;
        for (p = ca->leaves[i].host; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    return 0;
}

/* Accepts ca with a table from ca_leaves_init() (or none). */
void ca_leaves_free(struct ca *ca)
{
    size_t i;

    for (i = 0; i < ca->nleaves; i++) {
        SSL_CTX_free(ca->leaves[i].ctx);
        ca->leaves[i].ctx = NULL;
        free(ca->leaves[i].host);
        ca->leaves[i].host = NULL;
    }
    free(ca->leaves);
    ca->leaves = NULL;
    ca->nleaves = 0;
}

static struct ca_leaf *ca_leaf_find(struct ca *ca, const char *host)
{
    size_t i;

    for (i = 0; i < ca->nleaves; i++)
        if (strcasecmp(ca->leaves[i].host, host) == 0)
            return &ca->leaves[i];
    return NULL;
}

/* A server context holding leaf (referenced, not taken) and the shared
 * leaf key, then handed to the setup callback. */
static SSL_CTX *ca_ctx_new(struct ca *ca, X509 *leaf)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1
        || SSL_CTX_use_certificate(ctx, leaf) != 1
        || SSL_CTX_use_PrivateKey(ctx, ca->leaf_key) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* Non-blocking I/O from the loop's buffers: a write may be partial and
     * retried from a moved buffer; idle connections give their buffers
     * back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS
                              | SSL_MODE_ENABLE_PARTIAL_WRITE
                              | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* A client asking to renegotiate only costs us CPU. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (ca->setup != NULL)
        ca->setup(ctx, ca->setup_arg);
    return ctx;
}

static int ca_leaf_fresh(const struct ca_leaf *l, time_t now, time_t margin)
{
    return l->ctx != NULL && now >= l->not_before
           && now < l->not_after - margin;
}

/* The table entry for a fresh ctx: the current one, or a new mint. Called
 * with ca->lock held. Returns a borrowed ctx (NULL when minting failed and
 * no still-valid leaf is left); *minted says whether this call minted. */
static SSL_CTX *ca_leaf_locked(struct ca *ca, struct ca_leaf *l, time_t now,
                               int *minted)
{
    SSL_CTX *ctx = NULL;
    time_t nb = 0, na = 0;
    char when[40];
    X509 *leaf;

    if (ca_leaf_fresh(l, now, CA_REMINT_SEC))
        return l->ctx;
    leaf = ca_leaf_mint(ca, l->host, now);
    if (leaf != NULL && ca_asn1_time(X509_get0_notBefore(leaf), &nb) == 0
        && ca_asn1_time(X509_get0_notAfter(leaf), &na) == 0)
        ctx = ca_ctx_new(ca, leaf);
    X509_free(leaf);
    if (ctx == NULL) {
        log_warn("cannot mint a certificate for %s: %s", l->host,
                 ca_ossl_reason());
        /* The old leaf still works until its notAfter. */
        return ca_leaf_fresh(l, now, 0) ? l->ctx : NULL;
    }
    /* SSLs made from the old context, and callers that still hold it
     * between ca_leaf_ctx() and SSL_new(), have their own references. */
    SSL_CTX_free(l->ctx);
    l->ctx = ctx;
    l->not_before = nb;
    l->not_after = na;
    __atomic_store_n(&ca->minted, ca->minted + 1, __ATOMIC_RELAXED);
    *minted = 1;
    ca_fmt_time(na, when, sizeof(when));
    log_info("minted a certificate for %s valid until %s", l->host, when);
    return ctx;
}

/* Accepts ca, a host name (any string; checked), the current time and
 * minted (may be NULL), from any thread. Returns an SSL_CTX with a
 * reference the caller owns (SSL_CTX_free() it once its SSL_new() is
 * done); NULL when host is invalid, not in the intercept list, or minting
 * failed with no still-valid leaf to fall back on. */
SSL_CTX *ca_leaf_ctx(struct ca *ca, const char *host, time_t now, int *minted)
{
    struct ca_leaf *l;
    SSL_CTX *ctx;
    int made = 0;

    if (minted != NULL)
        *minted = 0;
    /* Validated before anything else: a client's name never gets near
     * X509, and only configured names are found below (the host copies
     * are fixed at ca_open(), so no lock for the search). */
    if (ca == NULL || !ca_name_valid(host))
        return NULL;
    l = ca_leaf_find(ca, host);
    if (l == NULL)
        return NULL;
    pthread_mutex_lock(&ca->lock);
    ctx = ca_leaf_locked(ca, l, now, &made);
    /* Taken under the lock: another thread's re-mint frees the table's
     * reference, never the caller's. */
    if (ctx != NULL && SSL_CTX_up_ref(ctx) != 1)
        ctx = NULL;
    pthread_mutex_unlock(&ca->lock);
    if (minted != NULL)
        *minted = made;
    return ctx;
}

/* Accepts ca, from any thread. */
unsigned long ca_minted(const struct ca *ca)
{
    return __atomic_load_n(&ca->minted, __ATOMIC_RELAXED);
}
