/* kubectl-lite: the tests' reads of the API server at a tenth of kubectl's CPU.
 *
 * kubectl 1.20 costs about 0.35 s of CPU a call, nearly all of it its own start-up; the e2e tests poll the API
 * with it, and in a full run it was the largest single consumer of CPU (more than cubelet, containerd or the
 * API server). This program takes the reads the tests make -- `get KIND [NAME]` with -o json, -o name or
 * -o jsonpath=..., and `get --raw PATH` -- through cubelet's own kubeconfig loader and API client, and prints
 * what kubectl prints. Everything else (writes, tables, exec, logs, a flag it does not know, a kubeconfig
 * with a namespace, an answer it cannot print as kubectl would, a transport error) runs the real kubectl
 * ($KUBECTL_REAL) with the same arguments, before anything is printed.
 *
 * The jsonpath subset: {.a.b} (a\.b escapes a dot in a key), [n], [*], [?(@.k=="v")], {range X}...{end},
 * {"literal"} and text between. Missing keys print nothing, as kubectl get's; scalars as kubectl prints them,
 * several results space-separated, objects and arrays as Go's json.Marshal (sorted keys, compact, <>&
 * escaped); a float or a null falls back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "kubeconfig.h"
#include "macro.h"
#include "util.h"

#define DEFAULT_REAL "/var/cache/cubelet-e2e/kubernetes-1.20.2/kubectl"

static char **g_argv;

static _Noreturn void fallback(const char *why)
{
        const char *real = getenv("KUBECTL_REAL");
        if (!real || !real[0])
                real = DEFAULT_REAL;
        if (getenv("KUBECTL_LITE_DEBUG"))
                fprintf(stderr, "kubectl-lite: %s: running %s\n", why, real);
        fflush(stdout);
        g_argv[0] = (char *) real;
        execv(real, g_argv);
        fprintf(stderr, "kubectl-lite: cannot run %s: %s\n", real, strerror(errno));
        _exit(127);
}

/* ---- what kubectl calls the resources the tests read */
struct resource {
        const char *names[3];
        const char *api; /* the group version's path; the plural (names[0]) follows */
        bool namespaced;
        const char *kind, *group; /* group: "" or ".<group>", as kubectl's messages and -o name show it */
};

static const struct resource resources[] = {
        {{"pods", "pod", "po"}, "/api/v1", true, "Pod", ""},
        {{"nodes", "node", "no"}, "/api/v1", false, "Node", ""},
        {{"events", "event", "ev"}, "/api/v1", true, "Event", ""},
        {{"namespaces", "namespace", "ns"}, "/api/v1", false, "Namespace", ""},
        {{"configmaps", "configmap", "cm"}, "/api/v1", true, "ConfigMap", ""},
        {{"secrets", "secret", NULL}, "/api/v1", true, "Secret", ""},
        {{"services", "service", "svc"}, "/api/v1", true, "Service", ""},
        {{"serviceaccounts", "serviceaccount", "sa"}, "/api/v1", true, "ServiceAccount", ""},
        {{"leases", "lease", NULL}, "/apis/coordination.k8s.io/v1", true, "Lease", ".coordination.k8s.io"},
        {{"certificatesigningrequests", "certificatesigningrequest", "csr"},
         "/apis/certificates.k8s.io/v1",
         false,
         "CertificateSigningRequest",
         ".certificates.k8s.io"},
        {{"runtimeclasses", "runtimeclass", NULL},
         "/apis/node.k8s.io/v1",
         false,
         "RuntimeClass",
         ".node.k8s.io"},
};

static const struct resource *find_resource(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(resources); i++)
                for (size_t j = 0; j < 3; j++)
                        if (resources[i].names[j] && streq(resources[i].names[j], name))
                                return &resources[i];
        return NULL;
}

/* Whether fd is /dev/null: what is written there is not seen, only the exit status is. */
static bool discarded(int fd)
{
        struct stat a, b;
        return fstat(fd, &a) == 0 && stat("/dev/null", &b) == 0 && S_ISCHR(a.st_mode) &&
               a.st_rdev == b.st_rdev;
}

/* An error of kubectl's whose text nobody reads (stderr is /dev/null): its status, and nothing on stdout. */
static _Noreturn void silent_error(const char *why)
{
        if (!discarded(STDERR_FILENO))
                fallback(why);
        exit(1);
}

/* ---- jsonpath */
struct out {
        char *s;
        size_t len, cap;
};

