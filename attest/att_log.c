/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A token's attestation log as a sequence of records, and its exported
 * form (JSON lines).
 *
 * ***************************************************************************
 * Theory of operation
 * ***************************************************************************
 *
 * Every event that changes what a token holds or who may use it (token
 * init, key generation and import, key destruction, PIN set/change/lock,
 * master-key rotation, entropy health failure and recovery) appends one
 * record to the token's log, in the same keystore transaction as the event:
 * either both are committed or neither.  (Session objects have no
 * transaction: their generations are queued by the module and written as
 * one session-keys record, FORMAT.md 2.5.)  The writer is pkcs11/:
 *
 *     qt_ks_txn_begin(tok);
 *     ... the event's keystore changes ...
 *     qt_ks_log_tail(tok, &seq, &prev);             prev: last JWS or NULL
 *     qt_att_record_build(att, prev, seq + 1, &ev, &jws);
 *     qt_ks_log_append(tok, seq + 1, jws);
 *     qt_ks_txn_commit(tok);                        (rollback on any error)
 *
 * A record is a compact JWS signed by the installation's attestation key
 * whose payload carries `seq` (1, 2, 3, ... without gaps) and `prev`, the
 * SHA-256 of the previous record's JWS text.  So the log is a hash chain
 * with a signature on every link:
 *
 *   - a changed byte anywhere breaks that record's signature (the base64url
 *     decoder is canonical, so no re-encoding survives either) and, if it is
 *     not the last record, the next record's `prev`;
 *   - a deleted record leaves a gap in `seq` and a `prev` that points at
 *     nothing present;
 *   - swapped records appear out of `seq` order;
 *   - a record taken from another token (same installation key, so its
 *     signature verifies) carries another token serial and a `prev` from
 *     another chain;
 *   - a forked chain (two records claiming one `seq`) is a gap or a repeat.
 *
 * What the chain cannot show by itself is truncation at the end: a log cut
 * after record N is a valid log of N records.  Verifiers that care pin the
 * head: `qtoken attest verify` prints the last seq and hash, and a ceremony
 * bundle's transcript records them.
 *
 * The verifier (att_verify.c) needs nothing but the log and the pinned
 * public key; FORMAT.md specifies the format so that any JOSE library can
 * check a record without our code.
 *
 * ***************************************************************************
 * The exported form
 * ***************************************************************************
 *
 * One JSON object per line, in seq order: {"seq":N,"jws":"<compact JWS>"}.
 * The line's seq is informative (the signed seq is inside the payload); the
 * verifier checks that both agree.
 */
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/buf.h"
#include "../src/common/check.h"
#include "att.h"

#define LOG_MAX_FILE (256u << 20) /* 256 MiB: far beyond any real log */

void
qt_att_log_init(struct qt_att_log *log)
{
    memset(log, 0, sizeof(*log));
}

void
qt_att_log_clear(struct qt_att_log *log)
{
    if (log == NULL) {
        return;
    }
    for (size_t i = 0; i < log->n; i++) {
        free(log->recs[i].jws);
    }
    free(log->recs);
    memset(log, 0, sizeof(*log));
}

static qt_rc
log_push(struct qt_att_log *log, uint64_t seq, size_t line, const char *jws, size_t len)
{
    char *copy;

    QT_ENSURE(log != NULL && jws != NULL, QT_E_ARG);
    if (log->n == log->cap) {
        size_t cap = log->cap == 0 ? 16 : log->cap * 2;
        struct qt_att_rec *r = realloc(log->recs, cap * sizeof(*r));
        QT_ENSURE(r != NULL, QT_E_NOMEM);
        log->recs = r;
        log->cap = cap;
    }
    copy = strndup(jws, len);
    QT_ENSURE(copy != NULL, QT_E_NOMEM);
    log->recs[log->n].seq = seq;
    log->recs[log->n].line = line;
    log->recs[log->n].jws = copy;
    log->n++;
    return QT_OK;
}

qt_rc
qt_att_log_add(struct qt_att_log *log, uint64_t seq, const char *jws)
{
    QT_ENSURE(log != NULL && jws != NULL, QT_E_ARG);
    return log_push(log, seq, log->n + 1, jws, strlen(jws));
}

