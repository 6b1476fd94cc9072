/* fuzz_config.c — INI text through config_load_string() (proxy/config.c,
 * config_value.c, config_secret.c, and link_parse() for via entries).
 *
 * First byte (options):
 *   bits 0-1  error buffer: 400 bytes, none (NULL), 1 byte, 40 bytes
 * The rest is the file's text.
 *
 * The files of secrets a config may name are made once, mode 0600, in
 * /tmp/hubgate-fuzz/ (users: name:password lines, hub: user:token, and
 * users644, readable by all, which must be refused), so seeds can point
 * users_file and hub_credentials at them.
 *
 * Invariants: a loaded config is in range (the lists that must not be
 * empty are not, every via entry parses as a link, intercepted names are
 * lower-case hosts, relays pair with hosts); an error is NUL-terminated
 * inside its buffer and starts with the file's name; no password of a
 * link URL ("scheme://user:PASS@") or of a users entry ("name:PASS")
 * on a "key = value" line appears in an error. */
#include "tests/fuzz/fuzz_common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mitm/uri.h"
#include "proxy/config.h"
#include "proxy/link.h"

#define FUZZ_DIR "/tmp/hubgate-fuzz"

static const size_t errlens[] = {400, 0, 1, 40};

static void put_file(const char *name, const char *text, mode_t mode)
{
    char path[256], tmp[280];
    int fd;

    snprintf(path, sizeof(path), FUZZ_DIR "/%s", name);
    snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return;
    if (write(fd, text, strlen(text)) < 0 || fchmod(fd, mode) != 0) {
        close(fd);
        unlink(tmp);
        return;
    }
    close(fd);
    rename(tmp, path);      /* atomic: targets may start at the same time */
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mkdir(FUZZ_DIR, 0700);
    put_file("users", "# proxy users\nalice:FUZZPW1\n\nbob:FUZZPW2\n", 0600);
    put_file("hub", "dockeruser:dckr_pat_FUZZTOKEN\n", 0600);
    put_file("users644", "carol:FUZZPW3\n", 0644);
    return 0;
}

/* For every "://user:PASS@" and every "name:PASS" word of a users line
 * in text, PASS (4 bytes or more, found once in text) must not be in err. */
static void check_no_secret(const char *text, const char *err)
{
    const char *p;

    for (p = text; (p = strchr(p, ':')) != NULL; p++) {
        const char *e = p + 1;
        char pw[256];
        size_t n;

        while (*e && *e != '@' && *e != ' ' && *e != '\t' && *e != ',' && *e != '\n' &&
               *e != '\r' && *e != '/' && *e != ';')
            e++;
        n = (size_t)(e - (p + 1));
        if (n < 4 || n >= sizeof(pw))
            continue;
        memcpy(pw, p + 1, n);
        pw[n] = '\0';
        if (strstr(text, pw) != p + 1 || strstr(p + 1 + n, pw) != NULL)
            continue;   /* also elsewhere: it may be quoted legitimately */
        {
            /* only a "key = value" line holds a secret; a broken line
             * ("[sect", no '=') may be quoted whole in its error */
            const char *ls = p, *eq;

            while (ls > text && ls[-1] != '\n')
                ls--;
            while (*ls == ' ' || *ls == '\t')
                ls++;
            eq = memchr(ls, '=', (size_t)(p - ls));
            if (*ls == '[' || *ls == ';' || *ls == '#' || eq == NULL)
                continue;
            /* A mistyped link ("socks5:/u:PASS@h:1", "u:PASS@h:1") is
             * quoted whole: an open bug. FUZZ_KNOWN=link_typo skips it. */
            if (*e == '@' && fuzz_known("link_typo")) {
                const char *u = p;

                while (u > eq + 1 && u[-1] != ' ' && u[-1] != ',' && u[-1] != '=' &&
                       u[-1] != '/')
                    u--;
                if (u < eq + 4 || memcmp(u - 3, "://", 3) != 0)
                    continue;
            }
        }
        if (*e == '@' || (p > text && strstr(text, "users") != NULL)) {
            if (*e != '@') {
                /* a users entry: the line names the key users */
                const char *ls = p;

                while (ls > text && ls[-1] != '\n')
                    ls--;
                while (*ls == ' ' || *ls == '\t')
                    ls++;
                if (strncmp(ls, "users", 5) != 0 || strncmp(ls, "users_file", 10) == 0)
                    continue;
            }
            if (strstr(err, pw) != NULL) {
                fprintf(stderr, "secret \"%s\" in the error: %s\n", pw, err);
                FUZZ_CHECK(strstr(err, pw) == NULL);
            }
        }
    }
}

