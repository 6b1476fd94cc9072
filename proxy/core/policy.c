/* policy.c — intercept or tunnel. */
#include "proxy/core/policy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "base/uri.h"

const char *policy_intercept(const struct config *cfg, const char *host, unsigned port)
{
    size_t i, n = strlen(host);

    if (port != 443)
        return NULL;
    for (i = 0; i < cfg->intercept_hosts.n; i++)
        if (uri_host_eq(host, n, cfg->intercept_hosts.v[i]))
            return cfg->intercept_hosts.v[i];
    return NULL;
}

int policy_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

static int sa_any(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

static int cidr_is_any(const struct cidr *c)
{
    size_t n = c->family == AF_INET ? 4 : 16, i;

    for (i = 0; i < n; i++)
        if (c->addr[i])
            return 0;
    return 1;
}

/* Returns 1 when addr is one of this host's interface addresses. */
static int is_local_addr(const struct sockaddr *sa)
{
    struct ifaddrs *ifs, *i;
    int found = 0;

    if (getifaddrs(&ifs) != 0)
        return 1; /* cannot tell: refuse rather than loop */
    for (i = ifs; i && !found; i = i->ifa_next) {
        struct cidr one;
        struct cidr_list l = {&one, 1};
        char txt[64];

        if (!i->ifa_addr || i->ifa_addr->sa_family != sa->sa_family)
            continue;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, txt, sizeof(txt));
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, txt,
                      sizeof(txt));
        if (cidr_parse(txt, &one) == 0 && cidr_list_match(&l, sa))
            found = 1;
    }
    freeifaddrs(ifs);
    return found;
}

/* Returns 1 when sa is hubgate's own listening socket. */
static int is_self(const struct config *cfg, const struct sockaddr *sa)
{
    struct cidr self;
    struct cidr_list one = {&self, 1};
    unsigned port;

    if (sa->sa_family == AF_INET)
        port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    else if (sa->sa_family == AF_INET6)
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    else
        return 0;
    if (port != cfg->listen_port)
        return 0;
    if (sa_any(sa))
        return 1;
    if (cidr_parse(cfg->listen_host, &self) != 0)
        return 1;
    if (cidr_is_any(&self))  /* a wildcard listener answers on every local address */
        return policy_is_loopback(sa) || is_local_addr(sa);
    return cidr_list_match(&one, sa);
}

int policy_dest_ok(const struct config *cfg, const struct sockaddr *sa, int client_loopback,
                   const char **why)
{
    if (is_self(cfg, sa)) {
        *why = "that is hubgate itself (a proxy loop)";
        return 0;
    }
    if (cidr_list_match(&cfg->deny_targets, sa)) {
        *why = "destination is in [proxy] deny_targets";
        return 0;
    }
    if (sa_any(sa) || (policy_is_loopback(sa) && !client_loopback)) {
        *why = "loopback destinations are only for clients on this host";
        return 0;
    }
    return 1;
}

int policy_port_ok(const struct config *cfg, unsigned port)
{
    size_t i;

    if (cfg->connect_ports.n == 0)
        return 1;
    for (i = 0; i < cfg->connect_ports.n; i++)
        if (cfg->connect_ports.v[i] == port)
            return 1;
    return 0;
}
