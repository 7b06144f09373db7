/* The node manager: registers this Node with the API server, keeps its status and its Lease fresh. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroups.h"
#include "thresholds.h"

struct kube_client;
struct cri_client;
struct eviction_manager;

/* What the Node keeps from its capacity: kube and system reservations and the hard eviction thresholds
 * on memory.available and nodefs.available (a zero value: none), as upstream's allocatable. */
struct node_reserved {
        int64_t cpu_m, memory, ephemeral; /* kubeReserved + systemReserved */
        struct ev_value evict_memory, evict_nodefs;
};

struct node_config {
        struct kube_client *kube;
        struct cri_client *cri;
        const char *node_name;
        const char *node_ip;  /* InternalIP; may be NULL */
        const char *root_dir; /* ephemeral-storage: the filesystem it lives on */
        char **labels;        /* --node-labels: "key=value" */
        char **taints;        /* --register-with-taints: "key=value:Effect" */
        int max_pods;
        int kubelet_port;     /* daemonEndpoints.kubeletEndpoint.Port */
        int64_t status_ms;    /* nodeStatusUpdateFrequency [10s] */
        int64_t report_ms;    /* nodeStatusReportFrequency [5m]: PATCH even when unchanged */
        int lease_duration_s; /* nodeLeaseDurationSeconds [40] */
        int64_t timeout_ms;   /* per request */
        struct node_reserved reserved;
        struct eviction_manager *eviction; /* the pressure conditions; NULL: the default thresholds */
        /* Ready condition: false with upstream's message ("container runtime is down", "PLEG is not
         * healthy: ...", "container runtime network not ready: ..."). */
        bool (*ready)(void *userdata, char *message, size_t len);
        void *userdata;
};

struct node_manager;

/* Starts the manager's thread: register (retrying with back-off), then status and lease every
 * status_ms. */
int node_manager_start(const struct node_config *cfg, struct node_manager **ret);
/* Stops the thread (no more callbacks); the object stays readable until node_manager_stop. */
void node_manager_halt(struct node_manager *nm);
void node_manager_stop(struct node_manager *nm);

/* The registered Node's UID (for ownerReferences) into buf; false while not registered. */
bool node_manager_uid(struct node_manager *nm, char *buf, size_t len);
/* The Node's spec.podCIDR as the API server has it, into buf; false when unset. */
bool node_manager_pod_cidr(struct node_manager *nm, char *buf, size_t len);
/* Wake the manager for an early status update (e.g. readiness changed). */
void node_manager_poke(struct node_manager *nm);

/* The Node's labels and taints as the API server has them now (new references; taints may be NULL);
 * false before the Node was seen. */
bool node_manager_labels_taints(struct node_manager *nm, json_t **ret_labels, json_t **ret_taints);

/* The labels cubelet registers its Node with: the defaults (hostname, os, arch) and --node-labels. */
json_t *node_local_labels(const char *node_name, char *const *labels);
/* --register-with-taints as an array of v1 Taints (malformed ones left out: the flags were checked). */
json_t *node_local_taints(char *const *taints);

/* The reservations with the hard memory.available and nodefs.available thresholds among t[n]. */
void node_reserved_from(const struct ev_threshold *t, size_t n, int64_t cpu_m, int64_t memory,
                        int64_t ephemeral, struct node_reserved *ret);

/* What the Node's status reports as allocatable: capacity less what is reserved, and memory less the
 * hugepage pools (as upstream). */
struct node_allocatable {
        int64_t cpu_m, memory, ephemeral;
        int pods;
        /* Each hugepage size of the node with its pool (capacity and allocatable alike), named as upstream
         * ("hugepages-2Mi": the page size as a canonical quantity). */
        struct node_hugepages {
                char resource[48];
                int64_t bytes;
        } hugepages[CG_HUGEPAGES_MAX];
        size_t n_hugepages;
};
/* hugepages_dir: NULL for the machine's pools as cubelet found them at start (cg_hugepages). */
void node_allocatable_compute(const char *root_dir, const char *hugepages_dir, const struct node_reserved *r,
                              int max_pods, struct node_allocatable *ret);

/* Pure helpers, for tests. */
/* Whether a --node-labels key is one a node may set on itself (kubernetes.io and k8s.io keys are
 * restricted, as upstream refuses at start). */
bool node_label_allowed(const char *key);
/* "key=value:Effect" / "key:Effect" → a v1 Taint; NULL with *ret_err when malformed. */
json_t *node_taint_parse(const char *s, char **ret_err);
/* "key=value" → label; -EINVAL when the key or value is not a valid label. */
int node_label_parse(const char *s, char **ret_key, char **ret_value);