static void out_add(struct out *o, const char *s, size_t n)
{
        if (o->len + n + 1 > o->cap) {
                o->cap = MAX(o->cap * 2, o->len + n + 1);
                o->s = OOM_CHECK(realloc(o->s, o->cap));
        }
        memcpy(o->s + o->len, s, n);
        o->len += n;
        o->s[o->len] = 0;
}

static void out_str(struct out *o, const char *s)
{
        out_add(o, s, strlen(s));
}

/* Whether v holds a float, or with `nulls` a null. */
static bool has_real_or_null(json_t *v, bool nulls)
{
        const char *k;
        json_t *x;
        size_t i;
        if (json_is_real(v) || (nulls && json_is_null(v)))
                return true;
        if (json_is_object(v)) {
                json_object_foreach(v, k, x) if (has_real_or_null(x, nulls)) return true;
        } else if (json_is_array(v)) {
                json_array_foreach(v, i, x) if (has_real_or_null(x, nulls)) return true;
        }
        return false;
}

/* v as Go's encoding/json writes it (flags: JSON_COMPACT or JSON_INDENT(4)): sorted keys, <>&, the two
 * line separators and control characters escaped as Go does. A float (Go writes its own way), or with
 * `nulls` a null (kubectl's jsonpath, as checked against it), falls back. */
static void out_go_json(struct out *o, json_t *v, size_t flags, bool nulls)
{
        if (has_real_or_null(v, nulls))
                fallback("a value kubectl prints its own way (a float or a null)");
        _cleanup_free_ char *s = json_dumps(v, flags | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!s)
                fallback("cannot encode");
        for (const char *p = s; *p; p++) {
                if (*p == '<')
                        out_str(o, "\\u003c");
                else if (*p == '>')
                        out_str(o, "\\u003e");
                else if (*p == '&')
                        out_str(o, "\\u0026");
                else if (*p == '\\' && (p[1] == 'b' || p[1] == 'f')) /* Go: \u0008, \u000c */
                        out_str(o, *++p == 'b' ? "\\u0008" : "\\u000c");
                else if (*p == '\\' && p[1] == 'u') { /* Go writes hex digits in lower case */
                        char u[7];
                        snprintf(u, sizeof u, "%.6s", p);
                        for (char *c = u + 2; *c; c++)
                                *c = (char) (*c >= 'A' && *c <= 'F' ? *c + 32 : *c);
                        out_str(o, u);
                        p += strlen(u) - 1;
                } else if (*p == '\\' && p[1]) {
                        out_add(o, p, 2);
                        p++;
                } else if (!strncmp(p, "\xe2\x80\xa8", 3) || !strncmp(p, "\xe2\x80\xa9", 3)) {
                        out_str(o, p[2] == '\xa8' ? "\\u2028" : "\\u2029");
                        p += 2;
                } else
                        out_add(o, p, 1);
        }
}

static void print_value(struct out *o, json_t *v)
{
        char buf[64];
        if (json_is_string(v))
                out_add(o, json_string_value(v), json_string_length(v));
        else if (json_is_true(v))
                out_str(o, "true");
        else if (json_is_false(v))
                out_str(o, "false");
        else if (json_is_integer(v)) {
                snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                out_str(o, buf);
        } else if (json_is_object(v) || json_is_array(v)) {
                out_go_json(o, v, JSON_COMPACT, true);
        } else
                fallback("a value kubectl prints its own way (a float or a null)");
}

/* The values a path gives, from the values in `in` (borrowed references). */
struct vals {
        json_t **v;
        size_t n;
};

static void vals_add(struct vals *vs, json_t *v)
{
        vs->v = OOM_CHECK(realloc(vs->v, (vs->n + 1) * sizeof *vs->v));
        vs->v[vs->n++] = v;
}

/* An index as kubectl's jsonpath reads one: -?[0-9]+ */
static bool is_index(const char *s)
{
        s += *s == '-';
        return *s && strspn(s, "0123456789") == strlen(s);
}

