/* test_ca.c — unit tests for ca/: creating, re-opening and refusing CAs,
 * and the certificate each CA carries. Leaves and TLS are in test_leaf.c.
 * Every test works in its own directory under one mkdtemp() root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"
#include "base/log.h"

#include "tests/unit/ca_test_util.h"

static void test_create_files(void **state)
{
    char dir[512], crt[600], key[600], tmp[600], err[512] = "";
    X509 *x;

    (void)state;
    tdir(dir, sizeof(dir), "create");
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 0, err, sizeof(err)), 0);
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    assert_int_equal(file_mode(dir), 0700);
    assert_int_equal(file_mode(key), 0600);
    assert_int_equal(file_mode(crt), 0644);
    snprintf(tmp, sizeof(tmp), "%s/.ca.key.tmp", dir);
    assert_int_equal(access(tmp, F_OK), -1);
    snprintf(tmp, sizeof(tmp), "%s/.ca.crt.tmp", dir);
    assert_int_equal(access(tmp, F_OK), -1);
    x = read_cert(crt);
    assert_non_null(x);
    X509_free(x);
}

/* Leftovers of a crashed ca-new, even a planted link, are neither written
 * through nor in the way. */
static void test_create_stale_tmp(void **state)
{
    char dir[512], tmp[600], victim[600], err[512] = "";

    (void)state;
    tdir(dir, sizeof(dir), "stale");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(tmp, sizeof(tmp), "%s/.ca.key.tmp", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    assert_int_equal(symlink(victim, tmp), 0);
    snprintf(tmp, sizeof(tmp), "%s/.ca.crt.tmp", dir);
    write_text(tmp, "half a certificate");
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 0, err, sizeof(err)), 0);
    assert_int_equal(access(victim, F_OK), -1);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(count_prefix(dir, "ca.", NULL, 0), 2);
}

static void test_ca_extensions(void **state)
{
    char dir[512], crt[600], err[512] = "", cn[128];
    BASIC_CONSTRAINTS *bc;
    ASN1_BIT_STRING *ku;
    NAME_CONSTRAINTS *nc;
    const ASN1_INTEGER *serial;
    char group[64];
    time_t nb, na, now = time(NULL);
    X509 *x;
    int crit, i;

    (void)state;
    tdir(dir, sizeof(dir), "ext");
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 0, err, sizeof(err)), 0);
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
    x = read_cert(crt);
    assert_non_null(x);

    bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_true(bc->ca);
    assert_non_null(bc->pathlen);
    assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
    BASIC_CONSTRAINTS_free(bc);

    ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
    assert_non_null(ku);
    assert_int_equal(crit, 1);
    ASN1_BIT_STRING_free(ku);
    assert_int_equal(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_non_null(X509_get0_subject_key_id(x));
    assert_int_equal(X509_check_ca(x), 1);

    nc = X509_get_ext_d2i(x, NID_name_constraints, &crit, NULL);
    assert_non_null(nc);
    assert_int_equal(crit, 1);
    assert_int_equal(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), NHOSTS);
    for (i = 0; i < (int)NHOSTS; i++) {
        GENERAL_NAME *gn = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;

        assert_int_equal(gn->type, GEN_DNS);
        assert_int_equal(ASN1_STRING_length(gn->d.dNSName), strlen(HOSTS[i]));
        assert_memory_equal(ASN1_STRING_get0_data(gn->d.dNSName), HOSTS[i],
                            strlen(HOSTS[i]));
    }
    assert_int_equal(sk_GENERAL_SUBTREE_num(nc->excludedSubtrees), 2);
    for (i = 0; i < 2; i++) {
        GENERAL_NAME *gn = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, i)->base;
        static const unsigned char zero[32];

        assert_int_equal(gn->type, GEN_IPADD);
        /* 0.0.0.0/0 then ::/0: address and mask, all zero */
        assert_int_equal(ASN1_STRING_length(gn->d.iPAddress), i == 0 ? 8 : 32);
        assert_memory_equal(ASN1_STRING_get0_data(gn->d.iPAddress), zero,
                            i == 0 ? 8 : 32);
    }
    NAME_CONSTRAINTS_free(nc);

    assert_int_equal(ca_asn1_time(X509_get0_notBefore(x), &nb), 0);
    assert_int_equal(ca_asn1_time(X509_get0_notAfter(x), &na), 0);
    assert_true(na - nb <= 730L * 86400);           /* <= 2 years */
    assert_true(na - nb > 729L * 86400);
    assert_true(nb <= now - 3600 + 5 && nb >= now - 3600 - 60);

    assert_true(EVP_PKEY_is_a(X509_get0_pubkey(x), "EC"));
    assert_int_equal(EVP_PKEY_get_group_name(X509_get0_pubkey(x), group,
                                             sizeof(group), NULL), 1);
    assert_string_equal(group, "prime256v1");
    assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);

    serial = X509_get0_serialNumber(x);
    assert_int_equal(ASN1_STRING_type(serial), V_ASN1_INTEGER); /* positive */
    assert_true(ASN1_STRING_length(serial) >= 8 && ASN1_STRING_length(serial) <= 16);

    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                          NID_organizationName, cn, sizeof(cn)) > 0);
    assert_string_equal(cn, "hubgate");
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                          NID_commonName, cn, sizeof(cn)) > 0);
    assert_true(strncmp(cn, "hubgate local CA (", 18) == 0);
    assert_int_equal(cn[strlen(cn) - 1], ')');
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x),
                                   X509_get_issuer_name(x)), 0);
    X509_free(x);
}

