/* Unit tests for a pod's names: resolv.conf parsing, the pod's resolver by dnsPolicy and dnsConfig with
 * upstream's limits and events, hostname and domain, the managed /etc/hosts, and the API server's checks of
 * these fields. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "dns.h"
#include "pod.h"
#include "util.h"

static char resolv_path[64];

static int setup(void **state)
{
        (void) state;
        snprintf(resolv_path, sizeof resolv_path, "/tmp/cubelet-test-dns.XXXXXX");
        int fd = mkstemp(resolv_path);
        assert_true(fd >= 0);
        close(fd);
        return 0;
}

static int teardown(void **state)
{
        (void) state;
        unlink(resolv_path);
        return 0;
}

static void write_resolv(const char *text)
{
        assert_int_equal(write_file_atomic(resolv_path, text, strlen(text), 0644), 0);
}

/* A pod from a JSON spec body, defaulted and validated as the API server would. */
static struct pod *pod_with(const char *spec_fields)
{
        _cleanup_free_ char *text = strdup_printf(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":"
                "\"prod\","
                "\"uid\":\"u1\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]%s%s}}",
                spec_fields[0] ? "," : "", spec_fields);
        json_error_t jerr;
        json_t *obj = json_loads(text, 0, &jerr);
        assert_non_null(obj);
        pod_json_apply_defaults(obj);
        struct api_problems pr = {0};
        struct pod *p = pod_from_json(obj, &pr);
        json_decref(obj);
        if (!p) {
                _cleanup_free_ char *e = api_problems_errors(&pr);
                fail_msg("pod refused: %s", e);
        }
        api_problems_clear(&pr);
        return p;
}

/* The errors the pod gets, joined with "; " (caller frees); NULL when it is valid. */
static char *pod_errors(const char *spec_fields)
{
        _cleanup_free_ char *text =
                strdup_printf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\","
                              "\"namespace\":\"prod\"},"
                              "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}],%s}}",
                              spec_fields);
        json_error_t jerr;
        json_t *obj = json_loads(text, 0, &jerr);
        assert_non_null(obj);
        pod_json_apply_defaults(obj);
        struct api_problems pr = {0};
        struct pod *p = pod_from_json(obj, &pr);
        json_decref(obj);
        char *e = api_problems_errors(&pr);
        pod_unref(p);
        api_problems_clear(&pr);
        return e;
}

static char *joined(char **v)
{
        size_t len = 1;
        for (char **p = v; p && *p; p++)
                len += strlen(*p) + 1;
        char *out = calloc(1, len);
        for (char **p = v; p && *p; p++) {
                if (p != v)
                        strcat(out, " ");
                strcat(out, *p);
        }
        return out;
}

#define assert_strv(v, want)                                                                                \
        do {                                                                                                \
                _cleanup_free_ char *_j = joined(v);                                                        \
                assert_string_equal(_j, want);                                                              \
        } while (0)

static void test_resolv_parse(void **state)
{
        (void) state;
        struct resolv r = {0};
        _cleanup_free_ char *err = NULL;
        assert_int_equal(resolv_parse("# comment\n"
                                      "nameserver 10.0.0.1\n"
                                      "  nameserver\t10.0.0.2  # trailing\n"
                                      "search old.example\n"
                                      "search a.example. b.example\n"
                                      "domain ignored.example\n"
                                      "options rotate\n"
                                      "options ndots:2 timeout:1\n",
                                      &r, &err),
                         0);
        assert_strv(r.servers, "10.0.0.1 10.0.0.2");
        assert_strv(r.searches, "a.example b.example"); /* the last line wins; trailing dots go */
        assert_strv(r.options, "ndots:2 timeout:1");
        resolv_done(&r);

        assert_int_equal(resolv_parse("nameserver\nnameserver 1.1.1.1\nnameserver\n", &r, &err), -EINVAL);
        assert_string_equal(err, "nameserver list is empty ");
        assert_strv(r.servers, "1.1.1.1");
        resolv_done(&r);
}

