/* Unit tests for agent/images: image references as upstream normalizes them, and the credential keyring
 * (docker config documents, upstream's registry matching, the node's search order). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>

#include "cri.h"
#include "keyring.h"
#include "puller.h"
#include "reference.h"
#include "util.h"

static void ref_ok(const char *image, const char *repo, const char *tag, const char *digest)
{
        struct image_ref r;
        char err[256] = "";
        int rc = image_ref_parse(image, &r, err, sizeof err);
        if (rc < 0)
                fail_msg("%s: %s", image, err);
        assert_string_equal(r.repo, repo);
        if (tag)
                assert_string_equal(r.tag, tag);
        else
                assert_null(r.tag);
        if (digest)
                assert_string_equal(r.digest, digest);
        else
                assert_null(r.digest);
        image_ref_done(&r);
}

static void ref_bad(const char *image, const char *why)
{
        struct image_ref r = {0};
        char err[512] = "";
        assert_int_equal(image_ref_parse(image, &r, err, sizeof err), -EINVAL);
        assert_null(r.repo);
        assert_string_equal(err, why);
}

#define SHA256 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_reference(void **state)
{
        ref_ok("busybox", "docker.io/library/busybox", "latest", NULL);
        ref_ok("busybox:1.35", "docker.io/library/busybox", "1.35", NULL);
        ref_ok("library/busybox", "docker.io/library/busybox", "latest", NULL);
        ref_ok("index.docker.io/foo", "docker.io/library/foo", "latest", NULL);
        ref_ok("team/app:v1.2-rc_3", "docker.io/team/app", "v1.2-rc_3", NULL);
        ref_ok("localhost/app", "localhost/app", "latest", NULL);
        ref_ok("localhost:5000/a/b/c:T", "localhost:5000/a/b/c", "T", NULL);
        ref_ok("cubelet.local/busybox:1.35", "cubelet.local/busybox", "1.35", NULL);
        ref_ok("Registry.Example.COM:443/x__y.z-w---q:tag", "Registry.Example.COM:443/x__y.z-w---q", "tag", NULL);
        ref_ok("app@" SHA256, "docker.io/library/app", NULL, SHA256);
        ref_ok("r.io/app:1@" SHA256, "r.io/app", "1", SHA256);
        /* No domain-looking first segment: it is a path component of docker.io. */
        ref_ok("a_b/c", "docker.io/a_b/c", "latest", NULL);
        /* A tag-looking port without a path is a tag of docker.io/library/localhost. */
        ref_ok("localhost:5000", "docker.io/library/localhost", "5000", NULL);

        ref_bad("Busybox", "invalid reference format: repository name must be lowercase");
        ref_bad("r.io/App", "invalid reference format: repository name must be lowercase");
        ref_bad("", "invalid reference format");
        ref_bad("busybox:", "invalid reference format");
        ref_bad("busybox:-x", "invalid reference format");
        ref_bad("bad..name", "invalid reference format");
        ref_bad("bad___name", "invalid reference format");
        ref_bad("-x", "invalid reference format");
        ref_bad("x/", "invalid reference format");
        ref_bad("r..io/x", "invalid reference format");
        ref_bad("r.io:/x", "invalid reference format");
        ref_bad("r.io:5x/x", "invalid reference format");
        ref_bad("a b", "invalid reference format");
        ref_bad("app@sha256:abc", "invalid reference format");
        ref_bad("app@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm");
        ref_bad("app@sha256:0123456789abcdef0123456789abcdef", "invalid checksum digest length");
        ref_bad("app@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
                "invalid checksum digest format");
        ref_bad("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "invalid repository name (0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef), "
                "cannot specify 64-byte hexadecimal strings");
        char tag[140] = "busybox:";
        memset(tag + 8, 'a', 129);
        ref_bad(tag, "invalid reference format");
        char longname[300];
        memset(longname, 'a', 260);
        longname[260] = '\0';
        ref_bad(longname, "repository name must not be more than 255 characters");
}

