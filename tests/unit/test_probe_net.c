/* Unit tests for the httpGet and tcpSocket probes against tiny canned servers on loopback threads. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "probe_net.h"
#include "util.h"

#define MAX_ROUTES   8
#define MAX_LOGGED   16
#define REQ_MAX      4096
#define BIG_BODY     (1024 * 1024)
#define OUT_LEN      (64 * 1024)
#define QUICK_MS     1500 /* "fails quickly": refused connections take a few ms, this is slack for CI */
#define SERVER_IO_MS 5000 /* a server never waits longer than this for one request */

enum srv_mode {
        SRV_ROUTES,       /* answer by request path (404 for unknown paths) */
        SRV_SILENT,       /* read the request, never answer */
        SRV_BIG,          /* 200 with a 1 MiB body */
        SRV_ON_FIRST_READ /* answer route "*" after the first read, request complete or not (TLS hello) */
};

struct route {
        char path[128];
        char *response;
};

struct srv {
        int lfd, stop[2], port, family;
        enum srv_mode mode;
        pthread_t thread;
        pthread_mutex_t lock;
        struct route routes[MAX_ROUTES];
        size_t n_routes;
        int n_requests;
        char requests[MAX_LOGGED][REQ_MAX]; /* the first MAX_LOGGED request heads */
        int client_cloexec;                 /* the probe's socket of the last connection: 1, 0, -1 unseen */
};

static void send_all(int fd, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return; /* the probe went away (a cut body): fine */
                buf += n;
                len -= (size_t) n;
        }
}

/* Waits for fd readable or the stop pipe; false when stopping or after SERVER_IO_MS. */
static bool wait_readable(struct srv *s, int fd)
{
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop[0], .events = POLLIN}};
        int r;

        do
                r = poll(p, 2, SERVER_IO_MS);
        while (r < 0 && errno == EINTR);
        return r > 0 && !(p[1].revents & POLLIN) && p[0].revents;
}

/* fd's local TCP/UDP port when it is an AF_INET/AF_INET6 socket (of family, unless family is 0), else -1. */
static int sock_local_port(int fd, int family)
{
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *) &ss, &sl) < 0 || (family && ss.ss_family != family))
                return -1;
        if (ss.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *) &ss)->sin_port);
        if (ss.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
        return -1;
}

/* Finds the probe's own socket of this connection (local port = peer's port) and reads its CLOEXEC. */
static int client_socket_cloexec(int family, int client_port)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int found = -1;

        if (!d)
                return -1;
        while ((e = readdir(d))) {
                int fd = atoi(e->d_name);

                if (e->d_name[0] == '.' || fd == dirfd(d) || sock_local_port(fd, family) != client_port)
                        continue;
                found = (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? 1 : 0;
                break;
        }
        closedir(d);
        return found;
}

static const char *route_response(struct srv *s, const char *path)
{
        for (size_t i = 0; i < s->n_routes; i++)
                if (streq(s->routes[i].path, path) || streq(s->routes[i].path, "*"))
                        return s->routes[i].response;
        return "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found";
}

static void serve_big(int fd)
{
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n";
        char chunk[16384];

        memset(chunk, 'a', sizeof(chunk));
        send_all(fd, head, sizeof(head) - 1);
        for (size_t sent = 0; sent < BIG_BODY; sent += sizeof(chunk)) {
                ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
                if (n <= 0)
                        return; /* the probe stopped reading and closed, as it should */
        }
}

