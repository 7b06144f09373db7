/* Running plugin binaries: lookup in the bin dirs, a clean environment, stdin/stdout/stderr, timeouts, the
 * message for a failed run, and the VERSION cache. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cni_internal.h"
#include "util.h"

#if !__GLIBC_PREREQ(2, 34)
#error "cni needs glibc >= 2.34 (posix_spawn_file_actions_addclosefrom_np)"
#endif

#define OUT_MAX         (4u << 20)  /* a result larger than this is refused */
#define ERR_KEEP        (64u << 10) /* stderr kept: the last bytes, where Go plugins put their error */
#define MSG_TAIL        1200        /* how much of stderr/stdout goes into a message */
#define VERSION_TIMEOUT 10000

/* ---- buffers ---------------------------------------------------------------------------------------------- */

struct buf {
        char *data;
        size_t len, cap, max;
        bool keep_tail; /* when full: drop the oldest half (stderr) instead of refusing more (stdout) */
        bool overflow;
};

static void buf_append(struct buf *b, const char *p, size_t n)
{
        if (b->len + n > b->max) {
                if (!b->keep_tail) {
                        b->overflow = true;
                        n = b->max - b->len;
                } else if (n >= b->max) {
                        p += n - b->max;
                        n = b->max;
                        b->len = 0;
                } else {
                        size_t drop = b->len + n - b->max;
                        memmove(b->data, b->data + drop, b->len - drop);
                        b->len -= drop;
                }
        }
        if (b->len + n + 1 > b->cap) {
                b->cap = MAX(b->cap * 2, b->len + n + 1);
                b->data = OOM_CHECK(realloc(b->data, b->cap));
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
}

/* Reads what is there now. Returns 1 at EOF, 0 when it would block, -errno. */
static int drain(int fd, struct buf *b)
{
        char chunk[16384];
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                if (n == 0)
                        return 1;
                buf_append(b, chunk, (size_t) n);
        }
}

void cni__proc_clear(struct cni__proc *p)
{
        free(p->out);
        free(p->err);
        *p = (struct cni__proc){0};
}

/* ---- spawning ---------------------------------------------------------------------------------------------- */

/* posix_spawn's dup2 to the same number would keep O_CLOEXEC: make sure the child ends are above 2. */
static int fd_above_stdio(int *fd)
{
        if (*fd > 2)
                return 0;
        int n = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
        if (n < 0)
                return -errno;
        close(*fd);
        *fd = n;
        return 0;
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static void kill_and_reap(pid_t pid, int *status)
{
        kill(-pid, SIGKILL); /* the plugin and whatever it started (the IPAM plugin) */
        kill(pid, SIGKILL);
        while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
}

/* Starts path with stdin/stdout/stderr on the given fds, nothing else open, default signal dispositions, an
 * empty signal mask, its own process group and "/" as working directory. Returns a positive errno. */
static int spawn_child(const char *path, char *const *env, int in_r, int out_w, int err_w, pid_t *ret_pid)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t mask, dfl;
        char *argv[] = {(char *) path, NULL};
        int r;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in_r, 0);
        posix_spawn_file_actions_adddup2(&fa, out_w, 1);
        posix_spawn_file_actions_adddup2(&fa, err_w, 2);
        /* Everything else goes, O_CLOEXEC or not (libcurl's sockets are not). */
        posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        posix_spawn_file_actions_addchdir_np(&fa, "/");

        posix_spawnattr_init(&attr);
        sigemptyset(&mask);
        sigemptyset(&dfl);
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        sigaddset(&dfl, s); /* an ignored SIGPIPE would survive exec */
        posix_spawnattr_setsigmask(&attr, &mask);
        posix_spawnattr_setsigdefault(&attr, &dfl);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr,
                                 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

        r = posix_spawn(ret_pid, path, &fa, &attr, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        return r;
}

/* The parent's side of a running plugin. */
struct child_io {
        pid_t pid;
        int in_w, out_r, err_r, pidfd;
        const char *in;
        size_t in_len, in_off;
        struct buf out, err;
};

