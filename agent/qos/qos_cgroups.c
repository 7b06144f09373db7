/* Pod-level cgroups by QoS class, as upstream's QoS and pod container managers (pkg/kubelet/cm): the
 * kubepods tree, the tiers' cpu shares, and one pod<uid> cgroup per pod. */
#include "qos_cgroups.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#define KUBEPODS   QOS_KUBEPODS
#define BURSTABLE  KUBEPODS "/burstable"
#define BESTEFFORT KUBEPODS "/besteffort"
#define POD_PREFIX "pod"

/* A pod whose cgroup this process made or updated, for the burstable tier's sum and to skip rewrites. */
struct entry {
        char *uid;
        enum qos_class qos;
        int64_t cpu_request_m;
        struct cg_resources res;
        bool applied; /* res is in the cgroup's files */
};

struct qos_cgroups {
        struct cg *cg;
        int64_t pids_limit;
        pthread_mutex_t lock;
        struct entry *e;
        size_t n_e;
        int64_t burstable_shares; /* as last written; -1: not yet */
        struct cg_hugepage hp[CG_HUGEPAGES_MAX];
        size_t n_hp;
};

/* qos_pod_ensure compares settings with memcmp: no padding in them (cg_resources_init zeroes the rest). */
_Static_assert(sizeof(struct cg_resources) ==
                       5 * sizeof(int64_t) + CG_HUGEPAGES_MAX * sizeof(struct cg_hugetlb) + sizeof(size_t),
               "struct cg_resources has padding");
_Static_assert(sizeof(struct cg_hugetlb) == 16 + sizeof(int64_t), "struct cg_hugetlb has padding");

/* Upstream's QoS tiers' hugetlb limit: "effectively unbounded". */
#define HUGETLB_UNBOUNDED (INT64_C(1) << 62)

enum qos_class qos_class_of(const struct pod *pod)
{
        const char *c = pod_qos_class(pod);
        return streq(c, "Guaranteed")  ? QOS_GUARANTEED
               : streq(c, "Burstable") ? QOS_BURSTABLE
                                       : QOS_BEST_EFFORT;
}

void qos_pod_totals(const struct pod *pod, struct qos_pod_totals *ret)
{
        struct qos_pod_totals t = {.cpu_limits_declared = true, .memory_limits_declared = true};
        int64_t init_req = 0, init_cpu = 0, init_mem = 0;
        size_t n = pod->n_init_containers + pod->n_containers;

        for (size_t i = 0; i < n; i++) {
                bool init = i < pod->n_init_containers;
                const struct container *c =
                        init ? &pod->init_containers[i] : &pod->containers[i - pod->n_init_containers];
                int64_t req = MAX(c->cpu_request_m, (int64_t) 0), cpu = MAX(c->cpu_limit_m, (int64_t) 0),
                        mem = MAX(c->mem_limit, (int64_t) 0);
                /* A zero limit is no limit (upstream's IsZero); only app containers declare limits. */
                if (!init) {
                        t.cpu_limits_declared &= cpu > 0;
                        t.memory_limits_declared &= mem > 0;
                }
                if (init) { /* init containers run one at a time, before the app containers */
                        init_req = MAX(init_req, req);
                        init_cpu = MAX(init_cpu, cpu);
                        init_mem = MAX(init_mem, mem);
                } else {
                        t.cpu_request_m = add_sat(t.cpu_request_m, req);
                        t.cpu_limit_m = add_sat(t.cpu_limit_m, cpu);
                        t.memory_limit = add_sat(t.memory_limit, mem);
                }
        }
        t.cpu_request_m = MAX(t.cpu_request_m, init_req);
        t.cpu_limit_m = MAX(t.cpu_limit_m, init_cpu);
        t.memory_limit = MAX(t.memory_limit, init_mem);
        /* spec.overhead (the RuntimeClass's) adds to the requests, and to the limits that are set. */
        t.cpu_request_m = add_sat(t.cpu_request_m, pod->overhead.cpu_m);
        if (t.cpu_limit_m > 0)
                t.cpu_limit_m = add_sat(t.cpu_limit_m, pod->overhead.cpu_m);
        if (t.memory_limit > 0)
                t.memory_limit = add_sat(t.memory_limit, pod->overhead.memory);
        *ret = t;
}

