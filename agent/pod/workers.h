/* Pod workers: one owner per pod, a thread per busy pod (none for an idle one), updates coalesced. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pod.h"
#include "sync.h"

struct pod_workers;

struct pod_workers_ops {
        /* Both run on a worker thread, never two at once for the same UID. */
        int (*sync)(void *userdata, struct pod *pod, struct sync_result *res);
        int (*kill)(void *userdata, const char *uid, int64_t grace_s, struct sync_result *res);
        void *userdata;
};

/* Every pod progresses at once, as upstream's goroutine per pod: a pod with work gets a thread of its own
 * (small stack, made on demand, gone once the pod has nothing to do), so no pod waits for another's sync,
 * grace period or teardown. max_threads > 0 caps the syncs running at once (the rest queue, oldest first);
 * 0 means no cap. A timer thread requeues pods whose retry, back-off or resync time has come. */
int pod_workers_new(int max_threads, const struct pod_workers_ops *ops, int64_t resync_ms,
                    struct pod_workers **ret);
/* Lets running syncs finish (their CRI calls have deadlines), waits for the threads, frees. Kills nothing. */
struct pod_workers *pod_workers_free(struct pod_workers *w);

/* The desired state of a pod: pod (a new reference is taken) or NULL for "must not run". A pod that
 * shares its namespace/name with one still terminating waits for it, as upstream static pods do. */
void pod_workers_update(struct pod_workers *w, const char *uid, struct pod *pod);
/* The pod must stop (an API pod being deleted, or in a terminal phase) but stays known under its name
 * until it has: grace_s is the grace period (the first call sets it, later ones may only shorten it). The kill runs even when
 * the pod never ran here, so the caller hears of its end through the kill. */
void pod_workers_terminate(struct pod_workers *w, const char *uid, const char *full_name, int64_t grace_s);
/* The runtime changed for this UID: sync it. Unknown UIDs are orphans and get killed, but only once
 * sources_ready was set (so nothing is killed before the sources were read). */
void pod_workers_kick(struct pod_workers *w, const char *uid);
void pod_workers_set_sources_ready(struct pod_workers *w);
/* Queues pods whose retry time has come, and all pods every resync period. The workers' own timer does
 * this at the right moments; a call only makes it happen now. */
void pod_workers_tick(struct pod_workers *w);

/* Counts for health and tests. */
struct pod_workers_stats {
        unsigned pods;        /* known UIDs, desired or terminating */
        unsigned desired;     /* pods that should run */
        unsigned terminating; /* pods being torn down */
        unsigned busy;        /* syncs running now */
        unsigned queued;      /* waiting for a thread (a cap) or for a pod of the same name */
        unsigned threads;     /* worker threads alive now */
};
void pod_workers_stats(struct pod_workers *w, struct pod_workers_stats *ret);
