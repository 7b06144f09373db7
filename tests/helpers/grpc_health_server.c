/* A tiny grpc.health.v1 server on gRPC C core for the gRPC probe tests: answers Health/Check with what a
 * file says, read at every call, so a test switches it by rewriting the file. Single-threaded on purpose.
 *
 *   grpc-health-server --listen 127.0.0.1:0 --status-file F --port-file P [--log L] [--service NAME]...
 *
 * The file holds SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN or a number (the status answered),
 * UNIMPLEMENTED (that gRPC status), "SLOW <ms>" (wait, then SERVING) or GARBAGE (a reply that is no
 * HealthCheckResponse). The service "" and every --service answer so; others get NotFound "unknown
 * service", as grpc-go's health server. The bound port goes to P (written once listening); each call
 * appends "service=<s> user-agent=<ua>" to L. Runs until SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "health.pb-c.h"

static char TAG_NEW, TAG_BATCH, TAG_CLOSE, TAG_SHUTDOWN;

struct server {
        grpc_server *server;
        grpc_completion_queue *cq;
        const char *status_file, *log_file;
        char **services;
        int n_services;
};

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
        (void) sig;
        stopping = 1;
}

static bool slice_eq(grpc_slice s, const char *str)
{
        return GRPC_SLICE_LENGTH(s) == strlen(str) && memcmp(GRPC_SLICE_START_PTR(s), str, strlen(str)) == 0;
}

/* Waits for one of our tags; false when the queue is shutting down or we are asked to stop. */
static bool wait_tag(struct server *s, void *tag)
{
        for (;;) {
                grpc_event ev = grpc_completion_queue_next(
                        s->cq,
                        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(200, GPR_TIMESPAN)),
                        NULL);
                if (ev.type == GRPC_QUEUE_SHUTDOWN)
                        return false;
                if (ev.type == GRPC_QUEUE_TIMEOUT) {
                        if (stopping)
                                return false;
                        continue;
                }
                if (ev.tag == tag)
                        return ev.success != 0;
        }
}

static char *read_status(const char *path)
{
        static char buf[128];
        FILE *f = fopen(path, "re");
        buf[0] = 0;
        if (f) {
                if (!fgets(buf, sizeof buf, f))
                        buf[0] = 0;
                fclose(f);
        }
        buf[strcspn(buf, "\r\n")] = 0;
        return buf;
}

static int status_value(const char *s)
{
        static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
        for (int i = 0; i < 4; i++)
                if (strcmp(s, names[i]) == 0)
                        return i;
        return atoi(s);
}

static grpc_byte_buffer *pack_status(int v)
{
        Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        r.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus) v;
        size_t n = grpc__health__v1__health_check_response__get_packed_size(&r);
        grpc_slice sl = grpc_slice_malloc(n);
        grpc__health__v1__health_check_response__pack(&r, GRPC_SLICE_START_PTR(sl));
        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
        grpc_slice_unref(sl);
        return bb;
}

static char *request_service(grpc_byte_buffer *bb)
{
        grpc_byte_buffer_reader r;
        char *out = NULL;
        if (!bb || !grpc_byte_buffer_reader_init(&r, bb))
                return NULL;
        grpc_slice sl = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        Grpc__Health__V1__HealthCheckRequest *req = grpc__health__v1__health_check_request__unpack(
                NULL, GRPC_SLICE_LENGTH(sl), GRPC_SLICE_START_PTR(sl));
        grpc_slice_unref(sl);
        if (req) {
                out = strdup(req->service ? req->service : "");
                grpc__health__v1__health_check_request__free_unpacked(req, NULL);
        }
        return out;
}

static void log_call(struct server *s, const char *service, const grpc_metadata_array *md)
{
        if (!s->log_file)
                return;
        FILE *f = fopen(s->log_file, "ae");
        if (!f)
                return;
        fprintf(f, "service=%s user-agent=", service ? service : "(undecodable)");
        for (size_t i = 0; i < md->count; i++)
                if (slice_eq(md->metadata[i].key, "user-agent"))
                        fprintf(f, "%.*s", (int) GRPC_SLICE_LENGTH(md->metadata[i].value),
                                (const char *) GRPC_SLICE_START_PTR(md->metadata[i].value));
        fprintf(f, "\n");
        fclose(f);
}

static bool known_service(struct server *s, const char *service)
{
        if (!service || !service[0])
                return true;
        for (int i = 0; i < s->n_services; i++)
                if (strcmp(s->services[i], service) == 0)
                        return true;
        return false;
}