static void serve_conn(struct srv *s, int fd, int client_port)
{
        char req[REQ_MAX], path[128] = "";
        size_t len = 0;
        const char *resp;

        pthread_mutex_lock(&s->lock);
        s->client_cloexec = client_socket_cloexec(s->family, client_port);
        pthread_mutex_unlock(&s->lock);

        while (len + 1 < sizeof(req)) {
                ssize_t n;
                if (!wait_readable(s, fd))
                        return;
                n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
                if (n <= 0)
                        return;
                len += (size_t) n;
                req[len] = '\0';
                if (s->mode == SRV_ON_FIRST_READ || strstr(req, "\r\n\r\n"))
                        break;
        }
        req[len] = '\0';
        sscanf(req, "GET %127s ", path);

        pthread_mutex_lock(&s->lock);
        if (s->n_requests < MAX_LOGGED)
                snprintf(s->requests[s->n_requests], REQ_MAX, "%s", req);
        s->n_requests++;
        resp = route_response(s, path);
        pthread_mutex_unlock(&s->lock);

        switch (s->mode) {
        case SRV_SILENT: {
                /* Hold the connection until the probe gives up (EOF) or the test ends. */
                char c;
                while (wait_readable(s, fd) && recv(fd, &c, 1, 0) > 0)
                        ;
                return;
        }
        case SRV_BIG:
                serve_big(fd);
                return;
        default:
                send_all(fd, resp, strlen(resp));
        }
}

static void *srv_main(void *arg)
{
        struct srv *s = arg;

        for (;;) {
                struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
                                      {.fd = s->stop[0], .events = POLLIN}};
                struct sockaddr_storage ss;
                socklen_t sl = sizeof(ss);
                int fd, client_port;

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return NULL;
                }
                if (p[1].revents)
                        return NULL;
                fd = accept4(s->lfd, (struct sockaddr *) &ss, &sl, SOCK_CLOEXEC);
                if (fd < 0)
                        continue;
                client_port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *) &ss)->sin_port)
                                                      : ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
                serve_conn(s, fd, client_port);
                close(fd);
        }
}

/* A loopback listener on an ephemeral port (backlog given); -1 when the family is unavailable. */
static int listen_loopback(int family, int backlog, int *ret_port)
{
        struct sockaddr_storage ss = {0};
        socklen_t sl;
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -1;
        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *) &ss;
                a->sin_family = AF_INET;
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                sl = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
                a->sin6_family = AF_INET6;
                a->sin6_addr = in6addr_loopback;
                sl = sizeof(*a);
        }
        if (bind(fd, (struct sockaddr *) &ss, sl) < 0 || (backlog >= 0 && listen(fd, backlog) < 0) ||
            getsockname(fd, (struct sockaddr *) &ss, &sl) < 0) {
                close(fd);
                return -1;
        }
        *ret_port = family == AF_INET ? ntohs(((struct sockaddr_in *) &ss)->sin_port)
                                      : ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
        return fd;
}

/* A port on which nothing listens: bound, never listened on, closed. */
static int closed_port(int family)
{
        int port = 0, fd = listen_loopback(family, -1, &port);

        if (fd < 0)
                return -1;
        close(fd);
        return port;
}

static struct srv *srv_start_family(int family, enum srv_mode mode)
{
        struct srv *s = calloc(1, sizeof(*s));

        assert_non_null(s);
        s->family = family;
        s->mode = mode;
        s->client_cloexec = -1;
        s->lfd = listen_loopback(family, 64, &s->port);
        if (s->lfd < 0) {
                free(s);
                return NULL;
        }
        assert_int_equal(pipe2(s->stop, O_CLOEXEC), 0);
        pthread_mutex_init(&s->lock, NULL);
        assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
        return s;
}

static struct srv *srv_start(enum srv_mode mode)
{
        struct srv *s = srv_start_family(AF_INET, mode);
        assert_non_null(s);
        return s;
}

static void srv_route(struct srv *s, const char *path, int code, const char *extra_headers, const char *body)
{
        pthread_mutex_lock(&s->lock);
        assert_true(s->n_routes < MAX_ROUTES);
        snprintf(s->routes[s->n_routes].path, sizeof(s->routes[0].path), "%s", path);
        s->routes[s->n_routes].response =
                strdup_printf("HTTP/1.1 %d Canned\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
                              code, strlen(body), extra_headers ? extra_headers : "", body);
        s->n_routes++;
        pthread_mutex_unlock(&s->lock);
}

