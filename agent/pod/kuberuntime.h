/* The pod runtime's parts, shared by the files of agent/pod/ only (upstream's kuberuntime package): the
 * sync (sync.c: the plan, as computePodActions, and its execution), the sandbox (runtime_sandbox.c), the
 * containers and their hooks (runtime_container.c), the pod's own runtime clean-up (runtime_gc.c), the
 * status (runtime_status.c) and the small helpers (runtime_helpers.c). Images are agent/images/'s. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "cri.h"
#include "events.h"
#include "exits.h"
#include "sync.h"
#include "util.h"

/* ---- CRI maps ---- */

/* Every CRI map entry has this layout: a message header, key, value. */
struct pb_kv {
        ProtobufCMessage base;
        char *key;
        char *value;
};

struct pb_map {
        struct pb_kv **items;
        size_t n, cap;
};

/* Sets k to v in m (a later value wins, as in a Go map), every entry an instance of d, in the arena. */
void map_add(struct arena *a, struct pb_map *m, const ProtobufCMessageDescriptor *d, const char *k,
             const char *v);

#define MAP_SET(msg, field, m)                                                                              \
        do {                                                                                                \
                (msg)->field = (__typeof__((msg)->field)) (m).items;                                        \
                (msg)->n_##field = (m).n;                                                                   \
        } while (0)

#define KV_GET(entries_, n_, want_)                                                                         \
        ({                                                                                                  \
                const char *_v = NULL;                                                                      \
                for (size_t _i = 0; _i < (n_) && !_v; _i++)                                                 \
                        if (streq((entries_)[_i]->key, (want_)))                                            \
                                _v = (entries_)[_i]->value;                                                 \
                _v;                                                                                         \
        })

/* ---- a sync's result ---- */

/* The pod's error and reason (the first failure wins: the later ones follow from it). */
void res_error(struct sync_result *res, const char *reason, const char *fmt, ...) _printf_(3, 4);
/* A container-level reason, for the container's waiting state. */
void res_wait(struct sync_result *res, const char *name, const char *reason, const char *msg);
/* A container's failure: the pod's error (first wins) and the container's waiting reason. */
void res_cerror(struct sync_result *res, const char *name, const char *reason, const char *fmt, ...)
        _printf_(4, 5);
/* What the runtime said, else errno's words. */
const char *cri_msg(const struct cri_error *e, int r);

#define pod_event(ctx, pod, fp, type, reason, ...)                                                          \
        do {                                                                                                \
                if ((ctx)->events)                                                                          \
                        events_record((ctx)->events, (pod)->namespace, (pod)->name, (pod)->uid, (fp),       \
                                      (type), (reason), __VA_ARGS__);                                       \
        } while (0)

/* "spec.containers{name}" or "spec.initContainers{name}", an Event's fieldPath. */
void field_path(char *buf, size_t len, bool init, const char *name);

/* ---- the pod in the runtime ---- */

struct pod_runtime {
        Runtime__V1__ListPodSandboxResponse *sandboxes;
        Runtime__V1__ListContainersResponse *containers;
};

int list_pod(const struct sync_ctx *ctx, const char *uid, struct pod_runtime *rt, struct cri_error *err);
void pod_runtime_done(struct pod_runtime *rt);
/* A container RUNNING, or UNKNOWN (it may run); something of the pod may still run: such a container, or a
 * sandbox READY. */
bool container_may_run(const Runtime__V1__Container *c);
bool pod_runtime_may_run(const struct pod_runtime *rt);
Runtime__V1__PodSandbox *newest_sandbox(const struct pod_runtime *rt);
/* The newest instance of the container name, in any sandbox / in sandbox_id. NULL: none. */
Runtime__V1__Container *latest_container(const struct pod_runtime *rt, const char *name);
Runtime__V1__Container *latest_in_sandbox(const struct pod_runtime *rt, const char *name,
                                          const char *sandbox_id);
int container_restart_count(const Runtime__V1__Container *c);

/* ---- the pod's directories ---- */

char *pod_dir(const struct sync_ctx *ctx, const char *uid);
char *pod_log_dir(const struct sync_ctx *ctx, const struct pod *pod);
/* A container start in flight: <pod dir>/starting-<container ID>, made before StartContainer and removed once
 * its outcome is known. One left behind names a start whose outcome no cubelet saw (it was killed). NULL
 * for an ID that is not a plain name (it comes from the runtime). */
char *start_marker(const struct sync_ctx *ctx, const char *uid, const char *id);
/* The same, made (a failure to make it is ignored: the start goes on unmarked). */
char *start_marker_make(const struct sync_ctx *ctx, const char *uid, const char *id);