void qos_pod_resources(const struct pod *pod, int64_t pids_limit, struct cg_resources *ret)
{
        struct qos_pod_totals t;
        struct cg_resources r;
        enum qos_class qos = qos_class_of(pod);

        qos_pod_totals(pod, &t);
        cg_resources_init(&r);
        if (qos == QOS_BEST_EFFORT)
                r.cpu_shares = CG_MIN_SHARES;
        else {
                r.cpu_shares = cg_milli_to_shares(t.cpu_request_m);
                if (qos == QOS_GUARANTEED || t.cpu_limits_declared) {
                        r.cpu_quota_us = cg_milli_to_quota(t.cpu_limit_m, CG_QUOTA_PERIOD_US);
                        r.cpu_period_us = CG_QUOTA_PERIOD_US;
                }
                if (qos == QOS_GUARANTEED || t.memory_limits_declared)
                        r.memory_max = t.memory_limit;
        }
        if (pids_limit > 0)
                r.pids_max = pids_limit;
        *ret = r;
}

static void set_hugetlb(struct cg_resources *r, const struct cg_hugepage *hp, size_t n, size_t i,
                        int64_t limit)
{
        if (i >= n || i >= CG_HUGEPAGES_MAX)
                return;
        snprintf(r->hugetlb[i].name, sizeof r->hugetlb[i].name, "%s", hp[i].name);
        r->hugetlb[i].limit = limit;
        r->n_hugetlb = MAX(r->n_hugetlb, i + 1);
}

void qos_pod_hugetlb(const struct pod *pod, const struct cg_hugepage *hp, size_t n_hp,
                     struct cg_resources *r)
{
        for (size_t i = 0; i < n_hp; i++) {
                int64_t sum = 0;
                for (size_t j = 0; j < pod->n_containers; j++)
                        sum = add_sat(sum,
                                      container_hugepages(&pod->containers[j], (int64_t) hp[i].page_size));
                set_hugetlb(r, hp, n_hp, i, sum);
        }
}

static const char *tier_of(enum qos_class c)
{
        return c == QOS_GUARANTEED ? KUBEPODS : c == QOS_BURSTABLE ? BURSTABLE : BESTEFFORT;
}

char *qos_pod_cgroup_name(enum qos_class c, const char *uid)
{
        return strdup_printf("%s/" POD_PREFIX "%s", tier_of(c), uid);
}

/* The node's capacity as upstream's container manager sees it (cAdvisor's machine info, pidlimit). */
static int64_t read_number(const char *path)
{
        _cleanup_free_ char *text = NULL;
        return read_file_limit(path, 4096, &text, NULL) < 0 ? 0 : strtoll(text, NULL, 10);
}

static int64_t machine_memory(void)
{
        _cleanup_free_ char *text = NULL;
        long long kb = 0;
        if (read_file_limit("/proc/meminfo", 1 << 16, &text, NULL) < 0 ||
            sscanf(text, "MemTotal: %lld kB", &kb) != 1)
                return 0;
        return (int64_t) kb * 1024;
}

static int64_t machine_pids(void)
{
        int64_t pid_max = read_number("/proc/sys/kernel/pid_max"),
                threads = read_number("/proc/sys/kernel/threads-max");
        if (pid_max <= 0 || (threads > 0 && threads < pid_max))
                return threads;
        return pid_max;
}

