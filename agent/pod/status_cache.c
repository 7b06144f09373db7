/* The runtime status cache (see status_cache.h). */
#include "status_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cri.h"
#include "macro.h"
#include "util.h"

#define CACHE_IDLE_MS (10 * 60 * 1000) /* well above the resync period (1 min plus up to half) */
#define SANDBOX_IP    (-1)             /* the state of an entry that holds a sandbox's IP */

struct entry {
        char *id;
        int state;
        uint8_t *data; /* the packed ContainerStatusResponse, or the IP */
        size_t len;
        int64_t used_ms;
};

struct status_cache {
        pthread_mutex_t lock;
        struct entry *e;
        size_t n;
        int64_t pruned_ms;
};

struct status_cache *status_cache_new(void)
{
        struct status_cache *c = OOM_CHECK(calloc(1, sizeof *c));
        pthread_mutex_init(&c->lock, NULL);
        return c;
}

static void entry_free(struct entry *e)
{
        free(e->id);
        free(e->data);
}

struct status_cache *status_cache_free(struct status_cache *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++)
                entry_free(&c->e[i]);
        free(c->e);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

/* Under lock. */
static struct entry *find(struct status_cache *c, const char *id, int state)
{
        for (size_t i = 0; i < c->n; i++)
                if (c->e[i].state == state && streq(c->e[i].id, id))
                        return &c->e[i];
        return NULL;
}

/* Under lock: drops what was not used for CACHE_IDLE_MS (containers and sandboxes that went), at most once
 * a minute. */
static void prune(struct status_cache *c, int64_t now_ms)
{
        if (now_ms - c->pruned_ms < 60000)
                return;
        c->pruned_ms = now_ms;
        for (size_t i = 0; i < c->n;)
                if (now_ms - c->e[i].used_ms > CACHE_IDLE_MS) {
                        entry_free(&c->e[i]);
                        c->e[i] = c->e[--c->n];
                } else
                        i++;
}

/* Under lock: stores data (taken) for (id, state), replacing what was there. */
static void put(struct status_cache *c, const char *id, int state, uint8_t *data, size_t len, int64_t now_ms)
{
        prune(c, now_ms);
        struct entry *e = find(c, id, state);
        if (!e) {
                c->e = OOM_CHECK(realloc(c->e, (c->n + 1) * sizeof *c->e));
                e = &c->e[c->n++];
                *e = (struct entry){.id = xstrdup(id), .state = state};
        } else
                free(e->data);
        e->data = data;
        e->len = len;
        e->used_ms = now_ms;
}

Runtime__V1__ContainerStatusResponse *status_cache_container(struct status_cache *c, const char *id,
                                                             Runtime__V1__ContainerState state,
                                                             int64_t now_ms)
{
        if (!c || !id)
                return NULL;
        Runtime__V1__ContainerStatusResponse *r = NULL;
        pthread_mutex_lock(&c->lock);
        struct entry *e = find(c, id, (int) state);
        if (e) {
                e->used_ms = now_ms;
                r = runtime__v1__container_status_response__unpack(NULL, e->len, e->data);
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

void status_cache_put_container(struct status_cache *c, const Runtime__V1__ContainerStatusResponse *resp,
                                int64_t now_ms)
{
        const Runtime__V1__ContainerStatus *st = resp ? resp->status : NULL;
        if (!c || !st || !st->id || !st->id[0] ||
            (st->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING &&
             st->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED))
                return;
        /* the status alone: the verbose info map (runtime debug data) is not used and may be large */
        Runtime__V1__ContainerStatusResponse copy = *resp;
        copy.n_info = 0;
        copy.info = NULL;
        size_t len = runtime__v1__container_status_response__get_packed_size(&copy);
        uint8_t *data = OOM_CHECK(malloc(len ? len : 1));
        runtime__v1__container_status_response__pack(&copy, data);
        pthread_mutex_lock(&c->lock);
        put(c, st->id, (int) st->state, data, len, now_ms);
        pthread_mutex_unlock(&c->lock);
}

char *status_cache_sandbox_ip(struct status_cache *c, const char *id, int64_t now_ms)
{
        if (!c || !id)
                return NULL;
        char *ip = NULL;
        pthread_mutex_lock(&c->lock);
        struct entry *e = find(c, id, SANDBOX_IP);
        if (e) {
                e->used_ms = now_ms;
                ip = xstrdup((const char *) e->data);
        }
        pthread_mutex_unlock(&c->lock);
        return ip;
}

void status_cache_put_sandbox_ip(struct status_cache *c, const char *id, const char *ip, int64_t now_ms)
{
        if (!c || !id || !id[0])
                return;
        char *data = xstrdup(ip ? ip : "");
        pthread_mutex_lock(&c->lock);
        put(c, id, SANDBOX_IP, (uint8_t *) data, strlen(data) + 1, now_ms);
        pthread_mutex_unlock(&c->lock);
}

void status_cache_forget(struct status_cache *c, const char *id)
{
        if (!c || !id)
                return;
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n;)
                if (streq(c->e[i].id, id)) {
                        entry_free(&c->e[i]);
                        c->e[i] = c->e[--c->n];
                } else
                        i++;
        if (!c->n) { /* a node whose pods all went holds no table either */
                free(c->e);
                c->e = NULL;
        }
        pthread_mutex_unlock(&c->lock);
}

size_t status_cache_size(struct status_cache *c)
{
        pthread_mutex_lock(&c->lock);
        size_t n = c->n;
        pthread_mutex_unlock(&c->lock);
        return n;
}
