/* socks5.h — SOCKS5 client codec (RFC 1928, with RFC 1929 username and
 * password): pure encode/decode over struct buf, no I/O.
 *
 * The target is always sent as a host NAME (ATYP 3), never as an address
 * resolved locally: local answers for the Docker Hub names may be
 * poisoned, the SOCKS server's are not. */
#ifndef HUBGATE_SOCKS5_H
#define HUBGATE_SOCKS5_H

#include <stdint.h>

#include "base/buf.h"

enum socks5_state {
    SOCKS5_S_GREETING = 0,  /* greeting sent, waiting for the method choice */
    SOCKS5_S_AUTH,          /* username/password sent, waiting for status */
    SOCKS5_S_CONNECT,       /* CONNECT sent, waiting for the reply */
    SOCKS5_S_DONE,
    SOCKS5_S_FAILED
};

struct socks5 {
    enum socks5_state state;
    char host[256];
    uint16_t port;
    char user[256], pass[256];  /* empty: offer no-auth only */
    uint8_t rep;                /* the server's REP code once replied */
};

/* Prepares a handshake to host:port (host 1..255 bytes); user/pass may be
 * NULL. Returns 0, or -1 when a field is too long. */
int socks5_init(struct socks5 *s, const char *host, uint16_t port,
                const char *user, const char *pass);

/* Appends the greeting to out. Returns 0 or -1 (no room). */
int socks5_start(struct socks5 *s, struct buf *out);

/* Consumes what the server sent from in (only the bytes of the handshake;
 * anything after the final reply stays in in) and appends our next
 * message to out. Returns 1 when the tunnel is open, 0 when more bytes are
 * needed, -1 on failure with *err a static description (e.g. "SOCKS5:
 * connection refused by the proxy's target", "SOCKS5: proxy requires
 * authentication"). */
int socks5_input(struct socks5 *s, struct buf *in, struct buf *out, const char **err);

#endif
