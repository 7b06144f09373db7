/* Rotated container logs: naming, which files are removed and which compressed, gzip round trips, and
 * compression failures that leave the plain log as it was. */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "logrotate.h"
#include "util.h"

static char *make_dir(void)
{
        char tmpl[] = "/tmp/test-logrotate.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        return xstrdup(tmpl);
}

static void put(const char *dir, const char *name, const void *data, size_t len)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, name);
        assert_int_equal(write_file_atomic(p, data, len, 0640), 0);
}

static bool exists(const char *dir, const char *name)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, name);
        return access(p, F_OK) == 0;
}

/* Every entry of dir, sorted, joined by spaces. */
static char *listing(const char *dir)
{
        struct dirent **ents;
        int n = scandir(dir, &ents, NULL, alphasort);
        assert_true(n >= 0);
        char *s = xstrdup("");
        for (int i = 0; i < n; i++) {
                if (ents[i]->d_name[0] != '.') {
                        char *t = strdup_printf("%s%s%s", s, s[0] ? " " : "", ents[i]->d_name);
                        free(s);
                        s = t;
                }
                free(ents[i]);
        }
        free(ents);
        return s;
}

static char *joined(char *const *v)
{
        char *s = xstrdup("");
        for (size_t i = 0; v && v[i]; i++) {
                char *t = strdup_printf("%s%s%s", s, s[0] ? " " : "", v[i]);
                free(s);
                s = t;
        }
        return s;
}

