/* cubelet's Prometheus metrics, with upstream's names where they apply: runtime operations (counted by a CRI
 * observer), PLEG relists, pod start durations; gauges are read from the status manager at scrape time. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics;

struct metrics *metrics_new(const char *node_name);
struct metrics *metrics_free(struct metrics *m);

/* A CRI call ended ("/runtime.v1.RuntimeService/RunPodSandbox" → operation_type "run_podsandbox"); the
 * signature of cri_observer_fn. */
void metrics_runtime_op(void *m, const char *method, int64_t duration_us, int result);
void metrics_pleg_relist(struct metrics *m, int64_t duration_us);
/* A pod's status was set: the first Running status of a UID observes kubelet_pod_start_duration_seconds
 * (since first_seen_ns, wall clock); status NULL forgets the UID. */
void metrics_pod_status(struct metrics *m, const char *uid, json_t *status, int64_t first_seen_ns);

/* "RunPodSandbox" → "run_podsandbox", as upstream's operation_type labels. */
void metrics_operation_name(const char *method, char *buf, size_t len);

/* The text exposition format (version 0.0.4) for a PodList of the current pods (borrowed). */
char *metrics_render(struct metrics *m, json_t *pod_list, size_t *ret_len);
