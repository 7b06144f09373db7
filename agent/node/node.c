/* The node manager: registers this Node with the API server, keeps its status and its Lease fresh. */
#include "node.h"
#include "eviction.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "client.h"
#include "cri.h"
#include "log.h"
#include "pod.h"
#include "status.h"
#include "util.h"

#define LEASE_NS    "kube-node-lease"
#define MAX_IMAGES  50
#define MERGE_PATCH "application/strategic-merge-patch+json"

struct node_manager {
        struct node_config cfg;
        char *node_name, *node_ip, *root_dir;
        char **labels, **taints;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop, poked;
        /* thread state */
        char uid[64];
        bool registered;
        json_t *lease;       /* the last Lease we wrote, for its resourceVersion */
        json_t *last_status; /* the last status sent, heartbeat times excluded */
        json_t *conditions;  /* the last conditions, for their transition times */
        int64_t last_patch_ms;
        char last_error[512];
        unsigned register_attempts;
        struct kube_watch *watch; /* our own Node: deletion → register again; spec.podCIDR */
        bool gone;                /* the watch saw the Node deleted (under lock) */
        char pod_cidr[64];
        json_t *seen_labels, *seen_taints; /* the watched Node's, for admission (under lock) */
};

/* ---- our own Node, watched ---------------------------------------------------------------------- */

static void node_seen(struct node_manager *nm, json_t *node)
{
        const char *cidr = json_string_value(json_object_get(json_object_get(node, "spec"), "podCIDR"));
        pthread_mutex_lock(&nm->lock);
        if (!node && nm->uid[0]) {
                nm->gone = true;
                nm->poked = true;
                pthread_cond_broadcast(&nm->cond);
        }
        snprintf(nm->pod_cidr, sizeof nm->pod_cidr, "%s", cidr ? cidr : "");
        if (node) {
                json_decref(nm->seen_labels);
                json_decref(nm->seen_taints);
                nm->seen_labels =
                        json_deep_copy(json_object_get(json_object_get(node, "metadata"), "labels"));
                nm->seen_taints = json_deep_copy(json_object_get(json_object_get(node, "spec"), "taints"));
                if (!nm->seen_labels)
                        nm->seen_labels = json_object();
        }
        pthread_mutex_unlock(&nm->lock);
}

static void watch_list(void *ud, json_t *items)
{
        node_seen(ud, json_array_get(items, 0));
}

static void watch_event(void *ud, const char *type, json_t *obj)
{
        node_seen(ud, streq(type, "DELETED") ? NULL : obj);
}

/* ---- pure helpers ------------------------------------------------------------------------------ */

