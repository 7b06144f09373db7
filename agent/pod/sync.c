/* One pod's runtime work: make the runtime match the desired spec (sandbox, images, containers, restarts),
 * or tear the pod down. Runs on a pod worker thread; the only code that changes a pod's containers. */
#include "sync.h"
#include "eviction.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "arena.h"
#include "backoff.h"
#include "credentials.h"
#include "keyring.h"
#include "objcache.h"
#include "puller.h"
#include "reference.h"
#include "dns.h"
#include "envvars.h"
#include "expansion.h"
#include "logs.h"
#include "security.h"
#include "events.h"
#include "manager.h"
#include "network.h"
#include "probe_net.h"
#include "prober.h"
#include "logs.h"
#include "qos_cgroups.h"
#include "runtimeclass.h"
#include "status.h"
#include "volume.h"
#include "cri.h"
#include "log.h"
#include "logrotate.h"
#include "util.h"

/* Every CRI map entry has this layout: a message header, key, value. */
struct pb_kv {
        ProtobufCMessage base;
        char *key;
        char *value;
};

struct pb_map {
        struct pb_kv **items;
        size_t n, cap;
};

static void map_add(struct arena *a, struct pb_map *m, const ProtobufCMessageDescriptor *d, const char *k,
                    const char *v)
{
        for (size_t i = 0; i < m->n; i++)
                if (streq(m->items[i]->key, k)) { /* later wins, as a Go map would */
                        m->items[i]->value = arena_strdup(a, v);
                        return;
                }
        if (m->n == m->cap) {
                struct pb_kv **n = arena_alloc(a, (m->cap * 2 + 8) * sizeof *n);
                if (m->n)
                        memcpy(n, m->items, m->n * sizeof *n);
                m->items = n;
                m->cap = m->cap * 2 + 8;
        }
        struct pb_kv *e = arena_alloc(a, d->sizeof_message);
        protobuf_c_message_init(d, e);
        e->key = arena_strdup(a, k);
        e->value = arena_strdup(a, v);
        m->items[m->n++] = e;
}

#define MAP_SET(msg, field, m)                                                                              \
        do {                                                                                                \
                (msg)->field = (__typeof__((msg)->field)) (m).items;                                        \
                (msg)->n_##field = (m).n;                                                                   \
        } while (0)

#define KV_GET(entries_, n_, want_)                                                                         \
        ({                                                                                                  \
                const char *_v = NULL;                                                                      \
                for (size_t _i = 0; _i < (n_) && !_v; _i++)                                                 \
                        if (streq((entries_)[_i]->key, (want_)))                                            \
                                _v = (entries_)[_i]->value;                                                 \
                _v;                                                                                         \
        })

static void res_error(struct sync_result *res, const char *reason, const char *fmt, ...) _printf_(3, 4);
static void res_error(struct sync_result *res, const char *reason, const char *fmt, ...)
{
        va_list ap;
        if (res->error[0]) /* keep the first failure: the later ones follow from it */
                return;
        snprintf(res->reason, sizeof res->reason, "%s", reason);
        va_start(ap, fmt);
        vsnprintf(res->error, sizeof res->error, fmt, ap);
        va_end(ap);
}

#define pod_event(ctx, pod, fp, type, reason, ...)                                                          \
        do {                                                                                                \
                if ((ctx)->events)                                                                          \
                        events_record((ctx)->events, (pod)->namespace, (pod)->name, (pod)->uid, (fp),       \
                                      (type), (reason), __VA_ARGS__);                                       \
        } while (0)

/* A container-level reason, for the container's waiting state. */
static void res_wait(struct sync_result *res, const char *name, const char *reason, const char *msg)
{
        if (res->n_waits >= SYNC_MAX_WAITS)
                return;
        snprintf(res->waits[res->n_waits].name, sizeof res->waits[0].name, "%s", name);
        snprintf(res->waits[res->n_waits].reason, sizeof res->waits[0].reason, "%s", reason);
        snprintf(res->waits[res->n_waits].message, sizeof res->waits[0].message, "%s", msg);
        res->n_waits++;
}

/* A container's failure: the pod's error (first wins) and the container's waiting reason. */
static void res_cerror(struct sync_result *res, const char *name, const char *reason, const char *fmt, ...)
        _printf_(4, 5);
static void res_cerror(struct sync_result *res, const char *name, const char *reason, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        res_error(res, reason, "%s", msg);
        res_wait(res, name, reason, msg);
}

static const char *cri_msg(const struct cri_error *e, int r)
{
        return e->msg[0] ? e->msg : strerror(-r);
}

/* ---- listing ---- */

struct pod_runtime {
        Runtime__V1__ListPodSandboxResponse *sandboxes;
        Runtime__V1__ListContainersResponse *containers;
};

static void pod_runtime_done(struct pod_runtime *rt)
{
        cri_free(rt->sandboxes);
        cri_free(rt->containers);
}

static int list_pod(const struct sync_ctx *ctx, const char *uid, struct pod_runtime *rt,
                    struct cri_error *err)
{
        _cleanup_arena_ struct arena a = {0};
        struct pb_map sel = {0};
        Runtime__V1__PodSandboxFilter sf = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
        Runtime__V1__ContainerFilter cf = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__ListPodSandboxRequest sreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        int r;

        map_add(&a, &sel, &runtime__v1__pod_sandbox_filter__label_selector_entry__descriptor, LABEL_POD_UID,
                uid);
        MAP_SET(&sf, label_selector, sel);
        sreq.filter = &sf;
        /* The entry descriptors differ only in name; the wire format is the same. */
        struct pb_map csel = {0};
        map_add(&a, &csel, &runtime__v1__container_filter__label_selector_entry__descriptor, LABEL_POD_UID,
                uid);
        MAP_SET(&cf, label_selector, csel);
        creq.filter = &cf;

        *rt = (struct pod_runtime){0};
        r = CRI_CALL(ctx->cri, RuntimeService, ListPodSandbox, list_pod_sandbox, &sreq, &rt->sandboxes,
                     ctx->timeout_ms, err);
        if (r < 0)
                return r;
        r = CRI_CALL(ctx->cri, RuntimeService, ListContainers, list_containers, &creq, &rt->containers,
                     ctx->timeout_ms, err);
        if (r < 0) {
                pod_runtime_done(rt);
                return r;
        }
        return 0;
}

static Runtime__V1__PodSandbox *newest_sandbox(const struct pod_runtime *rt)
{
        Runtime__V1__PodSandbox *best = NULL;
        for (size_t i = 0; i < rt->sandboxes->n_items; i++) {
                Runtime__V1__PodSandbox *s = rt->sandboxes->items[i];
                if (!best || s->created_at > best->created_at)
                        best = s;
        }
        return best;
}

static Runtime__V1__Container *latest_container(const struct pod_runtime *rt, const char *name)
{
        Runtime__V1__Container *best = NULL;
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *c = rt->containers->containers[i];
                const char *n = c->metadata ? c->metadata->name : NULL;
                if (!streq_ptr(n, name))
                        continue;
                if (!best || c->created_at > best->created_at)
                        best = c;
        }
        return best;
}

static int container_restart_count(const Runtime__V1__Container *c)
{
        const char *v = KV_GET(c->annotations, c->n_annotations, ANN_CONTAINER_RESTARTS);
        return v ? atoi(v) : (c->metadata ? (int) c->metadata->attempt : 0);
}

/* ---- pod directories and files ---- */

static char *pod_dir(const struct sync_ctx *ctx, const char *uid)
{
        return strdup_printf("%s/pods/%s", ctx->root_dir, uid);
}

static char *pod_log_dir(const struct sync_ctx *ctx, const struct pod *pod)
{
        return strdup_printf("%s/%s_%s_%s", ctx->pod_logs_dir, pod->namespace, pod->name, pod->uid);
}

/* A container start in flight: <pod dir>/starting-<container ID>, made before StartContainer and removed once
 * its outcome is known. One left behind names a start whose outcome no cubelet saw (it was killed). NULL
 * for an ID that is not a plain name (it comes from the runtime). */
static char *start_marker(const struct sync_ctx *ctx, const char *uid, const char *id)
{
        size_t n = strlen(id);
        if (n == 0 || n > 128)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) id[i]))
                        return NULL;
        return strdup_printf("%s/pods/%s/starting-%s", ctx->root_dir, uid, id);
}

/* Sets up or refreshes the pod's volumes (every sync: updated ConfigMaps and Secrets reach running pods).
 * On failure the containers wait in ContainerCreating, as upstream's volume manager makes them. */
static int setup_volumes(const struct sync_ctx *ctx, const struct pod *pod, struct sync_result *res)
{
        struct vol_ctx vctx = {.root_dir = ctx->root_dir,
                               .objects = ctx->objects,
                               .tokens = ctx->tokens,
                               .host_ip = ctx->node_ip,
                               .node_cpu_m = ctx->node_cpu_m,
                               .node_mem = ctx->node_mem,
                               .timeout_ms = MIN(ctx->timeout_ms, (int64_t) 10000)};
        char err[1024];
        int r = vol_setup_pod(&vctx, pod, err, sizeof err);
        if (r < 0) {
                res_error(res, "FailedMount", "%s", err);
                for (size_t i = 0; i < pod->n_containers; i++)
                        res_wait(res, pod->containers[i].name, "ContainerCreating", "");
        }
        return r;
}

/* ---- sandbox ---- */

