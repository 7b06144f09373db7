/* gRPC probes on gRPC C core: a channel of its own per probe (as upstream dials per probe), a wait for the
 * connection, then one unary grpc.health.v1.Health/Check. */
#include "probe_grpc.h"

#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "cri.h"
#include "health.pb-c.h" /* generated at build time from prober/proto/health.proto */
#include "util.h"

#define CHECK_METHOD         "/grpc.health.v1.Health/Check"
#define GRPC_DEFAULT_TIMEOUT 1000 /* kubelet's default timeoutSeconds */
#define GRPC_MAX_REPLY_BYTES (4 << 20)
#define PLUCK_MARGIN_MS      500 /* past the deadline, before we end the call ourselves */

static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;
static void grpc_init_once(void)
{
        grpc_init(); /* reference-counted with the CRI client's; never shut down */
}

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

static grpc_channel *channel_new(const char *target)
{
        /* A pool of its own, so that no connection (or its back-off) is shared with another probe, as
         * each of upstream's probes dials anew; no proxy, as upstream's own dialer bypasses it. */
        grpc_arg args[] = {
                {.type = GRPC_ARG_STRING,
                 .key = (char *) GRPC_ARG_PRIMARY_USER_AGENT_STRING,
                 .value.string = (char *) PROBE_USER_AGENT},
                {.type = GRPC_ARG_INTEGER,
                 .key = (char *) GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                 .value.integer = 1},
                {.type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_ENABLE_HTTP_PROXY, .value.integer = 0},
                {.type = GRPC_ARG_INTEGER,
                 .key = (char *) GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                 .value.integer = GRPC_MAX_REPLY_BYTES},
        };
        grpc_channel_args chargs = {.num_args = ELEMENTSOF(args), .args = args};
        grpc_channel_credentials *creds = grpc_insecure_credentials_create();
        if (!creds)
                return NULL;
        grpc_channel *ch = grpc_channel_create(target, creds, &chargs);
        grpc_channel_credentials_release(creds);
        return ch;
}

/* Go's grpc.WithBlock: true once the channel is READY, false when the deadline came first. */
static bool wait_ready(grpc_channel *ch, grpc_completion_queue *cq, gpr_timespec deadline)
{
        static char tag;
        grpc_connectivity_state st = grpc_channel_check_connectivity_state(ch, 1);
        while (st != GRPC_CHANNEL_READY) {
                if (st == GRPC_CHANNEL_SHUTDOWN)
                        return false;
                grpc_channel_watch_connectivity_state(ch, st, deadline, cq, &tag);
                grpc_event ev =
                        grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                if (ev.type != GRPC_OP_COMPLETE || !ev.success)
                        return false; /* the deadline */
                st = grpc_channel_check_connectivity_state(ch, 1);
        }
        return true;
}

/* Everything one call owns, released together. */
struct check_call {
        grpc_call *call;
        grpc_byte_buffer *send, *recv;
        grpc_metadata_array initial_md, trailing_md;
        grpc_slice details;
        grpc_status_code status;
};

static void check_call_done(struct check_call *k)
{
        if (k->call)
                grpc_call_unref(k->call);
        if (k->send)
                grpc_byte_buffer_destroy(k->send);
        if (k->recv)
                grpc_byte_buffer_destroy(k->recv);
        grpc_metadata_array_destroy(&k->initial_md);
        grpc_metadata_array_destroy(&k->trailing_md);
        grpc_slice_unref(k->details);
}

