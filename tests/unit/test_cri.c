/* Unit tests for the CRI client: error mapping, deadlines, reconnects (fake gRPC server), encoding. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
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

#include "cri.h"
#include "macro.h"
#include "util.h"

#define VERSION_METHOD "/runtime.v1.RuntimeService/Version"

/* base/util.h has the monotonic clock. */
static int64_t now_ms(void)
{
        return now_mono_ms();
}

static void sleep_ms(int ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void sock_path(char *buf, size_t n, const char *what)
{
        snprintf(buf, n, "/tmp/cri-test-%d-%s.sock", (int) getpid(), what);
}

static int call_version(struct cri_client *c, int64_t timeout_ms, Runtime__V1__VersionResponse **ret,
                        struct cri_error *err)
{
        Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
        req.version = (char *) "v1";
        return CRI_CALL(c, RuntimeService, Version, version, &req, ret, timeout_ms, err);
}

/* ----------------------------------------------------------------------------------------------- */

static void test_endpoint(void **state)
{
        struct cri_client *c = NULL;

        assert_int_equal(cri_client_new("/run/x.sock", 0, &c), 0);
        assert_string_equal(cri_client_endpoint(c), "unix:///run/x.sock");
        c = cri_client_free(c);
        assert_null(c);

        assert_int_equal(cri_client_new("unix:///run/containerd/containerd.sock", 0, &c), 0);
        assert_string_equal(cri_client_endpoint(c), "unix:///run/containerd/containerd.sock");
        cri_client_free(c);

        c = NULL;
        assert_int_equal(cri_client_new("run/x.sock", 0, &c), -EINVAL);
        /* an authority ("run"), which gRPC refuses with a channel that never connects */
        assert_int_equal(cri_client_new("unix://run/x.sock", 0, &c), -EINVAL);
        assert_int_equal(cri_client_new("", 0, &c), -EINVAL);
        assert_int_equal(cri_client_new(NULL, 0, &c), -EINVAL);
        assert_null(c);
        assert_null(cri_client_free(NULL));

        assert_string_equal(cri_code_name(0), "OK");
        assert_string_equal(cri_code_name(4), "DeadlineExceeded");
        assert_string_equal(cri_code_name(14), "Unavailable");
        assert_string_equal(cri_code_name(99), "Unknown");
}

/* (a) Nobody listens: fail fast with Unavailable, never wait for the deadline. */
static void test_unavailable(void **state)
{
        _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL;
        struct cri_error err = {};
        struct cri_client *c = NULL;
        char path[108];
        int64_t t0, dt;
        int r;

        sock_path(path, sizeof(path), "absent");
        unlink(path);
        assert_int_equal(cri_client_new(path, 10000, &c), 0);

        t0 = now_ms();
        r = call_version(c, 0, &resp, &err);
        dt = now_ms() - t0;
        print_message("unavailable: r=%d after %lld ms: %s\n", r, (long long) dt, err.msg);
        assert_int_equal(r, -ECONNREFUSED);
        assert_int_equal(err.code, 14);
        assert_null(resp);
        assert_true(dt < 2000);
        assert_non_null(strstr(err.msg, "Version: rpc error: code = Unavailable desc = "));

        /* A second call while the channel backs off also fails at once. */
        t0 = now_ms();
        r = call_version(c, 0, &resp, &err);
        assert_int_equal(r, -ECONNREFUSED);
        assert_true(now_ms() - t0 < 2000);

        cri_client_free(c);
}

/* What counts as a change of the runtime's state (the resyncs' shared listing is good while none was). */
static void test_generation(void **state)
{
        (void) state;
        static const char *const reads[] = {
                "ListContainers", "ListPodSandbox",     "ContainerStatus",   "PodSandboxStatus", "Status",
                "Version",        "ImageFsInfo",        "ListImages",        "ImageStatus",      "ExecSync",
                "ContainerStats", "ListContainerStats", "ReopenContainerLog"};
        static const char *const changes[] = {
                "RunPodSandbox",  "StopPodSandbox", "RemovePodSandbox",   "CreateContainer",
                "StartContainer", "StopContainer",  "RemoveContainer",    "UpdateContainerResources",
                "PullImage",      "RemoveImage",    "UpdateRuntimeConfig"};
        char m[128];
        for (size_t i = 0; i < ELEMENTSOF(reads); i++) {
                snprintf(m, sizeof m, "/runtime.v1.%s/%s",
                         strstr(reads[i], "Image") ? "ImageService" : "RuntimeService", reads[i]);
                assert_false(cri_method_mutates(m));
        }
        for (size_t i = 0; i < ELEMENTSOF(changes); i++) {
                snprintf(m, sizeof m, "/runtime.v1.RuntimeService/%s", changes[i]);
                assert_true(cri_method_mutates(m));
        }
        assert_true(cri_method_mutates(NULL));
        assert_true(cri_method_mutates("nonsense"));

        uint64_t g = cri_generation();
        cri_generation_bump();
        assert_int_equal(cri_generation(), g + 1);

        /* A call that may change something counts when it starts and when it ends, even failed; a read
         * does not. */
        struct cri_client *c = NULL;
        char path[108];
        struct cri_error err = {};
        sock_path(path, sizeof(path), "absent");
        unlink(path);
        assert_int_equal(cri_client_new(path, 10000, &c), 0);
        Runtime__V1__StopContainerRequest sreq = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__StopContainerResponse *sresp = NULL;
        sreq.container_id = (char *) "c1";
        g = cri_generation();
        assert_int_equal(
                CRI_CALL(c, RuntimeService, StopContainer, stop_container, &sreq, &sresp, 2000, &err),
                -ECONNREFUSED);
        assert_int_equal(cri_generation(), g + 2);
        Runtime__V1__ListContainersRequest lreq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ListContainersResponse *lresp = NULL;
        assert_int_equal(
                CRI_CALL(c, RuntimeService, ListContainers, list_containers, &lreq, &lresp, 2000, &err),
                -ECONNREFUSED);
        assert_int_equal(cri_generation(), g + 2);
        cri_client_free(c);
}

/* (b) A peer that accepts and reads but never answers: the call ends at its deadline. */
struct mute_peer {
        int lfd;
        int stop; /* eventfd */
        pthread_t thread;
};

static void *mute_peer_run(void *p)
{
        struct mute_peer *m = p;
        int fds[16];
        size_t n = 0;
        char buf[4096];

        for (;;) {
                struct pollfd pfd[2 + ELEMENTSOF(fds)];
                size_t np = 0;

                pfd[np++] = (struct pollfd){.fd = m->stop, .events = POLLIN};
                pfd[np++] = (struct pollfd){.fd = m->lfd, .events = POLLIN};
                for (size_t i = 0; i < n; i++)
                        pfd[np++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
                if (poll(pfd, np, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[0].revents)
                        break;
                if (pfd[1].revents && n < ELEMENTSOF(fds)) {
                        int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC);
                        if (fd >= 0)
                                fds[n++] = fd;
                }
                for (size_t i = 0; i < n; i++) {
                        if (!pfd[2 + i].revents)
                                continue;
                        /* Swallow the HTTP/2 preface, SETTINGS and the request; answer nothing. */
                        if (read(fds[i], buf, sizeof(buf)) <= 0) {
                                close(fds[i]);
                                fds[i] = -1;
                        }
                }
                /* compact closed slots */
                size_t w = 0;
                for (size_t i = 0; i < n; i++)
                        if (fds[i] >= 0)
                                fds[w++] = fds[i];
                n = w;
        }
        for (size_t i = 0; i < n; i++)
                close(fds[i]);
        return NULL;
}

static void test_deadline(void **state)
{
        _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct mute_peer m;
        struct cri_error err = {};
        struct cri_client *c = NULL;
        int64_t t0, dt;
        int r;

        sock_path(sa.sun_path, sizeof(sa.sun_path), "mute");
        unlink(sa.sun_path);
        m.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(m.lfd >= 0);
        assert_int_equal(bind(m.lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(m.lfd, 16), 0);
        m.stop = eventfd(0, EFD_CLOEXEC);
        assert_true(m.stop >= 0);
        assert_int_equal(pthread_create(&m.thread, NULL, mute_peer_run, &m), 0);

        assert_int_equal(cri_client_new(sa.sun_path, 10000, &c), 0);
        t0 = now_ms();
        r = call_version(c, 300, &resp, &err);
        dt = now_ms() - t0;
        print_message("deadline: r=%d after %lld ms: %s\n", r, (long long) dt, err.msg);
        assert_int_equal(r, -ETIMEDOUT);
        assert_int_equal(err.code, 4);
        assert_null(resp);
        assert_true(dt >= 250);
        assert_true(dt < 1500);
        assert_non_null(strstr(err.msg, "code = DeadlineExceeded"));
        cri_client_free(c);

        uint64_t one = 1;
        assert_int_equal(write(m.stop, &one, sizeof(one)), (ssize_t) sizeof(one));
        pthread_join(m.thread, NULL);
        close(m.stop);
        close(m.lfd);
        unlink(sa.sun_path);
}

/* (c) A tiny RuntimeService on gRPC core: answers Version, Unimplemented for anything else. It runs
 * in this process for some tests and, for the restart test, in a child process (this binary re-run
 * with --fake-runtime), because a server in the client's own process polls gRPC's shared event loop
 * and so hides whether the client makes progress on its own. No cmocka asserts in here: the child
 * runs it outside any test. */
struct fake_server {
        grpc_server *server;
        grpc_completion_queue *cq;
        pthread_t thread;
        char addr[128];
};

/* Tags; only their addresses matter. */
static char TAG_NEW, TAG_BATCH[2], TAG_SHUTDOWN;

static grpc_byte_buffer *pack_message(const ProtobufCMessage *m)
{
        size_t len = protobuf_c_message_get_packed_size(m);
        grpc_slice s = grpc_slice_malloc(len);
        grpc_byte_buffer *bb;

        protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
        bb = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        return bb;
}

static bool slice_eq(grpc_slice s, const char *str)
{
        return GRPC_SLICE_LENGTH(s) == strlen(str) && memcmp(GRPC_SLICE_START_PTR(s), str, strlen(str)) == 0;
}

/* Runs one call's reply batches and waits for them. Returns false when the shutdown tag went by. */
static bool fake_answer(struct fake_server *f, grpc_call *call, const grpc_call_details *d)
{
        Runtime__V1__VersionResponse vr = RUNTIME__V1__VERSION_RESPONSE__INIT;
        grpc_byte_buffer *req = NULL, *reply = NULL;
        grpc_slice details = grpc_slice_from_static_string("method not implemented by fake");
        bool is_version = slice_eq(d->method, VERSION_METHOD);
        bool shutdown_seen = false;
        int cancelled = 0, pending = 0;
        grpc_op ops[4];
        size_t n = 0;

        vr.version = (char *) "0.1.0";
        vr.runtime_name = (char *) "fake";
        vr.runtime_version = (char *) "1.2.3";
        vr.runtime_api_version = (char *) "v1";
        if (is_version)
                reply = pack_message(&vr.base);

        memset(ops, 0, sizeof(ops));
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &req;
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (reply) {
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n++].data.send_message.send_message = reply;
        }
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = is_version ? GRPC_STATUS_OK : GRPC_STATUS_UNIMPLEMENTED;
        ops[n++].data.send_status_from_server.status_details = is_version ? NULL : &details;
        if (grpc_call_start_batch(call, ops, n, &TAG_BATCH[0], NULL) == GRPC_CALL_OK)
                pending++;

        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[0].data.recv_close_on_server.cancelled = &cancelled;
        if (grpc_call_start_batch(call, ops, 1, &TAG_BATCH[1], NULL) == GRPC_CALL_OK)
                pending++;

        while (pending > 0) {
                grpc_event ev = grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                if (ev.type != GRPC_OP_COMPLETE)
                        break;
                if (ev.tag == &TAG_SHUTDOWN)
                        shutdown_seen = true;
                else
                        pending--;
        }
        if (req)
                grpc_byte_buffer_destroy(req);
        if (reply)
                grpc_byte_buffer_destroy(reply);
        return !shutdown_seen;
}

static void *fake_run(void *p)
{
        struct fake_server *f = p;

        for (;;) {
                grpc_call *call = NULL;
                grpc_call_details d;
                grpc_metadata_array md;
                grpc_event ev = {};
                bool more = true, got_new = false;

                grpc_call_details_init(&d);
                grpc_metadata_array_init(&md);
                if (grpc_server_request_call(f->server, &call, &d, &md, f->cq, f->cq, &TAG_NEW) !=
                    GRPC_CALL_OK) {
                        grpc_call_details_destroy(&d);
                        grpc_metadata_array_destroy(&md);
                        break;
                }
                /* Wait for a call; the shutdown tag may come first (the request then fails). */
                while (!got_new) {
                        ev = grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                        if (ev.type != GRPC_OP_COMPLETE) {
                                more = false;
                                break;
                        }
                        if (ev.tag == &TAG_SHUTDOWN) {
                                more = false;
                                continue;
                        }
                        got_new = true;
                        if (ev.success && call && !fake_answer(f, call, &d))
                                more = false;
                }
                if (call)
                        grpc_call_unref(call);
                grpc_call_details_destroy(&d);
                grpc_metadata_array_destroy(&md);
                if (!more || !ev.success)
                        break;
        }
        return NULL;
}

static int fake_start(struct fake_server *f, const char *path)
{
        grpc_server_credentials *creds;
        int port;

        memset(f, 0, sizeof(*f));
        snprintf(f->addr, sizeof(f->addr), "unix:%s", path);
        f->server = grpc_server_create(NULL, NULL);
        f->cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(f->server, f->cq, NULL);
        creds = grpc_insecure_server_credentials_create();
        port = grpc_server_add_http2_port(f->server, f->addr, creds);
        grpc_server_credentials_release(creds);
        if (port == 0)
                return -EADDRINUSE;
        grpc_server_start(f->server);
        return -pthread_create(&f->thread, NULL, fake_run, f);
}

/* Collects what is left once the serving thread is gone. */
static void fake_destroy(struct fake_server *f)
{
        grpc_event ev;

        grpc_server_destroy(f->server);
        grpc_completion_queue_shutdown(f->cq);
        do
                ev = grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        while (ev.type != GRPC_QUEUE_SHUTDOWN);
        grpc_completion_queue_destroy(f->cq);
        f->server = NULL;
        f->cq = NULL;
}

/* The graceful way a runtime stops: refuse new calls, cancel the running ones, close. */
static void fake_stop(struct fake_server *f)
{
        grpc_server_shutdown_and_notify(f->server, f->cq, &TAG_SHUTDOWN);
        grpc_server_cancel_all_calls(f->server);
        pthread_join(f->thread, NULL);
        fake_destroy(f);
}

/* Child: serve until SIGTERM (graceful stop, exit 0) or SIGKILL (a crash). */
static int fake_runtime_main(const char *path)
{
        struct fake_server f;
        sigset_t term;
        int sig;

        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &term, NULL); /* before gRPC starts threads, so they inherit it */
        grpc_init();
        if (fake_start(&f, path) < 0) {
                fprintf(stderr, "fake runtime: cannot serve on %s\n", path);
                return 1;
        }
        sigwait(&term, &sig);
        fake_stop(&f);
        grpc_shutdown();
        return 0;
}

static pid_t runtime_spawn(const char *path)
{
        pid_t pid = fork();

        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execl("/proc/self/exe", "test_cri", "--fake-runtime", path, (char *) NULL);
                _exit(127);
        }
        assert_true(pid > 0);
        return pid;
}

