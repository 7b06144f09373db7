/* libFuzzer target for the KubeletConfiguration file (--config, agent/config/config.c): YAML/JSON, each
 * field's checks, and /configz's view of what was accepted; the same bytes as a Go duration and as a
 * --kube-reserved value. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail)
{
        fprintf(stderr, "%s: %s\n", what, detail ? detail : "");
        abort();
}

/* Loads text into a fresh configuration; returns the verdict, *ret_json /configz's document on success. */
static int load(const char *text, size_t len, json_t **ret_json)
{
        struct cubelet_config c;
        char *err = NULL;

        config_init_defaults(&c);
        int r = config_load_buffer(&c, "/etc/fuzz.yaml", text, len, &err);
        if ((r < 0) != (err != NULL))
                die("config_load_buffer broke its contract", err);
        if (r < 0 && !str_has_prefix(err, "/etc/fuzz.yaml: "))
                die("error does not name the file", err);
        *ret_json = NULL;
        if (r == 0) {
                /* What was accepted is within range (the agent uses these without checking again). */
                if (c.healthz_port < 0 || c.healthz_port > 65535 || c.read_only_port < 0 ||
                    c.read_only_port > 65535 || c.port < 0 || c.port > 65535 || c.max_pods < 0 ||
                    c.file_check_ms <= 0 || c.sync_ms <= 0 || c.http_check_ms <= 0 || !c.runtime_endpoint ||
                    !c.pod_logs_dir || c.pod_logs_dir[0] != '/' || !c.healthz_bind || !c.cgroup_root)
                        die("accepted configuration out of range", NULL);
                *ret_json = config_to_json(&c);
                if (!json_is_object(*ret_json))
                        die("config_to_json gave no object", NULL);
        }
        free(err);
        config_done(&c);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exact-size copy, not NUL-terminated, so that reading past len is caught. */
        char *buf = malloc(size ? size : 1);
        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);

        json_t *first = NULL;
        if (load(buf, size, &first) == 0) {
                /* /configz's document is itself a configuration file that gives the same /configz. */
                char *text = json_dumps(first, JSON_COMPACT | JSON_SORT_KEYS);
                json_t *second = NULL;
                if (!text)
                        die("configz document does not serialise", NULL);
                if (load(text, strlen(text), &second) != 0)
                        die("configz document is refused as a configuration file", text);
                if (!json_equal(first, second)) {
                        char *t2 = json_dumps(second, JSON_COMPACT | JSON_SORT_KEYS);
                        fprintf(stderr, "first:  %s\nsecond: %s\n", text, t2);
                        die("configz document changes when loaded again", NULL);
                }
                free(text);
                json_decref(second);
        }
        json_decref(first);
        free(buf);

        /* The same bytes as a flag value (a C string: up to the first NUL). */
        char *s = strndup((const char *) data, size);
        if (!s)
                return 0;
        int64_t ms = -1;
        struct reservation r;
        reservation_clear(&r);
        char *err = NULL;
        if (parse_duration_ms(s, &ms) == 0 && ms < 0)
                die("negative duration accepted", s);
        if (parse_reserved(s, &r, &err) < 0) {
                if (!err)
                        die("parse_reserved failed without a message", s);
        } else if (r.cpu_m < -1 || r.memory < -1 || r.ephemeral < -1 || r.pids < -1) {
                die("negative reservation accepted", s);
        }
        free(err);
        free(s);
        return 0;
}
