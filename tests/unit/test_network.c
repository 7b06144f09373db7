/* agent/network: what the agent adds for a pod (capability args), and the delegate protocol end to end with
 * the real cubelet-delegate binary and a fake plugin (no root, no netns). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cni.h"
#include "delegate.h"
#include "dirwatch.h"
#include "network.h"
#include "manifest.h"
#include "util.h"

static struct pod *decode_pod(const char *yaml, struct manifest_result *r)
{
        manifest_decode("test.yaml", yaml, strlen(yaml), "node", r);
        if (r->error)
                fail_msg("manifest: %s", r->error);
        assert_int_equal(r->n_pods, 1);
        return r->pods[0];
}

#define POD_YAML(annotations)                                                                               \
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\n" annotations             \
        "spec:\n  containers:\n  - name: c\n    image: x\n    ports:\n    - {containerPort: 80, hostPort: " \
        "8080}\n"                                                                                           \
        "    - {containerPort: 53, hostPort: 5353, protocol: UDP, hostIP: 127.0.0.1}\n"                     \
        "    - {containerPort: 9000}\n"

static void test_capability_args(void **state)
{
        struct manifest_result r;
        char err[256] = "";
        struct pod *pod = decode_pod(POD_YAML("  annotations:\n    kubernetes.io/ingress-bandwidth: 10M\n"
                                              "    kubernetes.io/egress-bandwidth: 1Gi\n"),
                                     &r);
        _cleanup_free_ char *caps = delegate_capability_args(pod, err, sizeof err);
        assert_non_null(caps);
        json_t *j = json_loads(caps, 0, NULL);
        json_t *pm = json_object_get(j, "portMappings");
        assert_int_equal(json_array_size(pm), 2); /* the port without hostPort is not mapped */
        json_t *m0 = json_array_get(pm, 0), *m1 = json_array_get(pm, 1);
        assert_int_equal(json_integer_value(json_object_get(m0, "hostPort")), 8080);
        assert_int_equal(json_integer_value(json_object_get(m0, "containerPort")), 80);
        assert_string_equal(json_string_value(json_object_get(m0, "protocol")), "tcp");
        assert_null(json_object_get(m0, "hostIP"));
        assert_string_equal(json_string_value(json_object_get(m1, "protocol")), "udp");
        assert_string_equal(json_string_value(json_object_get(m1, "hostIP")), "127.0.0.1");
        json_t *bw = json_object_get(j, "bandwidth");
        assert_int_equal(json_integer_value(json_object_get(bw, "ingressRate")), 10000000);
        assert_int_equal(json_integer_value(json_object_get(bw, "egressRate")), 1073741824);
        assert_int_equal(json_integer_value(json_object_get(bw, "ingressBurst")), 2147483647);
        json_decref(j);
        manifest_result_clear(&r);

        pod = decode_pod(POD_YAML("  annotations:\n    kubernetes.io/ingress-bandwidth: fast\n"), &r);
        assert_null(delegate_capability_args(pod, err, sizeof err));
        assert_non_null(strstr(err, "kubernetes.io/ingress-bandwidth: invalid bandwidth \"fast\""));
        manifest_result_clear(&r);
}

/* ---- the delegate protocol ---- */

static char tmp[256];
static struct pod *the_pod;

static struct pod *lookup(void *userdata, const char *uid, const char *ns, const char *name)
{
        if (the_pod && streq_ptr(ns, the_pod->namespace) && streq_ptr(name, the_pod->name))
                return pod_ref(the_pod);
        return NULL;
}

