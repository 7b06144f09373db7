/* The result cache on disk (one file per attachment), attach/detach/check through it, and GC of attachments
 * whose container is gone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni_internal.h"
#include "util.h"

#define CACHE_KIND  "cubelet.cni.cache/v1"
#define ENTRY_MAX   (4u << 20)
#define RESULTS_DIR "results"

struct cni_cache_entry *cni_cache_entry_free(struct cni_cache_entry *e)
{
        if (!e)
                return NULL;
        free(e->path);
        free(e->network_name);
        free(e->container_id);
        free(e->ifname);
        free(e->netns);
        free(e->args);
        free(e->capability_args);
        cni_network_unref(e->network);
        cni_result_free(e->result);
        free(e);
        return NULL;
}

void cni_cache_entries_free(struct cni_cache_entry **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                cni_cache_entry_free(v[i]);
        free(v);
}

static int entry_path(const char *cache_dir, const char *network, const char *cid, const char *ifname,
                      char **ret, struct cni_error *err)
{
        if (!cni__valid_name(network))
                return cni__fail(err, -EINVAL, "network name \"%s\" is invalid", network ? network : "");
        if (!cni__valid_name(cid))
                return cni__fail(err, -EINVAL, "container ID \"%s\" is invalid", cid ? cid : "");
        if (!cni__valid_ifname(ifname))
                return cni__fail(err, -EINVAL, "interface name \"%s\" is invalid", ifname ? ifname : "");
        *ret = strdup_printf("%s/" RESULTS_DIR "/%s-%s-%s", cache_dir, network, cid, ifname);
        return 0;
}

/* Temp file, fsync, rename, fsync of the directory: after a crash the entry is the old or the new one. */
static int write_atomic(const char *path, const char *data, size_t len)
{
        _cleanup_free_ char *dir = xstrdup(path), *tmp = NULL;
        char *slash = strrchr(dir, '/');
        _cleanup_close_ int fd = -1, dfd = -1;
        int r = 0;

        *slash = 0;
        tmp = strdup_printf("%s/.%s.XXXXXX", dir, slash + 1);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while (len > 0 && r == 0) {
                ssize_t n = write(fd, data, len);
                if (n < 0 && errno != EINTR)
                        r = -errno;
                else if (n > 0) {
                        data += n;
                        len -= (size_t) n;
                }
        }
        if (r == 0 && (fchmod(fd, 0600) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0))
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                fsync(dfd);
        return 0;
}

static int write_entry(const char *cache_dir, const char *path, const struct cni_network *net,
                       const struct cni_attachment *att, const struct cni_result *res, struct cni_error *err)
{
        _cleanup_free_ char *results = strdup_printf("%s/" RESULTS_DIR, cache_dir), *text = NULL;
        _cleanup_json_ json_t *o = json_object();
        int r;

        json_object_set_new(o, "kind", json_string(CACHE_KIND));
        json_object_set_new(o, "networkName", json_string(net->name));
        json_object_set_new(o, "containerId", json_string(att->container_id));
        json_object_set_new(o, "ifName", json_string(att->ifname));
        json_object_set_new(o, "netns", json_string(att->netns ? att->netns : ""));
        if (att->args)
                json_object_set_new(o, "cniArgs", json_string(att->args));
        if (att->capability_args && *att->capability_args) {
                json_t *caps = json_loads(att->capability_args, 0, NULL);
                if (caps)
                        json_object_set_new(o, "capabilityArgs", caps);
        }
        /* A copy: other threads may be reading net->conf, and jansson's incref is not race-free. */
        json_object_set_new(o, "config", OOM_CHECK(json_deep_copy(net->conf)));
        if (res) {
                json_t *rj = json_loads(res->json, 0, NULL);
                if (rj)
                        json_object_set_new(o, "result", rj);
        }
        text = OOM_CHECK(json_dumps(o, JSON_COMPACT));

        r = mkdir_p(results, 0700);
        if (r < 0)
                return cni__fail(err, r, "CNI cache: create %s: %s", results, strerror(-r));
        r = write_atomic(path, text, strlen(text));
        if (r < 0)
                return cni__fail(err, r, "CNI cache: write %s: %s", path, strerror(-r));
        return 0;
}

