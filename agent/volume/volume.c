/* Pod volumes on disk: the atomic writer, the API-data payloads, emptyDir and hostPath, subPath. */
#include "volume.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "envvars.h"
#include "log.h"
#include "objcache.h"
#include "thresholds.h"
#include "tokens.h"
#include "util.h"

#define DATA_LINK     "..data"
#define DATA_TMP_LINK "..data_tmp"
#define MAX_PATH_LEN  4096
#define MAX_NAME_LEN  255
#define DEFAULT_MODE  0644

/* ---- payload ---- */

void vol_payload_done(struct vol_payload *p)
{
        for (size_t i = 0; i < p->n; i++) {
                free(p->files[i].path);
                free(p->files[i].data);
        }
        free(p->files);
        *p = (struct vol_payload){0};
}

void vol_payload_add(struct vol_payload *p, const char *path, const void *data, size_t len, mode_t mode)
{
        struct vol_file *f = NULL;
        for (size_t i = 0; i < p->n && !f; i++)
                if (streq(p->files[i].path, path))
                        f = &p->files[i];
        if (f) {
                free(f->data);
        } else {
                p->files = OOM_CHECK(realloc(p->files, (p->n + 1) * sizeof *p->files));
                f = &p->files[p->n++];
                f->path = xstrdup(path);
        }
        f->data = OOM_CHECK(malloc(len + 1));
        memcpy(f->data, data, len);
        f->data[len] = 0;
        f->len = len;
        f->mode = mode & 07777;
}

int vol_validate_path(const char *path, char *err, size_t errlen)
{
        if (!path || !*path) {
                snprintf(err, errlen, "invalid path: must not be empty");
                return -EINVAL;
        }
        if (path[0] == '/') {
                snprintf(err, errlen, "invalid path: must be relative path: %s", path);
                return -EINVAL;
        }
        if (strlen(path) > MAX_PATH_LEN) {
                snprintf(err, errlen, "invalid path: must be less than or equal to %d characters",
                         MAX_PATH_LEN);
                return -EINVAL;
        }
        bool first = true;
        for (const char *s = path;; first = false) {
                const char *e = strchrnul(s, '/');
                size_t n = (size_t) (e - s);
                if (n == 0 || (n == 1 && s[0] == '.')) {
                        snprintf(err, errlen, "invalid path: must not contain empty or '.' elements: %s",
                                 path);
                        return -EINVAL;
                }
                if (n == 2 && s[0] == '.' && s[1] == '.') {
                        snprintf(err, errlen, "invalid path: must not contain '..': %s", path);
                        return -EINVAL;
                }
                if (first && n > 2 && s[0] == '.' && s[1] == '.') {
                        snprintf(err, errlen, "invalid path: must not start with '..': %s", path);
                        return -EINVAL;
                }
                if (n > MAX_NAME_LEN) {
                        snprintf(err, errlen, "invalid path: element longer than %d characters: %s",
                                 MAX_NAME_LEN, path);
                        return -EINVAL;
                }
                if (!*e)
                        return 0;
                s = e + 1;
        }
}

/* ---- opening beneath a directory ---- */

/* Opens path below dfd without leaving it: openat2(RESOLVE_BENEATH) where the kernel has it; otherwise
 * one component at a time with O_NOFOLLOW (symlinks are then refused). */
static int open_beneath(int dfd, const char *path, int flags, bool follow)
{
        struct open_how how = {.flags = (uint64_t) (flags | O_CLOEXEC),
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
                                          (follow ? 0 : RESOLVE_NO_SYMLINKS)};
        for (int tries = 0; tries < 8; tries++) {
                long fd = syscall(SYS_openat2, dfd, path, &how, sizeof how);
                if (fd >= 0)
                        return (int) fd;
                if (errno == EAGAIN)
                        continue;
                if (errno != ENOSYS)
                        return -errno;
                break;
        }
        _cleanup_free_ char *copy = xstrdup(path);
        int cur = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                bool last = !save || !*save;
                if (streq(c, "..")) {
                        close(cur);
                        return -EXDEV;
                }
                int next = openat(cur, c, (last ? flags : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC);
                int e = errno;
                close(cur);
                if (next < 0)
                        return -e;
                cur = next;
        }
        return cur;
}

/* ---- the atomic writer ---- */

static int write_all(int fd, const char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Regular files below dfd, counted (directories walked, nothing followed). */
static int count_files(int dfd)
{
        int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISREG(st.st_mode))
                        n++;
                else if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = openat(dirfd(d), de->d_name,
                                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        int k = sub >= 0 ? count_files(sub) : -1;
                        n = k < 0 ? n + 1000000 : n + k; /* unreadable: treat as different */
                } else
                        n += 1000000;
        }
        closedir(d);
        return n;
}

/* ---- ownership (fsGroup) ---- */

#define RW_MASK   0660
#define RO_MASK   0440
#define EXEC_MASK 0110
#define OWN_DEPTH 64

static mode_t own_mask(mode_t type, bool read_only)
{
        mode_t m = read_only ? RO_MASK : RW_MASK;
        return S_ISDIR(type) ? m | EXEC_MASK | S_ISGID : m;
}

static bool owned(const struct stat *st, gid_t gid, bool read_only)
{
        mode_t m = own_mask(st->st_mode, read_only);
        return st->st_gid == gid && (st->st_mode & m) == m;
}

/* One entry, through an fd that is the entry itself (O_PATH, never a name looked up again, so a link swapped
 * in meanwhile is never followed): the group, then the bits (chown(2) drops setgid on files, so the mode
 * comes second). Links get only the group. */
static int own_fd_entry(int fd, const struct stat *st, gid_t gid, bool read_only)
{
        if (fchownat(fd, "", (uid_t) -1, gid, AT_EMPTY_PATH) < 0)
                return -errno;
        if (S_ISLNK(st->st_mode))
                return 0;
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        /* The magic link is the open inode itself, not a path resolved again. */
        if (chmod(proc, (st->st_mode & 07777) | own_mask(st->st_mode, read_only)) < 0)
                return -errno;
        return 0;
}

