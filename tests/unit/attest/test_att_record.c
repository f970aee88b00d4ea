/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Record building and the compact JWS: payload fields of FORMAT.md, the
 * base64url codec, ES256 (R||S) and EdDSA signatures, argument checks.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "att_test.h"

static char dir[] = "/tmp/qt-attr-XXXXXX";
static struct qt_att_key *key;

static void
setup_p256(void)
{
    key = att_test_key(dir, QT_ATT_KEY_P256);
}

static void
setup_ed(void)
{
    key = att_test_key(dir, QT_ATT_KEY_ED25519);
}

static void
teardown(void)
{
    qt_att_key_free(key);
    att_test_rmdir(dir);
}

static json_object *
payload_of(const char *jws)
{
    char *text = NULL;
    size_t len;
    json_object *o;

    cr_assert_eq(qt_att_jws_verify(qt_att_key_pkey(key), jws, &text, &len), QT_OK);
    o = json_tokener_parse(text);
    cr_assert_not_null(o);
    free(text);
    return o;
}

static const char *
str_at(json_object *o, const char *a, const char *b)
{
    json_object *v;

    cr_assert(json_object_object_get_ex(o, a, &v), "no %s", a);
    if (b != NULL) {
        cr_assert(json_object_object_get_ex(v, b, &v), "no %s.%s", a, b);
    }
    return json_object_get_string(v);
}

/* Policy attribute `name` of session key k of payload o: its "policy"
 * indexes the record's "policies" (FORMAT.md 2.5); NULL when absent. */
static const char *
key_policy(json_object *o, json_object *k, const char *name)
{
    json_object *pols, *idx, *pol, *v;

    cr_assert(json_object_object_get_ex(o, "policies", &pols), "no policies");
    cr_assert(json_object_object_get_ex(k, "policy", &idx), "key without policy");
    cr_assert(json_object_is_type(idx, json_type_int));
    cr_assert_lt((size_t)json_object_get_int64(idx), json_object_array_length(pols));
    pol = json_object_array_get_idx(pols, (size_t)json_object_get_int64(idx));
    return json_object_object_get_ex(pol, name, &v) ? json_object_get_string(v) : NULL;
}

Test(att_b64url, roundtrip_all_lengths)
{
    uint8_t in[40];

    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(i * 37 + 250);
    }
    for (size_t n = 0; n <= sizeof(in); n++) {
        char *enc = NULL;
        uint8_t *dec = NULL;
        size_t dlen = 0;

        cr_assert_eq(qt_att_b64url_encode(in, n, &enc), QT_OK);
        cr_assert_eq(strlen(enc), (n * 4 + 2) / 3);
        cr_assert_null(strpbrk(enc, "+/="));
        cr_assert_eq(qt_att_b64url_decode(enc, strlen(enc), &dec, &dlen), QT_OK);
        cr_assert_eq(dlen, n);
        cr_assert(n == 0 || memcmp(dec, in, n) == 0);
        free(enc);
        free(dec);
    }
}

Test(att_b64url, known_vector_and_strictness)
{
    uint8_t *dec = NULL;
    size_t n;
    char *enc = NULL;

    /* RFC 7515 appendix C: the octets 3, 236, 255, 224, 193 encode as "A-z_4ME". */
    const uint8_t v[] = {3, 236, 255, 224, 193};
    cr_assert_eq(qt_att_b64url_encode(v, sizeof(v), &enc), QT_OK);
    cr_assert_str_eq(enc, "A-z_4ME");
    free(enc);
    cr_assert_eq(qt_att_b64url_decode("A-z_4ME", 7, &dec, &n), QT_OK);
    cr_assert_eq(n, 5);
    cr_assert(memcmp(dec, v, 5) == 0);
    free(dec);
    cr_assert_eq(qt_att_b64url_decode("A-z_4MF", 7, &dec, &n), QT_E_FORMAT); /* trailing bits */
    cr_assert_eq(qt_att_b64url_decode("A+z_", 4, &dec, &n), QT_E_FORMAT);
    cr_assert_eq(qt_att_b64url_decode("AAA=", 4, &dec, &n), QT_E_FORMAT);
    cr_assert_eq(qt_att_b64url_decode("AAAAA", 5, &dec, &n), QT_E_FORMAT);
}