static int opt_str(json_t *o, const char *key, char **ret)
{
        json_t *v = json_object_get(o, key);
        if (v && !json_is_string(v))
                return -EBADMSG;
        *ret = v ? xstrdup(json_string_value(v)) : NULL;
        return 0;
}

static int load_path(const char *path, struct cni_cache_entry **ret, struct cni_error *err)
{
        _cleanup_(cni_cache_entry_freep) struct cni_cache_entry *e = NULL;
        _cleanup_free_ char *data = NULL, *field = NULL, *reason = NULL;
        json_t *caps, *res;
        json_error_t jerr;
        struct stat st;
        size_t len;
        int r;

        r = read_file_limit(path, ENTRY_MAX, &data, &len);
        if (r < 0)
                return cni__fail(err, r, "CNI cache: read %s: %s", path, strerror(-r));
        _cleanup_json_ json_t *o = json_loadb(data, len, 0, &jerr);
        if (!json_is_object(o) || !streq_ptr(json_string_value(json_object_get(o, "kind")), CACHE_KIND))
                return cni__fail(err, -EBADMSG, "CNI cache: %s: not a cache entry", path);

        e = OOM_CHECK(calloc(1, sizeof *e));
        e->path = xstrdup(path);
        if (opt_str(o, "networkName", &e->network_name) < 0 ||
            opt_str(o, "containerId", &e->container_id) < 0 || opt_str(o, "ifName", &e->ifname) < 0 ||
            opt_str(o, "netns", &e->netns) < 0 || opt_str(o, "cniArgs", &e->args) < 0 ||
            !cni__valid_name(e->network_name) || !cni__valid_name(e->container_id) ||
            !cni__valid_ifname(e->ifname))
                return cni__fail(err, -EBADMSG, "CNI cache: %s: bad identity fields", path);
        caps = json_object_get(o, "capabilityArgs");
        if (caps) {
                if (!json_is_object(caps))
                        return cni__fail(err, -EBADMSG, "CNI cache: %s: capabilityArgs: not an object",
                                         path);
                e->capability_args = OOM_CHECK(json_dumps(caps, JSON_COMPACT));
        }
        r = cni__network_from_json(json_object_get(o, "config"), NULL, &e->network, &field, &reason);
        if (r < 0)
                return cni__fail(err, -EBADMSG, "CNI cache: %s: config: %s%s%s", path, field,
                                 *field ? ": " : "", reason);
        if (!streq(e->network->name, e->network_name))
                return cni__fail(err, -EBADMSG, "CNI cache: %s: config is for network %s", path,
                                 e->network->name);
        res = json_object_get(o, "result");
        if (res && (r = cni__result_from_json(res, &e->result, err)) < 0) {
                cni_error_prefix(err, "CNI cache: %s: result", path);
                return -EBADMSG;
        }
        if (stat(path, &st) == 0)
                e->mtime_ns = (int64_t) st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        *ret = TAKE_PTR(e);
        return 0;
}

