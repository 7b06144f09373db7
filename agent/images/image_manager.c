/* Upstream's image manager: EnsureImageExists with its pull policies, credentials, back-off and events
 * (image_manager.h). */
#include "image_manager.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "backoff.h"
#include "credentials.h"
#include "cri.h"
#include "events.h"
#include "keyring.h"
#include "log.h"
#include "objcache.h"
#include "puller.h"
#include "reference.h"
#include "util.h"

#define pod_event(m, pod, fp, type, reason, ...)                                                            \
        do {                                                                                                \
                if ((m)->events)                                                                            \
                        events_record((m)->events, (pod)->namespace, (pod)->name, (pod)->uid, (fp), (type), \
                                      (reason), __VA_ARGS__);                                               \
        } while (0)

static void fail_set(struct image_failure *f, const char *reason, const char *fmt, ...) _printf_(3, 4);
static void fail_set(struct image_failure *f, const char *reason, const char *fmt, ...)
{
        va_list ap;
        snprintf(f->reason, sizeof f->reason, "%s", reason);
        va_start(ap, fmt);
        vsnprintf(f->message, sizeof f->message, fmt, ap);
        va_end(ap);
}

/* upstream's getPullSecretsForPod + MakeDockerKeyring: the pod's imagePullSecrets (API pods only; static
 * pods use the node's credentials). A secret that cannot be read is passed over with a warning, as
 * upstream; one that is broken fails the pull (-EINVAL, err says why). NULL and 0 when there are none. */
static int pod_pull_keyring(const struct image_manager_ctx *m, const struct pod *pod, struct keyring **ret,
                            char *err, size_t err_len)
{
        json_t *secrets = json_object_get(json_object_get(pod->json, "spec"), "imagePullSecrets"), *ref;
        size_t i;
        *ret = NULL;
        if (!m->objects || pod_is_static(pod) || json_array_size(secrets) == 0)
                return 0;
        struct keyring *k = keyring_new();
        json_array_foreach(secrets, i, ref)
        {
                const char *name = json_string_value(json_object_get(ref, "name"));
                json_t *secret = NULL;
                char why[512];
                if (!name || !*name)
                        continue;
                /* Bounded as the environment's reads are: an unreachable API server must not hold a pod
                 * worker for minutes per secret. */
                int r = obj_cache_get(m->objects, "secrets", pod->namespace, name,
                                      MIN(m->timeout_ms, (int64_t) 10000), &secret, why, sizeof why);
                if (r < 0) {
                        log_warn("Unable to retrieve pull secret; the image pull may not succeed",
                                 "pod=\"%s/%s\" secret=\"%s\" err=\"%s\"", pod->namespace, pod->name, name,
                                 log_q(r == -ENOENT ? "not found" : why));
                        continue;
                }
                r = keyring_add_pull_secret(k, secret, why, sizeof why);
                json_decref(secret);
                if (r < 0) {
                        snprintf(err, err_len, "pull secret \"%s\": %s", name, why);
                        keyring_free(k);
                        return r;
                }
        }
        *ret = k;
        return 0;
}

/* The credentials a pull of repo tries, in order (pod's pull secrets, then the node's). */
static int pull_credentials(const struct image_manager_ctx *m, const struct pod *pod, const char *repo,
                            struct docker_auth **ret, size_t *ret_n, char *err, size_t err_len)
{
        _cleanup_(keyring_freep) struct keyring *pod_keys = NULL;
        *ret = NULL;
        *ret_n = 0;
        int r = pod_pull_keyring(m, pod, &pod_keys, err, err_len);
        if (r < 0)
                return r;
        if (m->credentials)
                image_credentials_lookup(m->credentials, pod_keys, repo, ret, ret_n);
        return 0;
}

/* An ended pull, as upstream reports it: Pulled with its duration, or ErrImagePull (the status says what
 * the runtime said; the event and the log name the image too) and the next back-off step. */
static int pull_outcome(const struct image_manager_ctx *m, const struct pod *pod, const struct container *c,
                        const char *fp, const char *key, enum pull_state st, struct pull_outcome *o,
                        char **ret_ref, struct image_failure *fail)
{
        if (st == PULL_FAILED) {
                if (m->backoff)
                        backoff_next(m->backoff, key, now_mono_ms(), now_mono_ms());
                fail_set(fail, "ErrImagePull", "%s", o->err);
                snprintf(fail->error, sizeof fail->error, "Failed to pull image \"%.200s\": %.700s",
                         c->image, o->err);
                pod_event(m, pod, fp, EVENT_WARNING, "Failed", "%s", fail->error);
                return -EIO;
        }
        char took[32];
        format_duration_ms(o->duration_ms, took,
                           sizeof took); /* Go's time.Duration, as upstream prints it */
        pod_event(m, pod, fp, EVENT_NORMAL, "Pulled", "Successfully pulled image \"%s\" in %s", c->image,
                  took);
        *ret_ref = o->image_ref;
        return 0;
}

