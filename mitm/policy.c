/* policy.c — intercept or tunnel. */
#include "mitm/policy.h"

#include <string.h>
#include <strings.h>

int policy_host_eq(const char *host, size_t n, const char *want)
{
    if (n && host[n - 1] == '.')
        n--;
    return strlen(want) == n && strncasecmp(host, want, n) == 0;
}

int policy_intercept(const struct config *cfg, const char *host, unsigned port)
{
    size_t i, n = strlen(host);

    if (port != 443)
        return 0;
    for (i = 0; i < cfg->intercept_hosts.n; i++)
        if (policy_host_eq(host, n, cfg->intercept_hosts.v[i]))
            return 1;
    return 0;
}
