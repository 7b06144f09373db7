/* The eviction manager's pure parts: thresholds, signals from a Summary, the threshold and condition state
 * (grace periods, minimum reclaim, the transition period), ranking, messages, admission. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "eviction.h"
#include "node.h"
#include "pod.h"
#include "rank.h"
#include "signals.h"
#include "thresholds.h"
#include "util.h"

#define MI (1LL << 20)
#define GI (1LL << 30)

static struct pod *mk_pod(const char *uid, const char *source, const char *spec)
{
        json_error_t jerr;
        json_t *s = json_loads(spec, 0, &jerr);
        if (!s)
                fail_msg("bad spec JSON: %s: %s", jerr.text, spec);
        json_t *obj = json_pack("{s:{s:s, s:s, s:s, s:{s:s}}, s:o}", "metadata", "name", uid, "namespace",
                                "default", "uid", uid, "annotations", "kubernetes.io/config.source", source,
                                "spec", s);
        pod_json_apply_defaults(obj);
        struct api_problems pr = {0};
        struct pod *p = pod_from_json(obj, &pr);
        json_decref(obj);
        if (!p) {
                _cleanup_free_ char *e = api_problems_errors(&pr);
                fail_msg("pod does not decode: %s", e);
        }
        api_problems_clear(&pr);
        return p;
}

static int parse(char **hard, char **soft, char **grace, char **reclaim, struct ev_threshold **t, size_t *n,
                 char **err)
{
        struct ev_statements st = {.hard = hard, .soft = soft, .soft_grace = grace, .min_reclaim = reclaim};
        return ev_thresholds_parse(&st, false, t, n, err);
}

static void test_parse(void **state)
{
        (void) state;
        struct ev_threshold *t = NULL;
        size_t n = 0;
        char *err = NULL;
        char *hard[] = {"memory.available=100Mi", "nodefs.available=10%", "nodefs.inodesFree=0%",
                        "imagefs.inodesFree=1000", NULL};
        assert_int_equal(parse(hard, NULL, NULL, NULL, &t, &n, &err), 0);
        assert_int_equal(n, 3); /* 0% ignored, as upstream */
        assert_int_equal(t[0].value.quantity, 100 * MI);
        assert_int_equal(t[0].grace_ms, 0);
        assert_true(t[1].value.quantity == 0 && t[1].value.fraction > 0.0999 &&
                    t[1].value.fraction < 0.1001);
        assert_int_equal(t[2].signal, EV_IMAGEFS_INODES_FREE);
        assert_int_equal(t[2].value.quantity, 1000);
        _cleanup_free_ char *f = ev_threshold_format(&t[0]), *g = ev_threshold_format(&t[1]);
        assert_string_equal(f, "memory.available<100Mi");
        assert_string_equal(g, "nodefs.available<10%");
        free(t);

        /* soft: each needs its grace period; minimum reclaim applies to both kinds */
        char *soft[] = {"memory.available=1.5Gi", NULL}, *grace[] = {"memory.available=1m30s", NULL},
             *reclaim[] = {"memory.available=0.5Gi", NULL};
        assert_int_equal(parse(hard, soft, grace, reclaim, &t, &n, &err), 0);
        assert_int_equal(n, 4);
        assert_int_equal(t[3].value.quantity, 1536 * MI);
        assert_int_equal(t[3].grace_ms, 90000);
        assert_true(t[0].has_min_reclaim && t[3].has_min_reclaim);
        assert_int_equal(t[3].min_reclaim.quantity, 512 * MI);
        free(t);
        assert_int_equal(parse(hard, soft, NULL, NULL, &t, &n, &err), -EINVAL);
        assert_string_equal(
                err, "grace period must be specified for the soft eviction threshold memory.available");
        free(err);

        /* allocatable: the hard memory.available threshold also for allocatableMemory.available */
        struct ev_statements st = {.hard = hard, .soft = soft, .soft_grace = grace};
        assert_int_equal(ev_thresholds_parse(&st, true, &t, &n, &err), 0);
        assert_int_equal(n, 5);
        assert_int_equal(t[4].signal, EV_ALLOCATABLE_MEMORY_AVAILABLE);
        assert_int_equal(t[4].value.quantity, 100 * MI);
        free(t);

        /* malformed, in upstream's words where it has them */
        static const struct {
                const char *kind, *signal, *value, *want;
        } bad[] = {
                {"hard", "memory.free", "1Gi", "unsupported eviction signal memory.free"},
                {"hard", "memory.available", "-1Gi",
                 "eviction threshold memory.available must be positive: -1Gi"},
                {"hard", "memory.available", "0", "eviction threshold memory.available must be positive: 0"},
                {"hard", "nodefs.available", "101%",
                 "eviction percentage threshold nodefs.available must be <= 100%: 101%"},
                {"hard", "nodefs.available", "-5%",
                 "eviction percentage threshold nodefs.available must be >= 0%: -5%"},
                {"hard", "nodefs.available", "x%",
                 "threshold for signal nodefs.available has an invalid percentage"},
                {"hard", "memory.available", "lots",
                 "threshold for signal memory.available has an invalid quantity"},
                {"grace", "memory.available", "-1s",
                 "invalid eviction grace period specified: -1s, must be a positive value"},
                {"grace", "memory.available", "soon",
                 "grace period for signal memory.available is not a duration"},
                {"reclaim", "nodefs.available", "0%",
                 "eviction percentage minimum reclaim nodefs.available must be positive: 0%"},
                {"reclaim", "nodefs.available", "-1Gi",
                 "negative eviction minimum reclaim specified for nodefs.available"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                _cleanup_free_ char *why = ev_statement_problem(bad[i].kind, bad[i].signal, bad[i].value);
                if (!why || !strstr(why, bad[i].want))
                        fail_msg("%s %s=%s: got \"%s\", want \"%s\"", bad[i].kind, bad[i].signal,
                                 bad[i].value, why ? why : "(none)", bad[i].want);
        }
        assert_null(ev_statement_problem("hard", "pid.available", "5%"));
        assert_null(ev_statement_problem("reclaim", "memory.available", "0Mi"));

        _cleanup_free_ char *s1 = ev_flag_statement("memory.available<100Mi");
        assert_string_equal(s1, "memory.available=100Mi");
        assert_null(ev_flag_statement("memory.available=100Mi"));
        char **def = ev_default_hard();
        assert_int_equal(strv_length(def), 4);
        assert_string_equal(def[3], "imagefs.available=15%");
        strv_free(def);
}

