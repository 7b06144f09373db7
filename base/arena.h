/* A bag of allocations freed together: for building nested request messages without per-field frees. */
#pragma once

#include <stddef.h>

struct arena {
        void **ptrs;
        size_t n, cap;
};

void *arena_alloc(struct arena *a, size_t size);    /* zeroed; aborts on OOM */
char *arena_strdup(struct arena *a, const char *s); /* NULL stays NULL */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(struct arena *a);
static inline void arena_freep(struct arena *a)
{
        arena_free(a);
}
#define _cleanup_arena_ __attribute__((cleanup(arena_freep)))
