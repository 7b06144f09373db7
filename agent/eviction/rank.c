/* Ranking pods for eviction (see rank.h). */
#include "rank.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "macro.h"
#include "util.h"

static int64_t i64(const json_t *o, const char *a, const char *b)
{
        json_t *v = json_object_get(json_object_get(o, a), b);
        return json_is_integer(v) ? json_integer_value(v) : 0;
}

const json_t *ev_pod_stats(const json_t *summary, const char *uid)
{
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(summary, "pods"), i, p)
        {
                if (streq_ptr(json_string_value(json_object_get(json_object_get(p, "podRef"), "uid")), uid))
                        return p;
        }
        return NULL;
}

/* Upstream's localVolumeNames: the volumes the pod keeps on the node's disk for ranking. */
static bool local_volume(const json_t *v)
{
        json_t *ed = json_object_get(v, "emptyDir");
        return json_object_get(v, "hostPath") || json_object_get(v, "configMap") ||
               json_object_get(v, "gitRepo") ||
               (ed && !streq_ptr(json_string_value(json_object_get(ed, "medium")), "Memory"));
}

/* The containers' writable layers and logs, the local volumes' usage, from the pod's Summary entry. */
static void fill_breakdown(struct ev_candidate *c, const struct pod *pod, const json_t *ps)
{
        size_t i, j;
        json_t *cs, *v, *vs;
        json_array_foreach(json_object_get(ps, "containers"), i, cs)
        {
                c->root_disk += i64(cs, "rootfs", "usedBytes");
                c->root_inodes += i64(cs, "rootfs", "inodesUsed");
                c->logs_disk += i64(cs, "logs", "usedBytes");
                c->logs_inodes += i64(cs, "logs", "inodesUsed");
        }
        json_array_foreach(json_object_get(json_object_get(pod->json, "spec"), "volumes"), i, v)
        {
                const char *name = json_string_value(json_object_get(v, "name"));
                if (!name || !local_volume(v))
                        continue;
                json_array_foreach(json_object_get(ps, "volume"), j, vs)
                {
                        if (!streq_ptr(json_string_value(json_object_get(vs, "name")), name))
                                continue;
                        json_t *b = json_object_get(vs, "usedBytes"), *n = json_object_get(vs, "inodesUsed");
                        c->vol_disk += json_is_integer(b) ? json_integer_value(b) : 0;
                        c->vol_inodes += json_is_integer(n) ? json_integer_value(n) : 0;
                        break;
                }
        }
}

void ev_candidate_fill(struct ev_candidate *c, struct pod *pod, const json_t *summary)
{
        struct admit_request req;
        admission_pod_request(pod, false, NULL, &req);
        json_t *prio = json_object_get(json_object_get(pod->json, "spec"), "priority");
        *c = (struct ev_candidate){.pod = pod,
                                   .priority = json_is_integer(prio) ? json_integer_value(prio) : 0,
                                   .mem_request = req.memory,
                                   .eph_request = req.ephemeral};
        admission_request_clear(&req);
        const json_t *ps = ev_pod_stats(summary, pod->uid);
        if (!ps)
                return;
        c->has_stats = true;
        c->memory = i64(ps, "memory", "workingSetBytes");
        c->disk = i64(ps, "ephemeral-storage", "usedBytes");
        c->inodes = i64(ps, "ephemeral-storage", "inodesUsed");
        c->procs = i64(ps, "process_stats", "process_count");
        fill_breakdown(c, pod, ps);
}

unsigned ev_rank_fs_stats(enum ev_signal s, bool dedicated_image_fs)
{
        if (!dedicated_image_fs)
                return EV_FS_ALL;
        switch (s) {
        case EV_NODEFS_AVAILABLE:
        case EV_NODEFS_INODES_FREE:
                return EV_FS_LOGS | EV_FS_VOLUMES;
        case EV_IMAGEFS_AVAILABLE:
        case EV_IMAGEFS_INODES_FREE:
                return EV_FS_ROOT;
        default:
                return EV_FS_ALL;
        }
}

bool ev_reclaims_node_level(enum ev_signal s, bool dedicated_image_fs)
{
        switch (s) {
        case EV_NODEFS_AVAILABLE:
        case EV_NODEFS_INODES_FREE:
                /* with an image filesystem of its own, deleting images frees nothing here */
                return !dedicated_image_fs;
        case EV_IMAGEFS_AVAILABLE:
        case EV_IMAGEFS_INODES_FREE:
                return true;
        default:
                return false;
        }
}

