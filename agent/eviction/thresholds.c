/* Eviction signals and thresholds (see thresholds.h). */
#include "thresholds.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "config.h"
#include "pod.h"
#include "util.h"

static const char *const signal_names[EV_SIGNAL_MAX] = {
        [EV_MEMORY_AVAILABLE] = "memory.available",
        [EV_ALLOCATABLE_MEMORY_AVAILABLE] = "allocatableMemory.available",
        [EV_NODEFS_AVAILABLE] = "nodefs.available",
        [EV_NODEFS_INODES_FREE] = "nodefs.inodesFree",
        [EV_IMAGEFS_AVAILABLE] = "imagefs.available",
        [EV_IMAGEFS_INODES_FREE] = "imagefs.inodesFree",
        [EV_PID_AVAILABLE] = "pid.available",
};

const char *ev_signal_name(enum ev_signal s)
{
        return s < EV_SIGNAL_MAX ? signal_names[s] : "unknown";
}

int ev_signal_from_name(const char *name, enum ev_signal *ret)
{
        for (int i = 0; i < EV_SIGNAL_MAX; i++)
                if (streq(name, signal_names[i])) {
                        *ret = (enum ev_signal) i;
                        return 0;
                }
        return -EINVAL;
}

enum ev_condition ev_signal_condition(enum ev_signal s)
{
        switch (s) {
        case EV_MEMORY_AVAILABLE:
        case EV_ALLOCATABLE_MEMORY_AVAILABLE:
                return EV_COND_MEMORY;
        case EV_PID_AVAILABLE:
                return EV_COND_PID;
        default:
                return EV_COND_DISK;
        }
}

enum ev_resource ev_signal_resource(enum ev_signal s)
{
        switch (s) {
        case EV_MEMORY_AVAILABLE:
        case EV_ALLOCATABLE_MEMORY_AVAILABLE:
                return EV_RES_MEMORY;
        case EV_NODEFS_INODES_FREE:
        case EV_IMAGEFS_INODES_FREE:
                return EV_RES_INODES;
        case EV_PID_AVAILABLE:
                return EV_RES_PIDS;
        default:
                return EV_RES_EPHEMERAL;
        }
}

const char *ev_resource_name(enum ev_resource r)
{
        static const char *const n[] = {"memory", "ephemeral-storage", "inodes", "pids"};
        return n[r];
}

const char *ev_condition_name(enum ev_condition c)
{
        static const char *const n[] = {"MemoryPressure", "DiskPressure", "PIDPressure"};
        return n[c];
}

int64_t ev_value_quantity(const struct ev_value *v, int64_t capacity)
{
        if (v->quantity > 0)
                return v->quantity;
        return (int64_t) ((double) capacity * v->fraction);
}

char **ev_default_hard(void)
{
        char **v = NULL;
        strv_push(&v, xstrdup("memory.available=100Mi"));
        strv_push(&v, xstrdup("nodefs.available=10%"));
        strv_push(&v, xstrdup("nodefs.inodesFree=5%"));
        strv_push(&v, xstrdup("imagefs.available=15%"));
        return v;
}

/* "12.5%" → 0.125; false when not a number. */
static bool parse_percentage(const char *s, double *ret)
{
        size_t n = strlen(s);
        char *end;
        if (n < 2 || s[n - 1] != '%')
                return false;
        _cleanup_free_ char *num = strndup(s, n - 1);
        errno = 0;
        double v = strtod(num, &end);
        if (errno || *end || end == num || !isfinite(v))
                return false;
        *ret = v / 100;
        return true;
}

/* A quantity in whole units, rounded up as Go's Quantity.Value (a sign allowed, for the messages). */
static bool parse_units(const char *s, int64_t *ret)
{
        int64_t milli;
        bool neg = s[0] == '-';
        if (parse_quantity_milli(s + (neg || s[0] == '+'), &milli) < 0 || milli < 0)
                return false;
        *ret = milli / 1000 + (milli % 1000 > 0);
        if (neg)
                *ret = -*ret;
        return true;
}

