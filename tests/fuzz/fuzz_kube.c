/* libFuzzer target for the API client's decoders of outside input: kubeconfig files and watch-stream
 * lines, and the pods in watch events as the API source decodes them. The first byte picks: bit 0
 * kubeconfig or watch line; for a watch line, bit 1 the event's object through the pod decoder too, bit 2
 * through the Service environment variables. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "client.h"
#include "kubeconfig.h"
#include "pod.h"
#include "services.h"
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
                /* A pod in the event becomes the pod cubelet runs (or is refused), the same each time. */
                if (r == 0 && (data[0] & 2)) {
                        struct pod *p1 = api_source_decode(obj), *p2 = api_source_decode(obj);
                        if (!p1 != !p2 ||
                            (p1 && (!streq_ptr(p1->uid, p2->uid) || !streq_ptr(p1->name, p2->name) ||
                                    p1->n_containers != p2->n_containers))) {
                                fprintf(stderr, "api_source_decode is not deterministic\n");
                                abort();
                        }
                        pod_unref(p1);
                        pod_unref(p2);
                }
                /* A Service in the event becomes the environment variables of the namespace's containers. */
                if (r == 0 && (data[0] & 4)) {
                        char **env = NULL;
                        service_env(obj, &env);
                        service_env(obj, &env); /* names already there are left alone */
                        size_t n = strv_length(env), once = 0;
                        char **env1 = NULL;
                        service_env(obj, &env1);
                        once = strv_length(env1);
                        if (n % 2 || n != once) {
                                fprintf(stderr, "service_env: %zu strings, %zu the first time\n", n, once);
                                abort();
                        }
                        strv_free(env);
                        strv_free(env1);
                }
                free(err);
                json_decref(ev);
        }
        return 0;
}
