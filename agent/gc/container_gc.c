/* Container garbage collection at node level, as upstream's containerGC (pkg/kubelet/kuberuntime/kuberuntime_gc.go):
 * dead containers beyond the per-container and node limits, sandboxes nothing uses any more, and the log
 * directories of pods that no longer exist. */
#include "container_gc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cri.h"
#include "events.h"
#include "log.h"
#include "logrotate.h"
#include "pod.h"
#include "status_cache.h"
#include "util.h"

/* A CREATED container this young is a start in flight (the worker's StartContainer comes next). */
#define CREATED_GRACE_NS (120LL * 1000000000LL)

/* ---- pure decisions ---- */

struct plan {
        size_t *idx;
        size_t n;
};

static void plan_add(struct plan *p, size_t i)
{
        p->idx = OOM_CHECK(realloc(p->idx, (p->n + 1) * sizeof *p->idx));
        p->idx[p->n++] = i;
}

/* Evictable containers, grouped by (pod UID, container name), newest first within a group. */
static int by_unit_newest(const void *a, const void *b, void *ud)
{
        const struct cgc_container *c = ud, *x = &c[*(const size_t *) a], *y = &c[*(const size_t *) b];
        int r = strcmp(x->pod_uid, y->pod_uid);
        if (r == 0)
                r = strcmp(x->name, y->name);
        if (r == 0 && x->created_ns != y->created_ns)
                r = x->created_ns > y->created_ns ? -1 : 1;
        return r ? r : strcmp(x->id, y->id);
}

static int by_newest(const void *a, const void *b, void *ud)
{
        const struct cgc_container *c = ud, *x = &c[*(const size_t *) a], *y = &c[*(const size_t *) b];
        if (x->created_ns != y->created_ns)
                return x->created_ns > y->created_ns ? -1 : 1;
        return strcmp(x->id, y->id);
}

struct unit {
        size_t start, n; /* into the sorted evictable list; n shrinks as the oldest go */
};

/* Removes all but the newest keep of a unit, oldest first. */
static void unit_keep(struct unit *u, const size_t *ev, size_t keep, struct plan *out, bool *gone)
{
        while (u->n > keep) {
                size_t i = ev[u->start + u->n - 1];
                plan_add(out, i);
                gone[i] = true;
                u->n--;
        }
}

void cgc_plan_containers(const struct cgc_container *c, size_t n, const struct cgc_policy *p,
                         bool sources_ready, cgc_pod_exists_fn exists, void *ud, int64_t now_ns,
                         size_t **ret, size_t *ret_n)
{
        struct plan out = {0};
        size_t *ev = OOM_CHECK(calloc(n + 1, sizeof *ev)), k = 0;
        bool *gone = OOM_CHECK(calloc(n + 1, sizeof *gone));
        for (size_t i = 0; i < n; i++) {
                if (c[i].state == CGC_RUNNING || c[i].created_ns > now_ns - p->min_age_ns)
                        continue;
                if (c[i].state == CGC_CREATED && now_ns - c[i].created_ns < CREATED_GRACE_NS)
                        continue;
                ev[k++] = i;
        }
        qsort_r(ev, k, sizeof *ev, by_unit_newest, (void *) c);
        struct unit *units = OOM_CHECK(calloc(k + 1, sizeof *units));
        size_t nu = 0;
        for (size_t i = 0; i < k; i++) {
                const struct cgc_container *x = &c[ev[i]];
                if (nu && streq(c[ev[units[nu - 1].start]].pod_uid, x->pod_uid) &&
                    streq(c[ev[units[nu - 1].start]].name, x->name))
                        units[nu - 1].n++;
                else
                        units[nu++] = (struct unit){.start = i, .n = 1};
        }
        /* Pods that no longer exist: all of their dead containers. */
        size_t live = 0;
        for (size_t u = 0; u < nu; u++) {
                if (sources_ready && exists && !exists(c[ev[units[u].start]].pod_uid, ud))
                        unit_keep(&units[u], ev, 0, &out, gone);
                else
                        units[live++] = units[u];
        }
        nu = live;
        if (p->max_per_pod_container >= 0)
                for (size_t u = 0; u < nu; u++)
                        unit_keep(&units[u], ev, (size_t) p->max_per_pod_container, &out, gone);
        size_t total = 0;
        for (size_t u = 0; u < nu; u++)
                total += units[u].n;
        if (p->max_containers >= 0 && total > (size_t) p->max_containers) {
                /* An equal share per unit (at least one), then the oldest on the whole node. */
                size_t per = nu ? (size_t) p->max_containers / nu : 0;
                if (per < 1)
                        per = 1;
                total = 0;
                for (size_t u = 0; u < nu; u++) {
                        unit_keep(&units[u], ev, per, &out, gone);
                        total += units[u].n;
                }
                if (total > (size_t) p->max_containers) {
                        size_t *flat = OOM_CHECK(calloc(total + 1, sizeof *flat)), m = 0;
                        for (size_t u = 0; u < nu; u++)
                                for (size_t j = 0; j < units[u].n; j++)
                                        flat[m++] = ev[units[u].start + j];
                        qsort_r(flat, m, sizeof *flat, by_newest, (void *) c);
                        for (size_t j = m; j > (size_t) p->max_containers; j--)
                                plan_add(&out, flat[j - 1]);
                        free(flat);
                }
        }
        free(units);
        free(gone);
        free(ev);
        *ret = out.idx;
        *ret_n = out.n;
}