static void test_open_reuses(void **state)
{
    char dir[512], crt[600], err[512] = "";
    struct ca *a, *b;
    char *before, *after;
    size_t n1, n2;

    (void)state;
    tdir(dir, sizeof(dir), "reuse");
    a = ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err)); /* creates */
    assert_non_null(a);
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
    before = slurp(crt, &n1);
    b = ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err));
    assert_non_null(b);
    assert_int_equal(X509_cmp(ca_cert(a), ca_cert(b)), 0);
    assert_true(ca_not_after(a) > time(NULL) + 700L * 86400);
    assert_int_equal(ca_not_after(a), ca_not_after(b));
    after = slurp(crt, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    /* a subset of the hosts the CA was made for is fine */
    ca_free(b);
    b = ca_open(dir, HOSTS + 1, 1, NULL, NULL, err, sizeof(err));
    assert_non_null(b);
    ca_free(b);
    ca_free(a);
    free(before);
    free(after);
}

static void test_create_force(void **state)
{
    char dir[512], crt[600], err[512] = "";
    char *orig, *same, *fresh, *bak;
    size_t n0, n1, n2, nb;
    char name[1024];

    (void)state;
    tdir(dir, sizeof(dir), "force");
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 0, err, sizeof(err)), 0);
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
    orig = slurp(crt, &n0);
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 0, err, sizeof(err)), 0);
    same = slurp(crt, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(orig, same, n0);
    assert_int_equal(count_prefix(dir, "ca.crt.bak-", NULL, 0), 0);

    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 1, err, sizeof(err)), 0);
    fresh = slurp(crt, &n2);
    assert_true(n2 != n0 || memcmp(orig, fresh, n0) != 0);
    assert_int_equal(count_prefix(dir, "ca.crt.bak-", name, sizeof(name)), 1);
    bak = slurp(name, &nb);          /* the backup is the old certificate */
    assert_int_equal(nb, n0);
    assert_memory_equal(bak, orig, n0);
    assert_int_equal(count_prefix(dir, "ca.key.bak-", name, sizeof(name)), 1);
    assert_int_equal(file_mode(name), 0600);
    assert_int_equal(file_mode(dir), 0700);

    /* twice in the same second: the first backup is not overwritten */
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 1, err, sizeof(err)), 0);
    assert_int_equal(count_prefix(dir, "ca.crt.bak-", NULL, 0), 2);
    assert_int_equal(count_prefix(dir, "ca.key.bak-", NULL, 0), 2);
    free(orig);
    free(same);
    free(fresh);
    free(bak);
}

