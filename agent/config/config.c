/* cubelet's configuration: KubeletConfiguration (kubelet.config.k8s.io/v1beta1) fields and flags. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "log.h"
#include "util.h"
#include "node.h"
#include "admission.h"
#include "pod.h"
#include "yaml_json.h"
#include "thresholds.h"

void config_init_defaults(struct cubelet_config *c)
{
        char host[256] = "localhost";
        *c = (struct cubelet_config){0};
        c->runtime_endpoint = xstrdup("unix:///run/containerd/containerd.sock");
        c->root_dir = xstrdup("/var/lib/cubelet");
        c->pod_logs_dir = xstrdup("/var/log/pods");
        c->healthz_bind = xstrdup("127.0.0.1");
        c->healthz_port = 10248;
        c->local_socket = xstrdup("/run/cubelet/cubelet.sock");
        c->address = xstrdup("0.0.0.0");
        c->file_check_ms = 20000;
        c->http_check_ms = 20000;
        c->sync_ms = 60000;
        c->runtime_timeout_ms = 120000;
        c->workers = 4;
        c->relist_ms = 1000;
        c->evented_relist_ms = 300000; /* upstream's evented PLEG */
        c->runtime_events = true;
        c->register_node = true;
        c->log_max_size = 10 << 20;
        c->log_max_files = 5;
        c->log_monitor_ms = 10000;
        c->max_pods = 110;
        c->port = 10250;
        c->kube_api_qps = 5;
        c->kube_api_burst = 10;
        c->event_qps = 5;
        c->event_burst = 10;
        c->node_status_ms = 10000;
        c->node_report_ms = 300000;
        c->node_lease_s = 40;
        c->cgroups_per_qos = true;
        reservation_clear(&c->kube_reserved);
        reservation_clear(&c->system_reserved);
        strv_push(&c->enforce_node_allocatable, xstrdup("pods"));
        c->serialize_image_pulls = true;
        c->image_gc_high = 85;
        c->image_gc_low = 80;
        c->image_min_gc_age_ms = 2 * 60 * 1000;
        c->max_dead_containers = -1;
        c->max_dead_per_container = 1;
        c->image_gc_period_ms = 5 * 60 * 1000;
        c->container_gc_period_ms = 60 * 1000;
        c->cgroup_root = xstrdup("/");
        c->pod_pids_limit = -1;
        c->eviction_hard = ev_default_hard();
        c->eviction_transition_ms = 5 * 60 * 1000;
        c->cni_delegate_socket = xstrdup("/run/cubelet/cni.sock");
        c->webhook_authn = true;
        c->resolv_conf = xstrdup("/etc/resolv.conf");
        /* Upstream's, whatever the root dir: kubeadm's kubelet.conf points there. */
        c->cert_dir = xstrdup("/var/lib/kubelet/pki");
        c->authn_cache_ttl_ms = 2 * 60 * 1000;
        c->authz_allowed_ttl_ms = 5 * 60 * 1000;
        c->authz_denied_ttl_ms = 30 * 1000;
        gethostname(host, sizeof host - 1);
        c->node_name = xstrdup(host);
}

void config_done(struct cubelet_config *c)
{
        free(c->config_file);
        free(c->static_pod_path);
        free(c->static_pod_url);
        strv_free(c->static_pod_url_header);
        free(c->runtime_endpoint);
        free(c->root_dir);
        free(c->pod_logs_dir);
        free(c->node_name);
        free(c->healthz_bind);
        free(c->local_socket);
        free(c->address);
        free(c->node_ip);
        free(c->kubeconfig);
        free(c->bootstrap_kubeconfig);
        free(c->cert_dir);
        strv_free(c->node_labels);
        strv_free(c->register_taints);
        strv_free(c->allowed_unsafe_sysctls);
        strv_free(c->eviction_hard);
        strv_free(c->enforce_node_allocatable);
        free(c->kube_reserved_cgroup);
        free(c->system_reserved_cgroup);
        strv_free(c->eviction_soft);
        strv_free(c->eviction_soft_grace);
        strv_free(c->eviction_min_reclaim);
        strv_free(c->allowed_extra_networks);
        free(c->cgroup_root);
        free(c->pod_infra_image);
        free(c->cni_conf_dir);
        strv_free(c->cni_bin_dirs);
        free(c->cni_delegate_socket);
        free(c->pod_cidr);
        free(c->tls_cert_file);
        free(c->tls_key_file);
        free(c->client_ca_file);
        free(c->authz_mode);
        strv_free(c->cluster_dns);
        free(c->cluster_domain);
        free(c->resolv_conf);
        *c = (struct cubelet_config){0};
}

int parse_duration_ms(const char *s, int64_t *ret)
{
        static const struct {
                const char *unit;
                long double ms;
        } units[] = {{"ns", 1e-6L}, {"us", 1e-3L}, {"µs", 1e-3L}, {"ms", 1},
                     {"s", 1000},   {"m", 60000},  {"h", 3600000}};
        long double total = 0;
        const char *p = s;

        if (!*p)
                return -EINVAL;
        if (streq(s, "0"))
                return *ret = 0, 0;
        /* Go's syntax, by hand: [0-9]+(.[0-9]*)? unit, repeated. No signs, exponents or hex. */
        while (*p) {
                long double v = 0, scale = 1;
                bool digits = false;
                for (; *p >= '0' && *p <= '9'; p++, digits = true)
                        v = v * 10 + (*p - '0');
                if (*p == '.')
                        for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
                                v += (*p - '0') * (scale /= 10);
                if (!digits)
                        return -EINVAL;
                bool found = false;
                /* "ms" before "m", "µs"/"us"/"ns" before "s": longest unit first. */
                for (size_t i = 0; i < ELEMENTSOF(units) && !found; i++) {
                        size_t n = strlen(units[i].unit);
                        if (strncmp(p, units[i].unit, n) == 0 &&
                            !(streq(units[i].unit, "m") && p[1] == 's')) {
                                total += v * units[i].ms;
                                p += n;
                                found = true;
                        }
                }
                /* Go's time.Duration ends at 2^63-1 ns (about 2562047 h): anything longer is not a duration,
                 * and every value here fits in int64 nanoseconds. */
                if (!found || total > 9223372036854.0L)
                        return -EINVAL;
        }
        *ret = (int64_t) total;
        return 0;
}

/* /configz never shows a password a manifest URL carries. */
static json_t *redacted_url_json(const char *url)
{
        _cleanup_free_ char *shown = url_redacted(url);
        return json_string(shown);
}

/* staticPodURL, staticPodURLHeader (a map of lists, as upstream's type) and httpCheckFrequency. */
static void config_url_to_json(const struct cubelet_config *c, json_t *o)
{
        char freq[32];
        format_duration_ms(c->http_check_ms, freq, sizeof freq);
        json_object_set_new(o, "httpCheckFrequency", json_string(freq));
        if (c->static_pod_url)
                json_object_set_new(o, "staticPodURL", redacted_url_json(c->static_pod_url));
        if (!c->static_pod_url_header)
                return;
        json_t *h = json_object();
        for (char **kv = c->static_pod_url_header; *kv; kv++) {
                const char *colon = strchr(*kv, ':');
                _cleanup_free_ char *k = strndup(*kv, (size_t) (colon - *kv));
                json_t *list = json_object_get(h, OOM_CHECK(k));
                if (!list)
                        json_object_set_new(h, k, list = json_array());
                json_array_append_new(list, json_string(colon + 1));
        }
        json_object_set_new(o, "staticPodURLHeader", h);
}

json_t *config_to_json(const struct cubelet_config *c)
{
        char sync[32], file[32], rt[32], status[32], report[32], authn_ttl[32], allowed_ttl[32],
                denied_ttl[32];
        format_duration_ms(c->sync_ms, sync, sizeof sync);
        format_duration_ms(c->file_check_ms, file, sizeof file);
        format_duration_ms(c->runtime_timeout_ms, rt, sizeof rt);
        format_duration_ms(c->node_status_ms, status, sizeof status);
        format_duration_ms(c->node_report_ms, report, sizeof report);
        format_duration_ms(c->authn_cache_ttl_ms, authn_ttl, sizeof authn_ttl);
        format_duration_ms(c->authz_allowed_ttl_ms, allowed_ttl, sizeof allowed_ttl);
        format_duration_ms(c->authz_denied_ttl_ms, denied_ttl, sizeof denied_ttl);
        json_t *o = json_pack(
                "{s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:i, s:i, s:s, s:s, s:s, s:i, "
                "s:b, "
                "s:s, s:I, s:f, s:i, s:f, s:i, s:{s:{s:s?}, s:{s:b, s:s}, s:{s:b}}, s:{s:s, s:{s:s, s:s}}, "
                "s:s?, s:s?}",
                "kind", "KubeletConfiguration", "apiVersion", "kubelet.config.k8s.io/v1beta1",
                "staticPodPath", c->static_pod_path, "containerRuntimeEndpoint", c->runtime_endpoint,
                "podLogsDir", c->pod_logs_dir, "syncFrequency", sync, "fileCheckFrequency", file,
                "runtimeRequestTimeout", rt, "port", c->port, "address", c->address, "readOnlyPort",
                c->read_only_port, "healthzPort", c->healthz_port, "maxPods", c->max_pods,
                "healthzBindAddress", c->healthz_bind, "nodeStatusUpdateFrequency", status,
                "nodeStatusReportFrequency", report, "nodeLeaseDurationSeconds", c->node_lease_s,
                "cgroupsPerQOS", c->cgroups_per_qos, "cgroupRoot", c->cgroup_root, "podPidsLimit",
                (json_int_t) c->pod_pids_limit, "kubeAPIQPS", c->kube_api_qps, "kubeAPIBurst",
                c->kube_api_burst, "eventRecordQPS", c->event_qps, "eventBurst", c->event_burst,
                "authentication", "x509", "clientCAFile", c->client_ca_file, "webhook", "enabled",
                c->webhook_authn, "cacheTTL", authn_ttl, "anonymous", "enabled", c->anonymous_auth,
                "authorization", "mode",
                c->authz_mode   ? c->authz_mode
                : c->kubeconfig ? "Webhook"
                                : "AlwaysAllow",
                "webhook", "cacheAuthorizedTTL", allowed_ttl, "cacheUnauthorizedTTL", denied_ttl,
                "tlsCertFile", c->tls_cert_file, "tlsPrivateKeyFile", c->tls_key_file);
        json_object_set_new(o, "cgroupDriver", json_string("cgroupfs"));
        json_object_set_new(o, "serializeImagePulls", json_boolean(c->serialize_image_pulls));
        json_object_set_new(o, "rotateCertificates", json_boolean(c->rotate_certificates));
        json_object_set_new(o, "serverTLSBootstrap", json_boolean(c->server_tls_bootstrap));
        if (c->max_parallel_image_pulls > 0)
                json_object_set_new(o, "maxParallelImagePulls", json_integer(c->max_parallel_image_pulls));
        char gc_age[32];
        format_duration_ms(c->image_min_gc_age_ms, gc_age, sizeof gc_age);
        json_object_set_new(o, "imageMinimumGCAge", json_string(gc_age));
        json_object_set_new(o, "imageGCHighThresholdPercent", json_integer(c->image_gc_high));
        json_object_set_new(o, "imageGCLowThresholdPercent", json_integer(c->image_gc_low));
        json_object_set_new(o, "localSocket", json_string(c->local_socket ? c->local_socket : ""));
        config_url_to_json(c, o);
        json_object_set_new(o, "resolvConf", json_string(c->resolv_conf ? c->resolv_conf : ""));
        if (c->cluster_domain)
                json_object_set_new(o, "clusterDomain", json_string(c->cluster_domain));
        if (c->cluster_dns) {
                json_t *dns = json_array();
                for (char **p = c->cluster_dns; *p; p++)
                        json_array_append_new(dns, json_string(*p));
                json_object_set_new(o, "clusterDNS", dns);
        }
        if (c->allowed_unsafe_sysctls) {
                json_t *a = json_array();
                for (char **p = c->allowed_unsafe_sysctls; *p; p++)
                        json_array_append_new(a, json_string(*p));
                json_object_set_new(o, "allowedUnsafeSysctls", a);
        }
        if (c->allowed_extra_networks) {
                json_t *a = json_array();
                for (char **p = c->allowed_extra_networks; *p; p++)
                        json_array_append_new(a, json_string(*p));
                json_object_set_new(o, "allowedExtraNetworks", a);
        }
        config_allocatable_to_json(c, o);
        /* Unset fields are left out, as Go's omitempty does. */
        json_t *objs[] = {o, json_object_get(json_object_get(o, "authentication"), "x509")};
        for (size_t i = 0; i < ELEMENTSOF(objs); i++) {
                const char *k;
                void *tmp;
                json_t *v;
                json_object_foreach_safe(objs[i], tmp, k, v) if (json_is_null(v))
                        json_object_del(objs[i], k);
        }
        return o;
}

