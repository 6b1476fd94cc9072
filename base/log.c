/* log.c — leveled logging to stderr. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level log_min = LOG_INFO;

void log_set_level(enum log_level lvl) { log_min = lvl; }

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[2048];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if (lvl < log_min)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %s ",
                  ts.tv_nsec / 1000000L, names[lvl]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so lines from several loops never interleave; a
     * failed write (disk full, closed stderr) must not stop the proxy. */
    n = (int)strlen(line);
    if (n < (int)sizeof(line) - 1)
        line[n++] = '\n';
    else
        line[sizeof(line) - 2] = '\n', n = (int)sizeof(line) - 1;
    if (fwrite(line, 1, (size_t)n, stderr) != (size_t)n)
        clearerr(stderr);
    fflush(stderr);
}
