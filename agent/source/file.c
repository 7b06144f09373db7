/* The static pod source: a manifest directory, watched with inotify and rescanned periodically.
 * Files are re-read only when their stat changes; a file that turns bad keeps its last good pods. */
#include "file.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "log.h"
#include "manifest.h"
#include "podconfig.h"
#include "util.h"

#define DEBOUNCE_MS     50  /* read once the directory was quiet this long ... */
#define DEBOUNCE_MAX_MS 200 /* ... or this long after a burst's first change, whichever comes first */

struct file_entry {
        char *name;
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
        struct pod **pods; /* the last good decode */
        size_t n_pods;
        bool broken;
        bool seen;
};

struct file_source {
        uv_loop_t *loop;
        char *dir;
        char *state_dir;
        char *node_name;
        struct podconfig *pc;
        uv_timer_t rescan_timer, debounce_timer;
        uv_fs_event_t watch;
        bool watching;
        ino_t watched_ino;
        bool missing_logged;
        uint64_t burst_ms; /* uv_now of the first change since the last read; 0: none */
        struct file_entry **files;
        size_t n_files;
        int closing;
};

static void entry_free(struct file_entry *e)
{
        for (size_t i = 0; i < e->n_pods; i++)
                pod_unref(e->pods[i]);
        free(e->pods);
        free(e->name);
        free(e);
}

static bool ignored_name(const char *n)
{
        /* Dotfiles (editors' swap and temp files among them) and backups, as upstream plus editors' own. */
        return n[0] == '.' || str_has_suffix(n, "~") || str_has_suffix(n, ".swp") ||
               str_has_suffix(n, ".swx") || str_has_suffix(n, ".tmp");
}

static int cmp_entry(const void *a, const void *b)
{
        return strcmp((*(struct file_entry *const *) a)->name, (*(struct file_entry *const *) b)->name);
}

static struct file_entry *find_entry(struct file_source *fs, const char *name)
{
        for (size_t i = 0; i < fs->n_files; i++)
                if (streq(fs->files[i]->name, name))
                        return fs->files[i];
        return NULL;
}

