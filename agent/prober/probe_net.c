/* httpGet probes on libcurl (one easy handle per probe) and tcpSocket probes on a non-blocking connect(). */
#include "probe_net.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "macro.h"
#include "util.h"

#define PROBE_DEFAULT_TIMEOUT_MS 1000 /* kubelet's default timeoutSeconds */
#define PROBE_MAX_REQUESTS       10   /* Go's default CheckRedirect: "stopped after 10 redirects" */
#define PROBE_DIAL_MIN_MS        2000 /* Go's saneMinimum when a dial's time is split over addresses */

static void out_printf(char *out, size_t len, const char *fmt, ...) _printf_(3, 4);
static void out_printf(char *out, size_t len, const char *fmt, ...)
{
        va_list ap;

        if (!out || len == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(out, len, fmt, ap);
        va_end(ap);
}

static int64_t effective_timeout(int64_t timeout_ms)
{
        return timeout_ms > 0 ? timeout_ms : PROBE_DEFAULT_TIMEOUT_MS;
}

/* Go's error strings are glibc's with a lower-case first letter ("connection refused"). */
static void errno_text(int err, char *buf, size_t len)
{
        char tmp[128];
        const char *s = strerror_r(err, tmp, sizeof(tmp));

        snprintf(buf, len, "%s", s);
        if (buf[0])
                buf[0] = (char) tolower((unsigned char) buf[0]);
}

/* Copies host without the brackets of "[::1]"; false when it is empty, too long or has characters no IP
 * address or DNS name has (the probe is not built then, as kubelet's URL parse would fail). */
static bool host_normalize(const char *host, char *buf, size_t len, bool *ret_v6)
{
        size_t n;
        bool v6, zone = false;

        if (!host)
                return false;
        n = strlen(host);
        if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
                host++;
                n -= 2;
        }
        if (n == 0 || n >= len)
                return false;
        memcpy(buf, host, n);
        buf[n] = '\0';

        v6 = memchr(buf, ':', n) != NULL;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) buf[i];
                if (v6 && c == '%' && !zone && i > 0 && i + 1 < n) {
                        zone = true;
                        continue;
                }
                if (isalnum(c) || c == '.' || (c == ':' && v6 && !zone) || c == '-' || c == '_')
                        continue;
                return false;
        }
        *ret_v6 = v6;
        return true;
}

/* ---- TCP ---------------------------------------------------------------------------------------- */

/* A getaddrinfo() that gives up at the deadline, as Go's resolver does: the lookup runs on a detached
 * thread; whichever side finishes last frees the job. */
struct resolve_job {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned refs;
        bool done;
        int err;
        struct addrinfo *res;
        char host[256];
        char port[8];
};

static void resolve_job_unref(struct resolve_job *j)
{
        bool last;

        pthread_mutex_lock(&j->lock);
        last = --j->refs == 0;
        pthread_mutex_unlock(&j->lock);
        if (!last)
                return;
        if (j->res)
                freeaddrinfo(j->res);
        pthread_cond_destroy(&j->cond);
        pthread_mutex_destroy(&j->lock);
        free(j);
}

static const struct addrinfo resolve_hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_protocol = IPPROTO_TCP,
        .ai_flags = AI_NUMERICSERV,
};

static void *resolve_thread(void *arg)
{
        struct resolve_job *j = arg;
        struct addrinfo *res = NULL;
        int r = getaddrinfo(j->host, j->port, &resolve_hints, &res);

        pthread_mutex_lock(&j->lock);
        j->err = r;
        j->res = r == 0 ? res : NULL;
        j->done = true;
        pthread_cond_signal(&j->cond);
        pthread_mutex_unlock(&j->lock);
        resolve_job_unref(j);
        return NULL;
}

