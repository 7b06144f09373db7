/* Container log rotation (upstream's container log manager). */
#include "logrotate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cri.h"
#include "dirwatch.h"
#include "log.h"
#include "util.h"

#define GZ_SUFFIX        ".gz"
#define TMP_SUFFIX       ".tmp"
#define COMPRESS_CHUNK   (128 * 1024)
#define ROTATE_STAMP_FMT "%Y%m%d-%H%M%S" /* upstream's Go layout 20060102-150405 */
#define FULL_PASS_EVERY  6               /* passes (1 min at upstream's 10 s) */
#define LINK_NAME_MAX    255             /* bytes in a file name (ext4), as upstream's logSymlink */

/* A running container's log path, as the runtime gave it: it never changes while the container lives, so
 * each pass asks the runtime only about containers the last pass did not see (a ContainerStatus per
 * container every 10 s was most of an idle node's runtime calls). */
struct log_path {
        char *id, *path;
};

struct log_rotator {
        struct log_rotate_config cfg;
        char *containers_dir;
        struct log_path *paths; /* the rotator's thread only: the running containers of the last pass */
        size_t n_paths;
        unsigned passes;
        struct log_watch *watch; /* the rotator's thread only: the pod logs directory; NULL: none given */
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        atomic_bool stop; /* set under lock; read without it to cut a long compression short */
};