/* Upstream logs a file it cannot change and goes on; entries that vanish meanwhile are no error. */
static void own_tree(int dfd, dev_t dev, gid_t gid, bool read_only, unsigned depth)
{
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        struct dirent *de;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        while ((de = readdir(d))) {
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_close_ int efd = openat(dirfd(d), de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (efd < 0 || fstat(efd, &st) < 0 || st.st_dev != dev)
                        continue;
                int r = own_fd_entry(efd, &st, gid, read_only);
                if (r < 0 && r != -ENOENT)
                        log_warn("Cannot set the fsGroup on a volume's file, going on",
                                 "file=\"%s\" gid=%u err=\"%s\"", de->d_name, (unsigned) gid, strerror(-r));
                if (S_ISDIR(st.st_mode) && depth < OWN_DEPTH)
                        own_tree(efd, dev, gid, read_only, depth + 1);
        }
        closedir(d);
}

static int own_fd(int fd, gid_t gid, bool read_only, bool only_on_root_mismatch, char *err, size_t errlen)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (only_on_root_mismatch && owned(&st, gid, read_only))
                return 0;
        int r = own_fd_entry(fd, &st, gid, read_only);
        if (r < 0) {
                snprintf(err, errlen, "set group %u: %s", (unsigned) gid, strerror(-r));
                return r;
        }
        if (S_ISDIR(st.st_mode))
                own_tree(fd, st.st_dev, gid, read_only, 0);
        return 1;
}

int vol_set_ownership(const char *path, gid_t gid, bool read_only, bool only_on_root_mismatch, char *err,
                      size_t errlen)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                snprintf(err, errlen, "open %s: %s", path, strerror(errno));
                return r;
        }
        int r = own_fd(fd, gid, read_only, only_on_root_mismatch, err, errlen);
        if (r < 0) {
                /* Name the volume too. */
                char inner[512];
                snprintf(inner, sizeof inner, "%s", err);
                snprintf(err, errlen, "%s: %s", path, inner);
        }
        return r;
}

/* Whether the payload equals the files of the old data directory (contents, modes, and nothing more). */
static bool payload_matches(int old, const struct vol_payload *p)
{
        if (count_files(old) != (int) p->n)
                return false;
        for (size_t i = 0; i < p->n; i++) {
                _cleanup_close_ int fd = open_beneath(old, p->files[i].path, O_RDONLY, false);
                struct stat st;
                mode_t want = p->has_fs_group ? p->files[i].mode | RO_MASK : p->files[i].mode;
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != want ||
                    (size_t) st.st_size != p->files[i].len || (p->has_fs_group && st.st_gid != p->fs_group))
                        return false;
                _cleanup_free_ char *buf = OOM_CHECK(malloc(p->files[i].len + 1));
                ssize_t n = pread(fd, buf, p->files[i].len + 1, 0);
                if (n != (ssize_t) p->files[i].len || memcmp(buf, p->files[i].data, p->files[i].len) != 0)
                        return false;
        }
        return true;
}

/* Writes one file below the new data directory, making its parent directories. */
static int write_one(int tsfd, const struct vol_file *f)
{
        _cleanup_free_ char *copy = xstrdup(f->path);
        int cur = fcntl(tsfd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;
        char *slash, *name = copy;
        while ((slash = strchr(name, '/'))) {
                *slash = 0;
                if (mkdirat(cur, name, 0755) < 0 && errno != EEXIST) {
                        int r = -errno;
                        close(cur);
                        return r;
                }
                int next = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int e = errno;
                close(cur);
                if (next < 0)
                        return -e;
                cur = next;
                name = slash + 1;
        }
        _cleanup_close_ int fd =
                openat(cur, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        int e = errno;
        close(cur);
        if (fd < 0)
                return -e;
        int r = write_all(fd, f->data, f->len);
        if (r < 0)
                return r;
        if (fchmod(fd, f->mode) < 0)
                return -errno;
        return 0;
}

/* The first element of a payload path: the name that links into ..data. */
static void top_name(const char *path, char top[static MAX_NAME_LEN + 1])
{
        const char *s = strchr(path, '/');
        snprintf(top, MAX_NAME_LEN + 1, "%.*s", (int) (s ? (size_t) (s - path) : strlen(path)), path);
}

static bool top_level_in(const struct vol_payload *p, const char *name)
{
        size_t n = strlen(name);
        for (size_t i = 0; i < p->n; i++)
                if (strncmp(p->files[i].path, name, n) == 0 &&
                    (p->files[i].path[n] == 0 || p->files[i].path[n] == '/'))
                        return true;
        return false;
}

static int rm_at(int dfd, const char *dir, const char *name)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, name);
        (void) dfd;
        return rm_rf(p);
}

