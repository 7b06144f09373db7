/* NetworkReady: the CNI configuration checked with cni/ and the runtime's own NetworkReady condition. */
#include "network.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cni.h"
#include "cri.h"
#include "delegate.h"
#include "dirwatch.h"
#include "log.h"
#include "util.h"

#define DEFAULT_CONF_DIR "/etc/cni/net.d"
#define DEFAULT_BRIDGE   "cubelet0"
#define DEFAULT_CONFLIST "10-cubelet.conflist"

struct network {
        struct network_config cfg;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stopping;
        /* under lock */
        bool ready, checked;
        char msg[4096];
        struct pod **starting; /* under lock: network_pod_begin() */
        size_t n_starting;
        struct delegate *delegate;
        char **bin_dirs_default;
        /* the checker thread's own */
        char *runtime_conf_dir;
        char **runtime_bin_dirs;
        unsigned passes;
        char *conf_print; /* what the last successful configuration check saw (network_conf_fingerprint) */
        char *conf_key;   /* the directories it was for */
        struct dirwatch *conf_watch; /* on those directories, added before that check read them */
        bool conf_watched;           /* every one of them is watched */
        unsigned conf_quiet;         /* checks since the last fingerprint, none changing anything */
};

/* How often the runtime's verbose status (its CNI directories) is asked again once known: containerd
 * restarted with another configuration is seen within a minute. */
#define VERBOSE_EVERY 12
/* Configuration changed this recently is checked at every pass (network_conf_fingerprint). */
#define CONF_FRESH_S 2
/* While the directories' watches tell of no change, the fingerprint is taken again only every this many
 * passes (a minute at 5 s): what no watch sees (a linked plugin's target replaced) is seen then. */
#define CONF_PRINT_EVERY 12
#define CONF_WATCH_MASK                                                                                     \
        (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_MODIFY | IN_CLOSE_WRITE |     \
         IN_DELETE_SELF | IN_MOVE_SELF)

const char *network_mode_name(enum network_mode m)
{
        return m == NETWORK_MODE_AGENT ? "agent" : "runtime";
}

int network_mode_from_string(const char *s, enum network_mode *ret)
{
        if (streq(s, "runtime"))
                *ret = NETWORK_MODE_RUNTIME;
        else if (streq(s, "agent"))
                *ret = NETWORK_MODE_AGENT;
        else
                return -EINVAL;
        return 0;
}

/* containerd's verbose Status carries its CNI setup as "cniconfig": {"PluginDirs":[...],
 * "PluginConfDir":"..."}; remember it, so runtime mode checks the directory the runtime really uses. */
static void learn_runtime_cni(struct network *n, const char *info)
{
        json_t *j = json_loads(info, 0, NULL);
        const char *dir = json_string_value(json_object_get(j, "PluginConfDir"));
        json_t *bins = json_object_get(j, "PluginDirs");
        if (dir && dir[0] && json_array_size(bins) > 0) {
                free(n->runtime_conf_dir);
                n->runtime_conf_dir = xstrdup(dir);
                n->runtime_bin_dirs = strv_free(n->runtime_bin_dirs);
                size_t i;
                json_t *b;
                json_array_foreach(bins, i, b) if (json_is_string(b))
                        strv_push(&n->runtime_bin_dirs, xstrdup(json_string_value(b)));
        }
        json_decref(j);
}