struct ranked {
        struct ev_candidate c;
        size_t index;
        enum ev_resource res;
        unsigned fs;
};

/* true before false, as upstream's cmpBool */
static int cmp_bool(bool a, bool b)
{
        return a == b ? 0 : a ? -1 : 1;
}

static int cmp_i64_desc(int64_t a, int64_t b)
{
        return a > b ? -1 : a < b ? 1 : 0;
}

/* The disk usage of the kinds in fs; EV_FS_ALL is the Summary's ephemeral-storage unchanged. */
static int64_t disk_usage(const struct ev_candidate *c, bool inodes, unsigned fs)
{
        if (fs == EV_FS_ALL)
                return inodes ? c->inodes : c->disk;
        int64_t u = 0;
        if (fs & EV_FS_ROOT)
                u += inodes ? c->root_inodes : c->root_disk;
        if (fs & EV_FS_LOGS)
                u += inodes ? c->logs_inodes : c->logs_disk;
        if (fs & EV_FS_VOLUMES)
                u += inodes ? c->vol_inodes : c->vol_disk;
        return u;
}

static int64_t usage_of(const struct ev_candidate *c, enum ev_resource res, unsigned fs)
{
        return res == EV_RES_MEMORY ? c->memory : disk_usage(c, res == EV_RES_INODES, fs);
}

static int64_t request_of(const struct ev_candidate *c, enum ev_resource res)
{
        /* upstream: inodes have no request; a pod's ephemeral-storage request is what "disk" subtracts */
        return res == EV_RES_MEMORY ? c->mem_request : res == EV_RES_EPHEMERAL ? c->eph_request : 0;
}

static int compare(const void *pa, const void *pb)
{
        const struct ranked *a = pa, *b = pb;
        const struct ev_candidate *x = &a->c, *y = &b->c;
        enum ev_resource res = a->res;
        int r;
        if (res == EV_RES_PIDS) {
                /* upstream's rankPIDPressure: priority, then process count (pods without stats first) */
                if (x->priority != y->priority)
                        return x->priority < y->priority ? -1 : 1;
                if ((r = cmp_bool(!x->has_stats, !y->has_stats)) || !x->has_stats)
                        return r ? r : (a->index > b->index) - (a->index < b->index);
                if ((r = cmp_i64_desc(x->procs, y->procs)))
                        return r;
        } else {
                /* pods without stats first (upstream's exceedMemoryRequests / exceedDiskRequests) */
                if ((r = cmp_bool(!x->has_stats, !y->has_stats)) || !x->has_stats)
                        return r ? r : (a->index > b->index) - (a->index < b->index);
                /* usage above requests, then priority, then usage less requests (largest first) */
                int64_t ux = usage_of(x, res, a->fs), uy = usage_of(y, res, a->fs);
                int64_t rx = request_of(x, res), ry = request_of(y, res);
                if ((r = cmp_bool(ux > rx, uy > ry)))
                        return r;
                if (x->priority != y->priority)
                        return x->priority < y->priority ? -1 : 1;
                /* upstream's "disk" subtracts the ephemeral-storage request from inodes too */
                int64_t sx = res == EV_RES_INODES ? x->eph_request : rx,
                        sy = res == EV_RES_INODES ? y->eph_request : ry;
                if ((r = cmp_i64_desc(ux - sx, uy - sy)))
                        return r;
        }
        return (a->index > b->index) - (a->index < b->index);
}

void ev_rank(struct ev_candidate *c, size_t n, enum ev_resource res, unsigned fs_stats)
{
        if (n < 2)
                return;
        struct ranked *v = OOM_CHECK(calloc(n, sizeof *v));
        for (size_t i = 0; i < n; i++)
                v[i] = (struct ranked){.c = c[i], .index = i, .res = res, .fs = fs_stats};
        qsort(v, n, sizeof *v, compare);
        for (size_t i = 0; i < n; i++)
                c[i] = v[i].c;
        free(v);
}