int vol_atomic_write(const char *dir, const struct vol_payload *p, char *err, size_t errlen)
{
        char old[256] = "", ts[128];
        int r;

        for (size_t i = 0; i < p->n; i++)
                if ((r = vol_validate_path(p->files[i].path, err, errlen)) < 0)
                        return r;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                snprintf(err, errlen, "open %s: %s", dir, strerror(errno));
                return r;
        }
        ssize_t n = readlinkat(dfd, DATA_LINK, old, sizeof old - 1);
        if (n > 0) {
                old[n] = 0;
                if (strchr(old, '/') || !str_has_prefix(old, "..") || streq(old, ".."))
                        old[0] = 0; /* not ours: replaced below, never followed */
        } else
                old[0] = 0;
        if (old[0]) {
                _cleanup_close_ int ofd = openat(dfd, old, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                bool links_ok = true;
                for (size_t i = 0; i < p->n && links_ok; i++) {
                        char top[MAX_NAME_LEN + 1], want[MAX_NAME_LEN + 16], have[MAX_NAME_LEN + 16];
                        top_name(p->files[i].path, top);
                        snprintf(want, sizeof want, DATA_LINK "/%s", top);
                        ssize_t k = readlinkat(dfd, top, have, sizeof have - 1);
                        links_ok = k > 0 && (have[k] = 0, streq(have, want));
                }
                if (ofd >= 0 && links_ok && payload_matches(ofd, p)) {
                        /* The root too: a volume set up before fsGroup handling, or changed by hand. */
                        if (p->has_fs_group && (r = own_fd(dfd, p->fs_group, true, true, err, errlen)) < 0)
                                return r;
                        return 0;
                }
        }

        /* The new data directory. */
        struct timespec now;
        struct tm tm;
        static unsigned counter;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        snprintf(ts, sizeof ts, "..%04d_%02d_%02d_%02d_%02d_%02d.%09ld%u", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec,
                 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) % 1000);
        if (mkdirat(dfd, ts, 0755) < 0) {
                r = -errno;
                snprintf(err, errlen, "mkdir %s/%s: %s", dir, ts, strerror(errno));
                return r;
        }
        fchmodat(dfd, ts, 0755, 0);
        {
                _cleanup_close_ int tsfd = openat(dfd, ts, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = tsfd < 0 ? -errno : 0;
                for (size_t i = 0; i < p->n && r >= 0; i++) {
                        r = write_one(tsfd, &p->files[i]);
                        if (r < 0)
                                snprintf(err, errlen, "write %s: %s", p->files[i].path, strerror(-r));
                }
                /* Before the swap: the new files are never seen with the wrong group. */
                if (r >= 0 && p->has_fs_group)
                        r = own_fd(tsfd, p->fs_group, true, false, err, errlen);
        }
        if (r < 0) {
                rm_at(dfd, dir, ts);
                return r;
        }

        /* Swap ..data over in one rename. */
        if (unlinkat(dfd, DATA_TMP_LINK, 0) < 0 && errno != ENOENT) {
                r = -errno;
                goto fail;
        }
        if (symlinkat(ts, dfd, DATA_TMP_LINK) < 0 || renameat(dfd, DATA_TMP_LINK, dfd, DATA_LINK) < 0) {
                r = -errno;
                goto fail;
        }

        /* User-visible names point into ..data. */
        for (size_t i = 0; i < p->n; i++) {
                char top[MAX_NAME_LEN + 1], want[MAX_NAME_LEN + 16], have[MAX_NAME_LEN + 16];
                top_name(p->files[i].path, top);
                snprintf(want, sizeof want, DATA_LINK "/%s", top);
                ssize_t k = readlinkat(dfd, top, have, sizeof have - 1);
                if (k > 0 && (have[k] = 0, streq(have, want)))
                        continue;
                if (k > 0 || errno == EINVAL) /* a stale link, or something else in the way */
                        rm_at(dfd, dir, top);
                if (symlinkat(want, dfd, top) < 0 && errno != EEXIST) {
                        r = -errno;
                        snprintf(err, errlen, "symlink %s/%s: %s", dir, top, strerror(errno));
                        return r;
                }
        }
        /* Names of the old payload that are gone, then the old data directory. */
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (str_has_prefix(de->d_name, "..") || streq(de->d_name, "."))
                        continue;
                if (!top_level_in(p, de->d_name))
                        unlinkat(dfd, de->d_name, 0);
        }
        if (d)
                closedir(d);
        if (old[0] && !streq(old, ts))
                rm_at(dfd, dir, old);
        if (p->has_fs_group) {
                /* The root and the top-level links; the data directory is done. */
                struct stat st;
                if (fstat(dfd, &st) == 0 && (r = own_fd_entry(dfd, &st, p->fs_group, true)) < 0) {
                        snprintf(err, errlen, "set group %u on %s: %s", (unsigned) p->fs_group, dir,
                                 strerror(-r));
                        return r;
                }
                for (size_t i = 0; i < p->n; i++) {
                        char top[MAX_NAME_LEN + 1];
                        top_name(p->files[i].path, top);
                        fchownat(dfd, top, (uid_t) -1, p->fs_group, AT_SYMLINK_NOFOLLOW);
                }
                fchownat(dfd, DATA_LINK, (uid_t) -1, p->fs_group, AT_SYMLINK_NOFOLLOW);
        }
        return 1;
fail:
        snprintf(err, errlen, "swap %s/" DATA_LINK ": %s", dir, strerror(-r));
        rm_at(dfd, dir, ts);
        return r;
}

/* ---- payloads from the API ---- */

static json_t *volume_json(const struct pod *pod, const char *name)
{
        json_t *v;
        size_t i;
        json_array_foreach(json_object_get(json_object_get(pod->json, "spec"), "volumes"), i, v)
        {
                if (streq_ptr(json_string_value(json_object_get(v, "name")), name))
                        return v;
        }
        return NULL;
}

static mode_t mode_of(json_t *o, const char *field, mode_t dflt)
{
        json_t *m = json_object_get(o, field);
        return json_is_integer(m) ? (mode_t) (json_integer_value(m) & 07777) : dflt;
}

static int get_object(const struct vol_ctx *ctx, const struct pod *pod, bool secret, const char *name,
                      json_t **ret, char *err, size_t errlen)
{
        const char *kind = secret ? "secret" : "configmap";
        const char *src = pod_annotation(pod, "kubernetes.io/config.source");
        if (src && !streq(src, "api")) {
                snprintf(err, errlen, "static pods may not reference API objects: %s \"%s\"", kind, name);
                return -EPERM;
        }
        if (ctx->get_object)
                return ctx->get_object(ctx->get_object_userdata, secret ? "secrets" : "configmaps",
                                       pod->namespace, name, ret, err, errlen);
        if (!ctx->objects) {
                snprintf(err, errlen, "%s \"%s\": no API server is configured", kind, name);
                return -ENOENT;
        }
        return obj_cache_get(ctx->objects, secret ? "secrets" : "configmaps", pod->namespace, name,
                             ctx->timeout_ms, ret, err, errlen);
}

/* A key's bytes: ConfigMap data (text) or binaryData (base64); Secret data (base64). */
static bool object_key(json_t *obj, bool secret, const char *key, char **ret, size_t *ret_len)
{
        const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), key));
        if (v && !secret) {
                *ret = xstrdup(v);
                *ret_len = strlen(v);
                return true;
        }
        if (!v)
                v = json_string_value(
                        json_object_get(json_object_get(obj, secret ? "stringData" : "binaryData"), key));
        if (!v)
                return false;
        return base64_decode(v, ret, ret_len) >= 0;
}

