/* Registry credentials: docker config documents into a keyring, and upstream's lookup by repository. */
#include "keyring.h"

#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"

#define DOCKER_CONFIG_MAX   (10u << 20) /* upstream's maxReadLength */
#define DEFAULT_REGISTRY    "index.docker.io"
#define UNMARSHAL_ERROR_MSG "error occurred while trying to unmarshal json"

struct kr_entry {
        char *key;  /* host[:port][/path] */
        size_t seq; /* insertion order, for a stable sort */
        struct docker_auth auth;
};

struct keyring {
        struct kr_entry *e;
        size_t n, seq;
};

struct keyring *keyring_new(void)
{
        return OOM_CHECK(calloc(1, sizeof(struct keyring)));
}

/* Frees what the entries own (passwords wiped) and returns the array itself. */
static struct kr_entry *keyring_free_entries(struct keyring *k)
{
        for (size_t i = 0; i < k->n; i++) {
                free(k->e[i].key);
                free(k->e[i].auth.username);
                if (k->e[i].auth.password)
                        explicit_bzero(k->e[i].auth.password, strlen(k->e[i].auth.password));
                free(k->e[i].auth.password);
        }
        return k->e;
}

struct keyring *keyring_free(struct keyring *k)
{
        if (!k)
                return NULL;
        free(keyring_free_entries(k));
        free(k);
        return NULL;
}

/* A URL's host (with port, without user info) and path, as Go's url.Parse splits "https://" + s. -EINVAL
 * for what it refuses (control characters, blanks in the host). */
static int split_url(const char *s, char **ret_host, char **ret_path)
{
        const char *p = s;
        if (str_has_prefix(p, "https://"))
                p += 8;
        else if (str_has_prefix(p, "http://"))
                p += 7;
        for (const char *q = s; *q; q++)
                if ((unsigned char) *q < 0x20 || *q == 0x7f)
                        return -EINVAL;
        size_t auth_len = strcspn(p, "/?#");
        const char *host = p, *at;
        while ((at = memchr(host, '@', auth_len - (size_t) (host - p))))
                host = at + 1;
        size_t host_len = auth_len - (size_t) (host - p);
        if (memchr(host, ' ', host_len))
                return -EINVAL;
        const char *path = p + auth_len;
        size_t path_len = *path == '/' ? strcspn(path, "?#") : 0;
        char *h = strndup(host, host_len), *pa = strndup(path, path_len);
        if (!h || !pa)
                abort();
        *ret_host = h;
        *ret_path = pa;
        return 0;
}

/* upstream's BasicDockerKeyring.Add: the key of a config entry. NULL when it cannot be parsed. */
static char *entry_key(const char *loc)
{
        _cleanup_free_ char *host = NULL, *path = NULL;
        if (split_url(loc, &host, &path) < 0 || !*host)
                return NULL;
        const char *eff = path;
        if (str_has_prefix(eff, "/v2/") || str_has_prefix(eff, "/v1/"))
                eff += 3;
        if (*eff && !streq(eff, "/"))
                return strdup_printf("%s%s", host, eff);
        return xstrdup(host);
}

/* Go's base64 choice for "auth": padded when it ends in '=', else raw; then "user:password". */
static int decode_auth(const char *field, char **ret_user, char **ret_pass)
{
        _cleanup_free_ char *raw = NULL;
        size_t len;
        if (base64_decode(field, &raw, &len) < 0)
                return -EINVAL;
        char *colon = memchr(raw, ':', len);
        if (!colon || memchr(raw, '\0', len))
                return -EINVAL;
        *colon = '\0';
        *ret_user = xstrdup(raw);
        *ret_pass = xstrdup(colon + 1);
        explicit_bzero(raw, len);
        return 0;
}

