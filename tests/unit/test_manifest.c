/* Unit tests for static pod manifests: YAML/JSON decoding, defaults, validation and static-pod identity. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <uv.h>

#include "file.h"
#include "manifest.h"
#include "pod.h"
#include "podconfig.h"
#include "util.h"
#include "workers.h"

#define NODE "node1"
#define PATH "/etc/kubernetes/manifests/web.yaml"

static const char *const WEB_POD = "# a static pod\n"
                                   "apiVersion: v1\n"
                                   "kind: Pod\n"
                                   "metadata:\n"
                                   "  name: web\n"
                                   "  labels:\n"
                                   "    app: web\n"
                                   "    tier: \"frontend\"\n"
                                   "  annotations:\n"
                                   "    example.com/owner: team-a\n"
                                   "spec:\n"
                                   "  containers:\n"
                                   "  - name: web\n"
                                   "    image: nginx\n"
                                   "    command: [\"/bin/sh\", \"-c\"]\n"
                                   "    args:\n"
                                   "    - echo hello; sleep 3600\n"
                                   "    env:\n"
                                   "    - name: MODE\n"
                                   "      value: production\n"
                                   "    - name: PORT\n"
                                   "      value: \"8080\"\n"
                                   "    - name: EMPTY\n"
                                   "    ports:\n"
                                   "    - containerPort: 80\n"
                                   "      name: http\n"
                                   "  - name: sidecar\n"
                                   "    image: busybox:1.36\n";

/* Decodes text with the default node and path. */
static void decode(const char *text, struct manifest_result *r)
{
        manifest_decode(PATH, text, strlen(text), NODE, r);
}

/* Decodes, expects an error containing every given fragment and no pod. */
static void expect_error(const char *text, ...)
{
        struct manifest_result r;
        va_list ap;

        decode(text, &r);
        if (!r.error)
                fail_msg("expected an error for:\n%s", text);
        assert_int_equal(r.n_pods, 0);
        assert_null(r.pods);
        va_start(ap, text);
        for (const char *frag; (frag = va_arg(ap, const char *));)
                if (!strstr(r.error, frag))
                        fail_msg("error \"%s\" does not contain \"%s\"", r.error, frag);
        va_end(ap);
        manifest_result_clear(&r);
}

/* Decodes, expects exactly one pod and no error; the caller clears r. */
static struct pod *expect_one(const char *text, struct manifest_result *r)
{
        decode(text, r);
        if (r->error)
                fail_msg("unexpected error: %s", r->error);
        assert_int_equal(r->n_pods, 1);
        return r->pods[0];
}

/* A minimal valid pod with one container, with a replaceable image and extra container lines. */
static char *simple_pod(const char *name, const char *image, const char *extra)
{
        return strdup_printf("apiVersion: v1\n"
                             "kind: Pod\n"
                             "metadata:\n"
                             "  name: %s\n"
                             "spec:\n"
                             "  containers:\n"
                             "  - name: app\n"
                             "    image: %s\n"
                             "%s",
                             name, image, extra ? extra : "");
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_hex32(const char *s)
{
        if (!s || strlen(s) != 32)
                return false;
        for (; *s; s++)
                if (!strchr("0123456789abcdef", *s))
                        return false;
        return true;
}

static const char *label(const struct pod *p, const char *key)
{
        for (size_t i = 0; i < p->n_labels; i++)
                if (streq(p->labels[i].key, key))
                        return p->labels[i].value;
        return NULL;
}

/* ----------------------------------------------------------------------------------------------- */

static void test_valid_pod_identity_and_defaults(void **state)
{
        struct manifest_result r;
        struct pod *p = expect_one(WEB_POD, &r);

        assert_null(r.warnings);
        assert_string_equal(p->name, "web-" NODE);
        assert_string_equal(p->namespace, "default");
        assert_true(is_hex32(p->uid));
        assert_string_equal(pod_annotation(p, "kubernetes.io/config.source"), "file");
        assert_string_equal(pod_annotation(p, "kubernetes.io/config.hash"), p->uid);
        assert_string_equal(p->node_name, NODE);
        assert_string_equal(p->restart_policy, "Always");
        assert_int_equal(p->termination_grace_period, 30);
        assert_string_equal(p->dns_policy, "ClusterFirst");
        assert_false(p->host_network);

        char buf[256];
        assert_string_equal(pod_full_name(p, buf, sizeof buf), "default/web-" NODE);

        /* The defaulted object carries the same identity. */
        json_t *meta = json_object_get(p->json, "metadata"), *spec = json_object_get(p->json, "spec");
        assert_string_equal(json_string_value(json_object_get(meta, "uid")), p->uid);
        assert_string_equal(json_string_value(json_object_get(meta, "name")), "web-" NODE);
        assert_string_equal(json_string_value(json_object_get(spec, "nodeName")), NODE);
        assert_int_equal(json_integer_value(json_object_get(spec, "terminationGracePeriodSeconds")), 30);
        assert_string_equal(json_string_value(json_object_get(spec, "schedulerName")), "default-scheduler");

        /* Static pods tolerate every NoExecute taint. */
        json_t *tol = json_object_get(spec, "tolerations");
        assert_true(json_is_array(tol));
        assert_int_equal(json_array_size(tol), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(tol, 0), "operator")),
                            "Exists");
        assert_string_equal(json_string_value(json_object_get(json_array_get(tol, 0), "effect")),
                            "NoExecute");

        assert_int_equal(p->n_containers, 2);
        assert_int_equal(p->n_init_containers, 0);
        struct container *c = &p->containers[0];
        assert_string_equal(c->name, "web");
        assert_string_equal(c->image, "nginx");
        assert_string_equal(c->image_pull_policy, "Always"); /* untagged */
        assert_string_equal(c->termination_message_path, "/dev/termination-log");
        assert_string_equal(c->termination_message_policy, "File");
        assert_int_equal(strlen(c->hash), 16);
        assert_string_equal(p->containers[1].image_pull_policy, "IfNotPresent"); /* tagged */
        assert_string_not_equal(p->containers[0].hash, p->containers[1].hash);

        /* Ports. */
        assert_int_equal(c->n_ports, 1);
        assert_int_equal(c->ports[0].container_port, 80);
        assert_int_equal(c->ports[0].host_port, 0);
        assert_string_equal(c->ports[0].protocol, "TCP");
        assert_string_equal(c->ports[0].name, "http");
        manifest_result_clear(&r);
        assert_null(r.pods);
        assert_int_equal(r.n_pods, 0);
}

static void test_labels_annotations(void **state)
{
        struct manifest_result r;
        struct pod *p = expect_one(WEB_POD, &r);

        assert_int_equal(p->n_labels, 2);
        assert_string_equal(label(p, "app"), "web");
        assert_string_equal(label(p, "tier"), "frontend");
        assert_null(label(p, "nope"));
        assert_string_equal(pod_annotation(p, "example.com/owner"), "team-a");
        assert_int_equal(p->n_annotations, 3); /* the user's one, config.source, config.hash */
        assert_null(pod_annotation(p, "nope"));
        manifest_result_clear(&r);

        /* A label value that YAML resolves to a number is a type error, as upstream. */
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels:\n    version: 2\n"
                     "spec:\n  containers:\n  - name: a\n    image: nginx\n",
                     "metadata.labels", "expected string, got integer", NULL);
}

