/* libFuzzer target for the node API's request parsing (agent/server/request.c): the input is a request line,
 * "METHOD /path?query", its query split and percent-decoded as libmicrohttpd does before the parser sees it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex(char c)
{
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                      : -1;
}

static void unescape(char *s)
{
        char *o = s;
        for (; *s; s++) {
                if (*s == '+')
                        *o++ = ' ';
                else if (*s == '%' && hex(s[1]) >= 0 && hex(s[2]) >= 0) {
                        *o++ = (char) (hex(s[1]) * 16 + hex(s[2]));
                        s += 2;
                } else
                        *o++ = *s;
        }
        *o = 0;
}

static void check_part(const char *p, bool may_be_null)
{
        if ((!p && !may_be_null) || (p && (!*p || strchr(p, '/')))) {
                fprintf(stderr, "a path parameter is missing, empty or holds '/'\n");
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *line = malloc(size + 1);
        if (!line)
                return 0;
        memcpy(line, data, size);
        line[size] = 0; /* a NUL inside ends it, as it ends MHD's strings */
        char root[] = "/", *path = strchr(line, ' ');
        const char *method = line;
        if (path)
                *path++ = 0;
        else
                path = root;
        char *query = strchr(path, '?');
        if (query)
                *query++ = 0;
        unescape(path);

        struct node_query_arg args[64];
        size_t n = 0;
        for (char *save = NULL, *kv = query ? strtok_r(query, "&", &save) : NULL; kv && n < 64;
             kv = strtok_r(NULL, "&", &save)) {
                char *eq = strchr(kv, '=');
                if (eq) {
                        *eq++ = 0;
                        unescape(eq);
                }
                unescape(kv);
                args[n++] = (struct node_query_arg){kv, eq};
        }

        struct node_request r;
        int ret = node_request_parse(method, path, args, n, 1700000000LL * 1000000000LL, &r);
        /* Properties: a refusal says how (400, 404 or 405, with a text) and owns nothing; an endpoint's
         * parameters are whole path segments; the log options are in range. */
        if (ret < 0) {
                if (r.ep != NODE_EP_NONE || (r.status != 400 && r.status != 404 && r.status != 405) ||
                    !r.error[0] || r.ns || r.pod || r.container) {
                        fprintf(stderr, "node_request_parse refused without saying how\n");
                        abort();
                }
        } else if (r.ep == NODE_EP_NONE) {
                fprintf(stderr, "node_request_parse accepted no endpoint\n");
                abort();
        } else if (r.ep >= NODE_EP_CONTAINER_LOGS) {
                check_part(r.ns, false);
                check_part(r.pod, false);
                check_part(r.container, r.ep == NODE_EP_PORT_FORWARD);
                if (r.log.tail < -1 || r.log.limit < 0 || r.log.since_ns < 0) {
                        fprintf(stderr, "log options out of range\n");
                        abort();
                }
        }
        node_request_clear(&r);
        free(line);
        return 0;
}
