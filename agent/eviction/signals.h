/* Eviction signals observed from a stats Summary (upstream's makeSignalObservations), and the state the
 * manager keeps between passes: which thresholds are met (with their minimum reclaim and grace periods)
 * and which node conditions hold (with the pressure transition period). Pure: time is passed in. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "thresholds.h"

struct ev_observation {
        bool present;
        int64_t available, capacity;
};

/* Observations of every signal the Summary has numbers for:
 *   memory.available            node.memory availableBytes, capacity = available + workingSetBytes
 *   allocatableMemory.available the "pods" system container's memory, likewise
 *   nodefs.*                    node.fs availableBytes/capacityBytes, inodesFree/inodes
 *   imagefs.*                   node.runtime.imageFs likewise
 *   pid.available               node.rlimit maxpid - curproc */
void ev_observe(const json_t *summary, struct ev_observation obs[EV_SIGNAL_MAX]);

/* Whether a threshold is met by an observation; with_min_reclaim: the threshold raised by its minimum
 * reclaim (a threshold met before stays met until that much more is free). */
bool ev_threshold_met(const struct ev_threshold *t, const struct ev_observation *o, bool with_min_reclaim);

/* The v1 memory cgroup threshold (on memory.usage_in_bytes) that fires when memory.available or
 * allocatableMemory.available crosses t, from the Summary's numbers for that cgroup (upstream's
 * memoryThresholdNotifier.UpdateThreshold): capacity - threshold + inactive file. -ENODATA without them. */
int ev_memcg_threshold(const json_t *summary, const struct ev_threshold *t, int64_t *ret);

struct ev_state {
        size_t n;                   /* thresholds */
        int64_t *first_observed_ms; /* per threshold: when first met (0: not met) */
        bool *met;                  /* per threshold: met and past its grace period, after the last step */
        int64_t cond_last_ms[EV_COND_MAX]; /* when each condition was last observed (0: never) */
        bool conditions[EV_COND_MAX];      /* reported: observed within the transition period */
};

void ev_state_init(struct ev_state *st, size_t n_thresholds);
void ev_state_done(struct ev_state *st);

/* One housekeeping pass (upstream's synchronize up to "the set of thresholds we need to drive eviction"):
 * updates the state from the observations at now_ms and sets act[i] for each threshold that is met (or
 * was met and has not reclaimed its minimum) past its grace period. */
void ev_state_step(struct ev_state *st, const struct ev_threshold *t, const struct ev_observation *obs,
                   int64_t transition_ms, int64_t now_ms, bool *act);

/* Of the thresholds to act on, the one to reclaim first: memory before everything else (upstream's
 * byEvictionPriority). -1 when none. */
int ev_pick_threshold(const struct ev_threshold *t, size_t n, const bool *act);
