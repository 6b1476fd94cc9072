/* test_up_error.c — proxy/up/up_error: the kind of an upstream failure,
 * not its words, decides the client's status and the metric reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proxy/up/up_error.h"

static void test_status_by_kind(void **state)
{
    (void)state;
    assert_int_equal(up_error_http_status(UP_ERR_POLICY), 403);
    assert_int_equal(up_error_http_status(UP_ERR_DNS), 502);
    assert_int_equal(up_error_http_status(UP_ERR_CONNECT), 502);
    assert_int_equal(up_error_http_status(UP_ERR_TIMEOUT), 502);
    assert_int_equal(up_error_http_status(UP_ERR_TLS), 502);
    assert_int_equal(up_error_http_status(UP_ERR_STATUS), 502);
    assert_int_equal(up_error_http_status(UP_ERR_CLOSED), 502);
}

/* The words no longer decide: a refusal worded like a DNS failure is
 * still a refusal, and a DNS timeout counts as dns, not timeout. */
static void test_reason_by_kind(void **state)
{
    char out[100];
    struct up_error e = {UP_ERR_POLICY, "DNS: ", "lookup timed out", 0};

    (void)state;
    assert_string_equal(up_error_reason(e.kind), "policy");
    assert_int_equal(up_error_http_status(e.kind), 403);
    assert_string_equal(up_error_str(&e, out, sizeof(out)), "DNS: lookup timed out");
    assert_string_equal(up_error_reason(UP_ERR_DNS), "dns");
    assert_string_equal(up_error_reason(UP_ERR_TIMEOUT), "timeout");
    assert_string_equal(up_error_reason(UP_ERR_PROXY), "handshake");
    assert_string_equal(up_error_reason(UP_ERR_TLS), "tls");
    assert_string_equal(up_error_reason(UP_ERR_STATUS), "status");
    assert_string_equal(up_error_reason(UP_ERR_CONNECT), "connect");
    assert_string_equal(up_error_reason(UP_ERR_CLOSED), "other");
}

static void test_words(void **state)
{
    char out[100];
    struct up_error st = {UP_ERR_STATUS, NULL, NULL, 429};
    struct up_error c = {UP_ERR_CONNECT, "connect: ", "Connection refused", 0};
    struct up_error none = {UP_ERR_ROUTE, NULL, NULL, 0};

    (void)state;
    assert_string_equal(up_error_str(&st, out, sizeof(out)), "answered 429");
    assert_string_equal(up_error_str(&c, out, sizeof(out)), "connect: Connection refused");
    assert_string_equal(up_error_str(&none, out, sizeof(out)), "");
    assert_string_equal(up_error_str(&c, out, 8), "connect");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_by_kind),
        cmocka_unit_test(test_reason_by_kind),
        cmocka_unit_test(test_words),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
