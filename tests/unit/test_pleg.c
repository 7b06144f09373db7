/* PLEG health as /healthz judges it: the runtime's last relist, and upstream's thresholds (3 minutes; 10
 * while events flow). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "exits.h"
#include "macro.h"
#include "pleg.h"
#include "util.h"

static void test_healthy(void **state)
{
        struct pleg_health h = {.relist_ok = true, .last_ok_ms = 1000, .last_relist_ms = 1000};
        char buf[512];
        assert_true(pleg_health_check(&h, 2000, "unix:///x.sock", buf, sizeof buf));
        assert_string_equal(buf, "[+]runtime ok\n");
}

static void test_runtime_down(void **state)
{
        struct pleg_health h = {.relist_ok = false, .last_ok_ms = 1000};
        char buf[512];
        strcpy(h.error, "ListPodSandbox: rpc error: code = Unavailable desc = connection refused");
        assert_false(pleg_health_check(&h, 2000, "unix:///x.sock", buf, sizeof buf));
        assert_non_null(strstr(buf,
                               "[-]runtime failed: container runtime unix:///x.sock: ListPodSandbox: rpc "
                               "error: code = Unavailable"));
        assert_null(strstr(buf, "PLEG is not healthy")); /* not for 3 minutes */
}

static void test_pleg_not_healthy_after_three_minutes(void **state)
{
        struct pleg_health h = {.relist_ok = false, .last_ok_ms = 1000};
        char buf[512];
        strcpy(h.error, "deadline exceeded");
        int64_t now = 1000 + PLEG_RELIST_THRESHOLD_MS + 5000;
        assert_false(pleg_health_check(&h, now, "unix:///x.sock", buf, sizeof buf));
        assert_non_null(strstr(buf,
                               "[-]pleg failed: PLEG is not healthy: pleg was last seen active 185s ago; "
                               "threshold is 3m0s"));
        /* Exactly at the threshold it is still healthy, as upstream (strictly greater). */
        h.relist_ok = true;
        assert_true(pleg_health_check(&h, 1000 + PLEG_RELIST_THRESHOLD_MS, "e", buf, sizeof buf));
}

/* The relist period: long only while events flow, the last relist succeeded, nothing listed is in a state
 * containerd may leave without an event (CRI: CREATED 0, RUNNING 1, EXITED 2, UNKNOWN 3), and the quick
 * window after the last event is over. */
static void test_period(void **state)
{
        struct pleg_config cfg = {.period_ms = 1000, .evented_period_ms = 300000};
        assert_int_equal(pleg_period(&cfg, true, true, false, 5000, 4000), 300000);
        assert_int_equal(pleg_period(&cfg, false, true, false, 5000, 4000), 1000); /* stream down */
        assert_int_equal(pleg_period(&cfg, true, false, false, 5000, 4000), 1000); /* relist failed */
        assert_int_equal(pleg_period(&cfg, true, true, true, 5000, 4000), 1000);   /* created or unknown */
        assert_int_equal(pleg_period(&cfg, true, true, false, 5000, 6000), 1000);  /* an event just now */
        /* A long fallback period (--pleg-relist-period 300s): still a second while an exit is awaited. */
        struct pleg_config slow = {.period_ms = 300000, .evented_period_ms = 300000};
        assert_int_equal(pleg_period(&slow, true, true, true, 5000, 4000), PLEG_QUICK_PERIOD_MAX_MS);
        assert_int_equal(pleg_period(&slow, true, true, false, 5000, 6000), PLEG_QUICK_PERIOD_MAX_MS);
        assert_int_equal(pleg_period(&slow, true, true, false, 5000, 4000), 300000);
        assert_int_equal(pleg_period(&slow, false, true, true, 5000, 6000), 300000); /* stream down */
        assert_int_equal(pleg_period(&slow, true, false, false, 5000, 4000), PLEG_QUICK_PERIOD_MAX_MS);
        assert_true(pleg_state_transient(0));
        assert_false(pleg_state_transient(1));
        assert_false(pleg_state_transient(2));
        assert_true(pleg_state_transient(3));
}

