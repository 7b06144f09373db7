/* Pod admission decisions: upstream's admit handlers in their order (sysctls, the pod's OS, then the
 * general predicates with the critical-pod exception), on plain data. */
#include "admission.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delegate.h"
#include "util.h"

/* ---- resources (the scheduler's noderesources fit) ---- */

static struct resource_qty *scalar_find(struct resource_qty *q, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (streq(q[i].name, name))
                        return &q[i];
        return NULL;
}

static struct resource_qty *scalar_get(struct admit_request *r, const char *name)
{
        struct resource_qty *q = scalar_find(r->scalars, r->n_scalars, name);
        if (q)
                return q;
        r->scalars = OOM_CHECK(realloc(r->scalars, (r->n_scalars + 1) * sizeof *r->scalars));
        r->scalars[r->n_scalars] = (struct resource_qty){xstrdup(name), 0};
        return &r->scalars[r->n_scalars++];
}

void admission_request_clear(struct admit_request *r)
{
        for (size_t i = 0; i < r->n_scalars; i++)
                free(r->scalars[i].name);
        free(r->scalars);
        *r = (struct admit_request){0};
}

/* Upstream's removeMissingExtendedResources (1.20: app containers only): an extended resource the node
 * does not advertise is a cluster-level one, not counted. */
static bool counted(const struct resource_qty *q, bool drop_unknown_extended, const struct admit_node *node)
{
        return !drop_unknown_extended || !resource_is_extended(q->name) ||
               scalar_find(node->scalars, node->n_scalars, q->name);
}

void admission_pod_request(const struct pod *pod, bool drop_unknown_extended, const struct admit_node *node,
                           struct admit_request *ret)
{
        struct admit_request r = {0};
        for (size_t i = 0; i < pod->n_containers; i++) {
                const struct container *c = &pod->containers[i];
                r.cpu_m = add_sat(r.cpu_m, MAX(c->cpu_request_m, (int64_t) 0));
                r.memory = add_sat(r.memory, MAX(c->mem_request, (int64_t) 0));
                r.ephemeral = add_sat(r.ephemeral, MAX(c->eph_request, (int64_t) 0));
                for (size_t j = 0; j < c->n_scalar_requests; j++)
                        if (counted(&c->scalar_requests[j], drop_unknown_extended, node)) {
                                struct resource_qty *q = scalar_get(&r, c->scalar_requests[j].name);
                                q->value = add_sat(q->value, c->scalar_requests[j].value);
                        }
        }
        /* Init containers run one at a time: the pod needs at least the largest of them. */
        for (size_t i = 0; i < pod->n_init_containers; i++) {
                const struct container *c = &pod->init_containers[i];
                r.cpu_m = MAX(r.cpu_m, c->cpu_request_m);
                r.memory = MAX(r.memory, c->mem_request);
                r.ephemeral = MAX(r.ephemeral, c->eph_request);
                for (size_t j = 0; j < c->n_scalar_requests; j++) {
                        struct resource_qty *q = scalar_get(&r, c->scalar_requests[j].name);
                        q->value = MAX(q->value, c->scalar_requests[j].value);
                }
        }
        r.cpu_m = add_sat(r.cpu_m, pod->overhead.cpu_m);
        r.memory = add_sat(r.memory, pod->overhead.memory);
        r.ephemeral = add_sat(r.ephemeral, pod->overhead.ephemeral);
        for (size_t j = 0; j < pod->overhead.n_scalars; j++) {
                struct resource_qty *q = scalar_get(&r, pod->overhead.scalars[j].name);
                q->value = add_sat(q->value, pod->overhead.scalars[j].value);
        }
        *ret = r;
}

static void reject(struct admit_result *ret, const char *reason, const char *fmt, ...) _printf_(3, 4);

/* Upstream's InsufficientResourceError. */
struct shortage {
        char name[320];
        int64_t requested, used, capacity;
};

struct shortages {
        struct shortage v[16];
        size_t n;
};

static void short_add(struct shortages *s, const char *name, int64_t requested, int64_t used,
                      int64_t capacity)
{
        if (s->n == ELEMENTSOF(s->v))
                return;
        struct shortage *x = &s->v[s->n++];
        snprintf(x->name, sizeof x->name, "%s", name);
        x->requested = requested;
        x->used = used;
        x->capacity = capacity;
}

