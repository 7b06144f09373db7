/* CRI v1 client: unary calls to RuntimeService / ImageService over gRPC (our own HTTP/2 client, h2.h) on a
 * unix socket. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <protobuf-c/protobuf-c.h>

/* GNU C predefines `linux` to 1, which would break the generated fields named `linux`. The cri target
 * also passes -Ulinux to every target that links it, for files that include api.pb-c.h directly. */
#ifdef linux
#undef linux
#endif
#include "api.pb-c.h" /* generated at build time from cri/proto/api.proto */

/* Outside detail of a failed call: the gRPC status code and the runtime's message. */
struct cri_error {
        int code;       /* grpc_status_code; 0 when the failure was local (encode/decode) */
        char msg[1024]; /* "RunPodSandbox: rpc error: code = Unknown desc = <runtime message>" */
};

/* The gRPC status codes callers act on (grpc_status_code's numbers; cri.c checks them against grpc's). */
enum { CRI_CODE_DEADLINE_EXCEEDED = 4, CRI_CODE_NOT_FOUND = 5 };

/* The runtime does not know the object (NotFound): a removal found it gone already. */
static inline bool cri_not_found(const struct cri_error *e)
{
        return e->code == CRI_CODE_NOT_FOUND;
}

/* The call ran out of time, locally (r == -ETIMEDOUT) or as the runtime said (DeadlineExceeded). */
static inline bool cri_timed_out(const struct cri_error *e, int r)
{
        return r == -ETIMEDOUT || (r < 0 && e->code == CRI_CODE_DEADLINE_EXCEEDED);
}

/* What the runtime said of a failed call, else the local error's words (r: the call's -errno). */
static inline const char *cri_error_msg(const struct cri_error *e, int r)
{
        return e->msg[0] ? e->msg : strerror(-r);
}

struct cri_client;

/* endpoint: "unix:///run/containerd/containerd.sock" or a bare absolute path (else -EINVAL).
 * default_timeout_ms is used by calls given timeout_ms <= 0 (<= 0 here: 2 minutes). Does not connect:
 * a missing runtime is reported by the first call, and every call after a broken connection connects
 * anew, so a runtime that came back is reached by the next call. The connection's reader thread
 * ("h2-read", all signals blocked) sleeps in poll() while nothing comes. */
int cri_client_new(const char *endpoint, int64_t default_timeout_ms, struct cri_client **ret);
struct cri_client *cri_client_free(struct cri_client *c);
/* The gRPC target for an endpoint ("unix:///x.sock" or "/x.sock" → "unix:///x.sock"); -EINVAL otherwise. */
int cri_endpoint_target(const char *endpoint, char **ret);
/* The gRPC target actually dialled, e.g. "unix:///run/containerd/containerd.sock". */
const char *cri_client_endpoint(const struct cri_client *c);

/* Who hears of every unary call when it ends (for metrics): the full method name, how long it took and
 * what cri_call returned. Set before the client is shared between threads. */
typedef void (*cri_observer_fn)(void *userdata, const char *method, int64_t duration_us, int result);
void cri_client_set_observer(struct cri_client *c, cri_observer_fn fn, void *userdata);

/* Go-style name of a gRPC status code ("NotFound", "Unavailable"); "Unknown" for codes out of range. */
const char *cri_code_name(int code);

/* One unary call. method: "/runtime.v1.RuntimeService/Version". On success *ret_resp is a message of
 * resp_desc's type (free with protobuf_c_message_free_unpacked(*ret_resp, NULL)) and 0 is returned.
 * On failure returns -EIO (runtime said no: err->code != 0), -ETIMEDOUT (deadline exceeded),
 * -ECONNREFUSED (runtime unavailable), -EBADMSG (bad reply), -ENOMEM; err (may be NULL) is filled.
 * Safe to call from many threads at once. */
int cri_call(struct cri_client *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp, int64_t timeout_ms,
             struct cri_error *err);

/* Several calls at once on the connection (all sent, then all awaited: the time of the slowest, not the
  * sum), each as cri_call would make it: r its result, *ret_resp its reply on success (each the caller's to
 * free, also when another failed). Returns 0 when all succeeded, else the first failure's result (a request
 * that could not be encoded before any reply), with err filled for that one. CRI_REQ makes an entry. */
struct cri_request {
        const char *method;
        const ProtobufCMessage *req;
        const ProtobufCMessageDescriptor *resp_desc;
        ProtobufCMessage **ret_resp;
        int r;
};
int cri_call_many(struct cri_client *c, struct cri_request *reqs, size_t n, int64_t timeout_ms,
                  struct cri_error *err);
#define CRI_REQ(service, rpc, snake, request, reply)                                                        \
        ((struct cri_request){.method = "/runtime.v1." #service "/" #rpc,                                   \
                              .req = &(request)->base,                                                      \
                              .resp_desc = &runtime__v1__##snake##_response__descriptor,                    \
                              .ret_resp = (ProtobufCMessage **) (reply)})

/* Typed call: CRI_CALL(c, RuntimeService, RunPodSandbox, run_pod_sandbox, &req, &resp, timeout_ms, &err)
 * with Runtime__V1__RunPodSandboxRequest req and Runtime__V1__RunPodSandboxResponse *resp. */
/* A count of what may have changed the runtime's containers and sandboxes, in this process's view: every
 * call that is not a plain read (listings, statuses, stats, Version, exec) adds to it when it starts and when
 * it ends, as does every runtime event (cri_generation_bump). Equal before and after a listing, and still
 * equal later: nothing cubelet did or heard of changed it meanwhile. */
uint64_t cri_generation(void);
void cri_generation_bump(void);
/* Whether a call to method ("/runtime.v1.RuntimeService/StopContainer") may change the runtime's state. */
bool cri_method_mutates(const char *method);

#define CRI_CALL(c, service, rpc, snake, req, ret_resp, timeout_ms, err)                                    \
        cri_call((c), "/runtime.v1." #service "/" #rpc, &(req)->base,                                       \
                 &runtime__v1__##snake##_response__descriptor, (ProtobufCMessage **) (ret_resp),            \
                 (timeout_ms), (err))

static inline void cri_free(void *msg)
{
        if (msg)
                protobuf_c_message_free_unpacked((ProtobufCMessage *) msg, NULL);
}
/* For locals: _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL; */
static inline void cri_freep(void *p)
{
        cri_free(*(void **) p);
}
#define _cleanup_cri_ __attribute__((cleanup(cri_freep)))