static int entry_cmp(const void *a, const void *b)
{
        const struct kr_entry *x = a, *y = b;
        int c = strcmp(y->key, x->key); /* reverse: longer and more specific keys first */
        return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static const char *opt_string(json_t *o, const char *field, bool *bad)
{
        json_t *v = json_object_get(o, field);
        if (!v || json_is_null(v))
                return "";
        if (!json_is_string(v)) {
                *bad = true;
                return "";
        }
        return json_string_value(v);
}

int keyring_add_docker_config(struct keyring *k, const char *data, size_t len, bool json_config, char *err,
                              size_t err_len)
{
        json_error_t jerr;
        json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root || !json_is_object(root)) {
                json_decref(root);
                snprintf(err, err_len, UNMARSHAL_ERROR_MSG);
                return -EINVAL;
        }
        json_t *cfg = json_config ? json_object_get(root, "auths") : root;
        if (!cfg || json_is_null(cfg)) {
                json_decref(root);
                return 0;
        }
        if (!json_is_object(cfg)) {
                json_decref(root);
                snprintf(err, err_len, UNMARSHAL_ERROR_MSG);
                return -EINVAL;
        }
        /* Decoded whole before anything is added: a bad entry fails the document, as Go's Unmarshal. */
        struct kr_entry *add = OOM_CHECK(calloc(json_object_size(cfg) + 1, sizeof *add));
        size_t n = 0;
        const char *loc;
        json_t *ident;
        int r = 0;
        json_object_foreach(cfg, loc, ident)
        {
                bool bad = !json_is_object(ident);
                const char *user = opt_string(ident, "username", &bad);
                const char *pass = opt_string(ident, "password", &bad);
                const char *auth = opt_string(ident, "auth", &bad);
                (void) opt_string(ident, "email", &bad);
                if (bad) {
                        snprintf(err, err_len, UNMARSHAL_ERROR_MSG);
                        r = -EINVAL;
                        break;
                }
                struct kr_entry e = {0};
                if (*auth) {
                        if (decode_auth(auth, &e.auth.username, &e.auth.password) < 0) {
                                snprintf(err, err_len,
                                         "registry \"%.200s\": auth is not base64 of username:password",
                                         loc);
                                r = -EINVAL;
                                break;
                        }
                } else {
                        e.auth.username = xstrdup(user);
                        e.auth.password = xstrdup(pass);
                }
                e.key = entry_key(loc);
                if (!e.key) { /* upstream: "Entry %q in dockercfg invalid, ignoring" */
                        free(e.auth.username);
                        free(e.auth.password);
                        continue;
                }
                add[n++] = e;
        }
        json_decref(root);
        if (r < 0) {
                struct keyring partial = {.e = add, .n = n};
                free(keyring_free_entries(&partial));
                return r;
        }
        k->e = OOM_CHECK(realloc(k->e, (k->n + n + 1) * sizeof *k->e));
        for (size_t i = 0; i < n; i++) {
                add[i].seq = k->seq++;
                k->e[k->n++] = add[i];
        }
        free(add);
        qsort(k->e, k->n, sizeof *k->e, entry_cmp);
        return 0;
}

/* net.SplitHostPort's split, or the whole host with no port. */
static void host_port(char *host, const char **ret_port)
{
        char *colon = strchr(host, ':');
        if (colon && !strchr(colon + 1, ':')) {
                *colon = '\0';
                *ret_port = colon + 1;
        } else
                *ret_port = "";
}

/* Go's filepath.Match refuses these patterns (ErrBadPattern: no match) where fnmatch takes them literally:
 * a '[' without its ']', an empty class, a trailing '\\'. */
static bool glob_valid(const char *g)
{
        for (const char *p = g; *p; p++) {
                if (*p == '\\') {
                        if (!*++p)
                                return false;
                } else if (*p == '[') {
                        p++;
                        if (*p == '^' || *p == '!')
                                p++;
                        if (*p == ']')
                                return false;
                        while (*p && *p != ']')
                                p++;
                        if (!*p)
                                return false;
                }
        }
        return true;
}

