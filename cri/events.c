/* containerd event subscription: one thread and one Subscribe stream per subscription, re-established. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "containerd_events.pb-c.h" /* generated at build time from cri/proto/containerd_events.proto */
#include "cri.h"
#include "cri_internal.h"
#include "events.h"
#include "macro.h"

#define EV_METHOD         "/containerd.services.events.v1.Events/Subscribe"
#define EV_DEFAULT_NS     "k8s.io"
#define EV_BACKOFF_MIN_MS 100
#define EV_BACKOFF_MAX_MS 2000
/* containerd's Go gRPC server sends no response headers until the first event, so an idle stream gives
 * no sign of life. We count it as up once its request went out and it has not been refused within this
 * long: a runtime without the service (CRI-O: Unimplemented) or a rejected filter answers within a few
 * milliseconds. By then containerd has in practice registered the subscription too (it does so before
 * its handler waits for events), so a relist done on "up" overlaps the stream rather than leaving a gap;
 * nothing on the wire confirms it, hence "in practice". */
#define EV_SETTLE_MS 100
/* containerd caps namespace names at 76 characters (namespaces.Validate). */
#define EV_NS_MAX 76

/* containerd's type_url for each payload is the bare proto message name. */
#define EV_TYPE_START  "containerd.events.TaskStart"
#define EV_TYPE_EXIT   "containerd.events.TaskExit"
#define EV_TYPE_OOM    "containerd.events.TaskOOM"
#define EV_TYPE_CREATE "containerd.events.ContainerCreate"
#define EV_TYPE_DELETE "containerd.events.ContainerDelete"

/* Filters are ORed with each other; inside one, conditions are ANDed. Plain equality rather than one
 * topic~= regular expression: the same on every containerd release. */
static const char *const ev_topics[] = {"/tasks/start", "/tasks/exit", "/tasks/oom", "/containers/create",
                                        "/containers/delete"};

enum ev_reported { EV_REPORTED_NONE, EV_REPORTED_UP, EV_REPORTED_DOWN };

/* Completion-queue tags; the stream thread has at most one of each outstanding. */
enum ev_tag { EV_TAG_SEND = 1, EV_TAG_RECV, EV_TAG_STATUS, EV_TAG_WATCH };
#define EV_TAG(t) ((void *) (intptr_t) (t))

struct ctd_events {
        char *target; /* "unix:///path" */
        char *ns;
        char *filters[ELEMENTSOF(ev_topics)];
        void (*on_event)(const struct ctd_event *ev, void *userdata);
        void (*on_state)(bool connected, const char *why, void *userdata);
        void *userdata;

        /* The stream thread's only queue: the call's batches and the connectivity watch that both
         * drives reconnecting and serves as an interruptible backoff sleep. */
        grpc_completion_queue *cq;
        pthread_t thread;
        bool thread_started;
        enum ev_reported reported; /* stream thread only */

        pthread_mutex_t lock; /* guards the three below between the stream thread and ctd_events_stop */
        bool stopping;
        grpc_channel *channel; /* destroyed by ctd_events_stop, which wakes a pending watch */
        grpc_call *call;       /* the live Subscribe call, for ctd_events_stop to cancel */
};

static pthread_once_t ev_grpc_once = PTHREAD_ONCE_INIT;

static void ev__grpc_init(void)
{
        /* Never shut down, as in cri.c: the gRPC core lives as long as the process. */
        grpc_init();
}

static int64_t ev__timestamp_ns(const Ctd__V1__Timestamp *ts)
{
        /* Clamp instead of overflowing on nonsense from the wire (year 2262 and beyond). */
        if (!ts || ts->seconds < 0 || ts->seconds >= INT64_MAX / 1000000000 || ts->nanos < 0 ||
            ts->nanos >= 1000000000)
                return 0;
        return ts->seconds * 1000000000 + ts->nanos;
}

/* "containerd.events.TaskExit" or, should a runtime ever use the Google form,
 * "type.googleapis.com/containerd.events.TaskExit". */
