/* The API client's pure parts: kubeconfig decoding, watch events, node labels/taints, mirror pods, Events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apisync.h"
#include "client.h"
#include "envvars.h"
#include "events.h"
#include "kubeconfig.h"
#include "manifest.h"
#include "node.h"
#include "services.h"
#include "sink.h"
#include "util.h"

/* "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" in base64 */
#define PEM_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="

static const char *KC = "apiVersion: v1\n"
                        "kind: Config\n"
                        "current-context: node\n"
                        "clusters:\n"
                        "- name: other\n"
                        "  cluster: {server: 'https://10.0.0.9:6443'}\n"
                        "- name: local\n"
                        "  cluster:\n"
                        "    server: https://127.0.0.1:16443/\n"
                        "    certificate-authority: pki/ca.crt\n"
                        "users:\n"
                        "- name: n1\n"
                        "  user:\n"
                        "    client-certificate-data: " PEM_B64 "\n"
                        "    client-key: /etc/k/node.key\n"
                        "contexts:\n"
                        "- name: node\n"
                        "  context: {cluster: local, user: n1}\n";

static void test_kubeconfig_good(void **state)
{
        struct kube_auth a = {0};
        char *err = NULL;
        assert_int_equal(kubeconfig_parse(KC, strlen(KC), "/etc/k", &a, &err), 0);
        assert_null(err);
        assert_string_equal(a.server, "https://127.0.0.1:16443");
        assert_string_equal(a.ca_file, "/etc/k/pki/ca.crt");
        assert_non_null(a.cert_data);
        assert_true(strstr(a.cert_data, "BEGIN CERTIFICATE") != NULL);
        assert_null(a.cert_file);
        assert_string_equal(a.key_file, "/etc/k/node.key");
        assert_string_equal(a.context, "node");
        assert_false(a.insecure);
        kube_auth_clear(&a);
}

static void expect_error(const char *text, const char *needle)
{
        struct kube_auth a = {0};
        char *err = NULL;
        assert_int_equal(kubeconfig_parse(text, strlen(text), "/d", &a, &err), -EINVAL);
        assert_non_null(err);
        if (!strstr(err, needle))
                fail_msg("error \"%s\" does not name \"%s\"", err, needle);
        assert_null(a.server);
        free(err);
}

static void test_kubeconfig_errors(void **state)
{
        expect_error("clusters: []\n", "current-context: Required value");
        expect_error("current-context: x\ncontexts: []\n", "contexts: no entry named \"x\"");
        expect_error("current-context: x\ncontexts: [{name: x, context: {user: u}}]\n",
                     "contexts[0].context.cluster: Required value");
        expect_error("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                     "clusters: [{name: c, cluster: {server: 'ftp://h'}}]\n",
                     "clusters[0].cluster.server");
        expect_error("current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                     "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                     "users: [{name: u, user: {client-certificate-data: '!!notbase64'}}]\n",
                     "users[0].user.client-certificate-data: not valid base64");
        expect_error("current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                     "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                     "users: [{name: u, user: {client-certificate: /a.crt}}]\n",
                     "client-certificate and client-key must be given together");
        expect_error("current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                     "clusters: [{name: c, cluster: {server: 'https://h', certificate-authority-data: "
                     "aGVsbG8=}}]\n",
                     "certificate-authority-data: not a PEM block");
        expect_error("current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                     "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                     "users: [{name: u, user: {tokenFile: /nonexistent/token}}]\n",
                     "users[0].user.tokenFile: /nonexistent/token");
        expect_error("a: [", "line");
        /* No host: before, "https:////" lost its slashes down to "https:" (a fuzz finding). */
        expect_error("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                     "clusters: [{name: c, cluster: {server: 'https:////'}}]\n",
                     "clusters[0].cluster.server: \"https:////\": no host");
        expect_error("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                     "clusters: [{name: c, cluster: {server: 'http://'}}]\n",
                     "no host");
}

static void test_kubeconfig_token_file(void **state)
{
        char dir[] = "/tmp/test-kube.XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *tok = strdup_printf("%s/token", dir);
        assert_int_equal(write_file_atomic(tok, "s3cret\n", 7, 0600), 0);
        const char *text =
                "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                "clusters: [{name: c, cluster: {server: 'https://h', insecure-skip-tls-verify: true}}]\n"
                "users: [{name: u, user: {tokenFile: token}}]\n";
        struct kube_auth a = {0};
        char *err = NULL;
        assert_int_equal(kubeconfig_parse(text, strlen(text), dir, &a, &err), 0);
        assert_string_equal(a.token, "s3cret");
        assert_true(a.insecure);
        kube_auth_clear(&a);
        rm_rf(dir);
}

static void test_watch_decode(void **state)
{
        json_t *ev, *obj;
        const char *type;
        char *err = NULL;
        const char *line =
                "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"}}}";
        assert_int_equal(kube_watch_decode(line, strlen(line), &ev, &type, &obj, &err), 0);
        assert_string_equal(type, "MODIFIED");
        assert_string_equal(json_string_value(json_object_get(obj, "kind")), "Pod");
        json_decref(ev);

        const char *bad[] = {"{",
                             "[]",
                             "{\"type\":\"ADDED\"}",
                             "{\"type\":\"NOPE\",\"object\":{}}",
                             "{\"type\":1,\"object\":{}}",
                             "{\"type\":\"ADDED\",\"object\":{},\"type\":\"X\"}"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                err = NULL;
                assert_int_equal(kube_watch_decode(bad[i], strlen(bad[i]), &ev, &type, &obj, &err), -EINVAL);
                assert_non_null(err);
                free(err);
        }
}

