/* A pod's own clean-up of the runtime (upstream's kuberuntime_gc, per pod): instances whose start an
 * earlier cubelet left interrupted, and dead instances older than the one kept for the last state. */
#include "kuberuntime.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "arena.h"
#include "backoff.h"
#include "dns.h"
#include "envvars.h"
#include "events.h"
#include "eviction.h"
#include "expansion.h"
#include "image_manager.h"
#include "log.h"
#include "logrotate.h"
#include "logs.h"
#include "manager.h"
#include "network.h"
#include "probe_net.h"
#include "prober.h"
#include "puller.h"
#include "qos_cgroups.h"
#include "runtimeclass.h"
#include "security.h"
#include "status.h"
#include "util.h"
#include "volume.h"

/* An instance whose start was cut short by the death of the cubelet that made it, or of the runtime: created
 * and never started, unknown to a restarted runtime and never started, or failed to start with its start
 * marker still there (containerd ends an abandoned
 * StartContainer with a StartError: "context canceled", "failed to start shim: ... signal: killed"). It
 * never ran, so it is neither a restart nor a last state: it goes, and the container starts as if it had not
 * been made. A start that failed while this cubelet waited for it has no marker: it counts, with its
 * back-off. One the runtime would not remove at first (containerd 1.6 can keep the task of an abandoned
 * start) stays marked and goes once it can, even after newer instances. */
#define INTERRUPTED_START_MAX_NS (120 * 1000000000LL) /* a start still going on after this is stuck */
static bool interrupted_start(const struct sync_ctx *ctx, const char *uid, const Runtime__V1__Container *c)
{
        _cleanup_free_ char *marker = NULL;
        if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
                return true;
        if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
                marker = start_marker(ctx, uid, c->id);
                if (!marker || access(marker, F_OK) < 0)
                        return false;
        } else if (c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN)
                return false;
        /* Unknown: the runtime died in the middle of its create or start (its caller's CreateContainer failed
         * Unavailable, so no marker names it). Never started, it goes too (removal stops it first). */
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ContainerStatusResponse *resp = NULL;
        struct cri_error err = {0};
        req.container_id = c->id;
        if (CRI_CALL(ctx->cri, RuntimeService, ContainerStatus, container_status, &req, &resp,
                     ctx->timeout_ms, &err) < 0 ||
            !resp->status)
                return false;
        if (resp->status->started_at != 0) { /* it ran after all: the marker is stale */
                if (marker)
                        (void) unlink(marker);
                return false;
        }
        /* Unknown and never started: marked, so that once stopped (exited) it is still known for what it is
         * if its removal fails now. */
        if (!marker)
                free(start_marker_make(ctx, uid, c->id));
        return true;
}

/* Removes what interrupted starts left (above) from the runtime and from rt. Returns true when such a start
 * is still going on in the runtime (containerd finishes an abandoned StartContainer on its own, and refuses
 * to remove the container until then): the sync must wait rather than make another instance beside it. */
bool drop_interrupted(const struct sync_ctx *ctx, const char *uid, struct pod_runtime *rt,
                      const char *fullname)
{
        Runtime__V1__ListContainersResponse *l = rt->containers;
        bool busy = false;
        if (l->n_containers == 0)
                return false;
        bool *drop = OOM_CHECK(calloc(l->n_containers, sizeof *drop));
        int64_t now = now_real_ns();
        for (size_t i = 0; i < l->n_containers; i++) {
                Runtime__V1__Container *c = l->containers[i];
                const char *name = c->metadata ? c->metadata->name : NULL;
                if (!name || c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                        continue;
                if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED &&
                    latest_container(rt, name) != c)
                        continue;
                if (!interrupted_start(ctx, uid, c))
                        continue;
                drop[i] = remove_container(ctx, c->id) >= 0;
                if (drop[i]) {
                        _cleanup_free_ char *marker = start_marker(ctx, uid, c->id);
                        if (marker)
                                (void) unlink(marker);
                        log_info("Removed a container whose start was interrupted; it never ran",
                                 "pod=\"%s\" container=\"%s\" containerID=\"%.13s\"", fullname, name, c->id);
                } else if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED &&
                           now - c->created_at < INTERRUPTED_START_MAX_NS)
                        busy = true;
        }
        size_t n = 0;
        for (size_t i = 0; i < l->n_containers; i++) {
                if (drop[i])
                        cri_free(l->containers[i]);
                else
                        l->containers[n++] = l->containers[i];
        }
        l->n_containers = n;
        free(drop);
        return busy;
}

/* Keeps the newest dead instance of each container (for its last state) and removes the older ones. */
void gc_dead_containers(const struct sync_ctx *ctx, const struct pod_runtime *rt, const char *name,
                        const char *keep_id)
{
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *c = rt->containers->containers[i];
                if (!c->metadata || !streq_ptr(c->metadata->name, name) || streq(c->id, keep_id))
                        continue;
                if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                        continue;
                remove_container(ctx, c->id);
        }
}
