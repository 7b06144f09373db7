/* cri/h2.c against scripted HTTP/2 peers on a unix socket: what real servers rarely send (CONTINUATION,
 * padding, a split message prefix, a dynamic table entry, trailers-only, RST_STREAM, GOAWAY, PING, a small
 * flow-control window, an undecodable header block), and what the client must send back. The real gRPC
 * servers are unit_cri's and unit_cri_events' (gRPC C core) and containerd's (Go) in the integration
 * tests. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "h2.h"
#include "hpack.h"
#include "macro.h"
#include "util.h"

enum { DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT };
#define END_STREAM  0x1
#define ACK         0x1
#define END_HEADERS 0x4
#define PADDED      0x8

struct frame {
        uint8_t type, flags;
        uint32_t id;
        uint8_t *p;
        size_t len;
};

struct peer;
typedef void (*script_fn)(struct peer *p, int fd, int conn);

struct peer {
        char path[108];
        int lfd;
        pthread_t thread;
        script_fn script;
        int max_conns;
        /* What the script saw, for the test to check after the join. */
        int conns;
        char fields[1024]; /* the first request's header fields, "name: value\n" */
        uint8_t msg[256 * 1024];
        size_t msg_len;
        uint32_t ids[8];
        int n_ids;
        uint32_t rst_code, goaway_code;
        bool got_rst, got_goaway, got_settings_ack, got_ping_ack, window_broken;
        char error[256]; /* a protocol fault of the client's, "" when none */
};

static void fail_peer(struct peer *p, const char *fmt, ...) _printf_(2, 3);
static void fail_peer(struct peer *p, const char *fmt, ...)
{
        va_list ap;
        if (p->error[0])
                return;
        va_start(ap, fmt);
        vsnprintf(p->error, sizeof p->error, fmt, ap);
        va_end(ap);
}

static bool read_all(int fd, void *b, size_t n)
{
        uint8_t *q = b;
        while (n > 0) {
                ssize_t k = read(fd, q, n);
                if (k <= 0)
                        return false;
                q += k;
                n -= (size_t) k;
        }
        return true;
}

static void write_all(int fd, const void *b, size_t n)
{
        const uint8_t *q = b;
        while (n > 0) {
                ssize_t k = send(fd, q, n, MSG_NOSIGNAL);
                if (k <= 0)
                        return;
                q += k;
                n -= (size_t) k;
        }
}

static bool read_frame(int fd, struct frame *f)
{
        uint8_t h[9];
        free(f->p);
        *f = (struct frame){0};
        if (!read_all(fd, h, 9))
                return false;
        f->len = (size_t) h[0] << 16 | (size_t) h[1] << 8 | h[2];
        f->type = h[3];
        f->flags = h[4];
        f->id = ((uint32_t) h[5] << 24 | (uint32_t) h[6] << 16 | (uint32_t) h[7] << 8 | h[8]) & 0x7fffffff;
        f->p = malloc(f->len ? f->len : 1);
        return f->p && read_all(fd, f->p, f->len);
}

/* Reads until the client closes the connection. */
static void drain(int fd)
{
        struct frame f = {0};
        while (read_frame(fd, &f))
                ;
        free(f.p);
}

static void write_frame(int fd, uint8_t type, uint8_t flags, uint32_t id, const void *p, size_t len)
{
        uint8_t h[9] = {(uint8_t) (len >> 16), (uint8_t) (len >> 8), (uint8_t) len,       type,        flags,
                        (uint8_t) (id >> 24),  (uint8_t) (id >> 16), (uint8_t) (id >> 8), (uint8_t) id};
        write_all(fd, h, 9);
        if (len)
                write_all(fd, p, len);
}

static uint32_t get32(const uint8_t *b)
{
        return (uint32_t) b[0] << 24 | (uint32_t) b[1] << 16 | (uint32_t) b[2] << 8 | b[3];
}

static void put32(uint8_t *b, uint32_t v)
{
        b[0] = (uint8_t) (v >> 24);
        b[1] = (uint8_t) (v >> 16);
        b[2] = (uint8_t) (v >> 8);
        b[3] = (uint8_t) v;
}

static int collect(void *ud, const char *name, size_t name_len, const char *value, size_t value_len)
{
        struct peer *p = ud;
        size_t used = strlen(p->fields);
        snprintf(p->fields + used, sizeof p->fields - used, "%.*s: %.*s\n", (int) name_len, name,
                 (int) value_len, value);
        return 0;
}

