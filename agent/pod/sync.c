/* One pod's runtime work (upstream's kubelet syncPod and kuberuntime SyncPod/KillPod): make the runtime
 * match the desired spec, or tear the pod down. Runs on a pod worker thread; the only code that changes a
 * pod's containers. pod_sync reads as upstream's: the pod's lifecycle first (finished, past its deadline,
 * evicted, not runnable here, its cgroup), then a plan (compute_pod_actions: what to stop, whether a new
 * sandbox is needed, what to start), then its execution. The parts are the other runtime_*.c files
 * (kuberuntime.h); images are agent/images/'s. */
#include "sync.h"
#include "kuberuntime.h"
#include "listing_cache.h"

#include <signal.h>
#include <stdio.h>

#include "backoff.h"
#include "eviction.h"
#include "log.h"
#include "logrotate.h"
#include "network.h"
#include "pleg.h"
#include "prober.h"
#include "puller.h"
#include "qos_cgroups.h"
#include "security.h"
#include "stop_gate.h"
#include "manager.h"
#include "status.h"
#include "util.h"
#include "volume.h"

/* ---- before the runtime: the pod's lifecycle (upstream's kubelet syncPod) ---- */

/* Sets up or refreshes the pod's volumes (every sync: updated ConfigMaps and Secrets reach running pods).
 * On failure the containers wait in ContainerCreating, as upstream's volume manager makes them. */
static int setup_volumes(const struct sync_ctx *ctx, const struct pod *pod, struct sync_result *res)
{
        struct vol_ctx vctx = {.root_dir = ctx->root_dir,
                               .objects = ctx->objects,
                               .tokens = ctx->tokens,
                               .host_ip = ctx->node_ip,
                               .node_cpu_m = ctx->node_cpu_m,
                               .node_mem = ctx->node_mem,
                               .node_ephemeral = ctx->node_ephemeral,
                               .timeout_ms = MIN(ctx->timeout_ms, (int64_t) 10000)};
        char err[1024];
        int r = vol_setup_pod(&vctx, pod, err, sizeof err);
        if (r < 0) {
                res_error(res, "FailedMount", "%s", err);
                for (size_t i = 0; i < pod->n_containers; i++)
                        res_wait(res, pod->containers[i].name, "ContainerCreating", "");
        }
        return r;
}

/* Upstream's syncPod: the pod cgroup exists, with the pod's values, before anything of the pod runs in it.
 * Returns 1 when it was just made. */
static int ensure_pod_cgroup(const struct sync_ctx *ctx, struct pod *pod, struct sync_result *res)
{
        struct cg_error err = {{0}};
        int r = qos_pod_ensure(ctx->cgroups, pod, &err);
        if (r < 0) {
                const char *why = err.msg[0] ? err.msg : strerror(-r);
                res_error(res, "FailedCreatePodContainer",
                          "failed to ensure that the pod: %s cgroups exist and are correctly applied: %s",
                          pod->uid, why);
                pod_event(ctx, pod, NULL, EVENT_WARNING, "FailedCreatePodContainer",
                          "unable to ensure pod container exists: %s", why);
        }
        return r;
}

/* Upstream's soft admit handlers (canRunPod): AppArmor profiles this host cannot enforce. false with the
 * reason and message in res->blocked_*. */
static bool pod_runnable(const struct sync_ctx *ctx, const struct pod *pod, struct sync_result *res)
{
        if (!ctx->security ||
            apparmor_admit(&ctx->security->apparmor, pod, res->blocked_message, sizeof res->blocked_message))
                return true;
        snprintf(res->blocked_reason, sizeof res->blocked_reason, "AppArmor");
        return false;
}

/* Running, or in unknown state (containerd died in the middle of its start): either may run, so either is
 * stopped when the pod's containers are (upstream kills unknown ones too). */
/* Stops every running container of the pod but those in skip (already being stopped), then every ready
 * sandbox: before a new sandbox, and when a finished pod still has something up. */
static void stop_what_runs_grace(const struct sync_ctx *ctx, const struct pod *pod,
                                 const struct pod_runtime *rt, Runtime__V1__Container *const *skip,
                                 size_t n_skip, int64_t grace_s, const char *fullname,
                                 struct sync_result *res)
{
        Runtime__V1__Container **running =
                OOM_CHECK(calloc(rt->containers->n_containers + 1, sizeof *running));
        size_t n = 0;
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *c = rt->containers->containers[i];
                bool skipped = false;
                for (size_t j = 0; j < n_skip; j++)
                        skipped |= skip[j] == c;
                if (container_may_run(c) && !skipped)
                        running[n++] = c;
        }
        if (n)
                stop_containers(ctx, running, n, grace_s, fullname, res);
        free(running);
        for (size_t i = 0; i < rt->sandboxes->n_items; i++)
                if (rt->sandboxes->items[i]->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
                        stop_sandbox(ctx, rt->sandboxes->items[i]->id, false, res);
}

static void stop_what_runs(const struct sync_ctx *ctx, const struct pod *pod, const struct pod_runtime *rt,
                           Runtime__V1__Container *const *skip, size_t n_skip, const char *fullname,
                           struct sync_result *res)
{
        stop_what_runs_grace(ctx, pod, rt, skip, n_skip, pod->termination_grace_period, fullname, res);
}

