/* up_error.c — the words, status and metric reason of upstream failures. */
#include "proxy/up/up_error.h"

#include <stdio.h>

const char *up_error_str(const struct up_error *e, char *out, size_t outlen)
{
    if (e->kind == UP_ERR_STATUS)
        snprintf(out, outlen, "answered %d", e->status);
    else
        snprintf(out, outlen, "%s%s", e->what ? e->what : "", e->detail ? e->detail : "");
    return out;
}

int up_error_http_status(enum up_err kind)
{
    switch (kind) {
    case UP_ERR_POLICY:
        return 403;
    case UP_ERR_NONE:
    case UP_ERR_NOMEM:
    case UP_ERR_DNS:
    case UP_ERR_CONNECT:
    case UP_ERR_TIMEOUT:
    case UP_ERR_PROXY:
    case UP_ERR_TLS:
    case UP_ERR_ROUTE:
    case UP_ERR_STATUS:
    case UP_ERR_CLOSED:
        break;
    }
    return 502;
}

const char *up_error_reason(enum up_err kind)
{
    switch (kind) {
    case UP_ERR_DNS:     return "dns";
    case UP_ERR_CONNECT: return "connect";
    case UP_ERR_TIMEOUT: return "timeout";
    case UP_ERR_PROXY:   return "handshake";
    case UP_ERR_TLS:     return "tls";
    case UP_ERR_POLICY:  return "policy";
    case UP_ERR_STATUS:  return "status";
    case UP_ERR_NONE:
    case UP_ERR_NOMEM:
    case UP_ERR_ROUTE:
    case UP_ERR_CLOSED:
        break;
    }
    return "other";
}
