/* The Secrets and ConfigMaps that pods on this node reference, read through the API server: the first
 * OBJ_CACHE_MAX_WATCHES kept fresh by a watch each, the others read with a GET when asked for and kept
 * OBJ_CACHE_POLL_TTL_MS (upstream's TTL cache strategy). A watch per namespace and kind would be one thread
 * whatever the pods name, but the Node authorizer refuses a node's list or watch without an object name. */
#include "objcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "pod.h"
#include "util.h"

#define GET_TIMEOUT_MS 10000

struct object {
        struct obj_cache *cache;
        char *resource, *ns, *name;
        bool watched;             /* one of the OBJ_CACHE_MAX_WATCHES; else read by GET */
        struct kube_watch *watch; /* NULL when not watched (or the watch could not start) */
        json_t *obj;              /* NULL: does not exist (once synced) */
        bool synced;              /* the first list (or GET) answered */
        bool fetching;            /* a GET is on its way (not watched) */
        int64_t fetched_ms;       /* when the last GET answered (not watched) */
        char error[256];          /* the last failure, while not synced */
        unsigned refs;            /* pods referencing it */
};

struct pod_refs {
        char *uid;
        char **keys; /* "ns/resource/name" */
};

struct obj_cache {
        struct kube_client *kube;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct object **objs;
        size_t n_objs;
        struct pod_refs *pods;
        size_t n_pods;
        size_t n_watched;        /* objects with a watch: at most OBJ_CACHE_MAX_WATCHES */
        pthread_mutex_t cb_lock; /* held while on_change runs, so that unsetting it waits for callers */
        void (*on_change)(void *userdata, const char *uid);
        void *on_change_userdata;
};

static void add_ref(char ***v, const char *resource, const char *name)
{
        if (!name || !*name)
                return;
        _cleanup_free_ char *s = strdup_printf("%s/%s", resource, name);
        for (char **p = *v; p && *p; p++)
                if (streq(*p, s))
                        return;
        strv_push(v, TAKE_PTR(s));
}

static void container_refs(json_t *containers, char ***v)
{
        size_t i, j;
        json_t *c, *e;
        json_array_foreach(containers, i, c)
        {
                json_array_foreach(json_object_get(c, "env"), j, e)
                {
                        json_t *vf = json_object_get(e, "valueFrom");
                        add_ref(v, "configmaps",
                                json_string_value(
                                        json_object_get(json_object_get(vf, "configMapKeyRef"), "name")));
                        add_ref(v, "secrets",
                                json_string_value(
                                        json_object_get(json_object_get(vf, "secretKeyRef"), "name")));
                }
                json_array_foreach(json_object_get(c, "envFrom"), j, e)
                {
                        add_ref(v, "configmaps",
                                json_string_value(
                                        json_object_get(json_object_get(e, "configMapRef"), "name")));
                        add_ref(v, "secrets",
                                json_string_value(json_object_get(json_object_get(e, "secretRef"), "name")));
                }
        }
}

char **pod_object_refs(const struct pod *pod)
{
        char **v = NULL;
        json_t *spec = json_object_get(pod->json, "spec"), *x;
        size_t i, j;
        container_refs(json_object_get(spec, "initContainers"), &v);
        container_refs(json_object_get(spec, "containers"), &v);
        json_array_foreach(json_object_get(spec, "volumes"), i, x)
        {
                add_ref(&v, "configmaps",
                        json_string_value(json_object_get(json_object_get(x, "configMap"), "name")));
                add_ref(&v, "secrets",
                        json_string_value(json_object_get(json_object_get(x, "secret"), "secretName")));
                json_t *src;
                json_array_foreach(json_object_get(json_object_get(x, "projected"), "sources"), j, src)
                {
                        add_ref(&v, "configmaps",
                                json_string_value(
                                        json_object_get(json_object_get(src, "configMap"), "name")));
                        add_ref(&v, "secrets",
                                json_string_value(json_object_get(json_object_get(src, "secret"), "name")));
                }
        }
        json_array_foreach(json_object_get(spec, "imagePullSecrets"), i, x)
                add_ref(&v, "secrets", json_string_value(json_object_get(x, "name")));
        return v;
}

struct obj_cache *obj_cache_new(struct kube_client *kube)
{
        struct obj_cache *c = OOM_CHECK(calloc(1, sizeof *c));
        c->kube = kube;
        pthread_mutex_init(&c->lock, NULL);
        pthread_mutex_init(&c->cb_lock, NULL);
        cond_init_monotonic(&c->cond);
        return c;
}

