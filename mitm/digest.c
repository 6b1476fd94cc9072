/* digest.c — SHA-256 of a blob body against the digest in its URL. */
#include "mitm/digest.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct digest {
    EVP_MD_CTX *ctx;
    unsigned char want[32];
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int digest_from_path(const char *path, size_t n, char hex[65])
{
    static const char key[] = "/blobs/sha256:";
    const char *q = memchr(path, '?', n), *p;
    size_t i, klen = sizeof(key) - 1;

    if (q)
        n = (size_t)(q - path);
    if (n < 4 + klen + 64 || memcmp(path, "/v2/", 4) != 0)
        return 0;
    p = path + n - 64 - klen;
    if (memcmp(p, key, klen) != 0)
        return 0;
    p += klen;
    for (i = 0; i < 64; i++) {
        if (hexval(p[i]) < 0)
            return 0;
        hex[i] = p[i];
    }
    hex[64] = '\0';
    return 1;
}

struct digest *digest_new(const char *hex)
{
    struct digest *d = calloc(1, sizeof(*d));
    size_t i;

    if (!d)
        return NULL;
    for (i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) { /* not what digest_from_path() gives */
            free(d);
            return NULL;
        }
        d->want[i] = (unsigned char)(hi << 4 | lo);
    }
    d->ctx = EVP_MD_CTX_new();
    if (!d->ctx || EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1) {
        digest_free(d);
        return NULL;
    }
    return d;
}

void digest_update(struct digest *d, const void *p, size_t n)
{
    EVP_DigestUpdate(d->ctx, p, n);
}

int digest_matches(struct digest *d)
{
    unsigned char got[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (EVP_DigestFinal_ex(d->ctx, got, &len) != 1 || len != 32)
        return 0;
    return memcmp(got, d->want, 32) == 0;
}

void digest_free(struct digest *d)
{
    if (!d)
        return;
    EVP_MD_CTX_free(d->ctx);
    free(d);
}