static void child_io_close(struct child_io *io)
{
        close_fd(&io->in_w);
        close_fd(&io->out_r);
        close_fd(&io->err_r);
        close_fd(&io->pidfd);
        free(io->out.data);
        free(io->err.data);
        io->out.data = io->err.data = NULL;
}

static void feed_stdin(struct child_io *io)
{
        ssize_t w =
                send(io->in_w, io->in + io->in_off, io->in_len - io->in_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
                io->in_off += (size_t) w;
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || io->in_off == io->in_len)
                close_fd(&io->in_w); /* done, or the plugin stopped reading: EOF either way */
}

/* Feeds stdin and collects stdout/stderr until the plugin exits (or, without a pidfd, closes both). Returns
 * -ETIMEDOUT at the deadline. */
static int pump(struct child_io *io, int64_t deadline)
{
        bool exited = false;

        while (!exited && (io->out_r >= 0 || io->err_r >= 0 || io->pidfd >= 0)) {
                struct pollfd fds[4];
                int nfds = 0, i_in = -1, i_out = -1, i_err = -1, i_pid = -1;
                int64_t left = deadline - now_mono_ms();

                if (left <= 0)
                        return -ETIMEDOUT;
                if (io->in_w >= 0)
                        i_in = nfds, fds[nfds++] = (struct pollfd){.fd = io->in_w, .events = POLLOUT};
                if (io->out_r >= 0)
                        i_out = nfds, fds[nfds++] = (struct pollfd){.fd = io->out_r, .events = POLLIN};
                if (io->err_r >= 0)
                        i_err = nfds, fds[nfds++] = (struct pollfd){.fd = io->err_r, .events = POLLIN};
                if (io->pidfd >= 0)
                        i_pid = nfds, fds[nfds++] = (struct pollfd){.fd = io->pidfd, .events = POLLIN};
                int n = poll(fds, (nfds_t) nfds, (int) MIN(left, (int64_t) 60000));
                if (n < 0 && errno != EINTR)
                        return -errno;
                if (n <= 0)
                        continue;
                if (i_in >= 0 && fds[i_in].revents)
                        feed_stdin(io);
                if (i_out >= 0 && fds[i_out].revents && drain(io->out_r, &io->out) != 0)
                        close_fd(&io->out_r);
                if (i_err >= 0 && fds[i_err].revents && drain(io->err_r, &io->err) != 0)
                        close_fd(&io->err_r);
                if (i_pid >= 0 && fds[i_pid].revents)
                        exited = true;
        }
        /* What it wrote is in the pipes now; a grandchild still holding them open is not waited for. */
        if (io->out_r >= 0)
                drain(io->out_r, &io->out);
        if (io->err_r >= 0)
                drain(io->err_r, &io->err);
        return 0;
}

int cni__spawn(const char *path, char *const *env, const char *in, size_t in_len, int64_t timeout_ms,
               struct cni__proc *ret)
{
        _cleanup_close_ int in_r = -1, out_w = -1, err_w = -1;
        struct child_io io = {.in_w = -1, .out_r = -1, .err_r = -1, .pidfd = -1, .in = in, .in_len = in_len};
        int sv[2], p[2], q[2], r, status = 0;

        io.out.max = OUT_MAX;
        io.err.max = ERR_KEEP;
        io.err.keep_tail = true;
        /* stdin is a socket so that writing to a plugin that exited early is EPIPE, not SIGPIPE. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        io.in_w = sv[0];
        in_r = sv[1];
        if (pipe2(p, O_CLOEXEC) < 0) {
                r = -errno;
                child_io_close(&io);
                return r;
        }
        io.out_r = p[0];
        out_w = p[1];
        if (pipe2(q, O_CLOEXEC) < 0) {
                r = -errno;
                child_io_close(&io);
                return r;
        }
        io.err_r = q[0];
        err_w = q[1];
        if ((r = fd_above_stdio(&in_r)) < 0 || (r = fd_above_stdio(&out_w)) < 0 ||
            (r = fd_above_stdio(&err_w)) < 0 ||
            (r = -spawn_child(path, env, in_r, out_w, err_w, &io.pid)) < 0) {
                child_io_close(&io);
                return r;
        }
        close_fd(&in_r);
        close_fd(&out_w);
        close_fd(&err_w);

        /* To notice the exit even while a grandchild holds stdout open. */
        io.pidfd = (int) syscall(SYS_pidfd_open, io.pid, 0);
        fcntl(io.in_w, F_SETFL, O_NONBLOCK);
        fcntl(io.out_r, F_SETFL, O_NONBLOCK);
        fcntl(io.err_r, F_SETFL, O_NONBLOCK);
        if (in_len == 0)
                close_fd(&io.in_w);