/* The preface, the client's SETTINGS (and its connection window), then ours. */
static void handshake(struct peer *p, int fd, const uint8_t *settings, size_t len)
{
        char preface[24];
        struct frame f = {0};
        if (!read_all(fd, preface, sizeof preface) ||
            memcmp(preface, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24))
                fail_peer(p, "no preface");
        if (!read_frame(fd, &f) || f.type != SETTINGS || f.flags != 0)
                fail_peer(p, "no SETTINGS first");
        free(f.p);
        write_frame(fd, SETTINGS, 0, 0, settings, len);
}

/* Reads frames until one of type comes; notes the control frames on the way. The connection window the
 * client opens and SETTINGS acks are expected; DATA is gathered into p->msg. */
static bool expect(struct peer *p, int fd, uint8_t type, struct frame *f)
{
        for (;;) {
                if (!read_frame(fd, f))
                        return false;
                switch (f->type) {
                case SETTINGS:
                        if (f->flags & ACK)
                                p->got_settings_ack = true;
                        break;
                case PING:
                        if (f->flags & ACK)
                                p->got_ping_ack = f->len == 8 && memcmp(f->p, "pingpong", 8) == 0;
                        break;
                case RST:
                        p->got_rst = true;
                        p->rst_code = f->len == 4 ? get32(f->p) : 0xffffffff;
                        break;
                case GOAWAY:
                        p->got_goaway = true;
                        p->goaway_code = f->len >= 8 ? get32(f->p + 4) : 0xffffffff;
                        break;
                case HEADERS:
                        if (p->n_ids < (int) ELEMENTSOF(p->ids))
                                p->ids[p->n_ids++] = f->id;
                        if (!p->fields[0]) {
                                struct hpack_decoder d;
                                hpack_decoder_init(&d, 4096);
                                if (!(f->flags & END_HEADERS) ||
                                    hpack_decode(&d, f->p, f->len, 4096, collect, p) < 0)
                                        fail_peer(p, "request headers");
                                hpack_decoder_free(&d);
                        }
                        break;
                case DATA:
                        if (p->msg_len + f->len > sizeof p->msg)
                                fail_peer(p, "request too long");
                        else {
                                memcpy(p->msg + p->msg_len, f->p, f->len);
                                p->msg_len += f->len;
                        }
                        break;
                }
                if (f->type == type)
                        return true;
        }
}

/* Reads a whole request (HEADERS, then DATA up to END_STREAM); its stream id. */
static uint32_t read_request(struct peer *p, int fd)
{
        struct frame f = {0};
        uint32_t id = 0;
        p->msg_len = 0;
        if (expect(p, fd, HEADERS, &f)) {
                id = f.id;
                while (!(f.flags & END_STREAM) && expect(p, fd, DATA, &f))
                        ;
        }
        free(f.p);
        return id;
}

/* A header block of literal fields: "name", "value", ..., NULL. */
static size_t block(uint8_t *b, size_t cap, ...)
{
        va_list ap;
        size_t n = 0;
        const char *name;
        va_start(ap, cap);
        while ((name = va_arg(ap, const char *)))
                assert_true(hpack_put_literal(b, cap, &n, name, va_arg(ap, const char *)));
        va_end(ap);
        return n;
}

static void respond_ok(int fd, uint32_t id, const char *msg)
{
        uint8_t b[512], m[256];
        size_t n = block(b, sizeof b, ":status", "200", "content-type", "application/grpc", NULL);
        write_frame(fd, HEADERS, END_HEADERS, id, b, n);
        size_t len = strlen(msg);
        m[0] = 0;
        put32(m + 1, (uint32_t) len);
        memcpy(m + 5, msg, len);
        write_frame(fd, DATA, 0, id, m, 5 + len);
        n = block(b, sizeof b, "grpc-status", "0", NULL);
        write_frame(fd, HEADERS, END_HEADERS | END_STREAM, id, b, n);
}

static void *peer_run(void *arg)
{
        struct peer *p = arg;
        for (int i = 0; i < p->max_conns; i++) {
                int fd = accept(p->lfd, NULL, NULL);
                if (fd < 0)
                        break;
                struct timeval tv = {.tv_sec = 10};
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                p->conns++;
                p->script(p, fd, i);
                close(fd);
        }
        return NULL;
}

