/* dns.h — asynchronous name resolution with c-ares, driven by our loop. */
#ifndef HUBGATE_DNS_H
#define HUBGATE_DNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "base/loop.h"

struct dns;
struct dns_req;

#define DNS_MAX_ADDRS 8

struct dns_result {
    size_t n;
    struct sockaddr_storage addr[DNS_MAX_ADDRS]; /* port already set */
    socklen_t len[DNS_MAX_ADDRS];
};

/* Why a lookup failed. */
enum dns_status {
    DNS_OK = 0,
    DNS_NO_HOST,        /* the name does not exist */
    DNS_TIMEOUT,        /* no server answered in time */
    DNS_FAILED,         /* any other resolver failure */
    DNS_NO_ADDRESS,     /* the name exists but has no IPv4 or IPv6 address */
};

/* A static description of st for messages ("DNS: no such host"). */
const char *dns_strerror(enum dns_status st);

/* res is NULL on failure, with st saying why. Never called after
 * dns_cancel(), and never from inside dns_resolve(). */
typedef void (*dns_cb)(void *arg, const struct dns_result *res, enum dns_status st);

/* servers: nservers "host[:port]" strings; none for the system's resolv.conf and hosts file.
 * Returns NULL with a message in err. */
struct dns *dns_new(struct loop *loop, char *const *servers, size_t nservers,
                    char *err, size_t errlen);
void dns_free(struct dns *dns);

/* Resolves host (a name or an IP literal) to up to DNS_MAX_ADDRS
 * addresses, IPv4 first then IPv6, each with port set. Returns a request
 * handle that stays valid until cb runs or dns_cancel(), or NULL when out
 * of memory. */
struct dns_req *dns_resolve(struct dns *dns, const char *host, unsigned port,
                            dns_cb cb, void *arg);
void dns_cancel(struct dns_req *req);

#endif
