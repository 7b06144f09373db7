/* The admitter: pod admission wired to the node (its labels, taints, allocatable), podconfig's order, and
 * the pod's fate when refused (Failed status through the status manager, a Warning Event, a log line). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"
#include "pod.h"

struct cri_client;
struct event_recorder;
struct node_manager;
struct eviction_manager;
struct status_manager;

struct admitter_config {
        const char *node_name;
        char *const *node_labels;            /* --node-labels */
        char *const *taints;                 /* --register-with-taints */
        char *const *allowed_unsafe_sysctls; /* --allowed-unsafe-sysctls */
        char *const *allowed_extra_networks; /* --allowed-extra-networks */
        const char *root_dir;                /* ephemeral-storage: its filesystem */
        struct node_reserved reserved;
        int max_pods;
        struct status_manager *status;
        struct event_recorder *events;
};

struct admitter;

/* -EINVAL with *ret_err (upstream's words) when an allowed unsafe sysctl pattern is refused. */
int admitter_new(const struct admitter_config *cfg, struct admitter **ret, char **ret_err);
struct admitter *admitter_free(struct admitter *ad);
/* The eviction manager whose pressure conditions refuse pods (upstream's eviction admit handler). */
void admitter_set_eviction(struct admitter *ad, struct eviction_manager *ev);
/* With an API server: the Node's labels and taints as they are now come from the node manager. */
void admitter_set_node(struct admitter *ad, struct node_manager *nm);
/* Remembers the pods the runtime runs now (ready sandboxes), before any source speaks: they are
 * admitted first and without checks (they were admitted before cubelet restarted). */
int admitter_load_running(struct admitter *ad, struct cri_client *cri, int64_t timeout_ms);

/* podconfig's admission callbacks (struct podconfig_admission); userdata is the admitter. */
bool admitter_admit(void *userdata, struct pod *pod, struct pod *const *admitted, size_t n);
bool admitter_finished(void *userdata, const struct pod *pod);
bool admitter_running(void *userdata, const char *uid);
