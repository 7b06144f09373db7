/* YAML (and JSON) documents to jansson trees, with go-yaml v2 scalar resolution as Kubernetes uses it. */
#pragma once

#include <jansson.h>
#include <stddef.h>

struct yaml_doc {
        json_t *value; /* owned */
        int line;      /* 1-based line where the document starts */
};

/* Parses every document of a YAML stream (a JSON text is parsed as JSON). Empty documents are skipped.
 * On error returns -EINVAL and *ret_err = "line L, column C: reason" (caller frees). */
int yaml_parse_docs(const char *buf, size_t len, struct yaml_doc **ret_docs, size_t *ret_n, char **ret_err);
void yaml_docs_free(struct yaml_doc *docs, size_t n);