static bool is_label_name(const char *s, size_t n)
{
        if (n == 0 || n > 63 || !isalnum((unsigned char) s[0]) || !isalnum((unsigned char) s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

int node_label_parse(const char *s, char **ret_key, char **ret_value)
{
        const char *eq = strchr(s, '=');
        if (!eq)
                return -EINVAL;
        _cleanup_free_ char *k = OOM_CHECK(strndup(s, (size_t) (eq - s)));
        const char *v = eq + 1;
        if (!is_qualified_name(k) || (*v && !is_label_name(v, strlen(v))))
                return -EINVAL;
        *ret_key = TAKE_PTR(k);
        *ret_value = xstrdup(v);
        return 0;
}

bool node_label_allowed(const char *key)
{
        const char *slash = strchr(key, '/');
        if (!slash)
                return true;
        _cleanup_free_ char *ns = OOM_CHECK(strndup(key, (size_t) (slash - key)));
        bool k8s = streq(ns, "kubernetes.io") || str_has_suffix(ns, ".kubernetes.io") ||
                   streq(ns, "k8s.io") || str_has_suffix(ns, ".k8s.io");
        if (!k8s)
                return true;
        /* What NodeRestriction lets a node set on itself (1.20's kubelet label set). */
        static const char *const allowed_keys[] = {"kubernetes.io/hostname",
                                                   "kubernetes.io/arch",
                                                   "kubernetes.io/os",
                                                   "beta.kubernetes.io/instance-type",
                                                   "node.kubernetes.io/instance-type",
                                                   "failure-domain.beta.kubernetes.io/region",
                                                   "failure-domain.beta.kubernetes.io/zone",
                                                   "topology.kubernetes.io/region",
                                                   "topology.kubernetes.io/zone",
                                                   "beta.kubernetes.io/arch",
                                                   "beta.kubernetes.io/os",
                                                   NULL};
        for (const char *const *k = allowed_keys; *k; k++)
                if (streq(key, *k))
                        return true;
        return streq(ns, "kubelet.kubernetes.io") || str_has_suffix(ns, ".kubelet.kubernetes.io") ||
               streq(ns, "node.kubernetes.io") || str_has_suffix(ns, ".node.kubernetes.io");
}

json_t *node_taint_parse(const char *s, char **ret_err)
{
        const char *colon = strrchr(s, ':');
        if (!colon) {
                *ret_err = strdup_printf("taint \"%s\": expected key=value:Effect or key:Effect", s);
                return NULL;
        }
        const char *effect = colon + 1;
        if (!streq(effect, "NoSchedule") && !streq(effect, "PreferNoSchedule") &&
            !streq(effect, "NoExecute")) {
                *ret_err = strdup_printf("taint \"%s\": effect must be NoSchedule, PreferNoSchedule or "
                                         "NoExecute",
                                         s);
                return NULL;
        }
        _cleanup_free_ char *kv = OOM_CHECK(strndup(s, (size_t) (colon - s)));
        char *eq = strchr(kv, '=');
        const char *value = "";
        if (eq) {
                *eq = 0;
                value = eq + 1;
        }
        if (!is_qualified_name(kv) || (*value && !is_label_name(value, strlen(value)))) {
                *ret_err = strdup_printf("taint \"%s\": invalid key or value", s);
                return NULL;
        }
        json_t *t = json_pack("{s:s, s:s}", "key", kv, "effect", effect);
        if (*value)
                json_object_set_new(t, "value", json_string(value));
        return t;
}

/* ---- facts about the machine ------------------------------------------------------------------- */

static char *read_line(const char *path)
{
        _cleanup_free_ char *s = NULL;
        if (read_file_limit(path, 4096, &s, NULL) < 0)
                return xstrdup("");
        s[strcspn(s, "\n")] = 0;
        return TAKE_PTR(s);
}

static char *os_image(void)
{
        _cleanup_free_ char *s = NULL;
        if (read_file_limit("/etc/os-release", 1 << 16, &s, NULL) < 0)
                return xstrdup("Linux");
        for (char *save = NULL, *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (str_has_prefix(line, "PRETTY_NAME=")) {
                        char *v = line + strlen("PRETTY_NAME=");
                        size_t n = strlen(v);
                        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
                                v[n - 1] = 0;
                                v++;
                        }
                        return xstrdup(v);
                }
        return xstrdup("Linux");
}

static const char *go_arch(const char *machine)
{
        if (streq(machine, "x86_64"))
                return "amd64";
        if (streq(machine, "aarch64"))
                return "arm64";
        if (str_has_prefix(machine, "arm"))
                return "arm";
        return machine;
}

/* MemTotal and MemAvailable in bytes. */
static void meminfo(int64_t *total, int64_t *avail)
{
        _cleanup_free_ char *s = NULL;
        *total = *avail = 0;
        if (read_file_limit("/proc/meminfo", 1 << 16, &s, NULL) < 0)
                return;
        long long kb;
        for (char *save = NULL, *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
                        *total = kb * 1024;
                else if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
                        *avail = kb * 1024;
        }
}

static json_t *images_json(struct node_manager *nm)
{
        Runtime__V1__ListImagesRequest req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ListImagesResponse *resp = NULL;
        struct cri_error err = {0};
        json_t *list = json_array();

        if (CRI_CALL(nm->cfg.cri, ImageService, ListImages, list_images, &req, &resp, nm->cfg.timeout_ms,
                     &err) < 0)
                return list;
        /* Largest first, as upstream; at most MAX_IMAGES. */
        bool *used = OOM_CHECK(calloc(resp->n_images + 1, sizeof *used));
        for (size_t k = 0; k < MIN(resp->n_images, (size_t) MAX_IMAGES); k++) {
                size_t best = SIZE_MAX;
                for (size_t i = 0; i < resp->n_images; i++)
                        if (!used[i] &&
                            (best == SIZE_MAX || resp->images[i]->size > resp->images[best]->size))
                                best = i;
                used[best] = true;
                Runtime__V1__Image *im = resp->images[best];
                json_t *names = json_array();
                for (size_t j = 0; j < im->n_repo_digests; j++)
                        json_array_append_new(names, json_string(im->repo_digests[j]));
                for (size_t j = 0; j < im->n_repo_tags; j++)
                        json_array_append_new(names, json_string(im->repo_tags[j]));
                if (json_array_size(names) == 0)
                        json_array_append_new(names, json_string(im->id));
                json_array_append_new(
                        list, json_pack("{s:o, s:I}", "names", names, "sizeBytes", (json_int_t) im->size));
        }
        free(used);
        return list;
}

static char *runtime_version(struct node_manager *nm)
{
        Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__VersionResponse *resp = NULL;
        struct cri_error err = {0};
        req.version = "v1";
        if (CRI_CALL(nm->cfg.cri, RuntimeService, Version, version, &req, &resp, nm->cfg.timeout_ms, &err) <
            0)
                return xstrdup("unknown://unknown");
        return strdup_printf("%s://%s", resp->runtime_name, resp->runtime_version);
}

static char *quantity_ki(int64_t bytes)
{
        return strdup_printf("%lldKi", (long long) (bytes / 1024));
}

/* ---- the Node object --------------------------------------------------------------------------- */

static json_t *default_labels_of(const char *node_name)
{
        struct utsname u;
        uname(&u);
        const char *arch = go_arch(u.machine);
        return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kubernetes.io/hostname", node_name,
                         "kubernetes.io/os", "linux", "kubernetes.io/arch", arch, "beta.kubernetes.io/os",
                         "linux", "beta.kubernetes.io/arch", arch);
}

static json_t *default_labels(struct node_manager *nm)
{
        return default_labels_of(nm->node_name);
}

json_t *node_local_labels(const char *node_name, char *const *labels)
{
        json_t *o = default_labels_of(node_name);
        for (char *const *l = labels; l && *l; l++) {
                char *k, *v;
                if (node_label_parse(*l, &k, &v) >= 0) {
                        json_object_set_new(o, k, json_string(v));
                        free(k);
                        free(v);
                }
        }
        return o;
}

json_t *node_local_taints(char *const *taints)
{
        json_t *a = json_array();
        for (char *const *t = taints; t && *t; t++) {
                _cleanup_free_ char *err = NULL;
                json_t *j = node_taint_parse(*t, &err);
                if (j)
                        json_array_append_new(a, j);
        }
        return a;
}

void node_reserved_from(const struct ev_threshold *t, size_t n, int64_t cpu_m, int64_t memory,
                        int64_t ephemeral, struct node_reserved *ret)
{
        *ret = (struct node_reserved){.cpu_m = cpu_m, .memory = memory, .ephemeral = ephemeral};
        for (size_t i = 0; i < n; i++) {
                if (t[i].grace_ms != 0)
                        continue; /* soft thresholds reserve nothing */
                if (t[i].signal == EV_MEMORY_AVAILABLE)
                        ret->evict_memory = t[i].value;
                else if (t[i].signal == EV_NODEFS_AVAILABLE)
                        ret->evict_nodefs = t[i].value;
        }
}

void node_allocatable_compute(const char *root_dir, const char *hugepages_dir, const struct node_reserved *r,
                              int max_pods, struct node_allocatable *ret)
{
        struct cg_hugepage hp[CG_HUGEPAGES_MAX];
        size_t n_hp = cg_hugepages(hugepages_dir, hp);
        struct statvfs fs;
        int64_t mem_total, mem_avail, disk_total = 0, huge_total = 0;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        meminfo(&mem_total, &mem_avail);
        if (root_dir && statvfs(root_dir, &fs) == 0)
                disk_total = (int64_t) fs.f_blocks * (int64_t) fs.f_frsize;
        int64_t mem =
                MAX((int64_t) 0, mem_total - r->memory - ev_value_quantity(&r->evict_memory, mem_total));
        *ret = (struct node_allocatable){
                .cpu_m = MAX((int64_t) 0, 1000LL * (cpus > 0 ? cpus : 1) - r->cpu_m),
                .ephemeral = MAX((int64_t) 0, disk_total - r->ephemeral -
                                                      ev_value_quantity(&r->evict_nodefs, disk_total)),
                .pods = max_pods,
        };
        for (size_t i = 0; i < n_hp; i++) {
                struct node_hugepages *h = &ret->hugepages[ret->n_hugepages++];
                char size[32];
                ev_quantity_string((int64_t) hp[i].page_size, size, sizeof size);
                snprintf(h->resource, sizeof h->resource, "hugepages-%s", size);
                h->bytes = cg_hugepage_pool(&hp[i]);
                huge_total = add_sat(huge_total, h->bytes);
        }
        /* The pools come off allocatable memory; the status reports memory in Ki: the same rounding here. */
        mem = mem > huge_total ? mem - huge_total : 0;
        ret->memory = mem / 1024 * 1024;
}

static json_t *condition(struct node_manager *nm, const char *type, bool status, const char *reason,
                         const char *message, const char *now)
{
        const char *st = status ? "True" : "False";
        const char *since = now;
        size_t i;
        json_t *old;
        json_array_foreach(nm->conditions, i, old)
        {
                if (streq_ptr(json_string_value(json_object_get(old, "type")), type) &&
                    streq_ptr(json_string_value(json_object_get(old, "status")), st) &&
                    json_string_value(json_object_get(old, "lastTransitionTime")))
                        since = json_string_value(json_object_get(old, "lastTransitionTime"));
        }
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", st, "reason", reason,
                         "message", message, "lastHeartbeatTime", now, "lastTransitionTime", since);
}

static json_t *node_status(struct node_manager *nm)
{
        char now[64], msg[1024] = "";
        struct utsname u;
        struct statvfs fs;
        int64_t mem_total, mem_avail, disk_total = 0, disk_avail = 0;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        format_rfc3339(now_real_ns(), now, sizeof now);
        uname(&u);
        meminfo(&mem_total, &mem_avail);
        if (statvfs(nm->root_dir, &fs) == 0) {
                disk_total = (int64_t) fs.f_blocks * (int64_t) fs.f_frsize;
                disk_avail = (int64_t) fs.f_bavail * (int64_t) fs.f_frsize;
        }
        _cleanup_free_ char *mem_cap = quantity_ki(mem_total), *disk_cap = quantity_ki(disk_total);
        struct node_allocatable na;
        node_allocatable_compute(nm->root_dir, NULL, &nm->cfg.reserved, nm->cfg.max_pods, &na);
        _cleanup_free_ char *mem_alloc = quantity_ki(na.memory);
        _cleanup_free_ char *disk_alloc = strdup_printf("%lld", (long long) na.ephemeral);
        _cleanup_free_ char *pods = strdup_printf("%d", nm->cfg.max_pods);
        _cleanup_free_ char *cpu = strdup_printf("%ld", cpus > 0 ? cpus : 1);
        int64_t cpu_alloc_m = na.cpu_m;
        _cleanup_free_ char *cpu_alloc = cpu_alloc_m % 1000 == 0
                                                 ? strdup_printf("%lld", (long long) cpu_alloc_m / 1000)
                                                 : strdup_printf("%lldm", (long long) cpu_alloc_m);
        _cleanup_free_ char *machine_id = read_line("/etc/machine-id");
        _cleanup_free_ char *system_uuid = read_line("/sys/class/dmi/id/product_uuid");
        _cleanup_free_ char *boot_id = read_line("/proc/sys/kernel/random/boot_id");
        _cleanup_free_ char *image = os_image(), *rtv = runtime_version(nm);

        bool ready = nm->cfg.ready ? nm->cfg.ready(nm->cfg.userdata, msg, sizeof msg) : true;
        /* Pressure as the eviction manager sees it; without one, as the default hard thresholds would. */
        bool pressure[EV_COND_MAX];
        if (nm->cfg.eviction) {
                eviction_manager_conditions(nm->cfg.eviction, pressure);
        } else {
                const struct node_reserved *r = &nm->cfg.reserved;
                pressure[EV_COND_MEMORY] =
                        mem_total > 0 && mem_avail < ev_value_quantity(&r->evict_memory, mem_total);
                pressure[EV_COND_DISK] =
                        disk_total > 0 && disk_avail < ev_value_quantity(&r->evict_nodefs, disk_total);
                pressure[EV_COND_PID] = false;
        }
        json_t *conds = json_array();
        bool mp = pressure[EV_COND_MEMORY], dp = pressure[EV_COND_DISK], pp = pressure[EV_COND_PID];
        json_array_append_new(conds,
                              condition(nm, "MemoryPressure", mp,
                                        mp ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
                                        mp ? "kubelet has insufficient memory available"
                                           : "kubelet has sufficient memory available",
                                        now));
        json_array_append_new(
                conds,
                condition(nm, "DiskPressure", dp, dp ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
                          dp ? "kubelet has disk pressure" : "kubelet has no disk pressure", now));
        json_array_append_new(conds, condition(nm, "PIDPressure", pp,
                                               pp ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
                                               pp ? "kubelet has insufficient PID available"
                                                  : "kubelet has sufficient PID available",
                                               now));
        json_array_append_new(conds,
                              condition(nm, "Ready", ready, ready ? "KubeletReady" : "KubeletNotReady",
                                        ready ? "kubelet is posting ready status" : msg, now));

        json_t *addrs = json_array();
        if (nm->node_ip)
                json_array_append_new(addrs,
                                      json_pack("{s:s, s:s}", "type", "InternalIP", "address", nm->node_ip));
        json_array_append_new(addrs, json_pack("{s:s, s:s}", "type", "Hostname", "address", nm->node_name));

        json_t *cap = json_pack("{s:s, s:s, s:s, s:s}", "cpu", cpu, "memory", mem_cap, "ephemeral-storage",
                                disk_cap, "pods", pods);
        json_t *alloc = json_pack("{s:s, s:s, s:s, s:s}", "cpu", cpu_alloc, "memory", mem_alloc,
                                  "ephemeral-storage", disk_alloc, "pods", pods);
        for (size_t i = 0; i < na.n_hugepages; i++) {
                char q[32];
                ev_quantity_string(na.hugepages[i].bytes, q, sizeof q);
                json_object_set_new(cap, na.hugepages[i].resource, json_string(q));
                json_object_set_new(alloc, na.hugepages[i].resource, json_string(q));
        }
        json_t *info = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "machineID",
                                 machine_id, "systemUUID", system_uuid, "bootID", boot_id, "kernelVersion",
                                 u.release, "osImage", image, "containerRuntimeVersion", rtv,
                                 "kubeletVersion", KUBELET_VERSION, "kubeProxyVersion", "",
                                 "operatingSystem", "linux", "architecture", go_arch(u.machine));
        return json_pack("{s:o, s:o, s:o, s:o, s:{s:{s:i}}, s:o, s:o}", "capacity", cap, "allocatable",
                         alloc, "conditions", conds, "addresses", addrs, "daemonEndpoints",
                         "kubeletEndpoint", "Port", nm->cfg.kubelet_port, "nodeInfo", info, "images",
                         images_json(nm));
}

