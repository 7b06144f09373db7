/* The prober: liveness, readiness and startup probes for running containers, run off the sync path by a
 * few threads. Results are read by the pod sync (liveness: kill; readiness/startup: status); a change
 * wakes the pod's worker. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pod.h"
#include "probe_net.h"

struct cri_client;
struct event_recorder;
struct prober;

struct prober_config {
        struct cri_client *cri;
        struct event_recorder *events;
        void (*kick)(const char *pod_uid, void *userdata); /* any thread */
        void *userdata;
        int threads;
};

/* An exec check through CRI ExecSync (probes and lifecycle hooks): success on exit code 0; out gets the
 * command's output or what went wrong. */
enum probe_result probe_exec(struct cri_client *cri, const char *container_id, char **command,
                             int64_t timeout_s, char *out, size_t len);

int prober_new(const struct prober_config *cfg, struct prober **ret);
/* Stops the probe threads (no more kicks); results stay readable until prober_free. */
void prober_halt(struct prober *p);
struct prober *prober_free(struct prober *p);

/* A running container as the sync sees it. */
struct prober_target {
        const struct container *c;
        const char *container_id;
        int64_t started_ns; /* wall clock */
};

/* (Re)arms the probes of the pod's running containers: new container IDs start afresh (initial delay,
 * initial results); probes of containers not listed are dropped. */
void prober_sync_pod(struct prober *p, struct pod *pod, const char *pod_ip, const struct prober_target *t,
                     size_t n);
void prober_remove_pod(struct prober *p, const char *uid);

/* Readiness of a container instance: true without a readiness probe, else the probe's verdict. */
bool prober_is_ready(struct prober *p, const char *uid, const char *name, const char *container_id);
/* Startup: true without a startup probe, else once it has succeeded. */
bool prober_is_started(struct prober *p, const char *uid, const char *name, const char *container_id);
/* True once liveness (or startup) has failed failureThreshold times: the container must be restarted.
 * message gets upstream's "Container c failed liveness probe, will be restarted"; grace the seconds to
 * stop it in (-1: the pod's). */
bool prober_should_kill(struct prober *p, const char *uid, const char *name, const char *container_id,
                        char *message, size_t len, int64_t *ret_grace_s);
