/* gRPC probes: grpc.health.v1.Health/Check, with the results and messages of kubelet's pkg/probe/grpc. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "probe_net.h"

/* Connects to host:port (an IP address: the pod's) without TLS, waiting for the connection as Go's
 * grpc.WithBlock does, then calls Check{service} within what is left of timeout_ms (<= 0: 1 s). Success
 * when the answer is SERVING ("service healthy"); failure otherwise, with upstream's words:
 *   service unhealthy (responded with "NOT_SERVING")
 *   timeout: failed to connect service "10.0.0.5:9000" within 1s: context deadline exceeded
 *   timeout: health rpc did not complete within 1s
 *   error: this server does not implement the grpc health protocol (grpc.health.v1.Health): <message>
 *   error: health rpc probe failed: rpc error: code = NotFound desc = unknown service
 * PROBE_UNKNOWN when the probe cannot be built (no host, bad port). Blocks for up to the timeout: call it
 * on a prober thread. ret_output (NUL-terminated, cut to output_len; may be NULL) is written whatever the
 * result. */
enum probe_result probe_grpc(const char *host, int port, const char *service, int64_t timeout_ms,
                             char *ret_output, size_t output_len);

/* Upstream's verdict on a finished Check call, from what the server sent: its gRPC status code, the status
 * details (details_len bytes, any bytes) and the reply message (reply_len bytes; reply NULL when none came).
 * timeout is the probe's, as text, for the message. Pure: probe_grpc uses it, so do tests and fuzzing. */
enum probe_result probe_grpc_verdict(int status, const char *details, size_t details_len,
                                     const uint8_t *reply, size_t reply_len, const char *timeout, char *out,
                                     size_t len);