static void sum_requests(const struct admit_node *node, struct pod *const *others, size_t n_others,
                         struct admit_request *used)
{
        *used = (struct admit_request){0};
        for (size_t i = 0; i < n_others; i++) {
                struct admit_request o;
                admission_pod_request(others[i], false, node, &o);
                used->cpu_m = add_sat(used->cpu_m, o.cpu_m);
                used->memory = add_sat(used->memory, o.memory);
                used->ephemeral = add_sat(used->ephemeral, o.ephemeral);
                for (size_t j = 0; j < o.n_scalars; j++) {
                        struct resource_qty *q = scalar_get(used, o.scalars[j].name);
                        q->value = add_sat(q->value, o.scalars[j].value);
                }
                admission_request_clear(&o);
        }
}

/* Every shortage in upstream's fitsRequest order: pods, cpu, memory, ephemeral-storage, the rest. */
static void find_shortages(const struct admit_node *node, struct pod *const *others, size_t n_others,
                           const struct pod *pod, struct shortages *ret)
{
        ret->n = 0;
        if ((int64_t) n_others + 1 > node->pods)
                short_add(ret, "pods", 1, (int64_t) n_others, node->pods);
        struct admit_request want, used;
        admission_pod_request(pod, true, node, &want);
        if (want.cpu_m == 0 && want.memory == 0 && want.ephemeral == 0 && want.n_scalars == 0) {
                admission_request_clear(&want);
                return;
        }
        sum_requests(node, others, n_others, &used);
        if (node->cpu_m < add_sat(want.cpu_m, used.cpu_m))
                short_add(ret, "cpu", want.cpu_m, used.cpu_m, node->cpu_m);
        if (node->memory < add_sat(want.memory, used.memory))
                short_add(ret, "memory", want.memory, used.memory, node->memory);
        if (node->ephemeral < add_sat(want.ephemeral, used.ephemeral))
                short_add(ret, "ephemeral-storage", want.ephemeral, used.ephemeral, node->ephemeral);
        for (size_t i = 0; i < want.n_scalars; i++) {
                const struct resource_qty *q = &want.scalars[i];
                struct resource_qty *u = scalar_find(used.scalars, used.n_scalars, q->name);
                struct resource_qty *a = scalar_find(node->scalars, node->n_scalars, q->name);
                int64_t have = a ? a->value : 0, busy = u ? u->value : 0;
                if (have < add_sat(q->value, busy))
                        short_add(ret, q->name, q->value, busy, have);
        }
        admission_request_clear(&want);
        admission_request_clear(&used);
}

static void reject_shortage(struct admit_result *ret, const struct shortage *s)
{
        ret->admit = false;
        snprintf(ret->reason, sizeof ret->reason, "OutOf%s", s->name);
        snprintf(ret->message, sizeof ret->message,
                 "Node didn't have enough resource: %s, requested: %lld, used: %lld, capacity: %lld",
                 s->name, (long long) s->requested, (long long) s->used, (long long) s->capacity);
}

static int64_t priority_of(const struct pod *p, bool *set)
{
        json_t *prio = json_object_get(json_object_get(p->json, "spec"), "priority");
        *set = json_is_integer(prio);
        return *set ? json_integer_value(prio) : 0;
}

/* Upstream's kubetypes.Preemptable. */
static bool preemptable(const struct pod *preemptor, const struct pod *preemptee)
{
        bool a, b;
        if (pod_is_critical(preemptor) && !pod_is_critical(preemptee))
                return true;
        int64_t pa = priority_of(preemptor, &a), pb = priority_of(preemptee, &b);
        return a && b && pa > pb;
}

static int64_t request_of(const struct admit_node *node, const struct pod *p, const char *name)
{
        if (streq(name, "pods"))
                return 1;
        struct admit_request r;
        admission_pod_request(p, false, node, &r);
        int64_t v = streq(name, "cpu")                 ? r.cpu_m
                    : streq(name, "memory")            ? r.memory
                    : streq(name, "ephemeral-storage") ? r.ephemeral
                                                       : 0;
        struct resource_qty *q = scalar_find(r.scalars, r.n_scalars, name);
        if (q)
                v = q->value;
        admission_request_clear(&r);
        return v;
}

