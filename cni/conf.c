/* Network configuration lists: parsing and checks, the execution config each plugin gets, loading a directory,
 * network readiness. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cni_internal.h"
#include "util.h"

#define CONF_MAX (1u << 20)

/* ---- the network type -------------------------------------------------------------------------------------- */

struct cni_network *cni_network_ref(struct cni_network *n)
{
        if (n)
                atomic_fetch_add(&n->n_ref, 1);
        return n;
}

struct cni_network *cni_network_unref(struct cni_network *n)
{
        if (!n || atomic_fetch_sub(&n->n_ref, 1) > 1)
                return NULL;
        free(n->name);
        free(n->version);
        free(n->file);
        free(n->plugins);
        json_decref(n->conf);
        free(n);
        return NULL;
}

const char *cni_network_name(const struct cni_network *n)
{
        return n->name;
}

const char *cni_network_version(const struct cni_network *n)
{
        return n->version;
}

const char *cni_network_file(const struct cni_network *n)
{
        return n->file;
}

bool cni_network_disable_check(const struct cni_network *n)
{
        return n->disable_check;
}

size_t cni_network_n_plugins(const struct cni_network *n)
{
        return n->n_plugins;
}

const char *cni_network_plugin_type(const struct cni_network *n, size_t i)
{
        return i < n->n_plugins ? n->plugins[i].type : NULL;
}

char *cni_network_to_json(const struct cni_network *n)
{
        return OOM_CHECK(json_dumps(n->conf, JSON_COMPACT));
}

/* ---- parsing ---------------------------------------------------------------------------------------------- */

static int bad(char **ret_field, char **ret_reason, char *field, char *reason)
{
        *ret_field = field;
        *ret_reason = reason;
        return -EINVAL;
}

static int check_plugin(json_t *p, const char *prefix, struct cni_net_plugin *ret, char **ret_field,
                        char **ret_reason)
{
        json_t *type = json_object_get(p, "type"), *caps = json_object_get(p, "capabilities"),
               *ipam = json_object_get(p, "ipam");
        const char *key;
        json_t *v;

        if (!json_is_object(p))
                return bad(ret_field, ret_reason, strdup_printf("%.*s", (int) strlen(prefix) - 1, prefix),
                           xstrdup("not a JSON object"));
        if (!type)
                return bad(ret_field, ret_reason, strdup_printf("%stype", prefix), xstrdup("missing"));
        if (!json_is_string(type) || !cni__valid_type(json_string_value(type)))
                return bad(ret_field, ret_reason, strdup_printf("%stype", prefix),
                           xstrdup("must be a plugin file name (a non-empty string without '/')"));
        if (caps) {
                if (!json_is_object(caps))
                        return bad(ret_field, ret_reason, strdup_printf("%scapabilities", prefix),
                                   xstrdup("must be an object of booleans"));
                json_object_foreach(caps, key, v)
                {
                        if (!json_is_boolean(v))
                                return bad(ret_field, ret_reason,
                                           strdup_printf("%scapabilities.%s", prefix, key),
                                           xstrdup("must be a boolean"));
                }
        }
        ret->ipam = NULL;
        if (ipam) {
                json_t *it = json_object_get(ipam, "type");
                if (!json_is_object(ipam))
                        return bad(ret_field, ret_reason, strdup_printf("%sipam", prefix),
                                   xstrdup("must be an object"));
                if (it && (!json_is_string(it) || !cni__valid_type(json_string_value(it))))
                        return bad(ret_field, ret_reason, strdup_printf("%sipam.type", prefix),
                                   xstrdup("must be a plugin file name (a non-empty string without '/')"));
                ret->ipam = json_string_value(it);
        }
        ret->type = json_string_value(type);
        ret->conf = p;
        return 0;
}

