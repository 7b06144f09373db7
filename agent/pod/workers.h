/* Pod workers: one owner per pod, updates coalesced while a sync runs; a thread for every pod that has work
 * (no pod waits for another), threads beyond n_threads going once idle a while. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pod.h"
#include "sync.h"

struct pod_workers;

struct pod_workers_ops {
        /* Both run on a worker thread, never two at once for the same UID. periodic: the pod's periodic
         * resync, nothing having asked for it (no update, runtime event or retry since the last sync). */
        int (*sync)(void *userdata, struct pod *pod, bool periodic, struct sync_result *res);
        int (*kill)(void *userdata, const char *uid, int64_t grace_s, struct sync_result *res);
        void *userdata;
};

int pod_workers_new(int n_threads, const struct pod_workers_ops *ops, int64_t resync_ms,
                    struct pod_workers **ret);
/* Lets running syncs finish (their CRI calls have deadlines), joins the threads, frees. Kills nothing. */
struct pod_workers *pod_workers_free(struct pod_workers *w);

/* The desired state of a pod: pod (a new reference is taken) or NULL for "must not run". A pod that
 * shares its namespace/name with one still terminating waits for it, as upstream static pods do. */
void pod_workers_update(struct pod_workers *w, const char *uid, struct pod *pod);
/* The pod must stop (an API pod being deleted, or in a terminal phase) but stays known under its name
 * until it has: grace_s is the grace period (the first call sets it, later ones may only shorten it). The
 * kill runs even when the pod never ran here, so the caller hears of its end through the kill. */
void pod_workers_terminate(struct pod_workers *w, const char *uid, const char *full_name, int64_t grace_s);
/* From a kill in progress: the pod's resources are reclaimed (nothing of it runs; its sandboxes may still
 * be removed). A pod of the same name waits no longer for it. */
void pod_workers_reclaimed(struct pod_workers *w, const char *uid);
/* The runtime changed for this UID: sync it. Unknown UIDs are orphans and get killed, but only once
 * sources_ready was set (so nothing is killed before the sources were read). */
void pod_workers_kick(struct pod_workers *w, const char *uid);
/* The same for a change the PLEG saw, with the pod's fingerprint in its listing (0: none, sync anyway),
 * which ended at listed_us (now_mono_us). When the pod's last sync made its status from a listing in which
 * a sync would find nothing to do (sync_result.steady_fingerprint), and nothing else asked for a sync
 * since, none runs for a listing of that fingerprint or one older than that sync's: a sync now would find
 * the same (a change after the sync's listing shows in a later relist with another fingerprint). After a
 * pod's start the relists that saw its sandbox and containers come report what the start's own sync saw
 * last: two more syncs that listed the pod and changed nothing. gone: the listing shows nothing of the pod;
 * an unknown UID then gets no kill when the last thing done for it was a kill that succeeded (it removed all
 * it found, directories too: another would list the pod and find nothing). */
void pod_workers_kick_runtime(struct pod_workers *w, const char *uid, uint64_t fingerprint,
                              int64_t listed_us, bool gone);
/* A container (or the sandbox) of the known pod uid exited, told by the runtime's event. Returns true when
 * that needs nothing more at once: the pod is being killed (its kill, running or waiting, stops what runs
 * and lists what is left), or it was idle and now syncs (a container's exit: the sync counts it; a
 * sandbox's shows only in a listing). Else false: the PLEG's relist must tell it (a sync of the pod runs
 * or waits, or the pod is not known). */
bool pod_workers_kick_exit(struct pod_workers *w, const char *uid, bool sandbox);
void pod_workers_set_sources_ready(struct pod_workers *w);
/* Queues pods whose retry time has come, and each pod once per resync period (plus up to half of it: the
 * pods' resyncs are spread). Call about once a second. */
void pod_workers_tick(struct pod_workers *w);

/* Counts for health and tests. */
struct pod_workers_stats {
        unsigned pods;        /* known UIDs, desired or terminating */
        unsigned desired;     /* pods that should run */
        unsigned terminating; /* pods being torn down */
        unsigned busy;        /* syncs running now */
        unsigned queued;
};
void pod_workers_stats(struct pod_workers *w, struct pod_workers_stats *ret);
