/* config.h — hubgate's configuration, read from an INI file with inih.
 *
 * A struct config is filled once by config_load() and then treated as
 * read-only; a reload builds a new one and swaps it whole. */
#ifndef HUBGATE_CONFIG_H
#define HUBGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/addr.h"

struct str_list {
    char **v;
    size_t n;
};

struct config {
    char *path;                     /* file it was read from */

    /* [proxy] */
    char listen_host[256];          /* "127.0.0.1", "::1" (no brackets) */
    uint16_t listen_port;           /* 3128 */
    struct cidr_list allow;         /* 127.0.0.0/8 ::1/128 */
    unsigned handshake_timeout_ms;  /* 10s */
    unsigned header_timeout_ms;     /* 30s */
    unsigned idle_timeout_ms;       /* 120s */
    unsigned drain_timeout_ms;      /* 10s */
    size_t max_header_bytes;        /* 64KiB */
    unsigned max_connections;       /* 4096 */

    /* [ca] */
    char *ca_dir;                   /* /var/lib/hubgate */

    /* [intercept] */
    struct str_list intercept_hosts; /* lower-cased, validated names */

    /* [upstream] */
    struct str_list via;            /* link entries, in order; "direct" */
    char *ca_file;                  /* /etc/ssl/certs/ca-certificates.crt */
    unsigned connect_timeout_ms;    /* 10s */
    unsigned read_timeout_ms;       /* 300s */

    /* [dns] */
    struct str_list dns_servers;    /* empty: resolv.conf and /etc/hosts */
};

#define CONFIG_DEFAULT_PATH "/etc/hubgate/hubgate.ini"

/* Fills cfg with the defaults listed above (lists included). */
int config_defaults(struct config *cfg);

/* Reads path over the defaults. On error returns -1 and writes a message
 * naming file, line and key ("conf.ini:12: [proxy] listen: ...") to err;
 * cfg is then freed and must not be used. Returns 0 on success.
 * config_load() fills the defaults itself: pass an uninitialised cfg, not
 * one from config_defaults() (that one would leak). */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* The same over len bytes of INI text (need not be NUL-terminated; the
 * caller keeps it), name standing for the file in messages and cfg->path.
 * For tests and fuzzing. */
int config_load_string(struct config *cfg, const char *name, const char *text,
                       size_t len, char *err, size_t errlen);

/* Releases everything config_defaults()/config_load() allocated. */
void config_free(struct config *cfg);

#endif