int image_ensure(const struct image_manager_ctx *m, const struct pod *pod, const struct container *c,
                 const char *fp, char **ret_ref, struct image_failure *fail)
{
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__ImageStatusRequest sreq = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
        _cleanup_cri_ Runtime__V1__ImageStatusResponse *sresp = NULL;
        struct cri_error err = {0};
        struct image_ref ref;
        char why[2048];
        int r;

        /* upstream's applyDefaultImageTag: a reference that does not parse is InvalidImageName, and the
         * runtime is never asked; one without tag or digest gets ":latest". */
        if (image_ref_parse(c->image, &ref, why, sizeof why) < 0) {
                fail_set(fail, "InvalidImageName",
                         "Failed to apply default image tag \"%s\": couldn't parse image reference "
                         "\"%s\": %s",
                         c->image, c->image, why);
                pod_event(m, pod, fp, EVENT_WARNING, "InspectFailed", "%s", fail->message);
                return -EINVAL;
        }
        _cleanup_free_ char *image =
                ref.tag_defaulted ? strdup_printf("%s:latest", c->image) : xstrdup(c->image);
        _cleanup_free_ char *repo = xstrdup(ref.repo);
        image_ref_done(&ref);
        /* upstream's image back-off key: per pod and image. It starts with the pod's UID, as the crash-loop
         * keys, so both go when the pod does. */
        _cleanup_free_ char *key = strdup_printf("%s_%s", pod->uid, c->image);

        /* A pull this pod asked for and that has ended is its answer first (the image may be present by
         * now, and the outcome must not be left behind); one still running means wait. */
        struct pull_outcome o = {0};
        enum pull_state st = image_puller_take(m->puller, pod->uid, image, &o);
        if (st == PULL_RUNNING)
                return -EINPROGRESS;
        if (st == PULL_DONE || st == PULL_FAILED)
                return pull_outcome(m, pod, c, fp, key, st, &o, ret_ref, fail);

        spec.image = image;
        sreq.image = &spec;
        r = CRI_CALL(m->cri, ImageService, ImageStatus, image_status, &sreq, &sresp, m->timeout_ms, &err);
        if (r < 0) {
                /* upstream's GetImageRef failure: ImageInspectError with an InspectFailed event */
                fail_set(fail, "ImageInspectError", "Failed to inspect image \"%s\": %s", c->image,
                         cri_error_msg(&err, r));
                pod_event(m, pod, fp, EVENT_WARNING, "InspectFailed", "Failed to inspect image \"%s\": %s",
                          c->image, cri_error_msg(&err, r));
                return r;
        }
        bool present = sresp->image && sresp->image->id && sresp->image->id[0];
        if (present && !streq(c->image_pull_policy, "Always")) {
                pod_event(m, pod, fp, EVENT_NORMAL, "Pulled",
                          "Container image \"%s\" already present on machine", c->image);
                *ret_ref = xstrdup(sresp->image->id);
                return 0;
        }
        if (!present && streq(c->image_pull_policy, "Never")) {
                fail_set(fail, "ErrImageNeverPull",
                         "Container image \"%s\" is not present with pull policy of Never", c->image);
                pod_event(m, pod, fp, EVENT_WARNING, "ErrImageNeverPull", "%s", fail->message);
                return -ENOENT;
        }

        /* upstream's image back-off: 10 s doubling to 300 s from each failed pull. */
        int64_t left;
        if (m->backoff && backoff_in_backoff_since_update(m->backoff, key, now_mono_ms(), &left)) {
                fail_set(fail, "ImagePullBackOff", "Back-off pulling image \"%s\"", c->image);
                pod_event(m, pod, fp, EVENT_NORMAL, "BackOff", "Back-off pulling image \"%s\"", c->image);
                fail->retry_ms = left + 50;
                return -EAGAIN;
        }
        /* The pull runs on the puller's threads: this pod waits in ContainerCreating and is woken when it
         * ends; other pods never wait for it. */
        struct docker_auth *auths = NULL;
        size_t nauth = 0;
        st = PULL_FAILED;
        bool first = false;
        if (pull_credentials(m, pod, repo, &auths, &nauth, o.err, sizeof o.err) >= 0)
                st = image_puller_request(m->puller, pod->uid, image, auths, nauth, &first, &o);
        docker_auths_free(auths, nauth);
        if (st == PULL_RUNNING) {
                if (first)
                        pod_event(m, pod, fp, EVENT_NORMAL, "Pulling", "Pulling image \"%s\"", c->image);
                return -EINPROGRESS;
        }
        return pull_outcome(m, pod, c, fp, key, st, &o, ret_ref, fail);
}
