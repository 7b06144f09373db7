/* The admitter: pod admission wired to the node (its labels, taints, allocatable), podconfig's order, and
 * the pod's fate when refused (Failed status through the status manager, a Warning Event, a log line). */
#include "admitter.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "admission.h"
#include "cri.h"
#include "eviction.h"
#include "events.h"
#include "log.h"
#include "manager.h"
#include "node.h"
#include "status.h"
#include "util.h"

struct admitter {
        char *node_name, *root_dir;
        json_t *local_labels,
                *local_taints; /* what cubelet registers: standalone, or before the Node is seen */
        struct node_reserved reserved;
        int max_pods;
        struct sysctl_whitelist *sysctls;
        char **extra_networks; /* allowedExtraNetworks */
        struct status_manager *status;
        struct event_recorder *events;
        struct node_manager *node;         /* atomic: set once the node manager runs */
        struct eviction_manager *eviction; /* atomic: set once it runs */
        pthread_mutex_t lock;
        char **running; /* UIDs with a ready sandbox at start, until decided */
};

int admitter_new(const struct admitter_config *cfg, struct admitter **ret, char **ret_err)
{
        struct sysctl_whitelist *w = sysctl_whitelist_new(cfg->allowed_unsafe_sysctls, ret_err);
        if (!w)
                return -EINVAL;
        struct admitter *ad = OOM_CHECK(calloc(1, sizeof *ad));
        ad->node_name = xstrdup(cfg->node_name);
        ad->root_dir = xstrdup(cfg->root_dir);
        ad->local_labels = node_local_labels(cfg->node_name, cfg->node_labels);
        ad->local_taints = node_local_taints(cfg->taints);
        ad->reserved = cfg->reserved;
        ad->max_pods = cfg->max_pods;
        ad->sysctls = w;
        for (char *const *e = cfg->allowed_extra_networks; e && *e; e++)
                strv_push(&ad->extra_networks, xstrdup(*e));
        ad->status = cfg->status;
        ad->events = cfg->events;
        pthread_mutex_init(&ad->lock, NULL);
        *ret = ad;
        return 0;
}

struct admitter *admitter_free(struct admitter *ad)
{
        if (!ad)
                return NULL;
        free(ad->node_name);
        free(ad->root_dir);
        json_decref(ad->local_labels);
        json_decref(ad->local_taints);
        sysctl_whitelist_free(ad->sysctls);
        strv_free(ad->extra_networks);
        strv_free(ad->running);
        pthread_mutex_destroy(&ad->lock);
        free(ad);
        return NULL;
}

void admitter_set_eviction(struct admitter *ad, struct eviction_manager *ev)
{
        __atomic_store_n(&ad->eviction, ev, __ATOMIC_RELEASE);
}

void admitter_set_node(struct admitter *ad, struct node_manager *nm)
{
        __atomic_store_n(&ad->node, nm, __ATOMIC_RELEASE);
}

static const char *sandbox_uid(const Runtime__V1__PodSandbox *s)
{
        for (size_t i = 0; i < s->n_labels; i++)
                if (streq(s->labels[i]->key, "io.kubernetes.pod.uid"))
                        return s->labels[i]->value;
        return NULL;
}

