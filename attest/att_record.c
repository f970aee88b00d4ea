/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attestation records: the JSON payload of attest/FORMAT.md built from the
 * plain event structs of att.h (json-c), chained to the previous record by
 * the SHA-256 of its compact JWS text, and signed as a compact JWS.  No key
 * material and no PIN ever enters a payload: keys appear only as public-key
 * fingerprints or key check values.
 */
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/common/buf.h"
#include "../src/common/check.h"
#include "att.h"

static const char *const event_names[QT_ATT_EV__COUNT] = {
    [QT_ATT_EV_TOKEN_INIT] = "token-init",
    [QT_ATT_EV_KEY_GENERATE] = "key-generate",
    [QT_ATT_EV_KEYPAIR_GENERATE] = "keypair-generate",
    [QT_ATT_EV_KEY_IMPORT] = "key-import",
    [QT_ATT_EV_KEY_DESTROY] = "key-destroy",
    [QT_ATT_EV_PIN_INIT] = "pin-init",
    [QT_ATT_EV_PIN_CHANGE] = "pin-change",
    [QT_ATT_EV_PIN_LOCKED] = "pin-locked",
    [QT_ATT_EV_REKEY] = "rekey",
    [QT_ATT_EV_HEALTH_FAILURE] = "health-failure",
    [QT_ATT_EV_HEALTH_RECOVERY] = "health-recovery",
    [QT_ATT_EV_CEREMONY] = "ceremony",
    [QT_ATT_EV_LOGIN_FAILURE] = "login-failure",
    [QT_ATT_EV_OBJECT_TAMPER] = "object-tamper",
    [QT_ATT_EV_SESSION_KEYS] = "session-keys",
};

const char *
qt_att_event_name(enum qt_att_event_type e)
{
    if ((unsigned)e >= QT_ATT_EV__COUNT) {
        return NULL;
    }
    return event_names[e];
}

qt_rc
qt_att_event_parse(const char *name, enum qt_att_event_type *out)
{
    QT_ENSURE(name != NULL && out != NULL, QT_E_ARG);
    for (unsigned i = 0; i < QT_ATT_EV__COUNT; i++) {
        if (strcmp(name, event_names[i]) == 0) {
            *out = (enum qt_att_event_type)i;
            return QT_OK;
        }
    }
    return QT_E_FORMAT;
}

qt_rc
qt_att_record_hash(const char *jws, char hex[QT_ATT_HASH_HEX])
{
    unsigned char md[32];

    QT_ENSURE(jws != NULL && hex != NULL, QT_E_ARG);
    if (EVP_Digest(jws, strlen(jws), md, NULL, EVP_sha256(), NULL) != 1) {
        return QT_E_CRYPTO;
    }
    qt_hex(hex, md, sizeof(md));
    return QT_OK;
}

/* json-c helpers: each returns 0 on success, -1 on allocation failure (the
 * value is released by json-c on a failed add).  Every key is a string
 * literal added once per object: json-c neither copies it nor looks for an
 * earlier entry (a session-keys record adds ~30 members per key). */
static int
add(json_object *o, const char *k, json_object *v)
{
    if (v == NULL) {
        return -1;
    }
    return json_object_object_add_ex(o, k, v,
                                     JSON_C_OBJECT_ADD_KEY_IS_NEW |
                                         JSON_C_OBJECT_KEY_IS_CONSTANT) == 0
               ? 0
               : -1;
}

static int
add_str(json_object *o, const char *k, const char *s)
{
    return s == NULL ? 0 : add(o, k, json_object_new_string(s));
}

static int
add_u64(json_object *o, const char *k, uint64_t v)
{
    return add(o, k, json_object_new_uint64(v));
}

static int
add_bool(json_object *o, const char *k, int v)
{
    return add(o, k, json_object_new_boolean(v ? 1 : 0));
}

