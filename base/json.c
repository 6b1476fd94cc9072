/* json.c — JSON string escaping. See json.h. */
#include "base/json.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1 to 4 bytes, at most left),
 * or 0 when p does not start one: overlong forms, surrogates, code points
 * past U+10FFFF and cut sequences are invalid (RFC 3629, section 4). */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    /* the second byte's range is what rules out overlongs and surrogates */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

size_t json_escape_n(char *out, size_t outlen, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t n = 0;

    if (outlen == 0)
        return 0;
    while (p < end) {
        char esc[8];
        const char *rep = esc;
        size_t k = utf8_seq(p, (size_t)(end - p)), take = k ? k : 1;

        if (k == 0)
            rep = "\\ufffd";
        else if (*p == '"' || *p == '\\')
            esc[0] = '\\', esc[1] = (char)*p, esc[2] = '\0';
        else if (*p < 0x20 || *p == 0x7f)
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
        else
            rep = NULL;
        k = rep ? strlen(rep) : take;
        if (n + k >= outlen)
            break;
        memcpy(out + n, rep ? rep : (const char *)p, k);
        n += k;
        p += take;
    }
    out[n] = '\0';
    return n;
}

size_t json_escape(char *out, size_t outlen, const char *s)
{
    return json_escape_n(out, outlen, s, strlen(s));
}
