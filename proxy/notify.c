/* notify.c — sd_notify(3) without libsystemd: one datagram of "KEY=VALUE"
 * lines to the AF_UNIX socket in $NOTIFY_SOCKET. A name starting with '@'
 * is in the abstract namespace: the '@' becomes a NUL byte and the address
 * length covers exactly the name (no trailing NUL), as systemd expects. */
#include "proxy/notify.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void notify_send(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun;
    socklen_t len;
    size_t n;
    int fd;

    if (!state || !name || name[0] == '\0')
        return;
    /* Only paths and abstract names; systemd also knows vsock:, not used
     * for services on the host. */
    if (name[0] != '/' && name[0] != '@')
        return;
    n = strlen(name);
    memset(&sun, 0, sizeof(sun));
    if (n >= sizeof(sun.sun_path))
        return;
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, name, n);
    if (name[0] == '@') {
        sun.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return;
    /* Best effort: the manager may be gone; nothing to do about it. */
    (void)sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                 (const struct sockaddr *)&sun, len);
    close(fd);
}
