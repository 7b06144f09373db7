/* Small libc-only helpers: files, directories, time, strings, hashing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* Monotonic and wall clocks in milliseconds, microseconds / nanoseconds. */
int64_t now_mono_ms(void);
int64_t now_mono_us(void);
int64_t now_real_ns(void);

/* Reads a whole regular file of at most max bytes (NUL-terminated). -EFBIG when larger. */
int read_file_limit(const char *path, size_t max, char **ret, size_t *ret_len);
/* Writes data to path atomically (temp file + rename), mode for the new file. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

int mkdir_p(const char *path, mode_t mode);
/* Removes a tree without following symlinks and without crossing into other mounts. */
int rm_rf(const char *path);

/* printf into a fresh string; aborts on OOM. */
char *strdup_printf(const char *fmt, ...) _printf_(1, 2);
char *xstrdup(const char *s); /* NULL stays NULL */
bool str_has_suffix(const char *s, const char *suffix);
bool str_has_prefix(const char *s, const char *prefix);

/* NULL-terminated string vectors. */
/* a + b for quantities that cannot go negative, saturating at INT64_MAX instead of wrapping (a manifest can
 * ask for 9e18 of something twice). */
static inline int64_t add_sat(int64_t a, int64_t b)
{
        int64_t r;
        return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

/* A URL fit for logs: a password in its user info replaced by "xxxxx", as Go's url.Redacted (caller frees). */
char *url_redacted(const char *url);

char **strv_free(char **v);
size_t strv_length(char *const *v);
int strv_push(char ***v, char *s);                /* takes s */
char *strv_join(char *const *v, const char *sep); /* "" for an empty or NULL list */
DEFINE_CLEANUP_FUNC(char *, strv_free)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Condition variables on the monotonic clock, so waits survive wall-clock jumps. */
#include <pthread.h>
#include <time.h>
void cond_init_monotonic(pthread_cond_t *c);
/* Waits at most ms (monotonic); returns like pthread_cond_timedwait. */
int cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, int64_t ms);
/* The CLOCK_MONOTONIC time ms from now (a negative ms counts as 0), for the *_timedwait and *_clocklock
 * calls. */
struct timespec mono_ts_in_ms(int64_t ms);

/* Opens path with flags (O_NOFOLLOW and O_CLOEXEC added) following no symlink below root: from root down
 * every component is opened O_PATH|O_NOFOLLOW ("." and ".." refused: -EINVAL) and must be a directory but
 * the last (-ELOOP for a link, -ENOTDIR otherwise). root itself, and the path to it, are followed. With root
 * NULL, or path not below it, only the last component is guarded. For files a process other than the
 * caller's trusted users can change under the caller: pod log directories a pod may hold a hostPath on. */
int open_nofollow_below(const char *root, const char *path, int flags);

/* As Go's time.Duration.String for whole milliseconds: "1m0s", "20s", "1.5s", "250ms". */
void format_duration_ms(int64_t ms, char *buf, size_t len);

/* Standard or URL-safe base64; whitespace ignored, padding optional. *ret is NUL-terminated too. */
int base64_decode(const char *s, char **ret, size_t *ret_len);

/* 64-bit FNV-1a, for stable content hashes. */
uint64_t hash_fnv1a64(const void *data, size_t len, uint64_t seed);
#define HASH_FNV_SEED 0xcbf29ce484222325ULL

/* HTTP header fields as Go's net/http checks and writes them (probes, the manifest URL): a name is an RFC 7230
 * token; a value has no control character but tab (no CR LF smuggling); the canonical name is Go's
 * CanonicalMIMEHeaderKey ("x-custom" -> "X-Custom"), what upstream sends. */
bool http_header_name_valid(const char *s);
bool http_header_value_valid(const char *s);
void http_header_name_canonical(const char *s, char *buf, size_t len);