static struct h2_conn *peer_start(struct peer *p, script_fn script, int max_conns)
{
        static int seq;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memset(p, 0, sizeof *p);
        p->script = script;
        p->max_conns = max_conns;
        snprintf(p->path, sizeof p->path, "/tmp/h2-test-%d-%d.sock", (int) getpid(), seq++);
        unlink(p->path);
        strcpy(sa.sun_path, p->path);
        p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(p->lfd >= 0);
        assert_int_equal(bind(p->lfd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(p->lfd, 4), 0);
        assert_int_equal(pthread_create(&p->thread, NULL, peer_run, p), 0);
        struct h2_conn *c;
        char target[128];
        snprintf(target, sizeof target, "unix://%s", p->path);
        assert_int_equal(h2_conn_new(target, &c), 0);
        return c;
}

/* Frees the client first (its connection closes, a script waiting for more reads EOF), then joins. */
static void peer_finish(struct peer *p, struct h2_conn *c)
{
        h2_conn_free(c);
        shutdown(p->lfd, SHUT_RDWR);
        pthread_join(p->thread, NULL);
        close(p->lfd);
        unlink(p->path);
        if (p->error[0])
                fail_msg("peer: %s", p->error);
}

static int call(struct h2_conn *c, const char *req, int64_t timeout_ms, size_t max, char *out,
                size_t out_len, struct h2_status *st)
{
        uint8_t *resp = NULL;
        size_t len = 0;
        int r = h2_unary(c, "/test.Svc/Call", (const uint8_t *) req, strlen(req), now_mono_ms() + timeout_ms,
                         max, &resp, &len, st);
        if (r == 0)
                snprintf(out, out_len, "%.*s", (int) len, (const char *) resp);
        free(resp);
        return r;
}

/* ---- the scripts ------------------------------------------------------------------------------ */

/* The response's headers split over HEADERS and CONTINUATION, its message over two padded DATA frames
 * (the split inside the 5-octet prefix), then the trailers. */
static void script_split(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        uint32_t id = read_request(p, fd);
        uint8_t b[512];
        size_t n = block(b, sizeof b, ":status", "200", "content-type", "application/grpc+proto", NULL);
        write_frame(fd, HEADERS, 0, id, b, 7);
        write_frame(fd, CONT, END_HEADERS, id, b + 7, n - 7);
        /* pad length 4, 3 octets of the prefix, 4 of padding */
        static const uint8_t d1[] = {4, 0, 0, 0, 0, 0, 0, 0};
        static const uint8_t d2[] = {2, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0};
        write_frame(fd, DATA, PADDED, id, d1, sizeof d1);
        write_frame(fd, DATA, PADDED, id, d2, sizeof d2);
        n = block(b, sizeof b, "grpc-status", "0", "grpc-message", "", NULL);
        write_frame(fd, HEADERS, END_HEADERS | END_STREAM, id, b, n);
        struct frame f = {0};
        while (read_frame(fd, &f)) /* until the client closes: acks on the way */
                if (f.type == SETTINGS && (f.flags & ACK))
                        p->got_settings_ack = true;
        free(f.p);
}

static void test_split(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_split, 1);
        struct h2_status st;
        char out[64];
        h2_conn_set_user_agent(c, "probe/1");
        assert_int_equal(call(c, "ping?", 5000, 1024, out, sizeof out, &st), 0);
        assert_int_equal(st.code, H2_OK);
        assert_string_equal(out, "hello");
        peer_finish(&p, c);
        assert_true(p.got_settings_ack);
        /* The request: gRPC's headers, the message with its prefix. */
        print_message("request fields:\n%s", p.fields);
        assert_non_null(strstr(p.fields, ":method: POST\n:scheme: http\n:path: /test.Svc/Call\n"));
        assert_non_null(strstr(p.fields, "content-type: application/grpc\n"));
        assert_non_null(strstr(p.fields, "te: trailers\n"));
        assert_non_null(strstr(p.fields, "user-agent: probe/1\n"));
        assert_non_null(strstr(p.fields, "grpc-timeout: "));
        assert_int_equal(p.msg_len, 10);
        assert_memory_equal(p.msg, "\0\0\0\0\5ping?", 10);
}

/* Trailers-only (one HEADERS with END_STREAM), a status and a percent-encoded message. */
static void script_trailers_only(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        uint32_t id = read_request(p, fd);
        uint8_t b[512];
        size_t n = block(b, sizeof b, ":status", "200", "content-type", "application/grpc", "grpc-status",
                         "5", "grpc-message", "no%20such%20thing", NULL);
        write_frame(fd, HEADERS, END_HEADERS | END_STREAM, id, b, n);
        drain(fd);
}

