/* Image pulls on threads of their own, deduplicated, outcomes handed to each waiting pod once. */
#include "puller.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri.h"
#include "keyring.h"
#include "log.h"
#include "macro.h"
#include "util.h"

#define MAX_THREADS    16
#define OUTCOME_TTL_MS (5 * 60 * 1000) /* an outcome nobody came back for (the pod went away) */

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED };

struct job {
        struct job *next;
        char *image;
        uint64_t creds_hash; /* which credentials: the same image with others is another pull */
        struct docker_auth *auths;
        size_t n_auths;
        enum job_state state;
        char **waiters; /* pods that asked and have not had the outcome */
        char *image_ref;
        char err[2048];
        int64_t start_ms, end_ms;
};

struct image_puller {
        struct image_puller_config cfg;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
        struct job *jobs;
        pthread_t threads[MAX_THREADS];
        int n_threads;
};

static uint64_t creds_hash(const struct docker_auth *a, size_t n)
{
        uint64_t h = HASH_FNV_SEED;
        for (size_t i = 0; i < n; i++) {
                const char *u = a[i].username ? a[i].username : "", *p = a[i].password ? a[i].password : "";
                h = hash_fnv1a64(u, strlen(u) + 1, h);
                h = hash_fnv1a64(p, strlen(p) + 1, h);
        }
        return h;
}

static void job_free(struct job *j)
{
        free(j->image);
        for (size_t i = 0; i < j->n_auths; i++) {
                free(j->auths[i].username);
                if (j->auths[i].password)
                        explicit_bzero(j->auths[i].password, strlen(j->auths[i].password));
                free(j->auths[i].password);
        }
        free(j->auths);
        strv_free(j->waiters);
        free(j->image_ref);
        free(j);
}

static void unlink_job(struct image_puller *p, struct job *j)
{
        for (struct job **pp = &p->jobs; *pp; pp = &(*pp)->next)
                if (*pp == j) {
                        *pp = j->next;
                        return;
                }
}

/* PullImage with each credential in turn; err as Go's aggregate when several failed. */
/* PullImage with each credential in turn; err as Go's aggregate error when several failed (each distinct
 * message once, in brackets only when there are several). */
static int do_pull(struct image_puller *p, struct job *j, char **ret_ref, char *err, size_t err_len)
{
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
        _cleanup_strv_free_ char **msgs = NULL;
        int r = -EIO;

        spec.image = j->image;
        req.image = &spec;
        for (size_t i = 0; i == 0 || i < j->n_auths; i++) {
                Runtime__V1__AuthConfig auth = RUNTIME__V1__AUTH_CONFIG__INIT;
                Runtime__V1__PullImageResponse *resp = NULL;
                struct cri_error cerr = {0};
                if (j->n_auths > 0) {
                        auth.username = j->auths[i].username;
                        auth.password = j->auths[i].password;
                        req.auth = &auth;
                }
                r = CRI_CALL(p->cfg.cri, ImageService, PullImage, pull_image, &req, &resp, p->cfg.timeout_ms,
                             &cerr);
                if (r >= 0) {
                        *ret_ref = xstrdup(resp->image_ref);
                        cri_free(resp);
                        return 0;
                }
                /* As Go's gRPC error text: "rpc error: code = ... desc = ...", without our "PullImage: ". */
                const char *msg = cerr.msg[0] ? cerr.msg : strerror(-r), *rpc = strstr(msg, "rpc error: ");
                if (rpc)
                        msg = rpc;
                bool seen = false;
                for (size_t k = 0; msgs && msgs[k] && !seen; k++)
                        seen = streq(msgs[k], msg);
                if (!seen)
                        strv_push(&msgs, xstrdup(msg));
        }
        _cleanup_free_ char *list = strv_join(msgs, ", ");
        snprintf(err, err_len, strv_length(msgs) > 1 ? "[%s]" : "%s", list);
        return r;
}

