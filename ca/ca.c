/* ca.c — opens hubgate's CA: reads ca.key and ca.crt and refuses a pair
 * that is unsafe (key open to group/other), inconsistent (certificate for
 * another key), out of date, or made for another intercept list; then
 * makes the shared leaf key and the per-host leaf table. */
#include "ca/ca_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/log.h"

#define CA_RECREATE "rotate it: hubgate ca-new --force -c FILE (it keeps the old " \
    "pair as ca.crt.bak-*/ca.key.bak-*), then trust the new ca.crt on every " \
    "docker host: hubgate-setup-docker (scripts/setup-docker.sh in a source " \
    "tree), or in one step there: hubgate-setup-docker, which rotates a CA " \
    "that does not permit the intercepted names"

/* Accepts err (may be NULL or errlen 0) and a printf format; see ca_int.h. */
void ca_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Returns OpenSSL's static reason string for the newest error and empties
 * the thread's error queue. */
const char *ca_ossl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return r != NULL ? r : "no OpenSSL error recorded";
}

/* Accepts t and a buffer of len bytes; writes "YYYY-mm-dd HH:MM:SS UTC". */
void ca_fmt_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL
        || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, len, "@%lld", (long long)t);
}

/* Accepts an ASN1_TIME (may be NULL); returns 0 with *out set, or -1. */
int ca_asn1_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* Accepts dir and a file name; returns 0 with "dir/name" in buf, or -1
 * with err when it does not fit. */
int ca_path(char *buf, size_t len, const char *dir, const char *name,
            char *err, size_t errlen)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= len) {
        ca_seterr(err, errlen, "CA directory path %.64s... is too long", dir);
        return -1;
    }
    return 0;
}

/* Returns 1 when path exists (dangling links count: reading them then
 * fails loudly), 0 when not, -1 with err when it cannot be told. */
int ca_file_exists(const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (lstat(path, &st) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    ca_seterr(err, errlen, "cannot check %s: %s", path, strerror(errno));
    return -1;
}

/* PEM callback: the key must not be encrypted, and asking for a password
 * on a daemon's terminal would hang it. */
static int ca_no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static EVP_PKEY *ca_read_key(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    struct stat st;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;
    int fd = -1;

    if (ca_path(path, sizeof(path), dir, "ca.key", err, errlen) == -1)
        return NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        ca_seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto done;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        ca_seterr(err, errlen, "%s is not a regular file; move it away and "
                  "restore the CA key", path);
        goto done;
    }
    /* Checked on the open file, so a chmod between check and read cannot
     * slip by; any group or other bit counts, write and execute too. */
    if ((st.st_mode & 077) != 0) {
        ca_seterr(err, errlen, "ca.key at %s is readable by group/other "
                  "(mode %04o); run: chmod 600 %s/ca.key", dir,
                  (unsigned)(st.st_mode & 07777), dir);
        goto done;
    }
    bio = BIO_new_fd(fd, BIO_CLOSE);
    if (bio == NULL)
        goto done;
    fd = -1;
    key = PEM_read_bio_PrivateKey(bio, NULL, ca_no_password, NULL);
    if (key == NULL)
        ca_seterr(err, errlen, "cannot read %s (%s): it must be an "
                  "unencrypted PEM private key", path, ca_ossl_reason());
done:
    if (fd != -1)
        close(fd);
    BIO_free(bio);
    return key;
}

static X509 *ca_read_cert(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    X509 *cert = NULL;
    BIO *bio;

    if (ca_path(path, sizeof(path), dir, "ca.crt", err, errlen) == -1)
        return NULL;
    bio = BIO_new_file(path, "r");
    if (bio != NULL)
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (cert == NULL)
        ca_seterr(err, errlen, "cannot read %s (%s): it must be a PEM "
                  "certificate; restore it or %s", path, ca_ossl_reason(),
                  CA_RECREATE);
    return cert;
}

/* Refuses a CA that is not yet or no longer valid; warns when it expires
 * within CA_WARN_DAYS. */
static int ca_check_time(struct ca *ca, char *err, size_t errlen)
{
    time_t now = time(NULL), nb;
    char when[40];

    if (ca_asn1_time(X509_get0_notBefore(ca->cert), &nb) == -1
        || ca_asn1_time(X509_get0_notAfter(ca->cert), &ca->not_after) == -1) {
        ca_seterr(err, errlen, "ca.crt in %s has unreadable validity dates; "
                  "%s", ca->dir, CA_RECREATE);
        return -1;
    }
    if (nb > now) {
        ca_fmt_time(nb, when, sizeof(when));
        ca_seterr(err, errlen, "ca.crt in %s is not valid before %s; check "
                  "the system clock", ca->dir, when);
        return -1;
    }
    ca_fmt_time(ca->not_after, when, sizeof(when));
    if (ca->not_after <= now) {
        ca_seterr(err, errlen, "ca.crt in %s expired on %s; %s", ca->dir,
                  when, CA_RECREATE);
        return -1;
    }
    if (ca->not_after - now < (time_t)CA_WARN_DAYS * CA_DAY_SEC)
        log_warn("CA certificate %s/ca.crt expires on %s; " CA_RECREATE,
                 ca->dir, when);
    return 0;
}

