/* doctor.c — `hubgate doctor -c FILE`: one line per check, a fix for each
 * failure, exit 0 only when all pass. Checks, in order: the config; the
 * CA (files, key mode, system trust, expiry); dockerd's HTTPS_PROXY;
 * hubgate listening; every upstream link; local DNS answers for the
 * intercepted names; a token and a manifest HEAD through hubgate.
 *
 * Test hooks (environment), so the checks that read the host can run in a
 * test namespace:
 *   HUBGATE_TRUST_BUNDLE=FILE      the trust store to look for ca.crt in,
 *                                  instead of /etc/ssl/certs/ca-certificates.crt
 *   HUBGATE_DOCKERD_ENV_FILE=FILE  dockerd's environment, as in
 *                                  /proc/PID/environ (NUL- or newline-
 *                                  separated VAR=value), instead of asking
 *                                  systemd or /proc; a missing file reads
 *                                  as "dockerd is not running" */
#include "proxy/doctor.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "base/addr.h"
#include "ca/ca.h"
#include "proxy/core/config.h"
#include "proxy/doctor_int.h"
#include "proxy/core/link.h"

#define DOC_TRUST_DEFAULT "/etc/ssl/certs/ca-certificates.crt"
#define DOC_HUB_REGISTRY "registry-1.docker.io"
#define DOC_HUB_AUTH "auth.docker.io"
#define DOC_FIX_TRUST "cp %s/ca.crt /usr/local/share/ca-certificates/hubgate.crt && update-ca-certificates"


static void doc_line(struct doc *d, int ok, const char *fix, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void doc_line(struct doc *d, int ok, const char *fix, const char *fmt, va_list ap)
{
    if (ok)
        printf("%sOK%s   ", d->color ? "\033[32m" : "", d->color ? "\033[0m" : "");
    else
        printf("%sFAIL%s ", d->color ? "\033[31m" : "", d->color ? "\033[0m" : "");
    vprintf(fmt, ap);
    printf("\n");
    if (!ok)
        printf("     fix: %s\n", fix);
    fflush(stdout);
}

void doc_ok(struct doc *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    doc_line(d, 1, NULL, fmt, ap);
    va_end(ap);
}

void doc_fail(struct doc *d, const char *fix, const char *fmt, ...)
{
    va_list ap;

    d->fails++;
    va_start(ap, fmt);
    doc_line(d, 0, fix, fmt, ap);
    va_end(ap);
}

/* ---- the CA ------------------------------------------------------------ */

static void check_trust(struct doc *d)
{
    const char *bundle = getenv("HUBGATE_TRUST_BUNDLE");
    char fix[1024];
    BIO *bio;
    X509 *x;
    int found = 0;

    if (!bundle || !*bundle)
        bundle = DOC_TRUST_DEFAULT;
    snprintf(fix, sizeof(fix), DOC_FIX_TRUST, d->cfg.ca_dir);
    bio = BIO_new_file(bundle, "r");
    if (!bio) {
        doc_fail(d, fix, "CA certificate in the trust store %s: cannot read it", bundle);
        return;
    }
    while (!found && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        found = X509_cmp(x, d->ca) == 0;
        X509_free(x);
    }
    BIO_free(bio);
    if (found)
        doc_ok(d, "CA certificate in the trust store %s", bundle);
    else
        doc_fail(d, fix, "CA certificate in the trust store %s: not there, so dockerd will "
                     "refuse hubgate's certificates", bundle);
}

/* Adding a registry or host to [intercept] needs a CA that permits it
 * (its nameConstraints list the names it was made for). */
static void check_ca_names(struct doc *d)
{
    char names[512], fix[1024];
    const struct str_list *h = &d->cfg.intercept_hosts;

    snprintf(fix, sizeof(fix), "hubgate-setup-docker --config %s (makes a new CA and trusts "
             "it, in one step); by hand: hubgate ca-new --force -c %s && " DOC_FIX_TRUST
             " && systemctl restart hubgate docker", d->path, d->path, d->cfg.ca_dir);
    if (ca_cert_unpermitted(d->ca, h->v, h->n, names, sizeof(names)))
        doc_fail(d, fix, "CA permits every intercepted name: not %s (it was made for another "
                 "host list)", names);
    else
        doc_ok(d, "CA permits every intercepted name (%zu)", h->n);
}

static void check_ca(struct doc *d)
{
    const char *dir = d->cfg.ca_dir;
    char key[4096], fix[1024], when[64] = "?";
    struct stat st;
    struct tm tm;
    FILE *f;
    int days = 0, secs = 0;

    snprintf(d->ca_crt, sizeof(d->ca_crt), "%s/ca.crt", dir);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    snprintf(fix, sizeof(fix), "hubgate ca-new -c %s", d->path);
    f = fopen(d->ca_crt, "r");
    if (f) {
        d->ca = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (!d->ca || stat(key, &st) == -1) {
        doc_fail(d, fix, "CA in %s: %s", dir,
             !d->ca ? "no readable ca.crt" : "no ca.key next to ca.crt");
        X509_free(d->ca);
        d->ca = NULL;
        return;
    }
    doc_ok(d, "CA in %s", dir);
    check_ca_names(d);
    snprintf(fix, sizeof(fix), "chmod 600 %s", key);
    if (st.st_mode & 077)
        doc_fail(d, fix, "CA key %s readable only by its owner: mode %04o lets %s read it", key,
             (unsigned)(st.st_mode & 07777), st.st_mode & 07 ? "everyone" : "its group");
    else
        doc_ok(d, "CA key %s readable only by its owner (mode %04o)", key,
           (unsigned)(st.st_mode & 07777));
    check_trust(d);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(d->ca), &tm) == 1)
        strftime(when, sizeof(when), "%Y-%m-%d", &tm);
    ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(d->ca));
    snprintf(fix, sizeof(fix), "hubgate ca-new --force -c %s && " DOC_FIX_TRUST
             " && systemctl restart hubgate docker", d->path, dir);
    if (days < 30)
        doc_fail(d, fix, "CA certificate valid 30 more days: it %s on %s",
             days < 0 || (days == 0 && secs <= 0) ? "expired" : "expires", when);
    else
        doc_ok(d, "CA certificate valid 30 more days (until %s)", when);
}