static char **arena_strv(struct arena *a, char *const *v, size_t *ret_n)
{
        size_t n = strv_length(v);
        char **out = arena_alloc(a, (n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++)
                out[i] = arena_strdup(a, v[i]);
        *ret_n = n;
        return out;
}

/* Upstream's GetPodDNS, its events included. An empty configuration means the runtime's default (the
 * node's resolv.conf); a None policy always has a nameserver (validation). */
static Runtime__V1__DNSConfig *dns_config(struct arena *a, const struct sync_ctx *ctx, const struct pod *pod,
                                          char **ret_err)
{
        struct dns_settings ds = {.cluster_dns = ctx->cluster_dns,
                                  .cluster_domain = ctx->cluster_domain,
                                  .resolv_conf = ctx->resolv_conf,
                                  .node_ip = ctx->node_ip};
        struct resolv rv = {0};
        _cleanup_strv_free_ char **events = NULL;
        int r = pod_dns_config(&ds, pod, &rv, &events, ret_err);
        for (size_t i = 0; events && events[i] && events[i + 1]; i += 2)
                pod_event(ctx, pod, NULL, EVENT_WARNING, events[i], "%s", events[i + 1]);
        if (r < 0)
                return NULL;
        Runtime__V1__DNSConfig *dns = arena_alloc(a, sizeof *dns);
        runtime__v1__dnsconfig__init(dns);
        dns->servers = arena_strv(a, rv.servers, &dns->n_servers);
        dns->searches = arena_strv(a, rv.searches, &dns->n_searches);
        dns->options = arena_strv(a, rv.options, &dns->n_options);
        resolv_done(&rv);
        return dns;
}

static Runtime__V1__NamespaceOption *ns_options(struct arena *a, const struct pod *pod)
{
        Runtime__V1__NamespaceOption *ns = arena_alloc(a, sizeof *ns);
        runtime__v1__namespace_option__init(ns);
        ns->network =
                pod->host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE : RUNTIME__V1__NAMESPACE_MODE__POD;
        /* shareProcessNamespace: the sandbox and every container in one PID namespace (the pause process is
         * its init). */
        ns->pid = pod->host_pid                  ? RUNTIME__V1__NAMESPACE_MODE__NODE
                  : pod->share_process_namespace ? RUNTIME__V1__NAMESPACE_MODE__POD
                                                 : RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
        ns->ipc = pod->host_ipc ? RUNTIME__V1__NAMESPACE_MODE__NODE : RUNTIME__V1__NAMESPACE_MODE__POD;
        return ns;
}

/* Upstream's generatePodSandboxConfig: NULL with *ret_err when the pod's DNS or hostname cannot be made. */
static Runtime__V1__PodSandboxConfig *sandbox_config(struct arena *a, const struct sync_ctx *ctx,
                                                     const struct pod *pod, uint32_t attempt, char **ret_err)
{
        Runtime__V1__PodSandboxConfig *cfg = arena_alloc(a, sizeof *cfg);
        Runtime__V1__PodSandboxMetadata *md = arena_alloc(a, sizeof *md);
        Runtime__V1__LinuxPodSandboxConfig *lx = arena_alloc(a, sizeof *lx);
        Runtime__V1__LinuxSandboxSecurityContext *sc = arena_alloc(a, sizeof *sc);
        struct pb_map labels = {0}, ann = {0};
        _cleanup_free_ char *logdir = pod_log_dir(ctx, pod);

        runtime__v1__pod_sandbox_config__init(cfg);
        runtime__v1__pod_sandbox_metadata__init(md);
        runtime__v1__linux_pod_sandbox_config__init(lx);
        runtime__v1__linux_sandbox_security_context__init(sc);
        md->name = pod->name;
        md->uid = pod->uid;
        md->namespace_ = pod->namespace;
        md->attempt = attempt;
        cfg->metadata = md;
        cfg->dns_config = dns_config(a, ctx, pod, ret_err);
        if (!cfg->dns_config)
                return NULL;
        if (!pod->host_network) { /* a hostNetwork pod has the node's */
                _cleanup_free_ char *host = NULL;
                if (pod_kernel_hostname(pod, ctx->cluster_domain, &host, ret_err) < 0)
                        return NULL;
                cfg->hostname = arena_strdup(a, host);
        }
        cfg->log_directory = arena_strdup(a, logdir);

        for (size_t i = 0; i < pod->n_labels; i++)
                map_add(a, &labels, &runtime__v1__pod_sandbox_config__labels_entry__descriptor,
                        pod->labels[i].key, pod->labels[i].value);
        map_add(a, &labels, &runtime__v1__pod_sandbox_config__labels_entry__descriptor, LABEL_POD_NAME,
                pod->name);
        map_add(a, &labels, &runtime__v1__pod_sandbox_config__labels_entry__descriptor, LABEL_POD_NAMESPACE,
                pod->namespace);
        map_add(a, &labels, &runtime__v1__pod_sandbox_config__labels_entry__descriptor, LABEL_POD_UID,
                pod->uid);
        for (size_t i = 0; i < pod->n_annotations; i++)
                map_add(a, &ann, &runtime__v1__pod_sandbox_config__annotations_entry__descriptor,
                        pod->annotations[i].key, pod->annotations[i].value);
        MAP_SET(cfg, labels, labels);
        MAP_SET(cfg, annotations, ann);

        /* Host ports of every container become the sandbox's port mappings. */
        size_t np = 0;
        for (size_t i = 0; i < pod->n_containers; i++)
                np += pod->containers[i].n_ports;
        cfg->port_mappings = arena_alloc(a, (np + 1) * sizeof(Runtime__V1__PortMapping *));
        for (size_t i = 0; i < pod->n_containers; i++)
                for (size_t j = 0; j < pod->containers[i].n_ports; j++) {
                        const struct container_port *p = &pod->containers[i].ports[j];
                        if (p->host_port <= 0)
                                continue;
                        Runtime__V1__PortMapping *pm = arena_alloc(a, sizeof *pm);
                        runtime__v1__port_mapping__init(pm);
                        pm->protocol = streq_ptr(p->protocol, "UDP")    ? RUNTIME__V1__PROTOCOL__UDP
                                       : streq_ptr(p->protocol, "SCTP") ? RUNTIME__V1__PROTOCOL__SCTP
                                                                        : RUNTIME__V1__PROTOCOL__TCP;
                        pm->container_port = p->container_port;
                        pm->host_port = p->host_port;
                        pm->host_ip = p->host_ip;
                        cfg->port_mappings[cfg->n_port_mappings++] = pm;
                }

        sc->namespace_options = ns_options(a, pod);
        if (ctx->security)
                sandbox_security(a, ctx->security, pod, sc, lx);
        lx->security_context = sc;
        if (ctx->cgroups) { /* the runtime puts the sandbox and every container under the pod cgroup */
                _cleanup_free_ char *parent = qos_pod_cgroup_parent(ctx->cgroups, pod);
                lx->cgroup_parent = arena_strdup(a, parent);
        }
        cfg->linux = lx;
        return cfg;
}

static int create_sandbox(const struct sync_ctx *ctx, struct pod *pod, Runtime__V1__PodSandboxConfig *cfg,
                          char **ret_id, char **ret_ip, struct sync_result *res)
{
        Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__RunPodSandboxResponse *resp = NULL;
        struct cri_error err = {0};
        int r;

        r = mkdir_p(cfg->log_directory, 0755);
        if (r < 0) {
                res_error(res, "FailedCreatePodSandBox", "create log directory %s: %s", cfg->log_directory,
                          strerror(-r));
                return r;
        }
        /* runtimeClassName: its RuntimeClass's handler names the runtime's configuration. Without an API
         * server there is nothing to resolve it with, and upstream then runs the default handler. */
        _cleanup_free_ char *handler = NULL;
        if (ctx->runtime_classes) {
                char why[512];
                r = rc_cache_handler(ctx->runtime_classes, pod->runtime_class_name, &handler, why,
                                     sizeof why);
                if (r < 0) {
                        res_error(res, "FailedCreatePodSandBox", "Failed to create pod sandbox: %s", why);
                        return r;
                }
                if (handler[0])
                        log_v(2, "Running pod with RuntimeHandler", "pod=\"%s/%s\" runtimeHandler=\"%s\"",
                              pod->namespace, pod->name, handler);
        } else if (pod->runtime_class_name && pod->runtime_class_name[0] && ctx->api_server) {
                /* The watch could not start: never fall back to the default handler (a pod asking for a
                 * sandboxed runtime would run on runc). */
                res_error(res, "FailedCreatePodSandBox",
                          "Failed to create pod sandbox: RuntimeClass \"%s\" cannot be resolved: the "
                          "RuntimeClass watch is not running",
                          pod->runtime_class_name);
                return -EAGAIN;
        } else if (pod->runtime_class_name && pod->runtime_class_name[0])
                log_warn("No API server to resolve the pod's RuntimeClass; running it with the runtime's "
                         "default handler, as upstream",
                         "pod=\"%s/%s\" runtimeClassName=\"%s\"", pod->namespace, pod->name,
                         pod->runtime_class_name);
        req.config = cfg;
        req.runtime_handler = handler ? handler : "";
        /* Sandboxes may take a while (CNI); give them the image-pull deadline. */
        r = CRI_CALL(ctx->cri, RuntimeService, RunPodSandbox, run_pod_sandbox, &req, &resp,
                     ctx->image_pull_timeout_ms, &err);
        if (r < 0) {
                res_error(res, "FailedCreatePodSandBox", "Failed to create pod sandbox: %s",
                          cri_msg(&err, r));
                return r;
        }
        *ret_id = xstrdup(resp->pod_sandbox_id);

        Runtime__V1__PodSandboxStatusRequest sreq = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__PodSandboxStatusResponse *sresp = NULL;
        sreq.pod_sandbox_id = resp->pod_sandbox_id;
        r = CRI_CALL(ctx->cri, RuntimeService, PodSandboxStatus, pod_sandbox_status, &sreq, &sresp,
                     ctx->timeout_ms, &err);
        if (r >= 0 && sresp->status && sresp->status->network)
                *ret_ip = xstrdup(sresp->status->network->ip);
        return 0;
}

/* Upstream's syncPod: the pod cgroup exists, with the pod's values, before anything of the pod runs in it.
 * Returns 1 when it was just made. */
static int ensure_pod_cgroup(const struct sync_ctx *ctx, struct pod *pod, struct sync_result *res)
{
        struct cg_error err = {{0}};
        int r = qos_pod_ensure(ctx->cgroups, pod, &err);
        if (r < 0) {
                const char *why = err.msg[0] ? err.msg : strerror(-r);
                res_error(res, "FailedCreatePodContainer",
                          "failed to ensure that the pod: %s cgroups exist and are correctly applied: %s",
                          pod->uid, why);
                pod_event(ctx, pod, NULL, EVENT_WARNING, "FailedCreatePodContainer",
                          "unable to ensure pod container exists: %s", why);
        }
        return r;
}

/* ---- images ---- */

/* upstream's getPullSecretsForPod + MakeDockerKeyring: the pod's imagePullSecrets (API pods only; static
 * pods use the node's credentials). A secret that cannot be read is passed over with a warning, as
 * upstream; one that is broken fails the pull (-EINVAL, err says why). NULL and 0 when there are none. */
static int pod_pull_keyring(const struct sync_ctx *ctx, const struct pod *pod, struct keyring **ret,
                            char *err, size_t err_len)
{
        json_t *secrets = json_object_get(json_object_get(pod->json, "spec"), "imagePullSecrets"), *ref;
        size_t i;
        *ret = NULL;
        if (!ctx->objects || pod_is_static(pod) || json_array_size(secrets) == 0)
                return 0;
        struct keyring *k = keyring_new();
        json_array_foreach(secrets, i, ref)
        {
                const char *name = json_string_value(json_object_get(ref, "name"));
                json_t *secret = NULL;
                char why[512];
                if (!name || !*name)
                        continue;
                /* Bounded as the environment's reads are: an unreachable API server must not hold a pod
                 * worker for minutes per secret. */
                int r = obj_cache_get(ctx->objects, "secrets", pod->namespace, name,
                                      MIN(ctx->timeout_ms, (int64_t) 10000), &secret, why, sizeof why);
                if (r < 0) {
                        log_warn("Unable to retrieve pull secret; the image pull may not succeed",
                                 "pod=\"%s/%s\" secret=\"%s\" err=\"%s\"", pod->namespace, pod->name, name,
                                 log_q(r == -ENOENT ? "not found" : why));
                        continue;
                }
                r = keyring_add_pull_secret(k, secret, why, sizeof why);
                json_decref(secret);
                if (r < 0) {
                        snprintf(err, err_len, "pull secret \"%s\": %s", name, why);
                        keyring_free(k);
                        return r;
                }
        }
        *ret = k;
        return 0;
}

/* The credentials a pull of repo tries, in order (pod's pull secrets, then the node's). */
static int pull_credentials(const struct sync_ctx *ctx, const struct pod *pod, const char *repo,
                            struct docker_auth **ret, size_t *ret_n, char *err, size_t err_len)
{
        _cleanup_(keyring_freep) struct keyring *pod_keys = NULL;
        *ret = NULL;
        *ret_n = 0;
        int r = pod_pull_keyring(ctx, pod, &pod_keys, err, err_len);
        if (r < 0)
                return r;
        if (ctx->credentials)
                image_credentials_lookup(ctx->credentials, pod_keys, repo, ret, ret_n);
        return 0;
}

/* An ended pull, as upstream reports it: Pulled with its duration, or ErrImagePull (the status says what
 * the runtime said; the event and the log name the image too) and the next back-off step. */
static int pull_outcome(const struct sync_ctx *ctx, const struct pod *pod, const struct container *c,
                        const char *fp, const char *key, enum pull_state st, struct pull_outcome *o,
                        char **ret_ref, struct sync_result *res)
{
        if (st == PULL_FAILED) {
                if (ctx->backoff)
                        backoff_next(ctx->backoff, key, now_mono_ms(), now_mono_ms());
                res_cerror(res, c->name, "ErrImagePull", "%s", o->err);
                snprintf(res->error, sizeof res->error, "Failed to pull image \"%.200s\": %.700s", c->image,
                         o->err);
                pod_event(ctx, pod, fp, EVENT_WARNING, "Failed", "%s", res->error);
                return -EIO;
        }
        char took[32];
        format_duration_ms(o->duration_ms, took,
                           sizeof took); /* Go's time.Duration, as upstream prints it */
        pod_event(ctx, pod, fp, EVENT_NORMAL, "Pulled", "Successfully pulled image \"%s\" in %s", c->image,
                  took);
        *ret_ref = o->image_ref;
        return 0;
}

static int ensure_image(const struct sync_ctx *ctx, const struct pod *pod, const struct container *c,
                        const char *fp, char **ret_ref, struct sync_result *res)
{
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__ImageStatusRequest sreq = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ImageStatusResponse *sresp = NULL;
        struct cri_error err = {0};
        struct image_ref ref;
        char why[2048];
        int r;

        /* upstream's applyDefaultImageTag: a reference that does not parse is InvalidImageName, and the
         * runtime is never asked; one without tag or digest gets ":latest". */
        if (image_ref_parse(c->image, &ref, why, sizeof why) < 0) {
                res_cerror(res, c->name, "InvalidImageName",
                           "Failed to apply default image tag \"%s\": couldn't parse image reference "
                           "\"%s\": %s",
                           c->image, c->image, why);
                pod_event(ctx, pod, fp, EVENT_WARNING, "InspectFailed", "%s", res->error);
                return -EINVAL;
        }
        _cleanup_free_ char *image =
                ref.tag_defaulted ? strdup_printf("%s:latest", c->image) : xstrdup(c->image);
        _cleanup_free_ char *repo = xstrdup(ref.repo);
        image_ref_done(&ref);
        /* upstream's image back-off key: per pod and image. It starts with the pod's UID, as the crash-loop
         * keys, so both go when the pod does. */
        _cleanup_free_ char *key = strdup_printf("%s_%s", pod->uid, c->image);

        /* A pull this pod asked for and that has ended is its answer first (the image may be present by
         * now, and the outcome must not be left behind); one still running means wait. */
        struct pull_outcome o = {0};
        enum pull_state st = image_puller_take(ctx->puller, pod->uid, image, &o);
        if (st == PULL_RUNNING)
                return -EINPROGRESS;
        if (st == PULL_DONE || st == PULL_FAILED)
                return pull_outcome(ctx, pod, c, fp, key, st, &o, ret_ref, res);

        spec.image = image;
        sreq.image = &spec;
        r = CRI_CALL(ctx->cri, ImageService, ImageStatus, image_status, &sreq, &sresp, ctx->timeout_ms,
                     &err);
        if (r < 0) {
                /* upstream's GetImageRef failure: ImageInspectError with an InspectFailed event */
                res_cerror(res, c->name, "ImageInspectError", "Failed to inspect image \"%s\": %s", c->image,
                           cri_msg(&err, r));
                pod_event(ctx, pod, fp, EVENT_WARNING, "InspectFailed", "Failed to inspect image \"%s\": %s",
                          c->image, cri_msg(&err, r));
                return r;
        }
        bool present = sresp->image && sresp->image->id && sresp->image->id[0];
        if (present && !streq(c->image_pull_policy, "Always")) {
                pod_event(ctx, pod, fp, EVENT_NORMAL, "Pulled",
                          "Container image \"%s\" already present on machine", c->image);
                *ret_ref = xstrdup(sresp->image->id);
                return 0;
        }
        if (!present && streq(c->image_pull_policy, "Never")) {
                res_cerror(res, c->name, "ErrImageNeverPull",
                           "Container image \"%s\" is not present with pull policy of Never", c->image);
                pod_event(ctx, pod, fp, EVENT_WARNING, "ErrImageNeverPull", "%s", res->error);
                return -ENOENT;
        }

        /* upstream's image back-off: 10 s doubling to 300 s from each failed pull. */
        int64_t left;
        if (ctx->backoff && backoff_in_backoff_since_update(ctx->backoff, key, now_mono_ms(), &left)) {
                res_cerror(res, c->name, "ImagePullBackOff", "Back-off pulling image \"%s\"", c->image);
                pod_event(ctx, pod, fp, EVENT_NORMAL, "BackOff", "Back-off pulling image \"%s\"", c->image);
                res->requeue_ms = res->requeue_ms ? MIN(res->requeue_ms, left + 50) : left + 50;
                return -EAGAIN;
        }
        /* The pull runs on the puller's threads: this pod waits in ContainerCreating and is woken when it
         * ends; other pods never wait for it. */
        struct docker_auth *auths = NULL;
        size_t nauth = 0;
        st = PULL_FAILED;
        bool first = false;
        if (pull_credentials(ctx, pod, repo, &auths, &nauth, o.err, sizeof o.err) >= 0)
                st = image_puller_request(ctx->puller, pod->uid, image, auths, nauth, &first, &o);
        docker_auths_free(auths, nauth);
        if (st == PULL_RUNNING) {
                if (first)
                        pod_event(ctx, pod, fp, EVENT_NORMAL, "Pulling", "Pulling image \"%s\"", c->image);
                return -EINPROGRESS;
        }
        return pull_outcome(ctx, pod, c, fp, key, st, &o, ret_ref, res);
}

static int stop_container(const struct sync_ctx *ctx, const char *id, int64_t grace_s,
                          struct cri_error *err);

/* ---- lifecycle hooks ---- */

/* The sandbox's IP, for httpGet handlers. */
static char *sandbox_ip(const struct sync_ctx *ctx, const char *sandbox_id)
{
        Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__PodSandboxStatusResponse *resp = NULL;
        struct cri_error err = {0};
        req.pod_sandbox_id = (char *) sandbox_id;
        if (CRI_CALL(ctx->cri, RuntimeService, PodSandboxStatus, pod_sandbox_status, &req, &resp,
                     ctx->timeout_ms, &err) < 0 ||
            !resp->status || !resp->status->network)
                return NULL;
        return xstrdup(resp->status->network->ip);
}

/* Runs a lifecycle handler against a container: 0, or -EIO with out saying why. */
static int run_handler(const struct sync_ctx *ctx, const struct probe_spec *h, const char *container_id,
                       const char *sandbox_id, int64_t timeout_s, char *out, size_t len)
{
        out[0] = 0;
        switch (h->kind) {
        case PROBE_EXEC:
                return probe_exec(ctx->cri, container_id, h->command, timeout_s, out, len) == PROBE_SUCCESS
                               ? 0
                               : -EIO;
        case PROBE_TCP_SOCKET:
                /* Upstream's handler runner knows exec and httpGet only: a tcpSocket hook fails. */
                snprintf(out, len, "Cannot run handler: invalid handler: tcpSocket");
                return -EIO;
        case PROBE_HTTP_GET: {
                _cleanup_free_ char *ip =
                        h->host && h->host[0] ? xstrdup(h->host) : sandbox_ip(ctx, sandbox_id);
                if (!ip || !ip[0]) {
                        snprintf(out, len, "no pod IP to send the hook to");
                        return -EIO;
                }
                struct probe_header *hd = OOM_CHECK(calloc(h->n_headers + 1, sizeof *hd));
                for (size_t i = 0; i < h->n_headers; i++)
                        hd[i] = (struct probe_header){h->headers[i].name, h->headers[i].value};
                struct probe_http ph = {.scheme = h->scheme,
                                        .host = ip,
                                        .port = h->port,
                                        .path = h->path,
                                        .headers = hd,
                                        .n_headers = h->n_headers,
                                        .timeout_ms = timeout_s * 1000};
                enum probe_result pr = probe_http_get(&ph, out, len);
                free(hd);
                return pr == PROBE_SUCCESS ? 0 : -EIO;
        }
        case PROBE_SLEEP: {
                struct timespec ts = {.tv_sec = MIN(h->sleep_s, timeout_s)};
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                return 0;
        }
        default:
                snprintf(out, len, "unsupported handler");
                return -EIO;
        }
}

/* ---- the pod's /etc/hosts ---- */

/* The sandbox's IPs, the primary first; NULL when it has none. */
static char **sandbox_ips(const struct sync_ctx *ctx, const char *sandbox_id)
{
        Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__PodSandboxStatusResponse *resp = NULL;
        struct cri_error err = {0};
        char **ips = NULL;
        req.pod_sandbox_id = (char *) sandbox_id;
        if (CRI_CALL(ctx->cri, RuntimeService, PodSandboxStatus, pod_sandbox_status, &req, &resp,
                     ctx->timeout_ms, &err) < 0 ||
            !resp->status || !resp->status->network || !resp->status->network->ip ||
            !resp->status->network->ip[0])
                return NULL;
        strv_push(&ips, xstrdup(resp->status->network->ip));
        for (size_t i = 0; i < resp->status->network->n_additional_ips; i++)
                if (resp->status->network->additional_ips[i]->ip[0])
                        strv_push(&ips, xstrdup(resp->status->network->additional_ips[i]->ip));
        return ips;
}

/* Upstream's makeHostsMount, at every container start: the pod's managed hosts file (a hostNetwork pod's is
 * the node's, with the pod's aliases). Returns 1 with *ret_path to mount there, 0 when a pod on the pod
 * network has no IP yet (nothing is mounted then, as upstream), or -errno with why. */
static int write_hosts_file(const struct sync_ctx *ctx, const struct pod *pod, const char *sandbox_id,
                            char **ret_path, char *why, size_t len)
{
        _cleanup_free_ char *content = NULL, *err = NULL;
        int r;
        if (pod->host_network) {
                r = hosts_node_content("/etc/hosts", pod, &content, &err);
                if (r < 0) {
                        snprintf(why, len, "%s", err);
                        return r;
                }
        } else {
                _cleanup_strv_free_ char **ips = sandbox_ips(ctx, sandbox_id);
                _cleanup_free_ char *host = NULL, *domain = NULL;
                if (!ips)
                        return 0;
                r = pod_hostname_domain(pod, ctx->cluster_domain, &host, &domain, &err);
                if (r < 0) {
                        snprintf(why, len, "%s", err);
                        return r;
                }
                content = hosts_managed_content(ips, host, domain, pod);
        }
        _cleanup_free_ char *path = strdup_printf("%s/pods/%s/etc-hosts", ctx->root_dir, pod->uid);
        r = write_file_atomic(path, content, strlen(content), 0644);
        if (r < 0) {
                snprintf(why, len, "open %s: %s", path, strerror(-r));
                return r;
        }
        *ret_path = TAKE_PTR(path);
        return 1;
}

/* ---- resources ---- */

#define OOM_ADJ_GUARANTEED  (-997)
#define OOM_ADJ_BEST_EFFORT 1000

static int64_t node_memory_bytes(void)
{
        static int64_t cached;
        if (!cached) {
                _cleanup_free_ char *buf = NULL;
                long long kb = 0;
                if (read_file_limit("/proc/meminfo", 1 << 16, &buf, NULL) >= 0 &&
                    sscanf(buf, "MemTotal: %lld kB", &kb) == 1)
                        cached = kb * 1024;
        }
        return cached;
}

/* Upstream's container resources: shares from the request, quota from the limit, the memory limit, and
 * oom_score_adj by QoS class. (The pod-level cgroups come with the cgroups work.) */
static void container_resources(const struct pod *pod, const struct container *c,
                                Runtime__V1__LinuxContainerResources *r)
{
        /* The cgroups library's arithmetic: clamped, no overflow for a manifest's 9e18m of cpu. */
        r->cpu_shares = cg_milli_to_shares(c->cpu_request_m);
        if (c->cpu_limit_m > 0) {
                r->cpu_period = CG_QUOTA_PERIOD_US;
                r->cpu_quota = cg_milli_to_quota(c->cpu_limit_m, CG_QUOTA_PERIOD_US);
        }
        if (c->mem_limit > 0)
                r->memory_limit_in_bytes = c->mem_limit;
        const char *qos = pod_qos_class(pod);
        /* Critical pods (static pods among them) are the last the kernel kills, as upstream. */
        if (pod_is_critical(pod) || streq(qos, "Guaranteed"))
                r->oom_score_adj = OOM_ADJ_GUARANTEED;
        else if (streq(qos, "BestEffort"))
                r->oom_score_adj = OOM_ADJ_BEST_EFFORT;
        else {
                int64_t cap = node_memory_bytes();
                /* 1000 - 1000 * request / capacity, without overflow for huge requests */
                int64_t adj = cap > 0 && c->mem_request > 0
                                      ? (c->mem_request >= cap
                                                 ? 0
                                                 : 1000 - (int64_t) ((__int128) 1000 * c->mem_request / cap))
                                      : 1000;
                /* Burstable stays above Guaranteed (1000 - 997) and below BestEffort, as upstream. */
                r->oom_score_adj = adj < 1000 + OOM_ADJ_GUARANTEED ? 1000 + OOM_ADJ_GUARANTEED
                                   : adj >= 1000                   ? 999
                                                                   : adj;
        }
}

/* ---- containers ---- */

/* Each of in with its $(VAR) references expanded against env, in the arena. */
static char **expand_args(struct arena *a, char **in, char **env, size_t *ret_n)
{
        size_t n = strv_length(in);
        char **out = arena_alloc(a, (n + 1) * sizeof *out);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *s = expand_env(in[i], env, NULL);
                out[i] = arena_strdup(a, s);
        }
        *ret_n = n;
        return out;
}

