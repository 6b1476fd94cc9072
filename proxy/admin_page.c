/* admin_page.c — the status page of the admin endpoint: one self-contained
 * HTML document (inline CSS, no script, no external asset), every value
 * that comes from outside (config, link names, request lines) escaped. */
#include "proxy/admin_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "proxy/conn.h"
#include "proxy/core/link.h"
#include "base/metrics.h"
#include "base/strbuf.h"

/* Appends text with the HTML special characters escaped. */
static void sb_html(struct strbuf *s, const char *t)
{
    for (; *t; t++) {
        switch (*t) {
        case '&': strbuf_str(s, "&amp;"); break;
        case '<': strbuf_str(s, "&lt;"); break;
        case '>': strbuf_str(s, "&gt;"); break;
        case '"': strbuf_str(s, "&quot;"); break;
        case '\'': strbuf_str(s, "&#39;"); break;
        default: strbuf_add(s, t, 1); break;
        }
    }
}

/* ---- the page ---------------------------------------------------------- */

/* "ok" or "resting Ns: why", in a buffer that lives until the next call. */
static const char *link_state(struct proxy *px, size_t i)
{
    static char buf[160]; /* the page is built on the loop, one call at a time */

    if (!px->gen || i >= px->gen->links.n)
        return "unknown";
    return links_state(&px->gen->links, (int)i, loop_now(px->loop), buf, sizeof(buf));
}

struct recent_rows {
    char *v[64];
    size_t n;
};

static void collect_recent(void *arg, const char *line)
{
    struct recent_rows *r = arg;

    if (r->n < sizeof(r->v) / sizeof(r->v[0])) {
        r->v[r->n] = strdup(line);
        if (r->v[r->n])
            r->n++;
    }
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>hubgate</title><style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}\n"
    "h1{font-size:22px;margin:0 0 12px}h2{font-size:16px;margin:20px 0 6px}\n"
    "table{border-collapse:collapse;background:#fff}"
    "td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}\n"
    "th{background:#f0f0f0}.ok{color:#1a7f37;font-weight:600}"
    ".bad{color:#b42318;font-weight:600}\n"
    "code,.mono{font-family:ui-monospace,monospace;font-size:13px}"
    ".muted{color:#777}a{color:#0550ae}\n"
    "</style></head><body>\n";

static void page_links(struct strbuf *s, struct proxy *px)
{
    const struct config *cfg = px->cfg;
    size_t i;

    strbuf_str(s, "<h2>Upstream links</h2>\n<table><tr><th>#</th><th>link</th><th>state</th></tr>\n");
    for (i = 0; i < cfg->via.n; i++) {
        char name[256];
        const char *st = link_state(px, i);

        /* Never show a link's password on the page. */
        link_redact(cfg->via.v[i], name, sizeof(name));
        strbuf_printf(s, "<tr><td>%zu</td><td class=\"mono\">", i + 1);
        sb_html(s, name);
        strbuf_printf(s, "</td><td class=\"%s\">", strcmp(st, "ok") == 0 ? "ok" : "bad");
        sb_html(s, st);
        strbuf_str(s, "</td></tr>\n");
    }
    strbuf_str(s, "</table>\n");
}

static void page_recent(struct strbuf *s, struct metrics_recent *r)
{
    struct recent_rows rows;
    size_t i;

    strbuf_str(s, "<h2>Recent requests</h2>\n");
    memset(&rows, 0, sizeof(rows));
    metrics_recent_each(r, collect_recent, &rows);
    if (rows.n == 0)
        strbuf_str(s, "<p class=\"muted\">none yet</p>\n");
    else
        strbuf_str(s, "<table class=\"mono\"><tr><th>newest first</th></tr>\n");
    for (i = rows.n; i-- > 0;) {
        strbuf_str(s, "<tr><td>");
        sb_html(s, rows.v[i]);
        strbuf_str(s, "</td></tr>\n");
        free(rows.v[i]);
    }
    if (rows.n)
        strbuf_str(s, "</table>\n");
}

int admin_page(struct proxy *px, const char *listen, time_t started, char **out,
               size_t *outlen)
{
    const struct config *cfg = px->cfg;
    struct strbuf s = {NULL, 0, 0, 0};
    long up = (long)(time(NULL) - started);
    char when[64] = "-";

    strbuf_str(&s, page_head);
    strbuf_printf(&s, "<h1>hubgate <span class=\"muted\">%s</span></h1>\n<table>\n",
              HUBGATE_VERSION);
    strbuf_printf(&s, "<tr><th>uptime</th><td>%ldd %ldh %ldm %lds</td></tr>\n", up / 86400,
              up / 3600 % 24, up / 60 % 60, up % 60);
    strbuf_str(&s, "<tr><th>proxy listen</th><td class=\"mono\">");
    sb_html(&s, cfg->listen_host);
    strbuf_printf(&s, ":%u</td></tr>\n<tr><th>admin listen</th><td class=\"mono\">",
              (unsigned)cfg->listen_port);
    sb_html(&s, listen);
    strbuf_printf(&s, "</td></tr>\n<tr><th>connections</th><td>%u open</td></tr>\n",
              admin_count(px, CONN_HTTP));
    if (admin_ca(px)) {
        time_t exp = ca_not_after(admin_ca(px));
        struct tm tm;

        if (gmtime_r(&exp, &tm))
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    }
    strbuf_str(&s, "<tr><th>CA</th><td><a href=\"/ca.crt\">ca.crt</a> in <code>");
    sb_html(&s, cfg->ca_dir ? cfg->ca_dir : "-");
    strbuf_printf(&s, "</code>, valid until %s</td></tr>\n</table>\n", when);
    page_links(&s, px);
    page_recent(&s, px->recent);
    strbuf_str(&s, "<p class=\"muted\"><a href=\"/metrics\">/metrics</a> &middot; "
               "<a href=\"/healthz\">/healthz</a> &middot; <a href=\"/ca.crt\">/ca.crt</a>"
               "</p>\n</body></html>\n");
    if (s.oom) {
        free(s.p);
        *out = NULL;
        return -1;
    }
    *out = s.p;
    *outlen = s.len;
    return 0;
}
