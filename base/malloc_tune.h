/* How cubelet's memory allocator is set up, first thing in main(): see malloc_tune.c. */
#pragma once

/* glibc's per-thread caches off (starts the program again once, through /proc/self/exe, with GLIBC_TUNABLES
 * saying so; the second start puts the environment back) and one malloc arena. Returns when the program
 * runs as it should: the caller goes on. */
void malloc_tune(char **argv);