static void test_env_command_args(void **state)
{
        struct manifest_result r;
        struct pod *p = expect_one(WEB_POD, &r);
        struct container *c = &p->containers[0];

        assert_int_equal(strv_length(c->command), 2);
        assert_string_equal(c->command[0], "/bin/sh");
        assert_string_equal(c->command[1], "-c");
        assert_null(c->command[2]);
        assert_int_equal(strv_length(c->args), 1);
        assert_string_equal(c->args[0], "echo hello; sleep 3600");

        assert_int_equal(c->n_env, 3);
        assert_string_equal(c->env[0].name, "MODE");
        assert_string_equal(c->env[0].value, "production");
        assert_string_equal(c->env[1].name, "PORT");
        assert_string_equal(c->env[1].value, "8080");
        assert_string_equal(c->env[2].name, "EMPTY");
        assert_null(c->env[2].value);

        /* The sidecar has neither. */
        assert_null(p->containers[1].command);
        assert_null(p->containers[1].args);
        assert_int_equal(p->containers[1].n_env, 0);
        manifest_result_clear(&r);

        /* An empty list is still a list; block scalars keep their newlines. */
        _cleanup_free_ char *t = simple_pod("web", "nginx:1",
                                            "    command: []\n"
                                            "    args:\n"
                                            "    - |\n"
                                            "      line one\n"
                                            "      line two\n"
                                            "    workingDir: /srv\n");
        p = expect_one(t, &r);
        c = &p->containers[0];
        assert_non_null(c->command);
        assert_int_equal(strv_length(c->command), 0);
        assert_string_equal(c->args[0], "line one\nline two\n");
        assert_string_equal(c->working_dir, "/srv");
        manifest_result_clear(&r);

        /* Errors name the field. */
        _cleanup_free_ char *t2 = simple_pod("web", "nginx:1", "    env:\n    - value: x\n");
        expect_error(t2, "spec.containers[0].env[0].name: Required value", NULL);
        _cleanup_free_ char *t3 = simple_pod("web", "nginx:1", "    env:\n    - name: N\n      value: 1\n");
        expect_error(t3, "spec.containers[0].env[0].value: Invalid type: expected string, got integer",
                     NULL);
        _cleanup_free_ char *t4 = simple_pod("web", "nginx:1", "    command: [\"a\", 1]\n");
        expect_error(t4, "spec.containers[0].command", "element 1", NULL);
        _cleanup_free_ char *t5 = simple_pod("web", "nginx:1", "    args: \"not a list\"\n");
        expect_error(t5, "spec.containers[0].args: Invalid type: expected array, got string", NULL);
}

static void test_pull_policy_defaults(void **state)
{
        static const struct {
                const char *image;
                const char *policy;
        } cases[] = {
                {"nginx", "Always"},
                {"nginx:latest", "Always"},
                {"docker.io/library/nginx:latest", "Always"},
                {"nginx:1.25", "IfNotPresent"},
                {"registry.local:5000/team/app", "Always"}, /* the colon is the registry's port */
                {"registry.local:5000/team/app:v2", "IfNotPresent"},
                {"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                 "IfNotPresent"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct manifest_result r;
                _cleanup_free_ char *t = simple_pod("web", cases[i].image, NULL);
                struct pod *p = expect_one(t, &r);
                if (!streq(p->containers[0].image_pull_policy, cases[i].policy))
                        fail_msg("image %s: policy %s, expected %s", cases[i].image,
                                 p->containers[0].image_pull_policy, cases[i].policy);
                manifest_result_clear(&r);
        }

        /* An explicit policy wins; a bad one is refused. */
        struct manifest_result r;
        _cleanup_free_ char *t = simple_pod("web", "nginx", "    imagePullPolicy: Never\n");
        struct pod *p = expect_one(t, &r);
        assert_string_equal(p->containers[0].image_pull_policy, "Never");
        manifest_result_clear(&r);
        _cleanup_free_ char *t2 = simple_pod("web", "nginx", "    imagePullPolicy: Sometimes\n");
        expect_error(t2, "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\"", NULL);
}

static void test_explicit_fields_kept(void **state)
{
        struct manifest_result r;
        const char *t = "apiVersion: v1\n"
                        "kind: Pod\n"
                        "metadata:\n"
                        "  name: etcd\n"
                        "  namespace: kube-system\n"
                        "  uid: 11111111-2222-3333-4444-555555555555\n"
                        "spec:\n"
                        "  hostNetwork: true\n"
                        "  restartPolicy: OnFailure\n"
                        "  terminationGracePeriodSeconds: 5\n"
                        "  tolerations:\n"
                        "  - key: a\n"
                        "    operator: Exists\n"
                        "  nodeName: someone-else\n"
                        "  containers:\n"
                        "  - name: etcd\n"
                        "    image: registry.k8s.io/etcd:3.5.9-0\n";
        struct pod *p = expect_one(t, &r);

        assert_string_equal(p->name, "etcd-" NODE);
        assert_string_equal(p->namespace, "kube-system");
        assert_string_equal(p->uid, "11111111-2222-3333-4444-555555555555");
        assert_string_equal(pod_annotation(p, "kubernetes.io/config.hash"), p->uid);
        assert_string_equal(p->node_name, NODE); /* the file source owns nodeName */
        assert_true(p->host_network);
        assert_string_equal(p->restart_policy, "OnFailure");
        assert_int_equal(p->termination_grace_period, 5);
        json_t *tol = json_object_get(json_object_get(p->json, "spec"), "tolerations");
        assert_int_equal(json_array_size(tol), 2); /* the user's, then NoExecute */
        manifest_result_clear(&r);

        /* Empty namespace means default. */
        p = expect_one("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: \"\"\n"
                       "spec:\n  containers:\n  - name: a\n    image: nginx\n",
                       &r);
        assert_string_equal(p->namespace, "default");
        manifest_result_clear(&r);

        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  restartPolicy: Sometimes\n"
                     "  containers:\n  - name: a\n    image: nginx\n",
                     "spec.restartPolicy: Unsupported value: \"Sometimes\"", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  "
                     "terminationGracePeriodSeconds: -1\n"
                     "  containers:\n  - name: a\n    image: nginx\n",
                     "spec.terminationGracePeriodSeconds: Invalid value: -1", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: Kube_System\n"
                     "spec:\n  containers:\n  - name: a\n    image: nginx\n",
                     "metadata.namespace: Invalid value: \"Kube_System\"", NULL);
}

static void test_json_input(void **state)
{
        struct manifest_result r;
        const char *t = "  {\n"
                        "  \"apiVersion\": \"v1\", \"kind\": \"Pod\",\n"
                        "  \"metadata\": {\"name\": \"api\", \"labels\": {\"app\": \"api\"}},\n"
                        "  \"spec\": {\"containers\": [{\"name\": \"api\", \"image\": \"api:1.0\",\n"
                        "     \"ports\": [{\"containerPort\": 8080, \"protocol\": \"UDP\"}],\n"
                        "     \"tty\": true}]}\n"
                        "}\n";
        struct pod *p = expect_one(t, &r);

        assert_string_equal(p->name, "api-" NODE);
        assert_string_equal(p->namespace, "default");
        assert_true(is_hex32(p->uid));
        assert_string_equal(label(p, "app"), "api");
        assert_string_equal(p->containers[0].image_pull_policy, "IfNotPresent");
        assert_int_equal(p->containers[0].ports[0].container_port, 8080);
        assert_string_equal(p->containers[0].ports[0].protocol, "UDP");
        assert_true(p->containers[0].tty);
        manifest_result_clear(&r);

        /* The same pod as YAML has the same identity: the UID hashes content, not syntax. */
        const char *y = "apiVersion: v1\nkind: Pod\n"
                        "metadata: {name: api, labels: {app: api}}\n"
                        "spec:\n  containers:\n  - name: api\n    image: \"api:1.0\"\n"
                        "    ports: [{containerPort: 8080, protocol: UDP}]\n    tty: true\n";
        struct manifest_result r1, r2;
        manifest_decode(PATH, t, strlen(t), NODE, &r1);
        manifest_decode(PATH, y, strlen(y), NODE, &r2);
        assert_null(r1.error);
        assert_null(r2.error);
        assert_string_equal(r1.pods[0]->uid, r2.pods[0]->uid);
        assert_string_equal(r1.pods[0]->containers[0].hash, r2.pods[0]->containers[0].hash);
        manifest_result_clear(&r1);
        manifest_result_clear(&r2);

        /* Broken JSON names line and column; duplicate JSON keys are refused too. */
        expect_error("{\"apiVersion\": \"v1\",\n \"kind\": \"Pod\"\n \"metadata\": {}}", "line 3", NULL);
        expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"kind\": \"Pod\"}", "duplicate", NULL);
        /* A JSON array is not a Pod. */
        expect_error("[1, 2]", "expected a Pod object", NULL);
}