/* The pod's resolver with the test's resolv.conf; events joined as "reason: message|...". */
static int form(const struct dns_settings *s0, const char *spec, struct resolv *r, char **events, char **err)
{
        struct dns_settings s = *s0;
        if (!s.resolv_conf)
                s.resolv_conf = resolv_path;
        _cleanup_pod_ struct pod *p = pod_with(spec);
        _cleanup_strv_free_ char **ev = NULL;
        int ret = pod_dns_config(&s, p, r, &ev, err);
        size_t len = 1;
        for (char **e = ev; e && *e; e++)
                len += strlen(*e) + 3;
        *events = calloc(1, len);
        for (size_t i = 0; ev && ev[i]; i += 2)
                sprintf(*events + strlen(*events), "%s%s: %s", i ? "|" : "", ev[i], ev[i + 1]);
        return ret;
}

static void test_cluster_first(void **state)
{
        (void) state;
        char *dns[] = {"10.96.0.10", NULL};
        struct dns_settings s = {.cluster_dns = dns, .cluster_domain = "cluster.local"};
        struct resolv r = {0};
        _cleanup_free_ char *ev = NULL, *err = NULL;
        write_resolv("nameserver 192.168.1.1\nsearch corp.example svc.cluster.local\noptions edns0\n");

        assert_int_equal(form(&s, "", &r, &ev, &err), 0);
        assert_strv(r.servers, "10.96.0.10");
        assert_strv(r.searches, "prod.svc.cluster.local svc.cluster.local cluster.local corp.example");
        assert_strv(r.options, "ndots:5");
        assert_string_equal(ev, "");
        resolv_done(&r);
        free(ev);

        /* hostNetwork: ClusterFirst is the node's resolver; ClusterFirstWithHostNet the cluster's. */
        assert_int_equal(form(&s, "\"hostNetwork\":true", &r, &ev, &err), 0);
        assert_strv(r.servers, "192.168.1.1");
        assert_strv(r.searches, "corp.example svc.cluster.local");
        assert_strv(r.options, "edns0");
        resolv_done(&r);
        free(ev);
        assert_int_equal(
                form(&s, "\"hostNetwork\":true,\"dnsPolicy\":\"ClusterFirstWithHostNet\"", &r, &ev, &err),
                0);
        assert_strv(r.servers, "10.96.0.10");
        resolv_done(&r);
        free(ev);

        /* No cluster domain: the node's searches alone. */
        s.cluster_domain = NULL;
        assert_int_equal(form(&s, "", &r, &ev, &err), 0);
        assert_strv(r.searches, "corp.example svc.cluster.local");
        resolv_done(&r);
}

static void test_missing_cluster_dns(void **state)
{
        (void) state;
        struct dns_settings s = {.cluster_domain = "cluster.local"};
        struct resolv r = {0};
        _cleanup_free_ char *ev = NULL, *err = NULL;
        write_resolv("nameserver 192.168.1.1\nsearch corp.example\noptions edns0\n");
        assert_int_equal(form(&s, "", &r, &ev, &err), 0);
        assert_strv(r.servers, "192.168.1.1");
        assert_strv(r.searches, "corp.example");
        assert_strv(r.options, "edns0");
        assert_string_equal(
                ev, "MissingClusterDNS: pod: \"web_prod(u1)\". kubelet does not have ClusterDNS IP "
                    "configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to "
                    "\"Default\" policy.");
        resolv_done(&r);
        free(ev);
        /* Default never asks for the cluster's. */
        assert_int_equal(form(&s, "\"dnsPolicy\":\"Default\"", &r, &ev, &err), 0);
        assert_string_equal(ev, "");
        resolv_done(&r);
}

static void test_no_resolv_conf(void **state)
{
        (void) state;
        struct dns_settings s = {.resolv_conf = ""};
        struct resolv r = {0};
        _cleanup_free_ char *ev = NULL, *err = NULL;
        assert_int_equal(form(&s, "\"dnsPolicy\":\"Default\"", &r, &ev, &err), 0);
        assert_strv(r.servers, "127.0.0.1");
        assert_strv(r.searches, ".");
        resolv_done(&r);
        free(ev);
        s.node_ip = "fd00::5";
        assert_int_equal(form(&s, "\"dnsPolicy\":\"Default\"", &r, &ev, &err), 0);
        assert_strv(r.servers, "::1");
        resolv_done(&r);
}