/* The mount's subPath as upstream's makeMounts takes it: subPathExpr expanded with the container's
 * environment (every name it uses defined and not empty), else subPath; then checked again here, since an
 * expansion may be absolute or climb out. *ret: NULL when the whole volume is mounted. */
static int mount_sub_path(const struct volume_mount *vm, char **env, char **ret, char *err, size_t errlen)
{
        _cleanup_free_ char *sub = NULL;
        int r;
        *ret = NULL;
        if (vm->sub_path_expr && vm->sub_path_expr[0]) {
                if ((r = expand_sub_path(vm->sub_path_expr, env, &sub, err, errlen)) < 0)
                        return r;
        } else if (vm->sub_path && vm->sub_path[0])
                sub = xstrdup(vm->sub_path);
        if (!sub || !sub[0])
                return 0;
        if ((r = sub_path_check(sub, err, errlen)) < 0)
                return r;
        *ret = TAKE_PTR(sub);
        return 0;
}

static int start_container(const struct sync_ctx *ctx, struct pod *pod, const char *sandbox_id,
                           Runtime__V1__PodSandboxConfig *sbcfg, const struct container *c,
                           int restart_count, const char *fp, struct sync_result *res)
{
        _cleanup_arena_ struct arena a = {0};
        _cleanup_free_ char *image_ref = NULL;
        Runtime__V1__ContainerConfig cfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
        Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__LinuxContainerConfig lx = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
        Runtime__V1__LinuxContainerResources lres = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
        Runtime__V1__LinuxContainerSecurityContext lsc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        struct pb_map labels = {0}, ann = {0};
        struct cri_error err = {0};
        int r;

        r = ensure_image(ctx, pod, c, fp, &image_ref, res);
        if (r < 0)
                return r;

        md.name = c->name;
        md.attempt = (uint32_t) restart_count;
        cfg.metadata = &md;
        img.image = image_ref;
        img.user_specified_image = c->image;
        cfg.image = &img;
        cfg.working_dir = c->working_dir;
        cfg.stdin = c->stdin_open;
        cfg.stdin_once = c->stdin_once;
        cfg.tty = c->tty;
        cfg.log_path = arena_printf(&a, "%s/%d.log", c->name, restart_count);

        /* The environment: envFrom, then env with valueFrom resolved (ConfigMaps and Secrets through
         * the API server's cache). A missing object is upstream's CreateContainerConfigError. */
        _cleanup_free_ char *pod_ip =
                container_env_needs_pod_ip(pod, c->name) ? sandbox_ip(ctx, sandbox_id) : NULL;
        struct env_ctx ectx = {.objects = ctx->objects,
                               .services = ctx->services,
                               .host_ip = ctx->node_ip,
                               .pod_ip = pod_ip,
                               .node_cpu_m = ctx->node_cpu_m,
                               .node_mem = ctx->node_mem,
                               .timeout_ms = MIN(ctx->timeout_ms, (int64_t) 10000)};
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_strv_free_ char **env_warnings = NULL;
        char env_err[512];
        r = container_env(&ectx, pod, c->name, &env, &env_warnings, env_err, sizeof env_err);
        if (r < 0) {
                res_cerror(res, c->name, "CreateContainerConfigError", "%s", env_err);
                pod_event(ctx, pod, fp, EVENT_WARNING, "Failed", "Error: %s", env_err);
                return r;
        }
        for (char **w = env_warnings; w && *w; w++)
                pod_event(ctx, pod, fp, EVENT_WARNING, "InvalidEnvironmentVariableNames", "%s", *w);
        size_t n_env = strv_length(env) / 2;
        cfg.envs = arena_alloc(&a, (n_env + 1) * sizeof(Runtime__V1__KeyValue *));
        for (size_t i = 0; i < n_env; i++) {
                Runtime__V1__KeyValue *kv = arena_alloc(&a, sizeof *kv);
                runtime__v1__key_value__init(kv);
                kv->key = env[2 * i];
                kv->value = env[2 * i + 1];
                cfg.envs[cfg.n_envs++] = kv;
        }
        /* command and args see the final environment, as upstream's ExpandContainerCommandAndArgs */
        cfg.command = expand_args(&a, c->command, env, &cfg.n_command);
        cfg.args = expand_args(&a, c->args, env, &cfg.n_args);

        cfg.mounts = arena_alloc(&a, (c->n_mounts + 3) * sizeof(Runtime__V1__Mount *));
        bool hosts_mounted = false;
        for (size_t i = 0; i < c->n_mounts; i++) {
                const struct volume_mount *vm = &c->mounts[i];
                const struct volume *v = NULL;
                for (size_t j = 0; j < pod->n_volumes && !v; j++)
                        if (streq_ptr(pod->volumes[j].name, vm->name))
                                v = &pod->volumes[j];
                if (!v)
                        continue; /* validation refuses this */
                Runtime__V1__Mount *m = arena_alloc(&a, sizeof *m);
                runtime__v1__mount__init(m);
                m->container_path = vm->mount_path;
                m->readonly = vm->read_only || vol_kind_read_only(v->kind);
                m->propagation = vm->propagation == PROPAGATION_BIDIRECTIONAL
                                         ? RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL
                                 : vm->propagation == PROPAGATION_HOST_TO_CONTAINER
                                         ? RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER
                                         : RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE;
                _cleanup_free_ char *base = vol_host_path(ctx->root_dir, pod, v);
                if (!base)
                        continue; /* setup_volumes refuses these */
                _cleanup_free_ char *sub_path = NULL;
                char why[768];
                r = mount_sub_path(vm, env, &sub_path, why, sizeof why);
                if (r < 0) {
                        res_cerror(res, c->name, "CreateContainerConfigError", "%s", why);
                        pod_event(ctx, pod, fp, EVENT_WARNING, "Failed", "Error: %s", why);
                        return r;
                }
                if (sub_path) {
                        /* Resolved inside the volume, symlinks included; never an escape. */
                        _cleanup_free_ char *resolved = NULL;
                        r = vol_bind_subpath(ctx->root_dir, pod->uid, v->name, c->name, i, base, sub_path,
                                             !vol_kind_read_only(v->kind), &resolved, why, sizeof why);
                        if (r < 0) {
                                /* The detail names host paths: the log has it, the status and the Event
                                 * (visible to the pod's users) only upstream's words. */
                                char msg[1024];
                                snprintf(msg, sizeof msg,
                                         "failed to prepare subPath for volumeMount \"%s\" of container "
                                         "\"%s\"",
                                         vm->name, c->name);
                                log_warn("Preparing a subPath failed",
                                         "pod=\"%s/%s\" container=\"%s\" err=\"%s\"", pod->namespace,
                                         pod->name, c->name, log_q(why));
                                res_cerror(res, c->name, "CreateContainerConfigError", "%s", msg);
                                pod_event(ctx, pod, fp, EVENT_WARNING, "Failed", "Error: %s", msg);
                                return r;
                        }
                        m->host_path = arena_strdup(&a, resolved);
                } else
                        m->host_path = arena_strdup(&a, base);
                hosts_mounted |= streq(vm->mount_path, "/etc/hosts");
                cfg.mounts[cfg.n_mounts++] = m;
        }
        /* The termination message file, as upstream: <pod dir>/containers/<name>/<instance>, mounted at
         * terminationMessagePath unless a volume is mounted there. */
        bool tm_taken = false;
        for (size_t i = 0; i < c->n_mounts; i++)
                tm_taken |= streq_ptr(c->mounts[i].mount_path, c->termination_message_path);
        if (c->termination_message_path && c->termination_message_path[0] && !tm_taken) {
                _cleanup_free_ char *dir =
                        strdup_printf("%s/pods/%s/containers/%s", ctx->root_dir, pod->uid, c->name);
                char *file = arena_printf(&a, "%s/%d", dir, restart_count);
                int fd = -1;
                if (mkdir_p(dir, 0750) >= 0 &&
                    (fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666)) >= 0) {
                        fchmod(fd, 0666);
                        close(fd);
                        Runtime__V1__Mount *m = arena_alloc(&a, sizeof *m);
                        runtime__v1__mount__init(m);
                        m->container_path = c->termination_message_path;
                        m->host_path = file;
                        cfg.mounts[cfg.n_mounts++] = m;
                } else
                        log_warn("Cannot create the termination message file, ignoring",
                                 "path=\"%s\" err=\"%m\"", file);
        }
        if (!hosts_mounted) {
                _cleanup_free_ char *hosts = NULL;
                char why[512];
                r = write_hosts_file(ctx, pod, sandbox_id, &hosts, why, sizeof why);
                if (r < 0) {
                        res_cerror(res, c->name, "CreateContainerConfigError", "%s", why);
                        pod_event(ctx, pod, fp, EVENT_WARNING, "Failed", "Error: %s", why);
                        return r;
                }
                if (r > 0) {
                        Runtime__V1__Mount *m = arena_alloc(&a, sizeof *m);
                        runtime__v1__mount__init(m);
                        m->container_path = "/etc/hosts";
                        m->host_path = arena_strdup(&a, hosts);
                        cfg.mounts[cfg.n_mounts++] = m;
                }
        }

        map_add(&a, &labels, &runtime__v1__container_config__labels_entry__descriptor, LABEL_POD_NAME,
                pod->name);
        map_add(&a, &labels, &runtime__v1__container_config__labels_entry__descriptor, LABEL_POD_NAMESPACE,
                pod->namespace);
        map_add(&a, &labels, &runtime__v1__container_config__labels_entry__descriptor, LABEL_POD_UID,
                pod->uid);
        map_add(&a, &labels, &runtime__v1__container_config__labels_entry__descriptor, LABEL_CONTAINER_NAME,
                c->name);
        map_add(&a, &ann, &runtime__v1__container_config__annotations_entry__descriptor, ANN_CONTAINER_HASH,
                c->hash);
        map_add(&a, &ann, &runtime__v1__container_config__annotations_entry__descriptor,
                ANN_CONTAINER_RESTARTS, arena_printf(&a, "%d", restart_count));
        map_add(&a, &ann, &runtime__v1__container_config__annotations_entry__descriptor, ANN_POD_GRACE,
                arena_printf(&a, "%lld", (long long) pod->termination_grace_period));
        map_add(&a, &ann, &runtime__v1__container_config__annotations_entry__descriptor,
                ANN_TERMINATION_MSG_PATH, c->termination_message_path ? c->termination_message_path : "");
        _cleanup_free_ char *pre_stop = c->pre_stop ? handler_to_json(c->pre_stop) : NULL;
        if (pre_stop)
                map_add(&a, &ann, &runtime__v1__container_config__annotations_entry__descriptor,
                        ANN_PRE_STOP, pre_stop);
        MAP_SET(&cfg, labels, labels);
        MAP_SET(&cfg, annotations, ann);

        lsc.namespace_options = ns_options(&a, pod);
        if (ctx->security) {
                /* runAsNonRoot without a runAsUser: the image's user decides (upstream asks ImageStatus too). */
                struct image_user iu = {.uid = -1};
                _cleanup_cri_ Runtime__V1__ImageStatusResponse *isr = NULL;
                if (container_needs_image_user(pod, c->name)) {
                        Runtime__V1__ImageStatusRequest ireq = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
                        Runtime__V1__ImageSpec ispec = RUNTIME__V1__IMAGE_SPEC__INIT;
                        struct cri_error ierr = {0};
                        ispec.image = image_ref;
                        ireq.image = &ispec;
                        if (CRI_CALL(ctx->cri, ImageService, ImageStatus, image_status, &ireq, &isr,
                                     ctx->timeout_ms, &ierr) >= 0 &&
                            isr->image) {
                                iu.username = isr->image->username;
                                if (isr->image->uid)
                                        iu.uid = isr->image->uid->value;
                                else if (!iu.username || !iu.username[0])
                                        iu.uid = 0; /* no user in the image: root */
                        }
                }
                char serr[512];
                if (container_security(&a, ctx->security, pod, c->name, &iu, &lsc, serr, sizeof serr) < 0) {
                        res_cerror(res, c->name, "CreateContainerConfigError", "%s", serr);
                        pod_event(ctx, pod, fp, EVENT_WARNING, "Failed", "Error: %s", serr);
                        return -EINVAL;
                }
        }
        container_resources(pod, c, &lres);
        lx.resources = &lres;
        lx.security_context = &lsc;
        cfg.linux = &lx;

        /* The runtime writes the log file; its directory is ours to make. */
        _cleanup_free_ char *logdir = strdup_printf("%s/%s", sbcfg->log_directory, c->name);
        mkdir_p(logdir, 0755);

        Runtime__V1__CreateContainerRequest creq = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__CreateContainerResponse *cresp = NULL;
        creq.pod_sandbox_id = (char *) sandbox_id;
        creq.config = &cfg;
        creq.sandbox_config = sbcfg;
        r = CRI_CALL(ctx->cri, RuntimeService, CreateContainer, create_container, &creq, &cresp,
                     ctx->timeout_ms, &err);
        if (r < 0) {
                res_cerror(res, c->name, "CreateContainerError", "container \"%s\": %s", c->name,
                           cri_msg(&err, r));
                pod_event(ctx, pod, fp, EVENT_WARNING, "Failed", "Error: %s", cri_msg(&err, r));
                return r;
        }
        pod_event(ctx, pod, fp, EVENT_NORMAL, "Created", "Created container %s", c->name);
        if (ctx->containers_log_dir) {
                /* upstream's /var/log/containers/<pod>_<ns>_<container>-<id>.log, for log shippers; the log
                 * rotator removes the links whose log is gone */
                _cleanup_free_ char *link =
                        strdup_printf("%s/%s_%s_%s-%s.log", ctx->containers_log_dir, pod->name,
                                      pod->namespace, c->name, cresp->container_id);
                _cleanup_free_ char *target = strdup_printf("%s/%s", sbcfg->log_directory, cfg.log_path);
                (void) mkdir_p(ctx->containers_log_dir, 0755);
                if (symlink(target, link) < 0 && errno != EEXIST)
                        log_warn("Cannot link the container log, ignoring", "path=\"%s\" err=\"%s\"", link,
                                 strerror(errno));
        }
        Runtime__V1__StartContainerRequest sreq = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__StartContainerResponse *sresp = NULL;
        sreq.container_id = cresp->container_id;
        _cleanup_free_ char *marker = start_marker(ctx, pod->uid, cresp->container_id);
        if (marker) {
                int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0)
                        close(fd);
        }
        r = CRI_CALL(ctx->cri, RuntimeService, StartContainer, start_container, &sreq, &sresp,
                     ctx->timeout_ms, &err);
        if (marker)
                (void) unlink(marker);
        if (r < 0) {
                res_cerror(res, c->name, "RunContainerError", "container \"%s\": %s", c->name,
                           cri_msg(&err, r));
                pod_event(ctx, pod, fp, EVENT_WARNING, "Failed", "Error: %s", cri_msg(&err, r));
                return r;
        }
        pod_event(ctx, pod, fp, EVENT_NORMAL, "Started", "Started container %s", c->name);
        if (c->post_start) {
                char out[1024];
                if (run_handler(ctx, c->post_start, cresp->container_id, sandbox_id,
                                pod->termination_grace_period, out, sizeof out) < 0) {
                        /* Upstream: a failed postStart kills the container; its restart policy decides. */
                        pod_event(ctx, pod, fp, EVENT_WARNING, "FailedPostStartHook", "%s", out);
                        res_cerror(res, c->name, "PostStartHookError", "PostStartHook failed: %s", out);
                        struct cri_error kerr = {0};
                        stop_container(ctx, cresp->container_id, pod->termination_grace_period, &kerr);
                        return -EIO;
                }
        }
        log_info("Container started", "pod=\"%s/%s\" container=\"%s\" containerID=\"%.13s\" restartCount=%d",
                 pod->namespace, pod->name, c->name, cresp->container_id, restart_count);
        return 0;
}

