/* log.c — leveled logging, text or JSON lines. See log.h. */
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"

/* A text line is cut at LOG_TEXT_MAX bytes, as it always was. A JSON line
 * may take more (escapes grow the text): up to PIPE_BUF, so that one
 * write() to a pipe (journald, a shipper) stays whole. */
#define LOG_TEXT_MAX 2048u
#define LOG_JSON_MAX 4096u

static int log_min = LOG_INFO;
static int log_json;
static int log_fd = 2;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level lvl) { __atomic_store_n(&log_min, (int)lvl, __ATOMIC_RELAXED); }

void log_set_json(int json) { __atomic_store_n(&log_json, json ? 1 : 0, __ATOMIC_RELAXED); }

void log_set_fd(int fd) { __atomic_store_n(&log_fd, fd, __ATOMIC_RELAXED); }

static int log_enabled(enum log_level lvl)
{
    return (int)lvl >= __atomic_load_n(&log_min, __ATOMIC_RELAXED);
}

/* "2024-05-01T12:00:00.123Z" into out (at least 32 bytes). */
static void log_time(char *out, size_t outlen)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, outlen - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* One write per line, so that lines from several loops never interleave;
 * a failed write (disk full, closed stderr) must not stop the proxy. */
static void log_write(const char *line, size_t n)
{
    int fd = __atomic_load_n(&log_fd, __ATOMIC_RELAXED);
    ssize_t w;

    do
        w = write(fd, line, n);
    while (w == -1 && errno == EINTR);
}

/* ---- JSON lines -------------------------------------------------------- */

/* A JSON line being built: what is appended always leaves room for the
 * closing "}\n", so a cut line is still one valid object. */
struct jline {
    char b[LOG_JSON_MAX];
    size_t n;
};

#define JLINE_END 2u    /* "}\n" */

static void jl_raw(struct jline *l, const char *s)
{
    size_t k = strlen(s);

    if (l->n + k + JLINE_END < sizeof(l->b)) {
        memcpy(l->b + l->n, s, k);
        l->n += k;
    }
}

/* ,"key": then the value: a string escaped into what room is left (cut
 * at a character), or a number; a field without room for its key and an
 * empty value is left out whole. */
static void jl_field(struct jline *l, const char *key, const char *str, long long num)
{
    char k[80], v[32];
    size_t kn = json_escape(k, sizeof(k), key), need = kn + 6; /* ,"k":"" */

    if (!str)
        need = kn + 4 + (size_t)snprintf(v, sizeof(v), "%lld", num);
    if (l->n + need + JLINE_END >= sizeof(l->b))
        return;
    l->n += (size_t)snprintf(l->b + l->n, sizeof(l->b) - l->n, "%s\"%s\":", l->n > 1 ? "," : "",
                             k);
    if (!str) {
        jl_raw(l, v);
        return;
    }
    l->b[l->n++] = '"';
    /* room for the value, its closing quote and the line's end */
    l->n += json_escape(l->b + l->n, sizeof(l->b) - l->n - 1 - JLINE_END, str);
    l->b[l->n++] = '"';
}

static void jl_start(struct jline *l, enum log_level lvl)
{
    char t[40];

    l->n = 0;
    jl_raw(l, "{");
    log_time(t, sizeof(t));
    jl_field(l, "time", t, 0);
    jl_field(l, "level", log_names[lvl], 0);
}

static void jl_finish(struct jline *l)
{
    l->b[l->n++] = '}';
    l->b[l->n++] = '\n';
    log_write(l->b, l->n);
}

/* ---- entry points ------------------------------------------------------ */

static void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    char line[LOG_TEXT_MAX];
    size_t n;

    if (__atomic_load_n(&log_json, __ATOMIC_RELAXED)) {
        struct jline l;

        vsnprintf(line, sizeof(line), fmt, ap);
        jl_start(&l, lvl);
        jl_field(&l, "msg", line, 0);
        jl_finish(&l);
        return;
    }
    log_time(line, sizeof(line));
    n = strlen(line);
    n += (size_t)snprintf(line + n, sizeof(line) - n, " %s ", log_names[lvl]);
    vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    n = strlen(line);
    if (n < sizeof(line) - 1)
        line[n++] = '\n';
    else
        line[sizeof(line) - 2] = '\n', n = sizeof(line) - 1;
    log_write(line, n);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(lvl))
        return;
    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}

void log_event(enum log_level lvl, const char *event, const struct log_field *f, size_t n,
               const char *fmt, ...)
{
    struct jline l;
    va_list ap;
    size_t i;

    if (!log_enabled(lvl))
        return;
    if (!__atomic_load_n(&log_json, __ATOMIC_RELAXED)) {
        va_start(ap, fmt);
        log_vmsg(lvl, fmt, ap);
        va_end(ap);
        return;
    }
    jl_start(&l, lvl);
    jl_field(&l, "event", event, 0);
    for (i = 0; i < n; i++)
        jl_field(&l, f[i].key, f[i].str, f[i].num);
    jl_finish(&l);
}