static int runtime_stop(pid_t pid, int sig)
{
        int status = 0;

        assert_int_equal(kill(pid, sig), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return status;
}

/* Retries every 100 ms for up to limit_ms; returns the ms it took, or -1. */
static int64_t wait_for_success(struct cri_client *c, int64_t limit_ms)
{
        int64_t t0 = now_ms();

        while (now_ms() - t0 < limit_ms) {
                _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL;
                struct cri_error err = {};

                if (call_version(c, 1000, &resp, &err) == 0) {
                        assert_string_equal(resp->runtime_name, "fake");
                        assert_string_equal(resp->runtime_version, "1.2.3");
                        assert_string_equal(resp->runtime_api_version, "v1");
                        return now_ms() - t0;
                }
                sleep_ms(100);
        }
        return -1;
}

/* Retries every 100 ms until a call fails; returns it (and fills err), failing the test after limit_ms. */
static int wait_for_failure(struct cri_client *c, int64_t limit_ms, struct cri_error *err)
{
        int64_t t0 = now_ms();

        for (;;) {
                _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL;
                int r = call_version(c, 1000, &resp, err);
                if (r < 0)
                        return r;
                assert_true(now_ms() - t0 < limit_ms);
                sleep_ms(100);
        }
}

static void test_reconnect(void **state)
{
        _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL;
        struct cri_error err = {};
        struct cri_client *c = NULL;
        char path[108];
        int64_t dt;
        pid_t rt;
        int r, status;

        sock_path(path, sizeof(path), "fake");
        unlink(path);
        assert_int_equal(cri_client_new(path, 5000, &c), 0);

        /* No runtime yet. */
        r = call_version(c, 0, &resp, &err);
        assert_int_equal(r, -ECONNREFUSED);
        assert_int_equal(err.code, 14);

        /* Runtime appears. */
        rt = runtime_spawn(path);
        dt = wait_for_success(c, 3000);
        print_message("reconnect: first success %lld ms after runtime start\n", (long long) dt);
        assert_true(dt >= 0);

        /* Graceful stop: calls fail. */
        status = runtime_stop(rt, SIGTERM);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        r = wait_for_failure(c, 3000, &err);
        print_message("reconnect: after graceful stop r=%d: %s\n", r, err.msg);
        assert_int_equal(r, -ECONNREFUSED);
        assert_int_equal(err.code, 14);

        /* Stay down long enough for the reconnect backoff to reach its cap. */
        sleep_ms(2000);

        /* Back again. */
        rt = runtime_spawn(path);
        dt = wait_for_success(c, 3000);
        print_message("reconnect: success %lld ms after restart\n", (long long) dt);
        assert_true(dt >= 0);

        /* Crash: the socket file stays behind, connects are refused. */
        runtime_stop(rt, SIGKILL);
        r = wait_for_failure(c, 3000, &err);
        print_message("reconnect: after crash r=%d: %s\n", r, err.msg);
        assert_int_equal(r, -ECONNREFUSED);
        assert_int_equal(err.code, 14);
        sleep_ms(2000);

        rt = runtime_spawn(path);
        dt = wait_for_success(c, 3000);
        print_message("reconnect: success %lld ms after restart from crash\n", (long long) dt);
        assert_true(dt >= 0);

        int64_t t0 = now_ms();
        cri_client_free(c);
        print_message("reconnect: cri_client_free took %lld ms\n", (long long) (now_ms() - t0));
        runtime_stop(rt, SIGTERM);
        unlink(path);
}

/* The server's own status and message come back for a failed call. */
static void test_server_error(void **state)
{
        Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__StatusResponse *resp = NULL;
        struct cri_error err = {};
        struct cri_client *c = NULL;
        struct fake_server f;
        char path[108];
        int r;

        sock_path(path, sizeof(path), "unimpl");
        unlink(path);
        assert_int_equal(fake_start(&f, path), 0);
        assert_int_equal(cri_client_new(path, 5000, &c), 0);
        assert_true(wait_for_success(c, 3000) >= 0);

        r = CRI_CALL(c, RuntimeService, Status, status, &req, &resp, 2000, &err);
        assert_int_equal(r, -EIO);
        assert_int_equal(err.code, 12);
        assert_string_equal(err.msg,
                            "Status: rpc error: code = Unimplemented desc = method not implemented by fake");
        assert_null(resp);

        cri_client_free(c);
        fake_stop(&f);
        unlink(path);
}

/* Several calls at once: each ends as alone would (a reply, or the server's error), the first failure is
 * the result and err's; a listing changes no generation, a call that may change something counts. */
static void test_call_many(void **state)
{
        Runtime__V1__VersionRequest vreq = RUNTIME__V1__VERSION_REQUEST__INIT;
        Runtime__V1__StatusRequest sreq = RUNTIME__V1__STATUS_REQUEST__INIT;
        Runtime__V1__StopContainerRequest creq = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__VersionResponse *v1 = NULL, *v2 = NULL;
        _cleanup_cri_ Runtime__V1__StatusResponse *sresp = NULL;
        _cleanup_cri_ Runtime__V1__StopContainerResponse *cresp = NULL;
        struct cri_error err = {};
        struct cri_client *c = NULL;
        struct fake_server f;
        char path[108];

        sock_path(path, sizeof(path), "many");
        unlink(path);
        assert_int_equal(fake_start(&f, path), 0);
        assert_int_equal(cri_client_new(path, 5000, &c), 0);
        assert_true(wait_for_success(c, 3000) >= 0);

        struct cri_request ok[] = {
                CRI_REQ(RuntimeService, Version, version, &vreq, &v1),
                CRI_REQ(RuntimeService, Version, version, &vreq, &v2),
        };
        uint64_t g = cri_generation();
        assert_int_equal(cri_call_many(c, ok, ELEMENTSOF(ok), 2000, &err), 0);
        assert_int_equal(cri_generation(), g);
        assert_int_equal(ok[0].r, 0);
        assert_int_equal(ok[1].r, 0);
        assert_string_equal(v1->runtime_name, "fake");
        assert_string_equal(v2->runtime_name, "fake");
        cri_free(v1);
        cri_free(v2);
        v1 = v2 = NULL;

        creq.container_id = (char *) "c1";
        struct cri_request mixed[] = {
                CRI_REQ(RuntimeService, Version, version, &vreq, &v1),
                CRI_REQ(RuntimeService, Status, status, &sreq, &sresp),
                CRI_REQ(RuntimeService, StopContainer, stop_container, &creq, &cresp),
                CRI_REQ(RuntimeService, Version, version, &vreq, &v2),
        };
        g = cri_generation();
        assert_int_equal(cri_call_many(c, mixed, ELEMENTSOF(mixed), 2000, &err), -EIO);
        assert_int_equal(cri_generation(), g + 2);
        assert_int_equal(mixed[0].r, 0);
        assert_int_equal(mixed[1].r, -EIO);
        assert_int_equal(mixed[2].r, -EIO);
        assert_int_equal(mixed[3].r, 0);
        assert_string_equal(v1->runtime_name, "fake");
        assert_string_equal(v2->runtime_name, "fake");
        assert_null(sresp);
        assert_null(cresp);
        assert_int_equal(err.code, 12);
        assert_string_equal(err.msg,
                            "Status: rpc error: code = Unimplemented desc = method not implemented by fake");

        cri_client_free(c);
        fake_stop(&f);
        unlink(path);
}

/* Many threads share one client. */
struct par_arg {
        struct cri_client *c;
        int ok;
};

static void *par_run(void *p)
{
        struct par_arg *a = p;
        for (int i = 0; i < 20; i++) {
                _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL;
                struct cri_error err = {};
                if (call_version(a->c, 2000, &resp, &err) == 0 && streq_ptr(resp->runtime_name, "fake"))
                        a->ok++;
        }
        return NULL;
}

static void test_parallel(void **state)
{
        struct cri_client *c = NULL;
        struct fake_server f;
        struct par_arg args[8];
        pthread_t th[8];
        char path[108];

        sock_path(path, sizeof(path), "par");
        unlink(path);
        assert_int_equal(fake_start(&f, path), 0);
        assert_int_equal(cri_client_new(path, 5000, &c), 0);
        assert_true(wait_for_success(c, 3000) >= 0);

        for (size_t i = 0; i < ELEMENTSOF(th); i++) {
                args[i] = (struct par_arg){.c = c};
                assert_int_equal(pthread_create(&th[i], NULL, par_run, &args[i]), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(th); i++) {
                pthread_join(th[i], NULL);
                assert_int_equal(args[i].ok, 20);
        }
        cri_client_free(c);
        fake_stop(&f);
        unlink(path);
}

/* (d) Pure protobuf: a RunPodSandboxRequest survives encode/decode, maps included. */
static void test_roundtrip(void **state)
{
        Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
        Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
        Runtime__V1__DNSConfig dns = RUNTIME__V1__DNSCONFIG__INIT;
        Runtime__V1__PortMapping pm = RUNTIME__V1__PORT_MAPPING__INIT, *pms[] = {&pm};
        Runtime__V1__LinuxPodSandboxConfig lin = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
        Runtime__V1__LinuxSandboxSecurityContext sc = RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
        Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
        Runtime__V1__PodSandboxConfig__LabelsEntry l1 = RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
        Runtime__V1__PodSandboxConfig__LabelsEntry l2 = RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
        Runtime__V1__PodSandboxConfig__LabelsEntry *labels[] = {&l1, &l2};
        Runtime__V1__PodSandboxConfig__AnnotationsEntry a1 =
                RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT;
        Runtime__V1__PodSandboxConfig__AnnotationsEntry *annotations[] = {&a1};
        char *servers[] = {(char *) "10.96.0.10"};
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_cri_ Runtime__V1__RunPodSandboxRequest *out = NULL;
        size_t len;

        md.name = (char *) "web";
        md.uid = (char *) "0f6a3c1e-9d5b-4e0c-8a57-3c5d0b7e2f11";
        md.namespace_ = (char *) "default";
        md.attempt = 2;
        l1.key = (char *) "app";
        l1.value = (char *) "web";
        l2.key = (char *) "io.kubernetes.pod.namespace";
        l2.value = (char *) "default";
        a1.key = (char *) "kubernetes.io/config.source";
        a1.value = (char *) "file";
        dns.n_servers = 1;
        dns.servers = servers;
        pm.protocol = RUNTIME__V1__PROTOCOL__UDP;
        pm.container_port = 53;
        pm.host_port = 5353;
        ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
        ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
        sc.namespace_options = &ns;
        lin.cgroup_parent = (char *) "/kubepods/besteffort/pod0f6a3c1e";
        lin.security_context = &sc;
        cfg.metadata = &md;
        cfg.hostname = (char *) "web";
        cfg.log_directory = (char *) "/var/log/pods/default_web_0f6a3c1e";
        cfg.dns_config = &dns;
        cfg.n_port_mappings = 1;
        cfg.port_mappings = pms;
        cfg.n_labels = ELEMENTSOF(labels);
        cfg.labels = labels;
        cfg.n_annotations = ELEMENTSOF(annotations);
        cfg.annotations = annotations;
        cfg.linux = &lin;
        req.config = &cfg;
        req.runtime_handler = (char *) "runc";

        len = protobuf_c_message_get_packed_size(&req.base);
        buf = malloc(len + 2);
        assert_non_null(buf);
        assert_int_equal(protobuf_c_message_pack(&req.base, buf), len);

        out = runtime__v1__run_pod_sandbox_request__unpack(NULL, len, buf);
        assert_non_null(out);
        assert_string_equal(out->runtime_handler, "runc");
        assert_non_null(out->config);
        assert_string_equal(out->config->metadata->name, "web");
        assert_string_equal(out->config->metadata->namespace_, "default");
        assert_int_equal(out->config->metadata->attempt, 2);
        assert_string_equal(out->config->hostname, "web");
        assert_int_equal(out->config->n_labels, 2);
        assert_string_equal(out->config->labels[0]->key, "app");
        assert_string_equal(out->config->labels[0]->value, "web");
        assert_string_equal(out->config->labels[1]->key, "io.kubernetes.pod.namespace");
        assert_string_equal(out->config->labels[1]->value, "default");
        assert_int_equal(out->config->n_annotations, 1);
        assert_string_equal(out->config->annotations[0]->value, "file");
        assert_int_equal(out->config->dns_config->n_servers, 1);
        assert_string_equal(out->config->dns_config->servers[0], "10.96.0.10");
        assert_int_equal(out->config->n_port_mappings, 1);
        assert_int_equal(out->config->port_mappings[0]->protocol, RUNTIME__V1__PROTOCOL__UDP);
        assert_int_equal(out->config->port_mappings[0]->host_port, 5353);
        assert_string_equal(out->config->linux->cgroup_parent, "/kubepods/besteffort/pod0f6a3c1e");
        assert_int_equal(out->config->linux->security_context->namespace_options->pid,
                         RUNTIME__V1__NAMESPACE_MODE__CONTAINER);
        assert_int_equal(out->config->linux->security_context->namespace_options->network,
                         RUNTIME__V1__NAMESPACE_MODE__NODE);
        /* Absent sub-messages stay NULL, absent strings are "" (proto3). */
        assert_null(out->config->linux->security_context->run_as_user);
        assert_string_equal(out->config->linux->security_context->namespace_options->target_id, "");

        /* Wire check of the numbers we promised: RunPodSandboxRequest.config is field 1, length-
         * delimited (0x0a); runtime_handler is field 2 (0x12) and comes last. */
        assert_int_equal(buf[0], 0x0a);
        assert_int_equal(buf[len - 6], 0x12);
        assert_int_equal(buf[len - 5], 4);
        assert_memory_equal(buf + len - 4, "runc", 4);
}

/* Fields we left out of our proto (Windows ones, newer upstream fields) are skipped on decode. */
static void test_unknown_fields(void **state)
{
        Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
        _cleanup_cri_ Runtime__V1__PodSandboxConfig *out = NULL;
        uint8_t buf[64];
        size_t len;

        cfg.hostname = (char *) "h";
        len = protobuf_c_message_pack(&cfg.base, buf);
        /* field 9 (windows), length-delimited, containing an empty WindowsSandboxSecurityContext */
        buf[len++] = 0x4a;
        buf[len++] = 0x02;
        buf[len++] = 0x0a;
        buf[len++] = 0x00;
        /* field 99 varint */
        buf[len++] = 0x98;
        buf[len++] = 0x06;
        buf[len++] = 0x01;

        out = runtime__v1__pod_sandbox_config__unpack(NULL, len, buf);
        assert_non_null(out);
        assert_string_equal(out->hostname, "h");
}

/* A reply that does not decode as the expected message is -EBADMSG, not a crash. */
static void *bad_reply_run(void *p)
{
        struct fake_server *f = p;
        grpc_call *call = NULL;
        grpc_call_details d;
        grpc_metadata_array md;
        grpc_event ev;

        grpc_call_details_init(&d);
        grpc_metadata_array_init(&md);
        grpc_server_request_call(f->server, &call, &d, &md, f->cq, f->cq, &TAG_NEW);
        ev = grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_OP_COMPLETE && ev.tag == &TAG_NEW && ev.success) {
                static const uint8_t junk[] = {0x0a, 0x7f, 'x'}; /* length runs past the end */
                grpc_slice s = grpc_slice_from_copied_buffer((const char *) junk, sizeof(junk));
                grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1), *req = NULL;
                int cancelled;
                grpc_op ops[4];

                grpc_slice_unref(s);
                memset(ops, 0, sizeof(ops));
                ops[0].op = GRPC_OP_RECV_MESSAGE;
                ops[0].data.recv_message.recv_message = &req;
                ops[1].op = GRPC_OP_SEND_INITIAL_METADATA;
                ops[2].op = GRPC_OP_SEND_MESSAGE;
                ops[2].data.send_message.send_message = bb;
                ops[3].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
                ops[3].data.send_status_from_server.status = GRPC_STATUS_OK;
                grpc_call_start_batch(call, ops, 4, &TAG_BATCH[0], NULL);
                ev = grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                memset(ops, 0, sizeof(ops));
                ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
                ops[0].data.recv_close_on_server.cancelled = &cancelled;
                grpc_call_start_batch(call, ops, 1, &TAG_BATCH[1], NULL);
                ev = grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                grpc_byte_buffer_destroy(bb);
                if (req)
                        grpc_byte_buffer_destroy(req);
        }
        if (call)
                grpc_call_unref(call);
        grpc_call_details_destroy(&d);
        grpc_metadata_array_destroy(&md);
        return NULL;
}

