/* cubelet-cri: a small CRI client for operators and tests (a crictl subset): version, info, pods, ps, inspect,
 * inspecti, pull, runp, stopp, rmp; and events (containerd's task and container events, as cubelet's PLEG
 * hears them, one line each with the shim's exit time: what the benches time a teardown by). Installed as
 * crictl too (where no cri-tools package is: Debian has none), it answers the commands kubeadm runs (info,
 * pods -q, inspecti, pull, stopp, rmp) with crictl's exit codes. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cri.h"
#include "events.h"

static const char *label(ProtobufCMessage **entries, size_t n, const char *key)
{
        /* Every CRI map entry is {base, key, value}. */
        struct kv {
                ProtobufCMessage base;
                char *key, *value;
        };
        for (size_t i = 0; i < n; i++) {
                struct kv *e = (struct kv *) entries[i];
                if (strcmp(e->key, key) == 0)
                        return e->value;
        }
        return "-";
}

static const char *cstate(int s)
{
        static const char *const names[] = {"CREATED", "RUNNING", "EXITED", "UNKNOWN"};
        return s >= 0 && s < 4 ? names[s] : "?";
}

static int fail(const char *what, int r, const struct cri_error *err)
{
        fprintf(stderr, "cubelet-cri: %s: %s\n", what, err->msg[0] ? err->msg : strerror(-r));
        return 1;
}

static int cmd_version(struct cri_client *c)
{
        Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
        Runtime__V1__VersionResponse *resp = NULL;
        struct cri_error err = {0};
        int r = CRI_CALL(c, RuntimeService, Version, version, &req, &resp, 0, &err);
        if (r < 0)
                return fail("version", r, &err);
        printf("RuntimeName:\t%s\nRuntimeVersion:\t%s\nRuntimeApiVersion:\t%s\n", resp->runtime_name,
               resp->runtime_version, resp->runtime_api_version);
        cri_free(resp);
        return 0;
}

static int cmd_pods(struct cri_client *c, bool quiet)
{
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ListPodSandboxResponse *resp = NULL;
        struct cri_error err = {0};
        int r = CRI_CALL(c, RuntimeService, ListPodSandbox, list_pod_sandbox, &req, &resp, 0, &err);
        if (r < 0)
                return fail("list sandboxes", r, &err);
        if (!quiet)
                printf("POD_ID\tSTATE\tNAMESPACE\tNAME\tATTEMPT\tUID\tRUNTIME\n");
        for (size_t i = 0; i < resp->n_items; i++) {
                Runtime__V1__PodSandbox *s = resp->items[i];
                if (quiet) {
                        printf("%s\n", s->id);
                        continue;
                }
                printf("%.13s\t%s\t%s\t%s\t%u\t%s\t%s\n", s->id, s->state == 0 ? "READY" : "NOTREADY",
                       s->metadata ? s->metadata->namespace_ : "-", s->metadata ? s->metadata->name : "-",
                       s->metadata ? s->metadata->attempt : 0, s->metadata ? s->metadata->uid : "-",
                       s->runtime_handler && s->runtime_handler[0] ? s->runtime_handler : "(default)");
        }
        cri_free(resp);
        return 0;
}

static int cmd_ps(struct cri_client *c, bool all)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__ContainerStateValue sv = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
        Runtime__V1__ListContainersResponse *resp = NULL;
        struct cri_error err = {0};

        if (!all) {
                sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
                f.state = &sv;
                req.filter = &f;
        }
        int r = CRI_CALL(c, RuntimeService, ListContainers, list_containers, &req, &resp, 0, &err);
        if (r < 0)
                return fail("list containers", r, &err);
        printf("CONTAINER_ID\tSTATE\tNAME\tATTEMPT\tPOD\tPOD_UID\tPOD_ID\n");
        for (size_t i = 0; i < resp->n_containers; i++) {
                Runtime__V1__Container *k = resp->containers[i];
                printf("%s\t%s\t%s\t%u\t%s/%s\t%s\t%.13s\n", k->id, cstate(k->state),
                       k->metadata ? k->metadata->name : "-", k->metadata ? k->metadata->attempt : 0,
                       label((ProtobufCMessage **) k->labels, k->n_labels, "io.kubernetes.pod.namespace"),
                       label((ProtobufCMessage **) k->labels, k->n_labels, "io.kubernetes.pod.name"),
                       label((ProtobufCMessage **) k->labels, k->n_labels, "io.kubernetes.pod.uid"),
                       k->pod_sandbox_id);
        }
        cri_free(resp);
        return 0;
}

