/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attestation key: created once with mode 0600, reopened unchanged,
 * types, public PEM, the attestation CA and per-key certificates (checked
 * with OpenSSL's own chain verifier), certificate import.
 */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "att_test.h"

static char dir[] = "/tmp/qt-attk-XXXXXX";
static struct qt_att_key *key;

static void
setup(void)
{
    key = att_test_key(dir, QT_ATT_KEY_P256);
}

static void
teardown(void)
{
    qt_att_key_free(key);
    att_test_rmdir(dir);
}

Test(att_key, created_0600_and_reopened_same, .init = setup, .fini = teardown)
{
    char path[512];
    struct stat st;
    struct qt_att_key *again = NULL;
    char *pem = NULL;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, QT_ATT_KEY_FILE);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    /* Existing key wins whatever type is asked. */
    cr_assert_eq(qt_att_key_open(dir, NULL, QT_ATT_KEY_ED25519, 0, &again), QT_OK);
    cr_assert_str_eq(qt_att_key_fingerprint(again), qt_att_key_fingerprint(key));
    cr_assert_str_eq(qt_att_key_alg(again), "ES256");
    cr_assert_eq(qt_att_key_public_pem(again, &pem), QT_OK);
    cr_assert_not_null(strstr(pem, "BEGIN PUBLIC KEY"));
    cr_assert_null(strstr(pem, "PRIVATE"));
    free(pem);
    qt_att_key_free(again);
}

Test(att_key, missing_without_create_is_notfound)
{
    char d[] = "/tmp/qt-attk2-XXXXXX";
    struct qt_att_key *k = NULL;

    cr_assert_not_null(mkdtemp(d));
    cr_assert_eq(qt_att_key_open(d, NULL, QT_ATT_KEY_P256, 0, &k), QT_E_NOTFOUND);
    cr_assert_null(k);
    att_test_rmdir(d);
}

Test(att_key, type_parse)
{
    enum qt_att_key_type t;

    cr_assert_eq(qt_att_key_type_parse("p256", &t), QT_OK);
    cr_assert_eq(t, QT_ATT_KEY_P256);
    cr_assert_eq(qt_att_key_type_parse("ed25519", &t), QT_OK);
    cr_assert_eq(t, QT_ATT_KEY_ED25519);
    cr_assert_eq(qt_att_key_type_parse("", &t), QT_OK);
    cr_assert_eq(t, QT_ATT_KEY_P256);
    cr_assert_eq(qt_att_key_type_parse("rsa", &t), QT_E_CONFIG);
}

Test(att_key, garbage_key_file_is_format_error)
{
    char d[] = "/tmp/qt-attk3-XXXXXX", path[512];
    struct qt_att_key *k = NULL;
    FILE *f;

    cr_assert_not_null(mkdtemp(d));
    (void)snprintf(path, sizeof(path), "%s/%s", d, QT_ATT_KEY_FILE);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("not a key\n", f);
    fclose(f);
    cr_assert_eq(qt_att_key_open(d, NULL, QT_ATT_KEY_P256, 1, &k), QT_E_FORMAT);
    att_test_rmdir(d);
}

static int
chain_ok(X509 *ca, X509 *leaf)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok;

    cr_assert(X509_STORE_add_cert(st, ca) == 1);
    cr_assert(X509_STORE_CTX_init(ctx, st, leaf, NULL) == 1);
    ok = X509_verify_cert(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    return ok;
}

