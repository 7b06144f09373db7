/* The stats summary (see stats.h for where each number comes from). */
#include "stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "cri.h"
#include "log.h"
#include "logs.h"
#include "macro.h"
#include "qos_cgroups.h"
#include "util.h"

#define RATE_WINDOW_NS (1000LL * 1000 * 1000) /* usageNanoCores over at least 1 s */
#define DU_TTL_NS      (10LL * 1000 * 1000 * 1000)
#define FORGET_NS      (300LL * 1000 * 1000 * 1000) /* cache entries not asked for in 5 min go */
#define DU_MAX_DEPTH   128
/* ListContainerStats costs containerd a shim call per container (about 4 ms each): its answer serves for
 * this long. It is only wanted for the writable layers (which containerd itself measures every 10 s) and
 * for containers without a cgroup of their own here. */
#define CSTATS_TTL_MS 5000

struct cstats {
        atomic_int refs;
        int64_t t_ms; /* monotonic */
        Runtime__V1__ListContainerStatsResponse *resp;
};

struct rate_entry {
        char *key;
        int64_t seen; /* monotonic ns */
        struct stats_rate rate;
};

struct du_entry {
        char *path;
        int64_t t, seen; /* monotonic ns */
        uint64_t bytes, inodes;
        int r;
};

struct stats {
        struct stats_config c;
        char *node_name, *root_dir, *pod_logs_dir;
        struct cg *top; /* the whole hierarchy, for the node; NULL when it cannot be read */
        pthread_mutex_t lock;
        struct rate_entry *rates;
        size_t n_rates;
        struct du_entry *dus;
        size_t n_dus;
        struct cstats *cstats; /* the last ListContainerStats answer */
        int64_t boot_ns;       /* the node's boot time (read once: it does not change); 0: unknown */
};

static void cstats_unref(struct cstats *c)
{
        if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
                cri_free(c->resp);
                free(c);
        }
}

/* The runtime's container stats, at most CSTATS_TTL_MS old; NULL when it does not answer. */
static struct cstats *cstats_get(struct stats *s)
{
        int64_t now = now_mono_ms();
        pthread_mutex_lock(&s->lock);
        struct cstats *c = s->cstats;
        if (c && now - c->t_ms < CSTATS_TTL_MS) {
                atomic_fetch_add(&c->refs, 1);
                pthread_mutex_unlock(&s->lock);
                return c;
        }
        pthread_mutex_unlock(&s->lock);

        Runtime__V1__ListContainerStatsRequest req = RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
        Runtime__V1__ListContainerStatsResponse *resp = NULL;
        struct cri_error err = {0};
        int r = CRI_CALL(s->c.cri, RuntimeService, ListContainerStats, list_container_stats, &req, &resp,
                         s->c.timeout_ms, &err);
        if (r < 0) {
                log_v(2, "Container stats unavailable", "err=\"%s\"",
                      log_q(err.msg[0] ? err.msg : strerror(-r)));
                return NULL;
        }
        c = OOM_CHECK(calloc(1, sizeof *c));
        atomic_init(&c->refs, 2); /* the cache's and the caller's */
        c->t_ms = now_mono_ms();
        c->resp = resp;
        pthread_mutex_lock(&s->lock);
        struct cstats *old = s->cstats;
        s->cstats = c;
        pthread_mutex_unlock(&s->lock);
        cstats_unref(old);
        return c;
}

static int64_t boot_time_ns(void);

struct stats *stats_new(const struct stats_config *c)
{
        struct stats *s = OOM_CHECK(calloc(1, sizeof *s));
        s->c = *c;
        s->node_name = xstrdup(c->node_name ? c->node_name : "");
        s->root_dir = xstrdup(c->root_dir ? c->root_dir : "/var/lib/kubelet");
        s->pod_logs_dir = xstrdup(c->pod_logs_dir ? c->pod_logs_dir : "/var/log/pods");
        s->c.node_name = s->node_name;
        s->c.root_dir = s->root_dir;
        s->c.pod_logs_dir = s->pod_logs_dir;
        struct cg_options o = {.mount_root = c->cgroup_mount_root, .root = "/", .mode = c->cgroup_mode};
        if (cg_open(&o, &s->top, NULL) < 0)
                s->top = NULL;
        s->boot_ns = boot_time_ns();
        pthread_mutex_init(&s->lock, NULL);
        return s;
}

struct stats *stats_free(struct stats *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_rates; i++)
                free(s->rates[i].key);
        for (size_t i = 0; i < s->n_dus; i++)
                free(s->dus[i].path);
        free(s->rates);
        free(s->dus);
        cstats_unref(s->cstats);
        cg_free(s->top);
        pthread_mutex_destroy(&s->lock);
        free(s->node_name);
        free(s->root_dir);
        free(s->pod_logs_dir);
        free(s);
        return NULL;
}

/* ---- pure pieces ---- */