/* Allocatable as upstream: capacity less kube/system reserved and the hard memory.available and
 * nodefs.available thresholds (a percentage of the capacity); soft thresholds reserve nothing. */
static void test_reserved(void **state)
{
        (void) state;
        char *hard[] = {"memory.available=10%", "nodefs.available=1Gi", NULL};
        char *soft[] = {"memory.available=2Gi", NULL}, *grace[] = {"memory.available=1m", NULL};
        _cleanup_free_ struct ev_threshold *t = NULL;
        _cleanup_free_ char *err = NULL;
        size_t n = 0;
        assert_int_equal(parse(hard, soft, grace, NULL, &t, &n, &err), 0);
        struct node_reserved r;
        node_reserved_from(t, n, 500, 256 * MI, 2 * GI, &r);
        assert_int_equal(r.cpu_m, 500);
        assert_int_equal(r.memory, 256 * MI);
        assert_int_equal(ev_value_quantity(&r.evict_memory, 10 * GI), GI);
        assert_int_equal(ev_value_quantity(&r.evict_nodefs, 100 * GI), GI);

        struct node_allocatable a, none;
        node_allocatable_compute("/", "/nonexistent", &r, 110,
                                 &a); /* no pools: another test may change them */
        struct node_reserved zero = {0};
        node_allocatable_compute("/", "/nonexistent", &zero, 110, &none);
        assert_int_equal(a.pods, 110);
        assert_int_equal(none.cpu_m - a.cpu_m, 500);
        /* the total is the same in both; 10 % of it and 256Mi less (to the Ki) */
        int64_t total = none.memory;
        assert_true(llabs(none.memory - a.memory - (256 * MI + total / 10)) <= 2048);
        if (none.ephemeral > 3 * GI) /* 1Gi of nodefs.available and 2Gi reserved */
                assert_int_equal(none.ephemeral - a.ephemeral, 3 * GI);

        /* Hugepage pools: each size as upstream names it, with its pool; their sum comes off memory. */
        char dir[] = "/tmp/node-hugepages-XXXXXX";
        assert_non_null(mkdtemp(dir));
        static const char *const sizes[][2] = {{"hugepages-2048kB", "3\n"}, {"hugepages-1048576kB", "0\n"}};
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                _cleanup_free_ char *d = strdup_printf("%s/%s", dir, sizes[i][0]);
                _cleanup_free_ char *f = strdup_printf("%s/nr_hugepages", d);
                assert_int_equal(mkdir(d, 0755), 0);
                assert_int_equal(write_file_atomic(f, sizes[i][1], 2, 0644), 0);
        }
        struct node_allocatable h, no_huge;
        node_allocatable_compute("/", "/nonexistent", &zero, 110, &no_huge);
        node_allocatable_compute("/", dir, &zero, 110, &h);
        assert_int_equal(no_huge.n_hugepages, 0);
        assert_int_equal(h.n_hugepages, 2);
        assert_string_equal(h.hugepages[0].resource, "hugepages-1Gi");
        assert_int_equal(h.hugepages[0].bytes, 0);
        assert_string_equal(h.hugepages[1].resource, "hugepages-2Mi");
        assert_int_equal(h.hugepages[1].bytes, 6 * MI);
        assert_int_equal(no_huge.memory - h.memory, 6 * MI);
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                _cleanup_free_ char *d = strdup_printf("%s/%s", dir, sizes[i][0]);
                _cleanup_free_ char *f = strdup_printf("%s/nr_hugepages", d);
                unlink(f);
                rmdir(d);
        }
        rmdir(dir);

        /* no nodefs.available threshold: nothing reserved on disk */
        char *only_mem[] = {"memory.available=100Mi", NULL};
        _cleanup_free_ struct ev_threshold *t2 = NULL;
        assert_int_equal(parse(only_mem, NULL, NULL, NULL, &t2, &n, &err), 0);
        node_reserved_from(t2, n, 0, 0, 0, &r);
        assert_int_equal(ev_value_quantity(&r.evict_memory, 10 * GI), 100 * MI);
        assert_int_equal(ev_value_quantity(&r.evict_nodefs, 100 * GI), 0);
}

static void test_quantity_string(void **state)
{
        (void) state;
        char b[64];
        static const struct {
                int64_t v;
                const char *want;
        } cases[] = {{0, "0"},        {512 * MI, "512Mi"}, {512 * MI + 1, "536870913"},
                     {1536, "1536"},  {1000, "1k"},        {999, "999"},
                     {3 * GI, "3Gi"}, {1024, "1Ki"}};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                ev_quantity_string(cases[i].v, b, sizeof b);
                assert_string_equal(b, cases[i].want);
        }
}

/* A Summary as agent/server/stats.c makes it: the node's memory from the top cgroup (availableBytes =
 * MemTotal - working set, the working set = usage - total_inactive_file), the "pods" container, fs, imageFs,
 * rlimit; pods with their working set, ephemeral storage and process count. */
