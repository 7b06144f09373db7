/* The prober: liveness, readiness and startup probes, run by a few threads off the sync path. */
#include "prober.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "cri.h"
#include "events.h"
#include "log.h"
#include "probe_grpc.h"
#include "probe_net.h"
#include "util.h"

enum probe_type { LIVENESS, READINESS, STARTUP };
static const char *const type_names[] = {"Liveness", "Readiness", "Startup"};

struct probe {
        char *uid, *name, *container_id, *pod_ip;
        struct pod *pod; /* keeps spec alive */
        const struct probe_spec *spec;
        enum probe_type type;
        int64_t due_ms; /* monotonic */
        bool busy, gone;
        enum probe_result result; /* the verdict after thresholds */
        enum probe_result last_raw;
        int32_t run;  /* consecutive raw results equal to last_raw */
        bool on_hold; /* liveness/startup failed: no more runs until the container changes */
};

struct prober {
        struct prober_config cfg;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t *threads;
        int n_threads;
        bool stop;
        struct probe **probes;
        size_t n;
};

static void probe_free_(struct probe *pr)
{
        free(pr->uid);
        free(pr->name);
        free(pr->container_id);
        free(pr->pod_ip);
        pod_unref(pr->pod);
        free(pr);
}

static struct probe *find(struct prober *p, const char *uid, const char *name, enum probe_type t)
{
        for (size_t i = 0; i < p->n; i++) {
                struct probe *pr = p->probes[i];
                if (!pr->gone && pr->type == t && streq(pr->uid, uid) && streq(pr->name, name))
                        return pr;
        }
        return NULL;
}

static bool startup_done(struct prober *p, const struct probe *pr)
{
        struct probe *s = find(p, pr->uid, pr->name, STARTUP);
        return !s || s->result == PROBE_SUCCESS;
}

enum probe_result probe_exec(struct cri_client *cri, const char *container_id, char **command,
                             int64_t timeout_s, char *out, size_t len)
{
        Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ExecSyncResponse *resp = NULL;
        struct cri_error err = {0};

        out[0] = 0;
        req.container_id = (char *) container_id;
        req.cmd = command;
        req.n_cmd = strv_length(command);
        req.timeout = timeout_s;
        int r = CRI_CALL(cri, RuntimeService, ExecSync, exec_sync, &req, &resp, timeout_s * 1000 + 5000,
                         &err);
        if (cri_timed_out(&err, r)) {
                snprintf(out, len, "command timed out after %llds", (long long) timeout_s);
                return PROBE_FAILURE;
        }
        if (r < 0) {
                snprintf(out, len, "%s", err.msg[0] ? err.msg : strerror(-r));
                return PROBE_UNKNOWN;
        }
        size_t o = 0;
        if (resp->stdout.len)
                o = (size_t) snprintf(out, len, "%.*s", (int) MIN(resp->stdout.len, len - 1),
                                      resp->stdout.data);
        if (resp->stderr.len && o < len)
                snprintf(out + o, len - o, "%.*s", (int) MIN(resp->stderr.len, len - o - 1),
                         resp->stderr.data);
        if (resp->exit_code != 0 && !out[0])
                snprintf(out, len, "command exited with %d", resp->exit_code);
        return resp->exit_code == 0 ? PROBE_SUCCESS : PROBE_FAILURE;
}

