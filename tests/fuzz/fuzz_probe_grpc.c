/* libFuzzer target for what a pod's gRPC health server answers a probe (agent/prober/probe_grpc.c): the
 * call's status code and details and the HealthCheckResponse bytes, into the verdict and its message. The
 * first byte is the status code, the second how many of the following bytes are the details; the rest is
 * the reply (no reply at all when the first byte's top bit is set). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "probe_grpc.h"
#include "sink.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_event(const struct event *e, void *ud)
{
        json_t *j = event_to_api_json(e, "fuzz-node");
        if (!j) {
                fprintf(stderr, "event cannot be sent: %s\n", e->message);
                abort();
        }
        json_decref(j);
}

/* A failure becomes a Warning event with the message, as the prober records it: it must reach the API
 * server and /events whatever bytes the server sent. */
static void check_recorded(const char *out)
{
        static struct event_recorder *rec;
        static uint64_t seen;
        if (!rec)
                rec = events_new(4, 1e9, 1000000, "fuzz-node");
        events_record(rec, "ns", "pod", "uid", "spec.containers{c}", EVENT_WARNING, "Unhealthy",
                      "%s probe failed: %s", "Liveness", out);
        seen = events_since(rec, seen, check_event, NULL);
        json_t *list = events_list_json(rec);
        if (!list) {
                fprintf(stderr, "events cannot be listed\n");
                abort();
        }
        json_decref(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        int status = data[0] & 0x1f;
        bool no_reply = data[0] & 0x80;
        size_t dlen = data[1] < size - 2 ? data[1] : size - 2;
        /* Exact-size copies, so that reading past either is caught. */
        char *details = malloc(dlen ? dlen : 1);
        size_t rlen = size - 2 - dlen;
        uint8_t *reply = malloc(rlen ? rlen : 1);
        if (!details || !reply)
                abort();
        memcpy(details, data + 2, dlen);
        memcpy(reply, data + 2 + dlen, rlen);

        char out[1024]; /* as the prober's */
        memset(out, 'x', sizeof out);
        enum probe_result r = probe_grpc_verdict(status, details, dlen, no_reply ? NULL : reply, rlen, "1s",
                                                 out, sizeof out);
        /* Properties: a NUL-terminated message in the buffer; success only for an OK call with a reply,
         * and then the message is upstream's. */
        if (!memchr(out, 0, sizeof out) || !out[0] || (r != PROBE_SUCCESS && r != PROBE_FAILURE) ||
            (r == PROBE_SUCCESS && (status != 0 || no_reply || !streq(out, "service healthy")))) {
                fprintf(stderr, "probe_grpc_verdict broke its contract (r=%d status=%d): %s\n", r, status,
                        memchr(out, 0, sizeof out) ? out : "(unterminated)");
                abort();
        }
        bool ascii = true; /* (recording logs a line: only the messages that can be refused) */
        for (const char *c = out; *c && ascii; c++)
                ascii = (unsigned char) *c < 0x80;
        if (r == PROBE_FAILURE && !ascii)
                check_recorded(out);
        /* Without room for a message it writes nothing. */
        char none = 'x';
        if (probe_grpc_verdict(status, details, dlen, no_reply ? NULL : reply, rlen, "1s", &none, 0) != r ||
            none != 'x' ||
            probe_grpc_verdict(status, details, dlen, no_reply ? NULL : reply, rlen, "1s", NULL, 0) != r) {
                fprintf(stderr, "probe_grpc_verdict differs without an output buffer\n");
                abort();
        }
        free(details);
        free(reply);
        return 0;
}
