/* Node allocatable settings: kubeReserved and systemReserved, enforceNodeAllocatable and the reserved
 * cgroups' names, read and checked as upstream's flags, configuration file and validation do. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "pod.h"
#include "util.h"

void reservation_clear(struct reservation *r)
{
        *r = (struct reservation){.cpu_m = -1, .memory = -1, .ephemeral = -1, .pids = -1};
}

int reservation_set(struct reservation *r, const char *res, const char *qty, char **ret_err)
{
        int64_t milli;
        if (parse_quantity_milli(qty, &milli) < 0 || milli < 0) {
                *ret_err = strdup_printf("%s: invalid quantity \"%s\"", res, qty);
                return -EINVAL;
        }
        int64_t whole = milli / 1000 + (milli % 1000 != 0); /* a Quantity's Value() rounds up */
        if (streq(res, "cpu"))
                r->cpu_m = milli;
        else if (streq(res, "memory"))
                r->memory = whole;
        else if (streq(res, "ephemeral-storage"))
                r->ephemeral = whole;
        else if (streq(res, "pid"))
                r->pids = whole;
        else {
                *ret_err = strdup_printf("unsupported resource \"%s\" (cpu, memory, ephemeral-storage, pid)",
                                         res);
                return -EINVAL;
        }
        return 0;
}

int parse_reserved(const char *s, struct reservation *r, char **ret_err)
{
        _cleanup_free_ char *copy = xstrdup(s);
        char *save = NULL;
        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(item, '=');
                if (!eq) {
                        *ret_err = strdup_printf("\"%s\": expected resource=quantity", item);
                        return -EINVAL;
                }
                *eq = 0;
                int r2 = reservation_set(r, item, eq + 1, ret_err);
                if (r2 < 0)
                        return r2;
        }
        return 0;
}

bool config_enforces(const struct cubelet_config *c, const char *key)
{
        if (!c->cgroups_per_qos && !c->enforce_explicit)
                return false; /* the default ["pods"] means nothing without pod cgroups */
        for (char **k = c->enforce_node_allocatable; k && *k; k++)
                if (streq(*k, key))
                        return true;
        return false;
}

static int sum(int64_t a, int64_t b, int64_t *ret, const char *what)
{
        if (__builtin_add_overflow(a > 0 ? a : 0, b > 0 ? b : 0, ret)) {
                fprintf(stderr,
                        "cubelet: invalid configuration: kubeReserved and systemReserved %s add up to "
                        "too much\n",
                        what);
                return -EINVAL;
        }
        return 0;
}

int config_check_allocatable(struct cubelet_config *c)
{
        size_t n = strv_length(c->enforce_node_allocatable);
        if (!c->cgroups_per_qos && c->enforce_explicit && n > 0) {
                fprintf(stderr,
                        "cubelet: invalid configuration: enforceNodeAllocatable "
                        "(--enforce-node-allocatable) "
                        "is not supported unless cgroupsPerQOS (--cgroups-per-qos) is set to true\n");
                return -EINVAL;
        }
        for (char **k = c->enforce_node_allocatable; k && *k; k++) {
                if (streq(*k, "pods"))
                        continue;
                if (streq(*k, "system-reserved") && !c->system_reserved_cgroup) {
                        fprintf(stderr,
                                "cubelet: invalid configuration: systemReservedCgroup "
                                "(--system-reserved-cgroup) must be specified when 'system-reserved' "
                                "contained in enforceNodeAllocatable (--enforce-node-allocatable)\n");
                        return -EINVAL;
                }
                if (streq(*k, "kube-reserved") && !c->kube_reserved_cgroup) {
                        fprintf(stderr,
                                "cubelet: invalid configuration: kubeReservedCgroup "
                                "(--kube-reserved-cgroup) "
                                "must be specified when 'kube-reserved' contained in enforceNodeAllocatable "
                                "(--enforce-node-allocatable)\n");
                        return -EINVAL;
                }
                if (streq(*k, "none") && n > 1) {
                        fprintf(stderr,
                                "cubelet: invalid configuration: enforceNodeAllocatable "
                                "(--enforce-node-allocatable) may not contain additional enforcements when "
                                "'none' is specified\n");
                        return -EINVAL;
                }
                if (!streq(*k, "system-reserved") && !streq(*k, "kube-reserved") && !streq(*k, "none")) {
                        fprintf(stderr,
                                "cubelet: invalid configuration: option \"%s\" specified for "
                                "enforceNodeAllocatable "
                                "(--enforce-node-allocatable). Valid options are \"pods\", "
                                "\"system-reserved\", "
                                "\"kube-reserved\", or \"none\"\n",
                                *k);
                        return -EINVAL;
                }
        }
        if (sum(c->kube_reserved.cpu_m, c->system_reserved.cpu_m, &c->reserved_cpu_m, "cpu") < 0 ||
            sum(c->kube_reserved.memory, c->system_reserved.memory, &c->reserved_mem, "memory") < 0 ||
            sum(c->kube_reserved.ephemeral, c->system_reserved.ephemeral, &c->reserved_ephemeral,
                "ephemeral-storage") < 0 ||
            sum(c->kube_reserved.pids, c->system_reserved.pids, &c->reserved_pids, "pid") < 0)
                return -EINVAL;
        return 0;
}

static json_t *reservation_json(const struct reservation *r)
{
        json_t *o = json_object();
        if (r->cpu_m >= 0)
                json_object_set_new(o, "cpu", json_sprintf("%lldm", (long long) r->cpu_m));
        if (r->memory >= 0)
                json_object_set_new(o, "memory", json_sprintf("%lld", (long long) r->memory));
        if (r->ephemeral >= 0)
                json_object_set_new(o, "ephemeral-storage", json_sprintf("%lld", (long long) r->ephemeral));
        if (r->pids >= 0)
                json_object_set_new(o, "pid", json_sprintf("%lld", (long long) r->pids));
        return o;
}

void config_allocatable_to_json(const struct cubelet_config *c, json_t *o)
{
        json_object_set_new(o, "kubeReserved", reservation_json(&c->kube_reserved));
        json_object_set_new(o, "systemReserved", reservation_json(&c->system_reserved));
        json_t *e = json_array();
        for (char **k = c->enforce_node_allocatable; k && *k; k++)
                json_array_append_new(e, json_string(*k));
        json_object_set_new(o, "enforceNodeAllocatable", e);
        if (c->kube_reserved_cgroup)
                json_object_set_new(o, "kubeReservedCgroup", json_string(c->kube_reserved_cgroup));
        if (c->system_reserved_cgroup)
                json_object_set_new(o, "systemReservedCgroup", json_string(c->system_reserved_cgroup));
}
