/* seccomp profiles compiled with libseccomp before a container is created. */
#include "seccomp_profile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define PROFILE_MAX_BYTES (1u << 20)
#define CACHE_MAX         64

struct seccomp_cache {
        pthread_mutex_t lock;
        struct {
                uint64_t hash;
                char *error; /* NULL: compiles */
        } e[CACHE_MAX];
        size_t n, next;
};

static int fail(char *err, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* "SCMP_ACT_ERRNO" with errnoRet, ... → a libseccomp action. */
static int parse_action(const char *s, json_t *errno_ret, uint32_t *ret)
{
        int e = json_is_integer(errno_ret) ? (int) json_integer_value(errno_ret) : EPERM;
        if (!s)
                return -EINVAL;
        if (streq(s, "SCMP_ACT_ALLOW"))
                *ret = SCMP_ACT_ALLOW;
        else if (streq(s, "SCMP_ACT_ERRNO"))
                *ret = SCMP_ACT_ERRNO((uint16_t) e);
        else if (streq(s, "SCMP_ACT_KILL") || streq(s, "SCMP_ACT_KILL_THREAD"))
                *ret = SCMP_ACT_KILL_THREAD;
        else if (streq(s, "SCMP_ACT_KILL_PROCESS"))
                *ret = SCMP_ACT_KILL_PROCESS;
        else if (streq(s, "SCMP_ACT_TRAP"))
                *ret = SCMP_ACT_TRAP;
        else if (streq(s, "SCMP_ACT_TRACE"))
                *ret = SCMP_ACT_TRACE((uint16_t) e);
        else if (streq(s, "SCMP_ACT_LOG"))
                *ret = SCMP_ACT_LOG;
        else
                return -EINVAL;
        return 0;
}

static int parse_op(const char *s, enum scmp_compare *ret)
{
        static const struct {
                const char *name;
                enum scmp_compare op;
        } ops[] = {{"SCMP_CMP_NE", SCMP_CMP_NE},
                   {"SCMP_CMP_LT", SCMP_CMP_LT},
                   {"SCMP_CMP_LE", SCMP_CMP_LE},
                   {"SCMP_CMP_EQ", SCMP_CMP_EQ},
                   {"SCMP_CMP_GE", SCMP_CMP_GE},
                   {"SCMP_CMP_GT", SCMP_CMP_GT},
                   {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
        for (size_t i = 0; s && i < ELEMENTSOF(ops); i++)
                if (streq(s, ops[i].name)) {
                        *ret = ops[i].op;
                        return 0;
                }
        return -EINVAL;
}

/* "SCMP_ARCH_X86_64" → libseccomp's token ("x86_64"). */
static uint32_t parse_arch(const char *s)
{
        if (!s || !str_has_prefix(s, "SCMP_ARCH_"))
                return 0;
        char tok[32];
        snprintf(tok, sizeof tok, "%s", s + strlen("SCMP_ARCH_"));
        for (char *p = tok; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        return seccomp_arch_resolve_name(tok);
}

static int add_arch(scmp_filter_ctx ctx, json_t *a, const char *path, char *err, size_t errlen)
{
        const char *name = json_string_value(a);
        uint32_t arch = parse_arch(name);
        if (!arch)
                return fail(err, errlen, "%s: unknown architecture \"%s\"", path, name ? name : "");
        int r = seccomp_arch_add(ctx, arch);
        if (r < 0 && r != -EEXIST)
                return fail(err, errlen, "%s: cannot add architecture \"%s\": %s", path, name, strerror(-r));
        return 0;
}

static int add_rule(scmp_filter_ctx ctx, const char *name, uint32_t action, json_t *args, const char *path,
                    const char *action_name, char *err, size_t errlen)
{
        struct scmp_arg_cmp cmp[6];
        unsigned n = 0;
        size_t i;
        json_t *a;
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
                return fail(err, errlen, "%s: unknown syscall \"%s\"", path, name);
        if (json_array_size(args) > ELEMENTSOF(cmp))
                return fail(err, errlen, "%s: at most 6 args", path);
        json_array_foreach(args, i, a)
        {
                enum scmp_compare op;
                json_t *idx = json_object_get(a, "index");
                if (!json_is_integer(idx) || json_integer_value(idx) < 0 || json_integer_value(idx) > 5 ||
                    parse_op(json_string_value(json_object_get(a, "op")), &op) < 0)
                        return fail(err, errlen,
                                    "%s.args[%zu]: needs index 0-5 and an op such as SCMP_CMP_EQ", path, i);
                cmp[n++] = (struct scmp_arg_cmp){
                        .arg = (unsigned) json_integer_value(idx),
                        .op = op,
                        .datum_a = (scmp_datum_t) json_integer_value(json_object_get(a, "value")),
                        .datum_b = (scmp_datum_t) json_integer_value(json_object_get(a, "valueTwo")),
                };
        }
        int r = seccomp_rule_add_array(ctx, action, nr, n, n ? cmp : NULL);
        /* The default action again is a no-op rule libseccomp refuses: runc ignores it, so do we. */
        if (r == -EACCES)
                return 0;
        if (r < 0)
                return fail(err, errlen, "%s: syscall \"%s\" with action %s: %s", path, name, action_name,
                            strerror(-r));
        return 0;
}

int seccomp_compile(const char *text, size_t len, char *err, size_t errlen)
{
        json_error_t je;
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        scmp_filter_ctx ctx = NULL;
        uint32_t def;
        size_t i, j;
        json_t *x, *nm;
        int r = 0;

        if (!root)
                return fail(err, errlen, "line %d, column %d: %s", je.line, je.column, je.text);
        if (!json_is_object(root)) {
                r = fail(err, errlen, "not a seccomp profile: expected an object");
                goto out;
        }
        const char *da = json_string_value(json_object_get(root, "defaultAction"));
        if (parse_action(da, json_object_get(root, "defaultErrnoRet"), &def) < 0) {
                r = fail(err, errlen, "defaultAction: \"%s\" is not a seccomp action", da ? da : "");
                goto out;
        }
        ctx = seccomp_init(def);
        if (!ctx) {
                r = fail(err, errlen, "defaultAction: libseccomp refused \"%s\"", da);
                goto out;
        }
        json_array_foreach(json_object_get(root, "architectures"), i, x)
        {
                char p[64];
                snprintf(p, sizeof p, "architectures[%zu]", i);
                if ((r = add_arch(ctx, x, p, err, errlen)) < 0)
                        goto out;
        }
        json_array_foreach(json_object_get(root, "archMap"), i, x)
        {
                char p[64];
                snprintf(p, sizeof p, "archMap[%zu].architecture", i);
                if ((r = add_arch(ctx, json_object_get(x, "architecture"), p, err, errlen)) < 0)
                        goto out;
        }
        json_t *calls = json_object_get(root, "syscalls");
        if (calls && !json_is_array(calls)) {
                r = fail(err, errlen, "syscalls: expected a list");
                goto out;
        }
        json_array_foreach(calls, i, x)
        {
                char p[96];
                uint32_t action;
                const char *an = json_string_value(json_object_get(x, "action"));
                if (parse_action(an, json_object_get(x, "errnoRet"), &action) < 0) {
                        r = fail(err, errlen, "syscalls[%zu].action: \"%s\" is not a seccomp action", i,
                                 an ? an : "");
                        goto out;
                }
                json_t *names = json_object_get(x, "names"), *one = json_object_get(x, "name");
                if (!json_is_array(names) && !json_is_string(one)) {
                        r = fail(err, errlen, "syscalls[%zu]: needs names (a list) or name", i);
                        goto out;
                }
                if (json_is_string(one)) {
                        snprintf(p, sizeof p, "syscalls[%zu].name", i);
                        if ((r = add_rule(ctx, json_string_value(one), action, json_object_get(x, "args"), p,
                                          an, err, errlen)) < 0)
                                goto out;
                }
                json_array_foreach(names, j, nm)
                {
                        snprintf(p, sizeof p, "syscalls[%zu].names[%zu]", i, j);
                        if (!json_is_string(nm)) {
                                r = fail(err, errlen, "%s: expected a syscall name", p);
                                goto out;
                        }
                        if ((r = add_rule(ctx, json_string_value(nm), action, json_object_get(x, "args"), p,
                                          an, err, errlen)) < 0)
                                goto out;
                }
        }
        /* The whole filter must export as BPF, as the runtime will load it. */
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                int e = seccomp_export_bpf(ctx, fd);
                close(fd);
                if (e < 0)
                        r = fail(err, errlen, "the filter does not compile: %s", strerror(-e));
        }
out:
        if (ctx)
                seccomp_release(ctx);
        json_decref(root);
        return r;
}

struct seccomp_cache *seccomp_cache_new(void)
{
        struct seccomp_cache *c = OOM_CHECK(calloc(1, sizeof *c));
        pthread_mutex_init(&c->lock, NULL);
        return c;
}

struct seccomp_cache *seccomp_cache_free(struct seccomp_cache *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++)
                free(c->e[i].error);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

int seccomp_check_file(struct seccomp_cache *c, const char *path, char *err, size_t errlen)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        char why[512];
        int r = read_file_limit(path, PROFILE_MAX_BYTES, &text, &len);
        if (r < 0) {
                snprintf(err, errlen, "seccomp profile %s: %s", path, strerror(-r));
                return r;
        }
        uint64_t h = hash_fnv1a64(text, len, HASH_FNV_SEED);
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n; i++)
                if (c->e[i].hash == h) {
                        if (c->e[i].error)
                                snprintf(err, errlen, "seccomp profile %s: %s", path, c->e[i].error);
                        r = c->e[i].error ? -EINVAL : 0;
                        pthread_mutex_unlock(&c->lock);
                        return r;
                }
        pthread_mutex_unlock(&c->lock);

        r = seccomp_compile(text, len, why, sizeof why);
        if (r < 0)
                snprintf(err, errlen, "seccomp profile %s: %s", path, why);
        pthread_mutex_lock(&c->lock);
        size_t slot = c->n < CACHE_MAX ? c->n++ : c->next++ % CACHE_MAX;
        free(c->e[slot].error);
        c->e[slot].hash = h;
        c->e[slot].error = r < 0 ? xstrdup(why) : NULL;
        pthread_mutex_unlock(&c->lock);
        return r;
}
