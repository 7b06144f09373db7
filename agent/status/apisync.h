/* The API status writer: pod statuses to the API server (PATCH pods/<name>/status, only on change, the
 * latest of each pod), mirror pods for static pods, and the final DELETE of API pods that were deleted. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "pod.h"

struct kube_client;
struct api_source;
struct node_manager;
struct api_status;

struct api_status_config {
        struct kube_client *kube;
        struct api_source *source; /* mirror pods and deletion marks as last seen */
        struct node_manager
                *node; /* the Node's UID for mirror pods' ownerReference; NULL: read it from the API */
        const char *node_name;
        int64_t timeout_ms;
};

int api_status_start(const struct api_status_config *cfg, struct api_status **ret);
void api_status_stop(struct api_status *w);

/* The node manager, once it runs (it must outlive the writer). */
void api_status_set_node(struct api_status *w, struct node_manager *node);
/* A status_listener_fn (status/manager.h): status NULL means torn down. */
void api_status_listener(void *userdata, struct pod *pod, json_t *status);
/* The pod's containers were stopped and it was forgotten: even one that never had a status here (deleted
 * before its first sync, or found terminating at a restart) gets its final DELETE. */
void api_status_killed(struct api_status *w, struct pod *pod);
/* A mirror pod changed in the API (ns/name, or NULL for all): check the static pods' mirrors again. */
void api_status_mirror_changed(struct api_status *w, const char *ns, const char *name);

/* The mirror pod object for a static pod (pure, for tests). */
json_t *mirror_pod_json(const struct pod *pod, const char *node_name, const char *node_uid);
