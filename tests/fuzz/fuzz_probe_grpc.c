/* libFuzzer target for what a pod's gRPC health server answers a probe (agent/prober/probe_grpc.c): the
 * call's status code and details and the HealthCheckResponse bytes, into the verdict and its message. The
 * first byte is the status code, the second how many of the following bytes are the details; the rest is
 * the reply (no reply at all when the first byte's top bit is set). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_grpc.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

        char out[64];
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
