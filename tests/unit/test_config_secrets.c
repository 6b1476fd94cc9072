/* test_config_secrets.c — config keys that name files of secrets
 * (hub_credentials, credentials, users, users_file): read at load, modes
 * checked, never quoted in messages. */
#include "config_test_util.h"

/* ---- files of secrets -------------------------------------------------- */

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

/* [upstream] credentials: a docker config.json; entries for registries
 * known by name kept as base64 user:secret, others ignored; refusals name
 * the entry but never show a secret (#12). */
static void test_registry_credentials(void **state)
{
    char err[ERRLEN], path[64];
    struct config c;

    (void)state;
    assert_int_equal(load_secret(&c, "upstream", "credentials",
                                 "{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": "
                                 "\"dTpwYXQ=\"}, \"quay.io\": {\"username\": \"r\", "
                                 "\"password\": \"s3\"}, \"other.example\": {\"auth\": \"x\"}}}",
                                 0600, err, path), 0);
    assert_int_equal(c.cred_registries.n, 2);
    assert_string_equal(c.cred_registries.v[0], "docker.io");
    assert_string_equal(c.cred_auths.v[0], "dTpwYXQ=");
    assert_string_equal(c.cred_registries.v[1], "quay.io");
    assert_string_equal(c.cred_auths.v[1], "cjpzMw==");
    config_free(&c);
    assert_int_equal(load_secret(&c, "upstream", "credentials",
                                 "{\"auths\": {\"ghcr.io\": {\"identitytoken\": \"tok-SECRET\"}}}",
                                 0600, err, path), -1);
    assert_non_null(strstr(err, "identitytoken"));
    assert_null(strstr(err, "tok-SECRET"));
    assert_int_equal(load_secret(&c, "upstream", "credentials",
                                 "{\"auths\": {\"ghcr.io\": {\"auth\": \"bm9jb2xvbg==\"}}}",
                                 0600, err, path), -1);
    assert_non_null(strstr(err, "not base64 of user:secret"));
    assert_int_equal(load_secret(&c, "upstream", "credentials", "{\"auths\": {}}", 0644, err,
                                 path), -1);
    assert_non_null(strstr(err, "chmod 600"));
    assert_int_equal(load_secret(&c, "upstream", "credentials", "[password123", 0600, err,
                                 path), -1);
    assert_non_null(strstr(err, "docker config.json"));
    assert_null(strstr(err, "password123"));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hub_credentials),
        cmocka_unit_test(test_registry_credentials),
        cmocka_unit_test(test_users),
        cmocka_unit_test(test_users_file),
    };

    return cmocka_run_group_tests_name("config secrets", tests, setup, NULL);
}
