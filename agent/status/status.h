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
        const char *image; /* the spec's */
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
        bool sandbox_ready;
        const char *pod_ip;
        const char *host_ip; /* may be NULL */
        struct cstatus *init;
        size_t n_init;
        struct cstatus *app;
        size_t n_app;
        int64_t start_ns; /* when cubelet first saw the pod */
};

/* A v1 PodStatus object. old (may be NULL) keeps condition transition times that did not change. */
/* Succeeded or Failed: final, as upstream (a NULL phase is not). */
bool pod_phase_terminal(const char *phase);

json_t *pod_status_compute(const struct pod *pod, const struct pod_runtime_status *rs, const json_t *old);

/* "2026-11-26T21:35:25Z" */
void format_rfc3339(int64_t ns, char *buf, size_t len);
