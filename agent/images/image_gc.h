/* Image garbage collection, as upstream's image manager (pkg/kubelet/images/image_gc_manager.go): which images
 * are in use and when they were last, and freeing the image filesystem down to the low threshold. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cri_client;
struct event_recorder;

/* What is known of one image (upstream's imageRecord). Times are wall-clock ns (they survive a restart);
 * first_detected 0: before cubelet first looked ("unknown, in the past"). */
struct image_record {
        char *id;
        int64_t first_detected_ns;
        int64_t last_used_ns;
        uint64_t size;
};

/* ---- pure decisions ---- */

/* Bytes to free to come down to low percent when the usage (100 - available*100/capacity, as upstream) is at
 * or above high percent; 0 when below. *ret_usage: the usage percent. Capacity must be > 0. */
int64_t image_gc_bytes_to_free(uint64_t capacity, uint64_t available, int high, int low, int *ret_usage);

/* The images that may go, in the order they go (least recently used first, ties: first detected first):
 * not in in_use (NULL-terminated image IDs), not used at or after free_time_ns, detected at least
 * min_age_ns before free_time_ns. Fills order (room for n) with indices into recs; returns how many. */
size_t image_gc_candidates(const struct image_record *recs, size_t n, char *const *in_use,
                           int64_t free_time_ns, int64_t min_age_ns, size_t *order);

/* The persisted records (JSON) to and from text; parse ignores what it does not understand. */
char *image_gc_records_format(const struct image_record *recs, size_t n);
int image_gc_records_parse(const char *text, size_t len, struct image_record **ret, size_t *ret_n);
void image_records_free(struct image_record *recs, size_t n);

/* ---- the manager ---- */

struct image_gc_config {
        struct cri_client *cri;
        struct event_recorder
                *events;           /* FreeDiskSpaceFailed, ImageGCFailed, InvalidDiskCapacity on the Node */
        const char *state_path;    /* the records, across restarts (written atomically) */
        const char *sandbox_image; /* never removed; NULL: ask the runtime (containerd's sandboxImage) */
        int high_percent;          /* 100: no periodic collection (detection still runs) */
        int low_percent;
        int64_t min_age_ms;
        int64_t period_ms; /* detection and collection, upstream's 5 min */
        int64_t timeout_ms;
};

struct image_gc;

/* Loads the records, detects images once, then runs detection and collection every period on a thread. */
int image_gc_start(const struct image_gc_config *cfg, struct image_gc **ret);
/* Stops the thread (a running pass finishes its calls, each with a deadline) and frees. NULL is fine. */
void image_gc_stop(struct image_gc *gc);

/* Upstream's GarbageCollect: above the high threshold, free down to the low one. 0, or -errno with *ret_err
 * (caller frees) in upstream's words. Thread-safe. */
int image_gc_collect(struct image_gc *gc, char **ret_err);
/* Frees at least bytes (or as much as it can) of unused images, least recently used first; *ret_freed is
 * what was freed, also on error. For the eviction manager. */
int image_gc_free_space(struct image_gc *gc, int64_t bytes, int64_t *ret_freed, char **ret_err);
/* Removes every unused image old enough (upstream's DeleteUnusedImages). */
int image_gc_delete_unused(struct image_gc *gc, char **ret_err);
