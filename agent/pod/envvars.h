/* A container's environment as upstream builds it: the Services' variables, envFrom sources, then env with
 * $(VAR) references expanded and valueFrom resolved (fieldRef, resourceFieldRef, configMapKeyRef,
 * secretKeyRef). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pod.h"

struct obj_cache;
struct svc_cache;

struct env_ctx {
        struct obj_cache *objects;  /* NULL: no API server (standalone) */
        struct svc_cache *services; /* Services for the service links; NULL: none */
        const char *host_ip, *pod_ip;
        int64_t node_cpu_m, node_mem,
                node_ephemeral; /* resourceFieldRef limits when the container sets none */
        int64_t timeout_ms;     /* waiting for a ConfigMap or Secret */
};

/* *ret: strv of alternating names and values, in upstream's order of building: the Services' variables are
 * read first (the master service always, the namespace's with enableServiceLinks), then envFrom, then env
 * in order, each value with its $(VAR) references expanded against the variables set so far and the
 * Services' ones (a later entry of one name replaces the value of an earlier one, in place); the Services'
 * variables whose names the container did not set come last. *ret_warnings (may be NULL): a strv, one
 * message per envFrom source with keys skipped as invalid names, as upstream's
 * InvalidEnvironmentVariableNames events say. Returns 0, or -errno
 * with err holding upstream's message ("configmap \"x\" not found", "couldn't find key k in Secret ns/s",
 * "services have not yet been read at least once, cannot construct envvars"). */
int container_env(const struct env_ctx *ctx, const struct pod *pod, const char *container, char ***ret,
                  char ***ret_warnings, char *err, size_t errlen);

/* container_env once the Services' variables are known (svc: strv as above, may be NULL). */
int container_env_build(const struct env_ctx *ctx, const struct pod *pod, const char *container, char **svc,
                        char ***ret, char ***ret_warnings, char *err, size_t errlen);

/* Whether the container's env asks for status.podIP(s) (the caller then looks the IP up). */
bool container_env_needs_pod_ip(const struct pod *pod, const char *container);

/* One downward-API value: a fieldRef path ("metadata.labels" gives upstream's sorted k="v" lines) or a
 * resourceFieldRef object for a container. Shared with the downwardAPI volume. */
int env_field_ref(const struct env_ctx *ctx, const struct pod *pod, const char *path, char **ret, char *err,
                  size_t errlen);
int env_resource_ref(const struct env_ctx *ctx, const struct pod *pod, const char *container, json_t *ref,
                     char **ret, char *err, size_t errlen);
