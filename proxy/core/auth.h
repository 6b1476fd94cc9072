/* auth.h — who may use the proxy: Proxy-Authorization against [proxy] users. */
#ifndef HUBGATE_AUTH_H
#define HUBGATE_AUTH_H

#include <stddef.h>

#include "proxy/core/config.h"

/* Returns 1 when cfg requires no proxy authentication, or value (the
 * Proxy-Authorization header value, n bytes; NULL when absent) carries
 * Basic credentials of a configured user. Compares in constant time. */
int auth_ok(const struct config *cfg, const char *value, size_t n);

#endif
