/* fuzz_socks5_reply.c — a SOCKS5 server's bytes through proxy/up/socks5.c:
 * socks5_init() and socks5_start() as the upstream link does, then
 * socks5_input() with the input as what the server sends, in pieces.
 *
 * First byte (options):
 *   bit  0    offer username/password (else no-auth only)
 *   bits 1-3  piece size: 1..7 bytes, or 0 for everything at once
 *   bits 4-5  input buffer capacity: 512, 16, 8, 64 bytes (a full buffer
 *             stops the feeding, as the loop stops reading)
 *   bit  6    a 255-byte host name (the longest) instead of Docker Hub's
 * The rest is the server's byte stream.
 *
 * Invariants: a result is 1, 0 or -1 with a message; a failure is final;
 * the handshake never consumes a byte past the final reply (those belong
 * to the tunnel: what stays in the buffer is exactly the tail of the
 * input); what we send is well-formed (greeting, RFC 1929 request with our
 * credentials, CONNECT with the host NAME, ATYP 3). */
#include "tests/fuzz/fuzz_common.h"

#include "base/buf.h"
#include "proxy/up/socks5.h"

static const size_t incaps[] = {512, 16, 8, 64};

/* Checks the bytes we sent: greeting, then [auth], then CONNECT. */
static void check_out(const struct socks5 *s, const struct buf *out, int have_user,
                      const char *host, uint16_t port)
{
    const uint8_t *p = (const uint8_t *)(out->area ? buf_data(out) : "");
    size_t n = out->len, i = 0, hl = strlen(host);

    FUZZ_CHECK(n >= 3);
    FUZZ_CHECK(p[0] == 5 && p[1] == (have_user ? 2 : 1) && p[2] == 0);
    i = 2u + p[1];
    if (have_user)
        FUZZ_CHECK(p[3] == 2);
    if (i < n && p[i] == 1) {   /* RFC 1929: VER ULEN UNAME PLEN PASSWD */
        FUZZ_CHECK(have_user);
        FUZZ_CHECK(i + 2 <= n && p[i + 1] == strlen(s->user));
        FUZZ_CHECK(memcmp(p + i + 2, s->user, p[i + 1]) == 0);
        i += 2u + p[i + 1];
        FUZZ_CHECK(i < n && p[i] == strlen(s->pass));
        FUZZ_CHECK(memcmp(p + i + 1, s->pass, p[i]) == 0);
        i += 1u + p[i];
    }
    if (i < n) {                /* VER CMD RSV ATYP=3 LEN NAME PORT */
        FUZZ_CHECK(n - i == 7 + hl);
        FUZZ_CHECK(p[i] == 5 && p[i + 1] == 1 && p[i + 2] == 0 && p[i + 3] == 3);
        FUZZ_CHECK(p[i + 4] == hl && memcmp(p + i + 5, host, hl) == 0);
        FUZZ_CHECK(p[i + 5 + hl] == (port >> 8) && p[i + 6 + hl] == (port & 0xff));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char longhost[256];
    const char *host = "registry-1.docker.io", *err = NULL;
    struct socks5 s;
    struct buf in, out;
    size_t fed = 0, consumed, piece;
    int have_user, rc = 0, done = 0;
    unsigned opt;

    if (size < 1)
        return 0;
    opt = data[0];
    data++;
    size--;
    have_user = opt & 1;
    piece = (opt >> 1) & 7;
    if (opt & 0x40) {
        memset(longhost, 'a', 255);
        longhost[255] = '\0';
        host = longhost;
    }
    FUZZ_CHECK(socks5_init(&s, host, 443, have_user ? "alice" : NULL,
                           have_user ? "s3cr%t:pass" : NULL) == 0);
    buf_init(&in, incaps[(opt >> 4) & 3]);
    buf_init(&out, 1024);
    FUZZ_CHECK(socks5_start(&s, &out) == 0);
    consumed = 0;
    while (fed < size) {
        size_t n = piece ? piece : size - fed, before;

        if (n > size - fed)
            n = size - fed;
        FUZZ_CHECK(buf_reserve(&in) == 0);
        if (n > buf_room(&in))
            n = buf_room(&in);
        if (n == 0)
            break;      /* full: the loop would stop reading */
        memcpy(buf_tail(&in), data + fed, n);
        buf_commit(&in, n);
        fed += n;
        before = in.len;
        rc = socks5_input(&s, &in, &out, &err);
        FUZZ_CHECK(in.len <= before);
        consumed += before - in.len;
        FUZZ_CHECK(consumed + in.len == fed);
        if (rc == 1) {
            FUZZ_CHECK(s.state == SOCKS5_S_DONE && s.rep == 0 && err == NULL);
            done = 1;
            break;
        }
        if (rc == -1) {
            FUZZ_CHECK(err != NULL && strncmp(err, "SOCKS5: ", 8) == 0);
            FUZZ_CHECK(s.state == SOCKS5_S_FAILED);
            FUZZ_CHECK(socks5_input(&s, &in, &out, &err) == -1);
            break;
        }
        FUZZ_CHECK(rc == 0 && err == NULL);
        FUZZ_CHECK(s.state != SOCKS5_S_DONE && s.state != SOCKS5_S_FAILED);
    }
    if (done) {
        /* the final reply is the last thing taken; a second call takes
         * nothing more */
        size_t left = in.len;

        FUZZ_CHECK(socks5_input(&s, &in, &out, &err) == 1);
        FUZZ_CHECK(in.len == left);
        if (left)
            FUZZ_CHECK(memcmp(buf_data(&in), data + fed - left, left) == 0);
    }
    check_out(&s, &out, have_user, host, 443);
    buf_free(&in);
    buf_free(&out);
    return 0;
}
