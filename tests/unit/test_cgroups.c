/* Unit tests for the cgroupfs driver and the pod cgroups by QoS class: upstream's resource math, the files
 * written in fake v1 and v2 trees, and (as root) real cgroups on this machine under a test-unique root. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "cgroups.h"
#include "config.h"
#include "qos_cgroups.h"
#include "util.h"

#define MiB (1024LL * 1024)

static char tmpdir[64];

static int setup_tmp(void **state)
{
        snprintf(tmpdir, sizeof tmpdir, "/tmp/test-cgroups-XXXXXX");
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
        return rm_rf(tmpdir) < 0 ? -1 : 0;
}

/* Writes text to base/rel, making the directories. */
static void put(const char *base, const char *rel, const char *text)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", base, rel);
        _cleanup_free_ char *dir = xstrdup(p);
        *strrchr(dir, '/') = 0;
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

/* The contents of base/rel without the trailing newline, in a static buffer ("<missing>" if absent). */
static const char *get(const char *base, const char *rel)
{
        static char buf[4096];
        _cleanup_free_ char *p = strdup_printf("%s/%s", base, rel), *text = NULL;
        if (read_file_limit(p, sizeof buf - 1, &text, NULL) < 0)
                return "<missing>";
        snprintf(buf, sizeof buf, "%s", text);
        size_t n = strlen(buf);
        if (n && buf[n - 1] == '\n')
                buf[n - 1] = 0;
        return buf;
}

/* printf into one of a few static buffers: paths for one assertion without frees. */
static const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *P(const char *fmt, ...)
{
        static char ring[4][512];
        static unsigned next;
        char *buf = ring[next++ % 4];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof ring[0], fmt, ap);
        va_end(ap);
        return buf;
}

static bool is_dir(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- upstream's resource math ---------------------------------------------------------------------- */

/* Hugepage sizes as upstream names them for the runtime (libcontainer's units.CustomSize "%g%s", 1024),
 * in the order of their /sys/kernel/mm/hugepages entries' names. */
static void test_hugepage_sizes(void **state)
{
        (void) state;
        char out[32];
        assert_true(cg_hugepage_size_name("hugepages-2048kB", out, sizeof out));
        assert_string_equal(out, "2MB");
        assert_true(cg_hugepage_size_name("hugepages-1048576kB", out, sizeof out));
        assert_string_equal(out, "1GB");
        assert_true(cg_hugepage_size_name("hugepages-64kB", out, sizeof out));
        assert_string_equal(out, "64KB");
        assert_true(cg_hugepage_size_name("hugepages-1536kB", out, sizeof out));
        assert_string_equal(out, "1.5MB");
        assert_true(cg_hugepage_size_name("hugepages-16777216kB", out, sizeof out));
        assert_string_equal(out, "16GB");
        assert_false(cg_hugepage_size_name("hugepages-", out, sizeof out));
        assert_false(cg_hugepage_size_name("hugepages-2048", out, sizeof out));
        assert_false(cg_hugepage_size_name("hugepages-2048MB", out, sizeof out));
        assert_false(cg_hugepage_size_name("hugepages-0kB", out, sizeof out));
        assert_false(cg_hugepage_size_name("hugepages-99999999999999999999kB", out, sizeof out));
        assert_false(cg_hugepage_size_name("foo-2048kB", out, sizeof out));
        assert_false(cg_hugepage_size_name("hugepages-2048kB", out, 3)); /* does not fit */

        char dir[] = "/tmp/cg-hugepages-XXXXXX", path[160];
        struct cg_hugepage hp[CG_HUGEPAGES_MAX];
        assert_non_null(mkdtemp(dir));
        assert_int_equal(cg_hugepages(dir, hp), 0); /* none */
        /* More sizes than it keeps: the first CG_HUGEPAGES_MAX by name. */
        static const char *const entries[] = {
                "hugepages-2048kB",   "hugepages-1048576kB", "other",
                "hugepages-64kB",     "hugepages-32768kB",   "hugepages-16kB",
                "hugepages-1024kB",   "hugepages-4096kB",    "hugepages-8192kB",
                "hugepages-524288kB", "hugepages-9kB"};
        for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
                snprintf(path, sizeof path, "%s/%s", dir, entries[i]);
                assert_int_equal(mkdir(path, 0755), 0);
        }
        put(dir, "hugepages-2048kB/nr_hugepages", "3\n");
        assert_int_equal(cg_hugepages(dir, hp), CG_HUGEPAGES_MAX);
        assert_string_equal(hp[0].name, "1MB"); /* "hugepages-1024kB" sorts first */
        assert_string_equal(hp[1].name, "1GB");
        assert_int_equal(hp[1].page_size, 1024 * MiB);
        assert_int_equal(hp[1].pages, 0); /* no nr_hugepages: 0 */
        assert_string_equal(hp[2].name, "16KB");
        assert_string_equal(hp[3].name, "2MB");
        assert_int_equal(hp[3].page_size, 2 * MiB);
        assert_int_equal(hp[3].pages, 3);
        assert_string_equal(hp[4].name, "32MB");
        assert_string_equal(hp[7].name, "64KB"); /* "hugepages-8192kB" and "hugepages-9kB" are left out */
        for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
                snprintf(path, sizeof path, "%s/%s/nr_hugepages", dir, entries[i]);
                unlink(path);
                snprintf(path, sizeof path, "%s/%s", dir, entries[i]);
                rmdir(path);
        }
        rmdir(dir);
        assert_int_equal(cg_hugepages("/nonexistent/hugepages", hp), 0);
        /* The machine's own, as the kernel lists them. */
        size_t n = cg_hugepages(NULL, hp);
        for (size_t i = 0; i < n; i++)
                print_message("# hugepages %s: %" PRIu64 " bytes, %" PRIu64 " pages\n", hp[i].name,
                              hp[i].page_size, hp[i].pages);
}

static void test_shares(void **state)
{
        assert_int_equal(cg_milli_to_shares(0), 2); /* not the runtime's "unset" 1024 */
        assert_int_equal(cg_milli_to_shares(-1), 2);
        assert_int_equal(cg_milli_to_shares(1), 2);
        assert_int_equal(cg_milli_to_shares(2), 2);
        assert_int_equal(cg_milli_to_shares(3), 3);
        assert_int_equal(cg_milli_to_shares(100), 102);
        assert_int_equal(cg_milli_to_shares(250), 256);
        assert_int_equal(cg_milli_to_shares(1000), 1024);
        assert_int_equal(cg_milli_to_shares(2000), 2048);
        assert_int_equal(cg_milli_to_shares(256000), 262144);
        assert_int_equal(cg_milli_to_shares(256001), 262144); /* the kernel's ceiling */
        assert_int_equal(cg_milli_to_shares(INT64_MAX), 262144);
}

static void test_quota(void **state)
{
        assert_int_equal(cg_milli_to_quota(0, CG_QUOTA_PERIOD_US), 0); /* no limit, no quota */
        assert_int_equal(cg_milli_to_quota(-1, CG_QUOTA_PERIOD_US), 0);
        assert_int_equal(cg_milli_to_quota(1, CG_QUOTA_PERIOD_US), 1000); /* at least 1 ms */
        assert_int_equal(cg_milli_to_quota(10, CG_QUOTA_PERIOD_US), 1000);
        assert_int_equal(cg_milli_to_quota(11, CG_QUOTA_PERIOD_US), 1100);
        assert_int_equal(cg_milli_to_quota(100, CG_QUOTA_PERIOD_US), 10000);
        assert_int_equal(cg_milli_to_quota(500, CG_QUOTA_PERIOD_US), 50000);
        assert_int_equal(cg_milli_to_quota(1500, CG_QUOTA_PERIOD_US), 150000);
        assert_int_equal(cg_milli_to_quota(1000, 50000), 50000);
        assert_int_equal(cg_milli_to_quota(1000, 0), 100000); /* the default period */
}

static void test_weight(void **state)
{
        /* 1 + ((shares - 2) * 9999) / 262142 */
        assert_int_equal(cg_shares_to_weight(0), 0);
        assert_int_equal(cg_shares_to_weight(2), 1);
        assert_int_equal(cg_shares_to_weight(102), 4);
        assert_int_equal(cg_shares_to_weight(358), 14);
        assert_int_equal(cg_shares_to_weight(1024), 39);
        assert_int_equal(cg_shares_to_weight(2048), 79);
        assert_int_equal(cg_shares_to_weight(262144), 10000);
        assert_int_equal(cg_shares_to_weight(1), 1); /* clamped into range */
        assert_int_equal(cg_shares_to_weight(1 << 30), 10000);
}

/* ---- pods ------------------------------------------------------------------------------------------ */

