/* $(VAR) expansion: upstream's expansion cases (one context and two), subPathExpr, the kubelet's subPath check. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expansion.h"
#include "util.h"

static char **strv_of(const char *const *pairs)
{
        char **v = NULL;
        for (; pairs && *pairs; pairs++)
                strv_push(&v, xstrdup(*pairs));
        return v;
}

struct expand_case {
        const char *in, *want;
};

/* Every case holds whether the variables come from one list or from two. */
static const struct expand_case CASES[] = {
        {"$(VAR_A)", "A"},
        {"$(VAR_A)-$(VAR_A)", "A-A"},
        {"$(VAR_A)-1", "A-1"},
        {"___$(VAR_B)___", "___B___"},
        {"___$(VAR_C)", "___C"},
        {"$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"},
        {"$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"},
        {"$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"},
        {"f000-$$VAR_A", "f000-$VAR_A"},
        {"foo\\$(VAR_C)bar", "foo\\Cbar"},
        {"foo\\\\$(VAR_C)bar", "foo\\\\Cbar"},
        {"foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"},
        {"$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"},
        {"$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"},
        {"$(VAR_REF)", "$(VAR_A)"}, /* a value is not expanded again */
        {"%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"},
        {"foo$(VAR_EMPTY)bar", "foobar"},
        {"foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"},
        {"f00__(VAR_A)__", "f00__(VAR_A)__"},
        {"$?_boo_$!", "$?_boo_$!"},
        {"$VAR_A", "$VAR_A"},
        {"$(VAR_DNE)", "$(VAR_DNE)"},
        {"$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"},
        {"$$$$$$(VAR_A)", "$$$(VAR_A)"},
        {"$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"},
        {"$$$$$$$(VAR_A)", "$$$A"},
        {"$VAR_A)", "$VAR_A)"},
        {"${VAR_A}", "${VAR_A}"},
        {"$(VAR_B)_______$(A", "B_______$(A"},
        {"$(VAR_C)_______$(", "C_______$("},
        {"$(VAR_A)foobarzab$", "Afoobarzab$"},
        {"foo-\\$(VAR_A", "foo-\\$(VAR_A"},
        {"--$($($($($--", "--$($($($($--"},
        {"$($($($($--foo$(", "$($($($($--foo$("},
        {"foo0--$($($($(", "foo0--$($($($("},
        {"$(foo$$var)", "$(foo$$var)"},
        {"\n", "\n"},
        /* beyond upstream's list: the empty string, a lone "$", "$()" (an empty name, undefined) */
        {"", ""},
        {"$", "$"},
        {"$()", "$()"},
        {"a$$", "a$"},
};

static void check_cases(char **first, char **second)
{
        for (size_t i = 0; i < ELEMENTSOF(CASES); i++) {
                _cleanup_free_ char *got = expand_env(CASES[i].in, first, second);
                if (!streq(got, CASES[i].want))
                        fail_msg("expand(\"%s\"): got \"%s\", want \"%s\"", CASES[i].in, got, CASES[i].want);
        }
}

static void test_mapping(void **state)
{
        static const char *const ctx[] = {"VAR_A",   "A",        "VAR_B",     "B", "VAR_C", "C",
                                          "VAR_REF", "$(VAR_A)", "VAR_EMPTY", "",  NULL};
        _cleanup_strv_free_ char **env = strv_of(ctx);
        check_cases(env, NULL);
        check_cases(NULL, env);
}

static void test_mapping_dual(void **state)
{
        static const char *const one[] = {"VAR_A", "A", "VAR_EMPTY", "", NULL};
        static const char *const two[] = {"VAR_B", "B", "VAR_C", "C", "VAR_REF", "$(VAR_A)", NULL};
        _cleanup_strv_free_ char **a = strv_of(one), **b = strv_of(two);
        check_cases(a, b);

        /* The first list wins over the second. */
        static const char *const shadow[] = {"VAR_A", "from-two", NULL};
        _cleanup_strv_free_ char **c = strv_of(shadow);
        _cleanup_free_ char *s = expand_env("$(VAR_A)", a, c);
        assert_string_equal(s, "A");
}

/* upstream's TestMapReference: each variable sees the ones declared before it. */
static void test_map_reference(void **state)
{
        static const char *const decl[] = {"FOO", "bar", "ZOO", "$(FOO)-1", "BLU", "$(ZOO)-2", NULL};
        char **env = NULL;
        for (const char *const *p = decl; *p; p += 2) {
                char *v = expand_env(p[1], env, NULL);
                strv_push(&env, xstrdup(p[0]));
                strv_push(&env, v);
        }
        assert_string_equal(env_lookup(env, "FOO", 3), "bar");
        assert_string_equal(env_lookup(env, "ZOO", 3), "bar-1");
        assert_string_equal(env_lookup(env, "BLU", 3), "bar-1-2");
        assert_null(env_lookup(env, "BL", 2));
        strv_free(env);
}

static void test_sub_path_expr(void **state)
{
        static const char *const vars[] = {"POD_NAME", "web-0", "NS", "default", "EMPTY", "", NULL};
        _cleanup_strv_free_ char **env = strv_of(vars);
        char *out = NULL, err[128];

        assert_int_equal(expand_sub_path("$(NS)/$(POD_NAME)/$$x", env, &out, err, sizeof err), 0);
        assert_string_equal(out, "default/web-0/$x");
        free(out);
        out = NULL;
        /* Undefined and empty names are both missing; named once each, sorted. */
        assert_int_equal(expand_sub_path("$(ZED)/$(EMPTY)/$(ZED)/$(ABC)", env, &out, err, sizeof err),
                         -EINVAL);
        assert_null(out);
        assert_string_equal(err, "missing value for ABC, EMPTY, ZED");
        /* An unterminated reference is not a name. */
        assert_int_equal(expand_sub_path("logs/$(POD_NAME", env, &out, err, sizeof err), 0);
        assert_string_equal(out, "logs/$(POD_NAME");
        free(out);
}

static void test_sub_path_check(void **state)
{
        char err[128];
        assert_int_equal(sub_path_check("a/b", err, sizeof err), 0);
        assert_int_equal(sub_path_check("a..b/..c/d..", err, sizeof err), 0);
        assert_int_equal(sub_path_check("/etc", err, sizeof err), -EINVAL);
        assert_string_equal(err, "error SubPath `/etc` must not be an absolute path");
        const char *climbs[] = {"..", "../x", "a/..", "a/../b", "a//../b"};
        for (size_t i = 0; i < ELEMENTSOF(climbs); i++) {
                assert_int_equal(sub_path_check(climbs[i], err, sizeof err), -EINVAL);
                _cleanup_free_ char *want =
                        strdup_printf("unable to provision SubPath `%s`: must not contain '..'", climbs[i]);
                assert_string_equal(err, want);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mapping),        cmocka_unit_test(test_mapping_dual),
                cmocka_unit_test(test_map_reference),  cmocka_unit_test(test_sub_path_expr),
                cmocka_unit_test(test_sub_path_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