/* A pod that has finished (before, or now: past its activeDeadlineSeconds, evicted): its status goes out
 * first, then whatever still runs of it stops with the grace it has; nothing starts again. */
static int sync_finished(const struct sync_ctx *ctx, struct pod *pod, const struct pod_runtime *rt,
                         bool sandbox_ready, int64_t grace_s, const char *fullname, struct sync_result *res)
{
        if (sandbox_ready)
                log_info("Pod has finished, stopping its sandbox", "pod=\"%s\"", fullname);
        stop_what_runs_grace(ctx, pod, rt, NULL, 0, grace_s, fullname, res);
        res->terminal = true;
        publish_status(ctx, pod, res, NULL, NULL);
        /* Upstream's volume manager drops a terminated pod's volumes once nothing of it runs (an evicted pod's
         * emptyDir is what relieves the disk pressure); its directory stays until the pod goes. */
        if (!res->error[0] && pod_uid_valid(pod->uid)) {
                int r = vol_remove_pod_volumes(ctx->root_dir, pod->uid);
                if (r < 0)
                        log_warn("Removing the volumes of a finished pod failed, ignoring",
                                 "pod=\"%s\" err=\"%s\"", fullname, strerror(-r));
        }
        return res->error[0] ? -EIO : 0;
}

/* Upstream's soft admission: not Failed; nothing of it runs, its containers wait "Blocked", and the
 * worker tries again (with back-off) until the host can run it. */
static int sync_blocked(const struct sync_ctx *ctx, struct pod *pod, const struct pod_runtime *rt,
                        const char *fullname, struct sync_result *res)
{
        stop_what_runs(ctx, pod, rt, NULL, 0, fullname, res);
        for (size_t i = 0; i < pod->n_init_containers + pod->n_containers; i++) {
                const struct container *c = i < pod->n_init_containers
                                                    ? &pod->init_containers[i]
                                                    : &pod->containers[i - pod->n_init_containers];
                if (!latest_container(rt, c->name)) /* upstream changes only waiting states */
                        res_wait(res, c->name, "Blocked", "");
        }
        res_error(res, res->blocked_reason, "pod cannot be run: %s", res->blocked_message);
        publish_status(ctx, pod, res, NULL, NULL);
        return -EPERM;
}

/* ---- the plan (upstream's computePodActions) ---- */

/* What becomes of an app container in this sync. */
enum action {
        KEEP,    /* it runs on */
        START,   /* it never ran: start it */
        RESTART, /* it exited, was stopped or is stopped now, and its restart policy restarts it */
        DONE,    /* it has finished for good */
};

/* Why a running app container is stopped now. */
enum kill_why { NO_KILL, KILL_CHANGED, KILL_PROBE };

/* Per upstream: Always restarts, OnFailure restarts on a non-zero exit, Never does not. */
static bool policy_restarts(const struct pod *pod, const struct exit_info *ex, bool known)
{
        if (streq(pod->restart_policy, "Always"))
                return true;
        if (streq(pod->restart_policy, "Never"))
                return false;
        return !known || ex->code != 0; /* an unknown outcome errs toward running */
}

struct pod_actions {
        Runtime__V1__PodSandbox *sb; /* the newest sandbox; NULL: none */
        bool sandbox_ready;          /* it is ready and is kept; false: a new one is made */
        uint32_t attempt;            /* the sandbox's attempt number */
        /* Per app container: */
        enum action *act;
        Runtime__V1__Container **last; /* its newest instance; NULL: none */
        struct exit_info *ex;          /* that instance's exit, when it is not running */
        enum kill_why *kill;           /* a running instance stopped now, and why */
        char (*kill_msg)[256];         /* KILL_PROBE: the probe's words, for the Killing event */
        int64_t *kill_grace;           /* KILL_PROBE: the probe's grace (< 0: the pod's) */
        /* Running containers stopped together: changed definitions and containers the spec no longer
         * names. */
        Runtime__V1__Container **to_stop;
        size_t n_stop;
        size_t n_run;  /* app containers not DONE */
        bool terminal; /* nothing will run again: every container has finished for good, or a Never pod lost
                         * its sandbox after its containers ran (no new sandbox, upstream) */
        bool steady;   /* nothing to do in a ready sandbox: the listing stays true for the status */
};

static void pod_actions_done(struct pod_actions *pa)
{
        free(pa->act);
        free(pa->last);
        free(pa->ex);
        free(pa->kill);
        free(pa->kill_msg);
        free(pa->kill_grace);
        free(pa->to_stop);
}