Test(att_record, payload_fields_p256, .init = setup_p256, .fini = teardown)
{
    struct qt_att_entropy en;
    struct qt_att_key_desc kd = {0};
    struct qt_att_event ev = {0};
    uint8_t id[] = {0xde, 0xad, 0xbe, 0xef};
    char *jws = NULL, *jws2 = NULL, prevhex[QT_ATT_HASH_HEX];
    json_object *p, *v;

    att_test_entropy(&en);
    ev.type = QT_ATT_EV_TOKEN_INIT;
    ev.token_serial = "0123456789abcdef";
    ev.token_label = "ca-root";
    ev.time = 1790000000;
    ev.entropy = &en;
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_OK);
    p = payload_of(jws);
    cr_assert_str_eq(str_at(p, "prev", NULL),
                     "0000000000000000000000000000000000000000000000000000000000000000");
    cr_assert_str_eq(str_at(p, "event", NULL), "token-init");
    cr_assert_str_eq(str_at(p, "time", NULL), "2026-09-21T14:13:20Z");
    cr_assert_str_eq(str_at(p, "token", "serial"), "0123456789abcdef");
    cr_assert_str_eq(str_at(p, "entropy", "device_type"), "sim");
    cr_assert(json_object_object_get_ex(p, "v", &v) && json_object_get_int(v) == 1);
    cr_assert(json_object_object_get_ex(p, "seq", &v) && json_object_get_int(v) == 1);
    cr_assert(!json_object_object_get_ex(p, "key", &v));
    json_object_put(p);

    kd.mechanism = "CKM_EC_KEY_PAIR_GEN";
    kd.type = "EC";
    kd.curve = "P-384";
    kd.id = id;
    kd.id_len = sizeof(id);
    kd.label = "root \"key\"";
    kd.is_pair = 1;
    kd.has_spki = 1;
    memset(kd.spki_sha256, 0xab, 32);
    kd.sensitive = QT_ATT_TRUE;
    kd.never_extractable = QT_ATT_TRUE;
    kd.extractable = QT_ATT_FALSE;
    ev.type = QT_ATT_EV_KEYPAIR_GENERATE;
    ev.key = &kd;
    cr_assert_eq(qt_att_record_build(key, jws, 2, &ev, &jws2), QT_OK);
    p = payload_of(jws2);
    cr_assert_eq(qt_att_record_hash(jws, prevhex), QT_OK);
    cr_assert_str_eq(str_at(p, "prev", NULL), prevhex);
    cr_assert_str_eq(str_at(p, "key", "id"), "deadbeef");
    cr_assert_str_eq(str_at(p, "key", "label"), "root \"key\"");
    cr_assert_str_eq(str_at(p, "key", "curve"), "P-384");
    cr_assert_str_eq(str_at(p, "key", "spki_sha256"),
                     "abababababababababababababababababababababababababababababababab");
    cr_assert(json_object_object_get_ex(p, "key", &v));
    cr_assert(json_object_object_get_ex(v, "attributes", &v));
    cr_assert(json_object_object_get_ex(v, "extractable", &v) && !json_object_get_boolean(v));
    /* a key pair whose private key is private: kind pair, public false */
    cr_assert_str_eq(str_at(p, "key", "kind"), "pair");
    cr_assert(json_object_object_get_ex(p, "key", &v));
    cr_assert(json_object_object_get_ex(v, "public", &v) && !json_object_get_boolean(v));
    cr_assert(!json_object_object_get_ex(p, "pin_failures", &v));
    cr_assert(!json_object_object_get_ex(p, "object_id", &v));
    json_object_put(p);
    free(jws);
    free(jws2);
}

/* `public` says whether a client made the key readable without login
 * (CKA_PRIVATE false); `kind` says pair or secret; login/lock and tamper
 * events carry their counters and object id. */
