/* Pod workers: one owner per pod, updates coalesced while a sync runs. Threads come as pods need them (every
 * runnable pod gets one at once, as upstream's goroutine per pod: no pod waits for another's sync, pull,
 * grace period or teardown) and go after a while idle, down to the minimum. */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 10000
#define MAX_THREADS  512   /* a bound against runaway, far above maxPods */
#define IDLE_EXIT_MS 30000 /* a thread above the minimum idle this long goes */
#define KILLED_MAX   256   /* UIDs of the last kills that succeeded, for their pods' "gone" reports */
/* Thread stacks: a sync's deepest path needs well under 256 KiB; the rest is address space only. The
 * sanitizer build's frames are several times larger. */
#if defined(__SANITIZE_ADDRESS__)
#define STACK_BYTES (4u << 20)
#else
#define STACK_BYTES (1u << 20)
#endif

struct work {
        char *uid;
        char *full_name;     /* ns/name of the desired or last known spec; NULL for orphans */
        struct pod *desired; /* NULL: must not run */
        int64_t grace_s;     /* of the last known spec; -1 unknown */
        bool queued, busy, dirty;
        bool dirty_forced;  /* dirty for a reason other than the PLEG's kicks with a fingerprint ... */
        bool dirty_other;   /* ... for a reason other than the PLEG's kicks */
        uint64_t kick_fp;   /* the PLEG's last kick while the sync ran: the pod's fingerprint ... */
        int64_t kick_us;    /* ... in a listing that ended then */
        uint64_t steady_fp; /* the last sync's steady_fingerprint and steady_us (pod_workers_kick_runtime) */
        int64_t steady_us;
        bool periodic;     /* queued for its periodic resync only (nothing changed that it knows of) */
        int64_t due_ms;    /* > 0: queue again at this time */
        int64_t resync_at; /* > 0: its periodic resync is due then */
        int64_t retry_ms;  /* current error back-off */
        char last_error[1024];
        unsigned long seq; /* queue order */
};

/* A worker's stack is cubelet's own mapping, unmapped once the thread is joined: glibc would keep the
 * stacks of ended threads in its cache (up to 40 MiB) with their top pages resident, ~24 KiB each after
 * a burst of a hundred pods. */
struct wthread {
        pthread_t t;
        bool done; /* returned or about to: join it */
        void *stack;
        size_t stack_size; /* with the guard page */
};

struct pod_workers {
        struct pod_workers_ops ops;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct wthread *threads; /* live and done-but-unjoined */
        size_t n_slots;
        int n_threads; /* live */
        int n_idle;    /* live and not running a sync */
        int min_threads;
        bool stop;
        bool sources_ready;
        struct work **works;
        size_t n_works;
        unsigned long next_seq;
        int64_t resync_ms;
        uint64_t rng; /* the resyncs' jitter */
        /* A ring of the UIDs whose work ended with a kill that succeeded, none since; NULL: a free slot. */
        char *killed[KILLED_MAX];
        size_t killed_next;
};

static struct work *find_work(struct pod_workers *w, const char *uid)
{
        for (size_t i = 0; i < w->n_works; i++)
                if (streq(w->works[i]->uid, uid))
                        return w->works[i];
        return NULL;
}

/* Under lock: when a pod synced now is resynced, as upstream's pod workers: the period plus up to half of it
 * again (workerResyncIntervalJitterFactor). Spread so, a node's pods never all sync in the same second,
 * and a few worker threads take them all instead of one per pod at once. */
static int64_t next_resync(struct pod_workers *w)
{
        if (w->resync_ms <= 0)
                return 0;
        w->rng ^= w->rng << 13; /* xorshift64 */
        w->rng ^= w->rng >> 7;
        w->rng ^= w->rng << 17;
        return now_mono_ms() + w->resync_ms + (int64_t) (w->rng % (uint64_t) (w->resync_ms / 2 + 1));
}