static const char *SUMMARY =
        "{\"node\": {\"memory\": {\"availableBytes\": 104857600, \"usageBytes\": 25769803776, "
        "\"workingSetBytes\": 25665000000},"
        " \"systemContainers\": [{\"name\": \"pods\", \"memory\": {\"availableBytes\": 2000000000, "
        "\"usageBytes\": 1200000000, \"workingSetBytes\": 1000000000}}],"
        " \"fs\": {\"availableBytes\": 5000, \"capacityBytes\": 100000, \"inodesFree\": 90, \"inodes\": "
        "1000},"
        " \"runtime\": {\"imageFs\": {\"availableBytes\": 40000, \"capacityBytes\": 100000, \"inodesFree\": "
        "900, "
        "\"inodes\": 1000}},"
        " \"rlimit\": {\"maxpid\": 4194304, \"curproc\": 4194000}},"
        " \"pods\": ["
        "  {\"podRef\": {\"uid\": \"be\"}, \"memory\": {\"workingSetBytes\": 536870912}, "
        "   \"ephemeral-storage\": {\"usedBytes\": 100, \"inodesUsed\": 5}, \"process_stats\": "
        "{\"process_count\": 3},"
        "   \"containers\": [{\"name\": \"hog\", \"memory\": {\"workingSetBytes\": 536870912}, "
        "     \"rootfs\": {\"usedBytes\": 60}, \"logs\": {\"usedBytes\": 40}}]},"
        "  {\"podRef\": {\"uid\": \"burst\"}, \"memory\": {\"workingSetBytes\": 209715200}, "
        "   \"ephemeral-storage\": {\"usedBytes\": 5000, \"inodesUsed\": 50}, \"process_stats\": "
        "{\"process_count\": 30},"
        "   \"containers\": [{\"name\": \"c\", \"memory\": {\"workingSetBytes\": 209715200}}]},"
        "  {\"podRef\": {\"uid\": \"guar\"}, \"memory\": {\"workingSetBytes\": 1073741824}, "
        "   \"ephemeral-storage\": {\"usedBytes\": 10, \"inodesUsed\": 1}, \"process_stats\": "
        "{\"process_count\": 1},"
        "   \"containers\": [{\"name\": \"c\", \"memory\": {\"workingSetBytes\": 1073741824}}]}"
        " ]}";

static void test_observe(void **state)
{
        (void) state;
        json_t *s = json_loads(SUMMARY, 0, NULL);
        assert_non_null(s);
        struct ev_observation o[EV_SIGNAL_MAX];
        ev_observe(s, o);
        assert_true(o[EV_MEMORY_AVAILABLE].present);
        assert_int_equal(o[EV_MEMORY_AVAILABLE].available, 104857600);
        assert_int_equal(o[EV_MEMORY_AVAILABLE].capacity, 104857600 + 25665000000LL);
        assert_int_equal(o[EV_ALLOCATABLE_MEMORY_AVAILABLE].capacity, 3000000000LL);
        assert_int_equal(o[EV_NODEFS_AVAILABLE].available, 5000);
        assert_int_equal(o[EV_NODEFS_INODES_FREE].capacity, 1000);
        assert_int_equal(o[EV_IMAGEFS_AVAILABLE].available, 40000);
        assert_int_equal(o[EV_IMAGEFS_INODES_FREE].available, 900);
        assert_int_equal(o[EV_PID_AVAILABLE].available, 304);

        /* thresholds against it: 10% of nodefs is 10000 > 5000 available */
        struct ev_threshold nodefs = {.signal = EV_NODEFS_AVAILABLE, .value = {.fraction = 0.10}};
        assert_true(ev_threshold_met(&nodefs, &o[EV_NODEFS_AVAILABLE], false));
        struct ev_threshold img = {.signal = EV_IMAGEFS_AVAILABLE, .value = {.fraction = 0.15}};
        assert_false(ev_threshold_met(&img, &o[EV_IMAGEFS_AVAILABLE], false));
        /* 100Mi exactly available: not below 100Mi; with a reclaim of 1Mi it is */
        struct ev_threshold mem = {.signal = EV_MEMORY_AVAILABLE,
                                   .value = {.quantity = 100 * MI},
                                   .has_min_reclaim = true,
                                   .min_reclaim = {.quantity = MI}};
        assert_false(ev_threshold_met(&mem, &o[EV_MEMORY_AVAILABLE], false));
        assert_true(ev_threshold_met(&mem, &o[EV_MEMORY_AVAILABLE], true));

        /* the memory cgroup threshold: capacity - 100Mi + inactive file (usage - working set) */
        int64_t v;
        assert_int_equal(ev_memcg_threshold(s, &mem, &v), 0);
        assert_int_equal(v, 104857600 + 25665000000LL - 100 * MI + (25769803776LL - 25665000000LL));
        struct ev_threshold alloc = {.signal = EV_ALLOCATABLE_MEMORY_AVAILABLE,
                                     .value = {.quantity = 100 * MI}};
        assert_int_equal(ev_memcg_threshold(s, &alloc, &v), 0);
        assert_int_equal(v, 3000000000LL - 100 * MI + 200000000);
        json_t *empty = json_object();
        assert_int_equal(ev_memcg_threshold(empty, &mem, &v), -ENODATA);
        ev_observe(empty, o);
        assert_false(o[EV_MEMORY_AVAILABLE].present);
        json_decref(empty);
        json_decref(s);
}

static struct ev_observation mem_obs(int64_t available)
{
        return (struct ev_observation){.present = true, .available = available, .capacity = 24 * GI};
}

