/* gen.h — one generation of configuration: the config and everything built
 * from it (CA with its leaves, the TLS context toward origins, the links).
 *
 * The main thread builds and checks a generation, once, at start and on
 * SIGHUP; every event loop then serves from that same generation,
 * read-only, holding a reference to it, and so does every connection,
 * which keeps the generation it started under: a reload changes what new
 * connections get while live tunnels and downloads go on unchanged.
 * References are taken and dropped on every loop's thread, so they are
 * atomic. What a generation holds that changes at run time is shared
 * safely by design: the CA's leaf table (locked inside ca/), link health
 * (a locked table outside the generation) and the origin TLS sessions
 * (likewise). */
#ifndef HUBGATE_GEN_H
#define HUBGATE_GEN_H

#include <openssl/ssl.h>

#include "proxy/core/config.h"
#include "proxy/core/links.h"

struct ca;
struct tls_sessions;

struct gen {
    unsigned refs;               /* atomic: see gen_ref() */
    unsigned seq;                /* 0 at start, +1 per reload that took:
                                  * keys the origin session cache */
    struct config cfg;
    struct ca *ca;               /* counted: a reload may keep it */
    SSL_CTX *up_ctx;             /* client context toward origins: verifies */
    struct links links;          /* [upstream] via, with health */
    struct links pass_links;     /* [passthrough] via */
    char hub_auth[700];          /* base64 of hub_credentials, "" when none */
    int check_digests;           /* hash blob bodies: verify_digest = always,
                                  * or a relay among the links (its TLS ends
                                  * at a third party) */
};

/* Builds a generation from cfg, which it takes over (also on failure),
 * joined to what outlives generations and all loops share: link health
 * and the origin TLS session cache (either may be NULL: kept local). prev
 * is the running generation on a reload (NULL at start; borrowed): the new
 * one is numbered prev->seq + 1 and keeps prev's CA, with the leaves it
 * minted, when the CA is unchanged (ca_reuse(): the files are read and
 * checked again all the same). Returns NULL with a message in err; then
 * nothing of prev changed. refs starts at 1. Main thread only. */
struct gen *gen_new(struct config *cfg, const struct gen *prev,
                    struct links_health *health, struct tls_sessions *sessions,
                    char *err, size_t errlen);

/* Adds a reference, from any thread; returns g. */
static inline struct gen *gen_ref(struct gen *g)
{
    __atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
    return g;
}

/* The base64 user:secret hubgate sends for registry name (hub_credentials
 * for docker.io first, then [upstream] credentials), or NULL. */
const char *gen_registry_auth(const struct gen *g, const char *name);

/* Drops a reference, from any thread (NULL is ignored); the last one
 * frees everything. */
void gen_unref(struct gen *g);

#endif
