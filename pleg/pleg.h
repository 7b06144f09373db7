/* Pod lifecycle events: a periodic relist of the runtime's sandboxes and containers, diffed per pod. */
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

struct pleg_config {
        struct cri_client *cri;
        int64_t period_ms;       /* 1000 */
        int64_t call_timeout_ms; /* per CRI call */
        /* Beyond upstream: containerd's task event stream on this endpoint (NULL: relist only). An exit
         * or start relists at once; losing the stream falls back to the periodic relist. */
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
        int64_t last_ok_ms;     /* monotonic time of the last successful relist, 0 if none */
        int64_t last_relist_ms; /* monotonic time the last relist finished */
        int64_t relist_duration_us;
        char error[1024]; /* the last failure's message */
};
void pleg_get_health(struct pleg *p, struct pleg_health *ret);
/* Judges a health snapshot at time now_ms: writes healthz lines ("[+]runtime ok", "[-]pleg failed: PLEG is
 * not healthy: ...") into buf and returns false when unhealthy. endpoint names the runtime. */
bool pleg_health_check(const struct pleg_health *h, int64_t now_ms, const char *endpoint, char *buf,
                       size_t len);
/* Whether the runtime's event stream is up right now. */
bool pleg_events_connected(struct pleg *p);
/* The pod UIDs seen by the last successful relist, as a strv (caller frees with strv_free). */
char **pleg_pod_uids(struct pleg *p);
