/* containerd's task events (start, exit, OOM) and container events (create, delete) from its
 * Events/Subscribe stream: every CRI state change of a container or sandbox, as it happens. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctd_events;

enum ctd_event_kind {
        CTD_EVENT_TASK_START, /* the container's init process started */
        CTD_EVENT_TASK_EXIT,  /* the container's init process exited (exec processes are not reported) */
        CTD_EVENT_TASK_OOM,   /* the container's cgroup ran out of memory */
        CTD_EVENT_CONTAINER_CREATE, /* a container or sandbox was created (CRI state CREATED) */
        CTD_EVENT_CONTAINER_DELETE, /* a container or sandbox was removed */
};

struct ctd_event {
        enum ctd_event_kind kind;
        const char *container_id; /* CRI container or sandbox id; valid during the callback only */
        uint32_t pid;             /* start and exit: the init process's host pid */
        uint32_t exit_status;     /* exit: as waitpid's WEXITSTATUS, 128+signal when killed */
        int64_t exited_at_ns;     /* exit: CLOCK_REALTIME nanoseconds, as the shim saw it; else 0 */
};

struct ctd_events_config {
        const char *endpoint;   /* same forms as cri_client_new: unix:///path or /path */
        const char *namespace_; /* containerd namespace whose events we want; NULL: "k8s.io" (CRI's) */
        /* Both run on the stream thread, which they must not block for long; they must not call
         * ctd_events_stop(). */
        void (*on_event)(const struct ctd_event *ev, void *userdata);
        /* The subscription came up (why NULL) or went down (why says why, e.g. "Subscribe: rpc error:
         * code = Unavailable desc = ..."). Reported on changes only; the initial state is down, not
         * reported. Events are lost while down: resynchronise (relist) on every up. May be NULL. */
        void (*on_state)(bool connected, const char *why, void *userdata);
        void *userdata;
};

/* Starts the stream thread ("ctd-events", all signals blocked); it subscribes, and re-subscribes with
 * backoff (100 ms doubling to 1 s) whenever the stream ends, e.g. when containerd restarts. Does not
 * wait for containerd: a missing one is reported through on_state. -EINVAL for a bad endpoint or
 * namespace or a missing on_event, -ENOMEM, or -errno from pthread_create. */
int ctd_events_start(const struct ctd_events_config *cfg, struct ctd_events **ret);
/* Cancels the call, joins the thread and frees; returns promptly in every state. NULL is fine. */
struct ctd_events *ctd_events_stop(struct ctd_events *e);

/* Decodes one streamed Envelope. Returns 1 and fills *ret (whose container_id points to *ret_container_id,
 * a copy the caller frees) for a task start, exit or OOM, or a container create or delete, of namespace ns (NULL: any namespace); 0 for
 * anything else (another namespace, another event type, an exec process's exit); -EBADMSG when buf is
 * not a valid Envelope or its payload not a valid event of its type; -ENOMEM. */
int ctd_event_decode(const uint8_t *buf, size_t len, const char *ns, struct ctd_event *ret,
                     char **ret_container_id);
