/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 'qtoken attest': the installation's attestation key (pubkey, import-cert),
 * token logs (export, show, verify) and per-key attestation certificates
 * (key).  The log is read from the keystore library directly; verification
 * needs nothing but the exported file and the pinned public key.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../attest/att.h"
#include "../../keystore/ks.h"
#include "../common/check.h"
#include "../common/io.h"
#include "../common/log.h"
#include "../../device/dev.h"
#include "../drbg/drbg.h"
#include "../entropy/ent.h"
#include "cli.h"
#include "cmd_attest.h"

#define CMD "qtoken attest"

static void
usage(FILE *f)
{
    (void)fprintf(
        f, "usage: qtoken attest <sub-command> [options]\n"
           "  pubkey [--json]                  the attestation public key (PEM) and its SPKI\n"
           "                                   SHA-256 fingerprint (created at first use)\n"
           "  ca [--out FILE]                  the attestation key's certificate (issuer of\n"
           "                                   per-key certificates)\n"
           "  import-cert PEM                  install a certificate for the attestation key\n"
           "  export --token LABEL [--out FILE]\n"
           "                                   the token's log as JSON lines\n"
           "  verify FILE --pubkey PEM [--key-pubkey PEM | --cert PEM]\n"
           "                                   check signatures and chain; optionally that a key\n"
           "                                   was generated in the token (prints its record)\n"
           "  show FILE|--token LABEL [--pubkey PEM]\n"
           "                                   print a log readably (verified if --pubkey)\n"
           "  key --token LABEL --label KEYLABEL [--out FILE] [--days N]\n"
           "                                   X.509 attestation certificate for a key pair\n"
           "Exit codes: 0 valid/ok, 1 invalid or failed, 2 usage, 3 entropy source unhealthy,\n"
           "4 not found (token, key, or key not in the log).  Format: attest/FORMAT.md.\n");
}

static int
exit_for(qt_rc rc)
{
    switch (rc) {
    case QT_OK:
        return QT_EXIT_OK;
    case QT_E_NOTFOUND:
        return QT_EXIT_NOTFOUND;
    case QT_E_HEALTH:
    case QT_E_DEVICE:
    case QT_E_TIMEOUT:
        return QT_EXIT_HEALTH;
    case QT_E_CONFIG:
    case QT_E_ARG:
        return QT_EXIT_USAGE;
    default:
        return QT_EXIT_FAIL;
    }
}

static int
load_conf(struct qt_conf *c)
{
    char err[256] = "";

    if (qt_conf_load(c, err, sizeof(err)) != QT_OK) {
        (void)fprintf(stderr, CMD ": configuration: %s\n", err);
        return QT_EXIT_USAGE;
    }
    return QT_EXIT_OK;
}

void
qt_attest_qrng_close(struct qt_attest_qrng *q)
{
    if (q == NULL) {
        return;
    }
    qt_drbg_free(q->drbg);
    qt_ent_pipeline_free(q->pipe);
    q->drbg = NULL;
    q->pipe = NULL;
}

qt_rc
qt_attest_key_open(const struct qt_conf *c, int create, int with_qrng, struct qt_attest_qrng *q,
                   struct qt_att_key **out)
{
    OSSL_LIB_CTX *libctx = NULL;
    qt_rc rc;

    QT_ENSURE(c != NULL && out != NULL && (!with_qrng || q != NULL), QT_E_ARG);
    if (with_qrng) {
        memset(q, 0, sizeof(*q));
        if ((rc = qt_ent_pipeline_new(c->device_spec, c, &q->pipe)) != QT_OK ||
            (rc = qt_drbg_new(q->pipe, c, &q->drbg)) != QT_OK) {
            qt_attest_qrng_close(q);
            return rc;
        }
        libctx = qt_drbg_libctx(q->drbg);
    }
    rc = qt_att_key_open_conf(c, libctx, create, out);
    if (rc != QT_OK && with_qrng) {
        qt_attest_qrng_close(q);
    }
    return rc;
}

qt_rc
qt_attest_write_file(const char *path, const char *text, int private_)
{
    int fd;
    qt_rc rc;

    QT_ENSURE(path != NULL && text != NULL, QT_E_ARG);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, private_ ? 0600 : 0644);
    if (fd < 0) {
        return QT_E_IO;
    }
    rc = qt_write_all(fd, text, strlen(text));
    if (close(fd) != 0) {
        rc = QT_E_IO;
    }
    return rc;
}

