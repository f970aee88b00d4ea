/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The token's cryptography on OpenSSL 3 EVP: key generation, key import and
 * export in the forms PKCS#11 stores, signatures, encryption, key wrapping,
 * digests, ECDH and key fingerprints.  This header is the whole contract of
 * src/crypto; it knows no PKCS#11 type: pkcs11/ maps CKM_/CKK_ values onto
 * the enums below and qt_rc back to CK_RV.
 *
 * Library context.  Every function that creates OpenSSL objects takes the
 * token's private OSSL_LIB_CTX (qt_drbg_libctx) and fetches with a NULL
 * property query; key objects remember the libctx they were made in and the
 * operations use it.  NULL means OpenSSL's default libctx (tests only).
 * Nothing here changes global OpenSSL state; OpenSSL's error queue is left as
 * the caller had it (ERR_set_mark / ERR_pop_to_mark).
 *
 * Ownership.  Objects come in _new/_free pairs; every _free is NULL-safe and
 * wipes.  Outputs that are secret (private key parts, secret key values,
 * ECDH secrets) are returned in struct qt_secret (locked memory, release with
 * qt_secret_clear); public outputs in owned struct qt_buf (release with
 * qt_buf_clear).  Output structs must be zero-initialised by the caller; on
 * error they are left empty.  Byte strings are never NUL-terminated.
 *
 * Threads.  Key objects are immutable after creation and may be shared by
 * threads for concurrent operations (the EVP_PKEY is only read); an operation
 * context (sign, cipher, digest) belongs to one thread at a time.  The one
 * part of a key that changes is its cache of prepared OpenSSL contexts
 * (crypto_tmpl.c: made on a setup's first use, duplicated per operation,
 * lock-free), which lives and dies with the key: a key holding secret
 * material keeps it in those contexts too, until qt_crypto_key_free.
 *
 * Return codes used throughout:
 *   QT_OK             success
 *   QT_E_ARG          NULL pointer, wrong key type/class for the mechanism,
 *                     inconsistent mechanism parameters (PKCS#11:
 *                     CKR_ARGUMENTS_BAD / CKR_MECHANISM_PARAM_INVALID /
 *                     CKR_KEY_TYPE_INCONSISTENT, chosen by pkcs11/ from context)
 *   QT_E_RANGE        data/key/signature length out of range for the mechanism
 *                     (CKR_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_LEN_RANGE,
 *                     CKR_KEY_SIZE_RANGE, CKR_SIGNATURE_LEN_RANGE)
 *   QT_E_UNSUPPORTED  curve, hash or mechanism not implemented
 *   QT_E_FORMAT       malformed encoding (EC params, EC point, DER, padding of
 *                     a decrypted block: CKR_ENCRYPTED_DATA_INVALID,
 *                     CKR_ATTRIBUTE_VALUE_INVALID, CKR_WRAPPED_KEY_INVALID)
 *   QT_E_SIGNATURE    a signature, MAC or GCM/key-wrap integrity check failed
 *                     (CKR_SIGNATURE_INVALID / CKR_ENCRYPTED_DATA_INVALID)
 *   QT_E_BUFFER_TOO_SMALL  *out_len set to the size needed, state unchanged
 *   QT_E_STATE        operation already finished or in an error state
 *   QT_E_NOMEM, QT_E_CRYPTO  allocation / unexpected OpenSSL failure
 * After any error other than QT_E_BUFFER_TOO_SMALL an operation context is in
 * an error state: further calls return QT_E_STATE (PKCS#11 ends the operation).
 */
#ifndef QT_CRYPTO_CRYPTO_H
#define QT_CRYPTO_CRYPTO_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "../common/mem.h"

/* ************************************************************************* */
/* Enums (pkcs11/ maps CKK_, CKM_, CKG_ values onto these)                  */
/* ************************************************************************* */

enum qt_crypto_key_type {
    QT_CRYPTO_KEY_NONE = 0,
    QT_CRYPTO_KEY_RSA,            /* CKK_RSA */
    QT_CRYPTO_KEY_EC,             /* CKK_EC (ECDSA / ECDH, Weierstrass curves) */
    QT_CRYPTO_KEY_EC_EDWARDS,     /* CKK_EC_EDWARDS (Ed25519, Ed448) */
    QT_CRYPTO_KEY_AES,            /* CKK_AES, 16/24/32 bytes */
    QT_CRYPTO_KEY_GENERIC_SECRET  /* CKK_GENERIC_SECRET (and HMAC key types) */
};

enum qt_crypto_curve {
    QT_CRYPTO_CURVE_NONE = 0,
    QT_CRYPTO_CURVE_P256,      /* prime256v1 / secp256r1, 1.2.840.10045.3.1.7 */
    QT_CRYPTO_CURVE_P384,      /* secp384r1, 1.3.132.0.34 */
    QT_CRYPTO_CURVE_P521,      /* secp521r1, 1.3.132.0.35 */
    QT_CRYPTO_CURVE_SECP256K1, /* secp256k1, 1.3.132.0.10 */
    QT_CRYPTO_CURVE_ED25519,   /* RFC 8410 id-Ed25519, 1.3.101.112 */
    QT_CRYPTO_CURVE_ED448      /* RFC 8410 id-Ed448, 1.3.101.113 */
};

enum qt_crypto_hash {
    QT_CRYPTO_HASH_NONE = 0,
    QT_CRYPTO_HASH_SHA1,
    QT_CRYPTO_HASH_SHA224,
    QT_CRYPTO_HASH_SHA256,
    QT_CRYPTO_HASH_SHA384,
    QT_CRYPTO_HASH_SHA512
};

/* Mechanism families.  A hash-then-sign mechanism is its raw family plus
 * qt_crypto_mech.hash (CKM_SHA256_RSA_PKCS = RSA_PKCS + SHA256). */
enum qt_crypto_mech_type {
    QT_CRYPTO_MECH_NONE = 0,
    /* sign / verify */
    QT_CRYPTO_MECH_RSA_PKCS,      /* CKM_RSA_PKCS (also encrypt), CKM_SHA*_RSA_PKCS */
    QT_CRYPTO_MECH_RSA_PSS,       /* CKM_RSA_PKCS_PSS, CKM_SHA*_RSA_PKCS_PSS */
    QT_CRYPTO_MECH_RSA_X509,      /* CKM_RSA_X_509 (also encrypt) */
    QT_CRYPTO_MECH_ECDSA,         /* CKM_ECDSA, CKM_ECDSA_SHA* */
    QT_CRYPTO_MECH_EDDSA,         /* CKM_EDDSA, pure Ed25519/Ed448, no context */
    QT_CRYPTO_MECH_HMAC,          /* CKM_SHA*_HMAC, CKM_SHA*_HMAC_GENERAL */
    /* encrypt / decrypt / wrap / unwrap */
    QT_CRYPTO_MECH_RSA_OAEP,      /* CKM_RSA_PKCS_OAEP */
    QT_CRYPTO_MECH_AES_ECB,       /* CKM_AES_ECB */
    QT_CRYPTO_MECH_AES_CBC,       /* CKM_AES_CBC (no padding) */
    QT_CRYPTO_MECH_AES_CBC_PAD,   /* CKM_AES_CBC_PAD (PKCS#7) */
    QT_CRYPTO_MECH_AES_CTR,       /* CKM_AES_CTR */
    QT_CRYPTO_MECH_AES_GCM,       /* CKM_AES_GCM */
    QT_CRYPTO_MECH_AES_KEY_WRAP,  /* CKM_AES_KEY_WRAP, RFC 3394, default IV */
    QT_CRYPTO_MECH_AES_KEY_WRAP_PAD /* CKM_AES_KEY_WRAP_PAD / _KWP, RFC 5649 */
};

/* Mechanism parameters.  Zero-initialise, then set what the family needs;
 * pointers are borrowed for the duration of the _new call only (the
 * context copies what it keeps).
 *
 *  RSA_PKCS   hash: NONE = raw (input is the DigestInfo or any data
 *             <= k-11 bytes, no hashing), else hash-then-sign (DigestInfo
 *             built by OpenSSL).  Encryption: hash must be NONE.
 *  RSA_PSS    hash: NONE = raw (input is the hash, exactly
 *             qt_crypto_hash_len(pss_hash) bytes), else hash-then-sign and
 *             pss_hash must equal hash (PKCS#11 CK_RSA_PKCS_PSS_PARAMS.hashAlg).
 *             mgf1_hash, salt_len (bytes, 0 allowed) as CK_RSA_PKCS_PSS_PARAMS.
 *  RSA_X509   raw RSA: input <= k bytes, left-padded with zeros to k, must
 *             be numerically < n.
 *  RSA_OAEP   pss_hash = OAEP hashAlg, mgf1_hash, label/label_len
 *             (CK_RSA_PKCS_OAEP_PARAMS pSourceData; NULL with 0 length ok).
 *  ECDSA      hash: NONE = raw (input is a hash of any length, truncated to
 *             the order's bit length per FIPS 186-4 6.4), else hash-then-sign.
 *             Signature is r||s, each the order's byte length.
 *  EDDSA      no parameters (pure EdDSA; Ed25519ph/ctx not supported).
 *  HMAC       hash (required); mac_len: 0 = full digest length (CKM_SHA*_HMAC),
 *             else 1..digest length (CKM_SHA*_HMAC_GENERAL).
 *  AES_ECB    none; data a multiple of 16 bytes.
 *  AES_CBC    iv (16 bytes); data a multiple of 16 bytes.
 *  AES_CBC_PAD iv (16 bytes); PKCS#7 padding.
 *  AES_CTR    iv = the 16-byte initial counter block (CK_AES_CTR_PARAMS.cb),
 *             ctr_bits 1..128 (ulCounterBits): the low ctr_bits of the block
 *             are the counter; data that would wrap it gives QT_E_RANGE.
 *  AES_GCM    iv 1..128 bytes (OpenSSL 3.0's GCM limit; longer IVs, which
 *             PKCS#11 allows up to 256 bytes, give QT_E_ARG), aad/aad_len
 *             (any), tag_bits 96..128 in steps of 8 (PKCS#11 allows 0..128; we
 *             accept only what SP 800-38D recommends for general use).
 *  AES_KEY_WRAP      iv NULL/0 = the RFC 3394 default A6A6A6A6A6A6A6A6, else
 *                    exactly 8 bytes (CKM_AES_KEY_WRAP's optional IV).
 *  AES_KEY_WRAP_PAD  iv NULL/0 = the RFC 5649 prefix A65959A6, else exactly
 *                    4 bytes.
 */
struct qt_crypto_mech {
    enum qt_crypto_mech_type type;
    enum qt_crypto_hash hash;      /* hash applied to the data by the mechanism */
    enum qt_crypto_hash pss_hash;  /* PSS / OAEP hashAlg parameter */
    enum qt_crypto_hash mgf1_hash; /* PSS / OAEP MGF1 hash */
    size_t salt_len;               /* PSS */
    const uint8_t *label;          /* OAEP */
    size_t label_len;
    const uint8_t *iv;             /* CBC, CBC_PAD, CTR (counter block), GCM, wrap */
    size_t iv_len;
    size_t ctr_bits;               /* CTR */
    const uint8_t *aad;            /* GCM */
    size_t aad_len;
    size_t tag_bits;               /* GCM */
    size_t mac_len;                /* HMAC_GENERAL, 0 = full */
};

/* ************************************************************************* */
/* Hashes and curves                                                         */
/* ************************************************************************* */

/* Digest length in bytes of h; 0 for QT_CRYPTO_HASH_NONE or an unknown value. */
size_t qt_crypto_hash_len(enum qt_crypto_hash h);

/* OpenSSL name of h ("SHA2-256" ...); NULL for NONE or an unknown value. */
const char *qt_crypto_hash_name(enum qt_crypto_hash h);

/* Key size in bits of a curve as reported in mechanism info and attestation:
 * P-256 256, P-384 384, P-521 521, secp256k1 256, Ed25519 255, Ed448 448;
 * 0 for NONE. */
size_t qt_crypto_curve_bits(enum qt_crypto_curve c);

/* Parses CKA_EC_PARAMS.  Accepts the DER of a named-curve OBJECT IDENTIFIER
 * for every curve above (for Ed25519 also the GnuPG OID 1.3.6.1.4.1.11591.15.1),
 * and the DER PrintableString (or UTF8String) curve names that PKCS#11 3.0
 * allows for Edwards curves and that pkcs11-tool 0.23 sends: "edwards25519",
 * "edwards448", also "ed25519", "ed448", "Ed25519", "Ed448", and for the
 * Weierstrass curves their OpenSSL/NIST names ("prime256v1", "secp256r1",
 * "P-256", "secp384r1", "P-384", "secp521r1", "P-521", "secp256k1").
 * QT_E_FORMAT for malformed DER or trailing bytes, QT_E_UNSUPPORTED for a
 * well-formed but unknown curve (e.g. "curve25519", explicit parameters). */
qt_rc qt_crypto_ec_params_parse(const uint8_t *der, size_t len,
                                enum qt_crypto_curve *curve) QT_MUST_CHECK;

/* Writes the canonical CKA_EC_PARAMS of curve c (DER named-curve OID; RFC 8410
 * OIDs for the Edwards curves) into *out (zero-initialised owned qt_buf). */
qt_rc qt_crypto_ec_params_der(enum qt_crypto_curve c, struct qt_buf *out) QT_MUST_CHECK;

/* ************************************************************************* */
/* Key objects                                                               */
/* ************************************************************************* */

/* An immutable key usable for operations: an EVP_PKEY (RSA, EC, Ed) with the
 * libctx it lives in, or a secret value in locked memory (AES, generic). */
struct qt_crypto_key;

/* Borrowed views of stored components, big-endian unsigned integers as
 * PKCS#11 stores them (leading zero bytes allowed).  A component not
 * available has p == NULL, n == 0. */
struct qt_crypto_span {
    const uint8_t *p;
    size_t n;
};

struct qt_crypto_rsa_parts {
    struct qt_crypto_span n, e;                /* CKA_MODULUS, CKA_PUBLIC_EXPONENT */
    struct qt_crypto_span d;                   /* CKA_PRIVATE_EXPONENT */
    struct qt_crypto_span p, q;                /* CKA_PRIME_1, CKA_PRIME_2 */
    struct qt_crypto_span dp, dq, qinv;        /* CKA_EXPONENT_1/2, CKA_COEFFICIENT */
};

/* Public RSA key from n and e (d and the CRT parts are ignored).
 * QT_E_RANGE if n is shorter than 1024 or longer than 16384 bits;
 * QT_E_FORMAT if e is even or 1 or n is even. *out is owned by the caller. */
qt_rc qt_crypto_key_rsa_public(OSSL_LIB_CTX *lc, const struct qt_crypto_rsa_parts *c,
                               struct qt_crypto_key **out) QT_MUST_CHECK;

/* Private RSA key.  Requires n, e and d; p, q, dp, dq, qinv are used when all
 * five are present (CRT), ignored when all are absent, QT_E_ARG when only
 * some are given.  Consistency of the parts is not proven (PKCS#11 does not
 * require it; a wrong key simply produces wrong signatures). */
qt_rc qt_crypto_key_rsa_private(OSSL_LIB_CTX *lc, const struct qt_crypto_rsa_parts *c,
                                struct qt_crypto_key **out) QT_MUST_CHECK;

/* Public EC or EdDSA key from CKA_EC_PARAMS (any form qt_crypto_ec_params_parse
 * accepts) and CKA_EC_POINT, which may be DER OCTET STRING wrapped or raw
 * (uncompressed/compressed SEC1 point; 32/57 raw bytes for Ed25519/Ed448).
 * QT_E_FORMAT if the point is not on the curve or cannot be decoded. */
qt_rc qt_crypto_key_ec_public(OSSL_LIB_CTX *lc, const uint8_t *params, size_t params_len,
                              const uint8_t *point, size_t point_len,
                              struct qt_crypto_key **out) QT_MUST_CHECK;

/* Private EC or EdDSA key from CKA_EC_PARAMS and CKA_VALUE: for Weierstrass
 * curves a big-endian scalar (1 <= d < order, any length with leading zeros),
 * for Ed25519/Ed448 the raw 32/57-byte private key.  The public point is
 * computed from it.  QT_E_RANGE if the scalar is 0, >= order, or of the wrong
 * length for EdDSA. */
qt_rc qt_crypto_key_ec_private(OSSL_LIB_CTX *lc, const uint8_t *params, size_t params_len,
                               const uint8_t *value, size_t value_len,
                               struct qt_crypto_key **out) QT_MUST_CHECK;

/* Secret key from its value (copied into locked memory).  AES: 16, 24 or 32
 * bytes, else QT_E_RANGE.  GENERIC_SECRET: 1..4096 bytes. */
qt_rc qt_crypto_key_secret(OSSL_LIB_CTX *lc, enum qt_crypto_key_type type, const uint8_t *value,
                           size_t len, struct qt_crypto_key **out) QT_MUST_CHECK;

/* Wipes and frees. NULL-safe. */
void qt_crypto_key_free(struct qt_crypto_key *k);

/* PKCS#8 PrivateKeyInfo DER of a private RSA/EC/EdDSA key, into secret
 * memory (crypto_pkcs8.c).  QT_E_ARG for a public or secret key. */
qt_rc qt_crypto_key_pkcs8(const struct qt_crypto_key *k, struct qt_secret *out) QT_MUST_CHECK;

/* A private key from PKCS#8 PrivateKeyInfo DER; zero bytes after the DER
 * (block modes without padding) are ignored.  QT_E_FORMAT for anything
 * that is not such a key of a supported type and curve. */
qt_rc qt_crypto_key_from_pkcs8(OSSL_LIB_CTX *lc, const uint8_t *der, size_t len,
                               struct qt_crypto_key **out) QT_MUST_CHECK;

enum qt_crypto_key_type qt_crypto_key_type(const struct qt_crypto_key *k);
/* QT_CRYPTO_CURVE_NONE for RSA and secret keys. */
enum qt_crypto_curve qt_crypto_key_curve(const struct qt_crypto_key *k);
/* 1 if the key holds private/secret material, 0 for a public key. */
int qt_crypto_key_is_private(const struct qt_crypto_key *k);
/* Key size in bits for mechanism checks and attestation: RSA modulus bits,
 * qt_crypto_curve_bits of the curve, secret key length * 8. 0 for NULL. */
size_t qt_crypto_key_bits(const struct qt_crypto_key *k);

/* ************************************************************************* */
/* Key generation (randomness from lc: the caller reseeds the DRBG first for */
/* prediction resistance)                                                    */
/* ************************************************************************* */

/* RSA key pair of `bits` (2048..8192, multiple of 8 else QT_E_RANGE; the
 * token's policy minimum is the caller's business).  pub_exp is the
 * big-endian CKA_PUBLIC_EXPONENT; NULL/0 means 65537; it must be odd and
 * >= 3 and at most 8 bytes (QT_E_ARG otherwise).  *out owned by the caller. */
qt_rc qt_crypto_rsa_generate(OSSL_LIB_CTX *lc, size_t bits, const uint8_t *pub_exp,
                             size_t pub_exp_len, struct qt_crypto_key **out) QT_MUST_CHECK;

/* EC (P-256, P-384, P-521, secp256k1) or EdDSA (Ed25519, Ed448) key pair. */
qt_rc qt_crypto_ec_generate(OSSL_LIB_CTX *lc, enum qt_crypto_curve c,
                            struct qt_crypto_key **out) QT_MUST_CHECK;

/* Key-generation contexts kept between keys, for one library context (lc
 * borrowed: it must outlive g).  Setting a generation up costs more than an
 * EC key itself; qt_crypto_gen_ec reuses what an earlier key set up.  Safe
 * to use from several threads at once.  Free with qt_crypto_gen_free
 * (NULL-safe) when no generation uses g any more. */
struct qt_crypto_gen;
qt_rc qt_crypto_gen_new(OSSL_LIB_CTX *lc, struct qt_crypto_gen **out) QT_MUST_CHECK;
void qt_crypto_gen_free(struct qt_crypto_gen *g);

/* qt_crypto_ec_generate in g's library context, with a context from g. */
qt_rc qt_crypto_gen_ec(struct qt_crypto_gen *g, enum qt_crypto_curve c,
                       struct qt_crypto_key **out) QT_MUST_CHECK;

/* Secret key of len bytes from RAND_priv_bytes_ex(lc).  AES: len 16/24/32;
 * GENERIC_SECRET: 1..4096 (else QT_E_RANGE). */
qt_rc qt_crypto_secret_generate(OSSL_LIB_CTX *lc, enum qt_crypto_key_type type, size_t len,
                                struct qt_crypto_key **out) QT_MUST_CHECK;

/* ************************************************************************* */
/* Export: the attribute values PKCS#11 stores                              */
/* ************************************************************************* */

/* RSA attributes.  Public parts (n, e) in owned qt_bufs, private ones in
 * qt_secrets (minimal big-endian, no leading zero bytes).  Private parts are
 * filled only for a private key; for a private key imported without CRT
 * parts, p..qinv stay empty. */
struct qt_crypto_rsa_attrs {
    struct qt_buf n, e;
    struct qt_secret d, p, q, dp, dq, qinv;
};

/* Fills *out (zero-initialised) from an RSA key; QT_E_ARG for other types. */
qt_rc qt_crypto_rsa_export(const struct qt_crypto_key *k,
                           struct qt_crypto_rsa_attrs *out) QT_MUST_CHECK;
/* Releases every member (wiping); leaves *a zeroed. NULL-safe. */
void qt_crypto_rsa_attrs_clear(struct qt_crypto_rsa_attrs *a);

/* EC / EdDSA attributes: params = canonical CKA_EC_PARAMS (named OID), point =
 * CKA_EC_POINT as a DER OCTET STRING wrapping the uncompressed SEC1 point
 * (Weierstrass) or the 32/57-byte RFC 8032 public key (EdDSA); value =
 * CKA_VALUE of a private key: big-endian scalar left-padded to the order's
 * byte length (32/48/66/32), or the raw 32/57-byte EdDSA private key. */
struct qt_crypto_ec_attrs {
    struct qt_buf params, point;
    struct qt_secret value;
};

qt_rc qt_crypto_ec_export(const struct qt_crypto_key *k,
                          struct qt_crypto_ec_attrs *out) QT_MUST_CHECK;
void qt_crypto_ec_attrs_clear(struct qt_crypto_ec_attrs *a);

/* Secret value (CKA_VALUE) of an AES or generic secret key, copied. */
qt_rc qt_crypto_secret_export(const struct qt_crypto_key *k,
                              struct qt_secret *out) QT_MUST_CHECK;

/* CKA_PUBLIC_KEY_INFO: SubjectPublicKeyInfo DER of an RSA/EC/EdDSA key
 * (public or private: the public half).  QT_E_ARG for secret keys. */
qt_rc qt_crypto_key_spki(const struct qt_crypto_key *k, struct qt_buf *out) QT_MUST_CHECK;

/* SHA-256 of the key's SubjectPublicKeyInfo DER (attestation fingerprint). */
qt_rc qt_crypto_key_fingerprint(const struct qt_crypto_key *k, uint8_t out[32]) QT_MUST_CHECK;

/* CKA_CHECK_VALUE of a secret key (PKCS#11 3.0 "Common secret key
 * attributes" and the per-type sections): AES: the first 3 bytes of
 * AES-ECB_K(0^16); generic secret: the first 3 bytes of SHA-1(CKA_VALUE).
 * QT_E_ARG for asymmetric keys. */
qt_rc qt_crypto_key_check_value(const struct qt_crypto_key *k, uint8_t out[3]) QT_MUST_CHECK;

/* ************************************************************************* */
/* Sign / verify (single- and multi-part)                                    */
/* ************************************************************************* */

/* A sign or verify operation: new, any number of update, then exactly one
 * sign_final or verify_final.  Raw mechanisms (RSA_PKCS/PSS/X509 and ECDSA
 * with hash NONE, EDDSA) buffer the data; PKCS#11 makes most of them
 * single-part, which pkcs11/ enforces, but update works for all. */
struct qt_crypto_sign;

/* Starts an operation with key k (borrowed: must outlive the context).
 * verify = 0: k must be private (or secret for HMAC); verify = 1: a public
 * or private asymmetric key, or the secret key.  QT_E_ARG for a key type
 * that does not fit m->type, for a hash where none is allowed, or bad
 * PSS/HMAC parameters; QT_E_RANGE if the key is too small for the
 * mechanism (e.g. RSA-PSS with a salt that does not fit). */
qt_rc qt_crypto_sign_new(const struct qt_crypto_mech *m, const struct qt_crypto_key *k, int verify,
                         struct qt_crypto_sign **out) QT_MUST_CHECK;

/* Exact signature/MAC length in bytes (RSA: modulus bytes, ECDSA: 2 * order
 * bytes, Ed25519 64, Ed448 114, HMAC mac_len).  A verify caller compares the
 * offered signature length with this to return CKR_SIGNATURE_LEN_RANGE. */
size_t qt_crypto_sign_len(const struct qt_crypto_sign *s);

/* Feeds data.  For buffered raw mechanisms QT_E_RANGE once the data exceeds
 * what the mechanism can take (RSA_PKCS raw: k-11, X509: k, PSS raw: the hash
 * length; EdDSA: 1 MiB buffer cap). */
qt_rc qt_crypto_sign_update(struct qt_crypto_sign *s, const uint8_t *data,
                            size_t len) QT_MUST_CHECK;

/* Produces the signature.  sig == NULL: *sig_len = qt_crypto_sign_len, state
 * unchanged.  *sig_len smaller than needed: QT_E_BUFFER_TOO_SMALL, *sig_len
 * set, state unchanged (call again).  Else writes it, sets *sig_len and the
 * operation is finished (further calls: QT_E_STATE).  QT_E_RANGE for raw
 * data of the wrong length (e.g. PSS raw input not the hash length). */
qt_rc qt_crypto_sign_final(struct qt_crypto_sign *s, uint8_t *sig, size_t *sig_len) QT_MUST_CHECK;

/* Checks the signature over the data fed so far; finishes the operation.
 * QT_OK valid; QT_E_SIGNATURE invalid (MAC compared in constant time);
 * QT_E_RANGE raw data of the wrong length or sig_len != qt_crypto_sign_len
 * (data length is checked first). */
qt_rc qt_crypto_verify_final(struct qt_crypto_sign *s, const uint8_t *sig,
                             size_t sig_len) QT_MUST_CHECK;

/* Wipes buffered data and frees. NULL-safe. */
void qt_crypto_sign_free(struct qt_crypto_sign *s);

/* ECDSA signature format conversion: PKCS#11 r||s (each half `half` bytes,
 * the order's byte length) <-> DER Ecdsa-Sig-Value.  QT_E_FORMAT for bad DER
 * or r/s wider than half; QT_E_BUFFER_TOO_SMALL if rs_cap < 2*half. */
qt_rc qt_crypto_ecdsa_der_to_rs(const uint8_t *der, size_t der_len, size_t half, uint8_t *rs,
                                size_t rs_cap) QT_MUST_CHECK;
qt_rc qt_crypto_ecdsa_rs_to_der(const uint8_t *rs, size_t rs_len, struct qt_buf *der) QT_MUST_CHECK;

/* ************************************************************************* */
/* Encrypt / decrypt / wrap / unwrap                                         */
/* ************************************************************************* */

/* A cipher operation.  RSA (RSA_PKCS, RSA_OAEP, RSA_X509) and the AES key
 * wraps are single-part: use qt_crypto_cipher_oneshot only (update/final
 * return QT_E_UNSUPPORTED for them).  AES ECB/CBC/CBC_PAD/CTR/GCM support both
 * oneshot and update*+final.  Wrapping a key is encrypting its value with the
 * wrap mechanism; unwrapping is decrypting.
 *
 * Output-length convention shared by update, final and oneshot (PKCS#11 5.2):
 *   out == NULL: *out_len = the exact size this call will write; no
 *     visible state change.  Where the plaintext length is known only after
 *     decrypting (CBC_PAD decrypt final or one-shot, RSA decrypt, unwrap),
 *     the query decrypts once into a private cache (wiped on free) and the
 *     next call with a buffer is served from it; such a query can therefore
 *     fail like the real call would (QT_E_FORMAT for bad padding,
 *     QT_E_SIGNATURE for a failed unwrap), which ends the operation.
 *   *out_len < needed: QT_E_BUFFER_TOO_SMALL, *out_len = the exact size
 *     needed, no state change: the caller repeats the same call (for the
 *     cached cases the input of the repeated one-shot call is not read
 *     again).
 *   else: writes, *out_len = bytes written, state advances.
 * A successful one-shot or final finishes the operation (then QT_E_STATE).
 * Calling update after a one-shot that returned QT_E_BUFFER_TOO_SMALL, or
 * one-shot after update, gives QT_E_STATE (PKCS#11 CKR_OPERATION_ACTIVE).
 *
 * Mode behaviour:
 *   ECB/CBC: update outputs whole blocks, buffers the rest; final fails with
 *     QT_E_RANGE if a partial block remains.
 *   CBC_PAD: encrypt final adds 1..16 pad bytes; decrypt update holds back
 *     the last block; decrypt final checks the padding (QT_E_FORMAT if bad,
 *     QT_E_RANGE if the total was not a positive multiple of 16).
 *   CTR: stream; QT_E_RANGE when the counter (ctr_bits) would wrap.
 *   GCM: encrypt update streams ciphertext, final returns the tag; decrypt
 *     buffers everything (no plaintext before the tag is checked: PKCS#11
 *     3.0 AES-GCM) and final returns the plaintext or QT_E_SIGNATURE.
 *     Ciphertext shorter than the tag: QT_E_RANGE.
 *   KEY_WRAP: wrap input a multiple of 8, >= 16 bytes; unwrap input a
 *     multiple of 8, >= 24 bytes (QT_E_RANGE); integrity failure
 *     QT_E_SIGNATURE.  KEY_WRAP_PAD: wrap input >= 1 byte; unwrap input
 *     multiple of 8, >= 16.
 *   RSA_PKCS encrypt input <= k-11, OAEP <= k-2-2*hLen, X509 <= k (left
 *     padded, must be < n): QT_E_RANGE otherwise.  Decrypt input must be k
 *     bytes (QT_E_RANGE); a bad padding gives QT_E_FORMAT. */
struct qt_crypto_cipher;

/* encrypt = 1 encrypt/wrap, 0 decrypt/unwrap.  k borrowed (must outlive the
 * context): AES key for AES mechanisms, RSA public (encrypt) or private
 * (decrypt) key for RSA.  QT_E_ARG for bad parameters (IV length, tag bits,
 * ctr_bits, OAEP hashes, key type). */
qt_rc qt_crypto_cipher_new(const struct qt_crypto_mech *m, const struct qt_crypto_key *k,
                           int encrypt, struct qt_crypto_cipher **out) QT_MUST_CHECK;

/* Multi-part (AES ECB/CBC/CBC_PAD/CTR/GCM only; QT_E_UNSUPPORTED for the
 * single-part mechanisms, without ending the operation). */
qt_rc qt_crypto_cipher_update(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len,
                              uint8_t *out, size_t *out_len) QT_MUST_CHECK;
qt_rc qt_crypto_cipher_final(struct qt_crypto_cipher *c, uint8_t *out,
                             size_t *out_len) QT_MUST_CHECK;

/* Single-part: the whole input, finishes the operation on success.  Must be
 * the first data call on the context (QT_E_STATE after an update). */
qt_rc qt_crypto_cipher_oneshot(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len,
                               uint8_t *out, size_t *out_len) QT_MUST_CHECK;

/* Wipes buffered data and frees. NULL-safe. */
void qt_crypto_cipher_free(struct qt_crypto_cipher *c);

/* ************************************************************************* */
/* Digest                                                                    */
/* ************************************************************************* */

struct qt_crypto_digest;

/* QT_E_ARG for QT_CRYPTO_HASH_NONE / unknown. */
qt_rc qt_crypto_digest_new(OSSL_LIB_CTX *lc, enum qt_crypto_hash h,
                           struct qt_crypto_digest **out) QT_MUST_CHECK;
qt_rc qt_crypto_digest_update(struct qt_crypto_digest *d, const uint8_t *in,
                              size_t len) QT_MUST_CHECK;
/* Same two-call convention as qt_crypto_sign_final: out == NULL or too small
 * leaves the state unchanged. */
qt_rc qt_crypto_digest_final(struct qt_crypto_digest *d, uint8_t *out,
                             size_t *out_len) QT_MUST_CHECK;
void qt_crypto_digest_free(struct qt_crypto_digest *d);

/* One call: out must hold qt_crypto_hash_len(h) bytes (out_cap checked). */
qt_rc qt_crypto_digest(OSSL_LIB_CTX *lc, enum qt_crypto_hash h, const uint8_t *in, size_t len,
                       uint8_t *out, size_t out_cap) QT_MUST_CHECK;

/* ************************************************************************* */
/* Key derivation                                                            */
/* ************************************************************************* */

/* CKM_ECDH1_DERIVE with CKD_NULL (no shared data): the x-coordinate of
 * d * peer, the field's byte length (32/48/66/32), into *secret
 * (zero-initialised; clear with qt_secret_clear).  k: private EC key (not
 * EdDSA: QT_E_ARG).  peer: public point, raw SEC1 or DER OCTET STRING
 * wrapped; QT_E_FORMAT if it does not decode or is not on k's curve. */
qt_rc qt_crypto_ecdh_derive(const struct qt_crypto_key *k, const uint8_t *peer, size_t peer_len,
                            struct qt_secret *secret) QT_MUST_CHECK;

#endif