/* A configMap or secret source (also a projected one) into the payload. */
static int add_object_source(const struct vol_ctx *ctx, const struct pod *pod, json_t *src, bool secret,
                             mode_t dmode, struct vol_payload *p, char *err, size_t errlen)
{
        const char *name = json_string_value(json_object_get(src, secret ? "secretName" : "name"));
        if (!name)
                name = json_string_value(json_object_get(src, "name"));
        bool optional = json_is_true(json_object_get(src, "optional"));
        json_t *obj = NULL, *items = json_object_get(src, "items"), *it;
        size_t i;
        if (!name) {
                snprintf(err, errlen, "%s volume source has no name", secret ? "secret" : "configMap");
                return -EINVAL;
        }
        int r = get_object(ctx, pod, secret, name, &obj, err, errlen);
        if (r == -ENOENT && optional)
                return 0;
        if (r < 0)
                return r;
        if (json_array_size(items) > 0) {
                json_array_foreach(items, i, it)
                {
                        const char *key = json_string_value(json_object_get(it, "key"));
                        const char *path = json_string_value(json_object_get(it, "path"));
                        _cleanup_free_ char *data = NULL;
                        size_t len;
                        if (!key || !object_key(obj, secret, key, &data, &len)) {
                                if (optional)
                                        continue;
                                snprintf(err, errlen, "%s references non-existent %s key: %s",
                                         secret ? "secret" : "configmap", secret ? "secret" : "config",
                                         key ? key : "");
                                json_decref(obj);
                                return -ENOENT;
                        }
                        vol_payload_add(p, path ? path : "", data, len, mode_of(it, "mode", dmode));
                }
        } else {
                const char *fields[] = {"data", secret ? "stringData" : "binaryData"}, *k;
                json_t *x;
                for (size_t f = 0; f < 2; f++)
                        json_object_foreach(json_object_get(obj, fields[f]), k, x)
                        {
                                _cleanup_free_ char *data = NULL;
                                size_t len;
                                if (object_key(obj, secret, k, &data, &len))
                                        vol_payload_add(p, k, data, len, dmode);
                        }
        }
        json_decref(obj);
        return 0;
}

/* A serviceAccountToken source: a token bound to the pod (TokenRequest), refreshed by the token cache. */
static int add_token_source(const struct vol_ctx *ctx, const struct pod *pod, json_t *src, mode_t dmode,
                            struct vol_payload *p, char *err, size_t errlen)
{
        const char *path = json_string_value(json_object_get(src, "path"));
        const char *aud = json_string_value(json_object_get(src, "audience"));
        json_t *exp = json_object_get(src, "expirationSeconds");
        const char *sa =
                json_string_value(json_object_get(json_object_get(pod->json, "spec"), "serviceAccountName"));
        const char *srcname = pod_annotation(pod, "kubernetes.io/config.source");
        _cleanup_free_ char *token = NULL;
        if (!path || !*path) {
                snprintf(err, errlen, "serviceAccountToken: path is required");
                return -EINVAL;
        }
        if ((srcname && !streq(srcname, "api")) || !ctx->tokens) {
                snprintf(err, errlen, "serviceAccountToken: %s",
                         ctx->tokens ? "static pods may not use service account tokens"
                                     : "no API server is configured");
                return -EPERM;
        }
        int64_t seconds = json_is_integer(exp) ? json_integer_value(exp) : 3600;
        int r = token_get(ctx->tokens, pod->namespace, sa && *sa ? sa : "default", aud, seconds, pod->name,
                          pod->uid, ctx->timeout_ms, &token, err, errlen);
        if (r < 0)
                return r;
        vol_payload_add(p, path, token, strlen(token), mode_of(src, "mode", dmode));
        return 0;
}

static int add_downward_source(const struct vol_ctx *ctx, const struct pod *pod, json_t *src, mode_t dmode,
                               struct vol_payload *p, char *err, size_t errlen)
{
        struct env_ctx ectx = {.host_ip = ctx->host_ip,
                               .node_cpu_m = ctx->node_cpu_m,
                               .node_mem = ctx->node_mem,
                               .node_ephemeral = ctx->node_ephemeral};
        json_t *it;
        size_t i;
        json_array_foreach(json_object_get(src, "items"), i, it)
        {
                const char *path = json_string_value(json_object_get(it, "path"));
                json_t *fr = json_object_get(it, "fieldRef"), *rr = json_object_get(it, "resourceFieldRef");
                _cleanup_free_ char *v = NULL;
                int r;
                if (fr)
                        r = env_field_ref(&ectx, pod,
                                          json_string_value(json_object_get(fr, "fieldPath")) ?: "", &v, err,
                                          errlen);
                else if (rr) {
                        const char *c = json_string_value(json_object_get(rr, "containerName"));
                        if (!c || !*c) {
                                snprintf(err, errlen,
                                         "downwardAPI item \"%s\": resourceFieldRef needs a "
                                         "containerName",
                                         path ? path : "");
                                return -EINVAL;
                        }
                        r = env_resource_ref(&ectx, pod, c, rr, &v, err, errlen);
                } else {
                        snprintf(err, errlen, "downwardAPI item \"%s\": no fieldRef or resourceFieldRef",
                                 path ? path : "");
                        return -EINVAL;
                }
                if (r < 0)
                        return r;
                vol_payload_add(p, path ? path : "", v, strlen(v), mode_of(it, "mode", dmode));
        }
        return 0;
}

int vol_build_payload(const struct vol_ctx *ctx, const struct pod *pod, const struct volume *v,
                      struct vol_payload *ret, char *err, size_t errlen)
{
        json_t *vj = volume_json(pod, v->name), *src = json_object_get(vj, v->kind_name);
        mode_t dmode = mode_of(src, "defaultMode", DEFAULT_MODE);
        struct vol_payload p = {0};
        int r = 0;

