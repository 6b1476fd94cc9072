/* carry.h — a blob fill whose client left, carried on to its end.
 *
 * An exchange lives as long as its client connection: it borrows the
 * connection's buffers, request parser and peer name (struct xclient).
 * When the client of an exchange that is filling the cache goes away, the
 * fill would end with it: the requests that joined it would be reset and
 * the next pull would fetch the blob over the link again. Instead the
 * exchange is carried: it gets copies of what it borrowed, its body goes
 * nowhere (the cache fill takes it as it arrives, no longer throttled by
 * a client), and it is pumped by its own upstream events until the blob is
 * complete (digest checked, kept), the fetch fails, or nothing arrives for
 * [upstream] read_timeout. The loop's struct proxy lists the carried
 * exchanges; worker teardown frees them (their fills are dropped). */
#ifndef HUBGATE_CARRY_H
#define HUBGATE_CARRY_H

struct exchange;
struct proxy;

/* At most this many carried exchanges per loop: past it, a fill ends with
 * its client as before. */
#define CARRY_MAX 32u

/* x's client connection is closing. When x is filling the cache and its
 * fetch is under way, takes x over (the caller forgets it) and returns 1;
 * else 0 (the caller stops and frees x as usual). */
int carry_take(struct exchange *x);

/* Frees every carried exchange of px, dropping their fills. */
void carry_free_all(struct proxy *px);

#endif
