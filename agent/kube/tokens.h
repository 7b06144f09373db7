/* Service account tokens for projected volumes, through the TokenRequest API (bound to the pod), cached
 * and refreshed as upstream does: when 80 % of their life has passed, or after 24 h. Thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct kube_client;
struct token_cache;

struct token_cache *token_cache_new(struct kube_client *kube);
struct token_cache *token_cache_free(struct token_cache *c);

/* A token for ns/service_account, audience (NULL or "": the API server's), expiration_s, bound to the
 * pod. Returns 0 with *ret (caller frees), or -errno with err. */
int token_get(struct token_cache *c, const char *ns, const char *service_account, const char *audience,
              int64_t expiration_s, const char *pod_name, const char *pod_uid, int64_t timeout_ms,
              char **ret, char *err, size_t errlen);

/* Forget the tokens bound to a pod that is gone. */
void token_forget_pod(struct token_cache *c, const char *pod_uid);
