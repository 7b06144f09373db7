/* cubelet's entry point: parse the configuration, wire the parts together, run the loop. */
#include <arpa/inet.h>
#include <malloc.h>
#include <ifaddrs.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "credentials.h"
#include "container_gc.h"
#include "image_gc.h"
#include "puller.h"
#include "admitter.h"
#include "api.h"
#include "apisync.h"
#include "cgroups.h"
#include "backoff.h"
#include "client.h"
#include "kubeconfig.h"
#include "cert_manager.h"
#include "node.h"
#include "node_server.h"
#include "pki.h"
#include "objcache.h"
#include "seccomp_profile.h"
#include "security.h"
#include "services.h"
#include "runtimeclass.h"
#include "dns.h"
#include "tokens.h"
#include "sink.h"
#include "config.h"
#include "events.h"
#include "cri.h"
#include "file.h"
#include "url.h"
#include "healthz.h"
#include "eviction.h"
#include "status.h"
#include "status_cache.h"
#include "stop_gate.h"
#include "kuberuntime.h"
#include "exits.h"
#include "listing_cache.h"
#include "manager.h"
#include "network.h"
#include "metrics.h"
#include "malloc_tune.h"
#include "log.h"
#include "logrotate.h"
#include "logs.h"
#include "pleg.h"
#include "prober.h"
#include "podconfig.h"
#include "qos_cgroups.h"
#include "stats.h"
#include "sync.h"
#include "util.h"
#include "volume.h"
#include "workers.h"
#include "agent.h"

#define LOOP_STALL_MS 10000
/* How long the node's listing serves periodic resyncs while nothing changes (a change that reaches
 * cubelet by no event at all is seen that much later than by a listing of the pod's own). */
#define LISTING_MAX_AGE_MS 10000
/* The longest a teardown's removals wait behind other teardowns' stops: the default grace period (upstream
 * removes at its container GC, up to a minute after the stop). */
#define REMOVALS_HELD_MAX_MS 30000

static void kick_pod(const char *uid, void *ud)
{
        struct agent *a = ud;
        pod_workers_kick(a->workers, uid);
}

/* A ConfigMap or Secret changed: the pods using it sync now, not at the next resync. */
static void on_object_change(void *ud, const char *uid)
{
        kick_pod(uid, ud);
}

static json_t *pods_json(void *ud)
{
        struct agent *a = ud;
        return status_manager_pod_list(a->status);
}

static json_t *events_json(void *ud)
{
        struct agent *a = ud;
        return events_list_json(a->events);
}

/* clusterDNS keeps its valid addresses (upstream warns of the others and goes on); the node's resolv.conf
 * is checked once for search lines that leave the cluster's domains no room (upstream's node event, a
 * warning here). */
static void prepare_dns(struct agent *a)
{
        unsigned char buf[16];
        for (char **p = a->cfg.cluster_dns; p && *p; p++) {
                if (inet_pton(AF_INET, *p, buf) == 1 || inet_pton(AF_INET6, *p, buf) == 1)
                        strv_push(&a->cluster_dns, xstrdup(*p));
                else
                        log_warn("Invalid clusterDNS ip, ignoring it", "ip=\"%s\"", *p);
        }
        struct dns_settings ds = {.cluster_domain = a->cfg.cluster_domain,
                                  .resolv_conf = a->cfg.resolv_conf};
        _cleanup_free_ char *why = dns_check_resolv_conf(&ds);
        if (why)
                log_warn("CheckLimitsForResolvConf", "err=\"%s\"", log_q(why));
}

/* The node's IP when none is configured: the first IPv4 address of the default route's interface. */
static char *detect_node_ip(void)
{
        _cleanup_free_ char *routes = NULL;
        char ifname[64] = "";
        if (read_file_limit("/proc/net/route", 1 << 20, &routes, NULL) < 0)
                return NULL;
        for (char *save = NULL, *line = strtok_r(routes, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                char iface[64];
                unsigned long dest;
                if (sscanf(line, "%63s %lx", iface, &dest) == 2 && dest == 0) {
                        snprintf(ifname, sizeof ifname, "%s", iface);
                        break;
                }
        }
        struct ifaddrs *ifs, *i;
        char *ip = NULL;
        if (!ifname[0] || getifaddrs(&ifs) < 0)
                return NULL;
        for (i = ifs; i && !ip; i = i->ifa_next)
                if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && streq(i->ifa_name, ifname)) {
                        char buf[INET_ADDRSTRLEN];
                        inet_ntop(AF_INET, &((struct sockaddr_in *) i->ifa_addr)->sin_addr, buf, sizeof buf);
                        ip = xstrdup(buf);
                }
        freeifaddrs(ifs);
        return ip;
}

static int do_sync(void *ud, struct pod *pod, bool periodic, struct sync_result *res)
{
        struct agent *a = ud;
        /* Only API pods may use API objects (the Node authorizer would refuse the rest anyway). */
        if (a->objects && streq_ptr(pod_annotation(pod, "kubernetes.io/config.source"), "api"))
                obj_cache_register_pod(a->objects, pod);
        return pod_sync(&a->sync, pod, periodic, res);
}

/* On a pod worker, from pod_kill: the pod's resources are reclaimed (its sandboxes not removed yet). */
static void on_reclaimed(void *ud, const char *uid)
{
        struct agent *a = ud;
        pod_workers_reclaimed(a->workers, uid); /* a pod of its name (a changed static manifest) may start */
        if (a->objects)
                obj_cache_unregister_pod(a->objects, uid);
        if (a->tokens)
                token_forget_pod(a->tokens, uid);
        /* An API pod being deleted gets its DELETE even if it never had a status here. */
        if (a->api_status && a->api && api_source_deleting(a->api, uid)) {
                _cleanup_pod_ struct pod *p = api_source_pod(a->api, uid);
                if (p)
                        api_status_killed(a->api_status, p);
        }
}

static int do_kill(void *ud, const char *uid, int64_t grace_s, struct sync_result *res)
{
        struct agent *a = ud;
        return pod_kill(&a->sync, uid, grace_s, res);
}

/* On a puller thread: a pull a pod waited for has ended. */
static void on_pull_done(const char *uid, void *ud)
{
        struct agent *a = ud;
        if (a->workers)
                pod_workers_kick(a->workers, uid);
}

