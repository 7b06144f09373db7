/* The memory allocator's settings for a long-running daemon with many short-lived threads. */
#include "malloc_tune.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "util.h"

#define TUNED_ENV    "CUBELET_MALLOC_TUNED" /* set across the re-exec: the original GLIBC_TUNABLES, or "" */
#define TCACHE_TUNED "glibc.malloc.tcache_count=0"

/* glibc's per-thread caches of freed chunks (tcache, up to 7 per size class per thread) keep tens of KiB
 * per long-lived thread away from the heap, where they would coalesce and be trimmed: with 30 pods, 0.8 MiB
 * of cubelet's 5 MiB of private memory. A program can turn them off only through GLIBC_TUNABLES before it
 * starts, so cubelet starts itself again once with it set, then puts the environment back as it was for
 * what it runs. Not when GLIBC_TUNABLES already says what the tcache should be (how to keep the caches:
 * glibc.malloc.tcache_count=7), nor under a sanitizer, valgrind, a tracer or an explicit ld.so. */
/* Whether a debugger or tracer runs cubelet (a re-exec would surprise it). */
static bool traced(void)
{
        _cleanup_free_ char *status = NULL;
        if (read_file_limit("/proc/self/status", 1 << 16, &status, NULL) < 0)
                return false;
        const char *tp = strstr(status, "\nTracerPid:");
        return tp && strtol(tp + 11, NULL, 10) != 0;
}

/* Started as "ld.so cubelet ...": /proc/self/exe is the loader, which would take argv[1] for the program. */
static bool started_by_ld_so(void)
{
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
                return true; /* nothing to start again anyway */
        exe[n] = 0;
        const char *base = strrchr(exe, '/');
        return strncmp(base ? base + 1 : exe, "ld-", 3) == 0;
}

static void tcache_off(char **argv)
{
        const char *tuned = getenv(TUNED_ENV);
        if (tuned) {
                /* the name it was started by, not "exe" (ps, pgrep, top; threads inherit it) */
                const char *slash = argv[0] ? strrchr(argv[0], '/') : NULL;
                (void) prctl(PR_SET_NAME, slash ? slash + 1 : argv[0] ? argv[0] : "cubelet");
                if (tuned[0])
                        setenv("GLIBC_TUNABLES", tuned, 1);
                else
                        unsetenv("GLIBC_TUNABLES");
                unsetenv(TUNED_ENV);
                return;
        }
#if defined(__SANITIZE_ADDRESS__)
        return; /* the sanitizer's allocator is not glibc's */
#endif
        const char *t = getenv("GLIBC_TUNABLES"), *pre = getenv("LD_PRELOAD");
        if ((t && strstr(t, "glibc.malloc.tcache_count")) || (pre && strstr(pre, "vgpreload")) || traced() ||
            started_by_ld_so())
                return;
        _cleanup_free_ char *orig = xstrdup(t ? t : ""),
                            *want = t && t[0] ? strdup_printf("%s:%s", t, TCACHE_TUNED)
                                              : xstrdup(TCACHE_TUNED);
        if (setenv(TUNED_ENV, orig, 1) < 0 || setenv("GLIBC_TUNABLES", want, 1) < 0)
                return;
        execv("/proc/self/exe", argv);
        /* no /proc: run on with the caches */
        if (orig[0])
                setenv("GLIBC_TUNABLES", orig, 1);
        else
                unsetenv("GLIBC_TUNABLES");
        unsetenv(TUNED_ENV);
}

void malloc_tune(char **argv)
{
        tcache_off(argv);
        /* A pod worker thread per busy pod: glibc would give each its own malloc arena (up to 8 per core), each
         * keeping freed memory; one arena holds cubelet's small, short-lived allocations as well, with less
         * of it scattered between pages that cannot be given back. */
        mallopt(M_ARENA_MAX, 1);
}
