/* route.c — where one attempt of a request goes on a given link, and how a
 * relay's answers are mapped back to Docker Hub names so that the client
 * never learns the relay and a token URL stays valid on any link. */
#include "mitm/route.h"

#include <stdio.h>
#include <string.h>

#include "mitm/exchange.h"
#include "proxy/core/policy.h"
#include "base/uri.h"
#include "proxy/core/links.h"

/* The relay origin the link sends x->host to, from [relay] for a map. */
static int relay_of(const struct exchange *x, const struct link *l, char *host, size_t hostlen,
                    unsigned *port)
{
    const struct config *cfg = &x->gen->cfg;
    size_t i;

    if (l->kind == LINK_RELAY) {
        snprintf(host, hostlen, "%s", l->host);
        *port = l->port ? l->port : 443;
        return 0;
    }
    for (i = 0; i < cfg->relay_hosts.n; i++) {
        struct uri u;
        const char *url = cfg->relay_urls.v[i];

        if (strcmp(cfg->relay_hosts.v[i], x->host) != 0)
            continue;
        if (uri_parse(url, strlen(url), &u) != 0 || u.host_len >= hostlen)
            return -1;
        memcpy(host, u.host, u.host_len);
        host[u.host_len] = '\0';
        *port = u.port ? u.port : 443;
        return 0;
    }
    return -1;
}

static void host_header(char *out, size_t outlen, const char *host, unsigned port,
                        unsigned dflt)
{
    int v6 = strchr(host, ':') != NULL;

    if (port == dflt)
        snprintf(out, outlen, v6 ? "[%s]" : "%s", host);
    else if (v6)
        snprintf(out, outlen, "[%s]:%u", host, port);
    else
        snprintf(out, outlen, "%s:%u", host, port);
}

int route_attempt(struct exchange *x, struct route *r, const char **why)
{
    if (!x->cl.intercepted) {
        /* Plain forwarding: the client's own origin, over the passthrough
         * link; x->host/x->port come from the absolute-form URL. */
        memset(r, 0, sizeof(*r));
        r->path = buf_data(&x->tmpl) + x->tmpl_url_off;
        r->path_len = x->tmpl_url_len;
        r->via = x->gen->pass_links.v[0];
        snprintf(r->host, sizeof(r->host), "%s", x->host);
        r->port = x->port;
        host_header(r->hosthdr, sizeof(r->hosthdr), x->host, x->port, 80);
        return 0;
    }
    return route_on_link(x, x->link, r, why);
}

int route_on_link(struct exchange *x, int link, struct route *r, const char **why)
{
    const struct link *l = x->gen->links.v[link];

    memset(r, 0, sizeof(*r));
    r->path = buf_data(&x->tmpl) + x->tmpl_url_off;
    r->path_len = x->tmpl_url_len;
    r->tls = 1;
    r->via = (l->kind == LINK_RELAY || l->kind == LINK_RELAY_MAP) ? l->via : l;
    if (x->redir) {
        struct uri u;

        if (uri_parse(x->redir, strlen(x->redir), &u) != 0 || u.host_len >= sizeof(r->host) ||
            !http1_span_eq(u.scheme, u.scheme_len, "https") || !uri_host_ok(u.host, u.host_len)) {
            *why = "redirect to an unusable URL (https:// only)";
            return -1;
        }
        memcpy(r->host, u.host, u.host_len);
        r->host[u.host_len] = '\0';
        r->port = u.port ? u.port : 443;
        r->path = u.path_len ? u.path : "/";
        r->path_len = u.path_len ? u.path_len : 1;
        host_header(r->hosthdr, sizeof(r->hosthdr), r->host, r->port, 443);
        return 0;
    }
    if (l->kind == LINK_RELAY || l->kind == LINK_RELAY_MAP) {
        if (relay_of(x, l, r->host, sizeof(r->host), &r->port) != 0) {
            *why = "no [relay] entry for this host";
            return -1;
        }
    } else {
        snprintf(r->host, sizeof(r->host), "%s", x->host);
        r->port = x->port;
    }
    host_header(r->hosthdr, sizeof(r->hosthdr), r->host, r->port, 443);
    return 0;
}

/* The host a relay's blob redirects stand for: Docker Hub's blob host when
 * it is intercepted, else the host the request went to. */
static const char *blob_host(const struct exchange *x)
{
    const struct str_list *h = &x->gen->cfg.intercept_hosts;
    size_t i;

    for (i = 0; i < h->n; i++)
        if (strcmp(h->v[i], "production.cloudflare.docker.com") == 0)
            return h->v[i];
    return x->host;
}

/* If url[0..n) starts with a relay origin of the current link, writes the
 * Docker Hub URL it stands for into out (to_auth: the relay's token
 * service is auth.docker.io). Returns the new length or -1. */
static int unmap(const struct exchange *x, const char *url, size_t n, int to_auth, char *out,
                 size_t outlen)
{
    const struct link *l = x->gen->links.v[x->link];
    const struct config *cfg = &x->gen->cfg;
    struct uri u;
    const char *dst = NULL;
    size_t i;
    int len;

    if (uri_parse(url, n, &u) != 0)
        return -1;
    if (l->kind == LINK_RELAY && uri_host_eq(u.host, u.host_len, l->host)) {
        dst = to_auth ? "auth.docker.io" : blob_host(x);
    } else if (l->kind == LINK_RELAY_MAP) {
        for (i = 0; i < cfg->relay_urls.n && !dst; i++) {
            struct uri r;
            const char *ru = cfg->relay_urls.v[i];

            if (uri_parse(ru, strlen(ru), &r) == 0 &&
                r.host_len == u.host_len && memcmp(r.host, u.host, u.host_len) == 0)
                dst = cfg->relay_hosts.v[i];
        }
    }
    if (!dst)
        return -1;
    len = snprintf(out, outlen, "https://%s%.*s", dst, (int)u.path_len, u.path);
    return len > 0 && (size_t)len < outlen ? len : -1;
}

int route_rewrite(void *arg, const char *name, size_t name_len, const char *value,
                  size_t value_len, char *out, size_t outlen)
{
    struct exchange *x = arg;
    const struct link *l;

    if (!x->cl.intercepted || x->link < 0)
        return -1;
    l = x->gen->links.v[x->link];
    if (l->kind != LINK_RELAY && l->kind != LINK_RELAY_MAP)
        return -1;
    if (http1_span_eq(name, name_len, "location"))
        return unmap(x, value, value_len, 0, out, outlen);
    if (http1_span_eq(name, name_len, "www-authenticate")) {
        /* Bearer realm="https://relay/token",service="..." */
        const char *p = memmem(value, value_len, "realm=\"", 7), *e;
        char url[2048];
        int ul;
        size_t pre, post;

        if (!p)
            return -1;
        p += 7;
        e = memchr(p, '"', value_len - (size_t)(p - value));
        if (!e)
            return -1;
        ul = unmap(x, p, (size_t)(e - p), 1, url, sizeof(url));
        if (ul < 0)
            return -1;
        pre = (size_t)(p - value);
        post = value_len - (size_t)(e - value);
        if (pre + (size_t)ul + post >= outlen)
            return -1;
        memcpy(out, value, pre);
        memcpy(out + pre, url, (size_t)ul);
        memcpy(out + pre + (size_t)ul, e, post);
        return (int)(pre + (size_t)ul + post);
    }
    return -1;
}
