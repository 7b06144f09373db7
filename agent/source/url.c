/* The manifest URL source: GET staticPodURL with libcurl on a thread of its own, decode the Pod or PodList
 * with the file source's decoder, and hand podconfig the set. Upstream's semantics (config/http.go): one
 * read at most 10 s and 10 MiB, only 200 counts, an unchanged body changes nothing, a failed read keeps
 * the last good pods. */
#include "url.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "manifest.h"
#include "podconfig.h"
#include "util.h"

#define URL_MAX_BYTES     (10u << 20) /* upstream's maxConfigLength; reaching it is an error */
#define URL_TIMEOUT_MS    10000       /* upstream's http.Client Timeout */
#define URL_MAX_REDIRECTS 10          /* Go's default CheckRedirect */

struct url_source {
        char *url, *node;
        char *url_log; /* the URL without its password, for logs and messages */
        int64_t period_ms, timeout_ms;
        struct podconfig *pc;
        void (*first_set)(void *userdata);
        void *userdata;

        CURL *curl;
        struct curl_slist *headers;
        char errbuf[CURL_ERROR_SIZE];
        pthread_t thread;
        pthread_mutex_t lock; /* stop, with cond */
        pthread_cond_t cond;
        atomic_bool stop;

        /* Owned by the thread. */
        bool spoke;
        char *data; /* the last body decoded (upstream's s.data), and what it gave */
        size_t data_len;
        char *data_error, *data_error_key;
        char *logged_key; /* the failure logged last (NULL after a good read): each reason is logged once */
};

struct body {
        char *buf;
        size_t len, cap;
        bool over; /* URL_MAX_BYTES reached */
};

/* A failed read: what to log, and a key that stays the same while the reason does (curl's messages carry
 * timings, so they differ from one read to the next). */
struct failure {
        char *msg, *key;
};

static void failure_clear(struct failure *f)
{
        free(f->msg);
        free(f->key);
        *f = (struct failure){0};
}

static void fail(struct failure *f, char *key, char *msg)
{
        failure_clear(f);
        f->key = key;
        f->msg = msg;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
        (void) curl_global_init(CURL_GLOBAL_ALL);
}

static size_t body_write(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct body *b = userdata;
        size_t n = size * nmemb;
        if (b->len + n >= URL_MAX_BYTES) {
                b->over = true;
                return 0; /* aborts the transfer */
        }
        if (b->len + n + 1 > b->cap) {
                b->cap = MAX(b->cap * 2, b->len + n + 1);
                b->buf = OOM_CHECK(realloc(b->buf, b->cap));
        }
        memcpy(b->buf + b->len, data, n);
        b->len += n;
        b->buf[b->len] = 0;
        return n;
}

static int progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
        struct url_source *s = userdata;
        return atomic_load(&s->stop) ? 1 : 0;
}

/* Go's http.StatusText for what a manifest server may answer; resp.Status is "<code> <text>". */
static const char *status_text(long code)
{
        static const struct {
                long code;
                const char *text;
        } t[] = {{201, "Created"},
                 {202, "Accepted"},
                 {204, "No Content"},
                 {206, "Partial Content"},
                 {300, "Multiple Choices"},
                 {301, "Moved Permanently"},
                 {302, "Found"},
                 {303, "See Other"},
                 {304, "Not Modified"},
                 {307, "Temporary Redirect"},
                 {308, "Permanent Redirect"},
                 {400, "Bad Request"},
                 {401, "Unauthorized"},
                 {403, "Forbidden"},
                 {404, "Not Found"},
                 {405, "Method Not Allowed"},
                 {406, "Not Acceptable"},
                 {407, "Proxy Authentication Required"},
                 {408, "Request Timeout"},
                 {410, "Gone"},
                 {429, "Too Many Requests"},
                 {500, "Internal Server Error"},
                 {501, "Not Implemented"},
                 {502, "Bad Gateway"},
                 {503, "Service Unavailable"},
                 {504, "Gateway Timeout"}};
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                if (t[i].code == code)
                        return t[i].text;
        return "";
}

/* The request headers as Go's http.Header would send them: canonical names, Host left out (Go's client
 * takes the host from the URL and ignores a Host header). */
