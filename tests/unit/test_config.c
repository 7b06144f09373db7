/* Unit tests for cubelet's configuration: Go durations, flags, and the KubeletConfiguration file. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "thresholds.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-config-XXXXXX";

static int setup(void **state)
{
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        return rm_rf(tmpdir) < 0 ? -1 : 0;
}

/* Writes a file in the test directory; returns its path (caller frees). */
static char *write_tmp(const char *name, const char *text)
{
        char *path = strdup_printf("%s/%s", tmpdir, name);
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
        return path;
}

/* Runs config_load_file with stderr captured; returns what was written there (caller frees). */
static char *load_capturing_stderr(struct cubelet_config *c, const char *path, int *ret, char **ret_err)
{
        _cleanup_free_ char *out = strdup_printf("%s/stderr.txt", tmpdir);
        char *text = NULL;
        size_t len = 0;
        int saved = dup(STDERR_FILENO);
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(saved >= 0);
        assert_true(fd >= 0);
        fflush(stderr);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);
        close(fd);
        *ret = config_load_file(c, path, ret_err);
        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        assert_int_equal(read_file_limit(out, 1 << 20, &text, &len), 0);
        unlink(out);
        return text;
}

/* Parses a NULL-terminated list of arguments (after "cubelet") into a freshly defaulted c. */
static int parse(struct cubelet_config *c, ...)
{
        char *argv[64];
        int argc = 0;
        va_list ap;

        argv[argc++] = (char *) "cubelet";
        va_start(ap, c);
        for (char *a; (a = va_arg(ap, char *));) {
                assert_true(argc < 63);
                argv[argc++] = a;
        }
        va_end(ap);
        argv[argc] = NULL;
        config_init_defaults(c);
        return config_parse(c, argc, argv);
}

/* ----------------------------------------------------------------------------------------------- */

static void test_durations(void **state)
{
        static const struct {
                const char *s;
                int64_t ms;
        } good[] = {
                {"20s", 20000},   {"1m30s", 90000}, {"250ms", 250},
                {"2h", 7200000},  {"0", 0},         {"0s", 0},
                {"1.5s", 1500},   {".5s", 500},     {"1h2m3s4ms", 3723004},
                {"90m", 5400000}, {"1500us", 1},    {"1500µs", 1},
                {"2000000ns", 2}, {"1m0s", 60000},  {"10s10s", 20000},
                {"0.5m", 30000},
        };
        static const char *const bad[] = {
                "",    "5",  "s",  "ms", "-1s",    "+1s", "1x",   "abc",    "1m30", " 1s", "1s ",
                "1 s", "1S", "1H", "1d", "1.5.5s", "00",  "1sec", "1m 30s", "nan",  "inf", "1,5s",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                int64_t v = -1;
                int r = parse_duration_ms(good[i].s, &v);
                if (r != 0 || v != good[i].ms)
                        fail_msg("\"%s\": r=%d value=%lld, expected %lld", good[i].s, r, (long long) v,
                                 (long long) good[i].ms);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int64_t v = 4242;
                int r = parse_duration_ms(bad[i], &v);
                if (r != -EINVAL)
                        fail_msg("\"%s\": r=%d value=%lld, expected -EINVAL", bad[i], r, (long long) v);
                assert_int_equal(v, 4242); /* ret_* untouched on failure */
        }
}

static void test_defaults(void **state)
{
        struct cubelet_config c;

        config_init_defaults(&c);
        assert_null(c.config_file);
        assert_null(c.static_pod_path);
        assert_string_equal(c.runtime_endpoint, "unix:///run/containerd/containerd.sock");
        assert_string_equal(c.root_dir, "/var/lib/cubelet");
        assert_string_equal(c.pod_logs_dir, "/var/log/pods");
        assert_string_equal(c.healthz_bind, "127.0.0.1");
        assert_int_equal(c.healthz_port, 10248);
        assert_int_equal(c.file_check_ms, 20000);
        assert_int_equal(c.sync_ms, 60000);
        assert_int_equal(c.runtime_timeout_ms, 120000);
        assert_int_equal(c.workers, 4);
        assert_int_equal(c.relist_ms, 1000);
        assert_int_equal(c.evented_relist_ms, 300000);
        assert_int_equal(c.verbosity, 0);
        assert_non_null(c.node_name);
        assert_true(c.node_name[0]);
        config_done(&c);
        assert_null(c.root_dir);
        config_done(&c); /* twice is fine */

        /* No flags but a node name (the machine's hostname need not be a valid node name). */
        assert_int_equal(parse(&c, "--hostname-override", "Node-A.Example", NULL), 0);
        assert_string_equal(c.node_name, "node-a.example"); /* lowercased */
        assert_null(c.static_pod_path);
        assert_int_equal(c.healthz_port, 10248);
        assert_int_equal(c.workers, 4);
        config_done(&c);
}

static void test_flags(void **state)
{
        struct cubelet_config c;

        assert_int_equal(parse(&c, "--hostname-override", "n1", "--pod-manifest-path",
                               "/etc/kubernetes/manifests", "--container-runtime-endpoint",
                               "unix:///run/crio/crio.sock", "--root-dir", "/srv/cubelet",
                               "--pod-logs-dir=/srv/logs", "--healthz-port", "0", "--healthz-bind-address",
                               "0.0.0.0", "--file-check-frequency", "5s", "--sync-frequency=1m30s",
                               "--runtime-request-timeout", "250ms", "--pod-workers", "8",
                               "--pleg-relist-period", "500ms", "--pleg-evented-relist-period=2m", NULL),
                         0);
        assert_int_equal(c.relist_ms, 500);
        assert_int_equal(c.evented_relist_ms, 120000);
        assert_string_equal(c.static_pod_path, "/etc/kubernetes/manifests");
        assert_string_equal(c.runtime_endpoint, "unix:///run/crio/crio.sock");
        assert_string_equal(c.root_dir, "/srv/cubelet");
        assert_string_equal(c.pod_logs_dir, "/srv/logs");
        assert_int_equal(c.healthz_port, 0);
        assert_string_equal(c.healthz_bind, "0.0.0.0");
        assert_int_equal(c.file_check_ms, 5000);
        assert_int_equal(c.sync_ms, 90000);
        assert_int_equal(c.runtime_timeout_ms, 250);
        assert_int_equal(c.workers, 8);
        assert_string_equal(c.node_name, "n1");
        config_done(&c);

        /* Single-dash long flags (getopt_long_only), and an empty manifest path means none. */
        assert_int_equal(parse(&c, "-hostname-override=n1", "-pod-manifest-path", "/m", NULL), 0);
        assert_string_equal(c.static_pod_path, "/m");
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--pod-manifest-path=", NULL), 0);
        assert_null(c.static_pod_path);
        config_done(&c);

        /* The last occurrence wins. */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--healthz-port=1", "--healthz-port=2", NULL),
                         0);
        assert_int_equal(c.healthz_port, 2);
        config_done(&c);
}

/* /var/lib/kubelet/config.yaml as kubeadm 1.20 writes it: every zero it writes ("0s", 0, "") takes upstream's
 * default, nothing is unknown, and what it sets is taken. */