static void on_pod_change(const char *uid, uint64_t fingerprint, int64_t listed_us, bool gone, void *ud)
{
        struct agent *a = ud;
        pod_workers_kick_runtime(a->workers, uid, fingerprint, listed_us, gone);
}

/* On the event stream's thread. */
static bool on_container_exit(const char *uid, bool sandbox, void *ud)
{
        struct agent *a = ud;
        return pod_workers_kick_exit(a->workers, uid, sandbox);
}

/* On the PLEG thread, possibly before pleg_start has returned: a->pleg may not be set yet. */
static void on_relist(bool ok, const char *error, void *ud)
{
        struct agent *a = ud;
        bool was_down = atomic_exchange(&a->runtime_down, !ok);
        if (!ok && !was_down)
                log_error("Container runtime is not answering", "endpoint=\"%s\" err=\"%s\"",
                          a->cfg.runtime_endpoint, log_q(error));
        else if (ok && was_down)
                log_info("Container runtime is answering again", "endpoint=\"%s\"", a->cfg.runtime_endpoint);
}

/* On the PLEG thread, possibly before pleg_start has returned: a->pleg may not be set yet. */
static void on_relist_duration(int64_t duration_us, void *ud)
{
        struct agent *a = ud;
        metrics_pleg_relist(a->metrics, duration_us);
}

/* On the event stream's thread. Tests wait for these lines before they count on exits being seen at once. */
static void on_events_state(bool connected, const char *why, void *ud)
{
        struct agent *a = ud;
        if (connected)
                log_info("Runtime event stream connected", "endpoint=\"%s\"", a->cfg.runtime_endpoint);
        else
                log_warn("Runtime event stream lost; the periodic relist goes on alone until it is back",
                         "endpoint=\"%s\" err=\"%s\"", a->cfg.runtime_endpoint, log_q(why ? why : ""));
}

static bool health_check(void *ud, char *reason, size_t len)
{
        struct agent *a = ud;
        struct pleg_health h;
        int64_t now = now_mono_ms();

        pleg_get_health(a->pleg, &h);
        bool ok = pleg_health_check(&h, now, a->cfg.runtime_endpoint, reason, len);
        size_t used = strlen(reason);
        int64_t tick = atomic_load(&a->last_tick_ms);
        if (used < len && now - tick > LOOP_STALL_MS) {
                snprintf(reason + used, len - used, "[-]syncloop failed: main loop stalled for %llds\n",
                         (long long) (now - tick) / 1000);
                ok = false;
        } else if (used < len)
                snprintf(reason + used, len - used, "[+]syncloop ok\n");
        /* Detail only: upstream's healthz does not fail for the network. */
        char net[2048];
        used = strlen(reason);
        if (used < len && !network_ready(a->network, net, sizeof net))
                snprintf(reason + used, len - used, "[-]network failed: %s\n", net);
        else if (used < len)
                snprintf(reason + used, len - used, "[+]network ok\n");
        /* Detail only too: pressure makes the node refuse pods, not unhealthy. */
        bool pc[EV_COND_MAX];
        eviction_manager_conditions(a->eviction, pc);
        used = strlen(reason);
        char conds[64] = "";
        for (int i = 0; i < EV_COND_MAX; i++)
                if (pc[i])
                        snprintf(conds + strlen(conds), sizeof conds - strlen(conds), "%s%s",
                                 conds[0] ? ", " : "", ev_condition_name(i));
        if (used < len && conds[0])
                snprintf(reason + used, len - used, "[-]pressure failed: %s\n", conds);
        else if (used < len)
                snprintf(reason + used, len - used, "[+]pressure ok\n");
        return ok;
}

/* The Node's Ready condition, with upstream's messages. */
static bool node_ready(void *ud, char *msg, size_t len)
{
        struct agent *a = ud;
        struct pleg_health h;
        int64_t now = now_mono_ms();
        size_t used = 0;

        msg[0] = 0;
        pleg_get_health(a->pleg, &h);
        if (!h.relist_ok || atomic_load(&a->runtime_down))
                used += (size_t) snprintf(msg, len, "container runtime is down");
        char stale[256];
        if (used < len && pleg_health_stale(&h, now, stale, sizeof stale))
                used += (size_t) snprintf(msg + used, len - used, "%s%s", used ? ", " : "", stale);
        char net[2048];
        if (used < len && !network_ready(a->network, net, sizeof net))
                used += (size_t) snprintf(msg + used, len - used,
                                          "%scontainer runtime network not ready: %s", used ? ", " : "",
                                          net);
        return msg[0] == 0;
}

/* The Node's spec.podCIDR, for the default pod network (the network thread asks). */
static bool node_pod_cidr(void *ud, char *buf, size_t len)
{
        struct agent *a = ud;
        struct node_manager *nm = __atomic_load_n(&a->node, __ATOMIC_ACQUIRE);
        return nm && node_manager_pod_cidr(nm, buf, len);
}

/* Every pod status: metrics first, then the API server's status writer when there is one. */
static void on_status(void *ud, struct pod *pod, json_t *status)
{
        struct agent *a = ud;
        metrics_pod_status(a->metrics, pod->uid, status,
                           status ? status_manager_start_time(a->status, pod->uid, 0) : 0);
        if (a->api_status)
                api_status_listener(a->api_status, pod, status);
}

static void metrics_text(void *ud, char **buf, size_t *len)
{
        struct agent *a = ud;
        json_t *pods = status_manager_pod_list(a->status);
        *buf = metrics_render(a->metrics, pods, len);
        json_decref(pods);
}

static json_t *configz_json(void *ud)
{
        struct agent *a = ud;
        return json_pack("{s:o}", "kubeletconfig", config_to_json(&a->cfg));
}

static void source_spoke(struct agent *a)
{
        if (atomic_fetch_sub(&a->sources_pending, 1) == 1) {
                log_info("All pod sources are ready", "node=\"%s\"", a->cfg.node_name);
                pod_workers_set_sources_ready(a->workers);
                /* Pod cgroups left by pods no source wants (upstream's cleanupOrphanedPodCgroups): their
                 * workers tear the pods down and remove the cgroups once empty. Kicking a wanted pod only
                 * syncs it. */
                if (a->cgroups) {
                        _cleanup_strv_free_ char **uids = NULL;
                        if (qos_pod_uids(a->cgroups, &uids) >= 0)
                                for (char **u = uids; *u; u++)
                                        pod_workers_kick(a->workers, *u);
                }
                /* Likewise pod directories left by pods no source wants: their volumes and directories go. */
                _cleanup_strv_free_ char **dirs = NULL;
                if (vol_pod_dir_uids(a->cfg.root_dir, &dirs) >= 0)
                        for (char **u = dirs; u && *u; u++)
                                pod_workers_kick(a->workers, *u);
        }
}

