/* Tests for cni/: results and errors of every supported version, config loading, what plugins get (env,
 * stdin, fds), timeouts, chaining, the result cache and GC — with fake plugins (shell scripts) — and, as root,
 * the real bridge/host-local/portmap/loopback plugins in namespaces of the test's own. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cni.h"
#include "cni_internal.h"
#include "util.h"

static char *tmp, *bindir, *confdir, *recdir, *cachedir;
static char *bin_dirs[2];
static struct cni_exec ex;

/* ---- helpers ------------------------------------------------------------------------------------------------ */

static void write_text(const char *path, const char *text)
{
        _cleanup_free_ char *t = strdup_printf("%s.new", path);
        FILE *f = fopen(t, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(rename(t, path), 0); /* a new inode, as a package upgrade gives */
}

static char *read_text(const char *path)
{
        char *s = NULL;
        if (read_file_limit(path, 1 << 20, &s, NULL) < 0)
                return NULL;
        return s;
}

static char *rec(const char *name)
{
        return strdup_printf("%s/%s", recdir, name);
}

static void rec_write(const char *name, const char *text)
{
        _cleanup_free_ char *p = rec(name);
        write_text(p, text);
}

static void rec_unlink(const char *name)
{
        _cleanup_free_ char *p = rec(name);
        assert_int_equal(unlink(p), 0);
}

static char *rec_read(const char *name)
{
        _cleanup_free_ char *p = rec(name);
        return read_text(p);
}

static json_t *rec_json(const char *name)
{
        _cleanup_free_ char *s = rec_read(name);
        assert_non_null(s);
        json_t *j = json_loads(s, 0, NULL);
        assert_non_null(j);
        return j;
}

/* A fake plugin: records its calls, environment, stdin and whether fd 77 leaked into it; its behaviour per
 * command comes from files the test writes: <name>.<CMD>.out (stdout, @NETNS@ replaced), .err (stderr),
 * .code (exit status), .sleep (seconds, in a background child whose pid goes to .pid). */
static void make_plugin(const char *name, const char *versions)
{
        _cleanup_free_ char *path = strdup_printf("%s/%s", bindir, name);
        _cleanup_free_ char *s =
                strdup_printf("#!/bin/sh\n"
                              "R=%s\n"
                              "N=%s\n"
                              "if [ \"$CNI_COMMAND\" = VERSION ]; then\n"
                              "  echo x >> $R/$N.versions\n"
                              "  cat > /dev/null\n"
                              "  echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[%s]}'\n"
                              "  exit 0\n"
                              "fi\n"
                              "echo \"$N $CNI_COMMAND\" >> $R/calls\n"
                              "env > $R/$N.$CNI_COMMAND.env\n"
                              "cat > $R/$N.$CNI_COMMAND.stdin\n"
                              "if [ -e /proc/$$/fd/77 ]; then echo open; else echo closed; fi > $R/$N.fd77\n"
                              "B=$R/$N.$CNI_COMMAND\n"
                              "if [ -f $B.sleep ]; then sleep $(cat $B.sleep) & echo $! > $B.pid; wait; fi\n"
                              "if [ -f $B.out ]; then sed \"s|@NETNS@|$CNI_NETNS|g\" $B.out; fi\n"
                              "if [ -f $B.err ]; then cat $B.err >&2; fi\n"
                              "if [ -f $B.code ]; then exit $(cat $B.code); fi\n"
                              "exit 0\n",
                              recdir, name, versions);
        write_text(path, s);
        assert_int_equal(chmod(path, 0755), 0);
}

#define ALL_VERSIONS "\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\""

static const char R1[] =
        "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"br0\",\"mac\":\"00:11:22:33:44:55\"},"
        "{\"name\":\"veth1\",\"mac\":\"55:44:33:22:11:11\"},"
        "{\"name\":\"eth0\",\"mac\":\"99:88:77:66:55:44\",\"sandbox\":\"@NETNS@\"}],"
        "\"ips\":[{\"address\":\"10.22.0.5/24\",\"gateway\":\"10.22.0.1\",\"interface\":2},"
        "{\"address\":\"fd00::5/64\",\"interface\":2}],"
        "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{\"nameservers\":[\"10.22.0.1\"]}}\n";

static const char R1_031[] =
        "{\"cniVersion\":\"0.3.1\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"@NETNS@\"}],"
        "\"ips\":[{\"version\":\"4\",\"address\":\"10.22.0.7/24\",\"interface\":0}],\"dns\":{}}\n";

static void reset(void)
{
        assert_int_equal(rm_rf(recdir), 0);
        assert_int_equal(mkdir(recdir, 0755), 0);
        assert_int_equal(rm_rf(cachedir), 0);
        assert_int_equal(rm_rf(confdir), 0);
        assert_int_equal(mkdir(confdir, 0755), 0);
        cni_plugin_versions_flush();
        make_plugin("fakebr", ALL_VERSIONS);
        make_plugin("fakechain", ALL_VERSIONS);
        make_plugin("fakeerr", ALL_VERSIONS);
        make_plugin("fakeold", "\"0.3.0\",\"0.3.1\"");
        rec_write("fakebr.ADD.out", R1);
        rec_write("fakechain.ADD.out", R1);
}

static struct cni_network *parse_net(const char *json)
{
        struct cni_network *n = NULL;
        struct cni_error err = {0};
        int r = cni_network_parse(json, strlen(json), "test.conflist", &n, &err);
        if (r < 0)
                fail_msg("parse: %s", err.msg);
        return n;
}

static const char LIST2[] =
        "{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"plugins\":["
        "{\"type\":\"fakebr\",\"bridge\":\"cni0\",\"ipam\":{\"type\":\"fakechain\"}},"
        "{\"type\":\"fakechain\",\"capabilities\":{\"portMappings\":true,\"mac\":true}}]}";

static const char CAPS[] =
        "{\"portMappings\":[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"}],"
        "\"bandwidth\":{\"ingressRate\":1000,\"ingressBurst\":2000}}";

static char *calls(void)
{
        char *s = rec_read("calls");
        return s ? s : xstrdup("");
}

/* ---- results ------------------------------------------------------------------------------------------------ */

static void test_result_100(void **state)
{
        _cleanup_(cni_result_freep) struct cni_result *r = NULL;
        _cleanup_strv_free_ char **ips = NULL;
        struct cni_error err = {0};
        const char *s =
                "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"00:11:22:33:44:55\"}"
                ","
                "{\"name\":\"veth3243\"},{\"name\":\"eth0\",\"mac\":\"99:88:77:66:55:44\","
                "\"sandbox\":\"/var/run/netns/blue\"}],\"ips\":[{\"address\":\"10.1.0.5/16\",\"gateway\":"
                "\"10.1.0.1\",\"interface\":2},{\"address\":\"fd00:0:0::5/64\",\"interface\":2},"
                "{\"address\":\"10.1.0.6/16\",\"interface\":2},{\"address\":\"192.168.0.1/24\","
                "\"interface\":0}],\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"10.0.0.0/8\",\"gw\":"
                "\"10.1.0.254\"}],\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"domain\":\"example\","
                "\"search\":[\"a\",\"b\"],\"options\":[\"ndots:5\"]},\"extra\":{\"kept\":true}}";

        assert_int_equal(cni_result_parse(s, strlen(s), &r, &err), 0);
        assert_string_equal(r->cni_version, "1.0.0");
        assert_int_equal(r->n_interfaces, 3);
        assert_string_equal(r->interfaces[2].name, "eth0");
        assert_string_equal(r->interfaces[2].sandbox, "/var/run/netns/blue");
        assert_null(r->interfaces[1].mac);
        assert_null(r->interfaces[0].sandbox);
        assert_int_equal(r->n_ips, 4);
        assert_string_equal(r->ips[0].ip, "10.1.0.5");
        assert_int_equal(r->ips[0].prefix_len, 16);
        assert_int_equal(r->ips[0].family, 4);
        assert_string_equal(r->ips[0].gateway, "10.1.0.1");
        assert_string_equal(r->ips[1].ip, "fd00::5"); /* normalised */
        assert_int_equal(r->ips[1].family, 6);
        assert_int_equal(r->n_routes, 2);
        assert_null(r->routes[0].gw);
        assert_string_equal(r->routes[1].gw, "10.1.0.254");
        assert_string_equal(r->dns.nameservers[0], "10.1.0.1");
        assert_string_equal(r->dns.domain, "example");
        assert_string_equal(r->dns.search[1], "b");
        assert_string_equal(r->dns.options[0], "ndots:5");
        assert_non_null(strstr(r->json, "\"extra\"")); /* passed on unchanged as prevResult */

        /* Pod IPs: one per family, on the sandbox eth0 only (not the host's cni0). */
        assert_int_equal(cni_result_pod_ips(r, "eth0", &ips), 2);
        assert_string_equal(ips[0], "10.1.0.5");
        assert_string_equal(ips[1], "fd00::5");
        assert_null(ips[2]);
        ips = strv_free(ips);
        assert_int_equal(cni_result_pod_ips(r, "cni0", &ips), 0); /* host side: no sandbox */
        ips = strv_free(ips);
        assert_int_equal(cni_result_pod_ips(r, "eth1", &ips), 0);
}

