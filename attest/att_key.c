/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device attestation key: one per installation, in the installation
 * directory as attest-key.pem, an encrypted PKCS#8 PEM (PBES2, AES-256-CBC)
 * sealed under a passphrase derived from the installation's device key
 * device.key (HKDF-SHA-256, info "qtoken attestation key v1", hex), mode
 * 0600 in a directory of mode 0700; see FORMAT.md for what the seal does and
 * does not protect.  Created at first use with EVP_PKEY_keygen in the
 * caller's library context, whose RNG is the QRNG DRBG (which also makes
 * device.key if the keystore has not yet).  Creation is atomic: the key is
 * written to a private temporary file and link()ed to its name, so two
 * processes racing at first use end up sharing whichever key won.  A key file
 * from an earlier release (unencrypted PKCS#8) still loads and is re-sealed
 * in place.  This file also owns the attestation CA certificate
 * (attest-ca.pem) and an optional imported certificate.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/common/buf.h"
#include "../src/common/check.h"
#include "../src/common/devkey.h"
#include "../src/common/io.h"
#include "../src/common/log.h"
#include "../src/common/mem.h"
#include "att.h"
#include "att_int.h"

struct qt_att_key {
    EVP_PKEY *pkey;
    OSSL_LIB_CTX *libctx; /* borrowed */
    enum qt_att_key_type type;
    char dir[QT_CONF_STR];
    char fingerprint[QT_ATT_HASH_HEX];
};

qt_rc
qt_att_key_type_parse(const char *s, enum qt_att_key_type *out)
{
    QT_ENSURE_REF(out);
    if (s == NULL || s[0] == '\0' || strcmp(s, "p256") == 0 || strcmp(s, "P-256") == 0) {
        *out = QT_ATT_KEY_P256;
        return QT_OK;
    }
    if (strcmp(s, "ed25519") == 0 || strcmp(s, "Ed25519") == 0) {
        *out = QT_ATT_KEY_ED25519;
        return QT_OK;
    }
    return QT_E_CONFIG;
}

qt_rc
qt_att_spki_sha256(EVP_PKEY *pkey, char hex[QT_ATT_HASH_HEX])
{
    unsigned char *der = NULL;
    unsigned char md[32];
    int n;

    QT_ENSURE(pkey != NULL && hex != NULL, QT_E_ARG);
    n = i2d_PUBKEY(pkey, &der);
    if (n <= 0) {
        return QT_E_CRYPTO;
    }
    if (EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL) != 1) {
        OPENSSL_free(der);
        return QT_E_CRYPTO;
    }
    OPENSSL_free(der);
    qt_hex(hex, md, sizeof(md));
    return QT_OK;
}

qt_rc
qt_att_read_pubkey(const char *path, EVP_PKEY **out)
{
    BIO *bio = NULL;
    X509 *cert = NULL;
    EVP_PKEY *pkey = NULL;
    qt_rc rc = QT_E_FORMAT;

    QT_ENSURE(path != NULL && out != NULL, QT_E_ARG);
    ERR_set_mark();
    bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        rc = QT_E_IO;
        goto out;
    }
    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (pkey == NULL) {
        /* Not a bare public key: try a certificate. */
        if (BIO_reset(bio) != 0 && BIO_seek(bio, 0) != 0) {
            goto out;
        }
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert == NULL) {
            goto out;
        }
        pkey = X509_get_pubkey(cert);
        if (pkey == NULL) {
            goto out;
        }
    }
    *out = pkey;
    pkey = NULL;
    rc = QT_OK;
out:
    EVP_PKEY_free(pkey);
    X509_free(cert);
    BIO_free(bio);
    ERR_pop_to_mark();
    return rc;
}

static qt_rc
path_join(char *out, size_t outlen, const char *dir, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", dir, name);

    return (n > 0 && (size_t)n < outlen) ? QT_OK : QT_E_RANGE;
}

/* ************************************************************************
 * The seal: a passphrase derived from the installation's device key
 */

