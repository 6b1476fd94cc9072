/* doctor_env.c — the doctor's dockerd check: where dockerd's environment
 * comes from (the HUBGATE_DOCKERD_ENV_FILE test hook, `systemctl show
 * docker` when systemd runs, else /proc/PID/environ of the dockerd
 * process), whether its HTTPS_PROXY names hubgate, and whether NO_PROXY
 * sends an intercepted host around it. See doctor.c for the hooks. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/addr.h"
#include "proxy/doctor_int.h"

#define DOC_ENV_MAX 65536

/* Finds VAR=value in env (len bytes of NUL-separated entries). */
static const char *env_get(const char *env, size_t len, const char *var)
{
    size_t vl = strlen(var), i = 0;

    while (i < len) {
        const char *e = env + i;
        size_t el = strnlen(e, len - i);

        if (el > vl && e[vl] == '=' && strncmp(e, var, vl) == 0)
            return e + vl + 1;
        i += el + 1;
    }
    return NULL;
}

/* Appends the file at path (NUL- or newline-separated VAR=value) to env
 * at *n. Returns 0, or -1 when it cannot be opened. */
static int env_read_file(const char *path, char *env, size_t env_max, size_t *n)
{
    FILE *f;
    size_t i, k;

    if (*n + 1 >= env_max)
        return 0;
    f = fopen(path, "r");
    if (!f)
        return -1;
    k = fread(env + *n, 1, env_max - 1 - *n, f);
    fclose(f);
    for (i = *n; i < *n + k; i++)
        if (env[i] == '\n')
            env[i] = '\0';
    *n += k;
    env[(*n)++] = '\0';
    return 0;
}

/* Finds the pid of a process named dockerd in /proc; 0 when none. */
static long dockerd_pid(void)
{
    DIR *dir = opendir("/proc");
    struct dirent *de;
    long pid = 0;

    while (dir && (de = readdir(dir)) != NULL && !pid) {
        char path[300], comm[64] = "";
        FILE *f;

        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
        f = fopen(path, "r");
        if (f && fgets(comm, sizeof(comm), f) && strcmp(comm, "dockerd\n") == 0)
            pid = strtol(de->d_name, NULL, 10);
        if (f)
            fclose(f);
    }
    if (dir)
        closedir(dir);
    return pid;
}

/* Asks systemd about docker.service: its Environment= entries go to env
 * (NUL-separated, *n bytes), its main pid to *pid. Returns 0, -1 when the
 * unit is not active, -2 when systemctl cannot run. */
static int systemd_env(char *env, size_t env_max, size_t *n, long *pid)
{
    FILE *f = popen("timeout 5 systemctl show docker -p ActiveState -p MainPID "
                    "-p Environment --no-pager 2>/dev/null", "r");
    char line[4096];
    size_t i, w = 0;
    int active = 0, q = 0;

    if (!f)
        return -2;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "ActiveState=active") == 0)
            active = 1;
        else if (strncmp(line, "MainPID=", 8) == 0)
            *pid = strtol(line + 8, NULL, 10);
        else if (strncmp(line, "Environment=", 12) == 0 && *n == 0)
            *n = (size_t)snprintf(env, env_max, "%s", line + 12);
    }
    pclose(f);
    if (!active)
        return -1;
    if (*n >= env_max - 1)
        *n = env_max - 2;
    /* A=1 "B=x y": entries are blank-separated, quoted when they hold
     * blanks. Unquoted in place. */
    for (i = 0; i < *n; i++) {
        if (env[i] == '"')
            q = !q;
        else
            env[w++] = env[i] == ' ' && !q ? '\0' : env[i];
    }
    env[w++] = '\0';
    *n = w;
    return 0;
}

/* Reads dockerd's environment into env (NUL-separated entries, env_max
 * bytes) and names its source in src. Returns the length, -1 when dockerd
 * is not running, -2 when its environment cannot be read. With systemd:
 * the unit's Environment= (systemctl show), then what the running process
 * really has (/proc/MainPID/environ: EnvironmentFile= included) when
 * readable. */
static long dockerd_env(struct doc *d, char *env, size_t env_max, char *src, size_t srclen)
{
    const char *hook = getenv("HUBGATE_DOCKERD_ENV_FILE");
    size_t n = 0;
    long pid = 0;

    if (hook && *hook) {
        snprintf(src, srclen, "%s", hook);
        return env_read_file(hook, env, env_max, &n) == 0 ? (long)n : -1;
    }
    if (d->systemd) {
        int rc = systemd_env(env, env_max, &n, &pid);

        snprintf(src, srclen, "systemctl show docker");
        if (rc != 0)
            return rc;
    } else {
        pid = dockerd_pid();
        if (!pid)
            return -1;
    }
    if (pid > 0) {
        char path[64];

        snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
        if (env_read_file(path, env, env_max, &n) == 0) {
            snprintf(src, srclen, "%s%s", d->systemd ? "systemctl show docker and " : "",
                     path);
        } else if (!d->systemd) {
            snprintf(src, srclen, "%s", path);
            return -2;
        }
    }
    return (long)n;
}