/* The status without heartbeat times: what "changed" means. */
static json_t *status_key(json_t *status)
{
        json_t *k = json_deep_copy(status);
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(k, "conditions"), i, c) json_object_del(c, "lastHeartbeatTime");
        return k;
}

static void note_error(struct node_manager *nm, const char *what, const char *err)
{
        if (streq(nm->last_error, err))
                return;
        snprintf(nm->last_error, sizeof nm->last_error, "%s", err);
        log_error(what, "node=\"%s\" err=\"%s\"", nm->node_name, log_q(err));
}

static void set_uid(struct node_manager *nm, json_t *node)
{
        const char *uid = json_string_value(json_object_get(json_object_get(node, "metadata"), "uid"));
        pthread_mutex_lock(&nm->lock);
        snprintf(nm->uid, sizeof nm->uid, "%s", uid ? uid : "");
        pthread_mutex_unlock(&nm->lock);
}

/* An existing Node: make its default labels right (upstream's updateDefaultLabels). */
static int reconcile_existing(struct node_manager *nm)
{
        _cleanup_free_ char *path = strdup_printf("/api/v1/nodes/%s", nm->node_name);
        struct kube_response resp;
        int r = kube_request(nm->cfg.kube, "GET", path, NULL, NULL, nm->cfg.timeout_ms, &resp);
        if (r < 0 || resp.status != 200) {
                note_error(nm, "Unable to read the existing Node", resp.error);
                kube_response_clear(&resp);
                return -EIO;
        }
        json_t *labels = json_object_get(json_object_get(resp.body, "metadata"), "labels");
        json_t *want = default_labels(nm), *patch_labels = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
                if (!json_equal(json_object_get(labels, k), v))
                        json_object_set(patch_labels, k, v);
        }
        set_uid(nm, resp.body);
        /* Keep the conditions' transition times across restarts. */
        json_decref(nm->conditions);
        nm->conditions = json_incref(json_object_get(json_object_get(resp.body, "status"), "conditions"));
        kube_response_clear(&resp);
        json_decref(want);
        if (json_object_size(patch_labels) == 0) {
                json_decref(patch_labels);
                return 0;
        }
        json_t *patch = json_pack("{s:{s:o}}", "metadata", "labels", patch_labels);
        r = kube_request(nm->cfg.kube, "PATCH", path, patch, MERGE_PATCH, nm->cfg.timeout_ms, &resp);
        json_decref(patch);
        if (r < 0 || resp.status != 200) {
                note_error(nm, "Unable to update the Node's labels", resp.error);
                kube_response_clear(&resp);
                return -EIO;
        }
        kube_response_clear(&resp);
        return 0;
}