static void test_multi_document(void **state)
{
        struct manifest_result r;
        _cleanup_free_ char *a = simple_pod("alpha", "nginx:1", NULL);
        _cleanup_free_ char *b = simple_pod("beta", "redis:7", NULL);
        _cleanup_free_ char *t = strdup_printf("%s---\n%s", a, b);

        decode(t, &r);
        assert_null(r.error);
        assert_int_equal(r.n_pods, 2);
        assert_string_equal(r.pods[0]->name, "alpha-" NODE);
        assert_string_equal(r.pods[1]->name, "beta-" NODE);
        assert_string_equal(r.pods[0]->containers[0].image, "nginx:1");
        assert_string_equal(r.pods[1]->containers[0].image, "redis:7");
        assert_string_not_equal(r.pods[0]->uid, r.pods[1]->uid);
        manifest_result_clear(&r);

        /* Two identical documents are still two pods with two UIDs (and the same name: a later
         * stage dedups by name, not this decoder). */
        _cleanup_free_ char *same = strdup_printf("%s---\n%s", a, a);
        decode(same, &r);
        assert_null(r.error);
        assert_int_equal(r.n_pods, 2);
        assert_string_not_equal(r.pods[0]->uid, r.pods[1]->uid);
        manifest_result_clear(&r);
}

static void test_empty_documents(void **state)
{
        struct manifest_result r;
        _cleanup_free_ char *a = simple_pod("alpha", "nginx:1", NULL);
        _cleanup_free_ char *t = strdup_printf("---\n---\n# only a comment\n---\n%s---\n...\n---\n", a);

        decode(t, &r);
        assert_null(r.error);
        assert_int_equal(r.n_pods, 1);
        assert_string_equal(r.pods[0]->name, "alpha-" NODE);
        manifest_result_clear(&r);

        /* A document of just "null" is empty too. */
        _cleanup_free_ char *t2 = strdup_printf("%s---\nnull\n---\n~\n", a);
        decode(t2, &r);
        assert_null(r.error);
        assert_int_equal(r.n_pods, 1);
        manifest_result_clear(&r);

        /* Nothing at all is an error: the file gives no pod. */
        expect_error("", "no document", NULL);
        expect_error("   \n\n", "no document", NULL);
        expect_error("---\n---\n", "no document", NULL);
        expect_error("# just a comment\n", "no document", NULL);
}

static void test_broken_yaml(void **state)
{
        /* Line 4 opens a flow sequence that never closes; libyaml notices on line 5. */
        expect_error("apiVersion: v1\n"
                     "kind: Pod\n"
                     "metadata:\n"
                     "  name: [web\n"
                     "spec: {}\n",
                     "line 5, column 5:", NULL);
        /* A mapping value where none may be. */
        expect_error("apiVersion: v1\n"
                     "kind: Pod\n"
                     "metadata:\n"
                     "  name: web\n"
                     "   bad: indent\n",
                     "line 5, column 7:", "mapping values are not allowed", NULL);
        /* A tab for indentation. */
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n\tname: web\n", "line 4, column 1:", NULL);
        /* An unterminated quoted scalar. */
        expect_error("apiVersion: \"v1\nkind: Pod\n", "line ", "column ", NULL);
        /* An error in a later document still rejects the file, and names its line. */
        _cleanup_free_ char *a = simple_pod("alpha", "nginx:1", NULL);
        _cleanup_free_ char *t = strdup_printf("%s---\nkind: [\n", a);
        expect_error(t, "line 11,", NULL);
        /* Unknown aliases, unsupported tags. */
        expect_error("apiVersion: v1\nkind: *nope\n", "line 2, column 7:", "unknown alias *nope", NULL);
        expect_error("apiVersion: !custom v1\n", "unsupported tag !custom", NULL);
        /* The document is not a mapping. */
        expect_error("just a string\n", "expected a Pod object", NULL);
        expect_error("- a\n- b\n", "expected a Pod object", NULL);
        /* A non-scalar key. */
        expect_error("? [a, b]\n: c\n", "mapping key must be a scalar", NULL);
}

static void test_wrong_types(void **state)
{
        _cleanup_free_ char *t = simple_pod("web", "nginx:1", "    ports:\n    - containerPort: \"80\"\n");
        expect_error(t,
                     "spec.containers[0].ports[0].containerPort: Invalid type: expected integer, got string",
                     NULL);

        _cleanup_free_ char *t2 = simple_pod("web", "nginx:1", "    ports:\n    - containerPort: 80.5\n");
        expect_error(t2,
                     "spec.containers[0].ports[0].containerPort: Invalid type: expected integer, got number",
                     NULL);
        _cleanup_free_ char *t3 = simple_pod("web", "nginx:1", "    ports:\n    - containerPort: 70000\n");
        expect_error(t3, "spec.containers[0].ports[0].containerPort: Invalid value: 70000", NULL);
        _cleanup_free_ char *t4 = simple_pod("web", "nginx:1", "    ports:\n    - name: http\n");
        expect_error(t4, "spec.containers[0].ports[0].containerPort: Required value", NULL);
        _cleanup_free_ char *t5 = simple_pod("web", "nginx:1",
                                             "    ports:\n    - containerPort: 53\n"
                                             "      protocol: ICMP\n");
        expect_error(t5, "spec.containers[0].ports[0].protocol: Unsupported value: \"ICMP\"", NULL);
        _cleanup_free_ char *t6 = simple_pod("web", "nginx:1", "    tty: \"yes\"\n");
        expect_error(t6, "spec.containers[0].tty: Invalid type: expected boolean, got string", NULL);
        _cleanup_free_ char *t7 = simple_pod("web", "nginx:1", "    ports: 80\n");
        expect_error(t7, "spec.containers[0].ports: Invalid type: expected array, got integer", NULL);
        _cleanup_free_ char *t8 = simple_pod("web", "nginx:1", "    ports:\n    - 80\n");
        expect_error(t8, "spec.containers[0].ports[0]: Invalid type: expected object, got integer", NULL);

        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers: {name: a}\n",
                     "spec.containers: Invalid type: expected array, got object", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - nginx\n",
                     "spec.containers[0]: Invalid type: expected object, got string", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata: web\nspec: {}\n",
                     "metadata: Invalid type: expected object, got string", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n", "spec: Required value", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec: {}\n",
                     "spec.containers: Required value", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  hostNetwork: 1\n"
                     "  containers:\n  - name: a\n    image: nginx\n",
                     "spec.hostNetwork: Invalid type: expected boolean, got integer", NULL);
}

static void test_missing_image(void **state)
{
        expect_error(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n",
                "spec.containers[0].image: Required value", NULL);
        _cleanup_free_ char *t = simple_pod("web", "\"\"", NULL);
        expect_error(t, "spec.containers[0].image: Required value", NULL);
        _cleanup_free_ char *t2 = simple_pod("web", "\"nginx \"", NULL);
        expect_error(t2, "spec.containers[0].image: Invalid value: \"nginx \"", "whitespace", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - image: "
                     "nginx\n",
                     "spec.containers[0].name: Required value", NULL);
}

static void test_duplicate_container_names(void **state)
{
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n"
                     "  - name: web\n    image: nginx\n"
                     "  - name: other\n    image: nginx\n"
                     "  - name: web\n    image: httpd\n",
                     "spec.containers[2].name: Duplicate value: \"web\"", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n"
                     "  - name: web\n    image: nginx\n"
                     "  - name: web\n    image: httpd\n",
                     "spec.containers[1].name: Duplicate value: \"web\"", NULL);
        /* Names are unique across init and app containers. */
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n"
                     "  initContainers:\n  - name: setup\n    image: busybox\n"
                     "  containers:\n  - name: setup\n    image: nginx\n",
                     "spec.containers[0].name: Duplicate value: \"setup\"", NULL);

        /* Init containers otherwise decode and default like the others. */
        struct manifest_result r;
        struct pod *p = expect_one("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n"
                                   "  initContainers:\n  - name: setup\n    image: busybox:1.36\n"
                                   "  containers:\n  - name: web\n    image: nginx\n",
                                   &r);
        assert_int_equal(p->n_init_containers, 1);
        assert_string_equal(p->init_containers[0].name, "setup");
        assert_string_equal(p->init_containers[0].image_pull_policy, "IfNotPresent");
        assert_string_equal(p->containers[0].image_pull_policy, "Always");
        manifest_result_clear(&r);
}