/* The device key (src/common/devkey.h) and the HKDF info of the seal. */
#define ATT_DEVKEY_LEN QT_DEVKEY_LEN
#define ATT_SEAL_INFO "qtoken attestation key v1"
#define ATT_SEAL_CIPHER "AES-256-CBC"
#define ATT_PASS_LEN (2 * ATT_DEVKEY_LEN) /* lowercase hex of the HKDF output */
#define ATT_KEY_FILE_MAX 16384            /* a PEM key is far smaller */

static const char att_pem_sealed[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
static const char att_pem_plain[] = "-----BEGIN PRIVATE KEY-----";

/* A name for a private temporary file in dir: random, so that threads and
 * processes never share one. */
static qt_rc
tmp_name(char *out, size_t outlen, const char *dir, const char *stem, OSSL_LIB_CTX *libctx)
{
    uint8_t nonce[8];
    char hex[2 * sizeof(nonce) + 1];
    int n;

    if (RAND_bytes_ex(libctx, nonce, sizeof(nonce), 0) != 1) {
        return QT_E_CRYPTO;
    }
    qt_hex(hex, nonce, sizeof(nonce));
    n = snprintf(out, outlen, "%s/.%s.%s.tmp", dir, stem, hex);
    return (n > 0 && (size_t)n < outlen) ? QT_OK : QT_E_RANGE;
}

/* Random bytes from libctx (the QRNG DRBG) for a device key made here. */
static qt_rc
libctx_rng(void *ctx, uint8_t *out, size_t n)
{
    return RAND_bytes_ex(ctx, out, n, 0) == 1 ? QT_OK : QT_E_CRYPTO;
}

/* The installation's device key (src/common/devkey.c, shared with the
 * keystore); made at first use from libctx when create is set. */
static qt_rc
device_key(const char *dir, OSSL_LIB_CTX *libctx, int create, uint8_t out[ATT_DEVKEY_LEN])
{
    return qt_devkey_get(dir, create ? libctx_rng : NULL, libctx, out);
}

/* The seal's passphrase: lowercase hex of HKDF-SHA-256(ikm = device key, no
 * salt, info = "qtoken attestation key v1", 32 bytes), NUL-terminated. */
static qt_rc
seal_passphrase(const char *dir, OSSL_LIB_CTX *libctx, int create, char pass[ATT_PASS_LEN + 1])
{
    uint8_t dk[ATT_DEVKEY_LEN], okm[ATT_DEVKEY_LEN];
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[4];
    qt_rc rc;

    if ((rc = device_key(dir, libctx, create, dk)) != QT_OK) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    kdf = EVP_KDF_fetch(libctx, OSSL_KDF_NAME_HKDF, NULL);
    kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    if (kctx == NULL) {
        goto out;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, dk, sizeof(dk));
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (char *)ATT_SEAL_INFO,
                                                  sizeof(ATT_SEAL_INFO) - 1);
    params[3] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(kctx, okm, sizeof(okm), params) != 1) {
        goto out;
    }
    qt_hex(pass, okm, sizeof(okm));
    rc = QT_OK;
out:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    qt_wipe(dk, sizeof(dk));
    qt_wipe(okm, sizeof(okm));
    return rc;
}

/* Hands OpenSSL's PEM reader the passphrase in u (never a terminal prompt:
 * with u NULL it gives none). */
static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
    size_t n;

    (void)rwflag;
    if (u == NULL) {
        return -1;
    }
    n = strlen(u);
    if (n > (size_t)size) {
        return -1;
    }
    memcpy(buf, u, n);
    return (int)n;
}

/* Writes pkey as an encrypted PKCS#8 PEM (PBES2: PBKDF2-HMAC-SHA-256 and
 * AES-256-CBC, OpenSSL's defaults for the salt, IV and iteration count, drawn
 * from the key's library context) under pass. */
