/* link.h — upstream links: how intercepted traffic leaves hubgate.
 *
 * An [upstream] via entry is "LINK" or "relay:URL via LINK":
 *   direct
 *   socks5://[user:pass@]host:port
 *   http://[user:pass@]host:port
 *   relay:https://HOST[:PORT]           one relay for every intercepted host
 *   relay                               per-host relays from the [relay] section
 * User and password are percent-decoded. A link's name (for logs and
 * metrics) never contains credentials. */
#ifndef HUBGATE_LINK_H
#define HUBGATE_LINK_H

#include <stddef.h>
#include <stdint.h>

enum link_kind { LINK_DIRECT = 0, LINK_SOCKS5, LINK_HTTP, LINK_RELAY, LINK_RELAY_MAP };

struct link {
    enum link_kind kind;
    char *name;          /* "direct", "socks5://127.0.0.1:1080", "relay:https://hub.example.com" */
    char *host;          /* proxy (SOCKS5/HTTP) or relay host; NULL for direct and relay maps */
    uint16_t port;       /* proxy port, or relay port (default 443) */
    char *user, *pass;   /* decoded credentials, NULL when none */
    struct link *via;    /* relays only: how the relay is reached; NULL = direct */
};

/* Parses one via entry (leading/trailing spaces ignored). On success
 * returns 0 and *out (free with link_free). On failure returns -1 with a
 * message in err that shows the accepted forms. allow_relay == 0 refuses
 * relay kinds (for [passthrough] via). */
int link_parse(const char *entry, int allow_relay, struct link **out,
               char *err, size_t errlen);

void link_free(struct link *l);

/* Writes entry to out (outlen bytes, NUL-terminated, cut when long) with
 * the user:pass of every "scheme://user:pass@host" shown as "***", for
 * messages about an entry that link_parse() refused. */
void link_redact(const char *entry, char *out, size_t outlen);

#endif