/* The pause after a relist: twice its length, at least 20 ms, never more than the period. */
static void test_relist_pause(void **state)
{
        assert_int_equal(pleg_relist_pause(0, 1000), PLEG_RELIST_MIN_PAUSE_MS);
        assert_int_equal(pleg_relist_pause(5, 1000), PLEG_RELIST_MIN_PAUSE_MS);
        assert_int_equal(pleg_relist_pause(40, 1000), 80);
        assert_int_equal(pleg_relist_pause(700, 1000), 1000);
        assert_int_equal(pleg_relist_pause(40, 10), 10); /* a period shorter than the minimum */
}

/* The next relist: a period after the last one began, or the short period after the first event since
 * (an idle node's last relist is minutes old: an event the workers have relists a second later, not at
 * once, and not 5 minutes later once the quick window has closed); a kick or a quick relist at once after
 * the pause. */
static void test_relist_deadline(void **state)
{
        assert_int_equal(pleg_relist_deadline(1000, 1010, 0, 1000, 1000, false), 2000);
        assert_int_equal(pleg_relist_deadline(1000, 1010, 0, 300000, 1000, false), 301000);
        /* an event 5 minutes later, the period short again: a second after the event */
        assert_int_equal(pleg_relist_deadline(1000, 1010, 300000, 1000, 1000, false), 301000);
        /* the same once the quick window closed (the period long again): still a second after the event */
        assert_int_equal(pleg_relist_deadline(1000, 1010, 300000, 300000, 1000, false), 301000);
        /* an event soon after a relist, the period short: a short period after the event */
        assert_int_equal(pleg_relist_deadline(1000, 1010, 1200, 1000, 1000, false), 2200);
        assert_int_equal(pleg_relist_deadline(1000, 1010, 300000, 1000, 1000, true),
                         1010 + PLEG_RELIST_MIN_PAUSE_MS);
        /* a long relist: the pause after it first */
        assert_int_equal(pleg_relist_deadline(1000, 1400, 0, 1000, 1000, true), 2200);
        assert_int_equal(pleg_relist_deadline(1000, 1900, 0, 1000, 1000, false), 2900);
        assert_int_equal(pleg_relist_deadline(1000, 1900, 1950, 300000, 1000, false),
                         3700); /* twice 900 ms */
}

/* An exit containerd published is awaited until the listing shows it: the container no longer RUNNING,
 * the sandbox no longer READY, or either gone. */
static void test_exit_pending(void **state)
{
        Runtime__V1__Container c[2] = {RUNTIME__V1__CONTAINER__INIT, RUNTIME__V1__CONTAINER__INIT};
        Runtime__V1__PodSandbox s = RUNTIME__V1__POD_SANDBOX__INIT;
        const Runtime__V1__Container *cs[] = {&c[0], &c[1]};
        const Runtime__V1__PodSandbox *ss[] = {&s};
        c[0].id = "aaa";
        c[0].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        c[1].id = "bbb";
        c[1].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
        s.id = "sss";
        s.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        assert_true(pleg_exit_pending("aaa", ss, 1, cs, 2));  /* the plugin has not applied it yet */
        assert_false(pleg_exit_pending("bbb", ss, 1, cs, 2)); /* it has */
        assert_true(pleg_exit_pending("sss", ss, 1, cs, 2));  /* the sandbox's pause exited */
        assert_false(pleg_exit_pending("zzz", ss, 1, cs, 2)); /* removed already */
        assert_false(pleg_exit_pending("aaa", ss, 1, cs, 0));
        c[0].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
        assert_false(pleg_exit_pending("aaa", ss, 1, cs, 2)); /* UNKNOWN keeps the short period anyway */
        s.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
        assert_false(pleg_exit_pending("sss", ss, 1, cs, 2));
}

/* Exits the event stream told of before CRI lists them: given out as CRI will report them (the reason from
 * the exit code, OOMKilled after an OOM event, none for a SIGKILL without one); a sync's listing counts them
 * exited; a listing that shows them settles them and names the pods whose statuses were made from them. */
/* A settle after a whole-node listing that went out 50 ms before now_ms (after the events it is to settle). */
static bool settle_at(struct runtime_exits *t, const Runtime__V1__ListPodSandboxResponse *sl,
                      const Runtime__V1__ListContainersResponse *l, int64_t now_ms, char ***settled)
{
        return runtime_exits_settle(t, sl, l, now_ms - 50, now_ms, 10000, settled);
}