static void srv_stop(struct srv *s)
{
        if (!s)
                return;
        assert_int_equal(write(s->stop[1], "x", 1), 1);
        pthread_join(s->thread, NULL);
        close(s->lfd);
        close(s->stop[0]);
        close(s->stop[1]);
        for (size_t i = 0; i < s->n_routes; i++)
                free(s->routes[i].response);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

static int srv_requests(struct srv *s)
{
        int n;
        pthread_mutex_lock(&s->lock);
        n = s->n_requests;
        pthread_mutex_unlock(&s->lock);
        return n;
}

/* The i-th logged request (copied out under the lock). */
static void srv_request(struct srv *s, int i, char *buf, size_t len)
{
        pthread_mutex_lock(&s->lock);
        snprintf(buf, len, "%s", i < MAX_LOGGED ? s->requests[i] : "");
        pthread_mutex_unlock(&s->lock);
}

static struct probe_http http_probe(int port, const char *path)
{
        return (struct probe_http){
                .scheme = "HTTP", .host = "127.0.0.1", .port = port, .path = path, .timeout_ms = 5000};
}

static char out[OUT_LEN];

/* ---- HTTP ---------------------------------------------------------------------------------------- */

static void test_http_200(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_http p = http_probe(s->port, "/healthz");
        char req[REQ_MAX];

        srv_route(s, "/healthz", 200, NULL, "ok");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        assert_string_equal(out, "ok");
        assert_int_equal(srv_requests(s), 1);
        srv_request(s, 0, req, sizeof(req));
        assert_true(str_has_prefix(req, "GET /healthz HTTP/1.1\r\n"));
        /* The probe's socket was CLOEXEC while it was open. */
        pthread_mutex_lock(&s->lock);
        assert_int_equal(s->client_cloexec, 1);
        pthread_mutex_unlock(&s->lock);
        srv_stop(s);
}

static void test_http_2xx_3xx_codes(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_http p = http_probe(s->port, "/nc");

        srv_route(s, "/nc", 204, NULL, "");
        srv_route(s, "/nm", 304, NULL, "");
        srv_route(s, "/cont", 399, NULL, "");
        srv_route(s, "/bad", 400, NULL, "");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        p.path = "/nm"; /* 304 is not a redirect Go follows: success with the redirect warning */
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        assert_true(str_has_prefix(out, "Probe terminated redirects"));
        p.path = "/cont";
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        p.path = "/bad";
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        assert_string_equal(out, "HTTP probe failed with statuscode: 400");
        srv_stop(s);
}

static void test_http_empty_path(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_http p = http_probe(s->port, "");
        char req[REQ_MAX];

        srv_route(s, "/", 200, NULL, "root");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        p.path = NULL;
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        p.path = "healthz?x=1"; /* no leading slash: one is added, the query kept */
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        p.path = "/a b";
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        assert_int_equal(srv_requests(s), 4);
        srv_request(s, 0, req, sizeof(req));
        assert_true(str_has_prefix(req, "GET / HTTP/1.1\r\n"));
        srv_request(s, 2, req, sizeof(req));
        assert_true(str_has_prefix(req, "GET /healthz?x=1 HTTP/1.1\r\n"));
        srv_request(s, 3, req, sizeof(req));
        assert_true(str_has_prefix(req, "GET /a%20b HTTP/1.1\r\n"));
        srv_stop(s);
}

static void test_http_error_codes(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_http p = http_probe(s->port, "/missing");

        srv_route(s, "/boom", 500, NULL, "internal trouble");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        assert_string_equal(out, "HTTP probe failed with statuscode: 404");
        p.path = "/boom";
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        assert_string_equal(out, "HTTP probe failed with statuscode: 500");
        srv_stop(s);
}

static void test_http_redirect_same_host(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_http p = http_probe(s->port, "/start");
        char req[REQ_MAX];

        srv_route(s, "/start", 302, "Location: /ok\r\n", "moved");
        srv_route(s, "/ok", 200, NULL, "there");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        assert_string_equal(out, "there");
        assert_int_equal(srv_requests(s), 2);
        srv_request(s, 1, req, sizeof(req));
        assert_true(str_has_prefix(req, "GET /ok HTTP/1.1\r\n"));
        assert_non_null(strstr(req, "User-Agent: kube-probe/"));
        srv_stop(s);
}

/* Upstream compares host names only: another port on the same host is followed. */
static void test_http_redirect_same_host_other_port(void **state)
{
        struct srv *a = srv_start(SRV_ROUTES), *b = srv_start(SRV_ROUTES);
        struct probe_http p = http_probe(a->port, "/start");
        char loc[128];

        snprintf(loc, sizeof(loc), "Location: http://127.0.0.1:%d/ok\r\n", b->port);
        srv_route(a, "/start", 307, loc, "");
        srv_route(b, "/ok", 200, NULL, "b");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        assert_string_equal(out, "b");
        assert_int_equal(srv_requests(a), 1);
        assert_int_equal(srv_requests(b), 1);
        srv_stop(a);
        srv_stop(b);
}

static void test_http_redirect_other_host(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_http p = http_probe(s->port, "/start");
        char loc[128];

        /* 127.0.0.2: loopback, and nothing listens there, so following it would fail the probe. */
        snprintf(loc, sizeof(loc), "Location: http://127.0.0.2:%d/ok\r\n", s->port);
        srv_route(s, "/start", 302, loc, "elsewhere");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        assert_string_equal(out, "Probe terminated redirects, Response body: elsewhere");
        assert_int_equal(srv_requests(s), 1);
        srv_stop(s);
}

static void test_http_redirect_loop(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_http p = http_probe(s->port, "/loop");
        char want[128];

        srv_route(s, "/loop", 302, "Location: /loop\r\n", "");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        snprintf(want, sizeof(want), "Get \"http://127.0.0.1:%d/loop\": stopped after 10 redirects",
                 s->port);
        assert_string_equal(out, want);
        assert_int_equal(srv_requests(s), 10);
        srv_stop(s);
}

/* Go keeps a custom Host through a relative redirect and drops it on an absolute one. */
static void test_http_redirect_host_header(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_header h[] = {{"Host", "probe.example"}};
        struct probe_http p = http_probe(s->port, "/rel");
        char loc[128], req[REQ_MAX], want[64];

        p.headers = h;
        p.n_headers = ELEMENTSOF(h);
        snprintf(loc, sizeof(loc), "Location: http://127.0.0.1:%d/ok\r\n", s->port);
        srv_route(s, "/rel", 302, "Location: ok\r\n", "");
        srv_route(s, "/abs", 301, loc, "");
        srv_route(s, "/ok", 200, NULL, "");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        p.path = "/abs";
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        assert_int_equal(srv_requests(s), 4);
        srv_request(s, 1, req, sizeof(req));
        assert_true(str_has_prefix(req, "GET /ok HTTP/1.1\r\n"));
        assert_non_null(strstr(req, "\r\nHost: probe.example\r\n"));
        srv_request(s, 3, req, sizeof(req));
        snprintf(want, sizeof(want), "\r\nHost: 127.0.0.1:%d\r\n", s->port);
        assert_non_null(strstr(req, want));
        srv_stop(s);
}

static void test_http_timeout(void **state)
{
        struct srv *s = srv_start(SRV_SILENT);
        struct probe_http p = http_probe(s->port, "/slow");
        int64_t t0 = now_mono_ms(), dt;
        char want[128];

        p.timeout_ms = 300;
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        dt = now_mono_ms() - t0;
        assert_true(dt >= 290);
        assert_true(dt < 1500);
        snprintf(want, sizeof(want), "Get \"http://127.0.0.1:%d/slow\": context deadline exceeded", s->port);
        assert_true(str_has_prefix(out, want));
        srv_stop(s);
}

static void test_http_closed_port(void **state)
{
        int port = closed_port(AF_INET);
        struct probe_http p = http_probe(port, "/healthz");
        int64_t t0 = now_mono_ms();
        char want[160];

        assert_true(port > 0);
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        assert_true(now_mono_ms() - t0 < QUICK_MS);
        snprintf(want, sizeof(want),
                 "Get \"http://127.0.0.1:%d/healthz\": dial tcp 127.0.0.1:%d: connect: connection refused",
                 port, port);
        assert_string_equal(out, want);
}

static void test_http_headers(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_header h[] = {
                {"X-Custom", "yes"}, {"host", "probe.example"}, {"x-multi", "1"}, {"X-Multi", "2"}};
        struct probe_http p = http_probe(s->port, "/h");
        char req[REQ_MAX];

        p.headers = h;
        p.n_headers = ELEMENTSOF(h);
        srv_route(s, "/h", 200, NULL, "");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        srv_request(s, 0, req, sizeof(req));
        assert_non_null(strstr(req, "\r\nUser-Agent: kube-probe/1.30\r\n"));
        assert_non_null(strstr(req, "\r\nAccept: */*\r\n"));
        assert_non_null(strstr(req, "\r\nX-Custom: yes\r\n"));
        assert_non_null(strstr(req, "\r\nHost: probe.example\r\n"));
        assert_non_null(strstr(req, "\r\nX-Multi: 1\r\n"));
        assert_non_null(strstr(req, "\r\nX-Multi: 2\r\n"));
        assert_non_null(strstr(req, "\r\nConnection: close\r\n"));
        assert_null(strstr(req, "Accept-Encoding")); /* upstream: DisableCompression */
        assert_null(strstr(req, "127.0.0.1"));       /* the Host was replaced, not added */
        srv_stop(s);
}

static void test_http_headers_override(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_header h[] = {{"user-agent", "mine"}, {"Accept", ""}, {"X-Empty", ""}};
        struct probe_http p = http_probe(s->port, "/h");
        char req[REQ_MAX];

        srv_route(s, "/h", 200, NULL, "");
        p.user_agent = "kube-probe/9.9";
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        p.headers = h;
        p.n_headers = ELEMENTSOF(h);
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);

        srv_request(s, 0, req, sizeof(req));
        assert_non_null(strstr(req, "\r\nUser-Agent: kube-probe/9.9\r\n"));
        srv_request(s, 1, req, sizeof(req));
        assert_non_null(strstr(req, "\r\nUser-Agent: mine\r\n"));
        assert_null(strstr(req, "kube-probe"));
        assert_null(strstr(req, "Accept"));           /* an empty Accept removes it (upstream) */
        assert_non_null(strstr(req, "\r\nX-Empty:")); /* sent, with an empty value */
        srv_stop(s);
}