static void test_kubeadm_config(void **state)
{
        struct cubelet_config c;
        _cleanup_free_ char *err = NULL;
        int r;
        (void) state;
        _cleanup_free_ char *path =
                write_tmp("kubeadm-config.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                 "authentication:\n"
                                                 "  anonymous:\n"
                                                 "    enabled: false\n"
                                                 "  webhook:\n"
                                                 "    cacheTTL: 0s\n"
                                                 "    enabled: true\n"
                                                 "  x509:\n"
                                                 "    clientCAFile: /etc/kubernetes/pki/ca.crt\n"
                                                 "authorization:\n"
                                                 "  mode: Webhook\n"
                                                 "  webhook:\n"
                                                 "    cacheAuthorizedTTL: 0s\n"
                                                 "    cacheUnauthorizedTTL: 0s\n"
                                                 "cgroupDriver: cgroupfs\n"
                                                 "clusterDNS:\n"
                                                 "- 10.96.0.10\n"
                                                 "clusterDomain: cluster.local\n"
                                                 "cpuManagerReconcilePeriod: 0s\n"
                                                 "evictionPressureTransitionPeriod: 0s\n"
                                                 "fileCheckFrequency: 0s\n"
                                                 "healthzBindAddress: 127.0.0.1\n"
                                                 "healthzPort: 10248\n"
                                                 "httpCheckFrequency: 0s\n"
                                                 "imageMinimumGCAge: 0s\n"
                                                 "kind: KubeletConfiguration\n"
                                                 "logging: {}\n"
                                                 "nodeStatusReportFrequency: 0s\n"
                                                 "nodeStatusUpdateFrequency: 0s\n"
                                                 "resolvConf: /etc/resolv.conf\n"
                                                 "rotateCertificates: true\n"
                                                 "runtimeRequestTimeout: 0s\n"
                                                 "shutdownGracePeriod: 0s\n"
                                                 "shutdownGracePeriodCriticalPods: 0s\n"
                                                 "staticPodPath: /etc/kubernetes/manifests\n"
                                                 "streamingConnectionIdleTimeout: 0s\n"
                                                 "syncFrequency: 0s\n"
                                                 "volumeStatsAggPeriod: 0s\n"
                                                 "maxPods: 0\n"
                                                 "port: 0\n");
        config_init_defaults(&c);
        _cleanup_free_ char *out = load_capturing_stderr(&c, path, &r, &err);
        if (r != 0)
                fail_msg("kubeadm's file: %s", err);
        if (out[0])
                fail_msg("kubeadm's file: warnings: %s", out);
        assert_int_equal(c.sync_ms, 60000);
        assert_int_equal(c.file_check_ms, 20000);
        assert_int_equal(c.http_check_ms, 20000);
        assert_int_equal(c.runtime_timeout_ms, 120000);
        assert_int_equal(c.node_status_ms, 10000);
        assert_int_equal(c.authn_cache_ttl_ms, 120000);
        assert_int_equal(c.authz_allowed_ttl_ms, 300000);
        assert_int_equal(c.authz_denied_ttl_ms, 30000);
        assert_int_equal(c.max_pods, 110);
        assert_int_equal(c.port, 10250);
        assert_string_equal(c.static_pod_path, "/etc/kubernetes/manifests");
        assert_string_equal(c.healthz_bind, "127.0.0.1");
        assert_int_equal(c.healthz_port, 10248);
        assert_string_equal(c.cluster_dns[0], "10.96.0.10");
        assert_null(c.cluster_dns[1]);
        assert_string_equal(c.client_ca_file, "/etc/kubernetes/pki/ca.crt");
        assert_false(c.anonymous_auth);
        assert_true(c.webhook_authn);
        assert_string_equal(c.authz_mode, "Webhook");
        assert_true(c.rotate_certificates);
        config_done(&c);

        /* nodeStatusReportFrequency left zero follows a nodeStatusUpdateFrequency that is set (upstream's
         * backward compatibility) */
        _cleanup_free_ char *p1 = write_tmp("report.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                           "kind: KubeletConfiguration\n"
                                                           "nodeStatusUpdateFrequency: 4s\n"
                                                           "nodeStatusReportFrequency: 0s\n");
        config_init_defaults(&c);
        assert_int_equal(config_load_file(&c, p1, &err), 0);
        assert_int_equal(c.node_status_ms, 4000);
        assert_int_equal(c.node_report_ms, 4000);
        config_done(&c);

        /* Graceful node shutdown needs upstream's feature gate, which 1.20 has off */
        _cleanup_free_ char *p2 = write_tmp("shutdown.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                             "kind: KubeletConfiguration\n"
                                                             "shutdownGracePeriod: 30s\n");
        config_init_defaults(&c);
        free(err);
        err = NULL;
        assert_int_equal(config_load_file(&c, p2, &err), -EINVAL);
        assert_non_null(strstr(err, "requires feature gate GracefulNodeShutdown"));
        config_done(&c);
        _cleanup_free_ char *p3 = write_tmp("logging.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                            "kind: KubeletConfiguration\n"
                                                            "logging: {format: json}\n");
        config_init_defaults(&c);
        free(err);
        err = NULL;
        assert_int_equal(config_load_file(&c, p3, &err), -EINVAL);
        assert_non_null(strstr(err, "logging.format"));
        config_done(&c);
}

/* What kubeadm 1.20 writes in KUBELET_KUBEADM_ARGS is taken; flags are exact names, never prefixes. */
static void test_kubeadm_flags(void **state)
{
        struct cubelet_config c;
        (void) state;

        assert_int_equal(parse(&c, "--hostname-override=n1", "--container-runtime=remote",
                               "--container-runtime-endpoint=/run/containerd/containerd.sock", NULL),
                         0);
        assert_string_equal(c.runtime_endpoint, "unix:///run/containerd/containerd.sock");
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--network-plugin=cni",
                               "--pod-infra-container-image=k8s.gcr.io/pause:3.2",
                               "--register-with-taints=node-role.kubernetes.io/master:NoSchedule", NULL),
                         0);
        assert_string_equal(c.pod_infra_image, "k8s.gcr.io/pause:3.2");
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--container-runtime=docker", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--network-plugin=kubenet", NULL), -EINVAL);
        config_done(&c);

        /* getopt would take these prefixes for --container-runtime-endpoint, --pod-manifest-path and
         * --hostname-override; upstream's flags do not. */
        assert_int_equal(parse(&c, "--container-runtime-end=unix:///x", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--pod-manifest", "/m", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "-hostname=n1", NULL), -EINVAL);
        config_done(&c);
        /* a value that looks like a flag is a value */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--pod-infra-container-image", "--pause", NULL),
                         0);
        assert_string_equal(c.pod_infra_image, "--pause");
        config_done(&c);
}

static void test_verbosity(void **state)
{
        struct cubelet_config c;
        static const char *const forms[][3] = {
                {"--v=3", NULL}, {"--v", "3"}, {"-v", "3"}, {"-v3", NULL}, {"-v=3", NULL},
        };

        for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
                int r = parse(&c, "--hostname-override=n1", forms[i][0], forms[i][1], NULL);
                if (r != 0 || c.verbosity != 3)
                        fail_msg("%s %s: r=%d v=%d", forms[i][0], forms[i][1] ? forms[i][1] : "", r,
                                 c.verbosity);
                config_done(&c);
        }
        assert_int_equal(parse(&c, "--hostname-override=n1", "--v=11", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--v=-1", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--v=x", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--v", NULL), -EINVAL); /* needs a value */
        config_done(&c);
}

static void test_bad_flags(void **state)
{
        static const char *const cases[][3] = {
                {"--bogus", NULL},
                {"--bogus=1", NULL},
                {"-bogus", NULL},
                {"extra-argument", NULL},
                {"--root-dir", "relative/dir"},
                {"--root-dir", ""},
                {"--pod-logs-dir", "logs"},
                {"--healthz-port", "70000"},
                {"--healthz-port", "-1"},
                {"--healthz-port", "80x"},
                {"--healthz-port", ""},
                {"--pod-workers", "0"},
                {"--pod-workers", "65"},
                {"--file-check-frequency", "0s"},
                {"--file-check-frequency", "20"},
                {"--sync-frequency", "soon"},
                {"--pleg-evented-relist-period", "50ms"},
                {"--pleg-evented-relist-period", "often"},
                {"--runtime-request-timeout", "-1s"},
                {"--container-runtime-endpoint", ""},
                {"--hostname-override", ""},
                {"--hostname-override", "bad_name"},
                {"--hostname-override", "-node"},
                {"--root-dir", NULL}, /* missing value */
                {"--config", "/nonexistent/cubelet-config.yaml"},
        };
        struct cubelet_config c;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r;
                if (streq(cases[i][0], "--hostname-override"))
                        r = parse(&c, cases[i][0], cases[i][1], NULL);
                else
                        r = parse(&c, "--hostname-override=n1", cases[i][0], cases[i][1], NULL);
                if (r != -EINVAL)
                        fail_msg("%s %s: r=%d, expected -EINVAL", cases[i][0],
                                 cases[i][1] ? cases[i][1] : "", r);
                config_done(&c);
        }

        /* A good parse after failed ones still works (getopt's state is reset). */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--v=2", NULL), 0);
        assert_int_equal(c.verbosity, 2);
        config_done(&c);
}

