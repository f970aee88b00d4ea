/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, object management: C_CreateObject template validation
 * (every CKR_* of PKCS#11 3.0 4.1.1), defaults, C_GetAttributeValue's
 * per-attribute rules, C_SetAttributeValue / C_CopyObject modifiability,
 * C_DestroyObject, C_GetObjectSize, C_FindObjects*, persistence of token
 * objects, key import (CKA_EC_POINT raw -> DER, CKA_CHECK_VALUE).
 */
#include <openssl/evp.h>
#include <string.h>
#include "../../pkcs11/pkcs11-3.h"
#include "p11test.h"

TestSuite(object, .init = p11t_setup_token, .fini = p11t_teardown, .timeout = 60);

static CK_OBJECT_CLASS c_data = CKO_DATA, c_secret = CKO_SECRET_KEY, c_cert = CKO_CERTIFICATE,
                       c_pub = CKO_PUBLIC_KEY, c_hw = CKO_HW_FEATURE;
static CK_KEY_TYPE k_aes = CKK_AES, k_ec = CKK_EC;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static CK_OBJECT_HANDLE
data_object(CK_SESSION_HANDLE h, const char *label, int token)
{
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &c_data, sizeof(c_data)},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_TOKEN, token ? &yes : &no, 1},
        {CKA_VALUE, "payload", 7},
    };
    CK_OBJECT_HANDLE o;

    CK_OK(F->C_CreateObject(h, t, 4, &o));
    return o;
}

static CK_OBJECT_HANDLE
aes_object(CK_SESSION_HANDLE h, const unsigned char *key, CK_BBOOL sensitive)
{
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &c_secret, sizeof(c_secret)},
        {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
        {CKA_VALUE, (void *)key, 16},
        {CKA_SENSITIVE, &sensitive, 1},
        {CKA_LABEL, "aes", 3},
    };
    CK_OBJECT_HANDLE o;

    CK_OK(F->C_CreateObject(h, t, 5, &o));
    return o;
}

