/* Unit tests for the metrics registry: upstream's operation names, histograms, pod start observations. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "metrics.h"
#include "util.h"

static void test_operation_names(void **state)
{
        static const char *cases[][2] = {
                {"/runtime.v1.RuntimeService/RunPodSandbox", "run_podsandbox"},
                {"/runtime.v1.RuntimeService/ListPodSandbox", "list_podsandbox"},
                {"/runtime.v1.RuntimeService/PodSandboxStatus", "podsandbox_status"},
                {"/runtime.v1.RuntimeService/ContainerStatus", "container_status"},
                {"/runtime.v1.RuntimeService/ExecSync", "exec_sync"},
                {"/runtime.v1.ImageService/PullImage", "pull_image"},
                {"/runtime.v1.ImageService/ImageFsInfo", "image_fs_info"},
                {"Version", "version"},
        };
        char buf[48];
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                metrics_operation_name(cases[i][0], buf, sizeof buf);
                assert_string_equal(buf, cases[i][1]);
        }
}

static bool has_line(const char *text, const char *line)
{
        _cleanup_free_ char *l = strdup_printf("\n%s\n", line);
        return strstr(text, l) != NULL;
}

static void test_render(void **state)
{
        struct metrics *m = metrics_new("n1");
        json_t *pods = json_loads(
                "{\"items\": [{\"status\": {\"containerStatuses\": [{\"state\": {\"running\": {}}},"
                "{\"state\": {\"terminated\": {}}}]}}, {\"status\": {}}]}",
                0, NULL);
        size_t len;

        metrics_runtime_op(m, "/runtime.v1.RuntimeService/ListContainers", 3000, 0);
        metrics_runtime_op(m, "/runtime.v1.RuntimeService/ListContainers", 700000, -5);
        metrics_pleg_relist(m, 20000);
        metrics_pod_status(m, "u1",
                           json_object_get(json_array_get(json_object_get(pods, "items"), 0), "status"), 0);
        json_t *running = json_pack("{s:s}", "phase", "Running");
        metrics_pod_status(m, "u2", running, now_real_ns() - 2000000000LL);
        metrics_pod_status(m, "u2", running, now_real_ns() - 9000000000LL); /* counted once */
        _cleanup_free_ char *text = metrics_render(m, pods, &len);
        assert_int_equal(strlen(text), len);
        assert_true(has_line(text, "kubelet_node_name{node=\"n1\"} 1"));
        assert_true(has_line(text, "kubelet_running_pods 1"));
        assert_true(has_line(text, "kubelet_running_containers{container_state=\"running\"} 1"));
        assert_true(has_line(text, "kubelet_running_containers{container_state=\"exited\"} 1"));
        assert_true(has_line(text, "# TYPE kubelet_runtime_operations_total counter"));
        assert_true(
                has_line(text, "kubelet_runtime_operations_total{operation_type=\"list_containers\"} 2"));
        assert_true(has_line(
                text, "kubelet_runtime_operations_errors_total{operation_type=\"list_containers\"} 1"));
        assert_true(has_line(text,
                             "kubelet_runtime_operations_duration_seconds_bucket{operation_type=\"list_"
                             "containers\",le=\"0.005\"} 1"));
        assert_true(has_line(text,
                             "kubelet_runtime_operations_duration_seconds_bucket{operation_type=\"list_"
                             "containers\",le=\"0.5\"} 1"));
        assert_true(has_line(text,
                             "kubelet_runtime_operations_duration_seconds_bucket{operation_type=\"list_"
                             "containers\",le=\"1\"} 2"));
        assert_true(has_line(text, "kubelet_runtime_operations_duration_seconds_count{operation_type=\"list_"
                                   "containers\"} 2"));
        assert_true(has_line(text, "kubelet_pleg_relist_duration_seconds_bucket{le=\"0.025\"} 1"));
        assert_true(has_line(text, "kubelet_pleg_relist_duration_seconds_count 1"));
        assert_true(has_line(text, "kubelet_pod_start_duration_seconds_count 1"));
        assert_true(has_line(text, "kubelet_pod_start_duration_seconds_bucket{le=\"1\"} 0"));
        assert_true(has_line(text, "kubelet_pod_start_duration_seconds_bucket{le=\"2.5\"} 1"));

        /* A forgotten UID that comes back Running (a new pod with the same UID) is observed again. */
        metrics_pod_status(m, "u2", NULL, 0);
        metrics_pod_status(m, "u2", running, now_real_ns());
        free(text);
        text = metrics_render(m, pods, &len);
        assert_true(has_line(text, "kubelet_pod_start_duration_seconds_count 2"));
        json_decref(running);
        json_decref(pods);
        metrics_free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_operation_names),
                cmocka_unit_test(test_render),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
