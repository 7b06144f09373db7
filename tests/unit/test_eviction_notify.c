/* The eviction manager's memory notifiers (agent/eviction/notify.c): which files each cgroup mode gets, and
 * how a poll result is taken, on fake cgroup trees; as root on a kernel with PSI, a real trigger. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "cgroups.h"
#include "notify.h"
#include "thresholds.h"
#include "util.h"

static char tmpdir[] = "/tmp/test_eviction_notify.XXXXXX";

static void put(const char *rel, const char *text)
{
        _cleanup_free_ char *path = strdup_printf("%s/%s", tmpdir, rel);
        for (char *s = strchr(path + strlen(tmpdir) + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                (void) mkdir(path, 0755);
                *s = '/';
        }
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static struct cg *open_tree(enum cg_mode mode)
{
        struct cg_options o = {.mount_root = tmpdir, .root = "/", .mode = mode};
        struct cg *cg = NULL;
        assert_int_equal(cg_open(&o, &cg, NULL), 0);
        return cg;
}

/* memory.available and allocatableMemory.available hard, one soft memory threshold and a disk one (no
 * notifier for those two). */
static const struct ev_threshold T[] = {
        {.signal = EV_MEMORY_AVAILABLE},
        {.signal = EV_NODEFS_AVAILABLE},
        {.signal = EV_MEMORY_AVAILABLE, .grace_ms = 60000},
        {.signal = EV_ALLOCATABLE_MEMORY_AVAILABLE},
};

static void expect(const struct ev_notifier *no, enum ev_notify_kind kind, enum ev_signal sig, size_t thr,
                   const char *path)
{
        assert_int_equal(no->kind, kind);
        assert_int_equal(no->signal, sig);
        assert_int_equal(no->threshold, thr);
        assert_string_equal(no->path, path);
        assert_int_equal(no->fd, -1);
}

#define P(...)                                                                                              \
        ({                                                                                                  \
                static char _b[512];                                                                        \
                snprintf(_b, sizeof _b, __VA_ARGS__);                                                       \
                _b;                                                                                         \
        })

