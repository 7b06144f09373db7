/* Security contexts to CRI and seccomp profiles compiled with libseccomp (pure: no runtime). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manifest.h"
#include "seccomp_profile.h"
#include "security.h"
#include "util.h"

static const char *DENY_MKDIR =
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\"],"
        " \"syscalls\": [{\"names\": [\"mkdir\", \"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\","
        " \"errnoRet\": 1}, {\"name\": \"personality\", \"action\": \"SCMP_ACT_ERRNO\","
        " \"args\": [{\"index\": 0, \"value\": 8, \"op\": \"SCMP_CMP_EQ\"}]}]}";

static void expect_error(const char *profile, const char *needle)
{
        char err[512] = "";
        assert_int_equal(seccomp_compile(profile, strlen(profile), err, sizeof err), -EINVAL);
        if (!strstr(err, needle))
                fail_msg("error \"%s\" does not say \"%s\"", err, needle);
}

static void test_seccomp_compile(void **state)
{
        char err[512] = "";
        assert_int_equal(seccomp_compile(DENY_MKDIR, strlen(DENY_MKDIR), err, sizeof err), 0);
        expect_error("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdirr\"], "
                     "\"action\": \"SCMP_ACT_ERRNO\"}]}",
                     "syscalls[0].names[0]: unknown syscall \"mkdirr\"");
        expect_error("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\"], "
                     "\"action\": \"SCMP_ACT_NOPE\"}]}",
                     "syscalls[0].action: \"SCMP_ACT_NOPE\" is not a seccomp action");
        expect_error("{\"defaultAction\": \"ALLOW\"}", "defaultAction: \"ALLOW\" is not a seccomp action");
        expect_error("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_VAX\"]}",
                     "architectures[0]: unknown architecture \"SCMP_ARCH_VAX\"");
        expect_error("{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"syscalls\": [", "line 2");
        expect_error(
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"action\": \"SCMP_ACT_ALLOW\"}]}",
                "syscalls[0]: needs names");
        expect_error(
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
                "\"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 9, \"op\": \"SCMP_CMP_EQ\"}]}]}",
                "syscalls[0].names[0].args[0]: needs index 0-5");

        /* The cache: a file compiles once; a broken one keeps its reason and names the file. */
        char dir[] = "/tmp/test-seccomp.XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *good = strdup_printf("%s/good.json", dir),
                            *bad = strdup_printf("%s/bad.json", dir);
        assert_int_equal(write_file_atomic(good, DENY_MKDIR, strlen(DENY_MKDIR), 0644), 0);
        assert_int_equal(write_file_atomic(bad, "{", 1, 0644), 0);
        struct seccomp_cache *c = seccomp_cache_new();
        for (int i = 0; i < 2; i++) {
                assert_int_equal(seccomp_check_file(c, good, err, sizeof err), 0);
                assert_int_equal(seccomp_check_file(c, bad, err, sizeof err), -EINVAL);
                assert_non_null(strstr(err, bad));
        }
        _cleanup_free_ char *missing = strdup_printf("%s/missing.json", dir);
        assert_int_equal(seccomp_check_file(c, missing, err, sizeof err), -ENOENT);
        assert_non_null(strstr(err, "missing.json"));
        seccomp_cache_free(c);
        rm_rf(dir);
}

static struct pod *decode(const char *m, struct manifest_result *r)
{
        manifest_decode("/etc/m/p.yaml", m, strlen(m), "n1", r);
        if (r->error)
                fail_msg("%s", r->error);
        return r->pods[0];
}

