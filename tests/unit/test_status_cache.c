/* The runtime status cache (agent/pod/status_cache.c): statuses kept per (container, state), sandbox IPs,
 * what is not kept, what goes after a while unused, and what goes when the runtime removed it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "cri.h"
#include "status_cache.h"
#include "util.h"

#define MIN_MS (60 * 1000)

static void put_status(struct status_cache *c, const char *id, Runtime__V1__ContainerState state,
                       int32_t exit_code, int64_t now_ms)
{
        Runtime__V1__ContainerStatus st = RUNTIME__V1__CONTAINER_STATUS__INIT;
        Runtime__V1__ContainerStatusResponse resp = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
        Runtime__V1__ContainerStatusResponse__InfoEntry
                info = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INFO_ENTRY__INIT,
                *infos[] = {&info};
        info.key = "info";
        info.value = "{\"pid\": 42}";
        st.id = (char *) id;
        st.state = state;
        st.exit_code = exit_code;
        st.started_at = 1000;
        st.reason = state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED ? "Error" : "";
        resp.status = &st;
        resp.n_info = 1;
        resp.info = infos;
        status_cache_put_container(c, &resp, now_ms);
}

static void test_containers(void **state)
{
        (void) state;
        struct status_cache *c = status_cache_new();
        const Runtime__V1__ContainerState RUNNING = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING,
                                          EXITED = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED,
                                          CREATED = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED,
                                          UNKNOWN = RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
        assert_null(status_cache_container(c, "a", RUNNING, 0));

        /* kept per state: a RUNNING status does not answer for the container once it is listed EXITED */
        put_status(c, "a", RUNNING, 0, 0);
        Runtime__V1__ContainerStatusResponse *r = status_cache_container(c, "a", RUNNING, 1);
        assert_non_null(r);
        assert_string_equal(r->status->id, "a");
        assert_int_equal(r->status->state, RUNNING);
        assert_int_equal(r->status->started_at, 1000);
        assert_int_equal(r->n_info, 0); /* the verbose info is not kept */
        cri_free(r);
        assert_null(status_cache_container(c, "a", EXITED, 1));
        put_status(c, "a", EXITED, 137, 2);
        r = status_cache_container(c, "a", EXITED, 3);
        assert_non_null(r);
        assert_int_equal(r->status->exit_code, 137);
        assert_string_equal(r->status->reason, "Error");
        cri_free(r);
        assert_int_equal(status_cache_size(c), 2);

        /* states that move on their own are not kept */
        put_status(c, "b", CREATED, 0, 4);
        put_status(c, "c", UNKNOWN, 0, 4);
        assert_null(status_cache_container(c, "b", CREATED, 5));
        assert_null(status_cache_container(c, "c", UNKNOWN, 5));
        status_cache_put_container(c, NULL, 5);
        assert_int_equal(status_cache_size(c), 2);

        /* used entries stay; one unused for ten minutes goes (checked at most once a minute, on a put) */
        for (int64_t t = MIN_MS; t <= 12 * MIN_MS; t += MIN_MS) {
                r = status_cache_container(c, "a", RUNNING, t);
                assert_non_null(r);
                cri_free(r);
                put_status(c, "d", RUNNING, 0, t);
        }
        assert_int_equal(status_cache_size(c), 2); /* "a" RUNNING and "d"; "a" EXITED went */
        assert_null(status_cache_container(c, "a", EXITED, 12 * MIN_MS));
        status_cache_free(c);
        assert_null(status_cache_free(NULL));
        assert_null(status_cache_container(NULL, "a", RUNNING, 0));
}

static void test_sandbox_ips(void **state)
{
        (void) state;
        struct status_cache *c = status_cache_new();
        assert_null(status_cache_sandbox_ip(c, "s1", 0));
        status_cache_put_sandbox_ip(c, "s1", "10.1.0.7", 0);
        status_cache_put_sandbox_ip(c, "s2", "", 0); /* host network: known to have none */
        status_cache_put_sandbox_ip(c, "", "10.1.0.8", 0);
        char *ip = status_cache_sandbox_ip(c, "s1", 1);
        assert_string_equal(ip, "10.1.0.7");
        free(ip);
        ip = status_cache_sandbox_ip(c, "s2", 1);
        assert_string_equal(ip, "");
        free(ip);
        /* a container's status under the same ID is another entry */
        assert_null(status_cache_container(c, "s1", RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING, 1));
        assert_int_equal(status_cache_size(c), 2);
        status_cache_free(c);
}

/* A container or sandbox the runtime removed goes at once, whatever its states; the others stay. */
static void test_forget(void **state)
{
        (void) state;
        struct status_cache *c = status_cache_new();
        put_status(c, "a", RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING, 0, 0);
        put_status(c, "a", RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED, 1, 1);
        put_status(c, "b", RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING, 0, 1);
        status_cache_put_sandbox_ip(c, "s", "10.1.0.9", 1);
        assert_int_equal(status_cache_size(c), 4);
        status_cache_forget(c, "a");
        assert_int_equal(status_cache_size(c), 2);
        assert_null(status_cache_container(c, "a", RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED, 2));
        Runtime__V1__ContainerStatusResponse *r =
                status_cache_container(c, "b", RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING, 2);
        assert_non_null(r);
        cri_free(r);
        status_cache_forget(c, "nothing");
        status_cache_forget(c, NULL);
        status_cache_forget(NULL, "b");
        assert_int_equal(status_cache_size(c), 2);
        status_cache_forget(c, "s");
        assert_null(status_cache_sandbox_ip(c, "s", 3));
        status_cache_forget(c, "b");
        assert_int_equal(status_cache_size(c), 0);
        /* an emptied cache takes entries again */
        status_cache_put_sandbox_ip(c, "s", "10.1.0.9", 4);
        assert_int_equal(status_cache_size(c), 1);
        status_cache_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_containers),
                cmocka_unit_test(test_sandbox_ips),
                cmocka_unit_test(test_forget),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
