/* log.h — leveled logging to stderr, one line per call.
 *
 * The access log (one line per request) goes through log_access() so that
 * its format lives in one place; nothing secret may be passed to any of these
 * (no Authorization values, tokens or query strings). */
#ifndef HUBGATE_LOG_H
#define HUBGATE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERR };

void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)

#endif