static void test_http_header_injection(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct probe_header bad_value[] = {{"X-A", "a\r\nX-Evil: 1"}};
        struct probe_header bad_name[] = {{"X A", "a"}};
        struct probe_http p = http_probe(s->port, "/h");

        p.headers = bad_value;
        p.n_headers = 1;
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        assert_non_null(strstr(out, "net/http: invalid header field value for \"X-A\""));
        p.headers = bad_name;
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        assert_non_null(strstr(out, "invalid header field name"));
        assert_int_equal(srv_requests(s), 0);
        srv_stop(s);
}

static void test_http_big_body(void **state)
{
        struct srv *s = srv_start(SRV_BIG);
        struct probe_http p = http_probe(s->port, "/big");
        int64_t t0 = now_mono_ms();
        char small[16];

        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        assert_true(now_mono_ms() - t0 < 3000);
        assert_int_equal(strlen(out), PROBE_HTTP_MAX_BODY);
        assert_int_equal(out[0], 'a');
        /* A short output buffer is cut and still terminated. */
        assert_int_equal(probe_http_get(&p, small, sizeof(small)), PROBE_SUCCESS);
        assert_string_equal(small, "aaaaaaaaaaaaaaa");
        assert_int_equal(probe_http_get(&p, NULL, 0), PROBE_SUCCESS);
        srv_stop(s);
}

