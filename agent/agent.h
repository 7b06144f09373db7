/* The agent: every part cubelet runs, as main.c wires them. Shared by main.c (start-up, sources, servers,
 * the loop) and node_managers.c (admission, eviction, garbage collection: the node-level managers). */
#pragma once

#include <stdatomic.h>
#include <uv.h>

#include "config.h"
#include "node.h"
#include "security.h"
#include "sync.h"

struct agent {
        struct cubelet_config cfg;
        struct node_reserved reserved; /* the Node's allocatable: capacity less this */
        uv_loop_t loop;
        uv_signal_t sigterm, sigint, sighup;
        uv_timer_t tick;
        unsigned ticks;
        atomic_llong last_tick_ms;
        atomic_bool runtime_down;
        struct cri_client *cri;
        struct sync_ctx sync;
        struct pod_workers *workers;
        struct backoff *backoff;
        struct event_recorder *events;
        struct podconfig *podconfig;
        struct file_source *file_source;
        struct url_source *url_source; /* --manifest-url */
        struct pleg *pleg;
        struct healthz *healthz;
        struct healthz *readonly;
        struct healthz *local; /* the root-only unix socket */
        struct node_server *node_server;
        struct stats *stats; /* /stats/summary */
        struct eviction_manager *eviction;
        struct metrics *metrics;
        struct status_manager *status;
        struct prober *prober;
        /* with an API server (--kubeconfig) */
        struct kube_client *kube, *kube_events, *kube_heartbeat;
        struct kube_client *kube_authn, *kube_authz; /* the node server's TokenReview, SubjectAccessReview */
        struct node_manager *node;
        struct cert_manager *certs;        /* TLS bootstrap and client certificate rotation */
        struct cert_manager *server_certs; /* serverTLSBootstrap: the node API's certificate by CSR */
        struct api_source *api;
        struct api_status *api_status;
        struct event_sink *event_sink;
        struct obj_cache *objects;
        struct image_credentials *credentials; /* pull secrets and the node's docker config */
        struct image_puller *puller;           /* image pulls, off the pod workers */
        struct image_gc *image_gc;             /* image garbage collection; later the eviction manager's */
        struct container_gc *container_gc;     /* dead containers, sandboxes and log directories */
        struct svc_cache *services;
        struct rc_cache *runtime_classes;
        struct status_cache *status_cache;   /* what the runtime said that cannot change (resyncs) */
        struct stop_gate *stop_gate;         /* teardowns' removals behind their stops */
        struct listing_cache *listing_cache; /* the node's listing, shared by periodic resyncs */
        struct runtime_exits *exits;         /* exits told of ahead of CRI: PLEG's and the syncs' */
        char **cluster_dns;                  /* clusterDNS, the valid addresses */
        struct seccomp_cache *seccomp;
        struct log_rotator *log_rotator;
        char *containers_log_dir;
        struct token_cache *tokens;
        struct security_ctx security;
        char *seccomp_root;
        atomic_int sources_pending;  /* sources that have not spoken yet */
        struct qos_cgroups *cgroups; /* NULL: cgroupsPerQOS is off */
        struct network *network;     /* NetworkReady */
        struct admitter *admitter;   /* pod admission, between podconfig and the workers */
};

/* node_managers.c. Pod admission between podconfig and the workers: once per pod, before any source
 * speaks. */
int start_admission(struct agent *a);
/* The eviction manager, before any source runs; after start_admission. */
int start_eviction(struct agent *a);
/* Upstream's enforceNodeAllocatableCgroups once the QoS tree stands. */
int enforce_node_allocatable(struct agent *a);
/* Image and container garbage collection, each on a thread of its own. */
int start_gc(struct agent *a);
