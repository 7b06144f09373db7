/* The API server source: pods bound to this node (a list+watch on spec.nodeName), fed to podconfig; the
 * mirror pods among them are remembered for the status writer instead of being run. */
#include "api.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "pod.h"
#include "podconfig.h"
#include "util.h"

#define MIRROR_ANNOTATION "kubernetes.io/config.mirror"

struct entry {
        char *uid;
        char *ns, *name;
        json_t *key;     /* what running the pod depends on (pod_key); a mirror pod's hash and deletion */
        struct pod *pod; /* NULL for mirror pods and pods that failed to decode */
        char *mirror_hash;
        bool deleting;
};

struct api_source {
        struct kube_client *kube;
        struct podconfig *pc;
        struct api_source_ops ops;
        char *node;
        struct kube_watch *watch;
        pthread_mutex_t lock;
        struct entry *e;
        size_t n;
        bool synced;
};

static void entry_clear(struct entry *e)
{
        free(e->uid);
        free(e->ns);
        free(e->name);
        json_decref(e->key);
        pod_unref(e->pod);
        free(e->mirror_hash);
}

static struct entry *find(struct api_source *s, const char *uid)
{
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->e[i].uid, uid))
                        return &s->e[i];
        return NULL;
}

static void remove_at(struct api_source *s, size_t i)
{
        entry_clear(&s->e[i]);
        s->e[i] = s->e[--s->n];
}

/* The conditions of the pod's readiness gates, as someone else wrote them into its status: a change must
 * reach the pod's Ready condition (upstream's HandlePodReconcile). */
static json_t *gate_conditions(json_t *obj)
{
        json_t *gates = json_object_get(json_object_get(obj, "spec"), "readinessGates"), *g, *c;
        json_t *conds = json_object_get(json_object_get(obj, "status"), "conditions");
        json_t *out = json_array();
        size_t i, j;
        json_array_foreach(gates, i, g)
        {
                const char *type = json_string_value(json_object_get(g, "conditionType"));
                json_array_foreach(conds, j, c)
                {
                        if (type && streq_ptr(json_string_value(json_object_get(c, "type")), type))
                                json_array_append_new(out, json_pack("{s:s, s:O*}", "type", type, "status",
                                                                     json_object_get(c, "status")));
                }
        }
        return out;
}

/* What running the pod depends on: metadata (no resourceVersion), spec, the readiness gates' conditions. */
static json_t *pod_key(json_t *obj)
{
        json_t *meta = json_deep_copy(json_object_get(obj, "metadata"));
        if (meta) {
                json_object_del(meta, "resourceVersion");
                json_object_del(meta, "managedFields");
                json_object_del(meta, "generation");
        }
        return json_pack("{s:o*, s:O*, s:o}", "metadata", meta, "spec", json_object_get(obj, "spec"),
                         "gates", gate_conditions(obj));
}

/* The pod cubelet runs for an API object: defaulted as the API server would, marked as from "api". */
static struct pod *decode_pod(json_t *obj, json_t *key)
{
        char name[512];
        struct api_problems pr = {0};
        json_t *copy = json_deep_copy(obj);
        json_t *meta = json_object_get(copy, "metadata");
        json_t *ann = json_object_get(meta, "annotations");
        if (!json_is_object(ann)) {
                ann = json_object();
                json_object_set_new(meta, "annotations", ann);
        }
        json_object_set_new(ann, "kubernetes.io/config.source", json_string("api"));
        pod_json_apply_defaults(copy);
        snprintf(name, sizeof name, "%s/%s", json_string_value(json_object_get(meta, "namespace")) ?: "",
                 json_string_value(json_object_get(meta, "name")) ?: "");
        struct pod *p = pod_from_json(copy, &pr);
        json_decref(copy); /* meta went with it */
        if (!p) {
                _cleanup_free_ char *errs = api_problems_errors(&pr);
                log_error("Cannot run a pod from the API server", "pod=\"%s\" err=\"%s\"", name,
                          log_q(errs));
                api_problems_clear(&pr);
                return NULL;
        }
        api_problems_clear(&pr);
        json_t *dts = json_object_get(json_object_get(key, "metadata"), "deletionTimestamp");
        if (dts && !json_is_null(dts)) {
                p->deleting = p->terminating = true;
                json_t *g = json_object_get(json_object_get(key, "metadata"), "deletionGracePeriodSeconds");
                if (json_is_integer(g))
                        p->termination_grace_period = json_integer_value(g);
        }
        return p;
}