static void test_result_031_040(void **state)
{
        _cleanup_(cni_result_freep) struct cni_result *r = NULL, *r2 = NULL, *r3 = NULL;
        _cleanup_free_ char *enc100 = NULL, *enc040 = NULL;
        _cleanup_strv_free_ char **ips = NULL;
        struct cni_error err = {0};
        const char *s031 = "{\"cniVersion\":\"0.3.1\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/"
                           "netns/x\"}],"
                           "\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.5/32\",\"interface\":0},"
                           "{\"version\":\"6\",\"address\":\"2001:db8::5/128\",\"gateway\":\"2001:db8::1\","
                           "\"interface\":0}],\"dns\":{}}";

        assert_int_equal(cni_result_parse(s031, strlen(s031), &r, &err), 0);
        assert_string_equal(r->cni_version, "0.3.1");
        assert_int_equal(r->n_ips, 2);
        assert_int_equal(r->ips[1].family, 6);
        assert_int_equal(cni_result_pod_ips(r, "eth0", &ips), 2);

        /* To 1.0.0: the ips lose "version"; back to 0.4.0: they get it again. */
        assert_int_equal(cni_result_encode(r, "1.0.0", &enc100), 0);
        assert_null(strstr(enc100, "\"version\""));
        assert_non_null(strstr(enc100, "\"cniVersion\":\"1.0.0\""));
        assert_int_equal(cni_result_parse(enc100, strlen(enc100), &r2, &err), 0);
        assert_int_equal(r2->n_ips, 2);
        assert_int_equal(r2->ips[0].interface, 0);
        assert_int_equal(cni_result_encode(r2, "0.4.0", &enc040), 0);
        assert_non_null(strstr(enc040, "\"version\":\"6\""));
        assert_int_equal(cni_result_parse(enc040, strlen(enc040), &r3, &err), 0);
        assert_string_equal(r3->ips[1].gateway, "2001:db8::1");
        assert_int_equal(cni_result_encode(r3, "0.2.0", &enc100), -EINVAL);

        /* An IPAM-style result (no interfaces): IPs without an index are the pod's. */
        _cleanup_(cni_result_freep) struct cni_result *ipam = NULL;
        const char *s040 =
                "{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\",\"address\":\"10.9.0.2/24\"}]}";
        ips = strv_free(ips);
        assert_int_equal(cni_result_parse(s040, strlen(s040), &ipam, &err), 0);
        assert_int_equal(cni_result_pod_ips(ipam, "eth0", &ips), 1);
        assert_string_equal(ips[0], "10.9.0.2");
}

static void test_result_invalid(void **state)
{
        static const struct {
                const char *json, *want;
        } cases[] = {
                {"", "invalid JSON"},
                {"[]", "not a JSON object"},
                {"{}", "cniVersion: missing"},
                {"{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.0.0.1/24\"}}",
                 "unsupported result version \"0.2.0\""},
                {"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.300/24\"}]}",
                 "ips[0].address: \"10.0.0.300/24\" is not an IP address in CIDR"},
                {"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.3\"}]}", "ips[0].address"},
                {"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.3/33\"}]}", "ips[0].address"},
                {"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.3/24\",\"interface\":0}]}",
                 "ips[0].interface: index 0 out of range (0 interfaces)"},
                {"{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"a\"}],\"ips\":[{\"address\":\"10.0."
                 "0.3/24\","
                 "\"interface\":-1}]}",
                 "ips[0].interface: index -1"},
                {"{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"6\",\"address\":\"10.0.0.3/24\"}]}",
                 "ips[0].version: \"6\" but the address is IPv4"},
                {"{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":4,\"address\":\"10.0.0.3/24\"}]}",
                 "ips[0].version: must be"},
                {"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.3/24\",\"gateway\":\"x\"}]}",
                 "ips[0].gateway"},
                {"{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"mac\":\"x\"}]}", "interfaces[0].name"},
                {"{\"cniVersion\":\"1.0.0\",\"interfaces\":{}}", "interfaces: not a list"},
                {"{\"cniVersion\":\"1.0.0\",\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"fd00::1\"}]}",
                 "routes[0].gw: \"fd00::1\" is not an IPv4 address"},
                {"{\"cniVersion\":\"1.0.0\",\"dns\":{\"nameservers\":[1]}}", "dns.nameservers"},
                {"{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"x\"}", "is an error object (code 7)"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct cni_result *r = NULL;
                struct cni_error err = {0};
                assert_int_equal(cni_result_parse(cases[i].json, strlen(cases[i].json), &r, &err), -EBADMSG);
                assert_null(r);
                if (!strstr(err.msg, cases[i].want))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].want);
        }
}

static void test_plugin_failure_messages(void **state)
{
        struct cni_error err = {0};
        struct cni__proc p = {.status = 1 << 8};

        p.out = "{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"failed to set bridge "
                "addr\",\"details\":\"could "
                "not add IP address to \\\"cni0\\\": permission denied\"}";
        p.out_len = strlen(p.out);
        p.err = "";
        assert_int_equal(cni__plugin_failure("bridge", &p, &err), -EIO);
        assert_string_equal(err.msg, "plugin bridge: failed to set bridge addr: could not add IP address to "
                                     "\"cni0\": permission denied (code 11)");
        assert_int_equal(err.code, CNI_ERR_TRY_AGAIN_LATER);

        p.out = "{\"code\":7,\"msg\":\"Invalid Configuration\"}";
        p.out_len = strlen(p.out);
        cni__plugin_failure("host-local", &p, &err);
        assert_string_equal(err.msg, "plugin host-local: Invalid Configuration (code 7)");
        assert_int_equal(err.code, 7);

        p.out = "{\"code\":100,\"details\":\"only details\"}";
        p.out_len = strlen(p.out);
        cni__plugin_failure("x", &p, &err);
        assert_string_equal(err.msg, "plugin x: only details (code 100)");

        /* Garbage on stdout: stderr tells what happened, on one line. */
        p.out = "panic: runtime error";
        p.out_len = strlen(p.out);
        p.err = "goroutine 1 [running]:\nmain.main()\n\tfailed hard\n\n";
        p.err_len = strlen(p.err);
        p.status = 2 << 8;
        cni__plugin_failure("bad", &p, &err);
        assert_string_equal(err.msg,
                            "plugin bad: exit status 2: goroutine 1 [running]:; main.main(); \tfailed hard");
        assert_int_equal(err.code, 0);

        /* Nothing at all. */
        p.out = p.err = "";
        p.out_len = p.err_len = 0;
        cni__plugin_failure("quiet", &p, &err);
        assert_string_equal(err.msg, "plugin quiet: exit status 2 (no error message)");

        p.status = SIGSEGV; /* killed by a signal */
        cni__plugin_failure("crash", &p, &err);
        assert_string_equal(err.msg, "plugin crash: killed by signal 11");

        cni_error_prefix(&err, "network %s", "n1");
        assert_string_equal(err.msg, "network n1: plugin crash: killed by signal 11");
        cni_error_prefix(NULL, "x");
}

/* ---- CNI_ARGS, configs ------------------------------------------------------------------------------------ */

static void test_args(void **state)
{
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        assert_int_equal(cni__args_compose(NULL, &a), 0);
        assert_string_equal(a, "IgnoreUnknown=1");
        assert_int_equal(cni__args_compose("K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;", &b), 0);
        assert_string_equal(b, "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0");
        assert_int_equal(cni__args_compose("IgnoreUnknown=true;A=", &c), 0);
        assert_string_equal(c, "IgnoreUnknown=true;A=");
        assert_int_equal(cni__args_compose("novalue", &d), -EINVAL);
        assert_int_equal(cni__args_compose("A=b=c", &d), -EINVAL);
        assert_int_equal(cni__args_compose("A-B=c", &d), -EINVAL);
        assert_int_equal(cni__args_compose("=c", &d), -EINVAL);
        assert_int_equal(cni__args_compose("A=x\n", &d), -EINVAL);
        assert_null(d);

        assert_int_equal(cni_args_append(&d, "K8S_POD_NAME", "web-0"), 0);
        assert_int_equal(cni_args_append(&d, "K8S_POD_UID", "1234-abcd"), 0);
        assert_string_equal(d, "K8S_POD_NAME=web-0;K8S_POD_UID=1234-abcd");
        assert_int_equal(cni_args_append(&d, "X", "a;b"), -EINVAL);
        assert_int_equal(cni_args_append(&d, "X", "a=b"), -EINVAL);
        assert_int_equal(cni_args_append(&d, "X Y", "a"), -EINVAL);
        assert_string_equal(d, "K8S_POD_NAME=web-0;K8S_POD_UID=1234-abcd");
}