int qos_cgroups_new(const struct qos_cgroups_config *c, struct qos_cgroups **ret, struct cg_error *err)
{
        struct cg_options o = {.mount_root = c->mount_root, .root = c->cgroup_root, .mode = c->mode};
        struct cg_resources top, be, bu;
        struct cg *cg = NULL;
        struct cg_hugepage hp[CG_HUGEPAGES_MAX];
        size_t n_hp = cg_hugepages(c->hugepages_dir, hp);
        int64_t cpu = c->cpu_capacity_m > 0 ? c->cpu_capacity_m : sysconf(_SC_NPROCESSORS_ONLN) * 1000;
        int64_t mem = c->memory_capacity > 0 ? c->memory_capacity : machine_memory();
        int64_t pids = c->pids_capacity > 0 ? c->pids_capacity : machine_pids();
        if (mem > 0 && c->reserved_memory >= mem) {
                /* upstream's validateNodeAllocatable */
                snprintf(
                        err->msg, sizeof err->msg,
                        "kubeReserved and systemReserved memory (%lld) leave nothing of the node's capacity "
                        "(%lld)",
                        (long long) c->reserved_memory, (long long) mem);
                return -EINVAL;
        }
        int r = cg_open(&o, &cg, err);
        if (r < 0)
                return r;
        /* Node allocatable: the capacity less the reservations. */
        cpu = MAX(cpu - c->reserved_cpu_m, (int64_t) 0);
        mem = mem > 0 ? mem - c->reserved_memory : mem;
        pids = pids > 0 ? MAX(pids - c->reserved_pids, (int64_t) 1) : pids;
        cg_resources_init(&top);
        top.cpu_shares = cg_milli_to_shares(cpu);
        top.memory_max = mem > 0 ? mem : CG_UNSET;
        top.pids_max = pids > 0 ? pids : CG_UNSET;
        cg_resources_init(&be);
        be.cpu_shares = CG_MIN_SHARES;
        cg_resources_init(&bu);
        for (size_t i = 0; i < n_hp; i++) {
                set_hugetlb(&top, hp, n_hp, i, cg_hugepage_pool(&hp[i]));
                set_hugetlb(&be, hp, n_hp, i, HUGETLB_UNBOUNDED);
                set_hugetlb(&bu, hp, n_hp, i, HUGETLB_UNBOUNDED);
        }
        if ((r = cg_create(cg, KUBEPODS, &top, err)) < 0 || (r = cg_create(cg, BURSTABLE, &bu, err)) < 0 ||
            (r = cg_create(cg, BESTEFFORT, &be, err)) < 0) {
                cg_free(cg);
                return r;
        }
        struct qos_cgroups *q = OOM_CHECK(calloc(1, sizeof *q));
        q->cg = cg;
        q->pids_limit = c->pod_pids_limit;
        q->burstable_shares = -1;
        memcpy(q->hp, hp, n_hp * sizeof *hp);
        q->n_hp = n_hp;
        pthread_mutex_init(&q->lock, NULL);
        /* No pods yet: the burstable tier starts at the minimum, as upstream's first update sets it. */
        pthread_mutex_lock(&q->lock);
        cg_resources_init(&bu);
        bu.cpu_shares = cg_milli_to_shares(0);
        if (cg_update(cg, BURSTABLE, &bu, err) >= 0)
                q->burstable_shares = bu.cpu_shares;
        pthread_mutex_unlock(&q->lock);
        *ret = q;
        return 0;
}

int qos_enforce_reserved(const char *mount_root, enum cg_mode mode, const char *name, int64_t cpu_m,
                         int64_t memory, int64_t pids, struct cg_error *err)
{
        if (cpu_m < 0 && memory < 0 && pids < 0) {
                snprintf(err->msg, sizeof err->msg, "\"%s\" cgroup is not config properly", name);
                return -EINVAL;
        }
        struct cg_options o = {.mount_root = mount_root, .root = NULL, .mode = mode};
        struct cg *cg = NULL;
        int r = cg_open(&o, &cg, err);
        if (r < 0)
                return r;
        const char *rel = name;
        while (*rel == '/')
                rel++;
        if (!*rel || !cg_exists(cg, rel)) {
                snprintf(err->msg, sizeof err->msg, "\"%s\" cgroup does not exist", name);
                cg_free(cg);
                return -ENOENT;
        }
        struct cg_resources res;
        cg_resources_init(&res);
        if (cpu_m >= 0)
                res.cpu_shares = cg_milli_to_shares(cpu_m);
        if (memory >= 0)
                res.memory_max = memory;
        if (pids >= 0)
                res.pids_max = pids;
        r = cg_update(cg, rel, &res, err);
        cg_free(cg);
        return r;
}

