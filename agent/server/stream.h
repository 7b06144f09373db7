/* /exec, /attach and /portForward through the runtime's streaming server: CRI gives a URL; the client's
 * upgraded connection (SPDY or WebSocket) is proxied to it, as upstream's kubelet does without
 * redirectContainerStreaming. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

struct cri_client;
struct stream_proxies;

struct stream_proxies *stream_proxies_new(void);
/* Closes every proxied connection, refuses new ones and waits for their threads: before MHD_stop_daemon,
 * which wants upgraded connections closed. */
void stream_proxies_close(struct stream_proxies *sp);
/* Closes as above and frees: after MHD_stop_daemon, when no connection thread can use sp any more. */
struct stream_proxies *stream_proxies_free(struct stream_proxies *sp);

/* Each answers a request with 101 and the proxied stream, or an error: exec and attach for a container (CRI
 * ID), port forwarding for the running sandbox of a pod UID. */
enum MHD_Result stream_exec(struct stream_proxies *sp, struct MHD_Connection *conn, struct cri_client *cri,
                            const char *container_id, int64_t timeout_ms);
enum MHD_Result stream_attach(struct stream_proxies *sp, struct MHD_Connection *conn, struct cri_client *cri,
                              const char *container_id, int64_t timeout_ms);
enum MHD_Result stream_port_forward(struct stream_proxies *sp, struct MHD_Connection *conn,
                                    struct cri_client *cri, const char *pod_uid, int64_t timeout_ms);
