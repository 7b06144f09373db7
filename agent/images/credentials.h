/* Which registry credentials a pull uses: a pod's imagePullSecrets first, then the node's docker config
 * (read again at most every 5 minutes, as upstream's caching provider). Thread-safe. */
#pragma once

#include <jansson.h>
#include <stddef.h>

struct keyring;
struct docker_auth;

struct image_credentials;

struct image_credentials *image_credentials_new(const char *root_dir);
struct image_credentials *image_credentials_free(struct image_credentials *c);

/* Adds a pull Secret (kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg, its data base64 as the API
 * server gives it) to k. Secrets of other types, or without their key, add nothing, as upstream. -EINVAL
 * with err filled (no credential in it) when the document is broken. */
int keyring_add_pull_secret(struct keyring *k, json_t *secret, char *err, size_t err_len);

/* The credentials to try for repo, in order: pod's (may be NULL) first, then the node's. Copies, to be freed
 * with docker_auths_free; *ret_n == 0 means pull without credentials. */
int image_credentials_lookup(struct image_credentials *c, const struct keyring *pod, const char *repo,
                             struct docker_auth **ret, size_t *ret_n);
void docker_auths_free(struct docker_auth *a, size_t n);
