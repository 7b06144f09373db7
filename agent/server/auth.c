/* Authentication and authorization of node server requests. */
#include "auth.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "macro.h"
#include "util.h"

void auth_user_clear(struct auth_user *u)
{
        free(u->name);
        strv_free(u->groups);
        *u = (struct auth_user){0};
}

static void auth_user_copy(const struct auth_user *u, struct auth_user *ret)
{
        *ret = (struct auth_user){.name = xstrdup(u->name)};
        for (char **g = u->groups; g && *g; g++)
                strv_push(&ret->groups, xstrdup(*g));
}

static char *dn_part(gnutls_x509_crt_t crt, const char *oid, unsigned idx)
{
        char buf[1024];
        size_t len = sizeof buf;
        if (gnutls_x509_crt_get_dn_by_oid(crt, oid, idx, 0, buf, &len) < 0)
                return NULL;
        return strndup(buf, len);
}

int auth_x509(gnutls_session_t session, struct auth_user *ret, char *why, size_t why_len)
{
        unsigned n = 0, status = 0;
        const gnutls_datum_t *certs = gnutls_certificate_get_peers(session, &n);
        if (!certs || n == 0)
                return 0;
        /* The chain must lead to a trusted CA and the leaf must be for client authentication. */
        gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                         .data = (unsigned char *) GNUTLS_KP_TLS_WWW_CLIENT};
        int r = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
        if (r < 0 || status != 0) {
                gnutls_datum_t txt = {0};
                if (r >= 0 &&
                    gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0) >= 0) {
                        snprintf(why, why_len, "%s", txt.data);
                        gnutls_free(txt.data);
                } else
                        snprintf(why, why_len, "%s", gnutls_strerror(r));
                return -EACCES;
        }
        gnutls_x509_crt_t crt;
        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
                gnutls_x509_crt_deinit(crt);
                snprintf(why, why_len, "cannot decode the client certificate");
                return -EACCES;
        }
        struct auth_user u = {.name = dn_part(crt, GNUTLS_OID_X520_COMMON_NAME, 0)};
        for (unsigned i = 0;; i++) {
                char *o = dn_part(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i);
                if (!o)
                        break;
                strv_push(&u.groups, o);
        }
        gnutls_x509_crt_deinit(crt);
        if (!u.name || !u.name[0]) { /* upstream's CommonNameUserConversion: no user, no error */
                auth_user_clear(&u);
                snprintf(why, why_len, "the client certificate has no common name");
                return 0;
        }
        auth_user_add_authenticated(&u);
        *ret = u;
        return 1;
}

void auth_user_add_authenticated(struct auth_user *u)
{
        if (!u->name || streq(u->name, "system:anonymous"))
                return;
        for (char **g = u->groups; g && *g; g++)
                if (streq(*g, "system:authenticated") || streq(*g, "system:unauthenticated"))
                        return;
        strv_push(&u->groups, xstrdup("system:authenticated"));
}

enum auth_verdict auth_decide(int x509, int token, bool anonymous)
{
        if (x509 > 0)
                return AUTH_AS_X509;
        if (token > 0)
                return AUTH_AS_TOKEN;
        if (token == -EBUSY)
                return AUTH_UNAVAILABLE;
        if (x509 < 0 || token < 0)
                return AUTH_UNAUTHORIZED;
        return anonymous ? AUTH_AS_ANONYMOUS : AUTH_UNAUTHORIZED;
}

static void user_from_json(json_t *user, struct auth_user *ret)
{
        size_t i;
        json_t *g;
        ret->name = xstrdup(json_string_value(json_object_get(user, "username")));
        json_array_foreach(json_object_get(user, "groups"), i, g) if (json_is_string(g))
                strv_push(&ret->groups, xstrdup(json_string_value(g)));
        auth_user_add_authenticated(ret);
}

int auth_token_key(const char *token, char ret[static 65])
{
        unsigned char d[32];
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), d) < 0)
                return -EIO;
        for (size_t i = 0; i < sizeof d; i++)
                snprintf(ret + 2 * i, 3, "%02x", d[i]);
        return 0;
}

int auth_token_review(struct kube_client *kube, struct auth_cache *cache, const char *token,
                      struct auth_user *ret)
{
        char key[65];
        bool cacheable = cache && auth_token_key(token, key) >= 0;
        if (cacheable) {
                int r = auth_cache_get(cache, key, now_mono_ms(), ret, NULL, 0);
                if (r >= 0)
                        return r;
        }
        struct kube_response resp = {0};
        json_t *body = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "authentication.k8s.io/v1", "kind",
                                 "TokenReview", "spec", "token", token);
        if (!body) /* not UTF-8: no token the API server issued */
                return 0;
        int r = kube_request(kube, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", body, NULL, 10000,
                             &resp);
        json_decref(body);
        if (r < 0)
                return r;
        if (resp.status != 201 && resp.status != 200) {
                kube_response_clear(&resp);
                return -EIO;
        }
        json_t *st = json_object_get(resp.body, "status");
        struct auth_user u = {0};
        r = json_is_true(json_object_get(st, "authenticated")) ? 1 : 0;
        if (r == 1) {
                user_from_json(json_object_get(st, "user"), &u);
                if (!u.name || !u.name[0])
                        auth_user_clear(&u), r = 0;
        }
        kube_response_clear(&resp);
        if (cacheable)
                auth_cache_put(cache, key, now_mono_ms(), r == 1, &u, NULL);
        if (r == 1)
                *ret = u;
        return r;
}

const char *auth_verb(const char *method)
{
        return streq(method, "POST")     ? "create"
               : streq(method, "PUT")    ? "update"
               : streq(method, "PATCH")  ? "patch"
               : streq(method, "DELETE") ? "delete"
                                         : "get";
}

