/* The API status writer: pod statuses to the API server (PATCH pods/<name>/status, only on change, the
 * latest of each pod), mirror pods for static pods, and the final DELETE of API pods that were deleted. */
#include "apisync.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "client.h"
#include "log.h"
#include "node.h"
#include "status.h"
#include "util.h"

#define SMP          "application/strategic-merge-patch+json"
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 4000 /* an outage costs a refused connection per 4 s; recovery is quick */
#define MIRROR_ANN   "kubernetes.io/config.mirror"
#define HASH_ANN     "kubernetes.io/config.hash"
#define SOURCE_ANN   "kubernetes.io/config.source"

struct entry {
        char *uid;
        struct pod *pod;
        json_t *pending; /* latest status */
        json_t *sent;    /* what the API has (for the current mirror) */
        char mirror_uid[64];
        bool removed;
        bool dirty;
        int64_t retry_ms, retry_at; /* this pod's back-off: one failing pod does not hold up others */
};

struct api_status {
        struct api_status_config cfg;
        char *node_name;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
        struct entry **e;
        size_t n;
        size_t next;        /* where the next scan starts (round robin) */
        unsigned n_failing; /* entries in back-off, for the "again" log line */
        char node_uid[64];  /* when no node manager runs (registerNode=false): read once from the API */
};

static bool is_static(const struct pod *p)
{
        const char *src = pod_annotation(p, SOURCE_ANN);
        return src && !streq(src, "api");
}

static struct entry *find(struct api_status *w, const char *uid)
{
        for (size_t i = 0; i < w->n; i++)
                if (streq(w->e[i]->uid, uid))
                        return w->e[i];
        return NULL;
}

static void entry_free(struct entry *e)
{
        free(e->uid);
        pod_unref(e->pod);
        json_decref(e->pending);
        json_decref(e->sent);
        free(e);
}

/* The status as the kubelet writes it, as a strategic merge patch. Conditions merge by type, field by
 * field: a reason or message the kubelet's condition no longer has is deleted with an explicit null (as
 * upstream's two-way patch does), or Ready would turn True and keep "ContainersNotReady". Conditions
 * someone else owns (readiness gates') are left out, so the API server keeps them as they are, neither
 * dropped nor overwritten with an older copy (upstream's mergePodStatus). */
static json_t *own_status(json_t *status)
{
        json_t *all = json_object_get(status, "conditions"), *c;
        size_t i;
        if (!json_is_array(all)) /* a status made without any (a pod refused at admission) */
                return json_incref(status);
        json_t *own = json_copy(status), *conds = json_array();
        json_array_foreach(all, i, c)
        {
                if (!pod_condition_by_kubelet(json_string_value(json_object_get(c, "type"))))
                        continue;
                json_t *k = json_copy(c);
                if (!json_object_get(k, "reason"))
                        json_object_set_new(k, "reason", json_null());
                if (!json_object_get(k, "message"))
                        json_object_set_new(k, "message", json_null());
                json_array_append_new(conds, k);
        }
        json_object_set_new(own, "conditions", conds);
        return own;
}

/* podIPs merges by ip: a sandbox made again with another address would leave the old one beside the new
 * in the API, which then refuses the status (two IPs of one family). As upstream's two-way patch, every
 * address the API server may hold (old: what was sent last, else the pod object's status) and the new
 * status lacks is deleted explicitly. Returns the body to send (a new reference). */
static json_t *with_ip_deletes(json_t *status, const json_t *old)
{
        json_t *ips = json_object_get(status, "podIPs"), *was = json_object_get(old, "podIPs"), *e;
        size_t i, j;
        if (!json_is_array(ips) || !json_is_array(was))
                return json_incref(status);
        json_t *out = json_copy(status), *list = json_copy(ips);
        json_array_foreach(was, i, e)
        {
                const char *ip = json_string_value(json_object_get(e, "ip")), *now;
                bool kept = !ip;
                json_t *n;
                json_array_foreach(ips, j, n)
                {
                        now = json_string_value(json_object_get(n, "ip"));
                        kept |= ip && streq_ptr(now, ip);
                }
                if (!kept)
                        json_array_append_new(list, json_pack("{s:s, s:s}", "ip", ip, "$patch", "delete"));
        }
        json_object_set_new(out, "podIPs", list);
        return out;
}

/* What the API server holds once status is patched over old: a status without podIPs (no sandbox at that
 * moment) leaves the API's podIP and podIPs as they were, so they are carried over; the next status's
 * deletions are computed against them. A new reference. */
