/* Pod admission: every rule with upstream's reasons and messages, the sysctl whitelist, and podconfig's
 * order (once per pod, oldest first, refused pods never counted). Pure: no runtime. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admission.h"
#include "podconfig.h"
#include "util.h"
#include "workers.h"

/* The node's hugepage pools (4 pages of 2Mi, no 1Gi ones) and an extended resource. */
static struct resource_qty node_scalars[] = {
        {(char *) "hugepages-1Gi", 0}, {(char *) "hugepages-2Mi", 8 << 20}, {(char *) "example.com/gpu", 2}};

static struct admit_node test_node(void)
{
        return (struct admit_node){
                .name = "n1",
                .labels = json_pack("{s:s, s:s, s:s}", "kubernetes.io/hostname", "n1", "zone", "a", "gen",
                                    "5"),
                .taints = json_array(),
                .cpu_m = 2000,
                .memory = 4LL << 30,
                .ephemeral = 10LL << 30,
                .pods = 110,
                .scalars = node_scalars,
                .n_scalars = ELEMENTSOF(node_scalars),
        };
}

static void node_done(struct admit_node *n)
{
        json_decref(n->labels);
        json_decref(n->taints);
}

/* A pod from its spec (JSON); source "api" or "file". */
static struct pod *mk_pod(const char *uid, const char *source, const char *spec)
{
        json_error_t jerr;
        json_t *s = json_loads(spec, 0, &jerr);
        if (!s)
                fail_msg("bad spec JSON: %s: %s", jerr.text, spec);
        json_t *obj = json_pack("{s:{s:s, s:s, s:s, s:{s:s}}, s:o}", "metadata", "name", uid, "namespace",
                                "default", "uid", uid, "annotations", "kubernetes.io/config.source", source,
                                "spec", s);
        pod_json_apply_defaults(obj);
        struct api_problems pr = {0};
        struct pod *p = pod_from_json(obj, &pr);
        json_decref(obj);
        if (!p) {
                _cleanup_free_ char *e = api_problems_errors(&pr);
                fail_msg("pod does not decode: %s", e);
        }
        api_problems_clear(&pr);
        return p;
}

#define C(res)  "{\"name\": \"c\", \"image\": \"busybox\", \"resources\": " res "}"
#define CI(res) "{\"name\": \"i\", \"image\": \"busybox\", \"resources\": " res "}"

static void expect(const struct admit_node *node, struct pod **others, size_t n, struct pod *pod,
                   const char *reason, const char *message)
{
        struct admit_result r;
        assert_int_equal(admission_check(node, NULL, others, n, pod, &r), 0);
        if (!reason) {
                if (!r.admit)
                        fail_msg("refused: %s: %s", r.reason, r.message);
                return;
        }
        assert_false(r.admit);
        assert_string_equal(r.reason, reason);
        assert_string_equal(r.message, message);
}

