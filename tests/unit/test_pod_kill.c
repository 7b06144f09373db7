/* Unit tests for a pod's end (pod_kill) against a fake runtime: the order of its steps and the removals held
 * behind other teardowns' stops (stop_gate). The fake is a RuntimeService on gRPC core with a serving thread
 * per completion queue, so that one call held (a container slow to stop) does not hold the others. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "cri.h"
#include "macro.h"
#include "stop_gate.h"
#include "sync.h"
#include "util.h"

#define N_SERVE   4
#define MAX_STEPS 64
#define WAIT_MS   30000 /* a bound for a hang, never a timing */

/* ---- the fake runtime: two pods, a sandbox and a container each ---- */

struct fake_pod {
        char uid[32], sb[48], c[48];
        bool sb_stopped, sb_removed, c_stopped, c_removed;
};

static struct {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct fake_pod pods[2];
        char steps[MAX_STEPS][96]; /* "StopContainer c-uid-a", "StopContainer done c-uid-a", ... */
        size_t n_steps;
        char hold[48]; /* StopContainer of this id waits until it is cleared */
        bool holding;  /* that call has arrived and waits */
} F = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct {
        grpc_server *server;
        grpc_completion_queue *cq[N_SERVE], *shutdown_cq;
        pthread_t thread[N_SERVE];
        char path[108];
} S;

static char TAG_NEW[N_SERVE], TAG_BATCH, TAG_SHUTDOWN;

static void step_locked(const char *what, const char *id)
{
        if (F.n_steps < MAX_STEPS)
                snprintf(F.steps[F.n_steps++], sizeof F.steps[0], "%.30s %.60s", what, id);
        pthread_cond_broadcast(&F.cond);
}

static void step(const char *what, const char *id)
{
        pthread_mutex_lock(&F.lock);
        step_locked(what, id);
        pthread_mutex_unlock(&F.lock);
}

/* Index of the first step equal to s, or -1. */
static int step_at(const char *s)
{
        int at = -1;
        pthread_mutex_lock(&F.lock);
        for (size_t i = 0; i < F.n_steps && at < 0; i++)
                if (streq(F.steps[i], s))
                        at = (int) i;
        pthread_mutex_unlock(&F.lock);
        return at;
}

static size_t steps_starting(const char *prefix)
{
        size_t n = 0;
        pthread_mutex_lock(&F.lock);
        for (size_t i = 0; i < F.n_steps; i++)
                n += strncmp(F.steps[i], prefix, strlen(prefix)) == 0;
        pthread_mutex_unlock(&F.lock);
        return n;
}

static struct fake_pod *pod_by(const char *uid, const char *sb, const char *c)
{
        for (size_t i = 0; i < ELEMENTSOF(F.pods); i++) {
                struct fake_pod *p = &F.pods[i];
                if ((uid && streq(p->uid, uid)) || (sb && streq(p->sb, sb)) || (c && streq(p->c, c)))
                        return p;
        }
        return NULL;
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
        size_t len = protobuf_c_message_get_packed_size(m);
        grpc_slice s = grpc_slice_malloc(len);
        protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        return bb;
}

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb)
{
        grpc_byte_buffer_reader r;
        if (!bb || !grpc_byte_buffer_reader_init(&r, bb))
                return NULL;
        grpc_slice s = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        ProtobufCMessage *m =
                protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        return m;
}

/* The pod UID a listing's filter selects (caller frees), or NULL. */
static char *req_uid(grpc_byte_buffer *req, bool containers)
{
        char *uid = NULL;
        if (containers) {
                Runtime__V1__ListContainersRequest *q =
                        (void *) unpack(&runtime__v1__list_containers_request__descriptor, req);
                for (size_t i = 0; q && q->filter && i < q->filter->n_label_selector; i++)
                        if (streq(q->filter->label_selector[i]->key, LABEL_POD_UID))
                                uid = xstrdup(q->filter->label_selector[i]->value);
                protobuf_c_message_free_unpacked((ProtobufCMessage *) q, NULL);
        } else {
                Runtime__V1__ListPodSandboxRequest *q =
                        (void *) unpack(&runtime__v1__list_pod_sandbox_request__descriptor, req);
                for (size_t i = 0; q && q->filter && i < q->filter->n_label_selector; i++)
                        if (streq(q->filter->label_selector[i]->key, LABEL_POD_UID))
                                uid = xstrdup(q->filter->label_selector[i]->value);
                protobuf_c_message_free_unpacked((ProtobufCMessage *) q, NULL);
        }
        return uid;
}

