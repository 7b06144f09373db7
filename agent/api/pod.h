/* The Pod API type as cubelet uses it: decoding from the API's JSON, defaulting, validation. */
#pragma once

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct kv {
        char *key;
        char *value;
};

/* A request of a resource other than cpu, memory and ephemeral-storage (extended resources such as
 * "example.com/dongle", hugepages-2Mi), in whole units rounded up as upstream's Quantity.Value(). */
struct resource_qty {
        char *name;
        int64_t value;
};

struct env_var {
        char *name;
        char *value;
};

struct container_port {
        char *name;
        int32_t container_port;
        int32_t host_port;
        char *protocol; /* TCP, UDP, SCTP */
        char *host_ip;
};

enum mount_propagation { PROPAGATION_NONE, PROPAGATION_HOST_TO_CONTAINER, PROPAGATION_BIDIRECTIONAL };

struct volume_mount {
        char *name;
        char *mount_path;
        char *sub_path;
        char *sub_path_expr; /* subPathExpr: expanded with the container's environment at start */
        bool read_only;
        enum mount_propagation propagation; /* mountPropagation */
};

enum probe_kind { PROBE_EXEC, PROBE_HTTP_GET, PROBE_TCP_SOCKET, PROBE_GRPC, PROBE_SLEEP };

struct probe_spec {
        enum probe_kind kind;
        char **command;             /* exec */
        char *path, *host, *scheme; /* httpGet */
        struct env_var *headers;    /* httpGet.httpHeaders */
        size_t n_headers;
        int32_t port;    /* httpGet / tcpSocket / grpc, resolved from a named port when needed */
        char *service;   /* grpc.service; NULL when absent (the server's overall health, "") */
        char *port_name; /* the named port as written, else NULL */
        int32_t initial_delay_s, timeout_s, period_s, success_threshold, failure_threshold;
        int64_t termination_grace_s; /* probe-level terminationGracePeriodSeconds; -1: the pod's */
        int64_t sleep_s;             /* lifecycle handler "sleep" */
};

struct container {
        char *name;
        char *image;
        char *image_pull_policy; /* Always, IfNotPresent, Never */
        char **command;          /* strv, may be NULL */
        char **args;             /* strv, may be NULL */
        char *working_dir;
        struct env_var *env;
        size_t n_env;
        struct container_port *ports;
        size_t n_ports;
        struct volume_mount *mounts;
        size_t n_mounts;
        char *termination_message_path;
        char *termination_message_policy;
        bool tty, stdin_open, stdin_once;
        /* resources: cpu in millicores, memory in bytes; -1 when not set (requests default to limits) */
        int64_t cpu_request_m, cpu_limit_m, mem_request, mem_limit;
        int64_t eph_request, eph_limit;       /* ephemeral-storage in bytes; -1 when not set */
        struct resource_qty *scalar_requests; /* every other resource requested (limits defaulted in) */
        size_t n_scalar_requests;
        struct probe_spec *liveness, *readiness, *startup; /* NULL when absent */
        struct probe_spec *post_start, *pre_stop;          /* lifecycle handlers; NULL when absent */
        char hash[17];                                     /* stable hash of the defaulted spec, hex */
};

enum volume_kind {
        VOLUME_EMPTY_DIR,
        VOLUME_HOST_PATH,
        VOLUME_CONFIG_MAP,
        VOLUME_SECRET,
        VOLUME_DOWNWARD_API,
        VOLUME_PROJECTED,
        VOLUME_UNSUPPORTED
};

struct volume {
        char *name;
        enum volume_kind kind;
        char *kind_name; /* the source's field name, e.g. "emptyDir", "configMap" */
        char *host_path;
        char *host_path_type;
        char *medium; /* emptyDir: "", "Memory", "HugePages" or "HugePages-<size>" */
};

/* spec.hostAliases[]: extra lines of the pod's /etc/hosts. */
struct host_alias {
        char *ip;
        char **hostnames; /* strv; NULL when none */
};

/* spec.dnsConfig.options[] */
struct dns_option {
        char *name;
        char *value; /* NULL when not given */
};

/* spec.dnsConfig: merged into the resolver configuration dnsPolicy gives. */
struct pod_dns_config {
        char **nameservers, **searches; /* strvs; NULL when none */
        struct dns_option *options;
        size_t n_options;
};