        switch (v->kind) {
        case VOLUME_CONFIG_MAP:
        case VOLUME_SECRET:
                r = add_object_source(ctx, pod, src, v->kind == VOLUME_SECRET, dmode, &p, err, errlen);
                break;
        case VOLUME_DOWNWARD_API:
                r = add_downward_source(ctx, pod, src, dmode, &p, err, errlen);
                break;
        case VOLUME_PROJECTED: {
                json_t *s;
                size_t i;
                json_array_foreach(json_object_get(src, "sources"), i, s)
                {
                        json_t *x;
                        if ((x = json_object_get(s, "configMap")) || (x = json_object_get(s, "secret")))
                                r = add_object_source(ctx, pod, x, json_object_get(s, "secret") != NULL,
                                                      dmode, &p, err, errlen);
                        else if ((x = json_object_get(s, "downwardAPI")))
                                r = add_downward_source(ctx, pod, x, dmode, &p, err, errlen);
                        else if ((x = json_object_get(s, "serviceAccountToken")))
                                r = add_token_source(ctx, pod, x, dmode, &p, err, errlen);
                        else {
                                snprintf(err, errlen,
                                         "projected source %zu: only configMap, secret, downwardAPI and "
                                         "serviceAccountToken are supported",
                                         i);
                                r = -EOPNOTSUPP;
                        }
                        if (r < 0)
                                break;
                }
                break;
        }
        default:
                snprintf(err, errlen, "volume \"%s\" has no payload", v->name);
                r = -EINVAL;
        }
        for (size_t i = 0; i < p.n && r >= 0; i++)
                r = vol_validate_path(p.files[i].path, err, errlen);
        if (r < 0) {
                vol_payload_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

/* ---- setting volumes up ---- */

static const char *plugin_dir(enum volume_kind k)
{
        switch (k) {
        case VOLUME_EMPTY_DIR:
                return "kubernetes.io~empty-dir";
        case VOLUME_CONFIG_MAP:
                return "kubernetes.io~configmap";
        case VOLUME_SECRET:
                return "kubernetes.io~secret";
        case VOLUME_DOWNWARD_API:
                return "kubernetes.io~downward-api";
        case VOLUME_PROJECTED:
                return "kubernetes.io~projected";
        default:
                return NULL;
        }
}

char *vol_host_path(const char *root_dir, const struct pod *pod, const struct volume *v)
{
        if (v->kind == VOLUME_HOST_PATH)
                return xstrdup(v->host_path);
        const char *plugin = plugin_dir(v->kind);
        return plugin ? strdup_printf("%s/pods/%s/volumes/%s/%s", root_dir, pod->uid, plugin, v->name)
                      : NULL;
}

bool vol_kind_read_only(enum volume_kind k)
{
        return k == VOLUME_CONFIG_MAP || k == VOLUME_SECRET || k == VOLUME_DOWNWARD_API ||
               k == VOLUME_PROJECTED;
}

/* A mount point: its device differs from its parent's. */
static bool is_mount_point(const char *path)
{
        struct stat a, b;
        _cleanup_free_ char *parent = strdup_printf("%s/..", path);
        return lstat(path, &a) == 0 && S_ISDIR(a.st_mode) && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* 1 when it mounted, 0 when a mount was there. */
static int mount_tmpfs(const char *path, const char *opts)
{
        if (is_mount_point(path))
                return 0;
        if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
                return -errno;
        return 1;
}

int vol_hugepages_mount_option(const struct pod *pod, const char *medium, char *out, size_t len, char *err,
                               size_t errlen)
{
        int64_t want = -1, found = -1;
        bool any_size = streq(medium, "HugePages");
        if (!any_size) {
                _cleanup_free_ char *res =
                        str_has_prefix(medium, "HugePages-")
                                ? strdup_printf("hugepages-%s", medium + strlen("HugePages-"))
                                : NULL;
                if (!res || (want = pod_hugepage_size(res)) < 0) {
                        snprintf(err, errlen, "medium: %s is not a valid hugepage medium", medium);
                        return -EINVAL;
                }
        }
        size_t n = pod->n_init_containers + pod->n_containers;
        for (size_t i = 0; i < n; i++) {
                const struct container *c = i < pod->n_containers
                                                    ? &pod->containers[i]
                                                    : &pod->init_containers[i - pod->n_containers];
                for (size_t j = 0; j < c->n_scalar_requests; j++) {
                        int64_t size = pod_hugepage_size(c->scalar_requests[j].name);
                        if (size < 0)
                                continue;
                        if (any_size && found >= 0 && found != size) {
                                snprintf(err, errlen,
                                         "medium: %s can't be used if container requests multiple huge page "
                                         "sizes",
                                         medium);
                                return -EINVAL;
                        }
                        if (any_size || size == want)
                                found = size;
                }
        }
        if (found < 0) {
                snprintf(err, errlen,
                         "medium %s: hugePages storage requested, but there is no resource request for huge "
                         "pages",
                         medium);
                return -EINVAL;
        }
        char size[32];
        ev_quantity_string(found, size, sizeof size); /* as upstream prints the size: "2Mi", "1Gi" */
        snprintf(out, len, "pagesize=%s", size);
        return 0;
}

/* mkdir_p, but a directory already there costs one stat (every sync comes here). 1 when it made it. */
static int ensure_dir(const char *path)
{
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                return 0;
        int r = mkdir_p(path, 0750);
        return r < 0 ? r : 1;
}

/* spec.securityContext.fsGroup and fsGroupChangePolicy. Returns 1 with *gid when set, 0 when not. */
static int pod_fs_group(const struct pod *pod, gid_t *gid, bool *on_root_mismatch, char *err, size_t errlen)
{
        json_t *psc = json_object_get(json_object_get(pod->json, "spec"), "securityContext");
        json_t *g = json_object_get(psc, "fsGroup");
        const char *policy = json_string_value(json_object_get(psc, "fsGroupChangePolicy"));
        if (!g || json_is_null(g))
                return 0;
        if (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > UINT32_MAX - 1) {
                snprintf(err, errlen, "spec.securityContext.fsGroup: Invalid value: must be a group id");
                return -EINVAL;
        }
        if (policy && !streq(policy, "Always") && !streq(policy, "OnRootMismatch")) {
                snprintf(err, errlen,
                         "spec.securityContext.fsGroupChangePolicy: Unsupported value: \"%s\": supported "
                         "values: "
                         "\"Always\", \"OnRootMismatch\"",
                         policy);
                return -EINVAL;
        }
        *gid = (gid_t) json_integer_value(g);
        *on_root_mismatch = policy && streq(policy, "OnRootMismatch");
        return 1;
}

/* emptyDir with fsGroup: walked once, when it is made (or its tmpfs mounted), as upstream's set-up under
 * either fsGroupChangePolicy; what the pod does with its files afterwards stays as it is. */
static int set_empty_dir_group(const char *path, const struct pod *pod, bool fresh, char *err, size_t errlen)
{
        gid_t gid;
        bool on_root_mismatch;
        int r = pod_fs_group(pod, &gid, &on_root_mismatch, err, errlen);
        if (r <= 0 || !fresh)
                return r < 0 ? r : 0;
        r = vol_set_ownership(path, gid, false, false, err, errlen);
        return r < 0 ? r : 0;
}

static int setup_empty_dir(const char *path, const struct pod *pod, const struct volume *v, char *err,
                           size_t errlen)
{
        int r = ensure_dir(path);
        struct stat st;
        if (r < 0) {
                snprintf(err, errlen, "mkdir %s: %s", path, strerror(-r));
                return r;
        }
        bool fresh = r > 0;
        bool huge = v->medium && str_has_prefix(v->medium, "HugePages"),
             huge_mounted = huge && is_mount_point(path);
        /* emptyDir is world-writable, as upstream; the setgid bit of an fsGroup stays. Not a hugetlbfs
         * mounted on it: upstream leaves its root as the kernel made it (0755). */
        if (!huge_mounted && stat(path, &st) == 0 && (st.st_mode & 0777) != 0777)
                chmod(path, (st.st_mode & 07000) | 0777);
        if (huge) {
                /* Upstream's setupHugepages: hugetlbfs of the pod's page size (nosuid and nodev here, as
                 * every mount cubelet makes in a pod's volumes). */
                char opts[64];
                if ((r = vol_hugepages_mount_option(pod, v->medium, opts, sizeof opts, err, errlen)) < 0)
                        return r;
                bool mounted = false;
                if (!huge_mounted) {
                        if (mount("nodev", path, "hugetlbfs", MS_NOSUID | MS_NODEV, opts) < 0) {
                                r = -errno;
                                snprintf(err, errlen, "mount hugetlbfs (%s) on %s: %s", opts, path,
                                         strerror(-r));
                                return r;
                        }
                        mounted = true;
                }
                return set_empty_dir_group(path, pod, fresh || mounted, err, errlen);
        }
        if (!streq_ptr(v->medium, "Memory"))
                return set_empty_dir_group(path, pod, fresh, err, errlen);
        char opts[64] = "mode=0777";
        const char *limit = json_string_value(
                json_object_get(json_object_get(volume_json(pod, v->name), "emptyDir"), "sizeLimit"));
        int64_t milli;
        if (limit && parse_quantity_milli(limit, &milli) >= 0 && milli > 0)
                snprintf(opts, sizeof opts, "mode=0777,size=%lld", (long long) ((milli + 999) / 1000));
        r = mount_tmpfs(path, opts);
        if (r < 0)
                snprintf(err, errlen, "mount tmpfs on %s: %s", path, strerror(-r));
        return r < 0 ? r : set_empty_dir_group(path, pod, fresh || r > 0, err, errlen);
}

/* Upstream's hostPath type checks, with its modes for what *OrCreate makes. */
static int setup_host_path(const struct volume *v, char *err, size_t errlen)
{
        const char *t = v->host_path_type ? v->host_path_type : "", *p = v->host_path;
        struct stat st;
        bool exists = stat(p, &st) == 0;
        int r;

        if (!*t)
                return 0;
        if (streq(t, "DirectoryOrCreate") && !exists) {
                /* umask is the process's: no umask(0) with other threads running; the final mode is set. */
                r = mkdir_p(p, 0755);
                if (r >= 0 && chmod(p, 0755) < 0)
                        r = -errno;
                if (r < 0)
                        snprintf(err, errlen, "hostPath: mkdir %s: %s", p, strerror(-r));
                return r;
        }
        if (streq(t, "FileOrCreate") && !exists) {
                _cleanup_free_ char *dir = xstrdup(p);
                char *slash = strrchr(dir, '/');
                if (slash && slash != dir) {
                        *slash = 0;
                        mkdir_p(dir, 0755);
                }
                _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd < 0) {
                        r = -errno;
                        snprintf(err, errlen, "hostPath: create %s: %s", p, strerror(errno));
                        return r;
                }
                fchmod(fd, 0644);
                return 0;
        }
        const char *want;
        bool ok;
        if (streq(t, "Directory") || streq(t, "DirectoryOrCreate"))
                want = "a directory", ok = exists && S_ISDIR(st.st_mode);
        else if (streq(t, "File") || streq(t, "FileOrCreate"))
                want = "a file", ok = exists && S_ISREG(st.st_mode);
        else if (streq(t, "Socket"))
                want = "a socket file", ok = exists && S_ISSOCK(st.st_mode);
        else if (streq(t, "CharDevice"))
                want = "a character device", ok = exists && S_ISCHR(st.st_mode);
        else if (streq(t, "BlockDevice"))
                want = "a block device", ok = exists && S_ISBLK(st.st_mode);
        else {
                snprintf(err, errlen, "%s is an invalid volume type", t);
                return -EINVAL;
        }
        if (!ok) {
                snprintf(err, errlen, "hostPath type check failed: %s is not %s", p, want);
                return -ENOTDIR;
        }
        return 0;
}

static int setup_data_volume(const struct vol_ctx *ctx, const struct pod *pod, const struct volume *v,
                             const char *path, char *err, size_t errlen)
{
        struct vol_payload p = {0};
        bool on_root_mismatch;
        gid_t gid = 0;
        int fsg = pod_fs_group(pod, &gid, &on_root_mismatch, err, errlen);
        if (fsg < 0)
                return fsg;
        int r = vol_build_payload(ctx, pod, v, &p, err, errlen);
        if (r < 0)
                return r;
        p.has_fs_group = fsg > 0;
        p.fs_group = gid;
        r = ensure_dir(path);
        if (r < 0)
                snprintf(err, errlen, "mkdir %s: %s", path, strerror(-r));
        /* Secrets (and what may hold them) never touch the disk. */
        if (r >= 0 && v->kind != VOLUME_CONFIG_MAP) {
                r = mount_tmpfs(path, "mode=0755");
                if (r < 0)
                        snprintf(err, errlen, "mount tmpfs on %s: %s", path, strerror(-r));
        }
        if (r >= 0) {
                chmod(path, p.has_fs_group ? 02755 : 0755);
                r = vol_atomic_write(path, &p, err, errlen);
        }
        vol_payload_done(&p);
        return r;
}

int vol_setup_pod(const struct vol_ctx *ctx, const struct pod *pod, char *err, size_t errlen)
{
        char why[768];
        for (size_t i = 0; i < pod->n_volumes; i++) {
                const struct volume *v = &pod->volumes[i];
                _cleanup_free_ char *path = vol_host_path(ctx->root_dir, pod, v);
                int r;
                why[0] = 0;
                switch (v->kind) {
                case VOLUME_EMPTY_DIR:
                        r = setup_empty_dir(path, pod, v, why, sizeof why);
                        break;
                case VOLUME_HOST_PATH:
                        r = setup_host_path(v, why, sizeof why);
                        break;
                case VOLUME_CONFIG_MAP:
                case VOLUME_SECRET:
                case VOLUME_DOWNWARD_API:
                case VOLUME_PROJECTED:
                        r = setup_data_volume(ctx, pod, v, path, why, sizeof why);
                        break;
                default:
                        snprintf(why, sizeof why, "%s volumes are not supported yet",
                                 v->kind_name ? v->kind_name : "these");
                        r = -EOPNOTSUPP;
                }
                if (r < 0) {
                        snprintf(err, errlen, "MountVolume.SetUp failed for volume \"%s\" : %s", v->name,
                                 why[0] ? why : strerror(-r));
                        return r;
                }
        }
        return 0;
}

/* Unmounts every bind below dir (volume-subpaths/<volume>/<container>/<index>). */
static void unmount_below(const char *dir, int depth)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, de->d_name);
                if (depth > 1)
                        unmount_below(p, depth - 1);
                else
                        while (umount2(p, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
                                ;
        }
        if (d)
                closedir(d);
}

void vol_teardown_pod(const char *root_dir, const char *uid)
{
        _cleanup_free_ char *subpaths = strdup_printf("%s/pods/%s/volume-subpaths", root_dir, uid);
        unmount_below(subpaths, 3);

        _cleanup_free_ char *vdir = strdup_printf("%s/pods/%s/volumes", root_dir, uid);
        DIR *d = opendir(vdir);
        struct dirent *de;
        if (!d)
                return;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *pdir = strdup_printf("%s/%s", vdir, de->d_name);
                DIR *pd = opendir(pdir);
                struct dirent *ve;
                while (pd && (ve = readdir(pd))) {
                        if (ve->d_name[0] == '.')
                                continue;
                        _cleanup_free_ char *p = strdup_printf("%s/%s", pdir, ve->d_name);
                        if (is_mount_point(p) && umount2(p, MNT_DETACH) < 0)
                                log_warn("Unmounting a volume failed, ignoring", "path=\"%s\" err=\"%m\"",
                                         p);
                }
                if (pd)
                        closedir(pd);
        }
        closedir(d);
}

