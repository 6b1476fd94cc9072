/* test_config.c — config_defaults(), config_load(), config_load_string():
 * what is accepted: defaults, each key's values, lists, golden dumps.
 * Refusals, and the ranges of numbers, are in test_config_errors.c; the
 * helpers and the group setup (entering tests/unit/data/config/, or
 * $HUBGATE_TEST_DATA) in config_test_util.h. Golden dumps: *.golden,
 * rewritten by running with UPDATE_GOLDEN=1 (then review the diff). */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config_test_util.h"

/* ---- golden dumps ------------------------------------------------------ */

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
    append(out, outlen, "verify_digest_always = %d\n", c->verify_digest_always);
    dump_list(out, outlen, "via", &c->via);
    append(out, outlen, "ca_file = \"%s\"\nconnect_timeout_ms = %u\nread_timeout_ms = %u\n"
           "retry_after_cap_ms = %u\nfollow_redirects = %d\nhub_credentials = \"%s\"\n"
           "hub_user = \"%s\"\nhub_token = \"%s\"\n", c->ca_file, c->connect_timeout_ms,
           c->read_timeout_ms, c->retry_after_cap_ms, c->follow_redirects,
           nul(c->hub_credentials), nul(c->hub_user), nul(c->hub_token));
    append(out, outlen, "segments = %u\nsegment_min = %zu\nsegment_size = %zu\n"
           "segments_across_links = %d\n", c->segments, c->segment_min, c->segment_size,
           c->segments_across_links);
    dump_list(out, outlen, "passthrough_via", &c->passthrough_via);
    append(out, outlen, "admin_listen = \"%s\"\nlog_json = %d\n", nul(c->admin_listen),
           c->log_json);
    dump_list(out, outlen, "relay_hosts", &c->relay_hosts);
    dump_list(out, outlen, "relay_urls", &c->relay_urls);
    dump_list(out, outlen, "dns_servers", &c->dns_servers);
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
    assert_int_equal(c.segments, 4);
    assert_int_equal(c.segment_min, 16 * 1048576);
    assert_int_equal(c.segment_size, 8 * 1048576);
    assert_int_equal(c.segments_across_links, 0);
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

/* [cache]: no dir by default (no cache), sizes up to GiB; an empty dir
 * line turns a set one off. */
static void test_cache_keys(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[proxy]\nlisten = 127.0.0.1:3128\n");
    assert_null(c.cache_dir);
    assert_int_equal(c.cache_max_size, 10ULL << 30);
    config_free(&c);
    load_ok(&c, "[cache]\ndir = var/cache\nmax_size = 2GiB\n");
    assert_string_equal(c.cache_dir, "var/cache");
    assert_int_equal(c.cache_max_size, 2ULL << 30);
    config_free(&c);
    load_ok(&c, "[cache]\ndir = var/cache\ndir =\nmax_size = 512MiB\n");
    assert_null(c.cache_dir);
    assert_int_equal(c.cache_max_size, 512ULL << 20);
    config_free(&c);
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

/* [intercept] registries adds each registry's hosts to hosts (#12): with
 * hosts emptied, ghcr.io alone; with hosts at its default, the union. */
static void test_registries_add_hosts(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[intercept]\nhosts =\nregistries = GHCR.io\n");
    assert_int_equal(c.intercept_hosts.n, 1);
    assert_string_equal(c.intercept_hosts.v[0], "ghcr.io");
    assert_string_equal(c.intercept_registries.v[0], "ghcr.io");
    config_free(&c);
    load_ok(&c, "[intercept]\nregistries = quay.io docker.io registry.k8s.io quay.io\n");
    assert_int_equal(c.intercept_registries.n, 3);
    assert_int_equal(c.intercept_hosts.n, 5);
    assert_string_equal(c.intercept_hosts.v[0], "registry-1.docker.io");
    assert_string_equal(c.intercept_hosts.v[1], "auth.docker.io");
    assert_string_equal(c.intercept_hosts.v[2], "production.cloudflare.docker.com");
    assert_string_equal(c.intercept_hosts.v[3], "quay.io");
    assert_string_equal(c.intercept_hosts.v[4], "registry.k8s.io");
    config_free(&c);
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

static void test_segments(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "[upstream]\nsegments = 1\nsegment_min = 1MiB\nsegment_size = 1048576\n");
    assert_int_equal(c.segments, 1);
    assert_int_equal(c.segment_min, 1048576);
    assert_int_equal(c.segment_size, 1048576);
    assert_int_equal(c.segments_across_links, 0);
    config_free(&c);
    load_ok(&c, "[upstream]\nsegments = 16\nsegment_min = 65536MiB\nsegment_size = 256MiB\n"
            "segments_across_links = yes\n");
    assert_int_equal(c.segments, 16);
    assert_int_equal(c.segment_min, (size_t)65536 * 1048576);
    assert_int_equal(c.segment_size, (size_t)256 * 1048576);
    assert_int_equal(c.segments_across_links, 1);
    config_free(&c);
    /* A segment may be larger than the threshold: such a blob is one segment. */
    load_ok(&c, "[upstream]\nsegment_min = 2MiB\nsegment_size = 32MiB\n");
    assert_int_equal(c.segment_min, 2 * 1048576);
    assert_int_equal(c.segment_size, 32 * 1048576);
    config_free(&c);
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

/* ---- syntax ------------------------------------------------------------ */

static void test_crlf_bom_and_colon(void **state)
{
    struct config c;

    (void)state;
    load_ok(&c, "\xef\xbb\xbf[proxy]\r\nlisten = 127.0.0.2:80\r\n[ca]\r\ndir: /srv/ca\r\n");
    assert_string_equal(c.listen_host, "127.0.0.2");
    assert_string_equal(c.ca_dir, "/srv/ca");
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_cache_keys),
        cmocka_unit_test(test_empty_file_is_defaults),
        cmocka_unit_test(test_sample_config),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_listen_ipv6),
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_hosts_lowercased_and_once),
        cmocka_unit_test(test_registries_add_hosts),
        cmocka_unit_test(test_hosts_label_63),
        cmocka_unit_test(test_retry_after_cap),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_follow_redirects),
        cmocka_unit_test(test_deny_targets),
        cmocka_unit_test(test_connect_ports),
        cmocka_unit_test(test_dns_servers),
        cmocka_unit_test(test_list_separators),
        cmocka_unit_test(test_list_repeat_appends),
        cmocka_unit_test(test_list_continuation_line),
        cmocka_unit_test(test_scalar_repeat_last_wins),
        cmocka_unit_test(test_crlf_bom_and_colon),
    };

    return cmocka_run_group_tests_name("config", tests, setup, NULL);
}