static void test_help_version(void **state)
{
        struct cubelet_config c;

        assert_int_equal(parse(&c, "--help", NULL), 1);
        config_done(&c);
        assert_int_equal(parse(&c, "-h", NULL), 1);
        config_done(&c);
        assert_int_equal(parse(&c, "--version", NULL), 1);
        config_done(&c);
        fflush(stdout);
}

static const char *const CONFIG_YAML = "# cubelet configuration\n"
                                       "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                       "kind: KubeletConfiguration\n"
                                       "staticPodPath: /etc/kubernetes/manifests\n"
                                       "containerRuntimeEndpoint: unix:///run/k3s/containerd.sock\n"
                                       "podLogsDir: /var/log/cubelet-pods\n"
                                       "healthzBindAddress: 0.0.0.0\n"
                                       "healthzPort: 10250\n"
                                       "fileCheckFrequency: 10s\n"
                                       "syncFrequency: 2m\n"
                                       "runtimeRequestTimeout: 30s\n";

static void test_config_file(void **state)
{
        _cleanup_free_ char *path = write_tmp("kubelet.yaml", CONFIG_YAML);
        struct cubelet_config c;

        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, NULL), 0);
        assert_string_equal(c.config_file, path);
        assert_string_equal(c.static_pod_path, "/etc/kubernetes/manifests");
        assert_string_equal(c.runtime_endpoint, "unix:///run/k3s/containerd.sock");
        assert_string_equal(c.pod_logs_dir, "/var/log/cubelet-pods");
        assert_string_equal(c.healthz_bind, "0.0.0.0");
        assert_int_equal(c.healthz_port, 10250);
        assert_int_equal(c.file_check_ms, 10000);
        assert_int_equal(c.sync_ms, 120000);
        assert_int_equal(c.runtime_timeout_ms, 30000);
        assert_string_equal(c.root_dir, "/var/lib/cubelet"); /* not in the file */
        config_done(&c);

        /* Flags override the file, whether they come before or after --config. */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, "--healthz-port", "1234",
                               "--pod-manifest-path=/other", NULL),
                         0);
        assert_int_equal(c.healthz_port, 1234);
        assert_string_equal(c.static_pod_path, "/other");
        assert_int_equal(c.sync_ms, 120000); /* still from the file */
        config_done(&c);
        assert_int_equal(parse(&c, "--sync-frequency=5s", "--hostname-override=n1", "--config", path, NULL),
                         0);
        assert_int_equal(c.sync_ms, 5000);
        assert_int_equal(c.file_check_ms, 10000);
        config_done(&c);

        /* The same as JSON. */
        _cleanup_free_ char *json =
                write_tmp("kubelet.json", "{\"apiVersion\": \"kubelet.config.k8s.io/v1beta1\",\n"
                                          " \"kind\": \"KubeletConfiguration\", \"healthzPort\": 9999,\n"
                                          " \"staticPodPath\": \"/j\"}\n");
        assert_int_equal(parse(&c, "--hostname-override=n1", "--config=", NULL), -EINVAL);
        config_done(&c);
        _cleanup_free_ char *arg = strdup_printf("--config=%s", json);
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, NULL), 0);
        assert_int_equal(c.healthz_port, 9999);
        assert_string_equal(c.static_pod_path, "/j");
        config_done(&c);
}

static void test_api_server_settings(void **state)
{
        struct cubelet_config c;
        _cleanup_free_ char *path = write_tmp(
                "api.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                            "maxPods: 50\nkubeAPIQPS: 20\nkubeAPIBurst: 40\neventRecordQPS: 0.5\n"
                            "nodeStatusUpdateFrequency: 4s\nnodeStatusReportFrequency: 1m\n"
                            "nodeLeaseDurationSeconds: 60\nregisterNode: false\n"
                            "kubeReserved: {cpu: 100m, memory: 128Mi}\nsystemReserved: {cpu: '0.5'}\n");

        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        assert_null(c.kubeconfig);
        assert_true(c.register_node);
        assert_int_equal(c.max_pods, 110);
        assert_int_equal(c.port, 10250);
        assert_int_equal(c.node_status_ms, 10000);
        assert_int_equal(c.node_report_ms, 300000);
        assert_int_equal(c.node_lease_s, 40);
        config_done(&c);

        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, "--kubeconfig=/etc/k.conf",
                               "--node-labels=a=b,example.com/x=", "--register-with-taints=k=v:NoSchedule",
                               "--system-reserved=memory=1Gi", NULL),
                         0);
        assert_string_equal(c.kubeconfig, "/etc/k.conf");
        assert_false(c.register_node);
        assert_int_equal(c.max_pods, 50);
        assert_true(c.kube_api_qps == 20 && c.kube_api_burst == 40 && c.event_qps == 0.5);
        assert_int_equal(c.node_status_ms, 4000);
        assert_int_equal(c.node_report_ms, 60000);
        assert_int_equal(c.node_lease_s, 60);
        /* --system-reserved replaced the file's systemReserved (its cpu: 0.5) */
        assert_int_equal(c.reserved_cpu_m, 100);
        assert_int_equal(c.reserved_mem, (128LL << 20) + (1LL << 30));
        assert_int_equal(strv_length(c.node_labels), 2);
        assert_string_equal(c.node_labels[1], "example.com/x=");
        assert_string_equal(c.register_taints[0], "k=v:NoSchedule");
        config_done(&c);

        assert_int_equal(parse(&c, "--hostname-override=n1", "--node-labels=bad label=x", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--register-with-taints=k=v:Never", NULL),
                         -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--kube-reserved=gpu=1", NULL), -EINVAL);
        config_done(&c);
        /* Reservations that add up past int64 are refused, not wrapped (a fuzz finding). */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--kube-reserved=cpu=9000000000000000",
                               "--system-reserved=cpu=9000000000000000", NULL),
                         -EINVAL);
        config_done(&c);
        /* As upstream's map flag: the first --kube-reserved replaces the file's map, the next ones merge
         * (a resource named again replaces its value); the two maps add up. */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, "--kube-reserved=memory=1Gi",
                               "--kube-reserved=memory=2Gi,ephemeral-storage=1Gi", NULL),
                         0);
        assert_int_equal(c.kube_reserved.cpu_m, -1);
        assert_int_equal(c.kube_reserved.memory, 2LL << 30);
        assert_int_equal(c.reserved_mem, 2LL << 30);
        assert_int_equal(c.reserved_cpu_m, 500); /* the file's systemReserved stands */
        assert_int_equal(c.reserved_ephemeral, 1LL << 30);
        config_done(&c);
}

