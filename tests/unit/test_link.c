/* test_link.c — parsing via entries into struct link (proxy/core/link.c):
 * every form, credentials and their decoding, names without them, and
 * the errors with the accepted forms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proxy/core/link.h"
#include "proxy/core/links.h"

#define FORMS "accepted forms: direct, socks5://[user:pass@]host:port, " \
              "http://[user:pass@]host:port"
#define FORMS_RELAY FORMS ", relay:https://HOST[:PORT] [via LINK], relay"

/* Parses an entry that must be accepted; the caller frees the link. */
static struct link *ok(const char *entry, int allow_relay)
{
    struct link *l = (struct link *)0x1;
    char err[512];

    if (link_parse(entry, allow_relay, &l, err, sizeof(err)) != 0)
        fail_msg("\"%s\" refused: %s", entry, err);
    assert_non_null(l);
    assert_non_null(l->name);
    return l;
}

/* An entry that must be refused with a message starting with why and
 * ending with the accepted forms. */
static void bad(const char *entry, int allow_relay, const char *why)
{
    struct link *l = (struct link *)0x1;
    char err[512], want[512];

    snprintf(want, sizeof(want), "%s; %s", why, allow_relay ? FORMS_RELAY : FORMS);
    if (link_parse(entry, allow_relay, &l, err, sizeof(err)) != -1)
        fail_msg("\"%s\" accepted", entry);
    assert_null(l);
    assert_string_equal(err, want);
}

static void test_direct(void **state)
{
    struct link *l;

    (void)state;
    l = ok("direct", 0);
    assert_int_equal(l->kind, LINK_DIRECT);
    assert_string_equal(l->name, "direct");
    assert_null(l->host);
    assert_null(l->user);
    assert_null(l->via);
    link_free(l);
    l = ok("  \tDIRECT  ", 1);
    assert_int_equal(l->kind, LINK_DIRECT);
    assert_string_equal(l->name, "direct");
    link_free(l);
}

static void test_socks5(void **state)
{
    struct link *l;

    (void)state;
    l = ok("socks5://127.0.0.1:1080", 0);
    assert_int_equal(l->kind, LINK_SOCKS5);
    assert_string_equal(l->name, "socks5://127.0.0.1:1080");
    assert_string_equal(l->host, "127.0.0.1");
    assert_int_equal(l->port, 1080);
    assert_null(l->user);
    assert_null(l->pass);
    link_free(l);
    l = ok("SOCKS5://Proxy.Example:65535/", 1);
    assert_string_equal(l->name, "socks5://Proxy.Example:65535");
    assert_int_equal(l->port, 65535);
    link_free(l);
    l = ok("socks5://[::1]:1", 0);
    assert_string_equal(l->host, "::1");
    assert_string_equal(l->name, "socks5://[::1]:1");
    link_free(l);
}

static void test_socks5_credentials(void **state)
{
    struct link *l;

    (void)state;
    l = ok("socks5://alice:s3cret@10.0.0.1:1080", 0);
    assert_string_equal(l->user, "alice");
    assert_string_equal(l->pass, "s3cret");
    assert_string_equal(l->name, "socks5://10.0.0.1:1080");
    link_free(l);
    /* No password: an empty one. */
    l = ok("socks5://bob@10.0.0.1:1080", 0);
    assert_string_equal(l->user, "bob");
    assert_string_equal(l->pass, "");
    link_free(l);
    /* The last '@' ends the user info; ':' in the password is kept. */
    l = ok("socks5://u:p@ss:w@rd@h:1", 0);
    assert_string_equal(l->user, "u");
    assert_string_equal(l->pass, "p@ss:w@rd");
    assert_string_equal(l->host, "h");
    assert_string_equal(l->name, "socks5://h:1");
    link_free(l);
}

