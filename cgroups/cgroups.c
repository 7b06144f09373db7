/* The cgroupfs driver: the node's hierarchy (v1, hybrid, v2), cgroups by relative name under a root,
 * upstream's resource math, usage for stats. */
#include "cgroups.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "macro.h"
#include "util.h"

#define CGROUP_SUPER_MAGIC_ 0x27e0eb
#define CGROUP2_MAGIC_      0x63677270
#define TMPFS_MAGIC_        0x01021994

#define REMOVE_ATTEMPTS 6 /* 10 ms doubling: about 0.3 s in all before -EBUSY */

enum cg_mode cg_detect_mode(const char *root)
{
        struct statfs fs;
        char unified[4096];

        if (statfs(root, &fs) < 0)
                return CG_MODE_UNKNOWN;
        if (fs.f_type == CGROUP2_MAGIC_)
                return CG_MODE_V2;
        if (fs.f_type != TMPFS_MAGIC_)
                return CG_MODE_UNKNOWN;
        snprintf(unified, sizeof unified, "%s/unified", root);
        if (statfs(unified, &fs) == 0 && fs.f_type == CGROUP2_MAGIC_)
                return CG_MODE_HYBRID;
        return CG_MODE_V1;
}

const char *cg_mode_name(enum cg_mode m)
{
        switch (m) {
        case CG_MODE_V1:
                return "v1";
        case CG_MODE_HYBRID:
                return "hybrid (v1 controllers, v2 at unified)";
        case CG_MODE_V2:
                return "v2";
        default:
                return "unknown";
        }
}

/* ---- resource math ---- */

int64_t cg_milli_to_shares(int64_t milli_cpu)
{
        if (milli_cpu <= 0)
                return CG_MIN_SHARES; /* the kernel's floor, not the runtime's "unset" (1024) */
        if (milli_cpu > INT64_MAX / 1024)
                return CG_MAX_SHARES;
        int64_t shares = milli_cpu * 1024 / 1000;
        return shares < CG_MIN_SHARES ? CG_MIN_SHARES : shares > CG_MAX_SHARES ? CG_MAX_SHARES : shares;
}

