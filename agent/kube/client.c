/* The Kubernetes API client: requests with TLS and credentials from a kubeconfig, a client-side rate limit
 * (kubeAPIQPS/kubeAPIBurst), and list+watch streams that reconnect on their own. */
#include "client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define MAX_BODY_BYTES     (64u << 20) /* a PodList of a full node is a few MiB */
#define MAX_LINE_BYTES     (16u << 20) /* one watch event */
#define POOL_MAX_IDLE      4
#define CONNECT_TIMEOUT_MS 5000
#define LIST_TIMEOUT_MS    60000
#define WATCH_BACKOFF_MIN  800
#define WATCH_BACKOFF_MAX  10000

struct kube_client {
        struct kube_auth auth;
        pthread_mutex_t lock; /* pool and rate limit */
        CURL *idle[POOL_MAX_IDLE];
        int n_idle;
        double qps, tokens, burst;
        int64_t refill_ms;
        int64_t max_wait_ms; /* > 0: a request that would wait longer for the rate limit is refused */
        char user_agent[64];
        /* The client certificate can be swapped (TLS bootstrap, rotation): guarded by lock. */
        char *pending;          /* non-NULL: no credentials yet, why (requests fail, watches wait) */
        atomic_uint generation; /* bumped at each swap: older connections are dropped */
        pthread_cond_t creds;   /* signalled when credentials arrive or a watch stops */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
        (void) curl_global_init(CURL_GLOBAL_ALL);
}

static char *dup_mem(const char *p, size_t n)
{
        if (!p)
                return NULL;
        char *d = OOM_CHECK(malloc(n + 1));
        memcpy(d, p, n);
        d[n] = 0;
        return d;
}

int kube_client_new(const struct kube_auth *auth, double qps, int burst, struct kube_client **ret)
{
        pthread_once(&curl_once, curl_init_once);
        struct kube_client *c = OOM_CHECK(calloc(1, sizeof *c));
        c->auth = (struct kube_auth){
                .server = xstrdup(auth->server),
                .ca_file = xstrdup(auth->ca_file),
                .ca_data = dup_mem(auth->ca_data, auth->ca_data_len),
                .ca_data_len = auth->ca_data_len,
                .cert_file = xstrdup(auth->cert_file),
                .cert_data = dup_mem(auth->cert_data, auth->cert_data_len),
                .cert_data_len = auth->cert_data_len,
                .key_file = xstrdup(auth->key_file),
                .key_data = dup_mem(auth->key_data, auth->key_data_len),
                .key_data_len = auth->key_data_len,
                .token = xstrdup(auth->token),
                .token_file = xstrdup(auth->token_file),
                .insecure = auth->insecure,
                .context = xstrdup(auth->context),
        };
        pthread_mutex_init(&c->lock, NULL);
        cond_init_monotonic(&c->creds);
        c->qps = qps;
        c->burst = burst < 1 ? 1 : burst;
        c->tokens = c->burst;
        c->refill_ms = now_mono_ms();
        snprintf(c->user_agent, sizeof c->user_agent, "cubelet/%s (linux)", CUBELET_VERSION);
        *ret = c;
        return 0;
}

struct kube_client *kube_client_free(struct kube_client *c)
{
        if (!c)
                return NULL;
        for (int i = 0; i < c->n_idle; i++)
                curl_easy_cleanup(c->idle[i]);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->creds);
        kube_auth_wipe(&c->auth);
        free(c->pending);
        free(c);
        return NULL;
}

void kube_client_set_pending(struct kube_client *c, const char *why)
{
        pthread_mutex_lock(&c->lock);
        free(c->pending);
        c->pending = xstrdup(why ? why : "no client credentials yet");
        pthread_mutex_unlock(&c->lock);
}

static void secret_free(char *p, size_t n)
{
        if (p)
                explicit_bzero(p, n);
        free(p);
}

