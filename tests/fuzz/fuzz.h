/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contract of a fuzz target (libFuzzer's): LLVMFuzzerTestOneInput is
 * called once per input and must neither crash nor leak whatever the bytes;
 * a broken invariant is reported with fuzz_fail(), which aborts so that both
 * libFuzzer and the replay driver (fuzz_main.c) see a crash.  A target that
 * needs one-time state (a temp directory, a key, a loaded module) defines
 * LLVMFuzzerInitialize; both drivers call it once before the first input.
 */
#ifndef QT_TESTS_FUZZ_FUZZ_H
#define QT_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with a message naming the broken invariant. */
#define fuzz_fail(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "fuzz invariant broken at %s:%d: ", __FILE__, __LINE__);                   \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

#define fuzz_check(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fuzz_fail("%s", #cond);                                                                \
        }                                                                                          \
    } while (0)

#endif
