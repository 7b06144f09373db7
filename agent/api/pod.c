/* The Pod API type: decoding from the API's JSON, defaulting and validation as the API server does. */
#include "pod.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>

#include "macro.h"
#include "pod_fields.h"
#include "util.h"

struct pod *pod_ref(struct pod *p)
{
        if (p)
                atomic_fetch_add(&p->refs, 1);
        return p;
}

static void kvs_free(struct kv *kv, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(kv[i].key);
                free(kv[i].value);
        }
        free(kv);
}

void probe_spec_free(struct probe_spec *p)
{
        if (!p)
                return;
        strv_free(p->command);
        free(p->path);
        free(p->host);
        free(p->scheme);
        for (size_t i = 0; i < p->n_headers; i++) {
                free(p->headers[i].name);
                free(p->headers[i].value);
        }
        free(p->headers);
        free(p->port_name);
        free(p->service);
        free(p);
}

static void qtys_free(struct resource_qty *q, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(q[i].name);
        free(q);
}

static void container_done(struct container *c)
{
        probe_spec_free(c->liveness);
        probe_spec_free(c->readiness);
        probe_spec_free(c->startup);
        probe_spec_free(c->post_start);
        probe_spec_free(c->pre_stop);
        free(c->name);
        free(c->image);
        free(c->image_pull_policy);
        strv_free(c->command);
        strv_free(c->args);
        free(c->working_dir);
        for (size_t i = 0; i < c->n_env; i++) {
                free(c->env[i].name);
                free(c->env[i].value);
        }
        free(c->env);
        for (size_t i = 0; i < c->n_ports; i++) {
                free(c->ports[i].name);
                free(c->ports[i].protocol);
                free(c->ports[i].host_ip);
        }
        free(c->ports);
        for (size_t i = 0; i < c->n_mounts; i++) {
                free(c->mounts[i].name);
                free(c->mounts[i].mount_path);
                free(c->mounts[i].sub_path);
                free(c->mounts[i].sub_path_expr);
        }
        free(c->mounts);
        free(c->termination_message_path);
        free(c->termination_message_policy);
        qtys_free(c->scalar_requests, c->n_scalar_requests);
}

static void pod_free(struct pod *p)
{
        free(p->name);
        free(p->namespace);
        free(p->uid);
        kvs_free(p->labels, p->n_labels);
        kvs_free(p->annotations, p->n_annotations);
        for (size_t i = 0; i < p->n_init_containers; i++)
                container_done(&p->init_containers[i]);
        free(p->init_containers);
        for (size_t i = 0; i < p->n_containers; i++)
                container_done(&p->containers[i]);
        free(p->containers);
        for (size_t i = 0; i < p->n_volumes; i++) {
                free(p->volumes[i].name);
                free(p->volumes[i].kind_name);
                free(p->volumes[i].host_path);
                free(p->volumes[i].host_path_type);
                free(p->volumes[i].medium);
        }
        free(p->volumes);
        free(p->restart_policy);
        strv_free(p->readiness_gates);
        free(p->dns_policy);
        free(p->hostname);
        free(p->subdomain);
        free(p->node_name);
        for (size_t i = 0; i < p->n_host_aliases; i++) {
                free(p->host_aliases[i].ip);
                strv_free(p->host_aliases[i].hostnames);
        }
        free(p->host_aliases);
        if (p->dns_config) {
                strv_free(p->dns_config->nameservers);
                strv_free(p->dns_config->searches);
                for (size_t i = 0; i < p->dns_config->n_options; i++) {
                        free(p->dns_config->options[i].name);
                        free(p->dns_config->options[i].value);
                }
                free(p->dns_config->options);
                free(p->dns_config);
        }
        free(p->runtime_class_name);
        qtys_free(p->overhead.scalars, p->overhead.n_scalars);
        strv_free(p->unsupported);
        json_decref(p->json);
        free(p);
}

struct pod *pod_unref(struct pod *p)
{
        if (p && atomic_fetch_sub(&p->refs, 1) == 1)
                pod_free(p);
        return NULL;
}

const char *pod_full_name(const struct pod *p, char *buf, size_t len)
{
        snprintf(buf, len, "%s/%s", p->namespace, p->name);
        return buf;
}

json_t *pod_container_json(const struct pod *p, const char *name)
{
        json_t *spec = json_object_get(p->json, "spec"), *c;
        const char *lists[] = {"containers", "initContainers"};
        size_t i;
        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                json_array_foreach(json_object_get(spec, lists[l]), i, c)
                {
                        if (streq_ptr(json_string_value(json_object_get(c, "name")), name))
                                return c;
                }
        return NULL;
}

const char *pod_annotation(const struct pod *p, const char *key)
{
        for (size_t i = 0; i < p->n_annotations; i++)
                if (streq(p->annotations[i].key, key))
                        return p->annotations[i].value;
        return NULL;
}

void api_problems_clear(struct api_problems *pr)
{
        pr->errors = strv_free(pr->errors);
        pr->warnings = strv_free(pr->warnings);
}

char *api_problems_errors(const struct api_problems *pr)
{
        return pr->errors && pr->errors[0] ? strv_join(pr->errors, "; ") : NULL;
}

char *api_problems_warnings(const struct api_problems *pr)
{
        return pr->warnings && pr->warnings[0] ? strv_join(pr->warnings, "; ") : NULL;
}

static void add_error(struct api_problems *pr, const char *path, const char *fmt, ...) _printf_(3, 4);
static void add_error(struct api_problems *pr, const char *path, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                xmalloc_oom();
        va_end(ap);
        strv_push(&pr->errors, strdup_printf("%s: %s", path, msg));
}

/* ---- validation helpers ---- */

static bool dns1123_label_chars(const char *s, size_t len)
{
        if (len == 0 || !isalnum((unsigned char) s[0]) || !isalnum((unsigned char) s[len - 1]))
                return false;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = s[i];
                if (!(islower(c) || isdigit(c) || c == '-'))
                        return false;
        }
        return true;
}

bool is_dns1123_label(const char *s)
{
        size_t len = strlen(s);
        return len <= 63 && dns1123_label_chars(s, len);
}

bool is_dns1123_subdomain(const char *s)
{
        size_t len = strlen(s);
        if (len == 0 || len > 253)
                return false;
        for (const char *p = s;;) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t) (dot - p) : strlen(p);
                if (!dns1123_label_chars(p, n))
                        return false;
                if (!dot)
                        return true;
                p = dot + 1;
        }
}

static bool is_qualified_part(const char *s, size_t n)
{
        if (n == 0 || n > 63 || !isalnum((unsigned char) s[0]) || !isalnum((unsigned char) s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

bool is_qualified_name(const char *s)
{
        const char *slash = strchr(s, '/');
        if (!slash)
                return is_qualified_part(s, strlen(s));
        _cleanup_free_ char *prefix = OOM_CHECK(strndup(s, (size_t) (slash - s)));
        return is_dns1123_subdomain(prefix) && is_qualified_part(slash + 1, strlen(slash + 1));
}

static const char *json_type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
                return "integer";
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        default:
                return "null";
        }
}

/* ---- typed field access with paths ---- */

static void check_fields(struct api_problems *pr, json_t *obj, const char *path, const char *const *known)
{
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v)
        {
                bool ok = false;
                for (const char *const *p = known; *p && !ok; p++)
                        ok = streq(*p, k);
                if (!ok)
                        strv_push(&pr->warnings,
                                  strdup_printf("%s%s%s: unknown field", path, *path ? "." : "", k));
        }
}

static char *child(const char *path, const char *key)
{
        return *path ? strdup_printf("%s.%s", path, key) : xstrdup(key);
}

/* Returns the member when present and not null; type errors are recorded and NULL returned. */
static json_t *get_typed(struct api_problems *pr, json_t *obj, const char *path, const char *key,
                         json_type type)
{
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return NULL;
        bool ok = json_typeof(v) == type || (type == JSON_TRUE && json_is_boolean(v));
        if (!ok) {
                static const char *const names[] = {
                        [JSON_OBJECT] = "object",   [JSON_ARRAY] = "array", [JSON_STRING] = "string",
                        [JSON_INTEGER] = "integer", [JSON_REAL] = "number", [JSON_TRUE] = "boolean",
                        [JSON_FALSE] = "boolean",   [JSON_NULL] = "null"};
                _cleanup_free_ char *p = child(path, key);
                add_error(pr, p, "Invalid type: expected %s, got %s", names[type], json_type_name(v));
                return NULL;
        }
        return v;
}

/* A required field is missing only when absent or null; a wrong type is reported by get_typed already. */
static bool absent(json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);
        return !v || json_is_null(v);
}

static char *get_str(struct api_problems *pr, json_t *obj, const char *path, const char *key)
{
        json_t *v = get_typed(pr, obj, path, key, JSON_STRING);
        return v ? xstrdup(json_string_value(v)) : NULL;
}

static bool get_bool(struct api_problems *pr, json_t *obj, const char *path, const char *key)
{
        json_t *v = get_typed(pr, obj, path, key, JSON_TRUE);
        return v && json_is_true(v);
}

static bool get_int(struct api_problems *pr, json_t *obj, const char *path, const char *key, int64_t *ret)
{
        json_t *v = get_typed(pr, obj, path, key, JSON_INTEGER);
        if (!v)
                return false;
        *ret = json_integer_value(v);
        return true;
}

