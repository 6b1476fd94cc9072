/* test_leaf.c — unit tests for ca/leaf.c and ca/leaves.c: name checks,
 * the leaf each host gets, re-minting, name constraints as OpenSSL's
 * verifier applies them, a real TLS handshake over a BIO pair, one leaf
 * per host when several threads ask at once, the caller's reference, and
 * a reload keeping an unchanged CA (ca_reuse). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

#include "tests/unit/ca_test_util.h"

struct setup_count {
    int calls;
    SSL_CTX *last;
};

static void count_setup(SSL_CTX *ctx, void *arg)
{
    struct setup_count *c = arg;

    c->calls++;
    c->last = ctx;
}

static struct ca *open_ca(const char *name, char *const *hosts, size_t n,
                          struct setup_count *count)
{
    char dir[512], err[512] = "";
    struct ca *ca;

    tdir(dir, sizeof(dir), name);
    ca = ca_open(dir, hosts, n, count != NULL ? count_setup : NULL, count,
                 err, sizeof(err));
    if (ca == NULL)
        fail_msg("ca_open: %s", err);
    return ca;
}

/* ca_leaf_ctx() with its reference dropped at once: the pointer stays
 * valid while the table holds the context, that is until the next mint
 * for the host or ca_free(), which in a single-threaded test is enough for
 * comparing pointers and reading the certificate. */
static SSL_CTX *leaf_ctx(struct ca *ca, const char *host, time_t now)
{
    SSL_CTX *ctx = ca_leaf_ctx(ca, host, now, NULL);

    SSL_CTX_free(ctx);
    return ctx;
}

/* X509_V_OK, or the error X509_verify_cert() stopped at: leaf checked
 * against the CA alone, strictly, as a TLS server for host, at time t. */
static int verify_at(X509 *cacert, X509 *leaf, const char *host, time_t t)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    int rc;

    assert_non_null(st);
    assert_non_null(sc);
    assert_int_equal(X509_STORE_add_cert(st, cacert), 1);
    assert_int_equal(X509_STORE_CTX_init(sc, st, leaf, NULL), 1);
    X509_STORE_CTX_set_flags(sc, X509_V_FLAG_X509_STRICT);
    X509_STORE_CTX_set_purpose(sc, X509_PURPOSE_SSL_SERVER);
    X509_STORE_CTX_set_time(sc, 0, t);
    if (host != NULL)
        assert_int_equal(X509_VERIFY_PARAM_set1_host(
                             X509_STORE_CTX_get0_param(sc), host, 0), 1);
    rc = X509_verify_cert(sc) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(sc);
    if (rc == X509_V_OK)
        assert_int_equal(X509_STORE_CTX_get_error(sc), X509_V_OK);
    X509_STORE_CTX_free(sc);
    X509_STORE_free(st);
    ERR_clear_error();
    return rc;
}

static time_t cert_time(const ASN1_TIME *t)
{
    time_t v = 0;

    assert_int_equal(ca_asn1_time(t, &v), 0);
    return v;
}

static void test_name_valid(void **state)
{
    static const char *const good[] = {
        "registry-1.docker.io", "x", "A.B", "a-b.c0", "1.2.3.4",
        "xn--bcher-kva.example",
    };
    static const char *const bad[] = {
        "", ".", "a..b", ".a.b", "a.b.", "-a.b", "a-.b", "a.-b", "a/b",
        "a b", "*.docker.io", "a_b.io", "a:443", "a,b", "\xc3\xa9.io",
        "a\tb", "a\nb", "[::1]", "a@b",
    };
    char name[300];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(ca_name_valid(good[i]));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ca_name_valid(bad[i]))
            fail_msg("ca_name_valid accepted \"%s\"", bad[i]);
    assert_false(ca_name_valid(NULL));
    /* 253 bytes pass, 254 do not (labels of 63 + dots) */
    memset(name, 'a', sizeof(name));
    name[63] = name[127] = name[191] = '.';
    name[253] = '\0';
    assert_true(ca_name_valid(name));
    name[253] = 'a';
    name[254] = '\0';
    assert_false(ca_name_valid(name));
    /* a 64-byte label does not */
    memset(name, 'a', 64);
    strcpy(name + 64, ".io");
    assert_false(ca_name_valid(name));
    strcpy(name + 63, ".io");
    assert_true(ca_name_valid(name));
}