/* Decides, from the runtime's listing and the probes, without changing anything. */
static void compute_pod_actions(const struct sync_ctx *ctx, const struct pod *pod,
                                const struct pod_runtime *rt, Runtime__V1__PodSandbox *sb,
                                bool sandbox_ready, struct pod_actions *pa)
{
        size_t n = pod->n_containers;
        *pa = (struct pod_actions){.sb = sb, .sandbox_ready = sandbox_ready};
        pa->attempt = sb && sb->metadata ? sb->metadata->attempt + (sandbox_ready ? 0 : 1) : 0;
        pa->act = OOM_CHECK(calloc(n + 1, sizeof *pa->act));
        pa->last = OOM_CHECK(calloc(n + 1, sizeof *pa->last));
        pa->ex = OOM_CHECK(calloc(n + 1, sizeof *pa->ex));
        pa->kill = OOM_CHECK(calloc(n + 1, sizeof *pa->kill));
        pa->kill_msg = OOM_CHECK(calloc(n + 1, sizeof *pa->kill_msg));
        pa->kill_grace = OOM_CHECK(calloc(n + 1, sizeof *pa->kill_grace));
        pa->to_stop = OOM_CHECK(calloc(rt->containers->n_containers + 1, sizeof *pa->to_stop));

        /* Each app container, from its newest instance. */
        bool probe_kill = false;
        for (size_t i = 0; i < n; i++) {
                const struct container *c = &pod->containers[i];
                Runtime__V1__Container *l = latest_container(rt, c->name);
                pa->last[i] = l;
                if (!l)
                        pa->act[i] = START;
                else if (l->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING) {
                        const char *h = KV_GET(l->annotations, l->n_annotations, ANN_CONTAINER_HASH);
                        bool same = sandbox_ready && sb && streq(l->pod_sandbox_id, sb->id) &&
                                    streq_ptr(h, c->hash);
                        pa->kill_grace[i] = -1;
                        if (same && ctx->prober &&
                            prober_should_kill(ctx->prober, pod->uid, c->name, l->id, pa->kill_msg[i],
                                               sizeof pa->kill_msg[i], &pa->kill_grace[i])) {
                                /* Liveness or startup failed: kill it; the restart policy decides the rest. */
                                pa->kill[i] = KILL_PROBE;
                                pa->act[i] = streq(pod->restart_policy, "Never") ? DONE : RESTART;
                                probe_kill = true;
                        } else if (same)
                                pa->act[i] = KEEP;
                        else {
                                /* Its definition changed, or it runs in a sandbox that is not kept. */
                                pa->kill[i] = KILL_CHANGED;
                                pa->to_stop[pa->n_stop++] = l;
                                pa->act[i] = RESTART;
                        }
                } else {
                        /* Unknown (containerd died in the middle of its start): it may run after all, so
                         * it is stopped before anything else, never left beside a new instance (upstream
                         * since 1.23: "always try killing it before restart"). */
                        if (l->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN)
                                pa->to_stop[pa->n_stop++] = l;
                        bool known = container_exit_info(ctx, l->id, &pa->ex[i]) >= 0;
                        pa->act[i] = policy_restarts(pod, &pa->ex[i], known) ? RESTART : DONE;
                }
                if (pa->act[i] != DONE)
                        pa->n_run++;
        }
        /* Running containers the spec no longer names are stopped too. */
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *c = rt->containers->containers[i];
                bool known = false;
                if (!container_may_run(c))
                        continue;
                for (size_t j = 0; j < n && !known; j++)
                        known = pa->last[j] == c;
                for (size_t j = 0; j < pod->n_init_containers && !known; j++)
                        known = c->metadata && streq_ptr(c->metadata->name, pod->init_containers[j].name);
                if (!known)
                        pa->to_stop[pa->n_stop++] = c;
        }
        /* Every container has finished for good: the pod is done. Upstream: a Never pod whose sandbox died
         * after its containers ran gets no new sandbox. */
        pa->terminal = pa->n_run == 0 || (!sandbox_ready && sb && streq(pod->restart_policy, "Never") &&
                                          rt->containers->n_containers > 0);
        pa->steady = sandbox_ready && pa->n_stop == 0 && pa->n_run > 0 && !probe_kill;
        for (size_t i = 0; i < n; i++)
                pa->steady &= pa->act[i] == KEEP || pa->act[i] == DONE;
}

/* ---- its execution (upstream's SyncPod) ---- */

/* CrashLoopBackOff: true when the restart must wait; the wait is put into res. */
static bool in_backoff(const struct sync_ctx *ctx, const struct pod *pod, const struct container *c,
                       const struct exit_info *ex, const char *fp, struct sync_result *res)
{
        char key[512];
        int64_t delay, left, now = now_real_ns() / 1000000;

        if (!ctx->backoff)
                return false;
        snprintf(key, sizeof key, "%s/%s/%s", pod->uid, c->name, c->hash);
        if (!backoff_in_backoff(ctx->backoff, key, ex->finished_ms, now, &delay, &left)) {
                backoff_next(ctx->backoff, key, ex->finished_ms, now);
                return false;
        }
        res->requeue_ms = res->requeue_ms ? MIN(res->requeue_ms, left + 50) : left + 50;
        res_cerror(res, c->name, "CrashLoopBackOff",
                   "back-off %llds restarting failed container=%s pod=%s_%s(%s)", (long long) delay / 1000,
                   c->name, pod->name, pod->namespace, pod->uid);
        pod_event(ctx, pod, fp, EVENT_WARNING, "BackOff",
                  "Back-off restarting failed container %s in pod %s_%s(%s)", c->name, pod->name,
                  pod->namespace, pod->uid);
        return true;
}

