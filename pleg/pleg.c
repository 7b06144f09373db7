/* Pod lifecycle events: a relist of the runtime's sandboxes and containers, diffed per pod, woken by
 * containerd's events; the periodic relist is the safety net under them. */
#include "pleg.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cri.h"
#include "events.h"
#include "exits.h"
#include "log.h"
#include "macro.h"
#include "util.h"

/* A sandbox or container of the last relist: its ID's hash, and its pod's index in uids. */
struct owner {
        uint64_t id_hash;
        size_t pod;
        bool sandbox;
};

struct pleg {
        struct pleg_config cfg;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop, kicked;
        /* The last relist's pods, sorted by UID: set under lock by the PLEG thread (which reads them without
         * it); the event thread reads them under lock. */
        struct pleg_pod *pods;
        size_t n_pods;
        struct pleg_health health; /* under lock */
        struct owner *owners;      /* under lock: sorted by id_hash, indexing pods */
        size_t n_owners;
        struct ctd_events *events;
        bool events_up;         /* under lock */
        int burst;              /* under lock: quick relists left after a runtime event */
        int64_t quick_until_ms; /* under lock: relist every period_ms until then (after an event) */
        int64_t event_ms;       /* under lock: the first event since the last relist began; 0: none */
        bool transient;         /* under lock: the last relist saw a container created or unknown, or
                                 * not yet an exit an event told of */
        /* Exits the runtime's listing has not shown yet (cfg.exits, else the PLEG's own): its CRI plugin
         * applies an exit after deleting the task, which on a loaded machine may take seconds, and retries a
         * failed attempt with a back-off. Until the listing shows it, the relist keeps the short period (an
         * exit that no later event tells of must not wait for the 5 min relist), and counts the container
         * as exited already. */
        struct runtime_exits *exits, *own_exits;
};

static uint64_t id_hash(const char *id)
{
        return hash_fnv1a64(id, strlen(id), HASH_FNV_SEED);
}

static int owner_cmp(const void *a, const void *b)
{
        uint64_t x = ((const struct owner *) a)->id_hash, y = ((const struct owner *) b)->id_hash;
        return x < y ? -1 : x > y;
}

/* Quick relists that follow an exit or an OOM event: containerd's CRI plugin applies the same event to its
 * own store a little later, so the first relist may still show the old state. An exit does not wait for
 * them: the relist counts it at once (runtime_exits), keeps the short period until the listing shows it and
 * syncs the pod again then. Two are enough for the common case (applied within a relist or two); every
 * relist lists every sandbox and container, and at 110 pods fifteen of them took the runtime's time from
 * the very restart they were for (the median restart 489 ms against 337-417 ms with two, bench_pods.sh). */
#define EVENT_BURST 2

static void on_runtime_event(const struct ctd_event *ev, void *userdata)
{
        struct pleg *p = userdata;
        log_v(4, "Runtime event", "kind=%d containerID=\"%.13s\"", (int) ev->kind,
              ev->container_id ? ev->container_id : "");
        runtime_exits_note(p->exits, ev, now_mono_ms()); /* first: the relist it wakes counts it */
        /* An exit of a container or sandbox the last relist saw goes to its pod's worker first: an idle
         * pod's sync starts at once, before any relist (at 110 pods a whole-node listing is milliseconds on
         * a restart's way; the sync lists its own pod and counts the exit already), and a pod being killed
         * has its kill see to it. Then no relist is needed at once: the quick ones that follow every exit
         * (the CRI plugin applies it late) report the rest. Otherwise (a pod whose sync runs, an unknown
         * container) the exit relists at once. */
        _cleanup_free_ char *uid = NULL;
        bool sandbox = false, handled = false;
        pthread_mutex_lock(&p->lock);
        if (ev->kind == CTD_EVENT_TASK_EXIT && ev->container_id && p->n_owners && p->cfg.on_container_exit) {
                struct owner key = {.id_hash = id_hash(ev->container_id)};
                const struct owner *o = bsearch(&key, p->owners, p->n_owners, sizeof key, owner_cmp);
                if (o) {
                        uid = xstrdup(p->pods[o->pod].uid);
                        sandbox = o->sandbox;
                }
        }
        pthread_mutex_unlock(&p->lock);
        if (uid) {
                handled = p->cfg.on_container_exit(uid, sandbox, p->cfg.userdata);
                log_v(4, "PLEG: a container of the pod exited",
                      "podUID=\"%s\" containerID=\"%.13s\" sandbox=%d handled=%d", uid, ev->container_id,
                      (int) sandbox, (int) handled);
        }
        pthread_mutex_lock(&p->lock);
        /* An exit or an OOM its pod's worker does not have relists at once, then quickly again: the CRI
         * plugin applies them late. One the worker has (its sync counts the exit and lists the pod itself),
         * a start, a creation or a removal (a pod sync's own doing: only the agent creates, starts and
         * removes its pods' containers; exec processes are not reported) is shown by the short period, a
         * period after the event, not at once: on an idle node the last relist is minutes old, and a relist
         * at the event listed the whole node (three times, with the quick ones) beside the restart it was
         * for. A container left CREATED and an exit the listings do not show yet keep the period short. At
         * 110 pods the starts and creations of a burst each relisted the whole node at once, against the
         * starts they reported, and so did the exits of a teardown, against its stops. */
        if ((ev->kind == CTD_EVENT_TASK_EXIT && !handled) || ev->kind == CTD_EVENT_TASK_OOM) {
                p->burst = EVENT_BURST;
                p->kicked = true;
        }
        p->quick_until_ms = now_mono_ms() + p->cfg.event_quick_ms;
        if (!p->event_ms)
                p->event_ms = now_mono_ms();
        pthread_cond_signal(&p->cond); /* kicked, or the period shortens */
        pthread_mutex_unlock(&p->lock);
}

