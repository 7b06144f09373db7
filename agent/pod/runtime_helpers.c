/* The pod runtime's small parts (upstream's kuberuntime helpers): CRI maps, a sync's result, a pod's
 * listing in the runtime, its directories. */
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

void map_add(struct arena *a, struct pb_map *m, const ProtobufCMessageDescriptor *d, const char *k,
             const char *v)
{
        for (size_t i = 0; i < m->n; i++)
                if (streq(m->items[i]->key, k)) { /* later wins, as a Go map would */
                        m->items[i]->value = arena_strdup(a, v);
                        return;
                }
        if (m->n == m->cap) {
                struct pb_kv **n = arena_alloc(a, (m->cap * 2 + 8) * sizeof *n);
                if (m->n)
                        memcpy(n, m->items, m->n * sizeof *n);
                m->items = n;
                m->cap = m->cap * 2 + 8;
        }
        struct pb_kv *e = arena_alloc(a, d->sizeof_message);
        protobuf_c_message_init(d, e);
        e->key = arena_strdup(a, k);
        e->value = arena_strdup(a, v);
        m->items[m->n++] = e;
}

void res_error(struct sync_result *res, const char *reason, const char *fmt, ...)
{
        va_list ap;
        if (res->error[0]) /* keep the first failure: the later ones follow from it */
                return;
        snprintf(res->reason, sizeof res->reason, "%s", reason);
        va_start(ap, fmt);
        vsnprintf(res->error, sizeof res->error, fmt, ap);
        va_end(ap);
}

/* A container-level reason, for the container's waiting state. */
void res_wait(struct sync_result *res, const char *name, const char *reason, const char *msg)
{
        if (res->n_waits >= SYNC_MAX_WAITS)
                return;
        snprintf(res->waits[res->n_waits].name, sizeof res->waits[0].name, "%s", name);
        snprintf(res->waits[res->n_waits].reason, sizeof res->waits[0].reason, "%s", reason);
        snprintf(res->waits[res->n_waits].message, sizeof res->waits[0].message, "%s", msg);
        res->n_waits++;
}

/* A container's failure: the pod's error (first wins) and the container's waiting reason. */
void res_cerror(struct sync_result *res, const char *name, const char *reason, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        res_error(res, reason, "%s", msg);
        res_wait(res, name, reason, msg);
}

const char *cri_msg(const struct cri_error *e, int r)
{
        return cri_error_msg(e, r);
}

/* ---- listing ---- */

void pod_runtime_done(struct pod_runtime *rt)
{
        cri_free(rt->sandboxes);
        cri_free(rt->containers);
        *rt = (struct pod_runtime){0};
}

int list_pod(const struct sync_ctx *ctx, const char *uid, struct pod_runtime *rt, struct cri_error *err)
{
        _cleanup_arena_ struct arena a = {0};
        struct pb_map sel = {0};
        Runtime__V1__PodSandboxFilter sf = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
        Runtime__V1__ContainerFilter cf = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__ListPodSandboxRequest sreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        int r;

        map_add(&a, &sel, &runtime__v1__pod_sandbox_filter__label_selector_entry__descriptor, LABEL_POD_UID,
                uid);
        MAP_SET(&sf, label_selector, sel);
        sreq.filter = &sf;
        /* The entry descriptors differ only in name; the wire format is the same. */
        struct pb_map csel = {0};
        map_add(&a, &csel, &runtime__v1__container_filter__label_selector_entry__descriptor, LABEL_POD_UID,
                uid);
        MAP_SET(&cf, label_selector, csel);
        creq.filter = &cf;

        *rt = (struct pod_runtime){0};
        /* Both at once: every sync lists its pod first (a restart's way, at 110 pods ms each). Either may
         * be answered first: a sandbox made or removed meanwhile may show in one listing only, as it could
         * when they were asked in turn (only this pod's worker makes and removes them). */
        struct cri_request reqs[] = {
                CRI_REQ(RuntimeService, ListPodSandbox, list_pod_sandbox, &sreq, &rt->sandboxes),
                CRI_REQ(RuntimeService, ListContainers, list_containers, &creq, &rt->containers),
        };
        r = cri_call_many(ctx->cri, reqs, ELEMENTSOF(reqs), ctx->timeout_ms, err);
        if (r < 0) {
                pod_runtime_done(rt);
                return r;
        }
        runtime_exits_apply(ctx->exits, rt->containers);
        return 0;
}

