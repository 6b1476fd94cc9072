/* test_admin.c — the status page (admin_page.c): every outside value is
 * HTML-escaped, link credentials never appear, recent requests newest
 * first, no external asset. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/admin_int.h"
#include "proxy/core/config.h"
#include "base/metrics.h"
#include "proxy/core/proxy.h"

static const char ini[] =
    "[ca]\ndir = /var/lib/<hub>&\"gate\"\n"
    "[upstream]\nvia = socks5://user:s3cr3t@127.0.0.1:1080, http://u:pw%40x@10.0.0.1:3128, direct\n";

struct fixture {
    struct config cfg;
    struct proxy px;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[512];

    assert_non_null(f);
    if (config_load_string(&f->cfg, "t.ini", ini, strlen(ini), err, sizeof(err)) != 0)
        fail_msg("config: %s", err);
    f->px.cfg = &f->cfg;
    f->px.recent = metrics_recent_new();
    assert_non_null(f->px.recent);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    metrics_recent_free(f->px.recent);
    config_free(&f->cfg);
    free(f);
    return 0;
}

static char *page(struct fixture *f, const char *listen)
{
    char *out = NULL;
    size_t len = 0;

    assert_int_equal(admin_page(&f->px, listen, time(NULL) - 3725, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_page_basics(void **state)
{
    struct fixture *f = *state;
    char *p = page(f, "127.0.0.1:3129");

    assert_int_equal(strncmp(p, "<!DOCTYPE html>", 15), 0);
    assert_non_null(strstr(p, "<h1>hubgate <span class=\"muted\">" HUBGATE_VERSION));
    assert_non_null(strstr(p, "0d 1h 2m 5s"));
    assert_non_null(strstr(p, "127.0.0.1:3128"));
    assert_non_null(strstr(p, "127.0.0.1:3129"));
    assert_non_null(strstr(p, "none yet"));
    assert_non_null(strstr(p, "</body></html>\n"));
    /* Self-contained: no script, no external reference. */
    assert_null(strstr(p, "<script"));
    assert_null(strstr(p, "src="));
    assert_null(strstr(p, "href=\"http"));
    assert_null(strstr(p, "href=\"//"));
    free(p);
}

static void test_page_redacts_links(void **state)
{
    struct fixture *f = *state;
    char *p = page(f, "127.0.0.1:3129");

    assert_null(strstr(p, "s3cr3t"));
    assert_null(strstr(p, "pw%40x"));
    assert_null(strstr(p, "user:"));
    assert_non_null(strstr(p, "127.0.0.1:1080"));
    assert_non_null(strstr(p, "10.0.0.1:3128"));
    assert_non_null(strstr(p, "<td class=\"mono\">direct</td>"));
    free(p);
}

static void test_page_escapes(void **state)
{
    struct fixture *f = *state;
    char *p;

    metrics_recent_add(f->px.recent, "GET registry-1.docker.io /v2/<script>alert('x')</script> 404");
    metrics_recent_add(f->px.recent, "GET auth.docker.io /token?a=1&b=\"2\" 200");
    p = page(f, "<admin>");
    assert_null(strstr(p, "<script>"));
    assert_null(strstr(p, "<admin>"));
    assert_null(strstr(p, "<hub>"));
    assert_non_null(strstr(p, "&lt;admin&gt;"));
    assert_non_null(strstr(p, "/var/lib/&lt;hub&gt;&amp;&quot;gate&quot;"));
    assert_non_null(strstr(p, "/v2/&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; 404"));
    assert_non_null(strstr(p, "/token?a=1&amp;b=&quot;2&quot; 200"));
    /* Newest first. */
    assert_true(strstr(p, "auth.docker.io /token") < strstr(p, "registry-1.docker.io /v2/"));
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_page_basics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_redacts_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_escapes, setup, teardown),
    };

    return cmocka_run_group_tests_name("admin", tests, NULL, NULL);
}
