/* The runtime listing shared by periodic resyncs (see listing_cache.h). */
#include "listing_cache.h"

#include <pthread.h>
#include <stdlib.h>

#include "exits.h"
#include "macro.h"
#include "util.h"

struct listing_cache {
        pthread_mutex_t lock;
        int64_t max_age_ms;
        struct pod_runtime all; /* NULLs: none */
        uint64_t gen;
        int64_t taken_ms;
        bool listing; /* a resync lists the node now: the others list their own pod meanwhile */
};

struct listing_cache *listing_cache_new(int64_t max_age_ms)
{
        struct listing_cache *lc = OOM_CHECK(calloc(1, sizeof *lc));
        pthread_mutex_init(&lc->lock, NULL);
        lc->max_age_ms = max_age_ms;
        return lc;
}

struct listing_cache *listing_cache_free(struct listing_cache *lc)
{
        if (!lc)
                return NULL;
        pod_runtime_done(&lc->all);
        pthread_mutex_destroy(&lc->lock);
        free(lc);
        return NULL;
}

/* A deep copy of msg through its wire form (unpack owns what it returns). */
static ProtobufCMessage *copy_msg(const ProtobufCMessage *msg)
{
        size_t len = protobuf_c_message_get_packed_size(msg);
        _cleanup_free_ uint8_t *buf = OOM_CHECK(malloc(len ? len : 1));
        protobuf_c_message_pack(msg, buf);
        return OOM_CHECK(protobuf_c_message_unpack(msg->descriptor, NULL, len, buf));
}

void pod_runtime_subset(const struct pod_runtime *all, const char *uid, struct pod_runtime *rt)
{
        Runtime__V1__ListPodSandboxResponse sb = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;
        Runtime__V1__ListContainersResponse cs = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;
        size_t n_sb = all->sandboxes ? all->sandboxes->n_items : 0;
        size_t n_cs = all->containers ? all->containers->n_containers : 0;
        _cleanup_free_ Runtime__V1__PodSandbox **items = OOM_CHECK(calloc(n_sb + 1, sizeof *items));
        _cleanup_free_ Runtime__V1__Container **conts = OOM_CHECK(calloc(n_cs + 1, sizeof *conts));

        for (size_t i = 0; i < n_sb; i++) {
                Runtime__V1__PodSandbox *s = all->sandboxes->items[i];
                if (streq_ptr(KV_GET(s->labels, s->n_labels, LABEL_POD_UID), uid))
                        items[sb.n_items++] = s;
        }
        for (size_t i = 0; i < n_cs; i++) {
                Runtime__V1__Container *c = all->containers->containers[i];
                if (streq_ptr(KV_GET(c->labels, c->n_labels, LABEL_POD_UID), uid))
                        conts[cs.n_containers++] = c;
        }
        sb.items = items;
        cs.containers = conts;
        rt->sandboxes = (Runtime__V1__ListPodSandboxResponse *) copy_msg(&sb.base);
        rt->containers = (Runtime__V1__ListContainersResponse *) copy_msg(&cs.base);
}

bool listing_cache_get(struct listing_cache *lc, const char *uid, int64_t now_ms, struct pod_runtime *rt)
{
        bool ok = false;
        pthread_mutex_lock(&lc->lock);
        if (lc->all.sandboxes && now_ms >= lc->taken_ms) { /* else: a clock read before another's put */
                if (lc->gen == cri_generation() && now_ms - lc->taken_ms < lc->max_age_ms) {
                        pod_runtime_subset(&lc->all, uid, rt);
                        ok = true;
                } else
                        pod_runtime_done(&lc->all); /* no use any more: its memory goes now */
        }
        pthread_mutex_unlock(&lc->lock);
        return ok;
}

void listing_cache_put(struct listing_cache *lc, struct pod_runtime *all, uint64_t gen, int64_t now_ms)
{
        if (gen != cri_generation()) {
                pod_runtime_done(all);
                return;
        }
        pthread_mutex_lock(&lc->lock);
        pod_runtime_done(&lc->all);
        lc->all = *all;
        lc->gen = gen;
        lc->taken_ms = now_ms;
        pthread_mutex_unlock(&lc->lock);
        *all = (struct pod_runtime){0};
}

int list_pod_periodic(const struct sync_ctx *ctx, const char *uid, struct pod_runtime *rt,
                      struct cri_error *err)
{
        struct listing_cache *lc = ctx->listing_cache;
        if (!lc)
                return list_pod(ctx, uid, rt, err);
        int64_t t0 = now_mono_ms();
        if (listing_cache_get(lc, uid, t0, rt)) {
                runtime_exits_apply(ctx->exits, rt->containers);
                return 0;
        }
        /* One resync lists the node at a time; the others meanwhile list their own pod. */
        pthread_mutex_lock(&lc->lock);
        bool mine = !lc->listing;
        lc->listing = true;
        pthread_mutex_unlock(&lc->lock);
        if (!mine)
                return list_pod(ctx, uid, rt, err);

        Runtime__V1__ListPodSandboxRequest sreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        struct pod_runtime all = {0};
        uint64_t gen = cri_generation();
        struct cri_request reqs[] = {
                CRI_REQ(RuntimeService, ListPodSandbox, list_pod_sandbox, &sreq, &all.sandboxes),
                CRI_REQ(RuntimeService, ListContainers, list_containers, &creq, &all.containers),
        };
        int r = cri_call_many(ctx->cri, reqs, ELEMENTSOF(reqs), ctx->timeout_ms, err);
        if (r >= 0) {
                pod_runtime_subset(&all, uid, rt);
                runtime_exits_apply(ctx->exits, rt->containers);
                /* Its age counts from before the calls: nothing older than that is in it. */
                listing_cache_put(lc, &all, gen, t0);
        }
        pod_runtime_done(&all);
        pthread_mutex_lock(&lc->lock);
        lc->listing = false;
        pthread_mutex_unlock(&lc->lock);
        return r < 0 ? r : 0;
}
