/* ca.h — hubgate's local certificate authority and the leaf certificates it
 * mints for intercepted hosts.
 *
 * The CA lives in a directory as ca.crt (PEM) and ca.key (PEM, mode 0600).
 * Leaves are minted only for names in the intercept list the CA was opened
 * with, never for a name a client supplies; their keys live only in memory.
 *
 * Threads: one struct ca serves the event loops of every thread (it lives
 * in the configuration generation they share). ca_open(), ca_create() and
 * ca_reuse() run on one thread (the main one); ca_leaf_ctx(), ca_ref(),
 * ca_free(), ca_minted() and the read-only getters may be called from any
 * thread at once. */
#ifndef HUBGATE_CA_H
#define HUBGATE_CA_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

struct ca;

/* Called once for every server SSL_CTX the CA builds, before first use, so
 * that the TLS layer can set its callbacks (SNI check, ALPN). */
typedef void (*ca_ctx_setup_fn)(SSL_CTX *ctx, void *arg);

/* Creates ca.crt and ca.key in dir for the given intercept hosts.
 * force == 0: does nothing and returns 0 when a CA already exists.
 * force != 0: renames an existing pair to ca.crt.bak-TIMESTAMP /
 * ca.key.bak-TIMESTAMP first. Creates dir (0700) when missing.
 * Returns 0, or -1 with a message in err saying what to do. */
int ca_create(const char *dir, char *const *hosts, size_t nhosts, int force,
              char *err, size_t errlen);

/* Opens the CA in dir, creating it first when neither file exists.
 * Refuses (NULL, message in err) a key readable by group or other, a
 * certificate that does not match the key, or a CA whose name constraints
 * do not permit every host in hosts. hosts are copied. */
struct ca *ca_open(const char *dir, char *const *hosts, size_t nhosts,
                   ca_ctx_setup_fn setup, void *setup_arg,
                   char *err, size_t errlen);

/* Reference counting (atomic): ca_open() returns one reference; ca_ref()
 * adds one and returns ca; ca_free() drops one (NULL is ignored) and the
 * last frees the CA with its leaf table. */
struct ca *ca_ref(struct ca *ca);
void ca_free(struct ca *ca);

/* For a reload: fresh was just opened (so the files on disk were checked
 * again) and prev is the running CA (NULL: none). When both are the same
 * CA (directory, certificate, key, setup callback and intercept hosts in
 * the same order), fresh is freed and a new reference to prev returned,
 * so the leaves prev minted go on serving; else fresh is returned. Takes
 * fresh, borrows prev. */
struct ca *ca_reuse(struct ca *prev, struct ca *fresh);

/* Returns the server SSL_CTX for host (case-insensitive, must be one of
 * the hosts given to ca_open), minting its leaf on first use and again
 * when it is within a day of expiry. NULL when host is not permitted or
 * minting failed.
 *
 * The caller owns a reference to the returned context: it calls SSL_new()
 * from it (the SSL takes a reference of its own) and then SSL_CTX_free().
 * A borrowed pointer would not do across threads: another loop may
 * re-mint the host's leaf and free the table's reference between our
 * lookup and our SSL_new().
 *
 * Any thread may call it at once: lookup and minting happen under the
 * CA's lock, so a host gets one leaf for the whole process however many
 * loops ask for it together. When minted is not NULL, *minted is set to 1
 * when this very call minted the leaf (count it then, once), else 0. */
SSL_CTX *ca_leaf_ctx(struct ca *ca, const char *host, time_t now, int *minted);

/* Counts the hosts cert's name constraints do not permit (a certificate
 * without DNS constraints permits none) and writes them, space-separated,
 * into out. */
size_t ca_cert_unpermitted(X509 *cert, char *const *hosts, size_t n, char *out,
                           size_t outlen);

/* The CA certificate (borrowed) and its notAfter time. */
X509 *ca_cert(const struct ca *ca);
time_t ca_not_after(const struct ca *ca);

/* How many leaves this CA minted since it was opened (any thread). */
unsigned long ca_minted(const struct ca *ca);

/* Returns 1 when name is a plausible DNS host name: 1..253 bytes of
 * [A-Za-z0-9.-], no empty label, no leading or trailing '-' in a label. */
int ca_name_valid(const char *name);

#endif
