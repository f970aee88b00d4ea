/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the src/crypto files: the key object's layout, the
 * curve table and small OpenSSL helpers.  Not installed, not included outside
 * src/crypto and its unit tests.
 */
#ifndef QT_CRYPTO_CRYPTO_INT_H
#define QT_CRYPTO_CRYPTO_INT_H

#include <openssl/evp.h>

#include "crypto.h"

struct qt_crypto_tmpl;

/* Everything but tmpls is set when the key is made and never changes;
 * tmpls only grows (lock-free, crypto_tmpl.c) until the key is freed. */
struct qt_crypto_key {
    enum qt_crypto_key_type type;
    enum qt_crypto_curve curve; /* EC / EC_EDWARDS only */
    int priv;                   /* holds private or secret material */
    size_t bits;
    OSSL_LIB_CTX *lc;           /* borrowed; the libctx the key lives in */
    EVP_PKEY *pkey;             /* RSA, EC, EC_EDWARDS */
    struct qt_secret secret;    /* AES, GENERIC_SECRET */
    /* EC (Weierstrass) keys made by qt_crypto_ec_generate: the encoded
     * (uncompressed) public point, read once.  Each read converts the
     * point to affine coordinates (a field inversion), and a new key pair's
     * CKA_EC_POINT and CKA_PUBLIC_KEY_INFO of both objects need it four
     * times.  pub_len 0: not cached, ask the EVP_PKEY. */
    uint8_t pub[1 + 2 * 66];
    size_t pub_len;
    /* prepared operation contexts */
    struct qt_crypto_tmpl *tmpls;
};

/* k's encoded public key (EC: uncompressed point; from the cache when
 * set) into buf (cap bytes); 0 on failure. */
int qt_crypto_ec_encoded_pub(const struct qt_crypto_key *k, uint8_t *buf, size_t cap,
                             size_t *len);

/* ---- Prepared operation contexts (crypto_tmpl.c) ---- */

enum qt_crypto_tmpl_kind {
    QT_CRYPTO_TMPL_PKEY = 1, /* EVP_PKEY_CTX after EVP_PKEY_sign_init/verify_init */
    QT_CRYPTO_TMPL_MD,       /* EVP_MD_CTX after EVP_DigestSignInit/VerifyInit */
    QT_CRYPTO_TMPL_MAC,      /* EVP_MAC_CTX after EVP_MAC_init with the key */
    QT_CRYPTO_TMPL_CIPHER    /* EVP_CIPHER_CTX after EVP_CipherInit with the key */
};

#define QT_CRYPTO_TMPL_MAX 32 /* templates per key */
#define QT_CRYPTO_TMPL_IDLE 4 /* idle contexts per template */

/* One prepared setup of a key: ctx is only ever duplicated; idle holds
 * contexts handed back by ended operations (NULL slots are free). */
struct qt_crypto_tmpl {
    struct qt_crypto_tmpl *next;
    uint64_t id;
    enum qt_crypto_tmpl_kind kind;
    void *ctx;
    void *idle[QT_CRYPTO_TMPL_IDLE];
};

/* Makes the context of setup `arg` for key k into *ctx (of the kind given to
 * qt_crypto_tmpl_ctx).  On failure *ctx may hold a partial context, which the
 * caller frees. */
typedef qt_rc (*qt_crypto_tmpl_make_fn)(const struct qt_crypto_key *k, const void *arg, void **ctx);

/* A fresh context for setup id of k, owned by the caller: a duplicate of the
 * key's template id, which make creates (from arg) on the first call.
 * *tmpl is the template (NULL when the key holds QT_CRYPTO_TMPL_MAX already
 * and *ctx was made for this operation alone), for qt_crypto_tmpl_give_idle.
 * The same id must always mean the same setup and kind.  Errors: those of
 * make; the OpenSSL error queue is the caller's to mark. */
qt_rc qt_crypto_tmpl_ctx(const struct qt_crypto_key *k, uint64_t id, enum qt_crypto_tmpl_kind kind,
                         qt_crypto_tmpl_make_fn make, const void *arg, void **ctx,
                         struct qt_crypto_tmpl **tmpl) QT_MUST_CHECK;

/* The template id of k, or NULL if none was made yet. */
struct qt_crypto_tmpl *qt_crypto_tmpl_find(const struct qt_crypto_key *k, uint64_t id);

/* An idle context of t (the caller owns it and re-initialises it), or NULL
 * (t NULL or no idle context). */
void *qt_crypto_tmpl_take_idle(struct qt_crypto_tmpl *t);

/* Hands ctx (of t's kind, from t) back to t for reuse: 1 if t took it, 0
 * if t is NULL or full (the caller still owns ctx and frees it). */
int qt_crypto_tmpl_give_idle(struct qt_crypto_tmpl *t, void *ctx);

/* Frees every template of k and its idle contexts (from qt_crypto_key_free:
 * no operation may use k any more). */
void qt_crypto_tmpl_free_all(struct qt_crypto_key *k);

