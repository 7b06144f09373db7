/* Who is asking the node server, and may they: x509 client certificates, bearer tokens by TokenReview,
 * anonymous; SubjectAccessReview with upstream's attributes (nodes/{proxy,stats,log,metrics,spec}). */
#pragma once

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kube_client;

struct auth_user {
        char *name;
        char **groups; /* NULL-terminated; may be NULL */
};
void auth_user_clear(struct auth_user *u);
/* upstream's AuthenticatedGroupAdder: system:authenticated joins the groups of an authenticated user
 * (not system:anonymous, nor one already in system:authenticated or system:unauthenticated). */
void auth_user_add_authenticated(struct auth_user *u);

/* upstream's authenticator chain (x509, then bearer token; anonymous behind them, failing on error): the
 * first that authenticates wins; else an error of either (a certificate that does not verify, a token
 * refused or that could not be reviewed) refuses the request, never anonymous. x509 as auth_x509 returns;
 * token: 1 authenticated, 0 none presented, -EBUSY could not be reviewed in time, another -errno refused
 * or failed. */
enum auth_verdict {
        AUTH_AS_X509,
        AUTH_AS_TOKEN,
        AUTH_AS_ANONYMOUS,
        AUTH_UNAUTHORIZED, /* 401 */
        AUTH_UNAVAILABLE,  /* 503: try again */
};
enum auth_verdict auth_decide(int x509, int token, bool anonymous);

/* The verified peer certificate of a TLS session: CN is the user, each O a group, and system:authenticated,
 * as upstream. Returns 1 with *ret filled, 0 when the client sent none (or one without a common name, as
 * upstream), -EACCES when it does not verify against the trusted CAs (or is not for client
 * authentication). */
int auth_x509(gnutls_session_t session, struct auth_user *ret, char *why, size_t why_len);

/* TokenReview through the API server: 1 (authenticated, *ret filled, with system:authenticated), 0 (not),
 * or -errno (-EBUSY: the client's rate limit gave no turn in time). With a cache,
 * answers the API server gave (either way) are kept under the token's SHA-256, never the token itself;
 * failures to get one are not kept. */
struct auth_cache;
int auth_token_review(struct kube_client *kube, struct auth_cache *cache, const char *token,
                      struct auth_user *ret);

/* Upstream's request attributes: verb from the method, subresource from the path. */
const char *auth_verb(const char *method);
const char *auth_subresource(const char *path);

/* SubjectAccessReview for nodes/<subresource> named node: 1 allowed, 0 denied (reason filled), -errno on
 * failure. With a cache, answers are kept as long as the cache says. */
int auth_sar(struct kube_client *kube, struct auth_cache *cache, const struct auth_user *u, const char *verb,
             const char *subresource, const char *node, char *reason, size_t reason_len);

/* Webhook answers, bounded (max entries; when full the one nearest expiry goes) and thread-safe. A yes
 * (authenticated, allowed) is kept yes_ttl_ms, a no no_ttl_ms; a TTL <= 0 keeps none of that kind, as
 * upstream's 0 disables its cache. upstream's defaults: TokenReview 2 min both ways, SubjectAccessReview
 * 5 min allowed and 30 s denied. */
struct auth_cache *auth_cache_new(int64_t yes_ttl_ms, int64_t no_ttl_ms, size_t max);
struct auth_cache *auth_cache_free(struct auth_cache *c);
/* 1 or 0 as stored (a copy of its user into *ret_user and its reason, when asked for), or -ENOENT when
 * absent or expired at now_ms. */
int auth_cache_get(struct auth_cache *c, const char *key, int64_t now_ms, struct auth_user *ret_user,
                   char *reason, size_t reason_len);
/* Stores (or replaces) key's answer at now_ms; user and reason may be NULL. */
void auth_cache_put(struct auth_cache *c, const char *key, int64_t now_ms, bool yes,
                    const struct auth_user *user, const char *reason);
size_t auth_cache_size(struct auth_cache *c);
/* The cache key of a bearer token: its SHA-256 in hex. 0, or -EIO when GnuTLS cannot hash. */
int auth_token_key(const char *token, char ret[static 65]);
