/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for the attest/ unit tests: a throw-away installation directory
 * and sample logs built with the real record builder.
 */
#ifndef QT_TEST_ATT_TEST_H
#define QT_TEST_ATT_TEST_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../attest/att.h"
#include "../../../src/common/buf.h"

static inline int
att_test_rm1(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void
att_test_rmdir(const char *dir)
{
    (void)nftw(dir, att_test_rm1, 8, FTW_DEPTH | FTW_PHYS);
}

static inline struct qt_att_key *
att_test_key(char *dir, enum qt_att_key_type type)
{
    struct qt_att_key *k = NULL;

    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(qt_att_key_open(dir, NULL, type, 1, &k), QT_OK);
    return k;
}

static inline void
att_test_entropy(struct qt_att_entropy *en)
{
    memset(en, 0, sizeof(*en));
    en->device_type = "sim";
    en->device_serial = "SIM-0001";
    en->simulated = 1;
    en->h_declared = 7.9123;
    en->h_estimate = 7.85;
    en->raw_samples = 123456;
    en->startup_runs = 1;
    en->bits_drawn = 256;
    en->reseeds = 3;
    en->prediction_resistance = 1;
}

/* A log of n >= 1 records for token (serial, label): token-init, then
 * alternating keypair-generate (spki = i repeated) and pin-change. */
static inline void
att_test_log(const struct qt_att_key *k, const char *serial, const char *label, size_t n,
             struct qt_att_log *log)
{
    char *prev = NULL;
    struct qt_att_entropy en;

    att_test_entropy(&en);
    qt_att_log_init(log);
    for (size_t i = 0; i < n; i++) {
        struct qt_att_key_desc kd;
        struct qt_att_event ev;
        uint8_t id[4] = {0xa0, 0x01, 0x02, (uint8_t)i};
        char *jws = NULL;

        memset(&ev, 0, sizeof(ev));
        memset(&kd, 0, sizeof(kd));
        ev.token_serial = serial;
        ev.token_label = label;
        ev.entropy = &en;
        if (i == 0) {
            ev.type = QT_ATT_EV_TOKEN_INIT;
        } else if (i % 2 == 1) {
            ev.type = QT_ATT_EV_KEYPAIR_GENERATE;
            kd.mechanism = "CKM_EC_KEY_PAIR_GEN";
            kd.type = "EC";
            kd.curve = "P-256";
            kd.id = id;
            kd.id_len = sizeof(id);
            kd.label = "k";
            kd.is_pair = 1;
            kd.has_spki = 1;
            memset(kd.spki_sha256, (int)i, sizeof(kd.spki_sha256));
            kd.sensitive = QT_ATT_TRUE;
            kd.extractable = QT_ATT_FALSE;
            ev.key = &kd;
        } else {
            ev.type = QT_ATT_EV_PIN_CHANGE;
            ev.user = "user";
        }
        cr_assert_eq(qt_att_record_build(k, prev, i + 1, &ev, &jws), QT_OK);
        cr_assert_eq(qt_att_log_add(log, i + 1, jws), QT_OK);
        free(prev);
        prev = jws;
    }
    free(prev);
}

#endif
