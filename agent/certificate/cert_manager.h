/* The certificate managers, as upstream's pkg/kubelet/certificate and client-go's certificate manager: the
 * client certificate's TLS bootstrap (--bootstrap-kubeconfig) and rotation (rotateCertificates), and the
 * serving certificate requested by CSR and rotated (serverTLSBootstrap). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kubeconfig.h"

struct cert_manager_config {
        const char *kubeconfig;           /* --kubeconfig: read at start, written after a bootstrap */
        const char *bootstrap_kubeconfig; /* --bootstrap-kubeconfig; NULL: none */
        const char *cert_dir;             /* --cert-dir */
        const char *node_name;
        bool rotate;             /* rotateCertificates */
        int64_t wait_timeout_ms; /* a CSR's approval and issuance [15 min] */
        /* The serving certificate (cert_manager_new_serving) instead of the client one: */
        struct kube_client *kube; /* the node's client its CSRs are posted with (borrowed) */
        char *const *dns_names;   /* its subjectAltNames: the Node's Hostname addresses ... */
        char *const *ips;         /* ... and its InternalIP ones */
        const char *fallback_cert_file, *fallback_key_file; /* tlsCertFile/tlsPrivateKeyFile: served until a
                                                             * pair is issued, as upstream's file store */
        /* A new pair is in use (PEM; borrowed, may be called on the manager's thread). */
        void (*on_cert)(void *userdata, const char *cert, size_t cert_len, const char *key, size_t key_len);
        void *userdata;
};

struct cert_manager;

/* Decides at start which credentials the API clients begin with: *ret_auth (the caller clears it) holds the
 * server, the CA and, when a usable pair is at hand, the client certificate as PEM data; *ret_pending is
 * set when none is and a bootstrap must issue one first. *ret is NULL when nothing needs managing (no
 * bootstrap, no rotation, or token credentials). Errors name the file in *ret_err. */
int cert_manager_new(const struct cert_manager_config *cfg, struct kube_auth *ret_auth, bool *ret_pending,
                     struct cert_manager **ret, char **ret_err);
/* The serving certificate manager: the cert dir's kubelet-server-current.pem, else the fallback files,
 * when usable (handed to on_cert at once), and a pair requested by CSR (signer kubernetes.io/kubelet-serving,
 * posted with cfg->kube) once started when there is none or it does not name the addresses; rotated as the
 * client's. bootstrap_kubeconfig, kubeconfig and rotate are not used. */
struct cert_manager *cert_manager_new_serving(const struct cert_manager_config *cfg);
/* A request waiting out its back-off tries again now (the client certificate it needed has come). NULL is
 * fine. Any thread. */
void cert_manager_retry_now(struct cert_manager *m);
/* The bootstrap or first request (with back-off) and the rotations, on a thread of its own. */
int cert_manager_start(struct cert_manager *m);
/* Stops (promptly: a CSR being waited for is abandoned) and frees. NULL is fine. */
struct cert_manager *cert_manager_free(struct cert_manager *m);
/* Whether the manager, once started, rotates its pair at once (tests). */
bool cert_manager_rotates_at_once(const struct cert_manager *m);

/* Where a CSR object stands: 1 issued (*ret_cert: the PEM, caller frees), 0 still waiting (*ret_approved
 * says whether it was approved), -EACCES denied, -EIO failed; msg says why for the last two. */
int cert_csr_state(json_t *csr, char **ret_cert, bool *ret_approved, char *msg, size_t msg_len);