static void test_network_parse(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n = parse_net(LIST2), *c = NULL;
        _cleanup_free_ char *js = NULL;
        struct cni_error err = {0};

        assert_string_equal(cni_network_name(n), "net1");
        assert_string_equal(cni_network_version(n), "1.0.0");
        assert_string_equal(cni_network_file(n), "test.conflist");
        assert_int_equal(cni_network_n_plugins(n), 2);
        assert_string_equal(cni_network_plugin_type(n, 1), "fakechain");
        assert_null(cni_network_plugin_type(n, 2));
        assert_false(cni_network_disable_check(n));
        assert_ptr_equal(cni_network_ref(n), n);
        cni_network_unref(n);

        /* A single-plugin .conf becomes a one-plugin list. */
        const char *conf =
                "{\"cniVersion\":\"0.3.1\",\"name\":\"single\",\"type\":\"fakebr\",\"bridge\":\"b\"}";
        assert_int_equal(cni_network_parse(conf, strlen(conf), NULL, &c, &err), 0);
        assert_string_equal(cni_network_name(c), "single");
        assert_int_equal(cni_network_n_plugins(c), 1);
        assert_null(cni_network_file(c));
        js = cni_network_to_json(c);
        assert_non_null(strstr(js, "\"plugins\":[{"));

        static const struct {
                const char *json, *want;
        } bad[] = {
                {"{", "invalid JSON at line 1"},
                {"[1]", "not a JSON object"},
                {"{\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"a\"}]}", "name: missing"},
                {"{\"cniVersion\":\"1.0.0\",\"name\":\"-x\",\"plugins\":[{\"type\":\"a\"}]}",
                 "name: must start"},
                {"{\"name\":\"x\",\"plugins\":[{\"type\":\"a\"}]}", "cniVersion: missing"},
                {"{\"cniVersion\":\"0.2.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"a\"}]}",
                 "cniVersion: unsupported version \"0.2.0\""},
                {"{\"cniVersion\":\"1.1.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"a\"}]}",
                 "unsupported version"},
                {"{\"cniVersion\":\"1.0.0\",\"name\":\"x\"}", "plugins: missing"},
                {"{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[]}",
                 "plugins: must be a non-empty list"},
                {"{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"a\"},{\"bridge\":1}]}",
                 "plugins[1].type: missing"},
                {"{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"../a\"}]}",
                 "plugins[0].type: must be a plugin file name"},
                {"{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"a\",\"capabilities\":"
                 "{\"portMappings\":1}}]}",
                 "plugins[0].capabilities.portMappings: must be a boolean"},
                {"{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"a\",\"ipam\":[]}]}",
                 "plugins[0].ipam: must be an object"},
                {"{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"disableCheck\":1,\"plugins\":[{\"type\":\"a\"}]"
                 "}",
                 "disableCheck: must be a boolean"},
                {"{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"type\":\"\"}",
                 "type: must be a plugin file name"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct cni_network *x = NULL;
                assert_int_equal(cni_network_parse(bad[i].json, strlen(bad[i].json), "f.conflist", &x, &err),
                                 -EINVAL);
                assert_null(x);
                if (!strstr(err.msg, bad[i].want) || !str_has_prefix(err.msg, "f.conflist: "))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i].want);
        }

        /* disableCheck as a boolean or the 0.4.0 text's string. */
        const char *dc = "{\"cniVersion\":\"0.4.0\",\"name\":\"x\",\"disableCheck\":\"true\",\"plugins\":[{"
                         "\"type\":\"a\"}]}";
        _cleanup_(cni_network_unrefp) struct cni_network *d = NULL;
        assert_int_equal(cni_network_parse(dc, strlen(dc), NULL, &d, &err), 0);
        assert_true(cni_network_disable_check(d));
}

static void test_plugin_stdin(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n = parse_net(LIST2);
        _cleanup_json_ json_t *caps = json_loads(CAPS, 0, NULL), *prev = json_loads(R1, 0, NULL);
        _cleanup_json_ json_t *c0 = cni__plugin_stdin(n, 0, caps, NULL);
        _cleanup_json_ json_t *c1 = cni__plugin_stdin(n, 1, caps, prev);

        assert_string_equal(json_string_value(json_object_get(c0, "name")), "net1");
        assert_string_equal(json_string_value(json_object_get(c0, "cniVersion")), "1.0.0");
        assert_string_equal(json_string_value(json_object_get(c0, "bridge")), "cni0"); /* passed through */
        assert_null(json_object_get(c0, "runtimeConfig")); /* no capabilities declared */
        assert_null(json_object_get(c0, "prevResult"));

        /* Only the declared and provided capability: portMappings (bandwidth is not declared, mac not given). */
        json_t *rc = json_object_get(c1, "runtimeConfig");
        assert_non_null(rc);
        assert_int_equal(json_object_size(rc), 1);
        assert_non_null(json_object_get(rc, "portMappings"));
        assert_null(json_object_get(c1, "capabilities")); /* removed, as 1.0.0 says */
        assert_true(json_equal(json_object_get(c1, "prevResult"), prev));
        /* The network itself is not changed. */
        assert_non_null(json_object_get(n->plugins[1].conf, "capabilities"));
        assert_null(json_object_get(n->plugins[1].conf, "name"));
}

/* ---- a config directory ------------------------------------------------------------------------------------ */

static void conf_write(const char *name, const char *text)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", confdir, name);
        write_text(p, text);
}

static const struct cni_load_error *find_error(const struct cni_config *c, const char *file)
{
        for (size_t i = 0; i < c->n_errors; i++)
                if (str_has_suffix(c->errors[i].file, file))
                        return &c->errors[i];
        return NULL;
}

static void test_config_load(void **state)
{
        _cleanup_(cni_config_freep) struct cni_config *c = NULL;
        const struct cni_load_error *e;
        reset();

        conf_write("10-b.conflist",
                   "{\"cniVersion\":\"1.0.0\",\"name\":\"b\",\"plugins\":[{\"type\":\"fakebr\"},"
                   "{\"type\":\"fakechain\"}]}");
        conf_write("05-a.conf", "{\"cniVersion\":\"0.3.1\",\"name\":\"a\",\"type\":\"fakebr\"}");
        conf_write("07-old.json",
                   "{\"cniVersion\":\"0.3.1\",\"name\":\"old\",\"plugins\":[{\"type\":\"fakeold\"}]}");
        conf_write("20-badversion.conflist",
                   "{\"cniVersion\":\"0.2.0\",\"name\":\"c\",\"plugins\":[{\"type\":\"fakebr\"}]}");
        conf_write("30-missing.conflist", "{\"cniVersion\":\"1.0.0\",\"name\":\"d\",\"plugins\":[{\"type\":"
                                          "\"fakebr\"},{\"type\":\"nosuch\"}]}");
        conf_write("40-badjson.json", "{\"cniVersion\": \"1.0.0\",\n \"name\": }");
        conf_write("50-dup.conflist",
                   "{\"cniVersion\":\"1.0.0\",\"name\":\"b\",\"plugins\":[{\"type\":\"fakebr\"}]}");
        conf_write("60-unsupported.conflist",
                   "{\"cniVersion\":\"1.0.0\",\"name\":\"e\",\"plugins\":[{\"type\":\"fakeold\"}]}");
        conf_write("70-noipam.conflist",
                   "{\"cniVersion\":\"1.0.0\",\"name\":\"f\",\"plugins\":[{\"type\":\"fakebr\","
                   "\"ipam\":{\"type\":\"nosuch-ipam\"}}]}");
        conf_write("README.txt", "not a config");
        _cleanup_free_ char *sub = strdup_printf("%s/99-dir.conf", confdir);
        assert_int_equal(mkdir(sub, 0755), 0);

        assert_int_equal(cni_config_load(confdir, bin_dirs, &c), 0);
        assert_int_equal(c->n_networks, 3);
        /* Lexical order: 05-a (a .conf, now a list), 07-old, 10-b. */
        assert_string_equal(cni_network_name(c->networks[0]), "a");
        assert_string_equal(cni_network_name(c->networks[1]), "old");
        assert_string_equal(cni_network_name(c->networks[2]), "b");
        assert_ptr_equal(cni_config_default(c), c->networks[0]);
        assert_ptr_equal(cni_config_find(c, "b"), c->networks[2]);
        assert_null(cni_config_find(c, "c"));
        assert_true(str_has_suffix(cni_network_file(c->networks[2]), "/10-b.conflist"));

        assert_int_equal(c->n_errors, 6);
        assert_true(str_has_suffix(c->errors[0].file, "20-badversion.conflist")); /* same order */
        e = find_error(c, "20-badversion.conflist");
        assert_string_equal(e->field, "cniVersion");
        assert_non_null(strstr(e->reason, "unsupported version \"0.2.0\""));
        e = find_error(c, "30-missing.conflist");
        assert_string_equal(e->field, "plugins[1].type");
        assert_non_null(strstr(e->reason, "plugin nosuch: not found in "));
        assert_non_null(strstr(e->reason, bindir));
        e = find_error(c, "40-badjson.json");
        assert_string_equal(e->field, "");
        assert_non_null(strstr(e->reason, "invalid JSON at line 2"));
        e = find_error(c, "50-dup.conflist");
        assert_string_equal(e->field, "name");
        assert_non_null(strstr(e->reason, "already defined by"));
        assert_non_null(strstr(e->reason, "10-b.conflist"));
        e = find_error(c, "60-unsupported.conflist");
        assert_string_equal(e->field, "cniVersion");
        assert_string_equal(e->reason,
                            "plugin fakeold does not support version 1.0.0 (it supports: 0.3.0, 0.3.1)");
        e = find_error(c, "70-noipam.conflist");
        assert_string_equal(e->field, "plugins[0].ipam.type");
        assert_null(find_error(c, "README.txt"));

        /* The network outlives the set that loaded it. */
        struct cni_network *keep = cni_network_ref(cni_config_find(c, "b"));
        c = cni_config_free(c);
        assert_string_equal(cni_network_name(keep), "b");
        cni_network_unref(keep);
}

