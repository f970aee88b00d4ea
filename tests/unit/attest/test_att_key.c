/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attestation key: created once with mode 0600, reopened unchanged,
 * types, public PEM, the attestation CA and per-key certificates (checked
 * with OpenSSL's own chain verifier), certificate import (refused for
 * another key; an organisation CA's certificate imported and chained to).
 * The seal: the file is an encrypted PKCS#8 PEM that opens, with OpenSSL
 * alone, under the hex HKDF-SHA-256 of device.key (FORMAT.md 1); a changed
 * or missing device key is a clean QT_E_TAMPER; an unencrypted key from an
 * earlier install still loads and is re-sealed.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ************************************************************************
 * The seal
 */

static const char sealed_head[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n";

static void
inst_path(char *out, size_t n, const char *d, const char *name)
{
    cr_assert_lt((size_t)snprintf(out, n, "%s/%s", d, name), n);
}

/* The whole file (small) into buf, NUL-terminated; returns its length. */
static size_t
slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    cr_assert_not_null(f, "cannot open %s", path);
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

static void
put_file(const char *path, const void *p, size_t n, mode_t mode)
{
    int fd;

    (void)unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

/* The passphrase as FORMAT.md specifies it, computed independently of
 * att_key.c (the EVP_PKEY HKDF interface rather than EVP_KDF). */
static void
expected_passphrase(const char *d, char pass[65])
{
    char path[512];
    unsigned char dk[33], okm[32]; /* dk: 32 bytes and slurp's NUL */
    size_t okm_len = sizeof(okm);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);

    inst_path(path, sizeof(path), d, "device.key");
    cr_assert_eq(slurp(path, (char *)dk, sizeof(dk)), 32);
    cr_assert_not_null(pc);
    cr_assert_eq(EVP_PKEY_derive_init(pc), 1);
    cr_assert_eq(EVP_PKEY_CTX_set_hkdf_md(pc, EVP_sha256()), 1);
    cr_assert_eq(EVP_PKEY_CTX_set1_hkdf_key(pc, dk, 32), 1);
    cr_assert_eq(EVP_PKEY_CTX_add1_hkdf_info(pc, (const unsigned char *)"qtoken attestation key v1",
                                             25),
                 1);
    cr_assert_eq(EVP_PKEY_derive(pc, okm, &okm_len), 1);
    cr_assert_eq(okm_len, sizeof(okm));
    EVP_PKEY_CTX_free(pc);
    for (size_t i = 0; i < sizeof(okm); i++) {
        (void)snprintf(pass + 2 * i, 3, "%02x", okm[i]);
    }
}

/* The key file read with plain OpenSSL and a passphrase (NULL if it fails). */
static EVP_PKEY *
openssl_read(const char *d, const char *pass)
{
    char path[512];
    EVP_PKEY *pk;
    FILE *f;

    inst_path(path, sizeof(path), d, QT_ATT_KEY_FILE);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    pk = PEM_read_PrivateKey(f, NULL, NULL, (void *)pass);
    fclose(f);
    return pk;
}

Test(att_seal, key_file_is_encrypted_pkcs8_under_device_key, .init = setup, .fini = teardown)
{
    char path[512], text[4096], pass[65];
    struct stat st;
    EVP_PKEY *pk;

    inst_path(path, sizeof(path), dir, QT_ATT_KEY_FILE);
    slurp(path, text, sizeof(text));
    cr_assert_eq(strncmp(text, sealed_head, strlen(sealed_head)), 0, "file starts: %.40s", text);
    cr_assert_null(strstr(text, "BEGIN PRIVATE KEY"));
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    /* The device key was made at first use, as the keystore makes it. */
    inst_path(path, sizeof(path), dir, "device.key");
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_size, 32);
    cr_assert_eq(st.st_mode & 0777, 0600);
    /* OpenSSL alone opens it with the documented passphrase... */
    expected_passphrase(dir, pass);
    pk = openssl_read(dir, pass);
    cr_assert_not_null(pk);
    cr_assert_eq(EVP_PKEY_eq(pk, qt_att_key_pkey(key)), 1);
    EVP_PKEY_free(pk);
    /* ...and not with another. */
    pass[0] = pass[0] == '0' ? '1' : '0';
    cr_assert_null(openssl_read(dir, pass));
}

Test(att_seal, reopened_key_signs_records_the_original_verifies, .init = setup,
     .fini = teardown)
{
    struct qt_att_key *again = NULL;
    struct qt_att_log log;
    struct qt_att_verify_result res;

    cr_assert_eq(qt_att_key_open(dir, NULL, QT_ATT_KEY_P256, 0, &again), QT_OK);
    att_test_log(again, "SEAL-0001", "seal", 3, &log);
    cr_assert_eq(qt_att_log_verify(&log, qt_att_key_pkey(key), &res), QT_OK, "%s", res.reason);
    cr_assert_eq(res.records, 3);
    qt_att_log_clear(&log);
    qt_att_key_free(again);
}

Test(att_seal, changed_or_missing_device_key_is_tamper, .init = setup, .fini = teardown)
{
    char kpath[512], dpath[512], before[4096], after[4096];
    unsigned char dk[33], other[32];
    struct qt_att_key *k = NULL;
    size_t n;

    inst_path(kpath, sizeof(kpath), dir, QT_ATT_KEY_FILE);
    inst_path(dpath, sizeof(dpath), dir, "device.key");
    n = slurp(kpath, before, sizeof(before));
    cr_assert_eq(slurp(dpath, (char *)dk, sizeof(dk)), 32);
    memcpy(other, dk, sizeof(other));
    other[7] ^= 0x01;

    /* Another device key: a clean error, no key, no new key written. */
    put_file(dpath, other, sizeof(other), 0600);
    cr_assert_eq(qt_att_key_open(dir, NULL, QT_ATT_KEY_P256, 1, &k), QT_E_TAMPER);
    cr_assert_null(k);
    cr_assert_eq(slurp(kpath, after, sizeof(after)), n);
    cr_assert_eq(memcmp(before, after, n), 0);

    /* No device key at all: the same, and none is made (it would not open). */
    cr_assert_eq(unlink(dpath), 0);
    cr_assert_eq(qt_att_key_open(dir, NULL, QT_ATT_KEY_P256, 1, &k), QT_E_TAMPER);
    cr_assert_null(k);
    cr_assert_eq(access(dpath, F_OK), -1);

    /* A device key readable by others is refused, like the keystore does. */
    put_file(dpath, dk, 32, 0644);
    cr_assert_eq(qt_att_key_open(dir, NULL, QT_ATT_KEY_P256, 1, &k), QT_E_TAMPER);
    cr_assert_null(k);

    /* The right one back: the same key opens. */
    put_file(dpath, dk, 32, 0600);
    cr_assert_eq(qt_att_key_open(dir, NULL, QT_ATT_KEY_P256, 0, &k), QT_OK);
    cr_assert_str_eq(qt_att_key_fingerprint(k), qt_att_key_fingerprint(key));
    qt_att_key_free(k);
    k = NULL;

    /* A changed ciphertext byte: also a clean error. */
    {
        char *mid = before + strlen(sealed_head) + 100;
        *mid = *mid == 'A' ? 'B' : 'A';
        put_file(kpath, before, n, 0600);
        cr_assert_eq(qt_att_key_open(dir, NULL, QT_ATT_KEY_P256, 1, &k), QT_E_TAMPER);
        cr_assert_null(k);
    }
}

static void
legacy_loads_and_is_resealed(const char *group)
{
    char d[] = "/tmp/qt-attk7-XXXXXX", kpath[512], dpath[512], text[4096], fp[QT_ATT_HASH_HEX];
    EVP_PKEY *old = group != NULL ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", group)
                                  : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    struct qt_att_key *k = NULL;
    struct stat st;
    FILE *f;

    cr_assert_not_null(old);
    cr_assert_not_null(mkdtemp(d));
    inst_path(kpath, sizeof(kpath), d, QT_ATT_KEY_FILE);
    inst_path(dpath, sizeof(dpath), d, "device.key");
    /* What earlier releases wrote: unencrypted PKCS#8, no device key yet. */
    f = fopen(kpath, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PrivateKey(f, old, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    cr_assert_eq(chmod(kpath, 0600), 0);
    slurp(kpath, text, sizeof(text));
    cr_assert_eq(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
    cr_assert_eq(qt_att_spki_sha256(old, fp), QT_OK);

    cr_assert_eq(qt_att_key_open(d, NULL, QT_ATT_KEY_P256, 0, &k), QT_OK);
    cr_assert_str_eq(qt_att_key_fingerprint(k), fp);
    cr_assert_str_eq(qt_att_key_alg(k), group != NULL ? "ES256" : "EdDSA");
    qt_att_key_free(k);
    k = NULL;
    /* Re-sealed in place, under a device key made for it, still mode 0600. */
    slurp(kpath, text, sizeof(text));
    cr_assert_eq(strncmp(text, sealed_head, strlen(sealed_head)), 0);
    cr_assert_eq(stat(kpath, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(stat(dpath, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(qt_att_key_open(d, NULL, QT_ATT_KEY_P256, 0, &k), QT_OK);
    cr_assert_str_eq(qt_att_key_fingerprint(k), fp);
    qt_att_key_free(k);
    EVP_PKEY_free(old);
    att_test_rmdir(d);
}

Test(att_seal, unencrypted_key_of_earlier_install_loads_and_is_resealed)
{
    legacy_loads_and_is_resealed("P-256");
    legacy_loads_and_is_resealed(NULL);
}

Test(att_seal, unencrypted_key_of_another_curve_is_format_error)
{
    char d[] = "/tmp/qt-attk8-XXXXXX", kpath[512], text[4096];
    EVP_PKEY *old = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    struct qt_att_key *k = NULL;
    FILE *f;

    cr_assert_not_null(mkdtemp(d));
    inst_path(kpath, sizeof(kpath), d, QT_ATT_KEY_FILE);
    f = fopen(kpath, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PrivateKey(f, old, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    cr_assert_eq(qt_att_key_open(d, NULL, QT_ATT_KEY_P256, 1, &k), QT_E_FORMAT);
    cr_assert_null(k);
    /* A key it cannot use is left as it was. */
    slurp(kpath, text, sizeof(text));
    cr_assert_eq(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
    EVP_PKEY_free(old);
    att_test_rmdir(d);
}

Test(att_seal, processes_racing_at_first_use_share_one_key_and_device_key)
{
    enum { N = 4 };
    char d[] = "/tmp/qt-attk9-XXXXXX", fps[N][QT_ATT_HASH_HEX];
    int fds[N][2];
    pid_t pids[N];
    struct qt_att_key *k = NULL;

    cr_assert_not_null(mkdtemp(d));
    for (int i = 0; i < N; i++) {
        cr_assert_eq(pipe(fds[i]), 0);
        pids[i] = fork();
        cr_assert_geq(pids[i], 0);
        if (pids[i] == 0) {
            struct qt_att_key *ck = NULL;
            int ok = qt_att_key_open(d, NULL, QT_ATT_KEY_P256, 1, &ck) == QT_OK &&
                     write(fds[i][1], qt_att_key_fingerprint(ck), 64) == 64;
            _exit(ok ? 0 : 1);
        }
        close(fds[i][1]);
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        cr_assert_eq(read(fds[i][0], fps[i], 64), 64);
        fps[i][64] = '\0';
        close(fds[i][0]);
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* Had two device keys or two key files won, some would differ or fail. */
    cr_assert_eq(qt_att_key_open(d, NULL, QT_ATT_KEY_P256, 0, &k), QT_OK);
    for (int i = 0; i < N; i++) {
        cr_assert_str_eq(fps[i], qt_att_key_fingerprint(k));
    }
    qt_att_key_free(k);
    /* No temporary file is left behind: the key and the device key only. */
    {
        DIR *dh = opendir(d);
        struct dirent *e;
        int files = 0;

        cr_assert_not_null(dh);
        while ((e = readdir(dh)) != NULL) {
            if (e->d_name[0] != '.') {
                cr_assert(strcmp(e->d_name, QT_ATT_KEY_FILE) == 0 ||
                              strcmp(e->d_name, "device.key") == 0,
                          "unexpected %s", e->d_name);
                files++;
            } else {
                cr_assert(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0,
                          "left over: %s", e->d_name);
            }
        }
        closedir(dh);
        cr_assert_eq(files, 2);
    }
    att_test_rmdir(d);
}

/* ************************************************************************
 * A certificate from an organisation's CA
 */

static X509 *
make_cert(EVP_PKEY *subject_key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
          const char *bc, int skid)
{
    X509 *c = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    cr_assert(c != NULL && name != NULL);
    cr_assert_eq(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                            (const unsigned char *)"Example Org", -1, -1, 0),
                 1);
    cr_assert_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
                                            -1, -1, 0),
                 1);
    cr_assert_eq(X509_set_version(c, X509_VERSION_3), 1);
    cr_assert_eq(ASN1_INTEGER_set(X509_get_serialNumber(c), 4242), 1);
    cr_assert_eq(X509_set_subject_name(c, name), 1);
    cr_assert_eq(X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name),
                 1);
    cr_assert_eq(X509_set_pubkey(c, subject_key), 1);
    cr_assert_not_null(X509_gmtime_adj(X509_getm_notBefore(c), -60));
    cr_assert_not_null(X509_gmtime_adj(X509_getm_notAfter(c), 86400));
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : c, c, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, bc);
    cr_assert_not_null(ext);
    cr_assert_eq(X509_add_ext(c, ext, -1), 1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    cr_assert_not_null(ext);
    cr_assert_eq(X509_add_ext(c, ext, -1), 1);
    X509_EXTENSION_free(ext);
    if (skid) {
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
        cr_assert_not_null(ext);
        cr_assert_eq(X509_add_ext(c, ext, -1), 1);
        X509_EXTENSION_free(ext);
    }
    cr_assert_gt(X509_sign(c, issuer_key, EVP_sha256()), 0);
    X509_NAME_free(name);
    return c;
}

static void
write_pem(const char *path, X509 *c)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_X509(f, c), 1);
    fclose(f);
}

Test(att_cert, org_ca_certificate_imports_and_per_key_certs_chain_to_it, .init = setup,
     .fini = teardown)
{
    char path[512], hex[QT_ATT_HASH_HEX];
    EVP_PKEY *org_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *subj = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    X509 *org, *att, *leafcert = NULL, *issuer = NULL, *not_ca, *no_skid;
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int imported = -1;

    cr_assert(org_key != NULL && subj != NULL && st != NULL && vctx != NULL && untrusted != NULL);
    org = make_cert(org_key, "Example Org Root", NULL, org_key, "critical,CA:TRUE", 1);
    att = make_cert(qt_att_key_pkey(key), "qtoken attestation (Example Org)", org, org_key,
                    "critical,CA:TRUE,pathlen:0", 1);
    not_ca = make_cert(qt_att_key_pkey(key), "not a CA", org, org_key, "critical,CA:FALSE", 1);
    no_skid = make_cert(qt_att_key_pkey(key), "no key id", org, org_key,
                        "critical,CA:TRUE,pathlen:0", 0);

    /* A certificate for the key that may not issue is refused. */
    inst_path(path, sizeof(path), dir, "not-ca.pem");
    write_pem(path, not_ca);
    cr_assert_eq(qt_att_key_import_cert(key, path), QT_E_UNSUPPORTED);
    /* One without a subjectKeyIdentifier could not issue (AKID keyid:always). */
    inst_path(path, sizeof(path), dir, "no-skid.pem");
    write_pem(path, no_skid);
    cr_assert_eq(qt_att_key_import_cert(key, path), QT_E_FORMAT);
    cr_assert_eq(qt_att_key_issuer_cert(key, &issuer, &imported), QT_OK);
    cr_assert_eq(imported, 0);
    X509_free(issuer);
    issuer = NULL;

    /* The organisation's certificate imports and becomes the issuer. */
    inst_path(path, sizeof(path), dir, "org-att.pem");
    write_pem(path, att);
    cr_assert_eq(qt_att_key_import_cert(key, path), QT_OK);
    cr_assert_eq(qt_att_key_issuer_cert(key, &issuer, &imported), QT_OK);
    cr_assert_eq(imported, 1);
    cr_assert_eq(X509_cmp(issuer, att), 0);

    /* A per-key certificate chains: org root (trusted) -> imported -> leaf. */
    memset(hex, 'a', 64);
    hex[64] = '\0';
    cr_assert_eq(qt_att_cert_issue(key, subj, "root key", "SER-9", NULL, hex, 30, &leafcert),
                 QT_OK);
    cr_assert_eq(X509_NAME_cmp(X509_get_issuer_name(leafcert), X509_get_subject_name(att)), 0);
    cr_assert_eq(X509_STORE_add_cert(st, org), 1);
    cr_assert_eq(sk_X509_push(untrusted, att), 1);
    cr_assert_eq(X509_STORE_CTX_init(vctx, st, leafcert, untrusted), 1);
    cr_assert_eq(X509_verify_cert(vctx), 1, "%s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
    cr_assert_eq(X509_STORE_CTX_get0_chain(vctx) != NULL &&
                     sk_X509_num(X509_STORE_CTX_get0_chain(vctx)) == 3,
                 1);

    sk_X509_free(untrusted);
    X509_STORE_CTX_free(vctx);
    X509_STORE_free(st);
    X509_free(leafcert);
    X509_free(issuer);
    X509_free(not_ca);
    X509_free(no_skid);
    X509_free(att);
    X509_free(org);
    EVP_PKEY_free(subj);
    EVP_PKEY_free(org_key);
}