/* A critical pod short of resources: upstream evicts lower pods to make room, and refuses the pod only
 * when even every pod it may preempt would not free enough. cubelet does not evict: it admits the pod
 * when eviction could make room, and refuses it as upstream otherwise. */
static bool room_by_preemption(const struct admit_node *node, struct pod *const *others, size_t n_others,
                               const struct pod *pod, const struct shortages *sh, struct admit_result *ret)
{
        char left[768] = "[";
        for (size_t i = 0; i < sh->n; i++) {
                int64_t q = add_sat(sh->v[i].requested, add_sat(sh->v[i].used, -sh->v[i].capacity));
                for (size_t k = 0; k < n_others && q > 0; k++)
                        if (preemptable(pod, others[k]))
                                q -= request_of(node, others[k], sh->v[i].name);
                if (q > 0)
                        snprintf(left + strlen(left), sizeof left - strlen(left), "(res: %s, q: %lld), ",
                                 sh->v[i].name, (long long) q);
        }
        if (streq(left, "["))
                return true;
        reject(ret, "UnexpectedAdmissionError",
               "Unexpected error while attempting to recover from admission failure: preemption: error "
               "finding a set of pods to preempt: no set of running pods found to reclaim resources: %s]",
               left);
        return false;
}

/* ---- host ports (the scheduler's nodeports fit) ---- */

static const char *or_default(const char *s, const char *def)
{
        return s && *s ? s : def;
}

/* Upstream's HostPortInfo.CheckConflict: 0.0.0.0 (or no hostIP) conflicts with every address. */
static bool port_conflicts(const struct container_port *want, const struct container_port *have)
{
        const char *wip = or_default(want->host_ip, "0.0.0.0"), *hip = or_default(have->host_ip, "0.0.0.0");
        if (have->host_port <= 0 || want->host_port != have->host_port ||
            !streq(or_default(want->protocol, "TCP"), or_default(have->protocol, "TCP")))
                return false;
        return streq(wip, "0.0.0.0") || streq(hip, "0.0.0.0") || streq(wip, hip);
}

static bool pod_port_conflicts(const struct pod *other, const struct container_port *want)
{
        for (size_t i = 0; i < other->n_containers; i++)
                for (size_t j = 0; j < other->containers[i].n_ports; j++)
                        if (port_conflicts(want, &other->containers[i].ports[j]))
                                return true;
        return false;
}

bool admission_ports_conflict(struct pod *const *others, size_t n_others, const struct pod *pod)
{
        for (size_t i = 0; i < pod->n_containers; i++)
                for (size_t j = 0; j < pod->containers[i].n_ports; j++) {
                        const struct container_port *want = &pod->containers[i].ports[j];
                        if (want->host_port <= 0)
                                continue;
                        for (size_t k = 0; k < n_others; k++)
                                if (pod_port_conflicts(others[k], want))
                                        return true;
                }
        return false;
}

/* ---- the handlers ---- */

static void reject(struct admit_result *ret, const char *reason, const char *fmt, ...)
{
        va_list ap;
        ret->admit = false;
        snprintf(ret->reason, sizeof ret->reason, "%s", reason);
        va_start(ap, fmt);
        vsnprintf(ret->message, sizeof ret->message, fmt, ap);
        va_end(ap);
}

/* Upstream's sysctl whitelist admit handler. */
static bool sysctls_allowed(const struct sysctl_whitelist *w, const struct pod *pod,
                            struct admit_result *ret)
{
        json_t *sysctls = json_object_get(
                       json_object_get(json_object_get(pod->json, "spec"), "securityContext"), "sysctls"),
               *s;
        size_t i;
        if (!w)
                return true;
        json_array_foreach(sysctls, i, s)
        {
                const char *name = json_string_value(json_object_get(s, "name")) ?: "";
                _cleanup_free_ char *why = sysctl_whitelist_check(w, name, pod->host_network, pod->host_ipc);
                if (why) {
                        reject(ret, "SysctlForbidden", "forbidden sysctl: %s", why);
                        return false;
                }
        }
        return true;
}

