/* test_config.c — config_defaults(), config_load(), config_load_string().
 *
 * Data files live in tests/unit/data/config/ (found next to this source, or
 * at $HUBGATE_TEST_DATA); the group setup changes into that directory so
 * messages name files as "bad/x.ini". Golden dumps: *.golden, rewritten by
 * running with UPDATE_GOLDEN=1 (then review the diff). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy/config.h"

#define ERRLEN 512

/* ---- helpers ----------------------------------------------------------- */

static int load(struct config *c, const char *text, char *err)
{
    return config_load_string(c, "t.ini", text, strlen(text), err, ERRLEN);
}

/* Loads text that must be accepted; the caller frees c. */
static void load_ok(struct config *c, const char *text)
{
    char err[ERRLEN];

    if (load(c, text, err) != 0)
        fail_msg("refused: %s\n--- text:\n%s", err, text);
}

static void assert_zeroed(const struct config *c)
{
    static const struct config zero;

    assert_memory_equal(c, &zero, sizeof(zero));
}

/* Text that must be refused with exactly want (or, with prefix set, a
 * message starting with want). cfg must come back freed and zeroed. */
static void refuse(const char *text, const char *want, int prefix)
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

static void append(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *out, size_t outlen, const char *fmt, ...)
{
    size_t n = strlen(out);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out + n, outlen - n, fmt, ap);
    va_end(ap);
}

static void dump_list(char *out, size_t outlen, const char *name, const struct str_list *l)
{
    size_t i;

    append(out, outlen, "%s =", name);
    for (i = 0; i < l->n; i++)
        append(out, outlen, " \"%s\"", l->v[i]);
    append(out, outlen, "\n");
}

static void dump_cidrs(char *out, size_t outlen, const char *name, const struct cidr_list *l)
{
    char ip[INET6_ADDRSTRLEN];
    size_t i;

    append(out, outlen, "%s =", name);
    for (i = 0; i < l->n; i++) {
        const struct cidr *n = &l->v[i];

        assert_non_null(inet_ntop(n->family, n->addr, ip, sizeof(ip)));
        append(out, outlen, " %s/%u", ip, n->prefix);
    }
}

static const char *nul(const char *s)
{
    return s != NULL ? s : "(none)";
}

/* Every field but path, one line each, for golden files. */
static void dump(const struct config *c, char *out, size_t outlen)
{
    size_t i;

    out[0] = '\0';
    append(out, outlen, "listen_host = \"%s\"\nlisten_port = %u\n", c->listen_host,
           (unsigned)c->listen_port);
    dump_cidrs(out, outlen, "allow", &c->allow);
    append(out, outlen, "\nhandshake_timeout_ms = %u\nheader_timeout_ms = %u\n"
           "idle_timeout_ms = %u\ndrain_timeout_ms = %u\nmax_header_bytes = %zu\n"
           "max_connections = %u\nca_dir = \"%s\"\n", c->handshake_timeout_ms,
           c->header_timeout_ms, c->idle_timeout_ms, c->drain_timeout_ms,
           c->max_header_bytes, c->max_connections, c->ca_dir);
    dump_list(out, outlen, "users", &c->users);
    append(out, outlen, "users_file = \"%s\"\n", nul(c->users_file));
    dump_cidrs(out, outlen, "deny_targets", &c->deny_targets);
    append(out, outlen, "\nconnect_ports =");
    for (i = 0; i < c->connect_ports.n; i++)
        append(out, outlen, " %u", (unsigned)c->connect_ports.v[i]);
    append(out, outlen, "\n");
    dump_list(out, outlen, "intercept_hosts", &c->intercept_hosts);
    dump_list(out, outlen, "via", &c->via);
    append(out, outlen, "ca_file = \"%s\"\nconnect_timeout_ms = %u\nread_timeout_ms = %u\n"
           "retry_after_cap_ms = %u\nfollow_redirects = %d\nhub_credentials = \"%s\"\n"
           "hub_user = \"%s\"\nhub_token = \"%s\"\n", c->ca_file, c->connect_timeout_ms,
           c->read_timeout_ms, c->retry_after_cap_ms, c->follow_redirects,
           nul(c->hub_credentials), nul(c->hub_user), nul(c->hub_token));
    dump_list(out, outlen, "passthrough_via", &c->passthrough_via);
    append(out, outlen, "admin_listen = \"%s\"\nlog_json = %d\n", nul(c->admin_listen),
           c->log_json);
    dump_list(out, outlen, "relay_hosts", &c->relay_hosts);
    dump_list(out, outlen, "relay_urls", &c->relay_urls);
    dump_list(out, outlen, "dns_servers", &c->dns_servers);
}

static void read_text(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void assert_golden(const struct config *c, const char *golden)
{
    char got[4096], want[4096];

    dump(c, got, sizeof(got));
    if (getenv("UPDATE_GOLDEN") != NULL) {
        FILE *f = fopen(golden, "w");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
    }
    read_text(golden, want, sizeof(want));
    assert_string_equal(got, want);
}

/* Loads bad/name.ini, which must fail with the text of bad/name.err. */
static void refuse_file(const char *name)
{
    char path[128], want[ERRLEN], err[ERRLEN];
    struct config c;
    size_t n;

    snprintf(path, sizeof(path), "bad/%s.err", name);
    read_text(path, want, sizeof(want));
    n = strlen(want);
    if (n > 0 && want[n - 1] == '\n')
        want[n - 1] = '\0';
    snprintf(path, sizeof(path), "bad/%s.ini", name);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
    assert_string_equal(err, want);
    assert_zeroed(&c);
}

/* Enters the data directory: $HUBGATE_TEST_DATA, else next to this source
 * as compiled (a relative __FILE__ works from the repository root), else
 * next to the binary (build/<flavour>/tests/test_config). */
static int setup_datadir(void **state)
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
    fprintf(stderr, "test_config: no data directory; run from the repository root or set "
            "HUBGATE_TEST_DATA\n");
    return -1;
}

/* Enters the data directory, then gives the files of secrets that
 * full.ini names the mode config_load() insists on (git keeps 0644). */
static int setup(void **state)
{
    if (setup_datadir(state) != 0)
        return -1;
    if (chmod("secret/hub.cred", 0600) != 0 || chmod("secret/users.txt", 0600) != 0) {
        fprintf(stderr, "test_config: cannot chmod 600 the files in secret/\n");
        return -1;
    }
    return 0;
}

/* ---- defaults ---------------------------------------------------------- */

