/* auth.c — Basic proxy authentication. */
#include "proxy/core/auth.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

int auth_ok(const struct config *cfg, const char *value, size_t n)
{
    unsigned char dec[600];
    size_t i, b64len;
    int len, ok = 0;

    if (cfg->users.n == 0)
        return 1;
    if (!value || n < 7 || strncasecmp(value, "Basic ", 6) != 0)
        return 0;
    value += 6;
    n -= 6;
    while (n && *value == ' ')
        value++, n--;
    b64len = n;
    if (b64len == 0 || b64len % 4 || b64len / 4 * 3 >= sizeof(dec))
        return 0;
    len = EVP_DecodeBlock(dec, (const unsigned char *)value, (int)b64len);
    if (len < 0)
        return 0;
    /* EVP_DecodeBlock counts padding as zero bytes */
    if (b64len >= 1 && value[b64len - 1] == '=')
        len--;
    if (b64len >= 2 && value[b64len - 2] == '=')
        len--;
    for (i = 0; i < cfg->users.n; i++) {
        const char *u = cfg->users.v[i];
        size_t ul = strlen(u);

        /* every entry is compared, so timing says nothing about which */
        if (ul == (size_t)len && CRYPTO_memcmp(u, dec, ul) == 0)
            ok = 1;
    }
    OPENSSL_cleanse(dec, sizeof(dec));
    return ok;
}
