/* The event recorder: aggregation of repeats, upstream's per-object spam filter, the sink interface. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "sink.h"

struct seen {
        char reasons[16][32];
        unsigned counts[16];
        size_t n;
};

static void collect(const struct event *e, void *ud)
{
        struct seen *s = ud;
        if (s->n < 16) {
                strncpy(s->reasons[s->n], e->reason, sizeof s->reasons[0] - 1);
                s->counts[s->n++] = e->count;
        }
}

static void test_repeats_are_counted(void **state)
{
        struct event_recorder *r = events_new(10, 1.0 / 300, 25, "node");
        for (int i = 0; i < 3; i++)
                events_record(r, "ns", "p", "uid1", "spec.containers{c}", EVENT_WARNING, "BackOff",
                              "back-off %d", 7);
        events_record(r, "ns", "p", "uid1", "spec.containers{c}", EVENT_NORMAL, "Started",
                      "Started container c");
        struct seen s = {0};
        events_since(r, 0, collect, &s);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.reasons[0], "BackOff");
        assert_int_equal(s.counts[0], 3);
        assert_string_equal(s.reasons[1], "Started");
        events_free(r);
}

static void message_of(const struct event *e, void *ud)
{
        json_t *j = event_to_api_json(e, "node");
        assert_non_null(j); /* jansson refuses strings that are not UTF-8 */
        strncpy(ud, json_string_value(json_object_get(j, "message")), 63);
        json_decref(j);
}

/* A message with bytes that are not UTF-8 (a probe's output, a gRPC server's details: a fuzz finding) is
 * recorded with U+FFFD for each, as Go's encoder writes it, and still reaches the API server. */
static void test_message_not_utf8(void **state)
{
        struct event_recorder *r = events_new(10, 1.0 / 300, 25, "node");
        char msg[64] = "";
        /* a stray continuation, a cut sequence, an overlong "/", a surrogate, past U+10FFFF; valid é, € */
        events_record(r, "ns", "p", "uid1", NULL, EVENT_WARNING, "Unhealthy", "%s",
                      "a\x80"
                      "b\xc3 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xc3\xa9\xe2\x82\xac");
        events_since(r, 0, message_of, msg);
        assert_string_equal(msg, "a\uFFFDb\uFFFD \uFFFD\uFFFD \uFFFD\uFFFD\uFFFD \uFFFD\uFFFD\uFFFD\uFFFD "
                                 "\u00e9\u20ac");
        json_t *list = events_list_json(r);
        assert_non_null(list);
        json_decref(list);
        events_free(r);
}

static void test_spam_filter_is_per_object(void **state)
{
        struct event_recorder *r = events_new(100, 1.0 / 300, 3, "node");
        for (int i = 0; i < 5; i++)
                events_record(r, "ns", "a", "uid-a", NULL, EVENT_NORMAL, "Pulled", "message %d", i);
        events_record(r, "ns", "b", "uid-b", NULL, EVENT_NORMAL, "Pulled", "message b");
        assert_int_equal(events_dropped(r), 2); /* a's 4th and 5th */
        struct seen s = {0};
        events_since(r, 0, collect, &s);
        assert_int_equal(s.n, 4); /* three of a, one of b */
        events_free(r);
}

static void test_since_follows_new_and_counted_events(void **state)
{
        struct event_recorder *r = events_new(10, 1.0 / 300, 25, "node");
        events_record(r, "ns", "p", "u", NULL, EVENT_NORMAL, "Created", "one");
        events_record(r, "ns", "p", "u", NULL, EVENT_NORMAL, "Started", "two");
        struct seen s = {0};
        uint64_t pos = events_since(r, 0, collect, &s);
        assert_int_equal(s.n, 2);
        /* A repeat of the first moves it past the position; a sink sees it once more, with its count. */
        events_record(r, "ns", "p", "u", NULL, EVENT_NORMAL, "Created", "one");
        struct seen s2 = {0};
        pos = events_since(r, pos, collect, &s2);
        assert_int_equal(s2.n, 1);
        assert_string_equal(s2.reasons[0], "Created");
        assert_int_equal(s2.counts[0], 2);
        struct seen s3 = {0};
        events_since(r, pos, collect, &s3);
        assert_int_equal(s3.n, 0);
        events_free(r);
}