static void set_str(char **dst, const char *v)
{
        free(*dst);
        *dst = xstrdup(v);
}

static void lowercase(char *s)
{
        for (; s && *s; s++)
                *s = (char) tolower((unsigned char) *s);
}

/* cgroupRoot: absolute, plain parts ("" is "/", as upstream). NULL when fine, else why not. */
static const char *cgroup_root_problem(const char *s)
{
        if (!s[0])
                return NULL;
        if (s[0] != '/')
                return "must be an absolute path";
        for (const char *p = s; (p = strstr(p, "/.")); p++)
                if (p[2] == '/' || p[2] == 0 || (p[2] == '.' && (p[3] == '/' || p[3] == 0)))
                        return "must not contain \".\" or \"..\"";
        return NULL;
}

static const char *cgroup_driver_problem(const char *s)
{
        if (streq(s, "cgroupfs"))
                return NULL;
        if (streq(s, "systemd"))
                return "the systemd cgroup driver is not supported (no systemd here); use cgroupfs";
        return "expected cgroupfs";
}

/* "10.244.1.0/24" or "fd00::/64". */
static bool cidr_valid(const char *s, char **why)
{
        char ip[64];
        unsigned char buf[16];
        const char *slash = strchr(s, '/');
        char *end;
        if (!slash || (size_t) (slash - s) >= sizeof ip) {
                *why = xstrdup("expected an address/prefix such as 10.244.1.0/24");
                return false;
        }
        memcpy(ip, s, (size_t) (slash - s));
        ip[slash - s] = 0;
        bool v6 = strchr(ip, ':') != NULL;
        long bits = strtol(slash + 1, &end, 10);
        if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, buf) != 1 || *end || !slash[1] || bits < 0 ||
            bits > (v6 ? 128 : 32)) {
                *why = xstrdup("expected an address/prefix such as 10.244.1.0/24");
                return false;
        }
        return true;
}

/* staticPodURL: Go's client speaks http and https only; anything else would fail every read. */
static const char *manifest_url_problem(const char *s)
{
        const char *rest = strncasecmp(s, "http://", 7) == 0    ? s + 7
                           : strncasecmp(s, "https://", 8) == 0 ? s + 8
                                                                : NULL;
        if (!rest)
                return "expected an http:// or https:// URL";
        if (!rest[0] || rest[0] == '/' || rest[0] == '?' || rest[0] == '#')
                return "the URL names no host";
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f)
                        return "the URL has a space or control character";
        return NULL;
}

/* One staticPodURLHeader value; Go's net/http would refuse every request with a bad name or value. */
static int add_url_header(struct cubelet_config *c, const char *k, const char *v, char **why)
{
        if (!http_header_name_valid(k))
                return *why = strdup_printf("invalid header field name \"%s\"", k), -EINVAL;
        if (!http_header_value_valid(v))
                return *why = strdup_printf("invalid header field value for \"%s\"", k), -EINVAL;
        strv_push(&c->static_pod_url_header, strdup_printf("%s:%s", k, v));
        return 0;
}

static char *trim_blanks(char *s)
{
        while (isspace((unsigned char) *s))
                s++;
        for (size_t n = strlen(s); n > 0 && isspace((unsigned char) s[n - 1]); n--)
                s[n - 1] = 0;
        return s;
}

/* --manifest-url-header "a:hello,b:again": upstream's colon-separated multimap (pairs split at commas, key
 * and value at the first colon, both trimmed; empty pairs skipped). */