struct pod *api_source_decode(json_t *obj)
{
        json_t *key = pod_key(obj);
        struct pod *p = decode_pod(obj, key);
        json_decref(key);
        return p;
}

/* Caller holds the lock. Returns true when something podconfig cares about changed. */
static bool upsert(struct api_source *s, json_t *obj, bool *mirror_changed)
{
        json_t *meta = json_object_get(obj, "metadata");
        const char *uid = json_string_value(json_object_get(meta, "uid"));
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        const char *name = json_string_value(json_object_get(meta, "name"));
        if (!uid || !ns || !name)
                return false;
        const char *mirror =
                json_string_value(json_object_get(json_object_get(meta, "annotations"), MIRROR_ANNOTATION));
        json_t *dts = json_object_get(meta, "deletionTimestamp");
        bool deleting = dts && !json_is_null(dts);
        /* A mirror pod is not run: what the status writer asks of it is all its entry keeps (a copy of
         * its spec for each of 110 mirror pods was most of the API source's memory). */
        json_t *key =
                mirror ? json_pack("{s:s, s:b}", "mirror", mirror, "deleting", deleting) : pod_key(obj);
        struct entry *e = find(s, uid);
        if (e && json_equal(e->key, key)) {
                json_decref(key);
                return false;
        }
        if (!e) {
                s->e = OOM_CHECK(realloc(s->e, (s->n + 1) * sizeof *s->e));
                e = &s->e[s->n++];
                *e = (struct entry){.uid = xstrdup(uid), .ns = xstrdup(ns), .name = xstrdup(name)};
        }
        json_decref(e->key);
        e->key = key;
        free(e->mirror_hash);
        e->mirror_hash = NULL;
        e->deleting = deleting;
        if (mirror) {
                e->mirror_hash = xstrdup(mirror);
                e->pod = pod_unref(e->pod);
                *mirror_changed = true;
                return false;
        }
        struct pod *p = decode_pod(obj, key);
        if (!p && e->pod) /* an update cubelet cannot decode: the pod runs on as it was */
                return false;
        pod_unref(e->pod);
        e->pod = p;
        return true;
}

/* Caller holds the lock: hands the whole set to podconfig. */
static void publish(struct api_source *s)
{
        struct pod **pods = OOM_CHECK(calloc(s->n + 1, sizeof *pods));
        size_t n = 0;
        for (size_t i = 0; i < s->n; i++)
                if (s->e[i].pod)
                        pods[n++] = s->e[i].pod;
        podconfig_set(s->pc, POD_SOURCE_API, pods, n);
        free(pods);
}

static void notify_mirror(struct api_source *s, json_t *obj)
{
        json_t *meta = json_object_get(obj, "metadata");
        if (s->ops.mirror_changed)
                s->ops.mirror_changed(s->ops.userdata,
                                      json_string_value(json_object_get(meta, "namespace")) ?: "",
                                      json_string_value(json_object_get(meta, "name")) ?: "");
}

static void on_list(void *ud, json_t *items)
{
        struct api_source *s = ud;
        size_t i;
        json_t *obj;
        bool first, mirrors = false;

        pthread_mutex_lock(&s->lock);
        /* Drop what the list no longer has, then take the list. */
        for (size_t k = s->n; k-- > 0;) {
                bool found = false;
                json_array_foreach(items, i, obj)
                {
                        const char *uid =
                                json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
                        if (uid && streq(uid, s->e[k].uid)) {
                                found = true;
                                break;
                        }
                }
                if (!found) {
                        mirrors |= s->e[k].mirror_hash != NULL;
                        remove_at(s, k);
                }
        }
        json_array_foreach(items, i, obj) upsert(s, obj, &mirrors);
        publish(s);
        first = !s->synced;
        s->synced = true;
        size_t n = s->n;
        pthread_mutex_unlock(&s->lock);
        log_info("Pods listed from the API server", "node=\"%s\" pods=\"%zu\"", s->node, n);
        if (first && s->ops.synced)
                s->ops.synced(s->ops.userdata);
        if (mirrors && s->ops.mirror_changed)
                s->ops.mirror_changed(s->ops.userdata, NULL, NULL);
}