static int register_node(struct node_manager *nm)
{
        json_t *labels = node_local_labels(nm->node_name, nm->labels);
        json_t *taints = node_local_taints(nm->taints);
        json_t *node = json_pack("{s:s, s:s, s:{s:s, s:o}, s:{}}", "apiVersion", "v1", "kind", "Node",
                                 "metadata", "name", nm->node_name, "labels", labels, "spec");
        if (json_array_size(taints) > 0)
                json_object_set(json_object_get(node, "spec"), "taints", taints);
        json_decref(taints);

        struct kube_response resp;
        int r = kube_request(nm->cfg.kube, "POST", "/api/v1/nodes", node, NULL, nm->cfg.timeout_ms, &resp);
        json_decref(node);
        if (r >= 0 && resp.status == 201) {
                log_info("Successfully registered node", "node=\"%s\"", nm->node_name);
                set_uid(nm, resp.body);
                kube_response_clear(&resp);
                return 0;
        }
        if (r >= 0 && resp.status == 409) {
                kube_response_clear(&resp);
                r = reconcile_existing(nm);
                if (r >= 0)
                        log_info("Node was previously registered", "node=\"%s\"", nm->node_name);
                return r;
        }
        note_error(nm, "Unable to register node with API server", resp.error);
        kube_response_clear(&resp);
        return -EIO;
}

