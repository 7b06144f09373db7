/* Reading CRI log files for /containerLogs. */
#include "logs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"

#define READ_CHUNK (64 * 1024)
#define MAX_LINE   (1024 * 1024) /* containerd splits lines at 16 KiB; anything longer is not ours */

static int digits(const char *s, size_t n, int *ret)
{
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return 0;
}

int rfc3339_parse_ns(const char *s, size_t len, int64_t *ret)
{
        int Y, M, D, h, m, sec, oh = 0, om = 0;
        int64_t frac = 0;
        size_t i = 19;

        if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
            s[16] != ':')
                return -EINVAL;
        if (digits(s, 4, &Y) < 0 || digits(s + 5, 2, &M) < 0 || digits(s + 8, 2, &D) < 0 ||
            digits(s + 11, 2, &h) < 0 || digits(s + 14, 2, &m) < 0 || digits(s + 17, 2, &sec) < 0)
                return -EINVAL;
        /* Nanoseconds since the epoch in an int64 reach from 1970 (logs are not older) to 2262. */
        if (Y < 1970 || Y > 2261 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
                return -EINVAL;
        if (s[i] == '.') {
                int64_t scale = 100000000;
                size_t n = 0;
                for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
                        frac += (s[i] - '0') * scale;
                        scale /= 10;
                }
                if (n == 0)
                        return -EINVAL;
        }
        if (i == len - 1 && (s[i] == 'Z' || s[i] == 'z'))
                ;
        else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
                 digits(s + i + 1, 2, &oh) >= 0 && digits(s + i + 4, 2, &om) >= 0) {
                if (s[i] == '-')
                        oh = -oh, om = -om;
        } else
                return -EINVAL;
        struct tm tm = {.tm_year = Y - 1900,
                        .tm_mon = M - 1,
                        .tm_mday = D,
                        .tm_hour = h,
                        .tm_min = m,
                        .tm_sec = sec};
        int64_t t = (int64_t) timegm(&tm) - (int64_t) oh * 3600 - (int64_t) om * 60;
        *ret = t * 1000000000LL + frac;
        return 0;
}

