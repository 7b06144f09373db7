/* Small pieces shared by the cni library: error objects, name rules, versions, CNI_ARGS. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cni_internal.h"
#include "util.h"

static const char *const supported_versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};

bool cni_version_supported(const char *version)
{
        if (!version)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(supported_versions); i++)
                if (streq(version, supported_versions[i]))
                        return true;
        return false;
}

int cni__version_cmp(const char *a, const char *b)
{
        int ia = -1, ib = -1;
        for (size_t i = 0; i < ELEMENTSOF(supported_versions); i++) {
                if (a && streq(a, supported_versions[i]))
                        ia = (int) i;
                if (b && streq(b, supported_versions[i]))
                        ib = (int) i;
        }
        return (ia > ib) - (ia < ib);
}

int cni__fail(struct cni_error *err, int r, const char *fmt, ...)
{
        if (err) {
                va_list ap;
                err->code = 0;
                va_start(ap, fmt);
                vsnprintf(err->msg, sizeof err->msg, fmt, ap);
                va_end(ap);
        }
        return r;
}

void cni_error_prefix(struct cni_error *err, const char *fmt, ...)
{
        _cleanup_free_ char *prefix = NULL, *joined = NULL;
        va_list ap;
        int r;

        if (!err)
                return;
        va_start(ap, fmt);
        r = vasprintf(&prefix, fmt, ap);
        va_end(ap);
        if (r < 0)
                xmalloc_oom();
        err->msg[sizeof err->msg - 1] = 0;
        joined = strdup_printf("%s: %s", prefix, err->msg);
        /* Cut at the buffer, not inside a UTF-8 sequence. */
        size_t n = strlen(joined);
        if (n >= sizeof err->msg) {
                n = sizeof err->msg - 1;
                while (n > 0 && ((unsigned char) joined[n] & 0xC0) == 0x80)
                        n--;
        }
        memcpy(err->msg, joined, n);
        err->msg[n] = 0;
}

char **cni_strv_free(char **v)
{
        return strv_free(v);
}

bool cni__valid_name(const char *s)
{
        if (!s || !isalnum((unsigned char) s[0]))
                return false;
        for (const char *p = s + 1; *p; p++)
                if (!isalnum((unsigned char) *p) && *p != '_' && *p != '.' && *p != '-')
                        return false;
        return true;
}

bool cni__valid_ifname(const char *s)
{
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 15 || streq(s, ".") || streq(s, ".."))
                return false;
        for (const char *p = s; *p; p++)
                if (*p == '/' || *p == ':' || isspace((unsigned char) *p) || iscntrl((unsigned char) *p))
                        return false;
        return true;
}

bool cni__valid_type(const char *s)
{
        if (!s || !*s || streq(s, ".") || streq(s, "..") || strlen(s) > 255)
                return false;
        for (const char *p = s; *p; p++)
                if (*p == '/' || *p == '\\' || iscntrl((unsigned char) *p))
                        return false;
        return true;
}

static bool valid_arg_key(const char *k, size_t n)
{
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) k[i]) && k[i] != '_')
                        return false;
        return true;
}

static bool valid_arg_value(const char *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] == '=' || v[i] == ';' || iscntrl((unsigned char) v[i]))
                        return false;
        return true;
}

int cni_args_append(char **args, const char *key, const char *value)
{
        if (!args || !key || !value || !valid_arg_key(key, strlen(key)) ||
            !valid_arg_value(value, strlen(value)))
                return -EINVAL;
        char *n = *args && **args ? strdup_printf("%s;%s=%s", *args, key, value)
                                  : strdup_printf("%s=%s", key, value);
        free(*args);
        *args = n;
        return 0;
}

int cni__args_compose(const char *caller_args, char **ret)
{
        bool has_ignore = false;
        const char *p = caller_args ? caller_args : "";

        /* Each pair K=V: one '=', a key of [A-Za-z0-9_], a value without ';' or controls. Empty pairs are
         * dropped (a trailing ';' is harmless). */
        while (*p) {
                const char *end = strchrnul(p, ';'), *eq = memchr(p, '=', (size_t) (end - p));
                if (end > p) {
                        if (!eq || !valid_arg_key(p, (size_t) (eq - p)) ||
                            !valid_arg_value(eq + 1, (size_t) (end - eq - 1)))
                                return -EINVAL;
                        if ((size_t) (eq - p) == strlen("IgnoreUnknown") && !memcmp(p, "IgnoreUnknown", 13))
                                has_ignore = true;
                }
                p = *end ? end + 1 : end;
        }

        /* Normalised: no empty pairs. */
        _cleanup_free_ char *out = xstrdup(has_ignore ? "" : "IgnoreUnknown=1");
        p = caller_args ? caller_args : "";
        while (*p) {
                const char *end = strchrnul(p, ';');
                if (end > p) {
                        char *n = strdup_printf("%s%s%.*s", out, *out ? ";" : "", (int) (end - p), p);
                        free(out);
                        out = n;
                }
                p = *end ? end + 1 : end;
        }
        *ret = TAKE_PTR(out);
        return 0;
}
