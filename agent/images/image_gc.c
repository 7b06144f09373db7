/* Image garbage collection, as upstream's image manager (pkg/kubelet/images/image_gc_manager.go): which images
 * are in use and when they were last, and freeing the image filesystem down to the low threshold. */
#include "image_gc.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "cri.h"
#include "events.h"
#include "log.h"
#include "util.h"

/* ---- pure decisions ---- */

int64_t image_gc_bytes_to_free(uint64_t capacity, uint64_t available, int high, int low, int *ret_usage)
{
        if (available > capacity)
                available = capacity;
        int usage = capacity ? 100 - (int) ((__int128) available * 100 / capacity) : 0;
        if (ret_usage)
                *ret_usage = usage;
        if (!capacity || usage < high)
                return 0;
        int64_t want = (int64_t) ((__int128) capacity * (100 - low) / 100) - (int64_t) available;
        return want > 0 ? want : 0;
}

static int by_last_used(const void *a, const void *b, void *ud)
{
        const struct image_record *recs = ud;
        const struct image_record *x = &recs[*(const size_t *) a], *y = &recs[*(const size_t *) b];
        if (x->last_used_ns != y->last_used_ns)
                return x->last_used_ns < y->last_used_ns ? -1 : 1;
        if (x->first_detected_ns != y->first_detected_ns)
                return x->first_detected_ns < y->first_detected_ns ? -1 : 1;
        return strcmp(x->id, y->id); /* a stable order for equal times */
}

static bool in_list(char *const *list, const char *s)
{
        for (; list && *list; list++)
                if (streq(*list, s))
                        return true;
        return false;
}

size_t image_gc_candidates(const struct image_record *recs, size_t n, char *const *in_use,
                           int64_t free_time_ns, int64_t min_age_ns, size_t *order)
{
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                const struct image_record *r = &recs[i];
                if (in_list(in_use, r->id) || r->last_used_ns >= free_time_ns)
                        continue;
                /* Perhaps just pulled for a container about to start. */
                if (free_time_ns - r->first_detected_ns < min_age_ns)
                        continue;
                order[k++] = i;
        }
        qsort_r(order, k, sizeof *order, by_last_used, (void *) recs);
        return k;
}

void image_records_free(struct image_record *recs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(recs[i].id);
        free(recs);
}

char *image_gc_records_format(const struct image_record *recs, size_t n)
{
        json_t *images = json_object();
        for (size_t i = 0; i < n; i++)
                json_object_set_new(images, recs[i].id,
                                    json_pack("{s:I, s:I}", "firstDetected",
                                              (json_int_t) recs[i].first_detected_ns, "lastUsed",
                                              (json_int_t) recs[i].last_used_ns));
        json_t *doc = json_pack("{s:i, s:o}", "version", 1, "images", images);
        char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(doc);
        return OOM_CHECK(s);
}

int image_gc_records_parse(const char *text, size_t len, struct image_record **ret, size_t *ret_n)
{
        json_t *doc = json_loadb(text, len, 0, NULL);
        json_t *images = json_object_get(doc, "images");
        if (!json_is_object(images)) {
                json_decref(doc);
                return -EINVAL;
        }
        struct image_record *recs = OOM_CHECK(calloc(json_object_size(images) + 1, sizeof *recs));
        size_t n = 0;
        const char *id;
        json_t *v;
        json_object_foreach(images, id, v)
        {
                json_t *f = json_object_get(v, "firstDetected"), *l = json_object_get(v, "lastUsed");
                if (!id[0] || !json_is_integer(f) || !json_is_integer(l))
                        continue;
                recs[n++] = (struct image_record){.id = xstrdup(id),
                                                  .first_detected_ns = json_integer_value(f),
                                                  .last_used_ns = json_integer_value(l)};
        }
        json_decref(doc);
        *ret = recs;
        *ret_n = n;
        return 0;
}

/* ---- the manager ---- */

struct image_gc {
        struct image_gc_config cfg;
        char *state_path, *sandbox_image;
        pthread_mutex_t lock; /* the records; never held across a runtime call */
        struct image_record *recs;
        size_t n;
        bool initialized; /* one detection has run: later new images are detected "now" */
        pthread_t thread;
        pthread_mutex_t stop_lock;
        pthread_cond_t cond;
        bool stop;
};