static void check_loaded(const struct config *cfg)
{
    size_t i;

    FUZZ_CHECK(cfg->listen_port != 0 && cfg->listen_host[0] != '\0');
    FUZZ_CHECK(!fuzz_has_ctl(cfg->listen_host, strlen(cfg->listen_host)));
    FUZZ_CHECK(cfg->allow.n >= 1);
    FUZZ_CHECK(cfg->max_header_bytes >= 1024 && cfg->max_header_bytes <= 1048576);
    FUZZ_CHECK(cfg->max_connections >= 1);
    FUZZ_CHECK(cfg->header_timeout_ms >= 1 && cfg->idle_timeout_ms >= 1 &&
               cfg->handshake_timeout_ms >= 1 && cfg->read_timeout_ms >= 1 &&
               cfg->connect_timeout_ms >= 1);
    FUZZ_CHECK(cfg->ca_dir != NULL && cfg->ca_dir[0] != '\0');
    FUZZ_CHECK(cfg->ca_file != NULL && cfg->ca_file[0] != '\0');
    FUZZ_CHECK(cfg->intercept_hosts.n >= 1);
    for (i = 0; i < cfg->intercept_hosts.n; i++) {
        const char *h = cfg->intercept_hosts.v[i];
        const char *q;

        FUZZ_CHECK(uri_host_ok(h, strlen(h)));
        for (q = h; *q; q++)
            FUZZ_CHECK(!(*q >= 'A' && *q <= 'Z'));
    }
    FUZZ_CHECK(cfg->via.n >= 1 && cfg->passthrough_via.n >= 1);
    for (i = 0; i < cfg->via.n; i++) {
        struct link *l = NULL;

        FUZZ_CHECK(link_parse(cfg->via.v[i], 1, &l, NULL, 0) == 0);
        link_free(l);
    }
    for (i = 0; i < cfg->passthrough_via.n; i++) {
        struct link *l = NULL;

        FUZZ_CHECK(link_parse(cfg->passthrough_via.v[i], 0, &l, NULL, 0) == 0);
        FUZZ_CHECK(l->kind != LINK_RELAY && l->kind != LINK_RELAY_MAP);
        link_free(l);
    }
    FUZZ_CHECK(cfg->relay_hosts.n == cfg->relay_urls.n);
    for (i = 0; i < cfg->users.n; i++) {
        const char *u = cfg->users.v[i], *c = strchr(u, ':');

        FUZZ_CHECK(c != NULL && c != u && c[1] != '\0');
    }
    FUZZ_CHECK((cfg->hub_user == NULL) == (cfg->hub_token == NULL));
    for (i = 0; i < cfg->connect_ports.n; i++)
        FUZZ_CHECK(cfg->connect_ports.v[i] != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    size_t errlen;
    char *text, *err = NULL, *cstr;
    int rc;

    if (size < 1)
        return 0;
    errlen = errlens[data[0] & 3];
    data++;
    size--;
    text = fuzz_dup(data, size);
    if (errlen) {
        err = malloc(errlen);
        FUZZ_CHECK(err != NULL);
        memset(err, 'x', errlen);
    }
    rc = config_load_string(&cfg, "fuzz.ini", text, size, err, errlen);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        check_loaded(&cfg);
        config_free(&cfg);
    } else if (err) {
        FUZZ_CHECK(memchr(err, '\0', errlen) != NULL);
        if (errlen > 8)
            FUZZ_CHECK(strncmp(err, "fuzz.ini", strlen(err) < 8 ? strlen(err) : 8) == 0);
        if (errlen > 40 && memchr(data, '\0', size) == NULL) {
            cstr = fuzz_strdup(data, size);
            check_no_secret(cstr, err);
            free(cstr);
        }
    }
    free(err);
    free(text);
    return 0;
}