static void test_state_transitions(void **state)
{
        (void) state;
        struct ev_threshold t[] = {
                {.signal = EV_MEMORY_AVAILABLE,
                 .value = {.quantity = GI},
                 .has_min_reclaim = true,
                 .min_reclaim = {.quantity = 512 * MI}},
                {.signal = EV_NODEFS_AVAILABLE, .value = {.fraction = 0.5}, .grace_ms = 60000},
        };
        struct ev_state st;
        ev_state_init(&st, 2);
        struct ev_observation o[EV_SIGNAL_MAX] = {0};
        bool act[2];
        int64_t transition = 300000, now = 1000000;

        o[EV_MEMORY_AVAILABLE] = mem_obs(4 * GI);
        o[EV_NODEFS_AVAILABLE] = (struct ev_observation){.present = true, .available = 80, .capacity = 100};
        ev_state_step(&st, t, o, transition, now, act);
        assert_false(act[0] || act[1]);
        assert_false(st.conditions[EV_COND_MEMORY] || st.conditions[EV_COND_DISK] ||
                     st.conditions[EV_COND_PID]);
        assert_int_equal(ev_pick_threshold(t, 2, act), -1);

        /* memory crosses: a hard threshold acts at once, MemoryPressure True */
        o[EV_MEMORY_AVAILABLE] = mem_obs(GI - 1);
        ev_state_step(&st, t, o, transition, now += 10000, act);
        assert_true(act[0]);
        assert_true(st.conditions[EV_COND_MEMORY]);
        assert_int_equal(ev_pick_threshold(t, 2, act), 0);

        /* back above the threshold but not by the minimum reclaim: still met */
        o[EV_MEMORY_AVAILABLE] = mem_obs(GI + 100 * MI);
        ev_state_step(&st, t, o, transition, now += 10000, act);
        assert_true(act[0]);
        /* reclaimed enough: no longer met, but the condition stays for the transition period */
        o[EV_MEMORY_AVAILABLE] = mem_obs(GI + 600 * MI);
        ev_state_step(&st, t, o, transition, now += 10000, act);
        assert_false(act[0]);
        assert_true(st.conditions[EV_COND_MEMORY]);
        int64_t last_seen = now - 10000;
        ev_state_step(&st, t, o, transition, last_seen + transition - 1, act);
        assert_true(st.conditions[EV_COND_MEMORY]);
        now = last_seen + transition;
        ev_state_step(&st, t, o, transition, now, act);
        assert_false(st.conditions[EV_COND_MEMORY]);
        /* once the minimum reclaim was met, only the threshold itself counts again */
        o[EV_MEMORY_AVAILABLE] = mem_obs(GI + 100 * MI);
        ev_state_step(&st, t, o, transition, now += 10000, act);
        assert_false(act[0]);

        /* a soft threshold: DiskPressure at once, action only after its grace period */
        o[EV_NODEFS_AVAILABLE].available = 40;
        ev_state_step(&st, t, o, transition, now += 10000, act);
        assert_true(st.conditions[EV_COND_DISK]);
        assert_false(act[1]);
        ev_state_step(&st, t, o, transition, now += 59999, act);
        assert_false(act[1]);
        ev_state_step(&st, t, o, transition, now += 1, act);
        assert_true(act[1]);
        assert_int_equal(ev_pick_threshold(t, 2, act), 1);
        /* memory goes before disk */
        o[EV_MEMORY_AVAILABLE] = mem_obs(GI / 2);
        ev_state_step(&st, t, o, transition, now += 1000, act);
        assert_true(act[0] && act[1]);
        assert_int_equal(ev_pick_threshold(t, 2, act), 0);
        /* a dip resets the grace period */
        o[EV_NODEFS_AVAILABLE].available = 60;
        ev_state_step(&st, t, o, transition, now += 1000, act);
        o[EV_NODEFS_AVAILABLE].available = 40;
        ev_state_step(&st, t, o, transition, now += 1000, act);
        assert_false(act[1]);
        /* a signal without an observation is not met */
        o[EV_NODEFS_AVAILABLE].present = false;
        ev_state_step(&st, t, o, transition, now += 1000, act);
        assert_false(act[1]);
        ev_state_done(&st);
}

/* Upstream's localStorageEviction: an emptyDir over its sizeLimit first, then the pod over the sum of its
 * containers' limits, then a container over its own; upstream's messages, quantities printed as Go does. */
static void test_local_storage(void **state)
{
        (void) state;
        json_t *s = json_loads(
                "{\"pods\": ["
                " {\"podRef\": {\"uid\": \"ed\"}, \"volume\": [{\"name\": \"scratch\", \"usedBytes\": "
                "11534336}],"
                "  \"ephemeral-storage\": {\"usedBytes\": 11534336}, \"containers\": []},"
                " {\"podRef\": {\"uid\": \"pod\"}, \"ephemeral-storage\": {\"usedBytes\": 30000000},"
                "  \"containers\": [{\"name\": \"a\", \"rootfs\": {\"usedBytes\": 1000}, \"logs\": "
                "{\"usedBytes\": 10}},"
                "                 {\"name\": \"b\", \"rootfs\": {\"usedBytes\": 1000}, \"logs\": "
                "{\"usedBytes\": 10}}]},"
                " {\"podRef\": {\"uid\": \"ctr\"}, \"ephemeral-storage\": {\"usedBytes\": 6000000},"
                "  \"containers\": [{\"name\": \"w\", \"rootfs\": {\"usedBytes\": 5000000}, \"logs\": "
                "{\"usedBytes\": 1000000}}]},"
                " {\"podRef\": {\"uid\": \"ok\"}, \"volume\": [{\"name\": \"scratch\", \"usedBytes\": "
                "1024}],"
                "  \"ephemeral-storage\": {\"usedBytes\": 2048},"
                "  \"containers\": [{\"name\": \"c\", \"rootfs\": {\"usedBytes\": 1024}, \"logs\": "
                "{\"usedBytes\": 0}}]}"
                "]}",
                0, NULL);
        assert_non_null(s);
        struct pod *ed = mk_pod("ed", "api",
                                "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}], \"volumes\": "
                                "[{\"name\": \"scratch\", \"emptyDir\": {\"sizeLimit\": \"10Mi\"}}]}");
        struct pod *pod = mk_pod("pod", "api",
                                 "{\"containers\": ["
                                 "{\"name\": \"a\", \"image\": \"busybox\", \"resources\": {\"limits\": "
                                 "{\"ephemeral-storage\": \"10M\"}}},"
                                 "{\"name\": \"b\", \"image\": \"busybox\", \"resources\": {\"limits\": "
                                 "{\"ephemeral-storage\": \"10M\"}}}]}");
        struct pod *ctr =
                mk_pod("ctr", "api",
                       "{\"containers\": [{\"name\": \"w\", \"image\": \"busybox\", \"resources\": "
                       "{\"limits\": {\"ephemeral-storage\": \"4096Ki\"}}},"
                       "{\"name\": \"x\", \"image\": \"busybox\", \"resources\": {\"limits\": "
                       "{\"ephemeral-storage\": \"1Gi\"}}}]}");
        struct pod *ok = mk_pod("ok", "api",
                                "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\", \"resources\": "
                                "{\"limits\": {\"ephemeral-storage\": \"1Mi\"}}}], \"volumes\": "
                                "[{\"name\": \"scratch\", \"emptyDir\": {\"sizeLimit\": \"1Mi\"}}]}");
        struct pod *nostats =
                mk_pod("gone", "api", "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}");
        _cleanup_free_ char *m1 = ev_local_storage_violation(ed, s, false),
                            *m2 = ev_local_storage_violation(pod, s, false),
                            *m3 = ev_local_storage_violation(ctr, s, false),
                            *m4 = ev_local_storage_violation(ok, s, false),
                            *m5 = ev_local_storage_violation(nostats, s, false);
        assert_string_equal(m1, "Usage of EmptyDir volume \"scratch\" exceeds the limit \"10Mi\". ");
        assert_string_equal(m2,
                            "Pod ephemeral local storage usage exceeds the total limit of containers 20M. ");
        /* 6000000 B in all, under the pod's 1Gi + 4Mi; w alone is over its 4096Ki, printed as Go does */
        assert_string_equal(m3, "Container w exceeded its local ephemeral storage limit \"4Mi\". ");
        assert_null(m4);
        assert_null(m5);
        /* Only pods with a limit need their usage every pass; an init container's limit counts, an emptyDir
         * without a sizeLimit does not. */
        assert_true(ev_pod_has_local_limits(ed));
        assert_true(ev_pod_has_local_limits(pod));
        assert_true(ev_pod_has_local_limits(ctr));
        assert_false(ev_pod_has_local_limits(nostats));
        struct pod *init = mk_pod("init", "api",
                                  "{\"initContainers\": [{\"name\": \"i\", \"image\": \"busybox\", "
                                  "\"resources\": {\"limits\": {\"ephemeral-storage\": \"1Mi\"}}}],"
                                  "\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}");
        struct pod *plain = mk_pod("plain", "api",
                                   "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}], "
                                   "\"volumes\": [{\"name\": \"v\", \"emptyDir\": {}}]}");
        assert_true(ev_pod_has_local_limits(init));
        assert_false(ev_pod_has_local_limits(plain));
        pod_unref(init);
        pod_unref(plain);
        pod_unref(ed);
        pod_unref(pod);
        pod_unref(ctr);
        pod_unref(ok);
        pod_unref(nostats);
        json_decref(s);
}