static struct curl_slist *headers_build(char *const *headers, bool *ret_encoding)
{
        struct curl_slist *l = NULL;
        *ret_encoding = false;
        for (char *const *kv = headers; kv && *kv; kv++) {
                const char *colon = strchr(*kv, ':');
                char name[256];
                if (!colon || (size_t) (colon - *kv) >= sizeof name)
                        continue;
                memcpy(name, *kv, (size_t) (colon - *kv));
                name[colon - *kv] = 0;
                http_header_name_canonical(name, name, sizeof name);
                if (streq(name, "Host"))
                        continue;
                if (streq(name, "Accept-Encoding"))
                        *ret_encoding = true;
                /* "Name;" is curl's way of sending a header with an empty value. */
                _cleanup_free_ char *line =
                        colon[1] ? strdup_printf("%s: %s", name, colon + 1) : strdup_printf("%s;", name);
                l = OOM_CHECK(curl_slist_append(l, line));
        }
        return l;
}

static int curl_setup(struct url_source *s, char *const *headers)
{
        bool custom_encoding;
        s->curl = curl_easy_init();
        if (!s->curl)
                return -ENOMEM;
        s->headers = headers_build(headers, &custom_encoding);
        CURL *c = s->curl;
        (void) curl_easy_setopt(c, CURLOPT_URL, s->url);
        (void) curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
        (void) curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
        (void) curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        (void) curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        (void) curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        (void) curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long) URL_MAX_REDIRECTS);
        (void) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) s->timeout_ms);
        /* Go asks for gzip and unpacks it itself, unless the caller asked for an encoding. */
        if (!custom_encoding)
                (void) curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
        _cleanup_free_ char *ua = strdup_printf("cubelet/%s", CUBELET_VERSION);
        (void) curl_easy_setopt(c, CURLOPT_USERAGENT, ua); /* copied by curl; a User-Agent header wins */
        (void) curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
        (void) curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        (void) curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
        (void) curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
        return 0;
}

/* One GET. 0 with the body of a 200; -ECANCELED when stopping; else -EIO with *f filled. */
static int fetch(struct url_source *s, struct body *b, struct failure *f)
{
        long code = 0;
        s->errbuf[0] = 0;
        (void) curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, b);
        CURLcode rc = curl_easy_perform(s->curl);
        if (atomic_load(&s->stop))
                return -ECANCELED;
        if (b->over) {
                fail(f, xstrdup("limit"),
                     strdup_printf("%s: the read limit is reached (%u MiB)", s->url_log,
                                   URL_MAX_BYTES >> 20));
                return -EIO;
        }
        if (rc != CURLE_OK) {
                fail(f, strdup_printf("curl:%d", (int) rc),
                     strdup_printf("Get \"%s\": %s", s->url_log,
                                   s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc)));
                return -EIO;
        }
        (void) curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200) {
                fail(f, strdup_printf("status:%ld", code),
                     strdup_printf("%s: %ld %s", s->url_log, code, status_text(code)));
                return -EIO;
        }
        return 0;
}

static void set_pods(struct url_source *s, struct pod **pods, size_t n)
{
        podconfig_set(s->pc, POD_SOURCE_HTTP, pods, n);
        if (!s->spoke && s->first_set)
                s->first_set(s->userdata);
        s->spoke = true;
}

static void remember(struct url_source *s, struct body *b, const struct failure *f)
{
        free(s->data);
        free(s->data_error);
        free(s->data_error_key);
        s->data = TAKE_PTR(b->buf);
        s->data_len = b->len;
        s->data_error = xstrdup(f->msg);
        s->data_error_key = xstrdup(f->key);
}

