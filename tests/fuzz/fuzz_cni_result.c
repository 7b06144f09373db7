/* libFuzzer target for what plugins and admins hand the cni library: plugin results and error objects, and
 * network configuration lists (with the execution config derived from them). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"
#include "cni_internal.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail)
{
        fprintf(stderr, "%s: %s\n", what, detail ? detail : "");
        abort();
}

/* Properties of every accepted result; a violation is a bug like a crash is. */
static void check_result(const struct cni_result *r)
{
        if (!cni_version_supported(r->cni_version) || !r->json)
                die("accepted result without a supported version", r->cni_version);
        for (size_t i = 0; i < r->n_interfaces; i++)
                if (!r->interfaces[i].name || !*r->interfaces[i].name)
                        die("accepted interface without a name", NULL);
        for (size_t i = 0; i < r->n_ips; i++) {
                const struct cni_ip *ip = &r->ips[i];
                if ((ip->family != 4 && ip->family != 6) || !ip->ip[0] || ip->prefix_len < 0 ||
                    ip->prefix_len > (ip->family == 4 ? 32 : 128))
                        die("accepted a bad address", ip->address);
                if (ip->interface < -1 || (ip->interface >= 0 && (size_t) ip->interface >= r->n_interfaces))
                        die("accepted an interface index out of range", ip->address);
        }
        for (size_t i = 0; i < r->n_routes; i++)
                if (!r->routes[i].dst)
                        die("accepted a route without dst", NULL);
}

static void fuzz_result(const char *buf, size_t size)
{
        struct cni_result *r = NULL, *again = NULL;
        struct cni_error err = {0};
        char **ips = NULL;

        if (cni_result_parse(buf, size, &r, &err) < 0) {
                if (r || !err.msg[0])
                        die("failed parse without a message, or with a result", err.msg);
                return;
        }
        check_result(r);
        if (cni_result_pod_ips(r, "eth0", &ips) > 2 || !ips)
                die("more than one pod IP per family", NULL);
        strv_free(ips);

        /* Every supported shape encodes and parses back to the same addresses. */
        static const char *const versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};
        for (size_t v = 0; v < ELEMENTSOF(versions); v++) {
                char *enc = NULL;
                if (cni_result_encode(r, versions[v], &enc) < 0)
                        die("encode failed", versions[v]);
                if (cni_result_parse(enc, strlen(enc), &again, &err) < 0)
                        die("re-encoded result does not parse", err.msg);
                if (again->n_ips != r->n_ips || again->n_interfaces != r->n_interfaces ||
                    again->n_routes != r->n_routes)
                        die("re-encoded result differs", enc);
                for (size_t i = 0; i < r->n_ips; i++)
                        if (strcmp(again->ips[i].ip, r->ips[i].ip) ||
                            again->ips[i].interface != r->ips[i].interface)
                                die("re-encoded address differs", enc);
                again = cni_result_free(again);
                free(enc);
        }
        cni_result_free(r);
}

/* The same bytes as a failed plugin's stdout and stderr: there is always one message naming the plugin. */
static void fuzz_failure(const char *buf, size_t size)
{
        struct cni__proc p = {.status = 1 << 8,
                              .out = (char *) buf,
                              .out_len = size,
                              .err = (char *) buf,
                              .err_len = size};
        struct cni_error err = {0};

        if (cni__plugin_failure("fuzz", &p, &err) != -EIO || !str_has_prefix(err.msg, "plugin fuzz: "))
                die("plugin failure without a proper message", err.msg);
        p.err_len = 0;
        if (cni__plugin_failure("fuzz", &p, &err) != -EIO || !str_has_prefix(err.msg, "plugin fuzz: "))
                die("plugin failure without a proper message", err.msg);
}

static void fuzz_conflist(const char *buf, size_t size)
{
        static const char caps_text[] = "{\"portMappings\":[{\"hostPort\":8080,\"containerPort\":80}],"
                                        "\"bandwidth\":{\"ingressRate\":1},\"ips\":[\"10.0.0.1/24\"]}";
        struct cni_network *n = NULL, *back = NULL;
        struct cni_error err = {0};

        if (cni_network_parse(buf, size, "fuzz.conflist", &n, &err) < 0) {
                if (n || !str_has_prefix(err.msg, "fuzz.conflist: "))
                        die("failed config parse without a message", err.msg);
                return;
        }
        if (!cni_version_supported(cni_network_version(n)) || cni_network_n_plugins(n) == 0)
                die("accepted a network without version or plugins", cni_network_name(n));

        json_t *caps = json_loads(caps_text, 0, NULL),
               *prev = json_loads("{\"cniVersion\":\"1.0.0\"}", 0, NULL);
        for (size_t i = 0; i < cni_network_n_plugins(n); i++) {
                json_t *in = cni__plugin_stdin(n, i, caps, i > 0 ? prev : NULL);
                const char *type = cni_network_plugin_type(n, i);
                if (!type ||
                    !streq_ptr(json_string_value(json_object_get(in, "name")), cni_network_name(n)) ||
                    !streq_ptr(json_string_value(json_object_get(in, "cniVersion")),
                               cni_network_version(n)) ||
                    json_object_get(in, "capabilities") ||
                    !streq_ptr(json_string_value(json_object_get(in, "type")), type))
                        die("bad execution config", type);
                char *text = json_dumps(in, JSON_COMPACT);
                if (!text)
                        die("execution config does not serialise", type);
                free(text);
                json_decref(in);
        }
        json_decref(caps);
        json_decref(prev);

        /* The list form parses back to the same network (the cache stores it so). */
        char *js = cni_network_to_json(n);
        if (cni_network_parse(js, strlen(js), NULL, &back, &err) < 0)
                die("list form does not parse back", err.msg);
        if (strcmp(cni_network_name(back), cni_network_name(n)) ||
            cni_network_n_plugins(back) != cni_network_n_plugins(n))
                die("list form differs", js);
        free(js);
        cni_network_unref(back);
        cni_network_unref(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exact-size copy, not NUL-terminated, so that reading past size is caught. */
        char *buf = malloc(size ? size : 1);

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        fuzz_result(buf, size);
        fuzz_failure(buf, size);
        fuzz_conflist(buf, size);
        free(buf);
        return 0;
}
