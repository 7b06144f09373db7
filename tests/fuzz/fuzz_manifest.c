/* libFuzzer target for static pod manifests (files and the manifest URL's document): YAML/JSON parsing, Pod
 * decoding, defaulting, validation; the accepted pods' names (resolver, hostname, /etc/hosts), the same
 * bytes as a resolv.conf, and the $(VAR) expansion of what a container gets (command, args, subPathExpr). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "dns.h"
#include "expansion.h"
#include "manifest.h"
#include "pod.h"
#include "util.h"
#include "volume.h"

#define FUZZ_NODE "fuzz-node"
#define FUZZ_PATH "/etc/fuzz.yaml"
#define FUZZ_URL  "http://10.0.0.1/fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Expansion never grows a string when nothing is defined (an undefined reference is written back, "$$"
 * shrinks), and a subPathExpr that expands is checked like a subPath. */
static void check_expansion(const struct container *ct)
{
        char **env = NULL;
        for (size_t i = 0; i < ct->n_env; i++) {
                strv_push(&env, xstrdup(ct->env[i].name ? ct->env[i].name : ""));
                strv_push(&env, xstrdup(ct->env[i].value ? ct->env[i].value : ""));
        }
        char **lists[] = {ct->command, ct->args};
        for (size_t l = 0; l < 2; l++)
                for (char **a = lists[l]; a && *a; a++) {
                        char *bare = expand_env(*a, NULL, NULL), *full = expand_env(*a, env, NULL);
                        if (strlen(bare) > strlen(*a)) {
                                fprintf(stderr, "expansion without variables grew \"%s\"\n", *a);
                                abort();
                        }
                        free(bare);
                        free(full);
                }
        for (size_t m = 0; m < ct->n_mounts; m++) {
                char *sub = NULL, err[256];
                if (ct->mounts[m].sub_path_expr &&
                    expand_sub_path(ct->mounts[m].sub_path_expr, env, &sub, err, sizeof err) == 0) {
                        sub_path_check(sub, err, sizeof err);
                        free(sub);
                }
        }
        strv_free(env);
}

/* Properties every decode must have; a violation is a bug like a crash is. */
static void check_result(const struct manifest_result *r, const char *source)
{
        if (r->error && (r->n_pods || r->pods)) {
                fprintf(stderr, "pods returned with an error: %s\n", r->error);
                abort();
        }
        for (size_t i = 0; i < r->n_pods; i++) {
                const struct pod *p = r->pods[i];
                const char *hash = pod_annotation(p, "kubernetes.io/config.hash");
                if (!p->name || !str_has_suffix(p->name, "-" FUZZ_NODE) || !p->namespace || !p->uid ||
                    !p->uid[0] || !hash || !streq(hash, p->uid) || !streq_ptr(p->node_name, FUZZ_NODE) ||
                    !streq_ptr(pod_annotation(p, "kubernetes.io/config.source"), source) ||
                    p->n_containers == 0 || !p->restart_policy || p->termination_grace_period < 0) {
                        fprintf(stderr, "accepted pod without static-pod identity or defaults\n");
                        abort();
                }
                for (size_t c = 0; c < p->n_containers; c++) {
                        const struct container *ct = &p->containers[c];
                        if (!ct->name || !ct->image || !ct->image[0] || !ct->image_pull_policy ||
                            strlen(ct->hash) != 16) {
                                fprintf(stderr, "accepted container without name, image or defaults\n");
                                abort();
                        }
                        check_expansion(ct);
                }
        }
}

/* What the sync makes of an accepted pod's names: never a crash, and the resolver within its limits. */
static void check_names(const struct pod *p)
{
        char *dns[] = {"10.96.0.10", "fd00::a", NULL};
        struct dns_settings s = {.cluster_dns = dns, .cluster_domain = "cluster.local", .resolv_conf = ""};
        struct resolv r = {0};
        char **events = NULL, *err = NULL, *host = NULL, *domain = NULL;
        if (pod_dns_config(&s, p, &r, &events, &err) >= 0 &&
            (strv_length(r.servers) > 3 || strv_length(r.searches) > 6)) {
                fprintf(stderr, "resolver over its limits\n");
                abort();
        }
        resolv_done(&r);
        strv_free(events);
        free(err);
        err = NULL;
        if (pod_hostname_domain(p, "cluster.local", &host, &domain, &err) >= 0) {
                char *ips[] = {"10.88.0.5", NULL};
                if (strlen(host) > 63) {
                        fprintf(stderr, "hostname over 63 characters\n");
                        abort();
                }
                free(hosts_managed_content(ips, host, domain, p));
                free(host);
                free(domain);
        }
        free(err);
        err = NULL;
        if (pod_kernel_hostname(p, "cluster.local", &host, &err) >= 0)
                free(host);
        free(err);
}

/* Hugepages as the sync reads them: each request's page size, each container's sum per size, and an emptyDir
 * of a HugePages medium's mount option, which names a page size when there is one. */