static void test_resources(void **state)
{
        struct admit_node node = test_node();
        struct pod *a =
                mk_pod("a", "api", "{\"containers\": [" C("{\"requests\": {\"cpu\": \"1500m\"}}") "]}");
        struct pod *b =
                mk_pod("b", "api", "{\"containers\": [" C("{\"requests\": {\"cpu\": \"600m\"}}") "]}");
        struct pod *exact =
                mk_pod("e", "api", "{\"containers\": [" C("{\"limits\": {\"cpu\": \"500m\"}}") "]}");
        struct pod *none = mk_pod("z", "api", "{\"containers\": [" C("{}") "]}");
        struct pod *others[] = {a};

        expect(&node, NULL, 0, a, NULL, NULL);
        expect(&node, others, 1, b, "OutOfcpu",
               "Node didn't have enough resource: cpu, requested: 600, used: 1500, capacity: 2000");
        expect(&node, others, 1, exact, NULL, NULL); /* requests default to limits; 2000 fits 2000 */
        struct pod *full[] = {a, exact};
        expect(&node, full, 2, none, NULL, NULL); /* no request: only the pod count matters */

        struct pod *mem =
                mk_pod("m", "api", "{\"containers\": [" C("{\"requests\": {\"memory\": \"5Gi\"}}") "]}");
        expect(&node, NULL, 0, mem, "OutOfmemory",
               "Node didn't have enough resource: memory, requested: 5368709120, used: 0, capacity: "
               "4294967296");
        struct pod *eph =
                mk_pod("s", "api",
                       "{\"containers\": [" C("{\"requests\": {\"ephemeral-storage\": \"11Gi\"}}") "]}");
        expect(&node, NULL, 0, eph, "OutOfephemeral-storage",
               "Node didn't have enough resource: ephemeral-storage, requested: 11811160064, used: 0, "
               "capacity: 10737418240");

        node.pods = 1;
        expect(&node, others, 1, none, "OutOfpods",
               "Node didn't have enough resource: pods, requested: 1, used: 1, capacity: 1");
        node.pods = 110;

        /* Init containers: the largest of them against the sum of the app containers; then the overhead. */
        struct pod *init = mk_pod(
                "i", "api",
                "{\"initContainers\": [" CI("{\"requests\": {\"cpu\": \"700m\"}}") "], \"containers\": [" C(
                        "{\"requests\": {\"cpu\": \"100m\"}}") ", {\"name\": \"d\", \"image\": \"busybox\", "
                                                               "\"resources\": {\"requests\": {\"cpu\": "
                                                               "\"200m\"}}}]}");
        struct admit_request req;
        admission_pod_request(init, true, &node, &req);
        assert_int_equal(req.cpu_m, 700);
        admission_request_clear(&req);
        expect(&node, others, 1, init, "OutOfcpu",
               "Node didn't have enough resource: cpu, requested: 700, used: 1500, capacity: 2000");
        struct pod *over =
                mk_pod("o", "api",
                       "{\"overhead\": {\"cpu\": \"250m\", \"memory\": \"64Mi\"}, \"containers\": [" C(
                               "{\"requests\": {\"cpu\": \"300m\"}}") "]}");
        admission_pod_request(over, true, &node, &req);
        assert_int_equal(req.cpu_m, 550);
        assert_int_equal(req.memory, 64 << 20);
        admission_request_clear(&req);
        expect(&node, others, 1, over, "OutOfcpu",
               "Node didn't have enough resource: cpu, requested: 550, used: 1500, capacity: 2000");
        /* The others' overhead counts too. */
        struct pod *with_over[] = {over};
        expect(&node, with_over, 1, a, "OutOfcpu",
               "Node didn't have enough resource: cpu, requested: 1500, used: 550, capacity: 2000");

        /* Requests that would overflow a sum saturate: never wrapped negative and admitted. */
        struct pod *huge = mk_pod(
                "h", "api",
                "{\"containers\": [" C(
                        "{\"requests\": {\"cpu\": \"9000000000000000\"}}") ", {\"name\": \"d\", "
                                                                           "\"image\": \"busybox\", "
                                                                           "\"resources\": {\"requests\": "
                                                                           "{\"cpu\": "
                                                                           "\"9000000000000000\"}}}]}");
        admission_pod_request(huge, true, &node, &req);
        assert_true(req.cpu_m == INT64_MAX);
        admission_request_clear(&req);
        struct admit_result hr;
        assert_int_equal(admission_check(&node, NULL, others, 1, huge, &hr), 0);
        assert_false(hr.admit);
        assert_string_equal(hr.reason, "OutOfcpu");
        struct pod *with_huge[] = {huge};
        assert_int_equal(admission_check(&node, NULL, with_huge, 1, huge, &hr), 0);
        assert_false(hr.admit);

        for (struct pod **p = (struct pod *[]){a, b, exact, none, mem, eph, init, over, huge, NULL}; *p; p++)
                pod_unref(*p);
        node_done(&node);
}

