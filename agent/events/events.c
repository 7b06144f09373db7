/* The event recorder: aggregated, logged, kept in a bounded ring. */
#include "events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "util.h"

struct event_recorder {
        pthread_mutex_t lock;
        struct event *ring;
        size_t cap, n, head; /* head: index of the oldest */
        uint64_t seq;
};

struct event_recorder *events_new(size_t capacity)
{
        struct event_recorder *r = OOM_CHECK(calloc(1, sizeof *r));
        pthread_mutex_init(&r->lock, NULL);
        r->cap = capacity ? capacity : 1;
        r->ring = OOM_CHECK(calloc(r->cap, sizeof *r->ring));
        return r;
}

static void event_clear(struct event *e)
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
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

void events_record(struct event_recorder *r, const char *ns, const char *name, const char *uid,
                   const char *field_path, const char *type, const char *reason, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int64_t now = now_real_ns();

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                xmalloc_oom();
        va_end(ap);

        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n; i++) {
                struct event *e = &r->ring[(r->head + i) % r->cap];
                if (streq(e->uid, uid) && streq(e->reason, reason) && streq(e->message, msg) &&
                    streq_ptr(e->field_path, field_path)) {
                        e->count++;
                        e->last_ns = now;
                        e->seq = ++r->seq;
                        unsigned count = e->count;
                        pthread_mutex_unlock(&r->lock);
                        log_v(2, "Event occurred",
                              "object=\"%s/%s\" kind=\"Pod\" type=\"%s\" reason=\"%s\" "
                              "message=\"%s\" count=%u",
                              ns, name, type, reason, log_q(msg), count);
                        return;
                }
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
                            .field_path = xstrdup(field_path),
                            .type = type,
                            .reason = xstrdup(reason),
                            .message = TAKE_PTR(msg),
                            .first_ns = now,
                            .last_ns = now,
                            .count = 1,
                            .seq = ++r->seq};
        log_info("Event occurred", "object=\"%s/%s\" kind=\"Pod\" type=\"%s\" reason=\"%s\" message=\"%s\"",
                 ns, name, type, reason, log_q(e->message));
        pthread_mutex_unlock(&r->lock);
}

void events_foreach(struct event_recorder *r, void (*fn)(const struct event *e, void *ud), void *ud)
{
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n; i++)
                fn(&r->ring[(r->head + i) % r->cap], ud);
        pthread_mutex_unlock(&r->lock);
}
