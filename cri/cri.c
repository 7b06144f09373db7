/* CRI v1 client: one gRPC channel per runtime endpoint, unary calls with a deadline each. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "cri.h"
#include "cri_internal.h"
#include "macro.h"

/* kubelet's default --runtime-request-timeout. */
#define CRI_DEFAULT_TIMEOUT_MS INT64_C(120000)
/* Replies we accept: ListContainers on a busy node and ExecSync output (capped at 16 MiB per stream). */
#define CRI_MAX_RECV_BYTES (16 * 1024 * 1024)
/* How long past the call deadline we wait for gRPC to report it before cancelling ourselves. */
#define CRI_PLUCK_MARGIN_MS 500

/* Safety net only: the connectivity watch fires on every state change and when the channel is destroyed;
 * this bounds how long cri_client_free() could wait if it did not. Long while READY (each expiry is a
 * wake-up of an idle node), short otherwise. */
#define CRI_WATCH_READY_MS  60000
#define CRI_WATCH_PERIOD_MS 5000

struct cri_client {
        char *target; /* "unix:///path" */
        int64_t default_timeout_ms;
        grpc_channel *channel; /* thread-safe; reconnects by itself */

        /* gRPC core does socket I/O only while some thread polls. Calls poll while they run, but a
         * fail-fast call against a runtime that is down returns at once, so nobody would read the
         * restarted runtime's HTTP/2 SETTINGS until gRPC's 5 s backup poller comes round. This
         * thread keeps a connectivity watch armed and polls its queue, so reconnecting happens in
         * the background as soon as the backoff allows. */
        grpc_completion_queue *watch_cq;
        pthread_t watcher;
        pthread_mutex_t lock; /* guards stopping against the watcher's use of channel */
        bool stopping;
        cri_observer_fn observer; /* set before the client is shared */
        void *observer_ud;
};

void cri_client_set_observer(struct cri_client *c, cri_observer_fn fn, void *userdata)
{
        c->observer = fn;
        c->observer_ud = userdata;
}

static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;

static void cri__grpc_init(void)
{
        /* Never shut down: the channel machinery lives as long as the process. */
        grpc_init();
}

_Static_assert((int) CRI_CODE_DEADLINE_EXCEEDED == (int) GRPC_STATUS_DEADLINE_EXCEEDED,
               "cri.h's code numbers");
_Static_assert((int) CRI_CODE_NOT_FOUND == (int) GRPC_STATUS_NOT_FOUND, "cri.h's code numbers");

/* Indexed by grpc_status_code; the spelling of Go's codes.Code.String(), which runtimes and kubelet
 * print, so our messages read like theirs. */
static const char *const code_names[] = {
        [GRPC_STATUS_OK] = "OK",
        [GRPC_STATUS_CANCELLED] = "Canceled",
        [GRPC_STATUS_UNKNOWN] = "Unknown",
        [GRPC_STATUS_INVALID_ARGUMENT] = "InvalidArgument",
        [GRPC_STATUS_DEADLINE_EXCEEDED] = "DeadlineExceeded",
        [GRPC_STATUS_NOT_FOUND] = "NotFound",
        [GRPC_STATUS_ALREADY_EXISTS] = "AlreadyExists",
        [GRPC_STATUS_PERMISSION_DENIED] = "PermissionDenied",
        [GRPC_STATUS_RESOURCE_EXHAUSTED] = "ResourceExhausted",
        [GRPC_STATUS_FAILED_PRECONDITION] = "FailedPrecondition",
        [GRPC_STATUS_ABORTED] = "Aborted",
        [GRPC_STATUS_OUT_OF_RANGE] = "OutOfRange",
        [GRPC_STATUS_UNIMPLEMENTED] = "Unimplemented",
        [GRPC_STATUS_INTERNAL] = "Internal",
        [GRPC_STATUS_UNAVAILABLE] = "Unavailable",
        [GRPC_STATUS_DATA_LOSS] = "DataLoss",
        [GRPC_STATUS_UNAUTHENTICATED] = "Unauthenticated",
};

const char *cri_code_name(int code)
{
        if (code < 0 || (size_t) code >= ELEMENTSOF(code_names) || !code_names[code])
                return "Unknown";
        return code_names[code];
}

