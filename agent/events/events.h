/* The event recorder: Kubernetes Events about pods, aggregated by (object, reason, message), logged and
 * kept in a bounded ring for the sinks (the API server, with #5). Thread-safe; never blocks on I/O. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_NORMAL  "Normal"
#define EVENT_WARNING "Warning"

struct event {
        char *ns, *name, *uid; /* involvedObject: a Pod, or the Node (ns "default", uid the node's name) */
        const char *kind;      /* "Pod" or "Node" (static strings) */
        char *field_path;      /* "spec.containers{web}" or NULL */
        const char *type;      /* EVENT_NORMAL / EVENT_WARNING */
        char *reason;
        char *message;
        int64_t first_ns, last_ns; /* wall clock */
        unsigned count;
        uint64_t seq; /* grows with every record, for sinks that follow the ring */
};

/* Frees what e owns and zeroes it. */
void event_clear(struct event *e);

struct event_recorder;

/* capacity: events kept; qps/burst: a token bucket per involved object for new events (upstream's spam
 * filter: burst 25, one more per 5 minutes); repeats only count up; node: source.host. */
struct event_recorder *events_new(size_t capacity, double qps, unsigned burst, const char *node);
struct event_recorder *events_free(struct event_recorder *r);

void events_record(struct event_recorder *r, const char *ns, const char *name, const char *uid,
                   const char *field_path, const char *type, const char *reason, const char *fmt, ...)
        __attribute__((format(printf, 8, 9)));

/* An event about the Node itself (upstream's nodeRef: kind Node, name and UID the node's name; the Event
 * lives in namespace "default"), e.g. ImageGCFailed. */
void events_record_node(struct event_recorder *r, const char *type, const char *reason, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* The sink interface: calls fn, under the recorder's lock (fn must not record or block), for each event
 * recorded or counted up after sequence number `after`, oldest first; returns the newest sequence number,
 * for the next call. A sink (the log, /events, the API server) keeps its own position. */
uint64_t events_since(struct event_recorder *r, uint64_t after, void (*fn)(const struct event *e, void *ud),
                      void *ud);
/* fn(ud) is called after each event recorded or counted up, under the recorder's lock: it must only wake
 * someone (a sink waiting for work). NULL: none. */
void events_set_notify(struct event_recorder *r, void (*fn)(void *ud), void *ud);

/* Events dropped by the rate limit so far. */
uint64_t events_dropped(struct event_recorder *r);

/* A v1 EventList of the ring (caller frees). */
json_t *events_list_json(struct event_recorder *r);
