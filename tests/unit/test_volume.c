/* agent/volume: path validation, the atomic writer (..data swap, modes, removal, no-op), subPath
 * resolution without escapes, and payloads (downwardAPI; API objects refused for static pods). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "util.h"
#include "volume.h"

static char *tmpdir(void)
{
        char tmpl[] = "/tmp/test-volume.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        return xstrdup(tmpl);
}

static char *slurp(const char *dir, const char *name)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, name);
        char *buf = NULL;
        if (read_file_limit(p, 1 << 20, &buf, NULL) < 0)
                return NULL;
        return buf;
}

static char *link_of(const char *dir, const char *name)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, name);
        char buf[512];
        ssize_t n = readlink(p, buf, sizeof buf - 1);
        if (n < 0)
                return NULL;
        buf[n] = 0;
        return xstrdup(buf);
}

static void test_validate_path(void **state)
{
        char err[256];
        const char *good[] = {"a", "a/b", "a.txt", ".hidden", "..x/y" + 1, "a/..b", "a/b/c.d", NULL};
        const char *bad[] = {"",    "/abs", "..", "../x", "a/../b", "a/..", "..data",
                             "..x", "a//b", "a/", "./a",  "a/./b",  NULL};
        for (size_t i = 0; good[i]; i++)
                if (vol_validate_path(good[i], err, sizeof err) < 0)
                        fail_msg("\"%s\" refused: %s", good[i], err);
        for (size_t i = 0; bad[i]; i++)
                if (vol_validate_path(bad[i], err, sizeof err) >= 0)
                        fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(vol_validate_path("/etc/passwd", err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "must be relative path: /etc/passwd"));
        assert_int_equal(vol_validate_path("x/../../y", err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "must not contain '..'"));
}

static void test_writer_layout_and_update(void **state)
{
        _cleanup_free_ char *d = tmpdir();
        struct vol_payload p = {0};
        char err[256];

        vol_payload_add(&p, "a", "one", 3, 0644);
        vol_payload_add(&p, "dir/b", "two", 3, 0400);
        assert_int_equal(vol_atomic_write(d, &p, err, sizeof err), 1);

        _cleanup_free_ char *data = link_of(d, "..data");
        assert_non_null(data);
        assert_true(str_has_prefix(data, ".."));
        _cleanup_free_ char *la = link_of(d, "a"), *ldir = link_of(d, "dir");
        assert_string_equal(la, "..data/a");
        assert_string_equal(ldir, "..data/dir");
        _cleanup_free_ char *ca = slurp(d, "a"), *cb = slurp(d, "dir/b");
        assert_string_equal(ca, "one");
        assert_string_equal(cb, "two");
        struct stat st;
        _cleanup_free_ char *pb = strdup_printf("%s/dir/b", d);
        assert_int_equal(stat(pb, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0400);

        /* The same payload again: nothing changes. */
        assert_int_equal(vol_atomic_write(d, &p, err, sizeof err), 0);
        _cleanup_free_ char *data2 = link_of(d, "..data");
        assert_string_equal(data, data2);

        /* A mode change alone is a change. */
        vol_payload_add(&p, "a", "one", 3, 0600);
        assert_int_equal(vol_atomic_write(d, &p, err, sizeof err), 1);

        /* New contents, "dir" gone: the old data directory and the stale name go. */
        vol_payload_done(&p);
        vol_payload_add(&p, "a", "uno", 3, 0644);
        assert_int_equal(vol_atomic_write(d, &p, err, sizeof err), 1);
        _cleanup_free_ char *ca2 = slurp(d, "a");
        assert_string_equal(ca2, "uno");
        _cleanup_free_ char *pdir = strdup_printf("%s/dir", d), *pold = strdup_printf("%s/%s", d, data);
        assert_int_equal(access(pdir, F_OK), -1);
        struct stat ost;
        assert_int_equal(lstat(pold, &ost), -1);

        /* An empty payload leaves only ..data. */
        vol_payload_done(&p);
        assert_int_equal(vol_atomic_write(d, &p, err, sizeof err), 1);
        _cleanup_free_ char *pa = strdup_printf("%s/a", d);
        assert_int_equal(lstat(pa, &ost), -1);
        rm_rf(d);
}