/* ---- hubgate, links, DNS ----------------------------------------------- */

static void check_listen(struct doc *d)
{
    struct dnc c;
    char why[512], fix[300];

    dnc_init(&c);
    snprintf(fix, sizeof(fix), d->systemd ? "systemctl start hubgate" : "hubgate -c %s",
             d->path);
    d->listening = dn_tcp(&c, d->host, d->cfg.listen_port, why, sizeof(why)) == 0;
    dn_close(&c);
    if (d->listening)
        doc_ok(d, "hubgate listening on %s:%u", d->cfg.listen_host, (unsigned)d->cfg.listen_port);
    else
        doc_fail(d, fix, "hubgate listening on %s:%u: %s", d->cfg.listen_host,
             (unsigned)d->cfg.listen_port, why);
}

/* A relay: TLS to it (verified against ca_file), GET /v2/ answers 401 with
 * a Bearer realm, as Docker Hub does. */
static void check_relay(struct doc *d, const struct link *l, const char *label)
{
    char why[768] = "", req[600], body[512], fix[600];
    struct dn_resp r = {0, "", body, 0, sizeof(body)};
    struct dnc c;

    dnc_init(&c);
    snprintf(fix, sizeof(fix), "curl -v https://%s:%u/v2/", l->host, (unsigned)l->port);
    snprintf(req, sizeof(req), "GET /v2/ HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: "
             "hubgate-doctor\r\nConnection: close\r\n\r\n", l->host, (unsigned)l->port);
    if (dn_open(&c, l->via, l->host, l->port, why, sizeof(why)) == 0 &&
        dn_tls(&c, d->cfg.ca_file, l->host, why, sizeof(why)) == 0 &&
        dn_http(&c, req, 0, &r, why, sizeof(why)) == 0) {
        if (r.status == 401 && strstr(r.www_auth, "realm="))
            doc_ok(d, "%s answers /v2/ with a token challenge (%s)", label, r.www_auth);
        else
            snprintf(why, sizeof(why), "GET /v2/ answered %d%s%s, want 401 with a realm",
                     r.status, r.www_auth[0] ? ", WWW-Authenticate: " : "", r.www_auth);
    }
    if (!(r.status == 401 && strstr(r.www_auth, "realm=")))
        doc_fail(d, fix, "%s answers /v2/: %s", label, why);
    dn_close(&c);
}

static void check_link(struct doc *d, const struct link *l)
{
    char why[768] = "", fix[700];
    struct dnc c;

    if (l->kind == LINK_RELAY) {
        char label[400];

        snprintf(label, sizeof(label), "link %s", l->name);
        check_relay(d, l, label);
        return;
    }
    dnc_init(&c);
    if (l->kind == LINK_DIRECT)
        snprintf(fix, sizeof(fix), "put a socks5://, http:// or relay: link before direct in "
                 "[upstream] via of %s", d->path);
    else
        snprintf(fix, sizeof(fix), "curl -v --proxy %s%s:%u https://" DOC_HUB_REGISTRY "/v2/",
                 l->kind == LINK_SOCKS5 ? "socks5h://" : "http://", l->host,
                 (unsigned)l->port);
    if (dn_open(&c, l, DOC_HUB_REGISTRY, 443, why, sizeof(why)) == 0 &&
        dn_tls(&c, d->cfg.ca_file, DOC_HUB_REGISTRY, why, sizeof(why)) == 0)
        doc_ok(d, "link %s reaches " DOC_HUB_REGISTRY ":443 (TLS verified)", l->name);
    else
        doc_fail(d, fix, "link %s reaches " DOC_HUB_REGISTRY ":443: %s", l->name, why);
    dn_close(&c);
}

