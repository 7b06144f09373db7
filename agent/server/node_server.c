/* The node server: TLS (GnuTLS inside libmicrohttpd), authentication, authorization and the endpoints. One
 * thread per connection, so that a followed log may block its own thread only. */
#include "node_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <time.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Hostile clients: a connection that has not yet authenticated a request (TLS handshake, request head, a
 * refused one) may idle this long and there may be only so many of them, per client address and in all,
 * so that idle sockets cannot lock the API server out. An authenticated one idles as upstream's. */
#define CONNECTION_LIMIT       1024
#define UNAUTH_MAX_TOTAL       768
#define UNAUTH_MAX_PER_ADDRESS 32
#define UNAUTH_TIMEOUT_S       10
#define AUTH_TIMEOUT_S         300
/* No endpoint reads a request body (exec's input arrives on the upgraded stream): a small bound. */
#define MAX_BODY_BYTES (64u << 10)

/* Connections from one client address not yet authenticated. */
struct addr_count {
        unsigned char addr[16];
        unsigned n;
};

/* The serving pair issued by CSR (serverTLSBootstrap), swapped in as it is rotated: every handshake takes
 * the current one, and none is offered before the first is issued (the handshake fails, as upstream's). The
 * pairs it replaced stay until the server stops, since a handshake may still hold them (one a rotation,
 * months apart). GnuTLS's retrieve callback has no user data: one such server per process. */
#define TLS_CHAIN_MAX 8
struct tls_pair {
        gnutls_pcert_st pcerts[TLS_CHAIN_MAX];
        unsigned n;
        gnutls_privkey_t key;
        time_t not_after; /* expired: not offered (upstream's Current() is nil then) */
        struct tls_pair *older;
};
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_pair *tls_current;

static void tls_pairs_free(struct tls_pair *p)
{
        while (p) {
                struct tls_pair *older = p->older;
                for (unsigned i = 0; i < p->n; i++)
                        gnutls_pcert_deinit(&p->pcerts[i]);
                if (p->key)
                        gnutls_privkey_deinit(p->key);
                free(p);
                p = older;
        }
}

static int retrieve_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                         unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
        (void) session, (void) req_ca_dn, (void) nreqs, (void) pk_algos, (void) pk_algos_length;
        pthread_mutex_lock(&tls_lock);
        struct tls_pair *p = tls_current;
        if (p && time(NULL) >= p->not_after)
                p = NULL;
        if (p) {
                *pcert = p->pcerts;
                *pcert_length = p->n;
                *pkey = p->key;
        }
        pthread_mutex_unlock(&tls_lock);
        if (!p)
                log_v(2, "TLS handshake refused: no serving certificate available for the kubelet",
                      "issuedBy=\"%s\"", "CSR");
        return p ? 0 : -1;
}

