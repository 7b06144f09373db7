/* Pod volumes on disk under <root>/pods/<uid>/volumes/<plugin>/<name>: emptyDir, hostPath checks, and the
 * API-data volumes (configMap, secret, downwardAPI, projected) written by an atomic writer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pod.h"

struct obj_cache;
struct token_cache;

/* One file of an API-data volume: a relative path, its bytes and mode. */
struct vol_file {
        char *path;
        char *data;
        size_t len;
        mode_t mode;
};

struct vol_payload {
        struct vol_file *files;
        size_t n;
        /* The pod's fsGroup: the files, directories and the volume's root get its group, read-only
         * permissions for it, setgid directories (upstream's SetVolumeOwnership, read-only volume). */
        bool has_fs_group;
        gid_t fs_group;
};

void vol_payload_done(struct vol_payload *p);
/* Adds a file (copies path and data); a later file of the same path replaces the earlier one. */
void vol_payload_add(struct vol_payload *p, const char *path, const void *data, size_t len, mode_t mode);

/* Upstream's rule for key paths: not empty, not absolute, no ".." element, no element starting with "..",
 * no empty element. Returns 0 or -EINVAL with err saying why. */
int vol_validate_path(const char *path, char *err, size_t errlen);

/* Upstream's AtomicWriter: the payload goes into a fresh "..<timestamp>" directory inside dir, the
 * "..data" symlink is swapped to it with rename(2), and each top-level name is a symlink into "..data".
 * Names of the old payload that are gone are removed, then the old directory. Nothing is written outside
 * dir: every path is validated first and every step works relative to dir's fd without following
 * symlinks. Returns 1 when the contents changed, 0 when they already matched, -errno on failure (err). */
int vol_atomic_write(const char *dir, const struct vol_payload *p, char *err, size_t errlen);

struct vol_ctx {
        const char *root_dir;
        struct obj_cache *objects;  /* NULL: standalone (API objects are refused) */
        struct token_cache *tokens; /* serviceAccountToken sources; NULL: standalone (refused) */
        const char *host_ip;
        int64_t node_cpu_m, node_mem,
                node_ephemeral; /* resourceFieldRef limits when a container sets none */
        int64_t timeout_ms;     /* waiting for a ConfigMap or Secret */
        /* Replaces the lookup in objects (tests, benchmarks): as obj_cache_get. */
        int (*get_object)(void *userdata, const char *resource, const char *ns, const char *name,
                          json_t **ret, char *err, size_t errlen);
        void *get_object_userdata;
};

/* Builds the payload of an API-data volume from its source JSON (configMap, secret, downwardAPI or
 * projected). Returns 0, or -errno with err in upstream's words ("configmap \"x\" not found"). */
int vol_build_payload(const struct vol_ctx *ctx, const struct pod *pod, const struct volume *v,
                      struct vol_payload *ret, char *err, size_t errlen);

/* Upstream's SetVolumeOwnership: every entry below path (path included, same filesystem, symlinks not
 * followed) gets group gid; files gain g+rw (read_only: g+r), directories also g+x and setgid, symlinks only
 * the group. only_on_root_mismatch: nothing is done when path already has the group and the bits
 * (fsGroupChangePolicy OnRootMismatch). Returns 1 when it walked, 0 when it did not need to, -errno (err). */
int vol_set_ownership(const char *path, gid_t gid, bool read_only, bool only_on_root_mismatch, char *err,
                      size_t errlen);

/* An emptyDir of medium "HugePages" or "HugePages-<size>": upstream's hugetlbfs mount option
 * ("pagesize=2Mi") from the page size the pod's containers (init containers too) ask hugepages of; -EINVAL
 * with err in upstream's words when the medium's size is bad, no container asks for hugepages (of that
 * size), or "HugePages" meets several sizes. */
int vol_hugepages_mount_option(const struct pod *pod, const char *medium, char *out, size_t len, char *err,
                               size_t errlen);

/* Sets up or refreshes every volume of the pod (run on each sync: updated objects reach running pods).
 * On failure err holds upstream's FailedMount message ("MountVolume.SetUp failed for volume ..."). */
int vol_setup_pod(const struct vol_ctx *ctx, const struct pod *pod, char *err, size_t errlen);

/* Unmounts the pod's subPath binds and tmpfs volumes (before its directory is removed). */
void vol_teardown_pod(const char *root_dir, const char *uid);

/* Upstream's volume manager for a terminated pod still known (Succeeded, Failed, evicted): its volumes
 * unmounted and removed (an emptyDir's content goes), its directory kept until the pod goes. 0 or -errno. */
int vol_remove_pod_volumes(const char *root_dir, const char *uid);

/* Upstream's podVolumesExist: whether anything of the pod's volumes (or subPath binds) is left on disk. */
bool vol_pod_volumes_exist(const char *root_dir, const char *uid);

/* The UIDs that have a directory under <root>/pods (strv, caller frees): at start, those no source wants
 * are orphans whose volumes and directories go (upstream's cleanupOrphanedPodDirs). */
int vol_pod_dir_uids(const char *root_dir, char ***ret);

/* The host directory (or hostPath) a volume is mounted from; caller frees. */
char *vol_host_path(const char *root_dir, const struct pod *pod, const struct volume *v);

/* Whether upstream mounts the kind read-only whatever the mount says (the API-data volumes). */
bool vol_kind_read_only(enum volume_kind k);

/* Resolves subPath inside base without leaving it (symlinks included), creating missing directories
 * when create is set. *ret: the resolved host path. -EINVAL/-EXDEV with err on an escape attempt. */
int vol_resolve_subpath(const char *base, const char *sub_path, bool create, char **ret, char *err,
                        size_t errlen);

/* As upstream: the subPath resolved as above, opened, and that inode bind-mounted at
 * <root>/pods/<uid>/volume-subpaths/<volume>/<container>/<index>, which the runtime then mounts (so no path
 * component can be swapped for a symlink between the check and the container's mount). *ret: that path. */
int vol_bind_subpath(const char *root_dir, const char *uid, const char *volume, const char *container,
                     size_t index, const char *base, const char *sub_path, bool create, char **ret,
                     char *err, size_t errlen);
