/* The static pod source: a manifest directory, watched with inotify and rescanned periodically. */
#pragma once

#include <stdint.h>
#include <uv.h>

struct podconfig;
struct file_source;

/* Reads the directory once at once (so the first set is complete before anything else starts), then
 * watches it on the loop. state_dir keeps a copy of each file's last good version, so that a file that
 * turned bad still names its running pods after a restart of cubelet. */
int file_source_start(uv_loop_t *loop, const char *dir, const char *state_dir, const char *node_name,
                      int64_t rescan_ms, struct podconfig *pc, struct file_source **ret);
/* Closes the handles; the loop must run once more to finish closing. */
void file_source_stop(struct file_source *fs);
/* After a change in the directory at now_ms, how long to wait before reading it: DEBOUNCE_MS of quiet, but
 * no later than DEBOUNCE_MAX_MS after the burst's first change (burst_ms). Pure. */
uint64_t file_source_read_delay(uint64_t now_ms, uint64_t burst_ms);
/* Reads the directory now (tests, SIGHUP). */
void file_source_rescan(struct file_source *fs);
