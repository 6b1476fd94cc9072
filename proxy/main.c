/* main.c — command line, start-up in order, the loop, teardown in reverse.
 *
 *   hubgate [-c FILE]            run in the foreground
 *   hubgate -t [-c FILE]         check the config; exit 0 or 2
 *   hubgate ca-new [--force] [-c FILE]   create the CA (keeps a backup)
 *   hubgate doctor [-c FILE]             check the whole setup
 *   hubgate --version */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "ca/ca.h"
#include "dns/dns.h"
#include "mitm/mitm.h"
#include "proxy/admin.h"
#include "proxy/conn.h"
#include "proxy/doctor.h"
#include "proxy/listener.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/notify.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/upstream.h"

#include "proxy/version.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hubgate [-c FILE]                 run the proxy in the foreground\n"
            "       hubgate -t [-c FILE]              check the config and exit (0 ok, 2 bad)\n"
            "       hubgate ca-new [--force] [-c FILE]  create the CA in [ca] dir\n"
            "       hubgate doctor [-c FILE]          check the setup, print fixes\n"
            "       hubgate --version\n"
            "FILE defaults to %s\n",
            CONFIG_DEFAULT_PATH);
}

struct drain {
    struct proxy *px;
    struct timer timer;
    int sfd;
};

static void on_drain_timeout(struct loop *loop, struct timer *t)
{
    struct drain *d = t->arg;

    log_warn("drain: %u connection(s) still open after [proxy] drain_timeout; stopping",
             d->px->nconns);
    loop_stop(loop);
}

/* SIGTERM/SIGINT: stop accepting, close idle connections, give the rest
 * drain_timeout to finish. */
static void start_drain(struct drain *d)
{
    struct proxy *px = d->px;
    struct conn *c, *next;

    if (px->draining)
        return;
    px->draining = 1;
    notify_send("STOPPING=1");
    listener_stop(px);
    log_info("draining: %u connection(s) in flight, up to %ums", px->nconns,
             px->cfg->drain_timeout_ms);
    for (c = px->conns; c; c = next) {
        next = c->next;
        if (c->mode != CONN_TUNNEL && c->req->state == H1_HEAD && !c->cin.len &&
            !c->pending && !c->uout.len && !c->cout.len)
            conn_close(c);
        else
            c->flags |= CONN_F_CLOSE_AFTER;
    }
    if (px->nconns == 0) {
        loop_stop(px->loop);
        return;
    }
    loop_timer_set(px->loop, &d->timer, px->cfg->drain_timeout_ms);
}

/* SIGHUP: a new generation for new connections; live ones keep theirs.
 * A bad config is refused and the running one kept. */
static void reload(struct proxy *px)
{
    struct config cfg;
    struct gen *g;
    char err[512];

    log_info("SIGHUP: reloading %s", px->config_path);
    notify_send("RELOADING=1");
    if (config_load(&cfg, px->config_path, err, sizeof(err)) != 0) {
        log_err("reload refused, keeping the running configuration: %s", err);
        notify_send("READY=1");
        return;
    }
    if (strcmp(cfg.listen_host, px->cfg->listen_host) != 0 ||
        cfg.listen_port != px->cfg->listen_port)
        log_warn("reload: [proxy] listen changed; it takes effect after a restart "
                 "(still listening on %s:%u)", px->cfg->listen_host,
                 (unsigned)px->cfg->listen_port);
    g = gen_new(&cfg, err, sizeof(err));
    if (!g) {
        log_err("reload refused, keeping the running configuration: %s", err);
        notify_send("READY=1");
        return;
    }
    gen_unref(px->gen);
    px->gen = g;
    px->cfg = &g->cfg;
    /* pooled connections belong to the old links */
    pool_free(px->pool);
    px->pool = pool_new(px->loop, 64, 30000);
    if (px->metrics)
        metrics_set(px->metrics, "hubgate_ca_expiry_timestamp_seconds", "",
                    (double)ca_not_after(g->ca));
    log_info("reloaded: new connections use the new configuration");
    notify_send("READY=1");
}

static void on_signal(struct loop *loop, int fd, void *arg, uint32_t events)
{
    struct drain *d = arg;
    struct signalfd_siginfo si;

    (void)loop;
    (void)events;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            start_drain(d);
        else if (si.ssi_signo == SIGHUP)
            reload(d->px);
    }
}