static void on_stream_state(bool connected, const char *why, void *userdata)
{
        struct pleg *p = userdata;
        pthread_mutex_lock(&p->lock);
        p->events_up = connected;
        if (!connected) /* the 3 minutes start now, not at a relist that may be minutes old by design */
                p->health.fallback_ms = now_mono_ms();
        /* Up: events were lost while it was down, relist now and at the short period for a while (an exit
         * missed meanwhile may not be applied yet). Down: the sleep's deadline shortens. */
        if (connected) {
                p->kicked = true;
                p->quick_until_ms = now_mono_ms() + p->cfg.event_quick_ms;
        }
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (p->cfg.on_events_state)
                p->cfg.on_events_state(connected, why, p->cfg.userdata);
}

const char *pleg_pod_uid_of(const Runtime__V1__Container *c)
{
        for (size_t i = 0; i < c->n_labels; i++)
                if (streq(c->labels[i]->key, PLEG_POD_UID_LABEL))
                        return c->labels[i]->value;
        return NULL;
}

static const char *sandbox_label(Runtime__V1__PodSandbox__LabelsEntry **l, size_t n, const char *key)
{
        for (size_t i = 0; i < n; i++)
                if (streq(l[i]->key, key))
                        return l[i]->value;
        return NULL;
}

static int pod_cmp(const void *a, const void *b)
{
        return strcmp(((const struct pleg_pod *) a)->uid, ((const struct pleg_pod *) b)->uid);
}

/* The pod's record in recs (sorted by UID), or NULL. */
static struct pleg_pod *find_record(struct pleg_pod *recs, size_t n, const char *uid)
{
        struct pleg_pod key = {.uid = (char *) uid};
        return n ? bsearch(&key, recs, n, sizeof key, pod_cmp) : NULL;
}

static int object_cmp(const void *a, const void *b)
{
        return strcmp(((const struct pleg_object *) a)->uid, ((const struct pleg_object *) b)->uid);
}

static int change_cmp(const void *a, const void *b)
{
        return strcmp(((const struct pleg_change *) a)->uid, ((const struct pleg_change *) b)->uid);
}

uint64_t pleg_object_hash(const char *id, int state)
{
        uint64_t h = hash_fnv1a64(id, strlen(id), HASH_FNV_SEED);
        h ^= (uint64_t) (uint32_t) state * 0x9e3779b97f4a7c15ULL; /* the golden ratio's odd multiplier */
        /* then every input bit reaches every output bit (murmur3's fmix64 constants) */
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}

uint64_t pleg_pod_fingerprint(const Runtime__V1__PodSandbox *const *sandboxes, size_t n_sandboxes,
                              const Runtime__V1__Container *const *containers, size_t n_containers)
{
        uint64_t fp = 0;
        for (size_t i = 0; i < n_sandboxes; i++)
                fp += pleg_object_hash(sandboxes[i]->id,
                                       (int) sandboxes[i]->state + PLEG_SANDBOX_STATE_BASE);
        for (size_t i = 0; i < n_containers; i++)
                fp += pleg_object_hash(containers[i]->id, (int) containers[i]->state);
        return fp;
}

