/* Time to compile a typical seccomp profile (an allow-list of every syscall the native architecture has,
 * default ERRNO, as the runtime's default profile is shaped) with libseccomp, as cubelet does before it
 * creates a container with a Localhost profile. Prints the median of N runs. */
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seccomp_profile.h"
#include "util.h"

static int cmp(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        int runs = argc > 1 ? atoi(argv[1]) : 200;
        size_t cap = 1 << 16, len = 0;
        char *p = malloc(cap);
        unsigned n = 0;
        len += (size_t) snprintf(
                p + len, cap - len,
                "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_X86_64\", "
                "\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"], \"syscalls\": [{\"action\": "
                "\"SCMP_ACT_ALLOW\", \"names\": [");
        for (int nr = 0; nr < 460; nr++) {
                char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
                if (!name)
                        continue;
                len += (size_t) snprintf(p + len, cap - len, "%s\"%s\"", n++ ? ", " : "", name);
                free(name);
        }
        len += (size_t) snprintf(
                p + len, cap - len,
                "]}, {\"action\": \"SCMP_ACT_ERRNO\", \"names\": [\"personality\"], \"args\": "
                "[{\"index\": 0, \"value\": 8, \"op\": \"SCMP_CMP_NE\"}]}]}");
        double *ms = calloc((size_t) runs, sizeof *ms);
        char err[512];
        for (int i = 0; i < runs; i++) {
                struct timespec a, b;
                clock_gettime(CLOCK_MONOTONIC, &a);
                if (seccomp_compile(p, len, err, sizeof err) < 0) {
                        fprintf(stderr, "bench_seccomp: %s\n", err);
                        return 1;
                }
                clock_gettime(CLOCK_MONOTONIC, &b);
                ms[i] = (double) (b.tv_sec - a.tv_sec) * 1e3 + (double) (b.tv_nsec - a.tv_nsec) / 1e6;
        }
        qsort(ms, (size_t) runs, sizeof *ms, cmp);
        printf("seccomp profile with %u syscalls, 3 architectures: compile median %.2f ms, p90 %.2f ms (%d "
               "runs; "
               "cached by content hash afterwards)\n",
               n, ms[runs / 2], ms[runs * 9 / 10], runs);
        free(ms);
        free(p);
        return 0;
}