static void test_refuse_key_mode(void **state)
{
    static const mode_t bad[] = {0644, 0640, 0604, 0620, 0601};
    char dir[512], key[600], err[512], want[64];
    struct ca *ca;
    size_t i;

    (void)state;
    tdir(dir, sizeof(dir), "mode");
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 0, err, sizeof(err)), 0);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(chmod(key, bad[i]), 0);
        err[0] = '\0';
        ca = ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err));
        assert_null(ca);
        assert_non_null(strstr(err, "chmod 600"));
        assert_non_null(strstr(err, key));
        snprintf(want, sizeof(want), "(mode %04o)", (unsigned)bad[i]);
        assert_non_null(strstr(err, want));
    }
    assert_int_equal(chmod(key, 0600), 0);
    ca = ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err));
    assert_non_null(ca);
    ca_free(ca);
}

/* Every name a CA does not permit is named, not only the first (#12). */
static void test_unpermitted_listed(void **state)
{
    char *const more[] = {"ghcr.io", "registry-1.docker.io", "quay.io", "x.auth.docker.io"};
    char dir[512], err[512], names[256];
    struct ca *ca;

    (void)state;
    tdir(dir, sizeof(dir), "unpermitted");
    ca = ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err));
    assert_non_null(ca);
    assert_int_equal(ca_cert_unpermitted(ca_cert(ca), more, 4, names, sizeof(names)), 2);
    assert_string_equal(names, "ghcr.io quay.io");
    assert_int_equal(ca_cert_unpermitted(ca_cert(ca), HOSTS, NHOSTS, names, sizeof(names)), 0);
    assert_string_equal(names, "");
    ca_free(ca);
}

static void test_refuse_hosts(void **state)
{
    char *const more[] = {"registry-1.docker.io", "evil.example.com"};
    char *const suffix[] = {"notauth.docker.io"};
    char *const below[] = {"x.auth.docker.io"};
    char *const bad[] = {"auth.docker.io", "bad/name"};
    char dir[512], err[512];
    struct ca *ca;

    (void)state;
    tdir(dir, sizeof(dir), "hosts");
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 0, err, sizeof(err)), 0);
    err[0] = '\0';
    assert_null(ca_open(dir, more, 2, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "ca-new --force"));
    assert_non_null(strstr(err, "evil.example.com"));
    assert_non_null(strstr(err, "hubgate-setup-docker"));
    /* a name that merely ends with a permitted one is not under it */
    err[0] = '\0';
    assert_null(ca_open(dir, suffix, 1, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "ca-new --force"));
    /* RFC 5280: DNS:auth.docker.io permits names below it */
    ca = ca_open(dir, below, 1, NULL, NULL, err, sizeof(err));
    assert_non_null(ca);
    ca_free(ca);
    err[0] = '\0';
    assert_null(ca_open(dir, bad, 2, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not a valid"));
}

static void test_refuse_partial(void **state)
{
    char dir[512], crt[600], key[600], moved[600], err[512];

    (void)state;
    tdir(dir, sizeof(dir), "partial");
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 0, err, sizeof(err)), 0);
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    snprintf(moved, sizeof(moved), "%s/moved", dir);

    assert_int_equal(rename(crt, moved), 0);      /* key alone */
    err[0] = '\0';
    assert_null(ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "ca.crt does not"));
    assert_non_null(strstr(err, "ca-new --force"));
    assert_int_equal(access(crt, F_OK), -1);      /* nothing was created */
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 0, err, sizeof(err)), -1);
    assert_int_equal(access(crt, F_OK), -1);
    assert_int_equal(rename(moved, crt), 0);

    assert_int_equal(rename(key, moved), 0);      /* certificate alone */
    err[0] = '\0';
    assert_null(ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "ca.key does not"));
    assert_int_equal(access(key, F_OK), -1);

    /* --force replaces the half pair, keeping what there was */
    assert_int_equal(ca_create(dir, HOSTS, NHOSTS, 1, err, sizeof(err)), 0);
    assert_int_equal(count_prefix(dir, "ca.crt.bak-", NULL, 0), 1);
    assert_int_equal(count_prefix(dir, "ca.key.bak-", NULL, 0), 0);
    assert_int_equal(file_mode(key), 0600);
    assert_int_equal(file_mode(crt), 0644);
}

