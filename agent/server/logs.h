/* Container logs for /containerLogs: decoding CRI log files (<RFC3339Nano> <stream> <P|F> <msg>) and reading
 * them with kubectl's options (tailLines, sinceSeconds/sinceTime, limitBytes, timestamps, follow). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct log_options {
        bool follow;
        bool timestamps;  /* prefix each line with its RFC3339 time (9 fractional digits, UTC) */
        bool previous;    /* the container's previous instance */
        int64_t tail;     /* the last N lines; < 0: all */
        int64_t limit;    /* stop after this many bytes; <= 0: no limit */
        int64_t since_ns; /* skip lines older than this (wall-clock ns); 0: none */
};

struct cri_log_entry {
        int64_t ts_ns;
        const char *stream; /* "stdout" / "stderr", not NUL-terminated */
        size_t stream_len;
        bool partial; /* "P": the line goes on in the next entry */
        const char *msg;
        size_t msg_len;
};

/* One line without its '\n', as upstream's parseCRILog: "<RFC 3339> <stdout|stderr> <tag> <msg>" (the tag
 * ':'-separated, "P" first when partial). Returns 0, or -EINVAL when it is not a CRI log line. */
int cri_log_parse(const char *line, size_t len, struct cri_log_entry *ret);
/* RFC 3339 with an optional fraction and Z or ±hh:mm → ns since the epoch; -EINVAL otherwise. */
int rfc3339_parse_ns(const char *s, size_t len, int64_t *ret);
/* "2006-01-02T15:04:05.000000000Z" (UTC); buf of at least 31 bytes. */
void rfc3339_format_ns(int64_t ns, char *buf, size_t len);

/* Where the pod logs live (--pod-logs-dir): below it the readers here follow no symlink, in any component
 * (a pod with a hostPath on its log directory could swap one of its directories for a link). Call once at
 * start, before any reader; NULL unsets. */
void log_set_pods_dir(const char *dir);

/* The log file of a container instance in its directory (<podLogsDir>/<ns>_<name>_<uid>/<container>): the
 * newest <restart>.log whose restart count is at most at_most (INT_MAX: the newest of all). -ENOENT when
 * there is none. */
int log_find_file(const char *dir, int at_most, char **ret_path, int *ret_restart);

/* The instance `kubectl logs --previous` reads (upstream's validateContainerLogStatus: lastState.terminated),
 * by its restart count, from the container's status: container_id (the newest instance's, "" or NULL when
 * none), last_id (lastState.terminated's) and restart_count. The terminated instance is the newest one when
 * the two IDs are equal (waiting to restart after it: CrashLoopBackOff), else the one before it (a newer one
 * runs, has ended for good, or was created and not started). -1: none (no last_id: upstream's error). */
int log_previous_instance(const char *container_id, const char *last_id, int64_t restart_count);

/* What a read that does not follow shows: the file itself, or when it is empty (the log manager rotated it
 * just before the container wrote its last line, or stopped) the newest rotated file beside it, so
 * `kubectl logs --previous` right after a rotation is not empty. */
int log_file_or_rotated(const char *path, char **ret_path);

struct log_reader;
/* Opens only a regular file, never following a symlink at path (-ELOOP) nor opening a FIFO or a device
 * (-EINVAL): a pod with a hostPath on the logs directory can put anything there. */
int log_reader_open(const char *path, const struct log_options *o, struct log_reader **ret);
struct log_reader *log_reader_free(struct log_reader *r);
/* Up to max bytes of output. Returns > 0, 0 when nothing more is there now (see log_reader_done), or a
 * negative errno. */
ssize_t log_reader_read(struct log_reader *r, char *buf, size_t max);
/* limitBytes reached, or not following tailLines' entries out: nothing more will ever come. */
bool log_reader_done(const struct log_reader *r);
/* Blocks until the file may have grown, or timeout_ms passed. Returns 1 (grew), 0 (timeout) or -errno. */
int log_reader_wait(struct log_reader *r, int timeout_ms);

/* upstream's readLastStringFromContainerLogs (the FallbackToLogsOnError termination message): the last lines
 * of a CRI log file read as `kubectl logs` shows them (a partial line joined to the next, a full line's
 * newline kept), stdout and stderr alike, and of that the last max_bytes; lines that are not CRI log lines
 * are skipped. NULL when there is nothing, or when the file cannot be opened as log_reader_open does (then
 * *ret_errno, which may be NULL, says why: ELOOP a symlink, EINVAL not a regular file; else it is 0). */
char *log_tail_string(const char *path, int64_t lines, size_t max_bytes, int *ret_errno);