/* Evaluates path (".a.b[0][*][?(@.k==\"v\")]", len bytes) on cur. */
static struct vals eval_path(json_t *cur, const char *p, size_t len)
{
        struct vals in = {0}, outv = {0};
        const char *end = p + len;
        vals_add(&in, cur);
        if (p >= end || *p != '.')
                fallback("a jsonpath expression that does not start with '.'");
        while (p < end) {
                outv = (struct vals){0};
                if (*p == '.') {
                        char name[256];
                        size_t n = 0;
                        for (p++; p < end && *p != '.' && *p != '['; p++) {
                                if (*p == '\\' && p + 1 < end)
                                        p++;
                                else if (strchr(" ,@$]{}|()*'\"", *p)) /* kubectl's syntax, or its error */
                                        fallback("a key with a character kubectl reads its own way");
                                if (n + 1 >= sizeof name)
                                        fallback("a long key");
                                name[n++] = *p;
                        }
                        name[n] = 0;
                        if (!n && len != 1) /* "..": a recursive descent */
                                fallback("an empty key");
                        if (!n) /* "." alone: the object itself */
                                continue;
                        for (size_t i = 0; i < in.n; i++) {
                                if (!json_is_object(in.v[i]))
                                        fallback("a key of something that is not an object");
                                json_t *x = json_object_get(in.v[i], name);
                                if (x)
                                        vals_add(&outv, x);
                        }
                } else if (*p == '[') {
                        const char *close = memchr(p, ']', (size_t) (end - p));
                        if (!close)
                                fallback("an unclosed [");
                        size_t n = (size_t) (close - p - 1);
                        _cleanup_free_ char *inner = strndup(p + 1, n);
                        OOM_CHECK(inner);
                        p = close + 1;
                        char *e;
                        if (streq(inner, "*")) {
                                for (size_t i = 0; i < in.n; i++) {
                                        json_t *x;
                                        size_t j;
                                        if (!json_is_array(in.v[i]))
                                                fallback("[*] of something that is not an array");
                                        json_array_foreach(in.v[i], j, x) vals_add(&outv, x);
                                }
                        } else if (is_index(inner) && (errno = 0, strtol(inner, &e, 10), !errno)) {
                                long idx = strtol(inner, NULL, 10);
                                for (size_t i = 0; i < in.n; i++) {
                                        if (!json_is_array(in.v[i]))
                                                fallback("an index of something that is not an array");
                                        long sz = (long) json_array_size(in.v[i]);
                                        long k = idx < 0 ? sz + idx : idx;
                                        if (k < 0 || k >= sz) /* kubectl: an error, exit status 1 */
                                                silent_error("array index out of bounds");
                                        vals_add(&outv, json_array_get(in.v[i], (size_t) k));
                                }
                        } else {
                                /* ?(@.field=="value"); kubectl refuses a backslash there */
                                if (strchr(inner, '\\'))
                                        fallback("a backslash in a filter");
                                char field[128], want[256];
                                size_t fl = 0, wl = 0;
                                const char *q = inner;
                                if (strncmp(q, "?(@.", 4) != 0)
                                        fallback("a filter other than ?(@.k==\"v\")");
                                for (q += 4; *q && *q != '=' && *q != ' '; q++) {
                                        if (fl + 1 >= sizeof field)
                                                fallback("a long filter");
                                        field[fl++] = *q;
                                }
                                field[fl] = 0;
                                while (*q == ' ')
                                        q++;
                                if (strncmp(q, "==", 2) != 0)
                                        fallback("a filter other than ==");
                                for (q += 2; *q == ' '; q++)
                                        ;
                                char quote = *q;
                                if (quote != '"' && quote != '\'')
                                        fallback("a filter on something other than a string");
                                for (q++; *q && *q != quote; q++) {
                                        if (wl + 1 >= sizeof want)
                                                fallback("a long filter");
                                        want[wl++] = *q;
                                }
                                want[wl] = 0;
                                if (*q != quote || !streq(q + 1, ")") || !fl)
                                        fallback("a filter it does not read");
                                for (size_t i = 0; i < in.n; i++) {
                                        json_t *x;
                                        size_t j;
                                        if (!json_is_array(in.v[i]))
                                                fallback("a filter on something that is not an array");
                                        json_array_foreach(in.v[i], j, x)
                                        {
                                                json_t *f = x;
                                                char *save = NULL, *dup = xstrdup(field);
                                                for (char *t = strtok_r(dup, ".", &save); t && f;
                                                     t = strtok_r(NULL, ".", &save))
                                                        f = json_is_object(f) ? json_object_get(f, t) : NULL;
                                                free(dup);
                                                if (f && !json_is_string(f)) /* kubectl: an error */
                                                        fallback("a filter comparing a string to another "
                                                                 "type");
                                                if (json_is_string(f) && streq(json_string_value(f), want))
                                                        vals_add(&outv, x);
                                        }
                                }
                        }
                } else
                        fallback("a jsonpath expression it does not read");
                free(in.v);
                in = outv;
        }
        return in;
}