int cni__network_from_json(json_t *root, const char *file, struct cni_network **ret, char **ret_field,
                           char **ret_reason)
{
        _cleanup_json_ json_t *list = NULL;
        json_t *name, *version, *plugins, *dc;
        bool single;

        if (!json_is_object(root))
                return bad(ret_field, ret_reason, xstrdup(""), xstrdup("not a JSON object"));

        /* A single plugin config (.conf) runs as a one-plugin list with its own name and version. */
        single = !json_object_get(root, "plugins") && json_object_get(root, "type");
        if (single) {
                list = json_object();
                if ((name = json_object_get(root, "cniVersion")))
                        json_object_set(list, "cniVersion", name);
                if ((name = json_object_get(root, "name")))
                        json_object_set(list, "name", name);
                json_object_set_new(list, "plugins", json_pack("[O]", root));
        } else
                list = json_incref(root);

        name = json_object_get(list, "name");
        if (!name)
                return bad(ret_field, ret_reason, xstrdup("name"), xstrdup("missing"));
        if (!json_is_string(name) || !cni__valid_name(json_string_value(name)))
                return bad(
                        ret_field, ret_reason, xstrdup("name"),
                        xstrdup("must start with a letter or digit, then letters, digits, '_', '.', '-'"));
        version = json_object_get(list, "cniVersion");
        if (!version)
                return bad(ret_field, ret_reason, xstrdup("cniVersion"), xstrdup("missing"));
        if (!json_is_string(version))
                return bad(ret_field, ret_reason, xstrdup("cniVersion"), xstrdup("must be a string"));
        if (!cni_version_supported(json_string_value(version)))
                return bad(
                        ret_field, ret_reason, xstrdup("cniVersion"),
                        strdup_printf("unsupported version \"%s\" (supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0)",
                                      json_string_value(version)));
        dc = json_object_get(list, "disableCheck");
        /* A boolean; 0.4.0's text called it a string, so "true"/"false" are taken too. */
        if (dc && !json_is_boolean(dc) &&
            !(json_is_string(dc) &&
              (streq(json_string_value(dc), "true") || streq(json_string_value(dc), "false"))))
                return bad(ret_field, ret_reason, xstrdup("disableCheck"), xstrdup("must be a boolean"));

        plugins = json_object_get(list, "plugins");
        if (!plugins)
                return bad(ret_field, ret_reason, xstrdup("plugins"), xstrdup("missing"));
        if (!json_is_array(plugins) || json_array_size(plugins) == 0)
                return bad(ret_field, ret_reason, xstrdup("plugins"), xstrdup("must be a non-empty list"));

        size_t n = json_array_size(plugins);
        _cleanup_free_ struct cni_net_plugin *ps = OOM_CHECK(calloc(n, sizeof *ps));
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *prefix = single ? xstrdup("") : strdup_printf("plugins[%zu].", i);
                int r = check_plugin(json_array_get(plugins, i), prefix, &ps[i], ret_field, ret_reason);
                if (r < 0)
                        return r;
        }

        struct cni_network *net = OOM_CHECK(calloc(1, sizeof *net));
        atomic_init(&net->n_ref, 1);
        net->name = xstrdup(json_string_value(name));
        net->version = xstrdup(json_string_value(version));
        net->file = xstrdup(file);
        net->single = single;
        net->disable_check =
                json_is_true(dc) || (json_is_string(dc) && streq(json_string_value(dc), "true"));
        net->conf = TAKE_PTR(list);
        net->plugins = TAKE_PTR(ps);
        net->n_plugins = n;
        *ret = net;
        return 0;
}

int cni_network_parse(const char *data, size_t len, const char *filename, struct cni_network **ret,
                      struct cni_error *err)
{
        _cleanup_free_ char *field = NULL, *reason = NULL;
        const char *what = filename ? filename : "network config";
        json_error_t jerr;
        _cleanup_json_ json_t *root = json_loadb(data, len, 0, &jerr);
        int r;

        if (!root)
                return cni__fail(err, -EINVAL, "%s: invalid JSON at line %d column %d: %s", what, jerr.line,
                                 jerr.column, jerr.text);
        r = cni__network_from_json(root, filename, ret, &field, &reason);
        if (r < 0)
                return cni__fail(err, r, "%s: %s%s%s", what, field, *field ? ": " : "", reason);
        return 0;
}