static void test_trailers_only(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_trailers_only, 1);
        struct h2_status st;
        char out[64];
        assert_int_equal(call(c, "x", 5000, 1024, out, sizeof out, &st), -EIO);
        assert_int_equal(st.code, H2_NOT_FOUND);
        assert_string_equal(st.msg, "no such thing");
        peer_finish(&p, c);
        assert_false(p.got_rst); /* the stream ended: nothing to reset */
}

/* An HTTP error status, no gRPC in it. */
static void script_http_503(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        uint32_t id = read_request(p, fd);
        uint8_t b[64];
        size_t n = block(b, sizeof b, ":status", "503", NULL);
        write_frame(fd, HEADERS, END_HEADERS | END_STREAM, id, b, n);
        drain(fd);
}

static void test_http_status(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_http_503, 1);
        struct h2_status st;
        char out[64];
        assert_int_equal(call(c, "x", 5000, 1024, out, sizeof out, &st),
                         -ECONNREFUSED); /* Unavailable, whoever said it */
        assert_int_equal(st.code, H2_UNAVAILABLE);
        assert_string_equal(st.msg, "unexpected HTTP status code received from server: 503");
        peer_finish(&p, c);
}

/* The first stream refused (REFUSED_STREAM): the client asks again on a new stream. */
static void script_refused(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        uint32_t id = read_request(p, fd);
        uint8_t code[4];
        put32(code, 7);
        write_frame(fd, RST, 0, id, code, 4);
        id = read_request(p, fd);
        respond_ok(fd, id, "second");
        drain(fd);
}

static void test_refused_retry(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_refused, 1);
        struct h2_status st;
        char out[64];
        assert_int_equal(call(c, "x", 5000, 1024, out, sizeof out, &st), 0);
        assert_string_equal(out, "second");
        peer_finish(&p, c);
        assert_int_equal(p.n_ids, 2);
        assert_int_equal(p.ids[0], 1);
        assert_int_equal(p.ids[1], 3);
}

/* Several calls at once: the peer reads all three requests before it answers any (one call after another
 * would wait for a reply that never comes), answers out of order, and refuses the third untouched, which
 * goes again on a new stream. A first call before them: on a new connection the calls go one by one until
 * the server's SETTINGS said how many streams it allows. */
static void script_many(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        respond_ok(fd, read_request(p, fd), "warm");
        uint32_t a = read_request(p, fd), b = read_request(p, fd), c = read_request(p, fd);
        respond_ok(fd, b, "B");
        respond_ok(fd, a, "A");
        uint8_t code[4];
        put32(code, 7); /* REFUSED_STREAM */
        write_frame(fd, RST, 0, c, code, 4);
        respond_ok(fd, read_request(p, fd), "C");
        drain(fd);
}

static void many(struct h2_conn *c, const char *const *reqs, struct h2_unary_call *calls, size_t n,
                 int64_t timeout_ms)
{
        for (size_t i = 0; i < n; i++)
                calls[i] = (struct h2_unary_call){.path = "/test.Svc/Call",
                                                  .req = (const uint8_t *) reqs[i],
                                                  .req_len = strlen(reqs[i]),
                                                  .deadline_ms = now_mono_ms() + timeout_ms,
                                                  .max_resp = 1024};
        h2_unary_many(c, calls, n);
}

static void assert_reply(struct h2_unary_call *k, const char *want)
{
        assert_int_equal(k->r, 0);
        assert_int_equal(k->st.code, H2_OK);
        assert_int_equal(k->resp_len, strlen(want));
        assert_memory_equal(k->resp, want, strlen(want));
        free(k->resp);
}

static void test_many(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_many, 1);
        struct h2_status st;
        char out[64];
        assert_int_equal(call(c, "w", 5000, 1024, out, sizeof out, &st), 0);
        static const char *const reqs[] = {"a", "b", "c"};
        struct h2_unary_call calls[3];
        many(c, reqs, calls, 3, 5000);
        assert_reply(&calls[0], "A");
        assert_reply(&calls[1], "B");
        assert_reply(&calls[2], "C");
        peer_finish(&p, c);
        assert_int_equal(p.n_ids, 5);
        assert_int_equal(p.ids[4], 9);
}

/* A server that allows one stream at a time gets the calls one after another (at once, the second would
 * wait for the first's stream slot, held until all were sent). */
static void script_one_stream(struct peer *p, int fd, int conn)
{
        (void) conn;
        static const uint8_t s[] = {0, 3, 0, 0, 0, 1}; /* SETTINGS_MAX_CONCURRENT_STREAMS 1 */
        handshake(p, fd, s, sizeof s);
        respond_ok(fd, read_request(p, fd), "warm");
        respond_ok(fd, read_request(p, fd), "1");
        respond_ok(fd, read_request(p, fd), "2");
        drain(fd);
}