char *log_rotated_name(const char *path, time_t t)
{
        char stamp[32];
        struct tm tm;
        /* Local time, as upstream (Go's time.Now().Format) names them. */
        if (!localtime_r(&t, &tm) || strftime(stamp, sizeof stamp, ROTATE_STAMP_FMT, &tm) == 0)
                return NULL;
        return strdup_printf("%s.%s", path, stamp);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool has_compressed(const char *name, char *const *names)
{
        size_t len = strlen(name);
        for (size_t i = 0; names[i]; i++)
                if (strncmp(names[i], name, len) == 0 && streq(names[i] + len, GZ_SUFFIX))
                        return true;
        return false;
}

void log_rotated_plan_make(const char *base, char *const *names, int max_rotated,
                           struct log_rotated_plan *ret)
{
        _cleanup_free_ char *prefix = strdup_printf("%s.", base);
        size_t total = strv_length(names), n = 0;
        _cleanup_free_ char **inuse = OOM_CHECK(calloc(total + 1, sizeof *inuse)); /* borrowed from names */
        struct log_rotated_plan p = {0};

        for (size_t i = 0; i < total; i++) {
                const char *name = names[i];
                if (!str_has_prefix(name, prefix))
                        continue;
                /* A compression cut short, or one that finished all but removing its source. */
                if (str_has_suffix(name, TMP_SUFFIX) ||
                    (!str_has_suffix(name, GZ_SUFFIX) && has_compressed(name, names)))
                        strv_push(&p.remove, xstrdup(name));
                else
                        inuse[n++] = names[i];
        }
        qsort(inuse, n, sizeof *inuse, cmp_str); /* timestamps sort as text: oldest first */
        size_t keep = (size_t) MAX(max_rotated, 0), i = 0;
        /* Oldest first, so that a reader going through them in order is not cut off in the middle. */
        for (; n - i > keep; i++)
                strv_push(&p.remove, xstrdup(inuse[i]));
        /* The newest rotated file stays plain: the runtime may still be finishing a write into it, and
         * shippers reading it by name find it where they left it. */
        for (; i + 1 < n; i++)
                if (!str_has_suffix(inuse[i], GZ_SUFFIX))
                        strv_push(&p.compress, xstrdup(inuse[i]));
        *ret = p;
}

void log_rotated_plan_clear(struct log_rotated_plan *p)
{
        p->remove = strv_free(p->remove);
        p->compress = strv_free(p->compress);
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Runs z->next_in through the deflater into fd; with Z_FINISH until the gzip trailer is out. */
static int deflate_into(z_stream *z, int flush, unsigned char *out, int fd, const char **ret_step)
{
        for (;;) {
                z->next_out = out;
                z->avail_out = COMPRESS_CHUNK;
                int zr = deflate(z, flush);
                if (zr == Z_STREAM_ERROR) {
                        *ret_step = "deflate";
                        return -EIO;
                }
                int r = write_all(fd, out, COMPRESS_CHUNK - z->avail_out);
                if (r < 0) {
                        *ret_step = "write the temporary file";
                        return r;
                }
                if (flush == Z_FINISH ? zr == Z_STREAM_END : z->avail_out != 0)
                        return 0;
        }
}

/* log_compress on the file name in the directory dfd. */
static int compress_at(int dfd, const char *name, const atomic_bool *cancel, const char **ret_step)
{
        _cleanup_free_ char *tmp = strdup_printf("%s%s", name, TMP_SUFFIX);
        _cleanup_free_ char *gz = strdup_printf("%s%s", name, GZ_SUFFIX);
        _cleanup_free_ unsigned char *in = NULL, *out = NULL;
        _cleanup_close_ int src = -1, dst = -1;
        const char *step = "open the log";
        z_stream z = {0};
        bool zinit = false, created = false;
        struct stat st;
        int r;

        src = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (src < 0)
                goto fail_errno;
        step = "stat the log";
        if (fstat(src, &st) < 0)
                goto fail_errno;
        if (!S_ISREG(st.st_mode)) {
                step = "check the log is a regular file";
                r = -EINVAL;
                goto fail;
        }
        step = "create the temporary file";
        dst = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 07777);
        if (dst < 0)
                goto fail_errno;
        created = true;
        step = "set up zlib";
        /* windowBits 15 + 16: a gzip header and trailer around the deflate stream. */
        if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                r = -ENOMEM;
                goto fail;
        }
        zinit = true;
        in = OOM_CHECK(malloc(COMPRESS_CHUNK));
        out = OOM_CHECK(malloc(COMPRESS_CHUNK));
        for (;;) {
                if (cancel && atomic_load(cancel)) {
                        step = "compress (stopping)";
                        r = -ECANCELED;
                        goto fail;
                }
                ssize_t k = read(src, in, COMPRESS_CHUNK);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        step = "read the log";
                        goto fail_errno;
                }
                z.next_in = in;
                z.avail_in = (uInt) k;
                r = deflate_into(&z, k == 0 ? Z_FINISH : Z_NO_FLUSH, out, dst, &step);
                if (r < 0)
                        goto fail;
                if (k == 0)
                        break;
        }
        /* The .gz replaces the log: it must be on disk before the log goes. */
        step = "sync the temporary file";
        if (fsync(dst) < 0)
                goto fail_errno;
        step = "close the temporary file";
        if (close(TAKE_FD(dst)) < 0)
                goto fail_errno;
        /* Removed while we read it (the pod went, or an older rotation pruned it): do not revive it. */
        step = "check the log is still there";
        if (fstat(src, &st) < 0)
                goto fail_errno;
        if (st.st_nlink == 0) {
                r = -ENOENT;
                goto fail;
        }
        step = "rename the temporary file";
        if (renameat(dfd, tmp, dfd, gz) < 0)
                goto fail_errno;
        deflateEnd(&z);
        /* From here the .gz holds everything; a log left beside it is removed by the next tidy. */
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
                r = -errno;
                if (ret_step)
                        *ret_step = "remove the uncompressed log";
                return r;
        }
        return 0;

fail_errno:
        r = -errno;
fail:
        if (created)
                (void) unlinkat(dfd, tmp, 0);
        if (zinit)
                deflateEnd(&z);
        if (ret_step)
                *ret_step = step;
        return r;
}

/* The directory of path, as a directory fd, and the file's name in it; no symlink followed below root
 * (open_nofollow_below). */
