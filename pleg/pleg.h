/* Pod lifecycle events: a relist of the runtime's sandboxes and containers, diffed per pod; event-driven
 * while containerd's event stream is up (a rare safety relist), every period_ms while it is not. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"

struct cri_client;
struct pleg;
struct runtime_exits;

/* Label every cubelet sandbox and container carries; PLEG groups by it. */
#define PLEG_POD_UID_LABEL "io.kubernetes.pod.uid"

/* Upstream's threshold: a relist not completed for this long makes the node unhealthy. */
#define PLEG_RELIST_THRESHOLD_MS (3 * 60 * 1000)
/* Upstream's evented PLEG: the relist period while events flow, and its threshold (twice the period,
 * never below PLEG_RELIST_THRESHOLD_MS when the period is configured shorter). */
#define PLEG_EVENTED_PERIOD_MS (300 * 1000)
/* After any event the relist runs at the short period for this long: containerd's CRI plugin applies an event
 * to its own store a moment after publishing it, later still on a loaded machine. */
#define PLEG_EVENT_QUICK_MS (10 * 1000)
/* ... and until the listing shows an exit an event told of (containerd retries a failed one with a
 * back-off): at most RUNTIME_EXITS_MAX_MS, for at most RUNTIME_EXITS_MAX at once (exits.h). */
/* The short period is never longer than this while the stream is up (the quick window, a failed relist, a
 * transient state, an awaited exit): an exit containerd told of is seen within a second of its CRI plugin
 * applying it, whatever the fallback period_ms. After a runtime restart that plugin may apply the exits of
 * the containers it recovered tens of seconds late (its back-off), far beyond the burst of quick relists. */
#define PLEG_QUICK_PERIOD_MAX_MS 1000

/* The pause between a relist's end and the next one, whatever asks for it: PLEG_RELIST_PACE times the
 * relist's length, at least PLEG_RELIST_MIN_PAUSE_MS (the quick relists after an event), at most the period.
 * While a relist takes under half the period, the listings then take at most a third of the runtime's time
 * however many events come. */
#define PLEG_RELIST_MIN_PAUSE_MS 20
#define PLEG_RELIST_PACE         2

struct pleg_config {
        struct cri_client *cri;
        int64_t period_ms;         /* 1000: while the event stream is down (or there is none) */
        int64_t evented_period_ms; /* PLEG_EVENTED_PERIOD_MS: while it is up */
        int64_t event_quick_ms;    /* PLEG_EVENT_QUICK_MS: the short period this long after every event */
        int64_t call_timeout_ms;   /* per CRI call */
        /* containerd's event stream on this endpoint (NULL: relist only). A task's exit or OOM relists at
         * once (unless on_container_exit saw to it), a task's start and a container's creation or removal
         * within the short period (the agent's own doing, which its sync knows); while the stream is up the
         * periodic relist runs every evented_period_ms (upstream's evented PLEG), and falls back to
         * period_ms when the stream goes down, and to the short period after a failed relist and for
         * PLEG_EVENT_QUICK_MS after every event. */
        const char *event_endpoint;
        /* The exits the events tell of, shared with the pod syncs (exits.h); NULL: the PLEG's own. */
        struct runtime_exits *exits;
        /* Called on the PLEG thread for each pod whose runtime state changed (appeared, changed, gone), with
         * the fingerprint of its sandboxes and containers in this relist (pleg_pod_fingerprint; 0: the pod
         * is gone, or this listing settled an exit and the pod must look at CRI's whole status whatever it
         * saw) and when the listing ended (now_mono_us); gone: the listing shows nothing of the pod. */
        void (*on_pod_change)(const char *pod_uid, uint64_t fingerprint, int64_t listed_us, bool gone,
                              void *userdata);
        /* Optional, on the event stream's thread: a container (or sandbox) the last relist listed has
         * exited, as soon as the event tells. Returns whether the pod's worker has seen to it (then the
         * relist waits for the short period; else it runs at once), and reports the change as above. */
        bool (*on_container_exit)(const char *pod_uid, bool sandbox, void *userdata);
        /* Called on the PLEG thread after every relist, ok or not (error: why not, else ""). It may run
         * before pleg_start has returned. */
        void (*on_relist)(bool ok, const char *error, void *userdata);
        /* Optional, on the PLEG thread after every relist: how long it took (for metrics). */
        void (*on_relist_duration)(int64_t duration_us, void *userdata);
        /* Optional, on the event stream's thread: the stream came up, or went down (why says why). Called
         * on changes only. */
        void (*on_events_state)(bool connected, const char *why, void *userdata);
        void *userdata;
};

int pleg_start(const struct pleg_config *cfg, struct pleg **ret);
/* Stops the thread and frees; NULL is fine. */
struct pleg *pleg_stop(struct pleg *p);
/* The relist period: cfg's period_ms while the event stream is down; else the short one (period_ms, at
 * most PLEG_QUICK_PERIOD_MAX_MS) while the last relist failed, listed a container in a transient state or
 * awaits an exit, or an event came (or the stream came back) since quick_until_ms; else cfg's evented one. */
int64_t pleg_period(const struct pleg_config *cfg, bool events_up, bool relist_ok, bool transient,
                    int64_t now_ms, int64_t quick_until_ms);
