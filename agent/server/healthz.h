/* The healthz endpoint (127.0.0.1:10248/healthz): "ok", or HTTP 500 naming what is unhealthy. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct healthz;

/* Fills reason (one "[-]name failed: why" line per failing check) and returns false when unhealthy. */
typedef bool (*healthz_check_fn)(void *userdata, char *reason, size_t len);

int healthz_start(const char *bind_addr, int port, healthz_check_fn check, void *userdata,
                  struct healthz **ret);
struct healthz *healthz_stop(struct healthz *h);