static void test_leaf_cert(void **state)
{
    struct setup_count count = {0, NULL};
    const char *host = HOSTS[0];
    time_t now = time(NULL), nb, na;
    GENERAL_NAMES *gens;
    const GENERAL_NAME *gn;
    struct ca *ca;
    SSL_CTX *ctx;
    X509 *leaf;
    char cn[256], group[64];

    (void)state;
    ca = open_ca("leaf", HOSTS, NHOSTS, &count);
    ctx = leaf_ctx(ca, host, now);
    assert_non_null(ctx);
    assert_int_equal(count.calls, 1);
    assert_ptr_equal(count.last, ctx);
    leaf = SSL_CTX_get0_certificate(ctx);
    assert_non_null(leaf);

    assert_int_equal(verify_at(ca_cert(ca), leaf, host, now), X509_V_OK);
    assert_int_equal(verify_at(ca_cert(ca), leaf, "hub.docker.com", now),
                     X509_V_ERR_HOSTNAME_MISMATCH);
    assert_int_equal(X509_check_host(leaf, host, 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(leaf, "hub.docker.com", 0, 0, NULL), 0);
    assert_int_equal(X509_check_host(leaf, "x.registry-1.docker.io", 0, 0, NULL), 0);
    assert_int_equal(X509_check_host(leaf, "docker.io", 0, 0, NULL), 0);

    gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
    gn = sk_GENERAL_NAME_value(gens, 0);
    assert_int_equal(gn->type, GEN_DNS);
    assert_int_equal(ASN1_STRING_length(gn->d.dNSName), strlen(host));
    assert_memory_equal(ASN1_STRING_get0_data(gn->d.dNSName), host, strlen(host));
    GENERAL_NAMES_free(gens);
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf),
                                          NID_commonName, cn, sizeof(cn)) > 0);
    assert_string_equal(cn, host);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf),
                                   X509_get_subject_name(ca_cert(ca))), 0);

    assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);
    assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_non_null(X509_get0_authority_key_id(leaf));
    assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
                                           X509_get0_subject_key_id(ca_cert(ca))), 0);
    assert_int_equal(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA256);
    assert_int_equal(EVP_PKEY_get_group_name(X509_get0_pubkey(leaf), group,
                                             sizeof(group), NULL), 1);
    assert_string_equal(group, "prime256v1");
    assert_int_not_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf),
                                     X509_get0_pubkey(ca_cert(ca))), 1);
    nb = cert_time(X509_get0_notBefore(leaf));
    na = cert_time(X509_get0_notAfter(leaf));
    assert_int_equal(nb, now - 3600);
    assert_true(na - nb <= 7L * 86400);           /* exactly 7 days */
    assert_int_equal(na - nb, 7L * 86400);

    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    assert_int_equal(SSL_CTX_get_mode(ctx) & (SSL_MODE_RELEASE_BUFFERS
                                              | SSL_MODE_ENABLE_PARTIAL_WRITE
                                              | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER),
                     SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE
                         | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    /* the same context again, without another setup call */
    assert_ptr_equal(leaf_ctx(ca, host, now + 60), ctx);
    assert_ptr_equal(leaf_ctx(ca, "REGISTRY-1.Docker.IO", now + 60), ctx);
    assert_int_equal(count.calls, 1);
    ca_free(ca);
}

