/* gen.c — building and releasing a configuration generation. */
#include "proxy/core/gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ca/ca.h"
#include "mitm/tls/tls.h"

static int gen_hub_auth(struct gen *g, char *err, size_t errlen)
{
    char cred[520];
    int n;

    if (!g->cfg.hub_user || !g->cfg.hub_token)
        return 0;
    n = snprintf(cred, sizeof(cred), "%s:%s", g->cfg.hub_user, g->cfg.hub_token);
    if (n < 0 || (size_t)n >= sizeof(cred) || ((size_t)n + 2) / 3 * 4 >= sizeof(g->hub_auth)) {
        snprintf(err, errlen, "[upstream] hub_credentials: user:token too long");
        OPENSSL_cleanse(cred, sizeof(cred));
        return -1;
    }
    EVP_EncodeBlock((unsigned char *)g->hub_auth, (const unsigned char *)cred, n);
    OPENSSL_cleanse(cred, sizeof(cred));
    return 0;
}

struct gen *gen_new(struct config *cfg, const struct gen *prev,
                    struct links_health *health, struct tls_sessions *sessions,
                    char *err, size_t errlen)
{
    struct gen *g = calloc(1, sizeof(*g));

    if (!g) {
        snprintf(err, errlen, "out of memory");
        config_free(cfg);
        return NULL;
    }
    g->refs = 1;
    g->seq = prev ? prev->seq + 1 : 0;
    g->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    g->ca = ca_open(g->cfg.ca_dir, g->cfg.intercept_hosts.v, g->cfg.intercept_hosts.n,
                    tls_server_setup, NULL, err, errlen);
    if (!g->ca)
        goto fail;
    g->up_ctx = tls_origin_ctx(g->cfg.ca_file, err, errlen);
    if (!g->up_ctx)
        goto fail;
    if (links_init(&g->links, &g->cfg.via, 1, err, errlen) != 0 ||
        links_init(&g->pass_links, &g->cfg.passthrough_via, 0, err, errlen) != 0)
        goto fail;
    if (gen_hub_auth(g, err, errlen) != 0)
        goto fail;
    g->check_digests = g->cfg.verify_digest_always || links_have_relay(&g->links);
    /* Last, once nothing can fail: the old CA gains a reference only for
     * a generation that will run. */
    g->ca = ca_reuse(prev ? prev->ca : NULL, g->ca);
    g->links.health = health;
    tls_origin_share(g->up_ctx, sessions, g->seq);
    return g;
fail:
    gen_unref(g);
    return NULL;
}

const char *gen_registry_auth(const struct gen *g, const char *name)
{
    size_t i;

    if (g->hub_auth[0] && strcmp(name, "docker.io") == 0)
        return g->hub_auth;
    for (i = 0; i < g->cfg.cred_registries.n; i++)
        if (strcmp(g->cfg.cred_registries.v[i], name) == 0)
            return g->cfg.cred_auths.v[i];
    return NULL;
}

void gen_unref(struct gen *g)
{
    /* acq_rel: every thread's use of g happens before the free */
    if (!g || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    links_free(&g->links);
    links_free(&g->pass_links);
    tls_origin_ctx_free(g->up_ctx);
    ca_free(g->ca);
    OPENSSL_cleanse(g->hub_auth, sizeof(g->hub_auth));
    config_free(&g->cfg);
    free(g);
}
