/* admin_driver.c — runs the admin endpoint alone on a loop, for
 * t_60_admin.sh while hubgate's main() does not start it yet:
 *
 *   admin_driver CONFIG LISTEN
 *
 * Loads CONFIG into a generation (which opens or creates the CA), fills a metrics
 * set with a few samples and recent requests, starts admin_start(LISTEN)
 * and runs until SIGTERM/SIGINT, then stops in reverse order. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "proxy/admin.h"
#include "proxy/config.h"
#include "proxy/gen.h"
#include "proxy/metrics.h"
#include "proxy/proxy.h"

static void on_signal(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct signalfd_siginfo si;

    (void)arg;
    (void)events;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        loop_stop(loop);
}

static void samples(struct metrics *m)
{
    char l[256];

    metrics_add(m, "hubgate_requests_total",
                metrics_label(l, sizeof(l), "host", "registry-1.docker.io", "link", "direct",
                              "code", "200", (const char *)NULL), 3);
    metrics_add(m, "hubgate_requests_total",
                metrics_label(l, sizeof(l), "host", "auth.docker.io", "link",
                              "odd \"name\" \\ here\n", "code", "401", (const char *)NULL), 1);
    metrics_add(m, "hubgate_bytes_total", "direction=\"in\",link=\"direct\"", 12345678);
    metrics_add(m, "hubgate_bytes_total", "direction=\"out\",link=\"direct\"", 4321);
    metrics_add(m, "hubgate_failovers_total", "from=\"direct\",to=\"socks5://127.0.0.1:1080\"", 2);
    metrics_add(m, "hubgate_leaf_certs_minted_total", "", 3);
    metrics_set(m, "hubgate_dockerhub_ratelimit_remaining", "", 97);
    metrics_recent(m, "2026-01-01T00:00:00Z 127.0.0.1:40000 GET registry-1.docker.io "
                      "/v2/library/hello-world/manifests/latest 200 1234 direct");
    metrics_recent(m, "2026-01-01T00:00:01Z 127.0.0.1:40001 GET auth.docker.io "
                      "/token <script>alert(1)</script> 200 99 direct");
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct proxy px;
    char err[512];
    sigset_t set;
    int sfd, rc = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: admin_driver CONFIG LISTEN\n");
        return 2;
    }
    if (config_load(&cfg, argv[1], err, sizeof(err)) != 0) {
        fprintf(stderr, "admin_driver: %s\n", err);
        return 2;
    }
    memset(&px, 0, sizeof(px));
    px.lfd = -1;
    px.config_path = argv[1];
    /* The generation takes cfg over (also on failure). */
    px.gen = gen_new(&cfg, err, sizeof(err));
    px.loop = loop_new();
    px.metrics = metrics_new();
    if (!px.gen || !px.loop || !px.metrics) {
        fprintf(stderr, "admin_driver: setup failed: %s\n", px.gen ? "out of memory" : err);
        goto out;
    }
    px.cfg = &px.gen->cfg;
    samples(px.metrics);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd == -1 || loop_add(px.loop, sfd, LOOP_RD, on_signal, NULL) != 0)
        goto out;
    if (admin_start(&px, argv[2], err, sizeof(err)) != 0) {
        fprintf(stderr, "admin_driver: %s\n", err);
        goto out;
    }
    fprintf(stderr, "admin_driver: admin on %s\n", argv[2]);
    rc = loop_run(px.loop) == 0 ? 0 : 1;
    loop_del(px.loop, sfd);
    close(sfd);
out:
    admin_stop(&px);
    metrics_free(px.metrics);
    loop_free(px.loop);
    gen_unref(px.gen);
    return rc;
}
