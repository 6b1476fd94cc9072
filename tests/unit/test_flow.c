/* test_flow.c — the connection, exchange and tunnel state machines on the
 * real event loop (flow_test_util.h): tunnel half-close, failover,
 * redirect following, resume, digest reset, pool reuse, reload during a
 * transfer, and the bytes an origin sends after a bodiless answer. */
#include "flow_test_util.h"

#define BLOB_LEN 100000u

static char *blob;
static char blob_hex[65];

/* Sends a blob request on client end cl (intercepted session). */
static void get_blob(int cl)
{
    flow_sendf(cl, "GET /v2/lib/x/blobs/sha256:%s HTTP/1.1\r\nHost: registry.test\r\n"
               "Authorization: Bearer t0ken\r\n\r\n", blob_hex);
}

/* Reads a whole 200 response with the blob as its body from cl. */
static void expect_blob(int cl)
{
    struct flow_sink s;
    size_t head;

    flow_sink_answer(&s, cl, BLOB_LEN);
    head = flow_head_len(s.buf);
    if (!head || s.len - head != BLOB_LEN) {
        size_t have = s.len;

        free(s.buf);
        fail_msg("client got %zu bytes, not one whole blob answer", have);
    }
    assert_true(strncmp(s.buf, "HTTP/1.1 200 ", 13) == 0);
    assert_non_null(strstr(s.buf, "Content-Length: 100000\r\n"));
    assert_memory_equal(s.buf + head, blob, BLOB_LEN);
    free(s.buf);
}

/* The origin end o answers the blob whole; the client end cl must get it. */
static void serve_blob(int o, int cl)
{
    flow_sendf(o, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BLOB_LEN);
    flow_send(o, blob, BLOB_LEN);
    expect_blob(cl);
}

static int setup_blob(void **state)
{
    size_t i;

    blob = malloc(BLOB_LEN);
    assert_non_null(blob);
    for (i = 0; i < BLOB_LEN; i++)
        blob[i] = (char)(i * 7 + i / 251);
    flow_sha256(blob, BLOB_LEN, blob_hex);
    return flow_setup(state);
}

static int teardown_blob(void **state)
{
    free(blob);
    blob = NULL;
    return flow_teardown(state);
}

/* A tunnel passes bytes both ways and passes each side's end on (#10). */
static void test_tunnel_half_close(void **state)
{
    int cl = flow_client(0, NULL), o;
    char b[256];

    (void)state;
    flow_sendf(cl, "CONNECT site.test:8443 HTTP/1.1\r\nHost: site.test:8443\r\n\r\nping");
    o = flow_origin(0);
    assert_string_equal(W.opens[0].host, "site.test");
    assert_int_equal(W.opens[0].port, 8443);
    assert_int_equal(flow_read(cl, b, sizeof(b)) > 0, 1);
    assert_string_equal(b, "HTTP/1.1 200 Connection established\r\n\r\n");
    flow_read(o, b, sizeof(b));
    assert_string_equal(b, "ping");
    /* the client is done sending: the origin must see its end, and may
     * still answer */
    shutdown(cl, SHUT_WR);
    assert_int_equal(flow_read(o, b, sizeof(b)), 0);
    flow_send(o, "pong", 4);
    flow_read(cl, b, sizeof(b));
    assert_string_equal(b, "pong");
    shutdown(o, SHUT_WR);
    assert_int_equal(flow_read(cl, b, sizeof(b)), 0);
    /* both sides done: the connection is gone */
    assert_true(flow_run_until(flow_no_conns, NULL));
    close(cl);
}

/* The first link cannot connect: the request goes on over the next one. */
static void test_failover_on_connect(void **state)
{
    int cl = flow_client(1, "registry.test"), o;
    char req[4096];

    (void)state;
    W.fail_mask = 1u;
    get_blob(cl);
    o = flow_origin(1);
    assert_int_equal(W.opens[0].via, LINK_DIRECT);
    assert_int_equal(W.opens[1].via, LINK_SOCKS5);
    flow_origin_request(o, req, sizeof(req));
    assert_non_null(strstr(req, "Host: registry.test\r\n"));
    serve_blob(o, cl);
    close(cl);
}

/* A 429 from the first link: the same request on the next link, and the
 * 429 reaches nobody. */
