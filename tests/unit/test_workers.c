/* Unit tests for the pod workers: fake sync/kill ops, no runtime. Waits are bounded, never long sleeps. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <cmocka.h>

#include "pod.h"
#include "util.h"
#include "workers.h"

#define WAIT_MS    3000 /* upper bound of any wait; the tests normally take a few ms each */
#define SETTLE_MS  100  /* how long "nothing happens" is watched */
#define MAX_UIDS   16
#define MAX_EVENTS 256

struct fake {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int syncs, kills;
        int periodic_syncs; /* syncs told they are a periodic resync */
        int in_sync, in_kill, in_flight, max_in_flight;
        bool hold_sync, hold_kill;  /* a call waits while set */
        int fail_syncs, fail_kills; /* that many calls fail next */
        int64_t requeue_ms;         /* a successful sync asks for this */
        uint64_t steady_fp;         /* a successful sync reports this steady_fingerprint ... */
        int64_t sync_listed_us;     /* ... found in a listing taken after this (the sync's start) */
        int64_t deadline_ms;        /* every sync asks for this (activeDeadlineSeconds) */
        char in_flight_uids[MAX_UIDS][64];
        int overlaps; /* a UID entered while already in flight: must stay 0 */
        char events[MAX_EVENTS][96];
        int n_events;
        char last_sync_uid[64], last_kill_uid[64];
        int64_t last_sync_grace, last_kill_grace;
        int64_t sync_times[8];
        struct pod_workers *w; /* set: a kill tells it the pod is reclaimed before it holds */
};

static struct fake F;

/* base/util.h has the monotonic clock. */
static int64_t now_ms(void)
{
        return now_mono_ms();
}

static void sleep_ms(int ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Waits on F.cond (CLOCK_MONOTONIC) until the deadline; F.lock held. Returns false on timeout. */
static bool fake_wait(int64_t deadline)
{
        int64_t left = deadline - now_ms();
        if (left <= 0)
                return false;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&F.cond, &F.lock, &ts);
        return true;
}

