/* kubeconfig files: the cluster, user and context that say where the API server is and who we are. */
#include "kubeconfig.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "yaml_json.h"

#define KUBECONFIG_MAX_BYTES (1u << 20)
#define TOKEN_MAX_BYTES      (64u << 10)

void kube_auth_clear(struct kube_auth *a)
{
        free(a->server);
        free(a->ca_file);
        free(a->ca_data);
        free(a->cert_file);
        free(a->cert_data);
        free(a->key_file);
        free(a->key_data);
        free(a->token);
        free(a->token_file);
        free(a->context);
        *a = (struct kube_auth){0};
}

void kube_auth_wipe(struct kube_auth *a)
{
        if (a->key_data)
                explicit_bzero(a->key_data, a->key_data_len);
        if (a->token)
                explicit_bzero(a->token, strlen(a->token));
        kube_auth_clear(a);
}

static int fail(char **ret_err, const char *fmt, ...) _printf_(2, 3);
static int fail(char **ret_err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(ret_err, fmt, ap) < 0)
                *ret_err = NULL;
        va_end(ap);
        OOM_CHECK(*ret_err);
        return -EINVAL;
}

/* The entry of list `field` (clusters/users/contexts) whose name is `name`, and its index. */
static json_t *find_named(json_t *root, const char *field, const char *name, size_t *ret_idx, char **ret_err)
{
        json_t *list = json_object_get(root, field);
        size_t i;
        json_t *it;

        if (list && !json_is_array(list) && !json_is_null(list)) {
                fail(ret_err, "%s: must be a list", field);
                return NULL;
        }
        json_array_foreach(list, i, it)
        {
                const char *n = json_string_value(json_object_get(it, "name"));
                if (n && streq(n, name)) {
                        *ret_idx = i;
                        return it;
                }
        }
        fail(ret_err, "%s: no entry named \"%s\"", field, name);
        return NULL;
}

/* A string field of obj, or NULL; a present non-string is an error. */
static int get_str(json_t *obj, const char *key, const char *path, const char **ret, char **ret_err)
{
        json_t *v = json_object_get(obj, key);
        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return fail(ret_err, "%s.%s: must be a string", path, key);
        *ret = json_string_value(v);
        return 0;
}

static char *resolve(const char *base_dir, const char *p)
{
        if (!p || !*p)
                return NULL;
        if (p[0] == '/' || !base_dir)
                return xstrdup(p);
        return strdup_printf("%s/%s", base_dir, p);
}

/* A "-data" field (base64 PEM) or a file path: at most one of them. */
static int get_pem(json_t *obj, const char *path, const char *file_key, const char *base_dir,
                   char **ret_file, char **ret_data, size_t *ret_len, char **ret_err)
{
        const char *file, *data;
        _cleanup_free_ char *data_key = strdup_printf("%s-data", file_key);
        int r;

        if ((r = get_str(obj, file_key, path, &file, ret_err)) < 0 ||
            (r = get_str(obj, data_key, path, &data, ret_err)) < 0)
                return r;
        if (data && *data) {
                if (base64_decode(data, ret_data, ret_len) < 0)
                        return fail(ret_err, "%s.%s: not valid base64", path, data_key);
                if (!strstr(*ret_data, "-----BEGIN "))
                        return fail(ret_err, "%s.%s: not a PEM block", path, data_key);
        } else
                *ret_file = resolve(base_dir, file);
        return 0;
}