/* What a body of a 200 means: a new set, nothing new, or an error that keeps the last good pods. */
static void apply(struct url_source *s, struct body *b, struct failure *f)
{
        if (b->len == 0) {
                /* Upstream sends an empty set (so the source counts as seen) and reports an error. It
                 * keeps its old copy of the body, so the same document coming back would change nothing
                 * and its pods would stay gone; here the copy goes too, so it is read again. */
                set_pods(s, NULL, 0);
                free(s->data);
                s->data = NULL;
                s->data_len = 0;
                fail(f, xstrdup("empty"), strdup_printf("zero-length data received from %s", s->url_log));
                return;
        }
        if (s->data && b->len == s->data_len && memcmp(b->buf, s->data, b->len) == 0) {
                if (s->data_error)
                        fail(f, xstrdup(s->data_error_key), xstrdup(s->data_error));
                return;
        }

        struct manifest_result mr = {0};
        manifest_decode_url(s->url, b->buf, b->len, s->node, &mr);
        if (mr.warnings)
                log_warn("Pods from the manifest URL have problems that do not stop them",
                         "url=\"%s\" warnings=\"%s\"", s->url_log, log_q(mr.warnings));
        if (mr.error)
                fail(f, strdup_printf("decode:%s", mr.error), strdup_printf("%s: %s", s->url_log, mr.error));
        else
                set_pods(s, mr.pods, mr.n_pods);
        remember(s, b, f);
        manifest_result_clear(&mr);
}

/* Each reason once at warning (upstream warns three times, then drops to V(4)); its return at info. */
static void report(struct url_source *s, const struct failure *f)
{
        if (f->key && !streq_ptr(f->key, s->logged_key)) {
                log_warn("Failed to read pods from URL", "url=\"%s\" err=\"%s\"", s->url_log, log_q(f->msg));
                free(s->logged_key);
                s->logged_key = xstrdup(f->key);
        } else if (f->key)
                log_v(4, "Failed to read pods from URL", "url=\"%s\" err=\"%s\"", s->url_log, log_q(f->msg));
        else if (s->logged_key) {
                log_info("Successfully read pods from URL", "url=\"%s\"", s->url_log);
                free(s->logged_key);
                s->logged_key = NULL;
        }
}

static void read_once(struct url_source *s)
{
        struct body b = {0};
        struct failure f = {0};
        int r = fetch(s, &b, &f);
        if (r == -ECANCELED) {
                free(b.buf);
                return;
        }
        if (r >= 0)
                apply(s, &b, &f);
        report(s, &f);
        failure_clear(&f);
        free(b.buf);
}

static void *url_thread(void *arg)
{
        struct url_source *s = arg;
        while (!atomic_load(&s->stop)) {
                read_once(s);
                /* As upstream's wait.Until: the period starts when a read ends. */
                int64_t until = now_mono_ms() + s->period_ms;
                pthread_mutex_lock(&s->lock);
                for (int64_t now; !atomic_load(&s->stop) && (now = now_mono_ms()) < until;)
                        cond_wait_ms(&s->cond, &s->lock, until - now);
                pthread_mutex_unlock(&s->lock);
        }
        return NULL;
}

static void url_source_free(struct url_source *s)
{
        if (s->curl)
                curl_easy_cleanup(s->curl);
        curl_slist_free_all(s->headers);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s->url);
        free(s->url_log);
        free(s->node);
        free(s->data);
        free(s->data_error);
        free(s->data_error_key);
        free(s->logged_key);
        free(s);
}

int url_source_start(const struct url_source_config *cfg, struct url_source **ret)
{
        pthread_once(&curl_once, curl_init_once);
        struct url_source *s = OOM_CHECK(calloc(1, sizeof *s));
        s->url = xstrdup(cfg->url);
        s->url_log = url_redacted(cfg->url);
        s->node = xstrdup(cfg->node_name);
        s->period_ms = cfg->period_ms > 0 ? cfg->period_ms : 20000;
        s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : URL_TIMEOUT_MS;
        s->pc = cfg->pc;
        s->first_set = cfg->first_set;
        s->userdata = cfg->userdata;
        pthread_mutex_init(&s->lock, NULL);
        cond_init_monotonic(&s->cond);
        int r = curl_setup(s, cfg->headers);
        if (r < 0) {
                url_source_free(s);
                return r;
        }
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old); /* signals are the loop's */
        r = pthread_create(&s->thread, NULL, url_thread, s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                url_source_free(s);
                return -r;
        }
        (void) pthread_setname_np(s->thread, "manifest-url");
        *ret = s;
        return 0;
}

void url_source_stop(struct url_source *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->stop, true);
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
        url_source_free(s);
}