/* enforceNodeAllocatable and the reserved cgroups, with upstream's validation. */
static void test_enforce_allocatable(void **state)
{
        struct cubelet_config c;
        (void) state;
        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        assert_true(config_enforces(&c, "pods"));
        assert_false(config_enforces(&c, "kube-reserved"));
        config_done(&c);
        /* without pod cgroups the default means nothing; given, it is refused as upstream */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--cgroups-per-qos=false", NULL), 0);
        assert_false(config_enforces(&c, "pods"));
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--cgroups-per-qos=false",
                               "--enforce-node-allocatable=pods", NULL),
                         -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--cgroups-per-qos=false",
                               "--enforce-node-allocatable=", NULL),
                         0);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--enforce-node-allocatable=pods,kube-reserved",
                               "--kube-reserved-cgroup=/kube-reserved", "--kube-reserved=cpu=100m", NULL),
                         0);
        assert_true(config_enforces(&c, "pods") && config_enforces(&c, "kube-reserved"));
        assert_string_equal(c.kube_reserved_cgroup, "/kube-reserved");
        config_done(&c);
        /* a relative name is the same cgroup, as upstream's cgroupfs names */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--enforce-node-allocatable=kube-reserved",
                               "--kube-reserved-cgroup=kube-reserved", "--kube-reserved=pid=100", NULL),
                         0);
        assert_int_equal(c.reserved_pids, 100);
        config_done(&c);
        static const char *const bad[][2] = {
                {"--enforce-node-allocatable=kube-reserved", NULL}, /* no --kube-reserved-cgroup */
                {"--enforce-node-allocatable=system-reserved", NULL},
                {"--enforce-node-allocatable=none,pods", NULL},
                {"--enforce-node-allocatable=everything", NULL},
                {"--enforce-node-allocatable=pods,,none", NULL}, /* an empty option, as upstream's */
                {"--enforce-node-allocatable=pods,", NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (parse(&c, "--hostname-override=n1", bad[i][0], bad[i][1], NULL) != -EINVAL)
                        fail_msg("accepted: %s %s", bad[i][0], bad[i][1] ? bad[i][1] : "");
                config_done(&c);
        }
        /* the configuration file's fields */
        _cleanup_free_ char *path =
                write_tmp("enforce.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                          "kind: KubeletConfiguration\n"
                                          "enforceNodeAllocatable: [pods, system-reserved]\n"
                                          "systemReservedCgroup: /system.slice\n"
                                          "systemReserved: {memory: 1Gi, pid: \"1000\"}\n");
        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, NULL), 0);
        assert_true(config_enforces(&c, "system-reserved"));
        assert_string_equal(c.system_reserved_cgroup, "/system.slice");
        assert_int_equal(c.system_reserved.pids, 1000);
        assert_int_equal(c.reserved_mem, 1LL << 30);
        config_done(&c);
        /* null is nil: the default stays, as upstream's defaulting */
        _cleanup_free_ char *nul =
                write_tmp("enforce-null.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                               "kind: KubeletConfiguration\n"
                                               "enforceNodeAllocatable: null\n");
        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", nul, NULL), 0);
        assert_true(config_enforces(&c, "pods"));
        config_done(&c);
}

static void test_config_file_errors(void **state)
{
        static const struct {
                const char *name;
                const char *text;
                const char *fragment;
        } cases[] = {
                {"api.yaml", "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\n",
                 "apiVersion/kind must be kubelet.config.k8s.io/v1beta1"},
                {"kind.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: Kubelet\n",
                 "apiVersion/kind"},
                {"noapi.yaml", "kind: KubeletConfiguration\nhealthzPort: 1\n", "apiVersion/kind"},
                {"broken.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: [\n", "line 3"},
                {"port.yaml",
                 "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nhealthzPort: "
                 "70000\n",
                 "field healthzPort"},
                {"porttype.yaml",
                 "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nhealthzPort: "
                 "\"80\"\n",
                 "field healthzPort"},
                {"dur.yaml",
                 "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nsyncFrequency: "
                 "60\n",
                 "field syncFrequency"},
                {"dur0.yaml",
                 "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                 "fileCheckFrequency: -1s\n",
                 "field fileCheckFrequency"},
                {"logs.yaml",
                 "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\npodLogsDir: logs\n",
                 "field podLogsDir: must be an absolute path"},
                {"path.yaml",
                 "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodPath: 5\n",
                 "field staticPodPath: expected a string"},
                {"two.yaml",
                 "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n---\n"
                 "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n",
                 "expected one KubeletConfiguration document"},
                {"empty.yaml", "", "expected one KubeletConfiguration document"},
                {"list.yaml", "- a\n- b\n", "expected one KubeletConfiguration document"},
                {"dup.yaml",
                 "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                 "healthzPort: 1\nhealthzPort: 2\n",
                 "duplicate key"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *path = write_tmp(cases[i].name, cases[i].text);
                _cleanup_free_ char *err = NULL;
                struct cubelet_config c;

                config_init_defaults(&c);
                int r = config_load_file(&c, path, &err);
                if (r != -EINVAL || !err)
                        fail_msg("%s: r=%d err=%s", cases[i].name, r, err ? err : "(null)");
                /* The error names the file, then the problem. */
                if (!str_has_prefix(err, path) || !strstr(err, cases[i].fragment))
                        fail_msg("%s: error \"%s\" should name %s and say \"%s\"", cases[i].name, err, path,
                                 cases[i].fragment);
                config_done(&c);

                /* Through the flags it fails too. */
                assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, NULL), -EINVAL);
                config_done(&c);
        }

        /* An unreadable file. */
        _cleanup_free_ char *err = NULL;
        _cleanup_free_ char *missing = strdup_printf("%s/missing.yaml", tmpdir);
        struct cubelet_config c;
        config_init_defaults(&c);
        assert_int_equal(config_load_file(&c, missing, &err), -ENOENT);
        assert_true(str_has_prefix(err, missing));
        config_done(&c);
}

static void test_config_unknown_field_warns(void **state)
{
        _cleanup_free_ char *path = write_tmp("unknown.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                              "kind: KubeletConfiguration\n"
                                                              "cpuManagerPolicy: static\n"
                                                              "topologyManagerPolicy: single-numa-node\n"
                                                              "healthzPort: 4321\n");
        _cleanup_free_ char *err = NULL;
        struct cubelet_config c;

        int r;
        config_init_defaults(&c);
        _cleanup_free_ char *log = load_capturing_stderr(&c, path, &r, &err);
        assert_int_equal(r, 0);
        assert_null(err);
        assert_int_equal(c.healthz_port, 4321); /* the known field still applies */
        /* One warning per unknown field, naming file and field, and none for the known ones. */
        _cleanup_free_ char *f1 = strdup_printf("file=\"%s\" field=\"cpuManagerPolicy\"", path);
        if (!strstr(log, f1) || !strstr(log, "field=\"topologyManagerPolicy\"") || !strstr(log, "ignoring"))
                fail_msg("warnings: %s", log);
        assert_null(strstr(log, "healthzPort"));
        assert_true(log[0] == 'W'); /* klog's warning level */
        config_done(&c);

        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, NULL), 0);
        assert_int_equal(c.healthz_port, 4321);
        config_done(&c);

        /* An empty staticPodPath means no file source. */
        _cleanup_free_ char *p2 = write_tmp("nopath.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                           "kind: KubeletConfiguration\n"
                                                           "staticPodPath: \"\"\n");
        assert_int_equal(parse(&c, "--hostname-override=n1", "--pod-manifest-path=/x", "--config", p2, NULL),
                         0);
        assert_string_equal(c.static_pod_path, "/x"); /* the flag wins over the file */
        config_done(&c);
        config_init_defaults(&c);
        assert_int_equal(config_load_file(&c, p2, &err), 0);
        assert_null(c.static_pod_path);
        config_done(&c);
}