/* Reading needs no randomness: a source that refuses keeps it that way. */
static qt_rc
no_rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    (void)out;
    (void)n;
    return QT_E_STATE;
}

static qt_rc
collect(void *ctx, uint64_t seq, const char *jws)
{
    return qt_att_log_add(ctx, seq, jws);
}

static qt_rc
open_token(const struct qt_conf *c, const char *label, char *install, size_t installen,
           struct qt_ks_token **t)
{
    struct qt_ks_env env = {0};

    QT_TRY(qt_conf_install_dir(c, install, installen));
    env.store_dir = c->store_path;
    env.install_dir = install;
    env.rng = no_rng;
    env.pin_max_failures = c->pin_max_failures;
    return qt_ks_token_open_label(&env, label, t);
}

qt_rc
qt_attest_read_token_log(const struct qt_conf *c, const char *label, struct qt_att_log *log,
                         char serial[17])
{
    char install[QT_CONF_STR];
    struct qt_ks_token *t = NULL;
    struct qt_ks_token_info info;
    qt_rc rc;

    QT_ENSURE(c != NULL && label != NULL && log != NULL, QT_E_ARG);
    QT_TRY(open_token(c, label, install, sizeof(install), &t));
    if ((rc = qt_ks_log_each(t, collect, log)) == QT_OK && serial != NULL &&
        (rc = qt_ks_token_info(t, &info)) == QT_OK) {
        memcpy(serial, info.serial, 17);
    }
    qt_ks_token_close(t);
    return rc;
}

void
qt_attest_evidence(struct qt_ent_pipeline *p, struct qt_drbg *d, struct qt_dev_info *dev,
                   struct qt_att_entropy *en)
{
    struct qt_ent_stats st;

    memset(en, 0, sizeof(*en));
    if (p == NULL) {
        en->device_type = "unavailable";
        en->state = 1;
        return;
    }
    qt_ent_pipeline_stats(p, &st);
    qt_ent_pipeline_dev_info(p, dev);
    en->device_type = dev->type;
    en->device_serial = dev->serial;
    en->simulated = dev->simulated;
    en->h_declared = st.h_declared;
    en->h_estimate = st.h_estimate;
    en->raw_samples = st.raw_samples;
    en->startup_runs = st.startup_runs;
    en->failures_rct = st.failures_rct;
    en->failures_apt = st.failures_apt;
    en->failures_block_repeat = st.failures_block_repeat;
    en->failures_estimate = st.failures_estimate;
    en->failures_read = st.failures_read;
    en->failures_drift = st.failures_drift;
    en->state = st.state;
    en->reseeds = d != NULL ? qt_drbg_reseed_count(d) : st.reseeds;
}

qt_rc
qt_attest_token_event(struct qt_ks_token *t, const struct qt_att_key *k, struct qt_att_event *ev,
                      uint64_t *seq_out)
{
    struct qt_ks_token_info info;
    uint64_t seq = 0;
    char *prev = NULL, *jws = NULL;
    qt_rc rc;

    QT_ENSURE(t != NULL && k != NULL && ev != NULL, QT_E_ARG);
    QT_TRY(qt_ks_token_info(t, &info));
    QT_TRY(qt_ks_txn_begin(t));
    ev->token_serial = info.serial;
    ev->token_label = info.label;
    if ((rc = qt_ks_log_tail(t, &seq, &prev)) != QT_OK ||
        (rc = qt_att_record_build(k, prev, seq + 1, ev, &jws)) != QT_OK ||
        (rc = qt_ks_log_append(t, seq + 1, jws)) != QT_OK) {
        qt_ks_txn_rollback(t);
    } else {
        rc = qt_ks_txn_commit(t);
    }
    if (rc == QT_OK && seq_out != NULL) {
        *seq_out = seq + 1;
    }
    ev->token_serial = NULL;
    ev->token_label = NULL;
    free(prev);
    free(jws);
    return rc;
}

qt_rc
qt_attest_append(const struct qt_conf *c, const char *label, const struct qt_att_key *k,
                 struct qt_att_event *ev, uint64_t *seq_out)
{
    char install[QT_CONF_STR];
    struct qt_ks_token *t = NULL;
    qt_rc rc;

    QT_ENSURE(c != NULL && label != NULL && k != NULL && ev != NULL, QT_E_ARG);
    QT_TRY(open_token(c, label, install, sizeof(install), &t));
    rc = qt_attest_token_event(t, k, ev, seq_out);
    qt_ks_token_close(t);
    return rc;
}

