/* The node's runtime listing shared by periodic resyncs (agent/pod/listing_cache.c): a pod's part of it, and
 * when it may serve. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "cri.h"
#include "listing_cache.h"
#include "util.h"

/* A whole-node listing: sandboxes s1 (pod A), s2 (pod B), s3 (no pod label); containers c1, c2 (pod A), c3
 * (pod B). */
static void make_all(struct pod_runtime *all)
{
        static const char *const sb_pod[] = {"uid-a", "uid-b", NULL};
        static const char *const c_pod[] = {"uid-a", "uid-a", "uid-b"};
        all->sandboxes = calloc(1, sizeof *all->sandboxes);
        runtime__v1__list_pod_sandbox_response__init(all->sandboxes);
        all->sandboxes->n_items = 3;
        all->sandboxes->items = calloc(3, sizeof(Runtime__V1__PodSandbox *));
        for (int i = 0; i < 3; i++) {
                Runtime__V1__PodSandbox *s = calloc(1, sizeof *s);
                runtime__v1__pod_sandbox__init(s);
                s->id = strdup_printf("s%d", i + 1);
                s->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
                if (sb_pod[i]) {
                        s->n_labels = 2;
                        s->labels = calloc(2, sizeof *s->labels);
                        for (int j = 0; j < 2; j++) {
                                s->labels[j] = calloc(1, sizeof *s->labels[j]);
                                runtime__v1__pod_sandbox__labels_entry__init(s->labels[j]);
                        }
                        s->labels[0]->key = strdup("io.kubernetes.pod.name");
                        s->labels[0]->value = strdup("x");
                        s->labels[1]->key = strdup("io.kubernetes.pod.uid");
                        s->labels[1]->value = strdup(sb_pod[i]);
                }
                all->sandboxes->items[i] = s;
        }
        all->containers = calloc(1, sizeof *all->containers);
        runtime__v1__list_containers_response__init(all->containers);
        all->containers->n_containers = 3;
        all->containers->containers = calloc(3, sizeof(Runtime__V1__Container *));
        for (int i = 0; i < 3; i++) {
                Runtime__V1__Container *c = calloc(1, sizeof *c);
                runtime__v1__container__init(c);
                c->id = strdup_printf("c%d", i + 1);
                c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                c->n_labels = 1;
                c->labels = calloc(1, sizeof *c->labels);
                c->labels[0] = calloc(1, sizeof *c->labels[0]);
                runtime__v1__container__labels_entry__init(c->labels[0]);
                c->labels[0]->key = strdup("io.kubernetes.pod.uid");
                c->labels[0]->value = strdup(c_pod[i]);
                all->containers->containers[i] = c;
        }
}

/* The ids of a listing's part, "s1 c1 c2". */
static char *ids(const struct pod_runtime *rt)
{
        char buf[256] = "";
        size_t o = 0;
        for (size_t i = 0; i < rt->sandboxes->n_items; i++)
                o += (size_t) snprintf(buf + o, sizeof buf - o, "%s%s", o ? " " : "",
                                       rt->sandboxes->items[i]->id);
        for (size_t i = 0; i < rt->containers->n_containers; i++)
                o += (size_t) snprintf(buf + o, sizeof buf - o, "%s%s", o ? " " : "",
                                       rt->containers->containers[i]->id);
        return strdup(buf);
}

static void test_subset(void **state)
{
        (void) state;
        struct pod_runtime all = {0}, a = {0}, b = {0}, none = {0};
        make_all(&all);
        pod_runtime_subset(&all, "uid-a", &a);
        pod_runtime_subset(&all, "uid-b", &b);
        pod_runtime_subset(&all, "uid-c", &none);
        /* copies: the whole listing goes first */
        pod_runtime_done(&all);
        _cleanup_free_ char *ia = ids(&a), *ib = ids(&b), *in = ids(&none);
        assert_string_equal(ia, "s1 c1 c2");
        assert_string_equal(ib, "s2 c3");
        assert_string_equal(in, "");
        assert_int_equal(a.sandboxes->items[0]->state, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY);
        assert_int_equal(a.sandboxes->items[0]->n_labels, 2);
        assert_string_equal(a.containers->containers[1]->labels[0]->value, "uid-a");
        pod_runtime_done(&a);
        pod_runtime_done(&b);
        pod_runtime_done(&none);
}

static void test_cache(void **state)
{
        (void) state;
        struct listing_cache *lc = listing_cache_new(1000);
        struct pod_runtime all = {0}, rt = {0};

        assert_false(listing_cache_get(lc, "uid-a", 5000, &rt)); /* empty */
        /* Kept, and serves while it is younger than 1000 ms and nothing changed */
        make_all(&all);
        listing_cache_put(lc, &all, cri_generation(), 5000);
        assert_null(all.sandboxes); /* taken over */
        assert_true(listing_cache_get(lc, "uid-b", 5999, &rt));
        _cleanup_free_ char *ib = ids(&rt);
        assert_string_equal(ib, "s2 c3");
        pod_runtime_done(&rt);
        assert_true(listing_cache_get(lc, "uid-a", 5500, &rt));
        pod_runtime_done(&rt);
        rt = (struct pod_runtime){0};
        /* Anything changed since (an event, a call that changes the runtime): no more, and it is gone */
        cri_generation_bump();
        assert_false(listing_cache_get(lc, "uid-a", 5500, &rt));
        assert_null(rt.sandboxes);
        /* Too old, or a clock that went back: not used */
        make_all(&all);
        listing_cache_put(lc, &all, cri_generation(), 9000);
        assert_false(listing_cache_get(lc, "uid-a", 10000, &rt));
        make_all(&all);
        listing_cache_put(lc, &all, cri_generation(), 9000);
        assert_false(listing_cache_get(lc, "uid-a", 8999, &rt));
        assert_true(listing_cache_get(lc, "uid-a", 9001, &rt)); /* kept: another thread's clock was late */
        pod_runtime_done(&rt);
        /* A listing during which something changed is not kept */
        make_all(&all);
        uint64_t g = cri_generation();
        cri_generation_bump();
        listing_cache_put(lc, &all, g, 7000);
        assert_false(listing_cache_get(lc, "uid-a", 7100, &rt));
        /* A good one replaces the one before (kept until the cache goes) */
        make_all(&all);
        listing_cache_put(lc, &all, cri_generation(), 8000);
        make_all(&all);
        listing_cache_put(lc, &all, cri_generation(), 8050);
        assert_true(listing_cache_get(lc, "uid-a", 8100, &rt));
        pod_runtime_done(&rt);
        listing_cache_free(lc);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_subset),
                cmocka_unit_test(test_cache),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
