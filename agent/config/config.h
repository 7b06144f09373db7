/* cubelet's configuration: KubeletConfiguration (kubelet.config.k8s.io/v1beta1) fields and flags. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "network.h"

/* What kubeReserved or systemReserved keeps from the node; -1 where a resource is not given. */
struct reservation {
        int64_t cpu_m, memory, ephemeral, pids;
};

struct cubelet_config {
        char *config_file;
        char *static_pod_path;      /* staticPodPath / --pod-manifest-path; NULL: no file source */
        char *runtime_endpoint;     /* containerRuntimeEndpoint / --container-runtime-endpoint */
        char *root_dir;             /* --root-dir */
        char *pod_logs_dir;         /* podLogsDir */
        char *node_name;            /* --hostname-override, else the hostname, lowercased */
        char *healthz_bind;         /* healthzBindAddress */
        int healthz_port;           /* healthzPort; 0 disables */
        int read_only_port;         /* readOnlyPort: /pods and /healthz without auth; 0 (default) disables */
        char *local_socket;         /* localSocket / --local-socket: /pods, /events and /healthz for root
                                     * only; NULL disables [/run/cubelet/cubelet.sock] */
        char *address;              /* address: where the read-only port listens [0.0.0.0] */
        char *node_ip;              /* --node-ip: status.hostIP */
        int64_t file_check_ms;      /* fileCheckFrequency */
        int64_t sync_ms;            /* syncFrequency */
        int64_t runtime_timeout_ms; /* runtimeRequestTimeout */
        int64_t relist_ms;          /* --pleg-relist-period [1s] */
        int64_t evented_relist_ms;  /* --pleg-evented-relist-period [5m]: while the event stream is up */
        bool runtime_events;        /* --runtime-event-stream: containerd's event stream for instant exits */
        int workers;                /* pod worker threads */
        /* The manifest URL source: none without staticPodURL. */
        char *static_pod_url;         /* staticPodURL / --manifest-url */
        char **static_pod_url_header; /* staticPodURLHeader / --manifest-url-header: "Name:value", in order */
        int64_t http_check_ms;        /* httpCheckFrequency / --http-check-frequency [20s] */
        /* The API server (#5): none without --kubeconfig (standalone). */
        char *kubeconfig;           /* --kubeconfig */
        char *bootstrap_kubeconfig; /* --bootstrap-kubeconfig: TLS bootstrap credentials [none] */
        char *cert_dir;             /* --cert-dir: the client certificates [/var/lib/kubelet/pki] */
        bool rotate_certificates;   /* rotateCertificates / --rotate-certificates [false] */
        bool server_tls_bootstrap;  /* serverTLSBootstrap / --rotate-server-certificates [false]: the
                                     * serving certificate by CSR (kubernetes.io/kubelet-serving) */
        bool register_node;         /* registerNode / --register-node [true] */
        char **node_labels;         /* --node-labels k=v,... */
        char **register_taints;     /* --register-with-taints k=v:Effect,... */
        int max_pods;               /* maxPods [110] */
        int port;                   /* port: the node API, reported as kubeletEndpoint [10250] */
        double kube_api_qps;        /* kubeAPIQPS [5] */
        int kube_api_burst;         /* kubeAPIBurst [10] */
        double event_qps;           /* eventRecordQPS [5] */
        int event_burst;            /* eventBurst [10] */
        int64_t node_status_ms;     /* nodeStatusUpdateFrequency [10s] */
        int64_t node_report_ms;     /* nodeStatusReportFrequency [5m] */
        int node_lease_s;           /* nodeLeaseDurationSeconds [40] */
        /* kubeReserved / --kube-reserved and systemReserved / --system-reserved, each as given */
        struct reservation kube_reserved, system_reserved;
        /* both together (cpu in millicores, memory and ephemeral-storage in bytes), taken from the Node's
         * allocatable; computed once everything is read (config_check_allocatable) */
        int64_t reserved_cpu_m, reserved_mem, reserved_ephemeral, reserved_pids;
        char **enforce_node_allocatable; /* enforceNodeAllocatable / --enforce-node-allocatable [pods] */
        bool enforce_explicit;           /* ... given, not the default */
        char *kube_reserved_cgroup;      /* kubeReservedCgroup / --kube-reserved-cgroup: "/kube-reserved" */
        char *system_reserved_cgroup;    /* systemReservedCgroup / --system-reserved-cgroup */
        bool serialize_image_pulls;      /* serializeImagePulls: one pull at a time [true] */
        int max_parallel_image_pulls;    /* maxParallelImagePulls with serializeImagePulls false; 0: unset */
        /* Image garbage collection (upstream's fields and flags). */
        int image_gc_high;           /* imageGCHighThresholdPercent / --image-gc-high-threshold [85]; 100
                                        * turns the periodic collection off */
        int image_gc_low;            /* imageGCLowThresholdPercent / --image-gc-low-threshold [80] */
        int64_t image_min_gc_age_ms; /* imageMinimumGCAge / --minimum-image-ttl-duration [2m] */
        char *pod_infra_image;       /* --pod-infra-container-image: never collected, beside the
                                        * runtime's own sandbox image (containerd's sandboxImage) */
        /* Container garbage collection (upstream's flags; no configuration fields upstream). */
        int max_dead_containers;      /* --maximum-dead-containers [-1: no limit] */
        int max_dead_per_container;   /* --maximum-dead-containers-per-container [1] */
        int64_t min_container_ttl_ms; /* --minimum-container-ttl-duration [0] */
        /* cubelet extensions for tests: upstream's periods are constants. */
        int64_t image_gc_period_ms;     /* --image-gc-period [5m] */
        int64_t container_gc_period_ms; /* --container-gc-period [1m] */
        bool cgroups_per_qos;           /* cgroupsPerQOS: pod cgroups under kubepods by QoS class [true] */
        char *cgroup_root;      /* cgroupRoot: where kubepods lives ["/"]; cgroupDriver is cgroupfs */
        int64_t pod_pids_limit; /* podPidsLimit / --pod-max-pids: pids.max of each pod [-1: none] */
        /* Eviction (#15), upstream's fields and flags; statements as "signal=value" strvs. */
        char **eviction_hard;             /* evictionHard / --eviction-hard [upstream's defaults] */
        char **eviction_soft;             /* evictionSoft / --eviction-soft [none] */
        char **eviction_soft_grace;       /* evictionSoftGracePeriod / --eviction-soft-grace-period */
        char **eviction_min_reclaim;      /* evictionMinimumReclaim / --eviction-minimum-reclaim */
        int64_t eviction_max_pod_grace_s; /* evictionMaxPodGracePeriod / --eviction-max-pod-grace-period [0] */
        int64_t eviction_transition_ms; /* evictionPressureTransitionPeriod / --eviction-pressure-transition-
                                         * period [5m] */
        bool kernel_memcg_notification; /* kernelMemcgNotification / --kernel-memcg-notification [false] */
        /* Pod networking (#4); upstream's KubeletConfiguration has no such fields, so flags only. */
        enum network_mode network_mode; /* --network-mode runtime|agent [runtime] */
        char *cni_conf_dir;             /* --cni-conf-dir; NULL: runtime mode checks the runtime's own,
                                         * agent mode runs /etc/cni/net.d */
        char **cni_bin_dirs;            /* --cni-bin-dir D1,D2; NULL: the runtime's, else /opt/cni/bin */
        char *cni_delegate_socket;      /* --cni-delegate-socket: agent mode [/run/cubelet/cni.sock] */
        int64_t log_max_size;           /* containerLogMaxSize [10Mi]; 0: no rotation */
        int log_max_files;              /* containerLogMaxFiles [5] */
        int64_t log_monitor_ms;         /* containerLogMonitorInterval [10s] */
        bool seccomp_default;           /* seccompDefault / --seccomp-default: RuntimeDefault unless set */
        char **allowed_unsafe_sysctls;  /* allowedUnsafeSysctls / --allowed-unsafe-sysctls [none] */
        char **allowed_extra_networks;  /* allowedExtraNetworks / --allowed-extra-networks: the CNI
                                         * networks pods may name in cubelet.io/extra-networks [none] */
        char *pod_cidr;                 /* podCIDR / --pod-cidr: agent mode's default network [the Node's] */
        int verbosity;                  /* --v */
        /* The pods' names (upstream's fields and flags). */
        char **cluster_dns;   /* clusterDNS / --cluster-dns IP,...: ClusterFirst pods' nameservers [none] */
        char *cluster_domain; /* clusterDomain / --cluster-domain: their search domains [none] */
        char *resolv_conf;    /* resolvConf / --resolv-conf: the base of pods' resolvers; "" none
                               * [/etc/resolv.conf] */
        /* The node server (#7) on `port` (0 disables it; a cubelet extension for tests). */
        char *tls_cert_file;  /* tlsCertFile; NULL: self-signed in <root>/pki */
        char *tls_key_file;   /* tlsPrivateKeyFile */
        char *client_ca_file; /* authentication.x509.clientCAFile; NULL: no client certificates */
        bool anonymous_auth;  /* authentication.anonymous.enabled [false] */
        bool webhook_authn;   /* authentication.webhook.enabled: bearer tokens by TokenReview [true] */
        char *authz_mode;     /* authorization.mode: AlwaysAllow or Webhook [Webhook with a kubeconfig] */
        int64_t authn_cache_ttl_ms;   /* authentication.webhook.cacheTTL: TokenReview answers [2m] */
        int64_t authz_allowed_ttl_ms; /* authorization.webhook.cacheAuthorizedTTL [5m] */
        int64_t authz_denied_ttl_ms;  /* authorization.webhook.cacheUnauthorizedTTL [30s] */
};

