/* gRPC probes: a connection of its own per probe (as upstream dials per probe), a wait for the connection,
 * then one unary grpc.health.v1.Health/Check, on cri/h2.c's client. */
#include "probe_grpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cri.h"
#include "h2.h"
#include "health.pb-c.h" /* generated at build time from prober/proto/health.proto */
#include "util.h"

#define CHECK_METHOD         "/grpc.health.v1.Health/Check"
#define GRPC_DEFAULT_TIMEOUT 1000 /* kubelet's default timeoutSeconds */
#define GRPC_MAX_REPLY_BYTES (4 << 20)
#define REDIAL_MS            100 /* a refused connection is tried again until the deadline, as WithBlock */

static void out_printf(char *out, size_t len, const char *fmt, ...) _printf_(3, 4);
static void out_printf(char *out, size_t len, const char *fmt, ...)
{
        va_list ap;
        if (!out || len == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(out, len, fmt, ap);
        va_end(ap);
}

/* grpc.health.v1.HealthCheckResponse.ServingStatus.String(): the name, or the number when unknown. */
static void status_name(int v, char *buf, size_t len)
{
        static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
        if (v >= 0 && (size_t) v < ELEMENTSOF(names))
                snprintf(buf, len, "%s", names[v]);
        else
                snprintf(buf, len, "%d", v);
}

/* The gRPC target and Go's net.JoinHostPort form for messages. Only IP addresses: the pod's. */
static bool target_of(const char *host, int port, char *target, size_t tlen, char *addr, size_t alen)
{
        unsigned char buf[16];
        if (inet_pton(AF_INET, host, buf) == 1) {
                snprintf(target, tlen, "ipv4:%s:%d", host, port);
                snprintf(addr, alen, "%s:%d", host, port);
                return true;
        }
        if (inet_pton(AF_INET6, host, buf) == 1) {
                snprintf(target, tlen, "ipv6:[%s]:%d", host, port);
                snprintf(addr, alen, "[%s]:%d", host, port);
                return true;
        }
        return false;
}

static uint8_t *pack_request(const char *service, size_t *ret_len)
{
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        req.service = (char *) (service ? service : "");
        size_t n = grpc__health__v1__health_check_request__get_packed_size(&req);
        uint8_t *b = OOM_CHECK(malloc(n ? n : 1));
        grpc__health__v1__health_check_request__pack(&req, b);
        *ret_len = n;
        return b;
}

/* The reply's status, or -1 when it is not a HealthCheckResponse. */
static int unpack_status(const uint8_t *reply, size_t reply_len)
{
        if (!reply)
                return -1;
        Grpc__Health__V1__HealthCheckResponse *resp =
                grpc__health__v1__health_check_response__unpack(NULL, reply_len, reply);
        if (!resp)
                return -1;
        int st = (int) resp->status;
        grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
        return st;
}

enum probe_result probe_grpc_verdict(int status, const char *details, size_t details_len,
                                     const uint8_t *reply, size_t reply_len, const char *timeout, char *out,
                                     size_t len)
{
        int dlen = details_len > INT_MAX ? INT_MAX : (int) details_len;
        char name[32];
        int st;

        if (!details)
                dlen = 0, details = "";
        switch (status) {
        case H2_OK:
                if ((st = unpack_status(reply, reply_len)) < 0) {
                        /* grpc-go's words for a reply it cannot decode */
                        out_printf(out, len,
                                   "error: health rpc probe failed: rpc error: code = Internal desc = grpc: "
                                   "failed to unmarshal the received message");
                        return PROBE_FAILURE;
                }
                if (st != GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
                        status_name(st, name, sizeof name);
                        out_printf(out, len, "service unhealthy (responded with \"%s\")", name);
                        return PROBE_FAILURE;
                }
                out_printf(out, len, "service healthy");
                return PROBE_SUCCESS;
        case H2_UNIMPLEMENTED:
                out_printf(out, len,
                           "error: this server does not implement the grpc health protocol "
                           "(grpc.health.v1.Health): %.*s",
                           dlen, details);
                return PROBE_FAILURE;
        case H2_DEADLINE_EXCEEDED:
                out_printf(out, len, "timeout: health rpc did not complete within %s", timeout);
                return PROBE_FAILURE;
        default:
                out_printf(out, len, "error: health rpc probe failed: rpc error: code = %s desc = %.*s",
                           cri_code_name(status), dlen, details);
                return PROBE_FAILURE;
        }
}

/* Go's grpc.WithBlock: true once the connection is up (the server's SETTINGS came); a refused one is
 * dialled again until the deadline. */
static bool wait_ready(struct h2_conn *c, int64_t deadline_ms)
{
        for (;;) {
                struct h2_status st;
                int r = h2_conn_wait_ready(c, deadline_ms, &st);
                if (r == 0)
                        return true;
                int64_t left = deadline_ms - now_mono_ms();
                if (r == -ETIMEDOUT || left <= 0)
                        return false;
                struct timespec ts = {.tv_nsec = MIN(left, (int64_t) REDIAL_MS) * 1000000};
                nanosleep(&ts, NULL);
        }
}

enum probe_result probe_grpc(const char *host, int port, const char *service, int64_t timeout_ms,
                             char *ret_output, size_t output_len)
{
        char target[96], addr[80], timeout[32];
        enum probe_result r = PROBE_FAILURE;
        struct h2_conn *c = NULL;

        out_printf(ret_output, output_len, "%s", "");
        if (!host || port < 1 || port > 65535 ||
            !target_of(host, port, target, sizeof target, addr, sizeof addr) ||
            h2_conn_new(target, &c) < 0) {
                out_printf(ret_output, output_len, "invalid gRPC probe target %s:%d", host ? host : "",
                           port);
                return PROBE_UNKNOWN;
        }
        if (timeout_ms <= 0)
                timeout_ms = GRPC_DEFAULT_TIMEOUT;
        format_duration_ms(timeout_ms, timeout, sizeof timeout);
        h2_conn_set_user_agent(c, PROBE_USER_AGENT);

        int64_t deadline = add_sat(now_mono_ms(), timeout_ms);
        if (!wait_ready(c, deadline))
                out_printf(ret_output, output_len,
                           "timeout: failed to connect service \"%s\" within %s: context deadline exceeded",
                           addr, timeout);
        else {
                struct h2_status st = {0};
                size_t req_len, reply_len = 0;
                _cleanup_free_ uint8_t *req = pack_request(service, &req_len);
                _cleanup_free_ uint8_t *reply = NULL;
                int k = h2_unary(c, CHECK_METHOD, req, req_len, deadline, GRPC_MAX_REPLY_BYTES, &reply,
                                 &reply_len, &st);
                if (k < 0 && st.code == H2_OK) {
                        out_printf(ret_output, output_len, "error: health rpc probe failed: %s",
                                   strerror(-k));
                        r = PROBE_UNKNOWN;
                } else
                        r = probe_grpc_verdict(st.code, st.msg, strlen(st.msg),
                                               k == 0 ? (reply_len ? reply : (const uint8_t *) "") : NULL,
                                               reply_len, timeout, ret_output, output_len);
        }
        h2_conn_free(c);
        return r;
}
