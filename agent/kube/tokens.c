/* Service account tokens for projected volumes, through the TokenRequest API. */
#include "tokens.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "util.h"

struct token {
        char *key; /* ns/sa/audience/expiration/uid */
        char *pod_uid;
        char *value;
        int64_t issued_s, expires_s; /* wall clock */
};

struct token_cache {
        struct kube_client *kube;
        pthread_mutex_t lock;
        struct token *t;
        size_t n;
};

struct token_cache *token_cache_new(struct kube_client *kube)
{
        struct token_cache *c = OOM_CHECK(calloc(1, sizeof *c));
        c->kube = kube;
        pthread_mutex_init(&c->lock, NULL);
        return c;
}

static void token_clear(struct token *t)
{
        free(t->key);
        free(t->pod_uid);
        free(t->value);
}

struct token_cache *token_cache_free(struct token_cache *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++)
                token_clear(&c->t[i]);
        free(c->t);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

/* "2026-11-27T05:00:00Z" → seconds since the epoch. */
static int64_t parse_time(const char *s)
{
        struct tm tm = {0};
        if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm))
                return 0;
        return (int64_t) timegm(&tm);
}

/* Upstream's requiresRefresh: past 80 % of the life, or older than 24 h. */
static bool fresh(const struct token *t, int64_t now)
{
        int64_t life = t->expires_s - t->issued_s;
        return now < t->issued_s + life * 8 / 10 && now < t->issued_s + 24 * 3600;
}

int token_get(struct token_cache *c, const char *ns, const char *service_account, const char *audience,
              int64_t expiration_s, const char *pod_name, const char *pod_uid, int64_t timeout_ms,
              char **ret, char *err, size_t errlen)
{
        _cleanup_free_ char *key =
                strdup_printf("%s/%s/%s/%lld/%s", ns, service_account, audience ? audience : "",
                              (long long) expiration_s, pod_uid);
        int64_t now = (int64_t) time(NULL);

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n; i++)
                if (streq(c->t[i].key, key) && fresh(&c->t[i], now)) {
                        *ret = xstrdup(c->t[i].value);
                        pthread_mutex_unlock(&c->lock);
                        return 0;
                }
        pthread_mutex_unlock(&c->lock);

        json_t *spec = json_pack("{s:I, s:{s:s, s:s, s:s, s:s}}", "expirationSeconds",
                                 (json_int_t) expiration_s, "boundObjectRef", "kind", "Pod", "apiVersion",
                                 "v1", "name", pod_name, "uid", pod_uid);
        if (audience && *audience)
                json_object_set_new(spec, "audiences", json_pack("[s]", audience));
        json_t *body = json_pack("{s:s, s:s, s:o}", "apiVersion", "authentication.k8s.io/v1", "kind",
                                 "TokenRequest", "spec", spec);
        _cleanup_free_ char *path =
                strdup_printf("/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, service_account);
        struct kube_response resp;
        int r = kube_request(c->kube, "POST", path, body, NULL, timeout_ms, &resp);
        json_decref(body);
        json_t *st = json_object_get(resp.body, "status");
        const char *tok = json_string_value(json_object_get(st, "token"));
        if (r < 0 || (resp.status != 201 && resp.status != 200) || !tok) {
                snprintf(err, errlen, "failed to fetch token: %.400s",
                         resp.error[0] ? resp.error : "no token in the answer");
                kube_response_clear(&resp);
                return r < 0 ? r : -EIO;
        }
        struct token t = {.key = TAKE_PTR(key),
                          .pod_uid = xstrdup(pod_uid),
                          .value = xstrdup(tok),
                          .issued_s = now,
                          .expires_s =
                                  parse_time(json_string_value(json_object_get(st, "expirationTimestamp")))};
        if (t.expires_s <= now)
                t.expires_s = now + expiration_s;
        kube_response_clear(&resp);
        *ret = xstrdup(t.value);

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n; i++)
                if (streq(c->t[i].key, t.key)) {
                        token_clear(&c->t[i]);
                        c->t[i] = c->t[--c->n];
                        break;
                }
        c->t = OOM_CHECK(realloc(c->t, (c->n + 1) * sizeof *c->t));
        c->t[c->n++] = t;
        pthread_mutex_unlock(&c->lock);
        return 0;
}

void token_forget_pod(struct token_cache *c, const char *pod_uid)
{
        pthread_mutex_lock(&c->lock);
        for (size_t i = c->n; i-- > 0;)
                if (streq(c->t[i].pod_uid, pod_uid)) {
                        token_clear(&c->t[i]);
                        c->t[i] = c->t[--c->n];
                }
        pthread_mutex_unlock(&c->lock);
}