static void test_config_ready(void **state)
{
        struct cni_error err = {0};
        _cleanup_free_ char *missing = strdup_printf("%s/nope", tmp);
        reset();

        assert_int_equal(cni_config_ready(missing, bin_dirs, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "No such file or directory"));
        assert_int_equal(cni_config_ready(confdir, bin_dirs, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "no network config found in"));

        conf_write("10-x.conflist",
                   "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"absent\"}]}");
        assert_int_equal(cni_config_ready(confdir, bin_dirs, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "no valid network config in"));
        assert_non_null(strstr(err.msg, "10-x.conflist: plugins[0].type: plugin absent: not found"));

        conf_write("20-y.conf", "{\"cniVersion\":\"1.0.0\",\"name\":\"y\",\"type\":\"fakebr\"}");
        assert_int_equal(cni_config_ready(confdir, bin_dirs, &err), 0);
}

static void test_version_cache(void **state)
{
        _cleanup_(cni_config_freep) struct cni_config *c1 = NULL, *c2 = NULL, *c3 = NULL;
        _cleanup_strv_free_ char **v = NULL;
        struct cni_error err = {0};
        _cleanup_free_ char *n1 = NULL, *n2 = NULL;
        reset();

        conf_write("10-a.conflist",
                   "{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"plugins\":[{\"type\":\"fakebr\"}]}");
        conf_write("20-b.conflist",
                   "{\"cniVersion\":\"0.4.0\",\"name\":\"b\",\"plugins\":[{\"type\":\"fakebr\"}]}");
        assert_int_equal(cni_config_load(confdir, bin_dirs, &c1), 0);
        assert_int_equal(cni_config_load(confdir, bin_dirs, &c2), 0);
        assert_int_equal(c2->n_networks, 2);
        n1 = rec_read("fakebr.versions");
        assert_string_equal(n1, "x\n"); /* one VERSION call for four lookups */

        /* A new binary (new inode) is asked again. */
        make_plugin("fakebr", "\"0.4.0\"");
        assert_int_equal(cni_config_load(confdir, bin_dirs, &c3), 0);
        n2 = rec_read("fakebr.versions");
        assert_string_equal(n2, "x\nx\n");
        assert_int_equal(c3->n_networks, 1);
        assert_string_equal(cni_network_name(c3->networks[0]), "b");

        assert_int_equal(cni_plugin_versions(&ex, "fakebr", &v, &err), 0);
        assert_string_equal(v[0], "0.4.0");
        assert_null(v[1]);
        assert_int_equal(cni_plugin_versions(&ex, "nosuch", &v, &err), -ENOENT);
        assert_int_equal(cni_plugin_versions(&ex, "a/b", &v, &err), -EINVAL);
}

/* ---- execution ------------------------------------------------------------------------------------------------ */

static void assert_env(const char *name, const char *cmd, const char *netns, const char *args)
{
        _cleanup_free_ char *file = strdup_printf("%s.%s.env", name, cmd), *env = rec_read(file);
        _cleanup_free_ char *want_cmd = strdup_printf("CNI_COMMAND=%s\n", cmd);
        _cleanup_free_ char *want_netns = strdup_printf("CNI_NETNS=%s\n", netns);
        _cleanup_free_ char *want_args = strdup_printf("CNI_ARGS=%s\n", args);
        _cleanup_free_ char *want_path = strdup_printf("CNI_PATH=%s\n", bindir);
        assert_non_null(env);
        assert_non_null(strstr(env, want_cmd));
        assert_non_null(strstr(env, "CNI_CONTAINERID=ctr1\n"));
        assert_non_null(strstr(env, want_netns));
        assert_non_null(strstr(env, "CNI_IFNAME=eth0\n"));
        assert_non_null(strstr(env, want_args));
        assert_non_null(strstr(env, want_path));
        assert_non_null(strstr(env, "PATH=" CNI_DEFAULT_PATH "\n"));
        /* A clean environment: those, and what the shell adds itself (PWD). */
        for (char *line = env; *line;) {
                char *end = strchrnul(line, '\n');
                if (!str_has_prefix(line, "CNI_COMMAND=") && !str_has_prefix(line, "CNI_CONTAINERID=") &&
                    !str_has_prefix(line, "CNI_NETNS=") && !str_has_prefix(line, "CNI_IFNAME=") &&
                    !str_has_prefix(line, "CNI_ARGS=") && !str_has_prefix(line, "CNI_PATH=") &&
                    !str_has_prefix(line, "PATH=") && !str_has_prefix(line, "PWD=/\n"))
                        fail_msg("unexpected environment: %.*s", (int) (end - line), line);
                line = *end ? end + 1 : end;
        }
}

static void test_add_chain(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n = parse_net(LIST2);
        _cleanup_(cni_result_freep) struct cni_result *res = NULL;
        _cleanup_free_ char *c = NULL, *fd = NULL;
        struct cni_error err = {0};
        struct cni_attachment att = {.container_id = "ctr1",
                                     .netns = "/run/netns/test1",
                                     .ifname = "eth0",
                                     .args = "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web",
                                     .capability_args = CAPS};
        reset();
        setenv("CNI_TEST_LEAK", "1", 1); /* must not reach the plugin */
        /* An fd without O_CLOEXEC, as libcurl's sockets are: must not reach the plugin either. */
        int leak = open("/dev/null", O_RDONLY);
        assert_true(leak >= 0);
        assert_int_equal(dup2(leak, 77), 77);
        close(leak);

        int r = cni_network_add(&ex, n, &att, &res, &err);
        close(77);
        unsetenv("CNI_TEST_LEAK");
        if (r < 0)
                fail_msg("add: %s", err.msg);

        c = calls();
        assert_string_equal(c, "fakebr ADD\nfakechain ADD\n");
        assert_env("fakebr", "ADD", "/run/netns/test1",
                   "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web");
        assert_env("fakechain", "ADD", "/run/netns/test1",
                   "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web");
        fd = rec_read("fakebr.fd77");
        assert_string_equal(fd, "closed\n");

        /* stdin: first plugin without prevResult/runtimeConfig; the second gets the first's result. */
        _cleanup_json_ json_t *in0 = rec_json("fakebr.ADD.stdin"), *in1 = rec_json("fakechain.ADD.stdin");
        assert_string_equal(json_string_value(json_object_get(in0, "name")), "net1");
        assert_string_equal(json_string_value(json_object_get(in0, "cniVersion")), "1.0.0");
        assert_string_equal(json_string_value(json_object_get(json_object_get(in0, "ipam"), "type")),
                            "fakechain");
        assert_null(json_object_get(in0, "prevResult"));
        assert_null(json_object_get(in0, "runtimeConfig"));
        json_t *prev = json_object_get(in1, "prevResult");
        assert_non_null(prev);
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(prev, "interfaces"), 2), "sandbox")),
                            "/run/netns/test1");
        json_t *pm = json_object_get(json_object_get(in1, "runtimeConfig"), "portMappings");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(pm, 0), "hostPort")), 8080);
        assert_null(json_object_get(json_object_get(in1, "runtimeConfig"), "bandwidth"));

        assert_string_equal(res->cni_version, "1.0.0");
        assert_int_equal(res->n_ips, 2);
        assert_string_equal(res->interfaces[2].sandbox, "/run/netns/test1");

        /* Bad inputs are refused before anything runs. */
        struct cni_result *x = NULL;
        struct cni_attachment bad = att;
        bad.container_id = "-x";
        assert_int_equal(cni_network_add(&ex, n, &bad, &x, &err), -EINVAL);
        bad = att;
        bad.ifname = "a/b";
        assert_int_equal(cni_network_add(&ex, n, &bad, &x, &err), -EINVAL);
        bad = att;
        bad.netns = NULL;
        assert_int_equal(cni_network_add(&ex, n, &bad, &x, &err), -EINVAL);
        bad = att;
        bad.args = "x";
        assert_int_equal(cni_network_add(&ex, n, &bad, &x, &err), -EINVAL);
        bad = att;
        bad.capability_args = "[1]";
        assert_int_equal(cni_network_add(&ex, n, &bad, &x, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "capability args"));
        assert_null(x);
        free(c);
        c = calls();
        assert_string_equal(c, "fakebr ADD\nfakechain ADD\n");
}

