/* The Secrets and ConfigMaps that pods on this node reference, read through the API server: kept fresh by
 * a watch per object (as upstream's watch-based manager; the Node authorizer allows exactly these) for at
 * most OBJ_CACHE_MAX_WATCHES of them, the others read by GET when asked for and kept OBJ_CACHE_POLL_TTL_MS
 * (upstream's TTL cache), so that a pod naming thousands does not start thousands of threads. Thread-safe. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define OBJ_CACHE_MAX_WATCHES 32
#define OBJ_CACHE_POLL_TTL_MS 60000

struct kube_client;
struct pod;
struct obj_cache;

struct obj_cache *obj_cache_new(struct kube_client *kube);
struct obj_cache *obj_cache_free(struct obj_cache *c);

/* The pod's references (volumes, env, envFrom, imagePullSecrets) start being watched; a changed pod
 * replaces its earlier references. Watches whose last pod went away stop. */
void obj_cache_register_pod(struct obj_cache *c, const struct pod *pod);
void obj_cache_unregister_pod(struct obj_cache *c, const char *uid);

/* fn(userdata, uid) for each pod referencing an object whose contents changed after its first answer, so
 * that volumes holding it are refreshed at once. Called on a watch thread, without the cache's lock. */
void obj_cache_set_on_change(struct obj_cache *c, void (*fn)(void *userdata, const char *uid),
                             void *userdata);

/* The object ("secrets" or "configmaps") as last seen, waiting up to timeout_ms for the first answer.
 * Returns 0 with a new reference, -ENOENT when it does not exist, or another -errno with err filled
 * (forbidden, API server unreachable). */
int obj_cache_get(struct obj_cache *c, const char *resource, const char *ns, const char *name,
                  int64_t timeout_ms, json_t **ret, char *err, size_t errlen);

/* The names a pod references, as "secrets/name" / "configmaps/name" (pure; caller frees the strv). */
char **pod_object_refs(const struct pod *pod);
