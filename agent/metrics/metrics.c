/* The metrics registry and its Prometheus text rendering. One lock; observations are cheap. */
#include "metrics.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "util.h"

/* Prometheus' DefBuckets, which upstream's histograms here use. */
static const double BUCKETS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS ELEMENTSOF(BUCKETS)
#define MAX_OPS   64

struct hist {
        uint64_t counts[N_BUCKETS]; /* not cumulative; summed when rendered */
        uint64_t count;
        double sum;
};

struct op {
        char name[48];
        uint64_t total, errors;
        struct hist duration;
};

struct metrics {
        pthread_mutex_t lock;
        char *node_name;
        struct op ops[MAX_OPS];
        size_t n_ops;
        struct hist relist, pod_start;
        char **started; /* UIDs whose start was observed */
};

struct metrics *metrics_new(const char *node_name)
{
        struct metrics *m = OOM_CHECK(calloc(1, sizeof *m));
        pthread_mutex_init(&m->lock, NULL);
        m->node_name = xstrdup(node_name);
        return m;
}

struct metrics *metrics_free(struct metrics *m)
{
        if (!m)
                return NULL;
        pthread_mutex_destroy(&m->lock);
        free(m->node_name);
        strv_free(m->started);
        free(m);
        return NULL;
}

static void observe(struct hist *h, double v)
{
        size_t i = 0;
        while (i < N_BUCKETS && v > BUCKETS[i])
                i++;
        if (i < N_BUCKETS)
                h->counts[i]++;
        h->count++;
        h->sum += v;
}

void metrics_operation_name(const char *method, char *buf, size_t len)
{
        const char *slash = strrchr(method, '/');
        const char *p = slash ? slash + 1 : method;
        size_t n = 0;
        for (; *p && n + 2 < len; p++) {
                /* Upstream writes PodSandbox as one word: run_podsandbox, list_podsandbox_stats. */
                bool sandbox = strncmp(p, "Sandbox", 7) == 0 && p > method && p[-1] == 'd';
                if (isupper((unsigned char) *p) && n > 0 && !sandbox)
                        buf[n++] = '_';
                buf[n++] = (char) tolower((unsigned char) *p);
        }
        buf[n] = 0;
}

void metrics_runtime_op(void *ud, const char *method, int64_t duration_us, int result)
{
        struct metrics *m = ud;
        char name[48];
        metrics_operation_name(method, name, sizeof name);
        pthread_mutex_lock(&m->lock);
        struct op *o = NULL;
        for (size_t i = 0; i < m->n_ops && !o; i++)
                if (streq(m->ops[i].name, name))
                        o = &m->ops[i];
        if (!o && m->n_ops < MAX_OPS) {
                o = &m->ops[m->n_ops++];
                snprintf(o->name, sizeof o->name, "%s", name);
        }
        if (o) {
                o->total++;
                if (result < 0)
                        o->errors++;
                observe(&o->duration, (double) duration_us / 1e6);
        }
        pthread_mutex_unlock(&m->lock);
}

void metrics_pleg_relist(struct metrics *m, int64_t duration_us)
{
        pthread_mutex_lock(&m->lock);
        observe(&m->relist, (double) duration_us / 1e6);
        pthread_mutex_unlock(&m->lock);
}

void metrics_pod_status(struct metrics *m, const char *uid, json_t *status, int64_t first_seen_ns)
{
        const char *phase = json_string_value(json_object_get(status, "phase"));
        pthread_mutex_lock(&m->lock);
        size_t n = strv_length(m->started), i;
        for (i = 0; i < n && !streq(m->started[i], uid); i++)
                ;
        if (!status && i < n) {
                free(m->started[i]);
                m->started[i] = m->started[n - 1];
                m->started[n - 1] = NULL;
        } else if (status && i == n && streq_ptr(phase, "Running")) {
                strv_push(&m->started, xstrdup(uid));
                if (first_seen_ns > 0)
                        observe(&m->pod_start, (double) (now_real_ns() - first_seen_ns) / 1e9);
        }
        pthread_mutex_unlock(&m->lock);
}

/* ---- rendering ---- */

struct buf {
        char *s;
        size_t len, cap;
};

static void _printf_(2, 3) put(struct buf *b, const char *fmt, ...)
{
        va_list ap;
        for (;;) {
                va_start(ap, fmt);
                int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
                va_end(ap);
                if (n >= 0 && (size_t) n < b->cap - b->len) {
                        b->len += (size_t) n;
                        return;
                }
                b->cap = MAX(b->cap * 2, b->len + (size_t) n + 1);
                b->s = OOM_CHECK(realloc(b->s, b->cap));
        }
}