static qt_rc
write_sealed(BIO *bio, EVP_PKEY *pkey, const char *pass)
{
    OSSL_ENCODER_CTX *ectx;
    qt_rc rc = QT_E_CRYPTO;

    ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, OSSL_KEYMGMT_SELECT_KEYPAIR, "PEM",
                                         "EncryptedPrivateKeyInfo", NULL);
    if (ectx == NULL) {
        return QT_E_CRYPTO;
    }
    if (OSSL_ENCODER_CTX_get_num_encoders(ectx) > 0 &&
        OSSL_ENCODER_CTX_set_cipher(ectx, ATT_SEAL_CIPHER, NULL) == 1 &&
        OSSL_ENCODER_CTX_set_passphrase(ectx, (const unsigned char *)pass, strlen(pass)) == 1 &&
        OSSL_ENCODER_to_bio(ectx, bio) == 1) {
        rc = QT_OK;
    }
    OSSL_ENCODER_CTX_free(ectx);
    return rc;
}

/* Writes pkey sealed to path through a private temporary file: with
 * exclusive, link()ed (EEXIST: another process's key won the race, fine);
 * else rename()d over path (re-sealing the same key). */
static qt_rc
write_key_file(const char *dir, const char *path, EVP_PKEY *pkey, OSSL_LIB_CTX *libctx,
               const char *pass, int exclusive)
{
    char tmp[QT_CONF_STR + 64];
    BIO *bio = NULL;
    FILE *f = NULL;
    int fd = -1;
    int tmp_made = 0;
    qt_rc rc;

    QT_TRY(tmp_name(tmp, sizeof(tmp), dir, QT_ATT_KEY_FILE, libctx));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = QT_E_IO;
        goto out;
    }
    tmp_made = 1;
    f = fdopen(fd, "w");
    if (f == NULL) {
        rc = QT_E_IO;
        goto out;
    }
    fd = -1;
    bio = BIO_new_fp(f, BIO_NOCLOSE);
    if (bio == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if ((rc = write_sealed(bio, pkey, pass)) != QT_OK) {
        goto out;
    }
    if (BIO_flush(bio) != 1 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rc = QT_E_IO;
        goto out;
    }
    if (exclusive ? (link(tmp, path) != 0 && errno != EEXIST) : rename(tmp, path) != 0) {
        rc = QT_E_IO;
        goto out;
    }
    if (!exclusive) {
        tmp_made = 0; /* renamed: it is path now */
    }
    rc = qt_fsync_dir(dir);
out:
    BIO_free(bio);
    if (f != NULL) {
        (void)fclose(f);
    }
    if (fd >= 0) {
        (void)close(fd);
    }
    if (tmp_made) {
        (void)unlink(tmp);
    }
    return rc;
}

/* Reads the key file (small, regular) into a malloc'ed NUL-terminated buffer. */
static qt_rc
read_key_text(const char *path, char **text, size_t *len)
{
    struct stat st;
    char *buf = NULL;
    int fd;
    qt_rc rc = QT_E_IO;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? QT_E_NOTFOUND : QT_E_IO;
    }
    if (fstat(fd, &st) != 0) {
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > ATT_KEY_FILE_MAX) {
        rc = QT_E_FORMAT;
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        /* Not refused (the key is sealed), but say so loudly. */
        qt_log(QT_LOG_WARN, "attest: %s is accessible to other users (mode %03o): chmod 600", path,
               (unsigned)(st.st_mode & 0777));
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if ((rc = qt_read_exact(fd, buf, (size_t)st.st_size)) != QT_OK) {
        goto out;
    }
    buf[st.st_size] = '\0';
    *text = buf;
    *len = (size_t)st.st_size;
    buf = NULL;
    rc = QT_OK;
out:
    if (buf != NULL) {
        qt_wipe(buf, (size_t)st.st_size + 1);
        free(buf);
    }
    (void)close(fd);
    return rc;
}

/* The type of a loaded key: P-256 or Ed25519, else QT_E_FORMAT. */
static qt_rc
key_type_of(EVP_PKEY *pkey, enum qt_att_key_type *type)
{
    char grp[32] = "";

    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        *type = QT_ATT_KEY_ED25519;
        return QT_OK;
    }
    if (EVP_PKEY_is_a(pkey, "EC") &&
        EVP_PKEY_get_utf8_string_param(pkey, "group", grp, sizeof(grp), NULL) == 1 &&
        strcmp(grp, "prime256v1") == 0) {
        *type = QT_ATT_KEY_P256;
        return QT_OK;
    }
    return QT_E_FORMAT;
}