/* Returns 1 when NO_PROXY (comma list) makes Go's proxy code skip host. */
static int no_proxy_hits(const char *np, const char *host)
{
    char tok[256];
    size_t hl = strlen(host);

    while (np && *np) {
        size_t n = strcspn(np, ", "), tl;
        const char *t = tok;

        snprintf(tok, sizeof(tok), "%.*s", (int)n, np);
        np += n + (np[n] ? 1 : 0);
        if (strcmp(tok, "*") == 0)
            return 1;
        while (*t == '*' || *t == '.')
            t++;
        tl = strlen(t);
        if (tl && (strcasecmp(host, t) == 0 ||
                   (hl > tl && host[hl - tl - 1] == '.' && strcasecmp(host + hl - tl, t) == 0)))
            return 1;
    }
    return 0;
}

void doctor_check_dockerd(struct doc *d)
{
    char *env = malloc(DOC_ENV_MAX), src[4200], fix[1200], host[256], hp[300];
    const char *v, *np;
    uint16_t port = 80;
    long n;
    size_t i;
    int match;

    snprintf(fix, sizeof(fix),
             "mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\n"
             "Environment=\"HTTPS_PROXY=http://%s%s%s:%u\"\\n' > "
             "/etc/systemd/system/docker.service.d/http-proxy.conf && systemctl daemon-reload "
             "&& systemctl restart docker", strchr(d->host, ':') ? "[" : "", d->host,
             strchr(d->host, ':') ? "]" : "", (unsigned)d->cfg.listen_port);
    n = env ? dockerd_env(d, env, DOC_ENV_MAX, src, sizeof(src)) : -2;
    if (n == -1) {
        doc_fail(d, "systemctl start docker",
                 "dockerd uses hubgate as HTTPS_PROXY: dockerd is not running");
        goto out;
    }
    if (n < 0) {
        snprintf(fix, sizeof(fix), "sudo hubgate doctor -c %s", d->path);
        doc_fail(d, fix, "dockerd uses hubgate as HTTPS_PROXY: cannot read dockerd's "
                 "environment (%s); run the doctor as root", src);
        goto out;
    }
    v = env_get(env, (size_t)n, "HTTPS_PROXY");
    if (!v)
        v = env_get(env, (size_t)n, "https_proxy");
    if (!v || !*v) {
        doc_fail(d, fix, "dockerd uses hubgate as HTTPS_PROXY: no HTTPS_PROXY in %s", src);
        goto out;
    }
    /* Go reads "host:port" without a scheme as http://host:port. */
    if (strncmp(v, "http://", 7) == 0)
        v += 7;
    else if (strstr(v, "://")) {
        doc_fail(d, fix, "dockerd uses hubgate as HTTPS_PROXY: HTTPS_PROXY=%s, but hubgate "
             "speaks plain HTTP to its clients (http://)", v);
        goto out;
    }
    if (strchr(v, '@'))
        v = strchr(v, '@') + 1;
    snprintf(hp, sizeof(hp), "%.*s", (int)strcspn(v, "/"), v);
    if (addr_parse_hostport(hp, host, sizeof(host), &port) != 0)
        snprintf(host, sizeof(host), "%s", hp);
    match = port == d->cfg.listen_port &&
            (strcmp(host, d->cfg.listen_host) == 0 || strcmp(host, d->host) == 0 ||
             (strcmp(d->host, "127.0.0.1") == 0 && strcmp(host, "localhost") == 0));
    if (!match) {
        doc_fail(d, fix, "dockerd uses hubgate as HTTPS_PROXY: HTTPS_PROXY=http://%s, hubgate "
             "listens on %s:%u", hp, d->cfg.listen_host, (unsigned)d->cfg.listen_port);
        goto out;
    }
    np = env_get(env, (size_t)n, "NO_PROXY");
    if (!np)
        np = env_get(env, (size_t)n, "no_proxy");
    for (i = 0; i < d->cfg.intercept_hosts.n; i++) {
        if (no_proxy_hits(np, d->cfg.intercept_hosts.v[i])) {
            doc_fail(d, "systemctl edit docker (take the Docker Hub names out of NO_PROXY), "
                     "then: systemctl restart docker",
                     "dockerd uses hubgate as HTTPS_PROXY: NO_PROXY=%s sends %s around "
                     "hubgate", np, d->cfg.intercept_hosts.v[i]);
            goto out;
        }
    }
    doc_ok(d, "dockerd uses hubgate as HTTPS_PROXY (http://%s, from %s)", hp, src);
out:
    free(env);
}