bool stats_rate_update(struct stats_rate *st, int64_t t_ns, uint64_t usage_ns, int64_t min_window_ns,
                       uint64_t *ret_nano_cores)
{
        if (st->primed && t_ns < st->t_ns) {
                /* A sample older than the last one (a concurrent request that came late): it moves nothing. */
                if (st->has_rate)
                        *ret_nano_cores = st->nano_cores;
                return st->has_rate;
        }
        if (!st->primed || usage_ns < st->usage_ns) {
                /* First sample, or the counter restarted (a new cgroup of the same name). */
                *st = (struct stats_rate){.t_ns = t_ns, .usage_ns = usage_ns, .primed = true};
                return false;
        }
        int64_t dt = t_ns - st->t_ns;
        if (dt >= min_window_ns && dt > 0) {
                st->nano_cores =
                        (uint64_t) ((long double) (usage_ns - st->usage_ns) * 1e9L / (long double) dt);
                st->has_rate = true;
                st->t_ns = t_ns;
                st->usage_ns = usage_ns;
        }
        if (st->has_rate)
                *ret_nano_cores = st->nano_cores;
        return st->has_rate;
}

static bool ignored_interface(const char *name)
{
        return streq(name, "lo") || str_has_prefix(name, "veth") || str_has_prefix(name, "docker");
}

json_t *stats_net_dev_json(const char *text)
{
        json_t *net = json_object(), *list = json_array();
        /* Two header lines, then "  name: rx_bytes rx_packets rx_errs rx_drop fifo frame compressed
         * multicast tx_bytes tx_packets tx_errs ...". */
        for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
                const char *colon = strchr(l, ':'), *nl = strchrnul(l, '\n');
                if (!colon || colon > nl)
                        continue;
                const char *b = l;
                while (*b == ' ')
                        b++;
                _cleanup_free_ char *name = strndup(b, (size_t) (colon - b));
                unsigned long long rx_bytes, rx_errs, tx_bytes, tx_errs;
                if (!name || !name[0] || strchr(name, ' ') || ignored_interface(name) ||
                    sscanf(colon + 1, "%llu %*u %llu %*u %*u %*u %*u %*u %llu %*u %llu", &rx_bytes, &rx_errs,
                           &tx_bytes, &tx_errs) != 4)
                        continue;
                json_t *i = json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", name, "rxBytes",
                                      (json_int_t) rx_bytes, "rxErrors", (json_int_t) rx_errs, "txBytes",
                                      (json_int_t) tx_bytes, "txErrors", (json_int_t) tx_errs);
                if (streq(name, "eth0"))
                        json_object_update(net, i);
                json_array_append_new(list, i);
        }
        json_object_set_new(net, "interfaces", list);
        return net;
}

struct du_walk {
        dev_t dev;
        uint64_t bytes, inodes;
        /* Hard links: (dev, inode) of files with more than one link, counted once. */
        ino_t *seen;
        size_t n_seen;
};

static bool seen_before(struct du_walk *w, ino_t ino)
{
        for (size_t i = 0; i < w->n_seen; i++)
                if (w->seen[i] == ino)
                        return true;
        w->seen = OOM_CHECK(realloc(w->seen, (w->n_seen + 1) * sizeof *w->seen));
        w->seen[w->n_seen++] = ino;
        return false;
}

static void du_dir(struct du_walk *w, int dfd, unsigned depth)
{
        DIR *d = fdopendir(dfd);
        struct dirent *de;
        if (!d) {
                close(dfd);
                return;
        }
        while ((de = readdir(d))) {
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != w->dev)
                        continue;
                if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && seen_before(w, st.st_ino))
                        continue;
                w->bytes += (uint64_t) st.st_blocks * 512;
                w->inodes++;
                if (S_ISDIR(st.st_mode) && depth < DU_MAX_DEPTH) {
                        int fd = openat(dirfd(d), de->d_name,
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
                        if (fd < 0)
                                fd = openat(dirfd(d), de->d_name,
                                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd >= 0)
                                du_dir(w, fd, depth + 1);
                }
        }
        closedir(d);
}

int stats_disk_usage(const char *path, uint64_t *ret_bytes, uint64_t *ret_inodes)
{
        struct stat st;
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_PATH);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        close(fd);
        struct du_walk w = {.dev = st.st_dev, .bytes = (uint64_t) st.st_blocks * 512, .inodes = 1};
        if (S_ISDIR(st.st_mode)) {
                fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                du_dir(&w, fd, 0);
        }
        free(w.seen);
        *ret_bytes = w.bytes;
        *ret_inodes = w.inodes;
        return 0;
}

/* ---- JSON ---- */

static json_t *time_json(int64_t ns)
{
        char buf[40];
        rfc3339_format_ns(ns, buf, sizeof buf);
        buf[19] = 'Z'; /* seconds are enough: metav1.Time */
        buf[20] = 0;
        return json_string(buf);
}

static void set_int(json_t *o, const char *key, uint64_t v)
{
        json_object_set_new(o, key, json_integer((json_int_t) v));
}

static void set_u64(json_t *o, const char *key, const Runtime__V1__UInt64Value *v)
{
        if (v)
                set_int(o, key, v->value);
}

static uint64_t get_int(json_t *o, const char *key)
{
        return (uint64_t) json_integer_value(json_object_get(o, key));
}