/* Immutable once published; shared between threads by reference count. */
struct pod {
        atomic_int refs;
        char *name;
        char *namespace;
        char *uid;
        struct kv *labels;
        size_t n_labels;
        struct kv *annotations;
        size_t n_annotations;
        struct container *init_containers;
        size_t n_init_containers;
        struct container *containers;
        size_t n_containers;
        struct volume *volumes;
        size_t n_volumes;
        char *restart_policy; /* Always, OnFailure, Never */
        int64_t termination_grace_period;
        int64_t active_deadline_s; /* spec.activeDeadlineSeconds; -1: none */
        char **readiness_gates;    /* spec.readinessGates[].conditionType (strv); NULL: none */
        char *dns_policy;
        char *hostname;
        char *subdomain;
        char *node_name;
        bool host_network, host_pid, host_ipc;
        bool share_process_namespace; /* one PID namespace for the pod's containers */
        bool set_hostname_as_fqdn;    /* the sandbox's hostname is <hostname>.<domain> */
        struct host_alias *host_aliases;
        size_t n_host_aliases;
        struct pod_dns_config *dns_config; /* NULL when absent */
        char *runtime_class_name;          /* NULL: the runtime's default handler */
        /* spec.overhead (a RuntimeClass's, set by the API server): added to the pod's requests */
        struct {
                int64_t cpu_m, memory, ephemeral;
                struct resource_qty *scalars;
                size_t n_scalars;
        } overhead;
        bool name_mistyped; /* decoding: metadata.name was there but not a string */
        /* API pods: must stop (deletionTimestamp set); termination_grace_period is then
         * metadata.deletionGracePeriodSeconds. */
        bool terminating;
        bool deleting; /* deletionTimestamp set: delete the API object once stopped */
        /* Fields the API knows that cubelet cannot honour ("path: reason", docs/pod-fields.md): such a
         * pod is refused at admission (UnsupportedPodSpec), never run with the field ignored. NULL: none. */
        char **unsupported;
        json_t *json; /* the defaulted object */
};

struct pod *pod_ref(struct pod *p);
struct pod *pod_unref(struct pod *p);
static inline void pod_unrefp(struct pod **p)
{
        pod_unref(*p);
}
#define _cleanup_pod_ __attribute__((cleanup(pod_unrefp)))

/* "namespace/name" for logs, into buf. */
const char *pod_full_name(const struct pod *p, char *buf, size_t len);
const char *pod_annotation(const struct pod *p, const char *key);
/* The JSON of the container (or init container) of that name in p->json, borrowed; NULL if none. */
json_t *pod_container_json(const struct pod *p, const char *name);

/* Field-level problems found while decoding: errors make the object invalid; warnings do not. */
struct api_problems {
        char **errors;   /* strv: "spec.containers[0].image: Required value" */
        char **warnings; /* strv: "spec.foo: unknown field" */
};
void api_problems_clear(struct api_problems *pr);
/* All errors joined with "; ", or NULL when there are none (caller frees). */
char *api_problems_errors(const struct api_problems *pr);
char *api_problems_warnings(const struct api_problems *pr);

/* Applies the API server's defaults to a Pod object in place (namespace excluded). */
void pod_json_apply_defaults(json_t *pod);

/* Decodes and validates a defaulted Pod object. Returns NULL with pr->errors set when invalid. */
struct pod *pod_from_json(json_t *obj, struct api_problems *pr);

/* A lifecycle handler as stored in the io.kubernetes.container.preStopHandler annotation (named ports
 * resolved), and back. */
char *handler_to_json(const struct probe_spec *h);
struct probe_spec *handler_from_json(const char *json);
void probe_spec_free(struct probe_spec *p);

/* Upstream's IsStaticPod (from a file or URL, not the API server) and IsCriticalPod (static and mirror
 * pods, and priority >= system critical, 2000000000). */
#define POD_SYSTEM_CRITICAL_PRIORITY 2000000000
bool pod_is_static(const struct pod *p);
bool pod_is_critical(const struct pod *p);

/* QoS class as upstream: "Guaranteed", "Burstable" or "BestEffort". */
const char *pod_qos_class(const struct pod *p);

/* A resource quantity ("100m", "1.5", "128Mi", "1G", "2e3") in thousandths of its unit. -EINVAL if bad. */
int parse_quantity_milli(const char *s, int64_t *ret);
/* A hugepages resource's page size in bytes ("hugepages-2Mi" → 2097152, upstream's
 * HugePageSizeFromResourceName); -1 for another name, or a size that is not a positive whole number. */
int64_t pod_hugepage_size(const char *resource);
/* What the container asks of hugepages of that page size, in bytes (requests equal limits for them), summed
 * over names of the same size ("hugepages-2Mi", "hugepages-2048Ki"); 0 when nothing. */
int64_t container_hugepages(const struct container *c, int64_t page_size);

/* A UID that is safe as a path component (the pod's directories are named by it): 1 to 128 of
 * [A-Za-z0-9._-], not "." or "..". API UIDs are UUIDs; static pods' are hex or what the manifest says. */
bool pod_uid_valid(const char *uid);

/* Validation helpers (Kubernetes apimachinery rules). */
/* Whether a '/'-separated path has a ".." component (upstream's validatePathNoBacksteps). */
bool path_has_backstep(const char *path);
bool is_dns1123_label(const char *s);
bool is_dns1123_subdomain(const char *s);
/* A qualified name as labels and condition types use it: [prefix/]name (IsQualifiedName). */
bool is_qualified_name(const char *s);

/* Resource names as upstream's helpers: native (unprefixed or in kubernetes.io) and extended (any other
 * domain, counted by the scheduler's fit and unknown to the node unless it advertises them). */
bool resource_is_native(const char *name);
bool resource_is_extended(const char *name);