static bool ev__type_is(const char *type_url, const char *name)
{
        const char *s = strrchr(type_url, '/');
        return strcmp(s ? s + 1 : type_url, name) == 0;
}

static int ev__decode_payload(const Ctd__V1__Any *any, struct ctd_event *ev, char **ret_container_id)
{
        const ProtobufCMessageDescriptor *desc;
        ProtobufCMessage *m;
        const char *cid;
        char *copy;

        if (ev__type_is(any->type_url, EV_TYPE_EXIT))
                desc = &ctd__v1__task_exit__descriptor;
        else if (ev__type_is(any->type_url, EV_TYPE_START))
                desc = &ctd__v1__task_start__descriptor;
        else if (ev__type_is(any->type_url, EV_TYPE_OOM))
                desc = &ctd__v1__task_oom__descriptor;
        else if (ev__type_is(any->type_url, EV_TYPE_CREATE))
                desc = &ctd__v1__container_create__descriptor;
        else if (ev__type_is(any->type_url, EV_TYPE_DELETE))
                desc = &ctd__v1__container_delete__descriptor;
        else
                return 0;

        m = protobuf_c_message_unpack(desc, NULL, any->value.len, any->value.data);
        if (!m)
                return -EBADMSG;

        *ev = (struct ctd_event){0};
        if (desc == &ctd__v1__task_exit__descriptor) {
                const Ctd__V1__TaskExit *x = (const Ctd__V1__TaskExit *) m;
                /* An exec'd process (exec probe, kubectl exec) exits under its own id; only the init
                 * process ends the container. Older shims leave id empty for the init process. */
                if (x->id[0] && strcmp(x->id, x->container_id) != 0) {
                        protobuf_c_message_free_unpacked(m, NULL);
                        return 0;
                }
                ev->kind = CTD_EVENT_TASK_EXIT;
                ev->pid = x->pid;
                ev->exit_status = x->exit_status;
                ev->exited_at_ns = ev__timestamp_ns(x->exited_at);
                cid = x->container_id;
        } else if (desc == &ctd__v1__task_start__descriptor) {
                const Ctd__V1__TaskStart *s = (const Ctd__V1__TaskStart *) m;
                ev->kind = CTD_EVENT_TASK_START;
                ev->pid = s->pid;
                cid = s->container_id;
        } else if (desc == &ctd__v1__task_oom__descriptor) {
                ev->kind = CTD_EVENT_TASK_OOM;
                cid = ((const Ctd__V1__TaskOOM *) m)->container_id;
        } else if (desc == &ctd__v1__container_create__descriptor) {
                ev->kind = CTD_EVENT_CONTAINER_CREATE;
                cid = ((const Ctd__V1__ContainerCreate *) m)->id;
        } else {
                ev->kind = CTD_EVENT_CONTAINER_DELETE;
                cid = ((const Ctd__V1__ContainerDelete *) m)->id;
        }

        if (!cid[0]) {
                protobuf_c_message_free_unpacked(m, NULL);
                return -EBADMSG;
        }
        copy = strdup(cid);
        protobuf_c_message_free_unpacked(m, NULL);
        if (!copy)
                return -ENOMEM;
        ev->container_id = copy;
        *ret_container_id = copy;
        return 1;
}

int ctd_event_decode(const uint8_t *buf, size_t len, const char *ns, struct ctd_event *ret,
                     char **ret_container_id)
{
        Ctd__V1__Envelope *env;
        struct ctd_event ev;
        char *cid = NULL;
        int r;

        if ((!buf && len > 0) || !ret || !ret_container_id)
                return -EINVAL;
        env = ctd__v1__envelope__unpack(NULL, len, buf);
        if (!env)
                return -EBADMSG;

        if (ns && strcmp(env->namespace_, ns) != 0)
                r = 0; /* the server filters by namespace too; this guards against a filter it ignored */
        else if (!env->event)
                r = 0;
        else
                r = ev__decode_payload(env->event, &ev, &cid);
        ctd__v1__envelope__free_unpacked(env, NULL);
        if (r <= 0)
                return r;

        *ret = ev;
        *ret_container_id = cid;
        return 1;
}