struct pleg_pod *pleg_group(struct pleg_object *objs, size_t n, size_t *n_pods)
{
        struct pleg_pod *pods = OOM_CHECK(calloc(n + 1, sizeof *pods));
        size_t k = 0;
        if (n)
                qsort(objs, n, sizeof *objs, object_cmp);
        for (size_t i = 0; i < n; i++) {
                if (!k || !streq(pods[k - 1].uid, objs[i].uid))
                        pods[k++].uid = xstrdup(objs[i].uid);
                pods[k - 1].fingerprint += pleg_object_hash(objs[i].id, objs[i].state);
                objs[i].pod = k - 1;
        }
        *n_pods = k;
        return pods;
}

void pleg_pods_free(struct pleg_pod *pods, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(pods[i].uid);
        free(pods);
}

size_t pleg_diff(const struct pleg_pod *old, size_t n_old, const struct pleg_pod *fresh, size_t n_fresh,
                 struct pleg_change *out)
{
        size_t n = 0;
        for (size_t i = 0, j = 0; i < n_old || j < n_fresh;) {
                int c = i == n_old ? 1 : j == n_fresh ? -1 : strcmp(old[i].uid, fresh[j].uid);
                if (c < 0) /* gone */
                        out[n++] = (struct pleg_change){.uid = old[i++].uid, .gone = true};
                else if (c > 0 || old[i].fingerprint != fresh[j].fingerprint) {
                        out[n++] = (struct pleg_change){.uid = fresh[j].uid,
                                                        .fingerprint = fresh[j].fingerprint};
                        i += c == 0;
                        j++;
                } else
                        i++, j++;
        }
        return n;
}

/* A state the runtime may leave without an event: a created container turns exited when containerd ends a
 * start its caller abandoned, and an unknown one (containerd died in its create or start) when it is
 * stopped. While any is listed the relist keeps the short period. */
bool pleg_state_transient(int state)
{
        return state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED ||
               state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
}

bool pleg_exit_pending(const char *id, const Runtime__V1__PodSandbox *const *sandboxes, size_t n_sandboxes,
                       const Runtime__V1__Container *const *containers, size_t n_containers)
{
        for (size_t i = 0; i < n_containers; i++)
                if (streq(containers[i]->id, id))
                        return containers[i]->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        for (size_t i = 0; i < n_sandboxes; i++)
                if (streq(sandboxes[i]->id, id))
                        return sandboxes[i]->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        return false; /* gone, or never cubelet's to see */
}