/* With a dedicated image filesystem (upstream's dedicatedImageFs) the writable layers are not on the root
 * dir's filesystem: a container's limit counts its logs only, the pod's its logs and local volumes; an
 * emptyDir's sizeLimit is unchanged. Without one, the same Summary evicts by the writable layers. */
static void test_local_storage_image_fs(void **state)
{
        (void) state;
        json_t *s = json_loads(
                "{\"pods\": ["
                /* writable layers of 12 MB each, logs 10 B, a 1 MB emptyDir: 25 MB in all */
                " {\"podRef\": {\"uid\": \"layers\"}, \"volume\": [{\"name\": \"v\", \"usedBytes\": "
                "999980}],"
                "  \"ephemeral-storage\": {\"usedBytes\": 25000000},"
                "  \"containers\": [{\"name\": \"a\", \"rootfs\": {\"usedBytes\": 12000000}, \"logs\": "
                "{\"usedBytes\": 10}},"
                "                 {\"name\": \"b\", \"rootfs\": {\"usedBytes\": 12000000}, \"logs\": "
                "{\"usedBytes\": 10}}]},"
                /* a 30 MB emptyDir without a sizeLimit, small layers: over the pod's 20M either way */
                " {\"podRef\": {\"uid\": \"vols\"}, \"volume\": [{\"name\": \"v\", \"usedBytes\": "
                "30000000}],"
                "  \"ephemeral-storage\": {\"usedBytes\": 30002020},"
                "  \"containers\": [{\"name\": \"a\", \"rootfs\": {\"usedBytes\": 1000}, \"logs\": "
                "{\"usedBytes\": 10}},"
                "                 {\"name\": \"b\", \"rootfs\": {\"usedBytes\": 1000}, \"logs\": "
                "{\"usedBytes\": 10}}]},"
                /* a container whose logs alone are over its 4Mi */
                " {\"podRef\": {\"uid\": \"logs\"}, \"ephemeral-storage\": {\"usedBytes\": 5001000},"
                "  \"containers\": [{\"name\": \"w\", \"rootfs\": {\"usedBytes\": 1000}, \"logs\": "
                "{\"usedBytes\": 5000000}}]},"
                /* one whose writable layer is: 5 MB of layer, 1 MB of logs */
                " {\"podRef\": {\"uid\": \"layer\"}, \"ephemeral-storage\": {\"usedBytes\": 6000000},"
                "  \"containers\": [{\"name\": \"w\", \"rootfs\": {\"usedBytes\": 5000000}, \"logs\": "
                "{\"usedBytes\": 1000000}}]},"
                " {\"podRef\": {\"uid\": \"ed\"}, \"volume\": [{\"name\": \"scratch\", \"usedBytes\": "
                "11534336}],"
                "  \"ephemeral-storage\": {\"usedBytes\": 11534336}, \"containers\": []}"
                "]}",
                0, NULL);
        assert_non_null(s);
        static const char *const two =
                "{\"containers\": ["
                "{\"name\": \"a\", \"image\": \"busybox\", \"resources\": {\"limits\": "
                "{\"ephemeral-storage\": \"10M\"}}},"
                "{\"name\": \"b\", \"image\": \"busybox\", \"resources\": {\"limits\": "
                "{\"ephemeral-storage\": \"10M\"}}}],"
                "\"volumes\": [{\"name\": \"v\", \"emptyDir\": {}}]}";
        struct pod *layers = mk_pod("layers", "api", two), *vols = mk_pod("vols", "api", two);
        /* the pod's limit (1Gi + 4Mi) is far off: only w's own can be crossed */
        static const char *const w = "{\"containers\": [{\"name\": \"w\", \"image\": \"busybox\", "
                                     "\"resources\": {\"limits\": {\"ephemeral-storage\": \"4Mi\"}}},"
                                     "{\"name\": \"x\", \"image\": \"busybox\", \"resources\": {\"limits\": "
                                     "{\"ephemeral-storage\": \"1Gi\"}}}]}";
        struct pod *logs = mk_pod("logs", "api", w), *layer = mk_pod("layer", "api", w);
        struct pod *ed = mk_pod("ed", "api",
                                "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}], \"volumes\": "
                                "[{\"name\": \"scratch\", \"emptyDir\": {\"sizeLimit\": \"10Mi\"}}]}");

        /* shared: the layers count, the pod is over its 20M */
        _cleanup_free_ char *l0 = ev_local_storage_violation(layers, s, false),
                            *l1 = ev_local_storage_violation(layers, s, true);
        assert_string_equal(l0,
                            "Pod ephemeral local storage usage exceeds the total limit of containers 20M. ");
        /* dedicated: 1 MB of logs and volume, under the pod's 20M and each container's 10M */
        assert_null(l1);

        _cleanup_free_ char *v0 = ev_local_storage_violation(vols, s, false),
                            *v1 = ev_local_storage_violation(vols, s, true);
        assert_string_equal(v0,
                            "Pod ephemeral local storage usage exceeds the total limit of containers 20M. ");
        assert_string_equal(v1,
                            "Pod ephemeral local storage usage exceeds the total limit of containers 20M. ");

        _cleanup_free_ char *g0 = ev_local_storage_violation(logs, s, false),
                            *g1 = ev_local_storage_violation(logs, s, true);
        assert_string_equal(g0, "Container w exceeded its local ephemeral storage limit \"4Mi\". ");
        assert_string_equal(g1, "Container w exceeded its local ephemeral storage limit \"4Mi\". ");

        _cleanup_free_ char *w0 = ev_local_storage_violation(layer, s, false),
                            *w1 = ev_local_storage_violation(layer, s, true);
        assert_string_equal(w0, "Container w exceeded its local ephemeral storage limit \"4Mi\". ");
        /* dedicated: 1 MB of logs, under 4Mi; the layer is on the image filesystem */
        assert_null(w1);

        _cleanup_free_ char *e0 = ev_local_storage_violation(ed, s, false),
                            *e1 = ev_local_storage_violation(ed, s, true);
        assert_string_equal(e0, "Usage of EmptyDir volume \"scratch\" exceeds the limit \"10Mi\". ");
        assert_string_equal(e1, "Usage of EmptyDir volume \"scratch\" exceeds the limit \"10Mi\". ");
        pod_unref(layers);
        pod_unref(vols);
        pod_unref(logs);
        pod_unref(layer);
        pod_unref(ed);
        json_decref(s);
}