static void test_ring_is_bounded_and_listed(void **state)
{
        struct event_recorder *r = events_new(3, 1.0 / 300, 25, "node1");
        for (int i = 0; i < 5; i++)
                events_record(r, "ns", "p", "u", "spec.containers{c}", EVENT_NORMAL, "Started", "m%d", i);
        json_t *list = events_list_json(r);
        json_t *items = json_object_get(list, "items");
        assert_int_equal(json_array_size(items), 3);
        json_t *e = json_array_get(items, 0);
        assert_string_equal(json_string_value(json_object_get(e, "message")), "m2");
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(e, "involvedObject"), "fieldPath")),
                "spec.containers{c}");
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "source"), "host")),
                            "node1");
        json_decref(list);
        events_free(r);
}

static void node_event_json(const struct event *e, void *ud)
{
        json_t *j = event_to_api_json(e, "node1");
        json_t *obj = json_object_get(j, "involvedObject");
        assert_string_equal(json_string_value(json_object_get(obj, "kind")), "Node");
        assert_string_equal(json_string_value(json_object_get(obj, "name")), "node1");
        assert_string_equal(json_string_value(json_object_get(obj, "uid")), "node1");
        assert_null(json_object_get(obj, "namespace")); /* cluster-scoped */
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "namespace")),
                            "default");
        assert_string_equal(json_string_value(json_object_get(j, "reason")), "ImageGCFailed");
        json_decref(j);
        (*(int *) ud)++;
}

/* Events about the Node (image GC): upstream's nodeRef, the Event in "default". */
static void test_node_events(void **state)
{
        (void) state;
        struct event_recorder *r = events_new(10, 1.0 / 300, 25, "node1");
        events_record_node(r, EVENT_WARNING, "ImageGCFailed", "wanted to free %d bytes", 5);
        int n = 0;
        events_since(r, 0, node_event_json, &n);
        assert_int_equal(n, 1);
        json_t *list = events_list_json(r);
        json_t *obj = json_object_get(json_array_get(json_object_get(list, "items"), 0), "involvedObject");
        assert_string_equal(json_string_value(json_object_get(obj, "kind")), "Node");
        assert_null(json_object_get(obj, "namespace"));
        json_decref(list);
        events_free(r);
}

/* The Node's own events (the eviction manager's): kind Node, uid the node's name, in "default", no
 * namespace on the object, as upstream's nodeRef; in the list and in what the sink POSTs. */
static void test_node_events_eviction(void **state)
{
        (void) state;
        struct event_recorder *r = events_new(8, 1.0 / 300, 25, "node1");
        events_record(r, "ns", "node1", "u", NULL, EVENT_NORMAL, "Started", "same name, a pod");
        events_record_node(r, EVENT_NORMAL, "NodeHasInsufficientMemory", "Node %s status is now: %s",
                           "node1", "NodeHasInsufficientMemory");
        json_t *list = events_list_json(r);
        json_t *e = json_array_get(json_object_get(list, "items"), 1),
               *o = json_object_get(e, "involvedObject");
        assert_string_equal(json_string_value(json_object_get(o, "kind")), "Node");
        assert_string_equal(json_string_value(json_object_get(o, "name")), "node1");
        assert_string_equal(json_string_value(json_object_get(o, "uid")), "node1");
        assert_null(json_object_get(o, "namespace"));
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "metadata"), "namespace")),
                            "default");
        assert_string_equal(json_string_value(json_object_get(e, "message")),
                            "Node node1 status is now: NodeHasInsufficientMemory");
        o = json_object_get(json_array_get(json_object_get(list, "items"), 0), "involvedObject");
        assert_string_equal(json_string_value(json_object_get(o, "kind")), "Pod");
        json_decref(list);
        struct event ev = {.ns = "default",
                           .name = "node1",
                           .uid = "node1",
                           .kind = "Node",
                           .type = EVENT_WARNING,
                           .reason = "EvictionThresholdMet",
                           .message = "Attempting to reclaim memory",
                           .count = 1};
        json_t *api = event_to_api_json(&ev, "node1");
        o = json_object_get(api, "involvedObject");
        assert_string_equal(json_string_value(json_object_get(o, "kind")), "Node");
        assert_null(json_object_get(o, "namespace"));
        json_decref(api);
        events_free(r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_repeats_are_counted),
                cmocka_unit_test(test_node_events),
                cmocka_unit_test(test_message_not_utf8),
                cmocka_unit_test(test_spam_filter_is_per_object),
                cmocka_unit_test(test_since_follows_new_and_counted_events),
                cmocka_unit_test(test_ring_is_bounded_and_listed),
                cmocka_unit_test(test_node_events_eviction),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
