/* fuzz_config.c — INI text through config_load_string() (proxy/core/config.c,
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

#include "base/uri.h"
#include "proxy/core/config.h"
#include "proxy/core/link.h"

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

/* 1 when the word w (n bytes) looks like a password: 6 bytes or more of
 * [A-Za-z0-9_%-] with two capitals or more, so that the fixed text of a
 * message ("[::1]:3128", "registry-1.docker.io") is never taken for one. */
static int pw_like(const char *w, size_t n)
{
    size_t i, caps = 0;

    if (n < 6)
        return 0;
    for (i = 0; i < n; i++) {
        char ch = w[i];

        if (ch >= 'A' && ch <= 'Z')
            caps++;
        else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                   ch == '%' || ch == '-'))
            return 0;
    }
    return caps >= 2;
}

/* The password w[0..n) of text must not be in err (when it occurs once in
 * text: else it may be quoted for another reason). */
static void no_pw(const char *text, const char *err, const char *w, size_t n)
{
    char pw[256];

    if (!pw_like(w, n) || n >= sizeof(pw))
        return;
    memcpy(pw, w, n);
    pw[n] = '\0';
    if (strstr(text, pw) != w || strstr(w + n, pw) != NULL)
        return;
    if (strstr(err, pw) != NULL) {
        fprintf(stderr, "secret \"%s\" in the error: %s\n", pw, err);
        FUZZ_CHECK(strstr(err, pw) == NULL);
    }
}

/* Where the value of a key splits into entries, as config.c splits it:
 * users at blanks and commas, via at commas only, a relay URL nowhere. */
static int is_sep(char ch, int mode)
{
    if (mode == 2)
        return ch == '\r';
    if (mode == 1)
        return ch == ',' || ch == '\r';
    return ch == ' ' || ch == '\t' || ch == ',' || ch == '\r';
}

/* The passwords of text: "name:PASS" entries of [proxy] users, and the
 * userinfo "user:PASS@" of link URLs in [upstream]/[passthrough] via and
 * [relay] values; none may be in err. */
static void check_no_secret(const char *text, const char *err)
{
    const char *line = text, *nl;
    char sect[32] = "";

    for (; *line; line = nl ? nl + 1 : line + strlen(line)) {
        const char *ls = line, *eq, *v, *end, *ke;
        size_t kl;
        int mode;

        nl = strchr(line, '\n');
        end = nl ? nl : line + strlen(line);
        while (ls < end && (*ls == ' ' || *ls == '\t'))
            ls++;
        if (ls < end && *ls == '[') {
            const char *c = memchr(ls, ']', (size_t)(end - ls));
            size_t sl = c ? (size_t)(c - ls - 1) : 0;

            if (sl >= sizeof(sect))
                sl = 0;
            memcpy(sect, ls + 1, sl);
            sect[sl] = '\0';
            continue;
        }
        eq = memchr(ls, '=', (size_t)(end - ls));
        if (!eq || *ls == ';' || *ls == '#')
            continue;
        for (ke = eq; ke > ls && (ke[-1] == ' ' || ke[-1] == '\t'); ke--)
            ;
        kl = (size_t)(ke - ls);
        mode = !strcmp(sect, "relay") ? 2 : (kl == 3 && !memcmp(ls, "via", 3)) ? 1 : 0;
        for (v = eq + 1; v < end;) {      /* each entry of the value */
            const char *w = v, *we, *c, *at;

            while (w < end && (is_sep(*w, mode) || *w == ' ' || *w == '\t'))
                w++;
            for (we = w; we < end && !is_sep(*we, mode); we++)
                ;
            while (we > w && (we[-1] == ' ' || we[-1] == '\t'))
                we--;
            v = we < end ? we + 1 : end;
            if (w == we)
                continue;
            if (strcmp(sect, "proxy") == 0 && kl == 5 && !memcmp(ls, "users", 5)) {
                c = memchr(w, ':', (size_t)(we - w));
                if (c)
                    no_pw(text, err, c + 1, (size_t)(we - c - 1));
                continue;
            }
            if (!((kl == 3 && !memcmp(ls, "via", 3) &&
                   (!strcmp(sect, "upstream") || !strcmp(sect, "passthrough"))) ||
                  !strcmp(sect, "relay")))
                continue;
            for (at = w; at < we; at++) {   /* each "user:PASS@" */
                if (*at != '@')
                    continue;
                for (c = at; c > w && c[-1] != ':' && c[-1] != '/' && c[-1] != ' ' &&
                             c[-1] != '@'; c--)
                    ;
                if (c == w || c[-1] != ':')
                    continue;
                if (fuzz_known("link_typo")) {
                    /* A mistyped link ("socks5:/u:PASS@h:1", "u:PASS@h:1"),
                     * or one whose userinfo holds '/', '?', '#' or '@', is
                     * quoted (partly) as is: an open bug. FUZZ_KNOWN=
                     * link_typo skips those: only "scheme://user:PASS@"
                     * is checked. */
                    const char *u = c - 1, *q;
                    int plain;

                    while (u > w && u[-1] != '/' && u[-1] != ' ')
                        u--;
                    plain = u - w >= 3 && memcmp(u - 3, "://", 3) == 0;
                    for (q = u; plain && q < at; q++)
                        if (*q == '/' || *q == '?' || *q == '#' || *q == '@')
                            plain = 0;
                    if (!plain)
                        continue;
                }
                no_pw(text, err, c, (size_t)(at - c));
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
