/* Proxying exec streams to the runtime's streaming server. */
#include "stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cri.h"
#include "log.h"
#include "reply.h"
#include "macro.h"
#include "util.h"

#define MAX_HEAD 16384

struct stream_proxies {
        pthread_mutex_t lock;
        pthread_cond_t done;
        int active;
        atomic_bool stopping;
};

struct stream_proxies *stream_proxies_new(void)
{
        struct stream_proxies *sp = OOM_CHECK(calloc(1, sizeof *sp));
        pthread_mutex_init(&sp->lock, NULL);
        cond_init_monotonic(&sp->done);
        return sp;
}

void stream_proxies_close(struct stream_proxies *sp)
{
        if (!sp)
                return;
        pthread_mutex_lock(&sp->lock);
        atomic_store(&sp->stopping, true);
        while (sp->active > 0)
                cond_wait_ms(&sp->done, &sp->lock, 1000);
        pthread_mutex_unlock(&sp->lock);
}

struct stream_proxies *stream_proxies_free(struct stream_proxies *sp)
{
        if (!sp)
                return NULL;
        stream_proxies_close(sp);
        pthread_cond_destroy(&sp->done);
        pthread_mutex_destroy(&sp->lock);
        free(sp);
        return NULL;
}

struct proxy {
        struct stream_proxies *sp;
        int runtime; /* connected to the streaming server */
        char *extra; /* bytes the runtime sent after its 101 head */
        size_t extra_len;
        int client; /* from MHD once upgraded */
        struct MHD_UpgradeResponseHandle *urh;
};

static void proxy_free(struct proxy *p)
{
        if (p->runtime >= 0)
                close(p->runtime);
        free(p->extra);
        free(p);
}