/* Under lock: takes uid out of the ring of killed pods; whether it was there. */
static bool take_killed(struct pod_workers *w, const char *uid)
{
        for (size_t i = 0; i < KILLED_MAX; i++)
                if (w->killed[i] && streq(w->killed[i], uid)) {
                        free(w->killed[i]);
                        w->killed[i] = NULL;
                        return true;
                }
        return false;
}

static struct work *add_work(struct pod_workers *w, const char *uid)
{
        (void) take_killed(w, uid); /* something is done for it again */
        struct work *wk = OOM_CHECK(calloc(1, sizeof *wk));
        wk->uid = xstrdup(uid);
        wk->grace_s = -1;
        wk->resync_at = next_resync(w);
        w->works = OOM_CHECK(realloc(w->works, (w->n_works + 1) * sizeof *w->works));
        w->works[w->n_works++] = wk;
        return wk;
}

static void remove_work(struct pod_workers *w, struct work *wk)
{
        for (size_t i = 0; i < w->n_works; i++)
                if (w->works[i] == wk) {
                        w->works[i] = w->works[--w->n_works];
                        break;
                }
        pod_unref(wk->desired);
        free(wk->uid);
        free(wk->full_name);
        free(wk);
}

static void *worker_thread(void *arg);

/* Gives the kernel back the pages of the calling thread's stack below the current frame (less a margin): an
 * idle worker needs none of what a deep sync touched, and glibc gives a stack back only when its thread
 * ends. */
static void release_stack(void)
{
        pthread_attr_t attr;
        void *base;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &attr) != 0)
                return;
        int r = pthread_attr_getstack(&attr, &base, &size);
        pthread_attr_destroy(&attr);
        if (r != 0)
                return;
        uintptr_t page = (uintptr_t) sysconf(_SC_PAGESIZE), lo = (uintptr_t) base;
        uintptr_t hi = ((uintptr_t) __builtin_frame_address(0) - (64u << 10)) & ~(page - 1);
        if (hi > lo && hi - lo < size)
                (void) madvise((void *) lo, hi - lo, MADV_DONTNEED);
}

static void join_thread(struct wthread *t)
{
        pthread_join(t->t, NULL);
        (void) munmap(t->stack, t->stack_size);
}

/* Under lock: takes the threads that have ended (they released the lock before returning) out of the
 * slots, into *ret (caller frees) when given, else joins them and unmaps their stacks at once. */
static size_t take_done(struct pod_workers *w, struct wthread **ret)
{
        size_t k = 0, n = 0;
        for (size_t i = 0; i < w->n_slots; i++) {
                if (!w->threads[i].done)
                        w->threads[k++] = w->threads[i];
                else if (!ret)
                        join_thread(&w->threads[i]);
                else {
                        *ret = OOM_CHECK(realloc(*ret, (n + 1) * sizeof **ret));
                        (*ret)[n++] = w->threads[i];
                }
        }
        w->n_slots = k;
        return n;
}

static void reap_threads(struct pod_workers *w)
{
        (void) take_done(w, NULL);
}

static int spawn_thread(struct pod_workers *w)
{
        pthread_attr_t attr;
        pthread_t t;
        reap_threads(w);
        size_t guard = (size_t) sysconf(_SC_PAGESIZE), size = STACK_BYTES + guard;
        char *stack =
                mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED)
                return -errno;
        if (mprotect(stack, guard, PROT_NONE) < 0) { /* the guard page: an overflow faults */
                int r = -errno;
                (void) munmap(stack, size);
                return r;
        }
        pthread_attr_init(&attr);
        pthread_attr_setstack(&attr, stack + guard, STACK_BYTES);
        int r = pthread_create(&t, &attr, worker_thread, w);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                (void) munmap(stack, size);
                return -r;
        }
        (void) pthread_setname_np(t, "pod-worker");
        w->threads = OOM_CHECK(realloc(w->threads, (w->n_slots + 1) * sizeof *w->threads));
        w->threads[w->n_slots++] = (struct wthread){.t = t, .stack = stack, .stack_size = size};
        w->n_threads++;
        w->n_idle++;
        return 0;
}