/* The whole of a gzip file, decompressed with zlib's own reader. */
static char *gunzip_file(const char *path, size_t *ret_len)
{
        gzFile f = gzopen(path, "rb");
        assert_non_null(f);
        size_t cap = 1 << 16, len = 0;
        char *buf = OOM_CHECK(malloc(cap));
        for (;;) {
                if (cap - len < 1 << 15)
                        buf = OOM_CHECK(realloc(buf, cap *= 2));
                int k = gzread(f, buf + len, (unsigned) (cap - len));
                assert_true(k >= 0);
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        assert_int_equal(gzclose(f), Z_OK);
        *ret_len = len;
        return buf;
}

/* CRI-style lines with a counter, as a container writes them. */
static char *cri_lines(int from, int count, size_t *ret_len)
{
        size_t cap = (size_t) count * 64 + 1, len = 0;
        char *s = OOM_CHECK(malloc(cap));
        for (int i = from; i < from + count; i++) {
                int k = snprintf(s + len, cap - len, "2026-11-27T04:05:06.%09dZ stdout F line-%d\n", i, i);
                assert_true(k > 0 && (size_t) k < cap - len);
                len += (size_t) k;
        }
        *ret_len = len;
        return s;
}

static void test_rotated_name(void **state)
{
        (void) state;
        _cleanup_free_ char *saved = xstrdup(getenv("TZ"));
        setenv("TZ", "UTC", 1);
        tzset();
        _cleanup_free_ char *utc = log_rotated_name("/var/log/pods/ns_p_u/c/0.log", 1795752306);
        assert_string_equal(utc, "/var/log/pods/ns_p_u/c/0.log.20261127-040506");
        /* Local time, as upstream: two hours east of UTC. */
        setenv("TZ", "XYZ-2", 1);
        tzset();
        _cleanup_free_ char *local = log_rotated_name("0.log", 1795752306);
        assert_string_equal(local, "0.log.20261127-060506");
        if (saved)
                setenv("TZ", saved, 1);
        else
                unsetenv("TZ");
        tzset();
}

static void check_plan(char **names, int max_rotated, const char *want_remove, const char *want_compress)
{
        struct log_rotated_plan plan;
        log_rotated_plan_make("0.log", names, max_rotated, &plan);
        _cleanup_free_ char *rm = joined(plan.remove), *gz = joined(plan.compress);
        assert_string_equal(rm, want_remove);
        assert_string_equal(gz, want_compress);
        log_rotated_plan_clear(&plan);
        assert_null(plan.remove);
        assert_null(plan.compress);
}

static void test_plan(void **state)
{
        (void) state;
        char *names[] = {"0.log.20261127-040300",
                         "0.log",
                         "0.log.20261127-040000.gz",
                         "0.log.20261127-040100", /* compressed already: its .gz is there */
                         "0.log.20261127-040100.gz",
                         "0.log.20261127-040200.tmp", /* a compression cut short */
                         "0.log.20261127-040200",
                         "0.log.20261127-040400",
                         "1.log.20261127-040000",
                         "0.logx",
                         "10.log.20261127-040000",
                         NULL};
        /* In use: 040000.gz 040100.gz 040200 040300 040400. Four rotated files may stay (with the live
         * one, containerLogMaxFiles 5); the newest rotated (040400) stays plain. */
        check_plan(names, 4, "0.log.20261127-040100 0.log.20261127-040200.tmp 0.log.20261127-040000.gz",
                   "0.log.20261127-040200 0.log.20261127-040300");
        check_plan(names, 2,
                   "0.log.20261127-040100 0.log.20261127-040200.tmp 0.log.20261127-040000.gz "
                   "0.log.20261127-040100.gz 0.log.20261127-040200",
                   "0.log.20261127-040300");
        /* One: only the newest rotated, never compressed. */
        check_plan(names, 1,
                   "0.log.20261127-040100 0.log.20261127-040200.tmp 0.log.20261127-040000.gz "
                   "0.log.20261127-040100.gz 0.log.20261127-040200 0.log.20261127-040300",
                   "");
        /* None (before rotating with containerLogMaxFiles 2): every rotated file goes. */
        check_plan(names, 0,
                   "0.log.20261127-040100 0.log.20261127-040200.tmp 0.log.20261127-040000.gz "
                   "0.log.20261127-040100.gz 0.log.20261127-040200 0.log.20261127-040300 "
                   "0.log.20261127-040400",
                   "");
        /* Room for everything: nothing old goes, all but the newest are compressed. */
        check_plan(names, 10, "0.log.20261127-040100 0.log.20261127-040200.tmp",
                   "0.log.20261127-040200 0.log.20261127-040300");

        char *one[] = {"0.log", "0.log.20261127-040000", NULL};
        check_plan(one, 4, "", "");
        char *none[] = {"0.log", NULL};
        check_plan(none, 4, "", "");
        check_plan(NULL, 4, "", "");
}

static void test_compress_round_trip(void **state)
{
        (void) state;
        _cleanup_free_ char *dir = make_dir();
        size_t len;
        _cleanup_free_ char *content = cri_lines(0, 20000, &len);
        put(dir, "0.log.20261127-040000", content, len);
        put(dir, "0.log.20261127-040100", "", 0);
        _cleanup_free_ char *p = strdup_printf("%s/0.log.20261127-040000", dir);
        _cleanup_free_ char *empty = strdup_printf("%s/0.log.20261127-040100", dir);
        const char *step = "untouched";
        assert_int_equal(log_compress(p, NULL, &step), 0);
        assert_string_equal(step, "untouched");
        assert_int_equal(log_compress(empty, NULL, NULL), 0);
        _cleanup_free_ char *ls = listing(dir);
        assert_string_equal(ls, "0.log.20261127-040000.gz 0.log.20261127-040100.gz");

        _cleanup_free_ char *gz = strdup_printf("%s.gz", p);
        struct stat st;
        assert_int_equal(stat(gz, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640); /* the log's mode, as upstream */
        assert_true((size_t) st.st_size < len / 4);
        size_t back_len;
        _cleanup_free_ char *back = gunzip_file(gz, &back_len);
        assert_int_equal(back_len, len);
        assert_memory_equal(back, content, len);

        _cleanup_free_ char *egz = strdup_printf("%s.gz", empty);
        _cleanup_free_ char *eback = gunzip_file(egz, &back_len);
        assert_int_equal(back_len, 0);
        rm_rf(dir);
}

/* Incompressible bytes, so that the .gz is about as large as the log. */
static char *noise(size_t len)
{
        char *s = OOM_CHECK(malloc(len));
        uint64_t x = 0x9e3779b97f4a7c15ULL;
        for (size_t i = 0; i < len; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                s[i] = (char) (x >> 24);
        }
        return s;
}

static void test_compress_write_fails(void **state)
{
        (void) state;
        _cleanup_free_ char *dir = make_dir();
        const size_t len = 1 << 20;
        _cleanup_free_ char *content = noise(len);
        put(dir, "0.log.20261127-040000", content, len);
        _cleanup_free_ char *p = strdup_printf("%s/0.log.20261127-040000", dir);

        /* A file size limit stands in for a full disk: the temporary file cannot grow past 64 KiB. */
        struct rlimit saved, small = {.rlim_cur = 64 << 10};
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
        small.rlim_max = saved.rlim_max;
        void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
        const char *step = NULL;
        int r = log_compress(p, NULL, &step);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
        signal(SIGXFSZ, old);

        assert_int_equal(r, -EFBIG);
        assert_string_equal(step, "write the temporary file");
        _cleanup_free_ char *ls = listing(dir);
        assert_string_equal(ls, "0.log.20261127-040000"); /* no .tmp, no .gz */
        char *back;
        size_t back_len;
        assert_int_equal(read_file_limit(p, 2 * len, &back, &back_len), 0);
        assert_int_equal(back_len, len);
        assert_memory_equal(back, content, len);
        free(back);
        rm_rf(dir);
}

static void test_compress_cancel_and_missing(void **state)
{
        (void) state;
        _cleanup_free_ char *dir = make_dir();
        put(dir, "0.log.20261127-040000", "x\n", 2);
        _cleanup_free_ char *p = strdup_printf("%s/0.log.20261127-040000", dir);
        atomic_bool stop = true;
        const char *step = NULL;
        assert_int_equal(log_compress(p, &stop, &step), -ECANCELED);
        assert_non_null(step);
        _cleanup_free_ char *ls = listing(dir);
        assert_string_equal(ls, "0.log.20261127-040000");

        _cleanup_free_ char *gone = strdup_printf("%s/0.log.20261127-000000", dir);
        assert_int_equal(log_compress(gone, NULL, &step), -ENOENT);
        assert_string_equal(step, "open the log");
        _cleanup_free_ char *ls2 = listing(dir);
        assert_string_equal(ls2, "0.log.20261127-040000");
        rm_rf(dir);
}

static void test_tidy(void **state)
{
        (void) state;
        _cleanup_free_ char *dir = make_dir();
        size_t len[4];
        char *content[4];
        const char *rotated[] = {"0.log.20261127-040000", "0.log.20261127-040100", "0.log.20261127-040200",
                                 "0.log.20261127-040300"};
        for (int i = 0; i < 4; i++) {
                content[i] = cri_lines(i * 100, 100, &len[i]);
                put(dir, rotated[i], content[i], len[i]);
        }
        put(dir, "0.log", "live\n", 5);
        put(dir, "0.log.20261127-035900.tmp", "partial", 7);
        put(dir, "1.log.20261127-040000", "other\n", 6);
        put(dir, "0.logx", "other\n", 6);
        _cleanup_free_ char *log = strdup_printf("%s/0.log", dir);

        /* Before a rotation with containerLogMaxFiles 3: room for the file about to be rotated, nothing
         * compressed yet. */
        assert_int_equal(log_tidy_rotated(NULL, log, 1, false, NULL), 0);
        _cleanup_free_ char *ls0 = listing(dir);
        assert_string_equal(ls0, "0.log 0.log.20261127-040300 0.logx 1.log.20261127-040000");
        /* Put back what went, then after a rotation: the live one, the newest rotated one plain, the one
         * before it gzipped (three files). */
        for (int i = 0; i < 3; i++)
                put(dir, rotated[i], content[i], len[i]);
        put(dir, "0.log.20261127-035900.tmp", "partial", 7);
        assert_int_equal(log_tidy_rotated(NULL, log, 2, true, NULL), 1);
        _cleanup_free_ char *ls = listing(dir);
        assert_string_equal(ls, "0.log 0.log.20261127-040200.gz 0.log.20261127-040300 0.logx "
                                "1.log.20261127-040000");
        _cleanup_free_ char *gz = strdup_printf("%s/%s.gz", dir, rotated[2]);
        size_t back_len;
        _cleanup_free_ char *back = gunzip_file(gz, &back_len);
        assert_int_equal(back_len, len[2]);
        assert_memory_equal(back, content[2], len[2]);
        assert_true(exists(dir, rotated[3]));

        /* The next rotation: the .gz is the oldest and goes; nothing is compressed twice. */
        assert_int_equal(log_tidy_rotated(NULL, log, 1, false, NULL), 0);
        put(dir, "0.log.20261127-040400", "newest\n", 7);
        assert_int_equal(log_tidy_rotated(NULL, log, 2, true, NULL), 1);
        _cleanup_free_ char *ls2 = listing(dir);
        assert_string_equal(ls2, "0.log 0.log.20261127-040300.gz 0.log.20261127-040400 0.logx "
                                 "1.log.20261127-040000");
        assert_int_equal(log_tidy_rotated(NULL, log, 2, true, NULL), 0);

        _cleanup_free_ char *missing = strdup_printf("%s/nodir/0.log", dir);
        assert_int_equal(log_tidy_rotated(NULL, missing, 2, true, NULL), -ENOENT);

        /* Below the pod logs directory no link is followed: a pod that swapped its container's directory
         * for a link to this one (through a hostPath) gets nothing removed or compressed here. */
        _cleanup_free_ char *pods = strdup_printf("%s/pods", dir),
                            *pod = strdup_printf("%s/pods/ns_p_1", dir),
                            *via = strdup_printf("%s/pods/ns_p_1/c/0.log", dir),
                            *link = strdup_printf("%s/pods/ns_p_1/c", dir);
        assert_int_equal(mkdir_p(pod, 0755), 0);
        assert_int_equal(symlink(dir, link), 0);
        _cleanup_free_ char *before = listing(dir);
        assert_int_equal(log_tidy_rotated(pods, via, 0, true, NULL), -ELOOP);
        _cleanup_free_ char *after = listing(dir);
        assert_string_equal(after, before);
        for (int i = 0; i < 4; i++)
                free(content[i]);
        rm_rf(dir);
}

/* Whether a pass has anything to ask the runtime about: a "*.log" two levels below the pod logs directory
 * above the size; rotated files, files elsewhere and links do not count. */
static void test_needed(void **state)
{
        (void) state;
        _cleanup_free_ char *dir = make_dir();
        _cleanup_free_ char *pods = strdup_printf("%s/pods", dir),
                            *c = strdup_printf("%s/pods/ns_p_1/c", dir),
                            *d = strdup_printf("%s/pods/ns_q_2/d", dir), *big = strdup_printf("%s/big", dir),
                            *link = strdup_printf("%s/pods/ns_q_2/d/2.log", dir),
                            *dlink = strdup_printf("%s/pods/ns_r_3", dir),
                            *outside = strdup_printf("%s/outside", dir),
                            *outside_c = strdup_printf("%s/outside/c", dir);
        assert_true(log_rotate_needed(NULL, 10));
        assert_false(log_rotate_needed(pods, 10)); /* not made yet: nothing has logged */
        assert_int_equal(mkdir_p(c, 0755), 0);
        assert_int_equal(mkdir_p(d, 0755), 0);
        put(c, "0.log", "0123456789", 10);
        put(c, "0.log.20261127-040000", "0123456789abcdef", 16);
        put(c, "0.log.20261127-035900.gz", "0123456789abcdef", 16);
        put(d, "1.log", "01234", 5);
        put(dir, "big", "0123456789abcdef", 16);
        put(pods, "stray.log", "0123456789abcdef", 16);
        assert_int_equal(symlink(big, link), 0);
        assert_int_equal(mkdir_p(outside_c, 0755), 0);
        put(outside_c, "0.log", "0123456789abcdef", 16);
        assert_int_equal(symlink(outside, dlink), 0);
        assert_false(log_rotate_needed(pods, 11));
        assert_true(log_rotate_needed(pods, 10)); /* at the size: rotated, as upstream */
        put(d, "1.log", "0123456789abc", 13);
        assert_true(log_rotate_needed(pods, 11));
        /* a container whose live log is gone (a rotation cut short): the runtime must reopen it */
        put(d, "1.log", "0", 1);
        assert_false(log_rotate_needed(pods, 11));
        _cleanup_free_ char *c0 = strdup_printf("%s/0.log", c);
        assert_int_equal(unlink(c0), 0);
        assert_true(log_rotate_needed(pods, 11));
        rm_rf(dir);
}

static void set_size(const char *dir, const char *name, off_t len)
{
        _cleanup_free_ char *p = strdup_printf("%s/%s", dir, name);
        assert_int_equal(truncate(p, len), 0); /* in place: no directory changes */
}

/* The watched check: a walk, then the live logs' sizes only, until a directory or a file appears or goes
 * (a new pod, a new container, a restart's new log, a rotation) or a log was over. */
static void test_watch(void **state)
{
        (void) state;
        _cleanup_free_ char *dir = make_dir();
        _cleanup_free_ char *pods = strdup_printf("%s/pods", dir),
                            *c = strdup_printf("%s/pods/ns_p_1/c", dir),
                            *d = strdup_printf("%s/pods/ns_q_2/d", dir);
        struct log_watch *lw = log_watch_new(pods);
        assert_false(log_watch_needed(lw, 10)); /* not made yet: nothing has logged */
        assert_false(log_watch_needed(lw, 10));
        assert_int_equal(log_watch_walks(lw), 2); /* nothing to watch yet: every check walks */
        assert_int_equal(mkdir_p(c, 0755), 0);
        put(c, "0.log", "01234", 5);
        assert_false(log_watch_needed(lw, 10));
        assert_int_equal(log_watch_walks(lw), 3);
        assert_false(log_watch_needed(lw, 10));
        set_size(c, "0.log", 10);
        assert_true(log_watch_needed(lw, 10)); /* grown in place: seen without a walk */
        set_size(c, "0.log", 1);
        assert_false(log_watch_needed(lw, 10));
        assert_int_equal(log_watch_walks(lw), 3);
        assert_false(log_watch_needed(lw, 2)); /* another size: a walk */
        assert_int_equal(log_watch_walks(lw), 4);
        /* a new pod's container: its directories were not watched, the pod logs directory was */
        assert_int_equal(mkdir_p(d, 0755), 0);
        put(d, "1.log", "0123456789abcdef", 16);
        assert_true(log_watch_needed(lw, 10));
        assert_int_equal(log_watch_walks(lw), 5);
        set_size(d, "1.log", 1);
        assert_false(log_watch_needed(lw, 10)); /* over last time: walked again */
        assert_int_equal(log_watch_walks(lw), 6);
        set_size(d, "1.log", 11);
        assert_true(log_watch_needed(lw, 10)); /* the new pod's log is watched now */
        set_size(d, "1.log", 1);
        assert_false(log_watch_needed(lw, 10));
        assert_int_equal(log_watch_walks(lw), 6);
        /* a restart's new log next to the old one */
        put(c, "1.log", "0123456789ab", 12);
        assert_true(log_watch_needed(lw, 10));
        assert_int_equal(log_watch_walks(lw), 7);
        /* the live log renamed away (a rotation cut short before the reopen) */
        _cleanup_free_ char *c1 = strdup_printf("%s/1.log", c), *c0 = strdup_printf("%s/0.log", c),
                            *c0r = strdup_printf("%s/0.log.20261127-040000", c);
        assert_int_equal(unlink(c1), 0);
        assert_false(log_watch_needed(lw, 10));
        assert_int_equal(rename(c0, c0r), 0);
        assert_true(log_watch_needed(lw, 10));
        assert_int_equal(log_watch_walks(lw), 9);
        /* all of it gone and made again: the new directories are watched too */
        rm_rf(pods);
        assert_false(log_watch_needed(lw, 10));
        assert_int_equal(mkdir_p(c, 0755), 0);
        put(c, "0.log", "0", 1);
        assert_false(log_watch_needed(lw, 10));
        unsigned walks = log_watch_walks(lw);
        assert_false(log_watch_needed(lw, 10));
        set_size(c, "0.log", 10);
        assert_true(log_watch_needed(lw, 10));
        assert_int_equal(log_watch_walks(lw), walks);
        log_watch_free(lw);
        rm_rf(dir);
}

/* The /var/log/containers link's name: upstream's, cut to a file name's 255 bytes with its suffix. */
static void test_link_name(void **state)
{
        (void) state;
        _cleanup_free_ char *n = log_container_link_name("web", "default", "nginx", "0123abcd");
        assert_string_equal(n, "web_default_nginx-0123abcd.log");
        char pod[254];
        memset(pod, 'p', sizeof pod - 1);
        pod[sizeof pod - 1] = 0;
        _cleanup_free_ char *l = log_container_link_name(pod, "default", "nginx", "0123abcd");
        assert_int_equal(strlen(l), 255);
        assert_true(strncmp(l, pod, 251) == 0);
        assert_string_equal(l + 251, ".log");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rotated_name),
                cmocka_unit_test(test_plan),
                cmocka_unit_test(test_compress_round_trip),
                cmocka_unit_test(test_compress_write_fails),
                cmocka_unit_test(test_compress_cancel_and_missing),
                cmocka_unit_test(test_tidy),
                cmocka_unit_test(test_needed),
                cmocka_unit_test(test_watch),
                cmocka_unit_test(test_link_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
