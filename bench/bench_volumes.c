/* What volumes add to a pod's sync: vol_setup_pod for a pod with four volumes (configMap, secret, emptyDir,
 * downwardAPI) against one with none, first sync (directories, tmpfs mounts, atomic writes) and later syncs
 * (refresh, contents unchanged), and the teardown. Objects come from an in-memory store, so the figure is
 * cubelet's own cost (the API watch is not in it). Run as root (tmpfs): bench_volumes [N] [ROOT_DIR] */
#include <stdio.h>
#include <time.h>

#include "pod.h"
#include "util.h"
#include "volume.h"

static int store(void *ud, const char *resource, const char *ns, const char *name, json_t **ret, char *err,
                 size_t errlen)
{
        (void) ud, (void) ns, (void) name, (void) err, (void) errlen;
        if (streq(resource, "secrets"))
                *ret = json_pack("{s:{s:s,s:s}}", "data", "username", "YWRtaW4=", "password",
                                 "aHVudGVyMg==");
        else
                *ret = json_pack("{s:{s:s,s:s,s:s}}", "data", "color", "blue", "size", "large", "app.conf",
                                 "listen 8080\nworkers 4\n");
        return 0;
}

static struct pod *make_pod(size_t i, bool volumes)
{
        const char *vols = "[{\"name\":\"cfg\",\"configMap\":{\"name\":\"cfg\"}},"
                           "{\"name\":\"sec\",\"secret\":{\"secretName\":\"sec\"}},"
                           "{\"name\":\"scratch\",\"emptyDir\":{}},"
                           "{\"name\":\"info\",\"downwardAPI\":{\"items\":["
                           "{\"path\":\"labels\",\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}},"
                           "{\"path\":\"name\",\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}]}}]";
        _cleanup_free_ char *text =
                strdup_printf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p%zu\","
                              "\"namespace\":\"default\","
                              "\"uid\":\"bench-%zu\",\"labels\":{\"app\":\"bench\",\"tier\":\"web\"}},"
                              "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}],\"volumes\":%s}}",
                              i, i, volumes ? vols : "[]");
        json_t *obj = json_loads(text, 0, NULL);
        pod_json_apply_defaults(obj);
        struct api_problems pr = {0};
        struct pod *p = pod_from_json(obj, &pr);
        api_problems_clear(&pr);
        json_decref(obj);
        return p;
}

static int64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Mean microseconds per pod for setup (first), refresh (second) and teardown. */
static void run(const char *root, size_t n, bool volumes, double out[3])
{
        struct vol_ctx ctx = {
                .root_dir = root, .get_object = store, .node_cpu_m = 1000, .node_mem = 1 << 30};
        struct pod **pods = calloc(n, sizeof *pods);
        char err[1024];
        for (size_t i = 0; i < n; i++)
                pods[i] = make_pod(i, volumes);
        for (int phase = 0; phase < 2; phase++) {
                int64_t t0 = now_us();
                for (size_t i = 0; i < n; i++)
                        if (vol_setup_pod(&ctx, pods[i], err, sizeof err) < 0) {
                                fprintf(stderr, "setup: %s\n", err);
                                exit(1);
                        }
                out[phase] = (double) (now_us() - t0) / (double) n;
        }
        int64_t t0 = now_us();
        for (size_t i = 0; i < n; i++) {
                vol_teardown_pod(root, pods[i]->uid);
                _cleanup_free_ char *d = strdup_printf("%s/pods/%s", root, pods[i]->uid);
                rm_rf(d);
        }
        out[2] = (double) (now_us() - t0) / (double) n;
        for (size_t i = 0; i < n; i++)
                pod_unref(pods[i]);
        free(pods);
}

int main(int argc, char **argv)
{
        size_t n = argc > 1 ? (size_t) atoi(argv[1]) : 200;
        char tmpl[] = "/var/tmp/bench-volumes.XXXXXX";
        const char *root = argc > 2 ? argv[2] : mkdtemp(tmpl);
        double none[3], four[3];
        if (!root || n == 0)
                return 2;
        run(root, n, false, none);
        run(root, n, true, four);
        printf("pods: %zu  root: %s\n", n, root);
        printf("no volumes:    first sync %8.1f us/pod, later syncs %8.1f us/pod, teardown %8.1f us/pod\n",
               none[0], none[1], none[2]);
        printf("4 volumes:     first sync %8.1f us/pod, later syncs %8.1f us/pod, teardown %8.1f us/pod\n",
               four[0], four[1], four[2]);
        printf("added by volumes: first sync %.1f us/pod, each later sync %.1f us/pod\n", four[0] - none[0],
               four[1] - none[1]);
        if (argc <= 2)
                rm_rf(root);
        return 0;
}
