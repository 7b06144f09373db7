/* Shared inside cni/ (and by its tests and fuzz target): the network type, JSON helpers, plugin invocation. */
#pragma once

#include <jansson.h>
#include <stdatomic.h>

#include "cni.h"
#include "macro.h"

struct cni_net_plugin {
        const char *type; /* points into conf */
        json_t *conf;     /* borrowed from cni_network.conf */
        const char *ipam; /* ipam.type or NULL, points into conf */
};

struct cni_network {
        atomic_int n_ref;
        char *name;
        char *version;
        char *file;
        bool disable_check;
        bool single; /* loaded from a single-plugin config (.conf) */
        /* The list: {"cniVersion", "name", "plugins": [...], ...}. Shared by threads once published, so only
         * read (get, dump, deep copy), never incref'd or changed. */
        json_t *conf;
        struct cni_net_plugin *plugins;
        size_t n_plugins;
};

DEFINE_CLEANUP_FUNC(struct cni_network, cni_network_unref)
DEFINE_CLEANUP_FUNC(struct cni_result, cni_result_free)
DEFINE_CLEANUP_FUNC(struct cni_cache_entry, cni_cache_entry_free)
DEFINE_CLEANUP_FUNC(struct cni_config, cni_config_free)

/* jansson (>= 2.9) provides json_decrefp(). */
#define _cleanup_json_ _cleanup_(json_decrefp)

static inline void *cni__mfree(void *p)
{
        free(p);
        return NULL;
}

/* Fills err (may be NULL) with a message and code 0; returns r, for `return cni__fail(err, -EINVAL, ...)`. */
int cni__fail(struct cni_error *err, int r, const char *fmt, ...) _printf_(3, 4);

/* Valid per the spec: names and container IDs [A-Za-z0-9][A-Za-z0-9_.-]*, interface names (1-15 bytes, not
 * "." or "..", no '/', ':' or whitespace), plugin types (a plain file name). */
bool cni__valid_name(const char *s);
bool cni__valid_ifname(const char *s);
bool cni__valid_type(const char *s);

/* Version order for the spec versions spoken here: <0, 0, >0 like strcmp; unknown versions sort first. */
int cni__version_cmp(const char *a, const char *b);

/* A network from parsed JSON (a list, or a single plugin when it has `type` and no `plugins`). Takes a
 * reference on root only on success. On failure *ret_field / *ret_reason describe the problem. */
int cni__network_from_json(json_t *root, const char *file, struct cni_network **ret, char **ret_field,
                           char **ret_reason);

/* The configuration plugin i of net receives on stdin (spec "deriving execution configuration"): the plugin
 * object with name and cniVersion from the list, `capabilities` removed, `runtimeConfig` holding the
 * capability args the plugin enables, and prevResult when given. */
json_t *cni__plugin_stdin(const struct cni_network *net, size_t i, json_t *capability_args,
                          json_t *prev_result);

/* CNI_ARGS for the plugins: IgnoreUnknown=1 (unless the caller set it) then the caller's pairs. -EINVAL for a
 * malformed caller string. */
int cni__args_compose(const char *caller_args, char **ret);

/* Checks an attachment (container ID, ifname, netns when need_netns, CNI_ARGS, capability args) and turns its
 * strings into what plugins get: the composed CNI_ARGS and the capability args object (NULL when none). */
int cni__attachment_prepare(const struct cni_attachment *att, bool need_netns, char **ret_args,
                            json_t **ret_caps, struct cni_error *err);

/* Parses a result object; on failure fills err with "<field>: <reason>". */
int cni__result_from_json(json_t *root, struct cni_result **ret, struct cni_error *err);
json_t *cni__result_to_json(const struct cni_result *r, const char *version);

/* What a plugin process left behind. */
struct cni__proc {
        int status; /* wait status */
        char *out;  /* NUL-terminated */
        size_t out_len;
        char *err;
        size_t err_len;
};
void cni__proc_clear(struct cni__proc *p);

/* Runs path with env, feeding in on stdin, collecting stdout/stderr; kills the process group after
 * timeout_ms (-ETIMEDOUT). */
int cni__spawn(const char *path, char *const *env, const char *in, size_t in_len, int64_t timeout_ms,
               struct cni__proc *ret);

/* The message for a failed plugin run: an error object on stdout gives "plugin T: msg: details (code N)",
 * else "plugin T: exit status N: <stderr>" (stdout when stderr is empty). Returns -EIO. */
int cni__plugin_failure(const char *type, const struct cni__proc *p, struct cni_error *err);

/* One plugin invocation: finds the binary, builds the environment, runs it. att is NULL for VERSION. On
 * success *ret_out is the plugin's stdout (may be empty). */
int cni__invoke(const struct cni_exec *ex, const char *type, const char *command,
                const struct cni_attachment *att, const char *cni_args, const char *stdin_data,
                size_t stdin_len, char **ret_out, struct cni_error *err);
