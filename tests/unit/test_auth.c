/* Unit tests for the node server's webhook answer cache: TTLs on a fake clock, the bound, thread safety, the
 * token key, and TokenReview through it against a canned API server on a loopback thread. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "auth.h"
#include "client.h"
#include "util.h"

static void test_token_key(void **state)
{
        char key[65];
        assert_int_equal(auth_token_key("abc", key), 0);
        /* FIPS 180-2's example. */
        assert_string_equal(key, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_int_equal(auth_token_key("", key), 0);
        assert_string_equal(key, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_ttls(void **state)
{
        struct auth_cache *c = auth_cache_new(1000, 100, 8);
        struct auth_user u = {.name = (char *) "alice", .groups = (char *[]){"g1", "g2", NULL}}, got = {0};
        char reason[64] = "";

        assert_int_equal(auth_cache_get(c, "k", 0, &got, reason, sizeof reason), -ENOENT);
        auth_cache_put(c, "yes", 0, true, &u, "ok by RBAC");
        auth_cache_put(c, "no", 0, false, NULL, "nope");
        /* A yes hands back a copy of its user and its reason. */
        assert_int_equal(auth_cache_get(c, "yes", 999, &got, reason, sizeof reason), 1);
        assert_string_equal(got.name, "alice");
        assert_non_null(got.groups);
        assert_string_equal(got.groups[0], "g1");
        assert_string_equal(got.groups[1], "g2");
        assert_null(got.groups[2]);
        assert_string_equal(reason, "ok by RBAC");
        auth_user_clear(&got);
        /* A no leaves the user untouched. */
        assert_int_equal(auth_cache_get(c, "no", 99, &got, reason, sizeof reason), 0);
        assert_null(got.name);
        assert_string_equal(reason, "nope");
        /* Each kind expires after its own TTL. */
        assert_int_equal(auth_cache_get(c, "no", 100, NULL, NULL, 0), -ENOENT);
        assert_int_equal(auth_cache_get(c, "yes", 100, NULL, NULL, 0), 1);
        assert_int_equal(auth_cache_get(c, "yes", 1000, NULL, NULL, 0), -ENOENT);
        /* A new answer replaces the old one in place. */
        auth_cache_put(c, "yes", 2000, false, NULL, NULL);
        assert_int_equal(auth_cache_get(c, "yes", 2050, &got, NULL, 0), 0);
        assert_null(got.name);
        assert_int_equal(auth_cache_size(c), 2);
        auth_cache_free(c);

        /* A TTL of 0 keeps none of that kind, as upstream's 0 disables the cache. */
        c = auth_cache_new(0, 100, 8);
        auth_cache_put(c, "yes", 0, true, &u, NULL);
        auth_cache_put(c, "no", 0, false, NULL, NULL);
        assert_int_equal(auth_cache_get(c, "yes", 1, NULL, NULL, 0), -ENOENT);
        assert_int_equal(auth_cache_get(c, "no", 1, NULL, NULL, 0), 0);
        assert_int_equal(auth_cache_size(c), 1);
        auth_cache_free(c);
        assert_null(auth_cache_free(NULL));
}

static void test_bounded(void **state)
{
        struct auth_cache *c = auth_cache_new(1000, 1000, 4);
        char key[16];
        for (int i = 0; i < 4; i++) {
                snprintf(key, sizeof key, "k%d", i);
                auth_cache_put(c, key, i * 10, true, NULL, NULL); /* k0 expires first */
        }
        assert_int_equal(auth_cache_size(c), 4);
        /* Full: the entry nearest its expiry makes room. */
        auth_cache_put(c, "k4", 50, true, NULL, NULL);
        assert_int_equal(auth_cache_size(c), 4);
        assert_int_equal(auth_cache_get(c, "k0", 50, NULL, NULL, 0), -ENOENT);
        for (int i = 1; i <= 4; i++) {
                snprintf(key, sizeof key, "k%d", i);
                assert_int_equal(auth_cache_get(c, key, 50, NULL, NULL, 0), 1);
        }
        /* An expired entry is the first to make room. */
        auth_cache_put(c, "k5", 1015, true, NULL, NULL); /* k1 (expires at 1010) is stale */
        assert_int_equal(auth_cache_size(c), 4);
        assert_int_equal(auth_cache_get(c, "k2", 1015, NULL, NULL, 0), 1);
        assert_int_equal(auth_cache_get(c, "k3", 1015, NULL, NULL, 0), 1);
        assert_int_equal(auth_cache_get(c, "k4", 1015, NULL, NULL, 0), 1);
        assert_int_equal(auth_cache_get(c, "k5", 1015, NULL, NULL, 0), 1);
        auth_cache_free(c);
}

#define THREADS 8
#define ROUNDS  4000

static void *hammer(void *arg)
{
        struct auth_cache *c = arg;
        struct auth_user u = {.name = (char *) "bob", .groups = (char *[]){"g", NULL}};
        unsigned seed = (unsigned) (uintptr_t) &u;
        for (int i = 0; i < ROUNDS; i++) {
                char key[16];
                snprintf(key, sizeof key, "k%d", rand_r(&seed) % 64);
                if (i % 3 == 0) {
                        auth_cache_put(c, key, i, i % 2 == 0, &u, "why");
                        continue;
                }
                struct auth_user got = {0};
                char reason[8];
                int r = auth_cache_get(c, key, i, &got, reason, sizeof reason);
                if (r == 1 && (!got.name || strcmp(got.name, "bob") != 0))
                        return (void *) 1;
                auth_user_clear(&got);
        }
        return NULL;
}

/* Many threads on a cache smaller than their keys: no torn entries (ASan/TSan see the rest). */
static void test_threads(void **state)
{
        struct auth_cache *c = auth_cache_new(1000000, 1000000, 16);
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++)
                assert_int_equal(pthread_create(&t[i], NULL, hammer, c), 0);
        for (int i = 0; i < THREADS; i++) {
                void *bad;
                pthread_join(t[i], &bad);
                assert_null(bad);
        }
        assert_true(auth_cache_size(c) <= 16);
        auth_cache_free(c);
}

/* ---- TokenReview against a canned API server ---- */

struct api {
        int lfd, stop[2], port;
        pthread_t thread;
        pthread_mutex_t lock;
        int reviews_good, reviews_bad, reviews_flaky, reviews_other;
};

static void send_str(int fd, const char *s)
{
        size_t len = strlen(s);
        while (len > 0) {
                ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
                if (n <= 0)
                        return;
                s += n;
                len -= (size_t) n;
        }
}

/* One request (head and Content-Length body) per connection; answers by the token it carries: "good"
 * authenticates alice, "bad" is refused, "flaky" gets a 500. */
static void serve_one(struct api *a, int fd)
{
        char buf[16384];
        size_t len = 0;
        char *body = NULL;
        long want = -1;
        while (len < sizeof buf - 1) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, 5000) <= 0)
                        return;
                ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
                if (n <= 0)
                        return;
                len += (size_t) n;
                buf[len] = 0;
                char *end = strstr(buf, "\r\n\r\n");
                if (!end)
                        continue;
                body = end + 4;
                const char *cl = strcasestr(buf, "Content-Length:");
                want = cl && cl < end ? strtol(cl + 15, NULL, 10) : 0;
                if ((long) (buf + len - body) >= want)
                        break;
        }
        if (!body)
                return;
        json_t *req = json_loadb(body, (size_t) want, 0, NULL);
        const char *token = json_string_value(json_object_get(json_object_get(req, "spec"), "token"));
        const char *reply;
        pthread_mutex_lock(&a->lock);
        if (token && streq(token, "good")) {
                a->reviews_good++;
                reply = "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":true,"
                        "\"user\":{\"username\":\"alice\",\"groups\":[\"devs\",\"system:authenticated\"]}}}";
        } else if (token && streq(token, "bad")) {
                a->reviews_bad++;
                reply = "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":false}}";
        } else if (token && streq(token, "flaky")) {
                a->reviews_flaky++;
                reply = NULL;
        } else {
                a->reviews_other++;
                reply = "{\"kind\":\"TokenReview\",\"status\":{}}";
        }
        pthread_mutex_unlock(&a->lock);
        json_decref(req);
        char head[256];
        snprintf(head, sizeof head,
                 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: "
                 "close\r\n\r\n",
                 reply ? "201 Created" : "500 Internal Server Error", reply ? strlen(reply) : 2);
        send_str(fd, head);
        send_str(fd, reply ? reply : "{}");
}