static void test_defaults(void **state)
{
    struct config c;

    (void)state;
    assert_int_equal(config_defaults(&c), 0);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 3128);
    assert_int_equal(c.allow.n, 2);
    assert_int_equal(c.allow.v[0].family, AF_INET);
    assert_int_equal(c.allow.v[0].prefix, 8);
    assert_int_equal(c.allow.v[1].family, AF_INET6);
    assert_int_equal(c.allow.v[1].prefix, 128);
    assert_int_equal(c.handshake_timeout_ms, 10000);
    assert_int_equal(c.header_timeout_ms, 30000);
    assert_int_equal(c.idle_timeout_ms, 120000);
    assert_int_equal(c.drain_timeout_ms, 10000);
    assert_int_equal(c.max_header_bytes, 65536);
    assert_int_equal(c.max_connections, 4096);
    assert_string_equal(c.ca_dir, "/var/lib/hubgate");
    assert_int_equal(c.intercept_hosts.n, 3);
    assert_string_equal(c.intercept_hosts.v[0], "registry-1.docker.io");
    assert_string_equal(c.intercept_hosts.v[1], "auth.docker.io");
    assert_string_equal(c.intercept_hosts.v[2], "production.cloudflare.docker.com");
    assert_int_equal(c.via.n, 1);
    assert_string_equal(c.via.v[0], "direct");
    assert_string_equal(c.ca_file, "/etc/ssl/certs/ca-certificates.crt");
    assert_int_equal(c.connect_timeout_ms, 10000);
    assert_int_equal(c.read_timeout_ms, 300000);
    assert_int_equal(c.dns_servers.n, 0);
    assert_int_equal(c.users.n, 0);
    assert_null(c.users_file);
    assert_int_equal(c.deny_targets.n, 2);
    assert_int_equal(c.deny_targets.v[0].family, AF_INET);
    assert_int_equal(c.deny_targets.v[0].prefix, 16);
    assert_int_equal(c.deny_targets.v[1].family, AF_INET6);
    assert_int_equal(c.deny_targets.v[1].prefix, 10);
    assert_int_equal(c.connect_ports.n, 0);
    assert_int_equal(c.retry_after_cap_ms, 60000);
    assert_int_equal(c.follow_redirects, 1);
    assert_null(c.hub_credentials);
    assert_null(c.hub_user);
    assert_null(c.hub_token);
    assert_int_equal(c.passthrough_via.n, 1);
    assert_string_equal(c.passthrough_via.v[0], "direct");
    assert_int_equal(c.relay_hosts.n, 0);
    assert_int_equal(c.relay_urls.n, 0);
    assert_null(c.path);
    assert_golden(&c, "defaults.golden");
    config_free(&c);
    assert_zeroed(&c);
    config_free(&c);                /* freeing twice is harmless */
}

static void test_empty_file_is_defaults(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "; nothing but a comment\n\n# and another\n");
    assert_string_equal(c.path, "t.ini");
    assert_golden(&c, "defaults.golden");
    config_free(&c);
    load_ok(&c, "");
    assert_golden(&c, "defaults.golden");
    config_free(&c);
}

static void test_sample_config(void **state)
{
    struct config c;
    char err[ERRLEN];

    (void)state;
    if (config_load(&c, "../../../../conf/hubgate.ini", err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 3128);
    assert_string_equal(c.ca_dir, "var/ca");
    assert_string_equal(c.path, "../../../../conf/hubgate.ini");
    config_free(&c);
}

/* ---- each key ---------------------------------------------------------- */

static void test_full_file(void **state)
{
    struct config c;
    char err[ERRLEN];

    (void)state;
    if (config_load(&c, "full.ini", err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.path, "full.ini");
    assert_golden(&c, "full.golden");
    config_free(&c);
}

static void test_listen_ipv6(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[proxy]\nlisten = [::1]:3128\n");
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 3128);
    config_free(&c);
    load_ok(&c, "[proxy]\nlisten = [::]:1\n");
    assert_string_equal(c.listen_host, "::");
    assert_int_equal(c.listen_port, 1);
    config_free(&c);
    load_ok(&c, "[proxy]\nlisten = 0.0.0.0:65535\n");
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 65535);
    config_free(&c);
}

static void test_duration_units(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[proxy]\nhandshake_timeout = 250ms\nheader_timeout = 7\nidle_timeout = 7s\n"
            "drain_timeout = 2m\n[upstream]\nconnect_timeout = 1ms\nread_timeout = 0010s\n");
    assert_int_equal(c.handshake_timeout_ms, 250);
    assert_int_equal(c.header_timeout_ms, 7000);
    assert_int_equal(c.idle_timeout_ms, 7000);
    assert_int_equal(c.drain_timeout_ms, 120000);
    assert_int_equal(c.connect_timeout_ms, 1);
    assert_int_equal(c.read_timeout_ms, 10000);
    config_free(&c);
}

static void test_duration_limits(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[proxy]\nidle_timeout = 4294967295ms\nheader_timeout = 71582m\n"
            "drain_timeout = 4294967s\n");
    assert_int_equal(c.idle_timeout_ms, 4294967295u);
    assert_int_equal(c.header_timeout_ms, 71582u * 60000u);
    assert_int_equal(c.drain_timeout_ms, 4294967000u);
    config_free(&c);
    refuse("[proxy]\nidle_timeout = 4294967296ms\n", "t.ini:2: [proxy] idle_timeout: "
           "\"4294967296ms\" is out of range; give 1ms to 4294967295ms", 0);
    refuse("[proxy]\nidle_timeout = 71583m\n", "t.ini:2: [proxy] idle_timeout: \"71583m\" is "
           "out of range", 1);
    refuse("[proxy]\nidle_timeout = 4294968\n", "t.ini:2: [proxy] idle_timeout: \"4294968\" is "
           "out of range", 1);
    refuse("[proxy]\nidle_timeout = 0\n", "t.ini:2: [proxy] idle_timeout: \"0\" is out of range",
           1);
    refuse("[proxy]\nidle_timeout = 0ms\n", "t.ini:2: [proxy] idle_timeout: \"0ms\" is out of "
           "range", 1);
    refuse("[proxy]\nidle_timeout = 123456789012345678901234567890m\n",
           "t.ini:2: [proxy] idle_timeout: \"123456789012345678901234567890m\" is out of range",
           1);
}

static void test_duration_bad(void **state)
{
    static const char *const bad[] = {"10x", "1h", "ms", "s", "-1", "+1", "1.5s", "10 s",
                                       "10S", "10sec", "1e3", "0x10", "10ms5"};
    char text[128], want[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[upstream]\nconnect_timeout = %s\n", bad[i]);
        snprintf(want, sizeof(want), "t.ini:2: [upstream] connect_timeout: \"%s\" is not a "
                 "duration; a bare number is seconds, or add ms, s or m (example: 10s)", bad[i]);
        refuse(text, want, 0);
    }
}

static void test_sizes(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[proxy]\nmax_header_bytes = 1024\n");
    assert_int_equal(c.max_header_bytes, 1024);
    config_free(&c);
    load_ok(&c, "[proxy]\nmax_header_bytes = 8KiB\n");
    assert_int_equal(c.max_header_bytes, 8192);
    config_free(&c);
    load_ok(&c, "[proxy]\nmax_header_bytes = 1MiB\n");
    assert_int_equal(c.max_header_bytes, 1048576);
    config_free(&c);
    load_ok(&c, "[proxy]\nmax_header_bytes = 1048576\n");
    assert_int_equal(c.max_header_bytes, 1048576);
    config_free(&c);
}

static void test_sizes_bad(void **state)
{
    static const char *const bad[] = {"64K", "64KB", "64kib", "64 KiB", "1GiB", "-1", "KiB",
                                      "1.5MiB", "64KiBs"};
    char text[128], want[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[proxy]\nmax_header_bytes = %s\n", bad[i]);
        snprintf(want, sizeof(want), "t.ini:2: [proxy] max_header_bytes: \"%s\" is not a size; "
                 "a bare number is bytes, or add KiB or MiB (example: 64KiB)", bad[i]);
        refuse(text, want, 0);
    }
    refuse("[proxy]\nmax_header_bytes = 1023\n", "t.ini:2: [proxy] max_header_bytes: \"1023\" "
           "is out of range; give 1KiB to 1MiB", 0);
    refuse("[proxy]\nmax_header_bytes = 1048577\n", "t.ini:2: [proxy] max_header_bytes: "
           "\"1048577\" is out of range; give 1KiB to 1MiB", 0);
    refuse("[proxy]\nmax_header_bytes = 2MiB\n", "t.ini:2: [proxy] max_header_bytes: \"2MiB\" "
           "is out of range; give 1KiB to 1MiB", 0);
    refuse("[proxy]\nmax_header_bytes = 0KiB\n", "t.ini:2: [proxy] max_header_bytes: \"0KiB\" "
           "is out of range", 1);
}