static void test_runtime_exits(void **state)
{
        (void) state;
        struct runtime_exits *t = runtime_exits_new();
        struct runtime_exit x;
        Runtime__V1__Container__LabelsEntry lab = RUNTIME__V1__CONTAINER__LABELS_ENTRY__INIT;
        lab.key = PLEG_POD_UID_LABEL;
        lab.value = "uid-1";
        Runtime__V1__Container__LabelsEntry *labs[] = {&lab};
        Runtime__V1__Container c[5];
        Runtime__V1__Container *cs[5];
        const char *ids[] = {"err", "ok", "kill", "oomkill", "created"};
        for (int i = 0; i < 5; i++) {
                c[i] = (Runtime__V1__Container) RUNTIME__V1__CONTAINER__INIT;
                c[i].id = (char *) ids[i];
                c[i].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                c[i].labels = labs;
                c[i].n_labels = 1;
                cs[i] = &c[i];
        }
        c[4].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
        Runtime__V1__ListContainersResponse l = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;
        l.containers = cs;
        l.n_containers = 5;
        Runtime__V1__ListPodSandboxResponse sl = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;

        assert_false(runtime_exits_get(NULL, "err", &x));
        assert_false(runtime_exits_get(t, "err", &x));
        struct ctd_event ev = {.kind = CTD_EVENT_TASK_EXIT,
                               .container_id = "err",
                               .exit_status = 2,
                               .exited_at_ns = 1700000000123456789LL};
        runtime_exits_note(t, &ev, 1000);
        assert_true(runtime_exits_get(t, "err", &x));
        assert_int_equal(x.code, 2);
        assert_int_equal(x.finished_ns, 1700000000123456789LL);
        assert_string_equal(x.reason, "Error");
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_EXIT, .container_id = "ok", .exited_at_ns = 5};
        runtime_exits_note(t, &ev, 1000);
        assert_true(runtime_exits_get(t, "ok", &x));
        assert_string_equal(x.reason, "Completed");
        /* SIGKILL: the OOM killer's event may come after its exit; CRI says which */
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_EXIT, .container_id = "kill", .exit_status = 137};
        runtime_exits_note(t, &ev, 1000);
        assert_true(runtime_exits_get(t, "kill", &x));
        assert_int_equal(x.code, 137);
        assert_null(x.reason);
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_OOM, .container_id = "oomkill"};
        runtime_exits_note(t, &ev, 1000);
        assert_false(runtime_exits_get(t, "oomkill", &x)); /* an OOM alone: it may live on */
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_EXIT, .container_id = "oomkill", .exit_status = 137};
        runtime_exits_note(t, &ev, 1000);
        assert_true(runtime_exits_get(t, "oomkill", &x));
        assert_string_equal(x.reason, "OOMKilled");
        assert_int_equal(x.code, 137);
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_START, .container_id = "created"};
        runtime_exits_note(t, &ev, 1000); /* not an exit */
        assert_false(runtime_exits_get(t, "created", &x));

        /* A listing counts them exited. */
        runtime_exits_apply(NULL, &l);
        assert_int_equal(c[0].state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
        runtime_exits_apply(t, &l);
        assert_int_equal(c[0].state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
        assert_int_equal(c[1].state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
        assert_int_equal(c[2].state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
        assert_int_equal(c[3].state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
        assert_int_equal(c[4].state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED);
        /* Statuses made from three of them. */
        assert_true(runtime_exits_get_for_status(t, "err", &x));
        assert_true(runtime_exits_get_for_status(t, "kill", &x));
        assert_true(runtime_exits_get_for_status(t, "oomkill", &x));
        assert_false(runtime_exits_get_for_status(t, "created", &x));

        /* The runtime lists "err" exited, "ok" gone, the others still running: "err"'s pod syncs again. */
        char **settled = NULL;
        c[1].id = "other";
        c[2].state = c[3].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        assert_true(settle_at(t, &sl, &l, 2000, &settled));
        assert_int_equal(strv_length(settled), 1);
        assert_string_equal(settled[0], "uid-1");
        settled = strv_free(settled);
        /* Shown exits stay a while: a sync that asked CRI before this listing still counts them. */
        assert_true(runtime_exits_get(t, "err", &x));
        assert_true(runtime_exits_get(t, "ok", &x));
        assert_true(runtime_exits_get(t, "oomkill", &x));
        /* Then all shown: nothing awaited; the pod syncs again (once per container, once). */
        c[2].state = c[3].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
        assert_false(settle_at(t, &sl, &l, 3000, &settled));
        assert_int_equal(strv_length(settled), 2);
        settled = strv_free(settled);
        /* Listed: a status is no longer made from it (CRI has it; the caller asks again), and no more syncs. */
        assert_false(runtime_exits_get_for_status(t, "err", &x));
        assert_true(runtime_exits_get(t, "err", &x));
        assert_false(settle_at(t, &sl, &l, 3100, &settled));
        assert_null(settled); /* "err" had its sync already */
        assert_false(settle_at(t, &sl, &l, 2000 + RUNTIME_EXITS_KEEP_MS, NULL));
        assert_false(runtime_exits_get(t, "err", &x));
        assert_false(runtime_exits_get(t, "ok", &x));
        assert_true(runtime_exits_get(t, "kill", &x));
        assert_false(settle_at(t, &sl, &l, 3000 + RUNTIME_EXITS_KEEP_MS, NULL));
        assert_false(runtime_exits_get(t, "kill", &x));
        assert_false(runtime_exits_get(t, "oomkill", &x));

        /* An exit no status was made from settles without a sync. A sync that asked CRI before that listing
         * (RUNNING) and looks here after it makes no status from the exit: no listing would bring its pod
         * back (the PLEG's quick relists are over), so it asks CRI again, which has the exit now. */
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_EXIT, .container_id = "err", .exit_status = 1};
        runtime_exits_note(t, &ev, 3500);
        assert_true(runtime_exits_get(t, "err", &x));
        assert_false(settle_at(t, &sl, &l, 3600, &settled));
        assert_null(settled);
        assert_true(runtime_exits_get(t, "err", &x));
        assert_false(runtime_exits_get_for_status(t, "err", &x));
        assert_false(settle_at(t, &sl, &l, 3700, &settled));
        assert_null(settled);

        /* An OOM the container survives stays while it runs, however long (CRI keeps OOMKilled for good),
         * and is no exit awaited. */
        c[2].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_OOM, .container_id = "kill"};
        runtime_exits_note(t, &ev, 4000);
        assert_false(settle_at(t, &sl, &l, 5000, NULL));
        assert_false(settle_at(t, &sl, &l, 5000 + RUNTIME_EXITS_MAX_MS, NULL));
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_EXIT, .container_id = "kill", .exit_status = 137};
        runtime_exits_note(t, &ev, 6000);
        assert_true(runtime_exits_get(t, "kill", &x));
        assert_string_equal(x.reason, "OOMKilled");
        /* An exit the listing never shows is given up after RUNTIME_EXITS_MAX_MS. */
        assert_true(settle_at(t, &sl, &l, 6000 + RUNTIME_EXITS_MAX_MS - 1, NULL));
        assert_false(settle_at(t, &sl, &l, 6000 + RUNTIME_EXITS_MAX_MS, NULL));
        assert_false(runtime_exits_get(t, "kill", &x));
        assert_false(runtime_exits_get(t, "err", &x));

        /* At most RUNTIME_EXITS_MAX at once; those listings show already make room. */
        char id[32];
        for (int i = 0; i <= RUNTIME_EXITS_MAX; i++) {
                snprintf(id, sizeof id, "c%d", i);
                ev = (struct ctd_event){.kind = CTD_EVENT_TASK_EXIT, .container_id = id, .exit_status = 1};
                runtime_exits_note(t, &ev, 7000);
        }
        assert_true(runtime_exits_get(t, "c0", &x));
        snprintf(id, sizeof id, "c%d", RUNTIME_EXITS_MAX - 1);
        assert_true(runtime_exits_get(t, id, &x));
        snprintf(id, sizeof id, "c%d", RUNTIME_EXITS_MAX);
        assert_false(runtime_exits_get(t, id, &x));
        assert_false(settle_at(t, &sl, &l, 7100, NULL)); /* all gone: shown */
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_EXIT, .container_id = "fresh", .exit_status = 1};
        runtime_exits_note(t, &ev, 7200);
        assert_true(runtime_exits_get(t, "fresh", &x));
        assert_false(runtime_exits_get(t, "c0", &x));
        assert_null(runtime_exits_free(t));
}