void rfc3339_format_ns(int64_t ns, char *buf, size_t len)
{
        time_t t = (time_t) (ns / 1000000000LL);
        long frac = (long) (ns % 1000000000LL);
        struct tm tm;
        if (frac < 0)
                frac += 1000000000L, t--;
        gmtime_r(&t, &tm);
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

int cri_log_parse(const char *line, size_t len, struct cri_log_entry *ret)
{
        const char *end = line + len, *sp1, *sp2;
        struct cri_log_entry e = {0};

        sp1 = memchr(line, ' ', len);
        if (!sp1 || rfc3339_parse_ns(line, (size_t) (sp1 - line), &e.ts_ns) < 0)
                return -EINVAL;
        e.stream = sp1 + 1;
        sp2 = memchr(e.stream, ' ', (size_t) (end - e.stream));
        if (!sp2)
                return -EINVAL;
        e.stream_len = (size_t) (sp2 - e.stream);
        if (!(e.stream_len == 6 &&
              (memcmp(e.stream, "stdout", 6) == 0 || memcmp(e.stream, "stderr", 6) == 0)))
                return -EINVAL;
        /* The tag, as upstream's parseCRILog: required, ':'-separated, "P" first for a partial line. A tag
         * that ends the line (an empty message) is taken too. */
        const char *tag = sp2 + 1, *sp3 = memchr(tag, ' ', (size_t) (end - tag));
        const char *tag_end = sp3 ? sp3 : end, *colon = memchr(tag, ':', (size_t) (tag_end - tag));
        if (tag == end)
                return -EINVAL;
        size_t first = (size_t) ((colon ? colon : tag_end) - tag);
        e.partial = first == 1 && tag[0] == 'P';
        e.msg = sp3 ? sp3 + 1 : end;
        e.msg_len = (size_t) (end - e.msg);
        *ret = e;
        return 0;
}

/* The pod logs directory (--pod-logs-dir); NULL: not set (only the last component is guarded). */
static char *pods_dir;

void log_set_pods_dir(const char *dir)
{
        free(pods_dir);
        pods_dir = dir ? xstrdup(dir) : NULL;
}

/* An O_PATH fd for path, no symlink followed below the pod logs directory (open_nofollow_below): a pod with a
 * hostPath on its own log directory cannot swap a directory for a link to another pod's logs or anywhere
 * else. The last component may be a link (the caller sees S_ISLNK). */
static int open_path_nofollow(const char *path, bool want_dir)
{
        return open_nofollow_below(pods_dir, path, O_PATH | (want_dir ? O_DIRECTORY : 0));
}

/* A directory stream on path, opened as open_path_nofollow does. */
static DIR *opendir_nofollow(const char *path)
{
        _cleanup_close_ int pfd = open_path_nofollow(path, true);
        if (pfd < 0)
                return errno = -pfd, NULL;
        int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        DIR *d = fdopendir(fd);
        if (!d)
                close(fd);
        return d;
}

int log_find_file(const char *dir, int at_most, char **ret_path, int *ret_restart)
{
        DIR *d = opendir_nofollow(dir);
        int best = -1;
        struct dirent *de;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char *end;
                if (!str_has_suffix(de->d_name, ".log") || de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                long n = strtol(de->d_name, &end, 10);
                if (!streq(end, ".log") || n < 0 || n > 1000000000 || n > at_most)
                        continue;
                best = MAX(best, (int) n);
        }
        closedir(d);
        if (best < 0)
                return -ENOENT;
        *ret_path = strdup_printf("%s/%d.log", dir, best);
        if (ret_restart)
                *ret_restart = best;
        return 0;
}

int log_previous_instance(const char *container_id, const char *last_id, int64_t restart_count)
{
        if (!last_id || !last_id[0] || restart_count < 0 || restart_count > INT_MAX)
                return -1;
        bool newest = container_id && streq(container_id, last_id);
        return (int) restart_count - (newest ? 0 : 1);
}

/* "<base>.YYYYMMDD-HHMMSS": a rotated log as the log manager names it (agent/logs/logrotate.c), not its
 * .gz or .tmp. */
static bool is_rotated_name(const char *name, const char *base)
{
        size_t n = strlen(base);
        if (strncmp(name, base, n) != 0 || name[n] != '.' || strlen(name + n + 1) != 15)
                return false;
        for (size_t i = 0; i < 15; i++) {
                char c = name[n + 1 + i];
                if (i == 8 ? c != '-' : (c < '0' || c > '9'))
                        return false;
        }
        return true;
}

int log_file_or_rotated(const char *path, char **ret_path)
{
        struct stat st;
        _cleanup_close_ int pfd = open_path_nofollow(path, false);
        if (pfd < 0)
                return pfd;
        if (fstat(pfd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size > 0) { /* not a file: log_reader_open says why */
                *ret_path = xstrdup(path);
                return 0;
        }
        _cleanup_free_ char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (!slash)
                return -EINVAL;
        *slash = '\0';
        const char *base = slash + 1;
        _cleanup_free_ char *best = NULL;
        DIR *d = opendir_nofollow(dir);
        struct dirent *de;
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (is_rotated_name(de->d_name, base) && (!best || strcmp(de->d_name, best) > 0)) {
                        free(best);
                        best = xstrdup(de->d_name);
                }
        closedir(d);
        *ret_path = best ? strdup_printf("%s/%s", dir, best) : xstrdup(path);
        return 0;
}

struct log_reader {
        int fd;
        int inotify; /* -1 until the first wait */
        struct log_options o;
        char *in; /* bytes read from the file, not yet decoded */
        size_t in_len, in_cap;
        char *out; /* decoded output not yet handed out */
        size_t out_len, out_pos, out_cap;
        int64_t emitted;
        int64_t lines_left; /* tailLines without follow: entries still to go out (upstream's limitedNum); -1 */
        bool done;
};

/* Where the last n complete lines start: after the (n+1)-th '\n' from the end. */
static int tail_offset(int fd, int64_t n, off_t *ret)
{
        struct stat st;
        char buf[8192];
        int64_t seen = 0;
        bool last_seen = false;

        if (fstat(fd, &st) < 0)
                return -errno;
        off_t pos = st.st_size;
        while (pos > 0) {
                size_t chunk = (size_t) MIN((off_t) sizeof buf, pos);
                pos -= (off_t) chunk;
                ssize_t k = pread(fd, buf, chunk, pos);
                if (k != (ssize_t) chunk)
                        return k < 0 ? -errno : -EIO;
                for (ssize_t i = k - 1; i >= 0; i--) {
                        if (buf[i] != '\n')
                                continue;
                        /* The last '\n' ends the last complete line; an unfinished one after it is left
                         * for follow. */
                        if (!last_seen) {
                                last_seen = true;
                                if (n == 0)
                                        return *ret = pos + i + 1, 0;
                                continue;
                        }
                        if (++seen == n)
                                return *ret = pos + i + 1, 0;
                }
        }
        return *ret = 0, 0;
}

/* A pod with a hostPath on the logs directory can put anything at a log's path: a symlink to a root-owned
 * file (-ELOOP here), a FIFO that would block the reader, a device that acts when opened. So the path is
 * first opened with O_PATH and O_NOFOLLOW, which opens nothing, and only a regular file is then opened for
 * reading, through /proc/self/fd, non-blocking (-EINVAL for anything else). */
static int open_log_file(const char *path)
{
        struct stat st;
        char proc[64];
        _cleanup_close_ int pfd = open_path_nofollow(path, false);
        if (pfd < 0)
                return pfd;
        if (fstat(pfd, &st) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode)) /* O_PATH with O_NOFOLLOW opens the link itself */
                return -ELOOP;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
        int fd = open(proc, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

int log_reader_open(const char *path, const struct log_options *o, struct log_reader **ret)
{
        int fd = open_log_file(path);
        if (fd < 0)
                return fd;
        if (o->tail >= 0) {
                off_t off;
                int r = tail_offset(fd, o->tail, &off);
                if (r < 0 || lseek(fd, off, SEEK_SET) < 0) {
                        close(fd);
                        return r < 0 ? r : -errno;
                }
        }
        struct log_reader *r = OOM_CHECK(calloc(1, sizeof *r));
        r->fd = fd;
        r->inotify = -1;
        r->o = *o;
        /* Upstream's limited mode: not following, tailLines entries and no more, even when the file grows
         * meanwhile (they are the last ones when it was opened). */
        r->lines_left = o->tail >= 0 && !o->follow ? o->tail : -1;
        r->done = r->lines_left == 0;
        *ret = r;
        return 0;
}

struct log_reader *log_reader_free(struct log_reader *r)
{
        if (!r)
                return NULL;
        close(r->fd);
        if (r->inotify >= 0)
                close(r->inotify);
        free(r->in);
        free(r->out);
        free(r);
        return NULL;
}

bool log_reader_done(const struct log_reader *r)
{
        return r->done;
}

static void out_append(struct log_reader *r, const char *s, size_t n)
{
        if (r->o.limit > 0 && r->emitted + (int64_t) n >= r->o.limit) {
                n = (size_t) (r->o.limit - r->emitted);
                r->done = true;
        }
        if (n == 0) /* an empty message: nothing to copy, and out may not exist yet */
                return;
        if (r->out_len + n > r->out_cap) {
                r->out_cap = MAX(r->out_len + n, r->out_cap * 2);
                r->out = OOM_CHECK(realloc(r->out, r->out_cap));
        }
        memcpy(r->out + r->out_len, s, n);
        r->out_len += n;
        r->emitted += (int64_t) n;
}

/* One line of the file as upstream's ReadLogs writes it: the message, and the file's newline after it
 * unless the runtime tagged the line partial ("P": it goes on in the next line). A last line without a
 * newline (ended) keeps none. Each entry counts against tailLines, one older than sinceTime too. */
static void emit_line(struct log_reader *r, const char *line, size_t len, bool ended)
{
        struct cri_log_entry e;
        if (cri_log_parse(line, len, &e) < 0)
                return;
        if (e.ts_ns >= r->o.since_ns) {
                if (r->o.timestamps) {
                        char ts[40];
                        rfc3339_format_ns(e.ts_ns, ts, sizeof ts - 1);
                        size_t n = strlen(ts);
                        ts[n++] = ' ';
                        out_append(r, ts, n);
                }
                if (!r->done)
                        out_append(r, e.msg, e.msg_len);
                if (!e.partial && !ended && !r->done)
                        out_append(r, "\n", 1);
        }
        if (r->lines_left > 0 && --r->lines_left == 0)
                r->done = true;
}

/* Decodes complete lines from r->in into r->out. */
static void decode(struct log_reader *r)
{
        size_t pos = 0;
        while (pos < r->in_len && !r->done) {
                char *nl = memchr(r->in + pos, '\n', r->in_len - pos);
                if (!nl)
                        break;
                size_t len = (size_t) (nl - (r->in + pos));
                emit_line(r, r->in + pos, len, false);
                pos += len + 1;
        }
        memmove(r->in, r->in + pos, r->in_len - pos);
        r->in_len -= pos;
}

ssize_t log_reader_read(struct log_reader *r, char *buf, size_t max)
{
        while (r->out_pos == r->out_len) {
                r->out_pos = r->out_len = 0;
                if (r->done)
                        return 0;
                if (r->in_len >= MAX_LINE)
                        r->in_len = 0; /* a line too long to be a CRI log line: drop it */
                if (r->in_cap - r->in_len < READ_CHUNK) {
                        r->in_cap = r->in_len + READ_CHUNK;
                        r->in = OOM_CHECK(realloc(r->in, r->in_cap));
                }
                ssize_t k = read(r->fd, r->in + r->in_len, READ_CHUNK);
                if (k < 0)
                        return errno == EINTR ? 0 : -errno;
                if (k == 0 && r->o.follow)
                        return 0; /* an unfinished last line waits for the rest */
                if (k == 0) {
                        /* Not following: the end is the end, and an unfinished last line goes out as
                         * it is (upstream writes it too). */
                        if (r->in_len > 0)
                                emit_line(r, r->in, r->in_len, true);
                        r->in_len = 0;
                        if (r->out_len == 0)
                                return 0;
                        break;
                }
                r->in_len += (size_t) k;
                decode(r);
        }
        size_t n = MIN(max, r->out_len - r->out_pos);
        memcpy(buf, r->out + r->out_pos, n);
        r->out_pos += n;
        return (ssize_t) n;
}

int log_reader_wait(struct log_reader *r, int timeout_ms)
{
        if (r->inotify < 0) {
                char path[64];
                r->inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
                if (r->inotify < 0)
                        return -errno;
                snprintf(path, sizeof path, "/proc/self/fd/%d", r->fd);
                if (inotify_add_watch(r->inotify, path, IN_MODIFY) < 0)
                        return -errno;
                return 1; /* the file may have grown before the watch existed */
        }
        struct pollfd p = {.fd = r->inotify, .events = POLLIN};
        int n = poll(&p, 1, timeout_ms);
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        if (n == 0)
                return 0;
        char ev[4096];
        while (read(r->inotify, ev, sizeof ev) > 0)
                ;
        return 1;
}

char *log_tail_string(const char *path, int64_t lines, size_t max_bytes, int *ret_errno)
{
        struct log_options o = {.tail = lines};
        struct log_reader *r = NULL;
        _cleanup_free_ char *keep = OOM_CHECK(malloc(max_bytes + READ_CHUNK));
        size_t len = 0;
        ssize_t n;

        if (ret_errno)
                *ret_errno = 0;
        int e = log_reader_open(path, &o, &r);
        if (e < 0) {
                if (ret_errno)
                        *ret_errno = -e;
                return NULL;
        }
        while ((n = log_reader_read(r, keep + len, READ_CHUNK)) > 0) {
                len += (size_t) n;
                if (len > max_bytes) { /* a ring of the last max_bytes, as upstream's circbuf */
                        memmove(keep, keep + len - max_bytes, max_bytes);
                        len = max_bytes;
                }
        }
        log_reader_free(r);
        return len > 0 ? OOM_CHECK(strndup(keep, len)) : NULL;
}
