/* The eviction manager's thread (see manager.h). */
#include "eviction.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "rank.h"
#include "signals.h"
#include "stats.h"
#include "util.h"

#define CLEANUP_TIMEOUT_MS  30000 /* upstream's podCleanupTimeout */
#define CLEANUP_POLL_MS     1000
#define EVICTED_KEEP_MS     (3600 * 1000LL)
#define NOTIFIER_REFRESH_MS 10000        /* upstream's notifierRefreshInterval */
#define NOTIFY_MIN_GAP_MS   1000         /* between passes a notification starts */
#define NOTIFY_LOG_MS       60000        /* a notification firing on is logged (info) once a minute */
#define IMAGEFS_RECHECK_MS  (300 * 1000) /* whether the image filesystem is dedicated, once known */
#define IMAGEFS_RETRY_MS    30000        /* ... when the last try could not tell */

struct evicted {
        char *uid;
        char *message;
        int64_t grace_s;
        int64_t at_ms;
};

struct eviction_manager {
        struct eviction_config c;
        struct ev_threshold *t;
        size_t n;
        char *node_name;
        struct cg *cg; /* the hierarchy, for the memory notifiers; NULL without */
        struct ev_notifier *notifiers;
        size_t n_notifiers;
        int wake_fd;
        pthread_t thread;
        bool started;
        /* the thread's own: whether the image filesystem has a device of its own, and when last asked */
        bool dedicated_image_fs, image_fs_logged;
        int64_t image_fs_next_ms;

        pthread_mutex_t lock; /* guards what follows */
        bool stopping;
        struct ev_state state;
        bool conditions[EV_COND_MAX];
        struct ev_observation obs[EV_SIGNAL_MAX];
        bool observed;
        struct evicted *evicted;
        size_t n_evicted;
        uint64_t passes, evictions;
};

/* ---- the memory notifiers ---- */

static void notifiers_setup(struct eviction_manager *ev, const struct eviction_config *cfg)
{
        if (!cfg->kernel_notification)
                return;
        struct cg_options o = {.mount_root = cfg->cgroup_mount_root, .root = "/", .mode = cfg->cgroup_mode};
        if (cg_open(&o, &ev->cg, NULL) < 0) {
                log_warn("Eviction manager cannot read the cgroup hierarchy; no memory notifications",
                         "root=\"%s\"", cfg->cgroup_mount_root ? cfg->cgroup_mount_root : "/sys/fs/cgroup");
                return;
        }
        ev->n_notifiers = ev_notify_plan(ev->cg, ev->t, ev->n, cfg->kubepods_name, &ev->notifiers);
        for (size_t i = 0; i < ev->n_notifiers; i++) {
                struct ev_notifier *no = &ev->notifiers[i];
                if (no->kind == EV_NOTIFY_THRESHOLD)
                        continue; /* armed from the first pass's numbers */
                no->armed_ms = now_mono_ms();
                int r = ev_notify_open(no);
                if (r < 0) {
                        log_warn("Memory notification not set, ignoring",
                                 "kind=\"%s\" signal=\"%s\" file=\"%s\" err=\"%s\"",
                                 ev_notify_kind_name(no->kind), ev_signal_name(no->signal), no->path,
                                 strerror(-r));
                } else
                        log_v(1, "Memory notification set", "kind=\"%s\" signal=\"%s\" file=\"%s\"",
                              ev_notify_kind_name(no->kind), ev_signal_name(no->signal), no->path);
        }
}

/* Upstream's UpdateThreshold: the cgroup's usage at which the threshold is crossed moves with its
 * inactive file pages; re-armed when it changed. */