static void api_synced(void *ud)
{
        source_spoke(ud);
}

static void url_first_set(void *ud)
{
        source_spoke(ud);
}

/* The manifest URL source (upstream's makePodSourceConfig logs the URL; header values may be secrets). */
static int start_url_source(struct agent *a)
{
        _cleanup_free_ char *names = xstrdup("");
        for (char **kv = a->cfg.static_pod_url_header; kv && *kv; kv++) {
                char *n =
                        strdup_printf("%s%s%.*s", names, names[0] ? "," : "", (int) strcspn(*kv, ":"), *kv);
                free(names);
                names = n;
        }
        _cleanup_free_ char *shown = url_redacted(a->cfg.static_pod_url);
        log_info("Adding pod url", "url=\"%s\" headers=\"%s\"", shown, names);
        struct url_source_config uc = {.url = a->cfg.static_pod_url,
                                       .headers = a->cfg.static_pod_url_header,
                                       .node_name = a->cfg.node_name,
                                       .period_ms = a->cfg.http_check_ms,
                                       .pc = a->podconfig,
                                       .first_set = url_first_set,
                                       .userdata = a};
        int r = url_source_start(&uc, &a->url_source);
        if (r < 0)
                log_error("Cannot start the manifest URL source", "err=\"%s\"", strerror(-r));
        return r;
}

static void mirror_changed(void *ud, const char *ns, const char *name)
{
        struct agent *a = ud;
        if (a->api_status)
                api_status_mirror_changed(a->api_status, ns, name);
}

/* The node server's webhook authentication and authorization: each on a client and rate limit of its own,
 * so that a flood of unknown tokens neither slows pod and status work nor the API server's own requests; a
 * review that gets no turn within the wait is refused (503), never queued. */
#define AUTH_QPS         20
#define AUTH_BURST       40
#define AUTH_MAX_WAIT_MS 250

/* The API server clients (upstream's three: pods/status rate-limited by kubeAPIQPS, events by
 * eventRecordQPS, node heartbeats unlimited; and the node server's two, above) and the ConfigMap/Secret
 * cache, before any pod syncs. */
/* A new client certificate (bootstrapped or rotated): every API client takes it; an unregistered node
 * tries again at once. Runs on the certificate manager's thread. */
static void on_client_cert(void *ud, const char *cert, size_t cert_len, const char *key, size_t key_len)
{
        struct agent *a = ud;
        struct kube_client *clients[] = {a->kube, a->kube_events, a->kube_heartbeat, a->kube_authn,
                                         a->kube_authz};
        for (size_t i = 0; i < ELEMENTSOF(clients); i++)
                kube_client_set_cert(clients[i], cert, cert_len, key, key_len);
        struct node_manager *nm = __atomic_load_n(&a->node, __ATOMIC_ACQUIRE);
        if (nm)
                node_manager_poke(nm);
        /* A serving certificate request waiting for client credentials goes now, not after its back-off. */
        cert_manager_retry_now(__atomic_load_n(&a->server_certs, __ATOMIC_ACQUIRE));
}

/* The credentials the clients start with: the kubeconfig's, or through the certificate manager (TLS
 * bootstrap, rotation), which may leave them pending until a certificate is issued. */
static int load_credentials(struct agent *a, struct kube_auth *auth, bool *pending)
{
        _cleanup_free_ char *err = NULL;
        int r;
        *pending = false;
        if (!a->cfg.bootstrap_kubeconfig && !a->cfg.rotate_certificates) {
                r = kubeconfig_load(a->cfg.kubeconfig, auth, &err);
                if (r < 0)
                        log_error("Invalid kubeconfig", "err=\"%s\"", log_q(err));
                return r;
        }
        struct cert_manager_config cc = {
                .kubeconfig = a->cfg.kubeconfig,
                .bootstrap_kubeconfig = a->cfg.bootstrap_kubeconfig,
                .cert_dir = a->cfg.cert_dir,
                .node_name = a->cfg.node_name,
                .rotate = a->cfg.rotate_certificates,
                .on_cert = on_client_cert,
                .userdata = a,
        };
        r = cert_manager_new(&cc, auth, pending, &a->certs, &err);
        if (r < 0)
                log_error("Invalid kubeconfig", "err=\"%s\"", log_q(err));
        return r;
}

static int init_kube(struct agent *a)
{
        struct kube_auth auth = {0};
        bool pending;
        int r = load_credentials(a, &auth, &pending);
        if (r < 0)
                return r;
        log_info("Using the API server", "server=\"%s\" context=\"%s\" kubeconfig=\"%s\"", auth.server,
                 auth.context ? auth.context : "", a->cfg.kubeconfig);
        if ((r = kube_client_new(&auth, a->cfg.kube_api_qps, a->cfg.kube_api_burst, &a->kube)) < 0 ||
            (r = kube_client_new(&auth, a->cfg.event_qps, a->cfg.event_burst, &a->kube_events)) < 0 ||
            (r = kube_client_new(&auth, 0, 1, &a->kube_heartbeat)) < 0 ||
            (r = kube_client_new(&auth, AUTH_QPS, AUTH_BURST, &a->kube_authn)) < 0 ||
            (r = kube_client_new(&auth, AUTH_QPS, AUTH_BURST, &a->kube_authz)) < 0) {
                kube_auth_wipe(&auth);
                log_error("Cannot create the API client", "err=\"%s\"", strerror(-r));
                a->kube = kube_client_free(a->kube);
                a->kube_events = kube_client_free(a->kube_events);
                a->kube_heartbeat = kube_client_free(a->kube_heartbeat);
                a->kube_authn = kube_client_free(a->kube_authn);
                a->certs = cert_manager_free(a->certs);
                return r;
        }
        if (pending) {
                struct kube_client *clients[] = {a->kube, a->kube_events, a->kube_heartbeat, a->kube_authn,
                                                 a->kube_authz};
                for (size_t i = 0; i < ELEMENTSOF(clients); i++)
                        kube_client_set_pending(clients[i],
                                                "no client certificate yet (TLS bootstrap in progress)");
        }
        /* Not waited for: static pods and the health endpoint work while the bootstrap runs. */
        if (a->certs && (r = cert_manager_start(a->certs)) < 0)
                log_error("Cannot start the certificate manager", "err=\"%s\"", strerror(-r));
        kube_client_set_max_wait(a->kube_authn, AUTH_MAX_WAIT_MS);
        kube_client_set_max_wait(a->kube_authz, AUTH_MAX_WAIT_MS);
        kube_auth_wipe(&auth);
        a->objects = obj_cache_new(a->kube);
        a->tokens = token_cache_new(a->kube);
        r = svc_cache_start(a->kube, &a->services);
        if (r < 0)
                log_error("Cannot watch Services; containers get no service variables", "err=\"%s\"",
                          strerror(-r));
        r = rc_cache_start(a->kube, &a->runtime_classes);
        if (r < 0)
                log_error("Cannot watch RuntimeClasses; pods naming one cannot start", "err=\"%s\"",
                          strerror(-r));
        return 0;
}

