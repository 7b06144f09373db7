/* Node selection for admission: spec.nodeSelector and required node affinity (labels.Selector and
 * fields.Selector semantics as upstream), and taints against tolerations. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "util.h"

/* A label name: at most 63 characters, alphanumerics with '-', '_' and '.' inside. */
static bool label_name_valid(const char *s, size_t n)
{
        if (n == 0 || n > 63 || !isalnum((unsigned char) s[0]) || !isalnum((unsigned char) s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

static bool label_key_valid(const char *s)
{
        const char *slash = strchr(s, '/');
        if (!slash)
                return label_name_valid(s, strlen(s));
        size_t plen = (size_t) (slash - s);
        char prefix[254];
        if (plen == 0 || plen >= sizeof prefix)
                return false;
        memcpy(prefix, s, plen);
        prefix[plen] = 0;
        return is_dns1123_subdomain(prefix) && label_name_valid(slash + 1, strlen(slash + 1));
}

static bool label_value_valid(const char *s)
{
        return !*s || label_name_valid(s, strlen(s));
}

/* strconv.ParseInt(s, 10, 64). */
static bool parse_int64(const char *s, int64_t *ret)
{
        char *end;
        if (!s || !*s || isspace((unsigned char) *s))
                return false;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || *end)
                return false;
        *ret = v;
        return true;
}

static const char *label_of(const json_t *labels, const char *key)
{
        return json_string_value(json_object_get(labels, key));
}

/* One matchExpressions requirement, as labels.NewRequirement checks it and Requirement.Matches applies
 * it. -EINVAL: the requirement does not parse (upstream: the term then matches nothing). */
static int requirement_matches(const json_t *req, const json_t *labels)
{
        const char *key = json_string_value(json_object_get(req, "key"));
        const char *op = json_string_value(json_object_get(req, "operator"));
        json_t *values = json_object_get(req, "values"), *v;
        size_t n = json_array_size(values), i;

        if (!key || !op || !label_key_valid(key) ||
            (values && !json_is_array(values) && !json_is_null(values)))
                return -EINVAL;
        json_array_foreach(values, i, v) if (!json_is_string(v) ||
                                             !label_value_valid(json_string_value(v))) return -EINVAL;
        const char *have = label_of(labels, key);
        bool in = false;
        json_array_foreach(values, i, v) in |= have && streq(have, json_string_value(v));

        if (streq(op, "In") || streq(op, "NotIn")) {
                if (n == 0)
                        return -EINVAL;
                return streq(op, "In") ? in : !in;
        }
        if (streq(op, "Exists") || streq(op, "DoesNotExist")) {
                if (n != 0)
                        return -EINVAL;
                return streq(op, "Exists") ? have != NULL : have == NULL;
        }
        if (streq(op, "Gt") || streq(op, "Lt")) {
                int64_t want, got;
                if (n != 1 || !parse_int64(json_string_value(json_array_get(values, 0)), &want))
                        return -EINVAL;
                if (!have || !parse_int64(have, &got))
                        return false;
                return streq(op, "Gt") ? got > want : got < want;
        }
        return -EINVAL;
}

/* matchFields: only In and NotIn with one value; the node's only field is metadata.name. */
static int field_matches(const json_t *req, const char *node_name)
{
        const char *key = json_string_value(json_object_get(req, "key"));
        const char *op = json_string_value(json_object_get(req, "operator"));
        json_t *values = json_object_get(req, "values");
        if (!key || !op || (!streq(op, "In") && !streq(op, "NotIn")) || json_array_size(values) != 1)
                return -EINVAL;
        const char *want = json_string_value(json_array_get(values, 0));
        if (!want)
                return -EINVAL;
        const char *have = streq(key, "metadata.name") ? node_name : "";
        return streq(op, "In") == streq(have, want);
}

/* A term's requirements are ANDed; a parse error anywhere fails the whole term. */
static bool term_matches(const json_t *term, const char *node_name, const json_t *labels)
{
        json_t *exprs = json_object_get(term, "matchExpressions");
        json_t *fields = json_object_get(term, "matchFields"), *r;
        size_t i;
        bool ok = true;
        json_array_foreach(exprs, i, r)
        {
                int m = requirement_matches(r, labels);
                if (m < 0)
                        return false;
                ok &= m > 0;
        }
        json_array_foreach(fields, i, r)
        {
                int m = field_matches(r, node_name);
                if (m < 0)
                        return false;
                ok &= m > 0;
        }
        return ok;
}

/* Terms are ORed; an empty term is skipped, and no term at all matches no node. */
static bool selector_matches(const json_t *selector, const char *node_name, const json_t *labels)
{
        json_t *terms = json_object_get(selector, "nodeSelectorTerms"), *t;
        size_t i;
        json_array_foreach(terms, i, t)
        {
                if (json_array_size(json_object_get(t, "matchExpressions")) == 0 &&
                    json_array_size(json_object_get(t, "matchFields")) == 0)
                        continue;
                if (term_matches(t, node_name, labels))
                        return true;
        }
        return false;
}

bool admission_node_affinity_matches(const json_t *spec, const char *node_name, const json_t *labels)
{
        json_t *sel = json_object_get(spec, "nodeSelector"), *v;
        const char *k;
        json_object_foreach(sel, k, v)
        {
                const char *have = label_of(labels, k);
                if (!have || !json_is_string(v) || !streq(have, json_string_value(v)))
                        return false;
        }
        json_t *na = json_object_get(json_object_get(spec, "affinity"), "nodeAffinity");
        json_t *req = json_object_get(na, "requiredDuringSchedulingIgnoredDuringExecution");
        if (!req || json_is_null(req))
                return true;
        return selector_matches(req, node_name, labels);
}

/* Upstream's Toleration.ToleratesTaint. */
static bool tolerates(const json_t *tol, const json_t *taint)
{
        const char *t_effect = json_string_value(json_object_get(tol, "effect")) ?: "";
        const char *t_key = json_string_value(json_object_get(tol, "key")) ?: "";
        const char *t_op = json_string_value(json_object_get(tol, "operator")) ?: "";
        const char *t_value = json_string_value(json_object_get(tol, "value")) ?: "";
        const char *effect = json_string_value(json_object_get(taint, "effect")) ?: "";
        const char *key = json_string_value(json_object_get(taint, "key")) ?: "";
        const char *value = json_string_value(json_object_get(taint, "value")) ?: "";

        if (*t_effect && !streq(t_effect, effect))
                return false;
        if (*t_key && !streq(t_key, key))
                return false;
        if (!*t_op || streq(t_op, "Equal"))
                return streq(t_value, value);
        return streq(t_op, "Exists");
}

bool admission_tolerates_taints(const json_t *tolerations, const json_t *taints, const char *effect)
{
        size_t i, j;
        json_t *taint, *tol;
        json_array_foreach(taints, i, taint)
        {
                if (!streq_ptr(json_string_value(json_object_get(taint, "effect")), effect))
                        continue;
                bool ok = false;
                json_array_foreach(tolerations, j, tol) ok |= tolerates(tol, taint);
                if (!ok)
                        return false;
        }
        return true;
}
