/* /exec through the runtime's streaming server: CRI Exec gives a URL; the client's upgraded (SPDY)
 * connection is proxied to it, as upstream's kubelet does without redirectContainerStreaming. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

struct cri_client;
struct stream_proxies;

struct stream_proxies *stream_proxies_new(void);
/* Closes every proxied connection and waits for their threads: before MHD_stop_daemon. */
struct stream_proxies *stream_proxies_free(struct stream_proxies *sp);

/* Answers an exec request for the container (CRI ID): 101 and the proxied stream, or an error. */
enum MHD_Result stream_exec(struct stream_proxies *sp, struct MHD_Connection *conn, struct cri_client *cri,
                            const char *container_id, int64_t timeout_ms);