static void test_bad_reply(void **state)
{
        _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL;
        struct cri_error err = {};
        struct cri_client *c = NULL;
        struct fake_server f;
        grpc_server_credentials *creds;
        char path[108];
        int r;

        sock_path(path, sizeof(path), "bad");
        unlink(path);
        memset(&f, 0, sizeof(f));
        snprintf(f.addr, sizeof(f.addr), "unix:%s", path);
        f.server = grpc_server_create(NULL, NULL);
        f.cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(f.server, f.cq, NULL);
        creds = grpc_insecure_server_credentials_create();
        assert_int_not_equal(grpc_server_add_http2_port(f.server, f.addr, creds), 0);
        grpc_server_credentials_release(creds);
        grpc_server_start(f.server);
        assert_int_equal(pthread_create(&f.thread, NULL, bad_reply_run, &f), 0);

        assert_int_equal(cri_client_new(path, 5000, &c), 0);
        /* The first call may race the server's start; the listener is up already, so it should not. */
        r = call_version(c, 3000, &resp, &err);
        print_message("bad reply: r=%d code=%d: %s\n", r, err.code, err.msg);
        assert_int_equal(r, -EBADMSG);
        assert_int_equal(err.code, 0);
        assert_null(resp);
        pthread_join(f.thread, NULL);
        cri_client_free(c);
        grpc_server_shutdown_and_notify(f.server, f.cq, &TAG_SHUTDOWN);
        grpc_server_cancel_all_calls(f.server);
        fake_destroy(&f);
        unlink(path);
}

static int group_setup(void **state)
{
        grpc_init(); /* for the fake servers; the client library does its own */
        return 0;
}

static int group_teardown(void **state)
{
        /* A failed test leaves its socket behind. */
        static const char *const names[] = {"absent", "mute", "fake", "unimpl", "par", "bad"};
        char path[108];

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                sock_path(path, sizeof(path), names[i]);
                unlink(path);
        }
        grpc_shutdown();
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 3 && streq(argv[1], "--fake-runtime"))
                return fake_runtime_main(argv[2]);

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_endpoint),       cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_unknown_fields), cmocka_unit_test(test_unavailable),
                cmocka_unit_test(test_deadline),       cmocka_unit_test(test_reconnect),
                cmocka_unit_test(test_server_error),   cmocka_unit_test(test_parallel),
                cmocka_unit_test(test_call_many),      cmocka_unit_test(test_bad_reply),
                cmocka_unit_test(test_generation),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