int admitter_load_running(struct admitter *ad, struct cri_client *cri, int64_t timeout_ms)
{
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ListPodSandboxResponse *resp = NULL;
        struct cri_error err = {0};
        int r = CRI_CALL(cri, RuntimeService, ListPodSandbox, list_pod_sandbox, &req, &resp, timeout_ms,
                         &err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&ad->lock);
        for (size_t i = 0; i < resp->n_items; i++) {
                const char *uid = sandbox_uid(resp->items[i]);
                if (uid && resp->items[i]->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
                        strv_push(&ad->running, xstrdup(uid));
        }
        pthread_mutex_unlock(&ad->lock);
        return 0;
}

/* Whether uid ran at start; taken out of the set (a UID is decided once). */
static bool take_running(struct admitter *ad, const char *uid, bool take)
{
        bool found = false;
        pthread_mutex_lock(&ad->lock);
        size_t n = strv_length(ad->running);
        for (size_t i = 0; i < n && !found; i++)
                if (streq(ad->running[i], uid)) {
                        found = true;
                        if (take) {
                                free(ad->running[i]);
                                ad->running[i] = ad->running[n - 1];
                                ad->running[n - 1] = NULL;
                        }
                }
        pthread_mutex_unlock(&ad->lock);
        return found;
}

bool admitter_running(void *userdata, const char *uid)
{
        return take_running(userdata, uid, false);
}

bool admitter_finished(void *userdata, const struct pod *pod)
{
        struct admitter *ad = userdata;
        json_t *st = status_manager_get(ad->status, pod->uid);
        const char *phase = json_string_value(json_object_get(st, "phase"));
        if (!st)
                phase = json_string_value(json_object_get(json_object_get(pod->json, "status"), "phase"));
        bool done = pod_phase_terminal(phase);
        json_decref(st);
        return done;
}

/* Upstream's rejectPod: the Event carries the message, the status "Pod " and the message. */
static void reject_pod(struct admitter *ad, struct pod *pod, const char *reason, const char *message)
{
        char name[512], start[64];
        log_warn("Pod rejected at admission", "pod=\"%s\" podUID=\"%s\" reason=\"%s\" message=\"%s\"",
                 pod_full_name(pod, name, sizeof name), pod->uid, reason, log_q(message));
        events_record(ad->events, pod->namespace, pod->name, pod->uid, NULL, EVENT_WARNING, reason, "%s",
                      message);
        format_rfc3339(status_manager_start_time(ad->status, pod->uid, 0), start, sizeof start);
        _cleanup_free_ char *msg = strdup_printf("Pod %s", message);
        status_manager_set(ad->status, pod,
                           json_pack("{s:s, s:s, s:s, s:s}", "phase", "Failed", "reason", reason, "message",
                                     msg, "startTime", start));
}

bool admitter_admit(void *userdata, struct pod *pod, struct pod *const *admitted, size_t n)
{
        struct admitter *ad = userdata;
        char name[512];
        if (take_running(ad, pod->uid, true)) {
                log_v(2, "Pod ran before cubelet started; admitted", "pod=\"%s\" podUID=\"%s\"",
                      pod_full_name(pod, name, sizeof name), pod->uid);
                return true;
        }
        /* Upstream's eviction admit handler comes first. */
        char why[256];
        struct eviction_manager *ev = __atomic_load_n(&ad->eviction, __ATOMIC_ACQUIRE);
        if (ev && !eviction_manager_admit(ev, pod, why, sizeof why)) {
                reject_pod(ad, pod, "Evicted", why);
                return false;
        }
        struct node_allocatable na;
        node_allocatable_compute(ad->root_dir, NULL, &ad->reserved, ad->max_pods, &na);
        /* Huge pages: the pools the Node reports. */
        struct resource_qty scalars[CG_HUGEPAGES_MAX];
        for (size_t i = 0; i < na.n_hugepages; i++)
                scalars[i] = (struct resource_qty){na.hugepages[i].resource, na.hugepages[i].bytes};
        json_t *labels = NULL, *taints = NULL;
        struct node_manager *nm = __atomic_load_n(&ad->node, __ATOMIC_ACQUIRE);
        if (!nm || !node_manager_labels_taints(nm, &labels, &taints)) {
                labels = json_incref(ad->local_labels);
                taints = json_incref(ad->local_taints);
        }
        struct admit_node node = {.name = ad->node_name,
                                  .labels = labels,
                                  .taints = taints,
                                  .cpu_m = na.cpu_m,
                                  .memory = na.memory,
                                  .ephemeral = na.ephemeral,
                                  .pods = na.pods,
                                  .scalars = scalars,
                                  .n_scalars = na.n_hugepages,
                                  .allowed_extra_networks = ad->extra_networks};
        struct admit_result res;
        int r = admission_check(&node, ad->sysctls, admitted, n, pod, &res);
        json_decref(labels);
        json_decref(taints);
        if (r < 0) {
                _cleanup_free_ char *msg = strdup_printf(
                        "GeneralPredicates failed due to %s, which is unexpected.", strerror(-r));
                reject_pod(ad, pod, "UnexpectedAdmissionError", msg);
                return false;
        }
        if (!res.admit)
                reject_pod(ad, pod, res.reason, res.message);
        return res.admit;
}
