/* Agent network mode: the server end of cubelet-delegate (cni/delegate/). Requests from the runtime's CNI
 * directory arrive on a unix socket and each is served on a thread of its own (the pod worker that caused it
 * is waiting inside RunPodSandbox); the agent runs the real chain from its CNI configuration with cni/. */
#pragma once

#include "pod.h"

struct delegate_config {
        const char *socket_path;
        const char *conf_dir;
        char *const *bin_dirs;
        const char *cache_dir; /* cni/'s result cache */
        bool gc;               /* GC the cache at start of attachments whose sandbox is not in live_ids */
        char *const *live_ids; /* sandboxes that exist now */
        char *const *allowed_extra_networks; /* allowedExtraNetworks: what ANN_EXTRA_NETWORKS may name */
        /* The pod a sandbox is being made for: a new reference, or NULL. uid may be NULL. */
        struct pod *(*lookup)(void *userdata, const char *uid, const char *ns, const char *name);
        void *userdata;
};

struct delegate;

int delegate_start(const struct delegate_config *cfg, struct delegate **ret);
/* Stops listening, waits for requests being served, frees. */
struct delegate *delegate_stop(struct delegate *d);

/* The pod's CNI capability args as JSON text: portMappings from hostPorts, bandwidth (bits/s) from
 * kubernetes.io/ingress-bandwidth and egress-bandwidth. NULL with err set when an annotation is invalid. */
char *delegate_capability_args(const struct pod *pod, char *err, size_t len);

/* The annotation naming extra networks by name ("net-a,net-b"), attached as net1, net2, ... */
#define ANN_EXTRA_NETWORKS "cubelet.io/extra-networks"
