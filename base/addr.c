/* addr.c — host:port strings, CIDR networks and their matching.
 *
 * Everything here is a pure function over caller memory: no I/O, no
 * resolver. Client addresses are matched in both of their forms, so an
 * IPv4 client seen on a dual-stack socket as ::ffff:a.b.c.d is still
 * inside 127.0.0.0/8, and a plain IPv4 client is inside ::ffff:0:0/96. */
#include "base/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest address text we accept: IPv6 with an embedded IPv4 tail. */
#define ADDR_TEXT_MAX INET6_ADDRSTRLEN

/* Parses a decimal port, 1..65535, digits only (no sign, no spaces). */
static int addr_parse_port(const char *s, uint16_t *port)
{
    unsigned long v = 0;
    size_t i;

    if (s[0] == '\0')
        return -1;
    for (i = 0; s[i] != '\0'; i++) {
        /* Five digits cover 65535; more can only overflow or pad. */
        if (s[i] < '0' || s[i] > '9' || i >= 5)
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* A name or IPv4 literal may not hold bytes that would split or disguise
 * it in a request line or a log: controls, spaces, brackets. */
static int addr_host_char_ok(unsigned char ch)
{
    return ch > 0x20 && ch != 0x7f && ch != '[' && ch != ']';
}

/* Accepts "host:port" or "[v6]:port"; writes the host without brackets,
 * NUL-terminated, into host (hostlen bytes) and the port into *port.
 * Returns 0, or -1 when s is malformed (empty host, missing or bad port,
 * unclosed bracket, a bracketed part that is not IPv6, several colons
 * outside brackets) or the host does not fit; host and *port are written
 * only on success. Owns nothing. */
int addr_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *h, *colon;
    size_t hl;
    uint16_t p;

    if (s == NULL || host == NULL || hostlen == 0 || port == NULL)
        return -1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        char tmp[ADDR_TEXT_MAX];
        struct in6_addr a6;

        if (close == NULL || close[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(close - h);
        if (hl == 0 || hl >= sizeof(tmp))
            return -1;
        memcpy(tmp, h, hl);
        tmp[hl] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return -1;
        colon = close + 1;
    } else {
        colon = strchr(s, ':');
        /* "::1:3128" is ambiguous: IPv6 needs brackets. */
        if (colon == NULL || strchr(colon + 1, ':') != NULL)
            return -1;
        size_t i;

        h = s;
        hl = (size_t)(colon - s);
        if (hl == 0)
            return -1;
        for (i = 0; i < hl; i++)
            if (!addr_host_char_ok((unsigned char)h[i]))
                return -1;
    }
    if (addr_parse_port(colon + 1, &p) != 0 || hl >= hostlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = p;
    return 0;
}

/* Clears the bits of a (len bytes) past the first prefix bits. */
static void cidr_clear_host_bits(uint8_t *a, size_t len, unsigned prefix)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned bit = (unsigned)i * 8;

        if (bit >= prefix)
            a[i] = 0;
        else if (prefix - bit < 8)
            a[i] &= (uint8_t)(0xffu << (8 - (prefix - bit)));
    }
}

/* Accepts "10.0.0.0/8", "::1/128" or a bare address (full prefix); the
 * prefix is decimal digits only. Host bits are cleared, so 10.1.2.3/8 is
 * stored as 10.0.0.0/8. Returns 0 and fills *out, or -1 (out untouched).
 * Owns nothing. */
int cidr_parse(const char *s, struct cidr *out)
{
    char buf[ADDR_TEXT_MAX];
    const char *slash;
    struct cidr c;
    size_t alen;
    unsigned max, prefix;

    if (s == NULL || out == NULL)
        return -1;
    memset(&c, 0, sizeof(c));
    slash = strchr(s, '/');
    alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(buf))
        return -1;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    if (inet_pton(AF_INET, buf, c.addr) == 1) {
        c.family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
        c.family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    prefix = max;
    if (slash != NULL) {
        const char *d = slash + 1;
        size_t i;

        if (d[0] == '\0')
            return -1;
        prefix = 0;
        for (i = 0; d[i] != '\0'; i++) {
            if (d[i] < '0' || d[i] > '9' || i >= 3)
                return -1;
            prefix = prefix * 10 + (unsigned)(d[i] - '0');
        }
        if (prefix > max)
            return -1;
    }
    c.prefix = prefix;
    cidr_clear_host_bits(c.addr, max / 8, prefix);
    *out = c;
    return 0;
}

/* 1 when the address a (4 or 16 bytes, c's family) is inside c. */
static int cidr_contains(const struct cidr *c, const uint8_t *a)
{
    unsigned full = c->prefix / 8, rem = c->prefix % 8;
    uint8_t mask;

    if (memcmp(c->addr, a, full) != 0)
        return 0;
    if (rem == 0)
        return 1;
    mask = (uint8_t)(0xffu << (8 - rem));
    return (a[full] & mask) == c->addr[full];
}

/* Accepts a list (NULL is an empty list) and a client address of family
 * AF_INET or AF_INET6 (NULL or another family matches nothing). Returns 1
 * when the address is inside any network of the list, else 0. An IPv4
 * address is tried against IPv4 networks as itself and against IPv6
 * networks as ::ffff:a.b.c.d; a v4-mapped IPv6 address likewise both
 * ways. Owns nothing. */
int cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    uint8_t v4[4], v6[16];
    int has4 = 0;
    size_t i;

    if (l == NULL || sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        memcpy(v4, &in->sin_addr, 4);
        memcpy(v6, mapped, 12);
        memcpy(v6 + 12, v4, 4);
        has4 = 1;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        memcpy(v6, &in6->sin6_addr, 16);
        if (memcmp(v6, mapped, 12) == 0) {
            memcpy(v4, v6 + 12, 4);
            has4 = 1;
        }
    } else {
        return 0;
    }
    for (i = 0; i < l->n; i++) {
        const struct cidr *c = &l->v[i];

        if (c->family == AF_INET && has4 && c->prefix <= 32 && cidr_contains(c, v4))
            return 1;
        if (c->family == AF_INET6 && c->prefix <= 128 && cidr_contains(c, v6))
            return 1;
    }
    return 0;
}

/* Accepts a list (v may be NULL when n is 0) and appends a copy of *c.
 * Returns 0, or -1 when out of memory (the list is then unchanged). The
 * list owns its array; release it with cidr_list_free(). */
int cidr_list_add(struct cidr_list *l, const struct cidr *c)
{
    struct cidr *v;

    if (l->n >= ((size_t)-1) / sizeof(*v) - 1)
        return -1;
    v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    v[l->n++] = *c;
    l->v = v;
    return 0;
}

/* Frees the list's array and leaves it empty; NULL is allowed. */
void cidr_list_free(struct cidr_list *l)
{
    if (l == NULL)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Accepts an AF_INET or AF_INET6 address and writes "1.2.3.4:80" or
 * "[::1]:80" into out (outlen bytes, truncated, always NUL-terminated when
 * outlen > 0); anything else becomes "?". Owns nothing. */
void addr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[ADDR_TEXT_MAX];

    if (out == NULL || outlen == 0)
        return;
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)) != NULL) {
            snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
            return;
        }
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)) != NULL) {
            snprintf(out, outlen, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
            return;
        }
    }
    snprintf(out, outlen, "?");
}
