/* The whole node's runtime listing (every sandbox and container) shared by periodic resyncs: on an idle
 * node, each pod's resync asked the runtime for its own sandboxes and containers (two calls per pod and
 * minute, most of an idle node's CPU); now the first resync in a while lists the node and the others take
 * their part of that listing, as long as nothing changed since (cri_generation(): no runtime event and no
 * call of cubelet's that changes the runtime) and it is younger than the cache's age limit. Syncs for a
 * reason (an update, a runtime event, a retry) always ask the runtime. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kuberuntime.h"

struct listing_cache;

struct listing_cache *listing_cache_new(int64_t max_age_ms);
struct listing_cache *listing_cache_free(struct listing_cache *lc);

/* uid's sandboxes and containers (copies, the caller's to free with pod_runtime_done) from the cached
 * listing when it is still good at now_ms; false when there is none to use. */
bool listing_cache_get(struct listing_cache *lc, const char *uid, int64_t now_ms, struct pod_runtime *rt);
/* Keeps a whole-node listing (taken over) that was taken at now_ms with cri_generation() == gen throughout;
 * frees it when that is no longer so. */
void listing_cache_put(struct listing_cache *lc, struct pod_runtime *all, uint64_t gen, int64_t now_ms);

/* uid's part of a whole-node listing, copied (pure; for tests too). */
void pod_runtime_subset(const struct pod_runtime *all, const char *uid, struct pod_runtime *rt);

/* What a periodic resync lists: uid's part of a shared whole-node listing (taken now when there is none
 * to use), or uid's own listing without a cache. */
int list_pod_periodic(const struct sync_ctx *ctx, const char *uid, struct pod_runtime *rt,
                      struct cri_error *err);
