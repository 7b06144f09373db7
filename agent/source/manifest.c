/* Static pod manifests (a file, or the manifest URL's document): Pods with upstream's static-pod identity. */
#include "manifest.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>

#include "util.h"
#include "yaml_json.h"

void manifest_result_clear(struct manifest_result *r)
{
        for (size_t i = 0; i < r->n_pods; i++)
                pod_unref(r->pods[i]);
        free(r->pods);
        free(r->error);
        free(r->warnings);
        *r = (struct manifest_result){0};
}

/* Where the pods come from: a file (source "file") or the manifest URL (source "http"). */
struct origin {
        bool url;
        const char *where; /* the file's path or the URL */
        const char *node;
};

/* Upstream: md5 over "host:<node>" and "file:<path>" for a file, "url:<url>" alone for a URL, and then the
 * pod; here the pod's canonical JSON. */
static char *static_pod_uid(const struct origin *o, size_t doc, json_t *obj)
{
        _cleanup_free_ char *canon = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
        _cleanup_free_ char *head = o->url ? strdup_printf("url:%sdoc:%zu", o->where, doc)
                                           : strdup_printf("host:%sfile:%sdoc:%zu", o->node, o->where, doc);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_MD_CTX *ctx = OOM_CHECK(EVP_MD_CTX_new());

        EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
        EVP_DigestUpdate(ctx, head, strlen(head));
        if (canon)
                EVP_DigestUpdate(ctx, canon, strlen(canon));
        EVP_DigestFinal_ex(ctx, md, &mdlen);
        EVP_MD_CTX_free(ctx);

        char *hex = OOM_CHECK(malloc(mdlen * 2 + 1));
        for (unsigned int i = 0; i < mdlen; i++)
                sprintf(hex + 2 * i, "%02x", md[i]);
        return hex;
}

static json_t *ensure_object(json_t *parent, const char *key)
{
        json_t *v = json_object_get(parent, key);
        if (!json_is_object(v)) {
                v = json_object();
                json_object_set_new(parent, key, v);
        }
        return v;
}

/* Applies upstream's static-pod identity to a decoded (not yet validated) object. */
static void apply_static_identity(json_t *obj, const struct origin *o, size_t doc)
{
        const char *node = o->node;
        json_t *meta = json_object_get(obj, "metadata");
        json_t *spec = json_object_get(obj, "spec");
        json_t *uidv = json_object_get(meta, "uid");
        _cleanup_free_ char *uid = NULL;

        if (json_is_string(uidv) && json_string_value(uidv)[0])
                uid = xstrdup(json_string_value(uidv));
        else
                uid = static_pod_uid(o, doc, obj);

        json_t *name = json_object_get(meta, "name");
        if (json_is_string(name) && json_string_value(name)[0]) {
                _cleanup_free_ char *full = strdup_printf("%s-%s", json_string_value(name), node);
                json_object_set_new(meta, "name", json_string(full));
        }
        json_t *ns = json_object_get(meta, "namespace");
        if (!ns || json_is_null(ns) || (json_is_string(ns) && !json_string_value(ns)[0]))
                json_object_set_new(meta, "namespace", json_string("default"));
        json_object_set_new(meta, "uid", json_string(uid));
        json_object_set_new(meta, "selfLink", json_string(""));
        json_t *ann = ensure_object(meta, "annotations");
        json_object_set_new(ann, "kubernetes.io/config.source", json_string(o->url ? "http" : "file"));
        json_object_set_new(ann, "kubernetes.io/config.hash", json_string(uid));
        json_object_set_new(spec, "nodeName", json_string(node));

        /* Pods from files tolerate every NoExecute taint; upstream gives URL pods no such toleration. */
        if (o->url)
                return;
        json_t *tol = json_object_get(spec, "tolerations");
        if (!json_is_array(tol)) {
                tol = json_array();
                json_object_set_new(spec, "tolerations", tol);
        }
        json_array_append_new(tol, json_pack("{s:s, s:s}", "operator", "Exists", "effect", "NoExecute"));
}

static void add_pod(struct manifest_result *ret, struct pod *p)
{
        ret->pods = OOM_CHECK(realloc(ret->pods, (ret->n_pods + 1) * sizeof(struct pod *)));
        ret->pods[ret->n_pods++] = p;
}

static char *doc_prefix(size_t n_docs, size_t idx, int line)
{
        return n_docs > 1 ? strdup_printf("document %zu (line %d): ", idx + 1, line) : xstrdup("");
}

static void append(char **dst, const char *prefix, const char *msg)
{
        char *n = *dst ? strdup_printf("%s; %s%s", *dst, prefix, msg) : strdup_printf("%s%s", prefix, msg);
        free(*dst);
        *dst = n;
}