/* Loads the attestation key from path.  A sealed file opens with the
 * passphrase of dir's device key; a wrong or replaced device key (or a
 * changed file) gives QT_E_TAMPER.  An unencrypted file from an earlier
 * release loads as it is and is then re-sealed in place (atomically, by
 * rename: concurrent readers see the old or the new file, both the same key)
 * if it is of a usable type; if re-sealing fails, the key is still used and a
 * warning says why. */
static qt_rc
load_key(const char *dir, const char *path, OSSL_LIB_CTX *libctx, EVP_PKEY **out)
{
    char pass[ATT_PASS_LEN + 1] = "";
    char *text = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    enum qt_att_key_type type;
    int sealed;
    qt_rc rc;

    if ((rc = read_key_text(path, &text, &len)) != QT_OK) {
        return rc;
    }
    if (strstr(text, att_pem_sealed) != NULL) {
        sealed = 1;
    } else if (strstr(text, att_pem_plain) != NULL) {
        sealed = 0;
    } else {
        rc = QT_E_FORMAT;
        goto out;
    }
    if (sealed && (rc = seal_passphrase(dir, libctx, 0, pass)) != QT_OK) {
        qt_log(QT_LOG_ERROR,
               "attest: %s is sealed under %s/" QT_DEVKEY_FILE ", which cannot be read (%s)",
               path, dir, qt_rc_str(rc));
        rc = QT_E_TAMPER;
        goto out;
    }
    bio = BIO_new_mem_buf(text, (int)len);
    if (bio == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, pass_cb, sealed ? pass : NULL, libctx, NULL);
    if (pkey == NULL) {
        if (sealed) {
            qt_log(QT_LOG_ERROR,
                   "attest: %s does not open with the passphrase of %s/" QT_DEVKEY_FILE
                   " (the device key was replaced, or the key file was changed)",
                   path, dir);
        }
        rc = sealed ? QT_E_TAMPER : QT_E_FORMAT;
        goto out;
    }
    if (!sealed && key_type_of(pkey, &type) == QT_OK) {
        qt_rc wr = seal_passphrase(dir, libctx, 1, pass);

        if (wr == QT_OK) {
            wr = write_key_file(dir, path, pkey, libctx, pass, 0);
        }
        if (wr == QT_OK) {
            qt_log(QT_LOG_WARN,
                   "attest: %s was an unencrypted key (earlier qtoken): re-sealed under %s/"
                   QT_DEVKEY_FILE, path, dir);
        } else {
            qt_log(QT_LOG_WARN, "attest: %s is an unencrypted key and could not be re-sealed (%s)",
                   path, qt_rc_str(wr));
        }
    }
    *out = pkey;
    pkey = NULL;
    rc = QT_OK;
out:
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    qt_wipe(text, len);
    free(text);
    qt_wipe(pass, sizeof(pass));
    return rc;
}

/* A fresh key in libctx.  The key type is named by its OID alias, not "EC" or
 * "ED25519": OpenSSL 3.0 resolves a legacy name to a NID and asks a default
 * ENGINE first (a host running 'openssl -engine pkcs11' has libp11 there),
 * while an OID string reaches only the providers of our libctx. */
static EVP_PKEY *
generate(OSSL_LIB_CTX *libctx, enum qt_att_key_type type)
{
    int ed = type == QT_ATT_KEY_ED25519;
    EVP_PKEY_CTX *pctx =
        EVP_PKEY_CTX_new_from_name(libctx, ed ? "1.3.101.112" : "1.2.840.10045.2.1", NULL);
    EVP_PKEY *pkey = NULL;

    if (pctx != NULL && EVP_PKEY_keygen_init(pctx) > 0 &&
        (ed || EVP_PKEY_CTX_set_group_name(pctx, "P-256") > 0)) {
        (void)EVP_PKEY_keygen(pctx, &pkey);
    }
    EVP_PKEY_CTX_free(pctx);
    return pkey;
}