/* Waits until expr (about F, read under F.lock) holds, at most WAIT_MS. */
#define WAIT_FAKE(expr)                                                                                     \
        do {                                                                                                \
                int64_t _deadline = now_ms() + WAIT_MS;                                                     \
                bool _ok;                                                                                   \
                pthread_mutex_lock(&F.lock);                                                                \
                while (!(_ok = (expr)) && fake_wait(_deadline))                                             \
                        ;                                                                                   \
                pthread_mutex_unlock(&F.lock);                                                              \
                if (!_ok)                                                                                   \
                        fail_msg("timed out waiting for %s", #expr);                                        \
        } while (0)

/* Reads an int field of F under its lock. */
#define FAKE_GET(field)                                                                                     \
        ({                                                                                                  \
                pthread_mutex_lock(&F.lock);                                                                \
                __typeof__(F.field) _v = F.field;                                                           \
                pthread_mutex_unlock(&F.lock);                                                              \
                _v;                                                                                         \
        })

#define FAKE_SET(field, value)                                                                              \
        do {                                                                                                \
                pthread_mutex_lock(&F.lock);                                                                \
                F.field = (value);                                                                          \
                pthread_cond_broadcast(&F.cond);                                                            \
                pthread_mutex_unlock(&F.lock);                                                              \
        } while (0)

/* The pool keeps its own lock: its counters are polled, briefly. */
static struct pod_workers_stats stats_of(struct pod_workers *w)
{
        struct pod_workers_stats s;
        pod_workers_stats(w, &s);
        return s;
}

#define WAIT_STATS(w, s, expr)                                                                              \
        do {                                                                                                \
                int64_t _deadline = now_ms() + WAIT_MS;                                                     \
                struct pod_workers_stats s;                                                                 \
                while (s = stats_of(w), !(expr) && now_ms() < _deadline)                                    \
                        sleep_ms(1);                                                                        \
                if (!(expr))                                                                                \
                        fail_msg("timed out waiting for %s (pods=%u desired=%u terminating=%u busy=%u "     \
                                 "queued=%u)",                                                              \
                                 #expr, s.pods, s.desired, s.terminating, s.busy, s.queued);                \
        } while (0)

/* Idle: nothing running or queued. */
#define WAIT_IDLE(w) WAIT_STATS(w, _s, _s.busy == 0 && _s.queued == 0)

static void add_event(const char *fmt, ...) _printf_(1, 2);
static void add_event(const char *fmt, ...)
{
        va_list ap;
        if (F.n_events >= MAX_EVENTS)
                return;
        va_start(ap, fmt);
        vsnprintf(F.events[F.n_events++], sizeof F.events[0], fmt, ap);
        va_end(ap);
}

/* Index of the first (or last) event named ev, -1 when none. */
static int event_find(const char *ev, bool last)
{
        pthread_mutex_lock(&F.lock);
        int idx = -1;
        for (int i = 0; i < F.n_events && (last || idx < 0); i++)
                if (streq(F.events[i], ev))
                        idx = i;
        pthread_mutex_unlock(&F.lock);
        return idx;
}
#define event_index(ev) event_find(ev, false)
#define event_last(ev)  event_find(ev, true)

/* Marks uid in flight (F.lock held); counts overlaps, which the pool must never cause. */
static void enter(const char *uid)
{
        for (int i = 0; i < MAX_UIDS; i++)
                if (streq(F.in_flight_uids[i], uid))
                        F.overlaps++;
        for (int i = 0; i < MAX_UIDS; i++)
                if (!F.in_flight_uids[i][0]) {
                        snprintf(F.in_flight_uids[i], sizeof F.in_flight_uids[i], "%s", uid);
                        break;
                }
        F.in_flight++;
        F.max_in_flight = MAX(F.max_in_flight, F.in_flight);
}

static void leave(const char *uid)
{
        for (int i = 0; i < MAX_UIDS; i++)
                if (streq(F.in_flight_uids[i], uid)) {
                        F.in_flight_uids[i][0] = 0;
                        break;
                }
        F.in_flight--;
}

static int fake_sync(void *userdata, struct pod *pod, bool periodic, struct sync_result *res)
{
        int r = 0;

        if (userdata != &F) /* cmocka's asserts are not for other threads */
                abort();
        pthread_mutex_lock(&F.lock);
        if (F.syncs < (int) ELEMENTSOF(F.sync_times))
                F.sync_times[F.syncs] = now_ms();
        F.syncs++;
        F.periodic_syncs += periodic;
        F.in_sync++;
        F.sync_listed_us = now_mono_us(); /* as pod_sync: before its listing */
        enter(pod->uid);
        add_event("sync:%s", pod->uid);
        snprintf(F.last_sync_uid, sizeof F.last_sync_uid, "%s", pod->uid);
        F.last_sync_grace = pod->termination_grace_period;
        pthread_cond_broadcast(&F.cond);
        while (F.hold_sync)
                pthread_cond_wait(&F.cond, &F.lock);
        if (F.fail_syncs > 0) {
                F.fail_syncs--;
                snprintf(res->error, sizeof res->error, "fake sync failure");
                snprintf(res->reason, sizeof res->reason, "FakeError");
                r = -EIO;
        } else
                res->requeue_ms = F.requeue_ms;
        res->steady_fingerprint = F.steady_fp; /* the workers must ignore it after a failure */
        res->steady_us = F.sync_listed_us;
        res->deadline_ms = F.deadline_ms;
        leave(pod->uid);
        F.in_sync--;
        add_event("synced:%s", pod->uid);
        pthread_cond_broadcast(&F.cond);
        pthread_mutex_unlock(&F.lock);
        return r;
}

static int fake_kill(void *userdata, const char *uid, int64_t grace_s, struct sync_result *res)
{
        int r = 0;

        if (userdata != &F)
                abort();
        pthread_mutex_lock(&F.lock);
        F.kills++;
        F.in_kill++;
        enter(uid);
        add_event("kill:%s", uid);
        snprintf(F.last_kill_uid, sizeof F.last_kill_uid, "%s", uid);
        F.last_kill_grace = grace_s;
        pthread_cond_broadcast(&F.cond);
        if (F.w) {                              /* as pod_kill: reclaimed, then the removals (held here) */
                add_event("reclaimed:%s", uid); /* before the pod it lets go can sync */
                pthread_mutex_unlock(&F.lock);
                pod_workers_reclaimed(F.w, uid);
                pthread_mutex_lock(&F.lock);
        }
        while (F.hold_kill)
                pthread_cond_wait(&F.cond, &F.lock);
        if (F.fail_kills > 0) {
                F.fail_kills--;
                snprintf(res->error, sizeof res->error, "fake kill failure");
                snprintf(res->reason, sizeof res->reason, "FakeKillError");
                r = -EIO;
        }
        leave(uid);
        F.in_kill--;
        add_event("killed:%s", uid);
        pthread_cond_broadcast(&F.cond);
        pthread_mutex_unlock(&F.lock);
        return r;
}

static int setup(void **state)
{
        pthread_condattr_t ca;

        memset(&F, 0, sizeof F);
        pthread_mutex_init(&F.lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&F.cond, &ca);
        pthread_condattr_destroy(&ca);
        return 0;
}

static int teardown(void **state)
{
        /* After a failed test a pool may be left behind with threads held in a fake: let them go. The
         * lock is not destroyed for the same reason. */
        pthread_mutex_lock(&F.lock);
        F.hold_sync = F.hold_kill = false;
        pthread_cond_broadcast(&F.cond);
        pthread_mutex_unlock(&F.lock);
        return 0;
}

static struct pod_workers *new_workers(int threads, int64_t resync_ms)
{
        static const struct pod_workers_ops ops = {.sync = fake_sync, .kill = fake_kill, .userdata = &F};
        struct pod_workers *w = NULL;
        assert_int_equal(pod_workers_new(threads, &ops, resync_ms, &w), 0);
        assert_non_null(w);
        return w;
}

/* A valid, defaulted pod. */
static struct pod *make_pod(const char *ns, const char *name, const char *uid, int grace)
{
        json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:[{s:s, s:s}], s:i}}", "apiVersion", "v1",
                                "kind", "Pod", "metadata", "name", name, "namespace", ns, "uid", uid, "spec",
                                "containers", "name", "c", "image", "busybox:1.36",
                                "terminationGracePeriodSeconds", grace);
        struct api_problems pr = {0};

        assert_non_null(obj);
        pod_json_apply_defaults(obj);
        struct pod *p = pod_from_json(obj, &pr);
        json_decref(obj);
        if (!p)
                fail_msg("invalid test pod: %s", pr.errors ? pr.errors[0] : "?");
        api_problems_clear(&pr);
        return p;
}