static void test_refuse_mismatch_and_garbage(void **state)
{
    char a[512], b[512], from[600], to[600], err[512];

    (void)state;
    tdir(a, sizeof(a), "pair-a");
    tdir(b, sizeof(b), "pair-b");
    assert_int_equal(ca_create(a, HOSTS, NHOSTS, 0, err, sizeof(err)), 0);
    assert_int_equal(ca_create(b, HOSTS, NHOSTS, 0, err, sizeof(err)), 0);
    snprintf(from, sizeof(from), "%s/ca.crt", b);
    snprintf(to, sizeof(to), "%s/ca.crt", a);
    assert_int_equal(rename(from, to), 0);
    err[0] = '\0';
    assert_null(ca_open(a, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "does not match"));

    write_text(to, "not a certificate\n");
    err[0] = '\0';
    assert_null(ca_open(a, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read"));
}

static void test_expiry(void **state)
{
    char dir[512], crt[600], err[512];
    time_t now = time(NULL);
    struct ca *ca;
    X509 *x;

    (void)state;
    tdir(dir, sizeof(dir), "expiry");
    ca = ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err));
    assert_non_null(ca);
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);

    /* expired yesterday: refused */
    x = ca_cert_build(ca->key, HOSTS, NHOSTS, now - 800L * 86400, now - 86400);
    write_cert(crt, x);
    X509_free(x);
    err[0] = '\0';
    assert_null(ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "expired"));
    assert_non_null(strstr(err, "ca-new --force"));

    /* not valid yet: refused, the clock is suspect */
    x = ca_cert_build(ca->key, HOSTS, NHOSTS, now + 86400, now + 300L * 86400);
    write_cert(crt, x);
    X509_free(x);
    err[0] = '\0';
    assert_null(ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "clock"));

    /* expires in ten days: opens (with a warning) */
    x = ca_cert_build(ca->key, HOSTS, NHOSTS, now - 700L * 86400, now + 10L * 86400);
    write_cert(crt, x);
    X509_free(x);
    ca_free(ca);
    ca = ca_open(dir, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err));
    assert_non_null(ca);
    assert_true(ca_not_after(ca) - now <= 10L * 86400);
    assert_true(ca_not_after(ca) - now > 10L * 86400 - 60);
    ca_free(ca);
}

static void test_create_refuses_bad_input(void **state)
{
    char *const bad[] = {"registry-1.docker.io", "*.docker.io"};
    char dir[512], err[512], file[600];

    (void)state;
    tdir(dir, sizeof(dir), "badinput");
    err[0] = '\0';
    assert_int_equal(ca_create(dir, HOSTS, 0, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no intercept hosts"));
    err[0] = '\0';
    assert_int_equal(ca_create(dir, bad, 2, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a valid"));
    snprintf(file, sizeof(file), "%s/ca.key", dir);
    assert_int_equal(access(file, F_OK), -1);
    /* a missing parent directory is reported, not created */
    snprintf(file, sizeof(file), "%s/no/such", dir);
    err[0] = '\0';
    assert_null(ca_open(file, HOSTS, NHOSTS, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot create CA directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_files),
        cmocka_unit_test(test_create_stale_tmp),
        cmocka_unit_test(test_ca_extensions),
        cmocka_unit_test(test_open_reuses),
        cmocka_unit_test(test_create_force),
        cmocka_unit_test(test_refuse_key_mode),
        cmocka_unit_test(test_refuse_hosts),
        cmocka_unit_test(test_unpermitted_listed),
        cmocka_unit_test(test_refuse_partial),
        cmocka_unit_test(test_refuse_mismatch_and_garbage),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_create_refuses_bad_input),
    };

    return cmocka_run_group_tests_name("ca", tests, troot_setup, troot_teardown);
}
