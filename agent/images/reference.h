/* Image references as the upstream kubelet reads them (parsers.ParseImageName over the distribution
 * reference grammar): "busybox" is docker.io/library/busybox:latest. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct image_ref {
        char *repo;   /* normalized name without tag or digest: "docker.io/library/busybox" */
        char *tag;    /* "latest" when neither a tag nor a digest is given; NULL with a digest only */
        char *digest; /* "sha256:<hex>" or NULL */
        bool tag_defaulted; /* neither tag nor digest was given: "latest" is upstream's default */
};

/* Parses and normalizes image. On failure returns -EINVAL and writes the distribution library's words to
 * err ("invalid reference format", "repository name must be lowercase", ...). */
int image_ref_parse(const char *image, struct image_ref *ret, char *err, size_t err_len);
void image_ref_done(struct image_ref *r);
