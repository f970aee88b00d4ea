/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The replay driver of the fuzz targets (p11-kit's fuzz/main.c idea): linked
 * instead of libFuzzer into each <parser>_fuzz.c, it feeds the target every
 * file named on the command line, every regular file of a directory named
 * there (in name order, not recursive), or stdin when there are no
 * arguments or the argument is "-".  A crash or fuzz_fail() ends the process
 * (the test fails); otherwise it prints "<target>: N passed, 0 failed" with
 * N the number of inputs replayed, the form scripts/summarize.py counts.
 * An empty corpus directory is an error: the test would prove nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Targets without one-time state do not define it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define FUZZ_MAX_INPUT (16u * 1024u * 1024u)

static int
read_stream(FILE *f, uint8_t **data, size_t *size)
{
    uint8_t *p = NULL;
    size_t len = 0;
    size_t cap = 0;

    for (;;) {
        size_t got;

        if (len == cap) {
            uint8_t *np;

            if (cap >= FUZZ_MAX_INPUT) {
                free(p);
                return -1;
            }
            cap = cap == 0 ? 4096 : cap * 2;
            if ((np = realloc(p, cap)) == NULL) {
                free(p);
                return -1;
            }
            p = np;
        }
        got = fread(p + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        free(p);
        return -1;
    }
    /* An exact-size copy, so that ASan sees a read past the input. */
    *data = malloc(len > 0 ? len : 1);
    if (*data == NULL) {
        free(p);
        return -1;
    }
    if (len > 0) {
        memcpy(*data, p, len);
    }
    free(p);
    *size = len;
    return 0;
}

static int
run_file(const char *path)
{
    FILE *f;
    uint8_t *data = NULL;
    size_t size = 0;
    int rc;

    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    rc = read_stream(f, &data, &size);
    if (f != stdin) {
        fclose(f);
    }
    if (rc != 0) {
        fprintf(stderr, "%s: cannot read\n", path);
        return -1;
    }
    (void)LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir; returns the count or -1. */
static long
run_dir(const char *dir)
{
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    size_t cap = 0;
    long count = 0;

    if ((d = opendir(dir)) == NULL) {
        fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            char **nn;

            cap = cap == 0 ? 32 : cap * 2;
            if ((nn = realloc(names, cap * sizeof(*names))) == NULL) {
                count = -1;
                goto out;
            }
            names = nn;
        }
        if ((names[n] = strdup(e->d_name)) == NULL) {
            count = -1;
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n && count >= 0; i++) {
        char path[4096];
        struct stat st;

        if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path)) {
            count = -1;
            break;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (run_file(path) != 0) {
            count = -1;
            break;
        }
        count++;
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    closedir(d);
    return count;
}

int
main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0];
    long total = 0;

    if (LLVMFuzzerInitialize != NULL) {
        (void)LLVMFuzzerInitialize(&argc, &argv);
    }
    if (argc < 2) {
        if (run_file("-") != 0) {
            return 1;
        }
        total = 1;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (strcmp(argv[i], "-") != 0 && stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            long c = run_dir(argv[i]);

            if (c <= 0) {
                fprintf(stderr, "%s: %s\n", argv[i], c == 0 ? "empty corpus" : "replay failed");
                return 1;
            }
            total += c;
        } else if (run_file(argv[i]) != 0) {
            return 1;
        } else {
            total++;
        }
    }
    printf("%s: %ld passed, 0 failed\n", name, total);
    return 0;
}
