/* Unit tests for the pod status as upstream computes it: container statuses, phase, conditions (readiness
 * gates included), and activeDeadlineSeconds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "cri.h"
#include "pod.h"
#include "status.h"
#include "util.h"

#define RUNNING RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING
#define EXITED  RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED

/* A pod from JSON text (a spec and, optionally, a status), as the API source hands it over. */
static struct pod *pod_of(const char *text)
{
        json_error_t jerr;
        struct api_problems pr = {0};
        json_t *obj = json_loads(text, 0, &jerr);
        if (!obj)
                fail_msg("bad test JSON: %s", jerr.text);
        pod_json_apply_defaults(obj);
        struct pod *p = pod_from_json(obj, &pr);
        json_decref(obj);
        if (!p) {
                _cleanup_free_ char *e = api_problems_errors(&pr);
                fail_msg("pod refused: %s", e);
        }
        api_problems_clear(&pr);
        return p;
}

static const json_t *condition(const json_t *st, const char *type)
{
        const json_t *c;
        size_t i;
        json_array_foreach(json_object_get(st, "conditions"), i, c)
        {
                if (streq(json_string_value(json_object_get(c, "type")), type))
                        return c;
        }
        fail_msg("no condition %s", type);
        return NULL;
}

static const char *str(const json_t *o, const char *path)
{
        _cleanup_free_ char *copy = xstrdup(path);
        char *save = NULL;
        for (char *k = strtok_r(copy, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
                o = json_is_array(o) ? json_array_get(o, (size_t) atoi(k)) : json_object_get(o, k);
        return json_string_value(o);
}

static void assert_condition(const json_t *st, const char *type, const char *status, const char *reason,
                             const char *message)
{
        const json_t *c = condition(st, type);
        assert_string_equal(str(c, "status"), status);
        if (reason)
                assert_string_equal(str(c, "reason"), reason);
        else
                assert_null(json_object_get(c, "reason"));
        if (message)
                assert_string_equal(str(c, "message"), message);
        else
                assert_null(json_object_get(c, "message"));
        assert_true(json_is_null(json_object_get(c, "lastProbeTime")));
        assert_non_null(str(c, "lastTransitionTime"));
}

static const char *const INIT_POD =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"default\","
        "\"uid\":\"u1\"},\"spec\":{\"initContainers\":[{\"name\":\"bad\",\"image\":\"img\"},"
        "{\"name\":\"later\",\"image\":\"img\"}],\"containers\":[{\"name\":\"app\",\"image\":\"img\"}]}}";

/* An init container crash-looping in a restartPolicy Always pod, as upstream shows it. */
static void test_init_crashloop(void **state)
{
        (void) state;
        struct pod *pod = pod_of(INIT_POD);
        struct cstatus init[2] = {
                {.name = "bad",
                 .image = "img:1",
                 .present = true,
                 .state = EXITED,
                 .id = "c2",
                 .image_ref = "sha256:abc",
                 .restart_count = 1,
                 .term = {.id = "c2", .exit_code = 3, .started_ns = 1, .finished_ns = 2, .reason = "Error"},
                 .has_last = true,
                 .last = {.id = "c1", .exit_code = 3, .reason = "Error"},
                 .waiting_reason = "CrashLoopBackOff",
                 .waiting_message = "back-off 10s restarting failed container=bad pod=p_default(u1)"},
                {.name = "later", .image = "img"}};
        struct cstatus app[1] = {{.name = "app", .image = "img", .ready = true, .started = true}};
        struct pod_runtime_status rs = {.init = init, .n_init = 2, .app = app, .n_app = 1, .start_ns = 1};
        json_t *st = pod_status_compute(pod, &rs, NULL);

        assert_string_equal(str(st, "phase"), "Pending");
        const json_t *bad = json_array_get(json_object_get(st, "initContainerStatuses"), 0);
        assert_string_equal(str(bad, "image"), "img:1");
        assert_string_equal(str(bad, "imageID"), "sha256:abc");
        assert_string_equal(str(bad, "containerID"), "containerd://c2");
        assert_string_equal(str(bad, "state.waiting.reason"), "CrashLoopBackOff");
        assert_string_equal(str(bad, "lastState.terminated.containerID"), "containerd://c2");
        assert_int_equal(json_integer_value(json_object_get(bad, "restartCount")), 1);
        assert_true(json_is_false(json_object_get(bad, "ready")));
        assert_null(json_object_get(bad, "started")); /* init containers have none */
        const json_t *later = json_array_get(json_object_get(st, "initContainerStatuses"), 1);
        assert_string_equal(str(later, "state.waiting.reason"), "PodInitializing");
        assert_null(json_object_get(later, "containerID"));
        assert_string_equal(str(later, "imageID"), "");
        assert_int_equal(json_object_size(json_object_get(later, "lastState")), 0);
        const json_t *a = json_array_get(json_object_get(st, "containerStatuses"), 0);
        assert_string_equal(str(a, "state.waiting.reason"), "PodInitializing");
        assert_true(json_is_false(json_object_get(a, "started")));

        /* Exactly upstream's four, in its order. */
        assert_int_equal(json_array_size(json_object_get(st, "conditions")), 4);
        assert_string_equal(str(st, "conditions.0.type"), "Initialized");
        assert_string_equal(str(st, "conditions.1.type"), "Ready");
        assert_string_equal(str(st, "conditions.2.type"), "ContainersReady");
        assert_string_equal(str(st, "conditions.3.type"), "PodScheduled");
        assert_condition(st, "Initialized", "False", "ContainersNotInitialized",
                         "containers with incomplete status: [bad later]");
        assert_condition(st, "Ready", "False", "ContainersNotReady",
                         "containers with unready status: [app]");
        assert_condition(st, "ContainersReady", "False", "ContainersNotReady",
                         "containers with unready status: [app]");
        assert_condition(st, "PodScheduled", "True", NULL, NULL);
        json_decref(st);

        /* A pod without init containers: ContainerCreating. */
        struct pod *plain =
                pod_of("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"q\","
                       "\"uid\":\"u2\"},\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"i\"}]}}");
        struct pod_runtime_status rs2 = {.app = app, .n_app = 1};
        st = pod_status_compute(plain, &rs2, NULL);
        assert_string_equal(str(st, "containerStatuses.0.state.waiting.reason"), "ContainerCreating");
        assert_null(json_object_get(st, "initContainerStatuses"));
        json_decref(st);
        pod_unref(plain);
        pod_unref(pod);
}

/* Succeeded: PodCompleted; Failed: the containers' own reasons, as upstream's generators. */
static void test_terminal_conditions(void **state)
{
        (void) state;
        struct pod *pod = pod_of("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"q\","
                                 "\"uid\":\"u2\"},\"spec\":{\"restartPolicy\":\"Never\",\"containers\":"
                                 "[{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"b\",\"image\":\"i\"}]}}");
        struct cstatus app[2] = {{.name = "a", .image = "i", .present = true, .state = EXITED, .id = "1"},
                                 {.name = "b", .image = "i", .present = true, .state = EXITED, .id = "2"}};
        struct pod_runtime_status rs = {.app = app, .n_app = 2};
        json_t *st = pod_status_compute(pod, &rs, NULL);
        assert_string_equal(str(st, "phase"), "Succeeded");
        assert_condition(st, "Initialized", "True", "PodCompleted", NULL);
        assert_condition(st, "Ready", "False", "PodCompleted", NULL);
        assert_condition(st, "ContainersReady", "False", "PodCompleted", NULL);
        json_decref(st);

        app[1].term.exit_code = 1;
        st = pod_status_compute(pod, &rs, NULL);
        assert_string_equal(str(st, "phase"), "Failed");
        assert_condition(st, "Initialized", "True", NULL, NULL);
        assert_condition(st, "Ready", "False", "ContainersNotReady",
                         "containers with unready status: [a b]");
        json_decref(st);
        pod_unref(pod);
}

static const char *const GATED_POD =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"g\",\"uid\":\"u3\"},"
        "\"spec\":{\"readinessGates\":[{\"conditionType\":\"example.com/one\"},{\"conditionType\":\"two\"}],"
        "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]},"
        "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},%s]}}";

static json_t *gated_status(const char *conditions, bool container_ready)
{
        _cleanup_free_ char *text = strdup_printf(GATED_POD, conditions);
        struct pod *pod = pod_of(text);
        struct cstatus app[1] = {{.name = "c",
                                  .image = "i",
                                  .present = true,
                                  .state = RUNNING,
                                  .id = "1",
                                  .ready = container_ready,
                                  .started = true}};
        struct pod_runtime_status rs = {.app = app, .n_app = 1};
        json_t *st = pod_status_compute(pod, &rs, NULL);
        pod_unref(pod);
        return st;
}

static void test_readiness_gates(void **state)
{
        (void) state;
        json_t *st =
                gated_status("{\"type\":\"example.com/one\",\"status\":\"True\",\"reason\":\"Mine\"}", true);
        assert_string_equal(str(st, "phase"), "Running");
        assert_condition(st, "ContainersReady", "True", NULL, NULL);
        assert_condition(st, "Ready", "False", "ReadinessGatesNotReady",
                         "corresponding condition of pod readiness gate \"two\" does not exist.");
        /* Someone else's conditions come first and are kept as written; the old Ready is the kubelet's. */
        assert_int_equal(json_array_size(json_object_get(st, "conditions")), 5);
        assert_string_equal(str(st, "conditions.0.type"), "example.com/one");
        assert_string_equal(str(st, "conditions.0.reason"), "Mine");
        json_decref(st);

        st = gated_status(
                "{\"type\":\"example.com/one\",\"status\":\"Unknown\"},{\"type\":\"two\",\"status\":"
                "\"False\"}",
                true);
        assert_condition(
                st, "Ready", "False", "ReadinessGatesNotReady",
                "the status of pod readiness gate \"example.com/one\" is not \"True\", but Unknown, "
                "the status of pod readiness gate \"two\" is not \"True\", but False");
        json_decref(st);

        st = gated_status("{\"type\":\"example.com/one\",\"status\":\"True\"},{\"type\":\"two\",\"status\":"
                          "\"True\"}",
                          true);
        assert_condition(st, "Ready", "True", NULL, NULL);
        json_decref(st);

        /* Containers not ready: their reason wins. */
        st = gated_status("{\"type\":\"example.com/one\",\"status\":\"True\"},{\"type\":\"two\",\"status\":"
                          "\"True\"}",
                          false);
        assert_condition(st, "Ready", "False", "ContainersNotReady", "containers with unready status: [c]");
        json_decref(st);
}

static void test_deadline(void **state)
{
        (void) state;
        const int64_t s = 1000000000LL;
        struct pod *none =
                pod_of("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"d\","
                       "\"uid\":\"u4\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}");
        struct pod *pod = pod_of("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"d\","
                                 "\"uid\":\"u4\"},\"spec\":{\"activeDeadlineSeconds\":30,"
                                 "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}");
        assert_int_equal(none->active_deadline_s, -1);
        assert_true(pod_deadline_left_ms(none, 100 * s, 1000 * s) == INT64_MAX);
        assert_true(pod_deadline_left_ms(pod, 0, 1000 * s) == INT64_MAX); /* no start time yet */
        assert_int_equal(pod_deadline_left_ms(pod, 100 * s, 110 * s), 20000);
        assert_int_equal(pod_deadline_left_ms(pod, 100 * s, 130 * s),
                         0); /* exactly at: past (upstream's >=) */
        assert_true(pod_deadline_left_ms(pod, 100 * s, 131 * s) < 0);
        /* A start time near the end of int64 nanoseconds and the largest deadline: no overflow. */
        struct pod *far = pod_of("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"d\","
                                 "\"uid\":\"u5\"},\"spec\":{\"activeDeadlineSeconds\":2147483647,"
                                 "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}");
        assert_true(pod_deadline_left_ms(far, INT64_MAX - s, 1000 * s) > 0);
        pod_unref(far);

        struct cstatus app[1] = {
                {.name = "c", .image = "i", .present = true, .state = RUNNING, .id = "1", .ready = true}};
        struct pod_runtime_status rs = {
                .app = app, .n_app = 1, .reason = DEADLINE_REASON, .message = DEADLINE_MESSAGE};
        json_t *st = pod_status_compute(pod, &rs, NULL);
        assert_string_equal(str(st, "phase"), "Failed");
        assert_string_equal(str(st, "reason"), "DeadlineExceeded");
        assert_string_equal(str(st, "message"),
                            "Pod was active on the node longer than the specified deadline");

        /* Later statuses follow the containers (stopped now) and keep the reason. */
        app[0].state = EXITED;
        json_t *later = pod_status_compute(pod, &rs, st);
        assert_string_equal(str(later, "phase"), "Failed");
        assert_string_equal(str(later, "reason"), "DeadlineExceeded");
        assert_string_equal(str(later, "containerStatuses.0.state.terminated.reason"), "Completed");
        assert_condition(later, "Ready", "False", "ContainersNotReady",
                         "containers with unready status: [c]");
        json_decref(later);
        json_decref(st);

        /* A pod that ended before its deadline keeps its end. */
        json_t *done = json_pack("{s:s}", "phase", "Succeeded");
        st = pod_status_compute(pod, &rs, done);
        assert_string_equal(str(st, "phase"), "Succeeded");
        assert_null(json_object_get(st, "reason"));
        json_decref(st);
        json_decref(done);
        pod_unref(pod);
        pod_unref(none);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_init_crashloop),
                cmocka_unit_test(test_terminal_conditions),
                cmocka_unit_test(test_readiness_gates),
                cmocka_unit_test(test_deadline),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