static void test_add_bad_result(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n = parse_net(LIST2);
        struct cni_result *res = NULL;
        struct cni_error err = {0};
        struct cni_attachment att = {.container_id = "ctr1", .netns = "/run/netns/x", .ifname = "eth0"};
        reset();

        rec_write("fakechain.ADD.out", "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"bogus\"}]}");
        assert_int_equal(cni_network_add(&ex, n, &att, &res, &err), -EBADMSG);
        assert_string_equal(err.msg,
                            "plugin fakechain: ADD: invalid result: ips[0].address: \"bogus\" is not an IP "
                            "address in CIDR notation");
        rec_write("fakechain.ADD.out", "");
        assert_int_equal(cni_network_add(&ex, n, &att, &res, &err), -EBADMSG);
        assert_string_equal(err.msg, "plugin fakechain: ADD: no result on stdout");
        rec_write("fakechain.ADD.out", "ok\n");
        assert_int_equal(cni_network_add(&ex, n, &att, &res, &err), -EBADMSG);
        assert_true(str_has_prefix(err.msg, "plugin fakechain: ADD: result is not JSON: "));
        /* An error object is an error even with exit status 0. */
        rec_write("fakechain.ADD.out", "{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"no subnet\"}");
        assert_int_equal(cni_network_add(&ex, n, &att, &res, &err), -EIO);
        assert_string_equal(err.msg, "plugin fakechain: no subnet (code 7)");
        assert_int_equal(err.code, 7);
        assert_null(res);

        /* A plugin that is not there. */
        _cleanup_(cni_network_unrefp) struct cni_network *m =
                parse_net("{\"cniVersion\":\"1.0.0\",\"name\":\"m\",\"plugins\":[{\"type\":\"gone\"}]}");
        assert_int_equal(cni_network_add(&ex, m, &att, &res, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "plugin gone: not found in"));
}

/* A list of an older version gets prevResult in its own version, whatever the plugin before printed. */
static void test_add_converts_prev_result(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n =
                parse_net("{\"cniVersion\":\"0.4.0\",\"name\":\"n040\",\"plugins\":[{\"type\":\"fakebr\"},{"
                          "\"type\":\"fakechain\"}]}");
        _cleanup_(cni_result_freep) struct cni_result *res = NULL;
        struct cni_error err = {0};
        struct cni_attachment att = {.container_id = "ctr1", .netns = "/run/netns/x", .ifname = "eth0"};
        reset();

        assert_int_equal(cni_network_add(&ex, n, &att, &res, &err), 0);
        _cleanup_json_ json_t *in1 = rec_json("fakechain.ADD.stdin");
        json_t *prev = json_object_get(in1, "prevResult");
        assert_string_equal(json_string_value(json_object_get(prev, "cniVersion")), "0.4.0");
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(prev, "ips"), 1), "version")),
                            "6");
        assert_string_equal(res->cni_version, "0.4.0");
        assert_non_null(strstr(res->json, "\"cniVersion\":\"0.4.0\""));
}

static void test_del_check(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n = parse_net(LIST2);
        _cleanup_(cni_result_freep) struct cni_result *res = NULL;
        _cleanup_free_ char *c = NULL;
        struct cni_error err = {0};
        struct cni_attachment att = {.container_id = "ctr1",
                                     .netns = "/run/netns/test1",
                                     .ifname = "eth0",
                                     .capability_args = CAPS};
        reset();

        assert_int_equal(cni_network_add(&ex, n, &att, &res, &err), 0);
        rec_unlink("calls");

        assert_int_equal(cni_network_check(&ex, n, &att, res, &err), 0);
        /* DEL: reverse order, prevResult on each, the netns (gone) passed empty. */
        assert_int_equal(cni_network_del(&ex, n, &att, res, &err), 0);
        c = calls();
        assert_string_equal(c, "fakebr CHECK\nfakechain CHECK\nfakechain DEL\nfakebr DEL\n");
        _cleanup_json_ json_t *chk = rec_json("fakebr.CHECK.stdin"), *del = rec_json("fakebr.DEL.stdin");
        assert_non_null(json_object_get(chk, "prevResult"));
        assert_non_null(json_object_get(del, "prevResult"));
        assert_env("fakebr", "CHECK", "/run/netns/test1", "IgnoreUnknown=1");
        assert_env("fakebr", "DEL", "", "IgnoreUnknown=1"); /* /run/netns/test1 does not exist */
        _cleanup_json_ json_t *del1 = rec_json("fakechain.DEL.stdin");
        assert_non_null(json_object_get(json_object_get(del1, "runtimeConfig"), "portMappings"));

        /* An existing netns path is passed as it is. */
        att.netns = "/proc/self/ns/net";
        assert_int_equal(cni_network_del(&ex, n, &att, NULL, &err), 0);
        assert_env("fakebr", "DEL", "/proc/self/ns/net", "IgnoreUnknown=1");
        _cleanup_json_ json_t *del2 = rec_json("fakebr.DEL.stdin");
        assert_null(json_object_get(del2, "prevResult"));

        /* CHECK without the ADD's result, and on a list that says disableCheck. */
        assert_int_equal(cni_network_check(&ex, n, &att, NULL, &err), -EINVAL);
        _cleanup_(cni_network_unrefp) struct cni_network *dc =
                parse_net("{\"cniVersion\":\"1.0.0\",\"name\":\"dc\",\"disableCheck\":true,\"plugins\":[{"
                          "\"type\":\"fakeerr\"}]}");
        assert_int_equal(cni_network_check(&ex, dc, &att, res, &err), 0);
}

static void test_version_031_rules(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n =
                parse_net("{\"cniVersion\":\"0.3.1\",\"name\":\"n031\",\"plugins\":[{\"type\":\"fakeold\"},{"
                          "\"type\":\"fakebr\"}]}");
        _cleanup_(cni_result_freep) struct cni_result *res = NULL;
        _cleanup_strv_free_ char **ips = NULL;
        struct cni_error err = {0};
        struct cni_attachment att = {.container_id = "ctr1", .netns = "/run/netns/x", .ifname = "eth0"};
        reset();
        rec_write("fakeold.ADD.out", R1_031);
        rec_write("fakebr.ADD.out", R1_031);

        assert_int_equal(cni_network_add(&ex, n, &att, &res, &err), 0);
        assert_string_equal(res->cni_version, "0.3.1");
        assert_int_equal(cni_result_pod_ips(res, "eth0", &ips), 1);
        assert_string_equal(ips[0], "10.22.0.7");
        /* No CHECK before 0.4.0, no prevResult on DEL either. */
        assert_int_equal(cni_network_check(&ex, n, &att, res, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err.msg, "CHECK needs cniVersion 0.4.0"));
        assert_int_equal(cni_network_del(&ex, n, &att, res, &err), 0);
        _cleanup_json_ json_t *del = rec_json("fakeold.DEL.stdin");
        assert_null(json_object_get(del, "prevResult"));
}

static void test_plugin_errors(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n =
                parse_net("{\"cniVersion\":\"1.0.0\",\"name\":\"e\",\"plugins\":[{\"type\":\"fakeerr\"}]}");
        struct cni_result *res = NULL;
        struct cni_error err = {0};
        struct cni_attachment att = {.container_id = "ctr1", .netns = "/run/netns/x", .ifname = "eth0"};
        reset();

        /* An error object on stdout. */
        rec_write("fakeerr.ADD.out",
                  "{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"failed to frobnicate\","
                  "\"details\":\"the frobnicator is busy\"}");
        rec_write("fakeerr.ADD.code", "1");
        assert_int_equal(cni_network_add(&ex, n, &att, &res, &err), -EIO);
        assert_string_equal(err.msg,
                            "plugin fakeerr: failed to frobnicate: the frobnicator is busy (code 11)");
        assert_int_equal(err.code, 11);

        /* Garbage and a non-zero exit: stderr is the message. */
        rec_write("fakeerr.ADD.out", "garbage{");
        rec_write("fakeerr.ADD.err", "something went wrong\nreally wrong\n");
        rec_write("fakeerr.ADD.code", "2");
        assert_int_equal(cni_network_add(&ex, n, &att, &res, &err), -EIO);
        assert_string_equal(err.msg, "plugin fakeerr: exit status 2: something went wrong; really wrong");
        assert_int_equal(err.code, 0);
        assert_null(res);

        /* DEL: "unknown container" (code 3) is success; other errors are not. */
        rec_write("fakeerr.DEL.out", "{\"cniVersion\":\"1.0.0\",\"code\":3,\"msg\":\"no such container\"}");
        rec_write("fakeerr.DEL.code", "1");
        assert_int_equal(cni_network_del(&ex, n, &att, NULL, NULL), 0);
        rec_write("fakeerr.DEL.out", "{\"cniVersion\":\"1.0.0\",\"code\":5,\"msg\":\"disk on fire\"}");
        assert_int_equal(cni_network_del(&ex, n, &att, NULL, &err), -EIO);
        assert_string_equal(err.msg, "plugin fakeerr: disk on fire (code 5)");
}

