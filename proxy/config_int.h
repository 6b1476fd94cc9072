/* config_int.h — internals shared by config.c (the inih side and the
 * public functions) and config_value.c (the value parsers and the message
 * helpers they use). Only proxy/config*.c and their unit test include
 * this; everyone else uses proxy/config.h. */
#ifndef HUBGATE_CONFIG_INT_H
#define HUBGATE_CONFIG_INT_H

#include <stddef.h>

#include "proxy/config.h"

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
/* path: a non-empty string, copied. */
int cfg_parse_path(struct cfg_ctx *c, const struct cfg_row *r,
                   void *field, char *value, int first);
/* cidrs, hosts, links, servers: entries appended; first replaces. */
int cfg_parse_list(struct cfg_ctx *c, const struct cfg_row *r,
                   void *field, char *value, int first);

/* Returns 1 when a member of type t is a list (n entries), else 0. */
int cfg_is_list(enum cfg_type t);

/* Frees what a member of type t holds at field and empties it; an empty
 * member is fine. */
void cfg_free_field(enum cfg_type t, void *field);

#endif