/* Runs cubelet-delegate with the conflist on stdin; returns its exit status, stdout in *out. */
static int run_delegate(const char *cmd, const char *cid, char **out)
{
        _cleanup_free_ char *conf = strdup_printf("{\"cniVersion\":\"1.0.0\",\"name\":\"cubelet\",\"type\":"
                                                  "\"cubelet-delegate\",\"socket\":\"%s/s\"}",
                                                  tmp);
        _cleanup_free_ char *sh = strdup_printf(
                "printf '%%s' '%s' | CNI_COMMAND=%s CNI_CONTAINERID=%s CNI_NETNS=/proc/self/ns/net "
                "CNI_IFNAME=eth0 "
                "CNI_ARGS='IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-node' %s >%s/out",
                conf, cmd, cid, DELEGATE_BIN, tmp);
        int st = system(sh);
        _cleanup_free_ char *path = strdup_printf("%s/out", tmp);
        assert_int_equal(read_file_limit(path, 1 << 20, out, NULL), 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
        assert_int_equal(write_file_atomic(path, text, strlen(text), mode), 0);
}

static void test_delegate_protocol(void **state)
{
        snprintf(tmp, sizeof tmp, "/tmp/cubelet-test-network.XXXXXX");
        assert_non_null(mkdtemp(tmp));
        _cleanup_free_ char *bin = strdup_printf("%s/bin", tmp), *conf = strdup_printf("%s/net.d", tmp),
                            *cache = strdup_printf("%s/cache", tmp), *sock = strdup_printf("%s/s", tmp);
        assert_int_equal(mkdir_p(bin, 0755), 0);
        assert_int_equal(mkdir_p(conf, 0755), 0);
        _cleanup_free_ char *plugin = strdup_printf("%s/fake", bin),
                            *list = strdup_printf("%s/10-a.conflist", conf);
        write_text(plugin,
                   "#!/bin/sh\n"
                   "if [ \"$CNI_COMMAND\" = VERSION ]; then\n"
                   "  echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"]}'; exit 0\n"
                   "fi\n"
                   "cat >\"$(dirname \"$0\")/../stdin.$CNI_COMMAND\"\n"
                   "[ \"$CNI_COMMAND\" = ADD ] && echo "
                   "'{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\","
                   "\"sandbox\":\"/proc/self/ns/net\"}],\"ips\":[{\"address\":\"10.9.8.7/"
                   "24\",\"interface\":0}]}'\n"
                   "exit 0\n",
                   0755);
        write_text(list,
                   "{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"plugins\":[{\"type\":\"fake\","
                   "\"capabilities\":{\"portMappings\":true}}]}",
                   0644);

        /* No agent: at once, a CNI error that says so. */
        _cleanup_free_ char *out0 = NULL;
        assert_int_equal(run_delegate("ADD", "c1", &out0), 1);
        assert_non_null(strstr(out0, "\"code\":11"));
        assert_non_null(strstr(out0, "agent is not running"));

        struct manifest_result r;
        the_pod = NULL;
        char *bins[] = {bin, NULL};
        struct delegate *d = NULL;
        struct delegate_config dc = {.socket_path = sock,
                                     .conf_dir = conf,
                                     .bin_dirs = bins,
                                     .cache_dir = cache,
                                     .gc = true,
                                     .lookup = lookup};
        assert_int_equal(delegate_start(&dc, &d), 0);

        /* A pod the agent is not starting: refused. */
        _cleanup_free_ char *out1 = NULL;
        assert_int_equal(run_delegate("ADD", "c1", &out1), 1);
        assert_non_null(strstr(out1, "is not being started by this agent"));

        the_pod = decode_pod(POD_YAML(""), &r);
        _cleanup_free_ char *out2 = NULL;
        assert_int_equal(run_delegate("ADD", "c1", &out2), 0);
        json_t *res = json_loads(out2, 0, NULL);
        assert_non_null(res);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(res, "ips"), 0),
                                                              "address")),
                            "10.9.8.7/24");
        json_decref(res);
        /* The plugin got the hostPorts as runtimeConfig. */
        _cleanup_free_ char *stdin_path = strdup_printf("%s/stdin.ADD", tmp), *in = NULL;
        assert_int_equal(read_file_limit(stdin_path, 1 << 20, &in, NULL), 0);
        assert_non_null(strstr(in, "\"runtimeConfig\":{\"portMappings\":[{\"hostPort\":8080"));
        _cleanup_free_ char *entry = strdup_printf("%s/results/a-c1-eth0", cache);
        assert_int_equal(access(entry, F_OK), 0);

        /* DEL from the cache, without the pod. */
        the_pod = NULL;
        _cleanup_free_ char *out3 = NULL;
        assert_int_equal(run_delegate("DEL", "c1", &out3), 0);
        assert_int_equal(access(entry, F_OK), -1);
        _cleanup_free_ char *del_path = strdup_printf("%s/stdin.DEL", tmp);
        assert_int_equal(access(del_path, F_OK), 0);

        /* GC at start: an attachment older than a minute whose sandbox the runtime no longer has is DELeted;
         * one of a live sandbox stays. */
        the_pod = r.pods[0];
        _cleanup_free_ char *out4 = NULL, *out5 = NULL;
        assert_int_equal(run_delegate("ADD", "gone", &out4), 0);
        assert_int_equal(run_delegate("ADD", "live", &out5), 0);
        d = delegate_stop(d);
        _cleanup_free_ char *gone = strdup_printf("%s/results/a-gone-eth0", cache),
                            *live = strdup_printf("%s/results/a-live-eth0", cache);
        struct timespec old[2] = {{.tv_sec = time(NULL) - 120}, {.tv_sec = time(NULL) - 120}};
        assert_int_equal(utimensat(AT_FDCWD, gone, old, 0), 0);
        assert_int_equal(utimensat(AT_FDCWD, live, old, 0), 0);
        char *live_ids[] = {"live", NULL};
        dc.live_ids = live_ids;
        assert_int_equal(delegate_start(&dc, &d), 0);
        d = delegate_stop(d); /* waits for the accept thread, which GCs first */
        assert_int_equal(access(gone, F_OK), -1);
        assert_int_equal(access(live, F_OK), 0);

        manifest_result_clear(&r);
        assert_int_equal(access(sock, F_OK), -1);
        rm_rf(tmp);
}