static struct object *find(struct obj_cache *c, const char *resource, const char *ns, const char *name)
{
        for (size_t i = 0; i < c->n_objs; i++) {
                struct object *o = c->objs[i];
                if (streq(o->resource, resource) && streq(o->ns, ns) && streq(o->name, name))
                        return o;
        }
        return NULL;
}

/* Watch callbacks: the list has zero or one item (fieldSelector on the name). */
static const char *resource_version(json_t *obj)
{
        return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

/* Caller holds the lock; the pods to tell go to *uids. */
static void set_obj_locked(struct object *o, json_t *obj, char ***uids)
{
        struct obj_cache *c = o->cache;
        bool changed = o->synced && (!o->obj != !obj ||
                                     (obj && !streq_ptr(resource_version(o->obj), resource_version(obj))));
        json_decref(o->obj);
        o->obj = obj ? json_incref(obj) : NULL;
        o->synced = true;
        o->error[0] = 0;
        pthread_cond_broadcast(&c->cond);
        if (changed) {
                _cleanup_free_ char *key = strdup_printf("%s %s/%s", o->ns, o->resource, o->name);
                for (size_t i = 0; i < c->n_pods; i++)
                        for (char **k = c->pods[i].keys; k && *k; k++)
                                if (streq(*k, key)) {
                                        strv_push(uids, xstrdup(c->pods[i].uid));
                                        break;
                                }
        }
}

static void notify(struct obj_cache *c, char **uids)
{
        pthread_mutex_lock(&c->cb_lock);
        for (char **u = uids; u && *u && c->on_change; u++)
                c->on_change(c->on_change_userdata, *u);
        pthread_mutex_unlock(&c->cb_lock);
        strv_free(uids);
}

static void set_obj(struct object *o, json_t *obj)
{
        struct obj_cache *c = o->cache;
        char **uids = NULL;
        pthread_mutex_lock(&c->lock);
        set_obj_locked(o, obj, &uids);
        pthread_mutex_unlock(&c->lock);
        notify(c, uids);
}

void obj_cache_set_on_change(struct obj_cache *c, void (*fn)(void *userdata, const char *uid),
                             void *userdata)
{
        pthread_mutex_lock(&c->cb_lock);
        c->on_change = fn;
        c->on_change_userdata = userdata;
        pthread_mutex_unlock(&c->cb_lock);
}

static void on_list(void *ud, json_t *items)
{
        set_obj(ud, json_array_get(items, 0));
}

static void on_event(void *ud, const char *type, json_t *obj)
{
        set_obj(ud, streq(type, "DELETED") ? NULL : obj);
}

static void on_state(void *ud, const char *err)
{
        struct object *o = ud;
        if (!err)
                return;
        pthread_mutex_lock(&o->cache->lock);
        snprintf(o->error, sizeof o->error, "%s", err);
        pthread_cond_broadcast(&o->cache->cond);
        pthread_mutex_unlock(&o->cache->lock);
}

/* Caller holds the lock. */
static void start_watch(struct obj_cache *c, struct object *o)
{
        _cleanup_free_ char *path = strdup_printf("/api/v1/namespaces/%s/%s", o->ns, o->resource);
        _cleanup_free_ char *query = kube_field_selector("metadata.name", o->name);
        struct kube_watch_ops ops = {
                .on_list = on_list, .on_event = on_event, .on_state = on_state, .userdata = o};
        o->watched = true;
        c->n_watched++;
        if (kube_watch_start(c->kube, path, query, &ops, &o->watch) < 0) {
                snprintf(o->error, sizeof o->error, "cannot start a watch");
                o->watch = NULL;
        }
}

/* Caller holds the lock. */
static void object_ref(struct obj_cache *c, const char *key_ns, const char *ref)
{
        const char *slash = strchr(ref, '/');
        _cleanup_free_ char *resource = strndup(ref, (size_t) (slash - ref));
        const char *name = slash + 1;
        struct object *o = find(c, resource, key_ns, name);
        if (o) {
                o->refs++;
                return;
        }
        o = OOM_CHECK(calloc(1, sizeof *o));
        o->cache = c;
        o->resource = TAKE_PTR(resource);
        o->ns = xstrdup(key_ns);
        o->name = xstrdup(name);
        o->refs = 1;
        c->objs = OOM_CHECK(realloc(c->objs, (c->n_objs + 1) * sizeof *c->objs));
        c->objs[c->n_objs++] = o;
        if (c->n_watched < OBJ_CACHE_MAX_WATCHES)
                start_watch(c, o);
}

struct stopped {
        struct kube_watch *watch;
        struct object *o;
};

/* Caller holds the lock; watches to stop are handed out (stopping joins a thread that takes the lock). */
static void object_unref(struct obj_cache *c, const char *ns, const char *ref, struct stopped **st,
                         size_t *n_st)
{
        const char *slash = strchr(ref, '/');
        _cleanup_free_ char *resource = strndup(ref, (size_t) (slash - ref));
        for (size_t i = 0; i < c->n_objs; i++) {
                struct object *o = c->objs[i];
                if (!streq(o->resource, resource) || !streq(o->ns, ns) || !streq(o->name, slash + 1))
                        continue;
                if (--o->refs > 0)
                        return;
                c->objs[i] = c->objs[--c->n_objs];
                *st = OOM_CHECK(realloc(*st, (*n_st + 1) * sizeof **st));
                (*st)[(*n_st)++] = (struct stopped){o->watch, o};
                if (!o->watched)
                        return;
                /* Its watch goes to an object read by GET until now. */
                c->n_watched--;
                for (size_t j = 0; j < c->n_objs; j++)
                        if (!c->objs[j]->watched) {
                                start_watch(c, c->objs[j]);
                                break;
                        }
                return;
        }
}

static void object_free(struct object *o)
{
        json_decref(o->obj);
        free(o->resource);
        free(o->ns);
        free(o->name);
        free(o);
}

static void stop_all(struct stopped *st, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                /* The object is the watch's userdata: freed after its thread has stopped. */
                kube_watch_stop(st[i].watch);
                object_free(st[i].o);
        }
        free(st);
}