static void save_locked(struct image_gc *gc)
{
        _cleanup_free_ char *text = image_gc_records_format(gc->recs, gc->n);
        int r = write_file_atomic(gc->state_path, text, strlen(text), 0600);
        if (r < 0)
                log_warn("Cannot save the image records, ignoring", "path=\"%s\" err=\"%s\"", gc->state_path,
                         strerror(-r));
}

static void load(struct image_gc *gc)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_file_limit(gc->state_path, 16 << 20, &text, &len);
        if (r == -ENOENT)
                return;
        if (r < 0 || image_gc_records_parse(text, len, &gc->recs, &gc->n) < 0)
                log_warn("Cannot read the image records, starting afresh", "path=\"%s\" err=\"%s\"",
                         gc->state_path, r < 0 ? strerror(-r) : "not a records document");
        else
                log_v(2, "Image records loaded", "path=\"%s\" images=%zu", gc->state_path, gc->n);
}

/* containerd's sandboxImage, from its verbose status; NULL when it does not say. */
static char *runtime_sandbox_image(struct image_gc *gc)
{
        Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__StatusResponse *resp = NULL;
        req.verbose = true;
        if (CRI_CALL(gc->cfg.cri, RuntimeService, Status, status, &req, &resp, gc->cfg.timeout_ms, NULL) < 0)
                return NULL;
        char *name = NULL;
        for (size_t i = 0; i < resp->n_info && !name; i++) {
                if (!streq(resp->info[i]->key, "config"))
                        continue;
                json_t *cfg = json_loads(resp->info[i]->value, 0, NULL);
                const char *s = json_string_value(json_object_get(cfg, "sandboxImage"));
                name = s && s[0] ? xstrdup(s) : NULL;
                json_decref(cfg);
        }
        return name;
}

/* The image ID a name or ID stands for; NULL when the runtime does not have it. */
static char *image_ref(struct image_gc *gc, const char *image)
{
        Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        _cleanup_cri_ Runtime__V1__ImageStatusResponse *resp = NULL;
        spec.image = (char *) image;
        req.image = &spec;
        if (CRI_CALL(gc->cfg.cri, ImageService, ImageStatus, image_status, &req, &resp, gc->cfg.timeout_ms,
                     NULL) < 0 ||
            !resp->image || !resp->image->id[0])
                return NULL;
        return xstrdup(resp->image->id);
}

static struct image_record *find_locked(struct image_gc *gc, const char *id)
{
        for (size_t i = 0; i < gc->n; i++)
                if (streq(gc->recs[i].id, id))
                        return &gc->recs[i];
        return NULL;
}

/* Upstream's detectImages: records new images (first detected at detect_ns), marks those in use as used now,
 * forgets the ones gone. Returns the IDs in use (*ret_in_use, NULL-terminated). */