static void
issue_and_check(struct qt_att_key *k)
{
    EVP_PKEY *subj = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    X509 *ca = NULL, *leaf = NULL;
    char hex[QT_ATT_HASH_HEX], back[QT_ATT_HASH_HEX];
    int imported = -1;

    memset(hex, 'c', 64);
    hex[64] = '\0';
    hex[0] = '0';
    cr_assert_not_null(subj);
    cr_assert_eq(qt_att_key_issuer_cert(k, &ca, &imported), QT_OK);
    cr_assert_eq(imported, 0);
    cr_assert_eq(X509_check_ca(ca), 1);
    cr_assert_eq(qt_att_cert_issue(k, subj, "root key", "SER-1",
                                   "entropy: sim S (SIMULATED, not quantum)", hex, 365, &leaf),
                 QT_OK);
    cr_assert_eq(chain_ok(ca, leaf), 1);
    {
        char ou[128] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_organizationalUnitName, ou,
                                  sizeof(ou));
        cr_assert_str_eq(ou, "entropy: sim S (SIMULATED, not quantum)");
    }
    cr_assert_eq(qt_att_cert_record_hash(leaf, back), QT_OK);
    cr_assert_str_eq(back, hex);
    cr_assert_eq(qt_att_cert_record_hash(ca, back), QT_E_NOTFOUND);
    cr_assert_eq(qt_att_cert_issue(k, subj, "x", "s", NULL, "zz", 365, &leaf), QT_E_ARG);
    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY_free(subj);
}

Test(att_cert, per_key_cert_chains_to_attestation_ca, .init = setup, .fini = teardown)
{
    X509 *a = NULL, *b = NULL;

    issue_and_check(key);
    /* The CA certificate is made once and kept. */
    cr_assert_eq(qt_att_key_issuer_cert(key, &a, NULL), QT_OK);
    cr_assert_eq(qt_att_key_issuer_cert(key, &b, NULL), QT_OK);
    cr_assert_eq(X509_cmp(a, b), 0);
    X509_free(a);
    X509_free(b);
}

Test(att_cert, ed25519_key_issues_too)
{
    char d[] = "/tmp/qt-attk4-XXXXXX";
    struct qt_att_key *k = att_test_key(d, QT_ATT_KEY_ED25519);

    issue_and_check(k);
    qt_att_key_free(k);
    att_test_rmdir(d);
}

Test(att_cert, import_rejects_cert_for_another_key, .init = setup, .fini = teardown)
{
    char d[] = "/tmp/qt-attk5-XXXXXX", path[512];
    struct qt_att_key *other = att_test_key(d, QT_ATT_KEY_P256);
    X509 *ca = NULL;
    FILE *f;

    /* other's CA certificate certifies other's key, not ours. */
    cr_assert_eq(qt_att_key_issuer_cert(other, &ca, NULL), QT_OK);
    (void)snprintf(path, sizeof(path), "%s/other.pem", d);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert(PEM_write_X509(f, ca) == 1);
    fclose(f);
    cr_assert_eq(qt_att_key_import_cert(key, path), QT_E_ARG);
    /* Its own certificate imports (a CA cert for the key). */
    cr_assert_eq(qt_att_key_import_cert(other, path), QT_OK);
    X509_free(ca);
    cr_assert_eq(qt_att_key_issuer_cert(other, &ca, NULL), QT_OK);
    X509_free(ca);
    qt_att_key_free(other);
    att_test_rmdir(d);
}

Test(att_cert, ca_cert_of_another_key_is_tamper, .init = setup, .fini = teardown)
{
    char d[] = "/tmp/qt-attk6-XXXXXX", src[512], dst[512];
    struct qt_att_key *other = att_test_key(d, QT_ATT_KEY_P256);
    X509 *ca = NULL;
    FILE *f;

    cr_assert_eq(qt_att_key_issuer_cert(other, &ca, NULL), QT_OK);
    (void)snprintf(src, sizeof(src), "%s/%s", d, QT_ATT_CA_FILE);
    (void)snprintf(dst, sizeof(dst), "%s/%s", dir, QT_ATT_CA_FILE);
    X509_free(ca);
    ca = NULL;
    f = fopen(dst, "w");
    cr_assert_not_null(f);
    {
        FILE *in = fopen(src, "r");
        int ch;
        cr_assert_not_null(in);
        while ((ch = fgetc(in)) != EOF) {
            fputc(ch, f);
        }
        fclose(in);
    }
    fclose(f);
    cr_assert_eq(qt_att_key_issuer_cert(key, &ca, NULL), QT_E_TAMPER);
    cr_assert_null(ca);
    qt_att_key_free(other);
    att_test_rmdir(d);
}