/* The ID a Stop/Remove request names (caller frees): field 1 of each, a string, so one descriptor reads all. */
static char *req_id(grpc_byte_buffer *req)
{
        Runtime__V1__RemovePodSandboxRequest *q =
                (void *) unpack(&runtime__v1__remove_pod_sandbox_request__descriptor, req);
        char *id = xstrdup(q && q->pod_sandbox_id ? q->pod_sandbox_id : "");
        protobuf_c_message_free_unpacked((ProtobufCMessage *) q, NULL);
        return id;
}

static grpc_byte_buffer *list_sandboxes(const struct fake_pod *p)
{
        Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
        Runtime__V1__PodSandbox sb = RUNTIME__V1__POD_SANDBOX__INIT, *items[1] = {&sb};
        Runtime__V1__ListPodSandboxResponse r = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;
        if (p && !p->sb_removed) {
                md.name = md.uid = (char *) p->uid;
                md.namespace_ = (char *) "default";
                sb.id = (char *) p->sb;
                sb.metadata = &md;
                sb.state = p->sb_stopped ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY
                                         : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
                r.items = items;
                r.n_items = 1;
        }
        return pack(&r.base);
}

static grpc_byte_buffer *list_containers(const struct fake_pod *p)
{
        Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
        Runtime__V1__Container c = RUNTIME__V1__CONTAINER__INIT, *items[1] = {&c};
        Runtime__V1__ListContainersResponse r = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;
        char pod_name[48];
        Runtime__V1__Container__LabelsEntry l[3] = {RUNTIME__V1__CONTAINER__LABELS_ENTRY__INIT,
                                                    RUNTIME__V1__CONTAINER__LABELS_ENTRY__INIT,
                                                    RUNTIME__V1__CONTAINER__LABELS_ENTRY__INIT},
                                            *labels[3] = {&l[0], &l[1], &l[2]};
        if (p && !p->c_removed) {
                snprintf(pod_name, sizeof pod_name, "%s-pod", p->uid);
                l[0].key = (char *) LABEL_POD_NAME;
                l[0].value = pod_name;
                l[1].key = (char *) LABEL_POD_NAMESPACE;
                l[1].value = (char *) "default";
                l[2].key = (char *) LABEL_CONTAINER_NAME;
                l[2].value = (char *) "main";
                c.labels = labels;
                c.n_labels = 3;
                md.name = (char *) "main";
                c.id = (char *) p->c;
                c.pod_sandbox_id = (char *) p->sb;
                c.metadata = &md;
                c.state = p->c_stopped ? RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED
                                       : RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                r.containers = items;
                r.n_containers = 1;
        }
        return pack(&r.base);
}

#define RS "/runtime.v1.RuntimeService/"

/* The reply to one call: a packed message (NULL: none) and its status. Called with F.lock held; a held
 * StopContainer waits on F.cond. */