int cri_endpoint_target(const char *endpoint, char **ret)
{
        char *t;

        if (!endpoint || !endpoint[0])
                return -EINVAL;
        if (strncmp(endpoint, "unix://", 7) == 0 && endpoint[7] != '/')
                return -EINVAL; /* "unix://run/x.sock": an authority, which gRPC refuses */
        if (strncmp(endpoint, "unix:", 5) == 0 || strncmp(endpoint, "unix-abstract:", 14) == 0)
                t = strdup(endpoint);
        else if (endpoint[0] == '/') {
                if (asprintf(&t, "unix://%s", endpoint) < 0)
                        t = NULL;
        } else
                return -EINVAL; /* TCP runtimes are not a thing we support */
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

static void *cri__watch(void *p)
{
        struct cri_client *c = p;
        grpc_event ev;

        for (;;) {
                pthread_mutex_lock(&c->lock);
                if (c->stopping) {
                        pthread_mutex_unlock(&c->lock);
                        break;
                }
                /* try_to_connect: leave IDLE at once (after the runtime dropped the connection, or
                 * after the idle timeout), so the next call finds the channel READY. */
                grpc_connectivity_state st = grpc_channel_check_connectivity_state(c->channel, 1);
                int64_t period = st == GRPC_CHANNEL_READY ? CRI_WATCH_READY_MS : CRI_WATCH_PERIOD_MS;
                grpc_channel_watch_connectivity_state(
                        c->channel, st,
                        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                     gpr_time_from_millis(period, GPR_TIMESPAN)),
                        c->watch_cq, c);
                pthread_mutex_unlock(&c->lock);

                /* Polling here is the point: it drives connection attempts and handshakes. */
                ev = grpc_completion_queue_next(c->watch_cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                if (ev.type == GRPC_QUEUE_SHUTDOWN)
                        break;
        }
        return NULL;
}

static int cri__start_watcher(struct cri_client *c)
{
        sigset_t all, old;
        int r;

        c->watch_cq = grpc_completion_queue_create_for_next(NULL);
        if (!c->watch_cq)
                return -ENOMEM;

        /* Signals belong to the agent's loop thread, never to ours. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&c->watcher, NULL, cri__watch, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                grpc_completion_queue_shutdown(c->watch_cq);
                grpc_completion_queue_destroy(TAKE_PTR(c->watch_cq));
                return -r;
        }
        (void) pthread_setname_np(c->watcher, "cri-watch");
        return 0;
}

grpc_channel *cri__channel_new(const char *target)
{
        grpc_channel_credentials *creds;
        grpc_channel *ch;

        pthread_once(&grpc_once, cri__grpc_init);
        /* An absent runtime must fail calls at once (no wait-for-ready), and a restarted one must be
         * found again within about a second: reconnect backoff starts at 100 ms and is capped at 1 s.
         * GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is not a backoff despite its name but the minimum time one
         * connection attempt may take, including the wait for the runtime's HTTP/2 SETTINGS; keep it
         * at Go gRPC's 20 s (kubelet's) so a slow runtime is not declared Unavailable after 100 ms. A
         * unix connect to a missing or dead socket fails at once, so it never delays reconnecting. */
        grpc_arg args[] = {
                {.type = GRPC_ARG_INTEGER,
                 .key = (char *) GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                 .value.integer = CRI_MAX_RECV_BYTES},
                {.type = GRPC_ARG_INTEGER,
                 .key = (char *) GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                 .value.integer = 100},
                {.type = GRPC_ARG_INTEGER,
                 .key = (char *) GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                 .value.integer = 1000},
                {.type = GRPC_ARG_INTEGER,
                 .key = (char *) GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                 .value.integer = 20000},
                /* Never route a local socket through $http_proxy. */
                {.type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_ENABLE_HTTP_PROXY, .value.integer = 0},
        };
        grpc_channel_args chargs = {.num_args = ELEMENTSOF(args), .args = args};

        creds = grpc_insecure_credentials_create();
        if (!creds)
                return NULL;
        ch = grpc_channel_create(target, creds, &chargs);
        grpc_channel_credentials_release(creds);
        return ch;
}

int cri_client_new(const char *endpoint, int64_t default_timeout_ms, struct cri_client **ret)
{
        _cleanup_free_ char *target = NULL;
        struct cri_client *c;
        int r;

        if (!ret)
                return -EINVAL;
        r = cri_endpoint_target(endpoint, &target);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        c->channel = cri__channel_new(target);
        if (!c->channel) {
                cri_client_free(c);
                return -ENOMEM;
        }
        r = cri__start_watcher(c);
        if (r < 0) {
                cri_client_free(c);
                return r;
        }

        c->target = TAKE_PTR(target);
        c->default_timeout_ms = default_timeout_ms > 0 ? default_timeout_ms : CRI_DEFAULT_TIMEOUT_MS;
        *ret = c;
        return 0;
}

struct cri_client *cri_client_free(struct cri_client *c)
{
        grpc_event ev;

        if (!c)
                return NULL;
        if (c->watch_cq) {
                pthread_mutex_lock(&c->lock);
                c->stopping = true;
                /* Destroying the channel fires the pending watch (state SHUTDOWN), which wakes the
                 * watcher; it sees stopping and leaves. */
                grpc_channel_destroy(TAKE_PTR(c->channel));
                pthread_mutex_unlock(&c->lock);
                pthread_join(c->watcher, NULL);

                grpc_completion_queue_shutdown(c->watch_cq);
                do
                        ev = grpc_completion_queue_next(c->watch_cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                                        NULL);
                while (ev.type != GRPC_QUEUE_SHUTDOWN);
                grpc_completion_queue_destroy(c->watch_cq);
        }
        pthread_mutex_destroy(&c->lock);
        if (c->channel)
                grpc_channel_destroy(c->channel);
        free(c->target);
        free(c);
        return NULL;
}

const char *cri_client_endpoint(const struct cri_client *c)
{
        return c ? c->target : NULL;
}

/* "/runtime.v1.RuntimeService/RunPodSandbox" -> "RunPodSandbox" */
static const char *cri__rpc_name(const char *method)
{
        const char *s = strrchr(method, '/');
        return s ? s + 1 : method;
}

static void cri__set_error(struct cri_error *err, int code, const char *method, const char *fmt, ...)
        _printf_(4, 5);

static void cri__set_error(struct cri_error *err, int code, const char *method, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (!err)
                return;
        err->code = code;
        n = snprintf(err->msg, sizeof(err->msg), "%s: ", cri__rpc_name(method));
        if (n < 0 || (size_t) n >= sizeof(err->msg))
                return;
        va_start(ap, fmt);
        vsnprintf(err->msg + n, sizeof(err->msg) - (size_t) n, fmt, ap);
        va_end(ap);
}

static int cri__status_to_errno(grpc_status_code status)
{
        switch (status) {
        case GRPC_STATUS_DEADLINE_EXCEEDED:
                return -ETIMEDOUT;
        case GRPC_STATUS_UNAVAILABLE:
                return -ECONNREFUSED;
        default:
                return -EIO;
        }
}

static int cri__pack(const ProtobufCMessage *req, grpc_byte_buffer **ret)
{
        size_t len = protobuf_c_message_get_packed_size(req);
        grpc_slice s = grpc_slice_malloc(len);
        grpc_byte_buffer *bb;

        if (protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(s)) != len) {
                grpc_slice_unref(s);
                return -EINVAL;
        }
        bb = grpc_raw_byte_buffer_create(&s, 1); /* takes its own reference */
        grpc_slice_unref(s);
        if (!bb)
                return -ENOMEM;
        *ret = bb;
        return 0;
}