bool container_may_run(const Runtime__V1__Container *c)
{
        return c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
               c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
}

bool pod_runtime_may_run(const struct pod_runtime *rt)
{
        for (size_t i = 0; i < rt->containers->n_containers; i++)
                if (container_may_run(rt->containers->containers[i]))
                        return true;
        for (size_t i = 0; i < rt->sandboxes->n_items; i++)
                if (rt->sandboxes->items[i]->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
                        return true;
        return false;
}

Runtime__V1__PodSandbox *newest_sandbox(const struct pod_runtime *rt)
{
        Runtime__V1__PodSandbox *best = NULL;
        for (size_t i = 0; i < rt->sandboxes->n_items; i++) {
                Runtime__V1__PodSandbox *s = rt->sandboxes->items[i];
                if (!best || s->created_at > best->created_at)
                        best = s;
        }
        return best;
}

Runtime__V1__Container *latest_container(const struct pod_runtime *rt, const char *name)
{
        Runtime__V1__Container *best = NULL;
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *c = rt->containers->containers[i];
                const char *n = c->metadata ? c->metadata->name : NULL;
                if (!streq_ptr(n, name))
                        continue;
                if (!best || c->created_at > best->created_at)
                        best = c;
        }
        return best;
}

int container_restart_count(const Runtime__V1__Container *c)
{
        const char *v = KV_GET(c->annotations, c->n_annotations, ANN_CONTAINER_RESTARTS);
        return v ? atoi(v) : (c->metadata ? (int) c->metadata->attempt : 0);
}

/* ---- pod directories and files ---- */

char *pod_dir(const struct sync_ctx *ctx, const char *uid)
{
        return strdup_printf("%s/pods/%s", ctx->root_dir, uid);
}

char *pod_log_dir(const struct sync_ctx *ctx, const struct pod *pod)
{
        return strdup_printf("%s/%s_%s_%s", ctx->pod_logs_dir, pod->namespace, pod->name, pod->uid);
}

/* A container start in flight: <pod dir>/starting-<container ID>, made before StartContainer and removed once
 * its outcome is known. One left behind names a start whose outcome no cubelet saw (it was killed). NULL
 * for an ID that is not a plain name (it comes from the runtime). */
char *start_marker(const struct sync_ctx *ctx, const char *uid, const char *id)
{
        size_t n = strlen(id);
        if (n == 0 || n > 128)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) id[i]))
                        return NULL;
        return strdup_printf("%s/pods/%s/starting-%s", ctx->root_dir, uid, id);
}

char *start_marker_make(const struct sync_ctx *ctx, const char *uid, const char *id)
{
        char *marker = start_marker(ctx, uid, id);
        if (marker) {
                int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0)
                        close(fd);
        }
        return marker;
}

void field_path(char *buf, size_t len, bool init, const char *name)
{
        snprintf(buf, len, "spec.%s{%s}", init ? "initContainers" : "containers", name);
}

Runtime__V1__Container *latest_in_sandbox(const struct pod_runtime *rt, const char *name,
                                          const char *sandbox_id)
{
        Runtime__V1__Container *best = NULL;
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *c = rt->containers->containers[i];
                if (!c->metadata || !streq_ptr(c->metadata->name, name) ||
                    !streq(c->pod_sandbox_id, sandbox_id))
                        continue;
                if (!best || c->created_at > best->created_at)
                        best = c;
        }
        return best;
}
