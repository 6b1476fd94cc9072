/* json.h — the one JSON string escaper, for every JSON text hubgate
 * writes from outside bytes (JSON log lines, error bodies to clients). */
#ifndef HUBGATE_JSON_H
#define HUBGATE_JSON_H

#include <stddef.h>

/* Writes the JSON-escaped form of the NUL-terminated s (without the
 * surrounding quotes) to out, NUL-terminated, in at most outlen - 1 bytes.
 * '"' and '\\' are escaped with a backslash, control bytes (below 0x20,
 * and 0x7f) as \u00XX; valid UTF-8 is copied as is, and every byte that is
 * not part of a valid UTF-8 sequence becomes \ufffd (the replacement
 * character), so the result is valid JSON whatever s holds. What does not
 * fit is dropped whole: an escape or a character is never cut. Returns
 * the length written. outlen 0 writes nothing. */
size_t json_escape(char *out, size_t outlen, const char *s);

/* The same over len bytes of s (NUL bytes included, as \u0000). */
size_t json_escape_n(char *out, size_t outlen, const char *s, size_t len);

#endif
