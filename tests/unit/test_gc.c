/* Unit tests for the garbage collectors' decisions: which images go (thresholds, in use, last used, minimum
 * age; the persisted records) and which containers, sandboxes and log directories go (upstream's
 * containerGC: per-container and node limits, minimum age, pods that no longer exist). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "container_gc.h"
#include "image_gc.h"
#include "util.h"

#define S  1000000000LL
#define GB (1024ULL * 1024 * 1024)

static void test_bytes_to_free(void **state)
{
        (void) state;
        int usage;
        /* 100 GB, 10 available: 90 % >= 85: free down to 80 % used, i.e. 20 GB available. */
        assert_int_equal(image_gc_bytes_to_free(100 * GB, 10 * GB, 85, 80, &usage), (int64_t) (10 * GB));
        assert_int_equal(usage, 90);
        /* Exactly at the high threshold counts (upstream: >=). */
        assert_int_equal(image_gc_bytes_to_free(100 * GB, 15 * GB, 85, 80, &usage), (int64_t) (5 * GB));
        assert_int_equal(usage, 85);
        /* Below it: nothing. */
        assert_int_equal(image_gc_bytes_to_free(100 * GB, 16 * GB, 85, 80, &usage), 0);
        assert_int_equal(usage, 84);
        /* Usage rounds as upstream, 100 - int(available*100/capacity): 84.1 % used counts as 85. */
        assert_int_equal(image_gc_bytes_to_free(1000, 159, 85, 80, &usage), 41);
        assert_int_equal(usage, 85);
        /* high 1, low 0 (the tests' setting): everything used is to go. */
        assert_int_equal(image_gc_bytes_to_free(100 * GB, 60 * GB, 1, 0, &usage), (int64_t) (40 * GB));
        /* Available above capacity is capped; capacity 0 frees nothing. */
        assert_int_equal(image_gc_bytes_to_free(100, 200, 1, 0, &usage), 0);
        assert_int_equal(usage, 0);
        assert_int_equal(image_gc_bytes_to_free(0, 0, 1, 0, &usage), 0);
}

static void test_candidates(void **state)
{
        (void) state;
        int64_t now = 10000 * S;
        struct image_record recs[] = {
                {.id = "sha256:used", .first_detected_ns = 0, .last_used_ns = 9000 * S, .size = 10},
                {.id = "sha256:old", .first_detected_ns = 0, .last_used_ns = 1000 * S, .size = 10},
                {.id = "sha256:never", .first_detected_ns = 0, .last_used_ns = 0, .size = 10},
                {.id = "sha256:young", .first_detected_ns = now - 60 * S, .last_used_ns = 0, .size = 10},
                {.id = "sha256:pause", .first_detected_ns = 0, .last_used_ns = 0, .size = 10},
                {.id = "sha256:now", .first_detected_ns = 0, .last_used_ns = now, .size = 10},
                {.id = "sha256:tie-late",
                 .first_detected_ns = 500 * S,
                 .last_used_ns = 1000 * S,
                 .size = 10},
                {.id = "sha256:tie-early",
                 .first_detected_ns = 100 * S,
                 .last_used_ns = 1000 * S,
                 .size = 10},
        };
        char *in_use[] = {"sha256:used", "sha256:pause", NULL};
        size_t order[8];
        size_t k = image_gc_candidates(recs, 8, in_use, now, 120 * S, order);
        /* Never used first, then least recently used; ties by first detection; in use, used at free time and
         * younger than the minimum age never. */
        assert_int_equal(k, 4);
        assert_string_equal(recs[order[0]].id, "sha256:never");
        assert_string_equal(recs[order[1]].id, "sha256:old");
        assert_string_equal(recs[order[2]].id, "sha256:tie-early");
        assert_string_equal(recs[order[3]].id, "sha256:tie-late");
        /* Minimum age 0: the young one too. */
        k = image_gc_candidates(recs, 8, in_use, now, 0, order);
        assert_int_equal(k, 5);
}