static struct container ctr(const char *name, int64_t cpu_req, int64_t cpu_lim, int64_t mem_req,
                            int64_t mem_lim)
{
        return (struct container){.name = (char *) name,
                                  .cpu_request_m = cpu_req,
                                  .cpu_limit_m = cpu_lim,
                                  .mem_request = mem_req,
                                  .mem_limit = mem_lim};
}

static struct pod mkpod(const char *uid, struct container *init, size_t n_init, struct container *app,
                        size_t n)
{
        return (struct pod){.name = (char *) "p",
                            .namespace = (char *) "default",
                            .uid = (char *) uid,
                            .init_containers = init,
                            .n_init_containers = n_init,
                            .containers = app,
                            .n_containers = n};
}

static void test_pod_guaranteed(void **state)
{
        struct container c[] = {ctr("a", 500, 500, 128 * MiB, 128 * MiB),
                                ctr("b", 250, 250, 64 * MiB, 64 * MiB)};
        struct pod p = mkpod("g1", NULL, 0, c, 2);
        struct cg_resources r;

        assert_int_equal(qos_class_of(&p), QOS_GUARANTEED);
        qos_pod_resources(&p, -1, &r);
        assert_int_equal(r.cpu_shares, 768);
        assert_int_equal(r.cpu_quota_us, 75000);
        assert_int_equal(r.cpu_period_us, 100000);
        assert_int_equal(r.memory_max, 192 * MiB);
        assert_int_equal(r.pids_max, CG_UNSET);
        _cleanup_free_ char *name = qos_pod_cgroup_name(QOS_GUARANTEED, p.uid);
        assert_string_equal(name, "kubepods/podg1");
}

static void test_pod_burstable(void **state)
{
        struct cg_resources r;

        /* One container without a cpu limit: no quota at pod level; one without memory limit: no limit. */
        struct container c1[] = {ctr("a", 250, 1000, 64 * MiB, -1), ctr("b", 100, -1, -1, 32 * MiB)};
        struct pod p1 = mkpod("b1", NULL, 0, c1, 2);
        assert_int_equal(qos_class_of(&p1), QOS_BURSTABLE);
        qos_pod_resources(&p1, -1, &r);
        assert_int_equal(r.cpu_shares, 358);
        assert_int_equal(r.cpu_quota_us, CG_UNSET);
        assert_int_equal(r.cpu_period_us, CG_UNSET);
        assert_int_equal(r.memory_max, CG_UNSET);

        /* Every container has both limits (requests lower): quota and memory limit from the sums. */
        struct container c2[] = {ctr("a", 100, 200, 32 * MiB, 64 * MiB),
                                 ctr("b", 200, 300, 16 * MiB, 32 * MiB)};
        struct pod p2 = mkpod("b2", NULL, 0, c2, 2);
        assert_int_equal(qos_class_of(&p2), QOS_BURSTABLE);
        qos_pod_resources(&p2, 1024, &r);
        assert_int_equal(r.cpu_shares, 307);
        assert_int_equal(r.cpu_quota_us, 50000);
        assert_int_equal(r.cpu_period_us, 100000);
        assert_int_equal(r.memory_max, 96 * MiB);
        assert_int_equal(r.pids_max, 1024);

        /* Memory only: shares from no cpu request at all, the floor. */
        struct container c3[] = {ctr("a", -1, -1, 64 * MiB, -1)};
        struct pod p3 = mkpod("b3", NULL, 0, c3, 1);
        qos_pod_resources(&p3, 0, &r);
        assert_int_equal(r.cpu_shares, 2);
        assert_int_equal(r.memory_max, CG_UNSET);
        assert_int_equal(r.pids_max, CG_UNSET); /* 0: no pids limit */
        _cleanup_free_ char *name = qos_pod_cgroup_name(QOS_BURSTABLE, p3.uid);
        assert_string_equal(name, "kubepods/burstable/podb3");
}

static void test_pod_init_containers(void **state)
{
        struct qos_pod_totals t;
        struct cg_resources r;

        /* max(sum of app containers, largest init container), per resource. */
        struct container init[] = {ctr("i1", 500, 1000, -1, 256 * MiB), ctr("i2", 100, 100, -1, 16 * MiB)};
        struct container app[] = {ctr("a", 100, 200, -1, 64 * MiB), ctr("b", 200, 300, -1, 32 * MiB)};
        struct pod p = mkpod("i", init, 2, app, 2);
        qos_pod_totals(&p, &t);
        assert_int_equal(t.cpu_request_m, 500);
        assert_int_equal(t.cpu_limit_m, 1000);
        assert_int_equal(t.memory_limit, 256 * MiB);
        assert_true(t.cpu_limits_declared);
        assert_true(t.memory_limits_declared);
        qos_pod_resources(&p, -1, &r);
        assert_int_equal(r.cpu_shares, 512);
        assert_int_equal(r.cpu_quota_us, 100000);
        assert_int_equal(r.memory_max, 256 * MiB);

        /* The apps outweigh a small init container. */
        struct container small[] = {ctr("i", 50, 50, -1, 8 * MiB)};
        struct pod p2 = mkpod("i2", small, 1, app, 2);
        qos_pod_totals(&p2, &t);
        assert_int_equal(t.cpu_request_m, 300);
        assert_int_equal(t.cpu_limit_m, 500);
        assert_int_equal(t.memory_limit, 96 * MiB);

        /* An init container without a memory limit: only the app containers say whether the limits are
         * declared (upstream 1.20's ResourceConfigForPod), so the pod keeps the apps' sum. */
        struct container nolim[] = {ctr("i", 50, 50, 8 * MiB, -1)};
        struct pod p3 = mkpod("i3", nolim, 1, app, 2);
        qos_pod_totals(&p3, &t);
        assert_true(t.memory_limits_declared);
        assert_true(t.cpu_limits_declared);
        qos_pod_resources(&p3, -1, &r);
        assert_int_equal(r.memory_max, 96 * MiB);
        assert_int_equal(r.cpu_quota_us, 50000);

        /* An app container without a limit: none for the pod. */
        struct container app_nolim[] = {ctr("a", 100, 200, -1, 64 * MiB), ctr("b", 200, 300, -1, -1)};
        struct pod p4 = mkpod("i4", init, 2, app_nolim, 2);
        qos_pod_totals(&p4, &t);
        assert_false(t.memory_limits_declared);
        qos_pod_resources(&p4, -1, &r);
        assert_int_equal(r.memory_max, CG_UNSET);

        /* spec.overhead: added to the requests, and to the limits that are set. */
        struct pod p5 = mkpod("i5", NULL, 0, app, 2);
        p5.overhead.cpu_m = 250;
        p5.overhead.memory = 32 * MiB;
        qos_pod_totals(&p5, &t);
        assert_int_equal(t.cpu_request_m, 300 + 250);
        assert_int_equal(t.cpu_limit_m, 500 + 250);
        assert_int_equal(t.memory_limit, 96 * MiB + 32 * MiB);
        struct container req_only[] = {ctr("a", 100, -1, -1, -1)};
        struct pod p6 = mkpod("i6", NULL, 0, req_only, 1);
        p6.overhead.cpu_m = 250;
        p6.overhead.memory = 32 * MiB;
        qos_pod_totals(&p6, &t);
        assert_int_equal(t.cpu_request_m, 350);
        assert_int_equal(t.cpu_limit_m, 0);
        assert_int_equal(t.memory_limit, 0);
}

static void test_pod_besteffort(void **state)
{
        struct container c[] = {ctr("a", -1, -1, -1, -1), ctr("b", -1, -1, -1, -1)};
        struct pod p = mkpod("e1", NULL, 0, c, 2);
        struct cg_resources r;

        assert_int_equal(qos_class_of(&p), QOS_BEST_EFFORT);
        qos_pod_resources(&p, 100, &r);
        assert_int_equal(r.cpu_shares, 2);
        assert_int_equal(r.cpu_quota_us, CG_UNSET);
        assert_int_equal(r.memory_max, CG_UNSET);
        assert_int_equal(r.pids_max, 100);
        _cleanup_free_ char *name = qos_pod_cgroup_name(QOS_BEST_EFFORT, p.uid);
        assert_string_equal(name, "kubepods/besteffort/pode1");
}

/* ---- a fake v1 tree ---------------------------------------------------------------------------------- */

