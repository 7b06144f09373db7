/* The sysctl whitelist (upstream's pkg/kubelet/sysctl): the safe sysctls plus --allowed-unsafe-sysctls
 * patterns, each tied to the kernel namespace it lives in, so a pod sharing the host's one is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "util.h"

#define SYSCTL_MAX_LENGTH  253
#define SYSCTL_PATTERN_FMT "([a-z0-9]([-_a-z0-9]*[a-z0-9])?\\.)*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]"

/* 1.20's SafeSysctlWhitelist (pkg/security/podsecuritypolicy/sysctl). */
const char *const admission_safe_sysctls[] = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                                              "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", NULL};

struct entry {
        char *name; /* a sysctl, or a prefix (the pattern without its '*') */
        const char *ns;
        bool prefix;
};

struct sysctl_whitelist {
        struct entry *entries;
        size_t n;
};

const char *sysctl_namespace(const char *name)
{
        static const char *const ipc_prefixes[] = {"kernel.shm", "kernel.msg", "fs.mqueue.", NULL};
        if (streq(name, "kernel.sem"))
                return "ipc";
        for (const char *const *p = ipc_prefixes; *p; p++)
                if (str_has_prefix(name, *p))
                        return "ipc";
        return str_has_prefix(name, "net.") ? "net" : NULL;
}

static bool lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-_a-z0-9]*[a-z0-9])?, or for the last segment ([a-z0-9][-_a-z0-9]*)?[a-z0-9*]. */
static bool segment_valid(const char *s, size_t n, bool last)
{
        if (n == 0)
                return false;
        if (n == 1)
                return lower_alnum(s[0]) || (last && s[0] == '*');
        if (!lower_alnum(s[0]))
                return false;
        for (size_t i = 1; i + 1 < n; i++)
                if (!lower_alnum(s[i]) && s[i] != '-' && s[i] != '_')
                        return false;
        return lower_alnum(s[n - 1]) || (last && s[n - 1] == '*');
}

bool sysctl_pattern_valid(const char *s)
{
        size_t len = strlen(s);
        if (len == 0 || len > SYSCTL_MAX_LENGTH)
                return false;
        for (const char *seg = s;;) {
                const char *dot = strchr(seg, '.');
                if (!dot)
                        return segment_valid(seg, strlen(seg), true);
                if (!segment_valid(seg, (size_t) (dot - seg), false))
                        return false;
                seg = dot + 1;
        }
}

/* Go's %q for the plain names sysctls are. */
static char *go_quote(const char *s)
{
        size_t n = strlen(s);
        char *out = OOM_CHECK(malloc(4 * n + 3)), *o = out;
        *o++ = '"';
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\') {
                        *o++ = '\\';
                        *o++ = (char) *p;
                } else if (*p < 0x20 || *p >= 0x7f)
                        o += sprintf(o, "\\x%02x", *p);
                else
                        *o++ = (char) *p;
        }
        *o++ = '"';
        *o = 0;
        return out;
}

static void add_entry(struct sysctl_whitelist *w, const char *name, const char *ns, bool prefix)
{
        w->entries = OOM_CHECK(realloc(w->entries, (w->n + 1) * sizeof *w->entries));
        w->entries[w->n++] = (struct entry){xstrdup(name), ns, prefix};
}

/* One pattern of the whitelist, refused as upstream's NewWhitelist refuses it. */
static int add_pattern(struct sysctl_whitelist *w, const char *s, char **ret_err)
{
        _cleanup_free_ char *q = go_quote(s);
        if (!sysctl_pattern_valid(s)) {
                *ret_err = strdup_printf("sysctl %s must have at most %d characters and match regex %s", q,
                                         SYSCTL_MAX_LENGTH, SYSCTL_PATTERN_FMT);
                return -EINVAL;
        }
        size_t n = strlen(s);
        bool prefix = s[n - 1] == '*';
        _cleanup_free_ char *name = OOM_CHECK(strndup(s, prefix ? n - 1 : n));
        const char *ns = sysctl_namespace(name);
        if (!ns) {
                *ret_err = strdup_printf(prefix ? "the sysctls %s are not known to be namespaced"
                                                : "the sysctl %s are not known to be namespaced",
                                         q);
                return -EINVAL;
        }
        add_entry(w, name, ns, prefix);
        return 0;
}

struct sysctl_whitelist *sysctl_whitelist_new(char *const *allowed_unsafe, char **ret_err)
{
        struct sysctl_whitelist *w = OOM_CHECK(calloc(1, sizeof *w));
        for (const char *const *s = admission_safe_sysctls; *s; s++)
                if (add_pattern(w, *s, ret_err) < 0)
                        return sysctl_whitelist_free(w);
        for (char *const *s = allowed_unsafe; s && *s; s++)
                if (add_pattern(w, *s, ret_err) < 0)
                        return sysctl_whitelist_free(w);
        return w;
}

struct sysctl_whitelist *sysctl_whitelist_free(struct sysctl_whitelist *w)
{
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n; i++)
                free(w->entries[i].name);
        free(w->entries);
        free(w);
        return NULL;
}

static char *ns_verdict(const char *name, const char *ns, bool host_net, bool host_ipc)
{
        if ((streq(ns, "ipc") && host_ipc) || (streq(ns, "net") && host_net)) {
                _cleanup_free_ char *q = go_quote(name);
                return strdup_printf("%s not allowed with host %s enabled", q, ns);
        }
        return NULL;
}

char *sysctl_whitelist_check(const struct sysctl_whitelist *w, const char *name, bool host_net,
                             bool host_ipc)
{
        /* Exact names first, then prefixes (upstream's two maps). */
        for (size_t i = 0; i < w->n; i++)
                if (!w->entries[i].prefix && streq(w->entries[i].name, name))
                        return ns_verdict(name, w->entries[i].ns, host_net, host_ipc);
        for (size_t i = 0; i < w->n; i++)
                if (w->entries[i].prefix && str_has_prefix(name, w->entries[i].name))
                        return ns_verdict(name, w->entries[i].ns, host_net, host_ipc);
        _cleanup_free_ char *q = go_quote(name);
        return strdup_printf("%s not whitelisted", q);
}
