/* Containers (upstream's kuberuntime_container): the config a container is created with (image,
 * environment, mounts, resources, security), its start with the postStart hook, its stop with the preStop
 * hook and the grace period, its removal with its logs, and its exit. */
#include "kuberuntime.h"

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
#include "dns.h"
#include "envvars.h"
#include "events.h"
#include "eviction.h"
#include "expansion.h"
#include "image_manager.h"
#include "log.h"
#include "logrotate.h"
#include "logs.h"
#include "manager.h"
#include "network.h"
#include "probe_net.h"
#include "prober.h"
#include "puller.h"
#include "qos_cgroups.h"
#include "runtimeclass.h"
#include "security.h"
#include "status.h"
#include "status_cache.h"
#include "util.h"
#include "volume.h"

/* ---- lifecycle hooks ---- */

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

/* ---- the image ---- */

/* The container's image, from the image manager: why it cannot be had is the container's waiting reason. */
static int ensure_image(const struct sync_ctx *ctx, const struct pod *pod, const struct container *c,
                        const char *fp, char **ret_ref, struct sync_result *res)
{
        struct image_manager_ctx m = {.cri = ctx->cri,
                                      .timeout_ms = ctx->timeout_ms,
                                      .objects = ctx->objects,
                                      .credentials = ctx->credentials,
                                      .puller = ctx->puller,
                                      .backoff = ctx->backoff,
                                      .events = ctx->events};
        struct image_failure f = {0};
        int r = image_ensure(&m, pod, c, fp, ret_ref, &f);
        if (r >= 0 || r == -EINPROGRESS)
                return r;
        res_cerror(res, c->name, f.reason, "%s", f.message);
        if (f.error[0]) /* a failed pull: the pod's error names the image too */
                snprintf(res->error, sizeof res->error, "%s", f.error);
        if (f.retry_ms > 0)
                res->requeue_ms = res->requeue_ms ? MIN(res->requeue_ms, f.retry_ms) : f.retry_ms;
        return r;
}

/* ---- resources ---- */

#define OOM_ADJ_GUARANTEED  (-997)
#define OOM_ADJ_BEST_EFFORT 1000

/* Read once; the pod workers ask at once, so the cache is atomic (two first readers both read, alike). */
static int64_t node_memory_bytes(void)
{
        static int64_t cached;
        int64_t v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
        if (!v) {
                _cleanup_free_ char *buf = NULL;
                long long kb = 0;
                if (read_file_limit("/proc/meminfo", 1 << 16, &buf, NULL) >= 0 &&
                    sscanf(buf, "MemTotal: %lld kB", &kb) == 1)
                        v = kb * 1024;
                __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
        }
        return v;
}

/* Upstream's container resources: shares from the request, quota from the limit, the memory limit,
 * oom_score_adj by QoS class, and a hugetlb limit per page size the node has: what the container's limits
 * say of that size, else 0. */
static void container_resources(struct arena *a, const struct pod *pod, const struct container *c,
                                Runtime__V1__LinuxContainerResources *r)
{
        struct cg_hugepage hugepages[CG_HUGEPAGES_MAX]; /* the node's, as cubelet found them at start */
        size_t n = cg_hugepages(NULL, hugepages);
        if (n) {
                r->hugepage_limits = arena_alloc(a, n * sizeof *r->hugepage_limits);
                for (size_t i = 0; i < n; i++) {
                        Runtime__V1__HugepageLimit *h = arena_alloc(a, sizeof *h);
                        runtime__v1__hugepage_limit__init(h);
                        h->page_size = arena_strdup(a, hugepages[i].name);
                        h->limit = (uint64_t) container_hugepages(c, (int64_t) hugepages[i].page_size);
                        r->hugepage_limits[i] = h;
                }
                r->n_hugepage_limits = n;
        }
        /* The cgroups library's arithmetic: clamped, no overflow for a manifest's 9e18m of cpu. */
        r->cpu_shares = cg_milli_to_shares(c->cpu_request_m);
        r->cpu_period = CG_QUOTA_PERIOD_US; /* always, as upstream (--cpu-cfs-quota's default) */
        if (c->cpu_limit_m > 0)
                r->cpu_quota = cg_milli_to_quota(c->cpu_limit_m, CG_QUOTA_PERIOD_US);
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

int start_container(const struct sync_ctx *ctx, struct pod *pod, const char *sandbox_id,
                    Runtime__V1__PodSandboxConfig *sbcfg, const struct container *c, int restart_count,
                    const char *fp, struct sync_result *res)
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
                               .node_ephemeral = ctx->node_ephemeral,
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
        /* /etc/hosts before the termination message file, as upstream's order (the later one wins where both
         * name one path). */
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
        container_resources(&a, pod, c, &lres);
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
                /* upstream's /var/log/containers/<pod>_<ns>_<container>-<id>.log, for log shippers: removed
                 * with the container, and the log rotator prunes links whose log is gone once a minute */
                _cleanup_free_ char *name = log_container_link_name(pod->name, pod->namespace, c->name,
                                                                    cresp->container_id),
                                    *link = strdup_printf("%s/%s", ctx->containers_log_dir, name);
                _cleanup_free_ char *target = strdup_printf("%s/%s", sbcfg->log_directory, cfg.log_path);
                (void) mkdir_p(ctx->containers_log_dir, 0755);
                if (symlink(target, link) < 0 && errno != EEXIST)
                        log_warn("Cannot link the container log, ignoring", "path=\"%s\" err=\"%s\"", link,
                                 strerror(errno));
        }
        Runtime__V1__StartContainerRequest sreq = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__StartContainerResponse *sresp = NULL;
        sreq.container_id = cresp->container_id;
        _cleanup_free_ char *marker = start_marker_make(ctx, pod->uid, cresp->container_id);
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