/* The files a v1 kernel makes in a new cgroup, in each of the test tree's hierarchies. */
static void fake_v1(const char *name)
{
        static const char *const files[][2] = {
                {"cpu,cpuacct", "cpu.shares"},
                {"cpu,cpuacct", "cpu.cfs_period_us"},
                {"cpu,cpuacct", "cpu.cfs_quota_us"},
                {"cpu,cpuacct", "cpuacct.usage"},
                {"cpu,cpuacct", "cgroup.procs"},
                {"cpuset", "cpuset.cpus"},
                {"cpuset", "cpuset.mems"},
                {"cpuset", "cgroup.procs"},
                {"memory", "memory.limit_in_bytes"},
                {"memory", "memory.usage_in_bytes"},
                {"memory", "memory.stat"},
                {"memory", "cgroup.procs"},
                {"pids", "pids.max"},
                {"pids", "cgroup.procs"},
                {"devices", "cgroup.procs"},
                {"hugetlb", "hugetlb.2MB.limit_in_bytes"},
                {"hugetlb", "hugetlb.1GB.limit_in_bytes"},
                {"hugetlb", "cgroup.procs"},
                {"unified", "cgroup.procs"},
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *rel = strdup_printf("%s/%s/%s", files[i][0], name, files[i][1]);
                put(tmpdir, rel, "");
        }
}

static struct cg *open_fake(enum cg_mode mode, const char *root)
{
        struct cg_options o = {.mount_root = tmpdir, .root = root, .mode = mode};
        struct cg_error err = {{0}};
        struct cg *cg = NULL;
        int r = cg_open(&o, &cg, &err);
        if (r < 0)
                fail_msg("cg_open: %s", err.msg);
        return cg;
}

static void test_v1_fake_tree(void **state)
{
        put(tmpdir, "cpuset/cpuset.cpus", "0-3\n");
        put(tmpdir, "cpuset/cpuset.mems", "0\n");
        assert_int_equal(symlink("cpu,cpuacct", P("%s/cpu", tmpdir)), 0); /* not a hierarchy */
        fake_v1("t");
        fake_v1("t/kubepods");
        fake_v1("t/kubepods/burstable");
        fake_v1("t/kubepods/burstable/pod1");

        struct cg *cg = open_fake(CG_MODE_HYBRID, "/t/");
        struct cg_error err = {{0}};
        struct cg_resources r;

        assert_int_equal(cg_get_mode(cg), CG_MODE_HYBRID);
        _cleanup_free_ char *path = cg_path(cg, "kubepods/burstable/pod1");
        assert_string_equal(path, "/t/kubepods/burstable/pod1");
        _cleanup_free_ char *unified = cg_unified_dir(cg, "kubepods"), *utop = cg_unified_dir(cg, "");
        assert_string_equal(unified, P("%s/unified/t/kubepods", tmpdir));
        assert_string_equal(utop, P("%s/unified/t", tmpdir));
        cg_resources_init(&r);
        r.cpu_shares = 358;
        r.cpu_quota_us = 50000;
        r.memory_max = 96 * MiB;
        r.pids_max = 1024;
        r.hugetlb[0] = (struct cg_hugetlb){"1GB", 0};
        r.hugetlb[1] = (struct cg_hugetlb){"2MB", 4 * MiB};
        r.n_hugetlb = 2;
        assert_true(cg_create(cg, "kubepods/burstable/pod1", &r, &err) >= 0);
        assert_string_equal(get(tmpdir, "hugetlb/t/kubepods/burstable/pod1/hugetlb.1GB.limit_in_bytes"),
                            "0");
        assert_string_equal(get(tmpdir, "hugetlb/t/kubepods/burstable/pod1/hugetlb.2MB.limit_in_bytes"),
                            "4194304");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/t/kubepods/burstable/pod1/cpu.shares"), "358");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/t/kubepods/burstable/pod1/cpu.cfs_period_us"),
                            "100000");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/t/kubepods/burstable/pod1/cpu.cfs_quota_us"), "50000");
        assert_string_equal(get(tmpdir, "memory/t/kubepods/burstable/pod1/memory.limit_in_bytes"),
                            "100663296");
        assert_string_equal(get(tmpdir, "pids/t/kubepods/burstable/pod1/pids.max"), "1024");
        /* Every level of cpuset took its parent's cpus and mems. */
        assert_string_equal(get(tmpdir, "cpuset/t/cpuset.cpus"), "0-3");
        assert_string_equal(get(tmpdir, "cpuset/t/kubepods/burstable/pod1/cpuset.cpus"), "0-3");
        assert_string_equal(get(tmpdir, "cpuset/t/kubepods/burstable/pod1/cpuset.mems"), "0");
        /* Hierarchies without settings and hybrid's unified get the directory only. */
        assert_true(is_dir(P("%s/devices/t/kubepods/burstable/pod1", tmpdir)));
        assert_true(is_dir(P("%s/unified/t/kubepods/burstable/pod1", tmpdir)));
        assert_true(cg_exists(cg, "kubepods/burstable/pod1"));
        assert_false(cg_exists(cg, "kubepods/burstable/pod2"));

        /* No limits: "-1" for quota and memory, "max" for pids. Unset fields stay as they are. */
        cg_resources_init(&r);
        r.cpu_quota_us = CG_MAX;
        r.memory_max = CG_MAX;
        r.pids_max = CG_MAX;
        r.hugetlb[0] = (struct cg_hugetlb){"2MB", CG_MAX};
        r.n_hugetlb = 1;
        assert_int_equal(cg_update(cg, "kubepods/burstable/pod1", &r, &err), 0);
        assert_string_equal(get(tmpdir, "hugetlb/t/kubepods/burstable/pod1/hugetlb.2MB.limit_in_bytes"),
                            "-1");
        assert_string_equal(get(tmpdir, "hugetlb/t/kubepods/burstable/pod1/hugetlb.1GB.limit_in_bytes"),
                            "0");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/t/kubepods/burstable/pod1/cpu.cfs_quota_us"), "-1");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/t/kubepods/burstable/pod1/cpu.shares"), "358");
        assert_string_equal(get(tmpdir, "memory/t/kubepods/burstable/pod1/memory.limit_in_bytes"), "-1");
        assert_string_equal(get(tmpdir, "pids/t/kubepods/burstable/pod1/pids.max"), "max");

        /* Updating what is not there, and a file the kernel did not make (no such controller there). */
        assert_int_equal(cg_update(cg, "kubepods/burstable/pod2", &r, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "kubepods/burstable/pod2"));
        assert_true(unlink(P("%s/pids/t/kubepods/burstable/pod1/pids.max", tmpdir)) == 0);
        assert_int_equal(cg_update(cg, "kubepods/burstable/pod1", &r, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "pids/t/kubepods/burstable/pod1/pids.max"));

        /* Usage: cpuacct.usage; memory working set = usage - total_inactive_file. */
        put(tmpdir, "cpu,cpuacct/t/kubepods/burstable/pod1/cpuacct.usage", "123456789\n");
        put(tmpdir, "memory/t/kubepods/burstable/pod1/memory.usage_in_bytes", "1000000\n");
        put(tmpdir, "memory/t/kubepods/burstable/pod1/memory.stat",
            "cache 400000\ninactive_file 100\ntotal_cache 400000\ntotal_inactive_file 300000\n"
            "rss 7\ntotal_rss 8192\ntotal_pgfault 77\ntotal_pgmajfault 3\n");
        struct cg_usage u;
        assert_int_equal(cg_read_usage(cg, "kubepods/burstable/pod1", &u, &err), 0);
        assert_int_equal(u.cpu_usage_ns, 123456789);
        assert_int_equal(u.memory_usage, 1000000);
        assert_int_equal(u.memory_working_set, 700000);
        assert_int_equal(u.memory_rss, 8192);
        assert_int_equal(u.page_faults, 77);
        assert_int_equal(u.major_page_faults, 3);
        assert_int_equal(u.memory_limit, 0); /* no memory.limit_in_bytes in this tree: none */
        put(tmpdir, "memory/t/kubepods/burstable/pod1/memory.limit_in_bytes", "67108864\n");
        assert_int_equal(cg_read_usage(cg, "kubepods/burstable/pod1", &u, &err), 0);
        assert_int_equal(u.memory_limit, 67108864);
        put(tmpdir, "memory/t/kubepods/burstable/pod1/memory.limit_in_bytes", "9223372036854771712\n");
        assert_int_equal(cg_read_usage(cg, "kubepods/burstable/pod1", &u, &err), 0);
        assert_int_equal(u.memory_limit, 0); /* v1's "unlimited" */

        /* Processes in the subtree (pids hierarchy): the count and one of them. */
        put(tmpdir, "pids/t/kubepods/burstable/pod1/cgroup.procs", "");
        put(tmpdir, "pids/t/kubepods/burstable/pod1/c1/cgroup.procs", "41\n42\n");
        put(tmpdir, "pids/t/kubepods/burstable/pod1/c2/cgroup.procs", "43\n");
        size_t nprocs = 0;
        pid_t pid = 0;
        assert_int_equal(cg_procs(cg, "kubepods/burstable/pod1", &nprocs, &pid), 0);
        assert_int_equal(nprocs, 3);
        assert_true(pid == 41 || pid == 43);
        assert_int_equal(cg_procs(cg, "kubepods/burstable/nothere", &nprocs, &pid), -ENOENT);

        /* What a runtime left in a pod cgroup is killed: every process of the subtree, every hierarchy (the
         * fake pids above are real processes of this machine: gone first). */
        put(tmpdir, "pids/t/kubepods/burstable/pod1/c1/cgroup.procs", "");
        put(tmpdir, "pids/t/kubepods/burstable/pod1/c2/cgroup.procs", "");
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                pause();
                _exit(0);
        }
        char line[32];
        snprintf(line, sizeof line, "%d\n", (int) child);
        put(tmpdir, "cpu/t/kubepods/burstable/pod1/c9/cgroup.procs", line);
        assert_int_equal(cg_kill(cg, "kubepods/burstable/pod1", SIGKILL, &err), 1);
        int wst = 0;
        assert_int_equal(waitpid(child, &wst, 0), child);
        assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
        put(tmpdir, "cpu/t/kubepods/burstable/pod1/c9/cgroup.procs", "");
        assert_int_equal(cg_kill(cg, "kubepods/burstable/nothere", SIGKILL, &err), 0);
        assert_int_equal(cg_kill(cg, "", SIGKILL, &err), -EINVAL);
        assert_int_equal(cg_kill(cg, "../x", SIGKILL, &err), -EINVAL);

        /* Names: relative and plain only. */
        assert_int_equal(cg_create(cg, "/abs", NULL, &err), -EINVAL);
        assert_int_equal(cg_create(cg, "a/../b", NULL, &err), -EINVAL);
        assert_int_equal(cg_create(cg, "a//b", NULL, &err), -EINVAL);
        assert_int_equal(cg_create(cg, "a/", NULL, &err), -EINVAL);
        assert_int_equal(cg_remove(cg, "..", &err), -EINVAL);
        assert_null(cg_path(cg, "./x"));

        /* Children across hierarchies, deduplicated and sorted. */
        put(tmpdir, "memory/t/kubepods/burstable/podz/cgroup.procs", "");
        _cleanup_strv_free_ char **kids = NULL;
        assert_int_equal(cg_children(cg, "kubepods/burstable", &kids), 0);
        assert_int_equal(strv_length(kids), 2);
        assert_string_equal(kids[0], "pod1");
        assert_string_equal(kids[1], "podz");

        /* A cgroup with a process is not removed, and the error says so. */
        put(tmpdir, "memory/t/kubepods/burstable/pod1/cgroup.procs", "4242\n");
        assert_int_equal(cg_remove(cg, "kubepods/burstable/pod1", &err), -EBUSY);
        assert_non_null(strstr(err.msg, "1 process still in it"));
        assert_true(is_dir(P("%s/devices/t/kubepods/burstable/pod1", tmpdir)));
        cg_free(cg);

        /* Plain v1 has no unified hierarchy, even if there is such a directory. */
        cg = open_fake(CG_MODE_V1, "/");
        _cleanup_free_ char *top = cg_path(cg, "kubepods");
        assert_string_equal(top, "/kubepods");
        _cleanup_free_ char *udir = cg_dir(cg, "x", NULL), *mdir = cg_dir(cg, "x", "memory");
        assert_string_equal(mdir, P("%s/memory/x", tmpdir));
        assert_null(strstr(udir, "unified"));
        assert_null(cg_unified_dir(cg, "x"));
        cg_free(cg);

        struct cg_options bad = {.mount_root = tmpdir, .root = "relative", .mode = CG_MODE_V1};
        assert_int_equal(cg_open(&bad, &cg, &err), -EINVAL);
        bad.root = "/a/../b";
        assert_int_equal(cg_open(&bad, &cg, &err), -EINVAL);
}

