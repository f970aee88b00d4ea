/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper (never installed): att_mklog DIR p256|ed25519 N [K]
 * creates an attestation key in DIR and writes DIR/pub.pem and a log of N
 * records (DIR/log.jsonl) built by the real record builder, so independent
 * implementations (tests/integration/test_attest_jose.py) can check it.
 * With K > 0, record N + 1 is a session-keys record of K keys: even ones
 * EC P-256 key pairs made here (public keys in DIR/session-J.pem), odd ones
 * secret keys (kcv J repeated).
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
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

/* SHA-256 of pkey's SubjectPublicKeyInfo DER into out; writes its PEM to
 * path. */
static int
session_pair(const char *path, uint8_t out[32])
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    unsigned char *der = NULL;
    FILE *f = NULL;
    int len, ok = 0;

    if (pk != NULL && (len = i2d_PUBKEY(pk, &der)) > 0 &&
        EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL) == 1 &&
        (f = fopen(path, "w")) != NULL && PEM_write_PUBKEY(f, pk) == 1) {
        ok = 1;
    }
    if (f != NULL && fclose(f) != 0) {
        ok = 0;
    }
    OPENSSL_free(der);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

/* Appends record seq: a session-keys record of nkeys keys (see the top). */
static int
session_keys(const char *dir, const struct qt_att_key *k, const struct qt_att_entropy *en,
             size_t seq, size_t nkeys, char **prev, struct qt_att_log *log)
{
    struct qt_att_batch_key *keys = calloc(nkeys, sizeof(*keys));
    uint8_t id[2] = {0x5e, 0x55};
    struct qt_att_event ev = {.type = QT_ATT_EV_SESSION_KEYS,
                              .token_serial = "JOSE-TEST-0001",
                              .token_label = "jose",
                              .entropy = en};
    char path[1024], *jws = NULL;
    int r = -1;

    if (keys == NULL) {
        return -1;
    }
    for (size_t j = 0; j < nkeys; j++) {
        struct qt_att_batch_key *b = &keys[j];

        b->time = 1700000000 + (int64_t)j;
        b->bits_drawn = 384;
        b->prediction_resistance = 1;
        b->key.id = id;
        b->key.id_len = sizeof(id);
        b->key.sensitive = QT_ATT_TRUE;
        b->key.extractable = QT_ATT_FALSE;
        b->key.private_ = QT_ATT_TRUE;
        if (j % 2 == 0) {
            b->type = QT_ATT_EV_KEYPAIR_GENERATE;
            b->key.mechanism = "CKM_EC_KEY_PAIR_GEN";
            b->key.type = "EC";
            b->key.curve = "P-256";
            b->key.is_pair = 1;
            b->key.has_spki = 1;
            (void)snprintf(path, sizeof(path), "%s/session-%zu.pem", dir, j);
            if (session_pair(path, b->key.spki_sha256) != 0) {
                goto out;
            }
        } else {
            b->type = QT_ATT_EV_KEY_GENERATE;
            b->key.mechanism = "CKM_AES_KEY_GEN";
            b->key.type = "AES";
            b->key.bits = 256;
            memset(b->key.kcv, (int)j, 3);
            b->key.kcv_len = 3;
        }
    }
    ev.keys = keys;
    ev.nkeys = nkeys;
    if (qt_att_record_build(k, *prev, seq, &ev, &jws) != QT_OK ||
        qt_att_log_add(log, seq, jws) != QT_OK) {
        free(jws);
        goto out;
    }
    free(*prev);
    *prev = jws;
    r = 0;
out:
    free(keys);
    return r;
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
    size_t n, len, nkeys = 0;
    int status = 1;

    if ((argc != 4 && argc != 5) || qt_att_key_type_parse(argv[2], &type) != QT_OK ||
        (n = strtoul(argv[3], NULL, 10)) == 0 ||
        (argc == 5 && ((nkeys = strtoul(argv[4], NULL, 10)) == 0 || nkeys > 1000))) {
        (void)fprintf(stderr, "usage: att_mklog DIR p256|ed25519 N [K]\n");
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
    if (nkeys > 0 && session_keys(argv[1], k, &en, n + 1, nkeys, &prev, &log) != 0) {
        goto out;
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