static void test_max_connections(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[proxy]\nmax_connections = 1\n");
    assert_int_equal(c.max_connections, 1);
    config_free(&c);
    load_ok(&c, "[proxy]\nmax_connections = 1048576\n");
    assert_int_equal(c.max_connections, 1048576);
    config_free(&c);
    refuse("[proxy]\nmax_connections = 0\n", "t.ini:2: [proxy] max_connections: \"0\" is out "
           "of range; give 1 to 1048576", 0);
    refuse("[proxy]\nmax_connections = 1048577\n", "t.ini:2: [proxy] max_connections: "
           "\"1048577\" is out of range; give 1 to 1048576", 0);
    refuse("[proxy]\nmax_connections = 4k\n", "t.ini:2: [proxy] max_connections: \"4k\" is not "
           "a whole number (example: 4096)", 0);
    refuse("[proxy]\nmax_connections = -1\n", "t.ini:2: [proxy] max_connections: \"-1\" is not "
           "a whole number (example: 4096)", 0);
}

static void test_paths(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[ca]\ndir = var/ca\ndir = ./state dir/ca\n[upstream]\nca_file = ca.pem\n");
    assert_string_equal(c.ca_dir, "./state dir/ca");
    assert_string_equal(c.ca_file, "ca.pem");
    config_free(&c);
}

static void test_hosts_lowercased_and_once(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[intercept]\nhosts = Registry-1.DOCKER.io localhost registry-1.docker.io "
            "a.b-c.d1\n");
    assert_int_equal(c.intercept_hosts.n, 3);
    assert_string_equal(c.intercept_hosts.v[0], "registry-1.docker.io");
    assert_string_equal(c.intercept_hosts.v[1], "localhost");
    assert_string_equal(c.intercept_hosts.v[2], "a.b-c.d1");
    config_free(&c);
}

static void test_hosts_bad(void **state)
{
    static const char *const bad[] = {
        "under_score.io", "-lead.io", "trail-.io", "a..b", ".lead", "trail.", "*.docker.io",
        "host:443", "[::1]", "caf\xc3\xa9.io",
        "x234567890123456789012345678901234567890123456789012345678901234.io",
    };
    char text[192], want[192];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[intercept]\nhosts = ok.io %s\n", bad[i]);
        snprintf(want, sizeof(want), "t.ini:2: [intercept] hosts: \"%s\" is not a DNS name",
                 bad[i]);
        if (i == 9)
            snprintf(want, sizeof(want), "t.ini:2: [intercept] hosts: \"caf??.io\" is not");
        refuse(text, want, 1);
    }
}

static void test_hosts_label_63(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[intercept]\nhosts = "
            "x23456789012345678901234567890123456789012345678901234567890123.io\n");
    assert_int_equal(strlen(c.intercept_hosts.v[0]), 66);
    config_free(&c);
}

static void test_via_commas_and_trim(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[upstream]\nvia =  direct ,direct\n");
    assert_int_equal(c.via.n, 2);
    assert_string_equal(c.via.v[0], "direct");
    assert_string_equal(c.via.v[1], "direct");
    config_free(&c);
}

static void test_via_bad(void **state)
{
    (void)state;
    refuse("[upstream]\nvia = socks5://127.0.0.1\n", "t.ini:2: [upstream] via: "
           "\"socks5://127.0.0.1\" has no port; give host:port (example: "
           "socks5://127.0.0.1:1080); accepted forms: direct, socks5://[user:pass@]host:port, "
           "http://[user:pass@]host:port, relay:https://HOST[:PORT] [via LINK], relay", 0);
    /* Spaces do not separate links: a link may contain them. */
    refuse("[upstream]\nvia = direct direct\n", "t.ini:2: [upstream] via: \"direct direct\" is "
           "not a link", 1);
    refuse("[upstream]\nvia = direct,\n", "t.ini:2: [upstream] via: has an empty entry; "
           "separate links with single commas (example: direct)", 0);
    refuse("[upstream]\nvia = direct,,direct\n", "t.ini:2: [upstream] via: has an empty entry",
           1);
    refuse("[upstream]\nvia =\n", "t.ini:2: [upstream] via: is empty; give at least one entry "
           "(example: direct)", 0);
    refuse("[upstream]\nvia = gopher://h:70\n", "t.ini:2: [upstream] via: \"gopher://h:70\" "
           "has an unknown scheme (socks5:// or http://); accepted forms: direct", 1);
    refuse("[upstream]\nvia = relay:https://a.example via relay\n", "t.ini:2: [upstream] via: "
           "\"relay:https://a.example via relay\" is reached through another relay", 1);
    refuse("[upstream]\nvia = relay:https://a.example/v2/\n", "t.ini:2: [upstream] via: "
           "\"relay:https://a.example/v2/\" has a path", 1);
    /* At most 32 links, as many as a link list holds at run time. */
    refuse("[upstream]\nvia = direct, direct, direct, direct, direct, direct, direct, direct\n"
           "via = direct, direct, direct, direct, direct, direct, direct, direct\n"
           "via = direct, direct, direct, direct, direct, direct, direct, direct\n"
           "via = direct, direct, direct, direct, direct, direct, direct, direct, direct\n",
           "t.ini:5: [upstream] via: has more than 32 entries", 0);
}

static void test_via_links(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[upstream]\nvia = socks5://u:p%40ss@127.0.0.1:1080, http://proxy:3128,"
            "relay:https://hub.example.com via socks5://127.0.0.1:1080 , direct\n"
            "via = relay:https://[2001:db8::1]:8443/\n");
    assert_int_equal(c.via.n, 5);
    /* Stored as written (trimmed): links are parsed again by their user. */
    assert_string_equal(c.via.v[0], "socks5://u:p%40ss@127.0.0.1:1080");
    assert_string_equal(c.via.v[2], "relay:https://hub.example.com via socks5://127.0.0.1:1080");
    assert_string_equal(c.via.v[4], "relay:https://[2001:db8::1]:8443/");
    config_free(&c);
}

/* A password in a refused entry never reaches the message. */
static void test_via_error_hides_credentials(void **state)
{
    (void)state;
    refuse("[upstream]\nvia = socks5://alice:SeCrEt@127.0.0.1:99999\n", "t.ini:2: [upstream] "
           "via: \"socks5://***@127.0.0.1:99999\" has a bad port; give a number from 1 to "
           "65535", 1);
    refuse("[passthrough]\nvia = relay:https://r via http://alice:SeCrEt@h\n", "t.ini:2: "
           "[passthrough] via: \"relay:https://r via http://***@h\" is a relay, which is not "
           "allowed here; accepted forms: direct, socks5://[user:pass@]host:port, "
           "http://[user:pass@]host:port", 0);
}

