/* CrashLoopBackOff arithmetic: upstream's flowcontrol.Backoff rules, on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

#define S 1000 /* ms */

static void test_first_restart_at_once_then_doubling(void **state)
{
        struct backoff *b = backoff_new(10 * S, 300 * S);
        int64_t delay = 0, left = 0, t = 1000000 * (int64_t) S;

        /* First exit: no entry, no back-off; the restart records it. */
        assert_false(backoff_in_backoff(b, "k", t, t, &delay, &left));
        backoff_next(b, "k", t, t);
        /* Second exit right after: wait 10 s from that exit. */
        t += S;
        assert_true(backoff_in_backoff(b, "k", t, t + 4 * S, &delay, &left));
        assert_int_equal(delay, 10 * S);
        assert_int_equal(left, 6 * S);
        assert_false(backoff_in_backoff(b, "k", t, t + 10 * S, &delay, &left));
        backoff_next(b, "k", t, t + 10 * S);
        /* Then 20, 40, 80, 160, 300 (cap), 300. */
        int64_t want[] = {20, 40, 80, 160, 300, 300};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                t += 11 * S;
                assert_true(backoff_in_backoff(b, "k", t, t + S, &delay, &left));
                assert_int_equal(delay, want[i] * S);
                backoff_next(b, "k", t, t + delay);
        }
        backoff_free(b);
}

static void test_forgotten_after_twice_the_cap(void **state)
{
        struct backoff *b = backoff_new(10 * S, 300 * S);
        int64_t delay, left, t = 1000000 * (int64_t) S;

        backoff_next(b, "k", t, t);
        backoff_next(b, "k", t + S, t + 11 * S); /* now 20 s */
        /* 600 s without a failure: the entry has expired, the next exit restarts at once, from 10 s. */
        int64_t later = t + S + 601 * S;
        assert_false(backoff_in_backoff(b, "k", later, later, &delay, &left));
        backoff_next(b, "k", later, later);
        assert_true(backoff_in_backoff(b, "k", later + S, later + 2 * S, &delay, &left));
        assert_int_equal(delay, 10 * S);
        backoff_free(b);
}

static void test_keys_are_independent_and_forgotten_by_prefix(void **state)
{
        struct backoff *b = backoff_new(10 * S, 300 * S);
        int64_t delay, left, t = 1000000 * (int64_t) S;

        backoff_next(b, "uid1/a", t, t);
        assert_true(backoff_in_backoff(b, "uid1/a", t + S, t + 2 * S, &delay, &left));
        assert_false(backoff_in_backoff(b, "uid1/b", t + S, t + 2 * S, &delay, &left));
        backoff_next(b, "uid2/a", t, t);
        backoff_forget_prefix(b, "uid1/");
        assert_false(backoff_in_backoff(b, "uid1/a", t + S, t + 2 * S, &delay, &left));
        assert_true(backoff_in_backoff(b, "uid2/a", t + S, t + 2 * S, &delay, &left));
        backoff_free(b);
}

/* Image pulls (IsInBackOffSinceUpdate): measured from the last failure, 10 s doubling to the cap. */
static void test_since_update(void **state)
{
        struct backoff *b = backoff_new(10000, 300000);
        int64_t left = -1;
        assert_false(backoff_in_backoff_since_update(b, "uid_img", 1000, &left));
        backoff_next(b, "uid_img", 1000, 1000);
        assert_true(backoff_in_backoff_since_update(b, "uid_img", 1000, &left));
        assert_int_equal(left, 10000);
        assert_true(backoff_in_backoff_since_update(b, "uid_img", 10999, &left));
        assert_int_equal(left, 1);
        assert_false(backoff_in_backoff_since_update(b, "uid_img", 11000, &left));
        backoff_next(b, "uid_img", 11000, 11000);
        assert_true(backoff_in_backoff_since_update(b, "uid_img", 30999, &left));
        assert_false(backoff_in_backoff_since_update(b, "uid_img", 31000, &left));
        for (int i = 0; i < 10; i++)
                backoff_next(b, "uid_img", 31000, 31000);
        assert_true(backoff_in_backoff_since_update(b, "uid_img", 31000 + 299999, &left));
        assert_false(backoff_in_backoff_since_update(b, "uid_img", 31000 + 300000, &left));
        /* Forgotten with the pod, as the crash-loop keys. */
        backoff_forget_prefix(b, "uid");
        assert_false(backoff_in_backoff_since_update(b, "uid_img", 31001, &left));
        backoff_free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_first_restart_at_once_then_doubling),
                cmocka_unit_test(test_forgotten_after_twice_the_cap),
                cmocka_unit_test(test_keys_are_independent_and_forgotten_by_prefix),
                cmocka_unit_test(test_since_update),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
