/* A container's environment as upstream builds it: the Services' variables, envFrom sources, then env with
 * $(VAR) references expanded and valueFrom resolved. */
#include "envvars.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "expansion.h"
#include "objcache.h"
#include "services.h"
#include "util.h"

static const struct container *find_spec(const struct pod *pod, const char *name)
{
        for (size_t i = 0; i < pod->n_containers; i++)
                if (streq(pod->containers[i].name, name))
                        return &pod->containers[i];
        for (size_t i = 0; i < pod->n_init_containers; i++)
                if (streq(pod->init_containers[i].name, name))
                        return &pod->init_containers[i];
        return NULL;
}

/* 1.20's rule: letters, digits, '_', '-', '.', not starting with a digit. */
static bool is_env_name(const char *s)
{
        if (!*s || isdigit((unsigned char) *s))
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && *s != '_' && *s != '-' && *s != '.')
                        return false;
        return true;
}

static void env_set(char ***env, const char *name, const char *value)
{
        for (char **p = *env; p && *p; p += 2)
                if (streq(p[0], name)) {
                        free(p[1]);
                        p[1] = xstrdup(value);
                        return;
                }
        strv_push(env, xstrdup(name));
        strv_push(env, xstrdup(value));
}

/* The object, or an error in upstream's words. Static pods may not use API objects. */
static int get_object(const struct env_ctx *ctx, const struct pod *pod, const char *resource,
                      const char *name, json_t **ret, char *err, size_t errlen)
{
        const char *kind = streq(resource, "secrets") ? "secret" : "configmap";
        const char *src = pod_annotation(pod, "kubernetes.io/config.source");
        if (src && !streq(src, "api")) {
                snprintf(err, errlen, "static pods may not reference API objects: %s \"%s\"", kind, name);
                return -EPERM;
        }
        if (!ctx->objects) {
                snprintf(err, errlen, "%s \"%s\": no API server is configured", kind, name);
                return -ENOENT;
        }
        return obj_cache_get(ctx->objects, resource, pod->namespace, name, ctx->timeout_ms, ret, err,
                             errlen);
}

/* A key of a ConfigMap's data or a Secret's data (base64), as upstream's env uses them; NULL if absent. */
static char *object_value(json_t *obj, bool secret, const char *key)
{
        const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), key));
        if (v && !secret)
                return xstrdup(v);
        if (!v)
                return NULL;
        char *out;
        size_t len;
        if (base64_decode(v, &out, &len) < 0)
                return NULL;
        return out;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Go's %q for the strings labels and annotations hold: quotes, backslashes and control bytes escaped. */
static char *go_quote(const char *s)
{
        size_t n = strlen(s);
        char *out = OOM_CHECK(malloc(n * 4 + 3)), *o = out;
        *o++ = '"';
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\') {
                        *o++ = '\\';
                        *o++ = (char) *p;
                } else if (*p == '\n')
                        o += sprintf(o, "\\n");
                else if (*p == '\t')
                        o += sprintf(o, "\\t");
                else if (*p == '\r')
                        o += sprintf(o, "\\r");
                else if (*p < 0x20 || *p == 0x7f)
                        o += sprintf(o, "\\x%02x", *p);
                else
                        *o++ = (char) *p;
        }
        *o++ = '"';
        *o = 0;
        return out;
}