/* The API source (not yet watching), the status writer with its listener and the event sink: made
 * before any source runs, so no pod worker sees them change and no status is missed. */
static int prepare_kube(struct agent *a)
{
        struct api_source_ops so = {.synced = api_synced, .mirror_changed = mirror_changed, .userdata = a};
        a->api = api_source_new(a->kube, a->cfg.node_name, a->podconfig, &so);
        struct api_status_config sc = {
                .kube = a->kube, .source = a->api, .node_name = a->cfg.node_name, .timeout_ms = 10000};
        int r = api_status_start(&sc, &a->api_status);
        if (r < 0)
                return r;
        return event_sink_start(a->kube_events, a->events, a->cfg.node_name, 10000, &a->event_sink);
}

/* Node registration, then the pod watch. */
static int start_kube(struct agent *a)
{
        int r;
        if (a->cfg.register_node) {
                struct node_config nc = {
                        .kube = a->kube_heartbeat,
                        .cri = a->cri,
                        .node_name = a->cfg.node_name,
                        .node_ip = a->cfg.node_ip,
                        .root_dir = a->cfg.root_dir,
                        .labels = a->cfg.node_labels,
                        .taints = a->cfg.register_taints,
                        .max_pods = a->cfg.max_pods,
                        .kubelet_port = a->cfg.port,
                        .status_ms = a->cfg.node_status_ms,
                        .report_ms = a->cfg.node_report_ms,
                        .lease_duration_s = a->cfg.node_lease_s,
                        .timeout_ms = 10000,
                        .reserved = a->reserved,
                        .ready = node_ready,
                        .eviction = a->eviction,
                        .userdata = a,
                };
                struct node_manager *nm;
                r = node_manager_start(&nc, &nm);
                if (r < 0)
                        return r;
                __atomic_store_n(&a->node, nm, __ATOMIC_RELEASE); /* the network thread reads it */
                admitter_set_node(a->admitter, nm); /* the Node's labels and taints as they are now */
        }
        if (a->node)
                api_status_set_node(a->api_status, a->node);
        return api_source_run(a->api);
}

static void stop_kube(struct agent *a)
{
        a->certs = cert_manager_free(a->certs); /* it hands certificates to the clients */
        api_source_halt(a->api);    /* no more pods from the API; the status writer still reads it */
        node_manager_halt(a->node); /* before PLEG: it reads PLEG's health */
}

static void stop_kube_writers(struct agent *a)
{
        if (a->status)
                status_manager_set_listener(a->status, NULL, NULL);
        api_status_stop(a->api_status);
        a->api_status = NULL;
        api_source_free(a->api);
        a->api = NULL;
        event_sink_stop(a->event_sink);
        a->event_sink = NULL;
        a->objects = obj_cache_free(a->objects);
        a->services = svc_cache_free(a->services);
        a->runtime_classes = rc_cache_free(a->runtime_classes);
        a->tokens = token_cache_free(a->tokens);
        a->kube = kube_client_free(a->kube);
        a->kube_events = kube_client_free(a->kube_events);
        a->kube_heartbeat = kube_client_free(a->kube_heartbeat);
        a->kube_authn = kube_client_free(a->kube_authn);
        a->kube_authz = kube_client_free(a->kube_authz);
}

/* A serving certificate issued (or rotated): new handshakes take it. The manager's thread. */
static void on_serving_cert(void *ud, const char *cert, size_t cert_len, const char *key, size_t key_len)
{
        struct agent *a = ud;
        if (node_server_set_cert(a->node_server, cert, cert_len, key, key_len) < 0)
                log_error("The issued serving certificate cannot be used by the node server",
                          "certDir=\"%s\"", a->cfg.cert_dir);
}

/* serverTLSBootstrap: the node API's certificate by CSR, for the Node's addresses (its Hostname and
 * InternalIP), asked for with the node's own credentials; until one is issued the node API serves
 * tlsCertFile when set (as upstream's file store), else no handshake. */
static void start_server_certs(struct agent *a)
{
        /* As upstream's addressesToHostnamesAndIPs: a Hostname that is an address is an IP name. */
        struct in6_addr any;
        bool name_is_ip = inet_pton(AF_INET, a->cfg.node_name, &any) == 1 ||
                          inet_pton(AF_INET6, a->cfg.node_name, &any) == 1;
        char *dns[] = {name_is_ip ? NULL : a->cfg.node_name, NULL};
        char *ips[3] = {NULL};
        size_t n = 0;
        if (a->cfg.node_ip)
                ips[n++] = a->cfg.node_ip;
        if (name_is_ip && !(a->cfg.node_ip && streq(a->cfg.node_ip, a->cfg.node_name)))
                ips[n++] = a->cfg.node_name;
        struct cert_manager_config cc = {
                .cert_dir = a->cfg.cert_dir,
                .node_name = a->cfg.node_name,
                .kube = a->kube,
                .dns_names = dns,
                .ips = ips,
                .fallback_cert_file = a->cfg.tls_cert_file,
                .fallback_key_file = a->cfg.tls_key_file,
                .on_cert = on_serving_cert,
                .userdata = a,
        };
        __atomic_store_n(&a->server_certs, cert_manager_new_serving(&cc), __ATOMIC_RELEASE);
        int r = cert_manager_start(a->server_certs);
        if (r < 0)
                log_error("Cannot start the serving certificate manager", "err=\"%s\"", strerror(-r));
}

