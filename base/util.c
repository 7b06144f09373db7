/* Small libc-only helpers: files, directories, time, strings, hashing. */
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

int64_t now_mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_mono_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t now_real_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int read_file_limit(const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0, cap;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((size_t) st.st_size > max)
                return -EFBIG;
        /* Pseudo files say size 0, and /proc/sys ones answer only a read at offset 0: read a page at once. */
        cap = MAX((size_t) st.st_size + 1, (size_t) 4096);
        buf = OOM_CHECK(malloc(cap + 1));
        for (;;) {
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max)
                        return -EFBIG;
                if (len == cap) { /* the file grew while we read it */
                        cap *= 2;
                        buf = OOM_CHECK(realloc(buf, cap + 1));
                }
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        /* The thread's id, not the process's: two threads writing one file never share a temporary. */
        _cleanup_free_ char *tmp = strdup_printf("%s.tmp.%d", path, (int) gettid());
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        const char *p = data;

        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        unlink(tmp);
                        return r;
                }
                p += n;
                len -= (size_t) n;
        }
        if (fchmod(fd, mode) < 0 || rename(tmp, path) < 0) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = xstrdup(path);
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int rm_rf_at(int parent, const char *name, dev_t dev)
{
        struct stat st;
        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        if (st.st_dev != dev)
                return -EXDEV; /* a mount point: never delete into it */

        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        int ret = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                int r = rm_rf_at(dirfd(d), de->d_name, dev);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        closedir(d);
        if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && ret == 0)
                ret = -errno;
        return ret;
}

int rm_rf(const char *path)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        return rm_rf_at(AT_FDCWD, path, st.st_dev);
}

char *strdup_printf(const char *fmt, ...)
{
        va_list ap;
        char *s;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                xmalloc_oom();
        return s;
}

char *xstrdup(const char *s)
{
        return s ? OOM_CHECK(strdup(s)) : NULL;
}

