/* main.c — command line, start-up in order, the loop, teardown in reverse.
 *
 *   hubgate [-c FILE]            run in the foreground
 *   hubgate -t [-c FILE]         check the config; exit 0 or 2
 *   hubgate ca-new [--force] [-c FILE]   create the CA (keeps a backup)
 *   hubgate doctor [-c FILE]             check the whole setup
 *   hubgate cache ls|verify|gc|rm REF|import LAYOUT [-c FILE]
 *   hubgate --version */
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <ares.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "ca/ca.h"
#include "dns/dns.h"
#include "mitm/cache/cache.h"
#include "mitm/tls/tls.h"
#include "proxy/admin.h"
#include "proxy/cache_cmd.h"
#include "proxy/conn.h"
#include "proxy/doctor.h"
#include "proxy/listener.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/notify.h"
#include "proxy/up/pool.h"
#include "proxy/core/proxy.h"
#include "proxy/up/upstream.h"
#include "proxy/worker.h"

#include "proxy/version.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hubgate [-c FILE]                 run the proxy in the foreground\n"
            "       hubgate -t [-c FILE]              check the config and exit (0 ok, 2 bad)\n"
            "       hubgate ca-new [--force] [-c FILE]  create the CA in [ca] dir\n"
            "       hubgate ca-new --check [-c FILE]  does the CA permit every intercepted name?\n"
            "       hubgate doctor [-c FILE]          check the setup, print fixes\n"
            "       hubgate cache ls|verify|gc [-c FILE]  list, re-hash, or trim the cache\n"
            "       hubgate cache rm REF|DIGEST [-c FILE]   remove an image or a blob\n"
            "       hubgate cache import LAYOUT [-c FILE]   add an OCI layout, pinned\n"
            "       hubgate --version\n"
            "FILE defaults to %s\n",
            CONFIG_DEFAULT_PATH);
}

#define WORKERS_MAX 16

/* How many event loops: one per core, or HUBGATE_WORKERS. */
static int worker_count(void)
{
    const char *env = getenv("HUBGATE_WORKERS");
    long n = env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        n = 1;
    return n > WORKERS_MAX ? WORKERS_MAX : (int)n;
}

/* SIGHUP, on the main thread: the new generation is built and checked
 * once, here. When that fails, it is said once and no worker changes
 * anything; when it succeeds, every worker is handed the same generation.
 * Returns the generation now running: cur (still ours) or the new one
 * (ours instead of cur, whose reference is dropped). */
static struct gen *reload(const char *path, struct gen *cur, struct worker *w, int nw,
                          struct links_health *health, struct tls_sessions *sessions)
{
    const struct config *old = &cur->cfg;
    struct config cfg;
    struct gen *g = NULL;
    char err[512];
    int i;

    log_info("SIGHUP: reloading %s", path);
    if (config_load(&cfg, path, err, sizeof(err)) == 0)
        g = gen_new(&cfg, cur, health, sessions, err, sizeof(err));
    if (!g) {
        log_err("reload refused, keeping the running configuration: %s", err);
        return cur;
    }
    if (strcmp(g->cfg.listen_host, old->listen_host) != 0 ||
        g->cfg.listen_port != old->listen_port)
        log_warn("reload: [proxy] listen changed; it takes effect after a restart "
                 "(still listening on %s:%u)", old->listen_host, (unsigned)old->listen_port);
    for (i = 0; i < nw; i++)
        worker_set_gen(&w[i], g);
    gen_unref(cur);
    /* one format for the whole stream, switched here, once */
    log_set_json(g->cfg.log_json);
    log_info("reloaded: new connections use the new configuration");
    return g;
}

/* [cache] dir: made (with its parents) and opened before anything runs,
 * so an unwritable one stops hubgate with a message saying what to do.
 * One store serves every loop (it locks inside); *out stays NULL without
 * a dir. A reload keeps the store opened at start. */
static int cache_start(const struct config *cfg, struct cache **out, char *err, size_t errlen)
{
    int rc;

    *out = NULL;
    if (!cfg->cache_dir)
        return 0;
    rc = cache_open(out, cfg->cache_dir, cfg->cache_max_size, err, errlen);
    if (rc == 0)
        log_info("cache: %s, %llu of %llu bytes kept", cfg->cache_dir,
                 (unsigned long long)cache_bytes(*out),
                 (unsigned long long)cfg->cache_max_size);
    return rc;
}

