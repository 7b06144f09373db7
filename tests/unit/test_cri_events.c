/* Tests for the containerd event stream: decoding, a fake events server, and (as root) real containerd. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "containerd_events.pb-c.h"
#include "cri.h"
#include "events.h"
#include "macro.h"
#include "pleg.h"
#include "util.h"

#define NS         "k8s.io"
#define METHOD     "/containerd.services.events.v1.Events/Subscribe"
#define TYPE_START "containerd.events.TaskStart"
#define TYPE_EXIT  "containerd.events.TaskExit"
#define TYPE_OOM   "containerd.events.TaskOOM"

extern char **environ;

/* base/util.h has the monotonic clock. */
static int64_t now_ms(void)
{
        return now_mono_ms();
}

static int64_t now_real_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* ---- envelopes ------------------------------------------------------------------------------- */

/* Packs payload (a TaskStart/TaskExit/TaskOOM or anything else) into an Envelope. */
static size_t pack_envelope(const char *ns, const char *topic, const char *type_url,
                            const ProtobufCMessage *payload, uint8_t **ret)
{
        Ctd__V1__Envelope env = CTD__V1__ENVELOPE__INIT;
        Ctd__V1__Timestamp ts = CTD__V1__TIMESTAMP__INIT;
        Ctd__V1__Any any = CTD__V1__ANY__INIT;
        uint8_t *value = NULL, *buf;
        size_t len;

        ts.seconds = 1700000000;
        env.timestamp = &ts;
        env.namespace_ = (char *) ns;
        env.topic = (char *) topic;
        if (type_url) {
                any.type_url = (char *) type_url;
                if (payload) {
                        any.value.len = protobuf_c_message_get_packed_size(payload);
                        value = malloc(any.value.len + 1);
                        assert_non_null(value);
                        assert_int_equal(protobuf_c_message_pack(payload, value), any.value.len);
                        any.value.data = value;
                }
                env.event = &any;
        }
        len = ctd__v1__envelope__get_packed_size(&env);
        buf = malloc(len + 1);
        assert_non_null(buf);
        assert_int_equal(ctd__v1__envelope__pack(&env, buf), len);
        free(value);
        *ret = buf;
        return len;
}

static size_t pack_exit(const char *ns, const char *cid, const char *id, uint32_t status, uint8_t **ret)
{
        Ctd__V1__TaskExit x = CTD__V1__TASK_EXIT__INIT;
        Ctd__V1__Timestamp at = CTD__V1__TIMESTAMP__INIT;

        at.seconds = 1700000001;
        at.nanos = 123456789;
        x.container_id = (char *) cid;
        x.id = (char *) id;
        x.pid = 4242;
        x.exit_status = status;
        x.exited_at = &at;
        return pack_envelope(ns, "/tasks/exit", TYPE_EXIT, &x.base, ret);
}

static size_t pack_start(const char *ns, const char *cid, uint8_t **ret)
{
        Ctd__V1__TaskStart s = CTD__V1__TASK_START__INIT;

        s.container_id = (char *) cid;
        s.pid = 77;
        return pack_envelope(ns, "/tasks/start", TYPE_START, &s.base, ret);
}

/* ---- decoding ------------------------------------------------------------------------------- */

static void test_decode_exit(void **state)
{
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ char *cid = NULL;
        struct ctd_event ev;
        size_t len = pack_exit(NS, "c1", "c1", 7, &buf);

        assert_int_equal(ctd_event_decode(buf, len, NS, &ev, &cid), 1);
        assert_int_equal(ev.kind, CTD_EVENT_TASK_EXIT);
        assert_string_equal(ev.container_id, "c1");
        assert_ptr_equal(ev.container_id, cid);
        assert_int_equal(ev.exit_status, 7);
        assert_int_equal(ev.pid, 4242);
        assert_int_equal(ev.exited_at_ns, INT64_C(1700000001123456789));
}

static void test_decode_start_oom(void **state)
{
        _cleanup_free_ uint8_t *buf = NULL, *buf2 = NULL;
        _cleanup_free_ char *cid = NULL, *cid2 = NULL;
        Ctd__V1__TaskOOM oom = CTD__V1__TASK_OOM__INIT;
        struct ctd_event ev;
        size_t len = pack_start(NS, "c2", &buf);

        assert_int_equal(ctd_event_decode(buf, len, NS, &ev, &cid), 1);
        assert_int_equal(ev.kind, CTD_EVENT_TASK_START);
        assert_string_equal(ev.container_id, "c2");
        assert_int_equal(ev.pid, 77);
        assert_int_equal(ev.exited_at_ns, 0);

        oom.container_id = (char *) "c3";
        len = pack_envelope(NS, "/tasks/oom", TYPE_OOM, &oom.base, &buf2);
        assert_int_equal(ctd_event_decode(buf2, len, NULL, &ev, &cid2), 1);
        assert_int_equal(ev.kind, CTD_EVENT_TASK_OOM);
        assert_string_equal(ev.container_id, "c3");
}

/* A container's (or sandbox's) creation and removal: the id is all that is read. */
static void test_decode_container(void **state)
{
        _cleanup_free_ uint8_t *buf = NULL, *buf2 = NULL;
        _cleanup_free_ char *cid = NULL, *cid2 = NULL;
        Ctd__V1__ContainerCreate c = CTD__V1__CONTAINER_CREATE__INIT;
        Ctd__V1__ContainerDelete d = CTD__V1__CONTAINER_DELETE__INIT;
        struct ctd_event ev;
        size_t len;

        c.id = (char *) "sb1";
        len = pack_envelope(NS, "/containers/create", "containerd.events.ContainerCreate", &c.base, &buf);
        assert_int_equal(ctd_event_decode(buf, len, NS, &ev, &cid), 1);
        assert_int_equal(ev.kind, CTD_EVENT_CONTAINER_CREATE);
        assert_string_equal(ev.container_id, "sb1");
        assert_int_equal(ev.pid, 0);

        d.id = (char *) "c9";
        len = pack_envelope(NS, "/containers/delete", "containerd.events.ContainerDelete", &d.base, &buf2);
        assert_int_equal(ctd_event_decode(buf2, len, NS, &ev, &cid2), 1);
        assert_int_equal(ev.kind, CTD_EVENT_CONTAINER_DELETE);
        assert_string_equal(ev.container_id, "c9");

        /* An empty id is no event we could act on. */
        uint8_t *b3;
        d.id = (char *) "";
        len = pack_envelope(NS, "/containers/delete", "containerd.events.ContainerDelete", &d.base, &b3);
        char *cid3 = NULL;
        assert_int_equal(ctd_event_decode(b3, len, NS, &ev, &cid3), -EBADMSG);
        free(b3);
}