static void test_query_escape(void **state)
{
        _cleanup_free_ char *e = kube_query_escape("spec.nodeName=n 1/x");
        assert_string_equal(e, "spec.nodeName%3Dn%201%2Fx");
}

static void test_labels_and_taints(void **state)
{
        char *k, *v, *err = NULL;
        assert_int_equal(node_label_parse("example.com/role=edge", &k, &v), 0);
        assert_string_equal(k, "example.com/role");
        assert_string_equal(v, "edge");
        free(k);
        free(v);
        assert_int_equal(node_label_parse("empty=", &k, &v), 0);
        assert_string_equal(v, "");
        free(k);
        free(v);
        assert_int_equal(node_label_parse("novalue", &k, &v), -EINVAL);
        assert_int_equal(node_label_parse("-bad=x", &k, &v), -EINVAL);
        assert_int_equal(node_label_parse("k=bad value", &k, &v), -EINVAL);

        json_t *t = node_taint_parse("dedicated=gpu:NoSchedule", &err);
        assert_non_null(t);
        assert_string_equal(json_string_value(json_object_get(t, "key")), "dedicated");
        assert_string_equal(json_string_value(json_object_get(t, "value")), "gpu");
        assert_string_equal(json_string_value(json_object_get(t, "effect")), "NoSchedule");
        json_decref(t);
        t = node_taint_parse("maint:NoExecute", &err);
        assert_non_null(t);
        assert_null(json_object_get(t, "value"));
        json_decref(t);
        assert_null(node_taint_parse("k=v:Sometimes", &err));
        assert_true(strstr(err, "effect must be") != NULL);
        free(err);
        assert_null(node_taint_parse("k=v", &err));
        free(err);
}

static void test_mirror_pod(void **state)
{
        const char *m = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: default}\n"
                        "spec:\n  containers: [{name: c, image: busybox}]\n";
        struct manifest_result r = {0};
        manifest_decode("/etc/m/web.yaml", m, strlen(m), "n1", &r);
        assert_null(r.error);
        assert_int_equal(r.n_pods, 1);
        json_t *mp = mirror_pod_json(r.pods[0], "n1", "node-uid-1");
        json_t *meta = json_object_get(mp, "metadata");
        assert_null(json_object_get(meta, "uid"));
        assert_null(json_object_get(mp, "status"));
        assert_string_equal(json_string_value(json_object_get(meta, "name")), "web-n1");
        json_t *ann = json_object_get(meta, "annotations");
        assert_string_equal(json_string_value(json_object_get(ann, "kubernetes.io/config.mirror")),
                            r.pods[0]->uid);
        assert_string_equal(json_string_value(json_object_get(ann, "kubernetes.io/config.source")), "file");
        assert_non_null(json_object_get(ann, "kubernetes.io/config.seen"));
        json_t *own = json_array_get(json_object_get(meta, "ownerReferences"), 0);
        assert_string_equal(json_string_value(json_object_get(own, "kind")), "Node");
        assert_string_equal(json_string_value(json_object_get(own, "uid")), "node-uid-1");
        assert_true(json_is_true(json_object_get(own, "controller")));
        assert_null(json_object_get(own, "blockOwnerDeletion"));
        assert_string_equal(json_string_value(json_object_get(json_object_get(mp, "spec"), "nodeName")),
                            "n1");
        json_decref(mp);
        manifest_result_clear(&r);
}