/* Updates with a fresh pod and drops the test's reference (the pool keeps its own). */
static void update_pod(struct pod_workers *w, const char *ns, const char *name, const char *uid, int grace)
{
        struct pod *p = make_pod(ns, name, uid, grace);
        pod_workers_update(w, uid, p);
        pod_unref(p);
}

/* ----------------------------------------------------------------------------------------------- */

static void test_update_runs_sync(void **state)
{
        struct pod_workers *w = new_workers(2, 0);

        update_pod(w, "default", "web", "uid-1", 7);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        assert_string_equal(F.last_sync_uid, "uid-1");
        assert_int_equal(F.last_sync_grace, 7);
        WAIT_IDLE(w);
        struct pod_workers_stats s = stats_of(w);
        assert_int_equal(s.pods, 1);
        assert_int_equal(s.desired, 1);
        assert_int_equal(s.terminating, 0);
        assert_int_equal(FAKE_GET(kills), 0);

        /* A kick of a known pod syncs it again. */
        pod_workers_kick(w, "uid-1");
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        assert_int_equal(F.overlaps, 0);

        pod_workers_free(w);
        assert_null(pod_workers_free(NULL));
}

static void test_updates_coalesce(void **state)
{
        struct pod_workers *w = new_workers(4, 0);

        FAKE_SET(hold_sync, true);
        update_pod(w, "default", "web", "uid-1", 30);
        WAIT_FAKE(F.in_sync == 1);
        /* Ten updates while the first sync runs: one more sync, with the newest spec. */
        for (int i = 1; i <= 10; i++)
                update_pod(w, "default", "web", "uid-1", 30 + i);
        pod_workers_kick(w, "uid-1");
        struct pod_workers_stats s = stats_of(w);
        assert_int_equal(s.busy, 1);
        assert_int_equal(s.pods, 1);
        FAKE_SET(hold_sync, false);
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        WAIT_IDLE(w);
        /* Idle with nothing queued: no third sync can come. */
        assert_int_equal(FAKE_GET(syncs), 2);
        assert_int_equal(FAKE_GET(last_sync_grace), 40);
        assert_int_equal(FAKE_GET(overlaps), 0);
        assert_int_equal(FAKE_GET(max_in_flight), 1);

        pod_workers_free(w);
}

static void test_remove_kills_and_forgets(void **state)
{
        struct pod_workers *w = new_workers(2, 0);

        update_pod(w, "default", "web", "uid-1", 12);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        pod_workers_update(w, "uid-1", NULL);
        WAIT_FAKE(F.kills == 1 && F.in_kill == 0);
        assert_string_equal(F.last_kill_uid, "uid-1");
        assert_int_equal(F.last_kill_grace, 12); /* the last known spec's grace period */
        WAIT_STATS(w, s, s.pods == 0);
        assert_int_equal(FAKE_GET(syncs), 1);

        /* Removing what is not known does nothing. */
        pod_workers_update(w, "never-seen", NULL);
        sleep_ms(SETTLE_MS / 2);
        assert_int_equal(FAKE_GET(kills), 1);
        assert_int_equal(stats_of(w).pods, 0);

        /* Removal while the sync still runs: the kill follows it, it never overlaps. */
        FAKE_SET(hold_sync, true);
        update_pod(w, "default", "db", "uid-2", 3);
        WAIT_FAKE(F.in_sync == 1);
        pod_workers_update(w, "uid-2", NULL);
        struct pod_workers_stats s = stats_of(w);
        assert_int_equal(s.terminating, 1);
        assert_int_equal(s.desired, 0);
        FAKE_SET(hold_sync, false);
        WAIT_FAKE(F.kills == 2 && F.in_kill == 0);
        assert_int_equal(F.last_kill_grace, 3);
        WAIT_STATS(w, s2, s2.pods == 0);
        assert_true(event_index("synced:uid-2") < event_index("kill:uid-2"));
        assert_int_equal(FAKE_GET(overlaps), 0);

        pod_workers_free(w);
}

static void test_same_name_waits_for_termination(void **state)
{
        struct pod_workers *w = new_workers(4, 0);

        update_pod(w, "kube-system", "etcd", "old", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);

        /* The old pod is being torn down (slowly) when its replacement, same name, arrives. */
        FAKE_SET(hold_kill, true);
        pod_workers_update(w, "old", NULL);
        WAIT_FAKE(F.in_kill == 1);
        update_pod(w, "kube-system", "etcd", "new", 30);
        /* Another name is not held back. */
        update_pod(w, "kube-system", "other", "unrelated", 30);
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        assert_string_equal(F.last_sync_uid, "unrelated");
        sleep_ms(SETTLE_MS);
        assert_int_equal(FAKE_GET(syncs), 2);
        assert_int_equal(event_index("sync:new"), -1);
        struct pod_workers_stats s = stats_of(w);
        assert_int_equal(s.pods, 3);
        assert_int_equal(s.desired, 2);
        assert_int_equal(s.terminating, 1);

        /* The kill ends: now the new pod starts, after it. */
        FAKE_SET(hold_kill, false);
        WAIT_FAKE(F.syncs == 3 && F.in_sync == 0);
        assert_string_equal(F.last_sync_uid, "new");
        assert_true(event_index("killed:old") >= 0);
        assert_true(event_index("killed:old") < event_index("sync:new"));
        WAIT_STATS(w, s2, s2.pods == 2 && s2.terminating == 0);

        /* Same name in another namespace is another pod: not held back. */
        FAKE_SET(hold_kill, true);
        pod_workers_update(w, "new", NULL);
        WAIT_FAKE(F.in_kill == 1);
        update_pod(w, "default", "etcd", "elsewhere", 30);
        WAIT_FAKE(F.syncs == 4 && F.in_sync == 0);
        assert_string_equal(F.last_sync_uid, "elsewhere");
        FAKE_SET(hold_kill, false);
        WAIT_STATS(w, s3, s3.pods == 2 && s3.busy == 0);
        assert_int_equal(FAKE_GET(overlaps), 0);

        pod_workers_free(w);
}

