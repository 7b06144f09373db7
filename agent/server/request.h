/* The node API's request line as a plan: which endpoint, its path parameters and its query options, checked
 * (numbers in range before any arithmetic) with no I/O, so the server only carries it out. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logs.h"

enum node_endpoint {
        NODE_EP_NONE, /* refused: see status and error */
        NODE_EP_HEALTHZ,
        NODE_EP_PODS,
        NODE_EP_RUNNINGPODS,
        NODE_EP_STATS_SUMMARY,
        NODE_EP_METRICS_RESOURCE,
        NODE_EP_CONFIGZ,
        NODE_EP_METRICS,
        NODE_EP_CONTAINER_LOGS,
        NODE_EP_EXEC,
        NODE_EP_ATTACH,
        NODE_EP_PORT_FORWARD,
};

/* One decoded query argument; value is NULL for a bare key ("?follow"). */
struct node_query_arg {
        const char *key, *value;
};

/* The largest sinceSeconds: its nanoseconds still fit an int64 (about 292 years). */
#define NODE_MAX_SINCE_SECONDS (INT64_MAX / 1000000000LL)

struct node_request {
        enum node_endpoint ep;
        const char *kind;           /* "exec", "attach", "portForward" for streams */
        char *ns, *pod, *container; /* owned; container is NULL for portForward */
        struct log_options log;     /* /containerLogs */
        unsigned status;            /* ep NONE: the HTTP status to answer (400, 404, 405) */
        char error[256];            /* ... and the text */
};

/* Parses method, decoded path and query of a node API request into *ret (always written; release it with
 * node_request_clear). now_ns is the wall clock that sinceSeconds counts back from. Returns 0 when ret->ep
 * names an endpoint, -EINVAL when the request is refused (ret->status and ret->error say how). */
int node_request_parse(const char *method, const char *path, const struct node_query_arg *args,
                       size_t n_args, int64_t now_ns, struct node_request *ret);
void node_request_clear(struct node_request *r);
