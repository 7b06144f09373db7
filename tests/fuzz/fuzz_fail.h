/* For fuzz targets: a broken property is a crash, with a line saying which. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#define FAIL(...)                                                                                           \
        do {                                                                                                \
                fprintf(stderr, __VA_ARGS__);                                                               \
                fputc('\n', stderr);                                                                        \
                abort();                                                                                    \
        } while (0)