static int64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The cached rate of a cumulative counter just read; key names the cgroup. Its clock is the monotonic one,
 * read now, next to the counter (whatever the walks before took). */
static void set_nano_cores(struct stats *s, json_t *cpu, const char *key, uint64_t usage)
{
        uint64_t cores = 0;
        bool have = false;
        int64_t mono = mono_ns();
        pthread_mutex_lock(&s->lock);
        struct rate_entry *e = NULL;
        for (size_t i = 0; i < s->n_rates && !e; i++)
                if (streq(s->rates[i].key, key))
                        e = &s->rates[i];
        if (!e) {
                s->rates = OOM_CHECK(realloc(s->rates, (s->n_rates + 1) * sizeof *s->rates));
                e = &s->rates[s->n_rates++];
                *e = (struct rate_entry){.key = xstrdup(key)};
        }
        e->seen = mono;
        have = stats_rate_update(&e->rate, mono, usage, RATE_WINDOW_NS, &cores);
        pthread_mutex_unlock(&s->lock);
        if (have)
                set_int(cpu, "usageNanoCores", cores);
}

static json_t *cpu_json(struct stats *s, const char *key, int64_t t, uint64_t usage_ns)
{
        json_t *cpu = json_pack("{s:o}", "time", time_json(t));
        set_nano_cores(s, cpu, key, usage_ns);
        set_int(cpu, "usageCoreNanoSeconds", usage_ns);
        return cpu;
}

/* capacity: the node's memory for the node; else the cgroup's limit when it has one. */
static json_t *memory_json(int64_t t, const struct cg_usage *u, uint64_t capacity)
{
        json_t *m = json_pack("{s:o}", "time", time_json(t));
        if (capacity)
                set_int(m, "availableBytes",
                        capacity > u->memory_working_set ? capacity - u->memory_working_set : 0);
        set_int(m, "usageBytes", u->memory_usage);
        set_int(m, "workingSetBytes", u->memory_working_set);
        set_int(m, "rssBytes", u->memory_rss);
        set_int(m, "pageFaults", u->page_faults);
        set_int(m, "majorPageFaults", u->major_page_faults);
        return m;
}

/* FsStats of the filesystem holding path; used < 0: the filesystem's own used bytes and inodes. */
static json_t *fs_json(int64_t t, const char *path, int64_t used, int64_t inodes_used)
{
        json_t *fs = json_pack("{s:o}", "time", time_json(t));
        struct statvfs v;
        if (statvfs(path, &v) == 0) {
                set_int(fs, "availableBytes", (uint64_t) v.f_bavail * v.f_frsize);
                set_int(fs, "capacityBytes", (uint64_t) v.f_blocks * v.f_frsize);
                set_int(fs, "inodesFree", v.f_ffree);
                set_int(fs, "inodes", v.f_files);
                if (used < 0) {
                        used = (int64_t) ((v.f_blocks - v.f_bfree) * v.f_frsize);
                        inodes_used = (int64_t) (v.f_files - v.f_ffree);
                }
        }
        if (used >= 0)
                set_int(fs, "usedBytes", (uint64_t) used);
        if (inodes_used >= 0)
                set_int(fs, "inodesUsed", (uint64_t) inodes_used);
        return fs;
}

/* Walking trees is the costly part: each result serves for DU_TTL_NS (monotonic). */
static int disk_usage_cached(struct stats *s, const char *path, uint64_t *bytes, uint64_t *inodes)
{
        int64_t now = mono_ns();
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_dus; i++)
                if (streq(s->dus[i].path, path) && now - s->dus[i].t < DU_TTL_NS) {
                        struct du_entry *e = &s->dus[i];
                        e->seen = now;
                        *bytes = e->bytes;
                        *inodes = e->inodes;
                        int r = e->r;
                        pthread_mutex_unlock(&s->lock);
                        return r;
                }
        pthread_mutex_unlock(&s->lock);

        uint64_t b = 0, n = 0;
        int r = stats_disk_usage(path, &b, &n);

        pthread_mutex_lock(&s->lock);
        struct du_entry *e = NULL;
        for (size_t i = 0; i < s->n_dus && !e; i++)
                if (streq(s->dus[i].path, path))
                        e = &s->dus[i];
        if (!e) {
                s->dus = OOM_CHECK(realloc(s->dus, (s->n_dus + 1) * sizeof *s->dus));
                e = &s->dus[s->n_dus++];
                *e = (struct du_entry){.path = xstrdup(path)};
        }
        e->t = e->seen = now;
        e->bytes = b;
        e->inodes = n;
        e->r = r;
        pthread_mutex_unlock(&s->lock);
        *bytes = b;
        *inodes = n;
        return r;
}

/* Drops what nobody asked for lately: pods and containers that are gone. */
static void forget_old(struct stats *s)
{
        int64_t now = mono_ns();
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_rates;)
                if (now - s->rates[i].seen > FORGET_NS) {
                        free(s->rates[i].key);
                        s->rates[i] = s->rates[--s->n_rates];
                } else
                        i++;
        for (size_t i = 0; i < s->n_dus;)
                if (now - s->dus[i].seen > FORGET_NS) {
                        free(s->dus[i].path);
                        s->dus[i] = s->dus[--s->n_dus];
                } else
                        i++;
        pthread_mutex_unlock(&s->lock);
}

