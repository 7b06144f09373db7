/* What wakes the eviction manager at once when memory runs short (kernelMemcgNotification), rather than
 * at its next 10 s pass:
 *   - v1 memory controller (v1, hybrid): a usage threshold on the top and kubepods memory cgroups
 *     (cgroup.event_control + eventfd on memory.usage_in_bytes, upstream's memory threshold notifier),
 *     re-armed as the inactive file pages move (ev_memcg_threshold);
 *   - a unified hierarchy (v2, hybrid): a PSI trigger on the top's and kubepods' memory.pressure (the
 *     kernel tells when tasks stalled on memory that long within the window; the window is a multiple
 *     of 2 s, the kernel's rule for triggers made without CAP_SYS_RESOURCE);
 *   - v2: kubepods' memory.events.local too (memory.events before kernel 5.2, which also counts its
 *     descendants'): it moves when kubepods itself hits memory.high or .max, or its OOM killer runs.
 * v2 has no usage thresholds: pressure and events say memory is tight, the pass then reads the signals. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroups.h"
#include "thresholds.h"

/* The PSI triggers: tasks stalled on memory 10 % of a 2 s window. The top: "some" (any task: kswapd and
 * direct reclaim anywhere); kubepods: "full" (all its running tasks at once, as when kubepods is at its
 * limit, not when one pod thrashes against its own while the others run). */
#define EV_PSI_TOP_TRIGGER      "some 200000 2000000"
#define EV_PSI_KUBEPODS_TRIGGER "full 200000 2000000"

enum ev_notify_kind { EV_NOTIFY_THRESHOLD, EV_NOTIFY_PRESSURE, EV_NOTIFY_EVENTS };

struct ev_notifier {
        enum ev_notify_kind kind;
        enum ev_signal signal;
        size_t threshold;    /* index of the hard threshold it serves */
        char *path;          /* THRESHOLD: the memory cgroup's directory; else the file */
        const char *trigger; /* PRESSURE: what is written to the file (static) */
        int fd;              /* THRESHOLD: the eventfd; else the open file; -1 when not open */
        int usage_fd;        /* THRESHOLD: memory.usage_in_bytes */
        int64_t value;       /* THRESHOLD: the usage armed */
        int64_t armed_ms;    /* monotonic: when last armed (THRESHOLD) or opened */
        int64_t logged_ms;   /* when its firing was last logged (monotonic; 0: never) */
        bool dead;           /* gave an error: not polled any more */
};

/* The notifiers for the hard memory thresholds (t[i].grace_ms == 0) of cg (opened with root "/"):
 * memory.available on the top cgroup (its memory.pressure, else /proc/pressure/memory),
 * allocatableMemory.available on kubepods (NULL: none). None opened yet. Returns how many. */
size_t ev_notify_plan(const struct cg *cg, const struct ev_threshold *t, size_t n, const char *kubepods,
                      struct ev_notifier **ret);

/* Opens a PRESSURE or EVENTS notifier (a THRESHOLD one is armed with ev_notify_arm). 0 or -errno (and
 * marked dead). */
int ev_notify_open(struct ev_notifier *no);
/* Arms a THRESHOLD notifier at usage value (closing what it had). 0 or -errno. */
int ev_notify_arm(struct ev_notifier *no, int64_t value);
/* The poll(2) events to wait for on no->fd. */
short ev_notify_events(const struct ev_notifier *no);
/* After poll gave revents: true when the notifier fired (and is ready for the next time). A notifier
 * whose file went away (its cgroup removed) is closed and marked dead. */
bool ev_notify_consume(struct ev_notifier *no, short revents);
void ev_notify_close(struct ev_notifier *no);
void ev_notify_free(struct ev_notifier *n, size_t count);
const char *ev_notify_kind_name(enum ev_notify_kind k);