static void *pull_thread(void *userdata)
{
        struct image_puller *p = userdata;
        pthread_mutex_lock(&p->lock);
        for (;;) {
                struct job *j = NULL;
                for (struct job *q = p->jobs; q && !j; q = q->next)
                        if (q->state == JOB_QUEUED)
                                j = q;
                /* Oldest first: new jobs go to the end of the list. */
                if (!j) {
                        if (p->stop)
                                break;
                        pthread_cond_wait(&p->cond, &p->lock);
                        continue;
                }
                if (p->stop)
                        break;
                j->state = JOB_RUNNING;
                j->start_ms = now_mono_ms();
                pthread_mutex_unlock(&p->lock);

                char *ref = NULL;
                char err[sizeof j->err];
                int r = do_pull(p, j, &ref, err, sizeof err);

                pthread_mutex_lock(&p->lock);
                j->end_ms = now_mono_ms();
                j->state = r >= 0 ? JOB_DONE : JOB_FAILED;
                j->image_ref = ref;
                snprintf(j->err, sizeof j->err, "%s", err);
                char **wake = NULL;
                for (size_t i = 0; j->waiters && j->waiters[i]; i++)
                        strv_push(&wake, xstrdup(j->waiters[i]));
                pthread_mutex_unlock(&p->lock);
                for (size_t i = 0; wake && wake[i]; i++)
                        p->cfg.on_done(wake[i], p->cfg.userdata);
                strv_free(wake);
                pthread_mutex_lock(&p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

struct image_puller *image_puller_new(const struct image_puller_config *cfg)
{
        struct image_puller *p = OOM_CHECK(calloc(1, sizeof *p));
        p->cfg = *cfg;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        int n = cfg->max_parallel < 1 ? 1 : MIN(cfg->max_parallel, MAX_THREADS);
        for (int i = 0; i < n; i++) {
                if (pthread_create(&p->threads[i], NULL, pull_thread, p) != 0)
                        break;
                p->n_threads++;
        }
        if (p->n_threads == 0)
                log_error("Cannot start an image pull thread; pulls will wait", "threads=%d", n);
        return p;
}

void image_puller_halt(struct image_puller *p)
{
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->cond);
        int n = p->n_threads;
        p->n_threads = 0;
        pthread_mutex_unlock(&p->lock);
        for (int i = 0; i < n; i++)
                pthread_join(p->threads[i], NULL);
}

struct image_puller *image_puller_free(struct image_puller *p)
{
        if (!p)
                return NULL;
        image_puller_halt(p);
        while (p->jobs) {
                struct job *j = p->jobs;
                p->jobs = j->next;
                job_free(j);
        }
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}

static bool strv_remove(char **v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (streq(v[i], s)) {
                        free(v[i]);
                        memmove(&v[i], &v[i + 1], (strv_length(v + i + 1) + 1) * sizeof *v);
                        return true;
                }
        return false;
}

static bool strv_has(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (streq(v[i], s))
                        return true;
        return false;
}

/* Outcomes whose pods never came back for them. */
static void expire_locked(struct image_puller *p, int64_t now)
{
        for (struct job **pp = &p->jobs; *pp;) {
                struct job *j = *pp;
                if ((j->state == JOB_DONE || j->state == JOB_FAILED) && now - j->end_ms > OUTCOME_TTL_MS) {
                        *pp = j->next;
                        job_free(j);
                } else
                        pp = &j->next;
        }
}

/* An ended pull: its outcome goes to each pod that waited for it, once (the job goes with the last). */
static enum pull_state take_locked(struct image_puller *p, struct job *j, const char *pod_uid,
                                   struct pull_outcome *ret)
{
        enum pull_state st;
        strv_remove(j->waiters, pod_uid);
        if (j->state == JOB_DONE) {
                st = PULL_DONE;
                ret->image_ref = xstrdup(j->image_ref);
                ret->duration_ms = j->end_ms - j->start_ms;
        } else {
                st = PULL_FAILED;
                snprintf(ret->err, sizeof ret->err, "%s", j->err);
        }
        if (!j->waiters || !j->waiters[0]) {
                unlink_job(p, j);
                job_free(j);
        }
        return st;
}

enum pull_state image_puller_take(struct image_puller *p, const char *pod_uid, const char *image,
                                  struct pull_outcome *ret)
{
        enum pull_state st = PULL_NONE;
        *ret = (struct pull_outcome){0};
        pthread_mutex_lock(&p->lock);
        for (struct job *j = p->jobs; j; j = j->next) {
                if (!streq(j->image, image) || !strv_has(j->waiters, pod_uid))
                        continue;
                if (j->state == JOB_QUEUED || j->state == JOB_RUNNING)
                        st = PULL_RUNNING;
                else
                        st = take_locked(p, j, pod_uid, ret);
                break;
        }
        pthread_mutex_unlock(&p->lock);
        return st;
}

enum pull_state image_puller_request(struct image_puller *p, const char *pod_uid, const char *image,
                                     const struct docker_auth *auths, size_t n_auths, bool *ret_first,
                                     struct pull_outcome *ret)
{
        uint64_t h = creds_hash(auths, n_auths);
        enum pull_state st = PULL_RUNNING;

        *ret = (struct pull_outcome){0};
        *ret_first = false;
        pthread_mutex_lock(&p->lock);
        expire_locked(p, now_mono_ms());
        /* This pod's ended pull first (its outcome), else one queued or running to join, else a new one. */
        struct job *mine = NULL, *active = NULL;
        for (struct job *q = p->jobs; q; q = q->next) {
                if (!streq(q->image, image) || q->creds_hash != h)
                        continue;
                if (q->state == JOB_QUEUED || q->state == JOB_RUNNING)
                        active = q;
                else if (strv_has(q->waiters, pod_uid))
                        mine = q;
        }
        if (mine)
                st = take_locked(p, mine, pod_uid, ret);
        else if (active) {
                if (!strv_has(active->waiters, pod_uid)) {
                        strv_push(&active->waiters, xstrdup(pod_uid));
                        *ret_first = true;
                }
        } else {
                struct job *j = OOM_CHECK(calloc(1, sizeof *j));
                j->image = xstrdup(image);
                j->creds_hash = h;
                if (n_auths > 0) {
                        j->auths = OOM_CHECK(calloc(n_auths, sizeof *j->auths));
                        for (size_t i = 0; i < n_auths; i++)
                                j->auths[i] = (struct docker_auth){xstrdup(auths[i].username),
                                                                   xstrdup(auths[i].password)};
                        j->n_auths = n_auths;
                }
                struct job **tail = &p->jobs;
                while (*tail)
                        tail = &(*tail)->next;
                *tail = j;
                strv_push(&j->waiters, xstrdup(pod_uid));
                *ret_first = true;
                pthread_cond_signal(&p->cond);
        }
        pthread_mutex_unlock(&p->lock);
        return st;
}

void image_puller_forget(struct image_puller *p, const char *pod_uid)
{
        pthread_mutex_lock(&p->lock);
        for (struct job **pp = &p->jobs; *pp;) {
                struct job *j = *pp;
                strv_remove(j->waiters, pod_uid);
                if ((j->state == JOB_DONE || j->state == JOB_FAILED) && (!j->waiters || !j->waiters[0])) {
                        *pp = j->next;
                        job_free(j);
                } else
                        pp = &j->next;
        }
        pthread_mutex_unlock(&p->lock);
}

unsigned image_puller_active(struct image_puller *p)
{
        unsigned n = 0;
        pthread_mutex_lock(&p->lock);
        for (struct job *j = p->jobs; j; j = j->next)
                n += j->state == JOB_QUEUED || j->state == JOB_RUNNING;
        pthread_mutex_unlock(&p->lock);
        return n;
}
