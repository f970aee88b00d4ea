/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The log verifier: every signature, the payload format, the chain (seq
 * gapless from 1 in file order, prev = hash of the previous record, first
 * record a token-init, one token throughout), then look-ups of a key's
 * generation record by public-key fingerprint (inside session-keys records too),
 * and a readable rendering.
 * Every failure message names the record (its seq and line).  See the
 * theory of operation in att_log.c.
 */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/check.h"
#include "att.h"

static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

static const char *
get_str(json_object *o, const char *k)
{
    json_object *v;

    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    return json_object_get_string(v);
}

static int
get_u64(json_object *o, const char *k, uint64_t *out)
{
    json_object *v;

    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int)) {
        return -1;
    }
    if (json_object_get_int64(v) < 0) {
        return -1;
    }
    *out = json_object_get_uint64(v);
    return 0;
}

static int
is_hex64(const char *s)
{
    if (s == NULL || strlen(s) != 64) {
        return 0;
    }
    for (size_t i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* A session-keys record's "keys": a non-empty array of key objects, each
 * naming its generation event, time and kind, and its "policy": an index
 * into the record's "policies", an array of attribute objects
 * (FORMAT.md 2.5). */
static const char *
check_keys(json_object *p)
{
    json_object *keys, *pols, *pi;
    size_t n, np;

    if (!json_object_object_get_ex(p, "keys", &keys) ||
        !json_object_is_type(keys, json_type_array) || (n = json_object_array_length(keys)) == 0) {
        return "session-keys record has no non-empty \"keys\" array";
    }
    if (!json_object_object_get_ex(p, "policies", &pols) ||
        !json_object_is_type(pols, json_type_array) || (np = json_object_array_length(pols)) == 0) {
        return "session-keys record has no non-empty \"policies\" array";
    }
    for (size_t i = 0; i < np; i++) {
        if (!json_object_is_type(json_object_array_get_idx(pols, i), json_type_object)) {
            return "session-keys record has a \"policies\" entry that is not an object";
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_object *k = json_object_array_get_idx(keys, i);
        const char *ev, *kind;

        if (!json_object_is_type(k, json_type_object) || (ev = get_str(k, "event")) == NULL ||
            (strcmp(ev, "key-generate") != 0 && strcmp(ev, "keypair-generate") != 0) ||
            get_str(k, "time") == NULL || (kind = get_str(k, "kind")) == NULL ||
            (strcmp(kind, "pair") != 0 && strcmp(kind, "secret") != 0)) {
            return "session-keys record has a \"keys\" entry without a generation event, "
                   "time and kind";
        }
        if (!json_object_object_get_ex(k, "policy", &pi) ||
            !json_object_is_type(pi, json_type_int) || json_object_get_int64(pi) < 0 ||
            (uint64_t)json_object_get_int64(pi) >= np) {
            return "session-keys record has a \"keys\" entry whose \"policy\" is not an "
                   "index into \"policies\"";
        }
    }
    return NULL;
}

/* Checks the fixed fields of a payload; returns a reason or NULL. */
static const char *
check_payload(json_object *p, uint64_t *seq, const char **prev, const char **event,
              const char **serial, const char **label)
{
    enum qt_att_event_type ev;
    json_object *tok;
    const char *why;
    uint64_t v;

    if (!json_object_is_type(p, json_type_object)) {
        return "payload is not a JSON object";
    }
    if (get_u64(p, "v", &v) != 0) {
        return "payload has no format version \"v\"";
    }
    if (v != QT_ATT_FORMAT_VERSION) {
        return "unsupported format version";
    }
    if (get_u64(p, "seq", seq) != 0) {
        return "payload has no \"seq\"";
    }
    *prev = get_str(p, "prev");
    if (!is_hex64(*prev)) {
        return "payload \"prev\" is not 64 lowercase hex digits";
    }
    *event = get_str(p, "event");
    if (*event == NULL || qt_att_event_parse(*event, &ev) != QT_OK) {
        return "payload has no known \"event\"";
    }
    if (get_str(p, "time") == NULL) {
        return "payload has no \"time\"";
    }
    if (ev == QT_ATT_EV_SESSION_KEYS && (why = check_keys(p)) != NULL) {
        return why;
    }
    if (!json_object_object_get_ex(p, "token", &tok) ||
        (*serial = get_str(tok, "serial")) == NULL || (*label = get_str(tok, "label")) == NULL) {
        return "payload has no token serial and label";
    }
    return NULL;
}

static qt_rc fail(struct qt_att_verify_result *res, size_t i, const struct qt_att_rec *r, qt_rc rc,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static qt_rc
fail(struct qt_att_verify_result *res, size_t i, const struct qt_att_rec *r, qt_rc rc,
     const char *fmt, ...)
{
    char what[200];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    res->bad_index = i;
    res->bad_seq = r->seq;
    (void)snprintf(res->reason, sizeof(res->reason), "record seq %llu (line %zu): %s",
                   (unsigned long long)r->seq, r->line, what);
    return rc;
}

/* Whether a record from index `from` on carries seq (its line's seq). */
static int
seq_later(const struct qt_att_log *log, size_t from, uint64_t seq)
{
    for (size_t j = from; j < log->n; j++) {
        if (log->recs[j].seq == seq) {
            return 1;
        }
    }
    return 0;
}

qt_rc
qt_att_log_verify(const struct qt_att_log *log, EVP_PKEY *pub, struct qt_att_verify_result *res)
{
    char expect_prev[QT_ATT_HASH_HEX];
    char num[2][32];
    qt_rc rc = QT_OK;

    QT_ENSURE(log != NULL && pub != NULL && res != NULL, QT_E_ARG);
    memset(res, 0, sizeof(*res));
    if (log->n == 0) {
        (void)snprintf(res->reason, sizeof(res->reason), "the log holds no record");
        return QT_E_FORMAT;
    }
    memcpy(expect_prev, zero_hash, sizeof(zero_hash));
    for (size_t i = 0; i < log->n && rc == QT_OK; i++) {
        const struct qt_att_rec *r = &log->recs[i];
        const char *prev = NULL, *event = NULL, *serial = NULL, *label = NULL, *why;
        json_object *p = NULL;
        char *payload = NULL;
        size_t plen;
        uint64_t seq = 0;

        rc = qt_att_jws_verify(pub, r->jws, &payload, &plen);
        if (rc == QT_E_SIGNATURE) {
            rc = fail(res, i, r, rc, "signature does not verify with the given attestation key");
            break;
        }
        if (rc != QT_OK) {
            rc = fail(res, i, r, QT_E_FORMAT, "malformed JWS (%s)", qt_rc_str(rc));
            break;
        }
        p = json_tokener_parse(payload);
        free(payload);
        why = p == NULL ? "payload is not JSON"
                        : check_payload(p, &seq, &prev, &event, &serial, &label);
        if (why != NULL) {
            rc = fail(res, i, r, QT_E_FORMAT, "%s", why);
        } else if (seq != r->seq) {
            (void)snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)seq);
            rc = fail(res, i, r, QT_E_TAMPER, "the line's seq differs from the signed seq %s",
                      num[0]);
        } else if (i == 0) {
            (void)snprintf(res->token_serial, sizeof(res->token_serial), "%s", serial);
            (void)snprintf(res->token_label, sizeof(res->token_label), "%s", label);
        } else if (strcmp(serial, res->token_serial) != 0) {
            rc = fail(res, i, r, QT_E_TAMPER,
                      "belongs to token serial %s, not %s (record spliced from another token)",
                      serial, res->token_serial);
        }
        if (rc == QT_OK && seq != (uint64_t)i + 1) {
            (void)snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)i + 1);
            if (seq < (uint64_t)i + 1) {
                rc = fail(res, i, r, QT_E_TAMPER,
                          "out of order or repeated: expected seq %s here (reordered or forked)",
                          num[0]);
            } else if (seq_later(log, i + 1, (uint64_t)i + 1)) {
                rc = fail(res, i, r, QT_E_TAMPER,
                          "out of order: expected seq %s here, which comes later (reordered)",
                          num[0]);
            } else {
                rc = fail(res, i, r, QT_E_TAMPER,
                          "gap in the chain: expected seq %s here (record missing)", num[0]);
            }
        }
        if (rc == QT_OK && strcmp(prev, expect_prev) != 0) {
            rc = i == 0 ? fail(res, i, r, QT_E_TAMPER,
                               "first record's prev is not 64 zeros (log truncated at the start)")
                        : fail(res, i, r, QT_E_TAMPER,
                               "prev %.16s... does not match the hash %.16s... of the record "
                               "before it",
                               prev, expect_prev);
        }
        if (rc == QT_OK && i == 0 && strcmp(event, "token-init") != 0) {
            rc = fail(res, i, r, QT_E_TAMPER, "first record is a %s, not a token-init", event);
        }
        json_object_put(p);
        if (rc == QT_OK) {
            rc = qt_att_record_hash(r->jws, expect_prev);
            res->records = i + 1;
        }
    }
    if (rc == QT_OK) {
        memcpy(res->last_hash, expect_prev, sizeof(res->last_hash));
    }
    return rc;
}

