/* The cgroupfs driver: which cgroup hierarchy the node has (v1, hybrid, v2). More arrives with #6. */
#pragma once

enum cg_mode { CG_MODE_UNKNOWN, CG_MODE_V1, CG_MODE_HYBRID, CG_MODE_V2 };

/* Reads the mount at root ("/sys/fs/cgroup" normally). */
enum cg_mode cg_detect_mode(const char *root);
const char *cg_mode_name(enum cg_mode m);