/* The node server on `port`: the configured certificate, else a self-signed one kept in <root>/pki, or with
 * serverTLSBootstrap the one issued by CSR. */
static int start_node_server(struct agent *a)
{
        _cleanup_free_ char *pki = strdup_printf("%s/pki", a->cfg.root_dir), *crt = NULL, *key = NULL,
                            *err = NULL;
        int r = 0;
        bool by_csr = a->cfg.server_tls_bootstrap && a->kube;
        if (!by_csr && !a->cfg.tls_cert_file &&
            (r = pki_ensure_self_signed(pki, a->cfg.node_name, a->cfg.node_ip, &crt, &key)) < 0) {
                log_error("Cannot make a self-signed serving certificate", "dir=\"%s\" err=\"%s\"", pki,
                          strerror(-r));
                return r;
        }
        bool webhook = a->cfg.authz_mode ? streq(a->cfg.authz_mode, "Webhook") : a->kube != NULL;
        struct node_server_config nc = {
                .bind_addr = a->cfg.address,
                .port = a->cfg.port,
                .cert_file = a->cfg.tls_cert_file ? a->cfg.tls_cert_file : crt,
                .key_file = a->cfg.tls_cert_file ? a->cfg.tls_key_file : key,
                .cert_by_csr = by_csr,
                .client_ca_file = a->cfg.client_ca_file,
                .anonymous = a->cfg.anonymous_auth,
                .token_webhook = a->cfg.webhook_authn,
                .authz_webhook = webhook,
                .token_cache_ttl_ms = a->cfg.authn_cache_ttl_ms,
                .authz_allowed_ttl_ms = a->cfg.authz_allowed_ttl_ms,
                .authz_denied_ttl_ms = a->cfg.authz_denied_ttl_ms,
                .authn_kube = a->kube_authn,
                .authz_kube = a->kube_authz,
                .node_name = a->cfg.node_name,
                .pod_logs_dir = a->cfg.pod_logs_dir,
                .status = a->status,
                .cri = a->cri,
                .stats = a->stats,
                .cri_timeout_ms = a->cfg.runtime_timeout_ms,
                .check = health_check,
                .metrics = metrics_text,
                .configz = configz_json,
                .userdata = a,
        };
        r = node_server_start(&nc, &a->node_server, &err);
        if (r < 0) {
                log_error("Cannot start the node server", "err=\"%s\"", log_q(err));
                return r;
        }
        log_info("Serving the node API",
                 "address=\"%s:%d\" cert=\"%s\" clientCA=\"%s\" authorization=\"%s\"", a->cfg.address,
                 a->cfg.port, by_csr ? "by CSR (serverTLSBootstrap)" : nc.cert_file,
                 a->cfg.client_ca_file ? a->cfg.client_ca_file : "", webhook ? "Webhook" : "AlwaysAllow");
        if (by_csr)
                start_server_certs(a);
        return 0;
}

/* Every 30 s the heap's free pages go back to the kernel: glibc returns only the top of an arena on its own,
 * and a burst (a hundred pods starting, a watch's relist) leaves the middle of both arenas free but
 * resident. Well under a millisecond for cubelet's heap. */
#define TRIM_TICKS 30

/* Every second: pods whose back-off or resync is due get synced, unless the runtime is not answering (they
 * wait for the relist that sees it back). Not on the relist itself: while events flow it runs rarely. */
static void tick_cb(uv_timer_t *t)
{
        struct agent *a = t->data;
        atomic_store(&a->last_tick_ms, now_mono_ms());
        if (a->workers && !atomic_load(&a->runtime_down))
                pod_workers_tick(a->workers);
        if (++a->ticks % TRIM_TICKS == 0)
                (void) malloc_trim(0);
}

static void stop_cb(uv_signal_t *s, int signum)
{
        struct agent *a = s->data;
        log_info("Shutting down; pods keep running", "signal=\"%s\"", strsignal(signum));
        uv_stop(&a->loop);
}

static void hup_cb(uv_signal_t *s, int signum)
{
        struct agent *a = s->data;
        if (a->file_source)
                file_source_rescan(a->file_source);
}

static void log_runtime_version(struct agent *a)
{
        Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL;
        struct cri_error err = {0};
        req.version = "v1";
        int r = CRI_CALL(a->cri, RuntimeService, Version, version, &req, &resp, 5000, &err);
        if (r < 0)
                log_error("Container runtime is not answering yet; will keep trying",
                          "endpoint=\"%s\" err=\"%s\"", a->cfg.runtime_endpoint,
                          log_q(err.msg[0] ? err.msg : strerror(-r)));
        else
                log_info("Container runtime answers",
                         "endpoint=\"%s\" runtime=\"%s\" version=\"%s\" "
                         "apiVersion=\"%s\"",
                         a->cfg.runtime_endpoint, resp->runtime_name, resp->runtime_version,
                         resp->runtime_api_version);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
        if (!uv_is_closing(h))
                uv_close(h, NULL);
}