/* Answers one call; false when the server is going away. */
static bool answer(struct server *s, grpc_call *call, const grpc_call_details *d,
                   const grpc_metadata_array *md)
{
        grpc_byte_buffer *req = NULL, *reply = NULL;
        grpc_status_code code = GRPC_STATUS_OK;
        const char *details = "";
        int cancelled = 0;
        grpc_op ops[4] = {{0}};

        ops[0].op = GRPC_OP_RECV_MESSAGE;
        ops[0].data.recv_message.recv_message = &req;
        if (grpc_call_start_batch(call, ops, 1, &TAG_BATCH, NULL) != GRPC_CALL_OK ||
            !wait_tag(s, &TAG_BATCH))
                return !stopping;

        char *service = request_service(req);
        log_call(s, service, md);
        char *st = read_status(s->status_file);
        if (!slice_eq(d->method, "/grpc.health.v1.Health/Check") || strcmp(st, "UNIMPLEMENTED") == 0) {
                code = GRPC_STATUS_UNIMPLEMENTED;
                details = "unknown service grpc.health.v1.Health";
        } else if (!known_service(s, service)) {
                code = GRPC_STATUS_NOT_FOUND;
                details = "unknown service";
        } else if (strncmp(st, "SLOW", 4) == 0) {
                struct timespec ts = {.tv_sec = atoi(st + 4) / 1000,
                                      .tv_nsec = (atoi(st + 4) % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                reply = pack_status(1);
        } else if (strcmp(st, "GARBAGE") == 0) {
                grpc_slice sl = grpc_slice_from_copied_string("\x0f\xff\xff");
                reply = grpc_raw_byte_buffer_create(&sl, 1);
                grpc_slice_unref(sl);
        } else
                reply = pack_status(status_value(st));
        free(service);

        grpc_slice det = grpc_slice_from_copied_string(details);
        size_t n = 0;
        memset(ops, 0, sizeof ops);
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (reply) {
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n++].data.send_message.send_message = reply;
        }
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = code;
        ops[n++].data.send_status_from_server.status_details = code == GRPC_STATUS_OK ? NULL : &det;
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &cancelled;
        bool ok = grpc_call_start_batch(call, ops, n, &TAG_CLOSE, NULL) == GRPC_CALL_OK;
        if (ok)
                ok = wait_tag(s, &TAG_CLOSE) || !stopping;
        grpc_slice_unref(det);
        if (req)
                grpc_byte_buffer_destroy(req);
        if (reply)
                grpc_byte_buffer_destroy(reply);
        return ok && !stopping;
}

static void serve(struct server *s)
{
        while (!stopping) {
                grpc_call *call = NULL;
                grpc_call_details d;
                grpc_metadata_array md;
                grpc_call_details_init(&d);
                grpc_metadata_array_init(&md);
                bool more = grpc_server_request_call(s->server, &call, &d, &md, s->cq, s->cq, &TAG_NEW) ==
                                    GRPC_CALL_OK &&
                            wait_tag(s, &TAG_NEW);
                if (more && call)
                        more = answer(s, call, &d, &md);
                if (call)
                        grpc_call_unref(call);
                grpc_call_details_destroy(&d);
                grpc_metadata_array_destroy(&md);
                if (!more)
                        break;
        }
}

static int write_port(const char *path, int port)
{
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fprintf(f, "%d\n", port);
        if (fclose(f) != 0 || rename(tmp, path) < 0)
                return -errno;
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                {"listen", required_argument, NULL, 'l'},    {"status-file", required_argument, NULL, 's'},
                {"port-file", required_argument, NULL, 'p'}, {"log", required_argument, NULL, 'L'},
                {"service", required_argument, NULL, 'S'},   {0}};
        struct server s = {0};
        const char *listen = "127.0.0.1:0", *port_file = NULL;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'l':
                        listen = optarg;
                        break;
                case 's':
                        s.status_file = optarg;
                        break;
                case 'p':
                        port_file = optarg;
                        break;
                case 'L':
                        s.log_file = optarg;
                        break;
                case 'S':
                        s.services = realloc(s.services, (size_t) (s.n_services + 1) * sizeof *s.services);
                        if (!s.services)
                                return 1;
                        s.services[s.n_services++] = optarg;
                        break;
                default:
                        return 2;
                }
        }
        if (!s.status_file || !port_file) {
                fprintf(stderr,
                        "usage: %s --status-file F --port-file P [--listen ADDR] [--log L] [--service S]\n",
                        argv[0]);
                return 2;
        }
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        grpc_init();
        s.server = grpc_server_create(NULL, NULL);
        s.cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s.server, s.cq, NULL);
        grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
        int port = grpc_server_add_http2_port(s.server, listen, creds);
        grpc_server_credentials_release(creds);
        if (port == 0) {
                fprintf(stderr, "cannot listen on %s\n", listen);
                return 1;
        }
        grpc_server_start(s.server);
        if (write_port(port_file, port) < 0) {
                fprintf(stderr, "cannot write %s\n", port_file);
                return 1;
        }
        serve(&s);

        grpc_server_shutdown_and_notify(s.server, s.cq, &TAG_SHUTDOWN);
        grpc_server_cancel_all_calls(s.server);
        for (grpc_event ev;
             (ev = grpc_completion_queue_next(s.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)).tag !=
             &TAG_SHUTDOWN;)
                ;
        grpc_server_destroy(s.server);
        grpc_completion_queue_shutdown(s.cq);
        while (grpc_completion_queue_next(s.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(s.cq);
        free(s.services);
        grpc_shutdown();
        return 0;
}
