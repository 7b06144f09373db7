/* Security contexts to CRI, with seccomp profiles checked before the runtime sees them. */
#include "security.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "apparmor.h"
#include "seccomp_profile.h"
#include "util.h"

/* A field of the container's securityContext, else of the pod's. */
static json_t *effective(const struct pod *pod, json_t *c, const char *field)
{
        json_t *v = json_object_get(json_object_get(c, "securityContext"), field);
        if (v && !json_is_null(v))
                return v;
        v = json_object_get(json_object_get(json_object_get(pod->json, "spec"), "securityContext"), field);
        return v && !json_is_null(v) ? v : NULL;
}

static Runtime__V1__Int64Value *int64_value(struct arena *a, json_t *v)
{
        if (!json_is_integer(v))
                return NULL;
        Runtime__V1__Int64Value *iv = arena_alloc(a, sizeof *iv);
        runtime__v1__int64_value__init(iv);
        iv->value = json_integer_value(v);
        return iv;
}

static char **strings(struct arena *a, json_t *arr, size_t *n)
{
        size_t i;
        json_t *x;
        char **v = arena_alloc(a, (json_array_size(arr) + 1) * sizeof *v);
        *n = 0;
        json_array_foreach(arr, i, x) if (json_is_string(x)) v[(*n)++] =
                arena_strdup(a, json_string_value(x));
        return v;
}

/* The seccomp profile: the field (container, then pod), else the legacy annotations, else the default. */
static Runtime__V1__SecurityProfile *seccomp_profile(struct arena *a, const struct security_ctx *sx,
                                                     const struct pod *pod, json_t *c, const char *container,
                                                     char **ret_path)
{
        Runtime__V1__SecurityProfile *sp = arena_alloc(a, sizeof *sp);
        runtime__v1__security_profile__init(sp);
        json_t *prof = effective(pod, c, "seccompProfile");
        const char *type = json_string_value(json_object_get(prof, "type"));
        const char *local = json_string_value(json_object_get(prof, "localhostProfile"));
        _cleanup_free_ char *key =
                strdup_printf("container.seccomp.security.alpha.kubernetes.io/%s", container);
        const char *ann = NULL;
        if (!type) {
                ann = pod_annotation(pod, key);
                if (!ann)
                        ann = pod_annotation(pod, "seccomp.security.alpha.kubernetes.io/pod");
        }
        if (ann) {
                if (streq(ann, "runtime/default") || streq(ann, "docker/default"))
                        type = "RuntimeDefault";
                else if (streq(ann, "unconfined"))
                        type = "Unconfined";
                else if (str_has_prefix(ann, "localhost/")) {
                        type = "Localhost";
                        local = ann + strlen("localhost/");
                }
        }
        if (!type)
                type = sx->seccomp_default ? "RuntimeDefault" : NULL;
        *ret_path = NULL;
        if (!type)
                return NULL; /* the runtime's default: unconfined, as upstream without --seccomp-default */
        if (streq(type, "RuntimeDefault")) {
                sp->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
                *ret_path = arena_strdup(a, "runtime/default");
        } else if (streq(type, "Localhost") && local) {
                sp->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
                sp->localhost_ref = local[0] == '/' ? arena_strdup(a, local)
                                                    : arena_printf(a, "%s/%s", sx->seccomp_root, local);
                *ret_path = arena_printf(a, "localhost/%s", sp->localhost_ref);
        } else {
                sp->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
                *ret_path = arena_strdup(a, "unconfined");
        }
        return sp;
}

/* seLinuxOptions (the container's replace the pod's as a whole, as upstream); NULL when unset. The runtime
 * applies them only where SELinux is enabled. */
static Runtime__V1__SELinuxOption *selinux_options(struct arena *a, json_t *o)
{
        if (!json_is_object(o) || json_object_size(o) == 0)
                return NULL;
        Runtime__V1__SELinuxOption *so = arena_alloc(a, sizeof *so);
        runtime__v1__selinux_option__init(so);
        so->user = arena_strdup(a, json_string_value(json_object_get(o, "user")) ?: "");
        so->role = arena_strdup(a, json_string_value(json_object_get(o, "role")) ?: "");
        so->type = arena_strdup(a, json_string_value(json_object_get(o, "type")) ?: "");
        so->level = arena_strdup(a, json_string_value(json_object_get(o, "level")) ?: "");
        return so;
}

