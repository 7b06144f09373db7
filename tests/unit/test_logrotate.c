/* Pruning rotated container logs: the newest max_files - 1 rotated files stay, older ones go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "logrotate.h"
#include "util.h"

static void test_prune(void **state)
{
        char dir[] = "/tmp/test-logrotate.XXXXXX";
        assert_non_null(mkdtemp(dir));
        const char *names[] = {"0.log",
                               "0.log.20261127-040000",
                               "0.log.20261127-040100",
                               "0.log.20261127-040200",
                               "0.log.20261127-040300",
                               "1.log.20261127-040000",
                               "0.logx"};
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, names[i]);
                assert_int_equal(write_file_atomic(p, "x", 1, 0644), 0);
        }
        _cleanup_free_ char *log = strdup_printf("%s/0.log", dir);
        assert_int_equal(log_prune_rotated(log, 3), 2);
        const char *kept[] = {"0.log", "0.log.20261127-040200", "0.log.20261127-040300",
                              "1.log.20261127-040000", "0.logx"};
        const char *gone[] = {"0.log.20261127-040000", "0.log.20261127-040100"};
        for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, kept[i]);
                assert_int_equal(access(p, F_OK), 0);
        }
        for (size_t i = 0; i < sizeof gone / sizeof *gone; i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, gone[i]);
                assert_int_not_equal(access(p, F_OK), 0);
        }
        assert_int_equal(log_prune_rotated(log, 3), 0);
        rm_rf(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_prune)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