static int stop_container(const struct sync_ctx *ctx, const char *id, int64_t grace_s, struct cri_error *err)
{
        Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__StopContainerResponse *resp = NULL;
        req.container_id = (char *) id;
        req.timeout = grace_s;
        return CRI_CALL(ctx->cri, RuntimeService, StopContainer, stop_container, &req, &resp,
                        grace_s * 1000 + ctx->timeout_ms, err);
}

static int remove_container(const struct sync_ctx *ctx, const char *id)
{
        Runtime__V1__ContainerStatusRequest sreq = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ContainerStatusResponse *sresp = NULL;
        _cleanup_cri_ Runtime__V1__RemoveContainerResponse *resp = NULL;
        struct cri_error err = {0};
        sreq.container_id = req.container_id = (char *) id;
        if (CRI_CALL(ctx->cri, RuntimeService, ContainerStatus, container_status, &sreq, &sresp,
                     ctx->timeout_ms, &err) < 0)
                sresp = NULL;
        int r = CRI_CALL(ctx->cri, RuntimeService, RemoveContainer, remove_container, &req, &resp,
                         ctx->timeout_ms, &err);
        /* A removed container's log goes with it, rotated files too (upstream's removeContainerLog): a
         * crash-looping container would otherwise leave a log per restart behind. No symlink below the pod
         * logs directory is followed. Its /var/log/containers link dangles now; the log rotator removes it. */
        if (r >= 0 && sresp && sresp->status)
                log_remove_container_logs(ctx->pod_logs_dir, sresp->status->log_path);
        return r;
}

