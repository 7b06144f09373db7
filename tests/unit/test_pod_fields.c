/* Pod fields cubelet refuses (never ignores), their validation, overhead, critical pods, AppArmor, SELinux. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "apparmor.h"
#include "manifest.h"
#include "security.h"
#include "util.h"

#define HEAD "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"

static struct pod *decode(const char *m, struct manifest_result *r)
{
        manifest_decode("/etc/m/p.yaml", m, strlen(m), "n1", r);
        if (r->error)
                fail_msg("%s", r->error);
        return r->pods[0];
}

/* The manifest decodes, and its refusals say exactly these things (NULL-terminated), in order. */
static void expect_refused(const char *m, const char *const *want)
{
        struct manifest_result r = {0};
        struct pod *p = decode(m, &r);
        size_t n = 0;
        for (; want[n]; n++) {
                if (!p->unsupported || !p->unsupported[n])
                        fail_msg("refusal %zu missing, wanted \"%s\"", n, want[n]);
                if (!strstr(p->unsupported[n], want[n]))
                        fail_msg("refusal %zu is \"%s\", wanted \"%s\"", n, p->unsupported[n], want[n]);
        }
        if (p->unsupported && p->unsupported[n])
                fail_msg("unexpected refusal \"%s\"", p->unsupported[n]);
        manifest_result_clear(&r);
}

static void expect_invalid(const char *m, const char *needle)
{
        struct manifest_result r = {0};
        manifest_decode("/etc/m/p.yaml", m, strlen(m), "n1", &r);
        if (!r.error || !strstr(r.error, needle))
                fail_msg("error \"%s\" does not say \"%s\"", r.error ? r.error : "(none)", needle);
        manifest_result_clear(&r);
}

static void test_supported_pod_has_no_refusals(void **state)
{
        static const char *const none[] = {NULL};
        expect_refused(HEAD
                       "spec:\n  hostUsers: true\n  securityContext: {supplementalGroupsPolicy: Merge}\n"
                       "  containers:\n  - name: c\n    image: busybox\n"
                       "    securityContext: {procMount: Default}\n"
                       "    volumeMounts: [{name: v, mountPath: /v, readOnly: true, recursiveReadOnly: "
                       "IfPossible}]\n"
                       "  volumes:\n  - {name: v, emptyDir: {medium: Memory}}\n"
                       "  - {name: w, projected: {sources: [{serviceAccountToken: {path: t}}]}}\n",
                       none);
}

static void test_refusals(void **state)
{
        static const char *const pod_level[] = {
                "spec.ephemeralContainers: Forbidden: ephemeral containers are not supported",
                "spec.hostUsers: Unsupported value: false: user namespaces are not supported",
                "spec.resourceClaims: Forbidden: dynamic resource allocation",
                "spec.resources: Forbidden: pod-level resources",
                "spec.securityContext.supplementalGroupsPolicy: Unsupported value: \"Strict\"",
                NULL};
        expect_refused(HEAD "spec:\n  hostUsers: false\n  resourceClaims: [{name: gpu}]\n"
                            "  resources: {limits: {cpu: 1}}\n"
                            "  securityContext: {supplementalGroupsPolicy: Strict}\n"
                            "  ephemeralContainers: [{name: dbg, image: busybox}]\n"
                            "  containers: [{name: c, image: busybox}]\n",
                       pod_level);

        static const char *const containers[] = {
                "spec.initContainers[0].restartPolicy: Unsupported value: \"Always\": restartable init "
                "containers (sidecars)",
                "spec.containers[0].volumeDevices: Forbidden: block volumes",
                "spec.containers[0].resources.claims: Forbidden",
                "spec.containers[0].lifecycle.stopSignal: Forbidden",
                "spec.containers[0].volumeMounts[0].recursiveReadOnly: Unsupported value: \"Enabled\"",
                "spec.containers[0].securityContext.procMount: Unsupported value: \"Unmasked\"",
                NULL};
        expect_refused(HEAD
                       "spec:\n  initContainers: [{name: side, image: busybox, restartPolicy: Always}]\n"
                       "  containers:\n  - name: c\n    image: busybox\n"
                       "    volumeDevices: [{name: v, devicePath: /dev/xvda}]\n"
                       "    resources: {claims: [{name: gpu}]}\n"
                       "    lifecycle: {stopSignal: SIGUSR1}\n"
                       "    securityContext: {procMount: Unmasked}\n"
                       "    volumeMounts: [{name: v, mountPath: /v, readOnly: true, recursiveReadOnly: "
                       "Enabled}]\n"
                       "  volumes: [{name: v, emptyDir: {}}]\n",
                       containers);

        static const char *const volumes[] = {
                "spec.volumes[0].persistentVolumeClaim: Unsupported value: volume type "
                "\"persistentVolumeClaim\" is not supported by this node",
                "spec.volumes[1].nfs: Unsupported value: volume type \"nfs\"",

                /* hugepages media are the volume's (its page size must be asked for); others are refused */
                "spec.volumes[3].emptyDir.medium: Unsupported value: \"Disk\": supported values: \"\", "
                "\"Memory\", \"HugePages\", \"HugePages-<size>\"",
                "spec.volumes[4].projected.sources[1].clusterTrustBundle: Unsupported value", NULL};
        expect_refused(HEAD
                       "spec:\n  containers: [{name: c, image: busybox}]\n  volumes:\n"
                       "  - {name: a, persistentVolumeClaim: {claimName: data}}\n"
                       "  - {name: b, nfs: {server: nfs.example.com, path: /x}}\n"
                       "  - {name: c, emptyDir: {medium: HugePages-2Mi}}\n"
                       "  - {name: d, emptyDir: {medium: Disk}}\n"
                       "  - {name: e, projected: {sources: [{configMap: {name: x}}, {clusterTrustBundle: "
                       "{signerName: a/b, path: ca}}]}}\n",
                       volumes);
}