static int cmd_inspect(struct cri_client *c, const char *id)
{
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        Runtime__V1__ContainerStatusResponse *resp = NULL;
        struct cri_error err = {0};
        req.container_id = (char *) id;
        req.verbose = true;
        int r = CRI_CALL(c, RuntimeService, ContainerStatus, container_status, &req, &resp, 0, &err);
        if (r < 0)
                return fail("container status", r, &err);
        Runtime__V1__ContainerStatus *s = resp->status;
        printf("id\t%s\nname\t%s\nattempt\t%u\nstate\t%s\nexitCode\t%d\nreason\t%s\n", s->id,
               s->metadata ? s->metadata->name : "-", s->metadata ? s->metadata->attempt : 0,
               cstate(s->state), s->exit_code, s->reason);
        printf("image\t%s\nimageRef\t%s\nlogPath\t%s\n", s->image ? s->image->image : "-", s->image_ref,
               s->log_path);
        printf("createdAt\t%lld\nstartedAt\t%lld\nfinishedAt\t%lld\n", (long long) s->created_at,
               (long long) s->started_at, (long long) s->finished_at);
        for (size_t i = 0; i < s->n_annotations; i++)
                printf("annotation\t%s=%s\n", s->annotations[i]->key, s->annotations[i]->value);
        /* The verbose info (containerd's "info": the CRI config it was given, as JSON), one line each. */
        for (size_t i = 0; i < resp->n_info; i++) {
                printf("info\t%s\t", resp->info[i]->key);
                for (const char *p = resp->info[i]->value; p && *p; p++)
                        putchar(*p == '\n' || *p == '\t' ? ' ' : *p);
                putchar('\n');
        }
        cri_free(resp);
        return 0;
}

/* S as a JSON string. */
static void print_json_string(const char *s)
{
        putchar('"');
        for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++) {
                if (*p == '"' || *p == '\\')
                        printf("\\%c", *p);
                else if (*p < 0x20)
                        printf("\\u%04x", *p);
                else
                        putchar(*p);
        }
        putchar('"');
}

/* A verbose info value as JSON: as the runtime gives it when it is JSON (containerd's "config"), else as a
 * string (containerd's "lastCNILoadStatus" is a bare OK), as crictl does. */
static void print_info_value(const char *v)
{
        json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
        if (j) {
                json_decref(j);
                fputs(v, stdout);
        } else
                print_json_string(v);
}

/* crictl info: the runtime's status (its conditions, then its verbose info as the runtime gives it); exit 1
 * when the runtime cannot be asked. */
static int cmd_info(struct cri_client *c)
{
        Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
        Runtime__V1__StatusResponse *resp = NULL;
        struct cri_error err = {0};
        req.verbose = true;
        int r = CRI_CALL(c, RuntimeService, Status, status, &req, &resp, 0, &err);
        if (r < 0)
                return fail("runtime status", r, &err);
        printf("{\n  \"status\": {\n    \"conditions\": [");
        size_t n = resp->status ? resp->status->n_conditions : 0;
        for (size_t i = 0; i < n; i++) {
                Runtime__V1__RuntimeCondition *k = resp->status->conditions[i];
                printf("%s\n      {\"type\": ", i ? "," : "");
                print_json_string(k->type);
                printf(", \"status\": %s, \"reason\": ", k->status ? "true" : "false");
                print_json_string(k->reason);
                putchar('}');
        }
        printf("\n    ]\n  }");
        for (size_t i = 0; i < resp->n_info; i++) {
                fputs(",\n  ", stdout);
                print_json_string(resp->info[i]->key);
                fputs(": ", stdout);
                print_info_value(resp->info[i]->value);
        }
        printf("\n}\n");
        cri_free(resp);
        return 0;
}

/* crictl inspecti: the image's status; exit 1 when the runtime does not have it (kubeadm's ImageExists). */
static int cmd_inspecti(struct cri_client *c, const char *image)
{
        Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__ImageStatusResponse *resp = NULL;
        struct cri_error err = {0};
        spec.image = (char *) image;
        req.image = &spec;
        int r = CRI_CALL(c, ImageService, ImageStatus, image_status, &req, &resp, 0, &err);
        if (r < 0)
                return fail("image status", r, &err);
        Runtime__V1__Image *im = resp->image;
        if (!im || !im->id || !im->id[0]) {
                fprintf(stderr, "cubelet-cri: no such image \"%s\" present\n", image);
                cri_free(resp);
                return 1;
        }
        printf("id\t%s\nsize\t%llu\n", im->id, (unsigned long long) im->size);
        for (size_t i = 0; i < im->n_repo_tags; i++)
                printf("repoTag\t%s\n", im->repo_tags[i]);
        for (size_t i = 0; i < im->n_repo_digests; i++)
                printf("repoDigest\t%s\n", im->repo_digests[i]);
        cri_free(resp);
        return 0;
}