static void test_node_file_errors(void **state)
{
        (void) state;
        struct dns_settings s = {.resolv_conf = "/nonexistent/resolv.conf"};
        struct resolv r = {0};
        _cleanup_free_ char *ev = NULL, *err = NULL;
        /* Even a None pod needs the node's file to be readable, as upstream. */
        assert_true(form(&s, "\"dnsPolicy\":\"None\",\"dnsConfig\":{\"nameservers\":[\"1.1.1.1\"]}", &r, &ev,
                         &err) < 0);
        assert_string_equal(err, "open /nonexistent/resolv.conf: no such file or directory");
        free(ev);
        free(err);
        err = NULL;
        write_resolv("nameserver\n");
        struct dns_settings s2 = {0};
        assert_int_equal(form(&s2, "", &r, &ev, &err), -EINVAL);
        assert_string_equal(err, "nameserver list is empty ");
}

static void test_dns_config_merge(void **state)
{
        (void) state;
        char *dns[] = {"10.96.0.10", NULL};
        struct dns_settings s = {.cluster_dns = dns, .cluster_domain = "cluster.local"};
        struct resolv r = {0};
        _cleanup_free_ char *ev = NULL, *err = NULL;
        write_resolv("nameserver 192.168.1.1\nsearch corp.example\noptions edns0 ndots:1 ndots:3\n");

        /* None: only the pod's own. */
        assert_int_equal(
                form(&s,
                     "\"dnsPolicy\":\"None\",\"dnsConfig\":{\"nameservers\":[\"1.1.1.1\",\"1.1.1.1\"],"
                     "\"searches\":[\"a.example\"],\"options\":[{\"name\":\"ndots\",\"value\":\"2\"},"
                     "{\"name\":\"rotate\"}]}",
                     &r, &ev, &err),
                0);
        assert_strv(r.servers, "1.1.1.1");
        assert_strv(r.searches, "a.example");
        assert_strv(r.options, "ndots:2 rotate");
        resolv_done(&r);
        free(ev);

        /* ClusterFirst: appended without duplicates; an option of the same name takes the pod's value. */
        assert_int_equal(
                form(&s,
                     "\"dnsConfig\":{\"nameservers\":[\"10.96.0.10\",\"8.8.8.8\"],"
                     "\"searches\":[\"svc.cluster.local\",\"b.example\"],"
                     "\"options\":[{\"name\":\"ndots\",\"value\":\"1\"},{\"name\":\"single-request\"}]}",
                     &r, &ev, &err),
                0);
        assert_strv(r.servers, "10.96.0.10 8.8.8.8");
        assert_strv(r.searches,
                    "prod.svc.cluster.local svc.cluster.local cluster.local corp.example b.example");
        assert_strv(r.options, "ndots:1 single-request");
        resolv_done(&r);
        free(ev);

        /* Default: the node's repeated options are one entry (the last value), then the pod's. */
        assert_int_equal(form(&s,
                              "\"dnsPolicy\":\"Default\",\"dnsConfig\":{\"options\":[{\"name\":\"edns0\"}]}",
                              &r, &ev, &err),
                         0);
        assert_strv(r.servers, "192.168.1.1");
        assert_strv(r.options, "edns0 ndots:3");
        resolv_done(&r);
}

