/* Pod admission: whether a new pod may run on this node, as upstream's kubelet admit handlers decide
 * (the sysctl whitelist, then the general predicates: resources, node affinity, node name, host ports,
 * NoExecute taints). Pure decisions on data: no I/O, no locks. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pod.h"

/* What the node offers: its allocatable resources (as the Node's status reports them) and, for the
 * predicates, its name, labels and taints. */
struct admit_node {
        const char *name;
        json_t *labels; /* object of string → string; NULL: none */
        json_t *taints; /* array of v1 Taint; NULL: none */
        int64_t cpu_m, memory, ephemeral, pods;
        struct resource_qty *scalars; /* other allocatable resources (hugepages-2Mi: 0, ...) */
        size_t n_scalars;
        char *const *allowed_extra_networks; /* allowedExtraNetworks; NULL: none */
};

struct sysctl_whitelist;

/* The verdict, with upstream's reason word and message. */
struct admit_result {
        bool admit;
        char reason[384];
        char message[1024];
};

/* Decides pod against the node and the pods admitted before it that still run (others). whitelist may
 * be NULL (no sysctl check). Returns -errno only on internal failure (the caller then rejects with
 * UnexpectedAdmissionError). */
int admission_check(const struct admit_node *node, const struct sysctl_whitelist *whitelist,
                    struct pod *const *others, size_t n_others, const struct pod *pod,
                    struct admit_result *ret);

/* At most this many networks in a pod's cubelet.io/extra-networks annotation. */
#define ADMISSION_MAX_EXTRA_NETWORKS 8

/* NULL when every network the pod's cubelet.io/extra-networks annotation names (split at commas and
 * spaces, as the delegate attaches them) is in allowed and there are at most ADMISSION_MAX_EXTRA_NETWORKS;
 * else why not (caller frees). Admission refuses such a pod; the delegate checks again at each attachment
 * (an API pod's annotations may change after admission). */
char *admission_extra_networks_problem(const struct pod *pod, char *const *allowed);

/* ---- the pieces, for tests ---- */

/* The scheduler's pod request: the sum of the app containers, at least each init container, plus the
 * overhead. Scalars are returned in *ret_scalars (caller frees with admission_scalars_free). */
struct admit_request {
        int64_t cpu_m, memory, ephemeral;
        struct resource_qty *scalars;
        size_t n_scalars;
};
void admission_pod_request(const struct pod *pod, bool drop_unknown_extended, const struct admit_node *node,
                           struct admit_request *ret);
void admission_request_clear(struct admit_request *r);

/* spec.nodeSelector and required node affinity against the node's name and labels. */
bool admission_node_affinity_matches(const json_t *pod_spec, const char *node_name, const json_t *labels);
/* Whether tolerations (a JSON array, may be NULL) tolerate every taint of the given effect. */
bool admission_tolerates_taints(const json_t *tolerations, const json_t *taints, const char *effect);
/* Whether the pod's host ports conflict with the others' (upstream's HostPortInfo.CheckConflict). */
bool admission_ports_conflict(struct pod *const *others, size_t n_others, const struct pod *pod);

/* ---- sysctls (upstream's pkg/kubelet/sysctl) ---- */

/* Upstream 1.20's safe sysctls, always allowed. */
extern const char *const admission_safe_sysctls[];

/* The safe set plus the allowed unsafe patterns ("kernel.msg*" style prefixes). NULL with *ret_err
 * (upstream's message) when a pattern is invalid or not known to be namespaced. */
struct sysctl_whitelist *sysctl_whitelist_new(char *const *allowed_unsafe, char **ret_err);
struct sysctl_whitelist *sysctl_whitelist_free(struct sysctl_whitelist *w);
/* NULL when allowed, else why not (upstream's text, caller frees). */
char *sysctl_whitelist_check(const struct sysctl_whitelist *w, const char *name, bool host_net,
                             bool host_ipc);
/* A pattern as upstream's IsValidSysctlPattern accepts it. */
bool sysctl_pattern_valid(const char *s);
/* "ipc", "net", or NULL when the sysctl is not known to be namespaced. */
const char *sysctl_namespace(const char *name);