static void test_via_relay_needs_section(void **state)
{
    struct config c;

    (void)state;
    /* Reported at the via line, once the whole file is read. */
    refuse("[upstream]\nvia = direct\nvia = socks5://h:1, relay\n[dns]\nservers =\n",
           "t.ini:3: [upstream] via: \"relay\" needs a [relay] section that maps hosts to "
           "relays (example: [relay] then registry-1.docker.io = "
           "https://hub-mirror.example.com)", 0);
    load_ok(&c, "[upstream]\nvia = relay, direct\n[relay]\n"
            "registry-1.docker.io = https://mirror.example.com\n");
    assert_int_equal(c.via.n, 2);
    assert_int_equal(c.relay_hosts.n, 1);
    config_free(&c);
    /* The section may come first. */
    load_ok(&c, "[relay]\nauth.docker.io = https://mirror.example.com\n[upstream]\nvia = relay\n");
    config_free(&c);
}

static void test_passthrough_via(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[passthrough]\nvia = http://u:p@proxy.corp:3128, direct\n");
    assert_int_equal(c.passthrough_via.n, 2);
    assert_string_equal(c.passthrough_via.v[0], "http://u:p@proxy.corp:3128");
    assert_string_equal(c.passthrough_via.v[1], "direct");
    assert_int_equal(c.via.n, 1);
    config_free(&c);
    refuse("[passthrough]\nvia = relay\n", "t.ini:2: [passthrough] via: \"relay\" is a relay, "
           "which is not allowed here", 1);
    refuse("[passthrough]\nvia = relay:https://h.example\n", "t.ini:2: [passthrough] via: "
           "\"relay:https://h.example\" is a relay, which is not allowed here", 1);
    refuse("[passthrough]\nvia =\n", "t.ini:2: [passthrough] via: is empty; give at least one "
           "entry (example: direct)", 0);
    refuse("[passthrough]\nvia = socks5://h:0\n", "t.ini:2: [passthrough] via: "
           "\"socks5://h:0\" has a bad port; give a number from 1 to 65535; accepted forms: "
           "direct, socks5://[user:pass@]host:port, http://[user:pass@]host:port", 0);
}

static void test_retry_after_cap(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[upstream]\nretry_after_cap = 5m\n");
    assert_int_equal(c.retry_after_cap_ms, 300000);
    config_free(&c);
    load_ok(&c, "[upstream]\nretry_after_cap = 1\n");
    assert_int_equal(c.retry_after_cap_ms, 1000);
    config_free(&c);
    refuse("[upstream]\nretry_after_cap = 999ms\n", "t.ini:2: [upstream] retry_after_cap: "
           "\"999ms\" is out of range; give 1000ms to 3600000ms", 0);
    refuse("[upstream]\nretry_after_cap = 61m\n", "t.ini:2: [upstream] retry_after_cap: "
           "\"61m\" is out of range", 1);
    refuse("[upstream]\nretry_after_cap = 1h\n", "t.ini:2: [upstream] retry_after_cap: \"1h\" "
           "is not a duration; a bare number is seconds, or add ms, s or m (example: 60s)", 0);
}

static void test_follow_redirects(void **state)
{
    static const char *const yes[] = {"yes", "YES", "true", "True", "on", "1"};
    static const char *const no[] = {"no", "No", "false", "FALSE", "off", "0"};
    static const char *const bad[] = {"y", "n", "2", "enabled", "yes please", "-1"};
    char text[128], want[192];
    struct config c;
    size_t i;

    (void)state;
    for (i = 0; i < 6; i++) {
        snprintf(text, sizeof(text), "[upstream]\nfollow_redirects = %s\n", no[i]);
        load_ok(&c, text);
        assert_int_equal(c.follow_redirects, 0);
        config_free(&c);
        snprintf(text, sizeof(text), "[upstream]\nfollow_redirects = off\n"
                 "follow_redirects = %s\n", yes[i]);
        load_ok(&c, text);
        assert_int_equal(c.follow_redirects, 1);
        config_free(&c);
        snprintf(text, sizeof(text), "[upstream]\nfollow_redirects = %s\n", bad[i]);
        snprintf(want, sizeof(want), "t.ini:2: [upstream] follow_redirects: \"%s\" is not yes "
                 "or no (also true/false, on/off, 1/0; example: yes)", bad[i]);
        refuse(text, want, 0);
    }
    refuse("[upstream]\nfollow_redirects =\n", "t.ini:2: [upstream] follow_redirects: \"\" is "
           "not yes or no", 1);
}

/* ---- files of secrets -------------------------------------------------- */

/* Writes text to a new file under /tmp with mode; its name goes to path
 * (at least 32 bytes). */
static void secret_file(char *path, const char *text, mode_t mode)
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
static int load_secret(struct config *c, const char *section, const char *key,
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

static void test_hub_credentials(void **state)
{
    char err[ERRLEN], path[64];
    struct config c;

    (void)state;
    assert_int_equal(load_secret(&c, "upstream", "hub_credentials", "alice:dckr_pat_x-Y_z\n",
                                 0600, err, path), 0);
    assert_string_equal(c.hub_credentials, path);
    assert_string_equal(c.hub_user, "alice");
    assert_string_equal(c.hub_token, "dckr_pat_x-Y_z");
    config_free(&c);
    /* 0400, no newline, a ':' in the token. */
    assert_int_equal(load_secret(&c, "upstream", "hub_credentials", "bob:a:b", 0400, err, path),
                     0);
    assert_string_equal(c.hub_user, "bob");
    assert_string_equal(c.hub_token, "a:b");
    config_free(&c);
    assert_int_equal(load_secret(&c, "upstream", "hub_credentials", "carol:t\r\n", 0600, err,
                                 path), 0);
    assert_string_equal(c.hub_token, "t");
    config_free(&c);
    /* Empty: anonymous. */
    load_ok(&c, "[upstream]\nhub_credentials = x\nhub_credentials =\n");
    assert_null(c.hub_credentials);
    assert_null(c.hub_user);
    assert_null(c.hub_token);
    config_free(&c);
}

static void test_hub_credentials_mode(void **state)
{
    static const mode_t modes[] = {0644, 0640, 0604, 0660, 0700, 0610, 04600};
    char err[ERRLEN], path[64], want[ERRLEN];
    struct config c;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        memset(&c, 0x5a, sizeof(c));
        assert_int_equal(load_secret(&c, "upstream", "hub_credentials", "alice:SeCrEt\n",
                                     modes[i], err, path), -1);
        snprintf(want, sizeof(want), "t.ini:2: [upstream] hub_credentials: \"%s\" has mode "
                 "%04o, so others may read it: chmod 600 %s", path, (unsigned)modes[i], path);
        assert_string_equal(err, want);
        assert_zeroed(&c);
    }
}

static void test_hub_credentials_bad(void **state)
{
    static const char *const bad[] = {"", "\n", "alice\n", ":token\n", "alice:\n",
                                      "alice:SeCrEt\nbob:SeCrEt\n", "alice: SeCrEt\n",
                                      "alice:SeC\trEt", "\nalice:SeCrEt\n"};
    char err[ERRLEN], path[64], want[ERRLEN];
    struct config c;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(load_secret(&c, "upstream", "hub_credentials", bad[i], 0600, err,
                                     path), -1);
        snprintf(want, sizeof(want), "t.ini:2: [upstream] hub_credentials: \"%s\" must hold "
                 "one line user:token, without blanks (the text is not shown: it may hold the "
                 "token)", path);
        assert_string_equal(err, want);
        assert_null(strstr(err, "SeCrEt"));
    }
}

