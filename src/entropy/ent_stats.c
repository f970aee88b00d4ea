/* SPDX-License-Identifier: Apache-2.0 */
/* The shared, memory-mapped pipeline counters (see ent_stats.h). */
#include "ent_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/check.h"
#include "../common/log.h"

#define SLOTS 16

struct stats_file {
    uint64_t magic;
    uint32_t version;
    uint32_t size;                 /* sizeof(struct stats_file) */
    _Atomic uint64_t c[SLOTS];     /* enum qt_ent_counter */
    _Atomic uint64_t h_declared;   /* double bits */
    _Atomic uint64_t h_estimate;   /* double bits */
    _Atomic uint64_t state;
    _Atomic uint64_t reserved[5];
};

_Static_assert(QT_ENT_C__COUNT <= SLOTS, "stats slots");

struct qt_ent_stats_map {
    struct stats_file *f;
    int shared;
};

static struct stats_file local_file = {.magic = QT_ENT_STATS_MAGIC,
                                       .version = QT_ENT_STATS_VERSION,
                                       .size = sizeof(struct stats_file)};

static qt_rc
stats_path(const struct qt_conf *conf, char *out, size_t outlen)
{
    char dir[QT_CONF_STR];
    int n;

    QT_TRY(qt_conf_install_dir(conf, dir, sizeof(dir)));
    n = snprintf(out, outlen, "%s/stats", dir);
    QT_ENSURE(n > 0 && (size_t)n < outlen, QT_E_RANGE);
    return QT_OK;
}

