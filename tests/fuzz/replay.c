/* Runs a libFuzzer target over corpus files without libFuzzer: any compiler, any sanitizer, in CTest. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rbe");
        struct stat st;
        uint8_t *buf;
        size_t n;

        if (!f) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (fstat(fileno(f), &st) < 0) {
                fclose(f);
                return -1;
        }
        /* Exactly the file's size: the target sees no terminating NUL either. */
        buf = malloc(st.st_size ? (size_t) st.st_size : 1);
        if (!buf) {
                fclose(f);
                return -1;
        }
        n = fread(buf, 1, (size_t) st.st_size, f);
        fclose(f);
        if (n != (size_t) st.st_size) {
                fprintf(stderr, "replay: %s: short read\n", path);
                free(buf);
                return -1;
        }
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
        return 0;
}

static int cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Runs every regular file of dir, in name order (so a crash is reproducible). Returns how many, or -1. */
static int run_dir(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        int count = 0;

        if (!d) {
                fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
                return -1;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char **nn = realloc(names, (n + 1) * sizeof *names);
                if (!nn)
                        abort();
                names = nn;
                if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0)
                        abort();
                n++;
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp);
        for (size_t i = 0; i < n; i++) {
                struct stat st;
                if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
                        if (getenv("REPLAY_VERBOSE"))
                                fprintf(stderr, "replay: %s\n", names[i]);
                        if (run_file(names[i]) < 0)
                                count = -1;
                        else if (count >= 0)
                                count++;
                }
                free(names[i]);
        }
        free(names);
        return count;
}

int main(int argc, char **argv)
{
        int total = 0;

        if (argc < 2) {
                fprintf(stderr, "Usage: %s DIR|FILE...\nFeeds each file to LLVMFuzzerTestOneInput.\n",
                        argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                r = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
                if (r < 0)
                        return 1;
                total += r;
        }
        if (total == 0) { /* an empty corpus is a broken test, not a passing one */
                fprintf(stderr, "replay: no input files\n");
                return 1;
        }
        printf("replay: %d inputs ran\n", total);
        return 0;
}
