/* uri.c — absolute URI splitting. */
#include "base/uri.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

int uri_host_ok(const char *host, size_t n)
{
    char tmp[64];
    unsigned char a6[16];
    size_t i;

    if (n == 0 || n > 253)
        return 0;
    if (memchr(host, ':', n)) {
        if (n >= sizeof(tmp))
            return 0;
        memcpy(tmp, host, n);
        tmp[n] = '\0';
        return inet_pton(AF_INET6, tmp, a6) == 1;
    }
    for (i = 0; i < n; i++) {
        char ch = host[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

static int parse_port(const char *p, size_t n, unsigned *port)
{
    unsigned v = 0;
    size_t i;

    if (n == 0 || n > 5)
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = v;
    return 0;
}

int uri_parse(const char *s, size_t n, struct uri *u)
{
    const char *end = s + n, *p, *auth, *auth_end, *at = NULL, *h, *h_end;

    memset(u, 0, sizeof(*u));
    p = memchr(s, ':', n);
    if (!p || p == s || end - p < 3 || p[1] != '/' || p[2] != '/')
        return -1;
    u->scheme = s;
    u->scheme_len = (size_t)(p - s);
    auth = p + 3;
    for (auth_end = auth; auth_end < end; auth_end++)
        if (*auth_end == '/' || *auth_end == '?' || *auth_end == '#')
            break;
    u->path = auth_end;
    u->path_len = (size_t)(end - auth_end);
    for (p = auth; p < auth_end; p++)  /* userinfo ends at the last '@' */
        if (*p == '@')
            at = p;
    h = auth;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));

        u->user = auth;
        u->user_len = (size_t)((colon ? colon : at) - auth);
        if (colon) {
            u->pass = colon + 1;
            u->pass_len = (size_t)(at - colon - 1);
        }
        h = at + 1;
    }
    if (h < auth_end && *h == '[') {
        h_end = memchr(h, ']', (size_t)(auth_end - h));
        if (!h_end)
            return -1;
        u->host = h + 1;
        u->host_len = (size_t)(h_end - h - 1);
        p = h_end + 1;
    } else {
        h_end = memchr(h, ':', (size_t)(auth_end - h));
        if (!h_end)
            h_end = auth_end;
        u->host = h;
        u->host_len = (size_t)(h_end - h);
        p = h_end;
    }
    if (u->host_len == 0)
        return -1;
    if (p < auth_end && (*p != ':' || parse_port(p + 1, (size_t)(auth_end - p - 1), &u->port)))
        return -1;
    return 0;
}

int uri_host_eq(const char *host, size_t n, const char *want)
{
    if (n && host[n - 1] == '.')
        n--;
    return strlen(want) == n && strncasecmp(host, want, n) == 0;
}
