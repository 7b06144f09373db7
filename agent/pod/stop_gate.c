/* Removals behind the stops: a count of stop phases in flight and a condition their waiters sleep on. */
#include "stop_gate.h"

#include <pthread.h>
#include <stdlib.h>

#include "macro.h"
#include "util.h"

struct stop_gate {
        pthread_mutex_t lock;
        pthread_cond_t idle; /* broadcast when the count reaches 0 and on close */
        unsigned stopping, waiting;
        bool closed;
        int64_t bound_ms;
};

struct stop_gate *stop_gate_new(int64_t bound_ms)
{
        struct stop_gate *g = OOM_CHECK(calloc(1, sizeof *g));
        pthread_mutex_init(&g->lock, NULL);
        cond_init_monotonic(&g->idle);
        g->bound_ms = bound_ms > 0 ? bound_ms : 1;
        return g;
}

struct stop_gate *stop_gate_free(struct stop_gate *g)
{
        if (!g)
                return NULL;
        pthread_cond_destroy(&g->idle);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
}

void stop_gate_enter(struct stop_gate *g)
{
        if (!g)
                return;
        pthread_mutex_lock(&g->lock);
        g->stopping++;
        pthread_mutex_unlock(&g->lock);
}

void stop_gate_leave(struct stop_gate *g)
{
        if (!g)
                return;
        pthread_mutex_lock(&g->lock);
        if (g->stopping > 0 && --g->stopping == 0)
                pthread_cond_broadcast(&g->idle);
        pthread_mutex_unlock(&g->lock);
}

bool stop_gate_wait(struct stop_gate *g)
{
        if (!g)
                return true;
        int64_t until = now_mono_ms() + g->bound_ms;
        pthread_mutex_lock(&g->lock);
        g->waiting++;
        for (int64_t now = now_mono_ms(); g->stopping > 0 && !g->closed && now < until; now = now_mono_ms())
                cond_wait_ms(&g->idle, &g->lock, until - now);
        bool idle = g->stopping == 0;
        g->waiting--;
        pthread_mutex_unlock(&g->lock);
        return idle;
}

void stop_gate_close(struct stop_gate *g)
{
        if (!g)
                return;
        pthread_mutex_lock(&g->lock);
        g->closed = true;
        pthread_cond_broadcast(&g->idle);
        pthread_mutex_unlock(&g->lock);
}

unsigned stop_gate_waiting(struct stop_gate *g)
{
        if (!g)
                return 0;
        pthread_mutex_lock(&g->lock);
        unsigned n = g->waiting;
        pthread_mutex_unlock(&g->lock);
        return n;
}