bool container_needs_image_user(const struct pod *pod, const char *container)
{
        json_t *c = pod_container_json(pod, container);
        return json_is_true(effective(pod, c, "runAsNonRoot")) &&
               !json_is_integer(effective(pod, c, "runAsUser"));
}

/* supplementalGroups, then fsGroup (which upstream adds to every container's groups, the sandbox's too). */
static int64_t *pod_groups(struct arena *a, const struct pod *pod, size_t *n)
{
        json_t *psc = json_object_get(json_object_get(pod->json, "spec"), "securityContext");
        json_t *groups = json_object_get(psc, "supplementalGroups"), *fs = json_object_get(psc, "fsGroup"),
               *g;
        int64_t *out = arena_alloc(a, (json_array_size(groups) + 2) * sizeof(int64_t));
        size_t i;
        *n = 0;
        json_array_foreach(groups, i, g) if (json_is_integer(g)) out[(*n)++] = json_integer_value(g);
        if (json_is_integer(fs)) {
                bool have = false;
                for (i = 0; i < *n; i++)
                        have = have || out[i] == json_integer_value(fs);
                if (!have)
                        out[(*n)++] = json_integer_value(fs);
        }
        return out;
}

/* Upstream's default masked and read-only paths (pkg/securitycontext, Docker's list): a kubelet sends
 * them: containerd's CRI plugin empties its own default spec's (a container without them could read
 * /proc/kcore and write /proc/sys and /proc/sysrq-trigger as root). The runtime clears them for a
 * privileged container; procMount Unmasked, the one way to ask for none, is refused at admission. */
