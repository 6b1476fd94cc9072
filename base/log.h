/* log.h — leveled logging, one line per call, to stderr (or the fd given
 * to log_set_fd()).
 *
 * Two formats, chosen once at start and again on reload ([log] format):
 *   text   2024-05-01T12:00:00.123Z info message
 *   json   {"time":"2024-05-01T12:00:00.123Z","level":"info","msg":"message"}
 * In json every line is one JSON object, every string in it escaped
 * (base/json.h), so a log shipper can parse all of them. Events with
 * fields (the access log) go through log_event(), so that no caller
 * formats JSON itself. Nothing secret may be passed to any of these (no
 * Authorization values, tokens or query strings). */
#ifndef HUBGATE_LOG_H
#define HUBGATE_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERR };

/* The settings below may be changed while other threads log (a reload on
 * one loop): each is one word, read and written atomically. */
void log_set_level(enum log_level lvl);

/* 1: JSON lines; 0: text (the default). */
void log_set_json(int json);

/* Where lines go: fd 2 by default. The caller keeps fd open while it is
 * set (tests point it at a pipe). */
void log_set_fd(int fd);

void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)

/* One field of an event: a string (str not NULL) or a number. */
struct log_field {
    const char *key;
    const char *str;
    long long num;
};

#define LOG_STR(k, v) {(k), (v), 0}
#define LOG_NUM(k, v) {(k), NULL, (long long)(v)}

/* Logs an event. In json: one object with time, level, "event": event and
 * the n fields in order (strings escaped, numbers bare). In text: the line
 * fmt makes, as log_msg() would write it (the fields are not used; fmt is
 * not formatted in json). A line too long for the log (4 KiB) loses the
 * tail of its last strings, and stays valid JSON. */
void log_event(enum log_level lvl, const char *event, const struct log_field *f, size_t n,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
