/* config.c — hubgate's INI configuration: defaults, parsing, validation.
 *
 * The keys live in config.def: one CFG() row per key gives its section,
 * name, value type, struct member, default and range. Defaults go through
 * the same parsers as the file, so a default is always a value the file
 * would accept. The parsers, one per value type, are in config_value.c;
 * this file holds the table, the inih side and the public functions.
 *
 * The [relay] section has no rows: any host name is a key there. Files
 * named by secret and userfile keys (hub_credentials, users_file) are
 * read once the text is parsed, by config_secret.c.
 *
 * inih r55 cuts lines at INI_MAX_LINE bytes and tells us about a handler
 * error only by returning its line number. So the text is checked first
 * (long lines, NUL bytes) and fed to ini_parse_stream() by a reader that
 * counts lines; the handler keeps the first error with that line. */
#include "proxy/core/config.h"
#include "proxy/core/config_int.h"
#include "proxy/core/links.h"
#include "proxy/core/registry.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAX_FILE ((size_t)1024 * 1024)
/* inih reads a line with fgets(buf, INI_MAX_LINE): at most 199 bytes, the
 * '\n' included, so a line may hold 198 bytes before its newline. */
#define CFG_MAX_LINE (INI_MAX_LINE - 2)

static const struct cfg_row cfg_rows[CFG_NKEYS] = {
#define CFG(sec, key, type, member, def, lo, hi) \
    {#sec, #key, CFG_T_##type, offsetof(struct config, member), def, lo, hi},
#include "proxy/core/config.def"
#undef CFG
};

static int (*const cfg_parsers[])(struct cfg_ctx *, const struct cfg_row *, void *,
                                  char *, int) = {
    [CFG_T_listen] = cfg_parse_listen,   [CFG_T_cidrs] = cfg_parse_list,
    [CFG_T_duration] = cfg_parse_number, [CFG_T_size] = cfg_parse_number,
    [CFG_T_count] = cfg_parse_number,    [CFG_T_path] = cfg_parse_path,
    [CFG_T_hosts] = cfg_parse_list,      [CFG_T_links] = cfg_parse_list,
    [CFG_T_servers] = cfg_parse_list,    [CFG_T_flag] = cfg_parse_flag,
    [CFG_T_users] = cfg_parse_list,      [CFG_T_ports] = cfg_parse_list,
    [CFG_T_tlinks] = cfg_parse_list,     [CFG_T_secret] = cfg_parse_path,
    [CFG_T_userfile] = cfg_parse_path,   [CFG_T_oaddr] = cfg_parse_oaddr,
    [CFG_T_logfmt] = cfg_parse_choice,    [CFG_T_digestmode] = cfg_parse_choice,
    [CFG_T_registries] = cfg_parse_list,
};

static void cfg_errf(char *err, size_t errlen, const char *fmt, ...)
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
    if (!known) { /* [relay] has no rows: its keys are host names */
        size_t n = strlen(list);

        snprintf(list + n, sizeof(list) - n, " [relay]");
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
    if (strcmp(section, "relay") == 0) {
        char *k = strdup(name);

        v = value != NULL ? strdup(value) : NULL;
        if (k == NULL || v == NULL)
            cfg_why(c, NULL, value != NULL ? "out of memory"
                                            : "has no value; write host = https://relay");
        else
            rc = cfg_parse_relay(c, cfg_trim(k), cfg_strip(v));
        free(k);
        goto out;
    }
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

/* ---- whole-file checks ------------------------------------------------- */

/* Adds the hosts of every [intercept] registries entry to the intercepted
 * hosts; the union must not be empty. */
static int cfg_add_registry_hosts(struct cfg_ctx *c)
{
    const struct cfg_row *r = &cfg_rows[CFG_K_intercept_hosts];
    struct config *cfg = c->cfg;
    size_t i, j;

    for (i = 0; i < cfg->intercept_registries.n; i++) {
        const struct registry *reg = registry_find(cfg->intercept_registries.v[i]);

        for (j = 0; reg && j < REGISTRY_MAX_HOSTS && reg->hosts[j]; j++) {
            char host[256];

            snprintf(host, sizeof(host), "%s", reg->hosts[j]);
            if (cfg_add_host(c, r, &cfg->intercept_hosts, host) != 0) {
                cfg_fail(c, c->line[CFG_K_intercept_registries], "intercept", "registries");
                return -1;
            }
        }
    }
    if (cfg->intercept_hosts.n == 0) {
        cfg_why(c, NULL, "is empty and so is [intercept] registries: nothing would be "
                "intercepted; name hosts or registries (example: hosts = "
                "registry-1.docker.io auth.docker.io, or registries = docker.io ghcr.io)");
        cfg_fail(c, c->line[CFG_K_intercept_hosts], "intercept", "hosts");
        return -1;
    }
    return 0;
}

/* Every intercepted host needs a link in via that can carry it. */
static int cfg_check_links(struct cfg_ctx *c)
{
    struct links l;
    char why[400];
    int rc;

    memset(&l, 0, sizeof(l));
    if (links_init(&l, &c->cfg->via, 1, why, sizeof(why)) != 0)
        return 0; /* each entry was checked as it was read */
    rc = links_check_hosts(&l, c->cfg, why, sizeof(why));
    links_free(&l);
    if (rc == 0)
        return 0;
    cfg_why(c, NULL, "%s", why);
    cfg_fail(c, c->line[CFG_K_upstream_via], "upstream", "via");
    return -1;
}

/* Checks what only the whole file decides: lists that must not end empty,
 * a relay map with nothing to map, and the files of secrets. */
static int cfg_check(struct cfg_ctx *c)
{
    int i;

    if (cfg_add_registry_hosts(c) != 0)
        return -1;
    for (i = 0; i < CFG_NKEYS; i++) {
        const struct cfg_row *r = &cfg_rows[i];

        if (cfg_is_list(r->type) && cfg_list_len(r->type, (char *)c->cfg + r->off) < r->lo) {
            cfg_why(c, NULL, "is empty; give at least one entry (example: %s)", r->def);
            cfg_fail(c, c->line[i], r->section, r->key);
            return -1;
        }
    }
    if (c->relay_line != 0 && c->cfg->relay_hosts.n == 0) {
        cfg_why(c, "relay", "needs a [relay] section that maps hosts to relays (example: "
                "[relay] then registry-1.docker.io = https://hub-mirror.example.com)");
        cfg_fail(c, c->relay_line, "upstream", "via");
        return -1;
    }
    if (cfg_check_links(c) != 0)
        return -1;
    if (c->cfg->users_file != NULL && cfg_load_users(c, &cfg_rows[CFG_K_proxy_users]) != 0) {
        cfg_fail(c, c->line[CFG_K_proxy_users_file], "proxy", "users_file");
        return -1;
    }
    if (c->cfg->hub_credentials != NULL && cfg_load_hub(c) != 0) {
        cfg_fail(c, c->line[CFG_K_upstream_hub_credentials], "upstream", "hub_credentials");
        return -1;
    }
    if (c->cfg->credentials != NULL && cfg_load_credentials(c) != 0) {
        cfg_fail(c, c->line[CFG_K_upstream_credentials], "upstream", "credentials");
        return -1;
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
    cfg_free_field(CFG_T_hosts, &cfg->relay_hosts);
    cfg_free_field(CFG_T_hosts, &cfg->relay_urls);
    cfg_free_field(CFG_T_hosts, &cfg->cred_registries);
    cfg_free_field(CFG_T_users, &cfg->cred_auths); /* wiped before freed */
    if (cfg->hub_token != NULL)
        memset(cfg->hub_token, 0, strlen(cfg->hub_token));
    free(cfg->hub_user);
    free(cfg->hub_token);
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}
