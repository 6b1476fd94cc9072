/* config_value.c — reading one value of hubgate's INI configuration:
 * durations, sizes and counts with their units and ranges, host:port,
 * paths, yes/no flags, the lists (CIDR networks, DNS names, upstream
 * links, DNS servers, users, ports), [relay] lines, plus the small string
 * and message helpers they share with
 * config.c. Nothing here knows about inih or files: config.c calls these
 * through cfg_parsers[], for the defaults and for each line of a file. */
#include "proxy/core/config_int.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/core/link.h"
#include "proxy/core/registry.h"

/* ---- messages and strings ---------------------------------------------- */

/* Copies s for a message: printable ASCII only, at most about 80 bytes, so
 * a hostile file cannot put escapes on the terminal or flood the log. */
void cfg_quote(char *out, size_t outlen, const char *s, size_t slen)
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
int cfg_why(struct cfg_ctx *c, const char *bad, const char *fmt, ...)
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

/* Cuts leading blanks, and trailing blanks and CRs, in place. */
char *cfg_trim(char *s)
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
int cfg_parse_number(struct cfg_ctx *c, const struct cfg_row *r,
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

/* "IP:port" or "[IPv6]:port" into listen_host, and listen_port. */
int cfg_parse_listen(struct cfg_ctx *c, const struct cfg_row *r,
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

/* A path, copied; replaces the previous one. Only secret and userfile
 * paths may be empty (none). */
int cfg_parse_path(struct cfg_ctx *c, const struct cfg_row *r,
                   void *field, char *value, int first)
{
    char **slot = field, *dup;

    (void)first;
    if (value[0] == '\0' && r->type == CFG_T_path)
        return cfg_why(c, NULL, "is empty; give a path (example: %s)", r->def);
    if (value[0] == '\0') {
        free(*slot);
        *slot = NULL;
        return 0;
    }
    dup = strdup(value);
    if (dup == NULL)
        return cfg_why(c, NULL, "out of memory");
    free(*slot);
    *slot = dup;
    return 0;
}

/* An optional IP:port ("" turns the feature off), kept as given. */
int cfg_parse_oaddr(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *value,
                    int first)
{
    char host[256];
    unsigned char a[16];
    uint16_t port;
    char **slot = field, *dup = NULL;

    (void)first;
    if (value[0] != '\0') {
        if (addr_parse_hostport(value, host, sizeof(host), &port) != 0 ||
            (inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1))
            return cfg_why(c, value, "is not IP:port (example: %s; empty turns it off)",
                           r->def);
        dup = strdup(value);
        if (dup == NULL)
            return cfg_why(c, NULL, "out of memory");
    }
    free(*slot);
    *slot = dup;
    return 0;
}

/* One of two words, to 0 or 1: the words of each choice type. */
static const struct {
    const char *word[2];
    const char *what;
} cfg_choices[] = {
    [CFG_T_logfmt] = {{"text", "json"}, "a log format"},
    [CFG_T_digestmode] = {{"auto", "always"}, "a digest check mode"},
};

int cfg_parse_choice(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *value,
                     int first)
{
    int i;

    (void)first;
    for (i = 0; i < 2; i++) {
        if (strcasecmp(value, cfg_choices[r->type].word[i]) == 0) {
            *(int *)field = i;
            return 0;
        }
    }
    return cfg_why(c, value, "is not %s (%s or %s)", cfg_choices[r->type].what,
                   cfg_choices[r->type].word[0], cfg_choices[r->type].word[1]);
}

/* yes/no and the usual synonyms, any case, to 1 or 0. */
int cfg_parse_flag(struct cfg_ctx *c, const struct cfg_row *r,
                   void *field, char *value, int first)
{
    static const char *const words[] = {"no", "yes", "false", "true", "off", "on", "0", "1"};
    size_t i;

    (void)first;
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasecmp(value, words[i]) == 0) {
            *(int *)field = (int)(i % 2);
            return 0;
        }
    return cfg_why(c, value, "is not yes or no (also true/false, on/off, 1/0; example: %s)",
                   r->def);
}

/* ---- lists ------------------------------------------------------------- */

/* 1 for the types whose member holds n entries. */
int cfg_is_list(enum cfg_type t)
{
    return t == CFG_T_cidrs || t == CFG_T_hosts || t == CFG_T_links || t == CFG_T_servers ||
           t == CFG_T_users || t == CFG_T_ports || t == CFG_T_tlinks || t == CFG_T_registries;
}

/* The n of a list member: struct cidr_list, port_list or str_list. */
size_t cfg_list_len(enum cfg_type t, const void *field)
{
    if (t == CFG_T_cidrs)
        return ((const struct cidr_list *)field)->n;
    if (t == CFG_T_ports)
        return ((const struct port_list *)field)->n;
    return ((const struct str_list *)field)->n;
}

/* Frees what a member of type t holds and empties it; users' passwords
 * are wiped first. */
void cfg_free_field(enum cfg_type t, void *field)
{
    struct str_list *l = field;
    size_t i;

    if (t == CFG_T_path || t == CFG_T_secret || t == CFG_T_userfile || t == CFG_T_oaddr) {
        free(*(char **)field);
        *(char **)field = NULL;
    } else if (t == CFG_T_cidrs) {
        cidr_list_free(field);
    } else if (t == CFG_T_ports) {
        free(((struct port_list *)field)->v);
        ((struct port_list *)field)->v = NULL;
        ((struct port_list *)field)->n = 0;
    } else if (cfg_is_list(t)) {
        for (i = 0; i < l->n; i++) {
            if (t == CFG_T_users)
                memset(l->v[i], 0, strlen(l->v[i]));
            free(l->v[i]);
        }
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
int cfg_dns_name(const char *s)
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
int cfg_add_host(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e)
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

/* One via entry, checked by link_parse() (relays only for links, not
 * tlinks). The entry is quoted without its credentials. The first line
 * naming a relay map is kept for cfg_check(), which wants [relay]. */
static int cfg_add_link(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e)
{
    char why[320];
    struct link *l;

    if (e[0] == '\0')
        return cfg_why(c, NULL, "has an empty entry; separate links with single commas "
                       "(example: %s)", r->def);
    if (link_parse(e, r->type == CFG_T_links, &l, why, sizeof(why)) != 0) {
        char shown[96];

        link_redact(e, shown, sizeof(shown));
        return cfg_why(c, shown, "%s", why);
    }
    if (l->kind == LINK_RELAY_MAP && c->relay_line == 0)
        c->relay_line = c->src.lineno;
    link_free(l);
    return cfg_list_add(c, r, field, e);
}

/* "name:password", from users or a users_file line (which may hold
 * blanks in the password). Never quotes a password in a message. */
int cfg_add_user(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e)
{
    struct str_list *l = field;
    char *colon = strchr(e, ':'), *p;
    size_t i, nl;

    for (p = e; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return cfg_why(c, NULL, "has an entry with a control character (not shown: it "
                           "may hold a password)");
    nl = colon != NULL ? (size_t)(colon - e) : 0;
    if (nl == 0 || strcspn(e, " \t") < nl)
        return cfg_why(c, NULL, "has an entry that is not name:password (not shown: it may "
                       "hold a password); separate entries with spaces or commas");
    *colon = '\0';
    if (colon[1] == '\0')
        return cfg_why(c, e, "has an empty password; write name:password");
    for (i = 0; i < l->n; i++)
        if (strncmp(l->v[i], e, nl) == 0 && l->v[i][nl] == ':')
            return cfg_why(c, e, "is listed twice as a user");
    *colon = ':';
    return cfg_list_add(c, r, field, e);
}

/* A port 1..65535, stored once. */
static int cfg_add_port(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e)
{
    struct port_list *l = field;
    unsigned long v = 0;
    uint16_t *nv;
    size_t i;

    for (i = 0; e[i] >= '0' && e[i] <= '9' && i < 6; i++)
        v = v * 10 + (unsigned long)(e[i] - '0');
    if (i == 0 || e[i] != '\0' || v == 0 || v > 65535)
        return cfg_why(c, e, "is not a port (1 to 65535; example: 443)");
    for (i = 0; i < l->n; i++)
        if (l->v[i] == v)
            return 0;
    if (l->n >= r->hi)
        return cfg_why(c, NULL, "has more than %llu entries", r->hi);
    nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return cfg_why(c, NULL, "out of memory");
    nv[l->n++] = (uint16_t)v;
    l->v = nv;
    return 0;
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

/* A registry known by name (registry.c), kept in its table's spelling. */
static int cfg_add_registry(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e)
{
    const struct registry *reg = registry_find(e);
    struct str_list *l = field;
    char names[256];
    size_t i;

    if (!reg) {
        registry_names(names, sizeof(names));
        return cfg_why(c, e, "is not a registry hubgate knows (known: %s); put other "
                       "registries' hosts in [intercept] hosts", names);
    }
    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i], reg->name) == 0)
            return 0;
    return cfg_list_add(c, r, l, reg->name);
}

static int (*const cfg_adders[])(struct cfg_ctx *, const struct cfg_row *, void *, char *) = {
    [CFG_T_registries] = cfg_add_registry,
    [CFG_T_cidrs] = cfg_add_cidr, [CFG_T_hosts] = cfg_add_host,
    [CFG_T_links] = cfg_add_link, [CFG_T_servers] = cfg_add_server,
    [CFG_T_users] = cfg_add_user, [CFG_T_ports] = cfg_add_port,
    [CFG_T_tlinks] = cfg_add_link,
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
int cfg_parse_list(struct cfg_ctx *c, const struct cfg_row *r,
                   void *field, char *value, int first)
{
    char *pos = value[0] != '\0' ? value : NULL, *e;
    int (*add)(struct cfg_ctx *, const struct cfg_row *, void *, char *) = NULL;

    /* config.def gives this parser only the list types */
    if ((size_t)r->type < sizeof(cfg_adders) / sizeof(cfg_adders[0]))
        add = cfg_adders[r->type];
    if (add == NULL)
        return cfg_why(c, NULL, "internal error: [%s] %s is not a list", r->section, r->key);
    if (first)
        cfg_free_field(r->type, field);
    while ((e = cfg_next(&pos, r->type == CFG_T_links || r->type == CFG_T_tlinks)) != NULL)
        if (add(c, r, field, e) != 0)
            return -1;
    return 0;
}

/* ---- [relay] ----------------------------------------------------------- */

/* "HOST = https://RELAY[:PORT]": the URL checked by link_parse() as the
 * link "relay:URL"; its reason is kept, the list of link forms is not. */
int cfg_parse_relay(struct cfg_ctx *c, char *key, char *value)
{
    static const struct cfg_row row = {"relay", "", CFG_T_hosts, 0, "", 0, 256};
    struct config *cfg = c->cfg;
    char spec[512], why[320], shown[96], *p, *dup;
    struct link *l;
    size_t i;

    if (cfg_dns_name(key) != 0)
        return cfg_why(c, NULL, "is not a host name (letters, digits, '-' and '.'; example: "
                       "registry-1.docker.io = https://hub-mirror.example.com)");
    for (p = key; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    link_redact(value, shown, sizeof(shown));
    if (strncasecmp(value, "https://", 8) != 0 || strpbrk(value, " \t") != NULL ||
        (size_t)snprintf(spec, sizeof(spec), "relay:%s", value) >= sizeof(spec))
        return cfg_why(c, value[0] != '\0' ? shown : NULL, "is not a relay URL; give "
                       "https://HOST[:PORT] (example: https://hub-mirror.example.com)");
    if (link_parse(spec, 1, &l, why, sizeof(why)) != 0) {
        p = strstr(why, "; accepted forms");
        if (p != NULL)
            *p = '\0';
        return cfg_why(c, shown, "%s; a relay URL is https://HOST[:PORT]", why);
    }
    link_free(l);
    for (i = 0; i < cfg->relay_hosts.n; i++) {
        if (strcmp(cfg->relay_hosts.v[i], key) != 0)
            continue;
        dup = strdup(value);        /* named again: the last URL wins */
        if (dup == NULL)
            return cfg_why(c, NULL, "out of memory");
        free(cfg->relay_urls.v[i]);
        cfg->relay_urls.v[i] = dup;
        return 0;
    }
    if (cfg_list_add(c, &row, &cfg->relay_urls, value) != 0)
        return -1;
    if (cfg_list_add(c, &row, &cfg->relay_hosts, key) != 0) {
        free(cfg->relay_urls.v[--cfg->relay_urls.n]);
        return -1;
    }
    return 0;
}
