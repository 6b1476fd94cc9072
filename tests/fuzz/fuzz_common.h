/* fuzz_common.h — helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * Every target is pure: it calls a parser on bytes in memory, never opens
 * a socket. Inputs are copied into heap blocks of exactly their size, so
 * ASan reports a read one byte past the data. A broken invariant calls
 * FUZZ_CHECK(), which prints the condition and aborts, so libFuzzer keeps
 * the input as a crash. */
#ifndef HUBGATE_FUZZ_COMMON_H
#define HUBGATE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, \
                    #cond);                                                       \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* A heap copy of p[0..n) in a block of exactly n bytes (1 when n is 0,
 * never read). The caller frees it. */
static inline char *fuzz_dup(const void *p, size_t n)
{
    char *d = malloc(n ? n : 1);

    FUZZ_CHECK(d != NULL);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* The same with a NUL after the bytes (a C string of n + 1 bytes). */
static inline char *fuzz_strdup(const void *p, size_t n)
{
    char *d = malloc(n + 1);

    FUZZ_CHECK(d != NULL);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* 1 when p[0..n) holds a CR, LF or NUL: bytes that must never reach a
 * head we write, or a name we put in a request line or a certificate. */
static inline int fuzz_has_ctl(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
            return 1;
    return 0;
}

/* 1 when p[0..n) holds a control byte other than HTAB (0x00-0x08,
 * 0x0a-0x1f, 0x7f): none may be in a header value or reason phrase. */
static inline int fuzz_has_ctls(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (((unsigned char)p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
            return 1;
    return 0;
}

/* 1 when the environment variable FUZZ_KNOWN (a list of names) holds
 * name: the check for that known, still open bug is skipped, so fuzzing
 * can look past it. tests/fuzz/run.sh never sets it. */
static inline int fuzz_known(const char *name)
{
    static const char *k;
    static int got;

    if (!got) {
        k = getenv("FUZZ_KNOWN");
        got = 1;
    }
    return k != NULL && strstr(k, name) != NULL;
}

#endif
