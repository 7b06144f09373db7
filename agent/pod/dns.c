/* A pod's names as upstream's kubelet gives them: resolver configuration, hostname and domain, /etc/hosts. */
#include "dns.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* The resolver's limits, as the API server's validation names them (glibc reads no more). */
#define MAX_DNS_NAMESERVERS   3
#define MAX_DNS_SEARCH_PATHS  6
#define MAX_DNS_SEARCH_CHARS  256
#define MAX_RESOLV_CONF_BYTES (10 << 20)
#define MAX_HOSTNAME_LEN      63 /* the kernel's nodename is 64 bytes with its NUL */
#define MAX_FQDN_LEN          64
#define MANAGED_HOSTS_HEADER  "# Kubernetes-managed hosts file.\n"
#define HOST_NET_HOSTS_HEADER "# Kubernetes-managed hosts file (host network).\n"
#define SPACES                " \t\r\n\v\f"

void resolv_done(struct resolv *r)
{
        r->servers = strv_free(r->servers);
        r->searches = strv_free(r->searches);
        r->options = strv_free(r->options);
}

static bool strv_has(char *const *v, const char *s)
{
        for (; v && *v; v++)
                if (streq(*v, s))
                        return true;
        return false;
}

/* Appends what *dst does not have yet (upstream's omitDuplicates over the joined list). */
static void strv_add_unique(char ***dst, char *const *src)
{
        for (; src && *src; src++)
                if (!strv_has(*dst, *src))
                        strv_push(dst, xstrdup(*src));
}

static char **strv_copy(char *const *v)
{
        char **out = NULL;
        for (; v && *v; v++)
                strv_push(&out, xstrdup(*v));
        return out;
}

static void strv_truncate(char **v, size_t n)
{
        for (size_t i = n; v && v[i]; i++) {
                free(v[i]);
                v[i] = NULL;
        }
}

int resolv_parse(const char *text, struct resolv *ret, char **ret_err)
{
        _cleanup_free_ char *copy = xstrdup(text);
        struct resolv r = {0};
        bool empty_nameserver = false;
        char *save = NULL;

        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                _cleanup_strv_free_ char **f = NULL;
                char *s2 = NULL;
                line += strspn(line, SPACES);
                if (line[0] == '#')
                        continue;
                for (char *w = strtok_r(line, SPACES, &s2); w; w = strtok_r(NULL, SPACES, &s2))
                        strv_push(&f, xstrdup(w));
                if (!f)
                        continue;
                if (streq(f[0], "nameserver")) {
                        if (f[1])
                                strv_push(&r.servers, xstrdup(f[1]));
                        else
                                empty_nameserver = true;
                } else if (streq(f[0], "search")) {
                        /* The last line wins; "a." and "a" count once against the limits. */
                        r.searches = strv_free(r.searches);
                        for (size_t i = 1; f[i]; i++) {
                                size_t n = strlen(f[i]);
                                strv_push(&r.searches, n && f[i][n - 1] == '.'
                                                               ? OOM_CHECK(strndup(f[i], n - 1))
                                                               : xstrdup(f[i]));
                        }
                } else if (streq(f[0], "options")) {
                        r.options = strv_free(r.options);
                        for (size_t i = 1; f[i]; i++)
                                strv_push(&r.options, xstrdup(f[i]));
                }
        }
        *ret = r;
        if (empty_nameserver) {
                /* upstream's text, trailing space included; its error list collapses repeats to one */
                *ret_err = xstrdup("nameserver list is empty ");
                return -EINVAL;
        }
        return 0;
}

/* An open failure as Go words it: "open /x: no such file or directory". */
static char *open_error(const char *path, int r)
{
        char *msg = strdup_printf("open %s: %s", path, strerror(-r));
        char *e = msg + strlen(path) + 7;
        *e = (char) tolower((unsigned char) *e);
        return msg;
}

/* The node's resolver configuration, or none without resolvConf. */
static int read_host_resolv(const char *path, struct resolv *ret, char **ret_err)
{
        _cleanup_free_ char *buf = NULL;
        *ret = (struct resolv){0};
        if (!path || !path[0])
                return 0;
        int r = read_file_limit(path, MAX_RESOLV_CONF_BYTES, &buf, NULL);
        if (r == -EFBIG) {
                *ret_err = xstrdup("the read limit is reached");
                return r;
        }
        if (r < 0) {
                *ret_err = open_error(path, r);
                return r;
        }
        r = resolv_parse(buf, ret, ret_err);
        if (r < 0)
                resolv_done(ret);
        return r;
}

