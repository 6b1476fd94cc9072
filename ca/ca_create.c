/* ca_create.c — makes a new CA in a directory: an ECDSA P-256 key and a
 * self-signed certificate whose nameConstraints permit only the
 * intercepted hosts and no IP address, so that the CA, once trusted by
 * dockerd's host, cannot vouch for any other site. Both files are written
 * under temporary names and renamed into place. */
#include "ca/ca_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/log.h"

/* "hubgate local CA (HOSTNAME)", at most 64 characters (RFC 5280's
 * ub-common-name) and printable ASCII, since people read it in trust
 * stores. */
static void ca_common_name(char *cn, size_t len)
{
    char host[256];
    size_t i;

    if (gethostname(host, sizeof(host)) == -1)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    for (i = 0; host[i] != '\0'; i++)
        if ((unsigned char)host[i] < 0x20 || (unsigned char)host[i] > 0x7e)
            host[i] = '_';
    snprintf(cn, len, "hubgate local CA (%.45s)", host);
}

/* One subtree whose base is a name of type (GEN_DNS: IA5String,
 * GEN_IPADD: address and mask as an OCTET STRING) built from data. */
static GENERAL_SUBTREE *ca_subtree(int type, const void *data, int len)
{
    GENERAL_SUBTREE *st = GENERAL_SUBTREE_new();
    ASN1_STRING *s = NULL;

    if (st == NULL)
        return NULL;
    s = type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
    if (s == NULL || ASN1_STRING_set(s, data, len) != 1)
        goto fail;
    if (st->base == NULL && (st->base = GENERAL_NAME_new()) == NULL)
        goto fail;
    GENERAL_NAME_set0_value(st->base, type, s);
    return st;
fail:
    ASN1_STRING_free(s);
    GENERAL_SUBTREE_free(st);
    return NULL;
}

/* Critical nameConstraints: permitted DNS:<host> for each host, excluded
 * IP:0.0.0.0/0 and IP:::/0. Built as structures, never as config text. */
static int ca_name_constraints(X509 *x, char *const *hosts, size_t n)
{
    static const unsigned char any_ip[32]; /* address and mask all zero */
    NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
    GENERAL_SUBTREE *st = NULL;
    char lower[256];
    size_t i, j;
    int rc = -1;

    if (nc == NULL
        || (nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null()) == NULL
        || (nc->excludedSubtrees = sk_GENERAL_SUBTREE_new_null()) == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        for (j = 0; hosts[i][j] != '\0' && j < sizeof(lower) - 1; j++)
            lower[j] = (char)(hosts[i][j] >= 'A' && hosts[i][j] <= 'Z'
                              ? hosts[i][j] + ('a' - 'A') : hosts[i][j]);
        st = ca_subtree(GEN_DNS, lower, (int)j);
        if (st == NULL || sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, st) <= 0)
            goto done;
        st = NULL;
    }
    st = ca_subtree(GEN_IPADD, any_ip, 8);
    if (st == NULL || sk_GENERAL_SUBTREE_push(nc->excludedSubtrees, st) <= 0)
        goto done;
    st = ca_subtree(GEN_IPADD, any_ip, 32);
    if (st == NULL || sk_GENERAL_SUBTREE_push(nc->excludedSubtrees, st) <= 0)
        goto done;
    st = NULL;
    if (X509_add1_ext_i2d(x, NID_name_constraints, nc, 1,
                          X509V3_ADD_DEFAULT) == 1)
        rc = 0;
done:
    GENERAL_SUBTREE_free(st);
    NAME_CONSTRAINTS_free(nc);
    return rc;
}

/* Accepts the CA key (referenced, not taken), valid hosts and the
 * validity window. Returns a new self-signed X509 the caller frees, or
 * NULL. */
