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

/* Upstream's convertToAPIContainerStatuses for one container: has_init (the pod has init containers) makes
 * the default waiting reason PodInitializing, for init and app containers alike. */
static json_t *container_status_json(const struct cstatus *c, bool init, bool has_init)
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
                state = waiting_json(has_init ? "PodInitializing" : "ContainerCreating", NULL);
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

/* One kubelet condition as upstream's generators make it (status/generate.go). */
struct verdict {
        bool value;
        const char *reason; /* NULL: none */
        char *message;      /* NULL: none */
};

static void add_condition(json_t *conds, const json_t *old, const char *type, const struct verdict *v,
                          const char *now)
{
        const char *status = v->value ? "True" : "False";
        const char *since = old_transition(old, type, status);
        json_t *c = json_pack("{s:s, s:s, s:n, s:s}", "type", type, "status", status, "lastProbeTime",
                              "lastTransitionTime", since ? since : now);
        if (v->reason)
                json_object_set_new(c, "reason", json_string(v->reason));
        if (v->message)
                json_object_set_new(c, "message", json_string(v->message));
        json_array_append_new(conds, c);
}

/* Go's %s of a []string: "[a b c]". */
static char *names_list(char **names)
{
        _cleanup_free_ char *joined = strv_join(names, " ");
        return strdup_printf("[%s]", joined);
}

bool pod_phase_terminal(const char *phase)
{
        return phase && (streq(phase, "Succeeded") || streq(phase, "Failed"));
}

bool pod_condition_by_kubelet(const char *type)
{
        static const char *const owned[] = {"PodScheduled", "Ready", "Initialized", "ContainersReady", NULL};
        for (const char *const *o = owned; *o; o++)
                if (streq_ptr(type, *o))
                        return true;
        return false;
}

static bool app_ready(const struct cstatus *c)
{
        return c->present && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING && c->ready;
}

/* GeneratePodInitializedCondition. */
static void initialized_verdict(const struct pod_runtime_status *rs, bool initialized, const char *phase,
                                struct verdict *v)
{
        *v = (struct verdict){.value = true};
        if (streq(phase, "Succeeded")) {
                v->reason = "PodCompleted";
                return;
        }
        if (initialized)
                return;
        _cleanup_strv_free_ char **names = NULL;
        for (size_t i = 0; i < rs->n_init; i++)
                if (!init_succeeded(&rs->init[i]))
                        strv_push(&names, xstrdup(rs->init[i].name));
        _cleanup_free_ char *list = names_list(names);
        *v = (struct verdict){.reason = "ContainersNotInitialized",
                              .message = strdup_printf("containers with incomplete status: %s", list)};
}

/* GenerateContainersReadyCondition. */
static void containers_ready_verdict(const struct pod_runtime_status *rs, const char *phase,
                                     struct verdict *v)
{
        *v = (struct verdict){.value = true};
        if (streq(phase, "Succeeded")) {
                *v = (struct verdict){.reason = "PodCompleted"};
                return;
        }
        _cleanup_strv_free_ char **names = NULL;
        for (size_t i = 0; i < rs->n_app; i++)
                if (!app_ready(&rs->app[i]))
                        strv_push(&names, xstrdup(rs->app[i].name));
        if (!names)
                return;
        _cleanup_free_ char *list = names_list(names);
        *v = (struct verdict){.reason = "ContainersNotReady",
                              .message = strdup_printf("containers with unready status: %s", list)};
}

static const json_t *find_condition(const json_t *conds, const char *type)
{
        const json_t *c;
        size_t i;
        json_array_foreach(conds, i, c)
        {
                if (streq_ptr(json_string_value(json_object_get(c, "type")), type))
                        return c;
        }
        return NULL;
}

/* GeneratePodReadyCondition: the containers, and every readiness gate's condition True. */
static void ready_verdict(const struct pod *pod, const json_t *foreign, const struct verdict *containers,
                          struct verdict *v)
{
        *v = (struct verdict){.value = containers->value,
                              .reason = containers->reason,
                              .message = xstrdup(containers->message)};
        if (!containers->value)
                return;
        _cleanup_strv_free_ char **why = NULL;
        for (char **g = pod->readiness_gates; g && *g; g++) {
                const json_t *c = find_condition(foreign, *g);
                const char *st = json_string_value(json_object_get(c, "status"));
                if (!c)
                        strv_push(&why, strdup_printf("corresponding condition of pod readiness gate \"%s\" "
                                                      "does not exist.",
                                                      *g));
                else if (!streq_ptr(st, "True"))
                        strv_push(&why,
                                  strdup_printf("the status of pod readiness gate \"%s\" is not \"True\", "
                                                "but %s",
                                                *g, st ? st : ""));
        }
        if (!why)
                return;
        free(v->message);
        *v = (struct verdict){.reason = "ReadinessGatesNotReady", .message = strv_join(why, ", ")};
}