static void test_many_one_stream(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_one_stream, 1);
        struct h2_status st;
        char out[64];
        assert_int_equal(call(c, "w", 5000, 1024, out, sizeof out, &st), 0); /* the server's SETTINGS came */
        assert_string_equal(out, "warm");
        static const char *const reqs[] = {"x", "y"};
        struct h2_unary_call calls[2];
        many(c, reqs, calls, 2, 3000);
        assert_reply(&calls[0], "1");
        assert_reply(&calls[1], "2");
        peer_finish(&p, c);
}

/* GOAWAY before the stream was processed, and the connection closed: the call goes again on a new one. */
static void script_goaway(struct peer *p, int fd, int conn)
{
        handshake(p, fd, NULL, 0);
        uint32_t id = read_request(p, fd);
        if (conn == 0) {
                uint8_t g[8] = {0};
                write_frame(fd, GOAWAY, 0, 0, g, 8);
                return; /* closed */
        }
        respond_ok(fd, id, "again");
        drain(fd);
}

static void test_goaway_retry(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_goaway, 2);
        struct h2_status st;
        char out[64];
        int r = call(c, "x", 5000, 1024, out, sizeof out, &st);
        print_message("goaway: r=%d %s\n", r, r ? st.msg : out);
        assert_int_equal(r, 0);
        assert_string_equal(out, "again");
        peer_finish(&p, c);
        assert_int_equal(p.conns, 2);
}

/* A message prefix announcing more than the client takes. */
static void script_too_large(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        uint32_t id = read_request(p, fd);
        uint8_t b[512];
        size_t n = block(b, sizeof b, ":status", "200", "content-type", "application/grpc", NULL);
        write_frame(fd, HEADERS, END_HEADERS, id, b, n);
        static const uint8_t big[] = {0, 0, 0x20, 0, 0, 'x'}; /* 2 MiB announced */
        write_frame(fd, DATA, 0, id, big, sizeof big);
        struct frame f = {0};
        expect(p, fd, RST, &f);
        free(f.p);
}

static void test_too_large(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_too_large, 1);
        struct h2_status st;
        char out[64];
        assert_int_equal(call(c, "x", 5000, 1024 * 1024, out, sizeof out, &st), -EIO);
        assert_int_equal(st.code, H2_RESOURCE_EXHAUSTED);
        assert_string_equal(st.msg, "grpc: received message larger than max (2097152 vs. 1048576)");
        peer_finish(&p, c);
        assert_true(p.got_rst);
        assert_int_equal(p.rst_code, 8); /* CANCEL */
}

/* A small window (1000 octets a stream, the connection's 65535), opened a little at a time: the client
 * never sends past it, and the request arrives whole. */
#define BIG_REQ (100 * 1024)
static void script_window(struct peer *p, int fd, int conn)
{
        (void) conn;
        uint8_t s[6] = {0, 4};
        put32(s + 2, 1000);
        handshake(p, fd, s, sizeof s);
        /* A first call: the client has our SETTINGS once it has the answer (they came first). */
        uint32_t id = read_request(p, fd);
        respond_ok(fd, id, "warm");
        int64_t stream_win = 1000, conn_win = 65535 - (int64_t) p->msg_len;
        p->msg_len = 0;
        struct frame f = {0};
        bool done = false;
        while (!done && expect(p, fd, DATA, &f)) {
                id = f.id;
                stream_win -= (int64_t) f.len;
                conn_win -= (int64_t) f.len;
                if (stream_win < 0 || conn_win < 0)
                        p->window_broken = true;
                done = f.flags & END_STREAM;
                if (stream_win < 500) {
                        uint8_t inc[4];
                        put32(inc, 4000);
                        write_frame(fd, WINDOW, 0, id, inc, 4);
                        stream_win += 4000;
                }
                if (conn_win < 8000) {
                        uint8_t inc[4];
                        put32(inc, 16000);
                        write_frame(fd, WINDOW, 0, 0, inc, 4);
                        conn_win += 16000;
                }
        }
        free(f.p);
        respond_ok(fd, id, "whole");
        drain(fd);
}