static void test_leaf_hosts(void **state)
{
    static const char *const refused[] = {
        "hub.docker.com", "evil.example.com", "x.auth.docker.io", "docker.io",
        "auth.docker.io.", "auth.docker.io/x", "auth.docker.io x",
        "*.docker.io", "", "evil.com\0auth.docker.io",
    };
    time_t now = time(NULL);
    struct ca *ca;
    SSL_CTX *a, *b;
    X509 *xa, *xb;
    char name[300];
    size_t i;

    (void)state;
    ca = open_ca("leaves", HOSTS, NHOSTS, NULL);
    a = leaf_ctx(ca, HOSTS[0], now);
    b = leaf_ctx(ca, HOSTS[1], now);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    xa = SSL_CTX_get0_certificate(a);
    xb = SSL_CTX_get0_certificate(b);
    assert_int_not_equal(X509_cmp(xa, xb), 0);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(xa),
                                          X509_get0_serialNumber(xb)), 0);
    assert_int_equal(X509_check_host(xb, HOSTS[1], 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(xb, HOSTS[0], 0, 0, NULL), 0);
    /* one leaf key, shared */
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(xa), X509_get0_pubkey(xb)), 1);

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (leaf_ctx(ca, refused[i], now) != NULL)
            fail_msg("minted for \"%s\"", refused[i]);
    assert_null(leaf_ctx(ca, NULL, now));
    assert_null(leaf_ctx(NULL, HOSTS[0], now));
    memset(name, 'a', sizeof(name));
    name[63] = name[127] = name[191] = '.';
    name[254] = '\0';
    assert_false(ca_name_valid(name));
    assert_null(leaf_ctx(ca, name, now));
    ca_free(ca);
}

/* A leaf minted by hand for a name the intercept list does not hold: the
 * CA's own nameConstraints make OpenSSL refuse it. */
static void test_leaf_name_constraints(void **state)
{
    time_t now = time(NULL);
    struct ca *ca;
    X509 *x;
    int pos;

    (void)state;
    ca = open_ca("nc", HOSTS, NHOSTS, NULL);
    x = ca_leaf_mint(ca, "auth.docker.io", now);
    assert_non_null(x);
    assert_int_equal(verify_at(ca_cert(ca), x, "auth.docker.io", now), X509_V_OK);
    X509_free(x);

    x = ca_leaf_mint(ca, "evil.example.com", now);
    assert_non_null(x);
    assert_int_equal(verify_at(ca_cert(ca), x, NULL, now),
                     X509_V_ERR_PERMITTED_VIOLATION);
    X509_free(x);
    x = ca_leaf_mint(ca, "notauth.docker.io", now);
    assert_non_null(x);
    assert_int_equal(verify_at(ca_cert(ca), x, NULL, now),
                     X509_V_ERR_PERMITTED_VIOLATION);
    X509_free(x);

    /* an IP address SAN, as a stolen key would sign it: excluded */
    x = ca_leaf_mint(ca, "auth.docker.io", now);
    assert_non_null(x);
    pos = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
    assert_true(pos >= 0);
    X509_EXTENSION_free(X509_delete_ext(x, pos));
    assert_int_equal(ca_add_ext(x, ca_cert(ca), NID_subject_alt_name,
                                "IP:127.0.0.1"), 0);
    assert_true(X509_sign(x, ca->key, EVP_sha256()) > 0);
    assert_int_equal(verify_at(ca_cert(ca), x, NULL, now),
                     X509_V_ERR_EXCLUDED_VIOLATION);
    X509_free(x);

    assert_null(ca_leaf_mint(ca, "bad name", now));
    assert_null(ca_leaf_mint(ca, "a/b", now));
    ca_free(ca);
}

/* A name longer than commonName allows: SAN only, and critical. */
static void test_leaf_long_name(void **state)
{
    char host[96], cn[256];
    char *const hosts[] = {host};
    time_t now = time(NULL);
    struct ca *ca;
    SSL_CTX *ctx;
    X509 *leaf;
    int crit = -1;
    GENERAL_NAMES *gens;

    (void)state;
    memset(host, 'l', 70);
    host[40] = '.';
    strcpy(host + 70, ".docker.io");
    ca = open_ca("long", hosts, 1, NULL);
    ctx = leaf_ctx(ca, host, now);
    assert_non_null(ctx);
    leaf = SSL_CTX_get0_certificate(ctx);
    assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(leaf)), 0);
    assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf),
                                               NID_commonName, cn, sizeof(cn)), -1);
    gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
    assert_non_null(gens);
    assert_int_equal(crit, 1);
    GENERAL_NAMES_free(gens);
    assert_int_equal(verify_at(ca_cert(ca), leaf, host, now), X509_V_OK);
    ca_free(ca);
}