/* A threshold's value; NULL with *ignore when upstream ignores it (0%, 100%). */
static char *threshold_value(const char *signal, const char *val, struct ev_value *ret, bool *ignore)
{
        *ignore = false;
        *ret = (struct ev_value){0};
        if (str_has_suffix(val, "%")) {
                if (streq(val, "0%") || streq(val, "100%"))
                        return *ignore = true, NULL;
                double f;
                if (!parse_percentage(val, &f))
                        return strdup_printf("threshold for signal %s has an invalid percentage \"%s\"",
                                             signal, val);
                if (f < 0)
                        return strdup_printf("eviction percentage threshold %s must be >= 0%%: %s", signal,
                                             val);
                if (f > 1)
                        return strdup_printf("eviction percentage threshold %s must be <= 100%%: %s", signal,
                                             val);
                ret->fraction = f;
                return NULL;
        }
        int64_t q;
        if (!parse_units(val, &q))
                return strdup_printf("threshold for signal %s has an invalid quantity \"%s\" (expected e.g. "
                                     "100Mi or 10%%)",
                                     signal, val);
        if (q <= 0)
                return strdup_printf("eviction threshold %s must be positive: %s", signal, val);
        ret->quantity = q;
        return NULL;
}

static char *reclaim_value(const char *signal, const char *val, struct ev_value *ret)
{
        *ret = (struct ev_value){0};
        if (str_has_suffix(val, "%")) {
                double f;
                if (!parse_percentage(val, &f))
                        return strdup_printf(
                                "minimum reclaim for signal %s has an invalid percentage \"%s\"", signal,
                                val);
                if (f <= 0)
                        return strdup_printf("eviction percentage minimum reclaim %s must be positive: %s",
                                             signal, val);
                ret->fraction = f;
                return NULL;
        }
        int64_t q;
        if (!parse_units(val, &q))
                return strdup_printf("minimum reclaim for signal %s has an invalid quantity \"%s\"", signal,
                                     val);
        if (q < 0)
                return strdup_printf("negative eviction minimum reclaim specified for %s", signal);
        ret->quantity = q;
        if (q == 0)
                ret->fraction = 0; /* "0Mi": no minimum */
        return NULL;
}

static char *grace_value(const char *signal, const char *val, int64_t *ret)
{
        (void) signal;
        if (val[0] == '-')
                return strdup_printf("invalid eviction grace period specified: %s, must be a positive value",
                                     val);
        if (parse_duration_ms(val, ret) < 0)
                return strdup_printf("grace period for signal %s is not a duration: \"%s\" (expected e.g. "
                                     "1m30s)",
                                     signal, val);
        return NULL;
}

char *ev_statement_problem(const char *kind, const char *signal, const char *value)
{
        enum ev_signal s;
        if (ev_signal_from_name(signal, &s) < 0)
                return strdup_printf("unsupported eviction signal %s", signal);
        if (!value)
                return strdup_printf("signal %s has no value", signal);
        struct ev_value v;
        bool ignore;
        int64_t ms;
        if (streq(kind, "grace"))
                return grace_value(signal, value, &ms);
        if (streq(kind, "reclaim"))
                return reclaim_value(signal, value, &v);
        return threshold_value(signal, value, &v, &ignore);
}

/* "signal=value" → its two halves (in a copy the caller frees). */
static char *split_statement(const char *stmt, char **ret_value)
{
        char *copy = xstrdup(stmt), *eq = strchr(copy, '=');
        if (eq)
                *eq++ = 0;
        *ret_value = eq;
        return copy;
}

static char *find_statement(char *const *v, enum ev_signal s, char **ret_copy)
{
        for (; v && *v; v++) {
                char *val, *copy = split_statement(*v, &val);
                enum ev_signal got;
                if (ev_signal_from_name(copy, &got) >= 0 && got == s) {
                        *ret_copy = copy;
                        return val;
                }
                free(copy);
        }
        return NULL;
}

static int check_all(const char *kind, char *const *v, char **ret_err)
{
        for (; v && *v; v++) {
                char *val;
                _cleanup_free_ char *sig = split_statement(*v, &val);
                char *why = ev_statement_problem(kind, sig, val);
                if (why) {
                        *ret_err = why;
                        return -EINVAL;
                }
        }
        return 0;
}

