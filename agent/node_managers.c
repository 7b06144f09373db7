/* The node-level managers' wiring: pod admission, the eviction manager's hooks, image and container
 * garbage collection and node allocatable enforcement, over the parts main.c starts. */
#include <string.h>

#include "admitter.h"
#include "agent.h"
#include "container_gc.h"
#include "eviction.h"
#include "events.h"
#include "image_gc.h"
#include "kuberuntime.h"
#include "log.h"
#include "manager.h"
#include "podconfig.h"
#include "qos_cgroups.h"
#include "status.h"
#include "util.h"
#include "volume.h"
#include "workers.h"

/* Pod admission between podconfig and the workers: once per pod, oldest first, before any source
 * speaks; pods with a ready sandbox now were admitted before a restart and go first. */
int start_admission(struct agent *a)
{
        _cleanup_free_ char *err = NULL;
        struct admitter_config ac = {.node_name = a->cfg.node_name,
                                     .node_labels = a->cfg.node_labels,
                                     .taints = a->cfg.register_taints,
                                     .allowed_unsafe_sysctls = a->cfg.allowed_unsafe_sysctls,
                                     .allowed_extra_networks = a->cfg.allowed_extra_networks,
                                     .root_dir = a->cfg.root_dir,
                                     .reserved = a->reserved,
                                     .max_pods = a->cfg.max_pods,
                                     .status = a->status,
                                     .events = a->events};
        int r = admitter_new(&ac, &a->admitter, &err);
        if (r < 0) {
                log_error("Cannot start pod admission", "err=\"%s\"", log_q(err));
                return r;
        }
        r = admitter_load_running(a->admitter, a->cri, MIN(a->cfg.runtime_timeout_ms, (int64_t) 10000));
        if (r < 0)
                log_warn("Cannot list the runtime's pods; every pod goes through admission", "err=\"%s\"",
                         strerror(-r));
        struct podconfig_admission ops = {.admit = admitter_admit,
                                          .finished = admitter_finished,
                                          .running = admitter_running,
                                          .userdata = a->admitter};
        podconfig_set_admission(a->podconfig, &ops);
        return 0;
}

/* On a GC thread: upstream's IsPodDeleted and IsPodTerminated, from the sources and the latest status. */
static enum cgc_pod_state gc_pod_state(const char *uid, void *ud)
{
        struct agent *a = ud;
        if (!podconfig_has(a->podconfig, uid))
                return CGC_POD_DELETED;
        json_t *st = status_manager_get(a->status, uid);
        _cleanup_pod_ struct pod *p = status_manager_pod(a->status, uid);
        const char *phase = json_string_value(json_object_get(st, "phase"));
        bool evicted = streq_ptr(phase, "Failed") &&
                       streq_ptr(json_string_value(json_object_get(st, "reason")), "Evicted");
        bool running = false;
        json_t *cs;
        size_t i;
        json_array_foreach(json_object_get(st, "containerStatuses"), i, cs) running |=
                json_object_get(json_object_get(cs, "state"), "running") != NULL;
        bool deleting = p && p->deleting && !running;
        bool terminal = pod_phase_terminal(phase);
        json_decref(st);
        if (evicted || deleting)
                return CGC_POD_DELETED;
        return terminal ? CGC_POD_TERMINATED : CGC_POD_ACTIVE;
}

static bool gc_sources_ready(void *ud)
{
        struct agent *a = ud;
        return atomic_load(&a->sources_pending) == 0;
}

