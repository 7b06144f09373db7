/* The floor under bench_pods.sh: N pods made straight through CRI, every pod on a thread of its own at once
 * (a sandbox on the pod network through CNI, one container that exits on SIGTERM); then, with all N
 * running, min(N, 20) containers killed one after the other and each replaced as an ideal kubelet would
 * restart it: a new one created and started in the same sandbox as soon as containerd's event stream
 * reports the exit (timed as bench_pods.sh times a restart: the old one's finishedAt to the new one's
 * startedAt, both as the runtime recorded them); then all stopped at once
 * (StopContainer with a grace period, StopPodSandbox) and, once every pod is stopped, all removed at once
 * (RemovePodSandbox). No kubelet logic at all: what containerd itself takes for the same work, to set
 * cubelet's figures beside. The stop phase alone is the floor of what the upstream kubelet's teardown
 * does (it stops; its garbage collection removes later). With QOS_PARENT, every pod as a kubelet makes a
 * BestEffort one: its cgroup QOS_PARENT/pod<uid> (QOS_PARENT made beforehand with a BestEffort weight: cpu.shares
 * 2), each container with cpu.shares 2; a container then starts slower on a busy machine, for both kubelets.
 * Every pod also gets what both kubelets give a static pod: the pause container the runtime's default
 * seccomp profile, each container upstream's masked and read-only /proc and /sys paths (15 more mounts for
 * runc), the termination message file and /etc/hosts bound in, and a critical pod's oom_score_adj;
 * FLOOR_BARE=1 leaves them out (what they cost, by difference).
 *   bench_cri_floor ENDPOINT N IMAGE LOG_DIR [QOS_PARENT]
 * Prints "start_ms", "sandboxes_first_ms" and "sandboxes_ms" (the first and the last RunPodSandbox's return,
 * from the start), "containerd_start_cpu_ms" (the CPU time containerd, CTD_PID, took meanwhile; -1 without
 * CTD_PID), "restart_ms" (the median exit -> running), "restart_worst_ms", "stopped_ms" (the stop
 * phase), "stopped_exits_ms" (from its start to the last exit, the shim's time, of a pod's container or
 * sandbox; -1 when not all were heard), "stop_at_ns" (its start, CLOCK_REALTIME) and "teardown_ms" (stop and
 * remove phases); exit 1 when any call failed (what CRI said on stderr). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cri.h"
#include "events.h"
#include "security.h"

/* What the event stream said: the init pids of started tasks (sandboxes and containers: 2 per pod and the
 * replacements), and the one exit being waited for. */
#define MAX_STARTED 2100
static struct {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool up;
        struct {
                char id[128];
                uint32_t pid;
        } started[MAX_STARTED];
        int n_started;
        char exit_of[128];
        bool exited;
        int n_exits;          /* every task exit heard */
        int64_t last_exit_ns; /* the latest exit time (the shim's, CLOCK_REALTIME) of those */
} ev = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

struct floor_pod {
        struct cri_client *cri;
        const char *image, *log_dir, *qos_parent;
        int index;
        char sandbox_id[128], container_id[128];
        int64_t sandbox_at_ms; /* when RunPodSandbox returned */
        Runtime__V1__PodSandboxConfig cfg;
        Runtime__V1__PodSandboxMetadata md;
        Runtime__V1__LinuxPodSandboxConfig lx;
        Runtime__V1__LinuxSandboxSecurityContext sc;
        Runtime__V1__SecurityProfile seccomp;
        char name[64], uid[64], dir[512], cgroup_parent[512];
        int failed;
};

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void fill_sandbox_config(Runtime__V1__PodSandboxConfig *cfg, Runtime__V1__PodSandboxMetadata *md,
                                char *name, char *uid, char *dir)
{
        md->name = name;
        md->namespace_ = (char *) "default";
        md->uid = uid;
        cfg->metadata = md;
        cfg->hostname = name;
        cfg->log_directory = dir;
}

static int check(struct floor_pod *p, const char *what, int r, const struct cri_error *err)
{
        if (r < 0) {
                fprintf(stderr, "floor pod %d: %s: %s\n", p->index, what, cri_error_msg(err, r));
                p->failed = 1;
        }
        return r;
}

/* FLOOR_BARE=1: the pods without what both kubelets add to them (see the top). */
static bool floor_bare(void)
{
        const char *bare = getenv("FLOOR_BARE");
        return bare && strcmp(bare, "1") == 0;
}

