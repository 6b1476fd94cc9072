/* digest.h — blob integrity: the digest a blob request names, hashed as
 * the body streams. */
#ifndef HUBGATE_DIGEST_H
#define HUBGATE_DIGEST_H

#include <stddef.h>

struct digest;

/* Finds "/blobs/sha256:<64 hex>" at the end of a /v2/ request path (query
 * string ignored) and copies the hex into hex. Returns 1 when found. */
int digest_from_path(const char *path, size_t n, char hex[65]);

/* Starts hashing for the expected hex SHA-256 (64 digits, as
 * digest_from_path() gives). NULL when out of memory or not hex. */
struct digest *digest_new(const char *hex);
void digest_update(struct digest *d, const void *p, size_t n);
/* Finishes: 1 when the bytes hashed match, 0 when not. */
int digest_matches(struct digest *d);
void digest_free(struct digest *d);

#endif