static void test_failover_on_429(void **state)
{
    int cl = flow_client(1, "registry.test"), o;
    char req[4096];

    (void)state;
    get_blob(cl);
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nslow");
    o = flow_origin(1);
    flow_origin_request(o, req, sizeof(req));
    assert_int_equal(W.opens[1].via, LINK_SOCKS5);
    serve_blob(o, cl);
    close(cl);
}

/* A blob redirect is followed by hubgate: another host, the same link, no
 * Authorization; the client sees one 200, from the redirect target. */
static void test_redirect_followed(void **state)
{
    int cl = flow_client(1, "registry.test"), o;
    char req[4096];

    (void)state;
    get_blob(cl);
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    assert_non_null(strstr(req, "Authorization: Bearer t0ken\r\n"));
    /* with a forged answer after it, which must answer nothing (#15) */
    flow_sendf(o, "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://blobs.test/data/x?sig=1\r\n"
               "Content-Length: 5\r\n\r\nmoved"
               "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Forged: yes\r\n\r\nforged");
    o = flow_origin(1);
    assert_string_equal(W.opens[1].host, "blobs.test");
    assert_int_equal(W.opens[1].via, LINK_DIRECT);
    /* a configured host is trusted; a target a registry named is checked
     * like any destination, loopback refused whoever the client (#12) */
    assert_int_equal(W.opens[0].flags, 0);
    assert_int_equal(W.opens[1].flags, UP_F_CHECK_DEST);
    flow_origin_request(o, req, sizeof(req));
    assert_true(strncmp(req, "GET /data/x?sig=1 HTTP/1.1\r\nHost: blobs.test\r\n", 46) == 0);
    assert_null(strstr(req, "Authorization"));
    serve_blob(o, cl);
    close(cl);
}

/* Manifests are followed too, over several hops (#12): a relative
 * Location stays on the registry and keeps the client's Authorization; a
 * hop to another host goes without it. */
static void test_manifest_redirects_followed(void **state)
{
    int cl = flow_client(1, "registry.test"), o;
    struct flow_sink s;
    char req[4096];

    (void)state;
    flow_sendf(cl, "GET /v2/lib/x/manifests/1.0 HTTP/1.1\r\nHost: registry.test\r\n"
               "Accept: application/vnd.oci.image.index.v1+json\r\n"
               "Authorization: Bearer t0ken\r\n\r\n");
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 307 Temporary Redirect\r\nLocation: /v2/mirror/x/manifests/1.0\r\n"
               "Content-Length: 0\r\n\r\n");
    /* the same host again: the same (pooled) connection carries it */
    flow_origin_request(o, req, sizeof(req));
    assert_int_equal(W.nopens, 1);
    assert_true(strncmp(req, "GET /v2/mirror/x/manifests/1.0 HTTP/1.1\r\n", 41) == 0);
    assert_non_null(strstr(req, "Authorization: Bearer t0ken\r\n"));
    flow_sendf(o, "HTTP/1.1 302 Found\r\nLocation: https://blobs.test/m/1.0?sig=2\r\n"
               "Content-Length: 0\r\n\r\n");
    o = flow_origin(1);
    assert_string_equal(W.opens[1].host, "blobs.test");
    flow_origin_request(o, req, sizeof(req));
    assert_null(strstr(req, "Authorization"));
    assert_non_null(strstr(req, "Accept: application/vnd.oci.image.index.v1+json\r\n"));
    flow_sendf(o, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\n"
               "Content-Length: 2\r\n\r\n{}");
    flow_sink_answer(&s, cl, 2);
    assert_true(strncmp(s.buf, "HTTP/1.1 200 ", 13) == 0);
    assert_non_null(strstr(s.buf, "\r\n\r\n{}"));
    free(s.buf);
    close(cl);
}

/* A blob cut in the middle is resumed with Range; the client sees one
 * uninterrupted 200 with the right bytes. */