/* Envelopes that are valid but not for us: nothing is returned and the outputs are untouched. */
static void test_decode_ignored(void **state)
{
        Ctd__V1__TaskStart del = CTD__V1__TASK_START__INIT;
        struct ctd_event ev = {.exit_status = 99};
        char *cid = (char *) "untouched";
        uint8_t *buf;
        size_t len;

        len = pack_exit("moby", "c1", "c1", 1, &buf); /* another namespace */
        assert_int_equal(ctd_event_decode(buf, len, NS, &ev, &cid), 0);
        free(buf);

        len = pack_exit(NS, "c1", "exec-1", 3, &buf); /* an exec'd process, not the container */
        assert_int_equal(ctd_event_decode(buf, len, NS, &ev, &cid), 0);
        free(buf);

        del.container_id = (char *) "c1";
        len = pack_envelope(NS, "/tasks/delete", "containerd.events.TaskDelete", &del.base, &buf);
        assert_int_equal(ctd_event_decode(buf, len, NS, &ev, &cid), 0);
        free(buf);

        len = pack_envelope(NS, "/tasks/exit", NULL, NULL, &buf); /* no payload */
        assert_int_equal(ctd_event_decode(buf, len, NS, &ev, &cid), 0);
        free(buf);

        assert_int_equal(ev.exit_status, 99);
        assert_string_equal(cid, "untouched");
}

static void test_decode_variants(void **state)
{
        _cleanup_free_ uint8_t *buf = NULL, *buf2 = NULL;
        _cleanup_free_ char *cid = NULL, *cid2 = NULL;
        Ctd__V1__TaskStart s = CTD__V1__TASK_START__INIT;
        struct ctd_event ev;
        size_t len;

        /* Older shims leave the init process's id empty. */
        len = pack_exit(NS, "c4", "", 0, &buf);
        assert_int_equal(ctd_event_decode(buf, len, NS, &ev, &cid), 1);
        assert_int_equal(ev.kind, CTD_EVENT_TASK_EXIT);
        assert_string_equal(cid, "c4");

        /* The Google type URL form. */
        s.container_id = (char *) "c5";
        len = pack_envelope(NS, "/tasks/start", "type.googleapis.com/" TYPE_START, &s.base, &buf2);
        assert_int_equal(ctd_event_decode(buf2, len, NS, &ev, &cid2), 1);
        assert_string_equal(cid2, "c5");
}

static void test_decode_bad(void **state)
{
        static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
        Ctd__V1__Envelope env = CTD__V1__ENVELOPE__INIT;
        Ctd__V1__Any any = CTD__V1__ANY__INIT;
        Ctd__V1__TaskStart s = CTD__V1__TASK_START__INIT;
        uint8_t junk[] = {0x08, 0x80}; /* truncated varint */
        uint8_t buf[256];
        struct ctd_event ev;
        char *cid = NULL;
        size_t len;

        assert_int_equal(ctd_event_decode(garbage, sizeof(garbage), NS, &ev, &cid), -EBADMSG);

        /* A TaskExit type whose bytes are not one. */
        any.type_url = (char *) TYPE_EXIT;
        any.value.data = junk;
        any.value.len = sizeof(junk);
        env.namespace_ = (char *) NS;
        env.event = &any;
        len = ctd__v1__envelope__pack(&env, buf);
        assert_int_equal(ctd_event_decode(buf, len, NS, &ev, &cid), -EBADMSG);

        /* A start without a container id. */
        uint8_t *b2;
        len = pack_envelope(NS, "/tasks/start", TYPE_START, &s.base, &b2);
        assert_int_equal(ctd_event_decode(b2, len, NS, &ev, &cid), -EBADMSG);
        free(b2);

        assert_int_equal(ctd_event_decode(NULL, 5, NS, &ev, &cid), -EINVAL);
        assert_int_equal(ctd_event_decode(buf, len, NS, NULL, &cid), -EINVAL);
        assert_null(cid);
}

/* ---- recording callbacks ---------------------------------------------------------------------- */

struct rec_event {
        enum ctd_event_kind kind;
        char cid[128];
        uint32_t exit_status;
        int64_t exited_at_ns;
        int64_t recv_real_us;
        int64_t recv_ms;
};

struct recorder {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct rec_event ev[64];
        size_t n_ev;
        int ups, downs;
        int repeats; /* two ups or two downs in a row, or why missing/present wrongly: must stay 0 */
        bool connected;
        char why[1024];
};

static void rec_init(struct recorder *r)
{
        pthread_condattr_t a;

        memset(r, 0, sizeof(*r));
        pthread_mutex_init(&r->lock, NULL);
        pthread_condattr_init(&a);
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        pthread_cond_init(&r->cond, &a);
        pthread_condattr_destroy(&a);
}

static void rec_destroy(struct recorder *r)
{
        assert_int_equal(r->repeats, 0);
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
}

static void rec_on_event(const struct ctd_event *ev, void *userdata)
{
        struct recorder *r = userdata;

        pthread_mutex_lock(&r->lock);
        if (r->n_ev < ELEMENTSOF(r->ev)) {
                struct rec_event *x = &r->ev[r->n_ev++];
                x->kind = ev->kind;
                snprintf(x->cid, sizeof(x->cid), "%s", ev->container_id);
                x->exit_status = ev->exit_status;
                x->exited_at_ns = ev->exited_at_ns;
                x->recv_real_us = now_real_us();
                x->recv_ms = now_ms();
        }
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
}

