/* cache_cmd.c — `hubgate cache ls|rm|verify|gc|import`: the blob cache of
 * [cache] dir, seen and tended from the command line, in the doctor's
 * style (OK/FAIL lines, a fix for each failure, exit 0 only when all went
 * well). They take the cache's locks, so they work while hubgate runs. */
#include "proxy/cache_cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mitm/cache/cache.h"
#include "proxy/core/config.h"

struct cc {
    struct cache *c;
    int color, fails;
    char **hex;                     /* blobs listed, for verify */
    size_t n, cap;
};

static void cc_line(struct cc *cc, int ok, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void cc_line(struct cc *cc, int ok, const char *fix, const char *fmt, ...)
{
    va_list ap;

    if (ok)
        printf("%sOK%s   ", cc->color ? "\033[32m" : "", cc->color ? "\033[0m" : "");
    else
        printf("%sFAIL%s ", cc->color ? "\033[31m" : "", cc->color ? "\033[0m" : "");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!ok && fix)
        printf("     fix: %s\n", fix);
    cc->fails += !ok;
    fflush(stdout);
}

static const char *cc_size(uint64_t n, char *out, size_t outlen)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;

    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, outlen, u ? "%.1f%s" : "%.0f%s", v, unit[u]);
    return out;
}

static void cc_print_tag(const struct cache_tag_info *t, void *arg)
{
    char s[32];

    (void)arg;
    printf("  %-50s sha256:%.12s  %s\n", t->ref, t->hex, cc_size(t->size, s, sizeof(s)));
}

static void cc_print_blob(const struct cache_blob_info *b, void *arg)
{
    char s[32], when[32];
    struct tm tm;

    (void)arg;
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime_r(&b->used, &tm));
    printf("  sha256:%s  %9s  %s  %-6s  %zu\n", b->hex, cc_size(b->size, s, sizeof(s)), when,
           b->pinned ? "yes" : "no", b->repos);
}

static int cc_ls(struct cc *cc)
{
    char a[32], b[32];

    printf("images:\n");
    cache_each_tag(cc->c, cc_print_tag, NULL);
    printf("blobs:  %-71s %9s  %-16s  %-6s  %s\n", "", "size", "last use", "pinned", "repos");
    cache_each_blob(cc->c, cc_print_blob, NULL);
    printf("kept %s of max_size %s in %s\n", cc_size(cache_bytes(cc->c), a, sizeof(a)),
           cc_size(cache_max_size(cc->c), b, sizeof(b)), cache_dir(cc->c));
    return 0;
}

static void cc_collect(const struct cache_blob_info *b, void *arg)
{
    struct cc *cc = arg;
    char **v;

    if (cc->n == cc->cap) {
        v = realloc(cc->hex, (cc->cap ? cc->cap * 2 : 64) * sizeof(*v));
        if (!v)
            return;
        cc->hex = v;
        cc->cap = cc->cap ? cc->cap * 2 : 64;
    }
    cc->hex[cc->n] = strdup(b->hex);
    if (cc->hex[cc->n])
        cc->n++;
}

static int cc_verify(struct cc *cc)
{
    size_t i, bad = 0;
    int rc;

    cache_each_blob(cc->c, cc_collect, cc);
    for (i = 0; i < cc->n; i++) {
        rc = cache_blob_verify(cc->c, cc->hex[i]);
        if (rc == -EBADMSG) {
            cc_line(cc, 0, "nothing: it was removed and is fetched again on the next pull "
                    "(re-import it if it was imported)", "sha256:%s does not match its "
                    "digest: removed", cc->hex[i]);
            bad++;
        } else if (rc != 0 && rc != -ENOENT) {
            cc_line(cc, 0, "check the permissions of [cache] dir (run as root or as the "
                    "hubgate user)", "sha256:%s: %s", cc->hex[i], strerror(-rc));
        }
    }
    if (bad == 0 && cc->fails == 0)
        cc_line(cc, 1, NULL, "verify: %zu blobs re-hashed, all match", cc->n);
    return 0;
}

