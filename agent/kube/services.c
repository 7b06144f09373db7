/* The cluster's Services, watched, for the environment variables every container gets. */
#include "services.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "util.h"

struct svc_cache {
        struct kube_watch *watch;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        json_t *by_key; /* "ns/name" -> Service */
        bool synced;    /* the first list arrived */
};

/* How long a container start waits for the first list of Services (the API server may be away at boot:
 * pods then start without the variables rather than not at all). */
#define SYNC_WAIT_MS 2000

static char *key_of(json_t *obj)
{
        json_t *meta = json_object_get(obj, "metadata");
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        const char *name = json_string_value(json_object_get(meta, "name"));
        return ns && name ? strdup_printf("%s/%s", ns, name) : NULL;
}

static void on_list(void *ud, json_t *items)
{
        struct svc_cache *c = ud;
        json_t *m = json_object();
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
                _cleanup_free_ char *k = key_of(it);
                if (k)
                        json_object_set(m, k, it);
        }
        pthread_mutex_lock(&c->lock);
        json_decref(c->by_key);
        c->by_key = m;
        c->synced = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

static void on_event(void *ud, const char *type, json_t *obj)
{
        struct svc_cache *c = ud;
        _cleanup_free_ char *k = key_of(obj);
        if (!k)
                return;
        pthread_mutex_lock(&c->lock);
        if (streq(type, "DELETED"))
                json_object_del(c->by_key, k);
        else
                json_object_set(c->by_key, k, obj);
        pthread_mutex_unlock(&c->lock);
}

int svc_cache_start(struct kube_client *kube, struct svc_cache **ret)
{
        struct svc_cache *c = OOM_CHECK(calloc(1, sizeof *c));
        pthread_mutex_init(&c->lock, NULL);
        cond_init_monotonic(&c->cond);
        c->by_key = json_object();
        struct kube_watch_ops ops = {.on_list = on_list, .on_event = on_event, .userdata = c};
        int r = kube_watch_start(kube, "/api/v1/services", NULL, &ops, &c->watch);
        if (r < 0) {
                c->watch = NULL;
                svc_cache_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

struct svc_cache *svc_cache_free(struct svc_cache *c)
{
        if (!c)
                return NULL;
        kube_watch_stop(c->watch);
        json_decref(c->by_key);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c);
        return NULL;
}

static bool env_has(char **env, const char *name)
{
        for (char **p = env; p && *p; p += 2)
                if (streq(p[0], name))
                        return true;
        return false;
}

static void env_add(char ***env, char *name, char *value)
{
        if (env_has(*env, name)) {
                free(name);
                free(value);
                return;
        }
        strv_push(env, name);
        strv_push(env, value);
}

/* "my-svc" -> "MY_SVC" */
static char *env_name(const char *s)
{
        char *o = xstrdup(s);
        for (char *p = o; *p; p++)
                *p = *p == '-' ? '_' : (char) toupper((unsigned char) *p);
        return o;
}

void service_env(json_t *svc, char ***env)
{
        json_t *spec = json_object_get(svc, "spec");
        const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
        const char *name = json_string_value(json_object_get(json_object_get(svc, "metadata"), "name"));
        json_t *ports = json_object_get(spec, "ports"), *p;
        size_t i;
        if (!ip || !*ip || streq(ip, "None") || !name || json_array_size(ports) == 0)
                return;
        _cleanup_free_ char *n = env_name(name);
        /* An IPv6 address in a URL goes in brackets. */
        _cleanup_free_ char *url_ip = strchr(ip, ':') ? strdup_printf("[%s]", ip) : xstrdup(ip);
        env_add(env, strdup_printf("%s_SERVICE_HOST", n), xstrdup(ip));
        env_add(env, strdup_printf("%s_SERVICE_PORT", n),
                strdup_printf("%lld", (long long) json_integer_value(
                                              json_object_get(json_array_get(ports, 0), "port"))));
        json_array_foreach(ports, i, p)
        {
                const char *pname = json_string_value(json_object_get(p, "name"));
                if (pname && *pname) {
                        _cleanup_free_ char *pn = env_name(pname);
                        env_add(env, strdup_printf("%s_SERVICE_PORT_%s", n, pn),
                                strdup_printf("%lld",
                                              (long long) json_integer_value(json_object_get(p, "port"))));
                }
        }
        json_array_foreach(ports, i, p)
        {
                long long port = (long long) json_integer_value(json_object_get(p, "port"));
                const char *proto = json_string_value(json_object_get(p, "protocol")) ?: "TCP";
                _cleanup_free_ char *up = env_name(proto), *low = xstrdup(proto);
                for (char *q = low; *q; q++)
                        *q = (char) tolower((unsigned char) *q);
                _cleanup_free_ char *prefix = strdup_printf("%s_PORT_%lld_%s", n, port, up);
                if (i == 0)
                        env_add(env, strdup_printf("%s_PORT", n),
                                strdup_printf("%s://%s:%lld", low, url_ip, port));
                env_add(env, xstrdup(prefix), strdup_printf("%s://%s:%lld", low, url_ip, port));
                env_add(env, strdup_printf("%s_PROTO", prefix), xstrdup(low));
                env_add(env, strdup_printf("%s_PORT", prefix), strdup_printf("%lld", port));
                env_add(env, strdup_printf("%s_ADDR", prefix), xstrdup(ip));
        }
}

int svc_cache_env(struct svc_cache *c, const char *ns, bool links, bool wait, char ***env)
{
        const char *k;
        json_t *svc;
        pthread_mutex_lock(&c->lock);
        int64_t until = now_mono_ms() + SYNC_WAIT_MS;
        while (wait && !c->synced && now_mono_ms() < until)
                cond_wait_ms(&c->cond, &c->lock, until - now_mono_ms());
        if (wait && !c->synced) {
                pthread_mutex_unlock(&c->lock);
                return -EAGAIN;
        }
        /* The master service always (in-cluster clients find the API server by it), then the namespace's;
         * with links, a Service of the pod's namespace named like the master's takes its place, as
         * upstream's getServiceEnvVarMap. */
        _cleanup_free_ char *own_master = strdup_printf("%s/kubernetes", ns);
        if (!links || streq(ns, "default") || !json_object_get(c->by_key, own_master))
                service_env(json_object_get(c->by_key, "default/kubernetes"), env);
        if (links) {
                size_t len = strlen(ns);
                json_object_foreach(c->by_key, k, svc)
                {
                        if (strncmp(k, ns, len) == 0 && k[len] == '/' && !streq(k, "default/kubernetes"))
                                service_env(svc, env);
                }
        }
        pthread_mutex_unlock(&c->lock);
        return 0;
}
