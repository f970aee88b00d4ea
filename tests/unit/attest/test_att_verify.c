/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The log verifier against every tampering the issue names: a flipped byte
 * in any record, a deleted record, two records swapped, a record spliced in
 * from another token, a different public key; each must fail with a reason
 * naming the record.
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "att_test.h"

#define N 7

static char dir[] = "/tmp/qt-attv-XXXXXX";
static struct qt_att_key *key;
static struct qt_att_log log_;
static struct qt_att_verify_result res;

static void
setup(void)
{
    key = att_test_key(dir, QT_ATT_KEY_P256);
    att_test_log(key, "SERIAL-A", "token-a", N, &log_);
}

static void
teardown(void)
{
    qt_att_log_clear(&log_);
    qt_att_key_free(key);
    att_test_rmdir(dir);
}

static qt_rc
verify(const struct qt_att_log *l)
{
    return qt_att_log_verify(l, qt_att_key_pkey(key), &res);
}

static void
expect_named(qt_rc rc, const char *seq_text)
{
    cr_assert_neq(rc, QT_OK);
    cr_assert_not_null(strstr(res.reason, seq_text), "reason '%s' does not name %s", res.reason,
                       seq_text);
}

Test(att_verify, intact_log_verifies, .init = setup, .fini = teardown)
{
    char hex[QT_ATT_HASH_HEX];

    cr_assert_eq(verify(&log_), QT_OK, "%s", res.reason);
    cr_assert_eq(res.records, N);
    cr_assert_str_eq(res.token_serial, "SERIAL-A");
    cr_assert_str_eq(res.token_label, "token-a");
    cr_assert_eq(qt_att_record_hash(log_.recs[N - 1].jws, hex), QT_OK);
    cr_assert_str_eq(res.last_hash, hex);
}

Test(att_verify, flipped_byte_in_any_record_fails, .init = setup, .fini = teardown)
{
    size_t tried = 0;

    for (size_t r = 0; r < N; r++) {
        char *jws = log_.recs[r].jws;
        size_t len = strlen(jws);
        char want[48];

        (void)snprintf(want, sizeof(want), "record seq %zu ", r + 1);
        /* Every 5th character of every record, plus the first and last. */
        for (size_t i = 0; i < len; i += (i + 5 < len ? 5 : (i + 1 < len ? len - 1 - i : 1))) {
            char saved = jws[i];
            jws[i] = (char)(saved == 'A' ? 'B' : 'A');
            expect_named(verify(&log_), want);
            cr_assert_eq(res.bad_index, r);
            jws[i] = saved;
            tried++;
        }
    }
    cr_assert_gt(tried, N * 50);
    cr_assert_eq(verify(&log_), QT_OK);
}

Test(att_verify, low_bit_flip_in_last_signature_char_fails, .init = setup, .fini = teardown)
{
    /* A non-canonical base64url ending must not decode to the same signature. */
    char *jws = log_.recs[N - 1].jws;
    size_t len = strlen(jws);
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char saved = jws[len - 1];
    size_t pos = (size_t)(strchr(alpha, saved) - alpha);

    jws[len - 1] = alpha[pos ^ 1];
    expect_named(verify(&log_), "record seq 7 ");
    jws[len - 1] = saved;
}

Test(att_verify, deleted_record_fails, .init = setup, .fini = teardown)
{
    for (size_t del = 0; del < N - 1; del++) {
        struct qt_att_log l = log_;
        struct qt_att_rec recs[N];
        char want[48];
        size_t m = 0;

        for (size_t i = 0; i < N; i++) {
            if (i != del) {
                recs[m++] = log_.recs[i];
            }
        }
        l.recs = recs;
        l.n = m;
        /* The record after the hole is the one named (the first if seq 1 went). */
        (void)snprintf(want, sizeof(want), "record seq %zu ", del + 2);
        expect_named(verify(&l), want);
        cr_assert(strstr(res.reason, "gap") != NULL, "%s", res.reason);
    }
}

Test(att_verify, swapped_records_fail, .init = setup, .fini = teardown)
{
    struct qt_att_rec t = log_.recs[2];

    log_.recs[2] = log_.recs[3];
    log_.recs[3] = t;
    expect_named(verify(&log_), "record seq 4 ");
    cr_assert_eq(res.bad_index, 2);
    cr_assert(strstr(res.reason, "out of order") != NULL, "%s", res.reason);
}

