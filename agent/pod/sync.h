/* One pod's runtime work: make the runtime match the desired spec, or tear the pod down. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pod.h"

struct backoff;
struct cri_client;
struct event_recorder;
struct status_manager;
struct prober;
struct obj_cache;
struct image_credentials;
struct image_puller;
struct token_cache;
struct stop_gate;
struct security_ctx;
struct svc_cache;
struct qos_cgroups;
struct network;
struct rc_cache;
struct status_cache;
struct listing_cache;
struct runtime_exits;

/* CRI labels and annotations cubelet writes, with upstream's names. */
#define LABEL_POD_NAME           "io.kubernetes.pod.name"
#define LABEL_POD_NAMESPACE      "io.kubernetes.pod.namespace"
#define LABEL_POD_UID            "io.kubernetes.pod.uid"
#define LABEL_CONTAINER_NAME     "io.kubernetes.container.name"
#define ANN_CONTAINER_HASH       "io.kubernetes.container.hash"
#define ANN_CONTAINER_RESTARTS   "io.kubernetes.container.restartCount"
#define ANN_POD_GRACE            "io.kubernetes.pod.terminationGracePeriod"
#define ANN_TERMINATION_MSG_PATH "io.kubernetes.container.terminationMessagePath"
#define ANN_PRE_STOP             "io.kubernetes.container.preStopHandler"

struct eviction_manager;

struct sync_ctx {
        struct cri_client *cri;
        const char *root_dir;           /* /var/lib/cubelet */
        const char *pod_logs_dir;       /* /var/log/pods */
        const char *containers_log_dir; /* /var/log/containers (links to the logs); NULL: none */
        const char *resolv_conf;        /* resolvConf: the node's resolver for pods; "" none */
        char **cluster_dns;             /* clusterDNS: valid IPs; NULL: none (ClusterFirst is Default) */
        const char *cluster_domain;     /* clusterDomain; NULL: none */
        int64_t timeout_ms;             /* per CRI call (runtimeRequestTimeout) */
        int64_t image_pull_timeout_ms;
        struct backoff *backoff;       /* CrashLoopBackOff state; NULL: restart at once */
        struct event_recorder *events; /* NULL: no events */
        struct status_manager *status; /* NULL: no status */
        struct prober *prober;         /* NULL: probes are not run */
        const char *node_ip;           /* status.hostIP; may be NULL */
        struct obj_cache *objects;     /* ConfigMaps and Secrets from the API server; NULL: standalone */
        struct svc_cache *services;    /* Services, for their environment variables; NULL: standalone */
        struct token_cache *tokens;    /* service account tokens (projected volumes); NULL: standalone */
        const struct security_ctx *security; /* securityContext and seccomp; NULL: the runtime's defaults */
        int64_t node_cpu_m, node_mem, node_ephemeral; /* allocatable, for resourceFieldRef limits not set */
        struct qos_cgroups *cgroups;           /* pod cgroups by QoS class; NULL: none (cgroupsPerQOS off) */
        struct network *network;               /* NetworkReady; NULL: always ready */
        struct rc_cache *runtime_classes;      /* RuntimeClasses from the API server; NULL: standalone */
        struct status_cache *status_cache;     /* statuses that cannot change; NULL: ask every time */
        struct listing_cache *listing_cache;   /* periodic resyncs' shared listing; NULL: each its own */
        bool api_server;                       /* a kubeconfig is set (RuntimeClasses must come from it) */
        struct image_credentials *credentials; /* registry credentials for pulls; NULL: none */
        struct image_puller *puller;           /* runs the pulls off the pod workers */
        struct eviction_manager *eviction;     /* pods it evicted fail and stop; NULL: none */
        /* Exits containerd's events told of before its CRI plugin lists them (pleg/exits.h): a listing
         * counts such a container exited, and its status and restart follow the event; NULL: none. */
        struct runtime_exits *exits;
        /* Teardowns' removals wait behind other teardowns' stops (stop_gate.h); NULL: removals at once. */
        struct stop_gate *stop_gate;
        /* Called by pod_kill once the pod's resources are reclaimed (nothing of it runs, its volumes and
         * directories and cgroup are gone), before its sandboxes and containers are removed: an API pod's
         * final deletion goes here. May be called again when a kill is retried. NULL: none. */
        void (*reclaimed)(void *userdata, const char *uid);
        void *reclaimed_ud;
};

#define SYNC_MAX_WAITS 16

/* The outcome of one sync, for the worker: what went wrong (for the log, once) and when to look again. */
struct sync_result {
        char error[1024];    /* empty when all is well */
        char reason[64];     /* upstream's reason word, e.g. "ErrImageNeverPull", "FailedCreatePodSandBox" */
        int64_t requeue_ms;  /* > 0: sync again after this long */
        int64_t deadline_ms; /* > 0: sync again after this long at the latest, even after an error (the
                              * pod's activeDeadlineSeconds) */
        bool terminal;       /* every container has finished for good (restartPolicy) */
        /* The sync made the pod's status from a listing of the runtime in which a sync would find nothing
         * to do: that listing's fingerprint (pleg_pod_fingerprint; 0: none such), and a monotonic time
         * (now_mono_us) before it was taken (0: not known). */
        uint64_t steady_fingerprint;
        int64_t steady_us;
        /* The pod may not run here now (upstream's soft admission: AppArmor): its status.reason and
         * message while it waits; empty otherwise. */
        char blocked_reason[64];
        char blocked_message[1024];
        /* Why containers wait, for their status: state.waiting.{reason,message}. */
        struct {
                char name[64];
                char reason[64];
                char message[1024];
        } waits[SYNC_MAX_WAITS];
        size_t n_waits;
};

/* Brings the runtime in line with the pod. Never blocks longer than its CRI deadlines. periodic: its
 * periodic resync (the runtime's state may come from the listing the resyncs share). */
int pod_sync(const struct sync_ctx *ctx, struct pod *pod, bool periodic, struct sync_result *res);

/* Stops every container and sandbox of the pod UID; then its volumes, directories and cgroup go, ctx->reclaimed
 * is told, and last the sandboxes and containers are removed (behind other teardowns' stops: ctx->stop_gate).
 * grace_s < 0: from the containers' annotations (orphans), else the pod's grace period. */
int pod_kill(const struct sync_ctx *ctx, const char *uid, int64_t grace_s, struct sync_result *res);
