/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pipeline counters shared by every process on the host: a small
 * memory-mapped file <installation dir>/stats (mode 0600) holding a fixed
 * struct (magic, version, size, then 64-bit counters).  Every process adds
 * with C11 atomics on the shared mapping (lock-free 64-bit atomics), so
 * counts from concurrent processes all land.  The file is created
 * atomically (temp file, ftruncate, header, link).  When the installation
 * directory is unusable the counters are process-local (logged once).
 *
 * Readers (`qtoken status`, the metrics exporter) call qt_ent_stats_read
 * (declared in ent.h).
 */
#ifndef QT_ENTROPY_ENT_STATS_H
#define QT_ENTROPY_ENT_STATS_H

#include <stdint.h>
#include "ent.h"

enum qt_ent_counter {
    QT_ENT_C_RAW_SAMPLES = 0,
    QT_ENT_C_BITS_EXTRACTED,
    QT_ENT_C_BITS_SERVED,
    QT_ENT_C_FAIL_RCT,
    QT_ENT_C_FAIL_APT,
    QT_ENT_C_FAIL_BLOCK_REPEAT,
    QT_ENT_C_FAIL_ESTIMATE,
    QT_ENT_C_FAIL_READ,
    QT_ENT_C_STARTUP_RUNS,
    QT_ENT_C_RESEEDS,
    QT_ENT_C_FAIL_DRIFT, /* appended: older files hold 0 in this slot */
    QT_ENT_C__COUNT
};

#define QT_ENT_STATS_MAGIC 0x5154454e54535431ULL /* "QTENTST1" */
#define QT_ENT_STATS_VERSION 1u

struct qt_ent_stats_map;

/* Maps the shared stats file for conf (NULL conf: process-local).  Only
 * QT_E_NOMEM fails; an unusable directory gives process-local counters. */
qt_rc qt_ent_stats_open(const struct qt_conf *conf, struct qt_ent_stats_map **out) QT_MUST_CHECK;

/* 1 when the counters are in the shared file. */
int qt_ent_stats_shared(const struct qt_ent_stats_map *m);

void qt_ent_stats_add(struct qt_ent_stats_map *m, enum qt_ent_counter c, uint64_t v);
void qt_ent_stats_set_h(struct qt_ent_stats_map *m, double h_declared, double h_estimate);
void qt_ent_stats_set_state(struct qt_ent_stats_map *m, int state);
void qt_ent_stats_snapshot(const struct qt_ent_stats_map *m, struct qt_ent_stats *out);

/* NULL-safe; unmaps. */
void qt_ent_stats_close(struct qt_ent_stats_map *m);

#endif
