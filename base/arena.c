/* A bag of allocations freed together. */
#include "arena.h"

#include <stdarg.h>
#include <stdio.h>

#include "macro.h"

static void *arena_keep(struct arena *a, void *p)
{
        if (a->n == a->cap) {
                a->cap = a->cap ? a->cap * 2 : 32;
                a->ptrs = OOM_CHECK(realloc(a->ptrs, a->cap * sizeof(void *)));
        }
        a->ptrs[a->n++] = p;
        return p;
}

void *arena_alloc(struct arena *a, size_t size)
{
        return arena_keep(a, OOM_CHECK(calloc(1, size ? size : 1)));
}

char *arena_strdup(struct arena *a, const char *s)
{
        return s ? arena_keep(a, OOM_CHECK(strdup(s))) : NULL;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
        va_list ap;
        char *s;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                xmalloc_oom();
        return arena_keep(a, s);
}

void arena_free(struct arena *a)
{
        for (size_t i = 0; i < a->n; i++)
                free(a->ptrs[i]);
        free(a->ptrs);
        *a = (struct arena){0};
}