static mode_t mode_at(const char *dir, const char *name, gid_t *gid)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, name);
        struct stat st;
        assert_int_equal(lstat(p, &st), 0);
        if (gid)
                *gid = st.st_gid;
        return st.st_mode & 07777;
}

/* fsGroup: upstream's SetVolumeOwnership on a tree, and the atomic writer with a group. */
static void test_ownership(void **state)
{
        _cleanup_free_ char *d = tmpdir(), *sub = strdup_printf("%s/a/b", d),
                            *f = strdup_printf("%s/a/b/f", d), *g = strdup_printf("%s/g", d),
                            *l = strdup_printf("%s/link", d);
        char err[256];
        gid_t gid;
        if (geteuid() != 0)
                skip(); /* chown to any group needs root */
        assert_int_equal(mkdir_p(sub, 0700), 0);
        chmod(d, 0700);
        assert_int_equal(write_file_atomic(f, "x", 1, 0600), 0);
        assert_int_equal(write_file_atomic(g, "y", 1, 0400), 0);
        chmod(f, 0600);
        chmod(g, 0400);
        assert_int_equal(symlink("/etc/hostname", l), 0);

        assert_int_equal(vol_set_ownership(d, 4242, false, false, err, sizeof err), 1);
        assert_int_equal(mode_at(d, ".", &gid), 02770);
        assert_int_equal(gid, 4242);
        assert_int_equal(mode_at(d, "a/b", &gid), 02770);
        assert_int_equal(gid, 4242);
        assert_int_equal(mode_at(d, "a/b/f", &gid), 0660);
        assert_int_equal(gid, 4242);
        assert_int_equal(mode_at(d, "g", &gid), 0660);
        mode_at(d, "link", &gid);
        assert_int_equal(gid, 4242); /* the link itself */
        struct stat st;
        assert_int_equal(stat("/etc/hostname", &st), 0);
        assert_int_not_equal(st.st_gid, 4242); /* never its target */

        /* OnRootMismatch: a right root means no walk, whatever is below. */
        assert_int_equal(lchown(f, (uid_t) -1, 0), 0);
        assert_int_equal(vol_set_ownership(d, 4242, false, true, err, sizeof err), 0);
        mode_at(d, "a/b/f", &gid);
        assert_int_equal(gid, 0);
        /* Always walks. */
        assert_int_equal(vol_set_ownership(d, 4242, false, false, err, sizeof err), 1);
        mode_at(d, "a/b/f", &gid);
        assert_int_equal(gid, 4242);
        /* Read-only volumes: g+r only. */
        chmod(g, 0400);
        assert_int_equal(vol_set_ownership(d, 7, true, false, err, sizeof err), 1);
        assert_int_equal(mode_at(d, "g", &gid), 0440);
        assert_int_equal(gid, 7);
        _cleanup_free_ char *missing = strdup_printf("%s/none", d);
        assert_int_equal(vol_set_ownership(missing, 7, true, false, err, sizeof err), -ENOENT);
        assert_non_null(strstr(err, "none"));
        rm_rf(d);

        /* The writer: the data directory is owned before the swap; an unchanged payload stays unchanged. */
        _cleanup_free_ char *w = tmpdir();
        struct vol_payload p = {.has_fs_group = true, .fs_group = 3000};
        vol_payload_add(&p, "token", "secret", 6, 0600);
        vol_payload_add(&p, "dir/cfg", "c", 1, 0644);
        assert_int_equal(vol_atomic_write(w, &p, err, sizeof err), 1);
        assert_int_equal(mode_at(w, "token", NULL) & 0777, 0777); /* a link */
        assert_int_equal(mode_at(w, "..data/token", &gid), 0640);
        assert_int_equal(gid, 3000);
        assert_int_equal(mode_at(w, "..data/dir", &gid), 02755);
        assert_int_equal(gid, 3000);
        mode_at(w, ".", &gid);
        assert_int_equal(gid, 3000);
        _cleanup_free_ char *data = link_of(w, "..data");
        assert_int_equal(vol_atomic_write(w, &p, err, sizeof err), 0);
        _cleanup_free_ char *data2 = link_of(w, "..data");
        assert_string_equal(data, data2);
        vol_payload_done(&p);
        rm_rf(w);

        /* An emptyDir is walked once, when it is made: what the pod does with its files afterwards stays. */
        static const char FSG[] = "apiVersion: v1\nkind: Pod\nmetadata: {name: f, namespace: ns1, uid: u1}\n"
                                  "spec:\n  securityContext: {fsGroup: 4343}\n"
                                  "  containers: [{name: c, image: busybox}]\n"
                                  "  volumes: [{name: scratch, emptyDir: {}}]\n";
        struct manifest_result mr;
        manifest_decode("/etc/static/f.yaml", FSG, strlen(FSG), "node1", &mr);
        if (mr.error)
                fail_msg("%s", mr.error);
        _cleanup_free_ char *root = tmpdir();
        struct vol_ctx ctx = {.root_dir = root};
        assert_int_equal(vol_setup_pod(&ctx, mr.pods[0], err, sizeof err), 0);
        _cleanup_free_ char *ed = vol_host_path(root, mr.pods[0], &mr.pods[0]->volumes[0]),
                            *key = strdup_printf("%s/key", ed);
        assert_int_equal(mode_at(ed, ".", &gid), 02777);
        assert_int_equal(gid, 4343);
        assert_int_equal(write_file_atomic(key, "k", 1, 0600), 0);
        chmod(key, 0600);
        assert_int_equal(vol_setup_pod(&ctx, mr.pods[0], err, sizeof err), 0);
        assert_int_equal(mode_at(ed, "key", NULL), 0600);
        assert_int_equal(mode_at(ed, ".", NULL), 02777); /* the next sync keeps the setgid bit */
        manifest_result_clear(&mr);
        rm_rf(root);
}

