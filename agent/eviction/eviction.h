/* The eviction manager (upstream's pkg/kubelet/eviction): a thread that, every housekeeping interval and
 * at once when a memory notifier fires (notify.h), observes the signals from the stats Summary, keeps the
 * node's pressure conditions, reclaims node-level resources for disk signals, and evicts at most one pod
 * per pass (ranked as upstream) through the pod's own worker. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroups.h"
#include "pod.h"
#include "thresholds.h"

struct stats;
struct event_recorder;

/* Node-level reclaim tried before evicting pods for a disk signal (upstream's ContainerGC
 * DeleteAllUnusedContainers and ImageGC DeleteUnusedImages). Either may be NULL (nothing to reclaim
 * that way). Each returns 0 or -errno. */
struct ev_reclaim_ops {
        int (*delete_all_unused_containers)(void *userdata);
        int (*delete_unused_images)(void *userdata);
        void *userdata;
};

struct eviction_config {
        const struct ev_threshold *thresholds; /* copied */
        size_t n_thresholds;
        int64_t max_pod_grace_s;       /* evictionMaxPodGracePeriod: soft evictions' grace [0] */
        int64_t transition_ms;         /* evictionPressureTransitionPeriod [5m] */
        int64_t housekeeping_ms;       /* [10s] */
        bool kernel_notification;      /* kernelMemcgNotification: the memory notifiers (notify.h) */
        const char *cgroup_mount_root; /* NULL: /sys/fs/cgroup */
        enum cg_mode cgroup_mode;      /* CG_MODE_UNKNOWN: detect */
        const char *kubepods_name; /* the kubepods cgroup under the mount root (allocatable); NULL: none */
        struct stats *stats;       /* the Summary */
        struct event_recorder *events; /* NULL: none */
        const char *node_name;         /* for the Node's events (copied) */
        /* The active pods (new references; the caller of the callback frees the array). */
        size_t (*active_pods)(void *userdata, struct pod ***ret);
        /* The pod was marked evicted: its worker must look (sync, which fails and stops it). */
        void (*wake_pod)(void *userdata, const char *uid);
        /* Whether an evicted pod is gone (its status terminal and nothing of it running); NULL: not waited. */
        bool (*pod_cleaned_up)(void *userdata, const char *uid);
        /* The conditions changed (the node manager may report at once); NULL: nothing. */
        void (*conditions_changed)(void *userdata);
        void *userdata;
        struct ev_reclaim_ops reclaim;
};

struct eviction_manager;

int eviction_manager_start(const struct eviction_config *cfg, struct eviction_manager **ret);
/* Stops the thread (no more callbacks); what it decided stays readable until eviction_manager_stop. */
void eviction_manager_halt(struct eviction_manager *ev);
/* Stops the thread and frees. NULL is fine. */
void eviction_manager_stop(struct eviction_manager *ev);

/* The node conditions now (false for all before the first pass and for NULL). */
void eviction_manager_conditions(struct eviction_manager *ev, bool ret[EV_COND_MAX]);

/* Upstream's Admit: under pressure, false with reason "Evicted" and the message "The node had condition:
 * [MemoryPressure]. " — under memory pressure alone only BestEffort pods (unless they tolerate the
 * memory-pressure taint), under any other all pods but critical ones. */
bool eviction_manager_admit(struct eviction_manager *ev, const struct pod *pod, char *message, size_t len);

/* Whether the manager evicted the pod: its message and the grace period for its containers. For the pod
 * workers' sync. */
bool eviction_manager_evicted(struct eviction_manager *ev, const char *uid, char *message, size_t len,
                              int64_t *ret_grace_s);

/* Runs a pass now (for tests and the memory notification). */
void eviction_manager_poke(struct eviction_manager *ev);

/* A line per threshold and condition for /healthz?verbose: "[+]eviction ok" / "[-]eviction ..." style
 * detail (caller frees). */
char *eviction_manager_describe(struct eviction_manager *ev);

/* Passes and evictions so far (tests, metrics). */
void eviction_manager_counts(struct eviction_manager *ev, uint64_t *ret_passes, uint64_t *ret_evictions);