bool cg_hugepage_size_name(const char *entry, char *out, size_t len)
{
        static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
        if (!str_has_prefix(entry, "hugepages-"))
                return false;
        const char *num = entry + strlen("hugepages-");
        char *end;
        errno = 0;
        unsigned long long kb = strtoull(num, &end, 10);
        if (end == num || errno || strcasecmp(end, "kB") != 0 || kb == 0 || kb > UINT64_MAX / 1024 / 1024)
                return false;
        double v = (double) kb * 1024;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        int n = snprintf(out, len, "%g%s", v, units[u]);
        return n > 0 && (size_t) n < len;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static size_t read_hugepages(const char *dir, struct cg_hugepage out[CG_HUGEPAGES_MAX])
{
        DIR *d = opendir(dir);
        char **names = NULL;
        size_t n = 0, got = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (str_has_prefix(de->d_name, "hugepages-")) {
                        strv_push(&names, xstrdup(de->d_name));
                        n++;
                }
        if (d)
                closedir(d);
        if (n)
                qsort(names, n, sizeof *names, name_cmp);
        for (size_t i = 0; i < n && got < CG_HUGEPAGES_MAX; i++) {
                struct cg_hugepage *h = &out[got];
                *h = (struct cg_hugepage){0};
                if (!cg_hugepage_size_name(names[i], h->name, sizeof h->name))
                        continue;
                h->page_size = strtoull(names[i] + strlen("hugepages-"), NULL, 10) * 1024;
                _cleanup_free_ char *p = strdup_printf("%s/%s/nr_hugepages", dir, names[i]), *text = NULL;
                if (read_file_limit(p, 4096, &text, NULL) >= 0) /* sysfs says 4096 bytes */
                        h->pages = strtoull(text, NULL, 10);
                got++;
        }
        strv_free(names);
        return got;
}

int64_t cg_hugepage_pool(const struct cg_hugepage *h)
{
        if (h->page_size == 0 || h->pages > (uint64_t) INT64_MAX / h->page_size)
                return h->page_size ? INT64_MAX : 0;
        return (int64_t) (h->pages * h->page_size);
}

static struct cg_hugepage machine_hugepages[CG_HUGEPAGES_MAX];
static size_t n_machine_hugepages;
static pthread_once_t machine_hugepages_once = PTHREAD_ONCE_INIT;

static void read_machine_hugepages(void)
{
        n_machine_hugepages = read_hugepages("/sys/kernel/mm/hugepages", machine_hugepages);
}

size_t cg_hugepages(const char *dir, struct cg_hugepage out[CG_HUGEPAGES_MAX])
{
        if (dir)
                return read_hugepages(dir, out);
        pthread_once(&machine_hugepages_once, read_machine_hugepages);
        memcpy(out, machine_hugepages, n_machine_hugepages * sizeof *out);
        return n_machine_hugepages;
}

int64_t cg_milli_to_quota(int64_t milli_cpu, int64_t period_us)
{
        if (milli_cpu <= 0)
                return 0;
        if (period_us <= 0)
                period_us = CG_QUOTA_PERIOD_US;
        if (milli_cpu > INT64_MAX / period_us)
                return INT64_MAX / 1000;
        int64_t quota = milli_cpu * period_us / 1000;
        return quota < CG_MIN_QUOTA_US ? CG_MIN_QUOTA_US : quota;
}

int64_t cg_shares_to_weight(int64_t shares)
{
        if (shares == 0)
                return 0;
        shares = shares < CG_MIN_SHARES ? CG_MIN_SHARES : shares > CG_MAX_SHARES ? CG_MAX_SHARES : shares;
        return 1 + ((shares - 2) * 9999) / 262142;
}

void cg_resources_init(struct cg_resources *r)
{
        memset(r, 0, sizeof *r);
        r->cpu_shares = r->cpu_quota_us = r->cpu_period_us = r->memory_max = r->pids_max = CG_UNSET;
}

/* ---- the driver ---- */

enum {
        CTRL_CPU = 1 << 0,
        CTRL_CPUACCT = 1 << 1,
        CTRL_CPUSET = 1 << 2,
        CTRL_MEMORY = 1 << 3,
        CTRL_PIDS = 1 << 4,
        CTRL_HUGETLB = 1 << 5,
        CTRL_ALL = (1 << 6) - 1,
};

static const struct {
        const char *name;
        unsigned bit;
} controllers[] = {
        {"cpu", CTRL_CPU},       {"cpuacct", CTRL_CPUACCT}, {"cpuset", CTRL_CPUSET},
        {"memory", CTRL_MEMORY}, {"pids", CTRL_PIDS},       {"hugetlb", CTRL_HUGETLB},
};

struct hier {
        char *dir;     /* the mount point */
        unsigned ctrl; /* the controllers cubelet uses that live here */
        bool v2;       /* the unified hierarchy: the only one (v2) or the controller-less one of hybrid */
};

struct cg {
        enum cg_mode mode;
        char *root; /* "" for the top, else "/a/b" */
        struct hier *h;
        size_t n_h;
};

static int fail(struct cg_error *err, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(struct cg_error *err, int r, const char *fmt, ...)
{
        va_list ap;
        if (!err)
                return r;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t) n < sizeof err->msg)
                snprintf(err->msg + n, sizeof err->msg - (size_t) n, ": %s", strerror(-r));
        return r;
}

/* Relative, no empty, "." or ".." parts; "" is the root itself. */
static bool name_ok(const char *name)
{
        if (!name || name[0] == '/')
                return false;
        for (const char *p = name; *p;) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t) (e - p);
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                if (*e && !e[1])
                        return false; /* a trailing '/' */
                p = *e ? e + 1 : e;
        }
        return true;
}

/* "/" or "" → "", "/a//b/" → "/a/b"; NULL when it is not an absolute path of plain parts. */
static char *normalize_root(const char *root)
{
        if (!root || !root[0] || streq(root, "/"))
                return xstrdup("");
        if (root[0] != '/')
                return NULL;
        char *out = OOM_CHECK(malloc(strlen(root) + 1)), *o = out;
        for (const char *p = root; *p;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchrnul(p, '/');
                size_t n = (size_t) (e - p);
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
                        free(out);
                        return NULL;
                }
                *o++ = '/';
                memcpy(o, p, n);
                o += n;
                p = e;
        }
        *o = 0;
        return out;
}

static unsigned ctrl_from_name(const char *name)
{
        unsigned bits = 0;
        _cleanup_free_ char *copy = xstrdup(name);
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                for (size_t i = 0; i < ELEMENTSOF(controllers); i++)
                        if (streq(t, controllers[i].name))
                                bits |= controllers[i].bit;
        return bits;
}

static unsigned ctrl_bit(const char *controller)
{
        for (size_t i = 0; controller && i < ELEMENTSOF(controllers); i++)
                if (streq(controller, controllers[i].name))
                        return controllers[i].bit;
        return 0;
}

