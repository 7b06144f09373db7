/* gRPC over HTTP/2 (RFC 9113) without TLS: connections, streams, flow control, and gRPC's framing. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "h2.h"
#include "hpack.h"
#include "macro.h"
#include "util.h"

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

enum {
        F_DATA,
        F_HEADERS,
        F_PRIORITY,
        F_RST_STREAM,
        F_SETTINGS,
        F_PUSH_PROMISE,
        F_PING,
        F_GOAWAY,
        F_WINDOW,
        F_CONT
};
enum { FL_END_STREAM = 0x1, FL_ACK = 0x1, FL_END_HEADERS = 0x4, FL_PADDED = 0x8, FL_PRIORITY = 0x20 };
enum {
        E_NO_ERROR,
        E_PROTOCOL,
        E_INTERNAL,
        E_FLOW_CONTROL,
        E_SETTINGS_TIMEOUT,
        E_STREAM_CLOSED,
        E_FRAME_SIZE,
        E_REFUSED_STREAM,
        E_CANCEL,
        E_COMPRESSION,
        E_CONNECT,
        E_ENHANCE_YOUR_CALM,
        E_INADEQUATE_SECURITY,
        E_HTTP_1_1_REQUIRED,
};
enum {
        S_HEADER_TABLE_SIZE = 1,
        S_ENABLE_PUSH,
        S_MAX_CONCURRENT_STREAMS,
        S_INITIAL_WINDOW,
        S_MAX_FRAME,
        S_MAX_HEADER_LIST
};

#define FRAME_HEADER   9
#define DEFAULT_WINDOW 65535
#define DEFAULT_FRAME  16384
#define MAX_WINDOW     INT32_MAX
/* What we take: frames of the default size, a window of 32 MiB a stream (a reply of cri.c's 16 MiB and
 * more fits without an update) and 1 GiB for the connection, refilled each time 1 MiB was used. The
 * memory is spent only when a server sends that much. */
#define OUR_MAX_FRAME     DEFAULT_FRAME
#define OUR_STREAM_WINDOW (32 * 1024 * 1024)
#define OUR_CONN_WINDOW   (1024 * 1024 * 1024)
#define WINDOW_REFILL     (1024 * 1024)
#define HEADER_TABLE      4096
/* A header block (HEADERS and its CONTINUATIONs) larger than this ends the connection; a field is at most
 * what such a block decodes to (Huffman: 8 symbols in 5 octets at best). */
#define MAX_HEADER_BLOCK (256 * 1024)
#define MAX_FIELD        (MAX_HEADER_BLOCK * 8 / 5 + 1)
/* How long a write may wait for the server to read: a frame of the reader's own (an ACK, a window
 * update, a reset) or a stream's start without a deadline. Past it the connection is given up (a frame
 * half written cannot be taken back). */
#define CONTROL_SEND_MS 10000
/* A unix socket whose listen backlog stays full this long is Unavailable. */
#define BACKLOG_WAIT_MS 1000
#define READ_BUF        (64 * 1024)
#define READER_STACK    (256 * 1024)

struct h2_stream;

struct h2_link {
        atomic_int refs; /* the conn's, each stream's */
        int fd;
        pthread_t reader;
        pthread_mutex_t mu;  /* everything below but fd and the reader's own */
        pthread_mutex_t wmu; /* the socket's write side and next_id; taken before mu, never after */
        pthread_cond_t cond; /* windows, stream slots, settings_seen, dead: broadcast */

        bool dead, goaway, settings_seen;
        bool wdead; /* a write failed: no new stream; what the server already sent is still read */
        uint32_t goaway_last;
        struct h2_status dead_status;
        uint32_t next_id; /* under wmu */
        uint32_t active;  /* streams open or reserved */
        struct h2_stream *streams;

        int64_t send_window; /* the connection's, as the peer allows */
        int64_t peer_initial_window;
        uint32_t peer_max_frame, peer_max_streams;

        /* The reader's alone. */
        struct hpack_decoder dec;
        uint8_t *rbuf;
        size_t rlen, roff;
        uint8_t *hblock;
        size_t hlen;
        uint32_t hstream;
        bool in_headers, hend_stream;
        uint64_t conn_unacked;
        int64_t conn_recv_window; /* what the server may still send on the connection */
};

struct h2_stream {
        struct h2_link *l;
        uint32_t id;
        struct h2_stream *next;
        pthread_cond_t cond;
        int64_t send_window;

        /* Under l->mu. */
        unsigned header_blocks; /* 0: none yet; 1: the response's headers; 2: its trailers */
        int http_status;
        bool grpc_content_type;
        bool have_grpc_status;
        int grpc_status;
        char grpc_message[512];
        bool remote_closed; /* END_STREAM came */
        bool failed;        /* failure says why; no more is read */
        bool no_rst;        /* reset by the peer, or nothing can be sent: no RST_STREAM from us */
        uint32_t rst_code;  /* what our RST_STREAM says (0: CANCEL) */
        bool retryable;     /* refused before the server saw it: safe on a new connection */
        bool cancelled;
        bool unary;   /* one message: more than 5 + max_msg octets fails the call at once */
        bool sending; /* its request is going out in pieces: changes wake l->cond too */
        bool sent;    /* the request went out whole (END_STREAM): else a reset ends it on the server */
        int64_t recv_window; /* what the server may still send on it (we advertised OUR_STREAM_WINDOW) */
        struct h2_status failure;
        uint8_t *buf; /* DATA not consumed yet */
        size_t len, cap;
        size_t scan; /* the next gRPC message prefix not yet checked against max_msg */
        size_t max_msg;
        uint64_t unacked; /* consumed, not yet given back in a WINDOW_UPDATE */
};

struct h2_conn {
        char *desc; /* for messages: "unix /run/x.sock", "tcp 10.0.0.5:9000" */
        char *authority;
        char *user_agent; /* NULL: "cubelet" */
        struct sockaddr_storage addr;
        socklen_t addr_len;
        pthread_mutex_t lock;
        struct h2_link *link;     /* the current connection, or NULL */
        struct h2_link **retired; /* broken or draining ones, until their reader is joined */
        size_t n_retired;
};

struct h2_call {
        struct h2_stream *s;
};

const char *h2_error_name(uint32_t code)
{
        static const char *const names[] = {
                "NO_ERROR",
                "PROTOCOL_ERROR",
                "INTERNAL_ERROR",
                "FLOW_CONTROL_ERROR",
                "SETTINGS_TIMEOUT",
                "STREAM_CLOSED",
                "FRAME_SIZE_ERROR",
                "REFUSED_STREAM",
                "CANCEL",
                "COMPRESSION_ERROR",
                "CONNECT_ERROR",
                "ENHANCE_YOUR_CALM",
                "INADEQUATE_SECURITY",
                "HTTP_1_1_REQUIRED",
        };
        return code < ELEMENTSOF(names) ? names[code] : "unknown error code";
}

static void set_status(struct h2_status *st, int code, const char *fmt, ...) _printf_(3, 4);
static void set_status(struct h2_status *st, int code, const char *fmt, ...)
{
        va_list ap;
        if (!st)
                return;
        st->code = code;
        va_start(ap, fmt);
        vsnprintf(st->msg, sizeof st->msg, fmt, ap);
        va_end(ap);
}

