/* RuntimeClasses (node.k8s.io/v1), listed and watched, so that a pod's runtimeClassName becomes the CRI
 * runtime handler of its sandbox (upstream's runtimeclass.Manager). Thread-safe. */
#pragma once

#include <stddef.h>

struct kube_client;
struct rc_cache;

int rc_cache_start(struct kube_client *kube, struct rc_cache **ret);
struct rc_cache *rc_cache_free(struct rc_cache *c);

/* The handler of RuntimeClass `name` (caller frees); "" for NULL or "" (the runtime's default). -ENOENT with
 * upstream's NotFound text in err when no such RuntimeClass is known, which is also the answer before the
 * first list has arrived (after a short wait for it), as upstream's lister gives. */
int rc_cache_handler(struct rc_cache *c, const char *name, char **ret, char *err, size_t errlen);