static grpc_byte_buffer *pack_request(const char *service)
{
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        req.service = (char *) (service ? service : "");
        size_t n = grpc__health__v1__health_check_request__get_packed_size(&req);
        grpc_slice s = grpc_slice_malloc(n);
        grpc__health__v1__health_check_request__pack(&req, GRPC_SLICE_START_PTR(s));
        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        return bb;
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

/* One unary Check; fills k (status, details, reply). False when the call could not be made at all. */
static bool call_check(grpc_channel *ch, grpc_completion_queue *cq, gpr_timespec deadline,
                       const char *service, struct check_call *k)
{
        grpc_slice method = grpc_slice_from_static_string(CHECK_METHOD);
        k->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL, deadline,
                                           NULL);
        grpc_slice_unref(method);
        k->send = pack_request(service);
        if (!k->call || !k->send)
                return false;

        grpc_op ops[6] = {{0}};
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = k->send;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &k->initial_md;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &k->recv;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.trailing_metadata = &k->trailing_md;
        ops[5].data.recv_status_on_client.status = &k->status;
        ops[5].data.recv_status_on_client.status_details = &k->details;
        if (grpc_call_start_batch(k->call, ops, ELEMENTSOF(ops), k, NULL) != GRPC_CALL_OK)
                return false;
        grpc_event ev = grpc_completion_queue_pluck(
                cq, k, gpr_time_add(deadline, gpr_time_from_millis(PLUCK_MARGIN_MS, GPR_TIMESPAN)), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
                /* gRPC should have ended the call at its deadline; end it, then collect the batch. */
                grpc_call_cancel_with_status(k->call, GRPC_STATUS_DEADLINE_EXCEEDED, "Deadline Exceeded",
                                             NULL);
                ev = grpc_completion_queue_pluck(cq, k, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        }
        return ev.type == GRPC_OP_COMPLETE;
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
        case GRPC_STATUS_OK:
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
        case GRPC_STATUS_UNIMPLEMENTED:
                out_printf(out, len,
                           "error: this server does not implement the grpc health protocol "
                           "(grpc.health.v1.Health): %.*s",
                           dlen, details);
                return PROBE_FAILURE;
        case GRPC_STATUS_DEADLINE_EXCEEDED:
                out_printf(out, len, "timeout: health rpc did not complete within %s", timeout);
                return PROBE_FAILURE;
        default:
                out_printf(out, len, "error: health rpc probe failed: rpc error: code = %s desc = %.*s",
                           cri_code_name(status), dlen, details);
                return PROBE_FAILURE;
        }
}

/* The verdict on a finished call, from what it holds. */
static enum probe_result verdict(struct check_call *k, const char *timeout, char *out, size_t len)
{
        grpc_slice reply = grpc_empty_slice();
        bool have_reply = false;
        grpc_byte_buffer_reader reader;
        if (k->recv && grpc_byte_buffer_reader_init(&reader, k->recv)) {
                reply = grpc_byte_buffer_reader_readall(&reader);
                grpc_byte_buffer_reader_destroy(&reader);
                have_reply = true;
        }
        enum probe_result r =
                probe_grpc_verdict((int) k->status, (const char *) GRPC_SLICE_START_PTR(k->details),
                                   GRPC_SLICE_LENGTH(k->details),
                                   !have_reply                ? NULL
                                   : GRPC_SLICE_LENGTH(reply) ? GRPC_SLICE_START_PTR(reply)
                                                              : (const uint8_t *) "",
                                   GRPC_SLICE_LENGTH(reply), timeout, out, len);
        grpc_slice_unref(reply);
        return r;
}

enum probe_result probe_grpc(const char *host, int port, const char *service, int64_t timeout_ms,
                             char *ret_output, size_t output_len)
{
        char target[96], addr[80], timeout[32];
        enum probe_result r = PROBE_FAILURE;

        out_printf(ret_output, output_len, "%s", "");
        if (!host || port < 1 || port > 65535 ||
            !target_of(host, port, target, sizeof target, addr, sizeof addr)) {
                out_printf(ret_output, output_len, "invalid gRPC probe target %s:%d", host ? host : "",
                           port);
                return PROBE_UNKNOWN;
        }
        if (timeout_ms <= 0)
                timeout_ms = GRPC_DEFAULT_TIMEOUT;
        format_duration_ms(timeout_ms, timeout, sizeof timeout);
        pthread_once(&grpc_once, grpc_init_once);

        gpr_timespec deadline =
                gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
        grpc_channel *ch = channel_new(target);
        grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
        struct check_call k = {.details = grpc_empty_slice(), .status = GRPC_STATUS_UNKNOWN};
        grpc_metadata_array_init(&k.initial_md);
        grpc_metadata_array_init(&k.trailing_md);

        if (!ch || !cq) {
                out_printf(ret_output, output_len,
                           "error: failed to connect service at \"%s\": out of memory", addr);
                r = PROBE_UNKNOWN;
        } else if (!wait_ready(ch, cq, deadline))
                out_printf(ret_output, output_len,
                           "timeout: failed to connect service \"%s\" within %s: context deadline exceeded",
                           addr, timeout);
        else if (!call_check(ch, cq, deadline, service, &k)) {
                out_printf(ret_output, output_len, "error: health rpc probe failed: cannot start the call");
                r = PROBE_UNKNOWN;
        } else
                r = verdict(&k, timeout, ret_output, output_len);

        check_call_done(&k); /* the call before its channel and queue */
        if (ch)
                grpc_channel_destroy(ch);
        if (cq) {
                grpc_completion_queue_shutdown(cq);
                grpc_completion_queue_destroy(cq);
        }
        return r;
}
