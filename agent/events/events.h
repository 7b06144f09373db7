/* The event recorder: Kubernetes Events about pods, aggregated by (object, reason, message), logged and
 * kept in a bounded ring for the sinks (the API server, with #5). Thread-safe; never blocks on I/O. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define EVENT_NORMAL  "Normal"
#define EVENT_WARNING "Warning"

struct event {
        char *ns, *name, *uid; /* involvedObject: a Pod */
        char *field_path;      /* "spec.containers{web}" or NULL */
        const char *type;      /* EVENT_NORMAL / EVENT_WARNING */
        char *reason;
        char *message;
        int64_t first_ns, last_ns; /* wall clock */
        unsigned count;
        uint64_t seq; /* grows with every record, for sinks that follow the ring */
};

struct event_recorder;

struct event_recorder *events_new(size_t capacity);
struct event_recorder *events_free(struct event_recorder *r);

void events_record(struct event_recorder *r, const char *ns, const char *name, const char *uid,
                   const char *field_path, const char *type, const char *reason, const char *fmt, ...)
        __attribute__((format(printf, 8, 9)));

/* Calls fn for each event in the ring, oldest first, under the recorder's lock (fn must not record). */
void events_foreach(struct event_recorder *r, void (*fn)(const struct event *e, void *ud), void *ud);
