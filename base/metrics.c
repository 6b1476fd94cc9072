/* metrics.c — counters and gauges in a small chained hash table, rendered
 * in the Prometheus text exposition format 0.0.4, plus the ring of recent
 * requests shown on the status page.
 *
 * Series are keyed by name and label string. Rendering sorts them by name,
 * then labels, so two scrapes of the same state are byte-identical. The
 * known metrics (table below) get their HELP and TYPE lines even before a
 * first sample; a name outside the table is rendered with a generic HELP
 * and the type of its first update. */
#include "base/metrics.h"
#include "base/strbuf.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_BUCKETS 256u
#define METRICS_RECENT 50u
#define METRICS_LINE 512u

enum metric_type { MT_COUNTER = 0, MT_GAUGE };

struct metric_def {
    const char *name;
    enum metric_type type;
    int zero;               /* no labels: render 0 before the first update */
    const char *help;
};

static const struct metric_def metric_defs[] = {
    {"hubgate_requests_total", MT_COUNTER, 0,
     "Requests answered on intercepted connections, by origin host, upstream link and status."},
    {"hubgate_bytes_total", MT_COUNTER, 0,
     "Bytes moved through upstream links: in from upstream, out toward upstream."},
    {"hubgate_upstream_failures_total", MT_COUNTER, 0,
     "Failed attempts to open an upstream connection, by link and reason."},
    {"hubgate_failovers_total", MT_COUNTER, 0,
     "Requests moved from one upstream link to the next."},
    {"hubgate_connections", MT_GAUGE, 0,
     "Client connections open now, by kind (client, tunnel, intercepted)."},
    {"hubgate_leaf_certs_minted_total", MT_COUNTER, 1,
     "Leaf certificates minted by the local CA."},
    {"hubgate_tls_handshake_failures_total", MT_COUNTER, 0,
     "Failed TLS handshakes, by side (client or upstream)."},
    {"hubgate_dockerhub_ratelimit_remaining", MT_GAUGE, 0,
     "Pulls left in Docker Hub's rate limit window, from the last ratelimit-remaining header."},
    {"hubgate_ca_expiry_timestamp_seconds", MT_GAUGE, 0,
     "Expiry time of the local CA certificate, in seconds since the Unix epoch."},
};

#define METRIC_NDEFS (sizeof(metric_defs) / sizeof(metric_defs[0]))

struct series {
    struct series *next;        /* hash chain */
    char *name;
    char *labels;
    enum metric_type type;
    double v;
};

