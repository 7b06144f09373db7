/* Forced into every translation unit (-include, top CMakeLists.txt). cubelet is threaded throughout, so the
 * libc calls that keep hidden static state are refused at compile time: use their _r forms (strtok_r,
 * localtime_r, gmtime_r, getpwnam_r, inet_ntop...). Two threads running strtok at once corrupted each
 * other's state once (the node thread's /etc/os-release read and admission's /proc/meminfo read).
 * _GNU_SOURCE comes from the command line, so these headers see the same feature macros as the sources. */
#pragma once

#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#pragma GCC poison strtok localtime gmtime asctime inet_ntoa getpwnam getpwuid getgrnam getgrgid