int env_field_ref(const struct env_ctx *ctx, const struct pod *pod, const char *path, char **ret, char *err,
                  size_t errlen)
{
        char key[256];
        json_t *meta = json_object_get(pod->json, "metadata"), *spec = json_object_get(pod->json, "spec");
        const char *v = NULL;

        if (streq(path, "metadata.name"))
                v = pod->name;
        else if (streq(path, "metadata.namespace"))
                v = pod->namespace;
        else if (streq(path, "metadata.uid"))
                v = pod->uid;
        else if (streq(path, "spec.nodeName"))
                v = pod->node_name;
        else if (streq(path, "spec.serviceAccountName"))
                v = json_string_value(json_object_get(spec, "serviceAccountName"));
        else if (streq(path, "status.hostIP") || streq(path, "status.hostIPs"))
                v = ctx->host_ip;
        else if (streq(path, "status.podIP") || streq(path, "status.podIPs"))
                v = pod->host_network ? ctx->host_ip : ctx->pod_ip;
        else if ((sscanf(path, "metadata.labels['%255[^']']", key) == 1 ||
                  sscanf(path, "metadata.annotations['%255[^']']", key) == 1)) {
                bool labels = str_has_prefix(path, "metadata.labels");
                v = json_string_value(
                        json_object_get(json_object_get(meta, labels ? "labels" : "annotations"), key));
        } else if (streq(path, "metadata.labels") || streq(path, "metadata.annotations")) {
                /* the downward API's k="v" lines, sorted by key, values quoted as Go's %q */
                json_t *m = json_object_get(meta, str_has_prefix(path, "metadata.labels") ? "labels"
                                                                                          : "annotations");
                const char *k;
                json_t *x;
                _cleanup_strv_free_ char **keys = NULL;
                json_object_foreach(m, k, x) strv_push(&keys, xstrdup(k));
                if (keys)
                        qsort(keys, strv_length(keys), sizeof *keys, cmp_str);
                _cleanup_free_ char *acc = xstrdup("");
                for (char **kp = keys; kp && *kp; kp++) {
                        _cleanup_free_ char *q = go_quote(json_string_value(json_object_get(m, *kp)) ?: "");
                        char *n = strdup_printf("%s%s%s=%s", acc, *acc ? "\n" : "", *kp, q);
                        free(acc);
                        acc = n;
                }
                *ret = TAKE_PTR(acc);
                return 0;
        } else {
                snprintf(err, errlen, "unsupported fieldRef: %s", path);
                return -EINVAL;
        }
        *ret = xstrdup(v ? v : "");
        return 0;
}

/* Bytes in thousandths, saturated. */
static int64_t bytes_milli(int64_t bytes)
{
        return bytes > INT64_MAX / 1000 ? INT64_MAX : bytes * 1000;
}

int env_resource_ref(const struct env_ctx *ctx, const struct pod *pod, const char *container, json_t *ref,
                     char **ret, char *err, size_t errlen)
{
        const char *cname = json_string_value(json_object_get(ref, "containerName"));
        const char *res = json_string_value(json_object_get(ref, "resource"));
        const char *div = json_string_value(json_object_get(ref, "divisor"));
        const struct container *c = find_spec(pod, cname && *cname ? cname : container);
        int64_t divisor = 1000; /* thousandths of the unit: "1" */
        if (!c || !res) {
                snprintf(err, errlen, "resourceFieldRef: container or resource not found");
                return -EINVAL;
        }
        if (div && *div && (parse_quantity_milli(div, &divisor) < 0 || divisor < 0)) {
                snprintf(err, errlen, "resourceFieldRef: invalid divisor \"%s\"", div);
                return -EINVAL;
        }
        if (divisor == 0) /* the API server defaults it to "0", which means 1 */
                divisor = 1000;
        int64_t milli;
        const char *huge = str_has_prefix(res, "requests.hugepages-") ? res + strlen("requests.")
                           : str_has_prefix(res, "limits.hugepages-") ? res + strlen("limits.")
                                                                      : NULL;
        if (streq(res, "limits.cpu"))
                milli = c->cpu_limit_m > 0 ? c->cpu_limit_m : ctx->node_cpu_m;
        else if (streq(res, "requests.cpu"))
                milli = c->cpu_request_m > 0 ? c->cpu_request_m : 0;
        else if (streq(res, "limits.memory"))
                milli = bytes_milli(c->mem_limit > 0 ? c->mem_limit : ctx->node_mem);
        else if (streq(res, "requests.memory"))
                milli = bytes_milli(c->mem_request > 0 ? c->mem_request : 0);
        else if (streq(res, "limits.ephemeral-storage"))
                milli = bytes_milli(c->eph_limit > 0 ? c->eph_limit : ctx->node_ephemeral);
        else if (streq(res, "requests.ephemeral-storage"))
                milli = bytes_milli(c->eph_request > 0 ? c->eph_request : 0);
        else if (huge) {
                /* Upstream's: the quantity under that very name (hugepages' requests are their limits). */
                milli = 0;
                for (size_t i = 0; i < c->n_scalar_requests; i++)
                        if (streq(c->scalar_requests[i].name, huge))
                                milli = bytes_milli(c->scalar_requests[i].value);
        } else {
                snprintf(err, errlen, "resourceFieldRef: unsupported resource \"%s\"", res);
                return -EINVAL;
        }
        /* Rounded up, as upstream: 250m of cpu with divisor 1 is "1". */
        *ret = strdup_printf("%lld", (long long) (milli / divisor + (milli % divisor != 0)));
        return 0;
}