struct qos_cgroups *qos_cgroups_free(struct qos_cgroups *q)
{
        if (!q)
                return NULL;
        for (size_t i = 0; i < q->n_e; i++)
                free(q->e[i].uid);
        free(q->e);
        pthread_mutex_destroy(&q->lock);
        cg_free(q->cg);
        free(q);
        return NULL;
}

const struct cg *qos_cgroups_driver(const struct qos_cgroups *q)
{
        return q->cg;
}

char *qos_pod_cgroup_parent(const struct qos_cgroups *q, const struct pod *pod)
{
        _cleanup_free_ char *name = qos_pod_cgroup_name(qos_class_of(pod), pod->uid);
        return cg_path(q->cg, name);
}

static struct entry *find_entry(struct qos_cgroups *q, const char *uid)
{
        for (size_t i = 0; i < q->n_e; i++)
                if (streq(q->e[i].uid, uid))
                        return &q->e[i];
        return NULL;
}

/* Upstream's setCPUCgroupConfig: burstable gets the shares of its pods' requests; besteffort stays at 2.
 * A failure here is not the pod's: upstream logs it at V(2) and goes on, and the next change retries. */
static void update_tiers_locked(struct qos_cgroups *q)
{
        int64_t sum = 0;
        struct cg_resources r;
        for (size_t i = 0; i < q->n_e; i++)
                if (q->e[i].qos == QOS_BURSTABLE)
                        sum = add_sat(sum, q->e[i].cpu_request_m);
        cg_resources_init(&r);
        r.cpu_shares = cg_milli_to_shares(sum);
        if (r.cpu_shares == q->burstable_shares)
                return;
        q->burstable_shares = cg_update(q->cg, BURSTABLE, &r, NULL) >= 0 ? r.cpu_shares : -1;
}

int qos_pod_ensure(struct qos_cgroups *q, const struct pod *pod, struct cg_error *err)
{
        enum qos_class qos = qos_class_of(pod);
        _cleanup_free_ char *name = qos_pod_cgroup_name(qos, pod->uid);
        struct qos_pod_totals t;
        struct cg_resources res;
        int r;

        qos_pod_totals(pod, &t);
        qos_pod_resources(pod, q->pids_limit, &res);
        qos_pod_hugetlb(pod, q->hp, q->n_hp, &res);
        pthread_mutex_lock(&q->lock);
        struct entry *e = find_entry(q, pod->uid);
        if (e && e->applied && e->qos == qos && memcmp(&e->res, &res, sizeof res) == 0 &&
            cg_exists(q->cg, name)) {
                pthread_mutex_unlock(&q->lock);
                return 0;
        }
        if (!e) {
                q->e = OOM_CHECK(realloc(q->e, (q->n_e + 1) * sizeof *q->e));
                e = &q->e[q->n_e++];
                *e = (struct entry){.uid = xstrdup(pod->uid)};
        }
        e->qos = qos;
        e->cpu_request_m = t.cpu_request_m;
        e->res = res;
        e->applied = false;
        /* The tier first, as upstream updates the QoS cgroups before it makes a pod's. */
        update_tiers_locked(q);
        r = cg_create(q->cg, name, &res, err);
        e->applied = r >= 0;
        pthread_mutex_unlock(&q->lock);
        return r;
}

int qos_pod_remove(struct qos_cgroups *q, const char *uid, struct cg_error *err)
{
        static const enum qos_class tiers[] = {QOS_GUARANTEED, QOS_BURSTABLE, QOS_BEST_EFFORT};
        int ret = 0;

        /* Outside the lock: removal may wait a moment for exited tasks to leave. */
        for (size_t i = 0; i < ELEMENTSOF(tiers); i++) {
                _cleanup_free_ char *name = qos_pod_cgroup_name(tiers[i], uid);
                struct cg_error e2 = {{0}};
                int r = cg_remove(q->cg, name, &e2);
                if (r < 0 && ret == 0) {
                        ret = r;
                        if (err)
                                *err = e2;
                }
        }
        if (ret < 0)
                return ret;
        pthread_mutex_lock(&q->lock);
        struct entry *e = find_entry(q, uid);
        if (e) {
                free(e->uid);
                *e = q->e[--q->n_e];
                update_tiers_locked(q);
        }
        pthread_mutex_unlock(&q->lock);
        return 0;
}

