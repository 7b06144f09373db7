/* The agent's end of cubelet-delegate: serves CNI ADD/DEL/CHECK for the runtime with the agent's own
 * configuration, and adds what only the agent knows of the pod (hostPorts, bandwidth, extra networks). */
#include "delegate.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "admission.h"
#include "cni.h"
#include "log.h"
#include "util.h"

#define MAX_REQUEST (4 << 20)

struct delegate {
        struct delegate_config cfg;
        char *socket_path, *conf_dir, *cache_dir;
        char **bin_dirs, **live_ids, **extra_networks;
        int fd;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t idle;
        unsigned active;
        bool stopping;
};

struct request {
        struct delegate *d;
        int fd;
};

static char *kv_arg(const char *args, const char *key)
{
        size_t kl = strlen(key);
        for (const char *p = args; p && *p;) {
                const char *end = strchr(p, ';');
                size_t n = end ? (size_t) (end - p) : strlen(p);
                if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=')
                        return strndup(p + kl + 1, n - kl - 1);
                p = end ? end + 1 : p + n;
        }
        return NULL;
}

/* runtimeConfig for the pod: portMappings from hostPorts, bandwidth from upstream's annotations (bits/s). */
char *delegate_capability_args(const struct pod *pod, char *err, size_t len)
{
        json_t *caps = json_object(), *ports = json_array();
        for (size_t i = 0; i < pod->n_containers; i++)
                for (size_t j = 0; j < pod->containers[i].n_ports; j++) {
                        const struct container_port *p = &pod->containers[i].ports[j];
                        if (p->host_port <= 0)
                                continue;
                        char proto[16];
                        snprintf(proto, sizeof proto, "%s", p->protocol ? p->protocol : "TCP");
                        for (char *c = proto; *c; c++)
                                *c = (char) (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
                        json_t *m = json_pack("{s:i, s:i, s:s}", "hostPort", p->host_port, "containerPort",
                                              p->container_port, "protocol", proto);
                        if (p->host_ip && p->host_ip[0])
                                json_object_set_new(m, "hostIP", json_string(p->host_ip));
                        json_array_append_new(ports, m);
                }
        if (json_array_size(ports))
                json_object_set(caps, "portMappings", ports);
        json_decref(ports);
        static const char *const bw[][2] = {{"kubernetes.io/ingress-bandwidth", "ingress"},
                                            {"kubernetes.io/egress-bandwidth", "egress"}};
        json_t *b = json_object();
        for (size_t i = 0; i < 2; i++) {
                const char *v = pod_annotation(pod, bw[i][0]);
                int64_t milli;
                if (!v)
                        continue;
                if (parse_quantity_milli(v, &milli) < 0 || milli < 1000) {
                        snprintf(err, len, "annotation %s: invalid bandwidth \"%s\"", bw[i][0], v);
                        json_decref(b);
                        json_decref(caps);
                        return NULL;
                }
                char k[32];
                snprintf(k, sizeof k, "%sRate", bw[i][1]);
                json_object_set_new(b, k, json_integer(milli / 1000));
                snprintf(k, sizeof k, "%sBurst", bw[i][1]);
                json_object_set_new(b, k, json_integer(2147483647)); /* as upstream: no burst limit */
        }
        if (json_object_size(b))
                json_object_set(caps, "bandwidth", b);
        json_decref(b);
        char *s = json_dumps(caps, JSON_COMPACT);
        json_decref(caps);
        return s;
}

static json_t *error_reply(const char *version, int code, const char *msg)
{
        json_t *e =
                json_pack("{s:s, s:i, s:s}", "cniVersion", version, "code", code ? code : 100, "msg", msg);
        char *s = json_dumps(e, JSON_COMPACT);
        json_decref(e);
        json_t *r = json_pack("{s:b, s:s}", "ok", 0, "output", s ? s : "");
        free(s);
        return r;
}

static json_t *handle(struct delegate *d, json_t *req)
{
        const char *cmd = json_string_value(json_object_get(req, "command"));
        const char *cid = json_string_value(json_object_get(req, "containerID"));
        const char *netns = json_string_value(json_object_get(req, "netns"));
        const char *ifname = json_string_value(json_object_get(req, "ifname"));
        const char *args = json_string_value(json_object_get(req, "args"));
        const char *config = json_string_value(json_object_get(req, "config"));
        json_t *cj = config ? json_loads(config, 0, NULL) : NULL;
        const char *version = json_string_value(json_object_get(cj, "cniVersion"));
        _cleanup_free_ char *ver = xstrdup(version ? version : "1.0.0");
        json_decref(cj);
        if (!cmd || !cid || !netns || !ifname || !args)
                return error_reply(ver, CNI_ERR_DECODE, "cubelet: malformed delegate request");

        struct cni_exec ex = {.bin_dirs = d->bin_dirs};
        struct cni_error err = {0};
        char msg[4096];
        int64_t t0 = now_mono_ms();
        int r;

        if (streq(cmd, "DEL")) {
                r = cni_detach_container(&ex, d->cache_dir, cid, &err);
                if (r < 0) {
                        snprintf(msg, sizeof msg, "cubelet: %s", err.msg[0] ? err.msg : strerror(-r));
                        return error_reply(ver, err.code, msg);
                }
                log_info("Pod network detached", "podSandboxID=\"%.13s\" attachments=%d durationMs=%lld",
                         cid, r, (long long) (now_mono_ms() - t0));
                return json_pack("{s:b, s:s}", "ok", 1, "output", "");
        }
        if (!streq(cmd, "ADD") && !streq(cmd, "CHECK"))
                return json_pack("{s:b, s:s}", "ok", 1, "output", ""); /* GC, STATUS: nothing to do here */

        _cleanup_free_ char *uid = kv_arg(args, "K8S_POD_UID"), *ns = kv_arg(args, "K8S_POD_NAMESPACE"),
                            *name = kv_arg(args, "K8S_POD_NAME");
        struct cni_config *conf = NULL;
        r = cni_config_load(d->conf_dir, d->bin_dirs, &conf);
        struct cni_network *net = r >= 0 ? cni_config_default(conf) : NULL;
        if (!net) {
                snprintf(msg, sizeof msg, "cubelet: no valid network in %s%s%s", d->conf_dir,
                         conf && conf->n_errors ? ": " : "",
                         conf && conf->n_errors ? conf->errors[0].reason : "");
                cni_config_free(conf);
                return error_reply(ver, CNI_ERR_INVALID_CONFIG, msg);
        }
        struct cni_attachment att = {.container_id = cid, .netns = netns, .ifname = ifname, .args = args};
        if (streq(cmd, "CHECK")) {
                r = cni_check(&ex, d->cache_dir, net, &att, &err);
                cni_config_free(conf);
                if (r < 0 && r != -EOPNOTSUPP) {
                        snprintf(msg, sizeof msg, "cubelet: %s", err.msg[0] ? err.msg : strerror(-r));
                        return error_reply(ver, err.code, msg);
                }
                return json_pack("{s:b, s:s}", "ok", 1, "output", "");
        }

        _cleanup_pod_ struct pod *pod = d->cfg.lookup(d->cfg.userdata, uid, ns, name);
        if (!pod) {
                snprintf(msg, sizeof msg, "cubelet: pod %s/%s is not being started by this agent",
                         ns ? ns : "", name ? name : "");
                cni_config_free(conf);
                return error_reply(ver, CNI_ERR_TRY_AGAIN_LATER, msg);
        }
        /* Admission checked it, but an API pod's annotations may have changed since. */
        _cleanup_free_ char *forbidden = admission_extra_networks_problem(pod, d->extra_networks);
        if (forbidden) {
                snprintf(msg, sizeof msg, "cubelet: %s", forbidden);
                cni_config_free(conf);
                return error_reply(ver, CNI_ERR_INVALID_CONFIG, msg);
        }
        _cleanup_free_ char *caps = delegate_capability_args(pod, msg, sizeof msg);
        if (!caps) {
                cni_config_free(conf);
                return error_reply(ver, CNI_ERR_INVALID_CONFIG, msg);
        }
        att.capability_args = caps;
        struct cni_result *res = NULL;
        r = cni_attach(&ex, d->cache_dir, net, &att, &res, &err);
        if (r < 0) {
                snprintf(msg, sizeof msg, "cubelet: network %s: %s", cni_network_name(net),
                         err.msg[0] ? err.msg : strerror(-r));
                cni_config_free(conf);
                return error_reply(ver, err.code, msg);
        }
        /* Extra networks: net1, net2, ... in the annotation's order; any failure undoes the whole pod. */
        const char *extra = pod_annotation(pod, ANN_EXTRA_NETWORKS);
        _cleanup_free_ char *copy = xstrdup(extra);
        char *save = NULL;
        int i = 0;
        for (char *e = copy ? strtok_r(copy, ", ", &save) : NULL; e && r >= 0;
             e = strtok_r(NULL, ", ", &save)) {
                char ifn[16];
                snprintf(ifn, sizeof ifn, "net%d", ++i);
                struct cni_network *x = cni_config_find(conf, e);
                struct cni_attachment xa = {
                        .container_id = cid, .netns = netns, .ifname = ifn, .args = args};
                struct cni_result *xr = NULL;
                if (!x) {
                        snprintf(msg, sizeof msg,
                                 "cubelet: extra network %s (annotation %s) not found in %s", e,
                                 ANN_EXTRA_NETWORKS, d->conf_dir);
                        r = -ENOENT;
                        err.code = CNI_ERR_INVALID_CONFIG;
                } else if ((r = cni_attach(&ex, d->cache_dir, x, &xa, &xr, &err)) < 0)
                        snprintf(msg, sizeof msg, "cubelet: extra network %s: %s", e,
                                 err.msg[0] ? err.msg : strerror(-r));
                cni_result_free(xr);
        }
        if (r < 0) {
                struct cni_error derr = {0};
                if (cni_detach_container(&ex, d->cache_dir, cid, &derr) < 0)
                        log_warn("Undoing a partial pod network failed, ignoring",
                                 "podSandboxID=\"%.13s\" err=\"%s\"", cid, log_q(derr.msg));
                cni_result_free(res);
                cni_config_free(conf);
                return error_reply(ver, err.code, msg);
        }
        _cleanup_strv_free_ char **ips = NULL;
        cni_result_pod_ips(res, ifname, &ips);
        _cleanup_free_ char *out = NULL;
        r = cni_result_encode(res, ver, &out);
        log_info("Pod network attached",
                 "pod=\"%s/%s\" podSandboxID=\"%.13s\" network=\"%s\" ip=\"%s\" extraNetworks=%d "
                 "durationMs=%lld",
                 pod->namespace, pod->name, cid, cni_network_name(net), ips && ips[0] ? ips[0] : "", i,
                 (long long) (now_mono_ms() - t0));
        cni_result_free(res);
        cni_config_free(conf);
        if (r < 0)
                return error_reply(ver, CNI_ERR_INCOMPATIBLE_VERSION, "cubelet: cannot encode the result");
        return json_pack("{s:b, s:s}", "ok", 1, "output", out);
}

static int write_all(int fd, const char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static void *serve_one(void *arg)
{
        struct request *rq = arg;
        struct delegate *d = rq->d;
        _cleanup_free_ char *buf = OOM_CHECK(malloc(MAX_REQUEST + 1));
        size_t len = 0;
        /* The delegate writes its request at once; a client that does not cannot hold a thread for long. */
        struct timeval tv = {.tv_sec = 10};
        setsockopt(rq->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        for (;;) {
                ssize_t n = read(rq->fd, buf + len, MAX_REQUEST - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0 || (len += (size_t) n) == MAX_REQUEST)
                        break;
        }
        buf[len] = 0;
        json_t *req = json_loads(buf, 0, NULL);
        json_t *reply = req ? handle(d, req) : error_reply("1.0.0", CNI_ERR_DECODE, "cubelet: bad request");
        _cleanup_free_ char *s = json_dumps(reply, JSON_COMPACT);
        if (!s || write_all(rq->fd, s, strlen(s)) < 0)
                log_warn("Cannot answer the CNI delegate, ignoring", "err=\"%s\"", strerror(errno));
        json_decref(req);
        json_decref(reply);
        close(rq->fd);
        free(rq);
        pthread_mutex_lock(&d->lock);
        if (--d->active == 0)
                pthread_cond_broadcast(&d->idle);
        pthread_mutex_unlock(&d->lock);
        return NULL;
}

static void *accept_loop(void *arg)
{
        struct delegate *d = arg;
        struct cni_exec ex = {.bin_dirs = d->bin_dirs};
        struct cni_error err = {0};
        /* Attachments of sandboxes gone while cubelet was away; a minute's grace for one being made now. */
        int r = d->cfg.gc ? cni_cache_gc(&ex, d->cache_dir, d->live_ids, 60000, &err) : 0;
        if (r < 0)
                log_warn("CNI cache GC failed, ignoring", "err=\"%s\"",
                         log_q(err.msg[0] ? err.msg : strerror(-r)));
        else if (r > 0)
                log_info("Released the networks of sandboxes that are gone", "attachments=%d", r);
        for (;;) {
                int fd = accept4(d->fd, NULL, NULL, SOCK_CLOEXEC);
                pthread_mutex_lock(&d->lock);
                bool stopping = d->stopping;
                if (fd >= 0 && !stopping)
                        d->active++;
                pthread_mutex_unlock(&d->lock);
                if (stopping) {
                        if (fd >= 0)
                                close(fd);
                        break;
                }
                if (fd < 0) {
                        if (errno != EINTR && errno != ECONNABORTED)
                                usleep(100000); /* EMFILE and the like: do not spin */
                        continue;
                }
                struct request *rq = OOM_CHECK(calloc(1, sizeof *rq));
                *rq = (struct request){d, fd};
                pthread_t t;
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                if (pthread_create(&t, &attr, serve_one, rq) != 0) {
                        close(fd);
                        free(rq);
                        pthread_mutex_lock(&d->lock);
                        d->active--;
                        pthread_mutex_unlock(&d->lock);
                }
                pthread_attr_destroy(&attr);
        }
        return NULL;
}

static void strv_copy(char ***dst, char *const *src)
{
        for (; src && *src; src++)
                strv_push(dst, xstrdup(*src));
}

int delegate_start(const struct delegate_config *cfg, struct delegate **ret)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(cfg->socket_path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, cfg->socket_path);
        _cleanup_free_ char *dir = xstrdup(cfg->socket_path);
        *strrchr(dir, '/') = 0;
        int r = mkdir_p(dir[0] ? dir : "/", 0750);
        if (r < 0)
                return r;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        unlink(cfg->socket_path); /* a previous agent's */
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || chmod(cfg->socket_path, 0600) < 0 ||
            listen(fd, 64) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        struct delegate *d = OOM_CHECK(calloc(1, sizeof *d));
        d->cfg = *cfg;
        d->fd = fd;
        d->socket_path = xstrdup(cfg->socket_path);
        d->conf_dir = xstrdup(cfg->conf_dir);
        d->cache_dir = xstrdup(cfg->cache_dir);
        strv_copy(&d->bin_dirs, cfg->bin_dirs);
        strv_copy(&d->live_ids, cfg->live_ids);
        strv_copy(&d->extra_networks, cfg->allowed_extra_networks);
        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->idle, NULL);
        r = pthread_create(&d->thread, NULL, accept_loop, d);
        if (r != 0) {
                d->thread = 0;
                delegate_stop(d);
                return -r;
        }
        (void) pthread_setname_np(d->thread, "cni-delegate");
        *ret = d;
        return 0;
}

struct delegate *delegate_stop(struct delegate *d)
{
        if (!d)
                return NULL;
        pthread_mutex_lock(&d->lock);
        d->stopping = true;
        pthread_mutex_unlock(&d->lock);
        shutdown(d->fd, SHUT_RDWR); /* wakes accept() */
        if (d->thread)
                pthread_join(d->thread, NULL);
        pthread_mutex_lock(&d->lock);
        while (d->active > 0)
                pthread_cond_wait(&d->idle, &d->lock);
        pthread_mutex_unlock(&d->lock);
        close(d->fd);
        unlink(d->socket_path);
        pthread_mutex_destroy(&d->lock);
        pthread_cond_destroy(&d->idle);
        free(d->socket_path);
        free(d->conf_dir);
        free(d->cache_dir);
        strv_free(d->bin_dirs);
        strv_free(d->live_ids);
        strv_free(d->extra_networks);
        free(d);
        return NULL;
}
