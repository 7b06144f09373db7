/* The API sink of the event recorder: core/v1 Events POSTed (first time) or PATCHed (repeats) to the API
 * server, in order, rate-limited; they wait in the recorder's ring while the API server is away or says it
 * is overloaded (429, 503, 504: every event would get that). An event that the API server refuses with
 * another 5xx (a failing admission webhook, say) is set aside and retried on its own, at most 12 times
 * (upstream's maxTriesPerEvent; upstream drops any refused event at once), so that it never holds back the
 * events after it. */
#include "sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "events.h"
#include "log.h"
#include "status.h"
#include "util.h"

#define IDLE_MS      60000 /* a safety net: the recorder wakes the sink for each event (sink_notify) */
#define BATCH_MAX    64
#define RETRY_MAX_MS 8000
#define ASIDE_MAX    64 /* events set aside for retries; the oldest goes when more come */
#define MAX_TRIES    12 /* as upstream's maxTriesPerEvent */
#define ASIDE_MAX_MS 10000

/* An event the API server refused with 5xx/429: tried again on its own. */
struct aside {
        struct event ev;
        unsigned tries;
        int64_t next_ms; /* monotonic */
};

struct event_sink {
        struct kube_client *kube;
        struct event_recorder *rec;
        char *node;
        int64_t timeout_ms;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
        bool pending; /* under lock: events recorded since the sink last looked */
        uint64_t pos; /* the last sequence number sent, set aside, or given up on */
        struct aside aside[ASIDE_MAX];
        size_t n_aside;
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
        json_t *obj = json_pack("{s:s, s:s, s:s, s:s}", "kind", e->kind ? e->kind : "Pod", "apiVersion",
                                "v1", "name", e->name, "uid", e->uid ? e->uid : "");
        /* The Node is cluster-scoped: its events live in "default", its reference has no namespace. */
        if (!streq_ptr(e->kind, "Node"))
                json_object_set_new(obj, "namespace", json_string(e->ns));
        if (e->field_path)
                json_object_set_new(obj, "fieldPath", json_string(e->field_path));
        return json_pack(
                "{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:i, s:s, s:s}",
                "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", e->ns,
                "involvedObject", obj, "reason", e->reason, "message", e->message, "type", e->type, "source",
                "component", "kubelet", "host", node_name, "firstTimestamp", first, "lastTimestamp", last,
                "count", (int) e->count, "reportingComponent", "kubelet", "reportingInstance", node_name);
}

static void event_copy(struct event *to, const struct event *e)
{
        *to = (struct event){
                .ns = xstrdup(e->ns),
                .name = xstrdup(e->name),
                .uid = xstrdup(e->uid),
                .kind = e->kind,
                .field_path = xstrdup(e->field_path),
                .type = e->type,
                .reason = xstrdup(e->reason),
                .message = xstrdup(e->message),
                .first_ns = e->first_ns,
                .last_ns = e->last_ns,
                .count = e->count,
                .seq = e->seq,
        };
}

/* The same event (a later record of it counts up). */
static bool same_event(const struct event *a, const struct event *b)
{
        return a->first_ns == b->first_ns && streq(a->name, b->name) && streq(a->reason, b->reason) &&
               streq(a->message, b->message);
}

/* Called under the recorder's lock: copy, do not block. */
static void collect(const struct event *e, void *ud)
{
        struct batch *b = ud;
        if (b->n == BATCH_MAX)
                return;
        /* A later record of the same event supersedes an earlier copy in this batch. */
        for (size_t i = 0; i < b->n; i++)
                if (same_event(&b->ev[i], e)) {
                        b->ev[i].count = e->count;
                        b->ev[i].last_ns = e->last_ns;
                        b->ev[i].seq = e->seq;
                        b->newest = e->seq;
                        return;
                }
        event_copy(&b->ev[b->n++], e);
        b->newest = e->seq;
}