static void notifiers_update(struct eviction_manager *ev, const json_t *summary)
{
        for (size_t i = 0; i < ev->n_notifiers; i++) {
                struct ev_notifier *no = &ev->notifiers[i];
                int64_t v;
                if (no->kind != EV_NOTIFY_THRESHOLD && no->dead &&
                    now_mono_ms() - no->armed_ms >= NOTIFIER_REFRESH_MS) {
                        /* its file went (kubepods made again?) or never was: tried again now and then */
                        no->armed_ms = now_mono_ms();
                        if (ev_notify_open(no) == 0)
                                log_info("Memory notification set", "kind=\"%s\" signal=\"%s\" file=\"%s\"",
                                         ev_notify_kind_name(no->kind), ev_signal_name(no->signal),
                                         no->path);
                }
                if (no->kind != EV_NOTIFY_THRESHOLD ||
                    (no->fd >= 0 && now_mono_ms() - no->armed_ms < NOTIFIER_REFRESH_MS) ||
                    ev_memcg_threshold(summary, &ev->t[no->threshold], &v) < 0 ||
                    (no->fd >= 0 && v == no->value))
                        continue;
                no->armed_ms = now_mono_ms();
                int r = ev_notify_arm(no, v);
                if (r < 0)
                        log_warn("Memory cgroup threshold not set, ignoring",
                                 "signal=\"%s\" dir=\"%s\" err=\"%s\"", ev_signal_name(no->signal), no->path,
                                 strerror(-r));
                else
                        log_v(3, "Memory cgroup threshold set", "signal=\"%s\" usage=%lld",
                              ev_signal_name(no->signal), (long long) v);
        }
}

/* ---- evicted pods ---- */

static struct evicted *find_evicted(struct eviction_manager *ev, const char *uid)
{
        for (size_t i = 0; i < ev->n_evicted; i++)
                if (streq(ev->evicted[i].uid, uid))
                        return &ev->evicted[i];
        return NULL;
}

static void forget_old_evicted(struct eviction_manager *ev, int64_t now)
{
        for (size_t i = 0; i < ev->n_evicted;)
                if (now - ev->evicted[i].at_ms > EVICTED_KEEP_MS) {
                        free(ev->evicted[i].uid);
                        free(ev->evicted[i].message);
                        ev->evicted[i] = ev->evicted[--ev->n_evicted];
                } else
                        i++;
}

bool eviction_manager_evicted(struct eviction_manager *ev, const char *uid, char *message, size_t len,
                              int64_t *ret_grace_s)
{
        if (!ev)
                return false;
        pthread_mutex_lock(&ev->lock);
        struct evicted *e = find_evicted(ev, uid);
        if (e) {
                snprintf(message, len, "%s", e->message);
                *ret_grace_s = e->grace_s;
        }
        pthread_mutex_unlock(&ev->lock);
        return e != NULL;
}

/* ---- one pass ---- */

/* The Summary, with the pods' part only when asked (ranking, local storage limits): the node's alone is
 * all the signals need, and much cheaper with many pods. */
static json_t *summary_get(struct eviction_manager *ev, bool pods)
{
        _cleanup_free_ char *err = NULL;
        json_t *s = pods ? stats_summary(ev->c.stats, false, &err) : stats_summary_node(ev->c.stats, &err);
        if (!s)
                log_error("Eviction manager: failed to get summary stats", "err=\"%s\"", log_q(err));
        return s;
}

/* Upstream's HasDedicatedImageFs, asked on the first pass and again now and then. Until the runtime has
 * answered once it is asked every pass and the answer is unknown (false returned): upstream skips the pass
 * then; here only what depends on it waits (local storage limits, disk signals), memory and PIDs do not.
 * Once known, a failure to tell keeps the last answer and is tried again sooner. Logs when it is first
 * known and when it changes. */
static bool image_fs_check(struct eviction_manager *ev)
{
        int64_t now = now_mono_ms();
        if (ev->image_fs_logged && now < ev->image_fs_next_ms)
                return true;
        bool dedicated = false;
        int r = ev->c.stats ? stats_image_fs_dedicated(ev->c.stats, &dedicated) : -ENOTCONN;
        if (r < 0) {
                log_v(2,
                      "Eviction manager: cannot tell whether the image filesystem is dedicated, keeping the "
                      "last answer",
                      "known=%s err=\"%s\"", ev->image_fs_logged ? "true" : "false", strerror(-r));
                if (!ev->image_fs_logged)
                        return false;
                dedicated = ev->dedicated_image_fs;
        }
        ev->image_fs_next_ms = now + (r < 0 ? IMAGEFS_RETRY_MS : IMAGEFS_RECHECK_MS);
        if (ev->image_fs_logged && dedicated == ev->dedicated_image_fs)
                return true;
        log_info("Eviction manager: image filesystem", "dedicatedImageFs=%s", dedicated ? "true" : "false");
        ev->dedicated_image_fs = dedicated;
        ev->image_fs_logged = true;
        return true;
}