static const char *
opt_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        (void)fprintf(stderr, CMD ": %s needs a value\n", argv[*i]);
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

/* ------------------------------------------------------------------------ */

static int
cmd_pubkey(int argc, char **argv)
{
    struct qt_conf c;
    struct qt_attest_qrng q = {0};
    struct qt_att_key *k = NULL;
    char *pem = NULL;
    int json = 0, with_qrng = 0, ex;
    qt_rc rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            (void)fprintf(stderr, CMD " pubkey: unknown option %s\n", argv[i]);
            return QT_EXIT_USAGE;
        }
    }
    if ((ex = load_conf(&c)) != QT_EXIT_OK) {
        return ex;
    }
    rc = qt_attest_key_open(&c, 0, 0, NULL, &k);
    if (rc == QT_E_NOTFOUND) {
        /* First use: created from the QRNG. */
        with_qrng = 1;
        rc = qt_attest_key_open(&c, 1, 1, &q, &k);
    }
    if (rc != QT_OK) {
        (void)fprintf(stderr, CMD " pubkey: cannot open the attestation key: %s\n", qt_rc_str(rc));
        return exit_for(rc);
    }
    if ((rc = qt_att_key_public_pem(k, &pem)) == QT_OK) {
        if (json) {
            (void)printf("{\"alg\":\"%s\",\"fingerprint\":\"%s\",\"pem\":\"", qt_att_key_alg(k),
                         qt_att_key_fingerprint(k));
            for (const char *p = pem; *p != '\0'; p++) {
                if (*p == '\n') {
                    (void)fputs("\\n", stdout);
                } else {
                    (void)putchar(*p);
                }
            }
            (void)printf("\"}\n");
        } else {
            (void)fputs(pem, stdout);
            (void)printf("# alg %s, SPKI SHA-256 fingerprint:\n# %s\n", qt_att_key_alg(k),
                         qt_att_key_fingerprint(k));
        }
    }
    free(pem);
    qt_att_key_free(k);
    if (with_qrng) {
        qt_attest_qrng_close(&q);
    }
    return exit_for(rc);
}

static int
cmd_ca(int argc, char **argv)
{
    struct qt_conf c;
    struct qt_attest_qrng q = {0};
    struct qt_att_key *k = NULL;
    const char *out = NULL;
    X509 *cert = NULL;
    char *pem = NULL;
    int ex;
    qt_rc rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0) {
            if ((out = opt_value(argc, argv, &i)) == NULL) {
                return QT_EXIT_USAGE;
            }
        } else {
            (void)fprintf(stderr, CMD " ca: unknown option %s\n", argv[i]);
            return QT_EXIT_USAGE;
        }
    }
    if ((ex = load_conf(&c)) != QT_EXIT_OK) {
        return ex;
    }
    /* The CA certificate may have to be made: serial from the QRNG. */
    if ((rc = qt_attest_key_open(&c, 1, 1, &q, &k)) != QT_OK) {
        (void)fprintf(stderr, CMD " ca: %s\n", qt_rc_str(rc));
        return exit_for(rc);
    }
    if ((rc = qt_att_key_issuer_cert(k, &cert, NULL)) == QT_OK &&
        (rc = qt_att_cert_pem(cert, &pem)) == QT_OK) {
        if (out != NULL) {
            rc = qt_attest_write_file(out, pem, 0);
        } else {
            (void)fputs(pem, stdout);
        }
    }
    if (rc != QT_OK) {
        (void)fprintf(stderr, CMD " ca: %s\n", qt_rc_str(rc));
    }
    free(pem);
    X509_free(cert);
    qt_att_key_free(k);
    qt_attest_qrng_close(&q);
    return exit_for(rc);
}

static int
cmd_import_cert(int argc, char **argv)
{
    struct qt_conf c;
    struct qt_att_key *k = NULL;
    int ex;
    qt_rc rc;

    if (argc != 2) {
        usage(stderr);
        return QT_EXIT_USAGE;
    }
    if ((ex = load_conf(&c)) != QT_EXIT_OK) {
        return ex;
    }
    if ((rc = qt_attest_key_open(&c, 0, 0, NULL, &k)) != QT_OK) {
        (void)fprintf(stderr, CMD " import-cert: attestation key: %s\n", qt_rc_str(rc));
        return exit_for(rc);
    }
    rc = qt_att_key_import_cert(k, argv[1]);
    if (rc == QT_E_ARG) {
        (void)fprintf(stderr, CMD " import-cert: %s does not certify this attestation key\n",
                      argv[1]);
    } else if (rc == QT_E_UNSUPPORTED) {
        (void)fprintf(stderr,
                      CMD " import-cert: %s is not a CA certificate (CA:TRUE needed to "
                          "issue per-key certificates)\n",
                      argv[1]);
    } else if (rc != QT_OK) {
        (void)fprintf(stderr, CMD " import-cert: %s: %s\n", argv[1], qt_rc_str(rc));
    } else {
        (void)printf("imported %s as the attestation key's certificate\n", argv[1]);
    }
    qt_att_key_free(k);
    return rc == QT_E_ARG || rc == QT_E_UNSUPPORTED ? QT_EXIT_FAIL : exit_for(rc);
}