static void on_event(void *ud, const char *type, json_t *obj)
{
        struct api_source *s = ud;
        bool changed = false, mirror = false;

        pthread_mutex_lock(&s->lock);
        if (streq(type, "DELETED")) {
                const char *uid =
                        json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
                for (size_t i = 0; uid && i < s->n; i++)
                        if (streq(s->e[i].uid, uid)) {
                                mirror = s->e[i].mirror_hash != NULL;
                                changed = !mirror;
                                remove_at(s, i);
                                break;
                        }
        } else
                changed = upsert(s, obj, &mirror);
        if (changed)
                publish(s);
        pthread_mutex_unlock(&s->lock);
        if (mirror)
                notify_mirror(s, obj);
}

static void on_state(void *ud, const char *err)
{
        struct api_source *s = ud;
        if (err)
                log_error("Pod watch failed; pods keep running, will retry", "node=\"%s\" err=\"%s\"",
                          s->node, log_q(err));
        else
                log_info("Pod watch is back", "node=\"%s\"", s->node);
}

struct api_source *api_source_new(struct kube_client *kube, const char *node_name, struct podconfig *pc,
                                  const struct api_source_ops *ops)
{
        struct api_source *s = OOM_CHECK(calloc(1, sizeof *s));
        s->kube = kube;
        s->pc = pc;
        s->ops = *ops;
        s->node = xstrdup(node_name);
        pthread_mutex_init(&s->lock, NULL);
        return s;
}

int api_source_run(struct api_source *s)
{
        _cleanup_free_ char *query = kube_field_selector("spec.nodeName", s->node);
        struct kube_watch_ops wo = {
                .on_list = on_list, .on_event = on_event, .on_state = on_state, .userdata = s};
        return kube_watch_start(s->kube, "/api/v1/pods", query, &wo, &s->watch);
}

void api_source_halt(struct api_source *s)
{
        if (!s)
                return;
        kube_watch_stop(s->watch);
        s->watch = NULL;
}

void api_source_free(struct api_source *s)
{
        if (!s)
                return;
        api_source_halt(s);
        for (size_t i = 0; i < s->n; i++)
                entry_clear(&s->e[i]);
        free(s->e);
        free(s->node);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

struct pod *api_source_pod(struct api_source *s, const char *uid)
{
        pthread_mutex_lock(&s->lock);
        struct entry *e = find(s, uid);
        struct pod *p = e ? pod_ref(e->pod) : NULL;
        pthread_mutex_unlock(&s->lock);
        return p;
}

bool api_source_mirror(struct api_source *s, const char *ns, const char *name, char *uid, size_t uid_len,
                       char *hash, size_t hash_len, bool *deleting)
{
        bool found = false;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n && !found; i++) {
                struct entry *e = &s->e[i];
                if (e->mirror_hash && streq(e->ns, ns) && streq(e->name, name)) {
                        *deleting = e->deleting;
                        snprintf(uid, uid_len, "%s", e->uid);
                        snprintf(hash, hash_len, "%s", e->mirror_hash);
                        found = true;
                }
        }
        pthread_mutex_unlock(&s->lock);
        return found;
}

bool api_source_deleting(struct api_source *s, const char *uid)
{
        pthread_mutex_lock(&s->lock);
        struct entry *e = find(s, uid);
        bool d = e && e->deleting;
        pthread_mutex_unlock(&s->lock);
        return d;
}

bool api_source_has(struct api_source *s, const char *uid)
{
        pthread_mutex_lock(&s->lock);
        bool h = find(s, uid) != NULL;
        pthread_mutex_unlock(&s->lock);
        return h;
}