/* The runtime's NetworkReady condition; fills why when it is false. Learns the runtime's CNI dirs. */
static bool runtime_network_ready(struct network *n, char *why, size_t len)
{
        Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__StatusResponse *resp = NULL;
        struct cri_error err = {0};
        /* The verbose status (containerd's whole configuration, ~10 KB) only while its CNI directories
         * are of use and not known, and once a minute then. */
        bool need_dirs = !n->cfg.conf_dir || !n->cfg.bin_dirs;
        req.verbose = need_dirs && (!n->runtime_conf_dir || n->passes % VERBOSE_EVERY == 0);
        if (CRI_CALL(n->cfg.cri, RuntimeService, Status, status, &req, &resp, n->cfg.timeout_ms, &err) < 0)
                return true; /* a runtime that does not answer is reported as such, not as the network */
        for (size_t i = 0; i < resp->n_info; i++)
                if (streq(resp->info[i]->key, "cniconfig"))
                        learn_runtime_cni(n, resp->info[i]->value);
        for (size_t i = 0; resp->status && i < resp->status->n_conditions; i++) {
                Runtime__V1__RuntimeCondition *c = resp->status->conditions[i];
                if (streq(c->type, "NetworkReady") && !c->status) {
                        snprintf(why, len, "NetworkReady=false reason:%s message:%s", c->reason, c->message);
                        return false;
                }
        }
        return true;
}

char *network_default_conflist(const char *pod_cidr, const char *ipam_dir)
{
        bool v6 = strchr(pod_cidr, ':') != NULL;
        json_t *ipam =
                json_pack("{s:s, s:s, s:[[{s:s}]], s:[{s:s}]}", "type", "host-local", "dataDir", ipam_dir,
                          "ranges", "subnet", pod_cidr, "routes", "dst", v6 ? "::/0" : "0.0.0.0/0");
        json_t *list =
                json_pack("{s:s, s:s, s:[{s:s, s:s, s:b, s:b, s:b, s:o}, {s:s, s:{s:b}}, {s:s, s:{s:b}}]}",
                          "cniVersion", "1.0.0", "name", "cubelet", "plugins", "type", "bridge", "bridge",
                          DEFAULT_BRIDGE, "isGateway", true, "ipMasq", false, "hairpinMode", true, "ipam",
                          ipam, "type", "portmap", "capabilities", "portMappings", true, "type", "bandwidth",
                          "capabilities", "bandwidth", true);
        char *text = json_dumps(list, JSON_INDENT(2));
        json_decref(list);
        return OOM_CHECK(text);
}

static bool has_network_files(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        bool found = false;
        if (!d)
                return false;
        while (!found && (de = readdir(d)))
                found = de->d_name[0] != '.' &&
                        (str_has_suffix(de->d_name, ".conflist") || str_has_suffix(de->d_name, ".conf") ||
                         str_has_suffix(de->d_name, ".json"));
        closedir(d);
        return found;
}

/* Agent mode with nothing configured: write the default network for the pod CIDR, once one is known. */
static void render_default(struct network *n, const char *dir)
{
        char cidr[64] = "";
        if (has_network_files(dir))
                return;
        if (n->cfg.pod_cidr)
                snprintf(cidr, sizeof cidr, "%s", n->cfg.pod_cidr);
        else if (!n->cfg.node_pod_cidr || !n->cfg.node_pod_cidr(n->cfg.userdata, cidr, sizeof cidr))
                return;
        _cleanup_free_ char *text =
                network_default_conflist(cidr, n->cfg.ipam_dir ? n->cfg.ipam_dir : "/var/lib/cni/networks");
        _cleanup_free_ char *path = strdup_printf("%s/" DEFAULT_CONFLIST, dir);
        int r = mkdir_p(dir, 0755);
        if (r >= 0)
                r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                log_error("Cannot write the default pod network", "path=\"%s\" err=\"%s\"", path,
                          strerror(-r));
        else
                log_info("Wrote the default pod network",
                         "path=\"%s\" podCIDR=\"%s\" bridge=\"" DEFAULT_BRIDGE "\"", path, cidr);
}

/* Cheap next to the check: directory reads and a stat per file. */
static void print_stat(FILE *f, const char *name, const struct stat *st, time_t *newest)
{
        fprintf(f, "%s %lu %lu %o %lld %ld.%09ld %ld.%09ld\n", name, (unsigned long) st->st_dev,
                (unsigned long) st->st_ino, (unsigned) st->st_mode, (long long) st->st_size,
                (long) st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (long) st->st_ctim.tv_sec,
                st->st_ctim.tv_nsec);
        if (st->st_mtim.tv_sec > *newest)
                *newest = st->st_mtim.tv_sec;
        if (st->st_ctim.tv_sec > *newest)
                *newest = st->st_ctim.tv_sec;
}