int qos_pod_kill(struct qos_cgroups *q, const char *uid, int sig, struct cg_error *err)
{
        static const enum qos_class tiers[] = {QOS_GUARANTEED, QOS_BURSTABLE, QOS_BEST_EFFORT};
        int n = 0;
        for (size_t i = 0; i < ELEMENTSOF(tiers); i++) {
                _cleanup_free_ char *name = qos_pod_cgroup_name(tiers[i], uid);
                int r = cg_kill(q->cg, name, sig, err);
                if (r < 0)
                        return r;
                n += r;
        }
        return n;
}

/* Whether pid's command name (/proc/PID/comm) is comm. */
static bool comm_is(pid_t pid, const char *comm)
{
        char path[64], buf[32];
        snprintf(path, sizeof path, "/proc/%d/comm", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return false;
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return streq(buf, comm);
}

/* The one process of the cgroup name when it holds exactly one and that one is named comm; else 0. */
static pid_t lone_process(struct qos_cgroups *q, const char *name, const char *comm, int *ret_err)
{
        size_t n = 0;
        pid_t pid = 0;
        int r = cg_procs(q->cg, name, &n, &pid);
        *ret_err = r < 0 ? r : 0;
        return r >= 0 && n == 1 && pid > 1 && comm_is(pid, comm) ? pid : 0;
}

int qos_sandbox_kill(struct qos_cgroups *q, const char *uid, const char *sandbox_id, const char *comm,
                     int sig)
{
        if (!sandbox_id[0] || sandbox_id[strspn(sandbox_id, "0123456789abcdefABCDEF")])
                return -EINVAL; /* a runtime's ID: never a path */
        _cleanup_free_ char *pod = qos_pod_cgroup_find(q, uid);
        if (!pod)
                return -ENOENT;
        _cleanup_free_ char *name = strdup_printf("%s/%s", pod, sandbox_id);
        int r;
        pid_t pid = lone_process(q, name, comm, &r);
        if (!pid)
                return r;
        /* Signalled through a pidfd taken before the process is checked again: a PID the process left (it
         * died, another took the number) is never signalled. */
        _cleanup_close_ int pfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pfd < 0)
                return errno == ESRCH || errno == ENOSYS ? 0 : -errno;
        if (lone_process(q, name, comm, &r) != pid)
                return r;
        return syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0) == 0 ? 1 : errno == ESRCH ? 0 : -errno;
}

char *qos_pod_cgroup_find(const struct qos_cgroups *q, const char *uid)
{
        static const enum qos_class classes[] = {QOS_BURSTABLE, QOS_BEST_EFFORT, QOS_GUARANTEED};
        for (size_t i = 0; i < ELEMENTSOF(classes); i++) {
                char *name = qos_pod_cgroup_name(classes[i], uid);
                if (cg_exists(q->cg, name))
                        return name;
                free(name);
        }
        return NULL;
}

int qos_pod_uids(struct qos_cgroups *q, char ***ret)
{
        static const char *const tiers[] = {KUBEPODS, BURSTABLE, BESTEFFORT};
        _cleanup_strv_free_ char **out = OOM_CHECK(calloc(1, sizeof(char *)));

        for (size_t i = 0; i < ELEMENTSOF(tiers); i++) {
                _cleanup_strv_free_ char **kids = NULL;
                int r = cg_children(q->cg, tiers[i], &kids);
                if (r < 0)
                        return r;
                for (char **k = kids; *k; k++)
                        if (str_has_prefix(*k, POD_PREFIX) && (*k)[strlen(POD_PREFIX)])
                                strv_push(&out, xstrdup(*k + strlen(POD_PREFIX)));
        }
        *ret = TAKE_PTR(out);
        return 0;
}