static void add_event(char ***events, const char *reason, char *msg)
{
        strv_push(events, xstrdup(reason));
        strv_push(events, msg);
}

/* upstream's format.Pod: "name_namespace(uid)" */
static char *pod_desc(const struct pod *pod)
{
        return strdup_printf("%s_%s(%s)", pod->name, pod->namespace, pod->uid ? pod->uid : "");
}

enum dns_type { DNS_CLUSTER, DNS_HOST, DNS_NONE };

static enum dns_type dns_type_of(const struct pod *pod)
{
        if (streq_ptr(pod->dns_policy, "None"))
                return DNS_NONE;
        if (streq_ptr(pod->dns_policy, "ClusterFirstWithHostNet"))
                return DNS_CLUSTER;
        if (streq_ptr(pod->dns_policy, "Default"))
                return DNS_HOST;
        /* ClusterFirst: a hostNetwork pod gets the node's resolver. Validation refuses anything else. */
        return pod->host_network ? DNS_HOST : DNS_CLUSTER;
}

/* "<ns>.svc.<domain> svc.<domain> <domain>" before the node's own search domains. */
static char **cluster_searches(const char *domain, const char *ns, char *const *host)
{
        char **out = NULL;
        if (!domain || !domain[0])
                return strv_copy(host);
        strv_push(&out, strdup_printf("%s.svc.%s", ns, domain));
        strv_push(&out, strdup_printf("svc.%s", domain));
        strv_push(&out, xstrdup(domain));
        strv_add_unique(&out, host);
        return out;
}

static bool option_named(const char *opt, const char *name, size_t n)
{
        return strncmp(opt, name, n) == 0 && (opt[n] == 0 || opt[n] == ':');
}

/* Options are a map upstream (name, or name:value): one entry per name, the later value winning, and the
 * pod's options over the base's. Kept in first-seen order where upstream's order is a map's. */
static void merge_options(char ***options, const struct pod_dns_config *dc)
{
        char **merged = NULL;
        for (char **p = *options; p && *p; p++) {
                size_t n = strcspn(*p, ":");
                char *opt = (*p)[n] == ':' && (*p)[n + 1] ? xstrdup(*p) : OOM_CHECK(strndup(*p, n));
                bool replaced = false;
                for (char **m = merged; m && *m && !replaced; m++)
                        if (option_named(*m, opt, n)) {
                                free(*m);
                                *m = opt;
                                replaced = true;
                        }
                if (!replaced)
                        strv_push(&merged, opt);
        }
        for (size_t i = 0; i < dc->n_options; i++) {
                const struct dns_option *o = &dc->options[i];
                char *opt = o->value && o->value[0] ? strdup_printf("%s:%s", o->name, o->value)
                                                    : xstrdup(o->name);
                bool replaced = false;
                for (char **m = merged; m && *m && !replaced; m++)
                        if (option_named(*m, o->name, strlen(o->name))) {
                                free(*m);
                                *m = opt;
                                replaced = true;
                        }
                if (!replaced)
                        strv_push(&merged, opt);
        }
        strv_free(*options);
        *options = merged;
}

/* Cuts to the resolver's limits, with upstream's Warning events. */
static void fit_limits(struct resolv *r, char ***events)
{
        if (strv_length(r->servers) > MAX_DNS_NAMESERVERS) {
                strv_truncate(r->servers, MAX_DNS_NAMESERVERS);
                _cleanup_free_ char *line = strv_join(r->servers, " ");
                char *msg = strdup_printf("Nameserver limits were exceeded, some nameservers have been "
                                          "omitted, the applied nameserver line is: %s",
                                          line);
                log_error("Nameserver limits exceeded", "err=\"%s\"", log_q(msg));
                add_event(events, "DNSConfigForming", msg);
        }
        bool exceeded = false;
        if (strv_length(r->searches) > MAX_DNS_SEARCH_PATHS) {
                strv_truncate(r->searches, MAX_DNS_SEARCH_PATHS);
                exceeded = true;
        }
        _cleanup_free_ char *joined = strv_join(r->searches, " ");
        size_t total = strlen(joined);
        if (total > MAX_DNS_SEARCH_CHARS) {
                /* Whole domains go from the end until the line fits. */
                size_t n = strv_length(r->searches), cut = 0, keep = n;
                while (keep > 0) {
                        cut += strlen(r->searches[keep - 1]) + 1;
                        keep--;
                        if (total - MIN(cut, total) <= MAX_DNS_SEARCH_CHARS)
                                break;
                }
                strv_truncate(r->searches, keep);
                exceeded = true;
        }
        if (exceeded) {
                _cleanup_free_ char *line = strv_join(r->searches, " ");
                char *msg = strdup_printf("Search Line limits were exceeded, some search paths have been "
                                          "omitted, the applied search line is: %s",
                                          line);
                log_error("Search line limits exceeded", "err=\"%s\"", log_q(msg));
                add_event(events, "DNSConfigForming", msg);
        }
}

