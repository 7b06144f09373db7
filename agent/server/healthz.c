/* The healthz endpoint (127.0.0.1:10248/healthz): "ok", or HTTP 500 naming what is unhealthy. */
#include <stdbool.h>

#include "healthz.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>

#include "macro.h"
#include "reply.h"

struct healthz {
        struct MHD_Daemon *daemon;
        struct healthz_handlers h;
};

/* Finds "verbose" among the query arguments ("?verbose" has no value, which the lookup cannot tell from
 * absent). */
static enum MHD_Result has_verbose(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        if (!streq(key, "verbose"))
                return MHD_YES;
        *(bool *) cls = true;
        return MHD_NO;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size,
                              void **state)
{
        struct healthz *h = cls;
        char reason[2048] = "", body[2600];

        if (!streq(method, "GET") && !streq(method, "HEAD"))
                return http_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
        healthz_json_fn fn = streq(url, "/pods") || streq(url, "/pods/")       ? h->h.pods
                             : streq(url, "/events") || streq(url, "/events/") ? h->h.events
                                                                               : NULL;
        if (fn)
                return http_reply_json(conn, fn(h->h.userdata));
        if (h->h.stats && (streq(url, "/stats/summary") || streq(url, "/stats/summary/")))
                return http_reply_summary(conn, h->h.stats);
        if (h->h.stats && (streq(url, "/metrics/resource") || streq(url, "/metrics/resource/")))
                return http_reply_resource_metrics(conn, h->h.stats);
        if (!streq(url, "/healthz") && !streq(url, "/healthz/"))
                return http_reply(conn, MHD_HTTP_NOT_FOUND, "404 page not found\n");
        if (h->h.check(h->h.userdata, reason, sizeof reason)) {
                /* Upstream's ?verbose lists every check, including those that only inform (network). */
                bool verbose = false;
                MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, has_verbose, &verbose);
                if (!verbose)
                        return http_reply(conn, MHD_HTTP_OK, "ok");
                snprintf(body, sizeof body, "[+]ping ok\n%shealthz check passed\n", reason);
                return http_reply(conn, MHD_HTTP_OK, body);
        }
        snprintf(body, sizeof body, "[+]ping ok\n%shealthz check failed\n", reason);
        return http_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, body);
}

int healthz_start(const char *bind_addr, int port, const struct healthz_handlers *handlers,
                  struct healthz **ret)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        struct healthz *h;

        if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1)
                return -EINVAL;
        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->h = *handlers;
        h->daemon =
                MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t) port, NULL,
                                 NULL, handle, h, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned) 10, MHD_OPTION_CONNECTION_LIMIT, (unsigned) 64, MHD_OPTION_END);
        if (!h->daemon) {
                free(h);
                return -EADDRINUSE;
        }
        *ret = h;
        return 0;
}

struct healthz *healthz_stop(struct healthz *h)
{
        if (!h)
                return NULL;
        MHD_stop_daemon(h->daemon);
        free(h);
        return NULL;
}