/* Whether key object k has SPKI SHA-256 spki_hex. */
static int
key_matches(json_object *k, const char *spki_hex)
{
    const char *fp = get_str(k, "spki_sha256");

    return fp != NULL && strcmp(fp, spki_hex) == 0;
}

/* Looks for spki_hex in payload p: a keypair-generate/key-import record's
 * "key" (*entry = QT_ATT_NO_ENTRY), or, if in_batches, an entry of a
 * session-keys record's "keys" (*entry = its index).  1 if found. */
static int
payload_has_key(json_object *p, const char *spki_hex, int in_batches, size_t *entry)
{
    json_object *key, *keys;
    const char *ev;

    if (p == NULL || (ev = get_str(p, "event")) == NULL) {
        return 0;
    }
    if ((strcmp(ev, "keypair-generate") == 0 || strcmp(ev, "key-import") == 0) &&
        json_object_object_get_ex(p, "key", &key) && key_matches(key, spki_hex)) {
        *entry = QT_ATT_NO_ENTRY;
        return 1;
    }
    if (in_batches && strcmp(ev, "session-keys") == 0 &&
        json_object_object_get_ex(p, "keys", &keys) && json_object_is_type(keys, json_type_array)) {
        for (size_t j = 0; j < json_object_array_length(keys); j++) {
            if (key_matches(json_object_array_get_idx(keys, j), spki_hex)) {
                *entry = j;
                return 1;
            }
        }
    }
    return 0;
}

