/* The API sink of the event recorder: core/v1 Events POSTed (first time) or PATCHed (repeats) to the API
 * server, in order, through a client rate-limited as eventRecordQPS/eventBurst. While the API server is
 * unreachable the events wait in the recorder's ring (bounded) and go out when it is back. */
#pragma once

#include <jansson.h>
#include <stdint.h>

struct kube_client;
struct event_recorder;
struct event;
struct event_sink;

int event_sink_start(struct kube_client *kube, struct event_recorder *rec, const char *node_name,
                     int64_t timeout_ms, struct event_sink **ret);
void event_sink_stop(struct event_sink *s);

/* The v1 Event object for one recorded event (pure, for tests). */
json_t *event_to_api_json(const struct event *e, const char *node_name);
/* Its object name, as upstream: "<pod name>.<first timestamp ns in hex>". */
char *event_api_name(const struct event *e);
