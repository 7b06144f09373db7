/* The pod sandbox (upstream's kuberuntime_sandbox): its config (DNS, hostname, ports, namespaces,
 * security, cgroup parent), its creation with the RuntimeClass handler, its IPs and the pod's /etc/hosts,
 * and stopping it. */
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

Runtime__V1__NamespaceOption *ns_options(struct arena *a, const struct pod *pod)
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
Runtime__V1__PodSandboxConfig *sandbox_config(struct arena *a, const struct sync_ctx *ctx,
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

int create_sandbox(const struct sync_ctx *ctx, struct pod *pod, Runtime__V1__PodSandboxConfig *cfg,
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

/* The sandbox's IP, for httpGet handlers. */
char *sandbox_ip(const struct sync_ctx *ctx, const char *sandbox_id)
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
int write_hosts_file(const struct sync_ctx *ctx, const struct pod *pod, const char *sandbox_id,
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

int stop_sandbox(const struct sync_ctx *ctx, const char *id, bool remove, struct sync_result *res)
{
        Runtime__V1__StopPodSandboxRequest sreq = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__StopPodSandboxResponse *sresp = NULL;
        struct cri_error err = {0};
        int r;

        sreq.pod_sandbox_id = (char *) id;
        r = CRI_CALL(ctx->cri, RuntimeService, StopPodSandbox, stop_pod_sandbox, &sreq, &sresp,
                     ctx->timeout_ms, &err);
        if (r < 0 && !cri_not_found(&err)) {
                res_error(res, "FailedKillPod", "stop sandbox %.13s: %s", id, cri_msg(&err, r));
                return r;
        }
        return remove ? remove_sandbox(ctx, id, res) : 0;
}

int remove_sandbox(const struct sync_ctx *ctx, const char *id, struct sync_result *res)
{
        Runtime__V1__RemovePodSandboxRequest rreq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__RemovePodSandboxResponse *rresp = NULL;
        struct cri_error err = {0};
        int r;

        rreq.pod_sandbox_id = (char *) id;
        r = CRI_CALL(ctx->cri, RuntimeService, RemovePodSandbox, remove_pod_sandbox, &rreq, &rresp,
                     ctx->timeout_ms, &err);
        if (r < 0 && !cri_not_found(&err)) {
                res_error(res, "FailedKillPod", "remove sandbox %.13s: %s", id, cri_msg(&err, r));
                return r;
        }
        status_cache_forget(ctx->status_cache, id);
        return 0;
}
