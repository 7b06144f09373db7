/* The plain-HTTP local endpoints: /healthz ("ok", or HTTP 500 naming what is unhealthy), /pods (a PodList
 * with statuses) and /events (recent Events) on the health port (127.0.0.1:10248), and /healthz and /pods on
 * the read-only port when configured, with /stats/summary there. */
#pragma once

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

struct stats;

struct healthz;

/* Fills reason (one "[-]name failed: why" line per failing check) and returns false when unhealthy. */
typedef bool (*healthz_check_fn)(void *userdata, char *reason, size_t len);

/* Returns a new JSON object (a PodList, an EventList; caller frees). */
typedef json_t *(*healthz_json_fn)(void *userdata);

struct healthz_handlers {
        healthz_check_fn check; /* /healthz */
        healthz_json_fn pods;   /* /pods; NULL: not served */
        healthz_json_fn events; /* /events; NULL: not served */
        struct stats *stats;    /* /stats/summary; NULL: not served */
        void *userdata;
};

int healthz_start(const char *bind_addr, int port, const struct healthz_handlers *h, struct healthz **ret);
struct healthz *healthz_stop(struct healthz *h);