int node_server_set_cert(struct node_server *s, const char *cert, size_t cert_len, const char *key,
                         size_t key_len)
{
        (void) s;
        struct tls_pair *p = OOM_CHECK(calloc(1, sizeof *p));
        gnutls_datum_t cd = {(unsigned char *) cert, (unsigned) cert_len};
        gnutls_datum_t kd = {(unsigned char *) key, (unsigned) key_len};
        p->n = TLS_CHAIN_MAX;
        int r = gnutls_pcert_list_import_x509_raw(p->pcerts, &p->n, &cd, GNUTLS_X509_FMT_PEM, 0);
        if (r < 0) {
                p->n = 0;
                tls_pairs_free(p);
                return -EINVAL;
        }
        if (gnutls_privkey_init(&p->key) < 0 ||
            gnutls_privkey_import_x509_raw(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) {
                tls_pairs_free(p);
                return -EINVAL;
        }
        gnutls_x509_crt_t crt;
        if (gnutls_x509_crt_init(&crt) < 0)
                p->not_after = 0;
        else {
                p->not_after = gnutls_x509_crt_import(crt, &p->pcerts[0].cert, GNUTLS_X509_FMT_DER) < 0
                                       ? 0
                                       : gnutls_x509_crt_get_expiration_time(crt);
                gnutls_x509_crt_deinit(crt);
        }
        if (p->not_after <= 0) {
                tls_pairs_free(p);
                return -EINVAL;
        }
        pthread_mutex_lock(&tls_lock);
        p->older = tls_current;
        tls_current = p;
        pthread_mutex_unlock(&tls_lock);
        return 0;
}

/* Per connection (MHD's socket context). */
struct conn_ctx {
        unsigned char addr[16];
        bool authenticated; /* one of its requests was: no longer counted as unauthenticated */
        uint64_t body;      /* bytes of the current request's body */
};

struct node_server {
        struct MHD_Daemon *daemon;
        struct node_server_config c;
        char *node_name, *pod_logs_dir;
        char *cert, *key, *ca;          /* PEM, alive as long as the daemon */
        struct auth_cache *cache;       /* SubjectAccessReview answers */
        struct auth_cache *token_cache; /* TokenReview answers */
        struct stream_proxies *streams;
        atomic_bool stopping;
        pthread_mutex_t conn_lock; /* guards the counts below */
        struct addr_count *unauth;
        size_t n_unauth_addrs;
        unsigned unauth_total;
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

/* upstream's chain (auth_decide): a client certificate, else a bearer token by TokenReview, else anonymous
 * when enabled; a certificate that does not verify or a token refused is never anonymous. */
static enum auth_verdict authenticate(struct node_server *s, struct MHD_Connection *conn,
                                      struct auth_user *u)
{
        char why[512] = "";
        int x509 = 0, token = 0;
        if (s->ca) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
                x509 = ci ? auth_x509((gnutls_session_t) ci->tls_session, u, why, sizeof why) : 0;
                if (x509 < 0)
                        log_v(1, "Client certificate rejected", "err=\"%s\"", log_q(why));
        }
        const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        if (x509 <= 0 && authz && s->c.token_webhook && s->c.authn_kube &&
            strncasecmp(authz, "Bearer ", 7) == 0 && authz[7]) {
                int r = auth_token_review(s->c.authn_kube, s->token_cache, authz + 7, u);
                token = r > 0 ? 1 : r == 0 ? -EACCES : r;
                if (r < 0 && r != -EBUSY)
                        log_warn("TokenReview failed", "err=\"%s\"", strerror(-r));
                else if (r == -EBUSY)
                        log_v(2, "TokenReview not made: no turn of its rate limit in time", "err=\"%s\"",
                              strerror(EBUSY));
        }
        enum auth_verdict v = auth_decide(x509, token, s->c.anonymous);
        if (v == AUTH_AS_ANONYMOUS) {
                u->name = xstrdup("system:anonymous");
                strv_push(&u->groups, xstrdup("system:unauthenticated"));
        }
        return v;
}

/* ---- connections ---- */

static void addr_key(const struct sockaddr *sa, unsigned char key[static 16])
{
        memset(key, 0, 16);
        if (sa && sa->sa_family == AF_INET)
                memcpy(key, &((const struct sockaddr_in *) sa)->sin_addr, 4);
        else if (sa && sa->sa_family == AF_INET6)
                memcpy(key, &((const struct sockaddr_in6 *) sa)->sin6_addr, 16);
}

/* Under conn_lock. */
static struct addr_count *addr_find(struct node_server *s, const unsigned char key[static 16])
{
        for (size_t i = 0; i < s->n_unauth_addrs; i++)
                if (memcmp(s->unauth[i].addr, key, 16) == 0)
                        return &s->unauth[i];
        return NULL;
}

/* MHD asks before it sets a connection up, on its listening thread (which also runs NOTIFY_STARTED right
 * after, so the check and the count cannot race). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
        struct node_server *s = cls;
        unsigned char key[16];
        addr_key(addr, key);
        pthread_mutex_lock(&s->conn_lock);
        struct addr_count *e = addr_find(s, key);
        bool ok = s->unauth_total < UNAUTH_MAX_TOTAL && (!e || e->n < UNAUTH_MAX_PER_ADDRESS);
        pthread_mutex_unlock(&s->conn_lock);
        if (!ok) {
                char ip[INET6_ADDRSTRLEN] = "";
                const void *a = addr->sa_family == AF_INET6
                                        ? (const void *) &((const struct sockaddr_in6 *) addr)->sin6_addr
                                        : (const void *) &((const struct sockaddr_in *) addr)->sin_addr;
                inet_ntop(addr->sa_family, a, ip, sizeof ip);
                log_v(2, "Connection refused: too many unauthenticated connections", "client=\"%s\"", ip);
        }
        return ok ? MHD_YES : MHD_NO;
}

static void unauth_release(struct node_server *s, const unsigned char key[static 16])
{
        pthread_mutex_lock(&s->conn_lock);
        struct addr_count *e = addr_find(s, key);
        if (e && --e->n == 0)
                *e = s->unauth[--s->n_unauth_addrs];
        s->unauth_total--;
        pthread_mutex_unlock(&s->conn_lock);
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
        struct node_server *s = cls;
        struct conn_ctx *cc = *socket_context;
        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                cc = OOM_CHECK(calloc(1, sizeof *cc));
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                addr_key(ci ? ci->client_addr : NULL, cc->addr);
                pthread_mutex_lock(&s->conn_lock);
                struct addr_count *e = addr_find(s, cc->addr);
                if (!e) {
                        s->unauth =
                                OOM_CHECK(reallocarray(s->unauth, s->n_unauth_addrs + 1, sizeof *s->unauth));
                        e = &s->unauth[s->n_unauth_addrs++];
                        *e = (struct addr_count){0};
                        memcpy(e->addr, cc->addr, 16);
                }
                e->n++;
                s->unauth_total++;
                pthread_mutex_unlock(&s->conn_lock);
                *socket_context = cc;
        } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && cc) {
                if (!cc->authenticated)
                        unauth_release(s, cc->addr);
                free(cc);
                *socket_context = NULL;
        }
}

static struct conn_ctx *conn_ctx(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci ? ci->socket_context : NULL;
}

/* A request on conn authenticated: it leaves the unauthenticated count and may idle as long as upstream's. */
static void conn_authenticated(struct node_server *s, struct MHD_Connection *conn)
{
        struct conn_ctx *cc = conn_ctx(conn);
        if (!cc || cc->authenticated)
                return;
        cc->authenticated = true;
        unauth_release(s, cc->addr);
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned) AUTH_TIMEOUT_S);
}