static void test_extended_resources(void **state)
{
        struct admit_node node = test_node();
        /* Unknown to the node: a cluster-level resource, not counted for app containers (1.20 quirk: init
         * containers still are). */
        struct pod *cluster = mk_pod(
                "c", "api", "{\"containers\": [" C("{\"limits\": {\"example.com/dongle\": \"3\"}}") "]}");
        expect(&node, NULL, 0, cluster, NULL, NULL);
        struct pod *init = mk_pod(
                "i", "api",
                "{\"initContainers\": [" CI(
                        "{\"limits\": {\"example.com/dongle\": \"1\"}}") "], "
                                                                         "\"containers\": [" C("{}") "]}");
        expect(&node, NULL, 0, init, "OutOfexample.com/dongle",
               "Node didn't have enough resource: example.com/dongle, requested: 1, used: 0, capacity: 0");
        /* Advertised: counted against what the others use. */
        struct pod *gpu =
                mk_pod("g", "api",
                       "{\"containers\": [" C("{\"limits\": {\"example.com/gpu\": \"2\"}, \"requests\": "
                                              "{\"example.com/gpu\": \"2\"}}") "]}");
        struct pod *gpu1 = mk_pod("h", "api",
                                  "{\"containers\": [" C("{\"limits\": {\"example.com/gpu\": \"1\"}}") "]}");
        expect(&node, NULL, 0, gpu, NULL, NULL);
        struct pod *others[] = {gpu};
        expect(&node, others, 1, gpu1, "OutOfexample.com/gpu",
               "Node didn't have enough resource: example.com/gpu, requested: 1, used: 2, capacity: 2");
        /* Huge pages: counted against the pool of their size; a size the node has none of refuses. */
        struct pod *huge =
                mk_pod("p", "api",
                       "{\"containers\": [" C("{\"limits\": {\"hugepages-2Mi\": \"4Mi\", \"memory\": "
                                              "\"64Mi\"}}") "]}");
        struct pod *huge2 =
                mk_pod("q", "api",
                       "{\"containers\": [" C("{\"limits\": {\"hugepages-2Mi\": \"6Mi\", \"cpu\": "
                                              "\"1m\"}}") "]}");
        struct pod *huge1g =
                mk_pod("r", "api",
                       "{\"containers\": [" C("{\"limits\": {\"hugepages-1Gi\": \"1Gi\", \"memory\": "
                                              "\"64Mi\"}}") "]}");
        expect(&node, NULL, 0, huge, NULL, NULL);
        struct pod *with_huge[] = {huge};
        expect(&node, with_huge, 1, huge2, "OutOfhugepages-2Mi",
               "Node didn't have enough resource: hugepages-2Mi, requested: 6291456, used: 4194304, "
               "capacity: "
               "8388608");
        expect(&node, NULL, 0, huge1g, "OutOfhugepages-1Gi",
               "Node didn't have enough resource: hugepages-1Gi, requested: 1073741824, used: 0, capacity: "
               "0");

        /* Decoding refuses what the API server would. */
        const char *bad[] = {
                "{\"containers\": [" C("{\"limits\": {\"example.com/gpu\": \"500m\"}}") "]}",
                "{\"containers\": [" C("{\"requests\": {\"example.com/gpu\": \"1\"}}") "]}",
                "{\"containers\": [" C("{\"requests\": {\"example.com/gpu\": \"1\"}, \"limits\": "
                                       "{\"example.com/gpu\": \"2\"}}") "]}",
                "{\"containers\": [" C("{\"requests\": {\"dongles\": \"1\"}}") "]}",
                "{\"containers\": [" C("{\"requests\": {\"ephemeral-storage\": \"2Gi\"}, \"limits\": "
                                       "{\"ephemeral-storage\": \"1Gi\"}}") "]}",
                "{\"containers\": [" C("{\"limits\": {\"hugepages-2Mi\": \"2Mi\"}}") "]}",
                "{\"containers\": [" C(
                        "{\"requests\": {\"hugepages-2Mi\": \"2Mi\", \"memory\": \"1Mi\"}}") "]}",
        };
        const char *why[] = {"must be an integer",
                             "Limit must be set for non overcommitable resources",
                             "must be equal to example.com/gpu limit",
                             "must be a standard resource for containers",
                             "must be less than or equal to ephemeral-storage limit",
                             "resources: Forbidden: HugePages require cpu or memory",
                             "Limit must be set for non overcommitable resources"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                json_t *obj = json_pack("{s:{s:s, s:s}, s:o}", "metadata", "name", "x", "uid", "x", "spec",
                                        json_loads(bad[i], 0, NULL));
                pod_json_apply_defaults(obj);
                struct api_problems pr = {0};
                assert_null(pod_from_json(obj, &pr));
                _cleanup_free_ char *e = api_problems_errors(&pr);
                if (!strstr(e, why[i]))
                        fail_msg("\"%s\" does not say \"%s\"", e, why[i]);
                api_problems_clear(&pr);
                json_decref(obj);
        }
        for (struct pod **p = (struct pod *[]){cluster, init, gpu, gpu1, huge, huge2, huge1g, NULL}; *p; p++)
                pod_unref(*p);
        node_done(&node);
}

static void test_critical_pods(void **state)
{
        struct admit_node node = test_node();
        struct pod *a = mk_pod("a", "api", "{\"containers\": [" C("{\"requests\": {\"cpu\": \"2\"}}") "]}");
        struct pod *others[] = {a};
        /* Static pods and system-critical priorities are never refused for resources. */
        struct pod *st =
                mk_pod("s", "file", "{\"containers\": [" C("{\"requests\": {\"cpu\": \"1\"}}") "]}");
        struct pod *prio = mk_pod(
                "p", "api",
                "{\"priority\": 2000001000, \"containers\": [" C("{\"requests\": {\"cpu\": \"1\"}}") "]}");
        struct pod *low =
                mk_pod("l", "api",
                       "{\"priority\": 1000, \"containers\": [" C("{\"requests\": {\"cpu\": \"1\"}}") "]}");
        assert_true(pod_is_critical(st));
        assert_true(pod_is_critical(prio));
        assert_false(pod_is_critical(low));
        expect(&node, others, 1, st, NULL, NULL);
        expect(&node, others, 1, prio, NULL, NULL);
        expect(&node, others, 1, low, "OutOfcpu",
               "Node didn't have enough resource: cpu, requested: 1000, used: 2000, capacity: 2000");
        /* Upstream would preempt a to make room; with nothing to preempt it refuses. */
        struct pod *huge =
                mk_pod("h", "file", "{\"containers\": [" C("{\"requests\": {\"cpu\": \"3\"}}") "]}");
        expect(&node, NULL, 0, huge, "UnexpectedAdmissionError",
               "Unexpected error while attempting to recover from admission failure: preemption: error "
               "finding "
               "a set of pods to preempt: no set of running pods found to reclaim resources: [(res: cpu, q: "
               "1000), ]");
        struct pod *st2 =
                mk_pod("s2", "file", "{\"containers\": [" C("{\"requests\": {\"cpu\": \"2\"}}") "]}");
        struct pod *crit[] = {st2}; /* critical: not preemptable */
        expect(&node, crit, 1, prio, "UnexpectedAdmissionError",
               "Unexpected error while attempting to recover from admission failure: preemption: error "
               "finding "
               "a set of pods to preempt: no set of running pods found to reclaim resources: [(res: cpu, q: "
               "1000), ]");
        pod_unref(st2);
        expect(&node, others, 1, huge, "UnexpectedAdmissionError",
               "Unexpected error while attempting to recover from admission failure: preemption: error "
               "finding "
               "a set of pods to preempt: no set of running pods found to reclaim resources: [(res: cpu, q: "
               "1000), ]");
        pod_unref(huge);
        /* ... but still for everything else. */
        struct pod *st_sel = mk_pod("t", "file",
                                    "{\"nodeSelector\": {\"zone\": \"b\"}, \"containers\": [" C(
                                            "{\"requests\": {\"cpu\": \"1\"}}") "]}");
        expect(&node, others, 1, st_sel, "NodeAffinity", "Predicate NodeAffinity failed");
        for (struct pod **p = (struct pod *[]){a, st, prio, low, st_sel, NULL}; *p; p++)
                pod_unref(*p);
        node_done(&node);
}

