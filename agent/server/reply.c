/* Answers on libmicrohttpd connections, shared by the health port, the node server and its streams. */
#include "reply.h"

#include <string.h>

#include "macro.h"
#include "stats.h"
#include "util.h"

enum MHD_Result http_reply_type(struct MHD_Connection *conn, unsigned status, const char *body,
                                const char *type)
{
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", type);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        enum MHD_Result r = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return r;
}

enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned status, const char *body)
{
        return http_reply_type(conn, status, body, "text/plain; charset=utf-8");
}

enum MHD_Result http_reply_json(struct MHD_Connection *conn, json_t *obj)
{
        _cleanup_free_ char *json = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
        if (!json)
                return http_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot encode the answer\n");
        return http_reply_type(conn, MHD_HTTP_OK, json, "application/json");
}

enum MHD_Result http_reply_summary(struct MHD_Connection *conn, struct stats *stats)
{
        const char *only = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "only_cpu_and_memory");
        _cleanup_free_ char *err = NULL;
        json_t *sum = stats_summary(stats, only && (streq(only, "true") || streq(only, "1")), &err);
        if (!sum) {
                _cleanup_free_ char *msg = strdup_printf("Internal Error: %s\n", err);
                return http_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
        }
        return http_reply_json(conn, sum);
}

enum MHD_Result http_reply_prometheus(struct MHD_Connection *conn, char *text, size_t len)
{
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return r;
}

enum MHD_Result http_reply_resource_metrics(struct MHD_Connection *conn, struct stats *stats)
{
        _cleanup_free_ char *err = NULL;
        char *text = stats_resource_metrics(stats, &err);
        if (!text) {
                _cleanup_free_ char *msg = strdup_printf("Internal Error: %s\n", err);
                return http_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
        }
        return http_reply_prometheus(conn, text, strlen(text));
}
