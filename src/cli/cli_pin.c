/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PIN input (cli_pin.h): --pin-file, then the environment, then a no-echo
 * prompt on /dev/tty.  Every buffer that held PIN bytes is wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../common/check.h"
#include "../common/mem.h"
#include "cli_pin.h"

/* Copies the first line of src (n bytes) into out; strips CR/LF. */
static qt_rc
take_line(const uint8_t *src, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    size_t k = 0;

    while (k < n && src[k] != '\n' && src[k] != '\r') {
        k++;
    }
    QT_ENSURE(k > 0 && k <= cap, QT_E_PIN_INVALID);
    memcpy(out, src, k);
    *len = k;
    return QT_OK;
}

static qt_rc
read_file(const char *path, uint8_t *out, size_t cap, size_t *len)
{
    uint8_t buf[QT_CLI_PIN_MAX + 2];
    size_t got = 0;
    ssize_t r;
    int fd;
    qt_rc rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    QT_ENSURE(fd >= 0, QT_E_IO);
    while (got < sizeof(buf)) {
        r = read(fd, buf + got, sizeof(buf) - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    (void)close(fd);
    rc = take_line(buf, got, out, cap, len);
    qt_wipe(buf, sizeof(buf));
    return rc;
}

static qt_rc
read_tty(const char *prompt, uint8_t *out, size_t cap, size_t *len)
{
    struct termios old, quiet;
    uint8_t buf[QT_CLI_PIN_MAX + 2];
    size_t got = 0;
    ssize_t r;
    int fd, echo_off = 0;
    qt_rc rc;

    fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    QT_ENSURE(fd >= 0, QT_E_NOTFOUND);
    if (tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    if (prompt != NULL) {
        (void)!write(fd, prompt, strlen(prompt));
    }
    while (got < sizeof(buf)) {
        r = read(fd, buf + got, 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0 || buf[got] == '\n') {
            break;
        }
        got++;
    }
    if (echo_off) {
        (void)tcsetattr(fd, TCSAFLUSH, &old);
    }
    (void)!write(fd, "\n", 1);
    (void)close(fd);
    rc = take_line(buf, got, out, cap, len);
    qt_wipe(buf, sizeof(buf));
    return rc;
}

int
qt_cli_pin_available(const char *file, const char *env_name)
{
    const char *e = env_name != NULL ? getenv(env_name) : NULL;

    return file != NULL || (e != NULL && *e != '\0');
}

qt_rc
qt_cli_pin_read(const char *file, const char *env_name, const char *prompt, uint8_t *out,
                size_t cap, size_t *len)
{
    const char *e;

    QT_ENSURE(out != NULL && len != NULL && cap > 0, QT_E_ARG);
    *len = 0;
    if (file != NULL) {
        return read_file(file, out, cap, len);
    }
    e = env_name != NULL ? getenv(env_name) : NULL;
    if (e != NULL && *e != '\0') {
        return take_line((const uint8_t *)e, strlen(e), out, cap, len);
    }
    return read_tty(prompt, out, cap, len);
}
