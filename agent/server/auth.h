/* Who is asking the node server, and may they: x509 client certificates, bearer tokens by TokenReview,
 * anonymous; SubjectAccessReview with upstream's attributes (nodes/{proxy,stats,log,metrics,spec}). */
#pragma once

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>

struct kube_client;

struct auth_user {
        char *name;
        char **groups; /* NULL-terminated; may be NULL */
};
void auth_user_clear(struct auth_user *u);

/* The verified peer certificate of a TLS session: CN is the user, each O a group, as upstream. Returns 1
 * with *ret filled, 0 when the client sent none, -EACCES when it does not verify against the trusted CAs
 * (or is not for client authentication). */
int auth_x509(gnutls_session_t session, struct auth_user *ret, char *why, size_t why_len);

/* TokenReview through the API server: 1 (authenticated, *ret filled), 0 (not), or -errno. */
int auth_token_review(struct kube_client *kube, const char *token, struct auth_user *ret);

/* Upstream's request attributes: verb from the method, subresource from the path. */
const char *auth_verb(const char *method);
const char *auth_subresource(const char *path);

/* SubjectAccessReview for nodes/<subresource> named node: 1 allowed, 0 denied (reason filled), -errno on
 * failure. Answers are cached (allowed 5 min, denied 30 s, as upstream's webhook defaults). */
struct auth_cache;
struct auth_cache *auth_cache_new(void);
struct auth_cache *auth_cache_free(struct auth_cache *c);
int auth_sar(struct kube_client *kube, struct auth_cache *cache, const struct auth_user *u, const char *verb,
             const char *subresource, const char *node, char *reason, size_t reason_len);
