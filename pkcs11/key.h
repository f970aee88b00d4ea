/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key material of PKCS#11 objects as src/crypto keys (key.c) and mechanism
 * parameters as src/crypto mechanisms (params.c).  Internal to pkcs11/.
 */
#ifndef QT_PKCS11_KEY_H
#define QT_PKCS11_KEY_H

#include <openssl/types.h>
#include "../src/crypto/crypto.h"
#include "p11.h"

/* A crypto key shared by its object and the operations using it.  Counts
 * are atomic; the last put frees the key. */
struct qt_key_ref {
    struct qt_crypto_key *key;
    unsigned refs;
};

struct qt_key_ref *qt_key_ref_get(struct qt_key_ref *r);
void qt_key_ref_put(struct qt_key_ref *r); /* NULL-safe */

/* The token's private library context (CKR_DEVICE_ERROR while the entropy
 * device is unusable: no crypto runs outside that libctx). */
CK_RV qt_key_libctx_inlock(OSSL_LIB_CTX **lc);

/* Imports the key material of attribute list a.  CKR_TEMPLATE_INCOMPLETE if
 * a component is missing, CKR_ATTRIBUTE_VALUE_INVALID if it is malformed,
 * CKR_CURVE_NOT_SUPPORTED for an unknown curve.  *out owned by the caller. */
CK_RV qt_key_import(OSSL_LIB_CTX *lc, const struct qt_attrs *a, struct qt_crypto_key **out);

/* The key of object o (attributes a), imported once and cached on o; *out
 * holds a reference (qt_key_ref_put).  The key also keeps the OpenSSL
 * contexts prepared for its operations (src/crypto/crypto_tmpl.c), secret
 * like the key itself: all of it goes with the last reference, which is
 * the object's (C_DestroyObject, a C_SetAttributeValue that replaces the
 * attributes, logout for a private object, C_Finalize) unless an operation
 * under way still holds one. */
CK_RV qt_key_get_inlock(struct qt_object *o, const struct qt_attrs *a, struct qt_key_ref **out);

/* C_CreateObject / C_UnwrapKey: checks the key material and writes the
 * attributes the token computes (CKA_MODULUS_BITS, CKA_VALUE_LEN,
 * CKA_CHECK_VALUE, canonical CKA_EC_PARAMS, DER CKA_EC_POINT,
 * CKA_PUBLIC_KEY_INFO).  No-op for non-key objects. */
CK_RV qt_key_complete_import(OSSL_LIB_CTX *lc, struct qt_attrs *a);

/* Writes a generated key's material into a (public half for CKO_PUBLIC_KEY). */
CK_RV qt_key_write_generated(struct qt_attrs *a, const struct qt_crypto_key *k);

/* CK_MECHANISM -> struct qt_crypto_mech, checking the parameter block:
 * CKR_MECHANISM_INVALID for a mechanism not in the table,
 * CKR_MECHANISM_PARAM_INVALID for a bad parameter. *m borrows from mech. */
CK_RV qt_params_map(const CK_MECHANISM *mech, struct qt_crypto_mech *m);

/* enum qt_crypto_hash for a CKM_SHA* digest mechanism or CKG_MGF1_*. */
enum qt_crypto_hash qt_params_hash_of_mech(CK_MECHANISM_TYPE t);
enum qt_crypto_hash qt_params_hash_of_mgf(CK_RSA_PKCS_MGF_TYPE g);

#endif