/* The template's pieces: text, or an expression between braces (quotes may hold braces). */
struct piece {
        bool expr;
        const char *s;
        size_t len;
};

static size_t tokenize(const char *t, struct piece **ret)
{
        struct piece *ps = NULL;
        size_t n = 0;
        while (*t) {
                ps = OOM_CHECK(realloc(ps, (n + 1) * sizeof *ps));
                if (*t == '{') {
                        const char *p = t + 1;
                        char q = 0;
                        for (; *p && (q || *p != '}'); p++) {
                                if (q && *p == '\\' && p[1])
                                        p++;
                                else if (q && *p == q)
                                        q = 0;
                                else if (!q && (*p == '"' || *p == '\''))
                                        q = *p;
                        }
                        if (!*p)
                                fallback("an unclosed {");
                        const char *s = t + 1, *e = p;
                        while (s < e && *s == ' ')
                                s++;
                        while (e > s && e[-1] == ' ')
                                e--;
                        ps[n++] = (struct piece){true, s, (size_t) (e - s)};
                        t = p + 1;
                } else {
                        const char *p = strchrnul(t, '{');
                        ps[n++] = (struct piece){false, t, (size_t) (p - t)};
                        t = p;
                }
        }
        *ret = ps;
        return n;
}

static bool piece_is(const struct piece *p, const char *word)
{
        size_t n = strlen(word);
        return p->expr && p->len >= n && !strncmp(p->s, word, n) && (p->len == n || p->s[n] == ' ');
}

static void render(struct out *o, const struct piece *ps, size_t n, json_t *cur)
{
        for (size_t i = 0; i < n; i++) {
                const struct piece *p = &ps[i];
                if (!p->expr) {
                        out_add(o, p->s, p->len);
                } else if (piece_is(p, "range")) {
                        size_t depth = 1, j = i + 1;
                        for (; j < n && depth; j++) {
                                if (piece_is(&ps[j], "range"))
                                        depth++;
                                else if (piece_is(&ps[j], "end"))
                                        depth--;
                        }
                        if (depth)
                                fallback("a range without its end");
                        if (p->len <= 6)
                                fallback("a range of nothing");
                        struct vals vs = eval_path(cur, p->s + 6, p->len - 6);
                        for (size_t k = 0; k < vs.n; k++)
                                render(o, ps + i + 1, j - i - 2, vs.v[k]);
                        free(vs.v);
                        i = j - 1;
                } else if (piece_is(p, "end")) {
                        fallback("an end without its range");
                } else if (p->len >= 2 && p->s[0] == '"' && p->s[p->len - 1] == '"') {
                        _cleanup_free_ char *lit = strndup(p->s, p->len);
                        json_t *s = json_loads(OOM_CHECK(lit), JSON_DECODE_ANY, NULL);
                        if (!json_is_string(s))
                                fallback("a literal it does not read");
                        out_add(o, json_string_value(s), json_string_length(s));
                        json_decref(s);
                } else {
                        struct vals vs = eval_path(cur, p->s, p->len);
                        for (size_t k = 0; k < vs.n; k++) {
                                if (k)
                                        out_str(o, " ");
                                print_value(o, vs.v[k]);
                        }
                        free(vs.v);
                }
        }
}

/* ---- the command line */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
        size_t n = strlen(name);
        if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=')
                return argv[*i] + n + 1;
        if (!streq(argv[*i], name))
                return NULL;
        if (*i + 1 >= argc)
                fallback("a flag without its value");
        return argv[++*i];
}