static json_t *ready_condition(json_t *conds)
{
        size_t i;
        json_t *c;
        json_array_foreach(
                conds, i, c) if (streq_ptr(json_string_value(json_object_get(c, "type")), "Ready")) return c;
        return NULL;
}

static bool ready_of(json_t *conds)
{
        return streq_ptr(json_string_value(json_object_get(ready_condition(conds), "status")), "True");
}

static const char *ready_message(json_t *conds)
{
        return json_string_value(json_object_get(ready_condition(conds), "message"));
}

static void update_status(struct node_manager *nm)
{
        json_t *status = node_status(nm);
        json_t *key = status_key(status);
        int64_t now = now_mono_ms();

        if (nm->last_status && json_equal(key, nm->last_status) &&
            now - nm->last_patch_ms < nm->cfg.report_ms) {
                json_decref(key);
                json_decref(status);
                return;
        }
        _cleanup_free_ char *path = strdup_printf("/api/v1/nodes/%s/status", nm->node_name);
        json_t *patch = json_pack("{s:O}", "status", status);
        struct kube_response resp;
        int r = kube_request(nm->cfg.kube, "PATCH", path, patch, MERGE_PATCH, nm->cfg.timeout_ms, &resp);
        json_decref(patch);
        if (r >= 0 && resp.status == 200) {
                bool was_ready = ready_of(nm->conditions), first = !nm->conditions;
                json_decref(nm->last_status);
                nm->last_status = json_incref(key);
                json_decref(nm->conditions);
                nm->conditions = json_incref(json_object_get(status, "conditions"));
                nm->last_patch_ms = now;
                nm->last_error[0] = 0;
                bool ready = ready_of(nm->conditions);
                if (ready != was_ready || first)
                        log_info("Node status posted", "node=\"%s\" ready=\"%s\" message=\"%s\"",
                                 nm->node_name, ready ? "True" : "False",
                                 log_q(ready_message(nm->conditions)));
                if (json_object_get(resp.body, "metadata"))
                        set_uid(nm, resp.body);
        } else {
                note_error(nm, "Error updating node status, will retry", resp.error);
                if (r >= 0 && resp.status == 404) /* deleted behind our back: register again */
                        nm->registered = false;
        }
        kube_response_clear(&resp);
        json_decref(key);
        json_decref(status);
}

