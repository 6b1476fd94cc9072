/* config.h — hubgate's configuration, read from an INI file with inih.
 *
 * A struct config is filled once by config_load() and then treated as
 * read-only; a reload builds a new one and swaps it whole. */
#ifndef HUBGATE_CONFIG_H
#define HUBGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"

struct str_list {
    char **v;
    size_t n;
};

struct port_list {
    uint16_t *v;
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
    struct str_list users;          /* "name:password" from users, then the lines
                                     * of users_file; empty: no proxy auth.
                                     * Secrets: never log them */
    char *users_file;               /* NULL (the default ""): none */
    struct cidr_list deny_targets;  /* 169.254.0.0/16 fe80::/10: targets refused */
    struct port_list connect_ports; /* CONNECT ports allowed; empty: any */

    /* [ca] */
    char *ca_dir;                   /* /var/lib/hubgate */

    /* [intercept] */
    struct str_list intercept_hosts; /* lower-cased, validated names; with the
                                      * hosts of every registry below */
    struct str_list intercept_registries; /* known registry names (registry.h) */
    int verify_digest_always;       /* verify_digest = auto (0): blobs are
                                     * hashed when a relay is among the links;
                                     * always (1): every blob */

    /* [upstream] */
    struct str_list via;            /* link entries, in order; "direct" */
    char *ca_file;                  /* /etc/ssl/certs/ca-certificates.crt */
    unsigned connect_timeout_ms;    /* 10s */
    unsigned read_timeout_ms;       /* 300s */
    unsigned retry_after_cap_ms;    /* 60s: longest Retry-After waited for */
    int follow_redirects;           /* 1 (yes) or 0 */
    char *hub_credentials;          /* NULL (the default ""): anonymous pulls */
    char *credentials;              /* a docker config.json (0600), or NULL */
    struct str_list cred_registries; /* registry names from it ... */
    struct str_list cred_auths;     /* ... and their base64 user:secret, read at load */
    char *hub_user, *hub_token;     /* that file's "user:token", read at load
                                     * time; NULL without it. Secrets: never
                                     * log them */
    unsigned segments;              /* 4: parallel ranged fetches of one large
                                     * blob; 1: one connection (off) */
    size_t segment_min;             /* 16MiB: smallest blob fetched in segments */
    size_t segment_size;            /* 8MiB: bytes per ranged request */
    int segments_across_links;      /* 0 (no): every segment on the request's
                                     * link; 1: spread over healthy via links */

    /* [admin] */
    char *admin_listen;             /* 127.0.0.1:3129; NULL: no admin endpoint */

    /* [log] */
    int log_json;                   /* format = text (0) or json (1) */

    /* [passthrough] */
    struct str_list passthrough_via; /* links for tunnels, in order; "direct";
                                      * never a relay */

    /* [relay] HOST = https://RELAY[:PORT], for "relay" in [upstream] via */
    struct str_list relay_hosts;    /* lower-cased, validated names, once each */
    struct str_list relay_urls;     /* relay_urls.v[i] serves relay_hosts.v[i] */

    /* [cache] */
    char *cache_dir;                /* NULL (the default ""): no cache */
    size_t cache_max_size;          /* 10GiB: bytes of blobs kept */

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
