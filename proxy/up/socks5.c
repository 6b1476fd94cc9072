/* socks5.c — SOCKS5 client codec (RFC 1928, RFC 1929 username/password).
 *
 * Each server message is taken from the input buffer only once it is
 * complete, so bytes may arrive in any pieces; a failure that the first
 * bytes already show (wrong version, refusal) is reported without waiting
 * for the rest. Nothing past the final reply is consumed: it belongs to
 * the tunnel. */
#include "proxy/up/socks5.h"

#include <string.h>

#define SOCKS5_VER 0x05
#define SOCKS5_AUTH_VER 0x01        /* RFC 1929 subnegotiation version */
#define SOCKS5_M_NONE 0x00
#define SOCKS5_M_USERPASS 0x02
#define SOCKS5_M_REFUSED 0xff
#define SOCKS5_CMD_CONNECT 0x01
#define SOCKS5_ATYP_V4 0x01
#define SOCKS5_ATYP_NAME 0x03
#define SOCKS5_ATYP_V6 0x04

/* REP codes 1..8 of RFC 1928 section 6. */
static const char *const socks5_rep_msg[] = {
    [1] = "SOCKS5: general failure of the proxy",
    [2] = "SOCKS5: connection not allowed by the proxy's rules",
    [3] = "SOCKS5: network unreachable from the proxy",
    [4] = "SOCKS5: host unreachable from the proxy",
    [5] = "SOCKS5: connection refused by the proxy's target",
    [6] = "SOCKS5: TTL expired on the way to the target",
    [7] = "SOCKS5: proxy does not support CONNECT",
    [8] = "SOCKS5: proxy does not support host names as targets",
};

static int socks5_copy(char *dst, size_t dstlen, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;

    if (n >= dstlen)
        return -1;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
    return 0;
}

/* Accepts host (1..255 bytes), port (not 0), and user/pass (NULL or up to
 * 255 bytes; a non-empty user selects username/password). Copies them
 * into s. Returns 0, or -1 when a field is empty or too long. */
int socks5_init(struct socks5 *s, const char *host, uint16_t port,
                const char *user, const char *pass)
{
    memset(s, 0, sizeof(*s));
    if (host == NULL || host[0] == '\0' || port == 0)
        goto fail;
    if (socks5_copy(s->host, sizeof(s->host), host) != 0 ||
        socks5_copy(s->user, sizeof(s->user), user) != 0 ||
        socks5_copy(s->pass, sizeof(s->pass), pass) != 0)
        goto fail;
    s->port = port;
    s->state = SOCKS5_S_GREETING;
    return 0;
fail:
    memset(s, 0, sizeof(*s));
    s->state = SOCKS5_S_FAILED;
    return -1;
}

/* Accepts an initialised s; appends VER, NMETHODS, METHODS to out: no-auth,
 * plus username/password when a user is set. Returns 0, or -1 when out
 * has no room (or s failed). */
int socks5_start(struct socks5 *s, struct buf *out)
{
    uint8_t msg[4] = {SOCKS5_VER, 1, SOCKS5_M_NONE, SOCKS5_M_USERPASS};

    if (s->state == SOCKS5_S_FAILED)
        return -1;
    if (s->user[0] != '\0')
        msg[1] = 2;
    if (buf_append(out, msg, (size_t)2 + msg[1]) != 0)
        return -1;
    s->state = SOCKS5_S_GREETING;
    return 0;
}

/* The RFC 1929 request: VER ULEN UNAME PLEN PASSWD. */
static int socks5_send_auth(struct socks5 *s, struct buf *out)
{
    uint8_t msg[3 + 255 + 255];
    size_t ul = strlen(s->user), pl = strlen(s->pass), n = 0;
    int rc;

    msg[n++] = SOCKS5_AUTH_VER;
    msg[n++] = (uint8_t)ul;
    memcpy(msg + n, s->user, ul);
    n += ul;
    msg[n++] = (uint8_t)pl;
    memcpy(msg + n, s->pass, pl);
    n += pl;
    rc = buf_append(out, msg, n);
    memset(msg, 0, sizeof(msg));    /* no password left on the stack */
    return rc;
}

/* The CONNECT request: VER CMD RSV ATYP=3 LEN NAME PORT. */
static int socks5_send_connect(struct socks5 *s, struct buf *out)
{
    uint8_t msg[5 + 255 + 2];
    size_t hl = strlen(s->host), n = 0;

    msg[n++] = SOCKS5_VER;
    msg[n++] = SOCKS5_CMD_CONNECT;
    msg[n++] = 0;
    msg[n++] = SOCKS5_ATYP_NAME;
    msg[n++] = (uint8_t)hl;
    memcpy(msg + n, s->host, hl);
    n += hl;
    msg[n++] = (uint8_t)(s->port >> 8);
    msg[n++] = (uint8_t)(s->port & 0xff);
    return buf_append(out, msg, n);
}

