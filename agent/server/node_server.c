/* The node server: TLS (GnuTLS inside libmicrohttpd), authentication, authorization and the endpoints. One
 * thread per connection, so that a followed log may block its own thread only. */
#include "node_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "logs.h"
#include "macro.h"
#include "manager.h"
#include "reply.h"
#include "request.h"
#include "stats.h"
#include "stream.h"
#include "util.h"

/* Answers kept per cache: a node sees few distinct clients (the API server, monitoring, a few tokens). */
#define AUTH_CACHE_MAX 1024

struct node_server {
        struct MHD_Daemon *daemon;
        struct node_server_config c;
        char *node_name, *pod_logs_dir;
        char *cert, *key, *ca;          /* PEM, alive as long as the daemon */
        struct auth_cache *cache;       /* SubjectAccessReview answers */
        struct auth_cache *token_cache; /* TokenReview answers */
        struct stream_proxies *streams;
        atomic_bool stopping;
};

static enum MHD_Result replyf(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
        _printf_(3, 4);
static enum MHD_Result replyf(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
{
        char body[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(body, sizeof body, fmt, ap);
        va_end(ap);
        return http_reply(conn, status, body);
}

/* ---- authentication ---- */

/* 1: authenticated (*u filled), 0: not. */
static int authenticate(struct node_server *s, struct MHD_Connection *conn, struct auth_user *u)
{
        char why[512] = "";
        if (s->ca) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
                int r = ci ? auth_x509((gnutls_session_t) ci->tls_session, u, why, sizeof why) : 0;
                if (r > 0)
                        return 1;
                if (r < 0)
                        log_v(1, "Client certificate rejected", "err=\"%s\"", log_q(why));
        }
        const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        if (authz && s->c.token_webhook && s->c.kube && strncasecmp(authz, "Bearer ", 7) == 0) {
                int r = auth_token_review(s->c.kube, s->token_cache, authz + 7, u);
                if (r > 0)
                        return 1;
                if (r < 0)
                        log_warn("TokenReview failed", "err=\"%s\"", strerror(-r));
        }
        if (s->c.anonymous) {
                u->name = xstrdup("system:anonymous");
                strv_push(&u->groups, xstrdup("system:unauthenticated"));
                return 1;
        }
        return 0;
}

/* ---- /containerLogs ---- */

struct log_stream {
        struct node_server *s;
        struct log_reader *r;
        struct log_options o;
        char *ns, *pod, *container, *dir;
        int restart; /* the file being read */
        int fd;      /* the client's socket */
        bool ended;
};

/* The pod ns/name from the status manager (a new reference), or NULL. */
static json_t *find_pod(struct node_server *s, const char *ns, const char *name)
{
        json_t *list = status_manager_pod_list(s->c.status), *p, *found = NULL;
        size_t i;
        json_array_foreach(json_object_get(list, "items"), i, p)
        {
                json_t *md = json_object_get(p, "metadata");
                if (streq_ptr(json_string_value(json_object_get(md, "namespace")), ns) &&
                    streq_ptr(json_string_value(json_object_get(md, "name")), name)) {
                        found = json_incref(p);
                        break;
                }
        }
        json_decref(list);
        return found;
}

static json_t *find_named(json_t *array, const char *name)
{
        size_t i;
        json_t *c;
        json_array_foreach(array, i,
                           c) if (streq_ptr(json_string_value(json_object_get(c, "name")), name)) return c;
        return NULL;
}

static json_t *container_status(json_t *pod, const char *name)
{
        json_t *st = json_object_get(pod, "status");
        json_t *c = find_named(json_object_get(st, "containerStatuses"), name);
        return c ? c : find_named(json_object_get(st, "initContainerStatuses"), name);
}

/* A followed container goes on while it runs and no newer instance has a log file. */
static bool stream_alive(struct log_stream *ls)
{
        json_t *pod = find_pod(ls->s, ls->ns, ls->pod);
        json_t *cs = container_status(pod, ls->container);
        bool running = json_object_get(json_object_get(cs, "state"), "running") != NULL;
        json_decref(pod);
        int newest;
        _cleanup_free_ char *path = NULL;
        if (log_find_file(ls->dir, false, &path, &newest) >= 0 && newest != ls->restart)
                return false;
        return running;
}

static bool client_gone(int fd)
{
        struct pollfd p = {.fd = fd, .events = POLLRDHUP};
        return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t log_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct log_stream *ls = cls;
        for (;;) {
                ssize_t n = log_reader_read(ls->r, buf, max);
                if (n > 0)
                        return n;
                if (n < 0)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                if (!ls->o.follow || ls->ended || log_reader_done(ls->r))
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (atomic_load(&ls->s->stopping) || client_gone(ls->fd))
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                int w = log_reader_wait(ls->r, 1000);
                if (w < 0)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                if (w == 0 && !stream_alive(ls))
                        ls->ended = true; /* one more read drains what it wrote last */
        }
}

static void log_stream_free(void *cls)
{
        struct log_stream *ls = cls;
        log_reader_free(ls->r);
        free(ls->ns);
        free(ls->pod);
        free(ls->container);
        free(ls->dir);
        free(ls);
}

static enum MHD_Result container_logs(struct node_server *s, struct MHD_Connection *conn,
                                      const struct node_request *req)
{
        const char *ns = req->ns, *name = req->pod, *container = req->container;
        struct log_options o = req->log;

        json_t *pod = find_pod(s, ns, name);
        if (!pod)
                return replyf(conn, MHD_HTTP_NOT_FOUND, "pod \"%s\" does not exist\n", name);
        json_t *spec = json_object_get(pod, "spec");
        bool exists = find_named(json_object_get(spec, "containers"), container) ||
                      find_named(json_object_get(spec, "initContainers"), container);
        _cleanup_free_ char *dir = strdup_printf(
                "%s/%s_%s_%s/%s", s->pod_logs_dir, ns, name,
                json_string_value(json_object_get(json_object_get(pod, "metadata"), "uid")), container);
        json_t *cs = container_status(pod, container);
        const char *waiting = json_string_value(
                json_object_get(json_object_get(json_object_get(cs, "state"), "waiting"), "reason"));
        _cleanup_free_ char *wait_reason = xstrdup(waiting ? waiting : "ContainerCreating");
        json_decref(pod);
        if (!exists)
                return replyf(conn, MHD_HTTP_NOT_FOUND, "container \"%s\" not found in pod \"%s\"\n",
                              container, name);

        _cleanup_free_ char *path = NULL;
        int restart = 0;
        if (log_find_file(dir, o.previous, &path, &restart) < 0) {
                if (o.previous)
                        return replyf(conn, MHD_HTTP_BAD_REQUEST,
                                      "previous terminated container \"%s\" in pod \"%s\" not found\n",
                                      container, name);
                return replyf(conn, MHD_HTTP_BAD_REQUEST,
                              "container \"%s\" in pod \"%s\" is waiting to start: %s\n", container, name,
                              wait_reason);
        }
        if (o.previous)
                o.follow = false; /* the previous instance has finished */
        struct log_stream *ls = OOM_CHECK(calloc(1, sizeof *ls));
        *ls = (struct log_stream){.s = s,
                                  .o = o,
                                  .ns = xstrdup(ns),
                                  .pod = xstrdup(name),
                                  .container = xstrdup(container),
                                  .dir = TAKE_PTR(dir),
                                  .restart = restart,
                                  .fd = -1};
        int r = log_reader_open(path, &o, &ls->r);
        if (r < 0) {
                log_stream_free(ls);
                return replyf(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot open the log: %s\n",
                              strerror(-r));
        }
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
                ls->fd = ci->connect_fd;
        if (o.follow) /* a quiet container must not time the stream out */
                MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned) 0);
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
                                                                      log_stream_read, ls, log_stream_free);
        if (!resp) {
                log_stream_free(ls);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/plain");
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* ---- pods ---- */

/* /runningpods/: the pods with a running container, as upstream's runtime view (names, containers). */
static json_t *running_pods(struct node_server *s)
{
        json_t *list = status_manager_pod_list(s->c.status), *items = json_array(), *p;
        size_t i;
        json_array_foreach(json_object_get(list, "items"), i, p)
        {
                json_t *cs, *containers = json_array(), *md = json_object_get(p, "metadata");
                size_t j;
                json_array_foreach(json_object_get(json_object_get(p, "status"), "containerStatuses"), j, cs)
                {
                        if (!json_object_get(json_object_get(cs, "state"), "running"))
                                continue;
                        json_array_append_new(containers,
                                              json_pack("{s:O, s:O, s:{}}", "name",
                                                        json_object_get(cs, "name"), "image",
                                                        json_object_get(cs, "image"), "resources"));
                }
                if (json_array_size(containers) == 0) {
                        json_decref(containers);
                        continue;
                }
                json_array_append_new(items, json_pack("{s:{s:O, s:O, s:O, s:n}, s:{s:o}, s:{}}", "metadata",
                                                       "name", json_object_get(md, "name"), "namespace",
                                                       json_object_get(md, "namespace"), "uid",
                                                       json_object_get(md, "uid"), "creationTimestamp",
                                                       "spec", "containers", containers, "status"));
        }
        json_decref(list);
        return json_pack("{s:s, s:s, s:{}, s:o}", "kind", "PodList", "apiVersion", "v1", "metadata", "items",
                         items);
}

/* ---- dispatch ---- */

/* /exec/{namespace}/{pod}/{container}?command=...&input=1&output=1&error=1&tty=1,
 * /attach/{namespace}/{pod}/{container}?input=1&output=1..., /portForward/{namespace}/{pod}. */
static enum MHD_Result stream_request(struct node_server *s, struct MHD_Connection *conn,
                                      const struct node_request *req)
{
        const char *ns = req->ns, *name = req->pod, *container = req->container;
        bool pf = req->ep == NODE_EP_PORT_FORWARD;
        if (!s->c.cri)
                return http_reply(conn, MHD_HTTP_NOT_FOUND, "404 page not found\n");
        json_t *pod = find_pod(s, ns, name);
        if (!pod)
                return replyf(conn, MHD_HTTP_NOT_FOUND, "pod \"%s\" does not exist\n", name);
        if (pf) {
                _cleanup_free_ char *uid =
                        xstrdup(json_string_value(json_object_get(json_object_get(pod, "metadata"), "uid")));
                json_decref(pod);
                return stream_port_forward(s->streams, conn, s->c.cri, uid ? uid : "", s->c.cri_timeout_ms);
        }
        json_t *cs = container_status(pod, container);
        const char *id = json_string_value(json_object_get(cs, "containerID"));
        const char *sep = id ? strstr(id, "://") : NULL;
        _cleanup_free_ char *cid = sep ? xstrdup(sep + 3) : NULL;
        bool running = json_object_get(json_object_get(cs, "state"), "running") != NULL;
        json_decref(pod);
        if (!cs)
                return replyf(conn, MHD_HTTP_NOT_FOUND, "container not found (\"%s\")\n", container);
        if (!cid || !running)
                return replyf(conn, MHD_HTTP_BAD_REQUEST, "container not running (%s)\n", container);
        if (req->ep == NODE_EP_ATTACH)
                return stream_attach(s->streams, conn, s->c.cri, cid, s->c.cri_timeout_ms);
        return stream_exec(s->streams, conn, s->c.cri, cid, s->c.cri_timeout_ms);
}

struct args {
        struct node_query_arg *v;
        size_t n;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        struct args *a = cls;
        a->v = OOM_CHECK(reallocarray(a->v, a->n + 1, sizeof *a->v));
        a->v[a->n++] = (struct node_query_arg){key, value};
        return MHD_YES;
}

static enum MHD_Result serve(struct node_server *s, struct MHD_Connection *conn,
                             const struct node_request *req)
{
        switch (req->ep) {
        case NODE_EP_NONE:
                return http_reply(conn, req->status, req->error);
        case NODE_EP_EXEC:
        case NODE_EP_ATTACH:
        case NODE_EP_PORT_FORWARD:
                return stream_request(s, conn, req);
        case NODE_EP_CONTAINER_LOGS:
                return container_logs(s, conn, req);
        case NODE_EP_HEALTHZ: {
                char reason[2048] = "";
                if (s->c.check(s->c.userdata, reason, sizeof reason))
                        return http_reply(conn, MHD_HTTP_OK, "ok");
                return replyf(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "[+]ping ok\n%shealthz check failed\n",
                              reason);
        }
        case NODE_EP_PODS:
                return http_reply_json(conn, status_manager_pod_list(s->c.status));
        case NODE_EP_RUNNINGPODS:
                return http_reply_json(conn, running_pods(s));
        case NODE_EP_STATS_SUMMARY:
                if (s->c.stats)
                        return http_reply_summary(conn, s->c.stats);
                break;
        case NODE_EP_METRICS_RESOURCE:
                if (s->c.stats)
                        return http_reply_resource_metrics(conn, s->c.stats);
                break;
        case NODE_EP_CONFIGZ:
                if (s->c.configz)
                        return http_reply_json(conn, s->c.configz(s->c.userdata));
                break;
        case NODE_EP_METRICS:
                if (s->c.metrics) {
                        char *buf = NULL;
                        size_t len = 0;
                        s->c.metrics(s->c.userdata, &buf, &len);
                        return http_reply_prometheus(conn, buf, len);
                }
                break;
        }
        return http_reply(conn, MHD_HTTP_NOT_FOUND, "404 page not found\n");
}

/* The request parsed (every query number range-checked) into a plan, then carried out. */
static enum MHD_Result route(struct node_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method)
{
        struct args a = {0};
        struct node_request req;
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
        (void) node_request_parse(method, url, a.v, a.n, now_real_ns(), &req);
        free(a.v);
        enum MHD_Result ret = serve(s, conn, &req);
        node_request_clear(&req);
        return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size,
                              void **state)
{
        struct node_server *s = cls;
        static int seen;

        /* First call: headers only. Then the body, which no endpoint here reads. */
        if (!*state) {
                *state = &seen;
                return MHD_YES;
        }
        if (*upload_size) {
                *upload_size = 0;
                return MHD_YES;
        }
        struct auth_user u = {0};
        if (authenticate(s, conn, &u) <= 0)
                return http_reply(conn, MHD_HTTP_UNAUTHORIZED, "Unauthorized");
        const char *verb = auth_verb(method), *sub = auth_subresource(url);
        if (s->c.authz_webhook) {
                char reason[512];
                int r = auth_sar(s->c.kube, s->cache, &u, verb, sub, s->node_name, reason, sizeof reason);
                if (r < 0) {
                        log_warn("SubjectAccessReview failed", "user=\"%s\" err=\"%s\"", log_q(u.name),
                                 log_q(reason));
                        enum MHD_Result ret = replyf(
                                conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                "Authorization error (user=%s, verb=%s, resource=nodes, subresource=%s)",
                                u.name, verb, sub);
                        auth_user_clear(&u);
                        return ret;
                }
                if (r == 0) {
                        log_v(2, "Forbidden", "user=\"%s\" verb=\"%s\" subresource=\"%s\" reason=\"%s\"",
                              log_q(u.name), verb, sub, log_q(reason));
                        enum MHD_Result ret =
                                replyf(conn, MHD_HTTP_FORBIDDEN,
                                       "Forbidden (user=%s, verb=%s, resource=nodes, subresource=%s)",
                                       u.name, verb, sub);
                        auth_user_clear(&u);
                        return ret;
                }
        }
        auth_user_clear(&u);
        return route(s, conn, url, method);
}

static void logger(void *cls, const char *fmt, va_list ap)
{
        char msg[1024];
        vsnprintf(msg, sizeof msg, fmt, ap);
        size_t n = strlen(msg);
        while (n && msg[n - 1] == '\n')
                msg[--n] = 0;
        log_v(2, "Node server", "detail=\"%s\"", log_q(msg));
}

int node_server_start(const struct node_server_config *c, struct node_server **ret, char **err)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) c->port)};
        struct node_server *s;
        int r;

        if (inet_pton(AF_INET, c->bind_addr, &sa.sin_addr) != 1) {
                *err = strdup_printf("invalid address %s", c->bind_addr);
                return -EINVAL;
        }
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
                *err = xstrdup("libmicrohttpd was built without TLS");
                return -ENOTSUP;
        }
        if ((c->authz_webhook || c->token_webhook) && !c->kube && c->authz_webhook) {
                *err = xstrdup("authorization mode Webhook needs an API server (--kubeconfig)");
                return -EINVAL;
        }
        s = OOM_CHECK(calloc(1, sizeof *s));
        s->c = *c;
        s->node_name = xstrdup(c->node_name);
        s->pod_logs_dir = xstrdup(c->pod_logs_dir);
        s->c.node_name = s->node_name;
        s->c.pod_logs_dir = s->pod_logs_dir;
        s->c.bind_addr = s->c.cert_file = s->c.key_file = s->c.client_ca_file = NULL;
        s->cache = auth_cache_new(c->authz_allowed_ttl_ms, c->authz_denied_ttl_ms, AUTH_CACHE_MAX);
        s->token_cache = auth_cache_new(c->token_cache_ttl_ms, c->token_cache_ttl_ms, AUTH_CACHE_MAX);
        s->streams = stream_proxies_new();
        const char *bad = c->cert_file;
        if ((r = read_file_limit(c->cert_file, 1 << 20, &s->cert, NULL)) >= 0 && (bad = c->key_file) &&
            (r = read_file_limit(c->key_file, 1 << 20, &s->key, NULL)) >= 0 && (bad = c->client_ca_file))
                r = read_file_limit(c->client_ca_file, 1 << 20, &s->ca, NULL);
        if (r < 0) {
                *err = strdup_printf("%s: %s", bad, strerror(-r));
                node_server_stop(s);
                return r;
        }
        struct MHD_OptionItem tls[] = {
                {MHD_OPTION_HTTPS_MEM_KEY, 0, s->key},
                {MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert},
                {s->ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, s->ca},
                {MHD_OPTION_END, 0, NULL},
        };
        s->daemon = MHD_start_daemon(
                MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                        MHD_USE_TLS | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG,
                (uint16_t) c->port, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, logger, NULL,
                MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 300,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned) 256, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
        if (!s->daemon) {
                *err = strdup_printf(
                        "cannot serve on %s:%d (address in use, or an unusable certificate or key)",
                        c->bind_addr, c->port);
                node_server_stop(s);
                return -EADDRINUSE;
        }
        *ret = s;
        return 0;
}

struct node_server *node_server_stop(struct node_server *s)
{
        if (!s)
                return NULL;
        atomic_store(&s->stopping, true);
        s->streams = stream_proxies_free(s->streams); /* MHD wants upgraded connections closed first */
        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        auth_cache_free(s->cache);
        auth_cache_free(s->token_cache);
        free(s->node_name);
        free(s->pod_logs_dir);
        free(s->cert);
        free(s->key);
        free(s->ca);
        free(s);
        return NULL;
}