/* ---- the execution configuration ----------------------------------------------------------------------- */

json_t *cni__plugin_stdin(const struct cni_network *net, size_t i, json_t *capability_args,
                          json_t *prev_result)
{
        const struct cni_net_plugin *p = &net->plugins[i];
        json_t *c = OOM_CHECK(json_deep_copy(p->conf));
        json_t *caps = json_object_get(p->conf, "capabilities");

        json_object_set_new(c, "cniVersion", json_string(net->version));
        json_object_set_new(c, "name", json_string(net->name));
        json_object_del(c, "capabilities");
        if (json_is_object(caps) && json_is_object(capability_args)) {
                json_t *rc = json_object(), *v;
                const char *key;
                json_object_foreach(caps, key, v)
                {
                        json_t *arg = json_object_get(capability_args, key);
                        if (json_is_true(v) && arg)
                                json_object_set(rc, key, arg);
                }
                if (json_object_size(rc) > 0)
                        json_object_set_new(c, "runtimeConfig", rc);
                else
                        json_decref(rc);
        }
        if (prev_result)
                json_object_set(c, "prevResult", prev_result);
        return c;
}

/* ---- checks against the installed plugins --------------------------------------------------------------- */

static int validate(const struct cni_network *n, char *const *bin_dirs, char **ret_field,
                    struct cni_error *err)
{
        struct cni_exec ex = {.bin_dirs = bin_dirs};

        for (size_t i = 0; i < n->n_plugins; i++) {
                const struct cni_net_plugin *p = &n->plugins[i];
                _cleanup_strv_free_ char **versions = NULL;
                _cleanup_free_ char *path = NULL;
                bool ok = false;
                int r;

                r = cni_plugin_versions(&ex, p->type, &versions, err);
                if (r < 0) {
                        *ret_field = n->single ? xstrdup("type") : strdup_printf("plugins[%zu].type", i);
                        return r;
                }
                for (size_t k = 0; versions[k]; k++)
                        ok = ok || streq(versions[k], n->version);
                if (!ok) {
                        _cleanup_free_ char *list = xstrdup("");
                        for (size_t k = 0; versions[k]; k++) {
                                char *s = strdup_printf("%s%s%s", list, k ? ", " : "", versions[k]);
                                free(list);
                                list = s;
                        }
                        *ret_field = xstrdup("cniVersion");
                        return cni__fail(err, -EPROTONOSUPPORT,
                                         "plugin %s does not support version %s (it supports: %s)", p->type,
                                         n->version, *list ? list : "none");
                }
                if (p->ipam && (r = cni_plugin_find(bin_dirs, p->ipam, &path)) < 0) {
                        *ret_field = n->single ? xstrdup("ipam.type")
                                               : strdup_printf("plugins[%zu].ipam.type", i);
                        return cni__fail(err, r, "ipam plugin %s: not found in the bin dirs", p->ipam);
                }
        }
        return 0;
}

int cni_network_validate(const struct cni_network *n, char *const *bin_dirs, struct cni_error *err)
{
        _cleanup_free_ char *field = NULL;
        int r = validate(n, bin_dirs, &field, err);
        if (r < 0)
                cni_error_prefix(err, "%s%s%s", n->file ? n->file : n->name, field ? ": " : "",
                                 field ? field : "");
        return r;
}

/* ---- a directory --------------------------------------------------------------------------------------------- */

struct cni_config *cni_config_free(struct cni_config *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_networks; i++)
                cni_network_unref(c->networks[i]);
        free(c->networks);
        for (size_t i = 0; i < c->n_errors; i++) {
                free(c->errors[i].file);
                free(c->errors[i].field);
                free(c->errors[i].reason);
        }
        free(c->errors);
        free(c);
        return NULL;
}

struct cni_network *cni_config_default(const struct cni_config *c)
{
        return c && c->n_networks > 0 ? c->networks[0] : NULL;
}