static int
add_tri(json_object *o, const char *k, enum qt_att_bool v)
{
    return v == QT_ATT_UNSET ? 0 : add_bool(o, k, v == QT_ATT_TRUE);
}

/* Entropy figures to 4 decimals: stable, readable serialisation. */
static int
add_real(json_object *o, const char *k, double v)
{
    char s[48];

    (void)snprintf(s, sizeof(s), "%.4f", v);
    return add(o, k, json_object_new_double_s(v, s));
}

static int
add_hex(json_object *o, const char *k, const uint8_t *p, size_t n)
{
    char small[129], *hex = n <= 64 ? small : malloc(2 * n + 1);
    int r;

    if (hex == NULL) {
        return -1;
    }
    qt_hex(hex, p, n);
    r = add(o, k, json_object_new_string_len(hex, (int)(2 * n)));
    if (hex != small) {
        free(hex);
    }
    return r;
}

/* The key's policy attributes, where known (FORMAT.md 2.1 "attributes"). */
static json_object *
policy_json(const struct qt_att_key_desc *kd)
{
    json_object *a = json_object_new_object();
    int e = 0;

    if (a == NULL) {
        return NULL;
    }
    e |= add_tri(a, "sensitive", kd->sensitive);
    e |= add_tri(a, "extractable", kd->extractable);
    e |= add_tri(a, "never_extractable", kd->never_extractable);
    e |= add_tri(a, "always_sensitive", kd->always_sensitive);
    e |= add_tri(a, "local", kd->local);
    e |= add_tri(a, "private", kd->private_);
    e |= add_tri(a, "modifiable", kd->modifiable);
    e |= add_tri(a, "copyable", kd->copyable);
    e |= add_tri(a, "destroyable", kd->destroyable);
    e |= add_tri(a, "sign", kd->sign);
    e |= add_tri(a, "decrypt", kd->decrypt);
    e |= add_tri(a, "unwrap", kd->unwrap);
    e |= add_tri(a, "derive", kd->derive);
    if (e != 0) {
        json_object_put(a);
        return NULL;
    }
    return a;
}