        r = pump(&io, now_mono_ms() + timeout_ms);
        if (r < 0) {
                kill_and_reap(io.pid, &status);
                child_io_close(&io);
                return r;
        }
        while (waitpid(io.pid, &status, 0) < 0) {
                if (errno == EINTR)
                        continue;
                r = -errno; /* ECHILD: SIGCHLD is ignored, the status is gone */
                child_io_close(&io);
                return r;
        }
        if (io.out.overflow) {
                child_io_close(&io);
                return -EFBIG;
        }
        ret->status = status;
        ret->out = io.out.data ? TAKE_PTR(io.out.data) : xstrdup("");
        ret->out_len = io.out.len;
        ret->err = io.err.data ? TAKE_PTR(io.err.data) : xstrdup("");
        ret->err_len = io.err.len;
        child_io_close(&io);
        return 0;
}

/* ---- messages ---------------------------------------------------------------------------------------------- */

/* The last MSG_TAIL bytes of s, whitespace trimmed, newlines as "; " (one log line). */
static char *tail_text(const char *s, size_t len)
{
        while (len > 0 &&
               (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
                len--;
        size_t start = len > MSG_TAIL ? len - MSG_TAIL : 0;
        while (start < len && (s[start] == '\n' || s[start] == ' ' || s[start] == '\t'))
                start++;
        char *out = OOM_CHECK(malloc((len - start) * 2 + 4)), *o = out;
        if (start > 0)
                o = stpcpy(o, "...");
        for (size_t i = start; i < len; i++) {
                if (s[i] == '\n') {
                        *o++ = ';';
                        *o++ = ' ';
                } else if (s[i] == '\r' || s[i] == 0)
                        continue;
                else
                        *o++ = s[i];
        }
        *o = 0;
        return out;
}

static bool parse_error_object(const char *out, size_t len, json_int_t *ret_code, const char **ret_msg,
                               const char **ret_details, json_t **ret_root)
{
        json_t *root = json_loadb(out, len, 0, NULL);
        json_t *code = root ? json_object_get(root, "code") : NULL;
        if (!json_is_integer(code)) {
                json_decref(root);
                return false;
        }
        *ret_code = json_integer_value(code);
        *ret_msg = json_string_value(json_object_get(root, "msg"));
        *ret_details = json_string_value(json_object_get(root, "details"));
        *ret_root = root;
        return true;
}

int cni__plugin_failure(const char *type, const struct cni__proc *p, struct cni_error *err)
{
        _cleanup_free_ char *text = NULL;
        const char *msg = NULL, *details = NULL;
        json_int_t code = 0;
        json_t *root = NULL;

        if (parse_error_object(p->out, p->out_len, &code, &msg, &details, &root)) {
                bool has_msg = msg && *msg, has_details = details && *details;
                int c = code > 0 && code < 1000000 ? (int) code : 0;
                cni__fail(err, -EIO, "plugin %s: %s%s%s (code %lld)", type,
                          has_msg ? msg : (has_details ? "" : "failed"), has_msg && has_details ? ": " : "",
                          has_details ? details : "", (long long) code);
                if (err)
                        err->code = c;
                json_decref(root);
                return -EIO;
        }

        if (p->err_len > 0)
                text = tail_text(p->err, p->err_len);
        else if (p->out_len > 0)
                text = tail_text(p->out, p->out_len);
        if (WIFSIGNALED(p->status))
                return cni__fail(err, -EIO, "plugin %s: killed by signal %d%s%s", type, WTERMSIG(p->status),
                                 text && *text ? ": " : "", text ? text : "");
        return cni__fail(err, -EIO, "plugin %s: exit status %d%s%s", type, WEXITSTATUS(p->status),
                         text && *text ? ": " : "", text && *text ? text : " (no error message)");
}

/* ---- lookup and invocation --------------------------------------------------------------------------------- */

static char *join_dirs(char *const *dirs)
{
        _cleanup_free_ char *s = xstrdup("");
        for (size_t i = 0; dirs && dirs[i]; i++) {
                char *n = strdup_printf("%s%s%s", s, i ? ":" : "", dirs[i]);
                free(s);
                s = n;
        }
        return TAKE_PTR(s);
}

int cni_plugin_find(char *const *bin_dirs, const char *type, char **ret_path)
{
        if (!cni__valid_type(type))
                return -EINVAL;
        for (size_t i = 0; bin_dirs && bin_dirs[i]; i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", bin_dirs[i], type);
                struct stat st;
                if (stat(p, &st) < 0 || !S_ISREG(st.st_mode) || access(p, X_OK) < 0)
                        continue;
                *ret_path = TAKE_PTR(p);
                return 0;
        }
        return -ENOENT;
}

int cni__invoke(const struct cni_exec *ex, const char *type, const char *command,
                const struct cni_attachment *att, const char *cni_args, const char *stdin_data,
                size_t stdin_len, char **ret_out, struct cni_error *err)
{
        _cleanup_free_ char *path = NULL, *dirs = join_dirs(ex->bin_dirs);
        _cleanup_strv_free_ char **env = NULL;
        struct cni__proc p = {0};
        int64_t timeout = ex->timeout_ms > 0 ? ex->timeout_ms : CNI_DEFAULT_TIMEOUT_MS;
        int r;

        r = cni_plugin_find(ex->bin_dirs, type, &path);
        if (r == -EINVAL)
                return cni__fail(err, r, "plugin type \"%s\" is not a file name", type);
        if (r < 0)
                return cni__fail(err, r, "plugin %s: not found in %s", type, *dirs ? dirs : "(no bin dirs)");

        strv_push(&env, strdup_printf("CNI_COMMAND=%s", command));
        if (att) {
                strv_push(&env, strdup_printf("CNI_CONTAINERID=%s", att->container_id));
                strv_push(&env, strdup_printf("CNI_NETNS=%s", att->netns ? att->netns : ""));
                strv_push(&env, strdup_printf("CNI_IFNAME=%s", att->ifname));
                strv_push(&env, strdup_printf("CNI_ARGS=%s", cni_args ? cni_args : ""));
        }
        strv_push(&env, strdup_printf("CNI_PATH=%s", dirs));
        strv_push(&env, strdup_printf("PATH=%s", ex->path_env ? ex->path_env : CNI_DEFAULT_PATH));

        r = cni__spawn(path, env, stdin_data, stdin_len, timeout, &p);
        if (r == -ETIMEDOUT)
                return cni__fail(err, r, "plugin %s: %s timed out after %lld ms, killed", type, command,
                                 (long long) timeout);
        if (r == -EFBIG)
                return cni__fail(err, r, "plugin %s: output larger than %u bytes", type, OUT_MAX);
        if (r < 0)
                return cni__fail(err, r, "plugin %s: run %s: %s", type, path, strerror(-r));
        if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0) {
                r = cni__plugin_failure(type, &p, err);
                cni__proc_clear(&p);
                return r;
        }
        *ret_out = TAKE_PTR(p.out);
        cni__proc_clear(&p);
        return 0;
}

/* ---- VERSION cache ----------------------------------------------------------------------------------------- */

struct version_entry {
        char *path;
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
        char **versions;
        struct version_entry *next;
};

static pthread_mutex_t version_lock = PTHREAD_MUTEX_INITIALIZER;
static struct version_entry *version_cache;

static bool same_file(const struct version_entry *e, const struct stat *st)
{
        return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
               e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
               e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static char **strv_copy(char *const *v)
{
        char **c = NULL;
        for (size_t i = 0; v && v[i]; i++)
                strv_push(&c, xstrdup(v[i]));
        if (!c)
                c = OOM_CHECK(calloc(1, sizeof(char *)));
        return c;
}

void cni_plugin_versions_flush(void)
{
        pthread_mutex_lock(&version_lock);
        while (version_cache) {
                struct version_entry *e = version_cache;
                version_cache = e->next;
                free(e->path);
                strv_free(e->versions);
                free(e);
        }
        pthread_mutex_unlock(&version_lock);
}

static int parse_versions(const char *type, const char *out, char ***ret, struct cni_error *err)
{
        json_error_t jerr;
        _cleanup_json_ json_t *root = json_loads(out, 0, &jerr);
        json_t *sv = root ? json_object_get(root, "supportedVersions") : NULL;
        char **v = NULL;
        size_t i;
        json_t *it;

        if (!root)
                return cni__fail(err, -EBADMSG, "plugin %s: VERSION: invalid JSON: %s", type, jerr.text);
        if (!json_is_array(sv))
                return cni__fail(err, -EBADMSG, "plugin %s: VERSION: no supportedVersions list", type);
        json_array_foreach(sv, i, it)
        {
                if (!json_is_string(it)) {
                        strv_free(v);
                        return cni__fail(err, -EBADMSG,
                                         "plugin %s: VERSION: supportedVersions[%zu]: not a string", type,
                                         i);
                }
                strv_push(&v, xstrdup(json_string_value(it)));
        }
        *ret = v ? v : OOM_CHECK(calloc(1, sizeof(char *)));
        return 0;
}

int cni_plugin_versions(const struct cni_exec *ex, const char *type, char ***ret, struct cni_error *err)
{
        _cleanup_free_ char *path = NULL, *out = NULL;
        struct stat st;
        char **versions = NULL;
        int r;

        r = cni_plugin_find(ex->bin_dirs, type, &path);
        if (r < 0) {
                _cleanup_free_ char *dirs = join_dirs(ex->bin_dirs);
                if (r == -EINVAL)
                        return cni__fail(err, r, "plugin type \"%s\" is not a file name", type);
                return cni__fail(err, r, "plugin %s: not found in %s", type, *dirs ? dirs : "(no bin dirs)");
        }
        if (stat(path, &st) < 0)
                return cni__fail(err, -errno, "plugin %s: %s: %m", type, path);

        pthread_mutex_lock(&version_lock);
        for (struct version_entry *e = version_cache; e; e = e->next)
                if (streq(e->path, path) && same_file(e, &st)) {
                        versions = strv_copy(e->versions);
                        break;
                }
        pthread_mutex_unlock(&version_lock);
        if (versions) {
                *ret = versions;
                return 0;
        }

        static const char in[] = "{\"cniVersion\":\"1.0.0\"}";
        struct cni_exec vex = *ex;
        if (vex.timeout_ms <= 0 || vex.timeout_ms > VERSION_TIMEOUT)
                vex.timeout_ms = VERSION_TIMEOUT;
        r = cni__invoke(&vex, type, "VERSION", NULL, NULL, in, strlen(in), &out, err);
        if (r < 0)
                return r;
        r = parse_versions(type, out, &versions, err);
        if (r < 0)
                return r;

        struct version_entry *e = OOM_CHECK(calloc(1, sizeof *e));
        e->path = xstrdup(path);
        e->dev = st.st_dev;
        e->ino = st.st_ino;
        e->size = st.st_size;
        e->mtime = st.st_mtim;
        e->ctime = st.st_ctim;
        e->versions = strv_copy(versions);
        pthread_mutex_lock(&version_lock);
        /* Replace an older answer for the same path. */
        for (struct version_entry **pp = &version_cache; *pp; pp = &(*pp)->next)
                if (streq((*pp)->path, path)) {
                        struct version_entry *old = *pp;
                        *pp = old->next;
                        free(old->path);
                        strv_free(old->versions);
                        free(old);
                        break;
                }
        e->next = version_cache;
        version_cache = e;
        pthread_mutex_unlock(&version_lock);
        *ret = versions;
        return 0;
}
