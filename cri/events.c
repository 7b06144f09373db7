/* containerd event subscription: one thread and one Subscribe stream per subscription, re-established. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerd_events.pb-c.h" /* generated at build time from cri/proto/containerd_events.proto */
#include "cri.h"
#include "events.h"
#include "h2.h"
#include "macro.h"
#include "util.h"

#define EV_METHOD         "/containerd.services.events.v1.Events/Subscribe"
#define EV_DEFAULT_NS     "k8s.io"
#define EV_BACKOFF_MIN_MS 100
#define EV_BACKOFF_MAX_MS 1000
/* containerd's Go gRPC server sends no response headers until the first event, so an idle stream gives
 * no sign of life. We count it as up once its request went out and it has not been refused within this
 * long: a runtime without the service (CRI-O: Unimplemented) or a rejected filter answers within a few
 * milliseconds. By then containerd has in practice registered the subscription too (it does so before
 * its handler waits for events), so a relist done on "up" overlaps the stream rather than leaving a gap;
 * nothing on the wire confirms it, hence "in practice". */
#define EV_SETTLE_MS 100
/* containerd caps namespace names at 76 characters (namespaces.Validate). */
#define EV_NS_MAX 76
/* A runtime that takes the connection but sends no SETTINGS within this long is not up (hung). */
#define EV_READY_MS 5000
/* An event envelope is a few hundred octets; anything near this is not one. */
#define EV_MAX_MSG (4 * 1024 * 1024)

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

struct ctd_events {
        char *target; /* "unix:///path" */
        char *ns;
        char *filters[ELEMENTSOF(ev_topics)];
        void (*on_event)(const struct ctd_event *ev, void *userdata);
        void (*on_state)(bool connected, const char *why, void *userdata);
        void *userdata;

        struct h2_conn *conn;
        pthread_t thread;
        bool thread_started;
        enum ev_reported reported; /* stream thread only */

        pthread_mutex_t lock; /* guards the three below between the stream thread and ctd_events_stop */
        pthread_cond_t cond;  /* wakes the backoff when stopping */
        bool stopping;
        struct h2_call *call; /* the live Subscribe call, for ctd_events_stop to cancel */
};

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

static void ev__deliver(struct ctd_events *e, const uint8_t *msg, size_t len)
{
        _cleanup_free_ char *cid = NULL;
        struct ctd_event ev;
        int r = ctd_event_decode(msg, len, e->ns, &ev, &cid);
        /* Listings taken before a container or sandbox event are old; an exec'd process's exit (dropped
         * by the decoder, r == 0) changes nothing listed. */
        if (r != 0)
                cri_generation_bump();
        /* A malformed envelope is dropped: the next relist sees whatever it was about. */
        if (r > 0)
                e->on_event(&ev, e->userdata);
}

