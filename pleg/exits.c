/* Exits containerd's events told of ahead of its CRI plugin (see exits.h). */
#include "exits.h"

#include <pthread.h>
#include <stdlib.h>

#include "events.h"
#include "log.h"
#include "macro.h"
#include "pleg.h"
#include "util.h"

/* SIGKILL's exit status: the OOM killer's, or anyone's. */
#define EXIT_SIGKILL 137

struct exit_entry {
        char *id;
        int64_t since_ms; /* monotonic: when the exit (else the OOM) was told */
        bool exited, oom;
        bool shown;        /* a pod status was made from it (runtime_exits_get_for_status) */
        bool listed;       /* a whole-node listing showed the exit (or the container gone) ... */
        int64_t listed_ms; /* ... then; the entry stays RUNTIME_EXITS_KEEP_MS more */
        bool resynced;     /* its pod was named for a sync once listed and shown */
        int32_t code;
        int64_t finished_ns;
};

struct runtime_exits {
        pthread_mutex_t lock;
        struct exit_entry *v;
        size_t n;
};

struct runtime_exits *runtime_exits_new(void)
{
        struct runtime_exits *t = OOM_CHECK(calloc(1, sizeof *t));
        pthread_mutex_init(&t->lock, NULL);
        return t;
}

struct runtime_exits *runtime_exits_free(struct runtime_exits *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i].id);
        free(t->v);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
}

/* Under lock. */
static struct exit_entry *find(struct runtime_exits *t, const char *id)
{
        for (size_t i = 0; i < t->n; i++)
                if (streq(t->v[i].id, id))
                        return &t->v[i];
        return NULL;
}

/* Under lock: makes room by dropping the exits listings show already (kept only for a sync between its
 * CRI call and its look here). */
static void drop_listed(struct runtime_exits *t)
{
        size_t kept = 0;
        for (size_t i = 0; i < t->n; i++) {
                if (t->v[i].listed)
                        free(t->v[i].id);
                else
                        t->v[kept++] = t->v[i];
        }
        t->n = kept;
}

void runtime_exits_note(struct runtime_exits *t, const struct ctd_event *ev, int64_t now_ms)
{
        if ((ev->kind != CTD_EVENT_TASK_EXIT && ev->kind != CTD_EVENT_TASK_OOM) || !ev->container_id ||
            !ev->container_id[0])
                return;
        pthread_mutex_lock(&t->lock);
        struct exit_entry *e = find(t, ev->container_id);
        if (!e && t->n >= RUNTIME_EXITS_MAX)
                drop_listed(t);
        if (!e && t->n < RUNTIME_EXITS_MAX) {
                t->v = OOM_CHECK(realloc(t->v, (t->n + 1) * sizeof *t->v));
                e = &t->v[t->n++];
                *e = (struct exit_entry){.id = xstrdup(ev->container_id), .since_ms = now_ms};
        }
        if (e && ev->kind == CTD_EVENT_TASK_OOM)
                e->oom = true;
        else if (e) {
                e->exited = true;
                e->since_ms = now_ms;
                e->code = (int32_t) ev->exit_status;
                e->finished_ns = ev->exited_at_ns ? ev->exited_at_ns : now_real_ns();
        }
        if (e)
                log_v(5, "PLEG: awaiting an exit", "containerID=\"%.13s\" exitCode=%d oom=%d awaited=%zu",
                      e->id, e->exited ? e->code : -1, (int) e->oom, t->n);
        pthread_mutex_unlock(&t->lock);
}

static void fill(const struct exit_entry *e, struct runtime_exit *ret)
{
        /* containerd's CRI plugin: an OOM event sets the reason for good; else the exit code decides. A
         * SIGKILL may be the OOM killer's, whose event can come after the exit: CRI will tell. */
        *ret = (struct runtime_exit){.code = e->code,
                                     .finished_ns = e->finished_ns,
                                     .reason = e->oom                    ? "OOMKilled"
                                               : e->code == EXIT_SIGKILL ? NULL
                                               : e->code == 0            ? "Completed"
                                                                         : "Error"};
}

bool runtime_exits_get(struct runtime_exits *t, const char *id, struct runtime_exit *ret)
{
        if (!t || !id)
                return false;
        pthread_mutex_lock(&t->lock);
        struct exit_entry *e = find(t, id);
        bool ok = e && e->exited;
        if (ok)
                fill(e, ret);
        pthread_mutex_unlock(&t->lock);
        return ok;
}

