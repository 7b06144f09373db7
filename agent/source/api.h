/* The API server source: pods bound to this node (a list+watch on spec.nodeName), fed to podconfig; the
 * mirror pods among them are remembered for the status writer instead of being run. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct kube_client;
struct podconfig;
struct api_source;
struct pod;

struct api_source_ops {
        /* The first full list arrived (the source has spoken: orphans may be killed). Watch thread. */
        void (*synced)(void *userdata);
        /* A mirror pod was added, changed or deleted (e.g. kubectl delete): the status writer checks. */
        void (*mirror_changed)(void *userdata, const char *ns, const char *name);
        void *userdata;
};

/* The source is made first (the status writer reads it), then run: the watch starts. */
struct api_source *api_source_new(struct kube_client *kube, const char *node_name, struct podconfig *pc,
                                  const struct api_source_ops *ops);
int api_source_run(struct api_source *s);
/* Stops the watch (no more podconfig updates); the object stays readable until api_source_free. */
void api_source_halt(struct api_source *s);
void api_source_free(struct api_source *s);

/* A new reference to the API pod with this UID, or NULL (mirror pods and unknown UIDs). */
struct pod *api_source_pod(struct api_source *s, const char *uid);

/* The mirror pod of a static pod, as last seen: its UID, config.mirror hash and whether it is being
 * deleted. */
bool api_source_mirror(struct api_source *s, const char *ns, const char *name, char *uid, size_t uid_len,
                       char *hash, size_t hash_len, bool *deleting);
/* The API pod with this UID has a deletionTimestamp (its object should go once it has stopped). */
bool api_source_deleting(struct api_source *s, const char *uid);
/* The API pod with this UID is known (not deleted from the API). */
bool api_source_has(struct api_source *s, const char *uid);

/* The pod cubelet runs for a Pod object of the API server (a watch event's), defaulted as the API server
 * would, or NULL (logged) when it cannot run one. For tests and fuzzing; the source uses the same. */
struct pod *api_source_decode(json_t *obj);