/* ---- the sandbox (runtime_sandbox.c) ---- */

Runtime__V1__NamespaceOption *ns_options(struct arena *a, const struct pod *pod);
/* Upstream's generatePodSandboxConfig: NULL with *ret_err when the pod's DNS or hostname cannot be made. */
Runtime__V1__PodSandboxConfig *sandbox_config(struct arena *a, const struct sync_ctx *ctx,
                                              const struct pod *pod, uint32_t attempt, char **ret_err);
int create_sandbox(const struct sync_ctx *ctx, struct pod *pod, Runtime__V1__PodSandboxConfig *cfg,
                   char **ret_id, char **ret_ip, struct sync_result *res);
/* Stops the sandbox, and removes it when remove is set; a sandbox already gone is not an error. */
int stop_sandbox(const struct sync_ctx *ctx, const char *id, bool remove, struct sync_result *res);
int remove_sandbox(const struct sync_ctx *ctx, const char *id, struct sync_result *res);
/* The sandbox's primary IP; NULL when it has none. */
char *sandbox_ip(const struct sync_ctx *ctx, const char *sandbox_id);
/* Upstream's makeHostsMount, at every container start: the pod's managed hosts file (a hostNetwork pod's is
 * the node's, with the pod's aliases). Returns 1 with *ret_path to mount there, 0 when a pod on the pod
 * network has no IP yet (nothing is mounted then, as upstream), or -errno with why. */
int write_hosts_file(const struct sync_ctx *ctx, const struct pod *pod, const char *sandbox_id,
                     char **ret_path, char *why, size_t len);

/* ---- containers (runtime_container.c) ---- */

/* Pulls (or finds) the image, makes, starts the container and runs its postStart hook. -EINPROGRESS while
 * its image is being pulled (the puller wakes the pod). */
int start_container(const struct sync_ctx *ctx, struct pod *pod, const char *sandbox_id,
                    Runtime__V1__PodSandboxConfig *sbcfg, const struct container *c, int restart_count,
                    const char *fp, struct sync_result *res);
int stop_container(const struct sync_ctx *ctx, const char *id, int64_t grace_s, struct cri_error *err);
/* Removes the container and its logs; one the runtime no longer knows counts as removed (0). */
int remove_container(const struct sync_ctx *ctx, const char *id);
/* Stops the given containers in parallel (preStop hooks first), as upstream, so that the pod is gone within
 * one grace period. */
int stop_containers(const struct sync_ctx *ctx, Runtime__V1__Container **list, size_t n, int64_t grace_s,
                    const char *pod_name, struct sync_result *res);

/* What the runtime says of a finished container. */
struct exit_info {
        int32_t code;
        int64_t finished_ms; /* wall clock */
        char reason[64];
};
int container_exit_info(const struct sync_ctx *ctx, const char *id, struct exit_info *ret);

/* ---- the pod's own runtime clean-up (runtime_gc.c) ---- */

/* Removes what starts interrupted by an earlier cubelet's death left, from the runtime and from rt. True
 * when such a start is still going on in the runtime: the sync must wait rather than make another instance
 * beside it. */
bool drop_interrupted(const struct sync_ctx *ctx, const char *uid, struct pod_runtime *rt,
                      const char *fullname);
/* Keeps the newest dead instance of each container (for its last state) and removes the older ones. */
void gc_dead_containers(const struct sync_ctx *ctx, const struct pod_runtime *rt, const char *name,
                        const char *keep_id);

/* ---- the status (runtime_status.c) ---- */

/* Computes the pod's status from what the runtime now says (unchanged: the sync's own listing, still
 * true; NULL: list again) and hands it to the status manager. relisted (may be NULL): the new listing the
 * status was made from is handed over there (the caller's to free), else it is left empty. */
void publish_status(const struct sync_ctx *ctx, struct pod *pod, const struct sync_result *res,
                    const struct pod_runtime *unchanged, struct pod_runtime *relisted);
/* Upstream: a pod that reached Succeeded or Failed never runs again. */
bool finished_before(const struct sync_ctx *ctx, const struct pod *pod);
/* Milliseconds before the pod's activeDeadlineSeconds passes (<= 0: past; INT64_MAX: none). */
int64_t deadline_left_ms(const struct sync_ctx *ctx, const struct pod *pod);
/* Whether the eviction manager evicted the pod: its message, and the grace period its containers get. */
bool pod_evicted(const struct sync_ctx *ctx, const struct pod *pod, char *msg, size_t len, int64_t *grace_s);
