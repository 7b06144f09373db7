/* Plugin success results: parsing and checking (0.3.0 to 1.0.0 shapes), encoding for a version, pod IPs. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cni_internal.h"
#include "util.h"

struct cni_result *cni_result_free(struct cni_result *r)
{
        if (!r)
                return NULL;
        free(r->cni_version);
        for (size_t i = 0; i < r->n_interfaces; i++) {
                free(r->interfaces[i].name);
                free(r->interfaces[i].mac);
                free(r->interfaces[i].sandbox);
        }
        free(r->interfaces);
        for (size_t i = 0; i < r->n_ips; i++) {
                free(r->ips[i].address);
                free(r->ips[i].gateway);
        }
        free(r->ips);
        for (size_t i = 0; i < r->n_routes; i++) {
                free(r->routes[i].dst);
                free(r->routes[i].gw);
        }
        free(r->routes);
        strv_free(r->dns.nameservers);
        free(r->dns.domain);
        strv_free(r->dns.search);
        strv_free(r->dns.options);
        free(r->json);
        free(r);
        return NULL;
}

/* "10.1.0.5" or "fd00::1" → normalised text and family (4/6); -EINVAL otherwise. */
static int parse_ip(const char *s, char out[46], int *family)
{
        unsigned char bin[16];
        if (inet_pton(AF_INET, s, bin) == 1) {
                *family = 4;
                return inet_ntop(AF_INET, bin, out, 46) ? 0 : -EINVAL;
        }
        if (inet_pton(AF_INET6, s, bin) == 1) {
                *family = 6;
                return inet_ntop(AF_INET6, bin, out, 46) ? 0 : -EINVAL;
        }
        return -EINVAL;
}

/* "10.1.0.5/16" → address, prefix length, family. */
static int parse_cidr(const char *s, char ip[46], int *prefix, int *family)
{
        const char *slash = strchr(s, '/');
        char addr[64];
        int n = 0;

        if (!slash || (size_t) (slash - s) >= sizeof addr || !slash[1] || strlen(slash + 1) > 3)
                return -EINVAL;
        memcpy(addr, s, (size_t) (slash - s));
        addr[slash - s] = 0;
        for (const char *p = slash + 1; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                n = n * 10 + (*p - '0');
        }
        if (parse_ip(addr, ip, family) < 0 || n > (*family == 4 ? 32 : 128))
                return -EINVAL;
        *prefix = n;
        return 0;
}