void kube_client_set_cert(struct kube_client *c, const char *cert_pem, size_t cert_len, const char *key_pem,
                          size_t key_len)
{
        CURL *old[POOL_MAX_IDLE];
        int n_old;
        char *cert = dup_mem(cert_pem, cert_len), *key = dup_mem(key_pem, key_len);

        pthread_mutex_lock(&c->lock);
        secret_free(c->auth.cert_data, c->auth.cert_data_len);
        secret_free(c->auth.key_data, c->auth.key_data_len);
        c->auth.cert_data = cert;
        c->auth.cert_data_len = cert_len;
        c->auth.key_data = key;
        c->auth.key_data_len = key_len;
        free(c->auth.cert_file);
        free(c->auth.key_file);
        c->auth.cert_file = c->auth.key_file = NULL;
        free(c->pending);
        c->pending = NULL;
        atomic_fetch_add(&c->generation, 1);
        /* Idle connections were made with the old certificate: new requests make new ones. */
        n_old = c->n_idle;
        memcpy(old, c->idle, sizeof old);
        c->n_idle = 0;
        pthread_cond_broadcast(&c->creds);
        pthread_mutex_unlock(&c->lock);
        for (int i = 0; i < n_old; i++)
                curl_easy_cleanup(old[i]);
}

/* Lock-free: a watch's progress callback asks it many times a second. */
static unsigned client_generation(struct kube_client *c)
{
        return atomic_load(&c->generation);
}

const char *kube_client_server(const struct kube_client *c)
{
        return c->auth.server;
}

void kube_response_clear(struct kube_response *r)
{
        json_decref(r->body);
        r->body = NULL;
}

/* Token bucket: a request takes a token, waiting for it when the bucket is empty (client-go's
 * flowcontrol: qps refill, burst size). The reservation is taken under the lock; the wait is not. Returns
 * how long the caller must wait, in ms. */
static int64_t rate_reserve_max(struct kube_client *c, bool bounded)
{
        if (c->qps <= 0)
                return 0;
        pthread_mutex_lock(&c->lock);
        int64_t now = now_mono_ms();
        c->tokens = MIN(c->burst, c->tokens + (double) (now - c->refill_ms) * c->qps / 1000.0);
        c->refill_ms = now;
        double wait_ms = c->tokens < 1 ? (1 - c->tokens) * 1000.0 / c->qps : 0;
        bool take = !bounded || c->max_wait_ms <= 0 || wait_ms <= (double) c->max_wait_ms;
        if (take)
                c->tokens -= 1;
        pthread_mutex_unlock(&c->lock);
        return take ? (int64_t) wait_ms : -EBUSY;
}

static int64_t rate_reserve(struct kube_client *c)
{
        return rate_reserve_max(c, false);
}

/* 0 after the wait, or -EBUSY (nothing reserved) when the client's bound would be exceeded. */
static int rate_wait(struct kube_client *c)
{
        int64_t wait_ms = rate_reserve_max(c, true);
        if (wait_ms < 0)
                return (int) wait_ms;
        if (wait_ms > 0) {
                struct timespec ts = {.tv_sec = (time_t) (wait_ms / 1000),
                                      .tv_nsec = (long) (wait_ms % 1000) * 1000000L};
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
        }
        return 0;
}

void kube_client_set_max_wait(struct kube_client *c, int64_t max_wait_ms)
{
        pthread_mutex_lock(&c->lock);
        c->max_wait_ms = max_wait_ms;
        pthread_mutex_unlock(&c->lock);
}

static CURL *handle_get(struct kube_client *c, unsigned *ret_gen)
{
        CURL *h = NULL;
        pthread_mutex_lock(&c->lock);
        if (c->n_idle > 0)
                h = c->idle[--c->n_idle];
        *ret_gen = atomic_load(&c->generation);
        pthread_mutex_unlock(&c->lock);
        if (h)
                curl_easy_reset(h); /* keeps the connection and the TLS session */
        else
                h = OOM_CHECK(curl_easy_init());
        return h;
}

static void handle_put(struct kube_client *c, CURL *h, unsigned gen)
{
        pthread_mutex_lock(&c->lock);
        if (c->n_idle < POOL_MAX_IDLE && gen == atomic_load(&c->generation)) {
                c->idle[c->n_idle++] = h;
                h = NULL;
        }
        pthread_mutex_unlock(&c->lock);
        if (h)
                curl_easy_cleanup(h);
}

/* Options every request shares: TLS, credentials, HTTP/2 where offered, no proxies, no signals. */
static struct curl_slist *handle_setup(struct kube_client *c, CURL *h, const char *url, char *errbuf)
{
        struct kube_auth *a = &c->auth;
        struct curl_slist *hl = NULL;

