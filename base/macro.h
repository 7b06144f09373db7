/* Cleanup attributes, ownership hand-off and small helpers shared by every module (libc only). */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _pure_         __attribute__((pure))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#undef MIN
#undef MAX
#define MIN(a, b)                                                                                           \
        ({                                                                                                  \
                __typeof__(a) _a = (a);                                                                     \
                __typeof__(b) _b = (b);                                                                     \
                _a < _b ? _a : _b;                                                                          \
        })
#define MAX(a, b)                                                                                           \
        ({                                                                                                  \
                __typeof__(a) _a = (a);                                                                     \
                __typeof__(b) _b = (b);                                                                     \
                _a > _b ? _a : _b;                                                                          \
        })

/* Hand ownership on: returns the value and clears the variable so its cleanup does nothing. */
#define TAKE_PTR(p)                                                                                         \
        ({                                                                                                  \
                __typeof__(p) _p = (p);                                                                     \
                (p) = NULL;                                                                                 \
                _p;                                                                                         \
        })
#define TAKE_FD(fd)                                                                                         \
        ({                                                                                                  \
                int _fd = (fd);                                                                             \
                (fd) = -1;                                                                                  \
                _fd;                                                                                        \
        })

static inline void freep(void *p)
{
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Declares `static inline void name##p(type **p)` calling func(*p) when non-NULL. */
#define DEFINE_CLEANUP_FUNC(type, func)                                                                     \
        static inline void func##p(type **p)                                                                \
        {                                                                                                   \
                if (*p)                                                                                     \
                        func(*p);                                                                           \
        }

static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}

/* Abort on out-of-memory: the one place outside main allowed to end the process (STYLE.md). */
void *xmalloc_oom(void) __attribute__((noreturn));
#define OOM_CHECK(p)                                                                                        \
        ({                                                                                                  \
                __typeof__(p) _q = (p);                                                                     \
                _q ? _q : xmalloc_oom();                                                                    \
        })

static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
#define streq(a, b) (strcmp((a), (b)) == 0)