static void test_v1_fake_qos_tree(void **state)
{
        put(tmpdir, "cpuset/cpuset.cpus", "0-1\n");
        put(tmpdir, "cpuset/cpuset.mems", "0\n");
        static const char *const levels[] = {
                "kubepods",      "kubepods/burstable",      "kubepods/besteffort",
                "kubepods/podg", "kubepods/burstable/podb", "kubepods/besteffort/pode"};
        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                fake_v1(levels[i]);

        /* The node's hugepages: 2MB pages, 4 of them; 1GB ones, none. */
        put(tmpdir, ".sys-hugepages/hugepages-2048kB/nr_hugepages", "4\n");
        put(tmpdir, ".sys-hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
        _cleanup_free_ char *hugepages_dir = strdup_printf("%s/.sys-hugepages", tmpdir);
        struct qos_cgroups_config qc = {.mount_root = tmpdir,
                                        .mode = CG_MODE_V1,
                                        .pod_pids_limit = 512,
                                        .cpu_capacity_m = 4000,
                                        .memory_capacity = 8192 * MiB,
                                        .pids_capacity = 32768,
                                        .hugepages_dir = hugepages_dir};
        struct qos_cgroups *q = NULL;
        struct cg_error err = {{0}};
        if (qos_cgroups_new(&qc, &q, &err) < 0)
                fail_msg("qos_cgroups_new: %s", err.msg);
        /* kubepods: the node's allocatable; the tiers: 2 shares while there are no Burstable pods. */
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/cpu.shares"), "4096");
        assert_string_equal(get(tmpdir, "memory/kubepods/memory.limit_in_bytes"), "8589934592");
        assert_string_equal(get(tmpdir, "pids/kubepods/pids.max"), "32768");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/burstable/cpu.shares"), "2");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/besteffort/cpu.shares"), "2");
        /* Hugepages: kubepods may use the pools, the tiers are unbounded (upstream's 1 << 62). */
        assert_string_equal(get(tmpdir, "hugetlb/kubepods/hugetlb.2MB.limit_in_bytes"), "8388608");
        assert_string_equal(get(tmpdir, "hugetlb/kubepods/hugetlb.1GB.limit_in_bytes"), "0");
        assert_string_equal(get(tmpdir, "hugetlb/kubepods/burstable/hugetlb.2MB.limit_in_bytes"),
                            "4611686018427387904");
        assert_string_equal(get(tmpdir, "hugetlb/kubepods/besteffort/hugetlb.1GB.limit_in_bytes"),
                            "4611686018427387904");

        struct container gc[] = {ctr("a", 1000, 1000, 256 * MiB, 256 * MiB)};
        struct container bc[] = {ctr("a", 250, -1, 64 * MiB, -1), ctr("b", 250, -1, -1, -1)};
        struct container ec[] = {ctr("a", -1, -1, -1, -1)};
        /* The Burstable pod's containers ask for 2Mi and 4Mi (under two names) of 2MB pages; the init
         * container's do not count. */
        struct resource_qty huge_a[] = {{(char *) "hugepages-2Mi", 2 * MiB}, {(char *) "example.com/x", 1}},
                            huge_b[] = {{(char *) "hugepages-2048Ki", 4 * MiB}},
                            huge_i[] = {{(char *) "hugepages-2Mi", 6 * MiB}};
        bc[0].scalar_requests = huge_a;
        bc[0].n_scalar_requests = ELEMENTSOF(huge_a);
        bc[1].scalar_requests = huge_b;
        bc[1].n_scalar_requests = ELEMENTSOF(huge_b);
        struct container bi[] = {ctr("i", -1, -1, -1, -1)};
        bi[0].scalar_requests = huge_i;
        bi[0].n_scalar_requests = ELEMENTSOF(huge_i);
        struct pod g = mkpod("g", NULL, 0, gc, 1), b = mkpod("b", bi, 1, bc, 2),
                   e = mkpod("e", NULL, 0, ec, 1);
        assert_true(qos_pod_ensure(q, &g, &err) >= 0);
        assert_true(qos_pod_ensure(q, &b, &err) >= 0);
        assert_true(qos_pod_ensure(q, &e, &err) >= 0);
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/podg/cpu.shares"), "1024");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/podg/cpu.cfs_quota_us"), "100000");
        assert_string_equal(get(tmpdir, "memory/kubepods/podg/memory.limit_in_bytes"), "268435456");
        assert_string_equal(get(tmpdir, "pids/kubepods/podg/pids.max"), "512");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/burstable/podb/cpu.shares"), "512");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/burstable/podb/cpu.cfs_quota_us"), "");
        assert_string_equal(get(tmpdir, "memory/kubepods/burstable/podb/memory.limit_in_bytes"), "");
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/besteffort/pode/cpu.shares"), "2");
        /* Each pod's hugetlb limits: what its app containers ask for, 0 for the sizes none does. */
        assert_string_equal(get(tmpdir, "hugetlb/kubepods/burstable/podb/hugetlb.2MB.limit_in_bytes"),
                            "6291456");
        assert_string_equal(get(tmpdir, "hugetlb/kubepods/burstable/podb/hugetlb.1GB.limit_in_bytes"), "0");
        assert_string_equal(get(tmpdir, "hugetlb/kubepods/podg/hugetlb.2MB.limit_in_bytes"), "0");
        assert_string_equal(get(tmpdir, "hugetlb/kubepods/besteffort/pode/hugetlb.1GB.limit_in_bytes"), "0");
        /* The burstable tier: the sum of its pods' requests. */
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/burstable/cpu.shares"), "512");
        _cleanup_free_ char *parent = qos_pod_cgroup_parent(q, &b);
        assert_string_equal(parent, "/kubepods/burstable/podb");

        /* Nothing changed: nothing is written again. */
        put(tmpdir, "cpu,cpuacct/kubepods/podg/cpu.shares", "7\n");
        assert_int_equal(qos_pod_ensure(q, &g, &err), 0);
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/podg/cpu.shares"), "7");

        _cleanup_strv_free_ char **uids = NULL;
        assert_int_equal(qos_pod_uids(q, &uids), 0);
        assert_int_equal(strv_length(uids), 3);
        qos_cgroups_free(q);

        /* No capacity given: this machine's (online CPUs, MemTotal, min(pid_max, threads-max)), read the
         * way a shell would, in one go (/proc/sys answers only a read at offset 0). */
        long long pid_max = 0, threads = 0, mem_kb = 0;
        FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
        assert_non_null(f);
        assert_int_equal(fscanf(f, "%lld", &pid_max), 1);
        fclose(f);
        assert_non_null(f = fopen("/proc/sys/kernel/threads-max", "re"));
        assert_int_equal(fscanf(f, "%lld", &threads), 1);
        fclose(f);
        assert_non_null(f = fopen("/proc/meminfo", "re"));
        assert_int_equal(fscanf(f, "MemTotal: %lld kB", &mem_kb), 1);
        fclose(f);
        qc.cpu_capacity_m = qc.memory_capacity = qc.pids_capacity = 0;
        if (qos_cgroups_new(&qc, &q, &err) < 0)
                fail_msg("qos_cgroups_new: %s", err.msg);
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/cpu.shares"),
                            P("%ld", sysconf(_SC_NPROCESSORS_ONLN) * 1024));
        assert_string_equal(get(tmpdir, "memory/kubepods/memory.limit_in_bytes"), P("%lld", mem_kb * 1024));
        assert_string_equal(get(tmpdir, "pids/kubepods/pids.max"), P("%lld", MIN(pid_max, threads)));
        qos_cgroups_free(q);

        /* kubeReserved + systemReserved come off kubepods; reservations beyond the memory are refused. */
        qc.cpu_capacity_m = 4000;
        qc.memory_capacity = 8192 * MiB;
        qc.reserved_cpu_m = 1500;
        qc.reserved_memory = 1024 * MiB;
        qc.pids_capacity = 32768;
        qc.reserved_pids = 768;
        if (qos_cgroups_new(&qc, &q, &err) < 0)
                fail_msg("qos_cgroups_new: %s", err.msg);
        assert_string_equal(get(tmpdir, "cpu,cpuacct/kubepods/cpu.shares"), "2560");
        assert_string_equal(get(tmpdir, "memory/kubepods/memory.limit_in_bytes"), P("%lld", 7168 * MiB));
        assert_string_equal(get(tmpdir, "pids/kubepods/pids.max"), "32000");
        qos_cgroups_free(q);
        qc.reserved_memory = 8192 * MiB;
        q = NULL;
        assert_int_equal(qos_cgroups_new(&qc, &q, &err), -EINVAL);
        assert_null(q);
        assert_non_null(strstr(err.msg, "leave nothing of the node's capacity"));
}