static void test_https_on_plain_port(void **state)
{
        struct srv *s = srv_start(SRV_ON_FIRST_READ);
        struct probe_http p = http_probe(s->port, "/healthz");
        char want[64];

        /* What Go's server answers a TLS hello on a plain port. */
        srv_route(s, "*", 400, NULL, "Client sent an HTTP request to an HTTPS server.\n");
        p.scheme = "HTTPS";
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        snprintf(want, sizeof(want), "Get \"https://127.0.0.1:%d/healthz\": ", s->port);
        assert_true(str_has_prefix(out, want));
        assert_true(strlen(out) > strlen(want));
        srv_stop(s);
}

static void test_http_ipv6(void **state)
{
        struct srv *s = srv_start_family(AF_INET6, SRV_ROUTES);
        struct probe_http p;
        char req[REQ_MAX], want[64];

        if (!s) {
                print_message("no IPv6 loopback here, skipping\n");
                skip();
        }
        srv_route(s, "/v6", 200, NULL, "six");
        p = http_probe(s->port, "/v6");
        p.host = "::1";
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
        assert_string_equal(out, "six");
        srv_request(s, 0, req, sizeof(req));
        snprintf(want, sizeof(want), "\r\nHost: [::1]:%d\r\n", s->port);
        assert_non_null(strstr(req, want));
        srv_stop(s);
}