/* RFC 5280 4.2.1.10 as OpenSSL applies it: "" matches every name, ".x.y"
 * any name below x.y, "x.y" the name x.y and any name below it. */
static int ca_nc_match(const ASN1_IA5STRING *base, const char *host)
{
    const char *b = (const char *)ASN1_STRING_get0_data(base);
    size_t blen = (size_t)ASN1_STRING_length(base), hlen = strlen(host);

    if (blen == 0)
        return 1;
    if (memchr(b, '\0', blen) != NULL || hlen < blen)
        return 0;
    if (strncasecmp(host + hlen - blen, b, blen) != 0)
        return 0;
    if (b[0] == '.')
        return hlen > blen;
    return hlen == blen || host[hlen - blen - 1] == '.';
}

static int ca_nc_any(const STACK_OF(GENERAL_SUBTREE) *sk, const char *host)
{
    int i;

    for (i = 0; i < sk_GENERAL_SUBTREE_num(sk); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_SUBTREE_value(sk, i)->base;

        if (gn != NULL && gn->type == GEN_DNS && ca_nc_match(gn->d.dNSName, host))
            return 1;
    }
    return 0;
}

size_t ca_cert_unpermitted(X509 *cert, char *const *hosts, size_t n, char *out, size_t outlen)
{
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(cert, NID_name_constraints, NULL, NULL);
    size_t i, bad = 0, used = 0;

    if (outlen)
        out[0] = '\0';
    for (i = 0; i < n; i++) {
        /* A CA without DNS name constraints could sign for any site: it
         * permits nothing here. */
        if (nc != NULL && ca_nc_any(nc->permittedSubtrees, hosts[i]) &&
            !ca_nc_any(nc->excludedSubtrees, hosts[i]))
            continue;
        if (used < outlen) {
            int w = snprintf(out + used, outlen - used, "%s%s", bad ? " " : "", hosts[i]);

            used += w > 0 ? (size_t)w : 0;
        }
        bad++;
    }
    NAME_CONSTRAINTS_free(nc);
    ERR_clear_error();
    return bad;
}

/* Every host must fall under a permitted DNS subtree and under no excluded
 * one. */
static int ca_check_hosts(const struct ca *ca, char *const *hosts, size_t n,
                          char *err, size_t errlen)
{
    char names[512];

    if (ca_cert_unpermitted(ca->cert, hosts, n, names, sizeof(names)) == 0)
        return 0;
    ca_seterr(err, errlen, "the CA in %s does not permit intercept host(s) %s (its "
              "nameConstraints were made for another host list); %s", ca->dir, names,
              CA_RECREATE);
    return -1;
}

/* Accepts dir and the intercept hosts (copied), the setup callback and
 * its argument (kept, not owned). Returns a struct ca the caller releases
 * with ca_free(), or NULL with a message in err. */