/* Image and container garbage collection, each on a thread of its own with upstream's periods. */
int start_gc(struct agent *a)
{
        _cleanup_free_ char *state = strdup_printf("%s/image-records.json", a->cfg.root_dir);
        struct image_gc_config ic = {.cri = a->cri,
                                     .events = a->events,
                                     .state_path = state,
                                     .sandbox_image = a->cfg.pod_infra_image,
                                     .high_percent = a->cfg.image_gc_high,
                                     .low_percent = a->cfg.image_gc_low,
                                     .min_age_ms = a->cfg.image_min_gc_age_ms,
                                     .period_ms = a->cfg.image_gc_period_ms,
                                     .timeout_ms = MIN(a->cfg.runtime_timeout_ms, (int64_t) 60000)};
        struct image_gc *igc = NULL;
        struct container_gc *cgc = NULL;
        int r = image_gc_start(&ic, &igc);
        if (r < 0) {
                log_error("Cannot start image garbage collection", "err=\"%s\"", strerror(-r));
                return r;
        }
        /* Published atomically: the eviction manager's thread, running already, reads them. */
        __atomic_store_n(&a->image_gc, igc, __ATOMIC_RELEASE);
        struct container_gc_config cc = {
                .cri = a->cri,
                .events = a->events,
                .pod_logs_dir = a->cfg.pod_logs_dir,
                .containers_log_dir = a->containers_log_dir,
                .status_cache = a->status_cache,
                .policy = {.min_age_ns = a->cfg.min_container_ttl_ms * 1000000,
                           .max_per_pod_container = a->cfg.max_dead_per_container,
                           .max_containers = a->cfg.max_dead_containers},
                .period_ms = a->cfg.container_gc_period_ms,
                .timeout_ms = MIN(a->cfg.runtime_timeout_ms, (int64_t) 60000),
                .pod_state = gc_pod_state,
                .sources_ready = gc_sources_ready,
                .userdata = a,
        };
        r = container_gc_start(&cc, &cgc);
        if (r < 0)
                log_error("Cannot start container garbage collection", "err=\"%s\"", strerror(-r));
        else
                __atomic_store_n(&a->container_gc, cgc, __ATOMIC_RELEASE);
        return r;
}

/* The eviction manager's node-level reclaim before it evicts for disk (upstream's
 * DeleteAllUnusedContainers and DeleteUnusedImages); nothing until garbage collection has started. */
static int eviction_delete_containers(void *ud)
{
        struct agent *a = ud;
        struct container_gc *gc = __atomic_load_n(&a->container_gc, __ATOMIC_ACQUIRE);
        _cleanup_free_ char *err = NULL;
        int r = gc ? container_gc_collect(gc, true, &err) : 0;
        if (r < 0 && err)
                log_warn("Container garbage collection for eviction failed", "err=\"%s\"", log_q(err));
        return r;
}

static int eviction_delete_images(void *ud)
{
        struct agent *a = ud;
        struct image_gc *gc = __atomic_load_n(&a->image_gc, __ATOMIC_ACQUIRE);
        _cleanup_free_ char *err = NULL;
        int r = gc ? image_gc_delete_unused(gc, &err) : 0;
        if (r < 0 && err)
                log_warn("Image garbage collection for eviction failed", "err=\"%s\"", log_q(err));
        return r;
}

/* ---- the eviction manager's hooks ---- */

/* Every admitted pod still to run, synced or not: right after a restart the status manager knows only the
 * pods its workers have synced, and a pass ranking those alone evicted an idle pod before the one using
 * the resource (a hogged e2e_pid_pressure run). */
static size_t eviction_active_pods(void *ud, struct pod ***ret)
{
        struct agent *a = ud;
        return podconfig_active_pods(a->podconfig, ret);
}

static void eviction_wake_pod(void *ud, const char *uid)
{
        struct agent *a = ud;
        pod_workers_kick(a->workers, uid);
}

/* A container of the status that may still run: in containerStatuses, initContainerStatuses or
 * ephemeralContainerStatuses. */
static bool status_shows_running(json_t *st)
{
        static const char *const lists[] = {"containerStatuses", "initContainerStatuses",
                                            "ephemeralContainerStatuses"};
        json_t *cs;
        size_t i;
        for (size_t l = 0; l < sizeof lists / sizeof *lists; l++) {
                json_array_foreach(json_object_get(st, lists[l]), i, cs)
                {
                        if (json_object_get(json_object_get(cs, "state"), "running"))
                                return true;
                }
        }
        return false;
}

/* Upstream's PodResourcesAreReclaimed, asked after each eviction: nothing of the pod runs, in its last
 * status and in the runtime, and its volumes are gone (else the next pass sees an evicted pod's emptyDir
 * still on the disk, or its processes still counted, and evicts another pod for it). The runtime answers
 * for a pod with no status yet (not synced since a restart) and for an init container. Not the pod cgroup:
 * cubelet keeps a finished pod's until the pod goes. */
static bool eviction_pod_cleaned_up(void *ud, const char *uid)
{
        struct agent *a = ud;
        if (pod_uid_valid(uid) && vol_pod_volumes_exist(a->cfg.root_dir, uid))
                return false;
        json_t *st = status_manager_get(a->status, uid);
        bool running = status_shows_running(st);
        json_decref(st);
        if (running)
                return false;
        struct pod_runtime rt = {0};
        struct cri_error err = {0};
        if (list_pod(&a->sync, uid, &rt, &err) < 0) /* asked again at the next poll */
                return false;
        running = pod_runtime_may_run(&rt);
        pod_runtime_done(&rt);
        return !running;
}

