/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to device/: the back-end ops tables, the spec argument parser the
 * back-ends share (dev_spec.c), the raw sample decoder and the fd helpers
 * shared by the chardev and file back-ends (dev_fdio.c).  Not installed, not
 * for other rooms: they use dev.h (and dev_sim.h for the model).
 */
#ifndef QT_DEVICE_DEV_PRIV_H
#define QT_DEVICE_DEV_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dev.h"

extern const struct qt_dev_ops qt_dev_sim_ops;
extern const struct qt_dev_ops qt_dev_chardev_ops;
extern const struct qt_dev_ops qt_dev_file_ops;

/* Longest spec and the longest key/value inside it that we accept. */
#define QT_DEV_SPEC_MAX 4096
#define QT_DEV_KEY_MAX 32
#define QT_DEV_PATH_MAX 4096

/*
 * Cursor over "k=v,k=v" (the text after "name:").  qt_dev_spec_next copies
 * the next key into key[QT_DEV_KEY_MAX] and points *val and *val_len into the
 * spec (not NUL-terminated).  Returns QT_OK with *done = 1 at the end,
 * QT_E_CONFIG on an empty item, a missing '=', an empty key or value, or an
 * over-long key.
 */
struct qt_dev_spec_cur {
    const char *p;
};

qt_rc qt_dev_spec_next(struct qt_dev_spec_cur *cur, char *key, const char **val,
                       size_t *val_len, int *done) QT_MUST_CHECK;

/* Strict number parsers for spec values: the whole value must be a number,
 * no whitespace, no sign on unsigned values; QT_E_CONFIG otherwise or when
 * outside [lo, hi].  Unsigned values accept decimal or 0x-hex. */
qt_rc qt_dev_spec_u64(const char *val, size_t len, uint64_t lo, uint64_t hi,
                      uint64_t *out) QT_MUST_CHECK;
qt_rc qt_dev_spec_double(const char *val, size_t len, double lo, double hi,
                         double *out) QT_MUST_CHECK;

/*
 * Parses "PATH,bits=B,h=H" for the fd back-ends: PATH runs to the first
 * comma (so it may not contain one), bits defaults to 8 (1..16), h is
 * required with 0 < h <= bits.  path gets a NUL-terminated copy.
 */
qt_rc qt_dev_spec_fd(const char *args, char *path, size_t path_size, unsigned *bits,
                     double *h) QT_MUST_CHECK;

/* Stable 64-bit FNV-1a of a string, for serial numbers (not a MAC). */
uint64_t qt_dev_fnv1a64(const char *s);

/*
 * Raw sample decoder: one byte per sample for bits <= 8, little-endian 16-bit
 * otherwise, masked to bits.  A dangling first byte of a 16-bit sample is
 * kept across calls.
 */
struct qt_dev_dec {
    unsigned bits;
    unsigned width;     /* 1 or 2 bytes */
    uint16_t mask;
    int has_pending;
    uint8_t pending;
};

void qt_dev_dec_init(struct qt_dev_dec *dec, unsigned bits);

/* Decodes len bytes into out, which has room for (len + 1) / width samples;
 * returns the number of samples written. */
size_t qt_dev_dec_run(struct qt_dev_dec *dec, const uint8_t *in, size_t len, uint16_t *out);

/* How many bytes to read so that at most n more samples complete. */
size_t qt_dev_dec_want(const struct qt_dev_dec *dec, size_t n, size_t cap);

/* Identity of an open fd (s2n_rand_device_validate): the fd still refers to
 * the file we opened.  QT_E_DEVICE if it does not (closed, reused). */
struct qt_dev_fdid {
    dev_t dev;
    ino_t ino;
    dev_t rdev;
    mode_t type;
};

qt_rc qt_dev_fdid_take(int fd, struct qt_dev_fdid *id) QT_MUST_CHECK;
qt_rc qt_dev_fdid_check(int fd, const struct qt_dev_fdid *id) QT_MUST_CHECK;

/*
 * What the fd back-ends (chardev, file) both hold, and their shared open:
 * "PATH,bits=B,h=H" parsed (qt_dev_spec_fd), PATH opened with oflags, the
 * fd's identity recorded, its file type checked against types[] (0 ends the
 * list; type_err is logged otherwise), and serial set to
 * "<serial_prefix>-<16 hex digits>" from "<name>|PATH|B|H".  fd is -1 until
 * opened; on failure it may stay open: qt_dev_fdsrc_close releases it.
 */
struct qt_dev_fdsrc {
    int fd;
    struct qt_dev_fdid id;
    struct qt_dev_dec dec;
    double h;
    char path[QT_DEV_PATH_MAX];
    char serial[64];
};

struct qt_dev_fdsrc_kind {
    const char *name;          /* "chardev": log messages and the serial input */
    const char *serial_prefix; /* "CHR" */
    int oflags;                /* open() flags */
    mode_t types[3];           /* accepted S_IFMT values, 0-terminated */
    const char *type_err;      /* logged when the type is not accepted */
};

qt_rc qt_dev_fdsrc_open(struct qt_dev_fdsrc *src, const char *args,
                        const struct qt_dev_fdsrc_kind *kind) QT_MUST_CHECK;
void qt_dev_fdsrc_close(struct qt_dev_fdsrc *src);

/* Monotonic milliseconds, and a sleep that resumes after EINTR. */
int64_t qt_dev_now_ms(void);
void qt_dev_sleep_ms(int64_t ms);

#endif