static int open_parent(const char *root, const char *path, char **ret_dir, char **ret_name)
{
        _cleanup_free_ char *d = xstrdup(path), *b = xstrdup(path);
        const char *dir = dirname(d), *name = basename(b);
        int dfd = open_nofollow_below(root, dir, O_RDONLY | O_DIRECTORY);
        if (dfd < 0)
                return dfd;
        *ret_dir = xstrdup(dir);
        *ret_name = xstrdup(name);
        return dfd;
}

int log_compress(const char *path, const atomic_bool *cancel, const char **ret_step)
{
        _cleanup_free_ char *dir = NULL, *name = NULL;
        _cleanup_close_ int dfd = open_parent(NULL, path, &dir, &name);
        if (dfd < 0) {
                if (ret_step)
                        *ret_step = "open the log's directory";
                return dfd;
        }
        return compress_at(dfd, name, cancel, ret_step);
}

static int list_dir(int dfd, const char *prefix, char ***ret)
{
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *dh = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;
        char **names = NULL;
        if (!dh) {
                int r = -errno;
                if (fd >= 0)
                        close(fd);
                return r;
        }
        while ((de = readdir(dh)))
                if (str_has_prefix(de->d_name, prefix))
                        strv_push(&names, xstrdup(de->d_name));
        closedir(dh);
        *ret = names;
        return 0;
}

/* log_tidy_rotated for the log base in the directory dfd (dir: its path, for the messages). */
static int tidy_at(int dfd, const char *dir, const char *base, int max_rotated, bool compress,
                   const atomic_bool *cancel)
{
        _cleanup_free_ char *prefix = strdup_printf("%s.", base);
        _cleanup_strv_free_ char **names = NULL;
        struct log_rotated_plan plan;
        int compressed = 0;

        int r = list_dir(dfd, prefix, &names);
        if (r < 0)
                return r;
        log_rotated_plan_make(base, names, max_rotated, &plan);
        for (size_t i = 0; plan.remove && plan.remove[i]; i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, plan.remove[i]);
                if (unlinkat(dfd, plan.remove[i], 0) < 0 && errno != ENOENT)
                        log_warn("Cannot remove an old container log, ignoring", "path=\"%s\" err=\"%s\"", p,
                                 strerror(errno));
                else
                        log_v(4, "Removed an old container log", "path=\"%s\"", p);
        }
        for (size_t i = 0; compress && plan.compress && plan.compress[i]; i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, plan.compress[i]);
                const char *step = NULL;
                r = compress_at(dfd, plan.compress[i], cancel, &step);
                if (r == -ECANCELED) {
                        log_v(2, "Stopping: a rotated container log stays uncompressed", "path=\"%s\"", p);
                        break;
                }
                if (r < 0)
                        log_warn("Cannot compress a rotated container log, ignoring",
                                 "path=\"%s\" step=\"%s\" err=\"%s\"", p, step, strerror(-r));
                else {
                        log_v(4, "Compressed a rotated container log", "path=\"%s%s\"", p, GZ_SUFFIX);
                        compressed++;
                }
        }
        log_rotated_plan_clear(&plan);
        return compressed;
}

int log_tidy_rotated(const char *root, const char *path, int max_rotated, bool compress,
                     const atomic_bool *cancel)
{
        _cleanup_free_ char *dir = NULL, *name = NULL;
        _cleanup_close_ int dfd = open_parent(root, path, &dir, &name);
        if (dfd < 0)
                return dfd;
        return tidy_at(dfd, dir, name, max_rotated, compress, cancel);
}

static int reopen_log(struct log_rotator *r, const char *id, struct cri_error *err)
{
        Runtime__V1__ReopenContainerLogRequest req = RUNTIME__V1__REOPEN_CONTAINER_LOG_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ReopenContainerLogResponse *resp = NULL;
        req.container_id = (char *) id;
        return CRI_CALL(r->cfg.cri, RuntimeService, ReopenContainerLog, reopen_container_log, &req, &resp,
                        r->cfg.timeout_ms, err);
}

/* Returns 1 when path was rotated (the caller then tidies the files next to it). Every step is relative to
 * the log's directory, opened with no symlink followed below the pod logs directory: a pod with a hostPath
 * on its own log directory cannot make the rotation rename, compress or remove files anywhere else. */
