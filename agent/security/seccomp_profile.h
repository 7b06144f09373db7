/* seccomp profiles (the OCI/Docker JSON format) compiled with libseccomp before a container is created, so
 * a broken profile is refused with its exact reason instead of failing deep inside the runtime. */
#pragma once

#include <stddef.h>

struct seccomp_cache;

struct seccomp_cache *seccomp_cache_new(void);
struct seccomp_cache *seccomp_cache_free(struct seccomp_cache *c);

/* Compiles the profile text; 0, or -EINVAL with err naming the field, syscall and action. */
int seccomp_compile(const char *text, size_t len, char *err, size_t errlen);

/* Reads and compiles a profile file, remembering results by content hash (a profile is compiled once).
 * Thread-safe. Errors start with the file name. */
int seccomp_check_file(struct seccomp_cache *c, const char *path, char *err, size_t errlen);
