/* The status manager: the latest computed status of each pod. */
#include "manager.h"

#include <pthread.h>

#include "log.h"
#include "status.h"
#include "util.h"

struct entry {
        char *uid;
        struct pod *pod;
        json_t *status;
        int64_t start_ns;
};

struct status_manager {
        pthread_mutex_t lock;
        struct entry *e;
        size_t n;
        status_listener_fn listener;
        void *listener_ud;
};

void status_manager_set_listener(struct status_manager *sm, status_listener_fn fn, void *userdata)
{
        pthread_mutex_lock(&sm->lock);
        sm->listener = fn;
        sm->listener_ud = userdata;
        pthread_mutex_unlock(&sm->lock);
}

struct status_manager *status_manager_new(void)
{
        struct status_manager *sm = OOM_CHECK(calloc(1, sizeof *sm));
        pthread_mutex_init(&sm->lock, NULL);
        return sm;
}

static void entry_clear(struct entry *e)
{
        free(e->uid);
        pod_unref(e->pod);
        json_decref(e->status);
}

struct status_manager *status_manager_free(struct status_manager *sm)
{
        if (!sm)
                return NULL;
        for (size_t i = 0; i < sm->n; i++)
                entry_clear(&sm->e[i]);
        free(sm->e);
        pthread_mutex_destroy(&sm->lock);
        free(sm);
        return NULL;
}

static struct entry *find(struct status_manager *sm, const char *uid, bool create)
{
        for (size_t i = 0; i < sm->n; i++)
                if (streq(sm->e[i].uid, uid))
                        return &sm->e[i];
        if (!create)
                return NULL;
        sm->e = OOM_CHECK(realloc(sm->e, (sm->n + 1) * sizeof *sm->e));
        struct entry *e = &sm->e[sm->n++];
        *e = (struct entry){.uid = xstrdup(uid), .start_ns = now_real_ns()};
        return e;
}

void status_manager_set(struct status_manager *sm, struct pod *pod, json_t *status)
{
        char name[512];
        const char *old_phase = NULL;
        _cleanup_free_ char *was = NULL;

        pthread_mutex_lock(&sm->lock);
        struct entry *e = find(sm, pod->uid, true);
        old_phase = json_string_value(json_object_get(e->status, "phase"));
        was = xstrdup(old_phase);
        json_decref(e->status);
        e->status = status;
        if (e->pod != pod) {
                pod_unref(e->pod);
                e->pod = pod_ref(pod);
        }
        const char *phase = json_string_value(json_object_get(status, "phase"));
        status_listener_fn fn = sm->listener;
        void *ud = sm->listener_ud;
        json_incref(status);
        pthread_mutex_unlock(&sm->lock);
        if (fn)
                fn(ud, pod, status);
        if (!streq_ptr(was, phase))
                log_info("Pod phase changed", "pod=\"%s\" podUID=\"%s\" from=\"%s\" to=\"%s\"",
                         pod_full_name(pod, name, sizeof name), pod->uid, was ? was : "",
                         phase ? phase : "");
        json_decref(status);
}

json_t *status_manager_get(struct status_manager *sm, const char *uid)
{
        pthread_mutex_lock(&sm->lock);
        struct entry *e = find(sm, uid, false);
        json_t *s = e ? json_incref(e->status) : NULL;
        pthread_mutex_unlock(&sm->lock);
        return s;
}

int64_t status_manager_start_time(struct status_manager *sm, const char *uid, int64_t known_ns)
{
        pthread_mutex_lock(&sm->lock);
        bool fresh = !find(sm, uid, false);
        struct entry *e = find(sm, uid, true);
        if (fresh && known_ns > 0)
                e->start_ns = known_ns;
        int64_t t = e->start_ns;
        pthread_mutex_unlock(&sm->lock);
        return t;
}

void status_manager_remove(struct status_manager *sm, const char *uid)
{
        struct pod *pod = NULL;
        pthread_mutex_lock(&sm->lock);
        for (size_t i = 0; i < sm->n; i++)
                if (streq(sm->e[i].uid, uid)) {
                        pod = pod_ref(sm->e[i].pod);
                        entry_clear(&sm->e[i]);
                        sm->e[i] = sm->e[--sm->n];
                        break;
                }
        status_listener_fn fn = sm->listener;
        void *ud = sm->listener_ud;
        pthread_mutex_unlock(&sm->lock);
        if (fn && pod)
                fn(ud, pod, NULL);
        pod_unref(pod);
}

struct pod *status_manager_pod(struct status_manager *sm, const char *uid)
{
        pthread_mutex_lock(&sm->lock);
        struct entry *e = find(sm, uid, false);
        struct pod *p = e ? pod_ref(e->pod) : NULL;
        pthread_mutex_unlock(&sm->lock);
        return p;
}

json_t *status_manager_pod_list(struct status_manager *sm)
{
        json_t *items = json_array();
        pthread_mutex_lock(&sm->lock);
        for (size_t i = 0; i < sm->n; i++) {
                struct entry *e = &sm->e[i];
                if (!e->pod)
                        continue;
                json_t *p = json_deep_copy(e->pod->json);
                if (e->status)
                        json_object_set(p, "status", e->status);
                json_array_append_new(items, p);
        }
        pthread_mutex_unlock(&sm->lock);
        return json_pack("{s:s, s:s, s:{}, s:o}", "kind", "PodList", "apiVersion", "v1", "metadata", "items",
                         items);
}
