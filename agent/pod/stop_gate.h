/* Teardowns' removals behind every pod's stops. A pod's end has two parts for the runtime: stopping its
 * containers and sandboxes (what `kubectl delete` and a removed manifest wait for: the processes gone, the
 * network down) and removing them (bookkeeping: snapshots, metadata, the runtime's slowest calls). The
 * upstream kubelet only stops, and its container GC removes a minute later; cubelet removes at once, but
 * not while another pod's teardown is still stopping: removals held until no stop is in flight (or a bound)
 * leave containerd to the stops, so a burst of deletions ends sooner. Thread-safe; NULL is a gate that
 * never holds anyone. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct stop_gate;

/* bound_ms: the longest a removal is held back (> 0). */
struct stop_gate *stop_gate_new(int64_t bound_ms);
struct stop_gate *stop_gate_free(struct stop_gate *g);

/* A teardown's stop phase begins / ends; every enter has its leave. */
void stop_gate_enter(struct stop_gate *g);
void stop_gate_leave(struct stop_gate *g);

/* Waits until no stop phase is in flight, the bound has passed or the gate is closed. True when it found no
 * stop in flight; false when the bound or the close ended the wait. */
bool stop_gate_wait(struct stop_gate *g);

/* Shutdown: waiters return now, later waits do not wait. */
void stop_gate_close(struct stop_gate *g);

/* Teardowns waiting now (tests). */
unsigned stop_gate_waiting(struct stop_gate *g);