/* The directory and each entry (stat, not lstat: a link's target is what is read or run). false: the
 * directory cannot be read. */
static bool print_dir(FILE *f, const char *dir, time_t *newest)
{
        struct stat st;
        DIR *d = opendir(dir);
        if (!d)
                return false;
        bool ok = fstat(dirfd(d), &st) == 0;
        if (ok) {
                print_stat(f, dir, &st, newest);
                struct dirent *de;
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.') {
                                if (fstatat(dirfd(d), de->d_name, &st, 0) == 0)
                                        print_stat(f, de->d_name, &st, newest);
                                else
                                        fprintf(f, "%s -\n", de->d_name);
                        }
        }
        closedir(d);
        return ok;
}

char *network_conf_fingerprint(const char *dir, char *const *bins, int fresh_s)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        time_t newest = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        bool ok = print_dir(f, dir, &newest);
        /* the plugins: their files (a plugin replaced in place or made executable) */
        for (char *const *b = bins; ok && b && *b; b++)
                if (!print_dir(f, *b, &newest))
                        fprintf(f, "%s -\n", *b);
        if (fclose(f) != 0)
                ok = false;
        /* A file's times have the kernel's coarse clock: two writes a few ms apart may look the same, so
         * what changed in the last fresh_s seconds is not trusted. */
        if (fresh_s >= 0 && newest >= time(NULL) - fresh_s)
                ok = false;
        return ok ? TAKE_PTR(buf) : NULL;
}

/* cni_config_ready, a success kept while the fingerprint stays the same (each 5 s check re-read and
 * re-validated every file before). A failure is not kept: it may be passing (a plugin's VERSION timing out
 * on a busy machine, a fork refused), and the next pass tries again, as before. */
static int conf_ready(struct network *n, const char *dir, char *const *bins, struct cni_error *err)
{
        _cleanup_free_ char *joined = strv_join(bins, ":"), *key = strdup_printf("%s|%s", dir, joined);
        /* No event in the directories since the last success: it stands without a stat (twelve stats a pass
         * or more, the plugins' directory read), up to CONF_PRINT_EVERY passes. */
        if (n->conf_print && n->conf_watched && streq_ptr(n->conf_key, key) &&
            n->conf_quiet < CONF_PRINT_EVERY && !dirwatch_changed(n->conf_watch)) {
                n->conf_quiet++;
                return 0;
        }
        n->conf_quiet = 0;
        /* The watches before the reads: a change after them is an event for the next pass. */
        (void) dirwatch_changed(n->conf_watch);
        bool watched = dirwatch_add(n->conf_watch, dir, CONF_WATCH_MASK);
        for (char *const *b = bins; b && *b; b++)
                watched &= dirwatch_add(n->conf_watch, *b, CONF_WATCH_MASK);
        n->conf_watched = watched;
        free(n->conf_key);
        n->conf_key = TAKE_PTR(key);
        _cleanup_free_ char *print = network_conf_fingerprint(dir, bins, CONF_FRESH_S);
        if (print && n->conf_print && streq(print, n->conf_print))
                return 0;
        int r = cni_config_ready(dir, bins, err);
        free(n->conf_print);
        n->conf_print = r == 0 ? TAKE_PTR(print) : NULL;
        return r;
}

