/* The floor under bench_pods.sh: N pods made straight through CRI, every pod on a thread of its own at once
 * (a sandbox on the pod network through CNI, one container that exits on SIGTERM), then all torn down at
 * once (StopContainer with a grace period, StopPodSandbox, RemovePodSandbox). No kubelet logic at all:
 * what containerd itself takes for the same work, to set cubelet's figures beside.
 *   bench_cri_floor ENDPOINT N IMAGE LOG_DIR
 * Prints "start_ms <ms>" and "teardown_ms <ms>"; exit 1 when any call failed (what CRI said on stderr). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cri.h"

struct pod {
        struct cri_client *cri;
        const char *image, *log_dir;
        int index;
        char sandbox_id[128], container_id[128];
        int failed;
};

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void fill_sandbox_config(Runtime__V1__PodSandboxConfig *cfg, Runtime__V1__PodSandboxMetadata *md,
                                char *name, char *uid, char *dir)
{
        md->name = name;
        md->namespace_ = (char *) "default";
        md->uid = uid;
        cfg->metadata = md;
        cfg->hostname = name;
        cfg->log_directory = dir;
}

static int check(struct pod *p, const char *what, int r, const struct cri_error *err)
{
        if (r < 0) {
                fprintf(stderr, "floor pod %d: %s: %s\n", p->index, what, cri_error_msg(err, r));
                p->failed = 1;
        }
        return r;
}

static void *start_pod(void *arg)
{
        struct pod *p = arg;
        char name[64], uid[64], dir[512];
        snprintf(name, sizeof name, "floor%d", p->index);
        snprintf(uid, sizeof uid, "floor-uid-%d", p->index);
        snprintf(dir, sizeof dir, "%s/%s", p->log_dir, name);
        mkdir(dir, 0755);

        Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
        Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
        fill_sandbox_config(&cfg, &md, name, uid, dir);
        struct cri_error err = {0};

        Runtime__V1__RunPodSandboxRequest sreq = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__RunPodSandboxResponse *sresp = NULL;
        sreq.config = &cfg;
        if (check(p, "RunPodSandbox",
                  CRI_CALL(p->cri, RuntimeService, RunPodSandbox, run_pod_sandbox, &sreq, &sresp, 0, &err),
                  &err) < 0)
                return NULL;
        snprintf(p->sandbox_id, sizeof p->sandbox_id, "%s", sresp->pod_sandbox_id);
        cri_free(sresp);

        Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__ContainerMetadata cmd = RUNTIME__V1__CONTAINER_METADATA__INIT;
        Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
        char *argv[] = {(char *) "sh", (char *) "-c",
                        (char *) "trap 'exit 0' TERM; while true; do sleep 1; done"};
        cmd.name = (char *) "c";
        img.image = (char *) p->image;
        cc.metadata = &cmd;
        cc.image = &img;
        cc.command = argv;
        cc.n_command = 3;
        cc.log_path = (char *) "c/0.log";
        char cdir[600];
        snprintf(cdir, sizeof cdir, "%s/c", dir);
        mkdir(cdir, 0755);

        Runtime__V1__CreateContainerRequest creq = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
        Runtime__V1__CreateContainerResponse *cresp = NULL;
        creq.pod_sandbox_id = p->sandbox_id;
        creq.config = &cc;
        creq.sandbox_config = &cfg;
        if (check(p, "CreateContainer",
                  CRI_CALL(p->cri, RuntimeService, CreateContainer, create_container, &creq, &cresp, 0,
                           &err),
                  &err) < 0)
                return NULL;
        snprintf(p->container_id, sizeof p->container_id, "%s", cresp->container_id);
        cri_free(cresp);

        Runtime__V1__StartContainerRequest streq = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
        Runtime__V1__StartContainerResponse *stresp = NULL;
        streq.container_id = p->container_id;
        check(p, "StartContainer",
              CRI_CALL(p->cri, RuntimeService, StartContainer, start_container, &streq, &stresp, 0, &err),
              &err);
        cri_free(stresp);
        return NULL;
}

static void *stop_pod(void *arg)
{
        struct pod *p = arg;
        struct cri_error err = {0};
        if (p->container_id[0]) {
                Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
                Runtime__V1__StopContainerResponse *resp = NULL;
                req.container_id = p->container_id;
                req.timeout = 30;
                check(p, "StopContainer",
                      CRI_CALL(p->cri, RuntimeService, StopContainer, stop_container, &req, &resp, 0, &err),
                      &err);
                cri_free(resp);
        }
        if (!p->sandbox_id[0])
                return NULL;
        Runtime__V1__StopPodSandboxRequest sreq = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__StopPodSandboxResponse *sresp = NULL;
        sreq.pod_sandbox_id = p->sandbox_id;
        check(p, "StopPodSandbox",
              CRI_CALL(p->cri, RuntimeService, StopPodSandbox, stop_pod_sandbox, &sreq, &sresp, 0, &err),
              &err);
        cri_free(sresp);
        Runtime__V1__RemovePodSandboxRequest rreq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__RemovePodSandboxResponse *rresp = NULL;
        rreq.pod_sandbox_id = p->sandbox_id;
        check(p, "RemovePodSandbox",
              CRI_CALL(p->cri, RuntimeService, RemovePodSandbox, remove_pod_sandbox, &rreq, &rresp, 0, &err),
              &err);
        cri_free(rresp);
        return NULL;
}

/* Runs fn on every pod at once; returns the wall time until the last one finished. */
static int64_t all_at_once(struct pod *pods, int n, void *(*fn)(void *) )
{
        pthread_t *t = calloc((size_t) n, sizeof *t);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        int64_t t0 = now_ms();
        for (int i = 0; i < n; i++)
                if (pthread_create(&t[i], &attr, fn, &pods[i]) != 0) {
                        fprintf(stderr, "floor: pthread_create failed\n");
                        exit(1);
                }
        for (int i = 0; i < n; i++)
                pthread_join(t[i], NULL);
        int64_t ms = now_ms() - t0;
        pthread_attr_destroy(&attr);
        free(t);
        return ms;
}

int main(int argc, char **argv)
{
        if (argc != 5) {
                fprintf(stderr, "usage: bench_cri_floor ENDPOINT N IMAGE LOG_DIR\n");
                return 2;
        }
        int n = atoi(argv[2]);
        if (n <= 0 || n > 1000) {
                fprintf(stderr, "bench_cri_floor: N must be 1-1000\n");
                return 2;
        }
        struct cri_client *cri;
        int r = cri_client_new(argv[1], 120000, &cri);
        if (r < 0) {
                fprintf(stderr, "bench_cri_floor: %s: %s\n", argv[1], strerror(-r));
                return 2;
        }
        struct pod *pods = calloc((size_t) n, sizeof *pods);
        for (int i = 0; i < n; i++)
                pods[i] = (struct pod){.cri = cri, .image = argv[3], .log_dir = argv[4], .index = i + 1};
        int64_t start = all_at_once(pods, n, start_pod);
        int64_t stop = all_at_once(pods, n, stop_pod);
        int failed = 0;
        for (int i = 0; i < n; i++)
                failed |= pods[i].failed;
        printf("start_ms %lld\nteardown_ms %lld\n", (long long) start, (long long) stop);
        free(pods);
        cri_client_free(cri);
        return failed;
}