static grpc_byte_buffer *answer_locked(const char *method, grpc_byte_buffer *req, grpc_status_code *code)
{
        static Runtime__V1__RemovePodSandboxResponse empty = RUNTIME__V1__REMOVE_POD_SANDBOX_RESPONSE__INIT;
        *code = GRPC_STATUS_OK;
        if (streq(method, RS "ListPodSandbox") || streq(method, RS "ListContainers")) {
                bool containers = streq(method, RS "ListContainers");
                _cleanup_free_ char *uid = req_uid(req, containers);
                struct fake_pod *p = uid ? pod_by(uid, NULL, NULL) : NULL;
                return containers ? list_containers(p) : list_sandboxes(p);
        }
        const char *verb = method + strlen(RS);
        if (strncmp(method, RS, strlen(RS)) != 0 ||
            !(streq(verb, "StopContainer") || streq(verb, "RemoveContainer") ||
              streq(verb, "StopPodSandbox") || streq(verb, "RemovePodSandbox"))) {
                *code = GRPC_STATUS_UNIMPLEMENTED; /* ContainerStatus and the rest: not needed here */
                return NULL;
        }
        _cleanup_free_ char *id = req_id(req);
        bool container = strstr(verb, "Container") != NULL;
        struct fake_pod *p = container ? pod_by(NULL, NULL, id) : pod_by(NULL, id, NULL);
        step_locked(verb, id);
        if (streq(verb, "StopContainer")) {
                if (streq(F.hold, id)) {
                        F.holding = true;
                        pthread_cond_broadcast(&F.cond);
                        while (streq(F.hold, id))
                                pthread_cond_wait(&F.cond, &F.lock);
                        F.holding = false;
                }
                step_locked("StopContainer done", id);
        }
        if (p && streq(verb, "StopContainer"))
                p->c_stopped = true;
        else if (p && streq(verb, "StopPodSandbox"))
                p->sb_stopped = true;
        else if (p && streq(verb, "RemovePodSandbox"))
                p->sb_removed = p->c_removed = true; /* its containers go with it */
        else if (p)
                p->c_removed = true;
        return pack(&empty.base);
}

/* Waits for one batch's tag on cq (the call's only batch in flight). */
static void wait_batch(grpc_completion_queue *cq)
{
        for (;;) {
                grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                if (ev.type != GRPC_OP_COMPLETE || ev.tag == &TAG_BATCH)
                        return;
        }
}

static void serve_call(grpc_completion_queue *cq, grpc_call *call, const grpc_call_details *d)
{
        grpc_byte_buffer *req = NULL, *reply;
        grpc_op ops[4] = {0};
        int cancelled = 0;
        ops[0].op = GRPC_OP_RECV_MESSAGE;
        ops[0].data.recv_message.recv_message = &req;
        if (grpc_call_start_batch(call, ops, 1, &TAG_BATCH, NULL) != GRPC_CALL_OK)
                return;
        wait_batch(cq);

        char method[128];
        snprintf(method, sizeof method, "%.*s", (int) GRPC_SLICE_LENGTH(d->method),
                 (const char *) GRPC_SLICE_START_PTR(d->method));
        grpc_status_code code;
        pthread_mutex_lock(&F.lock);
        reply = answer_locked(method, req, &code);
        pthread_mutex_unlock(&F.lock);

        size_t n = 0;
        memset(ops, 0, sizeof ops);
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (reply) {
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n++].data.send_message.send_message = reply;
        }
        grpc_slice details = grpc_slice_from_static_string("not in the fake");
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = code;
        ops[n++].data.send_status_from_server.status_details = code ? &details : NULL;
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &cancelled;
        if (grpc_call_start_batch(call, ops, n, &TAG_BATCH, NULL) == GRPC_CALL_OK)
                wait_batch(cq);
        if (req)
                grpc_byte_buffer_destroy(req);
        if (reply)
                grpc_byte_buffer_destroy(reply);
}

static void *serve(void *arg)
{
        size_t k = (size_t) (uintptr_t) arg;
        grpc_completion_queue *cq = S.cq[k];
        for (;;) {
                grpc_call *call = NULL;
                grpc_call_details d;
                grpc_metadata_array md;
                grpc_call_details_init(&d);
                grpc_metadata_array_init(&md);
                bool ok = grpc_server_request_call(S.server, &call, &d, &md, cq, cq, &TAG_NEW[k]) ==
                          GRPC_CALL_OK;
                grpc_event ev = {0};
                if (ok)
                        ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                ok = ok && ev.type == GRPC_OP_COMPLETE && ev.success && call;
                if (ok)
                        serve_call(cq, call, &d);
                if (call)
                        grpc_call_unref(call);
                grpc_call_details_destroy(&d);
                grpc_metadata_array_destroy(&md);
                if (!ok)
                        return NULL;
        }
}

