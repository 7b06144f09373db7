/* /stats/summary: the node's and each pod's CPU, memory, network and filesystem usage in upstream's Summary
 * shape (kubelet stats/v1alpha1). Sources, as upstream's CRI stats provider with cAdvisor:
 *   node      cpu/memory from the top cgroup (/proc on v2, whose top has no memory.current), network from
 *             /proc/net/dev, fs from statvfs of the root directory, imageFs from CRI ImageFsInfo, rlimit;
 *             systemContainers: "pods" (the kubepods cgroup)
 *   pod       cpu/memory/process count from the pod cgroup (the sum of its containers without pod cgroups),
 *             network from /proc/<pid>/net/dev of a process in the pod, volumes and logs by walking their
 *             directories (cached for a few seconds), ephemeral-storage as upstream: rootfs + logs + the
 *             volumes on the node's disk (emptyDir without Memory, configMap); finished pods listed too
 *   container cpu/memory from its own cgroup (<pod cgroup>/<container id>; CRI ListContainerStats without pod
 *             cgroups), rootfs from ListContainerStats (at most 5 s old), logs from /var/log/pods
 * Thread-safe: the node server answers from several threads. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cgroups.h"

struct cri_client;
struct qos_cgroups;

struct stats_config {
        struct cri_client *cri;
        int64_t timeout_ms;
        struct qos_cgroups *qos;       /* NULL: no pod cgroups (cgroupsPerQOS off) */
        const char *cgroup_mount_root; /* NULL: /sys/fs/cgroup */
        enum cg_mode cgroup_mode;      /* CG_MODE_UNKNOWN: detect */
        const char *node_name, *root_dir, *pod_logs_dir;
};

struct stats;

struct stats *stats_new(const struct stats_config *c);
struct stats *stats_free(struct stats *s);

/* A new Summary, or NULL with *err (caller frees) when the runtime did not answer. only_cpu_and_memory:
 * upstream's ?only_cpu_and_memory=true (metrics-server): no network, filesystems or volumes. */
json_t *stats_summary(struct stats *s, bool only_cpu_and_memory, char **err);
/* The same Summary's node part alone ("pods" empty) and without its network: no CRI listing, no per-pod
 * cgroup, log or volume walk. What the eviction manager observes every pass; it asks for the pods only when
 * it must rank them. */
json_t *stats_summary_node(struct stats *s, char **err);

/* Whether the runtime's image filesystem (ImageFsInfo's mountpoint) is on another device than the root
 * dir (upstream's HasDedicatedImageFs). -errno when it cannot tell (no runtime, no mountpoint, stat). */
int stats_image_fs_dedicated(struct stats *s, bool *ret);

/* /metrics/resource (what metrics-server 0.6+ scrapes for `kubectl top`): upstream's resource metrics
 * in Prometheus text from the same sources as only_cpu_and_memory. NULL with *err when the runtime did not
 * answer. Caller frees. */
char *stats_resource_metrics(struct stats *s, char **err);

/* The Prometheus text of a Summary (pure, for tests); ts_ms stamps every sample. Caller frees. */
char *stats_summary_to_resource_metrics(json_t *summary, int64_t ts_ms);

/* ---- pieces, exposed for the unit tests ---- */

/* /proc/net/dev text → upstream's NetworkStats (without "time"): every interface but lo, veth* and
 * docker* in "interfaces", and eth0's counters inline when there is one. */
json_t *stats_net_dev_json(const char *text);

/* Disk usage of a tree as `du -x`: 512-byte blocks of every entry on the same filesystem as path, hard
 * links once, symlinks not followed, and the entries counted as inodes. */
int stats_disk_usage(const char *path, uint64_t *ret_bytes, uint64_t *ret_inodes);

/* usageNanoCores from two cumulative samples: the rate over the last window of at least min_window_ns.
 * Feeds (t_ns, usage_ns) into *state; returns false until a window is complete. A sample older than the
 * last one changes nothing; a counter that goes back starts over. */
struct stats_rate {
        int64_t t_ns;
        uint64_t usage_ns;
        uint64_t nano_cores;
        bool primed, has_rate;
};
bool stats_rate_update(struct stats_rate *st, int64_t t_ns, uint64_t usage_ns, int64_t min_window_ns,
                       uint64_t *ret_nano_cores);