static int ev__pack_request(struct ctd_events *e, uint8_t **ret, size_t *ret_len)
{
        Ctd__V1__SubscribeRequest req = CTD__V1__SUBSCRIBE_REQUEST__INIT;
        req.n_filters = ELEMENTSOF(e->filters);
        req.filters = e->filters;
        size_t len = ctd__v1__subscribe_request__get_packed_size(&req);
        uint8_t *b = malloc(len ? len : 1);
        if (!b)
                return -ENOMEM;
        if (ctd__v1__subscribe_request__pack(&req, b) != len) {
                free(b);
                return -EINVAL;
        }
        *ret = b;
        *ret_len = len;
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
/* One Subscribe call, run until it ends. Returns -ECANCELED when stopping; else 0, with *ret_up_ms how
 * long the stream was up (0: it never came up) and why saying how it ended. */
static int ev__attempt(struct ctd_events *e, int64_t *ret_up_ms, char *why, size_t why_size)
{
        _cleanup_free_ uint8_t *req = NULL;
        struct h2_status st = {0};
        struct h2_call *call = NULL;
        int64_t up_since = 0;
        bool up = false;
        size_t req_len;
        int r;

        *ret_up_ms = 0;
        r = ev__pack_request(e, &req, &req_len);
        if (r < 0) {
                ev__why(why, why_size, "Subscribe: encode request: %s", strerror(-r));
                return r;
        }
        /* A runtime that is down fails this at once, and we report it, instead of hanging silently; one
         * that takes the connection but does not answer (hung) is not up either. A little at a time, so
         * that a stop is not held up. */
        int64_t until = now_mono_ms() + EV_READY_MS;
        for (;;) {
                if (ev__stopping(e))
                        return -ECANCELED;
                r = h2_conn_wait_ready(e->conn, MIN(until, now_mono_ms() + 250), &st);
                if (r == 0)
                        break;
                if (r == -ETIMEDOUT && now_mono_ms() < until)
                        continue;
                if (r == -ETIMEDOUT)
                        ev__why(why, why_size,
                                "Subscribe: rpc error: code = Unavailable desc = the runtime sent no HTTP/2 "
                                "SETTINGS within %d ms",
                                EV_READY_MS);
                else
                        ev__why(why, why_size, "Subscribe: rpc error: code = %s desc = %s",
                                cri_code_name(st.code), st.msg);
                return ev__stopping(e) ? -ECANCELED : 0;
        }
        /* No deadline: the stream is meant to last as long as containerd does. */
        r = h2_stream_start(e->conn, EV_METHOD, req, req_len, EV_MAX_MSG, &call, &st);
        if (r < 0) {
                ev__why(why, why_size, "Subscribe: rpc error: code = %s desc = %s", cri_code_name(st.code),
                        st.msg);
                return ev__stopping(e) ? -ECANCELED : 0;
        }
        pthread_mutex_lock(&e->lock);
        if (e->stopping)
                h2_stream_cancel(call);
        e->call = call;
        pthread_mutex_unlock(&e->lock);

        int64_t settle = now_mono_ms() + EV_SETTLE_MS;
        for (;;) {
                _cleanup_free_ uint8_t *msg = NULL;
                size_t len;
                r = h2_stream_next(call, up ? INT64_MAX : settle, &msg, &len, &st);
                if (r == -ETIMEDOUT) { /* settled: not refused */
                        if (!ev__stopping(e)) {
                                up = true;
                                up_since = now_mono_ms();
                                ev__report(e, true, NULL);
                        }
                        continue;
                }
                if (r <= 0)
                        break; /* the call ended; st says how */
                if (!up && !ev__stopping(e)) {
                        /* An event proves the subscription sooner than the settle time. */
                        up = true;
                        up_since = now_mono_ms();
                        ev__report(e, true, NULL);
                }
                ev__deliver(e, msg, len);
        }

        pthread_mutex_lock(&e->lock);
        e->call = NULL; /* before the free, so stop never cancels a freed call */
        pthread_mutex_unlock(&e->lock);
        h2_stream_free(call);
        if (ev__stopping(e))
                return -ECANCELED;
        if (up)
                *ret_up_ms = now_mono_ms() - up_since;
        if (st.code == H2_OK)
                ev__why(why, why_size, "Subscribe: stream ended");
        else
                ev__why(why, why_size, "Subscribe: rpc error: code = %s desc = %s", cri_code_name(st.code),
                        st.msg);
        return 0;
}

/* Waits ms, or less when stopping. The next attempt connects anew: a runtime that came back meanwhile is
 * found then. */
static void ev__backoff(struct ctd_events *e, int64_t ms)
{
        int64_t until = now_mono_ms() + ms;
        pthread_mutex_lock(&e->lock);
        while (!e->stopping) {
                int64_t left = until - now_mono_ms();
                if (left <= 0)
                        break;
                cond_wait_ms(&e->cond, &e->lock, left);
        }
        pthread_mutex_unlock(&e->lock);
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
        cond_init_monotonic(&e->cond);
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
        r = h2_conn_new(e->target, &e->conn);
        if (r < 0) {
                ctd_events_stop(e);
                return r;
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
        if (!e)
                return NULL;
        if (e->thread_started) {
                pthread_mutex_lock(&e->lock);
                e->stopping = true;
                if (e->call)
                        h2_stream_cancel(e->call);
                pthread_cond_broadcast(&e->cond); /* a backoff in progress */
                pthread_mutex_unlock(&e->lock);
                pthread_join(e->thread, NULL);
        }
        h2_conn_free(e->conn);
        pthread_mutex_destroy(&e->lock);
        pthread_cond_destroy(&e->cond);
        for (size_t i = 0; i < ELEMENTSOF(e->filters); i++)
                free(e->filters[i]);
        free(e->ns);
        free(e->target);
        free(e);
        return NULL;
}
