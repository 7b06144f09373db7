/* Whether anything changed in some directories since they were last looked at: inotify watches on them,
 * read without blocking. Lets a periodic check that stats every file skip the stats while nothing moved. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/inotify.h>

struct dirwatch;

/* Never NULL; without inotify (no instance left) every dirwatch_add fails and dirwatch_changed says true. */
struct dirwatch *dirwatch_new(void);
void dirwatch_free(struct dirwatch *w);

/* Watches path (a directory: IN_ONLYDIR is added) for mask's events; again for a watched one is harmless.
 * Add the watches before reading what they guard: a change after that is an event. false: not watched. */
bool dirwatch_add(struct dirwatch *w, const char *path, uint32_t mask);

/* Reads every queued event: true when there was any, the queue overflowed, or it cannot be read. */
bool dirwatch_changed(struct dirwatch *w);
