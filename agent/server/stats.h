/* /stats/summary: the node's and each pod's CPU and memory, in upstream's Summary shape (stats/v1alpha1),
 * from /proc and CRI ListContainerStats. */
#pragma once

#include <jansson.h>
#include <stdint.h>

struct cri_client;

/* A new Summary object, or NULL with *err (caller frees) when the runtime did not answer. */
json_t *stats_summary(struct cri_client *cri, const char *node_name, int64_t timeout_ms, char **err);