/* One required term, as JSON, against the test node. */
static bool term(const char *t)
{
        struct admit_node node = test_node();
        _cleanup_free_ char *s = strdup_printf(
                "{\"affinity\": {\"nodeAffinity\": {\"requiredDuringSchedulingIgnoredDuringExecution\": "
                "{\"nodeSelectorTerms\": [%s]}}}}",
                t);
        json_t *spec = json_loads(s, 0, NULL);
        assert_non_null(spec);
        bool ok = admission_node_affinity_matches(spec, node.name, node.labels);
        json_decref(spec);
        node_done(&node);
        return ok;
}

#define EXPR(k, op, vals) "{\"matchExpressions\": [{\"key\": \"" k "\", \"operator\": \"" op "\"" vals "}]}"

static void test_node_affinity(void **state)
{
        assert_true(term(EXPR("zone", "In", ", \"values\": [\"b\", \"a\"]")));
        assert_false(term(EXPR("zone", "In", ", \"values\": [\"b\"]")));
        assert_false(term(EXPR("nope", "In", ", \"values\": [\"a\"]")));
        assert_true(term(EXPR("zone", "NotIn", ", \"values\": [\"b\"]")));
        assert_false(term(EXPR("zone", "NotIn", ", \"values\": [\"a\"]")));
        assert_true(term(EXPR("nope", "NotIn", ", \"values\": [\"a\"]")));
        assert_true(term(EXPR("zone", "Exists", "")));
        assert_false(term(EXPR("nope", "Exists", "")));
        assert_true(term(EXPR("nope", "DoesNotExist", "")));
        assert_false(term(EXPR("zone", "DoesNotExist", "")));
        assert_true(term(EXPR("gen", "Gt", ", \"values\": [\"4\"]")));
        assert_false(term(EXPR("gen", "Gt", ", \"values\": [\"5\"]")));
        assert_true(term(EXPR("gen", "Lt", ", \"values\": [\"6\"]")));
        assert_false(term(EXPR("gen", "Lt", ", \"values\": [\"5\"]")));
        assert_false(term(EXPR("zone", "Gt", ", \"values\": [\"1\"]"))); /* "a" is no integer */
        assert_false(term(EXPR("nope", "Lt", ", \"values\": [\"9\"]")));
        /* Requirements that do not parse match nothing. */
        assert_false(term(EXPR("gen", "Gt", ", \"values\": [\"x\"]")));
        assert_false(term(EXPR("gen", "Gt", ", \"values\": [\"1\", \"2\"]")));
        assert_false(term(EXPR("zone", "In", ", \"values\": []")));
        assert_false(term(EXPR("zone", "Exists", ", \"values\": [\"a\"]")));
        assert_false(term(EXPR("zone", "Like", ", \"values\": [\"a\"]")));
        assert_false(term(EXPR("bad key!", "DoesNotExist", "")));
        /* Terms are ORed, requirements ANDed; an empty term is skipped; no terms match nothing. */
        assert_true(term(EXPR("zone", "In", ", \"values\": [\"b\"]") ", " EXPR("zone", "Exists", "")));
        assert_false(term("{\"matchExpressions\": [{\"key\": \"zone\", \"operator\": \"Exists\"}, {\"key\": "
                          "\"gen\", \"operator\": \"DoesNotExist\"}]}"));
        assert_false(term("{}"));
        assert_false(term(""));
        /* matchFields: metadata.name, In and NotIn with one value. */
        assert_true(term("{\"matchFields\": [{\"key\": \"metadata.name\", \"operator\": \"In\", \"values\": "
                         "[\"n1\"]}]}"));
        assert_false(
                term("{\"matchFields\": [{\"key\": \"metadata.name\", \"operator\": \"In\", \"values\": "
                     "[\"n2\"]}]}"));
        assert_true(term("{\"matchFields\": [{\"key\": \"metadata.name\", \"operator\": \"NotIn\", "
                         "\"values\": [\"n2\"]}]}"));
        assert_false(
                term("{\"matchFields\": [{\"key\": \"metadata.name\", \"operator\": \"In\", \"values\": "
                     "[\"n1\", \"n2\"]}]}"));
        assert_false(term("{\"matchFields\": [{\"key\": \"metadata.name\", \"operator\": \"Exists\"}]}"));

        /* nodeSelector, and the verdict through admission_check. */
        struct admit_node node = test_node();
        struct pod *sel =
                mk_pod("s", "api", "{\"nodeSelector\": {\"zone\": \"a\"}, \"containers\": [" C("{}") "]}");
        struct pod *miss = mk_pod("m", "api",
                                  "{\"nodeSelector\": {\"zone\": \"a\", \"disk\": \"ssd\"}, "
                                  "\"containers\": [" C("{}") "]}");
        struct pod *none =
                mk_pod("n", "api",
                       "{\"affinity\": {\"nodeAffinity\": {\"requiredDuringSchedulingIgnoredDuring"
                       "Execution\": {\"nodeSelectorTerms\": []}}}, \"containers\": [" C("{}") "]}");
        struct pod *pref =
                mk_pod("p", "api",
                       "{\"affinity\": {\"nodeAffinity\": {\"preferredDuringSchedulingIgnoredDuring"
                       "Execution\": [{\"weight\": 1, \"preference\": {\"matchExpressions\": [{\"key\": "
                       "\"zone\", \"operator\": \"In\", \"values\": [\"b\"]}]}}]}}, \"containers\": [" C(
                               "{}") "]}");
        expect(&node, NULL, 0, sel, NULL, NULL);
        expect(&node, NULL, 0, miss, "NodeAffinity", "Predicate NodeAffinity failed");
        expect(&node, NULL, 0, none, "NodeAffinity", "Predicate NodeAffinity failed");
        expect(&node, NULL, 0, pref, NULL, NULL);
        for (struct pod **p = (struct pod *[]){sel, miss, none, pref, NULL}; *p; p++)
                pod_unref(*p);
        node_done(&node);
}