static void check_hugepages(const struct pod *p)
{
        for (size_t c = 0; c < p->n_containers; c++)
                for (size_t i = 0; i < p->containers[c].n_scalar_requests; i++) {
                        int64_t size = pod_hugepage_size(p->containers[c].scalar_requests[i].name);
                        if (size >= 0 && container_hugepages(&p->containers[c], size) < 0) {
                                fprintf(stderr, "negative hugepages\n");
                                abort();
                        }
                }
        for (size_t v = 0; v < p->n_volumes; v++) {
                char opt[64], err[256];
                const char *m = p->volumes[v].medium;
                if (m && str_has_prefix(m, "HugePages") &&
                    vol_hugepages_mount_option(p, m, opt, sizeof opt, err, sizeof err) == 0 &&
                    !str_has_prefix(opt, "pagesize=")) {
                        fprintf(stderr, "hugetlbfs option \"%s\"\n", opt);
                        abort();
                }
        }
}

/* Admission reads the spec's affinity, tolerations, sysctls and resources as they come: every decoded pod
 * goes through it (beside the others), and the verdict is the same twice. */
static void check_admission(const struct manifest_result *r)
{
        static struct resource_qty scalars[] = {{(char *) "hugepages-2Mi", 0},
                                                {(char *) "example.com/gpu", 4}};
        static char *allowed[] = {(char *) "kernel.msg*", (char *) "net.core.somaxconn", NULL};
        char *err = NULL;
        struct sysctl_whitelist *w = sysctl_whitelist_new(allowed, &err);
        json_t *labels = json_pack("{s:s, s:s}", "kubernetes.io/hostname", FUZZ_NODE, "zone", "a");
        json_t *taints = json_pack("[{s:s, s:s, s:s}]", "key", "k", "value", "v", "effect", "NoExecute");
        struct admit_node node = {.name = FUZZ_NODE,
                                  .labels = labels,
                                  .taints = taints,
                                  .cpu_m = 2000,
                                  .memory = 1LL << 30,
                                  .ephemeral = 1LL << 30,
                                  .pods = 3,
                                  .scalars = scalars,
                                  .n_scalars = 2};
        for (size_t i = 0; i < r->n_pods; i++) {
                struct admit_result a, b;
                const struct pod *p = r->pods[i];
                json_t *spec = json_object_get(p->json, "spec");
                if (admission_check(&node, w, r->pods, i, p, &a) < 0 ||
                    admission_check(&node, w, r->pods, i, p, &b) < 0 || a.admit != b.admit ||
                    !streq(a.reason, b.reason) || !streq(a.message, b.message)) {
                        fprintf(stderr, "admission failed or is not deterministic\n");
                        abort();
                }
                (void) admission_tolerates_taints(json_object_get(spec, "tolerations"), taints, "NoExecute");
                (void) admission_node_affinity_matches(spec, FUZZ_NODE, labels);
        }
        sysctl_whitelist_free(w);
        json_decref(labels);
        json_decref(taints);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct manifest_result r1, r2;
        /* An exact-size copy, not NUL-terminated, so that reading past len is caught. */
        char *buf = malloc(size ? size : 1);

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        manifest_decode(FUZZ_PATH, buf, size, FUZZ_NODE, &r1);
        check_result(&r1, "file");
        for (size_t i = 0; i < r1.n_pods; i++) {
                check_names(r1.pods[i]);
                check_hugepages(r1.pods[i]);
        }
        check_admission(&r1);

        /* The same bytes as the node's resolv.conf (a C string: up to the first NUL). */
        char *text = strndup((const char *) data, size);
        struct resolv rv = {0};
        char *rerr = NULL;
        if (text)
                resolv_parse(text, &rv, &rerr);
        resolv_done(&rv);
        free(rerr);
        free(text);

        /* Decoding is deterministic: same verdict, same UIDs. */
        manifest_decode(FUZZ_PATH, buf, size, FUZZ_NODE, &r2);
        if (!!r1.error != !!r2.error || r1.n_pods != r2.n_pods) {
                fprintf(stderr, "second decode differs\n");
                abort();
        }
        for (size_t i = 0; i < r1.n_pods; i++)
                if (!streq(r1.pods[i]->uid, r2.pods[i]->uid)) {
                        fprintf(stderr, "UID not stable: %s vs %s\n", r1.pods[i]->uid, r2.pods[i]->uid);
                        abort();
                }

        /* The URL source decodes with the same code: same verdict, its own identity. */
        manifest_result_clear(&r2);
        manifest_decode_url(FUZZ_URL, buf, size, FUZZ_NODE, &r2);
        check_result(&r2, "http");
        if (!!r1.error != !!r2.error || r1.n_pods != r2.n_pods) {
                fprintf(stderr, "URL decode differs from the file decode\n");
                abort();
        }

        manifest_result_clear(&r1);
        manifest_result_clear(&r2);
        free(buf);
        return 0;
}