static void test_timeout(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n = parse_net(
                "{\"cniVersion\":\"1.0.0\",\"name\":\"slow\",\"plugins\":[{\"type\":\"fakeerr\"}]}");
        struct cni_attachment att = {.container_id = "ctr1", .netns = "/run/netns/x", .ifname = "eth0"};
        struct cni_exec quick = ex;
        _cleanup_free_ char *pid = NULL;

        /* The plugin starts a long sleep in a child and waits for it. A busy machine can be slower to start
         * the plugin's shell than the timeout: then it is killed before its child exists, and the kill of
         * the whole group is not shown; again with a longer timeout. */
        for (int64_t t = 300; !pid && t <= 9600; t *= 2) {
                struct cni_result *res = NULL;
                struct cni_error err = {0};
                reset();
                rec_write("fakeerr.ADD.sleep", "120");
                quick.timeout_ms = t;
                int64_t t0 = now_mono_ms();
                assert_int_equal(cni_network_add(&quick, n, &att, &res, &err), -ETIMEDOUT);
                int64_t took = now_mono_ms() - t0;
                assert_true(took >= t && took < t + 60000); /* killed: not waited for (120 s) */
                _cleanup_free_ char *want =
                        strdup_printf("plugin fakeerr: ADD timed out after %" PRId64 " ms, killed", t);
                assert_string_equal(err.msg, want);
                pid = rec_read("fakeerr.ADD.pid");
        }
        assert_non_null(pid);

        /* The whole process group went: the sleep the plugin started too (gone or a zombie of init). */
        _cleanup_free_ char *stat = strdup_printf("/proc/%d/stat", atoi(pid));
        for (int i = 0; i < 1000; i++) {
                _cleanup_free_ char *s = read_text(stat);
                char *p = s ? strrchr(s, ')') : NULL;
                if (!p || p[2] == 'Z')
                        return;
                usleep(20000);
        }
        fail_msg("the plugin's child %s survived the timeout", pid);
}

/* ---- the cache --------------------------------------------------------------------------------------------- */

static void test_attach_detach(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n = parse_net(LIST2);
        _cleanup_(cni_result_freep) struct cni_result *res = NULL;
        _cleanup_(cni_cache_entry_freep) struct cni_cache_entry *e = NULL;
        struct cni_cache_entry **v = NULL;
        struct cni_result *again = NULL;
        struct cni_error err = {0};
        size_t nv = 0, invalid = 0;
        _cleanup_free_ char *c = NULL, *path = strdup_printf("%s/results/net1-ctr1-eth0", cachedir);
        struct cni_attachment att = {.container_id = "ctr1",
                                     .netns = "/proc/self/ns/net",
                                     .ifname = "eth0",
                                     .args = "K8S_POD_NAME=web",
                                     .capability_args = CAPS};
        reset();

        assert_int_equal(cni_cache_list(cachedir, &v, &nv, &invalid), 0); /* no dir yet: empty */
        assert_int_equal(nv, 0);
        if (cni_attach(&ex, cachedir, n, &att, &res, &err) < 0)
                fail_msg("attach: %s", err.msg);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);

        assert_int_equal(cni_cache_load(cachedir, "net1", "ctr1", "eth0", &e, &err), 0);
        assert_string_equal(e->network_name, "net1");
        assert_string_equal(e->container_id, "ctr1");
        assert_string_equal(e->ifname, "eth0");
        assert_string_equal(e->netns, "/proc/self/ns/net");
        assert_string_equal(e->args, "K8S_POD_NAME=web");
        assert_non_null(strstr(e->capability_args, "portMappings"));
        assert_int_equal(cni_network_n_plugins(e->network), 2);
        assert_non_null(e->result);
        assert_int_equal(e->result->n_ips, 2);
        assert_true(e->mtime_ns > 0);
        assert_int_equal(cni_cache_load(cachedir, "net1", "ctr2", "eth0", &e, &err), -ENOENT);

        assert_int_equal(cni_cache_list(cachedir, &v, &nv, &invalid), 0);
        assert_int_equal(nv, 1);
        assert_int_equal(invalid, 0);
        assert_string_equal(v[0]->path, path);
        cni_cache_entries_free(v, nv);

        /* No second ADD on top of the first. */
        assert_int_equal(cni_attach(&ex, cachedir, n, &att, &again, &err), -EEXIST);
        assert_null(again);

        /* CHECK and DEL use what the cache recorded, even when the caller's inputs changed since. */
        struct cni_attachment later = {.container_id = "ctr1", .netns = "/elsewhere", .ifname = "eth0"};
        rec_unlink("calls");
        assert_int_equal(cni_check(&ex, cachedir, n, &later, &err), 0);
        assert_env("fakechain", "CHECK", "/proc/self/ns/net", "IgnoreUnknown=1;K8S_POD_NAME=web");
        assert_int_equal(cni_detach(&ex, cachedir, n, &later, &err), 0);
        c = calls();
        assert_string_equal(c, "fakebr CHECK\nfakechain CHECK\nfakechain DEL\nfakebr DEL\n");
        assert_env("fakebr", "DEL", "/proc/self/ns/net", "IgnoreUnknown=1;K8S_POD_NAME=web");
        _cleanup_json_ json_t *del = rec_json("fakebr.DEL.stdin");
        _cleanup_json_ json_t *want = json_loads(res->json, 0, NULL);
        assert_true(json_equal(json_object_get(del, "prevResult"), want));
        assert_int_equal(access(path, F_OK), -1);

        /* Not attached: CHECK says so; DEL still runs (idempotent) and succeeds. */
        assert_int_equal(cni_check(&ex, cachedir, n, &later, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "is not attached"));
        assert_int_equal(cni_detach(&ex, cachedir, n, &later, &err), 0);
        _cleanup_json_ json_t *del2 = rec_json("fakebr.DEL.stdin");
        assert_null(json_object_get(del2, "prevResult"));
}

static void test_attach_failure_rolls_back(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n =
                parse_net("{\"cniVersion\":\"1.0.0\",\"name\":\"rb\",\"plugins\":[{\"type\":\"fakebr\"},{"
                          "\"type\":\"fakeerr\"}]}");
        struct cni_result *res = NULL;
        struct cni_cache_entry **v = NULL;
        size_t nv = 0;
        struct cni_error err = {0};
        _cleanup_free_ char *c = NULL, *c2 = NULL;
        struct cni_attachment att = {.container_id = "ctr9", .netns = "/proc/self/ns/net", .ifname = "eth0"};
        reset();

        /* Inputs no plugin takes never reach the cache (a DEL with them could never succeed). */
        struct cni_attachment bad = att;
        bad.args = "no pairs";
        assert_int_equal(cni_attach(&ex, cachedir, n, &bad, &res, &err), -EINVAL);
        bad = att;
        bad.netns = "";
        assert_int_equal(cni_attach(&ex, cachedir, n, &bad, &res, &err), -EINVAL);
        bad = att;
        bad.container_id = "../x";
        assert_int_equal(cni_attach(&ex, cachedir, n, &bad, &res, &err), -EINVAL);
        assert_int_equal(cni_cache_list(cachedir, &v, &nv, NULL), 0);
        assert_int_equal(nv, 0);

        rec_write("fakeerr.ADD.out", "{\"code\":7,\"msg\":\"bad config\"}");
        rec_write("fakeerr.ADD.code", "1");
        assert_int_equal(cni_attach(&ex, cachedir, n, &att, &res, &err), -EIO);
        assert_string_equal(err.msg, "plugin fakeerr: bad config (code 7)");
        assert_null(res);
        c = calls();
        assert_string_equal(c, "fakebr ADD\nfakeerr ADD\nfakeerr DEL\nfakebr DEL\n");
        assert_int_equal(cni_cache_list(cachedir, &v, &nv, NULL), 0);
        assert_int_equal(nv, 0);

        /* When the cleanup fails too, the entry stays (without a result) for GC, and the message says both. */
        rec_write("fakeerr.DEL.out", "{\"code\":5,\"msg\":\"stuck\"}");
        rec_write("fakeerr.DEL.code", "1");
        assert_int_equal(cni_attach(&ex, cachedir, n, &att, &res, &err), -EIO);
        assert_string_equal(err.msg,
                            "plugin fakeerr: bad config (code 7) (DEL after the failed ADD failed too: "
                            "plugin fakeerr: stuck (code 5))");
        assert_int_equal(cni_cache_list(cachedir, &v, &nv, NULL), 0);
        assert_int_equal(nv, 1);
        assert_null(v[0]->result);
        cni_cache_entries_free(v, nv);
        assert_int_equal(cni_cache_gc(&ex, cachedir, NULL, 0, &err), -EIO);
        assert_non_null(strstr(err.msg, "network rb container ctr9 interface eth0: plugin fakeerr: stuck"));

        /* Once DEL works, an ADD first cleans up the unfinished one, then runs. */
        rec_unlink("fakeerr.DEL.code");
        rec_unlink("fakeerr.ADD.code");
        rec_write("fakeerr.ADD.out", R1);
        rec_unlink("calls");
        assert_int_equal(cni_attach(&ex, cachedir, n, &att, &res, &err), 0);
        c2 = calls();
        assert_string_equal(c2, "fakeerr DEL\nfakebr DEL\nfakebr ADD\nfakeerr ADD\n");
        cni_result_free(res);
}