/* Runs one probe; fills output. Called without the lock. */
static enum probe_result run_probe(struct prober *p, const struct probe *pr, const char *pod_ip, char *out,
                                   size_t len)
{
        const struct probe_spec *s = pr->spec;
        int64_t timeout_ms = (int64_t) s->timeout_s * 1000;
        const char *host = s->host && s->host[0] ? s->host : pod_ip;

        out[0] = 0;
        switch (s->kind) {
        case PROBE_EXEC:
                return probe_exec(p->cfg.cri, pr->container_id, s->command, s->timeout_s, out, len);
        case PROBE_HTTP_GET: {
                if (!host || !host[0]) {
                        snprintf(out, len, "no pod IP to probe yet");
                        return PROBE_UNKNOWN;
                }
                struct probe_header *h = OOM_CHECK(calloc(s->n_headers + 1, sizeof *h));
                for (size_t i = 0; i < s->n_headers; i++)
                        h[i] = (struct probe_header){s->headers[i].name,
                                                     s->headers[i].value ? s->headers[i].value : ""};
                struct probe_http ph = {.scheme = s->scheme ? s->scheme : "HTTP",
                                        .host = host,
                                        .port = s->port,
                                        .path = s->path ? s->path : "/",
                                        .headers = h,
                                        .n_headers = s->n_headers,
                                        .timeout_ms = timeout_ms};
                enum probe_result r = probe_http_get(&ph, out, len);
                free(h);
                return r;
        }
        case PROBE_TCP_SOCKET:
                if (!host || !host[0]) {
                        snprintf(out, len, "no pod IP to probe yet");
                        return PROBE_UNKNOWN;
                }
                return probe_tcp(host, s->port, timeout_ms, out, len);
        case PROBE_GRPC: /* always the pod IP, as upstream */
                if (!pod_ip || !pod_ip[0]) {
                        snprintf(out, len, "no pod IP to probe yet");
                        return PROBE_UNKNOWN;
                }
                return probe_grpc(pod_ip, s->port, s->service ? s->service : "", timeout_ms, out, len);
        default:
                snprintf(out, len, "unsupported probe handler");
                return PROBE_UNKNOWN;
        }
}

static struct probe *next_due(struct prober *p, int64_t now, int64_t *ret_wait_ms)
{
        struct probe *best = NULL;
        int64_t wait = 60000;
        for (size_t i = 0; i < p->n; i++) {
                struct probe *pr = p->probes[i];
                if (pr->busy || pr->gone || pr->on_hold)
                        continue;
                if (pr->type != STARTUP && !startup_done(p, pr))
                        continue; /* startup gates the others */
                if (pr->due_ms <= now && (!best || pr->due_ms < best->due_ms))
                        best = pr;
                else if (pr->due_ms > now)
                        wait = MIN(wait, pr->due_ms - now);
        }
        *ret_wait_ms = wait;
        return best;
}

static void reap_gone(struct prober *p)
{
        for (size_t i = 0; i < p->n;) {
                if (p->probes[i]->gone && !p->probes[i]->busy) {
                        probe_free_(p->probes[i]);
                        p->probes[i] = p->probes[--p->n];
                } else
                        i++;
        }
}