static int write_all(int fd, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -errno;
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

static void *pipe_thread(void *arg)
{
        struct proxy *p = arg;
        struct stream_proxies *sp = p->sp;
        char buf[65536];

        if (p->extra_len == 0 || write_all(p->client, p->extra, p->extra_len) >= 0)
                while (!atomic_load(&sp->stopping)) {
                        struct pollfd f[2] = {{.fd = p->client, .events = POLLIN},
                                              {.fd = p->runtime, .events = POLLIN}};
                        int n = poll(f, 2, 500);
                        if (n < 0 && errno != EINTR)
                                break;
                        if (n <= 0)
                                continue;
                        bool eof = false;
                        for (int i = 0; i < 2 && !eof; i++) {
                                if (!(f[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                        continue;
                                ssize_t k = recv(f[i].fd, buf, sizeof buf, 0);
                                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                                        continue;
                                eof = k <= 0 || write_all(f[1 - i].fd, buf, (size_t) k) < 0;
                        }
                        if (eof)
                                break;
                }
        MHD_upgrade_action(p->urh, MHD_UPGRADE_ACTION_CLOSE);
        proxy_free(p);
        pthread_mutex_lock(&sp->lock);
        sp->active--;
        pthread_cond_broadcast(&sp->done);
        pthread_mutex_unlock(&sp->lock);
        return NULL;
}

static void upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                     size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
        struct proxy *p = cls;
        pthread_t t;
        pthread_attr_t attr;

        p->client = sock;
        p->urh = urh;
        /* Bytes the client sent past its request head belong to the runtime. */
        if (extra_in_size && write_all(p->runtime, extra_in, extra_in_size) < 0)
                goto fail;
        /* Closing (under the lock, as stream_proxies_close sets it): no new stream. */
        pthread_mutex_lock(&p->sp->lock);
        bool closing = atomic_load(&p->sp->stopping);
        if (!closing)
                p->sp->active++;
        pthread_mutex_unlock(&p->sp->lock);
        if (closing)
                goto fail;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* Not on this thread: with TLS, MHD relays the upgraded socket on it once this returns. */
        int r = pthread_create(&t, &attr, pipe_thread, p);
        pthread_attr_destroy(&attr);
        if (r == 0)
                return;
        pthread_mutex_lock(&p->sp->lock);
        p->sp->active--;
        pthread_mutex_unlock(&p->sp->lock);
fail:
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        proxy_free(p);
}

struct collect {
        char **commands;
        bool input, output, error, tty;
};

static bool truthy(const char *v)
{
        return v && (streq(v, "1") || strcasecmp(v, "true") == 0);
}

/* Both spellings: the kubelet's own (input/output/error, what the API server sends) and the API's
 * PodExecOptions names (stdin/stdout/stderr) that clients speaking to the node directly use. */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        struct collect *c = cls;
        if (streq(key, "command") && value)
                strv_push(&c->commands, xstrdup(value));
        else if (streq(key, "input") || streq(key, "stdin"))
                c->input = truthy(value);
        else if (streq(key, "output") || streq(key, "stdout"))
                c->output = truthy(value);
        else if (streq(key, "error") || streq(key, "stderr"))
                c->error = truthy(value);
        else if (streq(key, "tty"))
                c->tty = truthy(value);
        return MHD_YES;
}

/* The request head for the runtime: the negotiation headers of the client's request. */
struct negotiation {
        char head[MAX_HEAD];
        size_t len;
        char protocols[2048]; /* every Sec-WebSocket-Protocol value, comma-joined */
        size_t protocols_len;
        bool overflow;
};

static void head_append(struct negotiation *ng, const char *key, const char *value)
{
        int n = snprintf(ng->head + ng->len, sizeof ng->head - ng->len, "%s: %s\r\n", key, value);
        if (n < 0 || (size_t) n >= sizeof ng->head - ng->len)
                ng->overflow = true;
        else
                ng->len += (size_t) n;
}

static bool has_token(const char *list, const char *token)
{
        size_t n = strlen(token);
        for (const char *p = list; *p;) {
                p += strspn(p, " \t,");
                size_t len = strcspn(p, " \t,");
                if (len == n && strncasecmp(p, token, n) == 0)
                        return true;
                p += len;
        }
        return false;
}

static bool is_websocket(struct MHD_Connection *conn)
{
        const char *upgrade = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade");
        return upgrade && has_token(upgrade, "websocket");
}

/* SPDY (X-Stream-Protocol-Version) and WebSocket (Sec-WebSocket-*, Origin) negotiation goes on to the
 * runtime, every value of each; credentials and the rest of the client's request stay here. */
static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        static const char *const pass[] = {"Upgrade",
                                           "Connection",
                                           "X-Stream-Protocol-Version",
                                           "Sec-WebSocket-Key",
                                           "Sec-WebSocket-Version",
                                           "Sec-WebSocket-Extensions",
                                           "Origin"};
        struct negotiation *ng = cls;
        if (!value)
                return MHD_YES;
        if (strcasecmp(key, "Sec-WebSocket-Protocol") == 0) {
                /* Go's server reads only the first header of a name: one list of them all. */
                int n = snprintf(ng->protocols + ng->protocols_len, sizeof ng->protocols - ng->protocols_len,
                                 "%s%s", ng->protocols_len ? ", " : "", value);
                if (n < 0 || (size_t) n >= sizeof ng->protocols - ng->protocols_len)
                        ng->overflow = true;
                else
                        ng->protocols_len += (size_t) n;
                return MHD_YES;
        }
        for (size_t i = 0; i < ELEMENTSOF(pass); i++)
                if (strcasecmp(key, pass[i]) == 0) {
                        head_append(ng, key, value);
                        break;
                }
        return MHD_YES;
}

/* The runtime's request: GET for a WebSocket handshake (RFC 6455 allows no other), POST for SPDY as
 * kubectl sends it; then the negotiation headers. */
static int build_head(struct negotiation *ng, struct MHD_Connection *conn, const char *path,
                      const char *query, const char *host)
{
        bool websocket = is_websocket(conn);
        const char *sep = !query || !*query ? "" : strchr(path, '?') ? "&" : "?";
        int n = snprintf(ng->head, sizeof ng->head, "%s %s%s%s HTTP/1.1\r\nHost: %s\r\n%s",
                         websocket ? "GET" : "POST", path, sep, query ? query : "", host,
                         websocket ? "" : "Content-Length: 0\r\n");
        if (n < 0 || (size_t) n >= sizeof ng->head)
                return -E2BIG;
        ng->len = (size_t) n;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, ng);
        if (ng->protocols_len)
                head_append(ng, "Sec-WebSocket-Protocol", ng->protocols);
        if (ng->overflow || ng->len + 2 >= sizeof ng->head)
                return -E2BIG;
        memcpy(ng->head + ng->len, "\r\n", 2);
        ng->len += 2;
        return 0;
}

