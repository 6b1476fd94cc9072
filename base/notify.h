/* notify.h — readiness and status messages to the service manager, as
 * sd_notify(3) describes them, without libsystemd. */
#ifndef HUBGATE_NOTIFY_H
#define HUBGATE_NOTIFY_H

#include <sys/socket.h>
#include <sys/un.h>

/* The address of a $NOTIFY_SOCKET name: a path, or '@' + an abstract name
 * (the '@' becomes a NUL byte, and len covers exactly the name). Returns
 * 0, or -1 for NULL, another form, or a name too long. */
int notify_addr(const char *name, struct sockaddr_un *sun, socklen_t *len);

/* Sends state (e.g. "READY=1", "STOPPING=1", "STATUS=draining",
 * newline-separated assignments) as one datagram to the AF_UNIX socket
 * named by $NOTIFY_SOCKET: a path, or an abstract name written with a
 * leading '@'. A silent no-op when the variable is unset or empty, or the
 * name is unusable; never blocks (MSG_DONTWAIT). Takes no ownership. */
void notify_send(const char *state);

#endif
