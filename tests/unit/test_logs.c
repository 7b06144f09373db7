/* Unit tests for the container log reader: the CRI log line format and kubectl's options. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "logs.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-logs-XXXXXX";

static int setup(void **state)
{
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        return rm_rf(tmpdir) < 0 ? -1 : 0;
}

#define T0 "2026-11-27T03:51:49.107603964Z"
#define T1 "2026-11-27T03:51:50.1Z"
#define T2 "2026-11-27T04:51:51+01:00"

static const char LOG[] = T0 " stdout F line one\n" T1 " stderr P part \n" T1 " stderr F two\n" T2
                             " stdout F line three\n" T2 " stdout F\n" T2 " stdout F unfinished";

static void test_parse(void **state)
{
        struct cri_log_entry e;
        const char *l = T0 " stdout P hello world";
        assert_int_equal(cri_log_parse(l, strlen(l), &e), 0);
        assert_int_equal(e.ts_ns, 1795751509107603964LL);
        assert_int_equal(e.stream_len, 6);
        assert_memory_equal(e.stream, "stdout", 6);
        assert_true(e.partial);
        assert_int_equal(e.msg_len, 11);
        assert_memory_equal(e.msg, "hello world", 11);

        l = T2 " stderr F";
        assert_int_equal(cri_log_parse(l, strlen(l), &e), 0);
        assert_int_equal(e.ts_ns, 1795751511000000000LL);
        assert_false(e.partial);
        assert_int_equal(e.msg_len, 0);

        const char *bad[] = {"", "hello", T0, T0 " ", "2026-13-27T03:51:49Z stdout F x",
                             "2026-11-27 03:51:49Z stdout F x", "2026-11-27T03:51:49.Z stdout F x",
                             "2026-11-27T03:51:49+0100 stdout F x", "1013-11-27T03:51:50.1Z stdout F x",
                             "9999-11-27T03:51:50Z stdout F x",
                             /* strictly upstream's: stdout or stderr, then a tag */
                             T0 " stdin F x", T0 " root:x:0:0:root:/root:/bin/bash", T0 " stdout",
                             T0 " stdout ", "root:x:0:0:root:/root:/bin/bash"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_equal(cri_log_parse(bad[i], strlen(bad[i]), &e), -EINVAL);

        /* Tags are ':'-separated, forward compatible; the first says partial or not. */
        l = T0 " stderr P:x:y more";
        assert_int_equal(cri_log_parse(l, strlen(l), &e), 0);
        assert_true(e.partial);
        assert_int_equal(e.msg_len, 4);
        l = T0 " stdout Px two words";
        assert_int_equal(cri_log_parse(l, strlen(l), &e), 0);
        assert_false(e.partial);
        assert_int_equal(e.msg_len, 9);

        char buf[40];
        rfc3339_format_ns(1795751510100000000LL, buf, sizeof buf);
        assert_string_equal(buf, "2026-11-27T03:51:50.100000000Z");
}

/* Everything the reader gives for the log with options o. */
static char *read_all(const struct log_options *o)
{
        _cleanup_free_ char *path = strdup_printf("%s/0.log", tmpdir);
        struct log_reader *r;
        char *out = calloc(1, 4096), buf[7]; /* a small buffer: output goes out in pieces */
        size_t len = 0;
        ssize_t n;

        assert_int_equal(write_file_atomic(path, LOG, strlen(LOG), 0644), 0);
        assert_int_equal(log_reader_open(path, o, &r), 0);
        while ((n = log_reader_read(r, buf, sizeof buf)) > 0) {
                assert_true(len + (size_t) n < 4096);
                memcpy(out + len, buf, (size_t) n);
                len += (size_t) n;
        }
        assert_int_equal(n, 0);
        log_reader_free(r);
        return out;
}

