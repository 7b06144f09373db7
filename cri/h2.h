/* A gRPC client over HTTP/2 without TLS (RFC 9113 "prior knowledge"), on a unix socket or TCP: the
 * unary calls and the one server-streaming call cubelet makes, with per-call deadlines. One connection per
 * h2_conn, made on first use and again after it broke; one reader thread per connection, asleep in poll()
 * with no timeout while nothing comes (no timer: an idle node wakes nobody). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* gRPC status codes (the wire's numbers). */
enum {
        H2_OK = 0,
        H2_CANCELLED = 1,
        H2_UNKNOWN = 2,
        H2_INVALID_ARGUMENT = 3,
        H2_DEADLINE_EXCEEDED = 4,
        H2_NOT_FOUND = 5,
        H2_PERMISSION_DENIED = 7,
        H2_RESOURCE_EXHAUSTED = 8,
        H2_UNIMPLEMENTED = 12,
        H2_INTERNAL = 13,
        H2_UNAVAILABLE = 14,
        H2_UNAUTHENTICATED = 16,
};

/* How a call ended: the gRPC status code and message, the server's (grpc-status, grpc-message) or, for a
 * failure on this side, words as Go's gRPC client has them ("context deadline exceeded", "connection
 * error: desc = ..."), so messages read as the upstream kubelet's. */
struct h2_status {
        int code;
        char msg[768];
};

struct h2_conn;
struct h2_call;

/* target: "unix:///path", "unix:/path" or "/path" (a unix socket), or "ipv4:A.B.C.D:PORT",
 * "ipv6:[ADDR]:PORT" (numeric addresses only). Does not connect. -EINVAL for another form, -ENOMEM. */
int h2_conn_new(const char *target, struct h2_conn **ret);
/* The user-agent of its calls ("cubelet" unless set); before the first call. */
void h2_conn_set_user_agent(struct h2_conn *c, const char *ua);
/* Closes the connection and joins its reader; no call may be running. NULL is fine. */
void h2_conn_free(struct h2_conn *c);

/* Connects if not connected, and waits until the server's SETTINGS came (the connection is up, as Go's
 * grpc.WithBlock waits for) or deadline_ms (CLOCK_MONOTONIC ms, as now_mono_ms) passes. 0; -ETIMEDOUT;
 * -ECONNREFUSED (st says why). */
int h2_conn_wait_ready(struct h2_conn *c, int64_t deadline_ms, struct h2_status *st);

/* One unary call: req (req_len octets, the serialized request) to path ("/pkg.Service/Method"), the
 * reply's message into *ret_resp (malloc'd, *ret_len octets; a reply over max_resp octets fails with
 * ResourceExhausted as soon as it is seen). A refused connection fails at once; a stream the server
 * refused untouched is retried once (after a GOAWAY, or a write that failed, on a new connection; after a
 * REFUSED_STREAM, on a new stream). Returns 0 (st->code H2_OK) or:
 * -ETIMEDOUT (DeadlineExceeded), -ECONNREFUSED (Unavailable), -EIO (the server's status), -EBADMSG (a
 * protocol error), -ENOMEM. Safe from many threads at once on one h2_conn. */
int h2_unary(struct h2_conn *c, const char *path, const uint8_t *req, size_t req_len, int64_t deadline_ms,
             size_t max_resp, uint8_t **ret_resp, size_t *ret_len, struct h2_status *st);

/* Several unary calls at once: every request is sent, then every reply awaited, so that the calls take
 * about the time of the slowest instead of the sum (a pod's sandboxes and containers, listed for each
  * sync). Each call ends as h2_unary would (r, st; resp, resp_len the reply, malloc'd, on success). One
 * after another when the server allows few streams at once, or has not said yet (a new connection). */
struct h2_unary_call {
        const char *path;
        const uint8_t *req;
        size_t req_len;
        int64_t deadline_ms;
        size_t max_resp;
        uint8_t *resp;
        size_t resp_len;
        struct h2_status st;
        int r;
};
void h2_unary_many(struct h2_conn *c, struct h2_unary_call *calls, size_t n);
/* A server-streaming call with no deadline: sends the request and half-closes (the start itself is
 * bounded, ten seconds at most). 0 and *ret; else as h2_unary, not retried (the caller starts again). */
int h2_stream_start(struct h2_conn *c, const char *path, const uint8_t *req, size_t req_len, size_t max_msg,
                    struct h2_call **ret, struct h2_status *st);
/* The next message, waiting until deadline_ms (INT64_MAX: no limit). 1: a message in *ret_msg (malloc'd,
 * *ret_len octets); 0: the call ended, st says how (H2_OK: the server ended it cleanly); -ETIMEDOUT: none
 * yet, the call goes on. One thread reads a call. */
int h2_stream_next(struct h2_call *k, int64_t deadline_ms, uint8_t **ret_msg, size_t *ret_len,
                   struct h2_status *st);
/* From any thread, while the call exists: its reader's h2_stream_next ends it (Cancelled). */
void h2_stream_cancel(struct h2_call *k);
/* Resets the stream if it still runs, and frees. NULL is fine. */
void h2_stream_free(struct h2_call *k);

/* The errno of a failed call with gRPC status code: -ETIMEDOUT for DeadlineExceeded, -ECONNREFUSED for
 * Unavailable, -EIO for the others. */
int h2_status_errno(int code);
/* Go's names of HTTP/2 error codes ("CANCEL", "REFUSED_STREAM"), for messages. */
const char *h2_error_name(uint32_t code);
/* Percent-decodes a grpc-message value (the gRPC HTTP/2 spec) into out (cap > 0), NUL-terminated, cut to
 * fit. Pure; the tests use it. */
void h2_grpc_message_decode(const char *in, size_t len, char *out, size_t cap);
/* The grpc-timeout value for ms (at most 8 digits, then a unit), into out (at least 10 octets). */
void h2_grpc_timeout(int64_t ms, char *out, size_t cap);