Test(att_record, public_kind_pin_counter_and_object_fields, .init = setup_p256, .fini = teardown)
{
    struct qt_att_key_desc kd = {.type = "AES", .bits = 256};
    struct qt_att_event ev = {.type = QT_ATT_EV_KEY_GENERATE,
                              .token_serial = "s",
                              .token_label = "l",
                              .key = &kd};
    json_object *p, *v;
    char *jws = NULL;
    const struct {
        int pair, pub;
        const char *kind;
    } cases[] = {{0, 0, "secret"}, {0, 1, "secret"}, {1, 0, "pair"}, {1, 1, "pair"}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kd.is_pair = cases[i].pair;
        kd.is_public = cases[i].pub;
        cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_OK);
        p = payload_of(jws);
        cr_assert_str_eq(str_at(p, "key", "kind"), cases[i].kind);
        cr_assert(json_object_object_get_ex(p, "key", &v));
        cr_assert(json_object_object_get_ex(v, "public", &v));
        cr_assert(json_object_is_type(v, json_type_boolean));
        cr_assert_eq(json_object_get_boolean(v), cases[i].pub, "case %zu", i);
        json_object_put(p);
        free(jws);
        jws = NULL;
    }
    ev = (struct qt_att_event){.type = QT_ATT_EV_PIN_LOCKED,
                               .token_serial = "s",
                               .token_label = "l",
                               .user = "so",
                               .pin_failures = 10,
                               .pin_limit = 10};
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_OK);
    p = payload_of(jws);
    cr_assert_str_eq(str_at(p, "event", NULL), "pin-locked");
    cr_assert_str_eq(str_at(p, "user", NULL), "so");
    cr_assert(json_object_object_get_ex(p, "pin_failures", &v) && json_object_get_int(v) == 10);
    cr_assert(json_object_object_get_ex(p, "pin_limit", &v) && json_object_get_int(v) == 10);
    json_object_put(p);
    free(jws);
    ev = (struct qt_att_event){.type = QT_ATT_EV_OBJECT_TAMPER,
                               .token_serial = "s",
                               .token_label = "l",
                               .object_id = 42};
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_OK);
    p = payload_of(jws);
    cr_assert_str_eq(str_at(p, "event", NULL), "object-tamper");
    cr_assert(json_object_object_get_ex(p, "object_id", &v) && json_object_get_int(v) == 42);
    json_object_put(p);
    free(jws);
}

Test(att_record, es256_signature_is_raw_64_bytes, .init = setup_p256, .fini = teardown)
{
    struct qt_att_event ev = {
        .type = QT_ATT_EV_TOKEN_INIT, .token_serial = "s", .token_label = "l"};
    char *jws = NULL, *hdr = NULL;
    uint8_t *sig = NULL;
    size_t n;
    const char *dot2;

    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_OK);
    dot2 = strrchr(jws, '.');
    cr_assert_eq(qt_att_b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig, &n), QT_OK);
    cr_assert_eq(n, 64);
    cr_assert_eq(qt_att_b64url_decode(jws, (size_t)(strchr(jws, '.') - jws), (uint8_t **)&hdr, &n),
                 QT_OK);
    cr_assert_not_null(strstr(hdr, "\"alg\":\"ES256\""), "%s", hdr);
    cr_assert_not_null(strstr(hdr, qt_att_key_fingerprint(key)));
    free(hdr);
    free(sig);
    free(jws);
}

Test(att_record, eddsa_records_verify, .init = setup_ed, .fini = teardown)
{
    struct qt_att_log log;
    struct qt_att_verify_result res;

    cr_assert_str_eq(qt_att_key_alg(key), "EdDSA");
    att_test_log(key, "ED-1", "ed", 4, &log);
    cr_assert_eq(qt_att_log_verify(&log, qt_att_key_pkey(key), &res), QT_OK, "%s", res.reason);
    log.recs[2].jws[10] ^= 1;
    cr_assert_neq(qt_att_log_verify(&log, qt_att_key_pkey(key), &res), QT_OK);
    cr_assert_not_null(strstr(res.reason, "record seq 3 "), "%s", res.reason);
    qt_att_log_clear(&log);
}

Test(att_record, rejects_bad_arguments, .init = setup_p256, .fini = teardown)
{
    struct qt_att_event ev = {
        .type = QT_ATT_EV_TOKEN_INIT, .token_serial = "s", .token_label = "l"};
    char *jws = NULL;

    cr_assert_eq(qt_att_record_build(key, NULL, 2, &ev, &jws), QT_E_ARG);    /* no prev */
    cr_assert_eq(qt_att_record_build(key, "x.y.z", 1, &ev, &jws), QT_E_ARG); /* seq 1 w/ prev */
    cr_assert_eq(qt_att_record_build(key, NULL, 0, &ev, &jws), QT_E_ARG);
    ev.token_serial = NULL;
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_E_ARG);
    ev.token_serial = "s";
    ev.type = QT_ATT_EV__COUNT;
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_E_ARG);
    cr_assert_null(jws);
}

