/* libFuzzer target for cubelet's HTTP/2 client (cri/h2.c) as a server drives it: the input's octets are
 * what a server on a unix socket sends on each connection the client makes (frames, header blocks, gRPC
 * messages, settings, windows, resets, GOAWAY, garbage), then it stops sending. The client makes its
 * call(s) meanwhile; the first octet picks them: one unary call, one server-streaming call read to its
 * end, or two unary calls at once. Whatever the octets, a call must end (the connection's end wakes it,
 * never the deadline) with a status that agrees with its result, and everything must be freed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_fail.h"
#include "h2.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSG (64 * 1024)
/* Far more than any input needs (milliseconds): reaching it is a finding (a call not woken). Generous, as
 * the corpus replays in the test suite on a loaded machine; a campaign's -timeout=10 reports such an
 * input first. The server gives up four times later. */
#define CALL_MS   20000
#define MAX_CONNS 8

static char dir[64], path[80];
static int lfd = -1;

static void cleanup(void)
{
        if (lfd >= 0)
                close(lfd);
        unlink(path);
        rmdir(dir);
}

static void listen_once(void)
{
        if (lfd >= 0)
                return;
        snprintf(dir, sizeof dir, "/tmp/cubelet-fuzz-h2.XXXXXX");
        if (!mkdtemp(dir))
                FAIL("mkdtemp: %s", strerror(errno));
        snprintf(path, sizeof path, "%s/s", dir);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &a, sizeof a) < 0 || listen(lfd, 16) < 0)
                FAIL("listen %s: %s", path, strerror(errno));
        atexit(cleanup);
}

enum mode { UNARY, STREAM, TWO_UNARY };

struct call {
        struct h2_conn *c;
        enum mode mode;
        int done_fd; /* written once when the call ended */
        pthread_t thread;
};

/* what's result r and status st, the call having started at t0 (now_mono_ms). */
static void check_status(const char *what, int r, const struct h2_status *st, int64_t t0)
{
        if (getenv("FUZZ_VERBOSE")) /* what each call came to, to see what a corpus reaches */
                fprintf(stderr, "%s: %d, status %d: %s\n", what, r, st->code, st->msg);
        if (!memchr(st->msg, 0, sizeof st->msg))
                FAIL("%s: status message not NUL-terminated", what);
        /* (A server may say DeadlineExceeded itself: the clock tells.) */
        if (now_mono_ms() - t0 >= CALL_MS)
                FAIL("%s: the call waited for its deadline: %d, %s", what, r, st->msg);
        if ((r == 0) != (st->code == H2_OK))
                FAIL("%s: result %d with status %d (%s)", what, r, st->code, st->msg);
        if (r != 0 && r != -ETIMEDOUT && r != -ECONNREFUSED && r != -EIO && r != -EBADMSG)
                FAIL("%s: unexpected result %d (%s)", what, r, st->msg);
}

static void unary(struct h2_conn *c)
{
        static const uint8_t req[] = {0x0a, 0x02, 'v', '1'};
        struct h2_status st = {.code = -1};
        uint8_t *resp = NULL;
        size_t len = 0;
        int64_t t0 = now_mono_ms();
        int r = h2_unary(c, "/runtime.v1.RuntimeService/Version", req, sizeof req, t0 + CALL_MS, MAX_MSG,
                         &resp, &len, &st);
        check_status("h2_unary", r, &st, t0);
        if (r == 0 && (len > MAX_MSG || (len > 0 && !resp)))
                FAIL("h2_unary: a reply of %zu octets past the limit %d", len, MAX_MSG);
        free(resp);
}

static void streaming(struct h2_conn *c)
{
        struct h2_call *k = NULL;
        struct h2_status st = {.code = -1};
        static const uint8_t req[] = {0x0a, 0x01, '*'};
        int64_t t0 = now_mono_ms();
        int r = h2_stream_start(c, "/containerd.services.events.v1.Events/Subscribe", req, sizeof req,
                                MAX_MSG, &k, &st);
        if (r < 0) {
                check_status("h2_stream_start", r, &st, t0);
                return;
        }
        int64_t deadline = t0 + CALL_MS;
        for (;;) {
                uint8_t *msg = NULL;
                size_t len = 0;
                st = (struct h2_status){.code = -1};
                r = h2_stream_next(k, deadline, &msg, &len, &st);
                if (r == 1) {
                        if (len > MAX_MSG)
                                FAIL("h2_stream_next: a message of %zu octets past the limit %d", len,
                                     MAX_MSG);
                        if (getenv("FUZZ_VERBOSE"))
                                fprintf(stderr, "h2_stream_next: a message of %zu octets\n", len);
                        free(msg);
                        continue;
                }
                if (r == -ETIMEDOUT)
                        FAIL("h2_stream_next: the stream was not ended by the connection's end");
                if (r != 0)
                        FAIL("h2_stream_next: unexpected result %d", r);
                check_status("h2_stream_next", st.code == H2_OK ? 0 : -EIO, &st, t0);
                break;
        }
        h2_stream_free(k);
}

