/* Static pod manifests: one file or the manifest URL's document, one or more Pods, with upstream's static-pod
 * identity and defaults. */
#pragma once

#include <stddef.h>

#include "pod.h"

/* Largest manifest read. Larger files are refused before they are read. */
#define MANIFEST_MAX_BYTES (4u << 20)

struct manifest_result {
        struct pod **pods;
        size_t n_pods;
        char *error;    /* why the file gives no pod (NULL when it is fine) */
        char *warnings; /* e.g. unknown fields; the pods are still accepted */
};
void manifest_result_clear(struct manifest_result *r);

/* Decodes the text of one file. Any error in any document rejects the whole file. */
void manifest_decode(const char *path, const char *buf, size_t len, const char *node_name,
                     struct manifest_result *ret);

/* The same for the manifest URL's document: source "http", the UID hashed from the URL (not the node), and
 * no NoExecute toleration, as upstream's applyDefaults for URL sources. */
void manifest_decode_url(const char *url, const char *buf, size_t len, const char *node_name,
                         struct manifest_result *ret);

/* Reads and decodes a file; errors name the reason (too large, unreadable, ...). */
void manifest_load(const char *path, const char *node_name, struct manifest_result *ret);