static void test_glob(void **state)
{
        assert_true(registry_glob_match("docker.io", "docker.io/library/busybox"));
        assert_true(registry_glob_match("*.example.com", "registry.example.com/app"));
        assert_false(registry_glob_match("*.example.com", "example.com/app"));
        assert_false(registry_glob_match("*.example.com", "a.b.example.com/app"));
        assert_true(registry_glob_match("*.*.example.com", "a.b.example.com/app"));
        assert_true(registry_glob_match("r.io:5000", "r.io:5000/app"));
        assert_false(registry_glob_match("r.io:5000", "r.io/app"));
        assert_false(registry_glob_match("r.io", "r.io:5000/app"));
        assert_true(registry_glob_match("r.io/team", "r.io/team/app"));
        assert_true(registry_glob_match("r.io/team", "r.io/teammate")); /* upstream's prefix match */
        assert_false(registry_glob_match("r.io/team", "r.io/other/app"));
        /* As Go's url.Parse reads the key: '?' starts a query, so "r?.io" is the host "r". */
        assert_false(registry_glob_match("r?.io", "r1.io/x"));
        assert_true(registry_glob_match("r*x.io", "r1x.io/x"));
        assert_false(registry_glob_match("r[", "r[/x"));
}

static struct keyring *keyring_of(const char *doc, bool json_config)
{
        struct keyring *k = keyring_new();
        char err[256] = "";
        int r = keyring_add_docker_config(k, doc, strlen(doc), json_config, err, sizeof err);
        if (r < 0)
                fail_msg("%s", err);
        return k;
}

static void assert_lookup(const struct keyring *k, const char *repo, const char *want)
{
        const struct docker_auth **a = NULL;
        size_t n = 0;
        assert_int_equal(keyring_lookup(k, repo, &a, &n), 0);
        _cleanup_free_ char *got = xstrdup("");
        for (size_t i = 0; i < n; i++) {
                char *next = strdup_printf("%s%s%s:%s", got, i ? " " : "", a[i]->username, a[i]->password);
                free(got);
                got = next;
        }
        free(a);
        assert_string_equal(got, want);
}

static void test_keyring(void **state)
{
        /* "auth" wins over username/password; "https://", /v1/ and /v2/ are dropped from keys. */
        struct keyring *k = keyring_of(
                "{\"auths\": {"
                "\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1YnB3\"},"
                "\"r.example.com\": {\"username\": \"u1\", \"password\": \"p1\", \"auth\": \"dTI6cDI=\"},"
                "\"r.example.com/team\": {\"username\": \"team\", \"password\": \"tp\"},"
                "\"*.example.com\": {\"username\": \"wild\", \"password\": \"wp\"},"
                "\"http://r.example.com:5000/v2/\": {\"username\": \"port\", \"password\": \"pp\", \"email\": \"e\"},"
                "\"bad host/x\": {\"username\": \"no\", \"password\": \"no\"}"
                "}, \"HttpHeaders\": {\"X\": \"y\"}}",
                true);
        /* Most specific first: r.example.com/team, then r.example.com, then the wildcard (reverse order). */
        assert_lookup(k, "r.example.com/team/app", "team:tp u2:p2 wild:wp");
        assert_lookup(k, "r.example.com/other", "u2:p2 wild:wp");
        assert_lookup(k, "r.example.com:5000/x", "port:pp");
        assert_lookup(k, "q.example.com/x", "wild:wp");
        assert_lookup(k, "example.com/x", "");
        /* docker.io images fall back to index.docker.io's. */
        assert_lookup(k, "docker.io/library/busybox", "hub:hubpw");
        assert_lookup(k, "other.io/x", "");

        /* A second document (another pull secret) adds to the same keys, in order. */
        char err[256];
        const char *legacy = "{\"r.example.com\": {\"auth\": \"bGVnYWN5OmxwdzpleHRyYQ\"}}";
        assert_int_equal(keyring_add_docker_config(k, legacy, strlen(legacy), false, err, sizeof err), 0);
        assert_lookup(k, "r.example.com/other", "u2:p2 legacy:lpw:extra wild:wp");
        keyring_free(k);

        /* Documents that fail as a whole, with no credential in the message. */
        k = keyring_new();
        const char *bad[] = {"[]", "{", "{\"auths\": []}", "{\"auths\": {\"r.io\": {\"username\": 5}}}",
                             "{\"auths\": {\"r.io\": \"x\"}}"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                assert_int_equal(keyring_add_docker_config(k, bad[i], strlen(bad[i]), true, err, sizeof err), -EINVAL);
                assert_string_equal(err, "error occurred while trying to unmarshal json");
        }
        const char *noc = "{\"auths\": {\"r.io\": {\"auth\": \"c2VjcmV0\"}}}"; /* "secret": no ':' */
        assert_int_equal(keyring_add_docker_config(k, noc, strlen(noc), true, err, sizeof err), -EINVAL);
        assert_null(strstr(err, "secret"));
        assert_non_null(strstr(err, "r.io"));
        const char *none = "{\"credsStore\": \"x\"}";
        assert_int_equal(keyring_add_docker_config(k, none, strlen(none), true, err, sizeof err), 0);
        assert_lookup(k, "r.io/x", "");
        keyring_free(k);
}