/* ---- /containerLogs ---- */

struct log_stream {
        struct node_server *s;
        struct log_reader *r;
        struct log_options o;
        char *ns, *pod, *container, *dir;
        char *uid;   /* the pod's: its liveness is looked up by it each second, without copying pods */
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

static json_t *status_container(json_t *st, const char *name)
{
        json_t *c = find_named(json_object_get(st, "containerStatuses"), name);
        return c ? c : find_named(json_object_get(st, "initContainerStatuses"), name);
}

static json_t *container_status(json_t *pod, const char *name)
{
        return status_container(json_object_get(pod, "status"), name);
}

/* A followed container goes on while it runs and no newer instance has a log file. Asked each second by
 * every follower: a reference to the pod's status by UID (published statuses are never changed), not a
 * copy of every pod. */
static bool stream_alive(struct log_stream *ls)
{
        json_t *st = status_manager_get(ls->s->c.status, ls->uid);
        json_t *cs = status_container(st, ls->container);
        bool running = json_object_get(json_object_get(cs, "state"), "running") != NULL;
        json_decref(st);
        int newest;
        _cleanup_free_ char *path = NULL;
        if (log_find_file(ls->dir, INT_MAX, &path, &newest) >= 0 && newest != ls->restart)
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
        free(ls->uid);
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
        _cleanup_free_ char *uid =
                xstrdup(json_string_value(json_object_get(json_object_get(pod, "metadata"), "uid")) ?: "");
        _cleanup_free_ char *dir =
                strdup_printf("%s/%s_%s_%s/%s", s->pod_logs_dir, ns, name, uid, container);
        json_t *cs = container_status(pod, container);
        json_t *state = json_object_get(cs, "state");
        const char *waiting =
                json_string_value(json_object_get(json_object_get(state, "waiting"), "reason"));
        _cleanup_free_ char *wait_reason = xstrdup(waiting ? waiting : "ContainerCreating");
        /* Which instance (upstream's validateContainerLogStatus): the newest, or with previous exactly the
         * last terminated one (lastState; log_previous_instance), never an older file in its place.
         * Instances are told apart by their restart count, the log file's name. */
        int at_most = INT_MAX;
        if (o.previous) {
                json_t *last = json_object_get(json_object_get(cs, "lastState"), "terminated");
                at_most = log_previous_instance(json_string_value(json_object_get(cs, "containerID")),
                                                json_string_value(json_object_get(last, "containerID")),
                                                json_integer_value(json_object_get(cs, "restartCount")));
        }
        json_decref(pod);
        if (!exists)
                return replyf(conn, MHD_HTTP_NOT_FOUND, "container \"%s\" not found in pod \"%s\"\n",
                              container, name);

        _cleanup_free_ char *path = NULL;
        int restart = 0;
        if (log_find_file(dir, at_most, &path, &restart) < 0 || (o.previous && restart != at_most)) {
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
        if (!o.follow) {
                char *shown = NULL;
                if (log_file_or_rotated(path, &shown) >= 0) {
                        free(path);
                        path = shown;
                }
        }
        struct log_stream *ls = OOM_CHECK(calloc(1, sizeof *ls));
        *ls = (struct log_stream){.s = s,
                                  .o = o,
                                  .ns = xstrdup(ns),
                                  .pod = xstrdup(name),
                                  .container = xstrdup(container),
                                  .dir = TAKE_PTR(dir),
                                  .uid = TAKE_PTR(uid),
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

/* Who asks, and may they: 0 when the request may go on, else the refusal was queued (its MHD result in
 * *ret). */
static int admit(struct node_server *s, struct MHD_Connection *conn, const char *url, const char *method,
                 enum MHD_Result *ret)
{
        _cleanup_(auth_user_clear) struct auth_user u = {0};
        enum auth_verdict v = authenticate(s, conn, &u);
        if (v == AUTH_UNAVAILABLE) {
                *ret = http_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  "Service Unavailable: too many requests to authenticate, try again\n");
                return -EBUSY;
        }
        if (v == AUTH_UNAUTHORIZED) {
                *ret = http_reply(conn, MHD_HTTP_UNAUTHORIZED, "Unauthorized");
                return -EACCES;
        }
        /* A connection leaves the unauthenticated count (and its short idle timeout) only once a request
         * on it is authorized: a valid token that is refused (any pod's service account) must not let a
         * client hold connections past the per-address limit. */
        bool known = v != AUTH_AS_ANONYMOUS;
        if (!s->c.authz_webhook) {
                if (known)
                        conn_authenticated(s, conn);
                return 0;
        }
        const char *verb = auth_verb(method), *sub = auth_subresource(url);
        char reason[512];
        int r = auth_sar(s->c.authz_kube, s->cache, &u, verb, sub, s->node_name, reason, sizeof reason);
        if (r == -EBUSY) {
                *ret = http_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  "Service Unavailable: too many requests to authorize, try again\n");
                return r;
        }
        if (r < 0) {
                log_warn("SubjectAccessReview failed", "user=\"%s\" err=\"%s\"", log_q(u.name),
                         log_q(reason));
                *ret = replyf(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                              "Authorization error (user=%s, verb=%s, resource=nodes, subresource=%s)",
                              u.name, verb, sub);
                return r;
        }
        if (r == 0) {
                log_v(2, "Forbidden", "user=\"%s\" verb=\"%s\" subresource=\"%s\" reason=\"%s\"",
                      log_q(u.name), verb, sub, log_q(reason));
                *ret = replyf(conn, MHD_HTTP_FORBIDDEN,
                              "Forbidden (user=%s, verb=%s, resource=nodes, subresource=%s)", u.name, verb,
                              sub);
                return -EPERM;
        }
        if (known)
                conn_authenticated(s, conn);
        return 0;
}

/* A Content-Length beyond the bound (a chunked body is counted as it comes). */
static bool body_too_large(struct MHD_Connection *conn)
{
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (!cl)
                return false;
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        return errno || end == cl || n > MAX_BODY_BYTES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size,
                              void **state)
{
        struct node_server *s = cls;
        static int admitted;

        /* First call: the request head only. Everything is decided here, before any body is read. */
        if (!*state) {
                struct conn_ctx *cc = conn_ctx(conn);
                enum MHD_Result ret;
                if (cc)
                        cc->body = 0;
                if (atomic_load(&s->stopping))
                        return http_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
                if (body_too_large(conn))
                        return replyf(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                                      "request body larger than %u bytes\n", MAX_BODY_BYTES);
                if (admit(s, conn, url, method, &ret) < 0)
                        return ret;
                *state = &admitted;
                return MHD_YES;
        }
        /* Then the body, which no endpoint reads: bounded, and dropped. */
        if (*upload_size) {
                struct conn_ctx *cc = conn_ctx(conn);
                if (cc && (cc->body += *upload_size) > MAX_BODY_BYTES)
                        return MHD_NO; /* chunked past the bound: the connection is closed */
                *upload_size = 0;
                return MHD_YES;
        }
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
        if (c->authz_webhook && !c->authz_kube) {
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
        pthread_mutex_init(&s->conn_lock, NULL);
        const char *bad = c->cert_file;
        r = 0;
        if (!c->cert_by_csr && (r = read_file_limit(c->cert_file, 1 << 20, &s->cert, NULL)) >= 0)
                r = read_file_limit(bad = c->key_file, 1 << 20, &s->key, NULL);
        if (r >= 0 && c->client_ca_file)
                r = read_file_limit(bad = c->client_ca_file, 1 << 20, &s->ca, NULL);
        if (r < 0) {
                *err = strdup_printf("%s: %s", bad, strerror(-r));
                node_server_stop(s);
                return r;
        }
        struct MHD_OptionItem tls[4] = {{MHD_OPTION_END, 0, NULL}};
        size_t nt = 0;
        if (!c->cert_by_csr) {
                tls[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->key};
                tls[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert};
        }
        if (s->ca)
                tls[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, s->ca};
        s->daemon = MHD_start_daemon(
                MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                        MHD_USE_TLS | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG | MHD_USE_ITC,
                (uint16_t) c->port, accept_policy, s, handle, s, MHD_OPTION_EXTERNAL_LOGGER, logger, NULL,
                MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) UNAUTH_TIMEOUT_S,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned) CONNECTION_LIMIT, MHD_OPTION_NOTIFY_CONNECTION,
                notify_connection, s, MHD_OPTION_HTTPS_CERT_CALLBACK, c->cert_by_csr ? retrieve_cert : NULL,
                MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
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
        /* No new connections, no new requests (handle answers 503), no new proxied streams; the proxied ones
         * closed (MHD wants upgraded connections closed before it stops); then the daemon and its threads;
         * only then the proxies, which those threads use. */
        atomic_store(&s->stopping, true);
        MHD_socket listen_fd = s->daemon ? MHD_quiesce_daemon(s->daemon) : MHD_INVALID_SOCKET;
        stream_proxies_close(s->streams);
        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        if (listen_fd != MHD_INVALID_SOCKET)
                close(listen_fd);
        s->streams = stream_proxies_free(s->streams);
        if (s->c.cert_by_csr) { /* no handshake runs any more */
                pthread_mutex_lock(&tls_lock);
                tls_pairs_free(tls_current);
                tls_current = NULL;
                pthread_mutex_unlock(&tls_lock);
        }
        free(s->unauth);
        pthread_mutex_destroy(&s->conn_lock);
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