/* An API pod's DELETED event arriving while its kill runs (its final DELETE goes out before its sandboxes
 * are removed) does not kill it a second time. */
static void test_removal_during_kill_runs_one_kill(void **state)
{
        struct pod_workers *w = new_workers(1, 0);
        update_pod(w, "default", "api", "uid-api", 5);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        FAKE_SET(hold_kill, true);
        pod_workers_terminate(w, "uid-api", "default/api", 5);
        WAIT_FAKE(F.in_kill == 1);
        pod_workers_update(w, "uid-api", NULL);
        FAKE_SET(hold_kill, false);
        WAIT_STATS(w, s, s.pods == 0); /* forgotten only once no kill is due */
        assert_int_equal(FAKE_GET(kills), 1);
        pod_workers_free(w);
}

/* A pod of the same name waits for the old one's resources, not for its sandboxes' removal. */
static void test_same_name_waits_for_reclaim_only(void **state)
{
        struct pod_workers *w = new_workers(1, 0);
        update_pod(w, "kube-system", "etcd", "old", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);

        FAKE_SET(hold_kill, true);
        FAKE_SET(w, w);
        pod_workers_update(w, "old", NULL);
        WAIT_FAKE(F.in_kill == 1);
        update_pod(w, "kube-system", "etcd", "new", 30);
        /* The old kill is still held (its removals), the new pod runs. */
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        assert_string_equal(F.last_sync_uid, "new");
        assert_int_equal(FAKE_GET(in_kill), 1);
        assert_true(event_index("reclaimed:old") >= 0 &&
                    event_index("reclaimed:old") < event_index("sync:new"));
        assert_int_equal(event_index("killed:old"), -1);

        FAKE_SET(hold_kill, false);
        WAIT_STATS(w, s, s.pods == 1 && s.busy == 0 && s.terminating == 0);
        assert_int_equal(FAKE_GET(overlaps), 0);
        pod_workers_free(w);
}