static int
cmd_export(int argc, char **argv)
{
    struct qt_conf c;
    struct qt_att_log log;
    const char *token = NULL, *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int ex;
    qt_rc rc;

    for (int i = 1; i < argc; i++) {
        const char **slot;
        if (strcmp(argv[i], "--token") == 0) {
            slot = &token;
        } else if (strcmp(argv[i], "--out") == 0) {
            slot = &out;
        } else {
            (void)fprintf(stderr, CMD " export: unknown option %s\n", argv[i]);
            return QT_EXIT_USAGE;
        }
        if ((*slot = opt_value(argc, argv, &i)) == NULL) {
            return QT_EXIT_USAGE;
        }
    }
    if (token == NULL) {
        (void)fprintf(stderr, CMD " export: --token LABEL is required\n");
        return QT_EXIT_USAGE;
    }
    if ((ex = load_conf(&c)) != QT_EXIT_OK) {
        return ex;
    }
    qt_att_log_init(&log);
    rc = qt_attest_read_token_log(&c, token, &log, NULL);
    if (rc == QT_E_NOTFOUND) {
        (void)fprintf(stderr, CMD " export: no token labelled '%s'\n", token);
    } else if (rc != QT_OK) {
        (void)fprintf(stderr, CMD " export: %s\n", qt_rc_str(rc));
    } else if ((rc = qt_att_log_format(&log, &text, &len)) == QT_OK) {
        if (out != NULL && strcmp(out, "-") != 0) {
            rc = qt_attest_write_file(out, text, 0);
            if (rc != QT_OK) {
                (void)fprintf(stderr, CMD " export: %s: %s\n", out, qt_rc_str(rc));
            } else {
                (void)fprintf(stderr, CMD " export: %zu records written to %s\n", log.n, out);
            }
        } else {
            (void)fwrite(text, 1, len, stdout);
        }
    }
    free(text);
    qt_att_log_clear(&log);
    return exit_for(rc);
}

static int
read_log(const char *sub, const char *file, struct qt_att_log *log)
{
    char err[256] = "";
    qt_rc rc;

    qt_att_log_init(log);
    rc = qt_att_log_read_file(file, log, err, sizeof(err));
    if (rc != QT_OK) {
        (void)fprintf(stderr, CMD " %s: %s: %s\n", sub, file, err[0] != '\0' ? err : qt_rc_str(rc));
        return rc == QT_E_IO ? QT_EXIT_NOTFOUND : QT_EXIT_FAIL;
    }
    return QT_EXIT_OK;
}

static int
read_pem_key(const char *sub, const char *path, EVP_PKEY **pkey)
{
    qt_rc rc = qt_att_read_pubkey(path, pkey);

    if (rc != QT_OK) {
        (void)fprintf(stderr, CMD " %s: %s: not a readable PEM public key or certificate\n", sub,
                      path);
        return QT_EXIT_USAGE;
    }
    return QT_EXIT_OK;
}

/* Verifies log with the key in pubkey_path; prints the result.  Exit code. */
static int
verify_and_report(const char *sub, const struct qt_att_log *log, EVP_PKEY *pub, int quiet)
{
    struct qt_att_verify_result res;
    qt_rc rc = qt_att_log_verify(log, pub, &res);

    if (rc != QT_OK) {
        (void)printf("INVALID: %s\n", res.reason);
        (void)fprintf(stderr, CMD " %s: log invalid: %s\n", sub, res.reason);
        return QT_EXIT_FAIL;
    }
    if (!quiet) {
        (void)printf("valid: %zu records, token '%s' (serial %s), all signatures and the chain "
                     "check out\nhead: seq %zu sha256 %s\n",
                     res.records, res.token_label, res.token_serial, res.records, res.last_hash);
    }
    return QT_EXIT_OK;
}