/* containerd's identifier rule (namespaces.Validate): alphanumeric components joined by single '.', '_'
 * or '-'. Anything else could also break out of the quoted filter value. */
static bool ev__namespace_valid(const char *ns)
{
        size_t n = strlen(ns);
        bool sep = true; /* at the start a separator is as wrong as after one */

        if (n == 0 || n > EV_NS_MAX)
                return false;
        for (const char *p = ns; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
                        sep = false;
                else if ((*p == '.' || *p == '_' || *p == '-') && !sep)
                        sep = true;
                else
                        return false;
        }
        return !sep;
}

static bool ev__stopping(struct ctd_events *e)
{
        bool s;

        pthread_mutex_lock(&e->lock);
        s = e->stopping;
        pthread_mutex_unlock(&e->lock);
        return s;
}

static void ev__report(struct ctd_events *e, bool up, const char *why)
{
        enum ev_reported now = up ? EV_REPORTED_UP : EV_REPORTED_DOWN;

        if (e->reported == now)
                return;
        e->reported = now;
        cri_generation_bump(); /* events may have been missed while the stream was down */
        if (e->on_state)
                e->on_state(up, up ? NULL : why, e->userdata);
}

static void ev__deliver(struct ctd_events *e, grpc_byte_buffer *bb)
{
        _cleanup_free_ char *cid = NULL;
        grpc_byte_buffer_reader reader;
        struct ctd_event ev;
        grpc_slice s;
        int r;

        if (!grpc_byte_buffer_reader_init(&reader, bb)) {
                cri_generation_bump(); /* something happened: listings taken before may be old */
                return;                /* undecompressable: not an event we could have used */
        }
        s = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        r = ctd_event_decode(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s), e->ns, &ev, &cid);
        grpc_slice_unref(s);
        /* Listings taken before a container or sandbox event are old; an exec'd process's exit (dropped
         * by the decoder, r == 0) changes nothing listed. */
        if (r != 0)
                cri_generation_bump();
        /* A malformed envelope is dropped: the next relist sees whatever it was about. */
        if (r > 0)
                e->on_event(&ev, e->userdata);
}

static int ev__pack_request(struct ctd_events *e, grpc_byte_buffer **ret)
{
        Ctd__V1__SubscribeRequest req = CTD__V1__SUBSCRIBE_REQUEST__INIT;
        grpc_byte_buffer *bb;
        grpc_slice s;
        size_t len;

        req.n_filters = ELEMENTSOF(e->filters);
        req.filters = e->filters;
        len = ctd__v1__subscribe_request__get_packed_size(&req);
        s = grpc_slice_malloc(len);
        if (ctd__v1__subscribe_request__pack(&req, GRPC_SLICE_START_PTR(s)) != len) {
                grpc_slice_unref(s);
                return -EINVAL;
        }
        bb = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        if (!bb)
                return -ENOMEM;
        *ret = bb;
        return 0;
}

static void ev__why(char *why, size_t size, const char *fmt, ...) _printf_(3, 4);

static void ev__why(char *why, size_t size, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
}

/* Everything one Subscribe attempt owns. */
struct ev__stream {
        grpc_call *call;
        grpc_byte_buffer *send;
        grpc_byte_buffer *recv;
        grpc_metadata_array initial_md;
        grpc_metadata_array trailing_md;
        grpc_status_code status;
        grpc_slice details;
        bool got_status;
        unsigned pending; /* batches started and not yet collected */
};

static void ev__stream_done(struct ev__stream *s)
{
        if (s->call)
                grpc_call_unref(s->call);
        if (s->send)
                grpc_byte_buffer_destroy(s->send);
        if (s->recv)
                grpc_byte_buffer_destroy(s->recv);
        grpc_metadata_array_destroy(&s->initial_md);
        grpc_metadata_array_destroy(&s->trailing_md);
        grpc_slice_unref(s->details);
}