static void check_once(struct network *n)
{
        char why[4096] = "";
        bool ready = runtime_network_ready(n, why, sizeof why);
        n->passes++;
        const char *dir = n->cfg.conf_dir ? n->cfg.conf_dir : n->runtime_conf_dir;
        char *const *bins = n->cfg.bin_dirs ? n->cfg.bin_dirs : n->runtime_bin_dirs;
        char *const fallback_bins[] = {"/opt/cni/bin", NULL};

        if (!dir && n->cfg.mode == NETWORK_MODE_AGENT)
                dir = DEFAULT_CONF_DIR;
        if (n->cfg.mode == NETWORK_MODE_AGENT)
                render_default(n, dir);
        if (dir) {
                struct cni_error err = {0};
                int r = conf_ready(n, dir, bins ? bins : fallback_bins, &err);
                /* Our own check first: it names the file and the field. */
                if (r < 0) {
                        snprintf(why, sizeof why,
                                 "NetworkReady=false reason:NetworkPluginNotReady message:Network plugin "
                                 "returns "
                                 "error: %s",
                                 err.msg[0] ? err.msg : strerror(-r));
                        ready = false;
                }
        }
        pthread_mutex_lock(&n->lock);
        bool was = n->ready, same = streq(why, n->msg), first = !n->checked;
        n->ready = ready;
        n->checked = true;
        snprintf(n->msg, sizeof n->msg, "%s", why);
        pthread_mutex_unlock(&n->lock);
        if (!ready && (was || !same))
                log_error("Container runtime network not ready", "mode=\"%s\" confDir=\"%s\" err=\"%s\"",
                          network_mode_name(n->cfg.mode), dir ? dir : "", log_q(why));
        else if (ready && (!was || first))
                log_info("Container runtime network is ready", "mode=\"%s\" confDir=\"%s\"",
                         network_mode_name(n->cfg.mode), dir ? dir : "");
}

static void *check_thread(void *arg)
{
        struct network *n = arg;
        pthread_mutex_lock(&n->lock);
        while (!n->stopping) {
                cond_wait_ms(&n->wake, &n->lock, n->cfg.period_ms);
                if (n->stopping)
                        break;
                pthread_mutex_unlock(&n->lock);
                check_once(n);
                pthread_mutex_lock(&n->lock);
        }
        pthread_mutex_unlock(&n->lock);
        return NULL;
}

static struct pod *lookup_pod(void *userdata, const char *uid, const char *ns, const char *name)
{
        struct network *n = userdata;
        struct pod *found = NULL;
        pthread_mutex_lock(&n->lock);
        for (size_t i = 0; i < n->n_starting && !found; i++) {
                struct pod *p = n->starting[i];
                if (uid ? streq(p->uid, uid) : streq_ptr(p->namespace, ns) && streq_ptr(p->name, name))
                        found = pod_ref(p);
        }
        pthread_mutex_unlock(&n->lock);
        return found;
}

void network_pod_begin(struct network *n, struct pod *pod)
{
        if (!n || n->cfg.mode != NETWORK_MODE_AGENT)
                return;
        pthread_mutex_lock(&n->lock);
        n->starting = OOM_CHECK(reallocarray(n->starting, n->n_starting + 1, sizeof *n->starting));
        n->starting[n->n_starting++] = pod_ref(pod);
        pthread_mutex_unlock(&n->lock);
}

void network_pod_end(struct network *n, const char *uid)
{
        if (!n || n->cfg.mode != NETWORK_MODE_AGENT)
                return;
        pthread_mutex_lock(&n->lock);
        for (size_t i = 0; i < n->n_starting; i++)
                if (streq(n->starting[i]->uid, uid)) {
                        pod_unref(n->starting[i]);
                        n->starting[i] = n->starting[--n->n_starting];
                        break;
                }
        pthread_mutex_unlock(&n->lock);
}

/* Every sandbox the runtime has, for the cache GC. */
static int live_sandboxes(struct network *n, char ***ret)
{
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ListPodSandboxResponse *resp = NULL;
        struct cri_error err = {0};
        int r = CRI_CALL(n->cfg.cri, RuntimeService, ListPodSandbox, list_pod_sandbox, &req, &resp,
                         n->cfg.timeout_ms, &err);
        if (r < 0)
                return r;
        char **ids = NULL;
        for (size_t i = 0; i < resp->n_items; i++)
                strv_push(&ids, xstrdup(resp->items[i]->id));
        *ret = ids;
        return 0;
}