/* The key's description without its policy. */
static json_object *
key_fields_json(const struct qt_att_key_desc *kd)
{
    json_object *o = json_object_new_object();
    int e = 0;

    if (o == NULL) {
        return NULL;
    }
    e |= add_str(o, "mechanism", kd->mechanism);
    e |= add_str(o, "type", kd->type);
    if (kd->bits > 0) {
        e |= add_u64(o, "bits", kd->bits);
    }
    e |= add_str(o, "curve", kd->curve);
    e |= add_hex(o, "id", kd->id, kd->id != NULL ? kd->id_len : 0);
    e |= add_str(o, "label", kd->label);
    e |= add_str(o, "kind", kd->is_pair ? "pair" : "secret");
    e |= add_bool(o, "public", kd->is_public);
    if (kd->has_spki) {
        e |= add_hex(o, "spki_sha256", kd->spki_sha256, sizeof(kd->spki_sha256));
    }
    if (kd->kcv_len > 0 && kd->kcv_len <= sizeof(kd->kcv)) {
        e |= add_hex(o, "kcv", kd->kcv, kd->kcv_len);
    }
    if (e != 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* A record's "key": the description with its policy as "attributes". */
static json_object *
key_json(const struct qt_att_key_desc *kd)
{
    json_object *o = key_fields_json(kd);

    if (o != NULL && add(o, "attributes", policy_json(kd)) != 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* The policy attributes of two key descriptions are the same. */
static int
same_policy(const struct qt_att_key_desc *a, const struct qt_att_key_desc *b)
{
    return a->sensitive == b->sensitive && a->extractable == b->extractable &&
           a->never_extractable == b->never_extractable &&
           a->always_sensitive == b->always_sensitive && a->local == b->local &&
           a->private_ == b->private_ && a->modifiable == b->modifiable &&
           a->copyable == b->copyable && a->destroyable == b->destroyable &&
           a->sign == b->sign && a->decrypt == b->decrypt && a->unwrap == b->unwrap &&
           a->derive == b->derive;
}

static json_object *
entropy_json(const struct qt_att_entropy *en)
{
    json_object *o = json_object_new_object();
    json_object *f = json_object_new_object();
    int e = 0;

    if (o == NULL || f == NULL) {
        json_object_put(o);
        json_object_put(f);
        return NULL;
    }
    e |= add_str(o, "device_type", en->device_type != NULL ? en->device_type : "unknown");
    e |= add_str(o, "device_serial", en->device_serial != NULL ? en->device_serial : "");
    e |= add_bool(o, "simulated", en->simulated);
    e |= add_real(o, "h_declared", en->h_declared);
    e |= add_real(o, "h_estimate", en->h_estimate);
    e |= add_u64(o, "raw_samples", en->raw_samples);
    e |= add_u64(o, "startup_runs", en->startup_runs);
    e |= add_str(o, "state", en->state == 0 ? "ok" : "error");
    e |= add_u64(f, "rct", en->failures_rct);
    e |= add_u64(f, "apt", en->failures_apt);
    e |= add_u64(f, "block_repeat", en->failures_block_repeat);
    e |= add_u64(f, "estimate", en->failures_estimate);
    e |= add_u64(f, "read", en->failures_read);
    e |= add_u64(f, "drift", en->failures_drift);
    e |= add(o, "failures", f);
    e |= add_u64(o, "bits_drawn", en->bits_drawn);
    e |= add_u64(o, "reseeds", en->reseeds);
    e |= add_bool(o, "prediction_resistance", en->prediction_resistance);
    if (e != 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static int
format_time(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = t != 0 ? (time_t)t : time(NULL);

    if (gmtime_r(&tt, &tm) == NULL) {
        return -1;
    }
    return strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0 ? 0 : -1;
}

/* The "keys" and "policies" of a session-keys record (FORMAT.md 2.5): each
 * key as key_json gives it but with "policy", the index of its attributes
 * in "policies" (each distinct policy once: a batch's keys mostly share
 * one, and ~250 of a key's ~460 bytes were its attributes), plus the
 * generation's own event name, time and evidence. */
static int
keys_json(const struct qt_att_batch_key *keys, size_t n, json_object **keys_out,
          json_object **policies_out)
{
    json_object *arr = json_object_new_array_ext((int)n);
    json_object *pol = json_object_new_array();
    const struct qt_att_key_desc **distinct = calloc(n, sizeof(*distinct));
    size_t np = 0;
    char when[32];

    if (arr == NULL || pol == NULL || distinct == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const struct qt_att_batch_key *b = &keys[i];
        json_object *o;
        size_t p = 0;
        int e = 0;

        while (p < np && !same_policy(&b->key, distinct[p])) {
            p++;
        }
        if (p == np) {
            json_object *pj = policy_json(&b->key);

            if (pj == NULL || json_object_array_add(pol, pj) != 0) {
                json_object_put(pj);
                goto fail;
            }
            distinct[np++] = &b->key;
        }
        if (format_time(b->time, when) != 0 || (o = key_fields_json(&b->key)) == NULL) {
            goto fail;
        }
        e |= add_u64(o, "policy", p);
        e |= add_str(o, "event", qt_att_event_name(b->type));
        e |= add_str(o, "time", when);
        e |= add_u64(o, "bits_drawn", b->bits_drawn);
        e |= add_bool(o, "prediction_resistance", b->prediction_resistance);
        if (e != 0 || json_object_array_add(arr, o) != 0) {
            json_object_put(o);
            goto fail;
        }
    }
    free(distinct);
    *keys_out = arr;
    *policies_out = pol;
    return 0;
fail:
    free(distinct);
    json_object_put(arr);
    json_object_put(pol);
    return -1;
}

static qt_rc
payload_build(const char *prev_hex, uint64_t seq, const struct qt_att_event *ev, char **out)
{
    json_object *o, *tok;
    char when[32];
    int e = 0;
    qt_rc rc = QT_E_NOMEM;

    if (format_time(ev->time, when) != 0) {
        return QT_E_RANGE;
    }
    o = json_object_new_object();
    tok = json_object_new_object();
    if (o == NULL || tok == NULL) {
        json_object_put(o);
        json_object_put(tok);
        return QT_E_NOMEM;
    }
    e |= add_u64(o, "v", QT_ATT_FORMAT_VERSION);
    e |= add_u64(o, "seq", seq);
    e |= add_str(o, "prev", prev_hex);
    e |= add_str(o, "event", qt_att_event_name(ev->type));
    e |= add_str(o, "time", when);
    e |= add_str(tok, "serial", ev->token_serial);
    e |= add_str(tok, "label", ev->token_label);
    e |= add(o, "token", tok);
    if (ev->key != NULL) {
        e |= add(o, "key", key_json(ev->key));
    }
    if (ev->type == QT_ATT_EV_SESSION_KEYS) {
        json_object *ka = NULL, *pa = NULL;

        if (keys_json(ev->keys, ev->nkeys, &ka, &pa) != 0) {
            e = -1;
        } else {
            e |= add(o, "keys", ka);
            e |= add(o, "policies", pa);
        }
    }
    if (ev->entropy != NULL) {
        e |= add(o, "entropy", entropy_json(ev->entropy));
    }
    e |= add_str(o, "user", ev->user);
    e |= add_str(o, "test", ev->test);
    e |= add_str(o, "note", ev->note);
    if (ev->pin_limit > 0) {
        e |= add_u64(o, "pin_failures", ev->pin_failures);
        e |= add_u64(o, "pin_limit", ev->pin_limit);
    }
    if (ev->object_id > 0) {
        e |= add_u64(o, "object_id", ev->object_id);
    }
    if (e == 0) {
        *out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
        rc = *out != NULL ? QT_OK : QT_E_NOMEM;
    }
    json_object_put(o);
    return rc;
}

qt_rc
qt_att_record_build(const struct qt_att_key *k, const char *prev_jws, uint64_t seq,
                    const struct qt_att_event *ev, char **jws)
{
    char prev[QT_ATT_HASH_HEX];
    char *payload = NULL;
    qt_rc rc;

    QT_ENSURE(k != NULL && ev != NULL && jws != NULL, QT_E_ARG);
    QT_ENSURE(ev->token_serial != NULL && ev->token_label != NULL, QT_E_ARG);
    QT_ENSURE(qt_att_event_name(ev->type) != NULL, QT_E_ARG);
    /* A session-keys record holds at least one key; no other record holds any. */
    QT_ENSURE((ev->type == QT_ATT_EV_SESSION_KEYS) == (ev->keys != NULL && ev->nkeys > 0),
              QT_E_ARG);
    for (size_t i = 0; i < ev->nkeys && ev->keys != NULL; i++) {
        QT_ENSURE(ev->keys[i].type == QT_ATT_EV_KEY_GENERATE ||
                      ev->keys[i].type == QT_ATT_EV_KEYPAIR_GENERATE,
                  QT_E_ARG);
    }
    /* The chain starts at 1 with no predecessor; every later record has one. */
    QT_ENSURE(seq >= 1 && (prev_jws == NULL) == (seq == 1), QT_E_ARG);
    if (prev_jws == NULL) {
        memset(prev, '0', 64);
        prev[64] = '\0';
    } else {
        QT_TRY(qt_att_record_hash(prev_jws, prev));
    }
    QT_TRY(payload_build(prev, seq, ev, &payload));
    rc = qt_att_jws_sign(k, payload, strlen(payload), jws);
    free(payload);
    return rc;
}
