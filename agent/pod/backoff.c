/* Per-container restart back-off (CrashLoopBackOff) and per-image pull back-off, with upstream's rules.
 * Thread-safe. */
#include "backoff.h"

#include <pthread.h>

#include "util.h"

struct entry {
        char *key;
        int64_t delay_ms;
        int64_t last_ms;
};

struct backoff {
        pthread_mutex_t lock;
        int64_t initial_ms, max_ms;
        struct entry *e;
        size_t n;
};

struct backoff *backoff_new(int64_t initial_ms, int64_t max_ms)
{
        struct backoff *b = OOM_CHECK(calloc(1, sizeof *b));
        pthread_mutex_init(&b->lock, NULL);
        b->initial_ms = initial_ms;
        b->max_ms = max_ms;
        return b;
}

struct backoff *backoff_free(struct backoff *b)
{
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n; i++)
                free(b->e[i].key);
        free(b->e);
        pthread_mutex_destroy(&b->lock);
        free(b);
        return NULL;
}

static struct entry *find(struct backoff *b, const char *key)
{
        for (size_t i = 0; i < b->n; i++)
                if (streq(b->e[i].key, key))
                        return &b->e[i];
        return NULL;
}

static bool expired(const struct backoff *b, const struct entry *e, int64_t now_ms)
{
        return now_ms - e->last_ms > 2 * b->max_ms;
}

bool backoff_in_backoff(struct backoff *b, const char *key, int64_t finished_ms, int64_t now_ms,
                        int64_t *ret_delay_ms, int64_t *ret_left_ms)
{
        bool in = false;
        pthread_mutex_lock(&b->lock);
        struct entry *e = find(b, key);
        if (e && !expired(b, e, now_ms) && now_ms - finished_ms < e->delay_ms) {
                in = true;
                *ret_delay_ms = e->delay_ms;
                *ret_left_ms = e->delay_ms - (now_ms - finished_ms);
        }
        pthread_mutex_unlock(&b->lock);
        return in;
}

bool backoff_in_backoff_since_update(struct backoff *b, const char *key, int64_t now_ms,
                                     int64_t *ret_left_ms)
{
        bool in = false;
        pthread_mutex_lock(&b->lock);
        struct entry *e = find(b, key);
        if (e && !expired(b, e, now_ms) && now_ms - e->last_ms < e->delay_ms) {
                in = true;
                *ret_left_ms = e->delay_ms - (now_ms - e->last_ms);
        }
        pthread_mutex_unlock(&b->lock);
        return in;
}

void backoff_next(struct backoff *b, const char *key, int64_t finished_ms, int64_t now_ms)
{
        pthread_mutex_lock(&b->lock);
        struct entry *e = find(b, key);
        if (!e) {
                b->e = OOM_CHECK(realloc(b->e, (b->n + 1) * sizeof *b->e));
                e = &b->e[b->n++];
                *e = (struct entry){.key = xstrdup(key), .delay_ms = b->initial_ms};
        } else if (expired(b, e, now_ms))
                e->delay_ms = b->initial_ms;
        else
                e->delay_ms = MIN(e->delay_ms * 2, b->max_ms);
        e->last_ms = finished_ms;
        pthread_mutex_unlock(&b->lock);
}

void backoff_forget_prefix(struct backoff *b, const char *prefix)
{
        pthread_mutex_lock(&b->lock);
        for (size_t i = 0; i < b->n;) {
                if (str_has_prefix(b->e[i].key, prefix)) {
                        free(b->e[i].key);
                        b->e[i] = b->e[--b->n];
                } else
                        i++;
        }
        pthread_mutex_unlock(&b->lock);
}
