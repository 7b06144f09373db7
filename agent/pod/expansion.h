/* $(VAR) references in env values, command, args and subPathExpr, expanded as upstream's
 * third_party/forked/golang/expansion does: "$$" is a literal "$", "$(NAME)" is looked up, an undefined
 * name and an unterminated "$(" stay as written, any other "$" is kept. Pure: no I/O, no pod state. */
#pragma once

#include <stddef.h>

/* The value of the name (len bytes, not NUL-terminated), or NULL when it is not defined. */
typedef const char *(*expand_mapping)(void *userdata, const char *name, size_t len);

/* s with every reference replaced through map; an undefined one is written back as "$(NAME)" (upstream's
 * MappingFuncFor). Caller frees. */
char *expand(const char *s, expand_mapping map, void *userdata);

/* The value of name in env (strv of alternating names and values; NULL allowed; the last entry of a name
 * wins), or NULL. */
const char *env_lookup(char *const *env, const char *name, size_t len);

/* expand() looking names up in first, then in second (each as env_lookup; either may be NULL). */
char *expand_env(const char *s, char *const *first, char *const *second);

/* A subPathExpr expanded with the container's environment (upstream's ExpandContainerVolumeMounts): a
 * reference to a name that is undefined or empty is an error, -EINVAL with err "missing value for A, B"
 * (sorted, each once). */
int expand_sub_path(const char *expr, char *const *env, char **ret, char *err, size_t errlen);

/* The kubelet's own check of a subPath before mounting it (makeMounts): -EINVAL with upstream's message when
 * it is absolute ("error SubPath `/x` must not be an absolute path") or has a ".." component ("unable to
 * provision SubPath `a/../b`: must not contain '..'"). */
int sub_path_check(const char *sub_path, char *err, size_t errlen);