static int add_url_headers(struct cubelet_config *c, const char *value, char **why)
{
        _cleanup_free_ char *copy = xstrdup(value);
        char *save = NULL;
        for (char *pair = strtok_r(copy, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
                char *colon = strchr(pair, ':');
                if (!colon)
                        return *why = xstrdup("malformed pair, expect string:string"), -EINVAL;
                *colon = 0;
                int r = add_url_header(c, trim_blanks(pair), trim_blanks(colon + 1), why);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* staticPodURLHeader: {name: [values]}, as upstream's map[string][]string. */
static int apply_url_header_map(struct cubelet_config *c, const char *key, json_t *v, char **err)
{
        const char *name;
        json_t *list, *e;
        size_t i;
        if (!json_is_object(v))
                return *err = strdup_printf("%s: expected a map of header names to lists of values", key),
                       -EINVAL;
        c->static_pod_url_header = strv_free(c->static_pod_url_header);
        json_object_foreach(v, name, list)
        {
                if (!json_is_array(list))
                        return *err = strdup_printf("%s.%s: expected a list of strings", key, name), -EINVAL;
                json_array_foreach(list, i, e)
                {
                        _cleanup_free_ char *why = NULL;
                        if (!json_is_string(e))
                                return *err = strdup_printf("%s.%s[%zu]: expected a string", key, name, i),
                                       -EINVAL;
                        if (add_url_header(c, name, json_string_value(e), &why) < 0)
                                return *err = strdup_printf("%s.%s[%zu]: %s", key, name, i, why), -EINVAL;
                }
        }
        return 0;
}

/* localSocket: "" (off), or an absolute path that fits a unix socket address. */
static const char *local_socket_problem(const char *s)
{
        if (!s[0])
                return NULL;
        if (s[0] != '/')
                return "must be an absolute path";
        if (strlen(s) >= 108)
                return "too long for a unix socket path";
        return NULL;
}

/* An allowedExtraNetworks entry: a CNI network name, as the annotation can name it (no comma, no space). */
static const char *extra_network_problem(const char *s)
{
        if (!s[0])
                return "an empty network name";
        for (const char *p = s; *p; p++)
                if (*p == ',' || isspace((unsigned char) *p) || iscntrl((unsigned char) *p))
                        return "a network name has no commas, spaces or control characters";
        return NULL;
}

static const char *authz_mode_problem(const char *s)
{
        return streq(s, "AlwaysAllow") || streq(s, "Webhook") ? NULL : "expected AlwaysAllow or Webhook";
}

/* A webhook cache TTL at obj.field ("2m"; 0 keeps nothing), when present. */
static int apply_ttl(const char *key, json_t *obj, const char *field, int64_t *dst, char **err)
{
        json_t *v = json_object_get(obj, field);
        int64_t ms;
        if (!v)
                return 0;
        if (!json_is_string(v) || parse_duration_ms(json_string_value(v), &ms) < 0)
                return *err = strdup_printf("%s.webhook.%s: expected a duration such as \"2m\"", key, field),
                       -EINVAL;
        *dst = ms;
        return 0;
}

/* authentication: {x509: {clientCAFile}, webhook: {enabled, cacheTTL}, anonymous: {enabled}};
 * authorization: {mode, webhook: {cacheAuthorizedTTL, cacheUnauthorizedTTL}}. */
/* The eviction maps' storage and the kind of statement each holds. */
static char ***eviction_field(struct cubelet_config *c, const char *key, const char **kind)
{
        if (streq(key, "evictionHard") || streq(key, "eviction-hard"))
                return *kind = "hard", &c->eviction_hard;
        if (streq(key, "evictionSoft") || streq(key, "eviction-soft"))
                return *kind = "soft", &c->eviction_soft;
        if (streq(key, "evictionSoftGracePeriod") || streq(key, "eviction-soft-grace-period"))
                return *kind = "grace", &c->eviction_soft_grace;
        return *kind = "reclaim", &c->eviction_min_reclaim;
}

/* evictionHard: {memory.available: 100Mi, ...} (the map replaces the defaults, as upstream 1.20). */
static int apply_eviction_map(struct cubelet_config *c, const char *key, json_t *v, char **err)
{
        const char *kind, *sig;
        char ***field = eviction_field(c, key, &kind);
        json_t *val;
        if (!json_is_object(v))
                return *err = strdup_printf("%s: expected a map such as {memory.available: 100Mi}", key),
                       -EINVAL;
        char **out = NULL;
        json_object_foreach(v, sig, val)
        {
                char *why = json_is_string(val) ? ev_statement_problem(kind, sig, json_string_value(val))
                                                : xstrdup("expected a string");
                if (why) {
                        *err = strdup_printf("%s.%s: %s", key, sig, why);
                        free(why);
                        strv_free(out);
                        return -EINVAL;
                }
                strv_push(&out, strdup_printf("%s=%s", sig, json_string_value(val)));
        }
        strv_free(*field);
        *field = out;
        return 0;
}

/* --eviction-hard "memory.available<100Mi,nodefs.available<10%" (hard, soft: '<'; the others '='). */
static char *eviction_flag(struct cubelet_config *c, const char *flag, const char *arg)
{
        const char *kind;
        char ***field = eviction_field(c, flag, &kind);
        bool lt = streq(kind, "hard") || streq(kind, "soft");
        _cleanup_free_ char *copy = xstrdup(arg);
        char **out = NULL, *save = NULL;
        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                _cleanup_free_ char *stmt = lt ? ev_flag_statement(item) : NULL;
                if (!lt && strchr(item, '='))
                        stmt = xstrdup(item);
                if (!stmt) {
                        strv_free(out);
                        return strdup_printf("\"%s\": expected signal%svalue", item, lt ? "<" : "=");
                }
                char *eq = strchr(stmt, '=');
                *eq = 0;
                char *why = ev_statement_problem(kind, stmt, eq + 1);
                if (why) {
                        strv_free(out);
                        return why;
                }
                *eq = '=';
                strv_push(&out, TAKE_PTR(stmt));
        }
        strv_free(*field);
        *field = out;
        return NULL;
}

static int apply_auth(struct cubelet_config *c, const char *key, json_t *v, char **err)
{
        if (!json_is_object(v))
                return *err = strdup_printf("%s: expected an object", key), -EINVAL;
        json_t *webhook = json_object_get(v, "webhook");
        if (webhook && !json_is_object(webhook))
                return *err = strdup_printf("%s.webhook: expected an object", key), -EINVAL;
        if (streq(key, "authorization")) {
                json_t *m = json_object_get(v, "mode");
                if (m && (!json_is_string(m) || authz_mode_problem(json_string_value(m))))
                        return *err = strdup_printf("%s.mode: expected AlwaysAllow or Webhook", key),
                               -EINVAL;
                if (apply_ttl(key, webhook, "cacheAuthorizedTTL", &c->authz_allowed_ttl_ms, err) < 0 ||
                    apply_ttl(key, webhook, "cacheUnauthorizedTTL", &c->authz_denied_ttl_ms, err) < 0)
                        return -EINVAL;
                if (m)
                        set_str(&c->authz_mode, json_string_value(m));
                return 0;
        }
        json_t *ca = json_object_get(json_object_get(v, "x509"), "clientCAFile");
        json_t *wh = json_object_get(webhook, "enabled");
        json_t *an = json_object_get(json_object_get(v, "anonymous"), "enabled");
        if (ca && !json_is_string(ca))
                return *err = strdup_printf("%s.x509.clientCAFile: expected a string", key), -EINVAL;
        if ((wh && !json_is_boolean(wh)) || (an && !json_is_boolean(an)))
                return *err = strdup_printf("%s: enabled: expected true or false", key), -EINVAL;
        if (apply_ttl(key, webhook, "cacheTTL", &c->authn_cache_ttl_ms, err) < 0)
                return -EINVAL;
        if (ca)
                set_str(&c->client_ca_file, json_string_value(ca)[0] ? json_string_value(ca) : NULL);
        if (wh)
                c->webhook_authn = json_is_true(wh);
        if (an)
                c->anonymous_auth = json_is_true(an);
        return 0;
}

/* One KubeletConfiguration field. Returns 0, or -EINVAL with *err set. */
/* Upstream refuses to start with a pattern its sysctl whitelist cannot take. */
static int sysctls_problem(char **patterns, const char *what, char **err)
{
        _cleanup_free_ char *why = NULL;
        struct sysctl_whitelist *w = sysctl_whitelist_new(patterns, &why);
        if (!w)
                return *err = strdup_printf("%s: %s", what, why), -EINVAL;
        sysctl_whitelist_free(w);
        return 0;
}

static int apply_field(struct cubelet_config *c, const char *key, json_t *v, char **err, bool *known)
{
        *known = true;
        if (streq(key, "staticPodPath") || streq(key, "containerRuntimeEndpoint") ||
            streq(key, "podLogsDir") || streq(key, "healthzBindAddress")) {
                if (!json_is_string(v))
                        return *err = strdup_printf("%s: expected a string", key), -EINVAL;
                const char *s = json_string_value(v);
                char **dst = streq(key, "staticPodPath")              ? &c->static_pod_path
                             : streq(key, "containerRuntimeEndpoint") ? &c->runtime_endpoint
                             : streq(key, "podLogsDir")               ? &c->pod_logs_dir
                             : streq(key, "address")                  ? &c->address
                                                                      : &c->healthz_bind;
                if (streq(key, "podLogsDir") && s[0] != '/')
                        return *err = strdup_printf("%s: must be an absolute path", key), -EINVAL;
                if (!s[0] && !streq(key, "staticPodPath")) /* only the static pod path may be empty */
                        return *err = strdup_printf("%s: must not be empty", key), -EINVAL;
                struct in_addr ia;
                if ((streq(key, "address") || streq(key, "healthzBindAddress")) &&
                    inet_pton(AF_INET, s, &ia) != 1)
                        return *err = strdup_printf("%s: expected an IPv4 address", key), -EINVAL;
                set_str(dst, s[0] ? s : NULL);
                return 0;
        }
        if (streq(key, "logging")) { /* kubeadm writes "logging: {}" */
                const char *k;
                json_t *f;
                if (!json_is_object(v))
                        return *err = strdup_printf("%s: expected a map", key), -EINVAL;
                json_object_foreach(v, k, f)
                {
                        if (!streq(k, "format"))
                                return *err = strdup_printf("%s.%s: unknown field", key, k), -EINVAL;
                        if (!json_is_string(f) ||
                            (json_string_value(f)[0] && !streq(json_string_value(f), "text")))
                                return *err = strdup_printf(
                                               "%s.format: cubelet logs in the \"text\" format only", key),
                                       -EINVAL;
                }
                return 0;
        }
        if (streq(key, "shutdownGracePeriod") || streq(key, "shutdownGracePeriodCriticalPods")) {
                /* Graceful node shutdown is off, as upstream 1.20's without its feature gate: 0 is all it takes. */
                int64_t ms;
                if (!json_is_string(v) || parse_duration_ms(json_string_value(v), &ms) < 0)
                        return *err = strdup_printf("%s: expected a duration such as \"30s\"", key), -EINVAL;
                if (ms != 0)
                        return *err = strdup_printf(
                                       "%s: invalid configuration: Specifying ShutdownGracePeriod or "
                                       "ShutdownGracePeriodCriticalPods requires feature gate "
                                       "GracefulNodeShutdown",
                                       key),
                               -EINVAL;
                return 0;
        }
        if (streq(key, "healthzPort") || streq(key, "readOnlyPort")) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535)
                        return *err = strdup_printf("%s: expected a port number 0-65535", key), -EINVAL;
                *(streq(key, "healthzPort") ? &c->healthz_port : &c->read_only_port) =
                        (int) json_integer_value(v);
                return 0;
        }
        if (streq(key, "localSocket")) {
                const char *why =
                        json_is_string(v) ? local_socket_problem(json_string_value(v)) : "expected a string";
                if (why)
                        return *err = strdup_printf("%s: %s", key, why), -EINVAL;
                set_str(&c->local_socket, json_string_value(v)[0] ? json_string_value(v) : NULL);
                return 0;
        }
        if (streq(key, "staticPodURL")) {
                if (!json_is_string(v))
                        return *err = strdup_printf("%s: expected a string", key), -EINVAL;
                const char *u = json_string_value(v), *why = u[0] ? manifest_url_problem(u) : NULL;
                if (why)
                        return *err = strdup_printf("%s: \"%s\": %s", key, u, why), -EINVAL;
                set_str(&c->static_pod_url, u[0] ? u : NULL);
                return 0;
        }
        if (streq(key, "staticPodURLHeader"))
                return apply_url_header_map(c, key, v, err);
        if (streq(key, "fileCheckFrequency") || streq(key, "syncFrequency") ||
            streq(key, "runtimeRequestTimeout") || streq(key, "httpCheckFrequency")) {
                int64_t ms;
                if (!json_is_string(v) || parse_duration_ms(json_string_value(v), &ms) < 0 || ms <= 0)
                        return *err = strdup_printf("%s: expected a positive duration such as \"20s\"", key),
                               -EINVAL;
                *(streq(key, "fileCheckFrequency")   ? &c->file_check_ms
                  : streq(key, "httpCheckFrequency") ? &c->http_check_ms
                  : streq(key, "syncFrequency")      ? &c->sync_ms
                                                     : &c->runtime_timeout_ms) = ms;
                return 0;
        }
        if (streq(key, "maxPods") || streq(key, "port") || streq(key, "kubeAPIBurst") ||
            streq(key, "eventBurst") || streq(key, "nodeLeaseDurationSeconds")) {
                int max = streq(key, "port") ? 65535 : 1000000;
                if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max)
                        return *err = strdup_printf("%s: expected an integer from 1 to %d", key, max),
                               -EINVAL;
                int n = (int) json_integer_value(v);
                *(streq(key, "maxPods")        ? &c->max_pods
                  : streq(key, "port")         ? &c->port
                  : streq(key, "kubeAPIBurst") ? &c->kube_api_burst
                  : streq(key, "eventBurst")   ? &c->event_burst
                                               : &c->node_lease_s) = n;
                return 0;
        }
        if (streq(key, "kubeAPIQPS") || streq(key, "eventRecordQPS")) {
                if (!json_is_number(v) || json_number_value(v) < 0)
                        return *err = strdup_printf("%s: expected a number >= 0", key), -EINVAL;
                *(streq(key, "kubeAPIQPS") ? &c->kube_api_qps : &c->event_qps) = json_number_value(v);
                return 0;
        }
        if (streq(key, "nodeStatusUpdateFrequency") || streq(key, "nodeStatusReportFrequency")) {
                int64_t ms;
                if (!json_is_string(v) || parse_duration_ms(json_string_value(v), &ms) < 0 || ms < 1000)
                        return *err = strdup_printf("%s: expected a duration of at least 1s", key), -EINVAL;
                *(streq(key, "nodeStatusUpdateFrequency") ? &c->node_status_ms : &c->node_report_ms) = ms;
                return 0;
        }
        if (streq(key, "kubeReserved") || streq(key, "systemReserved")) {
                const char *res;
                json_t *q;
                _cleanup_free_ char *why = NULL;
                if (!json_is_object(v))
                        return *err = strdup_printf("%s: expected a map such as {cpu: 100m, memory: 256Mi}",
                                                    key),
                               -EINVAL;
                struct reservation *r = streq(key, "kubeReserved") ? &c->kube_reserved : &c->system_reserved;
                reservation_clear(r);
                json_object_foreach(v, res, q)
                {
                        if (!json_is_string(q) || reservation_set(r, res, json_string_value(q), &why) < 0)
                                return *err = strdup_printf("%s.%s: %s", key, res,
                                                            why ? why : "expected a quantity string"),
                                       -EINVAL;
                }
                return 0;
        }
        if (streq(key, "podCIDR")) {
                _cleanup_free_ char *why = NULL;
                if (!json_is_string(v) || !cidr_valid(json_string_value(v), &why))
                        return *err = strdup_printf("%s: %s", key, why ? why : "expected a string"), -EINVAL;
                set_str(&c->pod_cidr, json_string_value(v));
                return 0;
        }
        if (streq(key, "containerLogMaxSize")) {
                int64_t milli;
                if (!json_is_string(v) || parse_quantity_milli(json_string_value(v), &milli) < 0 ||
                    milli < 0)
                        return *err = strdup_printf("%s: expected a quantity such as \"10Mi\"", key),
                               -EINVAL;
                c->log_max_size = milli / 1000;
                return 0;
        }
        if (streq(key, "containerLogMaxFiles")) {
                if (!json_is_integer(v) || json_integer_value(v) < 2 || json_integer_value(v) > 1000)
                        return *err = strdup_printf("%s: expected an integer of at least 2", key), -EINVAL;
                c->log_max_files = (int) json_integer_value(v);
                return 0;
        }
        if (streq(key, "containerLogMonitorInterval")) {
                int64_t ms;
                if (!json_is_string(v) || parse_duration_ms(json_string_value(v), &ms) < 0 || ms < 1000)
                        return *err = strdup_printf("%s: expected a duration of at least 1s", key), -EINVAL;
                c->log_monitor_ms = ms;
                return 0;
        }
        if (streq(key, "seccompDefault")) {
                if (!json_is_boolean(v))
                        return *err = strdup_printf("%s: expected true or false", key), -EINVAL;
                c->seccomp_default = json_is_true(v);
                return 0;
        }
        if (streq(key, "allowedUnsafeSysctls")) {
                size_t i;
                json_t *e;
                if (!json_is_array(v))
                        return *err = strdup_printf("%s: expected a list of sysctl patterns", key), -EINVAL;
                c->allowed_unsafe_sysctls = strv_free(c->allowed_unsafe_sysctls);
                json_array_foreach(v, i, e)
                {
                        if (!json_is_string(e))
                                return *err = strdup_printf("%s[%zu]: expected a string", key, i), -EINVAL;
                        strv_push(&c->allowed_unsafe_sysctls, xstrdup(json_string_value(e)));
                }
                return sysctls_problem(c->allowed_unsafe_sysctls, key, err);
        }
        if (streq(key, "allowedExtraNetworks")) {
                size_t i;
                json_t *e;
                if (!json_is_array(v))
                        return *err = strdup_printf("%s: expected a list of network names", key), -EINVAL;
                c->allowed_extra_networks = strv_free(c->allowed_extra_networks);
                json_array_foreach(v, i, e)
                {
                        const char *why = json_is_string(e) ? extra_network_problem(json_string_value(e))
                                                            : "expected a string";
                        if (why)
                                return *err = strdup_printf("%s[%zu]: %s", key, i, why), -EINVAL;
                        strv_push(&c->allowed_extra_networks, xstrdup(json_string_value(e)));
                }
                return 0;
        }
        if (streq(key, "registerNode")) {
                if (!json_is_boolean(v))
                        return *err = strdup_printf("%s: expected true or false", key), -EINVAL;
                c->register_node = json_is_true(v);
                return 0;
        }
        if (streq(key, "serializeImagePulls") || streq(key, "rotateCertificates") ||
            streq(key, "serverTLSBootstrap")) {
                if (!json_is_boolean(v))
                        return *err = strdup_printf("%s: expected true or false", key), -EINVAL;
                *(streq(key, "rotateCertificates")   ? &c->rotate_certificates
                  : streq(key, "serverTLSBootstrap") ? &c->server_tls_bootstrap
                                                     : &c->serialize_image_pulls) = json_is_true(v);
                return 0;
        }
        if (streq(key, "maxParallelImagePulls")) {
                if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000)
                        return *err = strdup_printf("%s: expected an integer of at least 1", key), -EINVAL;
                c->max_parallel_image_pulls = (int) json_integer_value(v);
                return 0;
        }
        if (streq(key, "imageGCHighThresholdPercent") || streq(key, "imageGCLowThresholdPercent")) {
                /* The range here; low below high once the flags are in (config_parse). */
                if (!json_is_integer(v))
                        return *err = strdup_printf("%s: expected an integer from 0 to 100", key), -EINVAL;
                json_int_t n = json_integer_value(v);
                if (n < 0 || n > 100)
                        return *err = strdup_printf("%s: %lld must be between 0 and 100, inclusive", key,
                                                    (long long) n),
                               -EINVAL;
                *(streq(key, "imageGCHighThresholdPercent") ? &c->image_gc_high : &c->image_gc_low) =
                        (int) n;
                return 0;
        }
        if (streq(key, "imageMinimumGCAge")) {
                int64_t ms;
                if (!json_is_string(v) || parse_duration_ms(json_string_value(v), &ms) < 0)
                        return *err = strdup_printf("%s: expected a duration such as \"2m\"", key), -EINVAL;
                c->image_min_gc_age_ms = ms;
                return 0;
        }
        if (streq(key, "cgroupsPerQOS")) {
                if (!json_is_boolean(v))
                        return *err = strdup_printf("%s: expected true or false", key), -EINVAL;
                c->cgroups_per_qos = json_is_true(v);
                return 0;
        }
        if (streq(key, "cgroupRoot") || streq(key, "cgroupDriver")) {
                if (!json_is_string(v))
                        return *err = strdup_printf("%s: expected a string", key), -EINVAL;
                const char *s = json_string_value(v);
                const char *why =
                        streq(key, "cgroupRoot") ? cgroup_root_problem(s) : cgroup_driver_problem(s);
                if (why)
                        return *err = strdup_printf("%s: \"%s\": %s", key, s, why), -EINVAL;
                if (streq(key, "cgroupRoot"))
                        set_str(&c->cgroup_root, s[0] ? s : "/");
                return 0;
        }
        if (streq(key, "evictionHard") || streq(key, "evictionSoft") ||
            streq(key, "evictionSoftGracePeriod") || streq(key, "evictionMinimumReclaim"))
                return apply_eviction_map(c, key, v, err);
        if (streq(key, "evictionMaxPodGracePeriod")) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
                        return *err = strdup_printf("%s: expected a number of seconds >= 0", key), -EINVAL;
                c->eviction_max_pod_grace_s = json_integer_value(v);
                return 0;
        }
        if (streq(key, "evictionPressureTransitionPeriod")) {
                int64_t ms;
                if (!json_is_string(v) || parse_duration_ms(json_string_value(v), &ms) < 0)
                        return *err = strdup_printf("%s: expected a duration such as \"5m0s\"", key),
                               -EINVAL;
                c->eviction_transition_ms = ms;
                return 0;
        }
        if (streq(key, "kernelMemcgNotification")) {
                if (!json_is_boolean(v))
                        return *err = strdup_printf("%s: expected true or false", key), -EINVAL;
                c->kernel_memcg_notification = json_is_true(v);
                return 0;
        }
        if (streq(key, "podPidsLimit")) {
                if (!json_is_integer(v) || json_integer_value(v) < -1)
                        return *err = strdup_printf("%s: expected -1 (no limit) or a number of processes",
                                                    key),
                               -EINVAL;
                c->pod_pids_limit = json_integer_value(v);
                return 0;
        }
        if (streq(key, "authentication") || streq(key, "authorization"))
                return apply_auth(c, key, v, err);
        if (streq(key, "tlsCertFile") || streq(key, "tlsPrivateKeyFile")) {
                if (!json_is_string(v))
                        return *err = strdup_printf("%s: expected a string", key), -EINVAL;
                set_str(streq(key, "tlsCertFile") ? &c->tls_cert_file : &c->tls_key_file,
                        json_string_value(v)[0] ? json_string_value(v) : NULL);
                return 0;
        }
        if (streq(key, "clusterDomain") || streq(key, "resolvConf")) {
                if (!json_is_string(v))
                        return *err = strdup_printf("%s: expected a string", key), -EINVAL;
                const char *s = json_string_value(v);
                if (streq(key, "clusterDomain"))
                        set_str(&c->cluster_domain, s[0] ? s : NULL);
                else /* upstream's defaulting: an empty resolvConf in the file is the default */
                        set_str(&c->resolv_conf, s[0] ? s : "/etc/resolv.conf");
                return 0;
        }
        if (streq(key, "enforceNodeAllocatable")) {
                json_t *e;
                size_t i;
                if (json_is_null(v)) /* nil: upstream's default ([pods]) stays */
                        return 0;
                if (!json_is_array(v))
                        return *err = strdup_printf("%s: expected a list such as [pods]", key), -EINVAL;
                c->enforce_node_allocatable = strv_free(c->enforce_node_allocatable);
                c->enforce_explicit = true;
                json_array_foreach(v, i, e)
                {
                        if (!json_is_string(e))
                                return *err = strdup_printf("%s[%zu]: expected a string", key, i), -EINVAL;
                        strv_push(&c->enforce_node_allocatable, xstrdup(json_string_value(e)));
                }
                return 0;
        }
        if (streq(key, "kubeReservedCgroup") || streq(key, "systemReservedCgroup")) {
                if (!json_is_string(v))
                        return *err = strdup_printf("%s: expected a string", key), -EINVAL;
                const char *s = json_string_value(v);
                set_str(streq(key, "kubeReservedCgroup") ? &c->kube_reserved_cgroup
                                                         : &c->system_reserved_cgroup,
                        s[0] ? s : NULL);
                return 0;
        }
        if (streq(key, "clusterDNS")) {
                json_t *e;
                size_t i;
                if (!json_is_array(v))
                        return *err = strdup_printf("%s: expected a list of IP addresses", key), -EINVAL;
                c->cluster_dns = strv_free(c->cluster_dns);
                json_array_foreach(v, i, e)
                {
                        if (!json_is_string(e))
                                return *err = strdup_printf("%s[%zu]: expected a string", key, i), -EINVAL;
                        strv_push(&c->cluster_dns, xstrdup(json_string_value(e)));
                }
                return 0;
        }
        if (streq(key, "apiVersion") || streq(key, "kind"))
                return 0;
        *known = false;
        return 0;
}

