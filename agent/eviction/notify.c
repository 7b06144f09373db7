/* The eviction manager's memory notifiers (see notify.h). */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"

static void add(struct ev_notifier **v, size_t *n, enum ev_notify_kind kind, const struct ev_threshold *t,
                size_t i, char *path)
{
        *v = OOM_CHECK(realloc(*v, (*n + 1) * sizeof **v));
        (*v)[(*n)++] = (struct ev_notifier){
                .kind = kind, .signal = t->signal, .threshold = i, .path = path, .fd = -1, .usage_fd = -1};
}

size_t ev_notify_plan(const struct cg *cg, const struct ev_threshold *t, size_t n, const char *kubepods,
                      struct ev_notifier **ret)
{
        struct ev_notifier *v = NULL;
        size_t m = 0;
        enum cg_mode mode = cg_get_mode(cg);
        for (size_t i = 0; i < n; i++) {
                if (t[i].grace_ms != 0 ||
                    (t[i].signal != EV_MEMORY_AVAILABLE && t[i].signal != EV_ALLOCATABLE_MEMORY_AVAILABLE))
                        continue;
                bool top = t[i].signal == EV_MEMORY_AVAILABLE;
                const char *name = top ? "" : kubepods;
                if (!name)
                        continue;
                if (mode != CG_MODE_V2) {
                        char *dir = cg_dir(cg, name, "memory");
                        if (dir)
                                add(&v, &m, EV_NOTIFY_THRESHOLD, &t[i], i, dir);
                }
                _cleanup_free_ char *udir = cg_unified_dir(cg, name);
                if (!udir)
                        continue;
                char *pressure = strdup_printf("%s/memory.pressure", udir);
                if (top && access(pressure, F_OK) < 0) { /* kernels before the root's pressure files */
                        free(pressure);
                        pressure = xstrdup("/proc/pressure/memory");
                }
                add(&v, &m, EV_NOTIFY_PRESSURE, &t[i], i, pressure);
                v[m - 1].trigger = top ? EV_PSI_TOP_TRIGGER : EV_PSI_KUBEPODS_TRIGGER;
                if (mode == CG_MODE_V2 && !top) {
                        char *events = strdup_printf("%s/memory.events.local", udir);
                        if (access(events, F_OK) < 0) { /* before 5.2 */
                                free(events);
                                events = strdup_printf("%s/memory.events", udir);
                        }
                        add(&v, &m, EV_NOTIFY_EVENTS, &t[i], i, events);
                }
        }
        *ret = v;
        return m;
}

void ev_notify_close(struct ev_notifier *no)
{
        if (no->fd >= 0)
                close(no->fd);
        if (no->usage_fd >= 0)
                close(no->usage_fd);
        no->fd = no->usage_fd = -1;
        no->value = 0;
}

/* Reads the file to its end from the start: what memory.events' poll compares with (kernfs wakes a
 * poller when the file changed since it was last read). */
static int reread(int fd)
{
        char buf[512];
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        for (;;) {
                ssize_t k = read(fd, buf, sizeof buf);
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return 0;
        }
}

static int open_file(struct ev_notifier *no)
{
        if (no->kind == EV_NOTIFY_EVENTS) {
                no->fd = open(no->path, O_RDONLY | O_CLOEXEC);
                return no->fd < 0 ? -errno : reread(no->fd);
        }
        if (no->kind != EV_NOTIFY_PRESSURE || !no->trigger)
                return -EINVAL;
        no->fd = open(no->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (no->fd < 0)
                return -errno;
        /* the kernel takes the trigger with its terminating NUL */
        size_t len = strlen(no->trigger) + 1;
        ssize_t k = write(no->fd, no->trigger, len);
        return k == (ssize_t) len ? 0 : k < 0 ? -errno : -EIO;
}

int ev_notify_open(struct ev_notifier *no)
{
        if (no->kind == EV_NOTIFY_THRESHOLD)
                return -EINVAL;
        ev_notify_close(no);
        int r = open_file(no);
        if (r < 0)
                ev_notify_close(no);
        no->dead = r < 0;
        return r;
}

int ev_notify_arm(struct ev_notifier *no, int64_t value)
{
        if (no->kind != EV_NOTIFY_THRESHOLD)
                return -EINVAL;
        _cleanup_free_ char *usage = strdup_printf("%s/memory.usage_in_bytes", no->path),
                            *control = strdup_printf("%s/cgroup.event_control", no->path);
        ev_notify_close(no);
        no->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (no->fd < 0)
                return -errno;
        no->usage_fd = open(usage, O_RDONLY | O_CLOEXEC);
        if (no->usage_fd < 0) {
                int r = -errno;
                ev_notify_close(no);
                return r;
        }
        _cleanup_close_ int cfd = open(control, O_WRONLY | O_CLOEXEC);
        char line[128];
        int len = snprintf(line, sizeof line, "%d %d %lld", no->fd, no->usage_fd, (long long) value);
        if (cfd < 0 || write(cfd, line, (size_t) len) != len) {
                int r = errno ? -errno : -EIO;
                ev_notify_close(no);
                return r;
        }
        no->value = value;
        return 0;
}

short ev_notify_events(const struct ev_notifier *no)
{
        return no->kind == EV_NOTIFY_THRESHOLD ? POLLIN : POLLPRI;
}

bool ev_notify_consume(struct ev_notifier *no, short revents)
{
        if (no->fd < 0 || !(revents & (POLLIN | POLLPRI | POLLERR | POLLHUP | POLLNVAL)))
                return false;
        switch (no->kind) {
        case EV_NOTIFY_THRESHOLD: {
                uint64_t v;
                if (!(revents & POLLIN))
                        break;
                (void) !read(no->fd, &v, sizeof v);
                return true;
        }
        case EV_NOTIFY_EVENTS:
                /* kernfs gives POLLERR|POLLPRI for a change and for a removed file alike: the read tells */
                if (!(revents & POLLPRI) || reread(no->fd) < 0)
                        break;
                return true;
        case EV_NOTIFY_PRESSURE:
                /* POLLPRI alone is the trigger; with POLLERR the trigger (or its cgroup) is gone */
                if (revents & (POLLERR | POLLHUP | POLLNVAL) || !(revents & POLLPRI))
                        break;
                return true;
        }
        if (no->kind == EV_NOTIFY_THRESHOLD) { /* re-armed by the next pass */
                if (revents & (POLLERR | POLLHUP | POLLNVAL))
                        ev_notify_close(no);
                return false;
        }
        ev_notify_close(no);
        no->dead = true;
        return false;
}

void ev_notify_free(struct ev_notifier *n, size_t count)
{
        for (size_t i = 0; i < count; i++) {
                ev_notify_close(&n[i]);
                free(n[i].path);
        }
        free(n);
}

const char *ev_notify_kind_name(enum ev_notify_kind k)
{
        switch (k) {
        case EV_NOTIFY_THRESHOLD:
                return "memory cgroup threshold";
        case EV_NOTIFY_PRESSURE:
                return "memory pressure (PSI)";
        case EV_NOTIFY_EVENTS:
                return "memory.events";
        }
        return "?";
}
