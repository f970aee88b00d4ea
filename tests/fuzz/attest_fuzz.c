/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: attestation records.  Every input is used four ways:
 *
 *  1. as an exported log (JSON lines): qt_att_log_parse; a parsed log is
 *     verified against the fuzzer's key (the fuzzer cannot sign, so it must
 *     not verify unless empty-signature tricks work: a QT_OK is a bug),
 *     searched with qt_att_log_find_key, and formatted and parsed back
 *     (same records);
 *  2. as one compact JWS: qt_att_jws_payload, qt_att_jws_verify (must not
 *     verify), qt_att_record_hash;
 *  3. as base64url text: a decoded string re-encodes to itself (canonical),
 *     and the bytes encode then decode to themselves;
 *  4. each line as a record payload that the fuzzer's key signs, chained
 *     into a log of up to 8 records ("@PREV@" in a line stands for the
 *     hash of the previous record), then qt_att_log_verify, which parses
 *     the payload format and the chain (the part of the verifier a real
 *     signature unlocks), the entropy summary and the printer.
 *
 * The key is an Ed25519 attestation key made in a temp directory at start:
 * Ed25519 signatures are deterministic, so a crash input replays exactly.
 */
#include <ftw.h>
#include <string.h>
#include <unistd.h>

#include "../../attest/att.h"
#include "fuzz.h"

#define ATT_FUZZ_MAX_INPUT (64u * 1024u)
#define ATT_FUZZ_MAX_RECORDS 8

static char dir[64];
static struct qt_att_key *key;
static FILE *devnull;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
cleanup(void)
{
    qt_att_key_free(key);
    key = NULL;
    if (devnull != NULL) {
        (void)fclose(devnull);
    }
    if (dir[0] != '\0') {
        (void)nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)snprintf(dir, sizeof(dir), "/tmp/qt-fuzz-att-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        fuzz_fail("mkdtemp");
    }
    if (qt_att_key_open(dir, NULL, QT_ATT_KEY_ED25519, 1, &key) != QT_OK) {
        fuzz_fail("qt_att_key_open");
    }
    /* After OpenSSL registered its atexit cleanup: ours runs first and
     * frees the key while OpenSSL is still up. */
    atexit(cleanup);
    if ((devnull = fopen("/dev/null", "w")) == NULL) {
        fuzz_fail("/dev/null");
    }
    return 0;
}

static void
as_log(const char *text, size_t len)
{
    struct qt_att_log log, back;
    struct qt_att_verify_result res;
    char err[128];
    char *out = NULL;
    size_t out_len = 0;
    size_t idx = 0;
    char *payload = NULL;
    qt_rc rc;

    qt_att_log_init(&log);
    qt_att_log_init(&back);
    rc = qt_att_log_parse(text, len, &log, err, sizeof(err));
    fuzz_check(memchr(err, '\0', sizeof(err)) != NULL);
    if (rc != QT_OK) {
        fuzz_check(rc == QT_E_FORMAT || rc == QT_E_NOMEM);
        goto out;
    }
    rc = qt_att_log_verify(&log, qt_att_key_pkey(key), &res);
    /* Nothing the fuzzer writes carries a valid signature of our key. */
    fuzz_check(rc != QT_OK);
    fuzz_check(memchr(res.reason, '\0', sizeof(res.reason)) != NULL);
    if (qt_att_log_find_key(&log, "00", &idx, &payload) == QT_OK) {
        fuzz_check(idx < log.n && payload != NULL);
    }
    free(payload);
    payload = NULL;
    if (qt_att_log_format(&log, &out, &out_len) != QT_OK) {
        goto out;
    }
    fuzz_check(qt_att_log_parse(out, out_len, &back, err, sizeof(err)) == QT_OK);
    fuzz_check(back.n == log.n);
    for (size_t i = 0; i < log.n; i++) {
        fuzz_check(back.recs[i].seq == log.recs[i].seq);
        fuzz_check(strcmp(back.recs[i].jws, log.recs[i].jws) == 0);
    }
out:
    free(out);
    qt_att_log_clear(&back);
    qt_att_log_clear(&log);
}

static void
as_jws(const char *text)
{
    char hex[QT_ATT_HASH_HEX];
    char *payload = NULL;
    size_t len = 0;

    if (qt_att_jws_payload(text, &payload, &len) == QT_OK) {
        fuzz_check(payload != NULL && payload[len] == '\0');
    }
    free(payload);
    payload = NULL;
    fuzz_check(qt_att_jws_verify(qt_att_key_pkey(key), text, &payload, &len) != QT_OK);
    free(payload);
    if (qt_att_record_hash(text, hex) == QT_OK) {
        fuzz_check(strlen(hex) == 64);
    }
}

