/* The CNI spec (0.3.0 to 1.0.0) for a container runtime: network configuration lists, plugin execution,
 * chaining with prevResult, a result cache on disk and GC of stale attachments. Knows nothing of Pods: the
 * caller passes any identity in as CNI_ARGS key/values.
 *
 * Calls that run plugins block the calling thread for as long as the plugins take (each bounded by a
 * timeout): run them on a worker, not on the loop. Calls for different attachments may run at once from
 * many threads; the caller serialises calls for one attachment, as the spec asks of a runtime. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- versions, errors ----------------------------------------------------------------------------------- */

/* The spec versions spoken here, for configurations and results: 0.3.0, 0.3.1, 0.4.0, 1.0.0. */
bool cni_version_supported(const char *version);

/* Well-known error codes a plugin may report (spec section 5); 100+ are plugin specific. */
enum {
        CNI_ERR_INCOMPATIBLE_VERSION = 1,
        CNI_ERR_UNSUPPORTED_FIELD = 2,
        CNI_ERR_UNKNOWN_CONTAINER = 3,
        CNI_ERR_INVALID_ENV = 4,
        CNI_ERR_IO = 5,
        CNI_ERR_DECODE = 6,
        CNI_ERR_INVALID_CONFIG = 7,
        CNI_ERR_TRY_AGAIN_LATER = 11,
};

/* Outside detail of a failure. Functions return -errno; when they take a struct cni_error they also fill it
 * (it may be NULL). A plugin's error object becomes "plugin bridge: <msg>: <details> (code 11)" with the
 * code in .code; a plugin that failed without one gives its exit status and stderr. */
