/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 'qtoken ceremony': a CA root key ceremony end to end, and the offline
 * check of its bundle.  The steps inside the token are in ceremony_p11.c.
 *
 * root-ca uses the token only through the PKCS#11 function list of the
 * module (dlopen; path from --module, else $QTOKEN_MODULE, else
 * $QTOKEN_PKCS11_MODULE, else the installed module, else the build tree's
 * pkcs11/libqtoken-pkcs11.so beside the qtoken binary's directory): fresh
 * device health test, login, key pair generated in the token (sensitive,
 * never extractable, random CKA_ID), a self-signed CA certificate whose
 * TBSCertificate is built with OpenSSL and signed inside the token with
 * C_Sign, the certificate stored on the token with the key's CKA_ID, then
 * the bundle: root.pem, attestation.jsonl, root-attestation.pem,
 * attestation-key.pem, attestation-ca.pem and transcript.txt (FORMAT.md 5).
 * A failure after the key exists destroys it (the module attests the
 * destruction) and appends a "ceremony" record saying why.
 */
#include <errno.h>
#include <limits.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../attest/att.h"
#include "../../device/dev.h"
#include "../common/buf.h"
#include "../common/check.h"
#include "../common/mem.h"
#include "../entropy/ent.h"
#include "cli.h"
#include "ceremony.h"
#include "cmd_attest.h"

#define CMD "qtoken ceremony"

/* ------------------------------------------------------------------------
 * The ceremony's state and transcript
 */

void
qt_ceremony_note(struct qt_ceremony *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vfprintf(c->tr, fmt, ap);
    va_end(ap);
    (void)fputc('\n', c->tr);
}

/* One step's result: in the transcript and on stderr. */
void
qt_ceremony_step(struct qt_ceremony *c, int ok, const char *what, const char *fmt, ...)
{
    char detail[512] = "";
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    va_list ap;

    if (fmt != NULL) {
        va_start(ap, fmt);
        (void)vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    (void)strftime(when, sizeof(when), "%H:%M:%SZ", gmtime_r(&now, &tm));
    c->step++;
    if (!ok && c->failed[0] == '\0') {
        (void)snprintf(c->failed, sizeof(c->failed), "%s%s%s", what, detail[0] != '\0' ? ": " : "",
                       detail);
    }
    (void)fprintf(c->tr, "step %2d  %s  %-4s %s%s%s\n", c->step, when, ok ? "OK" : "FAIL", what,
                  detail[0] != '\0' ? ": " : "", detail);
    (void)fprintf(stderr, "%s %s%s%s\n", ok ? "[ OK ]" : "[FAIL]", what,
                  detail[0] != '\0' ? ": " : "", detail);
}

/* ------------------------------------------------------------------------
 * Device health, entropy evidence
 */

static void
evidence(struct qt_ceremony *c, struct qt_att_entropy *en)
{
    qt_attest_evidence(c->q.pipe, c->q.drbg, &c->dev, en);
    qt_ent_pipeline_stats(c->q.pipe, &c->stats);
}

static int
check_device(struct qt_ceremony *c)
{
    struct qt_ent_failure fail;
    qt_rc rc;

    rc = qt_attest_key_open(&c->conf, 1, 1, &c->q, &c->att);
    if (rc != QT_OK) {
        qt_ceremony_step(c, 0, "fresh start-up test and the attestation key", "%s", qt_rc_str(rc));
        return rc == QT_E_HEALTH || rc == QT_E_DEVICE || rc == QT_E_TIMEOUT ? QT_EXIT_HEALTH
                                                                            : QT_EXIT_FAIL;
    }
    qt_ent_pipeline_dev_info(c->q.pipe, &c->dev);
    qt_ceremony_note(
        c, "         device: %s, serial %s, %u-bit samples, declared H %.4f bits/sample%s",
        c->dev.type, c->dev.serial, c->dev.bits, c->dev.h_declared,
        c->dev.simulated ? ", SIMULATED (not quantum)" : "");
    if (c->dev.detail[0] != '\0') {
        qt_ceremony_note(c, "         device detail: %s", c->dev.detail);
    }
    if (c->dev.simulated && !c->allow_sim) {
        qt_ceremony_step(c, 0, "check the entropy device",
                         "the device is the simulator 'sim', not a "
                         "QRNG: refused (use --allow-sim for a demonstration)");
        return QT_EXIT_USAGE;
    }
    /* The pipeline was just opened: its start-up test (SP 800-90B 4.3) ran
     * on fresh samples before qt_ent_pipeline_new returned; a failure then
     * is reported above.  Its figures are the check's result. */
    qt_ent_pipeline_stats(c->q.pipe, &c->stats);
    qt_ent_pipeline_last_failure(c->q.pipe, &fail);
    if (c->stats.state != 0 || fail.test != QT_ENT_TEST_NONE) {
        qt_ceremony_step(c, 0, "fresh start-up and health test", "%s at sample %llu: %s",
                         qt_ent_test_name(fail.test), (unsigned long long)fail.sample_index,
                         fail.detail);
        return QT_EXIT_HEALTH;
    }
    qt_ceremony_step(c, 1, "fresh start-up and health test",
                     "%s device, %llu raw samples health-tested, %llu start-up run(s), "
                     "H estimate %.4f (declared %.4f), no failure",
                     c->dev.type, (unsigned long long)c->stats.raw_samples,
                     (unsigned long long)c->stats.startup_runs, c->stats.h_estimate,
                     c->stats.h_declared);
    qt_ceremony_note(c, "         attestation key: %s, SPKI SHA-256 %s", qt_att_key_alg(c->att),
                     qt_att_key_fingerprint(c->att));
    return QT_EXIT_OK;
}

/* Appends a "ceremony" record (completion or abort) through the keystore. */
static void
attest_note(struct qt_ceremony *c, const char *note, int with_key)
{
    struct qt_att_entropy en;
    struct qt_att_key_desc kd;
    struct qt_att_event ev;
    uint64_t seq = 0;
    qt_rc rc;

    if (c->att == NULL) {
        return;
    }
    evidence(c, &en);
    memset(&kd, 0, sizeof(kd));
    memset(&ev, 0, sizeof(ev));
    ev.type = QT_ATT_EV_CEREMONY;
    ev.entropy = &en;
    ev.note = note;
    if (with_key && c->pubkey != NULL) {
        kd.mechanism = c->kt->gen_name;
        kd.label = c->label;
        kd.id = c->id;
        kd.id_len = sizeof(c->id);
        kd.is_pair = 1;
        kd.has_spki = 1;
        for (size_t i = 0; i < 32; i++) {
            unsigned v;
            (void)sscanf(c->spki + 2 * i, "%2x", &v);
            kd.spki_sha256[i] = (uint8_t)v;
        }
        ev.key = &kd;
    }
    rc = qt_attest_append(&c->conf, c->token, c->att, &ev, &seq);
    qt_ceremony_step(c, rc == QT_OK, "attest the ceremony in the token's log", "%s%s",
                     rc == QT_OK ? "" : qt_rc_str(rc), rc == QT_OK ? note : "");
}

/* ------------------------------------------------------------------------
 * The bundle
 */

static qt_rc
write_pem_x509(const char *path, X509 *x)
{
    char *pem = NULL;
    qt_rc rc = qt_att_cert_pem(x, &pem);

    if (rc == QT_OK) {
        rc = qt_attest_write_file(path, pem, 0);
    }
    free(pem);
    return rc;
}

/* Whether a generation record's key.attributes say sensitive and not extractable. */
static int
attested_non_extractable(const char *payload)
{
    json_object *p = json_tokener_parse(payload), *k, *a, *sens, *ext;
    int ok = p != NULL && json_object_object_get_ex(p, "key", &k) &&
             json_object_object_get_ex(k, "attributes", &a) &&
             json_object_object_get_ex(a, "sensitive", &sens) &&
             json_object_object_get_ex(a, "extractable", &ext) &&
             json_object_is_type(sens, json_type_boolean) &&
             json_object_is_type(ext, json_type_boolean) && json_object_get_boolean(sens) &&
             !json_object_get_boolean(ext);

    json_object_put(p);
    return ok;
}

/* The entropy evidence the module attested for the key, into the transcript. */
static void
note_key_evidence(struct qt_ceremony *c, const char *payload)
{
    json_object *p = json_tokener_parse(payload), *e = NULL, *v;
    static const char *const fields[] = {
        "device_type", "device_serial", "simulated",  "h_declared", "h_estimate",
        "raw_samples", "state",         "bits_drawn", "reseeds",    "prediction_resistance"};

    if (p != NULL && json_object_object_get_ex(p, "entropy", &e)) {
        (void)fprintf(c->tr, "         key generation evidence (module's record):");
        for (size_t i = 0; i < QT_ARRAY_LEN(fields); i++) {
            if (json_object_object_get_ex(e, fields[i], &v)) {
                (void)fprintf(c->tr, " %s=%s", fields[i],
                              json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
            }
        }
        if (json_object_object_get_ex(e, "failures", &v)) {
            (void)fprintf(c->tr, " failures=%s",
                          json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        }
        (void)fputc('\n', c->tr);
    }
    json_object_put(p);
}

/* While the key can still be destroyed: its generation record must be in
 * the verified log, and it gets its attestation certificate. */
static int
attest_root_key(struct qt_ceremony *c)
{
    struct qt_att_log log;
    struct qt_att_verify_result res;
    char *payload = NULL, ou[160];
    size_t idx;
    qt_rc rc;
    int ex = QT_EXIT_FAIL;

    memset(&res, 0, sizeof(res));
    qt_att_log_init(&log);
    if ((rc = qt_attest_read_token_log(&c->conf, c->token, &log, NULL)) != QT_OK ||
        (rc = qt_att_log_verify(&log, qt_att_key_pkey(c->att), &res)) != QT_OK) {
        qt_ceremony_step(c, 0, "read and verify the token's attestation log", "%s",
                         res.reason[0] != '\0' ? res.reason : qt_rc_str(rc));
        goto out;
    }
    qt_ceremony_step(c, 1, "read and verify the token's attestation log", "%zu records",
                     res.records);
    if ((rc = qt_att_log_find_key(&log, c->spki, &idx, &payload)) != QT_OK) {
        qt_ceremony_step(c, 0, "find the key's generation record",
                         "no keypair-generate record for SPKI SHA-256 %s", c->spki);
        goto out;
    }
    note_key_evidence(c, payload);
    qt_att_payload_entropy_summary(payload, ou, sizeof(ou));
    if (!attested_non_extractable(payload)) {
        qt_ceremony_step(c, 0, "check the key's generation record",
                         "record seq %llu does not attest the key as sensitive and "
                         "non-extractable",
                         (unsigned long long)log.recs[idx].seq);
        goto out;
    }
    c->rec_seq = log.recs[idx].seq;
    if ((rc = qt_att_record_hash(log.recs[idx].jws, c->rec_hash)) != QT_OK ||
        (rc = qt_att_cert_issue(c->att, c->pubkey, c->label, c->token_serial, ou, c->rec_hash,
                                (int)c->days, &c->acert)) != QT_OK ||
        (rc = qt_att_key_issuer_cert(c->att, &c->ca, NULL)) != QT_OK) {
        qt_ceremony_step(c, 0, "issue the key's attestation certificate", "%s", qt_rc_str(rc));
        goto out;
    }
    qt_ceremony_step(c, 1, "issue the key's attestation certificate",
                     "generation record seq %llu, record SHA-256 %s",
                     (unsigned long long)c->rec_seq, c->rec_hash);
    qt_ceremony_note(c, "         root key generation record: seq %llu, sha256 %s",
                     (unsigned long long)c->rec_seq, c->rec_hash);
    ex = QT_EXIT_OK;
out:
    free(payload);
    qt_att_log_clear(&log);
    return ex;
}

static int
write_bundle(struct qt_ceremony *c)
{
    char path[PATH_MAX];
    struct qt_att_log log;
    struct qt_att_verify_result res;
    char *text = NULL, *pem = NULL;
    size_t len;
    qt_rc rc;
    int ex = QT_EXIT_FAIL;

    memset(&res, 0, sizeof(res));
    qt_att_log_init(&log);
    if ((rc = qt_attest_read_token_log(&c->conf, c->token, &log, NULL)) != QT_OK ||
        (rc = qt_att_log_verify(&log, qt_att_key_pkey(c->att), &res)) != QT_OK) {
        qt_ceremony_step(c, 0, "export the token's attestation log", "%s",
                         res.reason[0] != '\0' ? res.reason : qt_rc_str(rc));
        goto out;
    }
    qt_ceremony_step(c, 1, "export the token's attestation log",
                     "%zu records, head seq %zu sha256 %s", res.records, res.records,
                     res.last_hash);
    qt_ceremony_note(c, "         log head: seq %zu, sha256 %s", res.records, res.last_hash);
#define OUTFILE(name) (snprintf(path, sizeof(path), "%s/%s", c->out, name) < (int)sizeof(path))
    rc = QT_E_RANGE;
    if (!OUTFILE("root.pem") || (rc = write_pem_x509(path, c->root)) != QT_OK ||
        !OUTFILE("root-attestation.pem") || (rc = write_pem_x509(path, c->acert)) != QT_OK ||
        !OUTFILE("attestation-ca.pem") || (rc = write_pem_x509(path, c->ca)) != QT_OK ||
        (rc = qt_att_log_format(&log, &text, &len)) != QT_OK || !OUTFILE("attestation.jsonl") ||
        (rc = qt_attest_write_file(path, text, 0)) != QT_OK ||
        (rc = qt_att_key_public_pem(c->att, &pem)) != QT_OK || !OUTFILE("attestation-key.pem") ||
        (rc = qt_attest_write_file(path, pem, 0)) != QT_OK) {
        qt_ceremony_step(c, 0, "write the bundle", "%s: %s", path, qt_rc_str(rc));
        goto out;
    }
#undef OUTFILE
    qt_ceremony_step(c, 1, "write the bundle",
                     "%s: root.pem attestation.jsonl root-attestation.pem "
                     "attestation-key.pem attestation-ca.pem transcript.txt",
                     c->out);
    ex = QT_EXIT_OK;
out:
    free(text);
    free(pem);
    qt_att_log_clear(&log);
    return ex;
}

static void
transcript_head(struct qt_ceremony *c, int argc, char **argv)
{
    struct passwd *pw = getpwuid(geteuid());
    char host[256] = "?", when[32];
    time_t now = time(NULL);
    struct tm tm;

    (void)gethostname(host, sizeof(host) - 1);
    (void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    qt_ceremony_note(c, "qtoken root key ceremony transcript");
    qt_ceremony_note(c, "===================================");
    qt_ceremony_note(c, "who:      %s (uid %ld) on %s", pw != NULL ? pw->pw_name : "?",
                     (long)geteuid(), host);
    qt_ceremony_note(c, "when:     %s", when);
    qt_ceremony_note(c, "qtoken:   %s", QT_VERSION);
    (void)fprintf(c->tr, "command: ");
    for (int i = 0; i < argc; i++) {
        (void)fprintf(c->tr, " %s", argv[i]);
    }
    (void)fputc('\n', c->tr);
    qt_ceremony_note(c, "token:    %s", c->token);
    qt_ceremony_note(c, "key:      %s, label '%s'", c->kt->name, c->label);
    qt_ceremony_note(c, "subject:  %s, valid %ld days", c->subject, c->days);
    qt_ceremony_note(c, "store:    %s", c->conf.store_path);
    qt_ceremony_note(c, "device:   %s", c->conf.device_spec);
    qt_ceremony_note(c, "%s", "");
}

static void
transcript_tail(struct qt_ceremony *c, int ex)
{
    struct qt_att_entropy en;

    qt_ceremony_note(c, "%s", "");
    if (c->q.pipe != NULL) {
        evidence(c, &en);
        qt_ceremony_note(
            c,
            "entropy evidence at the end: device %s serial %s%s, H declared %.4f, "
            "estimate %.4f, %llu raw samples, %llu start-up runs, failures rct %llu "
            "apt %llu block-repeat %llu estimate %llu read %llu drift %llu, state %s",
            en.device_type, en.device_serial, en.simulated ? " (SIMULATED)" : "", en.h_declared,
            en.h_estimate, (unsigned long long)en.raw_samples, (unsigned long long)en.startup_runs,
            (unsigned long long)en.failures_rct, (unsigned long long)en.failures_apt,
            (unsigned long long)en.failures_block_repeat, (unsigned long long)en.failures_estimate,
            (unsigned long long)en.failures_read, (unsigned long long)en.failures_drift,
            en.state == 0 ? "ok" : "error");
        qt_ceremony_note(c,
                         "(the key itself was generated by the module's own pipeline on the same "
                         "device; its evidence is in the keypair-generate record)");
    }
    if (c->spki[0] != '\0') {
        qt_ceremony_note(c, "root public key SPKI SHA-256: %s", c->spki);
    }
    if (c->cert_fp[0] != '\0') {
        qt_ceremony_note(c, "root certificate SHA-256:     %s", c->cert_fp);
    }
    if (c->att != NULL) {
        qt_ceremony_note(c, "attestation key SPKI SHA-256: %s", qt_att_key_fingerprint(c->att));
    }
    qt_ceremony_note(c, "result: %s (exit %d)",
                     ex == QT_EXIT_OK ? "CEREMONY COMPLETED" : "CEREMONY FAILED", ex);
}

static void
ceremony_usage(FILE *f)
{
    (void)fprintf(
        f,
        "usage: qtoken ceremony root-ca --token LABEL --key-type TYPE --subject DN --days N\n"
        "                               --out DIR [--label KEYLABEL] [--allow-sim]\n"
        "                               [--pin-file FILE] [--module PATH]\n"
        "       qtoken ceremony verify DIR --pubkey PEM\n"
        "TYPE: ec:P-256 ec:P-384 ec:P-521 rsa:3072 rsa:4096 ed25519.  DN: '/CN=Root/O=Org' or\n"
        "'CN=Root,O=Org'.  The PIN comes from --pin-file, else QTOKEN_PIN, else a prompt.\n"
        "The module: --module, else QTOKEN_MODULE, else the installed %s, else the\n"
        "build tree's pkcs11/%s.  The sim device is refused without --allow-sim.\n"
        "Exit codes: 0 ok, 1 failed, 2 usage or policy, 3 entropy source unhealthy, 4 not found.\n",
        QT_CEREMONY_MODULE_NAME, QT_CEREMONY_MODULE_NAME);
}

static int
cmd_root_ca(int argc, char **argv)
{
    struct qt_ceremony c;
    const char *kt = NULL, *days = NULL;
    char path[PATH_MAX], note[1024];
    int ex;

    memset(&c, 0, sizeof(c));
    c.label = "root-ca";
    c.s = CK_INVALID_HANDLE;
    c.pub = c.priv = c.cert_obj = CK_INVALID_HANDLE;
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--allow-sim") == 0) {
            c.allow_sim = 1;
            continue;
        }
        if (strcmp(argv[i], "--token") == 0) {
            slot = &c.token;
        } else if (strcmp(argv[i], "--key-type") == 0) {
            slot = &kt;
        } else if (strcmp(argv[i], "--subject") == 0) {
            slot = &c.subject;
        } else if (strcmp(argv[i], "--days") == 0) {
            slot = &days;
        } else if (strcmp(argv[i], "--out") == 0) {
            slot = &c.out;
        } else if (strcmp(argv[i], "--pin-file") == 0) {
            slot = &c.pin_file;
        } else if (strcmp(argv[i], "--module") == 0) {
            slot = &c.module;
        } else if (strcmp(argv[i], "--label") == 0) {
            slot = &c.label;
        } else {
            (void)fprintf(stderr, CMD " root-ca: unknown option %s\n", argv[i]);
            ceremony_usage(stderr);
            return QT_EXIT_USAGE;
        }
        if (i + 1 >= argc) {
            (void)fprintf(stderr, CMD " root-ca: %s needs a value\n", argv[i]);
            return QT_EXIT_USAGE;
        }
        *slot = argv[++i];
    }
    if (c.token == NULL || kt == NULL || c.subject == NULL || days == NULL || c.out == NULL) {
        ceremony_usage(stderr);
        return QT_EXIT_USAGE;
    }
    c.kt = qt_ceremony_p11_key_type(kt);
    if (c.kt == NULL) {
        (void)fprintf(stderr,
                      CMD " root-ca: unknown key type '%s' (ec:P-256, ec:P-384, "
                          "ec:P-521, rsa:3072, rsa:4096, ed25519)\n",
                      kt);
        return QT_EXIT_USAGE;
    }
    c.days = strtol(days, NULL, 10);
    if (c.days < 1 || c.days > 36500) {
        (void)fprintf(stderr, CMD " root-ca: --days must be 1..36500\n");
        return QT_EXIT_USAGE;
    }
    if (c.label[0] == '\0' || strlen(c.label) > 128) {
        (void)fprintf(stderr, CMD " root-ca: bad --label\n");
        return QT_EXIT_USAGE;
    }
    {
        X509_NAME *n = NULL;
        if (qt_ceremony_p11_parse_dn(c.subject, &n) != QT_OK) {
            (void)fprintf(stderr, CMD " root-ca: bad subject '%s' (e.g. '/CN=Root CA/O=Org')\n",
                          c.subject);
            return QT_EXIT_USAGE;
        }
        X509_NAME_free(n);
    }
    if (snprintf(path, sizeof(path), "%s/root.pem", c.out) >= (int)sizeof(path)) {
        return QT_EXIT_USAGE;
    }
    if (qt_ceremony_p11_file_exists(path)) {
        (void)fprintf(stderr, CMD " root-ca: %s already holds a bundle\n", c.out);
        return QT_EXIT_USAGE;
    }
    if (qt_mkdirs(c.out, 0755) != QT_OK) {
        (void)fprintf(stderr, CMD " root-ca: cannot create %s\n", c.out);
        return QT_EXIT_FAIL;
    }
    {
        char err[256] = "";
        if (qt_conf_load(&c.conf, err, sizeof(err)) != QT_OK) {
            (void)fprintf(stderr, CMD ": configuration: %s\n", err);
            return QT_EXIT_USAGE;
        }
    }
    c.tr = open_memstream(&c.tr_text, &c.tr_len);
    if (c.tr == NULL) {
        return QT_EXIT_FAIL;
    }
    transcript_head(&c, argc, argv);

    if ((ex = check_device(&c)) == QT_EXIT_OK && (ex = qt_ceremony_p11_load(&c)) == QT_EXIT_OK &&
        (ex = qt_ceremony_p11_find_token(&c)) == QT_EXIT_OK &&
        (ex = qt_ceremony_p11_login(&c)) == QT_EXIT_OK &&
        (ex = qt_ceremony_p11_generate(&c)) == QT_EXIT_OK &&
        (ex = qt_ceremony_p11_read_public(&c)) == QT_EXIT_OK &&
        (ex = qt_ceremony_p11_certificate(&c)) == QT_EXIT_OK &&
        (ex = qt_ceremony_p11_store_certificate(&c)) == QT_EXIT_OK) {
        ex = attest_root_key(&c);
    }
    if (ex != QT_EXIT_OK && c.priv != CK_INVALID_HANDLE) {
        /* No half-made key is left behind; the module attests the destruction. */
        qt_ceremony_p11_destroy_partial(&c);
    }
    qt_ceremony_p11_unload(&c);
    if (ex == QT_EXIT_OK) {
        (void)snprintf(note, sizeof(note), "root-ca completed: certificate sha256 %s, subject %s",
                       c.cert_fp, c.subject);
        attest_note(&c, note, 1);
        ex = write_bundle(&c);
    } else if (c.pub != CK_INVALID_HANDLE || c.priv != CK_INVALID_HANDLE ||
               c.cert_obj != CK_INVALID_HANDLE || c.logged_in || c.step > 4) {
        (void)snprintf(note, sizeof(note), "root-ca aborted (exit %d), label %s, at: %s", ex,
                       c.label, c.failed);
        attest_note(&c, note, 0);
    }
    transcript_tail(&c, ex);
    (void)fclose(c.tr);
    c.tr = NULL;
    if (snprintf(path, sizeof(path), "%s/transcript.txt", c.out) < (int)sizeof(path) &&
        qt_attest_write_file(path, c.tr_text, 0) != QT_OK) {
        (void)fprintf(stderr, CMD " root-ca: cannot write %s\n", path);
        ex = ex == QT_EXIT_OK ? QT_EXIT_FAIL : ex;
    }
    (void)fprintf(stderr, "%s: %s; transcript in %s\n", CMD,
                  ex == QT_EXIT_OK ? "ceremony completed" : "ceremony FAILED", path);
    free(c.tr_text);
    X509_free(c.root);
    X509_free(c.acert);
    X509_free(c.ca);
    EVP_PKEY_free(c.pubkey);
    qt_att_key_free(c.att);
    qt_attest_qrng_close(&c.q);
    return ex;
}

/* ------------------------------------------------------------------------
 * ceremony verify
 */

static X509 *
read_x509(const char *dir, const char *name)
{
    char path[PATH_MAX];
    FILE *f;
    X509 *x;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        return NULL;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    x = PEM_read_X509(f, NULL, NULL, NULL);
    (void)fclose(f);
    return x;
}

static int verify_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
verify_fail(const char *fmt, ...)
{
    va_list ap;

    (void)printf("INVALID: ");
    va_start(ap, fmt);
    (void)vprintf(fmt, ap);
    va_end(ap);
    (void)printf("\n");
    return QT_EXIT_FAIL;
}

static int
cmd_verify(int argc, char **argv)
{
    const char *dir = NULL, *pubkey = NULL;
    char path[PATH_MAX], fp[QT_ATT_HASH_HEX], rh[QT_ATT_HASH_HEX], ext[QT_ATT_HASH_HEX];
    char err[256] = "", *payload = NULL;
    struct qt_att_log log;
    struct qt_att_verify_result res;
    EVP_PKEY *pin = NULL, *rootkey = NULL, *akey = NULL, *cakey = NULL;
    X509 *root = NULL, *acert = NULL, *ca = NULL;
    X509_STORE *store = NULL;
    X509_STORE_CTX *sctx = NULL;
    size_t idx;
    int ex = QT_EXIT_FAIL;

    qt_att_log_init(&log);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pubkey") == 0 && i + 1 < argc) {
            pubkey = argv[++i];
        } else if (argv[i][0] != '-' && dir == NULL) {
            dir = argv[i];
        } else {
            ceremony_usage(stderr);
            return QT_EXIT_USAGE;
        }
    }
    if (dir == NULL || pubkey == NULL) {
        ceremony_usage(stderr);
        return QT_EXIT_USAGE;
    }
    if (qt_att_read_pubkey(pubkey, &pin) != QT_OK) {
        (void)fprintf(stderr, CMD " verify: %s: not a PEM public key or certificate\n", pubkey);
        return QT_EXIT_USAGE;
    }
    /* 1. The log, with the pinned attestation key. */
    if (snprintf(path, sizeof(path), "%s/attestation.jsonl", dir) >= (int)sizeof(path) ||
        qt_att_log_read_file(path, &log, err, sizeof(err)) != QT_OK) {
        ex = verify_fail("attestation.jsonl: %s", err[0] != '\0' ? err : "unreadable");
        goto out;
    }
    if (qt_att_log_verify(&log, pin, &res) != QT_OK) {
        ex = verify_fail("attestation.jsonl: %s", res.reason);
        goto out;
    }
    (void)printf("ok: attestation.jsonl: %zu records of token '%s' (serial %s) verify; head "
                 "sha256 %s\n",
                 res.records, res.token_label, res.token_serial, res.last_hash);
    /* 2. The root certificate's self-signature. */
    root = read_x509(dir, "root.pem");
    if (root == NULL || (rootkey = X509_get_pubkey(root)) == NULL) {
        ex = verify_fail("root.pem: missing or not a certificate");
        goto out;
    }
    if (X509_verify(root, rootkey) != 1 ||
        X509_NAME_cmp(X509_get_subject_name(root), X509_get_issuer_name(root)) != 0) {
        ex = verify_fail("root.pem: not validly self-signed");
        goto out;
    }
    (void)printf("ok: root.pem is validly self-signed\n");
    /* 3. Its key was generated in the token, sensitive and never extractable. */
    if (qt_att_spki_sha256(rootkey, fp) != QT_OK ||
        qt_att_log_find_key(&log, fp, &idx, &payload) != QT_OK) {
        ex = verify_fail("root.pem: its key (SPKI SHA-256 %s) has no generation record in the "
                         "log",
                         fp);
        goto out;
    }
    if (!attested_non_extractable(payload)) {
        ex = verify_fail("record seq %llu: the root key was not generated sensitive and "
                         "non-extractable",
                         (unsigned long long)log.recs[idx].seq);
        goto out;
    }
    if (qt_att_record_hash(log.recs[idx].jws, rh) != QT_OK) {
        goto out;
    }
    (void)printf("ok: the root key (SPKI SHA-256 %s) was generated in the token: record seq "
                 "%llu\n",
                 fp, (unsigned long long)log.recs[idx].seq);
    /* 4. The key's attestation certificate. */
    acert = read_x509(dir, "root-attestation.pem");
    ca = read_x509(dir, "attestation-ca.pem");
    if (acert == NULL || ca == NULL || (akey = X509_get_pubkey(acert)) == NULL ||
        (cakey = X509_get_pubkey(ca)) == NULL) {
        ex = verify_fail("root-attestation.pem / attestation-ca.pem missing or unreadable");
        goto out;
    }
    if (EVP_PKEY_eq(akey, rootkey) != 1) {
        ex = verify_fail("root-attestation.pem certifies another key than root.pem's");
        goto out;
    }
    if (qt_att_cert_record_hash(acert, ext) != QT_OK || strcmp(ext, rh) != 0) {
        ex = verify_fail("root-attestation.pem does not carry the hash of record seq %llu",
                         (unsigned long long)log.recs[idx].seq);
        goto out;
    }
    if (EVP_PKEY_eq(cakey, pin) != 1) {
        ex = verify_fail("attestation-ca.pem is not the pinned attestation key's certificate");
        goto out;
    }
    store = X509_STORE_new();
    sctx = X509_STORE_CTX_new();
    /* The pinned key is the trust anchor: its certificate may be one an
     * organisation's CA issued (imported), not self-signed. */
    if (store == NULL || sctx == NULL || X509_STORE_add_cert(store, ca) != 1 ||
        X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) != 1 ||
        X509_STORE_CTX_init(sctx, store, acert, NULL) != 1 || X509_verify_cert(sctx) != 1) {
        ex =
            verify_fail("root-attestation.pem does not chain to attestation-ca.pem: %s",
                        sctx != NULL ? X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx))
                                     : "no memory");
        goto out;
    }
    (void)printf("ok: root-attestation.pem certifies the root key, carries record seq %llu's "
                 "hash and chains to the pinned attestation key\n",
                 (unsigned long long)log.recs[idx].seq);
    /* 5. The completion record written after the certificate was made names it. */
    {
        unsigned char md[32];
        unsigned int mdlen = 0;
        char certfp[QT_ATT_HASH_HEX], needle[96];
        int named = 0;

        if (X509_digest(root, EVP_sha256(), md, &mdlen) != 1) {
            goto out;
        }
        qt_hex(certfp, md, sizeof(md));
        (void)snprintf(needle, sizeof(needle), "certificate sha256 %s", certfp);
        for (size_t i = idx + 1; i < log.n && !named; i++) {
            char *pl = NULL;
            size_t plen;
            if (qt_att_jws_payload(log.recs[i].jws, &pl, &plen) == QT_OK &&
                strstr(pl, "\"event\":\"ceremony\"") != NULL && strstr(pl, needle) != NULL) {
                (void)printf("ok: record seq %llu attests the ceremony's completion with this "
                             "root certificate\n",
                             (unsigned long long)log.recs[i].seq);
                named = 1;
            }
            free(pl);
        }
        if (!named) {
            ex = verify_fail("no ceremony record in the log names root.pem (sha256 %s)", certfp);
            goto out;
        }
    }
    (void)printf("VALID: ceremony bundle %s\n", dir);
    ex = QT_EXIT_OK;
out:
    free(payload);
    X509_STORE_CTX_free(sctx);
    X509_STORE_free(store);
    EVP_PKEY_free(pin);
    EVP_PKEY_free(rootkey);
    EVP_PKEY_free(akey);
    EVP_PKEY_free(cakey);
    X509_free(root);
    X509_free(acert);
    X509_free(ca);
    qt_att_log_clear(&log);
    return ex;
}

int
qt_cmd_ceremony(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        ceremony_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? QT_EXIT_USAGE : QT_EXIT_OK;
    }
    for (int j = 2; j < argc; j++) {
        if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
            ceremony_usage(stdout);
            return QT_EXIT_OK;
        }
    }
    if (strcmp(argv[1], "root-ca") == 0) {
        return cmd_root_ca(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "verify") == 0) {
        return cmd_verify(argc - 1, argv + 1);
    }
    (void)fprintf(stderr, CMD ": unknown sub-command '%s'\n", argv[1]);
    ceremony_usage(stderr);
    return QT_EXIT_USAGE;
}