int config_load_file(struct cubelet_config *c, const char *path, char **ret_err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_file_limit(path, 1 << 20, &buf, &len);

        if (r < 0) {
                *ret_err = strdup_printf("%s: %s", path, strerror(-r));
                return r;
        }
        return config_load_buffer(c, path, buf, len, ret_err);
}

int config_load_buffer(struct cubelet_config *c, const char *path, const char *buf, size_t len,
                       char **ret_err)
{
        _cleanup_free_ char *perr = NULL;
        struct yaml_doc *docs = NULL;
        size_t n = 0;
        int r = yaml_parse_docs(buf, len, &docs, &n, &perr);

        if (r < 0) {
                *ret_err = strdup_printf("%s: %s", path, perr);
                return r;
        }
        r = 0;
        json_t *root = n == 1 ? docs[0].value : NULL;
        json_t *kind = json_object_get(root, "kind"), *api = json_object_get(root, "apiVersion");
        if (!json_is_object(root)) {
                *ret_err = strdup_printf("%s: expected one KubeletConfiguration document", path);
                r = -EINVAL;
        } else if (!json_is_string(kind) || !streq(json_string_value(kind), "KubeletConfiguration") ||
                   !json_is_string(api) || !streq(json_string_value(api), "kubelet.config.k8s.io/v1beta1")) {
                *ret_err = strdup_printf("%s: apiVersion/kind must be kubelet.config.k8s.io/v1beta1 "
                                         "KubeletConfiguration",
                                         path);
                r = -EINVAL;
        } else {
                const char *k;
                json_t *v;
                config_drop_zero_defaults(root);
                json_object_foreach(root, k, v)
                {
                        bool known;
                        char *err = NULL;
                        if (apply_field(c, k, v, &err, &known) < 0) {
                                *ret_err = strdup_printf("%s: field %s", path, err);
                                free(err);
                                r = -EINVAL;
                                break;
                        }
                        if (!known)
                                log_warn("Unknown or unsupported field in the configuration file, ignoring "
                                         "it",
                                         "file=\"%s\" field=\"%s\"", path, k);
                }
        }
        yaml_docs_free(docs, n);
        return r;
}