/* The main thread: builds the configuration generation (config, CA, TLS
 * contexts, links) once and owns the running one; starts the workers one
 * after the other (each must say it is ready before the next starts, so
 * start-up errors stop everything early and library set-up never races),
 * each with a reference to that generation; then turns signals into
 * commands: SIGTERM/SIGINT drain, SIGHUP a new generation for all (see
 * reload()). cfg is taken over. */
static int run(const char *path, struct config *cfg)
{
    static struct worker w[WORKERS_MAX];
    static struct proxy *peers[WORKERS_MAX];
    char err[512];
    static struct metrics *tables[WORKERS_MAX];
    struct metrics_recent *recent = metrics_recent_new();
    struct links_health *health = links_health_new();
    struct tls_sessions *sessions = tls_sessions_new();
    /* Before any worker: makes the CA when there is none yet. */
    struct gen *cur = gen_new(cfg, NULL, health, sessions, err, sizeof(err));
    int lfd = cur ? listener_open(&cur->cfg, err, sizeof(err)) : -1;
    int nw = worker_count(), started = 0, running = 0, rc = 0, i, sfd = -1;
    int ready[2] = {-1, -1}, done[2] = {-1, -1};
    struct cache *cache = NULL;
    sigset_t set;

    if (lfd < 0 || cache_start(&cur->cfg, &cache, err, sizeof(err)) != 0) {
        log_err("%s", err);
        rc = 1;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    /* free() returns heap to the system only past 4 MiB of free top, so a
     * request's buffers are not given back and faulted in again on every
     * request; a worker with no connections still returns all of it
     * (worker.c, malloc_trim). */
    mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
    /* Sets glibc's allocator up here, before any worker thread: where
     * malloc is not glibc's (AddressSanitizer's, whose mallopt does nothing)
     * the first malloc_trim would set it up, and two workers going idle at
     * once would both do so; glibc then aborts at their exit
     * ("a->attached_threads > 0"). */
    malloc_trim(0);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Blocked here, so every worker thread inherits the mask. */
    if (!recent || !health || !sessions || sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
        (sfd = signalfd(-1, &set, SFD_CLOEXEC)) == -1 || pipe2(ready, O_CLOEXEC) == -1 ||
        pipe2(done, O_CLOEXEC) == -1 || ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
        log_err("cannot set up: %s", strerror(errno));
        rc = 1;
        goto out;
    }
    /* Every worker's struct is complete before the first starts: worker 0
     * (the admin endpoint) reads its peers' metric tables and counts. */
    for (i = 0; i < nw; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        peers[i] = &w[i].px;
        tables[i] = w[i].px.metrics = metrics_new();
        if (!tables[i]) {
            log_err("cannot set up: out of memory");
            rc = 1;
            goto out;
        }
    }
    for (i = 0; i < nw; i++) {
        char r = 'F';

        w[i].index = i;
        w[i].recent = recent;
        w[i].peers = peers;
        w[i].npeers = (size_t)nw;
        w[i].ready_fd = ready[1];
        w[i].done_fd = done[1];
        w[i].lfd = lfd;
        w[i].px.cache = cache;
        w[i].gen = gen_ref(cur);
        if (pipe2(w[i].ctl, O_NONBLOCK | O_CLOEXEC) == -1 ||
            pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
            log_err("cannot start worker %d: %s", i, strerror(errno));
            gen_unref(w[i].gen);
            w[i].gen = NULL;
            rc = 1;
            break;
        }
        started++;
        running++;
        if (read(ready[0], &r, 1) != 1 || r != 'R') {
            rc = 1;
            break;
        }
    }
    if (rc == 0) {
        const struct config *c = &cur->cfg;
        time_t exp = ca_not_after(cur->ca);

        log_info("hubgate %s listening on %s:%u with %d event loop(s); CA %s/ca.crt valid "
                 "until %.24s", HUBGATE_VERSION, c->listen_host, (unsigned)c->listen_port,
                 nw, c->ca_dir, ctime(&exp));
        notify_send("READY=1");
    }
    for (i = 0; i < started; i++)
        if (rc)
            worker_command(&w[i], 'T');
    while (running > 0) {
        struct pollfd pf[2] = {{sfd, POLLIN, 0}, {done[0], POLLIN, 0}};
        struct signalfd_siginfo si;
        char d;

        if (poll(pf, 2, -1) == -1 && errno != EINTR)
            break;
        if (pf[1].revents & POLLIN && read(done[0], &d, 1) == 1) {
            running--;
            /* one loop ended (drained or failed): the others follow */
            for (i = 0; i < started; i++)
                worker_command(&w[i], 'T');
        }
        if (pf[0].revents & POLLIN && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGHUP) {
                notify_send("RELOADING=1");
                cur = reload(path, cur, w, started, health, sessions);
                notify_send("READY=1");
            } else {
                notify_send("STOPPING=1");
                for (i = 0; i < started; i++)
                    worker_command(&w[i], 'T');
            }
        }
    }
    for (i = 0; i < started; i++) {
        pthread_join(w[i].tid, NULL);
        worker_clear_gen(&w[i]);
        rc |= w[i].rc;
        close(w[i].ctl[0]);
        close(w[i].ctl[1]);
    }
    if (rc == 0)
        log_info("stopped");
out:
    if (sfd >= 0)
        close(sfd);
    for (i = 0; i < 2; i++) {
        if (ready[i] >= 0)
            close(ready[i]);
        if (done[i] >= 0)
            close(done[i]);
    }
    if (lfd >= 0)
        close(lfd);
    /* after the workers, before what the generation was joined to */
    gen_unref(cur);
    /* after every worker stopped: worker 0 read them all until its end */
    for (i = 0; i < nw; i++) {
        metrics_free(tables[i]);
        tables[i] = NULL;
    }
    metrics_recent_free(recent);
    links_health_free(health);
    tls_sessions_free(sessions);
    cache_close(cache);
    ares_library_cleanup();
    return rc;
}