        (void) curl_easy_setopt(h, CURLOPT_URL, url);
        (void) curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        (void) curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
        (void) curl_easy_setopt(h, CURLOPT_PROXY, "");
        (void) curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
        (void) curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) CONNECT_TIMEOUT_MS);
        (void) curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        (void) curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
        (void) curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
        (void) curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
        (void) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
        if (a->insecure) {
                (void) curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                (void) curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (a->ca_data) {
                struct curl_blob b = {.data = a->ca_data, .len = a->ca_data_len, .flags = CURL_BLOB_NOCOPY};
                (void) curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
        } else if (a->ca_file)
                (void) curl_easy_setopt(h, CURLOPT_CAINFO, a->ca_file);
        /* The certificate, key and token may be swapped meanwhile: set (curl copies) under the lock. */
        pthread_mutex_lock(&c->lock);
        if (a->cert_data) {
                struct curl_blob b = {
                        .data = a->cert_data, .len = a->cert_data_len, .flags = CURL_BLOB_COPY};
                (void) curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
                (void) curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        } else if (a->cert_file)
                (void) curl_easy_setopt(h, CURLOPT_SSLCERT, a->cert_file);
        if (a->key_data) {
                struct curl_blob b = {.data = a->key_data, .len = a->key_data_len, .flags = CURL_BLOB_COPY};
                (void) curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
                (void) curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        } else if (a->key_file)
                (void) curl_easy_setopt(h, CURLOPT_SSLKEY, a->key_file);
        _cleanup_free_ char *token = xstrdup(a->token);
        pthread_mutex_unlock(&c->lock);
        hl = curl_slist_append(hl, "Accept: application/json");
        if (token) {
                _cleanup_free_ char *auth = strdup_printf("Authorization: Bearer %s", token);
                hl = curl_slist_append(hl, auth);
        }
        return hl;
}

struct buf {
        char *data;
        size_t len, cap;
        bool too_big;
};

static size_t buf_write(char *data, size_t size, size_t nmemb, void *ud)
{
        struct buf *b = ud;
        size_t n = size * nmemb;
        if (b->len + n > MAX_BODY_BYTES) {
                b->too_big = true;
                return 0;
        }
        if (b->len + n + 1 > b->cap) {
                b->cap = MAX(b->cap * 2, b->len + n + 1);
                b->data = OOM_CHECK(realloc(b->data, b->cap));
        }
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = 0;
        return n;
}

/* The message of a Status object ("pods \"x\" not found"), or the raw text. */
static void status_message(const struct buf *b, json_t *body, long code, char *out, size_t len)
{
        const char *msg = json_string_value(json_object_get(body, "message"));
        if (msg)
                snprintf(out, len, "%s (HTTP %ld)", msg, code);
        else
                snprintf(out, len, "HTTP %ld: %.200s", code, b->data ? b->data : "");
}

static int abort_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
        return atomic_load((atomic_bool *) ud) ? 1 : 0;
}

/* abort (may be NULL): a flag that ends the transfer early (a watch being stopped). The caller has
 * already waited for the rate limit when skip_rate is set. */
static int request(struct kube_client *c, const char *method, const char *path, json_t *body,
                   const char *content_type, int64_t timeout_ms, atomic_bool *abort, bool skip_rate,
                   struct kube_response *ret)
{
        char errbuf[CURL_ERROR_SIZE] = "";
        struct buf resp = {0};
        _cleanup_free_ char *url = strdup_printf("%s%s", c->auth.server, path);
        _cleanup_free_ char *payload = NULL, *ct = NULL;
        *ret = (struct kube_response){0};

