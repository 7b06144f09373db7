/* libFuzzer target for registry credentials (agent/images): docker config documents (config.json's
 * "auths", the legacy .dockercfg map, pull Secrets' data) into a keyring, lookups of image references
 * through it, and image references themselves. The first byte picks the document kind. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"
#include "reference.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        const char *text = (const char *) data + 1;
        size_t len = size - 1;
        char err[512];

        struct keyring *k = keyring_new();
        if (keyring_add_docker_config(k, text, len, data[0] & 1, err, sizeof err) < 0 && !err[0]) {
                fprintf(stderr, "keyring_add_docker_config failed without saying why\n");
                abort();
        }
        /* The input as an image reference too (up to a newline), and lookups of it and of fixed ones. */
        const char *nl = memchr(text, '\n', len);
        _cleanup_free_ char *line = strndup(text, nl ? (size_t) (nl - text) : len);
        struct image_ref ref;
        const char *repos[] = {"docker.io/library/busybox", "registry.example.com:5000/team/app", NULL};
        if (line && image_ref_parse(line, &ref, err, sizeof err) == 0) {
                if (!ref.repo || (!ref.tag && !ref.digest)) {
                        fprintf(stderr, "image_ref_parse gave no name, or neither tag nor digest\n");
                        abort();
                }
                repos[2] = ref.repo;
        }
        for (size_t i = 0; i < 3 && repos[i]; i++) {
                const struct docker_auth **a = NULL;
                size_t n = 0;
                keyring_lookup(k, repos[i], &a, &n);
                for (size_t j = 0; j < n; j++)
                        if (!a[j]->username || !a[j]->password)
                                abort();
                free(a);
        }
        if (repos[2])
                image_ref_done(&ref);
        keyring_free(k);
        return 0;
}
