/* gen.h — one generation of configuration: the config and everything built
 * from it (CA with its leaves, the TLS context toward origins, the links).
 * Connections hold a reference to the generation they started under, so a
 * reload (SIGHUP) changes what new connections get while live tunnels and
 * downloads go on unchanged. */
#ifndef HUBGATE_GEN_H
#define HUBGATE_GEN_H

#include <openssl/ssl.h>

#include "proxy/core/config.h"
#include "proxy/core/links.h"

struct ca;

struct gen {
    unsigned refs;
    struct config cfg;
    struct ca *ca;
    SSL_CTX *up_ctx;             /* client context toward origins: verifies */
    struct links links;          /* [upstream] via, with health */
    struct links pass_links;     /* [passthrough] via */
    char hub_auth[700];          /* base64 of hub_credentials, "" when none */
    int check_digests;           /* hash blob bodies: verify_digest = always,
                                  * or a relay among the links (its TLS ends
                                  * at a third party) */
};

/* Builds a generation from cfg, which it takes over (also on failure).
 * Returns NULL with a message in err. refs starts at 1. */
struct gen *gen_new(struct config *cfg, char *err, size_t errlen);

static inline struct gen *gen_ref(struct gen *g)
{
    g->refs++;
    return g;
}

/* Drops a reference; the last one frees everything. */
void gen_unref(struct gen *g);

#endif