static void attach_one(const struct cni_network *n, const char *cid, const char *ifname)
{
        struct cni_attachment att = {.container_id = cid, .netns = "/proc/self/ns/net", .ifname = ifname};
        struct cni_result *res = NULL;
        struct cni_error err = {0};
        if (cni_attach(&ex, cachedir, n, &att, &res, &err) < 0)
                fail_msg("attach %s: %s", cid, err.msg);
        cni_result_free(res);
}

static void test_gc(void **state)
{
        _cleanup_(cni_network_unrefp) struct cni_network *n = parse_net(LIST2);
        _cleanup_(cni_network_unrefp) struct cni_network *m = parse_net(
                "{\"cniVersion\":\"1.0.0\",\"name\":\"other\",\"plugins\":[{\"type\":\"fakebr\"}]}");
        struct cni_cache_entry **v = NULL;
        size_t nv = 0, invalid = 0;
        struct cni_error err = {0};
        char *live[] = {"c2", NULL};
        reset();

        attach_one(n, "c1", "eth0");
        attach_one(n, "c2", "eth0");
        attach_one(n, "c3", "eth0");
        attach_one(m, "c3", "net1");
        _cleanup_free_ char *junk = strdup_printf("%s/results/garbage", cachedir);
        write_text(junk, "{not json");

        /* Too young: left alone. */
        assert_int_equal(cni_cache_gc(&ex, cachedir, live, 3600 * 1000, &err), 0);
        rec_unlink("calls");
        assert_int_equal(cni_cache_gc(&ex, cachedir, live, 0, &err), 3);
        assert_int_equal(cni_cache_list(cachedir, &v, &nv, &invalid), 0);
        assert_int_equal(nv, 1);
        assert_int_equal(invalid, 1); /* the junk file is not touched */
        assert_string_equal(v[0]->container_id, "c2");
        cni_cache_entries_free(v, nv);
        _cleanup_free_ char *c = calls();
        assert_string_equal(c, "fakechain DEL\nfakebr DEL\nfakechain DEL\nfakebr DEL\nfakebr DEL\n");

        /* Every attachment of one container. */
        attach_one(n, "c4", "eth0");
        attach_one(m, "c4", "net1");
        assert_int_equal(cni_detach_container(&ex, cachedir, "c4", &err), 2);
        assert_int_equal(cni_detach_container(&ex, cachedir, "c4", &err), 0);
        assert_int_equal(cni_cache_list(cachedir, &v, &nv, NULL), 0);
        assert_int_equal(nv, 1);
        cni_cache_entries_free(v, nv);

        /* An unreadable entry for the attachment does not block a new ADD: DEL first, as the caller's. */
        _cleanup_free_ char *bad = strdup_printf("%s/results/net1-c5-eth0", cachedir);
        write_text(bad, "{\"kind\":\"something else\"}");
        rec_unlink("calls");
        attach_one(n, "c5", "eth0");
        _cleanup_free_ char *c5 = calls();
        assert_string_equal(c5, "fakechain DEL\nfakebr DEL\nfakebr ADD\nfakechain ADD\n");
        assert_int_equal(cni_detach_container(&ex, cachedir, "c5", &err), 1);
}

/* Many attachments at once, one network shared by all threads (as pod workers do). */
struct worker {
        const struct cni_network *net;
        char cid[16];
        int r;
        struct cni_error err;
};

static void *attach_detach(void *arg)
{
        struct worker *w = arg;
        struct cni_attachment att = {.container_id = w->cid,
                                     .netns = "/proc/self/ns/net",
                                     .ifname = "eth0",
                                     .capability_args = CAPS};
        struct cni_result *res = NULL;
        _cleanup_strv_free_ char **ips = NULL;

        w->r = cni_attach(&ex, cachedir, w->net, &att, &res, &w->err);
        if (w->r == 0 && cni_result_pod_ips(res, "eth0", &ips) != 2)
                w->r = -EBADMSG;
        if (w->r == 0)
                w->r = cni_check(&ex, cachedir, w->net, &att, &w->err);
        if (w->r == 0)
                w->r = cni_detach(&ex, cachedir, w->net, &att, &w->err);
        cni_result_free(res);
        return NULL;
}

static void test_concurrent(void **state)
{
        _cleanup_(cni_config_freep) struct cni_config *c = NULL;
        struct worker w[8];
        pthread_t t[8];
        struct cni_cache_entry **v = NULL;
        size_t nv = 0;
        reset();

        conf_write("10-n.conflist", LIST2);
        assert_int_equal(cni_config_load(confdir, bin_dirs, &c), 0);
        assert_int_equal(c->n_networks, 1);
        for (int i = 0; i < 8; i++) {
                w[i] = (struct worker){.net = cni_config_default(c)};
                snprintf(w[i].cid, sizeof w[i].cid, "par%d", i);
                assert_int_equal(pthread_create(&t[i], NULL, attach_detach, &w[i]), 0);
        }
        for (int i = 0; i < 8; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                if (w[i].r != 0)
                        fail_msg("%s: %d %s", w[i].cid, w[i].r, w[i].err.msg);
        }
        assert_int_equal(cni_cache_list(cachedir, &v, &nv, NULL), 0);
        assert_int_equal(nv, 0);
}

/* ---- real plugins (root) ----------------------------------------------------------------------------------- */

static const char *real_skip; /* why the real-plugin test cannot run, NULL when it can */

static char *run_out(const char *fmt, ...) _printf_(1, 2);
static char *run_out(const char *fmt, ...)
{
        _cleanup_free_ char *cmd = NULL;
        char buf[4096];
        size_t n;
        va_list ap;
        va_start(ap, fmt);
        assert_true(vasprintf(&cmd, fmt, ap) >= 0);
        va_end(ap);
        FILE *p = popen(cmd, "re");
        assert_non_null(p);
        n = fread(buf, 1, sizeof buf - 1, p);
        buf[n] = 0;
        pclose(p);
        return xstrdup(buf);
}

static int count_ip_files(const char *dir)
{
        _cleanup_free_ char *out = run_out("ls %s 2>/dev/null | grep -cE '^(10\\.|fd00:)'", dir);
        return atoi(out);
}

static char real_ns[64], real_br[16], real_dir[512];
static int real_subnet;

static void real_cleanup(void)
{
        _cleanup_free_ char *a = run_out("ip netns del %s 2>&1; ip link del %s 2>&1", real_ns, real_br);
        (void) a;
}