Test(att_verify, record_spliced_from_another_token_fails, .init = setup, .fini = teardown)
{
    struct qt_att_log other;
    char *saved;

    att_test_log(key, "SERIAL-B", "token-b", N, &other);
    /* Same installation key, same seq: its signature verifies, its chain does not. */
    saved = log_.recs[4].jws;
    log_.recs[4].jws = other.recs[4].jws;
    expect_named(verify(&log_), "record seq 5 ");
    cr_assert(strstr(res.reason, "SERIAL-B") != NULL, "%s", res.reason);
    log_.recs[4].jws = saved;
    qt_att_log_clear(&other);
}

Test(att_verify, different_pubkey_fails_on_first_record, .init = setup, .fini = teardown)
{
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    cr_assert_not_null(other);
    cr_assert_eq(qt_att_log_verify(&log_, other, &res), QT_E_SIGNATURE);
    cr_assert_not_null(strstr(res.reason, "record seq 1 "), "%s", res.reason);
    EVP_PKEY_free(other);
}

Test(att_verify, ed25519_pubkey_for_p256_log_fails, .init = setup, .fini = teardown)
{
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    cr_assert_not_null(other);
    cr_assert_neq(qt_att_log_verify(&log_, other, &res), QT_OK);
    cr_assert_not_null(strstr(res.reason, "record seq 1 "), "%s", res.reason);
    EVP_PKEY_free(other);
}

Test(att_verify, line_seq_differing_from_signed_seq_fails, .init = setup, .fini = teardown)
{
    log_.recs[3].seq = 9;
    expect_named(verify(&log_), "record seq 9 ");
    cr_assert(strstr(res.reason, "signed seq 4") != NULL, "%s", res.reason);
}

Test(att_verify, log_not_starting_with_token_init_fails, .init = setup, .fini = teardown)
{
    struct qt_att_log l;
    struct qt_att_event ev = {.type = QT_ATT_EV_PIN_CHANGE,
                              .token_serial = "SERIAL-A",
                              .token_label = "token-a",
                              .user = "so"};
    char *jws = NULL;

    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_OK);
    qt_att_log_init(&l);
    cr_assert_eq(qt_att_log_add(&l, 1, jws), QT_OK);
    expect_named(verify(&l), "record seq 1 ");
    cr_assert(strstr(res.reason, "token-init") != NULL, "%s", res.reason);
    qt_att_log_clear(&l);
    free(jws);
}

Test(att_verify, truncated_head_fails, .init = setup, .fini = teardown)
{
    struct qt_att_log l = log_;

    /* Drop the first two records and renumber nothing: a gap at seq 3. */
    l.recs = log_.recs + 2;
    l.n = N - 2;
    expect_named(verify(&l), "record seq 3 ");
}

Test(att_verify, empty_log_fails, .init = setup, .fini = teardown)
{
    struct qt_att_log l;

    qt_att_log_init(&l);
    cr_assert_eq(verify(&l), QT_E_FORMAT);
}

Test(att_verify, jsonl_roundtrip_and_text_tampering, .init = setup, .fini = teardown)
{
    struct qt_att_log parsed;
    char *text = NULL, err[128];
    size_t len = 0, fails = 0;

    cr_assert_eq(qt_att_log_format(&log_, &text, &len), QT_OK);
    qt_att_log_init(&parsed);
    cr_assert_eq(qt_att_log_parse(text, len, &parsed, err, sizeof(err)), QT_OK, "%s", err);
    cr_assert_eq(parsed.n, N);
    cr_assert_eq(verify(&parsed), QT_OK, "%s", res.reason);
    qt_att_log_clear(&parsed);

    /* Any changed byte of the exported text: a parse error or a failed verify. */
    for (size_t i = 0; i < len; i += 13) {
        char saved = text[i];
        qt_rc rc;

        if (saved == '\n') {
            continue;
        }
        text[i] = (char)(saved == '7' ? '8' : '7');
        qt_att_log_init(&parsed);
        rc = qt_att_log_parse(text, len, &parsed, err, sizeof(err));
        if (rc == QT_OK) {
            rc = verify(&parsed);
        }
        cr_assert_neq(rc, QT_OK, "byte %zu changed, log still valid", i);
        fails++;
        qt_att_log_clear(&parsed);
        text[i] = saved;
    }
    cr_assert_gt(fails, 100);
    free(text);
}