static int cri__unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret)
{
        grpc_byte_buffer_reader reader;
        ProtobufCMessage *m;
        grpc_slice s;

        if (!grpc_byte_buffer_reader_init(&reader, bb))
                return -EBADMSG; /* undecompressable */
        s = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);

        m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        if (!m)
                return -EBADMSG;
        *ret = m;
        return 0;
}

/* Everything one call owns, released together whatever happened. */
struct cri__call {
        grpc_completion_queue *cq;
        grpc_call *call;
        grpc_byte_buffer *send;
        grpc_byte_buffer *recv;
        grpc_metadata_array initial_md;
        grpc_metadata_array trailing_md;
        grpc_slice details;
};

static void cri__call_done(struct cri__call *k)
{
        if (k->call)
                grpc_call_unref(k->call);
        if (k->cq) {
                grpc_completion_queue_shutdown(k->cq);
                grpc_completion_queue_destroy(k->cq);
        }
        if (k->send)
                grpc_byte_buffer_destroy(k->send);
        if (k->recv)
                grpc_byte_buffer_destroy(k->recv);
        grpc_metadata_array_destroy(&k->initial_md);
        grpc_metadata_array_destroy(&k->trailing_md);
        grpc_slice_unref(k->details);
}

static int cri__call(struct cri_client *c, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp,
                     int64_t timeout_ms, struct cri_error *err)
{
        _cleanup_(cri__call_done) struct cri__call k = {.details = grpc_empty_slice()};
        grpc_status_code status = GRPC_STATUS_UNKNOWN;
        gpr_timespec deadline;
        grpc_slice method_slice;
        grpc_call_error ce;
        grpc_event ev;
        grpc_op ops[6];
        int r;

        if (!c || !method || !req || !resp_desc || !ret_resp)
                return -EINVAL;
        if (timeout_ms <= 0)
                timeout_ms = c->default_timeout_ms;

        grpc_metadata_array_init(&k.initial_md);
        grpc_metadata_array_init(&k.trailing_md);

        r = cri__pack(req, &k.send);
        if (r < 0) {
                cri__set_error(err, 0, method, "encode request: %s", strerror(-r));
                return r;
        }

        /* A pluck queue per call: this thread alone waits on it, so calls never see each other's
         * events and need no lock. */
        k.cq = grpc_completion_queue_create_for_pluck(NULL);
        if (!k.cq) {
                cri__set_error(err, 0, method, "create completion queue: %s", strerror(ENOMEM));
                return -ENOMEM;
        }

        deadline =
                gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
        method_slice = grpc_slice_from_copied_string(method);
        k.call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, k.cq, method_slice,
                                          NULL, deadline, NULL);
        grpc_slice_unref(method_slice); /* the call holds its own reference */
        if (!k.call) {
                cri__set_error(err, 0, method, "create call: %s", strerror(ENOMEM));
                return -ENOMEM;
        }

        memset(ops, 0, sizeof(ops));
        /* No GRPC_INITIAL_METADATA_WAIT_FOR_READY: while the runtime is down calls fail at once with
         * Unavailable instead of hanging until their deadline. */
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = k.send;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &k.initial_md;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &k.recv;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.trailing_metadata = &k.trailing_md;
        ops[5].data.recv_status_on_client.status = &status;
        ops[5].data.recv_status_on_client.status_details = &k.details;

        ce = grpc_call_start_batch(k.call, ops, ELEMENTSOF(ops), &k, NULL);
        if (ce != GRPC_CALL_OK) {
                cri__set_error(err, 0, method, "start call: %s", grpc_call_error_to_string(ce));
                return -EIO;
        }

        ev = grpc_completion_queue_pluck(
                k.cq, &k, gpr_time_add(deadline, gpr_time_from_millis(CRI_PLUCK_MARGIN_MS, GPR_TIMESPAN)),
                NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
                /* gRPC should have ended the call at its deadline; end it ourselves, then collect the
                 * batch so nothing is left referring to our stack. */
                grpc_call_cancel_with_status(k.call, GRPC_STATUS_DEADLINE_EXCEEDED, "Deadline Exceeded",
                                             NULL);
                ev = grpc_completion_queue_pluck(k.cq, &k, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        }
        if (ev.type != GRPC_OP_COMPLETE) {
                cri__set_error(err, 0, method, "completion queue: unexpected event %d", (int) ev.type);
                return -EIO;
        }

        if (status != GRPC_STATUS_OK) {
                cri__set_error(err, (int) status, method, "rpc error: code = %s desc = %.*s",
                               cri_code_name((int) status), (int) GRPC_SLICE_LENGTH(k.details),
                               (const char *) GRPC_SLICE_START_PTR(k.details));
                return cri__status_to_errno(status);
        }

        if (!k.recv) {
                cri__set_error(err, 0, method, "decode reply: OK status without a message");
                return -EBADMSG;
        }
        r = cri__unpack(k.recv, resp_desc, ret_resp);
        if (r < 0) {
                cri__set_error(err, 0, method, "decode reply: not a valid %s", resp_desc->name);
                return r;
        }
        return 0;
}