static qt_rc
find_key(const struct qt_att_log *log, const char *spki_hex, int in_batches, size_t *index,
         size_t *entry, char **payload)
{
    QT_ENSURE(log != NULL && spki_hex != NULL && index != NULL, QT_E_ARG);
    for (size_t i = 0; i < log->n; i++) {
        json_object *p;
        char *text = NULL;
        size_t len, at = QT_ATT_NO_ENTRY;
        int hit;

        if (qt_att_jws_payload(log->recs[i].jws, &text, &len) != QT_OK) {
            continue;
        }
        p = json_tokener_parse(text);
        hit = payload_has_key(p, spki_hex, in_batches, &at);
        json_object_put(p);
        if (hit) {
            *index = i;
            if (entry != NULL) {
                *entry = at;
            }
            if (payload != NULL) {
                *payload = text;
            } else {
                free(text);
            }
            return QT_OK;
        }
        free(text);
    }
    return QT_E_NOTFOUND;
}

qt_rc
qt_att_log_find_key(const struct qt_att_log *log, const char *spki_hex, size_t *index,
                    char **payload)
{
    return find_key(log, spki_hex, 0, index, NULL, payload);
}

qt_rc
qt_att_log_find_key_entry(const struct qt_att_log *log, const char *spki_hex, size_t *index,
                          size_t *entry, char **payload)
{
    return find_key(log, spki_hex, 1, index, entry, payload);
}

