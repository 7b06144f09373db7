/* The event recorder: aggregated, logged, kept in a bounded ring. */
#include "events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

struct event_recorder {
        pthread_mutex_t lock;
        struct event *ring;
        size_t cap, n, head; /* head: index of the oldest */
        uint64_t seq;
        char *node;
        /* Upstream's spam filter: a token bucket per involved object for new events. */
        double qps;
        unsigned burst;
        struct bucket {
                char *uid;
                double tokens;
                int64_t refilled_ms;
        } * buckets;
        size_t n_buckets;
        uint64_t dropped;
        void (*notify)(void *ud);
        void *notify_ud;
};

#define MAX_BUCKETS 4096

struct event_recorder *events_new(size_t capacity, double qps, unsigned burst, const char *node)
{
        struct event_recorder *r = OOM_CHECK(calloc(1, sizeof *r));
        pthread_mutex_init(&r->lock, NULL);
        r->cap = capacity ? capacity : 1;
        r->ring = OOM_CHECK(calloc(r->cap, sizeof *r->ring));
        r->qps = qps;
        r->burst = burst ? burst : 1;
        r->node = xstrdup(node ? node : "");
        return r;
}

static bool take_token(struct event_recorder *r, const char *uid)
{
        int64_t now = now_mono_ms();
        struct bucket *b = NULL, *oldest = NULL;
        for (size_t i = 0; i < r->n_buckets && !b; i++) {
                if (streq(r->buckets[i].uid, uid))
                        b = &r->buckets[i];
                else if (!oldest || r->buckets[i].refilled_ms < oldest->refilled_ms)
                        oldest = &r->buckets[i];
        }
        if (!b) {
                if (r->n_buckets < MAX_BUCKETS) {
                        r->buckets = OOM_CHECK(realloc(r->buckets, (r->n_buckets + 1) * sizeof *r->buckets));
                        b = &r->buckets[r->n_buckets++];
                } else { /* the table is full: the longest idle object starts afresh */
                        b = oldest;
                        free(b->uid);
                }
                *b = (struct bucket){.uid = xstrdup(uid), .tokens = r->burst, .refilled_ms = now};
        }
        b->tokens = MIN(b->tokens + (double) (now - b->refilled_ms) * r->qps / 1000.0, (double) r->burst);
        b->refilled_ms = now;
        if (b->tokens < 1.0)
                return false;
        b->tokens -= 1.0;
        return true;
}

void event_clear(struct event *e)
{
        free(e->ns);
        free(e->name);
        free(e->uid);
        free(e->field_path);
        free(e->reason);
        free(e->message);
        *e = (struct event){0};
}

struct event_recorder *events_free(struct event_recorder *r)
{
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->cap; i++)
                event_clear(&r->ring[i]);
        free(r->ring);
        free(r->node);
        for (size_t i = 0; i < r->n_buckets; i++)
                free(r->buckets[i].uid);
        free(r->buckets);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF), or 0. */
static size_t utf8_seq_len(const unsigned char *s)
{
        unsigned char c = s[0];
        if (c < 0x80)
                return 1;
        size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        /* The second byte's range is narrower after E0 (overlong), ED (surrogates), F0 and F4. */
        unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
        unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        if (n == 0 || s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (s[i] < 0x80 || s[i] > 0xbf)
                        return 0;
        return n;
}

/* The message with each byte that is not part of valid UTF-8 replaced by U+FFFD, as Go's JSON encoder
 * writes it: a probe's output or a container's message may hold any bytes, and an event must still reach
 * the API server (jansson refuses a string that is not UTF-8). Takes s. */
static char *utf8_sanitize(char *s)
{
        const unsigned char *p = (const unsigned char *) s;
        size_t n, bad = 0;
        for (; *p; p += n)
                if (!(n = utf8_seq_len(p)))
                        bad++, n = 1;
        if (!bad)
                return s;
        char *out = OOM_CHECK(malloc((size_t) (p - (const unsigned char *) s) + bad * 2 + 1)), *o = out;
        for (p = (const unsigned char *) s; *p; p += n) {
                if ((n = utf8_seq_len(p))) {
                        memcpy(o, p, n);
                        o += n;
                } else {
                        memcpy(o, "\xef\xbf\xbd", 3);
                        o += 3;
                        n = 1;
                }
        }
        *o = 0;
        free(s);
        return out;
}

static void record_v(struct event_recorder *r, const char *kind, const char *ns, const char *name,
                     const char *uid, const char *field_path, const char *type, const char *reason,
                     const char *fmt, va_list ap) __attribute__((format(printf, 9, 0)));

static void record_v(struct event_recorder *r, const char *kind, const char *ns, const char *name,
                     const char *uid, const char *field_path, const char *type, const char *reason,
                     const char *fmt, va_list ap)
{
        _cleanup_free_ char *msg = NULL;
        int64_t now = now_real_ns();

        if (vasprintf(&msg, fmt, ap) < 0)
                xmalloc_oom();
        msg = utf8_sanitize(msg);

        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n; i++) {
                struct event *e = &r->ring[(r->head + i) % r->cap];
                if (streq_ptr(e->kind, kind) && streq(e->uid, uid) && streq(e->reason, reason) &&
                    streq(e->message, msg) && streq_ptr(e->field_path, field_path)) {
                        e->count++;
                        e->last_ns = now;
                        e->seq = ++r->seq;
                        unsigned count = e->count;
                        if (r->notify)
                                r->notify(r->notify_ud);
                        pthread_mutex_unlock(&r->lock);
                        log_v(2, "Event occurred",
                              "object=\"%s/%s\" kind=\"%s\" type=\"%s\" reason=\"%s\" "
                              "message=\"%s\" count=%u",
                              ns, name, kind, type, reason, log_q(msg), count);
                        return;
                }
        }
        if (!take_token(r, uid)) {
                r->dropped++;
                pthread_mutex_unlock(&r->lock);
                log_v(2, "Event dropped by the rate limit", "object=\"%s/%s\" reason=\"%s\"", ns, name,
                      reason);
                return;
        }
        struct event *e;
        if (r->n < r->cap)
                e = &r->ring[(r->head + r->n++) % r->cap];
        else { /* full: the oldest goes */
                e = &r->ring[r->head];
                r->head = (r->head + 1) % r->cap;
                event_clear(e);
        }
        *e = (struct event){.ns = xstrdup(ns),
                            .name = xstrdup(name),
                            .uid = xstrdup(uid),
                            .kind = kind,
                            .field_path = xstrdup(field_path),
                            .type = type,
                            .reason = xstrdup(reason),
                            .message = TAKE_PTR(msg),
                            .first_ns = now,
                            .last_ns = now,
                            .count = 1,
                            .seq = ++r->seq};
        log_info("Event occurred", "object=\"%s/%s\" kind=\"%s\" type=\"%s\" reason=\"%s\" message=\"%s\"",
                 ns, name, kind, type, reason, log_q(e->message));
        if (r->notify)
                r->notify(r->notify_ud);
        pthread_mutex_unlock(&r->lock);
}

