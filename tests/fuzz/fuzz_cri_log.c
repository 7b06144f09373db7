/* libFuzzer target for the CRI log decoder (/containerLogs reads files the runtime wrote from container
 * output): single lines through cri_log_parse, whole files through the reader with options from the first
 * byte. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logs.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        const char *text = (const char *) data + 1;
        size_t len = size - 1;
        struct cri_log_entry e;

        /* Properties: a parsed entry lies within the line, its stream is a non-empty word. */
        if (cri_log_parse(text, len, &e) == 0 &&
            (e.stream < text || e.stream + e.stream_len > text + len || e.stream_len == 0 || e.msg < text ||
             e.msg + e.msg_len != text + len)) {
                fprintf(stderr, "cri_log_parse broke its contract\n");
                abort();
        }

        char path[] = "/tmp/fuzz-cri-log-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0)
                return 0;
        if (write(fd, text, len) != (ssize_t) len) {
                close(fd);
                unlink(path);
                return 0;
        }
        close(fd);
        struct log_options o = {.tail = data[0] & 1 ? (data[0] >> 1) & 7 : -1,
                                .timestamps = data[0] & 16,
                                .limit = data[0] & 32 ? 100 : 0};
        struct log_reader *r;
        char buf[97];
        int64_t total = 0;
        if (log_reader_open(path, &o, &r) == 0) {
                ssize_t n;
                while ((n = log_reader_read(r, buf, sizeof buf)) > 0)
                        total += n;
                if (o.limit > 0 && total > o.limit) {
                        fprintf(stderr, "limitBytes exceeded: %lld\n", (long long) total);
                        abort();
                }
                log_reader_free(r);
        }
        unlink(path);
        return 0;
}