/* Returns 0 with *ret, an EAI_* code, or EAI_AGAIN with *ret_timed_out set at the deadline. */
static int resolve(const char *host, int port, int64_t deadline, struct addrinfo **ret, bool *ret_timed_out)
{
        struct addrinfo hints = resolve_hints;
        char portstr[8];
        struct resolve_job *j;
        pthread_attr_t ta;
        pthread_t t;
        int r;

        *ret_timed_out = false;
        snprintf(portstr, sizeof(portstr), "%d", port);
        hints.ai_flags |= AI_NUMERICHOST;
        r = getaddrinfo(host, portstr, &hints, ret);
        if (r != EAI_NONAME)
                return r;

        j = OOM_CHECK(calloc(1, sizeof(*j)));
        snprintf(j->host, sizeof(j->host), "%s", host);
        memcpy(j->port, portstr, sizeof(portstr));
        j->refs = 2;
        pthread_mutex_init(&j->lock, NULL);
        cond_init_monotonic(&j->cond);

        pthread_attr_init(&ta);
        pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&t, &ta, resolve_thread, j);
        pthread_attr_destroy(&ta);
        if (r != 0)
                /* No thread to spare: resolve here, unbounded, rather than not at all. It drops the
                 * thread's reference; ours stays. */
                resolve_thread(j);

        pthread_mutex_lock(&j->lock);
        while (!j->done) {
                int64_t left = deadline - now_mono_ms();
                if (left <= 0)
                        break;
                cond_wait_ms(&j->cond, &j->lock, left);
        }
        if (j->done) {
                r = j->err;
                *ret = TAKE_PTR(j->res);
        } else {
                r = EAI_AGAIN;
                *ret_timed_out = true;
        }
        pthread_mutex_unlock(&j->lock);
        resolve_job_unref(j);
        return r;
}