/* activeDeadlineSeconds and readinessGates, validated as the API server does. */
static void test_deadline_and_gates(void **state)
{
        struct manifest_result r;
        (void) state;
        struct pod *p = expect_one(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n"
                "  activeDeadlineSeconds: 30\n"
                "  readinessGates: [{conditionType: example.com/ready}, {conditionType: Other_1}]\n"
                "  containers:\n  - name: web\n    image: nginx\n",
                &r);
        assert_int_equal(p->active_deadline_s, 30);
        assert_int_equal(strv_length(p->readiness_gates), 2);
        assert_string_equal(p->readiness_gates[0], "example.com/ready");
        assert_string_equal(p->readiness_gates[1], "Other_1");
        manifest_result_clear(&r);
        p = expect_one("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n"
                       "  containers:\n  - name: web\n    image: nginx\n",
                       &r);
        assert_int_equal(p->active_deadline_s, -1);
        assert_null(p->readiness_gates);
        manifest_result_clear(&r);

        expect_error(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  activeDeadlineSeconds: 0\n"
                "  containers:\n  - name: web\n    image: nginx\n",
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
                NULL);
        expect_error(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  activeDeadlineSeconds: -1\n"
                "  containers:\n  - name: web\n    image: nginx\n",
                "spec.activeDeadlineSeconds: Invalid value: -1", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n"
                     "  activeDeadlineSeconds: 2147483648\n  containers:\n  - name: web\n    image: nginx\n",
                     "spec.activeDeadlineSeconds: Invalid value: 2147483648", NULL);
        expect_error(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  activeDeadlineSeconds: \"5\"\n"
                "  containers:\n  - name: web\n    image: nginx\n",
                "spec.activeDeadlineSeconds: Invalid type: expected integer, got string", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n"
                     "  readinessGates: [{conditionType: \"bad name\"}]\n"
                     "  containers:\n  - name: web\n    image: nginx\n",
                     "spec.readinessGates[0].conditionType: Invalid value: \"bad name\"", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n"
                     "  readinessGates: [{conditionType: \"a/b/c\"}]\n"
                     "  containers:\n  - name: web\n    image: nginx\n",
                     "spec.readinessGates[0].conditionType: Invalid value", NULL);

        /* An API pod may have 0: the API server lets an update lower it that far. */
        struct api_problems pr = {0};
        json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:i, s:[{s:s, s:s}]}}", "apiVersion",
                                "v1", "kind", "Pod", "metadata", "name", "web", "uid", "u1", "annotations",
                                "kubernetes.io/config.source", "api", "spec", "activeDeadlineSeconds", 0,
                                "containers", "name", "web", "image", "nginx");
        pod_json_apply_defaults(obj);
        p = pod_from_json(obj, &pr);
        assert_non_null(p);
        assert_int_equal(p->active_deadline_s, 0);
        pod_unref(p);
        json_decref(obj);
        api_problems_clear(&pr);
}

static void test_invalid_names(void **state)
{
        /* The static pod name is "<name>-<node>", and that is what gets validated. */
        _cleanup_free_ char *t = simple_pod("Web_1", "nginx", NULL);
        expect_error(t, "metadata.name: Invalid value: \"Web_1-" NODE "\"", "RFC 1123 subdomain", NULL);
        _cleanup_free_ char *t2 = simple_pod("-web", "nginx", NULL);
        expect_error(t2, "metadata.name: Invalid value", NULL);
        expect_error("apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {a: b}\nspec:\n  containers:\n"
                     "  - name: a\n    image: nginx\n",
                     "metadata.name: Required value", NULL);
        /* Dots are fine in a pod name (a subdomain)... */
        struct manifest_result r;
        _cleanup_free_ char *t3 = simple_pod("web.v1", "nginx", NULL);
        struct pod *p = expect_one(t3, &r);
        assert_string_equal(p->name, "web.v1-" NODE);
        manifest_result_clear(&r);
        /* ...and a name that only becomes too long with the node suffix is refused. */
        char longname[254];
        memset(longname, 'a', 250);
        longname[250] = 0;
        _cleanup_free_ char *t4 = simple_pod(longname, "nginx", NULL);
        expect_error(t4, "metadata.name: Invalid value", NULL);

        /* Container names are RFC 1123 labels: no capitals, underscores or dots. */
        static const char *const bad[] = {
                "Web",  "web_1", "web.1",
                "-web", "web-",  "a123456789012345678901234567890123456789012345678901234567890123"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *c =
                        strdup_printf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
                                      "spec:\n  containers:\n  - name: \"%s\"\n    image: nginx\n",
                                      bad[i]);
                _cleanup_free_ char *msg =
                        strdup_printf("spec.containers[0].name: Invalid value: \"%s\"", bad[i]);
                expect_error(c, msg, NULL);
        }
        /* Port names are at most 15 characters. */
        _cleanup_free_ char *t5 = simple_pod("web", "nginx",
                                             "    ports:\n    - containerPort: 80\n"
                                             "      name: a-very-long-port-name\n");
        expect_error(t5, "spec.containers[0].ports[0].name: Invalid value", NULL);
}

static void test_unknown_field_warns(void **state)
{
        struct manifest_result r;
        _cleanup_free_ char *t = simple_pod("web", "nginx:1",
                                            "    imagePullPolicyy: Always\n"
                                            "    livenessProbe:\n"
                                            "      httpGet: {path: /, port: 80}\n");
        _cleanup_free_ char *t2 = strdup_printf("%sfrobnicate: true\n", t);
        struct pod *p = expect_one(t2, &r);

        assert_non_null(p);
        assert_non_null(r.warnings);
        assert_non_null(strstr(r.warnings, "spec.containers[0].imagePullPolicyy: unknown field"));
        assert_non_null(strstr(r.warnings, "frobnicate: unknown field"));
        assert_null(strstr(r.warnings, "livenessProbe")); /* known, even if unused */
        /* The default policy still applies: the typo did not set it. */
        assert_string_equal(p->containers[0].image_pull_policy, "IfNotPresent");
        manifest_result_clear(&r);

        /* Warnings of a multi-document file name their document. */
        _cleanup_free_ char *a = simple_pod("alpha", "nginx:1", NULL);
        _cleanup_free_ char *b = simple_pod("beta", "nginx:1", "    bogus: 1\n");
        _cleanup_free_ char *t3 = strdup_printf("%s---\n%s", a, b);
        decode(t3, &r);
        assert_null(r.error);
        assert_int_equal(r.n_pods, 2);
        assert_non_null(r.warnings);
        assert_non_null(strstr(r.warnings, "document 2 (line 9): spec.containers[0].bogus: unknown field"));
        manifest_result_clear(&r);
}

static void test_kind_and_api_version(void **state)
{
        const char *rest = "metadata:\n  name: web\nspec:\n  containers:\n  - name: a\n    image: nginx\n";
        _cleanup_free_ char *dep = strdup_printf("apiVersion: apps/v1\nkind: Deployment\n%s", rest);
        expect_error(dep, "kind: Unsupported value: \"Deployment\"", NULL);
        _cleanup_free_ char *nokind = strdup_printf("apiVersion: v1\n%s", rest);
        expect_error(nokind, "kind: Unsupported value: (none)", NULL);
        _cleanup_free_ char *lower = strdup_printf("apiVersion: v1\nkind: pod\n%s", rest);
        expect_error(lower, "kind: Unsupported value: \"pod\"", NULL);
        _cleanup_free_ char *v2 = strdup_printf("apiVersion: v2\nkind: Pod\n%s", rest);
        expect_error(v2, "apiVersion: Unsupported value", NULL);
        _cleanup_free_ char *noapi = strdup_printf("kind: Pod\n%s", rest);
        expect_error(noapi, "apiVersion: Unsupported value", NULL);
}

static void test_list_kinds(void **state)
{
        struct manifest_result r;
        const char *t = "apiVersion: v1\n"
                        "kind: List\n"
                        "items:\n"
                        "- apiVersion: v1\n"
                        "  kind: Pod\n"
                        "  metadata: {name: one}\n"
                        "  spec:\n"
                        "    containers: [{name: a, image: nginx}]\n"
                        "- apiVersion: v1\n"
                        "  kind: Pod\n"
                        "  metadata: {name: two}\n"
                        "  spec:\n"
                        "    containers: [{name: a, image: nginx}]\n";

        decode(t, &r);
        assert_null(r.error);
        assert_int_equal(r.n_pods, 2);
        assert_string_equal(r.pods[0]->name, "one-" NODE);
        assert_string_equal(r.pods[1]->name, "two-" NODE);
        assert_string_not_equal(r.pods[0]->uid, r.pods[1]->uid);
        manifest_result_clear(&r);

        const char *pl = "{\"apiVersion\": \"v1\", \"kind\": \"PodList\", \"items\": [\n"
                         " {\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"x\"},\n"
                         "  \"spec\": {\"containers\": [{\"name\": \"a\", \"image\": \"nginx\"}]}}]}";
        decode(pl, &r);
        assert_null(r.error);
        assert_int_equal(r.n_pods, 1);
        assert_string_equal(r.pods[0]->name, "x-" NODE);
        manifest_result_clear(&r);

        /* One bad item rejects the whole list, and the error says which. */
        const char *bad = "apiVersion: v1\n"
                          "kind: List\n"
                          "items:\n"
                          "- apiVersion: v1\n"
                          "  kind: Pod\n"
                          "  metadata: {name: one}\n"
                          "  spec: {containers: [{name: a, image: nginx}]}\n"
                          "- apiVersion: v1\n"
                          "  kind: Pod\n"
                          "  metadata: {name: two}\n"
                          "  spec: {containers: [{name: a}]}\n";
        expect_error(bad, "items[1]: spec.containers[0].image: Required value", NULL);
        expect_error("apiVersion: v1\nkind: List\n", "items: Required value", NULL);
        expect_error("apiVersion: v1\nkind: List\nitems: [42]\n", "items[0]: expected a Pod object", NULL);
        expect_error("apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n",
                     "items[0]: kind: Unsupported value: \"Deployment\"", NULL);
}