int kubeconfig_parse(const char *buf, size_t len, const char *base_dir, struct kube_auth *ret,
                     char **ret_err)
{
        struct yaml_doc *docs = NULL;
        size_t n_docs = 0, ci = 0, ui = 0, xi = 0;
        _cleanup_free_ char *perr = NULL, *path = NULL;
        struct kube_auth a = {0};
        const char *cur, *cluster_name, *user_name, *server, *token, *token_file;
        int r;

        *ret_err = NULL;
        if (yaml_parse_docs(buf, len, &docs, &n_docs, &perr) < 0)
                return fail(ret_err, "%s", perr);
        if (n_docs != 1 || !json_is_object(docs[0].value)) {
                yaml_docs_free(docs, n_docs);
                return fail(ret_err, "not a kubeconfig: expected one mapping");
        }
        json_t *root = docs[0].value;
        r = get_str(root, "current-context", "", &cur, ret_err);
        if (r < 0)
                goto out;
        if (!cur || !*cur) {
                r = fail(ret_err, "current-context: Required value");
                goto out;
        }
        json_t *ctx = find_named(root, "contexts", cur, &xi, ret_err);
        if (!ctx) {
                r = -EINVAL;
                goto out;
        }
        path = strdup_printf("contexts[%zu].context", xi);
        json_t *c = json_object_get(ctx, "context");
        if ((r = get_str(c, "cluster", path, &cluster_name, ret_err)) < 0 ||
            (r = get_str(c, "user", path, &user_name, ret_err)) < 0)
                goto out;
        if (!cluster_name) {
                r = fail(ret_err, "%s.cluster: Required value", path);
                goto out;
        }

        json_t *cl = find_named(root, "clusters", cluster_name, &ci, ret_err);
        if (!cl) {
                r = -EINVAL;
                goto out;
        }
        free(path);
        path = strdup_printf("clusters[%zu].cluster", ci);
        json_t *cluster = json_object_get(cl, "cluster");
        if ((r = get_str(cluster, "server", path, &server, ret_err)) < 0)
                goto out;
        if (!server || !*server) {
                r = fail(ret_err, "%s.server: Required value", path);
                goto out;
        }
        if (!str_has_prefix(server, "https://") && !str_has_prefix(server, "http://")) {
                r = fail(ret_err, "%s.server: \"%s\": must start with https:// or http://", path, server);
                goto out;
        }
        /* A host after the scheme (Go's client refuses "https://" and "https:///x" too); then the
         * trailing slashes can go without eating into the scheme. */
        const char *host = strstr(server, "://") + 3;
        if (!*host || *host == '/') {
                r = fail(ret_err, "%s.server: \"%s\": no host", path, server);
                goto out;
        }
        a.server = xstrdup(server);
        while (str_has_suffix(a.server, "/"))
                a.server[strlen(a.server) - 1] = 0;
        json_t *insecure = json_object_get(cluster, "insecure-skip-tls-verify");
        if (insecure && !json_is_boolean(insecure) && !json_is_null(insecure)) {
                r = fail(ret_err, "%s.insecure-skip-tls-verify: must be true or false", path);
                goto out;
        }
        a.insecure = json_is_true(insecure);
        r = get_pem(cluster, path, "certificate-authority", base_dir, &a.ca_file, &a.ca_data, &a.ca_data_len,
                    ret_err);
        if (r < 0)
                goto out;

        if (user_name && *user_name) {
                json_t *us = find_named(root, "users", user_name, &ui, ret_err);
                if (!us) {
                        r = -EINVAL;
                        goto out;
                }
                free(path);
                path = strdup_printf("users[%zu].user", ui);
                json_t *user = json_object_get(us, "user");
                if ((r = get_pem(user, path, "client-certificate", base_dir, &a.cert_file, &a.cert_data,
                                 &a.cert_data_len, ret_err)) < 0 ||
                    (r = get_pem(user, path, "client-key", base_dir, &a.key_file, &a.key_data,
                                 &a.key_data_len, ret_err)) < 0)
                        goto out;
                if ((!a.cert_file && !a.cert_data) != (!a.key_file && !a.key_data)) {
                        r = fail(ret_err, "%s: client-certificate and client-key must be given together",
                                 path);
                        goto out;
                }
                if ((r = get_str(user, "token", path, &token, ret_err)) < 0 ||
                    (r = get_str(user, "tokenFile", path, &token_file, ret_err)) < 0)
                        goto out;
                if (token && *token)
                        a.token = xstrdup(token);
                else if (token_file && *token_file) {
                        a.token_file = resolve(base_dir, token_file);
                        _cleanup_free_ char *t = NULL;
                        r = read_file_limit(a.token_file, TOKEN_MAX_BYTES, &t, NULL);
                        if (r < 0) {
                                r = fail(ret_err, "%s.tokenFile: %s: %s", path, a.token_file, strerror(-r));
                                goto out;
                        }
                        size_t tn = strlen(t);
                        while (tn > 0 && (t[tn - 1] == '\n' || t[tn - 1] == '\r' || t[tn - 1] == ' ' ||
                                          t[tn - 1] == '\t'))
                                t[--tn] = 0;
                        a.token = TAKE_PTR(t);
                }
                if (json_object_get(user, "exec") || json_object_get(user, "auth-provider")) {
                        r = fail(ret_err, "%s: exec and auth-provider credentials are not supported", path);
                        goto out;
                }
        }
        a.context = xstrdup(cur);
        *ret = a;
        a = (struct kube_auth){0};
        r = 0;
out:
        kube_auth_clear(&a);
        yaml_docs_free(docs, n_docs);
        return r;
}

int kubeconfig_load(const char *path, struct kube_auth *ret, char **ret_err)
{
        _cleanup_free_ char *buf = NULL, *dir = xstrdup(path), *err = NULL;
        size_t len;
        int r = read_file_limit(path, KUBECONFIG_MAX_BYTES, &buf, &len);
        if (r < 0)
                return fail(ret_err, "kubeconfig %s: %s", path, strerror(-r));
        r = kubeconfig_parse(buf, len, dirname(dir), ret, &err);
        if (r < 0)
                return fail(ret_err, "kubeconfig %s: %s", path, err);
        return 0;
}