/* Generates a key in libctx and writes it sealed to path (making the device
 * key first if needed); EEXIST on link means another process won the race
 * and its key is used. */
static qt_rc
create_key(const char *dir, const char *path, OSSL_LIB_CTX *libctx, enum qt_att_key_type type)
{
    char pass[ATT_PASS_LEN + 1] = "";
    EVP_PKEY *pkey = NULL;
    qt_rc rc;

    if ((rc = seal_passphrase(dir, libctx, 1, pass)) != QT_OK) {
        goto out;
    }
    if ((pkey = generate(libctx, type)) == NULL) {
        rc = QT_E_CRYPTO;
        goto out;
    }
    rc = write_key_file(dir, path, pkey, libctx, pass, 1);
out:
    qt_wipe(pass, sizeof(pass));
    EVP_PKEY_free(pkey);
    return rc;
}

qt_rc
qt_att_key_open(const char *dir, OSSL_LIB_CTX *libctx, enum qt_att_key_type type, int create,
                struct qt_att_key **out)
{
    char path[QT_CONF_STR + 32];
    struct qt_att_key *k = NULL;
    EVP_PKEY *pkey = NULL;
    qt_rc rc;

    QT_ENSURE(dir != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(strlen(dir) < QT_CONF_STR, QT_E_RANGE);
    QT_TRY(path_join(path, sizeof(path), dir, QT_ATT_KEY_FILE));

    ERR_set_mark();
    rc = load_key(dir, path, libctx, &pkey);
    if (rc == QT_E_NOTFOUND && create) {
        if ((rc = create_key(dir, path, libctx, type)) != QT_OK) {
            goto out;
        }
        qt_log(QT_LOG_INFO, "attest: created attestation key %s", path);
        rc = load_key(dir, path, libctx, &pkey);
    }
    if (rc != QT_OK) {
        goto out;
    }
    if ((rc = key_type_of(pkey, &type)) != QT_OK) {
        goto out;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    k->libctx = libctx;
    k->type = type;
    (void)snprintf(k->dir, sizeof(k->dir), "%s", dir);
    if ((rc = qt_att_spki_sha256(pkey, k->fingerprint)) != QT_OK) {
        goto out;
    }
    k->pkey = pkey;
    pkey = NULL;
    *out = k;
    k = NULL;
out:
    ERR_pop_to_mark();
    EVP_PKEY_free(pkey);
    free(k);
    return rc;
}

qt_rc
qt_att_key_open_conf(const struct qt_conf *conf, OSSL_LIB_CTX *libctx, int create,
                     struct qt_att_key **out)
{
    char dir[QT_CONF_STR];
    enum qt_att_key_type type;

    QT_ENSURE(conf != NULL && out != NULL, QT_E_ARG);
    QT_TRY(qt_att_key_type_parse(conf->attest_key_type, &type));
    QT_TRY(qt_conf_install_dir(conf, dir, sizeof(dir)));
    return qt_att_key_open(dir, libctx, type, create, out);
}

void
qt_att_key_free(struct qt_att_key *k)
{
    if (k == NULL) {
        return;
    }
    EVP_PKEY_free(k->pkey);
    free(k);
}

EVP_PKEY *
qt_att_key_pkey(const struct qt_att_key *k)
{
    return k->pkey;
}

const char *
qt_att_key_alg(const struct qt_att_key *k)
{
    return k->type == QT_ATT_KEY_ED25519 ? "EdDSA" : "ES256";
}

const char *
qt_att_key_fingerprint(const struct qt_att_key *k)
{
    return k->fingerprint;
}

const char *
qt_att_key_dir(const struct qt_att_key *k)
{
    return k->dir;
}

OSSL_LIB_CTX *
qt_att_key_libctx(const struct qt_att_key *k)
{
    return k->libctx;
}

qt_rc
qt_att_key_public_pem(const struct qt_att_key *k, char **pem)
{
    BIO *bio = NULL;
    char *data;
    long n;
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE(k != NULL && pem != NULL, QT_E_ARG);
    ERR_set_mark();
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, k->pkey) != 1) {
        goto out;
    }
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0) {
        goto out;
    }
    *pem = strndup(data, (size_t)n);
    rc = *pem != NULL ? QT_OK : QT_E_NOMEM;