static void check_links(struct doc *d)
{
    char err[512], entry[600];
    struct link *l;
    size_t i, j;

    for (i = 0; i < d->cfg.via.n; i++) {
        if (link_parse(d->cfg.via.v[i], 1, &l, err, sizeof(err)) != 0) {
            snprintf(entry, sizeof(entry), "hubgate -t -c %s", d->path);
            doc_fail(d, entry, "link %zu of [upstream] via: %s", i + 1, err);
            continue;
        }
        if (l->kind == LINK_DIRECT)
            d->direct = 1;
        if (l->kind != LINK_RELAY_MAP)
            check_link(d, l);
        for (j = 0; l->kind == LINK_RELAY_MAP && j < d->cfg.relay_hosts.n; j++) {
            struct link *r;
            char label[700];

            snprintf(entry, sizeof(entry), "relay:%s", d->cfg.relay_urls.v[j]);
            snprintf(label, sizeof(label), "relay %s for %s", d->cfg.relay_urls.v[j],
                     d->cfg.relay_hosts.v[j]);
            if (link_parse(entry, 1, &r, err, sizeof(err)) != 0) {
                snprintf(entry, sizeof(entry), "hubgate -t -c %s", d->path);
                doc_fail(d, entry, "%s: %s", label, err);
                continue;
            }
            check_relay(d, r, label);
            link_free(r);
        }
        link_free(l);
    }
}

/* Each address local DNS gives for an intercepted name must serve that
 * name with a certificate [upstream] ca_file verifies. */
static void check_dns(struct doc *d)
{
    struct addrinfo hints, *res, *ai;
    char fix[600], why[768], addr[80];
    size_t i;

    snprintf(fix, sizeof(fix), "put a socks5://, http:// or relay: link before direct in "
             "[upstream] via of %s", d->path);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    for (i = 0; i < d->cfg.intercept_hosts.n; i++) {
        const char *h = d->cfg.intercept_hosts.v[i];
        int rc = getaddrinfo(h, "443", &hints, &res), n = 0, bad = 0;

        if (rc != 0) {
            if (d->direct)
                doc_fail(d, fix, "local DNS for %s: no answer (%s); direct will not work, use a "
                     "socks5/http/relay link", h, gai_strerror(rc));
            else
                doc_ok(d, "local DNS for %s (no answer, but no direct link needs one)", h);
            continue;
        }
        for (ai = res; ai && n < 4 && !bad; ai = ai->ai_next, n++) {
            struct dnc c;

            dnc_init(&c);
            addr_format(ai->ai_addr, addr, sizeof(addr));
            addr[strcspn(addr, "]")] = '\0';
            if (addr[0] == '[')
                memmove(addr, addr + 1, strlen(addr));
            else
                addr[strcspn(addr, ":")] = '\0';
            bad = dn_tcp_addr(&c, ai->ai_addr, ai->ai_addrlen, why, sizeof(why)) != 0 ||
                  dn_tls(&c, d->cfg.ca_file, h, why, sizeof(why)) != 0;
            dn_close(&c);
        }
        freeaddrinfo(res);
        if (!bad)
            doc_ok(d, "local DNS for %s (%s serves %s)", h, addr, h);
        else if (d->direct)
            doc_fail(d, fix, "local DNS for %s looks poisoned: %s does not serve %s; direct will "
                 "not work, use a socks5/http/relay link (%s)", h, addr, h, why);
        else
            doc_ok(d, "local DNS for %s (%s does not serve %s, but no direct link uses it)", h,
               addr, h);
    }
}

/* ---- end to end through hubgate ---------------------------------------- */

