/* The cgroupfs driver: which cgroup hierarchy the node has (v1, hybrid, v2). */
#include "cgroups.h"

#include <stdio.h>
#include <sys/vfs.h>

#define CGROUP2_MAGIC_ 0x63677270
#define TMPFS_MAGIC_   0x01021994

enum cg_mode cg_detect_mode(const char *root)
{
        struct statfs fs;
        char unified[4096];

        if (statfs(root, &fs) < 0)
                return CG_MODE_UNKNOWN;
        if (fs.f_type == CGROUP2_MAGIC_)
                return CG_MODE_V2;
        if (fs.f_type != TMPFS_MAGIC_)
                return CG_MODE_UNKNOWN;
        snprintf(unified, sizeof unified, "%s/unified", root);
        if (statfs(unified, &fs) == 0 && fs.f_type == CGROUP2_MAGIC_)
                return CG_MODE_HYBRID;
        return CG_MODE_V1;
}

const char *cg_mode_name(enum cg_mode m)
{
        switch (m) {
        case CG_MODE_V1:
                return "v1";
        case CG_MODE_HYBRID:
                return "hybrid (v1 controllers, v2 at unified)";
        case CG_MODE_V2:
                return "v2";
        default:
                return "unknown";
        }
}