static void eviction_conditions_changed(void *ud)
{
        struct agent *a = ud;
        struct node_manager *nm = __atomic_load_n(&a->node, __ATOMIC_ACQUIRE);
        if (nm)
                node_manager_poke(nm);
}

/* Upstream's enforceNodeAllocatableCgroups once the QoS tree stands: its Node events, and the limits of
 * the kube-reserved and system-reserved cgroups when enforced (their failure stops the start, as upstream's). */
int enforce_node_allocatable(struct agent *a)
{
        if (a->cgroups)
                events_record_node(a->events, EVENT_NORMAL, "NodeAllocatableEnforced",
                                   "Updated Node Allocatable limit across pods");
        static const struct {
                const char *key, *what;
        } levels[] = {{"system-reserved", "System"}, {"kube-reserved", "Kube"}};
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                if (!config_enforces(&a->cfg, levels[i].key))
                        continue;
                bool kube = i == 1;
                const struct reservation *res = kube ? &a->cfg.kube_reserved : &a->cfg.system_reserved;
                const char *name = kube ? a->cfg.kube_reserved_cgroup : a->cfg.system_reserved_cgroup;
                struct cg_error cerr = {{0}};
                int r = qos_enforce_reserved(NULL, CG_MODE_UNKNOWN, name, res->cpu_m, res->memory, res->pids,
                                             &cerr);
                if (r < 0) {
                        _cleanup_free_ char *msg =
                                strdup_printf("Failed to enforce %s Reserved Cgroup Limits on \"%s\": %s",
                                              levels[i].what, name, cerr.msg[0] ? cerr.msg : strerror(-r));
                        log_error("Cannot enforce node allocatable", "err=\"%s\"", log_q(msg));
                        events_record_node(a->events, EVENT_WARNING, "FailedNodeAllocatableEnforcement",
                                           "%s", msg);
                        return r;
                }
                log_info("Enforced reserved limits", "level=\"%s\" cgroup=\"%s\"", levels[i].key, name);
                events_record_node(a->events, EVENT_NORMAL, "NodeAllocatableEnforced",
                                   "Updated limits on %s reserved cgroup %s", kube ? "kube" : "system",
                                   name);
        }
        return 0;
}

/* The eviction manager, before any source runs: admission and the workers' syncs ask it. */
int start_eviction(struct agent *a)
{
        _cleanup_free_ struct ev_threshold *t = NULL;
        _cleanup_free_ char *err = NULL;
        size_t n = 0;
        int r = config_eviction_thresholds(&a->cfg, &t, &n, &err);
        if (r < 0) {
                log_error("Invalid eviction thresholds", "err=\"%s\"", log_q(err));
                return r;
        }
        const char *root = a->cfg.cgroup_root;
        while (*root == '/')
                root++;
        _cleanup_free_ char *kubepods =
                root[0] ? strdup_printf("%s/%s", root, QOS_KUBEPODS) : xstrdup(QOS_KUBEPODS);
        struct eviction_config ec = {
                .thresholds = t,
                .n_thresholds = n,
                .max_pod_grace_s = a->cfg.eviction_max_pod_grace_s,
                .transition_ms = a->cfg.eviction_transition_ms,
                .housekeeping_ms = 10000,
                .kernel_notification = a->cfg.kernel_memcg_notification,
                .kubepods_name = a->cgroups ? kubepods : NULL,
                .stats = a->stats,
                .events = a->events,
                .node_name = a->cfg.node_name,
                .active_pods = eviction_active_pods,
                .wake_pod = eviction_wake_pod,
                .pod_cleaned_up = eviction_pod_cleaned_up,
                .conditions_changed = eviction_conditions_changed,
                .userdata = a,
                .reclaim = {.delete_all_unused_containers = eviction_delete_containers,
                            .delete_unused_images = eviction_delete_images,
                            .userdata = a},
        };
        r = eviction_manager_start(&ec, &a->eviction);
        if (r < 0) {
                log_error("Cannot start the eviction manager", "err=\"%s\"", strerror(-r));
                return r;
        }
        a->sync.eviction = a->eviction;
        admitter_set_eviction(a->admitter, a->eviction);
        return 0;
}
