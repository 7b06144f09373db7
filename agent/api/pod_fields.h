/* Pod fields the API knows and cubelet cannot honour, found at decode time (docs/pod-fields.md). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

/* Appends "path: reason" for every field of the (defaulted) Pod object that cubelet refuses. */
void pod_unsupported_fields(json_t *pod, char ***out);

/* A volume source the API knows (pod.c's list), supported or not. */
bool pod_volume_source_known(const char *kind);