static void test_records(void **state)
{
        (void) state;
        struct image_record recs[] = {
                {.id = "sha256:a", .first_detected_ns = 0, .last_used_ns = 1764000000123456789LL},
                {.id = "sha256:b", .first_detected_ns = 1764000000000000000LL, .last_used_ns = 0},
        };
        _cleanup_free_ char *text = image_gc_records_format(recs, 2);
        struct image_record *back = NULL;
        size_t n = 0;
        assert_int_equal(image_gc_records_parse(text, strlen(text), &back, &n), 0);
        assert_int_equal(n, 2);
        for (size_t i = 0; i < 2; i++) {
                struct image_record *r = streq(back[i].id, "sha256:a") ? &recs[0] : &recs[1];
                assert_string_equal(back[i].id, r->id);
                assert_int_equal(back[i].first_detected_ns, r->first_detected_ns);
                assert_int_equal(back[i].last_used_ns, r->last_used_ns);
        }
        image_records_free(back, n);
        /* Not a records document; entries without times are skipped. */
        assert_int_equal(image_gc_records_parse("[]", 2, &back, &n), -EINVAL);
        const char *partial =
                "{\"images\": {\"x\": {\"lastUsed\": 1}, \"y\": {\"firstDetected\": 2, \"lastUsed\": 3}}}";
        assert_int_equal(image_gc_records_parse(partial, strlen(partial), &back, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(back[0].id, "y");
        image_records_free(back, n);
}

static bool exists(const char *uid, void *ud)
{
        for (char **p = ud; *p; p++)
                if (streq(*p, uid))
                        return true;
        return false;
}

static bool planned(const size_t *plan, size_t n, size_t i)
{
        for (size_t j = 0; j < n; j++)
                if (plan[j] == i)
                        return true;
        return false;
}

static void test_containers(void **state)
{
        (void) state;
        int64_t now = 100000 * S;
        struct cgc_container c[] = {
                /* pod A, container web: running + three dead instances */
                {"a-web-run", "A", "web", now - 10 * S, CGC_RUNNING},
                {"a-web-d1", "A", "web", now - 400 * S, CGC_EXITED},
                {"a-web-d2", "A", "web", now - 300 * S, CGC_EXITED},
                {"a-web-d3", "A", "web", now - 200 * S, CGC_EXITED},
                /* pod A, init container: one dead instance */
                {"a-init-d1", "A", "init", now - 500 * S, CGC_EXITED},
                /* pod B no longer exists: both of its dead containers go */
                {"b-x-d1", "B", "x", now - 50 * S, CGC_EXITED},
                {"b-x-d2", "B", "x", now - 40 * S, CGC_UNKNOWN},
                /* pod A, sidecar: a start in flight (CREATED, young) and an old CREATED one */
                {"a-side-new", "A", "side", now - 5 * S, CGC_CREATED},
                {"a-side-old", "A", "side", now - 600 * S, CGC_CREATED},
        };
        char *pods[] = {"A", NULL};
        struct cgc_policy p = {.min_age_ns = 0, .max_per_pod_container = 1, .max_containers = -1};
        size_t *plan = NULL, n = 0;
        cgc_plan_containers(c, ELEMENTSOF(c), &p, true, exists, pods, now, &plan, &n);
        /* B's two, then web's two oldest dead (the newest dead stays for --previous); init and the in-flight
         * start stay; the old CREATED one is the only evictable sidecar: kept as its unit's newest. */
        assert_int_equal(n, 4);
        assert_true(planned(plan, n, 5) && planned(plan, n, 6));
        assert_true(planned(plan, n, 1) && planned(plan, n, 2));
        /* oldest first within web: d1 before d2 */
        size_t i1 = 0, i2 = 0;
        for (size_t j = 0; j < n; j++) {
                if (plan[j] == 1)
                        i1 = j;
                if (plan[j] == 2)
                        i2 = j;
        }
        assert_true(i1 < i2);
        free(plan);

        /* Sources not ready: B is not known to be gone; only the per-container limit applies. */
        cgc_plan_containers(c, ELEMENTSOF(c), &p, false, exists, pods, now, &plan, &n);
        assert_int_equal(n, 3); /* web d1, d2 and B's older one */
        assert_true(planned(plan, n, 1) && planned(plan, n, 2) && planned(plan, n, 5));
        free(plan);

        /* A minimum age of 250 s: d3 (200 s) is not evictable, so d2 is web's newest evictable and stays. */
        p.min_age_ns = 250 * S;
        cgc_plan_containers(c, ELEMENTSOF(c), &p, true, exists, pods, now, &plan, &n);
        assert_int_equal(n, 1);
        assert_int_equal(plan[0], 1);
        free(plan);

        /* No per-container limit, at most 2 dead on the node: units web (3), init (1), side (1): one share
         * each (2/3 rounds to 0, at least 1), then the oldest of what is left until 2 remain. */
        p = (struct cgc_policy){.min_age_ns = 0, .max_per_pod_container = -1, .max_containers = 2};
        cgc_plan_containers(c, ELEMENTSOF(c), &p, true, exists, pods, now, &plan, &n);
        /* B's 2 + web's 2 oldest + then of {web d3 (200 s), init (500 s), side-old (600 s)} the oldest one */
        assert_int_equal(n, 5);
        assert_true(planned(plan, n, 8));
        assert_false(planned(plan, n, 3));
        assert_false(planned(plan, n, 0) || planned(plan, n, 7));
        free(plan);

        /* No limits at all: only the gone pod's. */
        p = (struct cgc_policy){.min_age_ns = 0, .max_per_pod_container = -1, .max_containers = -1};
        cgc_plan_containers(c, ELEMENTSOF(c), &p, true, exists, pods, now, &plan, &n);
        assert_int_equal(n, 2);
        free(plan);
}

static void test_sandboxes(void **state)
{
        (void) state;
        struct cgc_sandbox s[] = {
                {"a-new", "A", 300, true, true},   /* A's newest: kept */
                {"a-old", "A", 200, false, false}, /* dead, empty: goes */
                {"a-old2", "A", 100, false, true}, /* dead, holds a dead container: kept */
                {"b-1", "B", 100, false, false},   /* B is gone: goes, even its newest */
                {"b-2", "B", 200, false, false},
                {"b-run", "B", 50, true, false}, /* ready: its worker's to stop */
                {"c-1", "C", 100, false, false}, /* C exists, its only (newest) sandbox stays */
        };
        char *pods[] = {"A", "C", NULL};
        size_t *plan = NULL, n = 0;
        cgc_plan_sandboxes(s, ELEMENTSOF(s), true, exists, pods, &plan, &n);
        assert_int_equal(n, 3);
        assert_true(planned(plan, n, 1) && planned(plan, n, 3) && planned(plan, n, 4));
        free(plan);
        /* Sources not ready: every pod counts as existing; B keeps its newest. */
        cgc_plan_sandboxes(s, ELEMENTSOF(s), false, exists, pods, &plan, &n);
        assert_int_equal(n, 2);
        assert_true(planned(plan, n, 1) && planned(plan, n, 3));
        free(plan);
}

static void test_log_dir_uid(void **state)
{
        (void) state;
        assert_string_equal(cgc_log_dir_uid("default_web-node_0b7f5a5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"),
                            "0b7f5a5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
        assert_null(cgc_log_dir_uid("nounderscore"));
        assert_null(cgc_log_dir_uid("trailing_"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bytes_to_free), cmocka_unit_test(test_candidates),
                cmocka_unit_test(test_records),       cmocka_unit_test(test_containers),
                cmocka_unit_test(test_sandboxes),     cmocka_unit_test(test_log_dir_uid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
