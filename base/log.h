/* klog-compatible logging: `I1126 21:35:25.228771    1234 file.c:42] "Message" key="value"`. */
#pragma once

#include <stdarg.h>
#include "macro.h"

enum log_level { LOG_LVL_INFO, LOG_LVL_WARNING, LOG_LVL_ERROR };

extern int log_verbosity;

/* Writes one line: the constant message is quoted, then `fmt` (a literal, may be empty) with its
 * ` key="value"` pairs. The macros paste "" before the format so it must be a string literal. */
void log_emit(enum log_level lvl, const char *file, int line, const char *msg, const char *fmt, ...)
        _printf_(5, 6);

#define log_info(msg, ...)  log_emit(LOG_LVL_INFO, __FILE__, __LINE__, msg, "" __VA_ARGS__)
#define log_warn(msg, ...)  log_emit(LOG_LVL_WARNING, __FILE__, __LINE__, msg, "" __VA_ARGS__)
#define log_error(msg, ...) log_emit(LOG_LVL_ERROR, __FILE__, __LINE__, msg, "" __VA_ARGS__)
/* Verbose info, shown with -v >= n. */
#define log_v(n, msg, ...)                                                                                  \
        do {                                                                                                \
                if (log_verbosity >= (n))                                                                   \
                        log_emit(LOG_LVL_INFO, __FILE__, __LINE__, msg, "" __VA_ARGS__);                    \
        } while (0)

/* A value escaped for a quoted log field (\" \\ \n), as klog prints it. Returns a thread-local buffer from a
 * small ring: valid until the same thread has made 8 more calls. Long values are cut with "...". */
const char *log_q(const char *s);