static void test_percent_decoding(void **state)
{
    struct link *l;

    (void)state;
    l = ok("http://us%65r:p%40ss%2f%25%20x%3a@proxy:3128", 0);
    assert_int_equal(l->kind, LINK_HTTP);
    assert_string_equal(l->user, "user");
    assert_string_equal(l->pass, "p@ss/% x:");
    link_free(l);
    bad("http://us%65r%3Aname:pw@proxy:3128", 0, "has a ':' in the user name, which HTTP "
        "Basic cannot carry");
    l = ok("socks5://us%65r%3Aname:%c3%A9@proxy:3128", 0);
    assert_string_equal(l->user, "user:name");
    assert_string_equal(l->pass, "\xc3\xa9");
    link_free(l);
    bad("socks5://u:p%4@h:1", 0, "bad percent escape in user or password (write %XX with two "
        "hex digits, %25 for '%')");
    bad("socks5://u:p%@h:1", 0, "bad percent escape in user or password (write %XX with two "
        "hex digits, %25 for '%')");
    bad("socks5://u%zz:p@h:1", 0, "bad percent escape in user or password (write %XX with two "
        "hex digits, %25 for '%')");
    bad("socks5://u:%00@h:1", 0, "user or password holds %00");
}

static void test_credential_lengths(void **state)
{
    char entry[1024], user[300];
    struct link *l;

    (void)state;
    memset(user, 'u', 255);
    user[255] = '\0';
    snprintf(entry, sizeof(entry), "socks5://%s:%s@h:1", user, user);
    l = ok(entry, 0);
    assert_int_equal(strlen(l->user), 255);
    link_free(l);
    /* 256 once decoded: %41 is one byte. */
    snprintf(entry, sizeof(entry), "socks5://%s%%41:p@h:1", user);
    bad(entry, 0, "user or password longer than 255 bytes");
    bad("socks5://:p@h:1", 0, "has an empty user name before '@'");
    bad("socks5://@h:1", 0, "has an empty user name before '@'");
}

static void test_http(void **state)
{
    struct link *l;

    (void)state;
    l = ok("http://proxy.corp.example:3128", 1);
    assert_int_equal(l->kind, LINK_HTTP);
    assert_string_equal(l->name, "http://proxy.corp.example:3128");
    assert_string_equal(l->host, "proxy.corp.example");
    assert_int_equal(l->port, 3128);
    link_free(l);
    l = ok("http://Aladdin:open%20sesame@[2001:db8::1]:8080", 0);
    assert_string_equal(l->user, "Aladdin");
    assert_string_equal(l->pass, "open sesame");
    assert_string_equal(l->name, "http://[2001:db8::1]:8080");
    link_free(l);
}

static void test_bad_ports(void **state)
{
    static const char *const bad_port[] = {
        "socks5://h:0", "socks5://h:65536", "socks5://h:99999999", "socks5://h:80x",
        "socks5://h:-1", "http://h:", "socks5://[::1]:0", "socks5://u:p@h:0",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_port) / sizeof(bad_port[0]); i++)
        bad(bad_port[i], 0, "has a bad port; give a number from 1 to 65535");
}

static void test_missing_port(void **state)
{
    (void)state;
    bad("socks5://127.0.0.1", 0, "has no port; give host:port (example: "
        "socks5://127.0.0.1:1080)");
    bad("http://u:p@proxy/", 1, "has no port; give host:port (example: "
        "socks5://127.0.0.1:1080)");
    bad("socks5://[::1]", 0, "has no port; give host:port (example: socks5://127.0.0.1:1080)");
}

static void test_bad_hosts(void **state)
{
    (void)state;
    bad("socks5://:1080", 0, "has no host");
    bad("socks5://", 0, "has no host");
    bad("socks5://u:p@:1", 0, "has no host");
    bad("socks5://[]:1", 0, "has no host");
    bad("socks5://[::1:1080", 0, "has a bad host");
    bad("socks5://ho*st:1", 0, "has a bad host (letters, digits, '.', '-', '_', or an IPv6 "
        "address in [])");
    bad("socks5://[not:v6]:1", 0, "has a bad host (letters, digits, '.', '-', '_', or an IPv6 "
        "address in [])");
    bad("socks5://h st:1", 0, "holds a blank or control character (percent-encode it, e.g. "
        "%20)");
    bad("socks5://h\x01:1", 0, "holds a blank or control character (percent-encode it, e.g. "
        "%20)");
    bad("socks5://h:1/path", 0, "has a path; give only scheme://host:port");
    bad("http://h:1?x", 0, "has a path; give only scheme://host:port");
}