static char **get_strv(struct api_problems *pr, json_t *obj, const char *path, const char *key)
{
        json_t *arr = get_typed(pr, obj, path, key, JSON_ARRAY), *e;
        char **v = NULL;
        size_t i;
        if (!arr)
                return NULL;
        json_array_foreach(arr, i, e)
        {
                if (!json_is_string(e)) {
                        _cleanup_free_ char *p = child(path, key);
                        add_error(pr, p, "Invalid type: element %zu: expected string, got %s", i,
                                  json_type_name(e));
                        return strv_free(v);
                }
                strv_push(&v, xstrdup(json_string_value(e)));
        }
        if (!v) /* an empty list is still a list */
                v = OOM_CHECK(calloc(1, sizeof(char *)));
        return v;
}

static void get_map(struct api_problems *pr, json_t *obj, const char *path, const char *key, struct kv **ret,
                    size_t *ret_n)
{
        json_t *m = get_typed(pr, obj, path, key, JSON_OBJECT), *v;
        const char *k;
        *ret = NULL;
        *ret_n = 0;
        if (!m)
                return;
        *ret = OOM_CHECK(calloc(json_object_size(m) + 1, sizeof(struct kv)));
        json_object_foreach(m, k, v)
        {
                if (!json_is_string(v)) {
                        _cleanup_free_ char *p = child(path, key);
                        add_error(pr, p, "Invalid type: value of \"%s\": expected string, got %s", k,
                                  json_type_name(v));
                        continue;
                }
                (*ret)[*ret_n].key = xstrdup(k);
                (*ret)[*ret_n].value = xstrdup(json_string_value(v));
                (*ret_n)++;
        }
}

/* ---- defaulting ---- */

static void set_default_str(json_t *obj, const char *key, const char *value)
{
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v) || (json_is_string(v) && !json_string_value(v)[0]))
                json_object_set_new(obj, key, json_string(value));
}

static void set_default_int(json_t *obj, const char *key, json_int_t value)
{
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                json_object_set_new(obj, key, json_integer(value));
}

static void set_default_bool(json_t *obj, const char *key, bool value)
{
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                json_object_set_new(obj, key, json_boolean(value));
}

/* Upstream: Always when the tag is latest or absent (and no digest), else IfNotPresent. */
static const char *default_pull_policy(const char *image)
{
        if (strchr(image, '@'))
                return "IfNotPresent";
        const char *slash = strrchr(image, '/');
        const char *colon = strrchr(slash ? slash : image, ':');
        if (!colon || streq(colon + 1, "latest"))
                return "Always";
        return "IfNotPresent";
}

static void default_containers(json_t *list)
{
        size_t i;
        json_t *c;
        if (!json_is_array(list))
                return;
        json_array_foreach(list, i, c)
        {
                if (!json_is_object(c))
                        continue;
                json_t *image = json_object_get(c, "image");
                if (json_is_string(image) && json_string_value(image)[0])
                        set_default_str(c, "imagePullPolicy", default_pull_policy(json_string_value(image)));
                set_default_str(c, "terminationMessagePath", "/dev/termination-log");
                set_default_str(c, "terminationMessagePolicy", "File");
                json_t *ports = json_object_get(c, "ports"), *port;
                size_t j;
                if (json_is_array(ports))
                        json_array_foreach(ports, j, port) if (json_is_object(port))
                                set_default_str(port, "protocol", "TCP");
                if (!json_object_get(c, "resources"))
                        json_object_set_new(c, "resources", json_object());
        }
}

void pod_json_apply_defaults(json_t *pod)
{
        json_t *spec = json_object_get(pod, "spec");
        if (!json_is_object(spec))
                return;
        set_default_str(spec, "restartPolicy", "Always");
        set_default_int(spec, "terminationGracePeriodSeconds", 30);
        set_default_str(spec, "dnsPolicy", "ClusterFirst");
        set_default_str(spec, "schedulerName", "default-scheduler");
        set_default_bool(spec, "enableServiceLinks", true);
        if (!json_object_get(spec, "securityContext"))
                json_object_set_new(spec, "securityContext", json_object());
        default_containers(json_object_get(spec, "initContainers"));
        default_containers(json_object_get(spec, "containers"));
        json_t *vols = json_object_get(spec, "volumes"), *v;
        size_t i;
        if (json_is_array(vols))
                json_array_foreach(vols, i, v)
                {
                        json_t *hp = json_is_object(v) ? json_object_get(v, "hostPath") : NULL;
                        if (json_is_object(hp))
                                set_default_str(hp, "type", "");
                }
}

/* ---- decoding ---- */

static const char *const pod_fields[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
static const char *const meta_fields[] = {"name",
                                          "generateName",
                                          "namespace",
                                          "selfLink",
                                          "uid",
                                          "resourceVersion",
                                          "generation",
                                          "creationTimestamp",
                                          "deletionTimestamp",
                                          "deletionGracePeriodSeconds",
                                          "labels",
                                          "annotations",
                                          "ownerReferences",
                                          "finalizers",
                                          "clusterName",
                                          "managedFields",
                                          NULL};
static const char *const spec_fields[] = {"volumes",
                                          "initContainers",
                                          "containers",
                                          "ephemeralContainers",
                                          "restartPolicy",
                                          "terminationGracePeriodSeconds",
                                          "activeDeadlineSeconds",
                                          "dnsPolicy",
                                          "nodeSelector",
                                          "serviceAccountName",
                                          "serviceAccount",
                                          "automountServiceAccountToken",
                                          "nodeName",
                                          "hostNetwork",
                                          "hostPID",
                                          "hostIPC",
                                          "shareProcessNamespace",
                                          "securityContext",
                                          "imagePullSecrets",
                                          "hostname",
                                          "subdomain",
                                          "affinity",
                                          "schedulerName",
                                          "tolerations",
                                          "hostAliases",
                                          "priorityClassName",
                                          "priority",
                                          "dnsConfig",
                                          "readinessGates",
                                          "runtimeClassName",
                                          "enableServiceLinks",
                                          "preemptionPolicy",
                                          "overhead",
                                          "topologySpreadConstraints",
                                          "setHostnameAsFQDN",
                                          "os",
                                          "hostUsers",
                                          "schedulingGates",
                                          "resourceClaims",
                                          "resources",
                                          NULL};
static const char *const container_fields[] = {"name",
                                               "image",
                                               "command",
                                               "args",
                                               "workingDir",
                                               "ports",
                                               "envFrom",
                                               "env",
                                               "resources",
                                               "resizePolicy",
                                               "restartPolicy",
                                               "volumeMounts",
                                               "volumeDevices",
                                               "livenessProbe",
                                               "readinessProbe",
                                               "startupProbe",
                                               "lifecycle",
                                               "terminationMessagePath",
                                               "terminationMessagePolicy",
                                               "imagePullPolicy",
                                               "securityContext",
                                               "stdin",
                                               "stdinOnce",
                                               "tty",
                                               NULL};
static const char *const port_fields[] = {"name", "hostPort", "containerPort", "protocol", "hostIP", NULL};
static const char *const env_fields[] = {"name", "value", "valueFrom", NULL};
static const char *const mount_fields[] = {"name",    "readOnly",         "recursiveReadOnly", "mountPath",
                                           "subPath", "mountPropagation", "subPathExpr",       NULL};
static const char *const volume_sources[] = {"hostPath",
                                             "emptyDir",
                                             "gcePersistentDisk",
                                             "awsElasticBlockStore",
                                             "gitRepo",
                                             "secret",
                                             "nfs",
                                             "iscsi",
                                             "glusterfs",
                                             "persistentVolumeClaim",
                                             "rbd",
                                             "flexVolume",
                                             "cinder",
                                             "cephfs",
                                             "flocker",
                                             "downwardAPI",
                                             "fc",
                                             "azureFile",
                                             "configMap",
                                             "vsphereVolume",
                                             "quobyte",
                                             "azureDisk",
                                             "photonPersistentDisk",
                                             "projected",
                                             "portworxVolume",
                                             "scaleIO",
                                             "storageos",
                                             "csi",
                                             "ephemeral",
                                             "image",
                                             NULL};

static bool in_list(const char *s, const char *const *list)
{
        for (; *list; list++)
                if (streq(s, *list))
                        return true;
        return false;
}

bool pod_volume_source_known(const char *kind)
{
        return in_list(kind, volume_sources);
}

static void check_enum(struct api_problems *pr, const char *path, const char *value,
                       const char *const *allowed)
{
        char buf[256] = "";
        if (!value || in_list(value, allowed))
                return;
        for (const char *const *a = allowed; *a; a++)
                snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s\"%s\"", a == allowed ? "" : ", ",
                         *a);
        add_error(pr, path, "Unsupported value: \"%s\": supported values: %s", value, buf);
}