static bool is_subpath(const char *path, const char *prefix)
{
        size_t n = strlen(prefix);
        return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '/');
}

const char *auth_subresource(const char *path)
{
        return is_subpath(path, "/stats")     ? "stats"
               : is_subpath(path, "/metrics") ? "metrics"
               : is_subpath(path, "/logs")    ? "log"
               : is_subpath(path, "/spec")    ? "spec"
                                              : "proxy";
}

struct cache_entry {
        char *key;
        bool yes;
        int64_t expires_ms;
        struct auth_user user;
        char reason[256];
};

struct auth_cache {
        pthread_mutex_t lock;
        int64_t yes_ttl_ms, no_ttl_ms;
        size_t max, n;
        struct cache_entry *e;
};

struct auth_cache *auth_cache_new(int64_t yes_ttl_ms, int64_t no_ttl_ms, size_t max)
{
        struct auth_cache *c = OOM_CHECK(calloc(1, sizeof *c));
        pthread_mutex_init(&c->lock, NULL);
        c->yes_ttl_ms = yes_ttl_ms;
        c->no_ttl_ms = no_ttl_ms;
        c->max = max ? max : 1;
        c->e = OOM_CHECK(calloc(c->max, sizeof *c->e));
        return c;
}

static void entry_clear(struct cache_entry *e)
{
        free(e->key);
        auth_user_clear(&e->user);
        *e = (struct cache_entry){0};
}

struct auth_cache *auth_cache_free(struct auth_cache *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++)
                entry_clear(&c->e[i]);
        free(c->e);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

int auth_cache_get(struct auth_cache *c, const char *key, int64_t now_ms, struct auth_user *ret_user,
                   char *reason, size_t reason_len)
{
        int r = -ENOENT;
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n; i++) {
                struct cache_entry *e = &c->e[i];
                if (!streq(e->key, key) || e->expires_ms <= now_ms)
                        continue;
                r = e->yes;
                if (ret_user && e->user.name)
                        auth_user_copy(&e->user, ret_user);
                if (reason && reason_len)
                        snprintf(reason, reason_len, "%s", e->reason);
                break;
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

void auth_cache_put(struct auth_cache *c, const char *key, int64_t now_ms, bool yes,
                    const struct auth_user *user, const char *reason)
{
        int64_t ttl = yes ? c->yes_ttl_ms : c->no_ttl_ms;
        if (ttl <= 0)
                return;
        pthread_mutex_lock(&c->lock);
        /* The key's own entry, else a free or expired one, else (full) the one nearest its expiry. */
        size_t slot = c->n, oldest = 0;
        for (size_t i = 0; i < c->n; i++) {
                if (streq(c->e[i].key, key)) {
                        slot = i;
                        break;
                }
                if (c->e[i].expires_ms <= now_ms && slot == c->n)
                        slot = i;
                if (c->e[i].expires_ms < c->e[oldest].expires_ms)
                        oldest = i;
        }
        if (slot == c->max)
                slot = oldest;
        if (slot == c->n)
                c->n++;
        else
                entry_clear(&c->e[slot]);
        struct cache_entry *e = &c->e[slot];
        e->key = xstrdup(key);
        e->yes = yes;
        e->expires_ms = now_ms + ttl;
        if (user && user->name)
                auth_user_copy(user, &e->user);
        snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
        pthread_mutex_unlock(&c->lock);
}

size_t auth_cache_size(struct auth_cache *c)
{
        pthread_mutex_lock(&c->lock);
        size_t n = c->n;
        pthread_mutex_unlock(&c->lock);
        return n;
}

int auth_sar(struct kube_client *kube, struct auth_cache *cache, const struct auth_user *u, const char *verb,
             const char *subresource, const char *node, char *reason, size_t reason_len)
{
        json_t *groups = json_array();
        for (char **g = u->groups; g && *g; g++)
                json_array_append_new(groups, json_string(*g));
        _cleanup_free_ char *gs = json_dumps(groups, JSON_COMPACT);
        _cleanup_free_ char *key =
                strdup_printf("%s\n%s\n%s\n%s\n%s", u->name, gs ? gs : "", verb, subresource, node);
        reason[0] = 0;
        int r = cache ? auth_cache_get(cache, key, now_mono_ms(), NULL, reason, reason_len) : -ENOENT;
        if (r >= 0) {
                json_decref(groups);
                return r;
        }
        json_t *body = json_pack("{s:s, s:s, s:{s:s, s:o, s:{s:s, s:s, s:s, s:s, s:s}}}", "apiVersion",
                                 "authorization.k8s.io/v1", "kind", "SubjectAccessReview", "spec", "user",
                                 u->name, "groups", groups, "resourceAttributes", "verb", verb, "version",
                                 "v1", "resource", "nodes", "subresource", subresource, "name", node);
        struct kube_response resp = {0};
        r = kube_request(kube, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body, NULL,
                         10000, &resp);
        json_decref(body);
        if (r < 0) {
                snprintf(reason, reason_len, "%s", resp.error);
                return r;
        }
        if (resp.status != 201 && resp.status != 200) {
                snprintf(reason, reason_len, "%s", resp.error);
                kube_response_clear(&resp);
                return -EIO;
        }
        json_t *st = json_object_get(resp.body, "status");
        bool allowed = json_is_true(json_object_get(st, "allowed"));
        const char *why = json_string_value(json_object_get(st, "reason"));
        snprintf(reason, reason_len, "%s", why ? why : "");
        kube_response_clear(&resp);
        if (cache)
                auth_cache_put(cache, key, now_mono_ms(), allowed, NULL, reason);
        return allowed;
}
