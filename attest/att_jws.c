/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compact JWS (RFC 7515 section 7.1) with ES256 (RFC 7518 section 3.4: the
 * signature is R || S, 32 bytes each, not DER) or EdDSA over Ed25519
 * (RFC 8037), and the strict base64url codec they rest on.  The decoder
 * accepts only the canonical unpadded form (alphabet, length, zero trailing
 * bits), so no two texts decode to the same bytes: a flipped character can
 * never leave a record intact.
 */
#include <json-c/json.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/buf.h"
#include "../src/common/check.h"
#include "att.h"

#define SIG_LEN 64 /* ES256 R||S and Ed25519 both */
#define JWS_TYP "qtoken-attest+jws"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

qt_rc
qt_att_b64url_encode(const uint8_t *p, size_t n, char **out)
{
    struct qt_buf b;
    uint8_t nul = 0;
    qt_rc rc = QT_OK;

    QT_ENSURE(out != NULL && (p != NULL || n == 0), QT_E_ARG);
    qt_buf_init(&b);
    for (size_t i = 0; i < n && rc == QT_OK; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t take = n - i < 3 ? n - i : 3;
        char q[4];

        if (take > 1) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        if (take > 2) {
            v |= p[i + 2];
        }
        q[0] = b64url_alphabet[(v >> 18) & 63];
        q[1] = b64url_alphabet[(v >> 12) & 63];
        q[2] = b64url_alphabet[(v >> 6) & 63];
        q[3] = b64url_alphabet[v & 63];
        rc = qt_buf_put(&b, q, take + 1);
    }
    if (rc == QT_OK) {
        rc = qt_buf_put_u8(&b, nul);
    }
    if (rc != QT_OK) {
        qt_buf_clear(&b);
        return rc;
    }
    if (b.p == NULL) {
        *out = strdup("");
        return *out != NULL ? QT_OK : QT_E_NOMEM;
    }
    *out = (char *)b.p; /* ownership of the heap block passes to the caller */
    return QT_OK;
}

static int
b64url_value(char c)
{
    const char *p;

    if (c == '\0') {
        return -1;
    }
    p = strchr(b64url_alphabet, c);
    return p != NULL ? (int)(p - b64url_alphabet) : -1;
}

qt_rc
qt_att_b64url_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
    struct qt_buf b;
    qt_rc rc = QT_OK;
    size_t i;

    QT_ENSURE(s != NULL && out != NULL && outlen != NULL, QT_E_ARG);
    QT_ENSURE(n % 4 != 1, QT_E_FORMAT);
    qt_buf_init(&b);
    for (i = 0; i < n && rc == QT_OK; i += 4) {
        size_t take = n - i < 4 ? n - i : 4;
        uint32_t v = 0;
        uint8_t o[3];

        for (size_t j = 0; j < 4; j++) {
            int d = j < take ? b64url_value(s[i + j]) : 0;
            if (d < 0) {
                rc = QT_E_FORMAT;
                break;
            }
            v = (v << 6) | (uint32_t)d;
        }
        if (rc != QT_OK) {
            break;
        }
        o[0] = (uint8_t)(v >> 16);
        o[1] = (uint8_t)(v >> 8);
        o[2] = (uint8_t)v;
        /* Canonical form: the bits past the last whole byte must be zero. */
        if ((take == 2 && (v & 0xffff) != 0) || (take == 3 && (v & 0xff) != 0)) {
            rc = QT_E_FORMAT;
            break;
        }
        rc = qt_buf_put(&b, o, take - 1);
    }
    if (rc == QT_OK) {
        rc = qt_buf_put_u8(&b, 0); /* NUL so text payloads can be used as strings */
    }
    if (rc != QT_OK) {
        qt_buf_clear(&b);
        return rc;
    }
    *outlen = b.len - 1;
    *out = b.p;
    return QT_OK;
}

/* DER ECDSA-Sig-Value -> R || S (32 bytes each). */
static qt_rc
der_to_raw(const uint8_t *der, size_t len, uint8_t raw[SIG_LEN])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r, *s;
    qt_rc rc = QT_E_CRYPTO;

    if (sig == NULL) {
        return QT_E_CRYPTO;
    }
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32) {
        rc = QT_OK;
    }
    ECDSA_SIG_free(sig);
    return rc;
}