/* Upstream's probe dialer: SO_LINGER of 1 s so that probe sockets do not pile up in TIME-WAIT. */
static void set_probe_linger(int fd)
{
        struct linger lg = {.l_onoff = 1, .l_linger = 1};

        (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* connect() bounded by deadline. -ETIME when the deadline passed; *ret_op names the failing step. */
static int tcp_connect(const struct addrinfo *ai, int64_t deadline, const char **ret_op)
{
        _cleanup_close_ int fd = -1;

        *ret_op = "socket";
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
                return -errno;
        set_probe_linger(fd);

        *ret_op = "connect";
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
                return 0;
        if (errno != EINPROGRESS && errno != EINTR)
                return -errno;

        for (;;) {
                int64_t left = deadline - now_mono_ms();
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                socklen_t sl = sizeof(int);
                int r, err = 0;

                if (left <= 0)
                        return -ETIME;
                r = poll(&pfd, 1, (int) MIN(left, (int64_t) INT_MAX));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        continue;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
                        return -errno;
                return -err;
        }
}

/* "10.0.0.5:80" / "[::1]:80", as Go's JoinHostPort prints a dialled address. */
static void addr_text(const struct addrinfo *ai, char *buf, size_t len)
{
        char host[NI_MAXHOST], serv[NI_MAXSERV];

        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), serv, sizeof(serv),
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
                snprintf(buf, len, "?");
                return;
        }
        snprintf(buf, len, ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

enum probe_result probe_tcp(const char *host, int port, int64_t timeout_ms, char *ret_output,
                            size_t output_len)
{
        char h[256], first_addr[NI_MAXHOST + NI_MAXSERV + 4] = "", why[128];
        int64_t deadline = now_mono_ms() + effective_timeout(timeout_ms);
        struct addrinfo *res = NULL;
        const char *first_op = NULL;
        int first_err = 0;
        bool v6, timed_out;
        size_t n = 0;
        int r;

        out_printf(ret_output, output_len, "%s", "");
        if (!host_normalize(host, h, sizeof(h), &v6)) {
                out_printf(ret_output, output_len, "invalid TCP probe host \"%s\"", host ? host : "");
                return PROBE_UNKNOWN;
        }
        if (port < 1 || port > 65535) {
                out_printf(ret_output, output_len, "invalid TCP probe port %d", port);
                return PROBE_UNKNOWN;
        }

        r = resolve(h, port, deadline, &res, &timed_out);
        if (r != 0) {
                out_printf(ret_output, output_len, "dial tcp: lookup %s: %s", h,
                           timed_out         ? "i/o timeout"
                           : r == EAI_SYSTEM ? strerror(errno)
                                             : gai_strerror(r));
                return PROBE_FAILURE;
        }

        for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
                n++;
        for (const struct addrinfo *ai = res; ai; ai = ai->ai_next, n--) {
                /* Go's partialDeadline: share what is left over the remaining addresses, 2 s at least. */
                int64_t now = now_mono_ms(), left = deadline - now, slice = left / (int64_t) n;
                const char *op;

                if (left <= 0) {
                        if (!first_op) {
                                addr_text(ai, first_addr, sizeof(first_addr));
                                first_op = "dial";
                                first_err = -ETIME;
                        }
                        break;
                }
                if (slice < PROBE_DIAL_MIN_MS)
                        slice = MIN(left, (int64_t) PROBE_DIAL_MIN_MS);
                r = tcp_connect(ai, now + slice, &op);
                if (r == 0) {
                        freeaddrinfo(res);
                        return PROBE_SUCCESS;
                }
                if (!first_op) {
                        addr_text(ai, first_addr, sizeof(first_addr));
                        first_op = op;
                        first_err = r;
                }
        }
        freeaddrinfo(res);

        if (first_err == -ETIME)
                out_printf(ret_output, output_len, "dial tcp %s: i/o timeout", first_addr);
        else {
                errno_text(-first_err, why, sizeof(why));
                out_printf(ret_output, output_len, "dial tcp %s: %s: %s", first_addr, first_op, why);
        }
        return PROBE_FAILURE;
}

/* ---- HTTP --------------------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_ALL);
}

struct body {
        char data[PROBE_HTTP_MAX_BODY + 1];
        size_t len;
        bool limited; /* more than PROBE_HTTP_MAX_BODY was sent: the transfer was cut on purpose */
};

static size_t body_write(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct body *b = userdata;
        size_t n = size * nmemb, room = PROBE_HTTP_MAX_BODY - b->len;

        if (n > room) {
                /* Upstream reads at most 10 KiB; returning short makes libcurl stop (CURLE_WRITE_ERROR). */
                memcpy(b->data + b->len, data, room);
                b->len += room;
                b->data[b->len] = '\0';
                b->limited = true;
                return 0;
        }
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
        return n;
}

static curl_socket_t open_socket(void *userdata, curlsocktype purpose, struct curl_sockaddr *a)
{
        return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int socket_options(void *userdata, curl_socket_t fd, curlsocktype purpose)
{
        set_probe_linger(fd);
        return CURL_SOCKOPT_OK;
}

/* The value without surrounding blanks, as Go writes it; a view into v of *ret_len bytes. */
static const char *header_value_trim(const char *v, int *ret_len)
{
        size_t n;

        if (!v)
                v = "";
        while (*v == ' ' || *v == '\t')
                v++;
        n = strlen(v);
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
        *ret_len = (int) MIN(n, (size_t) INT_MAX);
        return v;
}

static void slist_add(struct curl_slist **l, const char *fmt, ...) _printf_(2, 3);
static void slist_add(struct curl_slist **l, const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        struct curl_slist *n;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        OOM_CHECK(s);
        n = OOM_CHECK(curl_slist_append(*l, s));
        *l = n;
}

/* Returns the name of the first invalid header, or NULL. */
static const char *headers_invalid(const struct probe_http *p, bool *ret_name_bad)
{
        for (size_t i = 0; i < p->n_headers; i++) {
                const struct probe_header *hd = &p->headers[i];
                if (!http_header_name_valid(hd->name)) {
                        *ret_name_bad = true;
                        return hd->name ? hd->name : "";
                }
                if (!http_header_value_valid(hd->value)) {
                        *ret_name_bad = false;
                        return hd->name;
                }
        }
        return NULL;
}

/* The request headers as upstream's newProbeRequest + Go's transport make them: user headers (canonical
 * names, all values) win over the defaults User-Agent: kube-probe/x.y and Accept: * / *; only the first
 * User-Agent and Host values count; an empty Accept removes Accept; Connection: close (no keep-alive).
 * The Host override applies when with_host (Go drops it on absolute redirects). */
static struct curl_slist *headers_build(const struct probe_http *p, bool with_host)
{
        struct curl_slist *l = NULL;
        bool have_ua = false, have_accept = false, no_accept = false, have_host = false;

        for (size_t i = 0; i < p->n_headers; i++) {
                const struct probe_header *hd = &p->headers[i];
                char name[256];
                const char *v;
                int vn;

                http_header_name_canonical(hd->name, name, sizeof(name));
                v = header_value_trim(hd->value, &vn);
                if (streq(name, "Host")) {
                        if (!have_host && with_host && vn > 0)
                                slist_add(&l, "Host: %.*s", vn, v);
                        have_host = true;
                        continue;
                }
                if (streq(name, "User-Agent")) {
                        /* "User-Agent:" with nothing after it makes libcurl send none, as Go does. */
                        if (!have_ua)
                                slist_add(&l, "User-Agent:%s%.*s", vn > 0 ? " " : "", vn, v);
                        have_ua = true;
                        continue;
                }
                if (streq(name, "Accept")) {
                        if (!have_accept && vn == 0)
                                no_accept = true;
                        have_accept = true;
                        if (no_accept)
                                continue;
                }
                if (vn > 0)
                        slist_add(&l, "%s: %.*s", name, vn, v);
                else
                        slist_add(&l, "%s;", name); /* libcurl's spelling of an empty value */
        }
        if (!have_ua)
                slist_add(&l, "User-Agent: %s", p->user_agent ? p->user_agent : PROBE_USER_AGENT);
        if (!have_accept)
                slist_add(&l, "Accept: */*");
        else if (no_accept)
                slist_add(&l, "Accept:");
        slist_add(&l, "Connection: close");
        return l;
}

DEFINE_CLEANUP_FUNC(struct curl_slist, curl_slist_free_all)
DEFINE_CLEANUP_FUNC(CURL, curl_easy_cleanup)
DEFINE_CLEANUP_FUNC(CURLU, curl_url_cleanup)

static bool path_byte_plain(unsigned char c)
{
        return c > ' ' && c < 0x7f && !strchr("\"<>\\^`{|}", c);
}

/* scheme://host:port/path with the path's spaces, controls and non-ASCII bytes %-escaped as Go's
 * URL.String() does; "" → "/". NULL when the host cannot be part of a URL. */
static char *url_build(const char *scheme, const char *host, int port, const char *path)
{
        char h[256], hostpart[512];
        _cleanup_free_ char *esc = NULL;
        size_t k = 0, n;
        bool v6;

        if (!host_normalize(host, h, sizeof(h), &v6))
                return NULL;
        if (v6) {
                /* A zone's '%' is written %25 inside the brackets (RFC 6874). */
                size_t j = 0;
                hostpart[j++] = '[';
                for (const char *c = h; *c && j + 4 < sizeof(hostpart); c++) {
                        if (*c == '%') {
                                memcpy(hostpart + j, "%25", 3);
                                j += 3;
                        } else
                                hostpart[j++] = *c;
                }
                hostpart[j++] = ']';
                hostpart[j] = '\0';
        } else
                snprintf(hostpart, sizeof(hostpart), "%s", h);

        path = path ? path : "";
        n = strlen(path);
        esc = OOM_CHECK(malloc(3 * n + 2));
        if (path[0] != '/')
                esc[k++] = '/';
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) path[i];
                if (path_byte_plain(c))
                        esc[k++] = (char) c;
                else
                        k += (size_t) sprintf(esc + k, "%%%02X", c);
        }
        esc[k] = '\0';
        return strdup_printf("%s://%s:%d%s", scheme, hostpart, port, esc);
}

