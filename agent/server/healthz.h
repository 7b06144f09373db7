/* The plain-HTTP local endpoints: /healthz ("ok", or HTTP 500 naming what is unhealthy) only on the health
 * port (127.0.0.1:10248, as upstream); /healthz, /pods (a PodList with statuses) and /events (recent Events)
 * on the root-only unix socket (/run/cubelet/cubelet.sock); /healthz, /pods, /stats/summary, /metrics and
 * /metrics/resource on the read-only port when configured (upstream's default handlers). Each server serves
 * the handlers it is given, 404 for the rest. */
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

/* Sets *buf (malloc'd, caller frees; NULL with *len 0 when out of memory) to Prometheus text. */
typedef void (*healthz_text_fn)(void *userdata, char **buf, size_t *len);

struct healthz_handlers {
        healthz_check_fn check;  /* /healthz */
        healthz_json_fn pods;    /* /pods; NULL: not served */
        healthz_json_fn events;  /* /events; NULL: not served */
        struct stats *stats;     /* /stats/summary and /metrics/resource; NULL: not served */
        healthz_text_fn metrics; /* /metrics; NULL: not served */
        void *userdata;
};

int healthz_start(const char *bind_addr, int port, const struct healthz_handlers *h, struct healthz **ret);
/* The same on a unix socket at path, mode 0600, in a directory made 0755 if missing. A socket file nobody
 * listens on is replaced; a live one is -EADDRINUSE, any other file -EEXIST. Removed at healthz_stop. */
int healthz_start_unix(const char *path, const struct healthz_handlers *h, struct healthz **ret);
struct healthz *healthz_stop(struct healthz *h);