static int unhex(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

void h2_grpc_message_decode(const char *in, size_t len, char *out, size_t cap)
{
        size_t n = 0;
        for (size_t i = 0; i < len && n + 1 < cap; i++) {
                int hi, lo;
                if (in[i] == '%' && i + 2 < len && (hi = unhex(in[i + 1])) >= 0 &&
                    (lo = unhex(in[i + 2])) >= 0) {
                        out[n++] = (char) (hi << 4 | lo);
                        i += 2;
                } else
                        out[n++] = in[i];
        }
        out[n] = 0;
}

void h2_grpc_timeout(int64_t ms, char *out, size_t cap)
{
        /* At most 8 digits (the gRPC HTTP/2 spec): milliseconds up to 27 hours, then seconds, hours. */
        if (ms < 0)
                ms = 0;
        if (ms <= 99999999)
                snprintf(out, cap, "%lldm", (long long) ms);
        else if (ms / 1000 <= 99999999)
                snprintf(out, cap, "%lldS", (long long) (ms / 1000));
        else
                snprintf(out, cap, "%lldH", (long long) MIN(ms / 3600000, (int64_t) 99999999));
}

/* ---- targets ------------------------------------------------------------------------------------ */

static int parse_target(const char *t, struct h2_conn *c)
{
        if (strncmp(t, "unix://", 7) == 0 && t[7] != '/')
                return -EINVAL; /* an authority ("unix://run/x.sock") */
        if (strncmp(t, "unix://", 7) == 0)
                t += 7;
        else if (strncmp(t, "unix:", 5) == 0 && t[5] == '/')
                t += 5;
        if (t[0] == '/') {
                struct sockaddr_un *sa = (struct sockaddr_un *) &c->addr;
                if (strlen(t) >= sizeof sa->sun_path)
                        return -EINVAL;
                sa->sun_family = AF_UNIX;
                strcpy(sa->sun_path, t);
                c->addr_len = sizeof *sa;
                c->desc = strdup_printf("unix %s", t);
                c->authority = xstrdup("localhost");
                return 0;
        }
        char host[INET6_ADDRSTRLEN + 1];
        const char *hp;
        unsigned long port;
        char *end;
        if (strncmp(t, "ipv4:", 5) == 0) {
                hp = t + 5;
                const char *colon = strrchr(hp, ':');
                if (!colon || (size_t) (colon - hp) >= sizeof host)
                        return -EINVAL;
                memcpy(host, hp, (size_t) (colon - hp));
                host[colon - hp] = 0;
                errno = 0;
                port = strtoul(colon + 1, &end, 10);
                struct sockaddr_in *sa = (struct sockaddr_in *) &c->addr;
                if (!colon[1] || *end || errno || port == 0 || port > 65535 ||
                    inet_pton(AF_INET, host, &sa->sin_addr) != 1)
                        return -EINVAL;
                sa->sin_family = AF_INET;
                sa->sin_port = htons((uint16_t) port);
                c->addr_len = sizeof *sa;
                c->authority = strdup_printf("%s:%lu", host, port);
        } else if (strncmp(t, "ipv6:[", 6) == 0) {
                hp = t + 6;
                const char *close = strchr(hp, ']');
                if (!close || close[1] != ':' || (size_t) (close - hp) >= sizeof host)
                        return -EINVAL;
                memcpy(host, hp, (size_t) (close - hp));
                host[close - hp] = 0;
                errno = 0;
                port = strtoul(close + 2, &end, 10);
                struct sockaddr_in6 *sa = (struct sockaddr_in6 *) &c->addr;
                if (!close[2] || *end || errno || port == 0 || port > 65535 ||
                    inet_pton(AF_INET6, host, &sa->sin6_addr) != 1)
                        return -EINVAL;
                sa->sin6_family = AF_INET6;
                sa->sin6_port = htons((uint16_t) port);
                c->addr_len = sizeof *sa;
                c->authority = strdup_printf("[%s]:%lu", host, port);
        } else
                return -EINVAL;
        c->desc = strdup_printf("tcp %s", c->authority);
        return 0;
}

int h2_conn_new(const char *target, struct h2_conn **ret)
{
        if (!target || !ret)
                return -EINVAL;
        struct h2_conn *c = OOM_CHECK(calloc(1, sizeof *c));
        int r = parse_target(target, c);
        if (r < 0) {
                free(c->desc);
                free(c->authority);
                free(c);
                return r;
        }
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

/* ---- links: one connection each ---------------------------------------------------------------- */

static void link_unref(struct h2_link *l)
{
        if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
                return;
        close(l->fd);
        pthread_mutex_destroy(&l->mu);
        pthread_mutex_destroy(&l->wmu);
        pthread_cond_destroy(&l->cond);
        hpack_decoder_free(&l->dec);
        free(l->rbuf);
        free(l->hblock);
        free(l);
}

/* The link broke (or is being closed): every stream on it fails with st, no new one starts. */
static void link_die(struct h2_link *l, int code, const char *fmt, ...) _printf_(3, 4);
static void link_die(struct h2_link *l, int code, const char *fmt, ...)
{
        va_list ap;
        pthread_mutex_lock(&l->mu);
        if (!l->dead) {
                l->dead = true;
                l->dead_status.code = code;
                va_start(ap, fmt);
                vsnprintf(l->dead_status.msg, sizeof l->dead_status.msg, fmt, ap);
                va_end(ap);
                for (struct h2_stream *s = l->streams; s; s = s->next)
                        if (!s->failed && !s->remote_closed) {
                                s->failed = true;
                                s->failure = l->dead_status;
                                pthread_cond_signal(&s->cond);
                        }
                pthread_cond_broadcast(&l->cond);
        }
        pthread_mutex_unlock(&l->mu);
        /* Wakes the reader (read returns 0) and fails writers at once. */
        (void) shutdown(l->fd, SHUT_RDWR);
}

/* The server stopped reading in the middle of a frame of ours: the connection is of no more use. */
static void link_gone_deaf(struct h2_link *l)
{
        link_die(l, H2_UNAVAILABLE,
                 "connection error: desc = \"transport: the server did not read what was sent\"");
}

/* Sends len octets whole by deadline_ms (the socket is non-blocking). Caller holds wmu. A failure (the
 * server went away) stops new streams on the link; the streams under way end with what the reader finds
 * (a GOAWAY the server sent before it closed, then EOF). A server that has not read by the deadline:
 * -EAGAIN when nothing of it went out (the caller gives its window back); -ETIMEDOUT past the first octet,
 * the connection given up (half a frame cannot be taken back). */
static int send_all(struct h2_link *l, const uint8_t *p, size_t len, int64_t deadline_ms)
{
        bool started = false;
        while (len > 0) {
                ssize_t n = send(l->fd, p, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        int64_t left = deadline_ms - now_mono_ms();
                        struct pollfd pfd = {.fd = l->fd, .events = POLLOUT};
                        if (left > 0 && poll(&pfd, 1, (int) MIN(left, (int64_t) 1000)) >= 0)
                                continue;
                        if (left > 0 && errno == EINTR)
                                continue;
                        if (!started)
                                return -EAGAIN;
                        link_gone_deaf(l);
                        return -ETIMEDOUT;
                }
                if (n <= 0) {
                        int e = n < 0 ? errno : EPIPE;
                        pthread_mutex_lock(&l->mu);
                        l->wdead = true;
                        pthread_mutex_unlock(&l->mu);
                        return -e;
                }
                started = true;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Takes wmu by deadline_ms (INT64_MAX: however long); false when another writer held it past then. */
static bool lock_writer(struct h2_link *l, int64_t deadline_ms)
{
        if (deadline_ms == INT64_MAX) {
                pthread_mutex_lock(&l->wmu);
                return true;
        }
        struct timespec ts = mono_ts_in_ms(deadline_ms - now_mono_ms());
        return pthread_mutex_clocklock(&l->wmu, CLOCK_MONOTONIC, &ts) == 0;
}

static void put_frame_header(uint8_t *b, size_t len, uint8_t type, uint8_t flags, uint32_t stream)
{
        b[0] = (uint8_t) (len >> 16);
        b[1] = (uint8_t) (len >> 8);
        b[2] = (uint8_t) len;
        b[3] = type;
        b[4] = flags;
        b[5] = (uint8_t) ((stream >> 24) & 0x7f);
        b[6] = (uint8_t) (stream >> 16);
        b[7] = (uint8_t) (stream >> 8);
        b[8] = (uint8_t) stream;
}

static void put32(uint8_t *b, uint32_t v)
{
        b[0] = (uint8_t) (v >> 24);
        b[1] = (uint8_t) (v >> 16);
        b[2] = (uint8_t) (v >> 8);
        b[3] = (uint8_t) v;
}

static uint32_t get32(const uint8_t *b)
{
        return (uint32_t) b[0] << 24 | (uint32_t) b[1] << 16 | (uint32_t) b[2] << 8 | b[3];
}

/* A control frame of up to 8 octets of payload, sent whole under wmu. Never called holding mu. */
static void send_control(struct h2_link *l, uint8_t type, uint8_t flags, uint32_t stream, const uint8_t *p,
                         size_t len)
{
        uint8_t b[FRAME_HEADER + 8];
        put_frame_header(b, len, type, flags, stream);
        if (len)
                memcpy(b + FRAME_HEADER, p, len);
        int64_t deadline = now_mono_ms() + CONTROL_SEND_MS;
        if (!lock_writer(l, deadline)) {
                /* A writer stuck on a server that does not read: that connection is no good. */
                link_gone_deaf(l);
                return;
        }
        (void) send_all(l, b, FRAME_HEADER + len, deadline);
        pthread_mutex_unlock(&l->wmu);
}

static void send_window_update(struct h2_link *l, uint32_t stream, uint32_t inc)
{
        uint8_t p[4];
        put32(p, inc & 0x7fffffff);
        send_control(l, F_WINDOW, 0, stream, p, 4);
}

/* A reset that waits for nobody: skipped when another writer has the socket (the server ends a call
 * given up at its grpc-timeout anyway, and a connection closed ends them all); given up with the
 * connection when the server has not read for a second. */
static void send_rst_nowait(struct h2_link *l, uint32_t stream, uint32_t code)
{
        uint8_t b[FRAME_HEADER + 4];
        put_frame_header(b, 4, F_RST_STREAM, 0, stream);
        put32(b + FRAME_HEADER, code);
        if (pthread_mutex_trylock(&l->wmu) != 0)
                return;
        (void) send_all(l, b, sizeof b, now_mono_ms() + 1000);
        pthread_mutex_unlock(&l->wmu);
}

/* A connection error (5.4.1): GOAWAY with code, then the link is dead. */
static void conn_error(struct h2_link *l, uint32_t code, const char *what)
{
        uint8_t p[8];
        put32(p, 0);
        put32(p + 4, code);
        send_control(l, F_GOAWAY, 0, 0, p, 8);
        link_die(l, H2_INTERNAL, "connection error: desc = \"transport: %s (%s)\"", what,
                 h2_error_name(code));
}

static struct h2_stream *find_stream(struct h2_link *l, uint32_t id)
{
        for (struct h2_stream *s = l->streams; s; s = s->next)
                if (s->id == id)
                        return s;
        return NULL;
}

/* Wakes the stream's reader, and its writer when its request is still going out (caller holds mu). */
static void stream_wake(struct h2_stream *s)
{
        pthread_cond_signal(&s->cond);
        if (s->sending)
                pthread_cond_broadcast(&s->l->cond);
}

/* Fails a stream from the reader's side (caller holds mu). */
static void stream_fail(struct h2_stream *s, int code, const char *fmt, ...) _printf_(3, 4);
static void stream_fail(struct h2_stream *s, int code, const char *fmt, ...)
{
        va_list ap;
        if (s->failed)
                return;
        s->failed = true;
        s->failure.code = code;
        va_start(ap, fmt);
        vsnprintf(s->failure.msg, sizeof s->failure.msg, fmt, ap);
        va_end(ap);
        stream_wake(s);
}

/* ---- the reader -------------------------------------------------------------------------------- */

/* Fills the reader's buffer until it holds n octets from roff; false on EOF or error (the link is dead). */
static bool read_more(struct h2_link *l, size_t n)
{
        if (l->rlen - l->roff >= n)
                return true;
        if (l->roff > 0) {
                memmove(l->rbuf, l->rbuf + l->roff, l->rlen - l->roff);
                l->rlen -= l->roff;
                l->roff = 0;
        }
        while (l->rlen < n) {
                ssize_t k = read(l->fd, l->rbuf + l->rlen, READ_BUF - l->rlen);
                if (k < 0 && (errno == EINTR || errno == EAGAIN)) {
                        /* Asleep until the server sends (or the link is shut down): no timer. */
                        struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
                        (void) poll(&pfd, 1, -1);
                        continue;
                }
                if (k <= 0) {
                        if (k == 0)
                                link_die(l, H2_UNAVAILABLE, "error reading from server: EOF");
                        else
                                link_die(l, H2_UNAVAILABLE, "error reading from server: %s",
                                         strerror(errno));
                        return false;
                }
                l->rlen += (size_t) k;
        }
        return true;
}

struct header_capture {
        struct h2_stream *s; /* NULL: a stream we no longer know; the block is decoded for the table only */
        bool trailers;
};

static int on_field(void *ud, const char *name, size_t name_len, const char *value, size_t value_len)
{
        struct header_capture *h = ud;
        struct h2_stream *s = h->s;
        (void) name_len;
        if (!s)
                return 0;
        if (streq(name, ":status")) {
                s->http_status = atoi(value);
        } else if (streq(name, "content-type")) {
                /* "application/grpc", or with a suffix: "application/grpc+proto", "...;charset" */
                s->grpc_content_type = strncmp(value, "application/grpc", 16) == 0 &&
                                       (value[16] == 0 || value[16] == '+' || value[16] == ';');
        } else if (streq(name, "grpc-status")) {
                char *end;
                long v = strtol(value, &end, 10);
                if (end != value && !*end && v >= 0 && v <= INT32_MAX) {
                        s->have_grpc_status = true;
                        s->grpc_status = (int) v;
                }
        } else if (streq(name, "grpc-message")) {
                h2_grpc_message_decode(value, value_len, s->grpc_message, sizeof s->grpc_message);
        }
        return 0;
}

static bool on_header_block(struct h2_link *l)
{
        struct header_capture h = {0};
        pthread_mutex_lock(&l->mu);
        struct h2_stream *s = find_stream(l, l->hstream);
        if (s && !s->failed && !s->remote_closed) {
                h.s = s;
                h.trailers = s->header_blocks > 0;
                s->header_blocks++;
        }
        int k = hpack_decode(&l->dec, l->hblock, l->hlen, MAX_FIELD, on_field, &h);
        if (k == 0 && s && h.s) {
                if (l->hend_stream) {
                        s->remote_closed = true;
                        stream_wake(s);
                } else if (h.trailers) {
                        s->rst_code = E_PROTOCOL;
                        stream_fail(s, H2_INTERNAL, "trailers without END_STREAM");
                }
        }
        pthread_mutex_unlock(&l->mu);
        l->hlen = 0;
        l->in_headers = false;
        if (k == -E2BIG) {
                conn_error(l, E_PROTOCOL, "a header field too large");
                return false;
        }
        if (k < 0) {
                conn_error(l, E_COMPRESSION, "a header block that does not decode");
                return false;
        }
        return true;
}

/* Strips padding (6.1, 6.2); false when it is longer than the frame. */
static bool unpad(uint8_t flags, uint8_t **p, size_t *len)
{
        if (!(flags & FL_PADDED))
                return true;
        if (*len < 1)
                return false;
        size_t pad = (*p)[0];
        if (pad >= *len)
                return false;
        *p += 1;
        *len -= 1 + pad;
        return true;
}

static bool on_data(struct h2_link *l, uint8_t flags, uint32_t id, uint8_t *p, size_t len)
{
        size_t frame_len = len;
        if (id == 0) {
                conn_error(l, E_PROTOCOL, "DATA on stream 0");
                return false;
        }
        if (!unpad(flags, &p, &len)) {
                conn_error(l, E_PROTOCOL, "DATA padding");
                return false;
        }
        /* 6.9.1: a server that sends past the windows we gave breaks the protocol. */
        l->conn_recv_window -= (int64_t) frame_len;
        if (l->conn_recv_window < 0) {
                conn_error(l, E_FLOW_CONTROL, "DATA past the connection's window");
                return false;
        }
        pthread_mutex_lock(&l->mu);
        struct h2_stream *s = find_stream(l, id);
        if (s && !s->failed && !s->remote_closed) {
                s->recv_window -= (int64_t) frame_len;
                s->unacked += frame_len - len; /* padding: given back with what is read */
                if (s->recv_window < 0) {
                        s->rst_code = E_FLOW_CONTROL;
                        stream_fail(s, H2_INTERNAL, "DATA past the stream's window");
                } else if (s->unary && s->len + len > 5 + s->max_msg) {
                        /* One message: anything past it is too much, whatever the prefixes say. */
                        stream_fail(s, H2_RESOURCE_EXHAUSTED,
                                    "grpc: received message larger than max (%zu vs. %zu)", s->len + len - 5,
                                    s->max_msg);
                } else if (s->header_blocks == 0) {
                        s->rst_code = E_PROTOCOL;
                        stream_fail(s, H2_INTERNAL, "DATA before HEADERS");
                } else {
                        if (s->len + len > s->cap) {
                                size_t cap = MAX(s->cap * 2, s->len + len);
                                uint8_t *b = realloc(s->buf, cap);
                                if (!b) {
                                        stream_fail(s, H2_RESOURCE_EXHAUSTED, "out of memory");
                                        goto out;
                                }
                                s->buf = b;
                                s->cap = cap;
                        }
                        if (len)
                                memcpy(s->buf + s->len, p, len);
                        s->len += len;
                        /* Every gRPC message prefix as it comes: one over max_msg fails the call. */
                        while (s->scan + 5 <= s->len) {
                                uint32_t n = get32(s->buf + s->scan + 1);
                                if (n > s->max_msg) {
                                        stream_fail(s, H2_RESOURCE_EXHAUSTED,
                                                    "grpc: received message larger than max (%u vs. %zu)", n,
                                                    s->max_msg);
                                        goto out;
                                }
                                s->scan += 5 + (size_t) n;
                        }
                        if (flags & FL_END_STREAM)
                                s->remote_closed = true;
                        stream_wake(s);
                }
        }
out:
        pthread_mutex_unlock(&l->mu);
        /* The connection's window comes back as frames arrive: each stream's own bounds what is held. */
        l->conn_unacked += frame_len;
        if (l->conn_unacked >= WINDOW_REFILL) {
                l->conn_recv_window += (int64_t) l->conn_unacked;
                send_window_update(l, 0, (uint32_t) l->conn_unacked);
                l->conn_unacked = 0;
        }
        return true;
}

static bool on_headers(struct h2_link *l, uint8_t flags, uint32_t id, uint8_t *p, size_t len)
{
        if (id == 0) {
                conn_error(l, E_PROTOCOL, "HEADERS on stream 0");
                return false;
        }
        if (!unpad(flags, &p, &len)) {
                conn_error(l, E_PROTOCOL, "HEADERS padding");
                return false;
        }
        if (flags & FL_PRIORITY) {
                if (len < 5) {
                        conn_error(l, E_PROTOCOL, "HEADERS priority");
                        return false;
                }
                p += 5;
                len -= 5;
        }
        if (len > MAX_HEADER_BLOCK) {
                conn_error(l, E_PROTOCOL, "a header block too large");
                return false;
        }
        memcpy(l->hblock, p, len);
        l->hlen = len;
        l->hstream = id;
        l->hend_stream = flags & FL_END_STREAM;
        l->in_headers = true;
        if (flags & FL_END_HEADERS)
                return on_header_block(l);
        return true;
}

static bool on_continuation(struct h2_link *l, uint8_t flags, const uint8_t *p, size_t len)
{
        if (l->hlen + len > MAX_HEADER_BLOCK) {
                conn_error(l, E_PROTOCOL, "a header block too large");
                return false;
        }
        memcpy(l->hblock + l->hlen, p, len);
        l->hlen += len;
        if (flags & FL_END_HEADERS)
                return on_header_block(l);
        return true;
}

static bool on_settings(struct h2_link *l, uint8_t flags, uint32_t id, const uint8_t *p, size_t len)
{
        if (id != 0 || len % 6 != 0 || ((flags & FL_ACK) && len != 0)) {
                conn_error(l, id != 0 ? E_PROTOCOL : E_FRAME_SIZE, "SETTINGS");
                return false;
        }
        if (flags & FL_ACK)
                return true;
        const char *bad = NULL;
        pthread_mutex_lock(&l->mu);
        for (size_t i = 0; i < len && !bad; i += 6) {
                uint16_t key = (uint16_t) (p[i] << 8 | p[i + 1]);
                uint32_t v = get32(p + i + 2);
                switch (key) {
                case S_ENABLE_PUSH:
                        if (v != 0) /* 6.5.2: a server never sends 1 */
                                bad = "SETTINGS_ENABLE_PUSH";
                        break;
                case S_MAX_CONCURRENT_STREAMS:
                        l->peer_max_streams = v;
                        break;
                case S_INITIAL_WINDOW:
                        if (v > MAX_WINDOW) {
                                bad = "SETTINGS_INITIAL_WINDOW_SIZE";
                                break;
                        }
                        for (struct h2_stream *s = l->streams; s; s = s->next)
                                if (s->send_window + ((int64_t) v - l->peer_initial_window) > MAX_WINDOW)
                                        bad = "SETTINGS_INITIAL_WINDOW_SIZE";
                        if (bad)
                                break;
                        /* 6.9.2: every stream's window moves by the change. */
                        for (struct h2_stream *s = l->streams; s; s = s->next)
                                s->send_window += (int64_t) v - l->peer_initial_window;
                        l->peer_initial_window = v;
                        break;
                case S_MAX_FRAME:
                        if (v < DEFAULT_FRAME || v > 0xffffff) {
                                bad = "SETTINGS_MAX_FRAME_SIZE";
                                break;
                        }
                        l->peer_max_frame = v;
                        break;
                default:
                        /* The peer's header table size binds an encoder that indexes: ours never does. */
                        break;
                }
        }
        if (!bad)
                l->settings_seen = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->mu);
        if (bad) {
                conn_error(l, streq(bad, "SETTINGS_INITIAL_WINDOW_SIZE") ? E_FLOW_CONTROL : E_PROTOCOL, bad);
                return false;
        }
        send_control(l, F_SETTINGS, FL_ACK, 0, NULL, 0);
        return true;
}

static bool on_rst(struct h2_link *l, uint32_t id, const uint8_t *p, size_t len)
{
        if (id == 0 || len != 4) {
                conn_error(l, id == 0 ? E_PROTOCOL : E_FRAME_SIZE, "RST_STREAM");
                return false;
        }
        uint32_t code = get32(p);
        pthread_mutex_lock(&l->mu);
        struct h2_stream *s = find_stream(l, id);
        if (s) {
                s->no_rst = true;
                stream_wake(s); /* a writer still sending stops */
                /* After a whole response, a reset only stops what we would still send (8.1). */
                if (!s->failed && !s->remote_closed) {
                        /* The gRPC HTTP/2 spec's mapping. */
                        int gc = code == E_REFUSED_STREAM        ? H2_UNAVAILABLE
                                 : code == E_CANCEL              ? H2_CANCELLED
                                 : code == E_ENHANCE_YOUR_CALM   ? H2_RESOURCE_EXHAUSTED
                                 : code == E_INADEQUATE_SECURITY ? H2_PERMISSION_DENIED
                                                                 : H2_INTERNAL;
                        s->retryable = code == E_REFUSED_STREAM && s->header_blocks == 0;
                        stream_fail(s, gc, "stream terminated by RST_STREAM with error code: %s",
                                    h2_error_name(code));
                }
        }
        pthread_mutex_unlock(&l->mu);
        return true;
}

static bool on_goaway(struct h2_link *l, uint32_t id, const uint8_t *p, size_t len)
{
        if (id != 0 || len < 8) {
                conn_error(l, id != 0 ? E_PROTOCOL : E_FRAME_SIZE, "GOAWAY");
                return false;
        }
        uint32_t last = get32(p) & 0x7fffffff;
        pthread_mutex_lock(&l->mu);
        l->goaway = true;
        l->goaway_last = last;
        /* 6.8: streams above last were never processed: they may go again on a new connection. */
        for (struct h2_stream *s = l->streams; s; s = s->next)
                if (s->id > last && !s->failed && !s->remote_closed) {
                        s->retryable = true;
                        s->no_rst = true;
                        stream_fail(s, H2_UNAVAILABLE, "the connection is draining");
                }
        pthread_cond_broadcast(&l->cond);
        bool idle = l->active == 0;
        pthread_mutex_unlock(&l->mu);
        if (idle)
                (void) shutdown(l->fd, SHUT_RDWR); /* nothing left to finish: the reader ends */
        return true;
}

static bool on_window(struct h2_link *l, uint32_t id, const uint8_t *p, size_t len)
{
        if (len != 4) {
                conn_error(l, E_FRAME_SIZE, "WINDOW_UPDATE");
                return false;
        }
        uint32_t inc = get32(p) & 0x7fffffff;
        pthread_mutex_lock(&l->mu);
        if (id == 0) {
                if (inc == 0 || l->send_window + inc > MAX_WINDOW) {
                        pthread_mutex_unlock(&l->mu);
                        conn_error(l, inc == 0 ? E_PROTOCOL : E_FLOW_CONTROL, "WINDOW_UPDATE");
                        return false;
                }
                l->send_window += inc;
        } else {
                struct h2_stream *s = find_stream(l, id);
                if (s && (inc == 0 || s->send_window + inc > MAX_WINDOW)) {
                        s->rst_code = inc ? E_FLOW_CONTROL : E_PROTOCOL;
                        stream_fail(s, H2_INTERNAL, "WINDOW_UPDATE: %s",
                                    inc ? "overflow" : "zero increment");
                } else if (s)
                        s->send_window += inc;
        }
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->mu);
        return true;
}

static void *reader_run(void *arg)
{
        struct h2_link *l = arg;
        for (;;) {
                if (!read_more(l, FRAME_HEADER))
                        break;
                const uint8_t *h = l->rbuf + l->roff;
                size_t len = (size_t) h[0] << 16 | (size_t) h[1] << 8 | h[2];
                uint8_t type = h[3], flags = h[4];
                uint32_t id = get32(h + 5) & 0x7fffffff;
                if (len > OUR_MAX_FRAME) {
                        conn_error(l, E_FRAME_SIZE, "a frame larger than SETTINGS_MAX_FRAME_SIZE");
                        break;
                }
                if (!read_more(l, FRAME_HEADER + len))
                        break;
                /* Handlers read the payload in place: the buffer moves only on the next read_more. */
                uint8_t *p = l->rbuf + l->roff + FRAME_HEADER;
                l->roff += FRAME_HEADER + len;
                bool ok = true;
                if (l->in_headers && (type != F_CONT || id != l->hstream)) {
                        conn_error(l, E_PROTOCOL, "a header block interrupted");
                        break;
                }
                switch (type) {
                case F_DATA:
                        ok = on_data(l, flags, id, p, len);
                        break;
                case F_HEADERS:
                        ok = on_headers(l, flags, id, p, len);
                        break;
                case F_CONT:
                        if (!l->in_headers) {
                                conn_error(l, E_PROTOCOL, "CONTINUATION out of place");
                                ok = false;
                        } else
                                ok = on_continuation(l, flags, p, len);
                        break;
                case F_SETTINGS:
                        ok = on_settings(l, flags, id, p, len);
                        break;
                case F_PING:
                        if (id != 0 || len != 8) {
                                conn_error(l, id ? E_PROTOCOL : E_FRAME_SIZE, "PING");
                                ok = false;
                        } else if (!(flags & FL_ACK))
                                send_control(l, F_PING, FL_ACK, 0, p, 8);
                        break;
                case F_RST_STREAM:
                        ok = on_rst(l, id, p, len);
                        break;
                case F_GOAWAY:
                        ok = on_goaway(l, id, p, len);
                        break;
                case F_WINDOW:
                        ok = on_window(l, id, p, len);
                        break;
                case F_PUSH_PROMISE: /* we said SETTINGS_ENABLE_PUSH 0 */
                        conn_error(l, E_PROTOCOL, "PUSH_PROMISE");
                        ok = false;
                        break;
                default: /* PRIORITY, and frame types we do not know: ignored (5.5) */
                        break;
                }
                if (!ok)
                        break;
        }
        return NULL;
}

/* Connects within deadline_ms; the socket stays non-blocking (writes wait in poll, with a deadline). */
static int dial(struct h2_conn *c, int64_t deadline_ms, struct h2_status *st)
{
        int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        const char *net = c->addr.ss_family == AF_UNIX ? "unix" : "tcp";
        const char *where = c->desc + strlen(net) + 1;
        int e = 0;
        if (fd < 0) {
                e = errno;
                goto fail;
        }
        int k;
        /* A unix socket whose listen backlog is full says EAGAIN and connects nothing: try again
         * shortly, for a while (a busy runtime accepts within milliseconds; other callers wait on us). */
        int64_t backlog_until = MIN(deadline_ms, now_mono_ms() + BACKLOG_WAIT_MS);
        while ((k = connect(fd, (const struct sockaddr *) &c->addr, c->addr_len)) < 0 && errno == EAGAIN &&
               c->addr.ss_family == AF_UNIX && now_mono_ms() < backlog_until) {
                struct timespec ts = {.tv_nsec = 10 * 1000000};
                nanosleep(&ts, NULL);
        }
        if (k < 0) {
                if (errno != EINPROGRESS) {
                        e = errno;
                        goto fail;
                }
                for (;;) {
                        int64_t left = deadline_ms - now_mono_ms();
                        if (left <= 0) {
                                close(fd);
                                set_status(st, H2_DEADLINE_EXCEEDED, "context deadline exceeded");
                                return -ETIMEDOUT;
                        }
                        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                        k = poll(&pfd, 1, (int) MIN(left, (int64_t) 1000));
                        if (k < 0 && errno != EINTR) {
                                e = errno;
                                goto fail;
                        }
                        if (k > 0)
                                break;
                }
                socklen_t elen = sizeof e;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
                        e = errno;
                if (e)
                        goto fail;
        }
        if (c->addr.ss_family != AF_UNIX) {
                int one = 1;
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        return fd;
fail:
        if (fd >= 0)
                close(fd);
        /* Go's words: glibc's message with a lower-case first letter. */
        char why[128];
        snprintf(why, sizeof why, "%s", strerror(e));
        if (why[0] >= 'A' && why[0] <= 'Z')
                why[0] = (char) (why[0] - 'A' + 'a');
        set_status(st, H2_UNAVAILABLE,
                   "connection error: desc = \"transport: Error while dialing dial %s %s: connect: %s\"",
                   net, where, why);
        return -ECONNREFUSED;
}

static int link_new(struct h2_conn *c, int64_t deadline_ms, struct h2_link **ret, struct h2_status *st)
{
        int fd = dial(c, deadline_ms, st);
        if (fd < 0)
                return fd;
        struct h2_link *l = OOM_CHECK(calloc(1, sizeof *l));
        atomic_init(&l->refs, 1);
        l->fd = fd;
        l->next_id = 1;
        l->send_window = DEFAULT_WINDOW;
        l->conn_recv_window = OUR_CONN_WINDOW;
        l->peer_initial_window = DEFAULT_WINDOW;
        l->peer_max_frame = DEFAULT_FRAME;
        l->peer_max_streams = UINT32_MAX;
        hpack_decoder_init(&l->dec, HEADER_TABLE);
        l->rbuf = OOM_CHECK(malloc(READ_BUF));
        l->hblock = OOM_CHECK(malloc(MAX_HEADER_BLOCK));
        pthread_mutex_init(&l->mu, NULL);
        pthread_mutex_init(&l->wmu, NULL);
        cond_init_monotonic(&l->cond);

        /* The preface, our SETTINGS and the connection's window, in one write. */
        uint8_t b[sizeof PREFACE - 1 + FRAME_HEADER + 4 * 6 + FRAME_HEADER + 4];
        size_t n = sizeof PREFACE - 1;
        memcpy(b, PREFACE, n);
        static const struct {
                uint16_t key;
                uint32_t value;
        } settings[] = {
                {S_ENABLE_PUSH, 0},
                {S_INITIAL_WINDOW, OUR_STREAM_WINDOW},
                {S_MAX_HEADER_LIST, MAX_HEADER_BLOCK},
                {S_HEADER_TABLE_SIZE, HEADER_TABLE},
        };
        put_frame_header(b + n, 6 * ELEMENTSOF(settings), F_SETTINGS, 0, 0);
        n += FRAME_HEADER;
        for (size_t i = 0; i < ELEMENTSOF(settings); i++) {
                b[n] = (uint8_t) (settings[i].key >> 8);
                b[n + 1] = (uint8_t) settings[i].key;
                put32(b + n + 2, settings[i].value);
                n += 6;
        }
        put_frame_header(b + n, 4, F_WINDOW, 0, 0);
        put32(b + n + FRAME_HEADER, OUR_CONN_WINDOW - DEFAULT_WINDOW);
        n += FRAME_HEADER + 4;
        int k = send_all(l, b, n, MIN(deadline_ms, now_mono_ms() + CONTROL_SEND_MS));
        if (k < 0) {
                set_status(st, H2_UNAVAILABLE, "connection error: desc = \"transport: write: %s\"",
                           strerror(-k));
                link_unref(l);
                return -ECONNREFUSED;
        }

        /* The reader: all signals blocked (they are the agent loop's), a small stack. */
        pthread_attr_t attr;
        sigset_t all, old;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, READER_STACK);
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int e = pthread_create(&l->reader, &attr, reader_run, l);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (e != 0) {
                set_status(st, H2_UNAVAILABLE, "connection error: desc = \"transport: %s\"", strerror(e));
                link_unref(l);
                return -e;
        }
        (void) pthread_setname_np(l->reader, "h2-read");
        *ret = l;
        return 0;
}

/* Joins and drops retired links whose reader ended and that no stream holds. Caller holds c->lock. */
static void reap_retired(struct h2_conn *c, bool all)
{
        size_t w = 0;
        for (size_t i = 0; i < c->n_retired; i++) {
                struct h2_link *l = c->retired[i];
                pthread_mutex_lock(&l->mu);
                bool done = l->dead && atomic_load(&l->refs) == 1;
                pthread_mutex_unlock(&l->mu);
                if (all) {
                        link_die(l, H2_UNAVAILABLE, "transport is closing");
                        done = true;
                }
                if (done) {
                        pthread_join(l->reader, NULL);
                        link_unref(l);
                } else
                        c->retired[w++] = l;
        }
        c->n_retired = w;
}

/* The current link, connected if need be, with a reference for the caller. */
static int get_link(struct h2_conn *c, int64_t deadline_ms, struct h2_link **ret, struct h2_status *st)
{
        pthread_mutex_lock(&c->lock);
        struct h2_link *l = c->link;
        if (l) {
                pthread_mutex_lock(&l->mu);
                bool usable = !l->dead && !l->goaway && !l->wdead;
                pthread_mutex_unlock(&l->mu);
                if (!usable) {
                        c->retired =
                                OOM_CHECK(reallocarray(c->retired, c->n_retired + 1, sizeof *c->retired));
                        c->retired[c->n_retired++] = l;
                        c->link = l = NULL;
                }
        }
        reap_retired(c, false);
        int r = 0;
        if (!l) {
                r = link_new(c, deadline_ms, &l, st);
                if (r == 0)
                        c->link = l;
        }
        if (r == 0) {
                atomic_fetch_add(&l->refs, 1);
                *ret = l;
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

void h2_conn_free(struct h2_conn *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        if (c->link) {
                c->retired = OOM_CHECK(reallocarray(c->retired, c->n_retired + 1, sizeof *c->retired));
                c->retired[c->n_retired++] = TAKE_PTR(c->link);
        }
        reap_retired(c, true);
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_destroy(&c->lock);
        free(c->retired);
        free(c->desc);
        free(c->authority);
        free(c->user_agent);
        free(c);
}

void h2_conn_set_user_agent(struct h2_conn *c, const char *ua)
{
        free(c->user_agent);
        c->user_agent = xstrdup(ua);
}

int h2_conn_wait_ready(struct h2_conn *c, int64_t deadline_ms, struct h2_status *st)
{
        struct h2_link *l;
        int r = get_link(c, deadline_ms, &l, st);
        if (r < 0)
                return r;
        pthread_mutex_lock(&l->mu);
        while (!l->settings_seen && !l->dead) {
                int64_t left = deadline_ms - now_mono_ms();
                if (left <= 0)
                        break;
                cond_wait_ms(&l->cond, &l->mu, left);
        }
        if (l->dead) {
                *st = l->dead_status;
                r = -ECONNREFUSED;
        } else if (l->settings_seen)
                r = 0;
        else {
                set_status(st, H2_DEADLINE_EXCEEDED, "context deadline exceeded");
                r = -ETIMEDOUT;
        }
        pthread_mutex_unlock(&l->mu);
        link_unref(l);
        return r;
}

/* ---- streams ------------------------------------------------------------------------------------ */

/* Waits on cond until deadline_ms (INT64_MAX: for ever); false once it passed. */
static bool wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline_ms)
{
        if (deadline_ms == INT64_MAX) {
                pthread_cond_wait(cond, mu);
                return true;
        }
        int64_t left = deadline_ms - now_mono_ms();
        if (left <= 0)
                return false;
        cond_wait_ms(cond, mu, left);
        return true;
}

static struct h2_stream *stream_new(struct h2_link *l, size_t max_msg)
{
        struct h2_stream *s = OOM_CHECK(calloc(1, sizeof *s));
        s->l = l;
        s->max_msg = max_msg;
        s->recv_window = OUR_STREAM_WINDOW;
        cond_init_monotonic(&s->cond);
        return s;
}

/* Unlinks the stream, resets it when it still runs on a live link, drops its link reference. */
static void stream_free(struct h2_stream *s)
{
        if (!s)
                return;
        struct h2_link *l = s->l;
        bool rst = false, idle_goaway = false;
        pthread_mutex_lock(&l->mu);
        if (s->id) {
                for (struct h2_stream **pp = &l->streams; *pp; pp = &(*pp)->next)
                        if (*pp == s) {
                                *pp = s->next;
                                break;
                        }
                rst = !l->dead && !l->wdead && !s->no_rst && (!s->remote_closed || !s->sent);
        }
        l->active--;
        idle_goaway = l->goaway && l->active == 0 && !l->dead;
        pthread_cond_broadcast(&l->cond); /* a stream slot */
        pthread_mutex_unlock(&l->mu);
        if (rst)
                send_rst_nowait(l, s->id, s->rst_code ? s->rst_code : E_CANCEL);
        if (idle_goaway)
                (void) shutdown(l->fd, SHUT_RDWR);
        pthread_cond_destroy(&s->cond);
        free(s->buf);
        free(s);
        link_unref(l);
}

/* The request's header block. */
static size_t request_headers(struct h2_conn *c, const char *path, int64_t deadline_ms, uint8_t *b,
                              size_t cap)
{
        size_t n = 0;
        char timeout[24];
        /* :method POST (3), :scheme http (6): static table entries */
        b[n++] = 0x83;
        b[n++] = 0x86;
        bool ok = hpack_put_literal(b, cap, &n, ":path", path) &&
                  hpack_put_literal(b, cap, &n, ":authority", c->authority) &&
                  hpack_put_literal(b, cap, &n, "content-type", "application/grpc") &&
                  hpack_put_literal(b, cap, &n, "user-agent", c->user_agent ? c->user_agent : "cubelet") &&
                  hpack_put_literal(b, cap, &n, "te", "trailers");
        if (ok && deadline_ms != INT64_MAX) {
                h2_grpc_timeout(deadline_ms - now_mono_ms(), timeout, sizeof timeout);
                ok = hpack_put_literal(b, cap, &n, "grpc-timeout", timeout);
        }
        return ok ? n : 0;
}

/* Whether l takes no new stream (caller holds mu): -ECONNREFUSED, st saying why; s may go again on a new
 * connection then (nothing of it was sent). */
static int unusable(struct h2_link *l, struct h2_stream *s, struct h2_status *st)
{
        if (l->dead) {
                *st = l->dead_status;
                return -ECONNREFUSED;
        }
        if (l->goaway || l->wdead) {
                set_status(st, H2_UNAVAILABLE, "%s",
                           l->goaway ? "the connection is draining" : "transport is closing");
                s->retryable = true;
                return -ECONNREFUSED;
        }
        return 0;
}

/* The request could not be written whole (send_all's r): the stream fails, Unavailable. */
static void write_failed(struct h2_stream *s, int r, bool retryable)
{
        pthread_mutex_lock(&s->l->mu);
        s->no_rst = true;
        s->retryable = retryable;
        stream_fail(s, H2_UNAVAILABLE, "connection error: desc = \"transport: write: %s\"", strerror(-r));
        pthread_mutex_unlock(&s->l->mu);
}

/* Opens a stream on l and sends the request (HEADERS, then the message in DATA frames within the peer's
 * windows, the last one ending the stream). deadline_ms is the call's (sent as grpc-timeout; INT64_MAX:
 * none); nothing here waits past wait_ms. On failure *ret is still set when a stream exists (the caller
 * frees it) and st says why. */
static int stream_open(struct h2_conn *c, struct h2_link *l, const char *path, const uint8_t *req,
                       size_t req_len, int64_t deadline_ms, int64_t wait_ms, size_t max_msg, bool unary,
                       struct h2_stream **ret, struct h2_status *st)
{
        uint8_t hb[2048];
        size_t hlen = request_headers(c, path, deadline_ms, hb, sizeof hb);
        if (hlen == 0 || req_len > UINT32_MAX - 5) {
                set_status(st, H2_INTERNAL, "grpc: request headers or message too large");
                link_unref(l);
                return -EINVAL;
        }
        struct h2_stream *s = stream_new(l, max_msg);
        s->unary = unary;
        *ret = s;

        /* A stream slot first, without holding the writer's lock (the reader takes it to answer). */
        pthread_mutex_lock(&l->mu);
        l->active++;
        while (!unusable(l, s, st) && l->active > l->peer_max_streams)
                if (!wait_until(&l->cond, &l->mu, wait_ms))
                        break;
        int r = unusable(l, s, st);
        if (r == 0 && l->active > l->peer_max_streams) {
                set_status(st, H2_DEADLINE_EXCEEDED, "context deadline exceeded");
                r = -ETIMEDOUT;
        }
        pthread_mutex_unlock(&l->mu);
        if (r < 0)
                return r;

        /* HEADERS, and the message too when the windows take it whole: one write for most calls. */
        size_t msg_len = 5 + req_len;
        _cleanup_free_ uint8_t *out = OOM_CHECK(malloc(FRAME_HEADER + hlen + FRAME_HEADER + msg_len));
        uint8_t *msg = out + FRAME_HEADER + hlen + FRAME_HEADER;
        msg[0] = 0; /* not compressed */
        put32(msg + 1, (uint32_t) req_len);
        if (req_len)
                memcpy(msg + 5, req, req_len);
        memcpy(out + FRAME_HEADER, hb, hlen);

        if (!lock_writer(l, wait_ms)) {
                set_status(st, H2_DEADLINE_EXCEEDED, "context deadline exceeded");
                return -ETIMEDOUT;
        }
        pthread_mutex_lock(&l->mu);
        if (l->next_id > INT32_MAX - 2) { /* ids ran out: this connection takes no more streams */
                l->goaway = true;
                l->goaway_last = INT32_MAX;
        }
        if ((r = unusable(l, s, st)) < 0) {
                pthread_mutex_unlock(&l->mu);
                pthread_mutex_unlock(&l->wmu);
                return r;
        }
        s->id = l->next_id;
        l->next_id += 2;
        s->send_window = l->peer_initial_window;
        s->next = l->streams;
        l->streams = s;
        bool whole = (int64_t) msg_len <= s->send_window && (int64_t) msg_len <= l->send_window &&
                     msg_len <= l->peer_max_frame;
        if (whole) {
                s->send_window -= (int64_t) msg_len;
                l->send_window -= (int64_t) msg_len;
        } else
                s->sending = true;
        pthread_mutex_unlock(&l->mu);
        put_frame_header(out, hlen, F_HEADERS, FL_END_HEADERS, s->id);
        size_t n = FRAME_HEADER + hlen;
        if (whole) {
                put_frame_header(out + n, msg_len, F_DATA, FL_END_STREAM, s->id);
                n += FRAME_HEADER + msg_len;
        }
        r = send_all(l, out, n, wait_ms);
        pthread_mutex_unlock(&l->wmu);
        if (r == -EAGAIN) {
                /* The server read nothing by the deadline, and nothing went out: the stream never was,
                 * for the server (skipping its id is allowed); its window comes back. */
                pthread_mutex_lock(&l->mu);
                if (whole) {
                        s->send_window += (int64_t) msg_len;
                        l->send_window += (int64_t) msg_len;
                }
                s->no_rst = true;
                stream_fail(s, H2_DEADLINE_EXCEEDED, "context deadline exceeded");
                pthread_mutex_unlock(&l->mu);
                return 0;
        }
        if (r == -ETIMEDOUT)
                return 0; /* half of it went out: the connection was given up, and the stream with it */
        if (r < 0) {
                /* The connection broke (the runtime went away) before the request was out: the server
                 * never saw it, so a new connection may carry it. */
                write_failed(s, r, true);
                return 0;
        }
        if (whole) {
                pthread_mutex_lock(&l->mu);
                s->sent = true;
                pthread_mutex_unlock(&l->mu);
        }

        /* The message in pieces, as the peer's windows open; it stops when the server answered or reset
         * the stream meanwhile (grpc-go ends a call it refuses before reading all of it). */
        size_t off = whole ? msg_len : 0;
        uint8_t fh[FRAME_HEADER];
        while (off < msg_len) {
                pthread_mutex_lock(&l->mu);
                if (now_mono_ms() >= wait_ms) {
                        stream_fail(s, H2_DEADLINE_EXCEEDED, "context deadline exceeded");
                        pthread_mutex_unlock(&l->mu);
                        break;
                }
                bool over = false;
                while (!(over = l->dead || s->failed || s->remote_closed || s->no_rst) &&
                       (s->send_window <= 0 || l->send_window <= 0))
                        if (!wait_until(&l->cond, &l->mu, wait_ms))
                                break;
                if (over) {
                        s->sending = false;
                        pthread_mutex_unlock(&l->mu);
                        return 0; /* the caller finds how it ended */
                }
                if (s->send_window <= 0 || l->send_window <= 0) {
                        s->sending = false;
                        pthread_mutex_unlock(&l->mu);
                        set_status(st, H2_DEADLINE_EXCEEDED, "context deadline exceeded");
                        return -ETIMEDOUT;
                }
                int64_t window = MIN(s->send_window, l->send_window);
                size_t chunk = MIN(msg_len - off, (size_t) window);
                chunk = MIN(chunk, (size_t) l->peer_max_frame);
                s->send_window -= (int64_t) chunk;
                l->send_window -= (int64_t) chunk;
                pthread_mutex_unlock(&l->mu);
                put_frame_header(fh, chunk, F_DATA, off + chunk == msg_len ? FL_END_STREAM : 0, s->id);
                bool locked = lock_writer(l, wait_ms), nothing_sent = !locked;
                if (locked) {
                        r = send_all(l, fh, FRAME_HEADER, wait_ms);
                        nothing_sent = r == -EAGAIN;
                        if (r == 0 && (r = send_all(l, msg + off, chunk, wait_ms)) == -EAGAIN) {
                                link_gone_deaf(l); /* the frame's header is out, its payload is not */
                                r = -ETIMEDOUT;
                        }
                        pthread_mutex_unlock(&l->wmu);
                }
                if (nothing_sent) {
                        /* Not a byte of the frame went out: its window comes back, or the connection
                         * would lose it for good; the stream ends by its deadline (and a reset). */
                        pthread_mutex_lock(&l->mu);
                        s->send_window += (int64_t) chunk;
                        l->send_window += (int64_t) chunk;
                        pthread_cond_broadcast(&l->cond);
                        stream_fail(s, H2_DEADLINE_EXCEEDED, "context deadline exceeded");
                        pthread_mutex_unlock(&l->mu);
                        break;
                }
                if (r < 0) {
                        /* A timeout inside the frame gave the connection up, which failed the stream;
                         * another failure is the stream's, and the server may have started on it: no
                         * retry. */
                        if (r != -ETIMEDOUT)
                                write_failed(s, r, false);
                        break;
                }
                off += chunk;
                if (off == msg_len) {
                        pthread_mutex_lock(&l->mu);
                        s->sent = true;
                        pthread_mutex_unlock(&l->mu);
                }
        }
        pthread_mutex_lock(&l->mu);
        s->sending = false;
        pthread_mutex_unlock(&l->mu);
        /* A failure is the stream's: the caller reads it there. */
        return 0;
}

/* What a finished stream (remote_closed, not failed) amounts to. Caller holds mu. */
static int stream_result(struct h2_stream *s, struct h2_status *st)
{
        if (s->http_status != 200) {
                /* The gRPC HTTP/2 spec's mapping of HTTP statuses, as Go's client words it. */
                int hs = s->http_status;
                int code = hs == 400                                            ? H2_INTERNAL
                           : hs == 401                                          ? H2_UNAUTHENTICATED
                           : hs == 403                                          ? H2_PERMISSION_DENIED
                           : hs == 404                                          ? H2_UNIMPLEMENTED
                           : (hs == 429 || hs == 502 || hs == 503 || hs == 504) ? H2_UNAVAILABLE
                                                                                : H2_UNKNOWN;
                set_status(st, code, "unexpected HTTP status code received from server: %d", hs);
                return h2_status_errno(code);
        }
        if (!s->grpc_content_type && !s->have_grpc_status) {
                set_status(st, H2_INTERNAL, "transport: received unexpected content-type");
                return -EBADMSG;
        }
        if (!s->have_grpc_status) {
                set_status(st, H2_INTERNAL, "server closed the stream without sending trailers");
                return -EBADMSG;
        }
        if (s->grpc_status != H2_OK) {
                st->code = s->grpc_status;
                snprintf(st->msg, sizeof st->msg, "%s", s->grpc_message);
                return h2_status_errno(s->grpc_status);
        }
        st->code = H2_OK;
        st->msg[0] = 0;
        return 0;
}

int h2_status_errno(int code)
{
        return code == H2_DEADLINE_EXCEEDED ? -ETIMEDOUT : code == H2_UNAVAILABLE ? -ECONNREFUSED : -EIO;
}

/* A failure on this side: INTERNAL is a protocol error. */
static int failure_errno(const struct h2_status *st)
{
        return st->code == H2_INTERNAL ? -EBADMSG : h2_status_errno(st->code);
}

/* Takes one whole gRPC message off the front of s->buf; false when none is complete. Caller holds mu. */
static int take_message(struct h2_stream *s, uint8_t **ret, size_t *ret_len, struct h2_status *st)
{
        if (s->len < 5)
                return 0;
        uint32_t n = get32(s->buf + 1);
        if (s->len < 5 + (size_t) n)
                return 0;
        if (s->buf[0] != 0) {
                set_status(st, H2_INTERNAL, "grpc: compressed message without an encoding we asked for");
                return -EBADMSG;
        }
        uint8_t *m = malloc(n ? n : 1);
        if (!m) {
                set_status(st, H2_RESOURCE_EXHAUSTED, "out of memory");
                return -ENOMEM;
        }
        memcpy(m, s->buf + 5, n);
        size_t used = 5 + (size_t) n;
        memmove(s->buf, s->buf + used, s->len - used);
        s->len -= used;
        s->scan -= used;
        s->unacked += used;
        *ret = m;
        *ret_len = n;
        return 1;
}

/* A unary call's stream opened and its request sent (*ret), or why not. */
static int unary_open(struct h2_conn *c, const char *path, const uint8_t *req, size_t req_len,
                      int64_t deadline_ms, size_t max_resp, struct h2_stream **ret, struct h2_status *st,
                      bool *retryable)
{
        struct h2_link *l;
        struct h2_stream *s = NULL;
        *retryable = false;
        *ret = NULL;
        int r = get_link(c, deadline_ms, &l, st);
        if (r < 0)
                return r;
        r = stream_open(c, l, path, req, req_len, deadline_ms, deadline_ms, max_resp, true, &s, st);
        if (r < 0 || !s) {
                if (s) {
                        *retryable = s->retryable;
                        stream_free(s);
                }
                return r;
        }
        *ret = s;
        return 0;
}

/* Waits for the reply of a stream unary_open opened, takes its message, and frees the stream. */
static int unary_finish(struct h2_stream *s, int64_t deadline_ms, uint8_t **ret_resp, size_t *ret_len,
                        struct h2_status *st, bool *retryable)
{
        struct h2_link *l = s->l;
        int r = 0;
        pthread_mutex_lock(&l->mu);
        while (!s->remote_closed && !s->failed)
                if (!wait_until(&s->cond, &l->mu, deadline_ms))
                        break;
        if (s->failed) {
                *st = s->failure;
                *retryable = s->retryable;
                r = failure_errno(st);
        } else if (!s->remote_closed) {
                set_status(st, H2_DEADLINE_EXCEEDED, "context deadline exceeded");
                r = -ETIMEDOUT;
        } else if ((r = stream_result(s, st)) == 0) {
                uint8_t *m = NULL;
                size_t n = 0;
                int k = take_message(s, &m, &n, st);
                if (k == 0) {
                        set_status(st, H2_INTERNAL, "grpc: no response message for a unary call");
                        r = -EBADMSG;
                } else if (k < 0)
                        r = k;
                else if (s->len > 0) {
                        free(m);
                        set_status(st, H2_INTERNAL, "grpc: too many response messages for a unary call");
                        r = -EBADMSG;
                } else {
                        *ret_resp = m;
                        *ret_len = n;
                }
        }
        pthread_mutex_unlock(&l->mu);
        stream_free(s);
        return r;
}

static int unary_once(struct h2_conn *c, const char *path, const uint8_t *req, size_t req_len,
                      int64_t deadline_ms, size_t max_resp, uint8_t **ret_resp, size_t *ret_len,
                      struct h2_status *st, bool *retryable)
{
        struct h2_stream *s;
        int r = unary_open(c, path, req, req_len, deadline_ms, max_resp, &s, st, retryable);
        if (r < 0 || !s)
                return r;
        return unary_finish(s, deadline_ms, ret_resp, ret_len, st, retryable);
}

int h2_unary(struct h2_conn *c, const char *path, const uint8_t *req, size_t req_len, int64_t deadline_ms,
             size_t max_resp, uint8_t **ret_resp, size_t *ret_len, struct h2_status *st)
{
        struct h2_status local;
        bool retryable;
        if (!st)
                st = &local;
        if (!c || !path || (!req && req_len) || !ret_resp || !ret_len)
                return -EINVAL;
        int r = unary_once(c, path, req, req_len, deadline_ms, max_resp, ret_resp, ret_len, st, &retryable);
        if (r < 0 && retryable && now_mono_ms() < deadline_ms)
                r = unary_once(c, path, req, req_len, deadline_ms, max_resp, ret_resp, ret_len, st,
                               &retryable);
        return r;
}

/* Below this many streams a server allows at once, h2_unary_many makes its calls one after another: a
 * thread holding a stream while it waits for a slot for the next could starve beside others doing the
 * same (gRPC servers, containerd's among them, allow any number unless configured). */
#define MANY_MIN_STREAMS 65536

void h2_unary_many(struct h2_conn *c, struct h2_unary_call *calls, size_t n)
{
        struct h2_stream **s = OOM_CHECK(calloc(n + 1, sizeof *s));
        bool *retry = OOM_CHECK(calloc(n + 1, sizeof *retry)),
             *later = OOM_CHECK(calloc(n + 1, sizeof *later));
        bool parallel = true;
        for (size_t i = 0; i < n; i++) {
                struct h2_unary_call *k = &calls[i];
                k->resp = NULL;
                k->resp_len = 0;
                k->st = (struct h2_status){0};
                if (!c || !k->path || (!k->req && k->req_len))
                        k->r = -EINVAL;
                else if (!parallel)
                        later[i] = true;
                else {
                        k->r = unary_open(c, k->path, k->req, k->req_len, k->deadline_ms, k->max_resp, &s[i],
                                          &k->st, &retry[i]);
                        if (s[i]) { /* a new connection's limit is known once the server's SETTINGS came */
                                pthread_mutex_lock(&s[i]->l->mu);
                                parallel = s[i]->l->settings_seen &&
                                           s[i]->l->peer_max_streams >= MANY_MIN_STREAMS;
                                pthread_mutex_unlock(&s[i]->l->mu);
                        }
                }
        }
        for (size_t i = 0; i < n; i++) {
                struct h2_unary_call *k = &calls[i];
                if (s[i])
                        k->r = unary_finish(s[i], k->deadline_ms, &k->resp, &k->resp_len, &k->st, &retry[i]);
        }
        /* As h2_unary: a stream the server refused untouched goes once more; then the calls left for
         * later, one by one, now that this thread holds no stream. */
        for (size_t i = 0; i < n; i++) {
                struct h2_unary_call *k = &calls[i];
                if (k->r < 0 && retry[i] && now_mono_ms() < k->deadline_ms)
                        k->r = unary_once(c, k->path, k->req, k->req_len, k->deadline_ms, k->max_resp,
                                          &k->resp, &k->resp_len, &k->st, &retry[i]);
        }
        for (size_t i = 0; i < n; i++) {
                struct h2_unary_call *k = &calls[i];
                if (later[i])
                        k->r = h2_unary(c, k->path, k->req, k->req_len, k->deadline_ms, k->max_resp,
                                        &k->resp, &k->resp_len, &k->st);
        }
        free(s);
        free(retry);
        free(later);
}

int h2_stream_start(struct h2_conn *c, const char *path, const uint8_t *req, size_t req_len, size_t max_msg,
                    struct h2_call **ret, struct h2_status *st)
{
        struct h2_link *l;
        struct h2_stream *s = NULL;
        struct h2_status local;
        if (!st)
                st = &local;
        if (!c || !path || (!req && req_len) || !ret)
                return -EINVAL;
        /* The start (connect, a stream slot, the request) is bounded, so that a stop is never held up
         * for long; the call itself has no deadline. */
        int64_t start_ms = now_mono_ms() + CONTROL_SEND_MS;
        int r = get_link(c, start_ms, &l, st);
        if (r < 0)
                return r;
        r = stream_open(c, l, path, req, req_len, INT64_MAX, start_ms, max_msg, false, &s, st);
        if (r < 0) {
                stream_free(s);
                return r;
        }
        struct h2_call *k = OOM_CHECK(calloc(1, sizeof *k));
        k->s = s;
        *ret = k;
        return 0;
}

int h2_stream_next(struct h2_call *k, int64_t deadline_ms, uint8_t **ret_msg, size_t *ret_len,
                   struct h2_status *st)
{
        struct h2_stream *s = k->s;
        struct h2_link *l = s->l;
        struct h2_status local;
        uint32_t refill = 0;
        int r;
        if (!st)
                st = &local;
        pthread_mutex_lock(&l->mu);
        for (;;) {
                if (s->cancelled) {
                        set_status(st, H2_CANCELLED, "context canceled");
                        r = 0;
                        break;
                }
                r = s->failed ? 0 : take_message(s, ret_msg, ret_len, st);
                if (r < 0) {
                        s->failed = true;
                        s->failure = *st;
                        r = 0;
                        break;
                }
                if (r == 1) {
                        if (s->unacked >= WINDOW_REFILL && !s->remote_closed) {
                                refill = (uint32_t) s->unacked;
                                s->recv_window += s->unacked;
                                s->unacked = 0;
                        }
                        break;
                }
                if (s->failed) {
                        *st = s->failure;
                        break;
                }
                if (s->remote_closed) {
                        (void) stream_result(s, st);
                        if (st->code == H2_OK && s->len > 0)
                                set_status(st, H2_INTERNAL, "grpc: the stream ended inside a message");
                        break;
                }
                if (!wait_until(&s->cond, &l->mu, deadline_ms)) {
                        r = -ETIMEDOUT;
                        break;
                }
        }
        pthread_mutex_unlock(&l->mu);
        if (refill)
                send_window_update(l, s->id, refill);
        return r;
}

void h2_stream_cancel(struct h2_call *k)
{
        if (!k)
                return;
        struct h2_link *l = k->s->l;
        pthread_mutex_lock(&l->mu);
        k->s->cancelled = true;
        pthread_cond_signal(&k->s->cond);
        pthread_mutex_unlock(&l->mu);
}

void h2_stream_free(struct h2_call *k)
{
        if (!k)
                return;
        stream_free(k->s);
        free(k);
}