static int sandbox_newest(const void *a, const void *b, void *ud)
{
        const struct cgc_sandbox *s = ud, *x = &s[*(const size_t *) a], *y = &s[*(const size_t *) b];
        int r = strcmp(x->pod_uid, y->pod_uid);
        if (r == 0 && x->created_ns != y->created_ns)
                r = x->created_ns > y->created_ns ? -1 : 1;
        return r ? r : strcmp(x->id, y->id);
}

void cgc_plan_sandboxes(const struct cgc_sandbox *s, size_t n, bool sources_ready, cgc_pod_exists_fn exists,
                        void *ud, size_t **ret, size_t *ret_n)
{
        struct plan out = {0};
        size_t *order = OOM_CHECK(calloc(n + 1, sizeof *order));
        for (size_t i = 0; i < n; i++)
                order[i] = i;
        qsort_r(order, n, sizeof *order, sandbox_newest, (void *) s);
        for (size_t i = 0; i < n;) {
                size_t j = i;
                while (j < n && streq(s[order[j]].pod_uid, s[order[i]].pod_uid))
                        j++;
                bool gone = sources_ready && exists && !exists(s[order[i]].pod_uid, ud);
                /* Oldest first; an existing pod keeps its newest sandbox whatever its state. */
                for (size_t m = j; m > i + (gone ? 0 : 1); m--) {
                        const struct cgc_sandbox *x = &s[order[m - 1]];
                        if (!x->ready && !x->has_containers)
                                plan_add(&out, order[m - 1]);
                }
                i = j;
        }
        free(order);
        *ret = out.idx;
        *ret_n = out.n;
}

const char *cgc_log_dir_uid(const char *dir_name)
{
        const char *u = strrchr(dir_name, '_');
        if (!u || u == dir_name || !u[1])
                return NULL;
        return u + 1;
}

/* ---- the collector ---- */

struct container_gc {
        struct container_gc_config cfg;
        char *pod_logs_dir;
        char *containers_log_dir; /* NULL: none */
        pthread_mutex_t run_lock; /* one pass at a time */
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
};

static enum cgc_state state_of(Runtime__V1__ContainerState s)
{
        switch (s) {
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
                return CGC_CREATED;
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
                return CGC_RUNNING;
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:
                return CGC_EXITED;
        default:
                return CGC_UNKNOWN;
        }
}

static const char *label(const Runtime__V1__Container *c, const char *key)
{
        for (size_t i = 0; i < c->n_labels; i++)
                if (streq(c->labels[i]->key, key))
                        return c->labels[i]->value;
        return NULL;
}

/* One pass's view of the pods: with evict_terminated, a terminated pod counts as gone too. */
struct pass {
        struct container_gc *gc;
        bool evict_terminated;
};

static bool pod_exists(struct container_gc *gc, const char *uid, bool evict_terminated)
{
        enum cgc_pod_state s = gc->cfg.pod_state(uid, gc->cfg.userdata);
        return !(s == CGC_POD_DELETED || (evict_terminated && s == CGC_POD_TERMINATED));
}

static bool exists_cb(const char *uid, void *ud)
{
        const struct pass *p = ud;
        return pod_exists(p->gc, uid, p->evict_terminated);
}

/* A container in unknown state may still run: stopped first (upstream: killContainer). Then removed, its log
 * files and its /var/log/containers link with it (upstream's removeContainerLog). */