/* The node server's fields: TLS files, authentication and authorization, in the file and as flags. */
static void test_unsafe_sysctls(void **state)
{
        struct cubelet_config c;
        assert_int_equal(parse(&c, "--hostname-override=n1",
                               "--allowed-unsafe-sysctls=kernel.msg*,net.core.somaxconn", NULL),
                         0);
        assert_int_equal(strv_length(c.allowed_unsafe_sysctls), 2);
        assert_string_equal(c.allowed_unsafe_sysctls[0], "kernel.msg*");
        json_t *j = config_to_json(&c);
        assert_string_equal(json_string_value(json_array_get(json_object_get(j, "allowedUnsafeSysctls"), 1)),
                            "net.core.somaxconn");
        json_decref(j);
        config_done(&c);
        /* Upstream refuses to start on patterns its whitelist cannot take. */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--allowed-unsafe-sysctls=kernel.*", NULL),
                         -EINVAL);
        config_done(&c);

        _cleanup_free_ char *good = write_tmp("sysctls.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                              "kind: KubeletConfiguration\n"
                                                              "allowedUnsafeSysctls: [\"net.*\"]\n");
        _cleanup_free_ char *bad = write_tmp("badsysctls.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                                "kind: KubeletConfiguration\n"
                                                                "allowedUnsafeSysctls: [vm.swappiness]\n");
        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", good, NULL), 0);
        assert_string_equal(c.allowed_unsafe_sysctls[0], "net.*");
        assert_null(c.allowed_unsafe_sysctls[1]);
        config_done(&c);
        char *err = NULL;
        config_init_defaults(&c);
        assert_int_equal(config_load_file(&c, bad, &err), -EINVAL);
        assert_non_null(strstr(
                err, "allowedUnsafeSysctls: the sysctl \"vm.swappiness\" are not known to be namespaced"));
        free(err);
        config_done(&c);
}

/* serverTLSBootstrap: the file's field and upstream's flag; its CSRs need an API server. */
static void test_server_tls_bootstrap(void **state)
{
        _cleanup_free_ char *path = write_tmp("stb.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                          "kind: KubeletConfiguration\n"
                                                          "serverTLSBootstrap: true\n");
        _cleanup_free_ char *bad = write_tmp("stb-bad.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                             "kind: KubeletConfiguration\n"
                                                             "serverTLSBootstrap: \"yes\"\n");
        struct cubelet_config c;
        assert_int_equal(parse(&c, "--hostname-override=n1", "--kubeconfig=/k.conf", NULL), 0);
        assert_false(c.server_tls_bootstrap);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--kubeconfig=/k.conf", "--config", path, NULL),
                         0);
        assert_true(c.server_tls_bootstrap);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--kubeconfig=/k.conf",
                               "--rotate-server-certificates", NULL),
                         0);
        assert_true(c.server_tls_bootstrap);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--kubeconfig=/k.conf", "--config", path,
                               "--rotate-server-certificates=false", NULL),
                         0);
        assert_false(c.server_tls_bootstrap);
        config_done(&c);
        /* standalone: refused, it could never serve */
        assert_true(parse(&c, "--hostname-override=n1", "--config", path, NULL) < 0);
        config_done(&c);
        assert_true(parse(&c, "--hostname-override=n1", "--kubeconfig=/k.conf", "--config", bad, NULL) < 0);
        config_done(&c);
        assert_true(parse(&c, "--hostname-override=n1", "--kubeconfig=/k.conf",
                          "--rotate-server-certificates=maybe", NULL) < 0);
        config_done(&c);
}

static void test_node_server_config(void **state)
{
        _cleanup_free_ char *path = write_tmp("auth.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                           "kind: KubeletConfiguration\n"
                                                           "port: 10260\n"
                                                           "tlsCertFile: /pki/k.crt\n"
                                                           "tlsPrivateKeyFile: /pki/k.key\n"
                                                           "authentication:\n"
                                                           "  x509: {clientCAFile: /pki/ca.crt}\n"
                                                           "  webhook: {enabled: false, cacheTTL: 45s}\n"
                                                           "  anonymous: {enabled: true}\n"
                                                           "authorization:\n"
                                                           "  mode: AlwaysAllow\n"
                                                           "  webhook: {cacheAuthorizedTTL: 1m, "
                                                           "cacheUnauthorizedTTL: \"0\"}\n");
        _cleanup_free_ char *bad = write_tmp("badauth.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                             "kind: KubeletConfiguration\n"
                                                             "authorization: {mode: RBAC}\n");
        struct cubelet_config c;
        int r;
        char *err = NULL;

        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        assert_int_equal(c.port, 10250);
        assert_null(c.tls_cert_file);
        assert_null(c.client_ca_file);
        assert_false(c.anonymous_auth);
        assert_true(c.webhook_authn);
        assert_null(c.authz_mode);
        /* upstream's webhook cache defaults */
        assert_int_equal(c.authn_cache_ttl_ms, 120000);
        assert_int_equal(c.authz_allowed_ttl_ms, 300000);
        assert_int_equal(c.authz_denied_ttl_ms, 30000);
        config_done(&c);

        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, NULL), 0);
        assert_int_equal(c.port, 10260);
        assert_string_equal(c.tls_cert_file, "/pki/k.crt");
        assert_string_equal(c.tls_key_file, "/pki/k.key");
        assert_string_equal(c.client_ca_file, "/pki/ca.crt");
        assert_true(c.anonymous_auth);
        assert_false(c.webhook_authn);
        assert_string_equal(c.authz_mode, "AlwaysAllow");
        assert_int_equal(c.authn_cache_ttl_ms, 45000);
        assert_int_equal(c.authz_allowed_ttl_ms, 60000);
        assert_int_equal(c.authz_denied_ttl_ms, 30000); /* a zero in the file is upstream's default */
        config_done(&c);

        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, "--port", "0",
                               "--client-ca-file", "/x/ca.crt", "--anonymous-auth=false",
                               "--authorization-mode", "Webhook",
                               "--authentication-token-webhook-cache-ttl=0",
                               "--authorization-webhook-cache-authorized-ttl", "10s",
                               "--authorization-webhook-cache-unauthorized-ttl", "2s", NULL),
                         0);
        assert_int_equal(c.authn_cache_ttl_ms, 0);
        assert_int_equal(c.authz_allowed_ttl_ms, 10000);
        assert_int_equal(c.authz_denied_ttl_ms, 2000);
        assert_int_equal(c.port, 0);
        assert_string_equal(c.client_ca_file, "/x/ca.crt");
        assert_false(c.anonymous_auth);
        assert_string_equal(c.authz_mode, "Webhook");
        config_done(&c);

        config_init_defaults(&c);
        free(load_capturing_stderr(&c, bad, &r, &err));
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err, "authorization.mode"));
        free(err);
        config_done(&c);

        _cleanup_free_ char *badttl =
                write_tmp("badttl.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                         "kind: KubeletConfiguration\n"
                                         "authentication: {webhook: {cacheTTL: soon}}\n");
        config_init_defaults(&c);
        free(load_capturing_stderr(&c, badttl, &r, &err));
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err, "authentication.webhook.cacheTTL"));
        free(err);
        config_done(&c);
        assert_int_equal(
                parse(&c, "--hostname-override=n1", "--authentication-token-webhook-cache-ttl=x", NULL),
                -EINVAL);
        config_done(&c);
}