/* Creates the file with a valid header unless it exists. */
static qt_rc
create_file(const char *path)
{
    char tmp[QT_CONF_STR + 32];
    struct stats_file hdr;
    int fd, n;
    qt_rc rc = QT_E_IO;

    n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
    QT_ENSURE(n > 0 && (size_t)n < sizeof(tmp), QT_E_RANGE);
    fd = mkstemp(tmp);
    QT_ENSURE(fd >= 0, QT_E_IO);
    memset(&hdr, 0, sizeof(hdr));
    hdr.magic = QT_ENT_STATS_MAGIC;
    hdr.version = QT_ENT_STATS_VERSION;
    hdr.size = (uint32_t)sizeof(hdr);
    if (fchmod(fd, 0600) != 0 || write(fd, &hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) {
        goto out;
    }
    if (link(tmp, path) != 0 && errno != EEXIST) {
        goto out;
    }
    rc = QT_OK;
out:
    (void)close(fd);
    (void)unlink(tmp);
    return rc;
}

/* Maps path (read-write or read-only) after checking its header. */
static qt_rc
map_file(const char *path, int writable, struct stats_file **out)
{
    struct stat st;
    void *p;
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
    qt_rc rc = QT_E_FORMAT;

    if (fd < 0) {
        return errno == ENOENT ? QT_E_NOTFOUND : QT_E_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size != (off_t)sizeof(struct stats_file)) {
        goto out;
    }
    p = mmap(NULL, sizeof(struct stats_file), writable ? PROT_READ | PROT_WRITE : PROT_READ,
             MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = QT_E_IO;
        goto out;
    }
    *out = p;
    if ((*out)->magic != QT_ENT_STATS_MAGIC || (*out)->version != QT_ENT_STATS_VERSION ||
        (*out)->size != sizeof(struct stats_file)) {
        (void)munmap(p, sizeof(struct stats_file));
        *out = NULL;
        goto out;
    }
    rc = QT_OK;
out:
    (void)close(fd);
    return rc;
}

qt_rc
qt_ent_stats_open(const struct qt_conf *conf, struct qt_ent_stats_map **out)
{
    static atomic_int warned;
    char path[QT_CONF_STR + 16];
    struct qt_ent_stats_map *m;
    qt_rc rc = QT_E_ARG;

    QT_ENSURE_REF(out);
    m = calloc(1, sizeof(*m));
    QT_ENSURE(m != NULL, QT_E_NOMEM);
    if (conf != NULL && (rc = stats_path(conf, path, sizeof(path))) == QT_OK) {
        rc = map_file(path, 1, &m->f);
        if (rc == QT_E_NOTFOUND && (rc = create_file(path)) == QT_OK) {
            rc = map_file(path, 1, &m->f);
        }
    }
    if (rc == QT_OK) {
        m->shared = 1;
    } else {
        if (conf != NULL && atomic_exchange(&warned, 1) == 0) {
            qt_log(QT_LOG_WARN, "stats file in %s unusable (%s): counters are process-local",
                   conf->store_path, qt_rc_str(rc));
        }
        m->f = &local_file;
    }
    *out = m;
    return QT_OK;
}

int
qt_ent_stats_shared(const struct qt_ent_stats_map *m)
{
    return m != NULL && m->shared;
}

void
qt_ent_stats_add(struct qt_ent_stats_map *m, enum qt_ent_counter c, uint64_t v)
{
    if (m != NULL && (unsigned)c < QT_ENT_C__COUNT) {
        atomic_fetch_add_explicit(&m->f->c[c], v, memory_order_relaxed);
    }
}

static uint64_t
dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double
bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

void
qt_ent_stats_set_h(struct qt_ent_stats_map *m, double h_declared, double h_estimate)
{
    if (m != NULL) {
        atomic_store_explicit(&m->f->h_declared, dbits(h_declared), memory_order_relaxed);
        atomic_store_explicit(&m->f->h_estimate, dbits(h_estimate), memory_order_relaxed);
    }
}

void
qt_ent_stats_set_state(struct qt_ent_stats_map *m, int state)
{
    if (m != NULL) {
        atomic_store_explicit(&m->f->state, (uint64_t)state, memory_order_relaxed);
    }
}

static void
snapshot(const struct stats_file *f, struct qt_ent_stats *out)
{
    /* atomic loads through a const-qualified mapping */
    struct stats_file *g = (struct stats_file *)(uintptr_t)f;
    uint64_t c[QT_ENT_C__COUNT];

    for (unsigned i = 0; i < QT_ENT_C__COUNT; i++) {
        c[i] = atomic_load_explicit(&g->c[i], memory_order_relaxed);
    }
    memset(out, 0, sizeof(*out));
    out->raw_samples = c[QT_ENT_C_RAW_SAMPLES];
    out->bits_extracted = c[QT_ENT_C_BITS_EXTRACTED];
    out->bits_served = c[QT_ENT_C_BITS_SERVED];
    out->failures_rct = c[QT_ENT_C_FAIL_RCT];
    out->failures_apt = c[QT_ENT_C_FAIL_APT];
    out->failures_block_repeat = c[QT_ENT_C_FAIL_BLOCK_REPEAT];
    out->failures_estimate = c[QT_ENT_C_FAIL_ESTIMATE];
    out->failures_read = c[QT_ENT_C_FAIL_READ];
    out->startup_runs = c[QT_ENT_C_STARTUP_RUNS];
    out->reseeds = c[QT_ENT_C_RESEEDS];
    out->failures_drift = c[QT_ENT_C_FAIL_DRIFT];
    out->h_declared = bitsd(atomic_load_explicit(&g->h_declared, memory_order_relaxed));
    out->h_estimate = bitsd(atomic_load_explicit(&g->h_estimate, memory_order_relaxed));
    out->state = (int)atomic_load_explicit(&g->state, memory_order_relaxed);
}

void
qt_ent_stats_snapshot(const struct qt_ent_stats_map *m, struct qt_ent_stats *out)
{
    if (m != NULL && out != NULL) {
        snapshot(m->f, out);
    }
}

void
qt_ent_stats_close(struct qt_ent_stats_map *m)
{
    if (m == NULL) {
        return;
    }
    if (m->shared) {
        (void)munmap(m->f, sizeof(struct stats_file));
    }
    free(m);
}

qt_rc
qt_ent_stats_read(const struct qt_conf *conf, struct qt_ent_stats *out)
{
    char path[QT_CONF_STR + 16];
    struct stats_file *f = NULL;

    int n;

    QT_ENSURE(conf != NULL && out != NULL, QT_E_ARG);
    memset(out, 0, sizeof(*out));
    /* the reader creates nothing */
    n = snprintf(path, sizeof(path), "%s/installation/stats", conf->store_path);
    QT_ENSURE(n > 0 && (size_t)n < sizeof(path), QT_E_RANGE);
    QT_TRY(map_file(path, 0, &f));
    snapshot(f, out);
    (void)munmap(f, sizeof(*f));
    return QT_OK;
}