static int cmp_strp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int env_from(const struct env_ctx *ctx, const struct pod *pod, json_t *src, char ***env,
                    char ***warnings, char *err, size_t errlen)
{
        json_t *cm = json_object_get(src, "configMapRef"), *sec = json_object_get(src, "secretRef");
        json_t *ref = cm ? cm : sec;
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *prefix = json_string_value(json_object_get(src, "prefix")) ?: "";
        bool optional = json_is_true(json_object_get(ref, "optional"));
        json_t *obj = NULL;
        if (!ref || !name)
                return 0;
        int r = get_object(ctx, pod, sec ? "secrets" : "configmaps", name, &obj, err, errlen);
        if (r == -ENOENT && optional)
                return 0;
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **bad = NULL;
        const char *k;
        json_t *x;
        json_object_foreach(json_object_get(obj, "data"), k, x)
        {
                char *full = strdup_printf("%s%s", prefix, k);
                if (!is_env_name(full)) {
                        strv_push(&bad, full);
                        continue;
                }
                _cleanup_free_ char *v = object_value(obj, sec != NULL, k);
                env_set(env, full, v ? v : "");
                free(full);
        }
        /* upstream: one event per source, the keys sorted */
        if (bad && warnings) {
                qsort(bad, strv_length(bad), sizeof *bad, cmp_strp);
                _cleanup_free_ char *keys = strv_join(bad, ", ");
                strv_push(warnings,
                          strdup_printf("Keys [%s] from the EnvFrom %s %s/%s were skipped since they "
                                        "are considered invalid environment variable names.",
                                        keys, sec ? "secret" : "configMap", pod->namespace, name));
        }
        json_decref(obj);
        return 0;
}

/* One env entry's value: value with its references expanded against the variables so far (env) and the
 * Services' (svc), or valueFrom resolved. *ret stays NULL when an optional source is missing (the variable
 * is then not set at all). */