/* Caller holds the lock. */
static void drop_pod(struct obj_cache *c, const char *uid, struct stopped **st, size_t *n_st)
{
        for (size_t i = 0; i < c->n_pods; i++) {
                struct pod_refs *p = &c->pods[i];
                if (!streq(p->uid, uid))
                        continue;
                for (char **k = p->keys; k && *k; k++) {
                        char *sep = strchr(*k, ' ');
                        *sep = 0;
                        object_unref(c, *k, sep + 1, st, n_st);
                        *sep = ' ';
                }
                free(p->uid);
                strv_free(p->keys);
                c->pods[i] = c->pods[--c->n_pods];
                return;
        }
}

void obj_cache_register_pod(struct obj_cache *c, const struct pod *pod)
{
        _cleanup_strv_free_ char **refs = pod_object_refs(pod);
        char **keys = NULL;
        struct stopped *st = NULL;
        size_t n_st = 0;

        for (char **r = refs; r && *r; r++)
                strv_push(&keys, strdup_printf("%s %s", pod->namespace, *r));
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n_pods; i++)
                if (streq(c->pods[i].uid, pod->uid)) {
                        bool same = strv_length(keys) == strv_length(c->pods[i].keys);
                        for (size_t j = 0; same && keys && keys[j]; j++)
                                same = streq(keys[j], c->pods[i].keys[j]);
                        if (same) {
                                pthread_mutex_unlock(&c->lock);
                                strv_free(keys);
                                return;
                        }
                }
        /* Take the new references before dropping the old, so shared objects keep their watch. */
        for (char **k = keys; k && *k; k++) {
                char *sep = strchr(*k, ' ');
                *sep = 0;
                object_ref(c, *k, sep + 1);
                *sep = ' ';
        }
        drop_pod(c, pod->uid, &st, &n_st);
        if (keys) {
                c->pods = OOM_CHECK(realloc(c->pods, (c->n_pods + 1) * sizeof *c->pods));
                c->pods[c->n_pods++] = (struct pod_refs){xstrdup(pod->uid), TAKE_PTR(keys)};
        }
        pthread_mutex_unlock(&c->lock);
        strv_free(keys);
        stop_all(st, n_st);
}

void obj_cache_unregister_pod(struct obj_cache *c, const char *uid)
{
        struct stopped *st = NULL;
        size_t n_st = 0;
        pthread_mutex_lock(&c->lock);
        drop_pod(c, uid, &st, &n_st);
        pthread_mutex_unlock(&c->lock);
        stop_all(st, n_st);
}