int stop_container(const struct sync_ctx *ctx, const char *id, int64_t grace_s, struct cri_error *err)
{
        Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__StopContainerResponse *resp = NULL;
        req.container_id = (char *) id;
        req.timeout = grace_s;
        return CRI_CALL(ctx->cri, RuntimeService, StopContainer, stop_container, &req, &resp,
                        grace_s * 1000 + ctx->timeout_ms, err);
}

int remove_container(const struct sync_ctx *ctx, const char *id)
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
        /* The runtime refuses to remove a container in unknown state: it may still run. Stopped first. */
        if (sresp && sresp->status &&
            sresp->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN)
                (void) stop_container(ctx, id, 0, &err);
        int r = CRI_CALL(ctx->cri, RuntimeService, RemoveContainer, remove_container, &req, &resp,
                         ctx->timeout_ms, &err);
        if (r < 0 && cri_not_found(&err))
                r = 0; /* removed already (with its sandbox, or by another): as good */
        /* A removed container's log goes with it, rotated files too (upstream's removeContainerLog): a
         * crash-looping container would otherwise leave a log per restart behind. No symlink below the pod
         * logs directory is followed. Its /var/log/containers link goes too, as upstream's. */
        if (r >= 0 && sresp && sresp->status) {
                const Runtime__V1__ContainerStatus *st = sresp->status;
                log_remove_container_logs(ctx->pod_logs_dir, st->log_path);
                log_remove_container_link(ctx->containers_log_dir,
                                          KV_GET(st->labels, st->n_labels, LABEL_POD_NAME),
                                          KV_GET(st->labels, st->n_labels, LABEL_POD_NAMESPACE),
                                          KV_GET(st->labels, st->n_labels, LABEL_CONTAINER_NAME), id);
        }
        if (r >= 0)
                status_cache_forget(ctx->status_cache, id);
        return r;
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
        if (cri_timed_out(&j->err, j->r)) {
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
int stop_containers(const struct sync_ctx *ctx, Runtime__V1__Container **list, size_t n, int64_t grace_s,
                    const char *pod_name, struct sync_result *res)
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
                if (jobs[i].r < 0 && !cri_not_found(&jobs[i].err) /* already gone */) {
                        res_error(res, "FailedKillPod", "stop container \"%s\": %s", jobs[i].name,
                                  cri_msg(&jobs[i].err, jobs[i].r));
                        ret = jobs[i].r;
                }
        }
        free(jobs);
        return ret;
}

int container_exit_info(const struct sync_ctx *ctx, const char *id, struct exit_info *ret)
{
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ContainerStatusResponse *resp = NULL;
        struct cri_error err = {0};
        struct runtime_exit x;
        if (runtime_exits_get(ctx->exits, id, &x)) { /* what CRI will say once it has applied the event */
                *ret = (struct exit_info){.code = x.code, .finished_ms = x.finished_ns / 1000000};
                snprintf(ret->reason, sizeof ret->reason, "%s", x.reason ? x.reason : "");
                return 0;
        }
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