/* emptyDir on hugetlbfs: the page size from what the containers (init containers too) ask for, in
 * upstream's words when that does not say one; mounted for real where this machine has 2Mi pages. */
static struct pod *huge_pod(struct manifest_result *mr, const char *medium, const char *app,
                            const char *init)
{
        _cleanup_free_ char *m = strdup_printf(
                "apiVersion: v1\nkind: Pod\nmetadata: {name: h, namespace: ns1, uid: hp1}\n"
                "spec:\n  initContainers: [{name: i, image: busybox, resources: {limits: {memory: "
                "1Mi%s}}}]\n"
                "  containers: [{name: c, image: busybox, resources: {limits: {memory: 1Mi%s}}}]\n"
                "  volumes: [{name: hp, emptyDir: {medium: %s}}]\n",
                init, app, medium);
        manifest_decode("/etc/static/h.yaml", m, strlen(m), "node1", mr);
        if (mr->error)
                fail_msg("%s", mr->error);
        assert_int_equal(mr->n_pods, 1);
        assert_null(mr->pods[0]->unsupported);
        return mr->pods[0];
}

static void expect_option(const char *medium, const char *app, const char *init, const char *want)
{
        struct manifest_result mr;
        char out[64] = "", err[256] = "";
        struct pod *p = huge_pod(&mr, medium, app, init);
        int r = vol_hugepages_mount_option(p, medium, out, sizeof out, err, sizeof err);
        if (str_has_prefix(want, "pagesize=")) {
                if (r < 0)
                        fail_msg("%s: %s", medium, err);
                assert_string_equal(out, want);
        } else {
                assert_int_equal(r, -EINVAL);
                if (!strstr(err, want))
                        fail_msg("%s: \"%s\" does not say \"%s\"", medium, err, want);
        }
        manifest_result_clear(&mr);
}