Test(att_verify, find_key_by_fingerprint, .init = setup, .fini = teardown)
{
    char hex[QT_ATT_HASH_HEX];
    uint8_t fp[32];
    char *payload = NULL;
    size_t idx = 99;

    memset(fp, 3, sizeof(fp));
    qt_hex(hex, fp, sizeof(fp));
    cr_assert_eq(qt_att_log_find_key(&log_, hex, &idx, &payload), QT_OK);
    cr_assert_eq(idx, 3);
    cr_assert_not_null(strstr(payload, "\"keypair-generate\""));
    free(payload);
    memset(fp, 2, sizeof(fp)); /* record 3 is a pin-change */
    qt_hex(hex, fp, sizeof(fp));
    cr_assert_eq(qt_att_log_find_key(&log_, hex, &idx, NULL), QT_E_NOTFOUND);
}

Test(att_verify, malformed_lines_are_named, .init = setup, .fini = teardown)
{
    struct qt_att_log l;
    char err[128];
    const char *bad = "{\"seq\":1,\"jws\":\"a.b.c\"}\n\n{\"seq\":2}\n";

    qt_att_log_init(&l);
    cr_assert_eq(qt_att_log_parse(bad, strlen(bad), &l, err, sizeof(err)), QT_E_FORMAT);
    cr_assert_not_null(strstr(err, "line 3"), "%s", err);
    qt_att_log_clear(&l);
    qt_att_log_init(&l);
    cr_assert_eq(qt_att_log_parse("[1]", 3, &l, err, sizeof(err)), QT_E_FORMAT);
    qt_att_log_clear(&l);
}

Test(att_verify, forked_chain_fails, .init = setup, .fini = teardown)
{
    /* A second record 3 built on the same record 2: a fork of the chain. */
    struct qt_att_event ev = {.type = QT_ATT_EV_PIN_CHANGE,
                              .token_serial = "SERIAL-A",
                              .token_label = "token-a",
                              .user = "so"};
    struct qt_att_log l;
    char *alt = NULL;

    cr_assert_eq(qt_att_record_build(key, log_.recs[1].jws, 3, &ev, &alt), QT_OK);
    qt_att_log_init(&l);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(qt_att_log_add(&l, log_.recs[i].seq, log_.recs[i].jws), QT_OK);
    }
    cr_assert_eq(qt_att_log_add(&l, 3, alt), QT_OK);
    expect_named(verify(&l), "record seq 3 (line 4)");
    cr_assert(strstr(res.reason, "repeated") != NULL, "%s", res.reason);
    qt_att_log_clear(&l);
    /* The fork alone (record 2, then the other record 3) is a valid chain. */
    qt_att_log_init(&l);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(qt_att_log_add(&l, log_.recs[i].seq, log_.recs[i].jws), QT_OK);
    }
    cr_assert_eq(qt_att_log_add(&l, 3, alt), QT_OK);
    cr_assert_eq(verify(&l), QT_OK, "%s", res.reason);
    /* ... and the original record 4 does not continue it. */
    cr_assert_eq(qt_att_log_add(&l, 4, log_.recs[3].jws), QT_OK);
    expect_named(verify(&l), "record seq 4 ");
    cr_assert(strstr(res.reason, "prev") != NULL, "%s", res.reason);
    qt_att_log_clear(&l);
    free(alt);
}

Test(att_verify, random_mutations_never_verify_nor_crash, .init = setup, .fini = teardown)
{
    char *text = NULL, err[128];
    size_t len = 0;
    unsigned seed = 12345;

    cr_assert_eq(qt_att_log_format(&log_, &text, &len), QT_OK);
    for (int round = 0; round < 400; round++) {
        char *m = malloc(len + 8);
        size_t mlen = len, pos;
        struct qt_att_log parsed;
        qt_rc rc;

        cr_assert_not_null(m);
        memcpy(m, text, len);
        seed = seed * 1103515245u + 12345u;
        pos = (seed >> 8) % len;
        switch ((seed >> 4) % 4) {
        case 0: /* flip a bit */
            m[pos] = (char)(m[pos] ^ (1 << ((seed >> 20) % 7)));
            break;
        case 1: /* delete a byte */
            memmove(m + pos, m + pos + 1, len - pos - 1);
            mlen--;
            break;
        case 2: /* insert a byte */
            memmove(m + pos + 1, m + pos, len - pos);
            m[pos] = (char)("A.{}\"9\n"[(seed >> 16) % 7]);
            mlen++;
            break;
        default: /* truncate */
            mlen = pos;
            break;
        }
        if (mlen == len && memcmp(m, text, len) == 0) {
            free(m);
            continue;
        }
        qt_att_log_init(&parsed);
        rc = qt_att_log_parse(m, mlen, &parsed, err, sizeof(err));
        if (rc == QT_OK) {
            rc = verify(&parsed);
        }
        /* What still verifies holds exactly the original records or a prefix
         * of them (a cut at a line end, a blank line added: FORMAT.md 3.1). */
        if (rc == QT_OK) {
            cr_assert_leq(parsed.n, (size_t)N, "mutation %d at %zu verified", round, pos);
            for (size_t i = 0; i < parsed.n; i++) {
                cr_assert_str_eq(parsed.recs[i].jws, log_.recs[i].jws);
            }
        }
        qt_att_log_clear(&parsed);
        free(m);
    }
    free(text);
}