static void field_path(char *buf, size_t len, bool init, const char *name)
{
        snprintf(buf, len, "spec.%s{%s}", init ? "initContainers" : "containers", name);
}

/* Upstream's floor for the grace left after a preStop hook. */
#define MIN_GRACE_AFTER_PRESTOP_S 2

struct stop_job {
        const struct sync_ctx *ctx;
        const Runtime__V1__Container *c;
        const char *id;
        const char *name;
        int64_t grace_s;
        int r;
        struct cri_error err;
        pthread_t thread;
};

static void *stop_job_run(void *arg)
{
        struct stop_job *j = arg;
        int64_t grace = j->grace_s;
        const char *pre = KV_GET(j->c->annotations, j->c->n_annotations, ANN_PRE_STOP);
        struct probe_spec *h = pre && grace > 0 ? handler_from_json(pre) : NULL;
        if (h) {
                char out[1024];
                int64_t t0 = now_mono_ms();
                if (run_handler(j->ctx, h, j->id, j->c->pod_sandbox_id, grace, out, sizeof out) < 0) {
                        const char *ns = KV_GET(j->c->labels, j->c->n_labels, LABEL_POD_NAMESPACE);
                        const char *pn = KV_GET(j->c->labels, j->c->n_labels, LABEL_POD_NAME);
                        const char *uid = KV_GET(j->c->labels, j->c->n_labels, LABEL_POD_UID);
                        char fp[256];
                        field_path(fp, sizeof fp, false, j->name);
                        if (j->ctx->events && ns && pn && uid)
                                events_record(j->ctx->events, ns, pn, uid, fp, EVENT_WARNING,
                                              "FailedPreStopHook", "PreStopHook failed: %s", out);
                }
                grace = MAX(grace - (now_mono_ms() - t0) / 1000, (int64_t) MIN_GRACE_AFTER_PRESTOP_S);
                probe_spec_free(h);
        }
        j->r = stop_container(j->ctx, j->id, grace, &j->err);
        if (j->r == -ETIMEDOUT || j->err.code == 4) {
                const char *ns = KV_GET(j->c->labels, j->c->n_labels, LABEL_POD_NAMESPACE);
                const char *pn = KV_GET(j->c->labels, j->c->n_labels, LABEL_POD_NAME);
                const char *uid = KV_GET(j->c->labels, j->c->n_labels, LABEL_POD_UID);
                if (j->ctx->events && ns && pn && uid)
                        events_record(
                                j->ctx->events, ns, pn, uid, NULL, EVENT_WARNING, "ExceededGracePeriod",
                                "Container runtime did not kill the pod within specified grace period.");
        }
        return NULL;
}

/* Stops the given containers in parallel, as upstream, so that the pod is gone within one grace period. */
static int stop_containers(const struct sync_ctx *ctx, Runtime__V1__Container **list, size_t n,
                           int64_t grace_s, const char *pod_name, struct sync_result *res)
{
        struct stop_job *jobs = OOM_CHECK(calloc(n + 1, sizeof *jobs));
        int ret = 0;
        for (size_t i = 0; i < n; i++) {
                jobs[i] = (struct stop_job){.ctx = ctx,
                                            .c = list[i],
                                            .id = list[i]->id,
                                            .grace_s = grace_s,
                                            .name = list[i]->metadata ? list[i]->metadata->name : "?"};
                log_info("Killing container with a grace period",
                         "pod=\"%s\" container=\"%s\" containerID=\"%.13s\" "
                         "gracePeriod=%lld",
                         pod_name, jobs[i].name, jobs[i].id, (long long) grace_s);
                const char *ns = KV_GET(list[i]->labels, list[i]->n_labels, LABEL_POD_NAMESPACE);
                const char *pn = KV_GET(list[i]->labels, list[i]->n_labels, LABEL_POD_NAME);
                const char *uid = KV_GET(list[i]->labels, list[i]->n_labels, LABEL_POD_UID);
                if (ctx->events && ns && pn && uid) {
                        char fp[256];
                        field_path(fp, sizeof fp, false, jobs[i].name);
                        events_record(ctx->events, ns, pn, uid, fp, EVENT_NORMAL, "Killing",
                                      "Stopping container %s", jobs[i].name);
                }
                if (n == 1 || pthread_create(&jobs[i].thread, NULL, stop_job_run, &jobs[i]) != 0) {
                        stop_job_run(&jobs[i]);
                        jobs[i].thread = 0;
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (jobs[i].thread)
                        pthread_join(jobs[i].thread, NULL);
                if (jobs[i].r < 0 && jobs[i].err.code != 5 /* NotFound: already gone */) {
                        res_error(res, "FailedKillPod", "stop container \"%s\": %s", jobs[i].name,
                                  cri_msg(&jobs[i].err, jobs[i].r));
                        ret = jobs[i].r;
                }
        }
        free(jobs);
        return ret;
}

static int stop_sandbox(const struct sync_ctx *ctx, const char *id, bool remove, struct sync_result *res)
{
        Runtime__V1__StopPodSandboxRequest sreq = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__StopPodSandboxResponse *sresp = NULL;
        struct cri_error err = {0};
        int r;

        sreq.pod_sandbox_id = (char *) id;
        r = CRI_CALL(ctx->cri, RuntimeService, StopPodSandbox, stop_pod_sandbox, &sreq, &sresp,
                     ctx->timeout_ms, &err);
        if (r < 0 && err.code != 5) {
                res_error(res, "FailedKillPod", "stop sandbox %.13s: %s", id, cri_msg(&err, r));
                return r;
        }
        if (!remove)
                return 0;
        Runtime__V1__RemovePodSandboxRequest rreq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__RemovePodSandboxResponse *rresp = NULL;
        rreq.pod_sandbox_id = (char *) id;
        r = CRI_CALL(ctx->cri, RuntimeService, RemovePodSandbox, remove_pod_sandbox, &rreq, &rresp,
                     ctx->timeout_ms, &err);
        if (r < 0 && err.code != 5) {
                res_error(res, "FailedKillPod", "remove sandbox %.13s: %s", id, cri_msg(&err, r));
                return r;
        }
        return 0;
}

/* ---- the sync ---- */

/* ---- the sync ---- */

/* What the runtime says of a finished container. */
struct exit_info {
        int32_t code;
        int64_t finished_ms; /* wall clock */
        char reason[64];
};

static int container_exit_info(const struct sync_ctx *ctx, const char *id, struct exit_info *ret)
{
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ContainerStatusResponse *resp = NULL;
        struct cri_error err = {0};
        req.container_id = (char *) id;
        int r = CRI_CALL(ctx->cri, RuntimeService, ContainerStatus, container_status, &req, &resp,
                         ctx->timeout_ms, &err);
        if (r < 0)
                return r;
        if (!resp->status)
                return -ENOENT;
        ret->code = resp->status->exit_code;
        ret->finished_ms = resp->status->finished_at / 1000000;
        snprintf(ret->reason, sizeof ret->reason, "%s", resp->status->reason ? resp->status->reason : "");
        return 0;
}

/* An instance whose start was cut short by the death of the cubelet that made it: created and never
 * started, or failed to start with its start marker still there (containerd ends an abandoned
 * StartContainer with a StartError: "context canceled", "failed to start shim: ... signal: killed"). It
 * never ran, so it is neither a restart nor a last state: it goes, and the container starts as if it had not
 * been made. A start that failed while this cubelet waited for it has no marker: it counts, with its
 * back-off. One the runtime would not remove at first (containerd 1.6 can keep the task of an abandoned
 * start) stays marked and goes once it can, even after newer instances. */
#define INTERRUPTED_START_MAX_NS (120 * 1000000000LL) /* a start still going on after this is stuck */
static bool interrupted_start(const struct sync_ctx *ctx, const char *uid, const Runtime__V1__Container *c)
{
        if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
                return true;
        if (c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED)
                return false;
        _cleanup_free_ char *marker = start_marker(ctx, uid, c->id);
        if (!marker || access(marker, F_OK) < 0)
                return false;
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ContainerStatusResponse *resp = NULL;
        struct cri_error err = {0};
        req.container_id = c->id;
        if (CRI_CALL(ctx->cri, RuntimeService, ContainerStatus, container_status, &req, &resp,
                     ctx->timeout_ms, &err) < 0 ||
            !resp->status)
                return false;
        if (resp->status->started_at != 0) { /* it ran after all: the marker is stale */
                (void) unlink(marker);
                return false;
        }
        return true;
}

/* Removes what interrupted starts left (above) from the runtime and from rt. Returns true when such a start
 * is still going on in the runtime (containerd finishes an abandoned StartContainer on its own, and refuses
 * to remove the container until then): the sync must wait rather than make another instance beside it. */
static bool drop_interrupted(const struct sync_ctx *ctx, const char *uid, struct pod_runtime *rt,
                             const char *fullname)
{
        Runtime__V1__ListContainersResponse *l = rt->containers;
        bool busy = false;
        if (l->n_containers == 0)
                return false;
        bool *drop = OOM_CHECK(calloc(l->n_containers, sizeof *drop));
        int64_t now = now_real_ns();
        for (size_t i = 0; i < l->n_containers; i++) {
                Runtime__V1__Container *c = l->containers[i];
                const char *name = c->metadata ? c->metadata->name : NULL;
                if (!name || c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                        continue;
                if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED &&
                    latest_container(rt, name) != c)
                        continue;
                if (!interrupted_start(ctx, uid, c))
                        continue;
                drop[i] = remove_container(ctx, c->id) >= 0;
                if (drop[i]) {
                        _cleanup_free_ char *marker = start_marker(ctx, uid, c->id);
                        if (marker)
                                (void) unlink(marker);
                        log_info("Removed a container whose start was interrupted; it never ran",
                                 "pod=\"%s\" container=\"%s\" containerID=\"%.13s\"", fullname, name, c->id);
                } else if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED &&
                           now - c->created_at < INTERRUPTED_START_MAX_NS)
                        busy = true;
        }
        size_t n = 0;
        for (size_t i = 0; i < l->n_containers; i++) {
                if (drop[i])
                        cri_free(l->containers[i]);
                else
                        l->containers[n++] = l->containers[i];
        }
        l->n_containers = n;
        free(drop);
        return busy;
}

enum action { KEEP, START, RESTART, WAIT, DONE };