/* /configz: the effective configuration, with durations as Go prints them. */
static void test_config_to_json(void **state)
{
        struct cubelet_config c;
        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        json_t *o = config_to_json(&c);
        assert_string_equal(json_string_value(json_object_get(o, "kind")), "KubeletConfiguration");
        assert_string_equal(json_string_value(json_object_get(o, "syncFrequency")), "1m0s");
        assert_string_equal(json_string_value(json_object_get(o, "fileCheckFrequency")), "20s");
        assert_string_equal(json_string_value(json_object_get(o, "runtimeRequestTimeout")), "2m0s");
        assert_string_equal(json_string_value(json_object_get(o, "nodeStatusReportFrequency")), "5m0s");
        assert_int_equal(json_integer_value(json_object_get(o, "port")), 10250);
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "authorization"), "mode")),
                            "AlwaysAllow");
        json_t *authn_wh = json_object_get(json_object_get(o, "authentication"), "webhook");
        json_t *authz_wh = json_object_get(json_object_get(o, "authorization"), "webhook");
        assert_string_equal(json_string_value(json_object_get(authn_wh, "cacheTTL")), "2m0s");
        assert_string_equal(json_string_value(json_object_get(authz_wh, "cacheAuthorizedTTL")), "5m0s");
        assert_string_equal(json_string_value(json_object_get(authz_wh, "cacheUnauthorizedTTL")), "30s");
        assert_null(json_object_get(o, "staticPodPath"));
        json_decref(o);
        config_done(&c);

        assert_int_equal(parse(&c, "--hostname-override=n1", "--sync-frequency=1500ms",
                               "--file-check-frequency=250ms", "--runtime-request-timeout=90m", NULL),
                         0);
        o = config_to_json(&c);
        assert_string_equal(json_string_value(json_object_get(o, "syncFrequency")), "1.5s");
        assert_string_equal(json_string_value(json_object_get(o, "fileCheckFrequency")), "250ms");
        assert_string_equal(json_string_value(json_object_get(o, "runtimeRequestTimeout")), "1h30m0s");
        json_decref(o);
        config_done(&c);
}

/* staticPodURL, staticPodURLHeader and httpCheckFrequency, as flags and as fields; the flag's header list
 * is upstream's colon-separated multimap and replaces the file's. */
static void test_manifest_url(void **state)
{
        struct cubelet_config c;
        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        assert_null(c.static_pod_url);
        assert_null(c.static_pod_url_header);
        assert_int_equal(c.http_check_ms, 20000);
        config_done(&c);

        assert_int_equal(parse(&c, "--hostname-override=n1", "--manifest-url", "http://10.0.0.1:8080/pods",
                               "--manifest-url-header", "a:hello,b:again,,", "--manifest-url-header",
                               " b : beautiful ", "--manifest-url-header=Authorization:Bearer x:y",
                               "--http-check-frequency=5s", NULL),
                         0);
        assert_string_equal(c.static_pod_url, "http://10.0.0.1:8080/pods");
        assert_int_equal(strv_length(c.static_pod_url_header), 4);
        assert_string_equal(c.static_pod_url_header[0], "a:hello");
        assert_string_equal(c.static_pod_url_header[1], "b:again");
        assert_string_equal(c.static_pod_url_header[2], "b:beautiful");
        assert_string_equal(c.static_pod_url_header[3], "Authorization:Bearer x:y");
        assert_int_equal(c.http_check_ms, 5000);
        json_t *o = config_to_json(&c);
        assert_string_equal(json_string_value(json_object_get(o, "staticPodURL")),
                            "http://10.0.0.1:8080/pods");
        assert_string_equal(json_string_value(json_object_get(o, "httpCheckFrequency")), "5s");
        json_t *h = json_object_get(o, "staticPodURLHeader");
        assert_int_equal(json_array_size(json_object_get(h, "b")), 2);
        assert_string_equal(json_string_value(json_array_get(json_object_get(h, "b"), 1)), "beautiful");
        json_decref(o);
        config_done(&c);
        /* A password in the URL never shows in /configz (nor in logs: url_redacted). */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--manifest-url",
                               "https://node:s3cret@10.0.0.1:8443/pods?x=@y", NULL),
                         0);
        o = config_to_json(&c);
        assert_string_equal(json_string_value(json_object_get(o, "staticPodURL")),
                            "https://node:xxxxx@10.0.0.1:8443/pods?x=@y");
        json_decref(o);
        config_done(&c);
        _cleanup_free_ char *plain = url_redacted("http://user@h/p"), *none = url_redacted("http://h/a:b@c");
        assert_string_equal(plain, "http://user@h/p");
        assert_string_equal(none, "http://h/a:b@c");

        _cleanup_free_ char *path = write_tmp("url.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                          "kind: KubeletConfiguration\n"
                                                          "staticPodURL: https://example.com/p.yaml\n"
                                                          "staticPodURLHeader:\n"
                                                          "  X-Token: [abc]\n"
                                                          "  X-Multi: [\"1\", \"2\"]\n"
                                                          "httpCheckFrequency: 1m\n");
        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, NULL), 0);
        assert_string_equal(c.static_pod_url, "https://example.com/p.yaml");
        assert_int_equal(strv_length(c.static_pod_url_header), 3);
        assert_string_equal(c.static_pod_url_header[0], "X-Token:abc");
        assert_string_equal(c.static_pod_url_header[2], "X-Multi:2");
        assert_int_equal(c.http_check_ms, 60000);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--config", path, "--manifest-url-header",
                               "k:v", "--manifest-url-header", "k2:v2", NULL),
                         0);
        assert_int_equal(strv_length(c.static_pod_url_header), 2); /* the flag replaced the file's */
        assert_string_equal(c.static_pod_url_header[0], "k:v");
        assert_string_equal(c.static_pod_url_header[1], "k2:v2");
        config_done(&c);

        static const char *const bad_flags[][2] = {
                {"--manifest-url", "ftp://host/p"},      {"--manifest-url", "http://"},
                {"--manifest-url", "10.0.0.1/pods"},     {"--manifest-url", "http://h/a b"},
                {"--manifest-url-header", "nocolon"},    {"--manifest-url-header", "a:1,b"},
                {"--manifest-url-header", "bad name:v"}, {"--manifest-url-header", ":v"},
                {"--http-check-frequency", "0s"},        {"--http-check-frequency", "20"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_flags); i++) {
                if (parse(&c, "--hostname-override=n1", bad_flags[i][0], bad_flags[i][1], NULL) != -EINVAL)
                        fail_msg("%s %s: accepted", bad_flags[i][0], bad_flags[i][1]);
                config_done(&c);
        }
        static const char *const bad_fields[][2] = {
                {"staticPodURL: gopher://h/\n", "field staticPodURL"},
                {"staticPodURLHeader: {a: x}\n", "field staticPodURLHeader.a: expected a list of strings"},
                {"staticPodURLHeader: [a]\n", "field staticPodURLHeader: expected a map"},
                {"staticPodURLHeader: {\"a b\": [x]}\n", "invalid header field name"},
                {"staticPodURLHeader: {a: [\"x\\ny\"]}\n", "invalid header field value"},
                {"httpCheckFrequency: 1x\n", "field httpCheckFrequency"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_fields); i++) {
                _cleanup_free_ char *text = strdup_printf(
                        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n%s",
                        bad_fields[i][0]);
                _cleanup_free_ char *f = write_tmp("bad-url.yaml", text), *err = NULL;
                config_init_defaults(&c);
                assert_int_equal(config_load_file(&c, f, &err), -EINVAL);
                if (!strstr(err, bad_fields[i][1]))
                        fail_msg("\"%s\" does not contain \"%s\"", err, bad_fields[i][1]);
                config_done(&c);
        }
}

