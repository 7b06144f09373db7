/* ADD, DEL and CHECK of a whole network configuration list (spec section 3). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cni_internal.h"
#include "util.h"

int cni__attachment_prepare(const struct cni_attachment *att, bool need_netns, char **ret_args,
                            json_t **ret_caps, struct cni_error *err)
{
        json_error_t jerr;
        json_t *caps = NULL;

        if (!att || !cni__valid_name(att->container_id))
                return cni__fail(err, -EINVAL,
                                 "container ID \"%s\" is invalid (want [A-Za-z0-9][A-Za-z0-9_.-]*)",
                                 att && att->container_id ? att->container_id : "");
        if (!cni__valid_ifname(att->ifname))
                return cni__fail(err, -EINVAL, "interface name \"%s\" is invalid",
                                 att->ifname ? att->ifname : "");
        if (need_netns && (!att->netns || !*att->netns))
                return cni__fail(err, -EINVAL, "no network namespace path");
        if (cni__args_compose(att->args, ret_args) < 0)
                return cni__fail(err, -EINVAL, "CNI_ARGS \"%s\" is invalid (want K=V;K=V)", att->args);
        if (att->capability_args && *att->capability_args) {
                caps = json_loads(att->capability_args, 0, &jerr);
                if (!json_is_object(caps)) {
                        json_decref(caps);
                        *ret_args = cni__mfree(*ret_args);
                        return cni__fail(err, -EINVAL, "capability args: %s",
                                         caps ? "not a JSON object" : jerr.text);
                }
        }
        *ret_caps = caps;
        return 0;
}

static int run_one(const struct cni_exec *ex, const struct cni_network *net, size_t i, const char *command,
                   const struct cni_attachment *att, const char *args, json_t *caps, json_t *prev,
                   char **ret_out, struct cni_error *err)
{
        _cleanup_json_ json_t *in = cni__plugin_stdin(net, i, caps, prev);
        _cleanup_free_ char *text = OOM_CHECK(json_dumps(in, JSON_COMPACT));
        return cni__invoke(ex, net->plugins[i].type, command, att, args, text, strlen(text), ret_out, err);
}

/* A result as JSON in the list's version: the plugin's own text when it already is, else re-encoded. */
static json_t *result_for(const struct cni_network *net, const struct cni_result *r)
{
        if (streq(r->cni_version, net->version)) {
                json_t *j = json_loads(r->json, 0, NULL);
                if (j)
                        return j;
        }
        return cni__result_to_json(r, net->version);
}

int cni_network_add(const struct cni_exec *ex, const struct cni_network *net,
                    const struct cni_attachment *att, struct cni_result **ret, struct cni_error *err)
{
        _cleanup_free_ char *args = NULL;
        _cleanup_json_ json_t *caps = NULL, *prev = NULL;
        _cleanup_(cni_result_freep) struct cni_result *res = NULL;
        int r;

        r = cni__attachment_prepare(att, true, &args, &caps, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < net->n_plugins; i++) {
                const char *type = net->plugins[i].type;
                _cleanup_free_ char *out = NULL;
                json_error_t jerr;

                r = run_one(ex, net, i, "ADD", att, args, caps, prev, &out, err);
                if (r < 0)
                        return r;
                _cleanup_json_ json_t *root = json_loads(out, 0, &jerr);
                if (!root && !*out)
                        return cni__fail(err, -EBADMSG, "plugin %s: ADD: no result on stdout", type);
                if (!root)
                        return cni__fail(err, -EBADMSG, "plugin %s: ADD: result is not JSON: %s", type,
                                         jerr.text);
                if (json_is_integer(json_object_get(root, "code")) && !json_object_get(root, "ips") &&
                    !json_object_get(root, "interfaces")) {
                        /* An error object with exit status 0: still an error. */
                        struct cni__proc p = {.out = out, .out_len = strlen(out), .err = ""};
                        return cni__plugin_failure(type, &p, err);
                }
                res = cni_result_free(res);
                r = cni__result_from_json(root, &res, err);
                if (r < 0) {
                        cni_error_prefix(err, "plugin %s: ADD: invalid result", type);
                        return r;
                }
                json_decref(prev);
                /* The next plugin expects prevResult in the list's version. */
                prev = streq(res->cni_version, net->version) ? json_incref(root)
                                                             : cni__result_to_json(res, net->version);
        }
        if (!streq(res->cni_version, net->version)) {
                struct cni_result *conv = NULL;
                r = cni__result_from_json(prev, &conv, err);
                if (r < 0)
                        return r;
                cni_result_free(res);
                res = conv;
        }
        *ret = TAKE_PTR(res);
        return 0;
}

int cni_network_del(const struct cni_exec *ex, const struct cni_network *net,
                    const struct cni_attachment *att, const struct cni_result *prev, struct cni_error *err)
{
        _cleanup_free_ char *args = NULL;
        _cleanup_json_ json_t *caps = NULL, *prevj = NULL;
        struct cni_attachment a;
        int r;

        r = cni__attachment_prepare(att, false, &args, &caps, err);
        if (r < 0)
                return r;
        a = *att;
        /* The netns is gone (the sandbox was removed): say so, and plugins release what they can. */
        if (a.netns && *a.netns && access(a.netns, F_OK) < 0 && errno == ENOENT)
                a.netns = "";
        /* prevResult on DEL came with 0.4.0. */
        if (prev && cni__version_cmp(net->version, "0.4.0") >= 0)
                prevj = result_for(net, prev);

        for (size_t i = net->n_plugins; i-- > 0;) {
                struct cni_error e = {0};
                _cleanup_free_ char *out = NULL;
                r = run_one(ex, net, i, "DEL", &a, args, caps, prevj, &out, &e);
                if (r < 0 && e.code == CNI_ERR_UNKNOWN_CONTAINER)
                        continue; /* "the runtime does not need to perform any container network cleanup" */
                if (r < 0) {
                        if (err)
                                *err = e;
                        return r;
                }
        }
        return 0;
}

int cni_network_check(const struct cni_exec *ex, const struct cni_network *net,
                      const struct cni_attachment *att, const struct cni_result *prev, struct cni_error *err)
{
        _cleanup_free_ char *args = NULL;
        _cleanup_json_ json_t *caps = NULL, *prevj = NULL;
        int r;

        if (net->disable_check)
                return 0;
        if (cni__version_cmp(net->version, "0.4.0") < 0)
                return cni__fail(err, -EOPNOTSUPP,
                                 "network %s: CHECK needs cniVersion 0.4.0 or later, not %s", net->name,
                                 net->version);
        if (!prev)
                return cni__fail(err, -EINVAL, "network %s: CHECK needs the result of the ADD", net->name);
        r = cni__attachment_prepare(att, true, &args, &caps, err);
        if (r < 0)
                return r;
        prevj = result_for(net, prev);
        for (size_t i = 0; i < net->n_plugins; i++) {
                _cleanup_free_ char *out = NULL;
                r = run_one(ex, net, i, "CHECK", att, args, caps, prevj, &out, err);
                if (r < 0)
                        return r;
        }
        return 0;
}