/* Two or three containers of a pod that change state between two relists always change the pod's
 * fingerprint (the sum of its objects' hashes): with plain FNV-1a sums, two containers exiting together
 * cancelled out about one time in four. */
/* A container started and exited while a relist was under way is not in that listing: not gone. Its exit
 * stays awaited (a status is still made from it) until a listing that went out after the event. */
static void test_runtime_exits_listing_older_than_the_exit(void **state)
{
        (void) state;
        struct runtime_exits *t = runtime_exits_new();
        struct runtime_exit x;
        char **settled = NULL;
        Runtime__V1__ListContainersResponse none = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;
        Runtime__V1__ListPodSandboxResponse sl = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;
        struct ctd_event ev = {.kind = CTD_EVENT_TASK_EXIT, .container_id = "quick", .exit_status = 3};
        runtime_exits_note(t, &ev, 8000);
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_OOM, .container_id = "oom"};
        runtime_exits_note(t, &ev, 8000);
        /* The listing went out before the events (and at the same millisecond): neither settled. */
        assert_true(runtime_exits_settle(t, &sl, &none, 7990, 8010, 10000, &settled));
        assert_true(runtime_exits_settle(t, &sl, &none, 8000, 8010, 10000, &settled));
        assert_null(settled);
        assert_true(runtime_exits_get_for_status(t, "quick", &x));
        assert_int_equal(x.code, 3);
        assert_string_equal(x.reason, "Error");
        /* The OOM of a container the old listing did not have stays too: its exit takes the reason. */
        ev = (struct ctd_event){.kind = CTD_EVENT_TASK_EXIT, .container_id = "oom", .exit_status = 137};
        runtime_exits_note(t, &ev, 8020);
        assert_true(runtime_exits_get(t, "oom", &x));
        assert_string_equal(x.reason, "OOMKilled");
        /* A listing after both events without them: gone, nothing awaited; no status from them any more. */
        assert_false(runtime_exits_settle(t, &sl, &none, 8021, 8030, 10000, &settled));
        assert_null(settled);
        assert_false(runtime_exits_get_for_status(t, "quick", &x));
        assert_false(runtime_exits_get_for_status(t, "oom", &x));
        assert_null(runtime_exits_free(t));
}