static atomic_uint_fast64_t generation;

uint64_t cri_generation(void)
{
        return atomic_load(&generation);
}

void cri_generation_bump(void)
{
        atomic_fetch_add(&generation, 1);
}

bool cri_method_mutates(const char *method)
{
        static const char *const reads[] = {
                "Version",  "Status", "ImageFsInfo", "ContainerStats", "PodSandboxStats",
                "ExecSync", "Exec",   "Attach",      "PortForward",    "ReopenContainerLog"};
        const char *name = method ? strrchr(method, '/') : NULL;
        if (!name)
                return true;
        name++;
        size_t n = strlen(name);
        if (strncmp(name, "List", 4) == 0 || (n >= 6 && strcmp(name + n - 6, "Status") == 0))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(reads); i++)
                if (strcmp(name, reads[i]) == 0)
                        return false;
        return true;
}

int cri_call(struct cri_client *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp, int64_t timeout_ms,
             struct cri_error *err)
{
        gpr_timespec t0 = gpr_now(GPR_CLOCK_MONOTONIC);
        bool mutates = cri_method_mutates(method);
        if (mutates)
                cri_generation_bump(); /* a listing taken while it runs is already old */
        int r = cri__call(c, method, req, resp_desc, ret_resp, timeout_ms, err);
        if (mutates)
                cri_generation_bump();
        if (c && method && c->observer) {
                gpr_timespec d = gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), t0);
                c->observer(c->observer_ud, method, (int64_t) d.tv_sec * 1000000 + d.tv_nsec / 1000, r);
        }
        return r;
}