static void add_hier(struct cg *cg, const char *dir, unsigned ctrl, bool v2)
{
        cg->h = OOM_CHECK(realloc(cg->h, (cg->n_h + 1) * sizeof *cg->h));
        cg->h[cg->n_h++] = (struct hier){.dir = xstrdup(dir), .ctrl = ctrl, .v2 = v2};
}

static int hier_cmp(const void *a, const void *b)
{
        return strcmp(((const struct hier *) a)->dir, ((const struct hier *) b)->dir);
}

struct cg *cg_free(struct cg *cg)
{
        if (!cg)
                return NULL;
        for (size_t i = 0; i < cg->n_h; i++)
                free(cg->h[i].dir);
        free(cg->h);
        free(cg->root);
        free(cg);
        return NULL;
}
DEFINE_CLEANUP_FUNC(struct cg, cg_free)

static int scan_v1(struct cg *cg, const char *mnt, bool detect, struct cg_error *err)
{
        DIR *d = opendir(mnt);
        struct dirent *de;
        if (!d)
                return fail(err, -errno, "open %s", mnt);
        while ((de = readdir(d))) {
                struct stat st;
                struct statfs fs;
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *dir = strdup_printf("%s/%s", mnt, de->d_name);
                /* "cpu" → "cpu,cpuacct" symlinks name the same hierarchy twice. */
                if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                bool unified = streq(de->d_name, "unified");
                if (detect) {
                        if (statfs(dir, &fs) < 0)
                                continue;
                        unified = fs.f_type == CGROUP2_MAGIC_;
                        if (!unified && fs.f_type != CGROUP_SUPER_MAGIC_)
                                continue;
                }
                if (unified && cg->mode != CG_MODE_HYBRID)
                        continue;
                /* Hybrid's unified hierarchy gets the same directories (runc makes them there too) but no
                 * settings: its controllers are bound to v1. */
                add_hier(cg, dir, unified ? 0 : ctrl_from_name(de->d_name), unified);
        }
        closedir(d);
        qsort(cg->h, cg->n_h, sizeof *cg->h, hier_cmp);
        return 0;
}

static bool v2_has_controller(const char *dir, const char *controller);

int cg_open(const struct cg_options *o, struct cg **ret, struct cg_error *err)
{
        const char *mnt = o && o->mount_root ? o->mount_root : "/sys/fs/cgroup";
        bool detect = !o || o->mode == CG_MODE_UNKNOWN;
        _cleanup_(cg_freep) struct cg *cg = OOM_CHECK(calloc(1, sizeof *cg));
        int r;

        cg->root = normalize_root(o ? o->root : NULL);
        if (!cg->root)
                return fail(err, -EINVAL, "cgroup root \"%s\" is not an absolute path", o->root);
        cg->mode = detect ? cg_detect_mode(mnt) : o->mode;
        if (cg->mode == CG_MODE_UNKNOWN)
                return fail(err, -ENODEV, "no cgroup filesystem at %s", mnt);
        /* v2: hugetlb is the one controller a kernel may well not have (upstream checks for it). */
        if (cg->mode == CG_MODE_V2)
                add_hier(cg, mnt, v2_has_controller(mnt, "hugetlb") ? CTRL_ALL : CTRL_ALL & ~CTRL_HUGETLB,
                         true);
        else {
                r = scan_v1(cg, mnt, detect, err);
                if (r < 0)
                        return r;
        }
        if (cg->n_h == 0)
                return fail(err, -ENODEV, "no cgroup hierarchies under %s", mnt);
        *ret = TAKE_PTR(cg);
        return 0;
}

enum cg_mode cg_get_mode(const struct cg *cg)
{
        return cg->mode;
}

static char *hier_path(const struct cg *cg, const struct hier *h, const char *name)
{
        return strdup_printf("%s%s%s%s", h->dir, cg->root, name[0] ? "/" : "", name);
}

static const struct hier *find_hier(const struct cg *cg, unsigned bit)
{
        for (size_t i = 0; i < cg->n_h; i++)
                if (!bit || (cg->h[i].ctrl & bit))
                        return &cg->h[i];
        return NULL;
}

char *cg_path(const struct cg *cg, const char *name)
{
        if (!name_ok(name))
                return NULL;
        if (!name[0])
                return xstrdup(cg->root[0] ? cg->root : "/");
        return strdup_printf("%s/%s", cg->root, name);
}

char *cg_dir(const struct cg *cg, const char *name, const char *controller)
{
        unsigned bit = ctrl_bit(controller);
        const struct hier *h = find_hier(cg, bit);
        if (!name_ok(name) || !h || (controller && !bit))
                return NULL;
        return hier_path(cg, h, name);
}