static void test_limits(void **state)
{
        (void) state;
        struct dns_settings s = {0};
        struct resolv r = {0};
        _cleanup_free_ char *ev = NULL, *err = NULL;
        write_resolv("nameserver 10.0.0.1\nnameserver 10.0.0.2\nsearch s1 s2 s3 s4 s5\n");
        assert_int_equal(form(&s,
                              "\"dnsPolicy\":\"Default\",\"dnsConfig\":{\"nameservers\":[\"10.0.0.3\","
                              "\"10.0.0.4\"],\"searches\":[\"s6\",\"s7\"]}",
                              &r, &ev, &err),
                         0);
        assert_strv(r.servers, "10.0.0.1 10.0.0.2 10.0.0.3");
        assert_strv(r.searches, "s1 s2 s3 s4 s5 s6");
        assert_string_equal(ev,
                            "DNSConfigForming: Nameserver limits were exceeded, some nameservers have been "
                            "omitted, the applied nameserver line is: 10.0.0.1 10.0.0.2 10.0.0.3|"
                            "DNSConfigForming: Search Line limits were exceeded, some search paths have "
                            "been omitted, the applied search line is: s1 s2 s3 s4 s5 s6");
        resolv_done(&r);
        free(ev);

        /* 256 characters: whole domains go from the end until the line fits. */
        char line[400], a[101], b[101], c[101];
        memset(a, 'a', 100), a[100] = 0;
        memset(b, 'b', 100), b[100] = 0;
        memset(c, 'c', 100), c[100] = 0;
        snprintf(line, sizeof line, "nameserver 10.0.0.1\nsearch %s %s %s\n", a, b, c);
        write_resolv(line);
        assert_int_equal(form(&s, "\"dnsPolicy\":\"Default\"", &r, &ev, &err), 0);
        assert_int_equal(strv_length(r.searches), 2);
        assert_non_null(strstr(ev, "the applied search line is: aaaa"));
        resolv_done(&r);
}

static void test_check_resolv_conf(void **state)
{
        (void) state;
        struct dns_settings s = {.resolv_conf = resolv_path, .cluster_domain = "cluster.local"};
        write_resolv("search a b c\n");
        assert_null(dns_check_resolv_conf(&s));
        write_resolv("search a b c d\n");
        _cleanup_free_ char *w = dns_check_resolv_conf(&s);
        _cleanup_free_ char *want = strdup_printf(
                "Resolv.conf file '%s' contains search line consisting of more than 3 domains!",
                resolv_path);
        assert_string_equal(w, want);
}

static void test_hostname(void **state)
{
        (void) state;
        char *host = NULL, *domain = NULL, *err = NULL;
        struct pod *p = pod_with("\"hostname\":\"db-0\",\"subdomain\":\"db\"");
        assert_int_equal(pod_hostname_domain(p, "cluster.local", &host, &domain, &err), 0);
        assert_string_equal(host, "db-0");
        assert_string_equal(domain, "db.prod.svc.cluster.local");
        free(host), free(domain);
        /* Upstream keeps "svc." with no cluster domain. */
        assert_int_equal(pod_hostname_domain(p, NULL, &host, &domain, &err), 0);
        assert_string_equal(domain, "db.prod.svc.");
        free(host), free(domain);
        assert_int_equal(pod_kernel_hostname(p, "cluster.local", &host, &err), 0);
        assert_string_equal(host, "db-0"); /* without setHostnameAsFQDN */
        free(host);
        pod_unref(p);

        p = pod_with("\"hostname\":\"db-0\",\"subdomain\":\"db\",\"setHostnameAsFQDN\":true");
        assert_int_equal(pod_kernel_hostname(p, "cluster.local", &host, &err), 0);
        assert_string_equal(host, "db-0.db.prod.svc.cluster.local");
        free(host);
        const char *long_domain = "a-very-long-cluster-domain-name.example.internal";
        assert_int_equal(pod_kernel_hostname(p, long_domain, &host, &err), -EINVAL);
        _cleanup_free_ char *fqdn = strdup_printf("db-0.db.prod.svc.%s", long_domain);
        _cleanup_free_ char *want =
                strdup_printf("failed to construct FQDN from pod hostname and cluster domain, "
                              "FQDN %s is too long (64 characters is the max, %zu characters "
                              "requested)",
                              fqdn, strlen(fqdn));
        assert_true(strlen(fqdn) > 64);
        assert_string_equal(err, want);
        free(err);
        pod_unref(p);

        /* A long pod name: cut to 63, then no trailing '-' or '.'. */
        char name[80];
        memset(name, 'x', 62);
        strcpy(name + 62, ".yzzzz");
        _cleanup_free_ char *text =
                strdup_printf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
                              "\"namespace\":\"prod\"},"
                              "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
                              name);
        json_t *obj = json_loads(text, 0, NULL);
        struct api_problems pr = {0};
        pod_json_apply_defaults(obj);
        p = pod_from_json(obj, &pr);
        json_decref(obj);
        assert_non_null(p);
        assert_int_equal(pod_hostname_domain(p, NULL, &host, &domain, &err), 0);
        assert_int_equal(strlen(host), 62);
        assert_string_equal(domain, "");
        free(host), free(domain);
        pod_unref(p);
}