static void test_read(void **state)
{
        struct log_options o = {.tail = -1};
        char *s = read_all(&o);
        /* A partial entry joins the next; not following, the unfinished last line goes out as it is (no
         * newline: the file has none), as upstream's ReadLogs. */
        assert_string_equal(s, "line one\npart two\nline three\n\nunfinished");
        free(s);
        /* Following, it waits for its newline. */
        o.follow = true;
        s = read_all(&o);
        assert_string_equal(s, "line one\npart two\nline three\n\n");
        free(s);

        o = (struct log_options){.tail = -1, .timestamps = true};
        s = read_all(&o);
        assert_string_equal(s, T0 " line one\n"
                                  "2026-11-27T03:51:50.100000000Z part 2026-11-27T03:51:50.100000000Z two\n"
                                  "2026-11-27T03:51:51.000000000Z line three\n"
                                  "2026-11-27T03:51:51.000000000Z \n"
                                  "2026-11-27T03:51:51.000000000Z unfinished");
        free(s);

        /* tailLines starts at the last complete lines of the file (upstream's FindTailLineStartIndex) and, not
         * following, writes that many entries and no more (its limited mode): not the unfinished one. */
        o = (struct log_options){.tail = 2};
        s = read_all(&o);
        assert_string_equal(s, "line three\n\n");
        free(s);
        o.tail = 0;
        s = read_all(&o);
        assert_string_equal(s, "");
        free(s);
        o = (struct log_options){.tail = 3, .since_ns = 1795751510900000000LL}; /* an entry too old counts */
        s = read_all(&o);
        assert_string_equal(s, "line three\n\n");
        free(s);
        o = (struct log_options){.tail = 2, .follow = true}; /* following: everything from there on */
        s = read_all(&o);
        assert_string_equal(s, "line three\n\n");
        free(s);
        o = (struct log_options){.tail = 100}; /* fewer entries than that: all of them */
        s = read_all(&o);
        assert_string_equal(s, "line one\npart two\nline three\n\nunfinished");
        free(s);

        o = (struct log_options){.tail = -1, .since_ns = 1795751510000000000LL};
        s = read_all(&o);
        assert_string_equal(s, "part two\nline three\n\nunfinished");
        free(s);

        o = (struct log_options){.tail = -1, .limit = 12};
        s = read_all(&o);
        assert_string_equal(s, "line one\npar");
        free(s);
}

static char *tail_of(const char *text, int64_t lines, size_t bytes)
{
        _cleanup_free_ char *path = strdup_printf("%s/t.log", tmpdir);
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
        return log_tail_string(path, lines, bytes, NULL);
}

/* The FallbackToLogsOnError message: pieces joined by their tags, the last 80 lines of the file, the last
 * 2048 bytes of what they say. */
static void test_tail_string(void **state)
{
        /* `echo -n DONE; exit 1`: the runtime writes the unterminated output as a partial line. */
        _cleanup_free_ char *done = tail_of(T0 " stdout P DONE\n", 80, 2048);
        assert_string_equal(done, "DONE");
        _cleanup_free_ char *both = tail_of(T0 " stdout F out\n" T0 " stderr P err \n" T0
                                               " stderr P and \n" T0 " stderr F more\n" T0 " stdout P last",
                                            80, 2048);
        assert_string_equal(both, "out\nerr and more\nlast");
        assert_null(tail_of("", 80, 2048));
        assert_null(tail_of(T0 " stdout F x\n", 0, 2048));

        /* 100 lines: only the last 80 count (file lines, partial or not). */
        _cleanup_free_ char *many = xstrdup("");
        for (int i = 1; i <= 100; i++) {
                char *n = strdup_printf("%s" T0 " stdout %s %d\n", many, i % 10 == 0 ? "P" : "F", i);
                free(many);
                many = n;
        }
        _cleanup_free_ char *last80 = tail_of(many, 80, 2048);
        assert_true(str_has_prefix(last80, "21\n22\n"));
        assert_true(strstr(last80, "\n29\n3031\n") != NULL); /* "30" is partial: it joins 31 */
        assert_true(str_has_suffix(last80, "\n99\n100"));

        /* More than the byte limit: its last bytes, cut anywhere. */
        _cleanup_free_ char *big = xstrdup("");
        for (int i = 0; i < 40; i++) {
                char *n = strdup_printf(
                        "%s" T0 " stdout F %03d-%s\n", big, i,
                        "0123456789012345678901234567890123456789012345678901234567890123456789");
                free(big);
                big = n;
        }
        _cleanup_free_ char *cut = tail_of(big, 80, 2048);
        assert_int_equal(strlen(cut), 2048);
        assert_true(str_has_suffix(
                cut, "\n039-0123456789012345678901234567890123456789012345678901234567890123456789\n"));
        _cleanup_free_ char *small = tail_of(big, 80, 10);
        assert_string_equal(small, "123456789\n");
        _cleanup_free_ char *small2 = tail_of(big, 80, 5);
        assert_string_equal(small2, "6789\n");
}

/* The FallbackToLogsOnError reader and /containerLogs open only a regular file at the log's path: a
 * symlink (to a root-owned file) is ELOOP, a FIFO (which would block) EINVAL; a file that is not a CRI log
 * gives nothing. */