static qt_rc
parse_line(const char *line, size_t len, size_t lineno, struct qt_att_log *log, char *err,
           size_t errlen)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = NULL, *seq, *jws;
    qt_rc rc = QT_E_FORMAT;

    if (len > (size_t)INT_MAX) {
        json_tokener_free(tok);
        (void)snprintf(err, errlen, "line %zu: too long", lineno);
        return QT_E_FORMAT;
    }
    if (tok == NULL) {
        return QT_E_NOMEM;
    }
    o = json_tokener_parse_ex(tok, line, (int)len);
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len) {
        (void)snprintf(err, errlen, "line %zu: not a JSON object", lineno);
        goto out;
    }
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "seq", &seq) ||
        !json_object_is_type(seq, json_type_int) || json_object_get_int64(seq) < 0 ||
        !json_object_object_get_ex(o, "jws", &jws) || !json_object_is_type(jws, json_type_string)) {
        (void)snprintf(err, errlen, "line %zu: expected {\"seq\":N,\"jws\":\"...\"}", lineno);
        goto out;
    }
    rc = log_push(log, (uint64_t)json_object_get_int64(seq), lineno, json_object_get_string(jws),
                  (size_t)json_object_get_string_len(jws));
out:
    json_object_put(o);
    json_tokener_free(tok);
    return rc;
}

qt_rc
qt_att_log_parse(const char *text, size_t len, struct qt_att_log *log, char *err, size_t errlen)
{
    size_t pos = 0, lineno = 0;
    char dummy[1];

    QT_ENSURE(text != NULL && log != NULL, QT_E_ARG);
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        size_t a = pos, b = end;

        lineno++;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) {
            a++;
        }
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r')) {
            b--;
        }
        if (b > a) {
            QT_TRY(parse_line(text + a, b - a, lineno, log, err, errlen));
        }
        pos = end + 1;
    }
    return QT_OK;
}

qt_rc
qt_att_log_read_file(const char *path, struct qt_att_log *log, char *err, size_t errlen)
{
    FILE *f;
    struct qt_buf b;
    char chunk[8192];
    size_t n;
    qt_rc rc = QT_OK;

    QT_ENSURE(path != NULL && log != NULL, QT_E_ARG);
    f = fopen(path, "r");
    if (f == NULL) {
        if (err != NULL && errlen > 0) {
            (void)snprintf(err, errlen, "%s: cannot open", path);
        }
        return QT_E_IO;
    }
    qt_buf_init(&b);
    while (rc == QT_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = b.len + n > LOG_MAX_FILE ? QT_E_RANGE : qt_buf_put(&b, chunk, n);
    }
    if (rc == QT_OK && ferror(f)) {
        rc = QT_E_IO;
    }
    (void)fclose(f);
    if (rc == QT_OK) {
        rc = qt_att_log_parse(b.p != NULL ? (const char *)b.p : "", b.len, log, err, errlen);
    }
    qt_buf_clear(&b);
    return rc;
}

qt_rc
qt_att_log_format(const struct qt_att_log *log, char **out, size_t *len)
{
    struct qt_buf b;
    qt_rc rc = QT_OK;

    QT_ENSURE(log != NULL && out != NULL, QT_E_ARG);
    qt_buf_init(&b);
    for (size_t i = 0; i < log->n && rc == QT_OK; i++) {
        json_object *o = json_object_new_object();
        const char *s;

        if (o == NULL ||
            json_object_object_add(o, "seq", json_object_new_uint64(log->recs[i].seq)) != 0 ||
            json_object_object_add(o, "jws", json_object_new_string(log->recs[i].jws)) != 0) {
            json_object_put(o);
            rc = QT_E_NOMEM;
            break;
        }
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        rc = qt_buf_put(&b, s, strlen(s));
        if (rc == QT_OK) {
            rc = qt_buf_put_u8(&b, '\n');
        }
        json_object_put(o);
    }
    if (rc == QT_OK) {
        rc = qt_buf_put_u8(&b, 0);
    }
    if (rc != QT_OK) {
        qt_buf_clear(&b);
        return rc;
    }
    if (len != NULL) {
        *len = b.len - 1;
    }
    *out = (char *)b.p;
    return QT_OK;
}