static bool strv_has(char *const *v, const char *s)
{
        for (; v && *v; v++)
                if (streq(*v, s))
                        return true;
        return false;
}

char *admission_extra_networks_problem(const struct pod *pod, char *const *allowed)
{
        const char *ann = pod_annotation(pod, ANN_EXTRA_NETWORKS);
        if (!ann)
                return NULL;
        _cleanup_free_ char *copy = xstrdup(ann), *names = strv_join(allowed, ", ");
        char *save = NULL;
        size_t n = 0;
        for (char *e = strtok_r(copy, ", ", &save); e; e = strtok_r(NULL, ", ", &save)) {
                if (!strv_has(allowed, e))
                        return strdup_printf(
                                "extra network \"%.253s\" (annotation %s) is not allowed on this "
                                "node (allowedExtraNetworks: %s)",
                                e, ANN_EXTRA_NETWORKS, names[0] ? names : "none");
                n++;
        }
        if (n > ADMISSION_MAX_EXTRA_NETWORKS)
                return strdup_printf("too many extra networks (annotation %s): %zu, at most %d",
                                     ANN_EXTRA_NETWORKS, n, ADMISSION_MAX_EXTRA_NETWORKS);
        return NULL;
}

/* The general predicates in upstream's order; the first failure is the verdict. A critical pod is not
 * refused for resources while anything else fails first, as upstream's critical pod admission handler. */
static bool predicates_pass(const struct admit_node *node, struct pod *const *others, size_t n_others,
                            const struct pod *pod, struct admit_result *ret)
{
        json_t *spec = json_object_get(pod->json, "spec");
        struct shortages sh;
        find_shortages(node, others, n_others, pod, &sh);
        if (sh.n && !pod_is_critical(pod)) {
                reject_shortage(ret, &sh.v[0]);
                return false;
        }
        if (!admission_node_affinity_matches(spec, node->name, node->labels))
                reject(ret, "NodeAffinity", "Predicate NodeAffinity failed");
        else if (pod->node_name && pod->node_name[0] && !streq(pod->node_name, node->name))
                reject(ret, "NodeName", "Predicate NodeName failed");
        else if (admission_ports_conflict(others, n_others, pod))
                reject(ret, "NodePorts", "Predicate NodePorts failed");
        /* Later kubelets: NoExecute taints, for pods from the API server only. */
        else if (!pod_is_static(pod) && !admission_tolerates_taints(json_object_get(spec, "tolerations"),
                                                                    node->taints, "NoExecute"))
                reject(ret, "TaintToleration", "Predicate TaintToleration failed");
        else
                return sh.n == 0 || room_by_preemption(node, others, n_others, pod, &sh, ret);
        return false;
}

int admission_check(const struct admit_node *node, const struct sysctl_whitelist *whitelist,
                    struct pod *const *others, size_t n_others, const struct pod *pod,
                    struct admit_result *ret)
{
        *ret = (struct admit_result){.admit = true};
        if (!node || !node->name || !pod->json)
                return -EINVAL;
        /* cubelet's own first: fields the API knows that this node cannot honour (docs/pod-fields.md). */
        if (pod->unsupported && pod->unsupported[0]) {
                _cleanup_free_ char *all = strv_join(pod->unsupported, "; ");
                reject(ret, "UnsupportedPodSpec", "has fields this node cannot honour: %s", all);
                return 0;
        }
        if (!sysctls_allowed(whitelist, pod, ret))
                return 0;
        /* cubelet's own: which networks a pod joins is the node's decision (allowedExtraNetworks). */
        _cleanup_free_ char *why = admission_extra_networks_problem(pod, node->allowed_extra_networks);
        if (why) {
                reject(ret, "ExtraNetworkForbidden", "%s", why);
                return 0;
        }
        /* Later kubelets: spec.os names the OS the pod needs. */
        json_t *os = json_object_get(json_object_get(pod->json, "spec"), "os");
        if (os && !json_is_null(os) && !streq_ptr(json_string_value(json_object_get(os, "name")), "linux")) {
                reject(ret, "PodOSNotSupported",
                       "Failed to admit pod as the OS field doesn't match node OS");
                return 0;
        }
        if (predicates_pass(node, others, n_others, pod, ret))
                *ret = (struct admit_result){.admit = true};
        return 0;
}
