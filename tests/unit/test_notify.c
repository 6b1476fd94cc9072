/* test_notify.c — notify_send(): datagrams to a path and to an abstract
 * name, and the silent no-op cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proxy/notify.h"

/* Binds a datagram socket to name (a path, or "@abstract"). */
static int bind_dgram(const char *name)
{
    struct sockaddr_un sun;
    size_t n = strlen(name);
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, name, n);
    if (name[0] == '@') {
        sun.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
    return fd;
}

/* Receives one datagram without blocking; "" when none is queued. */
static void recv_one(int fd, char *out, size_t outlen)
{
    ssize_t n = recv(fd, out, outlen - 1, MSG_DONTWAIT);

    if (n < 0) {
        assert_int_equal(errno, EAGAIN);
        n = 0;
    }
    out[n] = '\0';
}

static void test_path_socket(void **state)
{
    char dir[] = "/tmp/hgnotify.XXXXXX", path[64], got[256];
    int fd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    fd = bind_dgram(path);
    setenv("NOTIFY_SOCKET", path, 1);
    notify_send("READY=1\nSTATUS=listening on 127.0.0.1:3128");
    recv_one(fd, got, sizeof(got));
    assert_string_equal(got, "READY=1\nSTATUS=listening on 127.0.0.1:3128");
    notify_send("STOPPING=1");
    recv_one(fd, got, sizeof(got));
    assert_string_equal(got, "STOPPING=1");
    close(fd);
    unlink(path);
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
    char name[64], got[64];
    int fd;

    (void)state;
    snprintf(name, sizeof(name), "@hubgate-test-notify-%ld", (long)getpid());
    fd = bind_dgram(name);
    setenv("NOTIFY_SOCKET", name, 1);
    notify_send("READY=1");
    recv_one(fd, got, sizeof(got));
    assert_string_equal(got, "READY=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void test_unset_or_bad_is_noop(void **state)
{
    char name[64], got[64];
    int fd;

    (void)state;
    snprintf(name, sizeof(name), "@hubgate-test-notify2-%ld", (long)getpid());
    fd = bind_dgram(name);
    unsetenv("NOTIFY_SOCKET");
    notify_send("READY=1");
    setenv("NOTIFY_SOCKET", "", 1);
    notify_send("READY=1");
    setenv("NOTIFY_SOCKET", "relative/name", 1);
    notify_send("READY=1");
    setenv("NOTIFY_SOCKET", "/nonexistent/dir/sock", 1);
    notify_send("READY=1");
    /* Longer than sun_path. */
    setenv("NOTIFY_SOCKET", "@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1);
    notify_send("READY=1");
    notify_send(NULL);
    recv_one(fd, got, sizeof(got));
    assert_string_equal(got, "");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_unset_or_bad_is_noop),
    };

    return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