int parse_quantity_milli(const char *s, int64_t *ret)
{
        static const struct {
                const char *suffix;
                long double mult;
        } sfx[] = {{"Ki", 1024.0L},
                   {"Mi", 1048576.0L},
                   {"Gi", 1073741824.0L},
                   {"Ti", 1099511627776.0L},
                   {"Pi", 1125899906842624.0L},
                   {"Ei", 1152921504606846976.0L},
                   {"m", 1e-3L},
                   {"k", 1e3L},
                   {"M", 1e6L},
                   {"G", 1e9L},
                   {"T", 1e12L},
                   {"P", 1e15L},
                   {"E", 1e18L},
                   {"", 1.0L}};
        char *end;
        long double v;

        if (!s || !*s || isspace((unsigned char) *s) || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtold(s, &end);
        if (errno || end == s)
                return -EINVAL;
        if (strchr(s, 'x') || strchr(s, 'X') || strchr(s, 'n') || strchr(s, 'N'))
                return -EINVAL; /* no hex, inf or nan */
        for (size_t i = 0; i < ELEMENTSOF(sfx); i++)
                if (streq(end, sfx[i].suffix)) {
                        long double m = v * sfx[i].mult * 1000.0L;
                        if (m > 9.2e18L)
                                return -ERANGE;
                        /* Upstream rounds up to the smallest unit it keeps. */
                        int64_t r = (int64_t) m;
                        if ((long double) r < m)
                                r++;
                        *ret = r;
                        return 0;
                }
        return -EINVAL;
}

static struct resource_qty *qty_find(struct resource_qty *q, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (streq(q[i].name, name))
                        return &q[i];
        return NULL;
}

static void qty_add(struct resource_qty **q, size_t *n, const char *name, int64_t value)
{
        *q = OOM_CHECK(realloc(*q, (*n + 1) * sizeof **q));
        (*q)[(*n)++] = (struct resource_qty){xstrdup(name), value};
}

int64_t pod_hugepage_size(const char *resource)
{
        int64_t milli = 0;
        if (!str_has_prefix(resource, "hugepages-") ||
            parse_quantity_milli(resource + strlen("hugepages-"), &milli) < 0 || milli < 1000 ||
            milli % 1000 != 0)
                return -1;
        return milli / 1000;
}

int64_t container_hugepages(const struct container *c, int64_t page_size)
{
        int64_t sum = 0;
        for (size_t i = 0; i < c->n_scalar_requests; i++)
                if (pod_hugepage_size(c->scalar_requests[i].name) == page_size)
                        sum = add_sat(sum, c->scalar_requests[i].value);
        return sum;
}

bool resource_is_native(const char *name)
{
        return !strchr(name, '/') || strstr(name, "kubernetes.io/");
}

bool resource_is_extended(const char *name)
{
        return !resource_is_native(name) && !str_has_prefix(name, "requests.");
}

/* Upstream: requests of extended resources and hugepages may not differ from their limits. */
static bool overcommit_allowed(const char *name)
{
        return resource_is_native(name) && !str_has_prefix(name, "hugepages-");
}

/* A quantity as JSON (a string, or a number) in thousandths of its unit. */
static int json_quantity_milli(json_t *v, int64_t *ret)
{
        if (json_is_string(v))
                return parse_quantity_milli(json_string_value(v), ret);
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= INT64_MAX / 1000) {
                *ret = json_integer_value(v) * 1000;
                return 0;
        }
        if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 9.2e15) {
                *ret = (int64_t) (json_real_value(v) * 1000.0);
                return 0;
        }
        return -EINVAL;
}

/* Whole units, rounded up (Quantity.Value()). */
static int64_t milli_to_units(int64_t milli)
{
        return milli / 1000 + (milli % 1000 != 0);
}

/* One ResourceList (requests, limits, overhead): cpu in millicores, memory and ephemeral-storage in
 * bytes (untouched when absent), every other resource into *scalars. Container lists check names as
 * upstream's validateContainerResourceName and ValidateResourceQuantityValue do. */
static void decode_resource_list(struct api_problems *pr, json_t *m, const char *path, bool container,
                                 int64_t *cpu_m, int64_t *mem, int64_t *eph, struct resource_qty **scalars,
                                 size_t *n_scalars)
{
        const char *name;
        json_t *v;
        json_object_foreach(m, name, v)
        {
                char q[700];
                int64_t milli = 0;
                snprintf(q, sizeof q, "%s[%s]", path, name);
                if (json_quantity_milli(v, &milli) < 0) {
                        add_error(pr, q, "Invalid value: must be a quantity such as \"100m\" or \"128Mi\"");
                        continue;
                }
                if (streq(name, "cpu"))
                        *cpu_m = milli;
                else if (streq(name, "memory"))
                        *mem = milli_to_units(milli);
                else if (streq(name, "ephemeral-storage"))
                        *eph = milli_to_units(milli);
                else if (container && !strchr(name, '/') && !str_has_prefix(name, "hugepages-"))
                        add_error(pr, q, "Invalid value: \"%s\": must be a standard resource for containers",
                                  name);
                else if (resource_is_extended(name) && milli % 1000 != 0)
                        add_error(pr, q, "Invalid value: \"%s\": must be an integer",
                                  json_string_value(v) ?: "");
                else
                        qty_add(scalars, n_scalars, name, milli_to_units(milli));
        }
}

/* resources.{requests,limits}: a number or a quantity string each. */
static void decode_resources(struct api_problems *pr, json_t *obj, const char *path, struct container *c)
{
        json_t *res = get_typed(pr, obj, path, "resources", JSON_OBJECT);
        char rp[600], lp[700], qp[700];
        struct resource_qty *limits = NULL;
        size_t n_limits = 0;
        c->cpu_request_m = c->cpu_limit_m = c->mem_request = c->mem_limit = c->eph_request = c->eph_limit =
                -1;
        if (!res)
                return;
        snprintf(rp, sizeof rp, "%s.resources", path);
        snprintf(lp, sizeof lp, "%s.limits", rp);
        snprintf(qp, sizeof qp, "%s.requests", rp);
        json_t *m = get_typed(pr, res, rp, "limits", JSON_OBJECT);
        if (m)
                decode_resource_list(pr, m, lp, true, &c->cpu_limit_m, &c->mem_limit, &c->eph_limit, &limits,
                                     &n_limits);
        m = get_typed(pr, res, rp, "requests", JSON_OBJECT);
        if (m)
                decode_resource_list(pr, m, qp, true, &c->cpu_request_m, &c->mem_request, &c->eph_request,
                                     &c->scalar_requests, &c->n_scalar_requests);
        /* API server defaulting: a limit without a request sets the request. */
        if (c->cpu_request_m < 0 && c->cpu_limit_m >= 0)
                c->cpu_request_m = c->cpu_limit_m;
        if (c->mem_request < 0 && c->mem_limit >= 0)
                c->mem_request = c->mem_limit;
        if (c->eph_request < 0 && c->eph_limit >= 0)
                c->eph_request = c->eph_limit;
        for (size_t i = 0; i < n_limits; i++)
                if (!qty_find(c->scalar_requests, c->n_scalar_requests, limits[i].name))
                        qty_add(&c->scalar_requests, &c->n_scalar_requests, limits[i].name, limits[i].value);
        for (size_t i = 0; i < c->n_scalar_requests; i++) {
                const struct resource_qty *rq = &c->scalar_requests[i];
                const struct resource_qty *lim = qty_find(limits, n_limits, rq->name);
                if (overcommit_allowed(rq->name))
                        continue;
                if (!lim)
                        add_error(pr, lp,
                                  "Required value: Limit must be set for non overcommitable resources");
                else if (lim->value != rq->value)
                        add_error(pr, qp, "Invalid value: %lld: must be equal to %s limit",
                                  (long long) rq->value, rq->name);
        }
        qtys_free(limits, n_limits);
        /* Every hugepages limit became a request above; cpu or memory, asked or limited, became a request. */
        for (size_t i = 0; i < c->n_scalar_requests; i++)
                if (str_has_prefix(c->scalar_requests[i].name, "hugepages-") && c->cpu_request_m < 0 &&
                    c->mem_request < 0) {
                        add_error(pr, rp, "Forbidden: HugePages require cpu or memory");
                        break;
                }
        const char *over = c->cpu_limit_m >= 0 && c->cpu_request_m > c->cpu_limit_m ? "cpu"
                           : c->mem_limit >= 0 && c->mem_request > c->mem_limit     ? "memory"
                           : c->eph_limit >= 0 && c->eph_request > c->eph_limit     ? "ephemeral-storage"
                                                                                    : NULL;
        if (over) {
                char op[800];
                snprintf(op, sizeof op, "%s[%s]", qp, over);
                add_error(pr, op, "Invalid value: must be less than or equal to %s limit", over);
        }
}

/* spec.overhead, as a container's requests are counted. */
static void decode_overhead(struct api_problems *pr, json_t *spec, struct pod *pod)
{
        json_t *m = get_typed(pr, spec, "spec", "overhead", JSON_OBJECT);
        if (m)
                decode_resource_list(pr, m, "spec.overhead", false, &pod->overhead.cpu_m,
                                     &pod->overhead.memory, &pod->overhead.ephemeral, &pod->overhead.scalars,
                                     &pod->overhead.n_scalars);
}

bool pod_is_static(const struct pod *p)
{
        const char *src = pod_annotation(p, "kubernetes.io/config.source");
        return src && !streq(src, "api");
}

