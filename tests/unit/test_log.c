/* test_log.c — log lines in text and JSON (base/log.c), and the JSON string
 * escaper (base/json.c). Lines are read back from a pipe (log_set_fd());
 * a small JSON reader below checks that each JSON line is exactly one
 * object of string and number members, and decodes the strings so that
 * the values can be compared with what was logged. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "base/log.h"

/* ---- capture ----------------------------------------------------------- */

static int cap[2] = {-1, -1};

static int setup(void **state)
{
    (void)state;
    assert_int_equal(pipe(cap), 0);
    assert_int_equal(fcntl(cap[0], F_SETFL, O_NONBLOCK), 0);
    log_set_fd(cap[1]);
    log_set_level(LOG_INFO);
    log_set_json(0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_set_fd(2);
    log_set_json(0);
    close(cap[0]);
    close(cap[1]);
    return 0;
}

/* What was logged since the last call (at most 64 KiB, the pipe's size). */
static char *drain(void)
{
    static char buf[65536 + 1];
    ssize_t n = read(cap[0], buf, sizeof(buf) - 1);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* ---- a strict reader of one JSON line ---------------------------------- */

#define JMAX 16

struct jobj {
    int n;
    char key[JMAX][32];
    char val[JMAX][4096];   /* a string decoded to UTF-8, or a number's text */
    int is_num[JMAX];
};

/* Appends code point cp to out as UTF-8. */
static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    out[0] = (char)(0xe0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

/* A JSON string at *p (past its opening quote) into out; NULL when it is
 * not valid JSON: a raw control byte, a bad escape, invalid UTF-8. */
static const char *j_string(const char *p, char *out, size_t outlen)
{
    size_t n = 0;

    for (;;) {
        unsigned char c = (unsigned char)*p;

        if (n + 8 >= outlen || c < 0x20)
            return NULL;
        if (c == '"') {
            out[n] = '\0';
            return p + 1;
        }
        if (c == '\\') {
            unsigned cp;

            switch (p[1]) {
            case '"': case '\\': case '/': out[n++] = p[1]; p += 2; continue;
            case 'n': out[n++] = '\n'; p += 2; continue;
            case 't': out[n++] = '\t'; p += 2; continue;
            case 'r': out[n++] = '\r'; p += 2; continue;
            case 'b': out[n++] = '\b'; p += 2; continue;
            case 'f': out[n++] = '\f'; p += 2; continue;
            case 'u':
                if (sscanf(p + 2, "%4x", &cp) != 1 || strspn(p + 2, "0123456789abcdefABCDEF") < 4)
                    return NULL;
                if (cp >= 0xd800 && cp <= 0xdfff)  /* the escaper never needs pairs */
                    return NULL;
                n += put_utf8(out + n, cp);
                p += 6;
                continue;
            default:
                return NULL;
            }
        }
        if (c < 0x80) {
            out[n++] = (char)c;
            p++;
            continue;
        }
        {
            /* raw UTF-8: checked against the same rules, independently */
            size_t k = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0, i;
            unsigned cp = c & (k == 2 ? 0x1f : k == 3 ? 0x0f : 0x07);

            if (k == 0 || c > 0xf4)
                return NULL;
            for (i = 1; i < k; i++) {
                if (((unsigned char)p[i] & 0xc0) != 0x80)
                    return NULL;
                cp = cp << 6 | ((unsigned char)p[i] & 0x3f);
            }
            if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
                (cp >= 0xd800 && cp <= 0xdfff))
                return NULL;
            memcpy(out + n, p, k);
            n += k;
            p += k;
        }
    }
}

/* Parses line (one object, then exactly "\n" and nothing else) into o;
 * fails the test, showing the line, when it is anything else. */
static void j_object(const char *line, size_t len, struct jobj *o)
{
    const char *p = line, *end = line + len;

    memset(o, 0, sizeof(*o));
    if (len == 0 || line[len - 1] != '\n' || *p++ != '{')
        fail_msg("not one JSON object on one line: [%.*s]", (int)len, line);
    while (*p != '}') {
        if (o->n && *p++ != ',')
            fail_msg("no comma: [%.*s]", (int)len, line);
        if (o->n >= JMAX || *p++ != '"' ||
            !(p = j_string(p, o->key[o->n], sizeof(o->key[0]))) || *p++ != ':')
            fail_msg("bad key: [%.*s]", (int)len, line);
        if (*p == '"') {
            p = j_string(p + 1, o->val[o->n], sizeof(o->val[0]));
            if (!p)
                fail_msg("bad string: [%.*s]", (int)len, line);
        } else {
            size_t k = strspn(p, "-0123456789");

            if (k == 0 || k >= sizeof(o->val[0]))
                fail_msg("bad value: [%.*s]", (int)len, line);
            memcpy(o->val[o->n], p, k);
            o->is_num[o->n] = 1;
            p += k;
        }
        o->n++;
    }
    if (p + 2 != end || p[1] != '\n')
        fail_msg("bytes after the object: [%.*s]", (int)len, line);
}

static const char *j_get(const struct jobj *o, const char *key)
{
    int i;

    for (i = 0; i < o->n; i++)
        if (strcmp(o->key[i], key) == 0)
            return o->val[i];
    fail_msg("no \"%s\" in the object", key);
    return NULL;
}

/* Checks the time member: RFC 3339, UTC, milliseconds. */
static void check_time(const char *t)
{
    int y, mo, d, h, mi, s, ms;
    char z = 0;

    assert_int_equal(strlen(t), 24);
    assert_int_equal(sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z),
                     8);
    assert_int_equal(z, 'Z');
}

/* Exactly one JSON line was logged; parsed into o. */
static void one_json_line(struct jobj *o)
{
    const char *all = drain(), *nl = strchr(all, '\n');

    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    j_object(all, (size_t)(nl - all) + 1, o);
    check_time(j_get(o, "time"));
}

/* ---- json_escape ------------------------------------------------------- */

static void test_escape_specials(void **state)
{
    char out[128];

    (void)state;
    json_escape(out, sizeof(out), "a\"b\\c/d");
    assert_string_equal(out, "a\\\"b\\\\c/d");
    json_escape(out, sizeof(out), "\x01\t\n\x1f\x7f.");
    assert_string_equal(out, "\\u0001\\u0009\\u000a\\u001f\\u007f.");
    assert_int_equal(json_escape_n(out, sizeof(out), "a\0b", 3), 8);
    assert_string_equal(out, "a\\u0000b");
    assert_int_equal(json_escape(out, sizeof(out), ""), 0);
    assert_string_equal(out, "");
}

static void test_escape_utf8(void **state)
{
    char out[128];

    (void)state;
    /* valid UTF-8 (2, 3 and 4 bytes) passes as is */
    json_escape(out, sizeof(out), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    assert_string_equal(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* every byte outside a valid sequence is one replacement character:
     * a stray continuation, 0xff, a cut sequence, an overlong '/', a
     * surrogate, a code point past U+10FFFF */
    json_escape(out, sizeof(out), "\x80|\xff|\xc3|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80");
    assert_string_equal(out, "\\ufffd|\\ufffd|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|"
                             "\\ufffd\\ufffd\\ufffd\\ufffd");
    /* a cut sequence at the very end */
    json_escape(out, sizeof(out), "ok\xe2\x82");
    assert_string_equal(out, "ok\\ufffd\\ufffd");
}

static void test_escape_never_cuts(void **state)
{
    char out[16];

    (void)state;
    /* 8 bytes of room and the NUL: \u0001 (6 bytes) does not fit after
     * "abc", and nothing after it is written either */
    assert_int_equal(json_escape(out, 9, "abc\x01z"), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(json_escape(out, 10, "abc\x01z"), 9);
    assert_string_equal(out, "abc\\u0001");
    assert_int_equal(json_escape(out, 4, "a\"b"), 3);
    assert_string_equal(out, "a\\\"");
    assert_int_equal(json_escape(out, 3, "a\"b"), 1);
    assert_string_equal(out, "a");
    /* a 4-byte character is copied whole or not at all */
    assert_int_equal(json_escape(out, 5, "x\xf0\x9f\x98\x80"), 1);
    assert_string_equal(out, "x");
    assert_int_equal(json_escape(out, 1, "abc"), 0);
    assert_string_equal(out, "");
    out[0] = 'q';
    assert_int_equal(json_escape(out, 0, "abc"), 0);
    assert_int_equal(out[0], 'q');
}

/* ---- text lines -------------------------------------------------------- */

static void test_text_line_unchanged(void **state)
{
    const struct log_field f[] = {LOG_STR("path", "/x"), LOG_NUM("status", 200)};
    const char *l;
    char t[32], lvl[8], rest[64];

    (void)state;
    log_info("hello %d \"q\"", 42);
    l = drain();
    assert_int_equal(sscanf(l, "%31s %7s %63[^\n]", t, lvl, rest), 3);
    check_time(t);
    assert_string_equal(lvl, "info");
    assert_string_equal(rest, "hello 42 \"q\"");
    assert_string_equal(l + 24, " info hello 42 \"q\"\n");
    log_warn("w");
    assert_string_equal(drain() + 24, " warn w\n");
    log_err("e");
    assert_string_equal(drain() + 24, " error e\n");
    /* below the level: nothing */
    log_debug("d");
    assert_string_equal(drain(), "");
    /* an event in text is its format line; the fields are for JSON */
    log_event(LOG_INFO, "access", f, 2, "access %s %d", "/x", 200);
    assert_string_equal(drain() + 24, " info access /x 200\n");
}

static void test_text_long_line_cut(void **state)
{
    char big[3000];
    const char *l;

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_info("%s", big);
    l = drain();
    assert_int_equal(strlen(l), 2047);
    assert_int_equal(l[2046], '\n');
}

/* ---- JSON lines -------------------------------------------------------- */

static void test_json_message(void **state)
{
    struct jobj o;

    (void)state;
    log_set_json(1);
    log_info("client %s: \"%s\" \\ %s", "1.2.3.4:5", "quoted", "back\x01slash\xff");
    one_json_line(&o);
    assert_int_equal(o.n, 3);
    assert_string_equal(o.key[0], "time");
    assert_string_equal(o.key[1], "level");
    assert_string_equal(o.key[2], "msg");
    assert_string_equal(j_get(&o, "level"), "info");
    assert_string_equal(j_get(&o, "msg"),
                        "client 1.2.3.4:5: \"quoted\" \\ back\x01slash\xef\xbf\xbd");
    log_warn("w");
    one_json_line(&o);
    assert_string_equal(j_get(&o, "level"), "warn");
    log_err("e\n2");
    one_json_line(&o);
    assert_string_equal(j_get(&o, "level"), "error");
    assert_string_equal(j_get(&o, "msg"), "e\n2");
    log_debug("d");
    assert_string_equal(drain(), "");
}

/* The access event, with a path holding what broke the old line: quote,
 * backslash, control bytes, invalid UTF-8. */
static void test_json_access_event(void **state)
{
    const char *path = "/v2/a\"b\\c/\x01\x1f\x7f/\xc3\x28/\xe2\x82\xac/end";
    const struct log_field f[] = {
        LOG_STR("client", "127.0.0.1:40000"), LOG_STR("method", "GET"),
        LOG_STR("host", "registry-1.docker.io"), LOG_STR("path", path),
        LOG_NUM("status", 200), LOG_NUM("bytes", 1234567890123LL), LOG_NUM("ms", 0),
        LOG_STR("link", "socks5://h:1"), LOG_STR("digest", "sha256:ab"),
        LOG_STR("verified", "yes"),
    };
    static const char *const keys[] = {"time", "level", "event", "client", "method", "host",
                                       "path", "status", "bytes", "ms", "link", "digest",
                                       "verified"};
    struct jobj o;
    int i;

    (void)state;
    log_set_json(1);
    log_event(LOG_INFO, "access", f, 10, "access %s", "not used in json");
    one_json_line(&o);
    assert_int_equal(o.n, 13);
    for (i = 0; i < 13; i++)
        assert_string_equal(o.key[i], keys[i]);
    assert_string_equal(j_get(&o, "event"), "access");
    assert_string_equal(j_get(&o, "path"),
                        "/v2/a\"b\\c/\x01\x1f\x7f/\xef\xbf\xbd(/\xe2\x82\xac/end");
    assert_true(o.is_num[7] && o.is_num[8] && o.is_num[9]);
    assert_string_equal(j_get(&o, "status"), "200");
    assert_string_equal(j_get(&o, "bytes"), "1234567890123");
    assert_string_equal(j_get(&o, "ms"), "0");
    assert_false(o.is_num[6]);
    /* without digest and verified (not a blob) */
    log_event(LOG_INFO, "access", f, 8, "x");
    one_json_line(&o);
    assert_int_equal(o.n, 11);
    /* below the level: nothing */
    log_event(LOG_DEBUG, "access", f, 8, "x");
    assert_string_equal(drain(), "");
}

/* A message whose escapes outgrow the line: cut, still one valid object
 * on one line of at most 4 KiB. */
static void test_json_long_line_cut(void **state)
{
    char big[2100];
    const struct log_field f[] = {LOG_STR("path", big), LOG_STR("more", big),
                                  LOG_NUM("status", 200)};
    struct jobj o;
    const char *l;

    (void)state;
    log_set_json(1);
    memset(big, '"', sizeof(big) - 1);   /* 2 bytes each once escaped */
    big[sizeof(big) - 1] = '\0';
    log_info("%s", big);
    l = drain();
    assert_true(strlen(l) <= 4096);
    j_object(l, strlen(l), &o);
    assert_true(strlen(j_get(&o, "msg")) > 1000);
    memset(big, '\x01', sizeof(big) - 1);  /* 6 bytes each */
    log_event(LOG_INFO, "access", f, 3, "x");
    l = drain();
    assert_true(strlen(l) <= 4096);
    j_object(l, strlen(l), &o);
    assert_true(strlen(j_get(&o, "path")) > 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_specials),
        cmocka_unit_test(test_escape_utf8),
        cmocka_unit_test(test_escape_never_cuts),
        cmocka_unit_test_setup_teardown(test_text_line_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_long_line_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_access_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_long_line_cut, setup, teardown),
    };

    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