static void test_kick_orphans_after_sources_ready(void **state)
{
        struct pod_workers *w = new_workers(2, 0);

        /* Before the sources were read, an unknown UID may yet be wanted: leave it alone. */
        pod_workers_kick(w, "orphan");
        sleep_ms(SETTLE_MS);
        assert_int_equal(FAKE_GET(kills), 0);
        assert_int_equal(FAKE_GET(syncs), 0);
        assert_int_equal(stats_of(w).pods, 0);

        pod_workers_set_sources_ready(w);
        pod_workers_kick(w, "orphan");
        WAIT_FAKE(F.kills == 1 && F.in_kill == 0);
        assert_string_equal(F.last_kill_uid, "orphan");
        assert_int_equal(F.last_kill_grace, -1); /* unknown: the runtime's annotations decide */
        WAIT_STATS(w, s, s.pods == 0);

        /* A known pod kicked after sources_ready is synced, not killed. */
        update_pod(w, "default", "web", "uid-1", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        pod_workers_kick(w, "uid-1");
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        assert_int_equal(FAKE_GET(kills), 1);

        pod_workers_free(w);
}

/* A change the PLEG saw syncs the pod unless its last sync found it steady in a listing of the same
 * fingerprint and nothing else asked since: then a sync would find the same and do nothing. */
static void test_runtime_kick_skips_synced_state(void **state)
{
        struct pod_workers *w = new_workers(2, 0);

        FAKE_SET(steady_fp, 0xf1);
        update_pod(w, "default", "web", "uid-1", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        WAIT_IDLE(w);
        /* What the sync saw: nothing to do. */
        pod_workers_kick_runtime(w, "uid-1", 0xf1, now_mono_us(), false);
        sleep_ms(SETTLE_MS);
        assert_int_equal(FAKE_GET(syncs), 1);
        assert_int_equal(stats_of(w).queued, 0);
        pod_workers_kick_runtime(w, "uid-1", 0xf2, now_mono_us(), false); /* something else: a sync */
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        WAIT_IDLE(w);
        pod_workers_kick_runtime(w, "uid-1", 0, now_mono_us(), false); /* no fingerprint: a sync */
        WAIT_FAKE(F.syncs == 3 && F.in_sync == 0);
        WAIT_IDLE(w);
        pod_workers_kick(w, "uid-1"); /* any other reason: a sync */
        WAIT_FAKE(F.syncs == 4 && F.in_sync == 0);
        WAIT_IDLE(w);

        /* Kicks while a sync runs: the last fingerprint the PLEG saw decides, another reason always syncs. */
        FAKE_SET(hold_sync, true);
        pod_workers_kick(w, "uid-1");
        WAIT_FAKE(F.syncs == 5 && F.in_sync == 1);
        pod_workers_kick_runtime(w, "uid-1", 0xf2, now_mono_us(), false);
        /* The PLEG caught up with what the sync saw. */
        pod_workers_kick_runtime(w, "uid-1", 0xf1, now_mono_us(), false);
        FAKE_SET(hold_sync, false);
        WAIT_FAKE(F.syncs == 5 && F.in_sync == 0);
        WAIT_IDLE(w);
        sleep_ms(SETTLE_MS);
        assert_int_equal(FAKE_GET(syncs), 5);

        FAKE_SET(hold_sync, true);
        pod_workers_kick(w, "uid-1");
        WAIT_FAKE(F.syncs == 6 && F.in_sync == 1);
        pod_workers_kick_runtime(w, "uid-1", 0xf1, now_mono_us(), false);
        /* Newer than what the sync may have seen. */
        pod_workers_kick_runtime(w, "uid-1", 0xf3, now_mono_us(), false);
        FAKE_SET(hold_sync, false);
        WAIT_FAKE(F.syncs == 7 && F.in_sync == 0);
        WAIT_IDLE(w);

        FAKE_SET(hold_sync, true);
        pod_workers_kick(w, "uid-1");
        WAIT_FAKE(F.syncs == 8 && F.in_sync == 1);
        pod_workers_kick_runtime(w, "uid-1", 0xf1, now_mono_us(), false);
        update_pod(w, "default", "web", "uid-1", 31); /* a new spec: a sync whatever the runtime */
        FAKE_SET(hold_sync, false);
        WAIT_FAKE(F.syncs == 9 && F.in_sync == 0);
        WAIT_IDLE(w);
        assert_int_equal(FAKE_GET(last_sync_grace), 31);

        /* A failed sync leaves nothing steady: the same fingerprint syncs again. */
        FAKE_SET(fail_syncs, 1);
        pod_workers_kick(w, "uid-1");
        WAIT_FAKE(F.syncs == 10 && F.in_sync == 0);
        pod_workers_kick_runtime(w, "uid-1", 0xf1, now_mono_us(), false);
        WAIT_FAKE(F.syncs == 11 && F.in_sync == 0);
        WAIT_IDLE(w);
        /* A sync that was not steady (0): every runtime change syncs. */
        FAKE_SET(steady_fp, 0);
        pod_workers_kick(w, "uid-1");
        WAIT_FAKE(F.syncs == 12 && F.in_sync == 0);
        WAIT_IDLE(w);
        pod_workers_kick_runtime(w, "uid-1", 0xf1, now_mono_us(), false);
        WAIT_FAKE(F.syncs == 13 && F.in_sync == 0);
        WAIT_IDLE(w);

        /* The PLEG's report of a listing that ended before the steady one was taken is older than what the
         * sync saw, whatever its fingerprint: a change after it shows in a later relist. */
        FAKE_SET(steady_fp, 0xf1);
        int64_t before = now_mono_us();
        FAKE_SET(hold_sync, true);
        pod_workers_kick(w, "uid-1");
        WAIT_FAKE(F.syncs == 14 && F.in_sync == 1);
        pod_workers_kick_runtime(w, "uid-1", 0xf4, before, false);
        FAKE_SET(hold_sync, false);
        WAIT_FAKE(F.syncs == 14 && F.in_sync == 0);
        WAIT_IDLE(w);
        pod_workers_kick_runtime(w, "uid-1", 0xf5, before, false); /* delivered after the sync: the same */
        sleep_ms(SETTLE_MS);
        assert_int_equal(FAKE_GET(syncs), 14);
        pod_workers_kick_runtime(w, "uid-1", 0xf5, now_mono_us(), false); /* a listing after the sync's */
        WAIT_FAKE(F.syncs == 15 && F.in_sync == 0);
        assert_int_equal(FAKE_GET(overlaps), 0);
        pod_workers_free(w);
}

/* An exit the runtime's event told of syncs an idle pod at once (a container's; a sandbox's shows only in a
 * listing), and a pod being killed has its kill; for a pod whose sync runs, and an unknown UID, the relist
 * must tell (false). */
static void test_exit_kick(void **state)
{
        struct pod_workers *w = new_workers(2, 0);

        pod_workers_set_sources_ready(w);
        update_pod(w, "default", "web", "uid-1", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        WAIT_IDLE(w);
        assert_true(pod_workers_kick_exit(w, "uid-1", false));
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        WAIT_IDLE(w);
        assert_false(pod_workers_kick_exit(w, "uid-1", true));
        sleep_ms(SETTLE_MS);
        assert_int_equal(FAKE_GET(syncs), 2);

        FAKE_SET(hold_sync, true);
        pod_workers_kick(w, "uid-1");
        WAIT_FAKE(F.syncs == 3 && F.in_sync == 1);
        assert_false(pod_workers_kick_exit(w, "uid-1", false));
        FAKE_SET(hold_sync, false);
        WAIT_FAKE(F.syncs == 3 && F.in_sync == 0);
        WAIT_IDLE(w);

        assert_false(pod_workers_kick_exit(w, "unknown", false));
        sleep_ms(SETTLE_MS);
        assert_int_equal(FAKE_GET(syncs), 3);
        assert_int_equal(FAKE_GET(kills), 0);
        assert_int_equal(stats_of(w).pods, 1);

        /* Being killed: the kill has it, and no second kill follows. */
        FAKE_SET(hold_kill, true);
        pod_workers_update(w, "uid-1", NULL);
        WAIT_FAKE(F.kills == 1 && F.in_kill == 1);
        assert_true(pod_workers_kick_exit(w, "uid-1", false));
        assert_true(pod_workers_kick_exit(w, "uid-1", true));
        FAKE_SET(hold_kill, false);
        WAIT_STATS(w, s, s.pods == 0);
        assert_int_equal(FAKE_GET(kills), 1);
        assert_int_equal(FAKE_GET(overlaps), 0);
        pod_workers_free(w);
}

/* The PLEG's reports during a kill that succeeds are the kill's own stops and removals: no second kill.
 * Another reason to look (a kick from elsewhere) kills again. */
static void test_kill_ignores_own_changes(void **state)
{
        struct pod_workers *w = new_workers(2, 0);

        pod_workers_set_sources_ready(w);
        update_pod(w, "default", "web", "uid-1", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        FAKE_SET(hold_kill, true);
        pod_workers_update(w, "uid-1", NULL);
        WAIT_FAKE(F.kills == 1 && F.in_kill == 1);
        pod_workers_kick_runtime(w, "uid-1", 0xf1, now_mono_us(), false);
        pod_workers_kick_runtime(w, "uid-1", 0, now_mono_us(), true); /* gone */
        FAKE_SET(hold_kill, false);
        WAIT_STATS(w, s, s.pods == 0);
        sleep_ms(SETTLE_MS);
        assert_int_equal(FAKE_GET(kills), 1);

        /* A kill that fails is retried whatever asked. */
        update_pod(w, "default", "web", "uid-2", 30);
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        FAKE_SET(fail_kills, 1);
        FAKE_SET(hold_kill, true);
        pod_workers_update(w, "uid-2", NULL);
        WAIT_FAKE(F.kills == 2 && F.in_kill == 1);
        pod_workers_kick_runtime(w, "uid-2", 0xf1, now_mono_us(), false);
        FAKE_SET(hold_kill, false);
        WAIT_FAKE(F.kills == 3 && F.in_kill == 0);
        WAIT_STATS(w, s, s.pods == 0);

        /* Another reason during a kill that succeeds: a second kill. */
        update_pod(w, "default", "web", "uid-3", 30);
        WAIT_FAKE(F.syncs == 3 && F.in_sync == 0);
        FAKE_SET(hold_kill, true);
        pod_workers_update(w, "uid-3", NULL);
        WAIT_FAKE(F.kills == 4 && F.in_kill == 1);
        pod_workers_kick(w, "uid-3");
        FAKE_SET(hold_kill, false);
        WAIT_FAKE(F.kills == 5 && F.in_kill == 0);
        WAIT_STATS(w, s, s.pods == 0);
        assert_int_equal(FAKE_GET(overlaps), 0);
        pod_workers_free(w);
}

/* A pod synced, then killed: the syncs and kills counted until then. */
static void sync_then_kill(struct pod_workers *w, const char *uid, int syncs, int kills)
{
        update_pod(w, "default", "web", uid, 30);
        WAIT_FAKE(F.syncs == syncs && F.in_sync == 0);
        pod_workers_update(w, uid, NULL);
        WAIT_FAKE(F.kills == kills && F.in_kill == 0);
        WAIT_STATS(w, s, s.pods == 0);
}

/* The PLEG's report that a pod whose kill succeeded is gone brings no second kill (it would find nothing);
 * a gone pod never killed here, or one the runtime still shows, gets its orphan kill. */
static void test_gone_after_kill(void **state)
{
        struct pod_workers *w = new_workers(2, 0);

        pod_workers_set_sources_ready(w);
        sync_then_kill(w, "uid-1", 1, 1);
        pod_workers_kick_runtime(w, "uid-1", 0, now_mono_us(), true);
        sleep_ms(SETTLE_MS);
        assert_int_equal(FAKE_GET(kills), 1);
        assert_int_equal(stats_of(w).pods, 0);

        /* Never killed here (a pod of an earlier agent): its orphan kill cleans up after it. */
        pod_workers_kick_runtime(w, "uid-2", 0, now_mono_us(), true);
        WAIT_FAKE(F.kills == 2 && F.in_kill == 0);
        WAIT_STATS(w, s, s.pods == 0);

        /* Killed, but the runtime shows something of it still: killed again. */
        sync_then_kill(w, "uid-3", 2, 3);
        pod_workers_kick_runtime(w, "uid-3", 0xf1, now_mono_us(), false);
        WAIT_FAKE(F.kills == 4 && F.in_kill == 0);
        WAIT_STATS(w, s, s.pods == 0);

        /* Killed, then wanted again (the same UID: a restored static manifest), synced and killed again:
         * only the last kill counts. A failed kill is retried, and the one that succeeds counts. */
        sync_then_kill(w, "uid-4", 3, 5);
        update_pod(w, "default", "web", "uid-4", 30);
        WAIT_FAKE(F.syncs == 4 && F.in_sync == 0);
        FAKE_SET(fail_kills, 1);
        pod_workers_update(w, "uid-4", NULL);
        WAIT_FAKE(F.kills == 6 && F.in_kill == 0);
        int64_t deadline = now_ms() + WAIT_MS; /* the retry is due in a second */
        while (FAKE_GET(kills) < 7 && now_ms() < deadline) {
                pod_workers_tick(w);
                sleep_ms(20);
        }
        WAIT_FAKE(F.kills == 7 && F.in_kill == 0);
        WAIT_STATS(w, s, s.pods == 0);
        pod_workers_kick_runtime(w, "uid-4", 0, now_mono_us(), true);
        sleep_ms(SETTLE_MS);
        assert_int_equal(FAKE_GET(kills), 7);
        assert_int_equal(stats_of(w).pods, 0);
        assert_int_equal(FAKE_GET(overlaps), 0);
        pod_workers_free(w);
}

static void test_failed_sync_retried_after_backoff(void **state)
{
        struct pod_workers *w = new_workers(2, 0);

        FAKE_SET(fail_syncs, 1);
        int64_t t0 = now_ms();
        update_pod(w, "default", "web", "uid-1", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        WAIT_IDLE(w);

        /* Too early: a tick does not retry yet. */
        pod_workers_tick(w);
        struct pod_workers_stats s = stats_of(w);
        assert_int_equal(s.queued + s.busy, 0);
        assert_int_equal(FAKE_GET(syncs), 1);

        /* Ticks until the back-off (1 s) has passed. */
        int64_t deadline = now_ms() + WAIT_MS;
        while (FAKE_GET(syncs) < 2 && now_ms() < deadline) {
                pod_workers_tick(w);
                sleep_ms(20);
        }
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        int64_t waited = F.sync_times[1] - t0;
        if (waited < 900 || waited > 2500)
                fail_msg("retried after %lld ms, expected about 1000", (long long) waited);

        /* It succeeded: ticks bring no more syncs (no resync period). */
        WAIT_IDLE(w);
        pod_workers_tick(w);
        s = stats_of(w);
        assert_int_equal(s.queued + s.busy, 0);
        assert_int_equal(FAKE_GET(syncs), 2);
        assert_int_equal(s.pods, 1);
        assert_int_equal(s.desired, 1);

        pod_workers_free(w);
}

static void test_failed_kill_retried(void **state)
{
        struct pod_workers *w = new_workers(2, 0);

        update_pod(w, "default", "web", "uid-1", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        FAKE_SET(fail_kills, 1);
        pod_workers_update(w, "uid-1", NULL);
        WAIT_FAKE(F.kills == 1 && F.in_kill == 0);
        WAIT_IDLE(w);
        /* Not forgotten: the pod is still terminating, and its name still blocks a successor. */
        struct pod_workers_stats s = stats_of(w);
        assert_int_equal(s.pods, 1);
        assert_int_equal(s.terminating, 1);
        update_pod(w, "default", "web", "uid-2", 30);

        int64_t deadline = now_ms() + WAIT_MS;
        while (FAKE_GET(kills) < 2 && now_ms() < deadline) {
                pod_workers_tick(w);
                sleep_ms(20);
        }
        WAIT_FAKE(F.kills == 2 && F.in_kill == 0);
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        assert_string_equal(F.last_sync_uid, "uid-2");
        assert_true(event_index("sync:uid-2") > 0);
        WAIT_STATS(w, s2, s2.pods == 1 && s2.desired == 1 && s2.terminating == 0);
        /* Killed twice, then the successor started: in that order. */
        assert_true(event_last("killed:uid-1") >= 0);
        assert_true(event_last("killed:uid-1") < event_index("sync:uid-2"));

        pod_workers_free(w);
}

static void test_readd_while_terminating(void **state)
{
        struct pod_workers *w = new_workers(2, 0);

        update_pod(w, "default", "web", "uid-1", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        FAKE_SET(hold_kill, true);
        pod_workers_update(w, "uid-1", NULL);
        WAIT_FAKE(F.in_kill == 1);
        /* The source wants it back before the kill finished: sync once the kill is done; keep it. */
        update_pod(w, "default", "web", "uid-1", 30);
        FAKE_SET(hold_kill, false);
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        WAIT_IDLE(w);
        struct pod_workers_stats s = stats_of(w);
        assert_int_equal(s.pods, 1);
        assert_int_equal(s.desired, 1);
        assert_int_equal(FAKE_GET(kills), 1);
        /* The first sync, then the kill, then the sync again. */
        assert_int_equal(event_index("sync:uid-1"), 0);
        assert_true(event_index("kill:uid-1") > 0);
        assert_true(event_last("sync:uid-1") > event_index("killed:uid-1"));
        assert_int_equal(FAKE_GET(overlaps), 0);

        pod_workers_free(w);
}

static void test_resync_and_requeue(void **state)
{
        struct pod_workers *w = new_workers(2, 50);

        update_pod(w, "default", "a", "uid-a", 30);
        update_pod(w, "default", "b", "uid-b", 30);
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        WAIT_IDLE(w);
        /* After the resync period every pod is synced again. */
        int64_t deadline = now_ms() + WAIT_MS;
        while (FAKE_GET(syncs) < 4 && now_ms() < deadline) {
                pod_workers_tick(w);
                sleep_ms(10);
        }
        WAIT_FAKE(F.syncs >= 4 && F.in_sync == 0);
        /* Those are periodic (the runtime listing the resyncs share serves them); the first two were not. */
        assert_int_equal(FAKE_GET(periodic_syncs), FAKE_GET(syncs) - 2);
        pod_workers_free(w);

        /* A sync may ask to be looked at again soon (requeue_ms), without a resync period. */
        memset(F.sync_times, 0, sizeof F.sync_times);
        pthread_mutex_lock(&F.lock);
        F.syncs = 0;
        F.periodic_syncs = 0;
        F.requeue_ms = 30;
        pthread_mutex_unlock(&F.lock);
        w = new_workers(1, 0);
        update_pod(w, "default", "a", "uid-a", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        FAKE_SET(requeue_ms, 0);
        deadline = now_ms() + WAIT_MS;
        while (FAKE_GET(syncs) < 2 && now_ms() < deadline) {
                pod_workers_tick(w);
                sleep_ms(5);
        }
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        assert_true(F.sync_times[1] - F.sync_times[0] >= 25);
        assert_int_equal(FAKE_GET(periodic_syncs), 0); /* asked for: never periodic */
        pod_workers_free(w);
}

/* A pod's deadline brings its next sync forward even after a failed sync (whose back-off is 1 s). */
static void test_deadline_wakes_failed_sync(void **state)
{
        struct pod_workers *w = new_workers(1, 0);

        memset(F.sync_times, 0, sizeof F.sync_times);
        pthread_mutex_lock(&F.lock);
        F.syncs = 0;
        F.fail_syncs = 1;
        F.deadline_ms = 150;
        pthread_mutex_unlock(&F.lock);
        update_pod(w, "default", "a", "uid-a", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        FAKE_SET(deadline_ms, 0);
        int64_t deadline = now_ms() + WAIT_MS;
        while (FAKE_GET(syncs) < 2 && now_ms() < deadline) {
                pod_workers_tick(w);
                sleep_ms(5);
        }
        WAIT_FAKE(F.syncs == 2 && F.in_sync == 0);
        int64_t waited = F.sync_times[1] - F.sync_times[0];
        if (waited < 140 || waited > 800)
                fail_msg("synced again after %lld ms, expected about 150", (long long) waited);
        pod_workers_free(w);
}

/* Every pod progresses at once (#17): with one thread kept, eight pods held in their syncs all run at once,
 * each UID alone, and updates that come meanwhile are coalesced into one more sync each. */
static void test_every_pod_at_once(void **state)
{
        struct pod_workers *w = new_workers(1, 0);
        char uid[8][16];

        FAKE_SET(hold_sync, true);
        for (int i = 0; i < 8; i++) {
                char name[16];
                snprintf(uid[i], sizeof uid[i], "uid-%d", i);
                snprintf(name, sizeof name, "pod-%d", i);
                update_pod(w, "default", name, uid[i], 30);
        }
        WAIT_FAKE(F.in_sync == 8);
        /* More updates for all of them while they wait. */
        for (int i = 0; i < 8; i++)
                pod_workers_kick(w, uid[i]);
        struct pod_workers_stats s = stats_of(w);
        assert_int_equal(s.pods, 8);
        assert_int_equal(s.busy, 8);
        assert_int_equal(s.queued, 0);
        FAKE_SET(hold_sync, false);
        /* Each syncs twice: the kicks came while it ran. */
        WAIT_FAKE(F.syncs == 16 && F.in_sync == 0);
        WAIT_IDLE(w);
        assert_int_equal(FAKE_GET(syncs), 16);
        assert_int_equal(FAKE_GET(max_in_flight), 8);
        assert_int_equal(FAKE_GET(overlaps), 0);

        /* Freeing with pods known kills nothing. */
        pod_workers_free(w);
        assert_int_equal(FAKE_GET(kills), 0);
}

/* A pod's slow teardown (a long grace period) delays no other pod's start or teardown. */
static void test_teardown_delays_no_one(void **state)
{
        struct pod_workers *w = new_workers(1, 0);
        update_pod(w, "default", "slow", "uid-slow", 30);
        WAIT_FAKE(F.syncs == 1 && F.in_sync == 0);
        WAIT_IDLE(w);
        FAKE_SET(hold_kill, true);
        pod_workers_update(w, "uid-slow", NULL); /* its kill is held: a 30 s grace period */
        WAIT_FAKE(F.in_kill == 1);
        update_pod(w, "default", "fast", "uid-fast", 30);
        WAIT_FAKE(F.syncs == 2 && streq(F.last_sync_uid, "uid-fast"));
        assert_int_equal(FAKE_GET(in_kill), 1);
        FAKE_SET(hold_kill, false);
        WAIT_FAKE(F.kills == 1 && F.in_kill == 0);
        WAIT_IDLE(w);
        pod_workers_free(w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_update_runs_sync, setup, teardown),
                cmocka_unit_test_setup_teardown(test_updates_coalesce, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_kills_and_forgets, setup, teardown),
                cmocka_unit_test_setup_teardown(test_same_name_waits_for_termination, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kick_orphans_after_sources_ready, setup, teardown),
                cmocka_unit_test_setup_teardown(test_runtime_kick_skips_synced_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exit_kick, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kill_ignores_own_changes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gone_after_kill, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_sync_retried_after_backoff, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_kill_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_readd_while_terminating, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resync_and_requeue, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deadline_wakes_failed_sync, setup, teardown),
                cmocka_unit_test_setup_teardown(test_every_pod_at_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_teardown_delays_no_one, setup, teardown),
                cmocka_unit_test_setup_teardown(test_same_name_waits_for_reclaim_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_removal_during_kill_runs_one_kill, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