static char *const default_masked_paths[] = {"/proc/acpi",          "/proc/kcore",      "/proc/keys",
                                             "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                             "/proc/sched_debug",   "/proc/scsi",       "/sys/firmware"};
static char *const default_readonly_paths[] = {"/proc/asound", "/proc/bus", "/proc/fs",
                                               "/proc/irq",    "/proc/sys", "/proc/sysrq-trigger"};

void security_default_paths(Runtime__V1__LinuxContainerSecurityContext *out)
{
        out->masked_paths = (char **) default_masked_paths;
        out->n_masked_paths = ELEMENTSOF(default_masked_paths);
        out->readonly_paths = (char **) default_readonly_paths;
        out->n_readonly_paths = ELEMENTSOF(default_readonly_paths);
}

int container_security(struct arena *a, const struct security_ctx *sx, const struct pod *pod,
                       const char *container, const struct image_user *img,
                       Runtime__V1__LinuxContainerSecurityContext *out, char *err, size_t errlen)
{
        json_t *c = pod_container_json(pod, container);
        json_t *csc = json_object_get(c, "securityContext");
        char name[512];

        out->run_as_user = int64_value(a, effective(pod, c, "runAsUser"));
        out->run_as_group = int64_value(a, effective(pod, c, "runAsGroup"));
        if (json_is_true(effective(pod, c, "runAsNonRoot"))) {
                /* upstream's verifyRunAsNonRoot */
                if (out->run_as_user && out->run_as_user->value == 0) {
                        snprintf(err, errlen,
                                 "container's runAsUser breaks non-root policy (pod: \"%s\", container: %s)",
                                 pod_full_name(pod, name, sizeof name), container);
                        return -EINVAL;
                }
                if (!out->run_as_user) {
                        if (img && img->uid == 0) {
                                snprintf(err, errlen,
                                         "container has runAsNonRoot and image will run as root (pod: "
                                         "\"%s\", "
                                         "container: %s)",
                                         pod_full_name(pod, name, sizeof name), container);
                                return -EINVAL;
                        }
                        if (img && img->uid < 0 && img->username && img->username[0]) {
                                snprintf(err, errlen,
                                         "container has runAsNonRoot and image has non-numeric user (%s), "
                                         "cannot "
                                         "verify user is non-root (pod: \"%s\", container: %s)",
                                         img->username, pod_full_name(pod, name, sizeof name), container);
                                return -EINVAL;
                        }
                }
        }
        out->privileged = json_is_true(json_object_get(csc, "privileged"));
        security_default_paths(out);
        out->readonly_rootfs = json_is_true(json_object_get(csc, "readOnlyRootFilesystem"));
        json_t *ape = json_object_get(csc, "allowPrivilegeEscalation");
        out->no_new_privs = json_is_false(ape);
        json_t *caps = json_object_get(csc, "capabilities");
        if (json_is_object(caps)) {
                Runtime__V1__Capability *cp = arena_alloc(a, sizeof *cp);
                runtime__v1__capability__init(cp);
                cp->add_capabilities = strings(a, json_object_get(caps, "add"), &cp->n_add_capabilities);
                cp->drop_capabilities = strings(a, json_object_get(caps, "drop"), &cp->n_drop_capabilities);
                out->capabilities = cp;
        }
        out->supplemental_groups = pod_groups(a, pod, &out->n_supplemental_groups);
        out->selinux_options = selinux_options(a, effective(pod, c, "seLinuxOptions"));
        /* The profile as named; admission (apparmor_admit) has refused what this host cannot enforce. */
        char aa[300];
        const char *profile = apparmor_profile(pod, container, aa, sizeof aa);
        if (profile)
                out->apparmor_profile = arena_strdup(a, profile);

        char *path = NULL;
        out->seccomp = seccomp_profile(a, sx, pod, c, container, &path);
        out->seccomp_profile_path = path;
        if (out->seccomp &&
            out->seccomp->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost &&
            sx->seccomp) {
                int r = seccomp_check_file(sx->seccomp, out->seccomp->localhost_ref, err, errlen);
                if (r < 0)
                        return -EINVAL;
        }
        return 0;
}

bool pod_has_privileged_container(const struct pod *pod)
{
        static const char *const lists[] = {"initContainers", "containers"};
        json_t *spec = json_object_get(pod->json, "spec"), *c;
        size_t i;
        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                json_array_foreach(json_object_get(spec, lists[l]), i, c)
                {
                        if (json_is_true(
                                    json_object_get(json_object_get(c, "securityContext"), "privileged")))
                                return true;
                }
        return false;
}

void sandbox_security(struct arena *a, const struct security_ctx *sx, const struct pod *pod,
                      Runtime__V1__LinuxSandboxSecurityContext *sc, Runtime__V1__LinuxPodSandboxConfig *lx)
{
        json_t *psc = json_object_get(json_object_get(pod->json, "spec"), "securityContext");
        /* The runtime refuses a privileged container in a sandbox that is not ("no privileged container
         * allowed in sandbox"): upstream makes the sandbox privileged when any container is. */
        sc->privileged = pod_has_privileged_container(pod);
        sc->run_as_user = int64_value(a, json_object_get(psc, "runAsUser"));
        sc->run_as_group = int64_value(a, json_object_get(psc, "runAsGroup"));
        sc->supplemental_groups = pod_groups(a, pod, &sc->n_supplemental_groups);
        sc->selinux_options = selinux_options(a, json_object_get(psc, "seLinuxOptions"));
        size_t i;
        /* The pause container always runs RuntimeDefault, as upstream: the pod's profile is for its own
         * containers, so that a strict one cannot break the sandbox (kubernetes#84623). */
        Runtime__V1__SecurityProfile *sp = arena_alloc(a, sizeof *sp);
        runtime__v1__security_profile__init(sp);
        sp->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
        sc->seccomp = sp;
        sc->seccomp_profile_path = arena_strdup(a, "runtime/default");

        json_t *sysctls = json_object_get(psc, "sysctls"), *s;
        size_t n = json_array_size(sysctls);
        if (n == 0)
                return;
        lx->sysctls = arena_alloc(a, (n + 1) * sizeof *lx->sysctls);
        json_array_foreach(sysctls, i, s)
        {
                const char *k = json_string_value(json_object_get(s, "name"));
                const char *v = json_string_value(json_object_get(s, "value"));
                if (!k || !v)
                        continue;
                Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry *e = arena_alloc(a, sizeof *e);
                runtime__v1__linux_pod_sandbox_config__sysctls_entry__init(e);
                e->key = arena_strdup(a, k);
                e->value = arena_strdup(a, v);
                lx->sysctls[lx->n_sysctls++] = e;
        }
}