/* Whether anything is mounted at or below one of dirs (the mount table's mount points, as written there:
 * octal escapes for space, tab, newline and backslash, which a pod directory's path never has). */
static bool mounted_below(char *const *dirs, size_t n)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return true; /* cannot tell: keep the volumes */
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        bool found = false;
        while (!found && getline(&line, &cap, f) > 0) {
                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
                char *mp = line;
                for (int i = 0; i < 4 && mp; i++)
                        mp = strchr(mp, ' ') ? strchr(mp, ' ') + 1 : NULL;
                if (!mp)
                        continue;
                size_t ml = strcspn(mp, " ");
                for (size_t i = 0; i < n && !found; i++) {
                        size_t dl = strlen(dirs[i]);
                        found = ml >= dl && strncmp(mp, dirs[i], dl) == 0 && (ml == dl || mp[dl] == '/');
                }
        }
        fclose(f);
        return found;
}

int vol_remove_pod_volumes(const char *root_dir, const char *uid)
{
        if (!vol_pod_volumes_exist(root_dir, uid))
                return 0;
        vol_teardown_pod(root_dir, uid);
        _cleanup_free_ char *subpaths = strdup_printf("%s/pods/%s/volume-subpaths", root_dir, uid),
                            *vdir = strdup_printf("%s/pods/%s/volumes", root_dir, uid);
        /* Anything still mounted below (a bind from the same filesystem, which rm_rf cannot tell from a
         * directory; a mount a privileged container propagated into its emptyDir): nothing is removed, as
         * deleting through it would reach what it shows. The pod's removal tries again. */
        char *const dirs[] = {vdir, subpaths};
        if (mounted_below(dirs, ELEMENTSOF(dirs)))
                return -EBUSY;
        /* rm_rf stays on the pod directory's filesystem: a volume still mounted makes it fail, not descend */
        int r = rm_rf(subpaths);
        int r2 = rm_rf(vdir);
        return r < 0 ? r : r2;
}