static void micro_time(char *buf, size_t len)
{
        int64_t ns = now_real_ns();
        time_t s = (time_t) (ns / 1000000000);
        struct tm tm;
        gmtime_r(&s, &tm);
        size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, len - n, ".%06lldZ", (long long) (ns % 1000000000) / 1000);
}

static void renew_lease(struct node_manager *nm)
{
        char now[64], uid[64];
        struct kube_response resp;
        _cleanup_free_ char *coll =
                strdup_printf("/apis/coordination.k8s.io/v1/namespaces/" LEASE_NS "/leases");
        _cleanup_free_ char *path = strdup_printf("%s/%s", coll, nm->node_name);
        int r;

        micro_time(now, sizeof now);
        if (!nm->lease) {
                r = kube_request(nm->cfg.kube, "GET", path, NULL, NULL, nm->cfg.timeout_ms, &resp);
                if (r >= 0 && resp.status == 200)
                        nm->lease = json_incref(resp.body);
                else if (!(r >= 0 && resp.status == 404)) {
                        note_error(nm, "Failed to get the node lease, will retry", resp.error);
                        kube_response_clear(&resp);
                        return;
                }
                kube_response_clear(&resp);
        }
        if (!nm->lease) {
                json_t *lease = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s}}", "apiVersion",
                                          "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                                          nm->node_name, "namespace", LEASE_NS, "spec", "holderIdentity",
                                          nm->node_name, "leaseDurationSeconds", nm->cfg.lease_duration_s,
                                          "renewTime", now);
                if (node_manager_uid(nm, uid, sizeof uid))
                        json_object_set_new(json_object_get(lease, "metadata"), "ownerReferences",
                                            json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1", "kind",
                                                      "Node", "name", nm->node_name, "uid", uid));
                r = kube_request(nm->cfg.kube, "POST", coll, lease, NULL, nm->cfg.timeout_ms, &resp);
                json_decref(lease);
                if (r >= 0 && resp.status == 201)
                        nm->lease = json_incref(resp.body);
                else
                        note_error(nm, "Failed to create the node lease, will retry", resp.error);
                kube_response_clear(&resp);
                return;
        }
        json_t *spec = json_object_get(nm->lease, "spec");
        if (!json_is_object(spec)) {
                spec = json_object();
                json_object_set_new(nm->lease, "spec", spec);
        }
        json_object_set_new(spec, "renewTime", json_string(now));
        json_object_set_new(spec, "holderIdentity", json_string(nm->node_name));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(nm->cfg.lease_duration_s));
        r = kube_request(nm->cfg.kube, "PUT", path, nm->lease, NULL, nm->cfg.timeout_ms, &resp);
        if (r >= 0 && resp.status == 200) {
                json_decref(nm->lease);
                nm->lease = json_incref(resp.body);
        } else {
                /* A conflict or a deleted lease: read it again next time. */
                note_error(nm, "Failed to update the node lease, will retry", resp.error);
                json_decref(nm->lease);
                nm->lease = NULL;
        }
        kube_response_clear(&resp);
}

