/* leaf.c — mints one leaf certificate for a validated host name: CN and a
 * single DNS subjectAltName for that host, serverAuth only, a random
 * serial, signed by the CA and carrying the shared in-memory leaf key.
 * Also the helpers ca_create.c shares (serial, constant extensions). */
#include "ca/ca_int.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/* Accepts any C string. Returns 1 when name is 1..253 bytes of
 * [A-Za-z0-9.-] in labels of 1..63 bytes that neither start nor end with
 * '-', else 0. Everything that reaches X509 passes here first, so no '/',
 * ',', '*', space or NUL can turn into another name (haproxy
 * ssl_sock_sni_is_valid, "to prevent SAN certificate injection"). */
int ca_name_valid(const char *name)
{
    size_t i, len, label = 0;

    if (name == NULL)
        return 0;
    len = strnlen(name, 254);
    if (len == 0 || len > 253)
        return 0;
    for (i = 0; i < len; i++) {
        char c = name[i];

        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (c == '-') {
            if (label == 0)
                return 0;
        } else if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')
                   && !(c >= '0' && c <= '9')) {
            return 0;
        }
        if (++label > 63)
            return 0;
    }
    return label > 0 && name[len - 1] != '-';
}

/* Accepts a certificate under construction; returns 0, or -1. */
int ca_serial_rand(X509 *x)
{
    unsigned char buf[16];
    BIGNUM *bn = NULL;
    int rc = -1;

    /* Random, so that no two leaves share a serial (sslsplit: "some SSL
     * stacks check for duplicate certificate serials"); top bit clear so
     * the INTEGER is positive, never zero. */
    if (RAND_bytes(buf, sizeof(buf)) != 1)
        return -1;
    buf[0] &= 0x7f;
    bn = BN_bin2bn(buf, sizeof(buf), NULL);
    if (bn == NULL || (BN_is_zero(bn) && BN_set_word(bn, 1) != 1))
        goto done;
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
        rc = 0;
done:
    BN_free(bn);
    return rc;
}

/* Accepts x, its issuer (x itself for a self-signed CA) and a constant
 * value in OpenSSL's config syntax, never text derived from a host name.
 * Returns 0, or -1. */
int ca_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    int ok;

    memset(&v3, 0, sizeof(v3));
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return -1;
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/* subjectAltName with exactly one dNSName, built as a GENERAL_NAME from
 * the validated bytes; critical when the subject is empty (RFC 5280
 * 4.2.1.6). */
static int ca_leaf_san(X509 *x, const char *host, size_t len, int critical)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    int rc = -1;

    if (gens == NULL || gn == NULL || ia5 == NULL
        || ASN1_STRING_set(ia5, host, (int)len) != 1)
        goto done;
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    ia5 = NULL;
    if (sk_GENERAL_NAME_push(gens, gn) <= 0)
        goto done;
    gn = NULL;
    if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical,
                          X509V3_ADD_DEFAULT) == 1)
        rc = 0;
done:
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(gens);
    return rc;
}

/* Accepts ca (borrowed), a host name (checked with ca_name_valid(), not
 * against the intercept list) and the time to mint for. Returns a new X509
 * the caller frees, or NULL. */
X509 *ca_leaf_mint(const struct ca *ca, const char *host, time_t now)
{
    time_t nb = now - CA_BACKDATE_SEC;
    X509_NAME *name;
    X509 *x;
    size_t len;
    int with_cn;

    if (ca == NULL || !ca_name_valid(host))
        return NULL;
    len = strlen(host);
    /* commonName holds 64 characters at most; a longer name lives in the
     * SAN alone (clients match on the SAN anyway). */
    with_cn = len <= 64;
    x = X509_new();
    if (x == NULL)
        return NULL;
    name = X509_get_subject_name(x);
    if ((with_cn && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                               (const unsigned char *)host,
                                               (int)len, -1, 0) != 1)
        || X509_set_version(x, X509_VERSION_3) != 1 || ca_serial_rand(x) == -1
        || X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1
        || ASN1_TIME_set(X509_getm_notBefore(x), nb) == NULL
        || ASN1_TIME_set(X509_getm_notAfter(x),
                         nb + (time_t)CA_LEAF_DAYS * CA_DAY_SEC) == NULL
        || X509_set_pubkey(x, ca->leaf_key) != 1
        || ca_add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") == -1
        || ca_add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature") == -1
        || ca_add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth") == -1
        || ca_add_ext(x, ca->cert, NID_subject_key_identifier, "hash") == -1
        || ca_add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always") == -1
        || ca_leaf_san(x, host, len, !with_cn) == -1
        || X509_sign(x, ca->key, EVP_sha256()) <= 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}
