/* metrics.c — counters, gauges and histograms in small chained hash tables, one per
 * event loop, summed into the Prometheus text exposition format 0.0.4 when
 * scraped. (The ring of recent requests is in metrics_recent.c.)
 *
 * Series are keyed by name and label string. Rendering gathers the series
 * of every table, sorts them by name, then labels, and merges equal ones,
 * so two scrapes of the same state are byte-identical. The
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
#include <time.h>

#define METRICS_BUCKETS 256u

/* A histogram is kept as counters: NAME_bucket{...,le="B"} (cumulative),
 * NAME_sum and NAME_count; it renders under one HELP and TYPE. */
enum metric_type { MT_COUNTER = 0, MT_GAUGE, MT_HISTOGRAM };

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
    {"hubgate_segments_total", MT_COUNTER, 0,
     "Segments of large blobs fetched by parallel Range requests, by link."},
    {"hubgate_segment_bytes_total", MT_COUNTER, 0,
     "Bytes of segmented blob fetches received, by link."},
    {"hubgate_upstream_throughput_bytes_per_second", MT_HISTOGRAM, 0,
     "Bytes/s one upstream connection achieved, from its request to its last byte: each "
     "segment of a segmented fetch (kind=segment) and each blob body fetched whole "
     "(kind=blob), by link."},
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
    {"hubgate_cache_hits_total", MT_COUNTER, 0,
     "Blob and manifest requests answered from the cache (joined fills included)."},
    {"hubgate_cache_misses_total", MT_COUNTER, 0,
     "Cacheable blob and manifest requests answered from upstream."},
    {"hubgate_cache_coalesced_total", MT_COUNTER, 0,
     "Requests that joined a fill in progress instead of fetching the blob again."},
    {"hubgate_cache_fills_carried_total", MT_COUNTER, 0,
     "Cache fills that went on to their end after the client that started them left."},
    {"hubgate_cache_served_bytes_total", MT_COUNTER, 0,
     "Body bytes sent to clients from the cache."},
    {"hubgate_cache_fetched_bytes_total", MT_COUNTER, 0,
     "Body bytes of cacheable responses fetched from upstream."},
    {"hubgate_cache_evictions_total", MT_COUNTER, 0,
     "Blobs evicted from the cache by this process to stay within max_size."},
    {"hubgate_cache_verified_bytes_total", MT_COUNTER, 0,
     "Bytes this process hashed against their digest before keeping them."},
    {"hubgate_cache_bytes", MT_GAUGE, 0, "Bytes of blobs the cache holds."},
    {"hubgate_cache_max_bytes", MT_GAUGE, 0, "The cache's max_size."},
};

#define METRIC_NDEFS (sizeof(metric_defs) / sizeof(metric_defs[0]))

/* bytes/s, 64 KiB/s to 256 MiB/s by fours */
static const double rate_bounds[] = {65536.0,    262144.0,    1048576.0,  4194304.0,
                                     16777216.0, 67108864.0, 268435456.0};

/* The upper bounds of each histogram of the table, rising (+Inf implied). */
static const struct histogram_def {
    const char *name;
    const double *le;
    size_t nle;
} histogram_defs[] = {
    {"hubgate_upstream_throughput_bytes_per_second", rate_bounds,
     sizeof(rate_bounds) / sizeof(rate_bounds[0])},
};

/* Who touches a table, and how:
 *   - its owner loop: looks series up without a lock (it is the only
 *     thread that ever links one in), adds to counters with a relaxed
 *     atomic load and store (a plain load and store on x86-64 and arm64:
 *     an increment costs what it did unlocked), and takes the lock only to
 *     link in a new series or to set a gauge (both rare: the set of series
 *     is bounded, and gauges change a few times per pull);
 *   - the scraper (the admin endpoint, on another loop's thread): takes
 *     the lock to walk the chains and read values and stamps, so it never
 *     meets a series half linked in or a gauge's value without its stamp.
 * Series are freed only with their table, after every thread is done, so
 * the names a scraper copied out stay valid after it unlocks. Relaxed is
 * enough for the values: a scrape needs each counter's latest value or a
 * recent one, not a consistent cut across counters. */
struct series {
    struct series *next;        /* hash chain */
    char *name;
    char *labels;
    enum metric_type type;
    double v;                   /* relaxed atomic: owner writes, scraper reads */
    uint64_t stamp;             /* gauges: CLOCK_MONOTONIC ns of the last set */
};

struct metrics {
    pthread_mutex_t lock;       /* linking series in, gauges, the scraper */
    struct series *bucket[METRICS_BUCKETS];
    size_t nseries;
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

size_t metrics_nseries(const struct metrics *m)
{
    return m ? __atomic_load_n(&m->nseries, __ATOMIC_RELAXED) : 0;
}

static const struct metric_def *metric_def_find(const char *name)
{
    size_t i;

    for (i = 0; i < METRIC_NDEFS; i++)
        if (strcmp(metric_defs[i].name, name) == 0)
            return &metric_defs[i];
    return NULL;
}

/* The known metric a series belongs to: its own name, or a histogram's
 * with the _bucket, _sum or _count suffix. */
static const struct metric_def *metric_def_of_series(const char *name)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    size_t i, k, n = strlen(name);

