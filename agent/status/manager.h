/* The status manager: the latest computed status of each pod, for the node API and (with #5) the API
 * server. Written by pod workers, read by the servers; one lock, never held across I/O. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "pod.h"

struct status_manager;

struct status_manager *status_manager_new(void);
struct status_manager *status_manager_free(struct status_manager *sm);

/* Who hears of every status and every removal (the API status writer): called on the setting thread,
 * outside the manager's lock; status is borrowed (NULL: the pod was torn down and forgotten). */
typedef void (*status_listener_fn)(void *userdata, struct pod *pod, json_t *status);
void status_manager_set_listener(struct status_manager *sm, status_listener_fn fn, void *userdata);

/* Takes the status. Logs phase changes. */
void status_manager_set(struct status_manager *sm, struct pod *pod, json_t *status);
/* A new reference to the pod's latest status, or NULL. */
json_t *status_manager_get(struct status_manager *sm, const char *uid);
/* The pod's status.startTime (wall-clock ns), recorded on the first call: known_ns when > 0 (the start
 * time the API server has), else now (when cubelet first saw the pod). */
int64_t status_manager_start_time(struct status_manager *sm, const char *uid, int64_t known_ns);
void status_manager_remove(struct status_manager *sm, const char *uid);
/* A new reference to the pod the latest status was computed for, or NULL. */
struct pod *status_manager_pod(struct status_manager *sm, const char *uid);
/* A v1 PodList of every pod with its status (caller frees). */
json_t *status_manager_pod_list(struct status_manager *sm);