static void test_validation(void **state)
{
        expect_invalid(
                HEAD "spec:\n  containers:\n  - {name: c, image: busybox, restartPolicy: Always}\n",
                "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers");
        expect_invalid(HEAD "spec:\n  initContainers:\n  - {name: i, image: busybox, restartPolicy: Never}\n"
                            "  containers: [{name: c, image: busybox}]\n",
                       "spec.initContainers[0].restartPolicy: Unsupported value: \"Never\"");
        expect_invalid(HEAD "spec:\n  containers:\n  - name: c\n    image: busybox\n"
                            "    volumeMounts: [{name: v, mountPath: /v, recursiveReadOnly: IfPossible}]\n"
                            "  volumes: [{name: v, emptyDir: {}}]\n",
                       "recursiveReadOnly: Forbidden: may only be specified when readOnly is true");
        expect_invalid(HEAD "spec:\n  containers:\n  - name: c\n    image: busybox\n"
                            "    volumeMounts: [{name: v, mountPath: /v, readOnly: true, recursiveReadOnly: "
                            "Sometimes}]\n"
                            "  volumes: [{name: v, emptyDir: {}}]\n",
                       "recursiveReadOnly: Unsupported value: \"Sometimes\"");
        expect_invalid(HEAD "spec:\n  overhead: {cpu: lots}\n  containers: [{name: c, image: busybox}]\n",
                       "spec.overhead[cpu]: Invalid value");
        /* A dnsConfig option is one word of resolv.conf: no line of the author's own. */
        expect_invalid(HEAD
                       "spec:\n  dnsConfig: {options: [{name: ndots, value: \"5\\nnameserver 6.6.6.6\"}]}\n"
                       "  containers: [{name: c, image: busybox}]\n",
                       "spec.dnsConfig.options[0]: Invalid value: \"5\nnameserver 6.6.6.6\": must not "
                       "contain blanks");
        /* The UID names the pod's directories: never a path. */
        expect_invalid("apiVersion: v1\nkind: Pod\nmetadata: {name: p, uid: ../../..}\n"
                       "spec:\n  containers: [{name: c, image: busybox}]\n",
                       "metadata.uid: Invalid value: \"../../..\"");
        expect_invalid("apiVersion: v1\nkind: Pod\nmetadata: {name: p, uid: ..}\n"
                       "spec:\n  containers: [{name: c, image: busybox}]\n",
                       "metadata.uid: Invalid value");
        expect_invalid("apiVersion: v1\nkind: Pod\nmetadata: {name: p, uid: \"a/b\"}\n"
                       "spec:\n  containers: [{name: c, image: busybox}]\n",
                       "metadata.uid: Invalid value");
}

static void test_overhead_and_critical(void **state)
{
        struct manifest_result r = {0};
        struct pod *p = decode(HEAD "spec:\n  overhead: {cpu: 250m, memory: 120Mi}\n"
                                    "  containers: [{name: c, image: busybox}]\n",
                               &r);
        assert_int_equal(p->overhead.cpu_m, 250);
        assert_int_equal(p->overhead.memory, 120 * 1024 * 1024);
        assert_true(pod_is_critical(p)); /* a static pod */
        manifest_result_clear(&r);

        /* An API pod is critical by priority only. */
        json_t *obj =
                json_pack("{s:{s:s, s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s}], s:i}}", "metadata", "name", "a",
                          "namespace", "ns", "uid", "u1", "annotations", "kubernetes.io/config.source",
                          "api", "spec", "containers", "name", "c", "image", "busybox", "priority", 1000);
        struct api_problems pr = {0};
        pod_json_apply_defaults(obj);
        struct pod *api = pod_from_json(obj, &pr);
        assert_non_null(api);
        assert_false(pod_is_critical(api));
        pod_unref(api);
        json_object_set_new(json_object_get(obj, "spec"), "priority",
                            json_integer(POD_SYSTEM_CRITICAL_PRIORITY));
        api = pod_from_json(obj, &pr);
        assert_true(pod_is_critical(api));
        pod_unref(api);
        json_decref(obj);
        api_problems_clear(&pr);
}