static int bad_field(struct cni_error *err, const char *fmt, ...) _printf_(2, 3);
static int bad_field(struct cni_error *err, const char *fmt, ...)
{
        if (err) {
                va_list ap;
                err->code = 0;
                va_start(ap, fmt);
                vsnprintf(err->msg, sizeof err->msg, fmt, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

/* An optional string member: NULL when absent or null; -EBADMSG when another type. */
static int opt_string(json_t *o, const char *key, char **ret)
{
        json_t *v = json_object_get(o, key);
        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return -EBADMSG;
        *ret = xstrdup(json_string_value(v));
        return 0;
}

static int string_list(json_t *o, const char *key, char ***ret)
{
        json_t *v = json_object_get(o, key), *it;
        size_t i;
        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return -EBADMSG;
        char **l = OOM_CHECK(calloc(1, sizeof(char *)));
        json_array_foreach(v, i, it)
        {
                if (!json_is_string(it)) {
                        strv_free(l);
                        return -EBADMSG;
                }
                strv_push(&l, xstrdup(json_string_value(it)));
        }
        *ret = l;
        return 0;
}

/* An optional array member: NULL (size 0) when absent or null. */
static int opt_array(json_t *o, const char *key, json_t **ret)
{
        json_t *v = json_object_get(o, key);
        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int parse_interfaces(json_t *arr, struct cni_result *r, struct cni_error *err)
{
        json_t *it;
        size_t i;

        r->interfaces = OOM_CHECK(calloc(json_array_size(arr) + 1, sizeof *r->interfaces));
        json_array_foreach(arr, i, it)
        {
                struct cni_interface *f = &r->interfaces[i];
                json_t *name = json_object_get(it, "name");
                if (!json_is_object(it))
                        return bad_field(err, "interfaces[%zu]: not an object", i);
                r->n_interfaces = i + 1;
                if (!json_is_string(name) || !*json_string_value(name))
                        return bad_field(err, "interfaces[%zu].name: missing or not a string", i);
                f->name = xstrdup(json_string_value(name));
                if (opt_string(it, "mac", &f->mac) < 0)
                        return bad_field(err, "interfaces[%zu].mac: not a string", i);
                if (opt_string(it, "sandbox", &f->sandbox) < 0)
                        return bad_field(err, "interfaces[%zu].sandbox: not a string", i);
                if (f->sandbox && !*f->sandbox)
                        f->sandbox = cni__mfree(f->sandbox);
        }
        return 0;
}

static int parse_ips(json_t *arr, struct cni_result *r, struct cni_error *err)
{
        json_t *it;
        size_t i;

        r->ips = OOM_CHECK(calloc(json_array_size(arr) + 1, sizeof *r->ips));
        json_array_foreach(arr, i, it)
        {
                struct cni_ip *ip = &r->ips[i];
                json_t *addr = json_object_get(it, "address"), *iface = json_object_get(it, "interface"),
                       *ver = json_object_get(it, "version");
                char gw[46];
                int fam;

                if (!json_is_object(it))
                        return bad_field(err, "ips[%zu]: not an object", i);
                r->n_ips = i + 1;
                ip->interface = -1;
                if (!json_is_string(addr))
                        return bad_field(err, "ips[%zu].address: missing or not a string", i);
                ip->address = xstrdup(json_string_value(addr));
                if (parse_cidr(ip->address, ip->ip, &ip->prefix_len, &ip->family) < 0)
                        return bad_field(err,
                                         "ips[%zu].address: \"%s\" is not an IP address in CIDR notation", i,
                                         ip->address);
                /* 0.3.x/0.4.0 say the family again; it must agree. */
                if (ver && !json_is_null(ver)) {
                        const char *v = json_string_value(ver);
                        if (!v || (!streq(v, "4") && !streq(v, "6")))
                                return bad_field(err, "ips[%zu].version: must be \"4\" or \"6\"", i);
                        if ((v[0] - '0') != ip->family)
                                return bad_field(err, "ips[%zu].version: \"%s\" but the address is IPv%d", i,
                                                 v, ip->family);
                }
                if (opt_string(it, "gateway", &ip->gateway) < 0)
                        return bad_field(err, "ips[%zu].gateway: not a string", i);
                if (ip->gateway && !*ip->gateway)
                        ip->gateway = cni__mfree(ip->gateway);
                if (ip->gateway && parse_ip(ip->gateway, gw, &fam) < 0)
                        return bad_field(err, "ips[%zu].gateway: \"%s\" is not an IP address", i,
                                         ip->gateway);
                if (iface && !json_is_null(iface)) {
                        if (!json_is_integer(iface))
                                return bad_field(err, "ips[%zu].interface: not an integer", i);
                        json_int_t idx = json_integer_value(iface);
                        if (idx < 0 || (size_t) idx >= r->n_interfaces)
                                return bad_field(
                                        err, "ips[%zu].interface: index %lld out of range (%zu interfaces)",
                                        i, (long long) idx, r->n_interfaces);
                        ip->interface = (int) idx;
                }
        }
        return 0;
}

static int parse_routes(json_t *arr, struct cni_result *r, struct cni_error *err)
{
        json_t *it;
        size_t i;

        r->routes = OOM_CHECK(calloc(json_array_size(arr) + 1, sizeof *r->routes));
        json_array_foreach(arr, i, it)
        {
                struct cni_route *rt = &r->routes[i];
                json_t *dst = json_object_get(it, "dst");
                char ip[46];
                int prefix, fam, gfam;

                if (!json_is_object(it))
                        return bad_field(err, "routes[%zu]: not an object", i);
                r->n_routes = i + 1;
                if (!json_is_string(dst))
                        return bad_field(err, "routes[%zu].dst: missing or not a string", i);
                rt->dst = xstrdup(json_string_value(dst));
                if (parse_cidr(rt->dst, ip, &prefix, &fam) < 0)
                        return bad_field(err, "routes[%zu].dst: \"%s\" is not a CIDR", i, rt->dst);
                if (opt_string(it, "gw", &rt->gw) < 0)
                        return bad_field(err, "routes[%zu].gw: not a string", i);
                if (rt->gw && !*rt->gw)
                        rt->gw = cni__mfree(rt->gw);
                if (rt->gw && (parse_ip(rt->gw, ip, &gfam) < 0 || gfam != fam))
                        return bad_field(err, "routes[%zu].gw: \"%s\" is not an IPv%d address", i, rt->gw,
                                         fam);
        }
        return 0;
}

static int parse_dns(json_t *dns, struct cni_result *r, struct cni_error *err)
{
        if (!dns || json_is_null(dns))
                return 0;
        if (!json_is_object(dns))
                return bad_field(err, "dns: not an object");
        if (string_list(dns, "nameservers", &r->dns.nameservers) < 0)
                return bad_field(err, "dns.nameservers: not a list of strings");
        if (opt_string(dns, "domain", &r->dns.domain) < 0)
                return bad_field(err, "dns.domain: not a string");
        if (string_list(dns, "search", &r->dns.search) < 0)
                return bad_field(err, "dns.search: not a list of strings");
        if (string_list(dns, "options", &r->dns.options) < 0)
                return bad_field(err, "dns.options: not a list of strings");
        return 0;
}

int cni__result_from_json(json_t *root, struct cni_result **ret, struct cni_error *err)
{
        _cleanup_(cni_result_freep) struct cni_result *r = NULL;
        json_t *version, *interfaces, *ips, *routes;
        int k;

        if (!json_is_object(root))
                return bad_field(err, "result: not a JSON object");
        version = json_object_get(root, "cniVersion");
        if (!json_is_string(version))
                return bad_field(err, "cniVersion: missing or not a string");
        if (!cni_version_supported(json_string_value(version)))
                return bad_field(err, "cniVersion: unsupported result version \"%s\"",
                                 json_string_value(version));
        if (json_is_integer(json_object_get(root, "code")) && !json_object_get(root, "ips") &&
            !json_object_get(root, "interfaces"))
                return bad_field(err, "result: is an error object (code %lld)",
                                 (long long) json_integer_value(json_object_get(root, "code")));

        r = OOM_CHECK(calloc(1, sizeof *r));
        r->cni_version = xstrdup(json_string_value(version));
        if ((k = opt_array(root, "interfaces", &interfaces)) < 0)
                return bad_field(err, "interfaces: not a list");
        if ((k = opt_array(root, "ips", &ips)) < 0)
                return bad_field(err, "ips: not a list");
        if ((k = opt_array(root, "routes", &routes)) < 0)
                return bad_field(err, "routes: not a list");
        if (interfaces && (k = parse_interfaces(interfaces, r, err)) < 0)
                return k;
        if (ips && (k = parse_ips(ips, r, err)) < 0)
                return k;
        if (routes && (k = parse_routes(routes, r, err)) < 0)
                return k;
        if ((k = parse_dns(json_object_get(root, "dns"), r, err)) < 0)
                return k;
        r->json = OOM_CHECK(json_dumps(root, JSON_COMPACT));
        *ret = TAKE_PTR(r);
        return 0;
}

int cni_result_parse(const char *data, size_t len, struct cni_result **ret, struct cni_error *err)
{
        json_error_t jerr;
        _cleanup_json_ json_t *root = json_loadb(data, len, 0, &jerr);

        if (!root)
                return bad_field(err, "result: invalid JSON at line %d column %d: %s", jerr.line,
                                 jerr.column, jerr.text);
        return cni__result_from_json(root, ret, err);
}

static json_t *strv_json(char *const *v)
{
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

json_t *cni__result_to_json(const struct cni_result *r, const char *version)
{
        bool with_ip_version = cni__version_cmp(version, "1.0.0") < 0;
        json_t *o = json_object(), *dns = json_object();

        json_object_set_new(o, "cniVersion", json_string(version));
        if (r->n_interfaces > 0) {
                json_t *a = json_array();
                for (size_t i = 0; i < r->n_interfaces; i++) {
                        const struct cni_interface *f = &r->interfaces[i];
                        json_t *e = json_pack("{ss}", "name", f->name);
                        if (f->mac)
                                json_object_set_new(e, "mac", json_string(f->mac));
                        if (f->sandbox)
                                json_object_set_new(e, "sandbox", json_string(f->sandbox));
                        json_array_append_new(a, e);
                }
                json_object_set_new(o, "interfaces", a);
        }
        if (r->n_ips > 0) {
                json_t *a = json_array();
                for (size_t i = 0; i < r->n_ips; i++) {
                        const struct cni_ip *ip = &r->ips[i];
                        json_t *e = json_object();
                        if (with_ip_version)
                                json_object_set_new(e, "version", json_string(ip->family == 6 ? "6" : "4"));
                        json_object_set_new(e, "address", json_string(ip->address));
                        if (ip->gateway)
                                json_object_set_new(e, "gateway", json_string(ip->gateway));
                        if (ip->interface >= 0)
                                json_object_set_new(e, "interface", json_integer(ip->interface));
                        json_array_append_new(a, e);
                }
                json_object_set_new(o, "ips", a);
        }
        if (r->n_routes > 0) {
                json_t *a = json_array();
                for (size_t i = 0; i < r->n_routes; i++) {
                        json_t *e = json_pack("{ss}", "dst", r->routes[i].dst);
                        if (r->routes[i].gw)
                                json_object_set_new(e, "gw", json_string(r->routes[i].gw));
                        json_array_append_new(a, e);
                }
                json_object_set_new(o, "routes", a);
        }
        if (r->dns.nameservers)
                json_object_set_new(dns, "nameservers", strv_json(r->dns.nameservers));
        if (r->dns.domain)
                json_object_set_new(dns, "domain", json_string(r->dns.domain));
        if (r->dns.search)
                json_object_set_new(dns, "search", strv_json(r->dns.search));
        if (r->dns.options)
                json_object_set_new(dns, "options", strv_json(r->dns.options));
        json_object_set_new(o, "dns", dns);
        return o;
}

int cni_result_encode(const struct cni_result *r, const char *version, char **ret)
{
        if (!cni_version_supported(version))
                return -EINVAL;
        _cleanup_json_ json_t *o = cni__result_to_json(r, version);
        *ret = OOM_CHECK(json_dumps(o, JSON_COMPACT));
        return 0;
}

int cni_result_pod_ips(const struct cni_result *r, const char *ifname, char ***ret)
{
        const char *v4 = NULL, *v6 = NULL;
        char **l = OOM_CHECK(calloc(1, sizeof(char *)));
        int n = 0;

        for (size_t i = 0; i < r->n_ips; i++) {
                const struct cni_ip *ip = &r->ips[i];
                bool match;
                if (r->n_interfaces == 0)
                        match = ip->interface < 0;
                else
                        match = ip->interface >= 0 && r->interfaces[ip->interface].sandbox && ifname &&
                                streq(r->interfaces[ip->interface].name, ifname);
                if (!match)
                        continue;
                if (ip->family == 4 && !v4) {
                        v4 = ip->ip;
                        strv_push(&l, xstrdup(v4));
                        n++;
                } else if (ip->family == 6 && !v6) {
                        v6 = ip->ip;
                        strv_push(&l, xstrdup(v6));
                        n++;
                }
        }
        *ret = l;
        return n;
}
