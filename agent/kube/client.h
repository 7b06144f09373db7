/* The Kubernetes API client: requests with TLS and credentials from a kubeconfig, a client-side rate limit
 * (kubeAPIQPS/kubeAPIBurst), and list+watch streams that reconnect on their own. Thread-safe. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kubeconfig.h"

struct kube_client;

/* qps <= 0: no rate limit. Copies auth. */
int kube_client_new(const struct kube_auth *auth, double qps, int burst, struct kube_client **ret);
struct kube_client *kube_client_free(struct kube_client *c);
/* A bound on the wait for the rate limit: a request that would wait longer fails at once with -EBUSY and
 * takes no turn from the others (for callers that answer someone waiting, such as webhook
 * authentication). <= 0: no bound (the default). */
void kube_client_set_max_wait(struct kube_client *c, int64_t max_wait_ms);
const char *kube_client_server(const struct kube_client *c);
/* No credentials yet (a TLS bootstrap in progress): requests fail at once with -EAGAIN and `why`, watches
 * wait. Ends with kube_client_set_cert. */
void kube_client_set_pending(struct kube_client *c, const char *why);
/* Swaps in a client certificate and key (PEM; copied): new connections use them, idle ones are dropped and
 * open watches reconnect. The request in flight finishes with the old one. */
void kube_client_set_cert(struct kube_client *c, const char *cert_pem, size_t cert_len, const char *key_pem,
                          size_t key_len);

struct kube_response {
        long status;      /* HTTP status; 0 when no response arrived */
        json_t *body;     /* the decoded JSON body, if any (caller frees with kube_response_clear) */
        char error[1024]; /* transport error, or the Status message of a non-2xx answer */
};
void kube_response_clear(struct kube_response *r);

/* One request. body may be NULL; content_type defaults to application/json. Returns 0 when an answer
 * arrived (any status: check ret->status), or a negative errno with ret->error when none did (-EBUSY: the
 * client's max wait for the rate limit would have been exceeded; nothing was sent). */
int kube_request(struct kube_client *c, const char *method, const char *path, json_t *body,
                 const char *content_type, int64_t timeout_ms, struct kube_response *ret);

/* Percent-encodes a query value (caller frees). */
char *kube_query_escape(const char *s);
/* "fieldSelector=<field>%3D<value>", escaped (caller frees). */
char *kube_field_selector(const char *field, const char *value);

/* ---- list + watch ---- */

struct kube_watch_ops {
        /* The full set after a (re)list: a borrowed array of objects. */
        void (*on_list)(void *userdata, json_t *items);
        /* One watch event: "ADDED", "MODIFIED", "DELETED"; obj borrowed. */
        void (*on_event)(void *userdata, const char *type, json_t *obj);
        /* The stream went down (err) or came back (err NULL); optional. */
        void (*on_state)(void *userdata, const char *err);
        void *userdata;
};

struct kube_watch;

/* Lists then watches `path` (e.g. "/api/v1/pods") with an optional query ("fieldSelector=..."), on a
 * thread of its own. 410 Gone or an expired resourceVersion → relist; failures → back-off with jitter
 * (0.8 s doubling to 10 s). */
int kube_watch_start(struct kube_client *c, const char *path, const char *query,
                     const struct kube_watch_ops *ops, struct kube_watch **ret);
/* Stops and joins the thread (promptly: an open stream is aborted). NULL is fine. */
void kube_watch_stop(struct kube_watch *w);

/* Decodes one line of a watch stream: {"type": ..., "object": {...}}. On success *ret_type points into
 * *ret_obj's companion storage and both must be released with json_decref(*ret_event). For fuzzing and
 * for the watch loop. ERROR events give type "ERROR" and the Status as object. */
int kube_watch_decode(const char *line, size_t len, json_t **ret_event, const char **ret_type,
                      json_t **ret_obj, char **ret_err);