static void test_hub_credentials_nul(void **state)
{
    char err[ERRLEN], path[64], ini[128], want[ERRLEN];
    struct config c;
    int fd;

    (void)state;
    strcpy(path, "/tmp/hubgate-test-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "a:b\0c\n", 6), 6);
    close(fd);
    snprintf(ini, sizeof(ini), "[upstream]\nhub_credentials = %s\n", path);
    assert_int_equal(load(&c, ini, err), -1);
    unlink(path);
    snprintf(want, sizeof(want), "t.ini:2: [upstream] hub_credentials: \"%s\" holds a NUL "
             "byte; it must hold one line user:token", path);
    assert_string_equal(err, want);
}

static void test_hub_credentials_missing(void **state)
{
    char err[ERRLEN];
    struct config c;

    (void)state;
    assert_int_equal(load(&c, "[upstream]\nhub_credentials = /nonexistent/hub.cred\n"
                          "connect_timeout = 5s\n", err), -1);
    assert_string_equal(err, "t.ini:2: [upstream] hub_credentials: \"/nonexistent/hub.cred\" "
                        "cannot be opened: No such file or directory; create it holding one "
                        "line user:token, then chmod 600 /nonexistent/hub.cred");
    assert_int_equal(load(&c, "[upstream]\nhub_credentials = /tmp\n", err), -1);
    assert_string_equal(err, "t.ini:2: [upstream] hub_credentials: \"/tmp\" is not a regular "
                        "file; give a file holding one line user:token (chmod 600 /tmp)");
    /* The last line naming the key decides, and is the one reported. */
    assert_int_equal(load(&c, "[upstream]\nhub_credentials = /tmp\n\nhub_credentials = "
                          "/nonexistent/x\n", err), -1);
    assert_non_null(strstr(err, "t.ini:4: [upstream] hub_credentials: \"/nonexistent/x\""));
}

static void test_users(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[proxy]\nusers = alice:pw1, bob:p:w:2\tcarol:%41\nusers = dave:x\n");
    assert_int_equal(c.users.n, 4);
    assert_string_equal(c.users.v[0], "alice:pw1");
    assert_string_equal(c.users.v[1], "bob:p:w:2");
    assert_string_equal(c.users.v[2], "carol:%41");
    assert_string_equal(c.users.v[3], "dave:x");
    assert_null(c.users_file);
    config_free(&c);
    load_ok(&c, "[proxy]\nusers =\n");
    assert_int_equal(c.users.n, 0);
    config_free(&c);
}

static void test_users_bad(void **state)
{
    (void)state;
    /* Never quoted: a mistyped entry may be a password. */
    refuse("[proxy]\nusers = alice SeCrEt\n", "t.ini:2: [proxy] users: has an entry that is "
           "not name:password (not shown: it may hold a password); separate entries with "
           "spaces or commas", 0);
    refuse("[proxy]\nusers = :SeCrEt\n", "t.ini:2: [proxy] users: has an entry that is not "
           "name:password", 1);
    refuse("[proxy]\nusers = alice:\n", "t.ini:2: [proxy] users: \"alice\" has an empty "
           "password; write name:password", 0);
    refuse("[proxy]\nusers = alice:a\nusers = bob:b ALICE:c alice:SeCrEt\n", "t.ini:3: [proxy] "
           "users: \"alice\" is listed twice as a user", 0);
    refuse("[proxy]\nusers = alice:Se\x01CrEt\n", "t.ini:2: [proxy] users: has an entry with a "
           "control character (not shown: it may hold a password)", 0);
}

static void test_users_file(void **state)
{
    char err[ERRLEN], path[64], ini[256];
    struct config c;
    int rc;

    (void)state;
    secret_file(path, "# proxy users\n\nbob:pass word\r\n  carol:x:y  \n#dave:z\n", 0600);
    snprintf(ini, sizeof(ini), "[proxy]\nusers_file = %s\nusers = alice:a\n", path);
    if (load(&c, ini, err) != 0) {
        unlink(path);
        fail_msg("%s", err);
    }
    assert_string_equal(c.users_file, path);
    assert_int_equal(c.users.n, 3);
    assert_string_equal(c.users.v[0], "alice:a");
    assert_string_equal(c.users.v[1], "bob:pass word");
    assert_string_equal(c.users.v[2], "carol:x:y");
    config_free(&c);
    /* A name in both places. */
    snprintf(ini, sizeof(ini), "[proxy]\nusers = carol:a\nusers_file = %s\n", path);
    rc = load(&c, ini, err);
    unlink(path);
    assert_int_equal(rc, -1);
    snprintf(ini, sizeof(ini), "t.ini:3: [proxy] users_file: %s:4: \"carol\" is listed twice "
             "as a user", path);
    assert_string_equal(err, ini);
}

static void test_users_file_bad(void **state)
{
    char err[ERRLEN], path[64], want[ERRLEN];
    struct config c;

    (void)state;
    assert_int_equal(load_secret(&c, "proxy", "users_file", "a:b\n\nSeCrEt\n", 0600, err,
                                 path), -1);
    snprintf(want, sizeof(want), "t.ini:2: [proxy] users_file: %s:3: has an entry that is not "
             "name:password (not shown: it may hold a password); separate entries with spaces "
             "or commas", path);
    assert_string_equal(err, want);
    assert_int_equal(load_secret(&c, "proxy", "users_file", "a:b\n", 0644, err, path), -1);
    snprintf(want, sizeof(want), "t.ini:2: [proxy] users_file: \"%s\" has mode 0644, so "
             "others may read it: chmod 600 %s", path, path);
    assert_string_equal(err, want);
    assert_int_equal(load(&c, "[proxy]\nusers_file = /nonexistent/users\n", err), -1);
    assert_string_equal(err, "t.ini:2: [proxy] users_file: \"/nonexistent/users\" cannot be "
                        "opened: No such file or directory; create it holding name:password "
                        "lines, then chmod 600 /nonexistent/users");
}

static void test_deny_targets(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[proxy]\ndeny_targets = 10.0.0.0/8, 192.0.2.1 fd00::/8\n");
    assert_int_equal(c.deny_targets.n, 3);
    assert_int_equal(c.deny_targets.v[1].prefix, 32);
    assert_int_equal(c.deny_targets.v[2].family, AF_INET6);
    config_free(&c);
    load_ok(&c, "[proxy]\ndeny_targets =\n");
    assert_int_equal(c.deny_targets.n, 0);
    config_free(&c);
    refuse("[proxy]\ndeny_targets = 169.254.0.0/16 metadata.google.internal\n", "t.ini:2: "
           "[proxy] deny_targets: \"metadata.google.internal\" is not a network (examples: "
           "10.0.0.0/8, ::1/128, 192.168.1.5)", 0);
}

static void test_connect_ports(void **state)
{
    static const char *const bad[] = {"0", "65536", "443x", "-1", "https", "1e3", "0x1bb",
                                      "4430000"};
    char text[128], want[192];
    struct config c;
    size_t i;

    (void)state;
    load_ok(&c, "[proxy]\nconnect_ports = 443, 8443 443\t1 65535 00080\n");
    assert_int_equal(c.connect_ports.n, 5);
    assert_int_equal(c.connect_ports.v[0], 443);
    assert_int_equal(c.connect_ports.v[1], 8443);
    assert_int_equal(c.connect_ports.v[2], 1);
    assert_int_equal(c.connect_ports.v[3], 65535);
    assert_int_equal(c.connect_ports.v[4], 80);
    config_free(&c);
    load_ok(&c, "[proxy]\nconnect_ports = 443\nconnect_ports =\n");
    assert_int_equal(c.connect_ports.n, 1);
    config_free(&c);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[proxy]\nconnect_ports = 443 %s\n", bad[i]);
        snprintf(want, sizeof(want), "t.ini:2: [proxy] connect_ports: \"%s\" is not a port "
                 "(1 to 65535; example: 443)", bad[i]);
        refuse(text, want, 0);
    }
}

