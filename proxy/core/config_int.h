/* config_int.h — internals shared by config.c (the inih side and the
 * public functions) and config_value.c (the value parsers and the message
 * helpers they use). Only proxy/config*.c and their unit test include
 * this; everyone else uses proxy/core/config.h. */
#ifndef HUBGATE_CONFIG_INT_H
#define HUBGATE_CONFIG_INT_H

#include <stddef.h>

#include "proxy/core/config.h"

enum cfg_type {
    CFG_T_listen, CFG_T_cidrs, CFG_T_duration, CFG_T_size, CFG_T_count,
    CFG_T_path, CFG_T_hosts, CFG_T_links, CFG_T_servers, CFG_T_flag,
    CFG_T_users, CFG_T_ports, CFG_T_tlinks, CFG_T_secret, CFG_T_userfile,
    CFG_T_oaddr, CFG_T_logfmt, CFG_T_digestmode, CFG_T_registries
};

enum cfg_key {
#define CFG(sec, key, type, member, def, lo, hi) CFG_K_##sec##_##key,
#include "proxy/core/config.def"
#undef CFG
    CFG_NKEYS
};

/* One row of config.def. */
struct cfg_row {
    const char *section;
    const char *key;
    enum cfg_type type;
    size_t off;                     /* offsetof(struct config, member) */
    const char *def;
    unsigned long long lo, hi;
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
    int relay_line;                 /* first via line with "relay", or 0 */
    char why[384];                  /* the current error, after "key: " */
};

/* ---- config_value.c: messages and strings ------------------------------ */

/* Accepts slen bytes at s (need not be NUL-terminated) and writes to out
 * (outlen bytes, at least 4; callers pass 96) a NUL-terminated copy for a
 * message: printable ASCII only, others as '?', at most about 80 bytes,
 * "..." when cut. Takes no ownership. */
void cfg_quote(char *out, size_t outlen, const char *s, size_t slen);

/* Sets c->why to "\"bad\" " (when bad is not NULL, quoted by cfg_quote())
 * plus fmt. Takes no ownership. Returns -1, so parsers can return it. */
int cfg_why(struct cfg_ctx *c, const char *bad, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Accepts a writable NUL-terminated s; cuts trailing blanks and '\r' in
 * place and returns s past its leading blanks. */
char *cfg_trim(char *s);

/* Returns 0 when the NUL-terminated s is a DNS name: [A-Za-z0-9.-],
 * labels of 1..63 bytes that neither start nor end with '-', 253 bytes at
 * most; else -1. */
int cfg_dns_name(const char *s);

/* ---- config_value.c: values -------------------------------------------- */

/* Every parser accepts the load c, the row r of the key, field (the
 * member of c->cfg that r names), value (a writable, trimmed copy that the
 * parser may cut up; the caller keeps it) and first (1 on the key's first
 * line in the file, or for a default). It stores what it parsed in field,
 * which then owns any heap memory (released by cfg_free_field()), and
 * returns 0, or -1 with the reason in c->why. */

/* listen: "IP:port" or "[IPv6]:port"; also fills c->cfg->listen_port. */
int cfg_parse_listen(struct cfg_ctx *c, const struct cfg_row *r,
                     void *field, char *value, int first);
/* duration (to ms), size (to bytes), count: digits and a unit, in range. */
int cfg_parse_number(struct cfg_ctx *c, const struct cfg_row *r,
                     void *field, char *value, int first);
/* path: a non-empty string, copied. secret, userfile: the same, but ""
 * means none (NULL); config_secret.c reads the file. */
int cfg_parse_path(struct cfg_ctx *c, const struct cfg_row *r,
                   void *field, char *value, int first);
/* oaddr: "" (off) or IP:port, kept as a string. */
int cfg_parse_oaddr(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *value,
                    int first);
/* Two-word choices, to an int 0 or 1: logfmt (text, json), digestmode
 * (auto, always). */
int cfg_parse_choice(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *value,
                     int first);

/* flag: yes/no, true/false, on/off, 1/0 (any case) to an int 1 or 0. */
int cfg_parse_flag(struct cfg_ctx *c, const struct cfg_row *r,
                   void *field, char *value, int first);
/* cidrs, hosts, links, tlinks, servers, users, ports: entries appended;
 * first replaces. */
int cfg_parse_list(struct cfg_ctx *c, const struct cfg_row *r,
                   void *field, char *value, int first);

/* users: adds one "name:password" to field (a str_list) within r's limit;
 * also used for the lines of users_file. */
int cfg_add_user(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e);

/* One host name for a hosts list: checked, lower-cased (in place), kept
 * once. */
int cfg_add_host(struct cfg_ctx *c, const struct cfg_row *r, void *field, char *e);

/* One [relay] line: key a host name (stored lower-cased), value an
 * https://HOST[:PORT] URL; a host named again gets the new URL. Accepts
 * writable key and value (the caller keeps them). Returns 0, or -1 with
 * the reason in c->why. */
int cfg_parse_relay(struct cfg_ctx *c, char *key, char *value);

/* ---- config_secret.c: files of secrets --------------------------------- */

/* After the whole text, when c->cfg->users_file is set: appends its
 * "name:password" lines to c->cfg->users (users is that key's row).
 * Returns 0, or -1 with the reason in c->why. */
int cfg_load_users(struct cfg_ctx *c, const struct cfg_row *users);

/* After the whole text, when c->cfg->hub_credentials is set: fills
 * hub_user and hub_token from its one line. Returns 0, or -1 with the
 * reason in c->why. */
int cfg_load_hub(struct cfg_ctx *c);

/* Reads path, which must be a regular file of mode 0600 or 0400, into a
 * NUL-terminated heap copy (the caller wipes and frees it). what says
 * what the file holds, for messages. Returns NULL with c->why set. */
char *cfg_read_secret(struct cfg_ctx *c, const char *path, const char *what);

/* Reads [upstream] credentials (a docker config.json) into
 * cfg->cred_registries / cred_auths. 0, or -1 with c->why set. */
int cfg_load_credentials(struct cfg_ctx *c);

/* Returns 1 when a member of type t is a list (n entries), else 0. */
int cfg_is_list(enum cfg_type t);

/* Returns the number of entries of a list member of type t at field. */
size_t cfg_list_len(enum cfg_type t, const void *field);

/* Frees what a member of type t holds at field and empties it; an empty
 * member is fine. */
void cfg_free_field(enum cfg_type t, void *field);

#endif