/* R || S -> DER (malloc'ed by OpenSSL). */
static qt_rc
raw_to_der(const uint8_t raw[SIG_LEN], unsigned char **der, size_t *len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL);
    BIGNUM *s = BN_bin2bn(raw + 32, 32, NULL);
    int n;
    qt_rc rc = QT_E_CRYPTO;

    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        goto out;
    }
    r = s = NULL; /* owned by sig now */
    *der = NULL;
    n = i2d_ECDSA_SIG(sig, der);
    if (n > 0) {
        *len = (size_t)n;
        rc = QT_OK;
    }
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return rc;
}

static const char *
alg_for(EVP_PKEY *pkey)
{
    char grp[32] = "";

    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        return "EdDSA";
    }
    if (EVP_PKEY_is_a(pkey, "EC") &&
        EVP_PKEY_get_utf8_string_param(pkey, "group", grp, sizeof(grp), NULL) == 1 &&
        strcmp(grp, "prime256v1") == 0) {
        return "ES256";
    }
    return NULL;
}

qt_rc
qt_att_jws_sign(const struct qt_att_key *k, const char *payload, size_t len, char **out)
{
    EVP_PKEY *pkey;
    EVP_MD_CTX *mctx = NULL;
    json_object *hdr = NULL;
    char *h64 = NULL, *p64 = NULL, *s64 = NULL, *input = NULL;
    uint8_t *sig = NULL;
    uint8_t raw[SIG_LEN];
    size_t siglen = 0, inlen, outlen;
    const char *hjson;
    int ed;
    qt_rc rc = QT_E_CRYPTO;

    /* A record always has a payload; jws_split refuses an empty one, so sign none. */
    QT_ENSURE(k != NULL && payload != NULL && len > 0 && out != NULL, QT_E_ARG);
    pkey = qt_att_key_pkey(k);
    ed = strcmp(qt_att_key_alg(k), "EdDSA") == 0;

    ERR_set_mark();
    hdr = json_object_new_object();
    if (hdr == NULL ||
        json_object_object_add(hdr, "alg", json_object_new_string(qt_att_key_alg(k))) != 0 ||
        json_object_object_add(hdr, "typ", json_object_new_string(JWS_TYP)) != 0 ||
        json_object_object_add(hdr, "kid", json_object_new_string(qt_att_key_fingerprint(k))) !=
            0) {
        rc = QT_E_NOMEM;
        goto out;
    }
    hjson = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN);
    if ((rc = qt_att_b64url_encode((const uint8_t *)hjson, strlen(hjson), &h64)) != QT_OK ||
        (rc = qt_att_b64url_encode((const uint8_t *)payload, len, &p64)) != QT_OK) {
        goto out;
    }
    inlen = strlen(h64) + 1 + strlen(p64);
    input = malloc(inlen + 1);
    if (input == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    (void)snprintf(input, inlen + 1, "%s.%s", h64, p64);

    rc = QT_E_CRYPTO;
    mctx = EVP_MD_CTX_new();
    if (mctx == NULL ||
        EVP_DigestSignInit_ex(mctx, NULL, ed ? NULL : "SHA256", qt_att_key_libctx(k), NULL, pkey,
                              NULL) != 1 ||
        EVP_DigestSign(mctx, NULL, &siglen, (const unsigned char *)input, inlen) != 1) {
        goto out;
    }
    sig = malloc(siglen);
    if (sig == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if (EVP_DigestSign(mctx, sig, &siglen, (const unsigned char *)input, inlen) != 1) {
        goto out;
    }
    if (ed) {
        if (siglen != SIG_LEN) {
            goto out;
        }
        memcpy(raw, sig, SIG_LEN);
    } else if ((rc = der_to_raw(sig, siglen, raw)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_att_b64url_encode(raw, SIG_LEN, &s64)) != QT_OK) {
        goto out;
    }
    outlen = inlen + 1 + strlen(s64);
    *out = malloc(outlen + 1);
    if (*out == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    (void)snprintf(*out, outlen + 1, "%s.%s", input, s64);
    rc = QT_OK;
out:
    ERR_pop_to_mark();
    EVP_MD_CTX_free(mctx);
    json_object_put(hdr);
    free(h64);
    free(p64);
    free(s64);
    free(input);
    free(sig);
    return rc;
}

/* Splits a compact JWS into its three parts (positions in jws). */
static qt_rc
jws_split(const char *jws, size_t *d1, size_t *d2, size_t *end)
{
    const char *a = strchr(jws, '.');
    const char *b;

    if (a == NULL) {
        return QT_E_FORMAT;
    }
    b = strchr(a + 1, '.');
    if (b == NULL || strchr(b + 1, '.') != NULL) {
        return QT_E_FORMAT;
    }
    *d1 = (size_t)(a - jws);
    *d2 = (size_t)(b - jws);
    *end = strlen(jws);
    return (*d1 > 0 && *d2 > *d1 + 1 && *end > *d2 + 1) ? QT_OK : QT_E_FORMAT;
}

qt_rc
qt_att_jws_payload(const char *jws, char **payload, size_t *len)
{
    size_t d1, d2, end;
    uint8_t *p;

    QT_ENSURE(jws != NULL && payload != NULL && len != NULL, QT_E_ARG);
    QT_TRY(jws_split(jws, &d1, &d2, &end));
    QT_TRY(qt_att_b64url_decode(jws + d1 + 1, d2 - d1 - 1, &p, len));
    *payload = (char *)p;
    return QT_OK;
}

qt_rc
qt_att_jws_verify(EVP_PKEY *pub, const char *jws, char **payload, size_t *len)
{
    size_t d1, d2, end, hlen, slen, plen, derlen = 0;
    uint8_t *hdr = NULL, *sig = NULL, *pl = NULL;
    unsigned char *der = NULL;
    json_object *h = NULL, *alg;
    EVP_MD_CTX *mctx = NULL;
    const char *want;
    int ed;
    qt_rc rc;

    QT_ENSURE(pub != NULL && jws != NULL && payload != NULL && len != NULL, QT_E_ARG);
    QT_TRY(jws_split(jws, &d1, &d2, &end));
    want = alg_for(pub);
    QT_ENSURE(want != NULL, QT_E_UNSUPPORTED);
    ed = strcmp(want, "EdDSA") == 0;

    ERR_set_mark();
    if ((rc = qt_att_b64url_decode(jws, d1, &hdr, &hlen)) != QT_OK) {
        goto out;
    }
    rc = QT_E_FORMAT;
    h = json_tokener_parse((const char *)hdr);
    if (h == NULL || !json_object_is_type(h, json_type_object) ||
        !json_object_object_get_ex(h, "alg", &alg) || !json_object_is_type(alg, json_type_string)) {
        goto out;
    }
    if (strcmp(json_object_get_string(alg), want) != 0) {
        /* RFC 7515 5.2: the algorithm must be the one the key is for. */
        rc = QT_E_SIGNATURE;
        goto out;
    }
    if ((rc = qt_att_b64url_decode(jws + d2 + 1, end - d2 - 1, &sig, &slen)) != QT_OK) {
        goto out;
    }
    if (slen != SIG_LEN) {
        rc = QT_E_SIGNATURE;
        goto out;
    }
    if (!ed && (rc = raw_to_der(sig, &der, &derlen)) != QT_OK) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    mctx = EVP_MD_CTX_new();
    if (mctx == NULL ||
        EVP_DigestVerifyInit_ex(mctx, NULL, ed ? NULL : "SHA256", NULL, NULL, pub, NULL) != 1) {
        goto out;
    }
    if (EVP_DigestVerify(mctx, ed ? sig : der, ed ? slen : derlen, (const unsigned char *)jws,
                         d2) != 1) {
        rc = QT_E_SIGNATURE;
        goto out;
    }
    if ((rc = qt_att_b64url_decode(jws + d1 + 1, d2 - d1 - 1, &pl, &plen)) != QT_OK) {
        goto out;
    }
    *payload = (char *)pl;
    *len = plen;
    pl = NULL;
    rc = QT_OK;
out:
    ERR_pop_to_mark();
    EVP_MD_CTX_free(mctx);
    json_object_put(h);
    OPENSSL_free(der);
    free(hdr);
    free(sig);
    free(pl);
    return rc;
}