static void test_leaf_remint(void **state)
{
    struct setup_count count = {0, NULL};
    time_t t0 = time(NULL), t1 = t0 + 7L * 86400 - 3600, na;
    ASN1_INTEGER *serial;
    struct ca *ca;
    SSL_CTX *c0, *c1;
    SSL *old;
    X509 *x1;

    (void)state;
    ca = open_ca("remint", HOSTS, NHOSTS, &count);
    c0 = leaf_ctx(ca, HOSTS[2], t0);
    assert_non_null(c0);
    serial = ASN1_INTEGER_dup(X509_get0_serialNumber(SSL_CTX_get0_certificate(c0)));
    /* a connection made from the first context outlives it */
    old = SSL_new(c0);
    assert_non_null(old);
    /* five days on: same leaf; a day before notAfter: a new one */
    assert_ptr_equal(leaf_ctx(ca, HOSTS[2], t0 + 5L * 86400), c0);
    assert_int_equal(count.calls, 1);
    c1 = leaf_ctx(ca, HOSTS[2], t1);
    assert_non_null(c1);
    assert_int_equal(count.calls, 2);
    assert_ptr_equal(count.last, c1);
    x1 = SSL_CTX_get0_certificate(c1);
    assert_int_not_equal(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(x1)), 0);
    assert_int_equal(cert_time(X509_get0_notBefore(x1)), t1 - 3600);
    assert_int_equal(verify_at(ca_cert(ca), x1, HOSTS[2], t1), X509_V_OK);
    assert_non_null(SSL_get_certificate(old));
    assert_int_equal(ASN1_INTEGER_cmp(serial,
                                      X509_get0_serialNumber(SSL_get_certificate(old))), 0);
    SSL_free(old);
    /* a clock set back before the new leaf's notBefore: minted again */
    assert_non_null(leaf_ctx(ca, HOSTS[2], t0));
    assert_int_equal(count.calls, 3);

    /* the boundary: kept until one day before notAfter, then re-minted */
    c0 = leaf_ctx(ca, HOSTS[1], t0);
    assert_int_equal(count.calls, 4);
    na = cert_time(X509_get0_notAfter(SSL_CTX_get0_certificate(c0)));
    assert_ptr_equal(leaf_ctx(ca, HOSTS[1], na - 86400 - 1), c0);
    assert_int_equal(count.calls, 4);
    c1 = leaf_ctx(ca, HOSTS[1], na - 86400);
    assert_non_null(c1);
    assert_int_equal(count.calls, 5);
    assert_true(cert_time(X509_get0_notAfter(SSL_CTX_get0_certificate(c1))) > na);
    ASN1_INTEGER_free(serial);
    ca_free(ca);
}

/* Handshake between a server SSL from sctx and a client that trusts only
 * cafile and expects name; both over one BIO pair, driven in turn.
 * Returns 0 when it completes and "ping" crosses; *vr gets the client's
 * verify result. */