static void *prober_thread(void *arg)
{
        struct prober *p = arg;
        pthread_mutex_lock(&p->lock);
        while (!p->stop) {
                int64_t wait;
                reap_gone(p);
                struct probe *pr = next_due(p, now_mono_ms(), &wait);
                if (!pr) {
                        cond_wait_ms(&p->cond, &p->lock, wait);
                        continue;
                }
                pr->busy = true;
                _cleanup_free_ char *ip = xstrdup(pr->pod_ip);
                pthread_mutex_unlock(&p->lock);

                char out[1024];
                enum probe_result raw = run_probe(p, pr, ip, out, sizeof out);

                pthread_mutex_lock(&p->lock);
                pr->busy = false;
                pr->due_ms = now_mono_ms() + (int64_t) pr->spec->period_s * 1000;
                if (pr->gone || raw == PROBE_UNKNOWN) {
                        if (raw == PROBE_UNKNOWN && !pr->gone)
                                log_v(2, "Probe result unknown",
                                      "probe=\"%s\" pod=\"%s/%s\" container=\"%s\" output=\"%s\"",
                                      type_names[pr->type], pr->pod->namespace, pr->pod->name, pr->name,
                                      log_q(out));
                        continue;
                }
                if (raw == pr->last_raw)
                        pr->run++;
                else {
                        pr->last_raw = raw;
                        pr->run = 1;
                }
                enum probe_result before = pr->result;
                if (raw == PROBE_SUCCESS && pr->run >= pr->spec->success_threshold)
                        pr->result = PROBE_SUCCESS;
                else if (raw == PROBE_FAILURE && pr->run >= pr->spec->failure_threshold)
                        pr->result = PROBE_FAILURE;
                if (raw == PROBE_FAILURE && p->cfg.events) {
                        char fp[256];
                        snprintf(fp, sizeof fp, "spec.containers{%s}", pr->name);
                        events_record(p->cfg.events, pr->pod->namespace, pr->pod->name, pr->uid, fp,
                                      EVENT_WARNING, "Unhealthy", "%s probe failed: %s",
                                      type_names[pr->type], out);
                }
                bool changed = before != pr->result;
                if (raw == PROBE_FAILURE && pr->run >= pr->spec->failure_threshold &&
                    pr->type != READINESS) {
                        pr->on_hold = true; /* the container will be restarted; probe the next one */
                        changed = true;
                }
                if (changed)
                        log_v(2, "Probe result changed",
                              "probe=\"%s\" pod=\"%s/%s\" container=\"%s\" result=\"%s\" output=\"%s\"",
                              type_names[pr->type], pr->pod->namespace, pr->pod->name, pr->name,
                              pr->result == PROBE_SUCCESS ? "success" : "failure", log_q(out));
                _cleanup_free_ char *uid = changed ? xstrdup(pr->uid) : NULL;
                if (changed && pr->type == STARTUP && pr->result == PROBE_SUCCESS)
                        pthread_cond_broadcast(&p->cond); /* liveness and readiness may run now */
                pthread_mutex_unlock(&p->lock);
                if (changed)
                        p->cfg.kick(uid, p->cfg.userdata);
                pthread_mutex_lock(&p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int prober_new(const struct prober_config *cfg, struct prober **ret)
{
        struct prober *p = OOM_CHECK(calloc(1, sizeof *p));
        p->cfg = *cfg;
        pthread_mutex_init(&p->lock, NULL);
        cond_init_monotonic(&p->cond);
        int n = cfg->threads > 0 ? cfg->threads : 2;
        p->threads = OOM_CHECK(calloc(n, sizeof(pthread_t)));
        for (int i = 0; i < n; i++) {
                int r = pthread_create(&p->threads[i], NULL, prober_thread, p);
                if (r != 0) {
                        prober_free(p);
                        return -r;
                }
                (void) pthread_setname_np(p->threads[i], "prober");
                p->n_threads++;
        }
        *ret = p;
        return 0;
}

void prober_halt(struct prober *p)
{
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        for (int i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);
        p->n_threads = 0;
}

struct prober *prober_free(struct prober *p)
{
        if (!p)
                return NULL;
        prober_halt(p);
        for (size_t i = 0; i < p->n; i++)
                probe_free_(p->probes[i]);
        free(p->probes);
        free(p->threads);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        free(p);
        return NULL;
}

static void arm(struct prober *p, struct pod *pod, const char *pod_ip, const struct prober_target *t,
                const struct probe_spec *spec, enum probe_type type)
{
        struct probe *pr = find(p, pod->uid, t->c->name, type);
        if (pr && streq(pr->container_id, t->container_id) && pr->spec == spec) {
                if (!streq_ptr(pr->pod_ip, pod_ip)) {
                        free(pr->pod_ip);
                        pr->pod_ip = xstrdup(pod_ip);
                }
                return;
        }
        if (pr)
                pr->gone = true;
        if (!spec)
                return;
        pr = OOM_CHECK(calloc(1, sizeof *pr));
        pr->uid = xstrdup(pod->uid);
        pr->name = xstrdup(t->c->name);
        pr->container_id = xstrdup(t->container_id);
        pr->pod_ip = xstrdup(pod_ip);
        pr->pod = pod_ref(pod);
        pr->spec = spec;
        pr->type = type;
        /* Upstream's initial results: readiness fails until it passes, liveness succeeds, startup fails. */
        pr->result = type == LIVENESS ? PROBE_SUCCESS : PROBE_FAILURE;
        pr->last_raw = PROBE_UNKNOWN;
        int64_t since_start_ms = (now_real_ns() - t->started_ns) / 1000000;
        int64_t left = (int64_t) spec->initial_delay_s * 1000 - MAX(since_start_ms, (int64_t) 0);
        pr->due_ms = now_mono_ms() + MAX(left, (int64_t) 0);
        p->probes = OOM_CHECK(realloc(p->probes, (p->n + 1) * sizeof *p->probes));
        p->probes[p->n++] = pr;
}

void prober_sync_pod(struct prober *p, struct pod *pod, const char *pod_ip, const struct prober_target *t,
                     size_t n)
{
        pthread_mutex_lock(&p->lock);
        /* Containers no longer running lose their probes. */
        for (size_t i = 0; i < p->n; i++) {
                struct probe *pr = p->probes[i];
                if (pr->gone || !streq(pr->uid, pod->uid))
                        continue;
                bool alive = false;
                for (size_t j = 0; j < n && !alive; j++)
                        alive = streq(t[j].c->name, pr->name) && streq(t[j].container_id, pr->container_id);
                if (!alive)
                        pr->gone = true;
        }
        for (size_t i = 0; i < n; i++) {
                arm(p, pod, pod_ip, &t[i], t[i].c->liveness, LIVENESS);
                arm(p, pod, pod_ip, &t[i], t[i].c->readiness, READINESS);
                arm(p, pod, pod_ip, &t[i], t[i].c->startup, STARTUP);
        }
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
}

void prober_remove_pod(struct prober *p, const char *uid)
{
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->n; i++)
                if (streq(p->probes[i]->uid, uid))
                        p->probes[i]->gone = true;
        pthread_mutex_unlock(&p->lock);
}

static enum probe_result result_of(struct prober *p, const char *uid, const char *name, const char *cid,
                                   enum probe_type t, enum probe_result absent)
{
        pthread_mutex_lock(&p->lock);
        struct probe *pr = find(p, uid, name, t);
        enum probe_result r = absent;
        if (pr)
                r = streq(pr->container_id, cid) ? pr->result
                                                 : (t == LIVENESS ? PROBE_SUCCESS : PROBE_FAILURE);
        pthread_mutex_unlock(&p->lock);
        return r;
}

bool prober_is_ready(struct prober *p, const char *uid, const char *name, const char *container_id)
{
        return result_of(p, uid, name, container_id, READINESS, PROBE_SUCCESS) == PROBE_SUCCESS &&
               prober_is_started(p, uid, name, container_id);
}

bool prober_is_started(struct prober *p, const char *uid, const char *name, const char *container_id)
{
        return result_of(p, uid, name, container_id, STARTUP, PROBE_SUCCESS) == PROBE_SUCCESS;
}

bool prober_should_kill(struct prober *p, const char *uid, const char *name, const char *container_id,
                        char *message, size_t len, int64_t *ret_grace_s)
{
        bool kill = false;
        pthread_mutex_lock(&p->lock);
        for (enum probe_type t = LIVENESS; t <= STARTUP && !kill; t++) {
                if (t == READINESS)
                        continue;
                struct probe *pr = find(p, uid, name, t);
                if (pr && streq(pr->container_id, container_id) && pr->result == PROBE_FAILURE &&
                    pr->on_hold) {
                        kill = true;
                        snprintf(message, len, "Container %s failed %s probe, will be restarted", name,
                                 t == LIVENESS ? "liveness" : "startup");
                        *ret_grace_s = pr->spec->termination_grace_s;
                }
        }
        pthread_mutex_unlock(&p->lock);
        return kill;
}