static void test_unknown_scheme(void **state)
{
    (void)state;
    bad("socks4://h:1080", 0, "has an unknown scheme (socks5:// or http://)");
    bad("ftp://h:21", 1, "has an unknown scheme (socks5:// or http://)");
    bad("https://proxy:443", 0, "is an https:// URL; for a relay mirror write "
        "relay:https://HOST");
    bad("socks5h://h:1", 0, "has an unknown scheme (socks5:// or http://)");
    bad("://h:1", 0, "is not a link hubgate knows");
    bad("proxy.example:3128", 0, "is not a link hubgate knows");
    bad("direct direct", 1, "is not a link hubgate knows");
    bad("", 0, "is empty");
    bad("   ", 1, "is empty");
}

static void test_relay(void **state)
{
    struct link *l;

    (void)state;
    l = ok("relay:https://hub.example.com", 1);
    assert_int_equal(l->kind, LINK_RELAY);
    assert_string_equal(l->name, "relay:https://hub.example.com");
    assert_string_equal(l->host, "hub.example.com");
    assert_int_equal(l->port, 443);
    assert_null(l->via);
    assert_null(l->user);
    link_free(l);
    l = ok("relay:HTTPS://hub.example.com:8443/", 1);
    assert_string_equal(l->name, "relay:https://hub.example.com:8443");
    assert_int_equal(l->port, 8443);
    link_free(l);
    l = ok("relay:https://[2001:db8::7]", 1);
    assert_string_equal(l->host, "2001:db8::7");
    assert_string_equal(l->name, "relay:https://[2001:db8::7]");
    link_free(l);
}

static void test_relay_map(void **state)
{
    struct link *l;

    (void)state;
    l = ok(" relay ", 1);
    assert_int_equal(l->kind, LINK_RELAY_MAP);
    assert_string_equal(l->name, "relay");
    assert_null(l->host);
    link_free(l);
}

static void test_relay_via(void **state)
{
    struct link *l;

    (void)state;
    l = ok("relay:https://hub.example.com via socks5://127.0.0.1:1080", 1);
    assert_int_equal(l->kind, LINK_RELAY);
    assert_string_equal(l->name, "relay:https://hub.example.com via socks5://127.0.0.1:1080");
    assert_non_null(l->via);
    assert_int_equal(l->via->kind, LINK_SOCKS5);
    assert_int_equal(l->via->port, 1080);
    link_free(l);
    l = ok("relay:https://hub.example.com:444\t VIA  http://u:p%3A@proxy:3128 ", 1);
    assert_string_equal(l->name, "relay:https://hub.example.com:444 via http://proxy:3128");
    assert_string_equal(l->via->user, "u");
    assert_string_equal(l->via->pass, "p:");
    assert_null(l->user);
    link_free(l);
    /* via direct: the same as no via. */
    l = ok("relay:https://hub.example.com via direct", 1);
    assert_null(l->via);
    assert_string_equal(l->name, "relay:https://hub.example.com via direct");
    link_free(l);
}