static void *api_thread(void *arg)
{
        struct api *a = arg;
        for (;;) {
                struct pollfd p[2] = {{.fd = a->lfd, .events = POLLIN},
                                      {.fd = a->stop[0], .events = POLLIN}};
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[1].revents)
                        break;
                if (!(p[0].revents & POLLIN))
                        continue;
                int fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        continue;
                serve_one(a, fd);
                close(fd);
        }
        return NULL;
}

static void api_start(struct api *a)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof sa;
        *a = (struct api){0};
        pthread_mutex_init(&a->lock, NULL);
        a->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(a->lfd >= 0);
        assert_int_equal(bind(a->lfd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(a->lfd, 16), 0);
        assert_int_equal(getsockname(a->lfd, (struct sockaddr *) &sa, &sl), 0);
        a->port = ntohs(sa.sin_port);
        assert_int_equal(pipe2(a->stop, O_CLOEXEC), 0);
        assert_int_equal(pthread_create(&a->thread, NULL, api_thread, a), 0);
}

static void api_stop(struct api *a)
{
        assert_int_equal(write(a->stop[1], "x", 1), 1);
        pthread_join(a->thread, NULL);
        close(a->lfd);
        close(a->stop[0]);
        close(a->stop[1]);
        pthread_mutex_destroy(&a->lock);
}