/* Appends to log_ (N records) record N + 1: a session-keys record of 3 keys,
 * key j with spki_sha256 = 0x50 + j repeated (j = 1 a secret key: kcv). */
static void
add_session_keys(void)
{
    struct qt_att_batch_key keys[3];
    struct qt_att_entropy en;
    struct qt_att_event ev;
    char *jws = NULL;

    att_test_entropy(&en);
    memset(keys, 0, sizeof(keys));
    for (int j = 0; j < 3; j++) {
        keys[j].type = j == 1 ? QT_ATT_EV_KEY_GENERATE : QT_ATT_EV_KEYPAIR_GENERATE;
        keys[j].bits_drawn = 256;
        keys[j].prediction_resistance = 1;
        keys[j].key.type = j == 1 ? "AES" : "EC";
        keys[j].key.is_pair = j != 1;
        keys[j].key.has_spki = j != 1;
        memset(keys[j].key.spki_sha256, 0x50 + j, sizeof(keys[j].key.spki_sha256));
        if (j == 1) {
            memset(keys[j].key.kcv, 0x51, 3);
            keys[j].key.kcv_len = 3;
        }
    }
    memset(&ev, 0, sizeof(ev));
    ev.type = QT_ATT_EV_SESSION_KEYS;
    ev.token_serial = "SERIAL-A";
    ev.token_label = "token-a";
    ev.entropy = &en;
    ev.keys = keys;
    ev.nkeys = 3;
    cr_assert_eq(qt_att_record_build(key, log_.recs[N - 1].jws, N + 1, &ev, &jws), QT_OK);
    cr_assert_eq(qt_att_log_add(&log_, N + 1, jws), QT_OK);
    free(jws);
}

Test(att_verify, session_key_found_inside_batch_record, .init = setup, .fini = teardown)
{
    char hex[QT_ATT_HASH_HEX];
    uint8_t fp[32];
    char *payload = NULL;
    size_t idx = 99, entry = 99;

    add_session_keys();
    cr_assert_eq(verify(&log_), QT_OK, "%s", res.reason);
    cr_assert_eq(res.records, N + 1);
    memset(fp, 0x52, sizeof(fp));
    qt_hex(hex, fp, sizeof(fp));
    cr_assert_eq(qt_att_log_find_key_entry(&log_, hex, &idx, &entry, &payload), QT_OK);
    cr_assert_eq(idx, N);
    cr_assert_eq(entry, 2);
    cr_assert_not_null(strstr(payload, "\"event\":\"session-keys\""));
    free(payload);
    /* records about one key are found as before, with no entry */
    memset(fp, 3, sizeof(fp));
    qt_hex(hex, fp, sizeof(fp));
    cr_assert_eq(qt_att_log_find_key_entry(&log_, hex, &idx, &entry, NULL), QT_OK);
    cr_assert_eq(idx, 3);
    cr_assert_eq(entry, QT_ATT_NO_ENTRY);
    /* qt_att_log_find_key (the ceremony's look-up) only finds records of one key */
    memset(fp, 0x50, sizeof(fp));
    qt_hex(hex, fp, sizeof(fp));
    cr_assert_eq(qt_att_log_find_key(&log_, hex, &idx, NULL), QT_E_NOTFOUND);
    cr_assert_eq(qt_att_log_find_key_entry(&log_, hex, &idx, &entry, NULL), QT_OK);
    cr_assert_eq(entry, 0);
    /* the secret key (no spki) is not found by a fingerprint of 0x51s */
    memset(fp, 0x51, sizeof(fp));
    qt_hex(hex, fp, sizeof(fp));
    cr_assert_eq(qt_att_log_find_key_entry(&log_, hex, &idx, &entry, NULL), QT_E_NOTFOUND);
}