static int
cmd_verify(int argc, char **argv)
{
    const char *file = NULL, *pubkey = NULL, *keypub = NULL, *cert = NULL;
    struct qt_att_log log;
    EVP_PKEY *pub = NULL, *kp = NULL;
    char fp[QT_ATT_HASH_HEX], *payload = NULL;
    size_t idx, entry = QT_ATT_NO_ENTRY;
    int ex;
    qt_rc rc;

    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--pubkey") == 0) {
            slot = &pubkey;
        } else if (strcmp(argv[i], "--key-pubkey") == 0) {
            slot = &keypub;
        } else if (strcmp(argv[i], "--cert") == 0) {
            slot = &cert;
        } else if (argv[i][0] == '-' || file != NULL) {
            (void)fprintf(stderr, CMD " verify: unexpected argument %s\n", argv[i]);
            return QT_EXIT_USAGE;
        } else {
            file = argv[i];
            continue;
        }
        if ((*slot = opt_value(argc, argv, &i)) == NULL) {
            return QT_EXIT_USAGE;
        }
    }
    if (file == NULL || pubkey == NULL || (keypub != NULL && cert != NULL)) {
        (void)fprintf(stderr, "usage: qtoken attest verify FILE --pubkey PEM "
                              "[--key-pubkey PEM | --cert PEM]\n");
        return QT_EXIT_USAGE;
    }
    if ((ex = read_pem_key("verify", pubkey, &pub)) != QT_EXIT_OK) {
        return ex;
    }
    if ((keypub != NULL || cert != NULL) &&
        (ex = read_pem_key("verify", keypub != NULL ? keypub : cert, &kp)) != QT_EXIT_OK) {
        EVP_PKEY_free(pub);
        return ex;
    }
    if ((ex = read_log("verify", file, &log)) != QT_EXIT_OK) {
        goto out;
    }
    if ((ex = verify_and_report("verify", &log, pub, 0)) != QT_EXIT_OK || kp == NULL) {
        goto out;
    }
    if ((rc = qt_att_spki_sha256(kp, fp)) != QT_OK) {
        ex = QT_EXIT_FAIL;
        goto out;
    }
    rc = qt_att_log_find_key_entry(&log, fp, &idx, &entry, &payload);
    if (rc != QT_OK) {
        (void)printf("NOT FOUND: no key generation record for the key with SPKI SHA-256 %s\n", fp);
        ex = QT_EXIT_NOTFOUND;
        goto out;
    }
    if (entry == QT_ATT_NO_ENTRY) {
        (void)printf("key %s was generated in this token: record seq %llu\n", fp,
                     (unsigned long long)log.recs[idx].seq);
    } else {
        /* a session key: one of the keys of a session-keys record */
        (void)printf("key %s was generated in this token: record seq %llu, entry %zu of its "
                     "\"keys\" (a session-keys record)\n",
                     fp, (unsigned long long)log.recs[idx].seq, entry);
    }
    if (cert != NULL) {
        /* An attestation certificate also names the record: it must be this one. */
        X509 *x = NULL;
        FILE *f = fopen(cert, "r");
        char want[QT_ATT_HASH_HEX], got[QT_ATT_HASH_HEX];

        x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
        if (f != NULL) {
            (void)fclose(f);
        }
        if (x != NULL && qt_att_cert_record_hash(x, got) == QT_OK) {
            if (qt_att_record_hash(log.recs[idx].jws, want) != QT_OK || strcmp(want, got) != 0) {
                (void)printf("INVALID: the certificate's record hash %s is not record seq %llu's "
                             "(%s)\n",
                             got, (unsigned long long)log.recs[idx].seq, want);
                X509_free(x);
                ex = QT_EXIT_FAIL;
                goto out;
            }
            (void)printf("the attestation certificate carries record seq %llu's hash\n",
                         (unsigned long long)log.recs[idx].seq);
        }
        X509_free(x);
    }
    qt_att_payload_print(payload, stdout);
out:
    free(payload);
    qt_att_log_clear(&log);
    EVP_PKEY_free(kp);
    EVP_PKEY_free(pub);
    return ex;
}