        if (!skip_rate && rate_wait(c) < 0) {
                snprintf(ret->error, sizeof ret->error, "%s %s: no turn of the client rate limit in time",
                         method, path);
                return -EBUSY;
        }
        pthread_mutex_lock(&c->lock);
        if (c->pending) {
                snprintf(ret->error, sizeof ret->error, "%s %s: %s", method, path, c->pending);
                pthread_mutex_unlock(&c->lock);
                return -EAGAIN;
        }
        pthread_mutex_unlock(&c->lock);
        unsigned gen;
        CURL *h = handle_get(c, &gen);
        struct curl_slist *hl = handle_setup(c, h, url, errbuf);
        (void) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (streq(method, "HEAD"))
                (void) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        if (body) {
                payload = json_dumps(body, JSON_COMPACT);
                if (!payload) {
                        curl_slist_free_all(hl);
                        handle_put(c, h, gen);
                        snprintf(ret->error, sizeof ret->error, "cannot encode the request body");
                        return -EINVAL;
                }
                ct = strdup_printf("Content-Type: %s", content_type ? content_type : "application/json");
                hl = curl_slist_append(hl, ct);
                (void) curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
                (void) curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) strlen(payload));
        }
        (void) curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        (void) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
        (void) curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
        (void) curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        if (abort) {
                (void) curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
                (void) curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_progress);
                (void) curl_easy_setopt(h, CURLOPT_XFERINFODATA, abort);
        }

        CURLcode cc = curl_easy_perform(h);
        int r = 0;
        if (cc != CURLE_OK) {
                snprintf(ret->error, sizeof ret->error, "%s %s: %s", method, path,
                         resp.too_big ? "response too large"
                         : errbuf[0]  ? errbuf
                                      : curl_easy_strerror(cc));
                r = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
        } else {
                (void) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
                if (resp.len > 0)
                        ret->body = json_loadb(resp.data, resp.len, 0, NULL);
                if (ret->status < 200 || ret->status > 299)
                        status_message(&resp, ret->body, ret->status, ret->error, sizeof ret->error);
        }
        curl_slist_free_all(hl);
        /* A failed transfer may have left the connection in a bad state: start afresh next time. */
        if (cc != CURLE_OK)
                curl_easy_cleanup(h);
        else
                handle_put(c, h, gen);
        free(resp.data);
        return r;
}

/* A 401 with a tokenFile: the token may have been rotated (projected tokens are); read it again. Returns
 * true when it changed. client-go re-reads it about every minute; once per 401 does as well. */
static bool reread_token(struct kube_client *c)
{
        _cleanup_free_ char *t = NULL;
        if (!c->auth.token_file || read_file_limit(c->auth.token_file, 64 << 10, &t, NULL) < 0)
                return false;
        size_t n = strlen(t);
        while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t'))
                t[--n] = 0;
        pthread_mutex_lock(&c->lock);
        bool changed = !streq_ptr(t, c->auth.token);
        if (changed) {
                free(c->auth.token);
                c->auth.token = TAKE_PTR(t);
        }
        pthread_mutex_unlock(&c->lock);
        return changed;
}

int kube_request(struct kube_client *c, const char *method, const char *path, json_t *body,
                 const char *content_type, int64_t timeout_ms, struct kube_response *ret)
{
        int r = request(c, method, path, body, content_type, timeout_ms, NULL, false, ret);
        if (r >= 0 && ret->status == 401 && reread_token(c)) {
                kube_response_clear(ret);
                r = request(c, method, path, body, content_type, timeout_ms, NULL, false, ret);
        }
        return r;
}

char *kube_query_escape(const char *s)
{
        size_t n = strlen(s);
        char *out = OOM_CHECK(malloc(n * 3 + 1)), *o = out;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '_' || *p == '.' || *p == '~')
                        *o++ = (char) *p;
                else
                        o += sprintf(o, "%%%02X", *p);
        }
        *o = 0;
        return out;
}

char *kube_field_selector(const char *field, const char *value)
{
        _cleanup_free_ char *sel = strdup_printf("%s=%s", field, value);
        _cleanup_free_ char *esc = kube_query_escape(sel);
        return strdup_printf("fieldSelector=%s", esc);
}

/* ---- list + watch ---------------------------------------------------------------------------------- */

int kube_watch_decode(const char *line, size_t len, json_t **ret_event, const char **ret_type,
                      json_t **ret_obj, char **ret_err)
{
        json_error_t je;
        json_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
        if (!ev) {
                *ret_err = strdup_printf("watch event: line %d, column %d: %s", je.line, je.column, je.text);
                return -EINVAL;
        }
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_t *obj = json_object_get(ev, "object");
        if (!type || !json_is_object(obj)) {
                json_decref(ev);
                *ret_err = xstrdup("watch event: needs a string \"type\" and an object \"object\"");
                return -EINVAL;
        }
        if (!streq(type, "ADDED") && !streq(type, "MODIFIED") && !streq(type, "DELETED") &&
            !streq(type, "BOOKMARK") && !streq(type, "ERROR")) {
                *ret_err = strdup_printf("watch event: unknown type \"%.40s\"", type);
                json_decref(ev);
                return -EINVAL;
        }
        *ret_event = ev;
        *ret_type = type;
        *ret_obj = obj;
        return 0;
}