void config_init_defaults(struct cubelet_config *c);
void config_done(struct cubelet_config *c);

/* Parses the command line (and the --config file it names; flags win). Returns 0 to run, 1 when it
 * printed --help/--version, or -EINVAL after printing a clear error to stderr. */
int config_parse(struct cubelet_config *c, int argc, char **argv);

/* Loads a KubeletConfiguration YAML into c. Errors name the file and field; unknown fields warn. */
int config_load_file(struct cubelet_config *c, const char *path, char **ret_err);
/* The same from len bytes at buf (not NUL-terminated); path is what errors call it. */
int config_load_buffer(struct cubelet_config *c, const char *path, const char *buf, size_t len,
                       char **ret_err);

/* allocatable.c: reservations, enforceNodeAllocatable. */
void reservation_clear(struct reservation *r);
/* One resource ("cpu", "memory", "ephemeral-storage", "pid") set from a quantity. */
int reservation_set(struct reservation *r, const char *res, const char *qty, char **ret_err);
/* "cpu=100m,memory=256Mi" (a flag) merged into r: what it names replaces what r had. */
int parse_reserved(const char *s, struct reservation *r, char **ret_err);
/* Whether enforceNodeAllocatable has key ("pods", "kube-reserved", "system-reserved"). */
bool config_enforces(const struct cubelet_config *c, const char *key);
/* Upstream's validation of these settings (printed, -EINVAL), then the reservations summed. */
int config_check_allocatable(struct cubelet_config *c);
/* kubeReserved, systemReserved, enforceNodeAllocatable and the reserved cgroups into a /configz object. */
void config_allocatable_to_json(const struct cubelet_config *c, json_t *o);
/* The effective configuration as a KubeletConfiguration, for /configz (caller frees). */
json_t *config_to_json(const struct cubelet_config *c);

/* The eviction statements as thresholds (ev_thresholds_parse); -EINVAL with *ret_err when malformed. */
struct ev_threshold;
int config_eviction_thresholds(const struct cubelet_config *c, struct ev_threshold **ret, size_t *ret_n,
                               char **ret_err);
/* Upstream's defaulting of a configuration file: the fields it defaults when they hold their zero ("0s",
 * 0, "") are removed from the document (zero_defaults.c), as kubeadm's files need. */
void config_drop_zero_defaults(json_t *root);
/* Go duration syntax: "1m30s", "250ms", "2h". */
int parse_duration_ms(const char *s, int64_t *ret);