/* hubgate ca-new [--force]: 0 or 1. */
static int ca_new_cmd(const struct config *cfg, int force)
{
    char err[512];

    if (ca_create(cfg->ca_dir, cfg->intercept_hosts.v, cfg->intercept_hosts.n, force, err,
                  sizeof(err)) != 0) {
        fprintf(stderr, "hubgate: %s\n", err);
        return 1;
    }
    printf("hubgate: CA in %s (ca.crt, ca.key)\n", cfg->ca_dir);
    return 0;
}

/* hubgate ca-new --check: 0 when the CA permits every intercepted name, 1
 * (naming them and the rotation) when not, 2 when there is no CA. */
static int ca_check_cmd(const struct config *cfg, const char *path)
{
    char crt[4200], names[512];
    X509 *cert = NULL;
    FILE *f;
    size_t bad;

    snprintf(crt, sizeof(crt), "%s/ca.crt", cfg->ca_dir);
    f = fopen(crt, "r");
    if (f) {
        cert = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (!cert) {
        fprintf(stderr, "hubgate: no readable CA certificate %s; make one: hubgate ca-new -c %s\n",
                crt, path);
        return 2;
    }
    bad = ca_cert_unpermitted(cert, cfg->intercept_hosts.v, cfg->intercept_hosts.n, names,
                              sizeof(names));
    X509_free(cert);
    if (bad) {
        fprintf(stderr, "hubgate: the CA in %s does not permit %s; rotate it: hubgate ca-new "
                "--force -c %s, then trust the new ca.crt on every docker host "
                "(hubgate-setup-docker does both)\n", cfg->ca_dir, names, path);
        return 1;
    }
    printf("hubgate: the CA in %s permits every intercepted name\n", cfg->ca_dir);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = CONFIG_DEFAULT_PATH;
    const char *cache_verb = NULL, *cache_arg = NULL;
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
        } else if (strcmp(argv[i], "cache") == 0 && i == 1 && i + 1 < argc) {
            cache_verb = argv[++i];
        } else if (cache_verb && !cache_arg && argv[i][0] != '-') {
            cache_arg = argv[i];
        } else if (strcmp(argv[i], "--force") == 0 && ca_new) {
            force = 1;
        } else if (strcmp(argv[i], "--check") == 0 && ca_new) {
            force = -1;
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
    if (cache_verb)
        return cache_cmd_run(path, cache_verb, cache_arg);
    if (config_load(&cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "hubgate: %s\n", err);
        return 2;
    }
    /* [log] format holds from the first line the proxy logs; a reload
     * switches it again (reload()) */
    log_set_json(cfg.log_json);
    if (check) {
        printf("hubgate: %s: configuration OK\n", path);
        config_free(&cfg);
        return 0;
    }
    if (ca_new) {
        rc = force < 0 ? ca_check_cmd(&cfg, path) : ca_new_cmd(&cfg, force);
        config_free(&cfg);
        return rc;
    }
    return run(path, &cfg);
}