out:
    BIO_free(bio);
    ERR_pop_to_mark();
    return rc;
}

static qt_rc
read_cert(const char *path, X509 **out)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *c;

    if (bio == NULL) {
        return errno == ENOENT ? QT_E_NOTFOUND : QT_E_IO;
    }
    c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (c == NULL) {
        return QT_E_FORMAT;
    }
    *out = c;
    return QT_OK;
}

/* Writes cert as PEM to path (mode 0644) through a temporary file + rename. */
static qt_rc
write_cert(const char *dir, const char *path, X509 *cert, int exclusive)
{
    char tmp[QT_CONF_STR + 64];
    BIO *bio = NULL;
    qt_rc rc = QT_E_IO;

    if (snprintf(tmp, sizeof(tmp), "%s/.attest-cert.%ld.tmp", dir, (long)getpid()) >=
        (int)sizeof(tmp)) {
        return QT_E_RANGE;
    }
    bio = BIO_new_file(tmp, "w");
    if (bio == NULL) {
        return QT_E_IO;
    }
    if (PEM_write_bio_X509(bio, cert) != 1 || BIO_flush(bio) != 1) {
        goto out;
    }
    BIO_free(bio);
    bio = NULL;
    if (exclusive) {
        /* First writer wins (the CA certificate is made once). */
        if (link(tmp, path) != 0 && errno != EEXIST) {
            goto out;
        }
    } else if (rename(tmp, path) != 0) {
        goto out;
    }
    rc = QT_OK;
out:
    BIO_free(bio);
    (void)unlink(tmp);
    return rc;
}

qt_rc
qt_att_key_import_cert(const struct qt_att_key *k, const char *pem_path)
{
    char path[QT_CONF_STR + 32];
    X509 *cert = NULL;
    EVP_PKEY *pub = NULL;
    qt_rc rc;

    QT_ENSURE(k != NULL && pem_path != NULL, QT_E_ARG);
    QT_TRY(path_join(path, sizeof(path), k->dir, QT_ATT_CERT_FILE));
    ERR_set_mark();
    if ((rc = read_cert(pem_path, &cert)) != QT_OK) {
        goto out;
    }
    pub = X509_get_pubkey(cert);
    if (pub == NULL || EVP_PKEY_eq(pub, k->pkey) != 1) {
        rc = QT_E_ARG;
        goto out;
    }
    /* Per-key certificates are issued under it: it must be allowed to sign them. */
    if (X509_check_ca(cert) == 0) {
        rc = QT_E_UNSUPPORTED;
        goto out;
    }
    /* Per-key certificates name it by authorityKeyIdentifier keyid:always
     * (att_cert.c), which OpenSSL derives from the issuer's subjectKeyIdentifier:
     * refuse it now rather than fail at the first per-key certificate. */
    if (X509_get0_subject_key_id(cert) == NULL) {
        qt_log(QT_LOG_ERROR,
               "attest: %s has no subjectKeyIdentifier extension, which per-key "
               "certificates need (re-issue it with subjectKeyIdentifier=hash)",
               pem_path);
        rc = QT_E_FORMAT;
        goto out;
    }
    rc = write_cert(k->dir, path, cert, 0);
out:
    EVP_PKEY_free(pub);
    X509_free(cert);
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_att_cert_serial(const struct qt_att_key *k, X509 *cert)
{
    unsigned char r[16];
    BIGNUM *bn = NULL;
    qt_rc rc = QT_E_CRYPTO;

    if (RAND_bytes_ex(k->libctx, r, sizeof(r), 0) != 1) {
        return QT_E_CRYPTO;
    }
    r[0] &= 0x7f;
    r[0] |= 0x40; /* positive, and always 16 bytes long */
    bn = BN_bin2bn(r, sizeof(r), NULL);
    if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL) {
        rc = QT_OK;
    }
    BN_free(bn);
    return rc;
}