static void test_hugepages_medium(void **state)
{
        (void) state;
        static const char *const two = ", hugepages-2Mi: 4Mi", *one_g = ", hugepages-1Gi: 1Gi",
                                 *two_ki = ", hugepages-2048Ki: 2Mi";
        expect_option("HugePages", two, "", "pagesize=2Mi");
        expect_option("HugePages", "", two_ki, "pagesize=2Mi"); /* an init container's, another spelling */
        expect_option("HugePages-2Mi", two, one_g, "pagesize=2Mi");
        expect_option("HugePages-1Gi", two, one_g, "pagesize=1Gi");
        expect_option("HugePages-2048Ki", two, "", "pagesize=2Mi");
        expect_option("HugePages", two, one_g,
                      "medium: HugePages can't be used if container requests multiple huge page sizes");
        expect_option(
                "HugePages-1Gi", two, "",
                "medium HugePages-1Gi: hugePages storage requested, but there is no resource request for "
                "huge pages");
        expect_option(
                "HugePages", "", "",
                "medium HugePages: hugePages storage requested, but there is no resource request for huge "
                "pages");
        expect_option("HugePages-x", two, "", "medium: HugePages-x is not a valid hugepage medium");
        expect_option("HugePagesX", two, "", "medium: HugePagesX is not a valid hugepage medium");

        /* The real thing: hugetlbfs of the pod's page size, there while the pod is, gone with it. */
        struct stat st;
        if (geteuid() != 0 || stat("/sys/kernel/mm/hugepages/hugepages-2048kB", &st) < 0) {
                print_message("# no 2Mi hugepages here (or not root): no mount\n");
                return;
        }
        struct manifest_result mr;
        char err[512];
        struct pod *p = huge_pod(&mr, "HugePages", two, "");
        _cleanup_free_ char *root = tmpdir();
        struct vol_ctx ctx = {.root_dir = root};
        if (vol_setup_pod(&ctx, p, err, sizeof err) < 0)
                fail_msg("%s", err);
        _cleanup_free_ char *ed = vol_host_path(root, p, &p->volumes[0]);
        _cleanup_free_ char *mounts = NULL;
        assert_int_equal(read_file_limit("/proc/self/mounts", 1 << 22, &mounts, NULL), 0);
        _cleanup_free_ char *line = strdup_printf("nodev %s hugetlbfs ", ed);
        const char *at = strstr(mounts, line);
        if (!at)
                fail_msg("no hugetlbfs at %s", ed);
        const char *opts = strndupa(at, strcspn(at, "\n"));
        assert_non_null(strstr(opts, "pagesize=2M"));
        assert_non_null(strstr(opts, "nosuid,nodev"));
        assert_int_equal(vol_setup_pod(&ctx, p, err, sizeof err), 0); /* the next sync: mounted already */
        assert_int_equal(mode_at(ed, ".", NULL) & 07777, 0755);       /* the root as the kernel made it */
        vol_teardown_pod(root, p->uid);
        free(mounts);
        mounts = NULL;
        assert_int_equal(read_file_limit("/proc/self/mounts", 1 << 22, &mounts, NULL), 0);
        assert_null(strstr(mounts, line));
        manifest_result_clear(&mr);
        rm_rf(root);
}

