/* Local ephemeral storage limits, as upstream's localStorageEviction (see rank.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "rank.h"
#include "util.h"

/* A byte count as Go prints a Quantity in the format of the spec's string: binary ("10Mi") as BinarySI,
 * anything else (decimal suffixes, plain numbers) as DecimalSI, the largest exact suffix ("20M", "1500k"). */
static void format_like(const char *spec, int64_t v, char *buf, size_t len)
{
        size_t n = spec ? strlen(spec) : 0;
        if (n > 1 && spec[n - 1] == 'i') {
                ev_quantity_string(v, buf, len);
                return;
        }
        static const char *const suffix[] = {"", "k", "M", "G", "T", "P", "E"};
        size_t i = 0;
        while (v != 0 && v % 1000 == 0 && i + 1 < ELEMENTSOF(suffix)) {
                v /= 1000;
                i++;
        }
        snprintf(buf, len, "%lld%s", (long long) v, suffix[i]);
}

static const char *limit_string(json_t *container)
{
        return json_string_value(json_object_get(
                json_object_get(json_object_get(container, "resources"), "limits"), "ephemeral-storage"));
}

static int64_t used_bytes(const json_t *o, const char *key)
{
        json_t *v = json_object_get(json_object_get(o, key), "usedBytes");
        return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Upstream's emptyDirLimitEviction: an emptyDir (on disk or in memory) above its sizeLimit. */
static char *empty_dir_violation(const struct pod *pod, const json_t *ps)
{
        size_t i, j;
        json_t *v, *vs;
        json_array_foreach(json_object_get(json_object_get(pod->json, "spec"), "volumes"), i, v)
        {
                const char *name = json_string_value(json_object_get(v, "name"));
                const char *limit =
                        json_string_value(json_object_get(json_object_get(v, "emptyDir"), "sizeLimit"));
                int64_t milli;
                if (!name || !limit || parse_quantity_milli(limit, &milli) < 0 || milli <= 0)
                        continue;
                json_array_foreach(json_object_get(ps, "volume"), j, vs)
                {
                        if (!streq_ptr(json_string_value(json_object_get(vs, "name")), name))
                                continue;
                        json_t *u = json_object_get(vs, "usedBytes");
                        /* used > size, compared in thousandths */
                        if (json_is_integer(u) && json_integer_value(u) > milli / 1000) {
                                char q[64];
                                format_like(limit, milli / 1000 + (milli % 1000 != 0), q, sizeof q);
                                return strdup_printf(
                                        "Usage of EmptyDir volume \"%s\" exceeds the limit \"%s\". ", name,
                                        q);
                        }
                }
        }
        return NULL;
}

/* The containers' writable layers in the pod's Summary entry (what its ephemeral-storage counted of them). */
static int64_t rootfs_bytes(const json_t *ps)
{
        int64_t sum = 0;
        size_t i;
        json_t *cs;
        json_array_foreach(json_object_get(ps, "containers"), i, cs)
        {
                int64_t u = used_bytes(cs, "rootfs");
                sum += u > 0 ? u : 0;
        }
        return sum;
}

/* Upstream's podEphemeralStorageLimitEviction: the pod's ephemeral-storage (its containers' writable
 * layers and logs, its local volumes; with a dedicated image filesystem, where the writable layers lie,
 * only the logs and the volumes) above its limit, PodRequestsAndLimits' (the sum over the app containers,
 * or an init container's when larger; the first one's format). */
static char *pod_violation(const struct pod *pod, const json_t *ps, bool dedicated_image_fs)
{
        int64_t limit = 0;
        bool found = false;
        const char *format = NULL;
        for (size_t i = 0; i < pod->n_containers; i++)
                if (pod->containers[i].eph_limit >= 0) {
                        limit += pod->containers[i].eph_limit;
                        found = true;
                }
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(json_object_get(pod->json, "spec"), "containers"), i, c)
        {
                if (!format)
                        format = limit_string(c);
        }
        json_array_foreach(json_object_get(json_object_get(pod->json, "spec"), "initContainers"), i, c)
        {
                int64_t l = i < pod->n_init_containers ? pod->init_containers[i].eph_limit : -1;
                if (l >= 0 && (!found || l > limit)) {
                        limit = l;
                        format = limit_string(c);
                        found = true;
                }
        }
        int64_t used = used_bytes(ps, "ephemeral-storage");
        if (used > 0 && dedicated_image_fs)
                used -= rootfs_bytes(ps);
        if (!found || used < 0 || used <= limit)
                return NULL;
        char q[64];
        format_like(format, limit, q, sizeof q);
        return strdup_printf("Pod ephemeral local storage usage exceeds the total limit of containers %s. ",
                             q);
}

/* Upstream's containerEphemeralStorageLimitEviction: an app container's writable layer and logs above its
 * limit (a limit of 0 is none); with a dedicated image filesystem its logs alone. */
static char *container_violation(const struct pod *pod, const json_t *ps, bool dedicated_image_fs)
{
        size_t i, j;
        json_t *cs, *c;
        json_array_foreach(json_object_get(ps, "containers"), i, cs)
        {
                const char *name = json_string_value(json_object_get(cs, "name"));
                json_array_foreach(json_object_get(json_object_get(pod->json, "spec"), "containers"), j, c)
                {
                        if (!name || !streq_ptr(json_string_value(json_object_get(c, "name")), name) ||
                            j >= pod->n_containers || pod->containers[j].eph_limit <= 0)
                                continue;
                        int64_t logs = used_bytes(cs, "logs"),
                                root = dedicated_image_fs ? 0 : used_bytes(cs, "rootfs");
                        int64_t used = (logs > 0 ? logs : 0) + (root > 0 ? root : 0);
                        if (used <= pod->containers[j].eph_limit)
                                continue;
                        char q[64];
                        format_like(limit_string(c), pod->containers[j].eph_limit, q, sizeof q);
                        return strdup_printf(
                                "Container %s exceeded its local ephemeral storage limit \"%s\". ", name, q);
                }
        }
        return NULL;
}

bool ev_pod_has_local_limits(const struct pod *pod)
{
        for (size_t i = 0; i < pod->n_containers; i++)
                if (pod->containers[i].eph_limit >= 0)
                        return true;
        for (size_t i = 0; i < pod->n_init_containers; i++)
                if (pod->init_containers[i].eph_limit >= 0)
                        return true;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(json_object_get(pod->json, "spec"), "volumes"), i, v)
        {
                const char *limit =
                        json_string_value(json_object_get(json_object_get(v, "emptyDir"), "sizeLimit"));
                int64_t milli;
                if (limit && parse_quantity_milli(limit, &milli) >= 0 && milli > 0)
                        return true;
        }
        return false;
}

char *ev_local_storage_violation(const struct pod *pod, const json_t *summary, bool dedicated_image_fs)
{
        const json_t *ps = ev_pod_stats(summary, pod->uid);
        if (!ps)
                return NULL;
        char *msg = empty_dir_violation(pod, ps);
        if (!msg)
                msg = pod_violation(pod, ps, dedicated_image_fs);
        if (!msg)
                msg = container_violation(pod, ps, dedicated_image_fs);
        return msg;
}