static int rotate_one(struct log_rotator *r, const char *id, const char *path)
{
        struct cri_error err = {0};
        struct stat st;
        int rc;

        _cleanup_free_ char *dir = NULL, *name = NULL;
        _cleanup_close_ int dfd = open_parent(r->cfg.pod_logs_dir, path, &dir, &name);
        if (dfd < 0 && dfd != -ENOENT)
                return dfd;
        if (dfd < 0 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (dfd >= 0 && errno != ENOENT)
                        return -errno;
                /* Gone (removed by hand, or a rotation cut short before the reopen): as upstream, have
                 * the runtime make it again, or the container's output goes nowhere. */
                rc = reopen_log(r, id, &err);
                if (rc < 0)
                        log_warn("Cannot reopen a missing container log, ignoring",
                                 "containerID=\"%.13s\" path=\"%s\" err=\"%s\"", id, path,
                                 log_q(err.msg[0] ? err.msg : strerror(-rc)));
                return rc < 0 ? rc : 0;
        }
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (st.st_size < r->cfg.max_size)
                return 0;
        _cleanup_free_ char *rotated = log_rotated_name(name, time(NULL));
        _cleanup_free_ char *rotated_gz = rotated ? strdup_printf("%s%s", rotated, GZ_SUFFIX) : NULL;
        if (!rotated)
                return -EINVAL;
        if (faccessat(dfd, rotated, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
            faccessat(dfd, rotated_gz, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return 0; /* rotated this second already: never overwrite a rotated file */
        /* Room for the file about to be rotated first, as upstream: there are never more than max_files. */
        rc = tidy_at(dfd, dir, name, r->cfg.max_files - 2, false, NULL);
        if (rc < 0)
                log_warn("Cannot list rotated container logs, ignoring", "path=\"%s\" err=\"%s\"", path,
                         strerror(-rc));
        if (renameat(dfd, name, dfd, rotated) < 0)
                return -errno;
        rc = reopen_log(r, id, &err);
        if (rc < 0) {
                /* The runtime still writes to the renamed file: put it back, try next time. */
                (void) renameat(dfd, rotated, dfd, name);
                log_warn("Failed to reopen a container log after rotation, ignoring",
                         "containerID=\"%.13s\" err=\"%s\"", id,
                         log_q(err.msg[0] ? err.msg : strerror(-rc)));
                return rc;
        }
        log_v(2, "Rotated a container log", "containerID=\"%.13s\" path=\"%s\"", id, path);
        return 1;
}

/* Whether a dangling /var/log/containers link may go (upstream's evictPodLogsDirectories): its container
 * exited, or the runtime no longer knows it. A container created and not started yet has no log file, and
 * one being rotated has none for a moment (renamed, not yet reopened): their links stay. The container ID
 * ends the link's name: <pod>_<namespace>_<container>-<id>.log. */
static bool link_may_go(struct log_rotator *r, const char *name)
{
        const char *dash = strrchr(name, '-');
        if (!r->cfg.cri || !dash || strlen(dash + 1) <= strlen(".log"))
                return true;
        _cleanup_free_ char *id = OOM_CHECK(strndup(dash + 1, strlen(dash + 1) - strlen(".log")));
        Runtime__V1__ContainerStatusRequest sreq = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ContainerStatusResponse *sresp = NULL;
        struct cri_error err = {0};
        sreq.container_id = id;
        if (CRI_CALL(r->cfg.cri, RuntimeService, ContainerStatus, container_status, &sreq, &sresp,
                     r->cfg.timeout_ms, &err) < 0)
                return cri_not_found(&err); /* any other error: asked again at the next pass */
        return !sresp->status || sresp->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
}

/* /var/log/containers symlinks whose target is gone, of containers that no longer run. */
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
                if ((de->d_type != DT_LNK && de->d_type != DT_UNKNOWN) ||
                    !str_has_suffix(de->d_name, ".log"))
                        continue;
                if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
                    fstatat(dirfd(dh), de->d_name, &st, 0) < 0 && errno == ENOENT &&
                    link_may_go(r, de->d_name))
                        (void) unlinkat(dirfd(dh), de->d_name, 0);
        }
        closedir(dh);
}