static void test_rank_and_message(void **state)
{
        (void) state;
        json_t *s = json_loads(SUMMARY, 0, NULL);
        struct pod *be =
                mk_pod("be", "api", "{\"containers\": [{\"name\": \"hog\", \"image\": \"busybox\"}]}");
        struct pod *burst =
                mk_pod("burst", "api",
                       "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\", \"resources\": "
                       "{\"requests\": {\"memory\": \"100Mi\", \"ephemeral-storage\": \"10Ki\"}}}]}");
        struct pod *guar =
                mk_pod("guar", "api",
                       "{\"priority\": 1000, \"containers\": [{\"name\": \"c\", \"image\": \"busybox\", "
                       "\"resources\": {\"limits\": {\"memory\": \"2Gi\", \"cpu\": \"1\"}}}]}");
        struct pod *nostats =
                mk_pod("gone", "api", "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}");

        struct ev_candidate c[4];
        ev_candidate_fill(&c[0], guar, s);
        ev_candidate_fill(&c[1], burst, s);
        ev_candidate_fill(&c[2], be, s);
        assert_int_equal(c[0].priority, 1000);
        assert_int_equal(c[0].mem_request, 2 * GI);
        assert_int_equal(c[2].memory, 512 * MI);
        assert_int_equal(c[1].procs, 30);

        /* memory: above requests first (be 512Mi > 0, burst 200Mi > 100Mi; guar 1Gi < 2Gi), then priority,
         * then usage above request: be (512Mi) before burst (100Mi) */
        ev_rank(c, 3, EV_RES_MEMORY, EV_FS_ALL);
        assert_string_equal(c[0].pod->uid, "be");
        assert_string_equal(c[1].pod->uid, "burst");
        assert_string_equal(c[2].pod->uid, "guar");

        /* a pod without stats goes first */
        ev_candidate_fill(&c[3], nostats, s);
        assert_false(c[3].has_stats);
        ev_rank(c, 4, EV_RES_MEMORY, EV_FS_ALL);
        assert_string_equal(c[0].pod->uid, "gone");

        /* disk: burst uses 5000 B, under its 10Ki request; be 100 B over its 0 → be, guar (10 B over 0),
         * then burst */
        ev_candidate_fill(&c[0], guar, s);
        ev_candidate_fill(&c[1], burst, s);
        ev_candidate_fill(&c[2], be, s);
        ev_rank(c, 3, EV_RES_EPHEMERAL, EV_FS_ALL);
        assert_string_equal(c[0].pod->uid, "be");
        assert_string_equal(c[1].pod->uid, "guar");
        assert_string_equal(c[2].pod->uid, "burst");

        /* PIDs: priority, then process count: be and burst (priority 0), most processes first */
        ev_rank(c, 3, EV_RES_PIDS, EV_FS_ALL);
        assert_string_equal(c[0].pod->uid, "burst");
        assert_string_equal(c[1].pod->uid, "be");
        assert_string_equal(c[2].pod->uid, "guar");

        /* PIDs, a pod without stats: first among its priority, but priority comes first (upstream orders
         * by priority, then process count, where a pod without stats goes first); the memory ranking puts
         * it first whatever its priority */
        struct pod *nostats_high =
                mk_pod("gone-high", "api",
                       "{\"priority\": 2000, \"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}");
        ev_candidate_fill(&c[3], nostats_high, s);
        ev_rank(c, 4, EV_RES_PIDS, EV_FS_ALL);
        assert_string_equal(c[0].pod->uid, "burst");
        assert_string_equal(c[1].pod->uid, "be");
        assert_string_equal(c[2].pod->uid, "guar");
        assert_string_equal(c[3].pod->uid, "gone-high");
        ev_candidate_fill(&c[3], nostats, s);
        ev_rank(c, 4, EV_RES_PIDS, EV_FS_ALL);
        assert_string_equal(c[0].pod->uid, "gone");
        assert_string_equal(c[3].pod->uid, "guar");
        ev_candidate_fill(&c[0], nostats_high, s);
        ev_rank(c, 4, EV_RES_MEMORY, EV_FS_ALL);
        assert_string_equal(c[0].pod->uid, "gone-high");
        pod_unref(nostats_high);
        ev_candidate_fill(&c[0], guar, s);
        ev_candidate_fill(&c[1], burst, s);
        ev_candidate_fill(&c[2], be, s);

        _cleanup_free_ char *m1 = ev_message(EV_RES_MEMORY, be, s);
        assert_string_equal(
                m1, "The node was low on resource: memory. Container hog was using 512Mi, which exceeds "
                    "its request of 0. ");
        _cleanup_free_ char *m2 = ev_message(EV_RES_MEMORY, burst, s);
        assert_string_equal(
                m2, "The node was low on resource: memory. Container c was using 200Mi, which exceeds "
                    "its request of 100Mi. ");
        _cleanup_free_ char *m3 = ev_message(EV_RES_MEMORY, guar, s);
        assert_string_equal(m3, "The node was low on resource: memory. ");
        _cleanup_free_ char *m4 = ev_message(EV_RES_EPHEMERAL, be, s);
        assert_string_equal(m4,
                            "The node was low on resource: ephemeral-storage. Container hog was using 100, "
                            "which exceeds its request of 0. ");
        _cleanup_free_ char *m5 = ev_message(EV_RES_PIDS, be, s);
        assert_string_equal(m5, "The node was low on resource: pids. ");

        pod_unref(be);
        pod_unref(burst);
        pod_unref(guar);
        pod_unref(nostats);
        json_decref(s);
}

