/* Which pod goes first: upstream's rankMemoryPressure, rankDiskPressureFunc and rankPIDPressure over
 * candidates with their usage from a stats Summary, and the eviction message. Pure. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pod.h"
#include "thresholds.h"

struct ev_candidate {
        struct pod *pod;      /* borrowed */
        bool has_stats;       /* the Summary listed the pod */
        int64_t memory;       /* the pod's working set */
        int64_t disk, inodes; /* ephemeral-storage used bytes and inodes (rootfs + logs + local volumes) */
        /* the same by where it lies (upstream's fsStatsRoot, fsStatsLogs, fsStatsLocalVolumeSource) */
        int64_t root_disk, root_inodes; /* the containers' writable layers */
        int64_t logs_disk, logs_inodes; /* the containers' logs */
        int64_t vol_disk, vol_inodes;   /* upstream's localVolumeNames: hostPath, disk emptyDir, configMap,
                                         * gitRepo */
        int64_t procs;
        /* from the spec */
        int64_t priority;
        int64_t mem_request, eph_request;
};

/* Which of a pod's disk usage counts when ranking for a disk signal (upstream's fsStatsType). EV_FS_ALL
 * is the Summary's ephemeral-storage as it stands. */
enum {
        EV_FS_ROOT = 1 << 0,
        EV_FS_LOGS = 1 << 1,
        EV_FS_VOLUMES = 1 << 2,
        EV_FS_ALL = EV_FS_ROOT | EV_FS_LOGS | EV_FS_VOLUMES,
};

/* Upstream's buildSignalToRankFunc: with a dedicated image filesystem, nodefs signals count logs and local
 * volumes, imagefs signals the writable layers; without, both count all. (Other signals: EV_FS_ALL.) */
unsigned ev_rank_fs_stats(enum ev_signal s, bool dedicated_image_fs);

/* Upstream's buildSignalToNodeReclaimFuncs: whether dead containers and unused images are deleted before
 * evicting for the signal (disk signals; with a dedicated image filesystem, imagefs signals only). */
bool ev_reclaims_node_level(enum ev_signal s, bool dedicated_image_fs);

/* A candidate for pod from the Summary's entry for its UID (has_stats false when there is none). */
void ev_candidate_fill(struct ev_candidate *c, struct pod *pod, const json_t *summary);

/* Orders candidates, first to evict first, for reclaiming res (a stable order for ties); for disk
 * resources, fs_stats (EV_FS_*) says which usage counts. */
void ev_rank(struct ev_candidate *c, size_t n, enum ev_resource res, unsigned fs_stats);

/* Upstream's evictionMessage: "The node was low on resource: memory. Container c was using 512Mi, which
 * exceeds its request of 0. " (each container above its request). Caller frees. */
char *ev_message(enum ev_resource res, const struct pod *pod, const json_t *summary);

/* The Summary's entry for the pod UID, or NULL. */
const json_t *ev_pod_stats(const json_t *summary, const char *uid);

/* Upstream's localStorageEviction for one pod: the message of the first local storage limit it is over,
 * in upstream's order and words (an emptyDir's sizeLimit: "Usage of EmptyDir volume "v" exceeds the limit
 * "10Mi". "; the pod's total: "Pod ephemeral local storage usage exceeds the total limit of containers
 * 20Mi. "; a container's: "Container c exceeded its local ephemeral storage limit "10Mi". "), or NULL.
 * With a dedicated image filesystem the writable layers do not count (they are not on the root dir's
 * filesystem): a container's usage is its logs, the pod's its logs and local volumes. Caller frees.
 * (local_storage.c) */
char *ev_local_storage_violation(const struct pod *pod, const json_t *summary, bool dedicated_image_fs);
/* Whether the pod has any local storage limit to check (an ephemeral-storage limit on a container or an init
 * container, an emptyDir sizeLimit): only then does its usage matter outside of ranking. */
bool ev_pod_has_local_limits(const struct pod *pod);

/* Upstream's eviction Admit under the given conditions: false with the message "The node had condition:
 * [MemoryPressure]. " when refused. */
bool ev_admit(const bool conditions[EV_COND_MAX], const struct pod *pod, char *message, size_t len);