void events_set_notify(struct event_recorder *r, void (*fn)(void *ud), void *ud)
{
        pthread_mutex_lock(&r->lock);
        r->notify = fn;
        r->notify_ud = ud;
        pthread_mutex_unlock(&r->lock);
}

void events_record(struct event_recorder *r, const char *ns, const char *name, const char *uid,
                   const char *field_path, const char *type, const char *reason, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        record_v(r, "Pod", ns, name, uid, field_path, type, reason, fmt, ap);
        va_end(ap);
}

void events_record_node(struct event_recorder *r, const char *type, const char *reason, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        record_v(r, "Node", "default", r->node, r->node, NULL, type, reason, fmt, ap);
        va_end(ap);
}

static int by_seq(const void *a, const void *b)
{
        uint64_t x = (*(const struct event *const *) a)->seq, y = (*(const struct event *const *) b)->seq;
        return x < y ? -1 : x > y;
}

uint64_t events_since(struct event_recorder *r, uint64_t after, void (*fn)(const struct event *e, void *ud),
                      void *ud)
{
        pthread_mutex_lock(&r->lock);
        /* Sequence numbers grow with every record; a counted-up event gets a new one and so moves on. The
         * newer ones, oldest first: one pass and a sort, not a scan per event. */
        const struct event **newer = OOM_CHECK(malloc((r->n + 1) * sizeof *newer));
        size_t k = 0;
        for (size_t i = 0; i < r->n; i++) {
                const struct event *e = &r->ring[(r->head + i) % r->cap];
                if (e->seq > after)
                        newer[k++] = e;
        }
        qsort(newer, k, sizeof *newer, by_seq);
        for (size_t i = 0; i < k; i++)
                fn(newer[i], ud);
        free(newer);
        uint64_t newest = r->seq;
        pthread_mutex_unlock(&r->lock);
        return newest;
}

uint64_t events_dropped(struct event_recorder *r)
{
        pthread_mutex_lock(&r->lock);
        uint64_t d = r->dropped;
        pthread_mutex_unlock(&r->lock);
        return d;
}

static json_t *time_json(int64_t ns)
{
        char buf[64];
        time_t t = (time_t) (ns / 1000000000LL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return json_string(buf);
}

struct list_ctx {
        json_t *items;
        const char *node;
};

static void add_json(const struct event *e, void *ud)
{
        struct list_ctx *lc = ud;
        char name[512];
        /* Upstream names events <object>.<hex of the first timestamp>. */
        snprintf(name, sizeof name, "%s.%llx", e->name, (unsigned long long) e->first_ns);
        json_t *obj = json_pack("{s:s, s:s, s:s}", "kind", e->kind ? e->kind : "Pod", "name", e->name, "uid",
                                e->uid);
        if (!streq_ptr(e->kind, "Node"))
                json_object_set_new(obj, "namespace", json_string(e->ns));
        if (e->field_path)
                json_object_set_new(obj, "fieldPath", json_string(e->field_path));
        json_array_append_new(lc->items,
                              json_pack("{s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:i, s:o, s:o, s:{s:s, s:s}}",
                                        "metadata", "name", name, "namespace", e->ns, "involvedObject", obj,
                                        "reason", e->reason, "message", e->message, "type", e->type, "count",
                                        (int) e->count, "firstTimestamp", time_json(e->first_ns),
                                        "lastTimestamp", time_json(e->last_ns), "source", "component",
                                        "kubelet", "host", lc->node));
}

json_t *events_list_json(struct event_recorder *r)
{
        struct list_ctx lc = {.items = json_array(), .node = r->node};
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n; i++)
                add_json(&r->ring[(r->head + i) % r->cap], &lc);
        pthread_mutex_unlock(&r->lock);
        return json_pack("{s:s, s:s, s:{}, s:o}", "kind", "EventList", "apiVersion", "v1", "metadata",
                         "items", lc.items);
}
