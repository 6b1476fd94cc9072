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

#include "base/notify.h"

/* Binds a datagram socket to name (a path, or "@abstract"). */
static int bind_dgram(const char *name)
{
    struct sockaddr_un sun;
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(notify_addr(name, &sun, &len), 0);
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

/* The address layout systemd expects: a path with its NUL counted; an
 * abstract name with the '@' as a leading NUL and no trailing NUL. */
static void test_addr_layout(void **state)
{
    struct sockaddr_un sun;
    socklen_t len = 0;
    char big[200];
    size_t base = offsetof(struct sockaddr_un, sun_path);

    (void)state;
    assert_int_equal(notify_addr("/run/x", &sun, &len), 0);
    assert_int_equal(sun.sun_family, AF_UNIX);
    assert_int_equal(len, base + 7);
    assert_string_equal(sun.sun_path, "/run/x");
    assert_int_equal(notify_addr("@ab", &sun, &len), 0);
    assert_int_equal(len, base + 3);
    assert_memory_equal(sun.sun_path, "\0ab", 3);
    assert_int_equal(notify_addr("relative", &sun, &len), -1);
    assert_int_equal(notify_addr("vsock:2:123", &sun, &len), -1);
    assert_int_equal(notify_addr(NULL, &sun, &len), -1);
    memset(big, 'a', sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(notify_addr(big, &sun, &len), -1); /* longer than sun_path */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_layout),
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_unset_or_bad_is_noop),
    };

    return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
