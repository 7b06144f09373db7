/* inotify watches on directories, read without blocking (dirwatch.h). */
#include "dirwatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct dirwatch {
        int fd; /* -1: no inotify */
};

/* At most this many reads of queued events at once: a directory changing without pause still ends a call. */
#define MAX_READS 64

struct dirwatch *dirwatch_new(void)
{
        struct dirwatch *w = OOM_CHECK(calloc(1, sizeof *w));
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0) {
                int e = errno; /* before the log's own calls */
                log_warn("Cannot watch directories (inotify), checking them in full every time",
                         "err=\"%s\"", strerror(e));
        }
        return w;
}

void dirwatch_free(struct dirwatch *w)
{
        if (!w)
                return;
        if (w->fd >= 0)
                close(w->fd);
        free(w);
}

bool dirwatch_add(struct dirwatch *w, const char *path, uint32_t mask)
{
        return w->fd >= 0 && inotify_add_watch(w->fd, path, mask | IN_ONLYDIR) >= 0;
}

bool dirwatch_changed(struct dirwatch *w)
{
        union {
                struct inotify_event ev;
                char b[4096];
        } buf;
        bool any = false;
        if (w->fd < 0)
                return true;
        for (int i = 0; i < MAX_READS; i++) {
                ssize_t n = read(w->fd, &buf, sizeof buf);
                if (n > 0) {
                        any = true;
                        continue;
                }
                return any || n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        }
        return true;
}