static int signals_setup(struct drain *d)
{
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
        return -1;
    d->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d->sfd == -1)
        return -1;
    return loop_add(d->px->loop, d->sfd, LOOP_RD, on_signal, d);
}

static int run(struct config *cfg, const char *path)
{
    struct proxy px;
    struct drain d;
    char err[512];
    int rc = 1;
    time_t exp;

    memset(&px, 0, sizeof(px));
    memset(&d, 0, sizeof(d));
    d.sfd = -1;
    timer_init(&d.timer, on_drain_timeout, &d);
    px.lfd = -1;
    px.config_path = path;
    px.loop = loop_new();
    if (!px.loop) {
        log_err("cannot create the event loop: %s", strerror(errno));
        config_free(cfg);
        return 1;
    }
    px.gen = gen_new(cfg, err, sizeof(err));
    if (!px.gen) {
        log_err("%s", err);
        goto out;
    }
    px.cfg = &px.gen->cfg;
    px.pool = pool_new(px.loop, 64, 30000);
    px.metrics = metrics_new();
    if (!px.pool || !px.metrics) {
        log_err("out of memory");
        goto out;
    }
    px.dns = dns_new(px.loop, &px.cfg->dns_servers, err, sizeof(err));
    if (!px.dns) {
        log_err("%s", err);
        goto out;
    }
    d.px = &px;
    if (signals_setup(&d) != 0) {
        log_err("cannot set up signal handling: %s", strerror(errno));
        goto out;
    }
    if (listener_start(&px, err, sizeof(err)) != 0) {
        log_err("%s", err);
        goto out;
    }
    if (px.cfg->admin_listen &&
        admin_start(&px, px.cfg->admin_listen, err, sizeof(err)) != 0) {
        log_err("%s", err);
        goto out;
    }
    exp = ca_not_after(px.gen->ca);
    metrics_set(px.metrics, "hubgate_ca_expiry_timestamp_seconds", "", (double)exp);
    log_info("hubgate %s listening on %s:%u; CA %s/ca.crt valid until %.24s",
             HUBGATE_VERSION, px.cfg->listen_host, (unsigned)px.cfg->listen_port,
             px.cfg->ca_dir, ctime(&exp));
    notify_send("READY=1");
    if (loop_run(px.loop) != 0) {
        log_err("event loop failed: %s", strerror(errno));
        goto out;
    }
    log_info("stopped");
    rc = 0;
out:
    /* Reverse order of acquisition. */
    while (px.conns) {
        conn_close(px.conns);
        loop_run_deferred(px.loop);
    }
    admin_stop(&px);
    listener_stop(&px);
    loop_timer_del(px.loop, &d.timer);
    if (d.sfd >= 0) {
        loop_del(px.loop, d.sfd);
        close(d.sfd);
    }
    pool_free(px.pool);
    while (px.npipes > 0) {
        px.npipes--;
        close(px.pipes[px.npipes][0]);
        close(px.pipes[px.npipes][1]);
    }
    metrics_free(px.metrics);
    dns_free(px.dns);
    gen_unref(px.gen);
    loop_free(px.loop);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = CONFIG_DEFAULT_PATH;
    int check = 0, ca_new = 0, force = 0, doctor = 0, i, rc;
    struct config cfg;
    char err[512];

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "-t") == 0) {
            check = 1;
        } else if (strcmp(argv[i], "ca-new") == 0 && i == 1) {
            ca_new = 1;
        } else if (strcmp(argv[i], "doctor") == 0 && i == 1) {
            doctor = 1;
        } else if (strcmp(argv[i], "--force") == 0 && ca_new) {
            force = 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("hubgate %s\n", HUBGATE_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "hubgate: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (doctor)
        return doctor_run(path);
    if (config_load(&cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "hubgate: %s\n", err);
        return 2;
    }
    if (check) {
        printf("hubgate: %s: configuration OK\n", path);
        config_free(&cfg);
        return 0;
    }
    if (ca_new) {
        rc = ca_create(cfg.ca_dir, cfg.intercept_hosts.v, cfg.intercept_hosts.n, force,
                       err, sizeof(err));
        if (rc != 0)
            fprintf(stderr, "hubgate: %s\n", err);
        else
            printf("hubgate: CA in %s (ca.crt, ca.key)\n", cfg.ca_dir);
        config_free(&cfg);
        return rc ? 1 : 0;
    }
    return run(&cfg, path);
}