Test(object, create_template_errors)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    CK_OBJECT_HANDLE o;
    CK_ULONG bad_len = 7;
    CK_BBOOL two = 2;
    CK_ATTRIBUTE none[] = {{CKA_LABEL, "x", 1}};
    CK_ATTRIBUTE badcls[] = {{CKA_CLASS, &c_hw, sizeof(c_hw)}};
    CK_ATTRIBUTE unknown[] = {{CKA_CLASS, &c_data, sizeof(c_data)}, {CKA_MODULUS, "x", 1}};
    CK_ATTRIBUTE vendor[] = {{CKA_CLASS, &c_data, sizeof(c_data)},
                             {CKA_VENDOR_DEFINED | 5, "x", 1}};
    CK_ATTRIBUTE shortbool[] = {{CKA_CLASS, &c_data, sizeof(c_data)}, {CKA_TOKEN, &bad_len, 4}};
    CK_ATTRIBUTE badbool[] = {{CKA_CLASS, &c_data, sizeof(c_data)}, {CKA_TOKEN, &two, 1}};
    CK_ATTRIBUTE shortclass[] = {{CKA_CLASS, &c_data, 3}};
    CK_ATTRIBUTE nullval[] = {{CKA_CLASS, &c_data, sizeof(c_data)}, {CKA_LABEL, NULL, 4}};
    CK_ATTRIBUTE local[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
                            {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
                            {CKA_VALUE, "0123456789abcdef", 16},
                            {CKA_LOCAL, &yes, 1}};
    CK_ATTRIBUTE twice[] = {{CKA_CLASS, &c_data, sizeof(c_data)}, {CKA_LABEL, "a", 1},
                            {CKA_LABEL, "b", 1}};
    CK_ATTRIBUTE certnosubj[] = {{CKA_CLASS, &c_cert, sizeof(c_cert)},
                                 {CKA_VALUE, "der", 3}};
    CK_ATTRIBUTE nokeytype[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
                                {CKA_VALUE, "0123456789abcdef", 16}};
    CK_ATTRIBUTE novalue[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
                              {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)}};
    CK_ATTRIBUTE badaes[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
                             {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
                             {CKA_VALUE, "short", 5}};
    CK_ATTRIBUTE trusted[] = {{CKA_CLASS, &c_cert, sizeof(c_cert)}, {CKA_SUBJECT, "s", 1},
                              {CKA_VALUE, "der", 3}, {CKA_TRUSTED, &yes, 1},
                              {CKA_CERTIFICATE_TYPE, &(CK_CERTIFICATE_TYPE){CKC_X_509},
                               sizeof(CK_CERTIFICATE_TYPE)}};

    CK_RV_EQ(F->C_CreateObject(h, NULL, 1, &o), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_CreateObject(h, none, 1, NULL), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_CreateObject(h + 99, none, 1, &o), CKR_SESSION_HANDLE_INVALID);
    CK_RV_EQ(F->C_CreateObject(h, none, 1, &o), CKR_TEMPLATE_INCOMPLETE);
    CK_RV_EQ(F->C_CreateObject(h, badcls, 1, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_RV_EQ(F->C_CreateObject(h, unknown, 2, &o), CKR_ATTRIBUTE_TYPE_INVALID);
    CK_RV_EQ(F->C_CreateObject(h, vendor, 2, &o), CKR_ATTRIBUTE_TYPE_INVALID);
    CK_RV_EQ(F->C_CreateObject(h, shortbool, 2, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_RV_EQ(F->C_CreateObject(h, badbool, 2, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_RV_EQ(F->C_CreateObject(h, shortclass, 1, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_RV_EQ(F->C_CreateObject(h, nullval, 2, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_RV_EQ(F->C_CreateObject(h, local, 4, &o), CKR_ATTRIBUTE_READ_ONLY);
    CK_RV_EQ(F->C_CreateObject(h, twice, 3, &o), CKR_TEMPLATE_INCONSISTENT);
    CK_RV_EQ(F->C_CreateObject(h, certnosubj, 2, &o), CKR_TEMPLATE_INCOMPLETE);
    CK_RV_EQ(F->C_CreateObject(h, nokeytype, 2, &o), CKR_TEMPLATE_INCOMPLETE);
    /* private by default: secret keys need the user */
    CK_RV_EQ(F->C_CreateObject(h, novalue, 2, &o), CKR_TEMPLATE_INCOMPLETE);
    CK_OK(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6));
    CK_RV_EQ(F->C_CreateObject(h, badaes, 3, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    /* only the SO may set CKA_TRUSTED */
    CK_RV_EQ(F->C_CreateObject(h, trusted, 5, &o), CKR_ATTRIBUTE_READ_ONLY);
}

Test(object, create_checks_session_and_login)
{
    CK_SESSION_HANDLE ro = p11t_open(p11t_slot, 0), rw = p11t_open(p11t_slot, 1);
    CK_ATTRIBUTE tok[] = {{CKA_CLASS, &c_data, sizeof(c_data)}, {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE priv[] = {{CKA_CLASS, &c_data, sizeof(c_data)}, {CKA_PRIVATE, &yes, 1}};
    CK_ATTRIBUTE key[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
                          {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
                          {CKA_VALUE, "0123456789abcdef", 16}};
    CK_OBJECT_HANDLE o;

    CK_RV_EQ(F->C_CreateObject(ro, tok, 2, &o), CKR_SESSION_READ_ONLY);
    CK_RV_EQ(F->C_CreateObject(rw, priv, 2, &o), CKR_USER_NOT_LOGGED_IN);
    CK_RV_EQ(F->C_CreateObject(rw, key, 3, &o), CKR_USER_NOT_LOGGED_IN);
    CK_OK(F->C_CreateObject(ro, priv + 0, 1, &o)); /* public session object in a RO session */
    CK_OK(F->C_CreateObject(rw, tok, 2, &o));      /* public token object, no login */
}

Test(object, defaults_of_a_data_object)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    CK_OBJECT_HANDLE o = data_object(h, "d1", 0);
    unsigned char buf[32];

    cr_assert_eq(p11t_bool(h, o, CKA_TOKEN), CK_FALSE);
    cr_assert_eq(p11t_bool(h, o, CKA_PRIVATE), CK_FALSE);
    cr_assert_eq(p11t_bool(h, o, CKA_MODIFIABLE), CK_TRUE);
    cr_assert_eq(p11t_bool(h, o, CKA_COPYABLE), CK_TRUE);
    cr_assert_eq(p11t_bool(h, o, CKA_DESTROYABLE), CK_TRUE);
    cr_assert_eq(p11t_attr(h, o, CKA_APPLICATION, buf, sizeof(buf)), 0);
    cr_assert_eq(p11t_attr(h, o, CKA_VALUE, buf, sizeof(buf)), 7);
    cr_assert_eq(memcmp(buf, "payload", 7), 0);
}

Test(object, get_attribute_value_rules)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    static const unsigned char key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    CK_OBJECT_HANDLE sens = aes_object(h, key, CK_TRUE), open = aes_object(h, key, CK_FALSE);
    unsigned char v[16], lbl[1], cv[3], want_cv[16], zero[16] = {0};
    CK_ULONG vlen = 0;
    CK_ATTRIBUTE t[4];
    int outl = 0;
    EVP_CIPHER_CTX *c;

    /* sensitive value: CK_UNAVAILABLE_INFORMATION + CKR_ATTRIBUTE_SENSITIVE,
     * the other attributes still answered */
    t[0] = (CK_ATTRIBUTE){CKA_VALUE, v, sizeof(v)};
    t[1] = (CK_ATTRIBUTE){CKA_VALUE_LEN, &vlen, sizeof(vlen)};
    CK_RV_EQ(F->C_GetAttributeValue(h, sens, t, 2), CKR_ATTRIBUTE_SENSITIVE);
    cr_assert_eq(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    cr_assert_eq(vlen, 16);
    /* invalid type */
    t[0] = (CK_ATTRIBUTE){CKA_MODULUS, v, sizeof(v)};
    t[1] = (CK_ATTRIBUTE){CKA_LABEL, NULL, 0};
    CK_RV_EQ(F->C_GetAttributeValue(h, open, t, 2), CKR_ATTRIBUTE_TYPE_INVALID);
    cr_assert_eq(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    cr_assert_eq(t[1].ulValueLen, 3, "a length query in the same call still works");
    /* too small */
    t[0] = (CK_ATTRIBUTE){CKA_LABEL, lbl, sizeof(lbl)};
    CK_RV_EQ(F->C_GetAttributeValue(h, open, t, 1), CKR_BUFFER_TOO_SMALL);
    cr_assert_eq(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    /* not sensitive: readable */
    cr_assert_eq(p11t_attr(h, open, CKA_VALUE, v, sizeof(v)), 16);
    cr_assert_eq(memcmp(v, key, 16), 0);
    /* derived on import: CKA_CHECK_VALUE = AES-ECB_K(0^16)[0..3] */
    cr_assert_eq(p11t_attr(h, open, CKA_CHECK_VALUE, cv, sizeof(cv)), 3);
    c = EVP_CIPHER_CTX_new();
    cr_assert(EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL));
    cr_assert(EVP_EncryptUpdate(c, want_cv, &outl, zero, 16));
    EVP_CIPHER_CTX_free(c);
    cr_assert_eq(memcmp(cv, want_cv, 3), 0);
    /* imported keys: not local, never "always sensitive" */
    cr_assert_eq(p11t_bool(h, sens, CKA_LOCAL), CK_FALSE);
    cr_assert_eq(p11t_bool(h, sens, CKA_ALWAYS_SENSITIVE), CK_FALSE);
    cr_assert_eq(p11t_bool(h, sens, CKA_NEVER_EXTRACTABLE), CK_FALSE);
    cr_assert_eq(p11t_ulong(h, sens, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
    cr_assert_eq(p11t_bool(h, sens, CKA_PRIVATE), CK_TRUE, "secret keys default to private");
    /* bad arguments */
    CK_RV_EQ(F->C_GetAttributeValue(h, open, NULL, 1), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_GetAttributeValue(h, 0, t, 1), CKR_OBJECT_HANDLE_INVALID);
    CK_RV_EQ(F->C_GetAttributeValue(h, open + 1000, t, 1), CKR_OBJECT_HANDLE_INVALID);
}

Test(object, set_attribute_value_rules)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    static const unsigned char key[16] = {9};
    CK_OBJECT_HANDLE k = aes_object(h, key, CK_FALSE), d;
    CK_ATTRIBUTE t[1];
    unsigned char buf[16];
    CK_ATTRIBUTE fixed[] = {{CKA_CLASS, &c_data, sizeof(c_data)}, {CKA_MODIFIABLE, &no, 1}};

    t[0] = (CK_ATTRIBUTE){CKA_LABEL, "renamed", 7};
    CK_OK(F->C_SetAttributeValue(h, k, t, 1));
    cr_assert_eq(p11t_attr(h, k, CKA_LABEL, buf, sizeof(buf)), 7);
    t[0] = (CK_ATTRIBUTE){CKA_CLASS, &c_data, sizeof(c_data)};
    CK_RV_EQ(F->C_SetAttributeValue(h, k, t, 1), CKR_ATTRIBUTE_READ_ONLY);
    t[0] = (CK_ATTRIBUTE){CKA_MODULUS, "x", 1};
    CK_RV_EQ(F->C_SetAttributeValue(h, k, t, 1), CKR_ATTRIBUTE_TYPE_INVALID);
    t[0] = (CK_ATTRIBUTE){CKA_ENCRYPT, "xx", 2};
    CK_RV_EQ(F->C_SetAttributeValue(h, k, t, 1), CKR_ATTRIBUTE_VALUE_INVALID);
    /* sensitive: only to TRUE; extractable: only to FALSE */
    t[0] = (CK_ATTRIBUTE){CKA_SENSITIVE, &yes, 1};
    CK_OK(F->C_SetAttributeValue(h, k, t, 1));
    t[0] = (CK_ATTRIBUTE){CKA_SENSITIVE, &no, 1};
    CK_RV_EQ(F->C_SetAttributeValue(h, k, t, 1), CKR_ATTRIBUTE_READ_ONLY);
    t[0] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &no, 1};
    CK_OK(F->C_SetAttributeValue(h, k, t, 1));
    t[0] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &yes, 1};
    CK_RV_EQ(F->C_SetAttributeValue(h, k, t, 1), CKR_ATTRIBUTE_READ_ONLY);
    cr_assert_eq(p11t_bool(h, k, CKA_ALWAYS_SENSITIVE), CK_FALSE);
    /* CKA_VALUE is now sensitive */
    cr_assert_eq(p11t_attr(h, k, CKA_VALUE, buf, sizeof(buf)), CK_UNAVAILABLE_INFORMATION);
    /* a non-modifiable object */
    CK_OK(F->C_CreateObject(h, fixed, 2, &d));
    t[0] = (CK_ATTRIBUTE){CKA_LABEL, "x", 1};
    CK_RV_EQ(F->C_SetAttributeValue(h, d, t, 1), CKR_ACTION_PROHIBITED);
    CK_RV_EQ(F->C_SetAttributeValue(h, d, NULL, 1), CKR_ARGUMENTS_BAD);
    /* a token object from a RO session */
    {
        CK_SESSION_HANDLE ro = p11t_open(p11t_slot, 0);
        CK_OBJECT_HANDLE tok = data_object(h, "tok", 1);

        CK_RV_EQ(F->C_SetAttributeValue(ro, tok, t, 1), CKR_SESSION_READ_ONLY);
        CK_RV_EQ(F->C_DestroyObject(ro, tok), CKR_SESSION_READ_ONLY);
        CK_OK(F->C_SetAttributeValue(h, tok, t, 1));
    }
}

Test(object, copy_object)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE o = data_object(h, "orig", 0), c;
    CK_ATTRIBUTE t[] = {{CKA_LABEL, "copy", 4}, {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE lbl = {CKA_LABEL, "copy", 4};
    CK_ATTRIBUTE ro_attr[] = {{CKA_APPLICATION, "app", 3}};
    CK_ATTRIBUTE nocopy[] = {{CKA_CLASS, &c_data, sizeof(c_data)}, {CKA_COPYABLE, &no, 1}};
    unsigned char buf[16];

    CK_OK(F->C_CopyObject(h, o, t, 2, &c));
    cr_assert_neq(c, o);
    cr_assert_eq(p11t_bool(h, c, CKA_TOKEN), CK_TRUE);
    cr_assert_eq(p11t_attr(h, c, CKA_VALUE, buf, sizeof(buf)), 7);
    cr_assert_eq(p11t_count(h, &lbl, 1), 1);
    CK_RV_EQ(F->C_CopyObject(h, o, ro_attr, 1, &c), CKR_ATTRIBUTE_READ_ONLY);
    CK_RV_EQ(F->C_CopyObject(h, o + 1000, NULL, 0, &c), CKR_OBJECT_HANDLE_INVALID);
    CK_RV_EQ(F->C_CopyObject(h, o, NULL, 0, NULL), CKR_ARGUMENTS_BAD);
    CK_OK(F->C_CreateObject(h, nocopy, 2, &o));
    CK_RV_EQ(F->C_CopyObject(h, o, NULL, 0, &c), CKR_ACTION_PROHIBITED);
}

Test(object, destroy_object)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    CK_OBJECT_HANDLE o = data_object(h, "gone", 1), keep;
    CK_ATTRIBUTE undestroyable[] = {{CKA_CLASS, &c_data, sizeof(c_data)},
                                    {CKA_DESTROYABLE, &no, 1}};
    CK_ULONG size = 0;

    CK_OK(F->C_GetObjectSize(h, o, &size));
    cr_assert_gt(size, 7);
    CK_RV_EQ(F->C_GetObjectSize(h, o, NULL), CKR_ARGUMENTS_BAD);
    CK_OK(F->C_DestroyObject(h, o));
    CK_RV_EQ(F->C_DestroyObject(h, o), CKR_OBJECT_HANDLE_INVALID);
    CK_RV_EQ(F->C_GetObjectSize(h, o, &size), CKR_OBJECT_HANDLE_INVALID);
    CK_OK(F->C_CreateObject(h, undestroyable, 2, &keep));
    CK_RV_EQ(F->C_DestroyObject(h, keep), CKR_ACTION_PROHIBITED);
}

Test(object, find_objects)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1), u;
    CK_OBJECT_HANDLE o[8];
    CK_ULONG n = 0;
    CK_ATTRIBUTE lbl = {CKA_LABEL, "same", 4};
    CK_ATTRIBUTE cls = {CKA_CLASS, &c_data, sizeof(c_data)};
    CK_ATTRIBUTE val = {CKA_VALUE, "payload", 7};
    CK_ATTRIBUTE tok = {CKA_TOKEN, &yes, 1};
    CK_ATTRIBUTE sess[] = {{CKA_LABEL, "same", 4}, {CKA_TOKEN, &no, 1}};

    data_object(h, "same", 0);
    data_object(h, "same", 1);
    data_object(h, "other", 1);
    cr_assert_eq(p11t_count(h, &lbl, 1), 2);
    cr_assert_eq(p11t_count(h, &cls, 1), 3);
    cr_assert_eq(p11t_count(h, &val, 1), 3, "any attribute can be searched");
    cr_assert_eq(p11t_count(h, &tok, 1), 2);
    cr_assert_eq(p11t_count(h, sess, 2), 1);
    /* chunked */
    CK_OK(F->C_FindObjectsInit(h, &cls, 1));
    CK_OK(F->C_FindObjects(h, o, 2, &n));
    cr_assert_eq(n, 2);
    CK_OK(F->C_FindObjects(h, o, 2, &n));
    cr_assert_eq(n, 1);
    CK_OK(F->C_FindObjects(h, o, 2, &n));
    cr_assert_eq(n, 0);
    CK_RV_EQ(F->C_FindObjects(h, NULL, 2, &n), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_FindObjects(h, o, 2, NULL), CKR_ARGUMENTS_BAD);
    CK_OK(F->C_FindObjectsFinal(h));
    CK_RV_EQ(F->C_FindObjects(h, o, 2, &n), CKR_OPERATION_NOT_INITIALIZED);
    CK_RV_EQ(F->C_FindObjectsInit(h, NULL, 1), CKR_ARGUMENTS_BAD);
    /* private objects: only for the user */
    u = p11t_user_session();
    p11t_aes(u, 16, 1, 0);
    cr_assert_eq(p11t_count(h, NULL, 0), 4);
    CK_OK(F->C_Logout(u));
    cr_assert_eq(p11t_count(h, NULL, 0), 3, "a private key is invisible without login");
}

Test(object, token_objects_persist)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_ATTRIBUTE lbl = {CKA_LABEL, "keep", 4};
    CK_OBJECT_HANDLE o;
    unsigned char buf[16];

    data_object(h, "keep", 1);
    o = p11t_aes(h, 32, 1, 1);
    CK_OK(F->C_SetAttributeValue(h, o, &lbl, 1));
    CK_OK(F->C_Finalize(NULL));
    CK_OK(F->C_Initialize(NULL));
    h = p11t_open(p11t_slot, 1);
    cr_assert_eq(p11t_count(h, &lbl, 1), 1, "the public object, without login");
    CK_OK(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6));
    cr_assert_eq(p11t_count(h, &lbl, 1), 2);
    {
        CK_ATTRIBUTE key[] = {{CKA_LABEL, "keep", 4}, {CKA_CLASS, &c_secret, sizeof(c_secret)}};
        CK_OBJECT_HANDLE f;
        CK_ULONG n = 0;

        CK_OK(F->C_FindObjectsInit(h, key, 2));
        CK_OK(F->C_FindObjects(h, &f, 1, &n));
        CK_OK(F->C_FindObjectsFinal(h));
        cr_assert_eq(n, 1);
        cr_assert_eq(p11t_attr(h, f, CKA_VALUE, buf, sizeof(buf)), CK_UNAVAILABLE_INFORMATION,
                     "32 bytes do not fit in 16: too small");
        cr_assert_eq(p11t_ulong(h, f, CKA_VALUE_LEN), 32);
        cr_assert_eq(p11t_bool(h, f, CKA_LOCAL), CK_TRUE);
    }
}

Test(object, ec_public_key_import)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    /* P-256 generator point, raw uncompressed (accepted) */
    static const unsigned char g[65] = {
        0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63,
        0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39,
        0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e,
        0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e,
        0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};
    unsigned char bad[65];
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &c_pub, sizeof(c_pub)},
                        {CKA_KEY_TYPE, &k_ec, sizeof(k_ec)},
                        {CKA_EC_PARAMS, (void *)P11T_P256, sizeof(P11T_P256)},
                        {CKA_EC_POINT, (void *)g, sizeof(g)}};
    CK_OBJECT_HANDLE o;
    unsigned char pt[80];

    CK_OK(F->C_CreateObject(h, t, 4, &o));
    cr_assert_eq(p11t_attr(h, o, CKA_EC_POINT, pt, sizeof(pt)), 67, "stored as DER OCTET STRING");
    cr_assert_eq(pt[0], 0x04);
    cr_assert_eq(pt[1], 65);
    cr_assert_eq(memcmp(pt + 2, g, 65), 0);
    cr_assert_gt(p11t_attr(h, o, CKA_PUBLIC_KEY_INFO, pt, sizeof(pt)), 0);
    cr_assert_eq(p11t_bool(h, o, CKA_PRIVATE), CK_FALSE, "public keys default to public");
    memcpy(bad, g, sizeof(bad));
    bad[64] ^= 1; /* off the curve */
    t[3].pValue = bad;
    CK_RV_EQ(F->C_CreateObject(h, t, 4, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    t[3].pValue = (void *)g;
    t[2].pValue = (void *)P11T_ED25519;
    t[2].ulValueLen = sizeof(P11T_ED25519);
    CK_RV_EQ(F->C_CreateObject(h, t, 4, &o), CKR_ATTRIBUTE_VALUE_INVALID);
}

Test(object, trusted_by_so_only)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
                        {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
                        {CKA_VALUE, "0123456789abcdef", 16},
                        {CKA_PRIVATE, &no, 1},
                        {CKA_TOKEN, &yes, 1},
                        {CKA_TRUSTED, &yes, 1}};
    CK_ATTRIBUTE set = {CKA_TRUSTED, &yes, 1};
    CK_OBJECT_HANDLE o;

    CK_RV_EQ(F->C_CreateObject(h, t, 6, &o), CKR_ATTRIBUTE_READ_ONLY);
    CK_OK(F->C_CreateObject(h, t, 5, &o));
    CK_RV_EQ(F->C_SetAttributeValue(h, o, &set, 1), CKR_ATTRIBUTE_READ_ONLY);
    CK_OK(F->C_Login(h, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8));
    CK_OK(F->C_SetAttributeValue(h, o, &set, 1));
    cr_assert_eq(p11t_bool(h, o, CKA_TRUSTED), CK_TRUE);
    CK_OK(F->C_CreateObject(h, t, 6, &o));
}

/* Nested templates (CKA_WRAP_TEMPLATE) given in memory with no particular
 * alignment are read and written bytewise (UBSan checks the accesses). */
Test(object, nested_template_unaligned)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_ULONG len = 16;
    CK_ATTRIBUTE inner[1] = {{CKA_VALUE_LEN, &len, sizeof(len)}};
    unsigned char raw[sizeof(inner) + 1], out[sizeof(CK_ATTRIBUTE) + 1];
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
                        {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
                        {CKA_VALUE, "0123456789abcdef", 16},
                        {CKA_WRAP_TEMPLATE, raw + 1, sizeof(inner)}};
    CK_ATTRIBUTE q = {CKA_WRAP_TEMPLATE, out + 1, sizeof(CK_ATTRIBUTE)};
    CK_ATTRIBUTE got;
    CK_OBJECT_HANDLE o;

    memcpy(raw + 1, inner, sizeof(inner));
    CK_OK(F->C_CreateObject(h, t, 4, &o));
    memset(out, 0, sizeof(out)); /* inner pValue NULL: a length query */
    CK_OK(F->C_GetAttributeValue(h, o, &q, 1));
    cr_assert_eq(q.ulValueLen, sizeof(CK_ATTRIBUTE));
    memcpy(&got, out + 1, sizeof(got));
    cr_assert_eq(got.type, CKA_VALUE_LEN);
    cr_assert_eq(got.ulValueLen, sizeof(CK_ULONG));
}

/* CKA_UNIQUE_ID of object o as a NUL-terminated string (asserts 32 hex). */
static void
unique_id(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, char out[33])
{
    CK_ULONG n = p11t_attr(h, o, CKA_UNIQUE_ID, out, 32);

    cr_assert_eq(n, 32, "CKA_UNIQUE_ID length %lu", (unsigned long)n);
    out[32] = '\0';
    cr_assert_eq(strspn(out, "0123456789abcdef"), 32, "%s", out);
}

/* PKCS#11 3.0 4.4 CKA_UNIQUE_ID: every object gets one at creation (data,
 * keys, session and token, generated and copied), all distinct, read-only
 * (not in a template, not settable, not in a copy template), found by
 * C_FindObjects, kept by a token object across C_Finalize/C_Initialize. */
Test(object, unique_id_assigned_distinct_read_only_and_kept)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE sd[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &no, 1}};
    CK_ATTRIBUTE td[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &yes, 1},
                         {CKA_LABEL, "uid-token", 9}};
    CK_ATTRIBUTE with_id[] = {{CKA_CLASS, &cls, sizeof(cls)},
                              {CKA_UNIQUE_ID, "0123456789abcdef0123456789abcdef", 32}};
    CK_ATTRIBUTE set_id = {CKA_UNIQUE_ID, "00000000000000000000000000000000", 32};
    CK_ATTRIBUTE lbl = {CKA_LABEL, "uid-token", 9};
    CK_OBJECT_HANDLE o[6], pub, priv, found = 0;
    char ids[7][33];
    CK_ULONG cnt = 0;

    CK_OK(F->C_CreateObject(h, sd, 2, &o[0]));
    CK_OK(F->C_CreateObject(h, td, 3, &o[1]));
    o[2] = p11t_aes(h, 32, 0, 0);
    o[3] = p11t_aes(h, 16, 1, 0);
    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub, &priv);
    o[4] = pub;
    o[5] = priv;
    for (int i = 0; i < 6; i++) {
        unique_id(h, o[i], ids[i]);
    }
    {
        CK_OBJECT_HANDLE copy;
        CK_OK(F->C_CopyObject(h, o[0], NULL, 0, &copy));
        unique_id(h, copy, ids[6]);
    }
    for (int i = 0; i < 7; i++) {
        for (int j = i + 1; j < 7; j++) {
            cr_assert_str_neq(ids[i], ids[j], "objects %d and %d share %s", i, j, ids[i]);
        }
    }
    CK_RV_EQ(F->C_CreateObject(h, with_id, 2, &o[0]), CKR_ATTRIBUTE_READ_ONLY);
    CK_RV_EQ(F->C_SetAttributeValue(h, o[1], &set_id, 1), CKR_ATTRIBUTE_READ_ONLY);
    {
        CK_OBJECT_HANDLE copy;
        CK_RV_EQ(F->C_CopyObject(h, o[0], &set_id, 1, &copy), CKR_ATTRIBUTE_READ_ONLY);
    }
    /* found by it */
    {
        CK_ATTRIBUTE by_id = {CKA_UNIQUE_ID, ids[1], 32};
        CK_OK(F->C_FindObjectsInit(h, &by_id, 1));
        CK_OK(F->C_FindObjects(h, &found, 1, &cnt));
        CK_OK(F->C_FindObjectsFinal(h));
        cr_assert_eq(cnt, 1);
        cr_assert_eq(found, o[1]);
    }
    /* the token object keeps its id across a restart of the module */
    CK_OK(F->C_Finalize(NULL));
    CK_OK(F->C_Initialize(NULL));
    h = p11t_user_session();
    CK_OK(F->C_FindObjectsInit(h, &lbl, 1));
    CK_OK(F->C_FindObjects(h, &found, 1, &cnt));
    CK_OK(F->C_FindObjectsFinal(h));
    cr_assert_eq(cnt, 1);
    unique_id(h, found, ids[0]);
    cr_assert_str_eq(ids[0], ids[1]);
}