int main(int argc, char **argv)
{
        const char *kubeconfig = getenv("KUBECONFIG"), *ns = NULL, *output = NULL, *raw = NULL,
                   *selector = NULL, *fields = NULL, *v;
        const char *pos[2];
        int npos = 0;
        bool all_ns = false, ignore_not_found = false;
        int64_t timeout_ms = 60000;

        bool verb = false;
        g_argv = argv;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if ((v = flag_value(argc, argv, &i, "--kubeconfig")))
                        kubeconfig = v;
                else if ((v = flag_value(argc, argv, &i, "--request-timeout"))) {
                        char *e;
                        long s = strtol(v, &e, 10);
                        if (e == v || (*e && !streq(e, "s")) || s < 0 || s > 3600)
                                fallback("a request timeout it does not read");
                        timeout_ms = s ? s * 1000 : 60000;
                } else if ((v = flag_value(argc, argv, &i, "-n")) ||
                           (v = flag_value(argc, argv, &i, "--namespace")))
                        ns = v;
                else if ((v = flag_value(argc, argv, &i, "-o")) ||
                         (v = flag_value(argc, argv, &i, "--output")))
                        output = v;
                else if ((v = flag_value(argc, argv, &i, "-l")) ||
                         (v = flag_value(argc, argv, &i, "--selector")))
                        selector = v;
                else if ((v = flag_value(argc, argv, &i, "--field-selector")))
                        fields = v;
                else if ((v = flag_value(argc, argv, &i, "--raw")))
                        raw = v;
                else if (streq(a, "-A") || streq(a, "--all-namespaces"))
                        all_ns = true;
                else if (streq(a, "--ignore-not-found"))
                        ignore_not_found = true;
                else if (!strncmp(a, "-o", 2) && a[2])
                        output = a + 2;
                else if (!strncmp(a, "-n", 2) && a[2])
                        ns = a + 2;
                else if (a[0] == '-')
                        fallback("a flag it does not know");
                else if (!verb) {
                        if (!streq(a, "get"))
                                fallback("not a get");
                        verb = true;
                } else if (npos < 2)
                        pos[npos++] = a;
                else
                        fallback("more than two arguments");
        }

        if (!verb)
                fallback("no verb");
        /* The client: a kubeconfig without a namespace (the tests' have none), or kubectl reads it. */
        _cleanup_free_ char *home_config = NULL;
        if (!kubeconfig || !kubeconfig[0]) {
                const char *home = getenv("HOME");
                if (!home)
                        fallback("no kubeconfig");
                kubeconfig = home_config = strdup_printf("%s/.kube/config", home);
        }
        if (strchr(kubeconfig, ':'))
                fallback("a kubeconfig list");
        _cleanup_free_ char *text = NULL;
        /* keys kubectl honours and cubelet's loader does not (a namespace, another identity, a proxy) */
        static const char *const keys[] = {"namespace",       "exec",          "auth-provider", "as",
                                           "as-groups",       "as-user-extra", "username",      "password",
                                           "tls-server-name", "proxy-url"};
        if (read_file_limit(kubeconfig, 1 << 20, &text, NULL) < 0)
                fallback("a kubeconfig it cannot read");
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                _cleanup_free_ char *yaml = strdup_printf("%s:", keys[i]);
                _cleanup_free_ char *json = strdup_printf("\"%s\"", keys[i]);
                if (strstr(text, yaml) || strstr(text, json))
                        fallback("a kubeconfig it does not take");
        }
        struct kube_auth auth = {0};
        _cleanup_free_ char *err = NULL;
        if (kubeconfig_load(kubeconfig, &auth, &err) < 0)
                fallback("a kubeconfig it does not read");
        struct kube_client *c = NULL;
        if (kube_client_new(&auth, 0, 0, &c) < 0)
                fallback("no client");
        kube_auth_wipe(&auth);

        _cleanup_free_ char *path = NULL;
        const struct resource *res = NULL;
        const char *name = npos == 2 ? pos[1] : NULL;
        if (raw) {
                if (npos || output || ns || all_ns || selector || fields)
                        fallback("--raw with more");
                static const char *const plain[] = {"/metrics", "/healthz", "/readyz", "/livez", "/version"};
                for (size_t i = 0; i < ELEMENTSOF(plain); i++)
                        if (!strncmp(raw, plain[i], strlen(plain[i])))
                                fallback("--raw of an answer that is not compact JSON");
                path = xstrdup(raw);
        } else {
                if (!output && npos == 2 && discarded(STDOUT_FILENO))
                        /* a table to /dev/null (does it exist?): the same status and error as the table */
                        output = "name";
                if (!output ||
                    !(streq(output, "json") || streq(output, "name") || !strncmp(output, "jsonpath=", 9)))
                        fallback("an output it does not print");
                if (npos < 1 || !(res = find_resource(pos[0])))
                        fallback("a resource it does not know");
                if (name && (selector || fields || all_ns))
                        fallback("a name with a selector or -A");
                if (name && (!name[0] || strpbrk(name, "/?%#") || streq(name, ".") || streq(name, "..")))
                        fallback("a name it does not take");
                if (ns && (!ns[0] || strpbrk(ns, "/?%#") || streq(ns, ".") || streq(ns, "..")))
                        fallback("a namespace it does not take");
                _cleanup_free_ char *nsdir = NULL;
                if (res->namespaced && !all_ns)
                        nsdir = strdup_printf("/namespaces/%s", ns ? ns : "default");
                _cleanup_free_ char *base =
                        strdup_printf("%s%s/%s", res->api, nsdir ? nsdir : "", res->names[0]);
                _cleanup_free_ char *sel = selector ? kube_query_escape(selector) : NULL;
                _cleanup_free_ char *fs = fields ? kube_query_escape(fields) : NULL;
                path = strdup_printf("%s%s%s%s%s%s%s", base, name ? "/" : "", name ? name : "",
                                     sel || fs ? "?" : "", sel ? "labelSelector=" : "", sel ? sel : "",
                                     fs ? (sel ? "&fieldSelector=" : "fieldSelector=") : "");
                if (fs) {
                        char *p2 = strdup_printf("%s%s", path, fs);
                        free(path);
                        path = p2;
                }
        }

        struct kube_response r = {0};
        if (kube_request(c, "GET", path, NULL, NULL, timeout_ms, &r) < 0 || r.status == 0)
                fallback("no answer");
        if (!raw && name && r.status == 404) {
                kube_response_clear(&r);
                kube_client_free(c);
                if (ignore_not_found)
                        return 0;
                fprintf(stderr, "Error from server (NotFound): %s%s \"%s\" not found\n", res->names[0],
                        res->group, name);
                return 1;
        }
        if (r.status != 200 || !r.body)
                fallback("an answer kubectl prints its own way");

        json_t *obj = r.body;
        if (!raw && !name) { /* kubectl prints a List of the items, each with its kind and apiVersion */
                json_t *items = json_object_get(r.body, "items"), *it;
                const char *api = json_string_value(json_object_get(r.body, "apiVersion"));
                size_t i;
                if (!json_is_array(items))
                        items = json_array();
                else
                        json_incref(items);
                json_array_foreach(items, i, it)
                {
                        if (!json_object_get(it, "kind"))
                                json_object_set_new(it, "kind", json_string(res->kind));
                        if (!json_object_get(it, "apiVersion"))
                                json_object_set_new(it, "apiVersion", json_string(api ? api : "v1"));
                }
                obj = json_pack("{s:s, s:o, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "items", items, "kind",
                                "List", "metadata", "resourceVersion", "", "selfLink", "");
        } else
                json_incref(obj);

        struct out o = {0};
        if (raw) { /* the API server's JSON, compact, its keys in its order (the tests read it with jq) */
                _cleanup_free_ char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
                if (!s)
                        fallback("cannot encode");
                out_str(&o, s);
                out_str(&o, "\n");
        } else if (streq(output, "json")) { /* kubectl: Go's json.MarshalIndent, four spaces */
                out_go_json(&o, obj, JSON_INDENT(4), false);
                out_str(&o, "\n");
        } else if (streq(output, "name")) {
                json_t *items = name ? NULL : json_object_get(obj, "items"), *it;
                size_t i, n = name ? 1 : json_array_size(items);
                for (i = 0; i < n; i++) {
                        it = name ? obj : json_array_get(items, i);
                        const char *nm =
                                json_string_value(json_object_get(json_object_get(it, "metadata"), "name"));
                        _cleanup_free_ char *kind = xstrdup(res->kind);
                        for (char *k = kind; *k; k++)
                                *k = (char) (*k >= 'A' && *k <= 'Z' ? *k + 32 : *k);
                        _cleanup_free_ char *line =
                                strdup_printf("%s%s/%s\n", kind, res->group, nm ? nm : "");
                        out_str(&o, line);
                }
        } else {
                struct piece *ps = NULL;
                if (!output[9])
                        fallback("an empty template (kubectl's error)");
                size_t n = tokenize(output + 9, &ps);
                render(&o, ps, n, obj);
                free(ps);
        }
        json_decref(obj);
        kube_response_clear(&r);
        kube_client_free(c);
        if (o.len && fwrite(o.s, 1, o.len, stdout) != o.len)
                return 1;
        free(o.s);
        return fflush(stdout) == 0 ? 0 : 1;
}