static void test_relay_section(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[relay]\nRegistry-1.Docker.IO = https://mirror.example.com\n"
            "auth.docker.io = https://mirror.example.com:8443/\n"
            "registry-1.docker.io: https://second.example.com\n"
            "production.cloudflare.docker.com = HTTPS://[2001:db8::2]  ; comment\n");
    assert_int_equal(c.relay_hosts.n, 3);
    assert_int_equal(c.relay_urls.n, 3);
    assert_string_equal(c.relay_hosts.v[0], "registry-1.docker.io");
    assert_string_equal(c.relay_urls.v[0], "https://second.example.com");    /* last wins */
    assert_string_equal(c.relay_hosts.v[1], "auth.docker.io");
    assert_string_equal(c.relay_urls.v[1], "https://mirror.example.com:8443/");
    assert_string_equal(c.relay_hosts.v[2], "production.cloudflare.docker.com");
    assert_string_equal(c.relay_urls.v[2], "HTTPS://[2001:db8::2]");
    config_free(&c);
}

static void test_relay_section_bad(void **state)
{
    (void)state;
    refuse("[relay]\nunder_score.io = https://m.example\n", "t.ini:2: [relay] under_score.io: "
           "is not a host name (letters, digits, '-' and '.'; example: registry-1.docker.io = "
           "https://hub-mirror.example.com)", 0);
    refuse("[relay]\n*.docker.io = https://m.example\n", "t.ini:2: [relay] *.docker.io: is not "
           "a host name", 1);
    refuse("[relay]\nhub.example = http://m.example\n", "t.ini:2: [relay] hub.example: "
           "\"http://m.example\" is not a relay URL; give https://HOST[:PORT] (example: "
           "https://hub-mirror.example.com)", 0);
    refuse("[relay]\nhub.example =\n", "t.ini:2: [relay] hub.example: is not a relay URL; give "
           "https://HOST[:PORT] (example: https://hub-mirror.example.com)", 0);
    refuse("[relay]\nhub.example = https://m.example via direct\n", "t.ini:2: [relay] "
           "hub.example: \"https://m.example via direct\" is not a relay URL", 1);
    refuse("[relay]\nhub.example = https://m.example/v2/\n", "t.ini:2: [relay] hub.example: "
           "\"https://m.example/v2/\" has a path; give only scheme://host:port; a relay URL is "
           "https://HOST[:PORT]", 0);
    refuse("[relay]\nhub.example = https://u:SeCrEt@m.example\n", "t.ini:2: [relay] "
           "hub.example: \"https://***@m.example\" has a user or password; a relay URL takes "
           "none; a relay URL is https://HOST[:PORT]", 0);
    refuse("[relay]\nhub.example = https://m.example:0\n", "t.ini:2: [relay] hub.example: "
           "\"https://m.example:0\" has a bad port", 1);
}

static void test_relay_section_limit(void **state)
{
    static char text[300 * 40];
    size_t i;

    (void)state;
    strcpy(text, "[relay]\n");
    for (i = 0; i < 257; i++)
        append(text, sizeof(text), "h%zu.example = https://m.example\n", i);
    refuse(text, "t.ini:258: [relay] h256.example: has more than 256 entries", 0);
}

static void test_dns_servers(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[dns]\nservers = 192.0.2.1, 192.0.2.2:5353 2001:db8::1\t[2001:db8::2]:53\n");
    assert_int_equal(c.dns_servers.n, 4);
    assert_string_equal(c.dns_servers.v[0], "192.0.2.1");
    assert_string_equal(c.dns_servers.v[1], "192.0.2.2:5353");
    assert_string_equal(c.dns_servers.v[2], "2001:db8::1");
    assert_string_equal(c.dns_servers.v[3], "[2001:db8::2]:53");
    config_free(&c);
    load_ok(&c, "[dns]\nservers =          ; empty: the system's resolv.conf\n");
    assert_int_equal(c.dns_servers.n, 0);
    config_free(&c);
}

static void test_dns_servers_bad(void **state)
{
    static const char *const bad[] = {"192.0.2.1:0", "192.0.2.1:65536", "[2001:db8::1]",
                                      "dns.google", "dns.google:53", "[192.0.2.1]:53",
                                      "192.0.2.256", "192.0.2.1:"};
    char text[128], want[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[dns]\nservers = 192.0.2.9 %s\n", bad[i]);
        snprintf(want, sizeof(want), "t.ini:2: [dns] servers: \"%s\" is not an IP address or "
                 "IP:port (examples: 192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53)", bad[i]);
        refuse(text, want, 0);
    }
}

/* ---- lists ------------------------------------------------------------- */

static void test_list_separators(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[proxy]\nallow = 10.0.0.0/8,192.168.0.0/16 , ,172.16.0.0/12\t::1  fe80::/10,\n");
    assert_int_equal(c.allow.n, 5);
    assert_int_equal(c.allow.v[2].prefix, 12);
    assert_int_equal(c.allow.v[3].family, AF_INET6);
    assert_int_equal(c.allow.v[4].prefix, 10);
    config_free(&c);
}

static void test_list_repeat_appends(void **state)
{
    struct config c;

    (void)state;
    /* The first line replaces the three default hosts, the others append,
     * also after another section came between. */
    load_ok(&c, "[intercept]\nhosts = a.example\nhosts = b.example c.example\n"
            "[proxy]\nallow = 10.0.0.0/8\n[intercept]\nhosts = d.example\n");
    assert_int_equal(c.intercept_hosts.n, 4);
    assert_string_equal(c.intercept_hosts.v[0], "a.example");
    assert_string_equal(c.intercept_hosts.v[3], "d.example");
    assert_int_equal(c.allow.n, 1);
    config_free(&c);
    /* An empty first line clears the default; a later one fills it. */
    load_ok(&c, "[intercept]\nhosts =\nhosts = a.example\n");
    assert_int_equal(c.intercept_hosts.n, 1);
    config_free(&c);
    /* An empty later line adds nothing. */
    load_ok(&c, "[intercept]\nhosts = a.example\nhosts =\n");
    assert_int_equal(c.intercept_hosts.n, 1);
    config_free(&c);
}

static void test_list_continuation_line(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[dns]\nservers = 192.0.2.1 ; first\n    192.0.2.2 ; inih keeps this comment\n"
            "\t192.0.2.3\n");
    assert_int_equal(c.dns_servers.n, 3);
    assert_string_equal(c.dns_servers.v[1], "192.0.2.2");
    config_free(&c);
}

