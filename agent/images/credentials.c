/* Registry credentials for a pull: pull secrets and the node's cached docker config. */
#include "credentials.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"
#include "log.h"
#include "macro.h"
#include "util.h"

#define NODE_CONFIG_LIFETIME_MS (5 * 60 * 1000) /* upstream's CachingDockerConfigProvider */

struct image_credentials {
        char *root_dir;
        pthread_mutex_t lock;
        struct keyring *node; /* NULL until first read */
        int64_t expires_ms;
};

struct image_credentials *image_credentials_new(const char *root_dir)
{
        struct image_credentials *c = OOM_CHECK(calloc(1, sizeof *c));
        c->root_dir = xstrdup(root_dir);
        pthread_mutex_init(&c->lock, NULL);
        return c;
}

struct image_credentials *image_credentials_free(struct image_credentials *c)
{
        if (!c)
                return NULL;
        keyring_free(c->node);
        pthread_mutex_destroy(&c->lock);
        free(c->root_dir);
        free(c);
        return NULL;
}

int keyring_add_pull_secret(struct keyring *k, json_t *secret, char *err, size_t err_len)
{
        const char *type = json_string_value(json_object_get(secret, "type"));
        json_t *data = json_object_get(secret, "data");
        const char *key;
        bool json_config;
        if (type && streq(type, "kubernetes.io/dockerconfigjson"))
                key = ".dockerconfigjson", json_config = true;
        else if (type && streq(type, "kubernetes.io/dockercfg"))
                key = ".dockercfg", json_config = false;
        else
                return 0;
        const char *b64 = json_string_value(json_object_get(data, key));
        if (!b64 || !*b64)
                return 0;
        _cleanup_free_ char *doc = NULL;
        size_t len;
        if (base64_decode(b64, &doc, &len) < 0) {
                snprintf(err, err_len, "data[%s] is not base64", key);
                return -EINVAL;
        }
        int r = keyring_add_docker_config(k, doc, len, json_config, err, err_len);
        explicit_bzero(doc, len);
        return r;
}

static void append(struct docker_auth **v, size_t *n, const struct docker_auth *const *a, size_t na)
{
        if (na == 0)
                return;
        *v = OOM_CHECK(realloc(*v, (*n + na) * sizeof **v));
        for (size_t i = 0; i < na; i++)
                (*v)[(*n)++] = (struct docker_auth){xstrdup(a[i]->username), xstrdup(a[i]->password)};
}

int image_credentials_lookup(struct image_credentials *c, const struct keyring *pod, const char *repo,
                             struct docker_auth **ret, size_t *ret_n)
{
        struct docker_auth *v = NULL;
        size_t n = 0;
        const struct docker_auth **found = NULL;
        size_t nf = 0;

        if (pod) {
                keyring_lookup(pod, repo, &found, &nf);
                append(&v, &n, found, nf);
                free(found);
        }
        pthread_mutex_lock(&c->lock);
        int64_t now = now_mono_ms();
        if (!c->node || now >= c->expires_ms) {
                _cleanup_free_ char *path = NULL;
                keyring_free(c->node);
                c->node = keyring_load_node(c->root_dir, &path);
                c->expires_ms = now + NODE_CONFIG_LIFETIME_MS;
                log_v(2, "Read the node's registry credentials", "file=\"%s\"", path ? path : "(none)");
        }
        keyring_lookup(c->node, repo, &found, &nf);
        append(&v, &n, found, nf);
        free(found);
        pthread_mutex_unlock(&c->lock);
        *ret = v;
        *ret_n = n;
        return 0;
}

void docker_auths_free(struct docker_auth *a, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(a[i].username);
                if (a[i].password)
                        explicit_bzero(a[i].password, strlen(a[i].password));
                free(a[i].password);
        }
        free(a);
}
