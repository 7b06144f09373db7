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
        int64_t procs;
        /* from the spec */
        int64_t priority;
        int64_t mem_request, eph_request;
};

/* A candidate for pod from the Summary's entry for its UID (has_stats false when there is none). */
void ev_candidate_fill(struct ev_candidate *c, struct pod *pod, const json_t *summary);

/* Orders candidates, first to evict first, for reclaiming res (a stable order for ties). */
void ev_rank(struct ev_candidate *c, size_t n, enum ev_resource res);

/* Upstream's evictionMessage: "The node was low on resource: memory. Container c was using 512Mi, which
 * exceeds its request of 0. " (each container above its request). Caller frees. */
char *ev_message(enum ev_resource res, const struct pod *pod, const json_t *summary);

/* The Summary's entry for the pod UID, or NULL. */
const json_t *ev_pod_stats(const json_t *summary, const char *uid);

/* Upstream's localStorageEviction for one pod: the message of the first local storage limit it is over,
 * in upstream's order and words (an emptyDir's sizeLimit: "Usage of EmptyDir volume "v" exceeds the limit
 * "10Mi". "; the pod's total: "Pod ephemeral local storage usage exceeds the total limit of containers
 * 20Mi. "; a container's: "Container c exceeded its local ephemeral storage limit "10Mi". "), or NULL.
 * Caller frees. (local_storage.c) */
char *ev_local_storage_violation(const struct pod *pod, const json_t *summary);
/* Whether the pod has any local storage limit to check (an ephemeral-storage limit on a container or an init
 * container, an emptyDir sizeLimit): only then does its usage matter outside of ranking. */
bool ev_pod_has_local_limits(const struct pod *pod);

/* Upstream's eviction Admit under the given conditions: false with the message "The node had condition:
 * [MemoryPressure]. " when refused. */
bool ev_admit(const bool conditions[EV_COND_MAX], const struct pod *pod, char *message, size_t len);