/* Status every status_ms; the Lease on its own clock (a quarter of its duration, as upstream), renewed
 * first so a slow runtime (the status asks it for images and its version) cannot let it lapse. */
static void *node_thread(void *arg)
{
        struct node_manager *nm = arg;
        int64_t status_due = 0, lease_due = 0;
        int64_t lease_ms = MAX((int64_t) 1000, (int64_t) nm->cfg.lease_duration_s * 250);

        pthread_mutex_lock(&nm->lock);
        while (!nm->stop) {
                int64_t now = now_mono_ms(), due = MIN(status_due, lease_due);
                if (!nm->poked && now < due) {
                        cond_wait_ms(&nm->cond, &nm->lock, due - now);
                        continue;
                }
                bool poked = nm->poked;
                nm->poked = false;
                bool gone = nm->gone;
                nm->gone = false;
                pthread_mutex_unlock(&nm->lock);
                if (gone && nm->registered) {
                        /* Deleted behind our back (upstream would only notice at a restart); a stale list
                         * from before the registration only costs a 409 here. */
                        log_v(1, "The Node object is gone; registering again", "node=\"%s\"", nm->node_name);
                        nm->registered = false;
                        json_decref(nm->last_status);
                        nm->last_status = NULL;
                        json_decref(nm->lease);
                        nm->lease = NULL;
                }
                if (!nm->registered) {
                        nm->registered = register_node(nm) >= 0;
                        nm->register_attempts = nm->registered ? 0 : nm->register_attempts + 1;
                        status_due = lease_due = 0;
                }
                if (!nm->registered) {
                        /* Registration retries back off (upstream: 100 ms doubling to 7 s). */
                        unsigned shift = MIN(nm->register_attempts, 7u);
                        status_due = lease_due = now + MIN((int64_t) 7000, 100LL << shift);
                } else {
                        if (now >= lease_due) {
                                renew_lease(nm);
                                lease_due = now + lease_ms;
                        }
                        if (now >= status_due || poked) {
                                update_status(nm);
                                status_due = now + nm->cfg.status_ms;
                        }
                }
                pthread_mutex_lock(&nm->lock);
        }
        pthread_mutex_unlock(&nm->lock);
        return NULL;
}