/* The conditions someone else wrote into the pod object's status (readiness gates'), kept as they are. */
static json_t *foreign_conditions(const struct pod *pod)
{
        json_t *out = json_array(), *c;
        size_t i;
        json_array_foreach(json_object_get(json_object_get(pod->json, "status"), "conditions"), i, c)
        {
                const char *type = json_string_value(json_object_get(c, "type"));
                if (json_is_object(c) && type && !pod_condition_by_kubelet(type))
                        json_array_append(out, c);
        }
        return out;
}

/* The conditions as upstream's generateAPIPodStatus orders them: the others' first, then the kubelet's. */
static json_t *conditions_json(const struct pod *pod, const struct pod_runtime_status *rs, const json_t *old,
                               bool initialized, const char *phase, const char *now)
{
        json_t *conds = foreign_conditions(pod);
        struct verdict init, ready, containers;
        initialized_verdict(rs, initialized, phase, &init);
        containers_ready_verdict(rs, phase, &containers);
        ready_verdict(pod, conds, &containers, &ready);
        add_condition(conds, old, "Initialized", &init, now);
        add_condition(conds, old, "Ready", &ready, now);
        add_condition(conds, old, "ContainersReady", &containers, now);
        add_condition(conds, old, "PodScheduled", &(struct verdict){.value = true}, now);
        free(init.message);
        free(ready.message);
        free(containers.message);
        return conds;
}

int64_t pod_deadline_left_ms(const struct pod *pod, int64_t start_ns, int64_t now_ns)
{
        if (pod->active_deadline_s < 0 || start_ns <= 0)
                return INT64_MAX;
        /* in milliseconds: a start time far in the future plus 2^31 s must not overflow nanoseconds */
        int64_t deadline_s = MIN(pod->active_deadline_s, (int64_t) INT32_MAX);
        return start_ns / 1000000 + deadline_s * 1000 - now_ns / 1000000;
}

json_t *pod_status_compute(const struct pod *pod, const struct pod_runtime_status *rs, const json_t *old)
{
        char now[64];
        bool initialized = true;
        const char *was = json_string_value(json_object_get(old, "phase"));
        const char *was_reason = json_string_value(json_object_get(old, "reason"));

        format_rfc3339(now_real_ns(), now, sizeof now);
        for (size_t i = 0; i < rs->n_init; i++)
                initialized &= init_succeeded(&rs->init[i]);
        /* App containers that ran in this sandbox end the init phase, as upstream. */
        for (size_t i = 0; i < rs->n_app && !initialized; i++)
                initialized = rs->app[i].present;

        /* The node failing the pod (a deadline) overrides the containers, but not an end reached before. */
        bool evicted = rs->reason && (!pod_phase_terminal(was) || streq_ptr(was_reason, rs->reason));
        const char *phase = evicted ? "Failed" : compute_phase(pod, rs, initialized);
        /* Succeeded and Failed are final (upstream refuses the transition): when the containers that told so
         * are gone, the pod keeps the status it ended with. */
        if (pod_phase_terminal(was) && !streq(phase, was))
                return json_deep_copy(old);

        json_t *st = json_object();
        json_object_set_new(st, "phase", json_string(phase));
        if (evicted) {
                json_object_set_new(st, "reason", json_string(rs->reason));
                json_object_set_new(st, "message", json_string(rs->message));
        } else if (rs->blocked_reason) {
                json_object_set_new(st, "reason", json_string(rs->blocked_reason));
                json_object_set_new(st, "message", json_string(rs->blocked_message ? rs->blocked_message : ""));
        }
        json_object_set_new(st, "conditions", conditions_json(pod, rs, old, initialized, phase, now));
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

        bool has_init = rs->n_init > 0;
        json_t *apps = json_array();
        if (has_init) {
                json_t *inits = json_array();
                for (size_t i = 0; i < rs->n_init; i++)
                        json_array_append_new(inits, container_status_json(&rs->init[i], true, true));
                json_object_set_new(st, "initContainerStatuses", inits);
        }
        for (size_t i = 0; i < rs->n_app; i++)
                json_array_append_new(apps, container_status_json(&rs->app[i], false, has_init));
        json_object_set_new(st, "containerStatuses", apps);
        json_object_set_new(st, "qosClass", json_string(pod_qos_class(pod)));
        return st;
}
