/* Upstream's image manager (pkg/kubelet/images EnsureImageExists): is a container's image present, may it be
 * pulled, with which credentials, and what its pull came to; with upstream's reasons, messages, events and
 * per pod and image back-off. The pulls themselves run on the puller's threads, never on a pod worker. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "pod.h"

struct backoff;
struct cri_client;
struct event_recorder;
struct image_credentials;
struct image_puller;
struct obj_cache;

struct image_manager_ctx {
        struct cri_client *cri;
        int64_t timeout_ms;        /* per CRI call */
        struct obj_cache *objects; /* imagePullSecrets; NULL: standalone (node credentials only) */
        struct image_credentials *credentials; /* registry credentials; NULL: none */
        struct image_puller *puller;
        struct backoff *backoff;       /* pull back-off, keyed per pod and image; NULL: none */
        struct event_recorder *events; /* NULL: no events */
};

/* Why a container cannot have its image (yet). */
struct image_failure {
        char reason[64];    /* the container's waiting reason: ErrImagePull, ImagePullBackOff, ... */
        char message[1024]; /* its waiting message */
        char error[1024];   /* the pod's error, when it says more than the message (a failed pull) */
        int64_t retry_ms;   /* > 0: the back-off ends after this long */
};

/* 0 with *ret_ref (the image's ID) when the image is present; -EINPROGRESS while its pull runs (the puller
 * wakes the pod when it ends); another -errno with *fail. Records the container's events (fp: its
 * fieldPath). */
int image_ensure(const struct image_manager_ctx *m, const struct pod *pod, const struct container *c,
                 const char *fp, char **ret_ref, struct image_failure *fail);
