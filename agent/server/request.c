/* The node API's request line as a plan (request.h). */
#include "request.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "util.h"

void node_request_clear(struct node_request *r)
{
        free(r->ns);
        free(r->pod);
        free(r->container);
        r->ns = r->pod = r->container = NULL;
}

static int refuse(struct node_request *r, unsigned status, const char *fmt, ...) _printf_(3, 4);
static int refuse(struct node_request *r, unsigned status, const char *fmt, ...)
{
        va_list ap;
        node_request_clear(r);
        r->ep = NODE_EP_NONE;
        r->status = status;
        va_start(ap, fmt);
        vsnprintf(r->error, sizeof r->error, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* The last value of key (as Go's url.Values.Get takes the first; one of them is as good), or NULL. */
static const char *arg(const struct node_query_arg *args, size_t n, const char *key, bool *present)
{
        const char *v = NULL;
        *present = false;
        for (size_t i = 0; i < n; i++)
                if (args[i].key && streq(args[i].key, key)) {
                        *present = true;
                        v = args[i].value;
                }
        return v;
}

static bool arg_bool(const struct node_query_arg *args, size_t n, const char *key)
{
        bool present;
        const char *v = arg(args, n, key, &present);
        return v && (streq(v, "true") || streq(v, "1") || streq(v, "True"));
}

/* A decimal integer in [min, max]: 1 with *ret, 0 when absent, -EINVAL (r refused, naming key) otherwise. */
static int arg_int(struct node_request *r, const struct node_query_arg *args, size_t n, const char *key,
                   int64_t min, int64_t max, int64_t *ret)
{
        bool present;
        const char *v = arg(args, n, key, &present);
        if (!present)
                return 0;
        /* As Go's strconv.ParseInt: an optional sign, then digits only (strtoll also skips spaces). */
        const char *digits = v && (*v == '-' || *v == '+') ? v + 1 : v;
        char *end = NULL;
        errno = 0;
        long long x = digits && *digits >= '0' && *digits <= '9' ? strtoll(v, &end, 10) : 0;
        if (!end || *end || errno == ERANGE || x < min || x > max)
                return refuse(r, 400,
                              "invalid query: %s: expected an integer from %" PRId64 " to %" PRId64 "\n",
                              key, min, max);
        *ret = x;
        return 1;
}

/* kubectl's PodLogOptions, as upstream validates them (ValidatePodLogOptions), and ranges that keep the
 * arithmetic on them defined. */
static int parse_log_options(struct node_request *r, const struct node_query_arg *args, size_t n,
                             int64_t now_ns)
{
        struct log_options *o = &r->log;
        int64_t since_s = 0;
        int k;
        *o = (struct log_options){.tail = -1};
        o->follow = arg_bool(args, n, "follow");
        o->previous = arg_bool(args, n, "previous");
        o->timestamps = arg_bool(args, n, "timestamps");
        if (arg_int(r, args, n, "tailLines", 0, INT64_MAX, &o->tail) < 0 ||
            arg_int(r, args, n, "limitBytes", 1, INT64_MAX, &o->limit) < 0 ||
            (k = arg_int(r, args, n, "sinceSeconds", 1, NODE_MAX_SINCE_SECONDS, &since_s)) < 0)
                return -EINVAL;
        bool present;
        const char *since_time = arg(args, n, "sinceTime", &present);
        if (present && k > 0)
                return refuse(r, 400,
                              "invalid query: at most one of sinceTime or sinceSeconds may be specified\n");
        if (present) {
                if (!since_time || rfc3339_parse_ns(since_time, strlen(since_time), &o->since_ns) < 0)
                        return refuse(r, 400, "invalid query: sinceTime: expected RFC 3339\n");
        } else if (k > 0) {
                /* Both within [0, INT64_MAX]: no overflow. Before the epoch: every line. */
                int64_t back = since_s * 1000000000LL;
                o->since_ns = now_ns > back ? now_ns - back : 0;
        }
        return 0;
}

/* Splits "a/b[/c]" (what follows /containerLogs/, /exec/ ...) into exactly want non-empty parts. */
static int split_parts(const char *rest, size_t want, char *parts[static 3])
{
        _cleanup_free_ char *copy = xstrdup(rest);
        char *save = NULL;
        size_t i = 0;
        for (char *p = strtok_r(copy, "/", &save); p && i <= want; p = strtok_r(NULL, "/", &save), i++)
                if (i < want)
                        parts[i] = xstrdup(p);
        if (i == want)
                return 0;
        for (size_t j = 0; j < want; j++) {
                free(parts[j]);
                parts[j] = NULL;
        }
        return -EINVAL;
}

static bool path_is(const char *url, const char *p)
{
        size_t n = strlen(p);
        return strncmp(url, p, n) == 0 && (url[n] == 0 || (url[n] == '/' && url[n + 1] == 0));
}

int node_request_parse(const char *method, const char *path, const struct node_query_arg *args,
                       size_t n_args, int64_t now_ns, struct node_request *ret)
{
        static const struct {
                const char *kind;
                enum node_endpoint ep;
        } streams[] = {
                {"exec", NODE_EP_EXEC}, {"attach", NODE_EP_ATTACH}, {"portForward", NODE_EP_PORT_FORWARD}};
        bool get = streq(method, "GET") || streq(method, "HEAD");
        char *parts[3] = {NULL, NULL, NULL};

        *ret = (struct node_request){.log.tail = -1};
        for (size_t i = 0; i < ELEMENTSOF(streams); i++) {
                size_t n = strlen(streams[i].kind);
                if (path[0] != '/' || strncmp(path + 1, streams[i].kind, n) != 0 || path[n + 1] != '/')
                        continue;
                bool pf = streams[i].ep == NODE_EP_PORT_FORWARD;
                if (!get && !streq(method, "POST"))
                        return refuse(ret, 405, "method not allowed\n");
                if (split_parts(path + n + 2, pf ? 2 : 3, parts) < 0)
                        return refuse(ret, 400, "expected /%s/{namespace}/{pod}%s\n", streams[i].kind,
                                      pf ? "" : "/{container}");
                *ret = (struct node_request){.ep = streams[i].ep,
                                             .kind = streams[i].kind,
                                             .ns = parts[0],
                                             .pod = parts[1],
                                             .container = parts[2],
                                             .log.tail = -1};
                return 0;
        }
        if (str_has_prefix(path, "/containerLogs/")) {
                if (!get)
                        return refuse(ret, 405, "method not allowed\n");
                if (split_parts(path + strlen("/containerLogs/"), 3, parts) < 0)
                        return refuse(ret, 400, "expected /containerLogs/{namespace}/{pod}/{container}\n");
                *ret = (struct node_request){.ep = NODE_EP_CONTAINER_LOGS,
                                             .ns = parts[0],
                                             .pod = parts[1],
                                             .container = parts[2]};
                return parse_log_options(ret, args, n_args, now_ns);
        }
        if (!get)
                return refuse(ret, 405, "method not allowed\n");
        static const struct {
                const char *path;
                enum node_endpoint ep;
        } plain[] = {
                {"/healthz", NODE_EP_HEALTHZ},
                {"/pods", NODE_EP_PODS},
                {"/runningpods", NODE_EP_RUNNINGPODS},
                {"/stats/summary", NODE_EP_STATS_SUMMARY},
                {"/metrics/resource", NODE_EP_METRICS_RESOURCE},
                {"/configz", NODE_EP_CONFIGZ},
                {"/metrics", NODE_EP_METRICS},
        };
        for (size_t i = 0; i < ELEMENTSOF(plain); i++)
                if (path_is(path, plain[i].path)) {
                        ret->ep = plain[i].ep;
                        return 0;
                }
        return refuse(ret, 404, "404 page not found\n");
}
