/* AppArmor as upstream: container profiles for CRI, and the admission check for what the host enforces. */
#include "apparmor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

void apparmor_host_probe(struct apparmor_host *h)
{
        _cleanup_free_ char *enabled = NULL, *mounts = NULL;
        const char *env = getenv("container");
        *h = (struct apparmor_host){0};
        /* upstream's IsAppArmorEnabled: the module, the parser, and not inside a container */
        if (access("/sys/kernel/security/apparmor", F_OK) < 0 || (env && env[0]) ||
            access("/sbin/apparmor_parser", F_OK) < 0 ||
            read_file_limit("/sys/module/apparmor/parameters/enabled", 64, &enabled, NULL) < 0 ||
            enabled[0] != 'Y') {
                snprintf(h->why, sizeof h->why, "AppArmor is not enabled on the host");
                return;
        }
        /* upstream's getAppArmorFS: the securityfs mount point from /proc/mounts */
        if (read_file_limit("/proc/mounts", 1 << 20, &mounts, NULL) < 0) {
                snprintf(h->why, sizeof h->why, "error finding AppArmor FS: could not open /proc/mounts");
                return;
        }
        char *save = NULL;
        for (char *line = strtok_r(mounts, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char dev[256], dir[256], type[64];
                if (sscanf(line, "%255s %255s %63s", dev, dir, type) != 3 || !streq(type, "securityfs"))
                        continue;
                snprintf(h->profiles, sizeof h->profiles, "%s/apparmor/profiles", dir);
                h->enabled = true;
                return;
        }
        snprintf(h->why, sizeof h->why, "error finding AppArmor FS: securityfs not found");
}

static const char *from_field(json_t *prof, char *buf, size_t len)
{
        const char *type = json_string_value(json_object_get(prof, "type"));
        const char *local = json_string_value(json_object_get(prof, "localhostProfile"));
        if (!type)
                return NULL;
        if (streq(type, "RuntimeDefault"))
                snprintf(buf, len, "runtime/default");
        else if (streq(type, "Unconfined"))
                snprintf(buf, len, "unconfined");
        else
                snprintf(buf, len, "localhost/%s", local ? local : "");
        return buf;
}

const char *apparmor_profile(const struct pod *pod, const char *container, char *buf, size_t len)
{
        json_t *c = pod_container_json(pod, container);
        const char *p = from_field(json_object_get(json_object_get(c, "securityContext"), "appArmorProfile"),
                                   buf, len);
        if (p)
                return p;
        _cleanup_free_ char *key = strdup_printf("%s%s", APPARMOR_ANNOTATION_PREFIX, container);
        const char *ann = pod_annotation(pod, key);
        if (ann && ann[0]) {
                snprintf(buf, len, "%s", ann);
                return buf;
        }
        json_t *psc = json_object_get(json_object_get(pod->json, "spec"), "securityContext");
        return from_field(json_object_get(psc, "appArmorProfile"), buf, len);
}

/* Whether the profile named is loaded: a "<name> (<mode>)" line of the profiles file. */
static bool profile_loaded(const char *file, const char *name)
{
        _cleanup_free_ char *buf = NULL;
        if (read_file_limit(file, 16 << 20, &buf, NULL) < 0)
                return false;
        size_t n = strlen(name);
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *paren = strrchr(line, '(');
                if (!paren)
                        continue;
                while (paren > line && paren[-1] == ' ')
                        paren--;
                if ((size_t) (paren - line) == n && strncmp(line, name, n) == 0)
                        return true;
        }
        return false;
}

static bool check_profile(const struct apparmor_host *h, const char *profile, char *msg, size_t len)
{
        if (!h->enabled) {
                snprintf(msg, len, "Cannot enforce AppArmor: %s", h->why);
                return false;
        }
        if (streq(profile, "runtime/default"))
                return true;
        if (!str_has_prefix(profile, "localhost/")) {
                snprintf(msg, len, "Cannot enforce AppArmor: invalid AppArmor profile name: \"%s\"",
                         profile);
                return false;
        }
        const char *name = profile + strlen("localhost/");
        if (access(h->profiles, R_OK) < 0) {
                snprintf(msg, len, "Cannot enforce AppArmor: could not read loaded profiles: %s: %m",
                         h->profiles);
                return false;
        }
        if (!profile_loaded(h->profiles, name)) {
                snprintf(msg, len, "Cannot enforce AppArmor: profile \"%s\" is not loaded", name);
                return false;
        }
        return true;
}

bool apparmor_admit(const struct apparmor_host *h, const struct pod *pod, char *msg, size_t len)
{
        size_t n = pod->n_init_containers + pod->n_containers;
        for (size_t i = 0; i < n; i++) {
                const struct container *c = i < pod->n_init_containers
                                                    ? &pod->init_containers[i]
                                                    : &pod->containers[i - pod->n_init_containers];
                char buf[300];
                const char *p = apparmor_profile(pod, c->name, buf, sizeof buf);
                if (!p || !p[0] || streq(p, "unconfined"))
                        continue;
                if (!check_profile(h, p, msg, len))
                        return false;
        }
        return true;
}