static void test_real_plugins(void **state)
{
        _cleanup_(cni_config_freep) struct cni_config *cfg = NULL;
        _cleanup_(cni_result_freep) struct cni_result *res = NULL, *lores = NULL;
        _cleanup_strv_free_ char **ips = NULL;
        struct cni_error err = {0};
        char *real_bins[] = {"/usr/lib/cni", NULL};
        struct cni_exec rex = {.bin_dirs = real_bins, .timeout_ms = 30000};
        int pid = (int) getpid();

        if (real_skip) {
                print_message("skipped: %s\n", real_skip);
                skip();
        }
        reset();
        snprintf(real_ns, sizeof real_ns, "cnitest-%d", pid);
        snprintf(real_br, sizeof real_br, "cnit%d", pid % 1000);
        real_subnet = pid % 250;
        snprintf(real_dir, sizeof real_dir, "%s/real", tmp);
        _cleanup_free_ char *netns = strdup_printf("/run/netns/%s", real_ns);
        _cleanup_free_ char *ipam = strdup_printf("%s/ipam", real_dir);
        _cleanup_free_ char *store = strdup_printf("%s/cnitest-%d", ipam, pid);
        _cleanup_free_ char *cache = strdup_printf("%s/cache", real_dir);
        _cleanup_free_ char *conf = strdup_printf("%s/conf", real_dir);
        assert_int_equal(mkdir_p(conf, 0755), 0);
        _cleanup_free_ char *mk = run_out("ip netns add %s 2>&1 && echo ok", real_ns);
        if (!strstr(mk, "ok"))
                fail_msg("ip netns add: %s", mk);

        _cleanup_free_ char *list =
                strdup_printf("{\"cniVersion\":\"1.0.0\",\"name\":\"cnitest-%d\",\"plugins\":["
                              "{\"type\":\"bridge\",\"bridge\":\"%s\",\"isGateway\":true,\"ipMasq\":false,"
                              "\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"%s\",\"ranges\":[[{"
                              "\"subnet\":\"10.197.%d.0/24\"}],"
                              "[{\"subnet\":\"fd00:197:%d::/64\"}]],\"routes\":[{\"dst\":\"0.0.0.0/"
                              "0\"},{\"dst\":\"::/0\"}]}},"
                              "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}",
                              pid, real_br, ipam, real_subnet, real_subnet);
        _cleanup_free_ char *lo = strdup_printf("{\"cniVersion\":\"1.0.0\",\"name\":\"cnitest-lo-%d\","
                                                "\"plugins\":[{\"type\":\"loopback\"}]}",
                                                pid);
        _cleanup_free_ char *p1 = strdup_printf("%s/10-bridge.conflist", conf);
        _cleanup_free_ char *p2 = strdup_printf("%s/99-loopback.conflist", conf);
        write_text(p1, list);
        write_text(p2, lo);
        assert_int_equal(cni_config_ready(conf, real_bins, &err), 0);
        assert_int_equal(cni_config_load(conf, real_bins, &cfg), 0);
        assert_int_equal(cfg->n_networks, 2);
        assert_int_equal(cfg->n_errors, 0);
        struct cni_network *br = cni_config_default(cfg), *lonet = cfg->networks[1];
        _cleanup_free_ char *cid = strdup_printf("cnitest%d", pid);

        struct cni_attachment lo_att = {.container_id = cid, .netns = netns, .ifname = "lo"};
        struct cni_attachment att = {
                .container_id = cid,
                .netns = netns,
                .ifname = "eth0",
                .args = "K8S_POD_NAMESPACE=default;K8S_POD_NAME=cnitest",
                .capability_args = "{\"portMappings\":[{\"hostPort\":18080,\"containerPort\":80,"
                                   "\"protocol\":\"tcp\"}]}",
        };
        if (cni_attach(&rex, cache, lonet, &lo_att, &lores, &err) < 0)
                fail_msg("loopback ADD: %s", err.msg);
        if (cni_attach(&rex, cache, br, &att, &res, &err) < 0)
                fail_msg("bridge ADD: %s", err.msg);

        /* The pod IPs: on eth0 inside the netns, in the subnets, and what host-local recorded. */
        assert_int_equal(cni_result_pod_ips(res, "eth0", &ips), 2);
        _cleanup_free_ char *prefix = strdup_printf("10.197.%d.", real_subnet);
        _cleanup_free_ char *prefix6 = strdup_printf("fd00:197:%d::", real_subnet);
        assert_true(str_has_prefix(ips[0], prefix));
        assert_true(str_has_prefix(ips[1], prefix6));
        _cleanup_free_ char *addr = run_out("ip -n %s -o addr show dev eth0", real_ns);
        _cleanup_free_ char *want = strdup_printf("inet %s/24", ips[0]);
        _cleanup_free_ char *want6 = strdup_printf("inet6 %s/64", ips[1]);
        if (!strstr(addr, want) || !strstr(addr, want6))
                fail_msg("eth0 in %s: %s (want %s and %s)", real_ns, addr, want, want6);
        _cleanup_free_ char *lo_up = run_out("ip -n %s -o link show dev lo", real_ns);
        assert_non_null(strstr(lo_up, "UP"));
        assert_int_equal(count_ip_files(store), 2);
        _cleanup_free_ char *nat = run_out("iptables -t nat -S 2>&1; ip6tables -t nat -S 2>&1");
        assert_non_null(strstr(nat, "CNI-DN-")); /* portmap's chain for this container */
        assert_non_null(strstr(nat, "--dport 18080"));

        if (cni_check(&rex, cache, br, &att, &err) < 0) {
                /* containernetworking/plugins before 1.2 (Debian 12 has 1.1.1): portmap's CHECK looks for its
                 * rules in ip6tables whatever the families (upstream issue 819). Any other failure is real; and
                 * bridge with host-local must pass on their own, against the cached result. */
                _cleanup_(cni_cache_entry_freep) struct cni_cache_entry *e = NULL;
                if (!str_has_prefix(err.msg, "plugin portmap: could not check ipv6 dnat"))
                        fail_msg("CHECK: %s", err.msg);
                print_message("note: the installed portmap fails CHECK (plugins issue 819): %s\n", err.msg);
                assert_int_equal(cni_cache_load(cache, cni_network_name(br), cid, "eth0", &e, &err), 0);
                _cleanup_json_ json_t *pl = json_deep_copy(br->conf);
                json_array_remove(json_object_get(pl, "plugins"), 1);
                _cleanup_free_ char *pls = json_dumps(pl, JSON_COMPACT);
                _cleanup_(cni_network_unrefp) struct cni_network *bridge_only = parse_net(pls);
                if (cni_network_check(&rex, bridge_only, &att, e->result, &err) < 0)
                        fail_msg("CHECK of bridge alone: %s", err.msg);
        }
        if (cni_check(&rex, cache, lonet, &lo_att, &err) < 0)
                fail_msg("loopback CHECK: %s", err.msg);

        /* DEL from a fresh process that knows only the cache dir and the container ID. */
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                struct cni_error cerr = {0};
                cni_plugin_versions_flush();
                int r = cni_detach_container(&rex, cache, cid, &cerr);
                if (r != 2)
                        fprintf(stderr, "detach in child: %d %s\n", r, cerr.msg);
                _exit(r == 2 ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        struct cni_cache_entry **v = NULL;
        size_t nv = 0;
        assert_int_equal(cni_cache_list(cache, &v, &nv, NULL), 0);
        assert_int_equal(nv, 0);
        assert_int_equal(count_ip_files(store), 0);
        _cleanup_free_ char *veths = run_out("ip -o link show type veth");
        assert_string_equal(veths, "");
        _cleanup_free_ char *eth0 = run_out("ip -n %s -o link show 2>&1", real_ns);
        assert_null(strstr(eth0, "eth0"));
        _cleanup_free_ char *nat2 = run_out("iptables -t nat -S 2>&1; ip6tables -t nat -S 2>&1");
        assert_null(strstr(nat2, "CNI-DN-"));
        assert_null(strstr(nat2, "18080"));

        /* A second DEL (already deleted, netns gone) is still success. */
        real_cleanup();
        assert_int_equal(cni_detach(&rex, cache, br, &att, &err), 0);
        assert_int_equal(count_ip_files(store), 0);
}

static int real_teardown(void **state)
{
        if (!real_skip)
                real_cleanup();
        return 0;
}

/* As root the whole test runs in a network and mount namespace of its own: the bridge, veths and portmap's
 * iptables chains never touch the host's, and go away with the process whatever happens. */
static void enter_private_namespaces(void)
{
        if (geteuid() != 0) {
                real_skip = "needs root (network namespaces, bridge, iptables)";
                return;
        }
        if (access("/usr/lib/cni/bridge", X_OK) < 0 || access("/usr/lib/cni/host-local", X_OK) < 0 ||
            access("/usr/lib/cni/portmap", X_OK) < 0 || access("/usr/lib/cni/loopback", X_OK) < 0) {
                real_skip = "the containernetworking plugins are not installed in /usr/lib/cni";
                return;
        }
        if (system("command -v ip >/dev/null && command -v iptables >/dev/null") != 0) {
                real_skip = "ip or iptables is not installed";
                return;
        }
        if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
                real_skip = "cannot unshare the network and mount namespaces";
                return;
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("sysfs", "/sys", "sysfs", 0, NULL) < 0 || system("ip link set lo up") != 0) {
                real_skip = "cannot set up the private namespaces (mount, sysfs, lo)";
                return;
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_result_100),
                cmocka_unit_test(test_result_031_040),
                cmocka_unit_test(test_result_invalid),
                cmocka_unit_test(test_plugin_failure_messages),
                cmocka_unit_test(test_args),
                cmocka_unit_test(test_network_parse),
                cmocka_unit_test(test_plugin_stdin),
                cmocka_unit_test(test_config_load),
                cmocka_unit_test(test_config_ready),
                cmocka_unit_test(test_version_cache),
                cmocka_unit_test(test_add_chain),
                cmocka_unit_test(test_add_bad_result),
                cmocka_unit_test(test_add_converts_prev_result),
                cmocka_unit_test(test_del_check),
                cmocka_unit_test(test_version_031_rules),
                cmocka_unit_test(test_plugin_errors),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_attach_detach),
                cmocka_unit_test(test_attach_failure_rolls_back),
                cmocka_unit_test(test_gc),
                cmocka_unit_test(test_concurrent),
                cmocka_unit_test_teardown(test_real_plugins, real_teardown),
        };
        char tmpl[] = "/tmp/test_cni.XXXXXX";
        int r;

        tmp = mkdtemp(tmpl);
        if (!tmp) {
                perror("mkdtemp");
                return 1;
        }
        bindir = strdup_printf("%s/bin", tmp);
        confdir = strdup_printf("%s/conf", tmp);
        recdir = strdup_printf("%s/rec", tmp);
        cachedir = strdup_printf("%s/cache", tmp);
        mkdir(bindir, 0755);
        mkdir(recdir, 0755);
        bin_dirs[0] = bindir;
        ex = (struct cni_exec){.bin_dirs = bin_dirs, .timeout_ms = 10000};

        enter_private_namespaces();
        r = cmocka_run_group_tests(tests, NULL, NULL);
        if (r == 0 && real_skip) { /* as test_cri_events: all else passed, the real part could not run */
                fprintf(stderr, "real-plugin test skipped: %s\n", real_skip);
                r = 77;
        }

        cni_plugin_versions_flush();
        rm_rf(tmp);
        free(bindir);
        free(confdir);
        free(recdir);
        free(cachedir);
        return r;
}