/* Caller holds the lock, which is released during the GET: o is looked up again afterwards. */
static void fetch(struct obj_cache *c, struct object *o)
{
        _cleanup_free_ char *resource = xstrdup(o->resource), *ns = xstrdup(o->ns), *name = xstrdup(o->name);
        _cleanup_free_ char *esc = kube_query_escape(name);
        _cleanup_free_ char *path = strdup_printf("/api/v1/namespaces/%s/%s/%s", ns, resource, esc);
        struct kube_response resp = {0};
        char **uids = NULL;

        o->fetching = true;
        pthread_mutex_unlock(&c->lock);
        int r = kube_request(c->kube, "GET", path, NULL, NULL, GET_TIMEOUT_MS, &resp);
        pthread_mutex_lock(&c->lock);
        o = find(c, resource, ns, name);
        if (o && !o->watched) {
                o->fetching = false;
                if (r >= 0 && (resp.status == 200 || resp.status == 404)) {
                        set_obj_locked(o, resp.status == 200 ? resp.body : NULL, &uids);
                        o->fetched_ms = now_mono_ms();
                } else {
                        /* What it was is kept, and asked for again next time. */
                        snprintf(o->error, sizeof o->error, "%.200s",
                                 resp.error[0] ? resp.error : "no answer from the API server");
                }
        } else if (o)
                o->fetching = false; /* promoted to a watch meanwhile: the watch answers */
        pthread_cond_broadcast(&c->cond);
        kube_response_clear(&resp);
        pthread_mutex_unlock(&c->lock);
        notify(c, uids);
        pthread_mutex_lock(&c->lock);
}

int obj_cache_get(struct obj_cache *c, const char *resource, const char *ns, const char *name,
                  int64_t timeout_ms, json_t **ret, char *err, size_t errlen)
{
        int64_t until = now_mono_ms() + timeout_ms;
        const char *kind = streq(resource, "secrets") ? "secret" : "configmap";
        bool asked = false; /* not watched: one GET per call at most */
        int r;

        pthread_mutex_lock(&c->lock);
        for (;;) {
                struct object *o = find(c, resource, ns, name);
                if (!o) {
                        snprintf(err, errlen, "%s \"%s\" is not referenced by a pod on this node", kind,
                                 name);
                        r = -ENOENT;
                        break;
                }
                if (!o->watched && !o->fetching && !asked &&
                    (!o->synced || now_mono_ms() - o->fetched_ms >= OBJ_CACHE_POLL_TTL_MS)) {
                        fetch(c, o); /* unlocks while it asks */
                        asked = true;
                        continue; /* o may be gone: look again */
                }
                if (!o->watched && !o->synced && !o->fetching && asked) {
                        snprintf(err, errlen, "failed to get %s \"%s\": %s", kind, name, o->error);
                        r = -EIO;
                        break;
                }
                if (o->synced) {
                        if (o->obj) {
                                *ret = json_incref(o->obj);
                                r = 0;
                        } else {
                                snprintf(err, errlen, "%s \"%s\" not found", kind, name);
                                r = -ENOENT;
                        }
                        break;
                }
                int64_t left = until - now_mono_ms();
                if (left <= 0) {
                        snprintf(err, errlen, "failed to sync %s cache: %s", kind,
                                 o->error[0] ? o->error : "timed out waiting for the condition");
                        r = -ETIMEDOUT;
                        break;
                }
                cond_wait_ms(&c->cond, &c->lock, left);
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

struct obj_cache *obj_cache_free(struct obj_cache *c)
{
        if (!c)
                return NULL;
        struct stopped *st = NULL;
        size_t n_st = 0;
        pthread_mutex_lock(&c->lock);
        while (c->n_pods > 0)
                drop_pod(c, c->pods[0].uid, &st, &n_st);
        for (size_t i = 0; i < c->n_objs; i++) { /* not referenced by a pod, should not happen */
                st = OOM_CHECK(realloc(st, (n_st + 1) * sizeof *st));
                st[n_st++] = (struct stopped){c->objs[i]->watch, c->objs[i]};
        }
        c->n_objs = 0;
        pthread_mutex_unlock(&c->lock);
        stop_all(st, n_st);
        free(c->objs);
        free(c->pods);
        pthread_mutex_destroy(&c->cb_lock);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c);
        return NULL;
}