/* clusterDNS, clusterDomain, resolvConf: upstream's fields and flags. */
static void test_dns_settings(void **state)
{
        struct cubelet_config c;
        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        assert_null(c.cluster_dns);
        assert_null(c.cluster_domain);
        assert_string_equal(c.resolv_conf, "/etc/resolv.conf");
        config_done(&c);

        _cleanup_free_ char *path = write_tmp("dns.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                          "kind: KubeletConfiguration\n"
                                                          "clusterDNS: [10.96.0.10, fd00::a]\n"
                                                          "clusterDomain: cluster.local\n"
                                                          "resolvConf: \"\"\n");
        _cleanup_free_ char *arg = strdup_printf("--config=%s", path);
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, NULL), 0);
        assert_int_equal(strv_length(c.cluster_dns), 2);
        assert_string_equal(c.cluster_dns[1], "fd00::a");
        assert_string_equal(c.cluster_domain, "cluster.local");
        assert_string_equal(c.resolv_conf, "/etc/resolv.conf"); /* "" in the file is the default */
        json_t *o = config_to_json(&c);
        assert_string_equal(json_string_value(json_array_get(json_object_get(o, "clusterDNS"), 0)),
                            "10.96.0.10");
        assert_string_equal(json_string_value(json_object_get(o, "clusterDomain")), "cluster.local");
        assert_string_equal(json_string_value(json_object_get(o, "resolvConf")), "/etc/resolv.conf");
        json_decref(o);
        config_done(&c);

        /* Flags: the first --cluster-dns replaces the file's list, later ones add; --resolv-conf= is none. */
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, "--cluster-dns=10.0.0.10,10.0.0.11",
                               "--cluster-dns", "10.0.0.12", "--cluster-domain", "k8s.test",
                               "--resolv-conf=", NULL),
                         0);
        assert_int_equal(strv_length(c.cluster_dns), 3);
        assert_string_equal(c.cluster_dns[0], "10.0.0.10");
        assert_string_equal(c.cluster_dns[2], "10.0.0.12");
        assert_string_equal(c.cluster_domain, "k8s.test");
        assert_string_equal(c.resolv_conf, "");
        config_done(&c);

        _cleanup_free_ char *bad = write_tmp("bad-dns.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                             "kind: KubeletConfiguration\n"
                                                             "clusterDNS: 10.96.0.10\n");
        int r;
        _cleanup_free_ char *err = NULL;
        config_init_defaults(&c);
        _cleanup_free_ char *out = load_capturing_stderr(&c, bad, &r, &err);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err, "clusterDNS: expected a list of IP addresses"));
        config_done(&c);
}

/* localSocket / --local-socket: the root-only socket with /pods and /events, shown in /configz; "" turns
 * it off; a relative or too long path is refused. */
static void test_local_socket(void **state)
{
        struct cubelet_config c;
        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        assert_string_equal(c.local_socket, "/run/cubelet/cubelet.sock");
        json_t *o = config_to_json(&c);
        assert_string_equal(json_string_value(json_object_get(o, "localSocket")),
                            "/run/cubelet/cubelet.sock");
        json_decref(o);
        config_done(&c);

        _cleanup_free_ char *path = write_tmp("sock.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                           "kind: KubeletConfiguration\n"
                                                           "localSocket: /run/other/c.sock\n");
        _cleanup_free_ char *arg = strdup_printf("--config=%s", path);
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, NULL), 0);
        assert_string_equal(c.local_socket, "/run/other/c.sock");
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, "--local-socket=", NULL), 0);
        assert_null(c.local_socket);
        o = config_to_json(&c);
        assert_string_equal(json_string_value(json_object_get(o, "localSocket")), "");
        json_decref(o);
        config_done(&c);

        assert_int_equal(parse(&c, "--hostname-override=n1", "--local-socket", "rel.sock", NULL), -EINVAL);
        config_done(&c);
        char longp[200] = "/";
        memset(longp + 1, 'a', 150);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--local-socket", longp, NULL), -EINVAL);
        config_done(&c);
        _cleanup_free_ char *bad = write_tmp("bad-sock.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                              "kind: KubeletConfiguration\n"
                                                              "localSocket: 7\n");
        int r;
        _cleanup_free_ char *err = NULL;
        config_init_defaults(&c);
        _cleanup_free_ char *out = load_capturing_stderr(&c, bad, &r, &err);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err, "localSocket: expected a string"));
        config_done(&c);
}

/* allowedExtraNetworks / --allowed-extra-networks: none by default; the flag replaces the file's list. */
static void test_extra_networks(void **state)
{
        struct cubelet_config c;
        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        assert_null(c.allowed_extra_networks);
        json_t *o = config_to_json(&c);
        assert_null(json_object_get(o, "allowedExtraNetworks"));
        json_decref(o);
        config_done(&c);

        _cleanup_free_ char *path = write_tmp("nets.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                           "kind: KubeletConfiguration\n"
                                                           "allowedExtraNetworks: [storage, backup]\n");
        _cleanup_free_ char *arg = strdup_printf("--config=%s", path);
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, NULL), 0);
        assert_int_equal(strv_length(c.allowed_extra_networks), 2);
        assert_string_equal(c.allowed_extra_networks[1], "backup");
        o = config_to_json(&c);
        assert_string_equal(json_string_value(json_array_get(json_object_get(o, "allowedExtraNetworks"), 0)),
                            "storage");
        json_decref(o);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, "--allowed-extra-networks=x", NULL), 0);
        assert_int_equal(strv_length(c.allowed_extra_networks), 1);
        assert_string_equal(c.allowed_extra_networks[0], "x");
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--allowed-extra-networks=a b", NULL), -EINVAL);
        config_done(&c);

        _cleanup_free_ char *bad = write_tmp("bad-nets.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                              "kind: KubeletConfiguration\n"
                                                              "allowedExtraNetworks: [ok, \"\"]\n");
        int r;
        _cleanup_free_ char *err = NULL;
        config_init_defaults(&c);
        _cleanup_free_ char *out = load_capturing_stderr(&c, bad, &r, &err);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err, "allowedExtraNetworks[1]: an empty network name"));
        config_done(&c);
}

static void test_image_pulls(void **state)
{
        struct cubelet_config c;
        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        assert_true(c.serialize_image_pulls);
        assert_int_equal(c.max_parallel_image_pulls, 0);
        json_t *o = config_to_json(&c);
        assert_true(json_is_true(json_object_get(o, "serializeImagePulls")));
        assert_null(json_object_get(o, "maxParallelImagePulls"));
        json_decref(o);
        config_done(&c);

        _cleanup_free_ char *path = write_tmp("pulls.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                            "kind: KubeletConfiguration\n"
                                                            "serializeImagePulls: false\n"
                                                            "maxParallelImagePulls: 3\n");
        _cleanup_free_ char *arg = strdup_printf("--config=%s", path);
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, NULL), 0);
        assert_false(c.serialize_image_pulls);
        assert_int_equal(c.max_parallel_image_pulls, 3);
        o = config_to_json(&c);
        assert_true(json_is_false(json_object_get(o, "serializeImagePulls")));
        assert_int_equal(json_integer_value(json_object_get(o, "maxParallelImagePulls")), 3);
        json_decref(o);
        config_done(&c);
        /* Upstream's validation: more than one at a time needs serializeImagePulls off. */
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, "--serialize-image-pulls=true", NULL),
                         -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--max-parallel-image-pulls=1", NULL), 0);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--max-parallel-image-pulls=0", NULL), -EINVAL);
        config_done(&c);
}