/* Creates and starts the pod's container (attempt 0 at the start, 1 when replaced); 0 or -1. */
static int create_start(struct floor_pod *p, uint32_t attempt)
{
        Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__ContainerMetadata cmd = RUNTIME__V1__CONTAINER_METADATA__INIT;
        Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
        char *argv[] = {(char *) "sh", (char *) "-c",
                        (char *) "trap 'exit 0' TERM; while true; do sleep 1; done"};
        char log_path[32];
        snprintf(log_path, sizeof log_path, "c/%u.log", attempt);
        cmd.name = (char *) "c";
        cmd.attempt = attempt;
        img.image = (char *) p->image;
        cc.metadata = &cmd;
        cc.image = &img;
        cc.command = argv;
        cc.n_command = 3;
        cc.log_path = log_path;
        Runtime__V1__LinuxContainerConfig lcc = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
        Runtime__V1__LinuxContainerResources lres = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
        if (p->qos_parent) { /* upstream's minimum shares, a BestEffort container's */
                lres.cpu_shares = 2;
                lcc.resources = &lres;
                cc.linux = &lcc;
        }
        /* as both kubelets make a static pod's container (FLOOR_BARE: without) */
        Runtime__V1__LinuxContainerSecurityContext lsc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        Runtime__V1__Mount tm = RUNTIME__V1__MOUNT__INIT, hosts = RUNTIME__V1__MOUNT__INIT;
        Runtime__V1__Mount *mounts[] = {&tm, &hosts};
        char tm_path[600], hosts_path[600];
        if (!floor_bare()) {
                security_default_paths(&lsc); /* the agent's own lists */
                lcc.security_context = &lsc;
                lres.oom_score_adj = -997; /* a critical pod's: containerd keeps it at its own or above */
                lcc.resources = &lres;
                cc.linux = &lcc;
                snprintf(tm_path, sizeof tm_path, "%s/termination-log-%u", p->dir, attempt);
                snprintf(hosts_path, sizeof hosts_path, "%s/etc-hosts", p->dir);
                FILE *f = fopen(tm_path, "w");
                if (f)
                        fclose(f);
                if (attempt == 0 && (f = fopen(hosts_path, "w"))) {
                        fprintf(f, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
                        fclose(f);
                }
                tm.container_path = (char *) "/dev/termination-log";
                tm.host_path = tm_path;
                hosts.container_path = (char *) "/etc/hosts";
                hosts.host_path = hosts_path;
                cc.mounts = mounts;
                cc.n_mounts = 2;
        }
        struct cri_error err = {0};

        Runtime__V1__CreateContainerRequest creq = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
        Runtime__V1__CreateContainerResponse *cresp = NULL;
        creq.pod_sandbox_id = p->sandbox_id;
        creq.config = &cc;
        creq.sandbox_config = &p->cfg;
        if (check(p, "CreateContainer",
                  CRI_CALL(p->cri, RuntimeService, CreateContainer, create_container, &creq, &cresp, 0,
                           &err),
                  &err) < 0)
                return -1;
        snprintf(p->container_id, sizeof p->container_id, "%s", cresp->container_id);
        cri_free(cresp);

        Runtime__V1__StartContainerRequest streq = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
        Runtime__V1__StartContainerResponse *stresp = NULL;
        streq.container_id = p->container_id;
        int r = check(
                p, "StartContainer",
                CRI_CALL(p->cri, RuntimeService, StartContainer, start_container, &streq, &stresp, 0, &err),
                &err);
        cri_free(stresp);
        return r < 0 ? -1 : 0;
}

static void *start_pod(void *arg)
{
        struct floor_pod *p = arg;
        snprintf(p->name, sizeof p->name, "floor%d", p->index);
        snprintf(p->uid, sizeof p->uid, "floor-uid-%d", p->index);
        snprintf(p->dir, sizeof p->dir, "%s/%s", p->log_dir, p->name);
        mkdir(p->dir, 0755);
        p->cfg = (Runtime__V1__PodSandboxConfig) RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
        p->md = (Runtime__V1__PodSandboxMetadata) RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
        fill_sandbox_config(&p->cfg, &p->md, p->name, p->uid, p->dir);
        p->lx = (Runtime__V1__LinuxPodSandboxConfig) RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
        if (p->qos_parent) {
                snprintf(p->cgroup_parent, sizeof p->cgroup_parent, "%s/pod%s", p->qos_parent, p->uid);
                p->lx.cgroup_parent = p->cgroup_parent;
                p->cfg.linux = &p->lx;
        }
        if (!floor_bare()) { /* both kubelets run the pause container with the runtime's default profile */
                p->seccomp = (Runtime__V1__SecurityProfile) RUNTIME__V1__SECURITY_PROFILE__INIT;
                p->seccomp.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
                p->sc = (Runtime__V1__LinuxSandboxSecurityContext)
                        RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
                p->sc.seccomp = &p->seccomp;
                p->sc.seccomp_profile_path = (char *) "runtime/default";
                p->lx.security_context = &p->sc;
                p->cfg.linux = &p->lx;
        }
        struct cri_error err = {0};

        Runtime__V1__RunPodSandboxRequest sreq = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__RunPodSandboxResponse *sresp = NULL;
        sreq.config = &p->cfg;
        if (check(p, "RunPodSandbox",
                  CRI_CALL(p->cri, RuntimeService, RunPodSandbox, run_pod_sandbox, &sreq, &sresp, 0, &err),
                  &err) < 0)
                return NULL;
        snprintf(p->sandbox_id, sizeof p->sandbox_id, "%s", sresp->pod_sandbox_id);
        p->sandbox_at_ms = now_ms();
        cri_free(sresp);
        char cdir[600];
        snprintf(cdir, sizeof cdir, "%s/c", p->dir);
        mkdir(cdir, 0755);
        create_start(p, 0);
        return NULL;
}

static void *stop_pod(void *arg)
{
        struct floor_pod *p = arg;
        struct cri_error err = {0};
        if (p->container_id[0]) {
                Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
                Runtime__V1__StopContainerResponse *resp = NULL;
                req.container_id = p->container_id;
                req.timeout = 30;
                check(p, "StopContainer",
                      CRI_CALL(p->cri, RuntimeService, StopContainer, stop_container, &req, &resp, 0, &err),
                      &err);
                cri_free(resp);
        }
        if (!p->sandbox_id[0])
                return NULL;
        Runtime__V1__StopPodSandboxRequest sreq = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__StopPodSandboxResponse *sresp = NULL;
        sreq.pod_sandbox_id = p->sandbox_id;
        check(p, "StopPodSandbox",
              CRI_CALL(p->cri, RuntimeService, StopPodSandbox, stop_pod_sandbox, &sreq, &sresp, 0, &err),
              &err);
        cri_free(sresp);
        return NULL;
}

static void *remove_pod(void *arg)
{
        struct floor_pod *p = arg;
        if (!p->sandbox_id[0])
                return NULL;
        struct cri_error err = {0};
        Runtime__V1__RemovePodSandboxRequest rreq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__RemovePodSandboxResponse *rresp = NULL;
        rreq.pod_sandbox_id = p->sandbox_id;
        check(p, "RemovePodSandbox",
              CRI_CALL(p->cri, RuntimeService, RemovePodSandbox, remove_pod_sandbox, &rreq, &rresp, 0, &err),
              &err);
        cri_free(rresp);
        return NULL;
}

static void on_event(const struct ctd_event *e, void *userdata)
{
        (void) userdata;
        pthread_mutex_lock(&ev.mu);
        if (e->kind == CTD_EVENT_TASK_START) {
                int i = ev.n_started < MAX_STARTED ? ev.n_started++ : MAX_STARTED - 1;
                snprintf(ev.started[i].id, sizeof ev.started[i].id, "%s", e->container_id);
                ev.started[i].pid = e->pid;
        } else if (e->kind == CTD_EVENT_TASK_EXIT) {
                ev.exited |= strcmp(e->container_id, ev.exit_of) == 0;
                ev.n_exits++;
                ev.last_exit_ns = e->exited_at_ns > ev.last_exit_ns ? e->exited_at_ns : ev.last_exit_ns;
        }
        pthread_cond_broadcast(&ev.cv);
        pthread_mutex_unlock(&ev.mu);
}

static void on_state(bool up, const char *why, void *userdata)
{
        (void) why, (void) userdata;
        pthread_mutex_lock(&ev.mu);
        ev.up = up;
        pthread_cond_broadcast(&ev.cv);
        pthread_mutex_unlock(&ev.mu);
}

/* Waits (ev.mu held) until done() or 10 s; false on the timeout. */
static bool wait_for(bool (*done)(const char *), const char *arg)
{
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (!done(arg))
                if (pthread_cond_timedwait(&ev.cv, &ev.mu, &until) == ETIMEDOUT)
                        return done(arg);
        return true;
}

static bool is_up(const char *unused)
{
        (void) unused;
        return ev.up;
}

static int exits_wanted;
static bool exits_heard(const char *unused)
{
        (void) unused;
        return ev.n_exits >= exits_wanted;
}

static int64_t now_real_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool has_exited(const char *unused)
{
        (void) unused;
        return ev.exited;
}

static uint32_t pid_of(const char *id)
{
        for (int i = 0; i < ev.n_started; i++)
                if (strcmp(ev.started[i].id, id) == 0)
                        return ev.started[i].pid;
        return 0;
}

static bool has_pid(const char *id)
{
        return pid_of(id) != 0;
}

/* A container's startedAt or finishedAt as the runtime recorded it (ns), or -1. */
static int64_t status_time(struct floor_pod *p, const char *id, bool finished)
{
        struct cri_error err = {0};
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        Runtime__V1__ContainerStatusResponse *resp = NULL;
        req.container_id = (char *) id;
        if (check(p, "ContainerStatus",
                  CRI_CALL(p->cri, RuntimeService, ContainerStatus, container_status, &req, &resp, 0, &err),
                  &err) < 0)
                return -1;
        int64_t t = resp->status ? (finished ? resp->status->finished_at : resp->status->started_at) : -1;
        cri_free(resp);
        return t > 0 ? t : -1;
}

/* Kills the pod's container and starts a new one the moment its exit is reported: the runtime's exit ->
 * running in ms, or -1. */
static int64_t replace_on_exit(struct floor_pod *p)
{
        char old[128];
        snprintf(old, sizeof old, "%s", p->container_id);
        pthread_mutex_lock(&ev.mu);
        uint32_t pid = wait_for(has_pid, old) ? pid_of(old) : 0;
        snprintf(ev.exit_of, sizeof ev.exit_of, "%s", old);
        ev.exited = false;
        bool exited = pid > 0 && kill((pid_t) pid, SIGKILL) == 0 && wait_for(has_exited, NULL);
        pthread_mutex_unlock(&ev.mu);
        if (!exited) {
                fprintf(stderr, "floor pod %d: no exit reported for its container (pid %u)\n", p->index,
                        pid);
                p->failed = 1;
                return -1;
        }
        if (create_start(p, 1) < 0)
                return -1;
        /* containerd may record the old one's end after the new one runs (as bench_pods.sh notes) */
        int64_t run = status_time(p, p->container_id, false), fin = -1;
        for (int tries = 0; tries < 1000 && (fin = status_time(p, old, true)) < 0; tries++) {
                struct timespec ten_ms = {.tv_nsec = 10 * 1000 * 1000};
                nanosleep(&ten_ms, NULL);
        }
        return fin > 0 && run > 0 ? (run - fin) / 1000000 : -1;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return (x > y) - (x < y);
}

/* CPU time (ms) the process CTD_PID (containerd, from bench_pods.sh) has used so far, -1 without it. */
static int64_t ctd_cpu_ms(void)
{
        const char *pid = getenv("CTD_PID");
        char path[64], buf[1024];
        if (!pid || !pid[0])
                return -1;
        snprintf(path, sizeof path, "/proc/%s/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
                return -1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *p = strrchr(buf, ')'); /* the command may hold spaces; fields 14 and 15 after it */
        unsigned long long ut, st;
        if (!p || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2)
                return -1;
        return (int64_t) ((ut + st) * 1000 / (unsigned long long) sysconf(_SC_CLK_TCK));
}

/* Runs fn on every pod at once; returns the wall time until the last one finished. */
static int64_t all_at_once(struct floor_pod *pods, int n, void *(*fn)(void *) )
{
        pthread_t *t = calloc((size_t) n, sizeof *t);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        int64_t t0 = now_ms();
        for (int i = 0; i < n; i++)
                if (pthread_create(&t[i], &attr, fn, &pods[i]) != 0) {
                        fprintf(stderr, "floor: pthread_create failed\n");
                        exit(1);
                }
        for (int i = 0; i < n; i++)
                pthread_join(t[i], NULL);
        int64_t ms = now_ms() - t0;
        pthread_attr_destroy(&attr);
        free(t);
        return ms;
}

int main(int argc, char **argv)
{
        if (argc != 5 && argc != 6) {
                fprintf(stderr, "usage: bench_cri_floor ENDPOINT N IMAGE LOG_DIR [QOS_PARENT]\n");
                return 2;
        }
        int n = atoi(argv[2]);
        if (n <= 0 || n > 1000) {
                fprintf(stderr, "bench_cri_floor: N must be 1-1000\n");
                return 2;
        }
        struct cri_client *cri;
        int r = cri_client_new(argv[1], 120000, &cri);
        if (r < 0) {
                fprintf(stderr, "bench_cri_floor: %s: %s\n", argv[1], strerror(-r));
                return 2;
        }
        struct ctd_events *events;
        struct ctd_events_config ecfg = {.endpoint = argv[1], .on_event = on_event, .on_state = on_state};
        r = ctd_events_start(&ecfg, &events);
        if (r < 0) {
                fprintf(stderr, "bench_cri_floor: events: %s\n", strerror(-r));
                cri_client_free(cri);
                return 2;
        }
        pthread_mutex_lock(&ev.mu);
        bool up = wait_for(is_up, NULL);
        pthread_mutex_unlock(&ev.mu);
        if (!up) {
                fprintf(stderr, "bench_cri_floor: containerd's event stream did not come up in 10 s\n");
                ctd_events_stop(events);
                cri_client_free(cri);
                return 2;
        }
        struct floor_pod *pods = calloc((size_t) n, sizeof *pods);
        for (int i = 0; i < n; i++)
                pods[i] = (struct floor_pod){.cri = cri,
                                             .image = argv[3],
                                             .log_dir = argv[4],
                                             .qos_parent = argc == 6 ? argv[5] : NULL,
                                             .index = i + 1};
        int64_t t_start = now_ms(), ctd0 = ctd_cpu_ms();
        int64_t start = all_at_once(pods, n, start_pod);
        int64_t ctd1 = ctd_cpu_ms(), ctd_start = ctd0 >= 0 && ctd1 >= 0 ? ctd1 - ctd0 : -1;
        int64_t sb_first = -1, sb_last = -1;
        for (int i = 0; i < n; i++) {
                if (!pods[i].sandbox_at_ms)
                        continue;
                int64_t at = pods[i].sandbox_at_ms - t_start;
                sb_first = sb_first < 0 || at < sb_first ? at : sb_first;
                sb_last = at > sb_last ? at : sb_last;
        }
        /* the replacements with every pod running, once the burst's tail has settled; the killed container
         * stays listed (exited) beside the new one until its sandbox goes, as a kubelet keeps the last one */
        struct timespec settle = {.tv_sec = 5};
        nanosleep(&settle, NULL);
        int k = n < 20 ? n : 20, samples = 0;
        int64_t restart[20];
        for (int i = 0; i < k; i++) {
                int64_t ms = pods[i].container_id[0] ? replace_on_exit(&pods[i]) : -1;
                if (ms >= 0)
                        restart[samples++] = ms;
        }
        qsort(restart, (size_t) samples, sizeof *restart, cmp_i64);
        pthread_mutex_lock(&ev.mu);
        ev.n_exits = 0, ev.last_exit_ns = 0;
        pthread_mutex_unlock(&ev.mu);
        int64_t stop_at_ns = now_real_ns();
        int64_t stopped = all_at_once(pods, n, stop_pod);
        /* the last exit as the shims saw it, as bench_pods.sh times the agents' teardowns: every pod's
         * container and sandbox exit (heard within 10 s of the last stop's return) */
        pthread_mutex_lock(&ev.mu);
        exits_wanted = 2 * n;
        bool all_exits = wait_for(exits_heard, NULL);
        int64_t stopped_exits = all_exits ? (ev.last_exit_ns - stop_at_ns) / 1000000 : -1;
        pthread_mutex_unlock(&ev.mu);
        int64_t removed = all_at_once(pods, n, remove_pod);
        int failed = 0;
        for (int i = 0; i < n; i++)
                failed |= pods[i].failed;
        printf("start_ms %lld\n", (long long) start);
        printf("sandboxes_first_ms %lld\nsandboxes_ms %lld\n", (long long) sb_first, (long long) sb_last);
        printf("containerd_start_cpu_ms %lld\n", (long long) ctd_start);
        printf("restart_ms %lld\nrestart_worst_ms %lld\n",
               (long long) (samples ? restart[(samples - 1) / 2] : -1),
               (long long) (samples ? restart[samples - 1] : -1));
        printf("stopped_ms %lld\nteardown_ms %lld\n", (long long) stopped, (long long) (stopped + removed));
        printf("stopped_exits_ms %lld\nstop_at_ns %lld\n", (long long) stopped_exits,
               (long long) stop_at_ns);
        free(pods);
        ctd_events_stop(events);
        cri_client_free(cri);
        return failed;
}