static void test_default_conflist(void **state)
{
        char *text = network_default_conflist("10.244.3.0/24", "/var/lib/cubelet/cni-ipam");
        struct cni_network *net = NULL;
        struct cni_error err = {0};
        assert_int_equal(cni_network_parse(text, strlen(text), "10-cubelet.conflist", &net, &err), 0);
        assert_string_equal(cni_network_name(net), "cubelet");
        assert_int_equal(cni_network_n_plugins(net), 3);
        assert_string_equal(cni_network_plugin_type(net, 0), "bridge");
        assert_string_equal(cni_network_plugin_type(net, 1), "portmap");
        assert_string_equal(cni_network_plugin_type(net, 2), "bandwidth");
        assert_non_null(strstr(text, "\"subnet\": \"10.244.3.0/24\""));
        assert_non_null(strstr(text, "\"dst\": \"0.0.0.0/0\""));
        cni_network_unref(net);
        free(text);
        text = network_default_conflist("fd00:10::/64", "/x");
        assert_non_null(strstr(text, "\"dst\": \"::/0\""));
        free(text);
}

/* The configuration check's answer is reused while this stays the same: every change that can change the
 * answer must change it. */
static void test_conf_fingerprint(void **state)
{
        (void) state;
        char top[] = "/tmp/cubelet-netprint-XXXXXX";
        assert_non_null(mkdtemp(top));
        _cleanup_free_ char *conf = strdup_printf("%s/net.d", top), *bin = strdup_printf("%s/bin", top);
        _cleanup_free_ char *file = strdup_printf("%s/10-a.conflist", conf);
        char *bins[] = {bin, NULL};
        assert_null(network_conf_fingerprint(conf, bins, -1)); /* no directory: no answer to keep */
        assert_int_equal(mkdir(conf, 0755), 0);
        char *p0 = network_conf_fingerprint(conf, bins, -1);
        assert_non_null(p0);
        assert_int_equal(write_file_atomic(file, "{\"a\": 1}", 8, 0644), 0);
        char *p1 = network_conf_fingerprint(conf, bins, -1);
        assert_string_not_equal(p0, p1);
        char *again = network_conf_fingerprint(conf, bins, -1);
        assert_string_equal(p1, again); /* nothing changed: the same */
        free(again);
        /* rewritten in place, same size */
        int fd = open(file, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "{\"a\": 2}", 8, 0), 8);
        /* the kernel's file times are coarse (a few ms): two writes may get the same; say when it was */
        struct timespec when[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000, .tv_nsec = 1}};
        assert_int_equal(futimens(fd, when), 0);
        close(fd);
        char *p2 = network_conf_fingerprint(conf, bins, -1);
        assert_string_not_equal(p1, p2);
        /* the plugin directory appears (its times set in the past, for the next step to change them) */
        assert_int_equal(mkdir(bin, 0755), 0);
        assert_int_equal(utimensat(AT_FDCWD, bin, when, 0), 0);
        char *p3 = network_conf_fingerprint(conf, bins, -1);
        assert_string_not_equal(p2, p3);
        /* a plugin added to it */
        _cleanup_free_ char *plugin = strdup_printf("%s/bridge", bin);
        assert_int_equal(write_file_atomic(plugin, "", 0, 0755), 0);
        char *p4 = network_conf_fingerprint(conf, bins, -1);
        assert_string_not_equal(p3, p4);
        /* ... no longer executable (the check refuses it) */
        assert_int_equal(chmod(plugin, 0644), 0);
        char *p5 = network_conf_fingerprint(conf, bins, -1);
        assert_string_not_equal(p4, p5);
        free(p4);
        free(p5);
        /* just changed: not to be trusted (the check runs) */
        assert_null(network_conf_fingerprint(conf, bins, 3600));
        free(p0);
        free(p1);
        free(p2);
        free(p3);
        rm_rf(top);
}