static int remove_container(struct container_gc *gc, const Runtime__V1__Container *c, struct cri_error *err)
{
        if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN) {
                Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
                _cleanup_cri_ Runtime__V1__StopContainerResponse *resp = NULL;
                req.container_id = c->id;
                int r = CRI_CALL(gc->cfg.cri, RuntimeService, StopContainer, stop_container, &req, &resp,
                                 gc->cfg.timeout_ms, err);
                if (r < 0)
                        return r;
        }
        Runtime__V1__ContainerStatusRequest sreq = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ContainerStatusResponse *sresp = NULL;
        sreq.container_id = c->id;
        if (CRI_CALL(gc->cfg.cri, RuntimeService, ContainerStatus, container_status, &sreq, &sresp,
                     gc->cfg.timeout_ms, NULL) < 0)
                sresp = NULL;
        Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__RemoveContainerResponse *resp = NULL;
        req.container_id = c->id;
        int r = CRI_CALL(gc->cfg.cri, RuntimeService, RemoveContainer, remove_container, &req, &resp,
                         gc->cfg.timeout_ms, err);
        if (r >= 0 && sresp && sresp->status) {
                log_remove_container_logs(gc->pod_logs_dir, sresp->status->log_path);
                log_remove_container_link(gc->containers_log_dir, label(c, "io.kubernetes.pod.name"),
                                          label(c, "io.kubernetes.pod.namespace"),
                                          label(c, "io.kubernetes.container.name"), c->id);
        }
        if (r >= 0 || cri_not_found(err)) /* gone already */
                status_cache_forget(gc->cfg.status_cache, c->id);
        return r;
}

static int list_containers(struct container_gc *gc, Runtime__V1__ListContainersResponse **ret,
                           char **ret_err)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        struct cri_error err = {0};
        int r = CRI_CALL(gc->cfg.cri, RuntimeService, ListContainers, list_containers, &req, ret,
                         gc->cfg.timeout_ms, &err);
        if (r < 0)
                *ret_err = strdup_printf("failed to list containers: %s", err.msg);
        return r;
}

/* Go's aggregate error, built up (takes one). */
static void add_error(char **errors, size_t *n, char *one)
{
        char *all = strdup_printf("%s%s%s", *errors ? *errors : "", *errors ? ", " : "", one);
        free(*errors);
        free(one);
        *errors = all;
        (*n)++;
}

static void evict_containers(struct pass *pass, bool ready, char **errors, size_t *n_errors)
{
        struct container_gc *gc = pass->gc;
        _cleanup_cri_ Runtime__V1__ListContainersResponse *l = NULL;
        _cleanup_free_ char *err = NULL;
        if (list_containers(gc, &l, &err) < 0) {
                add_error(errors, n_errors, xstrdup(err));
                return;
        }
        struct cgc_container *cs = OOM_CHECK(calloc(l->n_containers + 1, sizeof *cs));
        size_t n = 0;
        for (size_t i = 0; i < l->n_containers; i++) {
                const Runtime__V1__Container *c = l->containers[i];
                const char *uid = label(c, "io.kubernetes.pod.uid");
                /* Only what cubelet (or a kubelet) made: it carries the pod's UID. */
                if (!uid || !c->metadata || !c->metadata->name)
                        continue;
                cs[n] = (struct cgc_container){.id = c->id,
                                               .pod_uid = uid,
                                               .name = c->metadata->name,
                                               .created_ns = c->created_at,
                                               .state = state_of(c->state)};
                n++;
        }
        size_t *plan = NULL, np = 0;
        cgc_plan_containers(cs, n, &gc->cfg.policy, ready, exists_cb, pass, now_real_ns(), &plan, &np);
        for (size_t i = 0; i < np; i++) {
                const struct cgc_container *x = &cs[plan[i]];
                const Runtime__V1__Container *c = NULL;
                for (size_t j = 0; j < l->n_containers && !c; j++)
                        if (streq(l->containers[j]->id, x->id))
                                c = l->containers[j];
                struct cri_error cerr = {0};
                if (!c)
                        continue;
                if (remove_container(gc, c, &cerr) < 0) {
                        log_error("Failed to remove container", "containerID=\"%s\" err=\"%s\"", x->id,
                                  log_q(cerr.msg));
                        add_error(errors, n_errors,
                                  strdup_printf("failed to remove container %s: %s", x->id, cerr.msg));
                } else
                        log_info("Removed dead container",
                                 "podUID=\"%s\" container=\"%s\" containerID=\"%.13s\"", x->pod_uid, x->name,
                                 x->id);
        }
        free(plan);
        free(cs);
}