static void test_hosts_content(void **state)
{
        (void) state;
        struct pod *p = pod_with(
                "\"hostAliases\":[{\"ip\":\"10.1.2.3\",\"hostnames\":[\"foo.local\",\"bar.local\"]},"
                "{\"ip\":\"fd00::1\",\"hostnames\":[\"v6.local\"]}]");
        char *ips[] = {"10.88.0.5", "fd00::5", NULL};
        _cleanup_free_ char *c = hosts_managed_content(ips, "web", "", p);
        assert_string_equal(c, "# Kubernetes-managed hosts file.\n"
                               "127.0.0.1\tlocalhost\n"
                               "::1\tlocalhost ip6-localhost ip6-loopback\n"
                               "fe00::0\tip6-localnet\n"
                               "fe00::0\tip6-mcastprefix\n"
                               "fe00::1\tip6-allnodes\n"
                               "fe00::2\tip6-allrouters\n"
                               "10.88.0.5\tweb\n"
                               "fd00::5\tweb\n"
                               "\n"
                               "# Entries added by HostAliases.\n"
                               "10.1.2.3\tfoo.local\tbar.local\n"
                               "fd00::1\tv6.local\n");
        _cleanup_free_ char *d = hosts_managed_content(ips, "db-0", "db.prod.svc.cluster.local", p);
        assert_non_null(strstr(d, "\n10.88.0.5\tdb-0.db.prod.svc.cluster.local\tdb-0\n"));

        write_resolv("127.0.0.1 localhost\n10.0.0.9 node1\n");
        _cleanup_free_ char *n = NULL, *err = NULL;
        assert_int_equal(hosts_node_content(resolv_path, p, &n, &err), 0);
        assert_string_equal(n, "# Kubernetes-managed hosts file (host network).\n"
                               "127.0.0.1 localhost\n10.0.0.9 node1\n"
                               "\n"
                               "# Entries added by HostAliases.\n"
                               "10.1.2.3\tfoo.local\tbar.local\n"
                               "fd00::1\tv6.local\n");
        pod_unref(p);

        /* No aliases: nothing after the pod's own line. */
        p = pod_with("");
        _cleanup_free_ char *e = hosts_managed_content(ips, "web", "", p);
        assert_true(str_has_suffix(e, "fd00::5\tweb\n"));
        pod_unref(p);
}

#define assert_has(s, frag)                                                                                 \
        do {                                                                                                \
                if (!(s) || !strstr((s), (frag)))                                                           \
                        fail_msg("missing \"%s\" in \"%s\"", (frag), (s) ? (s) : "(valid)");                \
        } while (0)

