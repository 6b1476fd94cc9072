/* notify.c — sd_notify(3) without libsystemd: one datagram of "KEY=VALUE"
 * lines to the AF_UNIX socket in $NOTIFY_SOCKET. A name starting with '@'
 * is in the abstract namespace: the '@' becomes a NUL byte and the address
 * length covers exactly the name (no trailing NUL), as systemd expects. */
#include "base/notify.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_addr(const char *name, struct sockaddr_un *sun, socklen_t *len)
{
    size_t n;

    /* Only paths and abstract names; systemd also knows vsock:, not used
     * for services on the host. */
    if (!name || (name[0] != '/' && name[0] != '@'))
        return -1;
    n = strlen(name);
    memset(sun, 0, sizeof(*sun));
    if (n >= sizeof(sun->sun_path))
        return -1;
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, name, n);
    if (name[0] == '@') {
        sun->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

void notify_send(const char *state)
{
    struct sockaddr_un sun;
    socklen_t len;
    int fd;

    if (!state || notify_addr(getenv("NOTIFY_SOCKET"), &sun, &len) != 0)
        return;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return;
    /* Best effort: the manager may be gone; nothing to do about it. */
    (void)sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                 (const struct sockaddr *)&sun, len);
    close(fd);
}