static int detect(struct image_gc *gc, int64_t detect_ns, bool initial, char ***ret_in_use, char **ret_err)
{
        _cleanup_strv_free_ char **in_use = NULL;
        struct cri_error err = {0};
        /* The sandbox image: the configured one (upstream's --pod-infra-container-image) and the one the
         * runtime really uses, should they differ (a missing one would make every new sandbox fail). */
        _cleanup_free_ char *runtime_sandbox = runtime_sandbox_image(gc);
        const char *sandboxes[] = {gc->sandbox_image, runtime_sandbox};
        for (size_t i = 0; i < ELEMENTSOF(sandboxes); i++) {
                char *ref = sandboxes[i] ? image_ref(gc, sandboxes[i]) : NULL;
                if (ref && !in_list(in_use, ref))
                        strv_push(&in_use, ref);
                else
                        free(ref);
        }

        Runtime__V1__ListImagesRequest lreq = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ListImagesResponse *images = NULL;
        int r = CRI_CALL(gc->cfg.cri, ImageService, ListImages, list_images, &lreq, &images,
                         gc->cfg.timeout_ms, &err);
        if (r < 0) {
                *ret_err = xstrdup(err.msg);
                return r;
        }
        Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ListContainersResponse *ctrs = NULL;
        r = CRI_CALL(gc->cfg.cri, RuntimeService, ListContainers, list_containers, &creq, &ctrs,
                     gc->cfg.timeout_ms, &err);
        if (r < 0) {
                *ret_err = xstrdup(err.msg);
                return r;
        }
        /* Every container, running or not, holds its image (upstream: GetPods(true), each ImageID). */
        for (size_t i = 0; i < ctrs->n_containers; i++) {
                const Runtime__V1__Container *c = ctrs->containers[i];
                if (c->image_ref && c->image_ref[0] && !in_list(in_use, c->image_ref))
                        strv_push(&in_use, xstrdup(c->image_ref));
                if (c->image_id && c->image_id[0] && !in_list(in_use, c->image_id))
                        strv_push(&in_use, xstrdup(c->image_id));
        }
        /* Images the runtime pins (its sandbox image, in newer runtimes) count as in use too. */
        for (size_t i = 0; i < images->n_images; i++)
                if (images->images[i]->pinned && !in_list(in_use, images->images[i]->id))
                        strv_push(&in_use, xstrdup(images->images[i]->id));

        int64_t now = now_real_ns();
        pthread_mutex_lock(&gc->lock);
        /* Only the GC thread's own first look may date images as "always there": an eviction's reclaim
         * that looks earlier must not make a just-pulled image old enough to remove. */
        bool first = initial && !gc->initialized;
        for (size_t i = 0; i < images->n_images; i++) {
                const Runtime__V1__Image *im = images->images[i];
                struct image_record *rec = find_locked(gc, im->id);
                if (!rec) {
                        gc->recs = OOM_CHECK(realloc(gc->recs, (gc->n + 1) * sizeof *gc->recs));
                        rec = &gc->recs[gc->n++];
                        /* Found at the first look: there before cubelet, when unknown (upstream's zero time). */
                        *rec = (struct image_record){.id = xstrdup(im->id),
                                                     .first_detected_ns = first ? 0 : detect_ns};
                        log_v(5, "Image is new", "imageID=\"%s\"", im->id);
                }
                if (in_list(in_use, im->id))
                        rec->last_used_ns = now;
                rec->size = im->size;
        }
        size_t k = 0;
        for (size_t i = 0; i < gc->n; i++) {
                bool present = false;
                for (size_t j = 0; j < images->n_images && !present; j++)
                        present = streq(images->images[j]->id, gc->recs[i].id);
                if (present)
                        gc->recs[k++] = gc->recs[i];
                else
                        free(gc->recs[i].id);
        }
        gc->n = k;
        gc->initialized = true;
        save_locked(gc);
        pthread_mutex_unlock(&gc->lock);
        if (ret_in_use)
                *ret_in_use = TAKE_PTR(in_use);
        return 0;
}

static void forget(struct image_gc *gc, const char *id)
{
        pthread_mutex_lock(&gc->lock);
        for (size_t i = 0; i < gc->n; i++)
                if (streq(gc->recs[i].id, id)) {
                        free(gc->recs[i].id);
                        gc->recs[i] = gc->recs[--gc->n];
                        break;
                }
        save_locked(gc);
        pthread_mutex_unlock(&gc->lock);
}

/* Upstream's freeSpace. */
static int free_space(struct image_gc *gc, int64_t bytes, int64_t free_ns, int64_t *ret_freed,
                      char **ret_err)
{
        _cleanup_strv_free_ char **in_use = NULL;
        *ret_freed = 0;
        int r = detect(gc, free_ns, false, &in_use, ret_err);
        if (r < 0)
                return r;
        /* A copy: the runtime calls run without the lock. */
        pthread_mutex_lock(&gc->lock);
        size_t n = gc->n;
        struct image_record *recs = OOM_CHECK(calloc(n + 1, sizeof *recs));
        for (size_t i = 0; i < n; i++) {
                recs[i] = gc->recs[i];
                recs[i].id = xstrdup(gc->recs[i].id);
        }
        pthread_mutex_unlock(&gc->lock);
        size_t *order = OOM_CHECK(calloc(n + 1, sizeof *order));
        size_t k = image_gc_candidates(recs, n, in_use, free_ns, gc->cfg.min_age_ms * 1000000, order);

        _cleanup_free_ char *errors = NULL;
        size_t n_errors = 0;
        int64_t freed = 0;
        for (size_t i = 0; i < k && freed < bytes; i++) {
                const struct image_record *im = &recs[order[i]];
                log_info("Removing image to free bytes", "imageID=\"%s\" size=%llu", im->id,
                         (unsigned long long) im->size);
                Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
                Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
                _cleanup_cri_ Runtime__V1__RemoveImageResponse *resp = NULL;
                struct cri_error err = {0};
                spec.image = im->id;
                req.image = &spec;
                if (CRI_CALL(gc->cfg.cri, ImageService, RemoveImage, remove_image, &req, &resp,
                             gc->cfg.timeout_ms, &err) < 0) {
                        /* Go's aggregate: each error once, brackets for several. */
                        char *e = strdup_printf("%s%s%s", errors ? errors : "", errors ? ", " : "", err.msg);
                        free(errors);
                        errors = e;
                        n_errors++;
                        continue;
                }
                forget(gc, im->id);
                freed += (int64_t) im->size;
        }
        image_records_free(recs, n);
        free(order);
        *ret_freed = freed;
        if (n_errors) {
                *ret_err =
                        strdup_printf("wanted to free %lld bytes, but freed %lld bytes space with errors in "
                                      "image deletion: %s%s%s",
                                      (long long) bytes, (long long) freed, n_errors > 1 ? "[" : "", errors,
                                      n_errors > 1 ? "]" : "");
                return -EIO;
        }
        return 0;
}