struct metrics {
    pthread_mutex_t lock;       /* the event loops of all workers update it */
    struct series *bucket[METRICS_BUCKETS];
    size_t nseries;
    char recent[METRICS_RECENT][METRICS_LINE];
    size_t recent_next;         /* slot the next line goes to */
    size_t recent_n;            /* lines held, up to METRICS_RECENT */
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(struct metrics));

    if (m && pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void metrics_free(struct metrics *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < METRICS_BUCKETS; i++) {
        struct series *s = m->bucket[i], *next;

        for (; s; s = next) {
            next = s->next;
            free(s->name);
            free(s->labels);
            free(s);
        }
        m->bucket[i] = NULL;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static const struct metric_def *metric_def_find(const char *name)
{
    size_t i;

    for (i = 0; i < METRIC_NDEFS; i++)
        if (strcmp(metric_defs[i].name, name) == 0)
            return &metric_defs[i];
    return NULL;
}

/* FNV-1a over name, a separator and labels. */
static unsigned metrics_hash(const char *name, const char *labels)
{
    uint32_t h = 2166136261u;
    const unsigned char *p;

    for (p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (p = (const unsigned char *)labels; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % METRICS_BUCKETS;
}

/* Finds name{labels}, creating it at 0 with type t when missing (the known
 * table's type wins). NULL when out of memory. */
static struct series *series_get(struct metrics *m, const char *name, const char *labels,
                                 enum metric_type t)
{
    unsigned h;
    struct series *s;
    const struct metric_def *d;

    if (!labels)
        labels = "";
    h = metrics_hash(name, labels);
    for (s = m->bucket[h]; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->name = strdup(name);
    s->labels = strdup(labels);
    if (!s->name || !s->labels) {
        free(s->name);
        free(s->labels);
        free(s);
        return NULL;
    }
    d = metric_def_find(name);
    s->type = d ? d->type : t;
    s->next = m->bucket[h];
    m->bucket[h] = s;
    m->nseries++;
    return s;
}

void metrics_add(struct metrics *m, const char *name, const char *labels, double v)
{
    struct series *s;

    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    s = series_get(m, name, labels, MT_COUNTER);
    if (s)
        s->v += v;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set(struct metrics *m, const char *name, const char *labels, double v)
{
    struct series *s;

    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    s = series_get(m, name, labels, MT_GAUGE);
    if (s)
        s->v = v;
    pthread_mutex_unlock(&m->lock);
}

/* Appends the escaped form of v at out[*at], within outlen - 1 bytes.
 * Returns 0, or -1 when it does not fit (out[*at] is then unchanged). */
static int label_value_append(char *out, size_t outlen, size_t *at, const char *v)
{
    size_t n = *at;

    for (; *v; v++) {
        const char *rep = NULL;
        char one[2] = {*v, '\0'};
        size_t k;

        if (*v == '\\')
            rep = "\\\\";
        else if (*v == '"')
            rep = "\\\"";
        else if (*v == '\n')
            rep = "\\n";
        else
            rep = one;
        k = strlen(rep);
        if (n + k >= outlen)
            return -1;
        memcpy(out + n, rep, k);
        n += k;
    }
    *at = n;
    return 0;
}

const char *metrics_label(char *out, size_t outlen, ...)
{
    va_list ap;
    const char *key;
    size_t at = 0;

    if (outlen == 0)
        return out;
    out[0] = '\0';
    va_start(ap, outlen);
    while ((key = va_arg(ap, const char *)) != NULL) {
        size_t keep = at, klen = strlen(key);
        const char *val = va_arg(ap, const char *);

        if (!val)
            val = "";
        /* A pair that does not fit is dropped whole, so the result stays
         * a well-formed label list. */
        if (at + (at ? 1 : 0) + klen + 2 >= outlen)
            break;
        if (at)
            out[at++] = ',';
        memcpy(out + at, key, klen);
        at += klen;
        out[at++] = '=';
        out[at++] = '"';
        if (label_value_append(out, outlen, &at, val) != 0 || at + 1 >= outlen) {
            at = keep;
            break;
        }
        out[at++] = '"';
        out[at] = '\0';
    }
    out[at] = '\0';
    va_end(ap);
    return out;
}

/* ---- rendering --------------------------------------------------------- */

static int series_cmp(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;
    int c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->labels, y->labels);
}

static void render_value(struct strbuf *sb, double v)
{
    /* Whole numbers below 2^53 print exactly, without an exponent. */
    if (isnan(v))
        strbuf_printf(sb, "NaN");
    else if (isinf(v))
        strbuf_printf(sb, "%sInf", v > 0 ? "+" : "-");
    else if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v)
        strbuf_printf(sb, "%.0f", v);
    else
        strbuf_printf(sb, "%.17g", v);
}

static void render_series(struct strbuf *sb, const struct series *s)
{
    if (s->labels[0])
        strbuf_printf(sb, "%s{%s} ", s->name, s->labels);
    else
        strbuf_printf(sb, "%s ", s->name);
    render_value(sb, s->v);
    strbuf_printf(sb, "\n");
}

static void render_head(struct strbuf *sb, const char *name, const char *help,
                        enum metric_type t)
{
    strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
              t == MT_COUNTER ? "counter" : "gauge");
}

static int metrics_render_locked(const struct metrics *m, char **out, size_t *outlen);

int metrics_render(const struct metrics *m, char **out, size_t *outlen)
{
    int rc;

    pthread_mutex_lock((pthread_mutex_t *)&m->lock);
    rc = metrics_render_locked(m, out, outlen);
    pthread_mutex_unlock((pthread_mutex_t *)&m->lock);
    return rc;
}

static int metrics_render_locked(const struct metrics *m, char **out, size_t *outlen)
{
    /* Appends to what *out already holds (cap unknown: the first write
     * reallocates). */
    struct strbuf sb = {*out, *out ? *outlen : 0, *out ? *outlen : 0, 0};
    struct series **all = NULL;
    size_t n = 0, i, j, d;

    if (m->nseries) {
        all = malloc(m->nseries * sizeof(*all));
        if (!all)
            return -1;
    }
    for (i = 0; i < METRICS_BUCKETS; i++) {
        struct series *s;

        for (s = m->bucket[i]; s && n < m->nseries; s = s->next)
            all[n++] = s;
    }
    if (n)
        qsort(all, n, sizeof(*all), series_cmp);

    for (d = 0; d < METRIC_NDEFS; d++) {
        const struct metric_def *def = &metric_defs[d];
        int any = 0;

        render_head(&sb, def->name, def->help, def->type);
        for (j = 0; j < n; j++) {
            if (strcmp(all[j]->name, def->name) == 0) {
                render_series(&sb, all[j]);
                any = 1;
            }
        }
        /* A counter without labels starts at 0; a gauge without a sample
         * stays absent (its value is unknown, not zero). */
        if (!any && def->zero)
            strbuf_printf(&sb, "%s 0\n", def->name);
    }
    /* Names outside the table, grouped (the array is sorted by name). */
    for (j = 0; j < n; j = i) {
        for (i = j; i < n && strcmp(all[i]->name, all[j]->name) == 0; i++)
            ;
        if (metric_def_find(all[j]->name))
            continue;
        render_head(&sb, all[j]->name, "hubgate metric.", all[j]->type);
        for (; j < i; j++)
            render_series(&sb, all[j]);
    }
    free(all);
    if (sb.oom || !sb.p) {
        /* On failure the caller keeps (and frees) what it had: sb.p is
         * either still *out or a realloc of it. */
        *out = sb.p;
        *outlen = sb.len;
        return -1;
    }
    *out = sb.p;
    *outlen = sb.len;
    return 0;
}

/* ---- recent requests --------------------------------------------------- */

void metrics_recent(struct metrics *m, const char *line)
{
    char *slot;
    size_t i;

    if (!m || !line)
        return;
    pthread_mutex_lock(&m->lock);
    slot = m->recent[m->recent_next];
    snprintf(slot, METRICS_LINE, "%s", line);
    /* One line each: a newline inside would split it on the page. */
    for (i = 0; slot[i]; i++)
        if (slot[i] == '\n' || slot[i] == '\r')
            slot[i] = ' ';
    m->recent_next = (m->recent_next + 1) % METRICS_RECENT;
    if (m->recent_n < METRICS_RECENT)
        m->recent_n++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_recent_each(const struct metrics *m, void (*fn)(void *arg, const char *line),
                         void *arg)
{
    size_t i, start;

    if (!m)
        return;
    pthread_mutex_lock((pthread_mutex_t *)&m->lock);
    start = (m->recent_next + METRICS_RECENT - m->recent_n) % METRICS_RECENT;
    for (i = 0; i < m->recent_n; i++)
        fn(arg, m->recent[(start + i) % METRICS_RECENT]);
    pthread_mutex_unlock((pthread_mutex_t *)&m->lock);
}