/* Upstream's reclaimNodeLevelResources: true when what it freed resolved every threshold. */
static bool reclaim_node_level(struct eviction_manager *ev, enum ev_signal signal)
{
        const struct ev_reclaim_ops *o = &ev->c.reclaim;
        if (!ev_reclaims_node_level(signal, ev->dedicated_image_fs) ||
            (!o->delete_all_unused_containers && !o->delete_unused_images))
                return false;
        int r;
        if (o->delete_all_unused_containers && (r = o->delete_all_unused_containers(o->userdata)) < 0)
                log_warn("Eviction manager: unexpected error when attempting to reduce pressure",
                         "signal=\"%s\" "
                         "step=\"containers\" err=\"%s\"",
                         ev_signal_name(signal), strerror(-r));
        if (o->delete_unused_images && (r = o->delete_unused_images(o->userdata)) < 0)
                log_warn("Eviction manager: unexpected error when attempting to reduce pressure",
                         "signal=\"%s\" "
                         "step=\"images\" err=\"%s\"",
                         ev_signal_name(signal), strerror(-r));
        json_t *s = summary_get(ev, false);
        if (!s)
                return false;
        struct ev_observation obs[EV_SIGNAL_MAX];
        ev_observe(s, obs);
        json_decref(s);
        for (size_t i = 0; i < ev->n; i++)
                if (ev_threshold_met(&ev->t[i], &obs[ev->t[i].signal], false))
                        return false;
        return true;
}

/* Upstream's evictPod once the pod may go: the Event, the pod failed with msg (taken) and stopped with
 * grace_s, its worker woken. */
static void record_eviction(struct eviction_manager *ev, struct pod *p, const char *name, const char *why,
                            char *msg, int64_t grace_s)
{
        log_info("Eviction manager: evicting pod", "pod=\"%s\" podUID=\"%s\" signal=\"%s\" message=\"%s\"",
                 name, p->uid, why, log_q(msg));
        if (ev->c.events)
                events_record(ev->c.events, p->namespace, p->name, p->uid, NULL, EVENT_WARNING, "Evicted",
                              "%s", msg);
        pthread_mutex_lock(&ev->lock);
        ev->evicted = OOM_CHECK(realloc(ev->evicted, (ev->n_evicted + 1) * sizeof *ev->evicted));
        ev->evicted[ev->n_evicted++] = (struct evicted){
                .uid = xstrdup(p->uid), .message = msg, .grace_s = grace_s, .at_ms = now_mono_ms()};
        ev->evictions++;
        pthread_mutex_unlock(&ev->lock);
        if (ev->c.wake_pod)
                ev->c.wake_pod(ev->c.userdata, p->uid);
}

/* Upstream's localStorageEviction: every active pod over an emptyDir sizeLimit or an ephemeral-storage
 * limit is evicted at once (no grace). The first one's UID into ret_uid (caller frees); false when none. */
static bool local_storage_eviction(struct eviction_manager *ev, const json_t *summary, char **ret_uid)
{
        struct pod **pods = NULL;
        size_t n = ev->c.active_pods ? ev->c.active_pods(ev->c.userdata, &pods) : 0;
        bool any = false;
        for (size_t i = 0; i < n; i++) {
                struct pod *p = pods[i];
                pthread_mutex_lock(&ev->lock);
                bool already = find_evicted(ev, p->uid) != NULL;
                pthread_mutex_unlock(&ev->lock);
                char *msg = already ? NULL : ev_local_storage_violation(p, summary, ev->dedicated_image_fs);
                if (!msg)
                        continue;
                char name[512];
                pod_full_name(p, name, sizeof name);
                if (pod_is_critical(p)) {
                        log_error("Eviction manager: cannot evict a critical pod", "pod=\"%s\"", name);
                        free(msg);
                        continue;
                }
                record_eviction(ev, p, name, "localStorage", msg, 0);
                if (!any)
                        *ret_uid = xstrdup(p->uid);
                any = true;
        }
        for (size_t i = 0; i < n; i++)
                pod_unref(pods[i]);
        free(pods);
        return any;
}