struct kube_watch {
        struct kube_client *c;
        char *path, *query;
        struct kube_watch_ops ops;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        atomic_bool stop;
        /* stream state, watch thread only */
        char *rv;
        struct buf line;
        bool gone;             /* 410: the resourceVersion is too old */
        char error_event[512]; /* another ERROR event: the stream ends, back off */
        bool got_event;
        long http_status;
        unsigned seed;
        unsigned generation; /* the client's credentials this stream was opened with */
        bool swapped;        /* the stream was ended for new credentials: reconnect at once */
};

static void watch_sleep(struct kube_watch *w, int64_t ms)
{
        pthread_mutex_lock(&w->lock);
        int64_t until = now_mono_ms() + ms;
        while (!atomic_load(&w->stop) && now_mono_ms() < until)
                cond_wait_ms(&w->cond, &w->lock, until - now_mono_ms());
        pthread_mutex_unlock(&w->lock);
}

/* The rate limit, waited for in a way kube_watch_stop can interrupt. */
static void watch_rate_wait(struct kube_watch *w)
{
        int64_t ms = rate_reserve(w->c);
        if (ms > 0)
                watch_sleep(w, ms);
}

static void set_rv(struct kube_watch *w, json_t *obj)
{
        const char *rv =
                json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
        if (rv && *rv) {
                free(w->rv);
                w->rv = xstrdup(rv);
        }
}

/* GET the whole collection (in pages of 500), hand it over, remember its resourceVersion. */
static int watch_list(struct kube_watch *w, char *err, size_t errlen)
{
        _cleanup_free_ char *cont = NULL;
        json_t *items = json_array();
        int r = 0;

        do {
                _cleanup_free_ char *esc = cont ? kube_query_escape(cont) : NULL;
                _cleanup_free_ char *p =
                        strdup_printf("%s?limit=500%s%s%s%s", w->path, w->query ? "&" : "",
                                      w->query ? w->query : "", esc ? "&continue=" : "", esc ? esc : "");
                struct kube_response resp;
                watch_rate_wait(w);
                if (atomic_load(&w->stop)) {
                        r = -ECANCELED;
                        break;
                }
                r = request(w->c, "GET", p, NULL, NULL, LIST_TIMEOUT_MS, &w->stop, true, &resp);
                if (r >= 0 && resp.status != 200) {
                        r = resp.status == 410 ? -ESTALE : -EIO;
                } else if (r >= 0 && !json_is_array(json_object_get(resp.body, "items"))) {
                        /* A 200 that is not a list (a proxy's page, a cut body) must not empty the set. */
                        snprintf(resp.error, sizeof resp.error, "the answer is not a list");
                        r = -EIO;
                }
                if (r < 0) {
                        snprintf(err, errlen, "list %s: %.900s", w->path, resp.error);
                        kube_response_clear(&resp);
                        break;
                }
                json_t *meta = json_object_get(resp.body, "metadata");
                json_array_extend(items, json_object_get(resp.body, "items"));
                free(cont);
                cont = xstrdup(json_string_value(json_object_get(meta, "continue")));
                if (cont && !*cont) {
                        free(cont);
                        cont = NULL;
                }
                set_rv(w, resp.body);
                kube_response_clear(&resp);
        } while (cont && !atomic_load(&w->stop));
        if (r >= 0 && !atomic_load(&w->stop))
                w->ops.on_list(w->ops.userdata, items);
        json_decref(items);
        return r;
}

static void watch_line(struct kube_watch *w, const char *line, size_t len)
{
        json_t *ev, *obj;
        const char *type;
        _cleanup_free_ char *err = NULL;

        if (len == 0)
                return;
        if (kube_watch_decode(line, len, &ev, &type, &obj, &err) < 0) {
                log_warn("Ignoring a watch event", "path=\"%s\" err=\"%s\"", w->path, log_q(err));
                return;
        }
        if (streq(type, "ERROR")) {
                long code = (long) json_integer_value(json_object_get(obj, "code"));
                if (code == 410)
                        w->gone = true;
                else {
                        snprintf(w->error_event, sizeof w->error_event,
                                 "watch %s: error event: %s (code %ld)", w->path,
                                 json_string_value(json_object_get(obj, "message")) ?: "", code);
                }
        } else {
                set_rv(w, obj);
                w->got_event = true;
                if (!streq(type, "BOOKMARK"))
                        w->ops.on_event(w->ops.userdata, type, obj);
        }
        json_decref(ev);
}