static void test_relay_bad(void **state)
{
    (void)state;
    bad("relay:https://hub.example.com/v2/", 1, "has a path; give only scheme://host:port");
    bad("relay:https://hub.example.com?x=1", 1, "has a path; give only scheme://host:port");
    bad("relay:http://hub.example.com", 1, "needs an https:// URL after relay: (example: "
        "relay:https://hub.example.com)");
    bad("relay:", 1, "needs an https:// URL after relay: (example: "
        "relay:https://hub.example.com)");
    bad("relay:hub.example.com", 1, "needs an https:// URL after relay: (example: "
        "relay:https://hub.example.com)");
    bad("relay:https://u:p@hub.example.com", 1, "has a user or password; a relay URL takes "
        "none");
    bad("relay:https://hub.example.com:0", 1, "has a bad port; give a number from 1 to 65535");
    bad("relay:https://", 1, "has no host");
    bad("relay:https://hub.example.com socks5://h:1", 1, "has text after the URL; write "
        "relay:https://HOST via LINK");
    bad("relay:https://hub.example.com via", 1, "has text after the URL; write "
        "relay:https://HOST via LINK");
    bad("relay:https://a.example via relay:https://b.example", 1, "is reached through "
        "another relay; after via give direct, socks5:// or http://");
    bad("relay:https://a.example via relay", 1, "is reached through another relay; after "
        "via give direct, socks5:// or http://");
    bad("relay:https://a.example via socks5://h", 1, "after via: has no port; give host:port "
        "(example: socks5://127.0.0.1:1080)");
    bad("relay:https://a.example via socks5://h:1 x", 1, "after via: holds a blank or control "
        "character (percent-encode it, e.g. %20)");
}

static void test_allow_relay_0(void **state)
{
    (void)state;
    bad("relay", 0, "is a relay, which is not allowed here");
    bad("relay:https://hub.example.com", 0, "is a relay, which is not allowed here");
    bad("RELAY:https://hub.example.com via direct", 0, "is a relay, which is not allowed here");
}

/* No credential may reach a name, whatever the form. */
static void test_names_without_credentials(void **state)
{
    static const char *const entries[] = {
        "socks5://SeCrEtUsEr:SeCrEtPaSs@h:1",
        "http://SeCrEtUsEr:SeCrEtPaSs@h:1",
        "http://SeCrEtUsEr@h:1",
        "relay:https://r.example via socks5://SeCrEtUsEr:SeCrEtPaSs@h:1",
        "relay:https://r.example via http://SeCrEtUsEr:SeCrEtPaSs@[::1]:1",
    };
    struct link *l;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        l = ok(entries[i], 1);
        assert_null(strstr(l->name, "SeCrEt"));
        assert_null(strchr(l->name, '@'));
        link_free(l);
    }
}

static void test_errors_never_show_entry(void **state)
{
    struct link *l;
    char err[512];

    (void)state;
    assert_int_equal(link_parse("socks5://user:SeCrEt@h:99999", 0, &l, err, sizeof(err)), -1);
    assert_null(strstr(err, "SeCrEt"));
    /* A small or absent buffer is fine. */
    assert_int_equal(link_parse("nonsense", 1, &l, err, 8), -1);
    assert_string_equal(err, "is not ");
    assert_int_equal(link_parse("nonsense", 1, &l, NULL, 0), -1);
}

static void test_redact(void **state)
{
    char out[128];

    (void)state;
    link_redact("socks5://alice:pw@h:1", out, sizeof(out));
    assert_string_equal(out, "socks5://***@h:1");
    link_redact("relay:https://r via http://a:b@c@h:1/x", out, sizeof(out));
    assert_string_equal(out, "relay:https://r via http://***@h:1/x");
    link_redact("direct", out, sizeof(out));
    assert_string_equal(out, "direct");
    /* a password may hold '/': everything up to the last '@' goes */
    link_redact("socks5://u:Pa/SECRET7@h:1", out, sizeof(out));
    assert_string_equal(out, "socks5://***@h:1");
    link_redact("https//u:SECRET5@relay.example", out, sizeof(out));
    assert_string_equal(out, "https//***@relay.example");
    link_redact("socks5://alice:pw@h:1", out, 12);
    assert_string_equal(out, "socks5://**");
    link_free(NULL);
}

/* links_have_relay: only relay kinds count (their TLS ends at a third
 * party, so gen.c hashes blobs under verify_digest = auto). */
static int have_relay(const char *a, const char *b)
{
    char *v[2] = {(char *)a, (char *)b}, err[512];
    struct str_list vias = {v, b ? 2 : 1};
    struct links l = {0};
    int r;

    if (links_init(&l, &vias, 1, err, sizeof(err)) != 0)
        fail_msg("links_init: %s", err);
    r = links_have_relay(&l);
    links_free(&l);
    return r;
}