static void test_token_review_cached(void **state)
{
        struct api a;
        api_start(&a);
        char server[64];
        snprintf(server, sizeof server, "http://127.0.0.1:%d", a.port);
        struct kube_auth ka = {.server = server};
        struct kube_client *kube = NULL;
        assert_int_equal(kube_client_new(&ka, 0, 0, &kube), 0);
        struct auth_cache *cache = auth_cache_new(120000, 120000, 16);
        struct auth_user u = {0};

        /* Authenticated: one review, then answers from the cache with the same user. */
        for (int i = 0; i < 3; i++) {
                assert_int_equal(auth_token_review(kube, cache, "good", &u), 1);
                assert_string_equal(u.name, "alice");
                assert_string_equal(u.groups[0], "devs");
                assert_string_equal(u.groups[1], "system:authenticated");
                assert_null(u.groups[2]);
                auth_user_clear(&u);
        }
        assert_int_equal(a.reviews_good, 1);
        /* Refused by the API server: an answer too, kept as such. */
        for (int i = 0; i < 3; i++) {
                assert_int_equal(auth_token_review(kube, cache, "bad", &u), 0);
                assert_null(u.name);
        }
        assert_int_equal(a.reviews_bad, 1);
        /* No answer (a 500): asked again every time. */
        for (int i = 0; i < 3; i++)
                assert_true(auth_token_review(kube, cache, "flaky", &u) < 0);
        assert_int_equal(a.reviews_flaky, 3);
        /* authenticated without a username: not a user. */
        assert_int_equal(auth_token_review(kube, cache, "odd", &u), 0);
        assert_null(u.name);
        /* Kept under the token's digest, never the token. */
        char key[65];
        assert_int_equal(auth_token_key("good", key), 0);
        assert_int_equal(auth_cache_get(cache, key, now_mono_ms(), NULL, NULL, 0), 1);
        assert_int_equal(auth_cache_get(cache, "good", now_mono_ms(), NULL, NULL, 0), -ENOENT);
        assert_int_equal(auth_cache_size(cache), 3); /* good, bad, odd */

        /* Without a cache (cacheTTL 0 or no cache at all) every request is a review. */
        assert_int_equal(auth_token_review(kube, NULL, "good", &u), 1);
        auth_user_clear(&u);
        assert_int_equal(auth_token_review(kube, NULL, "good", &u), 1);
        auth_user_clear(&u);
        assert_int_equal(a.reviews_good, 3);
        struct auth_cache *off = auth_cache_new(0, 0, 16);
        assert_int_equal(auth_token_review(kube, off, "good", &u), 1);
        auth_user_clear(&u);
        assert_int_equal(auth_token_review(kube, off, "good", &u), 1);
        auth_user_clear(&u);
        assert_int_equal(a.reviews_good, 5);

        auth_cache_free(off);
        auth_cache_free(cache);
        kube_client_free(kube);
        api_stop(&a);
}