static void test_http_invalid(void **state)
{
        struct probe_http p = http_probe(0, "/");

        assert_int_equal(probe_http_get(NULL, out, sizeof(out)), PROBE_UNKNOWN);
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_UNKNOWN);
        assert_non_null(strstr(out, "port"));
        p.port = 80;
        p.host = "bad host/x";
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_UNKNOWN);
        p.host = NULL;
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_UNKNOWN);
        p.host = "127.0.0.1";
        p.scheme = "gopher";
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
        assert_string_equal(out, "Get \"gopher://127.0.0.1:80/\": unsupported protocol scheme \"gopher\"");
}

struct hammer {
        int port;
        int ok;
};

static void *hammer_main(void *arg)
{
        struct hammer *h = arg;
        struct probe_http p = http_probe(h->port, "/healthz");
        char o[256];

        for (int i = 0; i < 25; i++)
                if (probe_http_get(&p, o, sizeof(o)) == PROBE_SUCCESS && streq(o, "ok"))
                        h->ok++;
        return NULL;
}

static void test_http_threads(void **state)
{
        struct srv *s = srv_start(SRV_ROUTES);
        struct hammer h[8];
        pthread_t t[8];

        srv_route(s, "/healthz", 200, NULL, "ok");
        for (int i = 0; i < 8; i++) {
                h[i] = (struct hammer){.port = s->port};
                assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
        }
        for (int i = 0; i < 8; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(h[i].ok, 25);
        }
        assert_int_equal(srv_requests(s), 200);
        srv_stop(s);
}

/* The fds a probe could leak: the servers of this test run in this process, and their ends of a connection
 * (local port: a server's) and their listing of /proc/self/fd (client_socket_cloexec) come and go on their
 * threads at any moment, so they are not counted. */