static bool same_stat(const struct file_entry *e, const struct stat *st)
{
        return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
               e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
               e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Where the last good copy of a manifest lives: named by a hash of its path. */
static char *good_copy_path(struct file_source *fs, const char *path)
{
        return strdup_printf("%s/%016llx", fs->state_dir,
                             (unsigned long long) hash_fnv1a64(path, strlen(path), HASH_FNV_SEED));
}

static void take_pods(struct file_entry *e, struct manifest_result *mr)
{
        for (size_t i = 0; i < e->n_pods; i++)
                pod_unref(e->pods[i]);
        free(e->pods);
        e->pods = TAKE_PTR(mr->pods);
        e->n_pods = mr->n_pods;
        mr->n_pods = 0;
}

static void load_entry(struct file_source *fs, struct file_entry *e, const char *path, bool is_new)
{
        struct manifest_result mr = {0};
        _cleanup_free_ char *buf = NULL, *copy = good_copy_path(fs, path);
        size_t len = 0;
        int r = read_file_limit(path, MANIFEST_MAX_BYTES, &buf, &len);

        if (r == -EFBIG)
                mr.error = strdup_printf("file is larger than the %u MiB limit", MANIFEST_MAX_BYTES >> 20);
        else if (r < 0)
                mr.error = strdup_printf("cannot read file: %s", strerror(-r));
        else
                manifest_decode(path, buf, len, fs->node_name, &mr);
        if (mr.warnings)
                log_warn("Static pod manifest has problems that do not stop it",
                         "file=\"%s\" warnings=\"%s\"", path, log_q(mr.warnings));
        if (!mr.error) {
                take_pods(e, &mr);
                if (e->broken)
                        log_info("Static pod manifest is valid again", "file=\"%s\"", path);
                e->broken = false;
                r = write_file_atomic(copy, buf, len, 0600);
                if (r < 0)
                        log_warn("Cannot keep a copy of the manifest, ignoring",
                                 "file=\"%s\" copy=\"%s\" err=\"%s\"", path, copy, strerror(-r));
                manifest_result_clear(&mr);
                return;
        }

        if (!is_new && e->n_pods > 0 && !e->broken) {
                log_error("Could not process static pod manifest; its pods keep running as they were",
                          "file=\"%s\" err=\"%s\"", path, log_q(mr.error));
        } else if (is_new) {
                /* After a restart: the last good version, if there was one, still names the running pods. */
                struct manifest_result old = {0};
                _cleanup_free_ char *obuf = NULL;
                if (read_file_limit(copy, MANIFEST_MAX_BYTES, &obuf, &len) >= 0)
                        manifest_decode(path, obuf, len, fs->node_name, &old);
                if (obuf && !old.error && old.n_pods > 0) {
                        take_pods(e, &old);
                        log_error(
                                "Could not process static pod manifest; its pods keep running as they were",
                                "file=\"%s\" err=\"%s\"", path, log_q(mr.error));
                } else
                        log_error("Could not process static pod manifest", "file=\"%s\" err=\"%s\"", path,
                                  log_q(mr.error));
                manifest_result_clear(&old);
        } else
                log_error("Could not process static pod manifest", "file=\"%s\" err=\"%s\"", path,
                          log_q(mr.error));
        e->broken = true;
        manifest_result_clear(&mr);
}

static void watch_cb(uv_fs_event_t *h, const char *filename, int events, int status);

static void ensure_watch(struct file_source *fs, const struct stat *dst)
{
        if (fs->watching && fs->watched_ino == dst->st_ino)
                return;
        if (fs->watching) {
                uv_fs_event_stop(&fs->watch);
                fs->watching = false;
        }
        int r = uv_fs_event_start(&fs->watch, watch_cb, fs->dir, 0);
        if (r < 0) {
                log_warn("Cannot watch the static pod directory, relying on the periodic rescan",
                         "path=\"%s\" err=\"%s\"", fs->dir, uv_strerror(r));
                return;
        }
        fs->watching = true;
        fs->watched_ino = dst->st_ino;
}

void file_source_rescan(struct file_source *fs)
{
        struct stat dst;
        DIR *d;
        struct dirent *de;

        fs->burst_ms = 0; /* what changed until now is read now */
        if (stat(fs->dir, &dst) < 0 || !S_ISDIR(dst.st_mode) || !(d = opendir(fs->dir))) {
                if (!fs->missing_logged)
                        log_warn("Static pod path is not a readable directory, waiting for it",
                                 "path=\"%s\" err=\"%m\"", fs->dir);
                fs->missing_logged = true;
                /* Without the directory there are no static pods: the sources say so. */
                for (size_t i = 0; i < fs->n_files; i++)
                        entry_free(fs->files[i]);
                fs->n_files = 0;
                podconfig_set(fs->pc, POD_SOURCE_FILE, NULL, 0);
                return;
        }
        fs->missing_logged = false;
        ensure_watch(fs, &dst);

        for (size_t i = 0; i < fs->n_files; i++)
                fs->files[i]->seen = false;
        while ((de = readdir(d))) {
                struct stat st;
                if (ignored_name(de->d_name))
                        continue;
                _cleanup_free_ char *path = strdup_printf("%s/%s", fs->dir, de->d_name);
                if (stat(path, &st) < 0 || S_ISDIR(st.st_mode))
                        continue; /* gone meanwhile, or a directory: upstream skips both */
                struct file_entry *e = find_entry(fs, de->d_name);
                bool is_new = !e;
                if (!e) {
                        e = OOM_CHECK(calloc(1, sizeof *e));
                        e->name = xstrdup(de->d_name);
                        fs->files = OOM_CHECK(realloc(fs->files, (fs->n_files + 1) * sizeof *fs->files));
                        fs->files[fs->n_files++] = e;
                } else if (same_stat(e, &st)) {
                        e->seen = true;
                        continue;
                }
                e->seen = true;
                e->dev = st.st_dev;
                e->ino = st.st_ino;
                e->size = st.st_size;
                e->mtime = st.st_mtim;
                e->ctime = st.st_ctim;
                load_entry(fs, e, path, is_new);
        }
        closedir(d);

        size_t kept = 0;
        for (size_t i = 0; i < fs->n_files; i++) {
                if (fs->files[i]->seen)
                        fs->files[kept++] = fs->files[i];
                else {
                        _cleanup_free_ char *path = strdup_printf("%s/%s", fs->dir, fs->files[i]->name);
                        _cleanup_free_ char *copy = good_copy_path(fs, path);
                        log_v(2, "Static pod manifest removed", "file=\"%s\"", path);
                        unlink(copy);
                        entry_free(fs->files[i]);
                }
        }
        fs->n_files = kept;
        if (kept > 1)
                qsort(fs->files, kept, sizeof *fs->files, cmp_entry);

        size_t total = 0;
        for (size_t i = 0; i < fs->n_files; i++)
                total += fs->files[i]->n_pods;
        struct pod **all = OOM_CHECK(calloc(total + 1, sizeof *all));
        size_t n = 0;
        for (size_t i = 0; i < fs->n_files; i++)
                for (size_t j = 0; j < fs->files[i]->n_pods; j++)
                        all[n++] = fs->files[i]->pods[j];
        podconfig_set(fs->pc, POD_SOURCE_FILE, all, n);
        free(all);
}

static void debounce_cb(uv_timer_t *t)
{
        file_source_rescan(t->data);
}

uint64_t file_source_read_delay(uint64_t now_ms, uint64_t burst_ms)
{
        uint64_t last = burst_ms + DEBOUNCE_MAX_MS;
        return now_ms >= last ? 0 : MIN((uint64_t) DEBOUNCE_MS, last - now_ms);
}

static void watch_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
        struct file_source *fs = h->data;
        /* Editors write in bursts (temp file, rename, chmod): read once when the burst is over. A tool that
         * writes a hundred manifests one after another is read as it goes, every DEBOUNCE_MAX_MS, as
         * upstream acts on each file at once: its first pods start while it still writes the last. A file
         * written in place (not renamed) may then be read half-written, as upstream may: a broken one keeps
         * its pods, and the next change reads it whole. */
        uint64_t now = uv_now(fs->loop);
        if (!fs->burst_ms)
                fs->burst_ms = now ? now : 1;
        uv_timer_start(&fs->debounce_timer, debounce_cb, file_source_read_delay(now, fs->burst_ms), 0);
}