int pod_dns_config(const struct dns_settings *s, const struct pod *pod, struct resolv *ret,
                   char ***ret_events, char **ret_err)
{
        struct resolv r = {0};
        int err = read_host_resolv(s->resolv_conf, &r, ret_err);
        if (err < 0)
                return err;

        enum dns_type type = dns_type_of(pod);
        bool no_resolv_conf = !s->resolv_conf || !s->resolv_conf[0];
        if (type == DNS_NONE) {
                resolv_done(&r);
        } else if (type == DNS_CLUSTER && s->cluster_dns && s->cluster_dns[0]) {
                /* The cluster's DNS is the only nameserver; it forwards what it does not know. */
                char **searches = cluster_searches(s->cluster_domain, pod->namespace, r.searches);
                resolv_done(&r);
                r.servers = strv_copy(s->cluster_dns);
                r.searches = searches;
                strv_push(&r.options, xstrdup("ndots:5"));
        } else {
                if (type == DNS_CLUSTER) {
                        _cleanup_free_ char *desc = pod_desc(pod);
                        add_event(
                                ret_events, "MissingClusterDNS",
                                strdup_printf("pod: \"%s\". kubelet does not have ClusterDNS IP configured "
                                              "and cannot create Pod using \"ClusterFirst\" policy. "
                                              "Falling back to \"Default\" policy.",
                                              desc));
                }
                if (no_resolv_conf) {
                        /* No resolvConf: the node's own resolver, which "no nameserver" would mean. */
                        bool v6 = s->node_ip && strchr(s->node_ip, ':');
                        strv_push(&r.servers, xstrdup(v6 ? "::1" : "127.0.0.1"));
                        r.searches = strv_free(r.searches);
                        strv_push(&r.searches, xstrdup("."));
                }
        }

        const struct pod_dns_config *dc = pod->dns_config;
        if (dc) {
                struct resolv m = {0};
                strv_add_unique(&m.servers, r.servers);
                strv_add_unique(&m.servers, dc->nameservers);
                strv_add_unique(&m.searches, r.searches);
                strv_add_unique(&m.searches, dc->searches);
                m.options = TAKE_PTR(r.options);
                merge_options(&m.options, dc);
                resolv_done(&r);
                r = m;
        }
        fit_limits(&r, ret_events);
        *ret = r;
        return 0;
}

char *dns_check_resolv_conf(const struct dns_settings *s)
{
        struct resolv r = {0};
        _cleanup_free_ char *err = NULL;
        if (!s->resolv_conf || !s->resolv_conf[0])
                return NULL;
        if (read_host_resolv(s->resolv_conf, &r, &err) < 0)
                return TAKE_PTR(err);
        size_t limit = MAX_DNS_SEARCH_PATHS - (s->cluster_domain && s->cluster_domain[0] ? 3 : 0);
        _cleanup_free_ char *joined = strv_join(r.searches, " ");
        char *msg = NULL;
        if (strv_length(r.searches) > limit)
                msg = strdup_printf("Resolv.conf file '%s' contains search line consisting of more than %zu "
                                    "domains!",
                                    s->resolv_conf, limit);
        else if (strlen(joined) > MAX_DNS_SEARCH_CHARS)
                msg = strdup_printf("Resolv.conf file '%s' contains search line which length is more than "
                                    "allowed %d chars!",
                                    s->resolv_conf, MAX_DNS_SEARCH_CHARS);
        resolv_done(&r);
        return msg;
}