struct qt_crypto_curve_info {
    enum qt_crypto_curve curve;
    const char *group;          /* OpenSSL group name (EC) or key type (Ed) */
    const uint8_t *oid;         /* DER of the named-curve OID, tag included */
    size_t oid_len;
    size_t bits;                /* qt_crypto_curve_bits */
    size_t scalar_len;          /* order bytes; EdDSA private key bytes */
    size_t field_len;           /* coordinate bytes; EdDSA public key bytes */
    size_t sig_len;             /* PKCS#11 signature bytes */
    int edwards;
};

/* NULL for NONE / unknown values. */
const struct qt_crypto_curve_info *qt_crypto_curve_info(enum qt_crypto_curve c);

/* New zeroed key object (type set) or NULL. */
struct qt_crypto_key *qt_crypto_key_alloc(OSSL_LIB_CTX *lc, enum qt_crypto_key_type type);

/* Wraps an EVP_PKEY made in lc (takes ownership on success and on failure:
 * pkey is freed if *out cannot be made): RSA, EC or ED25519/ED448. */
qt_rc qt_crypto_key_from_pkey(OSSL_LIB_CTX *lc, EVP_PKEY *pkey, int priv,
                              struct qt_crypto_key **out) QT_MUST_CHECK;

/* Decodes CKA_EC_POINT (DER-wrapped or raw) for curve ci into a borrowed view
 * of the raw point bytes.  QT_E_FORMAT if neither form fits. */
qt_rc qt_crypto_ec_point_unwrap(const struct qt_crypto_curve_info *ci, const uint8_t *p, size_t n,
                                const uint8_t **raw, size_t *raw_len) QT_MUST_CHECK;

/* Appends a DER tag-length header for a length below 65536. */
qt_rc qt_crypto_der_header(struct qt_buf *b, uint8_t tag, size_t len) QT_MUST_CHECK;

/* Reads a DER tag-length header at *p..end: checks the tag, returns the
 * content length (definite, minimal form up to 2 length bytes) and moves *p to
 * the content.  QT_E_FORMAT on any malformation or if content overruns end. */
qt_rc qt_crypto_der_read(const uint8_t **p, const uint8_t *end, uint8_t tag,
                         size_t *len) QT_MUST_CHECK;

/* RSA modulus byte length of an RSA key. */
size_t qt_crypto_rsa_k(const struct qt_crypto_key *k);

/* Raw RSA (CKM_RSA_X_509) input: in left-padded with zeros into block (k_len =
 * modulus bytes).  QT_E_RANGE if in_len > k_len or the value is not below n. */
qt_rc qt_crypto_rsa_x509_block(const struct qt_crypto_key *k, const uint8_t *in, size_t in_len,
                               uint8_t *block, size_t k_len) QT_MUST_CHECK;

/* RSA encryption parameters, filled by crypto_cipher.c from the mechanism. */
struct qt_crypto_rsa_enc {
    enum qt_crypto_mech_type type; /* RSA_PKCS, RSA_OAEP or RSA_X509 */
    enum qt_crypto_hash oaep_hash;
    enum qt_crypto_hash mgf1_hash;
    const uint8_t *label;          /* borrowed */
    size_t label_len;
};

/* QT_E_RANGE if in cannot be encrypted with p under k (RFC 8017 7.1.1 /
 * 7.2.1 length bounds; raw: at most k bytes and below n). */
qt_rc qt_crypto_rsa_enc_check(const struct qt_crypto_key *k, const struct qt_crypto_rsa_enc *p,
                              const uint8_t *in, size_t in_len) QT_MUST_CHECK;

/* Encrypts into out, which holds the modulus length k. */
qt_rc qt_crypto_rsa_encrypt(const struct qt_crypto_key *k, const struct qt_crypto_rsa_enc *p,
                            const uint8_t *in, size_t in_len, uint8_t *out) QT_MUST_CHECK;

/* Decrypts exactly k bytes into out (room for k); *out_len = plaintext
 * length.  QT_E_RANGE for another input length, QT_E_FORMAT for bad padding. */
qt_rc qt_crypto_rsa_decrypt(const struct qt_crypto_key *k, const struct qt_crypto_rsa_enc *p,
                            const uint8_t *in, size_t in_len, uint8_t *out,
                            size_t *out_len) QT_MUST_CHECK;

/* Fetches the digest of h in lc (caller frees with EVP_MD_free); NULL if
 * unknown. */
EVP_MD *qt_crypto_md_fetch(OSSL_LIB_CTX *lc, enum qt_crypto_hash h);


/* Key-management names for EVP_PKEY_CTX_new_from_name.  We pass the provider's
 * OID alias ("1.2.840.10045.2.1"), not "EC"/"RSA": OpenSSL 3.0 maps a legacy
 * name to a NID and then asks a default ENGINE for that NID before any
 * provider, so a host that loaded the libp11 engine as default (openssl
 * -engine pkcs11) would get keys built by the engine, in no libctx of ours.
 * An OID string has no legacy NID, so only our libctx's providers answer. */
#define QT_CRYPTO_KM_RSA "1.2.840.113549.1.1.1"
#define QT_CRYPTO_KM_EC "1.2.840.10045.2.1"
#define QT_CRYPTO_KM_ED25519 "1.3.101.112"
#define QT_CRYPTO_KM_ED448 "1.3.101.113"

#endif