/* Method choice: VER METHOD. Returns 0 (more bytes), 2 (handled) or -1. */
static int socks5_on_method(struct socks5 *s, struct buf *in, struct buf *out,
                            const char **err)
{
    const uint8_t *p = (const uint8_t *)buf_data(in);

    if (in->len >= 1 && p[0] != SOCKS5_VER) {
        *err = "SOCKS5: not a SOCKS5 proxy (wrong version in its answer)";
        return -1;
    }
    if (in->len < 2)
        return 0;
    if (p[1] == SOCKS5_M_REFUSED) {
        *err = s->user[0] != '\0' ? "SOCKS5: proxy refused our username/password method"
                                  : "SOCKS5: proxy requires authentication";
        return -1;
    }
    if (p[1] == SOCKS5_M_USERPASS && s->user[0] != '\0') {
        buf_consume(in, 2);
        if (socks5_send_auth(s, out) != 0)
            goto room;
        s->state = SOCKS5_S_AUTH;
        return 2;
    }
    if (p[1] != SOCKS5_M_NONE) {
        *err = "SOCKS5: proxy chose an authentication method we did not offer";
        return -1;
    }
    buf_consume(in, 2);
    if (socks5_send_connect(s, out) != 0)
        goto room;
    s->state = SOCKS5_S_CONNECT;
    return 2;
room:
    *err = "SOCKS5: no room for our request";
    return -1;
}

/* Username/password status: VER STATUS. */
static int socks5_on_auth(struct socks5 *s, struct buf *in, struct buf *out,
                          const char **err)
{
    const uint8_t *p = (const uint8_t *)buf_data(in);

    if (in->len >= 1 && p[0] != SOCKS5_AUTH_VER) {
        *err = "SOCKS5: malformed answer to our username/password";
        return -1;
    }
    if (in->len < 2)
        return 0;
    if (p[1] != 0) {
        *err = "SOCKS5: proxy refused our username or password";
        return -1;
    }
    buf_consume(in, 2);
    if (socks5_send_connect(s, out) != 0) {
        *err = "SOCKS5: no room for our request";
        return -1;
    }
    s->state = SOCKS5_S_CONNECT;
    return 2;
}

/* Reply: VER REP RSV ATYP BND.ADDR BND.PORT, BND.ADDR by ATYP. */
static int socks5_on_reply(struct socks5 *s, struct buf *in, const char **err)
{
    const uint8_t *p = (const uint8_t *)buf_data(in);
    size_t need;

    if (in->len >= 1 && p[0] != SOCKS5_VER) {
        *err = "SOCKS5: malformed reply to CONNECT (wrong version)";
        return -1;
    }
    if (in->len < 2)
        return 0;
    if (p[1] != 0) {
        s->rep = p[1];
        *err = p[1] <= 8 ? socks5_rep_msg[p[1]] : "SOCKS5: proxy failed with an unknown code";
        return -1;
    }
    if (in->len < 4)
        return 0;
    if (p[3] == SOCKS5_ATYP_V4) {
        need = 4 + 4 + 2;
    } else if (p[3] == SOCKS5_ATYP_V6) {
        need = 4 + 16 + 2;
    } else if (p[3] == SOCKS5_ATYP_NAME) {
        if (in->len < 5)
            return 0;
        need = 4 + 1 + (size_t)p[4] + 2;
    } else {
        *err = "SOCKS5: malformed reply to CONNECT (unknown address type)";
        return -1;
    }
    if (in->len < need)
        return 0;
    buf_consume(in, need);
    s->rep = 0;
    s->state = SOCKS5_S_DONE;
    return 1;
}

/* Accepts the bytes the server sent so far in in; consumes complete
 * handshake messages and appends our answers to out. Returns 1 when the
 * tunnel is open (later bytes stay in in), 0 when more bytes are needed,
 * -1 with a static *err on failure (s is then failed for good). */
int socks5_input(struct socks5 *s, struct buf *in, struct buf *out, const char **err)
{
    int rc = 0;

    *err = NULL;
    do {
        if (s->state == SOCKS5_S_DONE)
            return 1;
        if (s->state == SOCKS5_S_FAILED) {
            *err = "SOCKS5: handshake already failed";
            return -1;
        }
        if (in->area == NULL || in->len == 0)
            return 0;
        if (s->state == SOCKS5_S_GREETING)
            rc = socks5_on_method(s, in, out, err);
        else if (s->state == SOCKS5_S_AUTH)
            rc = socks5_on_auth(s, in, out, err);
        else
            rc = socks5_on_reply(s, in, err);
    } while (rc == 2);
    if (rc < 0)
        s->state = SOCKS5_S_FAILED;
    return rc;
}