static int
cmd_show(int argc, char **argv)
{
    const char *file = NULL, *token = NULL, *pubkey = NULL;
    struct qt_att_log log;
    struct qt_conf c;
    EVP_PKEY *pub = NULL;
    int ex = QT_EXIT_OK;
    qt_rc rc;

    for (int i = 1; i < argc; i++) {
        const char **slot;
        if (strcmp(argv[i], "--token") == 0) {
            slot = &token;
        } else if (strcmp(argv[i], "--pubkey") == 0) {
            slot = &pubkey;
        } else if (argv[i][0] != '-' && file == NULL) {
            file = argv[i];
            continue;
        } else {
            (void)fprintf(stderr, CMD " show: unexpected argument %s\n", argv[i]);
            return QT_EXIT_USAGE;
        }
        if ((*slot = opt_value(argc, argv, &i)) == NULL) {
            return QT_EXIT_USAGE;
        }
    }
    if ((file == NULL) == (token == NULL)) {
        (void)fprintf(stderr, "usage: qtoken attest show FILE|--token LABEL [--pubkey PEM]\n");
        return QT_EXIT_USAGE;
    }
    if (pubkey != NULL && (ex = read_pem_key("show", pubkey, &pub)) != QT_EXIT_OK) {
        return ex;
    }
    if (file != NULL) {
        if ((ex = read_log("show", file, &log)) != QT_EXIT_OK) {
            EVP_PKEY_free(pub);
            return ex;
        }
    } else {
        qt_att_log_init(&log);
        if ((ex = load_conf(&c)) != QT_EXIT_OK) {
            goto out;
        }
        rc = qt_attest_read_token_log(&c, token, &log, NULL);
        if (rc != QT_OK) {
            (void)fprintf(stderr, CMD " show: token '%s': %s\n", token, qt_rc_str(rc));
            ex = exit_for(rc);
            goto out;
        }
    }
    for (size_t i = 0; i < log.n; i++) {
        char *payload = NULL;
        size_t len;

        if (qt_att_jws_payload(log.recs[i].jws, &payload, &len) != QT_OK) {
            (void)printf("#%llu  (line %zu: malformed JWS)\n", (unsigned long long)log.recs[i].seq,
                         log.recs[i].line);
            continue;
        }
        qt_att_payload_print(payload, stdout);
        (void)putchar('\n');
        free(payload);
    }
    (void)printf("%zu records%s\n", log.n,
                 pub == NULL ? " (signatures not checked: --pubkey)" : "");
    if (pub != NULL) {
        ex = verify_and_report("show", &log, pub, 0);
    }
out:
    qt_att_log_clear(&log);
    EVP_PKEY_free(pub);
    return ex;
}

/* ------------------------------------------------------------------------
 * attest key: the public key of a key pair from the keystore
 */

static const struct qt_attr *
find_attr(const struct qt_attr *a, size_t n, unsigned long type)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].type == type) {
            return &a[i];
        }
    }
    return NULL;
}

/* Builds an EVP_PKEY from a public key object's attributes: CKA_PUBLIC_KEY_INFO
 * if present, else EC params/point or RSA modulus/exponent. */