static json_t *network_of(int64_t t, pid_t pid)
{
        _cleanup_free_ char *path = pid ? strdup_printf("/proc/%d/net/dev", (int) pid)
                                        : xstrdup("/proc/net/dev"),
                            *text = NULL;
        if (read_file_limit(path, 1 << 20, &text, NULL) < 0)
                return NULL;
        json_t *net = stats_net_dev_json(text);
        json_object_set_new(net, "time", time_json(t));
        return net;
}

/* ---- the node ---- */

static uint64_t meminfo_kb(const char *text, const char *key)
{
        const char *p = strstr(text, key);
        return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static int64_t boot_time_ns(void)
{
        _cleanup_free_ char *stat = NULL;
        const char *p;
        if (read_file_limit("/proc/stat", 1 << 20, &stat, NULL) < 0 || !(p = strstr(stat, "\nbtime ")))
                return 0;
        return strtoll(p + 7, NULL, 10) * 1000000000LL;
}

/* The top cgroup where it has the numbers (v1), else /proc (v2's top has no memory.current). */
static void node_usage(struct stats *s, struct cg_usage *u, uint64_t *capacity)
{
        _cleanup_free_ char *mem = NULL, *stat = NULL;
        bool have = s->top && cg_read_usage(s->top, "", u, NULL) >= 0;
        if (read_file_limit("/proc/meminfo", 1 << 20, &mem, NULL) < 0)
                return;
        *capacity = meminfo_kb(mem, "MemTotal:") * 1024;
        if (have)
                return;
        uint64_t free_b = meminfo_kb(mem, "MemFree:") * 1024,
                 inactive = meminfo_kb(mem, "Inactive(file):") * 1024;
        u->memory_usage = *capacity > free_b ? *capacity - free_b : 0;
        u->memory_working_set = u->memory_usage > inactive ? u->memory_usage - inactive : 0;
        u->memory_rss = meminfo_kb(mem, "AnonPages:") * 1024;
        unsigned long long user, nice, sys, irq, softirq, steal;
        if (read_file_limit("/proc/stat", 1 << 20, &stat, NULL) >= 0 &&
            sscanf(stat, "cpu %llu %llu %llu %*u %*u %llu %llu %llu", &user, &nice, &sys, &irq, &softirq,
                   &steal) == 6) {
                long hz = sysconf(_SC_CLK_TCK);
                u->cpu_usage_ns =
                        (user + nice + sys + irq + softirq + steal) * (1000000000ULL / (uint64_t) hz);
        }
}

/* The Summary's node; with_network false: without its network part (what the eviction signals read). */
static json_t *node_json(struct stats *s, int64_t now, bool only_cpu_mem, bool with_network,
                         const json_t *image_fs)
{
        struct cg_usage u = {0};
        uint64_t capacity = 0;
        node_usage(s, &u, &capacity);
        json_t *node = json_pack("{s:s, s:o, s:o, s:o}", "nodeName", s->node_name, "startTime",
                                 time_json(s->boot_ns), "cpu", cpu_json(s, "/", now, u.cpu_usage_ns),
                                 "memory", memory_json(now, &u, capacity));
        json_t *sys = json_array();
        struct cg_usage pu;
        const struct cg *pods = s->c.qos ? qos_cgroups_driver(s->c.qos) : NULL;
        if (pods && cg_read_usage(pods, QOS_KUBEPODS, &pu, NULL) >= 0) {
                json_t *c =
                        json_pack("{s:s, s:o, s:o, s:o}", "name", "pods", "startTime", time_json(s->boot_ns),
                                  "cpu", cpu_json(s, QOS_KUBEPODS, now, pu.cpu_usage_ns), "memory",
                                  memory_json(now, &pu, pu.memory_limit ? pu.memory_limit : capacity));
                json_array_append_new(sys, c);
        }
        json_object_set_new(node, "systemContainers", sys);
        if (only_cpu_mem)
                return node;
        json_t *net = with_network ? network_of(now, 0) : NULL;
        if (net)
                json_object_set_new(node, "network", net);
        json_object_set_new(node, "fs", fs_json(now, s->root_dir, -1, -1));
        if (image_fs)
                json_object_set_new(node, "runtime", json_pack("{s:O}", "imageFs", image_fs));
        struct sysinfo si;
        _cleanup_free_ char *pid_max = NULL;
        json_t *rl = json_pack("{s:o}", "time", time_json(now));
        if (read_file_limit("/proc/sys/kernel/pid_max", 64, &pid_max, NULL) >= 0)
                set_int(rl, "maxpid", strtoull(pid_max, NULL, 10));
        if (sysinfo(&si) == 0)
                set_int(rl, "curproc", si.procs);
        json_object_set_new(node, "rlimit", rl);
        return node;
}

/* imageFs: the runtime's own numbers for what it uses, statvfs of its mount for the rest. */
static json_t *image_fs_json(struct stats *s, int64_t now, char **mountpoint)
{
        Runtime__V1__ImageFsInfoRequest req = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ImageFsInfoResponse *resp = NULL;
        if (CRI_CALL(s->c.cri, ImageService, ImageFsInfo, image_fs_info, &req, &resp, s->c.timeout_ms,
                     NULL) < 0 ||
            resp->n_image_filesystems == 0)
                return NULL;
        const Runtime__V1__FilesystemUsage *f = resp->image_filesystems[0];
        const char *mp = f->fs_id && f->fs_id->mountpoint[0] ? f->fs_id->mountpoint : s->root_dir;
        *mountpoint = xstrdup(mp);
        return fs_json(now, mp, f->used_bytes ? (int64_t) f->used_bytes->value : -1,
                       f->inodes_used ? (int64_t) f->inodes_used->value : -1);
}

int stats_image_fs_dedicated(struct stats *s, bool *ret)
{
        Runtime__V1__ImageFsInfoRequest req = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ImageFsInfoResponse *resp = NULL;
        if (!s->c.cri)
                return -ENOTCONN;
        int r = CRI_CALL(s->c.cri, ImageService, ImageFsInfo, image_fs_info, &req, &resp, s->c.timeout_ms,
                         NULL);
        if (r < 0)
                return r;
        const Runtime__V1__FilesystemUsage *f =
                resp->n_image_filesystems ? resp->image_filesystems[0] : NULL;
        if (!f || !f->fs_id || !f->fs_id->mountpoint[0])
                return -ENODATA;
        struct stat root, image;
        if (stat(s->root_dir, &root) < 0 || stat(f->fs_id->mountpoint, &image) < 0)
                return -errno;
        *ret = root.st_dev != image.st_dev;
        return 0;
}

/* ---- pods ---- */

static const Runtime__V1__ContainerStats *find_stats(const Runtime__V1__ListContainerStatsResponse *r,
                                                     const char *id)
{
        for (size_t i = 0; r && i < r->n_stats; i++)
                if (r->stats[i]->attributes && streq(r->stats[i]->attributes->id, id))
                        return r->stats[i];
        return NULL;
}

struct pod_ctx {
        struct stats *s;
        int64_t now;
        bool only_cpu_mem;
        const char *image_mount; /* NULL: no imageFs numbers */
        const char *pod_cg; /* the pod's cgroup name; NULL: none (containers from the runtime's stats) */
        uint64_t ephemeral_used, ephemeral_inodes;
};

static json_t *container_json(struct pod_ctx *p, const Runtime__V1__Container *c,
                              const Runtime__V1__ContainerStats *st, const char *log_dir)
{
        json_t *cpu = NULL, *mem = NULL;
        struct cg_usage u;
        if (p->pod_cg) {
                /* Its own cgroup under the pod's (cgroupfs: <parent>/<container id>): read now, no runtime call. */
                _cleanup_free_ char *name = strdup_printf("%s/%s", p->pod_cg, c->id);
                if (cg_read_usage(qos_cgroups_driver(p->s->c.qos), name, &u, NULL) >= 0) {
                        cpu = cpu_json(p->s, c->id, p->now, u.cpu_usage_ns);
                        mem = memory_json(p->now, &u, u.memory_limit);
                }
        }
        if (!cpu) {
                cpu = json_object();
                mem = json_object();
                if (st && st->cpu) {
                        json_object_set_new(cpu, "time", time_json(st->cpu->timestamp));
                        set_u64(cpu, "usageNanoCores", st->cpu->usage_nano_cores);
                        set_u64(cpu, "usageCoreNanoSeconds", st->cpu->usage_core_nano_seconds);
                }
                if (st && st->memory) {
                        json_object_set_new(mem, "time", time_json(st->memory->timestamp));
                        set_u64(mem, "availableBytes", st->memory->available_bytes);
                        set_u64(mem, "usageBytes", st->memory->usage_bytes);
                        set_u64(mem, "workingSetBytes", st->memory->working_set_bytes);
                        set_u64(mem, "rssBytes", st->memory->rss_bytes);
                        set_u64(mem, "pageFaults", st->memory->page_faults);
                        set_u64(mem, "majorPageFaults", st->memory->major_page_faults);
                }
        }
        json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "name", c->metadata ? c->metadata->name : "",
                              "startTime", time_json(c->created_at), "cpu", cpu, "memory", mem);
        if (p->only_cpu_mem)
                return o;
        const Runtime__V1__FilesystemUsage *wl = st ? st->writable_layer : NULL;
        if (wl && p->image_mount) {
                int64_t used = wl->used_bytes ? (int64_t) wl->used_bytes->value : -1,
                        inodes = wl->inodes_used ? (int64_t) wl->inodes_used->value : -1;
                json_object_set_new(o, "rootfs", fs_json(p->now, p->image_mount, used, inodes));
                p->ephemeral_used += used > 0 ? (uint64_t) used : 0;
                p->ephemeral_inodes += inodes > 0 ? (uint64_t) inodes : 0;
        }
        uint64_t bytes, inodes;
        if (log_dir && disk_usage_cached(p->s, log_dir, &bytes, &inodes) >= 0) {
                json_object_set_new(o, "logs", fs_json(p->now, log_dir, (int64_t) bytes, (int64_t) inodes));
                p->ephemeral_used += bytes;
                p->ephemeral_inodes += inodes;
        }
        return o;
}

