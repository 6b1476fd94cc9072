/* ca_test_util.h — helpers shared by test_ca.c and test_leaf.c: one
 * mkdtemp() root per test binary, a directory per test, small file
 * helpers. Test-only; static inline so a file may leave some unused. */
#ifndef HUBGATE_CA_TEST_UTIL_H
#define HUBGATE_CA_TEST_UTIL_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "base/log.h"

static char *const HOSTS[] = {
    "registry-1.docker.io",
    "auth.docker.io",
    "production.cloudflare.docker.com",
};
#define NHOSTS (sizeof(HOSTS) / sizeof(HOSTS[0]))

static char troot[256];

static inline int troot_setup(void **state)
{
    (void)state;
    umask(022);
    log_set_level(LOG_WARN);
    snprintf(troot, sizeof(troot), "/tmp/hubgate-ca-test-XXXXXX");
    return mkdtemp(troot) != NULL ? 0 : -1;
}

static inline int troot_rm(const char *path, const struct stat *st, int flag,
                           struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline int troot_teardown(void **state)
{
    (void)state;
    return nftw(troot, troot_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir = ROOT/name, not created: ca_create/ca_open make it (0700). */
static inline void tdir(char *dir, size_t len, const char *name)
{
    snprintf(dir, len, "%s/%s", troot, name);
}

static inline int file_mode(const char *path)
{
    struct stat st;

    if (stat(path, &st) == -1)
        return -1;
    return (int)(st.st_mode & 07777);
}

static inline X509 *read_cert(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    return x;
}

static inline void write_cert(const char *path, X509 *x)
{
    BIO *bio = BIO_new_file(path, "w");

    if (x == NULL || bio == NULL || PEM_write_bio_X509(bio, x) != 1)
        fail_msg("cannot write %s", path);
    BIO_free(bio);
}

static inline void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) == EOF)
        fail_msg("cannot write %s", path);
    fclose(f);
}

/* Whole file, NUL-terminated; *len without the NUL. Caller frees. */
static inline char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 65536);

    if (f == NULL || buf == NULL)
        fail_msg("cannot read %s", path);
    *len = fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

/* Number of entries of dir whose name starts with prefix; the path of the
 * last one goes to out when out is not NULL. */
static inline int count_prefix(const char *dir, const char *prefix,
                               char *out, size_t outlen)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        n++;
        if (out != NULL)
            snprintf(out, outlen, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    return n;
}

#endif