bool pod_is_critical(const struct pod *p)
{
        if (pod_is_static(p) || pod_annotation(p, "kubernetes.io/config.mirror"))
                return true;
        json_t *prio = json_object_get(json_object_get(p->json, "spec"), "priority");
        return json_is_integer(prio) && json_integer_value(prio) >= POD_SYSTEM_CRITICAL_PRIORITY;
}

const char *pod_qos_class(const struct pod *p)
{
        bool any = false, guaranteed = true;
        size_t n = p->n_init_containers + p->n_containers;
        for (size_t i = 0; i < n; i++) {
                const struct container *c = i < p->n_init_containers
                                                    ? &p->init_containers[i]
                                                    : &p->containers[i - p->n_init_containers];
                if (c->cpu_request_m >= 0 || c->cpu_limit_m >= 0 || c->mem_request >= 0 || c->mem_limit >= 0)
                        any = true;
                if (c->cpu_limit_m < 0 || c->mem_limit < 0 || c->cpu_request_m != c->cpu_limit_m ||
                    c->mem_request != c->mem_limit)
                        guaranteed = false;
        }
        if (!any)
                return "BestEffort";
        return guaranteed ? "Guaranteed" : "Burstable";
}

static const char *const probe_fields[] = {"exec",
                                           "httpGet",
                                           "tcpSocket",
                                           "grpc",
                                           "initialDelaySeconds",
                                           "timeoutSeconds",
                                           "periodSeconds",
                                           "successThreshold",
                                           "failureThreshold",
                                           "terminationGracePeriodSeconds",
                                           NULL};

/* A probe's port: a number, or the name of one of the container's ports. */
static void probe_port(struct api_problems *pr, json_t *h, const char *path, const struct container *c,
                       struct probe_spec *p)
{
        json_t *port = json_object_get(h, "port");
        char q[700];
        snprintf(q, sizeof q, "%s.port", path);
        if (json_is_integer(port)) {
                json_int_t v = json_integer_value(port);
                if (v < 1 || v > 65535)
                        add_error(pr, q, "Invalid value: %lld: must be between 1 and 65535, inclusive",
                                  (long long) v);
                p->port = (int32_t) v;
        } else if (json_is_string(port)) {
                const char *name = json_string_value(port);
                free(p->port_name);
                p->port = 0;
                p->port_name = xstrdup(name);
                for (size_t i = 0; i < c->n_ports && !p->port; i++)
                        if (streq_ptr(c->ports[i].name, name))
                                p->port = c->ports[i].container_port;
                if (!p->port) { /* upstream also accepts a number written as a string */
                        char *end;
                        long v = strtol(name, &end, 10);
                        if (*name && !*end && v >= 1 && v <= 65535)
                                p->port = (int32_t) v;
                        else
                                add_error(pr, q, "Invalid value: \"%s\": no container port has this name",
                                          name);
                }
        } else
                add_error(pr, q, "Required value");
}

static const char *const hook_fields[] = {"exec", "httpGet", "tcpSocket", "sleep", NULL};
static const char *const grpc_fields[] = {"port", "service", NULL};

/* grpc: {port (a number only: GRPCAction.port is an int32), service}, as the API server decodes and
 * validates it (1.24+). */
static void decode_grpc(struct api_problems *pr, json_t *h, const char *path, struct probe_spec *p)
{
        char q[800];
        int64_t port = 0;
        check_fields(pr, h, path, grpc_fields);
        snprintf(q, sizeof q, "%s.port", path);
        bool typed = get_int(pr, h, path, "port", &port) || absent(h, "port");
        if (typed && (port < 1 || port > 65535))
                add_error(pr, q, "Invalid value: %lld: must be between 1 and 65535, inclusive",
                          (long long) port);
        p->port = port >= 1 && port <= 65535 ? (int32_t) port : 0;
        p->service = get_str(pr, h, path, "service");
}

/* A probe, or (hook) a lifecycle handler: exec, httpGet, tcpSocket, and sleep for handlers. */
static struct probe_spec *decode_handler(struct api_problems *pr, json_t *obj, const char *cpath,
                                         const char *key, const struct container *c, bool hook)
{
        json_t *o = get_typed(pr, obj, cpath, key, JSON_OBJECT), *h;
        char path[600], q[700];
        int64_t v;
        int handlers = 0;

        if (!o)
                return NULL;
        snprintf(path, sizeof path, "%s.%s", cpath, key);
        check_fields(pr, o, path, hook ? hook_fields : probe_fields);
        struct probe_spec *p = OOM_CHECK(calloc(1, sizeof *p));
        p->timeout_s = 1;
        p->period_s = 10;
        p->success_threshold = 1;
        p->failure_threshold = 3;
        p->termination_grace_s = -1;
        if ((h = get_typed(pr, o, path, "exec", JSON_OBJECT))) {
                handlers++;
                p->kind = PROBE_EXEC;
                snprintf(q, sizeof q, "%s.exec", path);
                p->command = get_strv(pr, h, q, "command");
                if (!p->command || !p->command[0])
                        add_error(pr, strcat(q, ".command"), "Required value");
        }
        if ((h = get_typed(pr, o, path, "httpGet", JSON_OBJECT))) {
                handlers++;
                p->kind = PROBE_HTTP_GET;
                snprintf(q, sizeof q, "%s.httpGet", path);
                p->path = get_str(pr, h, q, "path");
                free(p->host);
                p->host = get_str(pr, h, q, "host");
                p->scheme = get_str(pr, h, q, "scheme");
                static const char *const schemes[] = {"HTTP", "HTTPS", NULL};
                char sq[800];
                snprintf(sq, sizeof sq, "%s.scheme", q);
                check_enum(pr, sq, p->scheme, schemes);
                probe_port(pr, h, q, c, p);
                json_t *hdrs = get_typed(pr, h, q, "httpHeaders", JSON_ARRAY), *e;
                size_t i;
                if (hdrs) {
                        p->headers = OOM_CHECK(calloc(json_array_size(hdrs) + 1, sizeof *p->headers));
                        json_array_foreach(hdrs, i, e)
                        {
                                snprintf(sq, sizeof sq, "%s.httpHeaders[%zu]", q, i);
                                if (!json_is_object(e))
                                        continue;
                                p->headers[p->n_headers].name = get_str(pr, e, sq, "name");
                                p->headers[p->n_headers].value = get_str(pr, e, sq, "value");
                                if (!p->headers[p->n_headers].name)
                                        add_error(pr, strcat(sq, ".name"), "Required value");
                                p->n_headers++;
                        }
                }
        }
        if ((h = get_typed(pr, o, path, "tcpSocket", JSON_OBJECT))) {
                handlers++;
                p->kind = PROBE_TCP_SOCKET;
                snprintf(q, sizeof q, "%s.tcpSocket", path);
                free(p->host);
                p->host = get_str(pr, h, q, "host");
                probe_port(pr, h, q, c, p);
        }
        if (hook && (h = get_typed(pr, o, path, "sleep", JSON_OBJECT))) {
                handlers++;
                p->kind = PROBE_SLEEP;
                snprintf(q, sizeof q, "%s.sleep", path);
                if (!get_int(pr, h, q, "seconds", &p->sleep_s) || p->sleep_s < 0)
                        add_error(pr, strcat(q, ".seconds"),
                                  "Invalid value: must be a non-negative integer");
        }
        if (!hook && (h = get_typed(pr, o, path, "grpc", JSON_OBJECT))) {
                handlers++;
                p->kind = PROBE_GRPC;
                snprintf(q, sizeof q, "%s.grpc", path);
                decode_grpc(pr, h, q, p);
        }
        if (handlers != 1)
                add_error(pr, path,
                          handlers ? "Forbidden: may not specify more than 1 handler type"
                                   : "Required value: must specify a handler type");
        if (hook)
                return p;
        static const struct {
                const char *key;
                size_t off;
                int min;
        } ints[] = {{"initialDelaySeconds", offsetof(struct probe_spec, initial_delay_s), 0},
                    {"timeoutSeconds", offsetof(struct probe_spec, timeout_s), 1},
                    {"periodSeconds", offsetof(struct probe_spec, period_s), 1},
                    {"successThreshold", offsetof(struct probe_spec, success_threshold), 1},
                    {"failureThreshold", offsetof(struct probe_spec, failure_threshold), 1}};
        for (size_t i = 0; i < ELEMENTSOF(ints); i++)
                if (get_int(pr, o, path, ints[i].key, &v)) {
                        snprintf(q, sizeof q, "%s.%s", path, ints[i].key);
                        if (v < ints[i].min || v > INT32_MAX)
                                add_error(pr, q, "Invalid value: %lld: must be greater than or equal to %d",
                                          (long long) v, ints[i].min);
                        else
                                *(int32_t *) ((char *) p + ints[i].off) = (int32_t) v;
                }
        if (get_int(pr, o, path, "terminationGracePeriodSeconds", &v))
                p->termination_grace_s = v;
        if (!streq(key, "readinessProbe") && p->success_threshold != 1) {
                snprintf(q, sizeof q, "%s.successThreshold", path);
                add_error(pr, q, "Invalid value: %d: must be 1", p->success_threshold);
        }
        return p;
}

