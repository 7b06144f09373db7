/* Pod fields the API knows and cubelet cannot honour: found at decode time, so that such a pod is refused
 * with the field named instead of running with the field silently ignored. docs/pod-fields.md lists every
 * field and what cubelet does with it. */
#include "pod_fields.h"

#include <stdarg.h>
#include <stdio.h>

#include "util.h"

static void refuse(char ***out, const char *fmt, ...) _printf_(2, 3);
static void refuse(char ***out, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                xmalloc_oom();
        va_end(ap);
        strv_push(out, s);
}

/* Present and not null, not an empty list or object. */
static bool set(json_t *v)
{
        if (!v || json_is_null(v))
                return false;
        if (json_is_array(v))
                return json_array_size(v) > 0;
        if (json_is_object(v))
                return json_object_size(v) > 0;
        return true;
}

/* The volume sources cubelet runs; every other source the API knows is refused. */
static const char *const supported_volumes[] = {"emptyDir",    "hostPath",  "configMap", "secret",
                                                "downwardAPI", "projected", NULL};

static bool supported_volume(const char *kind)
{
        for (const char *const *k = supported_volumes; *k; k++)
                if (streq(kind, *k))
                        return true;
        return false;
}

static void check_volumes(json_t *spec, char ***out)
{
        json_t *v, *src, *x;
        size_t i, j;
        const char *k;
        json_array_foreach(json_object_get(spec, "volumes"), i, v)
        {
                json_object_foreach(v, k, src)
                {
                        if (streq(k, "name") || json_is_null(src))
                                continue;
                        if (!supported_volume(k) && pod_volume_source_known(k))
                                refuse(out,
                                       "spec.volumes[%zu].%s: Unsupported value: volume type \"%s\" is not "
                                       "supported by this node",
                                       i, k, k);
                }
                json_t *ed = json_object_get(v, "emptyDir");
                const char *medium = json_string_value(json_object_get(ed, "medium"));
                if (medium && medium[0] && !streq(medium, "Memory") && !str_has_prefix(medium, "HugePages"))
                        refuse(out,
                               "spec.volumes[%zu].emptyDir.medium: Unsupported value: \"%s\": supported "
                               "values: \"\", \"Memory\", \"HugePages\", \"HugePages-<size>\"",
                               i, medium);
                json_array_foreach(json_object_get(json_object_get(v, "projected"), "sources"), j, src)
                {
                        json_object_foreach(src, k, x)
                        {
                                if (!streq(k, "configMap") && !streq(k, "secret") &&
                                    !streq(k, "downwardAPI") && !streq(k, "serviceAccountToken") &&
                                    !json_is_null(x))
                                        refuse(out,
                                               "spec.volumes[%zu].projected.sources[%zu].%s: Unsupported "
                                               "value: projected source \"%s\" is not supported by this "
                                               "node",
                                               i, j, k, k);
                        }
                }
        }
}

static void check_security(json_t *sc, const char *path, char ***out)
{
        const char *pm = json_string_value(json_object_get(sc, "procMount"));
        if (pm && streq(pm, "Unmasked"))
                refuse(out,
                       "%s.procMount: Unsupported value: \"Unmasked\": the container runtime cannot leave "
                       "/proc unmasked",
                       path);
        const char *sgp = json_string_value(json_object_get(sc, "supplementalGroupsPolicy"));
        if (sgp && streq(sgp, "Strict"))
                refuse(out,
                       "%s.supplementalGroupsPolicy: Unsupported value: \"Strict\": the container runtime "
                       "cannot enforce it",
                       path);
}

static void check_container(json_t *c, const char *path, bool init, char ***out)
{
        char p[256];
        json_t *m;
        size_t i;
        if (init && streq_ptr(json_string_value(json_object_get(c, "restartPolicy")), "Always"))
                refuse(out,
                       "%s.restartPolicy: Unsupported value: \"Always\": restartable init containers "
                       "(sidecars) are not supported by this node",
                       path);
        if (set(json_object_get(c, "volumeDevices")))
                refuse(out, "%s.volumeDevices: Forbidden: block volumes are not supported by this node",
                       path);
        if (set(json_object_get(json_object_get(c, "resources"), "claims")))
                refuse(out,
                       "%s.resources.claims: Forbidden: dynamic resource allocation is not supported by "
                       "this node",
                       path);
        if (set(json_object_get(json_object_get(c, "lifecycle"), "stopSignal")))
                refuse(out,
                       "%s.lifecycle.stopSignal: Forbidden: the container runtime cannot set a stop "
                       "signal",
                       path);
        json_array_foreach(json_object_get(c, "volumeMounts"), i, m)
        {
                const char *rro = json_string_value(json_object_get(m, "recursiveReadOnly"));
                if (rro && streq(rro, "Enabled"))
                        refuse(out,
                               "%s.volumeMounts[%zu].recursiveReadOnly: Unsupported value: \"Enabled\": the "
                               "container runtime does not support recursive read-only mounts",
                               path, i);
        }
        snprintf(p, sizeof p, "%s.securityContext", path);
        check_security(json_object_get(c, "securityContext"), p, out);
}

void pod_unsupported_fields(json_t *obj, char ***out)
{
        json_t *spec = json_object_get(obj, "spec"), *c;
        size_t i;
        char p[128];

        if (set(json_object_get(spec, "ephemeralContainers")))
                refuse(out, "spec.ephemeralContainers: Forbidden: ephemeral containers are not supported by "
                            "this node");
        if (json_is_false(json_object_get(spec, "hostUsers")))
                refuse(out,
                       "spec.hostUsers: Unsupported value: false: user namespaces are not supported by the "
                       "container runtime");
        if (set(json_object_get(spec, "resourceClaims")))
                refuse(out,
                       "spec.resourceClaims: Forbidden: dynamic resource allocation is not supported by "
                       "this node");
        if (set(json_object_get(spec, "resources")))
                refuse(out, "spec.resources: Forbidden: pod-level resources are not supported by this node");
        check_security(json_object_get(spec, "securityContext"), "spec.securityContext", out);
        json_array_foreach(json_object_get(spec, "initContainers"), i, c)
        {
                snprintf(p, sizeof p, "spec.initContainers[%zu]", i);
                check_container(c, p, true, out);
        }
        json_array_foreach(json_object_get(spec, "containers"), i, c)
        {
                snprintf(p, sizeof p, "spec.containers[%zu]", i);
                check_container(c, p, false, out);
        }
        check_volumes(spec, out);
}