/* upstream's chain: x509, then token, anonymous behind them only when neither failed. */
static void test_decide(void **state)
{
        assert_int_equal(auth_decide(1, 0, false), AUTH_AS_X509);
        assert_int_equal(auth_decide(1, -EACCES, true), AUTH_AS_X509);
        assert_int_equal(auth_decide(0, 1, false), AUTH_AS_TOKEN);
        assert_int_equal(auth_decide(-EACCES, 1, false),
                         AUTH_AS_TOKEN); /* a bad certificate, a good token */
        assert_int_equal(auth_decide(0, 0, true), AUTH_AS_ANONYMOUS);
        assert_int_equal(auth_decide(0, 0, false), AUTH_UNAUTHORIZED);
        /* Fails closed: a certificate that does not verify, a refused token, a failed review. */
        assert_int_equal(auth_decide(-EACCES, 0, true), AUTH_UNAUTHORIZED);
        assert_int_equal(auth_decide(0, -EACCES, true), AUTH_UNAUTHORIZED);
        assert_int_equal(auth_decide(0, -EIO, true), AUTH_UNAUTHORIZED);
        assert_int_equal(auth_decide(0, -ETIMEDOUT, true), AUTH_UNAUTHORIZED);
        /* Not checked in time: try again. */
        assert_int_equal(auth_decide(0, -EBUSY, true), AUTH_UNAVAILABLE);
        assert_int_equal(auth_decide(-EACCES, -EBUSY, false), AUTH_UNAVAILABLE);
}

static void test_authenticated_group(void **state)
{
        struct auth_user u = {.name = strdup("jane")};
        strv_push(&u.groups, strdup("e2e-users"));
        auth_user_add_authenticated(&u);
        assert_string_equal(u.groups[0], "e2e-users");
        assert_string_equal(u.groups[1], "system:authenticated");
        assert_null(u.groups[2]);
        auth_user_add_authenticated(&u); /* once */
        assert_null(u.groups[2]);
        auth_user_clear(&u);

        u = (struct auth_user){.name = strdup("node")};
        auth_user_add_authenticated(&u);
        assert_string_equal(u.groups[0], "system:authenticated");
        auth_user_clear(&u);

        u = (struct auth_user){.name = strdup("system:anonymous")};
        auth_user_add_authenticated(&u);
        assert_null(u.groups);
        strv_push(&u.groups, strdup("system:unauthenticated"));
        free(u.name);
        u.name = strdup("someone");
        auth_user_add_authenticated(&u);
        assert_null(u.groups[1]);
        auth_user_clear(&u);
}

/* A client with a bounded wait: what its rate limit cannot give a turn in time fails at once with -EBUSY,
 * sends nothing and takes no turn from the others. */
static void test_bounded_wait(void **state)
{
        struct api a;
        api_start(&a);
        char server[64];
        snprintf(server, sizeof server, "http://127.0.0.1:%d", a.port);
        struct kube_auth ka = {.server = server};
        struct kube_client *kube = NULL;
        assert_int_equal(kube_client_new(&ka, 2, 2, &kube), 0); /* a turn every 500 ms, two at once */
        kube_client_set_max_wait(kube, 100);
        struct auth_user u = {0};

        assert_int_equal(auth_token_review(kube, NULL, "good", &u), 1);
        auth_user_clear(&u);
        assert_int_equal(auth_token_review(kube, NULL, "good", &u), 1);
        auth_user_clear(&u);
        int64_t t0 = now_mono_ms();
        for (int i = 0; i < 20; i++)
                assert_int_equal(auth_token_review(kube, NULL, "good", &u), -EBUSY);
        assert_true(now_mono_ms() - t0 < 400); /* never waited for a turn */
        assert_int_equal(a.reviews_good, 2);
        /* The refusals took no turn: one comes back within a turn's time. */
        int r = -EBUSY;
        for (int i = 0; i < 100 && r == -EBUSY; i++) {
                struct timespec ts = {.tv_nsec = 20 * 1000000L};
                nanosleep(&ts, NULL);
                r = auth_token_review(kube, NULL, "good", &u);
        }
        assert_int_equal(r, 1);
        assert_true(now_mono_ms() - t0 < 1500);
        auth_user_clear(&u);
        assert_int_equal(a.reviews_good, 3);
        kube_client_free(kube);
        api_stop(&a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_token_key),
                cmocka_unit_test(test_ttls),
                cmocka_unit_test(test_bounded),
                cmocka_unit_test(test_threads),
                cmocka_unit_test(test_token_review_cached),
                cmocka_unit_test(test_decide),
                cmocka_unit_test(test_authenticated_group),
                cmocka_unit_test(test_bounded_wait),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