static void test_validation(void **state)
{
        (void) state;
        char *e;
        e = pod_errors("\"dnsPolicy\":\"None\"");
        assert_has(e, "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None");
        free(e);
        e = pod_errors("\"dnsPolicy\":\"None\",\"dnsConfig\":{\"searches\":[\"a.example\"]}");
        assert_has(e, "spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver "
                      "when `dnsPolicy` is None");
        free(e);
        e = pod_errors("\"dnsConfig\":{\"nameservers\":[\"1.1.1.1\",\"2.2.2.2\",\"3.3.3.3\",\"4.4.4.4\"]}");
        assert_has(e, "spec.dnsConfig.nameservers: Invalid value: []string{\"1.1.1.1\", \"2.2.2.2\", "
                      "\"3.3.3.3\", \"4.4.4.4\"}: must not have more than 3 nameservers");
        free(e);
        e = pod_errors(
                "\"dnsConfig\":{\"nameservers\":[\"1.1.1\"],\"searches\":[\"ok.example.\",\"Bad_Name\"],"
                "\"options\":[{\"value\":\"1\"}]}");
        assert_has(e, "spec.dnsConfig.nameservers[0]: Invalid value: \"1.1.1\": must be valid IP address");
        assert_has(e,
                   "spec.dnsConfig.searches[1]: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain "
                   "must consist of lower case alphanumeric characters, '-' or '.', and must start and end "
                   "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
        assert_null(strstr(e, "searches[0]"));
        assert_has(e, "spec.dnsConfig.options[0]: Required value: must not be empty");
        free(e);
        e = pod_errors("\"dnsConfig\":{\"searches\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]}");
        assert_has(e, "spec.dnsConfig.searches: Invalid value: []string{\"a\", \"b\", \"c\", \"d\", \"e\", "
                      "\"f\", \"g\"}: must not have more than 6 search paths");
        free(e);
        e = pod_errors("\"hostAliases\":[{\"ip\":\"nope\",\"hostnames\":[\"UPPER\"]}]");
        assert_has(e, "spec.hostAliases.ip: Invalid value: \"nope\": must be valid IP address");
        assert_has(e,
                   "spec.hostAliases.hostnames: Invalid value: \"UPPER\": a lowercase RFC 1123 subdomain");
        free(e);
        e = pod_errors("\"subdomain\":\"a.b\"");
        assert_has(
                e,
                "spec.subdomain: Invalid value: \"a.b\": a lowercase RFC 1123 label must consist of lower "
                "case alphanumeric characters or '-', and must start and end with an alphanumeric "
                "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
        free(e);
        e = pod_errors("\"runtimeClassName\":\"Gvisor\"");
        assert_has(e, "spec.runtimeClassName: Invalid value: \"Gvisor\": a lowercase RFC 1123 subdomain");
        free(e);
        e = pod_errors("\"shareProcessNamespace\":true,\"hostPID\":true");
        assert_has(e,
                   "spec.securityContext.shareProcessNamespace: Invalid value: true: ShareProcessNamespace "
                   "and HostPID cannot both be enabled");
        free(e);
        e = pod_errors(
                "\"shareProcessNamespace\":true,\"runtimeClassName\":\"runc-test\",\"subdomain\":\"s\","
                "\"setHostnameAsFQDN\":true,\"hostAliases\":[{\"ip\":\"fd00::1\",\"hostnames\":[\"a.b\"]}],"
                "\"dnsPolicy\":\"None\",\"dnsConfig\":{\"nameservers\":[\"fd00::53\"],"
                "\"searches\":[\"x.example.\"],\"options\":[{\"name\":\"ndots\",\"value\":\"1\"}]}");
        assert_null(e);

        struct pod *p = pod_with("\"shareProcessNamespace\":true,\"runtimeClassName\":\"runc-test\","
                                 "\"setHostnameAsFQDN\":true,\"hostAliases\":[{\"ip\":\"10.0.0.1\"}]");
        assert_true(p->share_process_namespace);
        assert_true(p->set_hostname_as_fqdn);
        assert_string_equal(p->runtime_class_name, "runc-test");
        assert_int_equal(p->n_host_aliases, 1);
        assert_null(p->host_aliases[0].hostnames);
        assert_null(p->dns_config);
        pod_unref(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resolv_parse),
                cmocka_unit_test_setup_teardown(test_cluster_first, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_cluster_dns, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_resolv_conf, setup, teardown),
                cmocka_unit_test_setup_teardown(test_node_file_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dns_config_merge, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_resolv_conf, setup, teardown),
                cmocka_unit_test(test_hostname),
                cmocka_unit_test_setup_teardown(test_hosts_content, setup, teardown),
                cmocka_unit_test(test_validation),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