static int handshake(SSL_CTX *sctx, const char *cafile, const char *name,
                     long *vr)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *c, *s;
    BIO *cb = NULL, *sb = NULL;
    int i, rc = -1, cdone = 0, sdone = 0, failed = 0;
    char buf[8] = "";

    assert_non_null(cctx);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    assert_int_equal(SSL_CTX_load_verify_file(cctx, cafile), 1);
    c = SSL_new(cctx);
    s = SSL_new(sctx);
    assert_non_null(c);
    assert_non_null(s);
    assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    assert_int_equal(SSL_set_tlsext_host_name(c, name), 1);
    assert_int_equal(SSL_set1_host(c, name), 1);
    for (i = 0; i < 50 && !failed && !(cdone && sdone); i++) {
        SSL *side[2] = {c, s};
        int *done[2] = {&cdone, &sdone}, j;

        for (j = 0; j < 2; j++) {
            int r, e;

            if (*done[j])
                continue;
            r = SSL_do_handshake(side[j]);
            if (r == 1) {
                *done[j] = 1;
                continue;
            }
            e = SSL_get_error(side[j], r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                failed = 1;
        }
    }
    *vr = SSL_get_verify_result(c);
    if (cdone && sdone && SSL_write(c, "ping", 4) == 4
        && SSL_read(s, buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0
        && SSL_version(s) >= TLS1_2_VERSION)
        rc = 0;
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    ERR_clear_error();
    return rc;
}

static void test_tls_handshake(void **state)
{
    char dir[512], cafile[600];
    time_t now = time(NULL);
    struct ca *ca;
    SSL_CTX *ctx;
    long vr = -1;

    (void)state;
    ca = open_ca("tls", HOSTS, NHOSTS, NULL);
    tdir(dir, sizeof(dir), "tls");
    snprintf(cafile, sizeof(cafile), "%s/ca.crt", dir);
    ctx = leaf_ctx(ca, "auth.docker.io", now);
    assert_non_null(ctx);
    assert_int_equal(handshake(ctx, cafile, "auth.docker.io", &vr), 0);
    assert_int_equal(vr, X509_V_OK);
    vr = -1;
    assert_int_equal(handshake(ctx, cafile, "registry-1.docker.io", &vr), -1);
    assert_int_equal(vr, X509_V_ERR_HOSTNAME_MISMATCH);
    ca_free(ca);
}

/* Several loops ask the CA shared by all of them for the same host at
 * the same instant: one thread mints, the others wait and get its leaf. */
#define MINTERS 4
#define MINT_ROUNDS 100

struct minter {
    struct ca *ca;
    pthread_barrier_t *go;
    size_t index;
    time_t now;
    SSL_CTX *first;     /* the first answer for HOSTS[0], a reference */
    int first_minted;
    int minted;         /* further calls that said they minted */
    int failed;
};

/* Thread body: no cmocka asserts here (not thread-safe); the results go
 * back in struct minter. */
static void *minter_run(void *arg)
{
    struct minter *m = arg;
    int k, made;
    size_t i;

    pthread_barrier_wait(m->go);
    m->first = ca_leaf_ctx(m->ca, HOSTS[0], m->now, &m->first_minted);
    for (k = 0; k < MINT_ROUNDS; k++) {
        for (i = 0; i < NHOSTS; i++) {
            SSL_CTX *c = ca_leaf_ctx(m->ca, HOSTS[(i + m->index) % NHOSTS], m->now, &made);
            SSL *ssl = c != NULL ? SSL_new(c) : NULL;

            /* the caller's reference goes once the SSL holds its own */
            SSL_CTX_free(c);
            m->failed += ssl == NULL;
            m->minted += made;
            SSL_free(ssl);
        }
    }
    return NULL;
}

/* MINTERS threads at now; returns how many calls said they minted, and
 * checks that they all got one and the same valid leaf for HOSTS[0]. */
static int mint_together(struct ca *ca, time_t now)
{
    struct minter m[MINTERS];
    pthread_t t[MINTERS];
    pthread_barrier_t go;
    int made = 0, first = 0;
    size_t i;

    assert_int_equal(pthread_barrier_init(&go, NULL, MINTERS), 0);
    for (i = 0; i < MINTERS; i++) {
        memset(&m[i], 0, sizeof(m[i]));
        m[i].ca = ca;
        m[i].go = &go;
        m[i].index = i;
        m[i].now = now;
        assert_int_equal(pthread_create(&t[i], NULL, minter_run, &m[i]), 0);
    }
    for (i = 0; i < MINTERS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&go);
    for (i = 0; i < MINTERS; i++) {
        assert_non_null(m[i].first);
        assert_ptr_equal(m[i].first, m[0].first);
        assert_int_equal(m[i].failed, 0);
        first += m[i].first_minted;
        made += m[i].first_minted + m[i].minted;
    }
    assert_int_equal(first, 1);
    assert_int_equal(verify_at(ca_cert(ca), SSL_CTX_get0_certificate(m[0].first),
                               HOSTS[0], now), X509_V_OK);
    for (i = 0; i < MINTERS; i++)
        SSL_CTX_free(m[i].first);
    return made;
}

static void test_leaf_threads(void **state)
{
    struct setup_count count = {0, NULL};
    time_t t0 = time(NULL), t1 = t0 + 7L * 86400 - 3600;
    struct ca *ca;

    (void)state;
    ca = open_ca("threads", HOSTS, NHOSTS, &count);
    /* first use: one leaf per host for all threads */
    assert_int_equal(mint_together(ca, t0), NHOSTS);
    assert_int_equal(ca_minted(ca), NHOSTS);
    assert_int_equal(count.calls, NHOSTS);
    /* a day before notAfter, all at once again: one re-mint per host */
    assert_int_equal(mint_together(ca, t1), NHOSTS);
    assert_int_equal(ca_minted(ca), 2 * NHOSTS);
    ca_free(ca);
}

/* The caller's reference outlives a re-mint and the CA itself, and
 * *minted says which call minted. */
static void test_leaf_ref(void **state)
{
    time_t t0 = time(NULL), t1 = t0 + 7L * 86400 - 3600;
    ASN1_INTEGER *serial;
    SSL_CTX *c0, *c1, *again;
    struct ca *ca;
    int made = -1;
    SSL *ssl;

    (void)state;
    ca = open_ca("ref", HOSTS, NHOSTS, NULL);
    c0 = ca_leaf_ctx(ca, HOSTS[1], t0, &made);
    assert_non_null(c0);
    assert_int_equal(made, 1);
    again = ca_leaf_ctx(ca, HOSTS[1], t0 + 60, &made);
    assert_ptr_equal(again, c0);
    assert_int_equal(made, 0);
    SSL_CTX_free(again);
    assert_null(ca_leaf_ctx(ca, "evil.example.com", t0, &made));
    assert_int_equal(made, 0);
    serial = ASN1_INTEGER_dup(X509_get0_serialNumber(SSL_CTX_get0_certificate(c0)));
    /* the table moves on to a new leaf; ours stays whole */
    c1 = ca_leaf_ctx(ca, HOSTS[1], t1, &made);
    assert_int_equal(made, 1);
    assert_ptr_not_equal(c1, c0);
    ca_free(ca);
    ssl = SSL_new(c0);
    assert_non_null(ssl);
    assert_int_equal(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(SSL_get_certificate(ssl))),
                     0);
    SSL_free(ssl);
    SSL_CTX_free(c0);
    SSL_CTX_free(c1);
    ASN1_INTEGER_free(serial);
}

