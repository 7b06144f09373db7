/* Unit tests for the stats summary's pure pieces: /proc/net/dev parsing, du, the CPU rate. */
#include <errno.h>
#include <fcntl.h>
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

#include "stats.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-stats-XXXXXX";

static int setup(void **state)
{
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        return rm_rf(tmpdir) < 0 ? -1 : 0;
}

static void test_net_dev(void **state)
{
        static const char text[] =
                "Inter-|   Receive                                                |  Transmit\n"
                " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
                "drop "
                "fifo colls carrier compressed\n"
                "    lo:  123456     100    0    0    0     0          0         0   123456     100    0    "
                "0 "
                "   0     0       0          0\n"
                "  eth0: 2000 20 1 0 0 0 0 0 3000 30 2 0 0 0 0 0\n"
                "vethab12: 5 1 0 0 0 0 0 0 6 1 0 0 0 0 0 0\n"
                "  net1:    70    1    0    0    0     0          0         0       80       1    4    0    "
                "0 "
                "    0       0          0\n"
                "broken line without numbers\n"
                "  bad: 1 2\n";
        json_t *n = stats_net_dev_json(text);
        assert_non_null(n);
        /* eth0 inline, as upstream's default interface. */
        assert_string_equal(json_string_value(json_object_get(n, "name")), "eth0");
        assert_int_equal(json_integer_value(json_object_get(n, "rxBytes")), 2000);
        assert_int_equal(json_integer_value(json_object_get(n, "rxErrors")), 1);
        assert_int_equal(json_integer_value(json_object_get(n, "txBytes")), 3000);
        assert_int_equal(json_integer_value(json_object_get(n, "txErrors")), 2);
        /* lo and veth* left out, the broken lines skipped. */
        json_t *l = json_object_get(n, "interfaces");
        assert_int_equal(json_array_size(l), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "name")), "net1");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 1), "txErrors")), 4);
        json_decref(n);

        /* No eth0: only the list. */
        n = stats_net_dev_json("h1\nh2\n  ens3: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n");
        assert_null(json_object_get(n, "name"));
        assert_int_equal(json_array_size(json_object_get(n, "interfaces")), 1);
        json_decref(n);
        n = stats_net_dev_json("");
        assert_int_equal(json_array_size(json_object_get(n, "interfaces")), 0);
        json_decref(n);
}

static void write_bytes(const char *path, size_t n)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        char buf[4096];
        memset(buf, 'x', sizeof buf);
        while (n) {
                size_t k = n < sizeof buf ? n : sizeof buf;
                assert_int_equal(write(fd, buf, k), (ssize_t) k);
                n -= k;
        }
        assert_int_equal(fsync(fd), 0);
        close(fd);
}

static uint64_t blocks_of(const char *path)
{
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        return (uint64_t) st.st_blocks * 512;
}

static void test_disk_usage(void **state)
{
        _cleanup_free_ char *d = strdup_printf("%s/vol", tmpdir), *sub = strdup_printf("%s/vol/a/b", tmpdir),
                            *f1 = strdup_printf("%s/vol/f1", tmpdir),
                            *f2 = strdup_printf("%s/vol/a/b/f2", tmpdir),
                            *hl = strdup_printf("%s/vol/a/hardlink", tmpdir),
                            *sl = strdup_printf("%s/vol/a/symlink", tmpdir),
                            *a = strdup_printf("%s/vol/a", tmpdir);
        assert_int_equal(mkdir_p(sub, 0755), 0);
        write_bytes(f1, 100000);
        write_bytes(f2, 5000);
        assert_int_equal(link(f2, hl), 0);
        assert_int_equal(symlink("/etc", sl), 0); /* not followed */
        uint64_t want =
                blocks_of(d) + blocks_of(f1) + blocks_of(f2) + blocks_of(sl) + blocks_of(a) + blocks_of(sub);
        uint64_t bytes = 0, inodes = 0;
        assert_int_equal(stats_disk_usage(d, &bytes, &inodes), 0);
        assert_int_equal(bytes, want);
        /* vol, f1, a, b, f2 (its second link once), symlink */
        assert_int_equal(inodes, 6);
        assert_true(bytes >= 100000 + 5000);

        /* A single file; a missing path. */
        assert_int_equal(stats_disk_usage(f1, &bytes, &inodes), 0);
        assert_int_equal(inodes, 1);
        assert_int_equal(bytes, blocks_of(f1));
        _cleanup_free_ char *missing = strdup_printf("%s/none", tmpdir);
        assert_int_equal(stats_disk_usage(missing, &bytes, &inodes), -ENOENT);
}

