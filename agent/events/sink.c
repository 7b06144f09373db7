/* The API sink of the event recorder: core/v1 Events POSTed (first time) or PATCHed (repeats) to the API
 * server, in order, rate-limited; they wait in the recorder's ring while the API server is away. */
#include "sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "client.h"
#include "events.h"
#include "log.h"
#include "status.h"
#include "util.h"

#define POLL_MS      500
#define BATCH_MAX    64
#define RETRY_MAX_MS 8000

struct event_sink {
        struct kube_client *kube;
        struct event_recorder *rec;
        char *node;
        int64_t timeout_ms;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
        uint64_t pos; /* the last sequence number sent (or given up on) */
};

struct batch {
        struct event ev[BATCH_MAX];
        size_t n;
        uint64_t newest;
};

char *event_api_name(const struct event *e)
{
        return strdup_printf("%s.%llx", e->name, (unsigned long long) e->first_ns);
}

json_t *event_to_api_json(const struct event *e, const char *node_name)
{
        char first[64], last[64];
        _cleanup_free_ char *name = event_api_name(e);
        format_rfc3339(e->first_ns, first, sizeof first);
        format_rfc3339(e->last_ns, last, sizeof last);
        json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "Pod", "apiVersion", "v1", "namespace",
                                e->ns, "name", e->name, "uid", e->uid ? e->uid : "");
        if (e->field_path)
                json_object_set_new(obj, "fieldPath", json_string(e->field_path));
        return json_pack(
                "{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:i, s:s, s:s}",
                "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", e->ns,
                "involvedObject", obj, "reason", e->reason, "message", e->message, "type", e->type, "source",
                "component", "kubelet", "host", node_name, "firstTimestamp", first, "lastTimestamp", last,
                "count", (int) e->count, "reportingComponent", "kubelet", "reportingInstance", node_name);
}

/* Called under the recorder's lock: copy, do not block. */
static void collect(const struct event *e, void *ud)
{
        struct batch *b = ud;
        if (b->n == BATCH_MAX)
                return;
        /* A later record of the same event supersedes an earlier copy in this batch. */
        for (size_t i = 0; i < b->n; i++)
                if (b->ev[i].first_ns == e->first_ns && streq(b->ev[i].name, e->name) &&
                    streq(b->ev[i].reason, e->reason) && streq(b->ev[i].message, e->message)) {
                        b->ev[i].count = e->count;
                        b->ev[i].last_ns = e->last_ns;
                        b->ev[i].seq = e->seq;
                        b->newest = e->seq;
                        return;
                }
        b->ev[b->n++] = (struct event){
                .ns = xstrdup(e->ns),
                .name = xstrdup(e->name),
                .uid = xstrdup(e->uid),
                .field_path = xstrdup(e->field_path),
                .type = e->type,
                .reason = xstrdup(e->reason),
                .message = xstrdup(e->message),
                .first_ns = e->first_ns,
                .last_ns = e->last_ns,
                .count = e->count,
                .seq = e->seq,
        };
        b->newest = e->seq;
}

static void batch_clear(struct batch *b)
{
        for (size_t i = 0; i < b->n; i++) {
                free(b->ev[i].ns);
                free(b->ev[i].name);
                free(b->ev[i].uid);
                free(b->ev[i].field_path);
                free(b->ev[i].reason);
                free(b->ev[i].message);
        }
        b->n = 0;
}

/* 0: written (or refused for good: logged, skipped); -EIO: the API server is away, try again later. */
static int send_one(struct event_sink *s, const struct event *e)
{
        _cleanup_free_ char *name = event_api_name(e);
        _cleanup_free_ char *coll = strdup_printf("/api/v1/namespaces/%s/events", e->ns);
        _cleanup_free_ char *path = strdup_printf("%s/%s", coll, name);
        struct kube_response resp;
        int r;

        if (e->count > 1) { /* a repeat: count and lastTimestamp move (upstream's PATCH) */
                char last[64];
                format_rfc3339(e->last_ns, last, sizeof last);
                json_t *patch = json_pack("{s:i, s:s, s:s}", "count", (int) e->count, "lastTimestamp", last,
                                          "message", e->message);
                r = kube_request(s->kube, "PATCH", path, patch, "application/strategic-merge-patch+json",
                                 s->timeout_ms, &resp);
                json_decref(patch);
                if (r < 0 || resp.status >= 500 || resp.status == 429) {
                        kube_response_clear(&resp);
                        return -EIO;
                }
                long st = resp.status;
                kube_response_clear(&resp);
                if (st == 200)
                        return 0;
                if (st != 404) {
                        log_warn("Event refused by the API server, dropping it",
                                 "event=\"%s\" err=\"HTTP %ld\"", name, st);
                        return 0;
                }
                /* never created (the API server was away): create it with its count */
        }
        json_t *obj = event_to_api_json(e, s->node);
        r = kube_request(s->kube, "POST", coll, obj, NULL, s->timeout_ms, &resp);
        json_decref(obj);
        if (r < 0 || resp.status >= 500 || resp.status == 429) {
                kube_response_clear(&resp);
                return -EIO;
        }
        if (resp.status != 201 && resp.status != 409)
                log_warn("Event refused by the API server, dropping it", "event=\"%s\" err=\"%s\"", name,
                         log_q(resp.error));
        kube_response_clear(&resp);
        return 0;
}

static void *sink_thread(void *arg)
{
        struct event_sink *s = arg;
        int64_t retry_ms = 0;
        bool away = false;

        pthread_mutex_lock(&s->lock);
        while (!s->stop) {
                cond_wait_ms(&s->cond, &s->lock, retry_ms ? retry_ms : POLL_MS);
                if (s->stop)
                        break;
                pthread_mutex_unlock(&s->lock);

                struct batch b = {.newest = s->pos};
                events_since(s->rec, s->pos, collect, &b);
                int r = 0;
                size_t sent = 0;
                for (; sent < b.n && r >= 0; sent++)
                        if ((r = send_one(s, &b.ev[sent])) < 0)
                                break;
                /* Resume before the oldest unsent record (an entry may carry a later, superseding seq). */
                uint64_t done = b.newest;
                for (size_t i = sent; i < b.n; i++)
                        done = MIN(done, b.ev[i].seq - 1);
                s->pos = done;
                if (r < 0) {
                        if (!away)
                                log_warn("Events wait for the API server", "node=\"%s\"", s->node);
                        away = true;
                        retry_ms = retry_ms ? MIN(retry_ms * 2, (int64_t) RETRY_MAX_MS) : 1000;
                } else {
                        if (away)
                                log_info("Events reach the API server again", "node=\"%s\"", s->node);
                        away = false;
                        retry_ms = b.n == BATCH_MAX ? 1 : 0;
                }
                batch_clear(&b);
                pthread_mutex_lock(&s->lock);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

int event_sink_start(struct kube_client *kube, struct event_recorder *rec, const char *node_name,
                     int64_t timeout_ms, struct event_sink **ret)
{
        struct event_sink *s = OOM_CHECK(calloc(1, sizeof *s));
        s->kube = kube;
        s->rec = rec;
        s->node = xstrdup(node_name);
        s->timeout_ms = timeout_ms;
        pthread_mutex_init(&s->lock, NULL);
        cond_init_monotonic(&s->cond);
        int r = pthread_create(&s->thread, NULL, sink_thread, s);
        if (r != 0) {
                pthread_mutex_destroy(&s->lock);
                pthread_cond_destroy(&s->cond);
                free(s->node);
                free(s);
                return -r;
        }
        *ret = s;
        return 0;
}

void event_sink_stop(struct event_sink *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s->node);
        free(s);
}