/* ---- a fake v2 tree ---------------------------------------------------------------------------------- */

static void fake_v2(const char *name, const char *controllers)
{
        static const char *const files[] = {
                "cgroup.subtree_control", "cgroup.procs", "cpu.weight", "cpu.max", "memory.max", "pids.max",
                "hugetlb.2MB.max"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *rel = strdup_printf("%s%s%s", name, name[0] ? "/" : "", files[i]);
                put(tmpdir, rel, "");
        }
        _cleanup_free_ char *rel = strdup_printf("%s%scgroup.controllers", name, name[0] ? "/" : "");
        put(tmpdir, rel, controllers);
}

static void test_v2_fake_tree(void **state)
{
        const char *all = "cpuset cpu io memory hugetlb pids rdma\n";
        fake_v2("", all);
        fake_v2("kubepods", all);
        fake_v2("kubepods/burstable", all);
        fake_v2("kubepods/burstable/pod1", all);
        put(tmpdir, "kubepods/cgroup.subtree_control", "cpuset cpu io memory hugetlb pids rdma\n");

        struct cg *cg = open_fake(CG_MODE_V2, "/");
        struct cg_error err = {{0}};
        struct cg_resources r;
        _cleanup_free_ char *unified = cg_unified_dir(cg, "kubepods");
        assert_string_equal(unified, P("%s/kubepods", tmpdir));

        cg_resources_init(&r);
        r.cpu_shares = 358;
        r.cpu_quota_us = 50000;
        r.memory_max = 96 * MiB;
        r.pids_max = 1024;
        r.hugetlb[0] = (struct cg_hugetlb){"2MB", 2 * MiB};
        r.n_hugetlb = 1;
        assert_true(cg_create(cg, "kubepods/burstable/pod1", &r, &err) >= 0);
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/hugetlb.2MB.max"), "2097152");
        /* Each parent hands its children the controllers it has, in one write; those already on stay. */
        assert_string_equal(get(tmpdir, "cgroup.subtree_control"),
                            "+cpuset +cpu +io +memory +hugetlb +pids +rdma");
        assert_string_equal(get(tmpdir, "kubepods/cgroup.subtree_control"),
                            "cpuset cpu io memory hugetlb pids rdma");
        assert_string_equal(get(tmpdir, "kubepods/burstable/cgroup.subtree_control"),
                            "+cpuset +cpu +io +memory +hugetlb +pids +rdma");
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/cgroup.subtree_control"), "");
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/cpu.weight"), "14");
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/cpu.max"), "50000 100000");
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/memory.max"), "100663296");
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/pids.max"), "1024");

        cg_resources_init(&r);
        r.cpu_shares = 2;
        r.cpu_quota_us = CG_MAX;
        r.memory_max = CG_MAX;
        r.pids_max = CG_MAX;
        r.hugetlb[0] = (struct cg_hugetlb){"2MB", CG_MAX};
        r.n_hugetlb = 1;
        assert_int_equal(cg_update(cg, "kubepods/burstable/pod1", &r, &err), 0);
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/hugetlb.2MB.max"), "max");
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/cpu.weight"), "1");
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/cpu.max"), "max 100000");
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/memory.max"), "max");
        assert_string_equal(get(tmpdir, "kubepods/burstable/pod1/pids.max"), "max");

        /* A parent without the cpu controller: its children cannot have cpu.weight either. */
        fake_v2("nocpu", "memory pids\n");
        fake_v2("nocpu/x", "memory pids\n");
        assert_true(unlink(P("%s/nocpu/x/cpu.weight", tmpdir)) == 0);
        cg_resources_init(&r);
        r.cpu_shares = 1024;
        assert_int_equal(cg_create(cg, "nocpu/x", &r, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "nocpu/x/cpu.weight"));
        assert_string_equal(get(tmpdir, "nocpu/cgroup.subtree_control"), "+memory +pids");

        /* Usage: cpu.stat's usage_usec; memory.current - inactive_file. */
        put(tmpdir, "kubepods/burstable/pod1/cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
        put(tmpdir, "kubepods/burstable/pod1/memory.current", "2000000\n");
        put(tmpdir, "kubepods/burstable/pod1/memory.stat",
            "anon 1000\nfile 5000\ninactive_file 500000\npgfault 9\npgmajfault 1\n");
        put(tmpdir, "kubepods/burstable/pod1/memory.max", "max\n");
        struct cg_usage u;
        assert_int_equal(cg_read_usage(cg, "kubepods/burstable/pod1", &u, &err), 0);
        assert_int_equal(u.cpu_usage_ns, 1500000);
        assert_int_equal(u.memory_usage, 2000000);
        assert_int_equal(u.memory_working_set, 1500000);
        assert_int_equal(u.memory_rss, 1000);
        assert_int_equal(u.page_faults, 9);
        assert_int_equal(u.major_page_faults, 1);
        assert_int_equal(u.memory_limit, 0);
        put(tmpdir, "kubepods/burstable/pod1/memory.max", "1048576\n");
        assert_int_equal(cg_read_usage(cg, "kubepods/burstable/pod1", &u, &err), 0);
        assert_int_equal(u.memory_limit, 1048576);
        put(tmpdir, "kubepods/burstable/pod1/cgroup.procs", "7\n");
        size_t nprocs = 0;
        pid_t pid = 0;
        assert_int_equal(cg_procs(cg, "kubepods/burstable/pod1", &nprocs, &pid), 0);
        assert_int_equal(nprocs, 1);
        assert_int_equal(pid, 7);

        _cleanup_free_ char *path = cg_path(cg, "kubepods/burstable/pod1");
        assert_string_equal(path, "/kubepods/burstable/pod1");
        cg_free(cg);

        /* A kernel without hugetlb: the limits are left out, as upstream does, and nothing fails. */
        put(tmpdir, "nohuge/cgroup.controllers", "cpu memory pids\n");
        put(tmpdir, "nohuge/cgroup.subtree_control", "");
        put(tmpdir, "nohuge/pod1/cgroup.controllers", "cpu memory pids\n");
        put(tmpdir, "nohuge/pod1/cgroup.subtree_control", "");
        put(tmpdir, "nohuge/pod1/memory.max", "");
        struct cg_options o = {.mount_root = P("%s/nohuge", tmpdir), .mode = CG_MODE_V2};
        assert_int_equal(cg_open(&o, &cg, &err), 0);
        cg_resources_init(&r);
        r.memory_max = MiB;
        r.hugetlb[0] = (struct cg_hugetlb){"2MB", 0};
        r.n_hugetlb = 1;
        assert_int_equal(cg_update(cg, "pod1", &r, &err), 0);
        assert_string_equal(get(tmpdir, "nohuge/pod1/memory.max"), "1048576");
        assert_string_equal(get(tmpdir, "nohuge/pod1/hugetlb.2MB.max"), "<missing>");
        cg_free(cg);
}

/* ---- configuration ------------------------------------------------------------------------------- */

static int parse(struct cubelet_config *c, ...)
{
        char *argv[32];
        int argc = 0;
        va_list ap;

        argv[argc++] = (char *) "cubelet";
        argv[argc++] = (char *) "--hostname-override=n1";
        va_start(ap, c);
        for (char *a; (a = va_arg(ap, char *));) {
                assert_true(argc < 31);
                argv[argc++] = a;
        }
        va_end(ap);
        argv[argc] = NULL;
        config_init_defaults(c);
        return config_parse(c, argc, argv);
}

static void test_config(void **state)
{
        struct cubelet_config c;

        assert_int_equal(parse(&c, NULL), 0);
        assert_true(c.cgroups_per_qos);
        assert_string_equal(c.cgroup_root, "/");
        assert_int_equal(c.pod_pids_limit, -1);
        config_done(&c);

        assert_int_equal(parse(&c, "--cgroups-per-qos=false", "--cgroup-root", "/x/y", "--cgroup-driver",
                               "cgroupfs", "--pod-max-pids", "100", NULL),
                         0);
        assert_false(c.cgroups_per_qos);
        assert_string_equal(c.cgroup_root, "/x/y");
        assert_int_equal(c.pod_pids_limit, 100);
        config_done(&c);
        assert_int_equal(parse(&c, "--cgroup-root=", NULL), 0); /* upstream's "" is the top */
        assert_string_equal(c.cgroup_root, "/");
        config_done(&c);

        static const char *const bad[][2] = {
                {"--cgroup-driver", "systemd"}, {"--cgroup-driver", "cgroupfs2"}, {"--cgroup-root", "rel"},
                {"--cgroup-root", "/a/../b"},   {"--cgroup-root", "/a/."},        {"--pod-max-pids", "-2"},
                {"--pod-max-pids", "x"},        {"--cgroups-per-qos", "maybe"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(parse(&c, bad[i][0], bad[i][1], NULL), -EINVAL);
                config_done(&c);
        }

        _cleanup_free_ char *path = strdup_printf("%s/kubelet.yaml", tmpdir);
        const char *yaml =
                "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                "cgroupsPerQOS: false\ncgroupRoot: /c\ncgroupDriver: cgroupfs\npodPidsLimit: 42\n";
        assert_int_equal(write_file_atomic(path, yaml, strlen(yaml), 0644), 0);
        _cleanup_free_ char *arg = strdup_printf("--config=%s", path);
        assert_int_equal(parse(&c, arg, NULL), 0);
        assert_false(c.cgroups_per_qos);
        assert_string_equal(c.cgroup_root, "/c");
        assert_int_equal(c.pod_pids_limit, 42);
        config_done(&c);

        yaml = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: "
               "systemd\n";
        assert_int_equal(write_file_atomic(path, yaml, strlen(yaml), 0644), 0);
        char *err = NULL;
        config_init_defaults(&c);
        assert_int_equal(config_load_file(&c, path, &err), -EINVAL);
        assert_non_null(strstr(err, "cgroupDriver"));
        assert_non_null(strstr(err, "systemd cgroup driver is not supported"));
        free(err);
        config_done(&c);
}

/* ---- real cgroups on this machine (root) ------------------------------------------------------------ */

static char real_root[64];
static pid_t child = -1;

static void kill_child(void)
{
        if (child > 0) {
                kill(child, SIGKILL);
                waitpid(child, NULL, 0);
                child = -1;
        }
}

/* Whatever a failed test left: the child, and the test root in every hierarchy. */
static int teardown_real(void **state)
{
        kill_child();
        if (real_root[0]) {
                struct cg_options o = {.root = "/"};
                struct cg *cg = NULL;
                if (cg_open(&o, &cg, NULL) >= 0) {
                        cg_remove(cg, real_root + 1, NULL);
                        cg_free(cg);
                }
                real_root[0] = 0;
        }
        return 0;
}

static bool real_ok(void)
{
        return geteuid() == 0 && cg_detect_mode("/sys/fs/cgroup") != CG_MODE_UNKNOWN;
}

/* A child that, once let go through the pipe, uses some CPU and memory inside its cgroup, then sleeps. */
/* The lock of the hugetlb part of test_real_v2_unified (below): never inherited by a worker. */
static int hugetlb_lock = -1;

static pid_t spawn_worker(int *ret_go)
{
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char c;
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (hugetlb_lock >= 0)
                        close(hugetlb_lock);
                close(p[1]);
                if (read(p[0], &c, 1) != 1)
                        _exit(1);
                size_t n = 8 << 20;
                volatile char *mem = malloc(n);
                for (size_t i = 0; mem && i < n; i += 4096)
                        mem[i] = 1;
                int64_t end = now_mono_ms() + 50;
                while (now_mono_ms() < end)
                        ;
                for (;;)
                        pause();
        }
        close(p[0]);
        *ret_go = p[1];
        return pid;
}

static void join(const struct cg *cg, const char *name, pid_t pid)
{
        /* Every hierarchy that counts, as a runtime would place a task. */
        static const char *const ctrls[] = {"cpu", "cpuacct", "memory", "pids"};
        char buf[32];
        snprintf(buf, sizeof buf, "%d", (int) pid);
        for (size_t i = 0; i < ELEMENTSOF(ctrls); i++) {
                _cleanup_free_ char *dir = cg_dir(cg, name, ctrls[i]);
                assert_non_null(dir);
                int fd = open(P("%s/cgroup.procs", dir), O_WRONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                assert_int_equal(write(fd, buf, strlen(buf)), (ssize_t) strlen(buf));
                close(fd);
                if (cg_get_mode(cg) == CG_MODE_V2)
                        break;
        }
}

/* A cgroup file of a name, by controller: the v1 or the v2 file name. */
static const char *real(const struct cg *cg, const char *name, const char *ctrl, const char *v1,
                        const char *v2)
{
        _cleanup_free_ char *dir = cg_dir(cg, name, ctrl);
        assert_non_null(dir);
        return get(dir, cg_get_mode(cg) == CG_MODE_V2 ? v2 : v1);
}

static void test_real_qos_tree(void **state)
{
        if (!real_ok())
                skip();
        snprintf(real_root, sizeof real_root, "/cubelet-test-%d", (int) getpid());
        struct qos_cgroups_config qc = {.cgroup_root = real_root,
                                        .pod_pids_limit = 256,
                                        .cpu_capacity_m = 2000,
                                        .memory_capacity = 1024 * MiB,
                                        .pids_capacity = 4096};
        struct qos_cgroups *q = NULL;
        struct cg_error err = {{0}};
        if (qos_cgroups_new(&qc, &q, &err) < 0)
                fail_msg("qos_cgroups_new: %s", err.msg);
        const struct cg *cg = qos_cgroups_driver(q);
        bool v2 = cg_get_mode(cg) == CG_MODE_V2;
        print_message("# real cgroups: mode %s, root %s\n", cg_mode_name(cg_get_mode(cg)), real_root);

        assert_string_equal(real(cg, "kubepods", "cpu", "cpu.shares", "cpu.weight"), v2 ? "79" : "2048");
        assert_string_equal(real(cg, "kubepods", "memory", "memory.limit_in_bytes", "memory.max"),
                            "1073741824");
        assert_string_equal(real(cg, "kubepods", "pids", "pids.max", "pids.max"), "4096");
        assert_string_equal(real(cg, "kubepods/besteffort", "cpu", "cpu.shares", "cpu.weight"),
                            v2 ? "1" : "2");
        assert_string_equal(real(cg, "kubepods/burstable", "cpu", "cpu.shares", "cpu.weight"),
                            v2 ? "1" : "2");

        struct container gc[] = {ctr("a", 500, 500, 64 * MiB, 64 * MiB)};
        struct container bc[] = {ctr("a", 250, 1000, 64 * MiB, 128 * MiB)};
        struct container b2c[] = {ctr("a", 100, -1, -1, -1)};
        struct container ec[] = {ctr("a", -1, -1, -1, -1)};
        struct pod g = mkpod("guaranteed-1", NULL, 0, gc, 1), b = mkpod("burstable-1", NULL, 0, bc, 1),
                   b2 = mkpod("burstable-2", NULL, 0, b2c, 1), e = mkpod("besteffort-1", NULL, 0, ec, 1);

        assert_int_equal(qos_pod_ensure(q, &g, &err), 1); /* new */
        assert_int_equal(qos_pod_ensure(q, &g, &err), 0);
        assert_int_equal(qos_pod_ensure(q, &b, &err), 1);
        assert_int_equal(qos_pod_ensure(q, &b2, &err), 1);
        assert_int_equal(qos_pod_ensure(q, &e, &err), 1);

        const char *gn = "kubepods/podguaranteed-1", *bn = "kubepods/burstable/podburstable-1",
                   *b2n = "kubepods/burstable/podburstable-2", *en = "kubepods/besteffort/podbesteffort-1";
        assert_string_equal(real(cg, gn, "cpu", "cpu.shares", "cpu.weight"), v2 ? "20" : "512");
        if (!v2) {
                assert_string_equal(real(cg, gn, "cpu", "cpu.cfs_quota_us", NULL), "50000");
                assert_string_equal(real(cg, gn, "cpu", "cpu.cfs_period_us", NULL), "100000");
        } else
                assert_string_equal(real(cg, gn, "cpu", NULL, "cpu.max"), "50000 100000");
        assert_string_equal(real(cg, gn, "memory", "memory.limit_in_bytes", "memory.max"), "67108864");
        assert_string_equal(real(cg, gn, "pids", "pids.max", "pids.max"), "256");
        assert_string_equal(real(cg, bn, "cpu", "cpu.shares", "cpu.weight"), v2 ? "10" : "256");
        assert_string_equal(real(cg, bn, "memory", "memory.limit_in_bytes", "memory.max"), "134217728");
        assert_string_equal(real(cg, b2n, "cpu", "cpu.shares", "cpu.weight"), v2 ? "4" : "102");
        assert_string_equal(real(cg, b2n, "cpu", "cpu.cfs_quota_us", "cpu.max"), v2 ? "max 100000" : "-1");
        assert_string_equal(real(cg, en, "cpu", "cpu.shares", "cpu.weight"), v2 ? "1" : "2");
        assert_string_equal(real(cg, en, "pids", "pids.max", "pids.max"), "256");
        /* The burstable tier: shares of 250m + 100m. */
        assert_string_equal(real(cg, "kubepods/burstable", "cpu", "cpu.shares", "cpu.weight"),
                            v2 ? "14" : "358");
        if (!v2) { /* a task can join the new cpuset cgroup: it has cpus and mems */
                _cleanup_free_ char *top = NULL;
                assert_int_equal(read_file_limit("/sys/fs/cgroup/cpuset/cpuset.cpus", 4096, &top, NULL), 0);
                assert_string_equal(real(cg, bn, "cpuset", "cpuset.cpus", NULL),
                                    strsep(&(char *){top}, "\n"));
        }
        _cleanup_free_ char *parent = qos_pod_cgroup_parent(q, &b);
        assert_string_equal(parent, P("%s/%s", real_root, bn));
        _cleanup_strv_free_ char **uids = NULL;
        assert_int_equal(qos_pod_uids(q, &uids), 0);
        assert_int_equal(strv_length(uids), 4);
        if (cg_get_mode(cg) == CG_MODE_HYBRID)
                assert_true(is_dir(P("/sys/fs/cgroup/unified%s/%s", real_root, bn)));

        /* A process in the pod cgroup: usage shows, and the cgroup stays. */
        int go = -1;
        child = spawn_worker(&go);
        join(cg, bn, child);
        assert_int_equal(write(go, "x", 1), 1);
        close(go);
        usleep(300 * 1000);
        struct cg_usage u;
        if (cg_read_usage(cg, bn, &u, &err) < 0)
                fail_msg("cg_read_usage: %s", err.msg);
        print_message("# pod cgroup with a worker: cpu %" PRIu64 " ns, memory %" PRIu64
                      " B, working set %" PRIu64 " B\n",
                      u.cpu_usage_ns, u.memory_usage, u.memory_working_set);
        assert_true(u.cpu_usage_ns > 10 * 1000 * 1000);
        assert_true(u.memory_working_set >= 8 << 20);
        assert_true(u.memory_usage >= u.memory_working_set);
        assert_int_equal(qos_pod_remove(q, b.uid, &err), -EBUSY);
        print_message("# %s\n", err.msg);
        assert_non_null(strstr(err.msg, "1 process still in it"));
        assert_true(cg_exists(cg, bn)); /* and nothing of it went, not even where the process is not */
        assert_true(is_dir(P("/sys/fs/cgroup/devices%s/%s", real_root, bn)));

        /* A sandbox's cgroup below the pod's (where a runc sandbox's pause process lives): its one process
         * is killed; several, none or a name that is not a runtime's ID are left alone. */
        const char *sbn = "kubepods/burstable/podburstable-1/0123abcd";
        assert_true(cg_create(cg, sbn, NULL, &err) >= 0);
        char self[32] = ""; /* the workers' command name: this test's */
        FILE *cf = fopen("/proc/self/comm", "r");
        assert_non_null(cf);
        assert_non_null(fgets(self, sizeof self, cf));
        fclose(cf);
        self[strcspn(self, "\n")] = 0;
        assert_int_equal(qos_sandbox_kill(q, b.uid, "0123abcd", self, SIGKILL), 0); /* empty */
        int go1 = -1, go2 = -1, ws;
        pid_t w1 = spawn_worker(&go1), w2 = spawn_worker(&go2);
        join(cg, sbn, w1);
        join(cg, sbn, w2);
        assert_int_equal(qos_sandbox_kill(q, b.uid, "0123abcd", self, SIGKILL),
                         0); /* two: not a pause alone */
        assert_int_equal(kill(w1, 0), 0);
        assert_int_equal(kill(w2, 0), 0);
        kill(w2, SIGKILL);
        assert_int_equal(waitpid(w2, NULL, 0), w2);
        close(go2);
        assert_int_equal(qos_sandbox_kill(q, b.uid, "../podburstable-1", self, SIGKILL), -EINVAL);
        assert_int_equal(qos_sandbox_kill(q, b.uid, "", self, SIGKILL), -EINVAL);
        assert_int_equal(qos_sandbox_kill(q, "no-such-pod", "0123abcd", self, SIGKILL), -ENOENT);
        assert_int_equal(qos_sandbox_kill(q, b.uid, "0123abce", self, SIGKILL), -ENOENT);
        /* alone, but not named as asked (another runtime's process, a shim): left alone */
        assert_int_equal(qos_sandbox_kill(q, b.uid, "0123abcd", "pause", SIGKILL), 0);
        assert_int_equal(kill(w1, 0), 0);
        assert_int_equal(qos_sandbox_kill(q, b.uid, "0123abcd", self, SIGKILL), 1);
        assert_int_equal(waitpid(w1, &ws, 0), w1);
        assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
        close(go1);
        assert_int_equal(kill(child, 0), 0); /* the pod cgroup's own process: untouched */
        assert_int_equal(cg_remove(cg, sbn, &err), 0);

        /* Once it is empty it goes, from every hierarchy, and the tier's shares follow. */
        kill_child();
        assert_int_equal(qos_pod_remove(q, b.uid, &err), 0);
        assert_false(cg_exists(cg, bn));
        assert_false(is_dir(P("/sys/fs/cgroup/unified%s/%s", real_root, bn)));
        assert_false(is_dir(P("/sys/fs/cgroup/devices%s/%s", real_root, bn)));
        assert_string_equal(real(cg, "kubepods/burstable", "cpu", "cpu.shares", "cpu.weight"),
                            v2 ? "4" : "102");
        assert_int_equal(qos_pod_remove(q, b.uid, &err), 0); /* gone already: fine */
        assert_int_equal(qos_pod_remove(q, g.uid, &err), 0);
        assert_int_equal(qos_pod_remove(q, b2.uid, &err), 0);
        assert_int_equal(qos_pod_remove(q, e.uid, &err), 0);
        uids = strv_free(uids);
        assert_int_equal(qos_pod_uids(q, &uids), 0);
        assert_int_equal(strv_length(uids), 0);
        qos_cgroups_free(q);

        /* And the whole test root. */
        struct cg_options o = {.root = "/"};
        struct cg *top = NULL;
        assert_int_equal(cg_open(&o, &top, &err), 0);
        assert_int_equal(cg_remove(top, real_root + 1, &err), 0);
        assert_false(cg_exists(top, real_root + 1));
        assert_false(is_dir(P("/sys/fs/cgroup/systemd%s", real_root)));
        cg_free(top);
        real_root[0] = 0;
}

/* Real v2, where this machine has one: hybrid's unified hierarchy, without controllers of its own. The
 * test works below a directory of its own so that it never changes the hierarchy's root. */
static char v2_base[96];
/* hugetlb, where the unified hierarchy has it: the test turns it on for the root's children while it runs
 * (and off again if it was off), under a lock that other runs of this test (another build's) share. */
#define UNIFIED_ROOT "/sys/fs/cgroup/unified"
static bool hugetlb_turned_on;

static void hugetlb_release(void)
{
        if (hugetlb_turned_on) {
                _cleanup_close_ int fd = open(UNIFIED_ROOT "/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
                if (fd < 0 || write(fd, "-hugetlb", 8) != 8)
                        print_message("# could not turn hugetlb off again in " UNIFIED_ROOT ": %m\n");
                hugetlb_turned_on = false;
        }
        if (hugetlb_lock >= 0)
                close(hugetlb_lock);
        hugetlb_lock = -1;
}

/* True when the unified hierarchy's new cgroups have hugetlb (it took the lock, turned it on if needed). */
static bool hugetlb_acquire(void)
{
        _cleanup_free_ char *avail = NULL, *on = NULL;
        if (read_file_limit(UNIFIED_ROOT "/cgroup.controllers", 4096, &avail, NULL) < 0 ||
            !strstr(avail, "hugetlb"))
                return false;
        hugetlb_lock = open("/tmp/cubelet-test-unified-hugetlb.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(hugetlb_lock >= 0);
        /* The other build's run holds it for a second or two; a stuck one is no reason to hang. */
        for (int64_t end = now_mono_ms() + 120 * 1000; flock(hugetlb_lock, LOCK_EX | LOCK_NB) < 0;) {
                if (now_mono_ms() > end) {
                        print_message("# the hugetlb lock stayed taken for 2 minutes: hugetlb left out\n");
                        hugetlb_release();
                        return false;
                }
                usleep(50 * 1000);
        }
        assert_int_equal(read_file_limit(UNIFIED_ROOT "/cgroup.subtree_control", 4096, &on, NULL), 0);
        if (strstr(on, "hugetlb"))
                return true;
        _cleanup_close_ int fd = open(UNIFIED_ROOT "/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "+hugetlb", 8) != 8) {
                print_message("# hugetlb could not be turned on in " UNIFIED_ROOT ": %m\n");
                hugetlb_release();
                return false;
        }
        hugetlb_turned_on = true;
        return true;
}

static int teardown_v2(void **state)
{
        kill_child();
        if (v2_base[0]) {
                struct cg_options o = {.mount_root = v2_base, .mode = CG_MODE_V2};
                struct cg *cg = NULL;
                if (cg_open(&o, &cg, NULL) >= 0) {
                        cg_remove(cg, "kubepods", NULL);
                        cg_free(cg);
                }
                rmdir(v2_base);
                v2_base[0] = 0;
        }
        hugetlb_release();
        return 0;
}

static void test_real_v2_unified(void **state)
{
        if (!real_ok() || cg_detect_mode("/sys/fs/cgroup") != CG_MODE_HYBRID)
                skip();
        bool hugetlb = hugetlb_acquire();
        snprintf(v2_base, sizeof v2_base, "/sys/fs/cgroup/unified/cubelet-test-v2-%d", (int) getpid());
        assert_int_equal(mkdir(v2_base, 0755), 0);
        assert_int_equal(cg_detect_mode(v2_base), CG_MODE_V2);
        struct cg_options o = {.mount_root = v2_base, .mode = CG_MODE_V2};
        struct cg_error err = {{0}};
        struct cg *cg = NULL;
        assert_int_equal(cg_open(&o, &cg, &err), 0);
        _cleanup_free_ char *avail = NULL;
        assert_int_equal(read_file_limit(P("%s/cgroup.controllers", v2_base), 4096, &avail, NULL), 0);
        print_message("# real v2 at %s, controllers \"%s\"\n", v2_base, strsep(&(char *){avail}, "\n"));

        assert_int_equal(cg_create(cg, "kubepods/pod1", NULL, &err), 1);
        assert_true(cg_exists(cg, "kubepods/pod1"));
        assert_true(is_dir(P("%s/kubepods/pod1", v2_base)));
        /* No cpu controller here (bound to v1): the file is not there, and the error names it. */
        struct cg_resources r;
        cg_resources_init(&r);
        r.cpu_shares = 1024;
        assert_int_equal(cg_update(cg, "kubepods/pod1", &r, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "kubepods/pod1/cpu.weight"));
        /* hugetlb, the kernel's own files: each of the node's sizes limited, as a pod cgroup is. */
        struct cg_hugepage hp[CG_HUGEPAGES_MAX];
        size_t n_hp = cg_hugepages(NULL, hp);
        if (hugetlb && n_hp) {
                cg_resources_init(&r);
                for (size_t i = 0; i < n_hp; i++) {
                        snprintf(r.hugetlb[i].name, sizeof r.hugetlb[i].name, "%s", hp[i].name);
                        r.hugetlb[i].limit = i == 0 ? (int64_t) hp[i].page_size : 0;
                }
                r.n_hugetlb = n_hp;
                assert_int_equal(cg_update(cg, "kubepods/pod1", &r, &err), 0);
                _cleanup_free_ char *pod1 = cg_dir(cg, "kubepods/pod1", NULL);
                for (size_t i = 0; i < n_hp; i++) {
                        _cleanup_free_ char *f = strdup_printf("hugetlb.%s.max", hp[i].name);
                        assert_string_equal(get(pod1, f), i == 0 ? P("%" PRIu64, hp[i].page_size) : "0");
                }
                r.hugetlb[0].limit = CG_MAX;
                assert_int_equal(cg_update(cg, "kubepods/pod1", &r, &err), 0);
                _cleanup_free_ char *f0 = strdup_printf("hugetlb.%s.max", hp[0].name);
                assert_string_equal(get(pod1, f0), "max");
                print_message("# real v2 hugetlb: %zu sizes limited\n", n_hp);
        } else
                print_message("# real v2: no hugetlb here\n");

        int go = -1;
        child = spawn_worker(&go);
        join(cg, "kubepods/pod1", child);
        assert_int_equal(write(go, "x", 1), 1);
        close(go);
        usleep(100 * 1000);
        _cleanup_free_ char *dir = cg_dir(cg, "kubepods/pod1", NULL);
        uint64_t usec = 0;
        const char *stat = get(dir, "cpu.stat"); /* the core cpu.stat is there without the controller */
        assert_int_equal(sscanf(stat, "usage_usec %" SCNu64, &usec), 1);
        print_message("# v2 cpu.stat usage_usec %" PRIu64 "\n", usec);
        assert_int_equal(cg_remove(cg, "kubepods", &err), -EBUSY);
        assert_non_null(strstr(err.msg, "1 process still in it"));
        kill_child();
        assert_int_equal(cg_remove(cg, "kubepods", &err), 0);
        assert_false(is_dir(P("%s/kubepods", v2_base)));
        cg_free(cg);
        assert_int_equal(rmdir(v2_base), 0);
        v2_base[0] = 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shares),
                cmocka_unit_test(test_hugepage_sizes),
                cmocka_unit_test(test_quota),
                cmocka_unit_test(test_weight),
                cmocka_unit_test(test_pod_guaranteed),
                cmocka_unit_test(test_pod_burstable),
                cmocka_unit_test(test_pod_init_containers),
                cmocka_unit_test(test_pod_besteffort),
                cmocka_unit_test_setup_teardown(test_v1_fake_tree, setup_tmp, teardown_tmp),
                cmocka_unit_test_setup_teardown(test_v1_fake_qos_tree, setup_tmp, teardown_tmp),
                cmocka_unit_test_setup_teardown(test_v2_fake_tree, setup_tmp, teardown_tmp),
                cmocka_unit_test_setup_teardown(test_config, setup_tmp, teardown_tmp),
                cmocka_unit_test_teardown(test_real_qos_tree, teardown_real),
                cmocka_unit_test_teardown(test_real_v2_unified, teardown_v2),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