/* Starts a new instance of c, after the newest one (any sandbox) for its restart count. */
static int run_instance(const struct sync_ctx *ctx, struct pod *pod, const char *sandbox_id,
                        Runtime__V1__PodSandboxConfig *sbcfg, const struct pod_runtime *rt,
                        const struct container *c, bool init, struct sync_result *res)
{
        char fp[256];
        Runtime__V1__Container *last = latest_container(rt, c->name);
        int restarts = last ? container_restart_count(last) + 1 : 0;
        field_path(fp, sizeof fp, init, c->name);
        int r = start_container(ctx, pod, sandbox_id, sbcfg, c, restarts, fp, res);
        if (r >= 0 && last)
                gc_dead_containers(ctx, rt, c->name, last->id);
        return r;
}

/* Init containers run in order, each to success, in the current sandbox. Returns true when all have
 * succeeded; otherwise it has started, or is waiting for, the next one (or the pod failed: terminal). */
static bool sync_init_containers(const struct sync_ctx *ctx, struct pod *pod, const char *sandbox_id,
                                 Runtime__V1__PodSandboxConfig *sbcfg, const struct pod_runtime *rt,
                                 bool fresh_sandbox, struct sync_result *res)
{
        char fp[256], fullname[512];

        pod_full_name(pod, fullname, sizeof fullname);
        /* App containers already in this sandbox: the init phase is over, even if its records are gone. */
        if (!fresh_sandbox)
                for (size_t i = 0; i < pod->n_containers; i++)
                        if (latest_in_sandbox(rt, pod->containers[i].name, sandbox_id))
                                return true;
        for (size_t i = 0; i < pod->n_init_containers; i++) {
                const struct container *c = &pod->init_containers[i];
                Runtime__V1__Container *l =
                        fresh_sandbox ? NULL : latest_in_sandbox(rt, c->name, sandbox_id);
                field_path(fp, sizeof fp, true, c->name);
                if (!l) {
                        run_instance(ctx, pod, sandbox_id, sbcfg, rt, c, true, res);
                        return false;
                }
                if (l->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
                    l->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
                        return false; /* PLEG wakes us when it exits */
                if (l->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN) {
                        /* It may run after all (containerd died in its start): stopped, it has an exit */
                        struct cri_error err = {0};
                        (void) stop_container(ctx, l->id, 0, &err);
                }
                struct exit_info ex = {0};
                bool known = container_exit_info(ctx, l->id, &ex) >= 0;
                if (known && ex.code == 0)
                        continue;
                if (streq(pod->restart_policy, "Never")) {
                        log_info("Init container failed and the restart policy is Never: the pod has failed",
                                 "pod=\"%s\" container=\"%s\" exitCode=%d", fullname, c->name, ex.code);
                        res->terminal = true;
                        return false;
                }
                if (!in_backoff(ctx, pod, c, &ex, fp, res))
                        run_instance(ctx, pod, sandbox_id, sbcfg, rt, c, true, res);
                return false;
        }
        return true;
}

/* Step 1: the containers the plan stops: those a probe failed (each at once, with the probe's grace), then
 * the changed and unknown ones together. */
static void kill_planned(const struct sync_ctx *ctx, const struct pod *pod, const struct pod_actions *pa,
                         const char *fullname, struct sync_result *res)
{
        char fp[256];
        for (size_t i = 0; i < pod->n_containers; i++) {
                const struct container *c = &pod->containers[i];
                if (pa->kill[i] == NO_KILL)
                        continue;
                field_path(fp, sizeof fp, false, c->name);
                if (pa->kill[i] == KILL_CHANGED) {
                        pod_event(ctx, pod, fp, EVENT_NORMAL, "Killing",
                                  "Container %s definition changed, will be restarted", c->name);
                        continue;
                }
                pod_event(ctx, pod, fp, EVENT_NORMAL, "Killing", "%s", pa->kill_msg[i]);
                Runtime__V1__Container *one[1] = {pa->last[i]};
                stop_containers(ctx, one, 1,
                                pa->kill_grace[i] >= 0 ? pa->kill_grace[i] : pod->termination_grace_period,
                                fullname, res);
        }
        if (pa->n_stop > 0)
                stop_containers(ctx, pa->to_stop, pa->n_stop, pod->termination_grace_period, fullname, res);
}

/* Step 2: a new sandbox when the plan says so (what still runs in the old one stops first; only hostNetwork
 * pods start while the network is not ready, as upstream). *ret_id: the sandbox the containers run in. */
static int make_sandbox(const struct sync_ctx *ctx, struct pod *pod, const struct pod_runtime *rt,
                        struct pod_actions *pa, Runtime__V1__PodSandboxConfig *sbcfg, const char *sbcfg_err,
                        const char *fullname, char **ret_id, struct sync_result *res)
{
        _cleanup_free_ char *pod_ip = NULL;
        char net[2048];
        int r;
        if (pa->sandbox_ready) {
                *ret_id = xstrdup(pa->sb->id);
                return 0;
        }
        if (pa->sb) {
                log_info("No ready sandbox for pod can be found, a new one will be created", "pod=\"%s\"",
                         fullname);
                pod_event(ctx, pod, NULL, EVENT_NORMAL, "SandboxChanged",
                          "Pod sandbox changed, it will be killed and re-created.");
        }
        /* Containers still running in a dead sandbox go first. */
        stop_what_runs(ctx, pod, rt, pa->to_stop, pa->n_stop, fullname, res);
        if (!pod->host_network && !network_ready(ctx->network, net, sizeof net)) {
                res_error(res, "FailedCreatePodSandBox",
                          "network is not ready: container runtime network not ready: %s", net);
                res->requeue_ms = 5000; /* the network check's period */
                r = -ENETDOWN;
        } else if (!sbcfg) {
                res_error(res, "FailedCreatePodSandBox", "Failed to create pod sandbox: %s", sbcfg_err);
                r = -EINVAL;
        } else {
                network_pod_begin(ctx->network, pod); /* agent mode: the delegate asks for it */
                r = create_sandbox(ctx, pod, sbcfg, ret_id, &pod_ip, res);
                network_pod_end(ctx->network, pod->uid);
        }
        if (r < 0) {
                pod_event(ctx, pod, NULL, EVENT_WARNING, "FailedCreatePodSandBox", "%s", res->error);
                return r;
        }
        log_info("Pod sandbox created", "pod=\"%s\" podSandboxID=\"%.13s\" attempt=%u ip=\"%s\"", fullname,
                 *ret_id, pa->attempt, pod_ip ? pod_ip : "");
        /* In a new sandbox every container that may still run starts again. */
        for (size_t i = 0; i < pod->n_containers; i++)
                if (pa->act[i] == KEEP)
                        pa->act[i] = RESTART;
        return 0;
}

/* Step 4: the app containers the plan starts, each after its crash-loop back-off. */
static void start_planned(const struct sync_ctx *ctx, struct pod *pod, const char *sandbox_id,
                          Runtime__V1__PodSandboxConfig *sbcfg, const struct pod_runtime *rt,
                          const struct pod_actions *pa, const char *fullname, struct sync_result *res)
{
        char fp[256];
        for (size_t i = 0; i < pod->n_containers; i++) {
                const struct container *c = &pod->containers[i];
                if (pa->act[i] == KEEP || pa->act[i] == DONE)
                        continue;
                field_path(fp, sizeof fp, false, c->name);
                /* A container that exited (not one we stopped for a change) waits out its back-off. */
                bool exited =
                        pa->last[i] && pa->last[i]->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                if (exited && in_backoff(ctx, pod, c, &pa->ex[i], fp, res))
                        continue;
                if (pa->last[i])
                        log_info("Restarting container",
                                 "pod=\"%s\" container=\"%s\" restartCount=%d policy=\"%s\"", fullname,
                                 c->name, container_restart_count(pa->last[i]) + 1, pod->restart_policy);
                run_instance(ctx, pod, sandbox_id, sbcfg, rt, c, false, res);
        }
}

/* Step 5: sandboxes other than the current one go once nothing is left in them. */
static void remove_old_sandboxes(const struct sync_ctx *ctx, const struct pod *pod,
                                 const struct pod_runtime *rt, const struct pod_actions *pa,
                                 const char *sandbox_id, struct sync_result *res)
{
        for (size_t i = 0; i < rt->sandboxes->n_items; i++) {
                Runtime__V1__PodSandbox *s = rt->sandboxes->items[i];
                bool used = streq(s->id, sandbox_id);
                for (size_t j = 0; j < pod->n_containers && !used; j++)
                        used = pa->last[j] && streq(pa->last[j]->pod_sandbox_id, s->id);
                if (!used)
                        stop_sandbox(ctx, s->id, true, res);
        }
}

static void apply_pod_actions(const struct sync_ctx *ctx, struct pod *pod, const struct pod_runtime *rt,
                              struct pod_actions *pa, const char *fullname, struct sync_result *res)
{
        _cleanup_arena_ struct arena a = {0};
        _cleanup_free_ char *sandbox_id = NULL, *pdir = NULL, *sbcfg_err = NULL;
        Runtime__V1__PodSandboxConfig *sbcfg = NULL;
        int r;

        kill_planned(ctx, pod, pa, fullname, res);
        if (pa->terminal) {
                res->terminal = true;
                if (pa->n_run == 0 && pa->sandbox_ready) {
                        log_info("Pod has finished, stopping its sandbox", "pod=\"%s\"", fullname);
                        stop_sandbox(ctx, pa->sb->id, false, res);
                }
                return;
        }
        /* The sandbox's config (upstream's generatePodSandboxConfig: DNS with its events, the hostname) is made
         * when something may be created or started; a steady pod's sync leaves it (upstream redoes it every
         * sync, and then rate-limits the events it repeats). */
        if (!pa->steady)
                sbcfg = sandbox_config(&a, ctx, pod, pa->attempt, &sbcfg_err);
        pdir = pod_dir(ctx, pod->uid);
        r = mkdir_p(pdir, 0750);
        if (r < 0) {
                res_error(res, "FailedCreatePodSandBox", "create pod directory %s: %s", pdir, strerror(-r));
                return;
        }
        if (setup_volumes(ctx, pod, res) < 0) {
                pod_event(ctx, pod, NULL, EVENT_WARNING, "FailedMount", "%s", res->error);
                return;
        }
        if (make_sandbox(ctx, pod, rt, pa, sbcfg, sbcfg_err, fullname, &sandbox_id, res) < 0)
                return;
        if (!sbcfg && !pa->steady) {
                /* Upstream's ConfigPodSandbox step: nothing starts in a sandbox whose config cannot be made. */
                res_error(res, "ConfigPodSandboxError",
                          "GeneratePodSandboxConfig for pod \"%s_%s(%s)\" failed: %s", pod->name,
                          pod->namespace, pod->uid, sbcfg_err);
                return;
        }
        /* Step 3: the init containers, in order, each to success. */
        if (!sync_init_containers(ctx, pod, sandbox_id, sbcfg, rt, !pa->sandbox_ready, res)) {
                if (res->terminal)
                        stop_sandbox(ctx, sandbox_id, false, res);
                return;
        }
        start_planned(ctx, pod, sandbox_id, sbcfg, rt, pa, fullname, res);
        remove_old_sandboxes(ctx, pod, rt, pa, sandbox_id, res);
}

/* ---- the sync ---- */

/* The sync found nothing to do in rt, listed after listed_us: no runtime change the PLEG saw in or before it
 * needs another (pod_workers_kick_runtime). */
static void set_steady(struct sync_result *res, const struct pod_runtime *rt, int64_t listed_us)
{
        res->steady_fingerprint = pleg_pod_fingerprint(
                (const Runtime__V1__PodSandbox *const *) rt->sandboxes->items, rt->sandboxes->n_items,
                (const Runtime__V1__Container *const *) rt->containers->containers,
                rt->containers->n_containers);
        res->steady_us = listed_us;
}

int pod_sync(const struct sync_ctx *ctx, struct pod *pod, bool periodic, struct sync_result *res)
{
        struct pod_runtime rt = {0};
        struct cri_error err = {0};
        char fullname[512];
        int r;

        *res = (struct sync_result){0};
        pod_full_name(pod, fullname, sizeof fullname);
        /* The listing is no older than this; a periodic resync's may be the shared one (listing_cache.c),
         * taken earlier: 0, its fingerprint alone counts (pod_workers_kick_runtime). */
        int64_t listed_us = periodic ? 0 : now_mono_us();
        r = periodic ? list_pod_periodic(ctx, pod->uid, &rt, &err) : list_pod(ctx, pod->uid, &rt, &err);
        if (r < 0) {
                res_error(res, "FailedSync", "error determining status: %s", cri_msg(&err, r));
                pod_event(ctx, pod, NULL, EVENT_WARNING, "FailedSync", "%s", res->error);
                return r;
        }
        if (drop_interrupted(ctx, pod->uid, &rt, fullname)) {
                log_info("A container start left by an earlier cubelet is still going on; waiting for it",
                         "pod=\"%s\"", fullname);
                res->requeue_ms = 1000;
                pod_runtime_done(&rt);
                return 0;
        }
        Runtime__V1__PodSandbox *sb = newest_sandbox(&rt);
        bool sandbox_ready = sb && sb->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;

        /* The pod's lifecycle: finished before, past its deadline now, or evicted. */
        bool finished = finished_before(ctx, pod);
        int64_t left = deadline_left_ms(ctx, pod);
        if (left <= 0 && !finished) {
                /* Upstream's activeDeadlineHandler: the pod fails (that status goes out first, with its log
                 * line and event), then stops. */
                publish_status(ctx, pod, res, &rt, NULL);
                finished = true;
        } else if (left != INT64_MAX && left > 0)
                res->deadline_ms = left + 1; /* wake up when the time is up */
        char ev_msg[1024];
        int64_t stop_grace = pod->termination_grace_period;
        if (pod_evicted(ctx, pod, ev_msg, sizeof ev_msg, &stop_grace) && !finished) {
                /* Upstream's killPodNow from the eviction manager: the pod fails, then stops with the
                 * eviction's grace period (its Event was recorded by the manager). */
                log_info("Pod evicted, killing it", "pod=\"%s\" gracePeriod=%lld message=\"%s\"", fullname,
                         (long long) stop_grace, log_q(ev_msg));
                publish_status(ctx, pod, res, &rt, NULL);
                finished = true;
        }
        if (finished)
                r = sync_finished(ctx, pod, &rt, sandbox_ready, stop_grace, fullname, res);
        else if (!pod_runnable(ctx, pod, res))
                r = sync_blocked(ctx, pod, &rt, fullname, res);
        else if (ctx->cgroups && (r = ensure_pod_cgroup(ctx, pod, res)) < 0)
                publish_status(ctx, pod, res, &rt, NULL);
        if (finished || res->blocked_reason[0] || r < 0) {
                pod_runtime_done(&rt);
                return r;
        }
        /* A sandbox older than its pod cgroup runs outside it (pod cgroups were just turned on, or the cgroup
         * was removed under it): as upstream, the pod starts again inside. */
        if (r > 0 && sandbox_ready) {
                bool running = false;
                for (size_t i = 0; i < rt.containers->n_containers; i++)
                        running |= rt.containers->containers[i]->state ==
                                   RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                if (running) {
                        log_info("Pod cgroup was missing; the pod's sandbox will be re-created inside it",
                                 "pod=\"%s\"", fullname);
                        sandbox_ready = false;
                }
        }

        /* The runtime's part: the plan, then its execution. */
        struct pod_actions pa;
        compute_pod_actions(ctx, pod, &rt, sb, sandbox_ready, &pa);
        apply_pod_actions(ctx, pod, &rt, &pa, fullname, res);
        if (pa.steady) {
                publish_status(ctx, pod, res, &rt, NULL);
                if (!res->error[0])
                        set_steady(res, &rt, listed_us);
        } else {
                /* The status comes from a new listing: when a sync would find nothing to do in it either,
                 * the PLEG's reports of what this sync made (older than that listing) bring no sync. */
                struct pod_runtime after;
                int64_t after_us = now_mono_us();
                publish_status(ctx, pod, res, NULL, &after);
                if (!res->error[0] && !res->terminal && after.containers && after.sandboxes->n_items == 1) {
                        struct pod_actions next;
                        Runtime__V1__PodSandbox *nsb = newest_sandbox(&after);
                        compute_pod_actions(
                                ctx, pod, &after, nsb,
                                nsb && nsb->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY, &next);
                        if (next.steady)
                                set_steady(res, &after, after_us);
                        pod_actions_done(&next);
                }
                pod_runtime_done(&after);
        }
        pod_actions_done(&pa);
        pod_runtime_done(&rt);
        return res->error[0] ? -EIO : 0;
}

/* ---- the pod's end (upstream's KillPod) ---- */

/* True when the runtime lists no ready sandbox and no container that may run of the pod. */
static bool runtime_runs_nothing(const struct sync_ctx *ctx, const char *uid)
{
        struct pod_runtime rt = {0};
        struct cri_error err = {0};
        if (list_pod(ctx, uid, &rt, &err) < 0)
                return false;
        bool none = !pod_runtime_may_run(&rt);
        pod_runtime_done(&rt);
        return none;
}

int pod_kill(const struct sync_ctx *ctx, const char *uid, int64_t grace_s, struct sync_result *res)
{
        struct pod_runtime rt = {0};
        struct cri_error err = {0};
        char name[512];
        int r;

        *res = (struct sync_result){0};
        r = list_pod(ctx, uid, &rt, &err);
        if (r < 0) {
                res_error(res, "FailedKillPod", "list pod: %s", cri_msg(&err, r));
                return r;
        }
        snprintf(name, sizeof name, "%s", uid);
        Runtime__V1__PodSandbox *sb = newest_sandbox(&rt);
        if (sb && sb->metadata)
                snprintf(name, sizeof name, "%s/%s", sb->metadata->namespace_, sb->metadata->name);

        Runtime__V1__Container **running =
                OOM_CHECK(calloc(rt.containers->n_containers + 1, sizeof *running));
        size_t nr = 0;
        bool told = false; /* a container that ran until just now: its exit is known from the event only */
        for (size_t i = 0; i < rt.containers->n_containers; i++) {
                Runtime__V1__Container *c = rt.containers->containers[i];
                struct runtime_exit x;
                told |= runtime_exits_get(ctx->exits, c->id, &x);
                if (!container_may_run(c))
                        continue;
                running[nr++] = c;
                if (grace_s < 0) {
                        const char *g = KV_GET(c->annotations, c->n_annotations, ANN_POD_GRACE);
                        grace_s = g ? atoll(g) : 30;
                }
        }
        if (grace_s < 0)
                grace_s = 30;
        /* Something of the pod may still run: the stops are counted in the gate, so that other teardowns'
         * removals wait for them (a retry after the stops, or of a pod that never ran, stops nothing). */
        bool ran = pod_runtime_may_run(&rt);
        if (ran)
                stop_gate_enter(ctx->stop_gate);
        if (nr)
                stop_containers(ctx, running, nr, grace_s, name, res);
        free(running);
        /* Every container stopped: each ready runc sandbox's pause process is killed straight away, as the
         * runtime's StopPodSandbox would kill it (SIGKILL) but without its round trip through the shim and a
         * runc exec per pod (tens of milliseconds each when many pods stop at once); the runtime hears the
         * exit at once and StopPodSandbox finds it stopped. (Upstream's housekeeping kills what is left in
         * a removed pod's cgroup too, racing its StopPodSandbox.) Nothing is killed while a stop failed. */
        if (ctx->cgroups && !res->error[0] && pod_uid_valid(uid))
                for (size_t i = 0; i < rt.sandboxes->n_items; i++) {
                        const Runtime__V1__PodSandbox *s = rt.sandboxes->items[i];
                        if (s->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY &&
                            (!s->runtime_handler || !s->runtime_handler[0])) {
                                int k = qos_sandbox_kill(ctx->cgroups, uid, s->id, "pause", SIGKILL);
                                log_v(4,
                                      k == 1 ? "Sandbox's pause process killed"
                                             : "Sandbox's pause process left to the runtime",
                                      "pod=\"%s\" podSandboxID=\"%.13s\" result=%d", name, s->id, k);
                        }
                }
        bool *stopped = OOM_CHECK(calloc(rt.sandboxes->n_items + 1, sizeof *stopped));
        for (size_t i = 0; i < rt.sandboxes->n_items; i++)
                stopped[i] = stop_sandbox(ctx, rt.sandboxes->items[i]->id, false, res) == 0;
        if (ran)
                stop_gate_leave(ctx->stop_gate);
        /* The final status (containers terminated), for the API server before the pod is forgotten: made once
         * the sandboxes stopped, when the runtime has applied every exit (one known from its event only, a
         * SIGKILL's 137 without its reason, reads as CRI gives it). */
        if (ctx->status && (nr || told)) {
                _cleanup_pod_ struct pod *last = status_manager_pod(ctx->status, uid);
                struct sync_result none = {0};
                if (last)
                        publish_status(ctx, last, &none, NULL, NULL);
        }

        /* The UID (and for the logs, namespace and name) come from the runtime's labels here: only a safe
         * path component ever names a directory removed (pods from sources are validated already). */
        bool safe = pod_uid_valid(uid);
        if (!safe)
                log_warn("Pod UID is not a safe directory name, leaving its directories alone",
                         "podUID=\"%s\"", log_q(uid));
        if (!res->error[0] && safe) {
                _cleanup_free_ char *pdir = pod_dir(ctx, uid);
                vol_teardown_pod(ctx->root_dir, uid);
                r = rm_rf(pdir);
                if (r < 0)
                        log_warn("Removing the pod directory failed, ignoring", "path=\"%s\" err=\"%s\"",
                                 pdir, strerror(-r));
                if (sb && sb->metadata && sb->metadata->namespace_ && sb->metadata->name &&
                    is_dns1123_label(sb->metadata->namespace_) && is_dns1123_subdomain(sb->metadata->name)) {
                        _cleanup_free_ char *ldir =
                                strdup_printf("%s/%s_%s_%s", ctx->pod_logs_dir, sb->metadata->namespace_,
                                              sb->metadata->name, uid);
                        rm_rf(ldir);
                }
        }
        if (!res->error[0]) {
                if (ran)
                        log_info("Pod killed", "pod=\"%s\" podUID=\"%s\"", name, uid);
                if (ctx->status)
                        status_manager_remove(ctx->status, uid);
                if (ctx->backoff)
                        backoff_forget_prefix(ctx->backoff, uid);
                if (ctx->puller)
                        image_puller_forget(ctx->puller, uid);
                if (ctx->prober)
                        prober_remove_pod(ctx->prober, uid);
        }
        /* Then, once nothing of the pod runs: its cgroup. Processes still in it once the runtime runs nothing
         * of the pod are what the runtime left behind (a shim's "runc init" for a sandbox containerd lost
         * when it died during RunPodSandbox): as upstream's pod cgroup Destroy, they are killed first. While
         * the runtime may still run anything of the pod, nothing is killed and the worker retries. */
        if (!res->error[0] && ctx->cgroups && safe) {
                struct cg_error cerr = {{0}};
                r = qos_pod_remove(ctx->cgroups, uid, &cerr);
                if (r == -EBUSY && runtime_runs_nothing(ctx, uid)) {
                        log_warn("Killing the processes the runtime left in the pod's cgroup",
                                 "pod=\"%s\" err=\"%s\"", name, log_q(cerr.msg));
                        (void) qos_pod_kill(ctx->cgroups, uid, SIGKILL, NULL);
                        cerr = (struct cg_error){{0}};
                        r = qos_pod_remove(ctx->cgroups, uid, &cerr);
                }
                if (r < 0)
                        res_error(res, "FailedKillPod", "remove the pod cgroup: %s",
                                  cerr.msg[0] ? cerr.msg : strerror(-r));
        }
        /* The pod's resources are reclaimed (nothing runs, volumes unmounted, cgroup gone): what upstream
         * waits for before an API pod's final deletion. The removals come after it and never delay it. */
        if (!res->error[0] && ctx->reclaimed)
                ctx->reclaimed(ctx->reclaimed_ud, uid);

        /* Last, the removals: held while other teardowns still stop (the gate, bounded), so that a burst of
         * deletions gives containerd to the stops first. */
        if (!res->error[0] && (rt.sandboxes->n_items || rt.containers->n_containers))
                stop_gate_wait(ctx->stop_gate);
        for (size_t i = 0; i < rt.sandboxes->n_items; i++)
                if (stopped[i])
                        remove_sandbox(ctx, rt.sandboxes->items[i]->id, res);
        free(stopped);
        /* Containers whose sandbox is already gone. */
        for (size_t i = 0; i < rt.containers->n_containers; i++) {
                const Runtime__V1__Container *c = rt.containers->containers[i];
                if (remove_container(ctx, c->id) < 0)
                        continue;
                /* Its /var/log/containers link with it (upstream's removeContainerLog); the runtime no longer
                 * knows it when its sandbox's removal took it: the listing's labels name the link. */
                log_remove_container_link(ctx->containers_log_dir,
                                          KV_GET(c->labels, c->n_labels, LABEL_POD_NAME),
                                          KV_GET(c->labels, c->n_labels, LABEL_POD_NAMESPACE),
                                          KV_GET(c->labels, c->n_labels, LABEL_CONTAINER_NAME), c->id);
        }
        pod_runtime_done(&rt);
        return res->error[0] ? -EIO : 0;
}
