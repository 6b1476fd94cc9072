/* authz.c — who may have a hit: the repositories each blob was fetched
 * under, the repositories open to hubgate's own identity, and the client
 * tokens upstream accepted for a repository (by SHA-256 only). */
#include "mitm/cache/cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A record renewed less than this long ago is not written again. */
#define CACHE_RECHECK_SLACK 60

/* The key of a verified token: "<sha256 of the token>|<repo>". */
static int cache_token_key(const void *token, size_t tlen, const char *repo, char *out,
                           size_t outlen)
{
    char h[65];

    if (cache_sha256_hex(token, tlen, h) != 0)
        return -EIO;
    return snprintf(out, outlen, "%s|%s", h, repo) >= (int)outlen ? -ENAMETOOLONG : 0;
}

enum cache_authz cache_authorize(struct cache *c, const char *hex, const char *repo,
                                 const void *token, size_t tlen, time_t now, time_t open_ttl)
{
    enum cache_authz a = CACHE_AUTHZ_NO;
    struct cache_use *u;
    json_t *b, *open, *until;
    char key[640];

    if (cache_lock(c) != 0)
        return CACHE_AUTHZ_NO;
    b = json_object_get(cache_blobs(c), hex);
    u = b ? NULL : cache_use_find(c, hex);
    if (!b && !(u && u->fill))
        goto out;
    if (b && json_is_true(json_object_get(b, "pinned"))) {
        a = CACHE_AUTHZ_OK;         /* imported: the operator's decision */
        goto out;
    }
    /* never seen under repo: upstream decides. A blob being filled was
     * fetched under its fill's repository only. */
    if (b ? !json_object_get(json_object_get(b, "repos"), repo)
          : strcmp(u->fill->repo, repo) != 0)
        goto out;
    open = json_object_get(json_object_get(c->state, "open"), repo);
    if (open && now - (time_t)json_integer_value(open) < open_ttl) {
        a = CACHE_AUTHZ_OK;
        goto out;
    }
    if (token && tlen > 0 && cache_token_key(token, tlen, repo, key, sizeof(key)) == 0) {
        until = json_object_get(json_object_get(c->state, "tokens"), key);
        a = until && (time_t)json_integer_value(until) > now ? CACHE_AUTHZ_OK
                                                             : CACHE_AUTHZ_CHECK_TOKEN;
    }
    /* open once and stale: hubgate's own check may reopen it for all */
    if (a != CACHE_AUTHZ_OK && open)
        a = CACHE_AUTHZ_CHECK_OPEN;
out:
    cache_unlock(c, 0);
    return a;
}

int cache_link_repo(struct cache *c, const char *hex, const char *repo)
{
    json_t *b;
    int rc = cache_lock(c);

    if (rc != 0)
        return rc;
    b = json_object_get(cache_blobs(c), hex);
    /* already linked: nothing to write (every request of a pull says it) */
    if (b && json_object_get(json_object_get(b, "repos"), repo))
        return cache_unlock(c, 0);
    if (b)
        json_object_set_new(cache_obj(b, "repos"), repo, json_integer(time(NULL)));
    rc = cache_unlock(c, b != NULL);
    return b ? rc : -ENOENT;
}

int cache_repo_open(struct cache *c, const char *repo, int open, time_t now)
{
    json_t *was;
    int rc = cache_lock(c);

    if (rc != 0)
        return rc;
    was = json_object_get(json_object_get(c->state, "open"), repo);
    /* checked within the last minute: the record stands (a pull's every
     * request says it again) */
    if (open && was && now - (time_t)json_integer_value(was) < CACHE_RECHECK_SLACK)
        return cache_unlock(c, 0);
    if (open)
        json_object_set_new(cache_obj(c->state, "open"), repo, json_integer(now));
    else
        json_object_del(cache_obj(c->state, "open"), repo);
    return cache_unlock(c, 1);
}

int cache_token_verified(struct cache *c, const void *token, size_t tlen, const char *repo,
                         time_t until)
{
    json_t *tokens, *t;
    const char *k;
    void *tmp;
    char key[640];
    time_t now = time(NULL);
    int rc;

    if (!token || tlen == 0)
        return -EINVAL;
    rc = cache_token_key(token, tlen, repo, key, sizeof(key));
    if (rc != 0)
        return rc;
    rc = cache_lock(c);
    if (rc != 0)
        return rc;
    tokens = cache_obj(c->state, "tokens");
    t = json_object_get(tokens, key);
    if (t && (time_t)json_integer_value(t) + CACHE_RECHECK_SLACK >= until)
        return cache_unlock(c, 0);
    /* expired entries go as new ones come, so the file stays small */
    json_object_foreach_safe(tokens, tmp, k, t)
        if ((time_t)json_integer_value(t) <= now)
            json_object_del(tokens, k);
    json_object_set_new(tokens, key, json_integer(until));
    return cache_unlock(c, 1);
}

/* Own tokens live among the verified ones under a repository name no
 * reference can have. */
#define CACHE_OWN_REPO "*own*"

int cache_token_own(struct cache *c, const void *token, size_t tlen, time_t until)
{
    return cache_token_verified(c, token, tlen, CACHE_OWN_REPO, until);
}

int cache_token_is_own(struct cache *c, const void *token, size_t tlen, time_t now)
{
    json_t *until;
    char key[640];
    int own = 0;

    if (!token || tlen == 0 || cache_token_key(token, tlen, CACHE_OWN_REPO, key, sizeof(key)) != 0 ||
        cache_lock(c) != 0)
        return 0;
    until = json_object_get(json_object_get(c->state, "tokens"), key);
    own = until && (time_t)json_integer_value(until) > now;
    cache_unlock(c, 0);
    return own;
}