static void test_flow_control(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_window, 1);
        struct h2_status st;
        char *req = malloc(BIG_REQ + 1);
        for (size_t i = 0; i < BIG_REQ; i++)
                req[i] = (char) ('a' + i % 26);
        req[BIG_REQ] = 0;
        char out[64];
        assert_int_equal(call(c, "w", 5000, 1024, out, sizeof out, &st), 0);
        assert_string_equal(out, "warm");
        assert_int_equal(call(c, req, 10000, 1024, out, sizeof out, &st), 0);
        assert_string_equal(out, "whole");
        peer_finish(&p, c);
        assert_false(p.window_broken);
        assert_int_equal(p.msg_len, 5 + BIG_REQ);
        assert_memory_equal(p.msg + 5, req, BIG_REQ);
        free(req);
}

/* A PING is answered with the same octets; the second response's headers come from the dynamic table the
 * first one filled. */
static void script_ping_table(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        uint32_t id = read_request(p, fd);
        write_frame(fd, PING, 0, 0, "pingpong", 8);
        struct frame f = {0};
        expect(p, fd, PING, &f);
        /* ":status: 200" indexed (0x88), content-type as a literal with incremental indexing (new name) */
        uint8_t b[128] = {0x88, 0x40};
        size_t n = 2;
        b[n++] = 12;
        memcpy(b + n, "content-type", 12);
        n += 12;
        b[n++] = 16;
        memcpy(b + n, "application/grpc", 16);
        n += 16;
        write_frame(fd, HEADERS, END_HEADERS, id, b, n);
        static const uint8_t m[] = {0, 0, 0, 0, 1, '1'};
        write_frame(fd, DATA, 0, id, m, sizeof m);
        n = block(b, sizeof b, "grpc-status", "0", NULL);
        write_frame(fd, HEADERS, END_HEADERS | END_STREAM, id, b, n);

        id = read_request(p, fd);
        static const uint8_t again[] = {0x88, 0xbe}; /* :status 200, then entry 62: content-type */
        write_frame(fd, HEADERS, END_HEADERS, id, again, sizeof again);
        static const uint8_t m2[] = {0, 0, 0, 0, 1, '2'};
        write_frame(fd, DATA, 0, id, m2, sizeof m2);
        n = block(b, sizeof b, "grpc-status", "0", NULL);
        write_frame(fd, HEADERS, END_HEADERS | END_STREAM, id, b, n);
        free(f.p);
        drain(fd);
}

static void test_ping_table(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_ping_table, 1);
        struct h2_status st;
        char out[64];
        assert_int_equal(call(c, "a", 5000, 1024, out, sizeof out, &st), 0);
        assert_string_equal(out, "1");
        assert_int_equal(call(c, "b", 5000, 1024, out, sizeof out, &st), 0);
        assert_string_equal(out, "2");
        peer_finish(&p, c);
        assert_true(p.got_ping_ack);
}

/* A header block that does not decode ends the connection (COMPRESSION_ERROR). */
static void script_bad_hpack(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        uint32_t id = read_request(p, fd);
        static const uint8_t bad[] = {0x80}; /* index 0 */
        write_frame(fd, HEADERS, END_HEADERS, id, bad, 1);
        struct frame f = {0};
        expect(p, fd, GOAWAY, &f);
        free(f.p);
}

static void test_bad_hpack(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_bad_hpack, 1);
        struct h2_status st;
        char out[64];
        assert_int_equal(call(c, "x", 5000, 1024, out, sizeof out, &st), -EBADMSG);
        assert_int_equal(st.code, H2_INTERNAL);
        print_message("bad hpack: %s\n", st.msg);
        peer_finish(&p, c);
        assert_true(p.got_goaway);
        assert_int_equal(p.goaway_code, 9); /* COMPRESSION_ERROR */
}

/* No answer: the deadline ends the call, and the client resets the stream. */
static void script_mute(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        read_request(p, fd);
        struct frame f = {0};
        expect(p, fd, RST, &f);
        free(f.p);
}

static void test_deadline(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_mute, 1);
        struct h2_status st;
        char out[64];
        int64_t t0 = now_mono_ms();
        assert_int_equal(call(c, "x", 200, 1024, out, sizeof out, &st), -ETIMEDOUT);
        assert_true(now_mono_ms() - t0 >= 200);
        assert_int_equal(st.code, H2_DEADLINE_EXCEEDED);
        assert_string_equal(st.msg, "context deadline exceeded");
        peer_finish(&p, c);
        assert_true(p.got_rst);
        assert_int_equal(p.rst_code, 8);
}

/* A server stream: two messages in one DATA frame, one over two, then a clean end; a second stream that
 * the client cancels. */