/* Three pods whose disk usage lies in different places: "layers" in its writable layer, "logs" in its
 * logs, "vol" in a disk emptyDir and a hostPath (its Memory emptyDir does not count). */
#define FS_SUMMARY                                                                                          \
        "{\"node\": {}, \"pods\": ["                                                                        \
        "{\"podRef\": {\"uid\": \"layers\"}, \"containers\": [{\"name\": \"c\", "                           \
        "\"rootfs\": {\"usedBytes\": 900, \"inodesUsed\": 90}, \"logs\": {\"usedBytes\": 10, "              \
        "\"inodesUsed\": 1}}], \"volume\": [], "                                                            \
        "\"ephemeral-storage\": {\"usedBytes\": 910, \"inodesUsed\": 91}},"                                 \
        "{\"podRef\": {\"uid\": \"logs\"}, \"containers\": [{\"name\": \"c\", "                             \
        "\"rootfs\": {\"usedBytes\": 10, \"inodesUsed\": 1}, \"logs\": {\"usedBytes\": 500, "               \
        "\"inodesUsed\": 20}}], \"volume\": [], "                                                           \
        "\"ephemeral-storage\": {\"usedBytes\": 510, \"inodesUsed\": 21}},"                                 \
        "{\"podRef\": {\"uid\": \"vol\"}, \"containers\": [{\"name\": \"c\", "                              \
        "\"rootfs\": {\"usedBytes\": 20, \"inodesUsed\": 2}, \"logs\": {\"usedBytes\": 10, "                \
        "\"inodesUsed\": 1}}], \"volume\": [{\"name\": \"scratch\", \"usedBytes\": 700, \"inodesUsed\": "   \
        "25}, {\"name\": \"host\", \"usedBytes\": 100, \"inodesUsed\": 5}, {\"name\": \"mem\", "            \
        "\"usedBytes\": 5000, \"inodesUsed\": 500}], "                                                      \
        "\"ephemeral-storage\": {\"usedBytes\": 730, \"inodesUsed\": 28}}]}"

static void rank_fill(struct ev_candidate *c, struct pod **p, const json_t *s)
{
        for (size_t i = 0; i < 3; i++)
                ev_candidate_fill(&c[i], p[i], s);
}

static void assert_order(const struct ev_candidate *c, const char *a, const char *b, const char *d)
{
        assert_string_equal(c[0].pod->uid, a);
        assert_string_equal(c[1].pod->uid, b);
        assert_string_equal(c[2].pod->uid, d);
}