int pod_hostname_domain(const struct pod *pod, const char *cluster_domain, char **ret_hostname,
                        char **ret_domain, char **ret_err)
{
        const char *name = pod->hostname && pod->hostname[0] ? pod->hostname : pod->name;
        _cleanup_free_ char *host = xstrdup(name);
        if (strlen(host) > MAX_HOSTNAME_LEN) {
                host[MAX_HOSTNAME_LEN] = 0;
                log_error("Hostname for pod was longer than 63 characters, truncated",
                          "pod=\"%s/%s\" hostname=\"%s\"", pod->namespace, pod->name, host);
                /* A hostname does not end in '-' or '.'. */
                for (size_t n = strlen(host); n > 0 && (host[n - 1] == '-' || host[n - 1] == '.'); n--)
                        host[n - 1] = 0;
                if (!host[0]) {
                        *ret_err = strdup_printf("hostname for pod \"%s\" was invalid: \"%s\"", pod->name,
                                                 name);
                        return -EINVAL;
                }
        }
        /* With no cluster domain the name still ends in "svc.", as upstream writes it. */
        *ret_domain = pod->subdomain && pod->subdomain[0]
                              ? strdup_printf("%s.%s.svc.%s", pod->subdomain, pod->namespace,
                                              cluster_domain ? cluster_domain : "")
                              : xstrdup("");
        *ret_hostname = TAKE_PTR(host);
        return 0;
}

int pod_kernel_hostname(const struct pod *pod, const char *cluster_domain, char **ret, char **ret_err)
{
        _cleanup_free_ char *host = NULL, *domain = NULL;
        int r = pod_hostname_domain(pod, cluster_domain, &host, &domain, ret_err);
        if (r < 0)
                return r;
        if (!domain[0] || !pod->set_hostname_as_fqdn) {
                *ret = TAKE_PTR(host);
                return 0;
        }
        char *fqdn = strdup_printf("%s.%s", host, domain);
        if (strlen(fqdn) > MAX_FQDN_LEN) {
                *ret_err =
                        strdup_printf("failed to construct FQDN from pod hostname and cluster domain, FQDN "
                                      "%s is too long (%d characters is the max, %zu characters requested)",
                                      fqdn, MAX_FQDN_LEN, strlen(fqdn));
                free(fqdn);
                return -EINVAL;
        }
        *ret = fqdn;
        return 0;
}

/* "\n# Entries added by HostAliases.\n" and one line per alias: the IP, then its names, tab-separated. */
static void append_host_aliases(char **buf, const struct pod *pod)
{
        if (pod->n_host_aliases == 0)
                return;
        _cleanup_free_ char *old = *buf;
        size_t len = strlen(old) + 64;
        for (size_t i = 0; i < pod->n_host_aliases; i++) {
                len += strlen(pod->host_aliases[i].ip ? pod->host_aliases[i].ip : "") + 2;
                for (char **h = pod->host_aliases[i].hostnames; h && *h; h++)
                        len += strlen(*h) + 1;
        }
        char *out = OOM_CHECK(malloc(len)), *o = out;
        o += sprintf(o, "%s\n# Entries added by HostAliases.\n", old);
        for (size_t i = 0; i < pod->n_host_aliases; i++) {
                const struct host_alias *a = &pod->host_aliases[i];
                o += sprintf(o, "%s\t", a->ip ? a->ip : "");
                for (char **h = a->hostnames; h && *h; h++)
                        o += sprintf(o, "%s%s", h == a->hostnames ? "" : "\t", *h);
                *o++ = '\n';
                *o = 0;
        }
        *buf = out;
}

char *hosts_managed_content(char *const *ips, const char *hostname, const char *domain,
                            const struct pod *pod)
{
        _cleanup_free_ char *lines = xstrdup("");
        for (char *const *ip = ips; ip && *ip; ip++) {
                char *next = domain && domain[0] ? strdup_printf("%s%s\t%s.%s\t%s\n", lines, *ip, hostname,
                                                                 domain, hostname)
                                                 : strdup_printf("%s%s\t%s\n", lines, *ip, hostname);
                free(lines);
                lines = next;
        }
        char *out = strdup_printf(MANAGED_HOSTS_HEADER "127.0.0.1\tlocalhost\n"
                                                       "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                                       "fe00::0\tip6-localnet\n"
                                                       "fe00::0\tip6-mcastprefix\n"
                                                       "fe00::1\tip6-allnodes\n"
                                                       "fe00::2\tip6-allrouters\n"
                                                       "%s",
                                  lines);
        append_host_aliases(&out, pod);
        return out;
}

int hosts_node_content(const char *node_hosts, const struct pod *pod, char **ret, char **ret_err)
{
        _cleanup_free_ char *buf = NULL;
        int r = read_file_limit(node_hosts, MAX_RESOLV_CONF_BYTES, &buf, NULL);
        if (r < 0) {
                *ret_err = open_error(node_hosts, r);
                return r;
        }
        char *out = strdup_printf(HOST_NET_HOSTS_HEADER "%s", buf);
        append_host_aliases(&out, pod);
        *ret = out;
        return 0;
}