static void free_paths(struct log_path *p, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(p[i].id);
                free(p[i].path);
        }
        free(p);
}

/* The container's log path: from the last pass, else from the runtime (NULL: none, or the call failed). */
static char *log_path_of(struct log_rotator *r, const char *id)
{
        for (size_t i = 0; i < r->n_paths; i++)
                if (streq(r->paths[i].id, id)) {
                        char *p = r->paths[i].path;
                        r->paths[i].path = NULL;
                        return p;
                }
        Runtime__V1__ContainerStatusRequest sreq = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ContainerStatusResponse *sresp = NULL;
        struct cri_error err = {0};
        sreq.container_id = (char *) id;
        if (CRI_CALL(r->cfg.cri, RuntimeService, ContainerStatus, container_status, &sreq, &sresp,
                     r->cfg.timeout_ms, &err) < 0 ||
            !sresp->status || !sresp->status->log_path || !sresp->status->log_path[0])
                return NULL;
        return xstrdup(sresp->status->log_path);
}

/* One walk of root/<pod>/<container>/: with watches, each directory is watched (inotify) before it is read
 * and the live logs' paths below root are kept. */
struct log_walk {
        int64_t max;
        struct dirwatch *dw; /* NULL: no watches */
        bool watched;        /* every directory read got its watch */
        char **live;         /* "<pod>/<container>/<n>.log" (with watches) */
};

#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

/* Whether a "*.log" file below root/<pod>/<container>/ is at max or larger, or a container's directory has
 * rotated files and no live log (a rotation cut short before the reopen): an idle node's pass is these
 * directory reads, not a runtime listing (the runtime writes every container's log there, cubelet having
 * set the pods' log directories). Errors answer true: the pass asks the runtime as before. rel: dfd's path
 * below root ("" for root). */
static bool walk_over(struct log_walk *w, int dfd, const char *rel, int depth)
{
        if (w->dw) {
                /* Before the read: what appears after it is an event, what was there before is read. */
                char self[64];
                snprintf(self, sizeof self, "/proc/self/fd/%d", dfd);
                if (!dirwatch_add(w->dw, self, WATCH_MASK))
                        w->watched = false;
        }
        DIR *dh = fdopendir(dfd);
        struct dirent *de;
        bool over = false, live = false, rotated = false;

        if (!dh) {
                close(dfd);
                return true;
        }
        while (!over && (de = readdir(dh))) {
                if (de->d_name[0] == '.')
                        continue;
                if (depth < 2) {
                        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
                                continue;
                        int sub = openat(dirfd(dh), de->d_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0) {
                                _cleanup_free_ char *sub_rel =
                                        depth == 0 ? xstrdup(de->d_name)
                                                   : strdup_printf("%s/%s", rel, de->d_name);
                                over = walk_over(w, sub, sub_rel, depth + 1);
                        } else
                                over = errno != ENOENT && errno != ENOTDIR && errno != ELOOP;
                        continue;
                }
                struct stat st;
                if (!str_has_suffix(de->d_name, ".log")) {
                        rotated |= strstr(de->d_name, ".log.") != NULL;
                        continue;
                }
                live = true;
                if (w->dw)
                        strv_push(&w->live, strdup_printf("%s/%s", rel, de->d_name));
                if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                        over = st.st_size >= w->max;
        }
        closedir(dh);
        return over || (depth == 2 && rotated && !live);
}