Test(att_record, event_names_roundtrip)
{
    for (unsigned i = 0; i < QT_ATT_EV__COUNT; i++) {
        enum qt_att_event_type e;
        const char *n = qt_att_event_name((enum qt_att_event_type)i);
        cr_assert_not_null(n);
        cr_assert_eq(qt_att_event_parse(n, &e), QT_OK);
        cr_assert_eq((unsigned)e, i);
    }
    cr_assert_null(qt_att_event_name(QT_ATT_EV__COUNT));
}

Test(att_jws, malformed_compact_forms_are_rejected, .init = setup_p256, .fini = teardown)
{
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", ".b.c", "a..c", "a.b.", "e30.e30.AAAA"};
    char *p = NULL;
    size_t n;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_neq(qt_att_jws_verify(qt_att_key_pkey(key), bad[i], &p, &n), QT_OK, "%s", bad[i]);
    }
    cr_assert_null(p);
}

/* A session-keys event of token S/L over keys[0 .. n). */
static void
session_keys_event(struct qt_att_event *ev, const struct qt_att_entropy *en,
                   const struct qt_att_batch_key *keys, size_t n)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = QT_ATT_EV_SESSION_KEYS;
    ev->token_serial = "S";
    ev->token_label = "L";
    ev->entropy = en;
    ev->keys = keys;
    ev->nkeys = n;
}

/* FORMAT.md 2.5: a session-keys record's "keys", each key as its own
 * record's "key" plus its generation event, time and evidence. */
Test(att_record, session_keys_payload, .init = setup_p256, .fini = teardown)
{
    struct qt_att_batch_key keys[2];
    struct qt_att_entropy en;
    struct qt_att_event ev;
    json_object *o, *arr, *k0, *k1, *v;
    uint8_t id[2] = {0xca, 0xfe};
    char *jws = NULL;

    att_test_entropy(&en);
    memset(keys, 0, sizeof(keys));
    keys[0].type = QT_ATT_EV_KEYPAIR_GENERATE;
    keys[0].time = 1700000000;
    keys[0].bits_drawn = 384;
    keys[0].prediction_resistance = 1;
    keys[0].key.mechanism = "CKM_EC_KEY_PAIR_GEN";
    keys[0].key.type = "EC";
    keys[0].key.curve = "P-256";
    keys[0].key.id = id;
    keys[0].key.id_len = sizeof(id);
    keys[0].key.label = "s0";
    keys[0].key.is_pair = 1;
    keys[0].key.has_spki = 1;
    memset(keys[0].key.spki_sha256, 0xab, 32);
    keys[0].key.sensitive = QT_ATT_TRUE;
    keys[1].type = QT_ATT_EV_KEY_GENERATE;
    keys[1].time = 1700000001;
    keys[1].bits_drawn = 256;
    keys[1].key.type = "AES";
    keys[1].key.bits = 256;
    memset(keys[1].key.kcv, 0x12, 3);
    keys[1].key.kcv_len = 3;
    session_keys_event(&ev, &en, keys, 2);
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_OK);
    o = payload_of(jws);
    cr_assert_str_eq(str_at(o, "event", NULL), "session-keys");
    cr_assert_not(json_object_object_get_ex(o, "key", &v), "no single \"key\"");
    cr_assert(json_object_object_get_ex(o, "keys", &arr));
    cr_assert_eq(json_object_array_length(arr), 2);
    k0 = json_object_array_get_idx(arr, 0);
    k1 = json_object_array_get_idx(arr, 1);
    cr_assert_str_eq(str_at(k0, "event", NULL), "keypair-generate");
    cr_assert_str_eq(str_at(k0, "time", NULL), "2023-11-14T22:13:20Z");
    cr_assert_str_eq(str_at(k0, "kind", NULL), "pair");
    cr_assert_str_eq(str_at(k0, "id", NULL), "cafe");
    cr_assert_str_eq(str_at(k0, "label", NULL), "s0");
    cr_assert_str_eq(str_at(k0, "curve", NULL), "P-256");
    cr_assert_str_eq(str_at(k0, "spki_sha256", NULL),
                     "abababababababababababababababababababababababababababababababab");
    cr_assert_str_eq(str_at(k0, "bits_drawn", NULL), "384");
    cr_assert_str_eq(str_at(k0, "prediction_resistance", NULL), "true");
    cr_assert_str_eq(key_policy(o, k0, "sensitive"), "true");
    cr_assert_not(json_object_object_get_ex(k0, "attributes", &v), "policy kept apart");
    cr_assert_eq(json_object_array_length(json_object_object_get(o, "policies")), 2,
                 "two keys, two policies");
    cr_assert_str_eq(str_at(k1, "event", NULL), "key-generate");
    cr_assert_str_eq(str_at(k1, "kind", NULL), "secret");
    cr_assert_str_eq(str_at(k1, "kcv", NULL), "121212");
    cr_assert_str_eq(str_at(k1, "prediction_resistance", NULL), "false");
    cr_assert_str_eq(str_at(o, "entropy", "device_type"), "sim");
    json_object_put(o);
    free(jws);
    jws = NULL;
    /* no keys, keys on another event, or a key that is no generation: refused */
    ev.nkeys = 0;
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_E_ARG);
    ev.nkeys = 2;
    ev.type = QT_ATT_EV_PIN_CHANGE;
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_E_ARG);
    ev.type = QT_ATT_EV_SESSION_KEYS;
    keys[1].type = QT_ATT_EV_KEY_DESTROY;
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_E_ARG);
    ev.keys = NULL;
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_E_ARG);
    cr_assert_null(jws);
}

