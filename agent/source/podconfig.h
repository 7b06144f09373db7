/* podconfig: merges the pods of every source into one desired set, by UID, and feeds the pod workers. */
#pragma once

#include <stddef.h>

#include "pod.h"

struct pod_workers;
struct podconfig;

enum pod_source { POD_SOURCE_FILE, POD_SOURCE_HTTP, POD_SOURCE_API, _POD_SOURCE_MAX };

struct podconfig *podconfig_new(struct pod_workers *w);

/* Pod admission (upstream's HandlePodAdditions): each UID is decided once, when it first appears, in
 * creation order (pods the runtime ran at start first, then metadata.creationTimestamp, then arrival).
 * A refused pod still goes to its worker, which finds it Failed and runs nothing; it never counts. */
struct podconfig_admission {
        /* Decides pod against the pods admitted before it that still run; false: refused (the callee
         * has failed it: status, Event, log). */
        bool (*admit)(void *userdata, struct pod *pod, struct pod *const *admitted, size_t n);
        /* The pod reached Succeeded or Failed: it is not admitted and no longer counts. */
        bool (*finished)(void *userdata, const struct pod *pod);
        /* The runtime ran the pod when cubelet started. */
        bool (*running)(void *userdata, const char *uid);
        void *userdata;
};
/* Before the first podconfig_set; without it every pod is admitted. */
void podconfig_set_admission(struct podconfig *pc, const struct podconfig_admission *ops);
struct podconfig *podconfig_free(struct podconfig *pc);

/* Replaces everything one source says (a full set, as upstream's SET op). The pods are borrowed:
 * podconfig takes its own references. Two pods with one namespace/name: the one already running wins,
 * else the first; the other is refused with a clear log line. */
void podconfig_set(struct podconfig *pc, enum pod_source src, struct pod **pods, size_t n);

/* The merged set: borrowed pointers valid until the next podconfig_set. */
size_t podconfig_pods(struct podconfig *pc, struct pod ***ret);
/* The pods admitted, not finished and not being deleted, each referenced (caller unrefs them and frees the
 * array). Thread-safe: what the eviction manager ranks, from the moment a pod arrives (a pod not synced yet
 * since a restart is a candidate, as in upstream's GetActivePods). Unlike upstream, a pod being deleted is
 * left out even while its containers still run (as cubelet's earlier list did). */
size_t podconfig_active_pods(struct podconfig *pc, struct pod ***ret);
/* Whether some source wants the pod UID now (thread-safe; container GC's "the pod still exists"). */
bool podconfig_has(struct podconfig *pc, const char *uid);