static int relist(struct pleg *p, char *err, size_t errlen)
{
        Runtime__V1__ListPodSandboxRequest sreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ListPodSandboxResponse *sresp = NULL;
        _cleanup_cri_ Runtime__V1__ListContainersResponse *cresp = NULL;
        struct cri_error cerr = {0};
        bool transient = false;
        int r;

        struct cri_request reqs[] = {
                CRI_REQ(RuntimeService, ListPodSandbox, list_pod_sandbox, &sreq, &sresp),
                CRI_REQ(RuntimeService, ListContainers, list_containers, &creq, &cresp),
        };
        int64_t began_ms = now_mono_ms();
        r = cri_call_many(p->cfg.cri, reqs, ELEMENTSOF(reqs), p->cfg.call_timeout_ms, &cerr);
        if (r < 0) {
                snprintf(err, errlen, "%s", cerr.msg[0] ? cerr.msg : strerror(-r));
                return r;
        }
        int64_t listed_us = now_mono_us();
        size_t n_objs = 0, n_fresh = 0;
        struct pleg_object *objs =
                OOM_CHECK(malloc((sresp->n_items + cresp->n_containers + 1) * sizeof *objs));
        for (size_t i = 0; i < sresp->n_items; i++) {
                Runtime__V1__PodSandbox *s = sresp->items[i];
                const char *uid = sandbox_label(s->labels, s->n_labels, PLEG_POD_UID_LABEL);
                if (uid)
                        objs[n_objs++] =
                                (struct pleg_object){.uid = uid,
                                                     .id = s->id,
                                                     .state = (int) s->state + PLEG_SANDBOX_STATE_BASE,
                                                     .sandbox = true};
        }
        for (size_t i = 0; i < cresp->n_containers; i++) {
                Runtime__V1__Container *c = cresp->containers[i];
                const char *uid = pleg_pod_uid_of(c);
                if (!uid)
                        continue;
                /* An exit an event told of counts already: the pod's sync acts on it now. */
                struct runtime_exit ex;
                int state = c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING &&
                                            runtime_exits_get(p->exits, c->id, &ex)
                                    ? RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED
                                    : (int) c->state;
                objs[n_objs++] = (struct pleg_object){.uid = uid, .id = c->id, .state = state};
                transient |= pleg_state_transient(state);
        }
        struct pleg_pod *fresh = pleg_group(objs, n_objs, &n_fresh);
        struct owner *owners = OOM_CHECK(malloc((n_objs + 1) * sizeof *owners));
        for (size_t i = 0; i < n_objs; i++)
                owners[i] = (struct owner){
                        .id_hash = id_hash(objs[i].id), .pod = objs[i].pod, .sandbox = objs[i].sandbox};
        free(objs);

        /* Diff against the previous relist; report outside any lock. */
        struct pleg_pod *old = p->pods;
        size_t n_old = p->n_pods;
        struct pleg_change *changes = OOM_CHECK(malloc((n_old + n_fresh + 1) * sizeof *changes));
        size_t n_changes = pleg_diff(old, n_old, fresh, n_fresh, changes);

        /* Exits counted before CRI applied them: their pods sync again, now that CRI's status is whole. The
         * changes stay sorted for the lookups; the settled pods not among them follow. */
        char **settled = NULL;
        bool awaiting = runtime_exits_settle(p->exits, sresp, cresp, began_ms, now_mono_ms(),
                                             p->cfg.event_quick_ms, &settled);
        size_t n_sorted = n_changes;
        for (char **u = settled; u && *u; u++) {
                struct pleg_change key = {.uid = *u};
                struct pleg_change *ch =
                        n_sorted ? bsearch(&key, changes, n_sorted, sizeof key, change_cmp) : NULL;
                for (size_t k = n_sorted; !ch && k < n_changes; k++) /* a pod settled twice */
                        if (streq(changes[k].uid, *u))
                                ch = &changes[k];
                if (ch) {
                        ch->fingerprint = 0;
                        continue;
                }
                changes = OOM_CHECK(realloc(changes, (n_changes + 1) * sizeof *changes));
                changes[n_changes++] =
                        (struct pleg_change){.uid = *u, .gone = !find_record(fresh, n_fresh, *u)};
        }
        pthread_mutex_lock(&p->lock);
        if (n_objs)
                qsort(owners, n_objs, sizeof *owners, owner_cmp);
        p->pods = fresh; /* old: no other thread reaches it now; freed once its changes are reported */
        p->n_pods = n_fresh;
        free(p->owners);
        p->owners = owners;
        p->n_owners = n_objs;
        p->transient = awaiting || transient;
        pthread_mutex_unlock(&p->lock);

        if (n_changes) /* a change no event told of (or not yet): listings taken before it are old */
                cri_generation_bump();
        for (size_t k = 0; k < n_changes; k++) {
                const struct pleg_change *ch = &changes[k];
                log_v(4, "PLEG: the pod changed in the runtime", "podUID=\"%s\"", ch->uid);
                if (log_verbosity >= 5)
                        for (size_t i = 0; i < cresp->n_containers; i++) {
                                Runtime__V1__Container *c = cresp->containers[i];
                                const char *uid = pleg_pod_uid_of(c);
                                if (uid && streq(uid, ch->uid))
                                        log_v(5, "PLEG: listed", "containerID=\"%.8s\" state=%d", c->id,
                                              (int) c->state);
                        }
                /* The fingerprint of what this listing shows of the pod, unless the sync must look anyway. */
                p->cfg.on_pod_change(ch->uid, ch->fingerprint, listed_us, ch->gone, p->cfg.userdata);
        }
        free(changes);
        strv_free(settled);
        pleg_pods_free(old, n_old);
        return 0;
}

int64_t pleg_relist_pause(int64_t duration_ms, int64_t period_ms)
{
        int64_t pause = MAX(PLEG_RELIST_PACE * duration_ms, (int64_t) PLEG_RELIST_MIN_PAUSE_MS);
        return MIN(pause, period_ms);
}