bool vol_pod_volumes_exist(const char *root_dir, const char *uid)
{
        static const char *const dirs[] = {"volumes", "volume-subpaths"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *p = strdup_printf("%s/pods/%s/%s", root_dir, uid, dirs[i]);
                if (access(p, F_OK) == 0 || errno != ENOENT)
                        return true;
        }
        return false;
}

int vol_pod_dir_uids(const char *root_dir, char ***ret)
{
        _cleanup_free_ char *dir = strdup_printf("%s/pods", root_dir);
        DIR *d = opendir(dir);
        char **uids = NULL;
        struct dirent *de;
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && de->d_type == DT_DIR)
                        strv_push(&uids, xstrdup(de->d_name));
        closedir(d);
        *ret = uids;
        return 0;
}

/* ---- subPath ---- */

/* The subPath opened O_PATH beneath base (symlinks resolved inside it), after checking where it landed. */
static int subpath_fd(const char *base, const char *sub_path, bool create, char **ret_path, char *err,
                      size_t errlen)
{
        _cleanup_free_ char *real_base = realpath(base, NULL);
        int r;

        if (sub_path[0] == '/' || vol_validate_path(sub_path, err, errlen) < 0) {
                snprintf(err, errlen, "subPath \"%s\" must be a relative path without '..'", sub_path);
                return -EINVAL;
        }
        if (!real_base) {
                r = -errno;
                snprintf(err, errlen, "volume path %s: %s", base, strerror(errno));
                return r;
        }
        _cleanup_close_ int bfd = open(real_base, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (bfd < 0) {
                r = -errno;
                snprintf(err, errlen, "open %s: %s", real_base, strerror(errno));
                return r;
        }
        int fd = open_beneath(bfd, sub_path, O_PATH, true);
        if (fd == -ENOENT && create) {
                /* Each missing directory is made inside the last component resolved beneath base. */
                _cleanup_free_ char *prefix = xstrdup(sub_path);
                for (char *s = prefix;; s++) {
                        char saved = *s;
                        if (saved != '/' && saved != 0)
                                continue;
                        *s = 0;
                        int pfd = open_beneath(bfd, prefix, O_PATH | O_DIRECTORY, true);
                        if (pfd == -ENOENT) {
                                char *slash = strrchr(prefix, '/');
                                _cleanup_close_ int parent =
                                        slash ? (*slash = 0,
                                                 open_beneath(bfd, prefix, O_PATH | O_DIRECTORY, true))
                                              : fcntl(bfd, F_DUPFD_CLOEXEC, 3);
                                if (slash)
                                        *slash = '/';
                                const char *leaf = slash ? slash + 1 : prefix;
                                if (parent >= 0 && mkdirat(parent, leaf, 0755) < 0 && errno != EEXIST)
                                        parent = -errno;
                                pfd = parent >= 0 ? open_beneath(bfd, prefix, O_PATH | O_DIRECTORY, true)
                                                  : parent;
                        }
                        *s = saved;
                        if (pfd < 0) {
                                fd = pfd;
                                break;
                        }
                        close(pfd);
                        if (!saved) {
                                fd = open_beneath(bfd, sub_path, O_PATH, true);
                                break;
                        }
                }
        }
        if (fd == -EXDEV || fd == -ELOOP) {
                snprintf(err, errlen, "subpath \"%s\" not within volume path \"%s\"", sub_path, real_base);
                return -EXDEV;
        }
        if (fd < 0) {
                snprintf(err, errlen, "subPath \"%s\" of %s: %s", sub_path, real_base, strerror(-fd));
                return fd;
        }
        char proc[64], buf[4096];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(proc, buf, sizeof buf - 1);
        if (n <= 0) {
                close(fd);
                snprintf(err, errlen, "subPath \"%s\": cannot read its resolved path", sub_path);
                return -EIO;
        }
        buf[n] = 0;
        size_t bl = strlen(real_base);
        if (strncmp(buf, real_base, bl) != 0 || (buf[bl] != '/' && buf[bl] != 0)) {
                close(fd);
                snprintf(err, errlen, "subpath \"%s\" not within volume path \"%s\"", sub_path, real_base);
                return -EXDEV;
        }
        *ret_path = xstrdup(buf);
        return fd;
}

int vol_resolve_subpath(const char *base, const char *sub_path, bool create, char **ret, char *err,
                        size_t errlen)
{
        int fd = subpath_fd(base, sub_path, create, ret, err, errlen);
        if (fd < 0)
                return fd;
        close(fd);
        return 0;
}

int vol_bind_subpath(const char *root_dir, const char *uid, const char *volume, const char *container,
                     size_t index, const char *base, const char *sub_path, bool create, char **ret,
                     char *err, size_t errlen)
{
        _cleanup_free_ char *resolved = NULL;
        _cleanup_close_ int fd = subpath_fd(base, sub_path, create, &resolved, err, errlen);
        struct stat st;
        int r;
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                snprintf(err, errlen, "subPath \"%s\": %s", sub_path, strerror(errno));
                return r;
        }
        _cleanup_free_ char *dir =
                strdup_printf("%s/pods/%s/volume-subpaths/%s/%s", root_dir, uid, volume, container);
        _cleanup_free_ char *target = strdup_printf("%s/%zu", dir, index);
        /* A bind from an earlier start goes: the subPath is resolved afresh for each container start. */
        while (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
                ;
        r = mkdir_p(dir, 0750);
        if (r >= 0) {
                struct stat tst;
                bool have = lstat(target, &tst) == 0;
                if (have && (S_ISDIR(tst.st_mode) != S_ISDIR(st.st_mode) || S_ISLNK(tst.st_mode))) {
                        rm_rf(target);
                        have = false;
                }
                if (!have && S_ISDIR(st.st_mode) && mkdir(target, 0750) < 0)
                        r = -errno;
                else if (!have && !S_ISDIR(st.st_mode)) {
                        int tfd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
                        if (tfd < 0)
                                r = -errno;
                        else
                                close(tfd);
                }
        }
        if (r < 0) {
                snprintf(err, errlen, "subPath \"%s\": prepare %s: %s", sub_path, target, strerror(-r));
                return r;
        }
        /* Bind the opened inode itself: nothing in the volume can swap a path component in between. */
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        if (mount(proc, target, NULL, MS_BIND, NULL) < 0) {
                r = -errno;
                snprintf(err, errlen, "subPath \"%s\": bind %s: %s", sub_path, resolved, strerror(errno));
                return r;
        }
        *ret = TAKE_PTR(target);
        return 0;
}