static void batch_clear(struct batch *b)
{
        for (size_t i = 0; i < b->n; i++)
                event_clear(&b->ev[i]);
        b->n = 0;
}

/* 0: written (or refused for good: logged, skipped); -EIO: the API server is away, try again later;
 * -EAGAIN: the API server answered 5xx or 429 for this event: try it again on its own. */
/* Why the API server refused an event for now, for the log. */
static void refused(char *why, size_t len, const struct kube_response *resp)
{
        snprintf(why, len, "HTTP %ld: %s", resp->status, resp->error);
}

/* The server is away or overloaded: every event would fare alike, so they all wait. */
static bool server_wide(int r, long status)
{
        return r < 0 || status == 429 || status == 503 || status == 504;
}

static int send_one(struct event_sink *s, const struct event *e, char *why, size_t why_len)
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
                        bool all = server_wide(r, resp.status);
                        refused(why, why_len, &resp);
                        kube_response_clear(&resp);
                        return all ? -EIO : -EAGAIN;
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
                bool all = server_wide(r, resp.status);
                refused(why, why_len, &resp);
                kube_response_clear(&resp);
                return all ? -EIO : -EAGAIN;
        }
        if (resp.status != 201 && resp.status != 409)
                log_warn("Event refused by the API server, dropping it", "event=\"%s\" err=\"%s\"", name,
                         log_q(resp.error));
        kube_response_clear(&resp);
        return 0;
}

/* 1 s after the first refusal, doubling, at most 10 s: 12 tries take a little over a minute. */
static int64_t aside_delay_ms(unsigned tries)
{
        int64_t d = (int64_t) 1000 << (tries > 5 ? 4 : tries - 1);
        return d > ASIDE_MAX_MS ? ASIDE_MAX_MS : d;
}

/* Keeps a refused event for a retry of its own: a later record of one already aside replaces it. */
static void set_aside(struct event_sink *s, const struct event *e, const char *why)
{
        struct aside *a = NULL;
        for (size_t i = 0; i < s->n_aside && !a; i++)
                if (same_event(&s->aside[i].ev, e))
                        a = &s->aside[i];
        if (!a && s->n_aside == ASIDE_MAX) {
                _cleanup_free_ char *old = event_api_name(&s->aside[0].ev);
                log_warn("Too many events refused by the API server, dropping the oldest", "event=\"%s\"",
                         old);
                event_clear(&s->aside[0].ev);
                memmove(&s->aside[0], &s->aside[1], (ASIDE_MAX - 1) * sizeof *s->aside);
                s->n_aside--;
        }
        if (a) {
                event_clear(&a->ev);
        } else {
                _cleanup_free_ char *name = event_api_name(e);
                log_warn("Event refused by the API server, will retry it on its own",
                         "event=\"%s\" err=\"%s\"", name, log_q(why));
                a = &s->aside[s->n_aside++];
                *a = (struct aside){0};
        }
        event_copy(&a->ev, e);
        a->tries++;
        a->next_ms = now_mono_ms() + aside_delay_ms(a->tries);
}

static void drop_aside(struct event_sink *s, size_t i)
{
        event_clear(&s->aside[i].ev);
        s->aside[i] = s->aside[--s->n_aside];
}

/* The events set aside whose time has come. -EIO when the API server went away meanwhile. */
static int retry_aside(struct event_sink *s)
{
        int64_t now = now_mono_ms();
        for (size_t i = 0; i < s->n_aside;) {
                struct aside *a = &s->aside[i];
                if (a->next_ms > now) {
                        i++;
                        continue;
                }
                char why[1200] = "";
                int r = send_one(s, &a->ev, why, sizeof why);
                if (r == -EIO)
                        return r;
                if (r == -EAGAIN && a->tries < MAX_TRIES) {
                        a->tries++;
                        a->next_ms = now + aside_delay_ms(a->tries);
                        i++;
                        continue;
                }
                if (r == -EAGAIN) {
                        _cleanup_free_ char *name = event_api_name(&a->ev);
                        log_warn("Unable to write event (retry limit exceeded), dropping it",
                                 "event=\"%s\" tries=%u err=\"%s\"", name, a->tries, log_q(why));
                }
                drop_aside(s, i);
        }
        return 0;
}