/* Ranks the active pods and evicts the first that may be; its UID into ret_uid (caller frees). */
static bool evict_one(struct eviction_manager *ev, const struct ev_threshold *t, const json_t *summary,
                      char **ret_uid)
{
        enum ev_resource res = ev_signal_resource(t->signal);
        struct pod **pods = NULL;
        size_t n = ev->c.active_pods ? ev->c.active_pods(ev->c.userdata, &pods) : 0;
        struct ev_candidate *c = OOM_CHECK(calloc(n + 1, sizeof *c));
        size_t m = 0;
        pthread_mutex_lock(&ev->lock);
        for (size_t i = 0; i < n; i++)
                if (!find_evicted(ev, pods[i]->uid))
                        ev_candidate_fill(&c[m++], pods[i], summary);
        pthread_mutex_unlock(&ev->lock);
        bool done = false;
        if (m == 0)
                log_error("Eviction manager: eviction thresholds have been met, but no pods are active to "
                          "evict",
                          "signal=\"%s\"", ev_signal_name(t->signal));
        ev_rank(c, m, res, ev_rank_fs_stats(t->signal, ev->dedicated_image_fs));
        for (size_t i = 0; i < m && !done; i++) {
                struct pod *p = c[i].pod;
                char name[512];
                pod_full_name(p, name, sizeof name);
                if (pod_is_critical(p)) {
                        log_error("Eviction manager: cannot evict a critical pod", "pod=\"%s\"", name);
                        continue;
                }
                int64_t grace = t->grace_ms == 0 ? 0 : ev->c.max_pod_grace_s;
                record_eviction(ev, p, name, ev_signal_name(t->signal), ev_message(res, p, summary), grace);
                *ret_uid = xstrdup(p->uid);
                done = true;
        }
        if (m && !done)
                log_info("Eviction manager: unable to evict any pods from the node", "candidates=%zu", m);
        free(c);
        for (size_t i = 0; i < n; i++)
                pod_unref(pods[i]);
        free(pods);
        return done;
}

/* Whether any active pod has a local storage limit (its usage is checked every pass, as upstream). */
static bool any_local_limits(struct eviction_manager *ev)
{
        struct pod **pods = NULL;
        size_t n = ev->c.active_pods ? ev->c.active_pods(ev->c.userdata, &pods) : 0;
        bool any = false;
        for (size_t i = 0; i < n; i++) {
                any |= ev_pod_has_local_limits(pods[i]);
                pod_unref(pods[i]);
        }
        free(pods);
        return any;
}