bool runtime_exits_get_for_status(struct runtime_exits *t, const char *id, struct runtime_exit *ret)
{
        if (!t || !id)
                return false;
        pthread_mutex_lock(&t->lock);
        struct exit_entry *e = find(t, id);
        /* Once listed, a settle may have passed it unshown: no resync would follow a status made from it. */
        bool ok = e && e->exited && !e->listed;
        if (ok) {
                fill(e, ret);
                e->shown = true;
        }
        pthread_mutex_unlock(&t->lock);
        return ok;
}

void runtime_exits_apply(struct runtime_exits *t, Runtime__V1__ListContainersResponse *l)
{
        if (!t || !l)
                return;
        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; t->n && i < l->n_containers; i++) {
                Runtime__V1__Container *c = l->containers[i];
                if (c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                        continue;
                struct exit_entry *e = find(t, c->id);
                if (!e || !e->exited)
                        continue;
                c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
                log_v(4, "Counting a container exited before the runtime lists it so",
                      "containerID=\"%.13s\" exitCode=%d", c->id, e->code);
        }
        pthread_mutex_unlock(&t->lock);
}

static const Runtime__V1__Container *listed(const Runtime__V1__ListContainersResponse *l, const char *id)
{
        for (size_t i = 0; i < l->n_containers; i++)
                if (streq(l->containers[i]->id, id))
                        return l->containers[i];
        return NULL;
}

bool runtime_exits_settle(struct runtime_exits *t, const Runtime__V1__ListPodSandboxResponse *sandboxes,
                          const Runtime__V1__ListContainersResponse *containers, int64_t began_ms,
                          int64_t now_ms, int64_t late_ms, char ***settled)
{
        size_t kept = 0;
        bool awaiting = false;
        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n; i++) {
                struct exit_entry *e = &t->v[i];
                const Runtime__V1__Container *c = listed(containers, e->id);
                int64_t waited = now_ms - e->since_ms;
                if (e->since_ms >= began_ms) {
                        /* Told while the listing was under way: a container that started and exited
                         * meanwhile is missing from it, not gone (counted settled, a status made from
                         * CRI's RUNNING would stay so: no listing brings the pod back for it). */
                        t->v[kept++] = *e;
                        awaiting |= e->exited && !e->listed;
                        continue;
                }
                if (!e->exited) { /* an OOM the container survived, so far: CRI's reason is OOMKilled for good */
                        if (c && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                                t->v[kept++] = *e;
                        else
                                free(e->id);
                        continue;
                }
                if (!e->listed) {
                        bool pending = pleg_exit_pending(
                                e->id, (const Runtime__V1__PodSandbox *const *) sandboxes->items,
                                sandboxes->n_items,
                                (const Runtime__V1__Container *const *) containers->containers,
                                containers->n_containers);
                        if (pending && waited < RUNTIME_EXITS_MAX_MS) {
                                t->v[kept++] = *e;
                                awaiting = true;
                                continue;
                        }
                        log_v(5, "PLEG: awaited exit settled",
                              "containerID=\"%.13s\" pending=%d waited=%lld", e->id, (int) pending,
                              (long long) waited);
                        if (pending) {
                                log_warn(
                                        "The runtime still lists an exited container as running; the relist "
                                        "stops waiting for it",
                                        "containerID=\"%.13s\" waited=\"%llds\"", e->id,
                                        (long long) waited / 1000);
                                free(e->id);
                                continue;
                        }
                        if (waited >= late_ms)
                                log_info("The runtime applied a container's exit late",
                                         "containerID=\"%.13s\" after=\"%lldms\"", e->id,
                                         (long long) waited);
                        e->listed = true;
                        e->listed_ms = now_ms;
                }
                /* Shown (before or after this listing): the pod's status is CRI's from now on. */
                const char *uid = c && e->shown && !e->resynced ? pleg_pod_uid_of(c) : NULL;
                if (uid && settled)
                        strv_push(settled, xstrdup(uid));
                e->resynced |= uid != NULL;
                /* Kept a while: a sync that asked CRI before this listing and looks here after it. */
                if (now_ms - e->listed_ms < RUNTIME_EXITS_KEEP_MS)
                        t->v[kept++] = *e;
                else
                        free(e->id);
        }
        t->n = kept;
        if (!kept) {
                free(t->v);
                t->v = NULL;
        }
        pthread_mutex_unlock(&t->lock);
        return awaiting;
}
