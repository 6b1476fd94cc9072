/* config.c — hubgate's INI configuration: defaults, parsing, validation.
 *
 * The keys live in config.def: one CFG() row per key gives its section,
 * name, value type, struct member, default and range. Defaults go through
 * the same parsers as the file, so a default is always a value the file
 * would accept.
 *
 * inih r55 cuts lines at INI_MAX_LINE bytes and tells us about a handler
 * error only by returning its line number. So the text is checked first
 * (long lines, NUL bytes) and fed to ini_parse_stream() by a reader that
 * counts lines; the handler keeps the first error with that line. */
#include "proxy/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAX_FILE ((size_t)1024 * 1024)
/* inih reads a line with fgets(buf, INI_MAX_LINE): at most 199 bytes, the
 * '\n' included, so a line may hold 198 bytes before its newline. */
#define CFG_MAX_LINE (INI_MAX_LINE - 2)

enum cfg_type {
    CFG_T_listen, CFG_T_cidrs, CFG_T_duration, CFG_T_size, CFG_T_count,
    CFG_T_path, CFG_T_hosts, CFG_T_links, CFG_T_servers
};

enum cfg_key {
#define CFG(sec, key, type, member, def, lo, hi) CFG_K_##sec##_##key,
#include "proxy/config.def"
#undef CFG
    CFG_NKEYS
};

struct cfg_row {
    const char *section;
    const char *key;
    enum cfg_type type;
    size_t off;                     /* offsetof(struct config, member) */
    const char *def;
    unsigned long long lo, hi;
};

