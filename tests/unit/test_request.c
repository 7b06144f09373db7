/* Unit tests for the node API's request parsing (agent/server/request.c): endpoints and methods, path
 * parameters, and every numeric query parameter range-checked before arithmetic. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "request.h"

#define NOW_NS (1700000000LL * 1000000000LL)
#define ARGS(...)                                                                                           \
        (struct node_query_arg[]){__VA_ARGS__},                                                             \
                sizeof((struct node_query_arg[]){__VA_ARGS__}) / sizeof(struct node_query_arg)

static int parse(const char *method, const char *path, const struct node_query_arg *a, size_t n,
                 struct node_request *r)
{
        return node_request_parse(method, path, a, n, NOW_NS, r);
}

static void test_endpoints(void **state)
{
        struct node_request r;
        assert_int_equal(parse("GET", "/healthz", NULL, 0, &r), 0);
        assert_int_equal(r.ep, NODE_EP_HEALTHZ);
        assert_int_equal(parse("GET", "/pods/", NULL, 0, &r), 0);
        assert_int_equal(r.ep, NODE_EP_PODS);
        assert_int_equal(parse("HEAD", "/runningpods/", NULL, 0, &r), 0);
        assert_int_equal(r.ep, NODE_EP_RUNNINGPODS);
        assert_int_equal(parse("GET", "/metrics/resource", NULL, 0, &r), 0);
        assert_int_equal(r.ep, NODE_EP_METRICS_RESOURCE);
        assert_int_equal(parse("GET", "/metrics", NULL, 0, &r), 0);
        assert_int_equal(r.ep, NODE_EP_METRICS);
        assert_int_equal(parse("GET", "/podsx", NULL, 0, &r), -EINVAL);
        assert_int_equal(r.status, 404);
        assert_int_equal(parse("DELETE", "/pods", NULL, 0, &r), -EINVAL);
        assert_int_equal(r.status, 405);

        assert_int_equal(parse("POST", "/exec/ns/p/c", ARGS({"command", "ls"}), &r), 0);
        assert_int_equal(r.ep, NODE_EP_EXEC);
        assert_string_equal(r.ns, "ns");
        assert_string_equal(r.pod, "p");
        assert_string_equal(r.container, "c");
        node_request_clear(&r);
        assert_int_equal(parse("GET", "/portForward/ns/p", NULL, 0, &r), 0);
        assert_int_equal(r.ep, NODE_EP_PORT_FORWARD);
        assert_null(r.container);
        node_request_clear(&r);
        assert_int_equal(parse("GET", "/portForward/ns/p/c", NULL, 0, &r), -EINVAL);
        assert_int_equal(r.status, 400);
        assert_null(r.ns);
        assert_int_equal(parse("GET", "/attach/ns/p", NULL, 0, &r), -EINVAL);
        assert_int_equal(r.status, 400);
        assert_int_equal(parse("PUT", "/exec/ns/p/c", NULL, 0, &r), -EINVAL);
        assert_int_equal(r.status, 405);
        assert_int_equal(parse("GET", "/containerLogs/ns/p", NULL, 0, &r), -EINVAL);
        assert_int_equal(r.status, 400);
        assert_int_equal(parse("POST", "/containerLogs/ns/p/c", NULL, 0, &r), -EINVAL);
        assert_int_equal(r.status, 405);
}

static void test_log_options(void **state)
{
        struct node_request r;
        assert_int_equal(parse("GET", "/containerLogs/ns/p/c", NULL, 0, &r), 0);
        assert_int_equal(r.ep, NODE_EP_CONTAINER_LOGS);
        assert_int_equal(r.log.tail, -1);
        assert_int_equal(r.log.limit, 0);
        assert_int_equal(r.log.since_ns, 0);
        assert_false(r.log.follow);
        node_request_clear(&r);

        assert_int_equal(parse("GET", "/containerLogs/ns/p/c",
                               ARGS({"follow", "true"}, {"previous", "1"}, {"timestamps", "True"},
                                    {"tailLines", "0"}, {"limitBytes", "8"}, {"sinceSeconds", "10"}),
                               &r),
                         0);
        assert_true(r.log.follow && r.log.previous && r.log.timestamps);
        assert_int_equal(r.log.tail, 0);
        assert_int_equal(r.log.limit, 8);
        assert_int_equal(r.log.since_ns, NOW_NS - 10 * 1000000000LL);
        node_request_clear(&r);

        /* The largest sinceSeconds reaches before the epoch: every line. */
        assert_int_equal(parse("GET", "/containerLogs/ns/p/c", ARGS({"sinceSeconds", "9223372036"}), &r), 0);
        assert_int_equal(r.log.since_ns, 0);
        node_request_clear(&r);
        assert_int_equal(
                parse("GET", "/containerLogs/ns/p/c", ARGS({"sinceTime", "2023-11-14T22:13:20Z"}), &r), 0);
        assert_int_equal(r.log.since_ns, NOW_NS);
        node_request_clear(&r);
}

static void refused(const char *key, const char *value, const char *want)
{
        struct node_request r;
        struct node_query_arg a[] = {{key, value}};
        assert_int_equal(parse("GET", "/containerLogs/ns/p/c", a, 1, &r), -EINVAL);
        assert_int_equal(r.ep, NODE_EP_NONE);
        assert_int_equal(r.status, 400);
        assert_null(r.ns);
        if (!strstr(r.error, want))
                fail_msg("%s=%s: \"%s\" does not say \"%s\"", key, value ? value : "(none)", r.error, want);
}

static void test_log_options_refused(void **state)
{
        /* Beyond int64 nanoseconds, beyond int64, negative, zero (upstream: must be greater than 0). */
        refused("sinceSeconds", "9223372037", "sinceSeconds: expected an integer from 1 to 9223372036");
        refused("sinceSeconds", "9223372036854775807", "sinceSeconds");
        refused("sinceSeconds", "99999999999999999999999", "sinceSeconds");
        refused("sinceSeconds", "-9223372036854775808", "sinceSeconds");
        refused("sinceSeconds", "0", "sinceSeconds");
        refused("sinceSeconds", "1e3", "sinceSeconds");
        refused("sinceSeconds", "", "sinceSeconds");
        refused("sinceSeconds", NULL, "sinceSeconds");
        refused("tailLines", "-1", "tailLines: expected an integer from 0 to 9223372036854775807");
        refused("tailLines", "9223372036854775808", "tailLines");
        refused("tailLines", " 1", "tailLines");
        refused("limitBytes", "0", "limitBytes: expected an integer from 1");
        refused("limitBytes", "-5", "limitBytes");
        refused("sinceTime", "yesterday", "sinceTime");
        refused("sinceTime", NULL, "sinceTime");

        struct node_request r;
        assert_int_equal(parse("GET", "/containerLogs/ns/p/c",
                               ARGS({"sinceSeconds", "5"}, {"sinceTime", "2023-11-14T22:13:20Z"}), &r),
                         -EINVAL);
        assert_non_null(strstr(r.error, "at most one of sinceTime or sinceSeconds"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_endpoints),
                cmocka_unit_test(test_log_options),
                cmocka_unit_test(test_log_options_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