static void decode_one(struct manifest_result *ret, json_t *obj, const struct origin *o, size_t idx,
                       const char *prefix)
{
        struct api_problems pr = {0};
        _cleanup_free_ char *errs = NULL, *warns = NULL;

        if (!json_is_object(obj)) {
                append(&ret->error, prefix, "expected a Pod object");
                return;
        }
        json_t *kind = json_object_get(obj, "kind"), *apiv = json_object_get(obj, "apiVersion");
        if (!json_is_string(kind) || !streq(json_string_value(kind), "Pod")) {
                _cleanup_free_ char *m = strdup_printf(
                        "kind: Unsupported value: %s%s%s: a static pod manifest holds kind Pod",
                        json_is_string(kind) ? "\"" : "",
                        json_is_string(kind) ? json_string_value(kind) : "(none)",
                        json_is_string(kind) ? "\"" : "");
                append(&ret->error, prefix, m);
                return;
        }
        if (!json_is_string(apiv) || !streq(json_string_value(apiv), "v1")) {
                append(&ret->error, prefix, "apiVersion: Unsupported value: a Pod is apiVersion \"v1\"");
                return;
        }
        if (!json_is_object(json_object_get(obj, "metadata")) ||
            !json_is_object(json_object_get(obj, "spec"))) {
                /* Let pod_from_json report which one is missing or mistyped. */
                struct pod *p = pod_from_json(obj, &pr);
                pod_unref(p);
        } else {
                /* Defaults first, so that spelling out a default does not change the UID. */
                pod_json_apply_defaults(obj);
                apply_static_identity(obj, o, idx);
                struct pod *p = pod_from_json(obj, &pr);
                if (p)
                        add_pod(ret, p);
        }
        errs = api_problems_errors(&pr);
        warns = api_problems_warnings(&pr);
        if (errs)
                append(&ret->error, prefix, errs);
        if (warns)
                append(&ret->warnings, prefix, warns);
        api_problems_clear(&pr);
}

static void decode(const struct origin *o, const char *buf, size_t len, struct manifest_result *ret)
{
        struct yaml_doc *docs = NULL;
        size_t n = 0;
        char *err = NULL;

        *ret = (struct manifest_result){0};
        if (yaml_parse_docs(buf, len, &docs, &n, &err) < 0) {
                ret->error = err;
                return;
        }
        if (n == 0) {
                ret->error = xstrdup(o->url ? "the document holds no Pod" : "file holds no document");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *prefix = doc_prefix(n, i, docs[i].line);
                json_t *obj = docs[i].value;
                json_t *kind = json_is_object(obj) ? json_object_get(obj, "kind") : NULL;
                /* A List / PodList of Pods is accepted too, as upstream. */
                if (json_is_string(kind) &&
                    (streq(json_string_value(kind), "List") || streq(json_string_value(kind), "PodList"))) {
                        json_t *items = json_object_get(obj, "items"), *it;
                        size_t j;
                        if (!json_is_array(items)) {
                                append(&ret->error, prefix, "items: Required value");
                                continue;
                        }
                        json_array_foreach(items, j, it)
                        {
                                _cleanup_free_ char *p2 = strdup_printf("%sitems[%zu]: ", prefix, j);
                                decode_one(ret, it, o, i * 100000 + j, p2);
                        }
                } else
                        decode_one(ret, obj, o, i, prefix);
        }
out:
        if (ret->error) { /* nothing from a file with an error */
                for (size_t i = 0; i < ret->n_pods; i++)
                        pod_unref(ret->pods[i]);
                free(ret->pods);
                ret->pods = NULL;
                ret->n_pods = 0;
        }
        yaml_docs_free(docs, n);
}

void manifest_decode(const char *path, const char *buf, size_t len, const char *node_name,
                     struct manifest_result *ret)
{
        decode(&(struct origin){.where = path, .node = node_name}, buf, len, ret);
}

void manifest_decode_url(const char *url, const char *buf, size_t len, const char *node_name,
                         struct manifest_result *ret)
{
        decode(&(struct origin){.url = true, .where = url, .node = node_name}, buf, len, ret);
}

void manifest_load(const char *path, const char *node_name, struct manifest_result *ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_file_limit(path, MANIFEST_MAX_BYTES, &buf, &len);

        *ret = (struct manifest_result){0};
        if (r == -EFBIG) {
                ret->error = strdup_printf("file is larger than the %u MiB limit", MANIFEST_MAX_BYTES >> 20);
                return;
        }
        if (r < 0) {
                ret->error = strdup_printf("cannot read file: %s", strerror(-r));
                return;
        }
        manifest_decode(path, buf, len, node_name, ret);
}