/* Upstream's synchronize; returns the evicted pod's UID (caller frees) or NULL. */
static char *synchronize(struct eviction_manager *ev)
{
        json_t *summary = summary_get(ev, false);
        if (!summary)
                return NULL;
        notifiers_update(ev, summary);
        bool fs_known = image_fs_check(ev);
        struct ev_observation obs[EV_SIGNAL_MAX];
        ev_observe(summary, obs);
        bool *act = OOM_CHECK(calloc(ev->n + 1, sizeof *act));
        int64_t now = now_mono_ms();

        pthread_mutex_lock(&ev->lock);
        bool before[EV_COND_MAX];
        memcpy(before, ev->conditions, sizeof before);
        ev_state_step(&ev->state, ev->t, obs, ev->c.transition_ms, now, act);
        memcpy(ev->conditions, ev->state.conditions, sizeof ev->conditions);
        memcpy(ev->obs, obs, sizeof obs);
        ev->observed = true;
        ev->passes++;
        forget_old_evicted(ev, now);
        bool changed = memcmp(before, ev->conditions, sizeof before) != 0;
        pthread_mutex_unlock(&ev->lock);

        static const char *const became[EV_COND_MAX][2] = {
                [EV_COND_MEMORY] = {"NodeHasSufficientMemory", "NodeHasInsufficientMemory"},
                [EV_COND_DISK] = {"NodeHasNoDiskPressure", "NodeHasDiskPressure"},
                [EV_COND_PID] = {"NodeHasSufficientPID", "NodeHasInsufficientPID"},
        };
        for (int i = 0; changed && i < EV_COND_MAX; i++)
                if (before[i] != ev->conditions[i] && ev->c.events)
                        /* upstream's node status setters record these */
                        events_record_node(ev->c.events, EVENT_NORMAL, became[i][ev->conditions[i]],
                                           "Node %s status is now: %s", ev->c.node_name,
                                           became[i][ev->conditions[i]]);
        for (int i = 0; changed && i < EV_COND_MAX; i++)
                if (before[i] != ev->conditions[i])
                        log_info("Eviction manager: node condition changed",
                                 "condition=\"%s\" status=\"%s\"", ev_condition_name(i),
                                 ev->conditions[i] ? "True" : "False");
        if (changed && ev->c.conditions_changed)
                ev->c.conditions_changed(ev->c.userdata);

        /* The pods' usage, when something will look at it: a threshold to act on, or a limit to check. */
        int pick = ev_pick_threshold(ev->t, ev->n, act);
        if (pick >= 0 || any_local_limits(ev)) {
                json_t *full = summary_get(ev, true);
                if (!full) {
                        free(act);
                        json_decref(summary);
                        return NULL;
                }
                json_decref(summary);
                summary = full;
        }
        char *uid = NULL;
        /* Local storage limits first; when they evicted, nothing else this pass (as upstream). */
        if (fs_known && local_storage_eviction(ev, summary, &uid))
                pick = -1;
        if (pick >= 0 && !fs_known && ev_signal_resource(ev->t[pick].signal) != EV_RES_MEMORY &&
            ev_signal_resource(ev->t[pick].signal) != EV_RES_PIDS) {
                log_v(2,
                      "Eviction manager: disk signal met while the image filesystem is not known yet, "
                      "waiting",
                      "signal=\"%s\"", ev_signal_name(ev->t[pick].signal));
                pick = -1;
        }
        if (pick >= 0) {
                const struct ev_threshold *t = &ev->t[pick];
                _cleanup_free_ char *desc = ev_threshold_format(t);
                char avail[64];
                ev_quantity_string(obs[t->signal].available, avail, sizeof avail);
                log_warn("Eviction manager: attempting to reclaim",
                         "resourceName=\"%s\" threshold=\"%s\" "
                         "observed=\"%s\"",
                         ev_resource_name(ev_signal_resource(t->signal)), desc, avail);
                if (ev->c.events)
                        events_record_node(ev->c.events, EVENT_WARNING, "EvictionThresholdMet",
                                           "Attempting to reclaim %s",
                                           ev_resource_name(ev_signal_resource(t->signal)));
                if (reclaim_node_level(ev, t->signal))
                        log_info("Eviction manager: able to reduce pressure without evicting pods",
                                 "resourceName=\"%s\"", ev_resource_name(ev_signal_resource(t->signal)));
                else
                        evict_one(ev, t, summary, &uid);
        }
        free(act);
        json_decref(summary);
        return uid;
}

/* ---- the thread ---- */

static bool stopping(struct eviction_manager *ev)
{
        pthread_mutex_lock(&ev->lock);
        bool s = ev->stopping;
        pthread_mutex_unlock(&ev->lock);
        return s;
}