/* Copies the "token" string of a JSON object into out. Returns 0 or -1. */
static int json_token(const char *body, char *out, size_t outlen)
{
    const char *p = strstr(body, "\"token\"");
    size_t n;

    if (!p)
        return -1;
    p += 7;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')
        p++;
    if (*p++ != '"')
        return -1;
    n = strcspn(p, "\"\\");
    if (p[n] != '"' || n == 0 || n >= outlen)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* CONNECT host:443 through hubgate, TLS verified against hubgate's CA. */
static int e2e_open(struct doc *d, struct dnc *c, const char *host, char *why, size_t wl)
{
    if (dn_tcp(c, d->host, d->cfg.listen_port, why, wl) != 0 ||
        dn_http_connect(c, host, 443, d->user[0] ? d->user : NULL, d->pass, why, wl) != 0 ||
        dn_tls(c, d->ca_crt, host, why, wl) != 0)
        return -1;
    return 0;
}

static void check_e2e(struct doc *d)
{
    static const char tok_check[] = "end to end: a pull token from " DOC_HUB_AUTH " through hubgate";
    static const char man_check[] = "end to end: HEAD library/hello-world:latest manifest "
                                    "through hubgate";
    char *body = calloc(1, 65536), *req = malloc(20000), token[16384], why[768] = "", fix[1200];
    struct dn_resp r = {0, "", body, 0, 65536};
    struct dnc c;

    dnc_init(&c);
    snprintf(fix, sizeof(fix), "curl -v --proxy http://%s%s%s:%u --cacert %s "
             "'https://" DOC_HUB_AUTH "/token?service=registry.docker.io&scope=repository:"
             "library/hello-world:pull'%s", strchr(d->host, ':') ? "[" : "", d->host,
             strchr(d->host, ':') ? "]" : "", (unsigned)d->cfg.listen_port, d->ca_crt,
             d->systemd ? " ; journalctl -u hubgate -n 50" : "");
    if (!body || !req)
        snprintf(why, sizeof(why), "out of memory");
    else if (!d->listening || !d->ca)
        snprintf(why, sizeof(why), "skipped: %s", !d->ca ? "no CA" : "hubgate is not listening");
    else if (e2e_open(d, &c, DOC_HUB_AUTH, why, sizeof(why)) == 0 &&
             dn_http(&c, "GET /token?service=registry.docker.io&scope=repository:library/"
                     "hello-world:pull HTTP/1.1\r\nHost: " DOC_HUB_AUTH "\r\nUser-Agent: "
                     "hubgate-doctor\r\nConnection: close\r\n\r\n", 0, &r, why, sizeof(why)) == 0) {
        if (r.status != 200 || json_token(body, token, sizeof(token)) != 0)
            snprintf(why, sizeof(why), "answered %d without a token", r.status);
        else
            why[0] = '\0';
    }
    dn_close(&c);
    if (why[0]) {
        doc_fail(d, fix, "%s: %s", tok_check, why);
        doc_fail(d, fix, "%s: skipped: no token", man_check);
        goto out;
    }
    doc_ok(d, "%s", tok_check);
    snprintf(req, 20000, "HEAD /v2/library/hello-world/manifests/latest HTTP/1.1\r\nHost: "
             DOC_HUB_REGISTRY "\r\nUser-Agent: hubgate-doctor\r\nAuthorization: Bearer %s\r\n"
             "Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker."
             "distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, "
             "application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n",
             token);
    if (e2e_open(d, &c, DOC_HUB_REGISTRY, why, sizeof(why)) == 0 &&
        dn_http(&c, req, 1, &r, why, sizeof(why)) == 0) {
        if (r.status == 200)
            doc_ok(d, "%s", man_check);
        else
            doc_fail(d, fix, "%s: answered %d, want 200", man_check, r.status);
    } else {
        doc_fail(d, fix, "%s: %s", man_check, why);
    }
    dn_close(&c);
    OPENSSL_cleanse(token, sizeof(token));
out:
    free(body);
    free(req);
}

int doctor_run(const char *config_path)
{
    struct doc d;
    char err[512];

    memset(&d, 0, sizeof(d));
    d.path = config_path;
    d.color = isatty(STDOUT_FILENO);
    d.systemd = access("/run/systemd/system", F_OK) == 0;
    if (config_load(&d.cfg, config_path, err, sizeof(err)) != 0) {
        char fix[600];

        snprintf(fix, sizeof(fix), "edit %s, then check it with: hubgate -t -c %s",
                 config_path, config_path);
        doc_fail(&d, fix, "config %s: %s", config_path, err);
        return 1;
    }
    doc_ok(&d, "config %s", config_path);
    snprintf(d.host, sizeof(d.host), "%s",
             strcmp(d.cfg.listen_host, "0.0.0.0") == 0 ? "127.0.0.1"
             : strcmp(d.cfg.listen_host, "::") == 0    ? "::1"
                                                       : d.cfg.listen_host);
    if (d.cfg.users.n > 0) {
        const char *u = d.cfg.users.v[0], *colon = strchr(u, ':');

        snprintf(d.user, sizeof(d.user), "%.*s", colon ? (int)(colon - u) : (int)strlen(u), u);
        snprintf(d.pass, sizeof(d.pass), "%s", colon ? colon + 1 : "");
    }
    check_ca(&d);
    doctor_check_dockerd(&d);
    check_listen(&d);
    check_links(&d);
    check_dns(&d);
    check_e2e(&d);
    X509_free(d.ca);
    OPENSSL_cleanse(d.pass, sizeof(d.pass));
    config_free(&d.cfg);
    return d.fails ? 1 : 0;
}