static int run(struct agent *a)
{
        int r;

        log_info("Starting cubelet",
                 "version=\"%s\" node=\"%s\" staticPodPath=\"%s\" runtime=\"%s\" rootDir=\"%s\"",
                 CUBELET_VERSION, a->cfg.node_name, a->cfg.static_pod_path ? a->cfg.static_pod_path : "",
                 a->cfg.runtime_endpoint, a->cfg.root_dir);
        r = mkdir_p(a->cfg.root_dir, 0750);
        if (r >= 0) {
                _cleanup_free_ char *pods = strdup_printf("%s/pods", a->cfg.root_dir);
                r = mkdir_p(pods, 0750);
        }
        if (r < 0) {
                log_error("Cannot create the root directory", "path=\"%s\" err=\"%s\"", a->cfg.root_dir,
                          strerror(-r));
                return r;
        }
        r = mkdir_p(a->cfg.pod_logs_dir, 0755);
        if (r < 0) {
                log_error("Cannot create the pod logs directory", "path=\"%s\" err=\"%s\"",
                          a->cfg.pod_logs_dir, strerror(-r));
                return r;
        }
        log_set_pods_dir(a->cfg.pod_logs_dir);
        /* As upstream's container manager: the QoS tree exists before any pod, or cubelet does not start. */
        enum cg_mode mode = cg_detect_mode("/sys/fs/cgroup");
        if (a->cfg.cgroups_per_qos) {
                /* enforceNodeAllocatable "pods": kubepods is the allocatable, else the capacity */
                bool pods = config_enforces(&a->cfg, "pods");
                struct qos_cgroups_config qc = {.cgroup_root = a->cfg.cgroup_root,
                                                .pod_pids_limit = a->cfg.pod_pids_limit,
                                                .reserved_cpu_m = pods ? a->cfg.reserved_cpu_m : 0,
                                                .reserved_memory = pods ? a->cfg.reserved_mem : 0,
                                                .reserved_pids = pods ? a->cfg.reserved_pids : 0};
                struct cg_error cerr = {{0}};
                r = qos_cgroups_new(&qc, &a->cgroups, &cerr);
                if (r < 0) {
                        log_error("Cannot create the QoS cgroups", "cgroupRoot=\"%s\" err=\"%s\"",
                                  a->cfg.cgroup_root, log_q(cerr.msg[0] ? cerr.msg : strerror(-r)));
                        return r;
                }
        }
        log_info("Cgroup hierarchy",
                 "driver=\"cgroupfs\" mode=\"%s\" cgroupsPerQOS=%s cgroupRoot=\"%s\" podPidsLimit=%lld",
                 cg_mode_name(mode), a->cfg.cgroups_per_qos ? "true" : "false", a->cfg.cgroup_root,
                 (long long) a->cfg.pod_pids_limit);
        r = cri_client_new(a->cfg.runtime_endpoint, a->cfg.runtime_timeout_ms, &a->cri);
        if (r < 0) {
                log_error("Invalid container runtime endpoint", "endpoint=\"%s\" err=\"%s\"",
                          a->cfg.runtime_endpoint, strerror(-r));
                return r;
        }
        a->metrics = metrics_new(a->cfg.node_name);
        cri_client_set_observer(a->cri, metrics_runtime_op, a->metrics);
        struct stats_config sc = {.cri = a->cri,
                                  .timeout_ms = MIN(a->cfg.runtime_timeout_ms, (int64_t) 10000),
                                  .qos = a->cgroups,
                                  .node_name = a->cfg.node_name,
                                  .root_dir = a->cfg.root_dir,
                                  .pod_logs_dir = a->cfg.pod_logs_dir};
        a->stats = stats_new(&sc);
        log_runtime_version(a);
        _cleanup_free_ char *cni_cache = strdup_printf("%s/cni-cache", a->cfg.root_dir);
        _cleanup_free_ char *cni_ipam = strdup_printf("%s/cni-ipam", a->cfg.root_dir);
        struct network_config nc = {.mode = a->cfg.network_mode,
                                    .conf_dir = a->cfg.cni_conf_dir,
                                    .bin_dirs = a->cfg.cni_bin_dirs,
                                    .cri = a->cri,
                                    .timeout_ms = MIN(a->cfg.runtime_timeout_ms, (int64_t) 10000),
                                    .socket_path = a->cfg.cni_delegate_socket,
                                    .allowed_extra_networks = a->cfg.allowed_extra_networks,
                                    .cache_dir = cni_cache,
                                    .pod_cidr = a->cfg.pod_cidr,
                                    .node_pod_cidr = node_pod_cidr,
                                    .userdata = a,
                                    .ipam_dir = cni_ipam};
        r = network_start(&nc, &a->network);
        if (r < 0) {
                log_error("Cannot start the network check", "err=\"%s\"", strerror(-r));
                a->cri = cri_client_free(a->cri);
                return r;
        }
        /* From here on a failure goes through out: what started stops, in order. */
        uv_loop_init(&a->loop);
        if (a->cfg.kubeconfig && (r = init_kube(a)) < 0)
                goto out;

        if (!a->cfg.node_ip)
                a->cfg.node_ip = detect_node_ip();
        if (a->cfg.node_ip && str_has_prefix(a->cfg.node_ip, "127."))
                log_warn("The node IP is a loopback address; fine for a single-machine setup, not for a "
                         "cluster",
                         "nodeIP=\"%s\"", a->cfg.node_ip);
        a->status = status_manager_new();
        status_manager_set_listener(a->status, on_status, a); /* metrics, and the API status writer */
        a->backoff = backoff_new(10000, 300000);              /* upstream: 10 s doubling to 5 min */
        a->events = events_new(1000, 1.0 / 300, 25, a->cfg.node_name); /* upstream's spam filter */
        if ((r = enforce_node_allocatable(a)) < 0)
                goto out;
        struct prober_config prc = {
                .cri = a->cri, .events = a->events, .kick = kick_pod, .userdata = a, .threads = 2};
        r = prober_new(&prc, &a->prober);
        if (r < 0) {
                log_error("Cannot start the prober", "err=\"%s\"", strerror(-r));
                goto out;
        }
        /* /var/log/containers beside /var/log/pods, as upstream (a private podLogsDir keeps its own). */
        {
                _cleanup_free_ char *d = xstrdup(a->cfg.pod_logs_dir);
                char *slash = strrchr(d, '/');
                if (slash && slash != d)
                        *slash = 0;
                a->containers_log_dir = strdup_printf("%s/containers", slash == d ? "" : d);
        }
        prepare_dns(a);
        a->seccomp = seccomp_cache_new();
        a->seccomp_root = strdup_printf("%s/seccomp", a->cfg.root_dir);
        a->security = (struct security_ctx){.seccomp_root = a->seccomp_root,
                                            .seccomp_default = a->cfg.seccomp_default,
                                            .seccomp = a->seccomp};
        apparmor_host_probe(&a->security.apparmor);
        a->credentials = image_credentials_new(a->cfg.root_dir);
        struct image_puller_config ipc = {
                .cri = a->cri,
                .timeout_ms = MAX(a->cfg.runtime_timeout_ms, (int64_t) 300000),
                .max_parallel = a->cfg.serialize_image_pulls          ? 1
                                : a->cfg.max_parallel_image_pulls > 0 ? a->cfg.max_parallel_image_pulls
                                                                      : 16,
                .on_done = on_pull_done,
                .userdata = a,
        };
        a->puller = image_puller_new(&ipc);
        {
                _cleanup_free_ struct ev_threshold *t = NULL;
                _cleanup_free_ char *err = NULL;
                size_t n = 0;
                if ((r = config_eviction_thresholds(&a->cfg, &t, &n, &err)) < 0) {
                        log_error("Invalid eviction thresholds", "err=\"%s\"", log_q(err));
                        goto out;
                }
                node_reserved_from(t, n, a->cfg.reserved_cpu_m, a->cfg.reserved_mem,
                                   a->cfg.reserved_ephemeral, &a->reserved);
        }
        struct node_allocatable na;
        node_allocatable_compute(a->cfg.root_dir, NULL, &a->reserved, a->cfg.max_pods, &na);
        a->sync = (struct sync_ctx){
                .prober = a->prober,
                .backoff = a->backoff,
                .events = a->events,
                .status = a->status,
                .node_ip = a->cfg.node_ip,
                .cgroups = a->cgroups,
                .network = a->network,
                .cri = a->cri,
                .root_dir = a->cfg.root_dir,
                .pod_logs_dir = a->cfg.pod_logs_dir,
                .containers_log_dir = a->containers_log_dir,
                .resolv_conf = a->cfg.resolv_conf,
                .cluster_dns = a->cluster_dns,
                .cluster_domain = a->cfg.cluster_domain,
                .runtime_classes = a->runtime_classes,
                .status_cache = a->status_cache = status_cache_new(),
                .listing_cache = a->listing_cache = listing_cache_new(LISTING_MAX_AGE_MS),
                .exits = a->exits = runtime_exits_new(),
                .stop_gate = a->stop_gate = stop_gate_new(REMOVALS_HELD_MAX_MS),
                .reclaimed = on_reclaimed,
                .reclaimed_ud = a,
                .api_server = a->kube != NULL,
                .timeout_ms = a->cfg.runtime_timeout_ms,
                .image_pull_timeout_ms = MAX(a->cfg.runtime_timeout_ms, (int64_t) 300000),
                .objects = a->objects,
                .credentials = a->credentials,
                .puller = a->puller,
                .services = a->services,
                .tokens = a->tokens,
                .security = &a->security,
                /* allocatable: resourceFieldRef limits of containers that set none */
                .node_cpu_m = na.cpu_m,
                .node_mem = na.memory,
                .node_ephemeral = na.ephemeral,
        };
        struct pod_workers_ops ops = {.sync = do_sync, .kill = do_kill, .userdata = a};
        r = pod_workers_new(a->cfg.workers, &ops, a->cfg.sync_ms, &a->workers);
        if (r < 0) {
                log_error("Cannot start pod workers", "err=\"%s\"", strerror(-r));
                goto out;
        }
        if (a->objects)
                obj_cache_set_on_change(a->objects, on_object_change, a);
        a->podconfig = podconfig_new(a->workers);
        if ((r = start_admission(a)) < 0)
                goto out;
        if ((r = start_eviction(a)) < 0)
                goto out;

        uv_timer_init(&a->loop, &a->tick);
        a->tick.data = a;
        atomic_store(&a->last_tick_ms, now_mono_ms());
        uv_timer_start(&a->tick, tick_cb, 1000, 1000);
        uv_signal_init(&a->loop, &a->sigterm);
        uv_signal_init(&a->loop, &a->sigint);
        uv_signal_init(&a->loop, &a->sighup);
        a->sigterm.data = a->sigint.data = a->sighup.data = a;
        uv_signal_start(&a->sigterm, stop_cb, SIGTERM);
        uv_signal_start(&a->sigint, stop_cb, SIGINT);
        uv_signal_start(&a->sighup, hup_cb, SIGHUP);

        if (a->kube && (r = prepare_kube(a)) < 0) {
                log_error("Cannot start the API server parts", "err=\"%s\"", strerror(-r));
                goto out;
        }
        /* Sources first: nothing is treated as an orphan before every source has spoken once. */
        atomic_store(&a->sources_pending, 1 + !!a->kube + !!a->cfg.static_pod_url);
        if (a->cfg.static_pod_path) {
                _cleanup_free_ char *state = strdup_printf("%s/static-pods", a->cfg.root_dir);
                r = file_source_start(&a->loop, a->cfg.static_pod_path, state, a->cfg.node_name,
                                      a->cfg.file_check_ms, a->podconfig, &a->file_source);
                if (r < 0) {
                        log_error("Cannot start the static pod source", "state=\"%s\" err=\"%s\"", state,
                                  strerror(-r));
                        goto out;
                }
        } else
                podconfig_set(a->podconfig, POD_SOURCE_FILE, NULL, 0);
        source_spoke(a); /* the file source reads its directory at start */
        if (a->cfg.static_pod_url && (r = start_url_source(a)) < 0)
                goto out;

        struct pleg_config pc = {.cri = a->cri,
                                 .period_ms = a->cfg.relist_ms,
                                 .evented_period_ms = a->cfg.evented_relist_ms,
                                 .call_timeout_ms = MIN(a->cfg.runtime_timeout_ms, (int64_t) 30000),
                                 .on_pod_change = on_pod_change,
                                 .on_container_exit = on_container_exit,
                                 .on_relist = on_relist,
                                 .on_relist_duration = on_relist_duration,
                                 .on_events_state = on_events_state,
                                 .event_endpoint = a->cfg.runtime_events ? a->cfg.runtime_endpoint : NULL,
                                 .exits = a->exits,
                                 .userdata = a};
        r = pleg_start(&pc, &a->pleg);
        if (r < 0) {
                log_error("Cannot start PLEG", "err=\"%s\"", strerror(-r));
                goto out;
        }
        struct log_rotate_config lrc = {.cri = a->cri,
                                        .max_size = a->cfg.log_max_size,
                                        .max_files = a->cfg.log_max_files,
                                        .interval_ms = a->cfg.log_monitor_ms,
                                        .timeout_ms = MIN(a->cfg.runtime_timeout_ms, (int64_t) 10000),
                                        .containers_dir = a->containers_log_dir,
                                        .pod_logs_dir = a->cfg.pod_logs_dir};
        r = log_rotator_start(&lrc, &a->log_rotator);
        if (r < 0) {
                log_error("Cannot start the container log rotation", "err=\"%s\"", strerror(-r));
                goto out;
        }
        if ((r = start_gc(a)) < 0)
                goto out;
        if (a->kube && (r = start_kube(a)) < 0) {
                log_error("Cannot start the API server parts", "err=\"%s\"", strerror(-r));
                goto out;
        }
        if (a->cfg.local_socket) {
                /* Standalone visibility: pod specs (literal env values included) and events, for root only. */
                struct healthz_handlers lh = {
                        .check = health_check, .pods = pods_json, .events = events_json, .userdata = a};
                r = healthz_start_unix(a->cfg.local_socket, &lh, &a->local);
                if (r < 0) {
                        log_error("Cannot serve the local socket", "path=\"%s\" err=\"%s\"%s",
                                  a->cfg.local_socket, strerror(-r),
                                  r == -EEXIST       ? " reason=\"a file that is not a socket is there\""
                                  : r == -EADDRINUSE ? " reason=\"another process listens on it\""
                                                     : "");
                        goto out;
                }
                log_info("Serving pods and events on the local socket", "path=\"%s\"", a->cfg.local_socket);
        }
        if (a->cfg.healthz_port > 0) {
                /* /healthz only, as upstream: the port is open to every local user and hostNetwork pod. */
                struct healthz_handlers hh = {.check = health_check, .userdata = a};
                r = healthz_start(a->cfg.healthz_bind, a->cfg.healthz_port, &hh, &a->healthz);
                if (r < 0) {
                        log_error("Cannot serve healthz", "address=\"%s:%d\" err=\"%s\"",
                                  a->cfg.healthz_bind, a->cfg.healthz_port, strerror(-r));
                        goto out;
                }
                log_info("Serving healthz", "address=\"%s:%d\"", a->cfg.healthz_bind, a->cfg.healthz_port);
        }
        if (a->cfg.read_only_port > 0) {
                struct healthz_handlers rh = {.check = health_check,
                                              .pods = pods_json,
                                              .stats = a->stats,
                                              .metrics = a->metrics ? metrics_text : NULL,
                                              .userdata = a};
                r = healthz_start(a->cfg.address, a->cfg.read_only_port, &rh, &a->readonly);
                if (r < 0) {
                        log_error("Cannot serve the read-only port", "address=\"%s:%d\" err=\"%s\"",
                                  a->cfg.address, a->cfg.read_only_port, strerror(-r));
                        goto out;
                }
                log_info("Serving the read-only port", "address=\"%s:%d\"", a->cfg.address,
                         a->cfg.read_only_port);
        }

        if (a->cfg.port > 0 && (r = start_node_server(a)) < 0)
                goto out;

        uv_run(&a->loop, UV_RUN_DEFAULT);
        r = 0;
out:
        /* The client certificate manager first (its thread pokes the serving one), then the serving one (it
         * hands certificates to the node server), then the node server. */
        a->certs = cert_manager_free(a->certs);
        __atomic_store_n(&a->server_certs, cert_manager_free(a->server_certs), __ATOMIC_RELEASE);
        a->node_server = node_server_stop(a->node_server);
        a->healthz = healthz_stop(a->healthz);
        a->local = healthz_stop(a->local);
        a->readonly = healthz_stop(a->readonly);
        stop_kube(a);
        url_source_stop(a->url_source); /* no more sets into podconfig: the workers go next */
        a->url_source = NULL;
        log_rotator_stop(a->log_rotator);
        a->log_rotator = NULL;
        eviction_manager_halt(a->eviction); /* it calls the garbage collections (and kicks the workers) */
        container_gc_stop(a->container_gc); /* they read podconfig and call the runtime */
        a->container_gc = NULL;
        image_gc_stop(a->image_gc);
        a->image_gc = NULL;
        a->pleg = pleg_stop(a->pleg);
        prober_halt(a->prober); /* no more kicks into the workers */
        if (a->objects)
                obj_cache_set_on_change(a->objects, NULL, NULL);
        /* The puller's threads wake pod workers: they stop first; the workers may still ask it until they
         * are stopped, so it is freed after them. */
        if (a->puller)
                image_puller_halt(a->puller);
        stop_gate_close(a->stop_gate); /* a teardown holding its removals does not hold the exit */
        a->workers = pod_workers_free(a->workers);
        a->puller = image_puller_free(a->puller);
        a->prober = prober_free(a->prober);    /* after the workers: they read its results */
        stop_kube_writers(a);                  /* after the workers: they publish statuses */
        a->network = network_stop(a->network); /* after the workers and the node manager: they read it */
        if (a->admitter)
                admitter_set_node(a->admitter, NULL);
        node_manager_stop(a->node); /* after the network: it asks for the Node's pod CIDR */
        a->node = NULL;
        if (a->file_source)
                file_source_stop(a->file_source);
        uv_walk(&a->loop, close_walk_cb, NULL);
        uv_run(&a->loop, UV_RUN_DEFAULT);
        uv_loop_close(&a->loop);
        a->podconfig = podconfig_free(a->podconfig);
        a->admitter = admitter_free(a->admitter);
        eviction_manager_stop(a->eviction); /* after the workers and the admitter: they ask it */
        a->eviction = NULL;
        a->cri = cri_client_free(a->cri);
        a->backoff = backoff_free(a->backoff);
        a->events = events_free(a->events);
        a->status = status_manager_free(a->status);
        a->status_cache = status_cache_free(a->status_cache);
        a->stop_gate = stop_gate_free(a->stop_gate);
        a->listing_cache = listing_cache_free(a->listing_cache);
        a->exits = runtime_exits_free(a->exits); /* after the PLEG and the workers */
        a->seccomp = seccomp_cache_free(a->seccomp);
        a->credentials = image_credentials_free(a->credentials);
        free(a->seccomp_root);
        free(a->containers_log_dir);
        log_set_pods_dir(NULL); /* its readers are gone with the node server and the workers */
        return r;
}

int main(int argc, char **argv)
{
        struct agent a = {0};
        int r;

        malloc_tune(argv);
        signal(SIGPIPE, SIG_IGN);
        config_init_defaults(&a.cfg);
        r = config_parse(&a.cfg, argc, argv);
        if (r != 0) {
                config_done(&a.cfg);
                return r > 0 ? 0 : 2;
        }
        log_verbosity = a.cfg.verbosity;
        r = run(&a);
        a.stats = stats_free(a.stats); /* before the cgroups it reads; its servers are stopped */
        a.cgroups = qos_cgroups_free(a.cgroups);
        a.metrics = metrics_free(a.metrics); /* after run: the CRI client and PLEG are gone */
        strv_free(a.cluster_dns);
        config_done(&a.cfg);
        return r < 0 ? 1 : 0;
}
