/* Container garbage collection at node level, as upstream's containerGC (pkg/kubelet/kuberuntime/kuberuntime_gc.go):
 * dead containers beyond the per-container and node limits, sandboxes nothing uses any more, and the log
 * directories of pods that no longer exist. Only what is dead is touched: running containers and ready
 * sandboxes belong to their pod's worker. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cri_client;
struct event_recorder;
struct status_cache;

/* ---- pure decisions ---- */

enum cgc_state { CGC_CREATED, CGC_RUNNING, CGC_EXITED, CGC_UNKNOWN };

struct cgc_container {
        const char *id, *pod_uid, *name;
        int64_t created_ns;
        enum cgc_state state;
};

struct cgc_sandbox {
        const char *id, *pod_uid;
        int64_t created_ns;
        bool ready;
        bool has_containers; /* some container (any state) names it */
};

struct cgc_policy {
        int64_t min_age_ns;        /* --minimum-container-ttl-duration; 0: none */
        int max_per_pod_container; /* --maximum-dead-containers-per-container; < 0: no limit */
        int max_containers;        /* --maximum-dead-containers; < 0: no limit */
};

/* Whether the pod UID still exists (some source wants it). Asked only once all sources are ready. */
typedef bool (*cgc_pod_exists_fn)(const char *uid, void *userdata);

/* Upstream's evictContainers: the indices of the containers to remove, oldest first within each decision
 * (*ret, caller frees; *ret_n). A CREATED container younger than two minutes is a start in flight, never
 * evictable (upstream would count it). */
void cgc_plan_containers(const struct cgc_container *c, size_t n, const struct cgc_policy *p,
                         bool sources_ready, cgc_pod_exists_fn exists, void *ud, int64_t now_ns,
                         size_t **ret, size_t *ret_n);

/* Upstream's evictSandboxes: the sandboxes neither ready nor holding containers, except each existing pod's
 * newest sandbox; of a pod that no longer exists, all of them. */
void cgc_plan_sandboxes(const struct cgc_sandbox *s, size_t n, bool sources_ready, cgc_pod_exists_fn exists,
                        void *ud, size_t **ret, size_t *ret_n);

/* The pod UID of a log directory "<namespace>_<name>_<uid>"; NULL when the name has no such form. */
const char *cgc_log_dir_uid(const char *dir_name);

/* ---- the collector ---- */

/* A pod as upstream's podStateProvider sees it: deleted (no source wants it, or it was evicted, or it is
 * being deleted and nothing of it runs: IsPodDeleted), terminated (phase Succeeded or Failed: IsPodTerminated)
 * or active. */
enum cgc_pod_state { CGC_POD_ACTIVE, CGC_POD_TERMINATED, CGC_POD_DELETED };

struct container_gc_config {
        struct cri_client *cri;
        struct event_recorder *events;     /* ContainerGCFailed on the Node; NULL: none */
        const char *pod_logs_dir;          /* /var/log/pods */
        const char *containers_log_dir;    /* /var/log/containers; NULL: none */
        struct status_cache *status_cache; /* forgets what this removes; NULL: none */
        struct cgc_policy policy;
        int64_t period_ms;                                                /* upstream's 1 min */
        int64_t timeout_ms;                                               /* per runtime call */
        enum cgc_pod_state (*pod_state)(const char *uid, void *userdata); /* asked once sources are ready */
        bool (*sources_ready)(void *userdata);
        void *userdata;
};

struct container_gc;

int container_gc_start(const struct container_gc_config *cfg, struct container_gc **ret);
void container_gc_stop(struct container_gc *gc);

/* One pass now (upstream's GarbageCollect): 0, or -errno with *ret_err (caller frees). Thread-safe with the
 * periodic pass (one at a time). evict_terminated (the eviction manager's reclaim): the dead containers and
 * sandboxes of terminated pods go too, as those of deleted pods always do. */
int container_gc_collect(struct container_gc *gc, bool evict_terminated, char **ret_err);
