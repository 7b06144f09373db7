/* kubeconfig files: the cluster, user and context that say where the API server is and who we are. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* What a client needs to reach one API server. Byte fields hold PEM; *_file fields are resolved
 * relative to the kubeconfig's directory, as kubectl does. */
struct kube_auth {
        char *server; /* https://host:port, no trailing slash */
        char *ca_file, *ca_data;
        size_t ca_data_len;
        char *cert_file, *cert_data;
        size_t cert_data_len;
        char *key_file, *key_data;
        size_t key_data_len;
        char *token;      /* bearer token (user.token, or read from user.tokenFile) */
        char *token_file; /* kept to re-read a rotated token */
        bool insecure;    /* insecure-skip-tls-verify */
        char *context;    /* the context used, for the log */
};

void kube_auth_clear(struct kube_auth *a);
/* As kube_auth_clear, and the key and token bytes are zeroed first. */
void kube_auth_wipe(struct kube_auth *a);

/* Decodes a kubeconfig (YAML or JSON). base_dir resolves relative paths. Errors name the field, e.g.
 * "users[0].user.client-certificate-data: not valid base64". Returns 0 or -EINVAL with *ret_err. */
int kubeconfig_parse(const char *buf, size_t len, const char *base_dir, struct kube_auth *ret,
                     char **ret_err);

/* Reads the file and parses it; the error names the file. */
int kubeconfig_load(const char *path, struct kube_auth *ret, char **ret_err);