static void test_node_name_and_os(void **state)
{
        struct admit_node node = test_node();
        struct pod *mine = mk_pod("m", "api", "{\"nodeName\": \"n1\", \"containers\": [" C("{}") "]}");
        struct pod *other = mk_pod("o", "api", "{\"nodeName\": \"n2\", \"containers\": [" C("{}") "]}");
        struct pod *win =
                mk_pod("w", "file", "{\"os\": {\"name\": \"windows\"}, \"containers\": [" C("{}") "]}");
        struct pod *lin =
                mk_pod("l", "file", "{\"os\": {\"name\": \"linux\"}, \"containers\": [" C("{}") "]}");
        expect(&node, NULL, 0, mine, NULL, NULL);
        expect(&node, NULL, 0, other, "NodeName", "Predicate NodeName failed");
        expect(&node, NULL, 0, win, "PodOSNotSupported",
               "Failed to admit pod as the OS field doesn't match node OS");
        expect(&node, NULL, 0, lin, NULL, NULL);
        for (struct pod **p = (struct pod *[]){mine, other, win, lin, NULL}; *p; p++)
                pod_unref(*p);
        node_done(&node);
}

static struct pod *port_pod(const char *uid, const char *port)
{
        _cleanup_free_ char *spec = strdup_printf(
                "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\", \"ports\": [%s]}]}", port);
        return mk_pod(uid, "api", spec);
}

static void test_host_ports(void **state)
{
        struct admit_node node = test_node();
        struct pod *tcp = port_pod("a", "{\"containerPort\": 80, \"hostPort\": 8080}");
        struct pod *others[] = {tcp};
        struct {
                const char *port;
                bool conflict;
        } cases[] = {
                {"{\"containerPort\": 81, \"hostPort\": 8080}", true},
                {"{\"containerPort\": 80, \"hostPort\": 8080, \"protocol\": \"UDP\"}", false},
                {"{\"containerPort\": 80, \"hostPort\": 8081}", false},
                {"{\"containerPort\": 80, \"hostPort\": 8080, \"hostIP\": \"10.0.0.1\"}", true},
                {"{\"containerPort\": 8080}", false},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct pod *p = port_pod("b", cases[i].port);
                if (cases[i].conflict)
                        expect(&node, others, 1, p, "NodePorts", "Predicate NodePorts failed");
                else
                        expect(&node, others, 1, p, NULL, NULL);
                pod_unref(p);
        }
        /* Specific addresses: only the same one (or 0.0.0.0) conflicts. */
        struct pod *ip1 =
                port_pod("c", "{\"containerPort\": 80, \"hostPort\": 9090, \"hostIP\": \"10.0.0.1\"}");
        struct pod *ip2 =
                port_pod("d", "{\"containerPort\": 80, \"hostPort\": 9090, \"hostIP\": \"10.0.0.2\"}");
        struct pod *any = port_pod("e", "{\"containerPort\": 80, \"hostPort\": 9090}");
        struct pod *o1[] = {ip1};
        expect(&node, o1, 1, ip2, NULL, NULL);
        expect(&node, o1, 1, ip1, "NodePorts", "Predicate NodePorts failed");
        expect(&node, o1, 1, any, "NodePorts", "Predicate NodePorts failed");
        for (struct pod **p = (struct pod *[]){tcp, ip1, ip2, any, NULL}; *p; p++)
                pod_unref(*p);
        node_done(&node);
}

