/* Pod lifecycle events: the runtime's sandboxes and containers relisted on each runtime event (and
 * periodically as a safety net), diffed per pod. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cri_client;
struct pleg;

/* Label every cubelet sandbox and container carries; PLEG groups by it. */
#define PLEG_POD_UID_LABEL "io.kubernetes.pod.uid"

/* Upstream's threshold: a relist not completed for this long makes the node unhealthy. */
#define PLEG_RELIST_THRESHOLD_MS (3 * 60 * 1000)
/* Upstream's with the evented PLEG (its safety relist runs every 5 minutes). */
#define PLEG_EVENTED_RELIST_THRESHOLD_MS (10 * 60 * 1000)

struct pleg_config {
        struct cri_client *cri;
        int64_t period_ms; /* 1000: without an event stream, or while it is down */
        /* While the event stream is up, the safety relist's period (upstream's evented PLEG: 300 s); 0 or
         * less than period_ms: period_ms. */
        int64_t evented_period_ms;
        int64_t call_timeout_ms; /* per CRI call */
        /* containerd's event stream on this endpoint (NULL: relist only). Each task start, exit or OOM
         * and each container create or delete relists at once, again until the runtime's CRI view shows
         * the change (containerd's CRI plugin applies it to its own store a moment later); losing the
         * stream falls back to the periodic relist at period_ms. */
        const char *event_endpoint;
        /* Called on the PLEG thread for each pod whose runtime state changed (appeared, changed, gone). */
        void (*on_pod_change)(const char *pod_uid, void *userdata);
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
/* Wakes the relist now instead of at the next period. */
void pleg_kick(struct pleg *p);

struct pleg_health {
        bool relist_ok;         /* the last relist succeeded */
        int64_t threshold_ms;   /* no successful relist for longer: unhealthy (3 min, 10 with events) */
        int64_t period_ms;      /* the relist period now (the evented one while the stream is up) */
        uint64_t relists;       /* relists done so far */
        int64_t last_ok_ms;     /* monotonic time of the last successful relist, 0 if none */
        int64_t last_relist_ms; /* monotonic time the last relist finished */
        int64_t relist_duration_us;
        char error[1024]; /* the last failure's message */
};
void pleg_get_health(struct pleg *p, struct pleg_health *ret);
/* Judges a health snapshot at time now_ms: writes healthz lines ("[+]runtime ok", "[-]pleg failed: PLEG is
 * not healthy: ...") into buf and returns false when unhealthy. endpoint names the runtime. A threshold_ms
 * of 0 is upstream's 3 minutes. */
bool pleg_health_check(const struct pleg_health *h, int64_t now_ms, const char *endpoint, char *buf,
                       size_t len);
/* PLEG's "last seen active" verdict alone: false with the message ("PLEG is not healthy: pleg was last
 * seen active 185s ago; threshold is 3m0s") when the last successful relist is older than the threshold. */
bool pleg_health_active(const struct pleg_health *h, int64_t now_ms, char *buf, size_t len);
/* The relist period for a stream state (pure, for tests): evented_period_ms while it is up. */
int64_t pleg_period_ms(const struct pleg_config *cfg, bool events_up);
/* Whether the runtime's event stream is up right now. */
bool pleg_events_connected(struct pleg *p);
/* The pod UIDs seen by the last successful relist, as a strv (caller frees with strv_free). */
char **pleg_pod_uids(struct pleg *p);