int image_gc_free_space(struct image_gc *gc, int64_t bytes, int64_t *ret_freed, char **ret_err)
{
        return free_space(gc, bytes, now_real_ns(), ret_freed, ret_err);
}

int image_gc_delete_unused(struct image_gc *gc, char **ret_err)
{
        int64_t freed;
        log_info("Attempting to delete unused images", "policy=\"unused and older than %llds\"",
                 (long long) gc->cfg.min_age_ms / 1000);
        return free_space(gc, INT64_MAX, now_real_ns(), &freed, ret_err);
}

/* The image filesystem: its mount point from the runtime, capacity and what is available from statvfs (as
 * upstream's ImageFsStats: cadvisor on the runtime's mount point). */
static int image_fs(struct image_gc *gc, uint64_t *capacity, uint64_t *available, uint64_t *used,
                    char **ret_err)
{
        Runtime__V1__ImageFsInfoRequest req = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ImageFsInfoResponse *resp = NULL;
        struct cri_error err = {0};
        int r = CRI_CALL(gc->cfg.cri, ImageService, ImageFsInfo, image_fs_info, &req, &resp,
                         gc->cfg.timeout_ms, &err);
        if (r < 0) {
                *ret_err = xstrdup(err.msg);
                return r;
        }
        if (resp->n_image_filesystems == 0 || !resp->image_filesystems[0]->fs_id ||
            !resp->image_filesystems[0]->fs_id->mountpoint[0]) {
                *ret_err = xstrdup("the runtime reports no image filesystem");
                return -ENOENT;
        }
        const Runtime__V1__FilesystemUsage *f = resp->image_filesystems[0];
        struct statvfs st;
        if (statvfs(f->fs_id->mountpoint, &st) < 0) {
                r = -errno;
                *ret_err = strdup_printf("statfs %s: %s", f->fs_id->mountpoint, strerror(-r));
                return r;
        }
        *capacity = (uint64_t) st.f_blocks * st.f_frsize;
        *available = (uint64_t) st.f_bavail * st.f_frsize;
        *used = f->used_bytes ? f->used_bytes->value : 0;
        return 0;
}

int image_gc_collect(struct image_gc *gc, char **ret_err)
{
        uint64_t capacity, available, used;
        int r = image_fs(gc, &capacity, &available, &used, ret_err);
        if (r < 0)
                return r;
        if (available > capacity) {
                log_warn("Available is larger than capacity", "available=%llu capacity=%llu",
                         (unsigned long long) available, (unsigned long long) capacity);
                available = capacity;
        }
        if (capacity == 0) {
                *ret_err = xstrdup("invalid capacity 0 on image filesystem");
                if (gc->cfg.events)
                        events_record_node(gc->cfg.events, EVENT_WARNING, "InvalidDiskCapacity", "%s",
                                           *ret_err);
                return -EINVAL;
        }
        int usage;
        int64_t want = image_gc_bytes_to_free(capacity, available, gc->cfg.high_percent, gc->cfg.low_percent,
                                              &usage);
        log_v(4, "Image filesystem usage", "usage=%d runtimeUsedBytes=%llu capacity=%llu available=%llu",
              usage, (unsigned long long) used, (unsigned long long) capacity,
              (unsigned long long) available);
        if (usage < gc->cfg.high_percent)
                return 0;
        log_info("Disk usage on image filesystem is over the high threshold, trying to free bytes down to "
                 "the low "
                 "threshold",
                 "usage=%d highThreshold=%d amountToFree=%lld lowThreshold=%d", usage, gc->cfg.high_percent,
                 (long long) want, gc->cfg.low_percent);
        int64_t freed;
        r = free_space(gc, want, now_real_ns(), &freed, ret_err);
        if (r < 0)
                return r;
        if (freed < want) {
                *ret_err = strdup_printf(
                        "failed to garbage collect required amount of images. Wanted to free %lld "
                        "bytes, but freed %lld bytes",
                        (long long) want, (long long) freed);
                if (gc->cfg.events)
                        events_record_node(gc->cfg.events, EVENT_WARNING, "FreeDiskSpaceFailed", "%s",
                                           *ret_err);
                return -ENOSPC;
        }
        return 0;
}