static void test_node_search(void **state)
{
        char tmp[] = "/tmp/test-images-XXXXXX";
        assert_non_null(mkdtemp(tmp));
        _cleanup_free_ char *root = strdup_printf("%s/root", tmp), *home = strdup_printf("%s/home", tmp);
        _cleanup_free_ char *cwd = strdup_printf("%s/cwd", tmp), *hd = strdup_printf("%s/.docker", home);
        assert_int_equal(mkdir_p(root, 0755), 0);
        assert_int_equal(mkdir_p(hd, 0755), 0);
        assert_int_equal(mkdir_p(cwd, 0755), 0);
        char old_cwd[4096];
        assert_non_null(getcwd(old_cwd, sizeof old_cwd));
        assert_int_equal(chdir(cwd), 0);
        const char *old_home = getenv("HOME");
        _cleanup_free_ char *saved_home = xstrdup(old_home);
        setenv("HOME", home, 1);

        char *path = NULL;
        struct keyring *k = keyring_load_node(root, &path);
        assert_null(path);
        assert_lookup(k, "r.io/x", "");
        keyring_free(k);

        /* The legacy file in $HOME, then config.json in $HOME/.docker wins over it, then a broken one in the
         * working directory is passed over, then the root directory's wins over everything. */
        _cleanup_free_ char *legacy = strdup_printf("%s/.dockercfg", home);
        const char *ldoc = "{\"r.io\": {\"username\": \"legacy\", \"password\": \"l\"}}";
        assert_int_equal(write_file_atomic(legacy, ldoc, strlen(ldoc), 0600), 0);
        k = keyring_load_node(root, &path);
        assert_string_equal(path, legacy);
        assert_lookup(k, "r.io/x", "legacy:l");
        keyring_free(k);
        free(path);

        _cleanup_free_ char *hjson = strdup_printf("%s/config.json", hd);
        const char *hdoc = "{\"auths\": {\"r.io\": {\"username\": \"home\", \"password\": \"h\"}}}";
        assert_int_equal(write_file_atomic(hjson, hdoc, strlen(hdoc), 0600), 0);
        _cleanup_free_ char *cjson = strdup_printf("%s/config.json", cwd);
        assert_int_equal(write_file_atomic(cjson, "{broken", 7, 0600), 0);
        k = keyring_load_node(root, &path);
        assert_string_equal(path, hjson);
        assert_lookup(k, "r.io/x", "home:h");
        keyring_free(k);
        free(path);

        _cleanup_free_ char *rjson = strdup_printf("%s/config.json", root);
        const char *rdoc = "{\"auths\": {\"r.io\": {\"username\": \"root\", \"password\": \"r\"}}}";
        assert_int_equal(write_file_atomic(rjson, rdoc, strlen(rdoc), 0600), 0);
        k = keyring_load_node(root, &path);
        assert_string_equal(path, rjson);
        assert_lookup(k, "r.io/x", "root:r");
        keyring_free(k);
        free(path);

        assert_int_equal(chdir(old_cwd), 0);
        if (saved_home)
                setenv("HOME", saved_home, 1);
        else
                unsetenv("HOME");
        assert_int_equal(rm_rf(tmp), 0);
}