char *handler_to_json(const struct probe_spec *h)
{
        json_t *o;
        switch (h->kind) {
        case PROBE_EXEC: {
                json_t *cmd = json_array();
                for (char **a = h->command; a && *a; a++)
                        json_array_append_new(cmd, json_string(*a));
                o = json_pack("{s:{s:o}}", "exec", "command", cmd);
                break;
        }
        case PROBE_HTTP_GET: {
                json_t *g =
                        json_pack("{s:s, s:i, s:s, s:s}", "path", h->path ? h->path : "/", "port", h->port,
                                  "host", h->host ? h->host : "", "scheme", h->scheme ? h->scheme : "HTTP");
                json_t *hdrs = json_array();
                for (size_t i = 0; i < h->n_headers; i++)
                        json_array_append_new(hdrs,
                                              json_pack("{s:s, s:s}", "name", h->headers[i].name, "value",
                                                        h->headers[i].value ? h->headers[i].value : ""));
                json_object_set_new(g, "httpHeaders", hdrs);
                o = json_pack("{s:o}", "httpGet", g);
                break;
        }
        case PROBE_TCP_SOCKET:
                o = json_pack("{s:{s:i, s:s}}", "tcpSocket", "port", h->port, "host",
                              h->host ? h->host : "");
                break;
        case PROBE_SLEEP:
                o = json_pack("{s:{s:I}}", "sleep", "seconds", (json_int_t) h->sleep_s);
                break;
        default:
                return NULL;
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        return s;
}

struct probe_spec *handler_from_json(const char *text)
{
        struct api_problems pr = {0};
        struct container dummy = {0};
        json_t *o = json_loads(text, 0, NULL);
        json_t *wrap = o ? json_pack("{s:o}", "h", o) : NULL;
        struct probe_spec *h = wrap ? decode_handler(&pr, wrap, "", "h", &dummy, true) : NULL;
        json_decref(wrap);
        if (pr.errors) {
                probe_spec_free(h);
                h = NULL;
        }
        api_problems_clear(&pr);
        return h;
}

static void container_hash(struct container *c, json_t *obj)
{
        _cleanup_free_ char *s = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
        uint64_t h = hash_fnv1a64(s, s ? strlen(s) : 0, HASH_FNV_SEED);
        snprintf(c->hash, sizeof c->hash, "%016llx", (unsigned long long) h);
}

bool path_has_backstep(const char *path)
{
        for (const char *s = path; *s;) {
                size_t len = strcspn(s, "/");
                if (len == 2 && s[0] == '.' && s[1] == '.')
                        return true;
                s += len;
                s += *s == '/';
        }
        return false;
}

/* The API server's validateLocalDescendingPath: relative, no ".." component. Its field path names the list,
 * not the entry (spec.containers[0].volumeMounts.subPath), as upstream's does. */
static void check_descending_path(struct api_problems *pr, const char *container_path, const char *field,
                                  const char *value)
{
        char q[600];
        snprintf(q, sizeof q, "%s.volumeMounts.%s", container_path, field);
        if (value[0] == '/')
                add_error(pr, q, "Invalid value: \"%s\": must be a relative path", value);
        if (path_has_backstep(value))
                add_error(pr, q, "Invalid value: \"%s\": must not contain '..'", value);
}

static void check_sub_paths(struct api_problems *pr, const char *container_path, const char *mount_path,
                            const struct volume_mount *m)
{
        bool sub = m->sub_path && m->sub_path[0], expr = m->sub_path_expr && m->sub_path_expr[0];
        if (sub)
                check_descending_path(pr, container_path, "subPath", m->sub_path);
        if (!expr)
                return;
        if (sub) {
                char q[600];
                snprintf(q, sizeof q, "%s.subPathExpr", mount_path);
                add_error(pr, q, "Invalid value: \"%s\": subPathExpr and subPath are mutually exclusive",
                          m->sub_path_expr);
        }
        check_descending_path(pr, container_path, "subPathExpr", m->sub_path_expr);
}

/* recursiveReadOnly as the API server validates it (pod_fields.c refuses "Enabled": the runtime cannot). */
static void validate_recursive_read_only(struct api_problems *pr, json_t *e, const char *path,
                                         const struct volume_mount *m)
{
        static const char *const values[] = {"Disabled", "IfPossible", "Enabled", NULL};
        _cleanup_free_ char *rro = get_str(pr, e, path, "recursiveReadOnly");
        char q[700];
        snprintf(q, sizeof q, "%s.recursiveReadOnly", path);
        check_enum(pr, q, rro, values);
        if (!rro || streq(rro, "Disabled"))
                return;
        if (!m->read_only)
                add_error(pr, q, "Forbidden: may only be specified when readOnly is true");
        if (m->propagation != PROPAGATION_NONE)
                add_error(pr, q,
                          "Forbidden: may only be specified when mountPropagation is None or not "
                          "specified");
}

/* A container's own restartPolicy exists only for init containers (sidecars, refused by pod_fields.c). */
static void validate_container_restart_policy(struct api_problems *pr, json_t *obj, const char *path)
{
        static const char *const values[] = {"Always", NULL};
        _cleanup_free_ char *rp = get_str(pr, obj, path, "restartPolicy");
        char q[600];
        if (!rp)
                return;
        snprintf(q, sizeof q, "%s.restartPolicy", path);
        if (!str_has_prefix(path, "spec.initContainers"))
                add_error(pr, q, "Forbidden: may not be set for non-init containers");
        else
                check_enum(pr, q, rp, values);
}

static void decode_container(struct api_problems *pr, json_t *obj, const char *path, struct container *c)
{
        static const char *const pull[] = {"Always", "IfNotPresent", "Never", NULL};
        static const char *const protos[] = {"TCP", "UDP", "SCTP", NULL};
        static const char *const tmp[] = {"File", "FallbackToLogsOnError", NULL};
        char p[512];
        json_t *arr, *e;
        size_t i;

        check_fields(pr, obj, path, container_fields);
        c->name = get_str(pr, obj, path, "name");
        c->image = get_str(pr, obj, path, "image");
        c->image_pull_policy = get_str(pr, obj, path, "imagePullPolicy");
        c->command = get_strv(pr, obj, path, "command");
        c->args = get_strv(pr, obj, path, "args");
        c->working_dir = get_str(pr, obj, path, "workingDir");
        c->termination_message_path = get_str(pr, obj, path, "terminationMessagePath");
        c->termination_message_policy = get_str(pr, obj, path, "terminationMessagePolicy");
        c->tty = get_bool(pr, obj, path, "tty");
        c->stdin_open = get_bool(pr, obj, path, "stdin");
        c->stdin_once = get_bool(pr, obj, path, "stdinOnce");
        validate_container_restart_policy(pr, obj, path);

        snprintf(p, sizeof p, "%s.name", path);
        if (!c->name || !c->name[0]) {
                if (absent(obj, "name") || c->name)
                        add_error(pr, p, "Required value");
        } else if (!is_dns1123_label(c->name))
                add_error(pr, p,
                          "Invalid value: \"%s\": a lowercase RFC 1123 label must consist of lower case "
                          "alphanumeric characters or '-', and must start and end with an alphanumeric "
                          "character",
                          c->name);
        snprintf(p, sizeof p, "%s.image", path);
        if (!c->image || !c->image[0]) {
                if (absent(obj, "image") || c->image)
                        add_error(pr, p, "Required value");
        } else if (isspace((unsigned char) c->image[0]) ||
                   isspace((unsigned char) c->image[strlen(c->image) - 1]))
                add_error(pr, p, "Invalid value: \"%s\": must not have leading or trailing whitespace",
                          c->image);
        snprintf(p, sizeof p, "%s.imagePullPolicy", path);
        check_enum(pr, p, c->image_pull_policy, pull);
        snprintf(p, sizeof p, "%s.terminationMessagePolicy", path);
        check_enum(pr, p, c->termination_message_policy, tmp);

        if ((arr = get_typed(pr, obj, path, "env", JSON_ARRAY))) {
                c->env = OOM_CHECK(calloc(json_array_size(arr) + 1, sizeof *c->env));
                json_array_foreach(arr, i, e)
                {
                        snprintf(p, sizeof p, "%s.env[%zu]", path, i);
                        if (!json_is_object(e)) {
                                add_error(pr, p, "Invalid type: expected object, got %s", json_type_name(e));
                                continue;
                        }
                        check_fields(pr, e, p, env_fields);
                        struct env_var *ev = &c->env[c->n_env++];
                        ev->name = get_str(pr, e, p, "name");
                        ev->value = get_str(pr, e, p, "value");
                        if (!ev->name || !ev->name[0])
                                add_error(pr, strcat(p, ".name"), "Required value");
                }
        }
        if ((arr = get_typed(pr, obj, path, "ports", JSON_ARRAY))) {
                c->ports = OOM_CHECK(calloc(json_array_size(arr) + 1, sizeof *c->ports));
                json_array_foreach(arr, i, e)
                {
                        snprintf(p, sizeof p, "%s.ports[%zu]", path, i);
                        if (!json_is_object(e)) {
                                add_error(pr, p, "Invalid type: expected object, got %s", json_type_name(e));
                                continue;
                        }
                        check_fields(pr, e, p, port_fields);
                        struct container_port *cp = &c->ports[c->n_ports++];
                        int64_t v = 0;
                        cp->name = get_str(pr, e, p, "name");
                        cp->protocol = get_str(pr, e, p, "protocol");
                        cp->host_ip = get_str(pr, e, p, "hostIP");
                        char q[600];
                        snprintf(q, sizeof q, "%s.containerPort", p);
                        if (!get_int(pr, e, p, "containerPort", &v)) {
                                if (absent(e, "containerPort"))
                                        add_error(pr, q, "Required value");
                        } else if (v < 1 || v > 65535)
                                add_error(pr, q,
                                          "Invalid value: %lld: must be between 1 and 65535, inclusive",
                                          (long long) v);
                        cp->container_port = (int32_t) v;
                        v = 0;
                        snprintf(q, sizeof q, "%s.hostPort", p);
                        if (get_int(pr, e, p, "hostPort", &v) && (v < 0 || v > 65535))
                                add_error(pr, q,
                                          "Invalid value: %lld: must be between 1 and 65535, inclusive",
                                          (long long) v);
                        cp->host_port = (int32_t) v;
                        snprintf(q, sizeof q, "%s.protocol", p);
                        check_enum(pr, q, cp->protocol, protos);
                        snprintf(q, sizeof q, "%s.name", p);
                        if (cp->name && (strlen(cp->name) > 15 || !is_dns1123_label(cp->name)))
                                add_error(pr, q,
                                          "Invalid value: \"%s\": must be no more than 15 characters and a "
                                          "lowercase RFC 1123 label",
                                          cp->name);
                }
        }
        if ((arr = get_typed(pr, obj, path, "volumeMounts", JSON_ARRAY))) {
                c->mounts = OOM_CHECK(calloc(json_array_size(arr) + 1, sizeof *c->mounts));
                json_array_foreach(arr, i, e)
                {
                        snprintf(p, sizeof p, "%s.volumeMounts[%zu]", path, i);
                        if (!json_is_object(e)) {
                                add_error(pr, p, "Invalid type: expected object, got %s", json_type_name(e));
                                continue;
                        }
                        check_fields(pr, e, p, mount_fields);
                        struct volume_mount *m = &c->mounts[c->n_mounts++];
                        m->name = get_str(pr, e, p, "name");
                        m->mount_path = get_str(pr, e, p, "mountPath");
                        m->sub_path = get_str(pr, e, p, "subPath");
                        m->sub_path_expr = get_str(pr, e, p, "subPathExpr");
                        m->read_only = get_bool(pr, e, p, "readOnly");
                        char q[600];
                        snprintf(q, sizeof q, "%s.mountPath", p);
                        if ((!m->mount_path || !m->mount_path[0]) &&
                            (absent(e, "mountPath") || m->mount_path))
                                add_error(pr, q, "Required value");
                        snprintf(q, sizeof q, "%s.name", p);
                        if ((!m->name || !m->name[0]) && (absent(e, "name") || m->name))
                                add_error(pr, q, "Required value");
                        for (size_t k = 0; k + 1 < c->n_mounts && m->mount_path; k++)
                                if (streq_ptr(c->mounts[k].mount_path, m->mount_path)) {
                                        snprintf(q, sizeof q, "%s.mountPath", p);
                                        add_error(pr, q, "Invalid value: \"%s\": must be unique",
                                                  m->mount_path);
                                }
                        _cleanup_free_ char *prop = get_str(pr, e, p, "mountPropagation");
                        snprintf(q, sizeof q, "%s.mountPropagation", p);
                        if (!prop || streq(prop, "None"))
                                m->propagation = PROPAGATION_NONE;
                        else if (streq(prop, "HostToContainer"))
                                m->propagation = PROPAGATION_HOST_TO_CONTAINER;
                        else if (streq(prop, "Bidirectional"))
                                m->propagation = PROPAGATION_BIDIRECTIONAL;
                        else
                                add_error(pr, q,
                                          "Unsupported value: \"%s\": supported values: \"Bidirectional\", "
                                          "\"HostToContainer\", \"None\"",
                                          prop);
                        if (m->propagation == PROPAGATION_BIDIRECTIONAL &&
                            !json_is_true(
                                    json_object_get(json_object_get(obj, "securityContext"), "privileged")))
                                add_error(pr, q,
                                          "Forbidden: Bidirectional mount propagation is available only to "
                                          "privileged containers");
                        check_sub_paths(pr, path, p, m);
                        validate_recursive_read_only(pr, e, p, m);
                }
        }
        decode_resources(pr, obj, path, c);
        c->liveness = decode_handler(pr, obj, path, "livenessProbe", c, false);
        c->readiness = decode_handler(pr, obj, path, "readinessProbe", c, false);
        c->startup = decode_handler(pr, obj, path, "startupProbe", c, false);
        json_t *lc = get_typed(pr, obj, path, "lifecycle", JSON_OBJECT);
        if (lc) {
                static const char *const lc_fields[] = {"postStart", "preStop", "stopSignal", NULL};
                char lp[600];
                snprintf(lp, sizeof lp, "%s.lifecycle", path);
                check_fields(pr, lc, lp, lc_fields);
                c->post_start = decode_handler(pr, lc, lp, "postStart", c, true);
                c->pre_stop = decode_handler(pr, lc, lp, "preStop", c, true);
        }
        container_hash(c, obj);
}

static void decode_containers(struct api_problems *pr, json_t *spec, const char *key, struct container **ret,
                              size_t *ret_n)
{
        json_t *arr = get_typed(pr, spec, "spec", key, JSON_ARRAY), *e;
        size_t i;
        *ret = NULL;
        *ret_n = 0;
        if (!arr)
                return;
        *ret = OOM_CHECK(calloc(json_array_size(arr) + 1, sizeof(struct container)));
        json_array_foreach(arr, i, e)
        {
                char p[128];
                snprintf(p, sizeof p, "spec.%s[%zu]", key, i);
                if (!json_is_object(e)) {
                        add_error(pr, p, "Invalid type: expected object, got %s", json_type_name(e));
                        continue;
                }
                decode_container(pr, e, p, &(*ret)[(*ret_n)++]);
        }
}

static void decode_volumes(struct api_problems *pr, json_t *spec, struct pod *pod)
{
        json_t *arr = get_typed(pr, spec, "spec", "volumes", JSON_ARRAY), *e;
        size_t i;
        if (!arr)
                return;
        pod->volumes = OOM_CHECK(calloc(json_array_size(arr) + 1, sizeof *pod->volumes));
        json_array_foreach(arr, i, e)
        {
                char p[128];
                snprintf(p, sizeof p, "spec.volumes[%zu]", i);
                if (!json_is_object(e)) {
                        add_error(pr, p, "Invalid type: expected object, got %s", json_type_name(e));
                        continue;
                }
                struct volume *v = &pod->volumes[pod->n_volumes++];
                v->name = get_str(pr, e, p, "name");
                v->kind = VOLUME_UNSUPPORTED;
                const char *k;
                json_t *src;
                int n_sources = 0;
                json_object_foreach(e, k, src)
                {
                        if (streq(k, "name"))
                                continue;
                        if (!in_list(k, volume_sources)) {
                                strv_push(&pr->warnings, strdup_printf("%s.%s: unknown field", p, k));
                                continue;
                        }
                        n_sources++;
                        free(v->kind_name);
                        v->kind_name = xstrdup(k);
                }
                char q[256];
                snprintf(q, sizeof q, "%s.name", p);
                if (!v->name || !v->name[0])
                        add_error(pr, q, "Required value");
                else if (!is_dns1123_label(v->name))
                        add_error(pr, q,
                                  "Invalid value: \"%s\": a lowercase RFC 1123 label must consist of "
                                  "lower case alphanumeric characters or '-'",
                                  v->name);
                if (n_sources != 1) {
                        add_error(pr, p,
                                  n_sources ? "Forbidden: may not specify more than 1 volume type"
                                            : "Required value: must specify a volume type");
                        continue;
                }
                if (streq(v->kind_name, "emptyDir")) {
                        json_t *ed = get_typed(pr, e, p, "emptyDir", JSON_OBJECT);
                        v->kind = VOLUME_EMPTY_DIR;
                        if (ed) {
                                snprintf(q, sizeof q, "%s.emptyDir", p);
                                v->medium = get_str(pr, ed, q, "medium");
                        }
                } else if (streq(v->kind_name, "configMap")) {
                        v->kind = VOLUME_CONFIG_MAP;
                } else if (streq(v->kind_name, "secret")) {
                        v->kind = VOLUME_SECRET;
                } else if (streq(v->kind_name, "downwardAPI")) {
                        v->kind = VOLUME_DOWNWARD_API;
                } else if (streq(v->kind_name, "projected")) {
                        v->kind = VOLUME_PROJECTED;
                } else if (streq(v->kind_name, "hostPath")) {
                        json_t *hp = get_typed(pr, e, p, "hostPath", JSON_OBJECT);
                        v->kind = VOLUME_HOST_PATH;
                        snprintf(q, sizeof q, "%s.hostPath", p);
                        if (hp) {
                                v->host_path = get_str(pr, hp, q, "path");
                                v->host_path_type = get_str(pr, hp, q, "type");
                        }
                        strcat(q, ".path");
                        if (!v->host_path || !v->host_path[0])
                                add_error(pr, q, "Required value");
                }
        }
}

/* ---- a pod's names: hostAliases, dnsConfig, subdomain, runtimeClassName ---- */

#define DNS1123_LABEL_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?"

/* The regular expressions alone, without the length limits (the API server reports those apart). */
static bool dns1123_subdomain_chars(const char *s)
{
        if (!s[0])
                return false;
        for (const char *p = s;;) {
                size_t n = strcspn(p, ".");
                if (!dns1123_label_chars(p, n))
                        return false;
                if (!p[n])
                        return true;
                p += n + 1;
        }
}

/* The API server's ValidateDNS1123Subdomain / ValidateDNS1123Label messages, in full. */
static void check_dns1123(struct api_problems *pr, const char *path, const char *v, bool label)
{
        size_t max = label ? 63 : 253;
        if (strlen(v) > max)
                add_error(pr, path, "Invalid value: \"%s\": must be no more than %zu characters", v, max);
        if (label && !dns1123_label_chars(v, strlen(v)))
                add_error(pr, path,
                          "Invalid value: \"%s\": a lowercase RFC 1123 label must consist of lower case "
                          "alphanumeric characters or '-', and must start and end with an alphanumeric "
                          "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                          "'" DNS1123_LABEL_FMT "')",
                          v);
        else if (!label && !dns1123_subdomain_chars(v))
                add_error(pr, path,
                          "Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of lower case "
                          "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                          "character (e.g. 'example.com', regex used for validation is '" DNS1123_LABEL_FMT
                          "(\\." DNS1123_LABEL_FMT ")*')",
                          v);
}

static bool is_ip(const char *s)
{
        unsigned char buf[16];
        return s && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

/* A list as Go's %#v prints it: []string{"a", "b"}. */
static char *go_strv(char *const *v)
{
        size_t len = 16;
        for (char *const *p = v; p && *p; p++)
                len += strlen(*p) + 4;
        char *out = OOM_CHECK(malloc(len)), *o = out;
        o += sprintf(o, "[]string{");
        for (char *const *p = v; p && *p; p++)
                o += sprintf(o, "%s\"%s\"", p == v ? "" : ", ", *p);
        sprintf(o, "}");
        return out;
}

static void decode_host_aliases(struct api_problems *pr, json_t *spec, struct pod *pod)
{
        static const char *const alias_fields[] = {"ip", "hostnames", NULL};
        json_t *list = get_typed(pr, spec, "spec", "hostAliases", JSON_ARRAY), *e;
        size_t i;
        if (!list)
                return;
        pod->host_aliases = OOM_CHECK(calloc(json_array_size(list) + 1, sizeof *pod->host_aliases));
        json_array_foreach(list, i, e)
        {
                char p[64];
                snprintf(p, sizeof p, "spec.hostAliases[%zu]", i);
                if (!json_is_object(e)) {
                        add_error(pr, p, "Invalid type: expected object, got %s", json_type_name(e));
                        continue;
                }
                check_fields(pr, e, p, alias_fields);
                struct host_alias *a = &pod->host_aliases[pod->n_host_aliases++];
                a->ip = get_str(pr, e, p, "ip");
                a->hostnames = get_strv(pr, e, p, "hostnames");
                /* The API server names neither the alias's index nor the hostname's here. */
                if (!is_ip(a->ip))
                        add_error(pr, "spec.hostAliases.ip",
                                  "Invalid value: \"%s\": must be valid IP address", a->ip ? a->ip : "");
                for (char **h = a->hostnames; h && *h; h++)
                        check_dns1123(pr, "spec.hostAliases.hostnames", *h, false);
        }
}

static void decode_dns_options(struct api_problems *pr, json_t *dc, struct pod_dns_config *c)
{
        static const char *const option_fields[] = {"name", "value", NULL};
        json_t *list = get_typed(pr, dc, "spec.dnsConfig", "options", JSON_ARRAY), *e;
        size_t i;
        if (!list)
                return;
        c->options = OOM_CHECK(calloc(json_array_size(list) + 1, sizeof *c->options));
        json_array_foreach(list, i, e)
        {
                char p[64];
                snprintf(p, sizeof p, "spec.dnsConfig.options[%zu]", i);
                if (!json_is_object(e)) {
                        add_error(pr, p, "Invalid type: expected object, got %s", json_type_name(e));
                        continue;
                }
                check_fields(pr, e, p, option_fields);
                struct dns_option *o = &c->options[c->n_options++];
                o->name = get_str(pr, e, p, "name");
                o->value = get_str(pr, e, p, "value");
                if (!o->name || !o->name[0]) {
                        add_error(pr, p, "Required value: must not be empty");
                        free(o->name);
                        o->name = xstrdup("");
                }
                /* Beyond the API server: each option is one word of resolv.conf's "options" line, so a
                 * newline or a blank would write lines of the pod author's choosing into it. */
                for (const char *const *f = (const char *const[]){o->name, o->value, NULL}; *f; f++)
                        for (const unsigned char *ch = (const unsigned char *) *f; *ch; ch++)
                                if (*ch <= ' ' || *ch == 0x7f) {
                                        add_error(
                                                pr, p,
                                                "Invalid value: \"%s\": must not contain blanks or control "
                                                "characters",
                                                *f);
                                        goto next;
                                }
        next:;
        }
}

/* The API server's validatePodDNSConfig. */
static void validate_dns_config(struct api_problems *pr, const struct pod *pod)
{
        const struct pod_dns_config *c = pod->dns_config;
        char p[64];
        if (streq_ptr(pod->dns_policy, "None")) {
                if (!c) {
                        add_error(pr, "spec.dnsConfig",
                                  "Required value: must provide `dnsConfig` when `dnsPolicy` is None");
                        return;
                }
                if (strv_length(c->nameservers) == 0) {
                        add_error(
                                pr, "spec.dnsConfig.nameservers",
                                "Required value: must provide at least one DNS nameserver when `dnsPolicy` "
                                "is None");
                        return;
                }
        }
        if (!c)
                return;
        if (strv_length(c->nameservers) > 3) {
                _cleanup_free_ char *v = go_strv(c->nameservers);
                add_error(pr, "spec.dnsConfig.nameservers",
                          "Invalid value: %s: must not have more than 3 nameservers", v);
        }
        for (size_t i = 0; c->nameservers && c->nameservers[i]; i++)
                if (!is_ip(c->nameservers[i])) {
                        snprintf(p, sizeof p, "spec.dnsConfig.nameservers[%zu]", i);
                        add_error(pr, p, "Invalid value: \"%s\": must be valid IP address",
                                  c->nameservers[i]);
                }
        size_t chars = 0, n = strv_length(c->searches);
        for (size_t i = 0; i < n; i++)
                chars += strlen(c->searches[i]) + (i ? 1 : 0);
        if (n > 6 || chars > 256) {
                _cleanup_free_ char *v = go_strv(c->searches);
                if (n > 6)
                        add_error(pr, "spec.dnsConfig.searches",
                                  "Invalid value: %s: must not have more than 6 search paths", v);
                if (chars > 256)
                        add_error(pr, "spec.dnsConfig.searches",
                                  "Invalid value: %s: must not have more than 256 characters (including "
                                  "spaces) in the search list",
                                  v);
        }
        for (size_t i = 0; i < n; i++) {
                /* A trailing dot is fine. */
                size_t len = strlen(c->searches[i]);
                _cleanup_free_ char *s = OOM_CHECK(
                        strndup(c->searches[i], len && c->searches[i][len - 1] == '.' ? len - 1 : len));
                snprintf(p, sizeof p, "spec.dnsConfig.searches[%zu]", i);
                check_dns1123(pr, p, s, false);
        }
}

static void decode_names(struct api_problems *pr, json_t *spec, struct pod *pod)
{
        static const char *const dns_fields[] = {"nameservers", "searches", "options", NULL};
        decode_host_aliases(pr, spec, pod);
        json_t *dc = get_typed(pr, spec, "spec", "dnsConfig", JSON_OBJECT);
        if (dc) {
                check_fields(pr, dc, "spec.dnsConfig", dns_fields);
                pod->dns_config = OOM_CHECK(calloc(1, sizeof *pod->dns_config));
                pod->dns_config->nameservers = get_strv(pr, dc, "spec.dnsConfig", "nameservers");
                pod->dns_config->searches = get_strv(pr, dc, "spec.dnsConfig", "searches");
                decode_dns_options(pr, dc, pod->dns_config);
        }
        pod->share_process_namespace = get_bool(pr, spec, "spec", "shareProcessNamespace");
        pod->set_hostname_as_fqdn = get_bool(pr, spec, "spec", "setHostnameAsFQDN");
        pod->runtime_class_name = get_str(pr, spec, "spec", "runtimeClassName");
}

/* What the API server checks of the fields above (run after the policy and host namespaces are known). */
static void validate_names(struct api_problems *pr, const struct pod *pod)
{
        validate_dns_config(pr, pod);
        if (pod->hostname && pod->hostname[0])
                check_dns1123(pr, "spec.hostname", pod->hostname, true);
        if (pod->subdomain && pod->subdomain[0])
                check_dns1123(pr, "spec.subdomain", pod->subdomain, true);
        if (pod->runtime_class_name)
                check_dns1123(pr, "spec.runtimeClassName", pod->runtime_class_name, false);
        if (pod->share_process_namespace && pod->host_pid)
                add_error(pr, "spec.securityContext.shareProcessNamespace",
                          "Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled");
}

static void decode_readiness_gates(struct api_problems *pr, json_t *spec, struct pod *pod)
{
        json_t *arr = get_typed(pr, spec, "spec", "readinessGates", JSON_ARRAY), *e;
        size_t i;
        json_array_foreach(arr, i, e)
        {
                char p[64];
                snprintf(p, sizeof p, "spec.readinessGates[%zu]", i);
                if (!json_is_object(e)) {
                        add_error(pr, p, "Invalid type: expected object, got %s", json_type_name(e));
                        continue;
                }
                check_fields(pr, e, p, (const char *const[]){"conditionType", NULL});
                _cleanup_free_ char *type = get_str(pr, e, p, "conditionType");
                if (!type || !is_qualified_name(type)) {
                        char q[96];
                        snprintf(q, sizeof q, "%s.conditionType", p);
                        add_error(
                                pr, q,
                                "Invalid value: \"%s\": name part must consist of alphanumeric characters, "
                                "'-', '_' or '.', and must start and end with an alphanumeric character "
                                "(an optional DNS subdomain prefix and '/')",
                                type ? type : "");
                        continue;
                }
                strv_push(&pod->readiness_gates, TAKE_PTR(type));
        }
}

/* The API server's range: from 1 when a pod is made; an update may lower it to 0, so an API pod may have 0. */
static void decode_active_deadline(struct api_problems *pr, json_t *spec, struct pod *pod)
{
        bool from_api = streq_ptr(pod_annotation(pod, "kubernetes.io/config.source"), "api");
        int64_t v, lo = from_api ? 0 : 1;
        pod->active_deadline_s = -1;
        if (!get_int(pr, spec, "spec", "activeDeadlineSeconds", &v))
                return;
        if (v < lo || v > INT32_MAX)
                add_error(pr, "spec.activeDeadlineSeconds",
                          "Invalid value: %lld: must be between %lld and 2147483647, inclusive",
                          (long long) v, (long long) lo);
        else
                pod->active_deadline_s = v;
}

bool pod_uid_valid(const char *uid)
{
        size_t n = uid ? strlen(uid) : 0;
        if (n == 0 || n > 128 || streq(uid, ".") || streq(uid, ".."))
                return false;
        for (const char *c = uid; *c; c++)
                if (!isalnum((unsigned char) *c) && *c != '-' && *c != '_' && *c != '.')
                        return false;
        return true;
}

static void validate_pod(struct api_problems *pr, struct pod *pod)
{
        static const char *const restart[] = {"Always", "OnFailure", "Never", NULL};
        static const char *const dns[] = {"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None",
                                          NULL};
        char p[256];

        if (!pod->name || !pod->name[0]) {
                if (!pod->name_mistyped)
                        add_error(pr, "metadata.name", "Required value: name or generateName is required");
        } else if (!is_dns1123_subdomain(pod->name))
                add_error(pr, "metadata.name",
                          "Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of lower case "
                          "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                          "character",
                          pod->name);
        if (pod->namespace && !is_dns1123_label(pod->namespace))
                add_error(pr, "metadata.namespace",
                          "Invalid value: \"%s\": a lowercase RFC 1123 label must consist of lower case "
                          "alphanumeric characters or '-'",
                          pod->namespace);
        /* The UID names the pod's directories on this node: never a path of its own. */
        if (pod->uid && !pod_uid_valid(pod->uid))
                add_error(pr, "metadata.uid",
                          "Invalid value: \"%.128s\": must be 1 to 128 letters, digits, '-', '_' or '.', "
                          "and not "
                          "'.' or '..'",
                          pod->uid);
        if (pod->n_containers == 0)
                add_error(pr, "spec.containers", "Required value");
        check_enum(pr, "spec.restartPolicy", pod->restart_policy, restart);
        check_enum(pr, "spec.dnsPolicy", pod->dns_policy, dns);
        if (pod->termination_grace_period < 0)
                add_error(pr, "spec.terminationGracePeriodSeconds",
                          "Invalid value: %lld: must be greater than or equal to 0",
                          (long long) pod->termination_grace_period);
        validate_names(pr, pod);

        /* Container names are unique across init and app containers. */
        size_t total = pod->n_init_containers + pod->n_containers;
        for (size_t i = 0; i < total; i++) {
                bool init = i < pod->n_init_containers;
                struct container *c =
                        init ? &pod->init_containers[i] : &pod->containers[i - pod->n_init_containers];
                size_t idx = init ? i : i - pod->n_init_containers;
                if (!c->name)
                        continue;
                for (size_t j = 0; j < i; j++) {
                        struct container *o = j < pod->n_init_containers
                                                      ? &pod->init_containers[j]
                                                      : &pod->containers[j - pod->n_init_containers];
                        if (o->name && streq(o->name, c->name)) {
                                snprintf(p, sizeof p, "spec.%s[%zu].name",
                                         init ? "initContainers" : "containers", idx);
                                add_error(pr, p, "Duplicate value: \"%s\"", c->name);
                                break;
                        }
                }
                for (size_t m = 0; m < c->n_mounts; m++) {
                        bool found = false;
                        for (size_t v = 0; v < pod->n_volumes && !found; v++)
                                found = streq_ptr(pod->volumes[v].name, c->mounts[m].name);
                        if (!found && c->mounts[m].name) {
                                snprintf(p, sizeof p, "spec.%s[%zu].volumeMounts[%zu].name",
                                         init ? "initContainers" : "containers", idx, m);
                                add_error(pr, p, "Not found: \"%s\"", c->mounts[m].name);
                        }
                }
        }
        for (size_t i = 0; i < pod->n_volumes; i++)
                for (size_t j = 0; j < i; j++)
                        if (pod->volumes[i].name && streq_ptr(pod->volumes[i].name, pod->volumes[j].name)) {
                                snprintf(p, sizeof p, "spec.volumes[%zu].name", i);
                                add_error(pr, p, "Duplicate value: \"%s\"", pod->volumes[i].name);
                        }
}

struct pod *pod_from_json(json_t *obj, struct api_problems *pr)
{
        struct pod *pod = OOM_CHECK(calloc(1, sizeof *pod));
        json_t *meta, *spec;
        size_t n_errors = strv_length(pr->errors);

        atomic_init(&pod->refs, 1);
        pod->json = json_incref(obj);
        if (!json_is_object(obj)) {
                add_error(pr, "(root)", "Invalid type: expected object, got %s", json_type_name(obj));
                goto fail;
        }
        check_fields(pr, obj, "", pod_fields);
        meta = get_typed(pr, obj, "", "metadata", JSON_OBJECT);
        spec = get_typed(pr, obj, "", "spec", JSON_OBJECT);
        if (!meta)
                add_error(pr, "metadata", "Required value");
        if (!spec)
                add_error(pr, "spec", "Required value");
        if (!meta || !spec)
                goto fail;
        check_fields(pr, meta, "metadata", meta_fields);
        check_fields(pr, spec, "spec", spec_fields);

        pod->name = get_str(pr, meta, "metadata", "name");
        pod->name_mistyped = !pod->name && !absent(meta, "name");
        pod->namespace = get_str(pr, meta, "metadata", "namespace");
        pod->uid = get_str(pr, meta, "metadata", "uid");
        get_map(pr, meta, "metadata", "labels", &pod->labels, &pod->n_labels);
        get_map(pr, meta, "metadata", "annotations", &pod->annotations, &pod->n_annotations);

        decode_containers(pr, spec, "initContainers", &pod->init_containers, &pod->n_init_containers);
        decode_containers(pr, spec, "containers", &pod->containers, &pod->n_containers);
        decode_volumes(pr, spec, pod);
        decode_overhead(pr, spec, pod);
        pod->restart_policy = get_str(pr, spec, "spec", "restartPolicy");
        pod->dns_policy = get_str(pr, spec, "spec", "dnsPolicy");
        pod->hostname = get_str(pr, spec, "spec", "hostname");
        pod->subdomain = get_str(pr, spec, "spec", "subdomain");
        pod->node_name = get_str(pr, spec, "spec", "nodeName");
        pod->host_network = get_bool(pr, spec, "spec", "hostNetwork");
        pod->host_pid = get_bool(pr, spec, "spec", "hostPID");
        pod->host_ipc = get_bool(pr, spec, "spec", "hostIPC");
        decode_names(pr, spec, pod);
        pod->termination_grace_period = 30;
        get_int(pr, spec, "spec", "terminationGracePeriodSeconds", &pod->termination_grace_period);
        decode_active_deadline(pr, spec, pod);
        decode_readiness_gates(pr, spec, pod);
        if (!pod->restart_policy)
                pod->restart_policy = xstrdup("Always");
        if (!pod->dns_policy)
                pod->dns_policy = xstrdup("ClusterFirst");
        if (!pod->namespace)
                pod->namespace = xstrdup("default");

        validate_pod(pr, pod);
        if (strv_length(pr->errors) > n_errors)
                goto fail;
        pod_unsupported_fields(obj, &pod->unsupported);
        return pod;
fail:
        pod_unref(pod);
        return NULL;
}