char *cg_unified_dir(const struct cg *cg, const char *name)
{
        for (size_t i = 0; name_ok(name) && i < cg->n_h; i++)
                if (cg->h[i].v2)
                        return hier_path(cg, &cg->h[i], name);
        return NULL;
}

/* The hierarchies a cgroup must be in to count as existing: those with settings (all of them on v2). */
static bool counts(const struct cg *cg, const struct hier *h)
{
        return h->ctrl != 0;
}

bool cg_exists(const struct cg *cg, const char *name)
{
        size_t seen = 0;
        if (!name_ok(name))
                return false;
        for (size_t i = 0; i < cg->n_h; i++) {
                struct stat st;
                if (!counts(cg, &cg->h[i]))
                        continue;
                _cleanup_free_ char *p = hier_path(cg, &cg->h[i], name);
                if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                        return false;
                seen++;
        }
        return seen > 0;
}

/* ---- files ---- */

static int write_value(const char *dir, const char *file, const char *value, struct cg_error *err)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, file);
        /* No O_CREAT: a missing file means the controller is not there, and that must show. */
        _cleanup_close_ int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
        size_t len = strlen(value);

        if (fd < 0)
                return fail(err, -errno, "open %s", p);
        ssize_t n = write(fd, value, len);
        if (n < 0)
                return fail(err, -errno, "write %s \"%s\"", p, value);
        if ((size_t) n != len)
                return fail(err, -EIO, "write %s \"%s\"", p, value);
        return 0;
}

static int write_int(const char *dir, const char *file, int64_t v, struct cg_error *err)
{
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRId64, v);
        return write_value(dir, file, buf, err);
}

static int read_value(const char *dir, const char *file, char **ret)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, file);
        return read_file_limit(p, 1 << 20, ret, NULL);
}

static bool blank(const char *s)
{
        for (; *s; s++)
                if (*s != ' ' && *s != '\n' && *s != '\t')
                        return false;
        return true;
}

/* "key value" lines (memory.stat, cpu.stat). */
static int stat_field(const char *text, const char *key, uint64_t *ret)
{
        size_t n = strlen(key);
        for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
                if (strncmp(l, key, n) == 0 && l[n] == ' ') {
                        *ret = strtoull(l + n + 1, NULL, 10);
                        return 0;
                }
        return -ENOENT;
}

static char *parent_of(const char *dir)
{
        char *p = xstrdup(dir), *slash = strrchr(p, '/');
        if (slash && slash != p)
                *slash = 0;
        return p;
}