static void test_one_bad_document_rejects_file(void **state)
{
        _cleanup_free_ char *a = simple_pod("alpha", "nginx:1", NULL);
        _cleanup_free_ char *b = strdup_printf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: beta\nspec:\n"
                                               "  containers:\n  - name: b\n");
        _cleanup_free_ char *t = strdup_printf("%s---\n%s", a, b);
        /* A document's line is that of its "---". */
        expect_error(t, "document 2 (line 9): spec.containers[0].image: Required value", NULL);

        /* The bad document first: the good one after it gives nothing either. */
        _cleanup_free_ char *t2 = strdup_printf("%s---\n%s", b, a);
        expect_error(t2, "document 1 (line 1): spec.containers[0].image: Required value", NULL);

        /* Errors of several documents are all reported. */
        _cleanup_free_ char *t3 = strdup_printf("%s---\n%s---\nkind: Service\n", b, a);
        expect_error(t3, "document 1 (line 1)", "document 3 (line 17): kind: Unsupported value: \"Service\"",
                     NULL);
}

static void test_volumes(void **state)
{
        struct manifest_result r;
        const char *t =
                "apiVersion: v1\n"
                "kind: Pod\n"
                "metadata:\n  name: web\n"
                "spec:\n"
                "  volumes:\n"
                "  - name: data\n"
                "    emptyDir: {medium: Memory}\n"
                "  - name: host\n"
                "    hostPath: {path: /srv/www, type: Directory}\n"
                "  - name: cfg\n"
                "    configMap: {name: web-config}\n"
                "  containers:\n"
                "  - name: web\n"
                "    image: nginx\n"
                "    volumeMounts:\n"
                "    - {name: data, mountPath: /data}\n"
                "    - {name: host, mountPath: /usr/share/nginx/html, readOnly: true, subPath: site}\n";
        struct pod *p = expect_one(t, &r);

        assert_int_equal(p->n_volumes, 3);
        assert_string_equal(p->volumes[0].name, "data");
        assert_int_equal(p->volumes[0].kind, VOLUME_EMPTY_DIR);
        assert_string_equal(p->volumes[0].medium, "Memory");
        assert_int_equal(p->volumes[1].kind, VOLUME_HOST_PATH);
        assert_string_equal(p->volumes[1].host_path, "/srv/www");
        assert_string_equal(p->volumes[1].host_path_type, "Directory");
        assert_int_equal(p->volumes[2].kind, VOLUME_CONFIG_MAP);
        assert_string_equal(p->volumes[2].kind_name, "configMap");
        struct container *c = &p->containers[0];
        assert_int_equal(c->n_mounts, 2);
        assert_string_equal(c->mounts[0].mount_path, "/data");
        assert_false(c->mounts[0].read_only);
        assert_true(c->mounts[1].read_only);
        assert_string_equal(c->mounts[1].sub_path, "site");
        manifest_result_clear(&r);

        /* A mount naming a volume that is not there. */
        _cleanup_free_ char *t2 = simple_pod("web", "nginx",
                                             "    volumeMounts:\n    - name: data\n"
                                             "      mountPath: /data\n");
        expect_error(t2, "spec.containers[0].volumeMounts[0].name: Not found: \"data\"", NULL);
        _cleanup_free_ char *t3 = simple_pod("web", "nginx", "    volumeMounts:\n    - name: data\n");
        expect_error(t3, "spec.containers[0].volumeMounts[0].mountPath: Required value", NULL);
        _cleanup_free_ char *t4 = strdup_printf("%s  volumes:\n  - name: data\n    emptyDir: {}\n", t2);
        p = expect_one(t4, &r);
        assert_int_equal(p->volumes[0].kind, VOLUME_EMPTY_DIR);
        manifest_result_clear(&r);
        _cleanup_free_ char *t5 = simple_pod("web", "nginx",
                                             "    volumeMounts:\n    - name: data\n"
                                             "      mountPath: /data\n      subPath: ../etc\n"
                                             "  volumes:\n  - name: data\n    emptyDir: {}\n");
        /* The API server's field path names the list here, not the entry. */
        expect_error(
                t5,
                "spec.containers[0].volumeMounts.subPath: Invalid value: \"../etc\": must not contain '..'",
                NULL);
        /* subPathExpr: decoded; never with subPath; relative, no ".." component (".." inside a name is fine). */
        _cleanup_free_ char *t5b = simple_pod("web", "nginx",
                                              "    volumeMounts:\n    - name: data\n"
                                              "      mountPath: /data\n      subPathExpr: $(POD)/a..b\n"
                                              "  volumes:\n  - name: data\n    emptyDir: {}\n");
        p = expect_one(t5b, &r);
        assert_string_equal(p->containers[0].mounts[0].sub_path_expr, "$(POD)/a..b");
        assert_null(p->containers[0].mounts[0].sub_path);
        manifest_result_clear(&r);
        _cleanup_free_ char *t5c =
                simple_pod("web", "nginx",
                           "    volumeMounts:\n    - name: data\n"
                           "      mountPath: /data\n      subPath: x\n"
                           "      subPathExpr: $(POD)\n"
                           "    - name: data\n      mountPath: /d2\n      subPathExpr: /$(POD)/../x\n"
                           "  volumes:\n  - name: data\n    emptyDir: {}\n");
        expect_error(
                t5c,
                "spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: \"$(POD)\": subPathExpr "
                "and subPath are mutually exclusive",
                "spec.containers[0].volumeMounts.subPathExpr: Invalid value: \"/$(POD)/../x\": must be a "
                "relative path",
                "spec.containers[0].volumeMounts.subPathExpr: Invalid value: \"/$(POD)/../x\": must not "
                "contain '..'",
                NULL);

        /* Volume sources: exactly one; hostPath needs a path; names unique. */
        _cleanup_free_ char *t6 = simple_pod("web", "nginx", "  volumes:\n  - name: v\n");
        expect_error(t6, "spec.volumes[0]: Required value: must specify a volume type", NULL);
        _cleanup_free_ char *t7 = simple_pod("web", "nginx",
                                             "  volumes:\n  - name: v\n    emptyDir: {}\n"
                                             "    hostPath: {path: /x}\n");
        expect_error(t7, "spec.volumes[0]: Forbidden: may not specify more than 1 volume type", NULL);
        _cleanup_free_ char *t8 = simple_pod("web", "nginx", "  volumes:\n  - name: v\n    hostPath: {}\n");
        expect_error(t8, "spec.volumes[0].hostPath.path: Required value", NULL);
        _cleanup_free_ char *t9 = simple_pod("web", "nginx",
                                             "  volumes:\n  - name: v\n    emptyDir: {}\n"
                                             "  - name: v\n    emptyDir: {}\n");
        expect_error(t9, "spec.volumes[1].name: Duplicate value: \"v\"", NULL);
        _cleanup_free_ char *t10 =
                simple_pod("web", "nginx", "  volumes:\n  - name: My_Vol\n    emptyDir: {}\n");
        expect_error(t10, "spec.volumes[0].name: Invalid value: \"My_Vol\"", NULL);
}

