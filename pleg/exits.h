/* Exits containerd's event stream told of before its CRI plugin applied them.
 *
 * containerd publishes a container's TaskExit (exit status and time in it) the moment the shim reaps the
 * process, but its CRI plugin lists the container RUNNING until it has deleted the task (shim and runc
 * clean-up, the stdio drained): ~0.3 s on a quiet machine, seconds on a loaded one, one container after
 * another. The table keeps what the events said so that the PLEG wakes the pod and its sync restarts the
 * container at once, with the same exit code, time and reason CRI shows a moment later (containerd takes
 * them from the same event). It also tells the PLEG which exits the listing still has to show (it relists
 * at the short period until then). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "api.pb-c.h"

struct ctd_event; /* cri/events.h */

/* At most this many entries (a storm of exits beyond it is seen when CRI applies them), each kept at most
 * this long while the listing does not show it. */
#define RUNTIME_EXITS_MAX    512
#define RUNTIME_EXITS_MAX_MS (5 * 60 * 1000)
/* An exit a listing shows stays this long more (unless room is needed): a sync that listed the container
 * (or asked its status) before CRI applied the exit, and looks here after the PLEG saw it applied, still
 * counts it exited. The listing cache serves a listing for up to 10 s. */
#define RUNTIME_EXITS_KEEP_MS (30 * 1000)

struct runtime_exits;

/* A container's exit as CRI will report it. */
struct runtime_exit {
        int32_t code;
        int64_t finished_ns; /* wall clock, as the shim saw it */
        /* "Completed", "Error" or "OOMKilled" (static); NULL for a SIGKILL (137) without an OOM event seen:
         * the OOM killer's event may come after its kill, so CRI's reason is awaited. */
        const char *reason;
};

struct runtime_exits *runtime_exits_new(void);
struct runtime_exits *runtime_exits_free(struct runtime_exits *t);

/* A task exit or OOM event (other kinds are ignored); on the event stream's thread. */
void runtime_exits_note(struct runtime_exits *t, const struct ctd_event *ev, int64_t now_ms);

/* The exit an event told of for container id, to act on while the listing may still show it RUNNING;
 * false when none is known. t may be NULL. */
bool runtime_exits_get(struct runtime_exits *t, const char *id, struct runtime_exit *ret);
/* The same for a pod status made from it (or lacking CRI's reason) while the listing does not show the
 * exit yet: once it does, the pod syncs again for CRI's whole status (runtime_exits_settle). false once a
 * listing has shown it (or none is known): CRI's status has it then, ask again. */
bool runtime_exits_get_for_status(struct runtime_exits *t, const char *id, struct runtime_exit *ret);

/* Marks the RUNNING containers of a listing whose exit an event told of EXITED. t may be NULL. */
void runtime_exits_apply(struct runtime_exits *t, Runtime__V1__ListContainersResponse *l);

/* After a listing of the whole node (all sandboxes, all containers): forgets the exits it shows (the
 * container not RUNNING, the sandbox not READY, either gone) and those awaited longer than
 * RUNTIME_EXITS_MAX_MS (an exit it shows stays RUNTIME_EXITS_KEEP_MS more), and an OOM without an exit
 * once its container no longer runs. The pod UID of each container whose exit a status was made from
 * (runtime_exits_get_for_status) and a listing shows is pushed to *settled (a strv), once: CRI's own status
 * of it is there now (its reason, the whole log for a termination message taken from it). Returns whether
 * an exit is still awaited (not yet shown). began_ms: when the listing's calls went out (now_mono_ms). An
 * event told since then is left as it is: the listing may be older than the exit, and than the container
 * (created and exited while it was under way, not in it: not gone). */
bool runtime_exits_settle(struct runtime_exits *t, const Runtime__V1__ListPodSandboxResponse *sandboxes,
                          const Runtime__V1__ListContainersResponse *containers, int64_t began_ms,
                          int64_t now_ms, int64_t late_ms, char ***settled);
