/* The node server (port 10250): HTTPS with client-certificate and token authentication and webhook
 * authorization, serving /healthz, /pods, /runningpods/, /containerLogs, /metrics and /exec to the API
 * server. */
#pragma once

#include <stdbool.h>

#include "healthz.h"

struct cri_client;
struct kube_client;
struct status_manager;
struct node_server;

/* Prometheus text for /metrics, appended to *buf (caller frees). */
typedef void (*node_server_metrics_fn)(void *userdata, char **buf, size_t *len);

struct node_server_config {
        const char *bind_addr; /* "0.0.0.0" */
        int port;
        const char *cert_file, *key_file; /* PEM; both required unless cert_by_csr */
        bool cert_by_csr;                 /* the pair comes by node_server_set_cert (serverTLSBootstrap):
                                           * no handshake succeeds until then */
        const char *client_ca_file;       /* NULL: no x509 authentication */
        bool anonymous;                   /* unauthenticated requests as system:anonymous */
        bool token_webhook;               /* bearer tokens by TokenReview (needs kube) */
        bool authz_webhook;               /* SubjectAccessReview (needs kube); false: AlwaysAllow */
        int64_t token_cache_ttl_ms;       /* TokenReview answers kept this long; 0: not kept */
        int64_t authz_allowed_ttl_ms;     /* SubjectAccessReview answers "allowed"; 0: not kept */
        int64_t authz_denied_ttl_ms;      /* ... and "denied" */
        struct kube_client *authn_kube;   /* TokenReview; NULL: standalone */
        struct kube_client *authz_kube;   /* SubjectAccessReview; NULL: standalone. Each its own client
                                           * and rate limit with a bounded wait, apart from pod work */
        const char *node_name;
        const char *pod_logs_dir;
        struct status_manager *status;
        struct cri_client *cri; /* for exec; NULL: no exec */
        struct stats *stats;    /* /stats/summary; NULL: not served */
        int64_t cri_timeout_ms;
        healthz_check_fn check;
        node_server_metrics_fn metrics; /* NULL: no /metrics */
        healthz_json_fn configz;        /* {"kubeletconfig": ...}; NULL: no /configz */
        void *userdata;
};

/* Returns -errno with *err (caller frees) naming what failed (a file, the address). */
int node_server_start(const struct node_server_config *c, struct node_server **ret, char **err);
struct node_server *node_server_stop(struct node_server *s);
/* The serving pair (PEM) from now on, for a server started with cert_by_csr: new handshakes take it.
 * -EINVAL when it does not parse. Any thread. */
int node_server_set_cert(struct node_server *s, const char *cert, size_t cert_len, const char *key,
                         size_t key_len);
