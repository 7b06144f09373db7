/* RuntimeClasses (node.k8s.io/v1), listed and watched: runtimeClassName to the CRI runtime handler. */
#include "runtimeclass.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>

#include "client.h"
#include "util.h"

struct rc_cache {
        struct kube_watch *watch;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        json_t *handlers; /* name -> handler */
        bool synced;      /* the first list arrived */
};

/* How long a sandbox waits for the first list (the API server may be slow at start). */
#define SYNC_WAIT_MS 2000

static const char *name_of(json_t *obj)
{
        return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
}

static json_t *handler_of(json_t *obj)
{
        const char *h = json_string_value(json_object_get(obj, "handler"));
        return json_string(h ? h : "");
}

static void on_list(void *ud, json_t *items)
{
        struct rc_cache *c = ud;
        json_t *m = json_object(), *it;
        size_t i;
        json_array_foreach(items, i, it)
        {
                if (name_of(it))
                        json_object_set_new(m, name_of(it), handler_of(it));
        }
        pthread_mutex_lock(&c->lock);
        json_decref(c->handlers);
        c->handlers = m;
        c->synced = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

static void on_event(void *ud, const char *type, json_t *obj)
{
        struct rc_cache *c = ud;
        const char *name = name_of(obj);
        if (!name)
                return;
        pthread_mutex_lock(&c->lock);
        if (streq(type, "DELETED"))
                json_object_del(c->handlers, name);
        else
                json_object_set_new(c->handlers, name, handler_of(obj));
        pthread_mutex_unlock(&c->lock);
}

int rc_cache_start(struct kube_client *kube, struct rc_cache **ret)
{
        struct rc_cache *c = OOM_CHECK(calloc(1, sizeof *c));
        pthread_mutex_init(&c->lock, NULL);
        cond_init_monotonic(&c->cond);
        c->handlers = json_object();
        struct kube_watch_ops ops = {.on_list = on_list, .on_event = on_event, .userdata = c};
        int r = kube_watch_start(kube, "/apis/node.k8s.io/v1/runtimeclasses", NULL, &ops, &c->watch);
        if (r < 0) {
                c->watch = NULL;
                rc_cache_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

struct rc_cache *rc_cache_free(struct rc_cache *c)
{
        if (!c)
                return NULL;
        kube_watch_stop(c->watch);
        json_decref(c->handlers);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c);
        return NULL;
}

int rc_cache_handler(struct rc_cache *c, const char *name, char **ret, char *err, size_t errlen)
{
        if (!name || !name[0]) {
                *ret = xstrdup("");
                return 0;
        }
        pthread_mutex_lock(&c->lock);
        int64_t until = now_mono_ms() + SYNC_WAIT_MS;
        while (!c->synced && now_mono_ms() < until)
                cond_wait_ms(&c->cond, &c->lock, until - now_mono_ms());
        const char *h = json_string_value(json_object_get(c->handlers, name));
        char *found = xstrdup(h);
        pthread_mutex_unlock(&c->lock);
        if (!found) {
                snprintf(err, errlen, "runtimeclass.node.k8s.io \"%s\" not found", name);
                return -ENOENT;
        }
        *ret = found;
        return 0;
}