static void test_links_have_relay(void **state)
{
    (void)state;
    assert_int_equal(have_relay("direct", NULL), 0);
    assert_int_equal(have_relay("socks5://127.0.0.1:1080", "http://u:p@10.0.0.1:3128"), 0);
    assert_int_equal(have_relay("direct", "relay:https://hub.example.com"), 1);
    assert_int_equal(have_relay("relay:https://hub.example.com via socks5://127.0.0.1:1080",
                                NULL), 1);
    assert_int_equal(have_relay("socks5://127.0.0.1:1080", "relay"), 1);
}

/* links_unable: which links of "a, b, c" cannot carry host, with [relay]
 * mapping the names in mapped (space-separated, or NULL). */
static unsigned unable(const char *via, const char *mapped, const char *host)
{
    char buf[256], mbuf[256], *v[4], *m[4], *save = NULL, *t, err[512];
    struct str_list vias = {v, 0}, maps = {m, 0};
    struct config cfg;
    struct links l = {0};
    unsigned r;

    memset(&cfg, 0, sizeof(cfg));
    snprintf(buf, sizeof(buf), "%s", via);
    for (t = strtok_r(buf, ",", &save); t && vias.n < 4; t = strtok_r(NULL, ",", &save))
        v[vias.n++] = t + (t[0] == ' ');
    snprintf(mbuf, sizeof(mbuf), "%s", mapped ? mapped : "");
    for (t = strtok_r(mbuf, " ", &save); t && maps.n < 4; t = strtok_r(NULL, " ", &save))
        m[maps.n++] = t;
    cfg.relay_hosts = maps;
    if (links_init(&l, &vias, 1, err, sizeof(err)) != 0)
        fail_msg("links_init: %s", err);
    r = links_unable(&l, &cfg, host);
    links_free(&l);
    return r;
}

/* A relay:https://HOST link carries Docker Hub's hosts only (else another
 * registry's request would fetch Docker Hub's image of the same name); a
 * relay map only its [relay] hosts; every other link carries anything. */
static void test_links_unable(void **state)
{
    const char *three = "relay:https://hub.example.com, socks5://127.0.0.1:1080, relay";

    (void)state;
    assert_int_equal(unable(three, "ghcr.io", "registry-1.docker.io"), 4);
    assert_int_equal(unable(three, "ghcr.io", "auth.docker.io"), 4);
    assert_int_equal(unable(three, "ghcr.io", "PRODUCTION.cloudflare.docker.com"), 4);
    assert_int_equal(unable(three, "ghcr.io", "ghcr.io"), 1);
    assert_int_equal(unable(three, "ghcr.io", "quay.io"), 5);
    assert_int_equal(unable(three, NULL, "registry-1.docker.io"), 4);
    assert_int_equal(unable("direct, http://10.0.0.1:3128", NULL, "quay.io"), 0);
    assert_int_equal(unable("relay:https://hub.example.com via socks5://127.0.0.1:1", NULL,
                            "docker.io.evil.example"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_direct),
        cmocka_unit_test(test_links_have_relay),
        cmocka_unit_test(test_links_unable),
        cmocka_unit_test(test_socks5),
        cmocka_unit_test(test_socks5_credentials),
        cmocka_unit_test(test_percent_decoding),
        cmocka_unit_test(test_credential_lengths),
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_bad_ports),
        cmocka_unit_test(test_missing_port),
        cmocka_unit_test(test_bad_hosts),
        cmocka_unit_test(test_unknown_scheme),
        cmocka_unit_test(test_relay),
        cmocka_unit_test(test_relay_map),
        cmocka_unit_test(test_relay_via),
        cmocka_unit_test(test_relay_bad),
        cmocka_unit_test(test_allow_relay_0),
        cmocka_unit_test(test_names_without_credentials),
        cmocka_unit_test(test_errors_never_show_entry),
        cmocka_unit_test(test_redact),
    };

    return cmocka_run_group_tests_name("link", tests, NULL, NULL);
}
