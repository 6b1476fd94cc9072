/* test_config_errors.c — every refusal of config_load() and
 * config_load_string(): bad values, unknown keys and sections, syntax,
 * files of secrets that are unsafe or wrong, and the files under
 * tests/unit/data/config/bad/ (each bad/x.ini must fail with the text of
 * bad/x.err). A refused load leaves the config freed and zeroed. Helpers
 * and the group setup are in config_test_util.h. */
#include "config_test_util.h"

/* ---- ranges: the last value accepted, the first refused ---------------- */

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

static void test_segments_ranges(void **state)
{
    (void)state;
    refuse("[upstream]\nsegments = 0\n", "t.ini:2: [upstream] segments: \"0\" is out of "
           "range; give 1 to 16", 0);
    refuse("[upstream]\nsegments = 17\n", "t.ini:2: [upstream] segments: \"17\" is out of "
           "range; give 1 to 16", 0);
    refuse("[upstream]\nsegments = four\n", "t.ini:2: [upstream] segments: \"four\" is not "
           "a whole number (example: 4)", 0);
    refuse("[upstream]\nsegment_size = 1023KiB\n", "t.ini:2: [upstream] segment_size: "
           "\"1023KiB\" is out of range; give 1MiB to 256MiB", 0);
    refuse("[upstream]\nsegment_size = 257MiB\n", "t.ini:2: [upstream] segment_size: "
           "\"257MiB\" is out of range; give 1MiB to 256MiB", 0);
    refuse("[upstream]\nsegment_size = 8M\n", "t.ini:2: [upstream] segment_size: \"8M\" is "
           "not a size; a bare number is bytes, or add KiB, MiB or GiB (example: 8MiB)", 0);
    refuse("[upstream]\nsegment_min = 0\n", "t.ini:2: [upstream] segment_min: \"0\" is out "
           "of range; give 1MiB to 64GiB", 0);
    refuse("[upstream]\nsegment_min = 65537MiB\n", "t.ini:2: [upstream] segment_min: "
           "\"65537MiB\" is out of range; give 1MiB to 64GiB", 0);
    refuse("[upstream]\nsegments_across_links = maybe\n", "t.ini:2: [upstream] "
           "segments_across_links: \"maybe\"", 1);
}

/* ---- bad values of each key -------------------------------------------- */

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

static void test_sizes_bad(void **state)
{
    static const char *const bad[] = {"64K", "64KB", "64kib", "64 KiB", "1TiB", "-1", "KiB",
                                      "1.5MiB", "64KiBs"};
    char text[128], want[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[proxy]\nmax_header_bytes = %s\n", bad[i]);
        snprintf(want, sizeof(want), "t.ini:2: [proxy] max_header_bytes: \"%s\" is not a size; "
                 "a bare number is bytes, or add KiB, MiB or GiB (example: 64KiB)", bad[i]);
        refuse(text, want, 0);
    }
    refuse("[proxy]\nmax_header_bytes = 1023\n", "t.ini:2: [proxy] max_header_bytes: \"1023\" "
           "is out of range; give 1KiB to 1MiB", 0);
    refuse("[proxy]\nmax_header_bytes = 1048577\n", "t.ini:2: [proxy] max_header_bytes: "
           "\"1048577\" is out of range; give 1KiB to 1MiB", 0);
    refuse("[proxy]\nmax_header_bytes = 2MiB\n", "t.ini:2: [proxy] max_header_bytes: \"2MiB\" "
           "is out of range; give 1KiB to 1MiB", 0);
    refuse("[cache]\nmax_size = 1KiB\n", "t.ini:2: [cache] max_size: \"1KiB\" "
           "is out of range; give 1MiB to 1048576GiB", 0);
    refuse("[proxy]\nmax_header_bytes = 0KiB\n", "t.ini:2: [proxy] max_header_bytes: \"0KiB\" "
           "is out of range", 1);
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

/* ---- files of secrets -------------------------------------------------- */

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
    refuse("[intercept]\nhosts =\n\n\nhosts = ,\n", "t.ini:5: [intercept] hosts: is empty "
           "and so is [intercept] registries: nothing would be intercepted; name hosts or "
           "registries (example: hosts = registry-1.docker.io auth.docker.io, or registries = "
           "docker.io ghcr.io)", 0);
}

/* A registry hubgate does not know by name is refused with the names it
 * knows; its hosts belong in [intercept] hosts. */
static void test_error_unknown_registry(void **state)
{
    (void)state;
    refuse("[intercept]\nregistries = ghcr.io harbor.example.com\n",
           "t.ini:2: [intercept] registries: \"harbor.example.com\" is not a registry hubgate "
           "knows (known: docker.io ghcr.io quay.io registry.k8s.io gcr.io nvcr.io "
           "mcr.microsoft.com); put other registries' hosts in [intercept] hosts", 0);
}

static void test_error_unknown_section(void **state)
{
    (void)state;
    refuse("[proxy]\nlisten = 127.0.0.1:1\n[foo]\nbar = 1\n", "t.ini:4: [foo] bar: unknown "
           "section; the sections are [proxy] [ca] [intercept] [upstream] [passthrough] [admin] "
           "[log] [cache] [dns] [relay]", 0);
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
           "[intercept] [upstream] [passthrough] [admin] [log] [cache] [dns] [relay]", 0);
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

/* ---- bad files --------------------------------------------------------- */

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
BAD_FILE(verify_digest)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_limits),
        cmocka_unit_test(test_duration_bad),
        cmocka_unit_test(test_sizes_bad),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_segments_ranges),
        cmocka_unit_test(test_hosts_bad),
        cmocka_unit_test(test_via_bad),
        cmocka_unit_test(test_via_error_hides_credentials),
        cmocka_unit_test(test_hub_credentials_mode),
        cmocka_unit_test(test_hub_credentials_bad),
        cmocka_unit_test(test_hub_credentials_nul),
        cmocka_unit_test(test_hub_credentials_missing),
        cmocka_unit_test(test_users_bad),
        cmocka_unit_test(test_users_file_bad),
        cmocka_unit_test(test_relay_section_bad),
        cmocka_unit_test(test_relay_section_limit),
        cmocka_unit_test(test_dns_servers_bad),
        cmocka_unit_test(test_list_limit),
        cmocka_unit_test(test_error_listen),
        cmocka_unit_test(test_error_allow),
        cmocka_unit_test(test_error_empty_paths),
        cmocka_unit_test(test_error_empty_hosts),
        cmocka_unit_test(test_error_unknown_registry),
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
        cmocka_unit_test(test_bad_file_unknown_section),
        cmocka_unit_test(test_bad_file_unknown_key),
        cmocka_unit_test(test_bad_file_long_line),
        cmocka_unit_test(test_bad_file_listen),
        cmocka_unit_test(test_bad_file_duration),
        cmocka_unit_test(test_bad_file_no_equals),
        cmocka_unit_test(test_bad_file_via),
        cmocka_unit_test(test_bad_file_log_format),
        cmocka_unit_test(test_bad_file_verify_digest),
        cmocka_unit_test(test_bad_file_admin_listen),
        cmocka_unit_test(test_bad_file_empty_hosts),
        cmocka_unit_test(test_bad_file_relay_no_section),
        cmocka_unit_test(test_bad_file_passthrough_relay),
        cmocka_unit_test(test_bad_file_relay_url),
        cmocka_unit_test(test_bad_file_connect_ports),
        cmocka_unit_test(test_bad_file_follow_redirects),
    };

    return cmocka_run_group_tests_name("config_errors", tests, setup, NULL);
}