static void test_image_gc_config(void **state)
{
        (void) state;
        struct cubelet_config c;
        /* Upstream's defaults, shown in /configz. */
        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        assert_int_equal(c.image_gc_high, 85);
        assert_int_equal(c.image_gc_low, 80);
        assert_int_equal(c.image_min_gc_age_ms, 120000);
        assert_int_equal(c.max_dead_containers, -1);
        assert_int_equal(c.max_dead_per_container, 1);
        assert_int_equal(c.min_container_ttl_ms, 0);
        assert_int_equal(c.image_gc_period_ms, 300000);
        assert_int_equal(c.container_gc_period_ms, 60000);
        json_t *o = config_to_json(&c);
        assert_int_equal(json_integer_value(json_object_get(o, "imageGCHighThresholdPercent")), 85);
        assert_int_equal(json_integer_value(json_object_get(o, "imageGCLowThresholdPercent")), 80);
        assert_string_equal(json_string_value(json_object_get(o, "imageMinimumGCAge")), "2m0s");
        json_decref(o);
        config_done(&c);

        _cleanup_free_ char *path = write_tmp("gc.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                         "kind: KubeletConfiguration\n"
                                                         "imageGCHighThresholdPercent: 100\n"
                                                         "imageGCLowThresholdPercent: 0\n"
                                                         "imageMinimumGCAge: 30s\n");
        _cleanup_free_ char *arg = strdup_printf("--config=%s", path);
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, NULL), 0);
        assert_int_equal(c.image_gc_high, 100);
        assert_int_equal(c.image_gc_low, 0);
        assert_int_equal(c.image_min_gc_age_ms, 30000);
        config_done(&c);
        /* Flags win over the file. */
        assert_int_equal(parse(&c, "--hostname-override=n1", arg, "--image-gc-high-threshold=1",
                               "--minimum-image-ttl-duration=0s", "--maximum-dead-containers=5",
                               "--maximum-dead-containers-per-container=2",
                               "--minimum-container-ttl-duration=1m", "--image-gc-period=1s",
                               "--container-gc-period=500ms",
                               "--pod-infra-container-image=cubelet.local/pause:1.0", NULL),
                         0);
        assert_int_equal(c.image_gc_high, 1);
        assert_int_equal(c.image_min_gc_age_ms, 0);
        assert_int_equal(c.max_dead_containers, 5);
        assert_int_equal(c.max_dead_per_container, 2);
        assert_int_equal(c.min_container_ttl_ms, 60000);
        assert_int_equal(c.image_gc_period_ms, 1000);
        assert_int_equal(c.container_gc_period_ms, 500);
        assert_string_equal(c.pod_infra_image, "cubelet.local/pause:1.0");
        config_done(&c);
        /* Upstream's validation: 0-100, low below high. */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--image-gc-high-threshold=101", NULL),
                         -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--image-gc-low-threshold=85", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--image-gc-high-threshold=50",
                               "--image-gc-low-threshold=60", NULL),
                         -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--hostname-override=n1", "--image-gc-period=10ms", NULL), -EINVAL);
        config_done(&c);
        _cleanup_free_ char *bad = write_tmp("gcbad.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                           "kind: KubeletConfiguration\n"
                                                           "imageGCLowThresholdPercent: -1\n");
        _cleanup_free_ char *badarg = strdup_printf("--config=%s", bad);
        assert_int_equal(parse(&c, "--hostname-override=n1", badarg, NULL), -EINVAL);
        config_done(&c);
}

/* #15: eviction thresholds from flags and the file, upstream's defaults, and malformed ones refused at start. */
static void test_eviction_settings(void **state)
{
        (void) state;
        struct cubelet_config c;
        struct ev_threshold *t = NULL;
        size_t n = 0;
        char *err = NULL;

        /* upstream's defaults */
        assert_int_equal(parse(&c, "--hostname-override=n1", NULL), 0);
        assert_int_equal(c.eviction_transition_ms, 300000);
        assert_int_equal(config_eviction_thresholds(&c, &t, &n, &err), 0);
        assert_int_equal(n, 5); /* four, and allocatableMemory.available from memory.available */
        assert_int_equal(t[0].signal, EV_MEMORY_AVAILABLE);
        assert_int_equal(t[0].value.quantity, 100 << 20);
        assert_int_equal(t[4].signal, EV_ALLOCATABLE_MEMORY_AVAILABLE);
        free(t);
        config_done(&c);

        assert_int_equal(parse(&c, "--hostname-override=n1",
                               "--eviction-hard=memory.available<1Gi,pid.available<10%",
                               "--eviction-soft=nodefs.available<20%",
                               "--eviction-soft-grace-period=nodefs.available=1m30s",
                               "--eviction-minimum-reclaim=memory.available=500Mi",
                               "--eviction-max-pod-grace-period=30",
                               "--eviction-pressure-transition-period=30s", NULL),
                         0);
        assert_int_equal(config_eviction_thresholds(&c, &t, &n, &err), 0);
        assert_int_equal(n, 4);
        assert_int_equal(t[0].value.quantity, 1LL << 30);
        assert_true(t[0].has_min_reclaim);
        assert_int_equal(t[0].min_reclaim.quantity, 500LL << 20);
        assert_int_equal(t[1].signal, EV_PID_AVAILABLE);
        assert_true(t[1].value.fraction > 0.099 && t[1].value.fraction < 0.101);
        assert_int_equal(t[2].signal, EV_NODEFS_AVAILABLE);
        assert_int_equal(t[2].grace_ms, 90000);
        assert_int_equal(c.eviction_max_pod_grace_s, 30);
        assert_int_equal(c.eviction_transition_ms, 30000);
        free(t);
        config_done(&c);

        /* malformed: a clear error at start */
        assert_int_equal(parse(&c, "--eviction-hard=memory.available<lots", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--eviction-hard=memory.free<1Gi", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--eviction-hard=memory.available=1Gi", NULL), -EINVAL);
        config_done(&c);
        assert_int_equal(parse(&c, "--eviction-hard=nodefs.available<120%", NULL), -EINVAL);
        config_done(&c);
        /* a soft threshold without its grace period */
        assert_int_equal(parse(&c, "--hostname-override=n1", "--eviction-soft=memory.available<1Gi", NULL),
                         -EINVAL);
        config_done(&c);

        /* the file: maps, replacing the defaults */
        _cleanup_free_ char *path =
                write_tmp("eviction.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                           "kind: KubeletConfiguration\n"
                                           "evictionHard: {memory.available: 200Mi}\n"
                                           "evictionSoft: {memory.available: 300Mi}\n"
                                           "evictionSoftGracePeriod: {memory.available: 10s}\n"
                                           "evictionMinimumReclaim: {nodefs.available: 5%}\n"
                                           "evictionPressureTransitionPeriod: 1s\n"
                                           "evictionMaxPodGracePeriod: 5\n"
                                           "kernelMemcgNotification: true\n");
        config_init_defaults(&c);
        assert_int_equal(config_load_file(&c, path, &err), 0);
        assert_int_equal(config_eviction_thresholds(&c, &t, &n, &err), 0);
        assert_int_equal(n, 3);
        assert_int_equal(t[0].value.quantity, 200 << 20);
        assert_int_equal(t[1].grace_ms, 10000);
        assert_int_equal(t[2].signal, EV_ALLOCATABLE_MEMORY_AVAILABLE);
        assert_true(c.kernel_memcg_notification);
        assert_int_equal(c.eviction_transition_ms, 1000);
        free(t);
        config_done(&c);

        _cleanup_free_ char *bad =
                write_tmp("bad-eviction.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                               "kind: KubeletConfiguration\n"
                                               "evictionHard: {memory.available: -1Gi}\n");
        config_init_defaults(&c);
        assert_int_equal(config_load_file(&c, bad, &err), -EINVAL);
        assert_non_null(strstr(
                err, "evictionHard.memory.available: eviction threshold memory.available must be positive"));
        free(err);
        err = NULL;
        config_done(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kubeadm_flags),
                cmocka_unit_test(test_enforce_allocatable),
                cmocka_unit_test(test_kubeadm_config),
                cmocka_unit_test(test_manifest_url),
                cmocka_unit_test(test_image_pulls),
                cmocka_unit_test(test_image_gc_config),
                cmocka_unit_test(test_durations),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_flags),
                cmocka_unit_test(test_verbosity),
                cmocka_unit_test(test_bad_flags),
                cmocka_unit_test(test_help_version),
                cmocka_unit_test(test_config_file),
                cmocka_unit_test(test_config_file_errors),
                cmocka_unit_test(test_api_server_settings),
                cmocka_unit_test(test_config_unknown_field_warns),
                cmocka_unit_test(test_node_server_config),
                cmocka_unit_test(test_server_tls_bootstrap),
                cmocka_unit_test(test_unsafe_sysctls),
                cmocka_unit_test(test_config_to_json),
                cmocka_unit_test(test_local_socket),
                cmocka_unit_test(test_extra_networks),
                cmocka_unit_test(test_dns_settings),
                cmocka_unit_test(test_eviction_settings),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
