/* Eviction signals and thresholds: upstream's names, the evictionHard/Soft/SoftGracePeriod/MinimumReclaim
 * statements (config file maps and flags) parsed into thresholds, and the arithmetic on them. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ev_signal {
        EV_MEMORY_AVAILABLE,             /* memory.available */
        EV_ALLOCATABLE_MEMORY_AVAILABLE, /* allocatableMemory.available */
        EV_NODEFS_AVAILABLE,             /* nodefs.available */
        EV_NODEFS_INODES_FREE,           /* nodefs.inodesFree */
        EV_IMAGEFS_AVAILABLE,            /* imagefs.available */
        EV_IMAGEFS_INODES_FREE,          /* imagefs.inodesFree */
        EV_PID_AVAILABLE,                /* pid.available */
        EV_SIGNAL_MAX
};

/* The node conditions signals map to. */
enum ev_condition { EV_COND_MEMORY, EV_COND_DISK, EV_COND_PID, EV_COND_MAX };

/* What reclaiming a signal frees: the word of upstream's messages ("memory", "ephemeral-storage",
 * "inodes", "pids"). */
enum ev_resource { EV_RES_MEMORY, EV_RES_EPHEMERAL, EV_RES_INODES, EV_RES_PIDS };

const char *ev_signal_name(enum ev_signal s);
/* -EINVAL for a name upstream does not know. */
int ev_signal_from_name(const char *name, enum ev_signal *ret);
enum ev_condition ev_signal_condition(enum ev_signal s);
enum ev_resource ev_signal_resource(enum ev_signal s);
const char *ev_resource_name(enum ev_resource r);
/* "MemoryPressure", "DiskPressure", "PIDPressure" */
const char *ev_condition_name(enum ev_condition c);

/* A quantity (bytes, inodes or PIDs) or a fraction of the signal's capacity. */
struct ev_value {
        int64_t quantity; /* > 0 when set */
        double fraction;  /* 0..1 when quantity is 0 */
};
/* The value against a capacity, as upstream's GetThresholdQuantity. */
int64_t ev_value_quantity(const struct ev_value *v, int64_t capacity);

struct ev_threshold {
        enum ev_signal signal;
        struct ev_value value;
        int64_t grace_ms; /* 0: a hard threshold */
        bool has_min_reclaim;
        struct ev_value min_reclaim;
};

/* The statements as given: "signal=value" strvs (flags' "signal<value" already turned into that). */
struct ev_statements {
        char **hard, **soft, **soft_grace, **min_reclaim;
};

/* Upstream's defaults (Linux): memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%,
 * imagefs.available<15%, as a strv for ev_statements.hard (caller frees). */
char **ev_default_hard(void);

/* One statement checked alone (for the configuration's loaders). kind: "hard", "soft", "grace",
 * "reclaim". NULL when fine, else why not (caller frees), in upstream's words. */
char *ev_statement_problem(const char *kind, const char *signal, const char *value);

/* Every statement into thresholds: hard ones, then soft ones (each needs a grace period), each with its
 * minimum reclaim; with allocatable (enforceNodeAllocatable "pods") a hard memory.available threshold also
 * becomes allocatableMemory.available, as upstream. 0% and 100% thresholds are ignored. -EINVAL with
 * *ret_err (caller frees) when one is malformed. */
int ev_thresholds_parse(const struct ev_statements *st, bool allocatable, struct ev_threshold **ret,
                        size_t *ret_n, char **ret_err);

/* "signal<value" (the flags' syntax) → "signal=value"; NULL when there is no '<'. Caller frees. */
char *ev_flag_statement(const char *s);

/* A threshold for the log: "memory.available<100Mi" / "nodefs.available<10%". Caller frees. */
char *ev_threshold_format(const struct ev_threshold *t);

/* A byte count as Go's resource.Quantity of BinarySI prints it: "512Mi", "1536", "0" (values below 1024
 * in decimal SI: "1k" for 1000). */
void ev_quantity_string(int64_t v, char *buf, size_t len);