static void test_tail_string_hostile(void **state)
{
        _cleanup_free_ char *secret = strdup_printf("%s/secret", tmpdir),
                            *link = strdup_printf("%s/l.log", tmpdir),
                            *fifo = strdup_printf("%s/f.log", tmpdir),
                            *plain = strdup_printf("%s/p.log", tmpdir),
                            *dir = strdup_printf("%s/d.log", tmpdir);
        const char *s = T0 " stdout F the secret\n";
        assert_int_equal(write_file_atomic(secret, s, strlen(s), 0600), 0);
        assert_int_equal(symlink(secret, link), 0);
        int e = 0;
        assert_null(log_tail_string(link, 80, 2048, &e));
        assert_int_equal(e, ELOOP);
        struct log_options o = {.tail = -1};
        struct log_reader *r = NULL;
        assert_int_equal(log_reader_open(link, &o, &r), -ELOOP);

        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_null(log_tail_string(fifo, 80, 2048, &e)); /* returns at once: nothing opened the FIFO */
        assert_int_equal(e, EINVAL);
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_null(log_tail_string(dir, 80, 2048, &e));
        assert_int_equal(e, EINVAL);

        const char *passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/bin/false\n";
        assert_int_equal(write_file_atomic(plain, passwd, strlen(passwd), 0644), 0);
        assert_null(log_tail_string(plain, 80, 2048, &e));
        assert_int_equal(e, 0);
}

static void test_find_file(void **state)
{
        _cleanup_free_ char *dir = strdup_printf("%s/c", tmpdir), *path = NULL, *path2 = NULL, *prev = NULL,
                            *prev1 = NULL, *prev0 = NULL, *none = NULL;
        int restart = -1;

        assert_int_equal(log_find_file(dir, INT_MAX, &path, &restart), -ENOENT);
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(log_find_file(dir, INT_MAX, &path, &restart), -ENOENT);
        /* Rotated, compressed and half-compressed files are never picked, even with a higher number. */
        const char *names[] = {"0.log",
                               "2.log",
                               "10.log",
                               "x.log",
                               "3.log.gz",
                               "1.log",
                               "10.log.20261127-040000",
                               "11.log.20261127-040000.gz",
                               "12.log.20261127-040000.tmp",
                               "13.log.tmp"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, names[i]);
                assert_int_equal(write_file_atomic(p, "", 0, 0644), 0);
        }
        assert_int_equal(log_find_file(dir, INT_MAX, &path, &restart), 0);
        assert_true(str_has_suffix(path, "/c/10.log"));
        assert_int_equal(restart, 10);
        assert_int_equal(log_find_file(dir, 10, &path2, &restart), 0);
        assert_true(str_has_suffix(path2, "/c/10.log"));
        /* An instance at most: the newest of those (here 3 to 9 are gone: removed, or never made). */
        assert_int_equal(log_find_file(dir, 9, &prev, &restart), 0);
        assert_true(str_has_suffix(prev, "/c/2.log"));
        assert_int_equal(restart, 2);
        assert_int_equal(log_find_file(dir, 1, &prev1, &restart), 0);
        assert_true(str_has_suffix(prev1, "/c/1.log"));
        assert_int_equal(restart, 1);
        assert_int_equal(log_find_file(dir, 0, &prev0, &restart), 0);
        assert_true(str_has_suffix(prev0, "/c/0.log"));
        restart = 77;
        assert_int_equal(log_find_file(dir, -1, &none, &restart), -ENOENT);
        assert_null(none);
        assert_int_equal(restart, 77);
}

/* --previous: the last terminated instance by the status's IDs and restart count. */
static void test_previous_instance(void **state)
{
        (void) state;
        /* Waiting to restart after the crash (CrashLoopBackOff): the crashed instance is the newest. */
        assert_int_equal(log_previous_instance("containerd://b", "containerd://b", 3), 3);
        /* A newer instance runs, has ended for good, or was created and never started: the one before. */
        assert_int_equal(log_previous_instance("containerd://c", "containerd://b", 4), 3);
        assert_int_equal(log_previous_instance(NULL, "containerd://b", 4), 3);
        assert_int_equal(log_previous_instance("", "containerd://b", 1), 0);
        /* No terminated instance known: none (upstream's "previous terminated container ... not found"). */
        assert_int_equal(log_previous_instance("containerd://c", NULL, 4), -1);
        assert_int_equal(log_previous_instance("containerd://c", "", 4), -1);
        assert_int_equal(log_previous_instance("containerd://c", "containerd://b", -1), -1);
        assert_int_equal(log_previous_instance("containerd://c", "containerd://b", (int64_t) INT_MAX + 1),
                         -1);
        assert_int_equal(log_previous_instance("containerd://c", "containerd://b", 0), -1);
}

