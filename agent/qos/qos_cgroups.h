/* Pod-level cgroups by QoS class, as upstream's QoS and pod container managers: kubepods (node allocatable),
 * kubepods/burstable and kubepods/besteffort, and pod<uid> under its tier (Guaranteed pods directly under
 * kubepods). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cgroups.h"
#include "pod.h"

enum qos_class { QOS_GUARANTEED, QOS_BURSTABLE, QOS_BEST_EFFORT };

enum qos_class qos_class_of(const struct pod *pod);

/* Upstream's pod totals (resource.PodRequests / PodLimits without sidecars): per resource the sum over the
 * app containers, or the largest init container when that is more. */
struct qos_pod_totals {
        int64_t cpu_request_m; /* unset requests count 0 */
        int64_t cpu_limit_m;   /* unset limits count 0 */
        int64_t memory_limit;
        bool cpu_limits_declared;    /* every container, init containers too, has a cpu limit */
        bool memory_limits_declared; /* likewise for memory */
};
void qos_pod_totals(const struct pod *pod, struct qos_pod_totals *ret);

/* The pod cgroup's settings (upstream's ResourceConfigForPod): shares from the requests; the quota and the
 * memory limit only when every container has that limit (always for Guaranteed); BestEffort 2 shares.
 * pids_limit > 0 also sets pids.max (podPidsLimit). */
void qos_pod_resources(const struct pod *pod, int64_t pids_limit, struct cg_resources *ret);
/* The pod cgroup's hugetlb limits (upstream's ResourceConfigForPod): per page size of the node, the sum of
 * the app containers' hugepages requests of that size; 0 for a size none asks for. Into r->hugetlb. */
void qos_pod_hugetlb(const struct pod *pod, const struct cg_hugepage *hp, size_t n_hp,
                     struct cg_resources *r);

/* "kubepods/pod<uid>", "kubepods/burstable/pod<uid>", "kubepods/besteffort/pod<uid>". Caller frees. */
char *qos_pod_cgroup_name(enum qos_class c, const char *uid);

struct qos_cgroups_config {
        const char *mount_root;  /* NULL: /sys/fs/cgroup */
        enum cg_mode mode;       /* CG_MODE_UNKNOWN: detect (see cg_options) */
        const char *cgroup_root; /* cgroupRoot; NULL: "/" */
        int64_t pod_pids_limit;  /* podPidsLimit; <= 0: no limit */
        /* Node capacity, for kubepods; 0: this machine's (online CPUs, MemTotal, min(pid_max, threads-max)). */
        int64_t cpu_capacity_m, memory_capacity, pids_capacity;
        /* kubeReserved + systemReserved: kubepods gets the capacity less these (enforceNodeAllocatable
         * "pods", as upstream; the hard eviction thresholds are not taken from the cgroup). */
        int64_t reserved_cpu_m, reserved_memory, reserved_pids;
        /* The node's hugepages (NULL: the machine's, see cg_hugepages): kubepods may use the pools, the tiers
         * are unbounded (1 << 62), each pod gets its own. */
        const char *hugepages_dir;
};

struct qos_cgroups;

/* Opens the driver and makes kubepods (cpu shares of the node's allocatable CPUs, its allocatable memory,
 * the node's pids, its hugepage pools), then burstable and besteffort (2 shares) under it. -EINVAL (with
 * err) when the reservations leave no memory. */
int qos_cgroups_new(const struct qos_cgroups_config *c, struct qos_cgroups **ret, struct cg_error *err);
struct qos_cgroups *qos_cgroups_free(struct qos_cgroups *q);

/* Upstream's enforceExistingCgroup for kube-reserved / system-reserved: on the existing cgroup named
 * absolutely ("/kube-reserved", outside cgroupRoot), cpu shares, memory limit and pids.max from what the
 * reservation gives (< 0: not given). -ENOENT when it does not exist, -EINVAL when nothing is given; err
 * says it in upstream's words. */
int qos_enforce_reserved(const char *mount_root, enum cg_mode mode, const char *name, int64_t cpu_m,
                         int64_t memory, int64_t pids, struct cg_error *err);
const struct cg *qos_cgroups_driver(const struct qos_cgroups *q);

/* The pod cgroup in cgroupfs syntax for CRI's cgroup_parent: "<cgroupRoot>/kubepods/burstable/pod<uid>".
 * Caller frees. */
char *qos_pod_cgroup_parent(const struct qos_cgroups *q, const struct pod *pod);

/* Creates or updates the pod's cgroup, and the burstable tier's shares (the sum of the Burstable pods' cpu
 * requests, as upstream). Cheap when nothing changed. Returns 1 when the pod cgroup was new. Thread-safe. */
int qos_pod_ensure(struct qos_cgroups *q, const struct pod *pod, struct cg_error *err);
/* Removes pod<uid> from whichever tier holds it; 0 when there is none, -EBUSY (and a message saying how many
 * processes) while processes are still in it. Nothing is killed. Thread-safe. */
int qos_pod_remove(struct qos_cgroups *q, const char *uid, struct cg_error *err);
/* Sends sig to every process left in the pod's cgroup (any tier): upstream's pod cgroup Destroy, for what the
 * runtime left behind once it holds nothing of the pod. Returns the signals sent, or -errno. */
int qos_pod_kill(struct qos_cgroups *q, const char *uid, int sig, struct cg_error *err);
/* Sends sig to the process of the pod's sandbox cgroup ("<pod cgroup>/<sandbox_id>", where a runc sandbox's
 * pause process lives) when it holds exactly that one and it is named comm (a runc sandbox's "pause"; the
 * process of another runtime, its shim or VM, is never signalled); through a pidfd, the process checked
 * again once it is held. 1 when sent; 0 when the cgroup holds none, several or another one, or the process
 * went meanwhile; -errno when there is no such cgroup (-ENOENT) or the ID is not a runtime's (-EINVAL). */
int qos_sandbox_kill(struct qos_cgroups *q, const char *uid, const char *sandbox_id, const char *comm,
                     int sig);
/* The name of the pod cgroup of uid that exists on disk ("kubepods/burstable/pod<uid>"), NULL when none.
 * Caller frees. */
char *qos_pod_cgroup_find(const struct qos_cgroups *q, const char *uid);
/* "kubepods": every pod's cgroup lives under it (the Summary's "pods" system container). */
#define QOS_KUBEPODS "kubepods"
/* The UIDs that have a pod cgroup on disk in any tier (strv). */
int qos_pod_uids(struct qos_cgroups *q, char ***ret);
