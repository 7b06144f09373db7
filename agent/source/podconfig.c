/* podconfig: merges the pods of every source into one desired set, by UID, and feeds the pod workers. */
#include "podconfig.h"

#include <pthread.h>
#include <stdio.h>

#include "log.h"
#include "util.h"
#include "workers.h"

struct pod_set {
        struct pod **pods;
        size_t n;
};

struct podconfig {
        pthread_mutex_t lock; /* sources call in from their own threads */
        struct pod_workers *workers;
        struct pod_set sources[_POD_SOURCE_MAX];
        struct pod_set merged;
};

static void set_clear(struct pod_set *s)
{
        for (size_t i = 0; i < s->n; i++)
                pod_unref(s->pods[i]);
        free(s->pods);
        *s = (struct pod_set){0};
}

static void set_add(struct pod_set *s, struct pod *p)
{
        s->pods = OOM_CHECK(realloc(s->pods, (s->n + 1) * sizeof *s->pods));
        s->pods[s->n++] = pod_ref(p);
}

static struct pod *set_find_uid(const struct pod_set *s, const char *uid)
{
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->pods[i]->uid, uid))
                        return s->pods[i];
        return NULL;
}

static struct pod *set_find_name(const struct pod_set *s, const struct pod *p)
{
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->pods[i]->name, p->name) && streq(s->pods[i]->namespace, p->namespace))
                        return s->pods[i];
        return NULL;
}

struct podconfig *podconfig_new(struct pod_workers *w)
{
        struct podconfig *pc = OOM_CHECK(calloc(1, sizeof *pc));
        pc->workers = w;
        pthread_mutex_init(&pc->lock, NULL);
        return pc;
}

struct podconfig *podconfig_free(struct podconfig *pc)
{
        if (!pc)
                return NULL;
        for (int i = 0; i < _POD_SOURCE_MAX; i++)
                set_clear(&pc->sources[i]);
        set_clear(&pc->merged);
        pthread_mutex_destroy(&pc->lock);
        free(pc);
        return NULL;
}

void podconfig_set(struct podconfig *pc, enum pod_source src, struct pod **pods, size_t n)
{
        struct pod_set merged = {0};
        char name[512];

        pthread_mutex_lock(&pc->lock);
        set_clear(&pc->sources[src]);
        for (size_t i = 0; i < n; i++)
                set_add(&pc->sources[src], pods[i]);

        /* Pass 1: pods already running keep their names. */
        for (int s = 0; s < _POD_SOURCE_MAX; s++)
                for (size_t i = 0; i < pc->sources[s].n; i++) {
                        struct pod *p = pc->sources[s].pods[i];
                        if (set_find_uid(&pc->merged, p->uid) && !set_find_name(&merged, p) &&
                            !set_find_uid(&merged, p->uid))
                                set_add(&merged, p);
                }
        /* Pass 2: new pods, first come first served. */
        for (int s = 0; s < _POD_SOURCE_MAX; s++)
                for (size_t i = 0; i < pc->sources[s].n; i++) {
                        struct pod *p = pc->sources[s].pods[i];
                        if (set_find_uid(&merged, p->uid))
                                continue;
                        struct pod *other = set_find_name(&merged, p);
                        if (other) {
                                log_error("Pod with duplicate full name detected, ignoring it",
                                          "pod=\"%s\" "
                                          "podUID=\"%s\" keptUID=\"%s\" source=\"%s\"",
                                          pod_full_name(p, name, sizeof name), p->uid, other->uid,
                                          pod_annotation(p, "kubernetes.io/config.source") ?: "");
                                continue;
                        }
                        set_add(&merged, p);
                }

        /* Diff: removals first, so a replaced static pod stops before its successor starts. */
        for (size_t i = 0; i < pc->merged.n; i++) {
                struct pod *old = pc->merged.pods[i];
                if (!set_find_uid(&merged, old->uid)) {
                        log_info("Pod removed from its source", "pod=\"%s\" podUID=\"%s\"",
                                 pod_full_name(old, name, sizeof name), old->uid);
                        pod_workers_update(pc->workers, old->uid, NULL);
                }
        }
        for (size_t i = 0; i < merged.n; i++) {
                struct pod *p = merged.pods[i];
                struct pod *old = set_find_uid(&pc->merged, p->uid);
                if (old == p)
                        continue;
                if (p->terminating) {
                        if (!old || !old->terminating)
                                log_info("Pod is terminating",
                                         "pod=\"%s\" podUID=\"%s\" gracePeriod=\"%lld\"",
                                         pod_full_name(p, name, sizeof name), p->uid,
                                         (long long) p->termination_grace_period);
                        pod_workers_terminate(pc->workers, p->uid, pod_full_name(p, name, sizeof name),
                                              p->termination_grace_period);
                        continue;
                }
                if (!old)
                        log_info("Pod added", "pod=\"%s\" podUID=\"%s\"",
                                 pod_full_name(p, name, sizeof name), p->uid);
                pod_workers_update(pc->workers, p->uid, p);
        }
        set_clear(&pc->merged);
        pc->merged = merged;
        pthread_mutex_unlock(&pc->lock);
}

size_t podconfig_pods(struct podconfig *pc, struct pod ***ret)
{
        *ret = pc->merged.pods;
        return pc->merged.n;
}
