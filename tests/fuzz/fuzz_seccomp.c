/* libFuzzer target for Localhost seccomp profiles (the OCI/Docker JSON a pod names from the node's
 * profile directory), compiled with libseccomp as agent/security/seccomp_profile.c does before a container
 * is created. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seccomp_profile.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exact-size copy, not NUL-terminated, so that reading past len is caught. */
        char *buf = malloc(size ? size : 1);
        char err1[256], err2[256];
        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        err1[0] = err2[0] = 0;
        int r1 = seccomp_compile(buf, size, err1, sizeof err1);
        int r2 = seccomp_compile(buf, size, err2, sizeof err2);
        /* Properties: a refusal says why, and the verdict and reason are the same each time. */
        if ((r1 < 0 && !err1[0]) || r1 != r2 || (r1 < 0 && !streq(err1, err2))) {
                fprintf(stderr, "seccomp_compile broke its contract (%d/%d): %s | %s\n", r1, r2, err1, err2);
                abort();
        }
        free(buf);
        return 0;
}