static void test_duplicate_yaml_keys(void **state)
{
        expect_error("apiVersion: v1\n"
                     "kind: Pod\n"
                     "metadata:\n"
                     "  name: web\n"
                     "  name: web2\n"
                     "spec:\n"
                     "  containers:\n"
                     "  - name: a\n"
                     "    image: nginx\n",
                     "line 5, column 3: duplicate key \"name\"", NULL);
        /* Also in flow mappings, and keys that only collide after scalar resolution. */
        expect_error("a: {x: 1, x: 2}\n", "duplicate key \"x\"", NULL);
        expect_error("1: a\n\"1\": b\n", "duplicate key \"1\"", NULL);
        expect_error("yes: a\ntrue: b\n", "duplicate key \"true\"", NULL);
}

static void test_alias_bomb(void **state)
{
        /* Billion laughs: 9^9 strings from a few hundred bytes. */
        static const char *const bomb =
                "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
        int64_t t0 = now_ms();
        expect_error(bomb, "too large", NULL);
        int64_t took = now_ms() - t0;
        if (took > 5000) /* generous for ASan; about 0.2 s in a plain build */
                fail_msg("alias bomb took %lld ms", (long long) took);

        /* The same bomb with mappings. */
        static const char *const mbomb = "a: &a {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n"
                                         "b: &b {a: *a, b: *a, c: *a, d: *a, e: *a, f: *a, g: *a, h: *a}\n"
                                         "c: &c {a: *b, b: *b, c: *b, d: *b, e: *b, f: *b, g: *b, h: *b}\n"
                                         "d: &d {a: *c, b: *c, c: *c, d: *c, e: *c, f: *c, g: *c, h: *c}\n"
                                         "e: &e {a: *d, b: *d, c: *d, d: *d, e: *d, f: *d, g: *d, h: *d}\n"
                                         "f: &f {a: *e, b: *e, c: *e, d: *e, e: *e, f: *e, g: *e, h: *e}\n"
                                         "g: &g {a: *f, b: *f, c: *f, d: *f, e: *f, f: *f, g: *f, h: *f}\n"
                                         "h: &h {a: *g, b: *g, c: *g, d: *g, e: *g, f: *g, g: *g, h: *g}\n";
        t0 = now_ms();
        expect_error(mbomb, "too large", NULL);
        took = now_ms() - t0;
        if (took > 5000)
                fail_msg("mapping alias bomb took %lld ms", (long long) took);

        /* Deep nesting is bounded too. */
        char deep[2 * 1000 + 2];
        memset(deep, '[', 1000);
        memset(deep + 1000, ']', 1000);
        deep[2000] = '\n';
        deep[2001] = 0;
        /* Leading "a: " keeps it YAML (a leading '[' would go to the JSON parser). */
        _cleanup_free_ char *dy = strdup_printf("a: %s", deep);
        expect_error(dy, "nesting deeper than", NULL);
}

static void test_anchors_and_aliases(void **state)
{
        struct manifest_result r;
        const char *t = "apiVersion: v1\n"
                        "kind: Pod\n"
                        "metadata:\n  name: web\n"
                        "spec:\n"
                        "  containers:\n"
                        "  - name: a\n"
                        "    image: &img nginx:1.25\n"
                        "    env: &env\n"
                        "    - {name: A, value: one}\n"
                        "  - name: b\n"
                        "    image: *img\n"
                        "    env: *env\n";
        struct pod *p = expect_one(t, &r);

        assert_string_equal(p->containers[1].image, "nginx:1.25");
        assert_int_equal(p->containers[1].n_env, 1);
        assert_string_equal(p->containers[1].env[0].value, "one");
        manifest_result_clear(&r);

        /* Anchors do not cross documents. */
        _cleanup_free_ char *t2 = strdup_printf("%s---\napiVersion: *img\n", t);
        expect_error(t2, "unknown alias *img", NULL);
}

static void test_yaml_booleans_and_scalars(void **state)
{
        struct manifest_result r;
        _cleanup_free_ char *t = simple_pod("web", "nginx:1",
                                            "    tty: yes\n"
                                            "    stdin: On\n"
                                            "    stdinOnce: n\n"
                                            "    ports:\n"
                                            "    - containerPort: 0x50\n"
                                            "    - containerPort: 8_080\n"
                                            "    env:\n"
                                            "    - {name: A, value: \"yes\"}\n"
                                            "    - {name: B, value: 'on'}\n"
                                            "    - {name: C, value: !!str 42}\n"
                                            "    - {name: D, value: \"null\"}\n"
                                            "    - {name: E, value: ~}\n"
                                            "  hostPID: off\n"
                                            "  hostIPC: TRUE\n");
        struct pod *p = expect_one(t, &r);
        struct container *c = &p->containers[0];

        assert_true(c->tty);
        assert_true(c->stdin_open);
        assert_false(c->stdin_once);
        assert_false(p->host_pid);
        assert_true(p->host_ipc);
        assert_int_equal(c->ports[0].container_port, 80);
        assert_int_equal(c->ports[1].container_port, 8080);
        assert_string_equal(c->env[0].value, "yes");
        assert_string_equal(c->env[1].value, "on");
        assert_string_equal(c->env[2].value, "42");
        assert_string_equal(c->env[3].value, "null");
        assert_null(c->env[4].value);
        manifest_result_clear(&r);

        /* "yes" as an image name is a boolean, so a type error, as with kubectl. */
        _cleanup_free_ char *t2 = simple_pod("web", "yes", NULL);
        expect_error(t2, "spec.containers[0].image: Invalid type: expected string, got boolean", NULL);
        /* A plain number where a string is needed is refused, quoted is fine. */
        _cleanup_free_ char *t3 = simple_pod("web", "nginx", "    workingDir: 1.5\n");
        expect_error(t3, "spec.containers[0].workingDir: Invalid type: expected string, got number", NULL);
}

static void test_uid_stability(void **state)
{
        const char *a = "apiVersion: v1\n"
                        "kind: Pod\n"
                        "metadata:\n"
                        "  name: web\n"
                        "spec:\n"
                        "  containers:\n"
                        "  - name: web\n"
                        "    image: nginx:1.25\n"
                        "    args: [a, b]\n"
                        "  - name: side\n"
                        "    image: busybox:1.36\n";
        /* Same content: other indentation, comments, quoting, flow style, key order, document marker. */
        const char *b = "# header comment\n"
                        "---\n"
                        "kind: \"Pod\"   # trailing comment\n"
                        "apiVersion: 'v1'\n"
                        "\n"
                        "metadata: {name: web}\n"
                        "spec:\n"
                        "    containers:\n"
                        "        -   image: \"nginx:1.25\"\n"
                        "            name: web\n"
                        "            args:\n"
                        "              - a\n"
                        "              - \"b\"\n"
                        "        -   {name: side, image: \"busybox:1.36\"}\n"
                        "...\n";
        const char *changed = "apiVersion: v1\n"
                              "kind: Pod\n"
                              "metadata:\n"
                              "  name: web\n"
                              "spec:\n"
                              "  containers:\n"
                              "  - name: web\n"
                              "    image: nginx:1.26\n"
                              "    args: [a, b]\n"
                              "  - name: side\n"
                              "    image: busybox:1.36\n";
        struct manifest_result ra, rb, rc, rpath, rnode, ra2;

        manifest_decode(PATH, a, strlen(a), NODE, &ra);
        manifest_decode(PATH, a, strlen(a), NODE, &ra2);
        manifest_decode(PATH, b, strlen(b), NODE, &rb);
        manifest_decode(PATH, changed, strlen(changed), NODE, &rc);
        manifest_decode("/etc/kubernetes/manifests/other.yaml", a, strlen(a), NODE, &rpath);
        manifest_decode(PATH, a, strlen(a), "node2", &rnode);
        struct manifest_result *all[] = {&ra, &ra2, &rb, &rc, &rpath, &rnode};
        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                if (all[i]->error)
                        fail_msg("case %zu: %s", i, all[i]->error);
                assert_int_equal(all[i]->n_pods, 1);
        }
        struct pod *pa = ra.pods[0], *pb = rb.pods[0], *pc = rc.pods[0];

        /* Deterministic, and independent of syntax. */
        assert_string_equal(pa->uid, ra2.pods[0]->uid);
        assert_string_equal(pa->uid, pb->uid);
        assert_string_equal(pa->containers[0].hash, pb->containers[0].hash);
        assert_string_equal(pa->containers[1].hash, pb->containers[1].hash);
        /* Another path or node is another pod. */
        assert_string_not_equal(pa->uid, rpath.pods[0]->uid);
        assert_string_not_equal(pa->uid, rnode.pods[0]->uid);
        assert_string_equal(rnode.pods[0]->name, "web-node2");
        /* A changed image: another UID, another hash for that container, same hash for the other. */
        assert_string_not_equal(pa->uid, pc->uid);
        assert_string_equal(pod_annotation(pc, "kubernetes.io/config.hash"), pc->uid);
        assert_string_not_equal(pa->containers[0].hash, pc->containers[0].hash);
        assert_string_equal(pa->containers[1].hash, pc->containers[1].hash);

        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                manifest_result_clear(all[i]);

        /* A label change is a new pod (new UID), but the containers are unchanged. */
        const char *labelled = "apiVersion: v1\n"
                               "kind: Pod\n"
                               "metadata:\n"
                               "  name: web\n"
                               "  labels: {x: z}\n"
                               "spec:\n"
                               "  containers:\n"
                               "  - name: web\n"
                               "    image: nginx:1.25\n"
                               "    args: [a, b]\n"
                               "  - name: side\n"
                               "    image: busybox:1.36\n";
        manifest_decode(PATH, a, strlen(a), NODE, &ra);
        manifest_decode(PATH, labelled, strlen(labelled), NODE, &rb);
        assert_null(ra.error);
        assert_null(rb.error);
        assert_string_not_equal(ra.pods[0]->uid, rb.pods[0]->uid);
        assert_string_equal(ra.pods[0]->containers[0].hash, rb.pods[0]->containers[0].hash);
        manifest_result_clear(&ra);
        manifest_result_clear(&rb);
}

