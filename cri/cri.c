/* CRI v1 client: one HTTP/2 connection per runtime endpoint (h2.c), unary calls with a deadline each. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri.h"
#include "h2.h"
#include "macro.h"
#include "util.h"

/* kubelet's default --runtime-request-timeout. */
#define CRI_DEFAULT_TIMEOUT_MS INT64_C(120000)
/* Replies we accept: ListContainers on a busy node and ExecSync output (capped at 16 MiB per stream). */
#define CRI_MAX_RECV_BYTES (16 * 1024 * 1024)

struct cri_client {
        char *target; /* "unix:///path" */
        int64_t default_timeout_ms;
        struct h2_conn *conn;     /* thread-safe; connects on first use and again after a break */
        cri_observer_fn observer; /* set before the client is shared */
        void *observer_ud;
};

void cri_client_set_observer(struct cri_client *c, cri_observer_fn fn, void *userdata)
{
        c->observer = fn;
        c->observer_ud = userdata;
}

_Static_assert((int) CRI_CODE_DEADLINE_EXCEEDED == (int) H2_DEADLINE_EXCEEDED, "cri.h's code numbers");
_Static_assert((int) CRI_CODE_NOT_FOUND == (int) H2_NOT_FOUND, "cri.h's code numbers");

/* Indexed by gRPC status code; the spelling of Go's codes.Code.String(), which runtimes and kubelet
 * print, so our messages read like theirs. */
static const char *const code_names[] = {
        "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
        "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
        "DataLoss", "Unauthenticated",
};

const char *cri_code_name(int code)
{
        if (code < 0 || (size_t) code >= ELEMENTSOF(code_names))
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
        if (strncmp(endpoint, "unix:", 5) == 0 && endpoint[5] == '/')
                t = strdup(endpoint);
        else if (endpoint[0] == '/') {
                if (asprintf(&t, "unix://%s", endpoint) < 0)
                        t = NULL;
        } else
                return -EINVAL; /* TCP runtimes are not a thing we support; nor abstract sockets */
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
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
        r = h2_conn_new(target, &c->conn);
        if (r < 0) {
                free(c);
                return r;
        }
        c->target = TAKE_PTR(target);
        c->default_timeout_ms = default_timeout_ms > 0 ? default_timeout_ms : CRI_DEFAULT_TIMEOUT_MS;
        *ret = c;
        return 0;
}