static void test_apparmor(void **state)
{
        struct manifest_result r = {0};
        char buf[300], msg[512];
        struct pod *p =
                decode("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
                       "    container.apparmor.security.beta.kubernetes.io/b: localhost/k8s-deny-write\n"
                       "    container.apparmor.security.beta.kubernetes.io/c: runtime/default\n"
                       "spec:\n  securityContext: {appArmorProfile: {type: Unconfined}}\n  containers:\n"
                       "  - {name: a, image: busybox, securityContext: {appArmorProfile: {type: Localhost, "
                       "localhostProfile: mine}}}\n"
                       "  - {name: b, image: busybox}\n  - {name: c, image: busybox}\n  - {name: d, image: "
                       "busybox}\n",
                       &r);
        assert_string_equal(apparmor_profile(p, "a", buf, sizeof buf), "localhost/mine");
        assert_string_equal(apparmor_profile(p, "b", buf, sizeof buf), "localhost/k8s-deny-write");
        assert_string_equal(apparmor_profile(p, "c", buf, sizeof buf), "runtime/default");
        assert_string_equal(apparmor_profile(p, "d", buf, sizeof buf), "unconfined"); /* the pod's */

        /* A host without AppArmor refuses anything but unconfined, in upstream's words. */
        struct apparmor_host off = {.enabled = false};
        snprintf(off.why, sizeof off.why, "AppArmor is not enabled on the host");
        assert_false(apparmor_admit(&off, p, msg, sizeof msg));
        assert_string_equal(msg, "Cannot enforce AppArmor: AppArmor is not enabled on the host");

        /* A host with AppArmor: localhost profiles must be loaded. */
        char dir[] = "/tmp/cubelet-aa.XXXXXX";
        assert_non_null(mkdtemp(dir));
        struct apparmor_host on = {.enabled = true};
        snprintf(on.profiles, sizeof on.profiles, "%s/profiles", dir);
        FILE *f = fopen(on.profiles, "w");
        fputs("cri-containerd.apparmor.d (enforce)\nmine (enforce)\n", f);
        fclose(f);
        assert_false(apparmor_admit(&on, p, msg, sizeof msg));
        assert_string_equal(msg, "Cannot enforce AppArmor: profile \"k8s-deny-write\" is not loaded");
        f = fopen(on.profiles, "a");
        fputs("k8s-deny-write (complain)\n", f);
        fclose(f);
        assert_true(apparmor_admit(&on, p, msg, sizeof msg));
        unlink(on.profiles);
        rmdir(dir);
        manifest_result_clear(&r);

        /* Only unconfined, or nothing: nothing to enforce, admitted anywhere. */
        p = decode(HEAD "spec:\n  containers: [{name: c, image: busybox}]\n", &r);
        assert_true(apparmor_admit(&off, p, msg, sizeof msg));
        manifest_result_clear(&r);
}

static void test_selinux_and_apparmor_to_cri(void **state)
{
        struct manifest_result r = {0};
        struct pod *p = decode(
                HEAD "spec:\n  securityContext: {seLinuxOptions: {level: 's0:c1,c2'}}\n  containers:\n"
                     "  - {name: a, image: busybox, securityContext: {seLinuxOptions: {type: spc_t}, "
                     "appArmorProfile: {type: RuntimeDefault}}}\n"
                     "  - {name: b, image: busybox}\n",
                &r);
        struct arena a = {0};
        struct security_ctx sx = {.seccomp_root = "/var/lib/cubelet/seccomp"};
        char err[512];
        Runtime__V1__LinuxContainerSecurityContext la = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        Runtime__V1__LinuxContainerSecurityContext lb = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        assert_int_equal(container_security(&a, &sx, p, "a", NULL, &la, err, sizeof err), 0);
        assert_int_equal(container_security(&a, &sx, p, "b", NULL, &lb, err, sizeof err), 0);
        /* the container's options replace the pod's as a whole */
        assert_string_equal(la.selinux_options->type, "spc_t");
        assert_string_equal(la.selinux_options->level, "");
        assert_string_equal(lb.selinux_options->level, "s0:c1,c2");
        assert_string_equal(la.apparmor_profile, "runtime/default");
        assert_true(lb.apparmor_profile == NULL || !lb.apparmor_profile[0]);
        Runtime__V1__LinuxSandboxSecurityContext sc = RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
        Runtime__V1__LinuxPodSandboxConfig lx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
        sandbox_security(&a, &sx, p, &sc, &lx);
        assert_string_equal(sc.selinux_options->level, "s0:c1,c2");
        arena_free(&a);
        manifest_result_clear(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_supported_pod_has_no_refusals),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_validation),
                cmocka_unit_test(test_overhead_and_critical),
                cmocka_unit_test(test_apparmor),
                cmocka_unit_test(test_selinux_and_apparmor_to_cri),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
