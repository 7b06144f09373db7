/* The cgroupfs driver: the node's hierarchy (v1, hybrid, v2), creating, updating and removing cgroups by a
 * relative name under a configurable root, upstream kubelet's resource math, and usage for stats. Knows
 * nothing of Pods: names and numbers only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum cg_mode { CG_MODE_UNKNOWN, CG_MODE_V1, CG_MODE_HYBRID, CG_MODE_V2 };

/* Reads the mount at root ("/sys/fs/cgroup" normally). */
enum cg_mode cg_detect_mode(const char *root);
const char *cg_mode_name(enum cg_mode m);

/* ---- resource math, as upstream (pkg/kubelet/cm/helpers_linux.go) ---- */

#define CG_MIN_SHARES      2
#define CG_MAX_SHARES      262144
#define CG_QUOTA_PERIOD_US 100000
#define CG_MIN_QUOTA_US    1000

/* milliCPU × 1024 / 1000 clamped to [2, 262144]; 0 (or unset, < 0) gives 2. */
int64_t cg_milli_to_shares(int64_t milli_cpu);
/* milliCPU × period / 1000, at least 1000 µs; 0 when milli_cpu is 0 or unset (no quota). */
int64_t cg_milli_to_quota(int64_t milli_cpu, int64_t period_us);
/* cgroup v2 cpu.weight from v1 shares: 1 + ((shares - 2) × 9999) / 262142, in [1, 10000]; 0 stays 0. */
int64_t cg_shares_to_weight(int64_t shares);

/* A hugepage size as upstream names it for the runtime (libcontainer's "2MB", "1GB", "64KB") from its
 * /sys/kernel/mm/hugepages entry ("hugepages-2048kB"), into out; false for another name. */
bool cg_hugepage_size_name(const char *entry, char *out, size_t len);

#define CG_HUGEPAGES_MAX 8

/* A hugepage size of the node, as the kernel lists it under /sys/kernel/mm/hugepages. */
struct cg_hugepage {
        uint64_t page_size; /* bytes */
        uint64_t pages;     /* nr_hugepages: the size's pool (0 when unreadable) */
        char name[16];      /* "2MB": the runtime's name and the hugetlb controller's files' */
};
/* The node's hugepage sizes and pools from dir, in the order of their entries' names as upstream reads them,
 * at most CG_HUGEPAGES_MAX of them, into out; returns how many. dir NULL: the machine's
 * (/sys/kernel/mm/hugepages) as the first such call found them, as upstream reads them once, at start (the
 * Node, admission and the cgroups then agree however the pools change later). */
size_t cg_hugepages(const char *dir, struct cg_hugepage out[CG_HUGEPAGES_MAX]);
/* The size's pool in bytes (pages x page size), INT64_MAX at most. */
int64_t cg_hugepage_pool(const struct cg_hugepage *h);

/* ---- the driver ---- */

#define CG_UNSET (-1)      /* leave the file as it is */
#define CG_MAX   INT64_MAX /* no limit: "-1" (v1) or "max" (v2) */

struct cg_resources {
        int64_t cpu_shares;    /* v1 cpu.shares; v2 cpu.weight through cg_shares_to_weight */
        int64_t cpu_quota_us;  /* cpu.cfs_quota_us / cpu.max; CG_MAX: no quota */
        int64_t cpu_period_us; /* cpu.cfs_period_us / cpu.max; CG_UNSET with a quota: 100000 */
        int64_t memory_max;    /* bytes: memory.limit_in_bytes / memory.max */
        int64_t pids_max;      /* pids.max */
        /* hugetlb.<name>.limit_in_bytes (v1) / hugetlb.<name>.max (v2) in bytes, CG_MAX: no limit; written
         * only where the hierarchy has the hugetlb controller (as upstream: no hugetlb, no limits). */
        struct cg_hugetlb {
                char name[16];
                int64_t limit;
        } hugetlb[CG_HUGEPAGES_MAX];
        size_t n_hugetlb;
};
/* Every field CG_UNSET, no hugetlb limits; zeroed first, so two compare equal with memcmp. */
void cg_resources_init(struct cg_resources *r);