int node_manager_start(const struct node_config *cfg, struct node_manager **ret)
{
        struct node_manager *nm = OOM_CHECK(calloc(1, sizeof *nm));
        nm->cfg = *cfg;
        nm->node_name = xstrdup(cfg->node_name);
        nm->node_ip = xstrdup(cfg->node_ip);
        nm->root_dir = xstrdup(cfg->root_dir);
        for (char **l = cfg->labels; l && *l; l++)
                strv_push(&nm->labels, xstrdup(*l));
        for (char **t = cfg->taints; t && *t; t++)
                strv_push(&nm->taints, xstrdup(*t));
        nm->cfg.labels = nm->cfg.taints = NULL;
        pthread_mutex_init(&nm->lock, NULL);
        cond_init_monotonic(&nm->cond);
        int r = pthread_create(&nm->thread, NULL, node_thread, nm);
        if (r != 0) {
                nm->thread = 0;
                node_manager_stop(nm);
                return -r;
        }
        (void) pthread_setname_np(nm->thread, "node-status");
        _cleanup_free_ char *query = kube_field_selector("metadata.name", nm->node_name);
        struct kube_watch_ops wo = {.on_list = watch_list, .on_event = watch_event, .userdata = nm};
        r = kube_watch_start(nm->cfg.kube, "/api/v1/nodes", query, &wo, &nm->watch);
        if (r < 0) {
                node_manager_stop(nm);
                return r;
        }
        *ret = nm;
        return 0;
}

void node_manager_halt(struct node_manager *nm)
{
        if (!nm)
                return;
        kube_watch_stop(nm->watch);
        nm->watch = NULL;
        if (!nm->thread)
                return;
        pthread_mutex_lock(&nm->lock);
        nm->stop = true;
        pthread_cond_broadcast(&nm->cond);
        pthread_mutex_unlock(&nm->lock);
        pthread_join(nm->thread, NULL);
        nm->thread = 0;
}

void node_manager_stop(struct node_manager *nm)
{
        if (!nm)
                return;
        node_manager_halt(nm);
        pthread_mutex_destroy(&nm->lock);
        pthread_cond_destroy(&nm->cond);
        json_decref(nm->lease);
        json_decref(nm->last_status);
        json_decref(nm->conditions);
        json_decref(nm->seen_labels);
        json_decref(nm->seen_taints);
        strv_free(nm->labels);
        strv_free(nm->taints);
        free(nm->node_name);
        free(nm->node_ip);
        free(nm->root_dir);
        free(nm);
}

bool node_manager_uid(struct node_manager *nm, char *buf, size_t len)
{
        pthread_mutex_lock(&nm->lock);
        bool ok = nm->uid[0] != 0;
        if (ok)
                snprintf(buf, len, "%s", nm->uid);
        pthread_mutex_unlock(&nm->lock);
        return ok;
}

bool node_manager_pod_cidr(struct node_manager *nm, char *buf, size_t len)
{
        pthread_mutex_lock(&nm->lock);
        bool ok = nm->pod_cidr[0] != 0;
        if (ok)
                snprintf(buf, len, "%s", nm->pod_cidr);
        pthread_mutex_unlock(&nm->lock);
        return ok;
}

void node_manager_poke(struct node_manager *nm)
{
        pthread_mutex_lock(&nm->lock);
        nm->poked = true;
        pthread_cond_broadcast(&nm->cond);
        pthread_mutex_unlock(&nm->lock);
}

bool node_manager_labels_taints(struct node_manager *nm, json_t **ret_labels, json_t **ret_taints)
{
        pthread_mutex_lock(&nm->lock);
        bool ok = nm->seen_labels != NULL;
        if (ok) {
                *ret_labels = json_deep_copy(nm->seen_labels);
                *ret_taints = nm->seen_taints ? json_deep_copy(nm->seen_taints) : NULL;
        }
        pthread_mutex_unlock(&nm->lock);
        return ok;
}