bool str_has_suffix(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool str_has_prefix(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

char **strv_free(char **v)
{
        if (!v)
                return NULL;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
        return NULL;
}

size_t strv_length(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

char *url_redacted(const char *url)
{
        const char *scheme = strstr(url, "://");
        if (!scheme)
                return xstrdup(url);
        const char *auth = scheme + 3, *end = auth + strcspn(auth, "/?#");
        const char *at = memrchr(auth, '@', (size_t) (end - auth));
        const char *colon = at ? memchr(auth, ':', (size_t) (at - auth)) : NULL;
        if (!colon)
                return xstrdup(url);
        return strdup_printf("%.*sxxxxx%s", (int) (colon + 1 - url), url, at);
}

char *strv_join(char *const *v, const char *sep)
{
        size_t len = 1;
        for (char *const *p = v; p && *p; p++)
                len += strlen(*p) + strlen(sep);
        char *out = OOM_CHECK(malloc(len)), *o = out;
        *o = 0;
        for (char *const *p = v; p && *p; p++)
                o += sprintf(o, "%s%s", p == v ? "" : sep, *p);
        return out;
}

int strv_push(char ***v, char *s)
{
        size_t n = strv_length(*v);
        char **nv = OOM_CHECK(realloc(*v, (n + 2) * sizeof(char *)));
        nv[n] = s;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

uint64_t hash_fnv1a64(const void *data, size_t len, uint64_t seed)
{
        const unsigned char *p = data;
        uint64_t h = seed;
        for (size_t i = 0; i < len; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

void cond_init_monotonic(pthread_cond_t *c)
{
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(c, &ca);
        pthread_condattr_destroy(&ca);
}

struct timespec mono_ts_in_ms(int64_t ms)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + MAX(ms, (int64_t) 0) % 1000 * 1000000LL;
        ts.tv_sec += MAX(ms, (int64_t) 0) / 1000 + ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        return ts;
}

int cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, int64_t ms)
{
        struct timespec ts = mono_ts_in_ms(ms);
        return pthread_cond_timedwait(c, m, &ts);
}

static int b64_value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+' || c == '-')
                return 62;
        if (c == '/' || c == '_')
                return 63;
        return -1;
}

/* Standard base64 (whitespace ignored, padding optional). */
int base64_decode(const char *s, char **ret, size_t *ret_len)
{
        size_t n = strlen(s), len = 0;
        _cleanup_free_ char *out = OOM_CHECK(malloc(n / 4 * 3 + 4));
        unsigned acc = 0;
        int bits = 0;
        bool pad = false;

        for (const char *p = s; *p; p++) {
                if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
                        continue;
                if (*p == '=') {
                        pad = true;
                        continue;
                }
                int v = b64_value((unsigned char) *p);
                if (v < 0 || pad)
                        return -EINVAL;
                acc = (acc << 6) | (unsigned) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[len++] = (char) ((acc >> bits) & 0xff);
                }
        }
        if (bits >= 6)
                return -EINVAL; /* a lone sextet cannot end a valid encoding */
        out[len] = 0;
        *ret_len = len;
        *ret = TAKE_PTR(out);
        return 0;
}

bool http_header_name_valid(const char *s)
{
        if (!s || !*s)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("!#$%&'*+-.^_`|~", *s))
                        return false;
        return true;
}

bool http_header_value_valid(const char *s)
{
        for (; s && *s; s++)
                if (((unsigned char) *s < ' ' && *s != '\t') || *s == 0x7f)
                        return false;
        return true;
}

void http_header_name_canonical(const char *s, char *buf, size_t len)
{
        bool upper = true;
        size_t i;

        for (i = 0; s[i] && i + 1 < len; i++) {
                buf[i] = upper ? (char) toupper((unsigned char) s[i]) : (char) tolower((unsigned char) s[i]);
                upper = s[i] == '-';
        }
        buf[i] = '\0';
}

int open_nofollow_below(const char *root, const char *path, int flags)
{
        size_t n = root ? strlen(root) : 0;
        while (n > 1 && root[n - 1] == '/') /* "/var/log/pods/" is "/var/log/pods" */
                n--;
        flags |= O_NOFOLLOW | O_CLOEXEC;
        if (!root || strncmp(path, root, n) != 0 || path[n] != '/') {
                int fd = open(path, flags);
                return fd < 0 ? -errno : fd;
        }
        _cleanup_free_ char *top = OOM_CHECK(strndup(root, n)), *rest = xstrdup(path + n + 1);
        _cleanup_close_ int cur = open(top, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cur < 0)
                return -errno;
        char *save = NULL, *c = strtok_r(rest, "/", &save);
        if (!c)
                return -EINVAL;
        for (;;) {
                char *next = strtok_r(NULL, "/", &save);
                struct stat st;
                if (streq(c, ".") || streq(c, ".."))
                        return -EINVAL;
                if (!next) {
                        int fd = openat(cur, c, flags);
                        if (fd < 0 && errno == ENOTDIR && (flags & O_DIRECTORY) &&
                            fstatat(cur, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                                return -ELOOP; /* O_DIRECTORY|O_NOFOLLOW on a link says ENOTDIR */
                        return fd < 0 ? -errno : fd;
                }
                int fd = openat(cur, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                close(cur);
                cur = fd;
                if (fstat(cur, &st) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        return S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR;
                c = next;
        }
}

void format_duration_ms(int64_t ms, char *buf, size_t len)
{
        if (ms == 0) {
                snprintf(buf, len, "0s");
                return;
        }
        if (ms < 1000) {
                snprintf(buf, len, "%lldms", (long long) ms);
                return;
        }
        int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
        char sec[32];
        if (frac) {
                snprintf(sec, sizeof sec, "%lld.%03lld", (long long) s, (long long) frac);
                for (size_t n = strlen(sec); sec[n - 1] == '0'; n--)
                        sec[n - 1] = 0;
        } else
                snprintf(sec, sizeof sec, "%lld", (long long) s);
        if (h)
                snprintf(buf, len, "%lldh%lldm%ss", (long long) h, (long long) m, sec);
        else if (m)
                snprintf(buf, len, "%lldm%ss", (long long) m, sec);
        else
                snprintf(buf, len, "%ss", sec);
}
