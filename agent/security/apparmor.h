/* AppArmor as upstream: each container's profile (appArmorProfile, else the beta annotation) for CRI, and
 * the admission check that refuses a pod whose profile this host cannot enforce. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "pod.h"

/* What the host offers: probed once at start (upstream's validateHost). */
struct apparmor_host {
        bool enabled;
        char why[128];       /* why not, in upstream's words, when !enabled */
        char profiles[300];  /* <securityfs>/apparmor/profiles, read at each admission */
};

#define APPARMOR_ANNOTATION_PREFIX "container.apparmor.security.beta.kubernetes.io/"

/* Probes the host as upstream's IsAppArmorEnabled and getAppArmorFS do. */
void apparmor_host_probe(struct apparmor_host *h);

/* The container's profile in CRI's string form ("runtime/default", "localhost/<name>", "unconfined"), into
 * buf; NULL when the pod names none (the runtime's default). */
const char *apparmor_profile(const struct pod *pod, const char *container, char *buf, size_t len);

/* Upstream's AppArmor admit handler: false with msg ("Cannot enforce AppArmor: ...") when some container's
 * profile cannot be enforced here (reason "AppArmor"). */
bool apparmor_admit(const struct apparmor_host *h, const struct pod *pod, char *msg, size_t len);
