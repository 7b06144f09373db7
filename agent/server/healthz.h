/* The plain-HTTP local endpoints: healthz (127.0.0.1:10248/healthz: "ok", or HTTP 500 naming what is
 * unhealthy) and, on the read-only port when configured, /pods (a PodList with statuses) too. */
#pragma once

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

struct healthz;

/* Fills reason (one "[-]name failed: why" line per failing check) and returns false when unhealthy. */
typedef bool (*healthz_check_fn)(void *userdata, char *reason, size_t len);

/* Returns a new PodList object (caller frees). */
typedef json_t *(*healthz_pods_fn)(void *userdata);

/* pods may be NULL: then only /healthz is served. */
int healthz_start(const char *bind_addr, int port, healthz_check_fn check, healthz_pods_fn pods,
                  void *userdata, struct healthz **ret);
struct healthz *healthz_stop(struct healthz *h);