static void test_writer_refuses_bad_paths(void **state)
{
        _cleanup_free_ char *root = tmpdir();
        _cleanup_free_ char *d = strdup_printf("%s/vol", root);
        struct vol_payload p = {0};
        char err[256];
        assert_int_equal(mkdir(d, 0755), 0);

        const char *bad[] = {"../escaped", "/tmp/abs-escape", "x/../../escaped2", "..data", NULL};
        for (size_t i = 0; bad[i]; i++) {
                vol_payload_add(&p, "ok", "fine", 4, 0644);
                vol_payload_add(&p, bad[i], "evil", 4, 0644);
                assert_int_equal(vol_atomic_write(d, &p, err, sizeof err), -EINVAL);
                assert_non_null(strstr(err, "invalid path"));
                vol_payload_done(&p);
        }
        /* Nothing was written: not in the volume, not beside it. */
        _cleanup_free_ char *e1 = strdup_printf("%s/escaped", root), *ok = strdup_printf("%s/ok", d);
        assert_int_equal(access(e1, F_OK), -1);
        assert_int_equal(access(ok, F_OK), -1);
        assert_int_equal(access("/tmp/abs-escape", F_OK), -1);

        /* A symlink planted where a directory goes is not followed. */
        _cleanup_free_ char *data_dir = NULL;
        vol_payload_add(&p, "k", "v", 1, 0644);
        assert_int_equal(vol_atomic_write(d, &p, err, sizeof err), 1);
        _cleanup_free_ char *link = strdup_printf("%s/..data", d);
        unlink(link);
        assert_int_equal(symlink(root, link), 0); /* ..data -> outside */
        vol_payload_done(&p);
        vol_payload_add(&p, "k", "w", 1, 0644);
        assert_int_equal(vol_atomic_write(d, &p, err, sizeof err), 1);
        _cleanup_free_ char *outside = strdup_printf("%s/k", root);
        assert_int_equal(access(outside, F_OK), -1);
        _cleanup_free_ char *ck = slurp(d, "k");
        assert_string_equal(ck, "w");
        vol_payload_done(&p);
        rm_rf(root);
}

static void test_subpath(void **state)
{
        _cleanup_free_ char *root = tmpdir();
        _cleanup_free_ char *vol = strdup_printf("%s/vol", root);
        char err[512];
        char *ret = NULL;
        assert_int_equal(mkdir(vol, 0755), 0);
        _cleanup_free_ char *inner = strdup_printf("%s/vol/in", root);
        assert_int_equal(mkdir(inner, 0755), 0);
        _cleanup_free_ char *l1 = strdup_printf("%s/vol/up", root), *l2 = strdup_printf("%s/vol/abs", root),
                            *l3 = strdup_printf("%s/vol/rel", root);
        assert_int_equal(symlink("..", l1), 0);
        assert_int_equal(symlink("/etc", l2), 0);
        assert_int_equal(symlink("in", l3), 0);

        assert_int_equal(vol_resolve_subpath(vol, "in", false, &ret, err, sizeof err), 0);
        assert_string_equal(ret, inner);
        free(ret);
        /* A symlink that stays inside is fine, and resolves to its target. */
        assert_int_equal(vol_resolve_subpath(vol, "rel", false, &ret, err, sizeof err), 0);
        assert_string_equal(ret, inner);
        free(ret);
        /* Missing directories are made inside the volume. */
        assert_int_equal(vol_resolve_subpath(vol, "new/deeper", true, &ret, err, sizeof err), 0);
        _cleanup_free_ char *want = strdup_printf("%s/vol/new/deeper", root);
        assert_string_equal(ret, want);
        free(ret);

        const char *escapes[] = {"up", "up/vol", "abs", "abs/passwd", "../x", "/etc", "in/../../x", NULL};
        for (size_t i = 0; escapes[i]; i++) {
                ret = NULL;
                if (vol_resolve_subpath(vol, escapes[i], true, &ret, err, sizeof err) >= 0)
                        fail_msg("subPath \"%s\" resolved to %s", escapes[i], ret);
                assert_null(ret);
        }
        assert_int_equal(vol_resolve_subpath(vol, "up/created", true, &ret, err, sizeof err), -EXDEV);
        assert_non_null(strstr(err, "not within volume path"));
        _cleanup_free_ char *created = strdup_printf("%s/created", root);
        assert_int_equal(access(created, F_OK), -1);

        /* As root: the resolved inode is bind-mounted under the pod directory, and torn down with it. */
        if (geteuid() == 0) {
                _cleanup_free_ char *f = strdup_printf("%s/vol/in/file", root);
                assert_int_equal(write_file_atomic(f, "x", 1, 0644), 0);
                assert_int_equal(vol_bind_subpath(root, "uid1", "v", "c", 0, vol, "rel/file", false, &ret,
                                                  err, sizeof err),
                                 0);
                _cleanup_free_ char *want_file = strdup_printf("%s/pods/uid1/volume-subpaths/v/c/0", root);
                assert_string_equal(ret, want_file);
                _cleanup_free_ char *got = NULL;
                assert_int_equal(read_file_limit(ret, 16, &got, NULL), 0);
                assert_string_equal(got, "x");
                free(ret);
                assert_int_equal(
                        vol_bind_subpath(root, "uid1", "v", "c", 1, vol, "in", false, &ret, err, sizeof err),
                        0);
                _cleanup_free_ char *through = strdup_printf("%s/file", ret);
                assert_int_equal(access(through, F_OK), 0);
                free(ret);
                /* Again for a restart: the old bind is replaced, not stacked. */
                assert_int_equal(
                        vol_bind_subpath(root, "uid1", "v", "c", 1, vol, "in", false, &ret, err, sizeof err),
                        0);
                free(ret);
                assert_true(vol_bind_subpath(root, "uid1", "v", "c", 2, vol, "abs", false, &ret, err,
                                             sizeof err) < 0);
                vol_teardown_pod(root, "uid1");
                _cleanup_free_ char *mounts = NULL;
                assert_int_equal(read_file_limit("/proc/self/mounts", 1 << 22, &mounts, NULL), 0);
                assert_null(strstr(mounts, root));
        }
        rm_rf(root);
}

