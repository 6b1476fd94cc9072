/* config_secret.c — the files of secrets a configuration names:
 * [upstream] hub_credentials (one line "user:token") and [proxy]
 * users_file ("name:password" lines). Each must be a regular file that
 * only its owner may read (mode 0600 or 0400), so a token never sits in a
 * world-readable file; read once the whole text is parsed. Messages name
 * the file and its line, never what a line holds. */
#include "proxy/core/config_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CFG_MAX_SECRET ((size_t)65536)

char *cfg_read_secret(struct cfg_ctx *c, const char *path, const char *what)
{
    char q[96], *text = NULL;
    struct stat st;
    size_t n = 0;
    ssize_t got;
    int fd;

    cfg_quote(q, sizeof(q), path, strlen(path));
    fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1) {
        cfg_why(c, path, "cannot be opened: %s; create it holding %s, then chmod 600 %s",
                strerror(errno), what, q);
        return NULL;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        cfg_why(c, path, "is not a regular file; give a file holding %s (chmod 600 %s)",
                what, q);
        goto fail;
    }
    if ((st.st_mode & 07777) != 0600 && (st.st_mode & 07777) != 0400) {
        cfg_why(c, path, "has mode %04o, so others may read it: chmod 600 %s",
                (unsigned)(st.st_mode & 07777), q);
        goto fail;
    }
    if ((size_t)st.st_size > CFG_MAX_SECRET || (text = malloc((size_t)st.st_size + 1)) == NULL) {
        cfg_why(c, path, "is over 64KiB; is it the right file?");
        goto fail;
    }
    while (n < (size_t)st.st_size) {
        got = read(fd, text + n, (size_t)st.st_size - n);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1) {
            cfg_why(c, path, "cannot be read: %s", strerror(errno));
            goto fail;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    text[n] = '\0';
    if (strlen(text) != n) {
        cfg_why(c, path, "holds a NUL byte; it must hold %s", what);
        goto fail;
    }
    (void)close(fd);
    return text;
fail:
    if (text != NULL)
        memset(text, 0, n);
    free(text);
    (void)close(fd);
    return NULL;
}

/* users_file: one "name:password" a line, appended to users within the
 * limit of the row users; blank lines and lines starting with '#' are
 * skipped. */
int cfg_load_users(struct cfg_ctx *c, const struct cfg_row *users)
{
    const char *path = c->cfg->users_file;
    char *text = cfg_read_secret(c, path, "name:password lines"), *line, *next;
    int lineno = 0, rc = 0;
    size_t len;

    if (text == NULL)
        return -1;
    len = strlen(text);
    for (line = text; rc == 0 && line != NULL; line = next) {
        char *e;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        e = cfg_trim(line);
        if (e[0] == '\0' || e[0] == '#')
            continue;
        rc = cfg_add_user(c, users, &c->cfg->users, e);
    }
    if (rc != 0) {
        char q[96], why[sizeof(c->why)];

        memcpy(why, c->why, sizeof(why));
        cfg_quote(q, sizeof(q), path, strlen(path));
        cfg_why(c, NULL, "%s:%d: %s", q, lineno, why);
    }
    memset(text, 0, len);
    free(text);
    return rc;
}

/* hub_credentials: one line "user:token" into hub_user and hub_token. */
int cfg_load_hub(struct cfg_ctx *c)
{
    struct config *cfg = c->cfg;
    char *text = cfg_read_secret(c, cfg->hub_credentials, "one line user:token"), *colon;
    size_t n, i;
    int rc = -1;

    if (text == NULL)
        return -1;
    n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    for (i = 0; i < n; i++)
        if ((unsigned char)text[i] <= 0x20 || text[i] == 0x7f)
            break;
    colon = strchr(text, ':');
    if (i < n || colon == NULL || colon == text || colon[1] == '\0') {
        cfg_why(c, cfg->hub_credentials, "must hold one line user:token, without blanks "
                "(the text is not shown: it may hold the token)");
        goto out;
    }
    cfg->hub_user = strndup(text, (size_t)(colon - text));
    cfg->hub_token = strdup(colon + 1);
    if (cfg->hub_user == NULL || cfg->hub_token == NULL) {
        cfg_why(c, NULL, "out of memory");
        goto out;
    }
    rc = 0;
out:
    memset(text, 0, strlen(text));
    free(text);
    return rc;
}