static void rec_on_state(bool connected, const char *why, void *userdata)
{
        struct recorder *r = userdata;

        pthread_mutex_lock(&r->lock);
        /* Changes only. (No cmocka asserts here: this is the stream thread.) */
        if ((r->ups + r->downs > 0 && connected == r->connected) || connected != !why)
                r->repeats++;
        r->connected = connected;
        if (connected)
                r->ups++;
        else {
                snprintf(r->why, sizeof(r->why), "%s", why ? why : "(null)");
                r->downs++;
        }
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
}

static void rec_wait(struct recorder *r, int64_t until_ms)
{
        struct timespec ts = {.tv_sec = until_ms / 1000, .tv_nsec = (long) (until_ms % 1000) * 1000000};
        pthread_cond_timedwait(&r->cond, &r->lock, &ts);
}

/* Waits until at least n ups (or downs) were reported; false after timeout_ms. */
static bool rec_wait_state(struct recorder *r, bool up, int n, int64_t timeout_ms)
{
        int64_t until = now_ms() + timeout_ms;
        bool ok;

        pthread_mutex_lock(&r->lock);
        while (!(ok = (up ? r->ups : r->downs) >= n) && now_ms() < until)
                rec_wait(r, until);
        pthread_mutex_unlock(&r->lock);
        return ok;
}

/* Waits for an event of kind for cid at index >= from; copies it to *ret. */
static bool rec_wait_event(struct recorder *r, enum ctd_event_kind kind, const char *cid, size_t from,
                           int64_t timeout_ms, struct rec_event *ret)
{
        int64_t until = now_ms() + timeout_ms;

        pthread_mutex_lock(&r->lock);
        for (;;) {
                for (size_t i = from; i < r->n_ev; i++)
                        if (r->ev[i].kind == kind && strcmp(r->ev[i].cid, cid) == 0) {
                                if (ret)
                                        *ret = r->ev[i];
                                pthread_mutex_unlock(&r->lock);
                                return true;
                        }
                if (now_ms() >= until)
                        break;
                rec_wait(r, until);
        }
        pthread_mutex_unlock(&r->lock);
        return false;
}

static size_t rec_count(struct recorder *r)
{
        size_t n;

        pthread_mutex_lock(&r->lock);
        n = r->n_ev;
        pthread_mutex_unlock(&r->lock);
        return n;
}

static struct ctd_events *subscribe(const char *endpoint, struct recorder *r)
{
        struct ctd_events_config cfg = {
                .endpoint = endpoint,
                .namespace_ = NS,
                .on_event = rec_on_event,
                .on_state = rec_on_state,
                .userdata = r,
        };
        struct ctd_events *e = NULL;

        assert_int_equal(ctd_events_start(&cfg, &e), 0);
        assert_non_null(e);
        return e;
}

/* Stops e and returns how long that took. */
static int64_t timed_stop(struct ctd_events *e)
{
        int64_t t0 = now_ms();
        assert_null(ctd_events_stop(e));
        return now_ms() - t0;
}

/* ---- argument checks, absent runtime ---------------------------------------------------------- */

static void test_start_invalid(void **state)
{
        struct ctd_events_config cfg = {.endpoint = "/run/x.sock", .on_event = rec_on_event};
        static const char *const bad_ns[] = {"", "a b", "k8s..io", ".k8s", "k8s-", "a\"b", "x,namespace"};
        struct ctd_events *e = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bad_ns); i++) {
                cfg.namespace_ = bad_ns[i];
                assert_int_equal(ctd_events_start(&cfg, &e), -EINVAL);
        }
        cfg.namespace_ = NULL;
        cfg.endpoint = "run/x.sock";
        assert_int_equal(ctd_events_start(&cfg, &e), -EINVAL);
        cfg.endpoint = NULL;
        assert_int_equal(ctd_events_start(&cfg, &e), -EINVAL);
        cfg.endpoint = "/run/x.sock";
        cfg.on_event = NULL;
        assert_int_equal(ctd_events_start(&cfg, &e), -EINVAL);
        assert_int_equal(ctd_events_start(NULL, &e), -EINVAL);
        assert_null(e);
        assert_null(ctd_events_stop(NULL));
}

/* Nothing listens: one down report with the reason, no flapping, and a prompt stop during backoff. */
static void test_absent(void **state)
{
        struct recorder r;
        struct ctd_events *e;
        char path[108];

        snprintf(path, sizeof(path), "/tmp/ctd-ev-test-%d-absent.sock", (int) getpid());
        unlink(path);
        rec_init(&r);
        e = subscribe(path, &r);
        assert_true(rec_wait_state(&r, false, 1, 2000));
        assert_non_null(strstr(r.why, "Unavailable"));
        sleep_ms(1500); /* several retries */
        assert_int_equal(r.downs, 1);
        assert_int_equal(r.ups, 0);
        assert_true(timed_stop(e) < 1000);
        rec_destroy(&r);
}

/* ---- a fake events server (gRPC core server API, in process) ------------------------------------- */

static char TAG_NEW, TAG_OP, TAG_CLOSE, TAG_SHUTDOWN;

