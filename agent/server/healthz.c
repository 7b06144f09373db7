/* The plain-HTTP local servers: healthz (127.0.0.1:10248/healthz: "ok", or HTTP 500 naming what is
 * unhealthy), the read-only port, and the root-only unix socket with the standalone view. */
#include <stdbool.h>

#include "healthz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "reply.h"
#include "util.h"

struct healthz {
        struct MHD_Daemon *daemon;
        struct healthz_handlers h;
        char *unix_path; /* the socket file we made, removed at stop while it is still ours */
        dev_t unix_dev;
        ino_t unix_ino;
};

/* Finds "verbose" among the query arguments ("?verbose" has no value, which the lookup cannot tell from
 * absent). */
static enum MHD_Result has_verbose(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        if (!streq(key, "verbose"))
                return MHD_YES;
        *(bool *) cls = true;
        return MHD_NO;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size,
                              void **state)
{
        struct healthz *h = cls;
        char reason[2048] = "", body[2600];

        if (!streq(method, "GET") && !streq(method, "HEAD"))
                return http_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
        healthz_json_fn fn = streq(url, "/pods") || streq(url, "/pods/")       ? h->h.pods
                             : streq(url, "/events") || streq(url, "/events/") ? h->h.events
                                                                               : NULL;
        if (fn) /* a server without the handler answers 404 below */
                return http_reply_json(conn, fn(h->h.userdata));
        if (h->h.stats && (streq(url, "/stats/summary") || streq(url, "/stats/summary/")))
                return http_reply_summary(conn, h->h.stats);
        if (h->h.stats && (streq(url, "/metrics/resource") || streq(url, "/metrics/resource/")))
                return http_reply_resource_metrics(conn, h->h.stats);
        if (h->h.metrics && (streq(url, "/metrics") || streq(url, "/metrics/"))) {
                char *buf = NULL;
                size_t len = 0;
                h->h.metrics(h->h.userdata, &buf, &len);
                return http_reply_prometheus(conn, buf, buf ? len : 0);
        }
        if (!streq(url, "/healthz") && !streq(url, "/healthz/"))
                return http_reply(conn, MHD_HTTP_NOT_FOUND, "404 page not found\n");
        if (h->h.check(h->h.userdata, reason, sizeof reason)) {
                /* Upstream's ?verbose lists every check, including those that only inform (network). */
                bool verbose = false;
                MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, has_verbose, &verbose);
                if (!verbose)
                        return http_reply(conn, MHD_HTTP_OK, "ok");
                snprintf(body, sizeof body, "[+]ping ok\n%shealthz check passed\n", reason);
                return http_reply(conn, MHD_HTTP_OK, body);
        }
        snprintf(body, sizeof body, "[+]ping ok\n%shealthz check failed\n", reason);
        return http_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, body);
}

int healthz_start(const char *bind_addr, int port, const struct healthz_handlers *handlers,
                  struct healthz **ret)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        struct healthz *h;

        if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1)
                return -EINVAL;
        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->h = *handlers;
        h->daemon =
                MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t) port, NULL,
                                 NULL, handle, h, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned) 10, MHD_OPTION_CONNECTION_LIMIT, (unsigned) 64, MHD_OPTION_END);
        if (!h->daemon) {
                free(h);
                return -EADDRINUSE;
        }
        *ret = h;
        return 0;
}

/* A file already at path: a socket nobody listens on (a previous cubelet's, killed) is removed; a live one
 * is another cubelet's (-EADDRINUSE); anything else is not ours to delete (-EEXIST). */
static int remove_stale_socket(const char *path, const struct sockaddr_un *sa)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0)
                return -errno;
        if (connect(probe, (const struct sockaddr *) sa, sizeof *sa) == 0)
                return -EADDRINUSE;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* A listening socket at path, mode 0600 before it listens (connect() to a socket that does not listen yet
 * is refused, so no one else gets in between), in a directory made 0755 if missing. */
static int unix_listen(const char *path, struct stat *ret_st)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (path[0] != '/')
                return -EINVAL;
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        _cleanup_free_ char *dir = xstrdup(path);
        *strrchr(dir, '/') = 0;
        int r = mkdir_p(dir[0] ? dir : "/", 0755);
        if (r < 0)
                return r;
        r = remove_stale_socket(path, &sa);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        if (chmod(path, 0600) < 0 || lstat(path, ret_st) < 0 || listen(fd, 64) < 0) {
                r = -errno;
                unlink(path);
                return r;
        }
        return TAKE_FD(fd);
}

int healthz_start_unix(const char *path, const struct healthz_handlers *handlers, struct healthz **ret)
{
        struct stat st;
        int fd = unix_listen(path, &st);
        if (fd < 0)
                return fd;
        struct healthz *h = OOM_CHECK(calloc(1, sizeof *h));
        h->h = *handlers;
        h->unix_path = xstrdup(path);
        h->unix_dev = st.st_dev;
        h->unix_ino = st.st_ino;
        h->daemon =
                MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle,
                                 h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned) 10, MHD_OPTION_CONNECTION_LIMIT, (unsigned) 64, MHD_OPTION_END);
        if (!h->daemon) {
                close(fd);
                unlink(path);
                free(h->unix_path);
                free(h);
                return -EIO;
        }
        *ret = h;
        return 0;
}

struct healthz *healthz_stop(struct healthz *h)
{
        struct stat st;
        if (!h)
                return NULL;
        MHD_stop_daemon(h->daemon); /* closes the listening socket */
        if (h->unix_path && lstat(h->unix_path, &st) == 0 && st.st_dev == h->unix_dev &&
            st.st_ino == h->unix_ino)
                unlink(h->unix_path);
        free(h->unix_path);
        free(h);
        return NULL;
}