static void test_taints(void **state)
{
        struct admit_node node = test_node();
        json_array_append_new(node.taints, json_pack("{s:s, s:s, s:s}", "key", "dedicated", "value", "db",
                                                     "effect", "NoExecute"));
        json_array_append_new(node.taints, json_pack("{s:s, s:s}", "key", "soft", "effect", "NoSchedule"));
        struct {
                const char *tolerations;
                bool ok;
        } cases[] = {
                {"[]", false},
                {"[{\"key\": \"dedicated\", \"operator\": \"Exists\"}]", true},
                {"[{\"key\": \"dedicated\", \"value\": \"db\"}]", true},
                {"[{\"key\": \"dedicated\", \"operator\": \"Equal\", \"value\": \"web\"}]", false},
                {"[{\"key\": \"dedicated\", \"operator\": \"Exists\", \"effect\": \"NoSchedule\"}]", false},
                {"[{\"operator\": \"Exists\"}]", true},
                {"[{\"key\": \"dedicated\", \"operator\": \"Bogus\"}]", false},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *spec = strdup_printf(
                        "{\"tolerations\": %s, \"containers\": [" C("{}") "]}", cases[i].tolerations);
                struct pod *p = mk_pod("t", "api", spec);
                if (cases[i].ok)
                        expect(&node, NULL, 0, p, NULL, NULL);
                else
                        expect(&node, NULL, 0, p, "TaintToleration", "Predicate TaintToleration failed");
                pod_unref(p);
        }
        /* Static pods are not checked against taints. */
        struct pod *st = mk_pod("s", "file", "{\"containers\": [" C("{}") "]}");
        expect(&node, NULL, 0, st, NULL, NULL);
        pod_unref(st);
        node_done(&node);
}

static void expect_sysctl(const struct sysctl_whitelist *w, const char *spec, const char *message)
{
        struct admit_node node = test_node();
        struct pod *p = mk_pod("x", "api", spec);
        struct admit_result r;
        assert_int_equal(admission_check(&node, w, NULL, 0, p, &r), 0);
        if (message) {
                assert_false(r.admit);
                assert_string_equal(r.reason, "SysctlForbidden");
                assert_string_equal(r.message, message);
        } else if (!r.admit)
                fail_msg("refused: %s", r.message);
        pod_unref(p);
        node_done(&node);
}

/* A pod naming extra networks in cubelet.io/extra-networks. */
static struct pod *extra_net_pod(const char *networks)
{
        json_t *obj = json_pack("{s:{s:s, s:s, s:s, s:{s:s, s:s}}, s:{s:[{s:s, s:s}]}}", "metadata", "name",
                                "x", "namespace", "default", "uid", "x", "annotations",
                                "kubernetes.io/config.source", "api", "cubelet.io/extra-networks", networks,
                                "spec", "containers", "name", "c", "image", "busybox");
        pod_json_apply_defaults(obj);
        struct api_problems pr = {0};
        struct pod *p = pod_from_json(obj, &pr);
        json_decref(obj);
        assert_non_null(p);
        api_problems_clear(&pr);
        return p;
}

static void expect_extra(char *const *allowed, const char *networks, const char *message)
{
        struct admit_node node = test_node();
        node.allowed_extra_networks = allowed;
        struct pod *p = extra_net_pod(networks);
        struct admit_result r;
        assert_int_equal(admission_check(&node, NULL, NULL, 0, p, &r), 0);
        if (message) {
                assert_false(r.admit);
                assert_string_equal(r.reason, "ExtraNetworkForbidden");
                assert_string_equal(r.message, message);
        } else if (!r.admit)
                fail_msg("refused: %s", r.message);
        pod_unref(p);
        node_done(&node);
}

/* cubelet.io/extra-networks names only networks of allowedExtraNetworks, at most 8 of them. */
static void test_extra_networks(void **state)
{
        char *allowed[] = {(char *) "a", (char *) "b", (char *) "c", (char *) "d", (char *) "e",
                           (char *) "f", (char *) "g", (char *) "h", (char *) "i", NULL};
        expect_extra(NULL, "", NULL); /* naming none is fine anywhere */
        expect_extra(NULL, " , ", NULL);
        expect_extra(
                NULL, "a",
                "extra network \"a\" (annotation cubelet.io/extra-networks) is not allowed on this node "
                "(allowedExtraNetworks: none)");
        expect_extra(allowed, "a, b,c", NULL);
        expect_extra(
                allowed, "a,cubelet",
                "extra network \"cubelet\" (annotation cubelet.io/extra-networks) is not allowed on this "
                "node (allowedExtraNetworks: a, b, c, d, e, f, g, h, i)");
        expect_extra(
                allowed, "A", /* names match exactly */
                "extra network \"A\" (annotation cubelet.io/extra-networks) is not allowed on this node "
                "(allowedExtraNetworks: a, b, c, d, e, f, g, h, i)");
        expect_extra(allowed, "a,b,c,d,e,f,g,h", NULL);
        expect_extra(allowed, "a,b,c,d,e,f,g,h,i",
                     "too many extra networks (annotation cubelet.io/extra-networks): 9, at most 8");
        expect_extra(allowed, "a,a,a,a,a,a,a,a,a",
                     "too many extra networks (annotation cubelet.io/extra-networks): 9, at most 8");
        /* The same check for the delegate, on the pod alone. */
        struct pod *p = extra_net_pod("b");
        _cleanup_free_ char *none = admission_extra_networks_problem(p, allowed),
                            *why = admission_extra_networks_problem(p, NULL);
        assert_null(none);
        assert_non_null(why);
        pod_unref(p);
}