/* The watches that let the check skip its stats: every kind of change to the directories' files is an event
 * (conf_ready's mask), read once. */
static void test_dirwatch(void **state)
{
        (void) state;
        const uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_MODIFY |
                              IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF;
        char top[] = "/tmp/cubelet-dirwatch-XXXXXX";
        assert_non_null(mkdtemp(top));
        _cleanup_free_ char *dir = strdup_printf("%s/net.d", top),
                            *file = strdup_printf("%s/10-a.conflist", dir),
                            *moved = strdup_printf("%s/20-b.conflist", dir),
                            *missing = strdup_printf("%s/none", top);
        struct dirwatch *w = dirwatch_new();
        assert_false(dirwatch_changed(w)); /* nothing watched, nothing happened */
        assert_false(dirwatch_add(w, missing, mask));
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_true(dirwatch_add(w, dir, mask));
        assert_true(dirwatch_add(w, dir, mask)); /* again: harmless */
        assert_false(dirwatch_changed(w));
        assert_int_equal(write_file_atomic(file, "{\"a\": 1}", 8, 0644), 0);
        assert_true(dirwatch_changed(w));
        assert_false(dirwatch_changed(w)); /* read once */
        int fd = open(file, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "{\"a\": 2}", 8, 0), 8); /* in place */
        close(fd);
        assert_true(dirwatch_changed(w));
        assert_int_equal(chmod(file, 0600), 0);
        assert_true(dirwatch_changed(w));
        assert_int_equal(rename(file, moved), 0);
        assert_true(dirwatch_changed(w));
        assert_false(dirwatch_add(w, moved, mask)); /* a file: directories only */
        assert_int_equal(unlink(moved), 0);
        assert_true(dirwatch_changed(w));
        assert_false(dirwatch_changed(w));
        dirwatch_free(w);
        rm_rf(top);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_capability_args),  cmocka_unit_test(test_delegate_protocol),
                cmocka_unit_test(test_default_conflist), cmocka_unit_test(test_conf_fingerprint),
                cmocka_unit_test(test_dirwatch),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