/* The sandboxes that go; *ret_held: the pods the runtime still holds something of afterwards. */
static int evict_sandboxes(struct pass *pass, bool ready, char ***ret_held, char **errors, size_t *n_errors)
{
        struct container_gc *gc = pass->gc;
        _cleanup_cri_ Runtime__V1__ListContainersResponse *l = NULL;
        _cleanup_cri_ Runtime__V1__ListPodSandboxResponse *sb = NULL;
        _cleanup_free_ char *err = NULL;
        int r = list_containers(gc, &l, &err);
        if (r < 0) {
                add_error(errors, n_errors, xstrdup(err));
                return r;
        }
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        struct cri_error cerr = {0};
        r = CRI_CALL(gc->cfg.cri, RuntimeService, ListPodSandbox, list_pod_sandbox, &req, &sb,
                     gc->cfg.timeout_ms, &cerr);
        if (r < 0) {
                add_error(errors, n_errors, strdup_printf("failed to list sandboxes: %s", cerr.msg));
                return r;
        }
        struct cgc_sandbox *ss = OOM_CHECK(calloc(sb->n_items + 1, sizeof *ss));
        size_t n = 0;
        for (size_t i = 0; i < sb->n_items; i++) {
                const Runtime__V1__PodSandbox *s = sb->items[i];
                if (!s->metadata || !s->metadata->uid || !s->metadata->uid[0])
                        continue;
                bool used = false;
                for (size_t j = 0; j < l->n_containers && !used; j++)
                        used = streq(l->containers[j]->pod_sandbox_id, s->id);
                ss[n++] = (struct cgc_sandbox){.id = s->id,
                                               .pod_uid = s->metadata->uid,
                                               .created_ns = s->created_at,
                                               .ready = s->state ==
                                                        RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY,
                                               .has_containers = used};
        }
        size_t *plan = NULL, np = 0;
        cgc_plan_sandboxes(ss, n, ready, exists_cb, pass, &plan, &np);
        bool *removed = OOM_CHECK(calloc(n + 1, sizeof *removed));
        for (size_t i = 0; i < np; i++) {
                Runtime__V1__RemovePodSandboxRequest rreq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
                _cleanup_cri_ Runtime__V1__RemovePodSandboxResponse *resp = NULL;
                struct cri_error rerr = {0};
                rreq.pod_sandbox_id = (char *) ss[plan[i]].id;
                int rr = CRI_CALL(gc->cfg.cri, RuntimeService, RemovePodSandbox, remove_pod_sandbox, &rreq,
                                  &resp, gc->cfg.timeout_ms, &rerr);
                if (rr >= 0 || cri_not_found(&rerr)) /* gone already */
                        status_cache_forget(gc->cfg.status_cache, ss[plan[i]].id);
                if (rr < 0) {
                        log_error("Failed to remove sandbox", "podSandboxID=\"%s\" err=\"%s\"",
                                  ss[plan[i]].id, log_q(rerr.msg));
                        add_error(
                                errors, n_errors,
                                strdup_printf("failed to remove sandbox %s: %s", ss[plan[i]].id, rerr.msg));
                } else {
                        removed[plan[i]] = true;
                        log_info("Removed sandbox", "podUID=\"%s\" podSandboxID=\"%.13s\"",
                                 ss[plan[i]].pod_uid, ss[plan[i]].id);
                }
        }
        /* What the runtime still holds after this pass: its pods' log directories stay (their workers own them). */
        for (size_t i = 0; i < n; i++)
                if (!removed[i])
                        strv_push(ret_held, xstrdup(ss[i].pod_uid));
        for (size_t i = 0; i < l->n_containers; i++) {
                const char *uid = label(l->containers[i], "io.kubernetes.pod.uid");
                if (uid)
                        strv_push(ret_held, xstrdup(uid));
        }
        free(removed);
        free(plan);
        free(ss);
        return 0;
}

static bool held(char **uids, const char *uid)
{
        for (; uids && *uids; uids++)
                if (streq(*uids, uid))
                        return true;
        return false;
}

/* Upstream's evictPodLogsDirectories: the log directories of pods that no longer exist, once every source has
 * spoken (and, here, once the runtime holds nothing of the pod: a pod still being torn down keeps its logs
 * until its worker is done). */
static void evict_log_dirs(struct container_gc *gc, char **held_uids, char **errors, size_t *n_errors)
{
        _cleanup_close_ int dfd = open(gc->pod_logs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                if (errno != ENOENT)
                        add_error(errors, n_errors,
                                  strdup_printf("failed to read podLogsRootDirectory %s: %s",
                                                gc->pod_logs_dir, strerror(errno)));
                return;
        }
        int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup < 0 ? NULL : fdopendir(dup);
        if (!d) {
                if (dup >= 0)
                        close(dup);
                return;
        }
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        strv_push(&names, xstrdup(de->d_name));
        closedir(d);
        for (char **p = names; p && *p; p++) {
                const char *uid = cgc_log_dir_uid(*p);
                if (!uid || !pod_uid_valid(uid) || held(held_uids, uid) || pod_exists(gc, uid, false))
                        continue;
                _cleanup_free_ char *path = strdup_printf("%s/%s", gc->pod_logs_dir, *p);
                int r = rm_rf(path);
                if (r < 0) {
                        log_error("Failed to remove pod logs directory", "path=\"%s\" err=\"%s\"", path,
                                  strerror(-r));
                        add_error(errors, n_errors,
                                  strdup_printf("failed to remove pod logs directory %s: %s", *p,
                                                strerror(-r)));
                } else
                        log_info("Removed the log directory of a pod that no longer exists", "path=\"%s\"",
                                 path);
        }
}