static void test_nul_and_binary(void **state)
{
        struct manifest_result r;
        static const char nul[] = "apiVersion: v1\nkind: P\0d\n";
        manifest_decode(PATH, nul, sizeof nul - 1, NODE, &r);
        assert_non_null(r.error);
        assert_int_equal(r.n_pods, 0);
        manifest_result_clear(&r);

        static const char bad_utf8[] = "apiVersion: v1\nkind: \xff\xfe\n";
        manifest_decode(PATH, bad_utf8, sizeof bad_utf8 - 1, NODE, &r);
        assert_non_null(r.error);
        manifest_result_clear(&r);

        /* The length is honoured: the text is not read past len. */
        _cleanup_free_ char *t = simple_pod("web", "nginx", NULL);
        size_t len = strlen(t);
        char *exact = malloc(len);
        assert_non_null(exact);
        memcpy(exact, t, len);
        manifest_decode(PATH, exact, len, NODE, &r);
        assert_null(r.error);
        assert_int_equal(r.n_pods, 1);
        manifest_result_clear(&r);
        free(exact);
}

static void test_manifest_load(void **state)
{
        char dir[] = "/tmp/test-manifest-XXXXXX";
        struct manifest_result r;

        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *good = strdup_printf("%s/web.yaml", dir);
        _cleanup_free_ char *big = strdup_printf("%s/big.yaml", dir);
        _cleanup_free_ char *missing = strdup_printf("%s/missing.yaml", dir);
        _cleanup_free_ char *t = simple_pod("web", "nginx", NULL);
        assert_int_equal(write_file_atomic(good, t, strlen(t), 0644), 0);

        manifest_load(good, NODE, &r);
        assert_null(r.error);
        assert_int_equal(r.n_pods, 1);
        char *uid_from_file = xstrdup(r.pods[0]->uid);
        manifest_result_clear(&r);
        /* The path in the identity is the one given. */
        manifest_decode(good, t, strlen(t), NODE, &r);
        assert_string_equal(r.pods[0]->uid, uid_from_file);
        manifest_result_clear(&r);
        free(uid_from_file);

        manifest_load(missing, NODE, &r);
        assert_non_null(r.error);
        assert_non_null(strstr(r.error, "cannot read file"));
        assert_int_equal(r.n_pods, 0);
        manifest_result_clear(&r);

        /* Larger than the limit: refused before parsing. */
        size_t n = MANIFEST_MAX_BYTES + 1;
        char *huge = malloc(n);
        assert_non_null(huge);
        memset(huge, '#', n);
        for (size_t i = 79; i < n; i += 80)
                huge[i] = '\n';
        assert_int_equal(write_file_atomic(big, huge, n, 0644), 0);
        free(huge);
        manifest_load(big, NODE, &r);
        assert_non_null(r.error);
        assert_non_null(strstr(r.error, "limit"));
        manifest_result_clear(&r);

        manifest_load(dir, NODE, &r); /* a directory */
        assert_non_null(r.error);
        manifest_result_clear(&r);

        unlink(good);
        unlink(big);
        assert_int_equal(rmdir(dir), 0);
}

/* The manifest URL's identity: source "http", the UID hashed from the URL and the pod (not the node), no
 * NoExecute toleration, as upstream's applyDefaults with isFile false. */
static void test_url_identity(void **state)
{
        const char *url = "http://10.0.0.1/pods.yaml";
        struct manifest_result ru, ru2, rnode, rother, rfile;
        manifest_decode_url(url, WEB_POD, strlen(WEB_POD), NODE, &ru);
        manifest_decode_url(url, WEB_POD, strlen(WEB_POD), NODE, &ru2);
        manifest_decode_url(url, WEB_POD, strlen(WEB_POD), "node2", &rnode);
        manifest_decode_url("http://10.0.0.1/other.yaml", WEB_POD, strlen(WEB_POD), NODE, &rother);
        decode(WEB_POD, &rfile);
        struct manifest_result *all[] = {&ru, &ru2, &rnode, &rother, &rfile};
        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                if (all[i]->error)
                        fail_msg("case %zu: %s", i, all[i]->error);
                assert_int_equal(all[i]->n_pods, 1);
        }
        struct pod *p = ru.pods[0];
        assert_string_equal(p->name, "web-" NODE);
        assert_string_equal(p->namespace, "default");
        assert_true(is_hex32(p->uid));
        assert_string_equal(pod_annotation(p, "kubernetes.io/config.source"), "http");
        assert_string_equal(pod_annotation(p, "kubernetes.io/config.hash"), p->uid);
        assert_string_equal(p->node_name, NODE);
        assert_null(json_object_get(json_object_get(p->json, "spec"), "tolerations"));

        assert_string_equal(p->uid, ru2.pods[0]->uid);         /* deterministic */
        assert_string_equal(p->uid, rnode.pods[0]->uid);       /* the node is not hashed */
        assert_string_equal(rnode.pods[0]->name, "web-node2"); /* but names the pod */
        assert_string_not_equal(p->uid, rother.pods[0]->uid);  /* the URL is */
        assert_string_not_equal(p->uid, rfile.pods[0]->uid);   /* a file's pod is another pod */

        /* A PodList of two, and errors as for files. */
        const char *list = "{\"apiVersion\": \"v1\", \"kind\": \"PodList\", \"items\": ["
                           "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"},"
                           " \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}},"
                           "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"b\"},"
                           " \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}}]}";
        struct manifest_result rl, rbad, rnone;
        manifest_decode_url(url, list, strlen(list), NODE, &rl);
        assert_null(rl.error);
        assert_int_equal(rl.n_pods, 2);
        assert_string_equal(rl.pods[0]->name, "a-" NODE);
        assert_string_equal(rl.pods[1]->name, "b-" NODE);
        assert_string_not_equal(rl.pods[0]->uid, rl.pods[1]->uid);
        manifest_decode_url(url, "kind: Pod\n", 10, NODE, &rbad);
        assert_non_null(rbad.error);
        assert_int_equal(rbad.n_pods, 0);
        manifest_decode_url(url, "# nothing\n", 10, NODE, &rnone);
        assert_string_equal(rnone.error, "the document holds no Pod");

        struct manifest_result *more[] = {&ru, &ru2, &rnode, &rother, &rfile, &rl, &rbad, &rnone};
        for (size_t i = 0; i < ELEMENTSOF(more); i++)
                manifest_result_clear(more[i]);
}

#define GRPC_PATH "spec.containers[0].readinessProbe.grpc"