static int start_delegate(struct network *n)
{
        _cleanup_strv_free_ char **live = NULL;
        int r = live_sandboxes(n, &live);
        bool gc = r >= 0;
        if (!gc)
                log_warn("Cannot list the sandboxes; no CNI cache GC this time", "err=\"%s\"", strerror(-r));
        struct delegate_config dc = {.socket_path = n->cfg.socket_path,
                                     .conf_dir = n->cfg.conf_dir,
                                     .bin_dirs = n->cfg.bin_dirs,
                                     .cache_dir = n->cfg.cache_dir,
                                     .gc = gc,
                                     .live_ids = live,
                                     .allowed_extra_networks = n->cfg.allowed_extra_networks,
                                     .lookup = lookup_pod,
                                     .userdata = n};
        r = delegate_start(&dc, &n->delegate);
        if (r < 0) {
                log_error("Cannot serve the CNI delegate", "socket=\"%s\" err=\"%s\"", n->cfg.socket_path,
                          strerror(-r));
                return r;
        }
        log_info("Serving the CNI delegate", "socket=\"%s\" confDir=\"%s\" cacheDir=\"%s\"",
                 n->cfg.socket_path, n->cfg.conf_dir, n->cfg.cache_dir);
        return 0;
}

static void network_free(struct network *n)
{
        pthread_mutex_destroy(&n->lock);
        pthread_cond_destroy(&n->wake);
        free(n->runtime_conf_dir);
        strv_free(n->runtime_bin_dirs);
        free(n->conf_print);
        free(n->conf_key);
        dirwatch_free(n->conf_watch);
        strv_free(n->bin_dirs_default);
        for (size_t i = 0; i < n->n_starting; i++)
                pod_unref(n->starting[i]);
        free(n->starting);
        free(n);
}

int network_start(const struct network_config *cfg, struct network **ret)
{
        struct network *n = OOM_CHECK(calloc(1, sizeof *n));
        n->cfg = *cfg;
        if (n->cfg.period_ms <= 0)
                n->cfg.period_ms = 5000;
        if (n->cfg.timeout_ms <= 0)
                n->cfg.timeout_ms = 10000;
        n->ready = true;
        n->conf_watch = dirwatch_new();
        pthread_mutex_init(&n->lock, NULL);
        cond_init_monotonic(&n->wake);
        if (n->cfg.mode == NETWORK_MODE_AGENT) {
                if (!n->cfg.conf_dir)
                        n->cfg.conf_dir = DEFAULT_CONF_DIR;
                if (!n->cfg.bin_dirs) {
                        strv_push(&n->bin_dirs_default, xstrdup("/opt/cni/bin"));
                        n->cfg.bin_dirs = n->bin_dirs_default;
                }
                int r = start_delegate(n);
                if (r < 0) {
                        network_free(n);
                        return r;
                }
        }
        check_once(n);
        int r = pthread_create(&n->thread, NULL, check_thread, n);
        if (r != 0) {
                n->delegate = delegate_stop(n->delegate);
                network_free(n);
                return -r;
        }
        (void) pthread_setname_np(n->thread, "net-check");
        *ret = n;
        return 0;
}

struct network *network_stop(struct network *n)
{
        if (!n)
                return NULL;
        pthread_mutex_lock(&n->lock);
        n->stopping = true;
        pthread_cond_signal(&n->wake);
        pthread_mutex_unlock(&n->lock);
        pthread_join(n->thread, NULL);
        n->delegate = delegate_stop(n->delegate);
        network_free(n);
        return NULL;
}

bool network_ready(struct network *n, char *msg, size_t len)
{
        if (len)
                msg[0] = 0;
        if (!n)
                return true;
        pthread_mutex_lock(&n->lock);
        bool ready = n->ready;
        if (!ready)
                snprintf(msg, len, "%s", n->msg);
        pthread_mutex_unlock(&n->lock);
        return ready;
}
