/* The stats summary: /proc for the node, CRI container stats grouped by their pod labels for the pods. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cri.h"
#include "logs.h"
#include "macro.h"
#include "util.h"

static json_t *time_json(int64_t ns)
{
        char buf[40];
        rfc3339_format_ns(ns, buf, sizeof buf);
        buf[19] = 'Z'; /* seconds are enough: metav1.Time */
        buf[20] = 0;
        return json_string(buf);
}

static json_t *node_stats(const char *node_name)
{
        int64_t now = now_real_ns();
        _cleanup_free_ char *stat = NULL, *mem = NULL;
        unsigned long long user = 0, nice = 0, sys = 0, irq = 0, softirq = 0, steal = 0, total_kb = 0,
                           avail_kb = 0;
        json_t *cpu = json_pack("{s:o}", "time", time_json(now)),
               *memory = json_pack("{s:o}", "time", time_json(now));

        if (read_file_limit("/proc/stat", 1 << 20, &stat, NULL) >= 0 &&
            sscanf(stat, "cpu %llu %llu %llu %*u %*u %llu %llu %llu", &user, &nice, &sys, &irq, &softirq,
                   &steal) == 6) {
                long hz = sysconf(_SC_CLK_TCK);
                unsigned long long ticks = user + nice + sys + irq + softirq + steal;
                json_object_set_new(
                        cpu, "usageCoreNanoSeconds",
                        json_integer((json_int_t) (ticks * (1000000000ULL / (unsigned long long) hz))));
        }
        if (read_file_limit("/proc/meminfo", 1 << 20, &mem, NULL) >= 0) {
                char *p = strstr(mem, "MemTotal:"), *q = strstr(mem, "MemAvailable:");
                if (p && q && sscanf(p, "MemTotal: %llu", &total_kb) == 1 &&
                    sscanf(q, "MemAvailable: %llu", &avail_kb) == 1) {
                        json_object_set_new(memory, "availableBytes",
                                            json_integer((json_int_t) avail_kb * 1024));
                        json_object_set_new(memory, "usageBytes",
                                            json_integer((json_int_t) (total_kb - avail_kb) * 1024));
                        json_object_set_new(memory, "workingSetBytes",
                                            json_integer((json_int_t) (total_kb - avail_kb) * 1024));
                }
        }
        return json_pack("{s:s, s:o, s:o}", "nodeName", node_name, "cpu", cpu, "memory", memory);
}

static const char *label(const Runtime__V1__ContainerAttributes *a, const char *key)
{
        for (size_t i = 0; a && i < a->n_labels; i++)
                if (streq(a->labels[i]->key, key))
                        return a->labels[i]->value;
        return NULL;
}

static void set_u64(json_t *o, const char *key, const Runtime__V1__UInt64Value *v)
{
        if (v)
                json_object_set_new(o, key, json_integer((json_int_t) v->value));
}

static void add_u64(json_t *o, const char *key, json_t *from)
{
        json_t *v = json_object_get(from, key);
        if (json_is_integer(v))
                json_object_set_new(
                        o, key,
                        json_integer(json_integer_value(json_object_get(o, key)) + json_integer_value(v)));
}

static json_t *container_json(const Runtime__V1__ContainerStats *s)
{
        const char *name = label(s->attributes, "io.kubernetes.container.name");
        json_t *cpu = json_object(), *mem = json_object();
        if (s->cpu) {
                json_object_set_new(cpu, "time", time_json(s->cpu->timestamp));
                set_u64(cpu, "usageNanoCores", s->cpu->usage_nano_cores);
                set_u64(cpu, "usageCoreNanoSeconds", s->cpu->usage_core_nano_seconds);
        }
        if (s->memory) {
                json_object_set_new(mem, "time", time_json(s->memory->timestamp));
                set_u64(mem, "workingSetBytes", s->memory->working_set_bytes);
                set_u64(mem, "availableBytes", s->memory->available_bytes);
                set_u64(mem, "usageBytes", s->memory->usage_bytes);
                set_u64(mem, "rssBytes", s->memory->rss_bytes);
                set_u64(mem, "pageFaults", s->memory->page_faults);
                set_u64(mem, "majorPageFaults", s->memory->major_page_faults);
        }
        return json_pack("{s:s, s:o, s:o}", "name", name ? name : "", "cpu", cpu, "memory", mem);
}

json_t *stats_summary(struct cri_client *cri, const char *node_name, int64_t timeout_ms, char **err)
{
        Runtime__V1__ListContainerStatsRequest req = RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ListContainerStatsResponse *resp = NULL;
        struct cri_error cerr = {0};
        int r = CRI_CALL(cri, RuntimeService, ListContainerStats, list_container_stats, &req, &resp,
                         timeout_ms, &cerr);
        if (r < 0) {
                *err = xstrdup(cerr.msg[0] ? cerr.msg : strerror(-r));
                return NULL;
        }
        json_t *pods = json_array();
        for (size_t i = 0; i < resp->n_stats; i++) {
                const Runtime__V1__ContainerStats *s = resp->stats[i];
                const char *uid = label(s->attributes, "io.kubernetes.pod.uid");
                if (!uid)
                        continue;
                json_t *pod = NULL, *p;
                size_t j;
                json_array_foreach(pods, j, p) if (streq_ptr(json_string_value(json_object_get(
                                                                     json_object_get(p, "podRef"), "uid")),
                                                             uid)) pod = p;
                if (!pod) {
                        const char *name = label(s->attributes, "io.kubernetes.pod.name");
                        const char *ns = label(s->attributes, "io.kubernetes.pod.namespace");
                        pod = json_pack("{s:{s:s, s:s, s:s}, s:[], s:{}, s:{}}", "podRef", "name",
                                        name ? name : "", "namespace", ns ? ns : "", "uid", uid,
                                        "containers", "cpu", "memory");
                        json_array_append_new(pods, pod);
                }
                json_t *c = container_json(s);
                /* The pod's usage: the sum of its containers'. */
                json_t *pc = json_object_get(pod, "cpu"), *pm = json_object_get(pod, "memory");
                json_object_set(pc, "time", json_object_get(json_object_get(c, "cpu"), "time"));
                json_object_set(pm, "time", json_object_get(json_object_get(c, "memory"), "time"));
                add_u64(pc, "usageNanoCores", json_object_get(c, "cpu"));
                add_u64(pc, "usageCoreNanoSeconds", json_object_get(c, "cpu"));
                add_u64(pm, "workingSetBytes", json_object_get(c, "memory"));
                add_u64(pm, "usageBytes", json_object_get(c, "memory"));
                add_u64(pm, "rssBytes", json_object_get(c, "memory"));
                json_array_append_new(json_object_get(pod, "containers"), c);
        }
        return json_pack("{s:o, s:o}", "node", node_stats(node_name), "pods", pods);
}
