/* Answers on libmicrohttpd connections, shared by the health port, the node server and its streams. */
#pragma once

#include <jansson.h>
#include <microhttpd.h>

enum MHD_Result http_reply_type(struct MHD_Connection *conn, unsigned status, const char *body,
                                const char *type);
/* text/plain */
enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned status, const char *body);
/* 200 with the object as JSON; takes obj. */
enum MHD_Result http_reply_json(struct MHD_Connection *conn, json_t *obj);

struct stats;
/* /stats/summary (with upstream's ?only_cpu_and_memory=true): the Summary, or 500 naming what failed. */
enum MHD_Result http_reply_summary(struct MHD_Connection *conn, struct stats *stats);
/* 200 with Prometheus text; takes text (malloc'd, len bytes). */
enum MHD_Result http_reply_prometheus(struct MHD_Connection *conn, char *text, size_t len);
/* /metrics/resource: upstream's resource metrics (Prometheus text), or 500 naming what failed. */
enum MHD_Result http_reply_resource_metrics(struct MHD_Connection *conn, struct stats *stats);