static void test_fingerprint_changes(void **state)
{
        (void) state;
        uint64_t x = 0x9e3779b97f4a7c15ULL;
        char ids[3][65];
        for (int round = 0; round < 4000; round++) {
                for (int k = 0; k < 3; k++) {
                        for (int i = 0; i < 64; i++) {
                                x ^= x << 13;
                                x ^= x >> 7;
                                x ^= x << 17;
                                ids[k][i] = "0123456789abcdef"[x & 15];
                        }
                        ids[k][64] = 0;
                }
                int from = round % 2 ? 1 /* RUNNING */ : 0 /* CREATED */, to = from + 1;
                uint64_t before2 = pleg_object_hash(ids[0], from) + pleg_object_hash(ids[1], from);
                uint64_t after2 = pleg_object_hash(ids[0], to) + pleg_object_hash(ids[1], to);
                assert_true(before2 != after2);
                uint64_t before3 = before2 + pleg_object_hash(ids[2], from);
                uint64_t after3 = after2 + pleg_object_hash(ids[2], to);
                assert_true(before3 != after3);
                /* one exits, another one starts */
                assert_true(pleg_object_hash(ids[0], 1) + pleg_object_hash(ids[1], 0) !=
                            pleg_object_hash(ids[0], 2) + pleg_object_hash(ids[1], 1));
        }
        /* any ID length: the state still counts */
        char long_id[400];
        memset(long_id, 'a', sizeof long_id - 1);
        long_id[sizeof long_id - 1] = 0;
        assert_true(pleg_object_hash(long_id, 1) != pleg_object_hash(long_id, 2));
}