struct ca *ca_open(const char *dir, char *const *hosts, size_t nhosts,
                   ca_ctx_setup_fn setup, void *setup_arg,
                   char *err, size_t errlen)
{
    char crt[4096], key[4096];
    struct ca *ca = NULL;
    int have_crt, have_key;
    size_t i;

    for (i = 0; i < nhosts; i++) {
        if (!ca_name_valid(hosts[i])) {
            ca_seterr(err, errlen, "intercept host \"%.64s\" is not a valid "
                      "DNS name; fix [intercept] in the config", hosts[i]);
            return NULL;
        }
    }
    if (ca_path(crt, sizeof(crt), dir, "ca.crt", err, errlen) == -1
        || ca_path(key, sizeof(key), dir, "ca.key", err, errlen) == -1
        || (have_crt = ca_file_exists(crt, err, errlen)) == -1
        || (have_key = ca_file_exists(key, err, errlen)) == -1)
        return NULL;
    if (!have_crt && !have_key) {
        if (ca_create(dir, hosts, nhosts, 0, err, errlen) == -1)
            return NULL;
    } else if (!have_crt || !have_key) {
        ca_seterr(err, errlen, "%s exists but %s does not (an interrupted "
                  "ca-new?); restore the missing file, or run: hubgate ca-new "
                  "--force -c FILE (it keeps %s as a backup)",
                  have_crt ? crt : key, have_crt ? key : crt,
                  have_crt ? "ca.crt" : "ca.key");
        return NULL;
    }

    ca = calloc(1, sizeof(*ca));
    if (ca == NULL) {
        ca_seterr(err, errlen, "out of memory");
        return NULL;
    }
    ca->refs = 1;
    ca->dir = strdup(dir);
    if (ca->dir == NULL) {
        ca_seterr(err, errlen, "out of memory");
        goto fail;
    }
    ca->setup = setup;
    ca->setup_arg = setup_arg;
    if (pthread_mutex_init(&ca->lock, NULL) != 0) {
        ca_seterr(err, errlen, "cannot create a lock: out of resources");
        goto fail;
    }
    ca->lock_ok = 1;
    if ((ca->key = ca_read_key(dir, err, errlen)) == NULL
        || (ca->cert = ca_read_cert(dir, err, errlen)) == NULL)
        goto fail;
    if (EVP_PKEY_eq(X509_get0_pubkey(ca->cert), ca->key) != 1) {
        ca_seterr(err, errlen, "ca.crt in %s does not match ca.key; restore "
                  "the matching pair from ca.*.bak-* or %s", dir, CA_RECREATE);
        goto fail;
    }
    if (X509_check_ca(ca->cert) != 1) {
        ca_seterr(err, errlen, "ca.crt in %s is not a CA certificate; %s",
                  dir, CA_RECREATE);
        goto fail;
    }
    if (ca_check_time(ca, err, errlen) == -1
        || ca_check_hosts(ca, hosts, nhosts, err, errlen) == -1)
        goto fail;
    ca->leaf_key = EVP_EC_gen("P-256");
    if (ca->leaf_key == NULL) {
        ca_seterr(err, errlen, "cannot generate the leaf key: %s",
                  ca_ossl_reason());
        goto fail;
    }
    if (ca_leaves_init(ca, hosts, nhosts) == -1) {
        ca_seterr(err, errlen, "out of memory");
        goto fail;
    }
    ERR_clear_error();
    return ca;
fail:
    ca_free(ca);
    ERR_clear_error();
    return NULL;
}

/* Accepts ca (not NULL), from any thread. */
struct ca *ca_ref(struct ca *ca)
{
    __atomic_add_fetch(&ca->refs, 1, __ATOMIC_RELAXED);
    return ca;
}

/* Accepts NULL. The last reference frees every SSL_CTX the CA made; SSLs
 * made from them keep their own reference. */
void ca_free(struct ca *ca)
{
    /* acq_rel: whatever other threads did with ca happens before the free */
    if (ca == NULL || __atomic_sub_fetch(&ca->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    ca_leaves_free(ca);
    if (ca->lock_ok)
        pthread_mutex_destroy(&ca->lock);
    EVP_PKEY_free(ca->leaf_key);
    EVP_PKEY_free(ca->key);
    X509_free(ca->cert);
    free(ca->dir);
    free(ca);
}

/* Same directory, certificate, key, TLS setup and intercept hosts (in
 * order, as ca_leaves_init() lower-cased them): the leaves of a would do
 * for b. Only fields fixed at ca_open() are read, so no lock. */
static int ca_same(const struct ca *a, const struct ca *b)
{
    size_t i;

    if (strcmp(a->dir, b->dir) != 0 || X509_cmp(a->cert, b->cert) != 0
        || EVP_PKEY_eq(a->key, b->key) != 1 || a->setup != b->setup
        || a->setup_arg != b->setup_arg || a->nleaves != b->nleaves)
        return 0;
    for (i = 0; i < a->nleaves; i++)
        if (strcmp(a->leaves[i].host, b->leaves[i].host) != 0)
            return 0;
    return 1;
}

/* Accepts prev (may be NULL; borrowed) and fresh (taken). Returns a
 * reference the caller owns: to prev when it is the same CA as fresh,
 * else fresh. */
struct ca *ca_reuse(struct ca *prev, struct ca *fresh)
{
    int same;

    if (prev == NULL || fresh == NULL)
        return fresh;
    same = ca_same(prev, fresh);
    ERR_clear_error();
    if (!same)
        return fresh;
    ca_free(fresh);
    return ca_ref(prev);
}

/* Returns the CA certificate, borrowed from ca. */
X509 *ca_cert(const struct ca *ca)
{
    return ca != NULL ? ca->cert : NULL;
}

/* Returns the CA certificate's notAfter, or 0 for NULL. */
time_t ca_not_after(const struct ca *ca)
{
    return ca != NULL ? ca->not_after : 0;
}