/* Waits up to ms for the wake fd or (with notifiers) a notifier; true when a notifier fired. */
static bool wait_events(struct eviction_manager *ev, int64_t ms, bool notifiers)
{
        size_t n = notifiers ? ev->n_notifiers : 0;
        struct pollfd *p = OOM_CHECK(calloc(n + 1, sizeof *p));
        p[0] = (struct pollfd){.fd = ev->wake_fd, .events = POLLIN};
        for (size_t i = 0; i < n; i++) {
                const struct ev_notifier *no = &ev->notifiers[i];
                p[i + 1] = (struct pollfd){.fd = no->dead ? -1 : no->fd, .events = ev_notify_events(no)};
        }
        bool fired = false;
        uint64_t v;
        int64_t bound = MIN(ms, (int64_t) INT32_MAX);
        if (poll(p, n + 1, bound < 0 ? 0 : (int) bound) > 0) {
                if (p[0].revents & POLLIN)
                        (void) !read(ev->wake_fd, &v, sizeof v);
                for (size_t i = 0; i < n; i++) {
                        struct ev_notifier *no = &ev->notifiers[i];
                        if (p[i + 1].fd < 0 || !p[i + 1].revents)
                                continue;
                        if (!ev_notify_consume(no, p[i + 1].revents)) {
                                if (no->dead)
                                        log_warn("Memory notification gone, ignoring",
                                                 "kind=\"%s\" signal=\"%s\" file=\"%s\"",
                                                 ev_notify_kind_name(no->kind), ev_signal_name(no->signal),
                                                 no->path);
                                continue;
                        }
                        /* a pressure trigger may fire every window while it lasts: said once a minute */
                        int64_t now = now_mono_ms();
                        bool say = !no->logged_ms || now - no->logged_ms >= NOTIFY_LOG_MS;
                        if (say)
                                no->logged_ms = now;
                        log_v(say ? 0 : 2, "Eviction manager: memory notification",
                              "kind=\"%s\" signal=\"%s\"", ev_notify_kind_name(no->kind),
                              ev_signal_name(no->signal));
                        fired = true;
                }
        }
        free(p);
        return fired;
}

static void wait_cleanup(struct eviction_manager *ev, const char *uid)
{
        if (!ev->c.pod_cleaned_up)
                return;
        int64_t until = now_mono_ms() + CLEANUP_TIMEOUT_MS;
        while (!stopping(ev) && now_mono_ms() < until) {
                if (ev->c.pod_cleaned_up(ev->c.userdata, uid)) {
                        log_info("Eviction manager: pod successfully cleaned up", "podUID=\"%s\"", uid);
                        return;
                }
                wait_events(ev, CLEANUP_POLL_MS, false); /* the pass after it sees what they would say */
        }
        if (!stopping(ev))
                log_warn("Eviction manager: timed out waiting for pod to be cleaned up", "podUID=\"%s\"",
                         uid);
}

static void *run(void *arg)
{
        struct eviction_manager *ev = arg;
        while (!stopping(ev)) {
                _cleanup_free_ char *uid = synchronize(ev);
                int64_t passed = now_mono_ms();
                if (uid) {
                        wait_cleanup(ev, uid);
                        continue;
                }
                /* A notification runs a pass at once, but not more than one a second for them: a cgroup
                 * at its limit may move memory.events many times a second. A poke is not held back. */
                if (wait_events(ev, ev->c.housekeeping_ms, true))
                        wait_events(ev, passed + NOTIFY_MIN_GAP_MS - now_mono_ms(), false);
        }
        return NULL;
}

int eviction_manager_start(const struct eviction_config *cfg, struct eviction_manager **ret)
{
        struct eviction_manager *ev = OOM_CHECK(calloc(1, sizeof *ev));
        ev->c = *cfg;
        if (ev->c.housekeeping_ms <= 0)
                ev->c.housekeeping_ms = 10000;
        ev->n = cfg->n_thresholds;
        ev->t = OOM_CHECK(calloc(ev->n + 1, sizeof *ev->t));
        if (ev->n)
                memcpy(ev->t, cfg->thresholds, ev->n * sizeof *ev->t);
        ev->c.thresholds = ev->t;
        ev->node_name = xstrdup(cfg->node_name ? cfg->node_name : "");
        ev->c.node_name = ev->node_name;
        ev->c.cgroup_mount_root = ev->c.kubepods_name = NULL; /* borrowed: setup only */
        pthread_mutex_init(&ev->lock, NULL);
        ev_state_init(&ev->state, ev->n);
        ev->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (ev->wake_fd < 0) {
                int r = -errno;
                eviction_manager_stop(ev);
                return r;
        }
        notifiers_setup(ev, cfg);
        int r = pthread_create(&ev->thread, NULL, run, ev);
        if (r != 0) {
                eviction_manager_stop(ev);
                return -r;
        }
        ev->started = true;
        (void) pthread_setname_np(ev->thread, "eviction"); /* its CPU time in /proc (bench_eviction.sh) */
        for (size_t i = 0; i < ev->n; i++) {
                _cleanup_free_ char *d = ev_threshold_format(&ev->t[i]);
                char g[32];
                format_duration_ms(ev->t[i].grace_ms, g, sizeof g);
                log_v(1, "Eviction threshold", "threshold=\"%s\" gracePeriod=\"%s\"", d, g);
        }
        *ret = ev;
        return 0;
}