static void test_rate(void **state)
{
        struct stats_rate r = {0};
        uint64_t cores = 0;
        const int64_t s = 1000000000LL;
        /* The first sample primes; too short a window gives nothing yet. */
        assert_false(stats_rate_update(&r, 10 * s, 1000, s, &cores));
        assert_false(stats_rate_update(&r, 10 * s + s / 2, 2000, s, &cores));
        /* 0.5 s of CPU in 2 s: half a core. */
        assert_true(stats_rate_update(&r, 12 * s, 1000 + s / 2, s, &cores));
        assert_int_equal(cores, 250000000);
        /* Within the next window: the last rate stands. */
        cores = 0;
        assert_true(stats_rate_update(&r, 12 * s + 10, 1000 + s, s, &cores));
        assert_int_equal(cores, 250000000);
        /* 2 cores busy for 1 s. */
        assert_true(stats_rate_update(&r, 13 * s, 1000 + s / 2 + 2 * s, s, &cores));
        assert_int_equal(cores, 2000000000);
        /* A late sample (older than the last): nothing moves. */
        assert_true(stats_rate_update(&r, 12 * s, 1, s, &cores));
        assert_int_equal(cores, 2000000000);
        /* The counter went backwards (a new cgroup of that name): start again. */
        assert_false(stats_rate_update(&r, 14 * s, 5, s, &cores));
        assert_true(stats_rate_update(&r, 15 * s, 5 + s / 10, s, &cores));
        assert_int_equal(cores, 100000000);
}

static void test_resource_metrics(void **state)
{
        json_error_t je;
        json_t *sum = json_loads("{\"node\": {\"cpu\": {\"usageCoreNanoSeconds\": 1500000000}, \"memory\": "
                                 "{\"workingSetBytes\": 25769803776}},"
                                 " \"pods\": [{\"podRef\": {\"name\": \"p\\\"1\", \"namespace\": \"ns\"},"
                                 "   \"cpu\": {\"usageCoreNanoSeconds\": 2}, \"memory\": {},"
                                 "   \"containers\": [{\"name\": \"c\", \"cpu\": {\"usageCoreNanoSeconds\": "
                                 "1}, \"memory\": {\"workingSetBytes\": 4096}}]}]}",
                                 0, &je);
        assert_non_null(sum);
        _cleanup_free_ char *t = stats_summary_to_resource_metrics(sum, 1700000000000);
        json_decref(sum);
        assert_non_null(t);
        assert_non_null(strstr(
                t, "# TYPE container_cpu_usage_seconds_total counter\n"
                   "container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"p\\\"1\"} "
                   "0.000000001 1700000000000\n"));
        assert_non_null(strstr(t, "container_memory_working_set_bytes{container=\"c\",namespace=\"ns\",pod="
                                  "\"p\\\"1\"} 4096 "));
        assert_non_null(strstr(t, "\nnode_cpu_usage_seconds_total 1.500000000 1700000000000\n"));
        assert_non_null(
                strstr(t, "\nnode_memory_working_set_bytes 25769803776 1700000000000\n")); /* bytes whole */
        assert_non_null(
                strstr(t, "pod_cpu_usage_seconds_total{namespace=\"ns\",pod=\"p\\\"1\"} 0.000000002 "));
        assert_null(strstr(t, "pod_memory_working_set_bytes{")); /* no number, no sample */
        assert_non_null(strstr(t, "\nscrape_error 0\n"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_net_dev),
                cmocka_unit_test_setup_teardown(test_disk_usage, setup, teardown),
                cmocka_unit_test(test_rate),
                cmocka_unit_test(test_resource_metrics),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
