/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper (never installed): att_mklog DIR p256|ed25519 N
 * creates an attestation key in DIR and writes DIR/pub.pem and a log of N
 * records (DIR/log.jsonl) built by the real record builder, so independent
 * implementations (tests/integration/test_attest_jose.py) can check it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../attest/att.h"

static int
write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    FILE *f;
    int ok;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    ok = fputs(text, f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

int
main(int argc, char **argv)
{
    enum qt_att_key_type type;
    struct qt_att_key *k = NULL;
    struct qt_att_log log;
    struct qt_att_entropy en = {.device_type = "sim",
                                .device_serial = "SIM-7",
                                .simulated = 1,
                                .h_declared = 7.5,
                                .h_estimate = 7.4,
                                .raw_samples = 4096,
                                .startup_runs = 1,
                                .bits_drawn = 384,
                                .reseeds = 2,
                                .prediction_resistance = 1};
    char *prev = NULL, *pem = NULL, *text = NULL;
    size_t n, len;
    int status = 1;

    if (argc != 4 || qt_att_key_type_parse(argv[2], &type) != QT_OK ||
        (n = strtoul(argv[3], NULL, 10)) == 0) {
        (void)fprintf(stderr, "usage: att_mklog DIR p256|ed25519 N\n");
        return 2;
    }
    qt_att_log_init(&log);
    if (qt_att_key_open(argv[1], NULL, type, 1, &k) != QT_OK) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t id[2] = {0x01, (uint8_t)i};
        struct qt_att_key_desc kd = {.mechanism = "CKM_EC_KEY_PAIR_GEN",
                                     .type = "EC",
                                     .curve = "P-384",
                                     .id = id,
                                     .id_len = sizeof(id),
                                     .label = "root",
                                     .is_pair = 1,
                                     .has_spki = 1,
                                     .sensitive = QT_ATT_TRUE,
                                     .extractable = QT_ATT_FALSE};
        struct qt_att_event ev = {.type =
                                      i == 0 ? QT_ATT_EV_TOKEN_INIT : QT_ATT_EV_KEYPAIR_GENERATE,
                                  .token_serial = "JOSE-TEST-0001",
                                  .token_label = "jose",
                                  .key = i == 0 ? NULL : &kd,
                                  .entropy = &en};
        char *jws = NULL;

        memset(kd.spki_sha256, (int)i, sizeof(kd.spki_sha256));
        if (qt_att_record_build(k, prev, i + 1, &ev, &jws) != QT_OK ||
            qt_att_log_add(&log, i + 1, jws) != QT_OK) {
            free(jws);
            goto out;
        }
        free(prev);
        prev = jws;
    }
    if (qt_att_key_public_pem(k, &pem) != QT_OK || qt_att_log_format(&log, &text, &len) != QT_OK ||
        write_file(argv[1], "pub.pem", pem) != 0 || write_file(argv[1], "log.jsonl", text) != 0) {
        goto out;
    }
    status = 0;
out:
    if (status != 0) {
        (void)fprintf(stderr, "att_mklog: failed\n");
    }
    free(prev);
    free(pem);
    free(text);
    qt_att_log_clear(&log);
    qt_att_key_free(k);
    return status;
}
