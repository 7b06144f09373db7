/* PLEG health as /healthz judges it (the runtime's last relist, upstream's 3-minute threshold, 10 with
 * events), and the relist period by the event stream's state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pleg.h"

static void test_healthy(void **state)
{
        struct pleg_health h = {.relist_ok = true, .last_ok_ms = 1000, .last_relist_ms = 1000};
        char buf[512];
        assert_true(pleg_health_check(&h, 2000, "unix:///x.sock", buf, sizeof buf));
        assert_string_equal(buf, "[+]runtime ok\n");
}

static void test_runtime_down(void **state)
{
        struct pleg_health h = {.relist_ok = false, .last_ok_ms = 1000};
        char buf[512];
        strcpy(h.error, "ListPodSandbox: rpc error: code = Unavailable desc = connection refused");
        assert_false(pleg_health_check(&h, 2000, "unix:///x.sock", buf, sizeof buf));
        assert_non_null(strstr(buf,
                               "[-]runtime failed: container runtime unix:///x.sock: ListPodSandbox: rpc "
                               "error: code = Unavailable"));
        assert_null(strstr(buf, "PLEG is not healthy")); /* not for 3 minutes */
}

static void test_pleg_not_healthy_after_three_minutes(void **state)
{
        struct pleg_health h = {.relist_ok = false, .last_ok_ms = 1000};
        char buf[512];
        strcpy(h.error, "deadline exceeded");
        int64_t now = 1000 + PLEG_RELIST_THRESHOLD_MS + 5000;
        assert_false(pleg_health_check(&h, now, "unix:///x.sock", buf, sizeof buf));
        assert_non_null(strstr(buf,
                               "[-]pleg failed: PLEG is not healthy: pleg was last seen active 185s ago; "
                               "threshold is 3m0s"));
        /* Exactly at the threshold it is still healthy, as upstream (strictly greater). */
        h.relist_ok = true;
        assert_true(pleg_health_check(&h, 1000 + PLEG_RELIST_THRESHOLD_MS, "e", buf, sizeof buf));
}

static void test_small_buffer(void **state)
{
        struct pleg_health h = {.relist_ok = false, .last_ok_ms = 1};
        char buf[8];
        strcpy(h.error, "a long error message that does not fit");
        assert_false(pleg_health_check(&h, PLEG_RELIST_THRESHOLD_MS * 2, "e", buf, sizeof buf));
        assert_int_equal(strlen(buf), sizeof buf - 1);
}

/* With the event stream up the safety relist runs every 5 minutes (upstream's evented PLEG); while it is
 * down, or without one, every second. */
static void test_period(void **state)
{
        struct pleg_config c = {
                .period_ms = 1000, .evented_period_ms = 300000, .event_endpoint = "unix:///x"};
        assert_int_equal(pleg_period_ms(&c, true), 300000);
        assert_int_equal(pleg_period_ms(&c, false), 1000);
        /* No stream configured: the short period, whatever the state says. */
        c.event_endpoint = NULL;
        assert_int_equal(pleg_period_ms(&c, true), 1000);
        /* An evented period not above the other is not used; 0 periods are upstream's 1 s. */
        c.event_endpoint = "unix:///x";
        c.evented_period_ms = 500;
        assert_int_equal(pleg_period_ms(&c, true), 1000);
        c.period_ms = 0;
        c.evented_period_ms = 0;
        assert_int_equal(pleg_period_ms(&c, true), 1000);
}

/* A relist every 5 minutes needs the evented threshold (10 minutes), named in the message. */
static void test_evented_threshold(void **state)
{
        struct pleg_health h = {.relist_ok = true, .last_ok_ms = 1000, .threshold_ms = 600000};
        char buf[512];
        assert_true(pleg_health_check(&h, 1000 + 300000, "e", buf, sizeof buf));
        assert_true(pleg_health_active(&h, 1000 + 600000, buf, sizeof buf));
        assert_false(pleg_health_check(&h, 1000 + 601000, "e", buf, sizeof buf));
        assert_non_null(strstr(buf,
                               "[-]pleg failed: PLEG is not healthy: pleg was last seen active 601s ago; "
                               "threshold is 10m0s"));
        assert_false(pleg_health_active(&h, 1000 + 601000, buf, sizeof buf));
        assert_string_equal(buf,
                            "PLEG is not healthy: pleg was last seen active 601s ago; threshold is 10m0s");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_healthy),
                cmocka_unit_test(test_runtime_down),
                cmocka_unit_test(test_pleg_not_healthy_after_three_minutes),
                cmocka_unit_test(test_small_buffer),
                cmocka_unit_test(test_period),
                cmocka_unit_test(test_evented_threshold),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
