/* The cluster's Services, watched, for the environment variables every container gets
 * (KUBERNETES_SERVICE_HOST and friends, and the pod namespace's services when enableServiceLinks). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

struct kube_client;
struct svc_cache;

int svc_cache_start(struct kube_client *kube, struct svc_cache **ret);
struct svc_cache *svc_cache_free(struct svc_cache *c);

/* Appends to *env (alternating names and values, see envvars.h) the variables of the master service
 * (default/kubernetes) and, with links, of every Service in ns with a cluster IP. Names already in *env
 * are left alone: a container's own env wins, as upstream. wait: before the first list of Services has
 * arrived, wait a moment for it and then give up with -EAGAIN (upstream: a pod from the API server does not
 * start without KUBERNETES_SERVICE_HOST, which in-cluster clients need); without wait (static pods, which
 * must start even when the API server is not there) take what there is. */
int svc_cache_env(struct svc_cache *c, const char *ns, bool links, bool wait, char ***env);

/* The variables of one Service object (pure, for tests), appended as above. */
void service_env(json_t *svc, char ***env);