static void script_stream(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        uint32_t id = read_request(p, fd);
        uint8_t b[512];
        size_t n = block(b, sizeof b, ":status", "200", "content-type", "application/grpc", NULL);
        write_frame(fd, HEADERS, END_HEADERS, id, b, n);
        static const uint8_t two[] = {0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 2, 'b', 'c', 0, 0, 0};
        static const uint8_t rest[] = {0, 3, 'd', 'e', 'f'};
        write_frame(fd, DATA, 0, id, two, sizeof two);
        write_frame(fd, DATA, 0, id, rest, sizeof rest);
        n = block(b, sizeof b, "grpc-status", "0", NULL);
        write_frame(fd, HEADERS, END_HEADERS | END_STREAM, id, b, n);

        id = read_request(p, fd);
        n = block(b, sizeof b, ":status", "200", "content-type", "application/grpc", NULL);
        write_frame(fd, HEADERS, END_HEADERS, id, b, n);
        struct frame f = {0};
        expect(p, fd, RST, &f);
        free(f.p);
}

static void *cancel_later(void *arg)
{
        struct timespec ts = {.tv_nsec = 100 * 1000000};
        nanosleep(&ts, NULL);
        h2_stream_cancel(arg);
        return NULL;
}

static void test_stream(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_stream, 1);
        struct h2_status st;
        struct h2_call *k;
        uint8_t *m;
        size_t len;
        static const char *const want[] = {"a", "bc", "def"};

        assert_int_equal(h2_stream_start(c, "/test.Svc/Watch", (const uint8_t *) "w", 1, 1024, &k, &st), 0);
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                assert_int_equal(h2_stream_next(k, now_mono_ms() + 5000, &m, &len, &st), 1);
                assert_int_equal(len, strlen(want[i]));
                assert_memory_equal(m, want[i], len);
                free(m);
        }
        assert_int_equal(h2_stream_next(k, now_mono_ms() + 5000, &m, &len, &st), 0);
        assert_int_equal(st.code, H2_OK);
        h2_stream_free(k);

        assert_int_equal(h2_stream_start(c, "/test.Svc/Watch", (const uint8_t *) "w", 1, 1024, &k, &st), 0);
        assert_int_equal(h2_stream_next(k, now_mono_ms() + 50, &m, &len, &st), -ETIMEDOUT); /* none yet */
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, cancel_later, k), 0);
        assert_int_equal(h2_stream_next(k, INT64_MAX, &m, &len, &st), 0);
        assert_int_equal(st.code, H2_CANCELLED);
        pthread_join(t, NULL);
        h2_stream_free(k);
        peer_finish(&p, c);
        assert_true(p.got_rst);
        assert_int_equal(p.rst_code, 8);
}

/* A unary reply of many small messages, past what the call takes: refused as soon as it is too much. */
static void script_flood(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        uint32_t id = read_request(p, fd);
        uint8_t b[512];
        size_t n = block(b, sizeof b, ":status", "200", "content-type", "application/grpc", NULL);
        write_frame(fd, HEADERS, END_HEADERS, id, b, n);
        uint8_t m[205] = {0, 0, 0, 0, 200};
        memset(m + 5, 'm', 200);
        for (int i = 0; i < 50; i++)
                write_frame(fd, DATA, 0, id, m, sizeof m);
        drain(fd);
}

static void test_flood(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_flood, 1);
        struct h2_status st;
        char out[64];
        assert_int_equal(call(c, "x", 5000, 1024, out, sizeof out, &st), -EIO);
        assert_int_equal(st.code, H2_RESOURCE_EXHAUSTED);
        print_message("flood: %s\n", st.msg);
        peer_finish(&p, c);
}

/* A server that stops reading and floods PINGs: the client's answers fill the socket, and still the call
 * ends at its deadline, and the connection closes when freed. */
static void script_ping_flood(struct peer *p, int fd, int conn)
{
        (void) conn;
        handshake(p, fd, NULL, 0);
        read_request(p, fd);
        uint8_t h[9 + 8] = {0, 0, 8, PING, 0, 0, 0, 0, 0, 'p', 'i', 'n', 'g', 'p', 'o', 'n', 'g'};
        while (send(fd, h, sizeof h, MSG_NOSIGNAL) == (ssize_t) sizeof h)
                ; /* until the client closes the connection */
}

static void test_ping_flood(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_ping_flood, 1);
        struct h2_status st;
        char out[64];
        int64_t t0 = now_mono_ms();
        assert_int_equal(call(c, "x", 500, 1024, out, sizeof out, &st), -ETIMEDOUT);
        int64_t dt = now_mono_ms() - t0;
        print_message("ping flood: the call ended after %lld ms\n", (long long) dt);
        assert_true(dt < 5000);
        t0 = now_mono_ms();
        peer_finish(&p, c);
        print_message("ping flood: closed in %lld ms\n", (long long) (now_mono_ms() - t0));
}