bool registry_glob_match(const char *glob, const char *target)
{
        _cleanup_free_ char *gh = NULL, *gp = NULL, *th = NULL, *tp = NULL;
        _cleanup_free_ char *gs = strdup_printf("https://%s", glob),
                            *ts = strdup_printf("https://%s", target);
        if (split_url(gs, &gh, &gp) < 0 || split_url(ts, &th, &tp) < 0)
                return false;
        const char *gport, *tport;
        host_port(gh, &gport);
        host_port(th, &tport);
        if (!streq(gport, tport) || !str_has_prefix(tp, gp))
                return false;
        /* Label by label (filepath.Match on each), the same number of labels. */
        char *g = gh, *t = th;
        for (;;) {
                char *gdot = strchr(g, '.'), *tdot = strchr(t, '.');
                if (!gdot != !tdot)
                        return false;
                if (gdot)
                        *gdot = '\0';
                if (tdot)
                        *tdot = '\0';
                if (!glob_valid(g) || fnmatch(g, t, 0) != 0)
                        return false;
                if (!gdot)
                        return true;
                g = gdot + 1;
                t = tdot + 1;
        }
}

/* upstream's isDefaultRegistryMatch */
static bool default_registry_match(const char *image)
{
        const char *slash = strchr(image, '/');
        if (slash == image || !*image)
                return false;
        if (!slash)
                return true;
        size_t n = (size_t) (slash - image);
        if ((n == 9 && strncmp(image, "docker.io", 9) == 0) ||
            (n == 15 && strncmp(image, DEFAULT_REGISTRY, 15) == 0))
                return true;
        return !memchr(image, '.', n) && !memchr(image, ':', n);
}

int keyring_lookup(const struct keyring *k, const char *repo, const struct docker_auth ***ret, size_t *ret_n)
{
        const struct docker_auth **out = OOM_CHECK(calloc(k->n + 1, sizeof *out));
        size_t n = 0;
        for (size_t i = 0; i < k->n; i++)
                if (registry_glob_match(k->e[i].key, repo))
                        out[n++] = &k->e[i].auth;
        if (n == 0 && default_registry_match(repo))
                for (size_t i = 0; i < k->n; i++)
                        if (streq(k->e[i].key, DEFAULT_REGISTRY))
                                out[n++] = &k->e[i].auth;
        *ret = out;
        *ret_n = n;
        return 0;
}

/* The first file of name in dirs that parses; NULL when none. */
static struct keyring *load_first(char *const *dirs, size_t ndirs, const char *name, bool json_config,
                                  char **ret_path)
{
        for (size_t i = 0; i < ndirs; i++) {
                if (!dirs[i])
                        continue;
                _cleanup_free_ char *path = strdup_printf("%s/%s", dirs[i], name);
                _cleanup_free_ char *data = NULL;
                size_t len;
                char err[256];
                if (read_file_limit(path, DOCKER_CONFIG_MAX, &data, &len) < 0)
                        continue;
                struct keyring *k = keyring_new();
                int r = keyring_add_docker_config(k, data, len, json_config, err, sizeof err);
                explicit_bzero(data, len);
                if (r < 0) {
                        keyring_free(k);
                        continue;
                }
                if (ret_path)
                        *ret_path = TAKE_PTR(path);
                return k;
        }
        return NULL;
}

struct keyring *keyring_load_node(const char *root_dir, char **ret_path)
{
        char cwd[4096];
        const char *home = getenv("HOME");
        bool have_cwd = getcwd(cwd, sizeof cwd) != NULL;
        _cleanup_free_ char *home_docker = home && *home ? strdup_printf("%s/.docker", home) : NULL;
        char *json_dirs[] = {(char *) root_dir, have_cwd ? cwd : NULL, home_docker, (char *) "/.docker"};
        char *cfg_dirs[] = {(char *) root_dir, have_cwd ? cwd : NULL, home && *home ? (char *) home : NULL,
                            (char *) "/"};
        if (ret_path)
                *ret_path = NULL;
        struct keyring *k = load_first(json_dirs, ELEMENTSOF(json_dirs), "config.json", true, ret_path);
        if (!k)
                k = load_first(cfg_dirs, ELEMENTSOF(cfg_dirs), ".dockercfg", false, ret_path);
        return k ? k : keyring_new();
}
