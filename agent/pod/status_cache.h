/* What the runtime says of a container or a sandbox that cannot change while it stays in the state it is
 * listed in: a RUNNING or EXITED container's status (its start, its image, how it ended) and a READY
 * sandbox's IP. A periodic resync of a pod whose listing did not change reads them here instead of asking
 * the runtime again (upstream's resync reads its pod cache, filled by the PLEG, likewise); what changes
 * state is listed so and asked anew. Entries not used for CACHE_IDLE_MS go. Thread-safe. */
#pragma once

#include <stdint.h>

#include "api.pb-c.h"

struct status_cache;

struct status_cache *status_cache_new(void);
struct status_cache *status_cache_free(struct status_cache *c);

/* A copy of the container's status when last seen in state (caller frees with cri_free), or NULL. */
Runtime__V1__ContainerStatusResponse *status_cache_container(struct status_cache *c, const char *id,
                                                             Runtime__V1__ContainerState state,
                                                             int64_t now_ms);
/* Keeps resp when its state is RUNNING or EXITED (the states that hold still). */
void status_cache_put_container(struct status_cache *c, const Runtime__V1__ContainerStatusResponse *resp,
                                int64_t now_ms);
/* The IP of a READY sandbox (caller frees; "" for none, as a host-network one), or NULL when unknown. */
char *status_cache_sandbox_ip(struct status_cache *c, const char *id, int64_t now_ms);
void status_cache_put_sandbox_ip(struct status_cache *c, const char *id, const char *ip, int64_t now_ms);
/* Drops everything held under id: a container or a sandbox the runtime removed (its entries would otherwise
 * wait CACHE_IDLE_MS, and a put, to go). */
void status_cache_forget(struct status_cache *c, const char *id);
/* Entries held (tests). */
size_t status_cache_size(struct status_cache *c);
