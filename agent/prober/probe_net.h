/* The network probes: httpGet and tcpSocket, with the results and messages of kubelet's pkg/probe/{http,tcp}. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum probe_result { PROBE_SUCCESS, PROBE_FAILURE, PROBE_UNKNOWN };

/* What every network probe (httpGet, gRPC) calls itself, as upstream's "kube-probe/<major>.<minor>". */
#define PROBE_USER_AGENT "kube-probe/1.30"

struct probe_header {
        const char *name;
        const char *value;
};

struct probe_http {
        const char *scheme; /* "HTTP" or "HTTPS" (any case; NULL or "" is HTTP). HTTPS skips verification. */
        const char *host;   /* IP or name; the caller passes the pod IP when the probe's host is empty */
        int port;
        const char *path; /* "/healthz"; NULL or "" requests "/" */
        const struct probe_header *headers;
        size_t n_headers;       /* a non-empty Host header overrides the Host; user headers beat defaults */
        int64_t timeout_ms;     /* whole probe, redirects included; <= 0 means kubelet's default, 1 s */
        const char *user_agent; /* "kube-probe/1.30" when NULL */
};

/* Upper bound of the response body read (kubelet's maxRespBodyLength); the rest is not read. */
#define PROBE_HTTP_MAX_BODY (10 * 1024)

/* GET scheme://host:port/path. Success for 200 <= status < 400 (output: the body, as upstream). Redirects
 * are followed only to the same host name, at most 10 requests; a redirect elsewhere is not followed and is
 * a success whose output starts "Probe terminated redirects" (upstream's probe.Warning). Other statuses
 * fail with "HTTP probe failed with statuscode: N"; transport errors fail with `Get "URL": what happened`.
 * PROBE_UNKNOWN when the probe cannot be built (bad port or host). Safe to call from any thread.
 *
 * Unlike other ret_ parameters, ret_output (NUL-terminated, cut to output_len; may be NULL) is written
 * whatever the result: the message is the point of a failure. */
enum probe_result probe_http_get(const struct probe_http *p, char *ret_output, size_t output_len);

/* Connects to host:port (a name is resolved, every address tried in turn, as Go's net.Dial) and closes at
 * once. Success when a connection opens within timeout_ms (<= 0: 1 s); failure otherwise with a Go-like
 * error ("dial tcp 10.0.0.5:80: connect: connection refused"). ret_output as for probe_http_get. */
enum probe_result probe_tcp(const char *host, int port, int64_t timeout_ms, char *ret_output,
                            size_t output_len);