qt_rc
qt_attest_pubkey_from_attrs(const struct qt_attr *a, size_t n, EVP_PKEY **out)
{
    const struct qt_attr *spki = find_attr(a, n, CKA_PUBLIC_KEY_INFO);
    const struct qt_attr *kt = find_attr(a, n, CKA_KEY_TYPE);
    const unsigned char *p;
    EVP_PKEY *pkey = NULL;
    CK_KEY_TYPE type;

    if (spki != NULL && spki->len > 0) {
        p = spki->val;
        pkey = d2i_PUBKEY(NULL, &p, (long)spki->len);
        if (pkey != NULL) {
            *out = pkey;
            return QT_OK;
        }
    }
    QT_ENSURE(kt != NULL && kt->len == sizeof(type), QT_E_FORMAT);
    memcpy(&type, kt->val, sizeof(type));
    if (type == CKK_RSA) {
        const struct qt_attr *m = find_attr(a, n, CKA_MODULUS);
        const struct qt_attr *e = find_attr(a, n, CKA_PUBLIC_EXPONENT);
        BIGNUM *bm, *be;
        OSSL_PARAM_BLD *bld;
        OSSL_PARAM *params = NULL;
        EVP_PKEY_CTX *ctx;
        qt_rc rc = QT_E_CRYPTO;

        QT_ENSURE(m != NULL && e != NULL, QT_E_FORMAT);
        bm = BN_bin2bn(m->val, (int)m->len, NULL);
        be = BN_bin2bn(e->val, (int)e->len, NULL);
        bld = OSSL_PARAM_BLD_new();
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        if (bm != NULL && be != NULL && bld != NULL && ctx != NULL &&
            OSSL_PARAM_BLD_push_BN(bld, "n", bm) == 1 &&
            OSSL_PARAM_BLD_push_BN(bld, "e", be) == 1 &&
            (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1) {
            *out = pkey;
            rc = QT_OK;
        }
        OSSL_PARAM_free(params);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_BLD_free(bld);
        BN_free(bm);
        BN_free(be);
        return rc;
    }
    if (type == CKK_EC || type == CKK_EC_EDWARDS) {
        const struct qt_attr *params = find_attr(a, n, CKA_EC_PARAMS);
        const struct qt_attr *point = find_attr(a, n, CKA_EC_POINT);
        ASN1_OCTET_STRING *os = NULL;
        ASN1_OBJECT *obj = NULL;
        const unsigned char *pt;
        size_t ptlen;
        qt_rc rc = QT_E_FORMAT;

        QT_ENSURE(params != NULL && point != NULL, QT_E_FORMAT);
        p = params->val;
        obj = d2i_ASN1_OBJECT(NULL, &p, (long)params->len);
        /* CKA_EC_POINT is DER OCTET STRING (accepted raw, DESIGN.md). */
        p = point->val;
        os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)point->len);
        pt = os != NULL ? ASN1_STRING_get0_data(os) : point->val;
        ptlen = os != NULL ? (size_t)ASN1_STRING_length(os) : point->len;
        {
            /* CKA_EC_PARAMS of an Edwards key may be a name, not an OID (3.0). */
            int nid =
                obj != NULL ? OBJ_obj2nid(obj) : (type == CKK_EC_EDWARDS ? NID_ED25519 : NID_undef);
            if (nid == NID_ED25519) {
                pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pt, ptlen);
            } else if (nid != NID_undef) {
                EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
                OSSL_PARAM prm[3];

                prm[0] = OSSL_PARAM_construct_utf8_string("group", (char *)OBJ_nid2sn(nid), 0);
                prm[1] = OSSL_PARAM_construct_octet_string("pub", (void *)pt, ptlen);
                prm[2] = OSSL_PARAM_construct_end();
                if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
                    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, prm) != 1) {
                    pkey = NULL;
                }
                EVP_PKEY_CTX_free(ctx);
            }
        }
        if (pkey != NULL) {
            *out = pkey;
            rc = QT_OK;
        }
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(obj);
        return rc;
    }
    return QT_E_UNSUPPORTED;
}

static qt_rc
token_public_key(const struct qt_conf *c, const char *token, const char *label, EVP_PKEY **out)
{
    char install[QT_CONF_STR];
    struct qt_ks_token *t = NULL;
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    struct qt_attr tmpl[2] = {
        {CKA_CLASS, (uint8_t *)&cls, sizeof(cls)},
        {CKA_LABEL, (uint8_t *)(uintptr_t)label, strlen(label)},
    };
    uint64_t *ids = NULL;
    size_t count = 0, n = 0;
    struct qt_attr *attrs = NULL;
    qt_rc rc;

    QT_TRY(open_token(c, token, install, sizeof(install), &t));
    if ((rc = qt_ks_obj_find(t, tmpl, 2, &ids, &count)) != QT_OK) {
        goto out;
    }
    if (count == 0) {
        rc = QT_E_NOTFOUND;
        goto out;
    }
    if (count > 1) {
        rc = QT_E_EXISTS;
        goto out;
    }
    if ((rc = qt_ks_obj_get(t, ids[0], &attrs, &n)) != QT_OK) {
        goto out;
    }
    rc = qt_attest_pubkey_from_attrs(attrs, n, out);
out:
    qt_ks_attrs_free(attrs, n);
    free(ids);
    qt_ks_token_close(t);
    return rc;
}