struct cni_error {
        int code; /* the plugin's CNI error code, 0 when the failure was not a plugin error object */
        char msg[2048];
};
/* Prepends "<context>: " to err->msg, for callers that add what they were doing. err may be NULL. */
void cni_error_prefix(struct cni_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- plugin execution ------------------------------------------------------------------------------------ */

#define CNI_DEFAULT_TIMEOUT_MS 60000
#define CNI_DEFAULT_PATH       "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* How plugins run. Plugins get a clean environment (the CNI_* variables and PATH only), the network config
 * on stdin, no file descriptor above 2, their own process group (killed as a whole on timeout) and "/" as
 * working directory. The caller must not have SIGCHLD set to SIG_IGN (the exit status would be lost). */
struct cni_exec {
        char *const *bin_dirs; /* NULL-terminated; searched in order for `type`; also CNI_PATH */
        int64_t timeout_ms;    /* per plugin execution; <= 0: CNI_DEFAULT_TIMEOUT_MS */
        const char *path_env;  /* PATH for plugins (portmap runs iptables); NULL: CNI_DEFAULT_PATH */
};

/* The per-attachment parameters (spec section 3). An attachment is (network name, container ID, ifname). */
struct cni_attachment {
        const char *container_id; /* CNI_CONTAINERID: [A-Za-z0-9][A-Za-z0-9_.-]* */
        const char *netns;  /* CNI_NETNS: netns path; required for ADD and CHECK, may be NULL for DEL */
        const char *ifname; /* CNI_IFNAME, e.g. "eth0" */
        const char *args;   /* CNI_ARGS from the caller, "K=V;K=V", may be NULL. IgnoreUnknown=1 is
                                      * always passed too. */
        const char *capability_args; /* JSON object text, e.g. {"portMappings":[...],"bandwidth":{...},
                                      * "ips":[...]}; each plugin gets in runtimeConfig only the keys its
                                      * `capabilities` map enables. May be NULL. */
};

/* Appends key=value to a CNI_ARGS string (*args may be NULL; it is reallocated). -EINVAL when key is not
 * [A-Za-z0-9_]+ or value holds '=', ';' or a control character. */
int cni_args_append(char **args, const char *key, const char *value);

/* Where the plugin binary for `type` is: the first bin dir holding an executable regular file of that name.
 * -ENOENT when none does, -EINVAL for a type that is not a plain file name. */
int cni_plugin_find(char *const *bin_dirs, const char *type, char **ret_path);

/* The spec versions a plugin supports (CNI_COMMAND=VERSION), as a NULL-terminated vector to free with
 * strv_free() or cni_strv_free(). Answers are cached per binary (path, inode, size, mtime). */
int cni_plugin_versions(const struct cni_exec *ex, const char *type, char ***ret, struct cni_error *err);
void cni_plugin_versions_flush(void);
char **cni_strv_free(char **v);

/* ---- network configuration lists ------------------------------------------------------------------------- */

/* A parsed network configuration list; immutable and reference-counted, so workers may keep using a network
 * while a reload replaces the set. */
struct cni_network;

/* Parses a .conflist (or a single-plugin .conf, which becomes a one-plugin list: any input that has a `type`
 * and no `plugins`). filename (may be NULL) is recorded and used in messages. Checks the structure only:
 * name, a supported cniVersion, plugins with a valid `type`, `capabilities` maps of booleans. */
int cni_network_parse(const char *data, size_t len, const char *filename, struct cni_network **ret,
                      struct cni_error *err);
struct cni_network *cni_network_ref(struct cni_network *n);
struct cni_network *cni_network_unref(struct cni_network *n);

const char *cni_network_name(const struct cni_network *n);
const char *cni_network_version(const struct cni_network *n);
const char *cni_network_file(const struct cni_network *n); /* NULL when not loaded from a file */
bool cni_network_disable_check(const struct cni_network *n);
size_t cni_network_n_plugins(const struct cni_network *n);
const char *cni_network_plugin_type(const struct cni_network *n, size_t i);
/* The list as JSON text (a .conf comes out in list form). */
char *cni_network_to_json(const struct cni_network *n);

/* Checks a network against the installed plugins: every `type` (and ipam `type`) is found in bin_dirs, and
 * every plugin supports the list's cniVersion (VERSION, cached). */
int cni_network_validate(const struct cni_network *n, char *const *bin_dirs, struct cni_error *err);

/* ---- a configuration directory -------------------------------------------------------------------------- */

/* Why one file was left out. */
struct cni_load_error {
        char *file;   /* full path */
        char *field;  /* "plugins[1].type", "cniVersion", ...; "" when about the whole file */
        char *reason; /* "plugin \"bridgex\" not found in /opt/cni/bin:/usr/lib/cni" */
};

struct cni_config {
        struct cni_network **networks; /* the valid ones, in lexical file-name order */
        size_t n_networks;
        struct cni_load_error *errors; /* the files left out, in the same order */
        size_t n_errors;
};

/* Loads *.conflist, *.conf and *.json from dir in lexical (byte) order; each is parsed and validated as
 * cni_network_validate() does. An invalid file is recorded in errors and does not stop the others; a second
 * file with a name already taken is an error too. Returns -errno only when dir cannot be read. */
int cni_config_load(const char *dir, char *const *bin_dirs, struct cni_config **ret);
struct cni_config *cni_config_free(struct cni_config *c);
/* The default network (the first valid file), or NULL. Borrowed: cni_network_ref() to keep it. */
struct cni_network *cni_config_default(const struct cni_config *c);
struct cni_network *cni_config_find(const struct cni_config *c, const char *name);

/* Network readiness: 0 when dir holds at least one valid network, else -errno and err says why (no file,
 * or the first file's error). */
int cni_config_ready(const char *dir, char *const *bin_dirs, struct cni_error *err);

/* ---- results --------------------------------------------------------------------------------------------- */

struct cni_interface {
        char *name;
        char *mac;     /* may be NULL */
        char *sandbox; /* netns path for interfaces inside the container; NULL on the host */
};

struct cni_ip {
        char *address; /* CIDR as the plugin gave it, "10.1.0.5/16" */
        char ip[46];   /* the address alone, normalised: "10.1.0.5", "fd00::5" */
        int prefix_len;
        int family;    /* 4 or 6 */
        char *gateway; /* may be NULL */
        int interface; /* index into interfaces, -1 when absent */
};

struct cni_route {
        char *dst; /* CIDR */
        char *gw;  /* may be NULL */
};

struct cni_dns {
        char **nameservers; /* NULL-terminated vectors, NULL when absent */
        char *domain;
        char **search;
        char **options;
};

/* A success result of any supported version, in the 1.0.0 shape (0.3.x/0.4.0 `ips[].version` is checked
 * against the address and dropped). */
struct cni_result {
        char *cni_version;
        struct cni_interface *interfaces;
        size_t n_interfaces;
        struct cni_ip *ips;
        size_t n_ips;
        struct cni_route *routes;
        size_t n_routes;
        struct cni_dns dns;
        char *json; /* the result as the plugin printed it (compact), passed on as prevResult */
};

/* Parses and checks a plugin's success result. -EBADMSG (err says which field) when it is not valid JSON, not
 * a result, of an unsupported version (0.1.0/0.2.0), or has bad addresses or interface indexes. */
int cni_result_parse(const char *data, size_t len, struct cni_result **ret, struct cni_error *err);
struct cni_result *cni_result_free(struct cni_result *r);
/* The result in the shape of another supported version (0.3.x/0.4.0 gain `ips[].version`). Known fields
 * only. -EINVAL for an unsupported version. */
int cni_result_encode(const struct cni_result *r, const char *version, char **ret);
/* The pod IPs: the addresses (no prefix) on the sandbox interface named ifname (an interface with `sandbox`
 * set), at most one per family, in result order, as a NULL-terminated vector. When the result names no
 * interfaces at all, IPs without an interface index count. Returns how many (0 is not an error). */
int cni_result_pod_ips(const struct cni_result *r, const char *ifname, char ***ret);

/* ---- operations on a network list ------------------------------------------------------------------------ */

/* ADD through the chain: each plugin after the first gets the previous plugin's result as prevResult. Stops
 * at the first failure (no cleanup: see cni_attach()). *ret is the last plugin's result. */
int cni_network_add(const struct cni_exec *ex, const struct cni_network *net,
                    const struct cni_attachment *att, struct cni_result **ret, struct cni_error *err);
/* DEL in reverse order, with prev (the ADD result, may be NULL) as prevResult for lists of 0.4.0 and later.
 * Tolerant as the spec asks: a netns path that no longer exists is passed as an empty CNI_NETNS (plugins
 * then release what they can), and error code 3 (unknown container) counts as success. Stops at the first
 * other failure. */
int cni_network_del(const struct cni_exec *ex, const struct cni_network *net,
                    const struct cni_attachment *att, const struct cni_result *prev, struct cni_error *err);
/* CHECK through the chain with prev as prevResult. 0 without running anything when the list sets
 * disableCheck; -EOPNOTSUPP for lists older than 0.4.0; -EINVAL without prev. */
int cni_network_check(const struct cni_exec *ex, const struct cni_network *net,
                      const struct cni_attachment *att, const struct cni_result *prev,
                      struct cni_error *err);

/* ---- attachments with a result cache -------------------------------------------------------------------- */

/* One cached attachment: <cache_dir>/results/<network>-<containerid>-<ifname>, written atomically, holding
 * the inputs of the ADD (config, netns, CNI_ARGS, capability args) and its result, so that DEL and CHECK
 * work after a restart with the same inputs. */
struct cni_cache_entry {
        char *path;
        char *network_name;
        char *container_id;
        char *ifname;
        char *netns;
        char *args;                  /* CNI_ARGS as the caller gave them, may be NULL */
        char *capability_args;       /* JSON text, may be NULL */
        struct cni_network *network; /* the configuration the ADD used */
        struct cni_result *result;   /* NULL when the ADD did not finish (crash, failed cleanup) */
        int64_t mtime_ns;            /* when the entry was written (wall clock) */
};
struct cni_cache_entry *cni_cache_entry_free(struct cni_cache_entry *e);
void cni_cache_entries_free(struct cni_cache_entry **v, size_t n);

/* -ENOENT when the attachment is not cached. */
int cni_cache_load(const char *cache_dir, const char *network_name, const char *container_id,
                   const char *ifname, struct cni_cache_entry **ret, struct cni_error *err);
/* Every readable entry, in file-name order; unreadable or invalid files are skipped (counted in
 * *ret_n_invalid, may be NULL). A missing cache dir is an empty list. */
int cni_cache_list(const char *cache_dir, struct cni_cache_entry ***ret, size_t *ret_n,
                   size_t *ret_n_invalid);

/* ADD with the cache: records the inputs first (so a crash mid-ADD leaves something for GC to DEL), runs the
 * chain, then stores the result. On failure runs DEL through the whole list (reverse order, no prevResult)
 * and drops the entry when that succeeds. An entry that already holds a result is -EEXIST; one left by an
 * unfinished ADD is DELeted first. */
int cni_attach(const struct cni_exec *ex, const char *cache_dir, const struct cni_network *net,
               const struct cni_attachment *att, struct cni_result **ret, struct cni_error *err);
/* DEL with the cache. When (net name, container ID, ifname) is cached, the cached config and inputs are used
 * (att gives the identity only) with the cached result as prevResult; otherwise net and att are used without
 * prevResult (DEL is idempotent). The entry is removed on success. */
int cni_detach(const struct cni_exec *ex, const char *cache_dir, const struct cni_network *net,
               const struct cni_attachment *att, struct cni_error *err);
/* DELs every cached attachment of a container (any network, any ifname). Returns how many were removed;
 * on failure the first error, after trying all. */
int cni_detach_container(const struct cni_exec *ex, const char *cache_dir, const char *container_id,
                         struct cni_error *err);
/* CHECK with the cached inputs and result. -ENOENT when not attached. */
int cni_check(const struct cni_exec *ex, const char *cache_dir, const struct cni_network *net,
              const struct cni_attachment *att, struct cni_error *err);
/* GC: DELs and removes every cached attachment whose container ID is not in live_ids (NULL-terminated, may be
 * NULL for none) and whose entry is at least min_age_ms old (so an attachment being made for a container the
 * caller does not list yet is left alone). Returns how many were removed; on failure the first error after
 * trying all. */
int cni_cache_gc(const struct cni_exec *ex, const char *cache_dir, char *const *live_ids, int64_t min_age_ms,
                 struct cni_error *err);