/* grpc probes as the API decodes and validates them (1.24+): port a number 1-65535, service a string. */
static void test_grpc_probe(void **state)
{
        static const char *const bad[][2] = {
                {"      grpc: {port: grpc}\n",
                 GRPC_PATH ".port: Invalid type: expected integer, got string"},
                {"      grpc: {port: 0}\n",
                 GRPC_PATH ".port: Invalid value: 0: must be between 1 and 65535, inclusive"},
                {"      grpc: {service: svc}\n",
                 GRPC_PATH ".port: Invalid value: 0: must be between 1 and 65535"},
                {"      grpc: {port: 70000}\n", GRPC_PATH ".port: Invalid value: 70000"},
                {"      grpc: {port: 9000, service: 5}\n",
                 GRPC_PATH ".service: Invalid type: expected string"},
                {"      grpc: {port: 9000}\n      tcpSocket: {port: 9000}\n",
                 "may not specify more than 1 handler"},
        };
        struct manifest_result r;
        _cleanup_free_ char *ok = simple_pod("g", "busybox:1.36",
                                             "    readinessProbe:\n"
                                             "      grpc: {port: 9000, service: svc}\n"
                                             "    livenessProbe:\n"
                                             "      grpc: {port: 9001}\n"
                                             "      timeoutSeconds: 3\n");
        struct pod *p = expect_one(ok, &r);
        const struct container *c = &p->containers[0];
        assert_int_equal(c->readiness->kind, PROBE_GRPC);
        assert_int_equal(c->readiness->port, 9000);
        assert_string_equal(c->readiness->service, "svc");
        assert_int_equal(c->liveness->kind, PROBE_GRPC);
        assert_int_equal(c->liveness->port, 9001);
        assert_null(c->liveness->service);
        assert_int_equal(c->liveness->timeout_s, 3);
        assert_null(r.warnings);
        manifest_result_clear(&r);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *extra = strdup_printf("    readinessProbe:\n%s", bad[i][0]);
                _cleanup_free_ char *t = simple_pod("g", "busybox:1.36", extra);
                expect_error(t, bad[i][1], NULL);
        }

        /* Lifecycle handlers have no grpc; unknown fields warn. */
        _cleanup_free_ char *hook = simple_pod("g", "busybox:1.36",
                                               "    lifecycle:\n"
                                               "      postStart: {grpc: {port: 9000}}\n");
        expect_error(hook, "postStart: Required value: must specify a handler type", NULL);
        _cleanup_free_ char *extra = simple_pod("g", "busybox:1.36",
                                                "    readinessProbe:\n"
                                                "      grpc: {port: 9000, host: x}\n");
        expect_one(extra, &r);
        assert_non_null(r.warnings);
        assert_non_null(strstr(r.warnings, GRPC_PATH ".host: unknown field"));
        manifest_result_clear(&r);
}

/* ---- the static pod directory: read as a tool writes it -------------------------------------------- */

/* The read after a change: after 50 ms of quiet, but at most 200 ms after the burst's first change. */
static void test_read_delay(void **state)
{
        (void) state;
        assert_int_equal(file_source_read_delay(1000, 1000), 50);
        assert_int_equal(file_source_read_delay(1100, 1000), 50);
        assert_int_equal(file_source_read_delay(1170, 1000), 30);
        assert_int_equal(file_source_read_delay(1200, 1000), 0);
        assert_int_equal(file_source_read_delay(5000, 1000), 0);
}

static int fake_sync(void *ud, struct pod *pod, bool periodic, struct sync_result *res)
{
        return 0;
}

static int fake_kill(void *ud, const char *uid, int64_t grace_s, struct sync_result *res)
{
        return 0;
}

static void noop_timer(uv_timer_t *t)
{
        (void) t;
}

#define STREAM_FILES 60
struct writer {
        char dir[64];
        int written;
        int seen_at; /* files written when the source first gave pods; -1: not yet */
        struct podconfig *pc;
        uv_timer_t timer;
};

/* Every 10 ms one more manifest, written whole (a dot file, then a rename): never 50 ms of quiet. */
static void write_next(uv_timer_t *t)
{
        struct writer *w = t->data;
        struct pod **pods;
        if (w->seen_at < 0 && podconfig_pods(w->pc, &pods) > 0)
                w->seen_at = w->written;
        if (w->written == STREAM_FILES) {
                uv_timer_stop(t);
                return;
        }
        char tmp[128], path[128], body[256];
        snprintf(tmp, sizeof tmp, "%s/.p%d.tmp", w->dir, w->written);
        snprintf(path, sizeof path, "%s/p%d.yaml", w->dir, w->written);
        snprintf(body, sizeof body,
                 "apiVersion: v1\nkind: Pod\nmetadata: {name: p%d}\n"
                 "spec: {containers: [{name: c, image: busybox}]}\n",
                 w->written);
        assert_int_equal(write_file_atomic(tmp, body, strlen(body), 0600), 0);
        assert_int_equal(rename(tmp, path), 0);
        w->written++;
}

/* A tool that writes manifests one after another without a pause: the first pods come while it still
 * writes (a debounce that waited for quiet read nothing until the last file). */
static void test_directory_read_while_written(void **state)
{
        (void) state;
        struct pod_workers_ops ops = {.sync = fake_sync, .kill = fake_kill};
        struct pod_workers *workers;
        assert_int_equal(pod_workers_new(1, &ops, 0, &workers), 0);
        struct writer w = {.seen_at = -1, .pc = podconfig_new(workers)};
        snprintf(w.dir, sizeof w.dir, "/tmp/cubelet-fs-XXXXXX");
        assert_non_null(mkdtemp(w.dir));
        char state_dir[96];
        snprintf(state_dir, sizeof state_dir, "%s.state", w.dir);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct file_source *fs;
        assert_int_equal(file_source_start(&loop, w.dir, state_dir, "node-a", 600000, w.pc, &fs), 0);
        uv_timer_init(&loop, &w.timer);
        w.timer.data = &w;
        uv_timer_start(&w.timer, write_next, 10, 10);
        uv_timer_t guard; /* wakes the loop: the bound below is checked even when nothing comes */
        uv_timer_init(&loop, &guard);
        uv_timer_start(&guard, noop_timer, 100, 100);
        int64_t deadline = now_mono_ms() + 60000;
        while (w.written < STREAM_FILES || w.seen_at < 0) {
                if (now_mono_ms() > deadline)
                        fail_msg("no pods from the directory in 60 s (%d files written)", w.written);
                uv_run(&loop, UV_RUN_ONCE);
                if (w.written == STREAM_FILES && w.seen_at < 0) {
                        struct pod **pods;
                        if (podconfig_pods(w.pc, &pods) > 0)
                                w.seen_at = w.written;
                }
        }
        print_message("first pods after %d of %d files\n", w.seen_at, STREAM_FILES);
        assert_true(w.seen_at < STREAM_FILES);
        /* Then all of them. */
        file_source_rescan(fs);
        struct pod **pods;
        assert_int_equal(podconfig_pods(w.pc, &pods), STREAM_FILES);
        file_source_stop(fs);
        uv_close((uv_handle_t *) &w.timer, NULL);
        uv_close((uv_handle_t *) &guard, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
        podconfig_free(w.pc);
        pod_workers_free(workers);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s %s", w.dir, state_dir);
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_url_identity),
                cmocka_unit_test(test_grpc_probe),
                cmocka_unit_test(test_valid_pod_identity_and_defaults),
                cmocka_unit_test(test_labels_annotations),
                cmocka_unit_test(test_env_command_args),
                cmocka_unit_test(test_pull_policy_defaults),
                cmocka_unit_test(test_explicit_fields_kept),
                cmocka_unit_test(test_json_input),
                cmocka_unit_test(test_multi_document),
                cmocka_unit_test(test_empty_documents),
                cmocka_unit_test(test_broken_yaml),
                cmocka_unit_test(test_wrong_types),
                cmocka_unit_test(test_missing_image),
                cmocka_unit_test(test_duplicate_container_names),
                cmocka_unit_test(test_invalid_names),
                cmocka_unit_test(test_unknown_field_warns),
                cmocka_unit_test(test_kind_and_api_version),
                cmocka_unit_test(test_list_kinds),
                cmocka_unit_test(test_one_bad_document_rejects_file),
                cmocka_unit_test(test_volumes),
                cmocka_unit_test(test_duplicate_yaml_keys),
                cmocka_unit_test(test_alias_bomb),
                cmocka_unit_test(test_anchors_and_aliases),
                cmocka_unit_test(test_yaml_booleans_and_scalars),
                cmocka_unit_test(test_uid_stability),
                cmocka_unit_test(test_nul_and_binary),
                cmocka_unit_test(test_manifest_load),
                cmocka_unit_test(test_deadline_and_gates),
                cmocka_unit_test(test_read_delay),
                cmocka_unit_test(test_directory_read_while_written),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
