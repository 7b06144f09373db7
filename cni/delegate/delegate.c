/* cubelet-delegate: the CNI plugin in the runtime's CNI directory in agent network mode. It hands each request
 * to the running cubelet over a unix socket (the conflist's "socket"), which runs the real chain, and prints
 * the answer. With no agent listening it fails at once with a CNI error saying so.
 *
 * Protocol (one request per connection): the plugin writes a JSON object {"command", "containerID", "netns",
 * "ifname", "args", "config"} and shuts its side down; the agent answers {"ok": bool, "output": "..."} and
 * closes. "output" is what the plugin prints on stdout (a result, or a CNI error object). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_MSG       (4 << 20)
#define REPLY_TIMEOUT 300 /* s; the runtime's own deadline is usually shorter */

static const char *version = "1.0.0";
/* Freed at exit, so leak checkers stay quiet about this short-lived process. */
static char *conf, *reqs, *reply;
static json_t *cj, *req, *rj;

static void free_all(void)
{
        free(conf);
        free(reqs);
        free(reply);
        json_decref(cj);
        json_decref(req);
        json_decref(rj);
}

static int fail(int code, const char *msg, const char *details)
{
        json_t *e = json_pack("{s:s, s:i, s:s, s:s}", "cniVersion", version, "code", code, "msg", msg,
                              "details", details ? details : "");
        char *s = json_dumps(e, JSON_COMPACT);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(e);
        return 1;
}

static char *read_all(int fd, size_t *ret_len)
{
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap + 1);
        for (;;) {
                if (!buf)
                        return NULL;
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        free(buf);
                        return NULL;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len == cap) {
                        if (cap >= MAX_MSG) {
                                free(buf);
                                errno = EMSGSIZE;
                                return NULL;
                        }
                        cap *= 2;
                        char *nb = realloc(buf, cap + 1);
                        if (!nb)
                                free(buf);
                        buf = nb;
                }
        }
        buf[len] = 0;
        *ret_len = len;
        return buf;
}

static int write_all(int fd, const char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static const char *env(const char *k)
{
        const char *v = getenv(k);
        return v ? v : "";
}

int main(void)
{
        const char *cmd = env("CNI_COMMAND");
        size_t len;
        atexit(free_all);
        conf = read_all(STDIN_FILENO, &len);
        cj = conf ? json_loads(conf, 0, NULL) : NULL;

        if (json_is_string(json_object_get(cj, "cniVersion")))
                version = json_string_value(json_object_get(cj, "cniVersion"));
        if (strcmp(cmd, "VERSION") == 0) {
                printf("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\","
                       "\"1.0.0\"]}\n");
                return 0;
        }
        if (!cj)
                return fail(6, "cubelet-delegate: cannot decode the network configuration", NULL);
        if (strcmp(cmd, "ADD") && strcmp(cmd, "DEL") && strcmp(cmd, "CHECK") && strcmp(cmd, "GC") &&
            strcmp(cmd, "STATUS"))
                return fail(4, "cubelet-delegate: unknown CNI_COMMAND", cmd);
        const char *path = json_string_value(json_object_get(cj, "socket"));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (!path || strlen(path) >= sizeof sa.sun_path)
                return fail(7,
                            "cubelet-delegate: the configuration needs \"socket\", the agent's socket path",
                            NULL);
        strcpy(sa.sun_path, path);

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                char details[256];
                snprintf(details, sizeof details, "connect %s: %s", path, strerror(errno));
                return fail(11, "cubelet-delegate: the cubelet agent is not running (network-mode agent)",
                            details);
        }
        struct timeval tv = {.tv_sec = REPLY_TIMEOUT};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "command", cmd, "containerID",
                        env("CNI_CONTAINERID"), "netns", env("CNI_NETNS"), "ifname", env("CNI_IFNAME"),
                        "args", env("CNI_ARGS"), "config", conf);
        reqs = req ? json_dumps(req, JSON_COMPACT) : NULL;
        if (!reqs || write_all(fd, reqs, strlen(reqs)) < 0 || shutdown(fd, SHUT_WR) < 0)
                return fail(5, "cubelet-delegate: cannot send the request to the agent", strerror(errno));
        reply = read_all(fd, &len);
        if (!reply)
                return fail(5, "cubelet-delegate: no answer from the agent", strerror(errno));
        rj = json_loads(reply, 0, NULL);
        const char *out = json_string_value(json_object_get(rj, "output"));
        if (!rj || !out)
                return fail(5, "cubelet-delegate: the agent's answer is not understood", NULL);
        fputs(out, stdout);
        return json_is_true(json_object_get(rj, "ok")) ? 0 : 1;
}