X509 *ca_cert_build(EVP_PKEY *key, char *const *hosts, size_t n,
                    time_t not_before, time_t not_after)
{
    X509 *x = X509_new();
    X509_NAME *name;
    char cn[65];

    if (x == NULL)
        return NULL;
    ca_common_name(cn, sizeof(cn));
    name = X509_get_subject_name(x);
    if (X509_set_version(x, X509_VERSION_3) != 1 || ca_serial_rand(x) == -1
        || X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                      (const unsigned char *)"hubgate", -1, -1, 0) != 1
        || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                      (const unsigned char *)cn, -1, -1, 0) != 1
        || X509_set_issuer_name(x, name) != 1
        || ASN1_TIME_set(X509_getm_notBefore(x), not_before) == NULL
        || ASN1_TIME_set(X509_getm_notAfter(x), not_after) == NULL
        || X509_set_pubkey(x, key) != 1
        || ca_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") == -1
        || ca_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") == -1
        || ca_add_ext(x, x, NID_subject_key_identifier, "hash") == -1
        || ca_name_constraints(x, hosts, n) == -1
        || X509_sign(x, key, EVP_sha256()) <= 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Writes cert or key as PEM to a new file path with mode. The mode is
 * given to open(), so ca.key is never readable by others, not even for a
 * moment; O_EXCL refuses to write through anything left at path. */