static bool blocked(struct pod_workers *w, struct work *wk);

/* Every runnable pod has a thread to take it: more threads when the idle ones are fewer. */
static void ensure_threads(struct pod_workers *w)
{
        int runnable = 0;
        for (size_t i = 0; i < w->n_works; i++) {
                struct work *wk = w->works[i];
                runnable += wk->queued && !wk->busy && !blocked(w, wk);
        }
        while (!w->stop && runnable > w->n_idle && w->n_threads < MAX_THREADS) {
                int r = spawn_thread(w);
                if (r < 0) {
                        log_warn("Cannot start a pod worker thread; pods wait for the running ones",
                                 "threads=%d err=\"%s\"", w->n_threads, strerror(-r));
                        break;
                }
        }
}

/* Whether the PLEG's kick for a listing of fingerprint fp that ended at us is one the pod's last sync saw
 * already, or older than what it saw, with nothing to do in it. */
static bool kick_seen(const struct work *wk, uint64_t fp, int64_t us)
{
        return fp && wk->steady_fp && (fp == wk->steady_fp || us < wk->steady_us);
}

/* runtime: the PLEG saw a change, with this fingerprint of the pod (0: none, look anyway) in a listing that
 * ended at us; else any other reason to sync. */
static void enqueue_for(struct pod_workers *w, struct work *wk, bool runtime, uint64_t fp, int64_t us)
{
        wk->periodic = false; /* a reason to look: the resync that follows asks the runtime itself */
        if (wk->busy) {
                wk->dirty = true;
                wk->dirty_forced |= !fp;
                wk->dirty_other |= !runtime;
                wk->kick_fp = fp;
                wk->kick_us = us;
                return;
        }
        if (!wk->queued) {
                wk->queued = true;
                wk->seq = w->next_seq++;
                ensure_threads(w);
                pthread_cond_signal(&w->cond);
        }
}

static void enqueue(struct pod_workers *w, struct work *wk)
{
        enqueue_for(w, wk, false, 0, 0);
}

/* A pod may not start while another pod of the same name is still being torn down. */
static bool blocked(struct pod_workers *w, struct work *wk)
{
        if (!wk->desired || !wk->full_name)
                return false;
        for (size_t i = 0; i < w->n_works; i++) {
                struct work *o = w->works[i];
                if (o != wk && !o->desired && streq_ptr(o->full_name, wk->full_name))
                        return true;
        }
        return false;
}

static struct work *next_runnable(struct pod_workers *w)
{
        struct work *best = NULL;
        for (size_t i = 0; i < w->n_works; i++) {
                struct work *wk = w->works[i];
                if (wk->queued && !wk->busy && (!best || wk->seq < best->seq) && !blocked(w, wk))
                        best = wk;
        }
        return best;
}

