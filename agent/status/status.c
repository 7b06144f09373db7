/* Pod status as upstream computes it: phase, conditions, container statuses, from what the runtime says. */
#include "status.h"

#include <stdio.h>
#include <time.h>

#include "cri.h"
#include "util.h"

void format_rfc3339(int64_t ns, char *buf, size_t len)
{
        time_t t = (time_t) (ns / 1000000000LL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *time_json(int64_t ns)
{
        char buf[64];
        if (ns <= 0)
                return json_null();
        format_rfc3339(ns, buf, sizeof buf);
        return json_string(buf);
}

static json_t *container_id_json(const char *id)
{
        _cleanup_free_ char *s = strdup_printf("containerd://%s", id);
        return json_string(s);
}

static json_t *terminated_json(const struct cterm *t)
{
        json_t *o = json_pack("{s:I, s:o, s:o}", "exitCode", (json_int_t) t->exit_code, "startedAt",
                              time_json(t->started_ns), "finishedAt", time_json(t->finished_ns));
        /* Upstream's reasons when the runtime gives none. */
        json_object_set_new(o, "reason",
                            json_string(t->reason && t->reason[0] ? t->reason
                                        : t->exit_code            ? "Error"
                                                                  : "Completed"));
        if (t->message && t->message[0])
                json_object_set_new(o, "message", json_string(t->message));
        if (t->id)
                json_object_set_new(o, "containerID", container_id_json(t->id));
        return json_pack("{s:o}", "terminated", o);
}

static json_t *waiting_json(const char *reason, const char *message)
{
        json_t *w = json_pack("{s:s}", "reason", reason);
        if (message && message[0])
                json_object_set_new(w, "message", json_string(message));
        return json_pack("{s:o}", "waiting", w);
}

static json_t *container_status_json(const struct cstatus *c, bool init, bool initializing)
{
        json_t *o = json_pack("{s:s, s:s, s:i}", "name", c->name, "image", c->image, "restartCount",
                              c->restart_count);
        json_t *state;
        bool running = c->present && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        bool exited = c->present && (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED ||
                                     c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN);

        if (running) {
                state = json_pack("{s:{s:o}}", "running", "startedAt", time_json(c->started_ns));
        } else if (c->waiting_reason && exited) {
                /* Waiting to restart (back-off): the exit is the last state. */
                state = waiting_json(c->waiting_reason, c->waiting_message);
        } else if (exited) {
                state = terminated_json(&c->term);
        } else if (c->waiting_reason) {
                state = waiting_json(c->waiting_reason, c->waiting_message);
        } else
                state = waiting_json(initializing && !init ? "PodInitializing" : "ContainerCreating", NULL);
        json_object_set_new(o, "state", state);

        if (c->waiting_reason && exited)
                json_object_set_new(o, "lastState", terminated_json(&c->term));
        else if (c->has_last)
                json_object_set_new(o, "lastState", terminated_json(&c->last));
        else
                json_object_set_new(o, "lastState", json_object());

        bool ready = init ? exited && c->term.exit_code == 0 : running && c->ready;
        json_object_set_new(o, "ready", json_boolean(ready));
        if (!init)
                json_object_set_new(o, "started", json_boolean(running && c->started));
        if (c->present) {
                json_object_set_new(o, "imageID", json_string(c->image_ref ? c->image_ref : ""));
                json_object_set_new(o, "containerID", container_id_json(c->id));
        } else
                json_object_set_new(o, "imageID", json_string(""));
        return o;
}

static bool init_succeeded(const struct cstatus *c)
{
        return c->present && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED &&
               c->term.exit_code == 0;
}

/* Upstream's getPhase. */
static const char *compute_phase(const struct pod *pod, const struct pod_runtime_status *rs,
                                 bool initialized)
{
        unsigned waiting = 0, running = 0, stopped = 0, succeeded = 0;

        if (!initialized) {
                for (size_t i = 0; i < rs->n_init; i++) {
                        const struct cstatus *c = &rs->init[i];
                        bool failed = c->present &&
                                      c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED &&
                                      c->term.exit_code != 0;
                        if (failed && streq(pod->restart_policy, "Never"))
                                return "Failed";
                }
                return "Pending";
        }
        for (size_t i = 0; i < rs->n_app; i++) {
                const struct cstatus *c = &rs->app[i];
                if (!c->present)
                        waiting++;
                else if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                        running++;
                else if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED ||
                         c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN) {
                        stopped++;
                        if (c->term.exit_code == 0)
                                succeeded++;
                } else
                        waiting++;
        }
        if (waiting > 0)
                return "Pending";
        if (running > 0)
                return "Running";
        if (stopped > 0) {
                if (streq(pod->restart_policy, "Always"))
                        return "Running";
                if (stopped == succeeded)
                        return "Succeeded";
                if (streq(pod->restart_policy, "Never"))
                        return "Failed";
                return "Running";
        }
        return "Pending";
}

static const char *old_transition(const json_t *old, const char *type, const char *status)
{
        json_t *conds = json_object_get(old, "conditions"), *c;
        size_t i;
        json_array_foreach(conds, i, c)
        {
                if (!streq_ptr(json_string_value(json_object_get(c, "type")), type))
                        continue;
                if (!streq_ptr(json_string_value(json_object_get(c, "status")), status))
                        return NULL;
                return json_string_value(json_object_get(c, "lastTransitionTime"));
        }
        return NULL;
}

static void add_condition(json_t *conds, const json_t *old, const char *type, bool value, const char *reason,
                          const char *message, const char *now)
{
        const char *status = value ? "True" : "False";
        const char *since = old_transition(old, type, status);
        json_t *c = json_pack("{s:s, s:s, s:n, s:s}", "type", type, "status", status, "lastProbeTime",
                              "lastTransitionTime", since ? since : now);
        if (!value && reason) {
                json_object_set_new(c, "reason", json_string(reason));
                if (message)
                        json_object_set_new(c, "message", json_string(message));
        }
        json_array_append_new(conds, c);
}

bool pod_phase_terminal(const char *phase)
{
        return phase && (streq(phase, "Succeeded") || streq(phase, "Failed"));
}

json_t *pod_status_compute(const struct pod *pod, const struct pod_runtime_status *rs, const json_t *old)
{
        char now[64], buf[1024];
        bool initialized = true, all_ready = true;
        json_t *st = json_object(), *conds = json_array(), *inits = json_array(), *apps = json_array();

        format_rfc3339(now_real_ns(), now, sizeof now);
        for (size_t i = 0; i < rs->n_init; i++)
                initialized &= init_succeeded(&rs->init[i]);
        /* App containers that ran in this sandbox end the init phase, as upstream. */
        for (size_t i = 0; i < rs->n_app && !initialized; i++)
                initialized = rs->app[i].present;

        const char *phase = compute_phase(pod, rs, initialized);
        /* Succeeded and Failed are final (upstream refuses the transition): when the containers that told so
         * are gone, the pod keeps the status it ended with. */
        const char *was = json_string_value(json_object_get(old, "phase"));
        if (pod_phase_terminal(was) && !streq(phase, was)) {
                json_decref(st);
                json_decref(conds);
                json_decref(inits);
                json_decref(apps);
                return json_deep_copy(old);
        }
        json_object_set_new(st, "phase", json_string(phase));

        size_t n_not_ready = 0;
        buf[0] = 0;
        for (size_t i = 0; i < rs->n_app; i++) {
                const struct cstatus *c = &rs->app[i];
                bool ready = c->present && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING &&
                             c->ready;
                if (!ready) {
                        all_ready = false;
                        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", n_not_ready ? " " : "",
                                 c->name);
                        n_not_ready++;
                }
        }
        _cleanup_free_ char *nr_msg = strdup_printf("containers with unready status: [%s]", buf);
        bool terminal = pod_phase_terminal(phase);

        buf[0] = 0;
        for (size_t i = 0; i < rs->n_init; i++)
                if (!init_succeeded(&rs->init[i]))
                        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? " " : "",
                                 rs->init[i].name);
        _cleanup_free_ char *ni_msg = strdup_printf("containers with incomplete status: [%s]", buf);

        add_condition(conds, old, "PodReadyToStartContainers", rs->sandbox_ready, NULL, NULL, now);
        add_condition(conds, old, "Initialized", initialized, "ContainersNotInitialized", ni_msg, now);
        add_condition(conds, old, "Ready", all_ready && !terminal,
                      terminal ? "PodCompleted" : "ContainersNotReady", terminal ? NULL : nr_msg, now);
        add_condition(conds, old, "ContainersReady", all_ready && !terminal,
                      terminal ? "PodCompleted" : "ContainersNotReady", terminal ? NULL : nr_msg, now);
        add_condition(conds, old, "PodScheduled", true, NULL, NULL, now);
        json_object_set_new(st, "conditions", conds);

        if (rs->host_ip && rs->host_ip[0]) {
                json_object_set_new(st, "hostIP", json_string(rs->host_ip));
                json_object_set_new(st, "hostIPs", json_pack("[{s:s}]", "ip", rs->host_ip));
        }
        const char *ip = pod->host_network ? rs->host_ip : rs->pod_ip;
        if (ip && ip[0]) {
                json_object_set_new(st, "podIP", json_string(ip));
                json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", ip));
        }
        json_object_set_new(st, "startTime", time_json(rs->start_ns));

        for (size_t i = 0; i < rs->n_init; i++)
                json_array_append_new(inits, container_status_json(&rs->init[i], true, false));
        for (size_t i = 0; i < rs->n_app; i++)
                json_array_append_new(apps, container_status_json(&rs->app[i], false, !initialized));
        if (rs->n_init)
                json_object_set_new(st, "initContainerStatuses", inits);
        else
                json_decref(inits);
        json_object_set_new(st, "containerStatuses", apps);
        json_object_set_new(st, "qosClass", json_string(pod_qos_class(pod)));
        return st;
}