/* A new v1 cpuset cgroup has no cpus and no mems, and no task may join it: take the parent's. */
static int cpuset_inherit(const char *dir, struct cg_error *err)
{
        static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
        _cleanup_free_ char *parent = parent_of(dir);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *cur = NULL, *from = NULL;
                int r = read_value(dir, files[i], &cur);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return fail(err, r, "read %s/%s", dir, files[i]);
                if (!blank(cur))
                        continue;
                r = read_value(parent, files[i], &from);
                if (r < 0)
                        return fail(err, r, "read %s/%s", parent, files[i]);
                if (blank(from))
                        continue;
                r = write_value(dir, files[i], from, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool word_in(const char *list, const char *word)
{
        size_t n = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ' || p[-1] == '+') &&
                    (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}

static bool v2_has_controller(const char *dir, const char *controller)
{
        _cleanup_free_ char *avail = NULL;
        return read_value(dir, "cgroup.controllers", &avail) >= 0 && word_in(avail, controller);
}

/* v2: a cgroup's children get its available controllers (as runc's fs2 does), in one write; when the kernel
 * refuses the lot, one at a time, and only a controller cubelet sets must succeed. */
static int delegate(const char *dir, struct cg_error *err)
{
        _cleanup_free_ char *avail = NULL, *enabled = NULL, *ops = xstrdup("");
        int r = read_value(dir, "cgroup.controllers", &avail);
        if (r < 0)
                return fail(err, r, "read %s/cgroup.controllers", dir);
        r = read_value(dir, "cgroup.subtree_control", &enabled);
        if (r < 0)
                return fail(err, r, "read %s/cgroup.subtree_control", dir);
        char *save = NULL;
        for (char *t = strtok_r(avail, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
                if (!word_in(enabled, t)) {
                        char *n = strdup_printf("%s%s+%s", ops, ops[0] ? " " : "", t);
                        free(ops);
                        ops = n;
                }
        if (!ops[0] || write_value(dir, "cgroup.subtree_control", ops, NULL) >= 0)
                return 0;
        save = NULL;
        for (char *t = strtok_r(ops, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                struct cg_error e2 = {{0}};
                r = write_value(dir, "cgroup.subtree_control", t, &e2);
                if (r < 0 && (ctrl_bit(t + 1) & (CTRL_CPU | CTRL_MEMORY | CTRL_PIDS))) {
                        if (err)
                                *err = e2;
                        return r;
                }
        }
        return 0;
}

/* mkdir -p below the mount point, a level at a time so each new level is set up from its parent. */
static int make_levels(const struct cg *cg, const struct hier *h, const char *name, bool *ret_new,
                       struct cg_error *err)
{
        _cleanup_free_ char *full = hier_path(cg, h, name);
        size_t base = strlen(h->dir);
        bool is_new = false;
        int r;

        if (full[base] != '/')
                return 0; /* the mount point itself */
        for (char *s = full + base + 1;; s++) {
                if (*s && *s != '/')
                        continue;
                char saved = *s;
                *s = 0;
                if (h->v2 && cg->mode == CG_MODE_V2) {
                        _cleanup_free_ char *parent = parent_of(full);
                        r = delegate(parent, err);
                        if (r < 0)
                                return r;
                }
                is_new = mkdir(full, 0755) == 0;
                if (!is_new && errno != EEXIST)
                        return fail(err, -errno, "mkdir %s", full);
                if (h->ctrl & CTRL_CPUSET && cg->mode != CG_MODE_V2) {
                        r = cpuset_inherit(full, err);
                        if (r < 0)
                                return r;
                }
                *s = saved;
                if (!saved)
                        break;
        }
        *ret_new = is_new;
        return 0;
}

/* Upstream's hugetlb limits: left out where the hierarchy has no hugetlb controller. */
static int apply_hugetlb(const struct cg *cg, const char *name, const struct cg_resources *res,
                         struct cg_error *err)
{
        const struct hier *h = res->n_hugetlb ? find_hier(cg, CTRL_HUGETLB) : NULL;
        if (!h)
                return 0;
        _cleanup_free_ char *dir = hier_path(cg, h, name);
        for (size_t i = 0; i < res->n_hugetlb && i < CG_HUGEPAGES_MAX; i++) {
                const struct cg_hugetlb *l = &res->hugetlb[i];
                char file[64];
                int r;
                snprintf(file, sizeof file, "hugetlb.%s.%s", l->name, h->v2 ? "max" : "limit_in_bytes");
                if (l->limit == CG_MAX)
                        r = h->v2 ? write_value(dir, file, "max", err) : write_int(dir, file, -1, err);
                else
                        r = write_int(dir, file, l->limit, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int apply_v1(const struct cg *cg, const char *name, const struct cg_resources *res,
                    struct cg_error *err)
{
        const struct hier *h;
        int r;

        if (res->cpu_shares != CG_UNSET || res->cpu_quota_us != CG_UNSET || res->cpu_period_us != CG_UNSET) {
                h = find_hier(cg, CTRL_CPU);
                if (!h)
                        return fail(err, -ENOTSUP, "cgroup \"%s\": no cpu controller", name);
                _cleanup_free_ char *dir = hier_path(cg, h, name);
                if (res->cpu_shares != CG_UNSET &&
                    (r = write_int(dir, "cpu.shares", res->cpu_shares, err)) < 0)
                        return r;
                bool set_quota = res->cpu_quota_us != CG_UNSET;
                int64_t quota = res->cpu_quota_us == CG_MAX ? -1 : res->cpu_quota_us;
                int64_t period = res->cpu_period_us != CG_UNSET ? res->cpu_period_us
                                 : set_quota                    ? CG_QUOTA_PERIOD_US
                                                                : CG_UNSET;
                if (period != CG_UNSET) {
                        r = write_int(dir, "cpu.cfs_period_us", period, err);
                        /* A shorter period may not fit the current quota: the quota first, then. */
                        if (r == -EINVAL && set_quota) {
                                r = write_int(dir, "cpu.cfs_quota_us", quota, err);
                                if (r >= 0)
                                        r = write_int(dir, "cpu.cfs_period_us", period, err);
                        }
                        if (r < 0)
                                return r;
                }
                if (set_quota && (r = write_int(dir, "cpu.cfs_quota_us", quota, err)) < 0)
                        return r;
        }
        if (res->memory_max != CG_UNSET) {
                h = find_hier(cg, CTRL_MEMORY);
                if (!h)
                        return fail(err, -ENOTSUP, "cgroup \"%s\": no memory controller", name);
                _cleanup_free_ char *dir = hier_path(cg, h, name);
                r = write_int(dir, "memory.limit_in_bytes", res->memory_max == CG_MAX ? -1 : res->memory_max,
                              err);
                if (r < 0)
                        return r;
        }
        if (res->pids_max != CG_UNSET) {
                h = find_hier(cg, CTRL_PIDS);
                if (!h)
                        return fail(err, -ENOTSUP, "cgroup \"%s\": no pids controller", name);
                _cleanup_free_ char *dir = hier_path(cg, h, name);
                r = res->pids_max == CG_MAX ? write_value(dir, "pids.max", "max", err)
                                            : write_int(dir, "pids.max", res->pids_max, err);
                if (r < 0)
                        return r;
        }
        return apply_hugetlb(cg, name, res, err);
}

static int apply_v2(const struct cg *cg, const char *name, const struct cg_resources *res,
                    struct cg_error *err)
{
        _cleanup_free_ char *dir = hier_path(cg, &cg->h[0], name);
        char buf[64];
        int r;

        if (res->cpu_shares != CG_UNSET &&
            (r = write_int(dir, "cpu.weight", cg_shares_to_weight(res->cpu_shares), err)) < 0)
                return r;
        if (res->cpu_quota_us != CG_UNSET) {
                int64_t period = res->cpu_period_us != CG_UNSET ? res->cpu_period_us : CG_QUOTA_PERIOD_US;
                if (res->cpu_quota_us == CG_MAX)
                        snprintf(buf, sizeof buf, "max %" PRId64, period);
                else
                        snprintf(buf, sizeof buf, "%" PRId64 " %" PRId64, res->cpu_quota_us, period);
                if ((r = write_value(dir, "cpu.max", buf, err)) < 0)
                        return r;
        }
        if (res->memory_max != CG_UNSET) {
                r = res->memory_max == CG_MAX ? write_value(dir, "memory.max", "max", err)
                                              : write_int(dir, "memory.max", res->memory_max, err);
                if (r < 0)
                        return r;
        }
        if (res->pids_max != CG_UNSET) {
                r = res->pids_max == CG_MAX ? write_value(dir, "pids.max", "max", err)
                                            : write_int(dir, "pids.max", res->pids_max, err);
                if (r < 0)
                        return r;
        }
        return apply_hugetlb(cg, name, res, err);
}

static int apply(const struct cg *cg, const char *name, const struct cg_resources *res, struct cg_error *err)
{
        if (!res)
                return 0;
        return cg->mode == CG_MODE_V2 ? apply_v2(cg, name, res, err) : apply_v1(cg, name, res, err);
}

int cg_create(const struct cg *cg, const char *name, const struct cg_resources *res, struct cg_error *err)
{
        bool any_new = false;
        if (!name_ok(name))
                return fail(err, -EINVAL, "invalid cgroup name \"%s\"", name ? name : "(null)");
        for (size_t i = 0; i < cg->n_h; i++) {
                bool is_new = false;
                int r = make_levels(cg, &cg->h[i], name, &is_new, err);
                if (r < 0)
                        return r;
                any_new |= is_new && counts(cg, &cg->h[i]);
        }
        int r = apply(cg, name, res, err);
        return r < 0 ? r : any_new;
}

int cg_update(const struct cg *cg, const char *name, const struct cg_resources *res, struct cg_error *err)
{
        if (!name_ok(name))
                return fail(err, -EINVAL, "invalid cgroup name \"%s\"", name ? name : "(null)");
        if (!cg_exists(cg, name))
                return fail(err, -ENOENT, "cgroup \"%s\"", name);
        return apply(cg, name, res, err);
}

/* The processes in a cgroup and its children; the first cgroup that has some is kept in busy. */
struct busy {
        char *path;
        size_t n;
};

static size_t count_procs(const char *dir)
{
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        if (read_value(dir, "cgroup.procs", &text) < 0)
                return 0;
        for (const char *p = text; *p; p++)
                if (*p == '\n' || !p[1])
                        n++;
        return n;
}

static size_t subtree_procs(const char *path, struct busy *busy)
{
        DIR *d = opendir(path);
        struct dirent *de;
        size_t n = count_procs(path);

        if (n && !busy->path)
                *busy = (struct busy){.path = xstrdup(path), .n = n};
        if (!d)
                return n;
        while ((de = readdir(d)))
                if (de->d_type == DT_DIR && de->d_name[0] != '.') {
                        _cleanup_free_ char *child = strdup_printf("%s/%s", path, de->d_name);
                        n += subtree_procs(child, busy);
                }
        closedir(d);
        return n;
}

/* Depth first; the first directory that would not go is kept in busy. */
static int rmdir_tree(const char *path, struct busy *busy)
{
        DIR *d = opendir(path);
        struct dirent *de;
        int ret = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *child = strdup_printf("%s/%s", path, de->d_name);
                int r = rmdir_tree(child, busy);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        closedir(d);
        if (rmdir(path) == 0 || errno == ENOENT)
                return ret;
        /* A cgroup with tasks says EBUSY; a plain directory with files (a test tree) ENOTEMPTY. */
        int r = errno == ENOTEMPTY ? -EBUSY : -errno;
        if (r == -EBUSY && !busy->path)
                busy->path = xstrdup(path);
        return ret < 0 ? ret : r;
}

int cg_remove(const struct cg *cg, const char *name, struct cg_error *err)
{
        if (!name_ok(name) || (!name[0] && !cg->root[0]))
                return fail(err, -EINVAL, "invalid cgroup name \"%s\"", name ? name : "(null)");
        for (int attempt = 0;; attempt++) {
                struct busy busy = {0};
                size_t n = 0;
                int ret = 0;
                /* Nothing goes while a process is anywhere in it: no half-removed cgroup. */
                for (size_t i = 0; i < cg->n_h; i++) {
                        _cleanup_free_ char *p = hier_path(cg, &cg->h[i], name);
                        n += subtree_procs(p, &busy);
                }
                for (size_t i = 0; i < cg->n_h && n == 0; i++) {
                        _cleanup_free_ char *p = hier_path(cg, &cg->h[i], name);
                        int r = rmdir_tree(p, &busy);
                        if (r < 0 && r != -EBUSY) {
                                free(busy.path);
                                return fail(err, r, "remove %s", p);
                        }
                        if (r < 0)
                                ret = r;
                }
                if (n == 0 && ret == 0)
                        return 0;
                if (attempt + 1 >= REMOVE_ATTEMPTS) {
                        if (busy.n > 0 && err)
                                snprintf(err->msg, sizeof err->msg,
                                         "remove %s: %zu process%s still in it; not removing a cgroup that "
                                         "has "
                                         "tasks",
                                         busy.path, busy.n, busy.n == 1 ? "" : "es");
                        else
                                fail(err, -EBUSY, "remove %s", busy.path ? busy.path : name);
                        free(busy.path);
                        return -EBUSY;
                }
                free(busy.path);
                /* Exited tasks leave their cgroup a moment after the runtime says they are gone. */
                struct timespec ts = {.tv_nsec = 10000000L << attempt};
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
        }
}

static void kill_subtree(const char *path, int sig, int *n)
{
        _cleanup_free_ char *text = NULL;
        if (read_value(path, "cgroup.procs", &text) >= 0)
                for (char *l = text, *end; *l; l = end) {
                        long pid = strtol(l, &end, 10);
                        if (end == l)
                                break;
                        if (pid > 1 && kill((pid_t) pid, sig) == 0)
                                (*n)++;
                        while (*end == '\n')
                                end++;
                }
        DIR *d = opendir(path);
        struct dirent *de;
        if (!d)
                return;
        while ((de = readdir(d)))
                if (de->d_type == DT_DIR && de->d_name[0] != '.') {
                        _cleanup_free_ char *child = strdup_printf("%s/%s", path, de->d_name);
                        kill_subtree(child, sig, n);
                }
        closedir(d);
}

int cg_kill(const struct cg *cg, const char *name, int sig, struct cg_error *err)
{
        int n = 0;
        if (!name_ok(name) || !name[0])
                return fail(err, -EINVAL, "invalid cgroup name \"%s\"", name ? name : "(null)");
        for (size_t i = 0; i < cg->n_h; i++) {
                _cleanup_free_ char *p = hier_path(cg, &cg->h[i], name);
                kill_subtree(p, sig, &n);
        }
        return n;
}

static int strv_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int cg_children(const struct cg *cg, const char *name, char ***ret)
{
        _cleanup_strv_free_ char **out = OOM_CHECK(calloc(1, sizeof(char *)));
        if (!name_ok(name))
                return -EINVAL;
        for (size_t i = 0; i < cg->n_h; i++) {
                _cleanup_free_ char *p = hier_path(cg, &cg->h[i], name);
                DIR *d = opendir(p);
                struct dirent *de;
                if (!d) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                while ((de = readdir(d))) {
                        bool dup = false;
                        if (de->d_type != DT_DIR || de->d_name[0] == '.')
                                continue;
                        for (char **s = out; *s && !dup; s++)
                                dup = streq(*s, de->d_name);
                        if (!dup)
                                strv_push(&out, xstrdup(de->d_name));
                }
                closedir(d);
        }
        qsort(out, strv_length(out), sizeof *out, strv_cmp);
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- usage ---- */

static int read_u64(const char *dir, const char *file, uint64_t *ret, struct cg_error *err)
{
        _cleanup_free_ char *text = NULL;
        int r = read_value(dir, file, &text);
        if (r < 0)
                return fail(err, r, "read %s/%s", dir, file);
        *ret = strtoull(text, NULL, 10);
        return 0;
}

int cg_read_usage(const struct cg *cg, const char *name, struct cg_usage *ret, struct cg_error *err)
{
        const struct hier *hc = find_hier(cg, cg->mode == CG_MODE_V2 ? CTRL_CPU : CTRL_CPUACCT);
        const struct hier *hm = find_hier(cg, CTRL_MEMORY);
        _cleanup_free_ char *stat = NULL;
        struct cg_usage u = {0};
        uint64_t inactive = 0;
        int r;

        if (!name_ok(name))
                return fail(err, -EINVAL, "invalid cgroup name \"%s\"", name ? name : "(null)");
        if (!hc || !hm)
                return fail(err, -ENOTSUP, "cgroup \"%s\": no %s controller", name,
                            hc ? "memory" : "cpuacct");
        _cleanup_free_ char *cdir = hier_path(cg, hc, name), *mdir = hier_path(cg, hm, name);
        bool v2 = cg->mode == CG_MODE_V2;
        if (v2) {
                uint64_t usec = 0;
                r = read_value(cdir, "cpu.stat", &stat);
                if (r < 0)
                        return fail(err, r, "read %s/cpu.stat", cdir);
                if (stat_field(stat, "usage_usec", &usec) < 0)
                        return fail(err, -EBADMSG, "%s/cpu.stat: no usage_usec", cdir);
                u.cpu_usage_ns = usec * 1000;
                free(TAKE_PTR(stat));
        } else if ((r = read_u64(cdir, "cpuacct.usage", &u.cpu_usage_ns, err)) < 0)
                return r;
        if ((r = read_u64(mdir, v2 ? "memory.current" : "memory.usage_in_bytes", &u.memory_usage, err)) < 0)
                return r;
        r = read_value(mdir, "memory.stat", &stat);
        if (r < 0)
                return fail(err, r, "read %s/memory.stat", mdir);
        /* v1's total_ counts the whole subtree, as usage_in_bytes does. */
        if (stat_field(stat, v2 ? "inactive_file" : "total_inactive_file", &inactive) < 0)
                stat_field(stat, "inactive_file", &inactive);
        u.memory_working_set = u.memory_usage > inactive ? u.memory_usage - inactive : 0;
        stat_field(stat, v2 ? "anon" : "total_rss", &u.memory_rss);
        stat_field(stat, v2 ? "pgfault" : "total_pgfault", &u.page_faults);
        stat_field(stat, v2 ? "pgmajfault" : "total_pgmajfault", &u.major_page_faults);
        /* v1 says "no limit" with a page-rounded LONG_MAX; v2 with "max" (strtoull: 0). */
        free(TAKE_PTR(stat));
        if (read_value(mdir, v2 ? "memory.max" : "memory.limit_in_bytes", &stat) >= 0) {
                uint64_t limit = strtoull(stat, NULL, 10);
                u.memory_limit = limit >= (uint64_t) INT64_MAX - (1 << 20) ? 0 : limit;
        }
        *ret = u;
        return 0;
}

static pid_t first_pid(const char *dir)
{
        _cleanup_free_ char *text = NULL;
        if (read_value(dir, "cgroup.procs", &text) < 0)
                return 0;
        return (pid_t) strtol(text, NULL, 10);
}

int cg_procs(const struct cg *cg, const char *name, size_t *ret_count, pid_t *ret_pid)
{
        const struct hier *h = find_hier(cg, CTRL_PIDS);
        if (!h)
                h = find_hier(cg, CTRL_MEMORY);
        if (!name_ok(name) || !h)
                return -EINVAL;
        _cleanup_free_ char *dir = hier_path(cg, h, name);
        struct stat st;
        if (stat(dir, &st) < 0)
                return -errno;
        struct busy busy = {0};
        *ret_count = subtree_procs(dir, &busy);
        *ret_pid = busy.path ? first_pid(busy.path) : 0;
        free(busy.path);
        return 0;
}