static size_t watch_write(char *data, size_t size, size_t nmemb, void *ud)
{
        struct kube_watch *w = ud;
        size_t n = size * nmemb;
        if (atomic_load(&w->stop))
                return 0;
        if (w->line.len + n > MAX_LINE_BYTES) {
                w->line.too_big = true;
                return 0;
        }
        if (buf_write(data, 1, n, &w->line) != n)
                return 0;
        if (w->http_status != 200)
                return n; /* an error body: kept whole for the message */
        char *start = w->line.data, *nl;
        while ((nl = memchr(start, '\n', w->line.len - (size_t) (start - w->line.data)))) {
                watch_line(w, start, (size_t) (nl - start));
                start = nl + 1;
                if (w->gone)
                        return 0;
        }
        size_t rest = w->line.len - (size_t) (start - w->line.data);
        memmove(w->line.data, start, rest);
        w->line.len = rest;
        w->line.data[rest] = 0;
        return n;
}

static size_t watch_header(char *data, size_t size, size_t nmemb, void *ud)
{
        struct kube_watch *w = ud;
        size_t n = size * nmemb;
        unsigned code;
        /* Status lines: the last one wins (a 100 Continue may come first). */
        if (n > 5 && memcmp(data, "HTTP/", 5) == 0 && sscanf(data, "HTTP/%*s %u", &code) == 1)
                w->http_status = code;
        return n;
}

static int watch_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
        struct kube_watch *w = ud;
        if (atomic_load(&w->stop))
                return 1;
        /* New credentials (a rotated certificate): the stream reconnects with them, as upstream closes
         * every connection of the old one. */
        if (client_generation(w->c) != w->generation) {
                w->swapped = true;
                return 1;
        }
        return 0;
}

/* Until the client has credentials (TLS bootstrap), a watch waits instead of failing. */
static void watch_wait_credentials(struct kube_watch *w)
{
        struct kube_client *c = w->c;
        pthread_mutex_lock(&c->lock);
        while (c->pending && !atomic_load(&w->stop))
                pthread_cond_wait(&c->creds, &c->lock);
        pthread_mutex_unlock(&c->lock);
}

/* One watch request from w->rv until the server ends it. 0: ended normally (re-watch); -ESTALE: relist;
 * other: failed (back off). */
static int watch_once(struct kube_watch *w, char *err, size_t errlen)
{
        char errbuf[CURL_ERROR_SIZE] = "";
        /* Spread the reconnects of many nodes (client-go: 5-10 minutes). */
        int timeout_s = 300 + (int) (rand_r(&w->seed) % 300);
        _cleanup_free_ char *rv = kube_query_escape(w->rv ? w->rv : "");
        _cleanup_free_ char *url = strdup_printf(
                "%s%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s%s%s",
                w->c->auth.server, w->path, timeout_s, rv, w->query ? "&" : "", w->query ? w->query : "");

        watch_rate_wait(w);
        if (atomic_load(&w->stop))
                return 0;
        w->generation = client_generation(w->c);
        w->swapped = false;
        CURL *h = OOM_CHECK(curl_easy_init());
        struct curl_slist *hl = handle_setup(w->c, h, url, errbuf);
        (void) curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        (void) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) (timeout_s + 60) * 1000L);
        (void) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL); /* line by line, as it comes */
        (void) curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_write);
        (void) curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
        (void) curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, watch_header);
        (void) curl_easy_setopt(h, CURLOPT_HEADERDATA, w);
        (void) curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        (void) curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch_progress);
        (void) curl_easy_setopt(h, CURLOPT_XFERINFODATA, w);
        w->line.len = 0;
        w->line.too_big = false;
        w->gone = false;
        w->got_event = false;
        w->http_status = 0;
        w->error_event[0] = 0;

        int64_t started = now_mono_ms();
        CURLcode cc = curl_easy_perform(h);
        int r = 0;
        if (w->swapped) {
                log_v(2, "Watch reconnects with new client credentials", "path=\"%s\"", w->path);
                w->got_event = true; /* not a failure: no back-off */
        } else if (w->gone || w->http_status == 410)
                r = -ESTALE;
        else if (w->error_event[0]) {
                snprintf(err, errlen, "%s", w->error_event);
                r = -EIO;
        } else if (w->http_status != 0 && w->http_status != 200) {
                if (w->http_status == 401)
                        (void) reread_token(w->c);
                json_t *body = w->line.data ? json_loadb(w->line.data, w->line.len, 0, NULL) : NULL;
                status_message(&w->line, body, w->http_status, err, errlen);
                json_decref(body);
                r = -EIO;
        } else if (cc != CURLE_OK && !atomic_load(&w->stop)) {
                snprintf(err, errlen, "watch %s: %s", w->path,
                         w->line.too_big ? "event too large"
                         : errbuf[0]     ? errbuf
                                         : curl_easy_strerror(cc));
                r = -EIO;
        }
        if (r == 0 && cc == CURLE_OK && !w->got_event && now_mono_ms() - started < 1000) {
                /* Closed at once with nothing in it (client-go: "very short watch"): back off. */
                snprintf(err, errlen, "watch %s: closed after %lld ms without events", w->path,
                         (long long) (now_mono_ms() - started));
                r = -EIO;
        }
        curl_slist_free_all(hl);
        curl_easy_cleanup(h);
        return r;
}