bool log_rotate_needed(const char *pod_logs_dir, int64_t max_size)
{
        if (!pod_logs_dir)
                return true;
        int dfd = open(pod_logs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return errno != ENOENT; /* no pod has logged yet */
        struct log_walk w = {.max = max_size};
        return walk_over(&w, dfd, "", 0);
}

struct log_watch {
        char *root;
        struct dirwatch *dw;
        int root_fd;    /* the root as the last walk opened it; -1: none */
        dev_t root_dev; /* ... and what it was then (the path may name another directory now: a mount) */
        ino_t root_ino;
        char **live; /* the live logs the last walk saw, below root_fd */
        int64_t max; /* the size the last walk was for */
        bool valid;  /* every directory of the last walk is watched and nothing was over: live stands */
        unsigned walks;
};

struct log_watch *log_watch_new(const char *pod_logs_dir)
{
        struct log_watch *lw = OOM_CHECK(calloc(1, sizeof *lw));
        lw->root = xstrdup(pod_logs_dir);
        lw->dw = dirwatch_new();
        lw->root_fd = -1;
        return lw;
}

void log_watch_free(struct log_watch *lw)
{
        if (!lw)
                return;
        dirwatch_free(lw->dw);
        if (lw->root_fd >= 0)
                close(lw->root_fd);
        strv_free(lw->live);
        free(lw->root);
        free(lw);
}

unsigned log_watch_walks(const struct log_watch *lw)
{
        return lw->walks;
}

bool log_watch_needed(struct log_watch *lw, int64_t max_size)
{
        struct stat rst;
        if (lw->valid && lw->max == max_size && !dirwatch_changed(lw->dw) && stat(lw->root, &rst) == 0 &&
            rst.st_dev == lw->root_dev && rst.st_ino == lw->root_ino) {
                bool over = false, ok = true;
                for (size_t i = 0; ok && !over && lw->live && lw->live[i]; i++) {
                        struct stat st;
                        if (fstatat(lw->root_fd, lw->live[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
                                ok = false; /* the walk tells what became of it */
                        else
                                over = S_ISREG(st.st_mode) && st.st_size >= max_size;
                }
                if (ok)
                        return over;
        }
        /* What happened before this walk, it sees; what happens during it, the next check does. */
        (void) dirwatch_changed(lw->dw);
        lw->walks++;
        lw->valid = false;
        lw->max = max_size;
        strv_free(lw->live);
        lw->live = NULL;
        if (lw->root_fd >= 0)
                close(lw->root_fd);
        lw->root_fd = open(lw->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lw->root_fd < 0)
                return errno != ENOENT; /* no pod has logged yet */
        if (fstat(lw->root_fd, &rst) < 0)
                return true;
        lw->root_dev = rst.st_dev;
        lw->root_ino = rst.st_ino;
        int dfd = fcntl(lw->root_fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return true;
        struct log_walk w = {.max = max_size, .dw = lw->dw, .watched = true};
        bool over = walk_over(&w, dfd, "", 0);
        lw->live = w.live;
        lw->valid = !over && w.watched;
        return over;
}

int log_rotate_once(struct log_rotator *r)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__ContainerStateValue state = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
        _cleanup_cri_ Runtime__V1__ListContainersResponse *resp = NULL;
        struct cri_error err = {0};
        _cleanup_strv_free_ char **rotated = NULL;

        /* The links at the first pass and then once a minute (at upstream's 10 s), as upstream's container
         * GC prunes them. */
        if (++r->passes % FULL_PASS_EVERY == 1)
                prune_links(r);
        /* Every FULL_PASS_EVERY-th pass asks the runtime anyway: a running container's log removed by hand
         * leaves nothing to see here. */
        if (r->cfg.max_size <= 0)
                return 0;
        if (r->passes % FULL_PASS_EVERY != 0 && r->watch && !log_watch_needed(r->watch, r->cfg.max_size))
                return 0; /* no watch: no pod logs directory given, every pass asks the runtime */
        state.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        filter.state = &state;
        req.filter = &filter;
        if (CRI_CALL(r->cfg.cri, RuntimeService, ListContainers, list_containers, &req, &resp,
                     r->cfg.timeout_ms, &err) < 0)
                return 0;
        struct log_path *paths = OOM_CHECK(calloc(resp->n_containers + 1, sizeof *paths));
        size_t n_paths = 0;
        for (size_t i = 0; i < resp->n_containers; i++) {
                const char *id = resp->containers[i]->id;
                char *path = id ? log_path_of(r, id) : NULL;
                if (!path)
                        continue;
                paths[n_paths++] = (struct log_path){.id = xstrdup(id), .path = path};
                if (rotate_one(r, id, path) > 0)
                        strv_push(&rotated, xstrdup(path));
        }
        free_paths(r->paths, r->n_paths);
        r->paths = paths;
        r->n_paths = n_paths;
        /* Compression after every container was rotated (upstream compresses before it renames): one
         * container's large log does not hold up another's rotation. */
        for (size_t i = 0; rotated && rotated[i] && !atomic_load(&r->stop); i++) {
                int n = log_tidy_rotated(r->cfg.pod_logs_dir, rotated[i], r->cfg.max_files - 1, true,
                                         &r->stop);
                if (n < 0)
                        log_warn("Cannot list rotated container logs, ignoring", "path=\"%s\" err=\"%s\"",
                                 rotated[i], strerror(-n));
        }
        return (int) (rotated ? strv_length(rotated) : 0);
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
        r->watch = cfg->pod_logs_dir && cfg->max_size > 0 ? log_watch_new(cfg->pod_logs_dir) : NULL;
        if (r->cfg.max_files < 2)
                r->cfg.max_files = 2;
        if (r->cfg.interval_ms <= 0)
                r->cfg.interval_ms = 10000;
        pthread_mutex_init(&r->lock, NULL);
        cond_init_monotonic(&r->cond);
        int e = pthread_create(&r->thread, NULL, rotate_thread, r);
        if (e != 0) {
                log_watch_free(r->watch);
                pthread_mutex_destroy(&r->lock);
                pthread_cond_destroy(&r->cond);
                free(r->containers_dir);
                free(r);
                return -e;
        }
        (void) pthread_setname_np(r->thread, "log-rotate");
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
        free_paths(r->paths, r->n_paths);
        log_watch_free(r->watch);
        free(r->containers_dir);
        free(r);
}

/* A removed container's log files, rotated ones too, with no symlink followed below the pod logs directory:
 * a pod with a hostPath on its own log directory cannot point the removal at another directory. */
void log_remove_container_logs(const char *root, const char *log_path)
{
        if (!log_path || log_path[0] != '/')
                return;
        _cleanup_free_ char *dir = xstrdup(log_path);
        char *slash = strrchr(dir, '/');
        *slash = 0;
        const char *base = slash + 1;
        size_t n = strlen(base);
        _cleanup_close_ int dfd =
                open_nofollow_below(root, dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int dup = dfd < 0 ? -1 : fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup < 0 ? NULL : fdopendir(dup);
        struct dirent *de;
        if (!d && dup >= 0)
                close(dup);
        while (d && (de = readdir(d)))
                if (strncmp(de->d_name, base, n) == 0 && (de->d_name[n] == 0 || de->d_name[n] == '.'))
                        (void) unlinkat(dfd, de->d_name, 0);
        if (d)
                closedir(d);
}

char *log_container_link_name(const char *pod, const char *ns, const char *container, const char *id)
{
        char *name = strdup_printf("%s_%s_%s-%s", pod, ns, container, id);
        if (strlen(name) > LINK_NAME_MAX - strlen(".log"))
                name[LINK_NAME_MAX - strlen(".log")] = 0;
        char *with_suffix = strdup_printf("%s.log", name);
        free(name);
        return with_suffix;
}

void log_remove_container_link(const char *containers_dir, const char *pod, const char *ns,
                               const char *container, const char *id)
{
        if (!containers_dir || !pod || !ns || !container || !id)
                return;
        _cleanup_free_ char *name = log_container_link_name(pod, ns, container, id);
        if (strchr(name, '/'))
                return; /* not a name cubelet made */
        _cleanup_free_ char *path = strdup_printf("%s/%s", containers_dir, name);
        (void) unlink(path);
}