static void *worker_thread(void *arg)
{
        struct pod_workers *w = arg;

        pthread_mutex_lock(&w->lock);
        int64_t idle_since = now_mono_ms();
        while (!w->stop) {
                struct work *wk = next_runnable(w);
                if (!wk) {
                        if (w->n_threads > w->min_threads) {
                                int64_t left = idle_since + IDLE_EXIT_MS - now_mono_ms();
                                if (left <= 0)
                                        break; /* not needed any more */
                                cond_wait_ms(&w->cond, &w->lock, left);
                        } else
                                pthread_cond_wait(&w->cond, &w->lock);
                        continue;
                }
                w->n_idle--;
                wk->queued = false;
                wk->busy = true;
                wk->dirty = wk->dirty_forced = wk->dirty_other = false;
                wk->kick_fp = 0;
                wk->kick_us = 0;
                wk->due_ms = 0;
                bool periodic = wk->periodic;
                wk->periodic = false;
                struct pod *pod = pod_ref(wk->desired);
                _cleanup_free_ char *uid = xstrdup(wk->uid);
                int64_t grace = wk->grace_s;
                pthread_mutex_unlock(&w->lock);

                log_v(5, pod ? "Pod sync begins" : "Pod kill begins", "podUID=\"%s\" periodic=%d", uid,
                      (int) periodic);
                struct sync_result res = {0};
                int r = pod ? w->ops.sync(w->ops.userdata, pod, periodic, &res)
                            : w->ops.kill(w->ops.userdata, uid, grace, &res);

                /* Idle from here: the stack a deep sync touched goes back (a few µs, once per sync). */
                release_stack();
                pthread_mutex_lock(&w->lock);
                w->n_idle++;
                idle_since = now_mono_ms();
                wk->busy = false;
                wk->resync_at = next_resync(w);
                wk->steady_fp = pod && r >= 0 ? res.steady_fingerprint : 0;
                wk->steady_us = res.steady_us;
                if (wk->dirty && !wk->dirty_forced && kick_seen(wk, wk->kick_fp, wk->kick_us)) {
                        /* Only the PLEG asked meanwhile, for what this sync saw or older. */
                        log_v(5, "Pod unchanged since its sync; no sync for the runtime's change",
                              "podUID=\"%s\"", uid);
                        wk->dirty = false;
                }
                if (r < 0 && !res.error[0])
                        snprintf(res.error, sizeof res.error, "%s", strerror(-r));
                if (r < 0) {
                        if (!streq(res.error, wk->last_error)) {
                                char name[512];
                                log_error(pod ? "Error syncing pod, skipping"
                                              : "Error killing pod, will retry",
                                          "pod=\"%s\" podUID=\"%s\" reason=\"%s\" err=\"%s\"",
                                          pod ? pod_full_name(pod, name, sizeof name) : uid, uid, res.reason,
                                          log_q(res.error));
                                snprintf(wk->last_error, sizeof wk->last_error, "%s", res.error);
                        }
                        if (res.requeue_ms > 0) { /* the sync knows when to look again (back-off) */
                                wk->due_ms = now_mono_ms() + res.requeue_ms;
                        } else {
                                wk->retry_ms =
                                        wk->retry_ms ? MIN(wk->retry_ms * 2, RETRY_MAX_MS) : RETRY_MIN_MS;
                                wk->due_ms = now_mono_ms() + wk->retry_ms;
                        }
                } else {
                        wk->last_error[0] = 0;
                        wk->retry_ms = 0;
                        if (res.requeue_ms > 0)
                                wk->due_ms = now_mono_ms() + res.requeue_ms;
                }
                if (res.deadline_ms > 0) {
                        int64_t at = now_mono_ms() + res.deadline_ms;
                        if (!wk->due_ms || at < wk->due_ms)
                                wk->due_ms = at;
                }
                if (!pod && r >= 0 && !wk->desired && wk->dirty && !wk->dirty_other) {
                        /* Only the PLEG asked meanwhile: it saw this kill's own stops and removals. The kill
                         * listed the pod, stopped and removed all of it: another would find nothing. */
                        log_v(5, "Pod killed; no kill again for the runtime's changes", "podUID=\"%s\"",
                              uid);
                        wk->dirty = false;
                }
                if (!pod && r >= 0 && !wk->desired && !wk->dirty) {
                        /* Torn down: forget it, and let a pod waiting for its name go. */
                        free(w->killed[w->killed_next]);
                        w->killed[w->killed_next] = xstrdup(uid);
                        w->killed_next = (w->killed_next + 1) % KILLED_MAX;
                        remove_work(w, wk);
                        ensure_threads(w);
                        pthread_cond_broadcast(&w->cond);
                } else if (wk->dirty)
                        enqueue(w, wk);
                pod_unref(pod);
        }
        w->n_idle--;
        w->n_threads--;
        for (size_t i = 0; i < w->n_slots; i++)
                if (pthread_equal(w->threads[i].t, pthread_self()))
                        w->threads[i].done = true;
        pthread_cond_broadcast(&w->cond); /* pod_workers_free may wait for the last */
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int pod_workers_new(int n_threads, const struct pod_workers_ops *ops, int64_t resync_ms,
                    struct pod_workers **ret)
{
        if (n_threads < 1)
                return -EINVAL;
        struct pod_workers *w = OOM_CHECK(calloc(1, sizeof *w));
        w->ops = *ops;
        w->resync_ms = resync_ms;
        w->rng = (uint64_t) now_real_ns() | 1;
        w->min_threads = MIN(n_threads, MAX_THREADS);
        pthread_mutex_init(&w->lock, NULL);
        cond_init_monotonic(&w->cond);
        pthread_mutex_lock(&w->lock);
        for (int i = 0; i < w->min_threads; i++) {
                int r = spawn_thread(w);
                if (r < 0) {
                        pthread_mutex_unlock(&w->lock);
                        pod_workers_free(w);
                        return r;
                }
        }
        pthread_mutex_unlock(&w->lock);
        *ret = w;
        return 0;
}

struct pod_workers *pod_workers_free(struct pod_workers *w)
{
        if (!w)
                return NULL;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        /* No thread is made once stop is set: the slots are final. */
        for (size_t i = 0; i < w->n_slots; i++)
                join_thread(&w->threads[i]);
        while (w->n_works > 0)
                remove_work(w, w->works[0]);
        for (size_t i = 0; i < KILLED_MAX; i++)
                free(w->killed[i]);
        free(w->works);
        free(w->threads);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return NULL;
}

void pod_workers_update(struct pod_workers *w, const char *uid, struct pod *pod)
{
        pthread_mutex_lock(&w->lock);
        struct work *wk = find_work(w, uid);
        if (!wk) {
                if (!pod) { /* nothing known, nothing to stop; a relist will catch leftovers */
                        pthread_mutex_unlock(&w->lock);
                        return;
                }
                wk = add_work(w, uid);
        }
        if (!pod && !wk->desired && wk->busy) {
                /* A kill runs already (an API pod's DELETED event after its final DELETE, while its sandboxes
                 * are still removed): it covers this; a failed one is retried anyway. */
                pthread_mutex_unlock(&w->lock);
                return;
        }
        pod_unref(wk->desired);
        wk->desired = pod_ref(pod);
        if (pod) {
                char name[512];
                free(wk->full_name);
                wk->full_name = xstrdup(pod_full_name(pod, name, sizeof name));
                wk->grace_s = pod->termination_grace_period;
        }
        wk->retry_ms = 0;
        enqueue(w, wk);
        pthread_mutex_unlock(&w->lock);
}

void pod_workers_reclaimed(struct pod_workers *w, const char *uid)
{
        pthread_mutex_lock(&w->lock);
        struct work *wk = find_work(w, uid);
        if (wk && !wk->desired && wk->full_name) {
                free(wk->full_name);
                wk->full_name = NULL; /* blocks no one now */
                ensure_threads(w);
                pthread_cond_broadcast(&w->cond);
        }
        pthread_mutex_unlock(&w->lock);
}

void pod_workers_terminate(struct pod_workers *w, const char *uid, const char *full_name, int64_t grace_s)
{
        pthread_mutex_lock(&w->lock);
        struct work *wk = find_work(w, uid);
        bool fresh = !wk;
        if (!wk) {
                wk = add_work(w, uid);
                wk->full_name = xstrdup(full_name);
        }
        /* The first termination sets the grace period (the deletion's, even when longer than the spec's, as
         * upstream); later ones may only shorten it. */
        bool first = wk->desired || fresh;
        if (grace_s >= 0 && (first || wk->grace_s < 0 || grace_s < wk->grace_s))
                wk->grace_s = grace_s;
        if (first) {
                wk->desired = pod_unref(wk->desired);
                wk->retry_ms = 0;
                enqueue(w, wk);
        }
        pthread_mutex_unlock(&w->lock);
}

void pod_workers_kick(struct pod_workers *w, const char *uid)
{
        pthread_mutex_lock(&w->lock);
        struct work *wk = find_work(w, uid);
        if (!wk && w->sources_ready)
                wk = add_work(w, uid); /* an orphan: no source wants it */
        if (wk)
                enqueue(w, wk);
        pthread_mutex_unlock(&w->lock);
}

void pod_workers_kick_runtime(struct pod_workers *w, const char *uid, uint64_t fingerprint,
                              int64_t listed_us, bool gone)
{
        pthread_mutex_lock(&w->lock);
        struct work *wk = find_work(w, uid);
        if (!wk && gone && take_killed(w, uid)) {
                log_v(5, "Pod gone after its kill; nothing to kill", "podUID=\"%s\"", uid);
                pthread_mutex_unlock(&w->lock);
                return;
        }
        if (!wk && w->sources_ready)
                wk = add_work(w, uid); /* an orphan: no source wants it */
        if (wk && !wk->busy && !wk->queued && kick_seen(wk, fingerprint, listed_us))
                log_v(5, "Pod unchanged since its sync; no sync for the runtime's change", "podUID=\"%s\"",
                      uid);
        else if (wk)
                enqueue_for(w, wk, true, fingerprint, listed_us);
        pthread_mutex_unlock(&w->lock);
}

bool pod_workers_kick_exit(struct pod_workers *w, const char *uid, bool sandbox)
{
        bool handled = false;
        pthread_mutex_lock(&w->lock);
        struct work *wk = find_work(w, uid);
        if (wk && !wk->desired)
                handled = wk->busy || wk->queued;
        else if (wk && !sandbox && !wk->busy && !wk->queued) {
                enqueue(w, wk);
                handled = true;
        }
        pthread_mutex_unlock(&w->lock);
        return handled;
}

void pod_workers_set_sources_ready(struct pod_workers *w)
{
        pthread_mutex_lock(&w->lock);
        w->sources_ready = true;
        pthread_mutex_unlock(&w->lock);
}

void pod_workers_tick(struct pod_workers *w)
{
        int64_t now = now_mono_ms();
        pthread_mutex_lock(&w->lock);
        /* An idle thread that went: its stack goes now, not at the next burst (joined after the unlock:
         * nobody waits on the lock for a thread that may not have finished exiting). */
        struct wthread *gone = NULL;
        size_t n_gone = take_done(w, &gone);
        for (size_t i = 0; i < w->n_works; i++) {
                struct work *wk = w->works[i];
                /* A resync falls due while a sync runs or waits: that one is the resync. */
                bool resync = wk->resync_at > 0 && wk->resync_at <= now && !wk->busy && !wk->queued;
                bool due = wk->due_ms > 0 && wk->due_ms <= now;
                if (resync || due)
                        enqueue(w, wk);
                if (resync && !due)
                        wk->periodic = true;
        }
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; i < n_gone; i++)
                join_thread(&gone[i]);
        free(gone);
}

void pod_workers_stats(struct pod_workers *w, struct pod_workers_stats *ret)
{
        *ret = (struct pod_workers_stats){0};
        pthread_mutex_lock(&w->lock);
        for (size_t i = 0; i < w->n_works; i++) {
                struct work *wk = w->works[i];
                ret->pods++;
                if (wk->desired)
                        ret->desired++;
                else
                        ret->terminating++;
                ret->busy += wk->busy;
                ret->queued += wk->queued;
        }
        pthread_mutex_unlock(&w->lock);
}