static const char *POD =
        "apiVersion: v1\n"
        "kind: Pod\n"
        "metadata:\n"
        "  name: dw\n"
        "  namespace: ns1\n"
        "  labels: {b: \"2\", a: 'x\"y'}\n"
        "spec:\n"
        "  containers:\n"
        "  - name: app\n"
        "    image: busybox\n"
        "    resources: {limits: {memory: 64Mi, cpu: 250m}}\n"
        "  volumes:\n"
        "  - name: info\n"
        "    downwardAPI:\n"
        "      defaultMode: 0600\n"
        "      items:\n"
        "      - {path: name, fieldRef: {fieldPath: metadata.name}}\n"
        "      - {path: sub/ns, fieldRef: {fieldPath: metadata.namespace}, mode: 0444}\n"
        "      - {path: labels, fieldRef: {fieldPath: metadata.labels}}\n"
        "      - path: mem\n"
        "        resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}\n"
        "  - name: cm\n"
        "    configMap: {name: settings}\n"
        "  - name: bad\n"
        "    downwardAPI:\n"
        "      items:\n"
        "      - {path: ../../x, fieldRef: {fieldPath: metadata.name}}\n";

static void test_payloads(void **state)
{
        struct manifest_result r;
        struct vol_ctx ctx = {.root_dir = "/nonexistent"};
        struct vol_payload p = {0};
        char err[512];

        manifest_decode("/etc/static/dw.yaml", POD, strlen(POD), "node1", &r);
        if (r.error)
                fail_msg("%s", r.error);
        assert_int_equal(r.n_pods, 1);
        struct pod *pod = r.pods[0];
        assert_int_equal(pod->n_volumes, 3);
        assert_int_equal(pod->volumes[0].kind, VOLUME_DOWNWARD_API);
        assert_int_equal(pod->volumes[1].kind, VOLUME_CONFIG_MAP);

        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[0], &p, err, sizeof err), 0);
        assert_int_equal(p.n, 4);
        assert_string_equal(p.files[0].path, "name");
        assert_string_equal(p.files[0].data, "dw-node1");
        assert_int_equal(p.files[0].mode, 0600);
        assert_string_equal(p.files[1].data, "ns1");
        assert_int_equal(p.files[1].mode, 0444);
        assert_string_equal(p.files[2].data, "a=\"x\\\"y\"\nb=\"2\"");
        assert_string_equal(p.files[3].data, "64");
        vol_payload_done(&p);

        /* Static pods may not reference API objects. */
        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[1], &p, err, sizeof err), -EPERM);
        assert_non_null(strstr(err, "static pods may not reference API objects: configmap \"settings\""));
        /* Keys that would leave the volume are refused before anything is written. */
        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[2], &p, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "must not contain '..'"));

        /* Setting up the whole pod reports upstream's FailedMount wording. */
        _cleanup_free_ char *root = tmpdir();
        ctx.root_dir = root;
        assert_true(vol_setup_pod(&ctx, pod, err, sizeof err) < 0);
        if (geteuid() == 0) /* else the downwardAPI tmpfs fails first */
                assert_non_null(
                        strstr(err, "MountVolume.SetUp failed for volume \"cm\" : static pods may not"));
        else
                assert_non_null(strstr(err, "MountVolume.SetUp failed for volume \"info\""));
        vol_teardown_pod(root, pod->uid);
        manifest_result_clear(&r);
        rm_rf(root);
}