/* For the server thread, where cmocka's asserts cannot be used. */
#define CHECK(x)                                                                                            \
        do {                                                                                                \
                if (!(x)) {                                                                                 \
                        fprintf(stderr, "%s:%d: fake server: check failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                            \
                }                                                                                           \
        } while (0)

struct fake {
        char path[108];
        grpc_server *server;
        grpc_completion_queue *cq;
        pthread_t thread;
        bool unimplemented; /* answer every call with Unimplemented */
        grpc_slice msgs[8]; /* sent on every Subscribe, then the stream stays open */
        size_t n_msgs;
        pthread_mutex_t lock; /* guards the fields below */
        int calls;
        char filters[8][128];
        size_t n_filters;
};

/* Waits for tag on the server queue; other tags seen meanwhile are noted. */
static bool fake_wait(struct fake *f, void *tag, bool *closed, bool *shutdown, bool *ok)
{
        for (;;) {
                grpc_event ev = grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                if (ev.type != GRPC_OP_COMPLETE)
                        return false;
                if (ev.tag == &TAG_CLOSE)
                        *closed = true;
                else if (ev.tag == &TAG_SHUTDOWN)
                        *shutdown = true;
                if (ev.tag == tag) {
                        if (ok)
                                *ok = ev.success;
                        return true;
                }
        }
}

static void fake_record_request(struct fake *f, grpc_byte_buffer *bb)
{
        grpc_byte_buffer_reader reader;
        Ctd__V1__SubscribeRequest *req;
        grpc_slice s;

        CHECK(grpc_byte_buffer_reader_init(&reader, bb));
        s = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        req = ctd__v1__subscribe_request__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        CHECK(req);
        pthread_mutex_lock(&f->lock);
        f->n_filters = MIN(req->n_filters, ELEMENTSOF(f->filters));
        for (size_t i = 0; i < f->n_filters; i++)
                snprintf(f->filters[i], sizeof(f->filters[i]), "%s", req->filters[i]);
        pthread_mutex_unlock(&f->lock);
        ctd__v1__subscribe_request__free_unpacked(req, NULL);
}

/* Serves one call until the client or the server ends it. Returns false once the server is shutting down. */
static bool fake_serve(struct fake *f, grpc_call *call)
{
        grpc_byte_buffer *req = NULL;
        grpc_status_code code = GRPC_STATUS_OK;
        bool closed = false, shutdown = false, sent_md = false, ok = false;
        int cancelled = 0;
        grpc_op ops[3];
        grpc_slice details;

        pthread_mutex_lock(&f->lock);
        f->calls++;
        pthread_mutex_unlock(&f->lock);

        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[0].data.recv_close_on_server.cancelled = &cancelled;
        CHECK(grpc_call_start_batch(call, ops, 1, &TAG_CLOSE, NULL) == GRPC_CALL_OK);

        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_RECV_MESSAGE;
        ops[0].data.recv_message.recv_message = &req;
        CHECK(grpc_call_start_batch(call, ops, 1, &TAG_OP, NULL) == GRPC_CALL_OK);
        fake_wait(f, &TAG_OP, &closed, &shutdown, NULL);

        if (f->unimplemented || !req)
                code = GRPC_STATUS_UNIMPLEMENTED;
        else {
                fake_record_request(f, req);
                /* Like containerd's Go server: response headers go out with the first event only. */
                for (size_t i = 0; i < f->n_msgs && !closed; i++) {
                        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&f->msgs[i], 1);
                        size_t n = 0;

                        memset(ops, 0, sizeof(ops));
                        if (!sent_md)
                                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
                        ops[n].op = GRPC_OP_SEND_MESSAGE;
                        ops[n++].data.send_message.send_message = bb;
                        CHECK(grpc_call_start_batch(call, ops, n, &TAG_OP, NULL) == GRPC_CALL_OK);
                        fake_wait(f, &TAG_OP, &closed, &shutdown, &ok);
                        grpc_byte_buffer_destroy(bb);
                        sent_md = true;
                }
                /* Idle until the client cancels or the server is stopped (cancel_all_calls). */
                if (!closed)
                        fake_wait(f, &TAG_CLOSE, &closed, &shutdown, NULL);
        }
        if (req)
                grpc_byte_buffer_destroy(req);

        details = grpc_slice_from_static_string(code == GRPC_STATUS_OK ? "" : "unknown service");
        memset(ops, 0, sizeof(ops));
        size_t n = 0;
        if (!sent_md)
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = code;
        ops[n++].data.send_status_from_server.status_details = &details;
        CHECK(grpc_call_start_batch(call, ops, n, &TAG_OP, NULL) == GRPC_CALL_OK);
        fake_wait(f, &TAG_OP, &closed, &shutdown, NULL);
        if (!closed)
                fake_wait(f, &TAG_CLOSE, &closed, &shutdown, NULL);
        return !shutdown;
}

static void *fake_run(void *p)
{
        struct fake *f = p;

        for (;;) {
                grpc_call *call = NULL;
                grpc_call_details d;
                grpc_metadata_array md;
                bool closed = false, shutdown = false, ok = false, more;

                grpc_call_details_init(&d);
                grpc_metadata_array_init(&md);
                if (grpc_server_request_call(f->server, &call, &d, &md, f->cq, f->cq, &TAG_NEW) ==
                    GRPC_CALL_OK)
                        fake_wait(f, &TAG_NEW, &closed, &shutdown, &ok);
                more = ok && call;
                if (more) {
                        CHECK(grpc_slice_str_cmp(d.method, METHOD) == 0);
                        more = fake_serve(f, call);
                }
                if (call)
                        grpc_call_unref(call);
                grpc_call_details_destroy(&d);
                grpc_metadata_array_destroy(&md);
                if (!more || shutdown)
                        break;
        }
        return NULL;
}

static void fake_start(struct fake *f)
{
        grpc_server_credentials *creds;
        char addr[120];

        snprintf(addr, sizeof(addr), "unix:%s", f->path);
        f->server = grpc_server_create(NULL, NULL);
        f->cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(f->server, f->cq, NULL);
        creds = grpc_insecure_server_credentials_create();
        assert_int_not_equal(grpc_server_add_http2_port(f->server, addr, creds), 0);
        grpc_server_credentials_release(creds);
        grpc_server_start(f->server);
        assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

/* As a runtime going away: stop taking calls, cancel the running ones, close. */
static void fake_stop(struct fake *f)
{
        grpc_event ev;

        grpc_server_shutdown_and_notify(f->server, f->cq, &TAG_SHUTDOWN);
        grpc_server_cancel_all_calls(f->server);
        pthread_join(f->thread, NULL);
        grpc_server_destroy(f->server);
        grpc_completion_queue_shutdown(f->cq);
        do
                ev = grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        while (ev.type != GRPC_QUEUE_SHUTDOWN);
        grpc_completion_queue_destroy(f->cq);
        f->server = NULL;
        f->cq = NULL;
}

static void fake_init(struct fake *f, const char *name)
{
        memset(f, 0, sizeof(*f));
        pthread_mutex_init(&f->lock, NULL);
        snprintf(f->path, sizeof(f->path), "/tmp/ctd-ev-test-%d-%s.sock", (int) getpid(), name);
        unlink(f->path);
}

static void fake_add(struct fake *f, uint8_t *buf, size_t len)
{
        assert_true(f->n_msgs < ELEMENTSOF(f->msgs));
        f->msgs[f->n_msgs++] = grpc_slice_from_copied_buffer((const char *) buf, len);
        free(buf);
}

static void fake_destroy(struct fake *f)
{
        for (size_t i = 0; i < f->n_msgs; i++)
                grpc_slice_unref(f->msgs[i]);
        pthread_mutex_destroy(&f->lock);
        unlink(f->path);
}

static int fake_calls(struct fake *f)
{
        int n;

        pthread_mutex_lock(&f->lock);
        n = f->calls;
        pthread_mutex_unlock(&f->lock);
        return n;
}

/* Stream, filters, namespace and exec filtering end to end; a server restart; stop while idle. */
static void test_fake_stream(void **state)
{
        struct fake f;
        struct recorder r;
        struct rec_event x;
        struct ctd_events *e;
        uint8_t *buf;
        size_t len;

        fake_init(&f, "fake");
        len = pack_exit("moby", "other-ns", "other-ns", 1, &buf);
        fake_add(&f, buf, len);
        len = pack_start(NS, "f1", &buf);
        fake_add(&f, buf, len);
        len = pack_exit(NS, "f1", "exec-7", 3, &buf);
        fake_add(&f, buf, len);
        len = pack_exit(NS, "f1", "f1", 9, &buf);
        fake_add(&f, buf, len);
        fake_start(&f);

        rec_init(&r);
        e = subscribe(f.path, &r);
        assert_true(rec_wait_state(&r, true, 1, 2000));
        assert_true(rec_wait_event(&r, CTD_EVENT_TASK_EXIT, "f1", 0, 2000, &x));
        assert_int_equal(x.exit_status, 9); /* the exec's exit (3) was not reported */
        assert_true(rec_wait_event(&r, CTD_EVENT_TASK_START, "f1", 0, 0, NULL));
        assert_int_equal(rec_count(&r), 2);

        pthread_mutex_lock(&f.lock);
        assert_int_equal(f.n_filters, 5);
        assert_string_equal(f.filters[0], "topic==\"/tasks/start\",namespace==\"k8s.io\"");
        assert_string_equal(f.filters[1], "topic==\"/tasks/exit\",namespace==\"k8s.io\"");
        assert_string_equal(f.filters[2], "topic==\"/tasks/oom\",namespace==\"k8s.io\"");
        assert_string_equal(f.filters[3], "topic==\"/containers/create\",namespace==\"k8s.io\"");
        assert_string_equal(f.filters[4], "topic==\"/containers/delete\",namespace==\"k8s.io\"");
        pthread_mutex_unlock(&f.lock);

        /* The server goes away, then comes back on the same socket. */
        fake_stop(&f);
        assert_true(rec_wait_state(&r, false, 1, 2000));
        int64_t t0 = now_ms();
        fake_start(&f);
        assert_true(rec_wait_state(&r, true, 2, 5000));
        print_message("fake: re-subscribed %" PRId64 " ms after the server came back\n", now_ms() - t0);
        assert_true(rec_wait_event(&r, CTD_EVENT_TASK_EXIT, "f1", 2, 2000, NULL));
        assert_int_equal(fake_calls(&f), 2);

        /* The stream is idle now: stop must cancel it. */
        sleep_ms(200);
        assert_true(timed_stop(e) < 1000);
        assert_int_equal(r.downs, 1); /* stopping is not reported as a failure */
        fake_stop(&f);
        fake_destroy(&f);
        rec_destroy(&r);
}

/* An idle stream with no event at all counts as up after the settle time. */
static void test_fake_idle(void **state)
{
        struct fake f;
        struct recorder r;
        struct ctd_events *e;

        fake_init(&f, "idle");
        fake_start(&f);
        rec_init(&r);
        e = subscribe(f.path, &r);
        assert_true(rec_wait_state(&r, true, 1, 2000));
        assert_int_equal(r.downs, 0);
        assert_true(timed_stop(e) < 1000);
        fake_stop(&f);
        fake_destroy(&f);
        rec_destroy(&r);
}

/* A runtime without the events service (CRI-O): down once with the reason, never up, backing off. */
static void test_fake_unimplemented(void **state)
{
        struct fake f;
        struct recorder r;
        struct ctd_events *e;

        fake_init(&f, "unimpl");
        f.unimplemented = true;
        fake_start(&f);
        rec_init(&r);
        e = subscribe(f.path, &r);
        assert_true(rec_wait_state(&r, false, 1, 2000));
        assert_non_null(strstr(r.why, "Unimplemented"));
        sleep_ms(2000);
        /* Never up for good. The refusal comes within milliseconds, but a busy machine can deliver it
         * past the 100 ms a silent stream takes to count as up: then it was up for that moment, and is
         * down again with the reason. */
        pthread_mutex_lock(&r.lock);
        bool connected = r.connected;
        int ups = r.ups, downs = r.downs;
        char why[sizeof r.why];
        memcpy(why, r.why, sizeof why);
        pthread_mutex_unlock(&r.lock);
        print_message("unimplemented: %d ups, %d downs\n", ups, downs);
        assert_false(connected);
        assert_true(downs >= 1 && ups <= downs);
        assert_non_null(strstr(why, "Unimplemented"));
        /* 100, 200, 400, 800 ms of backoff: about 5 attempts in 2 s, not 20. */
        print_message("unimplemented: %d attempts in 2 s\n", fake_calls(&f));
        assert_in_range(fake_calls(&f), 2, 7);
        assert_true(timed_stop(e) < 1000);
        fake_stop(&f);
        fake_destroy(&f);
        rec_destroy(&r);
}

/* ---- real containerd (root only) ------------------------------------------------------------- */

static const char *ctd_skip; /* why the containerd tests cannot run, NULL when they can */
static char ctd_dir[64];
static char ctd_sock[128];
static char ctd_log[128];

#define IMAGE "cubelet.local/busybox:1.35"

static bool in_path(const char *prog)
{
        const char *path = getenv("PATH");
        char buf[4096];

        if (!path)
                path = "/usr/sbin:/usr/bin:/sbin:/bin";
        while (*path) {
                size_t n = strcspn(path, ":");
                snprintf(buf, sizeof(buf), "%.*s/%s", (int) n, path, prog);
                if (access(buf, X_OK) == 0)
                        return true;
                path += n + (path[n] == ':');
        }
        return false;
}

/* Runs argv with stdout and stderr appended to ctd_log; returns its exit status, -1 if it did not exit. */
static int run(const char *const *argv)
{
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status, r;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, ctd_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *) argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -1;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int ctd_start(void)
{
        const char *argv[] = {CUBELET_SOURCE_DIR "/packaging/containerd/start-containerd.sh",
                              "--dir",
                              ctd_dir,
                              "--bridge",
                              "cubev0",
                              "--pod-cidr",
                              "10.252.0.0/24",
                              "--no-forward-guard",
                              NULL};
        return run(argv);
}

static int ctd_stop(bool purge)
{
        const char *argv[] = {CUBELET_SOURCE_DIR "/packaging/containerd/stop-containerd.sh", "--dir",
                              ctd_dir, purge ? "--purge" : NULL, NULL};
        return run(argv);
}

/* ctr run --rm IMAGE id sh -c 'exit status' (in k8s.io, as CRI's containers are). */
/* A container name of this process's own: ctr run's cgroup is /<namespace>/<name> on the host, shared by
 * every containerd, so two test runs side by side (the plain and the sanitizer pass) must not both run
 * "evtest" (one's clean-up killed the other's, seen as ctr exiting 1 instead of the container's status). */
static const char *own_id(const char *base)
{
        static char ids[4][48];
        static int next;
        char *id = ids[next++ % 4];
        snprintf(id, sizeof ids[0], "%s-%d", base, (int) getpid());
        return id;
}

static int ctr_run_exit(const char *id, int status)
{
        char script[32];
        snprintf(script, sizeof(script), "exit %d", status);
        const char *argv[] = {"timeout", "30",  "ctr", "-a", ctd_sock, "-n",   NS,  "run",
                              "--rm",    IMAGE, id,    "sh", "-c",     script, NULL};
        return run(argv);
}

/* timeout 30 ctr -a SOCK -n k8s.io ARGS... */
static int ctr(const char *const *args)
{
        const char *argv[24] = {"timeout", "30", "ctr", "-a", ctd_sock, "-n", NS};
        size_t n = 7;

        for (; *args && n < ELEMENTSOF(argv) - 1; args++)
                argv[n++] = *args;
        return run(argv);
}
#define CTR(...) ctr((const char *const[]){__VA_ARGS__, NULL})

static void dump_log(void)
{
        char line[512];
        FILE *f = fopen(ctd_log, "re");

        if (!f)
                return;
        while (fgets(line, sizeof(line), f))
                print_message("  | %s", line);
        fclose(f);
}

/* A run killed at its timeout leaves its containerd behind (start-containerd.sh detaches it): each run
 * writes its pid into its directory, and a later one stops and removes those whose run is gone. */
static void purge_stale(void)
{
        glob_t g;
        if (glob("/tmp/cubelet-ev.??????", GLOB_ONLYDIR | GLOB_NOSORT, NULL, &g) != 0)
                return;
        /* (A pid reused by another run of this test keeps its directory for one more run.) */
        for (size_t i = 0; i < g.gl_pathc; i++) {
                char owner[64], comm[64] = "";
                snprintf(owner, sizeof owner, "%s/owner", g.gl_pathv[i]);
                _cleanup_free_ char *pid = NULL, *c = NULL;
                if (read_file_limit(owner, 64, &pid, NULL) == 0) {
                        snprintf(owner, sizeof owner, "/proc/%d/comm", atoi(pid));
                        if (read_file_limit(owner, 64, &c, NULL) == 0)
                                snprintf(comm, sizeof comm, "%s", c);
                }
                /* No owner file: a run between its mkdtemp and its start, or one from before owners were
                 * written (gone once it is an hour old). */
                struct stat st;
                if (strncmp(comm, "test_cri_events", 15) == 0 ||
                    (!pid && (stat(g.gl_pathv[i], &st) < 0 || st.st_mtime > time(NULL) - 3600)))
                        continue;
                print_message("removing a killed run's containerd in %s\n", g.gl_pathv[i]);
                /* The bridge stays: another run may have its pods on it (all runs share it). */
                char owned[96];
                snprintf(owned, sizeof owned, "%s/bridge.owned", g.gl_pathv[i]);
                unlink(owned);
                const char *argv[] = {CUBELET_SOURCE_DIR "/packaging/containerd/stop-containerd.sh", "--dir",
                                      g.gl_pathv[i], "--purge", NULL};
                run(argv);
                char log[96];
                snprintf(log, sizeof log, "%s.log", g.gl_pathv[i]);
                unlink(log);
        }
        globfree(&g);
}

static int ctd_group_setup(void **state)
{
        static const char *const progs[] = {"containerd", "ctr", "runc", "containerd-shim-runc-v2", "jq"};

        if (geteuid() != 0) {
                ctd_skip = "needs root to run a private containerd";
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(progs); i++)
                if (!in_path(progs[i])) {
                        ctd_skip = "containerd, ctr, runc, containerd-shim-runc-v2 or jq is not installed";
                        return 0;
                }

        /* Short: containerd's socket path must fit sockaddr_un with ".ttrpc" appended. */
        snprintf(ctd_dir, sizeof(ctd_dir), "/tmp/cubelet-ev.XXXXXX");
        if (!mkdtemp(ctd_dir))
                return -1;
        snprintf(ctd_sock, sizeof(ctd_sock), "%s/containerd.sock", ctd_dir);
        snprintf(ctd_log, sizeof(ctd_log), "%s.log", ctd_dir);
        char owner[96], pid[16];
        snprintf(owner, sizeof owner, "%s/owner", ctd_dir);
        snprintf(pid, sizeof pid, "%d", (int) getpid());
        if (write_file_atomic(owner, pid, strlen(pid), 0644) < 0)
                return -1;
        purge_stale(); /* (its output in our log) */

        setenv("PAUSE_BIN", EV_PAUSE_BIN, 1);
        const char *build[] = {CUBELET_SOURCE_DIR "/packaging/images/build-images.sh", EV_IMAGES_DIR, NULL};
        const char *import[] = {CUBELET_SOURCE_DIR "/packaging/images/import-images.sh", ctd_sock,
                                EV_IMAGES_DIR, NULL};
        if (run(build) != 0 || ctd_start() != 0 || run(import) != 0) {
                print_message("containerd set-up failed; log %s:\n", ctd_log);
                dump_log();
                ctd_stop(true);
                return -1;
        }
        return 0;
}

static int ctd_group_teardown(void **state)
{
        if (ctd_skip)
                return 0;
        if (ctd_stop(true) != 0) {
                dump_log();
                return -1;
        }
        unlink(ctd_log);
        return 0;
}

#define NEED_CONTAINERD()                                                                                   \
        do {                                                                                                \
                if (ctd_skip) {                                                                             \
                        print_message("skipped: %s\n", ctd_skip);                                           \
                        skip();                                                                             \
                }                                                                                           \
        } while (0)

/* ctr run a container that exits 7: its start and its exit (with the status) arrive at once. */
static void test_ctd_exit(void **state)
{
        struct recorder r;
        struct rec_event start, x;
        struct ctd_events *e;
        int64_t t_done;

        NEED_CONTAINERD();
        rec_init(&r);
        e = subscribe(ctd_sock, &r);
        assert_true(rec_wait_state(&r, true, 1, 5000));

        const char *id = own_id("evtest");
        assert_int_equal(ctr_run_exit(id, 7), 7);
        t_done = now_ms();
        assert_true(rec_wait_event(&r, CTD_EVENT_CONTAINER_CREATE, id, 0, 5000, NULL));
        assert_true(rec_wait_event(&r, CTD_EVENT_TASK_START, id, 0, 5000, &start));
        assert_true(rec_wait_event(&r, CTD_EVENT_TASK_EXIT, id, 0, 5000, &x));
        /* ctr run --rm removes the container: its deletion is seen too */
        assert_true(rec_wait_event(&r, CTD_EVENT_CONTAINER_DELETE, id, 0, 5000, NULL));
        assert_int_equal(x.exit_status, 7);
        assert_true(x.exited_at_ns > 0);
        print_message("containerd: exit seen %.3f ms after the shim stamped it (exited_at); "
                      "%" PRId64 " ms before ctr run --rm returned\n",
                      (double) (x.recv_real_us * 1000 - x.exited_at_ns) / 1e6, t_done - x.recv_ms);

        /* An exec'd process's exit is not the container's: only the SIGKILL of the init is reported. */
        size_t from = rec_count(&r);
        assert_int_equal(CTR("run", "-d", IMAGE, "evexec", "sleep", "60"), 0);
        assert_int_equal(CTR("tasks", "exec", "--exec-id", "ex1", "evexec", "sh", "-c", "exit 3"), 3);
        assert_int_equal(CTR("tasks", "kill", "-s", "SIGKILL", "evexec"), 0);
        assert_true(rec_wait_event(&r, CTD_EVENT_TASK_EXIT, "evexec", from, 5000, &x));
        assert_int_equal(x.exit_status, 137);
        assert_int_equal(CTR("tasks", "delete", "evexec"), 0);
        assert_int_equal(CTR("containers", "delete", "evexec"), 0);

        assert_true(timed_stop(e) < 1000);
        assert_int_equal(r.downs, 0);
        rec_destroy(&r);
}

/* containerd restarts: down is reported, up again within 5 s, and exits are seen again. A subscription
 * that is in backoff while containerd is down stops promptly. */
static void test_ctd_restart(void **state)
{
        struct recorder r, r2;
        struct ctd_events *e, *e2;
        struct rec_event x;
        int64_t t0;

        NEED_CONTAINERD();
        rec_init(&r);
        rec_init(&r2);
        e = subscribe(ctd_sock, &r);
        e2 = subscribe(ctd_sock, &r2);
        assert_true(rec_wait_state(&r, true, 1, 5000));
        assert_true(rec_wait_state(&r2, true, 1, 5000));

        assert_int_equal(ctd_stop(false), 0);
        assert_true(rec_wait_state(&r, false, 1, 5000));
        print_message("containerd stopped: %s\n", r.why);
        assert_true(rec_wait_state(&r2, false, 1, 5000));
        sleep_ms(300);
        assert_true(timed_stop(e2) < 1000);

        assert_int_equal(ctd_start(), 0);
        t0 = now_ms();
        assert_true(rec_wait_state(&r, true, 2, 5000));
        print_message("containerd restarted: subscribed again %" PRId64 " ms after it answered\n",
                      now_ms() - t0);

        /* containerd answers before it can run a task again (seen once, both test passes at the same
         * moment on a loaded machine: ctr exited 1 right after the restart): a few tries, each under an ID of
         * its own, until one runs; what ctr said is printed. The events are what this test is about. */
        size_t from = rec_count(&r);
        char id[32];
        int st = -1;
        for (int i = 0; i < 10 && st != 3; i++) {
                snprintf(id, sizeof id, "evtest2-%d", i);
                st = ctr_run_exit(id, 3);
                if (st != 3) {
                        print_message("ctr run %s right after the restart: exit %d; log:\n", id, st);
                        dump_log();
                        CTR("containers", "delete", id);
                        sleep_ms(500);
                }
        }
        assert_int_equal(st, 3);
        assert_true(rec_wait_event(&r, CTD_EVENT_TASK_EXIT, id, from, 5000, &x));
        assert_int_equal(x.exit_status, 3);

        sleep_ms(200); /* idle */
        assert_true(timed_stop(e) < 1000);
        assert_int_equal(r.downs, 1);
        rec_destroy(&r);
        rec_destroy(&r2);
}

/* ---- the event-driven PLEG on the real containerd ------------------------------------------------ */

struct relists {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int n, failed;
};

static void count_relist(bool ok, const char *error, void *userdata)
{
        struct relists *c = userdata;
        pthread_mutex_lock(&c->lock);
        c->n++;
        c->failed += !ok;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

static void no_pod_change(const char *uid, uint64_t fingerprint, int64_t listed_us, bool gone,
                          void *userdata)
{
}

static int relists_seen(struct relists *c, int *failed)
{
        pthread_mutex_lock(&c->lock);
        int n = c->n;
        if (failed)
                *failed = c->failed;
        pthread_mutex_unlock(&c->lock);
        return n;
}

/* Waits up to timeout_ms for more than `after` relists (failed ones only when failed_only). */
static bool wait_relists(struct relists *c, int after, bool failed_only, int64_t timeout_ms)
{
        int64_t until = now_ms() + timeout_ms;
        for (;;) {
                int failed, n = relists_seen(c, &failed);
                if ((failed_only ? failed : n) > after)
                        return true;
                if (now_ms() >= until)
                        return false;
                sleep_ms(20);
        }
}

/* Waits up to timeout_ms for a quiet spell: quiet_ms without any relist. */
static bool wait_quiet(struct relists *c, int64_t quiet_ms, int64_t timeout_ms)
{
        int64_t until = now_ms() + timeout_ms;
        while (now_ms() < until) {
                int before = relists_seen(c, NULL);
                sleep_ms(quiet_ms);
                if (relists_seen(c, NULL) == before)
                        return true;
        }
        return false;
}

/* The stream comes up (within 15 s), the relists stop once the quick ones are over, the last one succeeded
 * and the threshold is the long one (twice the evented period of 200 s). */
static void assert_evented(struct pleg *p, struct relists *c, struct pleg_health *h)
{
        int64_t t0 = now_ms();
        while (!pleg_events_connected(p) && now_ms() - t0 < 15000)
                sleep_ms(20);
        assert_true(pleg_events_connected(p));
        assert_true(wait_quiet(c, 1500, 20000));
        pleg_get_health(p, h);
        assert_true(h->relist_ok);
        assert_int_equal(h->threshold_ms, 400 * 1000);
}

/* While the event stream is up the relist is rare (its period here is 200 s), and an event relists at once;
 * containerd going away brings back the short period (200 ms here) and upstream's 3-minute threshold, its
 * return the long period and the longer threshold. */
static void test_ctd_pleg_evented(void **state)
{
        struct relists c = {.n = 0};
        struct cri_client *cri;
        struct pleg *p;
        struct pleg_health h;
        char endpoint[160];

        NEED_CONTAINERD();
        pthread_mutex_init(&c.lock, NULL);
        pthread_cond_init(&c.cond, NULL);
        snprintf(endpoint, sizeof endpoint, "unix://%s", ctd_sock);
        assert_int_equal(cri_client_new(endpoint, 5000, &cri), 0);
        struct pleg_config pc = {.cri = cri,
                                 .period_ms = 200,
                                 .evented_period_ms = 200 * 1000,
                                 .event_quick_ms = 300,
                                 .call_timeout_ms = 2000,
                                 .event_endpoint = endpoint,
                                 .on_pod_change = no_pod_change,
                                 .on_relist = count_relist,
                                 .userdata = &c};
        assert_int_equal(pleg_start(&pc, &p), 0);

        /* Up: once the start-up's quick relists are over, nothing relists for seconds. */
        assert_evented(p, &c, &h);

        /* A container's life (create, start, exit, delete) relists at once, then it is quiet again. */
        int before = relists_seen(&c, NULL);
        assert_int_equal(ctr_run_exit(own_id("evpleg"), 4), 4);
        assert_true(wait_relists(&c, before, false, 5000));
        assert_true(wait_quiet(&c, 1500, 20000));

        /* containerd stops: relists every 200 ms again, failing; the threshold is upstream's 3 minutes. */
        int failed;
        relists_seen(&c, &failed);
        assert_int_equal(ctd_stop(false), 0);
        assert_true(wait_relists(&c, failed + 5, true, 15000));
        pleg_get_health(p, &h);
        assert_false(h.relist_ok);
        assert_int_equal(h.threshold_ms, PLEG_RELIST_THRESHOLD_MS);
        char buf[512];
        assert_true(!pleg_health_check(&h,
                                       MAX(h.last_ok_ms, h.fallback_ms) + PLEG_RELIST_THRESHOLD_MS + 1000,
                                       "e", buf, sizeof buf));
        assert_non_null(strstr(buf, "threshold is 3m0s"));

        /* Back: the stream comes up again, the relist succeeds, and the long period returns. */
        assert_int_equal(ctd_start(), 0);
        assert_evented(p, &c, &h);
        assert_true(!pleg_health_check(&h, h.last_ok_ms + 401 * 1000, "e", buf, sizeof buf));
        assert_non_null(strstr(buf, "threshold is 6m40s"));

        assert_null(pleg_stop(p));
        cri_client_free(cri);
        pthread_cond_destroy(&c.cond);
        pthread_mutex_destroy(&c.lock);
}

int main(void)
{
        const struct CMUnitTest unit[] = {
                cmocka_unit_test(test_decode_exit),        cmocka_unit_test(test_decode_start_oom),
                cmocka_unit_test(test_decode_container),   cmocka_unit_test(test_decode_ignored),
                cmocka_unit_test(test_decode_variants),    cmocka_unit_test(test_decode_bad),
                cmocka_unit_test(test_start_invalid),      cmocka_unit_test(test_absent),
                cmocka_unit_test(test_fake_stream),        cmocka_unit_test(test_fake_idle),
                cmocka_unit_test(test_fake_unimplemented),
        };
        const struct CMUnitTest containerd[] = {
                cmocka_unit_test(test_ctd_exit),
                cmocka_unit_test(test_ctd_restart),
                cmocka_unit_test(test_ctd_pleg_evented),
        };
        int r;

        grpc_init(); /* for the fake server */
        r = cmocka_run_group_tests_name("cri_events", unit, NULL, NULL);
        if (r == 0)
                r = cmocka_run_group_tests_name("cri_events_containerd", containerd, ctd_group_setup,
                                                ctd_group_teardown);
        grpc_shutdown();
        if (r == 0 && ctd_skip) {
                fprintf(stderr, "containerd tests skipped: %s\n", ctd_skip);
                return 77;
        }
        return r;
}