/* An empty live file (rotated just before the container's end) gives the newest rotated one beside it. */
static void test_file_or_rotated(void **state)
{
        _cleanup_free_ char *dir = strdup_printf("%s/r", tmpdir), *live = strdup_printf("%s/0.log", dir);
        assert_int_equal(mkdir_p(dir, 0755), 0);
        const char *names[] = {"0.log.20261127-040000",
                               "0.log.20261127-040002",
                               "0.log.20261127-040003.gz",
                               "0.log.20261127-040004.tmp",
                               "0.log.2026112-0400050",
                               "1.log.20261127-040009",
                               "0.log"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, names[i]);
                assert_int_equal(write_file_atomic(p, "", 0, 0644), 0);
        }
        _cleanup_free_ char *got = NULL, *again = NULL, *missing = NULL;
        assert_int_equal(log_file_or_rotated(live, &got), 0);
        assert_true(str_has_suffix(got, "/r/0.log.20261127-040002"));
        /* A live file with something in it is read as it is. */
        assert_int_equal(write_file_atomic(live, "x", 1, 0644), 0);
        assert_int_equal(log_file_or_rotated(live, &again), 0);
        assert_string_equal(again, live);
        _cleanup_free_ char *gone = strdup_printf("%s/9.log", dir);
        assert_int_equal(log_file_or_rotated(gone, &missing), -ENOENT);
        assert_null(missing);
}

/* Below the pod logs directory no component may be a symlink: pod b, with a hostPath on its own log
 * directory, swaps its container's directory for a link to pod a's; every reader refuses it (ELOOP). The
 * pod logs directory itself may be reached through a link (the administrator's). */
static void test_nofollow_below_pods_dir(void **state)
{
        _cleanup_free_ char *pods = strdup_printf("%s/pods", tmpdir),
                            *a = strdup_printf("%s/ns_a_1/c", pods), *b = strdup_printf("%s/ns_b_2", pods),
                            *bc = strdup_printf("%s/ns_b_2/c", pods), *alog = strdup_printf("%s/0.log", a),
                            *blog = strdup_printf("%s/0.log", bc),
                            *plink = strdup_printf("%s/podslink", tmpdir),
                            *via = strdup_printf("%s/podslink/ns_a_1/c/0.log", tmpdir), *path = NULL,
                            *shown = NULL;
        const char *line = T0 " stdout F pod a's secret\n";
        struct log_options o = {.tail = -1};
        struct log_reader *r = NULL;
        int restart = -1, e = 0;

        assert_int_equal(mkdir_p(a, 0755), 0);
        assert_int_equal(mkdir_p(b, 0755), 0);
        assert_int_equal(write_file_atomic(alog, line, strlen(line), 0640), 0);
        assert_int_equal(symlink("../ns_a_1/c", bc), 0);
        assert_int_equal(symlink("pods", plink), 0);

        /* Without the setting only the last component is guarded: the link is followed. */
        char *t = log_tail_string(blog, 10, 2048, &e);
        assert_non_null(t);
        free(t);

        log_set_pods_dir(pods);
        assert_int_equal(log_find_file(bc, INT_MAX, &path, &restart), -ELOOP);
        assert_null(path);
        assert_int_equal(log_file_or_rotated(blog, &shown), -ELOOP);
        assert_int_equal(log_reader_open(blog, &o, &r), -ELOOP);
        assert_null(log_tail_string(blog, 10, 2048, &e));
        assert_int_equal(e, ELOOP);
        /* "." and ".." are refused, not resolved. */
        _cleanup_free_ char *dots = strdup_printf("%s/ns_b_2/../ns_a_1/c/0.log", pods);
        assert_int_equal(log_reader_open(dots, &o, &r), -EINVAL);
        /* Pod a's own log reads as before. */
        assert_int_equal(log_reader_open(alog, &o, &r), 0);
        r = log_reader_free(r);

        /* The pod logs directory reached through a link of the administrator's. */
        log_set_pods_dir(plink);
        t = log_tail_string(via, 10, 2048, &e);
        assert_string_equal(t, "pod a's secret\n");
        free(t);
        log_set_pods_dir(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),           cmocka_unit_test(test_read),
                cmocka_unit_test(test_tail_string),     cmocka_unit_test(test_tail_string_hostile),
                cmocka_unit_test(test_find_file),       cmocka_unit_test(test_previous_instance),
                cmocka_unit_test(test_file_or_rotated), cmocka_unit_test(test_nofollow_below_pods_dir),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