    for (i = 0; i < METRIC_NDEFS; i++) {
        size_t dn = strlen(metric_defs[i].name);

        if (metric_defs[i].type != MT_HISTOGRAM)
            continue;
        for (k = 0; k < 3; k++)
            if (n == dn + strlen(sfx[k]) && strncmp(name, metric_defs[i].name, dn) == 0 &&
                strcmp(name + dn, sfx[k]) == 0)
                return &metric_defs[i];
    }
    return metric_def_find(name);
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
 * table's type wins). Owner thread only. Without keep_lock the lookup
 * takes no lock (nobody else links series in) and the lock is taken only
 * to link a new one in; with keep_lock all of it runs under the lock,
 * which is still held on return (the caller unlocks, also after NULL).
 * NULL when out of memory. */
static struct series *series_get(struct metrics *m, const char *name, const char *labels,
                                 enum metric_type t, int keep_lock)
{
    unsigned h;
    struct series *s;
    const struct metric_def *d;

    if (!labels)
        labels = "";
    h = metrics_hash(name, labels);
    if (keep_lock)
        pthread_mutex_lock(&m->lock);
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
    s->type = d && d->type != MT_HISTOGRAM ? d->type : t;
    if (!keep_lock)
        pthread_mutex_lock(&m->lock);
    s->next = m->bucket[h];
    m->bucket[h] = s;
    __atomic_store_n(&m->nseries, m->nseries + 1, __ATOMIC_RELAXED);
    if (!keep_lock)
        pthread_mutex_unlock(&m->lock);
    return s;
}

double metrics_sum(struct metrics *const *t, size_t n, const char *name, const char *labels)
{
    unsigned h = metrics_hash(name, labels ? labels : "");
    double sum = 0, v;
    size_t i;

    for (i = 0; i < n; i++) {
        const struct series *s;

        if (!t[i])
            continue;
        pthread_mutex_lock(&t[i]->lock);
        for (s = t[i]->bucket[h]; s; s = s->next)
            if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels ? labels : "") == 0) {
                __atomic_load(&s->v, &v, __ATOMIC_RELAXED);
                sum += v;
                break;
            }
        pthread_mutex_unlock(&t[i]->lock);
    }
    return sum;
}

void metrics_add(struct metrics *m, const char *name, const char *labels, double v)
{
    struct series *s;
    double cur;

    if (!m)
        return;
    s = series_get(m, name, labels, MT_COUNTER, 0);
    if (!s)
        return;
    /* One writer (this thread): load, add, store; no read-modify-write
     * instruction needed, only a value the scraper never sees torn. */
    __atomic_load(&s->v, &cur, __ATOMIC_RELAXED);
    cur += v;
    __atomic_store(&s->v, &cur, __ATOMIC_RELAXED);
}