static void test_list_limit(void **state)
{
    static char text[1100 * 24];
    size_t i;

    (void)state;
    strcpy(text, "[proxy]\n");
    for (i = 0; i < 1025; i++)
        append(text, sizeof(text), "allow = 10.0.%zu.%zu\n", i / 256, i % 256);
    refuse(text, "t.ini:1026: [proxy] allow: has more than 1024 entries", 0);
}

static void test_scalar_repeat_last_wins(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[proxy]\nlisten = 127.0.0.1:1\nmax_connections = 5\nlisten = 127.0.0.2:2\n"
            "[proxy]\nmax_connections = 6\n");
    assert_string_equal(c.listen_host, "127.0.0.2");
    assert_int_equal(c.listen_port, 2);
    assert_int_equal(c.max_connections, 6);
    config_free(&c);
}

/* ---- errors ------------------------------------------------------------ */

static void test_error_listen(void **state)
{
    (void)state;
    refuse("[proxy]\nlisten = foo\n", "t.ini:2: [proxy] listen: \"foo\" is not host:port "
           "(example: 127.0.0.1:3128, or [::1]:3128 for IPv6)", 0);
    refuse("[proxy]\nlisten =\n", "t.ini:2: [proxy] listen: is empty; give host:port (example: "
           "127.0.0.1:3128)", 0);
    refuse("[proxy]\nlisten = localhost:3128\n", "t.ini:2: [proxy] listen: \"localhost:3128\" "
           "needs an IP address, not a name (example: 127.0.0.1:3128)", 0);
    refuse("[proxy]\nlisten = 127.0.0.1:0\n", "t.ini:2: [proxy] listen: \"127.0.0.1:0\" is not "
           "host:port", 1);
    refuse("[proxy]\nlisten = ::1:3128\n", "t.ini:2: [proxy] listen: \"::1:3128\" is not "
           "host:port", 1);
    refuse("[proxy]\nlisten = [::1:3128\n", "t.ini:2: [proxy] listen: \"[::1:3128\" is not "
           "host:port", 1);
}

static void test_error_allow(void **state)
{
    (void)state;
    refuse("[proxy]\nallow = 127.0.0.0/8 10.0.0.0/33\n", "t.ini:2: [proxy] allow: "
           "\"10.0.0.0/33\" is not a network (examples: 10.0.0.0/8, ::1/128, 192.168.1.5)", 0);
    refuse("[proxy]\nallow = ; nobody\n", "t.ini:2: [proxy] allow: is empty; give at least one "
           "entry (example: 127.0.0.0/8 ::1/128)", 0);
}

static void test_error_empty_paths(void **state)
{
    (void)state;
    refuse("[ca]\ndir =\n", "t.ini:2: [ca] dir: is empty; give a path (example: "
           "/var/lib/hubgate)", 0);
    refuse("[upstream]\nca_file =    \n", "t.ini:2: [upstream] ca_file: is empty; give a path "
           "(example: /etc/ssl/certs/ca-certificates.crt)", 0);
}

static void test_error_empty_hosts(void **state)
{
    (void)state;
    /* Reported at the last line that named the key. */
    refuse("[intercept]\nhosts =\n\n\nhosts = ,\n", "t.ini:5: [intercept] hosts: is empty; "
           "give at least one entry (example: registry-1.docker.io auth.docker.io "
           "production.cloudflare.docker.com)", 0);
}

static void test_error_unknown_section(void **state)
{
    (void)state;
    refuse("[proxy]\nlisten = 127.0.0.1:1\n[foo]\nbar = 1\n", "t.ini:4: [foo] bar: unknown "
           "section; the sections are [proxy] [ca] [intercept] [upstream] [passthrough] [admin] "
           "[log] [dns] [relay]", 0);
    refuse("[Proxy]\nlisten = 127.0.0.1:1\n", "t.ini:2: [Proxy] listen: unknown section; the "
           "key belongs in [proxy]", 0);
}

static void test_error_unknown_key(void **state)
{
    (void)state;
    refuse("[ca]\nfile = x\n", "t.ini:2: [ca] file: unknown key; the keys of this section are "
           "dir", 0);
    refuse("[proxy]\nListen = 127.0.0.1:1\n", "t.ini:2: [proxy] Listen: unknown key; the keys "
           "of this section are listen allow", 1);
    refuse("[ca]\nlisten = 127.0.0.1:1\n", "t.ini:2: [ca] listen: unknown key here; it belongs "
           "in [proxy]", 0);
}

static void test_error_key_outside_section(void **state)
{
    (void)state;
    refuse("listen = 127.0.0.1:1\n", "t.ini:1: listen: outside any section; the key belongs in "
           "[proxy]", 0);
    refuse("x = 1\n", "t.ini:1: x: outside any section; the sections are [proxy] [ca] "
           "[intercept] [upstream] [passthrough] [admin] [log] [dns] [relay]", 0);
}

static void test_error_syntax(void **state)
{
    (void)state;
    refuse("[proxy]\n\nlisten\n", "t.ini:3: \"listen\" is not \"key = value\", \"[section]\" or "
           "a comment", 0);
    refuse("[proxy\nlisten = 127.0.0.1:1\n", "t.ini:1: \"[proxy\" opens a section but has no "
           "\"]\" (example: [proxy])", 0);
}

static void test_error_first_wins(void **state)
{
    (void)state;
    /* A bad value, then a syntax error: the bad value is first. */
    refuse("[proxy]\nlisten = foo\nnonsense\n", "t.ini:2: [proxy] listen: \"foo\"", 1);
    /* A syntax error, then a bad value: the syntax error is first. */
    refuse("[proxy]\nnonsense\nlisten = foo\nlisten = bar\n", "t.ini:2: \"nonsense\" is not", 1);
    refuse("[proxy]\nlisten = foo\nlisten = bar\n", "t.ini:2: [proxy] listen: \"foo\"", 1);
}

static void test_error_line_numbers(void **state)
{
    (void)state;
    refuse("; comment\n# comment\n\n[proxy]\n  ; indented comment\nallow = 10.0.0.0/8\n"
           "\n[ca]\ndir =\n", "t.ini:9: [ca] dir: is empty", 1);
    refuse("[proxy]\r\nallow = 10.0.0.0/8\r\n\r\nlisten = x\r\n", "t.ini:4: [proxy] listen: "
           "\"x\" is not host:port", 1);
}

static void test_error_long_line(void **state)
{
    char text[512], want[512];
    struct config c;

    (void)state;
    /* 198 bytes before the newline still fit inih's buffer. */
    snprintf(text, sizeof(text), "[intercept]\nhosts = a.example%*s\n", 198 - 17, "");
    load_ok(&c, text);
    assert_int_equal(c.intercept_hosts.n, 1);
    config_free(&c);
    /* 199 do not, and neither do 198 plus a '\r'; a comment counts too. */
    snprintf(text, sizeof(text), "[intercept]\nhosts = a.example%*s\n", 199 - 17, "");
    snprintf(want, sizeof(want), "t.ini:2: line is 199 bytes, over the 198 this parser reads; "
             "split a long list over several lines with the same key (hosts = a b, then "
             "hosts = c d on the next line)");
    refuse(text, want, 0);
    snprintf(text, sizeof(text), "[intercept]\r\nhosts = a.example%*s\r\n", 198 - 17, "");
    refuse(text, "t.ini:2: line is 199 bytes", 1);
    snprintf(text, sizeof(text), "[proxy]\n\n;%0300d\n", 0);
    refuse(text, "t.ini:3: line is 301 bytes", 1);
    /* The last line, without a newline. */
    snprintf(text, sizeof(text), "[proxy]\n;%0300d", 0);
    refuse(text, "t.ini:2: line is 301 bytes", 1);
}