static void test_container_security(void **state)
{
        const char *m =
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
                "spec:\n  securityContext: {runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000],\n"
                "    seccompProfile: {type: RuntimeDefault}, sysctls: [{name: net.ipv4.ping_group_range, "
                "value: '0 0'}]}\n"
                "  containers:\n"
                "  - name: a\n    image: busybox\n"
                "    securityContext: {runAsUser: 2000, readOnlyRootFilesystem: true, "
                "allowPrivilegeEscalation: false,\n"
                "      capabilities: {add: [NET_ADMIN], drop: [ALL]}, seccompProfile: {type: Localhost, "
                "localhostProfile: x.json}}\n"
                "  - name: b\n    image: busybox\n"
                "    securityContext: {runAsNonRoot: true, runAsUser: 0}\n";
        struct manifest_result r = {0};
        struct pod *p = decode(m, &r);
        struct arena a = {0};
        struct security_ctx sx = {.seccomp_root = "/var/lib/cubelet/seccomp"};
        Runtime__V1__LinuxContainerSecurityContext lsc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        char err[512];

        assert_int_equal(container_security(&a, &sx, p, "a", NULL, &lsc, err, sizeof err), 0);
        assert_int_equal(lsc.run_as_user->value, 2000);
        assert_int_equal(lsc.run_as_group->value, 3000);
        assert_int_equal(lsc.n_supplemental_groups, 1);
        assert_true(lsc.readonly_rootfs);
        assert_true(lsc.no_new_privs);
        assert_false(lsc.privileged);
        assert_string_equal(lsc.capabilities->add_capabilities[0], "NET_ADMIN");
        assert_string_equal(lsc.capabilities->drop_capabilities[0], "ALL");
        assert_int_equal(lsc.seccomp->profile_type, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost);
        assert_string_equal(lsc.seccomp->localhost_ref, "/var/lib/cubelet/seccomp/x.json");
        assert_string_equal(lsc.seccomp_profile_path, "localhost//var/lib/cubelet/seccomp/x.json");
        /* upstream's default masked and read-only paths, always sent (the runtime has none of its own) */
        assert_int_equal(lsc.n_masked_paths, 9);
        assert_string_equal(lsc.masked_paths[1], "/proc/kcore");
        assert_string_equal(lsc.masked_paths[8], "/sys/firmware");
        assert_int_equal(lsc.n_readonly_paths, 6);
        assert_string_equal(lsc.readonly_paths[4], "/proc/sys");
        assert_string_equal(lsc.readonly_paths[5], "/proc/sysrq-trigger");

        Runtime__V1__LinuxContainerSecurityContext lsc2 =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        assert_int_equal(container_security(&a, &sx, p, "b", NULL, &lsc2, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "container's runAsUser breaks non-root policy"));

        Runtime__V1__LinuxSandboxSecurityContext sc = RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
        Runtime__V1__LinuxPodSandboxConfig lx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
        sandbox_security(&a, &sx, p, &sc, &lx);
        assert_int_equal(sc.run_as_user->value, 1000);
        assert_int_equal(sc.seccomp->profile_type,
                         RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault);
        assert_int_equal(lx.n_sysctls, 1);
        assert_string_equal(lx.sysctls[0]->key, "net.ipv4.ping_group_range");
        arena_free(&a);
        manifest_result_clear(&r);

        /* runAsNonRoot against the image's user; nothing said: no seccomp unless --seccomp-default. */
        const char *m2 = "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\n"
                         "spec:\n  securityContext: {runAsNonRoot: true}\n  containers: [{name: c, image: "
                         "busybox}]\n";
        p = decode(m2, &r);
        assert_true(container_needs_image_user(p, "c"));
        struct image_user root = {.uid = 0}, named = {.uid = -1, .username = "nginx"}, user = {.uid = 101};
        Runtime__V1__LinuxContainerSecurityContext l3 = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        assert_int_equal(container_security(&a, &sx, p, "c", &root, &l3, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "container has runAsNonRoot and image will run as root (pod: "
                                    "\"default/q-n1\", container: c)"));
        assert_int_equal(container_security(&a, &sx, p, "c", &named, &l3, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "image has non-numeric user (nginx)"));
        assert_int_equal(container_security(&a, &sx, p, "c", &user, &l3, err, sizeof err), 0);
        assert_null(l3.seccomp);
        sx.seccomp_default = true;
        assert_int_equal(container_security(&a, &sx, p, "c", &user, &l3, err, sizeof err), 0);
        assert_int_equal(l3.seccomp->profile_type,
                         RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault);
        arena_free(&a);
        manifest_result_clear(&r);
}

static void test_mount_propagation(void **state)
{
        const char *m = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                        "  - name: c\n    image: busybox\n"
                        "    volumeMounts: [{name: h, mountPath: /a, mountPropagation: HostToContainer},\n"
                        "                   {name: h, mountPath: /b}]\n"
                        "  volumes: [{name: h, hostPath: {path: /tmp}}]\n";
        struct manifest_result r = {0};
        struct pod *p = decode(m, &r);
        assert_int_equal(p->containers[0].mounts[0].propagation, PROPAGATION_HOST_TO_CONTAINER);
        assert_int_equal(p->containers[0].mounts[1].propagation, PROPAGATION_NONE);
        manifest_result_clear(&r);

        const char *bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                          "  - name: c\n    image: busybox\n"
                          "    volumeMounts: [{name: h, mountPath: /a, mountPropagation: Bidirectional},\n"
                          "                   {name: h, mountPath: /b, mountPropagation: Sideways}]\n"
                          "  volumes: [{name: h, hostPath: {path: /tmp}}]\n";
        manifest_decode("/etc/m/p.yaml", bad, strlen(bad), "n1", &r);
        assert_non_null(r.error);
        assert_non_null(strstr(
                r.error, "volumeMounts[0].mountPropagation: Forbidden: Bidirectional mount propagation "
                         "is available only to privileged containers"));
        assert_non_null(
                strstr(r.error, "volumeMounts[1].mountPropagation: Unsupported value: \"Sideways\""));
        manifest_result_clear(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seccomp_compile),
                cmocka_unit_test(test_container_security),
                cmocka_unit_test(test_mount_propagation),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