/* "http://host:port/path" → a connected socket and the path. */
static int dial(const char *url, char **ret_path, char **ret_host)
{
        if (!str_has_prefix(url, "http://"))
                return -EPROTONOSUPPORT;
        const char *hp = url + 7, *slash = strchr(hp, '/');
        _cleanup_free_ char *host = slash ? strndup(hp, (size_t) (slash - hp)) : xstrdup(hp);
        char *colon = strrchr(host, ':'), *port = "80";
        if (colon && !strchr(colon, ']')) {
                *colon = 0;
                port = colon + 1;
        }
        char *h = host;
        if (h[0] == '[') { /* [::1] */
                h++;
                h[strlen(h) - 1] = 0;
        }
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
        if (getaddrinfo(h, port, &hints, &ai) != 0)
                return -EHOSTUNREACH;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                int e = -errno;
                if (fd >= 0)
                        close(fd);
                freeaddrinfo(ai);
                return e;
        }
        freeaddrinfo(ai);
        *ret_path = xstrdup(slash ? slash : "/");
        *ret_host = strndup(hp, slash ? (size_t) (slash - hp) : strlen(hp));
        return fd;
}

/* Reads the runtime's response head (and what follows it) with a deadline. */
static int read_head(int fd, char *buf, size_t cap, size_t *ret_len, size_t *ret_head_len)
{
        size_t len = 0;
        while (len < cap - 1) {
                struct pollfd f = {.fd = fd, .events = POLLIN};
                if (poll(&f, 1, 10000) <= 0)
                        return -ETIMEDOUT;
                ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
                if (n <= 0)
                        return n < 0 ? -errno : -ECONNRESET;
                len += (size_t) n;
                buf[len] = 0;
                char *end = strstr(buf, "\r\n\r\n");
                if (end) {
                        *ret_len = len;
                        *ret_head_len = (size_t) (end - buf) + 4;
                        return 0;
                }
        }
        return -E2BIG;
}

/* Dials the runtime's streaming URL, replays the client's negotiation there and, on 101, upgrades. query:
 * parameters the runtime reads from the request itself (port forwarding over WebSocket), or NULL. */
