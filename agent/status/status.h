/* Pod status as upstream computes it: phase, conditions, container statuses, from what the runtime says. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "pod.h"

/* One terminated instance, for state.terminated and lastState.terminated. */
struct cterm {
        const char *id;
        int32_t exit_code;
        int64_t started_ns, finished_ns;
        const char *reason;  /* the runtime's: "Completed", "Error", "OOMKilled" */
        const char *message; /* the termination message */
};

/* A container as the runtime last showed it; everything borrowed. */
struct cstatus {
        const char *name;
        const char *image; /* the runtime's name for it (the spec's when none ran) */
        bool present;      /* an instance exists */
        int state;         /* CRI ContainerState of the newest instance */
        const char *id;
        const char *image_ref;
        int restart_count;
        int64_t started_ns;
        struct cterm term; /* when state is EXITED */
        bool has_last;
        struct cterm last;          /* the instance before, when it exited */
        const char *waiting_reason; /* set by the last sync: "CrashLoopBackOff", "ErrImageNeverPull", ... */
        const char *waiting_message;
        bool ready;   /* readiness: probe result, or running without a probe */
        bool started; /* startup: probe result, or running without a probe */
};

struct pod_runtime_status {
        const char *pod_ip;
        const char *host_ip; /* may be NULL */
        struct cstatus *init;
        size_t n_init;
        struct cstatus *app;
        size_t n_app;
        int64_t start_ns; /* status.startTime */
        /* The node failed the pod (upstream's PodSyncHandlers: activeDeadlineSeconds): phase Failed with this
         * reason and message; NULL: the phase follows the containers. */
        const char *reason;
        const char *message;
        /* The pod may not run here now (upstream's soft admission, e.g. AppArmor): status.reason and message
         * with the phase the containers give, and every waiting container "Blocked"; NULL: none. */
        const char *blocked_reason;
        const char *blocked_message;
};

/* Succeeded or Failed: final, as upstream (a NULL phase is not). */
bool pod_phase_terminal(const char *phase);
/* The four conditions the kubelet owns (PodScheduled, Ready, Initialized, ContainersReady); the others
 * (readiness gates') are written by someone else and only kept. */
bool pod_condition_by_kubelet(const char *type);

/* A v1 PodStatus object, as upstream's generateAPIPodStatus. old (may be NULL) keeps condition transition
 * times that did not change and a final phase; conditions not the kubelet's come from the pod object. */
json_t *pod_status_compute(const struct pod *pod, const struct pod_runtime_status *rs, const json_t *old);

/* activeDeadlineSeconds (upstream's activeDeadlineHandler): milliseconds left before the pod has been
 * active longer than its deadline, counted from its start time; <= 0 once past; INT64_MAX without a
 * deadline or a start time. */
int64_t pod_deadline_left_ms(const struct pod *pod, int64_t start_ns, int64_t now_ns);
#define DEADLINE_REASON  "DeadlineExceeded"
#define EVICTED_REASON   "Evicted"
#define DEADLINE_MESSAGE "Pod was active on the node longer than the specified deadline"

/* "2026-11-26T21:35:25Z" */
void format_rfc3339(int64_t ns, char *buf, size_t len);