void eviction_manager_poke(struct eviction_manager *ev)
{
        uint64_t one = 1;
        if (ev)
                (void) !write(ev->wake_fd, &one, sizeof one);
}

void eviction_manager_halt(struct eviction_manager *ev)
{
        if (!ev)
                return;
        pthread_mutex_lock(&ev->lock);
        ev->stopping = true;
        pthread_mutex_unlock(&ev->lock);
        if (ev->started) {
                eviction_manager_poke(ev);
                pthread_join(ev->thread, NULL);
                ev->started = false;
        }
}

void eviction_manager_stop(struct eviction_manager *ev)
{
        if (!ev)
                return;
        eviction_manager_halt(ev);
        ev_notify_free(ev->notifiers, ev->n_notifiers);
        for (size_t i = 0; i < ev->n_evicted; i++) {
                free(ev->evicted[i].uid);
                free(ev->evicted[i].message);
        }
        free(ev->evicted);
        cg_free(ev->cg);
        if (ev->wake_fd >= 0)
                close(ev->wake_fd);
        ev_state_done(&ev->state);
        pthread_mutex_destroy(&ev->lock);
        free(ev->t);
        free(ev->node_name);
        free(ev);
}

void eviction_manager_conditions(struct eviction_manager *ev, bool ret[EV_COND_MAX])
{
        memset(ret, 0, EV_COND_MAX * sizeof *ret);
        if (!ev)
                return;
        pthread_mutex_lock(&ev->lock);
        memcpy(ret, ev->conditions, EV_COND_MAX * sizeof *ret);
        pthread_mutex_unlock(&ev->lock);
}

bool eviction_manager_admit(struct eviction_manager *ev, const struct pod *pod, char *message, size_t len)
{
        bool c[EV_COND_MAX];
        eviction_manager_conditions(ev, c);
        return ev_admit(c, pod, message, len);
}

char *eviction_manager_describe(struct eviction_manager *ev)
{
        char *out = xstrdup("");
        if (!ev)
                return out;
        pthread_mutex_lock(&ev->lock);
        for (int i = 0; i < EV_COND_MAX; i++) {
                char *n = strdup_printf("%s%s=%s\n", out, ev_condition_name(i),
                                        ev->conditions[i] ? "True" : "False");
                free(out);
                out = n;
        }
        for (size_t i = 0; ev->observed && i < ev->n; i++) {
                const struct ev_observation *o = &ev->obs[ev->t[i].signal];
                _cleanup_free_ char *d = ev_threshold_format(&ev->t[i]);
                char avail[64] = "unknown";
                if (o->present)
                        ev_quantity_string(o->available, avail, sizeof avail);
                char *n = strdup_printf("%sthreshold %s: observed %s\n", out, d, avail);
                free(out);
                out = n;
        }
        pthread_mutex_unlock(&ev->lock);
        return out;
}

void eviction_manager_counts(struct eviction_manager *ev, uint64_t *ret_passes, uint64_t *ret_evictions)
{
        pthread_mutex_lock(&ev->lock);
        *ret_passes = ev->passes;
        *ret_evictions = ev->evictions;
        pthread_mutex_unlock(&ev->lock);
}