qt_rc
qt_att_cert_sign(const struct qt_att_key *k, X509 *cert)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    const char *md = k->type == QT_ATT_KEY_ED25519 ? NULL : "SHA256";
    qt_rc rc = QT_E_CRYPTO;

    if (mctx == NULL) {
        return QT_E_NOMEM;
    }
    if (EVP_DigestSignInit_ex(mctx, NULL, md, k->libctx, NULL, k->pkey, NULL) == 1 &&
        X509_sign_ctx(cert, mctx) > 0) {
        rc = QT_OK;
    }
    EVP_MD_CTX_free(mctx);
    return rc;
}

static qt_rc
make_ca(const struct qt_att_key *k, X509 **out)
{
    X509 *cert = NULL;
    X509_NAME *name = NULL;
    char cn[96];
    qt_rc rc = QT_E_CRYPTO;

    (void)snprintf(cn, sizeof(cn), "qtoken attestation key %.16s", k->fingerprint);
    cert = X509_new();
    name = X509_NAME_new();
    if (cert == NULL || name == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"qtoken", -1,
                                   -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1) {
        goto out;
    }
    if (X509_set_version(cert, X509_VERSION_3) != 1 || X509_set_subject_name(cert, name) != 1 ||
        X509_set_issuer_name(cert, name) != 1 || X509_set_pubkey(cert, k->pkey) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(cert), 20 * 365, 0, NULL) == NULL) {
        goto out;
    }
    if ((rc = qt_att_cert_serial(k, cert)) != QT_OK ||
        (rc = qt_att_cert_add_ext(cert, cert, NID_basic_constraints,
                                  "critical,CA:TRUE,pathlen:0")) != QT_OK ||
        (rc = qt_att_cert_add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign")) !=
            QT_OK ||
        (rc = qt_att_cert_add_ext(cert, cert, NID_subject_key_identifier, "hash")) != QT_OK ||
        (rc = qt_att_cert_sign(k, cert)) != QT_OK) {
        goto out;
    }
    *out = cert;
    cert = NULL;
    rc = QT_OK;
out:
    X509_NAME_free(name);
    X509_free(cert);
    return rc;
}

qt_rc
qt_att_key_issuer_cert(const struct qt_att_key *k, X509 **cert, int *imported)
{
    char path[QT_CONF_STR + 32];
    X509 *c = NULL;
    qt_rc rc;

    QT_ENSURE(k != NULL && cert != NULL, QT_E_ARG);
    ERR_set_mark();
    if ((rc = path_join(path, sizeof(path), k->dir, QT_ATT_CERT_FILE)) != QT_OK) {
        goto out;
    }
    rc = read_cert(path, &c);
    if (rc == QT_OK) {
        if (imported != NULL) {
            *imported = 1;
        }
        goto out;
    }
    if (rc != QT_E_NOTFOUND) {
        goto out;
    }
    if (imported != NULL) {
        *imported = 0;
    }
    if ((rc = path_join(path, sizeof(path), k->dir, QT_ATT_CA_FILE)) != QT_OK) {
        goto out;
    }
    rc = read_cert(path, &c);
    if (rc == QT_OK) {
        /* A CA certificate for another key (the key file was replaced) is useless. */
        EVP_PKEY *pub = X509_get0_pubkey(c);
        if (pub == NULL || EVP_PKEY_eq(pub, k->pkey) != 1) {
            rc = QT_E_TAMPER;
        }
    } else if (rc == QT_E_NOTFOUND) {
        if ((rc = make_ca(k, &c)) != QT_OK) {
            goto out;
        }
        if ((rc = write_cert(k->dir, path, c, 1)) != QT_OK) {
            goto out;
        }
        /* Re-read: a concurrent process may have written its own first. */
        X509_free(c);
        c = NULL;
        rc = read_cert(path, &c);
    }
out:
    if (rc == QT_OK) {
        *cert = c;
    } else {
        X509_free(c);
    }
    ERR_pop_to_mark();
    return rc;
}