Test(att_verify, flipped_byte_in_batch_record_fails_naming_it, .init = setup, .fini = teardown)
{
    char *j;
    size_t dot;

    add_session_keys();
    j = log_.recs[N].jws;
    dot = (size_t)(strchr(j, '.') - j);
    /* a byte inside the payload, where the keys are */
    j[dot + 400] = j[dot + 400] == 'A' ? 'B' : 'A';
    expect_named(verify(&log_), "record seq 8 (line");
    cr_assert_eq(res.bad_seq, N + 1);
}

#define GOOD_KEY                                                                                   \
    "{\"event\":\"key-generate\",\"kind\":\"secret\",\"time\":\"2026-01-01T00:00:00Z\""

/* A signed session-keys payload whose "keys" is empty, whose entry has no
 * generation event, or whose entry's "policy" is no index into the
 * record's "policies", is malformed: the verifier names the record. */
Test(att_verify, session_keys_without_keys_is_malformed, .init = setup, .fini = teardown)
{
    static const char *const bodies[] = {
        "\"keys\":[],\"policies\":[{}]",
        "\"keys\":[{\"kind\":\"pair\",\"time\":\"2026-01-01T00:00:00Z\",\"policy\":0}],"
        "\"policies\":[{}]",
        "\"keys\":{}",
        "\"keys\":[" GOOD_KEY ",\"policy\":0}]",
        "\"keys\":[" GOOD_KEY ",\"policy\":0}],\"policies\":[]",
        "\"keys\":[" GOOD_KEY ",\"policy\":1}],\"policies\":[{}]",
        "\"keys\":[" GOOD_KEY ",\"policy\":\"0\"}],\"policies\":[{}]",
        "\"keys\":[" GOOD_KEY "}],\"policies\":[{}]",
        "\"keys\":[" GOOD_KEY ",\"policy\":0}],\"policies\":[true]",
    };

    for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
        char prev[QT_ATT_HASH_HEX], payload[1024], *jws = NULL;

        cr_assert_eq(qt_att_record_hash(log_.recs[N - 1].jws, prev), QT_OK);
        (void)snprintf(payload, sizeof(payload),
                       "{\"v\":1,\"seq\":%d,\"prev\":\"%s\",\"event\":\"session-keys\","
                       "\"time\":\"2026-01-01T00:00:00Z\",\"token\":{\"serial\":\"SERIAL-A\","
                       "\"label\":\"token-a\"},%s}",
                       N + 1, prev, bodies[b]);
        cr_assert_eq(qt_att_jws_sign(key, payload, strlen(payload), &jws), QT_OK);
        cr_assert_eq(qt_att_log_add(&log_, N + 1, jws), QT_OK);
        free(jws);
        cr_assert_eq(verify(&log_), QT_E_FORMAT, "%s", bodies[b]);
        expect_named(QT_E_FORMAT, "record seq 8 (line");
        cr_assert_not_null(strstr(res.reason, "keys"), "%s", res.reason);
        free(log_.recs[N].jws);
        log_.n--;
    }
    /* the control: the same with a well-formed key and policy verifies */
    {
        char prev[QT_ATT_HASH_HEX], payload[1024], *jws = NULL;

        cr_assert_eq(qt_att_record_hash(log_.recs[N - 1].jws, prev), QT_OK);
        (void)snprintf(payload, sizeof(payload),
                       "{\"v\":1,\"seq\":%d,\"prev\":\"%s\",\"event\":\"session-keys\","
                       "\"time\":\"2026-01-01T00:00:00Z\",\"token\":{\"serial\":\"SERIAL-A\","
                       "\"label\":\"token-a\"},\"keys\":[" GOOD_KEY ",\"policy\":0}],"
                       "\"policies\":[{\"sensitive\":true}]}",
                       N + 1, prev);
        cr_assert_eq(qt_att_jws_sign(key, payload, strlen(payload), &jws), QT_OK);
        cr_assert_eq(qt_att_log_add(&log_, N + 1, jws), QT_OK);
        free(jws);
        cr_assert_eq(verify(&log_), QT_OK, "%s", res.reason);
    }
}
