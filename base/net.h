/* net.h — non-blocking socket helpers. All return 0 / fd, or -errno. */
#ifndef HUBGATE_NET_H
#define HUBGATE_NET_H

#include <sys/socket.h>

/* Listening TCP socket on host:port (numeric host), non-blocking,
 * SO_REUSEADDR (and SO_REUSEPORT when reuseport). Returns fd or -errno. */
int net_listen(const char *host, unsigned port, int reuseport);

/* accept4 non-blocking + cloexec, TCP_NODELAY. Returns fd or -errno. */
int net_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peerlen);

/* Starts a non-blocking connect. Returns fd (connection may still be in
 * progress: wait for writable, then net_connect_result()) or -errno. */
int net_connect(const struct sockaddr *sa, socklen_t salen);

/* After a connecting socket turned writable: 0 when connected, else
 * -errno of the failure. */
int net_connect_result(int fd);

/* Local address of fd into ss. Returns 0 or -errno. */
int net_local_addr(int fd, struct sockaddr_storage *ss, socklen_t *len);

#endif