int64_t pleg_period(const struct pleg_config *cfg, bool events_up, bool relist_ok, bool transient,
                    int64_t now_ms, int64_t quick_until_ms)
{
        if (!events_up)
                return cfg->period_ms;
        if (!relist_ok || transient || now_ms < quick_until_ms)
                return MIN(cfg->period_ms, (int64_t) PLEG_QUICK_PERIOD_MAX_MS);
        return cfg->evented_period_ms;
}

int64_t pleg_relist_deadline(int64_t start_ms, int64_t end_ms, int64_t event_ms, int64_t period_ms,
                             int64_t short_ms, bool asked)
{
        int64_t paced = end_ms + pleg_relist_pause(end_ms - start_ms, period_ms);
        if (asked)
                return paced;
        /* An event (after the relist began) shortened the period itself: a period after the relist may be
         * long past, or, once its quick window closed, minutes away. */
        int64_t due = event_ms > 0 ? event_ms + short_ms : start_ms + period_ms;
        return MAX(due, paced);
}

/* Under lock: the relist period now. */
static int64_t current_period(struct pleg *p, int64_t now)
{
        return pleg_period(&p->cfg, p->events_up, p->health.relist_ok, p->transient, now, p->quick_until_ms);
}

static void *pleg_thread(void *arg)
{
        struct pleg *p = arg;

        pthread_mutex_lock(&p->lock);
        while (!p->stop) {
                char err[1024] = "";
                p->event_ms = 0;
                pthread_mutex_unlock(&p->lock);

                int64_t start = now_mono_ms();
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                int r = relist(p, err, sizeof err);
                clock_gettime(CLOCK_MONOTONIC, &t1);

                pthread_mutex_lock(&p->lock);
                p->health.relist_ok = r >= 0;
                p->health.last_relist_ms = now_mono_ms();
                p->health.relist_duration_us =
                        (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;
                /* The threshold follows the period: long while events flow (a failed relist then retries
                 * at the short period, but the last success may be minutes old by design). A stream that goes
                 * down wakes the sleep below, and the relist that follows sets upstream's 3 minutes. */
                p->health.threshold_ms =
                        p->events_up ? MAX(PLEG_RELIST_THRESHOLD_MS, 2 * p->cfg.evented_period_ms)
                                     : PLEG_RELIST_THRESHOLD_MS;
                if (r >= 0) {
                        p->health.last_ok_ms = p->health.last_relist_ms;
                        p->health.error[0] = 0;
                } else
                        snprintf(p->health.error, sizeof p->health.error, "%s", err);
                pthread_mutex_unlock(&p->lock);
                if (p->cfg.on_relist_duration)
                        p->cfg.on_relist_duration((t1.tv_sec - t0.tv_sec) * 1000000LL +
                                                          (t1.tv_nsec - t0.tv_nsec) / 1000,
                                                  p->cfg.userdata);
                if (p->cfg.on_relist)
                        p->cfg.on_relist(r >= 0, err, p->cfg.userdata);
                pthread_mutex_lock(&p->lock);

                /* Sleep until the next relist is due; monotonic clock for the wait. The period is recomputed
                 * on every wake-up: the stream going down shortens it. A kick or a quick relist after an
                 * event still waits a pause after this relist's end, proportional to its length: a storm of
                 * events (a hundred pods stopping) then costs the runtime a bounded share of its time in
                 * listings instead of one back-to-back listing after another. */
                bool quick = p->burst > 0;
                if (quick)
                        p->burst--;
                int64_t end = p->health.last_relist_ms;
                while (!p->stop) {
                        int64_t now = now_mono_ms();
                        int64_t deadline = pleg_relist_deadline(
                                start, end, p->event_ms, current_period(p, now),
                                MIN(p->cfg.period_ms, (int64_t) PLEG_QUICK_PERIOD_MAX_MS),
                                p->kicked || quick);
                        if (now >= deadline)
                                break;
                        cond_wait_ms(&p->cond, &p->lock, deadline - now);
                }
                p->kicked = false;
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int pleg_start(const struct pleg_config *cfg, struct pleg **ret)
{
        struct pleg *p = OOM_CHECK(calloc(1, sizeof *p));
        int r;

        p->cfg = *cfg;
        p->exits = cfg->exits ? cfg->exits : (p->own_exits = runtime_exits_new());
        if (p->cfg.period_ms <= 0)
                p->cfg.period_ms = 1000;
        if (p->cfg.evented_period_ms <= 0)
                p->cfg.evented_period_ms = PLEG_EVENTED_PERIOD_MS;
        p->cfg.evented_period_ms = MAX(p->cfg.evented_period_ms, p->cfg.period_ms);
        if (p->cfg.event_quick_ms <= 0)
                p->cfg.event_quick_ms = PLEG_EVENT_QUICK_MS;
        pthread_mutex_init(&p->lock, NULL);
        cond_init_monotonic(&p->cond);
        snprintf(p->health.error, sizeof p->health.error, "no relist yet");
        p->health.threshold_ms = PLEG_RELIST_THRESHOLD_MS;
        r = pthread_create(&p->thread, NULL, pleg_thread, p);
        if (r == 0)
                (void) pthread_setname_np(p->thread, "pleg");
        if (r == 0 && cfg->event_endpoint) {
                struct ctd_events_config ec = {.endpoint = cfg->event_endpoint,
                                               .on_event = on_runtime_event,
                                               .on_state = on_stream_state,
                                               .userdata = p};
                int q = ctd_events_start(&ec, &p->events);
                if (q < 0) { /* the relist still works alone */
                        p->events = NULL;
                        pthread_mutex_lock(&p->lock); /* the thread runs: it writes health too */
                        snprintf(p->health.error, sizeof p->health.error, "event stream: %s", strerror(-q));
                        pthread_mutex_unlock(&p->lock);
                }
        }
        if (r != 0) {
                pthread_mutex_destroy(&p->lock);
                pthread_cond_destroy(&p->cond);
                runtime_exits_free(p->own_exits);
                free(p);
                return -r;
        }
        *ret = p;
        return 0;
}

struct pleg *pleg_stop(struct pleg *p)
{
        if (!p)
                return NULL;
        p->events = ctd_events_stop(p->events); /* first: its callbacks kick this PLEG */
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        pleg_pods_free(p->pods, p->n_pods);
        free(p->owners);
        runtime_exits_free(p->own_exits);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        free(p);
        return NULL;
}

void pleg_kick(struct pleg *p)
{
        pthread_mutex_lock(&p->lock);
        p->kicked = true;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
}

void pleg_get_health(struct pleg *p, struct pleg_health *ret)
{
        pthread_mutex_lock(&p->lock);
        *ret = p->health;
        pthread_mutex_unlock(&p->lock);
}

/* A duration as Go prints one (time.Duration.String) for whole seconds: "3m0s", "10m0s", "1h0m0s", "45s". */
static void go_duration(int64_t ms, char *buf, size_t len)
{
        long long s = ms / 1000, h = s / 3600, m = s / 60 % 60;
        if (h)
                snprintf(buf, len, "%lldh%lldm%llds", h, m, s % 60);
        else if (m)
                snprintf(buf, len, "%lldm%llds", m, s % 60);
        else
                snprintf(buf, len, "%llds", s);
}

bool pleg_health_stale(const struct pleg_health *h, int64_t now_ms, char *buf, size_t len)
{
        int64_t threshold = h->threshold_ms > 0 ? h->threshold_ms : PLEG_RELIST_THRESHOLD_MS;
        /* Upstream: only a successful relist counts as activity (strictly greater than the threshold). */
        if (!h->last_ok_ms || now_ms - MAX(h->last_ok_ms, h->fallback_ms) <= threshold)
                return false;
        char t[32];
        go_duration(threshold, t, sizeof t);
        snprintf(buf, len, "PLEG is not healthy: pleg was last seen active %llds ago; threshold is %s",
                 (long long) (now_ms - h->last_ok_ms) / 1000, t);
        return true;
}

bool pleg_health_check(const struct pleg_health *h, int64_t now_ms, const char *endpoint, char *buf,
                       size_t len)
{
        bool ok = true;
        int n;
        if (!h->relist_ok) {
                n = snprintf(buf, len, "[-]runtime failed: container runtime %s: %s\n", endpoint, h->error);
                ok = false;
        } else
                n = snprintf(buf, len, "[+]runtime ok\n");
        size_t used = n > 0 ? MIN((size_t) n, len) : 0;
        char stale[256];
        if (pleg_health_stale(h, now_ms, stale, sizeof stale)) {
                snprintf(buf + used, len - used, "[-]pleg failed: %s\n", stale);
                ok = false;
        }
        return ok;
}

bool pleg_events_connected(struct pleg *p)
{
        pthread_mutex_lock(&p->lock);
        bool up = p->events_up;
        pthread_mutex_unlock(&p->lock);
        return up;
}