/* The host of a URL as Go's URL.Hostname() compares it (case aside) and host:port for messages. */
static bool url_host_port(const char *url, char *host, size_t host_len, char *hostport, size_t hp_len)
{
        _cleanup_(curl_url_cleanupp) CURLU *u = curl_url();
        char *hs = NULL, *ps = NULL;
        bool ok = false;

        if (!u || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
                return false;
        if (curl_url_get(u, CURLUPART_HOST, &hs, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_PORT, &ps, CURLU_DEFAULT_PORT) == CURLUE_OK) {
                snprintf(host, host_len, "%s", hs);
                snprintf(hostport, hp_len, "%s:%s", hs, ps);
                ok = true;
        }
        curl_free(hs);
        curl_free(ps);
        return ok;
}

/* Go's URL.IsAbs(): the Location has a scheme. */
static bool location_absolute(const char *loc)
{
        const char *c = loc;

        while (*c == ' ' || *c == '\t')
                c++;
        if (!isalpha((unsigned char) *c))
                return false;
        while (isalnum((unsigned char) *c) || *c == '+' || *c == '-' || *c == '.')
                c++;
        return *c == ':';
}

static bool status_is_redirect(long code)
{
        return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

/* The error after `Get "URL": `, Go-like where Go's wording is well known. */
static void transfer_error(CURL *c, CURLcode rc, const char *errbuf, const char *url, char *buf, size_t len)
{
        char host[256], hostport[300], why[128];
        long code = 0, os_errno = 0;

        if (rc == CURLE_OPERATION_TIMEDOUT) {
                (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
                snprintf(buf, len, "%s",
                         code > 0
                                 ? "context deadline exceeded (Client.Timeout or context cancellation while "
                                   "reading body)"
                                 : "context deadline exceeded (Client.Timeout exceeded while awaiting "
                                   "headers)");
                return;
        }
        (void) curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
        if (rc == CURLE_COULDNT_CONNECT && os_errno > 0 &&
            url_host_port(url, host, sizeof(host), hostport, sizeof(hostport))) {
                char msg[512]; /* fits hostport and why whole; then cut to the caller's buffer */
                errno_text((int) os_errno, why, sizeof(why));
                snprintf(msg, sizeof msg, "dial tcp %s: connect: %s", hostport, why);
                size_t n = len ? strnlen(msg, len - 1) : 0;
                if (len) {
                        memcpy(buf, msg, n);
                        buf[n] = 0;
                }
                return;
        }
        snprintf(buf, len, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

static void easy_setup(CURL *c, char *errbuf, struct body *body)
{
        (void) curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        (void) curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        (void) curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* followed here, same host only */
        (void) curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        (void) curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* upstream: Proxy: http.ProxyURL(nil) */
        (void) curl_easy_setopt(c, CURLOPT_PROXY, "");
        (void) curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L); /* upstream: InsecureSkipVerify */
        (void) curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        (void) curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L); /* upstream: DisableKeepAlives */
        (void) curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);   /* Go sends "/a/../b" as written */
        (void) curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        (void) curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, socket_options);
        (void) curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
        (void) curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
}

enum probe_result probe_http_get(const struct probe_http *p, char *ret_output, size_t output_len)
{
        _cleanup_(curl_easy_cleanupp) CURL *c = NULL;
        _cleanup_free_ char *url = NULL;
        _cleanup_free_ struct body *body = NULL;
        char scheme[16] = "http", errbuf[CURL_ERROR_SIZE], why[CURL_ERROR_SIZE + 128];
        char first_host[256], host[256], hostport[300];
        const char *bad;
        bool with_host = true, name_bad = false;
        int64_t deadline;
        long code = 0;

        out_printf(ret_output, output_len, "%s", "");
        if (!p) {
                out_printf(ret_output, output_len, "no HTTP probe");
                return PROBE_UNKNOWN;
        }
        deadline = now_mono_ms() + effective_timeout(p->timeout_ms);
        if (p->port < 1 || p->port > 65535) {
                out_printf(ret_output, output_len, "invalid HTTP probe port %d", p->port);
                return PROBE_UNKNOWN;
        }
        if (p->scheme && p->scheme[0]) {
                size_t n = strlen(p->scheme);
                if (n >= sizeof(scheme))
                        n = sizeof(scheme) - 1;
                for (size_t i = 0; i < n; i++)
                        scheme[i] = (char) tolower((unsigned char) p->scheme[i]);
                scheme[n] = '\0';
        }
        url = url_build(scheme, p->host, p->port, p->path);
        if (!url) {
                out_printf(ret_output, output_len, "invalid HTTP probe host \"%s\"", p->host ? p->host : "");
                return PROBE_UNKNOWN;
        }
        if (!streq(scheme, "http") && !streq(scheme, "https")) {
                out_printf(ret_output, output_len, "Get \"%s\": unsupported protocol scheme \"%s\"", url,
                           scheme);
                return PROBE_FAILURE;
        }
        bad = headers_invalid(p, &name_bad);
        if (bad) {
                if (name_bad)
                        out_printf(ret_output, output_len,
                                   "Get \"%s\": net/http: invalid header field name \"%s\"", url, bad);
                else
                        out_printf(ret_output, output_len,
                                   "Get \"%s\": net/http: invalid header field value for \"%s\"", url, bad);
                return PROBE_FAILURE;
        }

        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK || !(c = curl_easy_init())) {
                out_printf(ret_output, output_len, "cannot initialise libcurl");
                return PROBE_UNKNOWN;
        }
        body = OOM_CHECK(malloc(sizeof(*body)));
        easy_setup(c, errbuf, body);
        if (!url_host_port(url, first_host, sizeof(first_host), hostport, sizeof(hostport))) {
                out_printf(ret_output, output_len, "invalid HTTP probe URL \"%s\"", url);
                return PROBE_UNKNOWN;
        }

        for (int request = 1;; request++) {
                _cleanup_(curl_slist_free_allp) struct curl_slist *hl = headers_build(p, with_host);
                int64_t left = deadline - now_mono_ms();
                struct curl_header *lh = NULL;
                char *next = NULL;
                CURLcode rc;

                if (left <= 0) {
                        out_printf(ret_output, output_len,
                                   "Get \"%s\": context deadline exceeded (Client.Timeout exceeded while "
                                   "awaiting headers)",
                                   url);
                        return PROBE_FAILURE;
                }
                (void) curl_easy_setopt(c, CURLOPT_URL, url);
                (void) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
                (void) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) left);
                errbuf[0] = '\0';
                body->len = 0;
                body->data[0] = '\0';
                body->limited = false;

                rc = curl_easy_perform(c);
                (void) curl_easy_setopt(c, CURLOPT_HTTPHEADER,
                                        NULL); /* hl is freed at the end of the turn */
                if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && body->limited)) {
                        transfer_error(c, rc, errbuf, url, why, sizeof(why));
                        out_printf(ret_output, output_len, "Get \"%s\": %s", url, why);
                        return PROBE_FAILURE;
                }
                (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
                if (body->limited)
                        log_v(4, "Non fatal body truncation", "url=\"%s\" status=\"%ld\"", log_q(url), code);

                if (!status_is_redirect(code) ||
                    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || !next)
                        break;
                /* Upstream's redirectChecker: a different host name ends the chain with this response. */
                if (!url_host_port(next, host, sizeof(host), hostport, sizeof(hostport)) ||
                    strcasecmp(host, first_host) != 0)
                        break;
                if (request >= PROBE_MAX_REQUESTS) {
                        out_printf(ret_output, output_len, "Get \"%s\": stopped after %d redirects", next,
                                   PROBE_MAX_REQUESTS);
                        return PROBE_FAILURE;
                }
                /* Go keeps a custom Host only through relative redirects. */
                if (curl_easy_header(c, "Location", 0, CURLH_HEADER, -1, &lh) == CURLHE_OK && lh &&
                    location_absolute(lh->value))
                        with_host = false;
                free(url);
                url = xstrdup(next);
        }

        if (code >= 200 && code < 400) {
                if (code >= 300) {
                        log_v(4, "Probe terminated redirects", "url=\"%s\" status=\"%ld\"", log_q(url),
                              code);
                        out_printf(ret_output, output_len, "Probe terminated redirects, Response body: %s",
                                   body->data);
                        return PROBE_SUCCESS;
                }
                log_v(4, "Probe succeeded", "url=\"%s\" status=\"%ld\"", log_q(url), code);
                out_printf(ret_output, output_len, "%s", body->data);
                return PROBE_SUCCESS;
        }
        log_v(4, "Probe failed", "url=\"%s\" status=\"%ld\" body=\"%s\"", log_q(url), code,
              log_q(body->data));
        out_printf(ret_output, output_len, "HTTP probe failed with statuscode: %ld", code);
        return PROBE_FAILURE;
}