void metrics_set(struct metrics *m, const char *name, const char *labels, double v)
{
    struct timespec ts;
    struct series *s;

    if (!m)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s = series_get(m, name, labels, MT_GAUGE, 1);
    if (s) {
        __atomic_store(&s->v, &v, __ATOMIC_RELAXED);
        s->stamp = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    pthread_mutex_unlock(&m->lock);
}

void metrics_observe(struct metrics *m, const char *name, const char *labels, double v)
{
    const struct histogram_def *d = NULL;
    char nm[128], lb[640];
    size_t i;

    for (i = 0; i < sizeof(histogram_defs) / sizeof(histogram_defs[0]); i++)
        if (strcmp(histogram_defs[i].name, name) == 0)
            d = &histogram_defs[i];
    if (!m || !d || !labels)
        return;
    snprintf(nm, sizeof(nm), "%s_bucket", name);
    for (i = 0; i <= d->nle; i++) {
        double b = i < d->nle ? d->le[i] : INFINITY;

        if (i < d->nle)
            snprintf(lb, sizeof(lb), "%s%sle=\"%.0f\"", labels, labels[0] ? "," : "", b);
        else
            snprintf(lb, sizeof(lb), "%s%sle=\"+Inf\"", labels, labels[0] ? "," : "");
        /* every bucket exists from the first observation, those below v at 0 */
        metrics_add(m, nm, lb, v <= b ? 1 : 0);
    }
    snprintf(nm, sizeof(nm), "%s_sum", name);
    metrics_add(m, nm, labels, v);
    snprintf(nm, sizeof(nm), "%s_count", name);
    metrics_add(m, nm, labels, 1);
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

/* A series as the scraper copied it out of its table, under the lock. */
struct sample {
    const char *name, *labels;  /* the table's own strings (live as long as it) */
    enum metric_type type;
    double v;
    uint64_t stamp;
    size_t table;               /* index in the render's t[]: a stable order */
};

/* Label strings in order; the buckets of one histogram series (the same
 * labels before le="...", which comes last) by their bound, not as text. */
static int labels_cmp(const char *a, const char *b)
{
    const char *la = strstr(a, "le=\""), *lb = strstr(b, "le=\"");
    double va, vb;

    if (!la || !lb || la - a != lb - b || strncmp(a, b, (size_t)(la - a)) != 0)
        return strcmp(a, b);
    va = strtod(la + 4, NULL); /* "+Inf" reads as infinity */
    vb = strtod(lb + 4, NULL);
    return (va > vb) - (va < vb);
}

static int sample_cmp(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (!c)
        c = labels_cmp(x->labels, y->labels);
    /* the same series from several tables: summed in table order, so the
     * same state adds up to the same bits */
    return c ? c : (x->table > y->table) - (x->table < y->table);
}

/* Appends copies of m's series to *all (grown as needed). -1: no memory. */
static int collect(struct metrics *m, size_t table, struct sample **all, size_t *n, size_t *cap)
{
    size_t i;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    for (i = 0; i < METRICS_BUCKETS && rc == 0; i++) {
        const struct series *s;

        for (s = m->bucket[i]; s; s = s->next) {
            struct sample *x;

            if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 64;
                struct sample *p = realloc(*all, nc * sizeof(*p));

                if (!p) {
                    rc = -1;
                    break;
                }
                *all = p;
                *cap = nc;
            }
            x = &(*all)[(*n)++];
            x->name = s->name;
            x->labels = s->labels;
            x->type = s->type;
            __atomic_load(&s->v, &x->v, __ATOMIC_RELAXED);
            x->stamp = s->stamp;
            x->table = table;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Folds runs of the same series into their first entry: counters summed,
 * gauges the value with the latest stamp. Returns the new count. */
static size_t merge(struct sample *all, size_t n)
{
    size_t i, k = 0;

    for (i = 0; i < n; i++) {
        struct sample *last = k ? &all[k - 1] : NULL;

        if (last && strcmp(last->name, all[i].name) == 0 &&
            strcmp(last->labels, all[i].labels) == 0) {
            if (last->type == MT_COUNTER)
                last->v += all[i].v;
            else if (all[i].stamp > last->stamp)
                last->v = all[i].v, last->stamp = all[i].stamp;
            continue;
        }
        all[k++] = all[i];
    }
    return k;
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

static void render_sample(struct strbuf *sb, const struct sample *s)
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
                  t == MT_COUNTER ? "counter" : t == MT_GAUGE ? "gauge" : "histogram");
}

/* A histogram's series: every bucket, then the sums, then the counts. */
static void render_histogram(struct strbuf *sb, const char *name, const struct sample *all,
                             size_t n)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    size_t j, k, len = strlen(name);

    for (k = 0; k < 3; k++)
        for (j = 0; j < n; j++)
            if (strncmp(all[j].name, name, len) == 0 && strcmp(all[j].name + len, sfx[k]) == 0)
                render_sample(sb, &all[j]);
}

static void render_all(struct strbuf *sb, const struct sample *all, size_t n)
{
    size_t i, j, d;

    for (d = 0; d < METRIC_NDEFS; d++) {
        const struct metric_def *def = &metric_defs[d];
        int any = 0;

        render_head(sb, def->name, def->help, def->type);
        if (def->type == MT_HISTOGRAM) {
            render_histogram(sb, def->name, all, n);
            continue;
        }
        for (j = 0; j < n; j++) {
            if (strcmp(all[j].name, def->name) == 0) {
                render_sample(sb, &all[j]);
                any = 1;
            }
        }
        /* A counter without labels starts at 0; a gauge without a sample
         * stays absent (its value is unknown, not zero). */
        if (!any && def->zero)
            strbuf_printf(sb, "%s 0\n", def->name);
    }
    /* Names outside the table, grouped (the array is sorted by name). */
    for (j = 0; j < n; j = i) {
        for (i = j; i < n && strcmp(all[i].name, all[j].name) == 0; i++)
            ;
        if (metric_def_of_series(all[j].name))
            continue;
        render_head(sb, all[j].name, "hubgate metric.", all[j].type);
        for (; j < i; j++)
            render_sample(sb, &all[j]);
    }
}

int metrics_render(struct metrics *const *t, size_t n, char **out, size_t *outlen)
{
    /* Appends to what *out already holds (cap unknown: the first write
     * reallocates). */
    struct strbuf sb = {*out, *out ? *outlen : 0, *out ? *outlen : 0, 0};
    struct sample *all = NULL;
    size_t nall = 0, cap = 0, i;
    int rc = 0;

    for (i = 0; i < n && rc == 0; i++)
        if (t[i])
            rc = collect(t[i], i, &all, &nall, &cap);
    if (rc == 0) {
        if (nall)
            qsort(all, nall, sizeof(*all), sample_cmp);
        render_all(&sb, all, merge(all, nall));
    }
    free(all);
    /* On failure the caller keeps (and frees) what it had: sb.p is either
     * still *out or a realloc of it. */
    *out = sb.p;
    *outlen = sb.len;
    return rc != 0 || sb.oom || !sb.p ? -1 : 0;
}