static int env_value(const struct env_ctx *ctx, const struct pod *pod, const char *container, json_t *e,
                     char **env, char **svc, char **ret, char *err, size_t errlen)
{
        const char *value = json_string_value(json_object_get(e, "value"));
        json_t *vf = json_object_get(e, "valueFrom");
        *ret = NULL;
        if (value && value[0]) {
                *ret = expand_env(value, env, svc);
                return 0;
        }
        if (!json_is_object(vf)) {
                *ret = xstrdup("");
                return 0;
        }
        json_t *fr = json_object_get(vf, "fieldRef"), *rr = json_object_get(vf, "resourceFieldRef");
        json_t *ck = json_object_get(vf, "configMapKeyRef"), *sk = json_object_get(vf, "secretKeyRef");
        if (fr)
                return env_field_ref(ctx, pod, json_string_value(json_object_get(fr, "fieldPath")) ?: "",
                                     ret, err, errlen);
        if (rr)
                return env_resource_ref(ctx, pod, container, rr, ret, err, errlen);
        if (!ck && !sk) {
                *ret = xstrdup("");
                return 0;
        }
        json_t *ref = ck ? ck : sk, *obj = NULL;
        const char *oname = json_string_value(json_object_get(ref, "name")) ?: "";
        const char *key = json_string_value(json_object_get(ref, "key")) ?: "";
        bool optional = json_is_true(json_object_get(ref, "optional"));
        int r = get_object(ctx, pod, sk ? "secrets" : "configmaps", oname, &obj, err, errlen);
        if (r == -ENOENT && optional)
                return 0;
        if (r < 0)
                return r;
        *ret = object_value(obj, sk != NULL, key);
        json_decref(obj);
        if (*ret || optional)
                return 0;
        snprintf(err, errlen, "couldn't find key %s in %s %s/%s", key, sk ? "Secret" : "ConfigMap",
                 pod->namespace, oname);
        return -ENOENT;
}

int container_env_build(const struct env_ctx *ctx, const struct pod *pod, const char *container, char **svc,
                        char ***ret, char ***ret_warnings, char *err, size_t errlen)
{
        json_t *c = pod_container_json(pod, container), *e;
        _cleanup_strv_free_ char **env = NULL, **warnings = NULL;
        size_t i;
        int r;

        json_array_foreach(json_object_get(c, "envFrom"), i, e)
        {
                if ((r = env_from(ctx, pod, e, &env, &warnings, err, errlen)) < 0)
                        return r;
        }
        json_array_foreach(json_object_get(c, "env"), i, e)
        {
                const char *name = json_string_value(json_object_get(e, "name"));
                _cleanup_free_ char *value = NULL;
                if (!name)
                        continue;
                if ((r = env_value(ctx, pod, container, e, env, svc, &value, err, errlen)) < 0)
                        return r;
                if (value)
                        env_set(&env, name, value);
        }
        /* The Services' variables last, each unless the container set that name itself. */
        for (char **p = svc; p && p[0] && p[1]; p += 2)
                if (!env_lookup(env, p[0], strlen(p[0]))) {
                        strv_push(&env, xstrdup(p[0]));
                        strv_push(&env, xstrdup(p[1]));
                }
        *ret = TAKE_PTR(env);
        if (ret_warnings)
                *ret_warnings = TAKE_PTR(warnings);
        return 0;
}

int container_env(const struct env_ctx *ctx, const struct pod *pod, const char *container, char ***ret,
                  char ***ret_warnings, char *err, size_t errlen)
{
        _cleanup_strv_free_ char **svc = NULL;

        if (ret_warnings)
                *ret_warnings = NULL;
        /* The Services first, as upstream: a pod from the API server does not start before they are read. */
        if (ctx->services) {
                json_t *links = json_object_get(json_object_get(pod->json, "spec"), "enableServiceLinks");
                const char *src = pod_annotation(pod, "kubernetes.io/config.source");
                if (svc_cache_env(ctx->services, pod->namespace, !json_is_false(links),
                                  !src || streq(src, "api"), &svc) < 0) {
                        snprintf(err, errlen,
                                 "services have not yet been read at least once, cannot construct envvars");
                        return -EAGAIN;
                }
        }
        return container_env_build(ctx, pod, container, svc, ret, ret_warnings, err, errlen);
}

bool container_env_needs_pod_ip(const struct pod *pod, const char *container)
{
        json_t *e;
        size_t i;
        json_array_foreach(json_object_get(pod_container_json(pod, container), "env"), i, e)
        {
                const char *fp = json_string_value(json_object_get(
                        json_object_get(json_object_get(e, "valueFrom"), "fieldRef"), "fieldPath"));
                if (fp && str_has_prefix(fp, "status.podIP"))
                        return true;
        }
        return false;
}
