/* Registry credentials as upstream's credentialprovider keyring: docker config files (config.json's
 * "auths", the legacy .dockercfg map) and pod pull secrets, matched against an image's repository. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

struct docker_auth {
        char *username;
        char *password;
};

struct keyring;

struct keyring *keyring_new(void);
struct keyring *keyring_free(struct keyring *k);
DEFINE_CLEANUP_FUNC(struct keyring, keyring_free)

/* Adds the entries of a docker config. json_config: true for config.json's {"auths": {...}} (and a
 * kubernetes.io/dockerconfigjson Secret), false for the legacy {"<registry>": {...}} map (.dockercfg, a
 * kubernetes.io/dockercfg Secret). An entry whose registry cannot be parsed is skipped, as upstream; an
 * "auth" that is not base64 of "user:password" fails the whole document, as upstream's unmarshalling does.
 * Returns 0, or -EINVAL with err filled (never a credential in it). */
int keyring_add_docker_config(struct keyring *k, const char *data, size_t len, bool json_config, char *err,
                              size_t err_len);

/* Every credential that applies to repo (a normalized repository, "registry.example.com:5000/team/app"),
 * most specific registry key first, then (with nothing matched) the docker.io default for docker.io images.
 * Borrowed pointers valid until the keyring changes; *ret_n == 0 when none. The caller frees the array. */
int keyring_lookup(const struct keyring *k, const char *repo, const struct docker_auth ***ret, size_t *ret_n);

/* Upstream's URLsMatchStr: glob is a keyring key (host[:port][/path], '*' globs per host label). */
bool registry_glob_match(const char *glob, const char *target);

/* The node's credentials, as upstream's default provider reads them: the first config.json that parses in
 * root_dir, the working directory, $HOME/.docker, /.docker; else the first legacy .dockercfg in root_dir,
 * the working directory, $HOME, /. A new keyring, empty when there is none; *ret_path (may be NULL) names
 * the file used, or NULL. */
struct keyring *keyring_load_node(const char *root_dir, char **ret_path);