/* The server answers (Unimplemented) and resets the stream while the request is still going out in
 * pieces: the client stops sending and has the server's status at once, not at the deadline. */
static void script_early_answer(struct peer *p, int fd, int conn)
{
        (void) conn;
        uint8_t s[6] = {0, 4};
        put32(s + 2, 1000);
        handshake(p, fd, s, sizeof s);
        uint32_t id = read_request(p, fd);
        respond_ok(fd, id, "warm");
        struct frame f = {0};
        if (expect(p, fd, HEADERS, &f)) {
                uint8_t b[256];
                size_t n = block(b, sizeof b, ":status", "200", "content-type", "application/grpc",
                                 "grpc-status", "12", "grpc-message", "too%20big%20for%20me", NULL);
                write_frame(fd, HEADERS, END_HEADERS | END_STREAM, f.id, b, n);
                uint8_t code[4] = {0};
                write_frame(fd, RST, 0, f.id, code, 4); /* NO_ERROR: stop sending */
        }
        free(f.p);
        drain(fd);
}

static void test_early_answer(void **state)
{
        (void) state;
        struct peer p;
        struct h2_conn *c = peer_start(&p, script_early_answer, 1);
        struct h2_status st;
        char out[64];
        assert_int_equal(call(c, "w", 5000, 1024, out, sizeof out, &st), 0);
        char *req = malloc(BIG_REQ + 1);
        memset(req, 'r', BIG_REQ);
        req[BIG_REQ] = 0;
        int64_t t0 = now_mono_ms();
        assert_int_equal(call(c, req, 10000, 1024, out, sizeof out, &st), -EIO);
        int64_t dt = now_mono_ms() - t0;
        print_message("early answer after %lld ms: %d %s\n", (long long) dt, st.code, st.msg);
        assert_int_equal(st.code, H2_UNIMPLEMENTED);
        assert_string_equal(st.msg, "too big for me");
        assert_true(dt < 5000);
        free(req);
        peer_finish(&p, c);
}

/* Nobody listens: Unavailable at once, in Go's words. */
static void test_refused(void **state)
{
        (void) state;
        struct h2_conn *c;
        struct h2_status st;
        char out[16];
        assert_int_equal(h2_conn_new("unix:///tmp/h2-test-nobody-listens.sock", &c), 0);
        assert_int_equal(call(c, "x", 5000, 1024, out, sizeof out, &st), -ECONNREFUSED);
        assert_int_equal(st.code, H2_UNAVAILABLE);
        assert_non_null(strstr(st.msg, "connection error: desc = \"transport: Error while dialing dial unix "
                                       "/tmp/h2-test-nobody-listens.sock: connect: "));
        h2_conn_free(c);
}

static void test_targets(void **state)
{
        (void) state;
        static const char *const good[] = {"unix:///run/x.sock", "unix:/run/x.sock", "/run/x.sock",
                                           "ipv4:127.0.0.1:80", "ipv6:[::1]:9000"};
        static const char *const bad[] = {"unix://run/x.sock", "dns:///x:1",         "ipv4:1.2.3:80",
                                          "ipv4:1.2.3.4:0",    "ipv4:1.2.3.4:65536", "ipv6:::1:80",
                                          "ipv4:1.2.3.4",      "tcp://x:1"};
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                struct h2_conn *c = NULL;
                assert_int_equal(h2_conn_new(good[i], &c), 0);
                h2_conn_free(c);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct h2_conn *c = NULL;
                assert_int_equal(h2_conn_new(bad[i], &c), -EINVAL);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_split),        cmocka_unit_test(test_trailers_only),
                cmocka_unit_test(test_http_status),  cmocka_unit_test(test_refused_retry),
                cmocka_unit_test(test_many),         cmocka_unit_test(test_many_one_stream),
                cmocka_unit_test(test_goaway_retry), cmocka_unit_test(test_too_large),
                cmocka_unit_test(test_flow_control), cmocka_unit_test(test_ping_table),
                cmocka_unit_test(test_bad_hpack),    cmocka_unit_test(test_deadline),
                cmocka_unit_test(test_stream),       cmocka_unit_test(test_refused),
                cmocka_unit_test(test_targets),      cmocka_unit_test(test_flood),
                cmocka_unit_test(test_ping_flood),   cmocka_unit_test(test_early_answer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
