/* addr.h — addresses as the config and the policy see them: host:port
 * strings, CIDR networks and their matching. Pure functions, no I/O. */
#ifndef HUBGATE_ADDR_H
#define HUBGATE_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
    int family;          /* AF_INET or AF_INET6 */
    uint8_t addr[16];    /* network address, host bits cleared */
    unsigned prefix;     /* 0..32 or 0..128 */
};

struct cidr_list {
    struct cidr *v;
    size_t n;
};

/* Parses "host:port", "[v6]:port". host is copied into host (NUL-terminated,
 * brackets removed). Returns 0, or -1 when malformed, port is 0 or > 65535,
 * or host does not fit hostlen. */
int addr_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

/* Parses "10.0.0.0/8", "::1/128" or a bare address (full prefix).
 * Returns 0 or -1. */
int cidr_parse(const char *s, struct cidr *out);

/* Returns 1 when sa (AF_INET, AF_INET6, or v4-mapped v6) is inside any
 * network of the list, else 0. */
int cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa);

/* Appends a copy of c; returns 0 or -1 (out of memory). */
int cidr_list_add(struct cidr_list *l, const struct cidr *c);
void cidr_list_free(struct cidr_list *l);

/* Formats sa as "1.2.3.4:80" or "[::1]:80" into out. */
void addr_format(const struct sockaddr *sa, char *out, size_t outlen);

#endif