/* Per upstream: Always restarts, OnFailure restarts on a non-zero exit, Never does not. */
static bool policy_restarts(const struct pod *pod, const struct exit_info *ex, bool known)
{
        if (streq(pod->restart_policy, "Always"))
                return true;
        if (streq(pod->restart_policy, "Never"))
                return false;
        return !known || ex->code != 0; /* an unknown outcome errs toward running */
}

/* CrashLoopBackOff: true when the restart must wait; the wait is put into res. */
static bool in_backoff(const struct sync_ctx *ctx, const struct pod *pod, const struct container *c,
                       const struct exit_info *ex, const char *fp, struct sync_result *res)
{
        char key[512];
        int64_t delay, left, now = now_real_ns() / 1000000;

        if (!ctx->backoff)
                return false;
        snprintf(key, sizeof key, "%s/%s/%s", pod->uid, c->name, c->hash);
        if (!backoff_in_backoff(ctx->backoff, key, ex->finished_ms, now, &delay, &left)) {
                backoff_next(ctx->backoff, key, ex->finished_ms, now);
                return false;
        }
        res->requeue_ms = res->requeue_ms ? MIN(res->requeue_ms, left + 50) : left + 50;
        res_cerror(res, c->name, "CrashLoopBackOff",
                   "back-off %llds restarting failed container=%s pod=%s_%s(%s)", (long long) delay / 1000,
                   c->name, pod->name, pod->namespace, pod->uid);
        pod_event(ctx, pod, fp, EVENT_WARNING, "BackOff",
                  "Back-off restarting failed container %s in pod %s_%s(%s)", c->name, pod->name,
                  pod->namespace, pod->uid);
        return true;
}

/* Keeps the newest dead instance of each container (for its last state) and removes the older ones. */
static void gc_dead_containers(const struct sync_ctx *ctx, const struct pod_runtime *rt, const char *name,
                               const char *keep_id)
{
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *c = rt->containers->containers[i];
                if (!c->metadata || !streq_ptr(c->metadata->name, name) || streq(c->id, keep_id))
                        continue;
                if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                        continue;
                remove_container(ctx, c->id);
        }
}

static Runtime__V1__Container *latest_in_sandbox(const struct pod_runtime *rt, const char *name,
                                                 const char *sandbox_id)
{
        Runtime__V1__Container *best = NULL;
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *c = rt->containers->containers[i];
                if (!c->metadata || !streq_ptr(c->metadata->name, name) ||
                    !streq(c->pod_sandbox_id, sandbox_id))
                        continue;
                if (!best || c->created_at > best->created_at)
                        best = c;
        }
        return best;
}

/* Starts a new instance of c, after the newest one (any sandbox) for its restart count. */
static int run_instance(const struct sync_ctx *ctx, struct pod *pod, const char *sandbox_id,
                        Runtime__V1__PodSandboxConfig *sbcfg, const struct pod_runtime *rt,
                        const struct container *c, bool init, struct sync_result *res)
{
        char fp[256];
        Runtime__V1__Container *last = latest_container(rt, c->name);
        int restarts = last ? container_restart_count(last) + 1 : 0;
        field_path(fp, sizeof fp, init, c->name);
        int r = start_container(ctx, pod, sandbox_id, sbcfg, c, restarts, fp, res);
        if (r >= 0 && last)
                gc_dead_containers(ctx, rt, c->name, last->id);
        return r;
}

/* Init containers run in order, each to success, in the current sandbox. Returns true when all have
 * succeeded; otherwise it has started, or is waiting for, the next one (or the pod failed: terminal). */