static const struct pleg_pod *pod_named(const struct pleg_pod *pods, size_t n, const char *uid)
{
        for (size_t i = 0; i < n; i++)
                if (streq(pods[i].uid, uid))
                        return &pods[i];
        return NULL;
}

/* The relist groups a listing's objects by pod (in any order), with the fingerprint pleg_pod_fingerprint
 * gives, and reports the pods new, changed or gone since the last listing, gone ones flagged. */
static void test_group_and_diff(void **state)
{
        (void) state;
        enum { CREATED = 0, RUNNING = 1, EXITED = 2, READY = PLEG_SANDBOX_STATE_BASE };
        struct pleg_object one[] = {
                {.uid = "u3", .id = "s3", .state = READY, .sandbox = true},
                {.uid = "u1", .id = "c1", .state = RUNNING},
                {.uid = "u2", .id = "c2", .state = RUNNING},
                {.uid = "u1", .id = "s1", .state = READY, .sandbox = true},
                {.uid = "u2", .id = "s2", .state = READY, .sandbox = true},
                {.uid = "u1", .id = "c1b", .state = CREATED},
        };
        size_t n1, n2;
        struct pleg_pod *a = pleg_group(one, ELEMENTSOF(one), &n1);
        assert_int_equal(n1, 3);
        assert_string_equal(a[0].uid, "u1");
        assert_string_equal(a[1].uid, "u2");
        assert_string_equal(a[2].uid, "u3");
        for (size_t i = 0; i < ELEMENTSOF(one); i++)
                assert_string_equal(a[one[i].pod].uid, one[i].uid);

        /* The same fingerprint as the syncs compute from their own pod's listing. */
        Runtime__V1__PodSandbox sb = RUNTIME__V1__POD_SANDBOX__INIT;
        Runtime__V1__Container c1 = RUNTIME__V1__CONTAINER__INIT, c1b = RUNTIME__V1__CONTAINER__INIT;
        sb.id = "s1";
        sb.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        c1.id = "c1";
        c1.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        c1b.id = "c1b";
        c1b.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
        const Runtime__V1__PodSandbox *sbs[] = {&sb};
        const Runtime__V1__Container *cs[] = {&c1b, &c1};
        assert_true(a[0].fingerprint == pleg_pod_fingerprint(sbs, 1, cs, 2));
        assert_true(a[0].fingerprint != 0);

        /* u1 unchanged (listed in another order), u2's container exited, u3 gone, u4 new. */
        struct pleg_object two[] = {
                {.uid = "u4", .id = "s4", .state = READY, .sandbox = true},
                {.uid = "u1", .id = "c1b", .state = CREATED},
                {.uid = "u2", .id = "s2", .state = READY, .sandbox = true},
                {.uid = "u1", .id = "s1", .state = READY, .sandbox = true},
                {.uid = "u2", .id = "c2", .state = EXITED},
                {.uid = "u1", .id = "c1", .state = RUNNING},
        };
        struct pleg_pod *b = pleg_group(two, ELEMENTSOF(two), &n2);
        assert_int_equal(n2, 3);
        assert_true(pod_named(b, n2, "u1")->fingerprint == a[0].fingerprint);
        struct pleg_change ch[8];
        size_t n = pleg_diff(a, n1, b, n2, ch);
        assert_int_equal(n, 3);
        assert_string_equal(ch[0].uid, "u2");
        assert_false(ch[0].gone);
        assert_true(ch[0].fingerprint == pod_named(b, n2, "u2")->fingerprint);
        assert_true(ch[0].fingerprint != pod_named(a, n1, "u2")->fingerprint);
        assert_string_equal(ch[1].uid, "u3");
        assert_true(ch[1].gone);
        assert_true(ch[1].fingerprint == 0);
        assert_string_equal(ch[2].uid, "u4");
        assert_false(ch[2].gone);
        assert_true(ch[2].fingerprint == pod_named(b, n2, "u4")->fingerprint);

        /* From nothing everything is new; to nothing everything is gone; nothing to nothing: no change. */
        assert_int_equal(pleg_diff(NULL, 0, b, n2, ch), 3);
        assert_false(ch[0].gone || ch[1].gone || ch[2].gone);
        assert_int_equal(pleg_diff(b, n2, NULL, 0, ch), 3);
        assert_true(ch[0].gone && ch[1].gone && ch[2].gone);
        assert_string_equal(ch[2].uid, "u4");
        assert_int_equal(pleg_diff(b, n2, b, n2, ch), 0);
        size_t n0;
        struct pleg_pod *none = pleg_group(NULL, 0, &n0);
        assert_int_equal(n0, 0);
        assert_int_equal(pleg_diff(none, n0, none, n0, ch), 0);
        pleg_pods_free(none, n0);
        pleg_pods_free(a, n1);
        pleg_pods_free(b, n2);
}