static void header(struct buf *b, const char *name, const char *type, const char *help)
{
        put(b, "# HELP %s [ALPHA] %s\n# TYPE %s %s\n", name, help, name, type);
}

/* labels: "" or `key="value",` (with the trailing comma). */
static void put_hist(struct buf *b, const char *name, const char *labels, const struct hist *h)
{
        uint64_t cum = 0;
        for (size_t i = 0; i < N_BUCKETS; i++) {
                cum += h->counts[i];
                put(b, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, BUCKETS[i], (unsigned long long) cum);
        }
        put(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long) h->count);
        size_t n = strlen(labels);
        if (n) /* without the trailing comma */
                put(b, "%s_sum{%.*s} %.9g\n%s_count{%.*s} %llu\n", name, (int) n - 1, labels, h->sum, name,
                    (int) n - 1, labels, (unsigned long long) h->count);
        else
                put(b, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name, (unsigned long long) h->count);
}

static void count_pods(json_t *pod_list, long *pods, long *running, long *exited, long *waiting)
{
        json_t *p, *cs;
        size_t i, j;
        json_array_foreach(json_object_get(pod_list, "items"), i, p)
        {
                bool any = false;
                json_array_foreach(json_object_get(json_object_get(p, "status"), "containerStatuses"), j, cs)
                {
                        json_t *state = json_object_get(cs, "state");
                        if (json_object_get(state, "running"))
                                (*running)++, any = true;
                        else if (json_object_get(state, "terminated"))
                                (*exited)++;
                        else
                                (*waiting)++;
                }
                if (any)
                        (*pods)++;
        }
}

char *metrics_render(struct metrics *m, json_t *pod_list, size_t *ret_len)
{
        struct buf b = {.cap = 16384};
        long pods = 0, running = 0, exited = 0, waiting = 0;
        b.s = OOM_CHECK(malloc(b.cap));
        count_pods(pod_list, &pods, &running, &exited, &waiting);

        header(&b, "kubelet_node_name", "gauge", "The node's name. The count is always 1.");
        put(&b, "kubelet_node_name{node=\"%s\"} 1\n", m->node_name);
        header(&b, "kubelet_running_pods", "gauge", "Number of pods that have a running pod sandbox");
        put(&b, "kubelet_running_pods %ld\n", pods);
        header(&b, "kubelet_running_containers", "gauge", "Number of containers currently running");
        put(&b, "kubelet_running_containers{container_state=\"created\"} %ld\n", waiting);
        put(&b, "kubelet_running_containers{container_state=\"exited\"} %ld\n", exited);
        put(&b, "kubelet_running_containers{container_state=\"running\"} %ld\n", running);

        pthread_mutex_lock(&m->lock);
        header(&b, "kubelet_pod_start_duration_seconds", "histogram",
               "Duration in seconds for a single pod to go from pending to running.");
        put_hist(&b, "kubelet_pod_start_duration_seconds", "", &m->pod_start);
        header(&b, "kubelet_pleg_relist_duration_seconds", "histogram",
               "Duration in seconds for relisting pods in PLEG.");
        put_hist(&b, "kubelet_pleg_relist_duration_seconds", "", &m->relist);
        header(&b, "kubelet_runtime_operations_total", "counter",
               "Cumulative number of runtime operations by operation type.");
        for (size_t i = 0; i < m->n_ops; i++)
                put(&b, "kubelet_runtime_operations_total{operation_type=\"%s\"} %llu\n", m->ops[i].name,
                    (unsigned long long) m->ops[i].total);
        header(&b, "kubelet_runtime_operations_errors_total", "counter",
               "Cumulative number of runtime operation errors by operation type.");
        for (size_t i = 0; i < m->n_ops; i++)
                put(&b, "kubelet_runtime_operations_errors_total{operation_type=\"%s\"} %llu\n",
                    m->ops[i].name, (unsigned long long) m->ops[i].errors);
        header(&b, "kubelet_runtime_operations_duration_seconds", "histogram",
               "Duration in seconds of runtime operations. Broken down by operation type.");
        for (size_t i = 0; i < m->n_ops; i++) {
                char labels[80];
                snprintf(labels, sizeof labels, "operation_type=\"%s\",", m->ops[i].name);
                put_hist(&b, "kubelet_runtime_operations_duration_seconds", labels, &m->ops[i].duration);
        }
        pthread_mutex_unlock(&m->lock);
        *ret_len = b.len;
        return b.s;
}