/* How long the relist waits after one that took duration_ms before the next (a kick's, a quick one's). */
int64_t pleg_relist_pause(int64_t duration_ms, int64_t period_ms);
/* When the next relist runs, after one that ran from start_ms to end_ms: at once (after the pause) when
 * asked (a kick, a quick relist after an event); else the short period (short_ms) after the first event
 * since that relist began (event_ms; 0: none), or without one a period (period_ms, the current one) after
 * that relist began; never before the pause. An event after a quiet spell is shown a short period after it:
 * not at once, and not a long period later once the quick window it opened has closed meanwhile. */
int64_t pleg_relist_deadline(int64_t start_ms, int64_t end_ms, int64_t event_ms, int64_t period_ms,
                             int64_t short_ms, bool asked);
/* A CRI container state the runtime may leave without an event (CREATED: an abandoned start turns exited;
 * UNKNOWN: a stopped one does), which keeps the relist at the short period while any is listed. */
bool pleg_state_transient(int state);
/* A sandbox's or container's part of its pod's fingerprint (the sum over the pod's objects, compared
 * relist to relist): FNV-1a of the ID with the state mixed in, then a 64-bit finalizer. A plain FNV sum of
 * "id/state" was linear in the state's last byte: two containers of a pod that exited between two relists
 * cancelled out about one time in four, and the pod's change was never reported (its status stayed
 * Running until the next long relist, 5 minutes while events flow). */
uint64_t pleg_object_hash(const char *id, int state);
/* A pod's fingerprint from its sandboxes and containers as listed (containers' states as counted: an exit
 * the events told of EXITED, runtime_exits_apply), as the relist computes it. Never 0 in practice. */
uint64_t pleg_pod_fingerprint(const Runtime__V1__PodSandbox *const *sandboxes, size_t n_sandboxes,
                              const Runtime__V1__Container *const *containers, size_t n_containers);

/* The relist's diff, pure. A sandbox or container listed (uid, id: the listing's strings); state a
 * container's, or a sandbox's plus PLEG_SANDBOX_STATE_BASE (the fingerprint tells the two apart). */
#define PLEG_SANDBOX_STATE_BASE 100
struct pleg_object {
        const char *uid, *id;
        int state;
        bool sandbox;
        size_t pod; /* set by pleg_group: its pod's index */
};
struct pleg_pod {
        char *uid;
        uint64_t fingerprint;
};
/* A pod whose fingerprint differs between two listings; uid points into either's pods. */
struct pleg_change {
        const char *uid;
        uint64_t fingerprint; /* in the new listing; 0 when gone */
        bool gone;            /* the new listing shows nothing of the pod */
};
/* A listing's pods, sorted by UID, with their fingerprints (pleg_pod_fingerprint's, order-independent);
 * sorts objs by UID and sets each one's pod. O(n log n): at 110 pods the per-object search of every pod
 * was the relist's quadratic part. Free with pleg_pods_free. */
struct pleg_pod *pleg_group(struct pleg_object *objs, size_t n, size_t *n_pods);
void pleg_pods_free(struct pleg_pod *pods, size_t n);
/* The pods new, changed or gone from old to fresh (both from pleg_group), into out (room for
 * n_old + n_fresh), in UID order; returns how many. */
size_t pleg_diff(const struct pleg_pod *old, size_t n_old, const struct pleg_pod *fresh, size_t n_fresh,
                 struct pleg_change *out);
/* Whether a task exit containerd published for id (a container or a sandbox) is still to show in these
 * listings: the container listed RUNNING, the sandbox READY. The relist keeps the short period while one
 * is (runtime_exits_settle). */
bool pleg_exit_pending(const char *id, const Runtime__V1__PodSandbox *const *sandboxes, size_t n_sandboxes,
                       const Runtime__V1__Container *const *containers, size_t n_containers);
/* The pod UID label of a container; NULL: none (not cubelet's). */
const char *pleg_pod_uid_of(const Runtime__V1__Container *c);
/* Wakes the relist now instead of at the next period. */
void pleg_kick(struct pleg *p);

struct pleg_health {
        bool relist_ok;         /* the last relist succeeded */
        int64_t last_ok_ms;     /* monotonic time of the last successful relist, 0 if none */
        int64_t last_relist_ms; /* monotonic time the last relist finished */
        int64_t relist_duration_us;
        int64_t threshold_ms; /* how long without a successful relist is unhealthy: longer while events flow */
        int64_t fallback_ms; /* when the event stream last went down: the short threshold counts from then */
        char error[1024];    /* the last failure's message */
};
void pleg_get_health(struct pleg *p, struct pleg_health *ret);
/* Judges a health snapshot at time now_ms: writes healthz lines ("[+]runtime ok", "[-]pleg failed: PLEG is
 * not healthy: ...") into buf and returns false when unhealthy. endpoint names the runtime. */
bool pleg_health_check(const struct pleg_health *h, int64_t now_ms, const char *endpoint, char *buf,
                       size_t len);
/* Upstream's "PLEG is not healthy: pleg was last seen active 190s ago; threshold is 3m0s" into buf when the
 * last successful relist is older than the threshold (counted from the stream's fall-back at the earliest),
 * and true; else false and buf untouched. For /healthz and the Node's Ready condition alike. */
bool pleg_health_stale(const struct pleg_health *h, int64_t now_ms, char *buf, size_t len);
/* Whether the runtime's event stream is up right now. */
bool pleg_events_connected(struct pleg *p);
