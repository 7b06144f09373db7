/* The pod's status from the runtime (upstream's GetPodStatus and generateAPIPodStatus inputs): each
 * container's state, last state and termination message, the probes' verdicts, the deadline and eviction
 * reasons; handed to the status manager. */
#include "kuberuntime.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "arena.h"
#include "backoff.h"
#include "dns.h"
#include "envvars.h"
#include "events.h"
#include "eviction.h"
#include "expansion.h"
#include "image_manager.h"
#include "log.h"
#include "logrotate.h"
#include "logs.h"
#include "manager.h"
#include "network.h"
#include "probe_net.h"
#include "prober.h"
#include "puller.h"
#include "qos_cgroups.h"
#include "runtimeclass.h"
#include "security.h"
#include "status.h"
#include "status_cache.h"
#include "util.h"
#include "volume.h"

/* ---- status ---- */

#define TERMINATION_MESSAGE_MAX 4096
#define FALLBACK_LOG_LINES      80
#define FALLBACK_LOG_BYTES      2048

/* Upstream's getTerminationMessage and readLastStringFromContainerLogs: the file at terminationMessagePath
 * (its last 4096 bytes), else, with FallbackToLogsOnError after a failure (not when the container could not
 * even start), the log's tail. */
static char *termination_message(const Runtime__V1__ContainerStatus *st, const char *policy)
{
        const char *path = KV_GET(st->annotations, st->n_annotations, ANN_TERMINATION_MSG_PATH);
        bool fallback = streq_ptr(policy, "FallbackToLogsOnError") && st->exit_code != 0 &&
                        !streq_ptr(st->reason, "ContainerCannotRun");
        for (size_t i = 0; path && path[0] && i < st->n_mounts; i++) {
                if (!streq_ptr(st->mounts[i]->container_path, path))
                        continue;
                /* Never blocking: the container may have put a FIFO there (through a subPath). */
                _cleanup_close_ int fd =
                        open(st->mounts[i]->host_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
                struct stat fst;
                if (fd < 0 && errno == ENOENT)
                        break;
                if (fd < 0 || fstat(fd, &fst) < 0)
                        return strdup_printf("Error on reading termination log %s: %m",
                                             st->mounts[i]->host_path);
                if (!S_ISREG(fst.st_mode))
                        return strdup_printf("Error on reading termination log %s: not a regular file",
                                             st->mounts[i]->host_path);
                off_t off =
                        fst.st_size > TERMINATION_MESSAGE_MAX ? fst.st_size - TERMINATION_MESSAGE_MAX : 0;
                char *buf = OOM_CHECK(malloc(TERMINATION_MESSAGE_MAX + 1));
                ssize_t n = pread(fd, buf, TERMINATION_MESSAGE_MAX, off);
                if (n < 0) {
                        free(buf);
                        return strdup_printf("Error on reading termination log %s: %m",
                                             st->mounts[i]->host_path);
                }
                buf[n] = 0;
                if (n > 0 || !fallback)
                        return buf;
                free(buf);
                break;
        }
        if (!fallback || !st->log_path)
                return NULL;
        int e = 0;
        char *msg = log_tail_string(st->log_path, FALLBACK_LOG_LINES, FALLBACK_LOG_BYTES, &e);
        if (!msg && e)
                return strdup_printf("Error on reading termination message from logs: open %s: %s",
                                     st->log_path, e == EINVAL ? "not a regular file" : strerror(e));
        return msg;
}

struct status_scratch {
        Runtime__V1__ContainerStatusResponse **resps;
        size_t n;
        char **strs;
        Runtime__V1__ContainerStatus **exited; /* shallow copies, the exit an event told of in them */
        size_t n_exited;
};

/* The runtime's status of container id, asked now (fresh is true) or the cache's when it saw it in state;
 * kept in sc. NULL on an error. */
static Runtime__V1__ContainerStatus *ask_status(const struct sync_ctx *ctx, struct status_scratch *sc,
                                                const char *id, Runtime__V1__ContainerState state,
                                                bool fresh)
{
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        Runtime__V1__ContainerStatusResponse *resp =
                fresh ? NULL : status_cache_container(ctx->status_cache, id, state, now_mono_ms());
        struct cri_error err = {0};
        req.container_id = (char *) id;
        if (!resp) {
                if (CRI_CALL(ctx->cri, RuntimeService, ContainerStatus, container_status, &req, &resp,
                             ctx->timeout_ms, &err) < 0)
                        return NULL;
                status_cache_put_container(ctx->status_cache, resp, now_mono_ms());
        }
        if (!resp->status) {
                cri_free(resp);
                return NULL;
        }
        sc->resps = OOM_CHECK(realloc(sc->resps, (sc->n + 1) * sizeof *sc->resps));
        sc->resps[sc->n++] = resp;
        return resp->status;
}

/* The status of a container listed in state: the cache's when it saw it in that state, else the runtime's. */
static Runtime__V1__ContainerStatus *fetch_status(const struct sync_ctx *ctx, struct status_scratch *sc,
                                                  const char *id, Runtime__V1__ContainerState state)
{
        struct runtime_exit x;
        /* Looked up before CRI is asked: an exit that leaves the table after this is in CRI's answer. */
        bool told = runtime_exits_get(ctx->exits, id, &x);
        Runtime__V1__ContainerStatus *st = ask_status(ctx, sc, id, state, false);
        if (!st || !told || st->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                return st;
        /* An exit the runtime's event told of and its CRI plugin had not applied when asked. Still awaited
         * by the PLEG: its status as CRI will give it (the same exit code, time and reason, from the same
         * event), and the pod syncs again once the listing shows the exit; one whose reason CRI has to tell
         * stays RUNNING here until then. Already shown by a listing since (or given up on): no listing
         * will bring the pod back for it, so CRI is asked again, and has it now. */
        if (!runtime_exits_get_for_status(ctx->exits, id, &x)) {
                log_v(4, "Asking the runtime again for a container's status: its exit was listed meanwhile",
                      "containerID=\"%.13s\"", id);
                Runtime__V1__ContainerStatus *again = ask_status(ctx, sc, id, state, true);
                return again ? again : st;
        }
        if (!x.reason)
                return st;
        Runtime__V1__ContainerStatus *ex = OOM_CHECK(malloc(sizeof *ex));
        *ex = *st; /* its strings and lists stay the response's */
        ex->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
        ex->exit_code = x.code;
        ex->finished_at = x.finished_ns;
        ex->reason = (char *) x.reason;
        sc->exited = OOM_CHECK(realloc(sc->exited, (sc->n_exited + 1) * sizeof *sc->exited));
        sc->exited[sc->n_exited++] = ex;
        return ex;
}

static void fill_term(struct status_scratch *sc, const Runtime__V1__ContainerStatus *st, const char *policy,
                      struct cterm *t)
{
        char *msg = termination_message(st, policy);
        /* upstream enriches the runtime's message with the termination message: "<runtime's>: <message>" */
        if (msg && msg[0] && st->message && st->message[0]) {
                char *both = strdup_printf("%s: %s", st->message, msg);
                free(msg);
                msg = both;
        }
        if (msg && !msg[0]) {
                free(msg);
                msg = NULL;
        }
        if (msg)
                strv_push(&sc->strs, msg);
        *t = (struct cterm){.id = st->id,
                            .exit_code = st->exit_code,
                            .started_ns = st->started_at,
                            .finished_ns = st->finished_at,
                            .reason = st->reason,
                            .message = msg ? msg : st->message};
}

static void fill_cstatus(const struct sync_ctx *ctx, struct status_scratch *sc, const struct pod_runtime *rt,
                         const struct container *c, const struct sync_result *res, struct cstatus *cs)
{
        Runtime__V1__Container *newest = NULL, *prev = NULL;
        *cs = (struct cstatus){.name = c->name, .image = c->image, .ready = true, .started = true};
        for (size_t i = 0; i < rt->containers->n_containers; i++) {
                Runtime__V1__Container *k = rt->containers->containers[i];
                if (!k->metadata || !streq_ptr(k->metadata->name, c->name))
                        continue;
                if (!newest || k->created_at > newest->created_at) {
                        prev = newest;
                        newest = k;
                } else if (!prev || k->created_at > prev->created_at)
                        prev = k;
        }
        for (size_t i = 0; i < res->n_waits; i++)
                if (streq(res->waits[i].name, c->name)) {
                        cs->waiting_reason = res->waits[i].reason;
                        cs->waiting_message = res->waits[i].message;
                }
        if (!newest)
                return;
        Runtime__V1__ContainerStatus *st = fetch_status(ctx, sc, newest->id, newest->state);
        if (!st)
                return;
        cs->present = true;
        if (st->image && st->image->image && st->image->image[0])
                cs->image = st->image->image; /* upstream shows the runtime's (its first tag of the image) */
        cs->state = st->state;
        cs->id = st->id;
        cs->image_ref = st->image_ref;
        cs->restart_count = container_restart_count(newest);
        cs->started_ns = st->started_at;
        if (st->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                fill_term(sc, st, c->termination_message_policy, &cs->term);
        if (prev && prev->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
                Runtime__V1__ContainerStatus *ps = fetch_status(ctx, sc, prev->id, prev->state);
                /* RUNNING: its exit is known from an event, its reason not yet (above) */
                if (ps && ps->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
                        cs->has_last = true;
                        fill_term(sc, ps, c->termination_message_policy, &cs->last);
                }
        }
}

/* The status the pod had before this sync: the status manager's, else (first sync after a restart) the one
 * the API server keeps. */
static json_t *previous_status(const struct sync_ctx *ctx, const struct pod *pod)
{
        json_t *old = status_manager_get(ctx->status, pod->uid);
        if (!old && pod_phase_terminal(json_string_value(
                            json_object_get(json_object_get(pod->json, "status"), "phase"))))
                old = json_deep_copy(json_object_get(pod->json, "status"));
        return old;
}

/* Upstream: a pod that reached Succeeded or Failed never runs again, even when its containers are gone
 * (removed by hand, a runtime that lost its state): nothing is created for it any more. */
bool finished_before(const struct sync_ctx *ctx, const struct pod *pod)
{
        json_t *old = previous_status(ctx, pod);
        bool done = pod_phase_terminal(json_string_value(json_object_get(old, "phase")));
        json_decref(old);
        return done;
}

/* status.startTime: recorded once; a pod the API server already knows keeps the start time it has there (a
 * restarted cubelet does not restart the clock of activeDeadlineSeconds). */
static int64_t pod_start_ns(const struct sync_ctx *ctx, const struct pod *pod)
{
        const char *api =
                json_string_value(json_object_get(json_object_get(pod->json, "status"), "startTime"));
        int64_t api_ns = 0;
        if (api && rfc3339_parse_ns(api, strlen(api), &api_ns) < 0)
                api_ns = 0;
        return status_manager_start_time(ctx->status, pod->uid, api_ns);
}

/* Milliseconds before the pod's activeDeadlineSeconds passes (<= 0: past; INT64_MAX: none). */
int64_t deadline_left_ms(const struct sync_ctx *ctx, const struct pod *pod)
{
        if (!ctx->status || pod->active_deadline_s < 0)
                return INT64_MAX;
        return pod_deadline_left_ms(pod, pod_start_ns(ctx, pod), now_real_ns());
}

/* Whether the eviction manager evicted the pod: its message, and the grace period its containers get
 * (the eviction's, never longer than the pod's own). */
bool pod_evicted(const struct sync_ctx *ctx, const struct pod *pod, char *msg, size_t len, int64_t *grace_s)
{
        int64_t g;
        if (!ctx->eviction || !eviction_manager_evicted(ctx->eviction, pod->uid, msg, len, &g))
                return false;
        *grace_s = MIN(g, pod->termination_grace_period);
        return true;
}

/* Computes the pod's status from what the runtime now says and hands it to the status manager. */
void publish_status(const struct sync_ctx *ctx, struct pod *pod, const struct sync_result *res,
                    const struct pod_runtime *unchanged, struct pod_runtime *relisted)
{
        struct pod_runtime rt = {0};
        struct cri_error err = {0};
        struct status_scratch sc = {0};
        _cleanup_cri_ Runtime__V1__PodSandboxStatusResponse *sbs = NULL;

        if (relisted)
                *relisted = (struct pod_runtime){0};
        if (!ctx->status)
                return;
        /* The sync's own listing serves when it changed nothing; otherwise list again. */
        if (unchanged) {
                rt.sandboxes = (Runtime__V1__ListPodSandboxResponse *) unchanged->sandboxes;
                rt.containers = (Runtime__V1__ListContainersResponse *) unchanged->containers;
        } else if (list_pod(ctx, pod->uid, &rt, &err) < 0)
                return;
        struct pod_runtime_status rs = {.host_ip = ctx->node_ip, .start_ns = pod_start_ns(ctx, pod)};
        if (res->blocked_reason[0]) {
                rs.blocked_reason = res->blocked_reason;
                rs.blocked_message = res->blocked_message;
        }
        char ev_msg[1024];
        int64_t ev_grace;
        json_t *old = previous_status(ctx, pod);
        if (deadline_left_ms(ctx, pod) <= 0) {
                rs.reason = DEADLINE_REASON;
                rs.message = DEADLINE_MESSAGE;
                /* The first status past the deadline fails the pod: upstream's activeDeadlineHandler records
                 * its event then. Whichever sync gets here first (the one that started the pod may, when its
                 * sandbox took most of the deadline), and once: a pod that ended before keeps its end. */
                if (!pod_phase_terminal(json_string_value(json_object_get(old, "phase")))) {
                        char name[512];
                        log_info("Pod was active on the node longer than the specified deadline, killing it",
                                 "pod=\"%s\" activeDeadlineSeconds=%lld",
                                 pod_full_name(pod, name, sizeof name), (long long) pod->active_deadline_s);
                        pod_event(ctx, pod, NULL, EVENT_NORMAL, DEADLINE_REASON, "%s", DEADLINE_MESSAGE);
                }
        } else if (pod_evicted(ctx, pod, ev_msg, sizeof ev_msg, &ev_grace)) {
                rs.reason = EVICTED_REASON;
                rs.message = ev_msg;
        }
        Runtime__V1__PodSandbox *sb = newest_sandbox(&rt);
        bool ready = sb && sb->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        _cleanup_free_ char *cached_ip =
                ready ? status_cache_sandbox_ip(ctx->status_cache, sb->id, now_mono_ms()) : NULL;
        if (cached_ip)
                rs.pod_ip = cached_ip;
        else if (sb) {
                Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
                req.pod_sandbox_id = sb->id;
                if (CRI_CALL(ctx->cri, RuntimeService, PodSandboxStatus, pod_sandbox_status, &req, &sbs,
                             ctx->timeout_ms, &err) >= 0 &&
                    sbs->status && sbs->status->network) {
                        rs.pod_ip = sbs->status->network->ip;
                        /* a READY sandbox's network is set up once: its IP holds while it is READY */
                        if (ready && sbs->status->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
                                status_cache_put_sandbox_ip(ctx->status_cache, sb->id, rs.pod_ip,
                                                            now_mono_ms());
                }
        }
        rs.init = OOM_CHECK(calloc(pod->n_init_containers + 1, sizeof *rs.init));
        rs.app = OOM_CHECK(calloc(pod->n_containers + 1, sizeof *rs.app));
        rs.n_init = pod->n_init_containers;
        rs.n_app = pod->n_containers;
        for (size_t i = 0; i < pod->n_init_containers; i++)
                fill_cstatus(ctx, &sc, &rt, &pod->init_containers[i], res, &rs.init[i]);
        for (size_t i = 0; i < pod->n_containers; i++)
                fill_cstatus(ctx, &sc, &rt, &pod->containers[i], res, &rs.app[i]);
        if (ctx->prober) {
                struct prober_target *t = OOM_CHECK(calloc(pod->n_containers + 1, sizeof *t));
                size_t nt = 0;
                for (size_t i = 0; i < pod->n_containers; i++) {
                        struct cstatus *cs = &rs.app[i];
                        if (!cs->present || cs->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                                continue;
                        t[nt++] = (struct prober_target){&pod->containers[i], cs->id, cs->started_ns};
                }
                prober_sync_pod(ctx->prober, pod, pod->host_network ? ctx->node_ip : rs.pod_ip, t, nt);
                free(t);
                for (size_t i = 0; i < pod->n_containers; i++) {
                        struct cstatus *cs = &rs.app[i];
                        if (!cs->present)
                                continue;
                        cs->ready = prober_is_ready(ctx->prober, pod->uid, cs->name, cs->id);
                        cs->started = prober_is_started(ctx->prober, pod->uid, cs->name, cs->id);
                }
        }

        json_t *now = pod_status_compute(pod, &rs, old);
        if (log_verbosity >= 5) {
                char states[512] = "";
                size_t len = 0;
                for (size_t i = 0; i < rs.n_app && len < sizeof states; i++)
                        len += (size_t) snprintf(states + len, sizeof states - len, "%s%s=%d", i ? "," : "",
                                                 rs.app[i].name,
                                                 rs.app[i].present ? (int) rs.app[i].state : -1);
                char listed[512] = "";
                size_t ll = 0;
                for (size_t i = 0; i < rt.containers->n_containers && ll < sizeof listed; i++)
                        ll += (size_t) snprintf(listed + ll, sizeof listed - ll, "%s%.8s=%d", i ? "," : "",
                                                rt.containers->containers[i]->id,
                                                (int) rt.containers->containers[i]->state);
                log_v(5, "Pod status computed",
                      "podUID=\"%s\" phase=\"%s\" unchanged=%d listed=\"%s\" containers=\"%s\"", pod->uid,
                      json_string_value(json_object_get(now, "phase")), unchanged != NULL, listed, states);
        }
        status_manager_set(ctx->status, pod, now);
        json_decref(old);

        for (size_t i = 0; i < sc.n; i++)
                cri_free(sc.resps[i]);
        free(sc.resps);
        strv_free(sc.strs);
        for (size_t i = 0; i < sc.n_exited; i++)
                free(sc.exited[i]);
        free(sc.exited);
        free(rs.init);
        free(rs.app);
        if (!unchanged && relisted) {
                *relisted = rt;
                rt = (struct pod_runtime){0};
        }
        if (!unchanged)
                pod_runtime_done(&rt);
}