static int fake_start(void)
{
        char addr[128];
        snprintf(S.path, sizeof S.path, "/tmp/cubelet-podkill-%d.sock", (int) getpid());
        unlink(S.path);
        snprintf(addr, sizeof addr, "unix:%s", S.path);
        S.server = grpc_server_create(NULL, NULL);
        for (size_t k = 0; k < N_SERVE; k++) {
                S.cq[k] = grpc_completion_queue_create_for_next(NULL);
                grpc_server_register_completion_queue(S.server, S.cq[k], NULL);
        }
        S.shutdown_cq = grpc_completion_queue_create_for_next(NULL); /* registered, as shutdown wants */
        grpc_server_register_completion_queue(S.server, S.shutdown_cq, NULL);
        grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
        int port = grpc_server_add_http2_port(S.server, addr, creds);
        grpc_server_credentials_release(creds);
        if (port == 0)
                return -EADDRINUSE;
        grpc_server_start(S.server);
        for (size_t k = 0; k < N_SERVE; k++)
                if (pthread_create(&S.thread[k], NULL, serve, (void *) (uintptr_t) k) != 0)
                        return -EAGAIN;
        return 0;
}

static void fake_stop(void)
{
        grpc_server_shutdown_and_notify(S.server, S.shutdown_cq, &TAG_SHUTDOWN);
        grpc_server_cancel_all_calls(S.server);
        while (grpc_completion_queue_next(S.shutdown_cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).tag !=
               &TAG_SHUTDOWN)
                ;
        for (size_t k = 0; k < N_SERVE; k++)
                pthread_join(S.thread[k], NULL);
        grpc_server_destroy(S.server);
        for (size_t k = 0; k < N_SERVE; k++) {
                grpc_completion_queue_shutdown(S.cq[k]);
                while (grpc_completion_queue_next(S.cq[k], gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
                       GRPC_QUEUE_SHUTDOWN)
                        ;
                grpc_completion_queue_destroy(S.cq[k]);
        }
        grpc_completion_queue_shutdown(S.shutdown_cq);
        while (grpc_completion_queue_next(S.shutdown_cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(S.shutdown_cq);
        unlink(S.path);
}

/* ---- the agent's side ---- */

struct kill_job {
        const char *uid;
        int r;
        struct sync_result res;
        pthread_t t;
        bool started, joined;
};

static struct {
        struct cri_client *cri;
        struct sync_ctx ctx;
        char root[64], logs[80];
        struct kill_job jobs[2]; /* two teardowns' threads, joined at teardown even after a failure */
} A;

static void on_reclaimed(void *ud, const char *uid)
{
        (void) ud;
        step("reclaimed", uid);
}

static void *kill_run(void *arg)
{
        struct kill_job *j = arg;
        j->r = pod_kill(&A.ctx, j->uid, 100, &j->res); /* StopContainer's deadline: 100 s + 10 */
        step("returned", j->uid);
        return NULL;
}

/* Waits (bounded, for a hang) until pred holds; the fake's lock is not held while pred is read. */
#define WAIT_UNTIL(pred)                                                                                    \
        do {                                                                                                \
                int64_t until_ = now_mono_ms() + WAIT_MS;                                                   \
                while (!(pred) && now_mono_ms() < until_) {                                                 \
                        pthread_mutex_lock(&F.lock);                                                        \
                        cond_wait_ms(&F.cond, &F.lock, 20);                                                 \
                        pthread_mutex_unlock(&F.lock);                                                      \
                }                                                                                           \
                assert_true(pred);                                                                          \
        } while (0)

static bool holding(void)
{
        pthread_mutex_lock(&F.lock);
        bool h = F.holding;
        pthread_mutex_unlock(&F.lock);
        return h;
}

static void release(void)
{
        pthread_mutex_lock(&F.lock);
        F.hold[0] = 0;
        pthread_cond_broadcast(&F.cond);
        pthread_mutex_unlock(&F.lock);
}

static void join(struct kill_job *j)
{
        if (j->started && !j->joined)
                pthread_join(j->t, NULL);
        j->joined = true;
}

static int setup(void **state)
{
        (void) state;
        pthread_mutex_lock(&F.lock);
        memset(F.pods, 0, sizeof F.pods);
        const char *uids[] = {"uid-a", "uid-b"};
        for (size_t i = 0; i < 2; i++) {
                snprintf(F.pods[i].uid, sizeof F.pods[i].uid, "%s", uids[i]);
                snprintf(F.pods[i].sb, sizeof F.pods[i].sb, "sb-%s", uids[i]);
                snprintf(F.pods[i].c, sizeof F.pods[i].c, "c-%s", uids[i]);
        }
        F.n_steps = 0;
        F.hold[0] = 0;
        F.holding = false;
        pthread_mutex_unlock(&F.lock);
        snprintf(A.root, sizeof A.root, "/tmp/cubelet-podkill.XXXXXX");
        assert_non_null(mkdtemp(A.root));
        snprintf(A.logs, sizeof A.logs, "%s/logs", A.root);
        char sock[160];
        snprintf(sock, sizeof sock, "unix://%s", S.path);
        assert_int_equal(cri_client_new(sock, 10000, &A.cri), 0);
        A.ctx = (struct sync_ctx){.cri = A.cri,
                                  .root_dir = A.root,
                                  .pod_logs_dir = A.logs,
                                  .timeout_ms = 10000,
                                  .reclaimed = on_reclaimed};
        return 0;
}

static int teardown(void **state)
{
        (void) state;
        /* After a failed test: its threads end (the gate lets go, the held call ends) before what they use. */
        stop_gate_close(A.ctx.stop_gate);
        release();
        for (size_t i = 0; i < ELEMENTSOF(A.jobs); i++)
                join(&A.jobs[i]);
        memset(A.jobs, 0, sizeof A.jobs);
        A.cri = cri_client_free(A.cri);
        A.ctx.stop_gate = stop_gate_free(A.ctx.stop_gate);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", A.root);
        return system(cmd) == 0 ? 0 : -1;
}

/* One pod alone: stop, reclaimed (the API pod's deletion), then the removals; nothing waits. */
static void test_order_alone(void **state)
{
        (void) state;
        A.ctx.stop_gate = stop_gate_new(WAIT_MS * 2);
        /* the containers' /var/log/containers links: the removed one's goes with it (upstream) */
        _cleanup_free_ char *links = strdup_printf("%s/containers", A.root),
                            *link_a = strdup_printf("%s/uid-a-pod_default_main-c-uid-a.log", links),
                            *link_b = strdup_printf("%s/uid-b-pod_default_main-c-uid-b.log", links);
        assert_int_equal(mkdir(links, 0755), 0);
        assert_int_equal(symlink("/nonexistent/0.log", link_a), 0);
        assert_int_equal(symlink("/nonexistent/0.log", link_b), 0);
        A.ctx.containers_log_dir = links;
        struct kill_job a = {.uid = "uid-a"};
        kill_run(&a);
        assert_int_equal(a.r, 0);
        assert_string_equal(a.res.error, "");
        int stop = step_at("StopContainer done c-uid-a"), sb = step_at("StopPodSandbox sb-uid-a"),
            rec = step_at("reclaimed uid-a"), rm = step_at("RemovePodSandbox sb-uid-a");
        assert_true(stop >= 0 && sb > stop && rec > sb && rm > rec);
        assert_true(step_at("RemoveContainer c-uid-a") > rec);
        struct stat st;
        assert_int_equal(lstat(link_a, &st), -1);
        assert_int_equal(lstat(link_b, &st), 0);
        A.ctx.containers_log_dir = NULL;
}

/* a's teardown with its container's stop held, then b's: the start of the tests of two teardowns. */
static void kill_two(int64_t bound_ms, struct kill_job **a, struct kill_job **b)
{
        A.ctx.stop_gate = stop_gate_new(bound_ms);
        snprintf(F.hold, sizeof F.hold, "c-uid-a");
        *a = &A.jobs[0];
        *b = &A.jobs[1];
        **a = (struct kill_job){.uid = "uid-a"};
        **b = (struct kill_job){.uid = "uid-b"};
        assert_int_equal(pthread_create(&(*a)->t, NULL, kill_run, *a), 0);
        (*a)->started = true;
        WAIT_UNTIL(holding());
        assert_int_equal(pthread_create(&(*b)->t, NULL, kill_run, *b), 0);
        (*b)->started = true;
}

/* Two teardowns: b's removals wait while a's container is still stopping, and follow once it stopped; b's
 * reclaimed (its API deletion) does not wait for that. */
static void test_removals_wait_for_stops(void **state)
{
        (void) state;
        struct kill_job *a, *b;
        kill_two(WAIT_MS * 2, &a, &b); /* a bound longer than any wait here: only the stop ends it */
        WAIT_UNTIL(stop_gate_waiting(A.ctx.stop_gate) == 1);
        assert_true(step_at("reclaimed uid-b") >= 0);
        assert_true(step_at("StopPodSandbox sb-uid-b") >= 0);
        assert_int_equal(steps_starting("Remove"), 0);
        release();
        join(a);
        join(b);
        assert_int_equal(a->r, 0);
        assert_int_equal(b->r, 0);
        int a_stopped = step_at("StopContainer done c-uid-a"), b_rm = step_at("RemovePodSandbox sb-uid-b");
        assert_true(a_stopped >= 0 && b_rm > a_stopped);
        assert_true(step_at("RemovePodSandbox sb-uid-a") > a_stopped);
}

/* The hold is bounded: b removes while a still stops. */
static void test_removals_bounded(void **state)
{
        (void) state;
        struct kill_job *a, *b;
        kill_two(100, &a, &b);
        join(b);
        assert_int_equal(b->r, 0);
        assert_true(step_at("RemovePodSandbox sb-uid-b") >= 0);
        assert_true(holding());
        assert_int_equal(step_at("StopContainer done c-uid-a"), -1);
        release();
        join(a);
        assert_int_equal(a->r, 0);
}

/* Closing the gate (shutdown) lets a held teardown go at once. */
static void test_close_releases(void **state)
{
        (void) state;
        struct kill_job *a, *b;
        kill_two(WAIT_MS * 2, &a, &b);
        WAIT_UNTIL(stop_gate_waiting(A.ctx.stop_gate) == 1);
        stop_gate_close(A.ctx.stop_gate);
        join(b);
        assert_int_equal(b->r, 0);
        assert_true(step_at("RemovePodSandbox sb-uid-b") >= 0);
        assert_int_equal(step_at("StopContainer done c-uid-a"), -1);
        release();
        join(a);
        assert_int_equal(a->r, 0);
}

/* The gate alone: no stop in flight, no wait; a NULL gate never holds. */
static void test_gate_idle(void **state)
{
        (void) state;
        struct stop_gate *g = stop_gate_new(WAIT_MS * 2);
        assert_true(stop_gate_wait(g));
        stop_gate_enter(g);
        stop_gate_leave(g);
        assert_true(stop_gate_wait(g));
        assert_int_equal(stop_gate_waiting(g), 0);
        stop_gate_free(g);
        assert_true(stop_gate_wait(NULL));
}

static int group_setup(void **state)
{
        (void) state;
        cond_init_monotonic(&F.cond); /* cond_wait_ms's deadlines are on the monotonic clock */
        grpc_init();
        return fake_start();
}

static int group_teardown(void **state)
{
        (void) state;
        fake_stop();
        grpc_shutdown();
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_gate_idle),
                cmocka_unit_test_setup_teardown(test_order_alone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_removals_wait_for_stops, setup, teardown),
                cmocka_unit_test_setup_teardown(test_removals_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_close_releases, setup, teardown),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
