/* Unit tests for gRPC probes: probe_grpc against a real grpc.health.v1 server (tests/helpers) in a child
 * process on loopback, switched between answers by its status file. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "probe_grpc.h"
#include "util.h"

#define OUT_LEN 1024

static char dir[] = "/tmp/probe-grpc.XXXXXX";
static char status_file[64], port_file[64], log_file[64];
static pid_t server_pid;
static int port;

static void set_status(const char *s)
{
        assert_int_equal(write_file_atomic(status_file, s, strlen(s), 0644), 0);
}

static int start_server(void **state)
{
        (void) state;
        if (!mkdtemp(dir))
                return -1;
        snprintf(status_file, sizeof status_file, "%s/status", dir);
        snprintf(port_file, sizeof port_file, "%s/port", dir);
        snprintf(log_file, sizeof log_file, "%s/log", dir);
        if (write_file_atomic(status_file, "SERVING", 7, 0644) < 0)
                return -1;
        server_pid = fork();
        if (server_pid < 0)
                return -1;
        if (server_pid == 0) {
                execl(HEALTH_SERVER, HEALTH_SERVER, "--listen", "127.0.0.1:0", "--status-file", status_file,
                      "--port-file", port_file, "--log", log_file, "--service", "svc", (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 200; i++) { /* 10 s */
                _cleanup_free_ char *p = NULL;
                if (read_file_limit(port_file, 64, &p, NULL) >= 0 && (port = atoi(p)) > 0)
                        return 0;
                usleep(50000);
        }
        return -1;
}

static int stop_server(void **state)
{
        (void) state;
        if (server_pid > 0) {
                kill(server_pid, SIGTERM);
                waitpid(server_pid, NULL, 0);
        }
        rm_rf(dir);
        return 0;
}

static enum probe_result probe(const char *service, int64_t timeout_ms, char *out)
{
        return probe_grpc("127.0.0.1", port, service, timeout_ms, out, OUT_LEN);
}

static void test_serving(void **state)
{
        char out[OUT_LEN];
        set_status("SERVING");
        assert_int_equal(probe("", 2000, out), PROBE_SUCCESS);
        assert_string_equal(out, "service healthy");
        assert_int_equal(probe("svc", 2000, out), PROBE_SUCCESS);

        /* The request carried the service, and we called ourselves kube-probe. */
        _cleanup_free_ char *log = NULL;
        assert_int_equal(read_file_limit(log_file, 1 << 20, &log, NULL), 0);
        assert_non_null(strstr(log, "service= user-agent=" PROBE_USER_AGENT));
        assert_non_null(strstr(log, "service=svc user-agent=" PROBE_USER_AGENT));
}

static void test_unhealthy(void **state)
{
        static const char *const cases[][2] = {
                {"NOT_SERVING", "service unhealthy (responded with \"NOT_SERVING\")"},
                {"UNKNOWN", "service unhealthy (responded with \"UNKNOWN\")"},
                {"SERVICE_UNKNOWN", "service unhealthy (responded with \"SERVICE_UNKNOWN\")"},
                {"9", "service unhealthy (responded with \"9\")"},
        };
        char out[OUT_LEN];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                set_status(cases[i][0]);
                assert_int_equal(probe("", 2000, out), PROBE_FAILURE);
                assert_string_equal(out, cases[i][1]);
        }
        set_status("SERVING"); /* and back */
        assert_int_equal(probe("", 2000, out), PROBE_SUCCESS);
}

static void test_errors(void **state)
{
        char out[OUT_LEN];
        set_status("SERVING");
        assert_int_equal(probe("other", 2000, out), PROBE_FAILURE);
        assert_string_equal(
                out, "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service");

        set_status("UNIMPLEMENTED");
        assert_int_equal(probe("", 2000, out), PROBE_FAILURE);
        assert_string_equal(out, "error: this server does not implement the grpc health protocol "
                                 "(grpc.health.v1.Health): unknown service grpc.health.v1.Health");

        set_status("GARBAGE");
        assert_int_equal(probe("", 2000, out), PROBE_FAILURE);
        assert_non_null(strstr(out, "error: health rpc probe failed: rpc error: code = Internal"));
}

static void test_rpc_timeout(void **state)
{
        char out[OUT_LEN];
        set_status("SLOW 1500");
        int64_t t0 = now_mono_ms();
        assert_int_equal(probe("", 1000, out), PROBE_FAILURE);
        int64_t took = now_mono_ms() - t0;
        assert_string_equal(out, "timeout: health rpc did not complete within 1s");
        assert_true(took >= 900 && took < 3000);
        set_status("SERVING");
        /* The server is busy until its sleep ends; the next probe still gets through in time. */
        assert_int_equal(probe("", 5000, out), PROBE_SUCCESS);
}