static json_t *api_view(json_t *status, const json_t *old)
{
        json_t *was = json_object_get(old, "podIPs");
        if (json_object_get(status, "podIPs") || !json_is_array(was))
                return json_incref(status);
        json_t *v = json_copy(status);
        json_object_set_new(v, "podIPs", json_deep_copy(was));
        json_t *ip = json_object_get(old, "podIP");
        if (ip && !json_object_get(status, "podIP"))
                json_object_set_new(v, "podIP", json_deep_copy(ip));
        return v;
}

void api_status_listener(void *userdata, struct pod *pod, json_t *status)
{
        struct api_status *w = userdata;
        pthread_mutex_lock(&w->lock);
        struct entry *e = find(w, pod->uid);
        if (!e) {
                if (!status) {
                        pthread_mutex_unlock(&w->lock);
                        return;
                }
                e = OOM_CHECK(calloc(1, sizeof *e));
                e->uid = xstrdup(pod->uid);
                w->e = OOM_CHECK(realloc(w->e, (w->n + 1) * sizeof *w->e));
                w->e[w->n++] = e;
        }
        if (e->pod != pod) {
                pod_unref(e->pod);
                e->pod = pod_ref(pod);
        }
        if (status) {
                json_decref(e->pending);
                e->pending = own_status(status);
                e->removed = false; /* a static pod back with the same UID */
        } else
                e->removed = true;
        e->dirty = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

void api_status_set_node(struct api_status *w, struct node_manager *node)
{
        pthread_mutex_lock(&w->lock);
        w->cfg.node = node;
        pthread_mutex_unlock(&w->lock);
}

void api_status_killed(struct api_status *w, struct pod *pod)
{
        pthread_mutex_lock(&w->lock);
        struct entry *e = find(w, pod->uid);
        if (!e) {
                e = OOM_CHECK(calloc(1, sizeof *e));
                e->uid = xstrdup(pod->uid);
                e->pod = pod_ref(pod);
                w->e = OOM_CHECK(realloc(w->e, (w->n + 1) * sizeof *w->e));
                w->e[w->n++] = e;
        }
        e->removed = true;
        e->dirty = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

void api_status_mirror_changed(struct api_status *w, const char *ns, const char *name)
{
        pthread_mutex_lock(&w->lock);
        for (size_t i = 0; i < w->n; i++) {
                struct entry *e = w->e[i];
                if (e->pod && is_static(e->pod) &&
                    (!ns || (streq(e->pod->namespace, ns) && streq(e->pod->name, name))))
                        e->dirty = true;
        }
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

json_t *mirror_pod_json(const struct pod *pod, const char *node_name, const char *node_uid)
{
        char seen[64];
        json_t *m = json_deep_copy(pod->json);
        json_object_del(m, "status");
        json_t *meta = json_object_get(m, "metadata");
        json_object_del(meta, "uid");
        json_object_del(meta, "resourceVersion");
        json_object_del(meta, "selfLink");
        json_object_del(meta, "creationTimestamp");
        json_t *ann = json_object_get(meta, "annotations");
        if (!json_is_object(ann)) {
                ann = json_object();
                json_object_set_new(meta, "annotations", ann);
        }
        const char *hash = pod_annotation(pod, HASH_ANN);
        json_object_set_new(ann, MIRROR_ANN, json_string(hash ? hash : pod->uid));
        if (!json_object_get(ann, "kubernetes.io/config.seen")) {
                format_rfc3339(now_real_ns(), seen, sizeof seen);
                json_object_set_new(ann, "kubernetes.io/config.seen", json_string(seen));
        }
        /* NodeRestriction: exactly one owner, this Node, as controller, without blockOwnerDeletion. */
        json_object_set_new(meta, "ownerReferences",
                            json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion", "v1", "kind", "Node",
                                      "name", node_name, "uid", node_uid, "controller", true));
        json_object_set_new(json_object_get(m, "spec"), "nodeName", json_string(node_name));
        return m;
}

static char *pod_path(const struct pod *p)
{
        return strdup_printf("/api/v1/namespaces/%s/pods/%s", p->namespace, p->name);
}

/* DELETE with grace 0 and a UID precondition, as upstream does for terminated pods and stale mirrors. */
static int delete_pod(struct api_status *w, const struct pod *p, const char *uid, char *err, size_t errlen)
{
        _cleanup_free_ char *path = pod_path(p);
        json_t *opts = json_pack("{s:s, s:s, s:i, s:{s:s}}", "apiVersion", "v1", "kind", "DeleteOptions",
                                 "gracePeriodSeconds", 0, "preconditions", "uid", uid);
        struct kube_response resp;
        int r = kube_request(w->cfg.kube, "DELETE", path, opts, NULL, w->cfg.timeout_ms, &resp);
        json_decref(opts);
        if (r >= 0 && (resp.status == 200 || resp.status == 202 || resp.status == 404 || resp.status == 409))
                r = 0; /* gone, or already replaced by another object of that name */
        else {
                snprintf(err, errlen, "delete pod %s/%s: %.700s", p->namespace, p->name, resp.error);
                r = -EIO;
        }
        kube_response_clear(&resp);
        return r;
}

/* The Node's UID for the mirror pods' owner: from the node manager, or (registerNode=false) the API. */
static bool owner_node_uid(struct api_status *w, char *buf, size_t len)
{
        pthread_mutex_lock(&w->lock);
        struct node_manager *nm = w->cfg.node;
        pthread_mutex_unlock(&w->lock);
        if (nm)
                return node_manager_uid(nm, buf, len);
        if (!w->node_uid[0]) {
                _cleanup_free_ char *path = strdup_printf("/api/v1/nodes/%s", w->node_name);
                struct kube_response resp;
                if (kube_request(w->cfg.kube, "GET", path, NULL, NULL, w->cfg.timeout_ms, &resp) >= 0 &&
                    resp.status == 200)
                        snprintf(w->node_uid, sizeof w->node_uid, "%s",
                                 json_string_value(
                                         json_object_get(json_object_get(resp.body, "metadata"), "uid"))
                                         ?: "");
                kube_response_clear(&resp);
        }
        snprintf(buf, len, "%s", w->node_uid);
        return w->node_uid[0] != 0;
}

/* A mirror pod of this name already exists (a POST answered 409 before the watch showed it): use it
 * when it mirrors this static pod. */
static int adopt_mirror(struct api_status *w, const struct pod *p, const char *hash, char *uid,
                        size_t uid_len, char *err, size_t errlen)
{
        _cleanup_free_ char *path = pod_path(p);
        struct kube_response resp;
        int r = kube_request(w->cfg.kube, "GET", path, NULL, NULL, w->cfg.timeout_ms, &resp);
        json_t *meta = json_object_get(resp.body, "metadata");
        const char *mh =
                json_string_value(json_object_get(json_object_get(meta, "annotations"), MIRROR_ANN));
        if (r >= 0 && resp.status == 200 && mh && streq(mh, hash) &&
            !json_object_get(meta, "deletionTimestamp")) {
                snprintf(uid, uid_len, "%s", json_string_value(json_object_get(meta, "uid")) ?: "");
                r = 0;
        } else {
                snprintf(err, errlen,
                         "create mirror pod %s/%s: a pod of that name exists and is not its mirror",
                         p->namespace, p->name);
                r = -EEXIST;
        }
        kube_response_clear(&resp);
        return r;
}

/* Makes sure the static pod has a current mirror pod; *uid gets its UID. */
static int ensure_mirror(struct api_status *w, const struct pod *p, char *uid, size_t uid_len, char *err,
                         size_t errlen)
{
        char mhash[128], node_uid[64];
        bool deleting = false;
        const char *hash = pod_annotation(p, HASH_ANN) ?: p->uid;
        char name[512];

        if (api_source_mirror(w->cfg.source, p->namespace, p->name, uid, uid_len, mhash, sizeof mhash,
                              &deleting)) {
                if (!deleting && streq(mhash, hash))
                        return 0;
                log_info("Deleting a stale mirror pod", "pod=\"%s\" mirrorUID=\"%s\" deleting=\"%s\"",
                         pod_full_name(p, name, sizeof name), uid, deleting ? "true" : "false");
                if (delete_pod(w, p, uid, err, errlen) < 0)
                        return -EIO;
        }
        uid[0] = 0;
        if (!owner_node_uid(w, node_uid, sizeof node_uid)) {
                snprintf(err, errlen, "the Node is not registered yet");
                return -EAGAIN;
        }
        json_t *m = mirror_pod_json(p, w->node_name, node_uid);
        _cleanup_free_ char *coll = strdup_printf("/api/v1/namespaces/%s/pods", p->namespace);
        struct kube_response resp;
        int r = kube_request(w->cfg.kube, "POST", coll, m, NULL, w->cfg.timeout_ms, &resp);
        json_decref(m);
        if (r >= 0 && resp.status == 201) {
                snprintf(uid, uid_len, "%s",
                         json_string_value(json_object_get(json_object_get(resp.body, "metadata"), "uid"))
                                 ?: "");
                log_info("Created mirror pod", "pod=\"%s\" mirrorUID=\"%s\"",
                         pod_full_name(p, name, sizeof name), uid);
                r = 0;
        } else if (r >= 0 && resp.status == 409) {
                r = adopt_mirror(w, p, hash, uid, uid_len, err, errlen);
        } else {
                snprintf(err, errlen, "create mirror pod %s/%s: %.700s", p->namespace, p->name, resp.error);
                r = -EIO;
        }
        kube_response_clear(&resp);
        return r;
}

static int patch_status(struct api_status *w, const struct pod *p, const char *uid, json_t *status,
                        const json_t *old, char *err, size_t errlen, bool *gone, bool *refused)
{
        *refused = false;
        _cleanup_free_ char *path =
                strdup_printf("/api/v1/namespaces/%s/pods/%s/status", p->namespace, p->name);
        json_t *patch =
                json_pack("{s:{s:s}, s:o}", "metadata", "uid", uid, "status", with_ip_deletes(status, old));
        struct kube_response resp;
        int r = kube_request(w->cfg.kube, "PATCH", path, patch, SMP, w->cfg.timeout_ms, &resp);
        json_decref(patch);
        *gone = false;
        if (r >= 0 && resp.status == 200)
                r = 0;
        else if (r >= 0 && (resp.status == 404 || resp.status == 409)) {
                /* Gone, or replaced by another object of the same name (the UID differs). */
                *gone = true;
                r = 0;
        } else if (r >= 0 && resp.status == 422) {
                /* Refused for good (e.g. a state transition the API server does not allow): say so once and
                 * do not retry this status; a deletion still goes ahead. */
                char name[512];
                log_warn("The API server refused a pod status, dropping it", "pod=\"%s\" err=\"%s\"",
                         pod_full_name(p, name, sizeof name), log_q(resp.error));
                *refused = true;
                r = 0;
        } else {
                snprintf(err, errlen, "patch status of %s/%s: %.700s", p->namespace, p->name, resp.error);
                r = -EIO;
        }
        kube_response_clear(&resp);
        return r;
}

/* One entry's work, without the lock. Returns < 0 to retry later; *drop when the entry is done. */
static int process(struct api_status *w, struct entry *e, struct pod *p, json_t *pending, json_t *sent,
                   bool removed, char *err, size_t errlen, bool *drop, json_t **ret_sent)
{
        char uid[64];
        bool gone = false;
        int r;

        *drop = false;
        *ret_sent = NULL;
        if (is_static(p)) {
                if (removed) {
                        char mhash[128];
                        bool deleting;
                        /* Only our own mirror: a successor (changed manifest) may already have its own. */
                        const char *hash = pod_annotation(p, HASH_ANN) ?: p->uid;
                        if (api_source_mirror(w->cfg.source, p->namespace, p->name, uid, sizeof uid, mhash,
                                              sizeof mhash, &deleting) &&
                            streq(mhash, hash) && (r = delete_pod(w, p, uid, err, errlen)) < 0)
                                return r;
                        *drop = true;
                        return 0;
                }
                r = ensure_mirror(w, p, uid, sizeof uid, err, errlen);
                if (r < 0)
                        return r;
                if (!streq(uid, e->mirror_uid)) {
                        snprintf(e->mirror_uid, sizeof e->mirror_uid, "%s", uid);
                        sent = NULL; /* a new mirror has no status yet */
                }
        } else {
                snprintf(uid, sizeof uid, "%s", p->uid);
                if (!api_source_has(w->cfg.source, p->uid)) { /* deleted from the API: nothing to write */
                        *drop = removed;
                        return 0;
                }
        }
        /* what the API server holds: what was sent last, else (an API pod) the status it came with */
        const json_t *old = sent ? sent : is_static(p) ? NULL : json_object_get(p->json, "status");
        json_t *view = pending ? api_view(pending, old) : NULL;
        if (pending && (!sent || !json_equal(view, sent))) {
                bool refused = false;
                r = patch_status(w, p, uid, pending, old, err, errlen, &gone, &refused);
                if (r < 0) {
                        json_decref(view);
                        return r;
                }
                /* A refused status changed nothing: the deletions of the next are computed as before. */
                if (!gone && !refused)
                        *ret_sent = json_incref(view);
        }
        json_decref(view);
        if (removed && !is_static(p)) {
                if (!gone && api_source_deleting(w->cfg.source, p->uid)) {
                        r = delete_pod(w, p, p->uid, err, errlen);
                        if (r < 0)
                                return r;
                        char name[512];
                        log_info("Pod deleted from the API server after its containers stopped",
                                 "pod=\"%s\" podUID=\"%s\"", pod_full_name(p, name, sizeof name), p->uid);
                }
                *drop = true;
        }
        return 0;
}

/* The next dirty entry whose back-off has passed, round robin; else how long to wait. */
static struct entry *next_entry(struct api_status *w, int64_t now, int64_t *ret_wait)
{
        int64_t wait = 10000;
        for (size_t k = 0; k < w->n; k++) {
                size_t i = (w->next + k) % w->n;
                struct entry *e = w->e[i];
                if (!e->dirty)
                        continue;
                if (e->retry_at <= now) {
                        w->next = i + 1;
                        return e;
                }
                wait = MIN(wait, e->retry_at - now);
        }
        *ret_wait = wait;
        return NULL;
}

static void *writer_thread(void *arg)
{
        struct api_status *w = arg;
        char last_err[1024] = "";

        pthread_mutex_lock(&w->lock);
        while (!w->stop) {
                int64_t wait;
                struct entry *e = next_entry(w, now_mono_ms(), &wait);
                if (!e) {
                        cond_wait_ms(&w->cond, &w->lock, wait);
                        continue;
                }
                e->dirty = false;
                struct pod *p = pod_ref(e->pod);
                json_t *pending = json_incref(e->pending), *sent = json_incref(e->sent);
                bool removed = e->removed;
                pthread_mutex_unlock(&w->lock);

                char err[1024] = "";
                bool drop = false;
                json_t *now_sent = NULL;
                int r = process(w, e, p, pending, sent, removed, err, sizeof err, &drop, &now_sent);

                pthread_mutex_lock(&w->lock);
                if (r < 0) {
                        e->dirty = true;
                        if (!e->retry_ms)
                                w->n_failing++;
                        e->retry_ms =
                                e->retry_ms ? MIN(e->retry_ms * 2, (int64_t) RETRY_MAX_MS) : RETRY_MIN_MS;
                        e->retry_at = now_mono_ms() + e->retry_ms;
                        if (r == -EAGAIN)
                                log_v(2, "Pod status waits", "err=\"%s\"", log_q(err));
                        else if (!streq(err, last_err))
                                log_error("Cannot write pod status to the API server, will retry",
                                          "err=\"%s\"", log_q(err));
                        snprintf(last_err, sizeof last_err, "%s", err);
                } else {
                        if (e->retry_ms && --w->n_failing == 0)
                                log_info("Pod statuses reach the API server again", "node=\"%s\"",
                                         w->node_name);
                        e->retry_ms = e->retry_at = 0;
                        last_err[0] = 0;
                        if (now_sent) {
                                json_decref(e->sent);
                                e->sent = TAKE_PTR(now_sent);
                        }
                        if (drop && !e->dirty) {
                                for (size_t i = 0; i < w->n; i++)
                                        if (w->e[i] == e) {
                                                w->e[i] = w->e[--w->n];
                                                break;
                                        }
                                entry_free(e);
                        }
                }
                json_decref(now_sent);
                pod_unref(p);
                json_decref(pending);
                json_decref(sent);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int api_status_start(const struct api_status_config *cfg, struct api_status **ret)
{
        struct api_status *w = OOM_CHECK(calloc(1, sizeof *w));
        w->cfg = *cfg;
        w->node_name = xstrdup(cfg->node_name);
        pthread_mutex_init(&w->lock, NULL);
        cond_init_monotonic(&w->cond);
        int r = pthread_create(&w->thread, NULL, writer_thread, w);
        if (r != 0) {
                pthread_mutex_destroy(&w->lock);
                pthread_cond_destroy(&w->cond);
                free(w->node_name);
                free(w);
                return -r;
        }
        (void) pthread_setname_np(w->thread, "status-writer");
        *ret = w;
        return 0;
}

void api_status_stop(struct api_status *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        for (size_t i = 0; i < w->n; i++)
                entry_free(w->e[i]);
        free(w->e);
        free(w->node_name);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
}