static int cc_rm(struct cc *cc, const char *what)
{
    char ref[512], hex[65];
    const char *h = strncmp(what, "sha256:", 7) == 0 ? what + 7 : what;
    int rc;

    if (strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64) {
        rc = cache_blob_remove(cc->c, h);
        if (rc == 0)
            cc_line(cc, 1, NULL, "removed blob sha256:%s (and the tags naming it)", h);
        else
            cc_line(cc, 0, "hubgate cache ls lists what is kept", "sha256:%s: %s", h,
                    rc == -ENOENT ? "not in the cache" : strerror(-rc));
        return 0;
    }
    if (cache_ref_normalize(what, ref, sizeof(ref)) != 0 || cache_tag_get(cc->c, ref, hex) != 0) {
        cc_line(cc, 0, "hubgate cache ls lists the images (REGISTRY/REPOSITORY:TAG) and blobs",
                "%s: no such image or blob in the cache", what);
        return 0;
    }
    rc = cache_tag_remove(cc->c, ref);
    if (rc == 0) {
        cc_line(cc, 1, NULL, "removed %s; its blobs are no longer pinned and age out "
                "(hubgate cache gc)", ref);
    } else
        cc_line(cc, 0, "check the permissions of [cache] dir", "%s: %s", ref, strerror(-rc));
    return 0;
}

static int cc_gc(struct cc *cc)
{
    char a[32], b[32], f[32];
    uint64_t freed = 0;
    int rc = cache_gc(cc->c, &freed);

    cc_size(cache_bytes(cc->c), a, sizeof(a));
    cc_size(cache_max_size(cc->c), b, sizeof(b));
    if (rc == 0)
        cc_line(cc, 1, NULL, "gc: freed %s; kept %s of max_size %s",
                cc_size(freed, f, sizeof(f)), a, b);
    else
        cc_line(cc, 0, "raise [cache] max_size, or hubgate cache rm an imported image",
                "gc: kept %s is over max_size %s: the rest is pinned or in use", a, b);
    return 0;
}

static void cc_note(void *arg, int ok, const char *msg)
{
    cc_line(arg, ok, ok ? NULL : "make the layout again (skopeo copy docker://IMAGE "
            "oci:LAYOUT:IMAGE) and re-run the import", "%s", msg);
}

int cache_cmd_run(const char *config_path, const char *verb, const char *arg)
{
    struct cc cc;
    struct config cfg;
    char err[512];
    size_t i;
    int need_arg = strcmp(verb, "rm") == 0 || strcmp(verb, "import") == 0;

    memset(&cc, 0, sizeof(cc));
    cc.color = isatty(STDOUT_FILENO);
    if (need_arg != (arg != NULL)) {
        fprintf(stderr, "usage: hubgate cache ls|verify|gc [-c FILE]\n"
                        "       hubgate cache rm REF|DIGEST [-c FILE]\n"
                        "       hubgate cache import LAYOUT [-c FILE]\n");
        return 2;
    }
    if (config_load(&cfg, config_path, err, sizeof(err)) != 0) {
        cc_line(&cc, 0, "correct the file (hubgate -t -c FILE checks it)", "config: %s", err);
        return 1;
    }
    if (!cfg.cache_dir) {
        cc_line(&cc, 0, "set [cache] dir (for example /var/cache/hubgate) and restart hubgate",
                "%s: [cache] dir is empty: there is no cache", config_path);
    } else if (cache_open(&cc.c, cfg.cache_dir, cfg.cache_max_size, err, sizeof(err)) != 0) {
        cc_line(&cc, 0, "run as root or as the user hubgate runs as", "%s", err);
    } else if (strcmp(verb, "ls") == 0) {
        cc_ls(&cc);
    } else if (strcmp(verb, "verify") == 0) {
        cc_verify(&cc);
    } else if (strcmp(verb, "gc") == 0) {
        cc_gc(&cc);
    } else if (strcmp(verb, "rm") == 0 && arg) {
        cc_rm(&cc, arg);
    } else if (strcmp(verb, "import") == 0 && arg) {
        cache_import(cc.c, arg, cc_note, &cc);
    } else {
        fprintf(stderr, "hubgate cache: unknown command '%s'\n", verb);
        cc.fails = 2;
    }
    for (i = 0; i < cc.n; i++)
        free(cc.hex[i]);
    free(cc.hex);
    cache_close(cc.c);
    config_free(&cfg);
    return cc.fails == 2 ? 2 : cc.fails ? 1 : 0;
}