static void
as_b64(const uint8_t *data, size_t size, const char *text, size_t len)
{
    uint8_t *dec = NULL;
    uint8_t *dec2 = NULL;
    char *enc = NULL;
    size_t dlen = 0;
    size_t dlen2 = 0;

    if (qt_att_b64url_decode(text, len, &dec, &dlen) == QT_OK) {
        fuzz_check(qt_att_b64url_encode(dec, dlen, &enc) == QT_OK);
        fuzz_check(strlen(enc) == len && memcmp(enc, text, len) == 0);
        free(enc);
        enc = NULL;
    }
    free(dec);
    if (qt_att_b64url_encode(data, size, &enc) != QT_OK) {
        return;
    }
    fuzz_check(qt_att_b64url_decode(enc, strlen(enc), &dec2, &dlen2) == QT_OK);
    fuzz_check(dlen2 == size && (size == 0 || memcmp(dec2, data, size) == 0));
    free(dec2);
    free(enc);
}

/* A copy of the line with every PREV_MARK replaced by prev (the hash of the
 * previous record, 64 zeros for the first), so that the fuzzer can write
 * chains that link without knowing the key.  NULL on allocation failure. */
#define PREV_MARK "@PREV@"

static char *
with_prev(const char *line, size_t len, const char *prev)
{
    size_t mark = strlen(PREV_MARK);
    size_t cap = len + 1;
    size_t o = 0;
    char *out;

    for (size_t i = 0; i + mark <= len; i++) {
        if (memcmp(line + i, PREV_MARK, mark) == 0) {
            cap += 64;
        }
    }
    if ((out = malloc(cap)) == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < len;) {
        if (i + mark <= len && memcmp(line + i, PREV_MARK, mark) == 0) {
            memcpy(out + o, prev, 64);
            o += 64;
            i += mark;
        } else {
            out[o++] = line[i++];
        }
    }
    out[o] = '\0';
    return out;
}

static void
as_payloads(const char *text, size_t len)
{
    char prev[QT_ATT_HASH_HEX];
    struct qt_att_log log;
    struct qt_att_verify_result res;
    char summary[256];
    size_t pos = 0;
    size_t idx = 0;
    char *found = NULL;
    qt_rc rc;

    memset(prev, '0', 64);
    prev[64] = '\0';
    qt_att_log_init(&log);
    while (pos < len && log.n < ATT_FUZZ_MAX_RECORDS) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        char *jws = NULL;

        if (end > pos) {
            char *payload = with_prev(text + pos, end - pos, prev);
            size_t plen = payload != NULL ? strlen(payload) : 0;

            /* strlen: a payload cut at an embedded NUL is still a payload.
             * An empty one is skipped: qt_att_jws_sign signs it but the JWS
             * parser (jws_split) refuses an empty payload part, and records
             * are never empty (JSON objects). */
            if (payload != NULL && plen == 0) {
                free(payload);
                pos = end + 1;
                continue;
            }
            if (payload == NULL || qt_att_jws_sign(key, payload, plen, &jws) != QT_OK ||
                qt_att_log_add(&log, log.n + 1, jws) != QT_OK ||
                qt_att_record_hash(jws, prev) != QT_OK) {
                free(payload);
                free(jws);
                goto out;
            }
            free(payload);
            free(jws);
        }
        pos = end + 1;
    }
    if (log.n == 0) {
        goto out;
    }
    rc = qt_att_log_verify(&log, qt_att_key_pkey(key), &res);
    fuzz_check(memchr(res.reason, '\0', sizeof(res.reason)) != NULL);
    if (getenv("QT_FUZZ_VERBOSE") != NULL) {
        fprintf(stderr, "attest_fuzz: signed log of %zu: %s\n", log.n,
                rc == QT_OK ? "verifies" : res.reason);
    }
    if (rc == QT_OK) {
        fuzz_check(res.records == log.n);
        fuzz_check(strlen(res.last_hash) == 64);
    } else {
        fuzz_check(rc == QT_E_FORMAT || rc == QT_E_TAMPER || rc == QT_E_SIGNATURE);
        fuzz_check(res.bad_index < log.n);
        /* Our signatures are good: a failure is about the content. */
        fuzz_check(rc != QT_E_SIGNATURE);
    }
    for (size_t i = 0; i < log.n; i++) {
        char *payload = NULL;
        size_t plen = 0;

        fuzz_check(qt_att_jws_payload(log.recs[i].jws, &payload, &plen) == QT_OK);
        qt_att_payload_entropy_summary(payload, summary, sizeof(summary));
        fuzz_check(memchr(summary, '\0', sizeof(summary)) != NULL);
        qt_att_payload_print(payload, devnull);
        free(payload);
    }
    if (qt_att_log_find_key(&log,
                            "0000000000000000000000000000000000000000000000000000000000000000",
                            &idx, &found) == QT_OK) {
        fuzz_check(idx < log.n);
    }
    free(found);
out:
    qt_att_log_clear(&log);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    if (size > ATT_FUZZ_MAX_INPUT) {
        return 0;
    }
    /* The parsers take C strings or (text, len): a terminated copy. */
    if ((text = malloc(size + 1)) == NULL) {
        return 0;
    }
    if (size > 0) {
        memcpy(text, data, size);
    }
    text[size] = '\0';
    as_log(text, size);
    as_jws(text);
    as_b64(data, size, text, size);
    as_payloads(text, size);
    free(text);
    return 0;
}