static void push(struct ev_threshold **v, size_t *n, const struct ev_threshold *t)
{
        *v = OOM_CHECK(realloc(*v, (*n + 1) * sizeof **v));
        (*v)[(*n)++] = *t;
}

static int add_thresholds(char *const *stmts, bool soft, const struct ev_statements *st,
                          struct ev_threshold **v, size_t *n, char **ret_err)
{
        for (char *const *p = stmts; p && *p; p++) {
                char *val;
                _cleanup_free_ char *sig = split_statement(*p, &val);
                struct ev_threshold t = {0};
                bool ignore;
                if (ev_signal_from_name(sig, &t.signal) < 0 || !val) {
                        *ret_err = strdup_printf("unsupported eviction signal %s", sig);
                        return -EINVAL;
                }
                char *why = threshold_value(sig, val, &t.value, &ignore);
                if (why) {
                        *ret_err = why;
                        return -EINVAL;
                }
                if (ignore)
                        continue;
                if (soft) {
                        _cleanup_free_ char *copy = NULL;
                        const char *g = find_statement(st->soft_grace, t.signal, &copy);
                        if (!g) {
                                *ret_err = strdup_printf(
                                        "grace period must be specified for the soft eviction threshold %s",
                                        sig);
                                return -EINVAL;
                        }
                        if ((why = grace_value(sig, g, &t.grace_ms))) {
                                *ret_err = why;
                                return -EINVAL;
                        }
                }
                _cleanup_free_ char *copy = NULL;
                const char *mr = find_statement(st->min_reclaim, t.signal, &copy);
                if (mr) {
                        if ((why = reclaim_value(sig, mr, &t.min_reclaim))) {
                                *ret_err = why;
                                return -EINVAL;
                        }
                        t.has_min_reclaim = true;
                }
                push(v, n, &t);
        }
        return 0;
}

int ev_thresholds_parse(const struct ev_statements *st, bool allocatable, struct ev_threshold **ret,
                        size_t *ret_n, char **ret_err)
{
        struct ev_threshold *v = NULL;
        size_t n = 0;
        int r;
        if ((r = check_all("grace", st->soft_grace, ret_err)) < 0 ||
            (r = check_all("reclaim", st->min_reclaim, ret_err)) < 0 ||
            (r = add_thresholds(st->hard, false, st, &v, &n, ret_err)) < 0 ||
            (r = add_thresholds(st->soft, true, st, &v, &n, ret_err)) < 0) {
                free(v);
                return r;
        }
        if (allocatable) {
                size_t n0 = n;
                for (size_t i = 0; i < n0; i++)
                        if (v[i].signal == EV_MEMORY_AVAILABLE && v[i].grace_ms == 0) {
                                struct ev_threshold t = v[i];
                                t.signal = EV_ALLOCATABLE_MEMORY_AVAILABLE;
                                push(&v, &n, &t);
                        }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

char *ev_flag_statement(const char *s)
{
        const char *lt = strchr(s, '<');
        if (!lt)
                return NULL;
        return strdup_printf("%.*s=%s", (int) (lt - s), s, lt + 1);
}

void ev_quantity_string(int64_t v, char *buf, size_t len)
{
        static const char *const bin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        static const char *const dec[] = {"", "k", "M", "G", "T", "P", "E"};
        bool small = v > -1024 && v < 1024;
        int base = small ? 1000 : 1024, e = 0;
        while (v != 0 && v % base == 0 && e < 6) {
                v /= base;
                e++;
        }
        snprintf(buf, len, "%lld%s", (long long) v, small ? dec[e] : bin[e]);
}

char *ev_threshold_format(const struct ev_threshold *t)
{
        char q[64];
        if (t->value.quantity > 0)
                ev_quantity_string(t->value.quantity, q, sizeof q);
        else
                snprintf(q, sizeof q, "%g%%", t->value.fraction * 100);
        return strdup_printf("%s<%s", ev_signal_name(t->signal), q);
}
