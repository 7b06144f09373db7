/* Container log rotation (upstream's container log manager). */
#include "logrotate.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cri.h"
#include "log.h"
#include "util.h"

struct log_rotator {
        struct log_rotate_config cfg;
        char *containers_dir;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
};

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int log_prune_rotated(const char *path, int max_files)
{
        _cleanup_free_ char *d = xstrdup(path), *b = xstrdup(path);
        const char *dir = dirname(d), *base = basename(b);
        _cleanup_free_ char *prefix = strdup_printf("%s.", base);
        DIR *dh = opendir(dir);
        struct dirent *de;
        char **names = NULL;
        int removed = 0;
        if (!dh)
                return -errno;
        while ((de = readdir(dh)))
                if (str_has_prefix(de->d_name, prefix) && !str_has_suffix(de->d_name, ".tmp"))
                        strv_push(&names, xstrdup(de->d_name));
        closedir(dh);
        size_t n = strv_length(names);
        qsort(names, n, sizeof *names, cmp_str); /* timestamps sort as text: oldest first */
        size_t keep = max_files > 1 ? (size_t) max_files - 1 : 0;
        for (size_t i = 0; n > keep && i < n - keep; i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, names[i]);
                if (unlink(p) == 0)
                        removed++;
        }
        strv_free(names);
        return removed;
}

static int rotate_one(struct log_rotator *r, const char *id, const char *path)
{
        struct stat st;
        if (stat(path, &st) < 0 || st.st_size < r->cfg.max_size)
                return 0;
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        _cleanup_free_ char *rotated = strdup_printf("%s.%s", path, stamp);
        if (access(rotated, F_OK) == 0)
                return 0; /* rotated this second already */
        if (rename(path, rotated) < 0)
                return -errno;
        Runtime__V1__ReopenContainerLogRequest req = RUNTIME__V1__REOPEN_CONTAINER_LOG_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ReopenContainerLogResponse *resp = NULL;
        struct cri_error err = {0};
        req.container_id = (char *) id;
        int rc = CRI_CALL(r->cfg.cri, RuntimeService, ReopenContainerLog, reopen_container_log, &req, &resp,
                          r->cfg.timeout_ms, &err);
        if (rc < 0) {
                /* The runtime still writes to the renamed file: put it back, try next time. */
                (void) rename(rotated, path);
                log_warn("Failed to reopen a container log after rotation, ignoring",
                         "containerID=\"%.13s\" err=\"%s\"", id,
                         log_q(err.msg[0] ? err.msg : strerror(-rc)));
                return rc;
        }
        log_v(2, "Rotated a container log", "containerID=\"%.13s\" path=\"%s\"", id, path);
        log_prune_rotated(path, r->cfg.max_files);
        return 1;
}

/* /var/log/containers symlinks whose target is gone. */
static void prune_links(struct log_rotator *r)
{
        if (!r->containers_dir)
                return;
        DIR *dh = opendir(r->containers_dir);
        struct dirent *de;
        struct stat st;
        if (!dh)
                return;
        while ((de = readdir(dh))) {
                if (!str_has_suffix(de->d_name, ".log"))
                        continue;
                _cleanup_free_ char *p = strdup_printf("%s/%s", r->containers_dir, de->d_name);
                if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode) && stat(p, &st) < 0 && errno == ENOENT)
                        (void) unlink(p);
        }
        closedir(dh);
}

int log_rotate_once(struct log_rotator *r)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__ContainerStateValue state = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
        _cleanup_cri_ Runtime__V1__ListContainersResponse *resp = NULL;
        struct cri_error err = {0};
        int rotated = 0;

        prune_links(r);
        if (r->cfg.max_size <= 0)
                return 0;
        state.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        filter.state = &state;
        req.filter = &filter;
        if (CRI_CALL(r->cfg.cri, RuntimeService, ListContainers, list_containers, &req, &resp,
                     r->cfg.timeout_ms, &err) < 0)
                return 0;
        for (size_t i = 0; i < resp->n_containers; i++) {
                Runtime__V1__ContainerStatusRequest sreq = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
                _cleanup_cri_ Runtime__V1__ContainerStatusResponse *sresp = NULL;
                sreq.container_id = resp->containers[i]->id;
                if (CRI_CALL(r->cfg.cri, RuntimeService, ContainerStatus, container_status, &sreq, &sresp,
                             r->cfg.timeout_ms, &err) < 0 ||
                    !sresp->status || !sresp->status->log_path || !sresp->status->log_path[0])
                        continue;
                if (rotate_one(r, resp->containers[i]->id, sresp->status->log_path) > 0)
                        rotated++;
        }
        return rotated;
}

static void *rotate_thread(void *arg)
{
        struct log_rotator *r = arg;
        pthread_mutex_lock(&r->lock);
        while (!r->stop) {
                cond_wait_ms(&r->cond, &r->lock, r->cfg.interval_ms);
                if (r->stop)
                        break;
                pthread_mutex_unlock(&r->lock);
                log_rotate_once(r);
                pthread_mutex_lock(&r->lock);
        }
        pthread_mutex_unlock(&r->lock);
        return NULL;
}

int log_rotator_start(const struct log_rotate_config *cfg, struct log_rotator **ret)
{
        struct log_rotator *r = OOM_CHECK(calloc(1, sizeof *r));
        r->cfg = *cfg;
        r->containers_dir = xstrdup(cfg->containers_dir);
        r->cfg.containers_dir = NULL;
        if (r->cfg.max_files < 2)
                r->cfg.max_files = 2;
        if (r->cfg.interval_ms <= 0)
                r->cfg.interval_ms = 10000;
        pthread_mutex_init(&r->lock, NULL);
        cond_init_monotonic(&r->cond);
        int e = pthread_create(&r->thread, NULL, rotate_thread, r);
        if (e != 0) {
                pthread_mutex_destroy(&r->lock);
                pthread_cond_destroy(&r->cond);
                free(r->containers_dir);
                free(r);
                return -e;
        }
        *ret = r;
        return 0;
}

void log_rotator_stop(struct log_rotator *r)
{
        if (!r)
                return;
        pthread_mutex_lock(&r->lock);
        r->stop = true;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        free(r->containers_dir);
        free(r);
}