/* crictl pull, without credentials: the runtime's own registry configuration applies. */
static int cmd_pull(struct cri_client *c, const char *image)
{
        Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__PullImageResponse *resp = NULL;
        struct cri_error err = {0};
        spec.image = (char *) image;
        req.image = &spec;
        int r = CRI_CALL(c, ImageService, PullImage, pull_image, &req, &resp, 0, &err);
        if (r < 0)
                return fail("pull image", r, &err);
        printf("Image is up to date for %s\n", resp->image_ref);
        cri_free(resp);
        return 0;
}

/* crictl stopp: stops the sandbox and its containers. */
static int cmd_stopp(struct cri_client *c, const char *id)
{
        Runtime__V1__StopPodSandboxRequest req = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__StopPodSandboxResponse *resp = NULL;
        struct cri_error err = {0};
        req.pod_sandbox_id = (char *) id;
        int r = CRI_CALL(c, RuntimeService, StopPodSandbox, stop_pod_sandbox, &req, &resp, 0, &err);
        cri_free(resp);
        if (r < 0)
                return fail("stop pod sandbox", r, &err);
        printf("Stopped sandbox %s\n", id);
        return 0;
}

/* crictl runp, reduced: a bare sandbox named NAME (namespace "default") on the node's network, run by the
 * runtime handler given ("" is the runtime's default); prints its ID. */
static int cmd_runp(struct cri_client *c, const char *handler, const char *name)
{
        Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
        Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
        Runtime__V1__LinuxPodSandboxConfig lx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
        Runtime__V1__LinuxSandboxSecurityContext sc = RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
        Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
        Runtime__V1__RunPodSandboxResponse *resp = NULL;
        struct cri_error err = {0};
        char uid[256];
        snprintf(uid, sizeof uid, "cubelet-cri-runp-%s", name);
        md.name = (char *) name;
        md.namespace_ = (char *) "default";
        md.uid = uid;
        ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
        sc.namespace_options = &ns;
        lx.security_context = &sc;
        cfg.metadata = &md;
        cfg.linux = &lx;
        req.config = &cfg;
        req.runtime_handler = (char *) handler;
        int r = CRI_CALL(c, RuntimeService, RunPodSandbox, run_pod_sandbox, &req, &resp, 0, &err);
        if (r < 0)
                return fail("run pod sandbox", r, &err);
        printf("%s\n", resp->pod_sandbox_id);
        cri_free(resp);
        return 0;
}

/* crictl rmp -f: stops the sandbox (and its containers), then removes it with them. */
static int cmd_rmp(struct cri_client *c, const char *id)
{
        Runtime__V1__StopPodSandboxRequest sreq = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__RemovePodSandboxRequest rreq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__StopPodSandboxResponse *sresp = NULL;
        Runtime__V1__RemovePodSandboxResponse *rresp = NULL;
        struct cri_error err = {0};
        sreq.pod_sandbox_id = rreq.pod_sandbox_id = (char *) id;
        int r = CRI_CALL(c, RuntimeService, StopPodSandbox, stop_pod_sandbox, &sreq, &sresp, 0, &err);
        cri_free(sresp);
        if (r < 0)
                return fail("stop pod sandbox", r, &err);
        r = CRI_CALL(c, RuntimeService, RemovePodSandbox, remove_pod_sandbox, &rreq, &rresp, 0, &err);
        cri_free(rresp);
        if (r < 0)
                return fail("remove pod sandbox", r, &err);
        printf("%s\n", id);
        return 0;
}

static volatile bool events_output_failed; /* set on the stream thread, read after it stopped */

static void print_event(const struct ctd_event *ev, void *userdata)
{
        static const char *const kinds[] = {[CTD_EVENT_TASK_START] = "start",
                                            [CTD_EVENT_TASK_EXIT] = "exit",
                                            [CTD_EVENT_TASK_OOM] = "oom",
                                            [CTD_EVENT_CONTAINER_CREATE] = "create",
                                            [CTD_EVENT_CONTAINER_DELETE] = "delete"};
        struct timespec now;
        (void) userdata;
        clock_gettime(CLOCK_REALTIME, &now);
        printf("%s\t%s\t%u\t%u\t%lld\t%lld\n",
               (unsigned) ev->kind < sizeof kinds / sizeof *kinds && kinds[ev->kind] ? kinds[ev->kind] : "?",
               ev->container_id, ev->pid, ev->exit_status, (long long) ev->exited_at_ns,
               (long long) now.tv_sec * 1000000000LL + now.tv_nsec);
        /* stdout gone (a reader that quit): the main thread's sigwait ends the tool, as crictl would end */
        if (fflush(stdout) != 0 || ferror(stdout)) {
                events_output_failed = true;
                kill(getpid(), SIGTERM);
        }
}