enum {
        OPT_CONFIG = 256,
        OPT_MANIFEST,
        OPT_ENDPOINT,
        OPT_ROOT,
        OPT_HOSTNAME,
        OPT_LOGS,
        OPT_HEALTHZ_PORT,
        OPT_HEALTHZ_BIND,
        OPT_FILE_CHECK,
        OPT_HTTP_CHECK,
        OPT_MANIFEST_URL,
        OPT_MANIFEST_URL_HEADER,
        OPT_SYNC,
        OPT_RUNTIME_TIMEOUT,
        OPT_WORKERS,
        OPT_VERSION,
        OPT_READ_ONLY_PORT,
        OPT_ADDRESS,
        OPT_NODE_IP,
        OPT_RUNTIME_EVENTS,
        OPT_RELIST,
        OPT_EVENTED_RELIST,
        OPT_KUBECONFIG,
        OPT_BOOTSTRAP_KUBECONFIG,
        OPT_CERT_DIR,
        OPT_ROTATE_CERTS,
        OPT_ROTATE_SERVER_CERTS,
        OPT_REGISTER_NODE,
        OPT_NODE_LABELS,
        OPT_TAINTS,
        OPT_MAX_PODS,
        OPT_KUBE_RESERVED,
        OPT_SYSTEM_RESERVED,
        OPT_ENFORCE_ALLOCATABLE,
        OPT_KUBE_RESERVED_CGROUP,
        OPT_SYSTEM_RESERVED_CGROUP,
        OPT_CGROUPS_PER_QOS,
        OPT_SERIALIZE_PULLS,
        OPT_MAX_PARALLEL_PULLS,
        OPT_CGROUP_ROOT,
        OPT_CGROUP_DRIVER,
        OPT_POD_MAX_PIDS,
        OPT_EVICTION_HARD,
        OPT_EVICTION_SOFT,
        OPT_EVICTION_SOFT_GRACE,
        OPT_EVICTION_MIN_RECLAIM,
        OPT_EVICTION_MAX_POD_GRACE,
        OPT_EVICTION_TRANSITION,
        OPT_KERNEL_MEMCG_NOTIFICATION,
        OPT_NETWORK_MODE,
        OPT_CNI_CONF_DIR,
        OPT_POD_CIDR,
        OPT_SECCOMP_DEFAULT,
        OPT_LOG_MAX_SIZE,
        OPT_LOG_MAX_FILES,
        OPT_CNI_BIN_DIR,
        OPT_CNI_DELEGATE_SOCKET,
        OPT_PORT,
        OPT_TLS_CERT,
        OPT_TLS_KEY,
        OPT_CLIENT_CA,
        OPT_ANONYMOUS,
        OPT_TOKEN_WEBHOOK,
        OPT_AUTHZ_MODE,
        OPT_TOKEN_WEBHOOK_TTL,
        OPT_AUTHZ_ALLOWED_TTL,
        OPT_AUTHZ_DENIED_TTL,
        OPT_CLUSTER_DNS,
        OPT_CLUSTER_DOMAIN,
        OPT_RESOLV_CONF,
        OPT_UNSAFE_SYSCTLS,
        OPT_LOCAL_SOCKET,
        OPT_EXTRA_NETWORKS,
        OPT_IMAGE_GC_HIGH,
        OPT_IMAGE_GC_LOW,
        OPT_IMAGE_MIN_AGE,
        OPT_POD_INFRA_IMAGE,
        OPT_MAX_DEAD,
        OPT_MAX_DEAD_PER_CONTAINER,
        OPT_MIN_CONTAINER_TTL,
        OPT_IMAGE_GC_PERIOD,
        OPT_CONTAINER_GC_PERIOD,
        OPT_CONTAINER_RUNTIME,
        OPT_NETWORK_PLUGIN,
};

static const struct option options[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"pod-manifest-path", required_argument, NULL, OPT_MANIFEST},
        {"container-runtime-endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"root-dir", required_argument, NULL, OPT_ROOT},
        {"hostname-override", required_argument, NULL, OPT_HOSTNAME},
        {"pod-logs-dir", required_argument, NULL, OPT_LOGS},
        {"healthz-port", required_argument, NULL, OPT_HEALTHZ_PORT},
        {"healthz-bind-address", required_argument, NULL, OPT_HEALTHZ_BIND},
        {"file-check-frequency", required_argument, NULL, OPT_FILE_CHECK},
        {"http-check-frequency", required_argument, NULL, OPT_HTTP_CHECK},
        {"manifest-url", required_argument, NULL, OPT_MANIFEST_URL},
        {"manifest-url-header", required_argument, NULL, OPT_MANIFEST_URL_HEADER},
        {"sync-frequency", required_argument, NULL, OPT_SYNC},
        {"runtime-request-timeout", required_argument, NULL, OPT_RUNTIME_TIMEOUT},
        {"pod-workers", required_argument, NULL, OPT_WORKERS},
        {"read-only-port", required_argument, NULL, OPT_READ_ONLY_PORT},
        {"local-socket", required_argument, NULL, OPT_LOCAL_SOCKET},
        {"address", required_argument, NULL, OPT_ADDRESS},
        {"node-ip", required_argument, NULL, OPT_NODE_IP},
        {"runtime-event-stream", required_argument, NULL, OPT_RUNTIME_EVENTS},
        {"pleg-relist-period", required_argument, NULL, OPT_RELIST},
        {"pleg-evented-relist-period", required_argument, NULL, OPT_EVENTED_RELIST},
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"bootstrap-kubeconfig", required_argument, NULL, OPT_BOOTSTRAP_KUBECONFIG},
        {"cert-dir", required_argument, NULL, OPT_CERT_DIR},
        {"rotate-certificates", optional_argument, NULL, OPT_ROTATE_CERTS},
        {"rotate-server-certificates", optional_argument, NULL, OPT_ROTATE_SERVER_CERTS},
        {"register-node", required_argument, NULL, OPT_REGISTER_NODE},
        {"node-labels", required_argument, NULL, OPT_NODE_LABELS},
        {"register-with-taints", required_argument, NULL, OPT_TAINTS},
        {"max-pods", required_argument, NULL, OPT_MAX_PODS},
        {"kube-reserved", required_argument, NULL, OPT_KUBE_RESERVED},
        {"system-reserved", required_argument, NULL, OPT_SYSTEM_RESERVED},
        {"enforce-node-allocatable", required_argument, NULL, OPT_ENFORCE_ALLOCATABLE},
        {"kube-reserved-cgroup", required_argument, NULL, OPT_KUBE_RESERVED_CGROUP},
        {"system-reserved-cgroup", required_argument, NULL, OPT_SYSTEM_RESERVED_CGROUP},
        {"cgroups-per-qos", required_argument, NULL, OPT_CGROUPS_PER_QOS},
        {"serialize-image-pulls", required_argument, NULL, OPT_SERIALIZE_PULLS},
        {"max-parallel-image-pulls", required_argument, NULL, OPT_MAX_PARALLEL_PULLS},
        {"cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT},
        {"cgroup-driver", required_argument, NULL, OPT_CGROUP_DRIVER},
        {"pod-max-pids", required_argument, NULL, OPT_POD_MAX_PIDS},
        {"eviction-hard", required_argument, NULL, OPT_EVICTION_HARD},
        {"eviction-soft", required_argument, NULL, OPT_EVICTION_SOFT},
        {"eviction-soft-grace-period", required_argument, NULL, OPT_EVICTION_SOFT_GRACE},
        {"eviction-minimum-reclaim", required_argument, NULL, OPT_EVICTION_MIN_RECLAIM},
        {"eviction-max-pod-grace-period", required_argument, NULL, OPT_EVICTION_MAX_POD_GRACE},
        {"eviction-pressure-transition-period", required_argument, NULL, OPT_EVICTION_TRANSITION},
        {"kernel-memcg-notification", required_argument, NULL, OPT_KERNEL_MEMCG_NOTIFICATION},
        {"network-mode", required_argument, NULL, OPT_NETWORK_MODE},
        {"cni-conf-dir", required_argument, NULL, OPT_CNI_CONF_DIR},
        {"pod-cidr", required_argument, NULL, OPT_POD_CIDR},
        {"seccomp-default", optional_argument, NULL, OPT_SECCOMP_DEFAULT},
        {"container-log-max-size", required_argument, NULL, OPT_LOG_MAX_SIZE},
        {"container-log-max-files", required_argument, NULL, OPT_LOG_MAX_FILES},
        {"cni-bin-dir", required_argument, NULL, OPT_CNI_BIN_DIR},
        {"cni-delegate-socket", required_argument, NULL, OPT_CNI_DELEGATE_SOCKET},
        {"port", required_argument, NULL, OPT_PORT},
        {"tls-cert-file", required_argument, NULL, OPT_TLS_CERT},
        {"tls-private-key-file", required_argument, NULL, OPT_TLS_KEY},
        {"client-ca-file", required_argument, NULL, OPT_CLIENT_CA},
        {"anonymous-auth", required_argument, NULL, OPT_ANONYMOUS},
        {"authentication-token-webhook", required_argument, NULL, OPT_TOKEN_WEBHOOK},
        {"authorization-mode", required_argument, NULL, OPT_AUTHZ_MODE},
        {"authentication-token-webhook-cache-ttl", required_argument, NULL, OPT_TOKEN_WEBHOOK_TTL},
        {"authorization-webhook-cache-authorized-ttl", required_argument, NULL, OPT_AUTHZ_ALLOWED_TTL},
        {"authorization-webhook-cache-unauthorized-ttl", required_argument, NULL, OPT_AUTHZ_DENIED_TTL},
        {"cluster-dns", required_argument, NULL, OPT_CLUSTER_DNS},
        {"cluster-domain", required_argument, NULL, OPT_CLUSTER_DOMAIN},
        {"resolv-conf", required_argument, NULL, OPT_RESOLV_CONF},
        {"allowed-unsafe-sysctls", required_argument, NULL, OPT_UNSAFE_SYSCTLS},
        {"allowed-extra-networks", required_argument, NULL, OPT_EXTRA_NETWORKS},
        {"image-gc-high-threshold", required_argument, NULL, OPT_IMAGE_GC_HIGH},
        {"image-gc-low-threshold", required_argument, NULL, OPT_IMAGE_GC_LOW},
        {"minimum-image-ttl-duration", required_argument, NULL, OPT_IMAGE_MIN_AGE},
        {"pod-infra-container-image", required_argument, NULL, OPT_POD_INFRA_IMAGE},
        {"maximum-dead-containers", required_argument, NULL, OPT_MAX_DEAD},
        {"maximum-dead-containers-per-container", required_argument, NULL, OPT_MAX_DEAD_PER_CONTAINER},
        {"minimum-container-ttl-duration", required_argument, NULL, OPT_MIN_CONTAINER_TTL},
        {"image-gc-period", required_argument, NULL, OPT_IMAGE_GC_PERIOD},
        {"container-gc-period", required_argument, NULL, OPT_CONTAINER_GC_PERIOD},
        {"container-runtime", required_argument, NULL, OPT_CONTAINER_RUNTIME},
        {"network-plugin", required_argument, NULL, OPT_NETWORK_PLUGIN},
        {"v", required_argument, NULL, 'v'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {0},
};

static void usage(FILE *f)
{
        fputs("Usage: cubelet [flags]\n"
              "A Kubernetes node agent: runs the pods of static manifests through a CRI runtime.\n\n"
              "Flags (flags override the --config file):\n"
              "  --config FILE                      KubeletConfiguration (kubelet.config.k8s.io/v1beta1) "
              "YAML\n"
              "  --pod-manifest-path DIR            static pod manifests (staticPodPath) [none]\n"
              "  --container-runtime-endpoint EP    CRI socket [unix:///run/containerd/containerd.sock]\n"
              "  --root-dir DIR                     state directory [/var/lib/cubelet]\n"
              "  --pod-logs-dir DIR                 container logs (podLogsDir) [/var/log/pods]\n"
              "  --hostname-override NAME           node name [the hostname, lowercased]\n"
              "  --healthz-port PORT                healthz port, 0 disables [10248]\n"
              "  --healthz-bind-address IP          healthz address [127.0.0.1]\n"
              "  --read-only-port PORT              unauthenticated /pods and /healthz, 0 disables [0]\n"
              "  --local-socket PATH                /pods, /events and /healthz for root only, \"\" "
              "disables\n"
              "                                     (localSocket) [/run/cubelet/cubelet.sock]\n"
              "  --address IP                       address of the read-only port [0.0.0.0]\n"
              "  --node-ip IP                       the node's IP (status.hostIP) [the default route's]\n"
              "  --file-check-frequency DURATION    static pod directory rescan [20s]\n"
              "  --manifest-url URL                 more static pods, read from a URL (staticPodURL) "
              "[none]\n"
              "  --manifest-url-header K:V,...      headers sent to it, repeatable (staticPodURLHeader)\n"
              "  --http-check-frequency DURATION    how often the URL is read (httpCheckFrequency) [20s]\n"
              "  --sync-frequency DURATION          full pod resync [1m]\n"
              "  --runtime-request-timeout DURATION CRI call deadline [2m]\n"
              "  --pod-workers N                    pod worker threads kept when idle; every pod with "
              "work gets\n"
              "                                     one at once [4]\n"
              "  --runtime-event-stream BOOL        containerd's task events for instant exits [true]\n"
              "  --pleg-relist-period DURATION      the runtime relist while its event stream is down [1s]\n"
              "  --pleg-evented-relist-period DURATION\n"
              "                                     the safety relist while events flow [5m, as upstream's "
              "evented PLEG]\n"
              "  --kubeconfig FILE                  the API server and credentials; none: standalone "
              "[none]\n"
              "  --bootstrap-kubeconfig FILE        TLS bootstrap: credentials to request a client "
              "certificate\n"
              "                                     with when --kubeconfig is missing or unusable [none]\n"
              "  --cert-dir DIR                     the client and serving certificates "
              "[/var/lib/kubelet/pki]\n"
              "  --rotate-certificates[=BOOL]       renew the client certificate by CSR "
              "(rotateCertificates) [false]\n"
              "  --rotate-server-certificates[=BOOL] the node API's certificate by CSR, renewed "
              "(serverTLSBootstrap) [false]\n"
              "  --register-node BOOL               register the Node with the API server [true]\n"
              "  --node-labels K=V,...              labels of the registered Node [none]\n"
              "  --register-with-taints K=V:E,...   taints of the registered Node [none]\n"
              "  --max-pods N                       pods this node runs (capacity.pods) [110]\n"
              "  --kube-reserved cpu=Q,memory=Q     taken from the Node's allocatable (kubeReserved) "
              "[none]\n"
              "  --system-reserved cpu=Q,memory=Q   taken from the Node's allocatable (systemReserved) "
              "[none]\n"
              "  --enforce-node-allocatable LIST    pods (kubepods sized), kube-reserved, system-reserved "
              "(their cgroups limited), none [pods]\n"
              "  --kube-reserved-cgroup NAME        the existing cgroup kube-reserved limits "
              "(\"/kube-reserved\")\n"
              "  --system-reserved-cgroup NAME      the existing cgroup system-reserved limits\n"
              "  --cgroups-per-qos BOOL             pod cgroups under kubepods by QoS class [true]\n"
              "  --serialize-image-pulls BOOL       one image pull at a time (serializeImagePulls) [true]\n"
              "  --max-parallel-image-pulls N       pulls at once when not serialized "
              "(maxParallelImagePulls)\n"
              "                                     [16]\n"
              "  --image-gc-high-threshold PCT      image disk usage that starts image GC, 100 disables\n"
              "                                     (imageGCHighThresholdPercent) [85]\n"
              "  --image-gc-low-threshold PCT       usage image GC frees down to "
              "(imageGCLowThresholdPercent) [80]\n"
              "  --minimum-image-ttl-duration DUR   an unused image's minimum age before GC "
              "(imageMinimumGCAge)\n"
              "                                     [2m]\n"
              "  --pod-infra-container-image REF    a sandbox image never collected, beside the runtime's "
              "[none]\n"
              "  --container-runtime remote         what kubeadm's flags say; cubelet runs a CRI runtime "
              "only\n"
              "  --network-plugin cni               what kubeadm's flags say; pod networks are CNI only\n"
              "  --maximum-dead-containers N        dead containers kept on the node, -1 no limit [-1]\n"
              "  --maximum-dead-containers-per-container N\n"
              "                                     dead instances kept per container [1]\n"
              "  --minimum-container-ttl-duration DUR\n"
              "                                     a dead container's minimum age before GC [0]\n"
              "  --image-gc-period DUR              image GC period, for tests (upstream: 5m) [5m]\n"
              "  --container-gc-period DUR          container GC period, for tests (upstream: 1m) [1m]\n"
              "  --cgroup-root PATH                 the cgroup kubepods goes under (cgroupfs syntax) [/]\n"
              "  --cgroup-driver NAME               cgroupfs (the only one) [cgroupfs]\n"
              "  --pod-max-pids N                   pids.max of each pod, -1 for none (podPidsLimit) [-1]\n"
              "  --eviction-hard S<Q,...            hard eviction thresholds (evictionHard) "
              "[memory.available<100Mi,\n"
              "                                     "
              "nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%]\n"
              "  --eviction-soft S<Q,...            soft eviction thresholds (evictionSoft) [none]\n"
              "  --eviction-soft-grace-period S=D,...  their grace periods (evictionSoftGracePeriod)\n"
              "  --eviction-minimum-reclaim S=Q,... (evictionMinimumReclaim)\n"
              "  --eviction-max-pod-grace-period N  soft evictions' grace period "
              "(evictionMaxPodGracePeriod) [0]\n"
              "  --eviction-pressure-transition-period D  (evictionPressureTransitionPeriod) [5m0s]\n"
              "  --kernel-memcg-notification B      memory cgroup thresholds (kernelMemcgNotification) "
              "[false]\n"
              "  --network-mode runtime|agent       who runs CNI: containerd, or cubelet through its "
              "delegate [runtime]\n"
              "  --container-log-max-size QTY       rotate a container's log above this "
              "(containerLogMaxSize) [10Mi]\n"
              "  --container-log-max-files N        log files kept per container (containerLogMaxFiles) "
              "[5]\n"
              "  --seccomp-default[=BOOL]           RuntimeDefault seccomp for pods that set none [false]\n"
              "  --allowed-unsafe-sysctls P,...     unsafe sysctls (or 'prefix*' patterns) pods may set\n"
              "                                     beside the safe ones (allowedUnsafeSysctls) [none]\n"
              "  --allowed-extra-networks N,...     CNI networks pods may name in "
              "cubelet.io/extra-networks\n"
              "                                     (allowedExtraNetworks) [none]\n"
              "  --pod-cidr CIDR                    agent mode: the default network's range when the CNI\n"
              "                                     directory is empty (podCIDR) [the Node's spec.podCIDR]\n"
              "  --cni-conf-dir DIR                 CNI configuration [runtime: the runtime's; agent: "
              "/etc/cni/net.d]\n"
              "  --cni-bin-dir DIR,...              CNI plugins [the runtime's, else /opt/cni/bin]\n"
              "  --cni-delegate-socket PATH         agent mode: where cubelet-delegate reaches cubelet "
              "[/run/cubelet/cni.sock]\n"
              "  --port PORT                        the node server (HTTPS), 0 disables [10250]\n"
              "  --tls-cert-file FILE               its certificate [self-signed in ROOT/pki]\n"
              "  --tls-private-key-file FILE        its key\n"
              "  --client-ca-file FILE              CA of client certificates (x509 authentication) [none]\n"
              "  --anonymous-auth BOOL              unauthenticated requests as system:anonymous [false]\n"
              "  --authentication-token-webhook BOOL bearer tokens by TokenReview [true]\n"
              "  --authorization-mode MODE          AlwaysAllow or Webhook [Webhook with --kubeconfig]\n"
              "  --authentication-token-webhook-cache-ttl DURATION\n"
              "                                     TokenReview answers kept, 0 for none [2m]\n"
              "  --authorization-webhook-cache-authorized-ttl DURATION\n"
              "                                     SubjectAccessReview \"allowed\" kept [5m]\n"
              "  --authorization-webhook-cache-unauthorized-ttl DURATION\n"
              "                                     SubjectAccessReview \"denied\" kept [30s]\n"
              "  --cluster-dns IP,...               nameservers of ClusterFirst pods (clusterDNS) [none:\n"
              "                                     they get the node's resolver]\n"
              "  --cluster-domain DOMAIN            the cluster's domain, searched by pods (clusterDomain)\n"
              "                                     [none]\n"
              "  --resolv-conf FILE                 the base of pods' resolv.conf, \"\" for none "
              "(resolvConf)\n"
              "                                     [/etc/resolv.conf]\n"
              "  -v, --v N                          log verbosity [0]\n"
              "  --version                          print the version (Kubernetes v1.20.0-cubelet.VERSION) "
              "and exit\n"
              "  -h, --help                         this help\n",
              f);
}

static int flag_error(const char *flag, const char *value, const char *why)
{
        fprintf(stderr, "cubelet: invalid value \"%s\" for flag --%s: %s\n", value, flag, why);
        return -EINVAL;
}

static int parse_int_flag(const char *flag, const char *v, int min, int max, int *ret)
{
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || *end || !*v || n < min || n > max) {
                char why[64];
                snprintf(why, sizeof why, "expected an integer from %d to %d", min, max);
                return flag_error(flag, v, why);
        }
        *ret = (int) n;
        return 0;
}

