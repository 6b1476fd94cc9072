/* link.c — parsing [upstream] and [passthrough] via entries into struct
 * link. See link.h for the forms. URLs are split by uri_parse() and hosts
 * checked by uri_host_ok() (base/uri.h); this file adds what a link needs
 * on top: the schemes, a required port, percent-decoded credentials, and
 * a name without them. */
#include "proxy/core/link.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/uri.h"

#define LINK_MAX_CRED 255           /* SOCKS5 (RFC 1929) length bytes */
#define LINK_FORMS "direct, socks5://[user:pass@]host:port, http://[user:pass@]host:port"
#define LINK_FORMS_RELAY LINK_FORMS ", relay:https://HOST[:PORT] [via LINK], relay"

static int link_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* 1 when s[0..n) equals the lower-case word w, ignoring case. */
static int link_word(const char *s, size_t n, const char *w)
{
    return n == strlen(w) && strncasecmp(s, w, n) == 0;
}

static int link_hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes %XX escapes of s[0..n) into a new string at *out. Returns NULL,
 * or a static reason (bad escape, %00, too long, no memory). */
static const char *link_decode(const char *s, size_t n, char **out)
{
    char *d = malloc(n + 1);
    size_t i, o = 0;
    int hi, lo;

    *out = NULL;
    if (d == NULL)
        return "out of memory";
    for (i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[o++] = s[i];
            continue;
        }
        hi = i + 2 < n ? link_hex(s[i + 1]) : -1;
        lo = i + 2 < n ? link_hex(s[i + 2]) : -1;
        if (i + 2 >= n || hi < 0 || lo < 0) {
            free(d);
            return "bad percent escape in user or password (write %XX with two hex digits, "
                   "%25 for '%')";
        }
        if (hi == 0 && lo == 0) {
            free(d);
            return "user or password holds %00";
        }
        d[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    d[o] = '\0';
    if (o > LINK_MAX_CRED) {
        memset(d, 0, o);
        free(d);
        return "user or password longer than 255 bytes";
    }
    *out = d;
    return NULL;
}

/* Sets l->name to "prefix" "scheme://host[:port]" "suffix", host bracketed
 * when it is IPv6. Returns NULL or a reason. */
static const char *link_set_name(struct link *l, const char *prefix, const char *scheme,
                                 unsigned port, const char *suffix)
{
    int ipv6 = strchr(l->host, ':') != NULL;
    char portstr[8] = "";
    size_t len;

    if (port != 0)
        snprintf(portstr, sizeof(portstr), ":%u", port);
    len = strlen(prefix) + strlen(scheme) + 5 + strlen(l->host) + strlen(portstr) +
          strlen(suffix);
    l->name = malloc(len + 1);
    if (l->name == NULL)
        return "out of memory";
    snprintf(l->name, len + 1, "%s%s://%s%s%s%s%s", prefix, scheme, ipv6 ? "[" : "", l->host,
             ipv6 ? "]" : "", portstr, suffix);
    return NULL;
}

/* Splits a URL of a link: scheme://[user:pass@]host[:port][/]. Fills u,
 * l->host and, when port is given, l->port. Returns NULL or a reason. */
static const char *link_url(const char *s, size_t n, struct uri *u, struct link *l)
{
    if (uri_parse(s, n, u) != 0) {
        const char *h = strstr(s, "://") + 3, *end = h, *q, *pc;

        while (end < s + n && *end != '/' && *end != '?' && *end != '#')
            end++;
        for (q = h; q < end; q++)
            if (*q == '@')
                h = q + 1;          /* the host starts after the last '@' */
        if (h < end && *h == '[') {
            pc = memchr(h, ']', (size_t)(end - h));
            pc = pc != NULL ? pc + 1 : NULL;
        } else {
            pc = memchr(h, ':', (size_t)(end - h));
        }
        if (h == end || pc == h || (h[0] == '[' && pc == h + 2))
            return "has no host";
        if (pc != NULL && pc < end && *pc == ':')
            return "has a bad port; give a number from 1 to 65535";
        return "has a bad host";
    }
    if (!uri_host_ok(u->host, u->host_len))
        return "has a bad host (letters, digits, '.', '-', '_', or an IPv6 address in [])";
    if (u->path_len > 1 || (u->path_len == 1 && u->path[0] != '/'))
        return "has a path; give only scheme://host:port";
    l->host = strndup(u->host, u->host_len);
    if (l->host == NULL)
        return "out of memory";
    l->port = (uint16_t)u->port;
    return NULL;
}

/* socks5://[user:pass@]host:port or http://[user:pass@]host:port. */
static const char *link_proxy(const char *s, size_t n, struct link *l)
{
    const char *why, *scheme;
    struct uri u;
    size_t i;

    for (i = 0; i < n; i++)
        if (link_blank(s[i]) || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return "holds a blank or control character (percent-encode it, e.g. %20)";
    scheme = strstr(s, "://");
    if (link_word(s, (size_t)(scheme - s), "socks5")) {
        l->kind = LINK_SOCKS5;
        scheme = "socks5";
    } else if (link_word(s, (size_t)(scheme - s), "http")) {
        l->kind = LINK_HTTP;
        scheme = "http";
    } else if (link_word(s, (size_t)(scheme - s), "https")) {
        return "is an https:// URL; for a relay mirror write relay:https://HOST";
    } else {
        return "has an unknown scheme (socks5:// or http://)";
    }
    why = link_url(s, n, &u, l);
    if (why != NULL)
        return why;
    if (u.port == 0)
        return "has no port; give host:port (example: socks5://127.0.0.1:1080)";
    if (u.user != NULL) {
        if (u.user_len == 0)
            return "has an empty user name before '@'";
        why = link_decode(u.user, u.user_len, &l->user);
        if (why == NULL)
            why = link_decode(u.pass != NULL ? u.pass : "", u.pass_len, &l->pass);
        if (why != NULL)
            return why;
        if (l->kind == LINK_HTTP && strchr(l->user, ':') != NULL)
            return "has a ':' in the user name, which HTTP Basic cannot carry";
    }
    return link_set_name(l, "", scheme, u.port, "");
}

static const char *link_entry(const char *s, size_t n, int allow_relay, struct link *l,
                              char *why, size_t whylen);

/* relay:https://HOST[:PORT] [via LINK]. s points past "relay:". */
static const char *link_relay(const char *s, size_t n, struct link *l, char *why,
                              size_t whylen)
{
    const char *end = s, *r, *sub;
    struct uri u;
    size_t i;

    while (end < s + n && !link_blank(*end))
        end++;
    if (end - s < 8 || strncasecmp(s, "https://", 8) != 0)
        return "needs an https:// URL after relay: (example: relay:https://hub.example.com)";
    for (i = 0; i < (size_t)(end - s); i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return "holds a control character";
    l->kind = LINK_RELAY;
    sub = link_url(s, (size_t)(end - s), &u, l);
    if (sub != NULL)
        return sub;
    if (u.user != NULL)
        return "has a user or password; a relay URL takes none";
    if (l->port == 0)
        l->port = 443;
    for (r = end; r < s + n && link_blank(*r); r++)
        ;
    if (r == s + n)
        return link_set_name(l, "relay:", "https", u.port, "");
    if (s + n - r < 4 || strncasecmp(r, "via", 3) != 0 || !link_blank(r[3]))
        return "has text after the URL; write relay:https://HOST via LINK";
    for (r += 3; r < s + n && link_blank(*r); r++)
        ;
    if (link_word(r, (size_t)(s + n - r), "relay") || strncasecmp(r, "relay:", 6) == 0)
        return "is reached through another relay; after via give direct, socks5:// or http://";
    l->via = calloc(1, sizeof(*l->via));
    if (l->via == NULL)
        return "out of memory";
    sub = link_entry(r, (size_t)(s + n - r), 0, l->via, why, whylen);
    if (sub != NULL) {
        snprintf(why, whylen, "after via: %s", sub);
        return why;
    }
    sub = link_set_name(l, "relay:", "https", u.port, "");
    if (sub == NULL) {
        size_t len = strlen(l->name) + 5 + strlen(l->via->name) + 1;
        char *name = malloc(len);

        if (name == NULL)
            return "out of memory";
        snprintf(name, len, "%s via %s", l->name, l->via->name);
        free(l->name);
        l->name = name;
    }
    if (l->via->kind == LINK_DIRECT) {
        link_free(l->via);          /* NULL means direct */
        l->via = NULL;
    }
    return sub;
}

/* One trimmed entry s[0..n) into l. Returns NULL, or a reason (static or
 * in why). */
static const char *link_entry(const char *s, size_t n, int allow_relay, struct link *l,
                              char *why, size_t whylen)
{
    const char *sep;

    if (n == 0)
        return "is empty";
    if (link_word(s, n, "direct")) {
        l->kind = LINK_DIRECT;
        l->name = strdup("direct");
        return l->name != NULL ? NULL : "out of memory";
    }
    if (link_word(s, n, "relay") || (n >= 6 && strncasecmp(s, "relay:", 6) == 0)) {
        if (!allow_relay)
            return "is a relay, which is not allowed here";
        if (n == 5) {
            l->kind = LINK_RELAY_MAP;
            l->name = strdup("relay");
            return l->name != NULL ? NULL : "out of memory";
        }
        return link_relay(s + 6, n - 6, l, why, whylen);
    }
    sep = strstr(s, "://");
    if (sep == NULL || sep == s)
        return "is not a link hubgate knows";
    return link_proxy(s, n, l);
}

/* Accepts a NUL-terminated entry; see link.h. On success *out owns a new
 * link (free with link_free()). err gets "reason; accepted forms: ...",
 * never the entry itself, which may hold a password. */
int link_parse(const char *entry, int allow_relay, struct link **out,
               char *err, size_t errlen)
{
    const char *reason, *s = entry;
    char why[256];
    struct link *l;
    size_t n;
    char *copy;

    *out = NULL;
    while (link_blank(*s))
        s++;
    n = strlen(s);
    while (n > 0 && link_blank(s[n - 1]))
        n--;
    /* The parsers below may look at s[n] (strstr, uri_parse's spans):
     * give them a terminated copy. */
    copy = strndup(s, n);
    l = calloc(1, sizeof(*l));
    /* reason may point into why: both live to the end. */
    reason = copy != NULL && l != NULL ? link_entry(copy, n, allow_relay, l, why, sizeof(why))
                                       : "out of memory";
    free(copy);
    if (reason != NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s; accepted forms: %s", reason,
                     allow_relay ? LINK_FORMS_RELAY : LINK_FORMS);
        link_free(l);
        return -1;
    }
    *out = l;
    return 0;
}

/* Accepts a link from link_parse() or NULL; frees it and its via chain,
 * wiping the credentials first. */
void link_free(struct link *l)
{
    if (l == NULL)
        return;
    link_free(l->via);
    if (l->user != NULL)
        memset(l->user, 0, strlen(l->user));
    if (l->pass != NULL)
        memset(l->pass, 0, strlen(l->pass));
    free(l->user);
    free(l->pass);
    free(l->host);
    free(l->name);
    free(l);
}

/* Accepts a NUL-terminated entry and writes to out (outlen bytes, cut if
 * needed) a copy where the userinfo of every URL becomes "***". */
void link_redact(const char *entry, char *out, size_t outlen)
{
    size_t o = 0, n = strlen(entry), i = 0;

    if (outlen == 0)
        return;
    /* Token by token (blanks separate; a password may hold a comma): from where the
     * authority starts to the token's last '@' is user[:password] — in a
     * well-formed URL or a mistyped one, which is exactly when an entry
     * gets quoted in an error. An '@' in a path is hidden too: a secret
     * shown by mistake costs more than a path hidden. */
    while (i < n && o + 1 < outlen) {
        size_t t = i, te, as, at = (size_t)-1, k;

        if (entry[i] == ' ' || entry[i] == '\t') {
            out[o++] = entry[i++];
            continue;
        }
        for (te = t; te < n && entry[te] != ' ' && entry[te] != '\t'; te++)
            ;
        /* the token's last '@' (a password may hold '/', '?', '@') */
        for (k = t; k < te; k++)
            if (entry[k] == '@')
                at = k;
        /* Shown before it: only a leading "[relay:]scheme://" (or a
         * mistyped "scheme:/", "scheme//"); everything from there to the
         * last '@' is hidden, whatever it holds. */
        as = t;
        k = t;
        if (te - k > 6 && strncmp(entry + k, "relay:", 6) == 0)
            k += 6;
        while (k < te && (isalnum((unsigned char)entry[k]) || entry[k] == '+' ||
                          entry[k] == '.' || entry[k] == '-'))
            k++;
        if (k + 1 < te && ((entry[k] == ':' && entry[k + 1] == '/') ||
                           (entry[k] == '/' && entry[k + 1] == '/'))) {
            k += entry[k] == ':' ? 1 : 0;
            while (k < te && entry[k] == '/')
                k++;
            as = k;
        }
        if (at != (size_t)-1 && at < as)
            as = t;
        for (k = t; k < te && o + 1 < outlen; k++) {
            if (at != (size_t)-1 && k == as) {
                const char *r;

                for (r = "***"; *r && o + 1 < outlen; r++)
                    out[o++] = *r;
                k = at; /* continue from the '@' */
            }
            if (o + 1 < outlen)
                out[o++] = entry[k];
        }
        i = te;
    }
    out[o] = '\0';
}