/* The container's request of res as its spec says it ("0" when none), as upstream prints the Quantity. */
static void request_string(const struct pod *pod, const char *name, enum ev_resource res, char *buf,
                           size_t len, int64_t *ret)
{
        const char *key = res == EV_RES_MEMORY ? "memory" : "ephemeral-storage";
        size_t i;
        json_t *c;
        *ret = 0;
        snprintf(buf, len, "0");
        for (size_t j = 0; j < pod->n_containers; j++)
                if (streq(pod->containers[j].name, name)) {
                        int64_t v = res == EV_RES_MEMORY ? pod->containers[j].mem_request
                                                         : pod->containers[j].eph_request;
                        *ret = v > 0 ? v : 0;
                }
        json_array_foreach(json_object_get(json_object_get(pod->json, "spec"), "containers"), i, c)
        {
                if (!streq_ptr(json_string_value(json_object_get(c, "name")), name))
                        continue;
                json_t *q =
                        json_object_get(json_object_get(json_object_get(c, "resources"), "requests"), key);
                if (json_is_string(q))
                        snprintf(buf, len, "%s", json_string_value(q));
                else if (*ret > 0)
                        ev_quantity_string(*ret, buf, len);
        }
}

char *ev_message(enum ev_resource res, const struct pod *pod, const json_t *summary)
{
        char *msg = strdup_printf("The node was low on resource: %s. ", ev_resource_name(res));
        const json_t *ps = ev_pod_stats(summary, pod->uid);
        if (!ps || (res != EV_RES_MEMORY && res != EV_RES_EPHEMERAL))
                return msg;
        size_t i;
        json_t *cs;
        json_array_foreach(json_object_get(ps, "containers"), i, cs)
        {
                const char *name = json_string_value(json_object_get(cs, "name"));
                bool in_spec = false;
                for (size_t j = 0; name && j < pod->n_containers; j++)
                        in_spec |= streq(pod->containers[j].name, name);
                if (!in_spec)
                        continue;
                int64_t usage;
                if (res == EV_RES_MEMORY) {
                        json_t *ws = json_object_get(json_object_get(cs, "memory"), "workingSetBytes");
                        if (!json_is_integer(ws))
                                continue;
                        usage = json_integer_value(ws);
                } else {
                        json_t *root = json_object_get(json_object_get(cs, "rootfs"), "usedBytes"),
                               *logs = json_object_get(json_object_get(cs, "logs"), "usedBytes");
                        if (!json_is_integer(root) || !json_is_integer(logs))
                                continue;
                        usage = json_integer_value(root) + json_integer_value(logs);
                }
                char req[64], use[64];
                int64_t request;
                request_string(pod, name, res, req, sizeof req, &request);
                if (usage <= request)
                        continue;
                ev_quantity_string(usage, use, sizeof use);
                char *m = strdup_printf("%sContainer %s was using %s, which exceeds its request of %s. ",
                                        msg, name, use, req);
                free(msg);
                msg = m;
        }
        return msg;
}

static bool tolerates_memory_pressure(const struct pod *pod)
{
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(json_object_get(pod->json, "spec"), "tolerations"), i, t)
        {
                const char *key = json_string_value(json_object_get(t, "key"));
                const char *op = json_string_value(json_object_get(t, "operator"));
                const char *effect = json_string_value(json_object_get(t, "effect"));
                bool exists = streq_ptr(op, "Exists");
                if ((key && !streq(key, "node.kubernetes.io/memory-pressure")) || (!key && !exists))
                        continue;
                if (effect && effect[0] && !streq(effect, "NoSchedule"))
                        continue;
                /* the taint has no value: Equal matches an empty value only */
                const char *val = json_string_value(json_object_get(t, "value"));
                if (exists || !val || !val[0])
                        return true;
        }
        return false;
}

bool ev_admit(const bool c[EV_COND_MAX], const struct pod *pod, char *message, size_t len)
{
        if (!c[EV_COND_MEMORY] && !c[EV_COND_DISK] && !c[EV_COND_PID])
                return true;
        if (pod_is_critical(pod))
                return true;
        bool only_memory = c[EV_COND_MEMORY] && !c[EV_COND_DISK] && !c[EV_COND_PID];
        if (only_memory && (!streq(pod_qos_class(pod), "BestEffort") || tolerates_memory_pressure(pod)))
                return true;
        char list[128] = "";
        for (int i = 0; i < EV_COND_MAX; i++)
                if (c[i])
                        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? " " : "",
                                 ev_condition_name(i));
        snprintf(message, len, "The node had condition: [%s]. ", list);
        return false;
}