/* What went wrong, with the file or directory it concerns: "write /sys/fs/cgroup/cpu/x/cpu.shares "1": ..." */
struct cg_error {
        char msg[512];
};

struct cg_options {
        const char *mount_root; /* NULL: /sys/fs/cgroup */
        const char *root;       /* cgroupRoot: every name lives under it; NULL or "/": the top */
        /* CG_MODE_UNKNOWN: detect from mount_root, and take only real cgroup mounts under it. Any other mode
         * is trusted and every directory under mount_root counts as a hierarchy named after its
         * controllers (a test tree: "cpu,cpuacct", "memory", ..., and "unified" for hybrid). */
        enum cg_mode mode;
};

struct cg;

int cg_open(const struct cg_options *o, struct cg **ret, struct cg_error *err);
struct cg *cg_free(struct cg *cg);
enum cg_mode cg_get_mode(const struct cg *cg);

/* Names are relative ("kubepods/burstable/pod<uid>"): no leading '/', no "." or ".." parts. */

/* The name in cgroupfs syntax as a runtime expects it (CRI cgroup_parent): "<root>/<name>". Caller frees. */
char *cg_path(const struct cg *cg, const char *name);
/* The directory of a name in the first hierarchy that has the controller ("cpu", "memory", "pids",
 * "cpuacct", "cpuset"; NULL: the first hierarchy), for tests and stats. Caller frees; NULL if none. */
char *cg_dir(const struct cg *cg, const char *name, const char *controller);
/* The directory of a name in the unified hierarchy (v2's only one, hybrid's controller-less "unified"),
 * where the pressure (PSI) files are. Caller frees; NULL on v1 alone. */
char *cg_unified_dir(const struct cg *cg, const char *name);
bool cg_exists(const struct cg *cg, const char *name);

/* Makes the cgroup (and its parents) in every hierarchy, then applies res (may be NULL). On v2 the parents
 * delegate their available controllers through cgroup.subtree_control; on v1 a new cpuset cgroup inherits
 * its parent's cpus and mems. Returns 1 when the cgroup was new, 0 when it existed. */
int cg_create(const struct cg *cg, const char *name, const struct cg_resources *res, struct cg_error *err);
/* Applies res to an existing cgroup; -ENOENT when it does not exist. */
int cg_update(const struct cg *cg, const char *name, const struct cg_resources *res, struct cg_error *err);
/* Removes the cgroup and its (empty) child cgroups from every hierarchy, retrying briefly while the kernel
 * lets go of exited tasks. Never kills anything: -EBUSY when processes are still in it. 0 when absent. */
int cg_remove(const struct cg *cg, const char *name, struct cg_error *err);
/* Sends sig to every process in the cgroup and its children, in every hierarchy (upstream's pod cgroup
 * Destroy: what the runtime left in a pod's cgroup once it holds nothing of the pod). Returns how many
 * signals were sent (a process counts once per hierarchy it is in; 0 when none or the cgroup is absent),
 * or -errno. */
int cg_kill(const struct cg *cg, const char *name, int sig, struct cg_error *err);
/* The child cgroups of a name, across all hierarchies, sorted and without duplicates (strv). */
int cg_children(const struct cg *cg, const char *name, char ***ret);

struct cg_usage {
        uint64_t cpu_usage_ns;       /* cumulative */
        uint64_t memory_usage;       /* bytes, including page cache */
        uint64_t memory_working_set; /* usage minus inactive_file, as cAdvisor reports it */
        uint64_t memory_rss;         /* v1 total_rss, v2 anon */
        uint64_t page_faults, major_page_faults;
        uint64_t memory_limit; /* 0: no limit */
};
/* The name's usage (memory.stat's subtree totals on v1). "" is the driver's root; the top of the
 * hierarchy itself works on v1 but not on v2, which has no memory.current there (-ENOENT). */
int cg_read_usage(const struct cg *cg, const char *name, struct cg_usage *ret, struct cg_error *err);
/* How many processes the cgroup and its children hold, and one of them (0 when none), from cgroup.procs in
 * the pids hierarchy (else the memory one). -ENOENT when the cgroup does not exist. */
int cg_procs(const struct cg *cg, const char *name, size_t *ret_count, pid_t *ret_pid);
