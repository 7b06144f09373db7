/* klog-compatible log lines on stderr. */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

int log_verbosity = 0;

void *xmalloc_oom(void)
{
        fputs("cubelet: out of memory\n", stderr);
        abort();
}

void log_emit(enum log_level lvl, const char *file, int line, const char *msg, const char *fmt, ...)
{
        static const char letters[] = {'I', 'W', 'E'};
        struct timeval tv;
        struct tm tm;
        char buf[4096];
        const char *base = strrchr(file, '/');
        int n;

        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        n = snprintf(buf, sizeof buf, "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] \"%s\"", letters[lvl],
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long) tv.tv_usec,
                     (int) getpid(), base ? base + 1 : file, line, msg);
        if (n < 0)
                return;
        if (fmt && fmt[0] && (size_t) n < sizeof buf - 2) {
                va_list ap;
                buf[n++] = ' ';
                va_start(ap, fmt);
                int m = vsnprintf(buf + n, sizeof buf - n, fmt, ap);
                va_end(ap);
                if (m > 0)
                        n += m;
        }
        if ((size_t) n >= sizeof buf - 1)
                n = sizeof buf - 2;
        buf[n++] = '\n';
        /* One write per line so lines from several threads never interleave. */
        (void) !write(STDERR_FILENO, buf, n);
}

/* log_q's ring is allocated by a thread's first call, freed when the thread ends: in static TLS it made
 * 16 KiB of every thread's stack resident (glibc clears a new thread's TLS), logging or not. */
#define Q_RING 8
#define Q_LEN  2048
static pthread_key_t q_key;
static pthread_once_t q_once = PTHREAD_ONCE_INIT;
static __thread char (*ring)[Q_LEN];
static __thread unsigned next;

static void q_free(void *p)
{
        free(p);
        ring = NULL; /* a later thread-exit destructor that logs gets a new one (freed in turn) */
}

static void q_key_make(void)
{
        if (pthread_key_create(&q_key, q_free) != 0)
                abort();
}

const char *log_q(const char *s)
{
        if (!ring) {
                (void) pthread_once(&q_once, q_key_make);
                ring = malloc(Q_RING * sizeof *ring);
                if (!ring)
                        abort();
                (void) pthread_setspecific(q_key, ring);
        }
        char *out = ring[next++ % Q_RING];
        size_t n = 0, max = Q_LEN - 5;

        for (; s && *s && n < max; s++) {
                char c = *s;
                if (c == '"' || c == '\\') {
                        out[n++] = '\\';
                        out[n++] = c;
                } else if (c == '\n') {
                        out[n++] = '\\';
                        out[n++] = 'n';
                } else
                        out[n++] = c;
        }
        if (s && *s)
                memcpy(out + n, "...", 3), n += 3;
        out[n] = 0;
        return out;
}