/* ---- configMap and secret payloads, objects from a fake store ---- */

static int fake_get(void *ud, const char *resource, const char *ns, const char *name, json_t **ret,
                    char *err, size_t errlen)
{
        (void) ud;
        if (streq(resource, "configmaps") && streq(name, "cfg")) {
                *ret = json_pack("{s:{s:s,s:s},s:{s:s}}", "data", "color", "blue", "size", "large",
                                 "binaryData", "bin", "AAEC");
                return 0;
        }
        if (streq(resource, "secrets") && streq(name, "sec")) {
                *ret = json_pack("{s:{s:s}}", "data", "password", "aHVudGVyMg==");
                return 0;
        }
        if (streq(resource, "configmaps") && streq(name, "evil")) {
                *ret = json_pack("{s:{s:s}}", "data", "..data", "x");
                return 0;
        }
        snprintf(err, errlen, "%s \"%s\" not found", streq(resource, "secrets") ? "secret" : "configmap",
                 name);
        (void) ns;
        return -ENOENT;
}

static struct pod *api_pod(const char *volumes)
{
        _cleanup_free_ char *text = strdup_printf(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\","
                "\"uid\":\"u-1\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}],\"volumes\":%"
                "s}}",
                volumes);
        json_error_t je;
        json_t *obj = json_loads(text, 0, &je);
        assert_non_null(obj);
        pod_json_apply_defaults(obj);
        struct api_problems pr = {0};
        struct pod *pod = pod_from_json(obj, &pr);
        if (!pod)
                fail_msg("%s", pr.errors ? pr.errors[0] : "?");
        api_problems_clear(&pr);
        json_decref(obj);
        return pod;
}

static const struct vol_file *file_of(const struct vol_payload *p, const char *path)
{
        for (size_t i = 0; i < p->n; i++)
                if (streq(p->files[i].path, path))
                        return &p->files[i];
        return NULL;
}