static grpc_call_error ev__start_recv(struct ev__stream *s, bool first)
{
        grpc_op ops[2];
        size_t n = 0;
        grpc_call_error ce;

        memset(ops, 0, sizeof(ops));
        if (first) {
                ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
                ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
        }
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &s->recv;
        ce = grpc_call_start_batch(s->call, ops, n, EV_TAG(EV_TAG_RECV), NULL);
        if (ce == GRPC_CALL_OK)
                s->pending++;
        return ce;
}

/* Starts the call's three batches: the request (sent and half-closed), the status, the first message. */
static grpc_call_error ev__start_call(struct ev__stream *s)
{
        grpc_op send_ops[3], status_op[1];
        grpc_call_error ce;

        memset(send_ops, 0, sizeof(send_ops));
        /* No GRPC_INITIAL_METADATA_WAIT_FOR_READY: while containerd is down the call fails at once
         * and we report it, instead of hanging silently. */
        send_ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        send_ops[1].op = GRPC_OP_SEND_MESSAGE;
        send_ops[1].data.send_message.send_message = s->send;
        send_ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ce = grpc_call_start_batch(s->call, send_ops, ELEMENTSOF(send_ops), EV_TAG(EV_TAG_SEND), NULL);
        if (ce != GRPC_CALL_OK)
                return ce;
        s->pending++;

        memset(status_op, 0, sizeof(status_op));
        status_op[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        status_op[0].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
        status_op[0].data.recv_status_on_client.status = &s->status;
        status_op[0].data.recv_status_on_client.status_details = &s->details;
        ce = grpc_call_start_batch(s->call, status_op, 1, EV_TAG(EV_TAG_STATUS), NULL);
        if (ce != GRPC_CALL_OK)
                return ce;
        s->pending++;

        return ev__start_recv(s, true);
}

static gpr_timespec ev__deadline_ms(int64_t ms)
{
        return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* One Subscribe call, run until it ends. Returns -ECANCELED when stopping; else 0, with *ret_up_ms how
 * long the stream was up (0: it never came up) and why saying how it ended. */
static int ev__attempt(struct ctd_events *e, int64_t *ret_up_ms, char *why, size_t why_size)
{
        _cleanup_(ev__stream_done) struct ev__stream s = {
                .details = grpc_empty_slice(),
                .status = GRPC_STATUS_UNKNOWN,
        };
        gpr_timespec settle = gpr_inf_future(GPR_CLOCK_MONOTONIC), up_since = {0};
        bool settling = false, up = false;
        grpc_call_error ce = GRPC_CALL_OK;
        grpc_slice method;
        grpc_event ev;
        int r;

        *ret_up_ms = 0;
        grpc_metadata_array_init(&s.initial_md);
        grpc_metadata_array_init(&s.trailing_md);

        r = ev__pack_request(e, &s.send);
        if (r < 0) {
                ev__why(why, why_size, "Subscribe: encode request: %s", strerror(-r));
                return r;
        }

        pthread_mutex_lock(&e->lock);
        if (e->stopping) {
                pthread_mutex_unlock(&e->lock);
                return -ECANCELED;
        }
        method = grpc_slice_from_static_string(EV_METHOD);
        /* No deadline: the stream is meant to last as long as containerd does. */
        s.call = grpc_channel_create_call(e->channel, NULL, GRPC_PROPAGATE_DEFAULTS, e->cq, method, NULL,
                                          gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        grpc_slice_unref(method);
        if (s.call) {
                e->call = s.call;
                ce = ev__start_call(&s);
                if (ce != GRPC_CALL_OK)
                        grpc_call_cancel(s.call, NULL); /* ends what did start */
        }
        pthread_mutex_unlock(&e->lock);
        if (!s.call) {
                ev__why(why, why_size, "Subscribe: create call: %s", strerror(ENOMEM));
                return -ENOMEM;
        }

        /* Collect every batch we started, whatever happens: they refer to s. */
        while (s.pending > 0) {
                ev = grpc_completion_queue_next(
                        e->cq, settling ? settle : gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                if (ev.type == GRPC_QUEUE_TIMEOUT) {
                        settling = false;
                        if (!ev__stopping(e)) {
                                up = true;
                                up_since = gpr_now(GPR_CLOCK_MONOTONIC);
                                ev__report(e, true, NULL);
                        }
                        continue;
                }
                if (ev.type != GRPC_OP_COMPLETE)
                        break; /* the queue is shut down only after this thread is joined */
                s.pending--;

                switch ((intptr_t) ev.tag) {
                case EV_TAG_SEND:
                        if (ev.success && !s.got_status && !up) {
                                settling = true;
                                settle = ev__deadline_ms(EV_SETTLE_MS);
                        }
                        break;
                case EV_TAG_STATUS:
                        s.got_status = true;
                        settling = false;
                        break;
                case EV_TAG_RECV:
                        if (!ev.success || !s.recv)
                                break; /* the stream ended; its status follows */
                        if (!up && !ev__stopping(e)) {
                                /* An event proves the subscription sooner than the settle time. */
                                settling = false;
                                up = true;
                                up_since = gpr_now(GPR_CLOCK_MONOTONIC);
                                ev__report(e, true, NULL);
                        }
                        ev__deliver(e, s.recv);
                        grpc_byte_buffer_destroy(TAKE_PTR(s.recv));
                        if (ev__stopping(e))
                                break; /* cancelled already; the status batch still completes */
                        ce = ev__start_recv(&s, false);
                        if (ce != GRPC_CALL_OK)
                                grpc_call_cancel(s.call, NULL);
                        break;
                default:
                        break;
                }
        }

        pthread_mutex_lock(&e->lock);
        e->call = NULL; /* before the unref in ev__stream_done, so stop never cancels a freed call */
        pthread_mutex_unlock(&e->lock);

        if (ev__stopping(e))
                return -ECANCELED;
        if (up)
                *ret_up_ms = gpr_time_to_millis(gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), up_since));

        if (ce != GRPC_CALL_OK)
                ev__why(why, why_size, "Subscribe: start call: %s", grpc_call_error_to_string(ce));
        else if (!s.got_status)
                ev__why(why, why_size, "Subscribe: completion queue shut down");
        else if (s.status == GRPC_STATUS_OK)
                ev__why(why, why_size, "Subscribe: stream ended");
        else
                ev__why(why, why_size, "Subscribe: rpc error: code = %s desc = %.*s",
                        cri_code_name((int) s.status), (int) GRPC_SLICE_LENGTH(s.details),
                        (const char *) GRPC_SLICE_START_PTR(s.details));
        return 0;
}

/* Waits ms while keeping the channel reconnecting. Returns early when stopping, and when the channel
 * becomes READY having not been at the start: containerd is back, no point waiting longer. */
static void ev__backoff(struct ctd_events *e, int64_t ms)
{
        gpr_timespec until = ev__deadline_ms(ms);
        bool first = true, was_ready = false;
        grpc_connectivity_state st;
        grpc_event ev;

        for (;;) {
                pthread_mutex_lock(&e->lock);
                if (e->stopping) {
                        pthread_mutex_unlock(&e->lock);
                        return;
                }
                st = grpc_channel_check_connectivity_state(e->channel, 1);
                if (first)
                        was_ready = st == GRPC_CHANNEL_READY;
                else if (st == GRPC_CHANNEL_READY && !was_ready) {
                        pthread_mutex_unlock(&e->lock);
                        return;
                }
                first = false;
                /* Fires on the next state change, at until, or when ctd_events_stop destroys the
                 * channel. Waiting on it is what polls the channel's reconnection attempts. */
                grpc_channel_watch_connectivity_state(e->channel, st, until, e->cq, EV_TAG(EV_TAG_WATCH));
                pthread_mutex_unlock(&e->lock);

                ev = grpc_completion_queue_next(e->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                if (ev.type != GRPC_OP_COMPLETE)
                        return;
                if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), until) >= 0)
                        return;
        }
}