static void test_plan(void **state)
{
        (void) state;
        struct ev_notifier *n = NULL;
        put("memory/kubepods/memory.usage_in_bytes", "0\n");
        put("cpu/kubepods/cpu.shares", "1024\n");

        /* v1 alone: usage thresholds on the top and kubepods memory cgroups */
        struct cg *cg = open_tree(CG_MODE_V1);
        assert_int_equal(ev_notify_plan(cg, T, ELEMENTSOF(T), "kubepods", &n), 2);
        expect(&n[0], EV_NOTIFY_THRESHOLD, EV_MEMORY_AVAILABLE, 0, P("%s/memory", tmpdir));
        expect(&n[1], EV_NOTIFY_THRESHOLD, EV_ALLOCATABLE_MEMORY_AVAILABLE, 3,
               P("%s/memory/kubepods", tmpdir));
        ev_notify_free(n, 2);
        /* no kubepods cgroup (cgroupsPerQOS off): the top only */
        assert_int_equal(ev_notify_plan(cg, T, ELEMENTSOF(T), NULL, &n), 1);
        ev_notify_free(n, 1);
        cg_free(cg);

        /* hybrid: the thresholds and a pressure trigger in the unified hierarchy for each; the top's
         * pressure file when the kernel has one there, else the system-wide /proc/pressure/memory */
        put("unified/kubepods/memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        cg = open_tree(CG_MODE_HYBRID);
        assert_int_equal(ev_notify_plan(cg, T, ELEMENTSOF(T), "kubepods", &n), 4);
        expect(&n[0], EV_NOTIFY_THRESHOLD, EV_MEMORY_AVAILABLE, 0, P("%s/memory", tmpdir));
        expect(&n[1], EV_NOTIFY_PRESSURE, EV_MEMORY_AVAILABLE, 0, "/proc/pressure/memory");
        assert_string_equal(n[1].trigger, "some 200000 2000000");
        assert_string_equal(n[3].trigger, "full 200000 2000000");
        assert_null(n[0].trigger);
        expect(&n[2], EV_NOTIFY_THRESHOLD, EV_ALLOCATABLE_MEMORY_AVAILABLE, 3,
               P("%s/memory/kubepods", tmpdir));
        expect(&n[3], EV_NOTIFY_PRESSURE, EV_ALLOCATABLE_MEMORY_AVAILABLE, 3,
               P("%s/unified/kubepods/memory.pressure", tmpdir));
        ev_notify_free(n, 4);
        put("unified/memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        assert_int_equal(ev_notify_plan(cg, T, ELEMENTSOF(T), "kubepods", &n), 4);
        expect(&n[1], EV_NOTIFY_PRESSURE, EV_MEMORY_AVAILABLE, 0, P("%s/unified/memory.pressure", tmpdir));
        ev_notify_free(n, 4);
        cg_free(cg);

        /* v2: no usage thresholds; pressure triggers, and kubepods' memory.events */
        put("memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        cg = open_tree(CG_MODE_V2);
        assert_int_equal(ev_notify_plan(cg, T, ELEMENTSOF(T), "kubepods", &n), 3);
        expect(&n[0], EV_NOTIFY_PRESSURE, EV_MEMORY_AVAILABLE, 0, P("%s/memory.pressure", tmpdir));
        expect(&n[1], EV_NOTIFY_PRESSURE, EV_ALLOCATABLE_MEMORY_AVAILABLE, 3,
               P("%s/kubepods/memory.pressure", tmpdir));
        expect(&n[2], EV_NOTIFY_EVENTS, EV_ALLOCATABLE_MEMORY_AVAILABLE, 3,
               P("%s/kubepods/memory.events", tmpdir));
        ev_notify_free(n, 3);
        /* kubepods' own events when the kernel has them (5.2): not its descendants' */
        put("kubepods/memory.events.local", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
        assert_int_equal(ev_notify_plan(cg, T, ELEMENTSOF(T), "kubepods", &n), 3);
        expect(&n[2], EV_NOTIFY_EVENTS, EV_ALLOCATABLE_MEMORY_AVAILABLE, 3,
               P("%s/kubepods/memory.events.local", tmpdir));
        ev_notify_free(n, 3);
        /* soft or disk thresholds only: nothing */
        assert_int_equal(ev_notify_plan(cg, T + 1, 2, "kubepods", &n), 0);
        assert_null(n);
        cg_free(cg);
}

/* What a poll result means for each kind; files of a fake tree stand in for the kernel's. */
static void test_consume(void **state)
{
        (void) state;
        /* memory.events: opened and read to its end; a change (POLLPRI|POLLERR from kernfs) is re-read and
         * fired; once the file is unreadable it is dead */
        put("kubepods/memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
        struct ev_notifier ev = {.kind = EV_NOTIFY_EVENTS,
                                 .fd = -1,
                                 .usage_fd = -1,
                                 .path = strdup_printf("%s/kubepods/memory.events", tmpdir)};
        assert_int_equal(ev_notify_open(&ev), 0);
        assert_true(ev.fd >= 0);
        assert_int_equal(ev_notify_events(&ev), POLLPRI);
        assert_false(ev_notify_consume(&ev, 0));
        assert_true(ev_notify_consume(&ev, POLLPRI | POLLERR));
        assert_true(ev_notify_consume(&ev, POLLPRI | POLLERR));
        assert_false(ev.dead);
        int fd = ev.fd;
        ev.fd = open("/dev/null", O_WRONLY | O_CLOEXEC); /* a read fails as on a removed cgroup's file */
        close(fd);
        assert_false(ev_notify_consume(&ev, POLLPRI | POLLERR));
        assert_true(ev.dead);
        assert_int_equal(ev.fd, -1);
        assert_false(ev_notify_consume(&ev, POLLPRI)); /* closed: nothing */
        /* a missing file: an error, nothing open */
        free(ev.path);
        ev.path = strdup_printf("%s/gone/memory.events", tmpdir);
        assert_int_equal(ev_notify_open(&ev), -ENOENT);
        assert_int_equal(ev.fd, -1);
        free(ev.path);

        /* a pressure trigger: POLLPRI fires; POLLERR says the trigger or its cgroup is gone */
        struct ev_notifier ps = {.kind = EV_NOTIFY_PRESSURE,
                                 .fd = -1,
                                 .usage_fd = -1,
                                 .path = strdup_printf("%s/kubepods/memory.pressure", tmpdir)};
        put("kubepods/memory.pressure", "");
        assert_int_equal(ev_notify_open(&ps), -EINVAL); /* no trigger */
        assert_true(ps.dead);
        ps.trigger = EV_PSI_KUBEPODS_TRIGGER;
        assert_int_equal(ev_notify_open(&ps), 0);
        assert_false(ps.dead);
        _cleanup_free_ char *written = NULL;
        size_t wlen = 0;
        assert_int_equal(read_file_limit(ps.path, 4096, &written, &wlen), 0);
        assert_int_equal(wlen, strlen(written) + 1); /* the kernel wants the NUL too */
        assert_string_equal(written, "full 200000 2000000");
        assert_true(ev_notify_consume(&ps, POLLPRI));
        assert_true(ev_notify_consume(&ps, POLLPRI));
        assert_false(ev_notify_consume(&ps, POLLPRI | POLLERR));
        assert_true(ps.dead);
        assert_int_equal(ps.fd, -1);
        free(ps.path);

        /* a usage threshold: the eventfd's count is read; an error closes it for the next pass to re-arm,
         * never dead */
        struct ev_notifier th = {.kind = EV_NOTIFY_THRESHOLD, .fd = -1, .usage_fd = -1};
        assert_int_equal(ev_notify_open(&th), -EINVAL);
        th.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        uint64_t one = 1;
        assert_int_equal(write(th.fd, &one, sizeof one), sizeof one);
        assert_int_equal(ev_notify_events(&th), POLLIN);
        assert_true(ev_notify_consume(&th, POLLIN));
        struct pollfd p = {.fd = th.fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 0), 0); /* the count was taken */
        assert_false(ev_notify_consume(&th, POLLERR));
        assert_false(th.dead);
        assert_int_equal(th.fd, -1);
        assert_int_equal(ev_notify_arm(&ps, 1), -EINVAL);
}

/* The kernel's own trigger, as root where the kernel has PSI: accepted with the window the manager uses
 * (a multiple of 2 s, as the kernel wants from callers without CAP_SYS_RESOURCE), silent while nothing
 * stalls for that long. (Firing under a real stall: tests/integration/test_eviction.sh.) */
static void test_kernel_trigger(void **state)
{
        (void) state;
        if (geteuid() != 0 || access("/proc/pressure/memory", W_OK) < 0)
                skip();
        struct ev_notifier ps = {.kind = EV_NOTIFY_PRESSURE,
                                 .fd = -1,
                                 .usage_fd = -1,
                                 .path = xstrdup("/proc/pressure/memory"),
                                 .trigger = EV_PSI_TOP_TRIGGER};
        assert_int_equal(ev_notify_open(&ps), 0);
        assert_true(ps.fd >= 0);
        ev_notify_close(&ps);
        free(ps.path);
}

static int setup(void **state)
{
        (void) state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        (void) state;
        return rm_rf(tmpdir) < 0 ? -1 : 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan),
                cmocka_unit_test(test_consume),
                cmocka_unit_test(test_kernel_trigger),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
