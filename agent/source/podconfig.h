/* podconfig: merges the pods of every source into one desired set, by UID, and feeds the pod workers. */
#pragma once

#include <stddef.h>

#include "pod.h"

struct pod_workers;
struct podconfig;

enum pod_source { POD_SOURCE_FILE, POD_SOURCE_HTTP, POD_SOURCE_API, _POD_SOURCE_MAX };

struct podconfig *podconfig_new(struct pod_workers *w);
struct podconfig *podconfig_free(struct podconfig *pc);

/* Replaces everything one source says (a full set, as upstream's SET op). The pods are borrowed:
 * podconfig takes its own references. Two pods with one namespace/name: the one already running wins,
 * else the first; the other is refused with a clear log line. */
void podconfig_set(struct podconfig *pc, enum pod_source src, struct pod **pods, size_t n);

/* The merged set: borrowed pointers valid until the next podconfig_set. */
size_t podconfig_pods(struct podconfig *pc, struct pod ***ret);