int container_gc_collect(struct container_gc *gc, bool evict_terminated, char **ret_err)
{
        struct pass pass = {gc, evict_terminated};
        _cleanup_free_ char *errors = NULL;
        _cleanup_strv_free_ char **held_uids = NULL;
        size_t n_errors = 0;
        pthread_mutex_lock(&gc->run_lock);
        bool ready = gc->cfg.sources_ready(gc->cfg.userdata);
        evict_containers(&pass, ready, &errors, &n_errors);
        if (evict_sandboxes(&pass, ready, &held_uids, &errors, &n_errors) >= 0 && ready)
                evict_log_dirs(gc, held_uids, &errors, &n_errors);
        pthread_mutex_unlock(&gc->run_lock);
        if (!n_errors)
                return 0;
        *ret_err = strdup_printf("%s%s%s", n_errors > 1 ? "[" : "", errors, n_errors > 1 ? "]" : "");
        return -EIO;
}

static void *gc_thread(void *arg)
{
        struct container_gc *gc = arg;
        bool logged_failure = false;
        pthread_mutex_lock(&gc->lock);
        while (!gc->stop) {
                cond_wait_ms(&gc->cond, &gc->lock, gc->cfg.period_ms);
                if (gc->stop)
                        break;
                pthread_mutex_unlock(&gc->lock);
                _cleanup_free_ char *err = NULL;
                if (container_gc_collect(gc, false, &err) < 0) {
                        log_error("Container garbage collection failed", "err=\"%s\"", log_q(err));
                        if (gc->cfg.events)
                                events_record_node(gc->cfg.events, EVENT_WARNING, "ContainerGCFailed", "%s",
                                                   err);
                        logged_failure = true;
                } else if (logged_failure) {
                        log_info("Container garbage collection succeeded", "afterFailure=true");
                        logged_failure = false;
                } else
                        log_v(4, "Container garbage collection succeeded", "period=%lldms",
                              (long long) gc->cfg.period_ms);
                pthread_mutex_lock(&gc->lock);
        }
        pthread_mutex_unlock(&gc->lock);
        return NULL;
}

int container_gc_start(const struct container_gc_config *cfg, struct container_gc **ret)
{
        if (cfg->policy.min_age_ns < 0)
                return -EINVAL;
        struct container_gc *gc = OOM_CHECK(calloc(1, sizeof *gc));
        gc->cfg = *cfg;
        gc->pod_logs_dir = xstrdup(cfg->pod_logs_dir);
        gc->cfg.pod_logs_dir = gc->pod_logs_dir;
        gc->containers_log_dir = cfg->containers_log_dir ? xstrdup(cfg->containers_log_dir) : NULL;
        gc->cfg.containers_log_dir = gc->containers_log_dir;
        pthread_mutex_init(&gc->run_lock, NULL);
        pthread_mutex_init(&gc->lock, NULL);
        cond_init_monotonic(&gc->cond);
        int e = pthread_create(&gc->thread, NULL, gc_thread, gc);
        if (e) {
                pthread_mutex_destroy(&gc->run_lock);
                pthread_mutex_destroy(&gc->lock);
                pthread_cond_destroy(&gc->cond);
                free(gc->pod_logs_dir);
                free(gc->containers_log_dir);
                free(gc);
                return -e;
        }
        (void) pthread_setname_np(gc->thread, "container-gc");
        *ret = gc;
        return 0;
}

void container_gc_stop(struct container_gc *gc)
{
        if (!gc)
                return;
        pthread_mutex_lock(&gc->lock);
        gc->stop = true;
        pthread_cond_broadcast(&gc->cond);
        pthread_mutex_unlock(&gc->lock);
        pthread_join(gc->thread, NULL);
        pthread_mutex_destroy(&gc->run_lock);
        pthread_mutex_destroy(&gc->lock);
        pthread_cond_destroy(&gc->cond);
        free(gc->pod_logs_dir);
        free(gc->containers_log_dir);
        free(gc);
}