/* Upstream's isVolumeEphemeral: what the pod keeps on the node's disk, i.e. a disk emptyDir and a
 * configMap; volumes on tmpfs (Memory emptyDir, secrets, downward API, projected) are memory. */
static bool ephemeral_volume(const char *plugin, const char *path)
{
        struct statfs fs;
        if (!streq(plugin, "kubernetes.io~empty-dir") && !streq(plugin, "kubernetes.io~configmap"))
                return false;
        return statfs(path, &fs) == 0 && fs.f_type != TMPFS_MAGIC;
}

static json_t *volumes_json(struct pod_ctx *p, const char *uid)
{
        json_t *list = json_array();
        _cleanup_free_ char *dir = strdup_printf("%s/pods/%s/volumes", p->s->root_dir, uid);
        DIR *plugins = opendir(dir);
        struct dirent *pe;
        if (!plugins)
                return list;
        while ((pe = readdir(plugins))) {
                if (pe->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *pdir = strdup_printf("%s/%s", dir, pe->d_name);
                DIR *vols = opendir(pdir);
                struct dirent *ve;
                if (!vols)
                        continue;
                while ((ve = readdir(vols))) {
                        if (ve->d_name[0] == '.')
                                continue;
                        _cleanup_free_ char *vpath = strdup_printf("%s/%s", pdir, ve->d_name);
                        uint64_t bytes, inodes;
                        if (disk_usage_cached(p->s, vpath, &bytes, &inodes) < 0)
                                continue;
                        json_t *v = fs_json(p->now, vpath, (int64_t) bytes, (int64_t) inodes);
                        json_object_set_new(v, "name", json_string(ve->d_name));
                        json_array_append_new(list, v);
                        if (ephemeral_volume(pe->d_name, vpath)) {
                                p->ephemeral_used += bytes;
                                p->ephemeral_inodes += inodes;
                        }
                }
                closedir(vols);
        }
        closedir(plugins);
        return list;
}

/* The pod's own numbers from its cgroup; false when it has none (then its containers' sum stands). */
static bool pod_cgroup_json(struct pod_ctx *p, json_t *pod)
{
        if (!p->pod_cg)
                return false;
        const struct cg *cg = qos_cgroups_driver(p->s->c.qos);
        struct cg_usage u;
        if (cg_read_usage(cg, p->pod_cg, &u, NULL) < 0)
                return false;
        json_object_set_new(pod, "cpu", cpu_json(p->s, p->pod_cg, p->now, u.cpu_usage_ns));
        json_object_set_new(pod, "memory", memory_json(p->now, &u, u.memory_limit));
        size_t procs = 0;
        pid_t pid = 0;
        if (cg_procs(cg, p->pod_cg, &procs, &pid) >= 0) {
                json_object_set_new(pod, "process_stats",
                                    json_pack("{s:I}", "process_count", (json_int_t) procs));
                json_t *net = p->only_cpu_mem || !pid ? NULL : network_of(p->now, pid);
                if (net)
                        json_object_set_new(pod, "network", net);
        }
        return true;
}

static void sum_containers(json_t *pod)
{
        json_t *cpu = json_object(), *mem = json_object(), *c;
        size_t i;
        json_array_foreach(json_object_get(pod, "containers"), i, c)
        {
                json_t *cc = json_object_get(c, "cpu"), *cm = json_object_get(c, "memory");
                json_object_set(cpu, "time", json_object_get(cc, "time"));
                json_object_set(mem, "time", json_object_get(cm, "time"));
                static const char *const cpu_keys[] = {"usageNanoCores", "usageCoreNanoSeconds"},
                                         *const mem_keys[] = {"usageBytes", "workingSetBytes", "rssBytes",
                                                              "pageFaults", "majorPageFaults"};
                for (size_t k = 0; k < ELEMENTSOF(cpu_keys); k++)
                        if (json_object_get(cc, cpu_keys[k]))
                                set_int(cpu, cpu_keys[k],
                                        get_int(cpu, cpu_keys[k]) + get_int(cc, cpu_keys[k]));
                for (size_t k = 0; k < ELEMENTSOF(mem_keys); k++)
                        if (json_object_get(cm, mem_keys[k]))
                                set_int(mem, mem_keys[k],
                                        get_int(mem, mem_keys[k]) + get_int(cm, mem_keys[k]));
        }
        json_object_set_new(pod, "cpu", cpu);
        json_object_set_new(pod, "memory", mem);
}

static json_t *pod_json(struct pod_ctx *p, const Runtime__V1__PodSandbox *sb,
                        const Runtime__V1__ListContainersResponse *cs,
                        const Runtime__V1__ListContainerStatsResponse *st)
{
        const Runtime__V1__PodSandboxMetadata *m = sb->metadata;
        json_t *pod = json_pack("{s:{s:s, s:s, s:s}, s:o, s:[]}", "podRef", "name", m->name, "namespace",
                                m->namespace_, "uid", m->uid, "startTime", time_json(sb->created_at),
                                "containers");
        _cleanup_free_ char *logs =
                strdup_printf("%s/%s_%s_%s", p->s->pod_logs_dir, m->namespace_, m->name, m->uid);
        p->ephemeral_used = p->ephemeral_inodes = 0;
        _cleanup_free_ char *pod_cg = p->s->c.qos ? qos_pod_cgroup_find(p->s->c.qos, m->uid) : NULL;
        p->pod_cg = pod_cg;
        for (size_t i = 0; cs && i < cs->n_containers; i++) {
                const Runtime__V1__Container *c = cs->containers[i];
                if (!streq(c->pod_sandbox_id, sb->id) || !c->metadata)
                        continue;
                _cleanup_free_ char *log_dir = strdup_printf("%s/%s", logs, c->metadata->name);
                json_array_append_new(json_object_get(pod, "containers"),
                                      container_json(p, c, find_stats(st, c->id), log_dir));
        }
        if (!pod_cgroup_json(p, pod))
                sum_containers(pod);
        p->pod_cg = NULL;
        if (p->only_cpu_mem)
                return pod;
        json_object_set_new(pod, "volume", volumes_json(p, m->uid));
        json_object_set_new(
                pod, "ephemeral-storage",
                fs_json(p->now, p->s->root_dir, (int64_t) p->ephemeral_used, (int64_t) p->ephemeral_inodes));
        return pod;
}

/* One sandbox per pod: a ready one before one that is not (a pod that finished still shows, as upstream),
 * then the newest. */
static bool better_sandbox(const Runtime__V1__PodSandbox *b, const Runtime__V1__PodSandbox *a)
{
        bool ra = a->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY,
             rb = b->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        return rb != ra ? rb : b->created_at > a->created_at;
}

static bool chosen_for_pod(const Runtime__V1__ListPodSandboxResponse *r, size_t i)
{
        const Runtime__V1__PodSandbox *a = r->items[i];
        for (size_t j = 0; j < r->n_items; j++) {
                const Runtime__V1__PodSandbox *b = r->items[j];
                if (j == i || !b->metadata || !streq(b->metadata->uid, a->metadata->uid))
                        continue;
                if (better_sandbox(b, a) || (!better_sandbox(a, b) && j < i))
                        return false;
        }
        return true;
}

json_t *stats_summary(struct stats *s, bool only_cpu_and_memory, char **err)
{
        Runtime__V1__ListPodSandboxRequest sreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ContainerStateValue running = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
        Runtime__V1__ContainerFilter cf = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ListPodSandboxResponse *sresp = NULL;
        _cleanup_cri_ Runtime__V1__ListContainersResponse *cresp = NULL;
        struct cri_error cerr = {0};
        int r;

        running.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        cf.state = &running;
        creq.filter = &cf;
        if ((r = CRI_CALL(s->c.cri, RuntimeService, ListPodSandbox, list_pod_sandbox, &sreq, &sresp,
                          s->c.timeout_ms, &cerr)) < 0 ||
            (r = CRI_CALL(s->c.cri, RuntimeService, ListContainers, list_containers, &creq, &cresp,
                          s->c.timeout_ms, &cerr)) < 0) {
                *err = xstrdup(cerr.msg[0] ? cerr.msg : strerror(-r));
                return NULL;
        }
        /* The runtime's container stats only where the cgroups cannot say: the writable layers, and the
         * containers of pods without pod cgroups. */
        struct cstats *cst = !only_cpu_and_memory || !s->c.qos ? cstats_get(s) : NULL;
        const Runtime__V1__ListContainerStatsResponse *stresp = cst ? cst->resp : NULL;
        int64_t now = now_real_ns();
        _cleanup_free_ char *image_mount = NULL;
        json_t *image_fs = only_cpu_and_memory ? NULL : image_fs_json(s, now, &image_mount);
        struct pod_ctx p = {
                .s = s, .now = now, .only_cpu_mem = only_cpu_and_memory, .image_mount = image_mount};
        json_t *pods = json_array();
        for (size_t i = 0; i < sresp->n_items; i++)
                if (sresp->items[i]->metadata && chosen_for_pod(sresp, i))
                        json_array_append_new(pods, pod_json(&p, sresp->items[i], cresp, stresp));
        json_t *sum = json_pack("{s:o, s:o}", "node", node_json(s, now, only_cpu_and_memory, true, image_fs),
                                "pods", pods);
        json_decref(image_fs);
        cstats_unref(cst);
        forget_old(s);
        return sum;
}

json_t *stats_summary_node(struct stats *s, char **err)
{
        int64_t now = now_real_ns();
        _cleanup_free_ char *image_mount = NULL;
        /* The runtime not answering is an error here too, as for the whole Summary. */
        json_t *image_fs = image_fs_json(s, now, &image_mount);
        if (!image_fs && s->c.cri) {
                Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
                _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL;
                struct cri_error cerr = {0};
                int r = CRI_CALL(s->c.cri, RuntimeService, Version, version, &req, &resp, s->c.timeout_ms,
                                 &cerr);
                if (r < 0) {
                        *err = xstrdup(cerr.msg[0] ? cerr.msg : strerror(-r));
                        return NULL;
                }
        }
        json_t *sum = json_pack("{s:o, s:[]}", "node", node_json(s, now, false, false, image_fs), "pods");
        json_decref(image_fs);
        return sum;
}

/* ---- /metrics/resource ---- */

/* A label value as Prometheus text wants it: backslash, quote and newline escaped. */
static void label_value(FILE *f, const char *v)
{
        for (; v && *v; v++)
                if (*v == '\\' || *v == '"')
                        fprintf(f, "\\%c", *v);
                else if (*v == '\n')
                        fputs("\\n", f);
                else
                        fputc(*v, f);
}

static void sample(FILE *f, const char *name, const char *ns, const char *pod, const char *container,
                   double value, int64_t ts_ms)
{
        fputs(name, f);
        if (ns) {
                fputs("{", f);
                if (container) {
                        fputs("container=\"", f);
                        label_value(f, container);
                        fputs("\",", f);
                }
                fputs("namespace=\"", f);
                label_value(f, ns);
                fputs("\",pod=\"", f);
                label_value(f, pod);
                fputs("\"}", f);
        }
        /* Bytes whole, seconds to the nanosecond. */
        fprintf(f, value == (double) (long long) value ? " %.0f %lld\n" : " %.9f %lld\n", value,
                (long long) ts_ms);
}

static bool number(json_t *o, const char *a, const char *b, double *ret)
{
        json_t *v = json_object_get(json_object_get(o, a), b);
        if (!json_is_integer(v))
                return false;
        *ret = (double) json_integer_value(v);
        return true;
}

/* The families in upstream's order, each with every sample it has. */
char *stats_summary_to_resource_metrics(json_t *sum, int64_t ts_ms)
{
        static const struct {
                const char *name, *type, *help, *obj, *field;
                double scale;
                int level; /* 0 node, 1 pod, 2 container */
        } fam[] = {
                {"container_cpu_usage_seconds_total", "counter",
                 "Cumulative cpu time consumed by the container in core-seconds", "cpu",
                 "usageCoreNanoSeconds", 1e-9, 2},
                {"container_memory_working_set_bytes", "gauge",
                 "Current working set of the container in bytes", "memory", "workingSetBytes", 1, 2},
                {"node_cpu_usage_seconds_total", "counter",
                 "Cumulative cpu time consumed by the node in core-seconds", "cpu", "usageCoreNanoSeconds",
                 1e-9, 0},
                {"node_memory_working_set_bytes", "gauge", "Current working set of the node in bytes",
                 "memory", "workingSetBytes", 1, 0},
                {"pod_cpu_usage_seconds_total", "counter",
                 "Cumulative cpu time consumed by the pod in core-seconds", "cpu", "usageCoreNanoSeconds",
                 1e-9, 1},
                {"pod_memory_working_set_bytes", "gauge", "Current working set of the pod in bytes",
                 "memory", "workingSetBytes", 1, 1},
        };
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        json_t *pods = json_object_get(sum, "pods"), *pod, *c;
        size_t i, j;
        double v;
        for (size_t k = 0; k < ELEMENTSOF(fam); k++) {
                fprintf(f, "# HELP %s [ALPHA] %s\n# TYPE %s %s\n", fam[k].name, fam[k].help, fam[k].name,
                        fam[k].type);
                if (fam[k].level == 0 && number(json_object_get(sum, "node"), fam[k].obj, fam[k].field, &v))
                        sample(f, fam[k].name, NULL, NULL, NULL, v * fam[k].scale, ts_ms);
                if (fam[k].level == 0)
                        continue;
                json_array_foreach(pods, i, pod)
                {
                        json_t *ref = json_object_get(pod, "podRef");
                        const char *ns = json_string_value(json_object_get(ref, "namespace")),
                                   *name = json_string_value(json_object_get(ref, "name"));
                        if (!ns || !name)
                                continue;
                        if (fam[k].level == 1 && number(pod, fam[k].obj, fam[k].field, &v))
                                sample(f, fam[k].name, ns, name, NULL, v * fam[k].scale, ts_ms);
                        if (fam[k].level == 2)
                                json_array_foreach(json_object_get(pod, "containers"), j, c)
                                {
                                        const char *cn = json_string_value(json_object_get(c, "name"));
                                        if (cn && number(c, fam[k].obj, fam[k].field, &v))
                                                sample(f, fam[k].name, ns, name, cn, v * fam[k].scale,
                                                       ts_ms);
                                }
                }
        }
        fputs("# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 "
              "otherwise\n"
              "# TYPE scrape_error gauge\nscrape_error 0\n",
              f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

char *stats_resource_metrics(struct stats *s, char **err)
{
        json_t *sum = stats_summary(s, true, err);
        if (!sum)
                return NULL;
        char *text = stats_summary_to_resource_metrics(sum, now_real_ns() / 1000000);
        json_decref(sum);
        if (!text)
                *err = xstrdup("out of memory");
        return text;
}