static bool sync_init_containers(const struct sync_ctx *ctx, struct pod *pod, const char *sandbox_id,
                                 Runtime__V1__PodSandboxConfig *sbcfg, const struct pod_runtime *rt,
                                 bool fresh_sandbox, struct sync_result *res)
{
        char fp[256], fullname[512];

        pod_full_name(pod, fullname, sizeof fullname);
        /* App containers already in this sandbox: the init phase is over, even if its records are gone. */
        if (!fresh_sandbox)
                for (size_t i = 0; i < pod->n_containers; i++)
                        if (latest_in_sandbox(rt, pod->containers[i].name, sandbox_id))
                                return true;
        for (size_t i = 0; i < pod->n_init_containers; i++) {
                const struct container *c = &pod->init_containers[i];
                Runtime__V1__Container *l =
                        fresh_sandbox ? NULL : latest_in_sandbox(rt, c->name, sandbox_id);
                field_path(fp, sizeof fp, true, c->name);
                if (!l) {
                        run_instance(ctx, pod, sandbox_id, sbcfg, rt, c, true, res);
                        return false;
                }
                if (l->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
                    l->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
                        return false; /* PLEG wakes us when it exits */
                struct exit_info ex = {0};
                bool known = container_exit_info(ctx, l->id, &ex) >= 0;
                if (known && ex.code == 0)
                        continue;
                if (streq(pod->restart_policy, "Never")) {
                        log_info("Init container failed and the restart policy is Never: the pod has failed",
                                 "pod=\"%s\" container=\"%s\" exitCode=%d", fullname, c->name, ex.code);
                        res->terminal = true;
                        return false;
                }
                if (!in_backoff(ctx, pod, c, &ex, fp, res))
                        run_instance(ctx, pod, sandbox_id, sbcfg, rt, c, true, res);
                return false;
        }
        return true;
}

/* ---- status ---- */

#define TERMINATION_MESSAGE_MAX 4096
#define FALLBACK_LOG_LINES      80
#define FALLBACK_LOG_BYTES      2048

/* Upstream's getTerminationMessage and readLastStringFromContainerLogs: the file at terminationMessagePath
 * (its last 4096 bytes), else, with FallbackToLogsOnError after a failure (not when the container could not
 * even start), the log's tail. */
static char *termination_message(const Runtime__V1__ContainerStatus *st, const char *policy)
{
        const char *path = KV_GET(st->annotations, st->n_annotations, ANN_TERMINATION_MSG_PATH);
        bool fallback = streq_ptr(policy, "FallbackToLogsOnError") && st->exit_code != 0 &&
                        !streq_ptr(st->reason, "ContainerCannotRun");
        for (size_t i = 0; path && path[0] && i < st->n_mounts; i++) {
                if (!streq_ptr(st->mounts[i]->container_path, path))
                        continue;
                /* Never blocking: the container may have put a FIFO there (through a subPath). */
                _cleanup_close_ int fd =
                        open(st->mounts[i]->host_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
                struct stat fst;
                if (fd < 0 && errno == ENOENT)
                        break;
                if (fd < 0 || fstat(fd, &fst) < 0)
                        return strdup_printf("Error on reading termination log %s: %m",
                                             st->mounts[i]->host_path);
                if (!S_ISREG(fst.st_mode))
                        return strdup_printf("Error on reading termination log %s: not a regular file",
                                             st->mounts[i]->host_path);
                off_t off =
                        fst.st_size > TERMINATION_MESSAGE_MAX ? fst.st_size - TERMINATION_MESSAGE_MAX : 0;
                char *buf = OOM_CHECK(malloc(TERMINATION_MESSAGE_MAX + 1));
                ssize_t n = pread(fd, buf, TERMINATION_MESSAGE_MAX, off);
                if (n < 0) {
                        free(buf);
                        return strdup_printf("Error on reading termination log %s: %m",
                                             st->mounts[i]->host_path);
                }
                buf[n] = 0;
                if (n > 0 || !fallback)
                        return buf;
                free(buf);
                break;
        }
        if (!fallback || !st->log_path)
                return NULL;
        int e = 0;
        char *msg = log_tail_string(st->log_path, FALLBACK_LOG_LINES, FALLBACK_LOG_BYTES, &e);
        if (!msg && e)
                return strdup_printf("Error on reading termination message from logs: open %s: %s",
                                     st->log_path, e == EINVAL ? "not a regular file" : strerror(e));
        return msg;
}

struct status_scratch {
        Runtime__V1__ContainerStatusResponse **resps;
        size_t n;
        char **strs;
};

static Runtime__V1__ContainerStatus *fetch_status(const struct sync_ctx *ctx, struct status_scratch *sc,
                                                  const char *id)
{
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        Runtime__V1__ContainerStatusResponse *resp = NULL;
        struct cri_error err = {0};
        req.container_id = (char *) id;
        if (CRI_CALL(ctx->cri, RuntimeService, ContainerStatus, container_status, &req, &resp,
                     ctx->timeout_ms, &err) < 0)
                return NULL;
        sc->resps = OOM_CHECK(realloc(sc->resps, (sc->n + 1) * sizeof *sc->resps));
        sc->resps[sc->n++] = resp;
        return resp->status;
}

static void fill_term(struct status_scratch *sc, const Runtime__V1__ContainerStatus *st, const char *policy,
                      struct cterm *t)
{
        char *msg = termination_message(st, policy);
        /* upstream enriches the runtime's message with the termination message: "<runtime's>: <message>" */
        if (msg && msg[0] && st->message && st->message[0]) {
                char *both = strdup_printf("%s: %s", st->message, msg);
                free(msg);
                msg = both;
        }
        if (msg && !msg[0]) {
                free(msg);
                msg = NULL;
        }
        if (msg)
                strv_push(&sc->strs, msg);
        *t = (struct cterm){.id = st->id,
                            .exit_code = st->exit_code,
                            .started_ns = st->started_at,
                            .finished_ns = st->finished_at,
                            .reason = st->reason,
                            .message = msg ? msg : st->message};
}

static void fill_cstatus(const struct sync_ctx *ctx, struct status_scratch *sc, const struct pod_runtime *rt,
                         const struct container *c, const struct sync_result *res, struct cstatus *cs)
{
        Runtime__V1__Container *newest = NULL, *prev = NULL;
        *cs = (struct cstatus){.name = c->name, .image = c->image, .ready = true, .started = true};
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *k = rt->containers->containers[i];
                if (!k->metadata || !streq_ptr(k->metadata->name, c->name))
                        continue;
                if (!newest || k->created_at > newest->created_at) {
                        prev = newest;
                        newest = k;
                } else if (!prev || k->created_at > prev->created_at)
                        prev = k;
        }
        for (size_t i = 0; i < res->n_waits; i++)
                if (streq(res->waits[i].name, c->name)) {
                        cs->waiting_reason = res->waits[i].reason;
                        cs->waiting_message = res->waits[i].message;
                }
        if (!newest)
                return;
        Runtime__V1__ContainerStatus *st = fetch_status(ctx, sc, newest->id);
        if (!st)
                return;
        cs->present = true;
        if (st->image && st->image->image && st->image->image[0])
                cs->image = st->image->image; /* upstream shows the runtime's (its first tag of the image) */
        cs->state = st->state;
        cs->id = st->id;
        cs->image_ref = st->image_ref;
        cs->restart_count = container_restart_count(newest);
        cs->started_ns = st->started_at;
        if (st->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                fill_term(sc, st, c->termination_message_policy, &cs->term);
        if (prev && prev->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
                Runtime__V1__ContainerStatus *ps = fetch_status(ctx, sc, prev->id);
                if (ps) {
                        cs->has_last = true;
                        fill_term(sc, ps, c->termination_message_policy, &cs->last);
                }
        }
}

/* The status the pod had before this sync: the status manager's, else (first sync after a restart) the one
 * the API server keeps. */
static json_t *previous_status(const struct sync_ctx *ctx, const struct pod *pod)
{
        json_t *old = status_manager_get(ctx->status, pod->uid);
        if (!old && pod_phase_terminal(json_string_value(
                            json_object_get(json_object_get(pod->json, "status"), "phase"))))
                old = json_deep_copy(json_object_get(pod->json, "status"));
        return old;
}

/* Upstream: a pod that reached Succeeded or Failed never runs again, even when its containers are gone
 * (removed by hand, a runtime that lost its state): nothing is created for it any more. */
static bool finished_before(const struct sync_ctx *ctx, const struct pod *pod)
{
        json_t *old = previous_status(ctx, pod);
        bool done = pod_phase_terminal(json_string_value(json_object_get(old, "phase")));
        json_decref(old);
        return done;
}

/* status.startTime: recorded once; a pod the API server already knows keeps the start time it has there (a
 * restarted cubelet does not restart the clock of activeDeadlineSeconds). */
static int64_t pod_start_ns(const struct sync_ctx *ctx, const struct pod *pod)
{
        const char *api =
                json_string_value(json_object_get(json_object_get(pod->json, "status"), "startTime"));
        int64_t api_ns = 0;
        if (api && rfc3339_parse_ns(api, strlen(api), &api_ns) < 0)
                api_ns = 0;
        return status_manager_start_time(ctx->status, pod->uid, api_ns);
}

/* Milliseconds before the pod's activeDeadlineSeconds passes (<= 0: past; INT64_MAX: none). */
static int64_t deadline_left_ms(const struct sync_ctx *ctx, const struct pod *pod)
{
        if (!ctx->status || pod->active_deadline_s < 0)
                return INT64_MAX;
        return pod_deadline_left_ms(pod, pod_start_ns(ctx, pod), now_real_ns());
}

/* Stops every running container of the pod but those in skip (already being stopped), then every ready
 * sandbox: before a new sandbox, and when a finished pod still has something up. */
static void stop_what_runs_grace(const struct sync_ctx *ctx, const struct pod *pod,
                                 const struct pod_runtime *rt, Runtime__V1__Container *const *skip,
                                 size_t n_skip, int64_t grace_s, const char *fullname,
                                 struct sync_result *res)
{
        Runtime__V1__Container **running =
                OOM_CHECK(calloc(rt->containers->n_containers + 1, sizeof *running));
        size_t n = 0;
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *c = rt->containers->containers[i];
                bool skipped = false;
                for (size_t j = 0; j < n_skip; j++)
                        skipped |= skip[j] == c;
                if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING && !skipped)
                        running[n++] = c;
        }
        if (n)
                stop_containers(ctx, running, n, grace_s, fullname, res);
        free(running);
        for (size_t i = 0; i < rt->sandboxes->n_items; i++)
                if (rt->sandboxes->items[i]->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
                        stop_sandbox(ctx, rt->sandboxes->items[i]->id, false, res);
}

static void stop_what_runs(const struct sync_ctx *ctx, const struct pod *pod, const struct pod_runtime *rt,
                           Runtime__V1__Container *const *skip, size_t n_skip, const char *fullname,
                           struct sync_result *res)
{
        stop_what_runs_grace(ctx, pod, rt, skip, n_skip, pod->termination_grace_period, fullname, res);
}

/* Whether the eviction manager evicted the pod: its message, and the grace period its containers get
 * (the eviction's, never longer than the pod's own). */
static bool evicted(const struct sync_ctx *ctx, const struct pod *pod, char *msg, size_t len,
                    int64_t *grace_s)
{
        int64_t g;
        if (!ctx->eviction || !eviction_manager_evicted(ctx->eviction, pod->uid, msg, len, &g))
                return false;
        *grace_s = MIN(g, pod->termination_grace_period);
        return true;
}

/* Upstream's soft admit handlers (canRunPod): AppArmor profiles this host cannot enforce. false with the
 * reason and message in res->blocked_*. */
static bool pod_runnable(const struct sync_ctx *ctx, const struct pod *pod, struct sync_result *res)
{
        if (!ctx->security ||
            apparmor_admit(&ctx->security->apparmor, pod, res->blocked_message, sizeof res->blocked_message))
                return true;
        snprintf(res->blocked_reason, sizeof res->blocked_reason, "AppArmor");
        return false;
}

/* Computes the pod's status from what the runtime now says and hands it to the status manager. */
static void publish_status(const struct sync_ctx *ctx, struct pod *pod, const struct sync_result *res,
                           const struct pod_runtime *unchanged)
{
        struct pod_runtime rt = {0};
        struct cri_error err = {0};
        struct status_scratch sc = {0};
        _cleanup_cri_ Runtime__V1__PodSandboxStatusResponse *sbs = NULL;

        if (!ctx->status)
                return;
        /* The sync's own listing serves when it changed nothing; otherwise list again. */
        if (unchanged) {
                rt.sandboxes = (Runtime__V1__ListPodSandboxResponse *) unchanged->sandboxes;
                rt.containers = (Runtime__V1__ListContainersResponse *) unchanged->containers;
        } else if (list_pod(ctx, pod->uid, &rt, &err) < 0)
                return;
        struct pod_runtime_status rs = {.host_ip = ctx->node_ip, .start_ns = pod_start_ns(ctx, pod)};
        if (res->blocked_reason[0]) {
                rs.blocked_reason = res->blocked_reason;
                rs.blocked_message = res->blocked_message;
        }
        char ev_msg[1024];
        int64_t ev_grace;
        if (deadline_left_ms(ctx, pod) <= 0) {
                rs.reason = DEADLINE_REASON;
                rs.message = DEADLINE_MESSAGE;
        } else if (evicted(ctx, pod, ev_msg, sizeof ev_msg, &ev_grace)) {
                rs.reason = EVICTED_REASON;
                rs.message = ev_msg;
        }
        Runtime__V1__PodSandbox *sb = newest_sandbox(&rt);
        if (sb) {
                Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
                req.pod_sandbox_id = sb->id;
                if (CRI_CALL(ctx->cri, RuntimeService, PodSandboxStatus, pod_sandbox_status, &req, &sbs,
                             ctx->timeout_ms, &err) >= 0 &&
                    sbs->status && sbs->status->network)
                        rs.pod_ip = sbs->status->network->ip;
        }
        rs.init = OOM_CHECK(calloc(pod->n_init_containers + 1, sizeof *rs.init));
        rs.app = OOM_CHECK(calloc(pod->n_containers + 1, sizeof *rs.app));
        rs.n_init = pod->n_init_containers;
        rs.n_app = pod->n_containers;
        for (size_t i = 0; i < pod->n_init_containers; i++)
                fill_cstatus(ctx, &sc, &rt, &pod->init_containers[i], res, &rs.init[i]);
        for (size_t i = 0; i < pod->n_containers; i++)
                fill_cstatus(ctx, &sc, &rt, &pod->containers[i], res, &rs.app[i]);
        if (ctx->prober) {
                struct prober_target *t = OOM_CHECK(calloc(pod->n_containers + 1, sizeof *t));
                size_t nt = 0;
                for (size_t i = 0; i < pod->n_containers; i++) {
                        struct cstatus *cs = &rs.app[i];
                        if (!cs->present || cs->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                                continue;
                        t[nt++] = (struct prober_target){&pod->containers[i], cs->id, cs->started_ns};
                }
                prober_sync_pod(ctx->prober, pod, pod->host_network ? ctx->node_ip : rs.pod_ip, t, nt);
                free(t);
                for (size_t i = 0; i < pod->n_containers; i++) {
                        struct cstatus *cs = &rs.app[i];
                        if (!cs->present)
                                continue;
                        cs->ready = prober_is_ready(ctx->prober, pod->uid, cs->name, cs->id);
                        cs->started = prober_is_started(ctx->prober, pod->uid, cs->name, cs->id);
                }
        }

        json_t *old = previous_status(ctx, pod);
        status_manager_set(ctx->status, pod, pod_status_compute(pod, &rs, old));
        json_decref(old);

        for (size_t i = 0; i < sc.n; i++)
                cri_free(sc.resps[i]);
        free(sc.resps);
        strv_free(sc.strs);
        free(rs.init);
        free(rs.app);
        if (!unchanged)
                pod_runtime_done(&rt);
}

int pod_sync(const struct sync_ctx *ctx, struct pod *pod, struct sync_result *res)
{
        _cleanup_arena_ struct arena a = {0};
        _cleanup_free_ char *sandbox_id = NULL, *pod_ip = NULL, *pdir = NULL;
        struct pod_runtime rt = {0};
        struct cri_error err = {0};
        char fullname[512], fp[256];
        int r;

        *res = (struct sync_result){0};
        pod_full_name(pod, fullname, sizeof fullname);
        r = list_pod(ctx, pod->uid, &rt, &err);
        if (r < 0) {
                res_error(res, "FailedSync", "error determining status: %s", cri_msg(&err, r));
                pod_event(ctx, pod, NULL, EVENT_WARNING, "FailedSync", "%s", res->error);
                return r;
        }

        if (drop_interrupted(ctx, pod->uid, &rt, fullname)) {
                log_info("A container start left by an earlier cubelet is still going on; waiting for it",
                         "pod=\"%s\"", fullname);
                res->requeue_ms = 1000;
                pod_runtime_done(&rt);
                return 0;
        }

        Runtime__V1__PodSandbox *sb = newest_sandbox(&rt);
        bool sandbox_ready = sb && sb->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        bool finished = finished_before(ctx, pod);
        int64_t left = deadline_left_ms(ctx, pod);
        if (left <= 0 && !finished) {
                /* Upstream's activeDeadlineHandler: the pod fails (that status goes out first), then stops. */
                log_info("Pod was active on the node longer than the specified deadline, killing it",
                         "pod=\"%s\" activeDeadlineSeconds=%lld", fullname,
                         (long long) pod->active_deadline_s);
                pod_event(ctx, pod, NULL, EVENT_NORMAL, DEADLINE_REASON, "%s", DEADLINE_MESSAGE);
                publish_status(ctx, pod, res, &rt);
                finished = true;
        } else if (left != INT64_MAX && left > 0)
                res->deadline_ms = left + 1; /* wake up when the time is up */
        char ev_msg[1024];
        int64_t stop_grace = pod->termination_grace_period;
        bool was_evicted = evicted(ctx, pod, ev_msg, sizeof ev_msg, &stop_grace);
        if (was_evicted && !finished) {
                /* Upstream's killPodNow from the eviction manager: the pod fails, then stops with the
                 * eviction's grace period (its Event was recorded by the manager). */
                log_info("Pod evicted, killing it", "pod=\"%s\" gracePeriod=%lld message=\"%s\"", fullname,
                         (long long) stop_grace, log_q(ev_msg));
                publish_status(ctx, pod, res, &rt);
                finished = true;
        }
        if (finished) {
                /* Whatever still runs of it stops; nothing starts. */
                if (sandbox_ready)
                        log_info("Pod has finished, stopping its sandbox", "pod=\"%s\"", fullname);
                stop_what_runs_grace(ctx, pod, &rt, NULL, 0, stop_grace, fullname, res);
                res->terminal = true;
                publish_status(ctx, pod, res, NULL);
                pod_runtime_done(&rt);
                return res->error[0] ? -EIO : 0;
        }
        if (!pod_runnable(ctx, pod, res)) {
                /* Upstream's soft admission: not Failed; nothing of it runs, its containers wait "Blocked",
                 * and the worker tries again (with back-off) until the host can run it. */
                stop_what_runs(ctx, pod, &rt, NULL, 0, fullname, res);
                for (size_t i = 0; i < pod->n_init_containers + pod->n_containers; i++) {
                        const struct container *c = i < pod->n_init_containers
                                                            ? &pod->init_containers[i]
                                                            : &pod->containers[i - pod->n_init_containers];
                        if (!latest_container(&rt, c->name)) /* upstream changes only waiting states */
                                res_wait(res, c->name, "Blocked", "");
                }
                res_error(res, res->blocked_reason, "pod cannot be run: %s", res->blocked_message);
                publish_status(ctx, pod, res, NULL);
                pod_runtime_done(&rt);
                return -EPERM;
        }
        if (ctx->cgroups) {
                r = ensure_pod_cgroup(ctx, pod, res);
                if (r < 0) {
                        publish_status(ctx, pod, res, &rt);
                        pod_runtime_done(&rt);
                        return r;
                }
                /* A sandbox older than its pod cgroup runs outside it (pod cgroups were just turned on, or the
                 * cgroup was removed under it): as upstream, the pod starts again inside. */
                bool running = false;
                for (size_t i = 0; i < rt.containers->n_containers; i++)
                        running |= rt.containers->containers[i]->state ==
                                   RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                if (r > 0 && sandbox_ready && running) {
                        log_info("Pod cgroup was missing; the pod's sandbox will be re-created inside it",
                                 "pod=\"%s\"", fullname);
                        sandbox_ready = false;
                }
        }
        uint32_t attempt = sb && sb->metadata ? sb->metadata->attempt + (sandbox_ready ? 0 : 1) : 0;
        _cleanup_free_ char *sbcfg_err = NULL;
        Runtime__V1__PodSandboxConfig *sbcfg = NULL;

        /* Decide per app container, from its newest instance. */
        enum action *act = OOM_CHECK(calloc(pod->n_containers + 1, sizeof *act));
        Runtime__V1__Container **last = OOM_CHECK(calloc(pod->n_containers + 1, sizeof *last));
        struct exit_info *ex = OOM_CHECK(calloc(pod->n_containers + 1, sizeof *ex));
        Runtime__V1__Container **to_stop =
                OOM_CHECK(calloc(rt.containers->n_containers + 1, sizeof *to_stop));
        size_t n_stop = 0, n_run = 0;
        bool steady = false;

        for (size_t i = 0; i < pod->n_containers; i++) {
                const struct container *c = &pod->containers[i];
                Runtime__V1__Container *l = latest_container(&rt, c->name);
                last[i] = l;
                if (!l)
                        act[i] = START;
                else if (l->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING) {
                        const char *h = KV_GET(l->annotations, l->n_annotations, ANN_CONTAINER_HASH);
                        bool same_sandbox = sb && streq(l->pod_sandbox_id, sb->id);
                        char msg[256];
                        int64_t grace = -1;
                        if (sandbox_ready && same_sandbox && streq_ptr(h, c->hash) && ctx->prober &&
                            prober_should_kill(ctx->prober, pod->uid, c->name, l->id, msg, sizeof msg,
                                               &grace)) {
                                /* Liveness or startup failed: kill it; the restart policy decides the rest. */
                                field_path(fp, sizeof fp, false, c->name);
                                pod_event(ctx, pod, fp, EVENT_NORMAL, "Killing", "%s", msg);
                                Runtime__V1__Container *one[1] = {l};
                                stop_containers(ctx, one, 1,
                                                grace >= 0 ? grace : pod->termination_grace_period, fullname,
                                                res);
                                act[i] = streq(pod->restart_policy, "Never") ? DONE : RESTART;
                        } else if (sandbox_ready && same_sandbox && streq_ptr(h, c->hash))
                                act[i] = KEEP;
                        else {
                                field_path(fp, sizeof fp, false, c->name);
                                pod_event(ctx, pod, fp, EVENT_NORMAL, "Killing",
                                          "Container %s definition changed, will be restarted", c->name);
                                to_stop[n_stop++] = l;
                                act[i] = RESTART;
                        }
                } else {
                        bool known = container_exit_info(ctx, l->id, &ex[i]) >= 0;
                        act[i] = policy_restarts(pod, &ex[i], known) ? RESTART : DONE;
                }
                if (act[i] != DONE)
                        n_run++;
        }
        /* Running containers the spec no longer names are stopped too. */
        for (size_t i = 0; i < rt.containers->n_containers; i++) {
                Runtime__V1__Container *c = rt.containers->containers[i];
                bool known = false;
                if (c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                        continue;
                for (size_t j = 0; j < pod->n_containers && !known; j++)
                        known = last[j] == c;
                for (size_t j = 0; j < pod->n_init_containers && !known; j++)
                        known = c->metadata && streq_ptr(c->metadata->name, pod->init_containers[j].name);
                if (!known)
                        to_stop[n_stop++] = c;
        }
        /* Nothing to do for any container in a ready sandbox: the listing stays true for the status. */
        steady = sandbox_ready && n_stop == 0 && n_run > 0;
        for (size_t i = 0; i < pod->n_containers; i++)
                steady &= act[i] == KEEP || act[i] == DONE;
        if (n_stop > 0)
                stop_containers(ctx, to_stop, n_stop, pod->termination_grace_period, fullname, res);

        if (n_run == 0) {
                /* Every container has finished for good: the pod is done, its sandbox goes down. */
                res->terminal = true;
                if (sandbox_ready) {
                        log_info("Pod has finished, stopping its sandbox", "pod=\"%s\"", fullname);
                        stop_sandbox(ctx, sb->id, false, res);
                }
                goto out;
        }

        /* Upstream: a Never pod whose sandbox died after its containers ran gets no new sandbox. */
        if (!sandbox_ready && sb && streq(pod->restart_policy, "Never") && rt.containers->n_containers > 0) {
                res->terminal = true;
                goto out;
        }

        /* The sandbox's config (upstream's generatePodSandboxConfig: DNS with its events, the hostname) is made
         * when something may be created or started; a steady pod's sync leaves it (upstream redoes it every
         * sync, and then rate-limits the events it repeats). */
        if (!steady)
                sbcfg = sandbox_config(&a, ctx, pod, attempt, &sbcfg_err);

        pdir = pod_dir(ctx, pod->uid);
        r = mkdir_p(pdir, 0750);
        if (r < 0) {
                res_error(res, "FailedCreatePodSandBox", "create pod directory %s: %s", pdir, strerror(-r));
                goto out;
        }
        if (setup_volumes(ctx, pod, res) < 0) {
                pod_event(ctx, pod, NULL, EVENT_WARNING, "FailedMount", "%s", res->error);
                goto out;
        }

        if (!sandbox_ready) {
                if (sb) {
                        log_info("No ready sandbox for pod can be found, a new one will be created",
                                 "pod=\"%s\"", fullname);
                        pod_event(ctx, pod, NULL, EVENT_NORMAL, "SandboxChanged",
                                  "Pod sandbox changed, it will be killed and re-created.");
                }
                /* Containers still running in a dead sandbox go first. */
                stop_what_runs(ctx, pod, &rt, to_stop, n_stop, fullname, res);
                char net[2048];
                /* As upstream: only hostNetwork pods start while the network is not ready. */
                if (!pod->host_network && !network_ready(ctx->network, net, sizeof net)) {
                        res_error(res, "FailedCreatePodSandBox",
                                  "network is not ready: container runtime network not ready: %s", net);
                        res->requeue_ms = 5000; /* the network check's period */
                        r = -ENETDOWN;
                } else if (!sbcfg) {
                        res_error(res, "FailedCreatePodSandBox", "Failed to create pod sandbox: %s",
                                  sbcfg_err);
                        r = -EINVAL;
                } else {
                        network_pod_begin(ctx->network, pod); /* agent mode: the delegate asks for it */
                        r = create_sandbox(ctx, pod, sbcfg, &sandbox_id, &pod_ip, res);
                        network_pod_end(ctx->network, pod->uid);
                }
                if (r < 0) {
                        pod_event(ctx, pod, NULL, EVENT_WARNING, "FailedCreatePodSandBox", "%s", res->error);
                        goto out;
                }
                log_info("Pod sandbox created", "pod=\"%s\" podSandboxID=\"%.13s\" attempt=%u ip=\"%s\"",
                         fullname, sandbox_id, attempt, pod_ip ? pod_ip : "");
                /* In a new sandbox every container that may still run starts again. */
                for (size_t i = 0; i < pod->n_containers; i++)
                        if (act[i] == KEEP)
                                act[i] = RESTART;
        } else
                sandbox_id = xstrdup(sb->id);
        if (!sbcfg && !steady) {
                /* Upstream's ConfigPodSandbox step: nothing starts in a sandbox whose config cannot be made. */
                res_error(res, "ConfigPodSandboxError",
                          "GeneratePodSandboxConfig for pod \"%s_%s(%s)\" failed: %s", pod->name,
                          pod->namespace, pod->uid, sbcfg_err);
                goto out;
        }

        if (!sync_init_containers(ctx, pod, sandbox_id, sbcfg, &rt, !sandbox_ready, res)) {
                if (res->terminal)
                        stop_sandbox(ctx, sandbox_id, false, res);
                goto out;
        }

        for (size_t i = 0; i < pod->n_containers; i++) {
                const struct container *c = &pod->containers[i];
                if (act[i] == KEEP || act[i] == DONE)
                        continue;
                field_path(fp, sizeof fp, false, c->name);
                /* A container that exited (not one we stopped for a change) waits out its back-off. */
                bool exited = last[i] && last[i]->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                if (exited && in_backoff(ctx, pod, c, &ex[i], fp, res))
                        continue;
                if (last[i])
                        log_info("Restarting container",
                                 "pod=\"%s\" container=\"%s\" restartCount=%d policy=\"%s\"", fullname,
                                 c->name, container_restart_count(last[i]) + 1, pod->restart_policy);
                run_instance(ctx, pod, sandbox_id, sbcfg, &rt, c, false, res);
        }
        /* Sandboxes other than the current one go once nothing is left in them. */
        for (size_t i = 0; i < rt.sandboxes->n_items; i++) {
                Runtime__V1__PodSandbox *s = rt.sandboxes->items[i];
                bool used = streq(s->id, sandbox_id);
                for (size_t j = 0; j < pod->n_containers && !used; j++)
                        used = last[j] && streq(last[j]->pod_sandbox_id, s->id);
                if (!used)
                        stop_sandbox(ctx, s->id, true, res);
        }
out:
        publish_status(ctx, pod, res, steady ? &rt : NULL);
        pod_runtime_done(&rt);
        free(act);
        free(last);
        free(ex);
        free(to_stop);
        return res->error[0] ? -EIO : 0;
}

/* True when the runtime lists no sandbox and no container of the pod. */
static bool runtime_holds_nothing(const struct sync_ctx *ctx, const char *uid)
{
        struct pod_runtime rt = {0};
        struct cri_error err = {0};
        if (list_pod(ctx, uid, &rt, &err) < 0)
                return false;
        bool none = rt.sandboxes->n_items == 0 && rt.containers->n_containers == 0;
        pod_runtime_done(&rt);
        return none;
}

int pod_kill(const struct sync_ctx *ctx, const char *uid, int64_t grace_s, struct sync_result *res)
{
        struct pod_runtime rt = {0};
        struct cri_error err = {0};
        char name[512];
        int r;

        *res = (struct sync_result){0};
        r = list_pod(ctx, uid, &rt, &err);
        if (r < 0) {
                res_error(res, "FailedKillPod", "list pod: %s", cri_msg(&err, r));
                return r;
        }
        snprintf(name, sizeof name, "%s", uid);
        Runtime__V1__PodSandbox *sb = newest_sandbox(&rt);
        if (sb && sb->metadata)
                snprintf(name, sizeof name, "%s/%s", sb->metadata->namespace_, sb->metadata->name);

        Runtime__V1__Container **running =
                OOM_CHECK(calloc(rt.containers->n_containers + 1, sizeof *running));
        size_t nr = 0;
        for (size_t i = 0; i < rt.containers->n_containers; i++) {
                Runtime__V1__Container *c = rt.containers->containers[i];
                if (c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                        continue;
                running[nr++] = c;
                if (grace_s < 0) {
                        const char *g = KV_GET(c->annotations, c->n_annotations, ANN_POD_GRACE);
                        grace_s = g ? atoll(g) : 30;
                }
        }
        if (grace_s < 0)
                grace_s = 30;
        if (nr)
                stop_containers(ctx, running, nr, grace_s, name, res);
        free(running);
        /* The final status (containers terminated), for the API server before the pod is forgotten. */
        if (ctx->status && nr) {
                _cleanup_pod_ struct pod *last = status_manager_pod(ctx->status, uid);
                struct sync_result none = {0};
                if (last)
                        publish_status(ctx, last, &none, NULL);
        }
        for (size_t i = 0; i < rt.sandboxes->n_items; i++)
                stop_sandbox(ctx, rt.sandboxes->items[i]->id, true, res);
        /* Containers whose sandbox is already gone. */
        for (size_t i = 0; i < rt.containers->n_containers; i++)
                remove_container(ctx, rt.containers->containers[i]->id);

        /* The UID (and for the logs, namespace and name) come from the runtime's labels here: only a safe
         * path component ever names a directory removed (pods from sources are validated already). */
        bool safe = pod_uid_valid(uid);
        if (!safe)
                log_warn("Pod UID is not a safe directory name, leaving its directories alone",
                         "podUID=\"%s\"", log_q(uid));
        if (!res->error[0] && safe) {
                _cleanup_free_ char *pdir = pod_dir(ctx, uid);
                vol_teardown_pod(ctx->root_dir, uid);
                r = rm_rf(pdir);
                if (r < 0)
                        log_warn("Removing the pod directory failed, ignoring", "path=\"%s\" err=\"%s\"",
                                 pdir, strerror(-r));
                if (sb && sb->metadata && sb->metadata->namespace_ && sb->metadata->name &&
                    is_dns1123_label(sb->metadata->namespace_) && is_dns1123_subdomain(sb->metadata->name)) {
                        _cleanup_free_ char *ldir =
                                strdup_printf("%s/%s_%s_%s", ctx->pod_logs_dir, sb->metadata->namespace_,
                                              sb->metadata->name, uid);
                        rm_rf(ldir);
                }
        }
        if (!res->error[0]) {
                if (nr || rt.sandboxes->n_items)
                        log_info("Pod killed", "pod=\"%s\" podUID=\"%s\"", name, uid);
                if (ctx->status)
                        status_manager_remove(ctx->status, uid);
                if (ctx->backoff)
                        backoff_forget_prefix(ctx->backoff, uid);
                if (ctx->puller)
                        image_puller_forget(ctx->puller, uid);
                if (ctx->prober)
                        prober_remove_pod(ctx->prober, uid);
        }
        /* Last, once nothing of the pod runs: its cgroup. Processes still in it once the runtime lists nothing
         * of the pod are what the runtime left behind (a shim's "runc init" for a sandbox containerd lost when
         * it died during RunPodSandbox): as upstream's pod cgroup Destroy, they are killed first. While the
         * runtime still lists anything of the pod, nothing is killed and the worker retries. */
        if (!res->error[0] && ctx->cgroups && safe) {
                struct cg_error cerr = {{0}};
                r = qos_pod_remove(ctx->cgroups, uid, &cerr);
                if (r == -EBUSY && runtime_holds_nothing(ctx, uid)) {
                        log_warn("Killing the processes the runtime left in the pod's cgroup",
                                 "pod=\"%s\" err=\"%s\"", name, log_q(cerr.msg));
                        (void) qos_pod_kill(ctx->cgroups, uid, SIGKILL, NULL);
                        cerr = (struct cg_error){{0}};
                        r = qos_pod_remove(ctx->cgroups, uid, &cerr);
                }
                if (r < 0)
                        res_error(res, "FailedKillPod", "remove the pod cgroup: %s",
                                  cerr.msg[0] ? cerr.msg : strerror(-r));
        }
        pod_runtime_done(&rt);
        return res->error[0] ? -EIO : 0;
}
