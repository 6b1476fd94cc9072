/* config_creds.c — [upstream] credentials: a docker config.json (the
 * format `docker login` writes) with the accounts hubgate itself uses for
 * registries, read with jansson at load. Only entries for registries
 * hubgate knows by name (registry.c) are kept, as base64 user:secret for
 * HTTP Basic; nothing of them reaches a message. */
#include "proxy/core/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "proxy/core/registry.h"

/* The registry an "auths" key names: "ghcr.io", "https://ghcr.io",
 * "https://index.docker.io/v1/", "docker.io". */
static const struct registry *creds_registry(const char *key)
{
    char host[256];
    size_t n;

    if (strncmp(key, "https://", 8) == 0)
        key += 8;
    else if (strncmp(key, "http://", 7) == 0)
        key += 7;
    n = strcspn(key, "/");
    if (n == 0 || n >= sizeof(host))
        return NULL;
    memcpy(host, key, n);
    host[n] = '\0';
    if (strcmp(host, "index.docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0)
        return registry_find("docker.io");
    return registry_find(host) ? registry_find(host) : registry_of_host(host);
}

/* One "auths" entry into base64 user:secret in out. 0, or -1 with why. */
static int creds_entry(struct cfg_ctx *c, const char *key, json_t *v, char *out, size_t outlen)
{
    const char *auth = json_string_value(json_object_get(v, "auth"));
    const char *user = json_string_value(json_object_get(v, "username"));
    const char *pass = json_string_value(json_object_get(v, "password"));
    unsigned char dec[600];
    char plain[600];
    int n;

    if (json_object_get(v, "identitytoken") && !auth && !user)
        return cfg_why(c, NULL, "entry \"%.80s\" has only an identitytoken, which hubgate "
                       "cannot use; log in with a user name and a password or access token "
                       "so that the file has \"auth\"", key);
    if (auth) {
        size_t len = strlen(auth);

        n = len < 4 * sizeof(dec) / 3 - 4 ?
            EVP_DecodeBlock(dec, (const unsigned char *)auth, (int)len) : -1;
        if (n <= 0 || !memchr(dec, ':', (size_t)n)) {
            OPENSSL_cleanse(dec, sizeof(dec));
            return cfg_why(c, NULL, "entry \"%.80s\": \"auth\" is not base64 of user:secret",
                           key);
        }
        OPENSSL_cleanse(dec, sizeof(dec));
        if (len >= outlen)
            return cfg_why(c, NULL, "entry \"%.80s\": \"auth\" is too long", key);
        memcpy(out, auth, len + 1);
        return 0;
    }
    if (!user || !pass || !*user)
        return cfg_why(c, NULL, "entry \"%.80s\" has neither \"auth\" nor \"username\" and "
                       "\"password\"", key);
    n = snprintf(plain, sizeof(plain), "%s:%s", user, pass);
    if (n < 0 || (size_t)n >= sizeof(plain) || ((size_t)n + 2) / 3 * 4 >= outlen) {
        OPENSSL_cleanse(plain, sizeof(plain));
        return cfg_why(c, NULL, "entry \"%.80s\": user and password too long", key);
    }
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, n);
    OPENSSL_cleanse(plain, sizeof(plain));
    return 0;
}

/* Appends name and its auth to the two parallel lists (a registry named
 * twice keeps its first entry). 0, or -1 with why. */
static int creds_add(struct cfg_ctx *c, struct config *cfg, const char *name, const char *b64)
{
    struct str_list *n = &cfg->cred_registries, *a = &cfg->cred_auths;
    char **nv, **av;
    size_t i;

    for (i = 0; i < n->n; i++)
        if (strcmp(n->v[i], name) == 0)
            return 0;
    nv = realloc(n->v, (n->n + 1) * sizeof(*nv));
    if (nv)
        n->v = nv;
    av = realloc(a->v, (a->n + 1) * sizeof(*av));
    if (av)
        a->v = av;
    if (!nv || !av || !(n->v[n->n] = strdup(name)))
        return cfg_why(c, NULL, "out of memory");
    if (!(a->v[a->n] = strdup(b64))) {
        free(n->v[n->n]);
        return cfg_why(c, NULL, "out of memory");
    }
    n->n++;
    a->n++;
    return 0;
}

int cfg_load_credentials(struct cfg_ctx *c)
{
    struct config *cfg = c->cfg;
    char *text = cfg_read_secret(c, cfg->credentials, "a docker config.json (\"auths\")");
    json_t *root, *auths, *v;
    json_error_t je;
    const char *key;
    int rc = -1;

    if (text == NULL)
        return -1;
    root = json_loads(text, 0, &je);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (!root || !json_is_object(json_object_get(root, "auths"))) {
        cfg_why(c, cfg->credentials, "is not a docker config.json with an \"auths\" object "
                "(line %d; the text is not shown: it holds secrets)", root ? 0 : je.line);
        goto out;
    }
    auths = json_object_get(root, "auths");
    json_object_foreach(auths, key, v) {
        const struct registry *reg = creds_registry(key);
        char b64[700];

        if (!reg || !json_is_object(v))
            continue; /* a registry hubgate does not intercept by name */
        if (creds_entry(c, key, v, b64, sizeof(b64)) != 0)
            goto out;
        if (creds_add(c, cfg, reg->name, b64) != 0) {
            OPENSSL_cleanse(b64, sizeof(b64));
            goto out;
        }
        OPENSSL_cleanse(b64, sizeof(b64));
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}