struct cri_client *cri_client_free(struct cri_client *c)
{
        if (!c)
                return NULL;
        h2_conn_free(c->conn);
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

/* The request serialized (*ret, malloc'd, *ret_len octets). */
static int cri__encode(const char *method, const ProtobufCMessage *req, uint8_t **ret, size_t *ret_len,
                       struct cri_error *err)
{
        size_t len = protobuf_c_message_get_packed_size(req);
        uint8_t *send = malloc(len ? len : 1);
        if (!send) {
                cri__set_error(err, 0, method, "encode request: %s", strerror(ENOMEM));
                return -ENOMEM;
        }
        if (protobuf_c_message_pack(req, send) != len) {
                free(send);
                cri__set_error(err, 0, method, "encode request: %s", strerror(EINVAL));
                return -EINVAL;
        }
        *ret = send;
        *ret_len = len;
        return 0;
}

/* A call's end (r, st from h2) as the caller sees it: the reply decoded into *ret_resp, or the error. */
static int cri__decode(const char *method, int r, const struct h2_status *st, const uint8_t *recv,
                       size_t recv_len, const ProtobufCMessageDescriptor *resp_desc,
                       ProtobufCMessage **ret_resp, struct cri_error *err)
{
        if (r < 0) {
                if (st->code == H2_OK) {
                        cri__set_error(err, 0, method, "%s", strerror(-r));
                        return r;
                }
                cri__set_error(err, st->code, method, "rpc error: code = %s desc = %s",
                               cri_code_name(st->code), st->msg);
                /* A reply that broke the protocol is a bad reply, whatever code it was given. */
                return r == -EBADMSG ? -EBADMSG : h2_status_errno(st->code);
        }
        *ret_resp = protobuf_c_message_unpack(resp_desc, NULL, recv_len, recv);
        if (!*ret_resp) {
                cri__set_error(err, 0, method, "decode reply: not a valid %s", resp_desc->name);
                return -EBADMSG;
        }
        return 0;
}

static int cri__call(struct cri_client *c, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp,
                     int64_t timeout_ms, struct cri_error *err)
{
        _cleanup_free_ uint8_t *send = NULL, *recv = NULL;
        struct h2_status st = {0};
        size_t len, recv_len = 0;
        int r;

        if (!c || !method || !req || !resp_desc || !ret_resp)
                return -EINVAL;
        if (timeout_ms <= 0)
                timeout_ms = c->default_timeout_ms;
        r = cri__encode(method, req, &send, &len, err);
        if (r < 0)
                return r;
        /* No wait-for-ready: while the runtime is down calls fail at once with Unavailable instead of
         * hanging until their deadline. */
        r = h2_unary(c->conn, method, send, len, add_sat(now_mono_ms(), timeout_ms), CRI_MAX_RECV_BYTES,
                     &recv, &recv_len, &st);
        return cri__decode(method, r, &st, recv, recv_len, resp_desc, ret_resp, err);
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
        int64_t t0 = now_mono_us();
        bool mutates = cri_method_mutates(method);
        if (mutates)
                cri_generation_bump(); /* a listing taken while it runs is already old */
        int r = cri__call(c, method, req, resp_desc, ret_resp, timeout_ms, err);
        if (mutates)
                cri_generation_bump();
        if (c && method && c->observer)
                c->observer(c->observer_ud, method, now_mono_us() - t0, r);
        return r;
}

int cri_call_many(struct cri_client *c, struct cri_request *reqs, size_t n, int64_t timeout_ms,
                  struct cri_error *err)
{
        if (!c || !reqs)
                return -EINVAL;
        if (timeout_ms <= 0)
                timeout_ms = c->default_timeout_ms;
        int64_t t0 = now_mono_us(), deadline = add_sat(now_mono_ms(), timeout_ms);
        struct h2_unary_call *calls = OOM_CHECK(calloc(n + 1, sizeof *calls));
        int first = 0;
        bool mutates = false;
        for (size_t i = 0; i < n; i++) {
                struct cri_request *q = &reqs[i];
                uint8_t *send = NULL;
                size_t len = 0;
                q->r = !q->method || !q->req || !q->resp_desc || !q->ret_resp
                               ? -EINVAL
                               : cri__encode(q->method, q->req, &send, &len, first ? NULL : err);
                if (q->r < 0 && !first)
                        first = q->r;
                if (q->r < 0)
                        continue; /* no path: h2_unary_many skips it */
                mutates |= cri_method_mutates(q->method);
                calls[i] = (struct h2_unary_call){.path = q->method,
                                                  .req = send,
                                                  .req_len = len,
                                                  .deadline_ms = deadline,
                                                  .max_resp = CRI_MAX_RECV_BYTES};
        }
        if (mutates)
                cri_generation_bump();
        h2_unary_many(c->conn, calls, n);
        if (mutates)
                cri_generation_bump();
        for (size_t i = 0; i < n; i++) {
                struct cri_request *q = &reqs[i];
                if (q->r >= 0) {
                        q->r = cri__decode(q->method, calls[i].r, &calls[i].st, calls[i].resp,
                                           calls[i].resp_len, q->resp_desc, q->ret_resp, first ? NULL : err);
                        if (c->observer)
                                c->observer(c->observer_ud, q->method, now_mono_us() - t0, q->r);
                        if (q->r < 0 && !first)
                                first = q->r;
                }
                free((void *) calls[i].req);
                free(calls[i].resp);
        }
        free(calls);
        return first;
}
