/* Image pulls off the pod workers: a pod asks for an image and goes on (its container waits in
 * ContainerCreating); the pull runs on the puller's own threads (one with serializeImagePulls, as upstream
 * 1.20; maxParallelImagePulls with it off), and the pods that asked are woken when it ends. The same image
 * with the same credentials wanted by several pods is pulled once. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cri_client;
struct docker_auth;
struct image_puller;

struct image_puller_config {
        struct cri_client *cri;
        int64_t timeout_ms; /* per PullImage call */
        int max_parallel;   /* pulls at once: 1 serializes them */
        /* Called on a puller thread, without its lock, for each pod waiting on a pull that ended. */
        void (*on_done)(const char *pod_uid, void *userdata);
        void *userdata;
};

struct image_puller *image_puller_new(const struct image_puller_config *cfg);
/* Stops the threads: queued pulls never run, running ones are waited for (they have deadlines), and
 * on_done is never called again. Requests still work (a new one just waits), so pod workers may go on
 * using the puller until they are stopped; free it after them. */
void image_puller_halt(struct image_puller *p);
/* Halts if need be, frees. */
struct image_puller *image_puller_free(struct image_puller *p);
/* The pod went away: it waits for nothing any more (an ended pull nobody else waits for goes). */
void image_puller_forget(struct image_puller *p, const char *pod_uid);

enum pull_state { PULL_NONE, PULL_RUNNING, PULL_DONE, PULL_FAILED };

struct pull_outcome {
        char *image_ref;     /* PULL_DONE: the runtime's image reference (caller frees) */
        int64_t duration_ms; /* PULL_DONE: how long the pull took */
        char err[2048];      /* PULL_FAILED: the runtime's words ("[a, b]" when several credentials failed) */
};

/* The pull of image with these credentials (tried in turn; none: without) for pod_uid. The first ask
 * queues it, or joins one queued or running, and returns PULL_RUNNING with *ret_first set (the pod's
 * "Pulling" event); the pod is woken through on_done when it ends, and its next ask returns the outcome,
 * once. An ended pull is only ever the answer of the pods that waited for it: any other ask makes a new
 * pull. */
enum pull_state image_puller_request(struct image_puller *p, const char *pod_uid, const char *image,
                                     const struct docker_auth *auths, size_t n_auths, bool *ret_first,
                                     struct pull_outcome *ret);
/* Where pod_uid's pull of image stands, whatever its credentials: PULL_RUNNING while one it asked for is
 * queued or running, its outcome once it ended (taken, as image_puller_request would), or PULL_NONE. A
 * sync asks this first: a pull that ended must be its answer even when the image is now present. */
enum pull_state image_puller_take(struct image_puller *p, const char *pod_uid, const char *image,
                                  struct pull_outcome *ret);
/* Pulls queued or running now (tests, metrics). */
unsigned image_puller_active(struct image_puller *p);
