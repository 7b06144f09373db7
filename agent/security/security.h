/* Security contexts to CRI: runAsUser/Group, runAsNonRoot (checked against the image's user),
 * privileged, capabilities, readOnlyRootFilesystem, allowPrivilegeEscalation, sysctls, and seccomp
 * profiles (RuntimeDefault, Unconfined, Localhost compiled beforehand with libseccomp). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apparmor.h"
#include "arena.h"
#include "cri.h"
#include "pod.h"

struct seccomp_cache;

struct security_ctx {
        const char *seccomp_root; /* Localhost profiles are relative to it: <root-dir>/seccomp */
        bool seccomp_default;     /* --seccomp-default: RuntimeDefault when a pod says nothing */
        struct seccomp_cache *seccomp;
        struct apparmor_host apparmor; /* probed at start: what AppArmor profiles this host enforces */
};

/* The image's user as the runtime reports it (ImageStatus): uid >= 0, or a user name, or neither. */
struct image_user {
        int64_t uid; /* -1: not numeric or unknown */
        const char *username;
};

/* Fills the container's security context (strings from the arena or the pod). Returns 0, or -EINVAL with
 * err in upstream's words ("container has runAsNonRoot and image will run as root ...") for a
 * CreateContainerConfigError. */
int container_security(struct arena *a, const struct security_ctx *sx, const struct pod *pod,
                       const char *container, const struct image_user *img,
                       Runtime__V1__LinuxContainerSecurityContext *out, char *err, size_t errlen);

/* Sets upstream's default masked and read-only /proc and /sys paths (static strings) in out: what every
 * container gets (container_security), and the CRI floor's in bench/. */
void security_default_paths(Runtime__V1__LinuxContainerSecurityContext *out);

/* Whether the container's effective context asks for runAsNonRoot without a runAsUser (the image's user
 * must then be looked up). */
bool container_needs_image_user(const struct pod *pod, const char *container);

/* Whether any container, init containers included, asks for privileged (upstream's HasPrivilegedContainer). */
bool pod_has_privileged_container(const struct pod *pod);

/* The sandbox's context: privileged when a container is, runAsUser/Group, supplementalGroups, seccomp, and
 * the pod's sysctls. */
void sandbox_security(struct arena *a, const struct security_ctx *sx, const struct pod *pod,
                      Runtime__V1__LinuxSandboxSecurityContext *sc, Runtime__V1__LinuxPodSandboxConfig *lx);
