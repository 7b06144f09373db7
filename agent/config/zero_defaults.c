/* Upstream's defaulting of a KubeletConfiguration file (pkg/kubelet/apis/config/v1beta1, SetDefaults): many
 * fields that are zero (a "0s" duration, a 0 count, an empty string) take their default. kubeadm writes such
 * zeros ("syncFrequency: 0s", "cacheTTL: 0s") for every duration it does not set, so a file as kubeadm writes
 * it only loads when they are read as upstream reads them. */
#include "config.h"

#include <string.h>

#include "util.h"

enum zero_kind { Z_DURATION, Z_INT, Z_STRING };

/* The fields SetDefaults_KubeletConfiguration fills when zero; "a.b" is a path into nested objects. */
static const struct {
        const char *path;
        enum zero_kind kind;
} defaulted[] = {
        {"syncFrequency", Z_DURATION},
        {"fileCheckFrequency", Z_DURATION},
        {"httpCheckFrequency", Z_DURATION},
        {"address", Z_STRING},
        {"port", Z_INT},
        {"authentication.webhook.cacheTTL", Z_DURATION},
        {"authorization.mode", Z_STRING},
        {"authorization.webhook.cacheAuthorizedTTL", Z_DURATION},
        {"authorization.webhook.cacheUnauthorizedTTL", Z_DURATION},
        {"registryBurst", Z_INT},
        {"eventBurst", Z_INT},
        {"healthzBindAddress", Z_STRING},
        {"streamingConnectionIdleTimeout", Z_DURATION},
        {"nodeStatusReportFrequency", Z_DURATION},
        {"nodeStatusUpdateFrequency", Z_DURATION},
        {"nodeLeaseDurationSeconds", Z_INT},
        {"imageMinimumGCAge", Z_DURATION},
        {"volumeStatsAggPeriod", Z_DURATION},
        {"cgroupDriver", Z_STRING},
        {"cpuManagerPolicy", Z_STRING},
        {"cpuManagerReconcilePeriod", Z_DURATION},
        {"topologyManagerPolicy", Z_STRING},
        {"topologyManagerScope", Z_STRING},
        {"runtimeRequestTimeout", Z_DURATION},
        {"hairpinMode", Z_STRING},
        {"maxPods", Z_INT},
        {"resolvConf", Z_STRING},
        {"maxOpenFiles", Z_INT},
        {"contentType", Z_STRING},
        {"kubeAPIBurst", Z_INT},
        {"evictionPressureTransitionPeriod", Z_DURATION},
        {"containerLogMaxSize", Z_STRING},
        {"configMapAndSecretChangeDetectionStrategy", Z_STRING},
        {"volumePluginDir", Z_STRING},
};

static bool is_zero(json_t *v, enum zero_kind kind)
{
        int64_t ms;
        switch (kind) {
        case Z_DURATION:
                return json_is_string(v) && parse_duration_ms(json_string_value(v), &ms) == 0 && ms == 0;
        case Z_INT:
                return json_is_integer(v) && json_integer_value(v) == 0;
        case Z_STRING:
                return json_is_string(v) && !json_string_value(v)[0];
        }
        return false;
}

/* Removes the field at path when it holds its zero; then an object it leaves empty on the way up, so that
 * "authorization: {webhook: {cacheTTL: 0s}}" leaves nothing to apply. */
static void drop_zero(json_t *obj, const char *path, enum zero_kind kind)
{
        const char *dot = strchr(path, '.');
        if (!dot) {
                if (is_zero(json_object_get(obj, path), kind))
                        json_object_del(obj, path);
                return;
        }
        _cleanup_free_ char *head = OOM_CHECK(strndup(path, (size_t) (dot - path)));
        json_t *sub = json_object_get(obj, head);
        if (!json_is_object(sub))
                return;
        drop_zero(sub, dot + 1, kind);
        if (json_object_size(sub) == 0)
                json_object_del(obj, head);
}

void config_drop_zero_defaults(json_t *root)
{
        /* nodeStatusReportFrequency, unset or zero, follows a nodeStatusUpdateFrequency that is set */
        json_t *update = json_object_get(root, "nodeStatusUpdateFrequency"),
               *report = json_object_get(root, "nodeStatusReportFrequency");
        if (update && !is_zero(update, Z_DURATION) && (!report || is_zero(report, Z_DURATION)))
                json_object_set(root, "nodeStatusReportFrequency", update);
        for (size_t i = 0; i < ELEMENTSOF(defaulted); i++)
                drop_zero(root, defaulted[i].path, defaulted[i].kind);
}