static void print_state(bool connected, const char *why, void *userdata)
{
        (void) userdata;
        if (connected)
                fputs("cubelet-cri: events: subscribed\n", stderr);
        else
                fprintf(stderr, "cubelet-cri: events: down: %s\n", why ? why : "?");
}

/* events: until SIGINT or SIGTERM (or its output fails: status 1), every task start, exit and OOM and
 * container create and delete of the k8s.io namespace as
 * "KIND\tID\tPID\tEXIT_STATUS\tEXITED_AT_NS\tRECEIVED_NS" (the last two CLOCK_REALTIME nanoseconds;
 * exited_at as the shim saw it, 0 but for an exit). Re-subscribes when containerd restarts, saying so on
 * stderr (events meanwhile are lost). */
static int cmd_events(const char *endpoint)
{
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        struct ctd_events *e = NULL;
        struct ctd_events_config cfg = {
                .endpoint = endpoint, .on_event = print_event, .on_state = print_state};
        int r = ctd_events_start(&cfg, &e);
        if (r < 0) {
                fprintf(stderr, "cubelet-cri: events: %s: %s\n", endpoint, strerror(-r));
                return 1;
        }
        int sig;
        sigwait(&set, &sig);
        ctd_events_stop(e);
        if (events_output_failed) {
                fprintf(stderr, "cubelet-cri: events: writing the output failed\n");
                return 1;
        }
        return 0;
}

static void usage(FILE *f)
{
        fputs("Usage: cubelet-cri [-r ENDPOINT] version|info|pods [-q]|ps [-a]|inspect CONTAINER_ID|\n"
              "                   inspecti IMAGE|pull IMAGE|runp [--runtime HANDLER] NAME|stopp POD_ID|\n"
              "                   rmp [-f] POD_ID|events\n"
              "  -r, --runtime-endpoint  CRI socket [unix:///run/containerd/containerd.sock]\n"
              "  -t, --timeout MS        per-call deadline [10000]\n",
              f);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {{"runtime-endpoint", required_argument, NULL, 'r'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
        const char *ep = getenv("CONTAINER_RUNTIME_ENDPOINT");
        long timeout = 10000;
        struct cri_client *c = NULL;
        int opt, r;

        if (!ep)
                ep = "unix:///run/containerd/containerd.sock";
        while ((opt = getopt_long(argc, argv, "+r:t:h", opts, NULL)) != -1) {
                if (opt == 'r')
                        ep = optarg;
                else if (opt == 't')
                        timeout = atol(optarg);
                else {
                        usage(opt == 'h' ? stdout : stderr);
                        return opt == 'h' ? 0 : 2;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        if (strcmp(argv[optind], "events") == 0 && optind + 1 == argc)
                return cmd_events(ep);
        r = cri_client_new(ep, timeout, &c);
        if (r < 0) {
                fprintf(stderr, "cubelet-cri: invalid endpoint %s: %s\n", ep, strerror(-r));
                return 1;
        }
        const char *cmd = argv[optind], *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
        if (strcmp(cmd, "version") == 0)
                r = cmd_version(c);
        else if (strcmp(cmd, "info") == 0)
                r = cmd_info(c);
        else if (strcmp(cmd, "pods") == 0)
                r = cmd_pods(c, arg && strcmp(arg, "-q") == 0);
        else if (strcmp(cmd, "ps") == 0)
                r = cmd_ps(c, optind + 1 < argc && strcmp(argv[optind + 1], "-a") == 0);
        else if (strcmp(cmd, "inspect") == 0 && optind + 1 < argc)
                r = cmd_inspect(c, argv[optind + 1]);
        else if (strcmp(cmd, "runp") == 0 && optind + 3 < argc && strcmp(argv[optind + 1], "--runtime") == 0)
                r = cmd_runp(c, argv[optind + 2], argv[optind + 3]);
        else if (strcmp(cmd, "runp") == 0 && optind + 1 < argc)
                r = cmd_runp(c, "", argv[optind + 1]);
        else if (strcmp(cmd, "inspecti") == 0 && arg)
                r = cmd_inspecti(c, arg);
        else if (strcmp(cmd, "pull") == 0 && arg)
                r = cmd_pull(c, arg);
        else if (strcmp(cmd, "stopp") == 0 && arg)
                r = cmd_stopp(c, arg);
        else if (strcmp(cmd, "rmp") == 0 && arg && strcmp(arg, "-f") == 0 && optind + 2 < argc)
                r = cmd_rmp(c, argv[optind + 2]);
        else if (strcmp(cmd, "rmp") == 0 && arg)
                r = cmd_rmp(c, arg);
        else {
                usage(stderr);
                r = 2;
        }
        cri_client_free(c);
        return r;
}