static void test_event_json(void **state)
{
        struct event e = {.ns = "default",
                          .name = "web-n1",
                          .uid = "u1",
                          .field_path = "spec.containers{c}",
                          .type = EVENT_WARNING,
                          .reason = "BackOff",
                          .message = "Back-off restarting failed container",
                          .first_ns = 1700000000000000000LL,
                          .last_ns = 1700000060000000000LL,
                          .count = 4};
        _cleanup_free_ char *name = event_api_name(&e);
        assert_string_equal(name, "web-n1.17979cfe362a0000");
        json_t *j = event_to_api_json(&e, "n1");
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "name")),
                            name);
        json_t *io = json_object_get(j, "involvedObject");
        assert_string_equal(json_string_value(json_object_get(io, "kind")), "Pod");
        assert_string_equal(json_string_value(json_object_get(io, "fieldPath")), "spec.containers{c}");
        assert_string_equal(json_string_value(json_object_get(io, "uid")), "u1");
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 4);
        assert_string_equal(json_string_value(json_object_get(j, "firstTimestamp")), "2023-11-14T22:13:20Z");
        assert_string_equal(json_string_value(json_object_get(j, "lastTimestamp")), "2023-11-14T22:14:20Z");
        json_t *src = json_object_get(j, "source");
        assert_string_equal(json_string_value(json_object_get(src, "component")), "kubelet");
        assert_string_equal(json_string_value(json_object_get(src, "host")), "n1");
        json_decref(j);
}

static const char *env_value(char **env, const char *name)
{
        for (char **p = env; p && *p; p += 2)
                if (!strcmp(p[0], name))
                        return p[1];
        return NULL;
}

static void test_container_env(void **state)
{
        const char *m =
                "apiVersion: v1\nkind: Pod\nmetadata: {name: e, namespace: ns1, labels: {app: web}}\n"
                "spec:\n  containers:\n  - name: c\n    image: busybox\n"
                "    resources: {limits: {cpu: 250m, memory: 64Mi, hugepages-2Mi: 4Mi}, requests: {cpu: "
                "100m, "
                "ephemeral-storage: 1Gi}}\n"
                "    env:\n"
                "    - {name: A, value: one}\n"
                "    - {name: A, value: two}\n"
                "    - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n"
                "    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}\n"
                "    - {name: APP, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}\n"
                "    - {name: HOST, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}\n"
                "    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}\n"
                "    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}\n"
                "    - {name: CPUM, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}\n"
                "    - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}\n"
                "    - {name: DIV0, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: "
                "'0'}}}\n"
                "    - {name: EPH, valueFrom: {resourceFieldRef: {resource: requests.ephemeral-storage, "
                "divisor: "
                "1Mi}}}\n"
                "    - {name: EPHL, valueFrom: {resourceFieldRef: {resource: limits.ephemeral-storage}}}\n"
                "    - {name: HUGE, valueFrom: {resourceFieldRef: {resource: limits.hugepages-2Mi, divisor: "
                "1Mi}}}\n"
                "    - {name: HUGER, valueFrom: {resourceFieldRef: {resource: requests.hugepages-2Mi}}}\n"
                "    - {name: HUGE1G, valueFrom: {resourceFieldRef: {resource: limits.hugepages-1Gi}}}\n"
                "  - name: d\n    image: busybox\n"
                "    env: [{name: X, valueFrom: {configMapKeyRef: {name: cfg, key: k}}}]\n"
                "  - name: o\n    image: busybox\n"
                "    env: [{name: YY, valueFrom: {fieldRef: {fieldPath: spec.bogus}}}]\n";
        struct manifest_result r = {0};
        manifest_decode("/etc/m/e.yaml", m, strlen(m), "n1", &r);
        if (r.error)
                fail_msg("%s", r.error);
        struct env_ctx ctx = {.host_ip = "192.0.2.1",
                              .pod_ip = "10.1.0.5",
                              .node_cpu_m = 2000,
                              .node_mem = 1 << 30,
                              .node_ephemeral = 5000000000};
        char **env = NULL, **warn = NULL, err[256];
        assert_int_equal(container_env(&ctx, r.pods[0], "c", &env, &warn, err, sizeof err), 0);
        assert_null(warn);
        assert_string_equal(env_value(env, "A"), "two");
        assert_string_equal(env_value(env, "NAME"), "e-n1");
        assert_string_equal(env_value(env, "NS"), "ns1");
        assert_string_equal(env_value(env, "APP"), "web");
        assert_string_equal(env_value(env, "HOST"), "192.0.2.1");
        assert_string_equal(env_value(env, "IP"), "10.1.0.5");
        assert_string_equal(env_value(env, "CPU"), "1"); /* 250m rounded up */
        assert_string_equal(env_value(env, "CPUM"), "100");
        assert_string_equal(env_value(env, "MEM"), "64");
        assert_string_equal(env_value(env, "DIV0"), "67108864");
        assert_string_equal(env_value(env, "EPH"), "1024");
        assert_string_equal(env_value(env, "EPHL"), "5000000000"); /* no limit: the node's allocatable */
        assert_string_equal(env_value(env, "HUGE"), "4");
        assert_string_equal(env_value(env, "HUGER"), "4194304");
        assert_string_equal(env_value(env, "HUGE1G"), "0");
        assert_int_equal(strv_length(env), 2 * 15); /* A once */
        strv_free(env);
        assert_true(container_env_needs_pod_ip(r.pods[0], "c"));
        assert_false(container_env_needs_pod_ip(r.pods[0], "d"));

        /* A static pod may not use API objects. */
        assert_int_equal(container_env(&ctx, r.pods[0], "d", &env, &warn, err, sizeof err), -EPERM);
        assert_string_equal(err, "static pods may not reference API objects: configmap \"cfg\"");
        assert_true(container_env(&ctx, r.pods[0], "o", &env, &warn, err, sizeof err) < 0);
        assert_string_equal(err, "unsupported fieldRef: spec.bogus");
        manifest_result_clear(&r);
}

