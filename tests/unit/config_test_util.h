/* config_test_util.h — helpers shared by test_config.c and
 * test_config_errors.c: loading text, refusals, reading data files, the
 * group setup that enters the data directory, files of secrets.
 * Test-only; static inline so a file may leave some unused.
 *
 * Data files live in tests/unit/data/config/ (found next to this header,
 * or at $HUBGATE_TEST_DATA); the group setup changes into that directory
 * so messages name files as "bad/x.ini". */
#ifndef HUBGATE_CONFIG_TEST_UTIL_H
#define HUBGATE_CONFIG_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy/core/config.h"

#define ERRLEN 512

static inline int load(struct config *c, const char *text, char *err)
{
    return config_load_string(c, "t.ini", text, strlen(text), err, ERRLEN);
}

/* Loads text that must be accepted; the caller frees c. */
static inline void load_ok(struct config *c, const char *text)
{
    char err[ERRLEN];

    if (load(c, text, err) != 0)
        fail_msg("refused: %s\n--- text:\n%s", err, text);
}

static inline void assert_zeroed(const struct config *c)
{
    static const struct config zero;

    assert_memory_equal(c, &zero, sizeof(zero));
}

/* Text that must be refused with exactly want (or, with prefix set, a
 * message starting with want). cfg must come back freed and zeroed. */
static inline void refuse(const char *text, const char *want, int prefix)
{
    struct config c;
    char err[ERRLEN];

    memset(&c, 0x5a, sizeof(c));
    if (load(&c, text, err) != -1)
        fail_msg("accepted:\n%s", text);
    if (prefix && strncmp(err, want, strlen(want)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", err, want);
    if (!prefix)
        assert_string_equal(err, want);
    assert_zeroed(&c);
}

static inline void append(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void append(char *out, size_t outlen, const char *fmt, ...)
{
    size_t n = strlen(out);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out + n, outlen - n, fmt, ap);
    va_end(ap);
}

static inline void read_text(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* Enters the data directory: $HUBGATE_TEST_DATA, else next to this header
 * as compiled (a relative __FILE__ works from the repository root), else
 * next to the binary (build/<flavour>/tests/test_config*). */
static inline int setup_datadir(void **state)
{
    const char *env = getenv("HUBGATE_TEST_DATA"), *slash = strrchr(__FILE__, '/');
    char buf[1100], exe[1024];
    ssize_t n;
    int i;

    (void)state;
    if (env != NULL)
        return chdir(env) == 0 ? 0 : -1;
    snprintf(buf, sizeof(buf), "%.*s/data/config",
             slash != NULL ? (int)(slash - __FILE__) : 1, slash != NULL ? __FILE__ : ".");
    if (chdir(buf) == 0)
        return 0;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    for (i = 0; i < 4 && (slash = strrchr(exe, '/')) != NULL; i++)
        exe[slash - exe] = '\0';
    snprintf(buf, sizeof(buf), "%s/tests/unit/data/config", exe);
    if (chdir(buf) == 0)
        return 0;
    fprintf(stderr, "config tests: no data directory; run from the repository root or set "
            "HUBGATE_TEST_DATA\n");
    return -1;
}

/* Enters the data directory, then gives the files of secrets that
 * full.ini names the mode config_load() insists on (git keeps 0644). */
static inline int setup(void **state)
{
    if (setup_datadir(state) != 0)
        return -1;
    if (chmod("secret/hub.cred", 0600) != 0 || chmod("secret/users.txt", 0600) != 0) {
        fprintf(stderr, "config tests: cannot chmod 600 the files in secret/\n");
        return -1;
    }
    return 0;
}

/* Writes text to a new file under /tmp with mode; its name goes to path
 * (at least 32 bytes). */
static inline void secret_file(char *path, const char *text, mode_t mode)
{
    int fd;

    strcpy(path, "/tmp/hubgate-test-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* Loads "[section]\nkey = path" for a secret file holding text with mode;
 * returns config_load_string()'s result, err filled. */
static inline int load_secret(struct config *c, const char *section, const char *key,
                              const char *text, mode_t mode, char *err, char *path)
{
    char ini[256];
    int rc;

    secret_file(path, text, mode);
    snprintf(ini, sizeof(ini), "[%s]\n%s = %s\n", section, key, path);
    rc = load(c, ini, err);
    unlink(path);
    return rc;
}

#endif