#define SYSCTL_POD(extra, name)                                                                             \
        "{" extra "\"securityContext\": {\"sysctls\": [{\"name\": \"" name "\", \"value\": \"1\"}]}, "      \
        "\"containers\": [" C("{}") "]}"

static void test_sysctls(void **state)
{
        _cleanup_free_ char *err = NULL;
        struct sysctl_whitelist *safe = sysctl_whitelist_new(NULL, &err);
        assert_non_null(safe);
        for (const char *const *s = admission_safe_sysctls; *s; s++) {
                _cleanup_free_ char *spec = strdup_printf(
                        "{\"securityContext\": {\"sysctls\": [{\"name\": \"%s\", \"value\": \"1\"}]}, "
                        "\"containers\": [" C("{}") "]}",
                        *s);
                expect_sysctl(safe, spec, NULL);
        }
        expect_sysctl(safe, SYSCTL_POD("", "kernel.msgmax"),
                      "forbidden sysctl: \"kernel.msgmax\" not whitelisted");
        expect_sysctl(safe, SYSCTL_POD("\"hostNetwork\": true, ", "net.ipv4.tcp_syncookies"),
                      "forbidden sysctl: \"net.ipv4.tcp_syncookies\" not allowed with host net enabled");
        expect_sysctl(safe, SYSCTL_POD("\"hostIPC\": true, ", "kernel.shm_rmid_forced"),
                      "forbidden sysctl: \"kernel.shm_rmid_forced\" not allowed with host ipc enabled");
        expect_sysctl(safe, SYSCTL_POD("\"hostIPC\": true, ", "net.ipv4.tcp_syncookies"), NULL);

        char *allowed[] = {(char *) "kernel.msg*", (char *) "net.core.somaxconn", NULL};
        struct sysctl_whitelist *w = sysctl_whitelist_new(allowed, &err);
        assert_non_null(w);
        expect_sysctl(w, SYSCTL_POD("", "kernel.msgmax"), NULL);
        expect_sysctl(w, SYSCTL_POD("", "net.core.somaxconn"), NULL);
        expect_sysctl(w, SYSCTL_POD("", "net.core.rmem_max"),
                      "forbidden sysctl: \"net.core.rmem_max\" not whitelisted");
        expect_sysctl(w, SYSCTL_POD("\"hostIPC\": true, ", "kernel.msgmnb"),
                      "forbidden sysctl: \"kernel.msgmnb\" not allowed with host ipc enabled");
        sysctl_whitelist_free(w);
        sysctl_whitelist_free(safe);

        /* Patterns upstream refuses at start. */
        struct {
                const char *pattern, *err;
        } bad[] = {
                {"kernel.*", "the sysctls \"kernel.*\" are not known to be namespaced"},
                {"*", "the sysctls \"*\" are not known to be namespaced"},
                {"vm.swappiness", "the sysctl \"vm.swappiness\" are not known to be namespaced"},
                {"net..core", "sysctl \"net..core\" must have at most 253 characters and match regex "
                              "([a-z0-9]([-_a-z0-9]*[a-z0-9])?\\.)*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]"},
                {"net.*.x", "must have at most 253 characters"},
                {"Net.core", "must have at most 253 characters"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *one[] = {(char *) bad[i].pattern, NULL};
                _cleanup_free_ char *e = NULL;
                assert_null(sysctl_whitelist_new(one, &e));
                if (!strstr(e, bad[i].err))
                        fail_msg("\"%s\": \"%s\" does not say \"%s\"", bad[i].pattern, e, bad[i].err);
        }
        assert_true(sysctl_pattern_valid("net.*"));
        assert_true(sysctl_pattern_valid("kernel.shm_rmid_forced"));
        assert_true(sysctl_pattern_valid("fs.mqueue.*"));
        assert_false(sysctl_pattern_valid("net.ipv4.conf.eth0-"));
        assert_string_equal(sysctl_namespace("kernel.sem"), "ipc");
        assert_string_equal(sysctl_namespace("fs.mqueue.msg_max"), "ipc");
        assert_string_equal(sysctl_namespace("net.ipv4.ip_forward"), "net");
        assert_null(sysctl_namespace("kernel.semx"));
}

/* ---- podconfig's order, and its active pods ---- */

struct recorder {
        char order[16][16];
        size_t n_order;
        size_t counted[16]; /* how many admitted pods each decision saw */
        int64_t budget_m;   /* cpu the node has */
};

static bool rec_admit(void *ud, struct pod *pod, struct pod *const *admitted, size_t n)
{
        struct recorder *r = ud;
        int64_t used = 0;
        for (size_t i = 0; i < n; i++)
                used += admitted[i]->containers[0].cpu_request_m;
        snprintf(r->order[r->n_order], sizeof r->order[0], "%s", pod->name);
        r->counted[r->n_order++] = n;
        return used + pod->containers[0].cpu_request_m <= r->budget_m;
}

static bool rec_finished(void *ud, const struct pod *pod)
{
        return streq(pod->name, "done");
}

static bool rec_running(void *ud, const char *uid)
{
        return streq(uid, "late");
}

static int no_sync(void *ud, struct pod *pod, bool periodic, struct sync_result *res)
{
        return 0;
}

static int no_kill(void *ud, const char *uid, int64_t grace_s, struct sync_result *res)
{
        return 0;
}

static struct pod *timed_pod(const char *name, const char *created, const char *cpu)
{
        _cleanup_free_ char *spec = strdup_printf(
                "{\"containers\": [{\"name\": \"c\", \"image\": \"busybox\", \"resources\": {\"requests\": "
                "{\"cpu\": \"%s\"}}}]}",
                cpu);
        struct pod *p = mk_pod(name, "api", spec);
        if (created)
                json_object_set_new(json_object_get(p->json, "metadata"), "creationTimestamp",
                                    json_string(created));
        return p;
}

static void test_podconfig_order(void **state)
{
        struct pod_workers_ops ops = {.sync = no_sync, .kill = no_kill};
        struct pod_workers *w;
        assert_int_equal(pod_workers_new(1, &ops, 0, &w), 0);
        struct podconfig *pc = podconfig_new(w);
        struct recorder rec = {.budget_m = 1000};
        struct podconfig_admission adm = {
                .admit = rec_admit, .finished = rec_finished, .running = rec_running, .userdata = &rec};
        podconfig_set_admission(pc, &adm);

        /* Arrival order b, a, late, c, done: admission order late (ran before), a, b, c; done is finished. */
        struct pod *a = timed_pod("a", "2026-01-01T00:00:01Z", "600m");
        struct pod *b = timed_pod("b", "2026-01-01T00:00:02Z", "300m");
        struct pod *late = timed_pod("late", "2026-01-01T00:00:09Z", "100m");
        struct pod *c = timed_pod("c", "2026-01-01T00:00:03Z", "200m");
        struct pod *done = timed_pod("done", "2026-01-01T00:00:00Z", "900m");
        struct pod *set1[] = {b, a, late, c, done};
        podconfig_set(pc, POD_SOURCE_API, set1, ELEMENTSOF(set1));
        assert_int_equal(rec.n_order, 4);
        assert_string_equal(rec.order[0], "late");
        assert_string_equal(rec.order[1], "a");
        assert_string_equal(rec.order[2], "b");
        assert_string_equal(rec.order[3], "c"); /* 100+600+300 used: refused, and never counted */
        assert_int_equal(rec.counted[3], 3);

        /* The same set again (a resync, a status change): nobody is decided twice. */
        podconfig_set(pc, POD_SOURCE_API, set1, ELEMENTSOF(set1));
        assert_int_equal(rec.n_order, 4);

        /* a leaves: a new pod sees late and b only (c was refused). */
        struct pod *d = timed_pod("d", NULL, "500m");
        struct pod *set2[] = {b, late, c, done, d};
        podconfig_set(pc, POD_SOURCE_API, set2, ELEMENTSOF(set2));
        assert_int_equal(rec.n_order, 5);
        assert_string_equal(rec.order[4], "d");
        assert_int_equal(rec.counted[4], 2);

        /* The eviction manager's candidates: the admitted pods still to run, each referenced (not c, refused,
         * nor done, finished); one being deleted is left out. */
        struct pod **act = NULL;
        size_t n_act = podconfig_active_pods(pc, &act);
        assert_int_equal(n_act, 3);
        assert_null(act[n_act]);
        char names[64] = "";
        for (size_t i = 0; i < n_act; i++) {
                strcat(names, act[i]->name);
                pod_unref(act[i]);
        }
        free(act);
        assert_string_equal(names, "blated"); /* b, late, d: the merged set's order */
        d->terminating = true;
        n_act = podconfig_active_pods(pc, &act);
        assert_int_equal(n_act, 2);
        for (size_t i = 0; i < n_act; i++)
                pod_unref(act[i]);
        free(act);

        podconfig_free(pc);
        pod_workers_free(w);
        for (struct pod **p = (struct pod *[]){a, b, late, c, done, d, NULL}; *p; p++)
                pod_unref(*p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resources),        cmocka_unit_test(test_extended_resources),
                cmocka_unit_test(test_critical_pods),    cmocka_unit_test(test_node_affinity),
                cmocka_unit_test(test_node_name_and_os), cmocka_unit_test(test_host_ports),
                cmocka_unit_test(test_taints),           cmocka_unit_test(test_sysctls),
                cmocka_unit_test(test_extra_networks),   cmocka_unit_test(test_podconfig_order),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
