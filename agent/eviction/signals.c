/* Eviction signals and the threshold/condition state (see signals.h). */
#include "signals.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "util.h"

static bool get_i64(const json_t *o, const char *key, int64_t *ret)
{
        json_t *v = json_object_get(o, key);
        if (!json_is_integer(v))
                return false;
        *ret = json_integer_value(v);
        return true;
}

static void observe_memory(const json_t *mem, struct ev_observation *o)
{
        int64_t avail, ws;
        if (get_i64(mem, "availableBytes", &avail) && get_i64(mem, "workingSetBytes", &ws))
                *o = (struct ev_observation){.present = true, .available = avail, .capacity = avail + ws};
}

static void observe_fs(const json_t *fs, struct ev_observation *bytes, struct ev_observation *inodes)
{
        int64_t a, c;
        if (!fs)
                return;
        if (get_i64(fs, "availableBytes", &a) && get_i64(fs, "capacityBytes", &c))
                *bytes = (struct ev_observation){.present = true, .available = a, .capacity = c};
        if (get_i64(fs, "inodesFree", &a) && get_i64(fs, "inodes", &c))
                *inodes = (struct ev_observation){.present = true, .available = a, .capacity = c};
}

static const json_t *pods_container(const json_t *node)
{
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(node, "systemContainers"), i, c)
        {
                if (streq_ptr(json_string_value(json_object_get(c, "name")), "pods"))
                        return c;
        }
        return NULL;
}

void ev_observe(const json_t *summary, struct ev_observation obs[EV_SIGNAL_MAX])
{
        const json_t *node = json_object_get(summary, "node");
        memset(obs, 0, EV_SIGNAL_MAX * sizeof *obs);
        observe_memory(json_object_get(node, "memory"), &obs[EV_MEMORY_AVAILABLE]);
        const json_t *pods = pods_container(node);
        if (pods)
                observe_memory(json_object_get(pods, "memory"), &obs[EV_ALLOCATABLE_MEMORY_AVAILABLE]);
        observe_fs(json_object_get(node, "fs"), &obs[EV_NODEFS_AVAILABLE], &obs[EV_NODEFS_INODES_FREE]);
        const json_t *img = json_object_get(json_object_get(node, "runtime"), "imageFs");
        struct ev_observation ib = {0}, ii = {0};
        observe_fs(img, &ib, &ii);
        /* upstream: imagefs inodes only along with its bytes */
        if (ib.present) {
                obs[EV_IMAGEFS_AVAILABLE] = ib;
                obs[EV_IMAGEFS_INODES_FREE] = ii;
        }
        int64_t max, cur;
        const json_t *rl = json_object_get(node, "rlimit");
        if (get_i64(rl, "maxpid", &max) && get_i64(rl, "curproc", &cur))
                obs[EV_PID_AVAILABLE] =
                        (struct ev_observation){.present = true, .available = max - cur, .capacity = max};
}

bool ev_threshold_met(const struct ev_threshold *t, const struct ev_observation *o, bool with_min_reclaim)
{
        if (!o->present)
                return false;
        int64_t q = ev_value_quantity(&t->value, o->capacity);
        if (with_min_reclaim && t->has_min_reclaim)
                q = add_sat(q, ev_value_quantity(&t->min_reclaim, o->capacity));
        return q > o->available;
}

int ev_memcg_threshold(const json_t *summary, const struct ev_threshold *t, int64_t *ret)
{
        const json_t *node = json_object_get(summary, "node");
        const json_t *mem = t->signal == EV_ALLOCATABLE_MEMORY_AVAILABLE
                                    ? json_object_get(pods_container(node), "memory")
                                    : json_object_get(node, "memory");
        int64_t avail, ws, usage;
        if (!get_i64(mem, "availableBytes", &avail) || !get_i64(mem, "workingSetBytes", &ws) ||
            !get_i64(mem, "usageBytes", &usage))
                return -ENODATA;
        int64_t capacity = avail + ws, inactive = usage > ws ? usage - ws : 0;
        int64_t v = capacity - ev_value_quantity(&t->value, capacity) + inactive;
        if (v <= 0)
                return -ERANGE;
        *ret = v;
        return 0;
}

void ev_state_init(struct ev_state *st, size_t n)
{
        *st = (struct ev_state){.n = n};
        st->first_observed_ms = OOM_CHECK(calloc(n + 1, sizeof *st->first_observed_ms));
        st->met = OOM_CHECK(calloc(n + 1, sizeof *st->met));
}

void ev_state_done(struct ev_state *st)
{
        free(st->first_observed_ms);
        free(st->met);
        *st = (struct ev_state){0};
}

void ev_state_step(struct ev_state *st, const struct ev_threshold *t, const struct ev_observation *obs,
                   int64_t transition_ms, int64_t now_ms, bool *act)
{
        bool observed[EV_COND_MAX] = {false};
        for (size_t i = 0; i < st->n; i++) {
                const struct ev_observation *o = &obs[t[i].signal];
                /* met now, or met before and its minimum reclaim not yet achieved */
                bool met = ev_threshold_met(&t[i], o, false) ||
                           (st->met[i] && ev_threshold_met(&t[i], o, true));
                if (!met) {
                        st->first_observed_ms[i] = 0;
                        act[i] = false;
                        continue;
                }
                if (!st->first_observed_ms[i])
                        st->first_observed_ms[i] = now_ms;
                observed[ev_signal_condition(t[i].signal)] = true;
                act[i] = now_ms - st->first_observed_ms[i] >= t[i].grace_ms;
        }
        for (int c = 0; c < EV_COND_MAX; c++) {
                if (observed[c])
                        st->cond_last_ms[c] = now_ms;
                st->conditions[c] = st->cond_last_ms[c] && now_ms - st->cond_last_ms[c] < transition_ms;
        }
        for (size_t i = 0; i < st->n; i++)
                st->met[i] = act[i];
}

int ev_pick_threshold(const struct ev_threshold *t, size_t n, const bool *act)
{
        int best = -1;
        for (size_t i = 0; i < n; i++) {
                if (!act[i])
                        continue;
                if (ev_signal_resource(t[i].signal) == EV_RES_MEMORY)
                        return (int) i;
                if (best < 0)
                        best = (int) i;
        }
        return best;
}
