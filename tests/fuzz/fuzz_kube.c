/* libFuzzer target for the API client's decoders of outside input: kubeconfig files and watch-stream
 * lines. The first byte picks the decoder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "kubeconfig.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        const char *text = (const char *) data + 1;
        size_t len = size - 1;

        if (data[0] & 1) {
                struct kube_auth a = {0};
                char *err = NULL;
                int r = kubeconfig_parse(text, len, "/nonexistent", &a, &err);
                /* Properties: an error has a message and no result; success has a usable server. */
                if ((r < 0) != (err != NULL) || (r < 0 && a.server) ||
                    (r == 0 && (!a.server || (!str_has_prefix(a.server, "https://") &&
                                              !str_has_prefix(a.server, "http://"))))) {
                        fprintf(stderr, "kubeconfig_parse broke its contract (r=%d)\n", r);
                        abort();
                }
                free(err);
                kube_auth_clear(&a);
        } else {
                json_t *ev = NULL, *obj = NULL;
                const char *type = NULL;
                char *err = NULL;
                int r = kube_watch_decode(text, len, &ev, &type, &obj, &err);
                if ((r < 0) != (err != NULL) || (r == 0 && (!type || !json_is_object(obj)))) {
                        fprintf(stderr, "kube_watch_decode broke its contract (r=%d)\n", r);
                        abort();
                }
                free(err);
                json_decref(ev);
        }
        return 0;
}