static int64_t next_aside_ms(const struct event_sink *s)
{
        int64_t next = INT64_MAX, now = now_mono_ms();
        for (size_t i = 0; i < s->n_aside; i++)
                next = MIN(next, s->aside[i].next_ms - now);
        return next < 1 ? 1 : next;
}

static void *sink_thread(void *arg)
{
        struct event_sink *s = arg;
        int64_t retry_ms = 0;
        bool away = false;

        pthread_mutex_lock(&s->lock);
        while (!s->stop) {
                int64_t wait = retry_ms ? retry_ms : IDLE_MS;
                if (!away && s->n_aside)
                        wait = MIN(wait, next_aside_ms(s));
                /* New events end the wait, except a back-off's (the API server away, or a full batch). */
                int64_t until = now_mono_ms() + wait, now;
                while (!s->stop && (retry_ms || !s->pending) && (now = now_mono_ms()) < until)
                        cond_wait_ms(&s->cond, &s->lock, until - now);
                if (s->stop)
                        break;
                s->pending = false;
                pthread_mutex_unlock(&s->lock);

                struct batch b = {.newest = s->pos};
                int r = retry_aside(s);
                size_t sent = 0;
                if (r >= 0) {
                        events_since(s->rec, s->pos, collect, &b);
                        for (; sent < b.n; sent++) {
                                char why[1200] = "";
                                r = send_one(s, &b.ev[sent], why, sizeof why);
                                if (r == -EIO)
                                        break;
                                /* A later record of an event set aside makes the one aside stale. */
                                for (size_t i = 0; i < s->n_aside; i++)
                                        if (same_event(&s->aside[i].ev, &b.ev[sent])) {
                                                if (r == 0)
                                                        drop_aside(s, i);
                                                break;
                                        }
                                if (r == -EAGAIN)
                                        set_aside(s, &b.ev[sent], why);
                        }
                }
                /* Resume before the oldest unsent record (an entry may carry a later, superseding seq). */
                uint64_t done = b.newest;
                for (size_t i = sent; i < b.n; i++)
                        done = MIN(done, b.ev[i].seq - 1);
                s->pos = done;
                if (r == -EIO) {
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
        for (size_t i = 0; i < s->n_aside; i++)
                event_clear(&s->aside[i].ev);
        s->n_aside = 0;
        return NULL;
}

static void sink_notify(void *ud)
{
        struct event_sink *s = ud;
        pthread_mutex_lock(&s->lock);
        s->pending = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

int event_sink_start(struct kube_client *kube, struct event_recorder *rec, const char *node_name,
                     int64_t timeout_ms, struct event_sink **ret)
{
        struct event_sink *s = OOM_CHECK(calloc(1, sizeof *s));
        s->pending = true; /* what was recorded before the start */
        s->kube = kube;
        s->rec = rec;
        s->node = xstrdup(node_name);
        s->timeout_ms = timeout_ms;
        pthread_mutex_init(&s->lock, NULL);
        cond_init_monotonic(&s->cond);
        /* Before the thread: an event recorded while it makes its first pass wakes it again. */
        events_set_notify(rec, sink_notify, s);
        int r = pthread_create(&s->thread, NULL, sink_thread, s);
        if (r != 0) {
                events_set_notify(rec, NULL, NULL);
                pthread_mutex_destroy(&s->lock);
                pthread_cond_destroy(&s->cond);
                free(s->node);
                free(s);
                return -r;
        }
        (void) pthread_setname_np(s->thread, "event-sink");
        *ret = s;
        return 0;
}

void event_sink_stop(struct event_sink *s)
{
        if (!s)
                return;
        events_set_notify(s->rec, NULL, NULL);
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
