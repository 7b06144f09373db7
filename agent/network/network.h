/* The pod network as the agent sees it: which mode runs CNI, and whether the network is ready (NetworkReady),
 * checked on a thread of its own so that neither the loop nor a pod worker waits for plugins. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cri_client;
struct pod;

enum network_mode {
        NETWORK_MODE_RUNTIME, /* containerd runs the standard conflist; the pod IP comes from PodSandboxStatus */
        NETWORK_MODE_AGENT, /* containerd runs cubelet's delegate plugin; the agent runs the real chain */
};

const char *network_mode_name(enum network_mode m);
int network_mode_from_string(const char *s, enum network_mode *ret);

struct network_config {
        enum network_mode mode;
        /* The CNI configuration the agent checks (and, in agent mode, runs). NULL in runtime mode: the
         * runtime's own (its CRI Status `cniconfig`: PluginConfDir, PluginDirs). */
        const char *conf_dir;
        char *const *bin_dirs; /* NULL-terminated; NULL as conf_dir */
        struct cri_client *cri;
        int64_t period_ms;  /* between checks; <= 0: 5 s */
        int64_t timeout_ms; /* of the CRI Status call */
        /* agent mode */
        const char *socket_path;             /* where cubelet-delegate finds the agent */
        char *const *allowed_extra_networks; /* allowedExtraNetworks */
        const char *cache_dir;               /* cni/'s result cache */
        /* When conf_dir has no network and a pod CIDR is known (the config's, else this callback's: the
         * Node's spec.podCIDR), the agent writes its default network there: bridge + host-local + portmap +
         * bandwidth. ipam_dir keeps host-local's leases. */
        const char *pod_cidr;
        bool (*node_pod_cidr)(void *userdata, char *buf, size_t len);
        void *userdata;
        const char *ipam_dir;
};

/* What the check of dir's network configuration depends on (its files' and the plugin directories' files'
 * identities, modes, sizes and times): the same text, the same answer. NULL when dir cannot be read or
 * something in it changed less than fresh_s seconds ago (the check must run; fresh_s < 0: no such rule).
 * Caller frees. */
char *network_conf_fingerprint(const char *dir, char *const *bin_dirs, int fresh_s);

/* The default network's conflist for a pod CIDR (pure; caller frees). */
char *network_default_conflist(const char *pod_cidr, const char *ipam_dir);

struct network;

/* Checks once at once (so pods synced right after start see the answer), then every period_ms. */
int network_start(const struct network_config *cfg, struct network **ret);
struct network *network_stop(struct network *n);

/* true when the network is ready; otherwise msg says why, in upstream's words for the Node's Ready condition:
 * "NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: ...". May be called
 * from any thread. n may be NULL (ready). */
bool network_ready(struct network *n, char *msg, size_t len);

/* Agent mode: the pod a sandbox is being made for, between RunPodSandbox's call and its return, so the
 * delegate's request finds its spec (hostPorts, annotations). n may be NULL. */
void network_pod_begin(struct network *n, struct pod *pod);
void network_pod_end(struct network *n, const char *uid);
