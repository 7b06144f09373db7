/* Container log rotation (upstream's container log manager): a running container's log file above
 * containerLogMaxSize is renamed to "<log>.<stamp>" (local time, 20060102-150405) and the runtime told to
 * reopen it; the rotated files older than the newest one are gzipped to "<log>.<stamp>.gz" and the oldest
 * removed so that at most containerLogMaxFiles files per container remain, the live one included. Also keeps
 * /var/log/containers tidy: symlinks whose log is gone are removed once a minute. One thread, every
 * containerLogMonitorInterval; compression runs on it too, never on the main loop. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cri_client;
struct log_rotator;

struct log_rotate_config {
        struct cri_client *cri;
        int64_t max_size;           /* bytes; <= 0: no rotation */
        int max_files;              /* >= 2 */
        int64_t interval_ms;        /* between checks */
        int64_t timeout_ms;         /* per CRI call */
        const char *containers_dir; /* /var/log/containers; NULL: none */
        const char *pod_logs_dir;   /* /var/log/pods: no symlink below it is followed; NULL: only the last
                                     * component of a log's path is guarded */
};

int log_rotator_start(const struct log_rotate_config *cfg, struct log_rotator **ret);
void log_rotator_stop(struct log_rotator *r);

/* One pass now (tests). Returns the number of files rotated. */
int log_rotate_once(struct log_rotator *r);

/* Whether any "*.log" in pod_logs_dir/<pod>/<container>/ is at max_size or larger, a container's directory
 * has rotated files but no live log, or a directory cannot be read: a pass asks the runtime about its
 * running containers only then (and once a minute). */
bool log_rotate_needed(const char *pod_logs_dir, int64_t max_size);

/* log_rotate_needed for one directory, again and again: the first check walks it, watching (inotify) every
 * directory it reads; later checks stat only the live logs that walk found until a watch tells of a
 * directory or a file that appeared or went (or a log is over, or a watch could not be added): then they
 * walk again. Where inotify is not there, every check walks. */
struct log_watch;
struct log_watch *log_watch_new(const char *pod_logs_dir);
bool log_watch_needed(struct log_watch *lw, int64_t max_size);
unsigned log_watch_walks(const struct log_watch *lw); /* walks so far (tests) */
void log_watch_free(struct log_watch *lw);

/* "<path>.<stamp>" for a rotation at t: the stamp is upstream's 20060102-150405 in local time. */
char *log_rotated_name(const char *path, time_t t);

/* What to do with the files "<base>.*" next to a container log (pure, for tests). names are directory
 * entries; max_rotated is how many rotated files may stay. */
struct log_rotated_plan {
        char **remove;   /* leftover "*.tmp", plain files whose ".gz" exists, then the oldest rotated files
                          * beyond max_rotated, oldest first */
        char **compress; /* the remaining plain rotated files except the newest one, oldest first */
};
void log_rotated_plan_make(const char *base, char *const *names, int max_rotated,
                           struct log_rotated_plan *ret);
void log_rotated_plan_clear(struct log_rotated_plan *p);

/* gzips path to "<path>.gz" through "<path>.tmp" (synced, then renamed), then removes path. On failure
 * path stays as it was, the .tmp is removed, and *ret_step (if given) names the step that failed.
 * -ECANCELED when *cancel turned true on the way (checked between chunks). */
int log_compress(const char *path, const atomic_bool *cancel, const char **ret_step);

/* Applies the plan to the files next to path: removes, then (with compress) compresses, logging what fails
 * and going on. Returns the number of files compressed, or -errno when the directory cannot be read. No
 * symlink below root (the pod logs directory; NULL: none) is followed on the way to path's directory
 * (-ELOOP), and every step is relative to that directory. */
int log_tidy_rotated(const char *root, const char *path, int max_rotated, bool compress,
                     const atomic_bool *cancel);

/* Removes a removed container's log files, rotated ones too (upstream's removeContainerLog). No symlink below
 * root (the pod logs directory; NULL: none) is followed on the way to the log's directory. */
void log_remove_container_logs(const char *root, const char *log_path);

/* A container's /var/log/containers link name, as upstream's logSymlink: "<pod>_<namespace>_<container>-<id>"
 * cut to 251 bytes (a file name's 255 on ext4 with the suffix), then ".log" (caller frees). */
char *log_container_link_name(const char *pod, const char *ns, const char *container, const char *id);

/* Removes a removed container's /var/log/containers link "<pod>_<namespace>_<container>-<id>.log" (upstream's
 * removeContainerLog removes it with the log); the names come from the container's labels. NULLs: nothing. */
void log_remove_container_link(const char *containers_dir, const char *pod, const char *ns,
                               const char *container, const char *id);
