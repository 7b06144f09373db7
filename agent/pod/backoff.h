/* Per-container restart back-off (CrashLoopBackOff), with upstream's rules: the first restart at once,
 * then the initial delay, doubling up to the cap; forgotten after twice the cap without a failure. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct backoff;

struct backoff *backoff_new(int64_t initial_ms, int64_t max_ms);
struct backoff *backoff_free(struct backoff *b);

/* In back-off when less than the current delay has passed since the container finished (wall-clock ms).
 * Fills *ret_delay_ms (the current delay) and *ret_left_ms (time until it may restart) when in back-off. */
bool backoff_in_backoff(struct backoff *b, const char *key, int64_t finished_ms, int64_t now_ms,
                        int64_t *ret_delay_ms, int64_t *ret_left_ms);
/* upstream's IsInBackOffSinceUpdate (image pulls): less than the current delay since the last backoff_next.
 * Fills *ret_left_ms when in back-off. */
bool backoff_in_backoff_since_update(struct backoff *b, const char *key, int64_t now_ms, int64_t *ret_left_ms);
/* A restart happens now for a container that finished at finished_ms: grow the delay. */
void backoff_next(struct backoff *b, const char *key, int64_t finished_ms, int64_t now_ms);
/* Drops entries of keys starting with prefix (a pod that went away). */
void backoff_forget_prefix(struct backoff *b, const char *prefix);