static int
cmd_key(int argc, char **argv)
{
    const char *token = NULL, *label = NULL, *out = NULL;
    long days = 3650;
    struct qt_conf c;
    struct qt_att_log log;
    struct qt_att_verify_result res;
    struct qt_attest_qrng q = {0};
    struct qt_att_key *k = NULL;
    EVP_PKEY *pub = NULL;
    X509 *cert = NULL;
    char fp[QT_ATT_HASH_HEX], rh[QT_ATT_HASH_HEX], serial[17] = "", *pem = NULL;
    char *payload = NULL, ou[160];
    size_t idx;
    int ex;
    qt_rc rc;

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--token") == 0 || strcmp(argv[i], "--label") == 0 ||
            strcmp(argv[i], "--out") == 0 || strcmp(argv[i], "--days") == 0) {
            if ((v = opt_value(argc, argv, &i)) == NULL) {
                return QT_EXIT_USAGE;
            }
            switch (argv[i - 1][2]) {
            case 't':
                token = v;
                break;
            case 'l':
                label = v;
                break;
            case 'o':
                out = v;
                break;
            default:
                days = strtol(v, NULL, 10);
                break;
            }
        } else {
            (void)fprintf(stderr, CMD " key: unknown option %s\n", argv[i]);
            return QT_EXIT_USAGE;
        }
    }
    if (token == NULL || label == NULL || days < 1 || days > 36500) {
        (void)fprintf(stderr, "usage: qtoken attest key --token LABEL --label KEYLABEL "
                              "[--out FILE] [--days 1..36500]\n");
        return QT_EXIT_USAGE;
    }
    if ((ex = load_conf(&c)) != QT_EXIT_OK) {
        return ex;
    }
    qt_att_log_init(&log);
    rc = token_public_key(&c, token, label, &pub);
    if (rc != QT_OK) {
        (void)fprintf(stderr, CMD " key: token '%s', public key '%s': %s\n", token, label,
                      rc == QT_E_EXISTS ? "several public keys have this label" : qt_rc_str(rc));
        ex = rc == QT_E_EXISTS ? QT_EXIT_FAIL : exit_for(rc);
        goto out;
    }
    if ((rc = qt_attest_key_open(&c, 0, 1, &q, &k)) != QT_OK) {
        (void)fprintf(stderr, CMD " key: attestation key: %s\n", qt_rc_str(rc));
        ex = exit_for(rc);
        goto out;
    }
    /* Only a key the verified log says the token generated is certified. */
    if ((rc = qt_attest_read_token_log(&c, token, &log, serial)) != QT_OK ||
        (rc = qt_att_log_verify(&log, qt_att_key_pkey(k), &res)) != QT_OK) {
        (void)fprintf(stderr, CMD " key: token log: %s\n",
                      res.reason[0] != '\0' ? res.reason : qt_rc_str(rc));
        ex = QT_EXIT_FAIL;
        goto out;
    }
    if ((rc = qt_att_spki_sha256(pub, fp)) != QT_OK ||
        (rc = qt_att_log_find_key(&log, fp, &idx, &payload)) != QT_OK ||
        (rc = qt_att_record_hash(log.recs[idx].jws, rh)) != QT_OK) {
        (void)fprintf(stderr, CMD " key: no generation record for '%s' (SPKI SHA-256 %s)\n", label,
                      fp);
        ex = exit_for(rc);
        goto out;
    }
    qt_att_payload_entropy_summary(payload, ou, sizeof(ou));
    if ((rc = qt_att_cert_issue(k, pub, label, serial, ou, rh, (int)days, &cert)) != QT_OK ||
        (rc = qt_att_cert_pem(cert, &pem)) != QT_OK) {
        (void)fprintf(stderr, CMD " key: issuing the certificate: %s\n", qt_rc_str(rc));
        ex = exit_for(rc);
        goto out;
    }
    if (out != NULL) {
        if ((rc = qt_attest_write_file(out, pem, 0)) != QT_OK) {
            (void)fprintf(stderr, CMD " key: %s: %s\n", out, qt_rc_str(rc));
            ex = QT_EXIT_FAIL;
            goto out;
        }
        (void)fprintf(stderr,
                      CMD " key: attestation certificate for '%s' (record seq %llu) "
                          "written to %s\n",
                      label, (unsigned long long)log.recs[idx].seq, out);
    } else {
        (void)fputs(pem, stdout);
    }
    ex = QT_EXIT_OK;
out:
    free(payload);
    free(pem);
    X509_free(cert);
    EVP_PKEY_free(pub);
    qt_att_log_clear(&log);
    qt_att_key_free(k);
    qt_attest_qrng_close(&q);
    return ex;
}

int
qt_cmd_attest(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
    } subs[] = {
        {"pubkey", cmd_pubkey}, {"ca", cmd_ca},         {"import-cert", cmd_import_cert},
        {"export", cmd_export}, {"verify", cmd_verify}, {"show", cmd_show},
        {"key", cmd_key},
    };

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? QT_EXIT_USAGE : QT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            for (int j = 2; j < argc; j++) {
                if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
                    usage(stdout);
                    return QT_EXIT_OK;
                }
            }
            return subs[i].fn(argc - 1, argv + 1);
        }
    }
    (void)fprintf(stderr, CMD ": unknown sub-command '%s'\n", argv[1]);
    usage(stderr);
    return QT_EXIT_USAGE;
}