static void *gc_thread(void *arg)
{
        struct image_gc *gc = arg;
        bool prev_failed = false;
        /* The first look, at once: images found now were there before cubelet (upstream's initial
         * detection). On this thread: a slow runtime does not hold up cubelet's start. */
        _cleanup_free_ char *first_err = NULL;
        if (detect(gc, now_real_ns(), true, NULL, &first_err) < 0)
                log_warn("Failed to monitor images", "err=\"%s\"", log_q(first_err));
        pthread_mutex_lock(&gc->stop_lock);
        while (!gc->stop) {
                cond_wait_ms(&gc->cond, &gc->stop_lock, gc->cfg.period_ms);
                if (gc->stop)
                        break;
                pthread_mutex_unlock(&gc->stop_lock);
                _cleanup_free_ char *err = NULL;
                if (detect(gc, now_real_ns(), false, NULL, &err) < 0)
                        log_warn("Failed to monitor images", "err=\"%s\"", log_q(err));
                free(err);
                err = NULL;
                if (gc->cfg.high_percent < 100) {
                        if (image_gc_collect(gc, &err) < 0) {
                                /* Upstream: the first failure may be stats not ready yet; an event only when
                                 * it fails again. */
                                if (prev_failed) {
                                        log_error("Image garbage collection failed multiple times in a row",
                                                  "err=\"%s\"", log_q(err));
                                        if (gc->cfg.events)
                                                events_record_node(gc->cfg.events, EVENT_WARNING,
                                                                   "ImageGCFailed", "%s", err);
                                } else
                                        log_error(
                                                "Image garbage collection failed once. Stats initialization "
                                                "may not have completed yet",
                                                "err=\"%s\"", log_q(err));
                                prev_failed = true;
                        } else {
                                if (prev_failed)
                                        log_info("Image garbage collection succeeded", "afterFailures=true");
                                else
                                        log_v(4, "Image garbage collection succeeded",
                                              "afterFailures=false");
                                prev_failed = false;
                        }
                }
                pthread_mutex_lock(&gc->stop_lock);
        }
        pthread_mutex_unlock(&gc->stop_lock);
        return NULL;
}

/* Everything but the thread. */
static void gc_free(struct image_gc *gc)
{
        pthread_mutex_destroy(&gc->lock);
        pthread_mutex_destroy(&gc->stop_lock);
        pthread_cond_destroy(&gc->cond);
        image_records_free(gc->recs, gc->n);
        free(gc->state_path);
        free(gc->sandbox_image);
        free(gc);
}

int image_gc_start(const struct image_gc_config *cfg, struct image_gc **ret)
{
        struct image_gc *gc = OOM_CHECK(calloc(1, sizeof *gc));
        gc->cfg = *cfg;
        gc->state_path = xstrdup(cfg->state_path);
        gc->sandbox_image = xstrdup(cfg->sandbox_image);
        gc->cfg.state_path = gc->state_path;
        gc->cfg.sandbox_image = gc->sandbox_image;
        pthread_mutex_init(&gc->lock, NULL);
        pthread_mutex_init(&gc->stop_lock, NULL);
        cond_init_monotonic(&gc->cond);
        load(gc);
        if (cfg->high_percent >= 100)
                log_v(2, "ImageGCHighThresholdPercent is set 100, Disable image GC", "threshold=%d",
                      cfg->high_percent);
        int e = pthread_create(&gc->thread, NULL, gc_thread, gc);
        if (e) {
                gc_free(gc);
                return -e;
        }
        (void) pthread_setname_np(gc->thread, "image-gc");
        *ret = gc;
        return 0;
}

void image_gc_stop(struct image_gc *gc)
{
        if (!gc)
                return;
        pthread_mutex_lock(&gc->stop_lock);
        gc->stop = true;
        pthread_cond_broadcast(&gc->cond);
        pthread_mutex_unlock(&gc->stop_lock);
        pthread_join(gc->thread, NULL);
        gc_free(gc);
}