struct cni_network *cni_config_find(const struct cni_config *c, const char *name)
{
        for (size_t i = 0; c && name && i < c->n_networks; i++)
                if (streq(c->networks[i]->name, name))
                        return c->networks[i];
        return NULL;
}

static void add_error(struct cni_config *c, const char *file, char *field, char *reason)
{
        c->errors = OOM_CHECK(reallocarray(c->errors, c->n_errors + 1, sizeof *c->errors));
        c->errors[c->n_errors++] = (struct cni_load_error){
                .file = xstrdup(file), .field = field ? field : xstrdup(""), .reason = reason};
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void load_file(struct cni_config *c, const char *path, char *const *bin_dirs)
{
        _cleanup_free_ char *data = NULL, *field = NULL, *reason = NULL;
        _cleanup_(cni_network_unrefp) struct cni_network *net = NULL;
        struct cni_error err = {0};
        json_error_t jerr;
        size_t len;
        int r;

        r = read_file_limit(path, CONF_MAX, &data, &len);
        if (r < 0) {
                add_error(c, path, NULL,
                          r == -EFBIG ? xstrdup("larger than 1 MiB")
                                      : strdup_printf("read: %s", strerror(-r)));
                return;
        }
        _cleanup_json_ json_t *root = json_loadb(data, len, 0, &jerr);
        if (!root) {
                add_error(c, path, NULL,
                          strdup_printf("invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                                        jerr.text));
                return;
        }
        if (cni__network_from_json(root, path, &net, &field, &reason) < 0) {
                add_error(c, path, TAKE_PTR(field), TAKE_PTR(reason));
                return;
        }
        struct cni_network *other = cni_config_find(c, net->name);
        if (other) {
                add_error(c, path, xstrdup("name"),
                          strdup_printf("network \"%s\" is already defined by %s", net->name, other->file));
                return;
        }
        if (validate(net, bin_dirs, &field, &err) < 0) {
                add_error(c, path, TAKE_PTR(field), xstrdup(err.msg));
                return;
        }
        c->networks = OOM_CHECK(reallocarray(c->networks, c->n_networks + 1, sizeof *c->networks));
        c->networks[c->n_networks++] = TAKE_PTR(net);
}

int cni_config_load(const char *dir, char *const *bin_dirs, struct cni_config **ret)
{
        _cleanup_strv_free_ char **names = NULL;
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (str_has_suffix(de->d_name, ".conflist") || str_has_suffix(de->d_name, ".conf") ||
                    str_has_suffix(de->d_name, ".json"))
                        strv_push(&names, xstrdup(de->d_name));
        closedir(d);
        if (names)
                qsort(names, strv_length(names), sizeof *names, cmp_str);

        struct cni_config *c = OOM_CHECK(calloc(1, sizeof *c));
        for (size_t i = 0; names && names[i]; i++) {
                _cleanup_free_ char *path = strdup_printf("%s/%s", dir, names[i]);
                struct stat st;
                if (stat(path, &st) < 0 || S_ISDIR(st.st_mode))
                        continue; /* a dangling link or a directory named *.conf: not a config file */
                load_file(c, path, bin_dirs);
        }
        *ret = c;
        return 0;
}

int cni_config_ready(const char *dir, char *const *bin_dirs, struct cni_error *err)
{
        _cleanup_(cni_config_freep) struct cni_config *c = NULL;
        int r = cni_config_load(dir, bin_dirs, &c);

        if (r < 0)
                return cni__fail(err, r, "no network config in %s: %s", dir, strerror(-r));
        if (c->n_networks > 0)
                return 0;
        if (c->n_errors == 0)
                return cni__fail(err, -ENOENT, "no network config found in %s", dir);
        const struct cni_load_error *e = &c->errors[0];
        return cni__fail(err, -EINVAL, "no valid network config in %s: %s: %s%s%s", dir, e->file, e->field,
                         *e->field ? ": " : "", e->reason);
}