static void test_object_payloads(void **state)
{
        struct vol_ctx ctx = {.root_dir = "/nonexistent", .get_object = fake_get};
        struct vol_payload p = {0};
        char err[512];
        struct pod *pod = api_pod(
                "[{\"name\":\"all\",\"configMap\":{\"name\":\"cfg\"}},"
                "{\"name\":\"items\",\"configMap\":{\"name\":\"cfg\",\"defaultMode\":256,"
                "\"items\":[{\"key\":\"color\",\"path\":\"a/"
                "b\",\"mode\":384},{\"key\":\"size\",\"path\":\"s\"}]}},"
                "{\"name\":\"sec\",\"secret\":{\"secretName\":\"sec\"}},"
                "{\"name\":\"nokey\",\"configMap\":{\"name\":\"cfg\",\"items\":[{\"key\":\"nope\",\"path\":"
                "\"x\"}]}},"
                "{\"name\":\"optkey\",\"configMap\":{\"name\":\"cfg\",\"optional\":true,"
                "\"items\":[{\"key\":\"nope\",\"path\":\"x\"}]}},"
                "{\"name\":\"missing\",\"secret\":{\"secretName\":\"gone\"}},"
                "{\"name\":\"optmissing\",\"configMap\":{\"name\":\"gone\",\"optional\":true}},"
                "{\"name\":\"evil\",\"configMap\":{\"name\":\"evil\"}},"
                "{\"name\":\"proj\",\"projected\":{\"defaultMode\":292,\"sources\":["
                "{\"configMap\":{\"name\":\"cfg\",\"items\":[{\"key\":\"color\",\"path\":\"color\"}]}},"
                "{\"secret\":{\"name\":\"sec\"}},"
                "{\"downwardAPI\":{\"items\":[{\"path\":\"ns\",\"fieldRef\":{\"fieldPath\":\"metadata."
                "namespace\"}}]}}"
                "]}}]");
        assert_int_equal(pod->volumes[0].kind, VOLUME_CONFIG_MAP);
        assert_int_equal(pod->volumes[2].kind, VOLUME_SECRET);
        assert_int_equal(pod->volumes[8].kind, VOLUME_PROJECTED);

        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[0], &p, err, sizeof err), 0);
        assert_int_equal(p.n, 3);
        assert_string_equal(file_of(&p, "color")->data, "blue");
        assert_int_equal(file_of(&p, "color")->mode, 0644);
        assert_int_equal(file_of(&p, "bin")->len, 3); /* binaryData decoded */
        assert_memory_equal(file_of(&p, "bin")->data, "\0\1\2", 3);
        vol_payload_done(&p);

        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[1], &p, err, sizeof err), 0);
        assert_int_equal(p.n, 2);
        assert_string_equal(file_of(&p, "a/b")->data, "blue");
        assert_int_equal(file_of(&p, "a/b")->mode, 0600);
        assert_int_equal(file_of(&p, "s")->mode, 0400);
        vol_payload_done(&p);

        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[2], &p, err, sizeof err), 0);
        assert_string_equal(file_of(&p, "password")->data, "hunter2");
        vol_payload_done(&p);

        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[3], &p, err, sizeof err), -ENOENT);
        assert_string_equal(err, "configmap references non-existent config key: nope");
        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[4], &p, err, sizeof err), 0);
        assert_int_equal(p.n, 0);
        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[5], &p, err, sizeof err), -ENOENT);
        assert_string_equal(err, "secret \"gone\" not found");
        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[6], &p, err, sizeof err), 0);
        assert_int_equal(p.n, 0);
        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[7], &p, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "must not start with '..'"));

        assert_int_equal(vol_build_payload(&ctx, pod, &pod->volumes[8], &p, err, sizeof err), 0);
        assert_int_equal(p.n, 3);
        assert_string_equal(file_of(&p, "color")->data, "blue");
        assert_string_equal(file_of(&p, "password")->data, "hunter2");
        assert_string_equal(file_of(&p, "ns")->data, "ns");
        assert_int_equal(file_of(&p, "ns")->mode, 0444);
        vol_payload_done(&p);
        pod_unref(pod);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_validate_path),
                cmocka_unit_test(test_writer_layout_and_update),
                cmocka_unit_test(test_writer_refuses_bad_paths),
                cmocka_unit_test(test_ownership),
                cmocka_unit_test(test_hugepages_medium),
                cmocka_unit_test(test_subpath),
                cmocka_unit_test(test_payloads),
                cmocka_unit_test(test_object_payloads),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