/* A port nobody listens on: bound, never listened, so nothing else takes it meanwhile. */
static int closed_port(int family, int *ret_fd)
{
        struct sockaddr_storage ss = {0};
        socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ss.ss_family = (sa_family_t) family;
        if (family == AF_INET)
                ((struct sockaddr_in *) &ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else
                ((struct sockaddr_in6 *) &ss)->sin6_addr = in6addr_loopback;
        if (fd < 0 || bind(fd, (struct sockaddr *) &ss, len) < 0 ||
            getsockname(fd, (struct sockaddr *) &ss, &len) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        *ret_fd = fd;
        return ntohs(family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                       : ((struct sockaddr_in6 *) &ss)->sin6_port);
}

static void test_connect_timeout(void **state)
{
        char out[OUT_LEN], want[256];
        int fd, p = closed_port(AF_INET, &fd);
        assert_true(p > 0);
        int64_t t0 = now_mono_ms();
        assert_int_equal(probe_grpc("127.0.0.1", p, "", 1000, out, sizeof out), PROBE_FAILURE);
        int64_t took = now_mono_ms() - t0;
        snprintf(want, sizeof want,
                 "timeout: failed to connect service \"127.0.0.1:%d\" within 1s: context deadline exceeded",
                 p);
        assert_string_equal(out, want);
        assert_true(took >= 900 && took < 3000); /* as grpc.WithBlock: it waits out the timeout */
        close(fd);

        p = closed_port(AF_INET6, &fd);
        if (p < 0) {
                print_message("no IPv6 loopback; skipping the [::1] case\n");
                return;
        }
        assert_int_equal(probe_grpc("::1", p, "", 1000, out, sizeof out), PROBE_FAILURE);
        snprintf(want, sizeof want,
                 "timeout: failed to connect service \"[::1]:%d\" within 1s: context deadline exceeded", p);
        assert_string_equal(out, want);
        close(fd);
}

static void test_invalid(void **state)
{
        char out[OUT_LEN];
        assert_int_equal(probe_grpc("", 80, "", 1000, out, sizeof out), PROBE_UNKNOWN);
        assert_int_equal(probe_grpc("not-an-ip", 80, "", 1000, out, sizeof out), PROBE_UNKNOWN);
        assert_int_equal(probe_grpc("127.0.0.1", 0, "", 1000, out, sizeof out), PROBE_UNKNOWN);
        assert_int_equal(probe_grpc("127.0.0.1", 70000, "", 1000, out, sizeof out), PROBE_UNKNOWN);
        assert_int_equal(probe_grpc(NULL, 80, "", 1000, NULL, 0), PROBE_UNKNOWN);
}

/* The verdict from what a server sent, without a server: the replies a real one does not send. */
static void test_verdict(void **state)
{
        char out[OUT_LEN];
        static const uint8_t serving[] = {0x08, 0x01}, odd[] = {0x08, 0x07}, bad[] = {0x08};
        assert_int_equal(probe_grpc_verdict(0, NULL, 0, serving, sizeof serving, "1s", out, sizeof out),
                         PROBE_SUCCESS);
        assert_string_equal(out, "service healthy");
        /* An empty reply is UNKNOWN (proto3's default), no reply at all cannot be decoded. */
        assert_int_equal(probe_grpc_verdict(0, NULL, 0, (const uint8_t *) "", 0, "1s", out, sizeof out),
                         PROBE_FAILURE);
        assert_string_equal(out, "service unhealthy (responded with \"UNKNOWN\")");
        assert_int_equal(probe_grpc_verdict(0, NULL, 0, NULL, 0, "1s", out, sizeof out), PROBE_FAILURE);
        assert_non_null(strstr(out, "failed to unmarshal"));
        assert_int_equal(probe_grpc_verdict(0, NULL, 0, bad, sizeof bad, "1s", out, sizeof out),
                         PROBE_FAILURE);
        assert_non_null(strstr(out, "failed to unmarshal"));
        assert_int_equal(probe_grpc_verdict(0, NULL, 0, odd, sizeof odd, "1s", out, sizeof out),
                         PROBE_FAILURE);
        assert_string_equal(out, "service unhealthy (responded with \"7\")");
        /* Details are bytes of the server's choosing: only details_len of them, cut at a NUL. */
        assert_int_equal(probe_grpc_verdict(5, "gone\0tail", 9, NULL, 0, "1s", out, sizeof out),
                         PROBE_FAILURE);
        assert_string_equal(out, "error: health rpc probe failed: rpc error: code = NotFound desc = gone");
        assert_int_equal(probe_grpc_verdict(99, "abcdef", 3, NULL, 0, "1s", out, 12), PROBE_FAILURE);
        assert_string_equal(out, "error: heal");
        assert_int_equal(probe_grpc_verdict(4, NULL, 0, NULL, 0, "2s", NULL, 0), PROBE_FAILURE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_serving),         cmocka_unit_test(test_unhealthy),
                cmocka_unit_test(test_errors),          cmocka_unit_test(test_rpc_timeout),
                cmocka_unit_test(test_connect_timeout), cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_verdict),
        };
        return cmocka_run_group_tests(tests, start_server, stop_server);
}
