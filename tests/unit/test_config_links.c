/* test_config_links.c — [upstream] via, [passthrough] via and [relay]:
 * the links accepted, and every intercepted host needing a link that can
 * carry it. */
#include "config_test_util.h"

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
    load_ok(&c, "[relay]\nauth.docker.io = https://mirror.example.com\n"
            "registry-1.docker.io = https://mirror.example.com\n[upstream]\nvia = relay\n");
    config_free(&c);
}

/* A relay:https://HOST link relays Docker Hub only, a relay map the hosts
 * of [relay]: a registry no link can carry is refused, not sent to
 * Docker Hub's relay under the same path. */
static void test_via_every_host_has_a_link(void **state)
{
    struct config c;

    (void)state;
    refuse("[intercept]\nregistries = ghcr.io\n[upstream]\nvia = relay:https://hub.example.com\n",
           "t.ini:4: [upstream] via: no link can carry ghcr.io: a relay:https://HOST link relays "
           "Docker Hub only and a relay map only the hosts of [relay]; add \"ghcr.io = "
           "https://YOUR-RELAY\" under [relay] with via = relay, or a socks5://, http:// or "
           "direct link to via", 0);
    refuse("[upstream]\nvia = relay\n[relay]\nregistry-1.docker.io = https://m.example.com\n",
           "t.ini:2: [upstream] via: no link can carry auth.docker.io: a relay:https://HOST link "
           "relays Docker Hub only and a relay map only the hosts of [relay]; add "
           "\"auth.docker.io = https://YOUR-RELAY\" under [relay] with via = relay, or a "
           "socks5://, http:// or direct link to via", 0);
    /* Docker Hub alone (its CDN host included) over its relay */
    load_ok(&c, "[upstream]\nvia = relay:https://hub.example.com\n");
    config_free(&c);
    /* another link carries ghcr.io; a relay map for it */
    load_ok(&c, "[intercept]\nregistries = docker.io ghcr.io\n[upstream]\n"
            "via = relay:https://hub.example.com, socks5://127.0.0.1:1080\n");
    config_free(&c);
    load_ok(&c, "[intercept]\nhosts =\nregistries = ghcr.io\n[upstream]\nvia = relay, "
            "relay:https://hub.example.com\n[relay]\nghcr.io = https://ghcr.example.com\n");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_via_commas_and_trim),
        cmocka_unit_test(test_via_links),
        cmocka_unit_test(test_via_relay_needs_section),
        cmocka_unit_test(test_via_every_host_has_a_link),
        cmocka_unit_test(test_passthrough_via),
        cmocka_unit_test(test_relay_section),
    };

    return cmocka_run_group_tests_name("config links", tests, setup, NULL);
}