/* The puller against a runtime that is not there: every pull fails at once, which is enough to see who
 * gets which outcome. */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done_count;

static void on_done(const char *uid, void *userdata)
{
        (void) uid;
        (void) userdata;
        pthread_mutex_lock(&done_lock);
        done_count++;
        pthread_cond_broadcast(&done_cond);
        pthread_mutex_unlock(&done_lock);
}

static void wait_done(int n)
{
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 60;
        pthread_mutex_lock(&done_lock);
        while (done_count < n)
                if (pthread_cond_timedwait(&done_cond, &done_lock, &until) != 0)
                        break;
        int got = done_count;
        pthread_mutex_unlock(&done_lock);
        assert_true(got >= n);
}

static void test_puller(void **state)
{
        struct cri_client *cri = NULL;
        assert_int_equal(cri_client_new("unix:///nonexistent/cubelet-test.sock", 5000, &cri), 0);
        struct image_puller_config cfg = {.cri = cri, .timeout_ms = 5000, .max_parallel = 1, .on_done = on_done};
        struct image_puller *p = image_puller_new(&cfg);
        struct pull_outcome o;
        bool first;
        struct docker_auth creds[] = {{(char *) "u", (char *) "p"}, {(char *) "u2", (char *) "p2"}};

        /* A and B share one pull, each with its first ask. */
        assert_int_equal(image_puller_request(p, "A", "r.io/x:1", creds, 2, &first, &o), PULL_RUNNING);
        assert_true(first);
        assert_int_equal(image_puller_request(p, "B", "r.io/x:1", creds, 2, &first, &o), PULL_RUNNING);
        assert_true(first);
        assert_int_equal(image_puller_request(p, "A", "r.io/x:1", creds, 2, &first, &o), PULL_RUNNING);
        assert_false(first);
        /* Other credentials: another pull. */
        assert_int_equal(image_puller_request(p, "D", "r.io/x:1", NULL, 0, &first, &o), PULL_RUNNING);
        assert_true(first);
        wait_done(3);
        assert_int_equal(image_puller_active(p), 0);

        /* A takes the failure; a new pod C is not handed A's old outcome but gets a pull of its own. */
        assert_int_equal(image_puller_take(p, "A", "r.io/x:1", &o), PULL_FAILED);
        assert_true(o.err[0] != '\0');
        /* Two credentials failing alike: one message, no brackets (Go's aggregate). */
        assert_true(o.err[0] != '[');
        assert_null(strstr(o.err, ", rpc error"));
        assert_int_equal(image_puller_take(p, "A", "r.io/x:1", &o), PULL_NONE);
        assert_int_equal(image_puller_request(p, "C", "r.io/x:1", creds, 2, &first, &o), PULL_RUNNING);
        assert_true(first);
        wait_done(4);
        /* B, which never came for its outcome, is forgotten with its pod; D's is still there. */
        image_puller_forget(p, "B");
        assert_int_equal(image_puller_take(p, "B", "r.io/x:1", &o), PULL_NONE);
        assert_int_equal(image_puller_request(p, "C", "r.io/x:1", creds, 2, &first, &o), PULL_FAILED);
        assert_int_equal(image_puller_take(p, "D", "r.io/x:1", &o), PULL_FAILED);

        /* Halted: asks still work (and wait), nothing runs, nothing is called. */
        image_puller_halt(p);
        assert_int_equal(image_puller_request(p, "E", "r.io/y:1", NULL, 0, &first, &o), PULL_RUNNING);
        assert_int_equal(image_puller_active(p), 1);
        image_puller_free(p);
        cri_client_free(cri);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reference),
                cmocka_unit_test(test_glob),
                cmocka_unit_test(test_keyring),
                cmocka_unit_test(test_node_search),
                cmocka_unit_test(test_puller),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