int config_eviction_thresholds(const struct cubelet_config *c, struct ev_threshold **ret, size_t *ret_n,
                               char **ret_err)
{
        struct ev_statements st = {.hard = c->eviction_hard,
                                   .soft = c->eviction_soft,
                                   .soft_grace = c->eviction_soft_grace,
                                   .min_reclaim = c->eviction_min_reclaim};
        /* enforceNodeAllocatable is "pods" (the kubepods cgroup is sized) whenever pod cgroups are on */
        return ev_thresholds_parse(&st, c->cgroups_per_qos, ret, ret_n, ret_err);
}

static int config_check_eviction(const struct cubelet_config *c)
{
        struct ev_threshold *t = NULL;
        size_t n;
        _cleanup_free_ char *err = NULL;
        if (config_eviction_thresholds(c, &t, &n, &err) < 0) {
                fprintf(stderr, "cubelet: invalid eviction thresholds: %s\n", err);
                return -EINVAL;
        }
        free(t);
        return 0;
}

/* getopt_long_only takes any unambiguous prefix of a long flag ("--container-runtime" would set
 * --container-runtime-endpoint); upstream's flags are exact names. NULL when every flag is one, else the
 * first argument that is not. */
static const char *inexact_flag(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (streq(a, "--"))
                        break;
                if (a[0] != '-' || !a[1])
                        continue; /* not a flag: refused later */
                bool two = a[1] == '-';
                const char *name = a + (two ? 2 : 1);
                size_t len = strcspn(name, "=");
                const struct option *o = NULL;
                for (const struct option *p = options; p->name && !o; p++)
                        if (strlen(p->name) == len && strncmp(p->name, name, len) == 0)
                                o = p;
                if (!o) {
                        if (!two &&
                            (streq(name, "h") || (name[0] == 'v' && name[1] &&
                                                  strspn(name + 1, "0123456789") == strlen(name + 1))))
                                continue; /* the short flags: -h, -v4 */
                        return a;
                }
                if (o->has_arg == required_argument && !name[len])
                        i++; /* its value, whatever it looks like */
        }
        return NULL;
}