/* A reload that opens the same CA again keeps the running one, and its
 * leaves; anything else about the CA gives the fresh one. */
static void test_ca_reuse(void **state)
{
    char dir[512], err[512] = "";
    time_t now = time(NULL);
    struct ca *a, *b, *r;
    SSL_CTX *x;

    (void)state;
    tdir(dir, sizeof(dir), "reuse-leaves");
    a = open_ca("reuse-leaves", HOSTS, NHOSTS, NULL);
    x = leaf_ctx(a, HOSTS[0], now);
    assert_non_null(x);
    b = ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err));
    assert_non_null(b);
    r = ca_reuse(a, b);
    assert_ptr_equal(r, a);
    assert_ptr_equal(leaf_ctx(r, HOSTS[0], now + 60), x);
    assert_int_equal(ca_minted(r), 1);
    ca_free(r);             /* the generation's reference; a is still ours */
    assert_ptr_equal(leaf_ctx(a, HOSTS[0], now + 60), x);

    /* another intercept list: another table */
    b = ca_open(dir, HOSTS, 2, NULL, NULL, err, sizeof(err));
    assert_non_null(b);
    r = ca_reuse(a, b);
    assert_ptr_equal(r, b);
    ca_free(r);
    /* another setup callback */
    b = ca_open(dir, HOSTS, NHOSTS, count_setup, &(struct setup_count){0, NULL}, err,
                sizeof(err));
    assert_non_null(b);
    r = ca_reuse(a, b);
    assert_ptr_equal(r, b);
    ca_free(r);
    /* the files replaced (ca-new --force): the new CA */
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 1, err, sizeof(err)), 0);
    b = ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err));
    assert_non_null(b);
    assert_int_not_equal(X509_cmp(ca_cert(a), ca_cert(b)), 0);
    r = ca_reuse(a, b);
    assert_ptr_equal(r, b);
    ca_free(r);
    /* nothing to keep at start */
    b = ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err));
    assert_ptr_equal(ca_reuse(NULL, b), b);
    ca_free(b);
    ca_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_leaf_cert),
        cmocka_unit_test(test_leaf_hosts),
        cmocka_unit_test(test_leaf_name_constraints),
        cmocka_unit_test(test_leaf_long_name),
        cmocka_unit_test(test_leaf_remint),
        cmocka_unit_test(test_tls_handshake),
        cmocka_unit_test(test_leaf_threads),
        cmocka_unit_test(test_leaf_ref),
        cmocka_unit_test(test_ca_reuse),
    };

    return cmocka_run_group_tests_name("leaf", tests, troot_setup, troot_teardown);
}