static void print_value(FILE *f, json_object *v, int depth);

static void
print_object(FILE *f, json_object *o, int depth)
{
    json_object_object_foreach(o, k, v)
    {
        if (json_object_is_type(v, json_type_object)) {
            (void)fprintf(f, "%*s%s:\n", depth * 2, "", k);
            print_object(f, v, depth + 1);
        } else if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0 &&
                   json_object_is_type(json_object_array_get_idx(v, 0), json_type_object)) {
            /* the keys of a session-keys record: one block each */
            size_t n = json_object_array_length(v);

            (void)fprintf(f, "%*s%s (%zu):\n", depth * 2, "", k, n);
            for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(v, i);

                (void)fprintf(f, "%*s[%zu]\n", (depth + 1) * 2, "", i);
                if (json_object_is_type(e, json_type_object)) {
                    print_object(f, e, depth + 2);
                } else {
                    (void)fprintf(f, "%*s", (depth + 2) * 2, "");
                    print_value(f, e, depth + 2);
                    (void)fputc('\n', f);
                }
            }
        } else {
            (void)fprintf(f, "%*s%-22s ", depth * 2, "", k);
            print_value(f, v, depth);
            (void)fputc('\n', f);
        }
    }
}

static void
print_value(FILE *f, json_object *v, int depth)
{
    (void)depth;
    if (json_object_is_type(v, json_type_string)) {
        (void)fputs(json_object_get_string(v), f);
    } else if (json_object_is_type(v, json_type_boolean)) {
        (void)fputs(json_object_get_boolean(v) ? "yes" : "no", f);
    } else {
        (void)fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), f);
    }
}

void
qt_att_payload_entropy_summary(const char *payload, char *out, size_t outlen)
{
    json_object *p = json_tokener_parse(payload), *e, *sim;
    const char *type, *serial;

    if (outlen > 0) {
        out[0] = '\0';
    }
    if (p != NULL && json_object_object_get_ex(p, "entropy", &e) &&
        (type = get_str(e, "device_type")) != NULL) {
        serial = get_str(e, "device_serial");
        if (json_object_object_get_ex(e, "simulated", &sim) && json_object_get_boolean(sim)) {
            (void)snprintf(out, outlen, "entropy: %s %s (SIMULATED, not quantum)", type,
                           serial != NULL ? serial : "");
        } else {
            json_object *h;
            double hd =
                json_object_object_get_ex(e, "h_declared", &h) ? json_object_get_double(h) : 0.0;
            (void)snprintf(out, outlen, "entropy: %s %s H %.4f", type, serial != NULL ? serial : "",
                           hd);
        }
    }
    json_object_put(p);
}

void
qt_att_payload_print(const char *payload, FILE *f)
{
    json_object *p = json_tokener_parse(payload);
    const char *ev, *t;
    uint64_t seq = 0;

    if (p == NULL || !json_object_is_type(p, json_type_object)) {
        (void)fprintf(f, "(unreadable payload)\n");
        json_object_put(p);
        return;
    }
    ev = get_str(p, "event");
    t = get_str(p, "time");
    (void)get_u64(p, "seq", &seq);
    (void)fprintf(f, "#%llu  %s  %s\n", (unsigned long long)seq, t != NULL ? t : "?",
                  ev != NULL ? ev : "?");
    json_object_object_del(p, "seq");
    json_object_object_del(p, "time");
    json_object_object_del(p, "event");
    print_object(f, p, 1);
    json_object_put(p);
}