/* Keys of a batch with the same policy share one "policies" entry; each
 * key's policy must still be its own: same, same, different, and one that
 * differs from the first only by an absent attribute -> three policies,
 * indexes 0 0 1 2. */
Test(att_record, session_keys_policies_per_key, .init = setup_p256, .fini = teardown)
{
    static const enum qt_att_bool sens[] = {QT_ATT_TRUE, QT_ATT_TRUE, QT_ATT_FALSE, QT_ATT_TRUE};
    static const enum qt_att_bool sign[] = {QT_ATT_TRUE, QT_ATT_TRUE, QT_ATT_TRUE, QT_ATT_UNSET};
    struct qt_att_batch_key keys[4];
    struct qt_att_entropy en;
    struct qt_att_event ev;
    json_object *o, *arr;
    char *jws = NULL;

    att_test_entropy(&en);
    memset(keys, 0, sizeof(keys));
    for (int i = 0; i < 4; i++) {
        keys[i].type = QT_ATT_EV_KEY_GENERATE;
        keys[i].time = 1700000000 + i;
        keys[i].key.type = "AES";
        keys[i].key.bits = 256;
        keys[i].key.kcv_len = 3;
        keys[i].key.sensitive = sens[i];
        keys[i].key.sign = sign[i];
        keys[i].key.extractable = QT_ATT_FALSE;
    }
    session_keys_event(&ev, &en, keys, 4);
    cr_assert_eq(qt_att_record_build(key, NULL, 1, &ev, &jws), QT_OK);
    o = payload_of(jws);
    cr_assert(json_object_object_get_ex(o, "keys", &arr));
    cr_assert_eq(json_object_array_length(arr), 4);
    cr_assert_eq(json_object_array_length(json_object_object_get(o, "policies")), 3);
    for (int i = 0; i < 4; i++) {
        static const char *const want_idx[] = {"0", "0", "1", "2"};
        json_object *k = json_object_array_get_idx(arr, (size_t)i);

        cr_assert_str_eq(str_at(k, "policy", NULL), want_idx[i], "key %d", i);
        cr_assert_str_eq(key_policy(o, k, "sensitive"), sens[i] == QT_ATT_TRUE ? "true" : "false",
                         "key %d", i);
        cr_assert_str_eq(key_policy(o, k, "extractable"), "false", "key %d", i);
        if (sign[i] == QT_ATT_UNSET) {
            cr_assert_null(key_policy(o, k, "sign"), "key %d: no sign", i);
        } else {
            cr_assert_str_eq(key_policy(o, k, "sign"), "true", "key %d", i);
        }
    }
    json_object_put(o);
    free(jws);
}