int config_parse(struct cubelet_config *c, int argc, char **argv)
{
        bool url_header_flag_seen = false;
        bool cluster_dns_seen = false; /* the first --cluster-dns replaces the file's list */
        bool kube_reserved_seen = false, system_reserved_seen = false, enforce_seen = false;
        int opt;

        const char *bad = inexact_flag(argc, argv);
        if (bad) {
                fprintf(stderr, "cubelet: unknown flag: %s\n", bad);
                usage(stderr);
                return -EINVAL;
        }
        /* Pass 1: find --config, so the file can be applied before the other flags override it. */
        opterr = 0;
        optind = 0; /* glibc: 0 resets getopt fully */
        while ((opt = getopt_long_only(argc, argv, "hv:", options, NULL)) != -1)
                if (opt == OPT_CONFIG)
                        set_str(&c->config_file, optarg);
        if (c->config_file) {
                _cleanup_free_ char *err = NULL;
                if (config_load_file(c, c->config_file, &err) < 0) {
                        fprintf(stderr, "cubelet: invalid configuration file: %s\n", err);
                        return -EINVAL;
                }
        }

        opterr = 0;
        optind = 0;
        while ((opt = getopt_long_only(argc, argv, ":hv:", options, NULL)) != -1) {
                int64_t ms;
                const char *name = NULL;
                for (const struct option *o = options; o->name && !name; o++)
                        if (o->val == opt)
                                name = o->name;
                switch (opt) {
                case OPT_CONFIG:
                        break;
                case OPT_MANIFEST:
                        set_str(&c->static_pod_path, optarg[0] ? optarg : NULL);
                        break;
                case OPT_ENDPOINT:
                        if (!optarg[0])
                                return flag_error(name, optarg, "must not be empty");
                        if (optarg[0] == '/') {
                                /* A bare path (kubeadm 1.20 writes one): upstream takes it as unix://, with a
                                 * warning. */
                                free(c->runtime_endpoint);
                                c->runtime_endpoint = strdup_printf("unix://%s", optarg);
                                log_warn("Using a path as the runtime endpoint is deprecated, please "
                                         "consider "
                                         "using the full URL format",
                                         "endpoint=\"%s\" url=\"%s\"", optarg, c->runtime_endpoint);
                        } else
                                set_str(&c->runtime_endpoint, optarg);
                        break;
                case OPT_CONTAINER_RUNTIME:
                        if (!streq(optarg, "remote"))
                                return flag_error(name, optarg,
                                                  "cubelet runs only a CRI runtime (\"remote\"): set "
                                                  "--container-runtime-endpoint");
                        break;
                case OPT_NETWORK_PLUGIN:
                        if (optarg[0] && !streq(optarg, "cni"))
                                return flag_error(name, optarg,
                                                  "cubelet sets up pod networks with CNI only (\"cni\")");
                        break;
                case OPT_ROOT:
                case OPT_LOGS:
                        if (optarg[0] != '/')
                                return flag_error(name, optarg, "must be an absolute path");
                        set_str(opt == OPT_ROOT ? &c->root_dir : &c->pod_logs_dir, optarg);
                        break;
                case OPT_HOSTNAME:
                        if (!optarg[0])
                                return flag_error(name, optarg, "must not be empty");
                        set_str(&c->node_name, optarg);
                        break;
                case OPT_HEALTHZ_PORT:
                        if (parse_int_flag(name, optarg, 0, 65535, &c->healthz_port) < 0)
                                return -EINVAL;
                        break;
                case OPT_HEALTHZ_BIND:
                case OPT_ADDRESS:
                case OPT_NODE_IP: {
                        struct in_addr ia;
                        if (inet_pton(AF_INET, optarg, &ia) != 1)
                                return flag_error(name, optarg, "expected an IPv4 address");
                        set_str(opt == OPT_HEALTHZ_BIND ? &c->healthz_bind
                                : opt == OPT_ADDRESS    ? &c->address
                                                        : &c->node_ip,
                                optarg);
                        break;
                }
                case OPT_PORT:
                        if (parse_int_flag(name, optarg, 0, 65535, &c->port) < 0)
                                return -EINVAL;
                        break;
                case OPT_TLS_CERT:
                case OPT_TLS_KEY:
                case OPT_CLIENT_CA:
                        set_str(opt == OPT_TLS_CERT  ? &c->tls_cert_file
                                : opt == OPT_TLS_KEY ? &c->tls_key_file
                                                     : &c->client_ca_file,
                                optarg[0] ? optarg : NULL);
                        break;
                case OPT_TOKEN_WEBHOOK_TTL:
                case OPT_AUTHZ_ALLOWED_TTL:
                case OPT_AUTHZ_DENIED_TTL:
                        if (parse_duration_ms(optarg, &ms) < 0)
                                return flag_error(name, optarg,
                                                  "expected a duration such as \"2m\" (0: none)");
                        *(opt == OPT_TOKEN_WEBHOOK_TTL   ? &c->authn_cache_ttl_ms
                          : opt == OPT_AUTHZ_ALLOWED_TTL ? &c->authz_allowed_ttl_ms
                                                         : &c->authz_denied_ttl_ms) = ms;
                        break;
                case OPT_UNSAFE_SYSCTLS: {
                        _cleanup_free_ char *copy = xstrdup(optarg), *why = NULL;
                        char *save = NULL;
                        c->allowed_unsafe_sysctls = strv_free(c->allowed_unsafe_sysctls);
                        for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
                                strv_push(&c->allowed_unsafe_sysctls, xstrdup(p));
                        if (sysctls_problem(c->allowed_unsafe_sysctls, "--allowed-unsafe-sysctls", &why) < 0)
                                return flag_error(name, optarg, why);
                        break;
                }
                case OPT_EXTRA_NETWORKS: {
                        _cleanup_free_ char *copy = xstrdup(optarg);
                        char *save = NULL;
                        c->allowed_extra_networks = strv_free(c->allowed_extra_networks);
                        for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
                                if (extra_network_problem(p))
                                        return flag_error(name, optarg, extra_network_problem(p));
                                strv_push(&c->allowed_extra_networks, xstrdup(p));
                        }
                        break;
                }
                case OPT_AUTHZ_MODE:
                        if (authz_mode_problem(optarg))
                                return flag_error(name, optarg, authz_mode_problem(optarg));
                        set_str(&c->authz_mode, optarg);
                        break;
                case OPT_RUNTIME_EVENTS:
                case OPT_ANONYMOUS:
                case OPT_TOKEN_WEBHOOK:
                case OPT_CGROUPS_PER_QOS:
                case OPT_SERIALIZE_PULLS: {
                        bool *dst = opt == OPT_RUNTIME_EVENTS    ? &c->runtime_events
                                    : opt == OPT_ANONYMOUS       ? &c->anonymous_auth
                                    : opt == OPT_TOKEN_WEBHOOK   ? &c->webhook_authn
                                    : opt == OPT_SERIALIZE_PULLS ? &c->serialize_image_pulls
                                                                 : &c->cgroups_per_qos;
                        if (streq(optarg, "true") || streq(optarg, "1"))
                                *dst = true;
                        else if (streq(optarg, "false") || streq(optarg, "0"))
                                *dst = false;
                        else
                                return flag_error(name, optarg, "expected true or false");
                        break;
                }
                case OPT_CGROUP_ROOT:
                case OPT_CGROUP_DRIVER: {
                        const char *why = opt == OPT_CGROUP_ROOT ? cgroup_root_problem(optarg)
                                                                 : cgroup_driver_problem(optarg);
                        if (why)
                                return flag_error(name, optarg, why);
                        if (opt == OPT_CGROUP_ROOT)
                                set_str(&c->cgroup_root, optarg[0] ? optarg : "/");
                        break;
                }
                case OPT_EVICTION_HARD:
                case OPT_EVICTION_SOFT:
                case OPT_EVICTION_SOFT_GRACE:
                case OPT_EVICTION_MIN_RECLAIM: {
                        _cleanup_free_ char *why = eviction_flag(c, name, optarg);
                        if (why)
                                return flag_error(name, optarg, why);
                        break;
                }
                case OPT_EVICTION_MAX_POD_GRACE: {
                        int n;
                        if (parse_int_flag(name, optarg, 0, INT32_MAX, &n) < 0)
                                return -EINVAL;
                        c->eviction_max_pod_grace_s = n;
                        break;
                }
                case OPT_EVICTION_TRANSITION:
                        if (parse_duration_ms(optarg, &ms) < 0)
                                return flag_error(name, optarg, "expected a duration such as 5m0s");
                        c->eviction_transition_ms = ms;
                        break;
                case OPT_KERNEL_MEMCG_NOTIFICATION:
                        if (!streq(optarg, "true") && !streq(optarg, "false"))
                                return flag_error(name, optarg, "expected true or false");
                        c->kernel_memcg_notification = streq(optarg, "true");
                        break;
                case OPT_POD_MAX_PIDS: {
                        char *end;
                        errno = 0;
                        long long n = strtoll(optarg, &end, 10);
                        if (errno || *end || !optarg[0] || n < -1)
                                return flag_error(name, optarg,
                                                  "expected -1 (no limit) or a number of processes");
                        c->pod_pids_limit = n;
                        break;
                }
                case OPT_LOCAL_SOCKET:
                        if (local_socket_problem(optarg))
                                return flag_error(name, optarg, local_socket_problem(optarg));
                        set_str(&c->local_socket, optarg[0] ? optarg : NULL);
                        break;
                case OPT_READ_ONLY_PORT:
                        if (parse_int_flag(name, optarg, 0, 65535, &c->read_only_port) < 0)
                                return -EINVAL;
                        break;
                case OPT_RELIST:
                        if (parse_duration_ms(optarg, &ms) < 0 || ms < 100)
                                return flag_error(name, optarg, "expected a duration of at least 100ms");
                        c->relist_ms = ms;
                        break;
                case OPT_EVENTED_RELIST:
                        if (parse_duration_ms(optarg, &ms) < 0 || ms < 100)
                                return flag_error(name, optarg, "expected a duration of at least 100ms");
                        c->evented_relist_ms = ms;
                        break;
                case OPT_MANIFEST_URL:
                        if (optarg[0] && manifest_url_problem(optarg))
                                return flag_error(name, optarg, manifest_url_problem(optarg));
                        set_str(&c->static_pod_url, optarg[0] ? optarg : NULL);
                        break;
                case OPT_MANIFEST_URL_HEADER: {
                        _cleanup_free_ char *why = NULL;
                        if (!url_header_flag_seen) /* the flag replaces the file's headers, as upstream */
                                c->static_pod_url_header = strv_free(c->static_pod_url_header);
                        url_header_flag_seen = true;
                        if (add_url_headers(c, optarg, &why) < 0)
                                return flag_error(name, optarg, why);
                        break;
                }
                case OPT_FILE_CHECK:
                case OPT_HTTP_CHECK:
                case OPT_SYNC:
                case OPT_RUNTIME_TIMEOUT:
                        if (parse_duration_ms(optarg, &ms) < 0 || ms <= 0)
                                return flag_error(name, optarg,
                                                  "expected a positive duration such as \"20s\"");
                        *(opt == OPT_FILE_CHECK   ? &c->file_check_ms
                          : opt == OPT_HTTP_CHECK ? &c->http_check_ms
                          : opt == OPT_SYNC       ? &c->sync_ms
                                                  : &c->runtime_timeout_ms) = ms;
                        break;
                case OPT_WORKERS:
                        if (parse_int_flag(name, optarg, 1, 64, &c->workers) < 0)
                                return -EINVAL;
                        break;
                case OPT_KUBE_RESERVED:
                case OPT_SYSTEM_RESERVED: {
                        /* upstream's map flag: the first use replaces the file's map, the next ones merge */
                        bool kube = opt == OPT_KUBE_RESERVED;
                        struct reservation *r = kube ? &c->kube_reserved : &c->system_reserved;
                        bool *seen = kube ? &kube_reserved_seen : &system_reserved_seen;
                        if (!*seen)
                                reservation_clear(r);
                        *seen = true;
                        _cleanup_free_ char *why = NULL;
                        if (parse_reserved(optarg, r, &why) < 0)
                                return flag_error(name, optarg, why);
                        break;
                }
                case OPT_ENFORCE_ALLOCATABLE: {
                        /* a comma list, as upstream's string slice: "" is none, an empty field is
                         * one (and refused by the validation, as upstream's) */
                        _cleanup_free_ char *copy = xstrdup(optarg);
                        char *rest = copy, *k;
                        if (!enforce_seen)
                                c->enforce_node_allocatable = strv_free(c->enforce_node_allocatable);
                        enforce_seen = c->enforce_explicit = true;
                        while (optarg[0] && (k = strsep(&rest, ",")))
                                strv_push(&c->enforce_node_allocatable, xstrdup(k));
                        break;
                }
                case OPT_KUBE_RESERVED_CGROUP:
                case OPT_SYSTEM_RESERVED_CGROUP:
                        set_str(opt == OPT_KUBE_RESERVED_CGROUP ? &c->kube_reserved_cgroup
                                                                : &c->system_reserved_cgroup,
                                optarg[0] ? optarg : NULL);
                        break;
                case OPT_MAX_PODS:
                        if (parse_int_flag(name, optarg, 1, 1000000, &c->max_pods) < 0)
                                return -EINVAL;
                        break;
                case OPT_KUBECONFIG:
                        set_str(&c->kubeconfig, optarg[0] ? optarg : NULL);
                        break;
                case OPT_BOOTSTRAP_KUBECONFIG:
                        set_str(&c->bootstrap_kubeconfig, optarg[0] ? optarg : NULL);
                        break;
                case OPT_CERT_DIR:
                        if (!optarg[0])
                                return flag_error(name, optarg, "expected a directory");
                        set_str(&c->cert_dir, optarg);
                        break;
                case OPT_ROTATE_CERTS:
                case OPT_ROTATE_SERVER_CERTS: {
                        bool *b =
                                opt == OPT_ROTATE_CERTS ? &c->rotate_certificates : &c->server_tls_bootstrap;
                        if (!optarg || streq(optarg, "true") || streq(optarg, "1"))
                                *b = true;
                        else if (streq(optarg, "false") || streq(optarg, "0"))
                                *b = false;
                        else
                                return flag_error(name, optarg, "expected true or false");
                        break;
                }
                case OPT_REGISTER_NODE:
                        if (streq(optarg, "true") || streq(optarg, "1"))
                                c->register_node = true;
                        else if (streq(optarg, "false") || streq(optarg, "0"))
                                c->register_node = false;
                        else
                                return flag_error(name, optarg, "expected true or false");
                        break;
                case OPT_NODE_LABELS:
                case OPT_TAINTS: {
                        char ***dst = opt == OPT_NODE_LABELS ? &c->node_labels : &c->register_taints;
                        _cleanup_free_ char *copy = xstrdup(optarg);
                        char *save = NULL;
                        for (char *item = strtok_r(copy, ",", &save); item;
                             item = strtok_r(NULL, ",", &save)) {
                                _cleanup_free_ char *k = NULL, *v = NULL, *err = NULL;
                                if (opt == OPT_NODE_LABELS && node_label_parse(item, &k, &v) < 0)
                                        return flag_error(
                                                name, item,
                                                "expected key=value with a valid label key and value");
                                if (opt == OPT_NODE_LABELS && !node_label_allowed(k))
                                        return flag_error(
                                                name, item,
                                                "a node may not set labels in the kubernetes.io or "
                                                "k8s.io namespaces other than its own "
                                                "(NodeRestriction)");
                                if (opt == OPT_TAINTS) {
                                        json_t *t = node_taint_parse(item, &err);
                                        if (!t)
                                                return flag_error(name, item, err);
                                        json_decref(t);
                                }
                                strv_push(dst, xstrdup(item));
                        }
                        break;
                }
                case OPT_LOG_MAX_SIZE: {
                        int64_t milli;
                        if (parse_quantity_milli(optarg, &milli) < 0 || milli < 0)
                                return flag_error(name, optarg, "expected a quantity such as 10Mi");
                        c->log_max_size = milli / 1000;
                        break;
                }
                case OPT_IMAGE_GC_HIGH:
                case OPT_IMAGE_GC_LOW:
                        if (parse_int_flag(name, optarg, 0, 100,
                                           opt == OPT_IMAGE_GC_HIGH ? &c->image_gc_high : &c->image_gc_low) <
                            0)
                                return -EINVAL;
                        break;
                case OPT_MAX_DEAD:
                case OPT_MAX_DEAD_PER_CONTAINER:
                        if (parse_int_flag(name, optarg, INT32_MIN, INT32_MAX,
                                           opt == OPT_MAX_DEAD ? &c->max_dead_containers
                                                               : &c->max_dead_per_container) < 0)
                                return -EINVAL;
                        break;
                case OPT_POD_INFRA_IMAGE:
                        set_str(&c->pod_infra_image, optarg[0] ? optarg : NULL);
                        break;
                case OPT_IMAGE_MIN_AGE:
                case OPT_MIN_CONTAINER_TTL:
                        if (parse_duration_ms(optarg, &ms) < 0)
                                return flag_error(name, optarg, "expected a duration such as \"2m\"");
                        *(opt == OPT_IMAGE_MIN_AGE ? &c->image_min_gc_age_ms : &c->min_container_ttl_ms) =
                                ms;
                        break;
                case OPT_IMAGE_GC_PERIOD:
                case OPT_CONTAINER_GC_PERIOD:
                        if (parse_duration_ms(optarg, &ms) < 0 || ms < 100)
                                return flag_error(name, optarg, "expected a duration of at least 100ms");
                        *(opt == OPT_IMAGE_GC_PERIOD ? &c->image_gc_period_ms : &c->container_gc_period_ms) =
                                ms;
                        break;
                case OPT_MAX_PARALLEL_PULLS:
                        if (parse_int_flag(name, optarg, 1, 1000, &c->max_parallel_image_pulls) < 0)
                                return -EINVAL;
                        break;
                case OPT_LOG_MAX_FILES:
                        if (parse_int_flag(name, optarg, 2, 1000, &c->log_max_files) < 0)
                                return -EINVAL;
                        break;
                case OPT_SECCOMP_DEFAULT:
                        if (!optarg || streq(optarg, "true") || streq(optarg, "1"))
                                c->seccomp_default = true;
                        else if (streq(optarg, "false") || streq(optarg, "0"))
                                c->seccomp_default = false;
                        else
                                return flag_error(name, optarg, "expected true or false");
                        break;
                case OPT_POD_CIDR: {
                        _cleanup_free_ char *why = NULL;
                        if (!cidr_valid(optarg, &why))
                                return flag_error(name, optarg, why);
                        set_str(&c->pod_cidr, optarg);
                        break;
                }
                case OPT_NETWORK_MODE:
                        if (network_mode_from_string(optarg, &c->network_mode) < 0)
                                return flag_error(name, optarg, "expected runtime or agent");
                        break;
                case OPT_CNI_CONF_DIR:
                case OPT_CNI_DELEGATE_SOCKET:
                        if (optarg[0] != '/')
                                return flag_error(name, optarg, "must be an absolute path");
                        if (opt == OPT_CNI_DELEGATE_SOCKET && strlen(optarg) >= 108)
                                return flag_error(name, optarg, "too long for a unix socket path");
                        set_str(opt == OPT_CNI_CONF_DIR ? &c->cni_conf_dir : &c->cni_delegate_socket,
                                optarg);
                        break;
                case OPT_CNI_BIN_DIR: {
                        _cleanup_free_ char *copy = xstrdup(optarg);
                        char *save = NULL;
                        c->cni_bin_dirs = strv_free(c->cni_bin_dirs);
                        for (char *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
                                if (d[0] != '/')
                                        return flag_error(name, optarg,
                                                          "expected absolute paths, comma-separated");
                                strv_push(&c->cni_bin_dirs, xstrdup(d));
                        }
                        if (!c->cni_bin_dirs)
                                return flag_error(name, optarg, "expected absolute paths, comma-separated");
                        break;
                }
                case OPT_CLUSTER_DNS: {
                        /* A comma list, as upstream's string slice flag; repeating the flag adds more. */
                        _cleanup_free_ char *copy = xstrdup(optarg);
                        char *save = NULL;
                        if (!cluster_dns_seen)
                                c->cluster_dns = strv_free(c->cluster_dns);
                        cluster_dns_seen = true;
                        for (char *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save))
                                strv_push(&c->cluster_dns, xstrdup(d));
                        break;
                }
                case OPT_CLUSTER_DOMAIN:
                        set_str(&c->cluster_domain, optarg[0] ? optarg : NULL);
                        break;
                case OPT_RESOLV_CONF: /* "" turns the node's resolver file off */
                        set_str(&c->resolv_conf, optarg);
                        break;
                case 'v':
                        if (parse_int_flag("v", optarg, 0, 10, &c->verbosity) < 0)
                                return -EINVAL;
                        break;
                case OPT_VERSION:
                        printf("Kubernetes %s\n", KUBELET_VERSION);
                        return 1;
                case 'h':
                        usage(stdout);
                        return 1;
                case ':':
                        fprintf(stderr, "cubelet: flag needs an argument: %s\n", argv[optind - 1]);
                        return -EINVAL;
                default:
                        fprintf(stderr, "cubelet: unknown flag: %s\n", argv[optind - 1]);
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "cubelet: unexpected argument: %s\n", argv[optind]);
                return -EINVAL;
        }
        if (c->bootstrap_kubeconfig && !c->kubeconfig) {
                fprintf(stderr, "cubelet: --bootstrap-kubeconfig needs --kubeconfig (where the bootstrapped "
                                "credentials are written)\n");
                return -EINVAL;
        }
        if (!c->tls_cert_file != !c->tls_key_file) {
                fprintf(stderr, "cubelet: tlsCertFile and tlsPrivateKeyFile go together\n");
                return -EINVAL;
        }
        if (c->server_tls_bootstrap && !c->kubeconfig) {
                /* Its CSRs go to the API server: without one the node API would never serve. */
                fprintf(stderr, "cubelet: serverTLSBootstrap (--rotate-server-certificates) needs an API "
                                "server (--kubeconfig)\n");
                return -EINVAL;
        }
        /* As upstream's validation. */
        if (c->serialize_image_pulls && c->max_parallel_image_pulls > 1) {
                fprintf(stderr,
                        "cubelet: invalid configuration: maxParallelImagePulls (--max-parallel-image-pulls) "
                        "%d "
                        "must be 1 when serializeImagePulls (--serialize-image-pulls) is true\n",
                        c->max_parallel_image_pulls);
                return -EINVAL;
        }
        if (c->image_gc_low >= c->image_gc_high) {
                fprintf(stderr,
                        "cubelet: invalid configuration: imageGCLowThresholdPercent "
                        "(--image-gc-low-threshold) %d "
                        "must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) %d\n",
                        c->image_gc_low, c->image_gc_high);
                return -EINVAL;
        }
        if (config_check_eviction(c) < 0 || config_check_allocatable(c) < 0)
                return -EINVAL;
        lowercase(c->node_name);
        if (!is_dns1123_subdomain(c->node_name)) {
                fprintf(stderr,
                        "cubelet: invalid node name \"%s\": must be a lowercase RFC 1123 subdomain\n",
                        c->node_name);
                return -EINVAL;
        }
        return 0;
}
