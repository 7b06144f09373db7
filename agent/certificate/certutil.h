/* The kubelet's client certificate as data: keys and CSRs (OpenSSL), lifetimes and the rotation deadline,
 * the cert dir's files and link, and the kubeconfig that points at them (upstream's
 * client-go/util/certificate and pkg/kubelet/certificate/bootstrap). No logging, no network. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CERT_SIGNER_KUBELET_CLIENT  "kubernetes.io/kube-apiserver-client-kubelet"
#define CERT_SIGNER_KUBELET_SERVING "kubernetes.io/kubelet-serving"
#define CERT_PAIR_PREFIX            "kubelet-client"
#define CERT_SERVER_PAIR_PREFIX     "kubelet-server"

/* A new ECDSA P-256 key and a CSR for CN=system:node:<node>, O=system:nodes, with the DNS names and IP
 * addresses (NULL-terminated, may be NULL) as subjectAltNames, both PEM (caller frees; the key is wiped by
 * cert_secret_free). -EINVAL for an address that is not one. */
int cert_make_csr(const char *node_name, char *const *dns, char *const *ips, char **ret_csr_pem,
                  char **ret_key_pem);

/* Whether the first certificate in pem names every one of dns and ips among its subjectAltNames (upstream's
 * certSatisfiesTemplate: a serving certificate whose node addresses changed is replaced). */
bool cert_has_sans(const char *pem, size_t len, char *const *dns, char *const *ips);
void cert_secret_free(char *p);

/* The validity of the first certificate in pem, in Unix seconds. -EINVAL: no certificate. */
int cert_validity(const char *pem, size_t len, int64_t *ret_not_before, int64_t *ret_not_after);

/* Whether the pair can be used at `now`: 0, or -EINVAL (not a certificate or key, or they do not match),
 * -EKEYEXPIRED (expired or not yet valid), with *ret_why saying which (static string). */
int cert_pair_usable(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len, int64_t now,
                     const char **ret_why);

/* Upstream's rotation deadline: not_before + (70 % .. 90 %) of the lifetime; jitter in [0, 1). */
int64_t cert_rotation_deadline(int64_t not_before, int64_t not_after, double jitter);

/* "<prefix>-YYYY-MM-DD-HH-MM-SS.pem" for t (local time, as upstream's time.Now().Format). */
void cert_pair_file_name(const char *prefix, time_t t, char *buf, size_t len);

/* Splits a combined PEM file (certificates and a key) into its certificates and its key (caller frees;
 * the key with cert_secret_free). -EINVAL when either is missing. */
int cert_pem_split(const char *pem, size_t len, char **ret_cert, size_t *ret_cert_len, char **ret_key,
                   size_t *ret_key_len);

/* Writes <dir>/<prefix>-<time>.pem (certificate then key, 0600) and points <dir>/<prefix>-current.pem at
 * it (one rename), as upstream's file store. *ret_path (optional): the new file. */
int cert_store_write(const char *dir, const char *prefix, const char *cert_pem, const char *key_pem,
                     time_t now, char **ret_path);
/* Reads <dir>/<prefix>-current.pem: -ENOENT when there is none. */
int cert_store_read(const char *dir, const char *prefix, char **ret_cert, size_t *ret_cert_len,
                    char **ret_key, size_t *ret_key_len);

/* A kubeconfig (0600, replaced in one rename) for server with the CA (a file, or PEM data embedded) whose
 * user's certificate and key are both pem_path, as upstream's bootstrap writes it. */
int cert_write_kubeconfig(const char *path, const char *server, const char *ca_file, const char *ca_data,
                          size_t ca_len, bool insecure, const char *pem_path);