static void test_resume_after_cut(void **state)
{
    int cl = flow_client(1, "registry.test"), o;
    char req[4096], want[64];

    (void)state;
    get_blob(cl);
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BLOB_LEN);
    flow_send(o, blob, 40000);
    close(o);
    W.opens[0].origin = -1;
    o = flow_origin(1);
    flow_origin_request(o, req, sizeof(req));
    snprintf(want, sizeof(want), "Range: bytes=40000-\r\n");
    assert_non_null(strstr(req, want));
    flow_sendf(o, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 40000-%u/%u\r\n"
               "Content-Length: %u\r\n\r\n", BLOB_LEN - 1, BLOB_LEN, BLOB_LEN - 40000);
    flow_send(o, blob + 40000, BLOB_LEN - 40000);
    expect_blob(cl);
    close(cl);
}

/* A body that does not match its digest never reaches the client whole:
 * the connection is reset before its last byte. */
static void test_digest_mismatch_resets(void **state)
{
    int cl = flow_client(1, "registry.test"), o;
    struct flow_sink s;
    char req[4096];
    size_t head;

    (void)state;
    get_blob(cl);
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    blob[BLOB_LEN - 1] ^= 1;
    flow_sendf(o, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BLOB_LEN);
    flow_send(o, blob, BLOB_LEN);
    blob[BLOB_LEN - 1] ^= 1;
    flow_sink(&s, cl, 0);
    head = flow_head_len(s.buf);
    assert_true(head > 0);
    /* ended (a reset; over a socketpair it reads as an end) short */
    assert_true(s.eof);
    assert_true(s.len - head < BLOB_LEN);
    free(s.buf);
    close(cl);
}

/* Two requests on one client connection: the second reuses the pooled
 * upstream connection of the first. */
static void test_pool_reuse(void **state)
{
    int cl = flow_client(1, "registry.test"), o;
    struct flow_sink s;
    char req[4096];

    (void)state;
    flow_sendf(cl, "GET /v2/ HTTP/1.1\r\nHost: registry.test\r\n\r\n");
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    flow_sink_answer(&s, cl, 2);
    assert_true(strncmp(s.buf, "HTTP/1.1 200 ", 13) == 0);
    free(s.buf);
    flow_sendf(cl, "GET /v2/again HTTP/1.1\r\nHost: registry.test\r\n\r\n");
    flow_origin_request(o, req, sizeof(req));
    assert_true(strncmp(req, "GET /v2/again ", 14) == 0);
    assert_int_equal(W.nopens, 1);
    flow_sendf(o, "HTTP/1.1 204 No Content\r\n\r\n");
    flow_sink_answer(&s, cl, 0);
    assert_true(strncmp(s.buf, "HTTP/1.1 204 ", 13) == 0);
    free(s.buf);
    close(cl);
}

/* Bytes an origin sends after a bodiless answer are nobody's: the next
 * request gets its own answer (#15). */
static void test_bytes_after_head_answer_dropped(void **state)
{
    int cl = flow_client(1, "registry.test"), o;
    struct flow_sink s;
    char req[4096];

    (void)state;
    flow_sendf(cl, "HEAD /v2/ HTTP/1.1\r\nHost: registry.test\r\n\r\n");
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
               "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Forged: yes\r\n\r\nforged\n");
    flow_sink_answer(&s, cl, 0);
    assert_null(strstr(s.buf, "X-Forged"));
    free(s.buf);
    flow_sendf(cl, "GET /v2/real HTTP/1.1\r\nHost: registry.test\r\n\r\n");
    o = flow_origin(1);  /* not the connection that spoke out of turn */
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nreal\n");
    flow_sink_answer(&s, cl, 5);
    assert_null(strstr(s.buf, "X-Forged"));
    assert_non_null(strstr(s.buf, "\r\n\r\nreal\n"));
    free(s.buf);
    close(cl);
}

/* The token request a client sends without credentials gets hubgate's
 * account for that registry, at its own token service only; a client's
 * own credentials, other paths and other registries get none (#12). */