static const struct cfg_row cfg_rows[CFG_NKEYS] = {
#define CFG(sec, key, type, member, def, lo, hi) \
    {#sec, #key, CFG_T_##type, offsetof(struct config, member), def, lo, hi},
#include "proxy/config.def"
#undef CFG
};

/* The text inih reads, one line per reader call. */
struct cfg_src {
    const char *p;
    size_t left;
    int lineno;                     /* line last handed to inih */
};

/* One load: where messages go and what the file has named so far. */
struct cfg_ctx {
    struct config *cfg;
    const char *name;               /* file name, for messages */
    struct cfg_src src;
    char *err;
    size_t errlen;
    int failed;                     /* the handler has recorded an error */
    int err_line;
    unsigned char seen[CFG_NKEYS];  /* a list key's first line replaces */
    int line[CFG_NKEYS];            /* last line naming the key */
    char why[384];                  /* the current error, after "key: " */
};

static void cfg_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_why(struct cfg_ctx *c, const char *bad, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cfg_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Copies s for a message: printable ASCII only, at most about 80 bytes, so
 * a hostile file cannot put escapes on the terminal or flood the log. */
static void cfg_quote(char *out, size_t outlen, const char *s, size_t slen)
{
    size_t i, o = 0, max = outlen > 84 ? 80 : outlen - 4;   /* callers pass 96 */

    for (i = 0; i < slen && o < max; i++) {
        unsigned char ch = (unsigned char)s[i];

        out[o++] = (char)(ch >= 0x20 && ch < 0x7f ? ch : (unsigned char)'?');
    }
    if (i < slen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* Sets c->why to "\"bad\" " (when bad is not NULL) plus fmt. Returns -1. */
static int cfg_why(struct cfg_ctx *c, const char *bad, const char *fmt, ...)
{
    size_t n = 0;
    va_list ap;

    if (bad != NULL) {
        char q[96];

        cfg_quote(q, sizeof(q), bad, strlen(bad));
        n = (size_t)snprintf(c->why, sizeof(c->why), "\"%s\" ", q);
    }
    va_start(ap, fmt);
    vsnprintf(c->why + n, sizeof(c->why) - n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Writes "name:line: [section] key: why" as the load's error. */
static void cfg_fail(struct cfg_ctx *c, int line, const char *section, const char *key)
{
    char s[96], k[96];

    cfg_quote(s, sizeof(s), section, strlen(section));
    cfg_quote(k, sizeof(k), key, strlen(key));
    if (s[0] != '\0')
        cfg_errf(c->err, c->errlen, "%s:%d: [%s] %s: %s", c->name, line, s, k, c->why);
    else
        cfg_errf(c->err, c->errlen, "%s:%d: %s: %s", c->name, line, k, c->why);
    c->failed = 1;
    c->err_line = line;
}

static char *cfg_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* ---- values ------------------------------------------------------------ */

/* The units a number may carry; "" is the bare number. */
struct cfg_unit {
    const char *suffix;
    unsigned long long mult;
};

static const struct cfg_unit cfg_units[][4] = {
    [CFG_T_duration] = {{"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60000}},
    [CFG_T_size] = {{"", 1}, {"KiB", 1024}, {"MiB", 1048576}},
    [CFG_T_count] = {{"", 1}},
};

static const char *const cfg_number_hint[] = {
    [CFG_T_duration] = "is not a duration; a bare number is seconds, or add ms, s or m",
    [CFG_T_size] = "is not a size; a bare number is bytes, or add KiB or MiB",
    [CFG_T_count] = "is not a whole number",
};

static void cfg_fmt_number(char *out, size_t outlen, enum cfg_type t, unsigned long long n)
{
    if (t == CFG_T_duration)
        snprintf(out, outlen, "%llums", n);
    else if (t == CFG_T_size && n % 1048576 == 0)
        snprintf(out, outlen, "%lluMiB", n / 1048576);
    else if (t == CFG_T_size && n % 1024 == 0)
        snprintf(out, outlen, "%lluKiB", n / 1024);
    else
        snprintf(out, outlen, "%llu", n);
}

/* Durations (to ms), sizes (to bytes) and counts: digits, then one of the
 * type's units, then the row's range. */
static int cfg_parse_number(struct cfg_ctx *c, const struct cfg_row *r,
                            void *field, char *value, int first)
{
    const struct cfg_unit *u = cfg_units[r->type];
    unsigned long long n = 0;
    const char *p = value;
    char lo[32], hi[32];
    int i, big = 0;

    (void)first;
    if (*p < '0' || *p > '9')
        goto bad;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > 1000000000000000ULL)
            big = 1;                /* out of every range here; stop growing */
        else
            n = n * 10 + (unsigned long long)(*p - '0');
    }
    for (i = 0; i < 4 && u[i].suffix != NULL && strcmp(u[i].suffix, p) != 0; i++)
        ;
    if (i == 4 || u[i].suffix == NULL)
        goto bad;
    if (big || n > r->hi / u[i].mult || n * u[i].mult < r->lo) {
        cfg_fmt_number(lo, sizeof(lo), r->type, r->lo);
        cfg_fmt_number(hi, sizeof(hi), r->type, r->hi);
        return cfg_why(c, value, "is out of range; give %s to %s", lo, hi);
    }
    if (r->type == CFG_T_size)
        *(size_t *)field = (size_t)(n * u[i].mult);
    else
        *(unsigned *)field = (unsigned)(n * u[i].mult);
    return 0;
bad:
    return cfg_why(c, value, "%s (example: %s)", cfg_number_hint[r->type], r->def);
}

static int cfg_parse_listen(struct cfg_ctx *c, const struct cfg_row *r,
                            void *field, char *value, int first)
{
    char host[sizeof(c->cfg->listen_host)];
    unsigned char a[16];
    uint16_t port;

    (void)first;
    if (value[0] == '\0')
        return cfg_why(c, NULL, "is empty; give host:port (example: %s)", r->def);
    if (addr_parse_hostport(value, host, sizeof(host), &port) != 0)
        return cfg_why(c, value, "is not host:port (example: %s, or [::1]:3128 for IPv6)",
                       r->def);
    if (inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1)
        return cfg_why(c, value, "needs an IP address, not a name (example: %s)", r->def);
    memcpy(field, host, sizeof(host));
    c->cfg->listen_port = port;
    return 0;
}

static int cfg_parse_path(struct cfg_ctx *c, const struct cfg_row *r,
                          void *field, char *value, int first)
{
    char **slot = field, *dup;

    (void)first;
    if (value[0] == '\0')
        return cfg_why(c, NULL, "is empty; give a path (example: %s)", r->def);
    dup = strdup(value);
    if (dup == NULL)
        return cfg_why(c, NULL, "out of memory");
    free(*slot);
    *slot = dup;
    return 0;
}

/* ---- lists ------------------------------------------------------------- */

static int cfg_is_list(enum cfg_type t)
{
    return t == CFG_T_cidrs || t == CFG_T_hosts || t == CFG_T_links || t == CFG_T_servers;
}

/* Frees what a member of type t holds and empties it. */
static void cfg_free_field(enum cfg_type t, void *field)
{
    struct str_list *l = field;
    size_t i;

    if (t == CFG_T_path) {
        free(*(char **)field);
        *(char **)field = NULL;
    } else if (t == CFG_T_cidrs) {
        cidr_list_free(field);
    } else if (cfg_is_list(t)) {
        for (i = 0; i < l->n; i++)
            free(l->v[i]);
        free(l->v);
        l->v = NULL;
        l->n = 0;
    }
}

/* Appends a copy of e to l, within the row's limit of entries. */
static int cfg_list_add(struct cfg_ctx *c, const struct cfg_row *r,
                        struct str_list *l, const char *e)
{
    char **v, *dup;

    if (l->n >= r->hi)
        return cfg_why(c, NULL, "has more than %llu entries", r->hi);
    dup = strdup(e);
    if (dup == NULL)
        return cfg_why(c, NULL, "out of memory");
    v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (v == NULL) {
        free(dup);
        return cfg_why(c, NULL, "out of memory");
    }
    v[l->n++] = dup;
    l->v = v;
    return 0;
}

static int cfg_add_cidr(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e)
{
    struct cidr_list *l = field;
    struct cidr net;

    if (cidr_parse(e, &net) != 0)
        return cfg_why(c, e, "is not a network (examples: 10.0.0.0/8, ::1/128, 192.168.1.5)");
    if (l->n >= r->hi)
        return cfg_why(c, NULL, "has more than %llu entries", r->hi);
    if (cidr_list_add(l, &net) != 0)
        return cfg_why(c, NULL, "out of memory");
    return 0;
}

/* 0 when s is a DNS name: [A-Za-z0-9.-], labels of 1..63 bytes that
 * neither start nor end with '-', 253 bytes at most. */
static int cfg_dns_name(const char *s)
{
    size_t len = strlen(s), label = 0, i;

    if (len == 0 || len > 253)
        return -1;
    for (i = 0; i <= len; i++) {
        char ch = s[i];

        if (ch == '.' || ch == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return -1;
            label = 0;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '-') {
            label++;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Stores a host name lower-cased, once. */
static int cfg_add_host(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e)
{
    struct str_list *l = field;
    size_t i;
    char *p;

    if (cfg_dns_name(e) != 0)
        return cfg_why(c, e, "is not a DNS name (letters, digits, '-' and '.'; labels of "
                       "1 to 63 characters; example: registry-1.docker.io)");
    for (p = e; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i], e) == 0)
            return 0;
    return cfg_list_add(c, r, l, e);
}

/* Accepts one [upstream] via entry, trimmed. Returns NULL when it is a
 * link hubgate can use, else a static reason that follows the quoted
 * entry in the error. New link kinds (socks5://, http://, relay:) are
 * recognised here. */
static const char *config_check_link(const char *entry)
{
    if (strcmp(entry, "direct") == 0)
        return NULL;
    return "is not a link hubgate knows; for now the only one is \"direct\"";
}

static int cfg_add_link(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e)
{
    const char *why;

    if (e[0] == '\0')
        return cfg_why(c, NULL, "has an empty entry; separate links with single commas "
                       "(example: %s)", r->def);
    why = config_check_link(e);
    if (why != NULL)
        return cfg_why(c, e, "%s", why);
    return cfg_list_add(c, r, field, e);
}

/* "IP", "IPv4:port" or "[IPv6]:port". */
static int cfg_add_server(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e)
{
    unsigned char a[16];
    char host[INET6_ADDRSTRLEN];
    uint16_t port;

    if (inet_pton(AF_INET, e, a) == 1 || inet_pton(AF_INET6, e, a) == 1 ||
        (addr_parse_hostport(e, host, sizeof(host), &port) == 0 &&
         (e[0] == '[' || inet_pton(AF_INET, host, a) == 1)))
        return cfg_list_add(c, r, field, e);
    return cfg_why(c, e, "is not an IP address or IP:port (examples: 192.0.2.53, "
                   "192.0.2.53:5353, [2001:db8::53]:53)");
}

static int (*const cfg_adders[])(struct cfg_ctx *, const struct cfg_row *, void *, char *) = {
    [CFG_T_cidrs] = cfg_add_cidr, [CFG_T_hosts] = cfg_add_host,
    [CFG_T_links] = cfg_add_link, [CFG_T_servers] = cfg_add_server,
};

/* Cuts the next entry out of *pos (in place) and returns it, or NULL at the
 * end. Words are split at spaces, tabs and commas; with commas set, only
 * at commas, each entry trimmed (an empty one is returned as ""). */
static char *cfg_next(char **pos, int commas)
{
    char *p = *pos, *e;

    if (p == NULL)
        return NULL;
    if (!commas) {
        p += strspn(p, " \t,");
        if (*p == '\0') {
            *pos = NULL;
            return NULL;
        }
        e = p + strcspn(p, " \t,");
    } else {
        e = p + strcspn(p, ",");
    }
    *pos = *e != '\0' ? e + 1 : NULL;
    *e = '\0';
    return commas ? cfg_trim(p) : p;
}

/* A list key's first line in a file replaces the default; later lines,
 * and inih's indented continuation lines, append. via is split at commas
 * only, as a link may contain spaces. An empty value has no entries. */
static int cfg_parse_list(struct cfg_ctx *c, const struct cfg_row *r,
                          void *field, char *value, int first)
{
    char *pos = value[0] != '\0' ? value : NULL, *e;

    if (first)
        cfg_free_field(r->type, field);
    while ((e = cfg_next(&pos, r->type == CFG_T_links)) != NULL)
        if (cfg_adders[r->type](c, r, field, e) != 0)
            return -1;
    return 0;
}

static int (*const cfg_parsers[])(struct cfg_ctx *, const struct cfg_row *, void *,
                                  char *, int) = {
    [CFG_T_listen] = cfg_parse_listen,   [CFG_T_cidrs] = cfg_parse_list,
    [CFG_T_duration] = cfg_parse_number, [CFG_T_size] = cfg_parse_number,
    [CFG_T_count] = cfg_parse_number,    [CFG_T_path] = cfg_parse_path,
    [CFG_T_hosts] = cfg_parse_list,      [CFG_T_links] = cfg_parse_list,
    [CFG_T_servers] = cfg_parse_list,
};

/* ---- the inih side ----------------------------------------------------- */

static int cfg_find(const char *section, const char *key)
{
    int i;

    for (i = 0; i < CFG_NKEYS; i++)
        if (strcmp(cfg_rows[i].section, section) == 0 && strcmp(cfg_rows[i].key, key) == 0)
            return i;
    return -1;
}

/* Explains an unknown section or key, pointing at where the key belongs
 * when another section has it. */
static void cfg_unknown(struct cfg_ctx *c, const char *section, const char *key)
{
    const char *home = NULL;
    char list[256] = "";
    int i, known = 0;

    if (strpbrk(key, " \t") != NULL) {
        /* inih also splits at ':', so "listen 127.0.0.1:3128" lands here. */
        cfg_why(c, NULL, "is not a key; write key = value (a ':' was taken for the '=')");
        return;
    }
    for (i = 0; i < CFG_NKEYS; i++) {
        if (strcmp(cfg_rows[i].section, section) == 0)
            known = 1;
        if (strcmp(cfg_rows[i].key, key) == 0 && home == NULL)
            home = cfg_rows[i].section;
    }
    for (i = 0; i < CFG_NKEYS; i++) {
        const struct cfg_row *r = &cfg_rows[i];
        size_t n = strlen(list);

        if (known && strcmp(r->section, section) == 0)
            snprintf(list + n, sizeof(list) - n, " %s", r->key);
        else if (!known && (i == 0 || strcmp(r->section, cfg_rows[i - 1].section) != 0))
            snprintf(list + n, sizeof(list) - n, " [%s]", r->section);
    }
    if (known && home != NULL)
        cfg_why(c, NULL, "unknown key here; it belongs in [%s]", home);
    else if (known)
        cfg_why(c, NULL, "unknown key; the keys of this section are%s", list);
    else if (home != NULL)
        cfg_why(c, NULL, "%s; the key belongs in [%s]",
                section[0] != '\0' ? "unknown section" : "outside any section", home);
    else
        cfg_why(c, NULL, "%s; the sections are%s",
                section[0] != '\0' ? "unknown section" : "outside any section", list);
}

/* Cuts an inline comment (";" after a blank), which inih r55 leaves on
 * indented continuation lines, and trims. */
static char *cfg_strip(char *v)
{
    char *p;

    for (p = v; *p != '\0'; p++)
        if (*p == ';' && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    return cfg_trim(v);
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
    struct cfg_ctx *c = user;
    char *v = NULL;
    int i, rc = -1;

    if (c->failed)
        return 1;                   /* only the first error is reported */
    i = cfg_find(section, name);
    if (i < 0) {
        cfg_unknown(c, section, name);
        goto out;
    }
    if (value == NULL) {
        cfg_why(c, NULL, "has no value; write key = value");
        goto out;
    }
    v = strdup(value);
    if (v == NULL) {
        cfg_why(c, NULL, "out of memory");
        goto out;
    }
    rc = cfg_parsers[cfg_rows[i].type](c, &cfg_rows[i], (char *)c->cfg + cfg_rows[i].off,
                                       cfg_strip(v), !c->seen[i]);
    c->seen[i] = 1;
    c->line[i] = c->src.lineno;
out:
    free(v);
    if (rc != 0)
        cfg_fail(c, c->src.lineno, section, name);
    return rc == 0;
}

/* fgets() over the text; one call is one line, as cfg_prescan() made sure
 * every line fits the buffer inih passes. */
static char *cfg_reader(char *str, int num, void *stream)
{
    struct cfg_src *s = stream;
    const char *nl;
    size_t n;

    if (s->left == 0 || num < 2)
        return NULL;
    n = s->left < (size_t)num - 1 ? s->left : (size_t)num - 1;
    nl = memchr(s->p, '\n', n);
    if (nl != NULL)
        n = (size_t)(nl - s->p) + 1;
    memcpy(str, s->p, n);
    str[n] = '\0';
    s->p += n;
    s->left -= n;
    s->lineno++;
    return str;
}

/* Refuses what inih would silently get wrong: a NUL byte (ends the text
 * early) and a line longer than its buffer (cut in two). */
static int cfg_prescan(struct cfg_ctx *c, const char *text, size_t len)
{
    size_t off = 0;
    int line = 0;

    while (off < len) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t ll = nl != NULL ? (size_t)(nl - (text + off)) : len - off;

        line++;
        if (memchr(text + off, '\0', ll) != NULL) {
            cfg_errf(c->err, c->errlen, "%s:%d: NUL byte; a config file must be plain text",
                     c->name, line);
            return -1;
        }
        if (ll > CFG_MAX_LINE) {
            cfg_errf(c->err, c->errlen, "%s:%d: line is %zu bytes, over the %d this parser "
                     "reads; split a long list over several lines with the same key "
                     "(hosts = a b, then hosts = c d on the next line)",
                     c->name, line, ll, CFG_MAX_LINE);
            return -1;
        }
        off += ll + 1;
    }
    return 0;
}

/* Explains the line inih refused on its own: no '=' or no ']'. */
static void cfg_syntax(struct cfg_ctx *c, const char *text, size_t len, int line)
{
    const char *p = text, *end = text + len, *nl;
    char q[96];
    int n;

    for (n = 1; n < line && p < end; n++) {
        nl = memchr(p, '\n', (size_t)(end - p));
        p = nl != NULL ? nl + 1 : end;
    }
    nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    cfg_quote(q, sizeof(q), p, (size_t)((nl != NULL ? nl : end) - p));
    n = (int)strlen(q);
    while (n > 0 && (q[n - 1] == '?' || q[n - 1] == ' '))
        q[--n] = '\0';              /* the '\r' of a CRLF line */
    if (q[0] == '[')
        cfg_errf(c->err, c->errlen, "%s:%d: \"%s\" opens a section but has no \"]\" "
                 "(example: [proxy])", c->name, line, q);
    else
        cfg_errf(c->err, c->errlen, "%s:%d: \"%s\" is not \"key = value\", \"[section]\" "
                 "or a comment", c->name, line, q);
}

/* Checks what only the whole file decides: lists that must not end empty. */
static int cfg_check(struct cfg_ctx *c)
{
    int i;

    for (i = 0; i < CFG_NKEYS; i++) {
        const struct cfg_row *r = &cfg_rows[i];
        const void *field = (const char *)c->cfg + r->off;
        size_t n;

        if (!cfg_is_list(r->type))
            continue;
        n = r->type == CFG_T_cidrs ? ((const struct cidr_list *)field)->n
                                   : ((const struct str_list *)field)->n;
        if (n < r->lo) {
            cfg_why(c, NULL, "is empty; give at least one entry (example: %s)", r->def);
            cfg_fail(c, c->line[i], r->section, r->key);
            return -1;
        }
    }
    return 0;
}

/* ---- public ------------------------------------------------------------ */

/* Accepts uninitialised cfg and fills it with the defaults of config.def;
 * cfg then owns heap memory, released by config_free(). Returns 0, or -1
 * when out of memory (cfg is then freed and zeroed). */
int config_defaults(struct config *cfg)
{
    struct cfg_ctx c;
    int i, rc;

    memset(cfg, 0, sizeof(*cfg));
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.name = "(defaults)";
    for (i = 0; i < CFG_NKEYS; i++) {
        char *v = strdup(cfg_rows[i].def);

        if (v == NULL)
            goto fail;
        rc = cfg_parsers[cfg_rows[i].type](&c, &cfg_rows[i], (char *)cfg + cfg_rows[i].off,
                                           v, 1);
        free(v);
        if (rc != 0)
            goto fail;
    }
    return 0;
fail:
    config_free(cfg);
    return -1;
}

/* Accepts uninitialised cfg, a name for messages, and len bytes of INI
 * text (not NUL-terminated; the caller keeps it). Fills cfg with the
 * defaults, then the text's values. Returns 0 (cfg owns its memory), or
 * -1 with "name:line: [section] key: what to do" in err (cfg freed and
 * zeroed). */
int config_load_string(struct config *cfg, const char *name, const char *text, size_t len,
                       char *err, size_t errlen)
{
    struct cfg_ctx c;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.name = name != NULL ? name : "(config)";
    c.err = err;
    c.errlen = errlen;
    if (config_defaults(cfg) != 0) {
        cfg_errf(err, errlen, "%s: out of memory", c.name);
        return -1;
    }
    cfg->path = strdup(c.name);
    if (cfg->path == NULL) {
        cfg_errf(err, errlen, "%s: out of memory", c.name);
        goto fail;
    }
    if (text == NULL && len != 0) {
        cfg_errf(err, errlen, "%s: no text", c.name);
        goto fail;
    }
    if (len > CFG_MAX_FILE) {
        cfg_errf(err, errlen, "%s: over %zu bytes; is it the right file?", c.name, CFG_MAX_FILE);
        goto fail;
    }
    if (cfg_prescan(&c, text, len) != 0)
        goto fail;
    c.src.p = text;
    c.src.left = len;
    rc = ini_parse_stream(cfg_reader, &c.src, cfg_handler, &c);
    if (rc > 0 && rc != c.err_line)
        cfg_syntax(&c, text, len, rc);
    else if (rc < 0)
        cfg_errf(err, errlen, "%s: out of memory", c.name);
    if (rc != 0 || c.failed || cfg_check(&c) != 0)
        goto fail;
    return 0;
fail:
    config_free(cfg);
    return -1;
}

/* Reads the whole file, at most CFG_MAX_FILE + 1 bytes, into *out (the
 * caller frees it). Returns 0, or -1 with a message in err. */
static int cfg_read(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    char *buf = NULL, *nb;
    size_t n = 0, cap = 0, got;
    FILE *f;
    int rc = -1;

    f = fopen(path, "rb");
    if (f == NULL) {
        cfg_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    do {
        if (n == cap) {
            cap = cap != 0 ? cap * 2 : 4096;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                cfg_errf(err, errlen, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got != 0 && n <= CFG_MAX_FILE);
    if (ferror(f)) {
        cfg_errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    *out = buf;
    *outlen = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    (void)fclose(f);            /* read only: nothing to lose */
    return rc;
}

/* Accepts uninitialised cfg and a path (NULL: CONFIG_DEFAULT_PATH); see
 * config_load_string(). A file that cannot be read is an error too. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (path == NULL)
        path = CONFIG_DEFAULT_PATH;
    if (cfg_read(path, &text, &len, err, errlen) != 0) {
        memset(cfg, 0, sizeof(*cfg));
        return -1;
    }
    rc = config_load_string(cfg, path, text, len, err, errlen);
    free(text);
    return rc;
}

/* Releases what config_defaults()/config_load() allocated and zeroes cfg;
 * a zeroed cfg or NULL is fine. */
void config_free(struct config *cfg)
{
    int i;

    if (cfg == NULL)
        return;
    for (i = 0; i < CFG_NKEYS; i++)
        cfg_free_field(cfg_rows[i].type, (char *)cfg + cfg_rows[i].off);
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}