static enum MHD_Result proxy_to(struct stream_proxies *sp, struct MHD_Connection *conn, const char *url,
                                const char *query)
{
        _cleanup_free_ struct negotiation *ng = OOM_CHECK(calloc(1, sizeof *ng));
        int r;
        _cleanup_free_ char *path = NULL, *host = NULL;
        int fd = dial(url, &path, &host);
        if (fd < 0)
                return http_reply(conn, MHD_HTTP_BAD_GATEWAY, "cannot reach the runtime's streaming server");
        struct proxy *p = OOM_CHECK(calloc(1, sizeof *p));
        p->sp = sp;
        p->runtime = fd;
        p->client = -1;
        if (build_head(ng, conn, path, query, host) < 0) {
                proxy_free(p);
                return http_reply(conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                                  "request headers too large");
        }
        if (write_all(fd, ng->head, ng->len) < 0) {
                proxy_free(p);
                return http_reply(conn, MHD_HTTP_BAD_GATEWAY,
                                  "cannot write to the runtime's streaming server");
        }
        _cleanup_free_ char *buf = OOM_CHECK(malloc(MAX_HEAD));
        size_t len = 0, head_len = 0;
        if ((r = read_head(fd, buf, MAX_HEAD, &len, &head_len)) < 0) {
                proxy_free(p);
                return http_reply(conn, MHD_HTTP_BAD_GATEWAY,
                                  "no answer from the runtime's streaming server");
        }
        unsigned status = 0;
        if (sscanf(buf, "HTTP/1.%*d %u", &status) != 1 || status != 101) {
                /* Not upgraded (e.g. no protocol in common): the runtime's answer, as far as we have it. */
                proxy_free(p);
                return http_reply(conn, status >= 400 && status < 600 ? status : MHD_HTTP_BAD_GATEWAY,
                                  buf + head_len);
        }
        p->extra_len = len - head_len;
        p->extra = p->extra_len ? OOM_CHECK(malloc(p->extra_len)) : NULL;
        if (p->extra_len)
                memcpy(p->extra, buf + head_len, p->extra_len);

        struct MHD_Response *mr = MHD_create_response_for_upgrade(upgraded, p);
        if (!mr) {
                proxy_free(p);
                return MHD_NO;
        }
        /* The runtime's negotiated headers go back to the client. */
        buf[head_len - 2] = 0;
        char *save = NULL;
        strtok_r(buf, "\r\n", &save); /* the status line */
        for (char *line = strtok_r(NULL, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue;
                *colon = 0;
                const char *v = colon + 1 + strspn(colon + 1, " \t");
                if (strcasecmp(line, "Connection") && strcasecmp(line, "Content-Length") &&
                    strcasecmp(line, "Date"))
                        MHD_add_response_header(mr, line, v);
        }
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, mr);
        MHD_destroy_response(mr);
        if (ret != MHD_YES)
                proxy_free(p);
        return ret;
}

enum MHD_Result stream_exec(struct stream_proxies *sp, struct MHD_Connection *conn, struct cri_client *cri,
                            const char *container_id, int64_t timeout_ms)
{
        struct collect c = {0};
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &c);
        _cleanup_strv_free_ char **cmd = c.commands;
        if (!cmd || !cmd[0])
                return http_reply(conn, MHD_HTTP_BAD_REQUEST, "you must specify at least 1 command");
        if (!c.input && !c.output && !c.error)
                return http_reply(conn, MHD_HTTP_BAD_REQUEST,
                                  "you must specify at least 1 of stdin, stdout, stderr");

        Runtime__V1__ExecRequest req = RUNTIME__V1__EXEC_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ExecResponse *resp = NULL;
        struct cri_error err = {0};
        req.container_id = (char *) container_id;
        req.cmd = cmd;
        req.n_cmd = strv_length(cmd);
        req.tty = c.tty;
        req.stdin = c.input;
        req.stdout = c.output;
        req.stderr = c.error && !c.tty;
        int r = CRI_CALL(cri, RuntimeService, Exec, exec, &req, &resp, timeout_ms, &err);
        if (r < 0) {
                char msg[1200];
                snprintf(msg, sizeof msg, "%s", err.msg[0] ? err.msg : strerror(-r));
                return http_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
        }
        return proxy_to(sp, conn, resp->url, NULL);
}

static enum MHD_Result runtime_error(struct MHD_Connection *conn, int r, const struct cri_error *err)
{
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", err->msg[0] ? err->msg : strerror(-r));
        return http_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
}