static void *call_run(void *arg)
{
        struct call *k = arg;
        if (k->mode == STREAM)
                streaming(k->c);
        else
                unary(k->c);
        uint64_t one = 1;
        if (write(k->done_fd, &one, sizeof one) < 0)
                FAIL("write: %s", strerror(errno));
        return NULL;
}

struct peer_conn {
        int fd;
        size_t sent;
        bool shut;
};

/* The server: accepts each connection, sends it the input (as fast as the client reads), then shuts its
 * sending side; reads and drops what the client sends. Until every call ended. */
static void serve(const uint8_t *data, size_t size, int done_fd, int calls)
{
        struct peer_conn conns[MAX_CONNS];
        int n = 0, ended = 0;
        char sink[16384];

        int64_t until = now_mono_ms() + CALL_MS * 4;
        while (ended < calls) {
                struct pollfd pfd[MAX_CONNS + 2];
                int m = 0;
                pfd[m++] = (struct pollfd){.fd = done_fd, .events = POLLIN};
                pfd[m++] = (struct pollfd){.fd = n < MAX_CONNS ? lfd : -1, .events = POLLIN};
                for (int i = 0; i < n; i++)
                        pfd[m++] = (struct pollfd){.fd = conns[i].fd,
                                                   .events = POLLIN | (conns[i].shut ? 0 : POLLOUT)};
                /* (libFuzzer's -timeout alarm interrupts the wait: it goes on.) */
                int ready = poll(pfd, (nfds_t) m, (int) MAX(until - now_mono_ms(), (int64_t) 0));
                if (ready < 0 && errno == EINTR)
                        continue;
                if (ready <= 0) {
                        for (int i = 0; i < n; i++)
                                fprintf(stderr, "connection %d: fd %d, %zu of %zu octets sent%s\n", i,
                                        conns[i].fd, conns[i].sent, size, conns[i].shut ? ", shut" : "");
                        FAIL("%d of %d calls did not end in %d ms", calls - ended, calls, CALL_MS * 4);
                }
                if (pfd[0].revents) {
                        uint64_t v;
                        if (read(done_fd, &v, sizeof v) == sizeof v)
                                ended += (int) v;
                }
                if (pfd[1].revents) {
                        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                        if (fd >= 0)
                                conns[n++] = (struct peer_conn){.fd = fd};
                }
                for (int i = 0; i < m - 2; i++) { /* the connections polled (not one just accepted) */
                        struct peer_conn *p = &conns[i];
                        short ev = pfd[2 + i].revents;
                        if (p->fd < 0 || !ev)
                                continue;
                        if (ev & (POLLIN | POLLHUP | POLLERR)) {
                                ssize_t k = read(p->fd, sink, sizeof sink);
                                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                                        close(p->fd);
                                        p->fd = -1;
                                        continue;
                                }
                        }
                        if ((ev & POLLOUT) && !p->shut) {
                                ssize_t k = p->sent < size ? send(p->fd, data + p->sent, size - p->sent,
                                                                  MSG_NOSIGNAL)
                                                           : 0;
                                if (k > 0)
                                        p->sent += (size_t) k;
                                if (p->sent == size || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                                        shutdown(p->fd, SHUT_WR);
                                        p->shut = true;
                                }
                        }
                }
        }
        for (int i = 0; i < n; i++)
                if (conns[i].fd >= 0)
                        close(conns[i].fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        listen_once();
        enum mode mode = data[0] % 3;
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                FAIL("pipe: %s", strerror(errno));
        struct h2_conn *c;
        char target[96];
        snprintf(target, sizeof target, "unix://%s", path);
        if (h2_conn_new(target, &c) < 0)
                FAIL("h2_conn_new");

        struct call calls[2] = {{.c = c, .mode = mode == STREAM ? STREAM : UNARY, .done_fd = fds[1]},
                                {.c = c, .mode = UNARY, .done_fd = fds[1]}};
        int ncalls = mode == TWO_UNARY ? 2 : 1;
        for (int i = 0; i < ncalls; i++)
                if (pthread_create(&calls[i].thread, NULL, call_run, &calls[i]) != 0)
                        FAIL("pthread_create");
        serve(data + 1, size - 1, fds[0], ncalls);
        for (int i = 0; i < ncalls; i++)
                pthread_join(calls[i].thread, NULL);
        h2_conn_free(c);
        close(fds[0]);
        close(fds[1]);
        return 0;
}