static void test_error_nul_byte(void **state)
{
    static const char text[] = "[proxy]\nlisten = 127.0.0.1:1\0\n";
    struct config c;
    char err[ERRLEN];

    (void)state;
    assert_int_equal(config_load_string(&c, "t.ini", text, sizeof(text) - 1, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "t.ini:2: NUL byte; a config file must be plain text");
    assert_zeroed(&c);
}

static void test_error_file_missing(void **state)
{
    struct config c;
    char err[ERRLEN];

    (void)state;
    memset(&c, 0x5a, sizeof(c));
    assert_int_equal(config_load(&c, "no/such.ini", err, sizeof(err)), -1);
    assert_string_equal(err, "no/such.ini: cannot open: No such file or directory");
    assert_zeroed(&c);
    assert_int_equal(config_load(&c, "bad", err, sizeof(err)), -1);
    assert_string_equal(err, "bad: cannot read: Is a directory");
    assert_zeroed(&c);
}

static void test_error_nul_byte_file(void **state)
{
    char path[] = "/tmp/hubgate-test-XXXXXX", err[ERRLEN];
    struct config c;
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "[ca]\ndir = a\0b\n", 15), 15);
    close(fd);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
    unlink(path);
    assert_non_null(strstr(err, ":2: NUL byte"));
    assert_zeroed(&c);
}

static void test_error_message_sanitised(void **state)
{
    (void)state;
    refuse("[proxy]\nlisten = \x1b[31mred\x7f\n", "t.ini:2: [proxy] listen: \"?[31mred?\" is not",
           1);
    refuse("[proxy]\nlisten = 1234567890123456789012345678901234567890123456789012345678901234"
           "567890123456789012345\n", "t.ini:2: [proxy] listen: \"1234567890123456789012345678"
           "9012345678901234567890123456789012345678901234567890...\" is not host:port", 1);
}

static void test_error_small_buffer(void **state)
{
    struct config c;
    char err[12];

    (void)state;
    memset(err, 'X', sizeof(err));
    assert_int_equal(config_load_string(&c, "t.ini", "x", 1, err, sizeof(err)), -1);
    assert_string_equal(err, "t.ini:1: \"x");
    assert_int_equal(config_load_string(&c, "t.ini", "x", 1, NULL, 0), -1);
    assert_int_equal(config_load_string(&c, NULL, NULL, 5, err, sizeof(err)), -1);
    assert_zeroed(&c);
}

static void test_crlf_bom_and_colon(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "\xef\xbb\xbf[proxy]\r\nlisten = 127.0.0.2:80\r\n[ca]\r\ndir: /srv/ca\r\n");
    assert_string_equal(c.listen_host, "127.0.0.2");
    assert_string_equal(c.ca_dir, "/srv/ca");
    config_free(&c);
}

#define BAD_FILE(name) \
    static void test_bad_file_##name(void **state) { (void)state; refuse_file(#name); }
BAD_FILE(unknown_section)
BAD_FILE(unknown_key)
BAD_FILE(long_line)
BAD_FILE(listen)
BAD_FILE(duration)
BAD_FILE(no_equals)
BAD_FILE(via)
BAD_FILE(empty_hosts)
BAD_FILE(relay_no_section)
BAD_FILE(passthrough_relay)
BAD_FILE(relay_url)
BAD_FILE(connect_ports)
BAD_FILE(follow_redirects)
BAD_FILE(log_format)
BAD_FILE(admin_listen)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_file_is_defaults),
        cmocka_unit_test(test_sample_config),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_listen_ipv6),
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_duration_limits),
        cmocka_unit_test(test_duration_bad),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_sizes_bad),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_hosts_lowercased_and_once),
        cmocka_unit_test(test_hosts_bad),
        cmocka_unit_test(test_hosts_label_63),
        cmocka_unit_test(test_via_commas_and_trim),
        cmocka_unit_test(test_via_bad),
        cmocka_unit_test(test_via_links),
        cmocka_unit_test(test_via_error_hides_credentials),
        cmocka_unit_test(test_via_relay_needs_section),
        cmocka_unit_test(test_passthrough_via),
        cmocka_unit_test(test_retry_after_cap),
        cmocka_unit_test(test_follow_redirects),
        cmocka_unit_test(test_hub_credentials),
        cmocka_unit_test(test_hub_credentials_mode),
        cmocka_unit_test(test_hub_credentials_bad),
        cmocka_unit_test(test_hub_credentials_nul),
        cmocka_unit_test(test_hub_credentials_missing),
        cmocka_unit_test(test_users),
        cmocka_unit_test(test_users_bad),
        cmocka_unit_test(test_users_file),
        cmocka_unit_test(test_users_file_bad),
        cmocka_unit_test(test_deny_targets),
        cmocka_unit_test(test_connect_ports),
        cmocka_unit_test(test_relay_section),
        cmocka_unit_test(test_relay_section_bad),
        cmocka_unit_test(test_relay_section_limit),
        cmocka_unit_test(test_dns_servers),
        cmocka_unit_test(test_dns_servers_bad),
        cmocka_unit_test(test_list_separators),
        cmocka_unit_test(test_list_repeat_appends),
        cmocka_unit_test(test_list_continuation_line),
        cmocka_unit_test(test_list_limit),
        cmocka_unit_test(test_scalar_repeat_last_wins),
        cmocka_unit_test(test_error_listen),
        cmocka_unit_test(test_error_allow),
        cmocka_unit_test(test_error_empty_paths),
        cmocka_unit_test(test_error_empty_hosts),
        cmocka_unit_test(test_error_unknown_section),
        cmocka_unit_test(test_error_unknown_key),
        cmocka_unit_test(test_error_key_outside_section),
        cmocka_unit_test(test_error_syntax),
        cmocka_unit_test(test_error_first_wins),
        cmocka_unit_test(test_error_line_numbers),
        cmocka_unit_test(test_error_long_line),
        cmocka_unit_test(test_error_nul_byte),
        cmocka_unit_test(test_error_nul_byte_file),
        cmocka_unit_test(test_error_file_missing),
        cmocka_unit_test(test_error_message_sanitised),
        cmocka_unit_test(test_error_small_buffer),
        cmocka_unit_test(test_crlf_bom_and_colon),
        cmocka_unit_test(test_bad_file_unknown_section),
        cmocka_unit_test(test_bad_file_unknown_key),
        cmocka_unit_test(test_bad_file_long_line),
        cmocka_unit_test(test_bad_file_listen),
        cmocka_unit_test(test_bad_file_duration),
        cmocka_unit_test(test_bad_file_no_equals),
        cmocka_unit_test(test_bad_file_via),
        cmocka_unit_test(test_bad_file_log_format),
        cmocka_unit_test(test_bad_file_admin_listen),
        cmocka_unit_test(test_bad_file_empty_hosts),
        cmocka_unit_test(test_bad_file_relay_no_section),
        cmocka_unit_test(test_bad_file_passthrough_relay),
        cmocka_unit_test(test_bad_file_relay_url),
        cmocka_unit_test(test_bad_file_connect_ports),
        cmocka_unit_test(test_bad_file_follow_redirects),
    };

    return cmocka_run_group_tests_name("config", tests, setup, NULL);
}
