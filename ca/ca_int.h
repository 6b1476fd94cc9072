/* ca_int.h — internals shared by ca.c (open and check), ca_create.c (make a
 * new CA), leaf.c (mint one leaf) and leaves.c (the per-host table).
 * Only ca/ and its unit test include this; everyone else uses ca/ca.h. */
#ifndef HUBGATE_CA_INT_H
#define HUBGATE_CA_INT_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ca/ca.h"

/* notBefore is set this far in the past so that a client whose clock runs
 * a little behind ours still accepts a certificate minted just now. */
#define CA_BACKDATE_SEC (60 * 60)
/* CA validity, notAfter - notBefore: 730 days, never more than 2 years. */
#define CA_VALID_DAYS 730
/* ca_open warns when the CA expires within this many days. */
#define CA_WARN_DAYS 30
/* Leaf validity, notAfter - notBefore: exactly 7 days (so notAfter is
 * now + 7 days - CA_BACKDATE_SEC). */
#define CA_LEAF_DAYS 7
/* A leaf is re-minted once now is within this long of its notAfter. */
#define CA_REMINT_SEC (24 * 60 * 60)

#define CA_DAY_SEC (24 * 60 * 60)

/* One intercepted host and its current server context. */
struct ca_leaf {
    char *host;          /* lower-case copy of the configured name */
    SSL_CTX *ctx;        /* NULL until first use */
    time_t not_before;   /* of the leaf in ctx */
    time_t not_after;
};

/* Everything the CA needs lives here, nothing in file-scope statics: the
 * event loops of every thread share one struct ca (through the
 * configuration generation). All of it is fixed after ca_open() except
 * what the lock guards: the ctx and times of each leaf, and minted. */
struct ca {
    unsigned refs;       /* atomic: generations on several threads hold it */
    char *dir;
    unsigned long minted;  /* leaves minted since ca_open(); atomic reads */
    X509 *cert;          /* CA certificate */
    EVP_PKEY *key;       /* CA private key */
    EVP_PKEY *leaf_key;  /* P-256, shared by every leaf, memory only */
    time_t not_after;    /* of cert */
    pthread_mutex_t lock; /* the leaf table: lookups and minting */
    int lock_ok;         /* lock was initialised (ca_free of a partial ca) */
    struct ca_leaf *leaves;
    size_t nleaves;
    ca_ctx_setup_fn setup;
    void *setup_arg;
};

/* ca.c */

/* Formats a message into err (errlen bytes, may be 0). */
void ca_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Returns the reason of the newest queued OpenSSL error (a static string
 * owned by OpenSSL) and empties the error queue. */
const char *ca_ossl_reason(void);
/* Writes t as "YYYY-mm-dd HH:MM:SS UTC" into buf (len >= 24). */
void ca_fmt_time(time_t t, char *buf, size_t len);
/* Converts an ASN1_TIME to a time_t in *out. Returns 0, or -1. */
int ca_asn1_time(const ASN1_TIME *t, time_t *out);
/* Writes "dir/name" into buf. Returns 0, or -1 with err when too long. */
int ca_path(char *buf, size_t len, const char *dir, const char *name,
            char *err, size_t errlen);
/* Returns 1 when path exists (a dangling link counts), 0 when it does not,
 * -1 with err when it cannot be told. */
int ca_file_exists(const char *path, char *err, size_t errlen);

/* ca_create.c */

/* Builds and signs a self-signed CA certificate for key, whose name
 * constraints permit DNS names under hosts[0..n) and exclude every IPv4
 * and IPv6 address, valid from not_before to not_after. The hosts must
 * have passed ca_name_valid(). Returns a new X509 the caller frees, or
 * NULL. Also used by the unit test to make expired CAs. */
X509 *ca_cert_build(EVP_PKEY *key, char *const *hosts, size_t n,
                    time_t not_before, time_t not_after);

/* leaf.c */

/* Sets a random, positive 128-bit serial number on x. Returns 0, or -1. */
int ca_serial_rand(X509 *x);
/* Adds the extension nid with a constant value in OpenSSL's config syntax
 * (never built from a host name) to x, issued by issuer. Returns 0, or -1. */
int ca_add_ext(X509 *x, X509 *issuer, int nid, const char *value);
/* Mints a leaf certificate for host, signed by ca->key and carrying
 * ca->leaf_key, valid from now - CA_BACKDATE_SEC for CA_LEAF_DAYS. Checks
 * ca_name_valid() but not the intercept list (the caller does, and the unit
 * test mints outside it on purpose). Returns a new X509, or NULL. */
X509 *ca_leaf_mint(const struct ca *ca, const char *host, time_t now);

/* leaves.c */

/* Sets up ca->leaves with a lower-case copy of each host; no leaf is
 * minted yet. Returns 0, or -1 (out of memory); ca_leaves_free() cleans
 * up either way. */
int ca_leaves_init(struct ca *ca, char *const *hosts, size_t n);
/* Frees every SSL_CTX and host copy in ca->leaves. */
void ca_leaves_free(struct ca *ca);

#endif