static void test_registry_credentials(void **state)
{
    static const char ghcr[] = "b3duZXI6Z2hwX3NlY3JldA==";   /* owner:ghp_secret */
    char path[128], extra[256], req[4096];
    struct gen *old = W.px.gen;
    static const char *const reqs[] = {
        "GET /token?scope=repository:o/app:pull&service=ghcr.io HTTP/1.1\r\nHost: ghcr.io\r\n\r\n",
        "GET /token?service=ghcr.io HTTP/1.1\r\nHost: ghcr.io\r\nAuthorization: Basic bWU6bWluZQ==\r\n\r\n",
        "GET /v2/o/app/manifests/1 HTTP/1.1\r\nHost: ghcr.io\r\n\r\n",
        "GET /tokens/x HTTP/1.1\r\nHost: ghcr.io\r\n\r\n",
    };
    struct flow_sink s;
    FILE *f;
    int cl, o, i;

    (void)state;
    snprintf(path, sizeof(path), "%s/auth.json", W.dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"auths\": {\"https://ghcr.io\": {\"auth\": \"%s\"},\n"
               "  \"quay.io\": {\"username\": \"robot\", \"password\": \"quaysecret\"},\n"
               "  \"harbor.example.com\": {\"auth\": \"eDp5\"}}}\n", ghcr);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    snprintf(extra, sizeof(extra), "[upstream]\ncredentials = %s\n", path);
    W.px.gen = flow_gen(extra, old);
    W.px.cfg = &W.px.gen->cfg;
    gen_unref(old);
    cl = flow_client(1, "ghcr.io");
    for (i = 0; i < 4; i++) {
        flow_sendf(cl, "%s", reqs[i]);
        o = flow_origin(0);
        flow_origin_request(o, req, sizeof(req));
        if (i == 0)
            assert_non_null(strstr(req, "Authorization: Basic b3duZXI6Z2hwX3NlY3JldA==\r\n"));
        else if (i == 1)
            assert_non_null(strstr(req, "Authorization: Basic bWU6bWluZQ==\r\n"));
        else
            assert_null(strstr(req, "Authorization"));
        assert_null(strstr(req, "cm9ib3Q6cXVheXNlY3JldA==")); /* quay.io's, never here */
        flow_sendf(o, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        flow_sink_answer(&s, cl, 2);
        free(s.buf);
    }
    assert_string_equal(gen_registry_auth(W.px.gen, "quay.io"), "cm9ib3Q6cXVheXNlY3JldA==");
    assert_null(gen_registry_auth(W.px.gen, "docker.io"));
    close(cl);
}

/* A reload while a body streams: the transfer finishes under the old
 * generation, which goes when its last connection does; new connections
 * get the new one. */
static void test_reload_during_transfer(void **state)
{
    int cl = flow_client(1, "registry.test"), o;
    struct gen *old = W.px.gen;
    struct conn *c = W.px.conns;
    char req[4096];

    (void)state;
    get_blob(cl);
    o = flow_origin(0);
    flow_origin_request(o, req, sizeof(req));
    flow_sendf(o, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BLOB_LEN);
    flow_send(o, blob, 30000);
    W.px.gen = flow_gen("[proxy]\nidle_timeout = 7s\n", old);
    W.px.cfg = &W.px.gen->cfg;
    gen_unref(old);
    assert_ptr_equal(c->gen, old);  /* the connection still holds it */
    flow_send(o, blob + 30000, BLOB_LEN - 30000);
    expect_blob(cl);
    close(cl);
    assert_true(flow_run_until(flow_no_conns, NULL));
    cl = flow_client(1, "registry.test");
    assert_ptr_equal(W.px.conns->gen, W.px.gen);
    assert_int_equal(W.px.conns->gen->cfg.idle_timeout_ms, 7000);
    close(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tunnel_half_close, setup_blob, teardown_blob),
        cmocka_unit_test_setup_teardown(test_failover_on_connect, setup_blob, teardown_blob),
        cmocka_unit_test_setup_teardown(test_failover_on_429, setup_blob, teardown_blob),
        cmocka_unit_test_setup_teardown(test_redirect_followed, setup_blob, teardown_blob),
        cmocka_unit_test_setup_teardown(test_manifest_redirects_followed, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_resume_after_cut, setup_blob, teardown_blob),
        cmocka_unit_test_setup_teardown(test_digest_mismatch_resets, setup_blob, teardown_blob),
        cmocka_unit_test_setup_teardown(test_pool_reuse, setup_blob, teardown_blob),
        cmocka_unit_test_setup_teardown(test_bytes_after_head_answer_dropped, setup_blob,
                                        teardown_blob),
        cmocka_unit_test_setup_teardown(test_reload_during_transfer, setup_blob, teardown_blob),
        cmocka_unit_test_setup_teardown(test_registry_credentials, setup_blob, teardown_blob),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