static int ca_write_pem(const char *path, mode_t mode, X509 *cert,
                        EVP_PKEY *key, char *err, size_t errlen)
{
    BIO *bio = NULL;
    int fd, ok;

    if (unlink(path) == -1 && errno != ENOENT) {
        ca_seterr(err, errlen, "cannot remove stale %s: %s", path,
                  strerror(errno));
        return -1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd == -1) {
        ca_seterr(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    /* The certificate is public: make it 0644 whatever the umask. */
    errno = 0;
    ok = (key != NULL || fchmod(fd, mode) == 0)
         && (bio = BIO_new_fd(fd, BIO_NOCLOSE)) != NULL
         && (key != NULL ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0,
                                                     NULL, NULL)
                         : PEM_write_bio_X509(bio, cert)) == 1
         && BIO_flush(bio) == 1 && fsync(fd) == 0;
    if (!ok)
        ca_seterr(err, errlen, "cannot write %s: %s", path,
                  errno != 0 ? strerror(errno) : ca_ossl_reason());
    BIO_free(bio);
    if (close(fd) == -1 && ok) {
        ca_seterr(err, errlen, "cannot write %s: %s", path, strerror(errno));
        ok = 0;
    }
    return ok ? 0 : -1;
}

/* Renames dir/name to dir/name.bak-STAMP (a suffix -N when that exists);
 * the file keeps its mode. */
static int ca_backup(const char *dir, const char *name, const char *stamp,
                     char *err, size_t errlen)
{
    char from[4096], to[4200];
    const char *why = "no free backup name";
    int i;

    if (ca_path(from, sizeof(from), dir, name, err, errlen) == -1)
        return -1;
    for (i = 0; i < 100; i++) {
        int r, n;

        if (i == 0)
            n = snprintf(to, sizeof(to), "%s.bak-%s", from, stamp);
        else
            n = snprintf(to, sizeof(to), "%s.bak-%s-%d", from, stamp, i);
        if (n < 0 || (size_t)n >= sizeof(to))
            break;
        if ((r = ca_file_exists(to, err, errlen)) == -1)
            return -1;
        if (r == 0) {
            if (rename(from, to) == 0) {
                log_info("kept the old %s as %s", from, to);
                return 0;
            }
            why = strerror(errno);
            break;
        }
    }
    ca_seterr(err, errlen, "cannot back up %s: %s", from, why);
    return -1;
}

/* Generates the key and certificate, writes both under temporary names,
 * then renames them into place, the key first; if the certificate's rename
 * fails the key goes too. Only a crash between the two renames can leave
 * ca.key alone, and ca_open() then says so instead of using it. */
static int ca_generate(const char *dir, char *const *hosts, size_t n,
                       char *err, size_t errlen)
{
    char crt[4096], key[4096], tcrt[4096], tkey[4096], when[40];
    time_t nb = time(NULL) - CA_BACKDATE_SEC;
    time_t na = nb + (time_t)CA_VALID_DAYS * CA_DAY_SEC;
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    int rc = -1, fd;

    if (ca_path(crt, sizeof(crt), dir, "ca.crt", err, errlen) == -1
        || ca_path(key, sizeof(key), dir, "ca.key", err, errlen) == -1
        || ca_path(tcrt, sizeof(tcrt), dir, ".ca.crt.tmp", err, errlen) == -1
        || ca_path(tkey, sizeof(tkey), dir, ".ca.key.tmp", err, errlen) == -1)
        return -1;
    pkey = EVP_EC_gen("P-256");
    if (pkey != NULL)
        x = ca_cert_build(pkey, hosts, n, nb, na);
    if (x == NULL) {
        ca_seterr(err, errlen, "cannot make the CA: %s", ca_ossl_reason());
        goto done;
    }
    if (ca_write_pem(tkey, 0600, NULL, pkey, err, errlen) == -1
        || ca_write_pem(tcrt, 0644, x, NULL, err, errlen) == -1)
        goto done;
    if (rename(tkey, key) == -1) {
        ca_seterr(err, errlen, "cannot rename %s: %s", tkey, strerror(errno));
        goto done;
    }
    if (rename(tcrt, crt) == -1) {
        ca_seterr(err, errlen, "cannot rename %s: %s", tcrt, strerror(errno));
        unlink(key);
        goto done;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd != -1) {
        fsync(fd); /* best effort: the renames reach the disk */
        close(fd);
    }
    ca_fmt_time(na, when, sizeof(when));
    log_info("created a CA in %s valid until %s; install %s where dockerd "
             "runs (scripts/setup-docker.sh)", dir, when, crt);
    rc = 0;
done:
    if (rc == -1) {
        unlink(tkey);
        unlink(tcrt);
    }
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

/* Accepts dir and the intercept hosts (read, not kept; at least one, each
 * a valid name). Returns 0, or -1 with a message in err. */
int ca_create(const char *dir, char *const *hosts, size_t nhosts, int force,
              char *err, size_t errlen)
{
    char crt[4096], key[4096], stamp[32];
    int have_crt, have_key;
    struct stat st;
    struct tm tm;
    time_t now = time(NULL);
    size_t i;

    /* No permitted DNS subtree would leave DNS names unconstrained. */
    if (nhosts == 0) {
        ca_seterr(err, errlen, "no intercept hosts: list them in [intercept]"
                  " before making a CA");
        return -1;
    }
    for (i = 0; i < nhosts; i++) {
        if (!ca_name_valid(hosts[i])) {
            ca_seterr(err, errlen, "intercept host \"%.64s\" is not a valid "
                      "DNS name; fix [intercept] in the config", hosts[i]);
            return -1;
        }
    }
    if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
        ca_seterr(err, errlen, "cannot create CA directory %s: %s (create it, or point "
                  "[ca] dir somewhere writable)", dir, strerror(errno));
        return -1;
    }
    if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
        ca_seterr(err, errlen, "CA directory %s is not a directory", dir);
        return -1;
    }
    if (ca_path(crt, sizeof(crt), dir, "ca.crt", err, errlen) == -1
        || ca_path(key, sizeof(key), dir, "ca.key", err, errlen) == -1
        || (have_crt = ca_file_exists(crt, err, errlen)) == -1
        || (have_key = ca_file_exists(key, err, errlen)) == -1)
        return -1;
    if (!force && have_crt && have_key)
        return 0;
    if (!force && (have_crt || have_key)) {
        ca_seterr(err, errlen, "%s exists but %s does not; restore the "
                  "missing file, or run: hubgate ca-new --force -c FILE (it "
                  "keeps %s as a backup)", have_crt ? crt : key,
                  have_crt ? key : crt, have_crt ? "ca.crt" : "ca.key");
        return -1;
    }
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
    if ((have_crt && ca_backup(dir, "ca.crt", stamp, err, errlen) == -1)
        || (have_key && ca_backup(dir, "ca.key", stamp, err, errlen) == -1))
        return -1;
    return ca_generate(dir, hosts, nhosts, err, errlen);
}
