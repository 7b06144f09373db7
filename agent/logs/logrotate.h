/* Container log rotation (upstream's container log manager): a running container's log file above
 * containerLogMaxSize is renamed with a timestamp and the runtime told to reopen it; at most
 * containerLogMaxFiles files per container are kept. Also keeps /var/log/containers tidy: symlinks whose
 * log is gone are removed. One thread, every containerLogMonitorInterval. */
#pragma once

#include <stdint.h>

struct cri_client;
struct log_rotator;

struct log_rotate_config {
        struct cri_client *cri;
        int64_t max_size;           /* bytes; <= 0: no rotation */
        int max_files;              /* >= 2 */
        int64_t interval_ms;        /* between checks */
        int64_t timeout_ms;         /* per CRI call */
        const char *containers_dir; /* /var/log/containers; NULL: none */
};

int log_rotator_start(const struct log_rotate_config *cfg, struct log_rotator **ret);
void log_rotator_stop(struct log_rotator *r);

/* One pass now (tests). Returns the number of files rotated. */
int log_rotate_once(struct log_rotator *r);

/* Keeps the newest max_files - 1 rotated files "<base>.<stamp>" next to path; removes the rest (pure
 * file work, for tests). Returns how many were removed. */
int log_prune_rotated(const char *path, int max_files);
