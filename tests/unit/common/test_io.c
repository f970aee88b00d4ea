/* SPDX-License-Identifier: Apache-2.0 */
/* qt_read_exact / qt_write_all: 1 MiB through a pipe (64 KiB buffer, so
 * every call is short) arrives whole; end of file before n is QT_E_IO; a
 * write to a closed pipe is QT_E_IO. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../src/common/io.h"

#define BIG (1u << 20)

struct writer {
    int fd;
    const uint8_t *p;
    qt_rc rc;
};

static void *
write_side(void *arg)
{
    struct writer *w = arg;

    w->rc = qt_write_all(w->fd, w->p, BIG);
    close(w->fd);
    return NULL;
}

Test(io, short_transfers_arrive_whole)
{
    uint8_t *in = malloc(BIG), *out = malloc(BIG);
    struct writer w;
    pthread_t t;
    int fds[2];

    cr_assert(in != NULL && out != NULL);
    for (size_t i = 0; i < BIG; i++) {
        in[i] = (uint8_t)(i * 131 + (i >> 9));
    }
    cr_assert_eq(pipe(fds), 0);
    w.fd = fds[1];
    w.p = in;
    cr_assert_eq(pthread_create(&t, NULL, write_side, &w), 0);
    cr_assert_eq(qt_read_exact(fds[0], out, BIG), QT_OK);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(w.rc, QT_OK);
    cr_assert_eq(memcmp(in, out, BIG), 0);
    /* the writer closed: one byte more is end of file */
    cr_assert_eq(qt_read_exact(fds[0], out, 1), QT_E_IO);
    close(fds[0]);
    free(in);
    free(out);
}

Test(io, eof_before_n_and_closed_pipe)
{
    uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int fds[2];

    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(qt_write_all(fds[1], buf, 3), QT_OK);
    close(fds[1]);
    cr_assert_eq(qt_read_exact(fds[0], buf, 8), QT_E_IO, "3 of 8 bytes, then end of file");
    cr_assert_eq(qt_read_exact(fds[0], buf, 0), QT_OK);
    close(fds[0]);
    cr_assert_eq(pipe(fds), 0);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    cr_assert_eq(qt_write_all(fds[1], buf, 8), QT_E_IO, "no reader");
    close(fds[1]);
}
