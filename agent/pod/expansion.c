/* $(VAR) expansion as upstream's forked golang expansion package: the scanner and its mappings. */
#include "expansion.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "pod.h"
#include "util.h"

struct sbuf {
        char *p;
        size_t len, cap;
};

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                b->cap = MAX(b->len + n + 1, b->cap * 2);
                b->p = OOM_CHECK(realloc(b->p, b->cap));
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = 0;
}

char *expand(const char *s, expand_mapping map, void *userdata)
{
        struct sbuf b = {0};
        size_t n = strlen(s), checkpoint = 0;

        sbuf_add(&b, "", 0);
        for (size_t cur = 0; cur < n; cur++) {
                /* A '$' at the very end is plain text, copied with the rest. */
                if (s[cur] != '$' || cur + 1 == n)
                        continue;
                sbuf_add(&b, s + checkpoint, cur - checkpoint);
                const char *in = s + cur + 1, *close;
                size_t advance = 1;
                if (in[0] == '$') /* "$$": an escaped operator */
                        sbuf_add(&b, "$", 1);
                else if (in[0] == '(' && (close = strchr(in + 1, ')'))) {
                        size_t len = (size_t) (close - in - 1);
                        const char *v = map(userdata, in + 1, len);
                        if (v)
                                sbuf_add(&b, v, strlen(v));
                        else /* undefined: written back as it was */
                                sbuf_add(&b, s + cur, len + 3);
                        advance = len + 2;
                } else if (in[0] == '(') /* unterminated: "$(" stays and scanning goes on after it */
                        sbuf_add(&b, "$(", 2);
                else /* "$" and the next byte, as they are ("$?", "$VAR") */
                        sbuf_add(&b, s + cur, 2);
                cur += advance;
                checkpoint = cur + 1;
        }
        sbuf_add(&b, s + checkpoint, n - checkpoint);
        return b.p;
}

const char *env_lookup(char *const *env, const char *name, size_t len)
{
        const char *found = NULL;
        for (char *const *p = env; p && p[0] && p[1]; p += 2)
                if (strlen(p[0]) == len && memcmp(p[0], name, len) == 0)
                        found = p[1];
        return found;
}

struct two_envs {
        char *const *first, *const *second;
};

static const char *map_two(void *userdata, const char *name, size_t len)
{
        const struct two_envs *e = userdata;
        const char *v = env_lookup(e->first, name, len);
        return v ? v : env_lookup(e->second, name, len);
}

char *expand_env(const char *s, char *const *first, char *const *second)
{
        struct two_envs e = {first, second};
        return expand(s, map_two, &e);
}

struct sub_path_map {
        char *const *env;
        char **missing; /* strv of names */
};

static const char *map_required(void *userdata, const char *name, size_t len)
{
        struct sub_path_map *m = userdata;
        const char *v = env_lookup(m->env, name, len);
        if (v && v[0])
                return v;
        _cleanup_free_ char *n = strndup(name, len);
        for (char **p = m->missing; p && *p; p++)
                if (streq(*p, OOM_CHECK(n)))
                        return "";
        strv_push(&m->missing, TAKE_PTR(n));
        return "";
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int expand_sub_path(const char *expr, char *const *env, char **ret, char *err, size_t errlen)
{
        struct sub_path_map m = {.env = env};
        _cleanup_free_ char *out = expand(expr, map_required, &m);
        if (!m.missing) {
                *ret = TAKE_PTR(out);
                return 0;
        }
        size_t n = strv_length(m.missing), used = 0;
        qsort(m.missing, n, sizeof *m.missing, cmp_str);
        used = (size_t) snprintf(err, errlen, "missing value for ");
        for (size_t i = 0; i < n && used < errlen; i++)
                used += (size_t) snprintf(err + used, errlen - used, "%s%s", i ? ", " : "", m.missing[i]);
        strv_free(m.missing);
        return -EINVAL;
}

int sub_path_check(const char *sub_path, char *err, size_t errlen)
{
        if (sub_path[0] == '/') {
                snprintf(err, errlen, "error SubPath `%s` must not be an absolute path", sub_path);
                return -EINVAL;
        }
        if (path_has_backstep(sub_path)) {
                snprintf(err, errlen, "unable to provision SubPath `%s`: must not contain '..'", sub_path);
                return -EINVAL;
        }
        return 0;
}
