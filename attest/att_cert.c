/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-key X.509 attestation certificates, like a YubiHSM's: the certified
 * public key is a key the token generated, the issuer is the attestation
 * key (through its imported certificate or its self-signed attestation CA
 * certificate), and a private extension carries the SHA-256 of the key's
 * generation record, which ties the certificate to the signed log.
 */
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/buf.h"
#include "../src/common/check.h"
#include "att.h"
#include "att_int.h"

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static qt_rc
unhex32(const char *hex, uint8_t out[32])
{
    if (hex == NULL || strlen(hex) != 64) {
        return QT_E_ARG;
    }
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return QT_E_ARG;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return QT_OK;
}

qt_rc
qt_att_cert_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        return QT_E_CRYPTO;
    }
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return qt_ossl(ok, QT_E_CRYPTO);
}

/* The record-hash extension: OCTET STRING (32 bytes) as extnValue content. */
static qt_rc
add_record_ext(X509 *cert, const uint8_t hash[32])
{
    ASN1_OBJECT *obj = OBJ_txt2obj(QT_ATT_OID_RECORD_HASH, 1);
    ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING *outer = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    unsigned char *der = NULL;
    int n;
    qt_rc rc = QT_E_CRYPTO;

    if (obj == NULL || inner == NULL || outer == NULL ||
        ASN1_OCTET_STRING_set(inner, hash, 32) != 1) {
        goto out;
    }
    n = i2d_ASN1_OCTET_STRING(inner, &der);
    if (n <= 0 || ASN1_OCTET_STRING_set(outer, der, n) != 1) {
        goto out;
    }
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, outer);
    if (ext == NULL || X509_add_ext(cert, ext, -1) != 1) {
        goto out;
    }
    rc = QT_OK;
out:
    X509_EXTENSION_free(ext);
    OPENSSL_free(der);
    ASN1_OCTET_STRING_free(outer);
    ASN1_OCTET_STRING_free(inner);
    ASN1_OBJECT_free(obj);
    return rc;
}

static qt_rc
subject_name(X509 *cert, const char *label, const char *fallback_cn, const char *serial,
             const char *ou)
{
    X509_NAME *name = X509_NAME_new();
    const char *cn = (label != NULL && label[0] != '\0') ? label : fallback_cn;
    qt_rc rc = QT_E_CRYPTO;

    if (name == NULL) {
        return QT_E_NOMEM;
    }
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   (const unsigned char *)"qtoken attested key", -1, -1, 0) == 1 &&
        (ou == NULL || ou[0] == '\0' ||
         X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, (const unsigned char *)ou, -1, -1,
                                    0) == 1) &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) == 1 &&
        (serial == NULL || serial[0] == '\0' ||
         X509_NAME_add_entry_by_txt(name, "serialNumber", MBSTRING_UTF8,
                                    (const unsigned char *)serial, -1, -1, 0) == 1) &&
        X509_set_subject_name(cert, name) == 1) {
        rc = QT_OK;
    }
    X509_NAME_free(name);
    return rc;
}

qt_rc
qt_att_cert_issue(const struct qt_att_key *k, EVP_PKEY *pub, const char *label,
                  const char *token_serial, const char *entropy_ou, const char *rec_hash_hex,
                  int days, X509 **out)
{
    uint8_t hash[32];
    char fp[QT_ATT_HASH_HEX];
    X509 *issuer = NULL, *cert = NULL;
    qt_rc rc;

    QT_ENSURE(k != NULL && pub != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(days >= 1 && days <= 36500, QT_E_RANGE);
    QT_TRY(unhex32(rec_hash_hex, hash));
    QT_TRY(qt_att_spki_sha256(pub, fp));
    QT_TRY(qt_att_key_issuer_cert(k, &issuer, NULL));

    ERR_set_mark();
    cert = X509_new();
    if (cert == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    rc = QT_E_CRYPTO;
    if (X509_set_version(cert, X509_VERSION_3) != 1 ||
        X509_set_issuer_name(cert, X509_get_subject_name(issuer)) != 1 ||
        X509_set_pubkey(cert, pub) != 1 || X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) == NULL) {
        goto out;
    }
    if ((rc = subject_name(cert, label, fp, token_serial, entropy_ou)) != QT_OK ||
        (rc = qt_att_cert_serial(k, cert)) != QT_OK ||
        (rc = qt_att_cert_add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE")) !=
            QT_OK ||
        (rc = qt_att_cert_add_ext(cert, issuer, NID_subject_key_identifier, "hash")) != QT_OK ||
        (rc = qt_att_cert_add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always")) !=
            QT_OK ||
        (rc = add_record_ext(cert, hash)) != QT_OK || (rc = qt_att_cert_sign(k, cert)) != QT_OK) {
        goto out;
    }
    *out = cert;
    cert = NULL;
    rc = QT_OK;
out:
    ERR_pop_to_mark();
    X509_free(cert);
    X509_free(issuer);
    return rc;
}

qt_rc
qt_att_cert_record_hash(X509 *cert, char hex[QT_ATT_HASH_HEX])
{
    ASN1_OBJECT *obj;
    X509_EXTENSION *ext;
    ASN1_OCTET_STRING *data, *inner = NULL;
    const unsigned char *p;
    int idx;
    qt_rc rc = QT_E_NOTFOUND;

    QT_ENSURE(cert != NULL && hex != NULL, QT_E_ARG);
    obj = OBJ_txt2obj(QT_ATT_OID_RECORD_HASH, 1);
    QT_ENSURE(obj != NULL, QT_E_CRYPTO);
    idx = X509_get_ext_by_OBJ(cert, obj, -1);
    if (idx < 0) {
        goto out;
    }
    rc = QT_E_FORMAT;
    ext = X509_get_ext(cert, idx);
    data = ext != NULL ? X509_EXTENSION_get_data(ext) : NULL;
    if (data == NULL) {
        goto out;
    }
    p = ASN1_STRING_get0_data(data);
    inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(data));
    if (inner == NULL || ASN1_STRING_length(inner) != 32) {
        goto out;
    }
    qt_hex(hex, ASN1_STRING_get0_data(inner), 32);
    rc = QT_OK;
out:
    ASN1_OCTET_STRING_free(inner);
    ASN1_OBJECT_free(obj);
    return rc;
}

qt_rc
qt_att_cert_pem(X509 *cert, char **pem)
{
    BIO *bio = NULL;
    char *data;
    long n;
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE(cert != NULL && pem != NULL, QT_E_ARG);
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1) {
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
    return rc;
}