/* While events flow the relist is rare and the threshold longer (upstream's evented PLEG: 10 minutes for a
 * 5-minute period), printed as Go prints a duration. */
static void test_evented_threshold(void **state)
{
        struct pleg_health h = {
                .relist_ok = true, .last_ok_ms = 1000, .threshold_ms = 2 * PLEG_EVENTED_PERIOD_MS};
        char buf[512];
        assert_true(pleg_health_check(&h, 1000 + PLEG_EVENTED_PERIOD_MS + 5000, "e", buf, sizeof buf));
        assert_string_equal(buf, "[+]runtime ok\n");
        assert_false(pleg_health_check(&h, 1000 + 2 * PLEG_EVENTED_PERIOD_MS + 1000, "e", buf, sizeof buf));
        assert_non_null(strstr(buf, "pleg was last seen active 601s ago; threshold is 10m0s"));
        h.threshold_ms = 2 * 3600 * 1000 + 61 * 1000;
        assert_false(pleg_health_check(&h, 1000 + h.threshold_ms + 1, "e", buf, sizeof buf));
        assert_non_null(strstr(buf, "threshold is 2h1m1s"));
        h.threshold_ms = 45 * 1000;
        assert_false(pleg_health_check(&h, 1000 + h.threshold_ms + 1, "e", buf, sizeof buf));
        assert_non_null(strstr(buf, "threshold is 45s"));
}

/* The stream went down 4 minutes after the last (long-period) relist: the 3 minutes count from the fall-back,
 * not from that relist; the Node's Ready message is the same text. */
static void test_fallback_threshold(void **state)
{
        int64_t t0 = 1000, down = t0 + 240 * 1000;
        struct pleg_health h = {.relist_ok = false,
                                .last_ok_ms = t0,
                                .fallback_ms = down,
                                .threshold_ms = PLEG_RELIST_THRESHOLD_MS};
        char buf[512], stale[256];
        strcpy(h.error, "connection refused");
        assert_false(pleg_health_stale(&h, down + 1000, stale, sizeof stale));
        assert_false(pleg_health_check(&h, down + 1000, "e", buf, sizeof buf)); /* the runtime is down */
        assert_null(strstr(buf, "PLEG is not healthy"));
        assert_true(pleg_health_stale(&h, down + PLEG_RELIST_THRESHOLD_MS + 1000, stale, sizeof stale));
        assert_string_equal(stale,
                            "PLEG is not healthy: pleg was last seen active 421s ago; threshold is 3m0s");
}

static void test_small_buffer(void **state)
{
        struct pleg_health h = {.relist_ok = false, .last_ok_ms = 1};
        char buf[8];
        strcpy(h.error, "a long error message that does not fit");
        assert_false(pleg_health_check(&h, PLEG_RELIST_THRESHOLD_MS * 2, "e", buf, sizeof buf));
        assert_int_equal(strlen(buf), sizeof buf - 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_healthy),
                cmocka_unit_test(test_runtime_down),
                cmocka_unit_test(test_pleg_not_healthy_after_three_minutes),
                cmocka_unit_test(test_evented_threshold),
                cmocka_unit_test(test_period),
                cmocka_unit_test(test_relist_pause),
                cmocka_unit_test(test_relist_deadline),
                cmocka_unit_test(test_exit_pending),
                cmocka_unit_test(test_runtime_exits),
                cmocka_unit_test(test_runtime_exits_listing_older_than_the_exit),
                cmocka_unit_test(test_fingerprint_changes),
                cmocka_unit_test(test_group_and_diff),
                cmocka_unit_test(test_fallback_threshold),
                cmocka_unit_test(test_small_buffer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