enum MHD_Result stream_attach(struct stream_proxies *sp, struct MHD_Connection *conn, struct cri_client *cri,
                              const char *container_id, int64_t timeout_ms)
{
        struct collect c = {0};
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &c);
        strv_free(c.commands);
        if (!c.input && !c.output && !c.error)
                return http_reply(conn, MHD_HTTP_BAD_REQUEST,
                                  "you must specify at least 1 of stdin, stdout, stderr");
        Runtime__V1__AttachRequest req = RUNTIME__V1__ATTACH_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__AttachResponse *resp = NULL;
        struct cri_error err = {0};
        req.container_id = (char *) container_id;
        req.stdin = c.input;
        req.tty = c.tty;
        req.stdout = c.output;
        req.stderr = c.error && !c.tty;
        int r = CRI_CALL(cri, RuntimeService, Attach, attach, &req, &resp, timeout_ms, &err);
        if (r < 0)
                return runtime_error(conn, r, &err);
        return proxy_to(sp, conn, resp->url, NULL);
}

struct ports {
        int32_t *v;
        size_t n;
        bool invalid;
};

static enum MHD_Result collect_port(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        struct ports *ports = cls;
        if (!streq(key, "port"))
                return MHD_YES;
        char *end = NULL;
        errno = 0;
        long p = value && *value ? strtol(value, &end, 10) : 0;
        if (!end || *end || errno || p <= 0 || p >= 65536) {
                ports->invalid = true;
                return MHD_YES;
        }
        ports->v = OOM_CHECK(realloc(ports->v, (ports->n + 1) * sizeof *ports->v));
        ports->v[ports->n++] = (int32_t) p;
        return MHD_YES;
}

enum MHD_Result stream_port_forward(struct stream_proxies *sp, struct MHD_Connection *conn,
                                    struct cri_client *cri, const char *pod_uid, int64_t timeout_ms)
{
        /* The pod's ready sandbox. */
        Runtime__V1__ListPodSandboxRequest lreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__PodSandboxFilter filter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
        Runtime__V1__PodSandboxStateValue state = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
        Runtime__V1__PodSandboxFilter__LabelSelectorEntry sel =
                RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
        Runtime__V1__PodSandboxFilter__LabelSelectorEntry *sels[] = {&sel};
        _cleanup_cri_ Runtime__V1__ListPodSandboxResponse *lresp = NULL;
        struct cri_error err = {0};
        state.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        sel.key = (char *) "io.kubernetes.pod.uid";
        sel.value = (char *) pod_uid;
        filter.state = &state;
        filter.n_label_selector = 1;
        filter.label_selector = sels;
        lreq.filter = &filter;
        int r = CRI_CALL(cri, RuntimeService, ListPodSandbox, list_pod_sandbox, &lreq, &lresp, timeout_ms,
                         &err);
        if (r < 0)
                return runtime_error(conn, r, &err);
        if (lresp->n_items == 0)
                return http_reply(conn, MHD_HTTP_NOT_FOUND, "pod sandbox not found");

        /* SPDY clients name ports per stream; WebSocket ones only here, and the runtime reads them again from
         * its own request's query (one data and one error channel per port, in this order). */
        struct ports ports = {0};
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_port, &ports);
        _cleanup_free_ int32_t *v = ports.v;
        bool websocket = is_websocket(conn);
        /* As upstream's kubelet: the query is checked only where it is the protocol's own. */
        if (websocket && ports.invalid)
                return http_reply(conn, MHD_HTTP_BAD_REQUEST, "port must be a number in 1-65535");
        if (websocket && ports.n == 0)
                return http_reply(conn, MHD_HTTP_BAD_REQUEST, "query parameter \"port\" is required");
        _cleanup_free_ char *query = NULL;
        for (size_t i = 0; i < ports.n; i++) {
                char *q = strdup_printf("%s%sport=%d", query ? query : "", query ? "&" : "", ports.v[i]);
                free(query);
                query = q;
        }
        Runtime__V1__PortForwardRequest req = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__PortForwardResponse *resp = NULL;
        req.pod_sandbox_id = lresp->items[0]->id;
        req.port = ports.v;
        req.n_port = ports.n;
        r = CRI_CALL(cri, RuntimeService, PortForward, port_forward, &req, &resp, timeout_ms, &err);
        if (r < 0)
                return runtime_error(conn, r, &err);
        return proxy_to(sp, conn, resp->url, websocket ? query : NULL);
}