static void test_rank_image_fs(void **state)
{
        (void) state;
        json_t *s = json_loads(FS_SUMMARY, 0, NULL);
        assert_non_null(s);
        struct pod *p[3] = {
                mk_pod("layers", "api", "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}"),
                mk_pod("logs", "api", "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}"),
                mk_pod("vol", "api",
                       "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}], \"volumes\": ["
                       "{\"name\": \"scratch\", \"emptyDir\": {}}, "
                       "{\"name\": \"host\", \"hostPath\": {\"path\": \"/tmp\"}}, "
                       "{\"name\": \"mem\", \"emptyDir\": {\"medium\": \"Memory\"}}]}"),
        };
        struct ev_candidate c[3];
        rank_fill(c, p, s);
        assert_int_equal(c[2].root_disk, 20);
        assert_int_equal(c[2].logs_disk, 10);
        assert_int_equal(c[2].vol_disk, 800);
        assert_int_equal(c[2].vol_inodes, 30);
        assert_int_equal(c[2].disk, 730);

        /* shared device: every signal ranks by the Summary's ephemeral-storage, as before */
        for (enum ev_signal sig = EV_NODEFS_AVAILABLE; sig <= EV_IMAGEFS_INODES_FREE; sig++)
                assert_int_equal(ev_rank_fs_stats(sig, false), EV_FS_ALL);
        rank_fill(c, p, s);
        ev_rank(c, 3, EV_RES_EPHEMERAL, ev_rank_fs_stats(EV_NODEFS_AVAILABLE, false));
        assert_order(c, "layers", "vol", "logs");
        rank_fill(c, p, s);
        ev_rank(c, 3, EV_RES_INODES, ev_rank_fs_stats(EV_IMAGEFS_INODES_FREE, false));
        assert_order(c, "layers", "vol", "logs");

        /* dedicated imagefs, nodefs signals: logs and local volumes only */
        assert_int_equal(ev_rank_fs_stats(EV_NODEFS_AVAILABLE, true), EV_FS_LOGS | EV_FS_VOLUMES);
        assert_int_equal(ev_rank_fs_stats(EV_NODEFS_INODES_FREE, true), EV_FS_LOGS | EV_FS_VOLUMES);
        rank_fill(c, p, s);
        ev_rank(c, 3, EV_RES_EPHEMERAL, ev_rank_fs_stats(EV_NODEFS_AVAILABLE, true));
        assert_order(c, "vol", "logs", "layers");
        rank_fill(c, p, s);
        ev_rank(c, 3, EV_RES_INODES, ev_rank_fs_stats(EV_NODEFS_INODES_FREE, true));
        assert_order(c, "vol", "logs", "layers");

        /* dedicated imagefs, imagefs signals: the writable layers only */
        assert_int_equal(ev_rank_fs_stats(EV_IMAGEFS_AVAILABLE, true), EV_FS_ROOT);
        assert_int_equal(ev_rank_fs_stats(EV_IMAGEFS_INODES_FREE, true), EV_FS_ROOT);
        rank_fill(c, p, s);
        ev_rank(c, 3, EV_RES_EPHEMERAL, ev_rank_fs_stats(EV_IMAGEFS_AVAILABLE, true));
        assert_order(c, "layers", "vol", "logs");
        rank_fill(c, p, s);
        ev_rank(c, 3, EV_RES_INODES, ev_rank_fs_stats(EV_IMAGEFS_INODES_FREE, true));
        assert_order(c, "layers", "vol", "logs");

        /* the ephemeral-storage request is subtracted from what counts: 950 of requests puts "layers"
         * under them on imagefs (900 ≤ 950), and last */
        struct pod *req =
                mk_pod("layers", "api",
                       "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\", \"resources\": "
                       "{\"requests\": {\"ephemeral-storage\": \"950\"}}}]}");
        rank_fill(c, p, s);
        ev_candidate_fill(&c[0], req, s);
        ev_rank(c, 3, EV_RES_EPHEMERAL, EV_FS_ROOT);
        assert_order(c, "vol", "logs", "layers");
        pod_unref(req);

        /* memory and PIDs ignore the disk stats */
        assert_int_equal(ev_rank_fs_stats(EV_MEMORY_AVAILABLE, true), EV_FS_ALL);
        assert_int_equal(ev_rank_fs_stats(EV_PID_AVAILABLE, true), EV_FS_ALL);

        for (size_t i = 0; i < 3; i++)
                pod_unref(p[i]);
        json_decref(s);
}

/* Upstream's buildSignalToNodeReclaimFuncs: containers and images deleted first for disk signals, but
 * not for nodefs ones when images live elsewhere. */
static void test_reclaim_node_level(void **state)
{
        (void) state;
        static const struct {
                enum ev_signal s;
                bool shared, dedicated;
        } want[] = {
                {EV_MEMORY_AVAILABLE, false, false}, {EV_ALLOCATABLE_MEMORY_AVAILABLE, false, false},
                {EV_NODEFS_AVAILABLE, true, false},  {EV_NODEFS_INODES_FREE, true, false},
                {EV_IMAGEFS_AVAILABLE, true, true},  {EV_IMAGEFS_INODES_FREE, true, true},
                {EV_PID_AVAILABLE, false, false},
        };
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                assert_int_equal(ev_reclaims_node_level(want[i].s, false), want[i].shared);
                assert_int_equal(ev_reclaims_node_level(want[i].s, true), want[i].dedicated);
        }
}

static void test_admit(void **state)
{
        (void) state;
        char msg[256];
        struct pod *be =
                mk_pod("be", "api", "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}");
        struct pod *tol = mk_pod("tol", "api",
                                 "{\"tolerations\": [{\"key\": \"node.kubernetes.io/memory-pressure\", "
                                 "\"operator\": \"Exists\", \"effect\": \"NoSchedule\"}], "
                                 "\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}");
        struct pod *bu = mk_pod("bu", "api",
                                "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\", \"resources\": "
                                "{\"requests\": {\"memory\": \"10Mi\"}}}]}");
        struct pod *st =
                mk_pod("st", "file", "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}");
        /* no manager: everything is admitted */
        assert_true(eviction_manager_admit(NULL, be, msg, sizeof msg));
        bool none[EV_COND_MAX] = {false}, mem[EV_COND_MAX] = {[EV_COND_MEMORY] = true},
             disk[EV_COND_MAX] = {[EV_COND_DISK] = true},
             both[EV_COND_MAX] = {[EV_COND_MEMORY] = true, [EV_COND_DISK] = true};
        assert_true(ev_admit(none, be, msg, sizeof msg));
        /* memory pressure: BestEffort refused unless it tolerates the taint; others admitted */
        assert_false(ev_admit(mem, be, msg, sizeof msg));
        assert_string_equal(msg, "The node had condition: [MemoryPressure]. ");
        assert_true(ev_admit(mem, tol, msg, sizeof msg));
        assert_true(ev_admit(mem, bu, msg, sizeof msg));
        assert_true(ev_admit(mem, st, msg, sizeof msg));
        /* disk pressure: every pod but critical ones */
        assert_false(ev_admit(disk, bu, msg, sizeof msg));
        assert_string_equal(msg, "The node had condition: [DiskPressure]. ");
        assert_false(ev_admit(disk, tol, msg, sizeof msg));
        assert_true(ev_admit(disk, st, msg, sizeof msg)); /* a static pod is critical */
        assert_false(ev_admit(both, tol, msg, sizeof msg));
        assert_string_equal(msg, "The node had condition: [MemoryPressure DiskPressure]. ");
        pod_unref(be);
        pod_unref(tol);
        pod_unref(bu);
        pod_unref(st);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_reserved),
                cmocka_unit_test(test_quantity_string),
                cmocka_unit_test(test_observe),
                cmocka_unit_test(test_state_transitions),
                cmocka_unit_test(test_local_storage),
                cmocka_unit_test(test_local_storage_image_fs),
                cmocka_unit_test(test_rank_and_message),
                cmocka_unit_test(test_rank_image_fs),
                cmocka_unit_test(test_reclaim_node_level),
                cmocka_unit_test(test_admit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