static void rescan_cb(uv_timer_t *t)
{
        file_source_rescan(t->data);
}

int file_source_start(uv_loop_t *loop, const char *dir, const char *state_dir, const char *node_name,
                      int64_t rescan_ms, struct podconfig *pc, struct file_source **ret)
{
        struct file_source *fs = OOM_CHECK(calloc(1, sizeof *fs));
        int r = mkdir_p(state_dir, 0700);
        if (r < 0) {
                free(fs);
                return r;
        }
        fs->loop = loop;
        fs->dir = xstrdup(dir);
        fs->state_dir = xstrdup(state_dir);
        fs->node_name = xstrdup(node_name);
        fs->pc = pc;
        uv_timer_init(loop, &fs->rescan_timer);
        uv_timer_init(loop, &fs->debounce_timer);
        uv_fs_event_init(loop, &fs->watch);
        fs->rescan_timer.data = fs->debounce_timer.data = fs->watch.data = fs;
        file_source_rescan(fs);
        uv_timer_start(&fs->rescan_timer, rescan_cb, rescan_ms, rescan_ms);
        *ret = fs;
        return 0;
}

static void close_cb(uv_handle_t *h)
{
        struct file_source *fs = h->data;
        if (--fs->closing > 0)
                return;
        for (size_t i = 0; i < fs->n_files; i++)
                entry_free(fs->files[i]);
        free(fs->files);
        free(fs->dir);
        free(fs->state_dir);
        free(fs->node_name);
        free(fs);
}

void file_source_stop(struct file_source *fs)
{
        if (!fs)
                return;
        fs->closing = 3;
        uv_close((uv_handle_t *) &fs->rescan_timer, close_cb);
        uv_close((uv_handle_t *) &fs->debounce_timer, close_cb);
        uv_close((uv_handle_t *) &fs->watch, close_cb);
}