static void *ev__run(void *p)
{
        struct ctd_events *e = p;
        int64_t backoff = EV_BACKOFF_MIN_MS, up_ms;
        char why[1024];

        for (;;) {
                if (ev__attempt(e, &up_ms, why, sizeof(why)) == -ECANCELED)
                        break;
                ev__report(e, false, why);
                /* Only a stream that lived a while resets the backoff, so one that is refused right
                 * after coming up is not retried ten times a second. */
                if (up_ms >= EV_BACKOFF_MAX_MS)
                        backoff = EV_BACKOFF_MIN_MS;
                ev__backoff(e, backoff);
                backoff = MIN(backoff * 2, (int64_t) EV_BACKOFF_MAX_MS);
        }
        return NULL;
}

static int ev__create_channel(struct ctd_events *e)
{
        e->channel = cri__channel_new(e->target); /* cri.c's settings: fast reconnect, no proxy */
        return e->channel ? 0 : -ENOMEM;
}

int ctd_events_start(const struct ctd_events_config *cfg, struct ctd_events **ret)
{
        _cleanup_free_ char *target = NULL;
        struct ctd_events *e;
        sigset_t all, old;
        const char *ns;
        int r;

        if (!cfg || !cfg->on_event || !ret)
                return -EINVAL;
        ns = cfg->namespace_ ? cfg->namespace_ : EV_DEFAULT_NS;
        if (!ev__namespace_valid(ns))
                return -EINVAL;
        r = cri_endpoint_target(cfg->endpoint, &target);
        if (r < 0)
                return r;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        pthread_mutex_init(&e->lock, NULL);
        e->target = TAKE_PTR(target);
        e->on_event = cfg->on_event;
        e->on_state = cfg->on_state;
        e->userdata = cfg->userdata;
        e->ns = strdup(ns);
        if (!e->ns) {
                ctd_events_stop(e);
                return -ENOMEM;
        }
        for (size_t i = 0; i < ELEMENTSOF(ev_topics); i++)
                if (asprintf(&e->filters[i], "topic==\"%s\",namespace==\"%s\"", ev_topics[i], ns) < 0) {
                        e->filters[i] = NULL;
                        ctd_events_stop(e);
                        return -ENOMEM;
                }

        pthread_once(&ev_grpc_once, ev__grpc_init);
        r = ev__create_channel(e);
        if (r < 0) {
                ctd_events_stop(e);
                return r;
        }
        e->cq = grpc_completion_queue_create_for_next(NULL);
        if (!e->cq) {
                ctd_events_stop(e);
                return -ENOMEM;
        }

        /* Signals belong to the agent's loop thread. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&e->thread, NULL, ev__run, e);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                ctd_events_stop(e);
                return -r;
        }
        e->thread_started = true;
        (void) pthread_setname_np(e->thread, "ctd-events");

        *ret = e;
        return 0;
}

struct ctd_events *ctd_events_stop(struct ctd_events *e)
{
        grpc_event ev;

        if (!e)
                return NULL;
        if (e->thread_started) {
                pthread_mutex_lock(&e->lock);
                e->stopping = true;
                if (e->call)
                        grpc_call_cancel(e->call, NULL);
                /* Fires a pending connectivity watch (backoff); the call keeps its own reference. */
                if (e->channel)
                        grpc_channel_destroy(TAKE_PTR(e->channel));
                pthread_mutex_unlock(&e->lock);
                pthread_join(e->thread, NULL);
        }
        if (e->channel)
                grpc_channel_destroy(e->channel);
        if (e->cq) {
                grpc_completion_queue_shutdown(e->cq);
                do
                        ev = grpc_completion_queue_next(e->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                while (ev.type != GRPC_QUEUE_SHUTDOWN);
                grpc_completion_queue_destroy(e->cq);
        }
        pthread_mutex_destroy(&e->lock);
        for (size_t i = 0; i < ELEMENTSOF(e->filters); i++)
                free(e->filters[i]);
        free(e->ns);
        free(e->target);
        free(e);
        return NULL;
}
