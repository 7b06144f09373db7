/* podconfig: merges the pods of every source into one desired set, by UID, and feeds the pod workers. */
#include "podconfig.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
        struct podconfig_admission admission;
        char **admitted; /* UIDs admitted and still in merged */
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
        strv_free(pc->admitted);
        pthread_mutex_destroy(&pc->lock);
        free(pc);
        return NULL;
}

void podconfig_set_admission(struct podconfig *pc, const struct podconfig_admission *ops)
{
        pthread_mutex_lock(&pc->lock);
        pc->admission = *ops;
        pthread_mutex_unlock(&pc->lock);
}

static bool uid_admitted(const struct podconfig *pc, const char *uid)
{
        for (char **u = pc->admitted; u && *u; u++)
                if (streq(*u, uid))
                        return true;
        return false;
}

/* metadata.creationTimestamp in seconds; 0 when absent (static pods), which sorts first as upstream's
 * zero time does. */
static int64_t creation_time(const struct pod *p)
{
        const char *s = json_string_value(
                json_object_get(json_object_get(p->json, "metadata"), "creationTimestamp"));
        struct tm tm = {0};
        if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
                return 0;
        return (int64_t) timegm(&tm);
}

struct candidate {
        struct pod *pod;
        bool running;
        int64_t created;
        size_t arrival;
};

static int candidate_cmp(const void *a, const void *b)
{
        const struct candidate *x = a, *y = b;
        if (x->running != y->running)
                return x->running ? -1 : 1;
        if (x->created != y->created)
                return x->created < y->created ? -1 : 1;
        return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

/* The pods of merged admitted before and still running: what a new pod must fit beside. */
static struct pod **admitted_active(struct podconfig *pc, const struct pod_set *merged, size_t *ret_n)
{
        struct pod **v = OOM_CHECK(calloc(merged->n + 1, sizeof *v));
        size_t n = 0;
        for (size_t i = 0; i < merged->n; i++) {
                struct pod *p = merged->pods[i];
                if (uid_admitted(pc, p->uid) &&
                    !(pc->admission.finished && pc->admission.finished(pc->admission.userdata, p)))
                        v[n++] = p;
        }
        *ret_n = n;
        return v;
}

/* Admission of the new pods of one change, oldest first; returns the pods to hand to the workers, in
 * that order (refused ones too: their worker publishes their Failed status and runs nothing). */
static void admit_new(struct podconfig *pc, const struct pod_set *merged, struct candidate *c, size_t n)
{
        char name[512];
        for (size_t i = 0; i < n; i++) {
                c[i].running = pc->admission.running &&
                               pc->admission.running(pc->admission.userdata, c[i].pod->uid);
                c[i].created = creation_time(c[i].pod);
                c[i].arrival = i;
        }
        qsort(c, n, sizeof *c, candidate_cmp);
        for (size_t i = 0; i < n; i++) {
                struct pod *p = c[i].pod;
                log_info("Pod added", "pod=\"%s\" podUID=\"%s\"", pod_full_name(p, name, sizeof name),
                         p->uid);
                bool finished = pc->admission.finished && pc->admission.finished(pc->admission.userdata, p);
                if (!pc->admission.admit || finished) {
                        /* A finished pod (Failed before a restart) is not admitted again, nor counted. */
                        if (!finished)
                                strv_push(&pc->admitted, xstrdup(p->uid));
                        continue;
                }
                size_t n_active;
                _cleanup_free_ struct pod **active = admitted_active(pc, merged, &n_active);
                if (pc->admission.admit(pc->admission.userdata, p, active, n_active))
                        strv_push(&pc->admitted, xstrdup(p->uid));
        }
}

/* Forgets the decisions of pods that left the merged set. */
static void prune_admitted(struct podconfig *pc, const struct pod_set *merged)
{
        size_t k = 0, n = strv_length(pc->admitted);
        for (size_t i = 0; i < n; i++) {
                if (set_find_uid(merged, pc->admitted[i]))
                        pc->admitted[k++] = pc->admitted[i];
                else
                        free(pc->admitted[i]);
        }
        if (pc->admitted)
                pc->admitted[k] = NULL;
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
        /* New pods are admitted (or refused) first, oldest first, then every change goes to the workers. */
        prune_admitted(pc, &merged);
        _cleanup_free_ struct candidate *fresh = OOM_CHECK(calloc(merged.n + 1, sizeof *fresh));
        size_t n_fresh = 0;
        for (size_t i = 0; i < merged.n; i++)
                if (!set_find_uid(&pc->merged, merged.pods[i]->uid) && !merged.pods[i]->terminating)
                        fresh[n_fresh++].pod = merged.pods[i];
        admit_new(pc, &merged, fresh, n_fresh);
        for (size_t i = 0; i < n_fresh; i++)
                pod_workers_update(pc->workers, fresh[i].pod->uid, fresh[i].pod);
        for (size_t i = 0; i < merged.n; i++) {
                struct pod *p = merged.pods[i];
                struct pod *old = set_find_uid(&pc->merged, p->uid);
                if (old == p || (!old && !p->terminating))
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

size_t podconfig_active_pods(struct podconfig *pc, struct pod ***ret)
{
        size_t n = 0, m = 0;
        pthread_mutex_lock(&pc->lock);
        struct pod **v = admitted_active(pc, &pc->merged, &n);
        for (size_t i = 0; i < n; i++)
                if (!v[i]->terminating)
                        v[m++] = pod_ref(v[i]);
        pthread_mutex_unlock(&pc->lock);
        v[m] = NULL;
        *ret = v;
        return m;
}

bool podconfig_has(struct podconfig *pc, const char *uid)
{
        pthread_mutex_lock(&pc->lock);
        bool has = set_find_uid(&pc->merged, uid) != NULL;
        pthread_mutex_unlock(&pc->lock);
        return has;
}