/* $(VAR) in env values: the variables declared before, the Services' variables, undefined ones as written;
 * the final order: the container's variables as declared, then the Services' ones it did not set. */
static void test_container_env_expansion(void **state)
{
        const char *m =
                "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: ns1}\n"
                "spec:\n  containers:\n  - name: c\n    image: busybox\n"
                "    env:\n"
                "    - {name: FOO, value: foo-value}\n"
                "    - {name: BAR, value: bar-value}\n"
                "    - {name: FOOBAR, value: '$(FOO);;$(BAR)'}\n"
                "    - {name: LATER, value: '$(NOT_YET)|$$(FOO)|$(FOO'}\n"
                "    - {name: NOT_YET, value: now}\n"
                "    - {name: API, value: 'https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)'}\n"
                "    - {name: KUBERNETES_SERVICE_PORT, value: '8443'}\n"
                "    - {name: PORT2, value: '$(KUBERNETES_SERVICE_PORT)'}\n"
                "    - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n"
                "    - {name: GREETING, value: 'hi $(NAME)'}\n"
                "    - {name: FOO, value: '$(FOO)+more'}\n";
        struct manifest_result r = {0};
        manifest_decode("/etc/m/x.yaml", m, strlen(m), "n1", &r);
        if (r.error)
                fail_msg("%s", r.error);
        struct env_ctx ctx = {.host_ip = "192.0.2.1"};
        char **svc = NULL, **env = NULL, **warn = NULL, err[256];
        const char *sv[] = {"KUBERNETES_SERVICE_HOST", "10.0.0.1",          "KUBERNETES_SERVICE_PORT", "443",
                            "KUBERNETES_PORT",         "tcp://10.0.0.1:443"};
        for (size_t i = 0; i < ELEMENTSOF(sv); i++)
                strv_push(&svc, xstrdup(sv[i]));
        assert_int_equal(container_env_build(&ctx, r.pods[0], "c", svc, &env, &warn, err, sizeof err), 0);
        const char *want[] = {"FOO",
                              "foo-value+more",
                              "BAR",
                              "bar-value",
                              "FOOBAR",
                              "foo-value;;bar-value",
                              "LATER",
                              "$(NOT_YET)|$(FOO)|$(FOO",
                              "NOT_YET",
                              "now",
                              "API",
                              "https://10.0.0.1:443",
                              "KUBERNETES_SERVICE_PORT",
                              "8443",
                              "PORT2",
                              "8443",
                              "NAME",
                              "x-n1",
                              "GREETING",
                              "hi x-n1",
                              "KUBERNETES_SERVICE_HOST",
                              "10.0.0.1",
                              "KUBERNETES_PORT",
                              "tcp://10.0.0.1:443"};
        assert_int_equal(strv_length(env), ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                assert_string_equal(env[i], want[i]);
        strv_free(env);
        strv_free(svc);
        manifest_result_clear(&r);
}

/* Before the first list of Services: a pod from the API server waits a moment and then gets an error (it is
 * retried); a static pod starts at once with what there is. The API server here never answers. */
static void test_service_env_unsynced(void **state)
{
        struct kube_auth a = {.server = (char *) "https://127.0.0.1:1", .insecure = true};
        struct kube_client *kc = NULL;
        struct svc_cache *sc = NULL;
        char **env = NULL;
        assert_int_equal(kube_client_new(&a, 5, 10, &kc), 0);
        assert_int_equal(svc_cache_start(kc, &sc), 0);
        int64_t t0 = now_mono_ms();
        assert_int_equal(svc_cache_env(sc, "default", true, false, &env), 0);
        assert_true(now_mono_ms() - t0 < 500);
        assert_int_equal(strv_length(env), 0);
        t0 = now_mono_ms();
        assert_int_equal(svc_cache_env(sc, "default", true, true, &env), -EAGAIN);
        assert_true(now_mono_ms() - t0 >= 1900);
        strv_free(env);
        svc_cache_free(sc);
        kube_client_free(kc);
}

static void test_service_env(void **state)
{
        json_error_t je;
        json_t *svc = json_loads("{\"metadata\": {\"name\": \"my-db\", \"namespace\": \"ns1\"},"
                                 " \"spec\": {\"clusterIP\": \"10.0.0.7\", \"ports\": ["
                                 "  {\"name\": \"sql-main\", \"port\": 5432, \"protocol\": \"TCP\"},"
                                 "  {\"port\": 53, \"protocol\": \"UDP\"}]}}",
                                 0, &je);
        assert_non_null(svc);
        char **env = NULL;
        strv_push(&env, xstrdup("MY_DB_SERVICE_HOST")); /* the container's own value wins */
        strv_push(&env, xstrdup("mine"));
        service_env(svc, &env);
        assert_string_equal(env_value(env, "MY_DB_SERVICE_HOST"), "mine");
        assert_string_equal(env_value(env, "MY_DB_SERVICE_PORT"), "5432");
        assert_string_equal(env_value(env, "MY_DB_SERVICE_PORT_SQL_MAIN"), "5432");
        assert_string_equal(env_value(env, "MY_DB_PORT"), "tcp://10.0.0.7:5432");
        assert_string_equal(env_value(env, "MY_DB_PORT_5432_TCP"), "tcp://10.0.0.7:5432");
        assert_string_equal(env_value(env, "MY_DB_PORT_5432_TCP_PROTO"), "tcp");
        assert_string_equal(env_value(env, "MY_DB_PORT_5432_TCP_PORT"), "5432");
        assert_string_equal(env_value(env, "MY_DB_PORT_5432_TCP_ADDR"), "10.0.0.7");
        assert_string_equal(env_value(env, "MY_DB_PORT_53_UDP"), "udp://10.0.0.7:53");
        assert_int_equal(strv_length(env), 2 * 12);
        strv_free(env);

        /* Headless services have no variables. */
        json_object_set_new(json_object_get(svc, "spec"), "clusterIP", json_string("None"));
        env = NULL;
        service_env(svc, &env);
        assert_null(env);
        json_decref(svc);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kubeconfig_good),
                cmocka_unit_test(test_kubeconfig_errors),
                cmocka_unit_test(test_kubeconfig_token_file),
                cmocka_unit_test(test_watch_decode),
                cmocka_unit_test(test_query_escape),
                cmocka_unit_test(test_labels_and_taints),
                cmocka_unit_test(test_mirror_pod),
                cmocka_unit_test(test_event_json),
                cmocka_unit_test(test_container_env),
                cmocka_unit_test(test_container_env_expansion),
                cmocka_unit_test(test_service_env),
                cmocka_unit_test(test_service_env_unsynced),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