int cni_cache_load(const char *cache_dir, const char *network_name, const char *container_id,
                   const char *ifname, struct cni_cache_entry **ret, struct cni_error *err)
{
        _cleanup_free_ char *path = NULL;
        int r = entry_path(cache_dir, network_name, container_id, ifname, &path, err);
        if (r < 0)
                return r;
        if (access(path, F_OK) < 0)
                return cni__fail(err, -errno, "CNI cache: %s: %m", path);
        return load_path(path, ret, err);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int cni_cache_list(const char *cache_dir, struct cni_cache_entry ***ret, size_t *ret_n,
                   size_t *ret_n_invalid)
{
        _cleanup_free_ char *results = strdup_printf("%s/" RESULTS_DIR, cache_dir);
        _cleanup_strv_free_ char **names = NULL;
        struct cni_cache_entry **v = NULL;
        size_t n = 0, invalid = 0;
        DIR *d = opendir(results);
        struct dirent *de;

        if (!d && errno != ENOENT)
                return -errno;
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.') /* ".", "..", temp files of a write in progress */
                        strv_push(&names, xstrdup(de->d_name));
        if (d)
                closedir(d);
        if (names)
                qsort(names, strv_length(names), sizeof *names, cmp_str);
        for (size_t i = 0; names && names[i]; i++) {
                _cleanup_free_ char *path = strdup_printf("%s/%s", results, names[i]);
                struct cni_cache_entry *e = NULL;
                if (load_path(path, &e, NULL) < 0) {
                        invalid++;
                        continue;
                }
                v = OOM_CHECK(reallocarray(v, n + 1, sizeof *v));
                v[n++] = e;
        }
        *ret = v;
        *ret_n = n;
        if (ret_n_invalid)
                *ret_n_invalid = invalid;
        return 0;
}

/* DEL with everything the entry recorded; the entry goes when that worked. */
static int del_entry(const struct cni_exec *ex, const struct cni_cache_entry *e, struct cni_error *err)
{
        struct cni_attachment a = {
                .container_id = e->container_id,
                .netns = e->netns,
                .ifname = e->ifname,
                .args = e->args,
                .capability_args = e->capability_args,
        };
        int r = cni_network_del(ex, e->network, &a, e->result, err);
        if (r < 0)
                return r;
        if (unlink(e->path) < 0 && errno != ENOENT)
                return cni__fail(err, -errno, "CNI cache: remove %s: %m", e->path);
        return 0;
}

int cni_attach(const struct cni_exec *ex, const char *cache_dir, const struct cni_network *net,
               const struct cni_attachment *att, struct cni_result **ret, struct cni_error *err)
{
        _cleanup_(cni_cache_entry_freep) struct cni_cache_entry *old = NULL;
        _cleanup_(cni_result_freep) struct cni_result *res = NULL;
        _cleanup_free_ char *path = NULL;
        struct cni_error e2 = {0};
        int r;

        r = entry_path(cache_dir, net->name, att->container_id, att->ifname, &path, err);
        if (r < 0)
                return r;
        /* Inputs no plugin would accept must not reach the cache: a DEL with them could never succeed. */
        {
                _cleanup_free_ char *args = NULL;
                _cleanup_json_ json_t *caps = NULL;
                r = cni__attachment_prepare(att, true, &args, &caps, err);
                if (r < 0)
                        return r;
        }
        if (access(path, F_OK) == 0) {
                if (load_path(path, &old, NULL) == 0 && old->result)
                        return cni__fail(err, -EEXIST,
                                         "network %s: container %s interface %s is already attached",
                                         net->name, att->container_id, att->ifname);
                /* An ADD that never finished, or an entry that cannot be read: DEL it first. */
                r = cni_detach(ex, cache_dir, net, att, err);
                if (r < 0) {
                        cni_error_prefix(err, "DEL of an unfinished earlier ADD");
                        return r;
                }
        }

        r = write_entry(cache_dir, path, net, att, NULL, err);
        if (r < 0)
                return r;
        r = cni_network_add(ex, net, att, &res, err);
        if (r >= 0) {
                r = write_entry(cache_dir, path, net, att, res, err);
                if (r >= 0) {
                        *ret = TAKE_PTR(res);
                        return 0;
                }
        }

        /* Undo what part of the chain ran, as the spec suggests after a failed ADD. */
        if (cni_network_del(ex, net, att, res, &e2) == 0)
                unlink(path);
        else if (err) {
                size_t l = strlen(err->msg);
                snprintf(err->msg + l, sizeof err->msg - l, " (DEL after the failed ADD failed too: %s)",
                         e2.msg);
        }
        return r;
}

int cni_detach(const struct cni_exec *ex, const char *cache_dir, const struct cni_network *net,
               const struct cni_attachment *att, struct cni_error *err)
{
        _cleanup_(cni_cache_entry_freep) struct cni_cache_entry *e = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = entry_path(cache_dir, net->name, att->container_id, att->ifname, &path, err);
        if (r < 0)
                return r;
        if (access(path, F_OK) == 0 && load_path(path, &e, NULL) == 0)
                return del_entry(ex, e, err);

        /* Not cached (or unreadable): DEL with what the caller has; plugins take repeated DELs. */
        r = cni_network_del(ex, net, att, NULL, err);
        if (r < 0)
                return r;
        if (unlink(path) < 0 && errno != ENOENT)
                return cni__fail(err, -errno, "CNI cache: remove %s: %m", path);
        return 0;
}

int cni_detach_container(const struct cni_exec *ex, const char *cache_dir, const char *container_id,
                         struct cni_error *err)
{
        struct cni_cache_entry **v = NULL;
        size_t n = 0;
        int removed = 0, first = 0;
        int r = cni_cache_list(cache_dir, &v, &n, NULL);

        if (r < 0)
                return cni__fail(err, r, "CNI cache: list %s: %s", cache_dir, strerror(-r));
        for (size_t i = 0; i < n; i++) {
                struct cni_error e = {0};
                if (!streq(v[i]->container_id, container_id))
                        continue;
                r = del_entry(ex, v[i], &e);
                if (r >= 0) {
                        removed++;
                        continue;
                }
                if (first == 0) {
                        first = r;
                        if (err) {
                                *err = e;
                                cni_error_prefix(err, "network %s interface %s", v[i]->network_name,
                                                 v[i]->ifname);
                        }
                }
        }
        cni_cache_entries_free(v, n);
        return first < 0 ? first : removed;
}

int cni_check(const struct cni_exec *ex, const char *cache_dir, const struct cni_network *net,
              const struct cni_attachment *att, struct cni_error *err)
{
        _cleanup_(cni_cache_entry_freep) struct cni_cache_entry *e = NULL;
        int r = cni_cache_load(cache_dir, net->name, att->container_id, att->ifname, &e, err);

        if (r == -ENOENT)
                return cni__fail(err, r, "network %s: container %s interface %s is not attached", net->name,
                                 att->container_id, att->ifname);
        if (r < 0)
                return r;
        if (!e->result)
                return cni__fail(err, -ENOENT,
                                 "network %s: container %s interface %s: the ADD did not finish", net->name,
                                 att->container_id, att->ifname);
        struct cni_attachment a = {
                .container_id = e->container_id,
                .netns = e->netns,
                .ifname = e->ifname,
                .args = e->args,
                .capability_args = e->capability_args,
        };
        return cni_network_check(ex, e->network, &a, e->result, err);
}

static bool in_list(char *const *l, const char *s)
{
        for (size_t i = 0; l && l[i]; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

int cni_cache_gc(const struct cni_exec *ex, const char *cache_dir, char *const *live_ids, int64_t min_age_ms,
                 struct cni_error *err)
{
        struct cni_cache_entry **v = NULL;
        size_t n = 0;
        int removed = 0, first = 0;
        int64_t now = now_real_ns();
        int r = cni_cache_list(cache_dir, &v, &n, NULL);

        if (r < 0)
                return cni__fail(err, r, "CNI cache: list %s: %s", cache_dir, strerror(-r));
        for (size_t i = 0; i < n; i++) {
                struct cni_error e = {0};
                if (in_list(live_ids, v[i]->container_id))
                        continue;
                if (min_age_ms > 0 && now - v[i]->mtime_ns < min_age_ms * 1000000LL)
                        continue;
                r = del_entry(ex, v[i], &e);
                if (r >= 0) {
                        removed++;
                        continue;
                }
                if (first == 0) {
                        first = r;
                        if (err) {
                                *err = e;
                                cni_error_prefix(err, "network %s container %s interface %s",
                                                 v[i]->network_name, v[i]->container_id, v[i]->ifname);
                        }
                }
        }
        cni_cache_entries_free(v, n);
        return first < 0 ? first : removed;
}
