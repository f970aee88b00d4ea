/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PIN input for qtoken sub-commands that log in to a token.  Sources, in
 * order: a file named on the command line (first line, trailing CR/LF
 * removed), an environment variable (QTOKEN_PIN, or QTOKEN_SO_PIN for the
 * SO), a prompt on the controlling terminal with echo off.  The PIN lands in
 * caller memory (use qt_secret_alloc) and is never logged; wipe it after use.
 */
#ifndef QT_CLI_CLI_PIN_H
#define QT_CLI_CLI_PIN_H

#include <stddef.h>
#include <stdint.h>
#include "../common/err.h"

#define QT_CLI_PIN_MAX 256

/* Reads a PIN into out (capacity cap, not NUL-terminated), *len its length.
 * file: path or NULL; env_name: variable consulted when file is NULL (may be
 * NULL); prompt: shown on /dev/tty when neither gave a PIN.
 * QT_E_PIN_INVALID: empty or longer than cap; QT_E_NOTFOUND: no source (no
 * terminal); QT_E_IO: the file could not be read. */
qt_rc qt_cli_pin_read(const char *file, const char *env_name, const char *prompt, uint8_t *out,
                      size_t cap, size_t *len) QT_MUST_CHECK;

/* 1 if a non-interactive PIN source is available (file given, or env set). */
int qt_cli_pin_available(const char *file, const char *env_name);

#endif
