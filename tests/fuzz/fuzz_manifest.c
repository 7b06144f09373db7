/* libFuzzer target for static pod manifests (files and the manifest URL's document): YAML/JSON parsing, Pod
 * decoding, defaulting, validation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "pod.h"
#include "util.h"

#define FUZZ_NODE "fuzz-node"
#define FUZZ_PATH "/etc/fuzz.yaml"
#define FUZZ_URL  "http://10.0.0.1/fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
                }
        }
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