static int count_probe_fds(const int *srv_ports, size_t n_ports)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                char link[64], target[256];
                int fd, port = -1;
                ssize_t len;

                if (de->d_name[0] == '.')
                        continue;
                fd = atoi(de->d_name);
                snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
                len = readlink(link, target, sizeof(target) - 1);
                if (len < 0)
                        continue; /* closed meanwhile */
                target[len] = '\0';
                if (strncmp(target, "/proc/", 6) == 0 && len > 3 && strcmp(target + len - 3, "/fd") == 0)
                        continue; /* a listing of /proc/self/fd: this one, or a server's */
                if (strncmp(target, "socket:", 7) == 0)
                        port = sock_local_port(fd, 0);
                bool server = false;
                for (size_t i = 0; i < n_ports; i++)
                        server |= port == srv_ports[i];
                if (!server)
                        n++;
        }
        closedir(d);
        return n;
}

/* Every path closes what it opened. */
static void test_no_fd_leak(void **state)
{
        struct srv *ok = srv_start(SRV_ROUTES), *silent = srv_start(SRV_SILENT), *big = srv_start(SRV_BIG);
        struct srv *plain = srv_start(SRV_ON_FIRST_READ);
        struct probe_http p = http_probe(ok->port, "/healthz");
        int before, closed = closed_port(AF_INET);

        srv_route(ok, "/healthz", 200, NULL, "ok");
        srv_route(ok, "/loop", 302, "Location: /loop\r\n", "");
        srv_route(plain, "*", 400, NULL, "not TLS");
        assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS); /* warm up libcurl */
        const int ports[] = {ok->port, silent->port, big->port, plain->port};
        before = count_probe_fds(ports, 4);

        for (int i = 0; i < 3; i++) {
                p = http_probe(ok->port, "/healthz");
                assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
                p.path = "/nope";
                assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
                p.path = "/loop";
                assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
                p = http_probe(plain->port, "/");
                p.scheme = "HTTPS";
                assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
                p = http_probe(closed, "/");
                assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
                p = http_probe(silent->port, "/");
                p.timeout_ms = 100;
                assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_FAILURE);
                p = http_probe(big->port, "/");
                assert_int_equal(probe_http_get(&p, out, sizeof(out)), PROBE_SUCCESS);
                assert_int_equal(probe_tcp("127.0.0.1", ok->port, 1000, out, sizeof(out)), PROBE_SUCCESS);
                assert_int_equal(probe_tcp("127.0.0.1", closed, 1000, out, sizeof(out)), PROBE_FAILURE);
                assert_int_equal(probe_tcp("localhost", ok->port, 1000, out, sizeof(out)), PROBE_SUCCESS);
        }
        assert_int_equal(count_probe_fds(ports, 4), before);
        srv_stop(ok);
        srv_stop(silent);
        srv_stop(big);
        srv_stop(plain);
}

/* ---- TCP ----------------------------------------------------------------------------------------- */

static void test_tcp_listening(void **state)
{
        int port, fd = listen_loopback(AF_INET, 8, &port);

        assert_true(fd >= 0);
        strcpy(out, "junk");
        assert_int_equal(probe_tcp("127.0.0.1", port, 1000, out, sizeof(out)), PROBE_SUCCESS);
        assert_string_equal(out, "");
        /* A name is resolved (localhost may give ::1 first: refused there, then 127.0.0.1). */
        assert_int_equal(probe_tcp("localhost", port, 1000, out, sizeof(out)), PROBE_SUCCESS);
        close(fd);
}

static void test_tcp_closed(void **state)
{
        int port = closed_port(AF_INET);
        int64_t t0 = now_mono_ms();
        char want[96];

        assert_true(port > 0);
        assert_int_equal(probe_tcp("127.0.0.1", port, 1000, out, sizeof(out)), PROBE_FAILURE);
        assert_true(now_mono_ms() - t0 < QUICK_MS);
        snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%d: connect: connection refused", port);
        assert_string_equal(out, want);
}