static void *watch_thread(void *arg)
{
        struct kube_watch *w = arg;
        int64_t backoff = 0;
        bool listed = false, down = false;
        char err[1024];

        w->seed = (unsigned) now_real_ns() ^ (unsigned) (uintptr_t) w;
        while (!atomic_load(&w->stop)) {
                err[0] = 0;
                watch_wait_credentials(w);
                if (atomic_load(&w->stop))
                        break;
                int r = listed ? watch_once(w, err, sizeof err) : watch_list(w, err, sizeof err);
                if (atomic_load(&w->stop))
                        break;
                if (r == -ESTALE) {
                        log_v(2, "Watch expired, listing again", "path=\"%s\"", w->path);
                        listed = false;
                        continue;
                }
                if (r < 0) {
                        if (!down && w->ops.on_state)
                                w->ops.on_state(w->ops.userdata, err);
                        down = true;
                        backoff =
                                backoff ? MIN(backoff * 2, (int64_t) WATCH_BACKOFF_MAX) : WATCH_BACKOFF_MIN;
                        /* Jitter: between 75 % and 125 % of the step. */
                        int64_t jittered =
                                backoff * 3 / 4 + (int64_t) (rand_r(&w->seed) % (backoff / 2 + 1));
                        watch_sleep(w, jittered);
                        continue;
                }
                if (!listed || w->got_event) {
                        if (down && w->ops.on_state)
                                w->ops.on_state(w->ops.userdata, NULL);
                        down = false;
                        backoff = 0;
                }
                listed = true;
        }
        return NULL;
}

int kube_watch_start(struct kube_client *c, const char *path, const char *query,
                     const struct kube_watch_ops *ops, struct kube_watch **ret)
{
        struct kube_watch *w = OOM_CHECK(calloc(1, sizeof *w));
        w->c = c;
        w->path = xstrdup(path);
        w->query = query && *query ? xstrdup(query) : NULL;
        w->ops = *ops;
        pthread_mutex_init(&w->lock, NULL);
        cond_init_monotonic(&w->cond);
        int r = pthread_create(&w->thread, NULL, watch_thread, w);
        if (r == 0)
                pthread_setname_np(w->thread, "kube-watch"); /* countable in /proc/<pid>/task */
        if (r != 0) {
                pthread_mutex_destroy(&w->lock);
                pthread_cond_destroy(&w->cond);
                free(w->path);
                free(w->query);
                free(w);
                return -r;
        }
        *ret = w;
        return 0;
}

void kube_watch_stop(struct kube_watch *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        atomic_store(&w->stop, true);
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_lock(&w->c->lock); /* a watch waiting for credentials */
        pthread_cond_broadcast(&w->c->creds);
        pthread_mutex_unlock(&w->c->lock);
        pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w->line.data);
        free(w->rv);
        free(w->path);
        free(w->query);
        free(w);
}