/* A full accept queue drops SYNs: the connect hangs until the probe's deadline. */
static void test_tcp_timeout(void **state)
{
        int port, fd = listen_loopback(AF_INET, 0, &port);
        int fill[4];
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int64_t t0, dt;
        enum probe_result r;
        char want[96];

        assert_true(fd >= 0);
        a.sin_port = htons((uint16_t) port);
        for (size_t i = 0; i < ELEMENTSOF(fill); i++) {
                fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                assert_true(fill[i] >= 0);
                (void) connect(fill[i], (struct sockaddr *) &a, sizeof(a));
        }
        t0 = now_mono_ms();
        r = probe_tcp("127.0.0.1", port, 300, out, sizeof(out));
        dt = now_mono_ms() - t0;
        for (size_t i = 0; i < ELEMENTSOF(fill); i++)
                close(fill[i]);
        close(fd);
        if (r == PROBE_SUCCESS) {
                print_message("this kernel accepted past a full backlog, skipping\n");
                skip();
        }
        assert_int_equal(r, PROBE_FAILURE);
        snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%d: i/o timeout", port);
        assert_string_equal(out, want);
        assert_true(dt >= 290);
        assert_true(dt < 1500);
}

static void test_tcp_ipv6(void **state)
{
        int port, fd = listen_loopback(AF_INET6, 8, &port);
        char want[96];

        if (fd < 0) {
                print_message("no IPv6 loopback here, skipping\n");
                skip();
        }
        assert_int_equal(probe_tcp("::1", port, 1000, out, sizeof(out)), PROBE_SUCCESS);
        assert_int_equal(probe_tcp("[::1]", port, 1000, out, sizeof(out)), PROBE_SUCCESS);
        close(fd);
        port = closed_port(AF_INET6);
        assert_int_equal(probe_tcp("::1", port, 1000, out, sizeof(out)), PROBE_FAILURE);
        snprintf(want, sizeof(want), "dial tcp [::1]:%d: connect: connection refused", port);
        assert_string_equal(out, want);
}

static void test_tcp_invalid(void **state)
{
        assert_int_equal(probe_tcp("127.0.0.1", 0, 1000, out, sizeof(out)), PROBE_UNKNOWN);
        assert_int_equal(probe_tcp("127.0.0.1", 70000, 1000, out, sizeof(out)), PROBE_UNKNOWN);
        assert_int_equal(probe_tcp(NULL, 80, 1000, out, sizeof(out)), PROBE_UNKNOWN);
        assert_int_equal(probe_tcp("a b", 80, 1000, out, sizeof(out)), PROBE_UNKNOWN);
        /* No lookup-failure case: it would ask the configured DNS server, off loopback. */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_http_200),
                cmocka_unit_test(test_http_2xx_3xx_codes),
                cmocka_unit_test(test_http_empty_path),
                cmocka_unit_test(test_http_error_codes),
                cmocka_unit_test(test_http_redirect_same_host),
                cmocka_unit_test(test_http_redirect_same_host_other_port),
                cmocka_unit_test(test_http_redirect_other_host),
                cmocka_unit_test(test_http_redirect_loop),
                cmocka_unit_test(test_http_redirect_host_header),
                cmocka_unit_test(test_http_timeout),
                cmocka_unit_test(test_http_closed_port),
                cmocka_unit_test(test_http_headers),
                cmocka_unit_test(test_http_headers_override),
                cmocka_unit_test(test_http_header_injection),
                cmocka_unit_test(test_http_big_body),
                cmocka_unit_test(test_https_on_plain_port),
                cmocka_unit_test(test_http_ipv6),
                cmocka_unit_test(test_http_invalid),
                cmocka_unit_test(test_http_threads),
                cmocka_unit_test(test_no_fd_leak),
                cmocka_unit_test(test_tcp_listening),
                cmocka_unit_test(test_tcp_closed),
                cmocka_unit_test(test_tcp_timeout),
                cmocka_unit_test(test_tcp_ipv6),
                cmocka_unit_test(test_tcp_invalid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
